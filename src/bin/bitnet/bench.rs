//! `bitnet bench`: prompt and decode speed on a model, llama-bench style, optionally next to
//! bitnet.cpp's llama-bench on the same file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use bitnet::gguf::GgufFile;
use bitnet::synth::{synthesize, SynthOptions};
use bitnet::{Context, ContextParams, Model, ModelParams};

use crate::args::Args;
use crate::CliResult;

pub const USAGE: &str =
    "bitnet bench [--model FILE] [--threads T] [--prompt N] [--gen N] [--reps N]
             [--ctx N] [--mmap] [--lm-head exact|int8] [--json]
  Measures prompt processing (one batch of N tokens, default 128) and decode (N single
  tokens from an empty context, default 64), like llama-bench's ppN and tgN, after one
  warm-up run; prints the median and range over --reps runs (default 3), the load time
  and the peak RSS. --json prints one JSON object on standard output instead.
  The model is copied into anonymous memory with 2 MiB pages, the library's default; --mmap
  maps the file instead (faster to load, slower to decode).
  --lm-head int8 requantizes token_embd to int8 at load (the 8-bit LM head; the load
  time includes it); the head in use is printed, and the bitnet.cpp ratios name it.
  Without --model, uses a BitNet-b1.58-2B-4T-shaped model with random ternary weights
  (speed does not depend on weight values), written once to the cache directory
  ($XDG_CACHE_HOME/bitnet or ~/.cache/bitnet) from the Llama-3 vocabulary in the tests.
  When BITNET_CPP_DIR names a bitnet.cpp build, its llama-bench runs on the same file
  with the same settings afterwards, and the ratios are printed.";

/// The Llama-3 vocabulary shipped with the tests, used for the synthesized model.
const VOCAB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/tokenizer/ggml-vocab-llama-bpe.gguf"
);

pub fn run(mut args: Args) -> CliResult {
    let model = args.value("model")?;
    let threads: u32 = args.parsed("threads")?.unwrap_or(0);
    let n_prompt: usize = args.parsed("prompt")?.unwrap_or(128);
    let n_gen: usize = args.parsed("gen")?.unwrap_or(64);
    let reps: usize = args.parsed("reps")?.unwrap_or(3);
    let n_ctx: u32 = args.parsed("ctx")?.unwrap_or(4096);
    let json = args.flag("json");
    let use_mmap = args.flag("mmap");
    let lm_head = args.lm_head()?;
    args.finish()?;
    if reps == 0 || (n_prompt == 0 && n_gen == 0) {
        return Err("nothing to measure: --reps and one of --prompt/--gen must be positive".into());
    }
    let path = match model {
        Some(m) => PathBuf::from(m),
        None => cached_2b4t()?,
    };

    let start = Instant::now();
    let mparams = ModelParams {
        use_mmap,
        lm_head,
        ..ModelParams::default()
    };
    let model = Arc::new(Model::load(&path, &mparams, None)?);
    let load_s = start.elapsed().as_secs_f64();
    let params = ContextParams {
        n_ctx,
        n_batch: (n_prompt as u32).max(512),
        n_threads: threads,
        ..ContextParams::default()
    };
    let mut ctx = Context::new(model.clone(), params)?;
    let n_threads = ctx.params().n_threads;
    let n_vocab = model.hparams().n_vocab as u32;
    // Deterministic ordinary tokens (speed does not depend on them).
    let prompt: Vec<u32> = (0..n_prompt as u32)
        .map(|i| (i * 7919 + 13) % n_vocab.min(128_000))
        .collect();

    let mut pp = Vec::new();
    let mut tg = Vec::new();
    for rep in 0..=reps {
        if n_prompt > 0 {
            ctx.clear();
            let t = Instant::now();
            ctx.decode(&prompt, None, None)?;
            let rate = n_prompt as f64 / t.elapsed().as_secs_f64();
            if rep > 0 {
                pp.push(rate);
            }
        }
        if n_gen > 0 {
            ctx.clear();
            let t = Instant::now();
            for i in 0..n_gen {
                ctx.decode(&[prompt.get(i).copied().unwrap_or(1)], None, None)?;
            }
            let rate = n_gen as f64 / t.elapsed().as_secs_f64();
            if rep > 0 {
                tg.push(rate);
            }
        }
    }
    let rss = peak_rss_bytes();
    let kernels = bitnet::kernels::get().name;
    let head = model.lm_head().name();
    let weights = if use_mmap { "mapped" } else { "copied" };
    let (pp_med, tg_med) = (median(&pp), median(&tg));
    if json {
        println!(
            "{{\"model\": {:?}, \"kernels\": {kernels:?}, \"lm_head\": {head:?}, \"weights\": {weights:?}, \"threads\": {n_threads}, \"n_prompt\": {n_prompt}, \"n_gen\": {n_gen}, \"reps\": {reps}, \
             \"pp_tok_s\": {}, \"tg_tok_s\": {}, \"pp_runs\": {:?}, \"tg_runs\": {:?}, \"load_s\": {load_s:.3}, \"peak_rss_bytes\": {}}}",
            path.display().to_string(),
            json_num(pp_med),
            json_num(tg_med),
            pp,
            tg,
            rss.map_or("null".to_string(), |r| r.to_string())
        );
    } else {
        println!("model    {} ({})", path.display(), model.description());
        println!(
            "kernels  {kernels}, {n_threads} threads, {head} LM head, {weights} file, load {load_s:.2} s, peak RSS {}",
            rss.map_or("?".into(), |r| format!(
                "{:.2} GiB",
                r as f64 / (1u64 << 30) as f64
            ))
        );
        if n_prompt > 0 {
            println!(
                "pp{n_prompt:<5} {:8.2} tok/s  (range {:.2} .. {:.2}, {reps} runs)",
                pp_med,
                min(&pp),
                max(&pp)
            );
        }
        if n_gen > 0 {
            println!(
                "tg{n_gen:<5} {:8.2} tok/s  (range {:.2} .. {:.2}, {reps} runs)",
                tg_med,
                min(&tg),
                max(&tg)
            );
        }
    }
    drop(ctx);
    drop(model);
    if let Ok(dir) = std::env::var("BITNET_CPP_DIR") {
        compare_with_bitnet_cpp(
            Path::new(&dir),
            &path,
            n_threads,
            n_prompt,
            n_gen,
            reps,
            pp_med,
            tg_med,
            head,
        )?;
    } else if !json {
        eprintln!("(set BITNET_CPP_DIR to a bitnet.cpp build to compare with its llama-bench)");
    }
    Ok(())
}

