//! The forward pass over one micro-batch, following the reference recipe of the model's
//! architecture (docs/bitnet-reference.md §5). Matrix products go through the kernel table;
//! this file decides what each product's operands are (int8, Q8_K, f16 or f32) and which
//! accumulation order applies, because that is where the references differ.

use rayon::prelude::*;

use super::weights::{EmbdFormat, Linear, LinearFormat};
use super::{Model, Recipe};
use crate::kernels::{self, act, view, ActI8, BlockQ8K, BlockQ8_0, Kernels};
use crate::quant::f16;
use crate::{Error, Result};

/// Output rows computed per parallel task.
const ROWS_PER_TASK: usize = 64;

/// The F16 K and V cache of a context, one buffer per layer. K is stored by cell
/// (`[cell][n_embd_kv]`), V transposed (`[n_embd_kv][cell]`), as the references store them,
/// so that the probability-weighted sum over cells is a contiguous dot product.
pub struct KvBuffers {
    pub n_ctx: usize,
    pub n_embd_kv: usize,
    pub k: Vec<Vec<u16>>,
    pub v: Vec<Vec<u16>>,
}

impl KvBuffers {
    /// Zero-filled buffers (unused cells must hold finite values: they are multiplied by 0).
    pub fn new(n_layer: usize, n_ctx: usize, n_embd_kv: usize) -> KvBuffers {
        KvBuffers {
            n_ctx,
            n_embd_kv,
            k: vec![vec![0; n_ctx * n_embd_kv]; n_layer],
            v: vec![vec![0; n_ctx * n_embd_kv]; n_layer],
        }
    }

    /// Bytes held.
    pub fn size_bytes(&self) -> usize {
        2 * (self.k.iter().map(Vec::len).sum::<usize>()
            + self.v.iter().map(Vec::len).sum::<usize>())
    }
}

/// One micro-batch, already placed in KV cells by the context.
pub struct UBatch<'a> {
    pub tokens: &'a [u32],
    pub pos: &'a [i32],
    /// The KV cell each token writes.
    pub cells: &'a [usize],
    /// Attention runs over cells `0..n_kv` (a multiple of 32, as the references pad it).
    pub n_kv: usize,
    /// `tokens.len() x n_kv`: 0 where a token may attend to a cell, -inf elsewhere.
    pub mask: &'a [f32],
    /// Token indices (ascending) whose logits are wanted.
    pub outputs: &'a [usize],
}

/// Scratch buffers, reused across calls so a decode step does not allocate once warm.
#[derive(Default)]
pub struct Workspace {
    x: Vec<f32>,
    h: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    attn: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    tmp: Vec<f32>,
    act_i8: Vec<ActI8>,
    act_q8k: Vec<Vec<BlockQ8K>>,
    act_q8_0: Vec<Vec<BlockQ8_0>>,
    f16_row: Vec<u16>,
    probs: Vec<f32>,
}

