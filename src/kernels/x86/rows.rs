//! AVX-512 forms of `order::rows_*` (attention): the cached K or V rows of one KV head
//! against the rows of every query head that shares it, in register blocks, so each cached
//! row is read once per block instead of once per head. Every dot keeps its own
//! accumulators and reduction, exactly as the single-dot kernels compute it.

use std::arch::x86_64::*;

use super::avx512::{load_f16, reduce16};
use crate::kernels::order::{GGML_STEP, LANES};
use crate::quant::f16::to_f32 as h2f;

/// Rows of `b` per block (the heads sharing a KV head: 4 in BitNet b1.58 2B-4T).
const RB_MAX: usize = 4;

/// `n_b`, `n_a` of a rows call, after checking that every row lies inside `a` and `b`.
fn shape<B>(a: &[u16], a_stride: usize, b: &[B], len: usize, out: &[f32]) -> (usize, usize) {
    assert!(len > 0, "rows of no elements");
    let n_b = b.len() / len;
    if n_b == 0 {
        return (0, 0);
    }
    let n_a = out.len() / n_b;
    assert!(
        n_a == 0 || (n_a - 1) * a_stride + len <= a.len(),
        "rows past the end of a"
    );
    (n_b, n_a)
}

/// One loader per element type of `b`: sixteen values at `p`, widened exactly.
trait Lanes: Copy {
    unsafe fn load(p: *const Self) -> __m512;
    fn value(self) -> f32;
}

impl Lanes for u16 {
    #[inline(always)]
    unsafe fn load(p: *const u16) -> __m512 {
        load_f16(p)
    }
    fn value(self) -> f32 {
        h2f(self)
    }
}

impl Lanes for f32 {
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        _mm512_loadu_ps(p)
    }
    fn value(self) -> f32 {
        self
    }
}

/// tinyBLAS dots (one 16-lane accumulator each) of `RA` rows at `a` (`a_stride` apart)
/// with `RB` rows at `b` (`len` apart), `len % 16 == 0`: `[i][j]`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn tiled_block<const RA: usize, const RB: usize, B: Lanes>(
    a: *const u16,
    a_stride: usize,
    b: *const B,
    len: usize,
) -> [[f32; RB]; RA] {
    let mut acc = [[_mm512_setzero_ps(); RB]; RA];
    for s in (0..len).step_by(LANES) {
        let bv: [__m512; RB] = std::array::from_fn(|j| B::load(b.add(j * len + s)));
        for (i, acc) in acc.iter_mut().enumerate() {
            let av = load_f16(a.add(i * a_stride + s));
            for (acc, bv) in acc.iter_mut().zip(bv) {
                *acc = _mm512_fmadd_ps(av, bv, *acc);
            }
        }
    }
    acc.map(|r| r.map(|v| reduce16(v)))
}

/// [`crate::kernels::order::rows_f16_f32_tiled`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn rows_f16_f32_tiled(
    a: &[u16],
    a_stride: usize,
    b: &[f32],
    len: usize,
    out: &mut [f32],
) {
    rows_tiled(a, a_stride, b, len, out);
}

/// [`crate::kernels::order::rows_f16_f16_tiled`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn rows_f16_f16_tiled(
    a: &[u16],
    a_stride: usize,
    b: &[u16],
    len: usize,
    out: &mut [f32],
) {
    rows_tiled(a, a_stride, b, len, out);
}

/// The tiled rows: blocks of 4 `a` rows x up to 4 `b` rows.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn rows_tiled<B: Lanes>(a: &[u16], a_stride: usize, b: &[B], len: usize, out: &mut [f32]) {
    assert!(
        len.is_multiple_of(LANES),
        "tiled dots take whole 16-element steps"
    );
    let (n_b, n_a) = shape(a, a_stride, b, len, out);
    for j0 in (0..n_b).step_by(RB_MAX) {
        let bp = b.as_ptr().add(j0 * len);
        match (n_b - j0).min(RB_MAX) {
            4 => tiled_rows::<4, B>(a, a_stride, bp, len, n_a, &mut out[j0 * n_a..]),
            3 => tiled_rows::<3, B>(a, a_stride, bp, len, n_a, &mut out[j0 * n_a..]),
            2 => tiled_rows::<2, B>(a, a_stride, bp, len, n_a, &mut out[j0 * n_a..]),
            _ => tiled_rows::<1, B>(a, a_stride, bp, len, n_a, &mut out[j0 * n_a..]),
        }
    }
}

