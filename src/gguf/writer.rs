//! Writing GGUF files the references accept: the layout gguf-py and ggml write (header,
//! key-value pairs in insertion order, tensor infos, zero padding to the alignment, then
//! each tensor's data padded to the alignment, back to back).
//!
//! Tensor data is streamed: [`GgufWriter::begin`] writes everything up to the data
//! section, then [`TensorStream::write_data`] takes each tensor's bytes in order, in
//! chunks of any size, so multi-gigabyte models never need to be held in memory.

use std::collections::HashSet;
use std::io::Write;

use super::error::GgufError;
use super::reader::{DEFAULT_ALIGNMENT, MAGIC, MAX_DIMS};
use super::types::GgmlType;
use super::value::{Array, Value};
use crate::error::{Error, Result};

/// ggml's GGML_MAX_NAME: names must be shorter than this for the references to load them.
pub const MAX_TENSOR_NAME: usize = 64;

/// A tensor to be written: name, type and shape (ggml order, row length first).
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    pub name: String,
    pub ggml_type: GgmlType,
    pub shape: Vec<u64>,
}

impl TensorSpec {
    pub fn new(name: impl Into<String>, ggml_type: GgmlType, shape: &[u64]) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            ggml_type,
            shape: shape.to_vec(),
        }
    }
}

struct Planned {
    spec: TensorSpec,
    n_bytes: u64,
    offset: u64,
}

/// Collects metadata and tensor descriptions, then writes the file.
pub struct GgufWriter {
    version: u32,
    metadata: Vec<(String, Value)>,
    keys: HashSet<String>,
    tensors: Vec<Planned>,
    names: HashSet<String>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self::new()
    }
}

fn writer_error(msg: String) -> Error {
    Error::Gguf(GgufError::Writer(msg))
}

impl GgufWriter {
    /// A GGUF v3 writer.
    pub fn new() -> GgufWriter {
        GgufWriter {
            version: 3,
            metadata: Vec::new(),
            keys: HashSet::new(),
            tensors: Vec::new(),
            names: HashSet::new(),
        }
    }

    /// Writes the given version number instead (2 and 3 share one layout).
    pub fn with_version(mut self, version: u32) -> Result<GgufWriter> {
        if version != 2 && version != 3 {
            return Err(writer_error(format!("cannot write GGUF version {version}")));
        }
        self.version = version;
        Ok(self)
    }

    /// Adds a key-value pair; keys must be unique and non-empty.
    pub fn add(&mut self, key: impl Into<String>, value: Value) -> Result<&mut Self> {
        let key = key.into();
        if key.is_empty() {
            return Err(writer_error("empty key".into()));
        }
        if key == "general.alignment" {
            match value {
                Value::U32(a) if a > 0 && a.is_power_of_two() => {}
                _ => {
                    return Err(writer_error(
                        "general.alignment must be a u32 power of two".into(),
                    ))
                }
            }
            if !self.tensors.is_empty() {
                return Err(writer_error(
                    "set general.alignment before adding tensors".into(),
                ));
            }
        }
        if !self.keys.insert(key.clone()) {
            return Err(writer_error(format!("duplicate key '{key}'")));
        }
        self.metadata.push((key, value));
        Ok(self)
    }

    pub fn alignment(&self) -> u64 {
        self.metadata
            .iter()
            .find(|(k, _)| k == "general.alignment")
            .and_then(|(_, v)| v.as_u64())
            .unwrap_or(DEFAULT_ALIGNMENT)
    }

    /// Declares the next tensor. Data must later be written in the same order.
    pub fn add_tensor(&mut self, spec: TensorSpec) -> Result<&mut Self> {
        if spec.name.is_empty() || spec.name.len() >= MAX_TENSOR_NAME {
            return Err(writer_error(format!(
                "tensor name '{}' must be 1 to {} bytes long",
                spec.name,
                MAX_TENSOR_NAME - 1
            )));
        }
        if spec.shape.is_empty() || spec.shape.len() > MAX_DIMS as usize {
            return Err(writer_error(format!(
                "tensor '{}' must have 1 to {MAX_DIMS} dimensions",
                spec.name
            )));
        }
        if self.names.contains(&spec.name) {
            return Err(writer_error(format!("duplicate tensor '{}'", spec.name)));
        }
        let n_bytes = spec.ggml_type.n_bytes(&spec.shape).ok_or_else(|| {
            writer_error(format!(
                "tensor '{}' of type {} cannot have shape {:?}",
                spec.name, spec.ggml_type, spec.shape
            ))
        })?;
        self.names.insert(spec.name.clone());
        let alignment = self.alignment();
        let offset = match self.tensors.last() {
            None => 0,
            Some(p) => (p.offset + p.n_bytes).next_multiple_of(alignment),
        };
        self.tensors.push(Planned {
            spec,
            n_bytes,
            offset,
        });
        Ok(self)
    }