/// Runs `ub` through the model, writes its K/V into `kv` and the logits of `ub.outputs` into
/// `logits` (`outputs.len() x n_vocab`). `abort` is polled between layers.
pub fn forward(
    model: &Model,
    ws: &mut Workspace,
    kv: &mut KvBuffers,
    ub: &UBatch<'_>,
    logits: &mut [f32],
    abort: &mut dyn FnMut() -> bool,
) -> Result<()> {
    let hp = model.hparams();
    let kt = kernels::get();
    let recipe = hp.arch.recipe();
    let n_tok = ub.tokens.len();
    let (e, e_kv, ff) = (hp.n_embd, hp.n_embd_kv(), hp.n_ff);
    debug_assert_eq!(logits.len(), ub.outputs.len() * hp.n_vocab);

    embed(model, ub.tokens, &mut ws.x)?;
    for (il, layer) in model.weights().layers.iter().enumerate() {
        if abort() {
            return Err(Error::Aborted);
        }
        // In the last layer only the output rows go on (as the references do).
        let last = il + 1 == hp.n_layer;

        rms_norm_rows(&ws.x, e, hp.rms_eps, &layer.attn_norm, &mut ws.h);
        let mut acts = Acts::new(&ws.h, e);
        linear(
            model,
            kt,
            &layer.wq,
            &mut acts,
            ws_bufs(&mut ws.act_i8, &mut ws.act_q8k),
            &mut ws.q,
        );
        linear(
            model,
            kt,
            &layer.wk,
            &mut acts,
            ws_bufs(&mut ws.act_i8, &mut ws.act_q8k),
            &mut ws.k,
        );
        linear(
            model,
            kt,
            &layer.wv,
            &mut acts,
            ws_bufs(&mut ws.act_i8, &mut ws.act_q8k),
            &mut ws.v,
        );
        let fused = recipe == Recipe::LlamaCpp;
        for (t, &p) in ub.pos.iter().enumerate() {
            let (base, scale) = (hp.rope_freq_base, hp.rope_freq_scale);
            rope_neox(
                &mut ws.q[t * e..(t + 1) * e],
                hp.head_dim,
                p,
                base,
                scale,
                fused,
            );
            rope_neox(
                &mut ws.k[t * e_kv..(t + 1) * e_kv],
                hp.head_dim,
                p,
                base,
                scale,
                fused,
            );
        }
        store_kv(kv, il, ub.cells, &ws.k, &ws.v);
        attention(
            model,
            kt,
            kv,
            il,
            ub,
            &ws.q,
            &mut ws.attn,
            &mut ws.f16_row,
            &mut ws.probs,
        );

        rms_norm_rows(&ws.attn, e, hp.rms_eps, &layer.attn_sub_norm, &mut ws.h);
        let mut acts = Acts::new(&ws.h, e);
        linear(
            model,
            kt,
            &layer.wo,
            &mut acts,
            ws_bufs(&mut ws.act_i8, &mut ws.act_q8k),
            &mut ws.tmp,
        );
        add_rows(&mut ws.x, &ws.tmp);
        if last && ub.outputs.len() != n_tok {
            keep_rows(&mut ws.x, e, ub.outputs);
        }

        rms_norm_rows(&ws.x, e, hp.rms_eps, &layer.ffn_norm, &mut ws.h);
        let mut acts = Acts::new(&ws.h, e);
        linear(
            model,
            kt,
            &layer.ffn_up,
            &mut acts,
            ws_bufs(&mut ws.act_i8, &mut ws.act_q8k),
            &mut ws.up,
        );
        linear(
            model,
            kt,
            &layer.ffn_gate,
            &mut acts,
            ws_bufs(&mut ws.act_i8, &mut ws.act_q8k),
            &mut ws.gate,
        );
        match recipe {
            // bitnet.cpp: ggml_relu, ggml_sqr, ggml_mul, one op at a time.
            Recipe::BitnetCpp => {
                for (g, &u) in ws.gate.iter_mut().zip(&ws.up) {
                    let r = if *g > 0.0 { *g } else { 0.0 };
                    *g = (r * r) * u;
                }
            }
            Recipe::LlamaCpp => {
                for (g, &u) in ws.gate.iter_mut().zip(&ws.up) {
                    *g = silu_ggml(*g, kt) * u;
                }
            }
        }
        rms_norm_rows(&ws.gate, ff, hp.rms_eps, &layer.ffn_sub_norm, &mut ws.h);
        let mut acts = Acts::new(&ws.h, ff);
        linear(
            model,
            kt,
            &layer.ffn_down,
            &mut acts,
            ws_bufs(&mut ws.act_i8, &mut ws.act_q8k),
            &mut ws.tmp,
        );
        add_rows(&mut ws.x, &ws.tmp);
    }
    if abort() {
        return Err(Error::Aborted);
    }
    let w = model.weights();
    rms_norm_rows(&ws.x, e, hp.rms_eps, &w.output_norm, &mut ws.h);
    lm_head(model, kt, &ws.h, logits, &mut ws.f16_row, &mut ws.act_q8_0);
    Ok(())
}

fn ws_bufs<'a>(
    i8s: &'a mut Vec<ActI8>,
    q8k: &'a mut Vec<Vec<BlockQ8K>>,
) -> (&'a mut Vec<ActI8>, &'a mut Vec<Vec<BlockQ8K>>) {
    (i8s, q8k)
}

/// The input rows of a group of projections, quantized at most once per activation format
/// (the references quantize again for each projection, with identical results).
struct Acts<'a> {
    x: &'a [f32],
    width: usize,
    have_i8: bool,
    have_q8k: bool,
}

