//! NEON + dot-product (`sdot`) kernels. Callers must have detected both features (see
//! `aarch64::tables`); every `unsafe fn` here has that single precondition besides what its
//! own comment says.
//!
//! The integer parts use `sdot`, whose lane `l` adds the exact int8 x int8 products of bytes
//! `4l .. 4l + 4`. That is the lane shape the scalar definitions of the Q8_0 and ternary
//! block kernels are written in (ggml's AVX2 kernels), so their eight float lanes are two
//! `float32x4_t` here, lane for lane, with the same fused multiply-adds and the same final
//! reduction. The float dots keep `order`'s 16-lane accumulators as four `float32x4_t` each.

use std::arch::aarch64::*;
use std::arch::asm;
use std::cell::Cell;

use crate::kernels::act::{BlockQ8K, BlockQ8_0, QK8_0, QK_K};
use crate::kernels::order::{GGML_STEP, LANES};
use crate::quant::f16::to_f32 as h2f;
use crate::quant::{q8_0, tq1_0, tq2_0};

/// Rows per pass of `i2s_dots`: they share each activation load.
const ROWS: usize = 4;
/// Activation rows per pass of `i2s_gemm` (accumulators kept in registers).
const GEMM_TILE: usize = 4;

/// `acc` plus, in lane `l`, the exact sum of `a[i] * b[i]` for `i` in `4l .. 4l + 4`.
/// `vdotq_s32` is not stable in Rust yet, so the instruction is written out.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: `sdot` reads and writes only these vector registers (no memory, no flags),
    // and this function is compiled for, and only called on, CPUs with the dotprod feature.
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// Four f16 values at `p` widened exactly (`fcvtl`: the f16 vector types and their
/// conversion intrinsics are not stable in Rust yet). `p` must be readable for 8 bytes.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn load_f16(p: *const u16) -> float32x4_t {
    let h = vld1_s16(p.cast());
    let out: float32x4_t;
    // SAFETY: `fcvtl` (base ARMv8 SIMD) reads and writes only these vector registers.
    unsafe {
        asm!(
            "fcvtl {out:v}.4s, {h:v}.4h",
            out = lateout(vreg) out,
            h = in(vreg) h,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    out
}

/// The sum of four float lanes as `(v0 + v2) + (v1 + v3)`, the last two steps of
/// `hsum_float_8` and of `order::reduce16`.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn hsum4(v: float32x4_t) -> f32 {
    let w = vadd_f32(vget_low_f32(v), vget_high_f32(v));
    vget_lane_f32::<0>(w) + vget_lane_f32::<1>(w)
}

/// `hsum_float_8` of the eight lanes `lo ++ hi`: lane `i` plus lane `i + 4`, then
/// [`hsum4`]. Also the Q8_0 reduction.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn hsum8(v: [float32x4_t; 2]) -> f32 {
    hsum4(vaddq_f32(v[0], v[1]))
}

/// `order::reduce16` of 16 lanes held as four vectors: lane `i` plus lane `i + 8`, then
/// [`hsum8`].
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn reduce16(v: [float32x4_t; 4]) -> f32 {
    hsum8([vaddq_f32(v[0], v[2]), vaddq_f32(v[1], v[3])])
}

/// The 2-bit fields at bit `shift` of the bytes of `b`, mapped through `lut` (code `c` to
/// byte `c` of `lut`).
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn fields(b: uint8x16_t, shift: i8, lut: int8x16_t) -> int8x16_t {
    let codes = vandq_u8(vshlq_u8(b, vdupq_n_s8(-shift)), vdupq_n_u8(3));
    vqtbl1q_s8(lut, codes)
}

/// A `vqtbl1q_s8` table whose first four bytes are `values` (the rest are never indexed).
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn code_table(values: [i8; 4]) -> int8x16_t {
    let mut t = [0i8; 16];
    t[..4].copy_from_slice(&values);
    vld1q_s8(t.as_ptr())
}

