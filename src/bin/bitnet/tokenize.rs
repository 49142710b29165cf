//! `bitnet tokenize`: the token ids of a text as a JSON array.

use std::io::Read;
use std::path::PathBuf;

use bitnet::gguf::GgufFile;
use bitnet::tokenizer::{PreTokenizer, Tokenizer, TokenizerOptions};

use crate::args::Args;
use crate::{default_model, CliResult};

pub const USAGE: &str = "bitnet tokenize [--model FILE] [--add-special] [--parse-special]
                [--pre auto|default|llama-bpe] (TEXT | --file PATH)
  Prints the token ids of TEXT (or of the file's contents; --file - reads standard
  input) as a JSON array.
  --add-special     add BOS/EOS as the vocabulary asks (llama_tokenize's add_special)
  --parse-special   turn special-token text such as <|eot_id|> into its id
  --pre             pre-tokenizer: auto (default: the file's tokenizer.ggml.pre, or the
                    Llama-3 split when the key is missing from a Llama-3 vocabulary),
                    default (llama.cpp's fallback split, as the references use for the
                    official 2B-4T file), llama-bpe (the Llama-3 split)
  Without --model, uses the small model shipped in the repository.";

pub fn run(mut args: Args) -> CliResult {
    let model = args.value("model")?;
    let file = args.value("file")?;
    let add_special = args.flag("add-special");
    let parse_special = args.flag("parse-special");
    let pre: PreTokenizer = match args.value("pre")? {
        None => PreTokenizer::Auto,
        Some(name) => name.parse()?,
    };
    let text = match (file, args.positional()?) {
        (Some(_), Some(_)) => return Err("give either TEXT or --file, not both".into()),
        (None, None) => return Err("no text given (TEXT or --file PATH)".into()),
        (None, Some(text)) => text,
        (Some(path), None) => read_text(&path)?,
    };
    args.finish()?;

    let path: PathBuf = match model {
        Some(m) => m.into(),
        None => default_model()?,
    };
    let gguf = GgufFile::open(&path)?;
    let tokenizer = Tokenizer::from_gguf(&gguf, &TokenizerOptions { pre })?;
    let ids = tokenizer.tokenize(&text, add_special, parse_special)?;
    let list: Vec<String> = ids.iter().map(u32::to_string).collect();
    println!("[{}]", list.join(", "));
    Ok(())
}

fn read_text(path: &str) -> Result<String, String> {
    let mut bytes = Vec::new();
    let read = if path == "-" {
        std::io::stdin().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes))
    };
    read.map_err(|e| format!("cannot read {path}: {e}"))?;
    String::from_utf8(bytes).map_err(|_| format!("{path} is not valid UTF-8"))
}
