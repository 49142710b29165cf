//! The ggml tensor type table: ids, names, block geometry and byte sizes.
//!
//! Two tables share one id space and disagree on some ids:
//!
//! | id | bitnet.cpp fork        | upstream llama.cpp (ggml 0.25.3, `0c1e57098`) |
//! |----|------------------------|-----------------------------------------------|
//! | 31-33 | Q4_0_4_4/4_8/8_8    | removed from GGUF files                        |
//! | 36 | I2_S                   | removed slot (IQ4_NL_4_4), refused             |
//! | 37 | I8_S (activations)     | removed slot (IQ4_NL_4_8)                      |
//! | 38 | TL1                    | removed slot (IQ4_NL_8_8)                      |
//! | 39 | TL2                    | MXFP4                                          |
//! | 40-42 | (none)              | NVFP4, Q1_0, Q2_0                              |
//!
//! Resolution (see [`Dialect`]): ids 31-38 have one live meaning each, so they always take it
//! (36 is always I2_S: no released upstream writer ever produced IQ4_NL_4_4 in a file that is
//! still loadable, and I2_S is what the official BitNet file uses). Only id 39 is genuinely
//! ambiguous; the reader decides it per file from its dialect.

use std::fmt;

/// Which project's meaning of the ambiguous type id 39 a file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// upstream llama.cpp / ggml: id 39 = MXFP4.
    Upstream,
    /// Microsoft's bitnet.cpp fork: id 39 = TL2.
    BitnetFork,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Upstream => "upstream llama.cpp",
            Dialect::BitnetFork => "bitnet.cpp fork",
        })
    }
}

/// A ggml tensor element type.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1_M,
    BF16,
    Q4_0_4_4,
    Q4_0_4_8,
    Q4_0_8_8,
    TQ1_0,
    TQ2_0,
    I2_S,
    I8_S,
    TL1,
    TL2,
    MXFP4,
    NVFP4,
    Q1_0,
    Q2_0,
}

/// How the byte size of a tensor is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeRule {
    /// `n_elements / block_size * type_size` (every upstream type).
    Blocks { block_size: u64, type_size: u64 },
    /// bitnet.cpp I2_S and TL1: one byte per four elements plus a 32-byte tail
    /// holding the per-tensor scale (`n/4 + 32`).
    QuarterPlus32,
    /// bitnet.cpp TL2: `(ne0-256)*ne1/3*5/8 + 256*ne1/2*4/8`, rounded up to 32, plus 32.
    Tl2,
}

/// One row of the table.
struct Entry {
    ty: GgmlType,
    id: u32,
    name: &'static str,
    rule: SizeRule,
}

const fn blocks(block_size: u64, type_size: u64) -> SizeRule {
    SizeRule::Blocks {
        block_size,
        type_size,
    }
}

