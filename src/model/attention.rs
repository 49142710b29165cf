//! Attention over the F16 KV cache, in the reference's operand precision and summation order.

use rayon::prelude::*;

use super::forward::{KvBuffers, UBatch};
use super::linear::tiled;
use super::{Model, Recipe};
use crate::kernels::Kernels;
use crate::quant::f16;

/// Writes the batch's K and V rows, rounded to f16, into their cells.
pub(super) fn store_kv(kv: &mut KvBuffers, layer: usize, cells: &[usize], k: &[f32], v: &[f32]) {
    let (n_ctx, e_kv) = (kv.n_ctx, kv.n_embd_kv);
    let (kc, vc) = kv.kv_mut(layer);
    let mut v16 = vec![0u16; e_kv];
    for (t, &cell) in cells.iter().enumerate() {
        f16::from_f32_slice(
            &k[t * e_kv..(t + 1) * e_kv],
            &mut kc[cell * e_kv..(cell + 1) * e_kv],
        );
        f16::from_f32_slice(&v[t * e_kv..(t + 1) * e_kv], &mut v16);
        for (d, &h) in v16.iter().enumerate() {
            vc[d * n_ctx + cell] = h;
        }
    }
}

/// Per-thread scratch rows for [`attention`].
#[derive(Default)]
pub(super) struct AttnScratch {
    /// q of up to [`HEADS`] heads rounded to f16, and widened back.
    q16: Vec<u16>,
    q32: Vec<f32>,
    /// Their probabilities (`n_kv` per head), and the same rounded to f16 and widened.
    probs: Vec<f32>,
    p16: Vec<u16>,
    p32: Vec<f32>,
}

/// Heads of one KV group computed together: the kernels read each K and V row once for
/// all of them.
const HEADS: usize = 4;

/// What every (token, head) of one layer's attention shares.
struct Shared<'a> {
    kt: &'a Kernels,
    kv: &'a KvBuffers,
    layer: usize,
    ub: &'a UBatch<'a>,
    q: &'a [f32],
    n_head: usize,
    group: usize,
    head_dim: usize,
    kq_scale: f32,
    recipe: Recipe,
    tiled_kq: bool,
    tiled_kqv: bool,
}

/// softmax(q.K^T * scale + mask) . V for every token and head, into `out` (`n_tok x n_embd`).
/// Tokens of a multi-token batch run in parallel (each value is still computed by one
/// thread in one order, so the split does not change results).
#[allow(clippy::too_many_arguments)]
pub(super) fn attention(
    model: &Model,
    kt: &Kernels,
    kv: &KvBuffers,
    layer: usize,
    ub: &UBatch<'_>,
    q: &[f32],
    out: &mut Vec<f32>,
    scratch: &mut AttnScratch,
) {
    let hp = model.hparams();
    let (e, hd, n_kv) = (hp.n_embd, hp.head_dim, ub.n_kv);
    let n_tok = ub.tokens.len();
    // Both references compute q.k with q rounded to f16 (the K cache is f16 and q is a
    // permuted view, which their multi-row f32 kernel refuses).
    let recipe = hp.arch.recipe();
    let sh = Shared {
        kt,
        kv,
        layer,
        ub,
        q,
        n_head: hp.n_head,
        group: hp.n_head / hp.n_head_kv,
        head_dim: hd,
        kq_scale: 1.0f32 / (hd as f32).sqrt(),
        recipe,
        tiled_kq: recipe.tiles_f16_pairs() && tiled(recipe, n_tok, hd, n_kv),
        tiled_kqv: tiled(recipe, n_tok, n_kv, hd)
            && (recipe == Recipe::BitnetCpp || recipe.tiles_f16_pairs()),
    };
    // attend_token writes every head of every row.
    super::resize_for_overwrite(out, n_tok * e);
    if n_tok == 1 {
        attend_token(&sh, 0, out, scratch);
    } else {
        out.par_chunks_mut(e)
            .enumerate()
            .for_each_init(AttnScratch::default, |s, (t, o)| attend_token(&sh, t, o, s));
    }
}

/// All heads of token `t`, into `o` (`n_embd`).
fn attend_token(sh: &Shared<'_>, t: usize, o: &mut [f32], s: &mut AttnScratch) {
    let (kt, hd, n_kv) = (sh.kt, sh.head_dim, sh.ub.n_kv);
    let (n_ctx, e_kv) = (sh.kv.n_ctx, sh.kv.n_embd_kv);
    let e = sh.n_head * hd;
    let q = &sh.q[t * e..(t + 1) * e];
    let mask = &sh.ub.mask[t * n_kv..(t + 1) * n_kv];
    let (kcache, vcache) = (sh.kv.k(sh.layer), sh.kv.v(sh.layer));
    // The references' f16 x f16 products become f16 x f32 ones on the f16 values widened
    // (exact), so q and the probabilities are rounded once per head, not once per row.
    let (tiled, ggml) = (kt.dot_f16_f32_tiled_rows, kt.dot_f16_f32_ggml_rows);
    let kq = if sh.tiled_kq { tiled } else { ggml };
    let kqv = if sh.tiled_kqv { tiled } else { ggml };
    // bitnet.cpp's tiled V product takes the f32 probabilities; every other one rounds them.
    let round_probs = !(sh.tiled_kqv && sh.recipe == Recipe::BitnetCpp);
    s.q16.resize(HEADS * hd, 0);
    s.q32.resize(HEADS * hd, 0.0);
    s.probs.resize(HEADS * n_kv, 0.0);
    s.p16.resize(HEADS * n_kv, 0);
    s.p32.resize(HEADS * n_kv, 0.0);
    let mut h0 = 0;
    while h0 < sh.n_head {
        let g = h0 / sh.group;
        let nh = HEADS.min((g + 1) * sh.group - h0);
        let q32 = &mut s.q32[..nh * hd];
        round_f16(&q[h0 * hd..(h0 + nh) * hd], &mut s.q16, q32);
        // Cell c's K row for group g starts at c * e_kv + g * hd.
        let probs = &mut s.probs[..nh * n_kv];
        kq(&kcache[g * hd..], e_kv, &heads(q32, hd)[..nh], probs);
        for p in probs.chunks_exact_mut(n_kv) {
            for (p, &m) in p.iter_mut().zip(mask) {
                *p = *p * sh.kq_scale + m;
            }
            (kt.softmax)(p);
        }
        let probs: &[f32] = if round_probs {
            round_f16(probs, &mut s.p16, &mut s.p32[..nh * n_kv]);
            &s.p32[..nh * n_kv]
        } else {
            probs
        };
        // Dimension d's V row (over cells) starts at (g * hd + d) * n_ctx.
        let o = &mut o[h0 * hd..(h0 + nh) * hd];
        kqv(
            &vcache[g * hd * n_ctx..],
            n_ctx,
            &heads(probs, n_kv)[..nh],
            o,
        );
        h0 += nh;
    }
}

/// `x` rounded to f16 (`tmp` holds the bits) and widened back into `out`.
fn round_f16(x: &[f32], tmp: &mut [u16], out: &mut [f32]) {
    let tmp = &mut tmp[..x.len()];
    f16::from_f32_slice(x, tmp);
    f16::to_f32_slice(tmp, out);
}

/// The rows of `width` in `x` (up to [`HEADS`]; empty slices after them), as the kernels
/// take them.
fn heads(x: &[f32], width: usize) -> [&[f32]; HEADS] {
    let mut ys: [&[f32]; HEADS] = [&[]; HEADS];
    for (y, row) in ys.iter_mut().zip(x.chunks_exact(width)) {
        *y = row;
    }
    ys
}
