//! The opt-in 8-bit LM head ([`LmHead::Int8`](super::LmHead::Int8)).
//!
//! Decode is bound by memory bandwidth, and the tied LM head is the largest single read of
//! a token: on BitNet-b1.58-2B-4T, token_embd is F16, 128256 x 2560 = 657 MB, against 521 MB
//! for all I2_S linears together. Requantized once at load to int8 rows with one f32 scale
//! per row it is 328 MB (+ 0.5 MB of scales), which cuts the bytes read per token by 28%.
//! Neither reference does this, so the logits are close to the exact head's but not
//! bit-identical (docs/PERFORMANCE.md gives the figures); that is why it is opt-in.
//!
//! Weights, per row: `amax = max |w|`, `scale = amax / 127`, `q = round_half_even(w * (127 /
//! amax))` (an all-zero row gets `q = 0`, `scale = 0`). Round half to even is what the
//! references' int8 quantizers (`nearest_int`) do; with absmax scaling the values stay in
//! -127..=127. Activations: the normed output row goes through the same per-row absmax
//! quantizer as the I2_S linears' inputs ([`act::quantize_i8_absmax`]). A logit is the exact
//! integer dot (kernel table entry `i8_row_dots`) times `row scale / activation scale`.

use memmap2::{Mmap, MmapMut};
use rayon::prelude::*;

use super::hparams::HParams;
use super::linear::{float_matrix, FloatMatrix, ROWS_PER_TASK};
use super::weights::{EmbdFormat, Embedding};
use crate::gguf::GgufFile;
use crate::kernels::{act, ActI8, Kernels};
use crate::{Error, Result};

/// Rows requantized between two progress reports (and page releases): 20 MB of F16.
const CHUNK_ROWS: usize = 4096;

/// token_embd as int8 rows with per-row scales, in anonymous memory.
pub struct Int8Head {
    /// `n_vocab x n_embd` int8 values, row-major.
    rows: Mmap,
    /// One scale per row: a row's values times its scale approximate token_embd's row.
    scales: Vec<f32>,
    n_embd: usize,
}

impl Int8Head {
    /// Requantizes the F16 or F32 `emb`, in parallel, reporting progress in `0..=1` after
    /// each chunk of rows. With a mapped file, the F16 pages read are released as it goes,
    /// so they do not stay in the resident set next to the int8 copy.
    pub(super) fn requantize(
        file: &GgufFile,
        emb: &Embedding,
        hp: &HParams,
        progress: &mut dyn FnMut(f32) -> Result<()>,
    ) -> Result<Int8Head> {
        let (k, n) = (hp.n_embd, hp.n_vocab);
        let (mat, elem) = match emb.format {
            EmbdFormat::F16 => (float_matrix(file.tensor_at(emb.tensor).data, true), 2),
            EmbdFormat::F32 => (float_matrix(file.tensor_at(emb.tensor).data, false), 4),
            EmbdFormat::Q8_0 => {
                return Err(Error::InvalidArgument(
                    "a Q8_0 token_embd is already 8-bit; it is not requantized".into(),
                ))
            }
        };
        let bytes = k.checked_mul(n).filter(|&b| b > 0).ok_or_else(|| {
            Error::Format(format!("token_embd of {n} x {k} cannot be requantized"))
        })?;
        let mut map = MmapMut::map_anon(bytes)
            .map_err(|e| Error::OutOfMemory(format!("{bytes} bytes for the int8 LM head: {e}")))?;
        // Huge pages are a hint (fewer TLB misses while streaming the head); where the
        // kernel does not provide them this fails harmlessly.
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
        let mut scales = vec![0.0f32; n];
        for (c, (dst, sc)) in map
            .chunks_mut(CHUNK_ROWS * k)
            .zip(scales.chunks_mut(CHUNK_ROWS))
            .enumerate()
        {
            let row0 = c * CHUNK_ROWS;
            dst.par_chunks_mut(k)
                .zip(sc.par_iter_mut())
                .enumerate()
                .try_for_each_init(
                    || vec![0.0f32; k],
                    |buf, (i, (q, scale))| {
                        let r = row0 + i;
                        match mat {
                            FloatMatrix::F16(w) => {
                                use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
                                let row: &[half::f16] = w[r * k..(r + 1) * k].reinterpret_cast();
                                row.convert_to_f32_slice(buf);
                            }
                            FloatMatrix::F32(w) => buf.copy_from_slice(&w[r * k..(r + 1) * k]),
                        }
                        *scale = quantize_row(buf, as_i8s_mut(q)).ok_or_else(|| {
                            Error::Format(format!(
                                "token_embd row {r} holds a NaN or infinity, which the int8 LM \
                                 head cannot represent (use the exact head)"
                            ))
                        })?;
                        Ok::<(), Error>(())
                    },
                )?;
            let done = row0 + sc.len();
            file.release_pages(emb.tensor, row0 * k * elem..done * k * elem);
            progress(done as f32 / n as f32)?;
        }
        let rows = map.make_read_only().map_err(|e| {
            Error::OutOfMemory(format!("protecting the int8 LM head read-only: {e}"))
        })?;
        Ok(Int8Head {
            rows,
            scales,
            n_embd: k,
        })
    }

