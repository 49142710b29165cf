//! Int8 activation rows packed once per projection input for tile kernels (AMX), which read
//! the activations of 16 tokens x 64 columns as one 1 KiB tile in the "VNNI" layout:
//! tile row `kk` holds, for each of the 16 tokens `n`, the four consecutive activations
//! `q[n][64 c + 4 kk .. + 4]` at bytes `4 n .. 4 n + 4`. Packing is a 16 x 16 transpose of
//! 4-byte groups, done once and shared by every weight row (and every projection that reads
//! the same input), where repacking per weight panel would cost as much as the products.

use super::ActI8;

/// Tokens per tile (the tile's 16 columns of int32 results).
pub const TILE_TOKENS: usize = 16;
/// Activation columns per tile (64 bytes per tile row, 4 per token).
pub const TILE_K: usize = 64;

/// One 64-byte line (tile row), so packed buffers are cache-line aligned.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub struct Line(pub [u8; 64]);

impl Default for Line {
    fn default() -> Self {
        Line([0; 64])
    }
}

/// Activation rows in tile layout: groups of [`TILE_TOKENS`] tokens (the last one padded
/// with zero rows to a whole number of groups), each group `k / 64` tiles of 16 lines.
#[derive(Debug, Default)]
pub struct I8Tiles {
    n: usize,
    k: usize,
    groups: usize,
    lines: Vec<Line>,
    sums: Vec<i32>,
}

impl I8Tiles {
    /// Packs `acts` (rows of `k` int8 values, `k % 64 == 0`), padding the token groups to a
    /// multiple of `group_multiple`, so kernels that take groups in pairs need no edge case.
    pub fn pack(&mut self, acts: &[ActI8], k: usize, group_multiple: usize) {
        assert!(k % TILE_K == 0, "tile rows hold whole 64-column chunks");
        let n = acts.len();
        let groups = n
            .div_ceil(TILE_TOKENS)
            .next_multiple_of(group_multiple.max(1));
        let chunks = k / TILE_K;
        self.n = n;
        self.k = k;
        self.groups = groups;
        self.lines.clear();
        self.lines.resize(groups * chunks * 16, Line::default());
        self.sums.clear();
        self.sums.extend(acts.iter().map(|a| a.sum));
        for (t, a) in acts.iter().enumerate() {
            let (g, col) = (t / TILE_TOKENS, 4 * (t % TILE_TOKENS));
            let q = &a.q[..k];
            for (c, chunk) in q.chunks_exact(TILE_K).enumerate() {
                let tile = &mut self.lines[(g * chunks + c) * 16..][..16];
                for (line, four) in tile.iter_mut().zip(chunk.chunks_exact(4)) {
                    for (dst, &v) in line.0[col..col + 4].iter_mut().zip(four) {
                        *dst = v as u8;
                    }
                }
            }
        }
    }

    /// Activation rows packed.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Columns per row.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Token groups held (a multiple of the padding asked for).
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// `sum q` of each row (what unsigned-code products subtract).
    pub fn sums(&self) -> &[i32] {
        &self.sums
    }

    /// The packed lines: group `g`, chunk `c` starts at line `(g * k / 64 + c) * 16`.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }
}

/// An I2_S product on packed activations: rows `row0 .. row0 + m` against every packed
/// row, `out[t * m + r]`, `m = out.len() / acts.n()`; the same integers as `i2s_gemm`.
pub type I2sTileGemm = fn(w: &[u8], k: usize, row0: usize, acts: &I8Tiles, out: &mut [i32]);

/// A table's tile kernel and when it pays.
pub struct I2sTiles {
    /// Fewest activation rows for which packing and tiles beat `i2s_gemm`.
    pub min_rows: usize,
    /// Pad packed activations to a multiple of this many token groups.
    pub group_multiple: usize,
    pub gemm: I2sTileGemm,
}
