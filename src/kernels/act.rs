//! Activation quantizers: what the references do to an f32 activation row before an integer
//! dot with a quantized weight. Each mirrors one reference function exactly (rounding mode,
//! order of operations, clamps), because the integer dot after it is exact and any difference
//! here is the whole difference.

/// One activation row quantized for I2_S (bitnet.cpp `quantize_row_i8_s`): per-row absmax
/// int8 values, the scale `s = 127 / max|x|` and the sum of the int8 values.
#[derive(Clone, Debug, Default)]
pub struct ActI8 {
    pub q: Vec<i8>,
    pub scale: f32,
    pub sum: i32,
}

/// bitnet.cpp's `quantize_row_i8_s`: `max = max(1e-5, max|x|)` in double, `s = (float)(127 /
/// max)`, `q = clamp(round_half_even(x * s), -128, 127)` (`nearest_int`, the 1.5 * 2^23
/// trick, rounds half to even), `sum = sum q`. NaN inputs are ignored by the max (as `MAX`
/// with a NaN second operand keeps the first) and quantize to 0.
pub fn quantize_i8_absmax(x: &[f32], out: &mut ActI8) {
    let mut max = 0.00001f64;
    for &v in x {
        let a = f64::from(v).abs();
        if a > max {
            max = a;
        }
    }
    let s = (127.0 / max) as f32;
    out.q.clear();
    out.q.reserve(x.len());
    let mut sum = 0i32;
    for &v in x {
        let q = quantize_i8_one(v, s);
        sum += i32::from(q);
        out.q.push(q);
    }
    out.scale = s;
    out.sum = sum;
}

/// The scale of [`quantize_i8_absmax`] from `max |x|` taken in float (NaN skipped): the
/// same as its double max, since widening is exact and keeps the order.
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // the x86 kernels use it
pub(crate) fn i8_scale(amax: f32) -> f32 {
    let amax = f64::from(amax);
    let max = if amax > 0.00001 { amax } else { 0.00001 };
    (127.0 / max) as f32
}

/// One value of [`quantize_i8_absmax`] with scale `s`.
#[inline(always)]
pub(crate) fn quantize_i8_one(v: f32, s: f32) -> i8 {
    let r = (v * s).round_ties_even();
    // `as` saturates (and maps NaN to 0), matching the reference's clamps.
    r.clamp(-128.0, 127.0) as i8
}

/// Elements per Q8_K block.
pub const QK_K: usize = 256;

/// One 256-element block of an activation row in ggml's Q8_K format.
#[derive(Clone, Copy, Debug)]
pub struct BlockQ8K {
    pub d: f32,
    pub qs: [i8; QK_K],
}

impl Default for BlockQ8K {
    fn default() -> Self {
        BlockQ8K {
            d: 0.0,
            qs: [0; QK_K],
        }
    }
}

/// ggml's `quantize_row_q8_K` (x86): per block, `max` = the signed value of the
/// largest-magnitude element (the first one on ties); all-zero block -> `d = 0`, `q = 0`;
/// else `iscale = -127 / max`, `q = min(127, nearest_int(iscale * x))`, `d = 1 / iscale`.
/// `x.len()` must be a multiple of 256.
pub fn quantize_q8k(x: &[f32], out: &mut Vec<BlockQ8K>) {
    out.clear();
    for block in x.chunks_exact(QK_K) {
        let mut amax = 0.0f32;
        let mut max = 0.0f32;
        for &v in block {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        let mut b = BlockQ8K::default();
        if amax != 0.0 {
            let iscale = -127.0f32 / max;
            for (q, &v) in b.qs.iter_mut().zip(block) {
                *q = (iscale * v).round_ties_even().min(127.0) as i8;
            }
            b.d = 1.0 / iscale;
        }
        out.push(b);
    }
}

/// Elements per Q8_0 block.
pub const QK8_0: usize = 32;

/// One 32-element block of an activation row in ggml's Q8_0 format.
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockQ8_0 {
    /// The scale as stored (f16 bits).
    pub d: u16,
    pub qs: [i8; QK8_0],
}

/// ggml's x86 `quantize_row_q8_0` (the AVX path the CPU backend runs, not the `_ref` one):
/// `d = amax / 127` stored as f16, `id = 127 / amax` (0 for an all-zero block), `q =
/// round_half_even(x * id)`. `x.len()` must be a multiple of 32.
pub fn quantize_q8_0(x: &[f32], out: &mut Vec<BlockQ8_0>) {
    out.clear();
    for block in x.chunks_exact(QK8_0) {
        let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let mut b = BlockQ8_0 {
            d: crate::quant::f16::from_f32(d),
            qs: [0; QK8_0],
        };
        for (q, &v) in b.qs.iter_mut().zip(block) {
            *q = (v * id).round_ties_even() as i8;
        }
        out.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i8_absmax_matches_the_formula() {
        let x = [0.5f32, -1.0, 0.25, 0.003_937_008, -0.0];
        let mut a = ActI8::default();
        quantize_i8_absmax(&x, &mut a);
        assert_eq!(a.scale, 127.0);
        assert_eq!(a.q, vec![64, -127, 32, 0, 0]);
        assert_eq!(a.sum, -31);
        // All zeros: max is clamped to 1e-5, every q is 0.
        quantize_i8_absmax(&[0.0; 8], &mut a);
        assert_eq!(a.scale, (127.0f64 / 0.00001) as f32);
        assert!(a.q.iter().all(|&q| q == 0));
    }

    #[test]
    fn i8_rounds_half_to_even() {
        // max 127 -> s = 1, so x * s is x itself.
        let x = [127.0f32, 0.5, 1.5, 2.5, -0.5, -1.5];
        let mut a = ActI8::default();
        quantize_i8_absmax(&x, &mut a);
        assert_eq!(a.q, vec![127, 0, 2, 2, 0, -2]);
    }

    #[test]
    fn q8k_sign_convention_and_zero_block() {
        let mut x = vec![0.0f32; 512];
        x[3] = 2.0; // largest magnitude, positive: d comes out negative
        x[4] = -1.0;
        let mut out = Vec::new();
        quantize_q8k(&x, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].d, 1.0 / (-127.0f32 / 2.0));
        assert_eq!(out[0].qs[3], -127);
        assert_eq!(out[0].qs[4], 64); // -63.5 * -1 = 63.5 -> 64 (half to even)
        assert_eq!(out[1].d, 0.0);
        assert!(out[1].qs.iter().all(|&q| q == 0));
        // Dequantized values are close to the input.
        for (i, &v) in x[..256].iter().enumerate() {
            assert!((f32::from(out[0].qs[i]) * out[0].d - v).abs() <= out[0].d.abs() / 2.0);
        }
    }

    #[test]
    fn q8_0_round_trip_error_is_half_a_step() {
        let x: Vec<f32> = (0..64)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
            .collect();
        let mut out = Vec::new();
        quantize_q8_0(&x, &mut out);
        for (b, xs) in out.iter().zip(x.chunks(32)) {
            let d = crate::quant::f16::to_f32(b.d);
            let amax = xs.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (&q, &v) in b.qs.iter().zip(xs) {
                assert!((f32::from(q) * (amax / 127.0) - v).abs() <= amax / 127.0 / 2.0 + 1e-6);
                assert!(f32::from(q).abs() <= 127.0);
            }
            assert!((d - amax / 127.0).abs() <= d * 1e-3);
        }
    }
}
