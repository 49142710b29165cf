//! Binding the file's tensors to the model: names, shapes and types checked against the
//! hyper-parameters, with errors that name the tensor, what was expected and what was found.

use super::hparams::HParams;
use crate::gguf::{GgmlType, GgufFile, TensorInfo};
use crate::quant;
use crate::{Error, Result};

/// How a projection's weights are stored, which decides its kernel and activation format.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LinearFormat {
    /// bitnet.cpp I2_S with its per-tensor scale; int8 absmax activations.
    I2s {
        scale: f32,
    },
    /// TQ2_0 / TQ1_0 blocks; Q8_K activations.
    Tq2_0,
    Tq1_0,
    /// Plain float weights; float activations (F16 ones rounded to f16).
    F16,
    F32,
}

/// One projection `y = W x` with `W` of `n_out` rows by `n_in` columns.
#[derive(Clone, Debug)]
pub struct Linear {
    pub name: String,
    pub format: LinearFormat,
    /// Index of the tensor in the file.
    pub tensor: usize,
    pub n_in: usize,
    pub n_out: usize,
    /// The optional `*.scale` tensor (llama.cpp's `bitnet` arch) multiplied into the output.
    pub out_scale: Option<f32>,
}

/// Storage of `token_embd`, which is also the LM head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbdFormat {
    F16,
    F32,
    Q8_0,
}

#[derive(Clone, Debug)]
pub struct Embedding {
    pub format: EmbdFormat,
    pub tensor: usize,
}

/// One transformer block.
#[derive(Clone, Debug)]
pub struct Layer {
    pub attn_norm: Vec<f32>,
    pub wq: Linear,
    pub wk: Linear,
    pub wv: Linear,
    pub attn_sub_norm: Vec<f32>,
    pub wo: Linear,
    pub ffn_norm: Vec<f32>,
    pub ffn_gate: Linear,
    pub ffn_up: Linear,
    pub ffn_sub_norm: Vec<f32>,
    pub ffn_down: Linear,
}

#[derive(Clone, Debug)]
pub struct Weights {
    pub tok_embd: Embedding,
    pub output_norm: Vec<f32>,
    pub layers: Vec<Layer>,
}

/// Binds every tensor the architecture needs; `progress(done_layers)` is called after each
/// layer and may stop the load by returning an error.
pub fn bind(
    file: &GgufFile,
    hp: &HParams,
    progress: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<Weights> {
    let mut binder = Binder {
        file,
        used: vec![false; file.n_tensors()],
    };
    let tok_embd = binder.embedding(hp)?;
    let output_norm = binder.norm("output_norm.weight", hp.n_embd)?;
    let (e, kv, ff) = (hp.n_embd, hp.n_embd_kv(), hp.n_ff);
    let mut layers = Vec::with_capacity(hp.n_layer);
    for i in 0..hp.n_layer {
        let name = |t: &str| format!("blk.{i}.{t}.weight");
        let mut lin = |t: &str, n_in, n_out| {
            binder.linear(&name(t), &format!("blk.{i}.{t}.scale"), n_in, n_out)
        };
        let (wq, wk, wv, wo) = (
            lin("attn_q", e, e)?,
            lin("attn_k", e, kv)?,
            lin("attn_v", e, kv)?,
            lin("attn_output", e, e)?,
        );
        let (ffn_gate, ffn_up, ffn_down) = (
            lin("ffn_gate", e, ff)?,
            lin("ffn_up", e, ff)?,
            lin("ffn_down", ff, e)?,
        );
        layers.push(Layer {
            attn_norm: binder.norm(&name("attn_norm"), e)?,
            wq,
            wk,
            wv,
            attn_sub_norm: binder.norm(&name("attn_sub_norm"), e)?,
            wo,
            ffn_norm: binder.norm(&name("ffn_norm"), e)?,
            ffn_gate,
            ffn_up,
            ffn_sub_norm: binder.norm(&name("ffn_sub_norm"), ff)?,
            ffn_down,
        });
        progress(i + 1)?;
    }
    for (info, _) in file
        .tensor_infos()
        .iter()
        .zip(&binder.used)
        .filter(|(_, &u)| !u)
    {
        // The references use token_embd as the LM head even when output.weight exists.
        crate::log::warn(&format!(
            "ignoring tensor '{}', which {} does not use",
            info.name, hp.arch
        ));
    }
    Ok(Weights {
        tok_embd,
        output_norm,
        layers,
    })
}

struct Binder<'a> {
    file: &'a GgufFile,
    used: Vec<bool>,
}

