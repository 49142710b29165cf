//! Projections: activation quantization per weight format and the matrix products, with the
//! reference's choice of kernel and operand precision.

use rayon::prelude::*;

use super::weights::{Linear, LinearFormat};
use super::{Model, Recipe};
use crate::kernels::tiles::{I2sTiles, I8Tiles};
use crate::kernels::{self, act, view, ActI8, BlockQ8K, Kernels};
use crate::quant::f16;

/// Output rows computed per parallel task.
pub(super) const ROWS_PER_TASK: usize = 64;
/// Output rows per parallel task of a tile (AMX) product.
const TILE_TASK_ROWS: usize = 128;

/// Buffers for the quantized forms of one projection input, reused across calls.
#[derive(Default)]
pub(super) struct ActBufs {
    i8: Vec<ActI8>,
    q8k: Vec<Vec<BlockQ8K>>,
    tiles: I8Tiles,
    /// Integer results of a multi-row I2_S product, one block of rows per task.
    dots: Vec<i32>,
}

/// The input rows of a group of projections, quantized at most once per activation format
/// (the references quantize again for each projection, with identical results).
pub(super) struct Acts<'a> {
    x: &'a [f32],
    width: usize,
    bufs: &'a mut ActBufs,
    have_i8: bool,
    have_q8k: bool,
    have_tiles: bool,
}

impl<'a> Acts<'a> {
    pub(super) fn new(x: &'a [f32], width: usize, bufs: &'a mut ActBufs) -> Acts<'a> {
        Acts {
            x,
            width,
            bufs,
            have_i8: false,
            have_q8k: false,
            have_tiles: false,
        }
    }

    pub(super) fn n_rows(&self) -> usize {
        self.x.len() / self.width
    }

    /// Rows as bitnet.cpp quantizes them for I2_S.
    fn int8(&mut self) -> &[ActI8] {
        if !self.have_i8 {
            let n = self.n_rows();
            self.bufs.i8.resize_with(n, ActI8::default);
            let quantize = kernels::get().quantize_i8;
            // Rows are independent; several (a prompt) are quantized in parallel.
            self.bufs.i8[..n]
                .par_iter_mut()
                .zip(self.x.par_chunks_exact(self.width))
                .with_min_len(4)
                .for_each(|(a, row)| quantize(row, a));
            self.have_i8 = true;
        }
        &self.bufs.i8[..self.n_rows()]
    }

    /// The int8 rows, packed for `tiles` when given, and the buffer for the products.
    fn i2s(&mut self, tiles: Option<&I2sTiles>) -> (&[ActI8], Option<&I8Tiles>, &mut Vec<i32>) {
        self.int8();
        let n = self.n_rows();
        if let Some(t) = tiles {
            if !self.have_tiles {
                self.bufs
                    .tiles
                    .pack(&self.bufs.i8[..n], self.width, t.group_multiple);
                self.have_tiles = true;
            }
        }
        let packed = tiles.map(|_| &self.bufs.tiles);
        (&self.bufs.i8[..n], packed, &mut self.bufs.dots)
    }

    /// Rows as ggml quantizes them for TQ1_0 / TQ2_0.
    fn q8k(&mut self) -> &[Vec<BlockQ8K>] {
        if !self.have_q8k {
            self.bufs.q8k.resize_with(self.n_rows(), Vec::new);
            for (row, a) in self
                .x
                .chunks_exact(self.width)
                .zip(self.bufs.q8k.iter_mut())
            {
                act::quantize_q8k(row, a);
            }
            self.have_q8k = true;
        }
        &self.bufs.q8k[..self.n_rows()]
    }
}

