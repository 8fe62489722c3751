//! tradeoff's inference engine: loads GGUF and Hugging Face safetensors models (llama, qwen2),
//! tokenizes, renders chat templates and generates, in-process on candle or through an
//! OpenAI-compatible server. The forward pass is tradeoff's own so that the compression and
//! evaluation stages can read every position's logits, observe each linear layer's input,
//! swap weights and drop layers.

mod api;
mod batch;
pub mod chat;
pub mod config;
mod error;
pub mod gguf;
mod inspect;
pub mod kernels;
mod local;
pub mod model;
mod remote;
pub mod sampler;
mod sched;
pub mod testing;
pub mod tokenizer;
pub mod weights;

pub use api::*;
pub use config::{Arch, Config};
pub use error::{Error, Result};
pub use inspect::{inspect, ModelInfo};
pub use local::{
    auto_batch, chat_template_of, drafts_from_env, resolve, LoadOptions, LocalEngine, ModelPath,
    TemplateParts,
};
pub use model::{Hook, KvCache, Linear, Model, Segment, Site};
pub use remote::RemoteEngine;
pub use sched::{Event, Scheduler, Sink};
pub use tokenizer::Tokenizer;

/// Sizes the global thread pool used by every parallel kernel. Call once, before any work;
/// later calls (and calls after the pool started) keep the first size.
pub fn init_threads(n: Option<usize>) {
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(n) = n.filter(|&n| n > 0) {
        b = b.num_threads(n);
        // candle's float matmuls and elementwise ops run on its own pool, sized from this
        // variable when it first starts: without it `--threads` would not limit them.
        std::env::set_var("CANDLE_NUM_THREADS", n.to_string());
    }
    // candle's pool workers spin 25,000 rounds after each op before parking; on 2 cores that
    // takes a core from the matmul threads (kernels/pool.rs) that usually run next.
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", "1000");
    }
    let _ = b.build_global();
}

/// Opens the engine a `--model` value names: `http(s)://HOST[:PORT][/v1][#MODEL_ID]` for an
/// OpenAI-compatible server, else a catalog name, GGUF file or model folder run in-process.
pub fn open_engine(spec: &str, opts: LoadOptions) -> Result<Box<dyn Engine>> {
    if spec.starts_with("http://") || spec.starts_with("https://") {
        let (url, model) = match spec.split_once('#') {
            Some((u, m)) => (u, Some(m)),
            None => (spec, None),
        };
        return Ok(Box::new(RemoteEngine::connect(url, model)?));
    }
    Ok(Box::new(LocalEngine::open(spec, opts)?))
}
