//! The `bitnet` command line: inspect GGUF files, tokenize text, synthesize models.
//! Every error is one `error: ...` line on standard error and exit code 1.

mod args;
mod bench;
mod chat;
mod generate;
mod inspect;
mod logits;
mod run;
mod synth;
mod tokenize;

use std::path::PathBuf;
use std::process::ExitCode;

use args::Args;

pub type CliResult = Result<(), Box<dyn std::error::Error>>;

const USAGE: &str = "usage: bitnet <command> [options]

commands:
  run -p PROMPT [options]
                        generate text from a prompt (streams to standard output)
  chat [options]        chat interactively (one message per line on standard input)
  inspect [FILE]        print a GGUF file's metadata and tensor table
  tokenize [options] TEXT
                        print the token ids of TEXT as a JSON array
  synth [options]       write a BitNet model with random ternary weights
  logits [options]      dump prompt and decode logits in the reference fixtures' format
  bench [options]       prompt and decode speed (llama-bench style), optionally vs bitnet.cpp
  help [COMMAND]        show help for a command

Run 'bitnet help COMMAND' for a command's options.";

/// The small model shipped in the repository, used when no model is given.
const SHIPPED_MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/models/i2s-b158.gguf"
);

/// The shipped small model's path, announced on standard error.
pub fn default_model() -> Result<PathBuf, String> {
    let path = PathBuf::from(SHIPPED_MODEL);
    if !path.is_file() {
        return Err(format!(
            "no model given, and the shipped small model is not at {SHIPPED_MODEL}; pass a GGUF file"
        ));
    }
    eprintln!(
        "no model given: using the small model shipped in the repository, {SHIPPED_MODEL} \
         (4 layers, random ternary weights, 4352-token Llama-3 vocabulary)"
    );
    Ok(path)
}

fn help(topic: Option<&str>) -> Result<String, String> {
    Ok(match topic {
        None => USAGE.into(),
        Some("run") => run::usage(),
        Some("chat") => chat::usage(),
        Some(t) => help_static(t)?.into(),
    })
}

fn help_static(topic: &str) -> Result<&'static str, String> {
    Ok(match topic {
        "inspect" => inspect::USAGE,
        "tokenize" => tokenize::USAGE,
        "synth" => synth::USAGE,
        "logits" => logits::USAGE,
        "bench" => bench::USAGE,
        other => return Err(format!("unknown command '{other}'")),
    })
}

/// Arguments of `run` and `chat`, with llama.cpp's short options.
fn generation_args(argv: Vec<String>) -> Args {
    Args::new(argv)
        .alias("m", "model")
        .alias("p", "prompt")
        .alias("n", "n-predict")
        .alias("t", "threads")
        .alias("s", "seed")
        .alias("c", "ctx")
}

fn run(mut argv: Vec<String>) -> CliResult {
    if argv.is_empty() {
        return Err("no command given (try 'bitnet help')".into());
    }
    let command = argv.remove(0);
    let wants_help = argv.iter().any(|a| a == "--help" || a == "-h");
    match command.as_str() {
        "help" | "--help" | "-h" => {
            println!("{}", help(argv.first().map(String::as_str))?);
            Ok(())
        }
        "--version" | "-V" => {
            println!("bitnet {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        c if wants_help => {
            println!("{}", help(Some(c))?);
            Ok(())
        }
        "inspect" => inspect::run(Args::new(argv)),
        "tokenize" => tokenize::run(Args::new(argv)),
        "synth" => synth::run(Args::new(argv)),
        "logits" => logits::run(Args::new(argv)),
        "bench" => bench::run(Args::new(argv)),
        "run" => run::run(generation_args(argv)),
        "chat" => chat::run(generation_args(argv)),
        other => Err(format!("unknown command '{other}' (try 'bitnet help')").into()),
    }
}

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Always exactly one line, whatever the message holds.
            let message = e.to_string().lines().collect::<Vec<_>>().join("; ");
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}
