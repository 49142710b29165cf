//! The panic boundary every `extern "C"` body runs inside: unwinding into C is undefined
//! behaviour, so a panic becomes `BITNET_ERR_PANIC` and a message like any other failure.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use super::status::{bitnet_status, set_last_error, Failure};

/// Runs `body` for the C function `func`. On success returns its value; on a failure or
/// a panic records the message as the thread's last error and returns
/// `on_failure(status)`.
///
/// `AssertUnwindSafe`: after a panic the caller is told (`BITNET_ERR_PANIC`) that the
/// object involved may be inconsistent; it stays memory-safe, being safe Rust.
pub(crate) fn guard<T>(
    func: &str,
    on_failure: impl FnOnce(bitnet_status) -> T,
    body: impl FnOnce() -> Result<T, Failure>,
) -> T {
    let failure = match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => return value,
        Ok(Err(failure)) => failure,
        Err(payload) => Failure::new(
            bitnet_status::BITNET_ERR_PANIC,
            format!("internal panic: {}", panic_text(payload.as_ref())),
        ),
    };
    set_last_error(func, &failure.message);
    on_failure(failure.status)
}

/// [`guard`] for functions returning a status.
pub(crate) fn guard_status(
    func: &str,
    body: impl FnOnce() -> Result<(), Failure>,
) -> bitnet_status {
    guard(
        func,
        |status| status,
        || body().map(|()| bitnet_status::BITNET_OK),
    )
}

/// [`guard`] for functions returning a value, with one value standing for failure.
pub(crate) fn guard_or<T>(func: &str, failed: T, body: impl FnOnce() -> Result<T, Failure>) -> T {
    guard(func, |_| failed, body)
}

fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::bitnet_last_error;
    use std::ffi::CStr;

    fn last_error() -> String {
        // SAFETY: bitnet_last_error returns a live thread-local C string.
        unsafe { CStr::from_ptr(bitnet_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let status = guard_status("bitnet_test", || panic!("boom {}", 7));
        assert_eq!(status, bitnet_status::BITNET_ERR_PANIC);
        assert_eq!(last_error(), "bitnet_test: internal panic: boom 7");
        assert_eq!(guard_or("bitnet_test", -1, || panic!("static")), -1);
        assert_eq!(last_error(), "bitnet_test: internal panic: static");
    }

    #[test]
    fn failures_keep_their_status_and_success_keeps_the_last_error() {
        let status = guard_status("f", || Err(Failure::null("model")));
        assert_eq!(status, bitnet_status::BITNET_ERR_NULL_POINTER);
        assert_eq!(last_error(), "f: model is NULL");
        assert_eq!(guard_or("g", 0, || Ok(5)), 5);
        assert_eq!(last_error(), "f: model is NULL");
    }
}
