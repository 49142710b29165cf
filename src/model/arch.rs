//! The architectures this engine runs, and which reference each one follows.

use std::fmt;

/// A supported `general.architecture`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// `bitnet-b1.58`: the official BitNet-b1.58-2B-4T file (bitnet.cpp).
    BitnetB158,
    /// `bitnet-25`: the first upload of the same model; same graph (bitnet.cpp).
    Bitnet25,
    /// `bitnet`: llama.cpp's converter for `BitnetForCausalLM` (upstream llama.cpp).
    Bitnet,
}

/// The reference whose numeric recipe an architecture mirrors: where activations are rounded
/// to f16 and which FFN activation runs (docs/bitnet-reference.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipe {
    /// bitnet.cpp: relu(gate)^2 * up; multi-row attention and LM head products stay f32.
    BitnetCpp,
    /// upstream llama.cpp: silu(gate) * up; f16 operands for every f16 product.
    LlamaCpp,
}

impl Arch {
    /// The architecture named by `general.architecture`, if supported.
    pub fn from_name(name: &str) -> Option<Arch> {
        match name {
            "bitnet-b1.58" => Some(Arch::BitnetB158),
            "bitnet-25" => Some(Arch::Bitnet25),
            "bitnet" => Some(Arch::Bitnet),
            _ => None,
        }
    }

    /// The `general.architecture` string (also the prefix of its hyper-parameter keys).
    pub fn name(self) -> &'static str {
        match self {
            Arch::BitnetB158 => "bitnet-b1.58",
            Arch::Bitnet25 => "bitnet-25",
            Arch::Bitnet => "bitnet",
        }
    }

    pub fn recipe(self) -> Recipe {
        match self {
            Arch::BitnetB158 | Arch::Bitnet25 => Recipe::BitnetCpp,
            Arch::Bitnet => Recipe::LlamaCpp,
        }
    }
}

impl Recipe {
    /// The reference pads `n_ctx` and the attended KV range to a multiple of this (llama.cpp
    /// 256, bitnet.cpp's older tree 32, both with flash attention off). It decides the length
    /// of every attention reduction, so it is part of the numerics.
    pub fn kv_pad(self) -> usize {
        match self {
            Recipe::BitnetCpp => 32,
            Recipe::LlamaCpp => 256,
        }
    }

    /// Whether a multi-row f16 x f16 product can take the tiled (tinyBLAS) path: upstream's
    /// llamafile accepts it (for `m % 4 == 0`); the fork's only takes f16 x f32.
    pub fn tiles_f16_pairs(self) -> bool {
        self == Recipe::LlamaCpp
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