    /// Writes the header, metadata, tensor infos and padding; tensor data follows
    /// through the returned stream.
    pub fn begin<W: Write>(self, mut out: W) -> Result<TensorStream<W>> {
        let mut head = Vec::new();
        head.extend_from_slice(&MAGIC);
        head.extend_from_slice(&self.version.to_le_bytes());
        head.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        head.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            put_str(&mut head, key);
            head.extend_from_slice(&value.value_type().id().to_le_bytes());
            put_value(&mut head, value);
        }
        for p in &self.tensors {
            put_str(&mut head, &p.spec.name);
            head.extend_from_slice(&(p.spec.shape.len() as u32).to_le_bytes());
            for d in &p.spec.shape {
                head.extend_from_slice(&d.to_le_bytes());
            }
            head.extend_from_slice(&p.spec.ggml_type.id().to_le_bytes());
            head.extend_from_slice(&p.offset.to_le_bytes());
        }
        let alignment = self.alignment();
        head.resize(head.len().next_multiple_of(alignment as usize), 0);
        out.write_all(&head)
            .map_err(|e| Error::io("writing GGUF header", e))?;
        Ok(TensorStream {
            out,
            alignment,
            tensors: self.tensors,
            current: 0,
            written_in_current: 0,
        })
    }
}

/// Receives tensor data in declaration order, padding after each tensor.
pub struct TensorStream<W: Write> {
    out: W,
    alignment: u64,
    tensors: Vec<Planned>,
    current: usize,
    written_in_current: u64,
}

impl<W: Write> TensorStream<W> {
    /// The tensor whose data is expected next, and how many of its bytes are still due.
    pub fn pending(&self) -> Option<(&TensorSpec, u64)> {
        self.tensors
            .get(self.current)
            .map(|p| (&p.spec, p.n_bytes - self.written_in_current))
    }

    /// Appends bytes to the current tensor. A chunk may not run past its end; when the
    /// tensor is complete the padding is written and the next tensor begins.
    pub fn write_data(&mut self, chunk: &[u8]) -> Result<()> {
        let Some(p) = self.tensors.get(self.current) else {
            return Err(writer_error(
                "more tensor data than declared tensors".into(),
            ));
        };
        let due = p.n_bytes - self.written_in_current;
        if chunk.len() as u64 > due {
            return Err(writer_error(format!(
                "tensor '{}' takes {} bytes, {} more given",
                p.spec.name,
                p.n_bytes,
                chunk.len() as u64 - due
            )));
        }
        let name = p.spec.name.clone();
        let n_bytes = p.n_bytes;
        self.out
            .write_all(chunk)
            .map_err(|e| Error::io(format!("writing tensor '{name}'"), e))?;
        self.written_in_current += chunk.len() as u64;
        if self.written_in_current == n_bytes {
            let pad = n_bytes.next_multiple_of(self.alignment) - n_bytes;
            self.out
                .write_all(&vec![0u8; pad as usize])
                .map_err(|e| Error::io(format!("padding tensor '{name}'"), e))?;
            self.current += 1;
            self.written_in_current = 0;
        }
        Ok(())
    }

