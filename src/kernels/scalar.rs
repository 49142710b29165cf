//! Scalar reference kernels: the definition every faster kernel must reproduce (bit for bit
//! on the integer parts; float parts in the same order).

use super::act::{BlockQ8K, BlockQ8_0, QK8_0, QK_K};
use crate::quant::{i2s, q8_0, tq1_0, tq2_0};

/// Exact `sum_k (code - 1) * q[k]` for I2_S rows `row0 .. row0 + out.len()` of a matrix with
/// `k` columns (`k % 128 == 0`). Code 3 counts as 0 (loaders reject it anyway).
pub fn i2s_dots(w: &[u8], k: usize, row0: usize, q: &[i8], out: &mut [i32]) {
    const VALUE: [i32; 4] = [-1, 0, 1, 0];
    let row_bytes = k / 4;
    for (r, o) in out.iter_mut().enumerate() {
        let row = &w[(row0 + r) * row_bytes..(row0 + r + 1) * row_bytes];
        let mut sum = 0i32;
        for (block, qb) in row
            .chunks_exact(i2s::BLOCK_BYTES)
            .zip(q.chunks_exact(i2s::BLOCK_ELEMENTS))
        {
            for (p, &byte) in block.iter().enumerate() {
                for g in 0..4 {
                    let code = usize::from(byte >> (6 - 2 * g)) & 3;
                    sum += VALUE[code] * i32::from(qb[32 * g + p]);
                }
            }
        }
        *o = sum;
    }
}

/// [`i2s_dots`] against several activation rows: `out[t * m + r]` is row `row0 + r` against
/// `qs[t]`, with `m = out.len() / qs.len()` (which must divide exactly). Each weight block is
/// decoded once for all of `qs`.
pub fn i2s_gemm(w: &[u8], k: usize, row0: usize, qs: &[&[i8]], out: &mut [i32]) {
    const VALUE: [i8; 4] = [-1, 0, 1, 0];
    if qs.is_empty() {
        return;
    }
    assert_eq!(
        out.len() % qs.len(),
        0,
        "out must hold m rows per activation row"
    );
    let m = out.len() / qs.len();
    let row_bytes = k / 4;
    let mut values = [0i8; i2s::BLOCK_ELEMENTS];
    for r in 0..m {
        let row = &w[(row0 + r) * row_bytes..(row0 + r + 1) * row_bytes];
        for t in 0..qs.len() {
            out[t * m + r] = 0;
        }
        for (b, block) in row.chunks_exact(i2s::BLOCK_BYTES).enumerate() {
            for (p, &byte) in block.iter().enumerate() {
                for g in 0..4 {
                    values[32 * g + p] = VALUE[usize::from(byte >> (6 - 2 * g)) & 3];
                }
            }
            let e = b * i2s::BLOCK_ELEMENTS;
            for (t, q) in qs.iter().enumerate() {
                let qb = &q[e..e + i2s::BLOCK_ELEMENTS];
                let s: i32 = values
                    .iter()
                    .zip(qb)
                    .map(|(&v, &x)| i32::from(v) * i32::from(x))
                    .sum();
                out[t * m + r] += s;
            }
        }
    }
}

/// bitnet.cpp's I2_S outputs from the exact dots: `dot as f32 / act_scale * w_scale`, in
/// that order (float division, then product; no reciprocal, which would round differently).
pub fn i2s_finish(dots: &[i32], act_scale: f32, w_scale: f32, out: &mut [f32]) {
    for (y, &d) in out.iter_mut().zip(dots) {
        *y = d as f32 / act_scale * w_scale;
    }
}

/// The longest row [`i8_row_dots`] takes: `|w * q| <= 2^14`, so any sum of `2^16` products
/// fits an i32 (`<= 2^30`), as do the fast kernels' partial sums (see `x86::head8`).
pub const I8_ROW_MAX: usize = 1 << 16;

/// Exact `sum_j w[r][j] * q[j]` for the int8 rows `r = row0 .. row0 + out.len()` of a
/// row-major matrix with `k` columns (`k <= I8_ROW_MAX`), any i8 values. Used by the
/// opt-in 8-bit LM head (`model::head8`); no reference defines it, so this is the
/// definition.
pub fn i8_row_dots(w: &[i8], k: usize, row0: usize, q: &[i8], out: &mut [i32]) {
    assert!(k <= I8_ROW_MAX, "int8 rows longer than {I8_ROW_MAX}");
    let q = &q[..k];
    for (r, o) in out.iter_mut().enumerate() {
        let row = &w[(row0 + r) * k..(row0 + r + 1) * k];
        *o = row
            .iter()
            .zip(q)
            .map(|(&a, &b)| i32::from(a) * i32::from(b))
            .sum();
    }
}

