//! AMX-INT8 I2_S product for prompts. `tdpbusd` multiplies a 16 x 64 tile of unsigned bytes
//! by a 64 x 16 tile of signed bytes into 16 x 16 int32 sums, 16K multiply-adds per
//! instruction. The weight rows of a panel are decoded once to their 2-bit codes (0..=2,
//! unsigned, one byte each) and meet the packed activations (signed) 16 tokens at a time;
//! `sum (code - 1) q = sum code q - sum q` as in the other tables, and every sum is exact in
//! int32 (`k < 2^22`, see `i2s_rows`).
//!
//! Tile registers are not known to the compiler, so each product runs inside one `asm!`
//! block that configures nothing: [`gemm`] loads the configuration once per call and
//! releases the tiles before it returns, so no tile state outlives the call.

use std::arch::asm;
use std::arch::x86_64::*;
use std::cell::RefCell;
use std::sync::OnceLock;

use crate::kernels::tiles::{I8Tiles, Line, TILE_K, TILE_TOKENS};

/// Weight rows per tile.
const TILE_ROWS: usize = 16;
/// Bytes of one 16 x 64-byte tile.
const TILE_BYTES: usize = 1024;

/// `ldtilecfg`'s 64-byte operand: palette 1, tiles 0..8 all 16 rows of 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

static CONFIG: TileConfig = {
    let mut c = [0u8; 64];
    c[0] = 1;
    let mut t = 0;
    while t < 8 {
        c[16 + 2 * t] = 64; // bytes per row of tile t (u16)
        c[48 + t] = 16; // rows of tile t
        t += 1;
    }
    TileConfig(c)
};

/// Whether this CPU has AMX-TILE and AMX-INT8 and the kernel let this process use them
/// (Linux hands out the 8 KiB tile state only on request: `arch_prctl(ARCH_REQ_XCOMP_PERM)`,
/// which is process-wide). Asked once.
pub(super) fn usable() -> bool {
    static USABLE: OnceLock<bool> = OnceLock::new();
    *USABLE.get_or_init(|| {
        // SAFETY: cpuid exists on every x86-64 CPU (the `unsafe` is needed before Rust 1.87).
        #[allow(unused_unsafe)]
        let leaf7 = unsafe { __cpuid_count(7, 0) };
        let (tile, int8) = ((leaf7.edx >> 24) & 1 == 1, (leaf7.edx >> 25) & 1 == 1);
        tile && int8 && request_tile_state()
    })
}

#[cfg(target_os = "linux")]
fn request_tile_state() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with these arguments only changes this process's permission to use
    // the AMX state; it reads and writes no memory of ours.
    unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        ) == 0
    }
}

#[cfg(not(target_os = "linux"))]
fn request_tile_state() -> bool {
    false
}

thread_local! {
    /// Decoded weight codes of the current panel, reused by each worker thread.
    static PANEL: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
}

/// [`crate::kernels::tiles::I2sTileGemm`]. The caller must have checked [`usable`] and the
/// AVX-512 features of the table this kernel belongs to.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn gemm(w: &[u8], k: usize, row0: usize, acts: &I8Tiles, out: &mut [i32]) {
    let n = acts.n();
    if n == 0 {
        return;
    }
    assert_eq!(out.len() % n, 0, "out must hold m rows per activation row");
    assert_eq!(acts.k(), k, "activations packed for another width");
    assert_eq!(acts.groups() % 2, 0, "token groups must come in pairs");
    assert!(k > 0, "empty rows");
    let m = out.len() / n;
    let rows = super::i2s_rows(w, k, row0, m);
    let m_pad = m.next_multiple_of(2 * TILE_ROWS);
    let lines_per_row = k / TILE_K;
    PANEL.with(|panel| {
        let mut panel = panel.borrow_mut();
        if panel.len() < m_pad * lines_per_row {
            panel.resize(m_pad * lines_per_row, Line::default());
        }
        let panel = &mut panel[..m_pad * lines_per_row];
        decode_panel(rows, k, panel);
        // SAFETY: CONFIG is a valid palette-1 configuration (usable() checked AMX).
        asm!("ldtilecfg [{}]", in(reg) CONFIG.0.as_ptr(), options(nostack, readonly));
        let mut c = [Line::default(); 4 * TILE_BYTES / 64];
        // Tokens outer: a pair of token groups (32 x k bytes) stays in L2 while every row
        // pair of the panel (also in L2) meets it, so the activations, which outgrow L2 in
        // long prompts, stream from memory once per panel.
        let (a0, b0) = (panel.as_ptr(), acts.lines().as_ptr());
        for g in (0..acts.groups()).step_by(2) {
            let b = b0.add(g * lines_per_row * 16).cast::<u8>();
            for rg in (0..m_pad / TILE_ROWS).step_by(2) {
                let a = a0.add(rg * TILE_ROWS * lines_per_row).cast::<u8>();
                tiles_2x2(a, k, b, lines_per_row, c.as_mut_ptr().cast());
                scatter(&c, rg * TILE_ROWS, g * TILE_TOKENS, m, acts.sums(), out);
            }
        }
        // SAFETY: releases the tile state this call configured.
        asm!("tilerelease", options(nostack, nomem));
    });
}

