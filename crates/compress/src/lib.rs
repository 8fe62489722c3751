//! Compression recipes turned into reproducible GGUF artifacts: round-to-nearest, importance-
//! weighted and GPTQ quantization onto GGML block types (with llama.cpp's per-tensor mixes),
//! magnitude / Wanda / SparseGPT pruning (unstructured or N:M) and ShortGPT layer removal.
//! Each artifact folder holds `model.gguf` and a `manifest.json` saying how it was made.

mod calib;
mod layerwise;
mod linalg;
mod manifest;
mod obs;
mod prune;
pub mod quant;
mod recipe;
mod rtn_simd;

pub use calib::check_contamination;
pub use manifest::{Fallback, Manifest};
/// The GGML type's name as recipes and manifests write it (`q8_0`, `q4_k`, ...).
pub use recipe::type_name;
pub use recipe::{
    CalibSettings, DepthSettings, GptqSettings, Method, Mix, Override, PruneSettings, Recipe,
    Sparsity, TypeSpec,
};

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;
use tradeoff_engine::gguf::{Gguf, TensorSpec};
use tradeoff_engine::{Config, LoadOptions, LocalEngine, ModelPath, Site};

pub type Result<T> = std::result::Result<T, Error>;

/// Version of the code every method shares (reading and writing GGUF, the per-tensor type
/// rules and fallbacks, round-to-nearest, calibration windows and statistics): bump it
/// whenever a change there alters the artifacts made from the same recipe, source and
/// calibration data. A change to one method only bumps [`Method::version`]. Either bump makes
/// the sweep rebuild the affected variants (see [`Recipe::compressor_version`]).
pub const VERSION: u32 = 1;

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

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Engine(e.into())
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

