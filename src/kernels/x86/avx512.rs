//! AVX-512 kernels (F, BW, VNNI; the table also requires VL, AVX2, FMA, F16C): I2_S dots
//! with `vpdpbusd` and the float dots in the references' native 16-lane order. Callers must
//! have detected the features (see `x86::tables`).

use std::arch::x86_64::*;

use super::avx2::put;
use crate::kernels::order::{GGML_STEP, LANES};
use crate::quant::f16::to_f32 as h2f;

/// Rows per pass of `i2s_dots`: they share each activation load.
const ROWS: usize = 4;
/// Activation rows per pass of `i2s_gemm` (2 accumulators each, kept in registers).
const GEMM_TILE: usize = 8;

/// The 32-byte I2_S block at `p` in both halves of a vector, each 2-bit field left in
/// place (no shifts): masking the halves with `0xC0 | 0x30` keeps groups 0 and 1
/// (elements 0..64, in order across the halves) as `64 * code` and `16 * code`, masking
/// with `0x0C | 0x03` keeps groups 2 and 3 as `4 * code` and `code`. Each half's products
/// then carry one known scale, removed exactly by [`unscale`]. Code 3 becomes 1 first
/// (counts as 0, as in the scalar table; see `avx2::fix_code3`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn i2s_codes(p: *const u8) -> [__m512i; 2] {
    let b = _mm512_broadcast_i64x4(_mm256_loadu_si256(p.cast()));
    // b & !((b << 1) & 0xAA): the 16-bit shift's carries land on bits 0xAA masks off.
    let b = _mm512_ternarylogic_epi32(
        b,
        _mm512_slli_epi16(b, 1),
        _mm512_set1_epi8(0xAAu8 as i8),
        0x70,
    );
    let halves = |lo: u8, hi: u8| {
        _mm512_inserti64x4(_mm512_set1_epi8(lo as i8), _mm256_set1_epi8(hi as i8), 1)
    };
    [
        _mm512_and_si512(b, halves(0xC0, 0x30)),
        _mm512_and_si512(b, halves(0x0C, 0x03)),
    ]
}

/// `sum code * q` from the two accumulators of [`i2s_codes`]' vectors: lanes 0..8 and
/// 8..16 of `acc[0]` hold 64x and 16x, of `acc[1]` 4x and 1x. Every product in a lane is a
/// multiple of its scale, so the arithmetic shifts are exact.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn unscale(acc: [__m512i; 2]) -> i32 {
    let halves =
        |lo: i32, hi: i32| _mm512_inserti64x4(_mm512_set1_epi32(lo), _mm256_set1_epi32(hi), 1);
    let g01 = _mm512_srav_epi32(acc[0], halves(6, 4));
    let g23 = _mm512_srav_epi32(acc[1], halves(2, 0));
    _mm512_reduce_add_epi32(_mm512_add_epi32(g01, g23))
}

/// `sum q[..k]` (k a multiple of 64).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn sum_i8(q: &[i8]) -> i32 {
    let ones = _mm512_set1_epi8(1);
    let mut acc = _mm512_setzero_si512();
    for c in q.chunks_exact(64) {
        acc = _mm512_dpbusd_epi32(acc, ones, _mm512_loadu_si512(c.as_ptr().cast()));
    }
    _mm512_reduce_add_epi32(acc)
}

/// `R` rows at `w` (`rb` bytes apart, `nb` blocks each) against `q`: `sum code * q` per row,
/// accumulated exactly in int32 by `vpdpbusd`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn i2s_rows_dot<const R: usize>(
    w: *const u8,
    rb: usize,
    q: *const i8,
    nb: usize,
) -> [i32; R] {
    let mut acc = [[_mm512_setzero_si512(); 2]; R];
    for b in 0..nb {
        let q0 = _mm512_loadu_si512(q.add(128 * b).cast());
        let q1 = _mm512_loadu_si512(q.add(128 * b + 64).cast());
        for (r, acc) in acc.iter_mut().enumerate() {
            // Rows are short (k / 4 bytes): fetch the next pass's rows, R rows ahead,
            // while this one computes. A prefetch never faults, even past the matrix.
            super::prefetch(w.wrapping_add((R + r) * rb + 32 * b));
            let c = i2s_codes(w.add(r * rb + 32 * b));
            acc[0] = _mm512_dpbusd_epi32(acc[0], c[0], q0);
            acc[1] = _mm512_dpbusd_epi32(acc[1], c[1], q1);
        }
    }
    acc.map(|a| unscale(a))
}

/// [`crate::kernels::scalar::i2s_dots`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
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

