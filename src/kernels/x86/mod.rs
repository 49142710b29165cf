//! x86-64 SIMD tables. The kernels are `#[target_feature]` functions, so calling one on a
//! CPU without those features is undefined behaviour: the tables that wrap them are private
//! here and [`tables`] hands each out only after `is_x86_feature_detected!` confirmed every
//! feature its kernels are compiled with. Every entry reproduces the scalar table exactly
//! (integers bit for bit, floats in the same operations and order).
//!
//! The AVX-512 kernels need Rust 1.89 (AVX-512 intrinsics and target features were
//! stabilised then); `build.rs` sets `bitnet_avx512` on such compilers, and older ones build
//! only the AVX2 table.

mod act;
mod avx2;
// Built only by compilers that have the AVX-512 intrinsics (1.89+), whatever rust-version says.
#[cfg(bitnet_avx512)]
#[clippy::msrv = "1.89"]
mod amx;
#[cfg(bitnet_avx512)]
#[clippy::msrv = "1.89"]
mod avx512;
mod blocks;
#[cfg(bitnet_avx512)]
#[clippy::msrv = "1.89"]
mod rows;
mod softmax;
#[cfg(bitnet_avx512)]
use act::avx512 as act512;
#[cfg(bitnet_avx512)]
use softmax::avx512 as softmax512;
mod head8;
#[cfg(bitnet_avx512)]
#[clippy::msrv = "1.89"]
mod head8_vnni;

use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};

use super::Kernels;

/// Safe entry points over the unsafe kernels of one ISA.
macro_rules! entries {
    ($isa:ident: $($imp:ident::$f:ident($($a:ident: $t:ty),*) $(-> $r:ty)?;)*) => {
        mod $isa {
            $(
                pub(super) fn $f($($a: $t),*) $(-> $r)? {
                    // SAFETY: these functions are reachable only through this ISA's table,
                    // which `tables` returns only after detecting every feature `$imp` uses.
                    unsafe { super::$imp::$f($($a),*) }
                }
            )*
        }
    };
}

entries! { avx2_entry:
    avx2::i2s_dots(w: &[u8], k: usize, row0: usize, q: &[i8], out: &mut [i32]);
    avx2::i2s_gemm(w: &[u8], k: usize, row0: usize, qs: &[&[i8]], out: &mut [i32]);
    avx2::i2s_finish(dots: &[i32], act_scale: f32, w_scale: f32, out: &mut [f32]);
    blocks::tq2_0_dots(w: &[u8], k: usize, row0: usize, a: &[crate::kernels::BlockQ8K], out: &mut [f32]);
    blocks::tq1_0_dots(w: &[u8], k: usize, row0: usize, a: &[crate::kernels::BlockQ8K], out: &mut [f32]);
    blocks::q8_0_dots(w: &[u8], k: usize, row0: usize, a: &[crate::kernels::BlockQ8_0], out: &mut [f32]);
    head8::i8_row_dots_avx2(w: &[i8], k: usize, row0: usize, q: &[i8], out: &mut [i32]);
    avx2::dot_f16_ggml(x: &[u16], y: &[u16]) -> f32;
    avx2::dot_f32_ggml(x: &[f32], y: &[f32]) -> f32;
    avx2::dot_f16_f32_tiled(a: &[u16], b: &[f32]) -> f32;
    avx2::dot_f16_f16_tiled(a: &[u16], b: &[u16]) -> f32;
    avx2::dot_f32_tiled(a: &[f32], b: &[f32]) -> f32;
    softmax::expf(x: f32) -> f32;
    softmax::softmax_avx2(x: &mut [f32]);
    act::quantize_i8_avx2(x: &[f32], out: &mut crate::kernels::ActI8);
}

