//! TQ2_0: ggml's 2-bit ternary format (upstream llama.cpp, type 35), 2.0625 bits per weight.
//!
//! Blocks of 256 elements, 66 bytes each (`block_tq2_0` in ggml-common.h):
//!
//! ```text
//! qs: [u8; 64]   2-bit codes, 0 = -1, 1 = 0, 2 = +1
//! d:  f16 (LE)   block scale
//! ```
//!
//! The block is two halves of 128 elements; in half `h`, byte `qs[32h + m]` holds elements
//! `128h + m + 32n` for `n = 0..4` in bits `2n+1 .. 2n`, least significant first (the
//! reverse of I2_S's order). A weight is `(code - 1) * d`.
//!
//! [`pack`] mirrors `quantize_row_tq2_0_ref`: per block `d = max |x|` (C's `MAX` macro),
//! `id = d ? 1/d : 0`, `code = lroundf(x * id) + 1` (round half away from zero), scale
//! stored with ggml-quants.c's f16 conversion ([`super::f16::from_f32_quant_ref`]). So a
//! non-ternary input is rounded to the nearest of {-d, 0, d}, not sign-tested as I2_S does.
//!
//! Code 3 is never written; upstream's dequantizer would decode it as `+2d`. Here it decodes
//! as 0, like I2_S (see [`count_invalid_codes`]).

use super::{check_data_len, check_out_len, f16, lroundf_plus_one};
use crate::Result;

/// Elements per block.
pub const BLOCK_ELEMENTS: usize = 256;
/// Bytes per block.
pub const BLOCK_BYTES: usize = 66;
/// Bytes of packed codes at the start of a block; the f16 scale follows.
pub const QS_BYTES: usize = 64;

/// Bytes of `n` elements; an error unless `n` is a multiple of 256.
pub fn n_bytes(n: usize) -> Result<usize> {
    super::block_layout_bytes("TQ2_0", n, BLOCK_ELEMENTS, BLOCK_BYTES, 0)
}

/// The scale `d` of every block, in order.
pub fn block_scales(data: &[u8], n: usize) -> Result<Vec<f32>> {
    check_data_len("TQ2_0", data, n, n_bytes(n)?)?;
    Ok(data
        .chunks_exact(BLOCK_BYTES)
        .map(|b| super::read_f16(b, QS_BYTES))
        .collect())
}

/// Number of 2-bit fields holding the invalid code 3.
pub fn count_invalid_codes(data: &[u8], n: usize) -> Result<usize> {
    check_data_len("TQ2_0", data, n, n_bytes(n)?)?;
    Ok(data
        .chunks_exact(BLOCK_BYTES)
        .map(|b| super::count_code3_fields(&b[..QS_BYTES]))
        .sum())
}

/// Decodes `n` weights.
pub fn dequantize(data: &[u8], n: usize) -> Result<Vec<f32>> {
    super::dequantize_alloc("TQ2_0", data, n, n_bytes(n)?, dequantize_into)
}

/// Decodes `out.len()` weights into `out`.
pub fn dequantize_into(data: &[u8], out: &mut [f32]) -> Result<()> {
    check_data_len("TQ2_0", data, out.len(), n_bytes(out.len())?)?;
    super::dequantize_ternary_blocks(data, out, BLOCK_BYTES, decode_block);
    Ok(())
}

/// Decodes one 66-byte block into its 256 ternary values `code - 1` (code 3 read as 0) and
/// returns the block scale `d`. Kernels use it as the scalar reference for a block.
pub fn decode_block(block: &[u8], out: &mut [i8; BLOCK_ELEMENTS]) -> f32 {
    const VALUE: [i8; 4] = [-1, 0, 1, 0];
    for h in 0..2 {
        for m in 0..32 {
            let byte = block[32 * h + m];
            for n in 0..4 {
                out[128 * h + m + 32 * n] = VALUE[usize::from(byte >> (2 * n)) & 3];
            }
        }
    }
    super::read_f16(block, QS_BYTES)
}