/// Every type either project defines. Sizes are `sizeof(block_*)` from ggml-common.h
/// (checked by compiling it at llama.cpp `0c1e57098`) and the fork's type traits.
#[rustfmt::skip]
const TABLE: &[Entry] = &[
    Entry { ty: GgmlType::F32, id: 0, name: "F32", rule: blocks(1, 4) },
    Entry { ty: GgmlType::F16, id: 1, name: "F16", rule: blocks(1, 2) },
    Entry { ty: GgmlType::Q4_0, id: 2, name: "Q4_0", rule: blocks(32, 18) },
    Entry { ty: GgmlType::Q4_1, id: 3, name: "Q4_1", rule: blocks(32, 20) },
    Entry { ty: GgmlType::Q5_0, id: 6, name: "Q5_0", rule: blocks(32, 22) },
    Entry { ty: GgmlType::Q5_1, id: 7, name: "Q5_1", rule: blocks(32, 24) },
    Entry { ty: GgmlType::Q8_0, id: 8, name: "Q8_0", rule: blocks(32, 34) },
    Entry { ty: GgmlType::Q8_1, id: 9, name: "Q8_1", rule: blocks(32, 36) },
    Entry { ty: GgmlType::Q2_K, id: 10, name: "Q2_K", rule: blocks(256, 84) },
    Entry { ty: GgmlType::Q3_K, id: 11, name: "Q3_K", rule: blocks(256, 110) },
    Entry { ty: GgmlType::Q4_K, id: 12, name: "Q4_K", rule: blocks(256, 144) },
    Entry { ty: GgmlType::Q5_K, id: 13, name: "Q5_K", rule: blocks(256, 176) },
    Entry { ty: GgmlType::Q6_K, id: 14, name: "Q6_K", rule: blocks(256, 210) },
    Entry { ty: GgmlType::Q8_K, id: 15, name: "Q8_K", rule: blocks(256, 292) },
    Entry { ty: GgmlType::IQ2_XXS, id: 16, name: "IQ2_XXS", rule: blocks(256, 66) },
    Entry { ty: GgmlType::IQ2_XS, id: 17, name: "IQ2_XS", rule: blocks(256, 74) },
    Entry { ty: GgmlType::IQ3_XXS, id: 18, name: "IQ3_XXS", rule: blocks(256, 98) },
    Entry { ty: GgmlType::IQ1_S, id: 19, name: "IQ1_S", rule: blocks(256, 50) },
    Entry { ty: GgmlType::IQ4_NL, id: 20, name: "IQ4_NL", rule: blocks(32, 18) },
    Entry { ty: GgmlType::IQ3_S, id: 21, name: "IQ3_S", rule: blocks(256, 110) },
    Entry { ty: GgmlType::IQ2_S, id: 22, name: "IQ2_S", rule: blocks(256, 82) },
    Entry { ty: GgmlType::IQ4_XS, id: 23, name: "IQ4_XS", rule: blocks(256, 136) },
    Entry { ty: GgmlType::I8, id: 24, name: "I8", rule: blocks(1, 1) },
    Entry { ty: GgmlType::I16, id: 25, name: "I16", rule: blocks(1, 2) },
    Entry { ty: GgmlType::I32, id: 26, name: "I32", rule: blocks(1, 4) },
    Entry { ty: GgmlType::I64, id: 27, name: "I64", rule: blocks(1, 8) },
    Entry { ty: GgmlType::F64, id: 28, name: "F64", rule: blocks(1, 8) },
    Entry { ty: GgmlType::IQ1_M, id: 29, name: "IQ1_M", rule: blocks(256, 56) },
    Entry { ty: GgmlType::BF16, id: 30, name: "BF16", rule: blocks(1, 2) },
    Entry { ty: GgmlType::Q4_0_4_4, id: 31, name: "Q4_0_4_4", rule: blocks(32, 18) },
    Entry { ty: GgmlType::Q4_0_4_8, id: 32, name: "Q4_0_4_8", rule: blocks(32, 18) },
    Entry { ty: GgmlType::Q4_0_8_8, id: 33, name: "Q4_0_8_8", rule: blocks(32, 18) },
    Entry { ty: GgmlType::TQ1_0, id: 34, name: "TQ1_0", rule: blocks(256, 54) },
    Entry { ty: GgmlType::TQ2_0, id: 35, name: "TQ2_0", rule: blocks(256, 66) },
    Entry { ty: GgmlType::I2_S, id: 36, name: "I2_S", rule: SizeRule::QuarterPlus32 },
    Entry { ty: GgmlType::I8_S, id: 37, name: "I8_S", rule: blocks(1, 1) },
    Entry { ty: GgmlType::TL1, id: 38, name: "TL1", rule: SizeRule::QuarterPlus32 },
    Entry { ty: GgmlType::TL2, id: 39, name: "TL2", rule: SizeRule::Tl2 },
    Entry { ty: GgmlType::MXFP4, id: 39, name: "MXFP4", rule: blocks(32, 17) },
    Entry { ty: GgmlType::NVFP4, id: 40, name: "NVFP4", rule: blocks(64, 36) },
    Entry { ty: GgmlType::Q1_0, id: 41, name: "Q1_0", rule: blocks(128, 18) },
    Entry { ty: GgmlType::Q2_0, id: 42, name: "Q2_0", rule: blocks(64, 18) },
];

impl GgmlType {
    /// Every type of both tables, in id order (MXFP4 after TL2).
    pub fn all() -> impl Iterator<Item = GgmlType> {
        TABLE.iter().map(|e| e.ty)
    }