/// AVX2 + FMA + F16C.
static AVX2: Kernels = Kernels {
    name: "avx2",
    i2s_dots: avx2_entry::i2s_dots,
    i2s_gemm: avx2_entry::i2s_gemm,
    i2s_tiles: None,
    i2s_finish: avx2_entry::i2s_finish,
    tq2_0_dots: avx2_entry::tq2_0_dots,
    tq1_0_dots: avx2_entry::tq1_0_dots,
    q8_0_dots: avx2_entry::q8_0_dots,
    i8_row_dots: avx2_entry::i8_row_dots_avx2,
    dot_f16_ggml: avx2_entry::dot_f16_ggml,
    dot_f32_ggml: avx2_entry::dot_f32_ggml,
    dot_f16_f32_tiled: avx2_entry::dot_f16_f32_tiled,
    dot_f16_f16_tiled: avx2_entry::dot_f16_f16_tiled,
    dot_f32_tiled: avx2_entry::dot_f32_tiled,
    rows_f16_ggml: avx2_rows::f16_ggml,
    rows_f16_f16_tiled: avx2_rows::f16_f16_tiled,
    rows_f16_f32_tiled: avx2_rows::f16_f32_tiled,
    expf: avx2_entry::expf,
    softmax: avx2_entry::softmax_avx2,
    quantize_i8: avx2_entry::quantize_i8_avx2,
};

// The AVX2 table's many-row dots: its single dots, one pair of rows at a time.
rows_from_single_dots!(avx2_rows, avx2_entry);

fn has_avx2() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

#[cfg(bitnet_avx512)]
entries! { avx512_entry:
    avx512::i2s_dots(w: &[u8], k: usize, row0: usize, q: &[i8], out: &mut [i32]);
    avx512::i2s_gemm(w: &[u8], k: usize, row0: usize, qs: &[&[i8]], out: &mut [i32]);
    avx512::i2s_finish(dots: &[i32], act_scale: f32, w_scale: f32, out: &mut [f32]);
    rows::rows_ggml(a: &[u16], a_stride: usize, b: &[u16], len: usize, out: &mut [f32]);
    rows::rows_f16_f16_tiled(a: &[u16], a_stride: usize, b: &[u16], len: usize, out: &mut [f32]);
    rows::rows_f16_f32_tiled(a: &[u16], a_stride: usize, b: &[f32], len: usize, out: &mut [f32]);
    head8_vnni::i8_row_dots_avx512(w: &[i8], k: usize, row0: usize, q: &[i8], out: &mut [i32]);
    avx512::dot_f16_ggml(x: &[u16], y: &[u16]) -> f32;
    avx512::dot_f32_ggml(x: &[f32], y: &[f32]) -> f32;
    avx512::dot_f16_f32_tiled(a: &[u16], b: &[f32]) -> f32;
    avx512::dot_f16_f16_tiled(a: &[u16], b: &[u16]) -> f32;
    avx512::dot_f32_tiled(a: &[f32], b: &[f32]) -> f32;
    softmax512::softmax(x: &mut [f32]);
    act512::quantize_i8(x: &[f32], out: &mut crate::kernels::ActI8);
}

/// AVX-512 F/BW/VL/VNNI (+ AVX2, FMA, F16C). The block formats keep the AVX2 kernels: their
/// accumulation order is defined on eight float lanes.
#[cfg(bitnet_avx512)]
static AVX512: Kernels = Kernels {
    name: "avx512",
    i2s_dots: avx512_entry::i2s_dots,
    i2s_gemm: avx512_entry::i2s_gemm,
    i2s_tiles: None,
    i2s_finish: avx512_entry::i2s_finish,
    tq2_0_dots: avx2_entry::tq2_0_dots,
    tq1_0_dots: avx2_entry::tq1_0_dots,
    q8_0_dots: avx2_entry::q8_0_dots,
    i8_row_dots: avx512_entry::i8_row_dots_avx512,
    dot_f16_ggml: avx512_entry::dot_f16_ggml,
    dot_f32_ggml: avx512_entry::dot_f32_ggml,
    dot_f16_f32_tiled: avx512_entry::dot_f16_f32_tiled,
    dot_f16_f16_tiled: avx512_entry::dot_f16_f16_tiled,
    dot_f32_tiled: avx512_entry::dot_f32_tiled,
    rows_f16_ggml: avx512_entry::rows_ggml,
    rows_f16_f16_tiled: avx512_entry::rows_f16_f16_tiled,
    rows_f16_f32_tiled: avx512_entry::rows_f16_f32_tiled,
    expf: avx2_entry::expf,
    softmax: avx512_entry::softmax,
    quantize_i8: avx512_entry::quantize_i8,
};

