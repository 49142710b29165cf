//! Weight formats: one module per ggml tensor type the crate reads or writes, each a
//! scalar reference dequantizer (`bytes -> f32`) and packer (`f32 -> bytes`).
//!
//! Every packer mirrors the C function that defines its format, operation for operation,
//! so that packing the same floats gives the same bytes as the reference tool chain:
//!
//! | type  | module           | block: elements / bytes  | reference packer                 |
//! |-------|------------------|--------------------------|----------------------------------|
//! | F32   | [`f32`](mod@f32) | 1 / 4                    | little-endian copy               |
//! | F16   | [`f16`](mod@f16) | 1 / 2                    | F16C `_cvtss_sh(x, 0)`           |
//! | BF16  | [`bf16`]         | 1 / 2                    | ggml `ggml_compute_fp32_to_bf16` |
//! | Q8_0  | [`q8_0`]         | 32 / 34                  | ggml `quantize_row_q8_0_ref`     |
//! | TQ1_0 | [`tq1_0`]        | 256 / 54                 | ggml `quantize_row_tq1_0_ref`    |
//! | TQ2_0 | [`tq2_0`]        | 256 / 66                 | ggml `quantize_row_tq2_0_ref`    |
//! | I2_S  | [`i2s`]          | 128 / 32, + 32-byte tail | bitnet.cpp `quantize_i2_s` (x86) |
//!
//! Each module offers the same functions: `n_bytes(n)` (size of `n` elements, or an error when
//! `n` does not fit the block), `dequantize(data, n)`, `dequantize_into(data, out)`,
//! `pack(values)` and `pack_into(values, out)`; the `_into` forms let callers reuse buffers.
//! Functions here check every length and return [`Error::Format`] instead of panicking.
//!
//! The ternary formats disagree on what to do with the 2-bit code 3 (never written by any
//! reference packer): upstream TQ2_0 decodes it as +2d, and bitnet.cpp's I2_S kernels (which
//! multiply raw codes, then subtract the activation sum) as +2 scale. Here it
//! decodes as 0 in both, so that no file can produce a weight outside {-s, 0, +s};
//! [`i2s::count_invalid_codes`] and [`tq2_0::count_invalid_codes`] let a loader reject such
//! files instead.

pub mod bf16;
pub mod f16;
pub mod f32;
pub mod i2s;
pub mod q8_0;
pub mod tq1_0;
pub mod tq2_0;

use crate::gguf::GgmlType;
use crate::{Error, Result};

/// The row-length multiple `ty` requires, or `None` when this module does not implement `ty`.
/// I2_S's layout only needs the element count to be a multiple of 128, but the format is
/// defined for (and the kernels assume) rows of a multiple of 128.
pub fn row_multiple(ty: GgmlType) -> Option<usize> {
    match ty {
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => Some(1),
        GgmlType::Q8_0 => Some(q8_0::BLOCK_ELEMENTS),
        GgmlType::TQ1_0 => Some(tq1_0::BLOCK_ELEMENTS),
        GgmlType::TQ2_0 => Some(tq2_0::BLOCK_ELEMENTS),
        GgmlType::I2_S => Some(i2s::BLOCK_ELEMENTS),
        _ => None,
    }
}

/// Bytes that `n` elements of `ty` occupy (for sizing a [`pack_into`] buffer).
pub fn n_bytes(ty: GgmlType, n: usize) -> Result<usize> {
    match ty {
        GgmlType::F32 => f32::n_bytes(n),
        GgmlType::F16 => f16::n_bytes(n),
        GgmlType::BF16 => bf16::n_bytes(n),
        GgmlType::Q8_0 => q8_0::n_bytes(n),
        GgmlType::TQ1_0 => tq1_0::n_bytes(n),
        GgmlType::TQ2_0 => tq2_0::n_bytes(n),
        GgmlType::I2_S => i2s::n_bytes(n),
        _ => Err(unsupported(ty, "sizing")),
    }
}

