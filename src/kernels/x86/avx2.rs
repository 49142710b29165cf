//! AVX2 + FMA + F16C kernels: I2_S dots and the float dots. Callers must have detected the
//! features (see `x86::tables`); every `unsafe fn` here has that single precondition besides
//! what its own comment says.

use std::arch::x86_64::*;

use crate::kernels::order::{GGML_STEP, LANES};
use crate::quant::f16::to_f32 as h2f;

/// Rows per pass of `i2s_dots`: they share each activation load.
const ROWS: usize = 4;
/// Activation rows per pass of `i2s_gemm` (accumulators kept in registers).
const GEMM_TILE: usize = 8;

/// Clears the high bit of every 2-bit field whose low bit is set: code 3 becomes 1, so it
/// counts as 0 like in the scalar table; codes 0..2 are unchanged.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn fix_code3(b: __m256i) -> __m256i {
    let low = _mm256_and_si256(b, _mm256_set1_epi8(0x55));
    // (b & 0x55) << 1 cannot carry across bytes: bit 7 of 0x55 is clear.
    _mm256_andnot_si256(_mm256_slli_epi16(low, 1), b)
}

/// The codes (0..=2) of the 32-byte I2_S block at `p` as four vectors of 32 consecutive
/// elements (group `g` sits in bits `7-2g .. 6-2g`). `p` must be readable for 32 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn i2s_codes(p: *const u8) -> [__m256i; 4] {
    let b = fix_code3(_mm256_loadu_si256(p.cast()));
    let m = _mm256_set1_epi8(3);
    [
        _mm256_and_si256(_mm256_srli_epi16(b, 6), m),
        _mm256_and_si256(_mm256_srli_epi16(b, 4), m),
        _mm256_and_si256(_mm256_srli_epi16(b, 2), m),
        _mm256_and_si256(b, m),
    ]
}

/// The 128 activations of one block. `q` must be readable for 128 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load_block(q: *const i8) -> [__m256i; 4] {
    [0, 32, 64, 96].map(|o| _mm256_loadu_si256(q.add(o).cast()))
}

/// `sum code * q` over one block as eight int32 lanes. The int16 sums of `maddubs` stay
/// within 4 * 2 * 2 * 128 = 2048 and are widened at once, so nothing wraps.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn block_dot(c: &[__m256i; 4], q: &[__m256i; 4]) -> __m256i {
    let s01 = _mm256_add_epi16(
        _mm256_maddubs_epi16(c[0], q[0]),
        _mm256_maddubs_epi16(c[1], q[1]),
    );
    let s23 = _mm256_add_epi16(
        _mm256_maddubs_epi16(c[2], q[2]),
        _mm256_maddubs_epi16(c[3], q[3]),
    );
    _mm256_madd_epi16(_mm256_add_epi16(s01, s23), _mm256_set1_epi16(1))
}

/// The sum of the eight lanes (integer addition: any order is exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    _mm_cvtsi128_si32(s)
}

/// `sum q[..k]`, subtracted from `sum code * q` to give `sum (code - 1) * q`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn sum_i8(q: &[i8]) -> i32 {
    let ones8 = _mm256_set1_epi8(1);
    let mut acc = _mm256_setzero_si256();
    for c in q.chunks_exact(32) {
        let s = _mm256_maddubs_epi16(ones8, _mm256_loadu_si256(c.as_ptr().cast()));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(s, _mm256_set1_epi16(1)));
    }
    hsum_i32(acc)
}

/// `R` rows at `w` (`rb` bytes apart, `nb` blocks each) against `q`: `sum code * q` per row.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn i2s_rows_dot<const R: usize>(
    w: *const u8,
    rb: usize,
    q: *const i8,
    nb: usize,
) -> [i32; R] {
    let mut acc = [_mm256_setzero_si256(); R];
    for b in 0..nb {
        let qv = load_block(q.add(128 * b));
        for (r, acc) in acc.iter_mut().enumerate() {
            // Rows are short (k / 4 bytes): fetch the next pass's rows, R rows ahead,
            // while this one computes. A prefetch never faults, even past the matrix.
            super::prefetch(w.wrapping_add((R + r) * rb + 32 * b));
            let c = i2s_codes(w.add(r * rb + 32 * b));
            *acc = _mm256_add_epi32(*acc, block_dot(&c, &qv));
        }
    }
    acc.map(|a| hsum_i32(a))
}

