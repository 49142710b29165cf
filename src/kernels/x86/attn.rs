//! Attention's per-head products ([`order::dot_rows`]): every K row against q, every V row
//! against the probabilities. One call per head instead of one per row; the AVX-512
//! kernels also run several rows at once, sharing the loads (and f16 widening) of `y` and
//! overlapping the rows' dependent fused multiply-add chains, and reduce four rows' lanes
//! together. Each row's operations and their order stay those of the single-row kernel.
//! Callers must have detected the features (see `x86::tables`).

use crate::kernels::order;

/// Checks that every row `r < m` of `k` elements starting at `r * stride` lies in `rows`,
/// so that kernels can load them unchecked.
fn check_rows<T>(rows: &[T], stride: usize, k: usize, m: usize) {
    if m > 0 {
        let need = (m - 1)
            .checked_mul(stride)
            .and_then(|n| n.checked_add(k))
            .expect("row span overflows");
        assert!(rows.len() >= need, "rows end before row {m} does");
    }
}

/// [`order::dot_f16_ggml_rows`] with the AVX2 single-row kernel.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_f16_ggml_rows_avx2(
    rows: &[u16],
    stride: usize,
    y: &[u16],
    out: &mut [f32],
) {
    order::dot_rows(rows, stride, y, out, |x, y| super::avx2::dot_f16_ggml(x, y));
}

/// [`order::dot_f16_f16_tiled_rows`] with the AVX2 single-row kernel.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_f16_f16_tiled_rows_avx2(
    rows: &[u16],
    stride: usize,
    y: &[u16],
    out: &mut [f32],
) {
    order::dot_rows(rows, stride, y, out, |x, y| {
        super::avx2::dot_f16_f16_tiled(x, y)
    });
}

/// [`order::dot_f16_f32_tiled_rows`] with the AVX2 single-row kernel.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_f16_f32_tiled_rows_avx2(
    rows: &[u16],
    stride: usize,
    y: &[f32],
    out: &mut [f32],
) {
    order::dot_rows(rows, stride, y, out, |x, y| {
        super::avx2::dot_f16_f32_tiled(x, y)
    });
}

/// The AVX-512 kernels, built only by compilers with the AVX-512 intrinsics (1.89+).
#[cfg(bitnet_avx512)]
#[clippy::msrv = "1.89"]
pub(super) mod avx512 {
    use std::arch::x86_64::*;

    use super::check_rows;
    use crate::kernels::order::{GGML_STEP, LANES};
    use crate::kernels::x86::avx512::{load_f16, reduce16};
    use crate::quant::f16::to_f32 as h2f;

    /// Rows per pass.
    const R: usize = 4;

