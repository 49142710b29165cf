//! TQ1_0: ggml's base-3 ternary format (upstream llama.cpp, type 34), 1.6875 bits per weight.
//!
//! Blocks of 256 elements, 54 bytes each (`block_tq1_0` in ggml-common.h):
//!
//! ```text
//! qs: [u8; 48]   5 trits per byte
//! qh: [u8; 4]    4 trits per byte
//! d:  f16 (LE)   block scale
//! ```
//!
//! Trits are codes 0 = -1, 1 = 0, 2 = +1; a weight is `(code - 1) * d`. Where the trits go:
//! - `qs[m]`, `m < 32`: elements `m + 32n` (`n = 0..5`) — the first 160;
//! - `qs[32 + m]`, `m < 16`: elements `160 + m + 16n` (`n = 0..5`) — the next 80;
//! - `qh[j]`, `j < 4`: elements `240 + j + 4n` (`n = 0..4`) — the last 16.
//!
//! A byte holding trits `t0..t4` (`t0` the first element) stores `v = sum 3^(4-n) t_n`
//! (`0..=242`) as `ceil(v * 256 / 243)`: the byte is then a fixed-point fraction
//! `v / 243` of 256, so trit `n` is read back without division as
//! `((u8)(byte * 3^n) * 3) >> 8` — multiplying by `3^n` (mod 256) shifts the first `n` trits
//! out of the fraction and `* 3 >> 8` takes the integer part of the next one. A `qh` byte has
//! only 4 trits; its value is multiplied by 3 (a zero fifth trit) so that the same decoding
//! applies.
//!
//! [`pack`] mirrors `quantize_row_tq1_0_ref` (same per-block `d = max |x|`, `id`, `lroundf`
//! and f16 rounding as TQ2_0, and its `uint8_t` wrap-around); [`dequantize`] mirrors
//! `dequantize_row_tq1_0`. Every byte decodes to valid trits, so there is no invalid code.

use super::{check_data_len, check_out_len, f16, lroundf_plus_one};
use crate::Result;

/// Elements per block.
pub const BLOCK_ELEMENTS: usize = 256;
/// Bytes per block.
pub const BLOCK_BYTES: usize = 54;
/// Bytes of 5-trit groups at the start of a block.
pub const QS_BYTES: usize = 48;
/// Bytes of 4-trit groups after `qs`; the f16 scale follows.
pub const QH_BYTES: usize = 4;

const POW3: [u8; 6] = [1, 3, 9, 27, 81, 243];

/// Bytes of `n` elements; an error unless `n` is a multiple of 256.
pub fn n_bytes(n: usize) -> Result<usize> {
    super::block_layout_bytes("TQ1_0", n, BLOCK_ELEMENTS, BLOCK_BYTES, 0)
}

/// Trit `n` (`0..5`, 0 = first, most significant) of a packed byte: 0, 1 or 2.
fn trit(byte: u8, n: usize) -> u8 {
    ((u16::from(byte.wrapping_mul(POW3[n])) * 3) >> 8) as u8
}

/// The scale `d` of every block, in order.
pub fn block_scales(data: &[u8], n: usize) -> Result<Vec<f32>> {
    check_data_len("TQ1_0", data, n, n_bytes(n)?)?;
    Ok(data
        .chunks_exact(BLOCK_BYTES)
        .map(|b| super::read_f16(b, QS_BYTES + QH_BYTES))
        .collect())
}

/// Decodes `n` weights.
pub fn dequantize(data: &[u8], n: usize) -> Result<Vec<f32>> {
    super::dequantize_alloc("TQ1_0", data, n, n_bytes(n)?, dequantize_into)
}

/// Decodes `out.len()` weights into `out`.
pub fn dequantize_into(data: &[u8], out: &mut [f32]) -> Result<()> {
    check_data_len("TQ1_0", data, out.len(), n_bytes(out.len())?)?;
    super::dequantize_ternary_blocks(data, out, BLOCK_BYTES, decode_block);
    Ok(())
}

