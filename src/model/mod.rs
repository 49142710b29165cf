//! A loaded model: hyper-parameters, bound weights, tokenizer, and the forward pass.
//!
//! The file is copied into 2 MiB-page memory (or stays memory-mapped with `use_mmap`); weights are
//! used in place, in their file layout, through the kernel table. Only the small norm vectors
//! are copied out. A `Model` is immutable after loading and is shared (`Arc`) by any number of
//! contexts on any number of threads.

pub mod arch;
mod attention;
pub mod forward;
pub mod head8;
pub mod hparams;
mod linear;
pub mod weights;

use std::path::Path;

pub use arch::{Arch, Recipe};
pub use head8::Int8Head;
pub use hparams::HParams;
pub use weights::{EmbdFormat, Linear, LinearFormat, Weights};

use crate::gguf::{GgufFile, ReadOptions};
use crate::tokenizer::{PreTokenizer, Tokenizer, TokenizerOptions};
use crate::{Error, Result};

/// How to load a model.
#[derive(Clone, Copy, Debug)]
pub struct ModelParams {
    /// Map the file instead of copying it into anonymous memory (the default, false). The
    /// copy asks for 2 MiB pages, which decode streams from much faster (1.75x bitnet.cpp
    /// against about 1.3x mapped, docs/PERFORMANCE.md), and it cannot change under the
    /// process if the file does; mapping loads several times faster and shares its pages
    /// with other processes through the page cache.
    pub use_mmap: bool,
    /// Override the pre-tokenizer (see [`PreTokenizer`]).
    pub pre_tokenizer: PreTokenizer,
    /// How the logits are computed (default [`LmHead::Exact`]).
    pub lm_head: LmHead,
}

impl Default for ModelParams {
    fn default() -> Self {
        ModelParams {
            use_mmap: false,
            pre_tokenizer: PreTokenizer::Auto,
            lm_head: LmHead::Exact,
        }
    }
}

/// Which weights the LM head (the tied `token_embd`) multiplies with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LmHead {
    /// `token_embd` as stored, in the reference's recipe: logits bit-identical to the
    /// references (docs/numerics.md).
    #[default]
    Exact,
    /// An F16 or F32 `token_embd` requantized once at load to int8 rows with one f32 scale
    /// per row ([`head8`]), dotted with the output row quantized to int8. On the 2B-4T shapes
    /// that halves the head's bytes (657 to 328 MB) and cuts what a decoded token reads by
    /// 28%; the logits are close to the exact ones but not identical (docs/PERFORMANCE.md).
    /// Load takes longer and holds the int8 copy in anonymous memory. A Q8_0 `token_embd` is
    /// already 8-bit and stays as stored (the exact path).
    Int8,
}

impl LmHead {
    /// `"exact"` or `"int8"`.
    pub fn name(self) -> &'static str {
        match self {
            LmHead::Exact => "exact",
            LmHead::Int8 => "int8",
        }
    }

    /// The head named `name` (as [`LmHead::name`] spells it).
    pub fn from_name(name: &str) -> Option<LmHead> {
        match name {
            "exact" => Some(LmHead::Exact),
            "int8" => Some(LmHead::Int8),
            _ => None,
        }
    }
}

/// Load progress: called with a fraction in `0.0..=1.0`; returning `false` cancels the load
/// with [`Error::Cancelled`].
pub type Progress<'a> = &'a mut dyn FnMut(f32) -> bool;

/// A loaded BitNet model.
pub struct Model {
    file: GgufFile,
    hparams: HParams,
    weights: Weights,
    /// The requantized head, with [`LmHead::Int8`] (and an F16 or F32 `token_embd`).
    head8: Option<Int8Head>,
    tokenizer: Tokenizer,
}

impl Model {
    /// Loads the model at `path`.
    pub fn load(
        path: impl AsRef<Path>,
        params: &ModelParams,
        mut progress: Option<Progress<'_>>,
    ) -> Result<Model> {
        let path = path.as_ref();
        let mut report = |f: f32| -> Result<()> {
            let keep_going = match progress.as_mut() {
                Some(p) => p(f),
                None => true,
            };
            if keep_going {
                Ok(())
            } else {
                Err(Error::Cancelled)
            }
        };
        report(0.0)?;
        let file = if params.use_mmap {
            GgufFile::open(path)?
        } else {
            GgufFile::open_copied(path, ReadOptions::default())?
        };
        let model = Self::from_file(file, params, &mut report);
        crate::sys::release_free_heap();
        model
    }

    /// Builds a model from an already opened file.
    pub fn from_gguf(file: GgufFile, params: &ModelParams) -> Result<Model> {
        Self::from_file(file, params, &mut |_| Ok(()))
    }

