//! The three formats, each written as its reference writes it. None writes BOS.

use super::ChatMessage;

const EOT: &str = "<|eot_id|>";

/// The BitNet b1.58 2B-4T model card format: the `chat_template` of the model's Hugging
/// Face `tokenizer_config.json`,
/// `{% set content = message['role'] | capitalize + ': '+ message['content'] | trim + '<|eot_id|>' %}`
/// for every message, then `{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}`.
pub(super) fn bitnet(messages: &[ChatMessage], add_generation_prompt: bool, out: &mut String) {
    for m in messages {
        push_capitalized(out, m.role);
        out.push_str(": ");
        out.push_str(trim_python(m.content));
        out.push_str(EOT);
    }
    if add_generation_prompt {
        out.push_str("Assistant: ");
    }
}

/// bitnet.cpp's built-in format: the `tmpl == "bitnet" || tmpl_contains("BITNET")` branch
/// of `llama_chat_apply_template_internal` (3rdparty/llama.cpp/src/llama.cpp, lines
/// 22146-22164 of the fork). No trimming; roles compare case-sensitively, and any role but
/// `system` and `user` writes its bare content. Each user turn already ends with the
/// generation prompt, so the fork ignores `add_ass` and so does this.
pub(super) fn bitnet_cpp(messages: &[ChatMessage], out: &mut String) {
    for m in messages {
        match m.role {
            "system" => {
                out.push_str("System: ");
                out.push_str(m.content);
            }
            "user" => {
                out.push_str("User: ");
                out.push_str(m.content);
                out.push_str(EOT);
                out.push_str("Assistant: ");
            }
            _ => out.push_str(m.content),
        }
    }
}

/// llama.cpp's `LLM_CHAT_TEMPLATE_LLAMA_3` (`llm_chat_apply_template`, llama-chat.cpp
/// lines 485-493 @ 0c1e57098): the role is written as given, the content trimmed.
pub(super) fn llama3(messages: &[ChatMessage], add_generation_prompt: bool, out: &mut String) {
    for m in messages {
        out.push_str("<|start_header_id|>");
        out.push_str(m.role);
        out.push_str("<|end_header_id|>\n\n");
        out.push_str(trim_c(m.content));
        out.push_str(EOT);
    }
    if add_generation_prompt {
        out.push_str("<|start_header_id|>assistant<|end_header_id|>\n\n");
    }
}

/// llama.cpp's `trim`: C `isspace` in the "C" locale, so ASCII only (with vertical tab).
fn trim_c(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r'))
}

/// Jinja's `trim`, which is Python's `str.strip()`: Unicode White_Space plus the four
/// separators U+001C..U+001F that Python also counts as space.
fn trim_python(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
}

/// Jinja's `capitalize`: the first character upper-cased, the rest lower-cased. (Python
/// title-cases the first character; that differs only for digraphs such as `ǆ`.)
fn push_capitalized(out: &mut String, s: &str) {
    let mut chars = s.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(&chars.as_str().to_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_c_is_ascii_isspace() {
        assert_eq!(trim_c(" \t\n\x0b\x0c\rx y\r\n"), "x y");
        // not `isspace` in the C locale
        assert_eq!(trim_c("\u{a0}x\u{85}"), "\u{a0}x\u{85}");
        assert_eq!(trim_c("\x1cx"), "\x1cx");
    }

    #[test]
    fn trim_python_matches_str_isspace() {
        // every code point with Python 3's str.isspace() true
        let mut python_space: Vec<u32> = vec![0x85, 0xa0, 0x1680, 0x2028, 0x2029];
        python_space.extend((0x09..=0x0d).chain(0x1c..=0x20).chain(0x2000..=0x200a));
        python_space.extend([0x202f, 0x205f, 0x3000]);
        for cp in python_space {
            let c = char::from_u32(cp).unwrap();
            assert_eq!(trim_python(&format!("{c}x{c}")), "x", "U+{cp:04X}");
        }
        for c in ['\u{180e}', '\u{200b}', '\u{feff}', '\0'] {
            let s = format!("{c}x");
            assert_eq!(trim_python(&s), s, "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn capitalize_as_jinja() {
        for (role, want) in [
            ("user", "User"),
            ("USER", "User"),
            ("tool_call", "Tool_call"),
            ("", ""),
            ("émile", "Émile"),
        ] {
            let mut out = String::new();
            push_capitalized(&mut out, role);
            assert_eq!(out, want);
        }
    }
}
