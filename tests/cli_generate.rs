//! `bitnet run`, `bitnet chat` and `bitnet logits` end to end, checked against the reference
//! greedy ids of the fixture models.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use bitnet::tokenizer::{Tokenizer, TokenizerOptions};

fn bitnet(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bitnet"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn path(rel: &str) -> String {
    common::fixture_path(rel).display().to_string()
}

/// bitnet.cpp's greedy ids after the fixture prompt (tests/fixtures/models/i2s-b158.greedy.json).
const I2S_GREEDY: [u32; 12] = [
    3906, 3906, 3906, 4208, 4208, 4208, 3154, 3376, 3376, 4102, 4102, 4102,
];

/// The text the tokenizer renders for `ids` (control tokens render as nothing).
fn text_of(ids: &[u32]) -> Vec<u8> {
    let file = common::fixture("models/i2s-b158.gguf");
    let tok = Tokenizer::from_gguf(&file, &TokenizerOptions::default()).unwrap();
    ids.iter()
        .flat_map(|&id| tok.token_to_piece(id, false).unwrap())
        .collect()
}

#[test]
fn run_greedy_streams_the_reference_continuation() {
    let o = bitnet(
        &[
            "run",
            "-p",
            "We will meet at the station at nine.",
            "-n",
            "12",
            "--temp",
            "0",
        ],
        b"",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(o.stdout, text_of(&I2S_GREEDY));
    assert!(
        err.contains("no model given: using the small model shipped in the repository"),
        "{err}"
    );
    assert!(
        err.contains("prompt: 12 tokens") && err.contains("decode: 12 tokens"),
        "{err}"
    );
    assert!(err.contains("tok/s"), "{err}");
}

#[test]
fn run_with_a_seed_is_reproducible_and_the_seed_matters() {
    let args = |seed: &'static str| {
        [
            "run", "-p", "Hello", "-n", "16", "--seed", seed, "--temp", "1.5", "--top-k", "0",
            "--top-p", "1", "--min-p", "0",
        ]
    };
    let a = bitnet(&args("11"), b"");
    let b = bitnet(&args("11"), b"");
    let c = bitnet(&args("12"), b"");
    assert!(a.status.success() && b.status.success() && c.status.success());
    assert_eq!(a.stdout, b.stdout);
    assert_ne!(
        a.stdout, c.stdout,
        "16 tokens at temperature 1.5 from a 4352-token vocabulary"
    );
    assert!(String::from_utf8_lossy(&a.stderr).contains("seed 11"));
}

#[test]
fn chat_answers_each_line_with_the_template() {
    let o = bitnet(
        &[
            "chat",
            "-n",
            "4",
            "--temp",
            "0",
            "--model",
            &path("models/tq2_0-bitnet.gguf"),
        ],
        b"Hello\nAnd again\n",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("chat template: llama3"), "{err}");
    // Two replies, each on its own line.
    assert_eq!(
        o.stdout.iter().filter(|&&b| b == b'\n').count(),
        2,
        "{:?}",
        String::from_utf8_lossy(&o.stdout)
    );
    // The first reply is the greedy continuation of the rendered prompt (checked via the
    // library: same template, same tokenizer).
    let model =
        bitnet::Model::load(path("models/tq2_0-bitnet.gguf"), &Default::default(), None).unwrap();
    let prompt = bitnet::tokenizer::ChatTemplate::Llama3.apply(
        &[bitnet::tokenizer::ChatMessage::new("user", "Hello")],
        true,
    );
    let ids = model.tokenizer().tokenize(&prompt, true, true).unwrap();
    let model = std::sync::Arc::new(model);
    let mut ctx = bitnet::Context::new(model.clone(), Default::default()).unwrap();
    ctx.decode(&ids, None, None).unwrap();
    let mut expected = Vec::new();
    for _ in 0..4 {
        let row = ctx.last_logits().unwrap();
        let id = (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b }) as u32;
        if model.tokenizer().is_eog(id) {
            break;
        }
        expected.extend(model.tokenizer().token_to_piece(id, false).unwrap());
        ctx.decode(&[id], None, None).unwrap();
    }
    expected.push(b'\n');
    assert!(o.stdout.starts_with(&expected));
}

