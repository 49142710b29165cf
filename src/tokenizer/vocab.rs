//! Reading a GGUF vocabulary the way llama.cpp's `llama_vocab::load` does: the token
//! list, scores and types; the tokenizer kind and pre-tokenizer with the flags each one
//! implies; special-token ids from their keys and, for end-of-turn and FIM tokens, from
//! their text; the end-of-generation set; and the special-token cache used to split
//! special tokens out of the input.

use std::collections::BTreeSet;

use super::fxhash::FxHashMap;

use super::types::{PreTokenizer, TokenAttr, TokenType, TokenizerOptions, VocabKind};
use crate::error::{Error, Result};
use crate::gguf::{Array, GgufFile};
use crate::log;

const KEY_MODEL: &str = "tokenizer.ggml.model";
const KEY_PRE: &str = "tokenizer.ggml.pre";
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_SCORES: &str = "tokenizer.ggml.scores";
const KEY_TYPES: &str = "tokenizer.ggml.token_type";
pub(crate) const KEY_MERGES: &str = "tokenizer.ggml.merges";

/// `tokenizer.ggml.pre` values llama.cpp maps to its Llama-3 pre-tokenizer type (one
/// branch of its loader: same split, `ignore_merges` and `add_bos`).
const LLAMA3_PRE_NAMES: &[&str] = &[
    "llama3",
    "llama-v3",
    "llama-bpe",
    "falcon3",
    "falcon-h1",
    "pixtral",
    "midm-2.0",
    "lfm2",
    "jina-v5-nano",
];

/// Texts llama.cpp recognises as end-of-turn tokens, in its order. llama.cpp takes the
/// first match its hash map yields; we take the earliest entry of this list present in
/// the vocabulary (on Llama-3 both give `<|eot_id|>`, not `<|end_of_text|>`).
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const EOM_TEXTS: &[&str] = &["<|eom_id|>"];
const FIM_PRE_TEXTS: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
];
const FIM_SUF_TEXTS: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
];
const FIM_MID_TEXTS: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
];
const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS: &[&str] = &[
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
];
const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];

/// Texts that make a token end generation (llama.cpp's list at this commit; note that
/// `<|eom_id|>` is on it).
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

#[derive(Clone, Debug)]
pub(crate) struct TokenData {
    pub text: String,
    pub score: f32,
    pub ttype: TokenType,
    pub attr: TokenAttr,
}

/// Special token ids (`None` = llama.cpp's LLAMA_TOKEN_NULL).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SpecialIds {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    pub unk: Option<u32>,
    pub sep: Option<u32>,
    pub pad: Option<u32>,
    pub mask: Option<u32>,
    pub fim_pre: Option<u32>,
    pub fim_suf: Option<u32>,
    pub fim_mid: Option<u32>,
    pub fim_pad: Option<u32>,
    pub fim_rep: Option<u32>,
    pub fim_sep: Option<u32>,
}

/// Selects one special id of [`SpecialIds`].
type Slot = fn(&mut SpecialIds) -> &mut Option<u32>;

/// Everything about a vocabulary except the model that splits text into tokens.
#[derive(Debug)]
pub(crate) struct Vocab {
    pub kind: VocabKind,
    /// The pre-tokenizer in effect (BPE only).
    pub pre: Option<PreTokenizer>,
    pub tokens: Vec<TokenData>,
    pub token_to_id: FxHashMap<String, u32>,
    pub special: SpecialIds,
    pub add_bos: bool,
    pub add_eos: bool,
    pub add_space_prefix: bool,
    pub clean_spaces: bool,
    pub ignore_merges: bool,
    /// End-of-generation ids, ascending.
    pub eog: Vec<u32>,
    /// CONTROL, USER_DEFINED and UNKNOWN tokens, longest text first (ties: lower id).
    pub special_cache: Vec<u32>,
}

fn tok_err(msg: impl Into<String>) -> Error {
    Error::Tokenizer(msg.into())
}

