//! Every kernel table this CPU supports against the scalar table: exact integers, and float
//! results equal bit for bit (the float kernels must keep the scalar accumulation order).

use bitnet::kernels::tiles::I8Tiles;
use bitnet::kernels::{self, ActI8, BlockQ8K, BlockQ8_0, Kernels, SCALAR};
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

#[test]
fn i2s_tiles_equal_per_row_dots() {
    let mut rng = Rng(4);
    let tiled: Vec<_> = kernels::available()
        .into_iter()
        .filter_map(|t| t.i2s_tiles.map(|tiles| (t.name, tiles)))
        .collect();
    eprintln!(
        "tile tables under test: {:?}",
        tiled.iter().map(|t| t.0).collect::<Vec<_>>()
    );
    for k in [128, 384, 2560, 6912] {
        let total = 100;
        let w = i2s_weights(&mut rng, total * k / 4, true);
        let mut rows = activation_rows(&mut rng, k);
        while rows.len() < 70 {
            rows.push(rng.i8s(k));
        }
        let acts: Vec<ActI8> = rows
            .iter()
            .map(|q| ActI8 {
                q: q.clone(),
                scale: 1.0,
                sum: q.iter().map(|&v| i32::from(v)).sum(),
            })
            .collect();
        for n in [1, 2, 16, 17, 32, 33, 70] {
            let qs: Vec<&[i8]> = rows[..n].iter().map(Vec::as_slice).collect();
            for &(_, tiles) in &tiled {
                let mut packed = I8Tiles::default();
                packed.pack(&acts[..n], k, tiles.group_multiple);
                for (row0, m) in [(0, 1), (5, 3), (2, 67), (0, 64), (36, 64), (3, 97)] {
                    let mut want = vec![0; n * m];
                    (SCALAR.i2s_gemm)(&w, k, row0, &qs, &mut want);
                    let mut got = vec![-1; n * m];
                    (tiles.gemm)(&w, k, row0, &packed, &mut got);
                    assert_eq!(got, want, "k={k} n={n} row0={row0} m={m}");
                }
            }
        }
    }
}

#[test]
fn i2s_finish_equals_scalar_bit_for_bit() {
    let mut rng = Rng(5);
    for t in simd_tables() {
        for n in [0, 1, 7, 8, 15, 16, 17, 64, 67, 2560] {
            let dots: Vec<i32> = (0..n)
                .map(|_| (rng.next() % (1 << 25)) as i32 - (1 << 24))
                .collect();
            let (a, w) = (rng.f32().abs() + 1e-3, rng.f32());
            let mut want = vec![0.0; n];
            let mut got = vec![1.0; n];
            (SCALAR.i2s_finish)(&dots, a, w, &mut want);
            (t.i2s_finish)(&dots, a, w, &mut got);
            for (g, w) in got.iter().zip(&want) {
                assert_bits(*g, *w, t.name);
            }
        }
    }
}

