//! The adapters alone, as PEFT saves them: `adapter_model.safetensors` with PEFT's tensor
//! names and `adapter_config.json`, loadable by `PeftModel.from_pretrained` onto the
//! Hugging Face model the GGUF came from.
//!
//! GGUF stores llama's q and k projections with rows permuted for interleaved rope
//! (convert_hf_to_gguf's `permute`); the adapters were trained in that layout, so their B
//! rows are permuted back. qwen2 GGUF files keep Hugging Face's order.

use crate::error::io;
use crate::lora::{Adapters, Target};
use crate::Result;
use candle_core::{DType, Tensor};
use std::collections::HashMap;
use std::path::Path;
use tradeoff_engine::Config;

pub const WEIGHTS: &str = "adapter_model.safetensors";
pub const CONFIG: &str = "adapter_config.json";

/// Writes `ad` as a PEFT LoRA adapter for `base_model` (a name or path recorded in the
/// config) into `dir`.
pub fn export(ad: &Adapters, cfg: &Config, base_model: &str, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut tensors = HashMap::new();
    for (&(layer, t), pair) in &ad.map {
        let name = |m: &str| {
            format!(
                "base_model.model.model.layers.{layer}.{}.{m}.weight",
                t.hf_module()
            )
        };
        let a = pair.a.as_tensor().to_dtype(DType::F32)?;
        let b = hf_rows(&pair.b.as_tensor().to_dtype(DType::F32)?, t, cfg)?;
        tensors.insert(name("lora_A"), a);
        tensors.insert(name("lora_B"), b);
    }
    let weights = dir.join(WEIGHTS);
    candle_core::safetensors::save(&tensors, &weights)?;
    let c = &ad.cfg;
    let mut targets: Vec<&str> = c.targets.iter().map(|t| t.peft()).collect();
    targets.sort_unstable();
    let config = serde_json::json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": c.r,
        "lora_alpha": c.alpha,
        "lora_dropout": c.dropout,
        "target_modules": targets,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
        "use_rslora": false,
        "init_lora_weights": true,
        "modules_to_save": null,
        "layers_to_transform": null,
    });
    let path = dir.join(CONFIG);
    let text =
        serde_json::to_string_pretty(&config).map_err(|e| crate::Error::Config(e.to_string()))?;
    std::fs::write(&path, text + "\n").map_err(io(&path))
}

/// B [out, r] with its rows in Hugging Face's order: for llama's q and k in GGUF, each head's
/// rows (h, i, j) at h·d + 2i + j go back to h·d + j·d/2 + i.
fn hf_rows(b: &Tensor, t: Target, cfg: &Config) -> Result<Tensor> {
    let heads = match t {
        Target::Q => cfg.n_head,
        Target::K => cfg.n_kv_head,
        _ => return Ok(b.clone()),
    };
    if !cfg.rope_interleaved {
        return Ok(b.clone());
    }
    let (out, r) = b.dims2()?;
    let d = cfg.head_dim;
    Ok(b.reshape((heads, d / 2, 2, r))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, r))?)
}
