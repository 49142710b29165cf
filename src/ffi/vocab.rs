//! Text to tokens and back, over a model's tokenizer.
//!
//! These three functions return an `int32_t` count. A negative count means the buffer was
//! too short and is minus the size needed (nothing is written then): grow the buffer and
//! call again. `INT32_MIN` means failure, with `bitnet_last_error()` saying why.

use std::ffi::c_char;

use super::args::{
    fill, fill_bytes, handle, len, slice, slice_mut, token_in, token_out, tokens_in, utf8,
};
use super::bitnet_token;
use super::boundary::guard_or;
use super::model::bitnet_model;
use crate::tokenizer::DetokenizeOptions;

/// What `bitnet_tokenize`, `bitnet_token_to_piece` and `bitnet_detokenize` return on
/// failure (`INT32_MIN`): no needed size can be this negative.
pub const BITNET_COUNT_FAILED: i32 = -2147483647 - 1;

/// Converts `text_len` bytes of UTF-8 `text` (no NUL needed; NULL allowed when
/// `text_len` is 0) to token ids in `tokens` (room for `n_tokens_max`; NULL allowed when
/// 0, to ask for the size). With `add_special`, BOS (and EOS) are added as the vocabulary
/// asks. With `parse_special`, the text of control tokens (`<|eot_id|>`, ...) becomes
/// those tokens; without it, that text is tokenized as plain text.
///
/// Returns the number of tokens; minus the number needed when `n_tokens_max` is too small;
/// `BITNET_COUNT_FAILED` (`INT32_MIN`) on failure: NULL `model`, negative lengths, text
/// that is not UTF-8 (`bitnet_last_error` gives the byte offset).
///
/// Thread-safety: any thread (the model is read-only).
#[no_mangle]
pub unsafe extern "C" fn bitnet_tokenize(
    model: *const bitnet_model,
    text: *const c_char,
    text_len: i32,
    tokens: *mut bitnet_token,
    n_tokens_max: i32,
    add_special: bool,
    parse_special: bool,
) -> i32 {
    guard_or("bitnet_tokenize", BITNET_COUNT_FAILED, || {
        // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
        let m = unsafe { handle(model, "model") }?;
        let n_text = len(text_len, "text_len")?;
        let n_max = len(n_tokens_max, "n_tokens_max")?;
        // SAFETY: `text` is NULL or holds `text_len` bytes.
        let text = utf8(unsafe { slice(text.cast::<u8>(), n_text, "text") }?, "text")?;
        let ids = m
            .model
            .tokenizer()
            .tokenize(text, add_special, parse_special)?;
        let ids = ids
            .into_iter()
            .map(token_out)
            .collect::<Result<Vec<_>, _>>()?;
        // SAFETY: `tokens` is NULL or holds `n_tokens_max` writable ids.
        fill(unsafe { slice_mut(tokens, n_max, "tokens") }?, &ids)
    })
}

/// Writes the bytes `token` stands for to `buf` (room for `length`), skipping up to
/// `lstrip` leading spaces. Control and unknown tokens give their text only with
/// `special`, otherwise nothing. A piece may be part of a UTF-8 character, so it is bytes,
/// not a C string: a NUL is added only when there is room after them (not counted).
///
/// Returns the number of bytes; minus the number needed when `length` is too small;
/// `BITNET_COUNT_FAILED` on failure (a token outside the vocabulary, NULL `model`,
/// negative `length` or `lstrip`).
///
/// Thread-safety: any thread.
#[no_mangle]
pub unsafe extern "C" fn bitnet_token_to_piece(
    model: *const bitnet_model,
    token: bitnet_token,
    buf: *mut c_char,
    length: i32,
    lstrip: i32,
    special: bool,
) -> i32 {
    guard_or("bitnet_token_to_piece", BITNET_COUNT_FAILED, || {
        // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
        let m = unsafe { handle(model, "model") }?;
        let cap = len(length, "length")?;
        let lstrip = len(lstrip, "lstrip")?;
        let piece = m
            .model
            .tokenizer()
            .token_to_piece(token_in(token, "token")?, special)?;
        let spaces = piece
            .iter()
            .take(lstrip)
            .take_while(|&&b| b == b' ')
            .count();
        // SAFETY: `buf` is NULL or holds `length` writable bytes.
        let out = unsafe { slice_mut(buf.cast::<u8>(), cap, "buf") }?;
        fill_bytes(out, &piece[spaces..])
    })
}

/// Converts `n_tokens` ids back to text in `text` (room for `text_len_max` bytes). With
/// `remove_special`, a leading BOS and a trailing EOS that the vocabulary adds are dropped;
/// with `unparse_special`, control tokens are written as their text. Detokenizing what
/// `bitnet_tokenize` produced gives back the exact input (no clean-up of spaces). A NUL is
/// added only when there is room after the text (not counted).
///
/// Returns the number of bytes; minus the number needed when `text_len_max` is too small;
/// `BITNET_COUNT_FAILED` on failure (an id outside the vocabulary, NULL arguments,
/// negative lengths).
///
/// Thread-safety: any thread.
#[no_mangle]
pub unsafe extern "C" fn bitnet_detokenize(
    model: *const bitnet_model,
    tokens: *const bitnet_token,
    n_tokens: i32,
    text: *mut c_char,
    text_len_max: i32,
    remove_special: bool,
    unparse_special: bool,
) -> i32 {
    guard_or("bitnet_detokenize", BITNET_COUNT_FAILED, || {
        // SAFETY: `model` is NULL or a live handle (the module's pointer contract).
        let m = unsafe { handle(model, "model") }?;
        let n = len(n_tokens, "n_tokens")?;
        let cap = len(text_len_max, "text_len_max")?;
        // SAFETY: `tokens` is NULL or holds `n_tokens` ids.
        let ids = tokens_in(unsafe { slice(tokens, n, "tokens") }?, "tokens")?;
        let options = DetokenizeOptions {
            remove_special,
            unparse_special,
            clean_spaces: false,
        };
        let bytes = m.model.tokenizer().detokenize(&ids, &options)?;
        // SAFETY: `text` is NULL or holds `text_len_max` writable bytes.
        let out = unsafe { slice_mut(text.cast::<u8>(), cap, "text") }?;
        fill_bytes(out, &bytes)
    })
}
