//! Writes BitNet models with random ternary weights: the real shapes and formats (up to
//! the full BitNet-b1.58-2B-4T layout) without downloading weights. Speed does not
//! depend on weight values, so benchmarks on these files are real; the text they
//! generate is noise.
//!
//! Weights follow the recipe the reference fixtures were made with: linear weights as if
//! drawn from N(0, 0.02²) and absmean-ternarized (31% zeros, per-tensor scale
//! 0.02·√(2/π) ≈ 0.016, jittered ±10% per tensor), norm weights 1 + N(0, 0.05²),
//! embeddings N(0, 0.05²). Output is deterministic for a given seed, whatever the
//! number of threads.

mod rng;
mod shape;

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use rng::SplitMix64;
pub use shape::{file_type, tensor_plan, ModelShape, PlannedTensor, SynthArch, TensorRole};

use crate::error::{Error, Result};
use crate::gguf::{GgmlType, GgufFile, GgufWriter, TensorSpec, Value};
use crate::quant;

/// bitnet.cpp's converter writes this template (one bitnet.cpp never runs) into the official file
/// (docs/bitnet-reference.md §7); synth copies it for the bitnet.cpp architectures when
/// the vocabulary file has no template of its own.
const BITNET_CPP_CONVERTER_TEMPLATE: &str = "{% for message in messages %}{% if loop.first %}{{ bos_token }}{% endif %}{% if message['role'] == 'user' %}{{ 'Human: ' + message['content'] + '\\n\\nBITNETAssistant: ' + eos_token }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}";

/// Standard deviation of the latent linear weights and of the embeddings.
const LINEAR_SIGMA: f32 = 0.02;
const EMBEDDING_SIGMA: f32 = 0.05;
const NORM_SIGMA: f32 = 0.05;
/// P(|z| < 0.5·E|z|) for a standard normal z: the share of zeros absmean ternarization
/// leaves (threshold 0.5·√(2/π) ≈ 0.399).
const ZERO_FRACTION: f32 = 0.310;
/// Elements generated per work item.
const CHUNK_ELEMENTS: u64 = 1 << 20;
/// Work items generated in parallel before their bytes are written.
const CHUNKS_PER_BATCH: usize = 32;

/// What to write.
#[derive(Clone, Debug)]
pub struct SynthOptions {
    pub shape: ModelShape,
    pub arch: SynthArch,
    /// Type of the seven linear projections per block.
    pub linear_type: GgmlType,
    /// Type of token_embd (also the tied LM head).
    pub embedding_type: GgmlType,
    pub seed: u64,
    /// Leave out `tokenizer.ggml.pre`, as the official 2B-4T file does.
    pub drop_pre: bool,
    /// `general.name`.
    pub name: String,
}

impl SynthOptions {
    /// The official 2B-4T layout: bitnet-b1.58, I2_S linears, F16 embedding.
    pub fn two_b_4t() -> SynthOptions {
        SynthOptions {
            shape: ModelShape::TWO_B_4T,
            arch: SynthArch::BitnetB158,
            linear_type: GgmlType::I2_S,
            embedding_type: GgmlType::F16,
            seed: 42,
            drop_pre: false,
            name: "bitnet-synthetic".into(),
        }
    }
}

/// What was written.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthReport {
    pub path: PathBuf,
    pub n_vocab: u64,
    pub n_tensors: usize,
    pub file_bytes: u64,
    /// Bytes of the linear (ternary) tensors.
    pub linear_bytes: u64,
    pub embedding_bytes: u64,
}

/// The tensors (name, type, shape) a model with these options has.
pub fn tensor_specs(options: &SynthOptions, n_vocab: u64) -> Vec<(TensorSpec, TensorRole)> {
    tensor_plan(&options.shape, n_vocab)
        .into_iter()
        .map(|p| {
            let ty = match p.role {
                TensorRole::Embedding => options.embedding_type,
                TensorRole::Norm => GgmlType::F32,
                TensorRole::Linear => options.linear_type,
            };
            (TensorSpec::new(p.name, ty, &p.shape), p.role)
        })
        .collect()
}

fn check_options(options: &SynthOptions) -> Result<()> {
    options.shape.validate().map_err(Error::InvalidArgument)?;
    if file_type(options.arch, options.linear_type).is_none() {
        return Err(Error::InvalidArgument(format!(
            "linear type {} is not available for architecture {} (I2_S needs bitnet-b1.58 or bitnet-25; \
             the others are i2_s, tq1_0, tq2_0, f16, f32)",
            options.linear_type,
            options.arch.name()
        )));
    }
    if !matches!(
        options.embedding_type,
        GgmlType::F16 | GgmlType::F32 | GgmlType::BF16 | GgmlType::Q8_0
    ) {
        return Err(Error::InvalidArgument(format!(
            "embedding type {} is not one of f16, f32, bf16, q8_0",
            options.embedding_type
        )));
    }
    // Rows must be whole blocks of each format (128 for I2_S, as bitnet.cpp's kernels need).
    let row_multiple = |ty: GgmlType| quant::row_multiple(ty).unwrap_or(1) as u64;
    let checks = [
        (
            "embedding length",
            options.shape.n_embd,
            options.linear_type,
            "linears",
        ),
        (
            "feed-forward length",
            options.shape.n_ff,
            options.linear_type,
            "linears",
        ),
        (
            "embedding length",
            options.shape.n_embd,
            options.embedding_type,
            "embedding",
        ),
    ];
    for (what, len, ty, role) in checks {
        if len % row_multiple(ty) != 0 {
            return Err(Error::InvalidArgument(format!(
                "{what} {len} must be a multiple of {} for {ty} {role}",
                row_multiple(ty)
            )));
        }
    }
    Ok(())
}

