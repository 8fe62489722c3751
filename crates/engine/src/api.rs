//! The `Engine` swap point: what the evaluation, routing and serving stages need from a model
//! that generates text, whether it runs in-process (candle) or behind an OpenAI-compatible server.

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

/// One prompt (already rendered: use [`Engine::render_chat`] for chat models) and how many
/// samples to draw from it. The samples share one prefill.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenRequest {
    pub prompt: String,
    pub params: GenParams,
    pub n: usize,
}

impl GenRequest {
    pub fn new(prompt: impl Into<String>, params: GenParams) -> Self {
        Self {
            prompt: prompt.into(),
            params,
            n: 1,
        }
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    pub text: String,
    /// Tokens generated for this sample (including any cut off by a stop string).
    pub tokens: usize,
    pub finish: FinishReason,
}

/// Wall-clock figures of one request, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub prompt_tokens: usize,
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

fn rate(n: usize, s: f64) -> f64 {
    if s > 0.0 {
        n as f64 / s
    } else {
        0.0
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Generation {
    pub samples: Vec<Sample>,
    pub timing: Timing,
}

/// A chat turn, for [`Engine::render_chat`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
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

/// Receives streamed text: (request index within the call, sample index, new text).
pub type OnText<'a> = dyn FnMut(usize, usize, &str) + 'a;

/// A text generator. New backends are new impls of this trait.
pub trait Engine: Send {
    fn info(&self) -> EngineInfo;

    /// Renders a conversation with the model's chat template. With `add_generation_prompt`
    /// the text ends where the assistant's answer starts, so callers may pre-fill it.
    fn render_chat(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> crate::Result<String>;

    /// Generates `req.n` samples for one prompt, streaming text as it is produced.
    fn generate(&mut self, req: &GenRequest, on_text: &mut OnText<'_>)
        -> crate::Result<Generation>;

    /// Generates for many prompts; `on_done(i, result)` is called as request `i` finishes, in
    /// completion order, so callers can start scoring while others are still generating.
    /// Engines that batch across requests override this; the default runs them one by one.
    fn generate_many(
        &mut self,
        reqs: &[GenRequest],
        on_done: &mut dyn FnMut(usize, crate::Result<Generation>),
    ) -> crate::Result<()> {
        for (i, r) in reqs.iter().enumerate() {
            let g = self.generate(r, &mut |_, _, _| {});
            on_done(i, g);
        }
        Ok(())
    }
}
