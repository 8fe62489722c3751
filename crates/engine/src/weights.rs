//! Where tensors come from: a GGUF file or a Hugging Face safetensors folder. Tensors are
//! addressed by their GGUF names everywhere in tradeoff; HF names are mapped on read.

use crate::gguf::Gguf;
use crate::kernels::Weight;
use crate::{Error, Result};
use candle_core::quantized::QMatMul;
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};
use std::path::{Path, PathBuf};

pub(crate) enum Source {
    Gguf(Box<Gguf>),
    Safetensors { dir: PathBuf, st: MmapedSafetensors },
}

/// Maps a GGUF tensor name to its Hugging Face name.
pub fn hf_name(gguf: &str) -> Option<String> {
    let fixed = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let (part, kind) = rest.rsplit_once('.')?;
    let hf = match part {
        "attn_norm" => "input_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_norm" => "post_attention_layernorm",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}.{kind}"))
}

impl Source {
    pub(crate) fn open_safetensors(dir: &Path) -> Result<Self> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::model(dir, crate::gguf::open_msg(&e)))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::model(dir, "no *.safetensors files in this folder"));
        }
        // SAFETY: the files are mapped read-only; tradeoff never writes to model files in place.
        let st = unsafe { MmapedSafetensors::multi(&files) }
            .map_err(|e| Error::model(dir, format!("not valid safetensors: {e}")))?;
        Ok(Source::Safetensors {
            dir: dir.to_path_buf(),
            st,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        match self {
            Source::Gguf(g) => &g.path,
            Source::Safetensors { dir, .. } => dir,
        }
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        match self {
            Source::Gguf(g) => g.has_tensor(name),
            Source::Safetensors { st, .. } => hf_name(name).is_some_and(|n| st.get(&n).is_ok()),
        }
    }

    /// A weight matrix [out, in]: quantized GGUF types stay quantized (matmuls run on the
    /// quantized data, repacked for tradeoff's kernels where they cover the type); float
    /// types become f32 tensors.
    /// With `dequantize`, quantized weights are expanded to f32 (a float reference model).
    pub(crate) fn matrix(
        &mut self,
        name: &str,
        device: &Device,
        dequantize: bool,
    ) -> Result<Weight> {
        match self {
            Source::Gguf(g) => {
                let qt = g.tensor(name, device)?;
                if dequantize {
                    Ok(Weight::Candle(QMatMul::Tensor(qt.dequantize(device)?)))
                } else {
                    Weight::from_qtensor(qt, device)
                }
            }
            Source::Safetensors { .. } => {
                Ok(Weight::Candle(QMatMul::Tensor(self.dense(name, device)?)))
            }
        }
    }

    /// A tensor as f32 (norms, biases).
    pub(crate) fn dense(&mut self, name: &str, device: &Device) -> Result<Tensor> {
        match self {
            Source::Gguf(g) => Ok(g.tensor(name, device)?.dequantize(device)?),
            Source::Safetensors { dir, st } => {
                let missing = || Error::MissingTensor {
                    path: dir.clone(),
                    name: hf_name(name).unwrap_or_else(|| name.to_string()),
                };
                let hf = hf_name(name).ok_or_else(missing)?;
                let t = st.load(&hf, device).map_err(|_| missing())?;
                Ok(t.to_dtype(DType::F32)?)
            }
        }
    }
}
