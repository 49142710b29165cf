//! Chat templates: a conversation rendered as the prompt text a model was tuned on.
//!
//! As in llama.cpp there is no Jinja engine: a GGUF `tokenizer.chat_template` is
//! recognised by its substrings ([`ChatTemplate::detect`]) and a built-in format is
//! rendered ([`ChatTemplate::apply`]).
//!
//! The rendered text never contains BOS. Tokenize it with `add_special = true`, so BOS is
//! added as the vocabulary asks, and `parse_special = true`, so `<|eot_id|>` and the
//! header markers become their control tokens; llama.cpp's chat does the same.

mod detect;
mod render;

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::gguf::GgufFile;
use detect::Detected;

/// One turn of a conversation. Roles are usually `system`, `user` and `assistant`; how
/// a format writes other roles is documented on each [`ChatTemplate`] variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChatMessage<'a> {
    pub role: &'a str,
    pub content: &'a str,
}

impl<'a> ChatMessage<'a> {
    pub fn new(role: &'a str, content: &'a str) -> Self {
        ChatMessage { role, content }
    }
}

/// A built-in chat format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChatTemplate {
    /// The BitNet b1.58 2B-4T model card format, which the model was fine-tuned on:
    /// `System: {c}<|eot_id|>User: {c}<|eot_id|>Assistant: {c}<|eot_id|>`, and
    /// `Assistant: ` as the generation prompt. As in the model's Hugging Face template,
    /// content is trimmed and any role is written capitalised (`tool` gives `Tool: `).
    Bitnet,
    /// bitnet.cpp's built-in format, byte for byte, for reproducing its prompts: `System:
    /// {c}` and bare assistant content `{c}` with no terminator, and `User:
    /// {c}<|eot_id|>Assistant: ` for a user turn. Nothing is trimmed, and roles other
    /// than `system` and `user` write their bare content. Every user turn already ends
    /// with the generation prompt, so `add_generation_prompt` changes nothing, as in
    /// bitnet.cpp. (bitnet.cpp calls this format `bitnet`.)
    BitnetCpp,
    /// llama.cpp's `llama3` format:
    /// `<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>` per message,
    /// the role as given and the content trimmed of ASCII space, and
    /// `<|start_header_id|>assistant<|end_header_id|>\n\n` as the generation prompt.
    Llama3,
}

impl ChatTemplate {
    /// Every format, in the order error messages list their names.
    pub const ALL: [ChatTemplate; 3] = [
        ChatTemplate::Bitnet,
        ChatTemplate::BitnetCpp,
        ChatTemplate::Llama3,
    ];

    /// The format called `name`: `bitnet`, `bitnet-cpp` or `llama3`. Note that
    /// bitnet.cpp's own name `bitnet` selects what is [`BitnetCpp`](Self::BitnetCpp) here.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            ChatTemplate::Bitnet => "bitnet",
            ChatTemplate::BitnetCpp => "bitnet-cpp",
            ChatTemplate::Llama3 => "llama3",
        }
    }

    /// The format a GGUF `tokenizer.chat_template` text asks for, by llama.cpp's
    /// substring rules in llama.cpp's order: `<|start_header_id|>` with
    /// `<|end_header_id|>` gives [`Llama3`](Self::Llama3); `BITNET` (the marker in the
    /// template in the official 2B-4T file, which it never renders) gives [`Bitnet`](Self::Bitnet).
    /// bitnet.cpp maps `BITNET` to its own format instead, but that format leaves
    /// system and assistant turns unterminated, unlike the model card format the model
    /// was fine-tuned on. `None` for a template llama.cpp reads as a format this crate
    /// does not render (ChatML, Gemma, ...) or does not recognise at all.
    pub fn detect(template: &str) -> Option<Self> {
        match detect::detect(template) {
            Some(Detected::Render(t)) => Some(t),
            Some(Detected::Other(_)) | None => None,
        }
    }

    /// Reads a template name or text as llama.cpp does: an exact name first
    /// ([`from_name`](Self::from_name)), then [`detect`](Self::detect). Fails with
    /// [`Error::Unsupported`] quoting the start of the template otherwise.
    pub fn resolve(template: &str) -> Result<Self> {
        if let Some(t) = Self::from_name(template) {
            return Ok(t);
        }
        let what = match detect::detect(template) {
            Some(Detected::Render(t)) => return Ok(t),
            Some(Detected::Other(name)) => {
                format!("is llama.cpp's {name} format, which libbitnet does not render")
            }
            None => "is not one libbitnet recognises".to_string(),
        };
        Err(Error::Unsupported(format!(
            "chat template {} {what}; name one of {} instead",
            excerpt(template),
            names()
        )))
    }

    /// Renders `messages`, followed by the assistant's turn header when
    /// `add_generation_prompt` is set.
    pub fn apply(self, messages: &[ChatMessage], add_generation_prompt: bool) -> String {
        let len: usize = messages
            .iter()
            .map(|m| m.role.len() + m.content.len() + 40)
            .sum();
        let mut out = String::with_capacity(len + 40);
        self.apply_into(messages, add_generation_prompt, &mut out);
        out
    }

    /// [`apply`](Self::apply), appending to `out`.
    pub fn apply_into(
        self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        out: &mut String,
    ) {
        match self {
            ChatTemplate::Bitnet => render::bitnet(messages, add_generation_prompt, out),
            ChatTemplate::BitnetCpp => render::bitnet_cpp(messages, out),
            ChatTemplate::Llama3 => render::llama3(messages, add_generation_prompt, out),
        }
    }
}

