//! API CONTRACT (skeleton written by the lead; the compress helper replaces the bodies).
//! The sweep crate depends on exactly these public items.

use std::path::{Path, PathBuf};

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad recipe: unknown name, bad TOML (say file + line + key), invalid values.
    #[error("{0}")]
    Recipe(String),
    #[error(transparent)]
    Engine(#[from] tradeoff_engine::Error),
    #[error("{0}")]
    Other(String),
}

/// A compression recipe: a built-in name (`q8_0`, `q4_k_m`, `gptq-q4_0`, `wanda-50`, ...) or a
/// TOML file. `original` is a recipe too: it means "the base model unchanged".
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recipe {
    pub name: String,
}

impl Recipe {
    /// A built-in name or the path of a TOML file.
    pub fn load(name_or_path: &str) -> Result<Recipe> {
        Ok(Recipe { name: name_or_path.into() })
    }
    /// Every built-in recipe with a one-line description (for `tradeoff compress --list`).
    pub fn builtin() -> Vec<(&'static str, &'static str)> {
        vec![]
    }
    /// True for `original` (no artifact is built: the base file is the variant).
    pub fn is_original(&self) -> bool {
        self.name == "original"
    }
    /// Canonical TOML of the full recipe (stored in the run store and the manifest).
    pub fn to_toml(&self) -> String {
        String::new()
    }
    /// Whether this recipe reads calibration data.
    pub fn needs_calibration(&self) -> bool {
        false
    }
    /// 12 hex chars of sha256(to_toml()): names artifact folders.
    pub fn short_hash(&self) -> String {
        String::new()
    }
}

/// Where calibration text comes from.
#[derive(Debug, Clone, Default)]
pub enum Calibration {
    /// The pinned CPython standard-library files (`tradeoff_assets::corpus::calibration_corpus`).
    #[default]
    Stdlib,
    /// A user's JSONL (field "text") or a directory of text/code files.
    Path(PathBuf),
}

/// Reports progress (one bar per tensor/layer). `Bars` draws indicatif bars, `Quiet` nothing.
pub trait Progress: Sync {
    fn stage(&self, _name: &str, _total: u64) {}
    fn inc(&self, _n: u64) {}
    fn finish(&self) {}
}

pub struct Quiet;
impl Progress for Quiet {}

pub struct Options<'a> {
    /// Base model: catalog name, GGUF path, or HF folder.
    pub model: &'a str,
    pub recipe: &'a Recipe,
    /// Written: `model.gguf` and `manifest.json` (temp names + rename, so a kill leaves no
    /// half artifact that looks complete).
    pub out_dir: &'a Path,
    pub calibration: Calibration,
    pub seed: u64,
    pub progress: &'a dyn Progress,
}

/// `manifest.json` beside every artifact.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub tool_version: String,
    pub source_model: String,
    pub source_sha256: String,
    pub recipe: Recipe,
    pub recipe_toml: String,
    pub calibration_sha256: Option<String>,
    pub seed: u64,
    pub wall_s: f64,
    pub peak_rss_bytes: Option<u64>,
    pub artifact: String,
    pub artifact_sha256: String,
    pub size_bytes: u64,
    pub bits_per_weight: f64,
}

impl Manifest {
    pub fn load(dir: &Path) -> Result<Manifest> {
        let _ = dir;
        Err(Error::Other("skeleton".into()))
    }
}

pub fn compress(opts: &Options) -> Result<Manifest> {
    let _ = opts;
    Err(Error::Other("skeleton".into()))
}
