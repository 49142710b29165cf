//! Matrix kernels behind one seam. The model asks [`get`] for the process-wide table once and
//! calls through it; faster implementations (SIMD, repacked layouts) replace entries of the
//! table without the model changing. Every entry has a scalar definition in [`scalar`] or
//! [`order`], and any replacement must reproduce it: bit for bit on integer parts, and with
//! the same float accumulation order elsewhere (see `order` for why the order matters).
//!
//! Row kernels compute output rows `row0 .. row0 + out.len()` of a weight matrix with `k`
//! columns stored in the tensor's own byte layout, against one quantized activation row. The
//! caller splits rows across threads; results do not depend on the split.
//!
//! Tables: [`SCALAR`] everywhere; on x86-64 `avx2` (AVX2 + FMA + F16C), `avx512`
//! (AVX-512 F/BW/VL/VNNI + FMA + F16C, compiled with Rust 1.89 or newer) and `amx` (the
//! `avx512` table plus AMX-INT8 tiles for prompt batches, on Linux); on aarch64 `neon`
//! (NEON + dotprod). Each is handed out only after runtime detection;
//! `BITNET_KERNELS=scalar|avx2|avx512|amx|neon` forces one.

/// A `mod $name` of the three `rows_*` entries built from a table's single dots
/// (`$entry::dot_f16_ggml`, `dot_f16_f16_tiled`, `dot_f16_f32_tiled`) through
/// [`order::rows_via`], for tables without blocked row kernels.
macro_rules! rows_from_single_dots {
    ($name:ident, $entry:ident) => {
        mod $name {
            use super::$entry as e;
            use crate::kernels::order::rows_via;

            pub(super) fn f16_ggml(
                a: &[u16],
                stride: usize,
                b: &[u16],
                len: usize,
                out: &mut [f32],
            ) {
                rows_via(e::dot_f16_ggml, a, stride, b, len, out);
            }

            pub(super) fn f16_f16_tiled(
                a: &[u16],
                stride: usize,
                b: &[u16],
                len: usize,
                out: &mut [f32],
            ) {
                rows_via(e::dot_f16_f16_tiled, a, stride, b, len, out);
            }

            pub(super) fn f16_f32_tiled(
                a: &[u16],
                stride: usize,
                b: &[f32],
                len: usize,
                out: &mut [f32],
            ) {
                rows_via(e::dot_f16_f32_tiled, a, stride, b, len, out);
            }
        }
    };
}

#[cfg(target_arch = "aarch64")]
mod aarch64;
pub mod act;
pub mod order;
pub mod scalar;
pub mod tiles;
pub mod view;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::sync::OnceLock;

pub use act::{ActI8, BlockQ8K, BlockQ8_0};
pub use scalar::I8_ROW_MAX;

/// Exact integer dots of I2_S rows with an int8 activation row.
pub type I2sDots = fn(w: &[u8], k: usize, row0: usize, q: &[i8], out: &mut [i32]);
/// Exact integer dots of I2_S rows `row0 .. row0 + m` with several int8 activation rows:
/// `out[t * m + r]` is row `row0 + r` against `qs[t]`, where `m = out.len() / qs.len()`.
pub type I2sGemm = fn(w: &[u8], k: usize, row0: usize, qs: &[&[i8]], out: &mut [i32]);
/// Dots of ternary block rows (TQ1_0 / TQ2_0) with a Q8_K activation row.
pub type Q8kDots = fn(w: &[u8], k: usize, row0: usize, a: &[BlockQ8K], out: &mut [f32]);
/// Exact integer dots of int8 rows (the requantized LM head) with an int8 activation row.
pub type I8RowDots = fn(w: &[i8], k: usize, row0: usize, q: &[i8], out: &mut [i32]);
/// Dots of Q8_0 rows with a Q8_0 activation row.
pub type Q80Dots = fn(w: &[u8], k: usize, row0: usize, a: &[BlockQ8_0], out: &mut [f32]);

/// Dots of f16 rows `a` (`a_stride` apart) with rows `b` ([`order::rows_via`]).
pub type RowsF16 = fn(a: &[u16], a_stride: usize, b: &[u16], len: usize, out: &mut [f32]);
/// [`RowsF16`] with f32 rows `b`.
pub type RowsF16F32 = fn(a: &[u16], a_stride: usize, b: &[f32], len: usize, out: &mut [f32]);

