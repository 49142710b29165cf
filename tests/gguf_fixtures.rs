//! The reader against the reference fixtures: every fixture's metadata and tensor table
//! read as tests/fixtures/README.md documents them (the facts of the files bitnet.cpp's
//! and llama.cpp's tool chains wrote), and tensors tiling each file exactly.

use bitnet::gguf::{Dialect, GgmlType, GgufFile, Value};

mod common;
use common::fixture;

const BITNET_CPP_KEYS: [&str; 25] = [
    "general.architecture",
    "general.name",
    "bitnet-b1.58.vocab_size",
    "bitnet-b1.58.context_length",
    "bitnet-b1.58.embedding_length",
    "bitnet-b1.58.block_count",
    "bitnet-b1.58.feed_forward_length",
    "bitnet-b1.58.rope.dimension_count",
    "bitnet-b1.58.attention.head_count",
    "bitnet-b1.58.attention.head_count_kv",
    "tokenizer.ggml.add_bos_token",
    "bitnet-b1.58.attention.layer_norm_rms_epsilon",
    "bitnet-b1.58.rope.freq_base",
    "general.file_type",
    "tokenizer.ggml.model",
    "tokenizer.ggml.pre",
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.scores",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.merges",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.chat_template",
    "general.quantization_version",
];

const UPSTREAM_KEYS: [&str; 24] = [
    "general.architecture",
    "general.type",
    "general.name",
    "bitnet.block_count",
    "bitnet.context_length",
    "bitnet.embedding_length",
    "bitnet.feed_forward_length",
    "bitnet.attention.head_count",
    "bitnet.attention.head_count_kv",
    "bitnet.rope.freq_base",
    "bitnet.attention.layer_norm_rms_epsilon",
    "general.file_type",
    "bitnet.rope.scaling.type",
    "bitnet.rope.scaling.factor",
    "general.quantization_version",
    "tokenizer.ggml.model",
    "tokenizer.ggml.pre",
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.merges",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.chat_template",
];

/// The 46 tensors of every fixture model, in file order: (name, shape).
fn expected_tensors() -> Vec<(String, Vec<u64>)> {
    let mut t = vec![("token_embd.weight".to_string(), vec![256, 4352])];
    for i in 0..4 {
        for (n, s) in [
            ("attn_norm", vec![256]),
            ("attn_q", vec![256, 256]),
            ("attn_k", vec![256, 128]),
            ("attn_v", vec![256, 128]),
            ("attn_output", vec![256, 256]),
            ("attn_sub_norm", vec![256]),
            ("ffn_norm", vec![256]),
            ("ffn_gate", vec![256, 768]),
            ("ffn_up", vec![256, 768]),
            ("ffn_down", vec![768, 256]),
            ("ffn_sub_norm", vec![768]),
        ] {
            t.push((format!("blk.{i}.{n}.weight"), s));
        }
    }
    t.push(("output_norm.weight".into(), vec![256]));
    t
}

fn check_model(file: &GgufFile, keys: &[&str], linear: GgmlType, file_type: u64) {
    let got: Vec<&str> = file.metadata().iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(got, keys);
    assert_eq!(file.version(), 3);
    assert_eq!(file.alignment(), 32);
    assert_eq!(file.get_uint("general.file_type").unwrap(), Some(file_type));
    assert_eq!(
        file.get_str("general.name").unwrap(),
        Some("bitnet-fixture-256x4")
    );
    assert_eq!(file.get_str("tokenizer.ggml.model").unwrap(), Some("gpt2"));
    assert_eq!(
        file.get_str("tokenizer.ggml.pre").unwrap(),
        Some("llama-bpe")
    );
    assert_eq!(
        file.get_str_array("tokenizer.ggml.tokens")
            .unwrap()
            .unwrap()
            .len(),
        4352
    );
    assert_eq!(
        file.get_str_array("tokenizer.ggml.merges")
            .unwrap()
            .unwrap()
            .len(),
        6397
    );
    assert_eq!(
        file.get_uint("tokenizer.ggml.bos_token_id").unwrap(),
        Some(4096)
    );
    assert_eq!(
        file.get_uint("tokenizer.ggml.eos_token_id").unwrap(),
        Some(4097)
    );
    assert_eq!(
        file.get_uint("tokenizer.ggml.padding_token_id").unwrap(),
        Some(4097)
    );
    let tokens = file
        .get_str_array("tokenizer.ggml.tokens")
        .unwrap()
        .unwrap();
    assert_eq!(tokens[4096], "<|begin_of_text|>");
    assert_eq!(tokens[4105], "<|eot_id|>");
    let types = file
        .get_array("tokenizer.ggml.token_type")
        .unwrap()
        .unwrap()
        .to_i64s()
        .unwrap();
    assert!(types[..4096].iter().all(|&t| t == 1), "NORMAL below 4096");
    assert!(types[4096..].iter().all(|&t| t == 3), "CONTROL from 4096");

    let expected = expected_tensors();
    assert_eq!(file.n_tensors(), expected.len());
    let mut next_offset = 0;
    for (t, (name, shape)) in file.tensors().zip(&expected) {
        assert_eq!(&t.info.name, name);
        assert_eq!(&t.info.shape, shape, "{name}");
        let want_type = if name == "token_embd.weight" {
            GgmlType::F16
        } else if shape.len() == 1 {
            GgmlType::F32
        } else {
            linear
        };
        assert_eq!(t.info.ggml_type, want_type, "{name}");
        // Sizes from the spec, computed here independently of the type table.
        let n: u64 = shape.iter().product();
        let want_bytes = match want_type {
            GgmlType::F16 => 2 * n,
            GgmlType::F32 => 4 * n,
            GgmlType::I2_S => n / 4 + 32,
            GgmlType::TQ2_0 => n / 256 * 66,
            GgmlType::TQ1_0 => n / 256 * 54,
            other => panic!("unexpected {other}"),
        };
        assert_eq!(t.info.n_bytes, want_bytes, "{name}");
        assert_eq!(t.data.len() as u64, want_bytes);
        // Tensors are back to back, each padded to the alignment.
        assert_eq!(t.info.offset, next_offset, "{name}");
        next_offset = (t.info.offset + want_bytes).next_multiple_of(32);
    }
    assert_eq!(file.data_offset() + next_offset, file.file_size());
}

