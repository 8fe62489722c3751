use std::path::PathBuf;

/// Training errors; each names the file or setting it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad recipe or option (file, key and what is wrong).
    #[error("{0}")]
    Config(String),
    /// Training data that must not be trained on (evaluation problems, the quality corpus).
    #[error("training data refused: {0}")]
    Contaminated(String),
    /// The loss or a gradient stopped being finite.
    #[error("training diverged at step {step}: {what}")]
    Diverged { step: usize, what: String },
    #[error(transparent)]
    Engine(#[from] tradeoff_engine::Error),
    #[error(transparent)]
    Compress(#[from] tradeoff_compress::Error),
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

/// Maps an io error to one naming `path`.
pub(crate) fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
