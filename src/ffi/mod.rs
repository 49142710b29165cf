//! The C API: `include/bitnet.h`, generated from this module by cbindgen (see
//! `cbindgen.toml`; `tests/header.rs` fails when the checked-in header drifts).
//!
//! Nothing here computes anything: each function checks its pointers and lengths, calls the
//! safe Rust API, and translates the result (status codes, caller buffers, a thread-local
//! message). One file per C object; the conventions shared by all of them live in
//! [`boundary`] (panics and the last error) and [`args`] (pointers and buffers).
//!
//! The rules a C caller must keep, stated once here and in `docs/c-api.md` instead of on
//! every function: a handle argument is NULL or a live pointer this library returned; a
//! buffer argument points to at least the number of elements its length argument says (it
//! may be NULL when that length is 0); strings are NUL-terminated unless a length is given;
//! callbacks return normally (no `longjmp`, no C++ exception).

// The C names (`bitnet_model`, `BITNET_OK`) are the API; Rust spellings would leak into
// the header.
#![allow(non_camel_case_types)]
// Every function takes raw pointers from C; their contract is the one above, documented
// once rather than repeated as a `# Safety` section in each function's header comment.
#![allow(clippy::missing_safety_doc)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

// cbindgen writes the header in the order of these declarations: errors and version,
// logging, then the objects in the order a program meets them. Blank lines keep rustfmt
// from sorting them.
pub mod status;
pub mod version;

pub mod log;

pub mod model;

pub mod vocab;

pub mod context;

pub mod sampler;

pub mod chat;

mod args;
mod boundary;

/// A token id: an index into the model's vocabulary (`0 .. bitnet_model_n_vocab`).
pub type bitnet_token = i32;
