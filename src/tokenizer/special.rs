//! Splitting special tokens out of the input before the model sees it (llama.cpp's
//! `tokenizer_st_partition`). Special tokens are tried longest first; each one splits
//! every text fragment at all its non-overlapping occurrences, left to right. CONTROL
//! and UNKNOWN tokens take part only when `parse_special` is set; USER_DEFINED tokens
//! always do. A token with the LSTRIP (RSTRIP) attribute also swallows the ASCII
//! whitespace before (after) it.

use super::types::TokenAttr;
use super::vocab::Vocab;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

pub(crate) fn partition<'a>(
    vocab: &Vocab,
    text: &'a str,
    parse_special: bool,
) -> Vec<Fragment<'a>> {
    let mut fragments = Vec::new();
    if text.is_empty() {
        return fragments;
    }
    fragments.push(Fragment::Text(text));
    let skip_unless_parsing = TokenAttr::CONTROL | TokenAttr::UNKNOWN;
    for &id in &vocab.special_cache {
        let data = &vocab.tokens[id as usize];
        if !parse_special && data.attr.intersects(skip_unless_parsing) {
            continue;
        }
        let special = data.text.as_str();
        let occurs = fragments
            .iter()
            .any(|f| matches!(f, Fragment::Text(t) if t.contains(special)));
        if !occurs {
            continue;
        }
        let lstrip = data.attr.intersects(TokenAttr::LSTRIP);
        let rstrip = data.attr.intersects(TokenAttr::RSTRIP);
        let mut next = Vec::with_capacity(fragments.len() + 2);
        for fragment in fragments {
            let Fragment::Text(mut rest) = fragment else {
                next.push(fragment);
                continue;
            };
            while let Some(pos) = rest.find(special) {
                let mut left = &rest[..pos];
                if lstrip {
                    left = left.trim_end_matches(|c: char| c.is_ascii() && is_c_space(c as u8));
                }
                if !left.is_empty() {
                    next.push(Fragment::Text(left));
                }
                next.push(Fragment::Token(id));
                rest = &rest[pos + special.len()..];
                if rstrip {
                    rest = rest.trim_start_matches(|c: char| c.is_ascii() && is_c_space(c as u8));
                }
            }
            if !rest.is_empty() {
                next.push(Fragment::Text(rest));
            }
        }
        fragments = next;
    }
    fragments
}