#[test]
fn logits_writes_the_fixture_formats() {
    let dir = std::env::temp_dir().join(format!("bitnet-logits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = dir.join("out").display().to_string();
    let o = bitnet(
        &[
            "logits",
            "--model",
            &path("models/i2s-b158.gguf"),
            "--prompt-ids",
            "4096,1687,690,3449,520,279,357,367,520,308,483,13",
            "--steps",
            "3",
            "--out",
            &prefix,
        ],
        b"",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let prompt = std::fs::read(format!("{prefix}.prompt-logits.f32")).unwrap();
    let decode = std::fs::read(format!("{prefix}.decode-logits.f32")).unwrap();
    let reference = std::fs::read(path("models/i2s-b158.prompt-logits.f32")).unwrap();
    assert_eq!(prompt.len(), 12 * 4352 * 4);
    assert_eq!(decode.len(), 3 * 4352 * 4);
    let worst = prompt
        .chunks_exact(4)
        .zip(reference.chunks_exact(4))
        .map(|(a, b)| {
            (f32::from_le_bytes(a.try_into().unwrap()) - f32::from_le_bytes(b.try_into().unwrap()))
                .abs()
        })
        .fold(0.0f32, f32::max);
    assert!(worst <= 0.02, "{worst}");
    let json = std::fs::read_to_string(format!("{prefix}.greedy.json")).unwrap();
    assert_eq!(
        json.trim(),
        "{\"prompt\": {\"ids\": [4096, 1687, 690, 3449, 520, 279, 357, 367, 520, 308, 483, 13]}, \"greedy\": {\"generated_ids\": [3906, 3906, 3906, 4208]}}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn generation_errors_are_one_line() {
    for (args, needle) in [
        (vec!["run"], "a prompt is required"),
        (
            vec!["run", "-p", "x", "--model", "/nonexistent.gguf"],
            "/nonexistent.gguf",
        ),
        (vec!["run", "-p", "x", "--temp", "hot"], "--temp"),
        (
            vec!["run", "-p", "x", "--lm-head", "int4"],
            "--lm-head: expected exact or int8, got 'int4'",
        ),
        (
            vec!["chat", "--template", "chatml"],
            "unknown template 'chatml'",
        ),
        (
            vec![
                "logits",
                "--prompt-ids",
                "1,x",
                "--steps",
                "1",
                "--out",
                "/tmp/x",
            ],
            "'x' is not a token id",
        ),
        (
            vec![
                "logits",
                "--prompt-ids",
                "99999",
                "--steps",
                "1",
                "--out",
                "/tmp/x",
            ],
            "outside the vocabulary",
        ),
    ] {
        let o = bitnet(&args, b"");
        let err = String::from_utf8_lossy(&o.stderr);
        let last = err.lines().last().unwrap_or("");
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            last.starts_with("error: ") && last.contains(needle),
            "{args:?}: {err}"
        );
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error")).count(),
            1,
            "{args:?}: {err}"
        );
    }
}

#[test]
fn logits_with_the_int8_head_are_close_to_the_exact_ones() {
    let dir = std::env::temp_dir().join(format!("bitnet-logits8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let logits = |head: &str| {
        let prefix = dir.join(head).display().to_string();
        let o = bitnet(
            &[
                "logits",
                "--model",
                &path("models/i2s-b158.gguf"),
                "--prompt-ids",
                "4096,1687,690,3449",
                "--steps",
                "2",
                "--lm-head",
                head,
                "--out",
                &prefix,
            ],
            b"",
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(format!("{prefix}.decode-logits.f32")).unwrap()
    };
    let (exact, int8) = (logits("exact"), logits("int8"));
    assert_eq!(exact.len(), int8.len());
    assert_ne!(exact, int8, "the int8 head was not used");
    let worst = exact
        .chunks_exact(4)
        .zip(int8.chunks_exact(4))
        .map(|(a, b)| {
            (f32::from_le_bytes(a.try_into().unwrap()) - f32::from_le_bytes(b.try_into().unwrap()))
                .abs()
        })
        .fold(0.0f32, f32::max);
    assert!(worst <= 0.1, "{worst}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bench_reports_json() {
    let bench = |head: &str| {
        let o = bitnet(
            &[
                "bench",
                "--model",
                &path("models/i2s-b158.gguf"),
                "--prompt",
                "8",
                "--gen",
                "4",
                "--reps",
                "1",
                "--lm-head",
                head,
                "--json",
            ],
            b"",
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    assert!(bench("int8").contains("\"lm_head\": \"int8\""));
    let out = bench("exact");
    assert!(out.contains("\"lm_head\": \"exact\""), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    for key in [
        "\"pp_tok_s\": ",
        "\"tg_tok_s\": ",
        "\"load_s\": ",
        "\"peak_rss_bytes\": ",
    ] {
        let at = out
            .find(key)
            .unwrap_or_else(|| panic!("{key} missing: {out}"))
            + key.len();
        let value: f64 = out[at..]
            .split([',', '}'])
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(value > 0.0, "{key}{value}");
    }
}