impl fmt::Display for ChatTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses a format name only; [`ChatTemplate::resolve`] also accepts template text.
impl FromStr for ChatTemplate {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::from_name(s).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "unknown chat template '{s}' (expected one of {})",
                names()
            ))
        })
    }
}

/// The format of `file`'s `tokenizer.chat_template`, by [`ChatTemplate::resolve`].
/// `Ok(None)` when the key is absent; an error when it is not a string or names no
/// format this crate renders.
pub fn for_gguf(file: &GgufFile) -> Result<Option<ChatTemplate>> {
    match file.get_str("tokenizer.chat_template")? {
        Some(template) => ChatTemplate::resolve(template).map(Some),
        None => Ok(None),
    }
}

/// "bitnet, bitnet-cpp, llama3", for error messages.
fn names() -> String {
    let names: Vec<&str> = ChatTemplate::ALL.iter().map(|t| t.name()).collect();
    names.join(", ")
}

/// The first 60 characters of `text`, quoted, for error messages.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((end, _)) => format!("{:?}...", &text[..end]),
        None => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in ChatTemplate::ALL {
            assert_eq!(ChatTemplate::from_name(t.name()), Some(t));
            assert_eq!(t.to_string().parse::<ChatTemplate>().unwrap(), t);
            assert_eq!(ChatTemplate::resolve(t.name()).unwrap(), t);
        }
        assert_eq!(ChatTemplate::from_name("Llama3"), None);
        let err = "chatml".parse::<ChatTemplate>().unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    }

    #[test]
    fn resolve_tries_names_before_detection() {
        // as text, "bitnet" has no marker; as a name, it is the model card format
        assert_eq!(ChatTemplate::detect("bitnet"), None);
        assert_eq!(
            ChatTemplate::resolve("bitnet").unwrap(),
            ChatTemplate::Bitnet
        );
        assert_eq!(
            ChatTemplate::resolve("BITNET").unwrap(),
            ChatTemplate::Bitnet
        );
    }

    #[test]
    fn resolve_names_other_llama_cpp_formats() {
        let err = ChatTemplate::resolve("<start_of_turn>user").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported: chat template \"<start_of_turn>user\" is llama.cpp's gemma \
             format, which libbitnet does not render; name one of bitnet, bitnet-cpp, \
             llama3 instead"
        );
    }

    #[test]
    fn excerpt_stops_at_sixty_characters() {
        assert_eq!(excerpt("a\nb"), "\"a\\nb\"");
        let long = "é".repeat(70);
        assert_eq!(excerpt(&long), format!("{:?}...", "é".repeat(60)));
        assert_eq!(excerpt(&"x".repeat(60)), format!("{:?}", "x".repeat(60)));
    }

    #[test]
    fn apply_into_appends() {
        let msgs = [ChatMessage::new("user", "hi")];
        let mut out = String::from("prefix|");
        ChatTemplate::Llama3.apply_into(&msgs, false, &mut out);
        assert_eq!(
            out,
            "prefix|<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
        );
    }

    #[test]
    fn no_messages_leaves_only_the_generation_prompt() {
        assert_eq!(ChatTemplate::Bitnet.apply(&[], true), "Assistant: ");
        assert_eq!(ChatTemplate::BitnetCpp.apply(&[], true), "");
        assert_eq!(
            ChatTemplate::Llama3.apply(&[], true),
            "<|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        for t in ChatTemplate::ALL {
            assert_eq!(t.apply(&[], false), "");
        }
    }
}
