//! Running the heal recipe: data → teacher targets (cached) → LoRA training of the variant
//! (checkpointed) → merged GGUF + `manifest.json`.

use crate::data::{self, DataRecord, Windows};
use crate::error::io;
use crate::forward::Base;
use crate::recipe::{HealRecipe, VERSION};
use crate::teacher::TeacherCache;
use crate::trainer::{self, History, Job};
use crate::{Error, Result};
use candle_core::quantized::gguf_file::Value;
use candle_core::DType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tradeoff_engine::{LoadOptions, LocalEngine, ModelPath};

pub struct HealOptions<'a> {
    /// The original model (teacher): catalog name or GGUF path.
    pub teacher: &'a str,
    /// The compressed variant's folder (`model.gguf`, `manifest.json` from `tradeoff compress`).
    pub variant: &'a Path,
    pub recipe: &'a HealRecipe,
    pub out_dir: &'a Path,
    pub seed: u64,
    pub progress: bool,
}

/// `manifest.json` of a healed variant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealManifest {
    pub tool_version: String,
    /// `<train crate>.<recipe kind>` version of the code that made it.
    pub trainer_version: String,
    pub recipe: HealRecipe,
    pub recipe_toml: String,
    pub teacher: String,
    pub teacher_sha256: String,
    /// How the teacher ran: "GGUF dequantized to f32, forward only".
    pub teacher_weights: String,
    pub variant_dir: PathBuf,
    pub variant_sha256: String,
    /// The compressed variant's own manifest, as it was.
    pub variant_manifest: Option<tradeoff_compress::Manifest>,
    pub data: DataRecord,
    pub seed: u64,
    pub steps: usize,
    pub tokens_seen: usize,
    pub adapter_params: usize,
    /// Size of the adapters as f32 (what a PEFT export stores).
    pub adapter_bytes: usize,
    /// The adapters alone in PEFT's format (`adapter_model.safetensors`,
    /// `adapter_config.json`), relative to the output folder.
    pub adapter_dir: PathBuf,
    pub masked_linears: usize,
    pub teacher_s: f64,
    pub train_s: f64,
    pub wall_s: f64,
    pub peak_rss_bytes: Option<u64>,
    pub history: History,
    pub artifact: String,
    pub artifact_sha256: String,
    pub size_bytes: u64,
    pub tensor_types: BTreeMap<String, String>,
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Config(e.to_string())
}