/// Decides the kind and the pre-tokenizer (BPE only) from the file and the options.
fn select_kind(
    file: &GgufFile,
    options: &TokenizerOptions,
    tokens: &[String],
) -> Result<(VocabKind, Option<PreTokenizer>)> {
    let model = file
        .get_str(KEY_MODEL)?
        .ok_or_else(|| tok_err(format!("the file has no '{KEY_MODEL}' key")))?;
    let kind = match model {
        "gpt2" => VocabKind::Bpe,
        "llama" => VocabKind::Spm,
        "no_vocab" | "none" => {
            return Err(Error::Unsupported(format!(
                "the file has no vocabulary ({KEY_MODEL} = '{model}')"
            )))
        }
        "bert" | "t5" | "rwkv" | "plamo2" | "gemma4" | "hybriddna" | "whitespace" | "test" => {
            return Err(Error::Unsupported(format!(
                "tokenizer model '{model}' is not implemented (only 'gpt2' and 'llama' are)"
            )))
        }
        other => return Err(tok_err(format!("unknown tokenizer model '{other}'"))),
    };
    if kind == VocabKind::Spm {
        return Ok((kind, None));
    }

    let key = file.get_str(KEY_PRE)?;
    let pre = match (options.pre, key) {
        (PreTokenizer::Default, _) => PreTokenizer::Default,
        (PreTokenizer::Llama3, _) => PreTokenizer::Llama3,
        (PreTokenizer::Auto, Some("default")) => PreTokenizer::Default,
        (PreTokenizer::Auto, Some(name)) if LLAMA3_PRE_NAMES.contains(&name) => {
            PreTokenizer::Llama3
        }
        (PreTokenizer::Auto, Some(name)) => {
            return Err(tok_err(format!(
                "unsupported pre-tokenizer '{name}' ({KEY_PRE}); supported: 'default', {}",
                LLAMA3_PRE_NAMES
                    .iter()
                    .map(|n| format!("'{n}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
        (PreTokenizer::Auto, None) if is_llama3_vocab(tokens) => {
            log::warn(&format!(
                "{KEY_PRE} is missing; the vocabulary is Llama-3's, so using the Llama-3 \
                 pre-tokenizer the model was trained with (llama.cpp and bitnet.cpp would fall \
                 back to 'default'; choose the 'default' pre-tokenizer to reproduce their ids)"
            ));
            PreTokenizer::Llama3
        }
        (PreTokenizer::Auto, None) => {
            log::warn(&format!(
                "{KEY_PRE} is missing, using the 'default' pre-tokenizer (as llama.cpp does); \
                 tokenization may not match the model's training"
            ));
            PreTokenizer::Default
        }
    };
    Ok((kind, Some(pre)))
}

/// The Llama-3 vocabulary (and vocabularies derived from it) carries these two tokens;
/// no other tokenizer family uses these names.
fn is_llama3_vocab(tokens: &[String]) -> bool {
    let has = |t: &str| tokens.iter().any(|x| x == t);
    has("<|begin_of_text|>") && has("<|end_of_text|>")
}

impl Vocab {
    /// Loads everything but the model. Returns the vocabulary and, for BPE, the merge
    /// list as stored (`"left right"` strings).
    pub fn load<'a>(
        file: &'a GgufFile,
        options: &TokenizerOptions,
    ) -> Result<(Vocab, Option<&'a [String]>)> {
        let words = file
            .get_str_array(KEY_TOKENS)?
            .ok_or_else(|| tok_err(format!("the file has no '{KEY_TOKENS}' key")))?;
        let n_tokens = words.len();
        if n_tokens == 0 {
            return Err(tok_err("the vocabulary is empty"));
        }
        if n_tokens > i32::MAX as usize {
            return Err(tok_err(format!(
                "{n_tokens} tokens is more than ids can hold"
            )));
        }
        let (kind, pre) = select_kind(file, options, words)?;

        let merges =
            match kind {
                VocabKind::Bpe => Some(file.get_str_array(KEY_MERGES)?.ok_or_else(|| {
                    tok_err(format!("the BPE vocabulary has no '{KEY_MERGES}' key"))
                })?),
                VocabKind::Spm => None,
            };

        // Flags implied by the kind and pre-tokenizer (llama.cpp's defaults per type).
        let (mut add_space_prefix, clean_spaces, mut add_bos, mut add_eos, ignore_merges);
        let mut special = SpecialIds::default();
        match kind {
            VocabKind::Spm => {
                add_space_prefix = true;
                clean_spaces = false;
                add_bos = true;
                add_eos = false;
                ignore_merges = false;
                special.bos = Some(1);
                special.eos = Some(2);
                special.unk = Some(0);
            }
            VocabKind::Bpe => {
                let llama3 = pre == Some(PreTokenizer::Llama3);
                add_space_prefix = false;
                clean_spaces = true;
                add_bos = llama3;
                add_eos = false;
                ignore_merges = llama3;
                special.bos = Some(11);
                special.eos = Some(11);
            }
        }
        if let Some(v) = file.get_bool("tokenizer.ggml.add_space_prefix")? {
            add_space_prefix = v;
        }

        let scores = read_scores(file, n_tokens)?;
        let types = read_types(file, n_tokens)?;

        let mut tokens = Vec::with_capacity(n_tokens);
        let mut token_to_id = FxHashMap::with_capacity_and_hasher(n_tokens, Default::default());
        for (i, word) in words.iter().enumerate() {
            let text = if word.is_empty() {
                log::warn(&format!("empty token at index {i}"));
                format!("[EMPTY_{i}]")
            } else {
                word.clone()
            };
            token_to_id.insert(text.clone(), i as u32);
            let ttype = types
                .as_ref()
                .map_or(TokenType::Normal, |t| TokenType::from_raw(t[i]));
            // Without a type array every token is NORMAL, as in llama.cpp.
            let attr = if types.is_some() {
                ttype.attr()
            } else {
                TokenAttr::NORMAL
            };
            tokens.push(TokenData {
                text,
                score: scores.as_ref().map_or(0.0, |s| s[i]),
                ttype,
                attr,
            });
        }

        let mut vocab = Vocab {
            kind,
            pre,
            tokens,
            token_to_id,
            special,
            add_bos,
            add_eos,
            add_space_prefix,
            clean_spaces,
            ignore_merges,
            eog: Vec::new(),
            special_cache: Vec::new(),
        };

        vocab.read_special_ids(file)?;
        if let Some(v) = file.get_bool("tokenizer.ggml.add_bos_token")? {
            add_bos = v;
        }
        if let Some(v) = file.get_bool("tokenizer.ggml.add_eos_token")? {
            add_eos = v;
        }
        vocab.add_bos = add_bos;
        vocab.add_eos = add_eos;

        vocab.detect_special_by_text();
        vocab.mark_unused();
        vocab.build_eog();
        vocab.build_special_cache();
        vocab.apply_model_attr_overrides(file)?;
        Ok((vocab, merges))
    }

    pub fn n_tokens(&self) -> usize {
        self.tokens.len()
    }

    pub fn text_to_token(&self, text: &str) -> Option<u32> {
        self.token_to_id.get(text).copied()
    }

    fn read_special_ids(&mut self, file: &GgufFile) -> Result<()> {
        let keys: [(&str, Slot); 17] = [
            ("tokenizer.ggml.bos_token_id", |s| &mut s.bos),
            ("tokenizer.ggml.eos_token_id", |s| &mut s.eos),
            ("tokenizer.ggml.eot_token_id", |s| &mut s.eot),
            ("tokenizer.ggml.eom_token_id", |s| &mut s.eom),
            ("tokenizer.ggml.unknown_token_id", |s| &mut s.unk),
            ("tokenizer.ggml.seperator_token_id", |s| &mut s.sep),
            ("tokenizer.ggml.padding_token_id", |s| &mut s.pad),
            ("tokenizer.ggml.mask_token_id", |s| &mut s.mask),
            ("tokenizer.ggml.fim_pre_token_id", |s| &mut s.fim_pre),
            ("tokenizer.ggml.fim_suf_token_id", |s| &mut s.fim_suf),
            ("tokenizer.ggml.fim_mid_token_id", |s| &mut s.fim_mid),
            ("tokenizer.ggml.fim_pad_token_id", |s| &mut s.fim_pad),
            ("tokenizer.ggml.fim_rep_token_id", |s| &mut s.fim_rep),
            ("tokenizer.ggml.fim_sep_token_id", |s| &mut s.fim_sep),
            // deprecated spellings, read after the new ones as llama.cpp does
            ("tokenizer.ggml.prefix_token_id", |s| &mut s.fim_pre),
            ("tokenizer.ggml.suffix_token_id", |s| &mut s.fim_suf),
            ("tokenizer.ggml.middle_token_id", |s| &mut s.fim_mid),
        ];
        let n = self.tokens.len() as u64;
        for (key, slot) in keys {
            let id = slot(&mut self.special);
            if let Some(d) = *id {
                if u64::from(d) >= n {
                    log::warn(&format!(
                        "default special token '{key}' = {d} out of vocab range, disabling"
                    ));
                    *id = None;
                }
            }
            let Some(v) = file.get_int(key)? else {
                continue;
            };
            if v < 0 || v as u64 >= n {
                log::warn(&format!(
                    "bad special token: '{key}' = {v}, using default id {:?}",
                    *id
                ));
            } else {
                *id = Some(v as u32);
            }
        }
        Ok(())
    }

    /// Fills EOT, EOM and FIM ids that no key gave from their text, making those tokens
    /// CONTROL.
    fn detect_special_by_text(&mut self) {
        let slots: [(Slot, &[&str]); 8] = [
            (|s| &mut s.eot, EOT_TEXTS),
            (|s| &mut s.eom, EOM_TEXTS),
            (|s| &mut s.fim_pre, FIM_PRE_TEXTS),
            (|s| &mut s.fim_suf, FIM_SUF_TEXTS),
            (|s| &mut s.fim_mid, FIM_MID_TEXTS),
            (|s| &mut s.fim_pad, FIM_PAD_TEXTS),
            (|s| &mut s.fim_rep, FIM_REP_TEXTS),
            (|s| &mut s.fim_sep, FIM_SEP_TEXTS),
        ];
        for (slot, texts) in slots {
            if slot(&mut self.special).is_some() {
                continue;
            }
            if let Some(id) = texts.iter().find_map(|t| self.text_to_token(t)) {
                *slot(&mut self.special) = Some(id);
                self.force_control(id);
            }
        }
    }

    fn force_control(&mut self, id: u32) {
        let t = &mut self.tokens[id as usize];
        if !t.attr.intersects(TokenAttr::CONTROL) {
            log::warn(&format!(
                "control-looking token {id} '{}' was not control-type; its type will be overridden",
                t.text
            ));
            t.attr |= TokenAttr::CONTROL;
        }
    }

    /// CONTROL tokens whose text contains "unused" are marked UNUSED.
    fn mark_unused(&mut self) {
        for t in &mut self.tokens {
            if t.attr.intersects(TokenAttr::CONTROL) && t.text.contains("unused") {
                t.attr |= TokenAttr::UNUSED;
            }
        }
    }

    fn build_eog(&mut self) {
        let mut eog = BTreeSet::new();
        let s = self.special;
        eog.extend(s.fim_pad);
        eog.extend(s.fim_rep);
        eog.extend(s.fim_sep);
        for text in EOG_TEXTS {
            if let Some(id) = self.text_to_token(text) {
                eog.insert(id);
                self.force_control(id);
            }
        }
        // gpt-oss: these always render, as USER_DEFINED
        for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let Some(id) = self.text_to_token(text) {
                self.tokens[id as usize].attr = TokenAttr::USER_DEFINED;
            }
        }
        for (what, id) in [("eos", s.eos), ("eot", s.eot), ("eom", s.eom)] {
            if let Some(id) = id {
                if eog.insert(id) {
                    log::warn(&format!(
                        "special_{what}_id is not in the end-of-generation set - the tokenizer \
                         config may be incorrect"
                    ));
                }
            }
        }
        // o200k_harmony / solar-open: "<|end|>" is not end-of-generation there.
        let find = |eog: &BTreeSet<u32>, text: &str| {
            eog.iter()
                .copied()
                .find(|&id| self.tokens[id as usize].text == text)
        };
        let end = find(&eog, "<|end|>");
        let ret = find(&eog, "<|return|>").is_some();
        let call = find(&eog, "<|call|>").is_some() || find(&eog, "<|calls|>").is_some();
        let flush = find(&eog, "<|flush|>").is_some();
        // gemma4 / plamo: "</s>" is a normal token there.
        let normal_s =
            find(&eog, "<|tool_response>").is_some() || find(&eog, "<|plamo:eos|>").is_some();
        let s_id = find(&eog, "</s>");
        if let Some(end) = end {
            if call && (ret || flush) {
                eog.remove(&end);
                self.tokens[end as usize].attr = TokenAttr::USER_DEFINED;
            }
        }
        if let (true, Some(s_id)) = (normal_s, s_id) {
            eog.remove(&s_id);
            self.tokens[s_id as usize].attr = TokenAttr::NORMAL;
        }
        self.eog = eog.into_iter().collect();
    }

    fn build_special_cache(&mut self) {
        let mask = TokenAttr::CONTROL | TokenAttr::USER_DEFINED | TokenAttr::UNKNOWN;
        let mut cache: Vec<u32> = (0..self.tokens.len() as u32)
            .filter(|&id| self.tokens[id as usize].attr.intersects(mask))
            .collect();
        // llama.cpp sorts by length only (unstable); ties are kept in id order here.
        cache.sort_by_key(|&id| std::cmp::Reverse(self.tokens[id as usize].text.len()));
        self.special_cache = cache;
    }

    /// Per-model attribute fixes llama.cpp applies by model name (Phi-3: special tokens
    /// swallow the whitespace that follows them).
    fn apply_model_attr_overrides(&mut self, file: &GgufFile) -> Result<()> {
        let name = file
            .get_str("general.name")?
            .unwrap_or_default()
            .to_ascii_lowercase();
        if name.contains("phi-3") || name.contains("phi3") {
            for &id in &self.special_cache {
                self.tokens[id as usize].attr |= TokenAttr::RSTRIP;
            }
            if let Some(id) = self.text_to_token("</s>") {
                self.tokens[id as usize].attr |= TokenAttr::RSTRIP;
            }
            for text in ["<unk>", "<s>", "<|endoftext|>"] {
                if let Some(id) = self.text_to_token(text) {
                    self.tokens[id as usize].attr.0 &= !TokenAttr::RSTRIP.0;
                }
            }
        }
        Ok(())
    }
}

fn read_scores(file: &GgufFile, n_tokens: usize) -> Result<Option<Vec<f32>>> {
    let Some(arr) = file.get_array(KEY_SCORES)? else {
        return Ok(None);
    };
    let scores: Vec<f32> = match arr {
        Array::F32(v) => v.clone(),
        Array::I32(v) => v.iter().map(|&x| x as f32).collect(),
        other => {
            return Err(tok_err(format!(
                "'{KEY_SCORES}' must be an array of f32 or i32, not of {}",
                other.elem_type().name()
            )))
        }
    };
    if scores.len() < n_tokens {
        return Err(tok_err(format!(
            "'{KEY_SCORES}' has {} entries for {n_tokens} tokens",
            scores.len()
        )));
    }
    Ok(Some(scores))
}

fn read_types(file: &GgufFile, n_tokens: usize) -> Result<Option<Vec<i64>>> {
    let Some(arr) = file.get_array(KEY_TYPES)? else {
        return Ok(None);
    };
    let Array::I32(v) = arr else {
        return Err(tok_err(format!(
            "'{KEY_TYPES}' must be an array of i32, not of {}",
            arr.elem_type().name()
        )));
    };
    if v.len() < n_tokens {
        return Err(tok_err(format!(
            "'{KEY_TYPES}' has {} entries for {n_tokens} tokens",
            v.len()
        )));
    }
    Ok(Some(v.iter().map(|&x| i64::from(x)).collect()))
}
