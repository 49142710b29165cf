//! Loading models: every way a file can be wrong for the engine gives an error that says
//! what and where, and the Q8_0-embedding path matches bitnet.cpp.

mod common;

use std::sync::Arc;

use bitnet::gguf::{GgmlType, GgufFile, TensorSpec, Value};
use bitnet::{Context, ContextParams, Error, Model, ModelParams};

fn load_edited(edit: impl FnOnce(&mut common::Parts)) -> Result<Model, Error> {
    let src = common::fixture("models/i2s-b158.gguf");
    let mut parts = common::parts(&src);
    edit(&mut parts);
    let bytes = common::write(parts.0, parts.1);
    Model::from_gguf(GgufFile::from_bytes(bytes)?, &ModelParams::default())
}

fn message(r: Result<Model, Error>) -> (Error, String) {
    let e = r.expect_err("the edited file must be refused");
    let m = e.to_string();
    (e, m)
}

#[test]
fn the_unedited_round_trip_loads() {
    let model = load_edited(|_| {}).unwrap();
    assert_eq!(model.hparams().n_layer, 4);
    assert_eq!(model.hparams().n_vocab, 4352);
    assert_eq!(model.description(), "bitnet-b1.58 4.3M I2_S");
}

#[test]
fn a_wrong_shape_names_the_tensor_expected_and_found() {
    // A shape with the same byte size (the reader checks sizes): ffn_down transposed.
    let (e, m) = message(load_edited(|(_, tensors)| {
        let (spec, _) = tensors
            .iter_mut()
            .find(|(s, _)| s.name == "blk.0.ffn_down.weight")
            .unwrap();
        spec.shape = vec![256, 768];
    }));
    assert!(matches!(e, Error::Format(_)), "{e:?}");
    assert!(
        m.contains("blk.0.ffn_down.weight") && m.contains("[256, 768]") && m.contains("[768, 256]"),
        "{m}"
    );
}

#[test]
fn a_missing_tensor_is_named() {
    let (e, m) = message(load_edited(|(_, tensors)| {
        tensors.retain(|(s, _)| s.name != "blk.3.ffn_sub_norm.weight");
    }));
    assert!(matches!(e, Error::Format(_)));
    assert!(
        m.contains("missing tensor 'blk.3.ffn_sub_norm.weight'"),
        "{m}"
    );
}

#[test]
fn an_unknown_architecture_is_unsupported() {
    let (e, m) = message(load_edited(|(meta, _)| {
        for (k, v) in meta.iter_mut() {
            if k == "general.architecture" {
                *v = Value::String("llama".into());
            }
        }
    }));
    assert!(matches!(e, Error::Unsupported(_)));
    assert!(m.contains("'llama'"), "{m}");
}

#[test]
fn missing_or_inconsistent_hyper_parameters_are_named() {
    let (_, m) = message(load_edited(|(meta, _)| {
        meta.retain(|(k, _)| k != "bitnet-b1.58.attention.layer_norm_rms_epsilon");
    }));
    assert!(
        m.contains("missing key bitnet-b1.58.attention.layer_norm_rms_epsilon"),
        "{m}"
    );
    let (_, m) = message(load_edited(|(meta, _)| {
        for (k, v) in meta.iter_mut() {
            if k == "bitnet-b1.58.attention.head_count_kv" {
                *v = Value::U32(3);
            }
        }
    }));
    assert!(m.contains("not a multiple of head_count_kv 3"), "{m}");
    let (e, m) = message(load_edited(|(meta, _)| {
        for (k, v) in meta.iter_mut() {
            if k == "bitnet-b1.58.rope.dimension_count" {
                *v = Value::U32(32);
            }
        }
    }));
    assert!(matches!(e, Error::Unsupported(_)), "{m}");
}

#[test]
fn invalid_ternary_codes_are_refused() {
    let (e, m) = message(load_edited(|(_, tensors)| {
        let (_, data) = tensors
            .iter_mut()
            .find(|(s, _)| s.name == "blk.1.attn_q.weight")
            .unwrap();
        data[5] |= 0b11; // element 5 + 96 of block 0 gets code 3
    }));
    assert!(matches!(e, Error::Format(_)));
    assert!(
        m.contains("blk.1.attn_q.weight") && m.contains("code 3"),
        "{m}"
    );
}

