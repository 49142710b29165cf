//! The aarch64 table, `neon`: NEON plus the dot-product instructions (`sdot`, ARMv8.2's
//! optional FEAT_DotProd, present on every Cortex-A55/A75 or newer, Neoverse and Apple core).
//! Its kernels are `#[target_feature]` functions, so calling one on a CPU without those
//! features is undefined behaviour: the table is private here and [`tables`] hands it out only
//! after `is_aarch64_feature_detected!` confirmed both. Older cores (Cortex-A53/A72, the
//! Raspberry Pi 3 and 4) get the scalar table. Every entry reproduces the scalar table
//! exactly (integers bit for bit, floats in the same operations and order); only `expf`
//! stays the scalar function.

mod neon;

use super::{order, BlockQ8K, BlockQ8_0, Kernels};

/// Safe entries over the `neon` kernels, one per table slot.
macro_rules! neon_entries {
    ($($f:ident($($a:ident: $t:ty),*) $(-> $r:ty)?;)*) => {
        mod neon_entry {
            #[allow(unused_imports)]
            use super::{BlockQ8K, BlockQ8_0};
            $(
                pub(super) fn $f($($a: $t),*) $(-> $r)? {
                    // SAFETY: reachable only through `NEON`, which `tables` returns only
                    // after detecting NEON and dotprod, the features `neon` compiles for.
                    unsafe { super::neon::$f($($a),*) }
                }
            )*
        }
    };
}

neon_entries! {
    i2s_dots(w: &[u8], k: usize, row0: usize, q: &[i8], out: &mut [i32]);
    i2s_gemm(w: &[u8], k: usize, row0: usize, qs: &[&[i8]], out: &mut [i32]);
    tq2_0_dots(w: &[u8], k: usize, row0: usize, a: &[BlockQ8K], out: &mut [f32]);
    tq1_0_dots(w: &[u8], k: usize, row0: usize, a: &[BlockQ8K], out: &mut [f32]);
    q8_0_dots(w: &[u8], k: usize, row0: usize, a: &[BlockQ8_0], out: &mut [f32]);
    dot_f16_ggml(x: &[u16], y: &[u16]) -> f32;
    dot_f32_ggml(x: &[f32], y: &[f32]) -> f32;
    dot_f16_f32_tiled(a: &[u16], b: &[f32]) -> f32;
    dot_f16_f16_tiled(a: &[u16], b: &[u16]) -> f32;
    dot_f32_tiled(a: &[f32], b: &[f32]) -> f32;
}

/// NEON + dotprod.
static NEON: Kernels = Kernels {
    name: "neon",
    i2s_dots: neon_entry::i2s_dots,
    i2s_gemm: neon_entry::i2s_gemm,
    i2s_tiles: None,
    i2s_finish: crate::kernels::scalar::i2s_finish,
    tq2_0_dots: neon_entry::tq2_0_dots,
    tq1_0_dots: neon_entry::tq1_0_dots,
    q8_0_dots: neon_entry::q8_0_dots,
    i8_row_dots: crate::kernels::scalar::i8_row_dots,
    dot_f16_ggml: neon_entry::dot_f16_ggml,
    dot_f32_ggml: neon_entry::dot_f32_ggml,
    dot_f16_f32_tiled: neon_entry::dot_f16_f32_tiled,
    dot_f16_f16_tiled: neon_entry::dot_f16_f16_tiled,
    dot_f32_tiled: neon_entry::dot_f32_tiled,
    rows_f16_ggml: neon_rows::f16_ggml,
    rows_f16_f16_tiled: neon_rows::f16_f16_tiled,
    rows_f16_f32_tiled: neon_rows::f16_f32_tiled,
    // A scalar polynomial; a vector form would only pay off on whole rows.
    expf: order::expf_ggml,
    softmax: order::softmax_ggml,
    quantize_i8: crate::kernels::act::quantize_i8_absmax,
};

// Many-row dots: the single NEON dots, one pair of rows at a time.
rows_from_single_dots!(neon_rows, neon_entry);

/// The SIMD tables this CPU supports, slowest first.
pub(super) fn tables() -> Vec<&'static Kernels> {
    let mut t = Vec::new();
    if std::arch::is_aarch64_feature_detected!("neon")
        && std::arch::is_aarch64_feature_detected!("dotprod")
    {
        t.push(&NEON);
    }
    t
}

/// The `m` rows `row0 ..` of an I2_S matrix with `k` columns, checked so that kernels can
/// read them with unchecked vector loads. `k < 2^24` keeps every int32 lane exact.
fn i2s_rows(w: &[u8], k: usize, row0: usize, m: usize) -> &[u8] {
    assert!(k % 128 == 0, "I2_S rows hold whole 128-element blocks");
    assert!(k < 1 << 24, "I2_S rows longer than the int32 lanes allow");
    let rb = k / 4;
    &w[row0 * rb..(row0 + m) * rb]
}
