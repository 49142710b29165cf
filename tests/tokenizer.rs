//! The tokenizer against llama.cpp's test vectors (tests/test-tokenizer-0 semantics:
//! `add_special = false`, `parse_special = false`) and the fixture models' vocabulary.

use std::sync::{Mutex, OnceLock};

use bitnet::gguf::{Array, GgufFile, GgufWriter, Value};
use bitnet::tokenizer::{
    DetokenizeOptions, PreTokenizer, TokenAttr, TokenType, Tokenizer, TokenizerOptions, VocabKind,
};
use bitnet::Error;

mod common;

const BPE_VOCAB: &str = "tokenizer/ggml-vocab-llama-bpe.gguf";
const SPM_VOCAB: &str = "tokenizer/ggml-vocab-llama-spm.gguf";
const I2S_MODEL: &str = "models/i2s-b158.gguf";
const TQ2_MODEL: &str = "models/tq2_0-bitnet.gguf";

use common::fixture as open;

fn build(file: &GgufFile, pre: PreTokenizer) -> Tokenizer {
    Tokenizer::from_gguf(file, &TokenizerOptions { pre }).expect("building the tokenizer")
}

fn load(rel: &str, pre: PreTokenizer) -> Tokenizer {
    build(&open(rel), pre)
}

/// `detokenize` without the clean-up of spaces.
fn detok(
    tok: &Tokenizer,
    ids: &[u32],
    remove_special: bool,
    unparse_special: bool,
) -> Result<Vec<u8>, Error> {
    tok.detokenize(
        ids,
        &DetokenizeOptions {
            remove_special,
            unparse_special,
            clean_spaces: false,
        },
    )
}

/// The Llama-3 tokenizer is built once and shared by the tests (also proves `Sync`).
fn llama_bpe() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| load(BPE_VOCAB, PreTokenizer::Auto))
}

fn llama_spm() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| load(SPM_VOCAB, PreTokenizer::Auto))
}

fn reduced() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| load(I2S_MODEL, PreTokenizer::Auto))
}

/// The inputs, split as test-tokenizer-0 does.
fn read_inputs() -> Vec<String> {
    let raw = std::fs::read_to_string(common::fixture_path(
        "tokenizer/ggml-vocab-llama-bpe.gguf.inp",
    ))
    .unwrap();
    let sep = "\n__ggml_vocab_test__\n";
    let mut inputs = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        match raw[pos..].find(sep) {
            None => {
                inputs.push(raw[pos..].to_owned());
                break;
            }
            Some(off) => {
                inputs.push(raw[pos..pos + off].to_owned());
                pos += off + sep.len();
            }
        }
    }
    inputs
}

/// One expected id list per line.
fn read_outputs(rel: &str) -> Vec<Vec<u32>> {
    std::fs::read_to_string(common::fixture_path(rel))
        .unwrap()
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(|t| t.parse().expect("an id"))
                .collect()
        })
        .collect()
}

fn cases(out_rel: &str) -> Vec<(String, Vec<u32>)> {
    let inputs = read_inputs();
    let outputs = read_outputs(out_rel);
    assert_eq!(inputs.len(), 46, "inputs in the .inp file");
    assert_eq!(
        inputs.len(),
        outputs.len(),
        "{out_rel} has one line per input"
    );
    inputs.into_iter().zip(outputs).collect()
}

/// Tokenizes every case; panics listing the failures.
fn check_vectors(tok: &Tokenizer, out_rel: &str) {
    let cases = cases(out_rel);
    let mut failures = Vec::new();
    for (i, (text, expected)) in cases.iter().enumerate() {
        let got = tok.tokenize(text, false, false).unwrap();
        if &got != expected {
            failures.push(format!(
                "case {i} {text:?}:\n  expected {expected:?}\n  got      {got:?}"
            ));
        }
    }
    let passed = cases.len() - failures.len();
    println!("{out_rel}: {passed}/{} passed", cases.len());
    assert!(
        failures.is_empty(),
        "{out_rel}: {passed}/{} passed\n{}",
        cases.len(),
        failures.join("\n")
    );
}