/// The values `code - 1` (code 3 counts as 0, as in the scalar table) of the 32-byte I2_S
/// block at `p`: `[g][h]` holds elements `32g + 16h .. 32g + 16h + 16` (group `g` sits in
/// bits `7-2g .. 6-2g`). `p` must be readable for 32 bytes; `lut` is `I2S_VALUES`'s table.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn i2s_values(p: *const u8, lut: int8x16_t) -> [[int8x16_t; 2]; 4] {
    // Written out: a closure (`map`) does not inherit `dotprod`, so its call to `fields`
    // would not be inlined.
    let (b0, b1) = (vld1q_u8(p), vld1q_u8(p.add(16)));
    [
        [fields(b0, 6, lut), fields(b1, 6, lut)],
        [fields(b0, 4, lut), fields(b1, 4, lut)],
        [fields(b0, 2, lut), fields(b1, 2, lut)],
        [fields(b0, 0, lut), fields(b1, 0, lut)],
    ]
}

/// I2_S codes to signed values: sdot takes them as they are, so no `sum q` correction.
const I2S_VALUES: [i8; 4] = [-1, 0, 1, 0];

/// The 128 activations of one block, laid out like [`i2s_values`]. `q` must be readable
/// for 128 bytes.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn load_block(q: *const i8) -> [[int8x16_t; 2]; 4] {
    // Written out: as a loop the loads went through the stack.
    let at = |i: usize| vld1q_s8(q.add(16 * i));
    [
        [at(0), at(1)],
        [at(2), at(3)],
        [at(4), at(5)],
        [at(6), at(7)],
    ]
}

/// `acc` plus the dot of one block's values with its activations, over four int32 lanes.
/// Each lane gains at most 32 * 128 per block, so `k < 2^24` keeps it exact.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn block_dot(acc: int32x4_t, v: &[[int8x16_t; 2]; 4], q: &[[int8x16_t; 2]; 4]) -> int32x4_t {
    // Written out: LLVM does not unroll a loop around the `sdot` asm, and the loop would
    // keep `v` and `q` in memory.
    let acc = sdot(acc, v[0][0], q[0][0]);
    let acc = sdot(acc, v[0][1], q[0][1]);
    let acc = sdot(acc, v[1][0], q[1][0]);
    let acc = sdot(acc, v[1][1], q[1][1]);
    let acc = sdot(acc, v[2][0], q[2][0]);
    let acc = sdot(acc, v[2][1], q[2][1]);
    let acc = sdot(acc, v[3][0], q[3][0]);
    sdot(acc, v[3][1], q[3][1])
}

/// `s` plus the sdots of one 32-element run: `x[0]` with `q[0..16]` (the scalar block
/// kernels' lanes 0..4), `x[1]` with `q[16..32]` (lanes 4..8). Pairs are passed by value so
/// that accumulators stay in registers (loops around asm are not unrolled).
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn run_dot(s: [int32x4_t; 2], x: [int8x16_t; 2], q: *const i8) -> [int32x4_t; 2] {
    [
        sdot(s[0], x[0], vld1q_s8(q)),
        sdot(s[1], x[1], vld1q_s8(q.add(16))),
    ]
}

/// [`ROWS`] rows at `w` (`rb` bytes apart, `nb` blocks each) against `q`, sharing each
/// activation load. Written out so that the accumulators stay in registers.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn i2s_rows_dot(w: *const u8, rb: usize, q: *const i8, nb: usize) -> [i32; ROWS] {
    let lut = code_table(I2S_VALUES);
    let [mut a0, mut a1, mut a2, mut a3] = [vdupq_n_s32(0); ROWS];
    for b in 0..nb {
        let (w, qv) = (w.add(32 * b), load_block(q.add(128 * b)));
        a0 = block_dot(a0, &i2s_values(w, lut), &qv);
        a1 = block_dot(a1, &i2s_values(w.add(rb), lut), &qv);
        a2 = block_dot(a2, &i2s_values(w.add(2 * rb), lut), &qv);
        a3 = block_dot(a3, &i2s_values(w.add(3 * rb), lut), &qv);
    }
    [
        vaddvq_s32(a0),
        vaddvq_s32(a1),
        vaddvq_s32(a2),
        vaddvq_s32(a3),
    ]
}

/// One row at `w` (`nb` blocks) against `q`.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn i2s_row_dot(w: *const u8, q: *const i8, nb: usize) -> i32 {
    let lut = code_table(I2S_VALUES);
    let mut acc = vdupq_n_s32(0);
    for b in 0..nb {
        acc = block_dot(
            acc,
            &i2s_values(w.add(32 * b), lut),
            &load_block(q.add(128 * b)),
        );
    }
    vaddvq_s32(acc)
}