/// ggml's `ggml_vec_dot_tq2_0_q8_K` (x86 AVX2 path) for rows `row0 ..`; see
/// [`ternary_q8k_dots`] for the accumulation order.
pub fn tq2_0_dots(w: &[u8], k: usize, row0: usize, a: &[BlockQ8K], out: &mut [f32]) {
    ternary_q8k_dots(w, k, row0, a, out, tq2_0::BLOCK_BYTES, tq2_0::decode_block);
}

/// ggml's `ggml_vec_dot_tq1_0_q8_K`, same accumulation as [`tq2_0_dots`].
pub fn tq1_0_dots(w: &[u8], k: usize, row0: usize, a: &[BlockQ8K], out: &mut [f32]) {
    ternary_q8k_dots(w, k, row0, a, out, tq1_0::BLOCK_BYTES, tq1_0::decode_block);
}

/// The AVX2 kernels keep eight int32 lanes per block: lane `u` sums `code * q` over the
/// elements `e` with `(e % 32) / 4 == u` (the byte lanes of the code vectors) minus the sum
/// of `q` over elements `32u .. 32u + 32` (the block sums). Each lane is converted to float
/// and accumulated with a fused multiply-add by `d_a * d_w` across blocks; the eight lanes
/// are summed at the end as `hsum_float_8` does. Integer parts are exact.
fn ternary_q8k_dots(
    w: &[u8],
    k: usize,
    row0: usize,
    a: &[BlockQ8K],
    out: &mut [f32],
    block_bytes: usize,
    decode: fn(&[u8], &mut [i8; QK_K]) -> f32,
) {
    let row_bytes = k / QK_K * block_bytes;
    let mut t = [0i8; QK_K];
    for (r, o) in out.iter_mut().enumerate() {
        let row = &w[(row0 + r) * row_bytes..(row0 + r + 1) * row_bytes];
        let mut acc = [0.0f32; 8];
        for (block, ab) in row.chunks_exact(block_bytes).zip(a) {
            let dw = decode(block, &mut t);
            let mut lanes = [0i32; 8];
            for (e, (&tv, &q)) in t.iter().zip(&ab.qs).enumerate() {
                let q = i32::from(q);
                lanes[(e % 32) / 4] += (i32::from(tv) + 1) * q;
                lanes[e / 32] -= q;
            }
            let d = ab.d * dw;
            for (acc, &s) in acc.iter_mut().zip(&lanes) {
                *acc = (s as f32).mul_add(d, *acc);
            }
        }
        *o = hsum8(&acc);
    }
}

/// `hsum_float_8`: `((v4 + v0) + (v6 + v2)) + ((v5 + v1) + (v7 + v3))`.
fn hsum8(v: &[f32; 8]) -> f32 {
    ((v[4] + v[0]) + (v[6] + v[2])) + ((v[5] + v[1]) + (v[7] + v[3]))
}

/// ggml's `ggml_vec_dot_q8_0_q8_0` (x86; tinyBLAS's Q8_0 tiles accumulate the same way):
/// eight float lanes, lane `l` of block `b` gets `fma(d_w * d_a, sum of products 4l..4l+3,
/// lane)`, then the lanes are reduced by halving.
pub fn q8_0_dots(w: &[u8], k: usize, row0: usize, a: &[BlockQ8_0], out: &mut [f32]) {
    let row_bytes = k / QK8_0 * q8_0::BLOCK_BYTES;
    let h2f = crate::quant::f16::to_f32;
    for (r, o) in out.iter_mut().enumerate() {
        let row = &w[(row0 + r) * row_bytes..(row0 + r + 1) * row_bytes];
        let mut acc = [0.0f32; 8];
        for (block, ab) in row.chunks_exact(q8_0::BLOCK_BYTES).zip(a) {
            let dw = h2f(u16::from_le_bytes([block[0], block[1]]));
            let d = dw * h2f(ab.d);
            let qs = &block[2..2 + QK8_0];
            for (l, acc) in acc.iter_mut().enumerate() {
                let s: i32 = (4 * l..4 * l + 4)
                    .map(|i| i32::from(qs[i] as i8) * i32::from(ab.qs[i]))
                    .sum();
                *acc = d.mul_add(s as f32, *acc);
            }
        }
        let t = [
            acc[0] + acc[4],
            acc[1] + acc[5],
            acc[2] + acc[6],
            acc[3] + acc[7],
        ];
        *o = (t[0] + t[2]) + (t[1] + t[3]);
    }
}