/// [`crate::kernels::scalar::i2s_gemm`], up to [`GEMM_TILE`] activation rows per pass over
/// the weights.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
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
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn gemm_tile<const N: usize>(rows: &[u8], k: usize, qs: &[&[i8]], out: &mut [i32]) {
    let (rb, nb) = (k / 4, k / 128);
    let m = rows.len() / rb;
    // Bounds: each q is sliced to k bytes; the weight loads stay inside `rows`.
    let q: [&[i8]; N] = std::array::from_fn(|t| &qs[t][..k]);
    let sums = q.map(|q| sum_i8(q));
    let q = q.map(<[i8]>::as_ptr);
    for r in 0..m {
        let w = rows.as_ptr().add(r * rb);
        let mut acc = [[_mm512_setzero_si512(); 2]; N];
        for b in 0..nb {
            super::prefetch(w.wrapping_add(rb + 32 * b)); // the next row
            let c = i2s_codes(w.add(32 * b));
            for (acc, q) in acc.iter_mut().zip(q) {
                let q = q.add(128 * b);
                acc[0] = _mm512_dpbusd_epi32(acc[0], c[0], _mm512_loadu_si512(q.cast()));
                acc[1] = _mm512_dpbusd_epi32(acc[1], c[1], _mm512_loadu_si512(q.add(64).cast()));
            }
        }
        for t in 0..N {
            out[t * m + r] = unscale(acc[t]) - sums[t];
        }
    }
}

/// `order::reduce16`: lane `i` plus lane `i + 8`, then halving.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn reduce16(v: __m512) -> f32 {
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    super::avx2::reduce16(_mm512_castps512_ps256(v), hi)
}

/// Sixteen f16 values at `p` widened exactly.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn load_f16(p: *const u16) -> __m512 {
    _mm512_cvtph_ps(_mm256_loadu_si256(p.cast()))
}

/// ggml's four 16-lane accumulators over `np` elements (a multiple of 64), reduced as
/// `(a0 + a2) + (a1 + a3)` and then by halving.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn ggml_steps<T>(np: usize, x: *const T, load: impl Fn(usize) -> (__m512, __m512)) -> f32 {
    let mut acc = [_mm512_setzero_ps(); 4];
    for i in (0..np).step_by(GGML_STEP) {
        super::prefetch_ahead(x.wrapping_add(i), GGML_STEP * std::mem::size_of::<T>());
        for (j, acc) in acc.iter_mut().enumerate() {
            let (x, y) = load(i + LANES * j);
            *acc = _mm512_fmadd_ps(x, y, *acc);
        }
    }
    reduce16(_mm512_add_ps(
        _mm512_add_ps(acc[0], acc[2]),
        _mm512_add_ps(acc[1], acc[3]),
    ))
}

/// [`order::dot_f16_ggml`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn dot_f16_ggml(x: &[u16], y: &[u16]) -> f32 {
    assert_eq!(x.len(), y.len());
    let np = y.len() & !(GGML_STEP - 1);
    // Loads read [i, i + 16) with i + 16 <= np <= len.
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let steps = ggml_steps(np, xp, |i| (load_f16(xp.add(i)), load_f16(yp.add(i))));
    let mut sumf = f64::from(steps);
    for (&xi, &yi) in x[np..].iter().zip(&y[np..]) {
        sumf += f64::from(h2f(xi) * h2f(yi));
    }
    sumf as f32
}

/// [`order::dot_f32_ggml`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn dot_f32_ggml(x: &[f32], y: &[f32]) -> f32 {
    assert_eq!(x.len(), y.len());
    let np = y.len() & !(GGML_STEP - 1);
    // Loads read [i, i + 16) with i + 16 <= np <= len.
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let mut sumf = ggml_steps(np, xp, |i| {
        (_mm512_loadu_ps(xp.add(i)), _mm512_loadu_ps(yp.add(i)))
    });
    for (&xi, &yi) in x[np..].iter().zip(&y[np..]) {
        sumf += xi * yi;
    }
    sumf
}

/// tinyBLAS's single 16-lane accumulator over `n` elements, `n % 16 == 0` as the scalar
/// definition requires.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn tiled<T>(n: usize, a: *const T, load: impl Fn(usize) -> (__m512, __m512)) -> f32 {
    assert!(
        n.is_multiple_of(LANES),
        "tiled dots take whole 16-element steps"
    );
    let mut acc = _mm512_setzero_ps();
    for i in (0..n).step_by(LANES) {
        super::prefetch_ahead(a.wrapping_add(i), LANES * std::mem::size_of::<T>());
        let (a, b) = load(i);
        acc = _mm512_fmadd_ps(a, b, acc);
    }
    reduce16(acc)
}

/// [`order::dot_f16_f32_tiled`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn dot_f16_f32_tiled(a: &[u16], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    // Loads read [i, i + 16) with i + 16 <= len (whole 16s).
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    tiled(a.len(), ap, |i| {
        (load_f16(ap.add(i)), _mm512_loadu_ps(bp.add(i)))
    })
}

/// [`order::dot_f16_f16_tiled`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn dot_f16_f16_tiled(a: &[u16], b: &[u16]) -> f32 {
    assert_eq!(a.len(), b.len());
    // Loads read [i, i + 16) with i + 16 <= len (whole 16s).
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    tiled(a.len(), ap, |i| (load_f16(ap.add(i)), load_f16(bp.add(i))))
}

/// [`order::dot_f32_tiled`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn dot_f32_tiled(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    // Loads read [i, i + 16) with i + 16 <= len (whole 16s).
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    tiled(a.len(), ap, |i| {
        (_mm512_loadu_ps(ap.add(i)), _mm512_loadu_ps(bp.add(i)))
    })
}
