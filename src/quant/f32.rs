//! F32: IEEE 754 binary32, four little-endian bytes per element (norm weights, and the
//! optional per-tensor `.scale` tensors of llama.cpp's `bitnet` architecture). Both
//! directions copy bits, so NaN payloads survive.

use super::{check_data_len, check_out_len};
use crate::Result;

/// Bytes per element.
pub const ELEMENT_BYTES: usize = 4;

/// Bytes of `n` elements.
pub fn n_bytes(n: usize) -> Result<usize> {
    super::block_layout_bytes("F32", n, 1, ELEMENT_BYTES, 0)
}

/// Reads `n` elements.
pub fn dequantize(data: &[u8], n: usize) -> Result<Vec<f32>> {
    super::dequantize_alloc("F32", data, n, n_bytes(n)?, dequantize_into)
}

/// Reads `out.len()` elements into `out`.
pub fn dequantize_into(data: &[u8], out: &mut [f32]) -> Result<()> {
    check_data_len("F32", data, out.len(), n_bytes(out.len())?)?;
    for (y, b) in out.iter_mut().zip(data.chunks_exact(ELEMENT_BYTES)) {
        *y = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    Ok(())
}

/// Writes every value.
pub fn pack(values: &[f32]) -> Result<Vec<u8>> {
    super::pack_alloc(n_bytes(values.len())?, |out| pack_into(values, out))
}

/// Writes every value into `out` (`4 * values.len()` bytes).
pub fn pack_into(values: &[f32], out: &mut [u8]) -> Result<()> {
    check_out_len("F32", out, values.len(), n_bytes(values.len())?)?;
    for (x, b) in values.iter().zip(out.chunks_exact_mut(ELEMENT_BYTES)) {
        b.copy_from_slice(&x.to_le_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn little_endian_bits_both_ways() {
        let bytes = [
            0x00, 0x00, 0x80, 0x3F, // 1.0
            0x00, 0x00, 0x00, 0xC1, // -8.0
            0x01, 0x00, 0x80, 0x7F, // signalling NaN, payload 1
            0x00, 0x00, 0x00, 0x80, // -0.0
        ];
        let v = dequantize(&bytes, 4).unwrap();
        assert_eq!(v[0], 1.0);
        assert_eq!(v[1], -8.0);
        assert_eq!(v[2].to_bits(), 0x7F80_0001);
        assert_eq!(v[3].to_bits(), 0x8000_0000);
        assert_eq!(pack(&v).unwrap(), bytes);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        assert!(dequantize(&[0; 7], 2).is_err());
        assert!(dequantize(&[0; 8], 3).is_err());
        assert!(dequantize(&[0; 8], usize::MAX).is_err());
        let mut out = [0.0; 3];
        assert!(dequantize_into(&[0; 8], &mut out).is_err());
        assert!(pack_into(&[1.0, 2.0], &mut [0; 9]).is_err());
        assert_eq!(pack(&[]).unwrap(), Vec::<u8>::new());
    }
}
