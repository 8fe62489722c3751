use std::path::PathBuf;

/// Evaluation errors. Each says what is wrong and, where there is one, how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Asset(#[from] tradeoff_assets::AssetError),
    #[error(transparent)]
    Engine(#[from] tradeoff_engine::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A data or samples file that does not parse.
    #[error("{path}:{line}: {msg}")]
    Data {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    /// A request that cannot be honoured as given (unknown benchmark, split, missing file...).
    #[error("{0}")]
    Invalid(String),
    /// A compiler or interpreter a benchmark needs is not installed.
    #[error("{0}")]
    Toolchain(String),
    /// The sandbox itself failed (not the program it was running).
    #[error("sandbox: {0}")]
    Sandbox(String),
    /// The kernel allows less isolation than the full sandbox, and weak was not accepted.
    #[error(
        "the sandbox would be weak on this machine ({0}): run on a Linux kernel with Landlock \
         and user namespaces (see docs/sandbox.md), or pass --allow-weak-sandbox to evaluate \
         anyway with every result marked weak"
    )]
    WeakSandbox(String),
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
