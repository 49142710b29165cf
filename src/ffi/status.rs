//! Status codes and the thread-local last error message.

use std::cell::RefCell;
use std::ffi::{c_char, CString};

use crate::Error;

/// The outcome of a call that returns a status. `BITNET_OK` is 0, every failure is
/// positive; `bitnet_last_error()` then holds a message naming the function and the
/// cause. The values are part of the ABI and never change meaning.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bitnet_status {
    BITNET_OK = 0,
    /// An argument is outside what the function accepts (a negative length, a token id
    /// outside the vocabulary, text that is not UTF-8, ...).
    BITNET_ERR_INVALID_ARGUMENT = 1,
    /// A required pointer argument is NULL.
    BITNET_ERR_NULL_POINTER = 2,
    /// A file could not be opened or read.
    BITNET_ERR_IO = 3,
    /// The file is not a valid model: a malformed GGUF container, missing or inconsistent
    /// metadata, or tensor data that does not fit its declared format.
    BITNET_ERR_FORMAT = 4,
    /// The request is valid but this build does not implement it (an unknown architecture,
    /// a chat template format it cannot render, ...).
    BITNET_ERR_UNSUPPORTED = 5,
    /// The vocabulary cannot be turned into a tokenizer, or tokenizing failed.
    BITNET_ERR_TOKENIZER = 6,
    /// The progress callback returned false: the load was abandoned.
    BITNET_ERR_CANCELLED = 7,
    /// The abort callback returned true: the decode stopped and the context is as it was
    /// before the call.
    BITNET_ERR_ABORTED = 8,
    /// The batch does not fit in the free KV cells; the context is as it was before the
    /// call (clear it, or start a new one).
    BITNET_ERR_CONTEXT_FULL = 9,
    /// A bug: the library panicked. The call had no other effect on memory safety, but the
    /// object it was working on may be inconsistent; free it.
    BITNET_ERR_PANIC = 10,
    /// Memory for the request could not be reserved (a context whose KV cache does not fit);
    /// nothing was allocated and every other object is unaffected.
    BITNET_ERR_OUT_OF_MEMORY = 11,
}

use bitnet_status::*;

/// A failure on its way to the C caller: the status it returns and the message
/// `bitnet_last_error` will show.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: bitnet_status,
    pub message: String,
}

impl Failure {
    pub fn new(status: bitnet_status, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }

    /// A NULL pointer argument, by parameter name.
    pub fn null(what: &str) -> Failure {
        Failure::new(BITNET_ERR_NULL_POINTER, format!("{what} is NULL"))
    }

    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(BITNET_ERR_INVALID_ARGUMENT, message)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let status = match &e {
            Error::Io { .. } => BITNET_ERR_IO,
            Error::Gguf(_) | Error::Format(_) => BITNET_ERR_FORMAT,
            Error::Tokenizer(_) => BITNET_ERR_TOKENIZER,
            Error::InvalidArgument(_) => BITNET_ERR_INVALID_ARGUMENT,
            Error::Unsupported(_) => BITNET_ERR_UNSUPPORTED,
            Error::Cancelled => BITNET_ERR_CANCELLED,
            Error::Aborted => BITNET_ERR_ABORTED,
            Error::ContextFull(_) => BITNET_ERR_CONTEXT_FULL,
            Error::OutOfMemory(_) => BITNET_ERR_OUT_OF_MEMORY,
        };
        Failure::new(status, e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `"{func}: {message}"` as this thread's last error.
pub(crate) fn set_last_error(func: &str, message: &str) {
    // A message can quote caller data (a metadata value, a template); a NUL inside would
    // cut it short in C, so it is spelled out.
    let text = format!("{func}: {message}").replace('\0', "\\0");
    let text = CString::new(text).unwrap_or_default();
    // Fails only while the thread is being torn down; the message is lost then.
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = text);
}

/// The message of the last failed call on the calling thread: the function's name and
/// the cause (for a load, the path). An empty string when nothing has failed on this
/// thread. Successful calls leave it alone.
///
/// Thread-safety: per thread. The pointer stays valid until the next failing call on the
/// same thread; copy the text to keep it longer. Never NULL.
#[no_mangle]
pub extern "C" fn bitnet_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|e| e.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// A fixed English description of `status` (`"ok"`, `"invalid argument"`, ...), or
/// `"unknown status"` for a value that is not a `bitnet_status`. It takes an `int` so any
/// value is safe to pass.
///
/// Thread-safety: any thread. The string is static.
#[no_mangle]
pub extern "C" fn bitnet_status_str(status: i32) -> *const c_char {
    let text = match status {
        0 => c"ok",
        1 => c"invalid argument",
        2 => c"NULL pointer argument",
        3 => c"input/output error",
        4 => c"invalid model file",
        5 => c"unsupported",
        6 => c"tokenizer error",
        7 => c"cancelled by the progress callback",
        8 => c"aborted by the abort callback",
        9 => c"context full",
        10 => c"internal panic",
        11 => c"out of memory",
        _ => c"unknown status",
    };
    text.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn text(p: *const c_char) -> String {
        // SAFETY: the functions under test return static or thread-local C strings.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string()
    }

    #[test]
    fn every_status_has_its_own_text() {
        let all = [
            BITNET_OK,
            BITNET_ERR_INVALID_ARGUMENT,
            BITNET_ERR_NULL_POINTER,
            BITNET_ERR_IO,
            BITNET_ERR_FORMAT,
            BITNET_ERR_UNSUPPORTED,
            BITNET_ERR_TOKENIZER,
            BITNET_ERR_CANCELLED,
            BITNET_ERR_ABORTED,
            BITNET_ERR_CONTEXT_FULL,
            BITNET_ERR_PANIC,
            BITNET_ERR_OUT_OF_MEMORY,
        ];
        let texts: Vec<String> = all
            .iter()
            .map(|&s| text(bitnet_status_str(s as i32)))
            .collect();
        for (i, t) in texts.iter().enumerate() {
            assert_ne!(t, "unknown status", "status {i}");
            assert!(!texts[..i].contains(t), "status {i} repeats {t:?}");
        }
        assert_eq!(text(bitnet_status_str(-1)), "unknown status");
        assert_eq!(text(bitnet_status_str(all.len() as i32)), "unknown status");
    }

    #[test]
    fn last_error_is_per_thread_and_spells_out_nul() {
        set_last_error("f", "a\0b");
        assert_eq!(text(bitnet_last_error()), "f: a\\0b");
        std::thread::spawn(|| assert_eq!(text(bitnet_last_error()), ""))
            .join()
            .unwrap();
    }
}
