//! The small public types of the tokenizer: options, vocabulary kind, token types and
//! attributes. Numeric values are llama.h's, so the C API can pass them through.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// Which pre-tokenizer (the regex split applied before BPE) a byte-level BPE vocabulary
/// uses. SentencePiece vocabularies have none and ignore this choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PreTokenizer {
    /// Follow the file's `tokenizer.ggml.pre` key. When the key is missing and the
    /// vocabulary is Llama-3's (the official BitNet b1.58 2B-4T file), use the Llama-3
    /// split the model was trained with and log one warning; for any other vocabulary
    /// without the key, use `Default` as llama.cpp does.
    #[default]
    Auto,
    /// llama.cpp's `default` regex set: what llama.cpp and bitnet.cpp use when the key is
    /// missing. Forcing it reproduces their ids exactly (compatibility mode).
    Default,
    /// The Llama-3 split (`llama-bpe`, `llama3`, `llama-v3`), identical to Hugging Face's.
    Llama3,
}

impl PreTokenizer {
    /// The spelling used on command lines: `auto`, `default` or `llama-bpe`.
    pub fn name(self) -> &'static str {
        match self {
            PreTokenizer::Auto => "auto",
            PreTokenizer::Default => "default",
            PreTokenizer::Llama3 => "llama-bpe",
        }
    }
}

impl fmt::Display for PreTokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses `auto`, `default`, or `llama-bpe` (also `llama3` / `llama-v3`).
impl FromStr for PreTokenizer {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "auto" => Ok(PreTokenizer::Auto),
            "default" => Ok(PreTokenizer::Default),
            "llama-bpe" | "llama3" | "llama-v3" => Ok(PreTokenizer::Llama3),
            other => Err(Error::InvalidArgument(format!(
                "unknown pre-tokenizer '{other}' (expected auto, default or llama-bpe)"
            ))),
        }
    }
}

/// Options for [`Tokenizer::from_gguf`](super::Tokenizer::from_gguf).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenizerOptions {
    pub pre: PreTokenizer,
}

/// How [`Tokenizer::detokenize`](super::Tokenizer::detokenize) renders ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DetokenizeOptions {
    /// Drop a leading BOS and a trailing EOS where the vocabulary adds them.
    pub remove_special: bool,
    /// Render CONTROL tokens as their text (otherwise they render as nothing).
    pub unparse_special: bool,
    /// Apply Hugging Face's `clean_up_tokenization_spaces` as `llama_detokenize` does for
    /// vocabularies that ask for it ([`Tokenizer::clean_spaces`](super::Tokenizer::clean_spaces)):
    /// `" ?"` becomes `"?"` and so on. Lossy, so off by default: without it,
    /// detokenizing what [`tokenize`](super::Tokenizer::tokenize) produced gives back the
    /// exact input.
    pub clean_spaces: bool,
}

/// The tokenizer algorithm selected by `tokenizer.ggml.model`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VocabKind {
    /// `gpt2`: byte-level BPE driven by a merge list.
    Bpe,
    /// `llama`: SentencePiece (score-driven merging with byte fallback).
    Spm,
}

/// A token's type as stored in `tokenizer.ggml.token_type` (llama.h's
/// `llama_token_type`). Values outside the known range read as `Undefined`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum TokenType {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

impl TokenType {
    pub fn from_raw(v: i64) -> TokenType {
        match v {
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => TokenType::Undefined,
        }
    }

    /// The attribute llama.cpp derives from the type.
    pub fn attr(self) -> TokenAttr {
        match self {
            TokenType::Undefined => TokenAttr::UNDEFINED,
            TokenType::Normal => TokenAttr::NORMAL,
            TokenType::Unknown => TokenAttr::UNKNOWN,
            TokenType::Control => TokenAttr::CONTROL,
            TokenType::UserDefined => TokenAttr::USER_DEFINED,
            TokenType::Unused => TokenAttr::UNUSED,
            TokenType::Byte => TokenAttr::BYTE,
        }
    }
}

/// A token's attribute bits (llama.h's `llama_token_attr`). Derived from the token type,
/// then adjusted as llama.cpp does (end-of-turn-looking tokens become CONTROL, CONTROL
/// tokens named "unused" become UNUSED, ...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TokenAttr(pub u32);

impl TokenAttr {
    pub const UNDEFINED: TokenAttr = TokenAttr(0);
    pub const UNKNOWN: TokenAttr = TokenAttr(1 << 0);
    pub const UNUSED: TokenAttr = TokenAttr(1 << 1);
    pub const NORMAL: TokenAttr = TokenAttr(1 << 2);
    pub const CONTROL: TokenAttr = TokenAttr(1 << 3);
    pub const USER_DEFINED: TokenAttr = TokenAttr(1 << 4);
    pub const BYTE: TokenAttr = TokenAttr(1 << 5);
    pub const NORMALIZED: TokenAttr = TokenAttr(1 << 6);
    pub const LSTRIP: TokenAttr = TokenAttr(1 << 7);
    pub const RSTRIP: TokenAttr = TokenAttr(1 << 8);
    pub const SINGLE_WORD: TokenAttr = TokenAttr(1 << 9);

    pub fn bits(self) -> u32 {
        self.0
    }

    /// Whether any bit of `other` is set.
    pub fn intersects(self, other: TokenAttr) -> bool {
        self.0 & other.0 != 0
    }
}

impl std::ops::BitOr for TokenAttr {
    type Output = TokenAttr;
    fn bitor(self, rhs: TokenAttr) -> TokenAttr {
        TokenAttr(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for TokenAttr {
    fn bitor_assign(&mut self, rhs: TokenAttr) {
        self.0 |= rhs.0;
    }
}
