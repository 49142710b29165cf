//! Every kernel table this CPU supports against the scalar table: exact integers, and float
//! results equal bit for bit (the float kernels must keep the scalar accumulation order).

use bitnet::kernels::{self, BlockQ8K, BlockQ8_0, Kernels, SCALAR};
use bitnet::quant::f16;

/// splitmix64: small, deterministic test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.next() as i8).collect()
    }
    /// Uniform in [-1, 1) times 2^e with e in -8..8: values whose sums round by order.
    fn f32(&mut self) -> f32 {
        let u = (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
        u * 2f32.powi((self.next() % 16) as i32 - 8)
    }
    fn f32s(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
}

/// The SIMD tables (the scalar one is the reference).
fn simd_tables() -> Vec<&'static Kernels> {
    let tables: Vec<_> = kernels::available().into_iter().skip(1).collect();
    eprintln!(
        "tables under test: {:?}",
        tables.iter().map(|t| t.name).collect::<Vec<_>>()
    );
    tables
}

/// I2_S weight bytes with every code (0..=3) or only the valid ones (0..=2).
fn i2s_weights(rng: &mut Rng, n: usize, with_code3: bool) -> Vec<u8> {
    if with_code3 {
        return rng.bytes(n);
    }
    (0..n)
        .map(|_| (0..4).fold(0u8, |b, _| (b << 2) | (rng.next() % 3) as u8))
        .collect()
}

/// Activation rows: random, the extremes everywhere (where the reference's int16 sums
/// wrap), and alternating extremes.
fn activation_rows(rng: &mut Rng, k: usize) -> Vec<Vec<i8>> {
    vec![
        rng.i8s(k),
        vec![-128; k],
        vec![127; k],
        (0..k)
            .map(|i| if i % 2 == 0 { -128 } else { 127 })
            .collect(),
    ]
}

#[test]
fn i2s_dots_equal_scalar() {
    let mut rng = Rng(1);
    for t in simd_tables() {
        for k in [128, 256, 384, 2560, 6912] {
            for with_code3 in [false, true] {
                let total = 80;
                let w = i2s_weights(&mut rng, total * k / 4, with_code3);
                for q in activation_rows(&mut rng, k) {
                    for (row0, m) in [(0, 1), (1, 3), (7, 5), (0, 67), (13, 67), (3, 4), (9, 8)] {
                        let mut want = vec![0; m];
                        let mut got = vec![1; m];
                        (SCALAR.i2s_dots)(&w, k, row0, &q, &mut want);
                        (t.i2s_dots)(&w, k, row0, &q, &mut got);
                        assert_eq!(got, want, "{} k={k} row0={row0} m={m}", t.name);
                    }
                }
            }
        }
    }
}

#[test]
fn i2s_every_byte_at_every_position() {
    // Row r, byte j holds (r + 7j) mod 256: each value at each position of a block.
    let k = 128;
    let w: Vec<u8> = (0..256)
        .flat_map(|r| (0..32).map(move |j| (r + 7 * j) as u8))
        .collect();
    let mut rng = Rng(2);
    for t in simd_tables() {
        for q in activation_rows(&mut rng, k) {
            let mut want = vec![0; 256];
            let mut got = vec![0; 256];
            (SCALAR.i2s_dots)(&w, k, 0, &q, &mut want);
            (t.i2s_dots)(&w, k, 0, &q, &mut got);
            assert_eq!(got, want, "{}", t.name);
        }
    }
}

