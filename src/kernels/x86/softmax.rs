//! [`order::softmax_ggml`] and [`order::expf_ggml`] with vectors: the AVX-512 kernel is
//! ggml's `ggml_v_expf` itself (16 lanes, `scalef`), the AVX2 one the same operations on two
//! 8-lane halves with the final `j * 2^n` done in double, as the scalar definition does.
//! Both give the scalar table's bits. Callers must have detected the features (see
//! `x86::tables`).

use std::arch::x86_64::*;

use crate::kernels::order::{self, LANES};

/// [`order::expf_ggml`] compiled with FMA: its fused multiply-adds become instructions
/// instead of `fmaf` calls (the crate's baseline target has no FMA).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn expf(x: f32) -> f32 {
    order::expf_ggml(x)
}

/// The largest of `x[i] > m ? x[i] : m` over the row: NaN never wins (`max_ps(v, m)` keeps
/// `m` when `v` is NaN), and among equal values any is fine (see `order::softmax_ggml`).
#[inline(always)]
fn fold_max(m: f32, rest: &[f32]) -> f32 {
    rest.iter().fold(m, |m, &v| if v > m { v } else { m })
}

/// ggml_v_expf's polynomial: `(j, n)` with `exp(x) = j * 2^n` (n integral where `|n| <=
/// 192`), in the scalar definition's operations.
macro_rules! expf_poly {
    ($x:expr, $set1:ident, $fmadd:ident, $fnmadd:ident, $sub:ident, $mul:ident) => {{
        let c = |bits: u32| $set1(f32::from_bits(bits));
        let x = $x;
        let r = c(0x4B40_0000);
        let z = $fmadd(x, c(0x3FB8_AA3B), r);
        let n = $sub(z, r);
        let b = $fnmadd(n, c(0x35BF_BE8E), $fnmadd(n, c(0x3F31_7200), x));
        let u = $mul(b, b);
        let j = $fmadd(
            $fmadd(
                $fmadd(c(0x3C07_2010), b, c(0x3D2B_9F17)),
                u,
                $fmadd(c(0x3E2A_AF33), b, c(0x3EFF_FEDB)),
            ),
            u,
            $fmadd(c(0x3F7F_FFF6), b, $set1(1.0)),
        );
        (j, n)
    }};
}

/// `j * 2^n` rounded once, on 8 lanes whose `n` are integers: widened to double, where
/// `2^n` is exact from its exponent bits, as in the scalar definition. Lanes with other `n`
/// give garbage that the caller replaces.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn scale_pow2(j: __m256, n: __m256) -> __m256 {
    let ni = _mm256_cvtps_epi32(n);
    let half = |j: __m128, n: __m128i| {
        let e = _mm256_add_epi64(_mm256_cvtepi32_epi64(n), _mm256_set1_epi64x(1023));
        let p2 = _mm256_castsi256_pd(_mm256_slli_epi64::<52>(e));
        _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(j), p2))
    };
    let lo = half(_mm256_castps256_ps128(j), _mm256_castsi256_si128(ni));
    let hi = half(
        _mm256_extractf128_ps::<1>(j),
        _mm256_extracti128_si256::<1>(ni),
    );
    _mm256_set_m128(hi, lo)
}

/// [`order::expf_ggml`] on 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn expf8(x: __m256) -> __m256 {
    let (j, n) = expf_poly!(
        x,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_fnmadd_ps,
        _mm256_sub_ps,
        _mm256_mul_ps
    );
    let res = scale_pow2(j, n);
    let abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0), n);
    let special = _mm256_cmp_ps::<_CMP_NLE_UQ>(abs_n, _mm256_set1_ps(192.0));
    if _mm256_movemask_ps(special) == 0 {
        return res;
    }
    let le0 = _mm256_cmp_ps::<_CMP_LE_OQ>(n, _mm256_setzero_ps());
    let nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(n, n);
    let alt = _mm256_blendv_ps(_mm256_set1_ps(f32::INFINITY), _mm256_setzero_ps(), le0);
    let alt = _mm256_blendv_ps(alt, _mm256_set1_ps(f32::NAN), nan);
    _mm256_blendv_ps(res, alt, special)
}

