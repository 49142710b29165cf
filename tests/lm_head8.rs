//! The opt-in 8-bit LM head (`ModelParams::lm_head = LmHead::Int8`) on the fixture models:
//! logits close to the exact head's (cosine, argmax agreement), deterministic across thread
//! counts and load modes; the exact head stays the default (the parity tests run it).

mod common;

use std::sync::Arc;

use bitnet::gguf::GgufFile;
use bitnet::{Context, ContextParams, Error, LmHead, Model, ModelParams};

const PROMPT: [u32; 12] = [4096, 1687, 690, 3449, 520, 279, 357, 367, 520, 308, 483, 13];
const STEPS: usize = 32;
/// Worst per-row cosine between int8-head and exact-head logits.
const MIN_COS: f64 = 0.999;

/// Every fixture model with an F16 token_embd (the f32 one keeps the F16 embedding too).
const MODELS: [&str; 5] = [
    "i2s-b158",
    "i2s-b25",
    "tq2_0-bitnet",
    "tq1_0-bitnet",
    "f32-bitnet",
];

fn params(lm_head: LmHead) -> ModelParams {
    ModelParams {
        lm_head,
        ..ModelParams::default()
    }
}

fn load(name: &str, lm_head: LmHead) -> Arc<Model> {
    Arc::new(Model::load(common::model_path(name), &params(lm_head), None).unwrap())
}

/// Logit rows of the prompt (one batch, every row) and of `STEPS` single-token steps, which
/// feed `feed[s]` or, without `feed`, the previous argmax; and the argmaxes.
fn run(model: &Arc<Model>, feed: Option<&[u32]>, n_threads: u32) -> (Vec<Vec<f32>>, Vec<u32>) {
    let params = ContextParams {
        n_threads,
        ..ContextParams::default()
    };
    let mut ctx = Context::new(model.clone(), params).unwrap();
    ctx.decode(&PROMPT, None, Some(&[true; 12])).unwrap();
    let mut rows: Vec<Vec<f32>> = (0..PROMPT.len())
        .map(|i| ctx.logits(i).unwrap().to_vec())
        .collect();
    let mut generated = vec![common::argmax(rows.last().unwrap())];
    for s in 0..STEPS {
        ctx.decode(&[feed.map_or(generated[s], |f| f[s])], None, None)
            .unwrap();
        let row = ctx.logits(0).unwrap().to_vec();
        generated.push(common::argmax(&row));
        rows.push(row);
    }
    (rows, generated)
}

#[test]
fn the_exact_head_is_the_default() {
    assert_eq!(ModelParams::default().lm_head, LmHead::Exact);
    assert_eq!(load("i2s-b158", LmHead::Exact).lm_head(), LmHead::Exact);
    assert!(load("i2s-b158", LmHead::Exact).int8_head().is_none());
    for head in [LmHead::Exact, LmHead::Int8] {
        assert_eq!(LmHead::from_name(head.name()), Some(head));
    }
    assert_eq!(LmHead::from_name("int4"), None);
}

#[test]
fn int8_head_logits_are_close_to_the_exact_ones() {
    let mut report = Vec::new();
    for name in MODELS {
        let exact = load(name, LmHead::Exact);
        let int8 = load(name, LmHead::Int8);
        assert_eq!(int8.lm_head(), LmHead::Int8, "{name}");
        let head = int8.int8_head().unwrap();
        let hp = int8.hparams();
        assert_eq!(head.rows().len(), hp.n_vocab * hp.n_embd);
        assert_eq!(head.scales().len(), hp.n_vocab);
        // Both heads see the same inputs: the int8 run is fed the exact run's greedy ids.
        let (want, ids) = run(&exact, None, 2);
        let (got, _) = run(&int8, Some(&ids[..STEPS]), 2);
        let (worst, max_diff) = common::compare(&got, &want);
        let agree = got
            .iter()
            .zip(&want)
            .filter(|(a, b)| common::argmax(a) == common::argmax(b))
            .count();
        let line = format!(
            "{name}: worst cosine {worst:.6}, argmax agrees on {agree}/{} rows, max |diff| {max_diff:.4}",
            want.len()
        );
        println!("{line}");
        report.push((name, worst, agree, want.len(), line));
    }
    for (name, worst, agree, rows, line) in report {
        assert!(worst >= MIN_COS, "{name}: {line}");
        // Rows whose two best logits are closer than the quantization error may flip.
        assert!(agree * 10 >= rows * 9, "{name}: {line}");
    }
}

