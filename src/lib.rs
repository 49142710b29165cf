//! libbitnet: a CPU inference engine for BitNet b1.58 ternary language models.
//!
//! Layers, each using only the ones listed before it:
//! - [`gguf`]: GGUF files (validating reader over a memory map, streaming writer, the
//!   ggml type table);
//! - [`quant`]: one module per weight format (scalar reference dequantizers and packers);
//! - [`tokenizer`]: the tokenizer described by a GGUF vocabulary;
//! - [`kernels`]: matrix kernels behind one dispatch table (scalar reference, x86-64
//!   AVX2 and AVX-512 tables chosen at run time);
//! - [`model`]: hyper-parameters, weight binding and the forward pass per architecture;
//! - [`context`]: KV cache, batches and logits of one conversation over a shared model;
//! - [`sampling`]: llama.cpp's samplers and sampler chain, seeded and reproducible;
//! - [`synth`]: writes BitNet-shaped models with random ternary weights;
//! - [`ffi`]: the C API (`include/bitnet.h`), translation over the above.
//!
//! Generating text (here with the small model the repository ships for tests):
//!
//! ```
//! use std::sync::Arc;
//! use bitnet::sampling::{SamplerChain, SamplerParams};
//! use bitnet::{Context, ContextParams, Model, ModelParams};
//!
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/models/i2s-b158.gguf");
//! let model = Arc::new(Model::load(path, &ModelParams::default(), None)?);
//! let mut ctx = Context::new(model.clone(), ContextParams::default())?;
//! let mut sampler = SamplerChain::from_params(&SamplerParams { seed: 42, ..Default::default() });
//! let tok = model.tokenizer();
//! ctx.decode(&tok.tokenize("The capital of France is", true, false)?, None, None)?;
//! let mut text = Vec::new();
//! for _ in 0..8 {
//!     let id = sampler.sample(ctx.last_logits().unwrap())?;
//!     if tok.is_eog(id) {
//!         break;
//!     }
//!     text.extend(tok.token_to_piece(id, false)?);
//!     ctx.decode(&[id], None, None)?;
//! }
//! # Ok::<(), bitnet::Error>(())
//! ```

pub mod context;
pub mod error;
pub mod ffi;
pub mod gguf;
pub mod kernels;
pub mod log;
pub mod model;
pub mod quant;
pub mod sampling;
pub mod synth;
mod sys;
pub mod tokenizer;

pub use context::{Context, ContextParams};
pub use error::{Error, Result};
pub use model::{LmHead, Model, ModelParams};
