//! `bitnet_model`: loading, shape, metadata and special tokens.
//!
//! A model handle is one reference to a shared, immutable model: contexts take their own
//! reference, so `bitnet_model_free` may come before the contexts are freed.

use std::ffi::{c_char, c_void, CString};
use std::path::Path;
use std::ptr;
use std::sync::Arc;

use super::args::{c_bytes, c_str, handle, handle_mut, slice_mut, token_in, token_out, write_str};
use super::bitnet_token;
use super::boundary::{guard_or, guard_status};
use super::status::{bitnet_status, Failure};
use crate::model::HParams;
use crate::tokenizer::{PreTokenizer, Tokenizer};
use crate::{LmHead, Model, ModelParams};

/// A loaded model (opaque). Read-only once loaded: any number of threads may use one
/// model at the same time, and any number of contexts may share it.
pub struct bitnet_model {
    pub(crate) model: Arc<Model>,
    /// `tokenizer.chat_template`, kept as a C string so the pointer
    /// `bitnet_model_chat_template` returns lives as long as the model.
    chat_template: Option<CString>,
}

// The documented thread-safety: one model is used from any threads at once.
const _: () = {
    const fn shared_across_threads<T: Send + Sync>() {}
    shared_across_threads::<bitnet_model>()
};

/// Which pre-tokenizer (the regex split before BPE) a byte-level BPE vocabulary uses;
/// the value of `bitnet_model_params.pre_tokenizer`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bitnet_pre_tokenizer {
    /// Follow the file's `tokenizer.ggml.pre`; for the official BitNet b1.58 2B-4T file,
    /// which lacks the key, the Llama-3 split it was trained with (one warning is logged).
    BITNET_PRE_TOKENIZER_AUTO = 0,
    /// llama.cpp's `default` split: reproduces llama.cpp's and bitnet.cpp's ids for files
    /// without `tokenizer.ggml.pre`.
    BITNET_PRE_TOKENIZER_DEFAULT = 1,
    /// The Llama-3 split (`llama-bpe`).
    BITNET_PRE_TOKENIZER_LLAMA3 = 2,
}

/// Which weights the LM head uses; the value of `bitnet_model_params.lm_head`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bitnet_lm_head {
    /// `token_embd` as stored, in the reference's recipe: logits bit-identical to the
    /// references.
    BITNET_LM_HEAD_EXACT = 0,
    /// An F16 or F32 `token_embd` requantized at load to int8 rows with one scale per row:
    /// about 28% fewer bytes read per decoded token on the 2B-4T shapes (faster decode),
    /// logits close to the exact ones but not identical, a slower load. A Q8_0
    /// `token_embd` stays as stored.
    BITNET_LM_HEAD_INT8 = 1,
}

/// Load progress: called on the loading thread with a fraction in [0, 1]; return false
/// to cancel the load (`bitnet_model_load` then returns `BITNET_ERR_CANCELLED`).
pub type bitnet_progress_callback =
    Option<unsafe extern "C" fn(progress: f32, user_data: *mut c_void) -> bool>;

/// How to load a model. Get the defaults from `bitnet_model_default_params` and change
/// what you need, so fields added later keep their defaults.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bitnet_model_params {
    /// NULL for none.
    pub progress_callback: bitnet_progress_callback,
    /// Passed to `progress_callback` as is.
    pub progress_callback_user_data: *mut c_void,
    /// A `bitnet_pre_tokenizer` value (an int, so a bad value is an error, not undefined
    /// behaviour). Default: `BITNET_PRE_TOKENIZER_AUTO`.
    pub pre_tokenizer: i32,
    /// Map the file rather than copy it into memory (default false). The copy asks for 2 MiB
    /// pages, which decode streams from much faster, and cannot change under the process if
    /// the file does; mapping loads several times faster and shares pages between processes.
    pub use_mmap: bool,
    /// A `bitnet_lm_head` value (an int, so a bad value is an error). Default:
    /// `BITNET_LM_HEAD_EXACT`.
    pub lm_head: i32,
}

/// The default model parameters: no progress callback, automatic pre-tokenizer, mmap,
/// exact LM head.
///
/// Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn bitnet_model_default_params() -> bitnet_model_params {
    let defaults = ModelParams::default();
    bitnet_model_params {
        progress_callback: None,
        progress_callback_user_data: ptr::null_mut(),
        pre_tokenizer: bitnet_pre_tokenizer::BITNET_PRE_TOKENIZER_AUTO as i32,
        use_mmap: defaults.use_mmap,
        lm_head: match defaults.lm_head {
            LmHead::Exact => bitnet_lm_head::BITNET_LM_HEAD_EXACT,
            LmHead::Int8 => bitnet_lm_head::BITNET_LM_HEAD_INT8,
        } as i32,
    }
}

