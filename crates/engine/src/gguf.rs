//! Reading and writing GGUF files, with errors that name the file and what is wrong with it.

use crate::{Error, Result};
use candle_core::quantized::gguf_file::{self, Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// An opened GGUF file: its header, checked against the file's length.
pub struct Gguf {
    pub path: PathBuf,
    pub content: Content,
    file: BufReader<File>,
}

impl Gguf {
    pub fn open(path: &Path) -> Result<Self> {
        let f = File::open(path).map_err(|e| Error::model(path, open_msg(&e)))?;
        let len = f
            .metadata()
            .map_err(|e| Error::model(path, e.to_string()))?
            .len();
        let mut file = BufReader::new(f);
        let content = Content::read(&mut file)
            .map_err(|e| Error::model(path, format!("not a valid GGUF file ({e})")))?;
        // candle reads tensor data lazily: catch a truncated download before it surfaces as
        // "failed to fill whole buffer" halfway through loading.
        let mut need = content.tensor_data_offset;
        for (name, info) in &content.tensor_infos {
            let bytes =
                tensor_bytes(info.ggml_dtype, info.shape.elem_count()).ok_or_else(|| {
                    Error::model(
                        path,
                        format!(
                        "tensor '{name}' has {} elements, not a multiple of its {:?} block size",
                        info.shape.elem_count(),
                        info.ggml_dtype
                    ),
                    )
                })?;
            need = need.max(content.tensor_data_offset + info.offset + bytes as u64);
        }
        if need > len {
            return Err(Error::model(
                path,
                format!("truncated: tensor data needs {need} bytes but the file has {len}; download it again"),
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            content,
            file,
        })
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    pub fn tensor(&mut self, name: &str, device: &Device) -> Result<QTensor> {
        if !self.has_tensor(name) {
            return Err(Error::MissingTensor {
                path: self.path.clone(),
                name: name.to_string(),
            });
        }
        self.content
            .tensor(&mut self.file, name, device)
            .map_err(|e| Error::model(&self.path, format!("reading tensor '{name}': {e}")))
    }

    /// Tensor names in file order.
    pub fn tensor_names(&self) -> Vec<String> {
        let mut v: Vec<(&String, u64)> = self
            .content
            .tensor_infos
            .iter()
            .map(|(n, i)| (n, i.offset))
            .collect();
        v.sort_by_key(|&(n, o)| (o, n.clone()));
        v.into_iter().map(|(n, _)| n.clone()).collect()
    }

    pub fn meta(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    pub fn meta_str(&self, key: &str) -> Option<&str> {
        self.meta(key)
            .and_then(|v| v.to_string().ok())
            .map(|s| s.as_str())
    }

    pub fn meta_u64(&self, key: &str) -> Option<u64> {
        self.meta(key).and_then(value_u64)
    }

    pub fn meta_f32(&self, key: &str) -> Option<f32> {
        match self.meta(key)? {
            Value::F32(v) => Some(*v),
            Value::F64(v) => Some(*v as f32),
            v => value_u64(v).map(|u| u as f32),
        }
    }

    pub fn require_u64(&self, key: &str) -> Result<u64> {
        self.meta_u64(key)
            .ok_or_else(|| Error::model(&self.path, format!("metadata key '{key}' is missing")))
    }
}

fn value_u64(v: &Value) -> Option<u64> {
    match v {
        Value::U8(x) => Some(*x as u64),
        Value::U16(x) => Some(*x as u64),
        Value::U32(x) => Some(*x as u64),
        Value::U64(x) => Some(*x),
        Value::I8(x) => u64::try_from(*x).ok(),
        Value::I16(x) => u64::try_from(*x).ok(),
        Value::I32(x) => u64::try_from(*x).ok(),
        Value::I64(x) => u64::try_from(*x).ok(),
        _ => None,
    }
}

pub(crate) fn open_msg(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Bytes taken by `elems` values of `dtype`, or None when they don't fill whole blocks.
pub fn tensor_bytes(dtype: GgmlDType, elems: usize) -> Option<usize> {
    let bs = dtype.block_size();
    elems
        .is_multiple_of(bs)
        .then(|| elems / bs * dtype.type_size())
}

/// Writes a GGUF file deterministically: metadata sorted by key, tensors in the given order.
/// Goes through a temporary file so a crash never leaves a half-written model behind.
/// Returns the file's sha256 (hex).
pub fn write(
    path: &Path,
    metadata: &[(String, Value)],
    tensors: &[(String, QTensor)],
) -> Result<String> {
    let mut md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    md.sort_by(|a, b| a.0.cmp(b.0));
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tmp = path.with_extension("gguf.partial");
    let io = |e: std::io::Error| Error::Io {
        path: tmp.clone(),
        source: e,
    };
    let f = File::create(&tmp).map_err(io)?;
    // Hashed on the way out: re-reading a multi-GB artifact to hash it cost as much again.
    let mut w = tradeoff_assets::Sha256Writer::new(BufWriter::with_capacity(1 << 20, f));
    gguf_file::write(&mut w, &md, &ts).map_err(|e| Error::model(&tmp, e.to_string()))?;
    w.flush().map_err(io)?;
    let (w, sha) = w.finish();
    w.get_ref().sync_all().map_err(io)?;
    drop(w);
    std::fs::rename(&tmp, path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    Ok(sha)
}
