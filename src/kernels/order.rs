//! Floating-point dot products and exponentials in the exact order the references' x86
//! AVX-512 builds compute them, written as scalar code. Float addition is not associative,
//! and every BitLinear re-quantizes its input to int8, so a last-bit difference in an
//! attention sum can flip a rounding and grow; matching the order keeps parity tight.
//!
//! Two orders appear:
//! - **ggml** (`ggml_vec_dot_f16` / `ggml_vec_dot_f32`, single-row products): four 16-lane
//!   accumulators over steps of 64 elements with fused multiply-add, reduced as
//!   `(a0 + a2) + (a1 + a3)` and then across lanes by halving; elements past the last full step
//!   are added one by one afterwards (in double for f16, in float for f32).
//! - **tiled** (llamafile's tinyBLAS, products with two or more rows): one 16-lane accumulator
//!   with fused multiply-add over the whole row (`k` a multiple of 16), reduced by halving.

use crate::quant::f16::to_f32 as h2f;

/// Lanes of an AVX-512 float vector.
pub const LANES: usize = 16;
/// Elements per step of ggml's AVX-512 dot loops (4 accumulators x 16 lanes).
pub const GGML_STEP: usize = 64;

/// `_mm512_reduce_add_ps`: add the upper half onto the lower half until one lane is left.
#[inline]
pub fn reduce16(v: &[f32; LANES]) -> f32 {
    let mut t = [0.0f32; 8];
    for i in 0..8 {
        t[i] = v[i] + v[i + 8];
    }
    let u = [t[0] + t[4], t[1] + t[5], t[2] + t[6], t[3] + t[7]];
    let w = [u[0] + u[2], u[1] + u[3]];
    w[0] + w[1]
}

