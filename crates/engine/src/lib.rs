//! tradeoff's inference engine: loads GGUF and Hugging Face safetensors models (llama, qwen2),
//! tokenizes, renders chat templates and generates, in-process on candle or through an
//! OpenAI-compatible server. The forward pass is tradeoff's own so that the compression and
//! evaluation stages can read every position's logits, observe each linear layer's input,
//! swap weights and drop layers.

mod api;
pub mod chat;
pub mod config;
mod error;
pub mod gguf;
mod inspect;
mod local;
pub mod model;
pub mod sampler;
pub mod testing;
pub mod tokenizer;
pub mod weights;

pub use api::*;
pub use config::{Arch, Config};
pub use error::{Error, Result};
pub use inspect::{inspect, ModelInfo};
pub use local::{resolve, LoadOptions, LocalEngine, ModelPath};
pub use model::{Hook, KvCache, Linear, Model, Segment, Site};
pub use tokenizer::Tokenizer;

/// Sizes the global thread pool used by every parallel kernel. Call once, before any work;
/// later calls (and calls after the pool started) keep the first size.
pub fn init_threads(n: Option<usize>) {
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(n) = n.filter(|&n| n > 0) {
        b = b.num_threads(n);
    }
    let _ = b.build_global();
}
