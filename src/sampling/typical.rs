//! [`Typical`]: locally typical sampling.

use std::cmp::Ordering;

use super::candidates::cmp_desc;
use super::{Candidates, Sampler, TokenData};

/// Locally typical sampling (llama.cpp's `typical`, arXiv 2202.00666): orders the
/// candidates by how far their surprise `-ln p` is from the entropy `H` of the softmax,
/// closest first, and keeps the shortest such prefix whose probability mass exceeds `p`
/// (strictly, unlike top-p), and at least `min_keep`. `p >= 1` does nothing (named
/// `?typical`).
///
/// Leaves the list in that typicality order (unsorted) with softmax probabilities in
/// `p`. One deliberate difference from llama.cpp: a probability that underflowed to 0
/// adds nothing to `H` (llama.cpp adds `0 * -inf`, which makes `H` and every score NaN
/// and the order arbitrary); such a candidate gets an infinite score and comes last.
/// Ties in score keep [`cmp_desc`] order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Typical {
    pub p: f32,
    pub min_keep: usize,
}

impl Sampler for Typical {
    fn name(&self) -> &str {
        if self.p >= 1.0 {
            "?typical"
        } else {
            "typical"
        }
    }

    fn apply(&mut self, cands: &mut Candidates) {
        if self.p >= 1.0 || cands.data.is_empty() {
            return;
        }
        // llama.cpp sorts first; that fixes the order of the f32 sums below.
        cands.sort();
        cands.softmax();

        let mut entropy = 0.0f32;
        for t in &cands.data {
            if t.p > 0.0 {
                entropy -= t.p * t.p.ln();
            }
        }
        // Recomputed per comparison rather than cached: no scratch buffer to allocate.
        let score = |t: &TokenData| {
            let s = (-t.p.ln() - entropy).abs();
            if s.is_nan() {
                f32::INFINITY
            } else {
                s
            }
        };
        cands.data.sort_unstable_by(|a, b| {
            score(a)
                .partial_cmp(&score(b))
                .unwrap_or(Ordering::Equal)
                .then_with(|| cmp_desc(a, b))
        });
        cands.sorted = false;

        let mut cum_sum = 0.0f32;
        let mut last = cands.data.len();
        for (i, t) in cands.data.iter().enumerate() {
            cum_sum += t.p;
            if cum_sum > self.p && (self.min_keep == 0 || i + 1 >= self.min_keep) {
                last = i + 1;
                break;
            }
        }
        cands.data.truncate(last);
    }

    fn clone_box(&self) -> Box<dyn Sampler> {
        Box::new(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p: f32, min_keep: usize, logits: &[f32]) -> Vec<u32> {
        let mut c = Candidates::from_logits(logits);
        Typical { p, min_keep }.apply(&mut c);
        c.data.iter().map(|t| t.id).collect()
    }

    #[test]
    fn orders_by_distance_from_entropy() {
        // p = [0.70, 0.26, 0.04]: H = 0.69, surprises 0.36, 1.36, 3.2.
        let logits = [2.0, 1.0, -0.9];
        assert_eq!(run(0.5, 0, &logits), [0]);
        assert_eq!(run(0.8, 0, &logits), [0, 1]);
        assert_eq!(run(0.5, 3, &logits), [0, 1, 2]);
        assert_eq!(run(1.0, 0, &logits), [0, 1, 2]);
    }

    #[test]
    fn mass_must_exceed_p() {
        // Two equal halves: 0.5 is not > 0.5, so both stay (top-p would keep one).
        assert_eq!(run(0.5, 0, &[1.0, 1.0]), [0, 1]);
    }

    #[test]
    fn the_most_likely_token_can_be_atypical() {
        // One dominant token among many middling ones: its surprise is far below H.
        let mut logits = vec![0.0f32; 200];
        logits[7] = 4.0;
        let kept = run(0.5, 0, &logits);
        assert!(!kept.contains(&7), "{kept:?}");
    }

    #[test]
    fn underflowed_probabilities_do_not_poison_the_entropy() {
        // p = [0.475, 0.525, 0]: H = 0.692, so id 1 (surprise 0.644) is the most typical.
        let kept = run(0.5, 0, &[0.0, 0.1, -500.0]);
        assert_eq!(kept, [1]);
    }
}
