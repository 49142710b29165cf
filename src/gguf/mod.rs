//! GGUF files: a validating reader over a memory map, a streaming writer, and the ggml
//! tensor type table. This layer knows nothing about models.

mod cursor;
mod error;
mod reader;
mod storage;
mod types;
mod value;
mod writer;

pub use error::GgufError;
pub use reader::{
    limits, GgufFile, ReadOptions, Tensor, TensorInfo, DEFAULT_ALIGNMENT, MAGIC, MAX_DIMS,
    MAX_NESTING,
};
pub use types::{Dialect, GgmlType, SizeRule};
pub use value::{Array, Value, ValueType};
pub use writer::{GgufWriter, TensorSpec, TensorStream};
