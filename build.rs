//! Build script: gives the shared library a versioned SONAME so that installed copies
//! (`libbitnet.so.0`) can be upgraded in place and linkers record the major version, and
//! tells the C API tests (tests/c_api.rs) which target to compile C for.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libbitnet.so.{major}");
    }
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=BITNET_BUILD_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
