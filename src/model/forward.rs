//! The forward pass over one micro-batch, following the reference recipe of the model's
//! architecture (docs/bitnet-reference.md §5, docs/numerics.md). Matrix products go through
//! the kernel table; `linear` and `attention` decide each product's operands (int8, Q8_K,
//! f16 or f32) and accumulation order, because that is where the references differ.

use rayon::prelude::*;

use super::attention::{attention, store_kv, AttnScratch};
use super::linear::{float_matrix, float_matvec, linear, tiled, ActBufs, Acts, ROWS_PER_TASK};
use super::weights::EmbdFormat;
use super::{Model, Recipe};
use memmap2::MmapMut;

use crate::kernels::{self, act, view, ActI8, BlockQ8_0, Kernels};
use crate::{Error, Result};

/// The F16 K and V cache of a context, one buffer per layer. K is stored by cell
/// (`[cell][n_embd_kv]`), V transposed (`[n_embd_kv][cell]`), as the references store them,
/// so that the probability-weighted sum over cells is a contiguous dot product. The buffers
/// are anonymous memory maps: zero-filled and resident only where cells have been written.
pub struct KvBuffers {
    pub n_ctx: usize,
    pub n_embd_kv: usize,
    k: Vec<MmapMut>,
    v: Vec<MmapMut>,
}

impl KvBuffers {
    /// Zeroed buffers (unused cells must hold finite values: they are multiplied by 0), or
    /// [`Error::OutOfMemory`] when the address space cannot be reserved.
    pub fn new(n_layer: usize, n_ctx: usize, n_embd_kv: usize) -> Result<KvBuffers> {
        let bytes = n_ctx
            .checked_mul(n_embd_kv)
            .and_then(|n| n.checked_mul(2))
            .filter(|&b| b > 0)
            .ok_or_else(|| too_big(n_ctx, n_embd_kv, n_layer))?;
        let map = || MmapMut::map_anon(bytes).map_err(|_| too_big(n_ctx, n_embd_kv, n_layer));
        let mut k = Vec::with_capacity(n_layer);
        let mut v = Vec::with_capacity(n_layer);
        for _ in 0..n_layer {
            k.push(map()?);
            v.push(map()?);
        }
        Ok(KvBuffers {
            n_ctx,
            n_embd_kv,
            k,
            v,
        })
    }

    /// Layer `layer`'s K cache, `[cell][n_embd_kv]`.
    pub fn k(&self, layer: usize) -> &[u16] {
        view::as_u16s(&self.k[layer]).expect(PAGE_ALIGNED)
    }

    /// Layer `layer`'s V cache, `[n_embd_kv][cell]`.
    pub fn v(&self, layer: usize) -> &[u16] {
        view::as_u16s(&self.v[layer]).expect(PAGE_ALIGNED)
    }

    /// Both caches of a layer, writable.
    pub fn kv_mut(&mut self, layer: usize) -> (&mut [u16], &mut [u16]) {
        (
            view::as_u16s_mut(&mut self.k[layer]).expect(PAGE_ALIGNED),
            view::as_u16s_mut(&mut self.v[layer]).expect(PAGE_ALIGNED),
        )
    }

    /// Bytes reserved (resident memory is only what has been written).
    pub fn size_bytes(&self) -> usize {
        self.k.iter().chain(&self.v).map(|m| m.len()).sum()
    }
}

const PAGE_ALIGNED: &str = "anonymous maps are page-aligned and of even length";

