//! Context behaviour: errors leave it unchanged, micro-batching, explicit positions, logits
//! rows, abort. Oracles: the same computation done another way on a fresh context.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bitnet::{Context, ContextParams, Error, Model, ModelParams};

const PROMPT: [u32; 12] = [4096, 1687, 690, 3449, 520, 279, 357, 367, 520, 308, 483, 13];

fn model() -> Arc<Model> {
    let path = common::fixture_path("models/i2s-b158.gguf");
    Arc::new(Model::load(path, &ModelParams::default(), None).unwrap())
}

fn ctx(model: &Arc<Model>, n_ctx: u32) -> Context {
    let params = ContextParams {
        n_ctx,
        ..ContextParams::default()
    };
    Context::new(model.clone(), params).unwrap()
}

#[test]
fn n_ctx_is_padded_like_the_reference() {
    let m = model();
    assert_eq!(ctx(&m, 1).n_ctx(), 32);
    assert_eq!(ctx(&m, 33).n_ctx(), 64);
    assert_eq!(ctx(&m, 0).n_ctx(), 512); // the model's context_length
}

#[test]
fn errors_leave_the_context_unchanged() {
    let m = model();
    let mut c = ctx(&m, 32);
    c.decode(&PROMPT, None, None).unwrap();
    let before = c.last_logits().unwrap().to_vec();

    let bad_token = c.decode(&[1, 99_999], None, None);
    assert!(matches!(bad_token, Err(Error::InvalidArgument(ref m)) if m.contains("99999")));
    let full = c.decode(&[1; 21], None, None);
    assert!(matches!(full, Err(Error::ContextFull(_))), "{full:?}");
    assert!(matches!(
        c.decode(&[], None, None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        c.decode(&[1], Some(&[-3]), None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        c.decode(&[1, 2], Some(&[5]), None),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(c.n_used(), 12);
    assert_eq!(c.pos_max(), 11);

    // The next step gives exactly what it gives on a context that never saw the errors.
    c.decode(&[3906], None, None).unwrap();
    let mut fresh = ctx(&m, 32);
    fresh.decode(&PROMPT, None, None).unwrap();
    assert_eq!(fresh.last_logits().unwrap(), &before[..]);
    fresh.decode(&[3906], None, None).unwrap();
    assert_eq!(c.last_logits(), fresh.last_logits());

    // Filling the context exactly works; one more token is refused; clear starts over.
    c.decode(&[1; 19], None, None).unwrap();
    assert_eq!(c.n_used(), 32);
    assert!(matches!(
        c.decode(&[1], None, None),
        Err(Error::ContextFull(_))
    ));
    c.clear();
    c.decode(&PROMPT, None, None).unwrap();
    assert_eq!(c.last_logits().unwrap(), &before[..]);
}

#[test]
fn only_requested_rows_have_logits() {
    let m = model();
    let mut c = ctx(&m, 64);
    let want: Vec<bool> = (0..12).map(|i| i % 5 == 0).collect();
    c.decode(&PROMPT, None, Some(&want)).unwrap();
    for (i, &w) in want.iter().enumerate() {
        assert_eq!(c.logits(i).is_some(), w, "row {i}");
    }
    assert!(c.logits(12).is_none());
    assert!(c.last_logits().is_none());
}

#[test]
fn micro_batches_match_the_reference_semantics() {
    // A prompt split into micro-batches of 4 equals feeding those pieces one decode call
    // at a time (each piece is its own pass in both cases).
    let m = model();
    let params = ContextParams {
        n_ubatch: 4,
        ..ContextParams::default()
    };
    let mut split = Context::new(m.clone(), params).unwrap();
    split.decode(&PROMPT, None, Some(&[true; 12])).unwrap();
    let mut pieces = ctx(&m, 0);
    for (k, chunk) in PROMPT.chunks(4).enumerate() {
        pieces.decode(chunk, None, Some(&[true; 4])).unwrap();
        for i in 0..4 {
            assert_eq!(
                split.logits(4 * k + i),
                pieces.logits(i),
                "row {}",
                4 * k + i
            );
        }
    }
}

#[test]
fn explicit_positions_equal_implicit_ones() {
    let m = model();
    let mut a = ctx(&m, 0);
    a.decode(&PROMPT, None, None).unwrap();
    let mut b = ctx(&m, 0);
    let pos: Vec<i32> = (0..12).collect();
    b.decode(&PROMPT, Some(&pos), None).unwrap();
    assert_eq!(a.last_logits(), b.last_logits());
    // A gap in positions changes RoPE, so the logits change.
    let mut g = ctx(&m, 0);
    let gapped: Vec<i32> = (0..12).map(|p| p * 2).collect();
    g.decode(&PROMPT, Some(&gapped), None).unwrap();
    assert_ne!(a.last_logits(), g.last_logits());
    assert_eq!(g.pos_max(), 22);
}

#[test]
fn abort_stops_the_decode_and_loses_nothing() {
    let m = model();
    let mut c = ctx(&m, 0);
    c.decode(&PROMPT[..6], None, None).unwrap();
    let polls = Arc::new(AtomicUsize::new(0));
    let seen = polls.clone();
    c.set_abort_callback(Some(Box::new(move || {
        seen.fetch_add(1, Ordering::SeqCst) >= 2
    })));
    assert!(matches!(
        c.decode(&PROMPT[6..], None, None),
        Err(Error::Aborted)
    ));
    assert_eq!(
        polls.load(Ordering::SeqCst),
        3,
        "polled between layers until it said stop"
    );
    assert_eq!(c.n_used(), 6);
    c.set_abort_callback(None);
    c.decode(&PROMPT[6..], None, None).unwrap();
    let mut fresh = ctx(&m, 0);
    fresh.decode(&PROMPT[..6], None, None).unwrap();
    fresh.decode(&PROMPT[6..], None, None).unwrap();
    assert_eq!(c.last_logits(), fresh.last_logits());
}

#[test]
fn an_impossible_kv_cache_is_out_of_memory_not_an_abort() {
    let m = model();
    let params = ContextParams {
        n_ctx: u32::MAX,
        ..ContextParams::default()
    };
    // 4 layers x 128 x 2^32 cells x 2 bytes x 2 = 8 TiB: refused before anything is kept.
    let r = Context::new(m.clone(), params);
    assert!(matches!(r, Err(Error::OutOfMemory(_))), "{:?}", r.err());
    ctx(&m, 0).decode(&PROMPT, None, None).unwrap();
}

#[test]
fn contexts_on_one_model_run_on_many_threads() {
    let m = model();
    let mut single = ctx(&m, 0);
    single.decode(&PROMPT, None, None).unwrap();
    let expected = single.last_logits().unwrap().to_vec();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                let mut c = ctx(&m, 0);
                c.decode(&PROMPT, None, None).unwrap();
                c.last_logits().unwrap().to_vec()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), expected);
    }
}

#[test]
fn a_prompt_filling_n_ctx_runs_on_one_thread() {
    // bitnet.cpp needs `ulimit -s unlimited` for long prompts on one thread; nothing here
    // lives on the stack in proportion to the prompt. Oracle: the same prompt in
    // micro-batches of 512 (every multi-token pass computes each row the same way).
    let m = model();
    let n = 4096;
    let prompt: Vec<u32> = (0..n as u32).map(|i| (i * 7919 + 13) % 3000).collect();
    let one = |n_ubatch: u32| {
        let params = ContextParams {
            n_ctx: n as u32,
            n_batch: n as u32,
            n_ubatch,
            n_threads: 1,
        };
        let mut c = Context::new(m.clone(), params).unwrap();
        c.decode(&prompt, None, None).unwrap();
        assert_eq!(c.n_used(), n);
        c.last_logits().unwrap().to_vec()
    };
    let whole = one(n as u32);
    assert!(whole.iter().all(|v| v.is_finite()));
    assert_eq!(whole, one(512));
}
