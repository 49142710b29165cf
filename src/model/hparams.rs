//! Hyper-parameters read from the GGUF metadata, with the references' defaults and checks.

use super::arch::Arch;
use crate::gguf::GgufFile;
use crate::{Error, Result};

/// The model's shape and numeric constants.
#[derive(Clone, Debug, PartialEq)]
pub struct HParams {
    pub arch: Arch,
    /// Tokens in the vocabulary (the length of `tokenizer.ggml.tokens`).
    pub n_vocab: usize,
    /// `{arch}.context_length`: the context the model was trained with.
    pub n_ctx_train: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_ff: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    /// `n_embd / n_head`.
    pub head_dim: usize,
    pub rms_eps: f32,
    pub rope_freq_base: f32,
    /// `1 / {arch}.rope.scaling.factor` for linear scaling, else 1.
    pub rope_freq_scale: f32,
}

impl HParams {
    /// Width of the K (and V) projections: `n_head_kv * head_dim`.
    pub fn n_embd_kv(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// Reads and checks the hyper-parameters of `arch` from `file`.
    pub fn from_gguf(file: &GgufFile, arch: Arch) -> Result<HParams> {
        let key = |k: &str| format!("{}.{k}", arch.name());
        let uint = |k: &str| -> Result<Option<usize>> {
            let full = key(k);
            match file.get_uint(&full)? {
                None => Ok(None),
                Some(v) => usize::try_from(v)
                    .ok()
                    .filter(|&v| v <= 1 << 24)
                    .map(Some)
                    .ok_or_else(|| Error::Format(format!("{full} = {v} is out of range"))),
            }
        };
        let required = |k: &str| -> Result<usize> {
            uint(k)?.ok_or_else(|| Error::Format(format!("missing key {}", key(k))))
        };
        let n_vocab = file
            .get_str_array("tokenizer.ggml.tokens")?
            .map(<[String]>::len)
            .ok_or_else(|| Error::Format("missing key tokenizer.ggml.tokens".into()))?;
        let n_embd = required("embedding_length")?;
        let n_head = required("attention.head_count")?;
        let n_head_kv = uint("attention.head_count_kv")?.unwrap_or(n_head);
        let hp_err = |m: String| Err(Error::Format(m));
        if n_embd == 0 || n_head == 0 || n_head_kv == 0 {
            return hp_err(format!(
                "zero dimension: embedding_length {n_embd}, head_count {n_head}, head_count_kv {n_head_kv}"
            ));
        }
        if n_embd % n_head != 0 {
            return hp_err(format!(
                "embedding_length {n_embd} is not a multiple of head_count {n_head}"
            ));
        }
        if n_head % n_head_kv != 0 {
            return hp_err(format!(
                "head_count {n_head} is not a multiple of head_count_kv {n_head_kv}"
            ));
        }
        let head_dim = n_embd / n_head;
        if head_dim % 2 != 0 {
            return hp_err(format!(
                "head dimension {head_dim} is odd; RoPE needs pairs"
            ));
        }
        if let Some(n_rot) = uint("rope.dimension_count")? {
            if n_rot != head_dim {
                return Err(Error::Unsupported(format!(
                    "{} = {n_rot} differs from the head dimension {head_dim} (partial RoPE)",
                    key("rope.dimension_count")
                )));
            }
        }
        let rms_eps = file
            .get_f32(&key("attention.layer_norm_rms_epsilon"))?
            .ok_or_else(|| {
                Error::Format(format!(
                    "missing key {}",
                    key("attention.layer_norm_rms_epsilon")
                ))
            })?;
        let rope_freq_base = file.get_f32(&key("rope.freq_base"))?.unwrap_or(10000.0);
        let rope_freq_scale =
            rope_scale(file, &key("rope.scaling.type"), &key("rope.scaling.factor"))?;
        let finite_positive = |v: f32| v.is_finite() && v > 0.0;
        if !finite_positive(rms_eps) || !finite_positive(rope_freq_base) {
            return hp_err(format!(
                "rms epsilon {rms_eps} and rope frequency base {rope_freq_base} must be positive"
            ));
        }
        let hp = HParams {
            arch,
            n_vocab,
            n_ctx_train: required("context_length")?,
            n_embd,
            n_layer: required("block_count")?,
            n_ff: required("feed_forward_length")?,
            n_head,
            n_head_kv,
            head_dim,
            rms_eps,
            rope_freq_base,
            rope_freq_scale,
        };
        if hp.n_layer == 0 || hp.n_ff == 0 || hp.n_vocab == 0 || hp.n_ctx_train == 0 {
            return hp_err(format!(
                "zero dimension: block_count {}, feed_forward_length {}, vocabulary {}, context_length {}",
                hp.n_layer, hp.n_ff, hp.n_vocab, hp.n_ctx_train
            ));
        }
        if let Some(v) = uint("vocab_size")? {
            if v != n_vocab {
                crate::log::warn(&format!(
                    "{} = {v} but the token list has {n_vocab} entries; using the token list",
                    key("vocab_size")
                ));
            }
        }
        Ok(hp)
    }
}

/// llama.cpp's rule: linear (or no) scaling with factor f gives freq_scale = 1/f (1 when f
/// is 0 or absent); other scaling types are not implemented.
fn rope_scale(file: &GgufFile, type_key: &str, factor_key: &str) -> Result<f32> {
    match file.get_str(type_key)? {
        None | Some("none") | Some("linear") => {}
        Some(other) => {
            return Err(Error::Unsupported(format!(
                "{type_key} = \"{other}\" (only linear RoPE scaling is implemented)"
            )))
        }
    }
    let factor = file.get_f32(factor_key)?.unwrap_or(0.0);
    if factor == 0.0 {
        Ok(1.0)
    } else if factor.is_finite() && factor > 0.0 {
        Ok(1.0 / factor)
    } else {
        Err(Error::Format(format!(
            "{factor_key} = {factor} must be positive"
        )))
    }
}