/// Decodes `n_elements` values of type `ty` from `data`, which must be exactly the tensor's
/// bytes.
pub fn dequantize(ty: GgmlType, data: &[u8], n_elements: usize) -> Result<Vec<f32>> {
    match ty {
        GgmlType::F32 => f32::dequantize(data, n_elements),
        GgmlType::F16 => f16::dequantize(data, n_elements),
        GgmlType::BF16 => bf16::dequantize(data, n_elements),
        GgmlType::Q8_0 => q8_0::dequantize(data, n_elements),
        GgmlType::TQ1_0 => tq1_0::dequantize(data, n_elements),
        GgmlType::TQ2_0 => tq2_0::dequantize(data, n_elements),
        GgmlType::I2_S => i2s::dequantize(data, n_elements),
        _ => Err(unsupported(ty, "dequantizing")),
    }
}

/// [`dequantize`] into a caller's buffer; `out.len()` is the element count.
pub fn dequantize_into(ty: GgmlType, data: &[u8], out: &mut [f32]) -> Result<()> {
    match ty {
        GgmlType::F32 => f32::dequantize_into(data, out),
        GgmlType::F16 => f16::dequantize_into(data, out),
        GgmlType::BF16 => bf16::dequantize_into(data, out),
        GgmlType::Q8_0 => q8_0::dequantize_into(data, out),
        GgmlType::TQ1_0 => tq1_0::dequantize_into(data, out),
        GgmlType::TQ2_0 => tq2_0::dequantize_into(data, out),
        GgmlType::I2_S => i2s::dequantize_into(data, out),
        _ => Err(unsupported(ty, "dequantizing")),
    }
}

/// Encodes `values`, a tensor of dimensions `shape` (ggml order: `shape[0]` is the row
/// length), as `ty`. The shape is checked: its product must be `values.len()` and its row
/// length a multiple of [`row_multiple`]`(ty)`.
pub fn pack(ty: GgmlType, values: &[f32], shape: &[u64]) -> Result<Vec<u8>> {
    let mut out = vec![0u8; checked_pack_size(ty, values.len(), shape)?];
    pack_into(ty, values, shape, &mut out)?;
    Ok(out)
}

/// [`pack`] into a caller's buffer of exactly [`n_bytes`]`(ty, values.len())` bytes.
pub fn pack_into(ty: GgmlType, values: &[f32], shape: &[u64], out: &mut [u8]) -> Result<()> {
    checked_pack_size(ty, values.len(), shape)?;
    match ty {
        GgmlType::F32 => f32::pack_into(values, out),
        GgmlType::F16 => f16::pack_into(values, out),
        GgmlType::BF16 => bf16::pack_into(values, out),
        GgmlType::Q8_0 => q8_0::pack_into(values, out),
        GgmlType::TQ1_0 => tq1_0::pack_into(values, out),
        GgmlType::TQ2_0 => tq2_0::pack_into(values, out),
        GgmlType::I2_S => i2s::pack_into(values, out),
        _ => Err(unsupported(ty, "packing")),
    }
}

/// Checks `shape` against `ty` and `n` values; returns the packed size.
fn checked_pack_size(ty: GgmlType, n: usize, shape: &[u64]) -> Result<usize> {
    let multiple = row_multiple(ty).ok_or_else(|| unsupported(ty, "packing"))?;
    let product = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    if product != u64::try_from(n).ok() {
        return Err(Error::Format(format!(
            "{ty}: shape {shape:?} does not describe {n} values"
        )));
    }
    let row = shape.first().copied().unwrap_or(1);
    if row % multiple as u64 != 0 {
        return Err(Error::Format(format!(
            "{ty}: row length {row} (shape {shape:?}) is not a multiple of {multiple}"
        )));
    }
    n_bytes(ty, n)
}

fn unsupported(ty: GgmlType, what: &str) -> Error {
    let why = match ty {
        GgmlType::TL1 | GgmlType::TL2 => {
            ": its layout depends on per-shape tiling parameters chosen when bitnet.cpp is built"
        }
        GgmlType::I8_S => ": bitnet.cpp uses it for activations only, never in files",
        _ => "",
    };
    Error::Unsupported(format!("{what} {ty} tensors is not implemented{why}"))
}

// ---- Helpers shared by the format modules -------------------------------------------------

