//! Byte-level BPE (`tokenizer.ggml.model = "gpt2"`) on the `tokenizers` crate: a
//! pre-tokenizer that reproduces llama.cpp's regex split, GPT-2 byte-to-character
//! mapping, then the BPE model built from the GGUF tokens and merges (`ignore_merges`
//! as llama.cpp sets it: on for the Llama-3 split).
//!
//! The splits, as `tokenizers` pre-tokenizers (each `Split` keeps matches and the gaps
//! between them as pieces, and each one re-splits every piece the previous one made,
//! which is how llama.cpp's `unicode_regex_split` chains its regex list):
//! - Llama-3: one `Split` with the Llama-3 regex (llama.cpp runs it with a hand-written
//!   splitter that gives the same pieces);
//! - default: llama.cpp's four regexes in sequence: punctuation runs
//!   `[\p{P}\$\+<=>\^~\|]+`, the GPT-2 regex (run in llama.cpp by its hand-written GPT-2
//!   splitter, which also splits a lone whitespace run, hence the trailing `|\s+`),
//!   digit runs `\p{N}+`, then groups of three ASCII digits;
//!
//! then `ByteLevel` with its own regex disabled (only the byte mapping).
//!
//! Two details keep the pieces identical to llama.cpp's: the Unicode classes are
//! restricted to Unicode 15.1 (llama.cpp's tables; Oniguruma's are 16.0), and the
//! Llama-3 contractions are matched case-sensitively per letter, not with `(?i)`.
//! Checked against llama.cpp's own `unicode_regex_split` on 150,000 random texts (mixed
//! scripts, marks, digits, whitespace, emoji, unassigned code points): no difference.

