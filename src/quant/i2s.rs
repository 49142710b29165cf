//! I2_S: bitnet.cpp's 2-bit ternary format with one f32 scale per tensor, the format of the
//! official BitNet-b1.58-2B-4T file. This is the x86 layout (`QK_I2_S = 128`, written by
//! `quantize_i2_s` in src/ggml-bitnet-mad.cpp, `ACT_PARALLEL` branch); bitnet.cpp's ARM
//! builds use 64-element blocks and are not byte-compatible.
//!
//! A tensor of `n` elements (`n` a multiple of 128, flattened row-major) takes `n/4 + 32`
//! bytes:
//!
//! ```text
//! [ block 0: 32 bytes ] ... [ block n/128-1 ] [ scale: f32 LE ] [ 28 unspecified bytes ]
//! ```
//!
//! Each weight is a 2-bit code: 0 = -1, 1 = 0, 2 = +1. Block `b` holds elements
//! `128b .. 128b+128` as four groups of 32; byte `p` of the block holds element
//! `128b + 32g + p` of group `g` in bits `7-2g .. 6-2g` (group 0 in the top bits):
//!
//! ```text
//! byte p:  [ g0: 128b+p | g1: 128b+32+p | g2: 128b+64+p | g3: 128b+96+p ]
//!            bits 7:6     bits 5:4        bits 3:2        bits 1:0
//! ```
//!
//! so one 32-byte load, shifted by 6, 4, 2, 0 and masked with 3, gives four vectors of 32
//! consecutive weights: what the AVX2 kernel does. The value of a weight is
//! `scale * (code - 1)`.
//!
//! The reference packer computes `scale = max |w|` over the whole tensor (in double, ignoring
//! NaNs as `fmax` does), then `code = 1` if `|w| < 1e-6`, else `2` if `w * scale > 0`, else
//! `0` — a sign test, so the input need not be exactly ternary. It writes only the first 4
//! bytes of the 32-byte tail (the scale); the other 28 are whatever the buffer held, so
//! readers must ignore them, and [`pack`] writes zeros there.
//!
//! Code 3 is never written. Kernels that decode `code - 1` would read it as `+2`; here it
//! decodes as code 1 (zero), and [`count_invalid_codes`] lets a loader reject such files.

use super::{check_data_len, check_out_len};
use crate::Result;

/// Elements per block.
pub const BLOCK_ELEMENTS: usize = 128;
/// Bytes per block.
pub const BLOCK_BYTES: usize = 32;
/// Bytes after the blocks: the scale, then padding.
pub const TAIL_BYTES: usize = 32;
/// Bytes of the tail that hold the scale (the rest are unspecified).
pub const SCALE_BYTES: usize = 4;

/// Bytes of an `n`-element tensor: `n/4 + 32`; an error unless `n` is a multiple of 128.
pub fn n_bytes(n: usize) -> Result<usize> {
    super::block_layout_bytes("I2_S", n, BLOCK_ELEMENTS, BLOCK_BYTES, TAIL_BYTES)
}