/// Metadata in the order the architecture's converter writes it, with the vocabulary's
/// `tokenizer.*` keys copied over.
fn metadata(
    options: &SynthOptions,
    vocab: &GgufFile,
    n_vocab: u64,
) -> Result<Vec<(String, Value)>> {
    let a = options.arch.name();
    let s = &options.shape;
    let u32v = |v: u64| {
        u32::try_from(v).map(Value::U32).map_err(|_| {
            Error::InvalidArgument(format!("{v} does not fit the u32 key it is written to"))
        })
    };
    let file_type = file_type(options.arch, options.linear_type).expect("checked in check_options");
    let mut kv: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(a.into())),
        ("general.name".into(), Value::String(options.name.clone())),
        (
            "general.description".into(),
            Value::String(format!(
                "synthetic model with random ternary weights written by libbitnet synth (seed {}); \
                 its shapes are real, its output is noise",
                options.seed
            )),
        ),
    ];
    if options.arch.is_bitnet_cpp() {
        kv.extend([
            (format!("{a}.vocab_size"), u32v(n_vocab)?),
            (format!("{a}.context_length"), u32v(s.n_ctx)?),
            (format!("{a}.embedding_length"), u32v(s.n_embd)?),
            (format!("{a}.block_count"), u32v(s.n_layer)?),
            (format!("{a}.feed_forward_length"), u32v(s.n_ff)?),
            (format!("{a}.rope.dimension_count"), u32v(s.head_dim())?),
            (format!("{a}.attention.head_count"), u32v(s.n_head)?),
            (format!("{a}.attention.head_count_kv"), u32v(s.n_head_kv)?),
            (
                format!("{a}.attention.layer_norm_rms_epsilon"),
                Value::F32(s.rms_eps),
            ),
            (format!("{a}.rope.freq_base"), Value::F32(s.rope_freq_base)),
            ("general.file_type".into(), Value::U32(file_type)),
        ]);
    } else {
        kv.extend([
            ("general.type".into(), Value::String("model".into())),
            (format!("{a}.block_count"), u32v(s.n_layer)?),
            (format!("{a}.context_length"), u32v(s.n_ctx)?),
            (format!("{a}.embedding_length"), u32v(s.n_embd)?),
            (format!("{a}.feed_forward_length"), u32v(s.n_ff)?),
            (format!("{a}.attention.head_count"), u32v(s.n_head)?),
            (format!("{a}.attention.head_count_kv"), u32v(s.n_head_kv)?),
            (format!("{a}.rope.freq_base"), Value::F32(s.rope_freq_base)),
            (
                format!("{a}.attention.layer_norm_rms_epsilon"),
                Value::F32(s.rms_eps),
            ),
            ("general.file_type".into(), Value::U32(file_type)),
        ]);
    }
    kv.push(("general.quantization_version".into(), Value::U32(2)));

    let mut has_template = false;
    let mut has_add_bos = false;
    for (key, value) in vocab.metadata() {
        if !key.starts_with("tokenizer.") || (options.drop_pre && key == "tokenizer.ggml.pre") {
            continue;
        }
        has_template |= key == "tokenizer.chat_template";
        has_add_bos |= key == "tokenizer.ggml.add_bos_token";
        kv.push((key.clone(), value.clone()));
    }
    if options.arch.is_bitnet_cpp() {
        // The official file carries both; bitnet.cpp's converter always writes them.
        if !has_add_bos {
            kv.push(("tokenizer.ggml.add_bos_token".into(), Value::Bool(true)));
        }
        if !has_template {
            kv.push((
                "tokenizer.chat_template".into(),
                Value::String(BITNET_CPP_CONVERTER_TEMPLATE.into()),
            ));
        }
    }
    Ok(kv)
}

