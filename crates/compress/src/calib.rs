//! Calibration: text → token windows → per-layer activation statistics gathered through the
//! engine's forward hook.

use crate::{Calibration, Error, Progress, Result};
use candle_core::{DType, Tensor};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use tradeoff_engine::{Hook, Model, Site, Tokenizer};

/// Calibration text and its sha256.
pub struct CalibText {
    pub text: String,
    pub sha256: String,
}

pub fn load_text(c: &Calibration) -> Result<CalibText> {
    let text = match c {
        Calibration::Stdlib => {
            tradeoff_assets::corpus::calibration_corpus()
                .map_err(|e| Error::Other(format!("calibration corpus: {e}")))?
                .text
        }
        Calibration::Path(p) => read_user(p)?,
    };
    if text.trim().is_empty() {
        return Err(Error::Other("calibration data is empty".into()));
    }
    check_contamination(&text)?;
    Ok(CalibText {
        sha256: tradeoff_assets::sha256_hex(text.as_bytes()),
        text,
    })
}

fn io(p: &Path, e: impl std::fmt::Display) -> Error {
    Error::Other(format!("calibration data {}: {e}", p.display()))
}

/// A JSONL file (field "text"), or every file of a folder (sorted by path, recursively).
fn read_user(p: &Path) -> Result<String> {
    if p.is_dir() {
        let mut files = Vec::new();
        let mut stack = vec![p.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).map_err(|e| io(&d, e))? {
                let path = e.map_err(|e| io(&d, e))?.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        files.sort();
        let parts: Vec<String> = files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect();
        return Ok(parts.join("\n\n"));
    }
    let f = std::fs::File::open(p).map_err(|e| io(p, e))?;
    let mut parts = Vec::new();
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| io(p, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| io(p, format!("line {}: {e}", n + 1)))?;
        let t = v
            .get("text")
            .and_then(|t| t.as_str())
            .ok_or_else(|| io(p, format!("line {}: no string field \"text\"", n + 1)))?;
        parts.push(t.to_string());
    }
    Ok(parts.join("\n\n"))
}

/// Refuses text holding a HumanEval problem's signature line (calibrating on the test set
/// would flatter every calibrated method). Skipped when HumanEval isn't pulled.
pub fn check_contamination(text: &str) -> Result<()> {
    let Ok(asset) = tradeoff_assets::find(tradeoff_assets::Kind::Dataset, "humaneval") else {
        return Ok(());
    };
    let root = tradeoff_assets::cache_dir();
    if !asset.is_pulled(&root) {
        return Ok(());
    }
    let path = asset.path(&root);
    let Ok(f) = std::fs::File::open(&path) else {
        return Ok(());
    };
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(f));
    for line in reader.lines() {
        let Ok(line) = line else { break };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let (Some(prompt), Some(entry), Some(id)) = (
            v.get("prompt").and_then(|x| x.as_str()),
            v.get("entry_point").and_then(|x| x.as_str()),
            v.get("task_id").and_then(|x| x.as_str()),
        ) else {
            continue;
        };
        let head = format!("def {entry}(");
        if let Some(sig) = prompt.lines().find(|l| l.trim_start().starts_with(&head)) {
            if text.contains(sig.trim()) {
                return Err(Error::Other(format!(
                    "calibration data contains HumanEval {id}'s signature `{}`: refusing to calibrate on the benchmark",
                    sig.trim()
                )));
            }
        }
    }
    Ok(())
}

/// `samples` windows of `ctx` tokens, spread evenly over the text, the start of each
/// shifted by a seeded offset so different seeds see different windows.
pub fn windows(
    tok: &Tokenizer,
    text: &str,
    samples: usize,
    ctx: usize,
    seed: u64,
) -> Result<Vec<Vec<u32>>> {
    let ids = tok.encode(text)?;
    if ids.len() < ctx {
        return Err(Error::Other(format!(
            "calibration data has {} tokens, fewer than one window of {ctx}",
            ids.len()
        )));
    }
    let span = ids.len() - ctx;
    let stride = span / samples.max(1);
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    Ok((0..samples)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let jitter = if stride > 0 && seed != 0 {
                (s % stride as u64) as usize
            } else {
                0
            };
            let start = (i * stride + jitter).min(span);
            ids[start..start + ctx].to_vec()
        })
        .collect())
}

/// Which statistics to gather.
#[derive(Debug, Clone, Copy, Default)]
pub struct Want {
    /// Σx² per input column (importance matrix, Wanda's ‖X_j‖₂).
    pub sq: bool,
    /// Cosine similarity of each layer's input and output hidden states (ShortGPT).
    pub layer_io: bool,
}

#[derive(Default)]
pub struct Stats {
    /// (layer, site) → (Σx² per column, tokens).
    pub sq: BTreeMap<(usize, Site), (Vec<f64>, usize)>,
    /// layer → (Σ cos(x_in, x_out), tokens).
    pub cos: BTreeMap<usize, (f64, usize)>,
}

impl Stats {
    /// Mean x² per input column of the linears at `site` of `layer`.
    pub fn mean_sq(&self, layer: usize, site: Site) -> Option<Vec<f32>> {
        let (s, n) = self.sq.get(&(layer, site))?;
        Some(s.iter().map(|v| (v / (*n).max(1) as f64) as f32).collect())
    }
}

struct Collector {
    want: Want,
    stats: Stats,
}

impl Hook for Collector {
    fn linear_input(
        &mut self,
        layer: usize,
        site: Site,
        x: &Tensor,
    ) -> tradeoff_engine::Result<()> {
        let (t, n) = x.dims2()?;
        if self.want.sq {
            let s = x.to_dtype(DType::F64)?.sqr()?.sum(0)?.to_vec1::<f64>()?;
            let e = self
                .stats
                .sq
                .entry((layer, site))
                .or_insert((vec![0.0; n], 0));
            e.0.iter_mut().zip(&s).for_each(|(a, b)| *a += b);
            e.1 += t;
        }
        Ok(())
    }

    fn layer_io(
        &mut self,
        layer: usize,
        input: &Tensor,
        output: &Tensor,
    ) -> tradeoff_engine::Result<()> {
        if self.want.layer_io {
            let dot = (input * output)?.sum(1)?;
            let na = input.sqr()?.sum(1)?.sqrt()?;
            let nb = output.sqr()?.sum(1)?.sqrt()?;
            let cos = (dot / (na * nb)?.maximum(1e-12)?)?;
            let c = cos.to_dtype(DType::F64)?.to_vec1::<f64>()?;
            let e = self.stats.cos.entry(layer).or_insert((0.0, 0));
            e.0 += c.iter().sum::<f64>();
            e.1 += c.len();
        }
        Ok(())
    }
}

/// Runs every window through the model, collecting what `want` asks for.
pub fn collect(
    model: &Model,
    windows: &[Vec<u32>],
    want: Want,
    progress: &dyn Progress,
) -> Result<Stats> {
    let mut c = Collector {
        want,
        stats: Stats::default(),
    };
    progress.stage("calibrating", windows.len() as u64);
    for w in windows {
        model.logits_all(w, Some(&mut c))?;
        progress.inc(1);
    }
    progress.finish();
    Ok(c.stats)
}
