//! Parsing a GGUF file: header, metadata, tensor infos, and validation of every tensor's
//! type, shape and data range against the file before anything is handed out.

use std::collections::HashMap;
use std::path::Path;

use super::cursor::Cursor;
use super::error::GgufError;
use super::storage::Storage;
use super::types::{Dialect, GgmlType};
use super::value::{Array, Value, ValueType};
use crate::error::{Error, Result};

/// GGUF's magic bytes.
pub const MAGIC: [u8; 4] = *b"GGUF";
/// The alignment used when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml's limit on tensor rank.
pub const MAX_DIMS: u32 = 4;
/// Deepest array nesting accepted (GGUF allows nesting; real files use one level).
pub const MAX_NESTING: usize = 8;

/// Counts above these are refused outright (a lying header); counts below them that
/// the file cannot hold mean the file is truncated.
pub mod limits {
    /// Key-value pairs in one file (real models have a few dozen).
    pub const MAX_KV: u64 = 1 << 20;
    /// Tensors in one file (real models have a few thousand).
    pub const MAX_TENSORS: u64 = 1 << 24;
    /// Elements of one array: llama.cpp's GGUF_MAX_ARRAY_ELEMENTS.
    pub const MAX_ARRAY_ELEMENTS: u64 = 1 << 30;
}

const ALIGNMENT_KEY: &str = "general.alignment";
/// Smallest possible encoding of one key-value pair and one tensor info, used to reject
/// counts that the file cannot hold before anything is allocated for them.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8;

/// Architectures only bitnet.cpp writes; their files use the fork's type ids.
const FORK_ARCHITECTURES: &[&str] = &["bitnet-b1.58", "bitnet-25"];

/// Options for opening a file.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    /// Force how type id 39 is read; `None` detects it (see [`GgufFile::dialect`]).
    pub dialect: Option<Dialect>,
}

/// One tensor's description, validated against the file.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// Dimensions in ggml order: `shape[0]` is the contiguous (row) length.
    pub shape: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
    /// Size of the data in bytes.
    pub n_bytes: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        // Checked at open: the product fits in i64.
        self.shape.iter().product()
    }

    /// Row length (`shape[0]`) and number of rows (the product of the other dimensions).
    pub fn rows_cols(&self) -> (u64, u64) {
        let cols = self.shape.first().copied().unwrap_or(1);
        let rows = self.shape.iter().skip(1).product();
        (rows, cols)
    }
}

/// A tensor's description and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Tensor<'a> {
    pub info: &'a TensorInfo,
    pub data: &'a [u8],
}

/// A parsed GGUF file over a memory map (or an owned buffer).
pub struct GgufFile {
    storage: Storage,
    version: u32,
    alignment: u64,
    data_offset: u64,
    dialect: Dialect,
    metadata: Vec<(String, Value)>,
    key_index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("n_kv", &self.metadata.len())
            .field("n_tensors", &self.tensors.len())
            .field("dialect", &self.dialect)
            .finish()
    }
}

