//! Matrix kernels behind one seam. The model asks [`get`] for the process-wide table once and
//! calls through it; faster implementations (SIMD, repacked layouts) replace entries of the
//! table without the model changing. Every entry has a scalar definition in [`scalar`] or
//! [`order`], and any replacement must reproduce it: bit for bit on integer parts, and with
//! the same float accumulation order elsewhere (see `order` for why the order matters).
//!
//! Row kernels compute output rows `row0 .. row0 + out.len()` of a weight matrix with `k`
//! columns stored in the tensor's own byte layout, against one quantized activation row. The
//! caller splits rows across threads; results do not depend on the split.

pub mod act;
pub mod order;
pub mod scalar;
pub mod view;

use std::sync::OnceLock;

pub use act::{ActI8, BlockQ8K, BlockQ8_0};

/// Exact integer dots of I2_S rows with an int8 activation row.
pub type I2sDots = fn(w: &[u8], k: usize, row0: usize, q: &[i8], out: &mut [i32]);
/// Dots of ternary block rows (TQ1_0 / TQ2_0) with a Q8_K activation row.
pub type Q8kDots = fn(w: &[u8], k: usize, row0: usize, a: &[BlockQ8K], out: &mut [f32]);
/// Dots of Q8_0 rows with a Q8_0 activation row.
pub type Q80Dots = fn(w: &[u8], k: usize, row0: usize, a: &[BlockQ8_0], out: &mut [f32]);

/// The kernel table.
pub struct Kernels {
    /// Short name for logs and benchmarks.
    pub name: &'static str,
    pub i2s_dots: I2sDots,
    pub tq2_0_dots: Q8kDots,
    pub tq1_0_dots: Q8kDots,
    pub q8_0_dots: Q80Dots,
    /// f16 x f16 single-row dot ([`order::dot_f16_ggml`]).
    pub dot_f16_ggml: fn(&[u16], &[u16]) -> f32,
    /// f32 x f32 single-row dot ([`order::dot_f32_ggml`]).
    pub dot_f32_ggml: fn(&[f32], &[f32]) -> f32,
    /// Tiled (multi-row) dots ([`order`]).
    pub dot_f16_f32_tiled: fn(&[u16], &[f32]) -> f32,
    pub dot_f16_f16_tiled: fn(&[u16], &[u16]) -> f32,
    pub dot_f32_tiled: fn(&[f32], &[f32]) -> f32,
    /// The softmax exponential ([`order::expf_ggml`]).
    pub expf: fn(f32) -> f32,
}

/// The scalar reference table.
pub static SCALAR: Kernels = Kernels {
    name: "scalar",
    i2s_dots: scalar::i2s_dots,
    tq2_0_dots: scalar::tq2_0_dots,
    tq1_0_dots: scalar::tq1_0_dots,
    q8_0_dots: scalar::q8_0_dots,
    dot_f16_ggml: order::dot_f16_ggml,
    dot_f32_ggml: order::dot_f32_ggml,
    dot_f16_f32_tiled: order::dot_f16_f32_tiled,
    dot_f16_f16_tiled: order::dot_f16_f16_tiled,
    dot_f32_tiled: order::dot_f32_tiled,
    expf: order::expf_ggml,
};

/// The table for this process, chosen once from the CPU's features (today: scalar only).
pub fn get() -> &'static Kernels {
    static CHOSEN: OnceLock<&'static Kernels> = OnceLock::new();
    CHOSEN.get_or_init(|| &SCALAR)
}
