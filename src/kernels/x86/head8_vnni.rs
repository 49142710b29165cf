//! AVX-512 VNNI row dots of the opt-in 8-bit LM head
//! ([`crate::kernels::scalar::i8_row_dots`]). Callers must have detected the features (see
//! `x86::tables`).
//!
//! `vpdpbusd` multiplies unsigned bytes by signed bytes. The activations are made unsigned
//! by adding 128 (`q ^ 0x80`), so each lane accumulates `sum (q + 128) * w`; a second
//! `vpdpbusd` against a vector of ones accumulates `sum w` in the same pass, and
//! `sum q * w = sum (q + 128) * w - 128 * sum w` per lane. Computing the row sums on the fly
//! costs one instruction per 64 weights, which is free here (the head is bound by memory
//! bandwidth), and keeps the table entry free of load-time extras.
//!
//! No int32 wraps, for `k <= I8_ROW_MAX = 2^16`: a lane sees `k / 16` columns;
//! `|(q + 128) * w| <= 255 * 128 < 2^15`, so `|sum (q + 128) * w| < 2^11 * k <= 2^27`,
//! `|sum w| <= 2^3 * k <= 2^19` and `128 * sum w` fits as well; the corrected lane is at
//! most `2^10 * k` and the sum of the 16 lanes at most `2^14 * k <= 2^30`. (`vpdpbusd`
//! itself wraps rather than saturates, so even larger sums would come out exact modulo
//! 2^32; the bound just makes that argument unnecessary.)

use std::arch::x86_64::*;

use super::head8::by_row_groups;

/// [`crate::kernels::scalar::i8_row_dots`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn i8_row_dots_avx512(
    w: &[i8],
    k: usize,
    row0: usize,
    q: &[i8],
    out: &mut [i32],
) {
    by_row_groups!(rows_vnni, w, k, row0, q, out);
}

/// `R` rows (`rows` holds exactly `R * k` values) against `q` (`k` values), 64 columns per
/// step; the last `k % 64` columns with masked loads.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn rows_vnni<const R: usize>(rows: &[i8], k: usize, q: &[i8]) -> [i32; R] {
    debug_assert_eq!(rows.len(), R * k);
    let (w, qp) = (rows.as_ptr(), q.as_ptr());
    let bias = _mm512_set1_epi8(0x80u8 as i8);
    let ones = _mm512_set1_epi8(1);
    let mut acc = [_mm512_setzero_si512(); R];
    let mut sums = [_mm512_setzero_si512(); R];
    // One step of 64 columns at `j`, loading with `$load` (a full or a masked load).
    macro_rules! step {
        ($j:expr, $load:expr) => {{
            let j = $j;
            let qu = _mm512_xor_si512($load(qp.add(j)), bias);
            for r in 0..R {
                let wv = $load(w.add(r * k + j));
                acc[r] = _mm512_dpbusd_epi32(acc[r], qu, wv);
                sums[r] = _mm512_dpbusd_epi32(sums[r], ones, wv);
            }
        }};
    }
    let n64 = k & !63;
    // Full loads read [j, j + 64) with j + 64 <= n64 <= k, inside each row and inside q.
    for j in (0..n64).step_by(64) {
        step!(j, |p: *const i8| _mm512_loadu_si512(p.cast()));
    }
    if n64 < k {
        // Masked loads touch only the `k - n64` bytes left in each row and in q; the other
        // bytes are zero, so their weights (0) add nothing to either sum.
        let mask: __mmask64 = (1u64 << (k - n64)) - 1;
        step!(n64, |p: *const i8| _mm512_maskz_loadu_epi8(mask, p));
    }
    std::array::from_fn(|r| {
        _mm512_reduce_add_epi32(_mm512_sub_epi32(acc[r], _mm512_slli_epi32(sums[r], 7)))
    })
}
