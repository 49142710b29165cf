//! The `bitnet` command line: output formats, the shipped-model default, and errors
//! (one `error: ...` line on standard error, exit code 1; never a panic).

mod common;

use std::process::{Command, Output};

fn bitnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bitnet"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Exit code 1 and exactly one line on stderr, starting with `error: `.
fn assert_error(o: &Output, contains: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "stderr: {err}");
    assert!(err.starts_with("error: "), "stderr: {err}");
    assert!(err.contains(contains), "stderr: {err}");
}

fn path(rel: &str) -> String {
    common::fixture_path(rel).display().to_string()
}

#[test]
fn inspect_prints_metadata_and_the_tensor_table() {
    let o = bitnet(&["inspect", &path("models/tq2_0-bitnet.gguf")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("GGUF v3, alignment 32"));
    assert!(out.contains("24 key-value pairs:"));
    assert!(out
        .lines()
        .any(|l| l.contains("general.architecture") && l.contains("\"bitnet\"")));
    assert!(out
        .lines()
        .any(|l| l.contains("tokenizer.ggml.merges") && l.contains("[string; 6397]")));
    assert!(out.contains("46 tensors"));
    let q = out
        .lines()
        .find(|l| l.contains("blk.0.attn_q.weight"))
        .unwrap();
    let fields: Vec<&str> = q.split_whitespace().collect();
    // #, name, type, shape "256 x 256", bytes, absolute offset
    assert_eq!(fields[2], "TQ2_0");
    assert_eq!(&fields[3..6], ["256", "x", "256"]);
    assert_eq!(fields[6], (256 * 256 / 256 * 66).to_string());
    let f = common::fixture("models/tq2_0-bitnet.gguf");
    let t = f.tensor("blk.0.attn_q.weight").unwrap().info;
    assert_eq!(fields[7], (f.data_offset() + t.offset).to_string());
}

#[test]
fn without_a_model_the_shipped_one_is_used_and_announced() {
    let o = bitnet(&["inspect"]);
    assert!(o.status.success());
    assert!(stderr(&o).contains("using the small model shipped in the repository"));
    assert!(stdout(&o).contains("bitnet-b1.58"));
    let o = bitnet(&[
        "tokenize",
        "--add-special",
        "We will meet at the station at nine.",
    ]);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o),
        "[4096, 1687, 690, 3449, 520, 279, 357, 367, 520, 308, 483, 13]\n"
    );
}

#[test]
fn tokenize_options() {
    let vocab = path("tokenizer/ggml-vocab-llama-bpe.gguf");
    let run = |extra: &[&str]| {
        let mut args = vec!["tokenize", "--model", &vocab];
        args.extend_from_slice(extra);
        let o = bitnet(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o).trim().to_string()
    };
    // llama.cpp's vectors (ggml-vocab-llama-bpe.gguf.out, case 29) and the default split
    // (llama-bpe.default-pre.out, case 29).
    assert_eq!(run(&[" ("]), "[320]");
    assert_eq!(run(&["--pre", "llama-bpe", " ("]), "[320]");
    assert_eq!(run(&["--pre", "default", " ("]), "[220, 7]");
    // Without --parse-special the text is split as ordinary text.
    let plain = run(&["<|eot_id|>"]);
    assert!(!plain.contains("128009") && plain.contains(','), "{plain}");
    assert_eq!(run(&["--parse-special", "<|eot_id|>"]), "[128009]");
    assert_eq!(
        run(&["--add-special", "--parse-special", "<|eot_id|>"]),
        "[128000, 128009]"
    );
    assert_eq!(run(&[""]), "[]");
    // --file, including standard input.
    let file = std::env::temp_dir().join(format!("bitnet-cli-{}.txt", std::process::id()));
    std::fs::write(&file, "Hello world").unwrap();
    assert_eq!(run(&["--file", file.to_str().unwrap()]), "[9906, 1917]");
    std::fs::remove_file(&file).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bitnet"))
        .args(["tokenize", "--model", &vocab, "--file", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Hello world")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(stdout(&o).trim(), "[9906, 1917]");
}

#[test]
fn synth_then_inspect() {
    let out = std::env::temp_dir().join(format!("bitnet-cli-synth-{}.gguf", std::process::id()));
    let o = bitnet(&[
        "synth",
        "--shape",
        "tiny",
        "--arch",
        "bitnet",
        "--type",
        "tq1_0",
        "--layers",
        "2",
        "--vocab",
        &path("models/tq2_0-bitnet.gguf"),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("24 tensors"), "{}", stderr(&o));
    let i = bitnet(&["inspect", out.to_str().unwrap()]);
    assert!(stdout(&i).contains("24 tensors"));
    assert!(stdout(&i).contains("TQ1_0"));
    std::fs::remove_file(&out).unwrap();
}

#[test]
fn errors_are_one_line_and_exit_1() {
    assert_error(&bitnet(&[]), "no command");
    assert_error(&bitnet(&["frobnicate"]), "unknown command");
    assert_error(
        &bitnet(&["inspect", "/nonexistent/model.gguf"]),
        "/nonexistent/model.gguf",
    );
    assert_error(&bitnet(&["inspect", "--bogus"]), "unknown option --bogus");
    assert_error(&bitnet(&["tokenize"]), "no text given");
    assert_error(
        &bitnet(&["tokenize", "--pre", "bogus", "x"]),
        "unknown pre-tokenizer",
    );
    assert_error(&bitnet(&["tokenize", "--model"]), "--model needs a value");
    assert_error(&bitnet(&["synth", "--out", "/tmp/x.gguf"]), "--vocab");
    assert_error(
        &bitnet(&[
            "synth",
            "--vocab",
            &path("models/i2s-b158.gguf"),
            "--out",
            "/tmp/x.gguf",
            "--shape",
            "huge",
        ]),
        "unknown shape",
    );
    // A malformed file: the fixture cut in the middle of its tensor infos.
    let bytes = std::fs::read(common::fixture_path("models/i2s-b158.gguf")).unwrap();
    let cut = std::env::temp_dir().join(format!("bitnet-cli-cut-{}.gguf", std::process::id()));
    std::fs::write(&cut, &bytes[..199_000]).unwrap();
    assert_error(&bitnet(&["inspect", cut.to_str().unwrap()]), "truncated");
    assert_error(
        &bitnet(&["tokenize", "--model", cut.to_str().unwrap(), "x"]),
        "truncated",
    );
    std::fs::remove_file(&cut).unwrap();
    // A model file that is not a GGUF file at all.
    assert_error(
        &bitnet(&["inspect", &path("tokenizer/ggml-vocab-llama-bpe.gguf.inp")]),
        "not a GGUF file",
    );
}

#[test]
fn help_and_version() {
    let o = bitnet(&["help"]);
    assert!(o.status.success());
    for c in ["inspect", "tokenize", "synth"] {
        assert!(stdout(&o).contains(c));
        let h = bitnet(&[c, "--help"]);
        assert!(h.status.success());
        assert!(stdout(&h).starts_with(&format!("bitnet {c}")));
    }
    assert!(stdout(&bitnet(&["--version"])).starts_with("bitnet "));
}
