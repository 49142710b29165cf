//! Shared test helpers: fixture paths, and the two reference fixtures the repository does
//! not ship because they can be rebuilt byte for byte from the ones it does.
//!
//! - `i2s-b25.gguf` = `i2s-b158.gguf` with the architecture renamed (bitnet.cpp's
//!   `bitnet-25` name); tensor infos and data are identical.
//! - `f32-bitnet.gguf` = `tq2_0-bitnet.gguf`'s metadata with `general.file_type` 0, the
//!   same F16 embedding and F32 norms, and the linears as F32 holding the I2_S
//!   dequantization of `i2s-b158.gguf` (that is how the fixture pack made it; 15 MB).
//!   One thing is lost: the reference file stores 486,202 of its zero weights as -0.0
//!   (the sign of the latent weight that rounded to zero), which I2_S cannot carry. The
//!   rebuilt file is the reference file with those zeros written as +0.0, numerically the
//!   same model; its hash was computed from the reference file by exactly that
//!   substitution (every 0x80000000 word in an F32 tensor set to 0).
//!
//! `rebuild` checks each against these hashes, so a test using them is testing the real
//! reference files.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Mutex;

use bitnet::gguf::{GgmlType, GgufFile, GgufWriter, TensorSpec, Value};
use bitnet::synth::{synthesize, ModelShape, SynthArch, SynthOptions};
use sha2::{Digest, Sha256};

pub fn fixture_path(rel: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/tests/fixtures/{rel}",
        env!("CARGO_MANIFEST_DIR")
    ))
}

/// A fixture model by name: the shipped files, or the rebuilt "i2s-b25" and "f32-bitnet".
pub fn model_path(name: &str) -> PathBuf {
    match name {
        "i2s-b25" | "f32-bitnet" => rebuild(name),
        _ => fixture_path(&format!("models/{name}.gguf")),
    }
}

/// Index of the largest value; the lowest index among equal maxima.
pub fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

/// The bytes of the model with a Q8_0 token_embd that bitnet.cpp ran for the q8e-b158
/// reference outputs (tests/fixtures/README.md): n_embd 384, which bitnet.cpp's quantizer
/// stores as Q8_0.
pub fn q8_0_embedding_model() -> Vec<u8> {
    let options = SynthOptions {
        shape: ModelShape {
            n_embd: 384,
            n_head: 6,
            n_head_kv: 2,
            ..ModelShape::TINY
        },
        arch: SynthArch::BitnetB158,
        linear_type: GgmlType::I2_S,
        embedding_type: GgmlType::Q8_0,
        seed: 7,
        drop_pre: false,
        name: "bitnet-synthetic".into(),
    };
    let n = NEXT_TEMP.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("bitnet-q8e-{}-{n}.gguf", std::process::id()));
    synthesize(&fixture("models/i2s-b158.gguf"), &options, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    bytes
}

static NEXT_TEMP: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// (worst cosine, worst max |diff|) over rows of logits.
pub fn compare(ours: &[Vec<f32>], reference: &[Vec<f32>]) -> (f64, f32) {
    assert_eq!(ours.len(), reference.len());
    let mut worst = (1.0f64, 0.0f32);
    for (a, b) in ours.iter().zip(reference) {
        let dot: f64 = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| f64::from(x) * f64::from(y))
            .sum();
        let na: f64 = a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = b.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        worst = (worst.0.min(dot / (na * nb)), worst.1.max(diff));
    }
    worst
}