fn lm_head(value: i32) -> Result<LmHead, Failure> {
    use bitnet_lm_head::*;
    match value {
        v if v == BITNET_LM_HEAD_EXACT as i32 => Ok(LmHead::Exact),
        v if v == BITNET_LM_HEAD_INT8 as i32 => Ok(LmHead::Int8),
        v => Err(Failure::invalid(format!(
            "lm_head {v} is not a bitnet_lm_head"
        ))),
    }
}

fn pre_tokenizer(value: i32) -> Result<PreTokenizer, Failure> {
    use bitnet_pre_tokenizer::*;
    match value {
        v if v == BITNET_PRE_TOKENIZER_AUTO as i32 => Ok(PreTokenizer::Auto),
        v if v == BITNET_PRE_TOKENIZER_DEFAULT as i32 => Ok(PreTokenizer::Default),
        v if v == BITNET_PRE_TOKENIZER_LLAMA3 as i32 => Ok(PreTokenizer::Llama3),
        v => Err(Failure::invalid(format!(
            "pre_tokenizer {v} is not a bitnet_pre_tokenizer"
        ))),
    }
}

#[cfg(unix)]
fn path_from(bytes: &[u8]) -> Result<&Path, Failure> {
    use std::os::unix::ffi::OsStrExt;
    Ok(Path::new(std::ffi::OsStr::from_bytes(bytes)))
}

#[cfg(not(unix))]
fn path_from(bytes: &[u8]) -> Result<&Path, Failure> {
    super::args::utf8(bytes, "path").map(Path::new)
}

/// Loads the GGUF model at `path` (a NUL-terminated file name; on Unix any bytes).
/// `params` may be NULL for the defaults. On success `*out` is a new handle to free with
/// `bitnet_model_free`; on failure `*out` is NULL and `bitnet_last_error()` names the path
/// and the problem: `BITNET_ERR_IO` (cannot read), `BITNET_ERR_FORMAT` (not a valid
/// model), `BITNET_ERR_UNSUPPORTED`, `BITNET_ERR_TOKENIZER`, `BITNET_ERR_CANCELLED` (the
/// progress callback said stop), `BITNET_ERR_INVALID_ARGUMENT`, `BITNET_ERR_NULL_POINTER`,
/// `BITNET_ERR_OUT_OF_MEMORY` (no room for the int8 LM head).
///
/// Thread-safety: any thread; loads on different threads are independent.
#[no_mangle]
pub unsafe extern "C" fn bitnet_model_load(
    path: *const c_char,
    params: *const bitnet_model_params,
    out: *mut *mut bitnet_model,
) -> bitnet_status {
    guard_status("bitnet_model_load", || {
        // SAFETY: `out` is NULL or writable (the module's pointer contract).
        let out = unsafe { handle_mut(out, "out") }?;
        *out = ptr::null_mut();
        // SAFETY: `path` is NULL or a NUL-terminated string.
        let path = path_from(unsafe { c_bytes(path, "path") }?)?;
        // SAFETY: `params` is NULL or points to a bitnet_model_params.
        let params = unsafe { params.as_ref() }
            .copied()
            .unwrap_or_else(|| bitnet_model_default_params());
        let rust_params = ModelParams {
            use_mmap: params.use_mmap,
            pre_tokenizer: pre_tokenizer(params.pre_tokenizer)?,
            lm_head: lm_head(params.lm_head)?,
        };
        let mut progress = params.progress_callback.map(|callback| {
            let user_data = params.progress_callback_user_data;
            // SAFETY: the caller supplied this function and its data for this purpose.
            move |fraction: f32| unsafe { callback(fraction, user_data) }
        });
        let progress = progress.as_mut().map(|p| p as &mut dyn FnMut(f32) -> bool);
        let model = Model::load(path, &rust_params, progress).map_err(|e| {
            let failure = Failure::from(e);
            if failure.status == bitnet_status::BITNET_ERR_IO {
                failure // the I/O message already names the path
            } else {
                Failure::new(
                    failure.status,
                    format!("{}: {}", path.display(), failure.message),
                )
            }
        })?;
        let chat_template = model.chat_template().map(|t| {
            // A GGUF string may hold a NUL; C sees the text up to it.
            let end = t.find('\0').unwrap_or(t.len());
            CString::new(&t[..end]).unwrap_or_default()
        });
        let handle = Arc::new(bitnet_model {
            model: Arc::new(model),
            chat_template,
        });
        *out = Arc::into_raw(handle).cast_mut();
        Ok(())
    })
}

