//! The samplers against independent oracles: straightforward full-sort reference
//! implementations written here, token sequences produced by llama.cpp itself, and
//! statistics of many draws.

use std::cmp::Ordering;

use bitnet::sampling::rng::Mt19937;
use bitnet::sampling::{
    Candidates, Dist, Greedy, MinP, Penalties, Sampler, SamplerChain, SamplerParams, Temp, TempExt,
    TopK, TopP, Typical,
};
use bitnet::Error;

const SIZES: [usize; 8] = [1, 2, 3, 17, 1000, 1025, 4352, 128_256];

// ---- Test data ----

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next() >> 40) as f32 / (1u64 << 24) as f32)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Uniform in [-10, 10), with some exactly repeated values (ties).
    Wide,
    /// Uniform in [-0.01, 0.01): nearly flat, so top-p needs most of the list.
    Flat,
    /// Wide plus three dominant tokens.
    Peaked,
}

fn random_logits(n: usize, seed: u64, kind: Kind) -> Vec<f32> {
    let mut r = SplitMix(seed ^ ((n as u64) << 32));
    let (lo, hi) = match kind {
        Kind::Flat => (-0.01, 0.01),
        _ => (-10.0, 10.0),
    };
    let mut v: Vec<f32> = (0..n).map(|_| r.uniform(lo, hi)).collect();
    for _ in 0..n / 50 {
        let (a, b) = (r.below(n), r.below(n));
        v[a] = v[b];
    }
    if let Kind::Peaked = kind {
        for _ in 0..3 {
            let i = r.below(n);
            v[i] += 15.0;
        }
    }
    v
}

// ---- Reference implementations: lists of (id, logit), full sorts, plain loops ----

type List = Vec<(u32, f32)>;

fn canon(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0))
}

fn list_of(logits: &[f32]) -> List {
    logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, l))
        .collect()
}

fn sorted(list: &[(u32, f32)]) -> List {
    let mut v = list.to_vec();
    v.sort_by(canon);
    v
}

/// f32 softmax in list order, as every llama.cpp sampler computes it.
fn softmax(list: &[(u32, f32)]) -> Vec<f32> {
    let max = list.iter().map(|t| t.1).fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = list.iter().map(|t| (t.1 - max).exp()).collect();
    let mut sum = 0.0f32;
    for &x in &e {
        sum += x;
    }
    e.iter().map(|&x| x / sum).collect()
}

fn ref_top_k(list: &[(u32, f32)], k: i32) -> List {
    if k <= 0 {
        return list.to_vec();
    }
    let mut s = sorted(list);
    s.truncate(k as usize);
    s
}

/// The kept list and the probabilities (of the whole input) of its entries.
fn ref_top_p(list: &[(u32, f32)], p: f32, min_keep: usize) -> (List, Vec<f32>) {
    let probs = softmax(list);
    if p >= 1.0 {
        return (list.to_vec(), probs);
    }
    let mut order: Vec<usize> = (0..list.len()).collect();
    order.sort_by(|&a, &b| canon(&list[a], &list[b]));
    let mut cum = 0.0f32;
    let mut keep = order.len();
    for (i, &j) in order.iter().enumerate() {
        cum += probs[j];
        if cum >= p && i + 1 >= min_keep {
            keep = i + 1;
            break;
        }
    }
    order.truncate(keep);
    let kept = order.iter().map(|&j| list[j]).collect();
    let kept_p = order.iter().map(|&j| probs[j]).collect();
    (kept, kept_p)
}

/// `is_sorted`: the list is in canonical order and flagged so (llama.cpp then skips the
/// order-preserving filter).
fn ref_min_p(list: &[(u32, f32)], p: f32, min_keep: usize, is_sorted: bool) -> List {
    if p <= 0.0 || list.is_empty() {
        return list.to_vec();
    }
    let max = list.iter().map(|t| t.1).fold(f32::MIN, f32::max);
    let threshold = max + p.ln();
    let matching: List = list.iter().copied().filter(|t| t.1 >= threshold).collect();
    if !is_sorted && !matching.is_empty() && matching.len() >= min_keep {
        return matching;
    }
    let s = sorted(list);
    let keep = matching.len().max(min_keep).max(1).min(s.len());
    s[..keep].to_vec()
}

