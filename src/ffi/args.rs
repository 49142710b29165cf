//! Reading C arguments and filling C buffers, the same way in every function:
//! - a handle or required pointer that is NULL fails with `BITNET_ERR_NULL_POINTER`,
//!   naming the parameter;
//! - a (pointer, length) pair may be NULL when the length is 0; a negative length fails
//!   with `BITNET_ERR_INVALID_ARGUMENT`;
//! - arrays and byte strings written back ([`fill`], [`fill_bytes`]) return the count, or
//!   minus the needed count when the buffer is short (then nothing is written), as
//!   `llama_tokenize` does;
//! - C strings written back ([`write_str`]) follow `snprintf`: the full length is returned
//!   and a truncated, NUL-terminated copy written, as `llama_model_desc` does.

use std::ffi::{c_char, CStr};

use super::bitnet_token;
use super::status::Failure;

/// The object behind a handle argument.
///
/// # Safety
/// `p` is NULL or points to a live `T` that nothing mutates for `'a`.
pub(crate) unsafe fn handle<'a, T>(p: *const T, what: &str) -> Result<&'a T, Failure> {
    // SAFETY: by this function's contract.
    unsafe { p.as_ref() }.ok_or_else(|| Failure::null(what))
}

/// The object behind a handle argument, for exclusive use.
///
/// # Safety
/// `p` is NULL or points to a live `T` that nothing else uses for `'a`.
pub(crate) unsafe fn handle_mut<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: by this function's contract.
    unsafe { p.as_mut() }.ok_or_else(|| Failure::null(what))
}

/// The bytes of a NUL-terminated string argument (without the NUL).
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that lives for `'a`.
pub(crate) unsafe fn c_bytes<'a>(p: *const c_char, what: &str) -> Result<&'a [u8], Failure> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL, and NUL-terminated by this function's contract.
    Ok(unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// As for [`c_bytes`].
pub(crate) unsafe fn c_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failure> {
    // SAFETY: forwarded contract.
    utf8(unsafe { c_bytes(p, what) }?, what)
}

pub(crate) fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, Failure> {
    std::str::from_utf8(bytes).map_err(|e| Failure::invalid(format!("{what} is not UTF-8: {e}")))
}

/// A length argument, which must not be negative.
pub(crate) fn len(n: i32, what: &str) -> Result<usize, Failure> {
    usize::try_from(n).map_err(|_| Failure::invalid(format!("{what} is negative ({n})")))
}

/// An input array of `len` elements.
///
/// # Safety
/// `p` is NULL or points to `len` initialised elements that live, unmodified, for `'a`.
pub(crate) unsafe fn slice<'a, T>(p: *const T, len: usize, what: &str) -> Result<&'a [T], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL and `len` elements long by this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// An output buffer of `len` elements.
///
/// # Safety
/// `p` is NULL or points to `len` writable elements that nothing else uses for `'a`.
pub(crate) unsafe fn slice_mut<'a, T>(
    p: *mut T,
    len: usize,
    what: &str,
) -> Result<&'a mut [T], Failure> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL and `len` elements long by this function's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len) })
}

/// Copies `items` to `out` and returns their count, or returns minus the count and
/// writes nothing when `out` is short.
pub(crate) fn fill<T: Copy>(out: &mut [T], items: &[T]) -> Result<i32, Failure> {
    let n = i32::try_from(items.len()).map_err(|_| {
        Failure::invalid(format!(
            "the result has {} elements, more than an int32_t counts",
            items.len()
        ))
    })?;
    match out.get_mut(..items.len()) {
        Some(dst) => {
            dst.copy_from_slice(items);
            Ok(n)
        }
        None => Ok(-n),
    }
}

