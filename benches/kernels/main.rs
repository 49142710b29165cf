//! Criterion benchmarks of every kernel table this CPU runs (`kernels::available()`) on the
//! BitNet b1.58 2B-4T shapes, each group with an in-run baseline; the run ends with a
//! Markdown table of medians and ratios. benches/README.md says how to run and read them.

mod data;
mod record;

use std::time::Duration;

use bitnet::kernels::tiles::I8Tiles;
use bitnet::kernels::{self, act, ActI8, Kernels};
use bitnet::quant::{q8_0, tq1_0, tq2_0};
use criterion::Criterion;
use rayon::prelude::*;

use data::{Matrix, N_EMBD, N_FF, ROWS_PER_TASK, TILE_TASK_ROWS};
use record::{Baseline, Group, Work};

/// The tables whose entry `entry` is a kernel of its own, slowest first: a table that
/// reuses an earlier table's kernel (avx512 keeps avx2's block-format dots, amx is avx512
/// plus tiles) is not measured again.
fn tables(entry: impl Fn(&Kernels) -> usize) -> Vec<&'static Kernels> {
    let mut seen = Vec::new();
    kernels::available()
        .into_iter()
        .filter(|t| {
            let f = entry(t);
            let new = !seen.contains(&f);
            seen.push(f);
            new
        })
        .collect()
}