fn ref_typical(list: &[(u32, f32)], p: f32, min_keep: usize) -> List {
    if p >= 1.0 {
        return list.to_vec();
    }
    let s = sorted(list);
    let probs = softmax(&s);
    let mut entropy = 0.0f32;
    for &q in &probs {
        if q > 0.0 {
            entropy -= q * q.ln();
        }
    }
    let score = |q: f32| (-q.ln() - entropy).abs();
    let mut order: Vec<usize> = (0..s.len()).collect();
    order.sort_by(|&a, &b| score(probs[a]).partial_cmp(&score(probs[b])).unwrap());
    let mut cum = 0.0f32;
    let mut keep = order.len();
    for (i, &j) in order.iter().enumerate() {
        cum += probs[j];
        if cum > p && (min_keep == 0 || i + 1 >= min_keep) {
            keep = i + 1;
            break;
        }
    }
    order[..keep].iter().map(|&j| s[j]).collect()
}

fn ref_temp(list: &[(u32, f32)], t: f32) -> List {
    if t > 0.0 {
        return list.iter().map(|&(id, l)| (id, l / t)).collect();
    }
    let best = sorted(list)[0].0;
    list.iter()
        .map(|&(id, l)| (id, if id == best { l } else { f32::NEG_INFINITY }))
        .collect()
}

fn ref_temp_ext(list: &[(u32, f32)], temp: f32, delta: f32, exponent: f32) -> List {
    if delta <= 0.0 || list.len() <= 1 {
        return if delta <= 0.0 {
            ref_temp(list, temp)
        } else {
            list.to_vec()
        };
    }
    let s = sorted(list);
    let probs = softmax(&s);
    let mut entropy = 0.0f32;
    for &q in &probs {
        if q > 0.0 {
            entropy -= q * q.ln();
        }
    }
    let lo = (temp - delta).max(0.0);
    let hi = temp + delta;
    let normalized = entropy / -(1.0f32 / s.len() as f32).ln();
    ref_temp(&s, lo + (hi - lo) * normalized.powf(exponent))
}

/// Penalties from the explicit history (recounted from scratch every time).
fn ref_penalties(list: &[(u32, f32)], history: &[u32], last_n: usize, pen: [f32; 3]) -> List {
    let window = &history[history.len().saturating_sub(last_n)..];
    list.iter()
        .map(|&(id, l)| {
            let count = window.iter().filter(|&&t| t == id).count();
            if count == 0 {
                return (id, l);
            }
            let l = if l <= 0.0 { l * pen[0] } else { l / pen[0] };
            (id, l - (count as f32 * pen[1] + pen[2]))
        })
        .collect()
}

fn ref_greedy(list: &[(u32, f32)]) -> u32 {
    sorted(list)[0].0
}

/// llama.cpp's draw: f32 exponentials, f64 running sum, first index reaching `u * total`.
fn ref_dist(list: &[(u32, f32)], u: f64) -> usize {
    if list.len() == 1 {
        return 0;
    }
    let max = list.iter().map(|t| t.1).fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = list.iter().map(|t| (t.1 - max).exp()).collect();
    let total: f64 = e.iter().map(|&x| f64::from(x)).sum();
    let target = total * u;
    let mut run = 0.0f64;
    for (i, &x) in e.iter().enumerate() {
        run += f64::from(x);
        if run >= target {
            return i;
        }
    }
    list.len() - 1
}

// ---- Helpers ----

fn apply(s: &mut dyn Sampler, logits: &[f32]) -> Candidates {
    let mut c = Candidates::from_logits(logits);
    s.apply(&mut c);
    c
}

fn as_list(c: &Candidates) -> List {
    c.data.iter().map(|t| (t.id, t.logit)).collect()
}

