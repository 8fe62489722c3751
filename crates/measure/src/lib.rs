//! Measuring a variant against its baseline (quality: perplexity, KL divergence, agreement) and
//! on its own (performance: latency, throughput, memory, energy, cost). Results use the
//! evaluation stage's `Metric` type, so the run store and the report treat every number alike.

pub mod machine;
pub mod perf;
pub mod quality;
pub mod stats;

pub use machine::Machine;
pub use perf::{PerfOptions, PerfResult};
pub use quality::{Baseline, BaselineMeta, QualityOptions, QualityResult};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Options(String),
    #[error(transparent)]
    Engine(#[from] tradeoff_engine::Error),
    #[error(transparent)]
    Eval(#[from] tradeoff_eval::Error),
    #[error(transparent)]
    Asset(#[from] tradeoff_assets::AssetError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("{0}: {1}")]
    Io(std::path::PathBuf, std::io::Error),
    #[error("baseline cache: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
