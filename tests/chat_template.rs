//! Chat templates against their references. Every expected string below was written from
//! the reference's rules and then checked against the reference itself:
//! - `llama3`: llama.cpp @ 0c1e57098, llama-chat.cpp lines 485-493; the six-turn strings
//!   are llama.cpp's own (tests/test-chat-template.cpp lines 355-362 and 469-471), and
//!   `llama_chat_apply_template` of that build's libllama.so printed all of them;
//! - `bitnet-cpp`: bitnet.cpp's 3rdparty/llama.cpp/src/llama.cpp lines 22146-22164; its
//!   libllama.so's `llama_chat_apply_template(NULL, "bitnet", ...)` printed them;
//! - `bitnet`: the `chat_template` of microsoft/bitnet-b1.58-2B-4T's tokenizer_config.json,
//!   `{% set loop_messages = messages %}{% for message in loop_messages %}{% set content =
//!   message['role'] | capitalize + ': '+ message['content'] | trim + '<|eot_id|>' %}{{
//!   content }}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}`,
//!   rendered by Jinja2 3.1.6 in the sandboxed environment transformers uses. (No BOS
//!   in the text: the tokenizer adds it, as in llama.cpp.)

use bitnet::gguf::{GgufFile, GgufWriter, Value};
use bitnet::tokenizer::chat;
use bitnet::tokenizer::{ChatMessage, ChatTemplate, DetokenizeOptions, Tokenizer};
use bitnet::Error;

mod common;

use common::fixture;

/// llama.cpp's test conversation (test-chat-template.cpp lines 355-362).
const CONVERSATION: [ChatMessage; 6] = [
    ChatMessage {
        role: "system",
        content: "You are a helpful assistant",
    },
    ChatMessage {
        role: "user",
        content: "Hello",
    },
    ChatMessage {
        role: "assistant",
        content: "Hi there",
    },
    ChatMessage {
        role: "user",
        content: "Who are you",
    },
    ChatMessage {
        role: "assistant",
        content: "   I am an assistant   ",
    },
    ChatMessage {
        role: "user",
        content: "Another question",
    },
];

const LLAMA3_SIX_TURNS: &str = concat!(
    "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>",
    "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>",
    "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>",
    "<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>",
    "<|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|>",
    "<|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|>",
);

const BITNET_SIX_TURNS: &str = concat!(
    "System: You are a helpful assistant<|eot_id|>",
    "User: Hello<|eot_id|>",
    "Assistant: Hi there<|eot_id|>",
    "User: Who are you<|eot_id|>",
    "Assistant: I am an assistant<|eot_id|>",
    "User: Another question<|eot_id|>",
);

// system and assistant turns unterminated, the generation prompt inside each user turn,
// the assistant's padding kept
const BITNET_CPP_SIX_TURNS: &str = concat!(
    "System: You are a helpful assistant",
    "User: Hello<|eot_id|>Assistant: ",
    "Hi there",
    "User: Who are you<|eot_id|>Assistant: ",
    "   I am an assistant   ",
    "User: Another question<|eot_id|>Assistant: ",
);

#[test]
fn llama3_renders_as_llama_cpp() {
    let t = ChatTemplate::Llama3;
    assert_eq!(t.apply(&CONVERSATION, false), LLAMA3_SIX_TURNS);
    assert_eq!(
        t.apply(&CONVERSATION, true),
        format!("{LLAMA3_SIX_TURNS}<|start_header_id|>assistant<|end_header_id|>\n\n")
    );
}

#[test]
fn bitnet_renders_as_the_model_card() {
    let t = ChatTemplate::Bitnet;
    assert_eq!(t.apply(&CONVERSATION, false), BITNET_SIX_TURNS);
    assert_eq!(
        t.apply(&CONVERSATION, true),
        format!("{BITNET_SIX_TURNS}Assistant: ")
    );
}

#[test]
fn bitnet_cpp_renders_as_bitnet_cpp_and_ignores_the_generation_flag() {
    let t = ChatTemplate::BitnetCpp;
    assert_eq!(t.apply(&CONVERSATION, false), BITNET_CPP_SIX_TURNS);
    assert_eq!(t.apply(&CONVERSATION, true), BITNET_CPP_SIX_TURNS);
}