fn too_big(n_ctx: usize, n_embd_kv: usize, n_layer: usize) -> Error {
    let bytes = 4u128 * n_ctx as u128 * n_embd_kv as u128 * n_layer as u128;
    Error::OutOfMemory(format!("a KV cache of {n_ctx} cells needs {bytes} bytes"))
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
    acts: ActBufs,
    act_q8_0: Vec<Vec<BlockQ8_0>>,
    f16_row: Vec<u16>,
    /// The output row quantized for the int8 LM head.
    head_act: ActI8,
    attn_scratch: AttnScratch,
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
        let mut acts = Acts::new(&ws.h, e, &mut ws.acts);
        linear(model, kt, &layer.wq, &mut acts, &mut ws.q);
        linear(model, kt, &layer.wk, &mut acts, &mut ws.k);
        linear(model, kt, &layer.wv, &mut acts, &mut ws.v);
        let fused = recipe == Recipe::LlamaCpp;
        let (base, scale) = (hp.rope_freq_base, hp.rope_freq_scale);
        for (t, &p) in ub.pos.iter().enumerate() {
            let rope = |x: &mut [f32]| rope_neox(x, hp.head_dim, p, base, scale, fused);
            rope(&mut ws.q[t * e..(t + 1) * e]);
            rope(&mut ws.k[t * e_kv..(t + 1) * e_kv]);
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
            &mut ws.attn_scratch,
        );

        rms_norm_rows(&ws.attn, e, hp.rms_eps, &layer.attn_sub_norm, &mut ws.h);
        let mut acts = Acts::new(&ws.h, e, &mut ws.acts);
        linear(model, kt, &layer.wo, &mut acts, &mut ws.tmp);
        add_rows(&mut ws.x, &ws.tmp);
        if last && ub.outputs.len() != n_tok {
            keep_rows(&mut ws.x, e, ub.outputs);
        }

        rms_norm_rows(&ws.x, e, hp.rms_eps, &layer.ffn_norm, &mut ws.h);
        let mut acts = Acts::new(&ws.h, e, &mut ws.acts);
        linear(model, kt, &layer.ffn_up, &mut acts, &mut ws.up);
        linear(model, kt, &layer.ffn_gate, &mut acts, &mut ws.gate);
        match recipe {
            // bitnet.cpp: ggml_relu, ggml_sqr, ggml_mul, one op at a time.
            Recipe::BitnetCpp => ws
                .gate
                .par_iter_mut()
                .zip(&ws.up)
                .with_min_len(4096)
                .for_each(|(g, &u)| {
                    let r = if *g > 0.0 { *g } else { 0.0 };
                    *g = (r * r) * u;
                }),
            Recipe::LlamaCpp => ws
                .gate
                .par_iter_mut()
                .zip(&ws.up)
                .with_min_len(4096)
                .for_each(|(g, &u)| {
                    *g = silu_ggml(*g, kt) * u;
                }),
        }
        rms_norm_rows(&ws.gate, ff, hp.rms_eps, &layer.ffn_sub_norm, &mut ws.h);
        let mut acts = Acts::new(&ws.h, ff, &mut ws.acts);
        linear(model, kt, &layer.ffn_down, &mut acts, &mut ws.tmp);
        add_rows(&mut ws.x, &ws.tmp);
    }
    if abort() {
        return Err(Error::Aborted);
    }
    let w = model.weights();
    rms_norm_rows(&ws.x, e, hp.rms_eps, &w.output_norm, &mut ws.h);
    if let Some(head) = model.int8_head() {
        head.logits(kt, &ws.h, logits, &mut ws.head_act);
    } else {
        lm_head(model, kt, &ws.h, logits, &mut ws.f16_row, &mut ws.act_q8_0);
    }
    Ok(())
}

/// Token embeddings: rows of token_embd converted to f32 (ggml_get_rows).
fn embed(model: &Model, tokens: &[u32], x: &mut Vec<f32>) -> Result<()> {
    let hp = model.hparams();
    let e = hp.n_embd;
    let emb = &model.weights().tok_embd;
    let data = model.tensor_data(emb.tensor);
    super::resize_for_overwrite(x, tokens.len() * e); // every row is written below
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
    super::resize_for_overwrite(out, x.len()); // every row is written below
    x.par_chunks(width * NORM_ROWS)
        .zip(out.par_chunks_mut(width * NORM_ROWS))
        .for_each(|(rows, ys)| {
            let sums = sums_of_squares(rows, width);
            for ((row, y), sum) in rows
                .chunks_exact(width)
                .zip(ys.chunks_exact_mut(width))
                .zip(sums)
            {
                let mean = (sum / width as f64) as f32;
                let scale = 1.0f32 / (mean + eps).sqrt();
                for ((y, &v), &w) in y.iter_mut().zip(row).zip(w) {
                    *y = (v * scale) * w;
                }
            }
        });
}

/// Rows of a prompt whose sums of squares are added side by side.
const NORM_ROWS: usize = 4;

/// `sum v * v` (squares in float, added in double, in order) of each of the up to
/// [`NORM_ROWS`] rows of `width` in `rows`. A row's sum is one chain of dependent double
/// additions; running four rows' chains interleaved keeps each chain's order (and bits)
/// and lets them overlap.
fn sums_of_squares(rows: &[f32], width: usize) -> [f64; NORM_ROWS] {
    let mut sums = [0.0f64; NORM_ROWS];
    if rows.len() == width * NORM_ROWS {
        let r: [&[f32]; NORM_ROWS] = std::array::from_fn(|k| &rows[k * width..(k + 1) * width]);
        for i in 0..width {
            for (s, r) in sums.iter_mut().zip(&r) {
                *s += f64::from(r[i] * r[i]);
            }
        }
    } else {
        for (s, row) in sums.iter_mut().zip(rows.chunks_exact(width)) {
            *s = row.iter().fold(0.0, |s, &v| s + f64::from(v * v));
        }
    }
    sums
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
