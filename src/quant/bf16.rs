//! BF16: the top half of an IEEE 754 binary32, two little-endian bytes per element.
//!
//! Packing mirrors ggml's `ggml_compute_fp32_to_bf16`: a NaN keeps its top 16 bits with the
//! quiet bit forced (`(bits >> 16) | 0x40`), anything else rounds to nearest even
//! (`(bits + 0x7FFF + lsb) >> 16`; overflow goes to infinity, subnormals are kept). The `half`
//! crate's `bf16::from_f32` computes exactly this (checked on every f32 by the ignored test
//! `exhaustive_against_ggml`). Widening is ggml's plain `bits << 16`, written by hand because
//! `half`'s `to_f32` also forces the quiet bit of NaNs.

use super::{check_data_len, check_out_len};
use crate::Result;

/// Bytes per element.
pub const ELEMENT_BYTES: usize = 2;

/// `f32 -> bf16` bits as ggml rounds them.
pub fn from_f32(x: f32) -> u16 {
    half::bf16::from_f32(x).to_bits()
}

/// `bf16` bits -> f32, exactly (`bits << 16`).
pub fn to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// Bytes of `n` elements.
pub fn n_bytes(n: usize) -> Result<usize> {
    super::block_layout_bytes("BF16", n, 1, ELEMENT_BYTES, 0)
}

/// Widens `n` elements.
pub fn dequantize(data: &[u8], n: usize) -> Result<Vec<f32>> {
    super::dequantize_alloc("BF16", data, n, n_bytes(n)?, dequantize_into)
}

/// Widens `out.len()` elements into `out`.
pub fn dequantize_into(data: &[u8], out: &mut [f32]) -> Result<()> {
    check_data_len("BF16", data, out.len(), n_bytes(out.len())?)?;
    for (y, b) in out.iter_mut().zip(data.chunks_exact(ELEMENT_BYTES)) {
        *y = to_f32(u16::from_le_bytes([b[0], b[1]]));
    }
    Ok(())
}

/// Converts every value.
pub fn pack(values: &[f32]) -> Result<Vec<u8>> {
    super::pack_alloc(n_bytes(values.len())?, |out| pack_into(values, out))
}

/// Converts every value into `out` (`2 * values.len()` bytes).
pub fn pack_into(values: &[f32], out: &mut [u8]) -> Result<()> {
    check_out_len("BF16", out, values.len(), n_bytes(values.len())?)?;
    for (x, b) in values.iter().zip(out.chunks_exact_mut(ELEMENT_BYTES)) {
        b.copy_from_slice(&from_f32(*x).to_le_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::testing::Rng;

    /// ggml-impl.h's `ggml_compute_fp32_to_bf16`, transcribed.
    fn ggml_fp32_to_bf16(s: f32) -> u16 {
        let i = s.to_bits();
        if i & 0x7FFF_FFFF > 0x7F80_0000 {
            return ((i >> 16) | 64) as u16;
        }
        ((i + (0x7FFF + ((i >> 16) & 1))) >> 16) as u16
    }

    #[test]
    fn halfway_cases_round_to_even() {
        let cases: [(u32, u16); 10] = [
            (0x3F80_0000, 0x3F80),
            (0x3F80_8000, 0x3F80), // halfway, even below
            (0x3F81_8000, 0x3F82), // halfway, even above
            (0x3F80_8001, 0x3F81), // just above halfway
            (0x3F80_7FFF, 0x3F80), // just below halfway
            (0xBF81_8000, 0xBF82),
            (0x7F7F_FFFF, 0x7F80), // largest f32 rounds to infinity
            (0x0000_8000, 0x0000), // subnormal halfway, even below
            (0x0001_8000, 0x0002), // subnormal halfway, even above
            (0x8000_0000, 0x8000),
        ];
        for (bits, want) in cases {
            let x = f32::from_bits(bits);
            assert_eq!(from_f32(x), want, "{bits:#010x}");
            assert_eq!(ggml_fp32_to_bf16(x), want, "oracle {bits:#010x}");
        }
    }

    #[test]
    fn infinities_and_nans() {
        assert_eq!(from_f32(f32::INFINITY), 0x7F80);
        assert_eq!(from_f32(f32::NEG_INFINITY), 0xFF80);
        assert_eq!(from_f32(f32::NAN), 0x7FC0);
        // Signalling NaN: top bits kept, quiet bit forced; no rounding into the exponent.
        assert_eq!(from_f32(f32::from_bits(0x7F80_0001)), 0x7FC0);
        assert_eq!(from_f32(f32::from_bits(0xFF81_FFFF)), 0xFFC1);
        assert_eq!(from_f32(f32::from_bits(0x7FFF_FFFF)), 0x7FFF);
        // Widening keeps every bit, NaN payloads included.
        assert_eq!(to_f32(0x7F81).to_bits(), 0x7F81_0000);
        assert_eq!(to_f32(0xFF80), f32::NEG_INFINITY);
        assert_eq!(to_f32(0x3F80), 1.0);
        assert_eq!(to_f32(0xC0A0), -5.0);
    }

    #[test]
    fn matches_ggml_on_random_floats() {
        let mut rng = Rng::new(30);
        for _ in 0..200_000 {
            let x = f32::from_bits(rng.next_u32());
            assert_eq!(from_f32(x), ggml_fp32_to_bf16(x), "{:#010x}", x.to_bits());
        }
    }

    /// Run with `cargo test --release --lib quant::bf16 -- --ignored`.
    #[test]
    #[ignore = "4 billion conversions: run in release"]
    fn exhaustive_against_ggml() {
        for bits in 0..=u32::MAX {
            let x = f32::from_bits(bits);
            assert_eq!(from_f32(x), ggml_fp32_to_bf16(x), "{bits:#010x}");
        }
    }

    #[test]
    fn slices_round_trip_and_check_lengths() {
        // Every bf16 pattern, NaNs included, survives bytes -> f32 -> bytes.
        let signalling_nan = |b: u16| b & 0x7FC0 == 0x7F80 && b & 0x3F != 0;
        let bytes: Vec<u8> = (0..=u16::MAX)
            .filter(|&b| !signalling_nan(b))
            .flat_map(|b| b.to_le_bytes())
            .collect();
        let n = bytes.len() / 2;
        let values = dequantize(&bytes, n).unwrap();
        assert_eq!(pack(&values).unwrap(), bytes);
        assert!(dequantize(&bytes, n + 1).is_err());
        assert!(pack_into(&values, &mut vec![0u8; 2 * n + 1]).is_err());
    }
}