impl Binder<'_> {
    fn find(&mut self, name: &str) -> Option<(usize, &TensorInfo)> {
        let i = self
            .file
            .tensor_infos()
            .iter()
            .position(|t| t.name == name)?;
        self.used[i] = true;
        Some((i, &self.file.tensor_infos()[i]))
    }

    fn require(&mut self, name: &str) -> Result<(usize, TensorInfo)> {
        self.find(name)
            .map(|(i, t)| (i, t.clone()))
            .ok_or_else(|| Error::Format(format!("missing tensor '{name}'")))
    }

    fn embedding(&mut self, hp: &HParams) -> Result<Embedding> {
        let (tensor, info) = self.require("token_embd.weight")?;
        check_shape(&info, &[hp.n_embd, hp.n_vocab])?;
        let data = self.file.tensor_at(tensor).data;
        let format = match info.ggml_type {
            GgmlType::F16 => {
                check_view(&info.name, crate::kernels::view::as_u16s(data).is_some())?;
                EmbdFormat::F16
            }
            GgmlType::F32 => {
                check_view(&info.name, crate::kernels::view::as_f32s(data).is_some())?;
                EmbdFormat::F32
            }
            GgmlType::Q8_0 => EmbdFormat::Q8_0,
            t => return Err(unsupported_type(&info.name, t, "F16, F32 or Q8_0")),
        };
        Ok(Embedding { format, tensor })
    }

    fn norm(&mut self, name: &str, n: usize) -> Result<Vec<f32>> {
        let (i, info) = self.require(name)?;
        check_shape(&info, &[n])?;
        match info.ggml_type {
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => {}
            t => return Err(unsupported_type(name, t, "F32, F16 or BF16")),
        }
        quant::dequantize(info.ggml_type, self.file.tensor_at(i).data, n)
    }

    fn linear(
        &mut self,
        name: &str,
        scale_name: &str,
        n_in: usize,
        n_out: usize,
    ) -> Result<Linear> {
        let (tensor, info) = self.require(name)?;
        check_shape(&info, &[n_in, n_out])?;
        let data = self.file.tensor_at(tensor).data;
        let n = n_in * n_out;
        let format = match info.ggml_type {
            GgmlType::I2_S => {
                reject_invalid_codes(name, quant::i2s::count_invalid_codes(data, n)?)?;
                LinearFormat::I2s {
                    scale: quant::i2s::scale(data, n)?,
                }
            }
            GgmlType::TQ2_0 => {
                reject_invalid_codes(name, quant::tq2_0::count_invalid_codes(data, n)?)?;
                LinearFormat::Tq2_0
            }
            GgmlType::TQ1_0 => LinearFormat::Tq1_0,
            GgmlType::F16 => {
                check_view(name, crate::kernels::view::as_u16s(data).is_some())?;
                LinearFormat::F16
            }
            GgmlType::F32 => {
                check_view(name, crate::kernels::view::as_f32s(data).is_some())?;
                LinearFormat::F32
            }
            t => return Err(unsupported_type(name, t, "I2_S, TQ2_0, TQ1_0, F16 or F32")),
        };
        let multiple = quant::row_multiple(info.ggml_type).unwrap_or(1);
        if n_in % multiple != 0 {
            return Err(Error::Format(format!(
                "tensor '{name}': rows of {n_in} elements are not a multiple of {multiple}, which {:?} needs",
                info.ggml_type
            )));
        }
        let out_scale = match self.find(scale_name).map(|(i, t)| (i, t.clone())) {
            None => None,
            Some((i, sinfo)) => {
                check_shape(&sinfo, &[1])?;
                if sinfo.ggml_type != GgmlType::F32 {
                    return Err(unsupported_type(scale_name, sinfo.ggml_type, "F32"));
                }
                Some(quant::dequantize(GgmlType::F32, self.file.tensor_at(i).data, 1)?[0])
            }
        };
        Ok(Linear {
            name: name.to_string(),
            format,
            tensor,
            n_in,
            n_out,
            out_scale,
        })
    }
}

fn check_shape(info: &TensorInfo, expected: &[usize]) -> Result<()> {
    let found: Vec<u64> = info.shape.clone();
    if found.len() == expected.len() && found.iter().zip(expected).all(|(&f, &e)| f == e as u64) {
        Ok(())
    } else {
        Err(Error::Format(format!(
            "tensor '{}' has shape {found:?}, expected {expected:?}",
            info.name
        )))
    }
}

fn unsupported_type(name: &str, t: GgmlType, allowed: &str) -> Error {
    Error::Unsupported(format!(
        "tensor '{name}' has type {t:?}; this engine reads {allowed} there"
    ))
}

fn check_view(name: &str, ok: bool) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Unsupported(format!(
            "tensor '{name}' is not aligned to its element size in memory (file alignment too small)"
        )))
    }
}

fn reject_invalid_codes(name: &str, count: usize) -> Result<()> {
    if count == 0 {
        Ok(())
    } else {
        Err(Error::Format(format!(
            "tensor '{name}' holds {count} weights with the invalid 2-bit code 3"
        )))
    }
}