    /// Checks every tensor was written, flushes and returns the sink.
    pub fn finish(mut self) -> Result<W> {
        if let Some((spec, due)) = self.pending() {
            return Err(writer_error(format!(
                "tensor '{}' is missing {due} byte(s) of data",
                spec.name
            )));
        }
        self.out
            .flush()
            .map_err(|e| Error::io("flushing GGUF file", e))?;
        Ok(self.out)
    }
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_value(buf: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(v) => buf.push(*v),
        Value::I8(v) => buf.push(*v as u8),
        Value::U16(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::I16(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::I32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::F32(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => buf.push(u8::from(*v)),
        Value::String(s) => put_str(buf, s),
        Value::Array(a) => put_array(buf, a),
        Value::U64(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) => buf.extend_from_slice(&v.to_le_bytes()),
        Value::F64(v) => buf.extend_from_slice(&v.to_le_bytes()),
    }
}

fn put_array(buf: &mut Vec<u8>, a: &Array) {
    buf.extend_from_slice(&a.elem_type().id().to_le_bytes());
    buf.extend_from_slice(&(a.len() as u64).to_le_bytes());
    fn each<T>(buf: &mut Vec<u8>, v: &[T], f: impl Fn(&T) -> Vec<u8>) {
        for x in v {
            buf.extend_from_slice(&f(x));
        }
    }
    match a {
        Array::U8(v) => buf.extend_from_slice(v),
        Array::I8(v) => buf.extend(v.iter().map(|&x| x as u8)),
        Array::U16(v) => each(buf, v, |x| x.to_le_bytes().to_vec()),
        Array::I16(v) => each(buf, v, |x| x.to_le_bytes().to_vec()),
        Array::U32(v) => each(buf, v, |x| x.to_le_bytes().to_vec()),
        Array::I32(v) => each(buf, v, |x| x.to_le_bytes().to_vec()),
        Array::F32(v) => each(buf, v, |x| x.to_le_bytes().to_vec()),
        Array::U64(v) => each(buf, v, |x| x.to_le_bytes().to_vec()),
        Array::I64(v) => each(buf, v, |x| x.to_le_bytes().to_vec()),
        Array::F64(v) => each(buf, v, |x| x.to_le_bytes().to_vec()),
        Array::Bool(v) => buf.extend(v.iter().map(|&x| u8::from(x))),
        Array::String(v) => v.iter().for_each(|s| put_str(buf, s)),
        Array::Array(v) => v.iter().for_each(|inner| put_array(buf, inner)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::GgufFile;

    fn written(w: GgufWriter, data: &[&[u8]]) -> Vec<u8> {
        let mut s = w.begin(Vec::new()).unwrap();
        for d in data {
            s.write_data(d).unwrap();
        }
        s.finish().unwrap()
    }

    #[test]
    fn every_value_type_round_trips_including_nested_arrays() {
        let values = vec![
            ("a.u8", Value::U8(200)),
            ("a.i8", Value::I8(-5)),
            ("a.u16", Value::U16(65000)),
            ("a.i16", Value::I16(-30000)),
            ("a.u32", Value::U32(4_000_000_000)),
            ("a.i32", Value::I32(-2_000_000_000)),
            ("a.f32", Value::F32(1.5e-5)),
            ("a.bool", Value::Bool(true)),
            ("a.str", Value::String("héllo".into())),
            ("a.u64", Value::U64(u64::MAX)),
            ("a.i64", Value::I64(i64::MIN)),
            ("a.f64", Value::F64(-2.25)),
            (
                "a.arr_str",
                Value::Array(Array::String(vec!["x".into(), "".into(), "Ġ Ġ".into()])),
            ),
            ("a.arr_bool", Value::Array(Array::Bool(vec![true, false]))),
            (
                "a.nested",
                Value::Array(Array::Array(vec![
                    Array::I32(vec![1, -2]),
                    Array::F64(vec![]),
                    Array::U8(vec![7]),
                ])),
            ),
        ];
        for version in [2, 3] {
            let mut w = GgufWriter::new().with_version(version).unwrap();
            for (k, v) in &values {
                w.add(*k, v.clone()).unwrap();
            }
            let file = GgufFile::from_bytes(written(w, &[])).unwrap();
            assert_eq!(file.version(), version);
            let got: Vec<_> = file
                .metadata()
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            assert_eq!(got, values);
        }
    }

    #[test]
    fn tensors_are_laid_out_back_to_back_with_padding() {
        let mut w = GgufWriter::new();
        w.add("general.alignment", Value::U32(64)).unwrap();
        w.add_tensor(TensorSpec::new("a", GgmlType::F32, &[3]))
            .unwrap();
        w.add_tensor(TensorSpec::new("b", GgmlType::I2_S, &[128, 2]))
            .unwrap();
        let a: Vec<u8> = (0..12).collect();
        let b: Vec<u8> = (0..96).map(|i| i as u8 ^ 0x5a).collect();
        let bytes = written(w, &[&a, &b[..50], &b[50..]]);
        let file = GgufFile::from_bytes(bytes).unwrap();
        assert_eq!(file.alignment(), 64);
        assert_eq!(file.data_offset() % 64, 0);
        assert_eq!(file.tensor("a").unwrap().data, &a[..]);
        let tb = file.tensor("b").unwrap();
        assert_eq!(tb.info.offset, 64);
        assert_eq!(tb.data, &b[..]);
        assert_eq!(file.file_size(), file.data_offset() + 64 + 128);
    }

    #[test]
    fn misuse_is_an_error_not_a_panic() {
        let mut w = GgufWriter::new();
        w.add("k", Value::U8(1)).unwrap();
        assert!(w.add("k", Value::U8(2)).is_err());
        assert!(w.add("", Value::U8(2)).is_err());
        assert!(w
            .add_tensor(TensorSpec::new("t", GgmlType::TQ2_0, &[100]))
            .is_err());
        assert!(w
            .add_tensor(TensorSpec::new("x".repeat(64), GgmlType::F32, &[1]))
            .is_err());
        w.add_tensor(TensorSpec::new("t", GgmlType::F32, &[2]))
            .unwrap();
        assert!(w
            .add_tensor(TensorSpec::new("t", GgmlType::F32, &[2]))
            .is_err());
        let mut s = w.begin(Vec::new()).unwrap();
        assert!(s.write_data(&[0; 9]).is_err());
        s.write_data(&[0; 4]).unwrap();
        assert!(s.finish().is_err());
    }
}
