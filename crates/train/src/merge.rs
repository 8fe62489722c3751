//! Merging adapters into the variant's weights and writing the result as GGUF: each adapted
//! linear becomes W + (α/r)·BA (⊙ its mask for pruned variants), requantized by round-to-
//! nearest to the type it had in the variant; every other tensor is copied unchanged.

use crate::forward::Base;
use crate::lora::{Adapters, Target};
use crate::Result;
use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::QTensor;
use candle_core::{DType, Device};
use std::collections::BTreeMap;
use std::path::Path;
use tradeoff_engine::gguf::Gguf;

/// Writes `out` from the variant at `src` with the adapters merged; `meta` entries are set in
/// the metadata. Returns each tensor's GGML type by name.
pub fn merge_to_gguf(
    src: &Path,
    base: &Base,
    ad: &Adapters,
    meta: &[(String, Value)],
    out: &Path,
) -> Result<BTreeMap<String, String>> {
    let mut g = Gguf::open(src)?;
    let dev = Device::Cpu;
    let mut tensors = Vec::new();
    let mut types = BTreeMap::new();
    for name in g.tensor_names() {
        let qt = g.tensor(&name, &dev)?;
        let new = match adapted(&name) {
            Some((layer, t)) => match ad.delta(layer, t)? {
                Some(d) => {
                    let d = match &base.layers[layer].lin[t as usize].mask {
                        Some(m) => d.mul(m)?,
                        None => d,
                    };
                    let w = (qt.dequantize(&dev)? + d.to_dtype(DType::F32)?)?;
                    QTensor::quantize(&w, qt.dtype())?
                }
                None => qt,
            },
            None => qt,
        };
        types.insert(name.clone(), tradeoff_compress::type_name(new.dtype()));
        tensors.push((name, new));
    }
    let mut metadata: Vec<(String, Value)> = g
        .content
        .metadata
        .iter()
        .filter(|(k, _)| !meta.iter().any(|(m, _)| m == *k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    metadata.extend(meta.iter().cloned());
    tradeoff_engine::gguf::write(out, &metadata, tensors)?;
    Ok(types)
}

/// `blk.{i}.{attn_q|...}.weight` → (i, target).
fn adapted(name: &str) -> Option<(usize, Target)> {
    let rest = name.strip_prefix("blk.")?.strip_suffix(".weight")?;
    let (layer, part) = rest.split_once('.')?;
    let t = Target::ALL.into_iter().find(|t| t.gguf() == part)?;
    Some((layer.parse().ok()?, t))
}