/// Releases this handle. Contexts created from the model keep it alive until they are
/// freed too. NULL is allowed and does nothing.
///
/// Thread-safety: any thread, once no other call is using this handle.
#[no_mangle]
pub unsafe extern "C" fn bitnet_model_free(model: *mut bitnet_model) {
    guard_or("bitnet_model_free", (), || {
        if !model.is_null() {
            // SAFETY: a non-NULL handle came from `Arc::into_raw` in bitnet_model_load and
            // owns one count, which is given back here exactly once.
            drop(unsafe { Arc::from_raw(model.cast_const()) });
        }
        Ok(())
    })
}

/// A new reference to the shared handle, for a context to hold.
///
/// # Safety
/// `p` is NULL or a live handle from [`bitnet_model_load`].
pub(crate) unsafe fn share(p: *const bitnet_model) -> Result<Arc<bitnet_model>, Failure> {
    if p.is_null() {
        return Err(Failure::null("model"));
    }
    // SAFETY: `p` came from `Arc::into_raw` and its count is held by the caller's handle
    // for the duration of this call; the count added here is the one `from_raw` adopts.
    unsafe {
        Arc::increment_strong_count(p);
        Ok(Arc::from_raw(p))
    }
}

/// Runs `f` on the model behind `model`, returning `failed` on NULL or failure.
unsafe fn with<T>(
    func: &str,
    model: *const bitnet_model,
    failed: T,
    f: impl FnOnce(&bitnet_model) -> Result<T, Failure>,
) -> T {
    guard_or(func, failed, || {
        // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
        f(unsafe { handle(model, "model") }?)
    })
}

unsafe fn dim(func: &str, model: *const bitnet_model, get: fn(&HParams) -> usize) -> i32 {
    // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
    unsafe {
        with(func, model, -1, |m| {
            let n = get(m.model.hparams());
            i32::try_from(n).map_err(|_| Failure::invalid(format!("{n} exceeds INT32_MAX")))
        })
    }
}

/// Tokens in the vocabulary; -1 if `model` is NULL.
///
/// Thread-safety: any thread (as for every `bitnet_model_*` getter).
#[no_mangle]
pub unsafe extern "C" fn bitnet_model_n_vocab(model: *const bitnet_model) -> i32 {
    // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
    unsafe { dim("bitnet_model_n_vocab", model, |h| h.n_vocab) }
}

/// The context length the model was trained with; -1 if `model` is NULL.
#[no_mangle]
pub unsafe extern "C" fn bitnet_model_n_ctx_train(model: *const bitnet_model) -> i32 {
    // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
    unsafe { dim("bitnet_model_n_ctx_train", model, |h| h.n_ctx_train) }
}

/// The embedding width (the length of a hidden state); -1 if `model` is NULL.
#[no_mangle]
pub unsafe extern "C" fn bitnet_model_n_embd(model: *const bitnet_model) -> i32 {
    // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
    unsafe { dim("bitnet_model_n_embd", model, |h| h.n_embd) }
}

/// Transformer blocks; -1 if `model` is NULL.
#[no_mangle]
pub unsafe extern "C" fn bitnet_model_n_layer(model: *const bitnet_model) -> i32 {
    // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
    unsafe { dim("bitnet_model_n_layer", model, |h| h.n_layer) }
}

/// Attention (query) heads; -1 if `model` is NULL.
#[no_mangle]
pub unsafe extern "C" fn bitnet_model_n_head(model: *const bitnet_model) -> i32 {
    // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
    unsafe { dim("bitnet_model_n_head", model, |h| h.n_head) }
}

/// Key/value heads (fewer than `n_head` with grouped-query attention); -1 if `model` is
/// NULL.
#[no_mangle]
pub unsafe extern "C" fn bitnet_model_n_head_kv(model: *const bitnet_model) -> i32 {
    // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
    unsafe { dim("bitnet_model_n_head_kv", model, |h| h.n_head_kv) }
}

/// The number of weights (elements of every tensor); 0 if `model` is NULL.
#[no_mangle]
pub unsafe extern "C" fn bitnet_model_n_params(model: *const bitnet_model) -> u64 {
    // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
    unsafe {
        with("bitnet_model_n_params", model, 0, |m| {
            Ok(m.model.n_params())
        })
    }
}

