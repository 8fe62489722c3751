//! Real-model checks on SmolLM2-135M-Instruct (Q4_1 GGUF). It must be pulled first:
//! `tradeoff models pull smollm2-135m` (the README's test command does it).

use std::path::PathBuf;
use tradeoff_engine::{
    ChatMessage, Engine, GenParams, GenRequest, LoadOptions, LocalEngine, ModelPath,
};

fn smollm2() -> PathBuf {
    let asset = tradeoff_assets::find(tradeoff_assets::Kind::Model, "smollm2-135m").unwrap();
    asset
        .require(&tradeoff_assets::cache_dir())
        .unwrap_or_else(|e| panic!("{e} (these tests need the real model)"))
}

fn load() -> LocalEngine {
    LocalEngine::load(&ModelPath::Gguf(smollm2()), LoadOptions::default()).unwrap()
}

#[test]
fn smollm_pre_tokenizer_keeps_words_whole() {
    let e = load();
    let t = &e.tokenizer;
    assert_eq!(t.encode("system").unwrap(), vec![9690]);
    // Digits are split one by one (the "smollm" pre-tokenizer), special tokens are atomic.
    let ids = t.encode("<|im_start|>user\nx = 12345").unwrap();
    assert_eq!(ids[0], 1, "<|im_start|> is id 1");
    let digits: Vec<String> = ids
        .iter()
        .rev()
        .take(5)
        .map(|&i| t.decode(&[i]).unwrap())
        .collect();
    assert_eq!(digits, ["5", "4", "3", "2", "1"]);
}

/// The CPython standard library's Python files, sorted, as a code corpus.
fn stdlib_files(n: usize) -> Vec<PathBuf> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
        ])
        .output()
        .expect("python3 on PATH");
    let root = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let mut files = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_dir() && name != "site-packages" && name != "__pycache__" {
                stack.push(p);
            } else if name.ends_with(".py") {
                files.push(p);
            }
        }
    }
    files.sort();
    files.truncate(n);
    files
}

#[test]
fn encode_decode_round_trips_on_300_stdlib_files() {
    let e = load();
    let files = stdlib_files(300);
    assert_eq!(files.len(), 300);
    let mut tokens = 0;
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let ids = e.tokenizer.encode(&text).unwrap();
        tokens += ids.len();
        assert_eq!(
            e.tokenizer.decode(&ids).unwrap(),
            text,
            "{} does not round-trip",
            f.display()
        );
    }
    assert!(tokens > 100_000, "only {tokens} tokens: corpus not read?");
}

#[test]
fn writes_a_python_function() {
    let mut e = load();
    let prompt = e
        .render_chat(
            &[ChatMessage::new(
                "user",
                "Write a Python function that returns the square of a number.",
            )],
            true,
        )
        .unwrap();
    assert!(
        prompt.starts_with("<|im_start|>system\n"),
        "SmolLM2's template adds its system prompt"
    );
    let g = e
        .generate(
            &GenRequest::new(
                prompt,
                GenParams {
                    max_new_tokens: 64,
                    ..Default::default()
                },
            ),
            &mut |_, _, _| {},
        )
        .unwrap();
    let text = &g.samples[0].text;
    assert!(text.contains("def "), "no function in: {text}");
    assert!(g.timing.decode_tok_s() > 0.0 && g.timing.prefill_tok_s() > 0.0);
}
