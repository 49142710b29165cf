//! Hyper-parameters of the models `synth` writes, the named presets, and the tensor
//! list each architecture expects (names and order as the references' converters write).

use crate::gguf::GgmlType;

/// The architecture string written to `general.architecture`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynthArch {
    /// `bitnet-b1.58`: the official 2B-4T file (bitnet.cpp).
    BitnetB158,
    /// `bitnet-25`: the first upload of the same model (bitnet.cpp).
    Bitnet25,
    /// `bitnet`: llama.cpp's converter for BitnetForCausalLM.
    Bitnet,
}

impl SynthArch {
    pub fn name(self) -> &'static str {
        match self {
            SynthArch::BitnetB158 => "bitnet-b1.58",
            SynthArch::Bitnet25 => "bitnet-25",
            SynthArch::Bitnet => "bitnet",
        }
    }

    pub fn parse(s: &str) -> Option<SynthArch> {
        [
            SynthArch::BitnetB158,
            SynthArch::Bitnet25,
            SynthArch::Bitnet,
        ]
        .into_iter()
        .find(|a| a.name() == s)
    }

    /// True for the architectures only bitnet.cpp reads.
    pub fn is_bitnet_cpp(self) -> bool {
        !matches!(self, SynthArch::Bitnet)
    }
}

/// Model dimensions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelShape {
    pub n_embd: u64,
    pub n_layer: u64,
    pub n_ff: u64,
    pub n_head: u64,
    pub n_head_kv: u64,
    pub n_ctx: u64,
    pub rope_freq_base: f32,
    pub rms_eps: f32,
}

impl ModelShape {
    /// BitNet-b1.58-2B-4T (docs/bitnet-reference.md §2).
    pub const TWO_B_4T: ModelShape = ModelShape {
        n_embd: 2560,
        n_layer: 30,
        n_ff: 6912,
        n_head: 20,
        n_head_kv: 5,
        n_ctx: 4096,
        rope_freq_base: 500_000.0,
        rms_eps: 1e-5,
    };

    /// The shapes of the reference fixtures (tests/fixtures/models).
    pub const TINY: ModelShape = ModelShape {
        n_embd: 256,
        n_layer: 4,
        n_ff: 768,
        n_head: 4,
        n_head_kv: 2,
        n_ctx: 512,
        rope_freq_base: 500_000.0,
        rms_eps: 1e-5,
    };

    /// `2b-4t` or `tiny`.
    pub fn preset(name: &str) -> Option<ModelShape> {
        match name {
            "2b-4t" => Some(Self::TWO_B_4T),
            "tiny" => Some(Self::TINY),
            _ => None,
        }
    }

    pub fn head_dim(&self) -> u64 {
        self.n_embd / self.n_head.max(1)
    }

    /// Checks the dimensions make a model the references can run.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("embedding length", self.n_embd),
            ("layer count", self.n_layer),
            ("feed-forward length", self.n_ff),
            ("head count", self.n_head),
            ("KV head count", self.n_head_kv),
            ("context length", self.n_ctx),
        ];
        if let Some((what, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{what} must be positive"));
        }
        if self.n_embd % self.n_head != 0 {
            return Err(format!(
                "embedding length {} is not a multiple of the head count {}",
                self.n_embd, self.n_head
            ));
        }
        if self.n_head % self.n_head_kv != 0 {
            return Err(format!(
                "head count {} is not a multiple of the KV head count {}",
                self.n_head, self.n_head_kv
            ));
        }
        if self.head_dim() % 2 != 0 {
            return Err(format!(
                "head size {} must be even for RoPE",
                self.head_dim()
            ));
        }
        Ok(())
    }
}

/// What a tensor holds, which decides how synth fills it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorRole {
    Embedding,
    Norm,
    Linear,
}

/// One tensor of the plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedTensor {
    pub name: String,
    pub shape: Vec<u64>,
    pub role: TensorRole,
}

/// Every tensor of a BitNet model of `shape`, in the references' order:
/// token_embd, then per block attn_norm, attn_q, attn_k, attn_v, attn_output,
/// attn_sub_norm, ffn_norm, ffn_gate, ffn_up, ffn_down, ffn_sub_norm, then output_norm.
/// There is no output.weight: the LM head is tied to token_embd.
pub fn tensor_plan(shape: &ModelShape, n_vocab: u64) -> Vec<PlannedTensor> {
    let e = shape.n_embd;
    let kv = shape.head_dim() * shape.n_head_kv;
    let ff = shape.n_ff;
    let t = |name: String, shape: &[u64], role| PlannedTensor {
        name,
        shape: shape.to_vec(),
        role,
    };
    let mut plan = vec![t(
        "token_embd.weight".into(),
        &[e, n_vocab],
        TensorRole::Embedding,
    )];
    for i in 0..shape.n_layer {
        let b = |n: &str| format!("blk.{i}.{n}.weight");
        plan.extend([
            t(b("attn_norm"), &[e], TensorRole::Norm),
            t(b("attn_q"), &[e, e], TensorRole::Linear),
            t(b("attn_k"), &[e, kv], TensorRole::Linear),
            t(b("attn_v"), &[e, kv], TensorRole::Linear),
            t(b("attn_output"), &[e, e], TensorRole::Linear),
            t(b("attn_sub_norm"), &[e], TensorRole::Norm),
            t(b("ffn_norm"), &[e], TensorRole::Norm),
            t(b("ffn_gate"), &[e, ff], TensorRole::Linear),
            t(b("ffn_up"), &[e, ff], TensorRole::Linear),
            t(b("ffn_down"), &[ff, e], TensorRole::Linear),
            t(b("ffn_sub_norm"), &[ff], TensorRole::Norm),
        ]);
    }
    plan.push(t("output_norm.weight".into(), &[e], TensorRole::Norm));
    plan
}

/// `general.file_type` for a model whose linears are `linear` (llama_ftype numbering;
/// I2_S is the fork's 40). `None` for combinations no reference reads: upstream
/// llama.cpp refuses type id 36, so I2_S needs a bitnet.cpp architecture.
pub fn file_type(arch: SynthArch, linear: GgmlType) -> Option<u32> {
    Some(match linear {
        GgmlType::F32 => 0,
        GgmlType::F16 => 1,
        GgmlType::TQ1_0 => 36,
        GgmlType::TQ2_0 => 37,
        GgmlType::I2_S if arch.is_bitnet_cpp() => 40,
        _ => return None,
    })
}