#[test]
fn i2s_gemm_equals_per_row_dots() {
    let mut rng = Rng(3);
    let tables: Vec<_> = kernels::available();
    for k in [128, 384, 2560] {
        let total = 72;
        let w = i2s_weights(&mut rng, total * k / 4, true);
        let mut acts = activation_rows(&mut rng, k);
        while acts.len() < 19 {
            acts.push(rng.i8s(k));
        }
        for n in (1..=8).chain([11, 19]) {
            let qs: Vec<&[i8]> = acts[..n].iter().map(Vec::as_slice).collect();
            for (row0, m) in [(0, 1), (5, 3), (2, 67)] {
                let mut want = vec![0; n * m];
                for (q, out) in qs.iter().zip(want.chunks_exact_mut(m)) {
                    (SCALAR.i2s_dots)(&w, k, row0, q, out);
                }
                for t in &tables {
                    let mut got = vec![-1; n * m];
                    (t.i2s_gemm)(&w, k, row0, &qs, &mut got);
                    assert_eq!(got, want, "{} k={k} n={n} row0={row0} m={m}", t.name);
                }
            }
        }
    }
    for t in &tables {
        (t.i2s_gemm)(&[], 128, 0, &[], &mut []);
    }
}

/// `sum w * q` in i64, independent of every table.
fn i8_dot_i64(w: &[i8], q: &[i8]) -> i64 {
    w.iter()
        .zip(q)
        .map(|(&a, &b)| i64::from(a) * i64::from(b))
        .sum()
}

#[test]
fn i8_row_dots_equal_scalar() {
    let mut rng = Rng(7);
    let tables = kernels::available();
    // Row lengths around the 32- and 64-column steps (tails of every size class), the head
    // widths of the fixtures (256) and of 2B-4T (2560), and the documented bound's region.
    for k in [
        0, 1, 15, 31, 32, 33, 63, 64, 65, 127, 200, 256, 2560, 2561, 4100, 16384,
    ] {
        let total = 72;
        let w: Vec<i8> = rng.i8s(total * k);
        let mut acts = activation_rows(&mut rng, k);
        acts.push(vec![-127; k]);
        acts.push(
            (0..k)
                .map(|i| if i % 3 == 0 { 127 } else { -127 })
                .collect(),
        );
        for q in &acts {
            for (row0, m) in [
                (0, 1),
                (1, 3),
                (7, 5),
                (0, 67),
                (5, 67),
                (3, 4),
                (9, 8),
                (71, 1),
            ] {
                let mut want = vec![0; m];
                (SCALAR.i8_row_dots)(&w, k, row0, q, &mut want);
                for (r, &d) in want.iter().enumerate() {
                    let row = &w[(row0 + r) * k..(row0 + r + 1) * k];
                    assert_eq!(i64::from(d), i8_dot_i64(row, q), "scalar k={k} row {r}");
                }
                for t in &tables {
                    let mut got = vec![1; m];
                    (t.i8_row_dots)(&w, k, row0, q, &mut got);
                    assert_eq!(got, want, "{} k={k} row0={row0} m={m}", t.name);
                }
            }
        }
    }
}

#[test]
fn i8_row_dots_at_the_extremes() {
    // Constant rows of -128, -127, 127 and mixed signs against the same activations: the
    // largest magnitudes any lane or sum can reach, up to the longest supported row.
    let tables = kernels::available();
    for k in [64, 100, 2560, 16384, kernels::I8_ROW_MAX] {
        let fills: [i8; 3] = [-128, -127, 127];
        let mut w = Vec::with_capacity(5 * k);
        for v in fills {
            w.extend(std::iter::repeat_n(v, k));
        }
        w.extend((0..k).map(|i| if i % 2 == 0 { -128 } else { 127 }));
        w.extend((0..k).map(|i| if i % 2 == 0 { 127 } else { -128 }));
        for qv in [-128i8, -127, 127] {
            let q = vec![qv; k];
            let want: Vec<i32> = w
                .chunks_exact(k)
                .map(|row| i32::try_from(i8_dot_i64(row, &q)).unwrap())
                .collect();
            for t in &tables {
                let mut got = vec![0; 5];
                (t.i8_row_dots)(&w, k, 0, &q, &mut got);
                assert_eq!(got, want, "{} k={k} q={qv}", t.name);
            }
        }
    }
}