impl GgufFile {
    /// Maps and parses the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile> {
        Self::open_with(path, ReadOptions::default())
    }

    pub fn open_with(path: impl AsRef<Path>, options: ReadOptions) -> Result<GgufFile> {
        let path = path.as_ref();
        let storage = Storage::map(path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        Self::parse(storage, options).map_err(Error::Gguf)
    }

    /// Reads the file into private anonymous memory (2 MiB pages where the kernel provides
    /// them) instead of mapping it: slower to open and not shared with other processes, but
    /// faster to stream from, and immune to the file changing on disk.
    pub fn open_copied(path: impl AsRef<Path>, options: ReadOptions) -> Result<GgufFile> {
        let path = path.as_ref();
        let storage = Storage::copy_to_anon(path)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        Self::parse(storage, options).map_err(Error::Gguf)
    }

    /// Parses a file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> std::result::Result<GgufFile, GgufError> {
        Self::parse(Storage::Owned(bytes), ReadOptions::default())
    }

    pub fn from_bytes_with(
        bytes: Vec<u8>,
        options: ReadOptions,
    ) -> std::result::Result<GgufFile, GgufError> {
        Self::parse(Storage::Owned(bytes), options)
    }

    fn parse(storage: Storage, options: ReadOptions) -> std::result::Result<GgufFile, GgufError> {
        let bytes = storage.bytes();
        let mut cur = Cursor::new(bytes);

        let magic: [u8; 4] = cur
            .take(4, &|| "magic".into())?
            .try_into()
            .expect("took exactly 4 bytes");
        if magic != MAGIC {
            return Err(GgufError::BadMagic(magic));
        }
        let version = cur.u32(&|| "version".into())?;
        if version != 2 && version != 3 {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let n_tensors = cur.u64(&|| "tensor count".into())?;
        let n_kv = cur.u64(&|| "key-value count".into())?;
        cur.check_count(n_kv, MIN_KV_BYTES, limits::MAX_KV, &|| {
            "key-value pair".into()
        })?;
        cur.check_count(
            n_tensors,
            MIN_TENSOR_INFO_BYTES,
            limits::MAX_TENSORS,
            &|| "tensor info".into(),
        )?;

        let (metadata, key_index) = read_metadata(&mut cur, n_kv)?;
        let alignment = match key_index.get(ALIGNMENT_KEY).map(|&i| &metadata[i].1) {
            None => DEFAULT_ALIGNMENT,
            Some(Value::U32(a)) => u64::from(*a),
            Some(other) => {
                return Err(GgufError::WrongKeyType {
                    key: ALIGNMENT_KEY.into(),
                    expected: "u32",
                    found: other.value_type().name(),
                })
            }
        };
        if alignment == 0 || !alignment.is_power_of_two() {
            return Err(GgufError::BadAlignment(alignment));
        }

        let raw = read_tensor_infos(&mut cur, n_tensors)?;
        // The data section starts at the next multiple of the alignment. A file with no
        // tensors (a vocabulary-only file) need not contain that padding.
        let data_offset = cur
            .pos()
            .checked_next_multiple_of(alignment)
            .expect("a position inside the file rounds up without overflow");
        let file_size = bytes.len() as u64;

        let arch = key_index
            .get("general.architecture")
            .and_then(|&i| metadata[i].1.as_str());
        let dialect = match options.dialect {
            Some(d) => d,
            None => detect_dialect(arch, &raw, data_offset, alignment, file_size)?,
        };
        let tensors = raw
            .into_iter()
            .map(|r| r.validate(dialect, data_offset, alignment, file_size))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let tensor_index = tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();

        Ok(GgufFile {
            storage,
            version,
            alignment,
            data_offset,
            dialect,
            metadata,
            key_index,
            tensors,
            tensor_index,
        })
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Absolute file offset of the data section.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    pub fn file_size(&self) -> u64 {
        self.storage.bytes().len() as u64
    }

    /// How type id 39 is read in this file: bitnet.cpp's fork if the architecture is one
    /// only the fork writes (`bitnet-b1.58`, `bitnet-25`) or a tensor uses a fork-only id
    /// (36-38); upstream if a tensor uses an upstream-only id (40-42); otherwise, if id 39
    /// occurs, whichever reading makes the tensors tile the data section exactly (upstream
    /// writers always lay tensors out back to back); upstream when nothing tells them apart.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// All key-value pairs in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.key_index.get(key).map(|&i| &self.metadata[i].1)
    }

    /// `general.architecture`, if present and a string.
    pub fn architecture(&self) -> Option<&str> {
        self.get("general.architecture").and_then(Value::as_str)
    }

    fn typed<'a, T>(
        &'a self,
        key: &str,
        expected: &'static str,
        convert: impl Fn(&'a Value) -> Option<T>,
    ) -> std::result::Result<Option<T>, GgufError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => convert(v).map(Some).ok_or_else(|| GgufError::WrongKeyType {
                key: key.into(),
                expected,
                found: v.value_type().name(),
            }),
        }
    }

    /// A string value; `Ok(None)` if absent, an error if present with another type.
    pub fn get_str(&self, key: &str) -> std::result::Result<Option<&str>, GgufError> {
        self.typed(key, "a string", Value::as_str)
    }

    /// Any non-negative integer value, widened to u64.
    pub fn get_uint(&self, key: &str) -> std::result::Result<Option<u64>, GgufError> {
        self.typed(key, "a non-negative integer", Value::as_u64)
    }

    /// Any integer value, widened to i64.
    pub fn get_int(&self, key: &str) -> std::result::Result<Option<i64>, GgufError> {
        self.typed(key, "an integer", Value::as_i64)
    }

    pub fn get_f32(&self, key: &str) -> std::result::Result<Option<f32>, GgufError> {
        self.typed(key, "a float", Value::as_f32)
    }

    pub fn get_bool(&self, key: &str) -> std::result::Result<Option<bool>, GgufError> {
        self.typed(key, "a bool", Value::as_bool)
    }

    pub fn get_array(&self, key: &str) -> std::result::Result<Option<&Array>, GgufError> {
        self.typed(key, "an array", Value::as_array)
    }

    pub fn get_str_array(&self, key: &str) -> std::result::Result<Option<&[String]>, GgufError> {
        self.typed(key, "an array of strings", |v| {
            v.as_array().and_then(Array::as_strings)
        })
    }

    pub fn tensor_infos(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn n_tensors(&self) -> usize {
        self.tensors.len()
    }

    /// The tensor called `name`, with its bytes.
    pub fn tensor(&self, name: &str) -> Option<Tensor<'_>> {
        self.tensor_index.get(name).map(|&i| self.tensor_at(i))
    }

    /// Tensor number `index` in file order.
    ///
    /// # Panics
    /// If `index >= n_tensors()`.
    pub fn tensor_at(&self, index: usize) -> Tensor<'_> {
        let info = &self.tensors[index];
        // Validated at open: data_offset + offset + n_bytes <= file size.
        let start = (self.data_offset + info.offset) as usize;
        let data = &self.storage.bytes()[start..start + info.n_bytes as usize];
        Tensor { info, data }
    }

    /// Says that bytes `range` of tensor `index`'s data will not be read again soon: with a
    /// mapped file, the whole pages inside leave the process's resident set (they are read
    /// back from the file, unchanged, if touched again); with a copy in memory nothing
    /// happens. Returns whether pages were released. Used after the LM head is requantized
    /// from `token_embd`, so its F16 pages do not stay counted in the resident set.
    ///
    /// # Panics
    /// If `index >= n_tensors()` or `range` is not within the tensor's bytes.
    pub fn release_pages(&self, index: usize, range: std::ops::Range<usize>) -> bool {
        let info = &self.tensors[index];
        assert!(
            range.start <= range.end && range.end as u64 <= info.n_bytes,
            "range outside the tensor"
        );
        let start = (self.data_offset + info.offset) as usize;
        self.storage.release(start + range.start, start + range.end)
    }

    pub fn tensors(&self) -> impl Iterator<Item = Tensor<'_>> {
        (0..self.tensors.len()).map(|i| self.tensor_at(i))
    }
}