pub fn fixture(rel: &str) -> GgufFile {
    let path = fixture_path(rel);
    GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Published sha256 of `i2s-b25.gguf` (fixture pack README, "All files").
pub const I2S_B25_SHA256: &str = "407a836d5bf8039ed9c817d947acdd8e7bee455b34c1d24da3da6fa718594ee7";
/// sha256 of `f32-bitnet.gguf` (published: 38ded4ae...a1) with its negative zeros made
/// positive, as described above.
pub const F32_BITNET_POSITIVE_ZERO_SHA256: &str =
    "1867d071a843ec5022d9ea2d1ca6de43b95f496b4edfbc9fb5f5508948d28366";

/// Metadata and tensors (spec and bytes) of a fixture, to edit and [`write`] back.
pub type Parts = (Vec<(String, Value)>, Vec<(TensorSpec, Vec<u8>)>);

/// The parts of `file`.
pub fn parts(file: &GgufFile) -> Parts {
    let metadata = file.metadata().to_vec();
    let tensors = file
        .tensors()
        .map(|t| {
            (
                TensorSpec::new(&t.info.name, t.info.ggml_type, &t.info.shape),
                t.data.to_vec(),
            )
        })
        .collect();
    (metadata, tensors)
}

/// Writes `metadata` and `tensors` (spec and data) with the crate's writer.
pub fn write(metadata: Vec<(String, Value)>, tensors: Vec<(TensorSpec, Vec<u8>)>) -> Vec<u8> {
    let mut w = GgufWriter::new();
    for (k, v) in metadata {
        w.add(k, v).unwrap();
    }
    for (spec, _) in &tensors {
        w.add_tensor(spec.clone()).unwrap();
    }
    let mut stream = w.begin(Vec::new()).unwrap();
    for (_, data) in &tensors {
        stream.write_data(data).unwrap();
    }
    stream.finish().unwrap()
}

/// `i2s-b25.gguf`, rebuilt.
pub fn i2s_b25_bytes() -> Vec<u8> {
    let (metadata, tensors) = parts(&fixture("models/i2s-b158.gguf"));
    let metadata = metadata
        .into_iter()
        .map(|(k, v)| {
            let key = k.replacen("bitnet-b1.58.", "bitnet-25.", 1);
            let value = match k.as_str() {
                "general.architecture" => Value::String("bitnet-25".into()),
                _ => v,
            };
            (key, value)
        })
        .collect();
    write(metadata, tensors)
}

/// `f32-bitnet.gguf`, rebuilt.
pub fn f32_bitnet_bytes() -> Vec<u8> {
    let meta_src = fixture("models/tq2_0-bitnet.gguf");
    let weights = fixture("models/i2s-b158.gguf");
    let metadata = meta_src
        .metadata()
        .iter()
        .map(|(k, v)| match k.as_str() {
            "general.file_type" => (k.clone(), Value::U32(0)),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    let tensors = weights
        .tensors()
        .map(|t| {
            let n = t.info.n_elements() as usize;
            if t.info.ggml_type == GgmlType::I2_S {
                let values = bitnet::quant::dequantize(GgmlType::I2_S, t.data, n).unwrap();
                let data = bitnet::quant::pack(GgmlType::F32, &values, &t.info.shape).unwrap();
                (
                    TensorSpec::new(&t.info.name, GgmlType::F32, &t.info.shape),
                    data,
                )
            } else {
                (
                    TensorSpec::new(&t.info.name, t.info.ggml_type, &t.info.shape),
                    t.data.to_vec(),
                )
            }
        })
        .collect();
    write(metadata, tensors)
}

/// A rebuilt reference fixture ("i2s-b25" or "f32-bitnet"), checked against its
/// published sha256. It is written once to the temp dir under a name carrying its hash and
/// reused by later test processes; a new copy is renamed into place, so a process that has
/// the file mapped never sees it rewritten.
pub fn rebuild(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(n, _)| n == name) {
        return path.clone();
    }
    let (bytes, sha) = match name {
        "i2s-b25" => (i2s_b25_bytes(), I2S_B25_SHA256),
        "f32-bitnet" => (f32_bitnet_bytes(), F32_BITNET_POSITIVE_ZERO_SHA256),
        other => panic!("no rebuild for {other}"),
    };
    assert_eq!(
        sha256_hex(&bytes),
        sha,
        "rebuilt {name} differs from the reference file"
    );
    let dir = std::env::temp_dir();
    let path = dir.join(format!("bitnet-fixture-{name}-{}.gguf", &sha[..16]));
    let current = std::fs::read(&path).is_ok_and(|b| sha256_hex(&b) == sha);
    if !current {
        let tmp = dir.join(format!("bitnet-fixture-{name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
    built.push((name.to_string(), path.clone()));
    path
}
