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
    q16: Vec<u16>,
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

/// All heads of token `t`, into `o` (`n_embd`).
fn attend_token(sh: &Shared<'_>, t: usize, o: &mut [f32], s: &mut AttnScratch) {
    let (kt, hd, n_kv) = (sh.kt, sh.head_dim, sh.ub.n_kv);
    let (n_ctx, e_kv) = (sh.kv.n_ctx, sh.kv.n_embd_kv);
    let e = sh.n_head * hd;
    let mask = &sh.ub.mask[t * n_kv..(t + 1) * n_kv];
    let (kcache, vcache) = (sh.kv.k(sh.layer), sh.kv.v(sh.layer));
    s.probs.resize(n_kv, 0.0);
    s.p16.resize(n_kv, 0);
    for h in 0..sh.n_head {
        let g = h / sh.group;
        s.q16.resize(hd, 0);
        f16::from_f32_slice(&sh.q[t * e + h * hd..t * e + (h + 1) * hd], &mut s.q16);
        // Cell c's K row for this head starts at c * e_kv + g * hd.
        let k_rows = &kcache[g * hd..];
        let kq = if sh.tiled_kq {
            kt.dot_f16_f16_tiled_rows
        } else {
            kt.dot_f16_ggml_rows
        };
        kq(k_rows, e_kv, &s.q16, &mut s.probs);
        for (p, &m) in s.probs.iter_mut().zip(mask) {
            *p = *p * sh.kq_scale + m;
        }
        (kt.softmax)(&mut s.probs);
        let o = &mut o[h * hd..(h + 1) * hd];
        // Dimension d's V row (over cells) starts at (g * hd + d) * n_ctx.
        let v_rows = &vcache[g * hd * n_ctx..];
        if sh.tiled_kqv && sh.recipe == Recipe::BitnetCpp {
            // bitnet.cpp: several query rows meet the f32 probabilities in tinyBLAS.
            (kt.dot_f16_f32_tiled_rows)(v_rows, n_ctx, &s.probs, o);
        } else {
            f16::from_f32_slice(&s.probs, &mut s.p16);
            let kqv = if sh.tiled_kqv {
                kt.dot_f16_f16_tiled_rows
            } else {
                kt.dot_f16_ggml_rows
            };
            kqv(v_rows, n_ctx, &s.p16, o);
        }
    }
}