type Metadata = (Vec<(String, Value)>, HashMap<String, usize>);

fn read_metadata(cur: &mut Cursor<'_>, n_kv: u64) -> std::result::Result<Metadata, GgufError> {
    // n_kv was checked against the file size, so this allocation is bounded by it.
    let mut metadata = Vec::with_capacity(n_kv as usize);
    let mut index = HashMap::with_capacity(n_kv as usize);
    for i in 0..n_kv {
        let key = cur.string(&|| format!("key of key-value pair {i}"))?;
        if key.is_empty() {
            return Err(GgufError::EmptyKey { index: i });
        }
        if index.contains_key(&key) {
            return Err(GgufError::DuplicateKey(key));
        }
        let type_id = cur.u32(&|| format!("value type of key '{key}'"))?;
        let ty = ValueType::from_id(type_id).ok_or_else(|| GgufError::InvalidValueType {
            key: key.clone(),
            type_id,
        })?;
        let value = read_value(cur, ty, &key, 0)?;
        index.insert(key.clone(), metadata.len());
        metadata.push((key, value));
    }
    Ok((metadata, index))
}

fn read_value(
    cur: &mut Cursor<'_>,
    ty: ValueType,
    key: &str,
    depth: usize,
) -> std::result::Result<Value, GgufError> {
    let what = || format!("value of key '{key}'");
    Ok(match ty {
        ValueType::U8 => Value::U8(cur.u8(&what)?),
        ValueType::I8 => Value::I8(cur.u8(&what)? as i8),
        ValueType::U16 => Value::U16(cur.u16(&what)?),
        ValueType::I16 => Value::I16(cur.u16(&what)? as i16),
        ValueType::U32 => Value::U32(cur.u32(&what)?),
        ValueType::I32 => Value::I32(cur.u32(&what)? as i32),
        ValueType::F32 => Value::F32(f32::from_bits(cur.u32(&what)?)),
        ValueType::U64 => Value::U64(cur.u64(&what)?),
        ValueType::I64 => Value::I64(cur.u64(&what)? as i64),
        ValueType::F64 => Value::F64(f64::from_bits(cur.u64(&what)?)),
        ValueType::Bool => Value::Bool(read_bool(cur, key)?),
        ValueType::String => Value::String(cur.string(&what)?),
        ValueType::Array => Value::Array(read_array(cur, key, depth + 1)?),
    })
}