#[cfg(bitnet_avx512)]
entries! { amx_entry:
    amx::gemm(w: &[u8], k: usize, row0: usize, acts: &crate::kernels::tiles::I8Tiles, out: &mut [i32]);
}

/// AMX tiles for prompt batches of 32 tokens or more (fewer waste most of each tile pair).
#[cfg(bitnet_avx512)]
static AMX_TILES: crate::kernels::tiles::I2sTiles = crate::kernels::tiles::I2sTiles {
    min_rows: 32,
    group_multiple: 2,
    gemm: amx_entry::gemm,
};

/// The `avx512` table with AMX-INT8 tiles for prompts (decode stays on `vpdpbusd`: one
/// token per weight read is memory-bound either way).
#[cfg(bitnet_avx512)]
static AMX: Kernels = Kernels {
    name: "amx",
    i2s_tiles: Some(&AMX_TILES),
    ..AVX512
};

#[cfg(bitnet_avx512)]
fn has_avx512() -> bool {
    has_avx2()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
}

/// The SIMD tables this CPU supports, slowest first.
pub(super) fn tables() -> Vec<&'static Kernels> {
    let mut t = Vec::new();
    if has_avx2() {
        t.push(&AVX2);
    }
    #[cfg(bitnet_avx512)]
    if has_avx512() {
        t.push(&AVX512);
        if amx::usable() {
            t.push(&AMX);
        }
    }
    t
}

/// The `m` rows `row0 ..` of an I2_S matrix with `k` columns, checked so that kernels can
/// read them with unchecked vector loads. `k < 2^22` keeps every int32 lane of the
/// AVX-512 kernels (up to `64 * 2 * 128 * 4` per block) exact.
fn i2s_rows(w: &[u8], k: usize, row0: usize, m: usize) -> &[u8] {
    assert!(k % 128 == 0, "I2_S rows hold whole 128-element blocks");
    assert!(k < 1 << 22, "I2_S rows longer than the int32 lanes allow");
    let rb = k / 4;
    &w[row0 * rb..(row0 + m) * rb]
}

/// `m` of an `i2s_gemm` call (`None` without activation rows): `out` holds `m` outputs per
/// activation row.
fn gemm_rows(qs: &[&[i8]], out: &[i32]) -> Option<usize> {
    if qs.is_empty() {
        return None;
    }
    assert_eq!(
        out.len() % qs.len(),
        0,
        "out must hold m rows per activation row"
    );
    Some(out.len() / qs.len())
}

/// Requests the cache line holding `p` (a hint: it never faults, so `p` may point anywhere).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    // SAFETY: prefetching only hints the cache and never faults, whatever the address.
    unsafe { _mm_prefetch(p.cast(), _MM_HINT_T0) }
}

/// How far ahead the float kernels prefetch their first operand, in bytes. It is a weight
/// row read once and in order, and rows follow one another, so past its end this warms the
/// next row.
const AHEAD: usize = 2048;

/// Prefetches the lines `AHEAD` bytes past `p .. p + len`.
#[inline(always)]
fn prefetch_ahead<T>(p: *const T, len: usize) {
    let p = p.cast::<u8>().wrapping_add(AHEAD);
    for off in (0..len).step_by(64) {
        prefetch(p.wrapping_add(off));
    }
}