/// [`fill`] for bytes, also writing a NUL after them when there is room, so a buffer one
/// byte longer than the result holds a C string. The NUL is not counted.
pub(crate) fn fill_bytes(out: &mut [u8], bytes: &[u8]) -> Result<i32, Failure> {
    let n = fill(out, bytes)?;
    if let Some(nul) = out.get_mut(bytes.len()).filter(|_| n >= 0) {
        *nul = 0;
    }
    Ok(n)
}

/// `snprintf` into `out`: as much of `s` as fits before a NUL (nothing when `out` is
/// empty); returns the length of all of `s`.
pub(crate) fn write_str(out: &mut [u8], s: &[u8]) -> Result<i32, Failure> {
    let n = i32::try_from(s.len()).map_err(|_| {
        Failure::invalid(format!(
            "the text is {} bytes, more than an int32_t counts",
            s.len()
        ))
    })?;
    if let Some(room) = out.len().checked_sub(1) {
        let k = room.min(s.len());
        out[..k].copy_from_slice(&s[..k]);
        out[k] = 0;
    }
    Ok(n)
}

/// A token id argument as the Rust API's `u32`.
pub(crate) fn token_in(t: bitnet_token, what: &str) -> Result<u32, Failure> {
    u32::try_from(t).map_err(|_| Failure::invalid(format!("{what} is a negative token id ({t})")))
}

/// Token id arguments as the Rust API's `u32`s.
pub(crate) fn tokens_in(ts: &[bitnet_token], what: &str) -> Result<Vec<u32>, Failure> {
    ts.iter()
        .enumerate()
        .map(|(i, &t)| token_in(t, &format!("{what}[{i}]")))
        .collect()
}

/// A token id from the Rust API as a `bitnet_token`. Vocabularies hold far fewer than
/// 2^31 tokens, but the conversion is checked all the same.
pub(crate) fn token_out(t: u32) -> Result<bitnet_token, Failure> {
    bitnet_token::try_from(t)
        .map_err(|_| Failure::invalid(format!("token id {t} exceeds INT32_MAX")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_reports_the_needed_size_and_writes_nothing_when_short() {
        let mut out = [9; 3];
        assert_eq!(fill(&mut out, &[1, 2]).unwrap(), 2);
        assert_eq!(out, [1, 2, 9]);
        let mut out = [9; 1];
        assert_eq!(fill(&mut out, &[1, 2]).unwrap(), -2);
        assert_eq!(out, [9]);
        assert_eq!(fill::<i32>(&mut [], &[]).unwrap(), 0);
    }

    #[test]
    fn fill_bytes_terminates_when_there_is_room() {
        let mut out = [9u8; 3];
        assert_eq!(fill_bytes(&mut out, b"ab").unwrap(), 2);
        assert_eq!(out, *b"ab\0");
        let mut out = [9u8; 2];
        assert_eq!(fill_bytes(&mut out, b"ab").unwrap(), 2);
        assert_eq!(out, *b"ab");
        assert_eq!(fill_bytes(&mut out, b"abc").unwrap(), -3);
        assert_eq!(out, *b"ab");
    }

    #[test]
    fn write_str_is_snprintf() {
        let mut out = [9u8; 3];
        assert_eq!(write_str(&mut out, b"hello").unwrap(), 5);
        assert_eq!(out, *b"he\0");
        assert_eq!(write_str(&mut [], b"hello").unwrap(), 5);
        let mut out = [9u8; 8];
        assert_eq!(write_str(&mut out, b"hi").unwrap(), 2);
        assert_eq!(&out[..3], b"hi\0");
    }

    #[test]
    fn lengths_and_ids_must_not_be_negative() {
        assert_eq!(len(3, "n").unwrap(), 3);
        assert_eq!(len(-1, "n").unwrap_err().message, "n is negative (-1)");
        assert_eq!(
            tokens_in(&[1, -2], "tokens").unwrap_err().message,
            "tokens[1] is a negative token id (-2)"
        );
        assert_eq!(tokens_in(&[0, 7], "tokens").unwrap(), vec![0, 7]);
    }
}