impl<'a> Acts<'a> {
    fn new(x: &'a [f32], width: usize) -> Acts<'a> {
        Acts {
            x,
            width,
            have_i8: false,
            have_q8k: false,
        }
    }

    fn n_rows(&self) -> usize {
        self.x.len() / self.width
    }

    fn rows(&self) -> std::slice::ChunksExact<'a, f32> {
        self.x.chunks_exact(self.width)
    }
}

/// Token embeddings: rows of token_embd converted to f32 (ggml_get_rows).
fn embed(model: &Model, tokens: &[u32], x: &mut Vec<f32>) -> Result<()> {
    let hp = model.hparams();
    let e = hp.n_embd;
    let emb = &model.weights().tok_embd;
    let data = model.tensor_data(emb.tensor);
    x.clear();
    x.resize(tokens.len() * e, 0.0);
    for (row, &tok) in x.chunks_exact_mut(e).zip(tokens) {
        let t = tok as usize;
        match emb.format {
            EmbdFormat::F16 => {
                crate::quant::f16::dequantize_into(&data[t * e * 2..(t + 1) * e * 2], row)?
            }
            EmbdFormat::F32 => {
                crate::quant::f32::dequantize_into(&data[t * e * 4..(t + 1) * e * 4], row)?
            }
            EmbdFormat::Q8_0 => {
                let rb = e / act::QK8_0 * crate::quant::q8_0::BLOCK_BYTES;
                crate::quant::q8_0::dequantize_into(&data[t * rb..(t + 1) * rb], row)?
            }
        }
    }
    Ok(())
}

/// ggml_rms_norm then ggml_mul by the weight: sum of squares in double (each square in
/// float), `mean` cast to float, `scale = 1 / sqrtf(mean + eps)`, `y = (x * scale) * w`.
fn rms_norm_rows(x: &[f32], width: usize, eps: f32, w: &[f32], out: &mut Vec<f32>) {
    out.clear();
    out.resize(x.len(), 0.0);
    for (row, y) in x.chunks_exact(width).zip(out.chunks_exact_mut(width)) {
        let sum: f64 = row.iter().map(|&v| f64::from(v * v)).sum();
        let mean = (sum / width as f64) as f32;
        let scale = 1.0f32 / (mean + eps).sqrt();
        for ((y, &v), &w) in y.iter_mut().zip(row).zip(w) {
            *y = (v * scale) * w;
        }
    }
}

fn add_rows(x: &mut [f32], y: &[f32]) {
    for (x, &y) in x.iter_mut().zip(y) {
        *x += y;
    }
}

/// Keeps only rows `keep` (ascending) of a row-major matrix.
fn keep_rows(x: &mut Vec<f32>, width: usize, keep: &[usize]) {
    for (dst, &src) in keep.iter().enumerate() {
        if dst != src {
            x.copy_within(src * width..(src + 1) * width, dst * width);
        }
    }
    x.truncate(keep.len() * width);
}

