//! The writer reproduces reference files byte for byte: `i2s-b25.gguf` (written by
//! bitnet.cpp's tool chain) rebuilt from the fixtures the repository ships hashes to the
//! sha256 the fixture pack publishes, and `f32-bitnet.gguf` (written by gguf-py) to that
//! file's hash with its negative zeros made positive (see tests/common/mod.rs).

mod common;

#[test]
fn i2s_b25_is_rebuilt_exactly() {
    assert_eq!(
        common::sha256_hex(&common::i2s_b25_bytes()),
        common::I2S_B25_SHA256
    );
}

#[test]
fn f32_bitnet_is_rebuilt_exactly() {
    assert_eq!(
        common::sha256_hex(&common::f32_bitnet_bytes()),
        common::F32_BITNET_POSITIVE_ZERO_SHA256
    );
}

#[test]
fn rebuilt_files_read_back() {
    let path = common::rebuild("i2s-b25");
    let f = bitnet::gguf::GgufFile::open(&path).unwrap();
    assert_eq!(f.architecture(), Some("bitnet-25"));
    assert_eq!(f.dialect(), bitnet::gguf::Dialect::BitnetFork);
    assert_eq!(f.get_uint("bitnet-25.block_count").unwrap(), Some(4));
    std::fs::remove_file(path).unwrap();
}
