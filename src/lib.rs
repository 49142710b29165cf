//! libbitnet: a CPU inference engine for BitNet b1.58 ternary language models.
//!
//! Layers, each using only the ones listed before it:
//! - [`gguf`]: GGUF files (validating reader over a memory map, streaming writer, the
//!   ggml type table);
//! - [`quant`]: one module per weight format (scalar reference dequantizers and packers);
//! - [`tokenizer`]: the tokenizer described by a GGUF vocabulary;
//! - [`synth`]: writes BitNet-shaped models with random ternary weights.

pub mod error;
pub mod gguf;
pub mod log;
pub mod quant;
pub mod synth;
pub mod tokenizer;

pub use error::{Error, Result};
