//! [`act::quantize_i8_absmax`] with vectors: `max |x|` in float lanes (exact, like the
//! definition's double max), the definition's scale, then `x * s` rounded half to even by
//! `round`/`roundscale` (what `rintf` does in the default rounding mode), clamped, NaN to 0.
//! Elements past the last whole vector take the scalar definition. Callers must have
//! detected the features (see `x86::tables`).

use std::arch::x86_64::*;

use crate::kernels::act::{self, ActI8};

/// Round to nearest (ties to even), no exceptions: `_MM_FROUND_TO_NEAREST_INT |
/// _MM_FROUND_NO_EXC`.
const RNE: i32 = 0x08;

/// `max |v|` over `rest`, starting from `m`, skipping NaN as the definition does.
#[inline(always)]
fn absmax_tail(m: f32, rest: &[f32]) -> f32 {
    rest.iter()
        .fold(m, |m, &v| if v.abs() > m { v.abs() } else { m })
}

/// Appends `x[from..]` quantized with the scalar definition to `q`; their sum.
#[inline(always)]
fn quantize_tail(x: &[f32], q: &mut Vec<i8>, from: usize, s: f32) -> i32 {
    let mut sum = 0;
    for &v in &x[from..] {
        let v = act::quantize_i8_one(v, s);
        q.push(v);
        sum += i32::from(v);
    }
    sum
}

/// `clamp(round_half_even(v * s), -128, 127)` on 8 lanes as int32, 0 where `v * s` is NaN.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn quantize8(v: __m256, s: __m256) -> __m256i {
    let y = _mm256_mul_ps(v, s);
    let r = _mm256_round_ps::<RNE>(y);
    let c = _mm256_min_ps(
        _mm256_max_ps(r, _mm256_set1_ps(-128.0)),
        _mm256_set1_ps(127.0),
    );
    let ordered = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_ORD_Q>(y, y));
    _mm256_and_si256(_mm256_cvtps_epi32(c), ordered)
}

/// [`act::quantize_i8_absmax`] with 8-lane vectors.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn quantize_i8_avx2(x: &[f32], out: &mut ActI8) {
    let n = x.len();
    let (n8, n32) = (n / 8 * 8, n / 32 * 32);
    let p = x.as_ptr();
    // Loads read [i, i + 8) with i + 8 <= n8 <= n.
    let abs = |i: usize| _mm256_andnot_ps(_mm256_set1_ps(-0.0), _mm256_loadu_ps(p.add(i)));
    let mut m = [_mm256_setzero_ps(); 4];
    for i in (0..n32).step_by(32) {
        for (k, m) in m.iter_mut().enumerate() {
            // max_ps(v, m) keeps m when v is NaN.
            *m = _mm256_max_ps(abs(i + 8 * k), *m);
        }
    }
    let mut m = _mm256_max_ps(_mm256_max_ps(m[0], m[1]), _mm256_max_ps(m[2], m[3]));
    for i in (n32..n8).step_by(8) {
        m = _mm256_max_ps(abs(i), m);
    }
    let mut lanes = [0.0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), m);
    let s = act::i8_scale(absmax_tail(absmax_tail(0.0, &lanes), &x[n8..]));

    // Appended chunk by chunk (no zero-fill of a buffer about to be overwritten).
    out.q.clear();
    out.q.reserve(n);
    let vs = _mm256_set1_ps(s);
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    let mut acc = _mm256_setzero_si256();
    let mut bytes = [0i8; 32];
    for i in (0..n32).step_by(32) {
        let v = [0, 8, 16, 24].map(|o| quantize8(_mm256_loadu_ps(p.add(i + o)), vs));
        acc = _mm256_add_epi32(
            acc,
            _mm256_add_epi32(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3])),
        );
        // Saturating packs keep the (already clamped) values; they interleave 4-byte groups
        // by 128-bit lane, which the permutation undoes.
        let b = _mm256_packs_epi16(
            _mm256_packs_epi32(v[0], v[1]),
            _mm256_packs_epi32(v[2], v[3]),
        );
        let b = _mm256_permutevar8x32_epi32(b, order);
        _mm256_storeu_si256(bytes.as_mut_ptr().cast(), b);
        out.q.extend_from_slice(&bytes);
    }
    let mut sums = [0i32; 8];
    _mm256_storeu_si256(sums.as_mut_ptr().cast(), acc);
    let tail = quantize_tail(x, &mut out.q, n32, s);
    out.scale = s;
    out.sum = sums.iter().sum::<i32>() + tail;
}

/// The AVX-512 kernel, built only by compilers with the AVX-512 intrinsics (1.89+).
#[cfg(bitnet_avx512)]
#[clippy::msrv = "1.89"]
pub(super) mod avx512 {
    use std::arch::x86_64::*;

    use super::{absmax_tail, quantize_tail, RNE};
    use crate::kernels::act::{self, ActI8};

    /// [`act::quantize_i8_absmax`] with 16-lane vectors.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(in crate::kernels::x86) unsafe fn quantize_i8(x: &[f32], out: &mut ActI8) {
        let n = x.len();
        let (n16, n64) = (n / 16 * 16, n / 64 * 64);
        let p = x.as_ptr();
        // Loads read [i, i + 16) with i + 16 <= n16 <= n.
        let abs = |i: usize| _mm512_abs_ps(_mm512_loadu_ps(p.add(i)));
        let mut m = [_mm512_setzero_ps(); 4];
        for i in (0..n64).step_by(64) {
            for (k, m) in m.iter_mut().enumerate() {
                // max_ps(v, m) keeps m when v is NaN.
                *m = _mm512_max_ps(abs(i + 16 * k), *m);
            }
        }
        let mut m = _mm512_max_ps(_mm512_max_ps(m[0], m[1]), _mm512_max_ps(m[2], m[3]));
        for i in (n64..n16).step_by(16) {
            m = _mm512_max_ps(abs(i), m);
        }
        let s = act::i8_scale(absmax_tail(_mm512_reduce_max_ps(m), &x[n16..]));

        // Appended chunk by chunk (no zero-fill of a buffer about to be overwritten).
        out.q.clear();
        out.q.reserve(n);
        let vs = _mm512_set1_ps(s);
        let (lo, hi) = (_mm512_set1_ps(-128.0), _mm512_set1_ps(127.0));
        let mut acc = _mm512_setzero_si512();
        let mut bytes = [0i8; 16];
        for i in (0..n16).step_by(16) {
            let y = _mm512_mul_ps(_mm512_loadu_ps(p.add(i)), vs);
            let r = _mm512_roundscale_ps::<RNE>(y);
            let c = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
            let ordered = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(y, y);
            let v = _mm512_maskz_cvtps_epi32(ordered, c);
            acc = _mm512_add_epi32(acc, v);
            _mm_storeu_si128(bytes.as_mut_ptr().cast(), _mm512_cvtsepi32_epi8(v));
            out.q.extend_from_slice(&bytes);
        }
        let tail = quantize_tail(x, &mut out.q, n16, s);
        out.scale = s;
        out.sum = _mm512_reduce_add_epi32(acc) + tail;
    }
}
