//! Chat templates: a conversation rendered as the prompt text a model was tuned on.

use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use super::args::{c_str, slice, slice_mut, write_str};
use super::boundary::guard_or;
use super::status::Failure;
use crate::tokenizer::{ChatMessage, ChatTemplate};

/// One turn of a conversation: `role` is usually `"system"`, `"user"` or `"assistant"`.
/// Both are NUL-terminated UTF-8.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bitnet_chat_message {
    pub role: *const c_char,
    pub content: *const c_char,
}

/// Renders `n_msg` messages with the template `tmpl`, followed by the assistant's turn
/// header when `add_ass` is set, into `buf` (room for `length` bytes) like `snprintf`.
///
/// `tmpl` is a format name (`"bitnet"`, `"bitnet-cpp"`, `"llama3"`; see
/// `bitnet_chat_builtin_templates`) or a GGUF template text such as
/// `bitnet_model_chat_template` returns, recognised as llama.cpp does; NULL means
/// `"bitnet"`, the BitNet b1.58 model card format. The text never contains BOS: tokenize
/// it with `add_special` and `parse_special` true.
///
/// Returns the full length of the prompt (when it is `length` or more, grow `buf` and call
/// again); -1 on failure: a template this library cannot render
/// (`bitnet_last_error` names the formats it can), NULL or non-UTF-8 strings.
///
/// Thread-safety: any thread.
#[no_mangle]
pub unsafe extern "C" fn bitnet_chat_apply_template(
    tmpl: *const c_char,
    chat: *const bitnet_chat_message,
    n_msg: usize,
    add_ass: bool,
    buf: *mut c_char,
    length: i32,
) -> i32 {
    guard_or("bitnet_chat_apply_template", -1, || {
        let template = if tmpl.is_null() {
            ChatTemplate::Bitnet
        } else {
            // SAFETY: non-NULL `tmpl` is a NUL-terminated string.
            ChatTemplate::resolve(unsafe { c_str(tmpl, "tmpl") }?)?
        };
        let cap = usize::try_from(length)
            .map_err(|_| Failure::invalid(format!("length is negative ({length})")))?;
        // SAFETY: `chat` is NULL or holds `n_msg` messages.
        let chat = unsafe { slice(chat, n_msg, "chat") }?;
        let mut messages = Vec::with_capacity(chat.len());
        for (i, m) in chat.iter().enumerate() {
            // SAFETY: each message's strings are NULL or NUL-terminated.
            let role = unsafe { c_str(m.role, &format!("chat[{i}].role")) }?;
            // SAFETY: as above.
            let content = unsafe { c_str(m.content, &format!("chat[{i}].content")) }?;
            messages.push(ChatMessage::new(role, content));
        }
        let prompt = template.apply(&messages, add_ass);
        // SAFETY: `buf` is NULL or holds `length` writable bytes.
        let out = unsafe { slice_mut(buf.cast::<u8>(), cap, "buf") }?;
        write_str(out, prompt.as_bytes())
    })
}

/// The names of the formats `bitnet_chat_apply_template` renders: writes up to `len`
/// static strings to `output` (NULL allowed when `len` is 0) and returns how many formats
/// there are.
///
/// Thread-safety: any thread.
#[no_mangle]
pub unsafe extern "C" fn bitnet_chat_builtin_templates(
    output: *mut *const c_char,
    len: usize,
) -> i32 {
    static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
    guard_or("bitnet_chat_builtin_templates", -1, || {
        let names = NAMES.get_or_init(|| {
            ChatTemplate::ALL
                .iter()
                .map(|t| CString::new(t.name()).unwrap_or_default())
                .collect()
        });
        // SAFETY: `output` is NULL or holds `len` writable pointers.
        let out = unsafe { slice_mut(output, len, "output") }?;
        for (slot, name) in out.iter_mut().zip(names) {
            *slot = name.as_ptr();
        }
        Ok(names.len() as i32)
    })
}
