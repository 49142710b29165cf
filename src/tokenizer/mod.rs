//! The tokenizer described by a GGUF vocabulary, matching llama.cpp (@ 0c1e57098) token
//! for token.
//!
//! Two vocabulary kinds are supported:
//! - `tokenizer.ggml.model = "gpt2"`: byte-level BPE ([`VocabKind::Bpe`]) on the
//!   `tokenizers` crate, with llama.cpp's Llama-3 or `default` regex split chosen from
//!   `tokenizer.ggml.pre` (see [`PreTokenizer`] for the missing-key rule);
//! - `tokenizer.ggml.model = "llama"`: SentencePiece ([`VocabKind::Spm`]), llama.cpp's
//!   score-driven merging with byte fallback, implemented directly.
//!
//! Special tokens are split out of the text first (CONTROL tokens only when
//! `parse_special` is set, USER_DEFINED tokens always), then each text fragment goes
//! through the model. Flags (`add_bos`, `add_eos`, space prefix, clean-up of spaces when
//! decoding), special ids and the end-of-generation set are derived as llama.cpp derives
//! them.

mod bpe;
pub mod chat;
mod decode;
mod fxhash;
mod special;
mod spm;
mod types;
mod vocab;

use std::fmt;

pub use chat::{ChatMessage, ChatTemplate};
pub use types::{
    DetokenizeOptions, PreTokenizer, TokenAttr, TokenType, TokenizerOptions, VocabKind,
};

use crate::error::{Error, Result};
use crate::gguf::GgufFile;
use crate::log;
use special::Fragment;
use vocab::Vocab;

enum Model {
    Bpe(Box<bpe::BpeModel>),
    Spm,
}

/// A tokenizer built from a GGUF file's `tokenizer.ggml.*` keys. Immutable once built,
/// so it can be shared between threads.
pub struct Tokenizer {
    vocab: Vocab,
    model: Model,
    linefeed: Option<u32>,
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokenizer")
            .field("kind", &self.vocab.kind)
            .field("pre", &self.vocab.pre)
            .field("n_vocab", &self.vocab.n_tokens())
            .field("bos", &self.vocab.special.bos)
            .field("eos", &self.vocab.special.eos)
            .field("eog", &self.vocab.eog)
            .finish()
    }
}

impl Tokenizer {
    /// Builds the tokenizer of `file`. Fails with [`Error::Tokenizer`] when the
    /// vocabulary is malformed or its `tokenizer.ggml.pre` is not one this crate
    /// implements (unless `options.pre` forces a split), and with
    /// [`Error::Unsupported`] for tokenizer models other than `gpt2` and `llama`.
    pub fn from_gguf(file: &GgufFile, options: &TokenizerOptions) -> Result<Tokenizer> {
        let (vocab, merges) = Vocab::load(file, options)?;
        let model = match (vocab.kind, vocab.pre, merges) {
            (VocabKind::Bpe, Some(pre), Some(merges)) => {
                Model::Bpe(Box::new(bpe::BpeModel::new(&vocab, merges, pre)?))
            }
            (VocabKind::Spm, _, _) => Model::Spm,
            _ => {
                return Err(Error::Tokenizer(
                    "internal: a BPE vocabulary without pre-tokenizer or merges".into(),
                ))
            }
        };
        let linefeed = match &model {
            Model::Spm => spm::byte_to_token(&vocab, b'\n'),
            Model::Bpe(bpe) => {
                let mut ids = Vec::new();
                bpe.tokenize("\n", &mut ids)?;
                ids.first().copied()
            }
        };
        let linefeed = linefeed.or_else(|| {
            log::warn("the vocabulary has no newline token; using the padding token instead");
            vocab.special.pad
        });
        Ok(Tokenizer {
            vocab,
            model,
            linefeed,
        })
    }

    /// Converts `text` to ids. With `add_special`, BOS (and EOS) are added as the
    /// vocabulary asks ([`add_bos`](Self::add_bos), [`add_eos`](Self::add_eos)). With
    /// `parse_special`, the text of CONTROL tokens (`<|eot_id|>`, ...) becomes those
    /// tokens; without it, such text is tokenized as ordinary text.
    pub fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>> {
        let v = &self.vocab;
        let fragments = special::partition(v, text, parse_special);
        let mut out = Vec::new();
        let bos = || {
            v.special
                .bos
                .ok_or_else(|| Error::Tokenizer("the vocabulary asks for BOS but has none".into()))
        };
        let eos = || {
            v.special
                .eos
                .ok_or_else(|| Error::Tokenizer("the vocabulary asks for EOS but has none".into()))
        };
        if add_special && v.add_bos {
            out.push(bos()?);
        }
        match &self.model {
            Model::Spm => {
                // a space is prefixed to the text at the start and after special tokens
                let mut is_prev_special = true;
                for fragment in fragments {
                    match fragment {
                        Fragment::Text(t) => {
                            let mut s = String::with_capacity(t.len() + 1);
                            if v.add_space_prefix && is_prev_special {
                                s.push(' ');
                            }
                            s.push_str(t);
                            spm::tokenize(v, &s.replace(' ', "\u{2581}"), &mut out)?;
                            is_prev_special = false;
                        }
                        Fragment::Token(id) => {
                            out.push(id);
                            is_prev_special = true;
                        }
                    }
                }
            }
            Model::Bpe(model) => {
                for fragment in fragments {
                    match fragment {
                        Fragment::Text(t) => model.tokenize(t, &mut out)?,
                        Fragment::Token(id) => out.push(id),
                    }
                }
            }
        }
        if add_special && v.add_bos && out.len() >= 2 && Some(out[1]) == v.special.bos {
            log::warn(
                "added a BOS token to the prompt as the model asks, but the prompt also starts \
                 with a BOS token, so it now starts with two",
            );
        }
        if add_special && v.add_eos {
            out.push(eos()?);
            if out.len() >= 2 && Some(out[out.len() - 2]) == v.special.eos {
                log::warn(
                    "added an EOS token to the prompt as the model asks, but the prompt also \
                     ends with an EOS token, so it now ends with two",
                );
            }
        }
        Ok(out)
    }

