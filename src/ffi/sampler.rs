//! `bitnet_sampler`: llama.cpp's samplers and sampler chain, picking the next token from
//! a context's logits.

use std::ptr;

use super::args::{handle, handle_mut, token_in, token_out};
use super::bitnet_token;
use super::boundary::{guard_or, guard_status};
use super::context::{bitnet_context, logits_row};
use super::status::{bitnet_status, Failure};
use crate::sampling::{
    Dist, Greedy, MinP, Penalties, Sampler, SamplerChain, SamplerParams, Temp, TempExt, TopK, TopP,
    Typical,
};

/// As a seed: pick a random one (and a new one on every `bitnet_sampler_reset`).
// A literal, for cbindgen; a test keeps it equal to `sampling::DEFAULT_SEED`.
pub const BITNET_DEFAULT_SEED: u32 = 0xFFFF_FFFF;

/// A sampler or a chain of samplers (opaque). Use it from one thread at a time.
///
/// A sampler made by a `bitnet_sampler_new_*` function can be used alone (a lone greedy
/// or dist picks a token; a lone filter picks none, so sampling with it fails) or added
/// to a chain; a chain applies its samplers in order.
pub struct bitnet_sampler {
    chain: SamplerChain,
    /// Made by `bitnet_sampler_chain_new` or `bitnet_sampler_new_from_params` (samplers
    /// can be added), rather than as a single sampler.
    is_chain: bool,
}

// The documented thread-safety: a sampler may move between threads (used by one at a time).
const _: () = {
    const fn movable_between_threads<T: Send>() {}
    movable_between_threads::<bitnet_sampler>()
};

/// The usual settings for a whole chain (llama.cpp's `common_params_sampling` defaults),
/// for `bitnet_sampler_new_from_params`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bitnet_sampler_params {
    /// Seed for the random draw; `BITNET_DEFAULT_SEED` (the default) picks a random one.
    pub seed: u32,
    /// Temperature, 0.8; `<= 0` samples greedily.
    pub temp: f32,
    /// Dynamic temperature range, 0 = off.
    pub dynatemp_range: f32,
    /// Dynamic temperature exponent, 1.
    pub dynatemp_exponent: f32,
    /// Top-k, 40; `<= 0` = off.
    pub top_k: i32,
    /// Top-p, 0.95; `>= 1` = off.
    pub top_p: f32,
    /// Min-p, 0.05; `<= 0` = off.
    pub min_p: f32,
    /// Typical-p, 1 = off.
    pub typical_p: f32,
    /// The fewest candidates top-p, min-p and typical keep, 0.
    pub min_keep: usize,
    /// Penalty window in accepted tokens, 64; 0 = off.
    pub penalty_last_n: i32,
    /// Repetition penalty, 1 = off.
    pub penalty_repeat: f32,
    /// Frequency penalty, 0 = off.
    pub penalty_freq: f32,
    /// Presence penalty, 0 = off.
    pub penalty_present: f32,
}

/// llama.cpp's default sampling settings (see `bitnet_sampler_params`).
///
/// Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn bitnet_sampler_default_params() -> bitnet_sampler_params {
    let d = SamplerParams::default();
    bitnet_sampler_params {
        seed: d.seed,
        temp: d.temp,
        dynatemp_range: d.dynatemp_range,
        dynatemp_exponent: d.dynatemp_exponent,
        top_k: d.top_k,
        top_p: d.top_p,
        min_p: d.min_p,
        typical_p: d.typical_p,
        min_keep: d.min_keep,
        penalty_last_n: d.penalty_last_n,
        penalty_repeat: d.penalty_repeat,
        penalty_freq: d.penalty_freq,
        penalty_present: d.penalty_present,
    }
}

fn into_handle(chain: SamplerChain, is_chain: bool) -> *mut bitnet_sampler {
    Box::into_raw(Box::new(bitnet_sampler { chain, is_chain }))
}

/// A handle holding the single sampler `s`, or NULL (with the last error) on a panic.
fn single(func: &str, s: impl Sampler + 'static) -> *mut bitnet_sampler {
    guard_or(func, ptr::null_mut(), || {
        let mut chain = SamplerChain::new();
        chain.add(Box::new(s));
        Ok(into_handle(chain, false))
    })
}