#[test]
fn i2s_b158_reads_as_documented() {
    let f = fixture("models/i2s-b158.gguf");
    assert_eq!(f.architecture(), Some("bitnet-b1.58"));
    assert_eq!(f.dialect(), Dialect::BitnetFork);
    check_model(&f, &BITNET_CPP_KEYS, GgmlType::I2_S, 40);
    assert_eq!(f.file_size(), 3_241_472);
    for (key, value) in [
        ("vocab_size", 4352),
        ("embedding_length", 256),
        ("block_count", 4),
        ("feed_forward_length", 768),
        ("attention.head_count", 4),
        ("attention.head_count_kv", 2),
        ("context_length", 512),
        ("rope.dimension_count", 64),
    ] {
        let key = format!("bitnet-b1.58.{key}");
        assert_eq!(f.get_uint(&key).unwrap(), Some(value), "{key}");
    }
    assert_eq!(
        f.get_f32("bitnet-b1.58.rope.freq_base").unwrap(),
        Some(500000.0)
    );
    assert_eq!(
        f.get_f32("bitnet-b1.58.attention.layer_norm_rms_epsilon")
            .unwrap(),
        Some(1e-5)
    );
    assert_eq!(
        f.get_bool("tokenizer.ggml.add_bos_token").unwrap(),
        Some(true)
    );
    let scores = f
        .get_array("tokenizer.ggml.scores")
        .unwrap()
        .unwrap()
        .as_f32s()
        .unwrap();
    assert_eq!(scores.len(), 4352);
    assert!(f
        .get_str("tokenizer.chat_template")
        .unwrap()
        .unwrap()
        .contains("BITNETAssistant"));
    // A typed lookup of the wrong type is an error naming the key, not a panic.
    let err = f.get_str("general.file_type").unwrap_err().to_string();
    assert!(err.contains("general.file_type"), "{err}");
}

#[test]
fn upstream_fixtures_read_as_documented() {
    for (file, ty, ftype, size) in [
        ("models/tq2_0-bitnet.gguf", GgmlType::TQ2_0, 37, 3_247_776),
        ("models/tq1_0-bitnet.gguf", GgmlType::TQ1_0, 36, 3_100_320),
    ] {
        let f = fixture(file);
        assert_eq!(f.architecture(), Some("bitnet"));
        assert_eq!(f.dialect(), Dialect::Upstream);
        assert_eq!(f.file_size(), size);
        check_model(&f, &UPSTREAM_KEYS, ty, ftype);
        assert_eq!(
            f.get_str("bitnet.rope.scaling.type").unwrap(),
            Some("linear")
        );
        assert_eq!(f.get_f32("bitnet.rope.scaling.factor").unwrap(), Some(1.0));
        assert!(f.get("bitnet.rope.dimension_count").is_none());
    }
}

#[test]
fn all_fixture_models_share_the_embedding_and_norms() {
    let files = [
        "models/i2s-b158.gguf",
        "models/tq2_0-bitnet.gguf",
        "models/tq1_0-bitnet.gguf",
    ]
    .map(fixture);
    for t in files[0]
        .tensors()
        .filter(|t| t.info.ggml_type != GgmlType::I2_S)
    {
        for other in &files[1..] {
            assert_eq!(
                other.tensor(&t.info.name).unwrap().data,
                t.data,
                "{}",
                t.info.name
            );
        }
    }
}

#[test]
fn vocab_files_read_as_documented() {
    let bpe = fixture("tokenizer/ggml-vocab-llama-bpe.gguf");
    assert_eq!(bpe.file_size(), 7_818_140);
    assert_eq!(bpe.n_tensors(), 0);
    assert_eq!(bpe.get_str("tokenizer.ggml.model").unwrap(), Some("gpt2"));
    assert_eq!(
        bpe.get_str("tokenizer.ggml.pre").unwrap(),
        Some("llama-bpe")
    );
    let tokens = bpe.get_str_array("tokenizer.ggml.tokens").unwrap().unwrap();
    assert_eq!(tokens.len(), 128_256);
    assert_eq!(tokens[128_000], "<|begin_of_text|>");
    assert_eq!(tokens[128_009], "<|eot_id|>");
    assert_eq!(
        bpe.get_str_array("tokenizer.ggml.merges")
            .unwrap()
            .unwrap()
            .len(),
        280_147
    );
    assert_eq!(
        bpe.get_uint("tokenizer.ggml.bos_token_id").unwrap(),
        Some(128_000)
    );

    let spm = fixture("tokenizer/ggml-vocab-llama-spm.gguf");
    assert_eq!(spm.get_str("tokenizer.ggml.model").unwrap(), Some("llama"));
    assert_eq!(
        spm.get_str_array("tokenizer.ggml.tokens")
            .unwrap()
            .unwrap()
            .len(),
        32_000
    );
    assert_eq!(
        spm.get("tokenizer.ggml.add_eos_token"),
        Some(&Value::Bool(false))
    );
    assert_eq!(
        spm.get_uint("tokenizer.ggml.unknown_token_id").unwrap(),
        Some(0)
    );
}