    /// The bytes token `id` stands for. CONTROL and UNKNOWN tokens give their text only
    /// when `special` is set (otherwise nothing). A piece can be part of a UTF-8
    /// character, so it is bytes, not a string.
    pub fn token_to_piece(&self, id: u32, special: bool) -> Result<Vec<u8>> {
        self.check(id)?;
        let mut out = Vec::new();
        decode::piece(&self.vocab, id, special, 0, &mut out);
        Ok(out)
    }

    /// Converts ids back to bytes. As in llama.cpp, the space a SentencePiece vocabulary
    /// prefixes when tokenizing is removed from the first piece. With default options the
    /// text given to [`tokenize`](Self::tokenize) comes back byte for byte; see
    /// [`DetokenizeOptions`] for `llama_detokenize`'s special-token and clean-up flags.
    pub fn detokenize(&self, ids: &[u32], options: &DetokenizeOptions) -> Result<Vec<u8>> {
        for &id in ids {
            self.check(id)?;
        }
        Ok(decode::detokenize(&self.vocab, ids, options))
    }

    fn check(&self, id: u32) -> Result<()> {
        if (id as usize) < self.vocab.n_tokens() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(format!(
                "token id {id} is out of range (vocabulary of {})",
                self.vocab.n_tokens()
            )))
        }
    }

    /// Number of tokens (the length of `tokenizer.ggml.tokens`).
    pub fn n_vocab(&self) -> usize {
        self.vocab.n_tokens()
    }

    pub fn kind(&self) -> VocabKind {
        self.vocab.kind
    }

    /// The pre-tokenizer in effect: `Default` or `Llama3` for BPE, `None` for SPM.
    pub fn pre(&self) -> Option<PreTokenizer> {
        self.vocab.pre
    }

    /// Beginning of sequence.
    pub fn bos(&self) -> Option<u32> {
        self.vocab.special.bos
    }

    /// End of sequence.
    pub fn eos(&self) -> Option<u32> {
        self.vocab.special.eos
    }

    /// End of turn (from `tokenizer.ggml.eot_token_id`, else found by its text).
    pub fn eot(&self) -> Option<u32> {
        self.vocab.special.eot
    }

    /// End of message (`<|eom_id|>`).
    pub fn eom(&self) -> Option<u32> {
        self.vocab.special.eom
    }

    pub fn unk(&self) -> Option<u32> {
        self.vocab.special.unk
    }

    pub fn sep(&self) -> Option<u32> {
        self.vocab.special.sep
    }

    pub fn pad(&self) -> Option<u32> {
        self.vocab.special.pad
    }

    /// The newline token.
    pub fn nl(&self) -> Option<u32> {
        self.linefeed
    }

    /// The tokens that end generation, ascending.
    pub fn eog_ids(&self) -> &[u32] {
        &self.vocab.eog
    }

    pub fn is_eog(&self, id: u32) -> bool {
        self.vocab.eog.binary_search(&id).is_ok()
    }

    /// Whether `tokenize(.., add_special = true, ..)` starts with BOS.
    pub fn add_bos(&self) -> bool {
        self.vocab.add_bos
    }

    /// Whether `tokenize(.., add_special = true, ..)` ends with EOS.
    pub fn add_eos(&self) -> bool {
        self.vocab.add_eos
    }

    /// Whether text gets a leading space before tokenizing (SentencePiece).
    pub fn add_space_prefix(&self) -> bool {
        self.vocab.add_space_prefix
    }

    /// Whether `llama_detokenize` would remove spaces before `? ! . ,` and some
    /// apostrophes for this vocabulary (Hugging Face's `clean_up_tokenization_spaces`;
    /// byte-level BPE). [`detokenize`](Self::detokenize) does so only when
    /// [`DetokenizeOptions::clean_spaces`] asks.
    pub fn clean_spaces(&self) -> bool {
        self.vocab.clean_spaces
    }

    /// The token's text as stored in the vocabulary.
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.vocab.tokens.get(id as usize).map(|t| t.text.as_str())
    }

    /// The id of the token whose text is exactly `text`.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.vocab.text_to_token(text)
    }

    pub fn token_type(&self, id: u32) -> Option<TokenType> {
        self.vocab.tokens.get(id as usize).map(|t| t.ttype)
    }

    pub fn token_attr(&self, id: u32) -> Option<TokenAttr> {
        self.vocab.tokens.get(id as usize).map(|t| t.attr)
    }

    /// The token's score (`tokenizer.ggml.scores`, 0 when absent).
    pub fn token_score(&self, id: u32) -> Option<f32> {
        self.vocab.tokens.get(id as usize).map(|t| t.score)
    }

    /// Whether the token is CONTROL (rendered only on request).
    pub fn is_control(&self, id: u32) -> bool {
        self.token_attr(id)
            .is_some_and(|a| a.intersects(TokenAttr::CONTROL))
    }
}
