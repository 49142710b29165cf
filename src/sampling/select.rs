//! The samplers that pick the token: [`Greedy`] and [`Dist`].

use super::rng::{resolve_seed, Mt19937};
use super::{Candidates, Sampler};

/// Selects the candidate with the largest logit (llama.cpp's `greedy`). Among equal
/// logits it takes the lowest id, whatever the list order (llama.cpp takes the first in
/// list order, which is the same for a list built from logits or sorted here). Does not
/// compute probabilities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Greedy;

impl Sampler for Greedy {
    fn name(&self) -> &str {
        "greedy"
    }

    fn apply(&mut self, cands: &mut Candidates) {
        cands.selected = cands.argmax();
    }

    fn clone_box(&self) -> Box<dyn Sampler> {
        Box::new(*self)
    }
}

/// Draws a candidate from the softmax of the logits (llama.cpp's `dist`), with
/// `std::mt19937` and libstdc++'s uniform doubles, so a seed gives llama.cpp's tokens
/// when the candidate list is in the same order.
///
/// One draw per `apply`, even for a single candidate. The walk is in list order: the
/// first candidate whose running probability sum reaches `u * total` wins. It also
/// leaves every `p` normalized. If the sums are NaN (every logit `-inf`, or a NaN
/// temperature) no candidate reaches the target and the last one is selected, as in
/// llama.cpp.
#[derive(Debug, Clone)]
pub struct Dist {
    seed: u32,
    seed_cur: u32,
    rng: Mt19937,
}

impl Dist {
    /// A sampler seeded with `seed`; [`DEFAULT_SEED`](super::DEFAULT_SEED) picks a random
    /// seed now and again on every [`reset`](Sampler::reset), as llama.cpp does.
    pub fn new(seed: u32) -> Self {
        let seed_cur = resolve_seed(seed);
        Dist {
            seed,
            seed_cur,
            rng: Mt19937::new(seed_cur),
        }
    }

    /// The seed given to [`new`](Self::new).
    pub fn seed(&self) -> u32 {
        self.seed
    }

    /// The seed in use (the random one for `DEFAULT_SEED`; `llama_sampler_get_seed`).
    pub fn seed_cur(&self) -> u32 {
        self.seed_cur
    }
}

impl Sampler for Dist {
    fn name(&self) -> &str {
        "dist"
    }

    fn apply(&mut self, cands: &mut Candidates) {
        if cands.data.is_empty() {
            cands.selected = None;
            return;
        }
        cands.selected = Some(0);
        if cands.data.len() == 1 {
            // llama.cpp draws anyway, keeping the stream aligned with its GPU sampler.
            self.rng.next_f64();
            cands.data[0].p = 1.0;
            return;
        }

        // Same arithmetic as llama.cpp: f32 exponentials summed in f64.
        let max_l = cands.max_logit();
        let mut sum_cum = 0.0f64;
        for t in &mut cands.data {
            t.p = (t.logit - max_l).exp();
            sum_cum += f64::from(t.p);
        }

        let sum_tgt = sum_cum * self.rng.next_f64();
        let mut sum_run = 0.0f64;
        let mut found = None;
        for (i, t) in cands.data.iter_mut().enumerate() {
            if found.is_none() {
                sum_run += f64::from(t.p);
                if sum_run >= sum_tgt {
                    found = Some(i);
                }
            }
            t.p = (f64::from(t.p) / sum_cum) as f32;
        }
        cands.selected = Some(found.unwrap_or(cands.data.len() - 1));
    }

    fn reset(&mut self) {
        self.seed_cur = resolve_seed(self.seed);
        self.rng = Mt19937::new(self.seed_cur);
    }

    fn clone_box(&self) -> Box<dyn Sampler> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::DEFAULT_SEED;

    #[test]
    fn greedy_takes_lowest_id_among_equal_maxima() {
        let mut c = Candidates::from_logits(&[1.0, 5.0, -3.0, 5.0]);
        c.data.reverse();
        Greedy.apply(&mut c);
        assert_eq!(c.selected_token(), Some(1));
    }

    #[test]
    fn empty_lists_select_nothing() {
        let mut c = Candidates::default();
        Greedy.apply(&mut c);
        assert_eq!(c.selected, None);
        Dist::new(1).apply(&mut c);
        assert_eq!(c.selected, None);
    }

    #[test]
    fn single_candidate_still_draws() {
        let mut one = Dist::new(7);
        let mut two = Dist::new(7);
        let mut c = Candidates::from_logits(&[0.3]);
        one.apply(&mut c);
        assert_eq!((c.selected, c.data[0].p), (Some(0), 1.0));
        two.rng.next_f64();
        assert_eq!(one.rng.next_u32(), two.rng.next_u32());
    }

    #[test]
    fn reset_restarts_the_stream_and_clone_copies_state() {
        let logits: Vec<f32> = (0..50).map(|i| (i % 7) as f32 * 0.3).collect();
        let mut d = Dist::new(99);
        let draw = |d: &mut Dist| {
            let mut c = Candidates::from_logits(&logits);
            d.apply(&mut c);
            c.selected_token().unwrap()
        };
        let first: Vec<u32> = (0..20).map(|_| draw(&mut d)).collect();
        let mut copy = d.clone();
        assert_eq!(draw(&mut d), draw(&mut copy));
        d.reset();
        let again: Vec<u32> = (0..20).map(|_| draw(&mut d)).collect();
        assert_eq!(first, again);
    }

    #[test]
    fn default_seed_is_resolved() {
        let d = Dist::new(DEFAULT_SEED);
        assert_eq!(d.seed(), DEFAULT_SEED);
        let _ = d.seed_cur(); // random; any value is valid
        assert_eq!(Dist::new(5).seed_cur(), 5);
    }

    #[test]
    fn nan_sums_fall_back_to_last() {
        let mut c = Candidates::from_logits(&[f32::NEG_INFINITY; 3]);
        Dist::new(3).apply(&mut c);
        assert_eq!(c.selected, Some(2));
    }
}