    /// `order::reduce16` of four vectors at once, the same additions lane for lane: halves
    /// of 8, then of 4 (gathered across the rows by 128-bit shuffles), then pairs, then the
    /// last two lanes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn reduce16x4(v: [__m512; R]) -> [f32; R] {
        // [v0 lanes 0..8 + 8..16, v1 ...] and the same for v2, v3.
        let t01 = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x44>(v[0], v[1]),
            _mm512_shuffle_f32x4::<0xEE>(v[0], v[1]),
        );
        let t23 = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x44>(v[2], v[3]),
            _mm512_shuffle_f32x4::<0xEE>(v[2], v[3]),
        );
        // 128-bit lane r: row r's t[0..4] + t[4..8].
        let u = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x88>(t01, t23),
            _mm512_shuffle_f32x4::<0xDD>(t01, t23),
        );
        // In each 128-bit lane: [u0 + u2, u1 + u3, ..], then lane 0 + lane 1.
        let w = _mm512_add_ps(u, _mm512_shuffle_ps::<0xEE>(u, u));
        let f = _mm512_add_ps(w, _mm512_shuffle_ps::<0x55>(w, w));
        let mut lanes = [0.0f32; LANES];
        _mm512_storeu_ps(lanes.as_mut_ptr(), f);
        [lanes[0], lanes[4], lanes[8], lanes[12]]
    }

    /// ggml's four accumulators of `N` rows (`x[r]`) against `y`, over `np` elements (a
    /// multiple of 64), each combined as `(a0 + a2) + (a1 + a3)`. `y` is widened once per
    /// vector for all rows.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn ggml_steps<const N: usize>(
        x: [*const u16; N],
        y: *const u16,
        np: usize,
    ) -> [__m512; N] {
        let mut acc = [[_mm512_setzero_ps(); 4]; N];
        for i in (0..np).step_by(GGML_STEP) {
            for j in 0..4 {
                let yv = load_f16(y.add(i + LANES * j));
                for (acc, x) in acc.iter_mut().zip(x) {
                    acc[j] = _mm512_fmadd_ps(load_f16(x.add(i + LANES * j)), yv, acc[j]);
                }
            }
        }
        acc.map(|a| _mm512_add_ps(_mm512_add_ps(a[0], a[2]), _mm512_add_ps(a[1], a[3])))
    }

    /// The f16 leftovers past `np`, added in double as `order::dot_f16_ggml` does.
    #[inline(always)]
    fn ggml_tail(steps: f32, x: &[u16], y: &[u16], np: usize) -> f32 {
        let mut sumf = f64::from(steps);
        for (&xi, &yi) in x[np..].iter().zip(&y[np..]) {
            sumf += f64::from(h2f(xi) * h2f(yi));
        }
        sumf as f32
    }

    /// [`crate::kernels::order::dot_f16_ggml_rows`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(in crate::kernels::x86) unsafe fn dot_f16_ggml_rows(
        rows: &[u16],
        stride: usize,
        y: &[u16],
        out: &mut [f32],
    ) {
        let k = y.len();
        check_rows(rows, stride, k, out.len());
        let np = k & !(GGML_STEP - 1);
        // Loads read [i, i + 16) of a row or of y with i + 16 <= np <= k.
        let (xp, yp) = (rows.as_ptr(), y.as_ptr());
        let row = |r: usize| &rows[r * stride..r * stride + k];
        let mut r0 = 0;
        while r0 + R <= out.len() {
            let acc = ggml_steps::<R>(std::array::from_fn(|r| xp.add((r0 + r) * stride)), yp, np);
            let sums = reduce16x4(acc);
            for (r, s) in sums.into_iter().enumerate() {
                out[r0 + r] = ggml_tail(s, row(r0 + r), y, np);
            }
            r0 += R;
        }
        for (r, o) in out.iter_mut().enumerate().skip(r0) {
            let [acc] = ggml_steps::<1>([xp.add(r * stride)], yp, np);
            *o = ggml_tail(reduce16(acc), row(r), y, np);
        }
    }

    /// tinyBLAS's single accumulator of `N` rows (`x[r]`) against `y`, over `n` elements
    /// (`n % 16 == 0`); `load_y` gives y's 16 values at an offset, once for all rows.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn tiled<const N: usize>(
        x: [*const u16; N],
        n: usize,
        load_y: impl Fn(usize) -> __m512,
    ) -> [__m512; N] {
        let mut acc = [_mm512_setzero_ps(); N];
        for i in (0..n).step_by(LANES) {
            let yv = load_y(i);
            for r in 0..N {
                acc[r] = _mm512_fmadd_ps(load_f16(x[r].add(i)), yv, acc[r]);
            }
        }
        acc
    }

    /// Tiled dots of every row, `R` rows per pass.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn tiled_rows(
        rows: &[u16],
        stride: usize,
        n: usize,
        out: &mut [f32],
        load_y: impl Fn(usize) -> __m512 + Copy,
    ) {
        assert!(
            n.is_multiple_of(LANES),
            "tiled dots take whole 16-element steps"
        );
        check_rows(rows, stride, n, out.len());
        // Loads read [i, i + 16) of a row with i + 16 <= n.
        let xp = rows.as_ptr();
        let mut r0 = 0;
        while r0 + R <= out.len() {
            let acc = tiled::<R>(
                std::array::from_fn(|r| xp.add((r0 + r) * stride)),
                n,
                load_y,
            );
            out[r0..r0 + R].copy_from_slice(&reduce16x4(acc));
            r0 += R;
        }
        for (r, o) in out.iter_mut().enumerate().skip(r0) {
            let [acc] = tiled::<1>([xp.add(r * stride)], n, load_y);
            *o = reduce16(acc);
        }
    }

    /// [`crate::kernels::order::dot_f16_f16_tiled_rows`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(in crate::kernels::x86) unsafe fn dot_f16_f16_tiled_rows(
        rows: &[u16],
        stride: usize,
        y: &[u16],
        out: &mut [f32],
    ) {
        // y loads read [i, i + 16) with i + 16 <= y.len() (whole 16s, checked).
        let yp = y.as_ptr();
        tiled_rows(rows, stride, y.len(), out, |i| load_f16(yp.add(i)));
    }

    /// [`crate::kernels::order::dot_f16_f32_tiled_rows`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(in crate::kernels::x86) unsafe fn dot_f16_f32_tiled_rows(
        rows: &[u16],
        stride: usize,
        y: &[f32],
        out: &mut [f32],
    ) {
        // y loads read [i, i + 16) with i + 16 <= y.len() (whole 16s, checked).
        let yp = y.as_ptr();
        tiled_rows(rows, stride, y.len(), out, |i| _mm512_loadu_ps(yp.add(i)));
    }
}