/// y = W x for every row of `acts`, into `out` (`rows x n_out`).
fn linear(
    model: &Model,
    kt: &Kernels,
    w: &Linear,
    acts: &mut Acts<'_>,
    bufs: (&mut Vec<ActI8>, &mut Vec<Vec<BlockQ8K>>),
    out: &mut Vec<f32>,
) {
    let (i8s, q8ks) = bufs;
    let n_rows = acts.n_rows();
    let data = model.tensor_data(w.tensor);
    let (k, n) = (w.n_in, w.n_out);
    out.clear();
    out.resize(n_rows * n, 0.0);
    match w.format {
        LinearFormat::I2s { scale } => {
            if !acts.have_i8 {
                i8s.resize_with(n_rows, ActI8::default);
                for (row, a) in acts.rows().zip(i8s.iter_mut()) {
                    act::quantize_i8_absmax(row, a);
                }
                acts.have_i8 = true;
            }
            for (y, a) in out.chunks_exact_mut(n).zip(i8s.iter()) {
                y.par_chunks_mut(ROWS_PER_TASK)
                    .enumerate()
                    .for_each(|(c, y)| {
                        let mut dots = [0i32; ROWS_PER_TASK];
                        let dots = &mut dots[..y.len()];
                        (kt.i2s_dots)(data, k, c * ROWS_PER_TASK, &a.q, dots);
                        // bitnet.cpp: (float)S - (float)sum, / act scale, * weight scale. Both
                        // terms are below 2^24, so the exact difference converts identically.
                        for (y, &d) in y.iter_mut().zip(dots.iter()) {
                            *y = d as f32 / a.scale * scale;
                        }
                    });
            }
        }
        LinearFormat::Tq2_0 | LinearFormat::Tq1_0 => {
            if !acts.have_q8k {
                q8ks.resize_with(n_rows, Vec::new);
                for (row, a) in acts.rows().zip(q8ks.iter_mut()) {
                    act::quantize_q8k(row, a);
                }
                acts.have_q8k = true;
            }
            let dots = if w.format == LinearFormat::Tq2_0 {
                kt.tq2_0_dots
            } else {
                kt.tq1_0_dots
            };
            for (y, a) in out.chunks_exact_mut(n).zip(q8ks.iter()) {
                y.par_chunks_mut(ROWS_PER_TASK)
                    .enumerate()
                    .for_each(|(c, y)| dots(data, k, c * ROWS_PER_TASK, a, y));
            }
        }
        LinearFormat::F32 | LinearFormat::F16 => {
            let mat = float_matrix(data, w.format == LinearFormat::F16);
            let recipe = model.arch().recipe();
            let tiled = tiled(recipe, n_rows, k, n);
            let keep_f32 = recipe == Recipe::BitnetCpp;
            let mut x16 = Vec::new();
            for (y, x) in out.chunks_exact_mut(n).zip(acts.rows()) {
                float_matvec(kt, mat, k, x, y, tiled, keep_f32, &mut x16);
            }
        }
    }
    if let Some(s) = w.out_scale {
        for y in out.iter_mut() {
            *y *= s;
        }
    }
}

/// A float weight matrix read in place.
#[derive(Clone, Copy)]
enum FloatMatrix<'a> {
    F16(&'a [u16]),
    F32(&'a [f32]),
}

fn float_matrix(data: &[u8], is_f16: bool) -> FloatMatrix<'_> {
    const CHECKED: &str = "float tensors are checked for alignment when the model is bound";
    if is_f16 {
        FloatMatrix::F16(view::as_u16s(data).expect(CHECKED))
    } else {
        FloatMatrix::F32(view::as_f32s(data).expect(CHECKED))
    }
}

/// `y = W x` for a float matrix with rows of `k`. Multi-row passes (`tiled`) use tinyBLAS's
/// order; with `keep_f32` (bitnet.cpp) an F16 matrix meets the f32 activations there, while
/// single-row passes, and every F16 pass in llama.cpp, round the activations to f16 first.
#[allow(clippy::too_many_arguments)]
fn float_matvec(
    kt: &Kernels,
    w: FloatMatrix<'_>,
    k: usize,
    x: &[f32],
    y: &mut [f32],
    tiled: bool,
    keep_f32: bool,
    x16: &mut Vec<u16>,
) {
    match w {
        FloatMatrix::F32(w) => y.par_iter_mut().enumerate().for_each(|(r, y)| {
            let wr = &w[r * k..(r + 1) * k];
            *y = if tiled {
                (kt.dot_f32_tiled)(wr, x)
            } else {
                (kt.dot_f32_ggml)(wr, x)
            };
        }),
        FloatMatrix::F16(w) if tiled && keep_f32 => {
            y.par_iter_mut().enumerate().for_each(|(r, y)| {
                *y = (kt.dot_f16_f32_tiled)(&w[r * k..(r + 1) * k], x);
            })
        }
        FloatMatrix::F16(w) => {
            x16.clear();
            x16.extend(x.iter().map(|&v| f16::from_f32(v)));
            let x16 = &*x16;
            y.par_iter_mut().enumerate().for_each(|(r, y)| {
                let wr = &w[r * k..(r + 1) * k];
                *y = if tiled {
                    (kt.dot_f16_f16_tiled)(wr, x16)
                } else {
                    (kt.dot_f16_ggml)(wr, x16)
                };
            });
        }
    }
}