/// Decodes one 54-byte block into its 256 ternary values `trit - 1` and returns the block
/// scale `d`. Kernels use it as the scalar reference for a block.
pub fn decode_block(block: &[u8], out: &mut [i8; BLOCK_ELEMENTS]) -> f32 {
    let (qs, qh) = (&block[..QS_BYTES], &block[QS_BYTES..QS_BYTES + QH_BYTES]);
    let value = |byte: u8, n: usize| trit(byte, n) as i8 - 1;
    for n in 0..5 {
        for m in 0..32 {
            out[m + 32 * n] = value(qs[m], n);
        }
    }
    for n in 0..5 {
        for m in 0..16 {
            out[160 + m + 16 * n] = value(qs[32 + m], n);
        }
    }
    for n in 0..4 {
        for j in 0..4 {
            out[240 + j + 4 * n] = value(qh[j], n);
        }
    }
    super::read_f16(block, QS_BYTES + QH_BYTES)
}

/// Packs `values` (length a multiple of 256) as `quantize_row_tq1_0_ref` does.
pub fn pack(values: &[f32]) -> Result<Vec<u8>> {
    super::pack_alloc(n_bytes(values.len())?, |out| pack_into(values, out))
}

/// Packs `values` into `out` (exactly [`n_bytes`]`(values.len())` bytes).
pub fn pack_into(values: &[f32], out: &mut [u8]) -> Result<()> {
    check_out_len("TQ1_0", out, values.len(), n_bytes(values.len())?)?;
    for (x, block) in values
        .chunks_exact(BLOCK_ELEMENTS)
        .zip(out.chunks_exact_mut(BLOCK_BYTES))
    {
        let d = super::block_amax(x);
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        // `q = q * 3 + xi` in uint8_t, then the ceiling division stored back to uint8_t.
        let push = |q: u8, x: f32| {
            q.wrapping_mul(3)
                .wrapping_add(lroundf_plus_one(x * id) as u8)
        };
        // `((uint16_t)q * 256 + (243 - 1)) / 243`, truncated to uint8_t.
        let ceil = |q: u8| (u32::from(q) * 256).div_ceil(243) as u8;
        for m in 0..32 {
            let q = (0..5).fold(0, |q, n| push(q, x[m + 32 * n]));
            block[m] = ceil(q);
        }
        for m in 0..16 {
            let q = (0..5).fold(0, |q, n| push(q, x[160 + m + 16 * n]));
            block[32 + m] = ceil(q);
        }
        for j in 0..4 {
            let q = (0..4).fold(0, |q, n| push(q, x[240 + j + 4 * n]));
            block[QS_BYTES + j] = ceil(q.wrapping_mul(3));
        }
        block[QS_BYTES + QH_BYTES..].copy_from_slice(&f16::from_f32_quant_ref(d).to_le_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::testing::Rng;

    /// The spec's encoding of up to five trits (first = most significant), padded to five
    /// with zero trits: `ceil(v * 256 / 243)`.
    fn encode(trits: &[u8]) -> u8 {
        let mut v = 0u32;
        for n in 0..5 {
            v = 3 * v + u32::from(trits.get(n).copied().unwrap_or(0));
        }
        (v * 256).div_ceil(243) as u8
    }

    /// Element index of trit `n` of byte `k` (0..52) of a block, from the spec.
    fn element(k: usize, n: usize) -> usize {
        match k {
            0..=31 => k + 32 * n,
            32..=47 => 160 + (k - 32) + 16 * n,
            _ => 240 + (k - 48) + 4 * n,
        }
    }

    /// Builds one block from `codes` (256 values 0..=2) and scale bits by the spec.
    fn spec_block(codes: &[u8], d: u16) -> Vec<u8> {
        let mut block: Vec<u8> = (0..52)
            .map(|k| {
                let n_trits = if k < 48 { 5 } else { 4 };
                let trits: Vec<u8> = (0..n_trits).map(|n| codes[element(k, n)]).collect();
                encode(&trits)
            })
            .collect();
        block.extend_from_slice(&d.to_le_bytes());
        block
    }

    #[test]
    fn every_five_trit_value_decodes() {
        for v in 0..243u32 {
            let trits: Vec<u8> = (0..5).map(|n| (v / 3u32.pow(4 - n) % 3) as u8).collect();
            let byte = encode(&trits);
            for (n, &t) in trits.iter().enumerate() {
                assert_eq!(trit(byte, n), t, "v {v} byte {byte} trit {n}");
            }
        }
        // Any byte decodes to valid trits.
        for byte in 0..=255 {
            assert!((0..5).all(|n| trit(byte, n) <= 2));
        }
    }

    #[test]
    fn trits_land_on_the_documented_elements() {
        // One nonzero trit at a time, everywhere, checked against the spec's placement.
        let d = 0x3C00; // 1.0
        for k in 0..52 {
            for n in 0..if k < 48 { 5 } else { 4 } {
                let mut codes = vec![1u8; 256];
                codes[element(k, n)] = 2;
                let block = spec_block(&codes, d);
                let v = dequantize(&block, 256).unwrap();
                for (i, &x) in v.iter().enumerate() {
                    let want = if i == element(k, n) { 1.0 } else { 0.0 };
                    assert_eq!(x, want, "byte {k} trit {n}: element {i}");
                }
                assert_eq!(pack(&v).unwrap(), block, "byte {k} trit {n}");
            }
        }
        // Each element is covered exactly once.
        let mut seen = [0; 256];
        for k in 0..52 {
            for n in 0..if k < 48 { 5 } else { 4 } {
                seen[element(k, n)] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
    }

    #[test]
    fn random_ternary_round_trips() {
        let mut rng = Rng::new(0x7b1);
        for blocks in [1, 2, 7] {
            let n = 256 * blocks;
            let t = rng.ternary(n);
            let scales: Vec<f32> = (0..blocks).map(|_| rng.uniform(1e-3, 100.0)).collect();
            let x: Vec<f32> = t
                .iter()
                .enumerate()
                .map(|(i, &t)| t as f32 * scales[i / 256])
                .collect();
            let data = pack(&x).unwrap();
            assert_eq!(data.len(), 54 * blocks);
            for b in 0..blocks {
                let codes: Vec<u8> = t[256 * b..256 * (b + 1)]
                    .iter()
                    .map(|&t| (t + 1) as u8)
                    .collect();
                let d = f16::from_f32(scales[b]);
                assert_eq!(
                    data[54 * b..54 * (b + 1)],
                    spec_block(&codes, d),
                    "block {b}"
                );
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
    fn all_zero_and_extreme_blocks() {
        // All zero: every trit 1, d = 0.
        let data = pack(&[0.0; 256]).unwrap();
        assert_eq!(data, spec_block(&[1; 256], 0));
        assert_eq!(data[0], encode(&[1, 1, 1, 1, 1])); // 121 -> 128
        assert_eq!(data[0], 128);
        assert_eq!(data[48], encode(&[1, 1, 1, 1])); // 120 -> 127
                                                     // All +1 and all -1: the byte extremes.
        let data = pack(&[2.0; 256]).unwrap();
        assert!(data[..48].iter().all(|&b| b == 255));
        assert!(data[48..52].iter().all(|&b| b == encode(&[2, 2, 2, 2])));
        assert_eq!(dequantize(&data, 256).unwrap(), vec![2.0; 256]);
        let data = pack(&[-2.0; 256]).unwrap();
        assert!(data[..52].iter().all(|&b| b == 0));
        assert_eq!(dequantize(&data, 256).unwrap(), vec![-2.0; 256]);
        // Last element of a two-block tensor lives in the last qh byte's last trit.
        let mut x = vec![0.0; 512];
        x[511] = 3.0;
        let data = pack(&x).unwrap();
        assert_eq!(data[54 + 51], encode(&[1, 1, 1, 2]));
        assert_eq!(dequantize(&data, 512).unwrap(), x);
    }

    #[test]
    fn wrong_sizes_are_errors() {
        let data = pack(&[1.0; 512]).unwrap();
        assert!(dequantize(&data, 384).is_err());
        assert!(dequantize(&data, 256).is_err());
        assert!(dequantize(&data[..107], 512).is_err());
        assert!(block_scales(&data, 256).is_err());
        assert!(pack(&[0.0; 128]).is_err());
        assert!(pack_into(&[0.0; 256], &mut [0; 53]).is_err());
        let msg = dequantize(&data[..107], 512).unwrap_err().to_string();
        assert!(msg.contains("108") && msg.contains("107"), "{msg}");
    }
}
