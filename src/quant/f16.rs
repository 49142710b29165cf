//! F16: IEEE 754 binary16, two little-endian bytes per element (`token_embd` of the official
//! BitNet file, and the block scales of Q8_0, TQ1_0 and TQ2_0).
//!
//! Packing converts each f32 with round-to-nearest-even, which is what F16C's
//! `_cvtss_sh(x, 0)` (ggml's CPU backend) and ggml's portable `ggml_compute_fp32_to_fp16`
//! both do for every non-NaN input: overflow goes to infinity, tiny values to subnormals or
//! zero. NaNs differ between the two: F16C keeps the sign and the top 10 payload bits and
//! sets the quiet bit ([`from_f32`], used for F16 tensors, so F16 -> f32 -> F16 keeps quiet
//! NaNs bit for bit), while the portable function returns `sign | 0x7E00`
//! ([`from_f32_quant_ref`], used for the block scales, since the reference quantizers in
//! ggml-quants.c call it). Both come from the `half` crate, whose conversion is verified
//! against ggml's formula on every f32 by the ignored test `exhaustive_against_ggml`.

use super::{check_data_len, check_out_len};
use crate::Result;

/// Bytes per element.
pub const ELEMENT_BYTES: usize = 2;

/// `f32 -> f16` bits, nearest even, NaN payload kept (F16C).
pub fn from_f32(x: f32) -> u16 {
    half::f16::from_f32(x).to_bits()
}

/// [`from_f32`] of every element of `src` into `dst` (same length): the same bits, with
/// one CPU-feature check and 8-wide F16C conversions instead of one of each per value.
pub fn from_f32_slice(src: &[f32], dst: &mut [u16]) {
    use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
    dst.reinterpret_cast_mut::<half::f16>()
        .convert_from_f32_slice(src);
}

/// [`to_f32`] of every element of `src` into `dst` (same length), 8 at a time with F16C.
pub fn to_f32_slice(src: &[u16], dst: &mut [f32]) {
    use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
    src.reinterpret_cast::<half::f16>()
        .convert_to_f32_slice(dst);
}

/// `f32 -> f16` bits as ggml-quants.c's `GGML_FP32_TO_FP16` computes them: [`from_f32`]
/// except that every NaN becomes `sign | 0x7E00`.
pub fn from_f32_quant_ref(x: f32) -> u16 {
    if x.is_nan() {
        ((x.to_bits() >> 16) as u16 & 0x8000) | 0x7E00
    } else {
        from_f32(x)
    }
}

/// `f16` bits -> f32 (exact; NaNs stay NaNs with their payload, quiet bit set).
pub fn to_f32(bits: u16) -> f32 {
    half::f16::from_bits(bits).to_f32()
}

/// Bytes of `n` elements.
pub fn n_bytes(n: usize) -> Result<usize> {
    super::block_layout_bytes("F16", n, 1, ELEMENT_BYTES, 0)
}

/// Widens `n` elements.
pub fn dequantize(data: &[u8], n: usize) -> Result<Vec<f32>> {
    super::dequantize_alloc("F16", data, n, n_bytes(n)?, dequantize_into)
}

