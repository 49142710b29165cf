//! `bitnet_context`: one conversation's KV cache and logits over a shared model, and
//! decoding.

use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;

use super::args::{handle, handle_mut, len, slice, tokens_in};
use super::bitnet_token;
use super::boundary::{guard_or, guard_status};
use super::model::{self, bitnet_model};
use super::status::{bitnet_status, Failure};
use crate::context::AbortCallback;
use crate::{Context, ContextParams};

/// An inference context (opaque): the KV cache, the logits of the last decode, and a
/// worker thread pool. Use it from one thread at a time; different contexts may run on
/// different threads at once, over one model.
pub struct bitnet_context {
    pub(crate) ctx: Context,
    /// The handle `bitnet_context_model` returns; this reference keeps it alive.
    model: Arc<bitnet_model>,
}

// The documented thread-safety: a context may move between threads (used by one at a time).
const _: () = {
    const fn movable_between_threads<T: Send>() {}
    movable_between_threads::<bitnet_context>()
};

/// Polled between layers while `bitnet_decode` runs, on one of the context's worker
/// threads (the thread that called `bitnet_decode` waits meanwhile); return true to stop
/// the decode with `BITNET_ERR_ABORTED`.
pub type bitnet_abort_callback = Option<unsafe extern "C" fn(data: *mut c_void) -> bool>;

/// How to create a context. Get the defaults from `bitnet_context_default_params` and
/// change what you need.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bitnet_context_params {
    /// KV cache size in tokens; 0 = the model's training context. Rounded up to the
    /// architecture's padding (32 or 256) as the reference implementations do; read the
    /// result with `bitnet_context_n_ctx`.
    pub n_ctx: u32,
    /// The most tokens one `bitnet_decode` call accepts (capped at `n_ctx`).
    pub n_batch: u32,
    /// The most tokens computed in one pass; larger batches are split.
    pub n_ubatch: u32,
    /// Worker threads; 0 = the number of physical cores.
    pub n_threads: u32,
    /// NULL for none; see `bitnet_abort_callback`.
    pub abort_callback: bitnet_abort_callback,
    /// Passed to `abort_callback` as is.
    pub abort_callback_data: *mut c_void,
}

/// The default context parameters: the model's training context, batches of 512, one
/// thread per physical core, no abort callback.
///
/// Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn bitnet_context_default_params() -> bitnet_context_params {
    let d = ContextParams::default();
    bitnet_context_params {
        n_ctx: d.n_ctx,
        n_batch: d.n_batch,
        n_ubatch: d.n_ubatch,
        n_threads: d.n_threads,
        abort_callback: None,
        abort_callback_data: ptr::null_mut(),
    }
}

/// A C abort callback with its data, callable from the context's worker threads.
struct AbortHook {
    callback: unsafe extern "C" fn(*mut c_void) -> bool,
    data: *mut c_void,
}

// SAFETY: the abort callback's documentation tells the host that it is called from the
// context's worker threads with this data; passing it there is what the host agreed to.
unsafe impl Send for AbortHook {}

impl AbortHook {
    fn call(&self) -> bool {
        // SAFETY: the host supplied the function and its data for exactly this call.
        unsafe { (self.callback)(self.data) }
    }
}

fn abort_hook(callback: bitnet_abort_callback, data: *mut c_void) -> Option<AbortCallback> {
    callback.map(|callback| {
        let hook = AbortHook { callback, data };
        Box::new(move || hook.call()) as AbortCallback
    })
}

