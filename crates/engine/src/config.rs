//! Model hyper-parameters, read from GGUF metadata or a Hugging Face config.json.

use crate::gguf::Gguf;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Llama,
    Qwen2,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
        }
    }

    fn parse(path: &Path, s: &str) -> Result<Self> {
        match s {
            "llama" | "LlamaForCausalLM" => Ok(Arch::Llama),
            "qwen2" | "Qwen2ForCausalLM" => Ok(Arch::Qwen2),
            other => Err(Error::Architecture {
                path: path.to_path_buf(),
                arch: other.to_string(),
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub arch: Arch,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub rope_theta: f32,
    pub rms_eps: f64,
    pub context_length: usize,
    /// Rotary embedding on interleaved pairs (GGUF llama: llama.cpp's converter permutes q/k)
    /// rather than on halves (Hugging Face layout, and every qwen2).
    pub rope_interleaved: bool,
}

impl Config {
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let arch_s = g
            .meta_str("general.architecture")
            .ok_or_else(|| Error::model(&g.path, "metadata key 'general.architecture' is missing"))?
            .to_string();
        let arch = Arch::parse(&g.path, &arch_s)?;
        let k = |s: &str| format!("{arch_s}.{s}");
        let hidden = g.require_u64(&k("embedding_length"))? as usize;
        let n_head = g.require_u64(&k("attention.head_count"))? as usize;
        let n_kv_head = g
            .meta_u64(&k("attention.head_count_kv"))
            .unwrap_or(n_head as u64) as usize;
        let head_dim = g
            .meta_u64(&k("attention.key_length"))
            .map(|v| v as usize)
            .unwrap_or(hidden / n_head.max(1));
        let vocab = match g.meta_u64(&k("vocab_size")) {
            Some(v) => v as usize,
            None => g
                .content
                .tensor_infos
                .get("token_embd.weight")
                .map(|i| i.shape.dims()[0])
                .ok_or_else(|| Error::MissingTensor {
                    path: g.path.clone(),
                    name: "token_embd.weight".into(),
                })?,
        };
        let cfg = Config {
            arch,
            vocab_size: vocab,
            hidden_size: hidden,
            intermediate_size: g.require_u64(&k("feed_forward_length"))? as usize,
            n_layer: g.require_u64(&k("block_count"))? as usize,
            n_head,
            n_kv_head,
            head_dim,
            rope_theta: g.meta_f32(&k("rope.freq_base")).unwrap_or(10_000.0),
            rms_eps: g
                .meta_f32(&k("attention.layer_norm_rms_epsilon"))
                .unwrap_or(1e-6) as f64,
            context_length: g.meta_u64(&k("context_length")).unwrap_or(4096) as usize,
            rope_interleaved: arch == Arch::Llama,
        };
        cfg.validate(&g.path)?;
        Ok(cfg)
    }

    pub fn from_hf(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::model(path, crate::gguf::open_msg(&e)))?;
        let c: HfConfig = serde_json::from_str(&text)
            .map_err(|e| Error::model(path, format!("not a valid config.json: {e}")))?;
        let arch_s = c
            .architectures
            .as_ref()
            .and_then(|a| a.first().cloned())
            .or(c.model_type.clone())
            .unwrap_or_default();
        let arch = Arch::parse(path, &arch_s)?;
        let n_kv_head = c.num_key_value_heads.unwrap_or(c.num_attention_heads);
        let cfg = Config {
            arch,
            vocab_size: c.vocab_size,
            hidden_size: c.hidden_size,
            intermediate_size: c.intermediate_size,
            n_layer: c.num_hidden_layers,
            n_head: c.num_attention_heads,
            n_kv_head,
            head_dim: c
                .head_dim
                .unwrap_or(c.hidden_size / c.num_attention_heads.max(1)),
            rope_theta: c.rope_theta.unwrap_or(10_000.0),
            rms_eps: c.rms_norm_eps.unwrap_or(1e-6),
            context_length: c.max_position_embeddings.unwrap_or(4096),
            rope_interleaved: false,
        };
        cfg.validate(path)?;
        Ok(cfg)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        if self.n_head == 0
            || self.n_kv_head == 0
            || !self.n_head.is_multiple_of(self.n_kv_head)
            || !self.head_dim.is_multiple_of(2)
        {
            return Err(Error::model(
                path,
                format!(
                    "inconsistent attention shape: {} heads, {} kv heads, head dim {}",
                    self.n_head, self.n_kv_head, self.head_dim
                ),
            ));
        }
        Ok(())
    }

    /// Parameters in the transformer (embeddings counted once, tied or not).
    pub fn n_params(&self, tied: bool) -> u64 {
        let h = self.hidden_size as u64;
        let kv = (self.n_kv_head * self.head_dim) as u64;
        let q = (self.n_head * self.head_dim) as u64;
        let i = self.intermediate_size as u64;
        let per_layer = h * q + 2 * h * kv + q * h + 3 * h * i + 2 * h;
        let emb = self.vocab_size as u64 * h;
        emb * if tied { 1 } else { 2 } + per_layer * self.n_layer as u64 + h
    }
}

#[derive(Deserialize)]
struct HfConfig {
    architectures: Option<Vec<String>>,
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rope_theta: Option<f32>,
    rms_norm_eps: Option<f64>,
    max_position_embeddings: Option<usize>,
}

/// Whether a HF config ties the output projection to the embeddings.
pub(crate) fn hf_tied(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("tie_word_embeddings").and_then(|b| b.as_bool()))
        .unwrap_or(false)
}
