//! KV cell bookkeeping: which position each cell holds, and the attention mask built from it.

/// Position of each KV cell (`EMPTY` when free).
#[derive(Clone, Debug)]
pub struct Cells {
    pos: Vec<i32>,
    used: usize,
}

const EMPTY: i32 = -1;

impl Cells {
    pub fn new(n_ctx: usize) -> Cells {
        Cells {
            pos: vec![EMPTY; n_ctx],
            used: 0,
        }
    }

    pub fn n_used(&self) -> usize {
        self.used
    }

    pub fn n_free(&self) -> usize {
        self.pos.len() - self.used
    }

    pub fn pos_max(&self) -> i32 {
        self.pos.iter().copied().max().unwrap_or(EMPTY)
    }

    pub fn clear(&mut self) {
        self.pos.fill(EMPTY);
        self.used = 0;
    }

    /// Claims the lowest free cells for tokens at `positions`, appending them to `cells`,
    /// or returns false (and changes nothing) when there are not enough.
    pub fn allocate(&mut self, positions: &[i32], cells: &mut Vec<usize>) -> bool {
        if positions.len() > self.n_free() {
            return false;
        }
        let start = cells.len();
        cells.extend(
            (0..self.pos.len())
                .filter(|&c| self.pos[c] == EMPTY)
                .take(positions.len()),
        );
        for (&c, &p) in cells[start..].iter().zip(positions) {
            self.pos[c] = p;
        }
        self.used += positions.len();
        true
    }

    /// Frees `cells` (undoing [`allocate`](Self::allocate)).
    pub fn release(&mut self, cells: &[usize]) {
        for &c in cells {
            if self.pos[c] != EMPTY {
                self.pos[c] = EMPTY;
                self.used -= 1;
            }
        }
    }

    /// The attended range: one past the highest occupied cell, padded to `pad`, capped at
    /// the cache size. This is the references' `n_kv`, which sets their reduction lengths.
    pub fn n_kv(&self, pad: usize) -> usize {
        let top = self
            .pos
            .iter()
            .rposition(|&p| p != EMPTY)
            .map_or(0, |c| c + 1);
        (top.div_ceil(pad) * pad).max(pad).min(self.pos.len())
    }

    /// `mask[t * n_kv + c]` = 0 if token `t` (at `positions[t]`) may attend to cell `c` (it
    /// holds a token at a position not after the token's), else -inf.
    pub fn build_mask(&self, positions: &[i32], n_kv: usize, mask: &mut Vec<f32>) {
        mask.clear();
        mask.resize(positions.len() * n_kv, f32::NEG_INFINITY);
        for (t, &p) in positions.iter().enumerate() {
            for (m, &cp) in mask[t * n_kv..(t + 1) * n_kv].iter_mut().zip(&self.pos) {
                if cp != EMPTY && cp <= p {
                    *m = 0.0;
                }
            }
        }
    }
}