    fn entry(self) -> &'static Entry {
        TABLE
            .iter()
            .find(|e| e.ty == self)
            .expect("every GgmlType variant has a table row")
    }

    /// Resolves a type id as `dialect` means it. `None` for ids no project defines
    /// (4, 5, and anything past 42) and for ids that only the other dialect defines
    /// (40-42 in a fork file).
    pub fn from_id(id: u32, dialect: Dialect) -> Option<GgmlType> {
        match (id, dialect) {
            (39, Dialect::Upstream) => Some(GgmlType::MXFP4),
            (39, Dialect::BitnetFork) => Some(GgmlType::TL2),
            (40..=42, Dialect::BitnetFork) => None,
            _ => TABLE.iter().find(|e| e.id == id).map(|e| e.ty),
        }
    }

    /// The on-disk id.
    pub fn id(self) -> u32 {
        self.entry().id
    }

    /// The canonical upper-case name (`"I2_S"`, `"TQ2_0"`, ...).
    pub fn name(self) -> &'static str {
        self.entry().name
    }

    /// The type with this name, any case (`"i2_s"`, `"TQ2_0"`).
    pub fn parse_name(name: &str) -> Option<GgmlType> {
        TABLE
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name))
            .map(|e| e.ty)
    }

    /// How the byte size is computed.
    pub fn size_rule(self) -> SizeRule {
        self.entry().rule
    }

    /// Elements per block (1 for the bitnet.cpp special-size types, whose rows have
    /// no fixed block structure in ggml's sense).
    pub fn block_size(self) -> u64 {
        match self.size_rule() {
            SizeRule::Blocks { block_size, .. } => block_size,
            SizeRule::QuarterPlus32 | SizeRule::Tl2 => 1,
        }
    }

    /// Bytes of tensor data for a tensor of this type with dimensions `shape`
    /// (ggml order, `shape[0]` contiguous). `None` when the element count or the
    /// size overflows `u64`, or the shape is impossible for this type (a row not a
    /// multiple of the block size; a TL2 row shorter than 256).
    pub fn n_bytes(self, shape: &[u64]) -> Option<u64> {
        let n = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))?;
        let ne0 = shape.first().copied().unwrap_or(1);
        match self.size_rule() {
            SizeRule::Blocks {
                block_size,
                type_size,
            } => {
                if ne0 % block_size != 0 {
                    return None;
                }
                (n / block_size).checked_mul(type_size)
            }
            SizeRule::QuarterPlus32 => (n / 4).checked_add(32),
            SizeRule::Tl2 => {
                // Mirrors the fork's ggml_nbytes, including its integer-division order.
                let ne1 = n / ne0.max(1);
                let lut = ne0.checked_sub(256)?.checked_mul(ne1)? / 3 * 5 / 8;
                let rest = 256u64.checked_mul(ne1)? / 2 * 4 / 8;
                let raw = lut.checked_add(rest)?;
                let padded = raw.checked_next_multiple_of(32)?;
                padded.checked_add(32)
            }
        }
    }

    /// True for the ternary weight formats this crate computes with.
    pub fn is_ternary(self) -> bool {
        matches!(
            self,
            GgmlType::I2_S | GgmlType::TQ1_0 | GgmlType::TQ2_0 | GgmlType::TL1 | GgmlType::TL2
        )
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_in_their_dialect() {
        for ty in GgmlType::all() {
            let dialect = match ty {
                GgmlType::TL2 => Dialect::BitnetFork,
                _ => Dialect::Upstream,
            };
            assert_eq!(GgmlType::from_id(ty.id(), dialect), Some(ty), "{ty}");
        }
    }

    #[test]
    fn names_parse_in_any_case() {
        for ty in GgmlType::all() {
            assert_eq!(GgmlType::parse_name(&ty.name().to_lowercase()), Some(ty));
        }
        assert_eq!(GgmlType::parse_name("i2_s"), Some(GgmlType::I2_S));
        assert_eq!(GgmlType::parse_name("q9_9"), None);
    }

    #[test]
    fn id_39_depends_on_dialect_and_removed_ids_are_unknown() {
        assert_eq!(
            GgmlType::from_id(39, Dialect::Upstream),
            Some(GgmlType::MXFP4)
        );
        assert_eq!(
            GgmlType::from_id(39, Dialect::BitnetFork),
            Some(GgmlType::TL2)
        );
        assert_eq!(
            GgmlType::from_id(36, Dialect::Upstream),
            Some(GgmlType::I2_S)
        );
        assert_eq!(GgmlType::from_id(40, Dialect::BitnetFork), None);
        for id in [4, 5, 43, 1000] {
            assert_eq!(GgmlType::from_id(id, Dialect::Upstream), None);
        }
    }

    #[test]
    fn special_sizes_match_the_fork() {
        // 2B-4T attn_q: 2560 x 2560 I2_S.
        assert_eq!(
            GgmlType::I2_S.n_bytes(&[2560, 2560]),
            Some(2560 * 2560 / 4 + 32)
        );
        assert_eq!(GgmlType::TQ2_0.n_bytes(&[256, 3]), Some(3 * 66));
        assert_eq!(GgmlType::TQ2_0.n_bytes(&[100, 3]), None);
        // TL2 for a 3200 x 8640 matrix, computed by hand from the fork's formula.
        let raw: u64 = (3200 - 256) * 8640 / 3 * 5 / 8 + 256 * 8640 / 2 * 4 / 8;
        let padded = raw.next_multiple_of(32) + 32;
        assert_eq!(GgmlType::TL2.n_bytes(&[3200, 8640]), Some(padded));
        assert_eq!(GgmlType::TL2.n_bytes(&[128, 8]), None);
        assert_eq!(GgmlType::F32.n_bytes(&[u64::MAX, 2]), None);
    }
}
