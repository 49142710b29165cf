//! [`TopK`]: keep the `k` most likely candidates.

use super::candidates::extend_sorted_prefix;
use super::{Candidates, Sampler};

/// Keeps the `k` candidates with the largest logits, sorted (llama.cpp's `top-k`).
/// `k <= 0` does nothing (named `?top-k`); `k` above the list length keeps (and sorts)
/// everything. An unsorted list is partially selected, O(n + k log k), not sorted whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopK(pub i32);

impl Sampler for TopK {
    fn name(&self) -> &str {
        if self.0 <= 0 {
            "?top-k"
        } else {
            "top-k"
        }
    }

    fn apply(&mut self, cands: &mut Candidates) {
        if self.0 <= 0 {
            return;
        }
        let k = (self.0 as usize).min(cands.data.len());
        if !cands.sorted {
            extend_sorted_prefix(&mut cands.data, 0, k);
            cands.sorted = true;
        }
        cands.data.truncate(k);
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

    #[test]
    fn keeps_the_best_k_sorted() {
        let mut c = Candidates::from_logits(&[0.1, 3.0, -1.0, 3.0, 2.0]);
        TopK(3).apply(&mut c);
        assert_eq!(ids(&c), [1, 3, 4]);
        assert!(c.sorted);
    }

    #[test]
    fn edge_values_of_k() {
        let logits = [0.1, 3.0, -1.0];
        let mut c = Candidates::from_logits(&logits);
        TopK(0).apply(&mut c);
        assert_eq!((ids(&c), c.sorted), (vec![0, 1, 2], false));
        TopK(-5).apply(&mut c);
        assert_eq!(ids(&c), [0, 1, 2]);
        TopK(10).apply(&mut c);
        assert_eq!((ids(&c), c.sorted), (vec![1, 0, 2], true));
        let mut empty = Candidates::default();
        TopK(3).apply(&mut empty);
        assert!(empty.is_empty());
        assert_eq!((TopK(0).name(), TopK(1).name()), ("?top-k", "top-k"));
    }

    #[test]
    fn a_sorted_list_is_only_truncated() {
        // llama.cpp trusts the flag: a list marked sorted keeps its order.
        let mut c = Candidates::from_logits(&[0.0, 1.0, 2.0]);
        c.sorted = true;
        TopK(2).apply(&mut c);
        assert_eq!(ids(&c), [0, 1]);
    }
}
