//! [`SamplerChain`] (llama.cpp's sampler chain and `llama_sampler_sample`) and the
//! [`SamplerParams`] preset that builds llama.cpp's default chain.

use std::fmt;

use super::{
    Candidates, Dist, Greedy, MinP, Penalties, Sampler, TempExt, TopK, TopP, Typical, DEFAULT_SEED,
};
use crate::{Error, Result};

/// Samplers applied in order to one candidate list.
///
/// The chain owns the list it samples with and refills it in place, so after the first
/// [`sample`](Self::sample) with a given vocabulary size no further call allocates (the
/// samplers here need no scratch memory; [`Penalties`] reserves its window up front, up
/// to 65,536 tokens).
#[derive(Clone, Default)]
pub struct SamplerChain {
    samplers: Vec<Box<dyn Sampler>>,
    cands: Candidates,
}

impl SamplerChain {
    /// An empty chain; [`sample`](Self::sample) needs a selector ([`Greedy`], [`Dist`])
    /// at the end.
    pub fn new() -> Self {
        SamplerChain::default()
    }

    /// llama.cpp's default chain (`common_sampler_init` with the default sampler order):
    /// penalties, top-k, typical, top-p, min-p, then temp-ext and dist, each configured
    /// from `params` (disabled ones included as `?` no-ops, as there).
    ///
    /// When [`is_greedy`](SamplerParams::is_greedy), temp-ext and dist are replaced by
    /// [`Greedy`]: llama.cpp's temp-ext then keeps only the best candidate for dist to
    /// draw, which is the same token, but its dist still consumes a random number.
    pub fn from_params(params: &SamplerParams) -> Self {
        let p = params;
        let mut chain = SamplerChain::new();
        chain.add(Box::new(Penalties::new(
            p.penalty_last_n,
            p.penalty_repeat,
            p.penalty_freq,
            p.penalty_present,
        )));
        chain.add(Box::new(TopK(p.top_k)));
        chain.add(Box::new(Typical {
            p: p.typical_p,
            min_keep: p.min_keep,
        }));
        chain.add(Box::new(TopP {
            p: p.top_p,
            min_keep: p.min_keep,
        }));
        chain.add(Box::new(MinP {
            p: p.min_p,
            min_keep: p.min_keep,
        }));
        if p.is_greedy() {
            chain.add(Box::new(Greedy));
        } else {
            chain.add(Box::new(TempExt {
                temp: p.temp,
                delta: p.dynatemp_range,
                exponent: p.dynatemp_exponent,
            }));
            chain.add(Box::new(Dist::new(p.seed)));
        }
        chain
    }

    /// Appends a sampler.
    pub fn add(&mut self, sampler: Box<dyn Sampler>) {
        self.samplers.push(sampler);
    }

    pub fn len(&self) -> usize {
        self.samplers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samplers.is_empty()
    }

    /// The `i`-th sampler.
    pub fn get(&self, i: usize) -> Option<&dyn Sampler> {
        self.samplers.get(i).map(|s| s.as_ref())
    }

    /// The `i`-th sampler, mutably (to accept or reset it alone).
    pub fn get_mut(&mut self, i: usize) -> Option<&mut (dyn Sampler + 'static)> {
        self.samplers.get_mut(i).map(|s| s.as_mut())
    }

    /// Removes and returns the `i`-th sampler.
    pub fn remove(&mut self, i: usize) -> Option<Box<dyn Sampler>> {
        (i < self.samplers.len()).then(|| self.samplers.remove(i))
    }

    /// Samples one token from `logits` (indexed by token id) and accepts it, like
    /// llama.cpp's `llama_sampler_sample`: fills the candidate list, applies every
    /// sampler, then calls [`accept`](Self::accept) with the selected token.
    ///
    /// NaN logits count as `-inf`. Errors: empty `logits`, more than 2^32 of them, or a
    /// chain that selects nothing (no [`Greedy`]/[`Dist`] at the end), all
    /// [`Error::InvalidArgument`].
    pub fn sample(&mut self, logits: &[f32]) -> Result<u32> {
        if logits.is_empty() {
            return Err(Error::InvalidArgument(
                "cannot sample from an empty list of logits".into(),
            ));
        }
        if u32::try_from(logits.len() - 1).is_err() {
            return Err(Error::InvalidArgument(format!(
                "{} logits: token ids must fit in 32 bits",
                logits.len()
            )));
        }
        self.cands.from_logits_into(logits);
        for s in &mut self.samplers {
            s.apply(&mut self.cands);
        }
        let token = self.cands.selected_token().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "sampler chain [{}] selected no token; end it with greedy or dist",
                self.names()
            ))
        })?;
        self.accept(token);
        Ok(token)
    }

    /// Applies every sampler in order to `cands` (llama.cpp's `llama_sampler_apply` on a
    /// chain); does not accept anything.
    pub fn apply(&mut self, cands: &mut Candidates) {
        for s in &mut self.samplers {
            s.apply(cands);
        }
    }

    /// Passes `token` to every sampler's history (done by [`sample`](Self::sample);
    /// call it directly for tokens that were not sampled, e.g. the prompt).
    pub fn accept(&mut self, token: u32) {
        for s in &mut self.samplers {
            s.accept(token);
        }
    }

    /// Resets every sampler: histories cleared, random streams restarted from their
    /// seed (a new random seed for [`DEFAULT_SEED`]).
    pub fn reset(&mut self) {
        for s in &mut self.samplers {
            s.reset();
        }
    }

    /// The candidate list as the last [`sample`](Self::sample) left it (its probabilities
    /// are those computed by the last sampler that computed any).
    pub fn candidates(&self) -> &Candidates {
        &self.cands
    }

    fn names(&self) -> String {
        let names: Vec<&str> = self.samplers.iter().map(|s| s.name()).collect();
        names.join(", ")
    }
}