/// Bytes of tensor data; 0 if `model` is NULL.
#[no_mangle]
pub unsafe extern "C" fn bitnet_model_size(model: *const bitnet_model) -> u64 {
    // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
    unsafe { with("bitnet_model_size", model, 0, |m| Ok(m.model.size_bytes())) }
}

/// Writes a one-line description (`"bitnet-b1.58 2.4B I2_S"`) to `buf` like `snprintf`:
/// returns the full length, writes at most `buf_size - 1` bytes and a NUL. `buf` may be
/// NULL when `buf_size` is 0. -1 on failure.
#[no_mangle]
pub unsafe extern "C" fn bitnet_model_desc(
    model: *const bitnet_model,
    buf: *mut c_char,
    buf_size: usize,
) -> i32 {
    guard_or("bitnet_model_desc", -1, || {
        // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
        let m = unsafe { handle(model, "model") }?;
        let text = m.model.description();
        // SAFETY: `buf` is NULL or holds `buf_size` writable bytes.
        let out = unsafe { slice_mut(buf.cast::<u8>(), buf_size, "buf") }?;
        write_str(out, text.as_bytes())
    })
}

/// Writes the metadata value under `key` as text (strings as they are, numbers, bools and
/// arrays rendered) to `buf` like `snprintf`: returns the full length. -1 when the key is
/// missing (with `bitnet_last_error` saying so) or on failure.
#[no_mangle]
pub unsafe extern "C" fn bitnet_model_meta_val_str(
    model: *const bitnet_model,
    key: *const c_char,
    buf: *mut c_char,
    buf_size: usize,
) -> i32 {
    guard_or("bitnet_model_meta_val_str", -1, || {
        // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
        let m = unsafe { handle(model, "model") }?;
        // SAFETY: `key` is NULL or a NUL-terminated string.
        let key = unsafe { c_str(key, "key") }?;
        let value = m
            .model
            .meta_value(key)
            .ok_or_else(|| Failure::invalid(format!("no metadata key {key:?}")))?;
        // SAFETY: `buf` is NULL or holds `buf_size` writable bytes.
        let out = unsafe { slice_mut(buf.cast::<u8>(), buf_size, "buf") }?;
        write_str(out, value.as_bytes())
    })
}

unsafe fn special(
    func: &str,
    model: *const bitnet_model,
    get: fn(&Tokenizer) -> Option<u32>,
) -> bitnet_token {
    // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
    unsafe {
        with(func, model, -1, |m| {
            get(m.model.tokenizer()).map_or(Ok(-1), token_out)
        })
    }
}

/// The beginning-of-sequence token, or -1 if the vocabulary has none (or `model` is NULL).
#[no_mangle]
pub unsafe extern "C" fn bitnet_model_token_bos(model: *const bitnet_model) -> bitnet_token {
    // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
    unsafe { special("bitnet_model_token_bos", model, Tokenizer::bos) }
}

/// The end-of-sequence token, or -1 if the vocabulary has none (or `model` is NULL).
#[no_mangle]
pub unsafe extern "C" fn bitnet_model_token_eos(model: *const bitnet_model) -> bitnet_token {
    // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
    unsafe { special("bitnet_model_token_eos", model, Tokenizer::eos) }
}

/// The end-of-turn token (`<|eot_id|>`), or -1 if the vocabulary has none (or `model` is
/// NULL).
#[no_mangle]
pub unsafe extern "C" fn bitnet_model_token_eot(model: *const bitnet_model) -> bitnet_token {
    // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
    unsafe { special("bitnet_model_token_eot", model, Tokenizer::eot) }
}

/// Whether `token` ends generation (EOS, EOT, EOM and the like): stop sampling when it
/// comes out. False for an id outside the vocabulary, or if `model` is NULL.
#[no_mangle]
pub unsafe extern "C" fn bitnet_model_token_is_eog(
    model: *const bitnet_model,
    token: bitnet_token,
) -> bool {
    // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
    unsafe {
        with("bitnet_model_token_is_eog", model, false, |m| {
            Ok(m.model.tokenizer().is_eog(token_in(token, "token")?))
        })
    }
}

/// The file's `tokenizer.chat_template` text, or NULL if it has none (or `model` is NULL).
/// Pass it to `bitnet_chat_apply_template`. The string lives as long as the model.
#[no_mangle]
pub unsafe extern "C" fn bitnet_model_chat_template(model: *const bitnet_model) -> *const c_char {
    // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
    unsafe {
        with("bitnet_model_chat_template", model, ptr::null(), |m| {
            Ok(m.chat_template.as_ref().map_or(ptr::null(), |t| t.as_ptr()))
        })
    }
}
