//! Tokenizers from GGUF metadata (byte-level BPE) or from a tokenizer.json.
//!
//! candle's `Tokenizer::from_gguf` ignores `tokenizer.ggml.pre`, which decides how text is
//! split before BPE; with the wrong split SmolLM2 encodes "system" as several tokens instead
//! of 9690. Here the pre-tokenizer is chosen from `tokenizer.ggml.pre` as llama.cpp does, and
//! an unknown value is an error rather than a guess.

use crate::gguf::Gguf;
use crate::{Error, Result};
use candle_core::quantized::gguf_file::Value;
use std::path::Path;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior};

const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Token strings that end a turn or a document in the model families tradeoff knows.
const END_TOKENS: [&str; 5] = [
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "</s>",
];

pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    pub bos: Option<u32>,
    /// Generation stops at any of these.
    pub eos: Vec<u32>,
    pub add_bos: bool,
    /// `tokenizer.ggml.pre` or "tokenizer.json".
    pub kind: String,
}

fn tk_err(e: impl std::fmt::Display) -> Error {
    Error::Tokenizer(e.to_string())
}

fn pre_tokenizer(path: &Path, pre: &str) -> Result<PreTokenizerWrapper> {
    let split = |re: &str| -> Result<PreTokenizerWrapper> {
        let s = Split::new(
            SplitPattern::Regex(re.into()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(tk_err)?;
        Ok(Sequence::new(vec![s.into(), ByteLevel::new(false, false, false).into()]).into())
    };
    match pre {
        "qwen2" => split(QWEN2_SPLIT),
        "llama-bpe" | "llama3" => split(LLAMA3_SPLIT),
        "smollm" | "starcoder" | "refact" => Ok(Sequence::new(vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, true).into(),
        ])
        .into()),
        "gpt-2" | "default" => Ok(ByteLevel::new(false, true, true).into()),
        other => Err(Error::model(
            path,
            format!(
                "tokenizer pre-tokenizer '{other}' is not supported (supported: qwen2, llama-bpe, smollm, starcoder, gpt-2); \
                 use the model's Hugging Face folder with its tokenizer.json instead"
            ),
        )),
    }
}

