//! The library's version, for a host to compare what it compiled against
//! (`BITNET_VERSION_*`) with what it runs (`bitnet_version()`).

use std::ffi::c_char;

/// The major version of the header (a test keeps these equal to Cargo.toml's version).
/// While it is 0, any minor release may change the ABI.
pub const BITNET_VERSION_MAJOR: u32 = 0;
/// The minor version of the header.
pub const BITNET_VERSION_MINOR: u32 = 1;
/// The patch version of the header.
pub const BITNET_VERSION_PATCH: u32 = 0;

/// The version of the library actually loaded, `"MAJOR.MINOR.PATCH"`. Static.
///
/// Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn bitnet_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_constants_match_cargo_toml() {
        let parts = [
            (BITNET_VERSION_MAJOR, env!("CARGO_PKG_VERSION_MAJOR")),
            (BITNET_VERSION_MINOR, env!("CARGO_PKG_VERSION_MINOR")),
            (BITNET_VERSION_PATCH, env!("CARGO_PKG_VERSION_PATCH")),
        ];
        for (constant, cargo) in parts {
            assert_eq!(constant.to_string(), cargo, "update src/ffi/version.rs");
        }
        // SAFETY: bitnet_version returns a static C string.
        let text = unsafe { std::ffi::CStr::from_ptr(bitnet_version()) };
        assert_eq!(text.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