use tokenizers::models::bpe::{Vocab as HfVocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{
    Model, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer as _,
    SplitDelimiterBehavior,
};

use super::fxhash::FxHashSet;
use super::types::PreTokenizer;
use super::vocab::{Vocab, KEY_MERGES};
use crate::error::{Error, Result};
use crate::log;

/// The Llama-3 split (tokenizer.json of Meta-Llama-3; llama.cpp's LLAMA3 pre-type), with
/// `{L}`, `{N}`, `{P}` standing for the Unicode classes (see [`unicode_15_1`]). The
/// contractions are spelled `'[sS]` rather than `(?i:'s)` (as llama.cpp does): under
/// Oniguruma's case folding `'ſ` (U+017F) would match `'s`, which llama.cpp never does.
const LLAMA3_REGEX: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n{L}{N}]?{L}+|{N}{1,3}| ?[^\s{L}{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// llama.cpp's default regex set, applied in order.
const DEFAULT_REGEXES: [&str; 4] = [
    r"[{P}\$\+<=>\^~\|]+",
    r"'s|'t|'re|'ve|'m|'ll|'d| ?{L}+| ?{N}+| ?[^\s{L}{N}]+|\s+(?!\S)|\s+",
    r"{N}+",
    r"[0-9][0-9][0-9]",
];

/// Code points Unicode 16.0 added to the letter, number and punctuation categories.
/// llama.cpp's category tables are Unicode 15.1 (to it these are unassigned, which its
/// splitters treat like symbols); Oniguruma's are 16.0. Excluding them makes `\p{..}`
/// mean what it means in llama.cpp. `\s` is the same in both.
const NEW_IN_16_LETTERS: &str = r"\x{1C89}-\x{1C8A}\x{A7CB}-\x{A7CD}\x{A7DA}-\x{A7DC}\x{105C0}-\x{105F3}\x{10D4A}-\x{10D65}\x{10D6F}-\x{10D85}\x{10EC2}-\x{10EC4}\x{11380}-\x{11389}\x{1138B}\x{1138E}\x{11390}-\x{113B5}\x{113B7}\x{113D1}\x{113D3}\x{11BC0}-\x{11BE0}\x{13460}-\x{143FA}\x{16100}-\x{1611D}\x{16D40}-\x{16D6C}\x{18CFF}\x{1E5D0}-\x{1E5ED}\x{1E5F0}";
const NEW_IN_16_NUMBERS: &str = r"\x{10D40}-\x{10D49}\x{116D0}-\x{116E3}\x{11BF0}-\x{11BF9}\x{16130}-\x{16139}\x{16D70}-\x{16D79}\x{1CCF0}-\x{1CCF9}\x{1E5F1}-\x{1E5FA}";
const NEW_IN_16_PUNCTUATION: &str = r"\x{1B4E}-\x{1B4F}\x{1B7F}\x{10D6E}\x{113D4}-\x{113D5}\x{113D7}-\x{113D8}\x{11BE1}\x{16D6D}-\x{16D6F}\x{1E5FF}";

/// `template` with `{L}`, `{N}`, `{P}` replaced by Unicode 15.1's letters, numbers and
/// punctuation as Oniguruma classes (usable inside and outside brackets).
fn unicode_15_1(template: &str) -> String {
    template
        .replace("{L}", &format!(r"[\p{{L}}&&[^{NEW_IN_16_LETTERS}]]"))
        .replace("{N}", &format!(r"[\p{{N}}&&[^{NEW_IN_16_NUMBERS}]]"))
        .replace("{P}", &format!(r"[\p{{P}}&&[^{NEW_IN_16_PUNCTUATION}]]"))
}

pub(crate) struct BpeModel {
    pre: PreTokenizerWrapper,
    model: BPE,
}

fn hf_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Tokenizer(format!("{what}: {e}"))
}

fn split(regex: &str) -> Result<PreTokenizerWrapper> {
    let s = Split::new(
        SplitPattern::Regex(unicode_15_1(regex)),
        SplitDelimiterBehavior::Isolated,
        false,
    )
    .map_err(|e| hf_err("compiling the pre-tokenizer regex", e))?;
    Ok(PreTokenizerWrapper::Split(s))
}

fn pre_tokenizer(pre: PreTokenizer) -> Result<PreTokenizerWrapper> {
    let mut steps = match pre {
        PreTokenizer::Llama3 => vec![split(LLAMA3_REGEX)?],
        PreTokenizer::Default => DEFAULT_REGEXES
            .iter()
            .map(|r| split(r))
            .collect::<Result<Vec<_>>>()?,
        PreTokenizer::Auto => {
            return Err(Error::Tokenizer(
                "internal: the pre-tokenizer was not resolved".into(),
            ))
        }
    };
    steps.push(PreTokenizerWrapper::ByteLevel(ByteLevel::new(
        false, false, false,
    )));
    Ok(PreTokenizerWrapper::Sequence(Sequence::new(steps)))
}

/// Splits a merge line as llama.cpp does: at the first space after the first byte.
fn split_merge(line: &str) -> Option<(&str, &str)> {
    let pos = line.bytes().skip(1).position(|b| b == b' ')? + 1;
    // ' ' is ASCII, so both sides are on character boundaries
    Some((&line[..pos], &line[pos + 1..]))
}

impl BpeModel {
    pub fn new(vocab: &Vocab, merges: &[String], pre: PreTokenizer) -> Result<BpeModel> {
        // llama.cpp keeps the first rank of a repeated pair; `tokenizers` would keep the
        // last, so repeats are dropped here.
        let mut seen: FxHashSet<&str> =
            FxHashSet::with_capacity_and_hasher(merges.len(), Default::default());
        let mut unique = Vec::with_capacity(merges.len());
        let mut malformed = 0usize;
        for line in merges {
            match split_merge(line) {
                Some(pair) if seen.insert(line) => unique.push(pair),
                Some(_) => {}
                None => malformed += 1,
            }
        }
        let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|&(a, b)| (a.to_owned(), b.to_owned()))
                .collect()
        };
        let build = |merges: Vec<(String, String)>| {
            let hf_vocab: HfVocab = vocab
                .tokens
                .iter()
                .enumerate()
                .map(|(i, t)| (t.text.clone(), i as u32))
                .collect();
            BPE::builder()
                .vocab_and_merges(hf_vocab, merges)
                .ignore_merges(vocab.ignore_merges)
                .build()
        };
        let model = match build(owned(&unique)) {
            Ok(model) => model,
            Err(_) => {
                // llama.cpp tolerates merges whose parts or result are not tokens (it
                // merges, then falls back to single bytes); `tokenizers` rejects them, so
                // they are dropped (no real file has any).
                let known = |s: &str| vocab.token_to_id.contains_key(s);
                let kept: Vec<(&str, &str)> = unique
                    .iter()
                    .copied()
                    .filter(|&(a, b)| known(a) && known(b) && known(&format!("{a}{b}")))
                    .collect();
                malformed += unique.len() - kept.len();
                build(owned(&kept)).map_err(|e| hf_err("building the BPE model", e))?
            }
        };
        if malformed > 0 {
            log::warn(&format!(
                "{malformed} of {} entries of {KEY_MERGES} are malformed or name unknown \
                 tokens; ignored",
                merges.len()
            ));
        }
        Ok(BpeModel {
            pre: pre_tokenizer(pre)?,
            model,
        })
    }

    /// Appends the ids of `text` (no special-token handling) to `out`.
    pub fn tokenize(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let mut pts = PreTokenizedString::from(text);
        self.pre
            .pre_tokenize(&mut pts)
            .map_err(|e| hf_err("pre-tokenizing", e))?;
        for (piece, _, _) in pts.get_splits(OffsetReferential::Normalized, OffsetType::None) {
            let tokens = self.model.tokenize(piece).map_err(|e| hf_err("BPE", e))?;
            out.extend(tokens.iter().map(|t| t.id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::split_merge;

    #[test]
    fn merge_lines_split_like_llama_cpp() {
        assert_eq!(split_merge("Ġ Ġ"), Some(("Ġ", "Ġ")));
        assert_eq!(split_merge("a b c"), Some(("a", "b c")));
        // a leading space belongs to the first part
        assert_eq!(split_merge("  x"), Some((" ", "x")));
        assert_eq!(split_merge("ab"), None);
        assert_eq!(split_merge("é x"), Some(("é", "x")));
        assert_eq!(split_merge(""), None);
    }
}
