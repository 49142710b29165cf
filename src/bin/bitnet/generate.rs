//! Shared generation loop for `bitnet run` and `bitnet chat`: sampler options, feeding a
//! prompt in n_batch pieces, and streaming the reply.

use std::io::Write;
use std::time::{Duration, Instant};

use std::path::PathBuf;
use std::sync::Arc;

use bitnet::sampling::{rng, SamplerChain, SamplerParams};
use bitnet::{Context, ContextParams, LmHead, Model, ModelParams};

use crate::args::Args;
use crate::default_model;

pub const SAMPLING_USAGE: &str = "  --temp T          temperature (default 0.8; 0 = greedy)
  --top-k K         keep the K most likely tokens (default 40; 0 = off)
  --top-p P         nucleus sampling (default 0.95; 1 = off)
  --min-p P         drop tokens below P x the best probability (default 0.05; 0 = off)
  --repeat-penalty R  penalise the last 64 tokens (default 1 = off)
  --seed S          random seed (default: random, printed with the statistics)
  --threads T       worker threads (default: physical cores)
  --ctx N           context size in tokens (default: the model's, at most 4096)
  --lm-head H       exact (default: the reference's LM head, bit for bit) or int8
                    (token_embd requantized to int8 at load: faster decode, logits
                    slightly different)";

/// The options `run` and `chat` share: model, threads, context size and sampling.
pub struct Setup {
    model: Option<String>,
    threads: u32,
    n_ctx: Option<u32>,
    lm_head: LmHead,
    pub sampling: SamplerParams,
}

impl Setup {
    pub fn from_args(args: &mut Args) -> Result<Setup, String> {
        Ok(Setup {
            model: args.value("model")?,
            threads: args.parsed("threads")?.unwrap_or(0),
            n_ctx: args.parsed("ctx")?,
            lm_head: args.lm_head()?,
            sampling: sampler_params(args)?,
        })
    }

    /// Loads the model (the shipped one when none was given) and makes a context and a
    /// sampler chain. The context size is `--ctx`, or the model's training context capped
    /// at 4096 (a long-context model's KV cache would otherwise be large for a quick run).
    pub fn open(&self) -> Result<(Arc<Model>, Context, SamplerChain), Box<dyn std::error::Error>> {
        let path: PathBuf = match &self.model {
            Some(m) => m.into(),
            None => default_model()?,
        };
        let mparams = ModelParams {
            lm_head: self.lm_head,
            ..ModelParams::default()
        };
        let model = Arc::new(Model::load(&path, &mparams, None)?);
        let cparams = ContextParams {
            n_ctx: self
                .n_ctx
                .unwrap_or_else(|| model.hparams().n_ctx_train.min(4096) as u32),
            n_threads: self.threads,
            ..ContextParams::default()
        };
        let ctx = Context::new(model.clone(), cparams)?;
        Ok((model, ctx, SamplerChain::from_params(&self.sampling)))
    }
}

/// Sampler settings from the command line, with the seed resolved so it can be printed.
fn sampler_params(args: &mut Args) -> Result<SamplerParams, String> {
    let mut p = SamplerParams::default();
    if let Some(t) = args.parsed("temp")? {
        p.temp = t;
    }
    if let Some(k) = args.parsed("top-k")? {
        p.top_k = k;
    }
    if let Some(v) = args.parsed("top-p")? {
        p.top_p = v;
    }
    if let Some(v) = args.parsed("min-p")? {
        p.min_p = v;
    }
    if let Some(v) = args.parsed("repeat-penalty")? {
        p.penalty_repeat = v;
    }
    p.seed = rng::resolve_seed(args.parsed("seed")?.unwrap_or(rng::DEFAULT_SEED));
    Ok(p)
}

/// Timings of one generation.
#[derive(Default)]
pub struct Stats {
    pub prompt_tokens: usize,
    pub prompt_time: Duration,
    pub gen_tokens: usize,
    pub gen_time: Duration,
}

impl Stats {
    pub fn report(&self, seed: Option<u32>) {
        let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
        eprintln!(
            "\nprompt: {} tokens, {:.1} tok/s | decode: {} tokens, {:.1} tok/s{}",
            self.prompt_tokens,
            rate(self.prompt_tokens, self.prompt_time),
            self.gen_tokens,
            rate(self.gen_tokens, self.gen_time),
            seed.map_or(String::new(), |s| format!(" | seed {s}"))
        );
    }
}

/// Evaluates `tokens` after what the context holds, in pieces of n_batch; logits of the last
/// token are kept.
pub fn feed(ctx: &mut Context, tokens: &[u32], sampler: &mut SamplerChain) -> bitnet::Result<()> {
    let n_batch = ctx.params().n_batch as usize;
    for piece in tokens.chunks(n_batch) {
        ctx.decode(piece, None, None)?;
    }
    for &t in tokens {
        sampler.accept(t);
    }
    Ok(())
}

/// Samples up to `max_tokens` tokens after the last decode, streaming each piece to `out`,
/// and stops after an end-of-generation token (not printed) or when the context is full.
/// Returns the generated ids.
pub fn generate(
    model: &Model,
    ctx: &mut Context,
    sampler: &mut SamplerChain,
    max_tokens: usize,
    out: &mut impl Write,
    stats: &mut Stats,
) -> Result<Vec<u32>, Box<dyn std::error::Error>> {
    let tok = model.tokenizer();
    let mut ids = Vec::new();
    let start = Instant::now();
    while ids.len() < max_tokens {
        let logits = ctx
            .logits(ctx.n_last_batch() - 1)
            .ok_or("no logits to sample from")?;
        let id = sampler.sample(logits)?;
        ids.push(id);
        if tok.is_eog(id) {
            break;
        }
        out.write_all(&tok.token_to_piece(id, false)?)?;
        out.flush()?;
        if ctx.n_used() >= ctx.n_ctx() {
            eprintln!("\n(context full: {} tokens)", ctx.n_ctx());
            break;
        }
        ctx.decode(&[id], None, None)?;
    }
    stats.gen_tokens += ids.len();
    stats.gen_time += start.elapsed();
    Ok(ids)
}