    fn from_file(
        file: GgufFile,
        params: &ModelParams,
        report: &mut dyn FnMut(f32) -> Result<()>,
    ) -> Result<Model> {
        let arch_name = file
            .get_str("general.architecture")?
            .ok_or_else(|| Error::Format("missing key general.architecture".into()))?;
        let arch = Arch::from_name(arch_name).ok_or_else(|| {
            Error::Unsupported(format!(
                "architecture '{arch_name}' (supported: bitnet-b1.58, bitnet-25, bitnet)"
            ))
        })?;
        let hparams = HParams::from_gguf(&file, arch)?;
        let tokenizer = Tokenizer::from_gguf(
            &file,
            &TokenizerOptions {
                pre: params.pre_tokenizer,
            },
        )?;
        if tokenizer.n_vocab() != hparams.n_vocab {
            return Err(Error::Format(format!(
                "the tokenizer has {} tokens but the token list has {}",
                tokenizer.n_vocab(),
                hparams.n_vocab
            )));
        }
        report(0.1)?;
        let n_layer = hparams.n_layer;
        // Requantizing the head takes the last fifth of the progress range.
        let int8 = params.lm_head == LmHead::Int8;
        let span = if int8 { 0.7 } else { 0.9 };
        let weights = weights::bind(&file, &hparams, &mut |done| {
            report(0.1 + span * done as f32 / n_layer as f32)
        })?;
        let head8 = match weights.tok_embd.format {
            _ if !int8 => None,
            EmbdFormat::Q8_0 => {
                crate::log::info(
                    "lm_head int8: token_embd is Q8_0 (already 8-bit), used as stored",
                );
                None
            }
            EmbdFormat::F16 | EmbdFormat::F32 => Some(Int8Head::requantize(
                &file,
                &weights.tok_embd,
                &hparams,
                &mut |f| report(0.8 + 0.2 * f),
            )?),
        };
        report(1.0)?;
        Ok(Model {
            file,
            hparams,
            weights,
            head8,
            tokenizer,
        })
    }

    pub fn hparams(&self) -> &HParams {
        &self.hparams
    }

    pub fn arch(&self) -> Arch {
        self.hparams.arch
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// The head in use: [`LmHead::Int8`] only when it was asked for and `token_embd` was
    /// requantized (a Q8_0 `token_embd` is used as stored, which is the exact path).
    pub fn lm_head(&self) -> LmHead {
        if self.head8.is_some() {
            LmHead::Int8
        } else {
            LmHead::Exact
        }
    }

    /// The requantized head, if [`Model::lm_head`] is [`LmHead::Int8`].
    pub fn int8_head(&self) -> Option<&Int8Head> {
        self.head8.as_ref()
    }

    /// The GGUF file (metadata and tensor table).
    pub fn gguf(&self) -> &GgufFile {
        &self.file
    }

    /// Bytes of tensor `index` in the file.
    pub fn tensor_data(&self, index: usize) -> &[u8] {
        self.file.tensor_at(index).data
    }

    /// A metadata value rendered as text, as `llama_model_meta_val_str` does.
    pub fn meta_value(&self, key: &str) -> Option<String> {
        self.file.get(key).map(|v| match v.as_str() {
            Some(s) => s.to_string(),
            None => v.to_string(),
        })
    }

    /// The number of weights (elements of every tensor).
    pub fn n_params(&self) -> u64 {
        self.file
            .tensor_infos()
            .iter()
            .map(|t| t.n_elements())
            .sum()
    }

    /// Bytes of tensor data.
    pub fn size_bytes(&self) -> u64 {
        self.file.tensor_infos().iter().map(|t| t.n_bytes).sum()
    }

    /// `"<arch> <size> <linear type>"`, e.g. `"bitnet-b1.58 2.4B I2_S"`.
    pub fn description(&self) -> String {
        let n = self.n_params() as f64;
        let size = if n >= 1e9 {
            format!("{:.1}B", n / 1e9)
        } else {
            format!("{:.1}M", n / 1e6)
        };
        let ty = self.file.tensor_infos()[self.weights.layers[0].wq.tensor].ggml_type;
        format!("{} {size} {ty:?}", self.hparams.arch)
    }

    /// The file's `tokenizer.chat_template`, if any.
    pub fn chat_template(&self) -> Option<&str> {
        self.file.get_str("tokenizer.chat_template").ok().flatten()
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("hparams", &self.hparams)
            .finish_non_exhaustive()
    }
}

/// Sets a scratch buffer to `n` elements for a caller that then writes every one of them.
/// Unlike `clear` + `resize`, only elements past the old length are zeroed: the forward
/// pass reuses its buffers at the same sizes, and zeroing them each time was measurable.
fn resize_for_overwrite(buf: &mut Vec<f32>, n: usize) {
    buf.resize(n, 0.0);
}