/// Every case round-trips through ids: the pieces concatenate to the input exactly, and
/// `detokenize` gives the input back byte for byte. With llama.cpp's clean-up of spaces
/// (byte-level BPE: `" ?"` -> `"?"`) only the listed cases change, as they do in
/// `llama_detokenize`.
fn check_round_trip(tok: &Tokenizer, out_rel: &str, cleaned: &[(usize, &str, &str)]) {
    for (i, (text, _)) in cases(out_rel).iter().enumerate() {
        let ids = tok.tokenize(text, false, false).unwrap();
        let pieces: Vec<u8> = ids
            .iter()
            .flat_map(|&id| tok.token_to_piece(id, false).unwrap())
            .collect();
        assert_eq!(
            detok(tok, &ids, false, false).unwrap(),
            text.as_bytes(),
            "case {i} detokenized"
        );
        let clean = DetokenizeOptions {
            clean_spaces: true,
            ..DetokenizeOptions::default()
        };
        let cleaned_text = match cleaned.iter().find(|(j, _, _)| *j == i) {
            Some((_, from, to)) => {
                assert!(tok.clean_spaces() && text.contains(from));
                text.replace(from, to)
            }
            None => text.clone(),
        };
        assert_eq!(
            tok.detokenize(&ids, &clean).unwrap(),
            cleaned_text.as_bytes(),
            "case {i} detokenized with clean-up"
        );
        if tok.kind() == VocabKind::Bpe || text.is_empty() {
            assert_eq!(pieces, text.as_bytes(), "case {i} pieces");
        } else {
            // SentencePiece pieces carry the prefixed space
            assert_eq!(pieces, format!(" {text}").as_bytes(), "case {i} pieces");
        }
    }
}

/// The inputs the clean-up changes (a space before `?`); no other rule applies to any.
const BPE_CLEANED: &[(usize, &str, &str)] = &[(32, "😁 ?", "😁?"), (45, "😁 ?", "😁?")];

#[test]
fn llama_bpe_vectors() {
    let tok = llama_bpe();
    assert_eq!(tok.kind(), VocabKind::Bpe);
    assert_eq!(tok.pre(), Some(PreTokenizer::Llama3));
    check_vectors(tok, "tokenizer/ggml-vocab-llama-bpe.gguf.out");
    check_round_trip(tok, "tokenizer/ggml-vocab-llama-bpe.gguf.out", BPE_CLEANED);
}

#[test]
fn llama_spm_vectors() {
    let tok = llama_spm();
    assert_eq!(tok.kind(), VocabKind::Spm);
    assert_eq!(tok.pre(), None);
    check_vectors(tok, "tokenizer/ggml-vocab-llama-spm.gguf.out");
    check_round_trip(tok, "tokenizer/ggml-vocab-llama-spm.gguf.out", &[]);
}

#[test]
fn llama_bpe_default_pre_vectors() {
    let tok = load(BPE_VOCAB, PreTokenizer::Default);
    assert_eq!(tok.pre(), Some(PreTokenizer::Default));
    check_vectors(&tok, "tokenizer/llama-bpe.default-pre.out");
    check_round_trip(&tok, "tokenizer/llama-bpe.default-pre.out", BPE_CLEANED);
}

#[test]
fn reduced_vocab_vectors() {
    for (tok, name) in [
        (reduced(), I2S_MODEL),
        (&load(TQ2_MODEL, PreTokenizer::Auto), TQ2_MODEL),
    ] {
        assert_eq!(tok.n_vocab(), 4352, "{name}");
        assert_eq!(tok.pre(), Some(PreTokenizer::Llama3), "{name}");
        check_vectors(tok, "tokenizer/reduced-4352.llama-bpe.out");
        check_round_trip(tok, "tokenizer/reduced-4352.llama-bpe.out", BPE_CLEANED);
    }
}