impl Tokenizer {
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let path = &g.path;
        let model = g.meta_str("tokenizer.ggml.model").unwrap_or("");
        if model != "gpt2" {
            return Err(Error::model(
                path,
                format!("tokenizer model '{model}' in GGUF metadata is not supported (only byte-level BPE, 'gpt2'); use the model's tokenizer.json"),
            ));
        }
        let strings = |key: &str| -> Result<Vec<String>> {
            match g.meta(key) {
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| {
                        v.to_string()
                            .cloned()
                            .map_err(|e| Error::model(path, format!("{key}: {e}")))
                    })
                    .collect(),
                _ => Err(Error::model(
                    path,
                    format!("metadata key '{key}' is missing"),
                )),
            }
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges = strings("tokenizer.ggml.merges").unwrap_or_default();
        let types: Vec<i64> = match g.meta("tokenizer.ggml.token_type") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::I32(x) => *x as i64,
                    Value::U32(x) => *x as i64,
                    _ => 1,
                })
                .collect(),
            _ => vec![1; tokens.len()],
        };
        let vocab: tokenizers::models::bpe::Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let merges: Vec<(String, String)> = merges
            .iter()
            .filter_map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            })
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(tk_err)?;
        let mut inner = tokenizers::Tokenizer::new(bpe);
        let pre = g.meta_str("tokenizer.ggml.pre").unwrap_or("default");
        inner.with_pre_tokenizer(Some(pre_tokenizer(path, pre)?));
        inner.with_decoder(Some(tokenizers::decoders::byte_level::ByteLevel::default()));
        // Control (3) and user-defined (4) tokens are matched whole, before BPE.
        let special: Vec<AddedToken> = tokens
            .iter()
            .zip(&types)
            .filter(|(_, &t)| t == 3 || t == 4)
            .map(|(s, _)| AddedToken::from(s.clone(), true))
            .collect();
        inner.add_special_tokens(special).map_err(tk_err)?;
        let bos = g.meta_u64("tokenizer.ggml.bos_token_id").map(|v| v as u32);
        let mut eos: Vec<u32> = g
            .meta_u64("tokenizer.ggml.eos_token_id")
            .map(|v| v as u32)
            .into_iter()
            .collect();
        if let Some(e) = g.meta_u64("tokenizer.ggml.eot_token_id") {
            eos.push(e as u32);
        }
        let add_bos = matches!(
            g.meta("tokenizer.ggml.add_bos_token"),
            Some(Value::Bool(true))
        );
        Ok(Self::finish(inner, bos, eos, add_bos, pre.to_string()))
    }

    /// From a Hugging Face folder: tokenizer.json, plus tokenizer_config.json for BOS/EOS.
    pub fn from_hf_dir(dir: &Path) -> Result<Self> {
        let file = dir.join("tokenizer.json");
        let inner = tokenizers::Tokenizer::from_file(&file)
            .map_err(|e| Error::model(&file, format!("cannot read tokenizer: {e}")))?;
        let cfg = read_json(&dir.join("tokenizer_config.json"));
        let tok_id = |key: &str| -> Option<u32> {
            let v = cfg.as_ref()?.get(key)?;
            let s = v
                .as_str()
                .or_else(|| v.get("content").and_then(|c| c.as_str()))?;
            inner.token_to_id(s)
        };
        let bos = tok_id("bos_token");
        let eos: Vec<u32> = tok_id("eos_token").into_iter().collect();
        let add_bos = cfg
            .as_ref()
            .and_then(|c| c.get("add_bos_token"))
            .and_then(|b| b.as_bool())
            .unwrap_or(false);
        Ok(Self::finish(
            inner,
            bos,
            eos,
            add_bos,
            "tokenizer.json".into(),
        ))
    }

    fn finish(
        inner: tokenizers::Tokenizer,
        bos: Option<u32>,
        mut eos: Vec<u32>,
        add_bos: bool,
        kind: String,
    ) -> Self {
        for t in END_TOKENS {
            if let Some(id) = inner.token_to_id(t) {
                eos.push(id);
            }
        }
        eos.sort_unstable();
        eos.dedup();
        Self {
            inner,
            bos,
            eos,
            add_bos,
            kind,
        }
    }

    /// Encodes text; special-token strings in it (e.g. `<|im_start|>`) become their ids. The
    /// BOS token is prepended when the model asks for it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode_fast(text, false).map_err(tk_err)?;
        let mut ids = Vec::with_capacity(enc.len() + 1);
        if self.add_bos {
            if let Some(b) = self.bos {
                ids.push(b);
            }
        }
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    /// Decodes ids to text, special tokens included (so encode/decode round-trips).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, false).map_err(tk_err)
    }

    pub fn token_to_id(&self, s: &str) -> Option<u32> {
        self.inner.token_to_id(s)
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Writes the tokenizer as a tokenizer.json.
    pub fn save_json(&self, path: &Path) -> Result<()> {
        self.inner.save(path, false).map_err(tk_err)
    }

    pub fn is_eos(&self, id: u32) -> bool {
        self.eos.binary_search(&id).is_ok()
    }
}

pub(crate) fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Turns a growing list of ids into text pieces without splitting multi-byte characters
/// (a character may span tokens): text is released once it decodes cleanly.
#[derive(Debug, Default, Clone)]
pub struct Detokenizer {
    prefix: usize,
    read: usize,
}

impl Detokenizer {
    pub fn step(&mut self, tok: &Tokenizer, ids: &[u32]) -> Result<String> {
        let prev = tok.decode(&ids[self.prefix..self.read])?;
        let now = tok.decode(&ids[self.prefix..])?;
        if now.len() > prev.len() && !now.ends_with('\u{FFFD}') && now.is_char_boundary(prev.len())
        {
            self.prefix = self.read;
            self.read = ids.len();
            Ok(now[prev.len()..].to_string())
        } else {
            Ok(String::new())
        }
    }
}