/// Writes a model with `options` and the vocabulary of `vocab` to `out`. The file
/// appears only when complete (it is written beside `out` and renamed).
pub fn synthesize(vocab: &GgufFile, options: &SynthOptions, out: &Path) -> Result<SynthReport> {
    check_options(options)?;
    let n_vocab = match vocab.get_str_array("tokenizer.ggml.tokens")? {
        Some(tokens) if !tokens.is_empty() => tokens.len() as u64,
        _ => {
            return Err(Error::InvalidArgument(
                "the vocabulary file has no tokenizer.ggml.tokens".into(),
            ))
        }
    };
    if vocab.get_str("tokenizer.ggml.model")?.is_none() {
        return Err(Error::InvalidArgument(
            "the vocabulary file has no tokenizer.ggml.model".into(),
        ));
    }

    let mut writer = GgufWriter::new();
    for (key, value) in metadata(options, vocab, n_vocab)? {
        writer.add(key, value)?;
    }
    let specs = tensor_specs(options, n_vocab);
    for (spec, _) in &specs {
        writer.add_tensor(spec.clone())?;
    }

    let tmp = out.with_extension("partial");
    let file =
        File::create(&tmp).map_err(|e| Error::io(format!("cannot create {}", tmp.display()), e))?;
    let result = write_tensors(
        writer,
        BufWriter::with_capacity(8 << 20, file),
        &specs,
        options.seed,
    );
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, out)
        .map_err(|e| Error::io(format!("cannot rename to {}", out.display()), e))?;

    let sum = |role: TensorRole| -> u64 {
        specs
            .iter()
            .filter(|(_, r)| *r == role)
            .map(|(s, _)| s.ggml_type.n_bytes(&s.shape).unwrap_or(0))
            .sum()
    };
    let file_bytes = std::fs::metadata(out)
        .map_err(|e| Error::io(format!("cannot stat {}", out.display()), e))?
        .len();
    Ok(SynthReport {
        path: out.to_path_buf(),
        n_vocab,
        n_tensors: specs.len(),
        file_bytes,
        linear_bytes: sum(TensorRole::Linear),
        embedding_bytes: sum(TensorRole::Embedding),
    })
}

fn write_tensors(
    writer: GgufWriter,
    sink: BufWriter<File>,
    specs: &[(TensorSpec, TensorRole)],
    seed: u64,
) -> Result<()> {
    let mut stream = writer.begin(sink)?;
    for (index, (spec, role)) in specs.iter().enumerate() {
        let fill = Fill::new(*role, seed, index as u64);
        let row_len = spec.shape[0];
        let n_rows: u64 = spec.shape[1..].iter().product();
        let rows_per_chunk = (CHUNK_ELEMENTS / row_len).max(1);
        let chunks: Vec<(u64, u64)> = (0..n_rows)
            .step_by(rows_per_chunk as usize)
            .map(|r| (r, rows_per_chunk.min(n_rows - r)))
            .collect();
        for batch in chunks.chunks(CHUNKS_PER_BATCH) {
            let packed: Vec<Vec<u8>> = batch
                .par_iter()
                .map(|&(row0, rows)| fill.chunk(spec.ggml_type, row_len, row0, rows))
                .collect::<Result<_>>()?;
            for bytes in &packed {
                stream.write_data(bytes)?;
            }
        }
        if spec.ggml_type == GgmlType::I2_S {
            stream.write_data(&quant::i2s::tail(fill.scale))?;
        }
    }
    stream.finish()?;
    Ok(())
}

/// How one tensor's values are drawn.
struct Fill {
    role: TensorRole,
    seed: u64,
    stream: u64,
    /// Per-tensor scale of a linear tensor.
    scale: f32,
}

impl Fill {
    fn new(role: TensorRole, seed: u64, stream: u64) -> Fill {
        let mut rng = SplitMix64::for_stream(seed, stream, u64::MAX);
        let jitter = 1.0 + 0.1 * (2.0 * rng.next_f32() - 1.0);
        let scale = LINEAR_SIGMA * (2.0 / std::f32::consts::PI).sqrt() * jitter;
        Fill {
            role,
            seed,
            stream,
            scale,
        }
    }

    /// Values of rows `row0 .. row0 + rows`, packed into `ty`. For I2_S, only the code
    /// bytes: the tail with the scale is written once after the last chunk.
    fn chunk(&self, ty: GgmlType, row_len: u64, row0: u64, rows: u64) -> Result<Vec<u8>> {
        let mut rng = SplitMix64::for_stream(self.seed, self.stream, row0);
        let n = (row_len * rows) as usize;
        let mut values = vec![0f32; n];
        match self.role {
            TensorRole::Linear => {
                let threshold = (ZERO_FRACTION * 4_294_967_296.0) as u64;
                for v in values.iter_mut() {
                    let r = rng.next_u64();
                    // Low 32 bits decide zero or not, bit 32 the sign.
                    *v = if (r & 0xFFFF_FFFF) < threshold {
                        0.0
                    } else if r >> 32 & 1 == 0 {
                        self.scale
                    } else {
                        -self.scale
                    };
                }
            }
            TensorRole::Embedding | TensorRole::Norm => {
                let (sigma, mean) = match self.role {
                    TensorRole::Norm => (NORM_SIGMA, 1.0),
                    _ => (EMBEDDING_SIGMA, 0.0),
                };
                for pair in values.chunks_mut(2) {
                    let (a, b) = rng.next_normal_pair();
                    pair[0] = mean + sigma * a;
                    if let Some(x) = pair.get_mut(1) {
                        *x = mean + sigma * b;
                    }
                }
            }
        }
        if ty == GgmlType::I2_S {
            return quant::i2s::pack_blocks(&values, self.scale);
        }
        quant::pack(ty, &values, &[row_len, rows])
    }
}
