//! The three recipes, run by one pipeline: data → teacher targets (cached) → LoRA training of
//! the student (checkpointed) → merged GGUF + `manifest.json`.
//! `heal` distills the original into a compressed variant of itself on CPython stdlib text;
//! `distill` distills a larger model of the same family (same vocabulary) into a smaller one
//! on the teacher's tested answers to MBPP training problems, mixed with stdlib text;
//! `sft` fine-tunes a model on reference answers (cross-entropy, no teacher), mixed the same
//! way.

use crate::data::{self, DataRecord, Doc, Windows};
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
use tradeoff_engine::{LoadOptions, LocalEngine, ModelPath, Tokenizer};

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

/// What `distill` and `sft` train on: a whole model (not a compressed variant) and documents.
pub struct DocsOptions<'a> {
    /// The model trained: catalog name or GGUF path (its types are kept when merging).
    pub student: &'a str,
    /// Prompts with their answers (see [`data::check_docs`]).
    pub docs: &'a [Doc],
    /// Where the documents came from, for the manifest.
    pub docs_source: &'a str,
    pub recipe: &'a HealRecipe,
    pub out_dir: &'a Path,
    pub seed: u64,
    pub progress: bool,
}

/// `manifest.json` of a healed, distilled or fine-tuned variant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealManifest {
    pub tool_version: String,
    /// `<train crate>.<recipe kind>` version of the code that made it.
    pub trainer_version: String,
    pub recipe: HealRecipe,
    pub recipe_toml: String,
    /// None for `sft`, which has no teacher.
    pub teacher: Option<String>,
    pub teacher_sha256: Option<String>,
    /// How the teacher ran: "GGUF dequantized to f32, forward only".
    pub teacher_weights: String,
    /// The trained model's folder (heal: the compressed variant's).
    pub variant_dir: PathBuf,
    /// sha256 of the GGUF that was trained.
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

/// Training and validation windows with the record of where they came from.
struct Prepared {
    train: Vec<Vec<u32>>,
    val: Vec<Vec<u32>>,
    record: DataRecord,
}

/// A teacher and how it runs.
struct Teacher<'a> {
    spec: &'a str,
    /// Expanded to f32 (heal: the same weights the quality baseline uses) or as stored.
    dequantize: bool,
}

/// What differs between the recipes; [`run`] does the rest.
struct Spec<'a> {
    kind: &'static str,
    teacher: Option<Teacher<'a>>,
    student: PathBuf,
    student_dir: PathBuf,
    student_manifest: Option<tradeoff_compress::Manifest>,
    /// Keep the student's zeros zero (a pruned variant's sparsity); quantized weights have
    /// exact zeros too, which must stay trainable.
    masks: bool,
    adapter_base: &'a str,
    recipe: &'a HealRecipe,
    out_dir: &'a Path,
    seed: u64,
    progress: bool,
    data: &'a dyn Fn(&Tokenizer, usize) -> Result<Prepared>,
}

fn gguf_path(spec: &str, role: &str) -> Result<PathBuf> {
    match tradeoff_engine::resolve(spec)? {
        ModelPath::Gguf(p) => Ok(p),
        ModelPath::HfDir(p) => Err(other(format!(
            "{}: the {role} must be a GGUF file",
            p.display()
        ))),
    }
}

/// The stdlib calibration text, scrubbed of the held-out quality corpus, and its checks.
fn stdlib_text() -> Result<(tradeoff_assets::corpus::Corpus, String, Vec<String>)> {
    let quality = tradeoff_assets::corpus::eval_corpus()?;
    let corpus = tradeoff_assets::corpus::calibration_corpus()?;
    let (text, scrubbed) = data::scrub(&corpus.text, &quality);
    let mut checks = data::check(&text, &quality)?;
    checks.push(format!(
        "{scrubbed} lines removed that were in 4-line runs of the quality corpus"
    ));
    Ok((corpus, text, checks))
}

pub fn heal(o: &HealOptions) -> Result<HealManifest> {
    let (corpus, text, checks) = stdlib_text()?;
    let r = o.recipe;
    let data = |tok: &Tokenizer, need: usize| {
        let wins = Windows::cut(tok, &text, r.train.seq, r.train.val_windows, o.seed)?;
        let train: Vec<Vec<u32>> = wins.train.into_iter().take(need).collect();
        Ok(Prepared {
            record: DataRecord {
                name: corpus.name.clone(),
                sha256: tradeoff_assets::sha256_hex(text.as_bytes()),
                files: corpus.files.clone(),
                checks: checks.clone(),
                train_windows: train.len(),
                val_windows: wins.val.len(),
                seq: r.train.seq,
                documents: Vec::new(),
            },
            train,
            val: wins.val,
        })
    };
    let manifest = tradeoff_compress::Manifest::load(o.variant).ok();
    run(&Spec {
        kind: "heal",
        teacher: Some(Teacher {
            spec: o.teacher,
            dequantize: true,
        }),
        student: o.variant.join("model.gguf"),
        student_dir: o.variant.to_path_buf(),
        // Pruned variants say so in their manifest; without one, linears with many zeros are
        // taken as pruned.
        masks: manifest
            .as_ref()
            .is_none_or(|m| m.nonzero_fraction.is_some()),
        student_manifest: manifest,
        adapter_base: o.teacher,
        recipe: r,
        out_dir: o.out_dir,
        seed: o.seed,
        progress: o.progress,
        data: &data,
    })
}