/// Widens `out.len()` elements into `out`.
pub fn dequantize_into(data: &[u8], out: &mut [f32]) -> Result<()> {
    check_data_len("F16", data, out.len(), n_bytes(out.len())?)?;
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
    check_out_len("F16", out, values.len(), n_bytes(values.len())?)?;
    // Convert through a small stack buffer so `half` can use its 8-wide F16C path.
    const CHUNK: usize = 64;
    let mut halves = [half::f16::ZERO; CHUNK];
    for (x, y) in values
        .chunks(CHUNK)
        .zip(out.chunks_mut(CHUNK * ELEMENT_BYTES))
    {
        let halves = &mut halves[..x.len()];
        half::slice::HalfFloatSliceExt::convert_from_f32_slice(halves, x);
        for (h, b) in halves.iter().zip(y.chunks_exact_mut(ELEMENT_BYTES)) {
            b.copy_from_slice(&h.to_bits().to_le_bytes());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::testing::Rng;

    #[test]
    fn slice_conversion_equals_one_at_a_time() {
        let mut rng = Rng::new(5);
        // Random bit patterns: every class (NaNs with payloads, infinities, subnormals,
        // values that overflow or round to f16 subnormals), at every length up to a few
        // vectors so that the 8-, 4- and leftover paths all run.
        let src: Vec<f32> = (0..300)
            .map(|i| match i % 3 {
                0 => f32::from_bits(rng.next_u64() as u32),
                1 => (rng.next_u64() as u32 as f32 / 4e9 - 0.5) * 7e4,
                _ => (rng.next_u64() as u32 as f32 / 4e9) * 1e-5,
            })
            .collect();
        for n in (0..40).chain([299, 300]) {
            let mut got = vec![0xFFFF; n];
            from_f32_slice(&src[..n], &mut got);
            let want: Vec<u16> = src[..n].iter().map(|&v| from_f32(v)).collect();
            assert_eq!(got, want, "n={n}");
            let mut wide = vec![0.5; n];
            to_f32_slice(&got, &mut wide);
            for (w, &h) in wide.iter().zip(&got) {
                assert_eq!(w.to_bits(), to_f32(h).to_bits(), "n={n}");
            }
        }
    }

    /// ggml's portable `ggml_compute_fp32_to_fp16` (ggml-impl.h), transcribed: an independent
    /// nearest-even conversion built from float arithmetic instead of bit tests.
    fn ggml_fp32_to_fp16(f: f32) -> u16 {
        let scale_to_inf = f32::from_bits(0x7780_0000); // 2^112
        let scale_to_zero = f32::from_bits(0x0880_0000); // 2^-110
        let mut base = (f.abs() * scale_to_inf) * scale_to_zero;
        let w = f.to_bits();
        let shl1_w = w.wrapping_add(w);
        let sign = w & 0x8000_0000;
        let bias = (shl1_w & 0xFF00_0000).max(0x7100_0000);
        base += f32::from_bits((bias >> 1) + 0x0780_0000);
        let bits = base.to_bits();
        let exp_bits = (bits >> 13) & 0x7C00;
        let mantissa_bits = bits & 0x0FFF;
        let nonsign = exp_bits + mantissa_bits;
        ((sign >> 16)
            | if shl1_w > 0xFF00_0000 {
                0x7E00
            } else {
                nonsign
            }) as u16
    }

    #[test]
    fn halfway_cases_round_to_even() {
        let cases: [(f32, u16); 14] = [
            (1.0, 0x3C00),
            (1.0 + 2f32.powi(-11), 0x3C00), // halfway 1 .. 1+2^-10: down to even
            (1.0 + 3.0 * 2f32.powi(-11), 0x3C02), // halfway 1+2^-10 .. 1+2^-9: up to even
            (1.0 + 2f32.powi(-11) + 2f32.powi(-20), 0x3C01), // just above halfway
            (-(1.0 + 2f32.powi(-11)), 0xBC00),
            (65504.0, 0x7BFF), // largest finite
            (65519.0, 0x7BFF), // below halfway to 65536
            (65520.0, 0x7C00), // halfway: even is "65536" = infinity
            (1e10, 0x7C00),
            (2f32.powi(-24), 0x0001),       // smallest subnormal
            (2f32.powi(-25), 0x0000),       // halfway to it: down to even (zero)
            (3.0 * 2f32.powi(-25), 0x0002), // halfway 1..2 ulp: up to even
            (2f32.powi(-26), 0x0000),
            (-0.0, 0x8000),
        ];
        for (x, want) in cases {
            assert_eq!(from_f32(x), want, "{x:e}");
            assert_eq!(from_f32_quant_ref(x), want, "{x:e}");
            assert_eq!(ggml_fp32_to_fp16(x), want, "oracle {x:e}");
        }
    }

    #[test]
    fn infinities_and_nans() {
        assert_eq!(from_f32(f32::INFINITY), 0x7C00);
        assert_eq!(from_f32(f32::NEG_INFINITY), 0xFC00);
        assert_eq!(from_f32(f32::NAN), 0x7E00);
        // F16C: payload's top 10 bits kept, quiet bit set (a signalling NaN becomes quiet).
        assert_eq!(from_f32(f32::from_bits(0x7F80_2000)), 0x7E01);
        assert_eq!(from_f32(f32::from_bits(0xFFC0_6000)), 0xFE03);
        // The quantizers' portable conversion: sign | 0x7E00.
        assert_eq!(from_f32_quant_ref(f32::from_bits(0x7F80_2000)), 0x7E00);
        assert_eq!(from_f32_quant_ref(f32::from_bits(0xFFC0_6000)), 0xFE00);
        assert_eq!(from_f32_quant_ref(f32::INFINITY), 0x7C00);
        assert_eq!(to_f32(0x7C00), f32::INFINITY);
        assert_eq!(to_f32(0xFC00), f32::NEG_INFINITY);
        assert!(to_f32(0x7E00).is_nan());
        assert!(to_f32(0x7C01).is_nan());
        // A quiet NaN survives a round trip bit for bit.
        for bits in [0x7E00u16, 0xFE01, 0x7FFF] {
            assert_eq!(from_f32(to_f32(bits)), bits, "{bits:#06x}");
        }
    }

    #[test]
    fn widening_is_exact() {
        assert_eq!(to_f32(0x3C00), 1.0);
        assert_eq!(to_f32(0xC000), -2.0);
        assert_eq!(to_f32(0x3555), 0.333_251_95);
        assert_eq!(to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(to_f32(0x03FF), 1023.0 * 2f32.powi(-24));
        assert_eq!(to_f32(0x7BFF), 65504.0);
        assert_eq!(to_f32(0x8000).to_bits(), 0x8000_0000);
        // Every finite f16 survives f16 -> f32 -> f16.
        for bits in 0..=u16::MAX {
            if bits & 0x7C00 != 0x7C00 {
                assert_eq!(from_f32(to_f32(bits)), bits);
            }
        }
    }

    #[test]
    fn matches_ggml_on_random_floats() {
        let mut rng = Rng::new(16);
        for _ in 0..200_000 {
            let x = f32::from_bits(rng.next_u32());
            if !x.is_nan() {
                assert_eq!(from_f32(x), ggml_fp32_to_fp16(x), "{:#010x}", x.to_bits());
            }
            assert_eq!(
                from_f32_quant_ref(x),
                ggml_fp32_to_fp16(x),
                "{:#010x}",
                x.to_bits()
            );
        }
    }

    /// Every f32 bit pattern: `half` (F16C on this machine) against ggml's formula.
    /// Run with `cargo test --release --lib quant::f16 -- --ignored`.
    #[test]
    #[ignore = "4 billion conversions: run in release"]
    fn exhaustive_against_ggml() {
        for bits in 0..=u32::MAX {
            let x = f32::from_bits(bits);
            assert_eq!(from_f32_quant_ref(x), ggml_fp32_to_fp16(x), "{bits:#010x}");
        }
    }

    #[test]
    fn slices_round_trip_and_check_lengths() {
        let mut rng = Rng::new(3);
        // 200 values: several 64-value chunks and a partial one.
        let values: Vec<f32> = (0..200).map(|_| rng.uniform(-70000.0, 70000.0)).collect();
        let bytes = pack(&values).unwrap();
        assert_eq!(bytes.len(), 400);
        for (x, b) in values.iter().zip(bytes.chunks_exact(2)) {
            assert_eq!(u16::from_le_bytes([b[0], b[1]]), from_f32(*x));
        }
        let back = dequantize(&bytes, 200).unwrap();
        assert_eq!(pack(&back).unwrap(), bytes);
        assert!(dequantize(&bytes, 201).is_err());
        assert!(dequantize(&bytes[..399], 200).is_err());
        assert!(pack_into(&values, &mut [0u8; 398]).is_err());
        assert!(pack(&[]).unwrap().is_empty());
    }
}