/// [`crate::kernels::scalar::i2s_dots`]: [`ROWS`] rows per pass, the last `m % 4` one by one.
#[target_feature(enable = "neon,dotprod")]
pub(super) unsafe fn i2s_dots(w: &[u8], k: usize, row0: usize, q: &[i8], out: &mut [i32]) {
    let rows = super::i2s_rows(w, k, row0, out.len());
    let q = q[..k].as_ptr();
    let (rb, nb) = (k / 4, k / 128);
    // Loads stay inside `rows` (out.len() rows of rb bytes) and `q` (k bytes).
    let w = rows.as_ptr();
    let done = out.len() - out.len() % ROWS;
    for (i, out) in out[..done].chunks_exact_mut(ROWS).enumerate() {
        out.copy_from_slice(&i2s_rows_dot(w.add(i * ROWS * rb), rb, q, nb));
    }
    for (r, o) in out.iter_mut().enumerate().skip(done) {
        *o = i2s_row_dot(w.add(r * rb), q, nb);
    }
}

/// [`crate::kernels::scalar::i2s_gemm`]: [`GEMM_TILE`] activation rows per pass over the
/// weights; the last `n % 4` rows go through [`i2s_dots`] one by one.
#[target_feature(enable = "neon,dotprod")]
pub(super) unsafe fn i2s_gemm(w: &[u8], k: usize, row0: usize, qs: &[&[i8]], out: &mut [i32]) {
    let Some(m) = out.len().checked_div(qs.len()) else {
        return; // no activation rows
    };
    assert!(
        m * qs.len() == out.len(),
        "out must hold m rows per activation row"
    );
    if m == 0 {
        return; // no weight rows (and chunks of 0 outputs would not be defined)
    }
    let rows = super::i2s_rows(w, k, row0, m);
    let (tiled, rest) = qs.split_at(qs.len() - qs.len() % GEMM_TILE);
    let (out_tiled, out_rest) = out.split_at_mut(tiled.len() * m);
    for (tile, out) in tiled
        .chunks_exact(GEMM_TILE)
        .zip(out_tiled.chunks_exact_mut(GEMM_TILE * m))
    {
        // Bounds: each q is sliced to k bytes; the weight loads stay inside `rows`.
        let q = std::array::from_fn(|t| tile[t][..k].as_ptr());
        gemm_tile(rows, k, q, out);
    }
    for (q, out) in rest.iter().zip(out_rest.chunks_exact_mut(m)) {
        i2s_dots(w, k, row0, q, out);
    }
}

/// Four activation rows (`q`, each readable for `k` bytes) against every row of `rows`, each
/// weight block decoded once: `out[t * m + r]`. Written out so that the four accumulators
/// stay in registers.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn gemm_tile(rows: &[u8], k: usize, q: [*const i8; GEMM_TILE], out: &mut [i32]) {
    let (rb, nb) = (k / 4, k / 128);
    let m = rows.len() / rb;
    let lut = code_table(I2S_VALUES);
    for r in 0..m {
        let w = rows.as_ptr().add(r * rb);
        let [mut a0, mut a1, mut a2, mut a3] = [vdupq_n_s32(0); GEMM_TILE];
        for b in 0..nb {
            let v = i2s_values(w.add(32 * b), lut);
            a0 = block_dot(a0, &v, &load_block(q[0].add(128 * b)));
            a1 = block_dot(a1, &v, &load_block(q[1].add(128 * b)));
            a2 = block_dot(a2, &v, &load_block(q[2].add(128 * b)));
            a3 = block_dot(a3, &v, &load_block(q[3].add(128 * b)));
        }
        for (t, a) in [a0, a1, a2, a3].into_iter().enumerate() {
            out[t * m + r] = vaddvq_s32(a);
        }
    }
}

/// The f16 scale stored little-endian at `block[at..at + 2]`.
fn scale_at(block: &[u8], at: usize) -> f32 {
    h2f(u16::from_le_bytes([block[at], block[at + 1]]))
}

