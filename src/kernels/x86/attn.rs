//! Attention's products for the heads of one KV group ([`order::dot_rows`]): every K row
//! against the heads' q, every V row against their probabilities. The AVX-512 kernels load
//! and widen each f16 row once for up to four heads (prefetching the V rows, which lie
//! pages apart), keep many independent fused multiply-add chains in flight, and reduce
//! four heads' lanes together; every dot keeps the operations and order of the single-row
//! definition. Callers must have detected the features (see `x86::tables`).

use std::arch::x86_64::*;

use crate::kernels::order::{self, GGML_STEP};

/// `(k, m)` of a call, after checking that every row `r < m` of `k` elements starting at
/// `r * stride` lies in `rows`, so that kernels can load them unchecked (`None`: nothing
/// to do).
fn shape(rows: &[u16], stride: usize, ys: &[&[f32]], out: &[f32]) -> Option<(usize, usize)> {
    let (k, m) = order::rows_shape(ys, out)?;
    let need = (m - 1)
        .checked_mul(stride)
        .and_then(|n| n.checked_add(k))
        .expect("row span overflows");
    assert!(rows.len() >= need, "rows end before row {m} does");
    Some((k, m))
}

/// [`order::dot_f16_f32_ggml_rows`] with the AVX2 single-row loop.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_f16_f32_ggml_rows_avx2(
    rows: &[u16],
    stride: usize,
    ys: &[&[f32]],
    out: &mut [f32],
) {
    let Some((k, m)) = shape(rows, stride, ys, out) else {
        return;
    };
    let np = k & !(GGML_STEP - 1);
    for (y, out) in ys.iter().zip(out.chunks_exact_mut(m)) {
        for (r, o) in out.iter_mut().enumerate() {
            // Loads read [i, i + 8) of row r and of y with i + 8 <= np <= k (checked).
            let (x, yp) = (rows.as_ptr().add(r * stride), y.as_ptr());
            let steps = super::avx2::ggml_steps(np, x, |i| {
                (super::avx2::load_f16(x.add(i)), _mm256_loadu_ps(yp.add(i)))
            });
            *o = order::ggml_f16_tail(steps, &rows[r * stride..r * stride + k], y, np);
        }
    }
}

/// [`order::dot_f16_f32_tiled_rows`] with the AVX2 single-row loop.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_f16_f32_tiled_rows_avx2(
    rows: &[u16],
    stride: usize,
    ys: &[&[f32]],
    out: &mut [f32],
) {
    let Some((k, m)) = shape(rows, stride, ys, out) else {
        return;
    };
    for (y, out) in ys.iter().zip(out.chunks_exact_mut(m)) {
        for (r, o) in out.iter_mut().enumerate() {
            // Loads read [i, i + 8) of row r and of y with i + 8 <= k (whole 16s, checked
            // by `tiled`).
            let (x, yp) = (rows.as_ptr().add(r * stride), y.as_ptr());
            *o = super::avx2::tiled(k, x, |i| {
                (super::avx2::load_f16(x.add(i)), _mm256_loadu_ps(yp.add(i)))
            });
        }
    }
}

/// The AVX-512 kernels, built only by compilers with the AVX-512 intrinsics (1.89+).
#[cfg(bitnet_avx512)]
#[clippy::msrv = "1.89"]
pub(super) mod avx512 {
    use std::arch::x86_64::*;

    use super::shape;
    use crate::kernels::order::{self, GGML_STEP, LANES};
    use crate::kernels::x86::avx512::{load_f16, reduce16};

    /// Heads per pass.
    const H: usize = 4;
    /// Rows per pass of the tiled kernel: with four heads, eight chains in flight.
    const TILED_ROWS: usize = 2;