#[test]
fn fixture_prompt() {
    let prompt = "We will meet at the station at nine.";
    let expected = [4096, 1687, 690, 3449, 520, 279, 357, 367, 520, 308, 483, 13];
    for tok in [reduced(), &load(TQ2_MODEL, PreTokenizer::Auto)] {
        assert!(tok.add_bos());
        assert_eq!(tok.tokenize(prompt, true, false).unwrap(), expected);
        assert_eq!(tok.tokenize(prompt, true, true).unwrap(), expected);
        assert_eq!(tok.tokenize(prompt, false, false).unwrap(), expected[1..]);
        let ids = tok.tokenize(prompt, true, false).unwrap();
        assert_eq!(detok(tok, &ids, true, false).unwrap(), prompt.as_bytes());
        assert_eq!(detok(tok, &ids, false, false).unwrap(), prompt.as_bytes());
        assert_eq!(
            detok(tok, &ids, false, true).unwrap(),
            format!("<|begin_of_text|>{prompt}").as_bytes()
        );
    }
}

#[test]
fn special_ids_and_eog() {
    let t = llama_bpe();
    assert_eq!(t.n_vocab(), 128256);
    assert_eq!(
        (t.bos(), t.eos(), t.eot(), t.eom()),
        (Some(128000), Some(128001), Some(128009), None)
    );
    assert_eq!((t.unk(), t.pad(), t.nl()), (None, None, Some(198)));
    assert_eq!(t.eog_ids(), [128001, 128009]);
    assert!(t.is_eog(128009) && t.is_eog(128001) && !t.is_eog(128000) && !t.is_eog(u32::MAX));
    assert!(t.add_bos() && !t.add_eos() && !t.add_space_prefix() && t.clean_spaces());

    let r = reduced();
    assert_eq!(
        (r.bos(), r.eos(), r.eot(), r.eom(), r.pad()),
        (Some(4096), Some(4097), Some(4105), None, Some(4097))
    );
    assert_eq!(r.eog_ids(), [4097, 4105]);
    assert_eq!(r.nl(), Some(198));

    let s = llama_spm();
    assert_eq!(s.n_vocab(), 32000);
    assert_eq!(
        (s.bos(), s.eos(), s.unk(), s.eot(), s.nl()),
        (Some(1), Some(2), Some(0), None, Some(13))
    );
    assert_eq!(s.eog_ids(), [2]);
    assert!(s.add_bos() && !s.add_eos() && s.add_space_prefix() && !s.clean_spaces());
}

#[test]
fn token_metadata() {
    let t = llama_bpe();
    assert_eq!(t.token_text(128009), Some("<|eot_id|>"));
    assert_eq!(t.token_id("<|eot_id|>"), Some(128009));
    assert_eq!(t.token_type(128009), Some(TokenType::Control));
    assert_eq!(t.token_type(9906), Some(TokenType::Normal));
    assert_eq!(t.token_attr(128009), Some(TokenAttr::CONTROL));
    assert_eq!(t.token_attr(9906), Some(TokenAttr::NORMAL));
    assert!(t.is_control(128000) && !t.is_control(9906));
    assert_eq!(t.token_score(9906), Some(0.0));
    assert_eq!(t.token_text(128256), None);
    assert_eq!(t.token_type(128256), None);

    let s = llama_spm();
    assert_eq!(s.token_type(0), Some(TokenType::Unknown));
    assert_eq!(s.token_type(13), Some(TokenType::Byte));
    assert_eq!(s.token_score(260), Some(-1.0));
}

