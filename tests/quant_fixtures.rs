//! The weight formats against the reference fixtures: files written by bitnet.cpp (I2_S) and
//! llama.cpp (TQ1_0, TQ2_0) from the same weights. Re-packing what we decode must give back
//! the reference tools' bytes, and the three files must hold the same ternary weights.

use bitnet::gguf::{GgmlType, GgufFile, Tensor};
use bitnet::quant;

mod common;

fn fixture(name: &str) -> GgufFile {
    common::fixture(&format!("models/{name}.gguf"))
}

fn n_elements(t: &Tensor<'_>) -> usize {
    t.info.n_elements() as usize
}

/// Every tensor of `ty` in `file`, dequantized then packed again, equals the file's bytes
/// (`ignore` = byte range of each tensor not compared). Returns how many were checked.
fn repack_matches(
    file: &GgufFile,
    ty: GgmlType,
    ignore: impl Fn(usize) -> (usize, usize),
) -> usize {
    let mut checked = 0;
    for t in file.tensors().filter(|t| t.info.ggml_type == ty) {
        let n = n_elements(&t);
        let values = quant::dequantize(ty, t.data, n).unwrap();
        let bytes = quant::pack(ty, &values, &t.info.shape).unwrap();
        assert_eq!(bytes.len(), t.data.len(), "{}", t.info.name);
        let (lo, hi) = ignore(n);
        assert!(
            bytes[..lo] == t.data[..lo] && bytes[hi..] == t.data[hi..],
            "{}: re-packed bytes differ",
            t.info.name
        );
        checked += 1;
    }
    checked
}

#[test]
fn i2s_tensors_repack_byte_for_byte() {
    let file = fixture("i2s-b158");
    // Tail bytes 4..32 after the scale are unspecified (the packer never writes them).
    let checked = repack_matches(&file, GgmlType::I2_S, |n| (n / 4 + 4, n / 4 + 32));
    assert_eq!(checked, 28);
    for t in file
        .tensors()
        .filter(|t| t.info.ggml_type == GgmlType::I2_S)
    {
        let n = n_elements(&t);
        assert_eq!(
            quant::i2s::count_invalid_codes(t.data, n).unwrap(),
            0,
            "{}",
            t.info.name
        );
    }
}

#[test]
fn tq2_0_tensors_repack_byte_for_byte() {
    let file = fixture("tq2_0-bitnet");
    assert_eq!(repack_matches(&file, GgmlType::TQ2_0, |_| (0, 0)), 28);
    for t in file
        .tensors()
        .filter(|t| t.info.ggml_type == GgmlType::TQ2_0)
    {
        let n = n_elements(&t);
        assert_eq!(
            quant::tq2_0::count_invalid_codes(t.data, n).unwrap(),
            0,
            "{}",
            t.info.name
        );
    }
}

#[test]
fn tq1_0_tensors_repack_byte_for_byte() {
    let file = fixture("tq1_0-bitnet");
    assert_eq!(repack_matches(&file, GgmlType::TQ1_0, |_| (0, 0)), 28);
}

#[test]
fn f16_and_f32_tensors_repack_byte_for_byte() {
    for name in ["i2s-b158", "tq2_0-bitnet", "tq1_0-bitnet"] {
        let file = fixture(name);
        assert_eq!(
            repack_matches(&file, GgmlType::F16, |_| (0, 0)),
            1,
            "{name}"
        );
        assert_eq!(
            repack_matches(&file, GgmlType::F32, |_| (0, 0)),
            17,
            "{name}"
        );
        let embd = file.tensor("token_embd.weight").unwrap();
        assert_eq!(embd.info.ggml_type, GgmlType::F16);
    }
}

/// -1, 0 or +1 for each weight.
fn signs(values: &[f32]) -> Vec<i8> {
    values
        .iter()
        .map(|&v| {
            if v > 0.0 {
                1
            } else if v < 0.0 {
                -1
            } else {
                0
            }
        })
        .collect()
}

#[test]
fn the_three_files_hold_the_same_ternary_weights() {
    let i2s = fixture("i2s-b158");
    let tq2 = fixture("tq2_0-bitnet");
    let tq1 = fixture("tq1_0-bitnet");
    let mut linear = 0;
    for t in i2s.tensors().filter(|t| t.info.ggml_type == GgmlType::I2_S) {
        let name = &t.info.name;
        let n = n_elements(&t);
        let scale = quant::i2s::scale(t.data, n).unwrap();
        assert!(scale > 0.0, "{name}: scale {scale}");
        let want = signs(&quant::i2s::dequantize(t.data, n).unwrap());
        // Not a degenerate pattern: each of -1, 0, +1 is common.
        for s in [-1, 0, 1] {
            let count = want.iter().filter(|&&w| w == s).count();
            assert!(count > n / 5, "{name}: only {count} of {n} weights are {s}");
        }
        // TQ block scales are the per-block max |w|, i.e. the I2_S scale, rounded to f16.
        let d_want = quant::f16::to_f32(quant::f16::from_f32(scale));

        for (other, ty) in [(&tq2, GgmlType::TQ2_0), (&tq1, GgmlType::TQ1_0)] {
            let o = other
                .tensor(name)
                .unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(o.info.ggml_type, ty, "{name}");
            assert_eq!(o.info.shape, t.info.shape, "{name}");
            let got = quant::dequantize(ty, o.data, n).unwrap();
            assert!(
                signs(&got) == want,
                "{name}: {ty} sign pattern differs from I2_S"
            );
            let scales = match ty {
                GgmlType::TQ2_0 => quant::tq2_0::block_scales(o.data, n).unwrap(),
                _ => quant::tq1_0::block_scales(o.data, n).unwrap(),
            };
            for (b, &d) in scales.iter().enumerate() {
                let nonzero = want[256 * b..256 * (b + 1)].iter().any(|&s| s != 0);
                if nonzero {
                    assert_eq!(d, d_want, "{name} {ty} block {b}");
                }
            }
        }
        linear += 1;
    }
    assert_eq!(linear, 28);
}
