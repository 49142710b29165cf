//! Q8_0, TQ2_0 and TQ1_0 rows with AVX2 + FMA + F16C. Their scalar definitions accumulate
//! eight float lanes per block (the shape of ggml's AVX2 kernels), so both SIMD tables use
//! these. Integer lane sums are exact; the float steps are the scalar ones, lane for lane.

use std::arch::x86_64::*;

use super::avx2::fix_code3;
use crate::kernels::act::{BlockQ8K, BlockQ8_0, QK8_0, QK_K};
use crate::quant::{q8_0, tq1_0, tq2_0};

/// f16 bits to f32 with F16C (exact, like `quant::f16::to_f32`, without its per-call
/// feature dispatch).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn h2f(bits: u16) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
}

/// The f16 block scale stored in the last two bytes of `block`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn block_scale(block: &[u8]) -> f32 {
    let n = block.len();
    h2f(u16::from_le_bytes([block[n - 2], block[n - 1]]))
}

/// `hsum_float_8`, also the Q8_0 reduction: lane `i` plus lane `i + 4`, then
/// `(t0 + t2) + (t1 + t3)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn hsum8(v: __m256) -> f32 {
    let t = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let u = _mm_add_ps(t, _mm_movehl_ps(t, t));
    _mm_cvtss_f32(_mm_add_ss(u, _mm_shuffle_ps(u, u, 1)))
}

/// Eight int32 lanes, lane `l` the exact sum of `x[i] * y[i]` for `i` in `4l .. 4l + 4`
/// (widened to int16 first: `maddubs` would saturate on -128 * -128 pairs).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot32_lanes(x: *const u8, y: *const i8) -> __m256i {
    let wide = |p: *const u8| _mm256_cvtepi8_epi16(_mm_loadu_si128(p.cast()));
    let p0 = _mm256_madd_epi16(wide(x), wide(y.cast()));
    let p1 = _mm256_madd_epi16(wide(x.add(16)), wide(y.add(16).cast()));
    // hadd gives lanes 0 1 4 5 | 2 3 6 7; put the 64-bit pairs back in order.
    _mm256_permute4x64_epi64(_mm256_hadd_epi32(p0, p1), 0b11_01_10_00)
}

/// [`crate::kernels::scalar::q8_0_dots`].
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn q8_0_dots(w: &[u8], k: usize, row0: usize, a: &[BlockQ8_0], out: &mut [f32]) {
    let nb = k / QK8_0;
    let rb = nb * q8_0::BLOCK_BYTES;
    let rows = &w[row0 * rb..(row0 + out.len()) * rb];
    let a = &a[..nb];
    for (row, o) in rows.chunks_exact(rb).zip(out) {
        let mut acc = _mm256_setzero_ps();
        for (block, ab) in row.chunks_exact(q8_0::BLOCK_BYTES).zip(a) {
            super::prefetch_ahead(block.as_ptr(), block.len());
            let d = h2f(u16::from_le_bytes([block[0], block[1]])) * h2f(ab.d);
            // The block holds 2 + 32 bytes; `ab.qs` 32.
            let s = dot32_lanes(block.as_ptr().add(2), ab.qs.as_ptr());
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc);
        }
        *o = hsum8(acc);
    }
}

thread_local! {
    /// [`block_sums`]' buffer, handed back after each call so that a decode step does not
    /// allocate.
    static BLOCK_SUMS: std::cell::Cell<Vec<[i32; 8]>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Per Q8_K block, the sums of `q` over elements `32u .. 32u + 32` as lane `u`, in this
/// thread's reused buffer (return it with `BLOCK_SUMS.set`).
fn block_sums(a: &[BlockQ8K]) -> Vec<[i32; 8]> {
    let mut sums = BLOCK_SUMS.take();
    sums.clear();
    sums.extend(a.iter().map(|b| {
        std::array::from_fn(|u| {
            b.qs[32 * u..32 * (u + 1)]
                .iter()
                .map(|&q| i32::from(q))
                .sum()
        })
    }));
    sums
}

/// The shared tail of the ternary kernels: with `s` the int16 sums of `code * q` over the
/// block's eight 32-element vectors, lane `u` is `s`'s lane sum minus the block sum `u`,
/// added to `acc` as `fma(lane, d_a * d_w, acc)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn ternary_step(acc: __m256, s: __m256i, bsums: &[i32; 8], d: f32) -> __m256 {
    let bs = _mm256_loadu_si256(bsums.as_ptr().cast());
    let lanes = _mm256_sub_epi32(_mm256_madd_epi16(s, _mm256_set1_epi16(1)), bs);
    _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_set1_ps(d), acc)
}