fn read_bool(cur: &mut Cursor<'_>, key: &str) -> std::result::Result<bool, GgufError> {
    match cur.u8(&|| format!("value of key '{key}'"))? {
        0 => Ok(false),
        1 => Ok(true),
        byte => Err(GgufError::InvalidBool {
            key: key.into(),
            byte,
        }),
    }
}

fn read_array(
    cur: &mut Cursor<'_>,
    key: &str,
    depth: usize,
) -> std::result::Result<Array, GgufError> {
    if depth > MAX_NESTING {
        return Err(GgufError::NestingTooDeep {
            key: key.into(),
            depth: MAX_NESTING,
        });
    }
    let type_id = cur.u32(&|| format!("array element type of key '{key}'"))?;
    let ty = ValueType::from_id(type_id).ok_or_else(|| GgufError::InvalidValueType {
        key: key.into(),
        type_id,
    })?;
    let n = cur.u64(&|| format!("array length of key '{key}'"))?;
    cur.check_count(
        n,
        ty.min_encoded_size(),
        limits::MAX_ARRAY_ELEMENTS,
        &|| format!("array element of key '{key}'"),
    )?;
    let what = || format!("array element of key '{key}'");

    // Checked above: n elements of at least min_encoded_size bytes fit in the file.
    let n = n as usize;
    fn collect<T>(
        n: usize,
        mut f: impl FnMut() -> std::result::Result<T, GgufError>,
    ) -> std::result::Result<Vec<T>, GgufError> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(f()?);
        }
        Ok(v)
    }
    Ok(match ty {
        ValueType::U8 => Array::U8(cur.take(n as u64, &what)?.to_vec()),
        ValueType::I8 => Array::I8(
            cur.take(n as u64, &what)?
                .iter()
                .map(|&b| b as i8)
                .collect(),
        ),
        ValueType::U16 => Array::U16(collect(n, || cur.u16(&what))?),
        ValueType::I16 => Array::I16(collect(n, || cur.u16(&what).map(|v| v as i16))?),
        ValueType::U32 => Array::U32(collect(n, || cur.u32(&what))?),
        ValueType::I32 => Array::I32(collect(n, || cur.u32(&what).map(|v| v as i32))?),
        ValueType::F32 => Array::F32(collect(n, || cur.u32(&what).map(f32::from_bits))?),
        ValueType::U64 => Array::U64(collect(n, || cur.u64(&what))?),
        ValueType::I64 => Array::I64(collect(n, || cur.u64(&what).map(|v| v as i64))?),
        ValueType::F64 => Array::F64(collect(n, || cur.u64(&what).map(f64::from_bits))?),
        ValueType::Bool => Array::Bool(collect(n, || read_bool(cur, key))?),
        ValueType::String => Array::String(collect(n, || cur.string(&what))?),
        ValueType::Array => Array::Array(collect(n, || read_array(cur, key, depth + 1))?),
    })
}

/// A tensor info as read, before its type id is resolved.
struct RawTensorInfo {
    name: String,
    shape: Vec<u64>,
    type_id: u32,
    offset: u64,
}

fn read_tensor_infos(
    cur: &mut Cursor<'_>,
    n_tensors: u64,
) -> std::result::Result<Vec<RawTensorInfo>, GgufError> {
    let mut infos = Vec::with_capacity(n_tensors as usize);
    let mut seen = std::collections::HashSet::with_capacity(n_tensors as usize);
    for i in 0..n_tensors {
        let name = cur.string(&|| format!("name of tensor {i}"))?;
        if !seen.insert(name.clone()) {
            return Err(GgufError::DuplicateTensor(name));
        }
        let n_dims = cur.u32(&|| format!("dimension count of tensor '{name}'"))?;
        if n_dims > MAX_DIMS {
            return Err(GgufError::TooManyDims {
                tensor: name,
                n_dims,
            });
        }
        let mut shape = Vec::with_capacity(n_dims as usize);
        for d in 0..n_dims {
            shape.push(cur.u64(&|| format!("dimension {d} of tensor '{name}'"))?);
        }
        // ggml stores dimensions as int64 and multiplies them; refuse what overflows it.
        let n_elements = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
        if shape.iter().any(|&d| d > i64::MAX as u64)
            || n_elements.is_none_or(|n| n > i64::MAX as u64)
        {
            return Err(GgufError::ShapeOverflow {
                tensor: name,
                shape,
            });
        }
        let type_id = cur.u32(&|| format!("type of tensor '{name}'"))?;
        let offset = cur.u64(&|| format!("data offset of tensor '{name}'"))?;
        infos.push(RawTensorInfo {
            name,
            shape,
            type_id,
            offset,
        });
    }
    Ok(infos)
}

