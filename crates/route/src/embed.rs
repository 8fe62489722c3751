//! Sentence embeddings in-process: a BERT-family encoder from a Hugging Face folder
//! (config.json, model.safetensors, tokenizer.json), e.g. all-MiniLM-L6-v2, mean-pooled over
//! the query's tokens and scaled to unit length, as sentence-transformers does.

use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use std::path::Path;
use tokenizers::{Tokenizer, TruncationParams};

/// sentence-transformers' max_seq_length for all-MiniLM-L6-v2: longer queries are cut.
const MAX_TOKENS: usize = 256;

pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    dim: usize,
}

impl Embedder {
    pub fn load(dir: &Path) -> Result<Self> {
        let err = |msg: String| Error::Embedder {
            path: dir.display().to_string(),
            msg,
        };
        let config: Config = serde_json::from_slice(
            &std::fs::read(dir.join("config.json"))
                .map_err(|e| err(format!("config.json: {e}")))?,
        )
        .map_err(|e| err(format!("config.json: {e}")))?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| err(format!("tokenizer.json: {e}")))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| err(format!("tokenizer: {e}")))?;
        // SAFETY: the weights file is only read, and is not expected to change while mapped.
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(
                &[dir.join("model.safetensors")],
                DType::F32,
                &Device::Cpu,
            )
        }
        .map_err(|e| err(format!("model.safetensors: {e}")))?;
        let dim = serde_json::from_slice::<serde_json::Value>(
            &std::fs::read(dir.join("config.json")).map_err(|e| err(e.to_string()))?,
        )
        .ok()
        .and_then(|v| v["hidden_size"].as_u64())
        .unwrap_or(384) as usize;
        let model = BertModel::load(vb, &config).map_err(|e| err(e.to_string()))?;
        Ok(Self {
            model,
            tokenizer,
            dim,
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The unit-length embedding of `text`.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>> {
        let err = |msg: String| Error::Embedder {
            path: "embedder".into(),
            msg,
        };
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| err(e.to_string()))?;
        let ids = enc.get_ids();
        let run = || -> candle_core::Result<Vec<f32>> {
            let ids = Tensor::new(ids, &Device::Cpu)?.unsqueeze(0)?;
            let types = ids.zeros_like()?;
            let hidden = self.model.forward(&ids, &types, None)?;
            let mean = hidden.mean(1)?.squeeze(0)?;
            let norm = mean
                .sqr()?
                .sum_all()?
                .sqrt()?
                .to_scalar::<f32>()?
                .max(1e-12);
            (mean / norm as f64)?.to_vec1::<f32>()
        };
        run().map_err(|e| err(e.to_string()))
    }
}
