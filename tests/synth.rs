//! The model writer: synthesized files have exactly the layout of the reference
//! fixtures (same tensor table, byte for byte in sizes and offsets), the weights have the
//! documented statistics, output is deterministic, and the 2B-4T plan has the official
//! file's 332 tensors.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use bitnet::gguf::{GgmlType, GgufFile};
use bitnet::quant;
use bitnet::synth::{synthesize, tensor_specs, ModelShape, SynthArch, SynthOptions, TensorRole};

mod common;
use common::fixture;

/// A path in the temp dir, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> TempPath {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        TempPath(std::env::temp_dir().join(format!(
            "bitnet-synth-{}-{n}-{tag}.gguf",
            std::process::id()
        )))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn tiny(arch: SynthArch, linear: GgmlType, seed: u64) -> SynthOptions {
    SynthOptions {
        shape: ModelShape::TINY,
        arch,
        linear_type: linear,
        embedding_type: GgmlType::F16,
        seed,
        drop_pre: false,
        name: "test".into(),
    }
}

fn write(vocab: &GgufFile, options: &SynthOptions) -> (TempPath, GgufFile) {
    let path = TempPath::new(options.arch.name());
    synthesize(vocab, options, &path.0).unwrap();
    let file = GgufFile::open(&path.0).unwrap();
    (path, file)
}

/// The synthesized tiny models have the fixtures' tensor tables exactly: names, order,
/// types, shapes, sizes and data offsets (so the same layout the references' tool chains
/// write), and the same tokenizer metadata.
#[test]
fn tiny_models_match_the_fixture_layouts() {
    for (fixture_file, arch, linear) in [
        (
            "models/i2s-b158.gguf",
            SynthArch::BitnetB158,
            GgmlType::I2_S,
        ),
        (
            "models/tq2_0-bitnet.gguf",
            SynthArch::Bitnet,
            GgmlType::TQ2_0,
        ),
        (
            "models/tq1_0-bitnet.gguf",
            SynthArch::Bitnet,
            GgmlType::TQ1_0,
        ),
    ] {
        let reference = fixture(fixture_file);
        let (_tmp, ours) = write(&reference, &tiny(arch, linear, 1));
        assert_eq!(
            ours.tensor_infos(),
            reference.tensor_infos(),
            "{fixture_file}"
        );
        assert_eq!(ours.architecture(), reference.architecture());
        assert_eq!(ours.dialect(), reference.dialect());
        for (key, value) in reference.metadata() {
            let ours_value = ours.get(key);
            if key.starts_with("tokenizer.")
                || key.contains(".rope.freq_base")
                || key.contains("_length")
            {
                assert_eq!(ours_value, Some(value), "{fixture_file}: {key}");
            }
        }
        for key in [
            "block_count",
            "attention.head_count",
            "attention.head_count_kv",
        ] {
            let key = format!("{}.{key}", arch.name());
            assert_eq!(
                ours.get_uint(&key).unwrap(),
                reference.get_uint(&key).unwrap(),
                "{key}"
            );
        }
        assert_eq!(
            ours.get_uint("general.file_type").unwrap(),
            reference.get_uint("general.file_type").unwrap()
        );
    }
}

#[test]
fn weights_have_the_documented_statistics() {
    let vocab = fixture("models/i2s-b158.gguf");
    let (_tmp, file) = write(&vocab, &tiny(SynthArch::BitnetB158, GgmlType::I2_S, 7));
    let mut scales = Vec::new();
    let (mut zeros, mut total) = (0usize, 0usize);
    for t in file.tensors() {
        let n = t.info.n_elements() as usize;
        let v = quant::dequantize(t.info.ggml_type, t.data, n).unwrap();
        match t.info.ggml_type {
            GgmlType::I2_S => {
                let s = quant::i2s::scale(t.data, n).unwrap();
                assert!(
                    v.iter().all(|&x| x == 0.0 || x == s || x == -s),
                    "{} is not ternary",
                    t.info.name
                );
                zeros += v.iter().filter(|&&x| x == 0.0).count();
                total += n;
                scales.push(s);
                // No invalid code 3 anywhere.
                assert_eq!(quant::i2s::count_invalid_codes(t.data, n).unwrap(), 0);
            }
            GgmlType::F32 => {
                let mean = v.iter().sum::<f32>() / n as f32;
                assert!(
                    (mean - 1.0).abs() < 0.02,
                    "{}: norm mean {mean}",
                    t.info.name
                );
            }
            GgmlType::F16 => {
                let rms = (v.iter().map(|x| x * x).sum::<f32>() / n as f32).sqrt();
                assert!((rms - 0.05).abs() < 0.002, "embedding rms {rms}");
            }
            other => panic!("unexpected {other}"),
        }
    }
    let zero_fraction = zeros as f64 / total as f64;
    assert!(
        (zero_fraction - 0.31).abs() < 0.01,
        "zero fraction {zero_fraction}"
    );
    let typical = 0.02 * (2.0 / std::f32::consts::PI).sqrt();
    assert!(
        scales.iter().all(|s| (s / typical - 1.0).abs() <= 0.1001),
        "{scales:?}"
    );
    assert!(
        scales.windows(2).any(|w| w[0] != w[1]),
        "scales should vary per tensor"
    );
}