/// NEOX RoPE over every head of `x` (heads of `head_dim`), ggml's recipe: `theta_scale =
/// powf(base, -2/head_dim)`, theta starts at `(float)pos` and is multiplied by theta_scale
/// for each pair; pair `i` is `(x[i], x[i + head_dim/2])`. The rotation is written as the
/// compilers emitted it: plain multiplies and adds in bitnet.cpp's clang build, one fused
/// multiply-add per output in llama.cpp's gcc build.
fn rope_neox(x: &mut [f32], head_dim: usize, pos: i32, base: f32, freq_scale: f32, fused: bool) {
    let half = head_dim / 2;
    let theta_scale = base.powf(-2.0 / head_dim as f32);
    let mut theta = pos as f32;
    for i in 0..half {
        let t = freq_scale * theta;
        let (sin, cos) = (t.sin(), t.cos());
        for head in x.chunks_exact_mut(head_dim) {
            let (x0, x1) = (head[i], head[i + half]);
            if fused {
                head[i] = x0.mul_add(cos, -(x1 * sin));
                head[i + half] = x0.mul_add(sin, x1 * cos);
            } else {
                head[i] = x0 * cos - x1 * sin;
                head[i + half] = x0 * sin + x1 * cos;
            }
        }
        theta *= theta_scale;
    }
}

/// Writes the batch's K and V rows, rounded to f16, into their cells.
fn store_kv(kv: &mut KvBuffers, layer: usize, cells: &[usize], k: &[f32], v: &[f32]) {
    let (n_ctx, e_kv) = (kv.n_ctx, kv.n_embd_kv);
    for (t, &cell) in cells.iter().enumerate() {
        for d in 0..e_kv {
            kv.k[layer][cell * e_kv + d] = f16::from_f32(k[t * e_kv + d]);
            kv.v[layer][d * n_ctx + cell] = f16::from_f32(v[t * e_kv + d]);
        }
    }
}

/// softmax(q.K^T * scale + mask) . V for every token and head, into `out` (`n_tok x n_embd`).
#[allow(clippy::too_many_arguments)]
fn attention(
    model: &Model,
    kt: &Kernels,
    kv: &KvBuffers,
    layer: usize,
    ub: &UBatch<'_>,
    q: &[f32],
    out: &mut Vec<f32>,
    q16: &mut Vec<u16>,
    probs: &mut Vec<f32>,
) {
    let hp = model.hparams();
    let (e, hd, n_kv, n_ctx, e_kv) = (hp.n_embd, hp.head_dim, ub.n_kv, kv.n_ctx, kv.n_embd_kv);
    let group = hp.n_head / hp.n_head_kv;
    let n_tok = ub.tokens.len();
    let kq_scale = 1.0f32 / (hd as f32).sqrt();
    // Both references compute q.k with q rounded to f16 (the K cache is f16 and q is a
    // permuted view, which their multi-row f32 kernel refuses).
    let recipe = hp.arch.recipe();
    let tiled_kq = recipe.tiles_f16_pairs() && tiled(recipe, n_tok, hd, n_kv);
    let tiled_kqv =
        tiled(recipe, n_tok, n_kv, hd) && (recipe == Recipe::BitnetCpp || recipe.tiles_f16_pairs());
    out.clear();
    out.resize(n_tok * e, 0.0);
    probs.clear();
    probs.resize(n_kv, 0.0);
    let mut p16 = vec![0u16; n_kv];
    for t in 0..n_tok {
        let mask = &ub.mask[t * n_kv..(t + 1) * n_kv];
        for h in 0..hp.n_head {
            let g = h / group;
            q16.clear();
            q16.extend(
                q[t * e + h * hd..t * e + (h + 1) * hd]
                    .iter()
                    .map(|&v| f16::from_f32(v)),
            );
            let kcache = &kv.k[layer];
            for (c, p) in probs.iter_mut().enumerate() {
                let krow = &kcache[c * e_kv + g * hd..c * e_kv + (g + 1) * hd];
                let s = if tiled_kq {
                    (kt.dot_f16_f16_tiled)(krow, q16)
                } else {
                    (kt.dot_f16_ggml)(krow, q16)
                };
                *p = s * kq_scale + mask[c];
            }
            softmax_ggml(probs, kt);
            let vcache = &kv.v[layer];
            let o = &mut out[t * e + h * hd..t * e + (h + 1) * hd];
            let v_row = |d: usize| &vcache[(g * hd + d) * n_ctx..(g * hd + d) * n_ctx + n_kv];
            if tiled_kqv && recipe == Recipe::BitnetCpp {
                // bitnet.cpp: several query rows meet the f32 probabilities in tinyBLAS.
                for (d, o) in o.iter_mut().enumerate() {
                    *o = (kt.dot_f16_f32_tiled)(v_row(d), probs);
                }
            } else {
                for (p16, &p) in p16.iter_mut().zip(probs.iter()) {
                    *p16 = f16::from_f32(p);
                }
                for (d, o) in o.iter_mut().enumerate() {
                    *o = if tiled_kqv {
                        (kt.dot_f16_f16_tiled)(v_row(d), &p16)
                    } else {
                        (kt.dot_f16_ggml)(v_row(d), &p16)
                    };
                }
            }
        }
    }
}

