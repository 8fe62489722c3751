use std::path::PathBuf;

/// Engine errors. Each names the file or server it concerns and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {msg}")]
    Model { path: PathBuf, msg: String },
    #[error("{path}: tensor '{name}' is missing")]
    MissingTensor { path: PathBuf, name: String },
    #[error("{path}: unsupported architecture '{arch}' (supported: llama, qwen2)")]
    Architecture { path: PathBuf, arch: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    Template(String),
    #[error("prompt of {prompt} tokens does not fit the context window of {context} tokens")]
    PromptTooLong { prompt: usize, context: usize },
    #[error("{url}: {msg}")]
    Remote { url: String, msg: String },
    #[error("invalid request: {0}")]
    Request(String),
    /// An environment variable the engine reads holds a value it cannot use.
    #[error("{0}")]
    Setting(String),
    /// A shared scheduler stopped or its forward pass failed: the request was not answered.
    #[error("engine stopped: {0}")]
    Stopped(String),
    #[error(transparent)]
    Asset(#[from] tradeoff_assets::AssetError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn model(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Model {
            path: path.into(),
            msg: msg.into(),
        }
    }
}
