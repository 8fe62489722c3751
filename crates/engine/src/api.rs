//! The `Engine` swap point: what the evaluation, routing and serving stages need from a model
//! that generates text, whether it runs in-process (candle) or behind an OpenAI-compatible server.

use serde::{Deserialize, Serialize};
pub use tradeoff_record::generation::{EngineInfo, FinishReason, GenParams, Timing};

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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    pub text: String,
    /// Tokens generated for this sample (including any cut off by a stop string).
    pub tokens: usize,
    pub finish: FinishReason,
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
