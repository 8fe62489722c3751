/// Why a metric could not be computed. No metric ever substitutes another number for a
/// component it cannot compute: it returns one of these instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "unsupported language '{0}' (supported: python, java, cpp, c, c_sharp; codebleu also \
         knows javascript, php, go, ruby, rust, which this crate does not implement)"
    )]
    UnsupportedLanguage(String),
    #[error("{references} references for {hypotheses} hypotheses: the counts must match")]
    LengthMismatch {
        references: usize,
        hypotheses: usize,
    },
    #[error("empty corpus: at least one hypothesis is needed")]
    EmptyCorpus,
    #[error("hypothesis {0} has no reference")]
    NoReference(usize),
    #[error("weights must be 4 finite numbers, got {0:?}")]
    Weights([f64; 4]),
    #[error("tree-sitter {lang} parser: {msg}")]
    Parser { lang: &'static str, msg: String },
}

pub type Result<T> = std::result::Result<T, Error>;