impl RawTensorInfo {
    fn validate(
        self,
        dialect: Dialect,
        data_offset: u64,
        alignment: u64,
        file_size: u64,
    ) -> std::result::Result<TensorInfo, GgufError> {
        let ggml_type =
            GgmlType::from_id(self.type_id, dialect).ok_or_else(|| GgufError::UnknownType {
                tensor: self.name.clone(),
                type_id: self.type_id,
            })?;
        let n_bytes = ggml_type
            .n_bytes(&self.shape)
            .ok_or_else(|| GgufError::BadShapeForType {
                tensor: self.name.clone(),
                ggml_type: ggml_type.name(),
                shape: self.shape.clone(),
            })?;
        if self.offset % alignment != 0 {
            return Err(GgufError::MisalignedOffset {
                tensor: self.name,
                offset: self.offset,
                alignment,
            });
        }
        let start = data_offset.checked_add(self.offset);
        let in_bounds = start
            .and_then(|s| s.checked_add(n_bytes))
            .is_some_and(|end| end <= file_size);
        if !in_bounds {
            return Err(GgufError::DataOutOfBounds {
                tensor: self.name,
                start: start.unwrap_or(u64::MAX),
                size: n_bytes,
                file_size,
            });
        }
        Ok(TensorInfo {
            name: self.name,
            shape: self.shape,
            ggml_type,
            offset: self.offset,
            n_bytes,
        })
    }
}

fn detect_dialect(
    arch: Option<&str>,
    raw: &[RawTensorInfo],
    data_offset: u64,
    alignment: u64,
    file_size: u64,
) -> std::result::Result<Dialect, GgufError> {
    let has = |ids: std::ops::RangeInclusive<u32>| raw.iter().any(|t| ids.contains(&t.type_id));
    if arch.is_some_and(|a| FORK_ARCHITECTURES.contains(&a)) || has(36..=38) {
        return Ok(Dialect::BitnetFork);
    }
    if has(40..=42) || !has(39..=39) {
        return Ok(Dialect::Upstream);
    }
    let tiles =
        |dialect: Dialect| tiles_data_section(raw, dialect, data_offset, alignment, file_size);
    match (tiles(Dialect::Upstream), tiles(Dialect::BitnetFork)) {
        (true, false) => Ok(Dialect::Upstream),
        (false, true) => Ok(Dialect::BitnetFork),
        // Neither reading fits: read it as upstream and let validation say what is wrong.
        (false, false) => Ok(Dialect::Upstream),
        (true, true) => {
            let t = raw.iter().find(|t| t.type_id == 39).expect("has(39)");
            Err(GgufError::AmbiguousType {
                tensor: t.name.clone(),
                type_id: 39,
            })
        }
    }
}

/// True if, read in `dialect`, the tensors lie back to back (each padded to the
/// alignment) from the start of the data section, inside the file.
fn tiles_data_section(
    raw: &[RawTensorInfo],
    dialect: Dialect,
    data_offset: u64,
    alignment: u64,
    file_size: u64,
) -> bool {
    let mut spans = Vec::with_capacity(raw.len());
    for t in raw {
        let Some(size) = GgmlType::from_id(t.type_id, dialect).and_then(|ty| ty.n_bytes(&t.shape))
        else {
            return false;
        };
        spans.push((t.offset, size));
    }
    spans.sort_unstable();
    let mut expected = 0u64;
    for (offset, size) in spans {
        if offset != expected {
            return false;
        }
        match offset
            .checked_add(size)
            .and_then(|end| end.checked_next_multiple_of(alignment))
        {
            Some(next) => expected = next,
            None => return false,
        }
    }
    data_offset
        .checked_add(expected)
        .is_some_and(|end| end <= file_size.next_multiple_of(alignment))
}