/// Roles beyond the usual three, and whitespace each reference trims differently:
/// llama.cpp's C `isspace` keeps U+00A0 and U+3000, Python's `strip` removes them,
/// bitnet.cpp trims nothing.
#[test]
fn other_roles_and_whitespace() {
    let chat = [
        ChatMessage::new("system", " Be brief.\n"),
        ChatMessage::new("user", "\x0bHi\u{a0}"),
        ChatMessage::new("tool", "{\"x\": 1}"),
        ChatMessage::new("User", "ok\u{3000}"),
    ];
    assert_eq!(
        ChatTemplate::Llama3.apply(&chat, true),
        "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>\
         <|start_header_id|>user<|end_header_id|>\n\nHi\u{a0}<|eot_id|>\
         <|start_header_id|>tool<|end_header_id|>\n\n{\"x\": 1}<|eot_id|>\
         <|start_header_id|>User<|end_header_id|>\n\nok\u{3000}<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\n"
    );
    assert_eq!(
        ChatTemplate::Bitnet.apply(&chat, true),
        "System: Be brief.<|eot_id|>User: Hi<|eot_id|>Tool: {\"x\": 1}<|eot_id|>\
         User: ok<|eot_id|>Assistant: "
    );
    // "User" is not "user" to bitnet.cpp: it writes the bare content, like "tool"
    assert_eq!(
        ChatTemplate::BitnetCpp.apply(&chat, true),
        "System:  Be brief.\nUser: \x0bHi\u{a0}<|eot_id|>Assistant: {\"x\": 1}ok\u{3000}"
    );
}

#[test]
fn fixture_templates_are_detected() {
    // the official file's placeholder ("Human: ... BITNETAssistant: ")
    let i2s = fixture("models/i2s-b158.gguf");
    let text = i2s.get_str("tokenizer.chat_template").unwrap().unwrap();
    assert!(text.contains(r"'\n\nBITNETAssistant: ' + eos_token"));
    assert_eq!(ChatTemplate::detect(text), Some(ChatTemplate::Bitnet));
    assert_eq!(chat::for_gguf(&i2s).unwrap(), Some(ChatTemplate::Bitnet));

    for rel in ["models/tq2_0-bitnet.gguf", "models/tq1_0-bitnet.gguf"] {
        let file = fixture(rel);
        assert_eq!(
            chat::for_gguf(&file).unwrap(),
            Some(ChatTemplate::Llama3),
            "{rel}"
        );
    }
    // a vocabulary-only file has no template
    let vocab = fixture("tokenizer/ggml-vocab-llama-bpe.gguf");
    assert_eq!(chat::for_gguf(&vocab).unwrap(), None);
}

#[test]
fn llama_cpp_llama3_template_is_detected() {
    // test-chat-template.cpp line 470
    let text = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set \
        content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ \
        message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = \
        bos_token + content %}{% endif %}{{ content }}{% endfor %}{{ \
        '<|start_header_id|>assistant<|end_header_id|>\n\n' }}";
    assert_eq!(ChatTemplate::detect(text), Some(ChatTemplate::Llama3));
    assert_eq!(ChatTemplate::resolve(text).unwrap(), ChatTemplate::Llama3);
}

#[test]
fn chatml_is_refused_by_name() {
    // teknium/OpenHermes-2.5-Mistral-7B, test-chat-template.cpp line 378
    let chatml = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + \
        message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt \
        %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    assert_eq!(ChatTemplate::detect(chatml), None);
    let err = ChatTemplate::resolve(chatml).unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "unsupported: chat template \"{% for message in messages %}{{'<|im_start|>' + \
         message['rol\"... is llama.cpp's chatml format, which libbitnet does not render; name \
         one of bitnet, bitnet-cpp, llama3 instead"
    );
    let err = ChatTemplate::resolve("You are {{ name }}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported: chat template \"You are {{ name }}\" is not one libbitnet recognises; \
         name one of bitnet, bitnet-cpp, llama3 instead"
    );
}

fn gguf_with_template(value: Value) -> GgufFile {
    let mut w = GgufWriter::new();
    w.add("general.architecture", Value::String("llama".into()))
        .unwrap();
    w.add("tokenizer.chat_template", value).unwrap();
    let bytes = w.begin(Vec::new()).unwrap().finish().unwrap();
    GgufFile::from_bytes(bytes).unwrap()
}