/// [`crate::kernels::scalar::q8_0_dots`]: each block's two sdots are the scalar lanes
/// 0..4 and 4..8.
#[target_feature(enable = "neon,dotprod")]
pub(super) unsafe fn q8_0_dots(w: &[u8], k: usize, row0: usize, a: &[BlockQ8_0], out: &mut [f32]) {
    let nb = k / QK8_0;
    let rb = nb * q8_0::BLOCK_BYTES;
    let rows = &w[row0 * rb..(row0 + out.len()) * rb];
    let a = &a[..nb];
    for (row, o) in rows.chunks_exact(rb).zip(out) {
        let mut acc = [vdupq_n_f32(0.0); 2];
        for (block, ab) in row.chunks_exact(q8_0::BLOCK_BYTES).zip(a) {
            let d = vdupq_n_f32(scale_at(block, 0) * h2f(ab.d));
            // The block holds 2 + 32 bytes; `ab.qs` 32.
            let p = block.as_ptr().add(2).cast::<i8>();
            let x = [vld1q_s8(p), vld1q_s8(p.add(16))];
            let s = run_dot([vdupq_n_s32(0); 2], x, ab.qs.as_ptr());
            acc = [
                vfmaq_f32(acc[0], vcvtq_f32_s32(s[0]), d),
                vfmaq_f32(acc[1], vcvtq_f32_s32(s[1]), d),
            ];
        }
        *o = hsum8(acc);
    }
}

thread_local! {
    /// [`block_sums`]' buffer, handed back after each call so that a decode step does not
    /// allocate.
    static BLOCK_SUMS: Cell<Vec<[int32x4_t; 2]>> = const { Cell::new(Vec::new()) };
}

/// Per Q8_K block, the sums of `q` over elements `32u .. 32u + 32` as lane `u` of
/// `[lanes 0..4, lanes 4..8]`, in this thread's reused buffer (return it with
/// `BLOCK_SUMS.set`).
#[target_feature(enable = "neon,dotprod")]
unsafe fn block_sums(a: &[BlockQ8K]) -> Vec<[int32x4_t; 2]> {
    let ones = vdupq_n_s8(1);
    let mut sums = BLOCK_SUMS.take();
    sums.clear();
    for b in a {
        let q = b.qs.as_ptr();
        // The four lanes of t[u] add up to the sum over elements 32u .. 32u + 32.
        let mut t = [vdupq_n_s32(0); 8];
        for (u, t) in t.iter_mut().enumerate() {
            *t = sdot(*t, ones, vld1q_s8(q.add(32 * u)));
            *t = sdot(*t, ones, vld1q_s8(q.add(32 * u + 16)));
        }
        let lo = vpaddq_s32(vpaddq_s32(t[0], t[1]), vpaddq_s32(t[2], t[3]));
        let hi = vpaddq_s32(vpaddq_s32(t[4], t[5]), vpaddq_s32(t[6], t[7]));
        sums.push([lo, hi]);
    }
    sums
}

/// The shared tail of the ternary kernels: `s` holds the scalar lanes' `sum code * q` (lanes
/// 0..4, 4..8); minus the block sums they are the exact int32 lanes, added to `acc` as
/// `fma(lane, d_a * d_w, acc)`.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn ternary_step(
    acc: [float32x4_t; 2],
    s: [int32x4_t; 2],
    bsums: &[int32x4_t; 2],
    d: f32,
) -> [float32x4_t; 2] {
    let d = vdupq_n_f32(d);
    [
        vfmaq_f32(acc[0], vcvtq_f32_s32(vsubq_s32(s[0], bsums[0])), d),
        vfmaq_f32(acc[1], vcvtq_f32_s32(vsubq_s32(s[1], bsums[1])), d),
    ]
}

/// The ternary kernels' outer loops: for each row, each block's `sum code * q` lanes from
/// `block_lanes(block, activations)`, then [`ternary_step`] and [`hsum8`]. The scale is the
/// last two bytes of each block.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn ternary_dots(
    w: &[u8],
    k: usize,
    row0: usize,
    a: &[BlockQ8K],
    out: &mut [f32],
    block_bytes: usize,
    block_lanes: impl Fn(*const u8, *const i8) -> [int32x4_t; 2],
) {
    let nb = k / QK_K;
    let rb = nb * block_bytes;
    let rows = &w[row0 * rb..(row0 + out.len()) * rb];
    let a = &a[..nb];
    let bsums = block_sums(a);
    for (row, o) in rows.chunks_exact(rb).zip(out) {
        let mut acc = [vdupq_n_f32(0.0); 2];
        for ((block, ab), bs) in row.chunks_exact(block_bytes).zip(a).zip(&bsums) {
            let s = block_lanes(block.as_ptr(), ab.qs.as_ptr());
            acc = ternary_step(acc, s, bs, ab.d * scale_at(block, block_bytes - 2));
        }
        *o = hsum8(acc);
    }
    BLOCK_SUMS.set(bsums);
}

