//! libbitnet: a CPU inference engine for BitNet b1.58 ternary language models.
//!
//! Layers, each using only the ones listed before it:
//! - [`gguf`]: GGUF files (validating reader over a memory map, streaming writer, the
//!   ggml type table);
//! - [`quant`]: one module per weight format (scalar reference dequantizers and packers);
//! - [`tokenizer`]: the tokenizer described by a GGUF vocabulary;
//! - [`kernels`]: matrix kernels behind one dispatch table (scalar reference today);
//! - [`model`]: hyper-parameters, weight binding and the forward pass per architecture;
//! - [`context`]: KV cache, batches and logits of one conversation over a shared model;
//! - [`sampling`]: llama.cpp's samplers and sampler chain, seeded and reproducible;
//! - [`synth`]: writes BitNet-shaped models with random ternary weights.

pub mod context;
pub mod error;
pub mod gguf;
pub mod kernels;
pub mod log;
pub mod model;
pub mod quant;
pub mod sampling;
pub mod synth;
pub mod tokenizer;

pub use context::{Context, ContextParams};
pub use error::{Error, Result};
pub use model::{Model, ModelParams};
