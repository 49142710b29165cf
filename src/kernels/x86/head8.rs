//! AVX2 row dots of the opt-in 8-bit LM head ([`crate::kernels::scalar::i8_row_dots`]);
//! the AVX-512 VNNI ones are in `head8_vnni`. Callers must have detected the features (see
//! `x86::tables`).
//!
//! The head is read once per token (328 MB for 2B-4T), so these kernels are bound by memory
//! bandwidth, not arithmetic: they favour exactness over every input over tricks that save
//! instructions. `vpmaddubsw` (u8 x i8 with int16 saturation) would need both operands
//! limited to -127..=127; widening to int16 and `vpmaddwd` is exact for every i8 value.

use std::arch::x86_64::*;

use super::avx2::hsum_i32;
use crate::kernels::I8_ROW_MAX;

/// Rows per pass: they share each activation load.
pub(super) const ROWS: usize = 4;

/// Rows `row0 .. row0 + m` of an int8 matrix with `k` columns, and `q[..k]`, checked so the
/// kernels can read them with unchecked vector loads.
pub(super) fn head_rows<'a>(
    w: &'a [i8],
    k: usize,
    row0: usize,
    m: usize,
    q: &'a [i8],
) -> (&'a [i8], &'a [i8]) {
    assert!(k <= I8_ROW_MAX, "int8 rows longer than {I8_ROW_MAX}");
    (&w[row0 * k..(row0 + m) * k], &q[..k])
}

/// The body of an `i8_row_dots` kernel: checks the arguments, then computes `out` in
/// groups of [`ROWS`] rows (fewer at the end) with `$rows::<R>(rows, k, q) -> [i32; R]`.
macro_rules! by_row_groups {
    ($rows:ident, $w:expr, $k:expr, $row0:expr, $q:expr, $out:expr) => {{
        let (k, out) = ($k, $out);
        let (rows, q) = $crate::kernels::x86::head8::head_rows($w, k, $row0, out.len(), $q);
        const ROWS: usize = $crate::kernels::x86::head8::ROWS;
        for (i, out) in out.chunks_mut(ROWS).enumerate() {
            let rows = &rows[i * ROWS * k..(i * ROWS + out.len()) * k];
            match out.len() {
                4 => out.copy_from_slice(&$rows::<4>(rows, k, q)),
                3 => out.copy_from_slice(&$rows::<3>(rows, k, q)),
                2 => out.copy_from_slice(&$rows::<2>(rows, k, q)),
                _ => out.copy_from_slice(&$rows::<1>(rows, k, q)),
            }
        }
    }};
}
pub(super) use by_row_groups;

/// `sum w[r][j] * q[j]` for the scalar tail `j in from .. k` of row `r`.
pub(super) fn tail_dot(rows: &[i8], k: usize, r: usize, q: &[i8], from: usize) -> i32 {
    rows[r * k + from..(r + 1) * k]
        .iter()
        .zip(&q[from..])
        .map(|(&a, &b)| i32::from(a) * i32::from(b))
        .sum()
}

/// [`crate::kernels::scalar::i8_row_dots`].
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn i8_row_dots_avx2(w: &[i8], k: usize, row0: usize, q: &[i8], out: &mut [i32]) {
    by_row_groups!(rows_avx2, w, k, row0, q, out);
}

/// `R` rows (`rows` holds exactly `R * k` values) against `q` (`k` values). Per 32 columns
/// each operand is widened to int16 and `vpmaddwd` adds pairs of products into int32 lanes:
/// a pair is at most `2 * 128 * 128 = 2^15` in magnitude, a lane sums `k / 8` products, at
/// most `2^11 * k <= 2^27` for `k <= 2^16`: exact.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn rows_avx2<const R: usize>(rows: &[i8], k: usize, q: &[i8]) -> [i32; R] {
    debug_assert_eq!(rows.len(), R * k);
    let n32 = k & !31;
    let (w, qp) = (rows.as_ptr(), q.as_ptr());
    let widen = |p: *const i8| _mm256_cvtepi8_epi16(_mm_loadu_si128(p.cast()));
    let mut acc = [_mm256_setzero_si256(); R];
    // Loads read [j, j + 32) with j + 32 <= n32 <= k, inside each row and inside q.
    for j in (0..n32).step_by(32) {
        let (q0, q1) = (widen(qp.add(j)), widen(qp.add(j + 16)));
        for (r, acc) in acc.iter_mut().enumerate() {
            let p = w.add(r * k + j);
            let s = _mm256_add_epi32(
                _mm256_madd_epi16(widen(p), q0),
                _mm256_madd_epi16(widen(p.add(16)), q1),
            );
            *acc = _mm256_add_epi32(*acc, s);
        }
    }
    std::array::from_fn(|r| hsum_i32(acc[r]) + tail_dot(rows, k, r, q, n32))
}