/// [`crate::kernels::scalar::tq2_0_dots`].
#[target_feature(enable = "neon,dotprod")]
pub(super) unsafe fn tq2_0_dots(w: &[u8], k: usize, row0: usize, a: &[BlockQ8K], out: &mut [f32]) {
    // Codes as the scalar lanes count them (`value + 1`): code 3 is value 0, so 1.
    let lut = code_table([0, 1, 2, 1]);
    ternary_dots(w, k, row0, a, out, tq2_0::BLOCK_BYTES, |p, q| {
        // 64 code bytes then the scale; 256 activations. Byte 32h + m holds element
        // 128h + 32n + m in bits 2n .. 2n + 1.
        let mut s = [vdupq_n_s32(0); 2];
        for h in 0..2 {
            let b = [vld1q_u8(p.add(32 * h)), vld1q_u8(p.add(32 * h + 16))];
            for n in 0..4 {
                let x = [fields(b[0], 2 * n, lut), fields(b[1], 2 * n, lut)];
                s = run_dot(s, x, q.add(128 * h + 32 * n as usize));
            }
        }
        s
    });
}

/// Trits (0..=2) of the bytes of `v` times `mult` (byte-wise, mod 256):
/// `((u8)(byte * mult) * 3) >> 8`, which is 1 from 86 and 2 from 171 on.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn trits(v: uint8x16_t, mult: uint8x16_t) -> int8x16_t {
    let t = vmulq_u8(v, mult);
    // The compares give all-ones (-1) bytes: 0 - (-1) - (-1).
    let ge86 = vcgeq_u8(t, vdupq_n_u8(86));
    let ge171 = vcgeq_u8(t, vdupq_n_u8(171));
    vreinterpretq_s8_u8(vsubq_u8(vsubq_u8(vdupq_n_u8(0), ge86), ge171))
}

/// [`crate::kernels::scalar::tq1_0_dots`].
#[target_feature(enable = "neon,dotprod")]
pub(super) unsafe fn tq1_0_dots(w: &[u8], k: usize, row0: usize, a: &[BlockQ8K], out: &mut [f32]) {
    const QS: usize = tq1_0::QS_BYTES;
    let pow3 = [1, 3, 9, 27, 81].map(|m: u8| vdupq_n_u8(m));
    // qh repeated four times: byte 4n + j is trit n of qh[j], element 240 + j + 4n.
    let qh_mult = vld1q_u8([1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27].as_ptr());
    ternary_dots(w, k, row0, a, out, tq1_0::BLOCK_BYTES, |p, q| {
        // 48 qs bytes, 4 qh bytes, the scale; 256 activations. Trit n of qs[m] (m < 32) is
        // element m + 32n: runs 0..5. Trit n of qs[32 + m] (m < 16) is element
        // 160 + m + 16n: runs 5 and 6 and the first half of run 7, whose second half is qh.
        let mut s = [vdupq_n_s32(0); 2];
        let qs0 = [vld1q_u8(p), vld1q_u8(p.add(16))];
        for (n, mult) in pow3.iter().enumerate() {
            s = run_dot(
                s,
                [trits(qs0[0], *mult), trits(qs0[1], *mult)],
                q.add(32 * n),
            );
        }
        let qs1 = vld1q_u8(p.add(32));
        let qh = vreinterpretq_u8_u32(vdupq_n_u32(p.add(QS).cast::<u32>().read_unaligned()));
        let x = [trits(qs1, pow3[0]), trits(qs1, pow3[1])];
        s = run_dot(s, x, q.add(160));
        let x = [trits(qs1, pow3[2]), trits(qs1, pow3[3])];
        s = run_dot(s, x, q.add(192));
        run_dot(s, [trits(qs1, pow3[4]), trits(qh, qh_mult)], q.add(224))
    });
}

/// `acc` plus `x * y`, fused, for the 16 elements from `i` (four vectors; `load(i)` gives
/// elements `i .. i + 4` of both operands). NEON is part of the aarch64 baseline, so this
/// needs no `target_feature`, which lets it be `inline(always)`: the inliner otherwise keeps
/// it a call in `ggml_steps`.
#[inline(always)]
unsafe fn fma16(
    acc: [float32x4_t; 4],
    i: usize,
    load: &impl Fn(usize) -> (float32x4_t, float32x4_t),
) -> [float32x4_t; 4] {
    let mut acc = acc;
    for (c, acc) in acc.iter_mut().enumerate() {
        let (x, y) = load(i + 4 * c);
        *acc = vfmaq_f32(*acc, x, y);
    }
    acc
}