#[test]
fn special_tokens_parse_or_not() {
    let t = llama_bpe();
    assert_eq!(t.tokenize("<|eot_id|>", false, true).unwrap(), [128009]);
    let plain = t.tokenize("<|eot_id|>", false, false).unwrap();
    assert!(
        plain.len() > 1 && plain.iter().all(|&id| id < 128000),
        "{plain:?}"
    );
    assert_eq!(detok(t, &plain, false, false).unwrap(), b"<|eot_id|>");

    let text = "User: hi<|eot_id|>Assistant:";
    let ids = t.tokenize(text, true, true).unwrap();
    assert_eq!(ids[0], 128000);
    let eot_at = ids.iter().position(|&id| id == 128009).expect("EOT parsed");
    assert_eq!(
        &ids[1..eot_at],
        t.tokenize("User: hi", false, false).unwrap()
    );
    assert_eq!(
        &ids[eot_at + 1..],
        t.tokenize("Assistant:", false, false).unwrap()
    );
    assert_eq!(
        detok(t, &ids, false, true).unwrap(),
        format!("<|begin_of_text|>{text}").as_bytes()
    );
    assert_eq!(detok(t, &ids, false, false).unwrap(), b"User: hiAssistant:");

    let r = reduced();
    assert_eq!(r.tokenize("<|eot_id|>", false, true).unwrap(), [4105]);
    assert!(r.tokenize("<|eot_id|>", false, false).unwrap().len() > 1);

    // SentencePiece: text after a special token gets the space prefix again
    let s = llama_spm();
    let ids = s.tokenize("Hello</s>Hello", false, true).unwrap();
    assert_eq!(ids, [15043, 2, 15043]);
    let ids = s.tokenize("Hello</s>Hello", false, false).unwrap();
    assert!(!ids.contains(&2));
}

#[test]
fn pieces() {
    let t = llama_bpe();
    assert_eq!(t.token_to_piece(128000, false).unwrap(), b"");
    assert_eq!(
        t.token_to_piece(128000, true).unwrap(),
        b"<|begin_of_text|>"
    );
    assert_eq!(t.token_to_piece(220, false).unwrap(), b" ");
    assert_eq!(t.token_to_piece(198, false).unwrap(), b"\n");
    assert_eq!(t.token_to_piece(22691, false).unwrap(), b" Hello");
    // the ids of 🦙 are parts of one UTF-8 character
    let ids = t.tokenize("🦙", false, false).unwrap();
    assert!(ids.len() > 1);
    assert!(std::str::from_utf8(&t.token_to_piece(ids[0], false).unwrap()).is_err());

    let s = llama_spm();
    assert_eq!(s.token_to_piece(15043, false).unwrap(), b" Hello");
    assert_eq!(s.token_to_piece(13, false).unwrap(), b"\n");
    assert_eq!(s.token_to_piece(1, false).unwrap(), b"");
    assert_eq!(s.token_to_piece(1, true).unwrap(), b"<s>");
    assert_eq!(s.token_to_piece(0, true).unwrap(), b"<unk>");
}

#[test]
fn spm_detokenize_leading_space() {
    let s = llama_spm();
    let ids = s.tokenize("Hello", true, false).unwrap();
    assert_eq!(ids, [1, 15043]);
    // BOS removed as special: the prefixed space is kept, as in llama.cpp
    assert_eq!(detok(s, &ids, true, false).unwrap(), b" Hello");
    // BOS kept (rendered empty): it takes the one-space strip, as in llama.cpp
    assert_eq!(detok(s, &ids, false, false).unwrap(), b" Hello");
    assert_eq!(detok(s, &ids, false, true).unwrap(), b"<s> Hello");
    assert_eq!(detok(s, &ids[1..], false, false).unwrap(), b"Hello");
    assert_eq!(s.tokenize("", true, false).unwrap(), [1]);
    assert_eq!(s.tokenize("", false, false).unwrap(), Vec::<u32>::new());
}

#[test]
fn out_of_range_ids_are_errors() {
    for t in [llama_bpe(), llama_spm()] {
        let n = t.n_vocab() as u32;
        assert!(matches!(
            t.token_to_piece(n, true),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            detok(t, &[1, n], false, false),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            detok(t, &[u32::MAX], true, true),
            Err(Error::InvalidArgument(_))
        ));
        assert!(t.token_to_piece(n - 1, true).is_ok());
    }
}