/// [`crate::kernels::scalar::i2s_dots`].
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn i2s_dots(w: &[u8], k: usize, row0: usize, q: &[i8], out: &mut [i32]) {
    let rows = super::i2s_rows(w, k, row0, out.len());
    let q = &q[..k];
    let (rb, nb) = (k / 4, k / 128);
    let sum = sum_i8(q);
    // Loads stay inside `rows` (out.len() rows of rb bytes) and `q` (k bytes).
    for (i, out) in out.chunks_mut(ROWS).enumerate() {
        let w = rows.as_ptr().add(i * ROWS * rb);
        let q = q.as_ptr();
        match out.len() {
            4 => put(out, i2s_rows_dot::<4>(w, rb, q, nb), sum),
            3 => put(out, i2s_rows_dot::<3>(w, rb, q, nb), sum),
            2 => put(out, i2s_rows_dot::<2>(w, rb, q, nb), sum),
            _ => put(out, i2s_rows_dot::<1>(w, rb, q, nb), sum),
        }
    }
}

/// `out[r] = dots[r] - sum`: `sum (code - 1) * q` from `sum code * q`.
pub(super) fn put<const R: usize>(out: &mut [i32], dots: [i32; R], sum: i32) {
    for (o, d) in out.iter_mut().zip(dots) {
        *o = d - sum;
    }
}

/// [`crate::kernels::scalar::i2s_finish`], eight lanes at a time (IEEE division and
/// product per lane: the same results).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn i2s_finish(dots: &[i32], act_scale: f32, w_scale: f32, out: &mut [f32]) {
    let n = dots.len().min(out.len());
    let (a, w) = (_mm256_set1_ps(act_scale), _mm256_set1_ps(w_scale));
    let mut i = 0;
    // Loads and stores stay below n.
    while i + 8 <= n {
        let d = _mm256_cvtepi32_ps(_mm256_loadu_si256(dots.as_ptr().add(i).cast()));
        _mm256_storeu_ps(
            out.as_mut_ptr().add(i),
            _mm256_mul_ps(_mm256_div_ps(d, a), w),
        );
        i += 8;
    }
    crate::kernels::scalar::i2s_finish(&dots[i..n], act_scale, w_scale, &mut out[i..n]);
}

/// [`crate::kernels::scalar::i2s_gemm`], up to [`GEMM_TILE`] activation rows per pass over
/// the weights.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn i2s_gemm(w: &[u8], k: usize, row0: usize, qs: &[&[i8]], out: &mut [i32]) {
    let Some(m) = super::gemm_rows(qs, out) else {
        return;
    };
    if qs.len() == 1 {
        // One activation row: the multi-row pass shares loads better.
        i2s_dots(w, k, row0, qs[0], out);
        return;
    }
    let rows = super::i2s_rows(w, k, row0, m);
    for (tile, qs) in qs.chunks(GEMM_TILE).enumerate() {
        let out = &mut out[tile * GEMM_TILE * m..(tile * GEMM_TILE + qs.len()) * m];
        match qs.len() {
            8 => gemm_tile::<8>(rows, k, qs, out),
            7 => gemm_tile::<7>(rows, k, qs, out),
            6 => gemm_tile::<6>(rows, k, qs, out),
            5 => gemm_tile::<5>(rows, k, qs, out),
            4 => gemm_tile::<4>(rows, k, qs, out),
            3 => gemm_tile::<3>(rows, k, qs, out),
            2 => gemm_tile::<2>(rows, k, qs, out),
            _ => gemm_tile::<1>(rows, k, qs, out),
        }
    }
}

/// `N` activation rows against every row of `rows`; `out[t * m + r]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn gemm_tile<const N: usize>(rows: &[u8], k: usize, qs: &[&[i8]], out: &mut [i32]) {
    let (rb, nb) = (k / 4, k / 128);
    let m = rows.len() / rb;
    // Bounds: each q is sliced to k bytes; the weight loads stay inside `rows`.
    let q: [&[i8]; N] = std::array::from_fn(|t| &qs[t][..k]);
    let sums = q.map(|q| sum_i8(q));
    let q = q.map(<[i8]>::as_ptr);
    for r in 0..m {
        let w = rows.as_ptr().add(r * rb);
        let mut acc = [_mm256_setzero_si256(); N];
        for b in 0..nb {
            super::prefetch(w.wrapping_add(rb + 32 * b)); // the next row
            let c = i2s_codes(w.add(32 * b));
            for (acc, q) in acc.iter_mut().zip(q) {
                *acc = _mm256_add_epi32(*acc, block_dot(&c, &load_block(q.add(128 * b))));
            }
        }
        for t in 0..N {
            out[t * m + r] = hsum_i32(acc[t]) - sums[t];
        }
    }
}

