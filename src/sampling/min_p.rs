//! [`MinP`]: drop candidates much less likely than the best one.

use super::{Candidates, Sampler};

/// Keeps the candidates whose probability is at least `p` times the best one's, i.e.
/// whose logit is at least `max_logit + ln p`, and at least `min_keep` of them
/// (llama.cpp's `min-p`). `p <= 0` does nothing (named `?min-p`).
///
/// Like llama.cpp, an unsorted list is filtered in place keeping its order; only when
/// that would keep fewer than `min_keep` (or none) is the list sorted and cut at
/// `max(min_keep, matches)`. `p > 1` keeps `max(1, min_keep)` candidates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinP {
    pub p: f32,
    pub min_keep: usize,
}

impl Sampler for MinP {
    fn name(&self) -> &str {
        if self.p <= 0.0 {
            "?min-p"
        } else {
            "min-p"
        }
    }

    fn apply(&mut self, cands: &mut Candidates) {
        if self.p <= 0.0 || cands.data.is_empty() {
            return;
        }
        let ln_p = self.p.ln();

        if !cands.sorted {
            // llama.cpp starts this scan from -FLT_MAX, not from the first logit.
            let mut max_l = f32::MIN;
            for t in &cands.data {
                if max_l < t.logit {
                    max_l = t.logit;
                }
            }
            let min_logit = max_l + ln_p;
            let n = cands.data.iter().filter(|t| t.logit >= min_logit).count();
            if n > 0 && n >= self.min_keep {
                cands.data.retain(|t| t.logit >= min_logit);
                return;
            }
            cands.sort();
        }

        let min_logit = cands.data[0].logit + ln_p;
        let mut i = 1; // the first candidate always stays
        while i < cands.data.len() {
            if cands.data[i].logit < min_logit && i >= self.min_keep {
                break;
            }
            i += 1;
        }
        cands.data.truncate(i);
    }

    fn clone_box(&self) -> Box<dyn Sampler> {
        Box::new(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p: f32, min_keep: usize, logits: &[f32], sorted: bool) -> (Vec<u32>, bool) {
        let mut c = Candidates::from_logits(logits);
        if sorted {
            c.sort();
        }
        MinP { p, min_keep }.apply(&mut c);
        (c.data.iter().map(|t| t.id).collect(), c.sorted)
    }

    #[test]
    fn filters_relative_to_the_best() {
        // ln 0.2 = -1.61: logits >= 1.39 stay.
        let logits = [1.0, 3.0, 0.5, 2.0];
        assert_eq!(run(0.2, 0, &logits, false), (vec![1, 3], false));
        assert_eq!(run(0.2, 0, &logits, true), (vec![1, 3], true));
        // Exactly min_keep matches: still the order-keeping filter.
        assert_eq!(run(0.2, 2, &logits, false), (vec![1, 3], false));
        assert_eq!(run(0.2, 3, &logits, false), (vec![1, 3, 0], true));
        assert_eq!(run(0.0, 0, &logits, false), (vec![0, 1, 2, 3], false));
        assert_eq!(run(2.0, 0, &logits, false), (vec![1], true));
        assert_eq!(run(2.0, 2, &logits, false), (vec![1, 3], true));
    }
}