/// Size of `n` elements in a format of `block`-element blocks of `block_bytes` bytes, plus
/// `extra` trailing bytes; an error naming `name` when `n` is not a whole number of blocks.
fn block_layout_bytes(
    name: &str,
    n: usize,
    block: usize,
    block_bytes: usize,
    extra: usize,
) -> Result<usize> {
    if n % block != 0 {
        return Err(Error::Format(format!(
            "{name}: {n} elements is not a multiple of the {block}-element block"
        )));
    }
    (n / block)
        .checked_mul(block_bytes)
        .and_then(|b| b.checked_add(extra))
        .ok_or_else(|| Error::Format(format!("{name}: {n} elements overflow the address space")))
}

/// A module's `dequantize`: checks `data` is the `n`-element tensor's `expected` bytes
/// before allocating anything, then runs the module's `dequantize_into`.
/// Dequantizes 256-element ternary blocks (TQ1_0, TQ2_0) with their block decoder: each
/// value is `t * d`, as the reference's `(float)(q - 1) * d`.
fn dequantize_ternary_blocks(
    data: &[u8],
    out: &mut [f32],
    block_bytes: usize,
    decode: fn(&[u8], &mut [i8; 256]) -> f32,
) {
    let mut t = [0i8; 256];
    for (y, block) in out
        .chunks_exact_mut(256)
        .zip(data.chunks_exact(block_bytes))
    {
        let d = decode(block, &mut t);
        for (y, &t) in y.iter_mut().zip(&t) {
            *y = f32::from(t) * d;
        }
    }
}

fn dequantize_alloc(
    name: &str,
    data: &[u8],
    n: usize,
    expected: usize,
    into: fn(&[u8], &mut [f32]) -> Result<()>,
) -> Result<Vec<f32>> {
    check_data_len(name, data, n, expected)?;
    let mut out = vec![0.0; n];
    into(data, &mut out)?;
    Ok(out)
}

/// A module's `pack`: a buffer of `n_bytes`, filled by the module's `pack_into`.
fn pack_alloc(n_bytes: usize, into: impl FnOnce(&mut [u8]) -> Result<()>) -> Result<Vec<u8>> {
    let mut out = vec![0; n_bytes];
    into(&mut out)?;
    Ok(out)
}

/// Checks that `data` holds the `expected` bytes of an `n`-element tensor.
fn check_data_len(name: &str, data: &[u8], n: usize, expected: usize) -> Result<()> {
    if data.len() != expected {
        return Err(Error::Format(format!(
            "{name}: a tensor of {n} elements needs {expected} bytes, got {}",
            data.len()
        )));
    }
    Ok(())
}

/// Checks that an output buffer holds the `expected` bytes for `n` values.
fn check_out_len(name: &str, out: &[u8], n: usize, expected: usize) -> Result<()> {
    if out.len() != expected {
        return Err(Error::Format(format!(
            "{name}: packing {n} values needs an output of {expected} bytes, got {}",
            out.len()
        )));
    }
    Ok(())
}

/// A block's `amax` as ggml's quantizers compute it: `amax = MAX(amax, fabsf(x))` with C's
/// `MAX(a, b)` macro, `a > b ? a : b` (a NaN is kept only until the next comparison,
/// exactly as in C).
fn block_amax(x: &[f32]) -> f32 {
    x.iter().fold(
        0.0f32,
        |amax, v| if amax > v.abs() { amax } else { v.abs() },
    )
}

/// `int xi = lroundf(v) + 1` as the ternary reference quantizers compute it: round half away
/// from zero, then C's conversion from `long` to `int` (keep the low 32 bits). A NaN or a
/// value outside `long` gives `LONG_MIN`, as glibc's `lroundf` does on x86-64. Only inputs
/// with NaNs ever reach those cases.
fn lroundf_plus_one(v: f32) -> i32 {
    const TWO_63: f32 = 9_223_372_036_854_775_808.0;
    let r = v.round();
    let l = if (-TWO_63..TWO_63).contains(&r) {
        r as i64
    } else {
        i64::MIN
    };
    l.wrapping_add(1) as i32
}

