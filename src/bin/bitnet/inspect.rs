//! `bitnet inspect FILE`: the metadata and tensor table of a GGUF file, like gguf-dump.

use std::io::Write;

use bitnet::gguf::{GgufFile, Value};

use crate::args::Args;
use crate::{default_model, CliResult};

pub const USAGE: &str = "bitnet inspect [FILE]
  Prints a GGUF file's header, metadata (scalars in full, arrays as type and length)
  and tensor table (name, type, shape, bytes, absolute offset).
  Without FILE, inspects the small model shipped in the repository.";

pub fn run(mut args: Args) -> CliResult {
    let path = match args.positional()? {
        Some(p) => p.into(),
        None => default_model()?,
    };
    args.finish()?;
    let file = GgufFile::open(&path)?;
    let mut out = std::io::stdout().lock();
    match print(&mut out, &path.display().to_string(), &file) {
        // A closed pipe (`bitnet inspect | head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(format!("writing output: {e}").into()),
        Ok(()) => Ok(()),
    }
}

fn print(out: &mut impl Write, path: &str, file: &GgufFile) -> std::io::Result<()> {
    writeln!(out, "file: {path} ({} bytes)", file.file_size())?;
    writeln!(
        out,
        "GGUF v{}, alignment {}, data section at byte {}, type ids read as {}",
        file.version(),
        file.alignment(),
        file.data_offset(),
        file.dialect()
    )?;
    writeln!(out)?;
    writeln!(out, "{} key-value pairs:", file.metadata().len())?;
    let key_width = file
        .metadata()
        .iter()
        .map(|(k, _)| k.len())
        .max()
        .unwrap_or(0);
    for (key, value) in file.metadata() {
        let ty = match value {
            Value::Array(a) => format!("[{}]", a.elem_type().name()),
            v => v.value_type().name().to_string(),
        };
        writeln!(out, "  {key:key_width$}  {ty:8}  {value}")?;
    }
    writeln!(out)?;
    let total: u64 = file.tensor_infos().iter().map(|t| t.n_bytes).sum();
    writeln!(
        out,
        "{} tensors, {} bytes of data:",
        file.n_tensors(),
        total
    )?;
    let name_width = file
        .tensor_infos()
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(
        out,
        "  {:>4}  {:name_width$}  {:8}  {:22}  {:>12}  {:>12}",
        "#", "name", "type", "shape", "bytes", "offset"
    )?;
    for (i, t) in file.tensor_infos().iter().enumerate() {
        let shape = t
            .shape
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" x ");
        writeln!(
            out,
            "  {:>4}  {:name_width$}  {:8}  {:22}  {:>12}  {:>12}",
            i,
            t.name,
            t.ggml_type.name(),
            shape,
            t.n_bytes,
            file.data_offset() + t.offset
        )?;
    }
    Ok(())
}
