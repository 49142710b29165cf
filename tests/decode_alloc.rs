//! A warm decode step allocates nothing: the context's buffers are sized by the first steps
//! and reused (issue 4: "no allocation inside the decode loop"). Oracle: a counting global
//! allocator around the system one.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bitnet::{Context, ContextParams, Model, ModelParams};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; it only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn warm_decode_steps_do_not_allocate() {
    for name in ["models/i2s-b158.gguf", "models/tq2_0-bitnet.gguf"] {
        let path = common::fixture_path(name);
        let model = Arc::new(Model::load(path, &ModelParams::default(), None).unwrap());
        for threads in [1, 2] {
            let params = ContextParams {
                n_ctx: 256,
                n_threads: threads,
                ..ContextParams::default()
            };
            let mut ctx = Context::new(model.clone(), params).unwrap();
            ctx.decode(&[1, 450, 3483, 310], None, None).unwrap();
            let mut token = 13;
            // Warm-up: the first single-token steps size the one-row buffers.
            for _ in 0..2 {
                ctx.decode(&[token], None, None).unwrap();
            }
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            for _ in 0..16 {
                ctx.decode(&[token], None, None).unwrap();
                let logits = ctx.last_logits().unwrap();
                token = (0..logits.len())
                    .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
                    .unwrap() as u32;
            }
            let n = ALLOCATIONS.load(Ordering::Relaxed) - before;
            assert_eq!(
                n, 0,
                "{name}, {threads} threads: {n} allocations in 16 decode steps"
            );
        }
    }
}