const FLOAT_LENGTHS: [usize; 12] = [0, 1, 15, 16, 17, 63, 64, 65, 200, 256, 2560, 2576];

fn assert_bits(got: f32, want: f32, what: &str) {
    assert_eq!(got.to_bits(), want.to_bits(), "{what}: {got} vs {want}");
}

#[test]
fn float_dots_equal_scalar_bit_for_bit() {
    let mut rng = Rng(4);
    for t in simd_tables() {
        for n in FLOAT_LENGTHS {
            for _ in 0..8 {
                let (x, y) = (rng.f32s(n), rng.f32s(n));
                let x16: Vec<u16> = x.iter().map(|&v| f16::from_f32(v)).collect();
                let y16: Vec<u16> = y.iter().map(|&v| f16::from_f32(v)).collect();
                let what = |f: &str| format!("{} {f} n={n}", t.name);
                let (s, v) = (&SCALAR, t);
                assert_bits(
                    (v.dot_f16_ggml)(&x16, &y16),
                    (s.dot_f16_ggml)(&x16, &y16),
                    &what("dot_f16_ggml"),
                );
                assert_bits(
                    (v.dot_f32_ggml)(&x, &y),
                    (s.dot_f32_ggml)(&x, &y),
                    &what("dot_f32_ggml"),
                );
                if n % 16 != 0 {
                    continue; // the tiled order is defined for whole 16s only
                }
                assert_bits(
                    (v.dot_f16_f32_tiled)(&x16, &y),
                    (s.dot_f16_f32_tiled)(&x16, &y),
                    &what("dot_f16_f32_tiled"),
                );
                assert_bits(
                    (v.dot_f16_f16_tiled)(&x16, &y16),
                    (s.dot_f16_f16_tiled)(&x16, &y16),
                    &what("dot_f16_f16_tiled"),
                );
                assert_bits(
                    (v.dot_f32_tiled)(&x, &y),
                    (s.dot_f32_tiled)(&x, &y),
                    &what("dot_f32_tiled"),
                );
            }
        }
    }
}

/// A random f16 block scale, either sign.
fn scale_bits(rng: &mut Rng) -> [u8; 2] {
    f16::from_f32(rng.f32() * 0.05).to_le_bytes()
}

fn q8k_rows(rng: &mut Rng, k: usize) -> Vec<Vec<BlockQ8K>> {
    let block = |rng: &mut Rng, q: &dyn Fn(&mut Rng, usize) -> i8| BlockQ8K {
        d: rng.f32(),
        qs: std::array::from_fn(|i| q(rng, i)),
    };
    let nb = k / 256;
    vec![
        (0..nb)
            .map(|_| block(rng, &|r, _| r.next() as i8))
            .collect(),
        (0..nb).map(|_| block(rng, &|_, _| -128)).collect(),
        (0..nb).map(|_| block(rng, &|_, _| 127)).collect(),
    ]
}

/// TQ2_0 / TQ1_0 rows: random code bytes (every value, so code 3 and bytes past 242 too)
/// and random scales.
fn ternary_rows(rng: &mut Rng, rows: usize, k: usize, block_bytes: usize) -> Vec<u8> {
    let mut w = rng.bytes(rows * k / 256 * block_bytes);
    for block in w.chunks_exact_mut(block_bytes) {
        let d = scale_bits(rng);
        block[block_bytes - 2..].copy_from_slice(&d);
    }
    w
}

