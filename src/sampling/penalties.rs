//! [`Penalties`]: repetition, frequency and presence penalties over recent tokens.

use std::collections::VecDeque;

use super::{Candidates, Sampler};

/// Up to this many window slots are reserved up front, so that accepting tokens does not
/// allocate; a longer window grows on demand instead of reserving gigabytes.
const RESERVE_MAX: usize = 1 << 16;

/// Penalizes tokens seen among the last `last_n` accepted ones (llama.cpp's
/// `penalties`). For a candidate that occurs `count > 0` times in that window:
/// `logit = logit <= 0 ? logit * repeat : logit / repeat`, then
/// `logit -= count * freq + present`.
///
/// Disabled (named `?penalties`, applies nothing and records no history) when
/// `last_n == 0` or when `repeat == 1`, `freq == 0` and `present == 0`; a negative
/// `last_n` counts as 0, as in `llama_sampler_init_penalties`. When enabled, every
/// `apply` marks the list unsorted, even if the window is empty, as llama.cpp does.
#[derive(Debug, Clone)]
pub struct Penalties {
    last_n: usize,
    repeat: f32,
    freq: f32,
    present: f32,
    window: VecDeque<u32>,
    /// `(token, occurrences in window)` sorted by token; at most `last_n` entries.
    counts: Vec<(u32, u32)>,
}

impl Penalties {
    pub fn new(last_n: i32, repeat: f32, freq: f32, present: f32) -> Self {
        let last_n = last_n.max(0) as usize;
        let reserve = last_n.min(RESERVE_MAX);
        Penalties {
            last_n,
            repeat,
            freq,
            present,
            window: VecDeque::with_capacity(reserve),
            counts: Vec::with_capacity(reserve),
        }
    }

    /// True when this sampler has no effect (see the type's documentation).
    pub fn is_disabled(&self) -> bool {
        self.last_n == 0 || (self.repeat == 1.0 && self.freq == 0.0 && self.present == 0.0)
    }

    /// The accepted tokens in the window, oldest first.
    pub fn history(&self) -> impl Iterator<Item = u32> + '_ {
        self.window.iter().copied()
    }

    fn count_of(&self, token: u32) -> u32 {
        match self.counts.binary_search_by_key(&token, |&(t, _)| t) {
            Ok(i) => self.counts[i].1,
            Err(_) => 0,
        }
    }
}

impl Sampler for Penalties {
    fn name(&self) -> &str {
        if self.is_disabled() {
            "?penalties"
        } else {
            "penalties"
        }
    }

    fn apply(&mut self, cands: &mut Candidates) {
        if self.is_disabled() {
            return;
        }
        if !self.counts.is_empty() {
            for t in &mut cands.data {
                let count = self.count_of(t.id);
                if count == 0 {
                    continue;
                }
                // Dividing a negative logit would raise it; multiplying lowers it.
                if t.logit <= 0.0 {
                    t.logit *= self.repeat;
                } else {
                    t.logit /= self.repeat;
                }
                t.logit -= count as f32 * self.freq + self.present;
            }
        }
        cands.sorted = false;
    }

    fn accept(&mut self, token: u32) {
        if self.is_disabled() {
            return;
        }
        if self.window.len() >= self.last_n {
            if let Some(old) = self.window.pop_front() {
                if let Ok(i) = self.counts.binary_search_by_key(&old, |&(t, _)| t) {
                    self.counts[i].1 -= 1;
                    if self.counts[i].1 == 0 {
                        self.counts.remove(i);
                    }
                }
            }
        }
        self.window.push_back(token);
        match self.counts.binary_search_by_key(&token, |&(t, _)| t) {
            Ok(i) => self.counts[i].1 += 1,
            Err(i) => self.counts.insert(i, (token, 1)),
        }
    }

    fn reset(&mut self) {
        self.window.clear();
        self.counts.clear();
    }

    fn clone_box(&self) -> Box<dyn Sampler> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits_after(p: &mut Penalties, logits: &[f32]) -> Vec<f32> {
        let mut c = Candidates::from_logits(logits);
        p.apply(&mut c);
        c.data.iter().map(|t| t.logit).collect()
    }

    #[test]
    fn repeat_divides_positive_and_multiplies_negative() {
        let mut p = Penalties::new(8, 2.0, 0.0, 0.0);
        p.accept(0);
        p.accept(1);
        p.accept(1);
        assert_eq!(logits_after(&mut p, &[4.0, -4.0, 4.0]), [2.0, -8.0, 4.0]);
    }

    #[test]
    fn frequency_counts_and_presence_once() {
        let mut p = Penalties::new(8, 1.0, 0.5, 0.25);
        for t in [2, 2, 2, 0] {
            p.accept(t);
        }
        assert_eq!(logits_after(&mut p, &[1.0, 1.0, 1.0]), [0.25, 1.0, -0.75]);
    }

    #[test]
    fn window_forgets_old_tokens_and_reset_clears() {
        let mut p = Penalties::new(2, 1.0, 1.0, 0.0);
        for t in [0, 1, 2] {
            p.accept(t);
        }
        assert_eq!(p.history().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(logits_after(&mut p, &[0.0, 0.0, 0.0]), [0.0, -1.0, -1.0]);
        p.reset();
        assert_eq!(p.history().count(), 0);
        assert_eq!(logits_after(&mut p, &[0.0, 0.0, 0.0]), [0.0, 0.0, 0.0]);
    }

    #[test]
    fn disabled_configurations() {
        for (n, r, f, pr) in [(0, 1.5, 0.5, 0.5), (-1, 1.5, 0.0, 0.0), (64, 1.0, 0.0, 0.0)] {
            let mut p = Penalties::new(n, r, f, pr);
            p.accept(0);
            assert!(p.is_disabled());
            assert_eq!(p.name(), "?penalties");
            assert_eq!(p.history().count(), 0);
            let mut c = Candidates::from_logits(&[1.0]);
            c.sorted = true;
            p.apply(&mut c);
            assert!(c.sorted);
        }
        assert_eq!(Penalties::new(64, 1.1, 0.0, 0.0).name(), "penalties");
    }
}