/// `order::reduce16` of the 16 lanes `lo ++ hi`: lane `i` plus lane `i + 8`, then halving.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn reduce16(lo: __m256, hi: __m256) -> f32 {
    let t = _mm256_add_ps(lo, hi);
    let u = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    let w = _mm_add_ps(u, _mm_movehl_ps(u, u));
    _mm_cvtss_f32(_mm_add_ss(w, _mm_shuffle_ps(w, w, 1)))
}

/// Eight f16 values at `p` widened exactly.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn load_f16(p: *const u16) -> __m256 {
    _mm256_cvtph_ps(_mm_loadu_si128(p.cast()))
}

/// ggml's four 16-lane accumulators as eight 8-lane halves, over `np` elements (a multiple
/// of 64): `acc[j][h]` holds lanes `8h .. 8h + 8` of accumulator `j`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn ggml_steps<T>(
    np: usize,
    x: *const T,
    load: impl Fn(usize) -> (__m256, __m256),
) -> f32 {
    let mut acc = [[_mm256_setzero_ps(); 2]; 4];
    for i in (0..np).step_by(GGML_STEP) {
        super::prefetch_ahead(x.wrapping_add(i), GGML_STEP * std::mem::size_of::<T>());
        for (j, acc) in acc.iter_mut().enumerate() {
            for (h, acc) in acc.iter_mut().enumerate() {
                let (x, y) = load(i + LANES * j + 8 * h);
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
        }
    }
    // (a0 + a2) + (a1 + a3), lane-wise, then reduce16.
    let v = [0, 1].map(|h| {
        _mm256_add_ps(
            _mm256_add_ps(acc[0][h], acc[2][h]),
            _mm256_add_ps(acc[1][h], acc[3][h]),
        )
    });
    reduce16(v[0], v[1])
}

/// [`order::dot_f16_ggml`].
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_f16_ggml(x: &[u16], y: &[u16]) -> f32 {
    assert_eq!(x.len(), y.len());
    let np = y.len() & !(GGML_STEP - 1);
    // Loads read [i, i + 8) with i + 8 <= np <= len.
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let steps = ggml_steps(np, xp, |i| (load_f16(xp.add(i)), load_f16(yp.add(i))));
    let mut sumf = f64::from(steps);
    for (&xi, &yi) in x[np..].iter().zip(&y[np..]) {
        sumf += f64::from(h2f(xi) * h2f(yi));
    }
    sumf as f32
}

/// [`order::dot_f32_ggml`].
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_f32_ggml(x: &[f32], y: &[f32]) -> f32 {
    assert_eq!(x.len(), y.len());
    let np = y.len() & !(GGML_STEP - 1);
    // Loads read [i, i + 8) with i + 8 <= np <= len.
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let mut sumf = ggml_steps(np, xp, |i| {
        (_mm256_loadu_ps(xp.add(i)), _mm256_loadu_ps(yp.add(i)))
    });
    for (&xi, &yi) in x[np..].iter().zip(&y[np..]) {
        sumf += xi * yi;
    }
    sumf
}

/// tinyBLAS's single 16-lane accumulator (two 8-lane halves) over `n` elements, `n % 16 == 0`
/// as the scalar definition requires.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn tiled<T>(
    n: usize,
    a: *const T,
    load: impl Fn(usize) -> (__m256, __m256),
) -> f32 {
    assert!(n % LANES == 0, "tiled dots take whole 16-element steps");
    let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    for i in (0..n).step_by(LANES) {
        super::prefetch_ahead(a.wrapping_add(i), LANES * std::mem::size_of::<T>());
        let (a, b) = load(i);
        lo = _mm256_fmadd_ps(a, b, lo);
        let (a, b) = load(i + 8);
        hi = _mm256_fmadd_ps(a, b, hi);
    }
    reduce16(lo, hi)
}

/// [`order::dot_f16_f32_tiled`].
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_f16_f32_tiled(a: &[u16], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    // Loads read [i, i + 8) with i + 8 <= len (whole 16s).
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    tiled(a.len(), ap, |i| {
        (load_f16(ap.add(i)), _mm256_loadu_ps(bp.add(i)))
    })
}

/// [`order::dot_f16_f16_tiled`].
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_f16_f16_tiled(a: &[u16], b: &[u16]) -> f32 {
    assert_eq!(a.len(), b.len());
    // Loads read [i, i + 8) with i + 8 <= len (whole 16s).
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    tiled(a.len(), ap, |i| (load_f16(ap.add(i)), load_f16(bp.add(i))))
}

/// [`order::dot_f32_tiled`].
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_f32_tiled(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    // Loads read [i, i + 8) with i + 8 <= len (whole 16s).
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    tiled(a.len(), ap, |i| {
        (_mm256_loadu_ps(ap.add(i)), _mm256_loadu_ps(bp.add(i)))
    })
}