/// Windows of answers this often per window of stdlib text: mostly the task, some general
/// code so the student keeps what it knew.
const DOCS_PER_STDLIB: usize = 3;

/// `teacher` (catalog name or GGUF path) runs forward only, as stored.
pub fn distill(teacher: &str, o: &DocsOptions) -> Result<HealManifest> {
    let teacher = Teacher {
        spec: teacher,
        dequantize: false,
    };
    on_docs("distill", Some(teacher), o)
}

pub fn sft(o: &DocsOptions) -> Result<HealManifest> {
    if o.recipe.distill.alpha > 0.0 {
        return Err(other(format!(
            "recipe {}: sft has no teacher; set `distill.alpha = 0` (cross-entropy only)",
            o.recipe.name
        )));
    }
    on_docs("sft", None, o)
}

/// Trains a whole model on documents: nothing is masked (its zeros are rounding).
fn on_docs(kind: &'static str, teacher: Option<Teacher>, o: &DocsOptions) -> Result<HealManifest> {
    let data = docs_data(o.docs, o.docs_source, o.recipe, o.seed)?;
    let student = gguf_path(o.student, "student")?;
    run(&Spec {
        kind,
        teacher,
        student_dir: student.parent().unwrap_or(Path::new(".")).to_path_buf(),
        student,
        student_manifest: None,
        masks: false,
        adapter_base: o.student,
        recipe: o.recipe,
        out_dir: o.out_dir,
        seed: o.seed,
        progress: o.progress,
        data: &data,
    })
}

type DataFn<'a> = Box<dyn Fn(&Tokenizer, usize) -> Result<Prepared> + 'a>;

/// Windows of the documents ([`DOCS_PER_STDLIB`] to one of stdlib text), validation on held-out
/// document windows; the documents are checked first.
fn docs_data<'a>(
    docs: &'a [Doc],
    source: &'a str,
    r: &'a HealRecipe,
    seed: u64,
) -> Result<DataFn<'a>> {
    let (corpus, stdlib, mut checks) = stdlib_text()?;
    checks.extend(
        data::check_docs(docs)?
            .into_iter()
            .map(|c| format!("answers: {c}")),
    );
    let docs_text = data::join_docs(docs);
    Ok(Box::new(move |tok: &Tokenizer, need: usize| {
        let d = Windows::cut(tok, &docs_text, r.train.seq, r.train.val_windows, seed)?;
        let s = Windows::cut(tok, &stdlib, r.train.seq, 0, seed)?;
        let train = data::interleave(d.train, s.train, DOCS_PER_STDLIB, need);
        let n_docs = train.iter().filter(|(from_docs, _)| *from_docs).count();
        let mut checks = checks.clone();
        checks.push(format!(
            "{n_docs} training windows of answers, {} of stdlib text; validation: {} windows of answers",
            train.len() - n_docs,
            d.val.len()
        ));
        Ok(Prepared {
            record: DataRecord {
                name: format!("{source} + {}", corpus.name),
                sha256: tradeoff_assets::sha256_hex(format!("{docs_text}\n{stdlib}").as_bytes()),
                files: corpus.files.clone(),
                checks,
                train_windows: train.len(),
                val_windows: d.val.len(),
                seq: r.train.seq,
                documents: docs.iter().map(|d| d.id.clone()).collect(),
            },
            train: train.into_iter().map(|(_, w)| w).collect(),
            val: d.val,
        })
    }))
}