#[test]
fn an_unsupported_weight_type_is_named() {
    let (e, m) = message(load_edited(|(_, tensors)| {
        let (spec, data) = tensors
            .iter_mut()
            .find(|(s, _)| s.name == "blk.0.attn_v.weight")
            .unwrap();
        let values = bitnet::quant::dequantize(GgmlType::I2_S, data, 256 * 128).unwrap();
        *spec = TensorSpec::new(&spec.name, GgmlType::Q8_0, &[256, 128]);
        *data = bitnet::quant::pack(GgmlType::Q8_0, &values, &[256, 128]).unwrap();
    }));
    assert!(matches!(e, Error::Unsupported(_)));
    assert!(
        m.contains("blk.0.attn_v.weight") && m.contains("Q8_0"),
        "{m}"
    );
}

#[test]
fn a_cancelled_load_reports_cancelled() {
    let path = common::fixture_path("models/i2s-b158.gguf");
    let mut calls = Vec::new();
    let mut progress = |f: f32| {
        calls.push(f);
        f < 0.5
    };
    let r = Model::load(&path, &ModelParams::default(), Some(&mut progress));
    assert!(matches!(r, Err(Error::Cancelled)));
    assert!(
        calls.windows(2).all(|w| w[0] <= w[1]) && calls[0] == 0.0,
        "{calls:?}"
    );
    // Reading the file instead of mapping it gives the same model.
    let params = ModelParams {
        use_mmap: false,
        ..ModelParams::default()
    };
    let mut seen = Vec::new();
    let mut progress = |f: f32| {
        seen.push(f);
        true
    };
    let model = Model::load(&path, &params, Some(&mut progress)).unwrap();
    assert_eq!(seen.last(), Some(&1.0));
    assert_eq!(model.hparams().n_embd, 256);
}

/// bitnet.cpp writes a Q8_0 token_embd when n_embd is not a multiple of 256; its LM head then
/// quantizes the activations to Q8_0. Reference outputs: tests/fixtures/README.md.
#[test]
fn q8_0_embedding_matches_bitnet_cpp() {
    let bytes = common::q8_0_embedding_model();
    assert_eq!(
        common::sha256_hex(&bytes),
        "06d66bddd0aa1e2fd1e8344ed28ac98560774c5e1f5ebadfd18b382bb2af58b7",
        "the synthesized model is not the one the reference ran"
    );
    let model = Arc::new(
        Model::from_gguf(
            GgufFile::from_bytes(bytes).unwrap(),
            &ModelParams::default(),
        )
        .unwrap(),
    );
    let n_vocab = model.hparams().n_vocab;
    let read = |rel: &str| -> Vec<f32> {
        std::fs::read(common::fixture_path(rel))
            .unwrap()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let ref_prompt = read("models/q8e-b158.prompt-logits.f32");
    let ref_decode = read("models/q8e-b158.decode-logits.f32");
    let prompt = [
        4096u32, 1687, 690, 3449, 520, 279, 357, 367, 520, 308, 483, 13,
    ];
    let feed = [3048u32, 3048, 2026, 2026, 2026, 3048, 3048, 3048];
    let mut ctx = Context::new(model, ContextParams::default()).unwrap();
    ctx.decode(&prompt, None, Some(&[true; 12])).unwrap();
    let mut worst = 0.0f32;
    for i in 0..prompt.len() {
        let ours = ctx.logits(i).unwrap();
        for (a, b) in ours.iter().zip(&ref_prompt[i * n_vocab..(i + 1) * n_vocab]) {
            worst = worst.max((a - b).abs());
        }
    }
    for (s, &t) in feed.iter().enumerate() {
        ctx.decode(&[t], None, None).unwrap();
        for (a, b) in ctx
            .logits(0)
            .unwrap()
            .iter()
            .zip(&ref_decode[s * n_vocab..(s + 1) * n_vocab])
        {
            worst = worst.max((a - b).abs());
        }
    }
    println!("q8_0 embedding: max |diff| {worst:e}");
    assert!(worst <= 0.02, "max |diff| {worst}");
    #[cfg(all(target_arch = "x86_64", target_env = "gnu"))]
    assert_eq!(worst, 0.0, "bit-identical on x86-64 glibc");
}
