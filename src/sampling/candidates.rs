//! The candidate list a sampler chain works on (llama.cpp's `llama_token_data_array`),
//! the order samplers sort it by, and the softmax they share.

use std::cmp::Ordering;

/// One candidate token (llama.cpp's `llama_token_data`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenData {
    /// Token id.
    pub id: u32,
    /// Log-odds; samplers rewrite it (temperature, penalties).
    pub logit: f32,
    /// Probability, valid only after a sampler that computes it (top-p, typical, dist, ...).
    pub p: f32,
}

/// The candidates a sampler chain narrows down to one token.
///
/// Samplers keep llama.cpp's conventions: filters shrink `data` (never below one entry
/// when it was non-empty), `sorted` says `data` is in [`cmp_desc`] order, and the final
/// sampler ([`Greedy`](super::Greedy), [`Dist`](super::Dist)) sets `selected`, an index
/// into `data` (not a token id). The order of `data` matters beyond `sorted`: [`Dist`]
/// walks the list in its current order, as llama.cpp does.
///
/// [`Dist`]: super::Dist
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Candidates {
    pub data: Vec<TokenData>,
    pub sorted: bool,
    pub selected: Option<usize>,
}

impl Candidates {
    /// One candidate per logit, id = index, unsorted, nothing selected.
    ///
    /// NaN logits become `-inf` (the token can then only be picked when every logit is
    /// `-inf` or NaN). Ids are `u32`: a slice longer than `u32::MAX` wraps them, which is
    /// why [`SamplerChain::sample`](super::SamplerChain::sample) rejects such slices.
    pub fn from_logits(logits: &[f32]) -> Self {
        let mut c = Candidates::default();
        c.from_logits_into(logits);
        c
    }

    /// [`from_logits`](Self::from_logits) into this list, reusing its allocation.
    pub fn from_logits_into(&mut self, logits: &[f32]) {
        self.data.clear();
        self.data
            .extend(logits.iter().enumerate().map(|(i, &l)| TokenData {
                id: i as u32,
                logit: if l.is_nan() { f32::NEG_INFINITY } else { l },
                p: 0.0,
            }));
        self.sorted = false;
        self.selected = None;
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The id of the selected candidate, if a sampler selected one that is still in range.
    pub fn selected_token(&self) -> Option<u32> {
        self.selected.and_then(|i| self.data.get(i)).map(|t| t.id)
    }

    /// Sorts all of `data` in [`cmp_desc`] order (no-op when already `sorted`).
    pub fn sort(&mut self) {
        if !self.sorted {
            self.data.sort_unstable_by(cmp_desc);
            self.sorted = true;
        }
    }

    /// Sets every `p` to the softmax of the logits, in `f32` and in list order, as
    /// llama.cpp's `llama_sampler_softmax_impl(cur_p, false)`; neither sorts nor
    /// reorders. A list whose logits are all `-inf` gets NaN probabilities, as there.
    pub fn softmax(&mut self) {
        if self.data.is_empty() {
            return;
        }
        let max_l = self.max_logit();
        let mut cum_sum = 0.0f32;
        for t in &mut self.data {
            t.p = (t.logit - max_l).exp();
            cum_sum += t.p;
        }
        for t in &mut self.data {
            t.p /= cum_sum;
        }
    }

    /// The largest logit: the first one when `sorted`, else a scan with `std::max`'s
    /// semantics (a NaN in front stays). Callers check for an empty list.
    pub(crate) fn max_logit(&self) -> f32 {
        if self.sorted {
            return self.data[0].logit;
        }
        let mut max_l = self.data[0].logit;
        for t in &self.data[1..] {
            if max_l < t.logit {
                max_l = t.logit;
            }
        }
        max_l
    }

    /// Index of the best candidate in [`cmp_desc`] order (lowest id among equal maximal
    /// logits, whatever the list order), or `None` for an empty list.
    pub(crate) fn argmax(&self) -> Option<usize> {
        (0..self.data.len()).min_by(|&a, &b| cmp_desc(&self.data[a], &self.data[b]))
    }
}

/// The order samplers sort by: logit descending, then id ascending, so that equal logits
/// always come out the same way (llama.cpp leaves that order unspecified). NaN sorts as
/// `-inf`, which keeps this a total order: `slice::sort*` may panic without one.
pub fn cmp_desc(a: &TokenData, b: &TokenData) -> Ordering {
    let key = |l: f32| if l.is_nan() { f32::NEG_INFINITY } else { l };
    key(b.logit)
        .partial_cmp(&key(a.logit))
        .unwrap_or(Ordering::Equal)
        .then(a.id.cmp(&b.id))
}

/// Grows a sorted prefix: given that `data[..from]` is sorted and no element of
/// `data[from..]` precedes it, makes `data[..to]` the sorted top `to` without sorting the
/// rest. Selection plus a sort of the new part, O(n + k log k).
pub(crate) fn extend_sorted_prefix(data: &mut [TokenData], from: usize, to: usize) {
    let to = to.min(data.len());
    if to <= from {
        return;
    }
    let rest = &mut data[from..];
    let k = to - from;
    if k < rest.len() {
        rest.select_nth_unstable_by(k - 1, cmp_desc);
    }
    rest[..k].sort_unstable_by(cmp_desc);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn td(id: u32, logit: f32) -> TokenData {
        TokenData { id, logit, p: 0.0 }
    }

    #[test]
    fn order_breaks_ties_by_id_and_puts_nan_last() {
        let mut v = [
            td(3, 1.0),
            td(1, 1.0),
            td(0, f32::NAN),
            td(2, 2.0),
            td(4, -1.0),
        ];
        v.sort_by(cmp_desc);
        let ids: Vec<u32> = v.iter().map(|t| t.id).collect();
        assert_eq!(ids, [2, 1, 3, 4, 0]);
    }

    #[test]
    fn from_logits_maps_nan_and_reuses_buffer() {
        let mut c = Candidates::from_logits(&[0.5, f32::NAN, -2.0]);
        assert_eq!(c.data[1].logit, f32::NEG_INFINITY);
        assert_eq!(c.data[2].id, 2);
        c.sorted = true;
        c.selected = Some(1);
        let cap = c.data.capacity();
        c.from_logits_into(&[1.0, 2.0]);
        assert_eq!(c.data.capacity(), cap);
        assert_eq!((c.len(), c.sorted, c.selected), (2, false, None));
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut c = Candidates::from_logits(&[1.0, 3.0, 2.0]);
        c.softmax();
        let sum: f32 = c.data.iter().map(|t| t.p).sum();
        assert!((sum - 1.0).abs() < 1e-6);
        assert!(c.data[1].p > c.data[2].p && c.data[2].p > c.data[0].p);
        assert_eq!(c.data[0].id, 0);
    }

    #[test]
    fn extended_prefix_equals_full_sort() {
        let logits: Vec<f32> = (0..500u32)
            .map(|i| ((i.wrapping_mul(2654435761) >> 8) % 97) as f32)
            .collect();
        let mut full = Candidates::from_logits(&logits).data;
        full.sort_by(cmp_desc);
        let mut data = Candidates::from_logits(&logits).data;
        extend_sorted_prefix(&mut data, 0, 10);
        extend_sorted_prefix(&mut data, 10, 137);
        extend_sorted_prefix(&mut data, 137, 9999);
        assert_eq!(data, full);
    }
}
