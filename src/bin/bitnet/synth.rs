//! `bitnet synth`: write a BitNet model with random ternary weights.

use std::path::PathBuf;
use std::time::Instant;

use bitnet::gguf::{GgmlType, GgufFile};
use bitnet::synth::{synthesize, ModelShape, SynthArch, SynthOptions};

use crate::args::Args;
use crate::CliResult;

pub const USAGE: &str = "bitnet synth --vocab VOCAB.gguf --out FILE [options]
  Writes a BitNet model with random ternary weights and the vocabulary (every
  tokenizer.* key) of VOCAB.gguf. Shapes and formats are real, so speed measured
  on the file is real; the text it generates is noise.

  --shape 2b-4t|tiny     preset dimensions (default 2b-4t: BitNet-b1.58-2B-4T;
                         tiny: the 4-layer shapes of the test fixtures)
  --arch NAME            bitnet-b1.58 (default), bitnet-25, or bitnet (llama.cpp)
  --type TYPE            linear weights: i2_s (default for bitnet.cpp architectures),
                         tq2_0 (default for bitnet), tq1_0, f16, f32
  --embd-type TYPE       token embedding / tied LM head: f16 (default), q8_0, bf16, f32
  --seed N               random seed (default 42); output is deterministic
  --drop-pre             leave out tokenizer.ggml.pre, as the official 2B-4T file does
  --name NAME            general.name (default bitnet-synthetic)
  --embd N --layers N --ff N --heads N --kv-heads N --ctx N
                         override single dimensions of the preset";

pub fn run(mut args: Args) -> CliResult {
    let vocab_path: PathBuf = args
        .value("vocab")?
        .ok_or("--vocab VOCAB.gguf is required")?
        .into();
    let out: PathBuf = args.value("out")?.ok_or("--out FILE is required")?.into();
    let shape_name = args.value("shape")?.unwrap_or_else(|| "2b-4t".into());
    let mut shape = ModelShape::preset(&shape_name)
        .ok_or_else(|| format!("unknown shape '{shape_name}' (2b-4t, tiny)"))?;
    let arch_name = args.value("arch")?.unwrap_or_else(|| "bitnet-b1.58".into());
    let arch = SynthArch::parse(&arch_name).ok_or_else(|| {
        format!("unknown architecture '{arch_name}' (bitnet-b1.58, bitnet-25, bitnet)")
    })?;
    let parse_type =
        |name: String| GgmlType::parse_name(&name).ok_or_else(|| format!("unknown type '{name}'"));
    let linear_type = match args.value("type")? {
        Some(t) => parse_type(t)?,
        None if arch.is_bitnet_cpp() => GgmlType::I2_S,
        None => GgmlType::TQ2_0,
    };
    let embedding_type = match args.value("embd-type")? {
        Some(t) => parse_type(t)?,
        None => GgmlType::F16,
    };
    let seed = args.parsed("seed")?.unwrap_or(42);
    let name = args
        .value("name")?
        .unwrap_or_else(|| "bitnet-synthetic".into());
    let drop_pre = args.flag("drop-pre");
    for (flag, field) in [
        ("embd", &mut shape.n_embd),
        ("layers", &mut shape.n_layer),
        ("ff", &mut shape.n_ff),
        ("heads", &mut shape.n_head),
        ("kv-heads", &mut shape.n_head_kv),
        ("ctx", &mut shape.n_ctx),
    ] {
        if let Some(v) = args.parsed(flag)? {
            *field = v;
        }
    }
    args.finish()?;

    let vocab = GgufFile::open(&vocab_path)?;
    let options = SynthOptions {
        shape,
        arch,
        linear_type,
        embedding_type,
        seed,
        drop_pre,
        name,
    };
    let start = Instant::now();
    let report = synthesize(&vocab, &options, &out)?;
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "wrote {}: {} tensors, {} bytes ({} bytes of {} linears, {} bytes of {} embedding), \
         {}-token vocabulary, in {secs:.1} s ({:.0} MB/s)",
        report.path.display(),
        report.n_tensors,
        report.file_bytes,
        report.linear_bytes,
        linear_type,
        report.embedding_bytes,
        embedding_type,
        report.n_vocab,
        report.file_bytes as f64 / secs / 1e6
    );
    Ok(())
}