/// Writes the four 16 x 16 result tiles `c` (rows `r0 ..`, tokens `t0 ..`, tile `2i + j`
/// for row half `i` and token half `j`) minus the activation sums into `out[t * m + r]`,
/// skipping padded rows and tokens. A tile line holds 16 tokens of one weight row, `out`
/// wants 16 weight rows of one token together: each tile is transposed in registers.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn scatter(c: &[Line], r0: usize, t0: usize, m: usize, sums: &[i32], out: &mut [i32]) {
    let n = sums.len();
    assert!(c.len() >= 64 && out.len() >= n * m);
    for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        let r = r0 + i * TILE_ROWS;
        let t = t0 + j * TILE_TOKENS;
        if r >= m || t >= n {
            continue;
        }
        let tile = c.as_ptr().add((2 * i + j) * 16);
        let cols = transpose16(std::array::from_fn(|rr| {
            _mm512_load_si512(tile.add(rr).cast())
        }));
        // Rows past `m` are padding: masked off.
        let keep: __mmask16 = if m - r >= 16 { !0 } else { (1 << (m - r)) - 1 };
        for (tt, col) in cols.iter().enumerate().take(n - t) {
            let v = _mm512_sub_epi32(*col, _mm512_set1_epi32(sums[t + tt]));
            // In bounds: t + tt < n and the masked lanes stop at row m - 1.
            _mm512_mask_storeu_epi32(out.as_mut_ptr().add((t + tt) * m + r), keep, v);
        }
    }
}

/// The transpose of a 16 x 16 int32 matrix given as 16 row vectors.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn transpose16(r: [__m512i; 16]) -> [__m512i; 16] {
    // Interleaving 32-bit, then 64-bit elements leaves u[4q + c], 128-bit lane l, holding
    // rows 4q .. 4q + 4 of column 4l + c; two rounds of 128-bit lane shuffles then gather
    // each column's four lanes.
    let t: [__m512i; 16] = std::array::from_fn(|i| {
        let p = 2 * (i / 2);
        if i % 2 == 0 {
            _mm512_unpacklo_epi32(r[p], r[p + 1])
        } else {
            _mm512_unpackhi_epi32(r[p], r[p + 1])
        }
    });
    let u: [__m512i; 16] = std::array::from_fn(|i| {
        let (q, c) = (i / 4, i % 4);
        let (x, y) = (t[4 * q + c / 2], t[4 * q + 2 + c / 2]);
        if c % 2 == 0 {
            _mm512_unpacklo_epi64(x, y)
        } else {
            _mm512_unpackhi_epi64(x, y)
        }
    });
    let mut out = [_mm512_setzero_si512(); 16];
    for c in 0..4 {
        let v = _mm512_shuffle_i32x4::<0x88>(u[c], u[4 + c]);
        let w = _mm512_shuffle_i32x4::<0xDD>(u[c], u[4 + c]);
        let v2 = _mm512_shuffle_i32x4::<0x88>(u[8 + c], u[12 + c]);
        let w2 = _mm512_shuffle_i32x4::<0xDD>(u[8 + c], u[12 + c]);
        out[c] = _mm512_shuffle_i32x4::<0x88>(v, v2);
        out[4 + c] = _mm512_shuffle_i32x4::<0x88>(w, w2);
        out[8 + c] = _mm512_shuffle_i32x4::<0xDD>(v, v2);
        out[12 + c] = _mm512_shuffle_i32x4::<0xDD>(w, w2);
    }
    out
}