/// Number of 2-bit fields equal to 3 in `bytes`: a field is 3 when both of its bits are set,
/// i.e. where `b & (b >> 1)` has the field's low bit set. Loaders scan every weight byte
/// with it, so it works on 64-bit words: in a word `x >> 1` also moves bit 0 of each byte
/// into bit 7 of the byte below, but the mask keeps only the even (low) bits of the fields.
fn count_code3_fields(bytes: &[u8]) -> usize {
    const LOW_BITS: u64 = 0x5555_5555_5555_5555;
    let words = bytes.chunks_exact(8);
    let tail = words.remainder();
    let in_words: u64 = words
        .map(|w| {
            let x = u64::from_le_bytes(w.try_into().expect("8-byte chunks"));
            u64::from((x & (x >> 1) & LOW_BITS).count_ones())
        })
        .sum();
    in_words as usize + count_code3_fields_bytewise(tail)
}

/// [`count_code3_fields`] one byte at a time: the definition, and the tail of a word scan.
fn count_code3_fields_bytewise(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .map(|&b| (b & (b >> 1) & 0x55).count_ones() as usize)
        .sum()
}

/// Reads the little-endian f16 at `bytes[at..at + 2]` as f32.
fn read_f16(bytes: &[u8], at: usize) -> f32 {
    f16::to_f32(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

#[cfg(test)]
mod testing {
    //! Helpers for the format modules' tests.

    /// xorshift64* (Vigna): a tiny deterministic generator, good enough to pick test cases.
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Rng {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }

        pub fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        pub fn next_u32(&mut self) -> u32 {
            (self.next_u64() >> 32) as u32
        }

        /// Uniform in `0..n`.
        pub fn below(&mut self, n: u64) -> u64 {
            self.next_u64() % n
        }

        /// Uniform in `[lo, hi)`.
        pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
            let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
            lo + (hi - lo) * unit
        }

        /// `n` values in {-1, 0, +1}.
        pub fn ternary(&mut self, n: usize) -> Vec<i8> {
            (0..n).map(|_| self.below(3) as i8 - 1).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_scan_counts_code3_like_the_bytewise_definition() {
        let mut rng = testing::Rng::new(3);
        let random: Vec<u8> = (0..1000).map(|_| rng.next_u64() as u8).collect();
        // Every byte value at every position of a word, plus all-ones and all-zeros runs.
        let every: Vec<u8> = (0..256 * 9).map(|i| (i * 7 + i / 256) as u8).collect();
        for data in [random, every, vec![0xFF; 77], vec![0; 64], vec![0xAA; 9]] {
            for start in 0..9 {
                for end in [data.len(), data.len() - 1, start + (data.len() - start) / 2] {
                    let bytes = &data[start..end.max(start)];
                    assert_eq!(
                        count_code3_fields(bytes),
                        count_code3_fields_bytewise(bytes),
                        "{start}..{end}"
                    );
                }
            }
        }
        assert_eq!(count_code3_fields(&[0xFF; 77]), 77 * 4);
        assert_eq!(count_code3_fields(&[0xAA; 16]), 0);
        assert_eq!(count_code3_fields(&[]), 0);
    }

    #[test]
    fn unsupported_types_are_named() {
        for ty in [
            GgmlType::Q4_K,
            GgmlType::IQ2_XXS,
            GgmlType::TL1,
            GgmlType::TL2,
            GgmlType::I8_S,
        ] {
            let err = dequantize(ty, &[0; 64], 128).unwrap_err();
            assert!(matches!(err, Error::Unsupported(_)), "{ty}: {err}");
            assert!(err.to_string().contains(ty.name()), "{err}");
            let err = pack(ty, &[0.0; 256], &[256]).unwrap_err();
            assert!(matches!(err, Error::Unsupported(_)), "{ty}: {err}");
            assert!(err.to_string().contains(ty.name()), "{err}");
        }
    }

    #[test]
    fn sizes_agree_with_the_type_table() {
        for ty in GgmlType::all().filter(|&t| row_multiple(t).is_some()) {
            let shape = [256u64, 3];
            let want = ty.n_bytes(&shape).unwrap() as usize;
            assert_eq!(n_bytes(ty, 768).unwrap(), want, "{ty}");
            assert_eq!(pack(ty, &[0.0; 768], &shape).unwrap().len(), want, "{ty}");
        }
    }

    #[test]
    fn pack_checks_the_shape() {
        let v = [0.5f32; 512];
        // Product of the shape is not the value count.
        let err = pack(GgmlType::F32, &v, &[256, 3]).unwrap_err();
        assert!(matches!(err, Error::Format(_)), "{err}");
        // Overflowing shape.
        assert!(pack(GgmlType::F16, &v, &[u64::MAX, 2]).is_err());
        // Row length not a multiple of the block even though the count is.
        for (ty, shape) in [
            (GgmlType::I2_S, [64u64, 8]),
            (GgmlType::TQ2_0, [128, 4]),
            (GgmlType::TQ1_0, [128, 4]),
            (GgmlType::Q8_0, [16, 32]),
        ] {
            let err = pack(ty, &v, &shape).unwrap_err().to_string();
            assert!(err.contains("not a multiple"), "{ty}: {err}");
        }
        // A 1-D tensor and an empty shape (a scalar) are fine for the float types.
        assert_eq!(pack(GgmlType::F32, &v, &[512]).unwrap().len(), 2048);
        assert_eq!(
            pack(GgmlType::F32, &[1.0], &[]).unwrap(),
            1f32.to_le_bytes()
        );
        // pack_into checks the output length.
        let mut out = vec![0u8; 10];
        assert!(pack_into(GgmlType::I2_S, &v, &[512], &mut out).is_err());
    }

    #[test]
    fn dequantize_checks_counts_and_lengths() {
        for (ty, n, len) in [
            (GgmlType::I2_S, 100, 57),
            (GgmlType::TQ2_0, 255, 66),
            (GgmlType::TQ1_0, 300, 54),
            (GgmlType::Q8_0, 33, 34),
        ] {
            let err = dequantize(ty, &vec![0; len], n).unwrap_err();
            assert!(matches!(err, Error::Format(_)), "{ty}: {err}");
            assert!(err.to_string().contains("multiple"), "{err}");
        }
        let err = dequantize(GgmlType::F16, &[0; 5], 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("6 bytes, got 5"), "{err}");
        // A huge count with a short buffer is an error, not an allocation failure.
        assert!(dequantize(GgmlType::F32, &[0; 4], usize::MAX / 2).is_err());
        assert!(dequantize(GgmlType::I2_S, &[0; 36], usize::MAX - 127).is_err());
    }

    #[test]
    fn every_format_round_trips_through_the_dispatchers() {
        let mut rng = testing::Rng::new(7);
        let shape = [512u64, 2];
        let values: Vec<f32> = rng
            .ternary(1024)
            .into_iter()
            .map(|t| t as f32 * 0.992_187_5) // 127/128: exact in every format
            .collect();
        for ty in GgmlType::all().filter(|&t| row_multiple(t).is_some()) {
            let bytes = pack(ty, &values, &shape).unwrap();
            let back = dequantize(ty, &bytes, values.len()).unwrap();
            assert_eq!(back, values, "{ty}");
            let mut out = vec![0.0; values.len()];
            dequantize_into(ty, &bytes, &mut out).unwrap();
            assert_eq!(out, values, "{ty}");
        }
    }

    #[test]
    fn lroundf_rounds_half_away_from_zero_and_wraps_like_c() {
        assert_eq!(lroundf_plus_one(0.5), 2);
        assert_eq!(lroundf_plus_one(-0.5), 0);
        assert_eq!(lroundf_plus_one(0.4999), 1);
        assert_eq!(lroundf_plus_one(-1.0), 0);
        assert_eq!(lroundf_plus_one(2.5), 4);
        // LONG_MIN + 1 keeps its low 32 bits: 1.
        assert_eq!(lroundf_plus_one(f32::NAN), 1);
        assert_eq!(lroundf_plus_one(f32::INFINITY), 1);
        assert_eq!(lroundf_plus_one(1e30), 1);
        // In range for long but not for int: the low 32 bits.
        assert_eq!(lroundf_plus_one(4_294_967_296.0), 1);
        assert_eq!(lroundf_plus_one(4_294_967_808.0), 513);
        assert_eq!(lroundf_plus_one(-4_294_967_808.0), -511);
    }
}