    /// `order::reduce16` of four vectors at once, the same additions lane for lane: halves
    /// of 8, then of 4 (gathered across the vectors by 128-bit shuffles), then pairs, then
    /// the last two lanes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn reduce16x4(v: [__m512; 4]) -> [f32; 4] {
        // [v0 lanes 0..8 + 8..16, v1 ...] and the same for v2, v3.
        let t01 = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x44>(v[0], v[1]),
            _mm512_shuffle_f32x4::<0xEE>(v[0], v[1]),
        );
        let t23 = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x44>(v[2], v[3]),
            _mm512_shuffle_f32x4::<0xEE>(v[2], v[3]),
        );
        // 128-bit lane i: vector i's t[0..4] + t[4..8].
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

    /// `order::reduce16` of each of `N` vectors.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn reduce_each<const N: usize>(v: [__m512; N]) -> [f32; N] {
        if let Ok(four) = <[__m512; 4]>::try_from(&v[..]) {
            let s = reduce16x4(four);
            std::array::from_fn(|i| s[i])
        } else {
            v.map(|v| reduce16(v))
        }
    }

    /// ggml's four accumulators of row `x` against each of `N` rows `y[h]`, over `np`
    /// elements (a multiple of 64), each combined as `(a0 + a2) + (a1 + a3)`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn ggml_heads<const N: usize>(
        x: *const u16,
        y: [*const f32; N],
        np: usize,
    ) -> [__m512; N] {
        let mut acc = [[_mm512_setzero_ps(); 4]; N];
        for i in (0..np).step_by(GGML_STEP) {
            for j in 0..4 {
                let xv = load_f16(x.add(i + LANES * j));
                for (acc, y) in acc.iter_mut().zip(y) {
                    let yv = _mm512_loadu_ps(y.add(i + LANES * j));
                    acc[j] = _mm512_fmadd_ps(xv, yv, acc[j]);
                }
            }
        }
        acc.map(|a| _mm512_add_ps(_mm512_add_ps(a[0], a[2]), _mm512_add_ps(a[1], a[3])))
    }

    /// `N` heads `ys` against every row; `out[h * m + r]`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn ggml_pass<const N: usize>(
        rows: &[u16],
        stride: usize,
        (k, m): (usize, usize),
        ys: &[&[f32]],
        out: &mut [f32],
    ) {
        let np = k & !(GGML_STEP - 1);
        let y: [*const f32; N] = std::array::from_fn(|h| ys[h].as_ptr());
        for r in 0..m {
            // Loads read [i, i + 16) of row r and of each y with i + 16 <= np <= k.
            let sums = reduce_each(ggml_heads::<N>(rows.as_ptr().add(r * stride), y, np));
            let row = &rows[r * stride..r * stride + k];
            for (h, s) in sums.into_iter().enumerate() {
                out[h * m + r] = order::ggml_f16_tail(s, row, ys[h], np);
            }
        }
    }

    /// [`order::dot_f16_f32_ggml_rows`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(in crate::kernels::x86) unsafe fn dot_f16_f32_ggml_rows(
        rows: &[u16],
        stride: usize,
        ys: &[&[f32]],
        out: &mut [f32],
    ) {
        let Some((k, m)) = shape(rows, stride, ys, out) else {
            return;
        };
        for (c, ys) in ys.chunks(H).enumerate() {
            let out = &mut out[c * H * m..(c * H + ys.len()) * m];
            match ys.len() {
                4 => ggml_pass::<4>(rows, stride, (k, m), ys, out),
                3 => ggml_pass::<3>(rows, stride, (k, m), ys, out),
                2 => ggml_pass::<2>(rows, stride, (k, m), ys, out),
                _ => ggml_pass::<1>(rows, stride, (k, m), ys, out),
            }
        }
    }

    /// tinyBLAS's single accumulator of each of `R` rows `x[q]` against each of `N` rows
    /// `y[h]`, over `k` elements (`k % 16 == 0`).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn tiled_heads<const R: usize, const N: usize>(
        x: [*const u16; R],
        y: [*const f32; N],
        k: usize,
    ) -> [[__m512; N]; R] {
        let mut acc = [[_mm512_setzero_ps(); N]; R];
        for i in (0..k).step_by(LANES) {
            let xv = x.map(|x| load_f16(x.add(i)));
            for (h, y) in y.iter().enumerate() {
                let yv = _mm512_loadu_ps(y.add(i));
                for (acc, &xv) in acc.iter_mut().zip(&xv) {
                    acc[h] = _mm512_fmadd_ps(xv, yv, acc[h]);
                }
            }
        }
        acc
    }

    /// `N` heads `ys` against every row, [`TILED_ROWS`] rows at a time; `out[h * m + r]`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn tiled_pass<const N: usize>(
        rows: &[u16],
        stride: usize,
        (k, m): (usize, usize),
        ys: &[&[f32]],
        out: &mut [f32],
    ) {
        let y: [*const f32; N] = std::array::from_fn(|h| ys[h].as_ptr());
        let x = |r: usize| rows.as_ptr().add(r * stride);
        let mut put = |r: usize, acc: [__m512; N]| {
            for (h, s) in reduce_each(acc).into_iter().enumerate() {
                out[h * m + r] = s;
            }
        };
        // Loads read [i, i + 16) of a row and of each y with i + 16 <= k.
        let mut r = 0;
        while r + TILED_ROWS <= m {
            // V rows lie n_ctx apart, a page or more: no hardware prefetcher follows them,
            // so fetch the rows two passes ahead (prefetches never fault, even past the end).
            for q in 2 * TILED_ROWS..3 * TILED_ROWS {
                let ahead = rows.as_ptr().wrapping_add((r + q) * stride);
                for off in (0..k).step_by(32) {
                    crate::kernels::x86::prefetch(ahead.wrapping_add(off));
                }
            }
            let acc = tiled_heads::<TILED_ROWS, N>(std::array::from_fn(|q| x(r + q)), y, k);
            for (q, acc) in acc.into_iter().enumerate() {
                put(r + q, acc);
            }
            r += TILED_ROWS;
        }
        for r in r..m {
            let [acc] = tiled_heads::<1, N>([x(r)], y, k);
            put(r, acc);
        }
    }

    /// [`order::dot_f16_f32_tiled_rows`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    pub(in crate::kernels::x86) unsafe fn dot_f16_f32_tiled_rows(
        rows: &[u16],
        stride: usize,
        ys: &[&[f32]],
        out: &mut [f32],
    ) {
        let Some((k, m)) = shape(rows, stride, ys, out) else {
            return;
        };
        assert!(
            k.is_multiple_of(LANES),
            "tiled dots take whole 16-element steps"
        );
        for (c, ys) in ys.chunks(H).enumerate() {
            let out = &mut out[c * H * m..(c * H + ys.len()) * m];
            match ys.len() {
                4 => tiled_pass::<4>(rows, stride, (k, m), ys, out),
                3 => tiled_pass::<3>(rows, stride, (k, m), ys, out),
                2 => tiled_pass::<2>(rows, stride, (k, m), ys, out),
                _ => tiled_pass::<1>(rows, stride, (k, m), ys, out),
            }
        }
    }
}
