//! [`TopP`]: nucleus sampling.

use super::candidates::extend_sorted_prefix;
use super::{Candidates, Sampler};

/// Below this many unsorted candidates llama.cpp sorts them all; above, it sorts a prefix.
const SORT_ALL_BELOW: usize = 1024;
/// The prefix sorted first for a long unsorted list; it doubles while the mass is short.
const FIRST_PREFIX: usize = 256;

/// Keeps the smallest set of most likely candidates whose probability mass reaches `p`,
/// and at least `min_keep` of them (llama.cpp's `top-p`). The kept list is sorted and has
/// softmax probabilities in `p` (those of the list before truncation, not renormalized).
/// `p >= 1` does nothing (named `?top-p`); `p <= 0` keeps `max(1, min_keep)`.
///
/// The mass is summed in `f32` in sorted order, as in llama.cpp. A long unsorted list is
/// not sorted whole: a sorted prefix is grown by doubling until it holds the mass, which
/// gives the same result as a full sort.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopP {
    pub p: f32,
    pub min_keep: usize,
}

impl Sampler for TopP {
    fn name(&self) -> &str {
        if self.p >= 1.0 {
            "?top-p"
        } else {
            "top-p"
        }
    }

    fn apply(&mut self, cands: &mut Candidates) {
        if self.p >= 1.0 || cands.data.is_empty() {
            return;
        }
        cands.softmax();

        let n = cands.data.len();
        let mut sorted_len = n;
        if !cands.sorted {
            if n > SORT_ALL_BELOW {
                sorted_len = FIRST_PREFIX;
            }
            extend_sorted_prefix(&mut cands.data, 0, sorted_len);
            cands.sorted = true;
        }

        let mut cum_sum = 0.0f32;
        let mut last = n;
        for i in 0..n {
            if i == sorted_len {
                let grown = (2 * sorted_len).min(n);
                extend_sorted_prefix(&mut cands.data, sorted_len, grown);
                sorted_len = grown;
            }
            cum_sum += cands.data[i].p;
            if cum_sum >= self.p && i + 1 >= self.min_keep {
                last = i + 1;
                break;
            }
        }
        // When the loop ran out, the prefix covers the whole list, which is then sorted.
        cands.data.truncate(last);
    }

    fn clone_box(&self) -> Box<dyn Sampler> {
        Box::new(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(c: &Candidates) -> Vec<u32> {
        c.data.iter().map(|t| t.id).collect()
    }

    fn top_p(p: f32, min_keep: usize, logits: &[f32]) -> Vec<u32> {
        let mut c = Candidates::from_logits(logits);
        TopP { p, min_keep }.apply(&mut c);
        assert!(c.sorted || p >= 1.0);
        ids(&c)
    }

    #[test]
    fn keeps_the_nucleus() {
        // Probabilities about 0.665, 0.245, 0.090.
        let logits = [1.0, 2.0, 0.0];
        assert_eq!(top_p(0.5, 0, &logits), [1]);
        assert_eq!(top_p(0.8, 0, &logits), [1, 0]);
        assert_eq!(top_p(0.95, 0, &logits), [1, 0, 2]);
        assert_eq!(top_p(0.0, 0, &logits), [1]);
        assert_eq!(top_p(0.0, 2, &logits), [1, 0]);
        assert_eq!(top_p(0.5, 9, &logits), [1, 0, 2]);
        assert_eq!(top_p(1.0, 0, &logits), [0, 1, 2]);
        // Reaching p is enough: one of two equal halves.
        assert_eq!(top_p(0.5, 0, &[1.0, 1.0]), [0]);
    }

    #[test]
    fn long_flat_lists_grow_the_prefix_past_the_first_guess() {
        // 3000 equal logits: p = 0.5 needs 1500 of them, ties in id order.
        let logits = vec![0.25f32; 3000];
        let kept = top_p(0.5, 0, &logits);
        assert!((1499..=1501).contains(&kept.len()), "{}", kept.len());
        assert!(kept.iter().enumerate().all(|(i, &id)| id == i as u32));
    }
}