/// Every size and kind; the 128k vocabulary only with `big_seeds` seeds (debug builds
/// sort slowly).
fn cases(big_seeds: u64) -> Vec<(usize, Kind, Vec<f32>)> {
    let mut out = Vec::new();
    for n in SIZES {
        let seeds = if n > 10_000 { big_seeds } else { 2 };
        for seed in 0..seeds {
            for kind in [Kind::Wide, Kind::Flat, Kind::Peaked] {
                out.push((n, kind, random_logits(n, seed, kind)));
            }
        }
    }
    out
}

// ---- Each sampler against its reference ----

#[test]
fn top_k_matches_full_sort() {
    for (n, kind, logits) in cases(1) {
        let list = list_of(&logits);
        for k in [-1, 0, 1, 2, 40, n as i32 - 1, n as i32, n as i32 + 5] {
            let c = apply(&mut TopK(k), &logits);
            assert_eq!(as_list(&c), ref_top_k(&list, k), "n={n} {kind:?} k={k}");
            assert_eq!(c.sorted, k > 0);
        }
    }
}

#[test]
fn top_p_matches_full_sort() {
    for (n, kind, logits) in cases(1) {
        let list = list_of(&logits);
        let grid: &[(f32, usize)] = if n > 10_000 {
            &[(0.5, 0), (0.95, 1), (0.999, 300)]
        } else {
            &[
                (0.0, 0),
                (0.1, 1),
                (0.5, 0),
                (0.9, 5),
                (0.95, 1),
                (0.999, 0),
                (0.5, 300),
                (1.0, 0),
            ]
        };
        for &(p, min_keep) in grid {
            let c = apply(&mut TopP { p, min_keep }, &logits);
            let (want, want_p) = ref_top_p(&list, p, min_keep);
            let what = format!("n={n} {kind:?} p={p} min_keep={min_keep}");
            assert_eq!(as_list(&c), want, "{what}");
            let got_p: Vec<f32> = c.data.iter().map(|t| t.p).collect();
            if p < 1.0 {
                assert_eq!(got_p, want_p, "{what}");
            }
        }
    }
}

#[test]
fn min_p_matches_reference_on_unsorted_and_sorted_lists() {
    for (n, kind, logits) in cases(1) {
        let list = list_of(&logits);
        let grid: &[(f32, usize)] = if n > 10_000 {
            &[(0.05, 0), (1.5, 2), (0.05, 300)]
        } else {
            &[
                (0.0, 0),
                (0.01, 1),
                (0.05, 0),
                (0.5, 5),
                (1.0, 0),
                (1.5, 2),
                (0.05, 300),
            ]
        };
        for &(p, min_keep) in grid {
            let what = format!("n={n} {kind:?} p={p} min_keep={min_keep}");
            let c = apply(&mut MinP { p, min_keep }, &logits);
            assert_eq!(as_list(&c), ref_min_p(&list, p, min_keep, false), "{what}");

            let mut c = Candidates::from_logits(&logits);
            c.sort();
            MinP { p, min_keep }.apply(&mut c);
            let want = ref_min_p(&sorted(&list), p, min_keep, true);
            assert_eq!(as_list(&c), want, "{what}");
        }
    }
}

#[test]
fn typical_matches_reference() {
    for (n, kind, logits) in cases(1) {
        let list = list_of(&logits);
        let grid: &[(f32, usize)] = if n > 10_000 {
            &[(0.5, 0), (0.9, 3)]
        } else {
            &[(0.0, 0), (0.2, 1), (0.5, 0), (0.9, 5), (1.0, 0)]
        };
        for &(p, min_keep) in grid {
            let c = apply(&mut Typical { p, min_keep }, &logits);
            let want = ref_typical(&list, p, min_keep);
            assert_eq!(
                as_list(&c),
                want,
                "n={n} {kind:?} p={p} min_keep={min_keep}"
            );
        }
    }
}

#[test]
fn temperatures_match_reference() {
    for (n, kind, logits) in cases(1) {
        let list = list_of(&logits);
        for t in [-1.0, 0.0, 0.5, 1.0, 1.7] {
            let c = apply(&mut Temp(t), &logits);
            assert_eq!(as_list(&c), ref_temp(&list, t), "n={n} {kind:?} t={t}");
        }
        for (t, d, e) in [
            (0.8, 0.0, 1.0),
            (0.8, 0.5, 1.0),
            (0.2, 0.5, 2.0),
            (1.0, 1.0, 0.5),
        ] {
            let mut s = TempExt {
                temp: t,
                delta: d,
                exponent: e,
            };
            let c = apply(&mut s, &logits);
            let what = format!("n={n} {kind:?} temp-ext {t} {d} {e}");
            assert_eq!(as_list(&c), ref_temp_ext(&list, t, d, e), "{what}");
        }
    }
}