/// y = W x for every row of `acts`, into `out` (`rows x n_out`).
pub(super) fn linear(
    model: &Model,
    kt: &Kernels,
    w: &Linear,
    acts: &mut Acts<'_>,
    out: &mut Vec<f32>,
) {
    let n_rows = acts.n_rows();
    let data = model.tensor_data(w.tensor);
    let (k, n) = (w.n_in, w.n_out);
    // Every branch below writes every output.
    super::resize_for_overwrite(out, n_rows * n);
    if n_rows == 0 {
        // A micro-batch whose rows are all dropped before the last layer's FFN.
        return;
    }
    match w.format {
        LinearFormat::I2s { scale } => {
            // bitnet.cpp: (float)S - (float)sum, / act scale, * weight scale. Both terms are
            // below 2^24, so the exact difference converts identically.
            let finish =
                |d: &[i32], a: &ActI8, y: &mut [f32]| (kt.i2s_finish)(d, a.scale, scale, y);
            if n_rows == 1 {
                let a = &acts.int8()[0];
                out.par_chunks_mut(ROWS_PER_TASK)
                    .enumerate()
                    .for_each(|(c, y)| {
                        let mut dots = [0i32; ROWS_PER_TASK];
                        let dots = &mut dots[..y.len()];
                        (kt.i2s_dots)(data, k, c * ROWS_PER_TASK, &a.q, dots);
                        finish(dots, a, y);
                    });
            } else {
                // Several tokens: each task reads its weight rows once for all of them
                // (with tiles when the table has them and the batch fills them).
                let tiles = kt.i2s_tiles.filter(|t| n_rows >= t.min_rows);
                let (acts, packed, dots) = acts.i2s(tiles);
                dots.resize(n * n_rows, 0);
                let qs: Vec<&[i8]> = match packed {
                    Some(_) => Vec::new(),
                    None => acts.iter().map(|a| a.q.as_slice()).collect(),
                };
                // Tiles take taller panels: each pass over the activations then serves
                // more weight rows.
                let rows = match packed {
                    Some(_) => TILE_TASK_ROWS,
                    None => ROWS_PER_TASK,
                };
                // Task c owns rows c * rows .., as `dots[t * m + r]` in its block.
                dots.par_chunks_mut(rows * n_rows)
                    .enumerate()
                    .for_each(|(c, block)| match (tiles, packed) {
                        (Some(t), Some(p)) => (t.gemm)(data, k, c * rows, p, block),
                        _ => (kt.i2s_gemm)(data, k, c * rows, &qs, block),
                    });
                let dots = &*dots;
                out.par_chunks_mut(n)
                    .zip(acts)
                    .enumerate()
                    .for_each(|(t, (y, a))| {
                        for (c, block) in dots.chunks(rows * n_rows).enumerate() {
                            let m = block.len() / n_rows;
                            finish(&block[t * m..(t + 1) * m], a, &mut y[c * rows..][..m]);
                        }
                    });
            }
        }
        LinearFormat::Tq2_0 | LinearFormat::Tq1_0 => {
            let dots = if w.format == LinearFormat::Tq2_0 {
                kt.tq2_0_dots
            } else {
                kt.tq1_0_dots
            };
            for (y, a) in out.chunks_exact_mut(n).zip(acts.q8k()) {
                y.par_chunks_mut(ROWS_PER_TASK)
                    .enumerate()
                    .for_each(|(c, y)| dots(data, k, c * ROWS_PER_TASK, a, y));
            }
        }
        LinearFormat::F32 | LinearFormat::F16 => {
            let mat = float_matrix(data, w.format == LinearFormat::F16);
            let recipe = model.arch().recipe();
            let tiled = tiled(recipe, n_rows, k, n);
            let keep_f32 = recipe == Recipe::BitnetCpp;
            let mut x16 = Vec::new();
            for (y, x) in out.chunks_exact_mut(n).zip(acts.x.chunks_exact(k)) {
                float_matvec(kt, mat, k, x, y, tiled, keep_f32, &mut x16);
            }
        }
    }
    if let Some(s) = w.out_scale {
        for y in out.iter_mut() {
            *y *= s;
        }
    }
}

/// A float weight matrix read in place.
#[derive(Clone, Copy)]
pub(super) enum FloatMatrix<'a> {
    F16(&'a [u16]),
    F32(&'a [f32]),
}

pub(super) fn float_matrix(data: &[u8], is_f16: bool) -> FloatMatrix<'_> {
    const CHECKED: &str = "float tensors are checked for alignment when the model is bound";
    if is_f16 {
        FloatMatrix::F16(view::as_u16s(data).expect(CHECKED))
    } else {
        FloatMatrix::F32(view::as_f32s(data).expect(CHECKED))
    }
}

/// `y = W x` for a float matrix with rows of `k`. Multi-row passes (`tiled`) use tinyBLAS's
/// order; with `keep_f32` (bitnet.cpp) an F16 matrix meets the f32 activations there, while
/// single-row passes, and every F16 pass in llama.cpp, round the activations to f16 first.
#[allow(clippy::too_many_arguments)]
pub(super) fn float_matvec(
    kt: &Kernels,
    w: FloatMatrix<'_>,
    k: usize,
    x: &[f32],
    y: &mut [f32],
    tiled: bool,
    keep_f32: bool,
    x16: &mut Vec<u16>,
) {
    match w {
        FloatMatrix::F32(w) => y.par_iter_mut().enumerate().for_each(|(r, y)| {
            let wr = &w[r * k..(r + 1) * k];
            *y = if tiled {
                (kt.dot_f32_tiled)(wr, x)
            } else {
                (kt.dot_f32_ggml)(wr, x)
            };
        }),
        FloatMatrix::F16(w) if tiled && keep_f32 => {
            y.par_iter_mut().enumerate().for_each(|(r, y)| {
                *y = (kt.dot_f16_f32_tiled)(&w[r * k..(r + 1) * k], x);
            })
        }
        FloatMatrix::F16(w) => {
            x16.clear();
            x16.extend(x.iter().map(|&v| f16::from_f32(v)));
            let x16 = &*x16;
            y.par_iter_mut().enumerate().for_each(|(r, y)| {
                let wr = &w[r * k..(r + 1) * k];
                *y = if tiled {
                    (kt.dot_f16_f16_tiled)(wr, x16)
                } else {
                    (kt.dot_f16_ggml)(wr, x16)
                };
            });
        }
    }
}

/// Whether a product of `m` weight rows of length `k` with `n` activation rows takes the
/// reference's tiled (tinyBLAS) path: two or more rows, `k % 16 == 0`, and for llama.cpp's
/// newer llamafile also `m % 4 == 0`.
pub(super) fn tiled(recipe: Recipe, n: usize, k: usize, m: usize) -> bool {
    n >= 2 && k % kernels::order::LANES == 0 && (recipe == Recipe::BitnetCpp || m % 4 == 0)
}