/// Writes the 2B-4T-shaped model once; later runs reuse it.
fn cached_2b4t() -> Result<PathBuf, Box<dyn std::error::Error>> {
    let dir = match std::env::var_os("XDG_CACHE_HOME") {
        Some(d) => PathBuf::from(d).join("bitnet"),
        None => {
            PathBuf::from(std::env::var_os("HOME").ok_or("neither XDG_CACHE_HOME nor HOME is set")?)
                .join(".cache/bitnet")
        }
    };
    let path = dir.join("synth-2b4t-i2s-seed42.gguf");
    if path.is_file() {
        eprintln!(
            "no model given: using the cached 2B-4T-shaped synthetic model {}",
            path.display()
        );
        return Ok(path);
    }
    std::fs::create_dir_all(&dir)?;
    eprintln!("no model given: writing a 2B-4T-shaped synthetic model (random ternary weights) to {} once", path.display());
    let vocab = GgufFile::open(VOCAB)?;
    let tmp = dir.join(format!("synth-2b4t.{}.tmp", std::process::id()));
    synthesize(&vocab, &SynthOptions::two_b_4t(), &tmp)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

#[allow(clippy::too_many_arguments)]
fn compare_with_bitnet_cpp(
    dir: &Path,
    model: &Path,
    threads: u32,
    n_prompt: usize,
    n_gen: usize,
    reps: usize,
    pp: f64,
    tg: f64,
    head: &str,
) -> CliResult {
    let exe = ["bin/llama-bench", "build/bin/llama-bench"]
        .iter()
        .map(|p| dir.join(p))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "BITNET_CPP_DIR={}: no bin/llama-bench or build/bin/llama-bench there",
                dir.display()
            )
        })?;
    let out = Command::new(&exe)
        .arg("-m")
        .arg(model)
        .args([
            "-t",
            &threads.to_string(),
            "-p",
            &n_prompt.to_string(),
            "-n",
            &n_gen.to_string(),
        ])
        .args(["-r", &reps.to_string(), "-o", "csv"])
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            exe.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    let csv = String::from_utf8_lossy(&out.stdout);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or("")
        .split(',')
        .map(|h| h.trim_matches('"'))
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (np, ng, ts) = (col("n_prompt"), col("n_gen"), col("avg_ts"));
    let (Some(np), Some(ng), Some(ts)) = (np, ng, ts) else {
        return Err(format!("unexpected llama-bench output:\n{csv}").into());
    };
    println!(
        "bitnet.cpp llama-bench ({}), {threads} threads (libbitnet with the {head} LM head):",
        exe.display()
    );
    for line in lines {
        let f: Vec<&str> = line.split(',').map(|v| v.trim_matches('"')).collect();
        let (Some(p), Some(g), Some(rate)) = (
            f.get(np),
            f.get(ng),
            f.get(ts).and_then(|v| v.parse::<f64>().ok()),
        ) else {
            continue;
        };
        let (name, ours) = if *g == "0" {
            (format!("pp{p}"), pp)
        } else {
            (format!("tg{g}"), tg)
        };
        println!(
            "  {name:<7} {rate:8.2} tok/s   libbitnet / bitnet.cpp = {:.2}x",
            ours / rate
        );
    }
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "null".into()
    }
}

/// VmHWM from /proc/self/status (Linux), in bytes.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
