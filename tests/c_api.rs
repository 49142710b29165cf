//! The C API from C. Each program in ffi-tests/ is compiled with the system C compiler
//! (found by the `cc` crate, honouring `CC` and `CFLAGS`) against include/bitnet.h, linked
//! with the static library (`libbitnet.a`) that cargo builds next to this test, and run;
//! it must exit 0 and print its `ok ...` lines.
//!
//! Static linking keeps the programs runnable from the target directory: the shared
//! library's SONAME (`libbitnet.so.0`) exists only once installed.

#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// What a Rust static library needs from the system on Linux (as `rustc --print
/// native-static-libs` lists them for std).
const SYSTEM_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The static library cargo built for this test run. Tests run from `target/<profile>/deps/`,
/// and cargo writes every crate type of the library (rlib, cdylib, staticlib) there when it
/// builds the library for them; `target/<profile>/libbitnet.a` is only refreshed by `cargo
/// build`, so it can be stale and is not used.
fn staticlib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let lib = exe.parent().unwrap().join("libbitnet.a");
    assert!(
        lib.exists(),
        "{} is missing: cargo should build it with the test (crate-type staticlib)",
        lib.display()
    );
    lib
}

fn build_config(out_dir: &Path, cpp: bool) -> cc::Build {
    let target = env!("BITNET_BUILD_TARGET");
    let mut build = cc::Build::new();
    build
        .cargo_metadata(false)
        // compiler messages reach the test output as `cargo:warning=` lines
        .cargo_warnings(true)
        .target(target)
        .host(target)
        .opt_level(1)
        .debug(true)
        .out_dir(out_dir)
        .cpp(cpp)
        .std(if cpp { "c++11" } else { "c99" })
        .include(root().join("include"))
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .flag_if_supported("-pedantic");
    build
}

/// Compiles and links `ffi-tests/<source>`, returning the executable.
fn build(source: &str) -> PathBuf {
    build_file(&root().join("ffi-tests").join(source))
}

/// Compiles and links the C or C++ (`.cpp`) file `source` into `target/tmp/ffi-tests/`.
fn build_file(source: &Path) -> PathBuf {
    let cpp = source.extension().is_some_and(|e| e == "cpp");
    let stem = source.file_stem().unwrap().to_str().unwrap();
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("ffi-tests")
        .join(stem);
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut build = build_config(&out_dir, cpp);
    build.file(source);
    let objects = build
        .try_compile_intermediates()
        .unwrap_or_else(|e| panic!("compiling {}: {e}", source.display()));
    let exe = out_dir.join(stem);
    let mut link = build.get_compiler().to_command();
    link.args(&objects)
        .arg(staticlib())
        .args(SYSTEM_LIBS)
        .arg("-o")
        .arg(&exe);
    let output = link.output().expect("running the C compiler to link");
    assert!(
        output.status.success(),
        "linking {}: {link:?}\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    exe
}

/// Runs `exe` with `args`; it must succeed. Returns its standard output.
fn run(exe: &Path, args: &[&Path]) -> String {
    let output = Command::new(exe).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} {args:?} failed ({}):\n--- stdout\n{stdout}--- stderr\n{stderr}",
        exe.display(),
        output.status
    );
    stdout
}

fn assert_lines(stdout: &str, expected: &[&str]) {
    for line in expected {
        assert!(
            stdout.lines().any(|l| l == *line),
            "missing {line:?} in:\n{stdout}"
        );
    }
}

#[test]
fn greedy_generation_matches_the_references() {
    let exe = build("greedy.c");
    for name in ["i2s-b158", "tq2_0-bitnet"] {
        let model = common::fixture_path(&format!("models/{name}.gguf"));
        let stdout = run(&exe, &[&model, Path::new(name)]);
        assert_lines(
            &stdout,
            &[
                "ok tokenize",
                "ok round trip",
                "ok greedy 33 ids",
                "ok chat",
            ],
        );
    }
}

#[test]
fn every_error_path_reports_and_recovers() {
    let exe = build("errors.c");
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ffi-tests/errors-scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let model = common::fixture_path("models/i2s-b158.gguf");
    let stdout = run(&exe, &[&model, &scratch]);
    assert_lines(
        &stdout,
        &[
            "ok loading",
            "ok logging",
            "ok model getters",
            "ok tokens",
            "ok context arguments",
            "ok decoding",
            "ok context full",
            "ok samplers",
            "ok chat errors",
            "ok frees",
        ],
    );
}

#[test]
fn the_header_compiles_as_cpp() {
    let exe = build("header.cpp");
    let stdout = run(&exe, &[]);
    assert!(stdout.starts_with("ok c++ "), "{stdout}");
}

/// The examples in docs/c-api.md and README.md (the first C block of each) compile, run
/// and print something.
#[test]
fn the_documented_examples_work() {
    for doc_path in ["docs/c-api.md", "README.md"] {
        let doc = std::fs::read_to_string(root().join(doc_path)).unwrap();
        let start = doc.find("```c\n").expect("a ```c block") + 5;
        let len = doc[start..].find("```").unwrap();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ffi-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let name = doc_path.replace(['/', '.'], "_");
        let source = dir.join(format!("{name}_example.c"));
        std::fs::write(&source, &doc[start..start + len]).unwrap();
        let exe = build_file(&source);
        let model = common::fixture_path("models/i2s-b158.gguf");
        let stdout = run(&exe, &[&model]);
        assert!(stdout.trim_end().len() > 1, "{doc_path}: {stdout:?}");
    }
}