/// ggml's four 16-lane accumulators `a0 .. a3` over `np` elements (a multiple of 64).
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn ggml_steps(np: usize, load: impl Fn(usize) -> (float32x4_t, float32x4_t)) -> f32 {
    let z = [vdupq_n_f32(0.0); 4];
    let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
    for i in (0..np).step_by(GGML_STEP) {
        a0 = fma16(a0, i, &load);
        a1 = fma16(a1, i + LANES, &load);
        a2 = fma16(a2, i + 2 * LANES, &load);
        a3 = fma16(a3, i + 3 * LANES, &load);
    }
    // (a0 + a2) + (a1 + a3), lane-wise, then reduce16.
    let mut v = z;
    for (c, v) in v.iter_mut().enumerate() {
        *v = vaddq_f32(vaddq_f32(a0[c], a2[c]), vaddq_f32(a1[c], a3[c]));
    }
    reduce16(v)
}

/// [`crate::kernels::order::dot_f16_ggml`].
#[target_feature(enable = "neon,dotprod")]
pub(super) unsafe fn dot_f16_ggml(x: &[u16], y: &[u16]) -> f32 {
    assert_eq!(x.len(), y.len());
    let np = y.len() & !(GGML_STEP - 1);
    // Loads read [i, i + 4) with i + 4 <= np <= len.
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let steps = ggml_steps(np, |i| (load_f16(xp.add(i)), load_f16(yp.add(i))));
    let mut sumf = f64::from(steps);
    for (&xi, &yi) in x[np..].iter().zip(&y[np..]) {
        sumf += f64::from(h2f(xi) * h2f(yi));
    }
    sumf as f32
}

/// [`crate::kernels::order::dot_f32_ggml`].
#[target_feature(enable = "neon,dotprod")]
pub(super) unsafe fn dot_f32_ggml(x: &[f32], y: &[f32]) -> f32 {
    assert_eq!(x.len(), y.len());
    let np = y.len() & !(GGML_STEP - 1);
    // Loads read [i, i + 4) with i + 4 <= np <= len.
    let (xp, yp) = (x.as_ptr(), y.as_ptr());
    let mut sumf = ggml_steps(np, |i| (vld1q_f32(xp.add(i)), vld1q_f32(yp.add(i))));
    for (&xi, &yi) in x[np..].iter().zip(&y[np..]) {
        sumf += xi * yi;
    }
    sumf
}

/// tinyBLAS's single 16-lane accumulator (four vectors) over `n` elements, `n % 16 == 0`
/// as the scalar definition requires. `load(i)` gives elements `i .. i + 4`.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn tiled(n: usize, load: impl Fn(usize) -> (float32x4_t, float32x4_t)) -> f32 {
    assert!(n % LANES == 0, "tiled dots take whole 16-element steps");
    let mut acc = [vdupq_n_f32(0.0); 4];
    for i in (0..n).step_by(LANES) {
        acc = fma16(acc, i, &load);
    }
    reduce16(acc)
}

/// [`crate::kernels::order::dot_f16_f32_tiled`].
#[target_feature(enable = "neon,dotprod")]
pub(super) unsafe fn dot_f16_f32_tiled(a: &[u16], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    // Loads read [i, i + 4) with i + 4 <= len (whole 16s).
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    tiled(a.len(), |i| (load_f16(ap.add(i)), vld1q_f32(bp.add(i))))
}

/// [`crate::kernels::order::dot_f16_f16_tiled`].
#[target_feature(enable = "neon,dotprod")]
pub(super) unsafe fn dot_f16_f16_tiled(a: &[u16], b: &[u16]) -> f32 {
    assert_eq!(a.len(), b.len());
    // Loads read [i, i + 4) with i + 4 <= len (whole 16s).
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    tiled(a.len(), |i| (load_f16(ap.add(i)), load_f16(bp.add(i))))
}

/// [`crate::kernels::order::dot_f32_tiled`].
#[target_feature(enable = "neon,dotprod")]
pub(super) unsafe fn dot_f32_tiled(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    // Loads read [i, i + 4) with i + 4 <= len (whole 16s).
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    tiled(a.len(), |i| (vld1q_f32(ap.add(i)), vld1q_f32(bp.add(i))))
}
