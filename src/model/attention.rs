//! Attention over the F16 KV cache, in the reference's operand precision and summation order.

use super::forward::{KvBuffers, UBatch};
use super::linear::tiled;
use super::{Model, Recipe};
use crate::kernels::{self, Kernels};
use crate::quant::f16;

/// Writes the batch's K and V rows, rounded to f16, into their cells.
pub(super) fn store_kv(kv: &mut KvBuffers, layer: usize, cells: &[usize], k: &[f32], v: &[f32]) {
    let (n_ctx, e_kv) = (kv.n_ctx, kv.n_embd_kv);
    let (kc, vc) = kv.kv_mut(layer);
    for (t, &cell) in cells.iter().enumerate() {
        for d in 0..e_kv {
            kc[cell * e_kv + d] = f16::from_f32(k[t * e_kv + d]);
            vc[d * n_ctx + cell] = f16::from_f32(v[t * e_kv + d]);
        }
    }
}

/// softmax(q.K^T * scale + mask) . V for every token and head, into `out` (`n_tok x n_embd`).
#[allow(clippy::too_many_arguments)]
pub(super) fn attention(
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
            let kcache = kv.k(layer);
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
            let vcache = kv.v(layer);
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

/// ggml_soft_max (after scale and mask): max, exp(x - max) with the AVX-512 exponential
/// over whole 16-lane chunks (libm expf for the rest), the sum in double chunk by chunk,
/// then a multiply by `(float)(1 / sum)`.
pub(super) fn softmax_ggml(x: &mut [f32], kt: &Kernels) {
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