/// `GGML_F32x16_REDUCE` over four accumulators: `(a0 + a2) + (a1 + a3)` lane-wise, then
/// [`reduce16`].
#[inline]
fn reduce4x16(acc: &[[f32; LANES]; 4]) -> f32 {
    let mut v = [0.0f32; LANES];
    for l in 0..LANES {
        v[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    }
    reduce16(&v)
}

/// The whole-step part of ggml's AVX-512 dot loops over `np` elements (a multiple of 64):
/// four 16-lane fused multiply-add accumulators, reduced as the source does.
#[inline]
fn ggml_steps(np: usize, xy: impl Fn(usize) -> (f32, f32)) -> f32 {
    let mut acc = [[0.0f32; LANES]; 4];
    for i in (0..np).step_by(GGML_STEP) {
        for (j, a) in acc.iter_mut().enumerate() {
            for (l, a) in a.iter_mut().enumerate() {
                let (x, y) = xy(i + j * LANES + l);
                *a = x.mul_add(y, *a);
            }
        }
    }
    reduce4x16(&acc)
}

/// `ggml_vec_dot_f16(n, x, y)`: both operands f16 bits; leftovers accumulate in double.
pub fn dot_f16_ggml(x: &[u16], y: &[u16]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let np = y.len() & !(GGML_STEP - 1);
    let mut sumf = f64::from(ggml_steps(np, |k| (h2f(x[k]), h2f(y[k]))));
    for (&xi, &yi) in x.iter().zip(y).skip(np) {
        sumf += f64::from(h2f(xi) * h2f(yi));
    }
    sumf as f32
}

/// `ggml_vec_dot_f32(n, x, y)`: leftovers accumulate in float.
pub fn dot_f32_ggml(x: &[f32], y: &[f32]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let np = y.len() & !(GGML_STEP - 1);
    let mut sumf = ggml_steps(np, |k| (x[k], y[k]));
    for (&xi, &yi) in x.iter().zip(y).skip(np) {
        sumf += xi * yi;
    }
    sumf
}

/// tinyBLAS's dot of an f16 row with an f32 row; `k % 16 == 0`.
pub fn dot_f16_f32_tiled(a: &[u16], b: &[f32]) -> f32 {
    debug_assert!(b.len() % LANES == 0 && a.len() == b.len());
    let mut acc = [0.0f32; LANES];
    for (i, (&av, &bv)) in a.iter().zip(b).enumerate() {
        acc[i % LANES] = h2f(av).mul_add(bv, acc[i % LANES]);
    }
    reduce16(&acc)
}

/// tinyBLAS's dot of two f16 rows; `k % 16 == 0`.
pub fn dot_f16_f16_tiled(a: &[u16], b: &[u16]) -> f32 {
    debug_assert!(b.len() % LANES == 0 && a.len() == b.len());
    let mut acc = [0.0f32; LANES];
    for (i, (&av, &bv)) in a.iter().zip(b).enumerate() {
        acc[i % LANES] = h2f(av).mul_add(h2f(bv), acc[i % LANES]);
    }
    reduce16(&acc)
}

/// tinyBLAS's dot of two f32 rows; `k % 16 == 0`.
pub fn dot_f32_tiled(a: &[f32], b: &[f32]) -> f32 {
    debug_assert!(b.len() % LANES == 0 && a.len() == b.len());
    let mut acc = [0.0f32; LANES];
    for (i, (&av, &bv)) in a.iter().zip(b).enumerate() {
        acc[i % LANES] = av.mul_add(bv, acc[i % LANES]);
    }
    reduce16(&acc)
}

/// ggml's AVX-512 `ggml_v_expf`: a range-reduced polynomial, within about 1.5 ulp of
/// `expf`, evaluated with the same fused multiply-adds so the result is bit-identical.
pub fn expf_ggml(x: f32) -> f32 {
    let r = f32::from_bits(0x4B40_0000); // 0x1.8p23
    let z = x.mul_add(f32::from_bits(0x3FB8_AA3B), r); // log2(e)
    let n = z - r;
    // fnmadd(a, b, c) = c - a*b, fused.
    let b = (-n).mul_add(
        f32::from_bits(0x35BF_BE8E),                  // 0x1.7f7d1cp-20
        (-n).mul_add(f32::from_bits(0x3F31_7200), x), // 0x1.62e4p-1
    );
    if n.abs() > 192.0 {
        return if n <= 0.0 { 0.0 } else { f32::INFINITY };
    }
    if n.is_nan() {
        return f32::NAN;
    }
    let u = b * b;
    let c = |bits: u32| f32::from_bits(bits);
    let j = c(0x3C07_2010)
        .mul_add(b, c(0x3D2B_9F17))
        .mul_add(u, c(0x3E2A_AF33).mul_add(b, c(0x3EFF_FEDB)));
    let j = j.mul_add(u, c(0x3F7F_FFF6).mul_add(b, 1.0));
    // _mm512_scalef_ps(j, n) = j * 2^n, rounded once. Here n is an integer (z is in [2^23,
    // 2^24], where floats are integers) with |n| <= 192, so 2^n, built from its exponent
    // bits, and the product are exact in double; only the narrowing rounds.
    (f64::from(j) * pow2_f64(n as i64)) as f32
}

/// `2^n` for `|n| <= 1022`, exactly (no `powi` call).
#[inline(always)]
pub fn pow2_f64(n: i64) -> f64 {
    f64::from_bits(((n + 1023) as u64) << 52)
}

/// ggml_soft_max of one row after scale and mask (`ggml_vec_max_f32`,
/// `ggml_vec_soft_max_f32`, `ggml_vec_scale_f32`): max, `exp(x - max)` with [`expf_ggml`]
/// over whole 16-lane chunks (libm `expf` for the rest), each chunk's sum ([`reduce16`])
/// added in double, then a multiply by `(float)(1 / sum)`. The max keeps the first of equal
/// values and skips NaN; which zero it keeps does not matter (`x - max` is the same).
pub fn softmax_ggml(x: &mut [f32]) {
    let max = x
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    let n16 = x.len() / LANES * LANES;
    let mut sum = 0.0f64;
    for chunk in x[..n16].chunks_exact_mut(LANES) {
        let mut lanes = [0.0f32; LANES];
        for (l, v) in lanes.iter_mut().zip(chunk.iter_mut()) {
            *v = expf_ggml(*v - max);
            *l = *v;
        }
        sum += f64::from(reduce16(&lanes));
    }
    softmax_finish(x, n16, max, sum);
}

/// The end of [`softmax_ggml`] once `x[..n16]` holds exponentials summing (by chunks) to
/// `sum`: the libm tail and the scaling, shared with the SIMD kernels.
#[inline(always)]
pub fn softmax_finish(x: &mut [f32], n16: usize, max: f32, mut sum: f64) {
    for v in &mut x[n16..] {
        *v = (*v - max).exp();
        sum += f64::from(*v);
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// Many dots of one kind at once: `out[j * n_a + i] = dot(a_i, b_j)` with
/// `a_i = a[i * a_stride..][..len]`, `b_j = b[j * len..][..len]`, `n_b = b.len() / len` and
/// `n_a = out.len() / n_b`. Attention passes the K (or V) rows of one KV head as `a` and the
/// query (or probability) rows of the heads that share it as `b`, so that SIMD tables can
/// read each cached row once for all of them; every dot keeps its own order.
pub fn rows_via<B>(
    dot: impl Fn(&[u16], &[B]) -> f32,
    a: &[u16],
    a_stride: usize,
    b: &[B],
    len: usize,
    out: &mut [f32],
) {
    assert!(len > 0, "rows of no elements");
    let n_b = b.len() / len;
    if n_b == 0 {
        return;
    }
    let n_a = out.len() / n_b;
    for (bj, out) in b.chunks_exact(len).zip(out.chunks_exact_mut(n_a)) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = dot(&a[i * a_stride..i * a_stride + len], bj);
        }
    }
}

/// [`rows_via`] with [`dot_f16_ggml`].
pub fn rows_f16_ggml(a: &[u16], a_stride: usize, b: &[u16], len: usize, out: &mut [f32]) {
    rows_via(dot_f16_ggml, a, a_stride, b, len, out);
}

/// [`rows_via`] with [`dot_f16_f16_tiled`].
pub fn rows_f16_f16_tiled(a: &[u16], a_stride: usize, b: &[u16], len: usize, out: &mut [f32]) {
    rows_via(dot_f16_f16_tiled, a, a_stride, b, len, out);
}

/// [`rows_via`] with [`dot_f16_f32_tiled`].
pub fn rows_f16_f32_tiled(a: &[u16], a_stride: usize, b: &[f32], len: usize, out: &mut [f32]) {
    rows_via(dot_f16_f32_tiled, a, a_stride, b, len, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_decode_to_the_hex_floats() {
        // The bit patterns above against the source's hex-float literals (mantissa, exponent).
        let table: [(u32, &str, i32); 8] = [
            (0x3FB8_AA3B, "1715476", 0),
            (0x35BF_BE8E, "17f7d1c", -20),
            (0x3F31_7200, "162e400", -1),
            (0x3C07_2010, "10e4020", -7),
            (0x3D2B_9F17, "1573e2e", -5),
            (0x3E2A_AF33, "1555e66", -3),
            (0x3EFF_FEDB, "1fffdb6", -2),
            (0x3F7F_FFF6, "1ffffec", -1),
        ];
        for (bits, mantissa, exp) in table {
            let m = u32::from_str_radix(mantissa, 16).unwrap() as f64 / 16_777_216.0;
            assert_eq!(
                f32::from_bits(bits),
                (m * 2f64.powi(exp)) as f32,
                "{mantissa}p{exp}"
            );
        }
    }

    #[test]
    fn expf_ggml_is_close_to_expf_and_handles_limits() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (a, b) = (expf_ggml(x), x.exp());
            let rel = ((f64::from(a) - f64::from(b)) / f64::from(b)).abs();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 4e-7, "worst relative error {worst}");
        assert_eq!(expf_ggml(f32::NEG_INFINITY), 0.0);
        assert_eq!(expf_ggml(0.0), 1.0);
        assert_eq!(expf_ggml(-200.0), 0.0);
        assert_eq!(expf_ggml(200.0), f32::INFINITY);
    }

    #[test]
    fn dots_agree_with_double_precision() {
        let n = 200;
        let a: Vec<f32> = (0..n)
            .map(|i| ((i * 7919 % 101) as f32 - 50.0) / 37.0)
            .collect();
        let b: Vec<f32> = (0..n)
            .map(|i| ((i * 104729 % 97) as f32 - 48.0) / 41.0)
            .collect();
        let a16: Vec<u16> = a.iter().map(|&v| crate::quant::f16::from_f32(v)).collect();
        let b16: Vec<u16> = b.iter().map(|&v| crate::quant::f16::from_f32(v)).collect();
        let a16b = &a16;
        let exact16: f64 = a16
            .iter()
            .zip(&b16)
            .map(|(&x, &y)| f64::from(h2f(x)) * f64::from(h2f(y)))
            .sum();
        let exact32: f64 = a
            .iter()
            .zip(&b)
            .map(|(&x, &y)| f64::from(x) * f64::from(y))
            .sum();
        let tol = 1e-4;
        assert!((f64::from(dot_f16_ggml(a16b, &b16)) - exact16).abs() < tol);
        assert!((f64::from(dot_f32_ggml(&a, &b)) - exact32).abs() < tol);
        let k = 192;
        let exact16k: f64 = a16[..k]
            .iter()
            .zip(&b16[..k])
            .map(|(&x, &y)| f64::from(h2f(x)) * f64::from(h2f(y)))
            .sum();
        let exact16f: f64 = a16[..k]
            .iter()
            .zip(&b[..k])
            .map(|(&x, &y)| f64::from(h2f(x)) * f64::from(y))
            .sum();
        let exact32k: f64 = a[..k]
            .iter()
            .zip(&b[..k])
            .map(|(&x, &y)| f64::from(x) * f64::from(y))
            .sum();
        assert!((f64::from(dot_f16_f16_tiled(&a16b[..k], &b16[..k])) - exact16k).abs() < tol);
        assert!((f64::from(dot_f16_f32_tiled(&a16b[..k], &b[..k])) - exact16f).abs() < tol);
        assert!((f64::from(dot_f32_tiled(&a[..k], &b[..k])) - exact32k).abs() < tol);
    }

    #[test]
    fn ggml_order_is_the_documented_one() {
        // With values whose sums round differently by order, the lane structure shows.
        let mut x = vec![0.0f32; 64];
        x[0] = 1.0e8; // lane 0 of accumulator 0
        x[16] = 1.0; // lane 0 of accumulator 1
        x[32] = -1.0e8; // lane 0 of accumulator 2
        let y = vec![1.0f32; 64];
        // (a0 + a2) + (a1 + a3) = (1e8 - 1e8) + 1 = 1; left to right would lose the 1.
        assert_eq!(dot_f32_ggml(&x, &y), 1.0);
        let seq: f32 = x.iter().sum();
        assert_eq!(seq, 0.0);
    }
}
