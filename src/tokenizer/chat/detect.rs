//! Which format a `tokenizer.chat_template` text asks for, by the substring rules of
//! llama.cpp (`llm_chat_detect_template`, llama-chat.cpp @ 0c1e57098) and bitnet.cpp
//! (`llama_chat_apply_template_internal`, the fork's llama.cpp).
//!
//! The rules are tried in the references' order, and the first match wins. Formats this
//! crate does not render still need their rules here: a template that llama.cpp reads as
//! ChatML but that also mentions `<|start_header_id|>` must not come out as Llama-3.

use super::ChatTemplate;

/// The outcome of the first matching rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Detected {
    Render(ChatTemplate),
    /// A format of llama.cpp's that this crate does not render, by llama.cpp's name(s).
    Other(&'static str),
}

use Detected::{Other, Render};

fn all(text: &str, needles: &[&str]) -> bool {
    needles.iter().all(|n| text.contains(n))
}

/// A format and the test a template text must pass to ask for it.
type Rule = (Detected, fn(&str) -> bool);

/// llama.cpp's rules up to and including Llama-3, in its order (variants of one family,
/// like ChatML's phi4 and smolvlm, collapse into one rule), then the rules bitnet.cpp
/// checks between its Llama-3 rule and its BITNET rule. Llama-3 is placed as upstream
/// places it; BITNET as the fork does (upstream has no BITNET rule).
const RULES: &[Rule] = &[
    (Other("chatml"), |t| t.contains("<|im_start|>")),
    (Other("llama2/mistral"), |t| {
        t.starts_with("mistral") || t.contains("[INST]")
    }),
    (Other("phi3"), |t| all(t, &["<|assistant|>", "<|end|>"])),
    (Other("chatglm4"), |t| t.contains("[gMASK]<sop>")),
    (Other("falcon3/glmedge/exaone-moe"), |t| {
        all(t, &["<|assistant|>", "<|user|>"])
    }),
    (Other("glmedge"), |t| {
        all(t, &["<|{{ item['role'] }}|>", "<|begin_of_image|>"])
    }),
    (Other("zephyr"), |t| all(t, &["<|user|>", "<|endoftext|>"])),
    (Other("monarch"), |t| {
        t.contains("bos_token + message['role']")
    }),
    (Other("gemma"), |t| t.contains("<start_of_turn>")),
    // the C++ source spells the backslashes escaped: the template text holds `\n`
    (Other("orion"), |t| {
        t.contains(r"'\n\nAssistant: ' + eos_token")
    }),
    (Other("openchat"), |t| t.contains("GPT4 Correct ")),
    (Other("vicuna"), |t| all(t, &["USER: ", "ASSISTANT: "])),
    (Other("deepseek"), |t| {
        all(t, &["### Instruction:", "<|EOT|>"])
    }),
    (Other("command-r"), |t| {
        all(t, &["<|START_OF_TURN_TOKEN|>", "<|USER_TOKEN|>"])
    }),
    (Render(ChatTemplate::Llama3), |t| {
        all(t, &["<|start_header_id|>", "<|end_header_id|>"])
    }),
    (Other("chatglm3"), |t| t.contains("[gMASK]sop")),
    (Other("minicpm"), |t| t.contains("<用户>")),
    (Other("deepseek2"), |t| {
        t.contains("'Assistant: ' + message['content'] + eos_token")
    }),
    (Other("exaone3"), |t| {
        all(t, &["[|system|]", "[|assistant|]", "[|endofturn|]"])
    }),
    (Render(ChatTemplate::Bitnet), |t| t.contains("BITNET")),
];

/// The first rule `text` matches, if any.
pub(super) fn detect(text: &str) -> Option<Detected> {
    RULES
        .iter()
        .find(|(_, matches)| matches(text))
        .map(|&(detected, _)| detected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama3_markers_need_both_headers() {
        let t = "{{ '<|start_header_id|>' + role + '<|end_header_id|>' }}";
        assert_eq!(detect(t), Some(Render(ChatTemplate::Llama3)));
        assert_eq!(detect("<|start_header_id|>"), None);
    }

    #[test]
    fn earlier_rules_shadow_llama3() {
        // llama.cpp renders these as ChatML and Gemma, whatever else they contain
        let chatml = "<|im_start|><|start_header_id|><|end_header_id|>";
        assert_eq!(detect(chatml), Some(Other("chatml")));
        let gemma = "<start_of_turn><|start_header_id|><|end_header_id|>";
        assert_eq!(detect(gemma), Some(Other("gemma")));
        assert_eq!(detect("mistral-v7"), Some(Other("llama2/mistral")));
    }

    #[test]
    fn llama3_and_other_formats_shadow_bitnet() {
        // bitnet.cpp tests BITNET last
        let t = "BITNET <|start_header_id|><|end_header_id|>";
        assert_eq!(detect(t), Some(Render(ChatTemplate::Llama3)));
        assert_eq!(detect("BITNET [gMASK]sop"), Some(Other("chatglm3")));
        assert_eq!(detect("BITNET"), Some(Render(ChatTemplate::Bitnet)));
    }

    #[test]
    fn the_bitnet_marker_defeats_the_orion_rule() {
        // the official file's template is Orion's with BITNET spliced into its tag
        let orion = r"{{ 'Human: ' + message['content'] + '\n\nAssistant: ' + eos_token }}";
        assert_eq!(detect(orion), Some(Other("orion")));
        let official = orion.replace("Assistant", "BITNETAssistant");
        assert_eq!(detect(&official), Some(Render(ChatTemplate::Bitnet)));
    }

    #[test]
    fn rules_are_case_sensitive() {
        assert_eq!(detect("bitnet"), None);
        assert_eq!(detect("<|START_HEADER_ID|><|END_HEADER_ID|>"), None);
    }
}
