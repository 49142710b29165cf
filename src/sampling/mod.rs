//! Token sampling: llama.cpp's samplers (`src/llama-sampler.cpp` @ 0c1e57098) and its
//! sampler chain, with the same edge cases, arithmetic and random numbers, so that a seed
//! gives llama.cpp's tokens (up to the order of exactly equal logits, which llama.cpp
//! leaves unspecified and which is fixed here: see [`cmp_desc`]).
//!
//! A [`SamplerChain`] turns logits into [`Candidates`], runs each [`Sampler`] on them in
//! turn, and returns the token the last one selected:
//!
//! ```
//! use bitnet::sampling::{SamplerChain, SamplerParams};
//!
//! let params = SamplerParams { seed: 42, ..SamplerParams::default() };
//! let mut chain = SamplerChain::from_params(&params);
//! let token = chain.sample(&[0.5, 2.0, -1.0, 1.5])?;
//! assert!(token < 4);
//! # Ok::<(), bitnet::Error>(())
//! ```
//!
//! Filters ([`TopK`], [`TopP`], [`MinP`], [`Typical`]) shrink the list, transforms
//! ([`Temp`], [`TempExt`], [`Penalties`]) rewrite logits, and selectors ([`Greedy`],
//! [`Dist`]) set [`Candidates::selected`]. Each keeps llama.cpp's disabled values
//! (`k <= 0`, `p >= 1`, ...) as no-ops whose [`name`](Sampler::name) starts with `?`,
//! the name of llama.cpp's empty stand-in.

mod candidates;
mod chain;
mod min_p;
mod penalties;
pub mod rng;
mod select;
mod temp;
mod top_k;
mod top_p;
mod typical;

pub use candidates::{cmp_desc, Candidates, TokenData};
pub use chain::{SamplerChain, SamplerParams};
pub use min_p::MinP;
pub use penalties::Penalties;
pub use rng::DEFAULT_SEED;
pub use select::{Dist, Greedy};
pub use temp::{Temp, TempExt};
pub use top_k::TopK;
pub use top_p::TopP;
pub use typical::Typical;

/// One step of a sampler chain (llama.cpp's `llama_sampler_i`).
pub trait Sampler: Send {
    /// llama.cpp's name for the sampler (`"top-k"`, `"dist"`, ...; `"?top-k"` when the
    /// parameters make it a no-op).
    fn name(&self) -> &str;

    /// Transforms the candidates: filter, rewrite logits, or select a token.
    fn apply(&mut self, cands: &mut Candidates);

    /// Records the token the chain produced (for samplers with history).
    fn accept(&mut self, _token: u32) {}

    /// Forgets history and restarts random streams.
    fn reset(&mut self) {}

    /// A copy including the current state (history, random stream position).
    fn clone_box(&self) -> Box<dyn Sampler>;
}

impl Clone for Box<dyn Sampler> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}