pub fn heal(o: &HealOptions) -> Result<HealManifest> {
    let t0 = Instant::now();
    let r = o.recipe;
    let teacher_path = match tradeoff_engine::resolve(o.teacher)? {
        ModelPath::Gguf(p) => p,
        ModelPath::HfDir(p) => {
            return Err(other(format!(
                "{}: the teacher must be a GGUF file",
                p.display()
            )))
        }
    };
    let variant_gguf = o.variant.join("model.gguf");
    std::fs::create_dir_all(o.out_dir).map_err(io(o.out_dir))?;
    let manifest_path = o.out_dir.join("manifest.json");
    if manifest_path.exists() {
        std::fs::remove_file(&manifest_path).map_err(io(&manifest_path))?;
    }
    let quality = tradeoff_assets::corpus::eval_corpus()?;
    let corpus = tradeoff_assets::corpus::calibration_corpus()?;
    let (text, scrubbed) = data::scrub(&corpus.text, &quality);
    let mut checks = data::check(&text, &quality)?;
    checks.push(format!(
        "{scrubbed} lines removed that were in 4-line runs of the quality corpus"
    ));
    let teacher = LocalEngine::load(
        &ModelPath::Gguf(teacher_path.clone()),
        LoadOptions {
            dequantize: true,
            ..Default::default()
        },
    )?;
    let tc = &r.train;
    let wins = Windows::cut(&teacher.tokenizer, &text, tc.seq, tc.val_windows, o.seed)?;
    let steps = tc.steps();
    let need = (steps * tc.accum * tc.batch).min(wins.train.len());
    let train_wins = &wins.train[..need];
    let teacher_sha = tradeoff_assets::sha256_cached(&teacher_path)?;
    let variant_sha = tradeoff_assets::sha256_cached(&variant_gguf)?;
    let key = tradeoff_assets::sha256_hex(
        format!(
            "{VERSION}|{}|{teacher_sha}|{variant_sha}|{}|{}",
            r.to_toml(),
            tradeoff_assets::sha256_hex(text.as_bytes()),
            o.seed
        )
        .as_bytes(),
    );
    let ts = Instant::now();
    let (t_train, t_val) = teacher_targets(
        &teacher.model,
        train_wins,
        &wins.val,
        r.distill.top_k,
        o,
        &key,
    )?;
    let teacher_s = ts.elapsed().as_secs_f64();
    drop(teacher);

    let base = Base::load(&variant_gguf, DType::F32, true)?;
    if base.cfg.vocab_size != teacher_vocab(&teacher_path)? {
        return Err(other("the variant's vocabulary differs from the teacher's"));
    }
    let ad = base.adapters(&r.lora, o.seed)?;
    let ckpt = o.out_dir.join("checkpoint");
    let job = Job {
        train: train_wins,
        val: &wins.val,
        teacher_train: &t_train,
        teacher_val: &t_val,
        cfg: tc,
        optim: &r.optim,
        distill: &r.distill,
        seed: o.seed,
        checkpoint: Some((&ckpt, key)),
        progress: o.progress,
    };
    let history = trainer::train(&base, &ad, &job)?;

    let model_path = o.out_dir.join("model.gguf");
    let meta = vec![("tradeoff.recipe".to_string(), Value::String(r.to_toml()))];
    let tensor_types = crate::merge::merge_to_gguf(&variant_gguf, &base, &ad, &meta, &model_path)?;
    let adapter_dir = PathBuf::from("adapter");
    crate::peft::export(&ad, &base.cfg, o.teacher, &o.out_dir.join(&adapter_dir))?;
    let masked_linears = base
        .layers
        .iter()
        .flat_map(|l| &l.lin)
        .filter(|f| f.mask.is_some())
        .count();
    let m = HealManifest {
        tool_version: env!("CARGO_PKG_VERSION").into(),
        trainer_version: format!("{VERSION}.heal"),
        recipe: r.clone(),
        recipe_toml: r.to_toml(),
        teacher: o.teacher.into(),
        teacher_sha256: teacher_sha,
        teacher_weights: "GGUF dequantized to f32, forward only (as the quality baseline)".into(),
        variant_dir: o.variant.to_path_buf(),
        variant_sha256: variant_sha,
        variant_manifest: tradeoff_compress::Manifest::load(o.variant).ok(),
        data: DataRecord {
            name: corpus.name.clone(),
            sha256: tradeoff_assets::sha256_hex(text.as_bytes()),
            files: corpus.files.clone(),
            checks,
            train_windows: train_wins.len(),
            val_windows: wins.val.len(),
            seq: tc.seq,
        },
        seed: o.seed,
        steps,
        tokens_seen: steps * tc.accum * tc.batch * tc.seq,
        adapter_params: ad.n_params(),
        adapter_bytes: ad.n_params() * 4,
        adapter_dir,
        masked_linears,
        teacher_s,
        train_s: history.train_s,
        wall_s: t0.elapsed().as_secs_f64(),
        peak_rss_bytes: tradeoff_record::proc::peak_rss_bytes(),
        history,
        artifact: "model.gguf".into(),
        artifact_sha256: tradeoff_assets::sha256_file(&model_path)?,
        size_bytes: std::fs::metadata(&model_path)
            .map_err(io(&model_path))?
            .len(),
        tensor_types,
    };
    save_manifest(&m, o.out_dir)?;
    Ok(m)
}

fn teacher_vocab(p: &Path) -> Result<usize> {
    Ok(tradeoff_engine::Config::from_gguf(&tradeoff_engine::gguf::Gguf::open(p)?)?.vocab_size)
}

/// Teacher targets of the training and validation windows, from the cache when `key` matches.
fn teacher_targets(
    model: &tradeoff_engine::Model,
    train: &[Vec<u32>],
    val: &[Vec<u32>],
    k: usize,
    o: &HealOptions,
    key: &str,
) -> Result<(TeacherCache, TeacherCache)> {
    let path = |what: &str| o.out_dir.join(format!("teacher-{what}-{}.bin", &key[..16]));
    if let (Ok(t), Ok(v)) = (
        TeacherCache::load(&path("train")),
        TeacherCache::load(&path("val")),
    ) {
        return Ok((t, v));
    }
    let bar = if o.progress {
        indicatif::ProgressBar::new((train.len() + val.len()) as u64).with_message("teacher")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let t = TeacherCache::compute(model, train, k, || bar.inc(1))?;
    let v = TeacherCache::compute(model, val, k, || bar.inc(1))?;
    bar.finish_and_clear();
    t.save(&path("train"))?;
    v.save(&path("val"))?;
    Ok((t, v))
}

fn save_manifest(m: &HealManifest, dir: &Path) -> Result<()> {
    let p = dir.join("manifest.json");
    let tmp = dir.join("manifest.json.partial");
    let text = serde_json::to_string_pretty(m).map_err(other)?;
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &p).map_err(io(&p))
}