/// Creates a context over `model` with `params` (NULL for the defaults). On success
/// `*out` is a new context to free with `bitnet_context_free`; it holds its own reference
/// to the model, so the model handle may be freed first. On failure `*out` is NULL:
/// `BITNET_ERR_INVALID_ARGUMENT` (zero batch sizes, a KV cache too large to address, no
/// threads), `BITNET_ERR_NULL_POINTER`.
///
/// Thread-safety: any thread.
#[no_mangle]
pub unsafe extern "C" fn bitnet_context_new(
    model: *const bitnet_model,
    params: *const bitnet_context_params,
    out: *mut *mut bitnet_context,
) -> bitnet_status {
    guard_status("bitnet_context_new", || {
        // SAFETY: `out` is NULL or writable (the module's pointer contract).
        let out = unsafe { handle_mut(out, "out") }?;
        *out = ptr::null_mut();
        // SAFETY: `model` is NULL or a live handle.
        let model = unsafe { model::share(model) }?;
        // SAFETY: `params` is NULL or points to a bitnet_context_params.
        let p = unsafe { params.as_ref() }
            .copied()
            .unwrap_or_else(|| bitnet_context_default_params());
        let rust_params = ContextParams {
            n_ctx: p.n_ctx,
            n_batch: p.n_batch,
            n_ubatch: p.n_ubatch,
            n_threads: p.n_threads,
        };
        let mut ctx = Context::new(model.model.clone(), rust_params)?;
        ctx.set_abort_callback(abort_hook(p.abort_callback, p.abort_callback_data));
        *out = Box::into_raw(Box::new(bitnet_context { ctx, model }));
        Ok(())
    })
}

/// Frees the context (and its reference to the model). NULL is allowed and does nothing.
///
/// Thread-safety: once no other call is using this context.
#[no_mangle]
pub unsafe extern "C" fn bitnet_context_free(ctx: *mut bitnet_context) {
    guard_or("bitnet_context_free", (), || {
        if !ctx.is_null() {
            // SAFETY: a non-NULL context came from `Box::into_raw` in bitnet_context_new
            // and is freed exactly once.
            drop(unsafe { Box::from_raw(ctx) });
        }
        Ok(())
    })
}

/// Replaces the abort callback (NULL `callback` removes it).
///
/// Thread-safety: the context's thread (not while `bitnet_decode` runs).
#[no_mangle]
pub unsafe extern "C" fn bitnet_context_set_abort_callback(
    ctx: *mut bitnet_context,
    callback: bitnet_abort_callback,
    data: *mut c_void,
) -> bitnet_status {
    guard_status("bitnet_context_set_abort_callback", || {
        // SAFETY: `ctx` is NULL or a live context used by this thread only.
        let c = unsafe { handle_mut(ctx, "ctx") }?;
        c.ctx.set_abort_callback(abort_hook(callback, data));
        Ok(())
    })
}

/// The model the context runs, or NULL if `ctx` is NULL. The handle lives as long as the
/// context, even after `bitnet_model_free` on the handle the context was created with;
/// do not free it.
///
/// Thread-safety: any thread that may use the context.
#[no_mangle]
pub unsafe extern "C" fn bitnet_context_model(ctx: *const bitnet_context) -> *const bitnet_model {
    guard_or("bitnet_context_model", ptr::null(), || {
        // SAFETY: `ctx` is NULL or a live context.
        let c = unsafe { handle(ctx, "ctx") }?;
        Ok(Arc::as_ptr(&c.model))
    })
}

/// The KV cache size in tokens (after rounding), or 0 if `ctx` is NULL.
///
/// Thread-safety: the context's thread.
#[no_mangle]
pub unsafe extern "C" fn bitnet_context_n_ctx(ctx: *const bitnet_context) -> u32 {
    guard_or("bitnet_context_n_ctx", 0, || {
        // SAFETY: `ctx` is NULL or a live context.
        Ok(unsafe { handle(ctx, "ctx") }?.ctx.params().n_ctx)
    })
}

/// The most tokens one `bitnet_decode` call accepts, or 0 if `ctx` is NULL.
///
/// Thread-safety: the context's thread.
#[no_mangle]
pub unsafe extern "C" fn bitnet_context_n_batch(ctx: *const bitnet_context) -> u32 {
    guard_or("bitnet_context_n_batch", 0, || {
        // SAFETY: `ctx` is NULL or a live context.
        Ok(unsafe { handle(ctx, "ctx") }?.ctx.params().n_batch)
    })
}

/// The largest position in the KV cache, or -1 when it is empty (or `ctx` is NULL, with
/// `bitnet_last_error` set). The next `bitnet_decode` without positions continues at
/// this + 1.
///
/// Thread-safety: the context's thread.
#[no_mangle]
pub unsafe extern "C" fn bitnet_context_pos_max(ctx: *const bitnet_context) -> i32 {
    guard_or("bitnet_context_pos_max", -1, || {
        // SAFETY: `ctx` is NULL or a live context.
        Ok(unsafe { handle(ctx, "ctx") }?.ctx.pos_max())
    })
}