/// Packs `values` (length a multiple of 256) as `quantize_row_tq2_0_ref` does.
pub fn pack(values: &[f32]) -> Result<Vec<u8>> {
    super::pack_alloc(n_bytes(values.len())?, |out| pack_into(values, out))
}

/// Packs `values` into `out` (exactly [`n_bytes`]`(values.len())` bytes).
pub fn pack_into(values: &[f32], out: &mut [u8]) -> Result<()> {
    check_out_len("TQ2_0", out, values.len(), n_bytes(values.len())?)?;
    for (x, block) in values
        .chunks_exact(BLOCK_ELEMENTS)
        .zip(out.chunks_exact_mut(BLOCK_BYTES))
    {
        let d = super::block_amax(x);
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        for h in 0..2 {
            for m in 0..32 {
                let mut q = 0u8;
                for n in 0..4 {
                    let xi = lroundf_plus_one(x[128 * h + m + 32 * n] * id);
                    q = q.wrapping_add(((xi & 3) as u8) << (2 * n));
                }
                block[32 * h + m] = q;
            }
        }
        block[QS_BYTES..].copy_from_slice(&f16::from_f32_quant_ref(d).to_le_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::testing::Rng;

    /// `blocks` blocks of code 1 (zero) with scale bits `d`.
    fn zero_blocks(blocks: usize, d: u16) -> Vec<u8> {
        let mut block = vec![0x55; 64];
        block.extend_from_slice(&d.to_le_bytes());
        block.repeat(blocks)
    }

    #[test]
    fn each_bit_pair_lands_on_the_documented_element() {
        // Spec: qs[32h+m] = sum_n q[128h + m + 32n] << 2n. One field at a time, two blocks.
        let d = 0x4100; // 2.5
        for b in 0..2 {
            for h in 0..2 {
                for m in 0..32 {
                    for n in 0..4 {
                        for (code, want) in [(0u8, -2.5f32), (2, 2.5)] {
                            let mut data = zero_blocks(2, d);
                            let at = 66 * b + 32 * h + m;
                            data[at] = data[at] & !(3 << (2 * n)) | code << (2 * n);
                            let v = dequantize(&data, 512).unwrap();
                            let elem = 256 * b + 128 * h + m + 32 * n;
                            for (i, &x) in v.iter().enumerate() {
                                let expect = if i == elem { want } else { 0.0 };
                                assert_eq!(x, expect, "byte {at} field {n}: element {i}");
                            }
                            // The packer puts it back (the all-zero block gets d = 0).
                            let repacked = pack(&v).unwrap();
                            let other = 66 * (1 - b);
                            assert_eq!(repacked[66 * b..66 * b + 66], data[66 * b..66 * b + 66]);
                            assert_eq!(repacked[other + 64..other + 66], [0, 0]);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn literal_block_and_scale() {
        let mut data = zero_blocks(1, 0x3800); // d = 0.5
        data[0] = 0b01_00_01_10; // elements 0: +1, 32: 0, 64: -1, 96: 0
        data[33] = 0b10_01_11_00; // elements 129: -1, 161: code 3, 193: 0, 225: +1
        let v = dequantize(&data, 256).unwrap();
        assert_eq!((v[0], v[32], v[64], v[96]), (0.5, 0.0, -0.5, 0.0));
        assert_eq!((v[129], v[161], v[193], v[225]), (-0.5, 0.0, 0.0, 0.5));
        assert_eq!(v.iter().filter(|&&x| x != 0.0).count(), 4);
        assert_eq!(block_scales(&data, 256).unwrap(), [0.5]);
        assert_eq!(count_invalid_codes(&data, 256).unwrap(), 1);
        // The scale bytes are not codes: 0xFF there is not counted.
        let mut data = zero_blocks(1, 0xFFFF);
        assert_eq!(count_invalid_codes(&data, 256).unwrap(), 0);
        data[63] = 0xFF;
        assert_eq!(count_invalid_codes(&data, 256).unwrap(), 4);
    }

    #[test]
    fn pack_rounds_like_the_reference() {
        // amax = 4 (element 7), so x * id = x / 4; lroundf rounds half away from zero.
        let mut x = vec![0.0f32; 256];
        x[..8].copy_from_slice(&[2.0, -2.0, 1.99, -1.99, 3.0, 0.5, -4.0, 4.0]);
        let data = pack(&x).unwrap();
        assert_eq!(u16::from_le_bytes([data[64], data[65]]), 0x4400); // f16(4.0)
        let v = dequantize(&data, 256).unwrap();
        assert_eq!(&v[..8], &[4.0, -4.0, 0.0, 0.0, 4.0, 0.0, -4.0, 4.0]);
        // d is the f16 of amax: 0.1 is not representable, so d = f16(0.1) while the codes
        // come from x / 0.1 in f32.
        let x: Vec<f32> = (0..256).map(|i| [0.1, -0.1, 0.0][i % 3]).collect();
        let data = pack(&x).unwrap();
        let d = f16::to_f32(f16::from_f32(0.1));
        let want: Vec<f32> = (0..256).map(|i| [d, -d, 0.0][i % 3]).collect();
        assert_eq!(dequantize(&data, 256).unwrap(), want);
    }

    #[test]
    fn random_ternary_round_trips_with_per_block_scales() {
        let mut rng = Rng::new(0x7b2);
        for blocks in [1, 3, 8] {
            let n = 256 * blocks;
            let t = rng.ternary(n);
            let scales: Vec<f32> = (0..blocks).map(|_| rng.uniform(1e-3, 100.0)).collect();
            let x: Vec<f32> = t
                .iter()
                .enumerate()
                .map(|(i, &t)| t as f32 * scales[i / 256])
                .collect();
            let data = pack(&x).unwrap();
            assert_eq!(data.len(), 66 * blocks);
            for (i, &t) in t.iter().enumerate() {
                let (b, j) = (i / 256, i % 256);
                let byte = data[66 * b + 32 * (j / 128) + j % 32];
                let code = (byte >> (2 * ((j % 128) / 32))) & 3;
                assert_eq!(i32::from(code) - 1, i32::from(t), "element {i}");
            }
            let d: Vec<f32> = scales
                .iter()
                .map(|&s| f16::to_f32(f16::from_f32(s)))
                .collect();
            assert_eq!(block_scales(&data, n).unwrap(), d);
            let v = dequantize(&data, n).unwrap();
            for (i, (&v, &t)) in v.iter().zip(&t).enumerate() {
                assert_eq!(v, t as f32 * d[i / 256], "element {i}");
            }
            assert_eq!(pack(&v).unwrap(), data);
        }
    }

    #[test]
    fn all_zero_and_last_block() {
        let data = pack(&[0.0; 512]).unwrap();
        assert_eq!(data, zero_blocks(2, 0));
        let mut x = vec![0.0; 512];
        x[511] = -1.0;
        let data = pack(&x).unwrap();
        assert_eq!(data[66 + 63], 0b00_01_01_01);
        assert_eq!(dequantize(&data, 512).unwrap(), x);
        assert!(pack(&[]).unwrap().is_empty());
    }

    #[test]
    fn wrong_sizes_are_errors() {
        let data = zero_blocks(2, 0x3C00);
        assert!(dequantize(&data, 500).is_err());
        assert!(dequantize(&data, 256).is_err());
        assert!(dequantize(&data[..131], 512).is_err());
        assert!(block_scales(&data, 768).is_err());
        assert!(pack(&[0.0; 300]).is_err());
        assert!(pack_into(&[0.0; 256], &mut [0; 67]).is_err());
        let msg = dequantize(&data[..131], 512).unwrap_err().to_string();
        assert!(msg.contains("132") && msg.contains("131"), "{msg}");
    }
}
