//! Ids back to bytes, as llama.cpp's `token_to_piece` and `detokenize` do it.

use super::types::{DetokenizeOptions, TokenAttr, VocabKind};
use super::vocab::Vocab;

/// GPT-2's byte-to-character table, inverted: the byte a character of a byte-level
/// token stands for. Printable Latin-1 bytes are their own character; the other 68
/// bytes are U+0100 onwards, in byte order.
fn byte_level_decoder() -> [Option<u8>; 324] {
    let mut table = [None; 324];
    let mut n = 0;
    for b in 0..=255u8 {
        let printable = matches!(b, 0x21..=0x7e | 0xa1..=0xac | 0xae..=0xff);
        if printable {
            table[b as usize] = Some(b);
        } else {
            table[256 + n] = Some(b);
            n += 1;
        }
    }
    table
}

/// A byte-level token's text as bytes (llama.cpp's `llama_decode_text`, including its
/// `[UNK_BYTE_0x..]` rendering of characters outside the table).
fn decode_byte_level(text: &str, out: &mut Vec<u8>) {
    static TABLE: std::sync::OnceLock<[Option<u8>; 324]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(byte_level_decoder);
    for c in text.chars() {
        match table.get(c as usize).copied().flatten() {
            Some(b) => out.push(b),
            None => {
                out.extend_from_slice(b"[UNK_BYTE_0x");
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                out.extend_from_slice(text.as_bytes());
                out.push(b']');
            }
        }
    }
}

/// The byte a `<0xXX>` token stands for (llama.cpp reads the two characters after
/// `<0x` with `strtol`).
fn byte_token_value(text: &str) -> u8 {
    let digits = text.get(3..5).unwrap_or("");
    let hex: String = digits.chars().take_while(char::is_ascii_hexdigit).collect();
    u8::from_str_radix(&hex, 16).unwrap_or(0)
}

/// Appends the piece of token `id` (in range) to `out`, skipping up to `lstrip` leading
/// spaces. CONTROL and UNKNOWN tokens render only when `special` is set.
pub(crate) fn piece(vocab: &Vocab, id: u32, special: bool, lstrip: usize, out: &mut Vec<u8>) {
    let token = &vocab.tokens[id as usize];
    let attr = token.attr;
    let always_special = TokenAttr::UNKNOWN | TokenAttr::CONTROL;
    if !special && attr.intersects(always_special) {
        return;
    }
    let start = out.len();
    if attr.intersects(always_special | TokenAttr::USER_DEFINED) {
        out.extend_from_slice(token.text.as_bytes());
    } else if attr.intersects(TokenAttr::NORMAL) {
        match vocab.kind {
            VocabKind::Spm => out.extend_from_slice(token.text.replace('\u{2581}', " ").as_bytes()),
            VocabKind::Bpe => decode_byte_level(&token.text, out),
        }
    } else if attr.intersects(TokenAttr::BYTE) {
        out.push(byte_token_value(&token.text));
    }
    let n_spaces = out[start..]
        .iter()
        .take(lstrip)
        .take_while(|&&b| b == b' ')
        .count();
    out.drain(start..start + n_spaces);
}

/// llama.cpp's `detokenize` for ids already checked to be in range; the clean-up of
/// spaces applies only when both the vocabulary and `options` ask for it.
pub(crate) fn detokenize(vocab: &Vocab, mut ids: &[u32], options: &DetokenizeOptions) -> Vec<u8> {
    let (remove_special, unparse_special) = (options.remove_special, options.unparse_special);
    let mut remove_space = vocab.add_space_prefix;
    if remove_special && vocab.add_bos {
        if let (Some(&first), Some(bos)) = (ids.first(), vocab.special.bos) {
            if first == bos {
                remove_space = false;
                ids = &ids[1..];
            }
        }
    }
    if remove_special && vocab.add_eos {
        if let (Some(&last), Some(eos)) = (ids.last(), vocab.special.eos) {
            if last == eos {
                ids = &ids[..ids.len() - 1];
            }
        }
    }
    let mut text = Vec::new();
    for &id in ids {
        piece(
            vocab,
            id,
            unparse_special,
            usize::from(remove_space),
            &mut text,
        );
        remove_space = false;
    }
    if vocab.clean_spaces && options.clean_spaces {
        text = clean_spaces(text);
    }
    text
}

/// `clean_up_tokenization_spaces`, as llama.cpp's three passes: drop the space before
/// `? ! . ,`; turn `" ' "` into `'`; drop the space before `'s 'm 're 've`.
fn clean_spaces(text: Vec<u8>) -> Vec<u8> {
    // pass 1
    let mut out = Vec::with_capacity(text.len());
    for (i, &x) in text.iter().enumerate() {
        if i > 0 && text[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            out.pop();
        }
        out.push(x);
    }
    // pass 2: llama.cpp overwrites the skipped space with NUL in place, so a quote right
    // after a cleaned " ' " does not see a space before it
    let mut input = out;
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let x = input[i];
        if i > 0
            && x == b'\''
            && i + 1 < input.len()
            && input[i - 1] == b' '
            && input[i + 1] == b' '
        {
            out.pop();
            i += 1;
            input[i] = 0;
        }
        out.push(x);
        i += 1;
    }
    // pass 3
    let input = out;
    let mut out = Vec::with_capacity(input.len());
    for (i, &x) in input.iter().enumerate() {
        if i > 0 && input[i - 1] == b' ' && x == b'\'' && i + 1 < input.len() {
            let x1 = input[i + 1];
            let x2 = input.get(i + 2).copied();
            let drop_space = matches!(x1, b's' | b'm')
                || (i + 2 < input.len()
                    && matches!((x1, x2), (b'r', Some(b'e')) | (b'v', Some(b'e'))));
            if drop_space {
                out.pop();
            }
        }
        out.push(x);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_table_is_gpt2s() {
        let t = byte_level_decoder();
        assert_eq!(t['!' as usize], Some(b'!'));
        assert_eq!(t[0x100], Some(0)); // 'Ā'
        assert_eq!(t[0x120], Some(b' ')); // 'Ġ'
        assert_eq!(t[0x10a], Some(b'\n')); // 'Ċ'
        assert_eq!(t[0x143], Some(0xad));
        assert_eq!(t.iter().flatten().count(), 256);
    }

    #[test]
    fn clean_spaces_matches_llama_cpp() {
        let c = |s: &str| String::from_utf8(clean_spaces(s.as_bytes().to_vec())).unwrap();
        assert_eq!(c("Hello , world !"), "Hello, world!");
        assert_eq!(c("a ' b"), "a'b");
        assert_eq!(c("x ' ' y"), "x'' y");
        assert_eq!(c("it 's I 'm we 're you 've"), "it's I'm we're you've");
        assert_eq!(c("don 't I 'd we 'll"), "don 't I 'd we 'll");
        assert_eq!(c(" ?"), "?");
        assert_eq!(c(""), "");
    }

    #[test]
    fn byte_token_values() {
        assert_eq!(byte_token_value("<0x0A>"), 10);
        assert_eq!(byte_token_value("<0xFF>"), 255);
        assert_eq!(byte_token_value("<0xG>"), 0);
    }
}