#[test]
fn greedy_matches_reference() {
    for (n, kind, logits) in cases(1) {
        let mut c = apply(&mut Greedy, &logits);
        assert_eq!(c.selected_token(), Some(ref_greedy(&list_of(&logits))));
        // The order of the list does not matter.
        c.data.reverse();
        c.selected = None;
        Greedy.apply(&mut c);
        assert_eq!(
            c.selected_token(),
            Some(ref_greedy(&list_of(&logits))),
            "n={n} {kind:?}"
        );
    }
}

#[test]
fn dist_matches_reference_draws() {
    for (n, kind, logits) in cases(1) {
        let mut d = Dist::new(n as u32);
        let mut rng = Mt19937::new(n as u32);
        for _ in 0..3 {
            let c = apply(&mut d, &logits);
            let want = ref_dist(&list_of(&logits), rng.next_f64());
            assert_eq!(c.selected, Some(want), "n={n} {kind:?}");
            let sum: f64 = c.data.iter().map(|t| f64::from(t.p)).sum();
            assert!((sum - 1.0).abs() < 1e-3, "n={n} {kind:?} sum={sum}");
        }
    }
}

// ---- Chains ----

/// Steps a chain and its reference pipeline side by side on changing logits.
fn check_chain(
    chain: &mut SamplerChain,
    seed: u32,
    n: usize,
    steps: u64,
    pipeline: impl Fn(&[(u32, f32)], &[u32]) -> List,
) {
    let mut rng = Mt19937::new(seed);
    let mut history = Vec::new();
    for step in 0..steps {
        let logits = random_logits(n, 1000 + step, Kind::Wide);
        let tok = chain.sample(&logits).unwrap();
        let list = pipeline(&list_of(&logits), &history);
        let want = list[ref_dist(&list, rng.next_f64())].0;
        assert_eq!(tok, want, "n={n} step={step}");
        history.push(tok);
    }
}

#[test]
fn chain_composition_matches_reference_pipeline() {
    for n in [17, 4352] {
        for seed in [1, 2, 3] {
            let mut chain = SamplerChain::new();
            chain.add(Box::new(Penalties::new(32, 1.2, 0.1, 0.2)));
            chain.add(Box::new(TopK(50)));
            chain.add(Box::new(TopP {
                p: 0.9,
                min_keep: 1,
            }));
            chain.add(Box::new(MinP {
                p: 0.05,
                min_keep: 1,
            }));
            chain.add(Box::new(Temp(0.7)));
            chain.add(Box::new(Dist::new(seed)));
            check_chain(&mut chain, seed, n, 40, |list, history| {
                let l = ref_penalties(list, history, 32, [1.2, 0.1, 0.2]);
                let l = ref_top_k(&l, 50);
                let l = ref_top_p(&l, 0.9, 1).0;
                let l = ref_min_p(&l, 0.05, 1, true);
                ref_temp(&l, 0.7)
            });

            // No top-k: top-p on the long unsorted list, then an unsorted min-p.
            let mut chain = SamplerChain::new();
            chain.add(Box::new(TopP {
                p: 0.8,
                min_keep: 0,
            }));
            chain.add(Box::new(Typical {
                p: 0.9,
                min_keep: 0,
            }));
            chain.add(Box::new(MinP {
                p: 0.1,
                min_keep: 0,
            }));
            chain.add(Box::new(TempExt {
                temp: 0.8,
                delta: 0.3,
                exponent: 1.0,
            }));
            chain.add(Box::new(Dist::new(seed)));
            check_chain(&mut chain, seed, n, 40, |list, _| {
                let l = ref_top_p(list, 0.8, 0).0;
                let l = ref_typical(&l, 0.9, 0);
                let l = ref_min_p(&l, 0.1, 0, false);
                ref_temp_ext(&l, 0.8, 0.3, 1.0)
            });
        }
    }
}

