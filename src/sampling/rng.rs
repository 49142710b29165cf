//! The random numbers llama.cpp's sampling draws: `std::mt19937` seeded with a `u32`, read
//! through libstdc++'s `std::uniform_real_distribution<double>(0, 1)`. Implemented here
//! so that a seed gives the same tokens as llama.cpp built with GCC.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// llama.cpp's `LLAMA_DEFAULT_SEED`: as a seed it means "pick a random one".
pub const DEFAULT_SEED: u32 = 0xFFFF_FFFF;

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// The 32-bit Mersenne Twister, bit for bit `std::mt19937`.
#[derive(Clone)]
pub struct Mt19937 {
    state: [u32; N],
    index: usize,
}

impl Mt19937 {
    /// `std::mt19937(seed)`.
    pub fn new(seed: u32) -> Self {
        let mut state = [0u32; N];
        state[0] = seed;
        for i in 1..N {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { state, index: N }
    }

    /// The next output, `rng()`.
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `std::uniform_real_distribution<double>(0, 1)(rng)` as libstdc++ computes it
    /// (`generate_canonical<double, 53>`): two outputs `a`, `b`, then
    /// `(a + b * 2^32) / 2^64` with one rounding, clamped below 1. libc++ and MSVC
    /// compute this differently, so llama.cpp's draws are only reproducible per library.
    pub fn next_f64(&mut self) -> f64 {
        const TWO_32: f64 = 4_294_967_296.0;
        const TWO_64: f64 = 18_446_744_073_709_551_616.0;
        let a = f64::from(self.next_u32());
        let b = f64::from(self.next_u32());
        let r = (a + b * TWO_32) / TWO_64;
        if r >= 1.0 {
            1.0 - f64::EPSILON / 2.0 // nextafter(1.0, 0.0)
        } else {
            r
        }
    }

    fn twist(&mut self) {
        for i in 0..N {
            let y = (self.state[i] & UPPER_MASK) | (self.state[(i + 1) % N] & LOWER_MASK);
            let mut v = self.state[(i + M) % N] ^ (y >> 1);
            if y & 1 != 0 {
                v ^= MATRIX_A;
            }
            self.state[i] = v;
        }
        self.index = 0;
    }
}

impl fmt::Debug for Mt19937 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mt19937")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// The seed a sampler actually uses (llama.cpp's `get_rng_seed`): `seed` itself, or for
/// [`DEFAULT_SEED`] a fresh random one. llama.cpp reads `std::random_device`; here the
/// standard library's per-process random hash keys (drawn from the OS) are mixed with
/// the clock, which is as unpredictable and needs no extra dependency.
pub fn resolve_seed(seed: u32) -> u32 {
    if seed != DEFAULT_SEED {
        return seed;
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut h = RandomState::new().build_hasher();
    h.write_u128(nanos);
    let v = h.finish();
    (v ^ (v >> 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_thousandth_output_of_default_seed() {
        // The C++ standard's required check: [rand.predef] says the 10000th invocation of
        // a default-constructed std::mt19937 (seed 5489) produces 4123659995.
        let mut rng = Mt19937::new(5489);
        let v = (0..10_000).map(|_| rng.next_u32()).last();
        assert_eq!(v, Some(4_123_659_995));
    }

    #[test]
    fn first_outputs_of_default_seed() {
        // Published reference values of mt19937 seeded with 5489.
        let mut rng = Mt19937::new(5489);
        let v: Vec<u32> = (0..3).map(|_| rng.next_u32()).collect();
        assert_eq!(v, [3_499_211_612, 581_869_302, 3_890_346_734]);
    }

    #[test]
    fn canonical_double_combines_two_outputs() {
        let mut a = Mt19937::new(42);
        let mut b = a.clone();
        let (x, y) = (b.next_u32(), b.next_u32());
        let expect = (f64::from(x) + f64::from(y) * 4_294_967_296.0) / 18_446_744_073_709_551_616.0;
        assert_eq!(a.next_f64(), expect);
        assert_eq!(a.next_u32(), b.next_u32());
    }

    #[test]
    fn explicit_seeds_are_kept_and_default_seed_is_replaced() {
        assert_eq!(resolve_seed(1234), 1234);
        let draws: Vec<u32> = (0..4).map(|_| resolve_seed(DEFAULT_SEED)).collect();
        assert!(draws.windows(2).any(|w| w[0] != w[1]), "{draws:?}");
    }
}