/// One indicatif bar per stage, on stderr.
#[derive(Default)]
pub struct Bars {
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl Bars {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Progress for Bars {
    fn stage(&self, name: &str, total: u64) {
        let mut b = self.bar.lock().expect("progress lock");
        if let Some(old) = b.take() {
            old.finish();
        }
        let bar = indicatif::ProgressBar::new(total).with_message(name.to_string());
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg:>12} [{bar:30}] {pos}/{len} {elapsed} (eta {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        *b = Some(bar);
    }
    fn inc(&self, n: u64) {
        if let Some(b) = &*self.bar.lock().expect("progress lock") {
            b.inc(n);
        }
    }
    fn finish(&self) {
        if let Some(b) = self.bar.lock().expect("progress lock").take() {
            b.finish();
        }
    }
}

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

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

pub fn compress(opts: &Options) -> Result<Manifest> {
    let t0 = Instant::now();
    let r = opts.recipe;
    if r.is_original() {
        return Err(Error::Recipe(
            "recipe 'original' builds no artifact: the base model is the variant".into(),
        ));
    }
    let path = match tradeoff_engine::resolve(opts.model)? {
        ModelPath::Gguf(p) => p,
        ModelPath::HfDir(p) => {
            return Err(Error::Other(format!(
                "{}: only GGUF base models can be compressed",
                p.display()
            )))
        }
    };
    std::fs::create_dir_all(opts.out_dir)
        .map_err(|e| other(format!("{}: {e}", opts.out_dir.display())))?;
    // A manifest from an earlier run must not vouch for the model written now.
    let manifest_path = opts.out_dir.join("manifest.json");
    if manifest_path.exists() {
        std::fs::remove_file(&manifest_path).map_err(other)?;
    }
    // A catalog model's hash is known (and checked when pulled); anything else is hashed.
    let source_sha256 = match tradeoff_assets::CATALOG
        .iter()
        .find(|a| a.name == opts.model && a.files.len() == 1)
    {
        Some(a) => a.files[0].sha256.to_string(),
        None => tradeoff_assets::sha256_file(&path).map_err(other)?,
    };
    let mut notes = Vec::new();

    let obs_method = matches!(r.method, Method::Gptq | Method::Sparsegpt);
    let (stats, mut calibration_sha256, mut calibration_tokens) =
        if r.needs_calibration() && !obs_method {
            let (s, sha, n) = calibrate(&path, r, opts)?;
            (Some(s), Some(sha), Some(n))
        } else {
            (None, None, None)
        };

    tracing::info!("calibration done at {:.1} s", t0.elapsed().as_secs_f64());
    let mut g = Gguf::open(&path)?;
    let cfg = Config::from_gguf(&g)?;
    let shape = quant::ModelShape {
        n_layer: cfg.n_layer,
        n_gqa: cfg.n_head / cfg.n_kv_head.max(1),
        tied: !g.has_tensor("output.weight"),
    };
    let (dropped, influence) = match (r.method, &stats) {
        (Method::Shortgpt, Some(s)) => {
            let (d, bi) = choose_layers(r, s, cfg.n_layer)?;
            (d, Some(bi))
        }
        _ => (vec![], None),
    };
    let renumber: HashMap<usize, usize> = (0..cfg.n_layer)
        .filter(|l| !dropped.contains(l))
        .enumerate()
        .map(|(new, old)| (old, new))
        .collect();
    let overrides = r
        .overrides
        .iter()
        .map(|o| {
            let re = regex::Regex::new(&o.pattern)
                .map_err(|e| Error::Recipe(format!("override pattern '{}': {e}", o.pattern)))?;
            let t = recipe::parse_type(&o.qtype)
                .ok_or_else(|| Error::Recipe(format!("override type '{}' is unknown", o.qtype)))?;
            Ok((re, t))
        })
        .collect::<Result<Vec<_>>>()?;

    let prunes = matches!(
        r.method,
        Method::Magnitude | Method::Wanda | Method::Sparsegpt
    );
    // The type each tensor is written as: the recipe's choice, else the stored one.
    let target_of = |name: &str, dims: &[usize], stored: GgmlDType| {
        quant::choose(
            r,
            &overrides,
            name,
            dims,
            &shape,
            r.method == Method::Imatrix,
        )
        .dtype
        .unwrap_or(stored)
    };
    let mut obs_done = if obs_method {
        let gptq_target = |name: &str, dims: &[usize], stored: GgmlDType| {
            let t = target_of(name, dims, stored);
            (r.method == Method::Sparsegpt || quant::grid_supported(t)).then_some(t)
        };
        let d = layerwise::run(
            &path,
            r,
            &opts.calibration,
            opts.seed,
            &gptq_target,
            opts.progress,
        )?;
        calibration_sha256 = Some(d.calibration_sha256.clone());
        calibration_tokens = Some(d.calibration_tokens);
        Some(d)
    } else {
        None
    };
    let renamed = |name: &str| match quant::layer_of(name) {
        Some(l) => name.replacen(&format!("blk.{l}."), &format!("blk.{}.", renumber[&l]), 1),
        None => name.to_string(),
    };
    // Every tensor's output type and shape, known before any is computed: the file's header
    // goes out first and each tensor follows as soon as it is made.
    let names: Vec<String> = g
        .tensor_names()
        .into_iter()
        .filter(|n| !quant::layer_of(n).is_some_and(|l| dropped.contains(&l)))
        .collect();
    let specs: Vec<TensorSpec> = names
        .iter()
        .map(|name| {
            let info = &g.content.tensor_infos[name];
            let dims = info.shape.dims().to_vec();
            TensorSpec {
                name: renamed(name),
                dtype: target_of(name, &dims, info.ggml_dtype),
                dims,
            }
        })
        .collect();
    let mut n_params = 0u64;
    let mut data_bytes = 0u64;
    for s in &specs {
        let elems: usize = s.dims.iter().product();
        n_params += elems as u64;
        data_bytes += (elems / s.dtype.block_size() * s.dtype.type_size()) as u64;
    }
    let metadata = output_metadata(&g, r, &cfg, dropped.len());
    let model_path = opts.out_dir.join("model.gguf");
    let mut writer = tradeoff_engine::gguf::Writer::create(&model_path, &metadata, specs)?;
    opts.progress.stage("tensors", names.len() as u64);
    let mut tensor_types = BTreeMap::new();
    let mut fallbacks = Vec::new();
    let (mut pruned_total, mut pruned_nonzero) = obs_done
        .as_ref()
        .map_or((0, 0), |d| (d.pruned_total, d.pruned_nonzero));
    for name in names {
        let layer = quant::layer_of(&name);
        let new_name = renamed(&name);
        let info = &g.content.tensor_infos[&name];
        let (stored, dims) = (info.ggml_dtype, info.shape.dims().to_vec());
        let choice = quant::choose(
            r,
            &overrides,
            &name,
            &dims,
            &shape,
            r.method == Method::Imatrix,
        );
        if let Some(w) = choice.wanted {
            fallbacks.push(Fallback {
                tensor: new_name.clone(),
                wanted: recipe::type_name(w),
                used: recipe::type_name(choice.dtype.expect("fallback has a type")),
            });
        }
        let site = quant::kind_of(&name).and_then(Site::of_linear);
        let target = choice.dtype.unwrap_or(stored);
        let gptq = r.method == Method::Gptq && quant::grid_supported(target);
        let touched = site.is_some() && (prunes || gptq);
        let made = obs_done.as_mut().and_then(|d| d.tensors.remove(&name));
        if made.is_none() && !touched && target == stored {
            // Unchanged: copied from the source's mapping, never read into a tensor.
            tensor_types.insert(new_name.clone(), recipe::type_name(target));
            writer.stored(&new_name, g.stored(&name)?)?;
            opts.progress.inc(1);
            continue;
        }
        let qt = g.tensor(&name, &Device::Cpu)?;
        let new = if let Some(made) = made {
            made
        } else if !(touched || r.method == Method::Imatrix && site.is_some()) {
            quant::requantize(&qt, target)?
        } else {
            let w = qt.dequantize(&Device::Cpu)?;
            let key = (layer.unwrap_or(0), site.unwrap_or(Site::AttnIn));
            let need = |what: &str| {
                Error::Other(format!("no calibration {what} for {name} (layer {key:?})"))
            };
            match (r.method, site, stats.as_ref()) {
                (Method::Gptq | Method::Sparsegpt, Some(_), _) if touched => {
                    return Err(need("Hessian"))
                }
                (Method::Imatrix, Some(_), Some(s)) => {
                    let imp = s.mean_sq(key.0, key.1).ok_or_else(|| need("activations"))?;
                    weighted(&w, &dims, target, &imp)?
                }
                (m, Some(_), _) if prunes => {
                    let norms = match (m, stats.as_ref()) {
                        (Method::Magnitude, _) => None,
                        (Method::Wanda, Some(s)) => Some(
                            s.mean_sq(key.0, key.1)
                                .ok_or_else(|| need("activations"))?
                                .iter()
                                .map(|m| m.sqrt())
                                .collect::<Vec<f32>>(),
                        ),
                        _ => return Err(need("data")),
                    };
                    let sp = r.sparsity().expect("validated");
                    let (q, total, nonzero) = pruned(&w, &dims, sp, norms.as_deref(), target)?;
                    pruned_total += total;
                    pruned_nonzero += nonzero;
                    q
                }
                _ => quant::rtn(&w, target)?,
            }
        };
        tensor_types.insert(new_name.clone(), recipe::type_name(new.dtype()));
        writer.tensor(&new_name, new)?;
        opts.progress.inc(1);
    }
    opts.progress.finish();
    let artifact_sha256 = writer.finish()?;
    tracing::info!("tensors done at {:.1} s", t0.elapsed().as_secs_f64());

    let (nonzero_fraction, zstd_size_bytes) = if pruned_total > 0 {
        notes.push(
            "zeros save nothing in dense GGML kernels: the file is as large and as fast as the \
             unpruned one at the same type; zstd_size_bytes shows what sparse storage could save"
                .into(),
        );
        (
            Some(pruned_nonzero as f64 / pruned_total as f64),
            Some(zstd_size(&model_path)?),
        )
    } else {
        (None, None)
    };
    if r.method == Method::Imatrix {
        notes.push(
            "importance weights apply to k-quant (candle) and Q4_0/Q5_0/Q8_0 (own scale search) \
             tensors; Q4_1/Q5_1 tensors and those without activations (embeddings, output) are \
             rounded to nearest"
                .into(),
        );
    }
    if obs_method {
        notes.push(if r.gptq.as_ref().is_some_and(|g| g.sequential) {
            "Hessians come layer by layer from the calibration windows run through the \
             already compressed layers before (sequential, as in the GPTQ paper)"
                .into()
        } else {
            "Hessians come layer by layer from the calibration windows run through the \
             unmodified model (layers are not re-calibrated on their compressed predecessors)"
                .into()
        });
    }
    let size_bytes = std::fs::metadata(&model_path).map_err(other)?.len();
    let m = Manifest {
        tool_version: env!("CARGO_PKG_VERSION").into(),
        compressor_version: r.compressor_version(),
        source_model: opts.model.into(),
        source_sha256,
        recipe: r.clone(),
        recipe_toml: r.to_toml(),
        calibration_sha256,
        seed: opts.seed,
        wall_s: t0.elapsed().as_secs_f64(),
        peak_rss_bytes: tradeoff_record::proc::peak_rss_bytes(),
        artifact: "model.gguf".into(),
        artifact_sha256,
        size_bytes,
        bits_per_weight: data_bytes as f64 * 8.0 / n_params.max(1) as f64,
        n_params,
        tensor_types,
        fallbacks,
        dropped_layers: dropped,
        block_influence: influence,
        nonzero_fraction,
        zstd_size_bytes,
        calibration_tokens,
        notes,
    };
    m.save(opts.out_dir)?;
    Ok(m)
}

/// The source's metadata with what the recipe changes: file type, the recipe itself, and the
/// block count when layers were dropped.
fn output_metadata(g: &Gguf, r: &Recipe, cfg: &Config, dropped: usize) -> Vec<(String, Value)> {
    let mut metadata: Vec<(String, Value)> = g
        .content
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut set = |k: String, v: Value| {
        metadata.retain(|(key, _)| *key != k);
        metadata.push((k, v));
    };
    if let Some(ft) = quant::file_type(r.type_spec()) {
        set("general.file_type".into(), Value::U32(ft));
    }
    set("tradeoff.recipe".into(), Value::String(r.to_toml()));
    if dropped > 0 {
        set(
            format!("{}.block_count", cfg.arch.name()),
            Value::U32((cfg.n_layer - dropped) as u32),
        );
    }
    metadata
}

/// A weight pruned to sparsity `sp` by magnitude, or by Wanda's score when input norms are
/// given, then rounded to `t`; with the weights counted and those left nonzero.
fn pruned(
    w: &Tensor,
    dims: &[usize],
    sp: recipe::Sparsity,
    norms: Option<&[f32]>,
    t: GgmlDType,
) -> Result<(QTensor, u64, u64)> {
    let mut wv = w.flatten_all()?.to_vec1::<f32>()?;
    let n = *dims.last().expect("2-D");
    prune::prune_by_score(&mut wv, n, sp, norms);
    let q = quant::rtn(&Tensor::from_vec(wv, dims, &Device::Cpu)?, t)?;
    let back = q
        .dequantize(&Device::Cpu)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let nonzero = back.iter().filter(|v| **v != 0.0).count() as u64;
    Ok((q, back.len() as u64, nonzero))
}

/// Importance-weighted quantization: candle's for k-quants, ours for the 32-wide grids.
fn weighted(w: &Tensor, dims: &[usize], t: GgmlDType, imp: &[f32]) -> Result<QTensor> {
    // Activations that never fire would give zero weight to whole blocks: keep a floor.
    let mean = imp.iter().sum::<f32>() / imp.len().max(1) as f32;
    let imp: Vec<f32> = imp.iter().map(|v| v.max(mean * 1e-3).max(1e-12)).collect();
    match t {
        GgmlDType::Q2K | GgmlDType::Q3K | GgmlDType::Q4K | GgmlDType::Q5K | GgmlDType::Q6K => {
            Ok(QTensor::quantize_imatrix(w, &imp, t)?)
        }
        _ if quant::grid_supported(t) => {
            quant::weighted_grid(t, &w.flatten_all()?.to_vec1::<f32>()?, dims, &imp)
        }
        _ => quant::rtn(w, t),
    }
}

/// Loads the base model as f32, cuts the calibration text into windows and gathers what the
/// method needs. Returns the statistics, the text's sha256 and the token count.
fn calibrate(path: &Path, r: &Recipe, opts: &Options) -> Result<(calib::Stats, String, usize)> {
    let c = r.calibration.clone().unwrap_or_default();
    let text = calib::load_text(&opts.calibration)?;
    let eng = LocalEngine::load(
        &ModelPath::Gguf(path.to_path_buf()),
        LoadOptions {
            dequantize: true,
            ..Default::default()
        },
    )?;
    let ctx = c.ctx.min(eng.model.cfg.context_length);
    let wins = calib::windows(&eng.tokenizer, &text.text, c.samples, ctx, opts.seed)?;
    let want = calib::Want {
        sq: matches!(r.method, Method::Imatrix | Method::Wanda),
        layer_io: r.method == Method::Shortgpt,
    };
    let stats = calib::collect(&eng.model, &wins, want, opts.progress)?;
    Ok((stats, text.sha256, wins.len() * ctx))
}

/// ShortGPT: block influence BI = 1 − mean cos(x_in, x_out); the lowest are dropped.
fn choose_layers(r: &Recipe, s: &calib::Stats, n_layer: usize) -> Result<(Vec<usize>, Vec<f64>)> {
    let bi: Vec<f64> = (0..n_layer)
        .map(|l| {
            s.cos
                .get(&l)
                .map_or(0.0, |(sum, n)| 1.0 - sum / (*n).max(1) as f64)
        })
        .collect();
    let d = r.depth.as_ref().expect("validated");
    let k = match (d.drop, d.fraction) {
        (Some(k), _) => k,
        (_, Some(f)) => (f * n_layer as f64).round() as usize,
        _ => 0,
    };
    if k >= n_layer {
        return Err(Error::Recipe(format!(
            "cannot drop {k} of {n_layer} layers"
        )));
    }
    let mut order: Vec<usize> = (0..n_layer).collect();
    order.sort_by(|&a, &b| bi[a].total_cmp(&bi[b]).then(a.cmp(&b)));
    let mut dropped = order[..k].to_vec();
    dropped.sort_unstable();
    Ok((dropped, bi))
}

/// Size of the file compressed with zstd level 3, streamed.
fn zstd_size(path: &Path) -> Result<u64> {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len() as u64;
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let f = std::fs::File::open(path).map_err(other)?;
    let mut c = Count(0);
    zstd::stream::copy_encode(std::io::BufReader::new(f), &mut c, 3).map_err(other)?;
    Ok(c.0)
}