#[test]
fn output_is_deterministic_per_seed() {
    let vocab = fixture("models/tq2_0-bitnet.gguf");
    let read = |seed| {
        let (tmp, _) = write(&vocab, &tiny(SynthArch::Bitnet, GgmlType::TQ2_0, seed));
        std::fs::read(&tmp.0).unwrap()
    };
    let a = read(3);
    assert_eq!(a, read(3));
    assert_ne!(a, read(4));
}

#[test]
fn every_linear_and_embedding_type_round_trips() {
    let vocab = fixture("models/i2s-b158.gguf");
    for (arch, linear, embd) in [
        (SynthArch::Bitnet, GgmlType::F32, GgmlType::Q8_0),
        (SynthArch::Bitnet25, GgmlType::TQ1_0, GgmlType::BF16),
        (SynthArch::Bitnet, GgmlType::F16, GgmlType::F32),
    ] {
        let mut options = tiny(arch, linear, 5);
        options.embedding_type = embd;
        options.shape.n_embd = 512;
        options.shape.n_layer = 1;
        let (_tmp, file) = write(&vocab, &options);
        assert_eq!(
            file.tensor("blk.0.ffn_down.weight").unwrap().info.ggml_type,
            linear
        );
        assert_eq!(
            file.tensor("token_embd.weight").unwrap().info.ggml_type,
            embd
        );
        assert_eq!(
            file.get_uint(&format!("{}.embedding_length", arch.name()))
                .unwrap(),
            Some(512)
        );
        for t in file.tensors() {
            quant::dequantize(t.info.ggml_type, t.data, t.info.n_elements() as usize).unwrap();
        }
    }
}

#[test]
fn bad_options_are_errors_and_leave_no_file() {
    let vocab = fixture("models/i2s-b158.gguf");
    let path = TempPath::new("bad");
    let mut cases = vec![tiny(SynthArch::Bitnet, GgmlType::I2_S, 1)];
    let mut odd = tiny(SynthArch::BitnetB158, GgmlType::I2_S, 1);
    odd.shape.n_embd = 320; // not a multiple of 128 for I2_S
    odd.shape.n_head = 5;
    cases.push(odd);
    let mut gqa = tiny(SynthArch::BitnetB158, GgmlType::I2_S, 1);
    gqa.shape.n_head_kv = 3;
    cases.push(gqa);
    let mut q4 = tiny(SynthArch::BitnetB158, GgmlType::Q4_K, 1);
    q4.embedding_type = GgmlType::F16;
    cases.push(q4);
    for options in cases {
        let err = synthesize(&vocab, &options, &path.0).unwrap_err();
        assert!(matches!(err, bitnet::Error::InvalidArgument(_)), "{err}");
        assert!(!path.0.exists());
    }
    // A vocabulary file without tokens.
    let mut no_tokens = bitnet::gguf::GgufWriter::new();
    no_tokens
        .add(
            "general.architecture",
            bitnet::gguf::Value::String("x".into()),
        )
        .unwrap();
    let bytes = no_tokens.begin(Vec::new()).unwrap().finish().unwrap();
    let empty = GgufFile::from_bytes(bytes).unwrap();
    assert!(synthesize(
        &empty,
        &tiny(SynthArch::BitnetB158, GgmlType::I2_S, 1),
        &path.0
    )
    .is_err());
}

