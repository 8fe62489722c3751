//! The generation settings and figures that result records carry: what was asked of the
//! engine ([`GenParams`]), how a sample ended ([`FinishReason`]), how long a request took
//! ([`Timing`]) and what served it ([`EngineInfo`]). `tradeoff_engine` re-exports them.

use serde::{Deserialize, Serialize};

/// Sampling and stopping parameters for one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenParams {
    pub max_new_tokens: usize,
    /// 0 means greedy (argmax); top_k/top_p are then ignored.
    pub temperature: f32,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    /// Seed of the sampler. Sample `i` of a request uses `seed + i`, so results do not depend
    /// on how requests are batched.
    pub seed: u64,
    /// Generation stops before the first occurrence of any of these strings; the returned
    /// text excludes it.
    pub stop: Vec<String>,
    /// Keep generating past end-of-sequence tokens (fixed-length speed measurements).
    #[serde(default)]
    pub ignore_eos: bool,
}

impl Default for GenParams {
    fn default() -> Self {
        Self {
            max_new_tokens: 512,
            temperature: 0.0,
            top_k: None,
            top_p: None,
            seed: 0,
            stop: Vec::new(),
            ignore_eos: false,
        }
    }
}

impl GenParams {
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model emitted an end-of-sequence token.
    Eos,
    /// A stop string was produced.
    Stop,
    /// `max_new_tokens` was reached.
    Length,
    /// The context window is full.
    Context,
}

/// Wall-clock figures of one request, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub prompt_tokens: usize,
    /// Prompt tokens whose keys and values were copied from an earlier prompt that starts
    /// the same way (a shared system prompt) instead of computed. Left out of records when 0,
    /// so records written before it existed read back unchanged.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cached_tokens: usize,
    pub generated_tokens: usize,
    /// Time spent waiting before the request was first scheduled (batched engines).
    pub queue_s: f64,
    pub prefill_s: f64,
    /// Time to first token: from scheduling to the first generated token.
    pub ttft_s: f64,
    pub decode_s: f64,
    pub total_s: f64,
}

impl Timing {
    pub fn prefill_tok_s(&self) -> f64 {
        rate(self.prompt_tokens, self.prefill_s)
    }
    /// Decode rate of the tokens after the first, as llama.cpp reports it.
    pub fn decode_tok_s(&self) -> f64 {
        rate(self.generated_tokens.saturating_sub(1), self.decode_s)
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn rate(n: usize, s: f64) -> f64 {
    if s > 0.0 {
        n as f64 / s
    } else {
        0.0
    }
}

/// What is being served, for result records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineInfo {
    /// "in-process: tradeoff kernels (AVX2), ...", "openai", ...
    pub engine: String,
    /// Catalog name, file path or server model id.
    pub model: String,
    /// sha256 of the weights file when known.
    pub model_sha256: Option<String>,
    pub architecture: Option<String>,
    pub context_length: Option<usize>,
    pub device: String,
    pub threads: Option<usize>,
}
