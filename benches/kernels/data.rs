//! Benchmark inputs and baselines: weight matrices in each format, copies of them that do
//! not fit in any cache, activation rows, a plain streaming read and the int8 peak.

use std::cell::{Cell, OnceCell};

use bitnet::kernels::view;
use bitnet::quant;
use bitnet::synth::SplitMix64;
use rayon::prelude::*;

/// BitNet b1.58 2B-4T: the model width and the FFN width.
pub const N_EMBD: usize = 2560;
pub const N_FF: usize = 6912;
/// Output rows per parallel task, as src/model/linear.rs splits them (with tiles: taller).
pub const ROWS_PER_TASK: usize = 64;
pub const TILE_TASK_ROWS: usize = 128;

/// Bytes the copies of a matrix fill: more than the last-level cache this machine reports
/// (480 MiB), as the 1.2 GB of 2B-4T weights read for every decoded token are.
const COPIES_BYTES: usize = 1 << 30;

/// An activation row: bell-shaped values (the sum of four uniforms in [-1, 1)).
pub fn activations(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| (0..4).map(|_| 2.0 * rng.next_f32() - 1.0).sum())
        .collect()
}

/// `n` ternary weights (-1, 0, 1 with equal odds) packed by `pack`.
pub fn ternary(n: usize, seed: u64, pack: fn(&[f32]) -> bitnet::Result<Vec<u8>>) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let values: Vec<f32> = (0..n).map(|_| (rng.next_u64() % 3) as f32 - 1.0).collect();
    pack(&values).expect("the benchmark shapes are whole blocks")
}

/// `n` I2_S weights without the tensor's scale tail: row `r` starts at byte `r * k / 4`.
pub fn i2s(n: usize, seed: u64) -> Vec<u8> {
    let mut bytes = ternary(n, seed, quant::i2s::pack);
    bytes.truncate(n / 4);
    bytes
}

/// `n` Q8_0 weights.
pub fn q8_0(n: usize, seed: u64) -> Vec<u8> {
    quant::q8_0::pack(&activations(n, seed)).expect("the benchmark shapes are whole blocks")
}

/// `n` F16 weights of an embedding's magnitude, as little-endian bytes.
pub fn f16(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .flat_map(|_| quant::f16::from_f32(0.1 * rng.next_f32() - 0.05).to_le_bytes())
        .collect()
}

/// `bytes` as f16 values.
pub fn as_f16(bytes: &[u8]) -> &[u16] {
    view::as_u16s(bytes).expect("heap buffers and even offsets are 2-byte aligned")
}

/// One weight matrix, made on first use (a filtered run skips the others), and copies of it
/// filling [`COPIES_BYTES`], made on first use too.
pub struct Matrix {
    len: usize,
    make: Box<dyn Fn() -> Vec<u8>>,
    one: OnceCell<Vec<u8>>,
    copies: OnceCell<Vec<u8>>,
    next: Cell<usize>,
}

impl Matrix {
    /// A matrix of `len` bytes that `make` writes.
    pub fn new(len: usize, make: impl Fn() -> Vec<u8> + 'static) -> Self {
        Matrix {
            len,
            make: Box::new(make),
            one: OnceCell::new(),
            copies: OnceCell::new(),
            next: Cell::new(0),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn one(&self) -> &[u8] {
        self.one.get_or_init(|| {
            let bytes = (self.make)();
            assert_eq!(bytes.len(), self.len, "matrix size");
            bytes
        })
    }

    /// The matrix itself when `cold` is false: repeated calls find it in the caches if it
    /// fits. Otherwise the next of its copies, round-robin, so every call reads memory.
    pub fn get(&self, cold: bool) -> &[u8] {
        if !cold {
            return self.one();
        }
        let len = self.len;
        let copies = self.copies.get_or_init(|| {
            let n = (COPIES_BYTES / len).max(2);
            let mut v = Vec::with_capacity(n * len);
            for _ in 0..n {
                v.extend_from_slice(self.one());
            }
            v
        });
        let i = self.next.get();
        self.next.set((i + 1) % (copies.len() / len));
        &copies[i * len..(i + 1) * len]
    }
}

/// The plain streaming read the weight kernels are compared with: a wrapping sum of the
/// bytes as u64 words in eight independent lanes, which the compiler vectorises.
pub fn read(bytes: &[u8]) -> u64 {
    let mut lanes = [0u64; 8];
    let words = bytes.chunks_exact(64);
    let tail = words.remainder().iter().map(|&b| u64::from(b)).sum();
    for w in words {
        for (l, b) in lanes.iter_mut().zip(w.chunks_exact(8)) {
            *l = l.wrapping_add(u64::from_le_bytes(b.try_into().expect("8-byte chunk")));
        }
    }
    lanes.iter().fold(tail, |s, &l| s.wrapping_add(l))
}

/// [`read`] split across the rayon pool in pieces of `chunk` bytes.
pub fn read_par(bytes: &[u8], chunk: usize) -> u64 {
    bytes
        .par_chunks(chunk)
        .map(read)
        .reduce(|| 0, u64::wrapping_add)
}

/// The AVX-512 VNNI int8 peak of one core: independent `vpdpbusd` chains, no memory traffic.
#[cfg(all(target_arch = "x86_64", bitnet_avx512))]
#[clippy::msrv = "1.89"]
pub mod vnni {
    use std::arch::x86_64::*;
    use std::hint::black_box;

    /// Independent accumulators: more than `vpdpbusd`'s latency (5 cycles) times its
    /// throughput (up to 2 per cycle), so the chains never wait.
    const ACCS: usize = 12;
    const ROUNDS: usize = 4096;
    /// int8 operations per [`peak`] call: 64 multiply-adds per instruction.
    pub const OPS: usize = 2 * 64 * ACCS * ROUNDS;

    pub fn available() -> bool {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni")
    }

    #[target_feature(enable = "avx512f,avx512vnni")]
    fn chains(a: i8, b: i8) -> i32 {
        let (a, b) = (_mm512_set1_epi8(a), _mm512_set1_epi8(b));
        let mut acc = [_mm512_setzero_si512(); ACCS];
        for _ in 0..ROUNDS {
            for x in acc.iter_mut() {
                *x = _mm512_dpbusd_epi32(*x, a, b);
            }
        }
        let sum = acc[1..].iter().fold(acc[0], |s, &x| _mm512_add_epi32(s, x));
        _mm512_reduce_add_epi32(sum)
    }

    /// Runs [`OPS`] int8 operations; only call when [`available`].
    pub fn peak() -> i32 {
        assert!(available(), "AVX-512 VNNI is not available");
        // SAFETY: the CPU has the features `chains` is compiled with (checked above).
        unsafe { chains(black_box(1), black_box(-1)) }
    }
}