/// The official file's tensor table (docs/bitnet-reference.md §2), without writing 1.2 GB.
#[test]
fn the_2b_4t_plan_has_the_official_tensors() {
    let specs = tensor_specs(&SynthOptions::two_b_4t(), 128_256);
    assert_eq!(specs.len(), 332);
    let (embd, role) = &specs[0];
    assert_eq!(
        (embd.name.as_str(), embd.ggml_type, &embd.shape[..]),
        ("token_embd.weight", GgmlType::F16, &[2560, 128_256][..])
    );
    assert_eq!(*role, TensorRole::Embedding);
    let expected_block = [
        ("attn_norm", GgmlType::F32, vec![2560]),
        ("attn_q", GgmlType::I2_S, vec![2560, 2560]),
        ("attn_k", GgmlType::I2_S, vec![2560, 640]),
        ("attn_v", GgmlType::I2_S, vec![2560, 640]),
        ("attn_output", GgmlType::I2_S, vec![2560, 2560]),
        ("attn_sub_norm", GgmlType::F32, vec![2560]),
        ("ffn_norm", GgmlType::F32, vec![2560]),
        ("ffn_gate", GgmlType::I2_S, vec![2560, 6912]),
        ("ffn_up", GgmlType::I2_S, vec![2560, 6912]),
        ("ffn_down", GgmlType::I2_S, vec![6912, 2560]),
        ("ffn_sub_norm", GgmlType::F32, vec![6912]),
    ];
    for layer in 0..30 {
        for (j, (name, ty, shape)) in expected_block.iter().enumerate() {
            let (spec, _) = &specs[1 + layer * 11 + j];
            assert_eq!(spec.name, format!("blk.{layer}.{name}.weight"));
            assert_eq!((spec.ggml_type, &spec.shape), (*ty, shape));
        }
    }
    assert_eq!(specs[331].0.name, "output_norm.weight");
    let ternary: u64 = specs
        .iter()
        .filter(|(s, _)| s.ggml_type == GgmlType::I2_S)
        .map(|(s, _)| s.ggml_type.n_bytes(&s.shape).unwrap())
        .sum();
    assert_eq!(ternary, 521_017_920);
    assert_eq!(embd.ggml_type.n_bytes(&embd.shape), Some(656_670_720));
}

/// Writes the full 2B-4T model through the command line and reads it back. About 1.2 GB
/// and 15 s in release; CI runs it with `cargo test --release --test synth -- --ignored`.
#[test]
#[ignore = "writes 1.2 GB; run in release"]
fn synth_2b_4t_through_the_cli() {
    let out = TempPath::new("2b4t");
    let vocab = common::fixture_path("tokenizer/ggml-vocab-llama-bpe.gguf");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_bitnet"))
        .args(["synth", "--shape", "2b-4t", "--vocab"])
        .arg(&vocab)
        .arg("--out")
        .arg(&out.0)
        .status()
        .unwrap();
    assert!(status.success());
    let file = GgufFile::open(&out.0).unwrap();
    let plan = tensor_specs(&SynthOptions::two_b_4t(), 128_256);
    assert_eq!(file.n_tensors(), 332);
    for (t, (spec, _)) in file.tensor_infos().iter().zip(&plan) {
        assert_eq!(
            (&t.name, t.ggml_type, &t.shape),
            (&spec.name, spec.ggml_type, &spec.shape)
        );
    }
    let ternary: u64 = file
        .tensor_infos()
        .iter()
        .filter(|t| t.ggml_type == GgmlType::I2_S)
        .map(|t| t.n_bytes)
        .sum();
    assert_eq!(ternary, 521_017_920);
    assert_eq!(
        file.tensor("token_embd.weight").unwrap().info.n_bytes,
        656_670_720
    );
    assert_eq!(
        file.get_str_array("tokenizer.ggml.tokens")
            .unwrap()
            .unwrap()
            .len(),
        128_256
    );
    let inspect = std::process::Command::new(env!("CARGO_BIN_EXE_bitnet"))
        .arg("inspect")
        .arg(&out.0)
        .output()
        .unwrap();
    assert!(inspect.status.success());
    let text = String::from_utf8(inspect.stdout).unwrap();
    assert!(text.contains("332 tensors"), "{text}");
    assert!(text.contains("blk.29.ffn_down.weight"));
}