#[test]
fn ternary_dots_equal_scalar_bit_for_bit() {
    let mut rng = Rng(5);
    for t in simd_tables() {
        for (name, bytes) in [("tq2_0", 66), ("tq1_0", 54)] {
            let (s, v) = if name == "tq2_0" {
                (SCALAR.tq2_0_dots, t.tq2_0_dots)
            } else {
                (SCALAR.tq1_0_dots, t.tq1_0_dots)
            };
            for k in [256, 512, 2560] {
                let w = ternary_rows(&mut rng, 72, k, bytes);
                for a in q8k_rows(&mut rng, k) {
                    for (row0, m) in [(0, 1), (3, 5), (5, 67)] {
                        let mut want = vec![0.0; m];
                        let mut got = vec![0.0; m];
                        s(&w, k, row0, &a, &mut want);
                        v(&w, k, row0, &a, &mut got);
                        for (g, w) in got.iter().zip(&want) {
                            assert_bits(*g, *w, &format!("{} {name} k={k} m={m}", t.name));
                        }
                    }
                }
            }
            // Row r, code byte j holds (r + 7j) mod 256: each value at each position.
            let mut w: Vec<u8> = (0..256)
                .flat_map(|r| (0..bytes).map(move |j| (r + 7 * j) as u8))
                .collect();
            for block in w.chunks_exact_mut(bytes) {
                block[bytes - 2..].copy_from_slice(&f16::from_f32(0.25).to_le_bytes());
            }
            for a in q8k_rows(&mut rng, 256) {
                let mut want = vec![0.0; 256];
                let mut got = vec![0.0; 256];
                s(&w, 256, 0, &a, &mut want);
                v(&w, 256, 0, &a, &mut got);
                for (g, w) in got.iter().zip(&want) {
                    assert_bits(*g, *w, &format!("{} {name} every byte", t.name));
                }
            }
        }
    }
}

#[test]
fn q8_0_dots_equal_scalar_bit_for_bit() {
    let mut rng = Rng(6);
    for t in simd_tables() {
        for k in [32, 64, 2560] {
            let nb = k / 32;
            let mut w = rng.bytes(72 * nb * 34);
            for block in w.chunks_exact_mut(34) {
                let d = scale_bits(&mut rng);
                block[..2].copy_from_slice(&d);
            }
            let extremes = [-128i8, 127];
            for fill in [None, Some(0), Some(1)] {
                let a: Vec<BlockQ8_0> = (0..nb)
                    .map(|_| BlockQ8_0 {
                        d: u16::from_le_bytes(scale_bits(&mut rng)),
                        qs: std::array::from_fn(|_| match fill {
                            Some(i) => extremes[i],
                            None => rng.next() as i8,
                        }),
                    })
                    .collect();
                for (row0, m) in [(0, 1), (3, 5), (5, 67)] {
                    let mut want = vec![0.0; m];
                    let mut got = vec![0.0; m];
                    (SCALAR.q8_0_dots)(&w, k, row0, &a, &mut want);
                    (t.q8_0_dots)(&w, k, row0, &a, &mut got);
                    for (g, w) in got.iter().zip(&want) {
                        assert_bits(*g, *w, &format!("{} q8_0 k={k} m={m}", t.name));
                    }
                }
            }
        }
    }
}

#[test]
fn the_chosen_table_is_available() {
    let names: Vec<_> = kernels::available().iter().map(|t| t.name).collect();
    assert_eq!(names[0], "scalar");
    assert!(names.contains(&kernels::get().name));
}

#[test]
fn bitnet_kernels_forces_a_table_or_warns() {
    // Greedy text from the shipped model is the same under every table; an unknown name
    // warns and falls back.
    let run = |kernels: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bitnet"))
            .args([
                "run",
                "-p",
                "The capital of France is",
                "-n",
                "8",
                "--temp",
                "0",
            ])
            .env("BITNET_KERNELS", kernels)
            .output()
            .unwrap();
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.stdout, stderr)
    };
    let (text, stderr) = run("scalar");
    assert!(!stderr.contains("BITNET_KERNELS"), "{stderr}");
    for t in kernels::available() {
        assert_eq!(run(t.name).0, text, "{}", t.name);
    }
    let (bogus, stderr) = run("bogus");
    assert_eq!(bogus, text);
    assert!(
        stderr.contains("BITNET_KERNELS=bogus: not available"),
        "{stderr}"
    );
}