#[test]
fn from_params_matches_its_documented_chain() {
    let params = SamplerParams {
        seed: 77,
        penalty_repeat: 1.1,
        penalty_freq: 0.05,
        typical_p: 0.95,
        ..SamplerParams::default()
    };
    let mut chain = SamplerChain::from_params(&params);
    check_chain(&mut chain, 77, 4352, 60, |list, history| {
        let l = ref_penalties(list, history, 64, [1.1, 0.05, 0.0]);
        let l = ref_top_k(&l, 40);
        let l = ref_typical(&l, 0.95, 0);
        let l = ref_top_p(&l, 0.95, 0).0;
        let l = ref_min_p(&l, 0.05, 0, true);
        ref_temp(&l, 0.8)
    });

    // temp <= 0: the same filters, then the best remaining candidate.
    let greedy = SamplerParams {
        temp: 0.0,
        ..params
    };
    let mut chain = SamplerChain::from_params(&greedy);
    let mut history = Vec::new();
    for step in 0..30 {
        let logits = random_logits(4352, 500 + step, Kind::Wide);
        let l = ref_penalties(&list_of(&logits), &history, 64, [1.1, 0.05, 0.0]);
        let l = ref_typical(&ref_top_k(&l, 40), 0.95, 0);
        let tok = chain.sample(&logits).unwrap();
        assert_eq!(tok, ref_greedy(&l), "step={step}");
        history.push(tok);
    }
}

#[test]
fn same_seed_same_sequence_different_seed_different_sequence() {
    let run = |seed: u32| -> Vec<u32> {
        let mut chain = SamplerChain::from_params(&SamplerParams {
            seed,
            top_k: 0,
            top_p: 0.99,
            min_p: 0.0,
            temp: 1.5,
            ..SamplerParams::default()
        });
        let logits = random_logits(1000, 9, Kind::Wide);
        (0..1000).map(|_| chain.sample(&logits).unwrap()).collect()
    };
    let a = run(1234);
    assert_eq!(a, run(1234));
    let b = run(1235);
    assert_ne!(a, b);
    // Not a degenerate stream: many distinct tokens.
    let mut distinct = a.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() > 50, "{}", distinct.len());

    // reset() and clones replay the same stream.
    let mut chain = SamplerChain::from_params(&SamplerParams {
        seed: 5,
        ..SamplerParams::default()
    });
    let logits = random_logits(1000, 3, Kind::Flat);
    let first: Vec<u32> = (0..50).map(|_| chain.sample(&logits).unwrap()).collect();
    let mut copy = chain.clone();
    let next: Vec<u32> = (0..50).map(|_| chain.sample(&logits).unwrap()).collect();
    assert_eq!(
        next,
        (0..50)
            .map(|_| copy.sample(&logits).unwrap())
            .collect::<Vec<_>>()
    );
    chain.reset();
    assert_eq!(
        first,
        (0..50)
            .map(|_| chain.sample(&logits).unwrap())
            .collect::<Vec<_>>()
    );
}

// ---- Statistics ----

/// Pearson's chi-square of observed counts against probabilities.
fn chi_square(counts: &[u64], probs: &[f64]) -> f64 {
    let total: u64 = counts.iter().sum();
    counts
        .iter()
        .zip(probs)
        .map(|(&o, &p)| {
            let e = p * total as f64;
            (o as f64 - e).powi(2) / e
        })
        .sum()
}

