//! Sentence embeddings in-process: a BERT-family encoder from a Hugging Face folder
//! (config.json, model.safetensors, tokenizer.json), e.g. all-MiniLM-L6-v2, mean-pooled over
//! the query's tokens and scaled to unit length, as sentence-transformers does.
//!
//! A router decides before every request, so the encoder runs on the engine's int8 kernels:
//! the linear layers are stored as Q8_0 (where the CPU has the kernels; f32 elsewhere) and the
//! query, key and value projections are one matrix, so a layer quantizes its input once for
//! them. candle's f32 `BertModel` took 75 ms per HumanEval prompt on one core; the test
//! `matches_candles_bert` holds this encoder to it.

use crate::{Error, Result};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{LayerNorm, Module, VarBuilder};
use std::path::Path;
use tokenizers::{Tokenizer, TruncationParams};
use tradeoff_engine::kernels::{self, Weight};

/// sentence-transformers' max_seq_length for all-MiniLM-L6-v2: longer queries are cut.
const MAX_TOKENS: usize = 256;

/// The parts of a BERT config.json this encoder reads.
#[derive(serde::Deserialize)]
struct Config {
    hidden_size: usize,
    intermediate_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default = "default_act")]
    hidden_act: String,
}

fn default_eps() -> f64 {
    1e-12
}

fn default_act() -> String {
    "gelu".into()
}

/// A linear layer with bias, its weight on the engine's kernels.
struct Linear {
    w: Weight,
    b: Tensor,
}

impl Linear {
    /// From f32 `weights` [n, k] and `bias` [n].
    fn new(weights: &Tensor, bias: Tensor) -> candle_core::Result<Self> {
        // Q8_0 only pays where the engine's int8 kernels run; candle's own Q8_0 matmul is
        // slower than its f32 one.
        let dtype = if kernels::enabled() {
            GgmlDType::Q8_0
        } else {
            GgmlDType::F32
        };
        let q = QTensor::quantize(weights, dtype)?;
        let w = Weight::from_qtensor(q, &Device::Cpu).map_err(candle_core::Error::wrap)?;
        Ok(Self { w, b: bias })
    }

    fn load(vb: &VarBuilder, n: usize, k: usize) -> candle_core::Result<Self> {
        Self::new(&vb.get((n, k), "weight")?, vb.get(n, "bias")?)
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.w
            .forward(x)
            .map_err(candle_core::Error::wrap)?
            .broadcast_add(&self.b)
    }
}

struct Layer {
    qkv: Linear,
    out: Linear,
    ln_attn: LayerNorm,
    up: Linear,
    down: Linear,
    ln_ffn: LayerNorm,
}

impl Layer {
    fn load(vb: VarBuilder, c: &Config) -> candle_core::Result<Self> {
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let att = vb.pp("attention.self");
        let part = |name: &str| -> candle_core::Result<(Tensor, Tensor)> {
            Ok((
                att.get((h, h), &format!("{name}.weight"))?,
                att.get(h, &format!("{name}.bias"))?,
            ))
        };
        let (q, k, v) = (part("query")?, part("key")?, part("value")?);
        let qkv = Linear::new(
            &Tensor::cat(&[&q.0, &k.0, &v.0], 0)?,
            Tensor::cat(&[&q.1, &k.1, &v.1], 0)?,
        )?;
        Ok(Self {
            qkv,
            out: Linear::load(&vb.pp("attention.output.dense"), h, h)?,
            ln_attn: candle_nn::layer_norm(
                h,
                c.layer_norm_eps,
                vb.pp("attention.output.LayerNorm"),
            )?,
            up: Linear::load(&vb.pp("intermediate.dense"), i, h)?,
            down: Linear::load(&vb.pp("output.dense"), h, i)?,
            ln_ffn: candle_nn::layer_norm(h, c.layer_norm_eps, vb.pp("output.LayerNorm"))?,
        })
    }

    /// One encoder layer over `x` [t, hidden] (one sequence, every token attending to all).
    fn forward(&self, x: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
        let (t, h) = x.dims2()?;
        let d = h / heads;
        let qkv = self.qkv.forward(x)?;
        let head = |i: usize| -> candle_core::Result<Tensor> {
            qkv.narrow(1, i * h, h)?
                .reshape((t, heads, d))?
                .transpose(0, 1)?
                .contiguous()
        };
        let (q, k, v) = (head(0)?, head(1)?, head(2)?);
        let scores = (q.matmul(&k.t()?)? / (d as f64).sqrt())?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs.matmul(&v)?.transpose(0, 1)?.reshape((t, h))?;
        let x = self.ln_attn.forward(&(self.out.forward(&ctx)? + x)?)?;
        let up = self.up.forward(&x)?.gelu_erf()?;
        self.ln_ffn.forward(&(self.down.forward(&up)? + x)?)
    }
}

pub struct Embedder {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    ln: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
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
        if config.hidden_act != "gelu" {
            return Err(err(format!(
                "config.json: hidden_act {:?}; only BERT's \"gelu\" is supported",
                config.hidden_act
            )));
        }
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| err(format!("tokenizer.json: {e}")))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS.min(config.max_position_embeddings),
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
        Self::from_weights(vb, config, tokenizer)
            .map_err(|e| err(format!("model.safetensors: {e}")))
    }

    fn from_weights(vb: VarBuilder, c: Config, tokenizer: Tokenizer) -> candle_core::Result<Self> {
        // Checkpoints saved from BertForX prefix every name with "bert.".
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let emb = vb.pp("embeddings");
        let h = c.hidden_size;
        let layers = (0..c.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), &c))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            word: emb.get_unchecked("word_embeddings.weight")?,
            position: emb.get((c.max_position_embeddings, h), "position_embeddings.weight")?,
            token_type: emb.get_unchecked("token_type_embeddings.weight")?.get(0)?,
            ln: candle_nn::layer_norm(h, c.layer_norm_eps, emb.pp("LayerNorm"))?,
            layers,
            heads: c.num_attention_heads,
            tokenizer,
            dim: h,
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
        self.encode(enc.get_ids()).map_err(|e| err(e.to_string()))
    }

    fn encode(&self, ids: &[u32]) -> candle_core::Result<Vec<f32>> {
        let t = ids.len();
        let ids = Tensor::new(ids, &Device::Cpu)?;
        let x = (self.word.index_select(&ids, 0)? + self.position.narrow(0, 0, t)?)?
            .broadcast_add(&self.token_type)?;
        let mut x = self.ln.forward(&x)?;
        for layer in &self.layers {
            x = layer.forward(&x, self.heads)?;
        }
        let mean = x.mean(D::Minus2)?;
        let norm = mean
            .sqr()?
            .sum_all()?
            .sqrt()?
            .to_scalar::<f32>()?
            .max(1e-12);
        (mean / norm as f64)?.to_vec1::<f32>()
    }
}