/// llama.cpp's default chain configured by `params` (NULL for the defaults): penalties,
/// top-k, typical, top-p, min-p, then temperature and a seeded random draw (greedy
/// instead when the temperature is `<= 0`). More samplers can be added. Free it with
/// `bitnet_sampler_free`. NULL on failure.
///
/// Thread-safety: any thread.
#[no_mangle]
pub unsafe extern "C" fn bitnet_sampler_new_from_params(
    params: *const bitnet_sampler_params,
) -> *mut bitnet_sampler {
    guard_or("bitnet_sampler_new_from_params", ptr::null_mut(), || {
        // SAFETY: `params` is NULL or points to a bitnet_sampler_params.
        let p = unsafe { params.as_ref() }
            .copied()
            .unwrap_or_else(|| bitnet_sampler_default_params());
        let params = SamplerParams {
            seed: p.seed,
            temp: p.temp,
            dynatemp_range: p.dynatemp_range,
            dynatemp_exponent: p.dynatemp_exponent,
            top_k: p.top_k,
            top_p: p.top_p,
            min_p: p.min_p,
            typical_p: p.typical_p,
            min_keep: p.min_keep,
            penalty_last_n: p.penalty_last_n,
            penalty_repeat: p.penalty_repeat,
            penalty_freq: p.penalty_freq,
            penalty_present: p.penalty_present,
        };
        Ok(into_handle(SamplerChain::from_params(&params), true))
    })
}

/// An empty chain; add samplers with `bitnet_sampler_chain_add`, ending with a greedy or
/// dist sampler. NULL on failure.
///
/// Thread-safety: any thread.
#[no_mangle]
pub extern "C" fn bitnet_sampler_chain_new() -> *mut bitnet_sampler {
    guard_or("bitnet_sampler_chain_new", ptr::null_mut(), || {
        Ok(into_handle(SamplerChain::new(), true))
    })
}

/// Appends `sampler` to `chain`. The chain takes `sampler` over whatever the outcome: do
/// not use or free it afterwards (on failure it is freed here). Fails with
/// `BITNET_ERR_INVALID_ARGUMENT` when `chain` is a single sampler rather than a chain, or
/// is `sampler` itself (then nothing is freed); `BITNET_ERR_NULL_POINTER` for NULL.
///
/// Thread-safety: the thread using `chain`.
#[no_mangle]
pub unsafe extern "C" fn bitnet_sampler_chain_add(
    chain: *mut bitnet_sampler,
    sampler: *mut bitnet_sampler,
) -> bitnet_status {
    guard_status("bitnet_sampler_chain_add", || {
        if chain == sampler && !chain.is_null() {
            return Err(Failure::invalid("cannot add a chain to itself"));
        }
        let added = if sampler.is_null() {
            None
        } else {
            // SAFETY: a non-NULL sampler came from `Box::into_raw` here and, by this
            // function's contract, is handed over now; it is taken exactly once.
            Some(unsafe { Box::from_raw(sampler) })
        };
        // SAFETY: `chain` is NULL or a live sampler used by this thread only, distinct
        // from `sampler` (checked above).
        let target = unsafe { handle_mut(chain, "chain") }?;
        let added = added.ok_or_else(|| Failure::null("sampler"))?;
        if !target.is_chain {
            return Err(Failure::invalid(
                "chain is a single sampler; make chains with bitnet_sampler_chain_new",
            ));
        }
        let mut added = *added;
        if added.is_chain {
            target.chain.add(Box::new(added.chain));
        } else {
            // a single sampler joins the chain itself, not wrapped in a one-sampler chain
            while let Some(one) = added.chain.remove(0) {
                target.chain.add(one);
            }
        }
        Ok(())
    })
}

/// Greedy: the token with the largest logit. NULL on failure (as for every
/// `bitnet_sampler_new_*`); free with `bitnet_sampler_free` unless added to a chain.
///
/// Thread-safety: any thread (as for every `bitnet_sampler_new_*`).
#[no_mangle]
pub extern "C" fn bitnet_sampler_new_greedy() -> *mut bitnet_sampler {
    single("bitnet_sampler_new_greedy", Greedy)
}

/// A random draw from the softmax of the logits, seeded (`BITNET_DEFAULT_SEED`: a random
/// seed); a seed gives llama.cpp's tokens.
#[no_mangle]
pub extern "C" fn bitnet_sampler_new_dist(seed: u32) -> *mut bitnet_sampler {
    single("bitnet_sampler_new_dist", Dist::new(seed))
}

/// Divides the logits by `temp`; `temp <= 0` keeps only the best candidate.
#[no_mangle]
pub extern "C" fn bitnet_sampler_new_temp(temp: f32) -> *mut bitnet_sampler {
    single("bitnet_sampler_new_temp", Temp(temp))
}

/// Dynamic temperature: with `delta > 0`, between `temp - delta` and `temp + delta` by the
/// entropy of the candidates, raised to `exponent`; otherwise as `bitnet_sampler_new_temp`.
#[no_mangle]
pub extern "C" fn bitnet_sampler_new_temp_ext(
    temp: f32,
    delta: f32,
    exponent: f32,
) -> *mut bitnet_sampler {
    single(
        "bitnet_sampler_new_temp_ext",
        TempExt {
            temp,
            delta,
            exponent,
        },
    )
}

/// Keeps the `k` most likely candidates; `k <= 0` keeps all.
#[no_mangle]
pub extern "C" fn bitnet_sampler_new_top_k(k: i32) -> *mut bitnet_sampler {
    single("bitnet_sampler_new_top_k", TopK(k))
}