/// [`crate::kernels::scalar::tq2_0_dots`].
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn tq2_0_dots(w: &[u8], k: usize, row0: usize, a: &[BlockQ8K], out: &mut [f32]) {
    let nb = k / QK_K;
    let rb = nb * tq2_0::BLOCK_BYTES;
    let rows = &w[row0 * rb..(row0 + out.len()) * rb];
    let a = &a[..nb];
    let bsums = block_sums(a);
    let m = _mm256_set1_epi8(3);
    for (row, o) in rows.chunks_exact(rb).zip(out) {
        let mut acc = _mm256_setzero_ps();
        for ((block, ab), bs) in row.chunks_exact(tq2_0::BLOCK_BYTES).zip(a).zip(&bsums) {
            super::prefetch_ahead(block.as_ptr(), block.len());
            // 64 code bytes then the scale; 256 activations. Half h, field n holds
            // elements 128h + 32n + 0..32 (least significant field first).
            let (p, q) = (block.as_ptr(), ab.qs.as_ptr());
            let mut s = _mm256_setzero_si256();
            for h in 0..2 {
                let b = fix_code3(_mm256_loadu_si256(p.add(32 * h).cast()));
                let codes = [
                    _mm256_and_si256(b, m),
                    _mm256_and_si256(_mm256_srli_epi16(b, 2), m),
                    _mm256_and_si256(_mm256_srli_epi16(b, 4), m),
                    _mm256_and_si256(_mm256_srli_epi16(b, 6), m),
                ];
                for (n, c) in codes.into_iter().enumerate() {
                    let qv = _mm256_loadu_si256(q.add(128 * h + 32 * n).cast());
                    // |sum| <= 8 * 2 * 2 * 128: no int16 wrap.
                    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c, qv));
                }
            }
            acc = ternary_step(acc, s, bs, ab.d * block_scale(block));
        }
        *o = hsum8(acc);
    }
    BLOCK_SUMS.set(bsums);
}

/// Trits (0..=2) of the bytes of `v`: `((u8)(byte * mult) * 3) >> 8`, with `mult` given
/// per 16-bit lane (equal for both bytes of a lane).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn trits(v: __m256i, mult: __m256i) -> __m256i {
    // Byte products mod 256: the low byte of each lane directly, the high byte from the
    // product of the high byte alone (so no carry comes up from the low one).
    let lo = _mm256_mullo_epi16(v, mult);
    let hi = _mm256_mullo_epi16(_mm256_and_si256(v, _mm256_set1_epi16(!0xFF)), mult);
    let t = _mm256_or_si256(_mm256_and_si256(lo, _mm256_set1_epi16(0xFF)), hi);
    // (t * 3) >> 8 is 1 from t = 86 and 2 from t = 171; unsigned compares via a sign flip.
    let x = _mm256_xor_si256(t, _mm256_set1_epi8(i8::MIN));
    let ge86 = _mm256_cmpgt_epi8(x, _mm256_set1_epi8((85 ^ 0x80u8) as i8));
    let ge171 = _mm256_cmpgt_epi8(x, _mm256_set1_epi8((170 ^ 0x80u8) as i8));
    _mm256_sub_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), ge86), ge171)
}

/// [`crate::kernels::scalar::tq1_0_dots`].
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn tq1_0_dots(w: &[u8], k: usize, row0: usize, a: &[BlockQ8K], out: &mut [f32]) {
    const QS: usize = tq1_0::QS_BYTES;
    let nb = k / QK_K;
    let rb = nb * tq1_0::BLOCK_BYTES;
    let rows = &w[row0 * rb..(row0 + out.len()) * rb];
    let a = &a[..nb];
    let bsums = block_sums(a);
    let half = |lo: i16, hi: i16| _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo));
    // Multipliers 3^n of the eight 32-element vectors (see `tq1_0` for the placement):
    // qs[0..32] for n = 0..5; qs[32..48] twice, n = 0 | 1 and 2 | 3; qs[32..48] (n = 4) | qh
    // repeated four times, n = 0, 1, 2, 3 per 4 bytes.
    let mults = [
        _mm256_set1_epi16(1),
        _mm256_set1_epi16(3),
        _mm256_set1_epi16(9),
        _mm256_set1_epi16(27),
        _mm256_set1_epi16(81),
        half(1, 3),
        half(9, 27),
        _mm256_set_m128i(_mm_setr_epi16(1, 1, 3, 3, 9, 9, 27, 27), _mm_set1_epi16(81)),
    ];
    for (row, o) in rows.chunks_exact(rb).zip(out) {
        let mut acc = _mm256_setzero_ps();
        for ((block, ab), bs) in row.chunks_exact(tq1_0::BLOCK_BYTES).zip(a).zip(&bsums) {
            super::prefetch_ahead(block.as_ptr(), block.len());
            // 48 qs bytes, 4 qh bytes, the scale; 256 activations.
            let (p, q) = (block.as_ptr(), ab.qs.as_ptr());
            let qs0 = _mm256_loadu_si256(p.cast());
            let qs1 = _mm_loadu_si128(p.add(32).cast());
            let qh = _mm_set1_epi32(p.add(QS).cast::<i32>().read_unaligned());
            let mid = _mm256_set_m128i(qs1, qs1);
            let src = [qs0, qs0, qs0, qs0, qs0, mid, mid, _mm256_set_m128i(qh, qs1)];
            let mut s = _mm256_setzero_si256();
            for (c, (v, mult)) in src.into_iter().zip(mults).enumerate() {
                let qv = _mm256_loadu_si256(q.add(32 * c).cast());
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(trits(v, mult), qv));
            }
            acc = ternary_step(acc, s, bs, ab.d * block_scale(block));
        }
        *o = hsum8(acc);
    }
    BLOCK_SUMS.set(bsums);
}
