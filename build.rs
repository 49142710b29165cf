//! Build script: gives the shared library a versioned SONAME so that installed copies
//! (`libbitnet.so.0`) can be upgraded in place and linkers record the major version, and
//! tells the C API tests (tests/c_api.rs) which target to compile C for, and enables the
//! AVX-512 kernels (`cfg(bitnet_avx512)`) on compilers that have stable AVX-512 intrinsics.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libbitnet.so.{major}");
    }
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=BITNET_BUILD_TARGET={target}");
    println!("cargo:rustc-check-cfg=cfg(bitnet_avx512)");
    // AVX-512 intrinsics and target features are stable from Rust 1.89; the crate's
    // rust-version is older, so earlier compilers build without the AVX-512 table.
    if rustc_minor().is_some_and(|minor| minor >= 89) {
        println!("cargo:rustc-cfg=bitnet_avx512");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// The minor version of the compiler cargo builds with (`rustc 1.MINOR.PATCH ...`).
fn rustc_minor() -> Option<u32> {
    let rustc = std::env::var_os("RUSTC")?;
    let out = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut version = text.split_whitespace().nth(1)?.split('.');
    if version.next()? != "1" {
        return None;
    }
    version.next()?.parse().ok()
}
