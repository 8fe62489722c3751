//! What a model file is, without loading its weights: `tradeoff models info`.

use crate::config::Config;
use crate::gguf::Gguf;
use crate::local::ModelPath;
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub path: String,
    pub format: &'static str,
    pub name: Option<String>,
    pub config: Config,
    /// Weights counted from the tensors stored.
    pub n_params: u64,
    /// Bytes of the weight files.
    pub file_bytes: u64,
    /// Stored bits per weight, over all tensors (file overhead excluded).
    pub bits_per_weight: f64,
    /// Tensors per storage type, e.g. {"Q4K": 96, "F32": 121}.
    pub tensor_types: BTreeMap<String, usize>,
    pub tokenizer: String,
    pub chat_template: bool,
}

pub fn inspect(mp: &ModelPath) -> Result<ModelInfo> {
    match mp {
        ModelPath::Gguf(path) => {
            let g = Gguf::open(path)?;
            let config = Config::from_gguf(&g)?;
            let mut types = BTreeMap::new();
            let (mut params, mut bytes) = (0u64, 0u64);
            for info in g.content.tensor_infos.values() {
                let n = info.shape.elem_count();
                params += n as u64;
                bytes += crate::gguf::tensor_bytes(info.ggml_dtype, n).unwrap_or(0) as u64;
                *types.entry(format!("{:?}", info.ggml_dtype)).or_insert(0) += 1;
            }
            let pre = g.meta_str("tokenizer.ggml.pre").unwrap_or("?");
            let model = g.meta_str("tokenizer.ggml.model").unwrap_or("?");
            Ok(ModelInfo {
                path: path.display().to_string(),
                format: "gguf",
                name: g.meta_str("general.name").map(str::to_string),
                config,
                n_params: params,
                file_bytes: file_len(path)?,
                bits_per_weight: 8.0 * bytes as f64 / params.max(1) as f64,
                tensor_types: types,
                tokenizer: format!("GGUF metadata ({model}, pre-tokenizer {pre})"),
                chat_template: g.meta("tokenizer.chat_template").is_some(),
            })
        }
        ModelPath::HfDir(dir) => {
            let config = Config::from_hf(&dir.join("config.json"))?;
            let mut types = BTreeMap::new();
            let (mut params, mut bytes, mut file_bytes) = (0u64, 0u64, 0u64);
            let entries = std::fs::read_dir(dir).map_err(|e| Error::model(dir, e.to_string()))?;
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_none_or(|x| x != "safetensors") {
                    continue;
                }
                file_bytes += file_len(&p)?;
                let f = std::fs::File::open(&p).map_err(|e| Error::model(&p, e.to_string()))?;
                // SAFETY: read-only mapping; only the header is read.
                let data = unsafe { memmap2::Mmap::map(&f) }
                    .map_err(|e| Error::model(&p, e.to_string()))?;
                let (_, meta) = safetensors::SafeTensors::read_metadata(&data[..])
                    .map_err(|e| Error::model(&p, format!("not valid safetensors: {e}")))?;
                for t in meta.tensors().values() {
                    let n: usize = t.shape.iter().product();
                    params += n as u64;
                    bytes += (t.data_offsets.1 - t.data_offsets.0) as u64;
                    *types.entry(format!("{:?}", t.dtype)).or_insert(0) += 1;
                }
            }
            let tcfg = crate::tokenizer::read_json(&dir.join("tokenizer_config.json"));
            Ok(ModelInfo {
                path: dir.display().to_string(),
                format: "safetensors",
                name: dir.file_name().map(|n| n.to_string_lossy().into_owned()),
                config,
                n_params: params,
                file_bytes,
                bits_per_weight: 8.0 * bytes as f64 / params.max(1) as f64,
                tensor_types: types,
                tokenizer: "tokenizer.json".into(),
                chat_template: tcfg.is_some_and(|c| c.get("chat_template").is_some()),
            })
        }
    }
}

fn file_len(p: &std::path::Path) -> Result<u64> {
    Ok(std::fs::metadata(p)
        .map_err(|e| Error::model(p, e.to_string()))?
        .len())
}