/// The per-tensor scale: the little-endian f32 at byte `n/4`.
pub fn scale(data: &[u8], n: usize) -> Result<f32> {
    check_data_len("I2_S", data, n, n_bytes(n)?)?;
    let at = n / 4;
    let b = &data[at..at + SCALE_BYTES];
    Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Number of 2-bit fields holding the invalid code 3.
pub fn count_invalid_codes(data: &[u8], n: usize) -> Result<usize> {
    check_data_len("I2_S", data, n, n_bytes(n)?)?;
    Ok(super::count_code3_fields(&data[..n / 4]))
}

/// Decodes `n` weights.
pub fn dequantize(data: &[u8], n: usize) -> Result<Vec<f32>> {
    super::dequantize_alloc("I2_S", data, n, n_bytes(n)?, dequantize_into)
}

/// Decodes `out.len()` weights into `out`.
pub fn dequantize_into(data: &[u8], out: &mut [f32]) -> Result<()> {
    let n = out.len();
    let s = scale(data, n)?;
    // scale * (code - 1), with code 3 read as code 1.
    let value = [-s, 0.0 * s, s, 0.0 * s];
    for (y, block) in out
        .chunks_exact_mut(BLOCK_ELEMENTS)
        .zip(data[..n / 4].chunks_exact(BLOCK_BYTES))
    {
        for (p, &byte) in block.iter().enumerate() {
            for g in 0..4 {
                y[32 * g + p] = value[usize::from(byte >> (6 - 2 * g)) & 3];
            }
        }
    }
    Ok(())
}

/// Packs `values` (length a multiple of 128) as the reference does.
pub fn pack(values: &[f32]) -> Result<Vec<u8>> {
    super::pack_alloc(n_bytes(values.len())?, |out| pack_into(values, out))
}

/// Packs `values` into `out` (exactly [`n_bytes`]`(values.len())` bytes, all written).
pub fn pack_into(values: &[f32], out: &mut [u8]) -> Result<()> {
    let n = values.len();
    check_out_len("I2_S", out, n, n_bytes(n)?)?;
    // `max = fmax(max, fabs((double)w))`: f64::max also ignores NaN.
    let scale = values
        .iter()
        .fold(0.0f64, |max, &w| max.max(f64::from(w).abs()));
    let (blocks, rest) = out.split_at_mut(n / 4);
    encode_blocks(values, scale, blocks);
    // The scale is max |w| of f32 inputs, so the narrowing is exact.
    rest.copy_from_slice(&tail(scale as f32));
    Ok(())
}

/// The code blocks of `values` (a multiple of 128 elements) coded against `scale`, the
/// whole tensor's max |w|, without the tail: for writers that produce a large tensor in
/// pieces and append [`tail`] once at the end.
pub fn pack_blocks(values: &[f32], scale: f32) -> Result<Vec<u8>> {
    let n = values.len();
    let mut out = vec![0; n_bytes(n)? - TAIL_BYTES];
    encode_blocks(values, f64::from(scale), &mut out);
    Ok(out)
}

/// The 32-byte tail of a tensor with this scale; the 28 unspecified bytes are zeros.
pub fn tail(scale: f32) -> [u8; TAIL_BYTES] {
    let mut t = [0; TAIL_BYTES];
    t[..SCALE_BYTES].copy_from_slice(&scale.to_le_bytes());
    t
}

/// Writes the codes of `values` into `blocks` (`values.len() / 4` bytes).
fn encode_blocks(values: &[f32], scale: f64, blocks: &mut [u8]) {
    let code = |w: f32| -> u8 {
        let w = f64::from(w);
        if w.abs() < 1e-6 {
            1
        } else if w * scale > 0.0 {
            2
        } else {
            0
        }
    };
    // The reference zeroes the blocks, then ORs each code into place; the fields of a byte
    // are disjoint, so assembling each byte at once gives the same bytes.
    for (x, y) in values
        .chunks_exact(BLOCK_ELEMENTS)
        .zip(blocks.chunks_exact_mut(BLOCK_BYTES))
    {
        for (p, byte) in y.iter_mut().enumerate() {
            *byte = code(x[p]) << 6 | code(x[32 + p]) << 4 | code(x[64 + p]) << 2 | code(x[96 + p]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::testing::Rng;

    /// An I2_S tensor of `blocks` blocks whose codes are all 1 (zero), scale `s`, tail
    /// garbage 0xA5.
    fn zero_tensor(blocks: usize, s: f32) -> Vec<u8> {
        let mut data = vec![0x55; blocks * 32];
        data.extend_from_slice(&s.to_le_bytes());
        data.extend_from_slice(&[0xA5; 28]);
        data
    }

    #[test]
    fn each_bit_pair_lands_on_the_documented_element() {
        // Spec: byte g of block b holds element 128b+g in bits 7:6, +32 in 5:4, +64 in 3:2,
        // +96 in 1:0. Set one field at a time to -1 and to +1 in a 2-block tensor.
        let n = 256;
        for b in 0..2 {
            for byte in 0..32 {
                for (shift, offset) in [(6, 0), (4, 32), (2, 64), (0, 96)] {
                    for (code, want) in [(0u8, -2.5f32), (2, 2.5)] {
                        let mut data = zero_tensor(2, 2.5);
                        let at = 32 * b + byte;
                        data[at] = data[at] & !(3 << shift) | code << shift;
                        let v = dequantize(&data, n).unwrap();
                        let elem = 128 * b + byte + offset;
                        for (i, &x) in v.iter().enumerate() {
                            let expect = if i == elem { want } else { 0.0 };
                            assert_eq!(x, expect, "byte {at} shift {shift}: element {i}");
                        }
                        // And the packer puts that element back in the same place.
                        let mut repacked = pack(&v).unwrap();
                        repacked[n / 4 + 4..].copy_from_slice(&[0xA5; 28]);
                        assert_eq!(repacked, data);
                    }
                }
            }
        }
    }

    #[test]
    fn blocks_and_tail_assemble_to_the_whole_tensor() {
        let mut rng = Rng::new(11);
        let values: Vec<f32> = rng
            .ternary(384)
            .iter()
            .map(|&t| f32::from(t) * 0.75)
            .collect();
        let mut pieces = pack_blocks(&values[..256], 0.75).unwrap();
        pieces.extend(pack_blocks(&values[256..], 0.75).unwrap());
        pieces.extend_from_slice(&tail(0.75));
        assert_eq!(pieces, pack(&values).unwrap());
        assert!(pack_blocks(&values[..100], 0.75).is_err());
    }

    #[test]
    fn literal_block() {
        let mut data = zero_tensor(1, 0.5);
        data[0] = 0b10_01_00_01; // elements 0: +1, 32: 0, 64: -1, 96: 0
        data[31] = 0b00_10_01_10; // elements 31: -1, 63: +1, 95: 0, 127: +1
        let v = dequantize(&data, 128).unwrap();
        assert_eq!((v[0], v[32], v[64], v[96]), (0.5, 0.0, -0.5, 0.0));
        assert_eq!((v[31], v[63], v[95], v[127]), (-0.5, 0.5, 0.0, 0.5));
        assert_eq!(v.iter().filter(|&&x| x != 0.0).count(), 5);
        assert_eq!(scale(&data, 128).unwrap(), 0.5);
    }

    #[test]
    fn tail_garbage_is_ignored_and_code_3_reads_as_zero() {
        let mut data = zero_tensor(1, 1.5);
        let clean = dequantize(&data, 128).unwrap();
        data[128 / 4 + 4..].fill(0xFF);
        assert_eq!(dequantize(&data, 128).unwrap(), clean);
        assert_eq!(count_invalid_codes(&data, 128).unwrap(), 0);

        data[3] = 0b11_10_11_00; // elements 3: code 3, 35: +1, 67: code 3, 99: -1
        data[10] = 0xFF; // four code-3 fields
        let v = dequantize(&data, 128).unwrap();
        assert_eq!((v[3], v[35], v[67], v[99]), (0.0, 1.5, 0.0, -1.5));
        assert!([10, 42, 74, 106].iter().all(|&i| v[i] == 0.0));
        assert_eq!(count_invalid_codes(&data, 128).unwrap(), 6);
    }

    #[test]
    fn pack_follows_the_reference_rules() {
        // Scale = max |w|; codes from the sign; |w| < 1e-6 is zero; not limited to ternary.
        let mut x = vec![0.0f32; 128];
        x[0] = 0.3;
        x[1] = -0.7;
        x[2] = 9.9e-7; // below the threshold
        x[3] = -1.1e-6; // above it
        x[4] = -3.0; // max |w|
        x[5] = f32::NAN; // ignored by fmax, then "not > 0": code 0
        x[6] = -0.0;
        let data = pack(&x).unwrap();
        assert_eq!(data.len(), 64);
        assert_eq!(scale(&data, 128).unwrap(), 3.0);
        let v = dequantize(&data, 128).unwrap();
        assert_eq!(&v[..8], &[3.0, -3.0, 0.0, -3.0, -3.0, -3.0, 0.0, 0.0]);
        assert!(data[36..].iter().all(|&b| b == 0), "tail bytes 4..32 zero");
    }

    #[test]
    fn random_ternary_round_trips() {
        let mut rng = Rng::new(0x125);
        for blocks in [1, 2, 5, 20] {
            let n = 128 * blocks;
            let s = rng.uniform(1e-3, 10.0);
            let t = rng.ternary(n);
            let x: Vec<f32> = t.iter().map(|&t| t as f32 * s).collect();
            let data = pack(&x).unwrap();
            assert_eq!(data.len(), n / 4 + 32);
            assert_eq!(scale(&data, n).unwrap(), s);
            // Independent decode straight from the spec's bit positions.
            for (i, &t) in t.iter().enumerate() {
                let (b, j) = (i / 128, i % 128);
                let byte = data[32 * b + j % 32];
                let code = (byte >> (6 - 2 * (j / 32))) & 3;
                assert_eq!(i32::from(code) - 1, i32::from(t), "element {i}");
            }
            assert_eq!(dequantize(&data, n).unwrap(), x);
            // Last block: a tensor whose only nonzero weight is the very last element.
            let mut last = vec![0.0; n];
            last[n - 1] = -s;
            let data = pack(&last).unwrap();
            assert_eq!(data[n / 4 - 1], 0b01_01_01_00);
            assert_eq!(dequantize(&data, n).unwrap(), last);
        }
    }

    #[test]
    fn all_zero_tensor() {
        let data = pack(&[0.0; 256]).unwrap();
        assert!(data[..64].iter().all(|&b| b == 0x55));
        assert_eq!(scale(&data, 256).unwrap(), 0.0);
        assert!(dequantize(&data, 256).unwrap().iter().all(|&x| x == 0.0));
        // An empty tensor is just the tail.
        assert_eq!(pack(&[]).unwrap(), vec![0; 32]);
    }

    #[test]
    fn wrong_sizes_are_errors() {
        let data = zero_tensor(2, 1.0);
        assert!(dequantize(&data, 200).is_err()); // not a multiple of 128
        assert!(dequantize(&data, 128).is_err()); // 96 bytes expected, 96 + 32 given
        assert!(dequantize(&data[..95], 256).is_err());
        assert!(scale(&data[..40], 256).is_err());
        assert!(count_invalid_codes(&data, 384).is_err());
        assert!(pack(&[1.0; 100]).is_err());
        assert!(pack_into(&[1.0; 128], &mut [0; 63]).is_err());
        let msg = dequantize(&data[..95], 256).unwrap_err().to_string();
        assert!(msg.contains("96") && msg.contains("95"), "{msg}");
    }
}
