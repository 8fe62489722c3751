//! `manifest.json`: how an artifact was made, from what, and what it came out as.

use crate::{Error, Recipe, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// A tensor whose rows don't fill whole blocks of the wanted type.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fallback {
    pub tensor: String,
    pub wanted: String,
    pub used: String,
}

/// `manifest.json` beside every artifact.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub tool_version: String,
    /// [`Recipe::compressor_version`] of the code that made it (empty in manifests written
    /// before it was recorded: the sweep then rebuilds the artifact).
    #[serde(default)]
    pub compressor_version: String,
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
    /// Tensor data bits per stored weight (metadata not counted).
    pub bits_per_weight: f64,
    #[serde(default)]
    pub n_params: u64,
    /// GGML type of every tensor written, by (renumbered) name.
    #[serde(default)]
    pub tensor_types: BTreeMap<String, String>,
    #[serde(default)]
    pub fallbacks: Vec<Fallback>,
    /// Original numbers of the decoder layers removed.
    #[serde(default)]
    pub dropped_layers: Vec<usize>,
    /// ShortGPT's block influence of every original layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_influence: Option<Vec<f64>>,
    /// Nonzero share of the pruned linear weights, as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonzero_fraction: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zstd_size_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_tokens: Option<usize>,
    #[serde(default)]
    pub notes: Vec<String>,
}

impl Manifest {
    pub fn load(dir: &Path) -> Result<Manifest> {
        let p = dir.join("manifest.json");
        let text = std::fs::read_to_string(&p)
            .map_err(|e| Error::Other(format!("{}: {e}", p.display())))?;
        serde_json::from_str(&text).map_err(|e| Error::Other(format!("{}: {e}", p.display())))
    }

    /// Writes `manifest.json` through a temporary name.
    pub(crate) fn save(&self, dir: &Path) -> Result<()> {
        let p = dir.join("manifest.json");
        let tmp = dir.join("manifest.json.partial");
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Other(e.to_string()))?;
        let err = |e: std::io::Error| Error::Other(format!("{}: {e}", p.display()));
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, &p).map_err(err)
    }
}