fn run(s: &Spec) -> Result<HealManifest> {
    let t0 = Instant::now();
    let r = s.recipe;
    std::fs::create_dir_all(s.out_dir).map_err(io(s.out_dir))?;
    let manifest_path = s.out_dir.join("manifest.json");
    if manifest_path.exists() {
        std::fs::remove_file(&manifest_path).map_err(io(&manifest_path))?;
    }
    let teacher = match &s.teacher {
        Some(t) => {
            let path = gguf_path(t.spec, "teacher")?;
            let engine = LocalEngine::load(
                &ModelPath::Gguf(path.clone()),
                LoadOptions {
                    dequantize: t.dequantize,
                    ..Default::default()
                },
            )?;
            let sha = tradeoff_assets::sha256_cached(&path)?;
            Some((engine, sha, teacher_vocab(&path)?))
        }
        None => None,
    };
    let student_tokenizer;
    let tokenizer = match &teacher {
        Some((engine, ..)) => &engine.tokenizer,
        None => {
            student_tokenizer =
                Tokenizer::from_gguf(&tradeoff_engine::gguf::Gguf::open(&s.student)?)?;
            &student_tokenizer
        }
    };
    let tc = &r.train;
    let steps = tc.steps();
    let prep = (s.data)(tokenizer, steps * tc.accum * tc.batch)?;
    let student_sha = tradeoff_assets::sha256_cached(&s.student)?;
    let teacher_id = s
        .teacher
        .as_ref()
        .zip(teacher.as_ref())
        .map_or("none".to_string(), |(t, (_, sha, _))| {
            format!("{sha}|{}", t.dequantize)
        });
    let key = tradeoff_assets::sha256_hex(
        format!(
            "{VERSION}|{}|{}|{teacher_id}|{student_sha}|{}|{}|{}",
            s.kind,
            r.to_toml(),
            s.masks,
            prep.record.sha256,
            s.seed
        )
        .as_bytes(),
    );
    let ts = Instant::now();
    let targets = match &teacher {
        Some((engine, ..)) => Some(teacher_targets(
            &engine.model,
            &prep,
            r.distill.top_k,
            s,
            &key,
        )?),
        None => None,
    };
    let teacher_s = ts.elapsed().as_secs_f64();
    let (teacher_sha, teacher_vocab) = match teacher {
        Some((_, sha, vocab)) => (Some(sha), Some(vocab)),
        None => (None, None),
    };

    let base = Base::load(&s.student, DType::F32, s.masks)?;
    if teacher_vocab.is_some_and(|v| v != base.cfg.vocab_size) {
        return Err(other(format!(
            "{}: its vocabulary differs from the teacher's; teacher and student must share a tokenizer",
            s.student.display()
        )));
    }
    let ad = base.adapters(&r.lora, s.seed)?;
    let ckpt = s.out_dir.join("checkpoint");
    let job = Job {
        train: &prep.train,
        val: &prep.val,
        teacher: targets.as_ref().map(|(t, v)| (t, v)),
        cfg: tc,
        optim: &r.optim,
        distill: &r.distill,
        seed: s.seed,
        checkpoint: Some((&ckpt, key)),
        progress: s.progress,
    };
    let history = trainer::train(&base, &ad, &job)?;

    let model_path = s.out_dir.join("model.gguf");
    let meta = vec![("tradeoff.recipe".to_string(), Value::String(r.to_toml()))];
    let tensor_types = crate::merge::merge_to_gguf(&s.student, &base, &ad, &meta, &model_path)?;
    let adapter_dir = PathBuf::from("adapter");
    crate::peft::export(
        &ad,
        &base.cfg,
        s.adapter_base,
        &s.out_dir.join(&adapter_dir),
    )?;
    let masked_linears = base
        .layers
        .iter()
        .flat_map(|l| &l.lin)
        .filter(|f| f.mask.is_some())
        .count();
    let teacher_weights = match &s.teacher {
        Some(t) if t.dequantize => {
            "GGUF dequantized to f32, forward only (as the quality baseline)"
        }
        Some(_) => "GGUF as stored, on the engine's kernels, forward only",
        None => "no teacher: cross-entropy on the data",
    };
    let m = HealManifest {
        tool_version: env!("CARGO_PKG_VERSION").into(),
        trainer_version: format!("{VERSION}.{}", s.kind),
        recipe: r.clone(),
        recipe_toml: r.to_toml(),
        teacher: s.teacher.as_ref().map(|t| t.spec.to_string()),
        teacher_sha256: teacher_sha,
        teacher_weights: teacher_weights.into(),
        variant_dir: s.student_dir.clone(),
        variant_sha256: student_sha,
        variant_manifest: s.student_manifest.clone(),
        data: prep.record,
        seed: s.seed,
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
    save_manifest(&m, s.out_dir)?;
    Ok(m)
}

fn teacher_vocab(p: &Path) -> Result<usize> {
    Ok(tradeoff_engine::Config::from_gguf(&tradeoff_engine::gguf::Gguf::open(p)?)?.vocab_size)
}

/// Teacher targets of the training and validation windows, from the cache when `key` matches.
fn teacher_targets(
    model: &tradeoff_engine::Model,
    prep: &Prepared,
    k: usize,
    s: &Spec,
    key: &str,
) -> Result<(TeacherCache, TeacherCache)> {
    let path = |what: &str| s.out_dir.join(format!("teacher-{what}-{}.bin", &key[..16]));
    if let (Ok(t), Ok(v)) = (
        TeacherCache::load(&path("train")),
        TeacherCache::load(&path("val")),
    ) {
        return Ok((t, v));
    }
    let bar = if s.progress {
        indicatif::ProgressBar::new((prep.train.len() + prep.val.len()) as u64)
            .with_message("teacher")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let t = TeacherCache::compute(model, &prep.train, k, || bar.inc(1))?;
    let v = TeacherCache::compute(model, &prep.val, k, || bar.inc(1))?;
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