/// Every row of `a` against the `RB` rows at `b`, into `out[j * n_a + i]`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn tiled_rows<const RB: usize, B: Lanes>(
    a: &[u16],
    a_stride: usize,
    b: *const B,
    len: usize,
    n_a: usize,
    out: &mut [f32],
) {
    // Reads: rows i < n_a of a (checked by `shape`), RB rows of b (checked by the caller).
    let mut i = 0;
    while i + 4 <= n_a {
        let r = tiled_block::<4, RB, B>(a.as_ptr().add(i * a_stride), a_stride, b, len);
        for (di, r) in r.iter().enumerate() {
            for (j, &v) in r.iter().enumerate() {
                out[j * n_a + i + di] = v;
            }
        }
        i += 4;
    }
    for i in i..n_a {
        let r = tiled_block::<1, RB, B>(a.as_ptr().add(i * a_stride), a_stride, b, len);
        for (j, &v) in r[0].iter().enumerate() {
            out[j * n_a + i] = v;
        }
    }
}

/// [`crate::kernels::order::rows_f16_ggml`]: each `a` row against up to 4 `b` rows, four
/// 16-lane accumulators per dot over whole 64-element steps, the rest added in double.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn rows_ggml(a: &[u16], a_stride: usize, b: &[u16], len: usize, out: &mut [f32]) {
    let (n_b, n_a) = shape(a, a_stride, b, len, out);
    for j0 in (0..n_b).step_by(RB_MAX) {
        let b = &b[j0 * len..];
        let out = &mut out[j0 * n_a..];
        match (n_b - j0).min(RB_MAX) {
            4 => ggml_rows::<4>(a, a_stride, b, len, n_a, out),
            3 => ggml_rows::<3>(a, a_stride, b, len, n_a, out),
            2 => ggml_rows::<2>(a, a_stride, b, len, n_a, out),
            _ => ggml_rows::<1>(a, a_stride, b, len, n_a, out),
        }
    }
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn ggml_rows<const RB: usize>(
    a: &[u16],
    a_stride: usize,
    b: &[u16],
    len: usize,
    n_a: usize,
    out: &mut [f32],
) {
    let np = len & !(GGML_STEP - 1);
    let bp = b.as_ptr();
    for i in 0..n_a {
        let row = &a[i * a_stride..i * a_stride + len];
        let ap = row.as_ptr();
        let mut acc = [[_mm512_setzero_ps(); 4]; RB];
        // Loads read [s, s + 64) with s + 64 <= np <= len, in row and in each b row.
        for s in (0..np).step_by(GGML_STEP) {
            let av: [__m512; 4] = std::array::from_fn(|q| load_f16(ap.add(s + LANES * q)));
            for (j, acc) in acc.iter_mut().enumerate() {
                for (q, acc) in acc.iter_mut().enumerate() {
                    let bv = load_f16(bp.add(j * len + s + LANES * q));
                    *acc = _mm512_fmadd_ps(av[q], bv, *acc);
                }
            }
        }
        for (j, acc) in acc.iter().enumerate() {
            let v = _mm512_add_ps(_mm512_add_ps(acc[0], acc[2]), _mm512_add_ps(acc[1], acc[3]));
            let mut sumf = f64::from(reduce16(v));
            for (&x, &y) in row[np..].iter().zip(&b[j * len + np..(j + 1) * len]) {
                sumf += f64::from(h2f(x) * y.value());
            }
            out[j * n_a + i] = sumf as f32;
        }
    }
}