    /// The int8 rows, `n_vocab x n_embd` row-major.
    pub fn rows(&self) -> &[i8] {
        // SAFETY: i8 and u8 have the same size and alignment and every bit pattern is valid
        // for both; the slice covers exactly the map, which lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.rows.as_ptr().cast::<i8>(), self.rows.len()) }
    }

    /// One scale per row.
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// Bytes held (rows and scales).
    pub fn size_bytes(&self) -> usize {
        self.rows.len() + 4 * self.scales.len()
    }

    /// Logits of the normed output rows `h` (each `n_embd` wide) into `logits` (`n_vocab`
    /// per row). `act` is reused scratch for the quantized row: no allocation once warm.
    pub(super) fn logits(&self, kt: &Kernels, h: &[f32], logits: &mut [f32], act: &mut ActI8) {
        let (k, nv) = (self.n_embd, self.scales.len());
        let w = self.rows();
        for (x, y) in h.chunks_exact(k).zip(logits.chunks_exact_mut(nv)) {
            act::quantize_i8_absmax(x, act);
            let (q, step) = (act.q.as_slice(), 1.0 / act.scale);
            y.par_chunks_mut(ROWS_PER_TASK)
                .zip(self.scales.par_chunks(ROWS_PER_TASK))
                .enumerate()
                .for_each(|(c, (y, scales))| {
                    let mut dots = [0i32; ROWS_PER_TASK];
                    let dots = &mut dots[..y.len()];
                    (kt.i8_row_dots)(w, k, c * ROWS_PER_TASK, q, dots);
                    for ((y, &d), &s) in y.iter_mut().zip(dots.iter()).zip(scales) {
                        *y = d as f32 * (s * step);
                    }
                });
        }
    }
}

/// `bytes` as i8 values.
fn as_i8s_mut(bytes: &mut [u8]) -> &mut [i8] {
    // SAFETY: i8 and u8 have the same size and alignment and every bit pattern is valid for
    // both; the new slice covers exactly `bytes`, whose borrow it takes over.
    unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<i8>(), bytes.len()) }
}

/// Quantizes one row (see the module comment) and returns its scale, or `None` if the row
/// holds a NaN or an infinity.
fn quantize_row(x: &[f32], q: &mut [i8]) -> Option<f32> {
    // The largest |x| by bit pattern: for non-negative floats the bits order like the values,
    // and NaN and infinity have the largest patterns. An integer max also vectorizes, unlike
    // a float one with NaN checks.
    let bits = x.iter().fold(0u32, |m, v| m.max(v.to_bits() & 0x7fff_ffff));
    if bits >= f32::INFINITY.to_bits() {
        return None;
    }
    let amax = f32::from_bits(bits);
    if amax == 0.0 {
        q.fill(0);
        return Some(0.0);
    }
    let id = 127.0 / amax;
    for (q, &v) in q.iter_mut().zip(x) {
        *q = nearest_int(v * id) as i8;
    }
    Some(amax / 127.0)
}

/// ggml's `nearest_int`: round half to even by adding 1.5 * 2^23, exact for `|x| < 2^22`
/// (here `|x| <= 127` and a little). Unlike `round_ties_even` it needs no SSE4.1 or libm
/// call, so the requantization loop vectorizes on baseline x86-64.
fn nearest_int(x: f32) -> i32 {
    let f = x + 12_582_912.0;
    (f.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_quantize_by_absmax_with_ties_to_even() {
        // amax 127: the scale is 1 and values round half to even.
        let x = [127.0f32, 0.5, 1.5, 2.5, -0.5, -1.5, -127.0, 3.49];
        let mut q = [0i8; 8];
        assert_eq!(quantize_row(&x, &mut q), Some(1.0));
        assert_eq!(q, [127, 0, 2, 2, 0, -2, -127, 3]);
        // A zero row has scale 0; NaN and infinity are refused.
        assert_eq!(quantize_row(&[0.0; 4], &mut q[..4]), Some(0.0));
        assert_eq!(q[..4], [0; 4]);
        assert_eq!(quantize_row(&[1.0, f32::NAN], &mut q[..2]), None);
        assert_eq!(quantize_row(&[1.0, f32::NEG_INFINITY], &mut q[..2]), None);
    }

    #[test]
    fn dequantized_rows_are_within_half_a_step() {
        let x: Vec<f32> = (0..300)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 13.0)
            .collect();
        let mut q = vec![0i8; x.len()];
        let s = quantize_row(&x, &mut q).unwrap();
        let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert_eq!(s, amax / 127.0);
        for (&q, &v) in q.iter().zip(&x) {
            assert!((f32::from(q) * s - v).abs() <= s / 2.0 * 1.0001, "{q} {v}");
        }
        assert_eq!(q.iter().map(|v| v.unsigned_abs()).max(), Some(127));
    }

    #[test]
    fn nearest_int_rounds_half_to_even() {
        for (x, want) in [
            (0.5f32, 0),
            (1.5, 2),
            (-2.5, -2),
            (126.5, 126),
            (-127.2, -127),
        ] {
            assert_eq!(nearest_int(x), want, "{x}");
            assert_eq!(nearest_int(x), x.round_ties_even() as i32);
        }
    }
}