impl Sampler for SamplerChain {
    fn name(&self) -> &str {
        "chain"
    }

    fn apply(&mut self, cands: &mut Candidates) {
        SamplerChain::apply(self, cands);
    }

    fn accept(&mut self, token: u32) {
        SamplerChain::accept(self, token);
    }

    fn reset(&mut self) {
        SamplerChain::reset(self);
    }

    fn clone_box(&self) -> Box<dyn Sampler> {
        Box::new(self.clone())
    }
}

impl fmt::Debug for SamplerChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SamplerChain[{}]", self.names())
    }
}

/// The usual sampling settings, with llama.cpp's `common_params_sampling` defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerParams {
    /// Seed for [`Dist`]; [`DEFAULT_SEED`] (the default) picks a random one.
    pub seed: u32,
    /// Temperature, 0.8; `<= 0` samples greedily (see [`is_greedy`](Self::is_greedy)).
    pub temp: f32,
    /// Dynamic temperature range (`TempExt::delta`), 0 = off.
    pub dynatemp_range: f32,
    /// Dynamic temperature exponent, 1.
    pub dynatemp_exponent: f32,
    /// Top-k, 40; `<= 0` = off.
    pub top_k: i32,
    /// Top-p, 0.95; `>= 1` = off.
    pub top_p: f32,
    /// Min-p, 0.05; `<= 0` = off.
    pub min_p: f32,
    /// Typical-p, 1 = off.
    pub typical_p: f32,
    /// Minimum candidates top-p, min-p and typical keep, 0.
    pub min_keep: usize,
    /// Penalty window in accepted tokens, 64; 0 = off. Negative values count as 0, as in
    /// `llama_sampler_init_penalties` (this llama.cpp version gives -1 no other meaning).
    pub penalty_last_n: i32,
    /// Repetition penalty, 1 = off.
    pub penalty_repeat: f32,
    /// Frequency penalty, 0 = off.
    pub penalty_freq: f32,
    /// Presence penalty, 0 = off.
    pub penalty_present: f32,
}

impl SamplerParams {
    /// Whether the temperature leaves only the best candidate: `temp <= 0` and, with a
    /// dynamic range, even `temp + dynatemp_range <= 0`.
    pub fn is_greedy(&self) -> bool {
        self.temp <= 0.0 && (self.dynatemp_range <= 0.0 || self.temp + self.dynatemp_range <= 0.0)
    }
}

impl Default for SamplerParams {
    fn default() -> Self {
        SamplerParams {
            seed: DEFAULT_SEED,
            temp: 0.8,
            dynatemp_range: 0.0,
            dynatemp_exponent: 1.0,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            typical_p: 1.0,
            min_keep: 0,
            penalty_last_n: 64,
            penalty_repeat: 1.0,
            penalty_freq: 0.0,
            penalty_present: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::Temp;

    fn names(c: &SamplerChain) -> Vec<String> {
        (0..c.len())
            .map(|i| c.get(i).unwrap().name().to_string())
            .collect()
    }

    #[test]
    fn default_params_build_llama_cpp_chain() {
        let c = SamplerChain::from_params(&SamplerParams::default());
        let expect = [
            "?penalties",
            "top-k",
            "?typical",
            "top-p",
            "min-p",
            "temp-ext",
            "dist",
        ];
        assert_eq!(names(&c), expect);
        assert_eq!(
            format!("{c:?}"),
            format!("SamplerChain[{}]", expect.join(", "))
        );
    }

    #[test]
    fn non_positive_temperature_builds_greedy() {
        let mut p = SamplerParams {
            temp: 0.0,
            ..SamplerParams::default()
        };
        assert_eq!(
            names(&SamplerChain::from_params(&p)).last().unwrap(),
            "greedy"
        );
        p.dynatemp_range = 0.5;
        assert!(!p.is_greedy());
        assert_eq!(
            names(&SamplerChain::from_params(&p)).last().unwrap(),
            "dist"
        );
        p.temp = -1.0;
        assert!(p.is_greedy());
    }

    #[test]
    fn errors() {
        let mut c = SamplerChain::new();
        c.add(Box::new(Temp(0.5)));
        assert!(matches!(c.sample(&[]), Err(Error::InvalidArgument(_))));
        let e = c.sample(&[1.0, 2.0]).unwrap_err();
        assert!(e.to_string().contains("[temp]"), "{e}");
    }

    #[test]
    fn get_remove_and_nested_chains() {
        let mut inner = SamplerChain::new();
        inner.add(Box::new(TopK(1)));
        let mut c = SamplerChain::new();
        c.add(Box::new(inner));
        c.add(Box::new(Greedy));
        assert!(c.get(2).is_none() && c.remove(2).is_none());
        assert_eq!(c.get(0).unwrap().name(), "chain");
        assert_eq!(c.sample(&[0.0, 3.0, 1.0]).unwrap(), 1);
        assert_eq!(c.candidates().len(), 1);
        let removed = c.remove(0).unwrap();
        assert_eq!((removed.name(), c.len()), ("chain", 1));
        assert_eq!(c.sample(&[0.0, 3.0, 1.0]).unwrap(), 1);
        assert_eq!(c.candidates().len(), 3);
        assert!(c.get_mut(0).is_some());
    }
}