/// The kernel table.
pub struct Kernels {
    /// Short name for logs and benchmarks.
    pub name: &'static str,
    pub i2s_dots: I2sDots,
    /// The matrix-matrix form of `i2s_dots` (prompts): each weight block is read once for
    /// all activation rows. Same integers as `i2s_dots` per activation row.
    pub i2s_gemm: I2sGemm,
    /// A tile (AMX) form of `i2s_gemm` for larger batches, on activations packed once per
    /// projection input; `None` where the CPU has no tiles.
    pub i2s_tiles: Option<&'static tiles::I2sTiles>,
    /// [`scalar::i2s_finish`]: the float outputs of I2_S dots.
    pub i2s_finish: fn(dots: &[i32], act_scale: f32, w_scale: f32, out: &mut [f32]),
    pub tq2_0_dots: Q8kDots,
    pub tq1_0_dots: Q8kDots,
    pub q8_0_dots: Q80Dots,
    /// The opt-in 8-bit LM head ([`scalar::i8_row_dots`]; `k <= I8_ROW_MAX`).
    pub i8_row_dots: I8RowDots,
    /// f16 x f16 single-row dot ([`order::dot_f16_ggml`]).
    pub dot_f16_ggml: fn(&[u16], &[u16]) -> f32,
    /// f32 x f32 single-row dot ([`order::dot_f32_ggml`]).
    pub dot_f32_ggml: fn(&[f32], &[f32]) -> f32,
    /// Tiled (multi-row) dots ([`order`]).
    pub dot_f16_f32_tiled: fn(&[u16], &[f32]) -> f32,
    pub dot_f16_f16_tiled: fn(&[u16], &[u16]) -> f32,
    pub dot_f32_tiled: fn(&[f32], &[f32]) -> f32,
    /// Many `dot_f16_ggml`, `dot_f16_f16_tiled` and `dot_f16_f32_tiled` at once (attention).
    pub rows_f16_ggml: RowsF16,
    pub rows_f16_f16_tiled: RowsF16,
    pub rows_f16_f32_tiled: RowsF16F32,
    /// The softmax exponential ([`order::expf_ggml`]).
    pub expf: fn(f32) -> f32,
    /// A whole softmax row, in place ([`order::softmax_ggml`]).
    pub softmax: fn(&mut [f32]),
    /// bitnet.cpp's per-row int8 activation quantizer ([`act::quantize_i8_absmax`]).
    pub quantize_i8: fn(&[f32], &mut ActI8),
}

/// The scalar reference table.
pub static SCALAR: Kernels = Kernels {
    name: "scalar",
    i2s_dots: scalar::i2s_dots,
    i2s_gemm: scalar::i2s_gemm,
    i2s_tiles: None,
    i2s_finish: scalar::i2s_finish,
    tq2_0_dots: scalar::tq2_0_dots,
    tq1_0_dots: scalar::tq1_0_dots,
    q8_0_dots: scalar::q8_0_dots,
    i8_row_dots: scalar::i8_row_dots,
    dot_f16_ggml: order::dot_f16_ggml,
    dot_f32_ggml: order::dot_f32_ggml,
    dot_f16_f32_tiled: order::dot_f16_f32_tiled,
    dot_f16_f16_tiled: order::dot_f16_f16_tiled,
    dot_f32_tiled: order::dot_f32_tiled,
    rows_f16_ggml: order::rows_f16_ggml,
    rows_f16_f16_tiled: order::rows_f16_f16_tiled,
    rows_f16_f32_tiled: order::rows_f16_f32_tiled,
    expf: order::expf_ggml,
    softmax: order::softmax_ggml,
    quantize_i8: act::quantize_i8_absmax,
};

/// The table for this process, chosen once: the fastest one the CPU supports, unless the
/// environment variable `BITNET_KERNELS` names another available table.
pub fn get() -> &'static Kernels {
    static CHOSEN: OnceLock<&'static Kernels> = OnceLock::new();
    CHOSEN.get_or_init(|| {
        let tables = available();
        let best = *tables.last().expect("the scalar table is always available");
        let chosen = match std::env::var("BITNET_KERNELS") {
            Ok(name) if name.is_empty() => best,
            Ok(name) => match tables.iter().find(|t| t.name == name) {
                Some(t) => t,
                None => {
                    let names: Vec<&str> = tables.iter().map(|t| t.name).collect();
                    crate::log::warn(&format!(
                        "BITNET_KERNELS={name}: not available on this CPU or build (available: \
                         {}); using {}",
                        names.join(", "),
                        best.name
                    ));
                    best
                }
            },
            Err(std::env::VarError::NotPresent) => best,
            Err(std::env::VarError::NotUnicode(_)) => {
                crate::log::warn("BITNET_KERNELS is not valid UTF-8; ignored");
                best
            }
        };
        crate::log::info(&format!("kernels: {}", chosen.name));
        chosen
    })
}

/// Every table this CPU can run, [`SCALAR`] first and the fastest last (for tests and
/// benchmarks; the model uses [`get`]).
pub fn available() -> Vec<&'static Kernels> {
    let mut tables = vec![&SCALAR];
    #[cfg(target_arch = "x86_64")]
    tables.extend(x86::tables());
    #[cfg(target_arch = "aarch64")]
    tables.extend(aarch64::tables());
    tables
}