/// Decodes the I2_S rows (`k / 4` bytes each) into one code byte per element, `k` bytes per
/// row, in `panel`; rows past the matrix stay as they are (their results are skipped).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn decode_panel(rows: &[u8], k: usize, panel: &mut [Line]) {
    let rb = k / 4;
    let m = rows.len() / rb;
    assert!(panel.len() * 64 >= m * k);
    let shifts =
        |lo: i16, hi: i16| _mm512_inserti64x4(_mm512_set1_epi16(lo), _mm256_set1_epi16(hi), 1);
    let (s01, s23) = (shifts(6, 4), shifts(2, 0));
    let three = _mm512_set1_epi8(3);
    let dst = panel.as_mut_ptr().cast::<u8>();
    // Reads stay inside `rows` (m rows of rb bytes), writes inside the first m * k bytes
    // of `panel` (asserted above).
    for r in 0..m {
        for b in 0..rb / 32 {
            let p = rows.as_ptr().add(r * rb + 32 * b);
            // Both halves hold the block; code 3 becomes 1 (counts as 0, as in scalar).
            let v = super::avx2::fix_code3(_mm256_loadu_si256(p.cast()));
            let v = _mm512_broadcast_i64x4(v);
            // Group g (elements 32g .. 32g + 32) sits at bits 6 - 2g; a 16-bit shift leaves
            // each byte's two wanted bits at the bottom of that byte.
            let g01 = _mm512_and_si512(_mm512_srlv_epi16(v, s01), three);
            let g23 = _mm512_and_si512(_mm512_srlv_epi16(v, s23), three);
            let o = dst.add(r * k + 128 * b);
            _mm512_storeu_si512(o.cast(), g01);
            _mm512_storeu_si512(o.add(64).cast(), g23);
        }
    }
}

/// 32 weight rows (two A tiles at `a`, `a + 16 k`, rows `k` bytes apart) against 32 tokens
/// (two groups of packed activations at `b`, `b + chunks * 1 KiB`) over `chunks` 64-column
/// steps; the four 16 x 16 int32 results go to `c` (4 KiB, tile `2i + j`, rows 64 bytes).
#[inline]
unsafe fn tiles_2x2(a: *const u8, k: usize, b: *const u8, chunks: usize, c: *mut u8) {
    let a1 = a.add(TILE_ROWS * k);
    let b1 = b.add(chunks * TILE_BYTES);
    // SAFETY: the caller configured the tiles (16 rows x 64 bytes each); the loads read 16
    // rows of 64 bytes per step from the panel (`k` apart) and the packed activations (64
    // apart), both sized for `chunks` steps by the caller; the stores write 4 KiB to `c`.
    asm!(
        "tilezero tmm4",
        "tilezero tmm5",
        "tilezero tmm6",
        "tilezero tmm7",
        "2:",
        "tileloadd tmm0, [{a0} + {k}*1]",
        "tileloadd tmm1, [{a1} + {k}*1]",
        "tileloadd tmm2, [{b0} + {s}*1]",
        "tileloadd tmm3, [{b1} + {s}*1]",
        "tdpbusd tmm4, tmm0, tmm2",
        "tdpbusd tmm5, tmm0, tmm3",
        "tdpbusd tmm6, tmm1, tmm2",
        "tdpbusd tmm7, tmm1, tmm3",
        "add {a0}, 64",
        "add {a1}, 64",
        "add {b0}, 1024",
        "add {b1}, 1024",
        "dec {n}",
        "jnz 2b",
        "tilestored [{c} + {s}*1], tmm4",
        "tilestored [{c1} + {s}*1], tmm5",
        "tilestored [{c2} + {s}*1], tmm6",
        "tilestored [{c3} + {s}*1], tmm7",
        a0 = inout(reg) a => _,
        a1 = inout(reg) a1 => _,
        b0 = inout(reg) b => _,
        b1 = inout(reg) b1 => _,
        n = inout(reg) chunks => _,
        k = in(reg) k,
        s = in(reg) 64usize,
        c = in(reg) c,
        c1 = in(reg) c.add(TILE_BYTES),
        c2 = in(reg) c.add(2 * TILE_BYTES),
        c3 = in(reg) c.add(3 * TILE_BYTES),
        options(nostack),
    );
}