/// [`order::softmax_ggml`] with pairs of 8-lane vectors.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn softmax_avx2(x: &mut [f32]) {
    let n16 = x.len() / LANES * LANES;
    let p = x.as_mut_ptr();
    // Vector loads and stores stay below n16 <= len.
    let mut m = _mm256_set1_ps(f32::NEG_INFINITY);
    for i in (0..n16).step_by(8) {
        m = _mm256_max_ps(_mm256_loadu_ps(p.add(i)), m);
    }
    let mut lanes = [0.0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), m);
    let max = fold_max(fold_max(f32::NEG_INFINITY, &lanes), &x[n16..]);
    let vmax = _mm256_set1_ps(max);
    let mut sum = 0.0f64;
    for i in (0..n16).step_by(LANES) {
        let lo = expf8(_mm256_sub_ps(_mm256_loadu_ps(p.add(i)), vmax));
        let hi = expf8(_mm256_sub_ps(_mm256_loadu_ps(p.add(i + 8)), vmax));
        _mm256_storeu_ps(p.add(i), lo);
        _mm256_storeu_ps(p.add(i + 8), hi);
        sum += f64::from(super::avx2::reduce16(lo, hi));
    }
    order::softmax_finish(x, n16, max, sum);
}

/// The AVX-512 kernel, built only by compilers with the AVX-512 intrinsics (1.89+).
#[cfg(bitnet_avx512)]
#[clippy::msrv = "1.89"]
pub(super) mod avx512 {
    use std::arch::x86_64::*;

    use super::fold_max;
    use crate::kernels::order::{self, LANES};
    use crate::kernels::x86::avx512::reduce16;

    /// `ggml_v_expf` on 16 lanes: `scalef(j, n)`, and where `|n| > 192` (or NaN) the scalar
    /// definition's 0, inf or NaN.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn expf16(x: __m512) -> __m512 {
        let (j, n) = expf_poly!(
            x,
            _mm512_set1_ps,
            _mm512_fmadd_ps,
            _mm512_fnmadd_ps,
            _mm512_sub_ps,
            _mm512_mul_ps
        );
        let res = _mm512_scalef_ps(j, n);
        // Not (|n| <= 192): too large, too small or NaN. Masked cells (-inf) land here.
        let special = _mm512_cmp_ps_mask::<_CMP_NLE_UQ>(_mm512_abs_ps(n), _mm512_set1_ps(192.0));
        if special == 0 {
            return res;
        }
        let le0 = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(n, _mm512_setzero_ps());
        let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(n, n);
        let alt = _mm512_mask_blend_ps(le0, _mm512_set1_ps(f32::INFINITY), _mm512_setzero_ps());
        let alt = _mm512_mask_blend_ps(nan, alt, _mm512_set1_ps(f32::NAN));
        _mm512_mask_blend_ps(special, res, alt)
    }

    /// [`order::softmax_ggml`] with 16-lane vectors.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(in crate::kernels::x86) unsafe fn softmax(x: &mut [f32]) {
        let n16 = x.len() / LANES * LANES;
        let p = x.as_mut_ptr();
        // Vector loads and stores stay below n16 <= len.
        let mut m = _mm512_set1_ps(f32::NEG_INFINITY);
        for i in (0..n16).step_by(LANES) {
            m = _mm512_max_ps(_mm512_loadu_ps(p.add(i)), m);
        }
        let max = fold_max(_mm512_reduce_max_ps(m), &x[n16..]);
        let vmax = _mm512_set1_ps(max);
        let mut sum = 0.0f64;
        for i in (0..n16).step_by(LANES) {
            let e = expf16(_mm512_sub_ps(_mm512_loadu_ps(p.add(i)), vmax));
            _mm512_storeu_ps(p.add(i), e);
            sum += f64::from(reduce16(e));
        }
        order::softmax_finish(x, n16, max, sum);
    }
}