#[test]
fn attention_rows_equal_scalar_bit_for_bit() {
    let mut rng = Rng(6);
    for t in simd_tables() {
        for len in [16, 48, 64, 128, 130, 200, 512] {
            for (n_a, n_b, pad) in [(1, 1, 0), (5, 4, 3), (9, 3, 16), (4, 6, 1), (13, 5, 0)] {
                let stride = len + pad;
                let a: Vec<u16> = (0..(n_a - 1) * stride + len)
                    .map(|_| f16::from_f32(rng.f32()))
                    .collect();
                let b32 = rng.f32s(n_b * len);
                let b16: Vec<u16> = b32.iter().map(|&v| f16::from_f32(v)).collect();
                let what = |k: &str| format!("{} {k} len={len} n_a={n_a} n_b={n_b}", t.name);
                let mut want = vec![0.0; n_a * n_b];
                let mut got = vec![1.0; n_a * n_b];
                (SCALAR.rows_f16_ggml)(&a, stride, &b16, len, &mut want);
                (t.rows_f16_ggml)(&a, stride, &b16, len, &mut got);
                for (g, w) in got.iter().zip(&want) {
                    assert_bits(*g, *w, &what("rows_f16_ggml"));
                }
                if len % 16 != 0 {
                    continue;
                }
                (SCALAR.rows_f16_f16_tiled)(&a, stride, &b16, len, &mut want);
                (t.rows_f16_f16_tiled)(&a, stride, &b16, len, &mut got);
                for (g, w) in got.iter().zip(&want) {
                    assert_bits(*g, *w, &what("rows_f16_f16_tiled"));
                }
                (SCALAR.rows_f16_f32_tiled)(&a, stride, &b32, len, &mut want);
                (t.rows_f16_f32_tiled)(&a, stride, &b32, len, &mut got);
                for (g, w) in got.iter().zip(&want) {
                    assert_bits(*g, *w, &what("rows_f16_f32_tiled"));
                }
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

/// Equal bits, or both NaN (the kernels produce the same NaN, but its payload is not part
/// of any reference's contract).
fn same_float(got: f32, want: f32) -> bool {
    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan())
}

#[test]
fn expf_equals_scalar_bit_for_bit() {
    let mut rng = Rng(7);
    // A sweep over the finite range, random values, and the edges: overflow near 88.7,
    // results turning subnormal below -87.3 and zero below -103.9, the |n| > 192 cut-off.
    let mut xs: Vec<f32> = (-3000..3000).map(|i| i as f32 / 16.0).collect();
    xs.extend((0..20_000).map(|_| rng.f32() * 0.5));
    let edges = [
        88.72, 88.73, -87.33, -87.34, -103.97, -103.98, -133.0, -134.0, 133.0, 134.0,
    ];
    for e in edges {
        xs.extend((-64..64).map(|i| e + i as f32 * 1e-3));
    }
    xs.extend([
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MAX,
        f32::MIN,
    ]);
    xs.extend([f32::MIN_POSITIVE, -1e-30, 1e-45, 5e6, -5e6]);
    for t in kernels::available() {
        for &x in &xs {
            let (got, want) = ((t.expf)(x), (SCALAR.expf)(x));
            assert!(
                same_float(got, want),
                "{} expf({x:e}): {got:e} vs {want:e}",
                t.name
            );
        }
    }
}

#[test]
fn softmax_equals_scalar_bit_for_bit() {
    let mut rng = Rng(8);
    let mut rows: Vec<Vec<f32>> = Vec::new();
    for n in FLOAT_LENGTHS.into_iter().chain([32, 128, 256, 4096]) {
        // Attention-like scores, wide ones (exponentials underflow to subnormals and 0),
        // a causal mask (-inf from some cell on), ties and repeated maxima.
        rows.push(rng.f32s(n));
        rows.push(rng.f32s(n).iter().map(|v| v * 4.0).collect());
        let cut = n / 3;
        rows.push(
            (0..n)
                .map(|i| {
                    if i < cut.max(1) {
                        rng.f32()
                    } else {
                        f32::NEG_INFINITY
                    }
                })
                .collect(),
        );
        rows.push((0..n).map(|i| (i % 5) as f32 * 0.5).collect());
        rows.push(
            (0..n)
                .map(|i| if i % 2 == 0 { 0.0 } else { -0.0 })
                .collect(),
        );
    }
    // Degenerate rows: all masked (NaN out), a NaN score, an infinite score.
    rows.push(vec![f32::NEG_INFINITY; 48]);
    let mut with_nan = rng.f32s(40);
    with_nan[17] = f32::NAN;
    rows.push(with_nan);
    let mut with_inf = rng.f32s(40);
    with_inf[3] = f32::INFINITY;
    rows.push(with_inf);
    for t in kernels::available() {
        for row in &rows {
            let mut want = row.clone();
            let mut got = row.clone();
            (SCALAR.softmax)(&mut want);
            (t.softmax)(&mut got);
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    same_float(g, w),
                    "{} softmax n={} [{i}]: {g:e} vs {w:e}",
                    t.name,
                    row.len()
                );
            }
        }
    }
}

#[test]
fn quantize_i8_equals_scalar() {
    let mut rng = Rng(9);
    let mut rows: Vec<Vec<f32>> = Vec::new();
    for n in [
        0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 2560, 2561, 6912,
    ] {
        rows.push(rng.f32s(n));
        rows.push(vec![0.0; n]);
        rows.push(vec![-0.0; n]);
        // max 127 (s = 1) and max 254 (s = 0.5): x * s lands exactly on halves, which
        // round to even, and on the clamp's edges.
        rows.push(
            (0..n)
                .map(|i| (i % 255) as f32 - 127.0 + 0.5 * (i % 2) as f32)
                .collect(),
        );
        rows.push(
            (0..n)
                .map(|i| {
                    if i == n / 2 {
                        254.0
                    } else {
                        (i % 255) as f32 - 127.0
                    }
                })
                .collect(),
        );
        // Huge and tiny magnitudes (the 1e-5 floor, subnormals), and a single outlier.
        rows.push(rng.f32s(n).iter().map(|v| v * 1e30).collect());
        rows.push(rng.f32s(n).iter().map(|v| v * 1e-8).collect());
        rows.push(rng.f32s(n).iter().map(|v| v * 1e-40).collect());
        let mut outlier = rng.f32s(n);
        if n > 0 {
            outlier[n - 1] = -3.0e4;
        }
        rows.push(outlier);
    }
    for special in [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        f32::MIN,
    ] {
        for at in [0, 5, 31, 40] {
            let mut row = rng.f32s(41);
            row[at] = special;
            rows.push(row);
        }
    }
    for t in kernels::available() {
        for row in &rows {
            let (mut want, mut got) = (ActI8::default(), ActI8::default());
            got.q = vec![99; 3]; // stale contents must not leak through
            (SCALAR.quantize_i8)(row, &mut want);
            (t.quantize_i8)(row, &mut got);
            let what = format!("{} n={} first={:?}", t.name, row.len(), row.first());
            assert_eq!(got.q, want.q, "{what}");
            assert_eq!(got.scale.to_bits(), want.scale.to_bits(), "{what}");
            assert_eq!(got.sum, want.sum, "{what}");
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

/// The `bitnet` binary as a command, started through cargo's runner for this target when
/// one is set (`CARGO_TARGET_<TRIPLE>_RUNNER`, e.g. qemu-user in `.ci/aarch64`), as cargo
/// itself starts the test binaries.
fn bitnet_cli() -> std::process::Command {
    let bin = env!("CARGO_BIN_EXE_bitnet");
    let triple = env!("BITNET_BUILD_TARGET").to_uppercase().replace('-', "_");
    let runner = std::env::var(format!("CARGO_TARGET_{triple}_RUNNER")).unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut cmd = std::process::Command::new(program);
            cmd.args(words).arg(bin);
            cmd
        }
        None => std::process::Command::new(bin),
    }
}

#[test]
fn bitnet_kernels_forces_a_table_or_warns() {
    // Greedy text from the shipped model is the same under every table; an unknown name
    // warns and falls back.
    let run = |kernels: &str| {
        let out = bitnet_cli()
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

#[test]
fn long_prompt_logits_are_identical_under_every_table() {
    // A 70-token prompt takes the multi-row paths (the tiles from 32 rows on, the gemm
    // below): every table must give the scalar table's logits bit for bit, end to end.
    let dir = std::env::temp_dir().join(format!("bitnet-tables-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ids: Vec<String> = (0..70).map(|i| ((i * 37 + 11) % 500).to_string()).collect();
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/models/i2s-b158.gguf"
    );
    let run = |kernels: &str| {
        let prefix = dir.join(kernels);
        let out = bitnet_cli()
            .args(["logits", "--model", model, "--steps", "1", "--prompt-ids"])
            .arg(ids.join(","))
            .arg("--out")
            .arg(&prefix)
            .env("BITNET_KERNELS", kernels)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(prefix.with_extension("prompt-logits.f32")).unwrap()
    };
    let want = run("scalar");
    assert!(
        !want.is_empty() && want.len() % (70 * 4) == 0,
        "70 rows of f32 logits"
    );
    for t in kernels::available().into_iter().skip(1) {
        assert!(run(t.name) == want, "{}: prompt logits differ", t.name);
    }
    std::fs::remove_dir_all(&dir).unwrap();
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