/// Keeps the most likely candidates whose probabilities add up to `p` (nucleus
/// sampling), and at least `min_keep`; `p >= 1` keeps all.
#[no_mangle]
pub extern "C" fn bitnet_sampler_new_top_p(p: f32, min_keep: usize) -> *mut bitnet_sampler {
    single("bitnet_sampler_new_top_p", TopP { p, min_keep })
}

/// Keeps the candidates at least `p` times as likely as the best, and at least
/// `min_keep`; `p <= 0` keeps all.
#[no_mangle]
pub extern "C" fn bitnet_sampler_new_min_p(p: f32, min_keep: usize) -> *mut bitnet_sampler {
    single("bitnet_sampler_new_min_p", MinP { p, min_keep })
}

/// Locally typical sampling: keeps the candidates closest to the expected surprise up to
/// mass `p`, and at least `min_keep`; `p >= 1` keeps all.
#[no_mangle]
pub extern "C" fn bitnet_sampler_new_typical(p: f32, min_keep: usize) -> *mut bitnet_sampler {
    single("bitnet_sampler_new_typical", Typical { p, min_keep })
}

/// Penalises the tokens among the last `last_n` accepted ones: logits divided (or, when
/// negative, multiplied) by `repeat`, minus `freq` per occurrence and `present` once.
/// `last_n <= 0`, or `repeat == 1` with `freq == present == 0`, does nothing.
#[no_mangle]
pub extern "C" fn bitnet_sampler_new_penalties(
    last_n: i32,
    repeat: f32,
    freq: f32,
    present: f32,
) -> *mut bitnet_sampler {
    single(
        "bitnet_sampler_new_penalties",
        Penalties::new(last_n, repeat, freq, present),
    )
}

/// Samples a token from the logits of token `i` of the context's last decode (negative
/// `i` counts from the end, as for `bitnet_get_logits`) and accepts it, like
/// `llama_sampler_sample`. Returns -1 on failure: no such logits row, a sampler that
/// selects no token (a chain must end with greedy or dist), NULL arguments.
///
/// Thread-safety: the thread using both the sampler and the context.
#[no_mangle]
pub unsafe extern "C" fn bitnet_sampler_sample(
    sampler: *mut bitnet_sampler,
    ctx: *const bitnet_context,
    i: i32,
) -> bitnet_token {
    guard_or("bitnet_sampler_sample", -1, || {
        // SAFETY: `sampler` is NULL or a live sampler used by this thread only.
        let s = unsafe { handle_mut(sampler, "sampler") }?;
        // SAFETY: `ctx` is NULL or a live context.
        let c = unsafe { handle(ctx, "ctx") }?;
        token_out(s.chain.sample(logits_row(c, i)?)?)
    })
}

/// Records `token` in the samplers' histories (for penalties); `bitnet_sampler_sample`
/// does this itself, so call it for tokens that were not sampled, such as the prompt.
/// A NULL sampler or negative token does nothing but set `bitnet_last_error`.
///
/// Thread-safety: the sampler's thread.
#[no_mangle]
pub unsafe extern "C" fn bitnet_sampler_accept(sampler: *mut bitnet_sampler, token: bitnet_token) {
    guard_or("bitnet_sampler_accept", (), || {
        // SAFETY: `sampler` is NULL or a live sampler used by this thread only.
        let s = unsafe { handle_mut(sampler, "sampler") }?;
        s.chain.accept(token_in(token, "token")?);
        Ok(())
    })
}

/// Clears histories and restarts random streams from their seed (a new random seed for
/// `BITNET_DEFAULT_SEED`). NULL does nothing but set `bitnet_last_error`.
///
/// Thread-safety: the sampler's thread.
#[no_mangle]
pub unsafe extern "C" fn bitnet_sampler_reset(sampler: *mut bitnet_sampler) {
    guard_or("bitnet_sampler_reset", (), || {
        // SAFETY: `sampler` is NULL or a live sampler used by this thread only.
        unsafe { handle_mut(sampler, "sampler") }?.chain.reset();
        Ok(())
    })
}

/// Frees a sampler or a chain with everything added to it. NULL is allowed and does
/// nothing. Do not free a sampler that was added to a chain.
///
/// Thread-safety: once no other call is using the sampler.
#[no_mangle]
pub unsafe extern "C" fn bitnet_sampler_free(sampler: *mut bitnet_sampler) {
    guard_or("bitnet_sampler_free", (), || {
        if !sampler.is_null() {
            // SAFETY: a non-NULL sampler came from `Box::into_raw` here and is freed once.
            drop(unsafe { Box::from_raw(sampler) });
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_seed_is_the_rust_one() {
        assert_eq!(super::BITNET_DEFAULT_SEED, crate::sampling::DEFAULT_SEED);
    }
}