#[test]
fn int8_head_results_do_not_depend_on_threads_or_load_mode() {
    let mapped = load("i2s-b158", LmHead::Int8);
    let (one, ids) = run(&mapped, None, 1);
    let (three, ids3) = run(&mapped, None, 3);
    assert!(one == three, "logits differ between 1 and 3 threads");
    assert_eq!(ids, ids3);
    // A copy in memory (no pages released) and a mapped file whose token_embd pages were
    // released after requantizing give the same bits (the embedding lookups read them again).
    let copied = Model::load(
        common::model_path("i2s-b158"),
        &ModelParams {
            use_mmap: false,
            lm_head: LmHead::Int8,
            ..ModelParams::default()
        },
        None,
    )
    .unwrap();
    let (copy, _) = run(&Arc::new(copied), None, 2);
    assert!(copy == one, "copied and mapped loads differ");
    let bytes = std::fs::read(common::model_path("i2s-b158")).unwrap();
    let owned = Model::from_gguf(GgufFile::from_bytes(bytes).unwrap(), &params(LmHead::Int8));
    assert!(run(&Arc::new(owned.unwrap()), None, 2).0 == one);
}

#[test]
fn int8_head_progress_reaches_the_end_and_can_cancel() {
    let path = common::model_path("i2s-b158");
    let mut seen = Vec::new();
    let mut progress = |f: f32| {
        seen.push(f);
        true
    };
    Model::load(&path, &params(LmHead::Int8), Some(&mut progress)).unwrap();
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert_eq!(seen.last(), Some(&1.0));
    assert!(seen.iter().any(|&f| f > 0.8 && f < 1.0), "{seen:?}");
    // Stopping once requantization has started cancels the load.
    let mut stop = |f: f32| f < 0.9;
    let r = Model::load(&path, &params(LmHead::Int8), Some(&mut stop));
    assert!(matches!(r, Err(Error::Cancelled)));
}

#[test]
fn a_non_finite_embedding_value_is_refused_by_the_int8_head_only() {
    let src = common::fixture("models/i2s-b158.gguf");
    let (meta, mut tensors) = common::parts(&src);
    let (_, data) = tensors
        .iter_mut()
        .find(|(s, _)| s.name == "token_embd.weight")
        .unwrap();
    // Row 5, column 3 of the F16 embedding (256 wide) becomes +infinity.
    let at = 2 * (5 * 256 + 3);
    data[at..at + 2].copy_from_slice(&0x7C00u16.to_le_bytes());
    let bytes = common::write(meta, tensors);
    let file = || GgufFile::from_bytes(bytes.clone()).unwrap();
    Model::from_gguf(file(), &params(LmHead::Exact)).unwrap();
    let e = Model::from_gguf(file(), &params(LmHead::Int8)).unwrap_err();
    assert!(matches!(e, Error::Format(_)), "{e}");
    assert!(e.to_string().contains("token_embd row 5"), "{e}");
}

#[test]
fn a_q8_0_embedding_stays_as_stored() {
    let bytes = common::q8_0_embedding_model();
    let load = |head| {
        let file = GgufFile::from_bytes(bytes.clone()).unwrap();
        Arc::new(Model::from_gguf(file, &params(head)).unwrap())
    };
    let (exact, int8) = (load(LmHead::Exact), load(LmHead::Int8));
    assert_eq!(int8.lm_head(), LmHead::Exact);
    assert!(run(&int8, None, 2) == run(&exact, None, 2));
}