/// Whether a product of `m` weight rows of length `k` with `n` activation rows takes the
/// reference's tiled (tinyBLAS) path: two or more rows, `k % 16 == 0`, and for llama.cpp's
/// newer llamafile also `m % 4 == 0`.
fn tiled(recipe: Recipe, n: usize, k: usize, m: usize) -> bool {
    n >= 2 && k % kernels::order::LANES == 0 && (recipe == Recipe::BitnetCpp || m % 4 == 0)
}

/// ggml_soft_max (after scale and mask): max, exp(x - max) with the AVX-512 exponential
/// over whole 16-lane chunks (libm expf for the rest), the sum in double chunk by chunk,
/// then a multiply by `(float)(1 / sum)`.
fn softmax_ggml(x: &mut [f32], kt: &Kernels) {
    let max = x
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    let mut sum = 0.0f64;
    let n16 = x.len() / 16 * 16;
    for chunk in x[..n16].chunks_exact_mut(16) {
        let mut lanes = [0.0f32; 16];
        for (l, v) in lanes.iter_mut().zip(chunk.iter_mut()) {
            *v = (kt.expf)(*v - max);
            *l = *v;
        }
        sum += f64::from(kernels::order::reduce16(&lanes));
    }
    for v in &mut x[n16..] {
        *v = (*v - max).exp();
        sum += f64::from(*v);
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// llama.cpp's SIMD silu: `x / (1 + exp(-x))` with the AVX-512 exponential.
fn silu_ggml(x: f32, kt: &Kernels) -> f32 {
    x / (1.0 + (kt.expf)(-x))
}

/// Logits of the normed output rows `h` against token_embd (tied LM head).
fn lm_head(
    model: &Model,
    kt: &Kernels,
    h: &[f32],
    logits: &mut [f32],
    x16: &mut Vec<u16>,
    q8: &mut Vec<Vec<BlockQ8_0>>,
) {
    let hp = model.hparams();
    let (e, nv) = (hp.n_embd, hp.n_vocab);
    let emb = &model.weights().tok_embd;
    let data = model.tensor_data(emb.tensor);
    let n_out = h.len() / e;
    let recipe = hp.arch.recipe();
    let tiled = tiled(recipe, n_out, e, nv);
    match emb.format {
        EmbdFormat::F16 | EmbdFormat::F32 => {
            let mat = float_matrix(data, emb.format == EmbdFormat::F16);
            for (x, y) in h.chunks_exact(e).zip(logits.chunks_exact_mut(nv)) {
                float_matvec(kt, mat, e, x, y, tiled, recipe == Recipe::BitnetCpp, x16);
            }
        }
        EmbdFormat::Q8_0 => {
            q8.resize_with(n_out, Vec::new);
            for ((x, y), a) in h
                .chunks_exact(e)
                .zip(logits.chunks_exact_mut(nv))
                .zip(q8.iter_mut())
            {
                act::quantize_q8_0(x, a);
                let a = &*a;
                y.par_chunks_mut(ROWS_PER_TASK)
                    .enumerate()
                    .for_each(|(c, y)| (kt.q8_0_dots)(data, e, c * ROWS_PER_TASK, a, y));
            }
        }
    }
}
