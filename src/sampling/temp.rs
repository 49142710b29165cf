//! Temperature: [`Temp`] and the entropy-driven [`TempExt`].

use super::{Candidates, Sampler};

/// Divides every logit by `t` (llama.cpp's `temp`). `t <= 0` keeps only the best
/// candidate (largest logit, lowest id among equals) and sets the others to `-inf`, so a
/// following [`Dist`](super::Dist) picks it. `t == 1` does nothing (named `?temp`, like
/// llama.cpp's empty stand-in).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Temp(pub f32);

impl Sampler for Temp {
    fn name(&self) -> &str {
        if self.0 == 1.0 {
            "?temp"
        } else {
            "temp"
        }
    }

    fn apply(&mut self, cands: &mut Candidates) {
        apply_temp(cands, self.0);
    }

    fn clone_box(&self) -> Box<dyn Sampler> {
        Box::new(*self)
    }
}

/// Dynamic temperature (llama.cpp's `temp-ext`, arXiv 2309.02772). With `delta > 0` the
/// temperature is `lo + (hi - lo) * (H / ln n)^exponent`, where `lo = max(0, temp - delta)`,
/// `hi = temp + delta` and `H` is the entropy of the `n` candidates' softmax; otherwise it
/// is [`Temp`]`(temp)`.
///
/// With `delta > 0` (and at least two candidates) it sorts the whole list and leaves
/// normalized probabilities in `p`, as llama.cpp does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TempExt {
    pub temp: f32,
    pub delta: f32,
    pub exponent: f32,
}

impl Sampler for TempExt {
    fn name(&self) -> &str {
        if self.temp == 1.0 && self.delta <= 0.0 {
            "?temp-ext"
        } else {
            "temp-ext"
        }
    }

    fn apply(&mut self, cands: &mut Candidates) {
        if self.delta > 0.0 {
            self.apply_dynamic(cands);
        } else {
            apply_temp(cands, self.temp);
        }
    }

    fn clone_box(&self) -> Box<dyn Sampler> {
        Box::new(*self)
    }
}

impl TempExt {
    fn apply_dynamic(&self, cands: &mut Candidates) {
        let n = cands.data.len();
        if n <= 1 {
            return;
        }
        let min_temp = (self.temp - self.delta).max(0.0);
        let max_temp = self.temp + self.delta;
        let max_entropy = -(1.0f32 / n as f32).ln();

        cands.sort();
        cands.softmax();
        let mut entropy = 0.0f32;
        for t in &cands.data {
            if t.p > 0.0 {
                entropy -= t.p * t.p.ln();
            }
        }
        let normalized = entropy / max_entropy;
        let dyn_temp = min_temp + (max_temp - min_temp) * normalized.powf(self.exponent);
        apply_temp(cands, dyn_temp);

        // llama.cpp recomputes the probabilities in f64 here.
        let max_l = f64::from(cands.data[0].logit);
        let mut cum_sum = 0.0f64;
        for t in &mut cands.data {
            let p = (f64::from(t.logit) - max_l).exp();
            t.p = p as f32;
            cum_sum += p;
        }
        for t in &mut cands.data {
            t.p = (f64::from(t.p) / cum_sum) as f32;
        }
    }
}

/// llama.cpp's `llama_sampler_temp_impl`.
fn apply_temp(cands: &mut Candidates, temp: f32) {
    if temp <= 0.0 {
        if let Some(best) = cands.argmax() {
            for (i, t) in cands.data.iter_mut().enumerate() {
                if i != best {
                    t.logit = f32::NEG_INFINITY;
                }
            }
        }
        return;
    }
    for t in &mut cands.data {
        t.logit /= temp;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits_of(c: &Candidates) -> Vec<f32> {
        c.data.iter().map(|t| t.logit).collect()
    }

    #[test]
    fn temp_divides_and_zero_keeps_only_the_max() {
        let mut c = Candidates::from_logits(&[1.0, -2.0, 4.0]);
        Temp(2.0).apply(&mut c);
        assert_eq!(logits_of(&c), [0.5, -1.0, 2.0]);
        let mut c = Candidates::from_logits(&[3.0, -2.0, 3.0, 1.0]);
        Temp(0.0).apply(&mut c);
        let ninf = f32::NEG_INFINITY;
        assert_eq!(logits_of(&c), [3.0, ninf, ninf, ninf]);
        assert_eq!((Temp(1.0).name(), Temp(0.5).name()), ("?temp", "temp"));
    }

    #[test]
    fn temp_ext_without_delta_is_plain_temp() {
        let mut a = Candidates::from_logits(&[1.0, -2.0, 4.0]);
        let mut b = a.clone();
        TempExt {
            temp: 0.7,
            delta: 0.0,
            exponent: 1.0,
        }
        .apply(&mut a);
        Temp(0.7).apply(&mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn temp_ext_maps_entropy_to_temperature() {
        // Uniform logits: normalized entropy 1, so the temperature is temp + delta.
        let mut c = Candidates::from_logits(&[2.0; 4]);
        let mut s = TempExt {
            temp: 1.0,
            delta: 0.5,
            exponent: 1.0,
        };
        s.apply(&mut c);
        assert!(c.sorted);
        for t in &c.data {
            assert!((t.logit - 2.0 / 1.5).abs() < 1e-6);
            assert!((t.p - 0.25).abs() < 1e-6);
        }
        assert_eq!(s.name(), "temp-ext");
    }
}
