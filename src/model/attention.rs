//! Attention over the F16 KV cache, in the reference's operand precision and summation order.

use rayon::prelude::*;

use super::forward::{KvBuffers, UBatch};
use super::linear::tiled;
use super::{Model, Recipe};
use crate::kernels::order::GGML_STEP;
use crate::kernels::Kernels;
use crate::quant::f16;

/// Writes the batch's K and V rows, rounded to f16, into their cells.
pub(super) fn store_kv(kv: &mut KvBuffers, layer: usize, cells: &[usize], k: &[f32], v: &[f32]) {
    let (n_ctx, e_kv) = (kv.n_ctx, kv.n_embd_kv);
    let (kc, vc) = kv.kv_mut(layer);
    // V is stored transposed: converted a stack-sized chunk at a time, then scattered.
    let mut v16 = [0u16; 256];
    for (t, &cell) in cells.iter().enumerate() {
        f16::from_f32_slice(
            &k[t * e_kv..(t + 1) * e_kv],
            &mut kc[cell * e_kv..(cell + 1) * e_kv],
        );
        for (c, chunk) in v[t * e_kv..(t + 1) * e_kv].chunks(v16.len()).enumerate() {
            let v16 = &mut v16[..chunk.len()];
            f16::from_f32_slice(chunk, v16);
            for (i, &h) in v16.iter().enumerate() {
                vc[(c * 256 + i) * n_ctx + cell] = h;
            }
        }
    }
}

/// Per-thread scratch rows for [`attention`].
#[derive(Default)]
pub(super) struct AttnScratch {
    /// q of the heads of one KV group, rounded to f16.
    q16: Vec<u16>,
    /// Their probabilities (`n_kv` per head), and the same rounded to f16.
    probs: Vec<f32>,
    p16: Vec<u16>,
}

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

/// All heads of token `t`, into `o` (`n_embd`). The heads sharing a KV head go together,
/// so each cached K and V row is read once for all of them.
fn attend_token(sh: &Shared<'_>, t: usize, o: &mut [f32], s: &mut AttnScratch) {
    let (kt, hd, grp) = (sh.kt, sh.head_dim, sh.group);
    let (n_ctx, e_kv) = (sh.kv.n_ctx, sh.kv.n_embd_kv);
    let e = sh.n_head * hd;
    let n_kv = visible_cells(&sh.ub.mask[t * sh.ub.n_kv..(t + 1) * sh.ub.n_kv]);
    let mask = &sh.ub.mask[t * sh.ub.n_kv..t * sh.ub.n_kv + n_kv];
    let (kcache, vcache) = (sh.kv.k(sh.layer), sh.kv.v(sh.layer));
    s.probs.resize(grp * n_kv, 0.0);
    s.p16.resize(grp * n_kv, 0);
    for g in 0..sh.n_head / grp {
        // The group's heads are adjacent in q and in o.
        let heads = t * e + g * grp * hd..t * e + (g + 1) * grp * hd;
        s.q16.resize(grp * hd, 0);
        f16::from_f32_slice(&sh.q[heads], &mut s.q16);
        let krows = &kcache[g * hd..];
        if sh.tiled_kq {
            (kt.rows_f16_f16_tiled)(krows, e_kv, &s.q16, hd, &mut s.probs);
        } else {
            (kt.rows_f16_ggml)(krows, e_kv, &s.q16, hd, &mut s.probs);
        }
        for probs in s.probs.chunks_exact_mut(n_kv) {
            for (p, &m) in probs.iter_mut().zip(mask) {
                *p = *p * sh.kq_scale + m;
            }
            (kt.softmax)(probs);
        }
        let o = &mut o[g * grp * hd..(g + 1) * grp * hd];
        let vrows = &vcache[g * hd * n_ctx..];
        if sh.tiled_kqv && sh.recipe == Recipe::BitnetCpp {
            // bitnet.cpp: several query rows meet the f32 probabilities in tinyBLAS.
            (kt.rows_f16_f32_tiled)(vrows, n_ctx, &s.probs, n_kv, o);
        } else {
            f16::from_f32_slice(&s.probs, &mut s.p16);
            if sh.tiled_kqv {
                (kt.rows_f16_f16_tiled)(vrows, n_ctx, &s.p16, n_kv, o);
            } else {
                (kt.rows_f16_ggml)(vrows, n_ctx, &s.p16, n_kv, o);
            }
        }
    }
}

/// How many leading cells of a mask row attention must visit: up to the last visible cell,
/// rounded up to a multiple of `GGML_STEP` (64). The cells after it are masked (-inf), so
/// the references give them probability `exp(-inf) = 0` exactly and their products add
/// nothing to any sum; cutting at a multiple of 64 keeps every visited element in its lane
/// of ggml's and tinyBLAS's accumulators, so no sum changes (in a causal prompt this halves
/// the work). A row with no visible cell is visited whole, as the references do.
fn visible_cells(mask: &[f32]) -> usize {
    match mask.iter().rposition(|&m| m != f32::NEG_INFINITY) {
        Some(last) => (last + 1).next_multiple_of(GGML_STEP).min(mask.len()),
        None => mask.len(),
    }
}