/// A copy of the vocabulary-only `file` with each key-value pair passed through `edit`
/// (`None` drops it).
fn copy_with(file: &GgufFile, edit: impl Fn(&str, &Value) -> Option<Value>) -> GgufFile {
    assert_eq!(file.n_tensors(), 0, "a vocabulary-only file");
    let mut w = GgufWriter::new();
    for (key, value) in file.metadata() {
        if let Some(v) = edit(key, value) {
            w.add(key.clone(), v).unwrap();
        }
    }
    let bytes = w.begin(Vec::new()).unwrap().finish().unwrap();
    GgufFile::from_bytes(bytes).unwrap()
}

/// A copy of `file` with `tokenizer.ggml.pre` removed, or set to `pre`.
fn with_pre(file: &GgufFile, pre: Option<&str>) -> GgufFile {
    copy_with(file, |key, value| match key {
        "tokenizer.ggml.pre" => pre.map(|p| Value::String(p.to_owned())),
        _ => Some(value.clone()),
    })
}

/// Merge-list oddities llama.cpp tolerates: a repeated pair keeps its first rank, and
/// lines without a separator or naming unknown tokens change nothing.
#[test]
fn merge_list_quirks() {
    let file = copy_with(&open(BPE_VOCAB), |key, value| match (key, value) {
        ("tokenizer.ggml.merges", Value::Array(Array::String(merges))) => {
            let mut merges = merges.clone();
            // "Ġ Ġ" and "e r" again, last: with the later rank " " runs and "er" would
            // tokenize differently
            merges.push(merges[0].clone());
            merges.push("e r".to_owned());
            merges.push("nospace".to_owned());
            merges.push("Ġ no-such-token".to_owned());
            Some(Value::Array(Array::String(merges)))
        }
        _ => Some(value.clone()),
    });
    let tok = build(&file, PreTokenizer::Auto);
    check_vectors(&tok, "tokenizer/ggml-vocab-llama-bpe.gguf.out");
    let text = format!(
        "{}x zerberer kerfuffler\t\t\t\t\t\t\t\t\t\t\t\t\t\ty",
        " ".repeat(41)
    );
    let text = text.as_str();
    assert_eq!(
        tok.tokenize(text, false, false).unwrap(),
        llama_bpe().tokenize(text, false, false).unwrap()
    );
}

static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[test]
fn missing_pre_key() {
    bitnet::log::set_sink(Some(Box::new(|level, msg| {
        if level >= bitnet::log::Level::Warn {
            WARNINGS.lock().unwrap().push(msg.to_owned());
        }
    })));
    let file = with_pre(&open(BPE_VOCAB), None);
    assert!(file.get("tokenizer.ggml.pre").is_none());
    assert_eq!(file.n_tensors(), 0);
    assert_eq!(file.metadata().len(), open(BPE_VOCAB).metadata().len() - 1);

    // Auto: the Llama-3 split the model was trained with, and its flags
    let auto = build(&file, PreTokenizer::Auto);
    let warned: Vec<String> = WARNINGS
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.contains("tokenizer.ggml.pre"))
        .cloned()
        .collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("Llama-3"), "{warned:?}");
    assert_eq!(auto.pre(), Some(PreTokenizer::Llama3));
    assert!(auto.add_bos());
    check_vectors(&auto, "tokenizer/ggml-vocab-llama-bpe.gguf.out");

    // Default forced: what llama.cpp and bitnet.cpp do with this file
    let compat = build(&file, PreTokenizer::Default);
    assert_eq!(compat.pre(), Some(PreTokenizer::Default));
    assert!(
        !compat.add_bos(),
        "llama.cpp's default pre-type does not add BOS"
    );
    check_vectors(&compat, "tokenizer/llama-bpe.default-pre.out");
    assert_eq!(compat.eog_ids(), [128001, 128009]);

    // Llama3 forced on the pre-less file: same as Auto, without the warning
    let forced = build(&file, PreTokenizer::Llama3);
    assert_eq!(forced.pre(), Some(PreTokenizer::Llama3));
    bitnet::log::set_sink(None);
    let n = WARNINGS
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.contains("tokenizer.ggml.pre"))
        .count();
    assert_eq!(n, 1);
}

