//! `bitnet logits`: dump logits in the reference fixtures' formats, for parity checks.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use bitnet::{Context, ContextParams, Model, ModelParams};

use crate::args::Args;
use crate::{default_model, CliResult};

pub const USAGE: &str = "bitnet logits [--model FILE] --prompt-ids 1,2,3 --steps N [--feed-ids g0,g1,...]
              [--threads T] [--ctx N] [--lm-head exact|int8] --out PREFIX
  Evaluates the prompt as one batch (logits for every row) and then N single-token greedy
  steps, and writes, in the formats of the reference fixtures:
    PREFIX.prompt-logits.f32   [n_prompt][n_vocab] little-endian float32
    PREFIX.decode-logits.f32   [N][n_vocab]: step s feeds the argmax of the previous row
                               (ties: lowest id), or g_s from --feed-ids when given
    PREFIX.greedy.json         {\"prompt\": {\"ids\": [...]}, \"greedy\": {\"generated_ids\": [...]}}
  generated_ids holds the argmaxes g_0..g_N (the free-running greedy path when --feed-ids is
  not given). --lm-head int8 computes the logits with the 8-bit LM head (see 'bitnet help
  run'). Without --model, uses the small model shipped in the repository.";

pub fn run(mut args: Args) -> CliResult {
    let model = args.value("model")?;
    let prompt = parse_ids(
        &args
            .value("prompt-ids")?
            .ok_or("--prompt-ids is required")?,
    )?;
    let steps: usize = args.parsed("steps")?.ok_or("--steps is required")?;
    let feed = match args.value("feed-ids")? {
        Some(s) => Some(parse_ids(&s)?),
        None => None,
    };
    let threads: u32 = args.parsed("threads")?.unwrap_or(0);
    let n_ctx: u32 = args.parsed("ctx")?.unwrap_or(0);
    let lm_head = args.lm_head()?;
    let out: PathBuf = args.value("out")?.ok_or("--out is required")?.into();
    args.finish()?;
    if prompt.is_empty() {
        return Err("--prompt-ids is empty".into());
    }
    if let Some(f) = &feed {
        if f.len() < steps {
            return Err(format!("--feed-ids has {} ids but --steps is {steps}", f.len()).into());
        }
    }
    let path: PathBuf = match model {
        Some(m) => m.into(),
        None => default_model()?,
    };
    let mparams = ModelParams {
        lm_head,
        ..ModelParams::default()
    };
    let model = Arc::new(Model::load(&path, &mparams, None)?);
    let n_vocab = model.hparams().n_vocab;
    let params = ContextParams {
        n_ctx,
        n_threads: threads,
        n_batch: (prompt.len() as u32).max(512),
        ..ContextParams::default()
    };
    let mut ctx = Context::new(model, params)?;

    let all = vec![true; prompt.len()];
    ctx.decode(&prompt, None, Some(&all))?;
    let mut prompt_logits = Vec::with_capacity(prompt.len() * n_vocab);
    for i in 0..prompt.len() {
        prompt_logits.extend_from_slice(ctx.logits(i).ok_or("missing prompt logits")?);
    }
    let mut generated = vec![argmax(&prompt_logits[(prompt.len() - 1) * n_vocab..])];
    let mut decode_logits = Vec::with_capacity(steps * n_vocab);
    for s in 0..steps {
        let input = feed.as_ref().map_or(generated[s], |f| f[s]);
        ctx.decode(&[input], None, None)?;
        let row = ctx.logits(0).ok_or("missing decode logits")?;
        decode_logits.extend_from_slice(row);
        generated.push(argmax(row));
    }
    write_f32(&with_suffix(&out, "prompt-logits.f32"), &prompt_logits)?;
    write_f32(&with_suffix(&out, "decode-logits.f32"), &decode_logits)?;
    let json = format!(
        "{{\"prompt\": {{\"ids\": {}}}, \"greedy\": {{\"generated_ids\": {}}}}}\n",
        json_list(&prompt),
        json_list(&generated)
    );
    std::fs::write(with_suffix(&out, "greedy.json"), json)?;
    Ok(())
}

/// Index of the largest value; the lowest index among equal maxima.
pub fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

fn parse_ids(s: &str) -> Result<Vec<u32>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.trim()
                .parse::<u32>()
                .map_err(|_| format!("'{p}' is not a token id"))
        })
        .collect()
}

fn with_suffix(prefix: &std::path::Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(suffix);
    PathBuf::from(s)
}

fn write_f32(path: &std::path::Path, values: &[f32]) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for v in values {
        f.write_all(&v.to_le_bytes())?;
    }
    f.flush()
}

fn json_list(ids: &[u32]) -> String {
    let items: Vec<String> = ids.iter().map(u32::to_string).collect();
    format!("[{}]", items.join(", "))
}