#[test]
fn dist_frequencies_match_softmax() {
    // (logits, draws, chi-square bound): the 99.9% quantile for len-1 degrees of freedom.
    let small = vec![0.0, 1.0, 2.0, -1.0, 0.5, 1.5, -0.5, 3.0];
    let mut r = SplitMix(11);
    let wide: Vec<f32> = (0..64).map(|_| r.uniform(-1.5, 1.5)).collect();
    for (logits, draws, bound) in [(small, 200_000u64, 24.32), (wide, 200_000, 103.4)] {
        let mut d = Dist::new(2024);
        let mut counts = vec![0u64; logits.len()];
        let mut c = Candidates::default();
        for _ in 0..draws {
            c.from_logits_into(&logits);
            d.apply(&mut c);
            counts[c.selected_token().unwrap() as usize] += 1;
        }
        let max = logits.iter().copied().fold(f32::MIN, f32::max);
        let e: Vec<f64> = logits.iter().map(|&l| f64::from(l - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        let probs: Vec<f64> = e.iter().map(|x| x / sum).collect();
        assert!(probs.iter().all(|p| p * draws as f64 > 5.0));
        let x2 = chi_square(&counts, &probs);
        assert!(
            x2 < bound,
            "chi-square {x2} >= {bound} over {} bins",
            logits.len()
        );
    }
}

// ---- Penalties history ----

#[test]
fn penalties_follow_the_accepted_window() {
    let pen = [1.3, 0.4, 0.25];
    let mut r = SplitMix(5);
    let logits = random_logits(50, 8, Kind::Wide);
    for last_n in [1usize, 3, 16, 100] {
        let mut s = Penalties::new(last_n as i32, pen[0], pen[1], pen[2]);
        let mut history: Vec<u32> = Vec::new();
        for step in 0..300 {
            if step == 150 {
                s.reset();
                history.clear();
            }
            let c = apply(&mut s, &logits);
            let want = ref_penalties(&list_of(&logits), &history, last_n, pen);
            assert_eq!(as_list(&c), want, "last_n={last_n} step={step}");
            let window = &history[history.len().saturating_sub(last_n)..];
            assert!(s.history().eq(window.iter().copied()));
            // Few distinct tokens, so that counts above 1 occur.
            let tok = r.below(8) as u32;
            s.accept(tok);
            history.push(tok);
        }
    }
}

#[test]
fn chain_sample_accepts_into_penalties() {
    // Equal logits: greedy takes id 0, then the penalty pushes it below the others.
    let mut chain = SamplerChain::new();
    chain.add(Box::new(Penalties::new(3, 1.0, 0.0, 1.0)));
    chain.add(Box::new(Greedy));
    let logits = [1.0f32; 5];
    let got: Vec<u32> = (0..8).map(|_| chain.sample(&logits).unwrap()).collect();
    assert_eq!(got, [0, 1, 2, 3, 0, 1, 2, 3]);
    chain.reset();
    assert_eq!(chain.sample(&logits).unwrap(), 0);
    // accept() alone (e.g. prompt tokens) also feeds the window.
    chain.accept(0);
    chain.accept(1);
    assert_eq!(chain.sample(&logits).unwrap(), 2);
}

// ---- llama.cpp itself ----

/// Logits both this test and the llama.cpp program below compute bit for bit (integer
/// hashing, then exact or single-rounding f32 operations).
fn xcheck_logit(i: u32, step: u32) -> f32 {
    fn mix(mut h: u32) -> u32 {
        h ^= h >> 15;
        h = h.wrapping_mul(0x2c1b_3c6d);
        h ^= h >> 12;
        h = h.wrapping_mul(0x297a_2d39);
        h ^ (h >> 15)
    }
    let k = i.wrapping_mul(2_654_435_761);
    let base = (mix(k) >> 8) as f32 * (1.0 / 16_777_216.0) * 12.0 - 6.0;
    let salt = step.wrapping_mul(40503).wrapping_add(0x9e37_79b9);
    let noise = (mix(k ^ salt) >> 8) as f32 * (1.0 / 16_777_216.0) * 2.0 - 1.0;
    base + noise
}

fn xcheck_run(chain: &mut SamplerChain, n_vocab: u32, steps: u32) -> Vec<u32> {
    (0..steps)
        .map(|s| {
            let logits: Vec<f32> = (0..n_vocab).map(|i| xcheck_logit(i, s)).collect();
            chain.sample(&logits).unwrap()
        })
        .collect()
}

fn chain_of(samplers: Vec<Box<dyn Sampler>>) -> SamplerChain {
    let mut c = SamplerChain::new();
    for s in samplers {
        c.add(s);
    }
    c
}

/// Token sequences printed by a C++ program linked against llama.cpp 0c1e57098's
/// `libllama` (GCC 12, libstdc++), which for each step fills a `llama_token_data_array`
/// with `xcheck_logit(i, step)` for every id, calls `llama_sampler_apply` on a chain of
/// the samplers named in each case (same parameters), and `llama_sampler_accept`s
/// `data[selected].id`.
#[test]
fn llama_cpp_known_answers() {
    let v = 4352;
    let mut common = chain_of(vec![
        Box::new(Penalties::new(64, 1.3, 0.2, 0.3)),
        Box::new(TopK(40)),
        Box::new(TopP {
            p: 0.95,
            min_keep: 1,
        }),
        Box::new(MinP {
            p: 0.05,
            min_keep: 1,
        }),
        Box::new(Temp(0.8)),
        Box::new(Dist::new(1234)),
    ]);
    assert_eq!(
        xcheck_run(&mut common, v, 64),
        [
            2231, 1834, 502, 2256, 4163, 503, 4285, 4238, 544, 1527, 854, 2631, 3930, 3795, 3789,
            3759, 3874, 1048, 3345, 3511, 2223, 2579, 218, 2657, 1128, 471, 3278, 2926, 1629, 2882,
            3201, 3519, 3242, 2689, 3738, 3883, 3050, 249, 3713, 1039, 3966, 2031, 4142, 2148, 586,
            4078, 3880, 2211, 2669, 555, 1983, 2528, 2471, 1970, 1125, 3447, 1521, 860, 4207, 2754,
            3668, 2015, 2013, 1567
        ]
    );

    let mut topp_tempext = chain_of(vec![
        Box::new(Penalties::new(16, 1.0, 0.5, 0.0)),
        Box::new(TopP {
            p: 0.9,
            min_keep: 1,
        }),
        Box::new(MinP {
            p: 0.02,
            min_keep: 1,
        }),
        Box::new(TempExt {
            temp: 0.9,
            delta: 0.3,
            exponent: 1.2,
        }),
        Box::new(Dist::new(42)),
    ]);
    assert_eq!(
        xcheck_run(&mut topp_tempext, v, 64),
        [
            4257, 2447, 1587, 1196, 619, 2866, 1839, 2164, 3119, 3547, 3713, 1947, 2361, 973, 3940,
            1600, 3990, 2223, 3738, 2812, 381, 3182, 2802, 39, 503, 24, 1916, 3149, 2034, 1659,
            631, 1342, 1462, 2637, 4118, 1353, 3350, 458, 2791, 3511, 3278, 3354, 1814, 1502, 1858,
            1089, 3547, 4238, 601, 1468, 436, 1521, 3119, 2266, 3567, 3880, 3759, 3049, 2371, 17,
            2503, 2976, 1965, 1892
        ]
    );

    let mut typical = chain_of(vec![
        Box::new(TopK(400)),
        Box::new(Typical {
            p: 0.7,
            min_keep: 1,
        }),
        Box::new(Temp(1.3)),
        Box::new(Dist::new(7)),
    ]);
    assert_eq!(
        xcheck_run(&mut typical, v, 64),
        [
            2521, 3093, 1739, 1468, 1898, 775, 1635, 332, 973, 1717, 62, 1076, 2524, 1598, 504,
            119, 3447, 3214, 1629, 3737, 3052, 1353, 133, 3351, 3674, 2199, 2657, 2220, 3737, 3031,
            1308, 1995, 3425, 2791, 2246, 3488, 2235, 2521, 1629, 2462, 1898, 3601, 3099, 2348,
            4077, 129, 392, 218, 4105, 2692, 4122, 720, 1521, 4238, 3713, 2728, 997, 1849, 1468,
            1995, 4040, 1814, 12, 997
        ]
    );

    // Min-p on an unsorted list keeps id order, which is the order dist walks.
    let mut minp_unsorted = chain_of(vec![
        Box::new(MinP {
            p: 0.3,
            min_keep: 1,
        }),
        Box::new(Dist::new(99)),
    ]);
    assert_eq!(
        xcheck_run(&mut minp_unsorted, v, 64),
        [
            3058, 3737, 3052, 2912, 825, 4287, 2612, 2368, 3458, 1814, 1022, 2669, 2013, 1534,
            2471, 1553, 1467, 2728, 3107, 1468, 1956, 3187, 2867, 1151, 3993, 1970, 2579, 242,
            2579, 1273, 471, 2528, 435, 3431, 1625, 544, 435, 410, 3008, 1619, 1629, 1048, 4012,
            1872, 2628, 1288, 4228, 4214, 756, 3649, 352, 2651, 4347, 2882, 3874, 854, 1476, 1592,
            854, 2091, 1502, 1390, 4243, 815
        ]
    );

    let mut dist_full = chain_of(vec![Box::new(Dist::new(5))]);
    assert_eq!(
        xcheck_run(&mut dist_full, 128_256, 16),
        [
            7158, 106645, 45793, 125577, 11277, 50188, 44983, 62010, 127022, 103638, 83254, 104652,
            30867, 98136, 14226, 26138
        ]
    );

    let mut temp0 = chain_of(vec![Box::new(Temp(0.0)), Box::new(Dist::new(3))]);
    assert_eq!(
        xcheck_run(&mut temp0, v, 8),
        [3218, 2744, 3218, 4285, 909, 3218, 1128, 435]
    );

    let mut greedy_pen = chain_of(vec![
        Box::new(Penalties::new(8, 1.5, 0.0, 0.0)),
        Box::new(Greedy),
    ]);
    assert_eq!(
        xcheck_run(&mut greedy_pen, v, 24),
        [
            3218, 2744, 1039, 4285, 909, 1125, 1128, 435, 201, 3789, 854, 4125, 2107, 973, 468,
            1527, 3242, 1048, 2182, 4285, 3350, 357, 2882, 1151
        ]
    );

    // Three equal logits expose the uniform doubles: index = floor(3u) (up to rounding).
    let mut d = Dist::new(2024);
    let picks: Vec<usize> = (0..16)
        .map(|_| {
            let c = apply(&mut d, &[0.0; 3]);
            c.selected.unwrap()
        })
        .collect();
    assert_eq!(picks, [2, 2, 1, 2, 2, 0, 2, 2, 2, 0, 0, 2, 0, 2, 1, 0]);
}

// ---- Robustness ----

#[test]
fn nan_and_infinite_logits_never_panic() {
    let mut r = SplitMix(3);
    let mut logits = random_logits(300, 4, Kind::Wide);
    for _ in 0..40 {
        let i = r.below(300);
        logits[i] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][i % 3];
    }
    let all_nan = vec![f32::NAN; 300];
    let all_ninf = vec![f32::NEG_INFINITY; 300];
    for input in [&logits, &all_nan, &all_ninf] {
        for temp in [0.0, 0.8] {
            let mut chain = SamplerChain::from_params(&SamplerParams {
                seed: 1,
                temp,
                typical_p: 0.9,
                penalty_repeat: 1.2,
                ..SamplerParams::default()
            });
            for _ in 0..5 {
                assert!(chain.sample(input).unwrap() < 300);
            }
        }
    }
    // A NaN logit is never chosen over a finite one.
    let mut chain = chain_of(vec![Box::new(Greedy)]);
    assert_eq!(chain.sample(&[f32::NAN, -1e30, f32::NAN]).unwrap(), 1);
    assert!(matches!(chain.sample(&[]), Err(Error::InvalidArgument(_))));
}

#[test]
fn sample_reuses_the_candidate_buffer() {
    let mut chain = SamplerChain::from_params(&SamplerParams {
        seed: 8,
        penalty_repeat: 1.1,
        ..SamplerParams::default()
    });
    let logits = random_logits(4352, 1, Kind::Wide);
    chain.sample(&logits).unwrap();
    let buf = chain.candidates().data.as_ptr();
    let cap = chain.candidates().data.capacity();
    for step in 0..20 {
        let logits = random_logits(4352, step, Kind::Wide);
        chain.sample(&logits).unwrap();
        assert_eq!(chain.candidates().data.as_ptr(), buf);
        assert_eq!(chain.candidates().data.capacity(), cap);
    }
}