#[test]
fn unknown_pre_is_an_error() {
    let file = with_pre(&open(BPE_VOCAB), Some("no-such-pre"));
    match Tokenizer::from_gguf(&file, &TokenizerOptions::default()) {
        Err(Error::Tokenizer(msg)) => assert!(msg.contains("no-such-pre"), "{msg}"),
        other => panic!("expected a tokenizer error, got {other:?}"),
    }
    // forcing a split overrides the key
    let tok = build(&file, PreTokenizer::Llama3);
    assert_eq!(
        tok.tokenize("Hello world", false, false).unwrap(),
        [9906, 1917]
    );
}

#[test]
fn pre_tokenizer_names() {
    for (s, p) in [
        ("auto", PreTokenizer::Auto),
        ("default", PreTokenizer::Default),
        ("llama-bpe", PreTokenizer::Llama3),
        ("llama3", PreTokenizer::Llama3),
    ] {
        assert_eq!(s.parse::<PreTokenizer>().unwrap(), p);
    }
    assert_eq!(PreTokenizer::Llama3.to_string(), "llama-bpe");
    assert!(matches!(
        "gpt-2".parse::<PreTokenizer>(),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(TokenizerOptions::default().pre, PreTokenizer::Auto);
}

#[test]
fn tokenizer_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Tokenizer>();
    // the same tokenizer used from several threads gives the same ids
    let t = llama_bpe();
    let text = "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～";
    let expected = t.tokenize(text, true, false).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| assert_eq!(t.tokenize(text, true, false).unwrap(), expected));
        }
    });
}

/// Random mixed-script texts round-trip through every vocabulary (SentencePiece falls
/// back to byte tokens; byte-level BPE covers every byte), and never make the tokenizer
/// fail, with or without special parsing.
#[test]
fn random_text_round_trips() {
    const POOL: &[&str] = &[
        "a",
        "Z",
        "e",
        "s",
        "'",
        "'s",
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "0",
        "7",
        "123",
        ".",
        ",",
        "?",
        "!",
        "(",
        "$",
        "<",
        "|",
        "~",
        "`",
        "é",
        "½",
        "\u{a0}",
        "\u{301}",
        "ß",
        "ſ",
        "К",
        "ж",
        "ក",
        "ា",
        "អ",
        "ई",
        "्",
        "我",
        "語",
        "カ",
        "한",
        "🚀",
        "😶\u{200d}🌫\u{fe0f}",
        "✅",
        "\u{2028}",
        "\u{3000}",
        "\u{10ffff}",
        "\u{e000}",
        "\u{13460}",
        "<|eot_id|>",
        "<s>",
        "</s>",
        "\u{2581}",
        "<0x0A>",
        "<|begin_of_text|>",
    ];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let toks = [llama_bpe(), llama_spm(), reduced()];
    for _ in 0..2000 {
        let n = (next() % 24) as usize;
        let text: String = (0..n)
            .map(|_| POOL[(next() % POOL.len() as u64) as usize])
            .collect();
        for tok in toks {
            let ids = tok.tokenize(&text, false, false).unwrap();
            let pieces: Vec<u8> = ids
                .iter()
                .flat_map(|&id| tok.token_to_piece(id, true).unwrap())
                .collect();
            let expected = match tok.kind() {
                VocabKind::Bpe => text.clone(),
                VocabKind::Spm if text.is_empty() => String::new(),
                VocabKind::Spm => format!(" {text}").replace('\u{2581}', " "),
            };
            assert_eq!(String::from_utf8_lossy(&pieces), expected, "{text:?}");
            if tok.kind() == VocabKind::Spm {
                let back = detok(tok, &ids, false, false).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&back),
                    text.replace('\u{2581}', " ")
                );
            }
            let ids = tok.tokenize(&text, true, true).unwrap();
            assert!(ids.iter().all(|&id| (id as usize) < tok.n_vocab()));
            assert_eq!(ids.first().copied(), tok.bos());
        }
    }
}
