//! SentencePiece (`tokenizer.ggml.model = "llama"`) as llama.cpp runs it: start from
//! the characters, repeatedly merge the adjacent pair whose concatenation is the
//! highest-scoring vocabulary token (ties: leftmost pair), then emit each final piece
//! as its token or, if it is not one, as `<0xXX>` byte tokens.
//!
//! This is implemented directly rather than on the `tokenizers` BPE model: a merge list
//! has one rank per pair, but here every pair that forms *any* token (CONTROL and
//! `<0xXX>` byte tokens included) competes by that token's score, with equal scores
//! resolved by position; different pairs forming the same token share a score. Ranked
//! merges cannot express either.
//!
//! llama.cpp also keeps a map from merged text back to its two halves to re-split
//! pieces that are not tokens; every merged piece is a token by construction and a
//! single character is never a merged text, so that path is never taken and is not
//! reproduced.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::vocab::Vocab;
use crate::error::{Error, Result};

#[derive(Clone, Copy)]
struct Symbol {
    prev: i32,
    next: i32,
    start: usize,
    len: usize,
}

struct Bigram {
    left: i32,
    right: i32,
    score: f32,
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
/// Greater = merged first: higher score, then the leftmost pair.
impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .partial_cmp(&other.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| other.left.cmp(&self.left))
    }
}

struct Session<'a> {
    vocab: &'a Vocab,
    text: &'a str,
    symbols: Vec<Symbol>,
    queue: BinaryHeap<Bigram>,
}

impl Session<'_> {
    fn try_add_bigram(&mut self, left: i32, right: i32) {
        if left < 0 || right < 0 {
            return;
        }
        let l = self.symbols[left as usize];
        let r = self.symbols[right as usize];
        let piece = &self.text[l.start..l.start + l.len + r.len];
        if let Some(id) = self.vocab.text_to_token(piece) {
            self.queue.push(Bigram {
                left,
                right,
                score: self.vocab.tokens[id as usize].score,
                size: piece.len(),
            });
        }
    }
}

/// Byte `b` as a token: `<0xXX>`, else the single-byte text itself.
pub(crate) fn byte_to_token(vocab: &Vocab, b: u8) -> Option<u32> {
    vocab.text_to_token(&format!("<0x{b:02X}>")).or_else(|| {
        std::str::from_utf8(&[b])
            .ok()
            .and_then(|s| vocab.text_to_token(s))
    })
}

/// Appends the ids of `text` (already whitespace-escaped) to `out`.
pub(crate) fn tokenize(vocab: &Vocab, text: &str, out: &mut Vec<u32>) -> Result<()> {
    let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
    for (i, (start, c)) in text.char_indices().enumerate() {
        let end = start + c.len_utf8();
        symbols.push(Symbol {
            prev: i as i32 - 1,
            next: if end == text.len() { -1 } else { i as i32 + 1 },
            start,
            len: c.len_utf8(),
        });
    }
    if symbols.is_empty() {
        return Ok(());
    }
    let mut s = Session {
        vocab,
        text,
        symbols,
        queue: BinaryHeap::new(),
    };
    for i in 1..s.symbols.len() as i32 {
        s.try_add_bigram(i - 1, i);
    }
    while let Some(bigram) = s.queue.pop() {
        let (l, r) = (bigram.left as usize, bigram.right as usize);
        let (left, right) = (s.symbols[l], s.symbols[r]);
        // one side was merged away, or grew, since this pair was queued
        if left.len == 0 || right.len == 0 || left.len + right.len != bigram.size {
            continue;
        }
        s.symbols[l].len += right.len;
        s.symbols[r].len = 0;
        s.symbols[l].next = right.next;
        if right.next >= 0 {
            s.symbols[right.next as usize].prev = bigram.left;
        }
        s.try_add_bigram(left.prev, bigram.left);
        s.try_add_bigram(bigram.left, right.next);
    }

    let mut i = 0i32;
    while i != -1 {
        let sym = s.symbols[i as usize];
        let piece = &text[sym.start..sym.start + sym.len];
        match vocab.text_to_token(piece) {
            Some(id) => out.push(id),
            None => {
                for &b in piece.as_bytes() {
                    let id = byte_to_token(vocab, b).ok_or_else(|| {
                        Error::Tokenizer(format!(
                            "the vocabulary has no token for byte 0x{b:02X} (no <0x{b:02X}>)"
                        ))
                    })?;
                    out.push(id);
                }
            }
        }
        i = sym.next;
    }
    Ok(())
}
