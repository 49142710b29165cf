//! `bitnet chat`: an interactive conversation using the model's chat template.

use std::io::{BufRead, Write};
use std::time::Instant;

use bitnet::tokenizer::{ChatMessage, ChatTemplate};

use crate::args::Args;
use crate::generate::{self, Setup, Stats};
use crate::CliResult;

pub fn usage() -> String {
    format!(
        "bitnet chat [--model FILE] [--system TEXT] [--template NAME] [-n N] [sampling options]
  Reads one user message per line from standard input and streams the assistant's reply
  (at most N tokens per turn, default 512), stopping at an end-of-generation token.
  The conversation is formatted with the chat template the file names (--template
  bitnet|bitnet-cpp|llama3 overrides it; without one in the file, bitnet). Ends at end
  of input. Without --model, uses the small model shipped in the repository.
{}",
        generate::SAMPLING_USAGE
    )
}

pub fn run(mut args: Args) -> CliResult {
    let system = args.value("system")?;
    let template = args.value("template")?;
    let n_predict: usize = args.parsed("n-predict")?.unwrap_or(512);
    let setup = Setup::from_args(&mut args)?;
    args.finish()?;

    let (model, mut ctx, mut sampler) = setup.open()?;
    let template = match template {
        Some(name) => ChatTemplate::from_name(&name)
            .ok_or_else(|| format!("unknown template '{name}' (bitnet, bitnet-cpp, llama3)"))?,
        None => match model.chat_template() {
            Some(t) => ChatTemplate::resolve(t)?,
            None => ChatTemplate::Bitnet,
        },
    };
    eprintln!("chat template: {template}; one message per line, end of input to quit");
    let tok = model.tokenizer();

    // (role, content) of every turn so far; the template is re-rendered each turn and only
    // the text past what the context already holds is tokenized and fed.
    let mut turns: Vec<(String, String)> = system
        .into_iter()
        .map(|s| ("system".to_string(), s))
        .collect();
    let mut fed_len = 0;
    let mut stats = Stats::default();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        turns.push(("user".into(), line));
        let render = |turns: &[(String, String)], add: bool| {
            let msgs: Vec<ChatMessage> =
                turns.iter().map(|(r, c)| ChatMessage::new(r, c)).collect();
            template.apply(&msgs, add)
        };
        let prompt = render(&turns, true);
        let new_ids = tok.tokenize(&prompt[fed_len..], fed_len == 0, true)?;
        if ctx.n_used() + new_ids.len() >= ctx.n_ctx() {
            return Err(format!(
                "the conversation no longer fits in the context ({} tokens)",
                ctx.n_ctx()
            )
            .into());
        }
        let start = Instant::now();
        generate::feed(&mut ctx, &new_ids, &mut sampler)?;
        stats.prompt_tokens += new_ids.len();
        stats.prompt_time += start.elapsed();
        let reply = generate::generate(
            &model,
            &mut ctx,
            &mut sampler,
            n_predict,
            &mut out,
            &mut stats,
        )?;
        writeln!(out)?;
        // The reply is in the context as generated. Templates that end an assistant turn
        // with the end-of-turn token get the sampled one fed back, so the context holds
        // exactly the rendered conversation; the next turn then feeds only the new text.
        if let Some(&last) = reply.last() {
            if tok.is_eog(last) && template != ChatTemplate::BitnetCpp {
                ctx.decode(&[last], None, None)?;
            }
        }
        let content: Vec<u32> = reply.iter().copied().filter(|&t| !tok.is_eog(t)).collect();
        let text = tok.detokenize(&content, &Default::default())?;
        turns.push((
            "assistant".into(),
            String::from_utf8_lossy(&text).into_owned(),
        ));
        fed_len = render(&turns, false).len();
    }
    stats.report((!setup.sampling.is_greedy()).then_some(setup.sampling.seed));
    Ok(())
}