#[test]
fn for_gguf_reports_bad_templates() {
    let chatml = gguf_with_template(Value::String("<|im_start|>".into()));
    assert!(matches!(
        chat::for_gguf(&chatml),
        Err(Error::Unsupported(_))
    ));
    let wrong_type = gguf_with_template(Value::U32(3));
    assert!(matches!(chat::for_gguf(&wrong_type), Err(Error::Gguf(_))));
    // a bare name is read as a name, as llama.cpp reads one
    let named = gguf_with_template(Value::String("bitnet-cpp".into()));
    assert_eq!(
        chat::for_gguf(&named).unwrap(),
        Some(ChatTemplate::BitnetCpp)
    );
}

/// The rendered prompts tokenized with the fixture vocabulary (4352 tokens), against
/// the ids llama.cpp's `llama-tokenize` prints for tq2_0-bitnet.gguf and bitnet.cpp's
/// prints for i2s-b158.gguf (the same ids from both).
#[test]
fn special_tokens_come_out_as_single_control_ids() {
    let llama3: &[u32] = &[
        4096, 4102, 82, 615, 4103, 271, 2675, 527, 264, 1520, 1285, 1089, 380, 519, 4105, 4102,
        882, 4103, 271, 39, 301, 385, 4105, 4102, 395, 380, 519, 4103, 271, 39, 72, 1070, 4105,
        4102, 882, 4103, 271, 1671, 78, 527, 499, 4105, 4102, 395, 380, 519, 4103, 271, 40, 1097,
        459, 1089, 380, 519, 4105, 4102, 882, 4103, 271, 2127, 1605, 3488, 4105, 4102, 395, 380,
        519, 4103, 271,
    ];
    let bitnet: &[u32] = &[
        4096, 2374, 25, 1472, 527, 264, 1520, 1285, 1089, 380, 519, 4105, 1502, 25, 473, 301, 385,
        4105, 32, 784, 380, 519, 25, 473, 72, 1070, 4105, 1502, 25, 1254, 78, 527, 499, 4105, 32,
        784, 380, 519, 25, 358, 1097, 459, 1089, 380, 519, 4105, 1502, 25, 1556, 1605, 3488, 4105,
        32, 784, 380, 519, 25, 220,
    ];
    let bitnet_cpp: &[u32] = &[
        4096, 2374, 25, 1472, 527, 264, 1520, 1285, 1089, 380, 519, 1502, 25, 473, 301, 385, 4105,
        32, 784, 380, 519, 25, 473, 72, 1070, 1502, 25, 1254, 78, 527, 499, 4105, 32, 784, 380,
        519, 25, 262, 358, 1097, 459, 1089, 380, 519, 256, 2724, 25, 1556, 1605, 3488, 4105, 32,
        784, 380, 519, 25, 220,
    ];
    for rel in ["models/tq2_0-bitnet.gguf", "models/i2s-b158.gguf"] {
        let tok = Tokenizer::from_gguf(&fixture(rel), &Default::default()).unwrap();
        let (start, end, eot) = (
            tok.token_id("<|start_header_id|>").unwrap(),
            tok.token_id("<|end_header_id|>").unwrap(),
            tok.token_id("<|eot_id|>").unwrap(),
        );
        assert_eq!((start, end, eot), (4102, 4103, 4105), "{rel}");
        assert!([start, end, eot].iter().all(|&id| tok.is_control(id)));

        for (t, want) in [
            (ChatTemplate::Llama3, llama3),
            (ChatTemplate::Bitnet, bitnet),
            (ChatTemplate::BitnetCpp, bitnet_cpp),
        ] {
            let prompt = t.apply(&CONVERSATION, true);
            let ids = tok.tokenize(&prompt, true, true).unwrap();
            assert_eq!(ids, want, "{t} with {rel}");
            // and back: BOS, then the prompt byte for byte
            let opts = DetokenizeOptions {
                unparse_special: true,
                ..Default::default()
            };
            let text = tok.detokenize(&ids, &opts).unwrap();
            assert_eq!(text, format!("<|begin_of_text|>{prompt}").as_bytes(), "{t}");
        }
    }
}
