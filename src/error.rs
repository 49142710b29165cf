//! The crate's error type. Each variant keeps the context a user needs (a path, a key,
//! a tensor name) in its message; the C API will map variants to status codes.

use std::fmt;

use crate::gguf::GgufError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug)]
pub enum Error {
    /// Reading or writing a file failed.
    Io {
        context: String,
        source: std::io::Error,
    },
    /// The GGUF container is malformed.
    Gguf(GgufError),
    /// Tensor data does not fit its declared format (wrong size, bad shape, ...).
    Format(String),
    /// The vocabulary in the file cannot be turned into a tokenizer, or tokenizing failed.
    Tokenizer(String),
    /// A caller passed an argument outside what the function accepts.
    InvalidArgument(String),
    /// The request is well-formed but this build does not implement it.
    Unsupported(String),
    /// The caller's progress callback asked to stop loading.
    Cancelled,
    /// The caller's abort callback stopped a decode; the context is as it was before it.
    Aborted,
    /// The batch does not fit in the free KV cells; the context is as it was before it.
    ContextFull(String),
    /// A buffer could not be reserved; nothing was allocated.
    OutOfMemory(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Gguf(e) => write!(f, "{e}"),
            Error::Format(m) => write!(f, "{m}"),
            Error::Tokenizer(m) => write!(f, "tokenizer: {m}"),
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Unsupported(m) => write!(f, "unsupported: {m}"),
            Error::Cancelled => write!(f, "cancelled by the progress callback"),
            Error::Aborted => write!(f, "aborted by the abort callback"),
            Error::ContextFull(m) => write!(f, "context full: {m}"),
            Error::OutOfMemory(m) => write!(f, "out of memory: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Gguf(e) => Some(e),
            _ => None,
        }
    }
}

impl From<GgufError> for Error {
    fn from(e: GgufError) -> Error {
        Error::Gguf(e)
    }
}
