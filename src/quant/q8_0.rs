//! Q8_0: ggml's 8-bit format, blocks of 32 elements, 34 bytes each (`block_q8_0`):
//!
//! ```text
//! d:  f16 (LE)    block scale
//! qs: [i8; 32]    element j = qs[j] * d
//! ```
//!
//! Not a ternary format; here because it is the simplest lossless container for ternary
//! weights that every ggml build reads, and for models that keep some tensors in it.
//!
//! [`pack`] mirrors `quantize_row_q8_0_ref`: per block `amax = max |x|` (C's `MAX` macro),
//! `d = amax / 127`, `id = d ? 1/d : 0`, `qs[j] = roundf(x[j] * id)` (half away from zero),
//! `d` stored with ggml-quants.c's f16 conversion. For finite inputs `x * id` is within
//! `[-127, 127]` (up to an ulp, which rounding absorbs); the `float -> int8_t` conversion of
//! anything else (reachable only through NaN inputs) is done as x86-64 does it, through a
//! 32-bit integer whose low byte is kept, with NaN and overflow giving `INT_MIN`.

use super::{check_data_len, check_out_len, f16};
use crate::Result;

/// Elements per block.
pub const BLOCK_ELEMENTS: usize = 32;
/// Bytes per block.
pub const BLOCK_BYTES: usize = 34;

/// Bytes of `n` elements; an error unless `n` is a multiple of 32.
pub fn n_bytes(n: usize) -> Result<usize> {
    super::block_layout_bytes("Q8_0", n, BLOCK_ELEMENTS, BLOCK_BYTES, 0)
}

/// Decodes `n` values.
pub fn dequantize(data: &[u8], n: usize) -> Result<Vec<f32>> {
    super::dequantize_alloc("Q8_0", data, n, n_bytes(n)?, dequantize_into)
}

/// Decodes `out.len()` values into `out`.
pub fn dequantize_into(data: &[u8], out: &mut [f32]) -> Result<()> {
    check_data_len("Q8_0", data, out.len(), n_bytes(out.len())?)?;
    for (y, block) in out
        .chunks_exact_mut(BLOCK_ELEMENTS)
        .zip(data.chunks_exact(BLOCK_BYTES))
    {
        let d = super::read_f16(block, 0);
        for (y, &q) in y.iter_mut().zip(&block[2..]) {
            *y = f32::from(q as i8) * d;
        }
    }
    Ok(())
}

/// Packs `values` (length a multiple of 32) as `quantize_row_q8_0_ref` does.
pub fn pack(values: &[f32]) -> Result<Vec<u8>> {
    super::pack_alloc(n_bytes(values.len())?, |out| pack_into(values, out))
}

/// Packs `values` into `out` (exactly [`n_bytes`]`(values.len())` bytes).
pub fn pack_into(values: &[f32], out: &mut [u8]) -> Result<()> {
    check_out_len("Q8_0", out, values.len(), n_bytes(values.len())?)?;
    for (x, block) in values
        .chunks_exact(BLOCK_ELEMENTS)
        .zip(out.chunks_exact_mut(BLOCK_BYTES))
    {
        let amax = super::block_amax(x);
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        block[..2].copy_from_slice(&f16::from_f32_quant_ref(d).to_le_bytes());
        for (q, &x) in block[2..].iter_mut().zip(x) {
            *q = float_to_i8(x * id) as u8;
        }
    }
    Ok(())
}

/// `int8_t q = roundf(v)` as compiled for x86-64 (see the module comment).
fn float_to_i8(v: f32) -> i8 {
    const TWO_31: f32 = 2_147_483_648.0;
    let r = v.round();
    let i = if (-TWO_31..TWO_31).contains(&r) {
        r as i32
    } else {
        i32::MIN
    };
    i as i8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::testing::Rng;

    #[test]
    fn literal_block() {
        let mut block = 0x3800u16.to_le_bytes().to_vec(); // d = 0.5
        block.extend((0..32).map(|j| [0x80u8, 0x7F, 0xFF, 0x01][j % 4]));
        let v = dequantize(&block, 32).unwrap();
        for (j, &x) in v.iter().enumerate() {
            assert_eq!(x, [-64.0, 63.5, -0.5, 0.5][j % 4], "element {j}");
        }
    }

    #[test]
    fn pack_rounds_half_away_from_zero() {
        // amax = 127: d = 1, id = 1, so the codes are roundf(x).
        let mut x = [0.0f32; 32];
        x[..7].copy_from_slice(&[127.0, 2.5, -2.5, 0.5, -0.5, 0.49, -126.6]);
        let data = pack(&x).unwrap();
        assert_eq!(u16::from_le_bytes([data[0], data[1]]), 0x3C00);
        let q: Vec<i8> = data[2..9].iter().map(|&b| b as i8).collect();
        assert_eq!(q, [127, 3, -3, 1, -1, 0, -127]);
    }

    #[test]
    fn random_blocks_match_an_independent_computation() {
        let mut rng = Rng::new(0x80);
        let x: Vec<f32> = (0..32 * 9).map(|_| rng.uniform(-3.0, 3.0)).collect();
        let data = pack(&x).unwrap();
        assert_eq!(data.len(), 34 * 9);
        for (b, (x, block)) in x.chunks(32).zip(data.chunks(34)).enumerate() {
            let amax = x.iter().map(|v| v.abs()).fold(0.0, f32::max);
            let d = amax / 127.0;
            assert_eq!(u16::from_le_bytes([block[0], block[1]]), f16::from_f32(d));
            for (j, (&x, &q)) in x.iter().zip(&block[2..]).enumerate() {
                let want = (x / d).round();
                // x * (1/d) and x / d can differ by an ulp; only exact halves could flip.
                assert!(
                    (f32::from(q as i8) - want).abs() <= 1.0,
                    "block {b} element {j}"
                );
                assert!((f32::from(q as i8) - x / d).abs() <= 0.5 + 1e-4);
            }
        }
        // Ternary values survive a round trip exactly when d is representable.
        let t: Vec<f32> = rng.ternary(256).iter().map(|&t| t as f32 * 127.0).collect();
        let data = pack(&t).unwrap();
        assert_eq!(dequantize(&data, 256).unwrap(), t);
        let v = dequantize(&data, 256).unwrap();
        assert_eq!(pack(&v).unwrap(), data);
    }

    #[test]
    fn zero_block_and_conversion_edges() {
        let data = pack(&[0.0; 64]).unwrap();
        assert!(data.iter().all(|&b| b == 0));
        assert_eq!(float_to_i8(f32::NAN), 0);
        assert_eq!(float_to_i8(1e20), 0);
        assert_eq!(float_to_i8(300.0), 44); // low byte of 300
        assert_eq!(float_to_i8(-127.5), -128);
    }

    #[test]
    fn wrong_sizes_are_errors() {
        assert!(dequantize(&[0; 34], 31).is_err());
        assert!(dequantize(&[0; 33], 32).is_err());
        assert!(pack(&[0.0; 48]).is_err());
        assert!(pack_into(&[0.0; 32], &mut [0; 35]).is_err());
    }
}
