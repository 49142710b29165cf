//! Routing the library's diagnostics to the host.

use std::ffi::{c_char, c_void, CString};

use super::boundary::guard_or;
use crate::log::{self, Level};

/// A message's severity. The values are ggml's (`GGML_LOG_LEVEL_*`), so a host that already
/// handles llama.cpp's logs can share its callback's switch.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bitnet_log_level {
    BITNET_LOG_LEVEL_DEBUG = 1,
    BITNET_LOG_LEVEL_INFO = 2,
    BITNET_LOG_LEVEL_WARN = 3,
    BITNET_LOG_LEVEL_ERROR = 4,
}

/// Receives one message per call: NUL-terminated, without a trailing newline, valid only
/// during the call. It may be called from any thread, including the library's workers,
/// and must not call `bitnet_log_set`.
pub type bitnet_log_callback = Option<
    unsafe extern "C" fn(level: bitnet_log_level, text: *const c_char, user_data: *mut c_void),
>;

/// The host's callback with its data, callable from any thread.
struct Hook {
    callback: unsafe extern "C" fn(bitnet_log_level, *const c_char, *mut c_void),
    user_data: *mut c_void,
}

// SAFETY: `bitnet_log_callback`'s documentation tells the host that it is called from
// any thread with this data; that is the contract the host accepted by installing it.
unsafe impl Send for Hook {}
// SAFETY: as above; concurrent calls are part of the same contract.
unsafe impl Sync for Hook {}

impl Hook {
    fn call(&self, level: Level, message: &str) {
        let level = match level {
            Level::Debug => bitnet_log_level::BITNET_LOG_LEVEL_DEBUG,
            Level::Info => bitnet_log_level::BITNET_LOG_LEVEL_INFO,
            Level::Warn => bitnet_log_level::BITNET_LOG_LEVEL_WARN,
            Level::Error => bitnet_log_level::BITNET_LOG_LEVEL_ERROR,
        };
        let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
        // SAFETY: the host supplied the function and data for exactly this call; `text`
        // outlives it.
        unsafe { (self.callback)(level, text.as_ptr(), self.user_data) }
    }
}

/// Sends every diagnostic (all levels, debug included) to `callback` with `user_data`;
/// NULL restores the default: warnings and errors on standard error.
///
/// Thread-safety: process-global. Call it before other threads use the library, or at
/// least not from inside the callback.
#[no_mangle]
pub unsafe extern "C" fn bitnet_log_set(callback: bitnet_log_callback, user_data: *mut c_void) {
    guard_or("bitnet_log_set", (), || {
        log::set_sink(callback.map(|callback| {
            let hook = Hook {
                callback,
                user_data,
            };
            Box::new(move |level: Level, message: &str| hook.call(level, message))
                as Box<dyn Fn(Level, &str) + Send + Sync>
        }));
        Ok(())
    })
}
