//! Typed errors for reading and writing GGUF files. Every variant names where the
//! problem is (a key, a tensor, an offset) so a user can see what is wrong with the file.

use std::fmt;

/// What went wrong while parsing or writing a GGUF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GgufError {
    /// The file ends before `what` (at byte `offset`, needing `needed` more bytes).
    Truncated {
        what: String,
        offset: u64,
        needed: u64,
    },
    /// The first four bytes are not `GGUF`.
    BadMagic([u8; 4]),
    /// The version is not 2 or 3 (a byte-swapped version means a big-endian file).
    UnsupportedVersion(u32),
    /// A count (tensors, key-value pairs, array elements) is above what any real file
    /// holds (the limits in [`crate::gguf::limits`]).
    CountTooLarge {
        what: String,
        count: u64,
        limit: u64,
    },
    /// A string's length runs past the end of the file.
    StringTooLong {
        what: String,
        len: u64,
        remaining: u64,
    },
    /// A key, value or tensor name is not valid UTF-8.
    InvalidUtf8 {
        what: String,
    },
    /// A metadata value has a type id outside the GGUF value types.
    InvalidValueType {
        key: String,
        type_id: u32,
    },
    /// A boolean byte is neither 0 nor 1.
    InvalidBool {
        key: String,
        byte: u8,
    },
    /// Arrays nested deeper than the reader allows.
    NestingTooDeep {
        key: String,
        depth: usize,
    },
    /// A key appears twice, or is empty.
    DuplicateKey(String),
    EmptyKey {
        index: u64,
    },
    /// A key the caller asked for is absent.
    MissingKey(String),
    /// A key has the wrong value type for how it is used (`general.alignment` must be u32).
    WrongKeyType {
        key: String,
        expected: &'static str,
        found: &'static str,
    },
    /// `general.alignment` is zero or not a power of two.
    BadAlignment(u64),
    /// A tensor name appears twice.
    DuplicateTensor(String),
    /// A tensor has more than 4 dimensions.
    TooManyDims {
        tensor: String,
        n_dims: u32,
    },
    /// A tensor's dimensions overflow when multiplied, or a dimension is negative as i64.
    ShapeOverflow {
        tensor: String,
        shape: Vec<u64>,
    },
    /// A tensor's type id is not a ggml type (in this file's dialect).
    UnknownType {
        tensor: String,
        type_id: u32,
    },
    /// A tensor's row length is not a multiple of its type's block size, or the shape is
    /// impossible for the type.
    BadShapeForType {
        tensor: String,
        ggml_type: &'static str,
        shape: Vec<u64>,
    },
    /// A tensor's data offset is not a multiple of the file's alignment.
    MisalignedOffset {
        tensor: String,
        offset: u64,
        alignment: u64,
    },
    /// A tensor's data runs past the end of the file.
    DataOutOfBounds {
        tensor: String,
        start: u64,
        size: u64,
        file_size: u64,
    },
    /// A tensor's type id 39 cannot be resolved to TL2 or MXFP4 from the file alone.
    AmbiguousType {
        tensor: String,
        type_id: u32,
    },
    /// The writer was used inconsistently (wrong data size, tensors out of order, ...).
    Writer(String),
}

impl fmt::Display for GgufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use GgufError::*;
        match self {
            Truncated {
                what,
                offset,
                needed,
            } => write!(
                f,
                "file is truncated: {what} at byte {offset} needs {needed} more byte(s)"
            ),
            BadMagic(m) => write!(f, "not a GGUF file (magic bytes {m:02x?}, expected \"GGUF\")"),
            UnsupportedVersion(v) if v.swap_bytes() == 2 || v.swap_bytes() == 3 => write!(
                f,
                "GGUF version {v} looks byte-swapped: big-endian GGUF files are not supported"
            ),
            UnsupportedVersion(v) => {
                write!(f, "GGUF version {v} is not supported (only 2 and 3)")
            }
            CountTooLarge { what, count, limit } => {
                write!(f, "{what} count {count} is above the limit of {limit}")
            }
            StringTooLong {
                what,
                len,
                remaining,
            } => write!(
                f,
                "{what}: string length {len} runs past the end of the file ({remaining} byte(s) left)"
            ),
            InvalidUtf8 { what } => write!(f, "{what} is not valid UTF-8"),
            InvalidValueType { key, type_id } => {
                write!(f, "key '{key}' has invalid value type {type_id}")
            }
            InvalidBool { key, byte } => {
                write!(f, "key '{key}' has boolean byte {byte}, expected 0 or 1")
            }
            NestingTooDeep { key, depth } => {
                write!(f, "key '{key}' nests arrays deeper than {depth} levels")
            }
            DuplicateKey(key) => write!(f, "duplicate key '{key}'"),
            MissingKey(key) => write!(f, "required key '{key}' is missing"),
            EmptyKey { index } => write!(f, "key-value pair {index} has an empty key"),
            WrongKeyType {
                key,
                expected,
                found,
            } => write!(f, "key '{key}' must be {expected} but is {found}"),
            BadAlignment(a) => {
                write!(f, "general.alignment {a} is not a power of two greater than zero")
            }
            DuplicateTensor(name) => write!(f, "duplicate tensor name '{name}'"),
            TooManyDims { tensor, n_dims } => {
                write!(f, "tensor '{tensor}' has {n_dims} dimensions (at most 4)")
            }
            ShapeOverflow { tensor, shape } => {
                write!(f, "tensor '{tensor}' has shape {shape:?}, whose element count overflows")
            }
            UnknownType { tensor, type_id } => {
                write!(f, "tensor '{tensor}' has unknown ggml type id {type_id}")
            }
            BadShapeForType {
                tensor,
                ggml_type,
                shape,
            } => write!(
                f,
                "tensor '{tensor}' of type {ggml_type} cannot have shape {shape:?} \
                 (row length not a multiple of the block size, or size overflow)"
            ),
            MisalignedOffset {
                tensor,
                offset,
                alignment,
            } => write!(
                f,
                "tensor '{tensor}' data offset {offset} is not a multiple of the alignment {alignment}"
            ),
            DataOutOfBounds {
                tensor,
                start,
                size,
                file_size,
            } => write!(
                f,
                "tensor '{tensor}' data ({size} bytes at byte {start}) runs past the end of the file ({file_size} bytes)"
            ),
            AmbiguousType { tensor, type_id } => write!(
                f,
                "tensor '{tensor}' has type id {type_id}, which is TL2 in bitnet.cpp and MXFP4 upstream, \
                 and the file does not say which; open it with an explicit dialect"
            ),
            Writer(msg) => write!(f, "GGUF writer: {msg}"),
        }
    }
}

impl std::error::Error for GgufError {}
