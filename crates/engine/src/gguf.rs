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
    map: Option<std::sync::Arc<memmap2::Mmap>>,
}

/// A tensor's bytes as a GGUF file stores them ([`Gguf::stored`]).
pub struct Stored {
    map: std::sync::Arc<memmap2::Mmap>,
    range: std::ops::Range<usize>,
    pub dtype: GgmlDType,
    pub dims: Vec<usize>,
}

impl Stored {
    pub fn bytes(&self) -> &[u8] {
        &self.map[self.range.clone()]
    }
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
            map: None,
        })
    }

    /// A tensor's bytes as stored, from the file mapped into memory (shared by every call):
    /// what a tensor copied unchanged into another file needs, without reading it into a
    /// buffer of its own.
    pub fn stored(&mut self, name: &str) -> Result<Stored> {
        let info = self
            .content
            .tensor_infos
            .get(name)
            .ok_or_else(|| Error::MissingTensor {
                path: self.path.clone(),
                name: name.to_string(),
            })?;
        let bytes =
            tensor_bytes(info.ggml_dtype, info.shape.elem_count()).expect("checked when opened");
        let start = (self.content.tensor_data_offset + info.offset) as usize;
        let (dtype, dims) = (info.ggml_dtype, info.shape.dims().to_vec());
        let map = match &self.map {
            Some(m) => m.clone(),
            None => {
                let f =
                    File::open(&self.path).map_err(|e| Error::model(&self.path, open_msg(&e)))?;
                // Safety: the file is only read; a model changed on disk while it is mapped
                // is as undefined as one changed while it is read.
                let m = unsafe { memmap2::Mmap::map(&f) }
                    .map_err(|e| Error::model(&self.path, format!("mapping it: {e}")))?;
                self.map.insert(std::sync::Arc::new(m)).clone()
            }
        };
        Ok(Stored {
            map,
            range: start..start + bytes,
            dtype,
            dims,
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
    tensors: Vec<(String, QTensor)>,
) -> Result<String> {
    let specs: Vec<TensorSpec> = tensors
        .iter()
        .map(|(name, t)| TensorSpec::of(name, t))
        .collect();
    let mut w = Writer::create(path, metadata, specs)?;
    for (name, t) in tensors {
        w.tensor(&name, t)?;
    }
    w.finish()
}

/// A tensor as the header declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: GgmlDType,
    pub dims: Vec<usize>,
}

impl TensorSpec {
    /// The spec of a tensor already made.
    pub fn of(name: &str, t: &QTensor) -> Self {
        Self {
            name: name.to_string(),
            dtype: t.dtype(),
            dims: t.shape().dims().to_vec(),
        }
    }
}

/// GGUF's alignment of tensor data (candle's and llama.cpp's default).
const ALIGN: usize = 32;

/// A GGUF file written tensor by tensor, byte for byte as [`write`] writes it: the header
/// first (every tensor's name, type and shape are known before any is computed), then each
/// tensor as the caller hands it over, written and hashed on a thread of its own while the
/// caller computes the next. Holding every tensor until the end cost a copy of the model in
/// memory and left the disk and the hash idle while tensors were computed. Dropped before
/// [`Writer::finish`], or when writing failed, it removes its temporary file.
pub struct Writer {
    path: PathBuf,
    tmp: PathBuf,
    next: std::vec::IntoIter<TensorSpec>,
    tx: Option<std::sync::mpsc::SyncSender<Piece>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<String>>>,
    /// The file is in place: nothing to remove when dropped.
    done: bool,
}

impl Writer {
    /// Opens `path`'s temporary file and writes the header: metadata sorted by key, then the
    /// tensors in the order [`Writer::tensor`] must receive them.
    pub fn create(
        path: &Path,
        metadata: &[(String, Value)],
        specs: Vec<TensorSpec>,
    ) -> Result<Self> {
        let tmp = path.with_extension("gguf.partial");
        let header = header(metadata, &specs).map_err(|e| Error::model(path, e))?;
        let f = File::create(&tmp).map_err(|e| Error::Io {
            path: tmp.clone(),
            source: e,
        })?;
        // Two tensors in flight: the caller computes a third while one is written.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Piece>(1);
        let thread = std::thread::spawn(move || -> std::io::Result<String> {
            // Hashed on the way out: re-reading a multi-GB artifact to hash it cost as much again.
            let mut w = tradeoff_assets::Sha256Writer::new(BufWriter::with_capacity(1 << 20, f));
            w.write_all(&header)?;
            for piece in rx {
                let data = match &piece {
                    Piece::Made(t) => t.data().map_err(std::io::Error::other)?,
                    Piece::Stored(s) => std::borrow::Cow::Borrowed(s.bytes()),
                };
                w.write_all(&data)?;
                w.write_all(&[0; ALIGN][..padding(data.len())])?;
            }
            w.flush()?;
            let (w, sha) = w.finish();
            w.get_ref().sync_all()?;
            Ok(sha)
        });
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
            next: specs.into_iter(),
            tx: Some(tx),
            thread: Some(thread),
            done: false,
        })
    }

    /// Appends the next tensor, which must be the one the header declared next.
    pub fn tensor(&mut self, name: &str, t: QTensor) -> Result<()> {
        self.send(TensorSpec::of(name, &t), Piece::Made(t))
    }

    /// Appends the next tensor as another GGUF file stores it, copied from that file's
    /// mapping.
    pub fn stored(&mut self, name: &str, s: Stored) -> Result<()> {
        let spec = TensorSpec {
            name: name.to_string(),
            dtype: s.dtype,
            dims: s.dims.clone(),
        };
        self.send(spec, Piece::Stored(s))
    }

    fn send(&mut self, got: TensorSpec, piece: Piece) -> Result<()> {
        match self.next.next() {
            Some(want) if want == got => {}
            want => {
                return Err(Error::model(
                    &self.path,
                    format!(
                        "internal error: tensor {got:?} written where the header says {want:?}"
                    ),
                ))
            }
        }
        let sent = self.tx.as_ref().map(|tx| tx.send(piece).is_ok());
        if sent != Some(true) {
            // The writing thread stopped: its error says why.
            self.join()?;
            return Err(Error::model(&self.tmp, "the writing thread stopped"));
        }
        Ok(())
    }

    /// Waits for the last tensor to reach the disk, moves the file into place and returns its
    /// sha256 (hex).
    pub fn finish(mut self) -> Result<String> {
        if let Some(want) = self.next.next() {
            return Err(Error::model(
                &self.path,
                format!("internal error: tensor {want:?} was declared but never written"),
            ));
        }
        let sha = self.join()?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::Io {
            path: self.path.clone(),
            source: e,
        })?;
        self.done = true;
        Ok(sha)
    }

    fn join(&mut self) -> Result<String> {
        drop(self.tx.take());
        let io = |e| Error::Io {
            path: self.tmp.clone(),
            source: e,
        };
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r.map_err(io),
            Some(Err(_)) => Err(io(std::io::Error::other("the writing thread panicked"))),
            None => Err(io(std::io::Error::other("already finished"))),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.done {
            if self.thread.is_some() {
                let _ = self.join();
            }
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// A tensor on its way to the writing thread.
enum Piece {
    Made(QTensor),
    Stored(Stored),
}

/// Zero bytes that bring `len` to a multiple of [`ALIGN`].
fn padding(len: usize) -> usize {
    (ALIGN - len % ALIGN) % ALIGN
}

/// The header as candle's `gguf_file::write` lays it out (version 2), up to the first
/// tensor's data.
fn header(
    metadata: &[(String, Value)],
    specs: &[TensorSpec],
) -> std::result::Result<Vec<u8>, String> {
    let mut md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    md.sort_by(|a, b| a.0.cmp(b.0));
    let mut h = Vec::new();
    h.extend(0x4655_4747u32.to_le_bytes());
    h.extend(2u32.to_le_bytes());
    h.extend((specs.len() as u64).to_le_bytes());
    h.extend((md.len() as u64).to_le_bytes());
    for (key, value) in md {
        put_str(&mut h, key);
        h.extend(type_code(value.value_type()).to_le_bytes());
        put_value(&mut h, value).map_err(|e| format!("metadata '{key}': {e}"))?;
    }
    let mut offset = 0usize;
    for s in specs {
        put_str(&mut h, &s.name);
        h.extend((s.dims.len() as u32).to_le_bytes());
        for &d in s.dims.iter().rev() {
            h.extend((d as u64).to_le_bytes());
        }
        h.extend(ggml_type_id(s.dtype).to_le_bytes());
        h.extend((offset as u64).to_le_bytes());
        let bytes = tensor_bytes(s.dtype, s.dims.iter().product()).ok_or_else(|| {
            format!(
                "tensor '{}' does not fill whole {:?} blocks",
                s.name, s.dtype
            )
        })?;
        offset += bytes + padding(bytes);
    }
    h.resize(h.len() + padding(h.len()), 0);
    Ok(h)
}

/// ggml's number for a tensor type (candle keeps its own mapping private).
fn ggml_type_id(t: GgmlDType) -> u32 {
    use GgmlDType as G;
    match t {
        G::F32 => 0,
        G::F16 => 1,
        G::Q4_0 => 2,
        G::Q4_1 => 3,
        G::Q5_0 => 6,
        G::Q5_1 => 7,
        G::Q8_0 => 8,
        G::Q8_1 => 9,
        G::Q2K => 10,
        G::Q3K => 11,
        G::Q4K => 12,
        G::Q5K => 13,
        G::Q6K => 14,
        G::Q8K => 15,
        G::BF16 => 30,
    }
}

fn put_str(h: &mut Vec<u8>, s: &str) {
    h.extend((s.len() as u64).to_le_bytes());
    h.extend(s.as_bytes());
}

/// GGUF's numbers for metadata value types.
fn type_code(t: gguf_file::ValueType) -> u32 {
    use gguf_file::ValueType as T;
    match t {
        T::U8 => 0,
        T::I8 => 1,
        T::U16 => 2,
        T::I16 => 3,
        T::U32 => 4,
        T::I32 => 5,
        T::F32 => 6,
        T::Bool => 7,
        T::String => 8,
        T::Array => 9,
        T::U64 => 10,
        T::I64 => 11,
        T::F64 => 12,
    }
}

fn put_value(h: &mut Vec<u8>, v: &Value) -> std::result::Result<(), String> {
    match v {
        Value::U8(x) => h.push(*x),
        Value::I8(x) => h.extend(x.to_le_bytes()),
        Value::U16(x) => h.extend(x.to_le_bytes()),
        Value::I16(x) => h.extend(x.to_le_bytes()),
        Value::U32(x) => h.extend(x.to_le_bytes()),
        Value::I32(x) => h.extend(x.to_le_bytes()),
        Value::U64(x) => h.extend(x.to_le_bytes()),
        Value::I64(x) => h.extend(x.to_le_bytes()),
        Value::F32(x) => h.extend(x.to_le_bytes()),
        Value::F64(x) => h.extend(x.to_le_bytes()),
        Value::Bool(x) => h.push(u8::from(*x)),
        Value::String(s) => put_str(h, s),
        Value::Array(items) => {
            let t = items
                .first()
                .map_or(gguf_file::ValueType::U32, Value::value_type);
            if items.iter().any(|i| i.value_type() != t) {
                return Err("an array mixes value types".into());
            }
            h.extend(type_code(t).to_le_bytes());
            h.extend((items.len() as u64).to_le_bytes());
            for i in items {
                put_value(h, i)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Tensor;

    fn tensors() -> Vec<(String, QTensor)> {
        let x = Tensor::arange(0f32, 512., &Device::Cpu)
            .unwrap()
            .reshape((2, 256))
            .unwrap();
        [
            GgmlDType::F32,
            GgmlDType::F16,
            GgmlDType::Q8_0,
            GgmlDType::Q4K,
            GgmlDType::Q5_0,
        ]
        .into_iter()
        .enumerate()
        .map(|(i, t)| (format!("t{i}"), QTensor::quantize(&x, t).unwrap()))
        .collect()
    }

    #[test]
    fn streamed_file_is_candles_byte_for_byte() {
        let metadata = vec![
            ("general.name".to_string(), Value::String("tiny".into())),
            ("b.count".to_string(), Value::U32(7)),
            ("a.flag".to_string(), Value::Bool(true)),
            ("c.eps".to_string(), Value::F32(1e-6)),
            ("d.big".to_string(), Value::I64(-3)),
            (
                "e.list".to_string(),
                Value::Array(vec![Value::String("x".into()), Value::String("yz".into())]),
            ),
            ("f.empty".to_string(), Value::Array(vec![])),
            ("g.u8".to_string(), Value::U8(1)),
            ("h.f64".to_string(), Value::F64(0.5)),
        ];
        let mut want = std::io::Cursor::new(Vec::new());
        let mut md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
        md.sort_by(|a, b| a.0.cmp(b.0));
        let ts = tensors();
        let refs: Vec<(&str, &QTensor)> = ts.iter().map(|(k, v)| (k.as_str(), v)).collect();
        gguf_file::write(&mut want, &md, &refs).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.gguf");
        let sha = write(&p, &metadata, tensors()).unwrap();
        let got = std::fs::read(&p).unwrap();
        assert!(
            got == want.into_inner(),
            "bytes differ from candle's writer"
        );
        assert_eq!(sha, tradeoff_assets::sha256_hex(&got));
        assert!(!p.with_extension("gguf.partial").exists());

        // The same tensors copied from that file's mapping: the same bytes again.
        let mut g = Gguf::open(&p).unwrap();
        let specs = ts.iter().map(|(name, t)| TensorSpec::of(name, t)).collect();
        let copy = dir.path().join("copy.gguf");
        let mut w = Writer::create(&copy, &metadata, specs).unwrap();
        for (name, _) in &ts {
            w.stored(name, g.stored(name).unwrap()).unwrap();
        }
        assert_eq!(w.finish().unwrap(), sha);
        assert!(std::fs::read(&copy).unwrap() == got);
    }

    #[test]
    fn a_tensor_out_of_order_is_an_error_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.gguf");
        let ts = tensors();
        let specs = ts.iter().map(|(name, t)| TensorSpec::of(name, t)).collect();
        let mut w = Writer::create(&p, &[], specs).unwrap();
        let mut it = ts.into_iter();
        let (n0, t0) = it.next().unwrap();
        w.tensor(&n0, t0).unwrap();
        let (_, t1) = it.next().unwrap();
        let e = w.tensor("t9", t1).unwrap_err().to_string();
        assert!(e.contains("t9") && e.contains("t1"), "{e}");
        drop(w);
        assert!(!p.exists() && !p.with_extension("gguf.partial").exists());

        let (n, t) = tensors().swap_remove(0);
        let spec = TensorSpec::of(&n, &t);
        let mut w = Writer::create(&p, &[], vec![spec.clone(), spec]).unwrap();
        w.tensor(&n, t).unwrap();
        let e = w.finish().unwrap_err().to_string();
        assert!(e.contains("never written"), "{e}");
        assert!(!p.exists() && !p.with_extension("gguf.partial").exists());
    }
}