/// The fastest of `tables` (the last).
fn fastest(tables: &[&'static Kernels]) -> &'static Kernels {
    tables.last().expect("the scalar table is always available")
}

fn i8_act(k: usize, seed: u64) -> ActI8 {
    let mut a = ActI8::default();
    act::quantize_i8_absmax(&data::activations(k, seed), &mut a);
    a
}

/// Decode's matrix-vector product. The large shapes are read from memory (copies beyond the
/// caches, as in decode); the 256-row one stays in L2, where the kernels are compute-bound.
fn i2s_dots(c: &mut Criterion) {
    let mut g = Group::new(c, "i2s_dots");
    // FFN gate/up (6912 x 2560) and down (2560 x 6912) are the same number of bytes.
    let ffn = Matrix::new(N_FF * N_EMBD / 4, || data::i2s(N_FF * N_EMBD, 1));
    i2s_matvec(&mut g, &ffn, N_FF, N_EMBD, true);
    i2s_matvec(&mut g, &ffn, N_EMBD, N_FF, true);
    let small = Matrix::new(256 * N_EMBD / 4, || data::i2s(256 * N_EMBD, 2));
    i2s_matvec(&mut g, &small, 256, N_EMBD, false);
    g.finish();
}

fn i2s_matvec(g: &mut Group<'_>, m: &Matrix, rows: usize, k: usize, cold: bool) {
    let shape = format!("{rows}x{k}");
    let bytes = Work::Bytes(m.len());
    let a = i8_act(k, 3);
    let mut out = vec![0i32; rows];
    let mut read = g.baseline(&format!("{shape}/read"), bytes, || data::read(m.get(cold)));
    let tables = tables(|t| t.i2s_dots as usize);
    for &t in &tables {
        g.bench(
            &format!("{shape}/{}", t.name),
            bytes,
            Some(&mut read),
            || {
                (t.i2s_dots)(m.get(cold), k, 0, &a.q, &mut out);
                out[0]
            },
        );
    }
    if !cold {
        return;
    }
    // Both cores, split as the model splits decode rows.
    let chunk = ROWS_PER_TASK * k / 4;
    let mut read2 = g.baseline(&format!("{shape}/read_2t"), bytes, || {
        data::read_par(m.get(cold), chunk)
    });
    let t = fastest(&tables);
    g.bench(
        &format!("{shape}/{}_2t", t.name),
        bytes,
        Some(&mut read2),
        || {
            let w = m.get(cold);
            out.par_chunks_mut(ROWS_PER_TASK)
                .enumerate()
                .for_each(|(c, y)| (t.i2s_dots)(w, k, c * ROWS_PER_TASK, &a.q, y));
            out[0]
        },
    );
}

/// The prompt matrix product: one 2560 x 2560 matrix (cache-resident, as a prompt is
/// compute-bound) against 8, 32 and 128 activation rows, 64 weight rows per call as the
/// model does it, on one core.
fn i2s_gemm(c: &mut Criterion) {
    let mut g = Group::new(c, "i2s_gemm");
    g.slow(10);
    let (rows, k) = (N_EMBD, N_EMBD);
    let m = Matrix::new(rows * k / 4, move || data::i2s(rows * k, 4));
    let mut peak = vnni_peak(&mut g);
    for tokens in [8, 32, 128] {
        let acts: Vec<ActI8> = (0..tokens).map(|t| i8_act(k, 100 + t as u64)).collect();
        let qs: Vec<&[i8]> = acts.iter().map(|a| a.q.as_slice()).collect();
        let ops = Work::Ops(2 * rows * k * tokens);
        let mut dots = vec![0i32; ROWS_PER_TASK * tokens];
        for t in tables(|t| t.i2s_gemm as usize) {
            let id = format!("{rows}x{k}/{tokens}_tokens/{}", t.name);
            g.bench(&id, ops, peak.as_mut(), || {
                for row0 in (0..rows).step_by(ROWS_PER_TASK) {
                    (t.i2s_gemm)(m.get(false), k, row0, &qs, &mut dots);
                }
                dots[0]
            });
        }
        // Tile kernels, from the batch size the model uses them at, on activations packed
        // beforehand (the model packs each projection input once for all its matrices).
        for t in kernels::available() {
            let Some(tiles) = t.i2s_tiles.filter(|x| tokens >= x.min_rows) else {
                continue;
            };
            let mut packed = I8Tiles::default();
            packed.pack(&acts, k, tiles.group_multiple);
            let mut dots = vec![0i32; TILE_TASK_ROWS * tokens];
            let id = format!("{rows}x{k}/{tokens}_tokens/{}_tiles", t.name);
            g.bench(&id, ops, peak.as_mut(), || {
                for row0 in (0..rows).step_by(TILE_TASK_ROWS) {
                    (tiles.gemm)(m.get(false), k, row0, &packed, &mut dots);
                }
                dots[0]
            });
        }
    }
    g.finish();
}

/// The int8 peak of one core, if this build and CPU have it.
fn vnni_peak(g: &mut Group<'_>) -> Option<Baseline<'static>> {
    #[cfg(all(target_arch = "x86_64", bitnet_avx512))]
    if data::vnni::available() {
        let ops = Work::Ops(data::vnni::OPS);
        return Some(g.baseline("int8_peak/vpdpbusd_zmm", ops, data::vnni::peak));
    }
    let _ = g;
    None
}

/// The shape of `Kernels::{tq2_0_dots, tq1_0_dots, q8_0_dots}` for activation blocks `A`.
type BlockDots<A> = fn(&[u8], usize, usize, &[A], &mut [f32]);

/// TQ2_0 / TQ1_0 / Q8_0 rows against their quantized activation row (llama.cpp's formats),
/// from memory (6912 x 2560) and from L2 (256 x 2560).
fn block_dots<A>(
    c: &mut Criterion,
    name: &str,
    weights: fn(usize, u64) -> Vec<u8>,
    n_bytes: fn(usize) -> bitnet::Result<usize>,
    dots: fn(&Kernels) -> BlockDots<A>,
    a: &[A],
) {
    let mut g = Group::new(c, name);
    let k = N_EMBD;
    for (rows, cold) in [(N_FF, true), (256, false)] {
        let len = n_bytes(rows * k).expect("whole blocks");
        let m = Matrix::new(len, move || weights(rows * k, 5));
        let shape = format!("{rows}x{k}");
        let bytes = Work::Bytes(len);
        let mut out = vec![0f32; rows];
        let mut read = g.baseline(&format!("{shape}/read"), bytes, || data::read(m.get(cold)));
        for t in tables(|t| dots(t) as usize) {
            g.bench(
                &format!("{shape}/{}", t.name),
                bytes,
                Some(&mut read),
                || {
                    dots(t)(m.get(cold), k, 0, a, &mut out);
                    out[0]
                },
            );
        }
    }
    g.finish();
}

/// llama.cpp's formats: TQ2_0 and TQ1_0 against a Q8_K row, Q8_0 against a Q8_0 row.
fn block_formats(c: &mut Criterion) {
    let x = data::activations(N_EMBD, 6);
    let (mut q8k, mut q80) = (Vec::new(), Vec::new());
    act::quantize_q8k(&x, &mut q8k);
    act::quantize_q8_0(&x, &mut q80);
    let tq2 = |n, seed| data::ternary(n, seed, tq2_0::pack);
    block_dots(c, "tq2_0_dots", tq2, tq2_0::n_bytes, |t| t.tq2_0_dots, &q8k);
    let tq1 = |n, seed| data::ternary(n, seed, tq1_0::pack);
    block_dots(c, "tq1_0_dots", tq1, tq1_0::n_bytes, |t| t.tq1_0_dots, &q8k);
    block_dots(
        c,
        "q8_0_dots",
        data::q8_0,
        q8_0::n_bytes,
        |t| t.q8_0_dots,
        &q80,
    );
}

/// One dot per row of the F16 matrix `w` (rows of `k`) with `x`, into `out`.
fn f16_rows<X>(w: &[u8], k: usize, x: &[X], dot: fn(&[u16], &[X]) -> f32, out: &mut [f32]) -> f32 {
    for (y, wr) in out.iter_mut().zip(data::as_f16(w).chunks_exact(k)) {
        *y = dot(wr, x);
    }
    out[0]
}

/// The tied F16 LM head, one row dot per vocabulary entry: 32768 of the 128256 rows (168 MB),
/// from memory. `dot_f16_ggml` is decode's dot (activation rounded to f16),
/// `dot_f16_f32_tiled` bitnet.cpp's prompt dot.
fn lm_head_f16(c: &mut Criterion) {
    let mut g = Group::new(c, "lm_head_f16");
    g.slow(10);
    let (rows, k) = (32768, N_EMBD);
    let m = Matrix::new(rows * k * 2, move || data::f16(rows * k, 7));
    let shape = format!("{rows}x{k}");
    let bytes = Work::Bytes(rows * k * 2);
    let x = data::activations(k, 8);
    let x16: Vec<u16> = x.iter().map(|&v| bitnet::quant::f16::from_f32(v)).collect();
    let mut out = vec![0f32; rows];
    let mut read = g.baseline(&format!("{shape}/read"), bytes, || data::read(m.get(true)));
    let ggml = tables(|t| t.dot_f16_ggml as usize);
    for &t in &ggml {
        let id = format!("{shape}/dot_f16_ggml/{}", t.name);
        g.bench(&id, bytes, Some(&mut read), || {
            f16_rows(m.get(true), k, &x16, t.dot_f16_ggml, &mut out)
        });
    }
    for t in tables(|t| t.dot_f16_f32_tiled as usize) {
        let id = format!("{shape}/dot_f16_f32_tiled/{}", t.name);
        g.bench(&id, bytes, Some(&mut read), || {
            f16_rows(m.get(true), k, &x, t.dot_f16_f32_tiled, &mut out)
        });
    }
    // Both cores; rayon splits the rows as in the model's float_matvec.
    let mut read2 = g.baseline(&format!("{shape}/read_2t"), bytes, || {
        data::read_par(m.get(true), ROWS_PER_TASK * k * 2)
    });
    let t = fastest(&ggml);
    g.bench(
        &format!("{shape}/dot_f16_ggml/{}_2t", t.name),
        bytes,
        Some(&mut read2),
        || {
            let w = data::as_f16(m.get(true));
            out.par_iter_mut().enumerate().for_each(|(r, y)| {
                *y = (t.dot_f16_ggml)(&w[r * k..(r + 1) * k], &x16);
            });
            out[0]
        },
    );
    g.finish();
}

/// 2B-4T attention: KV heads of 128, each shared by 4 query heads, at a 4096-token context.
const KV_HEADS: usize = 5;
const HEAD: usize = 128;
const GROUP: usize = 4;
const N_KV: usize = 4096;

/// How attention walks one layer's cache per KV head: head `h`'s rows start at element
/// `h * head_step`, lie `stride` apart and are `len` long.
struct KvPass {
    head_step: usize,
    stride: usize,
    len: usize,
}

impl KvPass {
    fn run<B>(&self, cache: &[u8], b: &[B], rows: RowsFn<B>, out: &mut [f32]) -> f32 {
        let c = data::as_f16(cache);
        for h in 0..KV_HEADS {
            rows(&c[h * self.head_step..], self.stride, b, self.len, out);
        }
        out[0]
    }
}

/// The shape of `Kernels::rows_*` for rows `B`.
type RowsFn<B> = fn(&[u16], usize, &[B], usize, &mut [f32]);

/// Attention's dots over the cache of one layer at 4096 tokens (K and V, 4096 x 640 f16 each,
/// 5.2 MB, from memory as in decode): the K pass (each cached K row against the 4 query rows
/// of its heads) and the V pass (the transposed V rows against 4 probability rows).
fn attn_rows(c: &mut Criterion) {
    let mut g = Group::new(c, "attn_rows");
    let e_kv = KV_HEADS * HEAD;
    let m = Matrix::new(N_KV * e_kv * 2, move || data::f16(N_KV * e_kv, 10));
    let bytes = Work::Bytes(m.len());
    let k_pass = KvPass {
        head_step: HEAD,
        stride: e_kv,
        len: HEAD,
    };
    let v_pass = KvPass {
        head_step: HEAD * N_KV,
        stride: N_KV,
        len: N_KV,
    };
    for (name, pass, b_len) in [("k", &k_pass, HEAD), ("v", &v_pass, N_KV)] {
        let b = data::activations(GROUP * b_len, 11);
        let b16: Vec<u16> = b.iter().map(|&v| bitnet::quant::f16::from_f32(v)).collect();
        let mut out = vec![0f32; GROUP * N_KV * HEAD / b_len];
        let shape = format!("{N_KV}x{e_kv}_{name}");
        let mut read = g.baseline(&format!("{shape}/read"), bytes, || data::read(m.get(true)));
        for t in tables(|t| t.rows_f16_ggml as usize) {
            let id = format!("{shape}/rows_f16_ggml/{}", t.name);
            g.bench(&id, bytes, Some(&mut read), || {
                pass.run(m.get(true), &b16, t.rows_f16_ggml, &mut out)
            });
        }
        for t in tables(|t| t.rows_f16_f16_tiled as usize) {
            let id = format!("{shape}/rows_f16_f16_tiled/{}", t.name);
            g.bench(&id, bytes, Some(&mut read), || {
                pass.run(m.get(true), &b16, t.rows_f16_f16_tiled, &mut out)
            });
        }
        for t in tables(|t| t.rows_f16_f32_tiled as usize) {
            let id = format!("{shape}/rows_f16_f32_tiled/{}", t.name);
            g.bench(&id, bytes, Some(&mut read), || {
                pass.run(m.get(true), &b, t.rows_f16_f32_tiled, &mut out)
            });
        }
    }
    g.finish();
}

/// The activation quantizers on one 2560-wide row, against one pass that finds the row's
/// largest magnitude (the first step of each of them).
fn act_quantizers(c: &mut Criterion) {
    let mut g = Group::new(c, "act");
    let x = data::activations(N_EMBD, 9);
    let n = Work::Elements(N_EMBD);
    let id = |f: &str| format!("{f}/{N_EMBD}");
    let mut absmax = g.baseline(&id("absmax_pass"), n, || {
        x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
    });
    let mut i8 = ActI8::default();
    g.bench(&id("quantize_i8_absmax"), n, Some(&mut absmax), || {
        act::quantize_i8_absmax(&x, &mut i8);
        i8.sum
    });
    let mut q8k = Vec::new();
    g.bench(&id("quantize_q8k"), n, Some(&mut absmax), || {
        act::quantize_q8k(&x, &mut q8k);
        q8k[0].d
    });
    let mut q80 = Vec::new();
    g.bench(&id("quantize_q8_0"), n, Some(&mut absmax), || {
        act::quantize_q8_0(&x, &mut q80);
        q80[0].d
    });
    g.finish();
}

fn main() {
    // Short runs: the whole suite takes a few minutes on two cores. Command-line flags
    // (--sample-size, --measurement-time, ...) override these.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(20)
        .without_plots()
        .configure_from_args();
    i2s_dots(&mut c);
    i2s_gemm(&mut c);
    block_formats(&mut c);
    lm_head_f16(&mut c);
    attn_rows(&mut c);
    act_quantizers(&mut c);
    c.final_summary();
    record::print_summary();
}