/// Empties the KV cache and forgets the last logits, to start a new conversation; the
/// memory is kept. NULL does nothing (and sets `bitnet_last_error`).
///
/// Thread-safety: the context's thread.
#[no_mangle]
pub unsafe extern "C" fn bitnet_context_clear(ctx: *mut bitnet_context) {
    guard_or("bitnet_context_clear", (), || {
        // SAFETY: `ctx` is NULL or a live context used by this thread only.
        unsafe { handle_mut(ctx, "ctx") }?.ctx.clear();
        Ok(())
    })
}

/// Evaluates `n_tokens` tokens (1 to `bitnet_context_n_batch`). `positions` (NULL = right
/// after `bitnet_context_pos_max`) gives each token's position; `logits` (NULL = the last
/// token only) says, one nonzero byte per token, which rows of logits to keep for
/// `bitnet_get_logits`.
///
/// On any failure the context is as it was before the call, the logits of the previous
/// decode included: `BITNET_ERR_CONTEXT_FULL` when the tokens do not fit in the free
/// cells, `BITNET_ERR_ABORTED` when the abort callback stopped it,
/// `BITNET_ERR_INVALID_ARGUMENT` for a token outside the vocabulary, a negative position
/// or a bad count.
///
/// Thread-safety: the context's thread. The work runs on the context's own workers.
#[no_mangle]
pub unsafe extern "C" fn bitnet_decode(
    ctx: *mut bitnet_context,
    tokens: *const bitnet_token,
    n_tokens: i32,
    positions: *const i32,
    logits: *const i8,
) -> bitnet_status {
    guard_status("bitnet_decode", || {
        // SAFETY: `ctx` is NULL or a live context used by this thread only.
        let c = unsafe { handle_mut(ctx, "ctx") }?;
        let n = len(n_tokens, "n_tokens")?;
        if n == 0 {
            return Err(Failure::invalid("n_tokens is 0"));
        }
        // SAFETY: `tokens` is NULL or holds `n_tokens` ids.
        let ids = tokens_in(unsafe { slice(tokens, n, "tokens") }?, "tokens")?;
        let positions = if positions.is_null() {
            None
        } else {
            // SAFETY: non-NULL `positions` holds `n_tokens` values.
            Some(unsafe { slice(positions, n, "positions") }?)
        };
        let want: Option<Vec<bool>> = if logits.is_null() {
            None
        } else {
            // SAFETY: non-NULL `logits` holds `n_tokens` flags.
            let flags = unsafe { slice(logits, n, "logits") }?;
            Some(flags.iter().map(|&f| f != 0).collect())
        };
        c.ctx.decode(&ids, positions, want.as_deref())?;
        Ok(())
    })
}

/// The logits (`bitnet_model_n_vocab` floats) of token `i` of the last `bitnet_decode`;
/// negative `i` counts from the end (-1 = the last token). NULL, with
/// `bitnet_last_error` set, when there is no such token or its row was not requested.
/// The row stays valid until the next `bitnet_decode` or `bitnet_context_clear` on this
/// context, or its free.
///
/// Thread-safety: the context's thread.
#[no_mangle]
pub unsafe extern "C" fn bitnet_get_logits(ctx: *const bitnet_context, i: i32) -> *const f32 {
    guard_or("bitnet_get_logits", ptr::null(), || {
        // SAFETY: `ctx` is NULL or a live context.
        let c = unsafe { handle(ctx, "ctx") }?;
        Ok(logits_row(c, i)?.as_ptr())
    })
}

/// Row `i` of the last decode's logits, negative `i` counting from the end.
pub(crate) fn logits_row(c: &bitnet_context, i: i32) -> Result<&[f32], Failure> {
    let n = c.ctx.n_last_batch();
    let index = if i < 0 {
        n.checked_sub(i.unsigned_abs() as usize)
    } else {
        Some(i as usize).filter(|&i| i < n)
    };
    let index = index
        .ok_or_else(|| Failure::invalid(format!("no token {i} in the last batch of {n} tokens")))?;
    c.ctx.logits(index).ok_or_else(|| {
        Failure::invalid(format!(
            "the logits of token {i} of the last batch were not requested"
        ))
    })
}
