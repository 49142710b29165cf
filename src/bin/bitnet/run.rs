//! `bitnet run`: generate text from a prompt, streaming it to standard output.

use std::time::Instant;

use crate::args::Args;
use crate::generate::{self, Setup, Stats};
use crate::CliResult;

pub fn usage() -> String {
    format!(
        "bitnet run [--model FILE] -p PROMPT [-n N] [sampling options]
  Generates up to N tokens (default 128) after PROMPT and streams the text to standard
  output; prompt and decode speed go to standard error. The prompt gets the model's BOS
  token, and special-token text in it (<|eot_id|>) is parsed. Stops early at an
  end-of-generation token. Without --model, uses the small model shipped in the
  repository (random weights: the text is noise).
{}",
        generate::SAMPLING_USAGE
    )
}

pub fn run(mut args: Args) -> CliResult {
    let prompt = args
        .value("prompt")?
        .ok_or("a prompt is required (-p PROMPT)")?;
    let n_predict: usize = args.parsed("n-predict")?.unwrap_or(128);
    let setup = Setup::from_args(&mut args)?;
    args.finish()?;

    let (model, mut ctx, mut sampler) = setup.open()?;
    let ids = model.tokenizer().tokenize(&prompt, true, true)?;
    if ids.is_empty() {
        return Err("the prompt has no tokens".into());
    }
    if ids.len() >= ctx.n_ctx() {
        return Err(format!(
            "the prompt has {} tokens; the context holds {}",
            ids.len(),
            ctx.n_ctx()
        )
        .into());
    }
    let mut stats = Stats {
        prompt_tokens: ids.len(),
        ..Stats::default()
    };
    let start = Instant::now();
    generate::feed(&mut ctx, &ids, &mut sampler)?;
    stats.prompt_time = start.elapsed();
    let mut out = std::io::stdout().lock();
    generate::generate(
        &model,
        &mut ctx,
        &mut sampler,
        n_predict,
        &mut out,
        &mut stats,
    )?;
    stats.report((!setup.sampling.is_greedy()).then_some(setup.sampling.seed));
    Ok(())
}
