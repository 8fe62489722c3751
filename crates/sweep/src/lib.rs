//! `tradeoff sweep`: one config → models × compression recipes × measurements, every result
//! in the run store.
//!
//! Everything is keyed by content: a variant folder by the hash of every input that decides
//! the artifact ([`key::VariantInputs`]: source, recipe, compressor version, calibration), a
//! result by the hash of every input that decides it ([`key::ResultInputs`]: variant,
//! benchmark and data, generation, prompt, [`key::RESULTS_VERSION`], kernels, sandbox,
//! toolchain, time-limit rule). So a rerun reuses what exists, a changed input is a miss that
//! is computed afresh, and a run killed at any point resumes where it stopped: artifacts are
//! written to temporary names and renamed, and each finished problem's samples are committed
//! as it finishes.

pub mod config;
pub mod key;

pub use config::SweepConfig;
pub use key::{ResultInputs, VariantInputs, RESULTS_VERSION};

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;
use tradeoff_compress::{Calibration, Manifest, Recipe};
use tradeoff_engine::{
    Engine, GenParams, LoadOptions, LocalEngine, ModelPath, RemoteEngine, TemplateParts,
};
use tradeoff_eval::record::TimeRule;
use tradeoff_eval::{
    bench, EvalOptions, Evaluator, ExecOptions, Executor, ProblemOutcome, SampleOutcome, Sandbox,
    Style,
};
use tradeoff_measure::perf::PerfResult;
use tradeoff_measure::{quality, Baseline, PerfOptions, QualityOptions};
use tradeoff_store::{Dataset, Kind, ResultId, Role, RunSpec, Started, Status, Store, VariantSpec};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {msg}", path.display())]
    Config { path: PathBuf, msg: String },
    #[error(transparent)]
    Store(#[from] tradeoff_store::Error),
    #[error(transparent)]
    Compress(#[from] tradeoff_compress::Error),
    #[error(transparent)]
    Engine(#[from] tradeoff_engine::Error),
    #[error(transparent)]
    Eval(#[from] tradeoff_eval::Error),
    #[error(transparent)]
    Measure(#[from] tradeoff_measure::Error),
    #[error(transparent)]
    Asset(#[from] tradeoff_assets::AssetError),
    #[error(transparent)]
    Train(#[from] tradeoff_train::Error),
    #[error("{0}")]
    Step(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Where things go and how the sweep runs.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub store: PathBuf,
    /// Compressed artifacts, one folder each.
    pub variants_dir: PathBuf,
    /// Recipe files and calibration paths in the config are relative to this folder.
    pub config_dir: PathBuf,
    /// The `tradeoff` binary: perf is measured in a child process so that peak memory and
    /// load time are the variant's own. `None`: measure in this process.
    pub perf_exe: Option<PathBuf>,
    /// Programs executed at once (default: all cores).
    pub jobs: Option<usize>,
    pub threads: Option<usize>,
    /// Sequences decoded together while evaluating (default: [`tradeoff_engine::auto_batch`]).
    pub batch: Option<usize>,
    pub progress: bool,
    /// Evaluate in a sandbox weaker than the full one (results say so) instead of refusing.
    pub allow_weak_sandbox: bool,
}

impl SweepOptions {
    /// The defaults: store and variants under the cache dir, overridable by `TRADEOFF_STORE`
    /// and `TRADEOFF_VARIANTS`.
    pub fn new(config_dir: &Path) -> Self {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self {
            store: env("TRADEOFF_STORE").unwrap_or_else(Store::default_path),
            variants_dir: env("TRADEOFF_VARIANTS")
                .unwrap_or_else(|| tradeoff_assets::cache_dir().join("variants")),
            config_dir: config_dir.to_path_buf(),
            perf_exe: None,
            jobs: None,
            threads: None,
            batch: None,
            progress: true,
            allow_weak_sandbox: false,
        }
    }
}

/// How one step of the sweep ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Computed,
    /// Found in the store or on disk (same hash): nothing recomputed.
    Reused,
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct Step {
    pub variant: String,
    pub what: String,
    pub outcome: Outcome,
    pub seconds: f64,
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub run_id: i64,
    pub run_name: String,
    pub resumed: bool,
    pub steps: Vec<Step>,
}

impl Summary {
    pub fn failures(&self) -> impl Iterator<Item = &Step> {
        self.steps
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Failed(_)))
    }
}

/// A variant ready to measure.
struct Built {
    label: String,
    id: String,
    model: String,
    at: At,
}

/// Where a variant's weights are.
enum At {
    /// A file this process loads.
    File {
        path: PathBuf,
        /// The model's distributed file, whose dequantized weights are the quality baseline.
        source: ModelPath,
        source_sha: String,
    },
    /// Behind an OpenAI-compatible server: only its answers and its speed can be measured.
    Endpoint {
        url: String,
        model: Option<String>,
        template: Option<TemplateParts>,
    },
}

struct Sweep<'a> {
    cfg: &'a SweepConfig,
    opts: &'a SweepOptions,
    store: Mutex<Store>,
    run: i64,
    steps: Vec<Step>,
    n_steps: usize,
    exec: Option<Executor>,
    baselines: BTreeMap<String, Baseline>,
}

/// Runs (or resumes) the sweep `cfg` whose file text is `text`.
pub fn run(cfg: &SweepConfig, text: &str, opts: &SweepOptions) -> Result<Summary> {
    // Every model must be there before anything is recorded (the error names the pull command).
    let sources = cfg
        .models
        .iter()
        .map(|m| tradeoff_engine::resolve(m))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut store = Store::open(&opts.store)?;
    let mut spec = RunSpec::new(text).named(&cfg.name);
    spec.same_config = Some(same_toml);
    if cfg.perf.is_none() {
        spec = spec.portable();
    }
    let begun = store.begin_run(&spec)?;
    let benches = cfg.eval.as_ref().map_or(0, |e| e.benchmarks.len());
    let per_variant =
        1 + benches + usize::from(cfg.quality.is_some()) + usize::from(cfg.perf.is_some());
    let per_endpoint = 1 + benches + usize::from(cfg.perf.is_some());
    let remote = cfg.variants.iter().filter(|v| v.endpoint.is_some()).count();
    let mut sw = Sweep {
        cfg,
        opts,
        store: Mutex::new(store),
        run: begun.id,
        steps: Vec::new(),
        n_steps: cfg.models.len() * (cfg.variants.len() - remote) * per_variant
            + remote * per_endpoint,
        exec: None,
        baselines: BTreeMap::new(),
    };
    let baseline = cfg.baseline();
    for (mi, (model, source)) in cfg.models.iter().zip(sources).enumerate() {
        let source_sha = quality::model_id(&source)?;
        for (vi, v) in cfg.variants.iter().enumerate() {
            if v.endpoint.is_some() {
                continue;
            }
            let role = if baseline == Some((mi, vi)) {
                Role::Baseline
            } else {
                Role::Candidate
            };
            let label = if cfg.models.len() > 1 {
                format!("{}/{}", model_stem(model), v.label())
            } else {
                v.label()
            };
            let built = match sw.step(&label, "build", |sw| {
                sw.build(model, &source, &source_sha, v, &label, role)
            }) {
                Some(b) => b,
                None => {
                    sw.n_steps -= per_variant - 1;
                    continue;
                }
            };
            sw.measure(&built);
        }
    }
    for (vi, v) in cfg.variants.iter().enumerate() {
        let Some((url, model)) = v.endpoint() else {
            continue;
        };
        let role = if baseline.map(|b| b.1) == Some(vi) {
            Role::Baseline
        } else {
            Role::Candidate
        };
        let label = v.label();
        let template = v.chat_template.as_deref();
        match sw.step(&label, "connect", |sw| {
            sw.connect(url, model, template, &label, role)
        }) {
            Some(b) => sw.measure(&b),
            None => sw.n_steps -= per_endpoint - 1,
        }
    }
    let failed = sw
        .steps
        .iter()
        .any(|s| matches!(s.outcome, Outcome::Failed(_)));
    let mut store = sw.store.into_inner().unwrap_or_else(|e| e.into_inner());
    store.end_run(begun.id, if failed { Status::Failed } else { Status::Done })?;
    Ok(Summary {
        run_id: begun.id,
        run_name: begun.name,
        resumed: begun.resumed,
        steps: sw.steps,
    })
}

/// Whether two config texts are the same TOML once parsed: a comment or layout edited between
/// two runs of a config does not make it another run.
fn same_toml(a: &str, b: &str) -> bool {
    let parse = |t: &str| toml::from_str::<toml::Value>(t).ok();
    parse(a).is_some_and(|a| Some(a) == parse(b))
}

#[cfg(test)]
#[test]
fn configs_differing_in_comments_and_layout_are_the_same() {
    let a = "name = \"x\"\nmodels = [\"m\"]  # the model\n[eval]\nlimit = 3\n";
    let b = "# edited\nname = \"x\"\nmodels = [ \"m\" ]\n\n[eval]\nlimit = 3 # fewer\n";
    assert!(same_toml(a, b));
    assert!(!same_toml(a, &b.replace("limit = 3", "limit = 4")));
    assert!(!same_toml("not toml [", "not toml ["));
}

/// A short model name for labels: the catalog name as it is ("qwen2.5-coder-0.5b"), a file's
/// stem, a folder's name; for the `model.gguf` that `tradeoff compress` and `train heal` write,
/// its folder's name (two such variants would otherwise both be "model").
fn model_stem(model: &str) -> String {
    let path = Path::new(model);
    let name = if path.is_file() {
        match path.file_stem() {
            Some(s) if s == "model" => path.parent().and_then(|d| d.file_name()).or(Some(s)),
            other => other,
        }
    } else {
        path.file_name()
    };
    name.map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| model.to_string())
}

#[cfg(test)]
#[test]
fn model_stem_keeps_catalog_names_whole() {
    assert_eq!(model_stem("qwen2.5-coder-0.5b"), "qwen2.5-coder-0.5b");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("my-model.q4.gguf");
    std::fs::write(&f, b"").unwrap();
    assert_eq!(model_stem(f.to_str().unwrap()), "my-model.q4");
    let variant = dir.path().join("wanda24-healed");
    std::fs::create_dir(&variant).unwrap();
    std::fs::write(variant.join("model.gguf"), b"").unwrap();
    let f = variant.join("model.gguf");
    assert_eq!(model_stem(f.to_str().unwrap()), "wanda24-healed");
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A healed variant: its artifact and manifest, and whether an earlier sweep made it.
struct Healed {
    path: PathBuf,
    manifest: tradeoff_train::HealManifest,
    reused: bool,
}

/// A step's result: computed now, or reused.
enum Done<T> {
    Computed(T),
    Reused(T),
}

impl Sweep<'_> {
    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one step with one retry (a transient failure, e.g. a killed child process, should
    /// not sink a long sweep); a step that fails twice is recorded and the sweep goes on.
    fn step<T>(
        &mut self,
        variant: &str,
        what: &str,
        mut f: impl FnMut(&mut Self) -> Result<Done<T>>,
    ) -> Option<T> {
        let i = self.steps.len() + 1;
        if self.opts.progress {
            eprintln!("[{i}/{}] {variant}: {what}", self.n_steps);
        }
        let t = Instant::now();
        let mut res = f(self);
        if let Err(e) = &res {
            tracing::warn!("{variant}: {what} failed ({e}); retrying once");
            res = f(self);
        }
        let (outcome, value) = match res {
            Ok(Done::Computed(v)) => (Outcome::Computed, Some(v)),
            Ok(Done::Reused(v)) => (Outcome::Reused, Some(v)),
            Err(e) => {
                eprintln!("[{i}/{}] {variant}: {what} FAILED: {e}", self.n_steps);
                (Outcome::Failed(e.to_string()), None)
            }
        };
        if self.opts.progress && outcome == Outcome::Reused {
            eprintln!("    reused (same inputs as an earlier run)");
        }
        self.steps.push(Step {
            variant: variant.to_string(),
            what: what.to_string(),
            outcome,
            seconds: t.elapsed().as_secs_f64(),
        });
        value
    }

    /// A recipe as the config names it: a TOML file relative to the config file, else a
    /// built-in name as it is.
    fn recipe_arg(&self, name: &str) -> String {
        let p = self.opts.config_dir.join(name);
        if name.ends_with(".toml") && p.is_file() {
            p.to_string_lossy().into_owned()
        } else {
            name.to_string()
        }
    }

    /// Heals the compressed variant at `compressed` (its `model.gguf`) with the heal recipe
    /// `h`, into a folder beside it named by the recipe and seed; reused when its manifest
    /// says it healed this very artifact.
    fn heal(&self, model: &str, compressed: &Path, h: &str) -> Result<Healed> {
        let recipe = tradeoff_train::HealRecipe::load(&self.recipe_arg(h))?;
        let variant = compressed.parent().unwrap_or(Path::new("."));
        let key = tradeoff_assets::sha256_hex(
            format!(
                "{}|{}|{}",
                tradeoff_train::recipe::VERSION,
                recipe.to_toml(),
                self.cfg.seed
            )
            .as_bytes(),
        );
        let dir = variant.with_file_name(format!(
            "{}-heal-{}",
            variant
                .file_name()
                .map_or("variant".into(), |n| n.to_string_lossy()),
            &key[..12]
        ));
        let variant_sha = tradeoff_assets::sha256_cached(compressed)?;
        let done = std::fs::read(dir.join("manifest.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<tradeoff_train::HealManifest>(&b).ok())
            .filter(|m| m.variant_sha256 == variant_sha && dir.join("model.gguf").is_file());
        let reused = done.is_some();
        let manifest = match done {
            Some(m) => m,
            None => tradeoff_train::heal(&tradeoff_train::HealOptions {
                teacher: model,
                variant,
                recipe: &recipe,
                out_dir: &dir,
                seed: self.cfg.seed,
                progress: self.opts.progress,
            })?,
        };
        Ok(Healed {
            path: dir.join("model.gguf"),
            manifest,
            reused,
        })
    }

    fn build(
        &mut self,
        model: &str,
        source: &ModelPath,
        source_sha: &str,
        v: &config::VariantConfig,
        label: &str,
        role: Role,
    ) -> Result<Done<Built>> {
        let name = v.recipe.as_deref().unwrap_or("original");
        let recipe = Recipe::load(&self.recipe_arg(name))?;
        let (mut path, mut spec, mut reused) = if recipe.is_original() {
            let path = source.path().to_path_buf();
            let mut spec = VariantSpec::new(label, model);
            spec.recipe = json!({ "name": "original" });
            spec.note = Some(
                "the model as distributed; quality is measured against these weights \
                 dequantized to f32 (no f16 original exists offline)"
                    .into(),
            );
            (path, spec, false)
        } else {
            let ModelPath::Gguf(src) = source else {
                return Err(Error::Step(format!(
                    "recipe `{}` needs a GGUF source; {} is a safetensors folder",
                    recipe.name,
                    source.path().display()
                )));
            };
            let calibration = match recipe.needs_calibration() {
                true => Some(key::CalibrationInputs {
                    sha256: match &v.calibration {
                        Some(p) => tradeoff_store::hash_artifact(&self.opts.config_dir.join(p))?.0,
                        None => tradeoff_assets::corpus::calibration_corpus()?.sha256,
                    },
                    seed: self.cfg.seed,
                }),
                false => None,
            };
            let inputs = VariantInputs::new(&recipe, source_sha, calibration);
            // Named by every input, so another compressor version, recipe, source or
            // calibration is another folder (older folders stay on disk, unused).
            let dir = self.opts.variants_dir.join(format!(
                "{}-{}-{}-{}",
                sanitize(&model_stem(model)),
                sanitize(&recipe.name),
                inputs.short_key(),
                &source_sha[..8.min(source_sha.len())]
            ));
            let manifest = match Manifest::load(&dir) {
                Ok(m)
                    if m.source_sha256 == source_sha
                        && m.compressor_version == inputs.compressor_version
                        && dir.join("model.gguf").is_file() =>
                {
                    Some(m)
                }
                _ => None,
            };
            let reused = manifest.is_some();
            let manifest = match manifest {
                Some(m) => m,
                None => {
                    let calibration = match &v.calibration {
                        Some(p) => Calibration::Path(self.opts.config_dir.join(p)),
                        None => Calibration::Stdlib,
                    };
                    let bars: Box<dyn tradeoff_compress::Progress> = if self.opts.progress {
                        Box::new(tradeoff_compress::Bars::new())
                    } else {
                        Box::new(tradeoff_compress::Quiet)
                    };
                    tradeoff_compress::compress(&tradeoff_compress::Options {
                        model: &src.to_string_lossy(),
                        recipe: &recipe,
                        out_dir: &dir,
                        calibration,
                        seed: self.cfg.seed,
                        progress: bars.as_ref(),
                    })?
                }
            };
            let path = dir.join("model.gguf");
            let mut spec = VariantSpec::new(label, model);
            spec.recipe = serde_json::to_value(&recipe).unwrap_or(Value::Null);
            spec.manifest = serde_json::to_value(&manifest).unwrap_or(Value::Null);
            (path, spec, reused)
        };
        if let Some(h) = &v.heal {
            let healed = self.heal(model, &path, h)?;
            spec.recipe = json!({ "compress": spec.recipe, "heal": healed.manifest.recipe });
            spec.manifest = json!({ "compress": spec.manifest, "heal": healed.manifest });
            path = healed.path;
            reused &= healed.reused;
        }
        spec.source_sha256 = Some(source_sha.to_string());
        let spec = spec.with_artifact(&path)?;
        let up = self.store().upsert_variant(self.run, &spec, role)?;
        let b = Built {
            label: label.to_string(),
            id: up.id,
            model: model.to_string(),
            at: At::File {
                path,
                source: source.clone(),
                source_sha: source_sha.to_string(),
            },
        };
        Ok(if reused || up.reused {
            Done::Reused(b)
        } else {
            Done::Computed(b)
        })
    }

    /// A variant served elsewhere: its identity is the server's URL, the model id and what
    /// the server says of that model (`/v1/models`), so a server that swaps its model behind
    /// the same URL makes a new variant instead of reusing the old one's results.
    fn connect(
        &mut self,
        url: &str,
        model: Option<&str>,
        template_of: Option<&str>,
        label: &str,
        role: Role,
    ) -> Result<Done<Built>> {
        let template = match template_of {
            Some(m) => Some(
                tradeoff_engine::chat_template_of(&tradeoff_engine::resolve(m)?)?.ok_or_else(
                    || Error::Step(format!("chat_template: {m} carries no chat template")),
                )?,
            ),
            None => None,
        };
        let e = remote_engine(url, model, template.as_ref())?;
        let id = e.model_id().to_string();
        let listed = e.model_listing()?.unwrap_or(Value::Null);
        let template_sha = template
            .as_ref()
            .map(|t| tradeoff_store::sha256_str(&format!("{}\n{}\n{}", t.source, t.bos, t.eos)));
        let mut spec = VariantSpec::new(label, format!("{url}#{id}"));
        spec.recipe = json!({ "endpoint": url, "model": id, "chat_template_sha256": template_sha });
        spec.manifest = json!({
            "endpoint": url,
            "model": id,
            "server_lists": listed,
            "chat_template_from": template_of,
            "chat_template_sha256": template_sha,
        });
        spec.note = Some(
            "served by an OpenAI-compatible server: tradeoff measured its answers and speed \
             from this machine and cannot see its weights, its quantization or what data it saw"
                .into(),
        );
        let up = self.store().upsert_variant(self.run, &spec, role)?;
        let b = Built {
            label: label.to_string(),
            id: up.id,
            model: format!("{url}#{id}"),
            at: At::Endpoint {
                url: url.to_string(),
                model: Some(id),
                template,
            },
        };
        Ok(if up.reused {
            Done::Reused(b)
        } else {
            Done::Computed(b)
        })
    }

    fn measure(&mut self, b: &Built) {
        let mut engine: Option<LocalEngine> = None;
        if let Some(e) = self.cfg.eval.clone() {
            for name in &e.benchmarks {
                self.step(&b.label, name, |sw| sw.bench(b, &e, name, &mut engine));
            }
        }
        let file = matches!(b.at, At::File { .. });
        if let (Some(q), true) = (self.cfg.quality.clone(), file) {
            self.step(&b.label, "quality vs baseline", |sw| {
                sw.quality(b, &q, &mut engine)
            });
        }
        drop(engine);
        if let Some(p) = self.cfg.perf.clone() {
            self.step(&b.label, "perf", |sw| sw.perf(b, &p));
        }
    }

    fn engine<'e>(
        &self,
        path: &Path,
        slot: &'e mut Option<LocalEngine>,
    ) -> Result<&'e mut LocalEngine> {
        if slot.is_none() {
            let mp = tradeoff_engine::resolve(&path.to_string_lossy())?;
            *slot = Some(LocalEngine::load(
                &mp,
                LoadOptions {
                    max_batch: self.opts.batch,
                    ..Default::default()
                },
            )?);
        }
        Ok(slot.as_mut().expect("loaded above"))
    }

    fn bench(
        &mut self,
        b: &Built,
        e: &config::EvalConfig,
        name: &str,
        engine: &mut Option<LocalEngine>,
    ) -> Result<Done<()>> {
        let bench = bench::load(
            name,
            &bench::LoadOptions {
                cache_dir: tradeoff_assets::cache_dir(),
                data: Some(bench::default_mbpp_path()),
                // `split` is MBPP's: the other benchmarks have none and refuse one.
                split: e.split.clone().filter(|_| name == "mbpp"),
            },
        )?;
        let style = if e.style == "base" {
            Style::Base
        } else {
            Style::Instruct
        };
        let params = GenParams {
            max_new_tokens: e.max_new_tokens,
            temperature: e.temperature,
            seed: self.cfg.seed,
            ..GenParams::default()
        };
        let ks: Vec<usize> = [1, 5, 10, 100].into_iter().filter(|&k| k <= e.n).collect();
        let time_rule = TimeRule::default();
        // Programs run: the sandbox, toolchain and time limits decide the outcome, so they
        // are known (the toolchain found) before the store is asked.
        let executed = bench.scoring() == tradeoff_eval::Scoring::Execution;
        if executed {
            self.executor(name, bench.language())?;
        }
        let ds = bench.dataset();
        let mut inputs = ResultInputs::new(&b.id, Kind::Bench, name);
        inputs.measured.dataset = Some(Dataset {
            name: ds.name.clone(),
            sha256: ds.sha256.clone(),
        });
        inputs.measured.prompt_template = Some(bench.template(style));
        inputs.measured.generation = Some(serde_json::to_value(&params).unwrap_or(Value::Null));
        inputs.measured.seed = self.cfg.seed;
        inputs.measured.n = e.n;
        inputs.measured.k = ks.clone();
        inputs.measured.params =
            json!({ "limit": e.limit, "style": e.style, "split": bench.split() });
        // Version 1 stays out of the key: results stored before versions existed keep theirs.
        if bench.scoring_version() != 1 {
            inputs.measured.params["scoring_version"] = json!(bench.scoring_version());
        }
        inputs.kernels = kernels_of(b);
        if executed {
            let exec = self.exec.as_ref().expect("created above");
            inputs.sandbox = Some(key::isolation_key(exec.sandbox().isolation()));
            inputs.toolchain = Some(exec.toolchain(bench.language())?);
            inputs.time_rule = Some(time_rule.clone());
        }
        let (id, done) = match self.store().begin_result(self.run, &inputs.spec())? {
            Started::Cached(_) => return Ok(Done::Reused(())),
            Started::Todo { id, done } => (id, done),
        };
        let resume = if done.is_empty() {
            BTreeMap::new()
        } else {
            self.resumed_problems(id, e.n)?
        };
        if !resume.is_empty() && self.opts.progress {
            eprintln!("    resuming: {} problems already done", resume.len());
        }
        self.executor(name, bench.language())?;
        let exec = self.exec.as_ref().expect("created above");
        let mut opts = EvalOptions {
            style,
            n: e.n,
            k: ks,
            params,
            limit: e.limit,
            seed: self.cfg.seed,
            progress: self.opts.progress,
            time_rule,
            ..EvalOptions::default()
        };
        if let Some(j) = self.opts.jobs {
            opts.jobs = j.max(1);
        }
        let store = &self.store;
        let commit = |p: &ProblemOutcome| {
            let gen_s = p.timing.as_ref().map(|t| t.total_s);
            let mut st = store.lock().unwrap_or_else(|e| e.into_inner());
            for (i, s) in p.samples.iter().enumerate() {
                let row = tradeoff_store::SampleRow::from_outcome(&p.task_id, i as u32, s, gen_s);
                if let Err(e) = st.add_sample(id, &row) {
                    tracing::warn!("could not commit {} sample {i}: {e}", p.task_id);
                }
            }
        };
        let mut ev = Evaluator::new(bench.as_ref(), exec, opts);
        ev.resume = resume;
        ev.on_problem = Some(&commit);
        let mut remote;
        let eng: &mut dyn Engine = match &b.at {
            At::File { path, .. } => self.engine(path, engine)?,
            At::Endpoint {
                url,
                model,
                template,
            } => {
                remote = remote_engine(url, model.as_deref(), template.as_ref())?;
                &mut remote
            }
        };
        let res = match ev.model(eng) {
            Ok(r) => r,
            Err(err) => {
                self.store().fail_result(id, &err.to_string())?;
                return Err(err.into());
            }
        };
        if self.opts.progress {
            // Every rate the result has (pass@k, exact_fix, regression, BLEU, ...), CodeBLEU's
            // components left to the report.
            let line: Vec<String> = res
                .metrics
                .iter()
                .filter(|m| !m.name.starts_with("codebleu_"))
                .map(|m| {
                    let ci = m
                        .ci95
                        .map(|(lo, hi)| format!(" [{:.1}, {:.1}]", 100.0 * lo, 100.0 * hi))
                        .unwrap_or_default();
                    format!("{} {:.1}%{ci}", m.name, 100.0 * m.value)
                })
                .collect();
            if !line.is_empty() {
                eprintln!("    {}", line.join(" · "));
            }
        }
        self.store().finish_bench(id, &res)?;
        Ok(Done::Computed(()))
    }

    /// The executor (made on first use, with its sandbox), with `lang`'s toolchain found.
    fn executor(&mut self, bench: &str, lang: tradeoff_eval::Language) -> Result<()> {
        if self.exec.is_none() {
            let sandbox = Sandbox::with_config(tradeoff_eval::SandboxConfig {
                allow_weak: self.opts.allow_weak_sandbox,
                ..Default::default()
            })?;
            tracing::info!("sandbox: {}", sandbox.isolation().describe());
            self.exec = Some(Executor::new(
                sandbox,
                ExecOptions {
                    python: None,
                    warm_python: true,
                },
            ));
        }
        let exec = self.exec.as_ref().expect("created above");
        match exec.prepare(lang) {
            Err(tradeoff_eval::Error::Toolchain(why)) => {
                Err(Error::Step(format!("{bench} cannot run here: {why}")))
            }
            other => Ok(other?),
        }
    }

    /// Problems an interrupted attempt finished (all `n` samples committed), rebuilt from the
    /// store so the evaluator generates only the rest.
    fn resumed_problems(&self, id: ResultId, n: usize) -> Result<BTreeMap<String, ProblemOutcome>> {
        let rows = self.store().samples(id)?;
        let mut by_task: BTreeMap<String, Vec<tradeoff_store::SampleRow>> = BTreeMap::new();
        for r in rows {
            by_task.entry(r.task_id.clone()).or_default().push(r);
        }
        let mut out = BTreeMap::new();
        for (task, mut rows) in by_task {
            rows.sort_by_key(|r| r.sample);
            if rows.len() < n {
                continue;
            }
            let samples = rows
                .iter()
                .map(|r| SampleOutcome {
                    completion: r.completion.clone().unwrap_or_default(),
                    program: String::new(),
                    status: serde_json::from_value(json!(r.status))
                        .unwrap_or(tradeoff_eval::Status::Error),
                    passed: r.passed,
                    detail: r.detail.clone(),
                    exec_s: r.exec_s,
                    cpu_s: None,
                    score: None,
                    tokens: r.tokens.map(|t| t as usize),
                    finish: None,
                    cases: r.cases.clone(),
                })
                .collect();
            out.insert(
                task.clone(),
                ProblemOutcome {
                    task_id: task,
                    prompt: String::new(),
                    time_limit_s: None,
                    timing: None,
                    samples,
                },
            );
        }
        Ok(out)
    }

    fn quality(
        &mut self,
        b: &Built,
        q: &config::QualityConfig,
        engine: &mut Option<LocalEngine>,
    ) -> Result<Done<()>> {
        let o = QualityOptions {
            ctx: q.ctx,
            max_chunks: q.chunks,
            top_k: q.top_k,
            seed: self.cfg.seed,
            ..Default::default()
        };
        // Greedy continuations start inside a window: keep their prompt within one.
        let o = QualityOptions {
            continuation_prompt: o.continuation_prompt.min(q.ctx / 2),
            ..o
        };
        let At::File {
            path,
            source,
            source_sha,
        } = &b.at
        else {
            return Err(Error::Step(
                "quality vs baseline needs the variant's weights; a served one has none here"
                    .into(),
            ));
        };
        let corpus = tradeoff_assets::corpus::eval_corpus()?;
        let src_sha = source_sha.clone();
        let mut inputs = ResultInputs::new(&b.id, Kind::Quality, "quality");
        inputs.measured.dataset = Some(Dataset {
            name: corpus.name.clone(),
            sha256: corpus.sha256.clone(),
        });
        inputs.measured.seed = self.cfg.seed;
        inputs.measured.params = json!({ "options": o, "baseline_sha256": src_sha, "baseline_weights": "dequantized f32" });
        inputs.kernels = kernels_of(b);
        let id = match self.store().begin_result(self.run, &inputs.spec())? {
            Started::Cached(_) => return Ok(Done::Reused(())),
            Started::Todo { id, .. } => id,
        };
        if !self.baselines.contains_key(&src_sha) {
            let base =
                Baseline::obtain(&b.model, source, &corpus, &o, &tradeoff_assets::cache_dir())?;
            self.baselines.insert(src_sha.clone(), base);
        }
        let eng = self.engine(path, engine)?;
        let base = &self.baselines[&src_sha];
        let vsha = tradeoff_assets::sha256_cached(path)?;
        let r = quality::measure(
            &eng.model,
            &eng.tokenizer,
            &corpus,
            base,
            &o,
            (&b.label, Some(&vsha)),
        )?;
        if self.opts.progress {
            let get = |n: &str| r.metric(n).map_or(f64::NAN, |m| m.value);
            eprintln!(
                "    KLD {:.4}  PPL {:.3} (baseline {:.3})  top-1 {:.1}%",
                get("kld_mean"),
                get("ppl"),
                get("ppl_base"),
                100.0 * get("top1_agreement")
            );
        }
        self.store().finish_result(id, &r.metrics, &r)?;
        Ok(Done::Computed(()))
    }

    fn perf(&mut self, b: &Built, p: &config::PerfConfig) -> Result<Done<()>> {
        let o = PerfOptions {
            prompts: p.prompts,
            max_new_tokens: p.max_new_tokens,
            concurrency: p.concurrency,
            price_per_hour: p.price_per_hour,
            seed: self.cfg.seed,
            ..Default::default()
        };
        let mut inputs = ResultInputs::new(&b.id, Kind::Perf, "perf");
        inputs.measured.seed = self.cfg.seed;
        inputs.measured.params = json!({ "options": o, "threads": self.opts.threads });
        inputs.kernels = kernels_of(b);
        let id = match self.store().begin_result(self.run, &inputs.spec())? {
            Started::Cached(_) => return Ok(Done::Reused(())),
            Started::Todo { id, .. } => id,
        };
        let r = match (&b.at, &self.opts.perf_exe) {
            (
                At::Endpoint {
                    url,
                    model,
                    template,
                },
                _,
            ) => remote_perf(
                remote_engine(url, model.as_deref(), template.as_ref())?,
                url,
                &o,
            )?,
            (At::File { path, .. }, Some(exe)) => self.perf_child(exe, path, p)?,
            (At::File { path, .. }, None) => {
                let t = Instant::now();
                let mp = tradeoff_engine::resolve(&path.to_string_lossy())?;
                let info = tradeoff_engine::inspect(&mp)?;
                let mut e = LocalEngine::load(&mp, LoadOptions::default())?;
                e.opts.max_batch = Some(p.concurrency.max(1));
                let file = tradeoff_measure::perf::FileInfo {
                    path: info.path.clone(),
                    bytes: info.file_bytes,
                    n_params: info.n_params,
                    bits_per_weight: info.bits_per_weight,
                };
                tradeoff_measure::perf::run(
                    &mut e,
                    &o,
                    Some(t.elapsed().as_secs_f64()),
                    Some(file),
                )?
            }
        };
        if self.opts.progress {
            let get = |n: &str| r.metric(n).map_or(f64::NAN, |m| m.value);
            eprintln!(
                "    decode {:.1} tok/s  TTFT {:.3} s  p90 {:.2} s  peak RSS {:.0} MiB",
                get("decode_tok_s"),
                get("ttft_s"),
                get("latency_p90_s"),
                get("peak_rss_bytes") / (1 << 20) as f64
            );
        }
        self.store().finish_result(id, &r.metrics, &r)?;
        Ok(Done::Computed(()))
    }

    /// `tradeoff bench` in a child process: its peak RSS and load time are the variant's.
    fn perf_child(&self, exe: &Path, path: &Path, p: &config::PerfConfig) -> Result<PerfResult> {
        let tmp = self
            .opts
            .variants_dir
            .join(format!(".perf-{}.json", std::process::id()));
        std::fs::create_dir_all(&self.opts.variants_dir)
            .map_err(|e| Error::Step(format!("{}: {e}", self.opts.variants_dir.display())))?;
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("bench")
            .arg("--model")
            .arg(path)
            .args(["--prompts", &p.prompts.to_string()])
            .args(["--max-new-tokens", &p.max_new_tokens.to_string()])
            .args(["--concurrency", &p.concurrency.to_string()])
            .args(["--price-per-hour", &p.price_per_hour.to_string()])
            .arg("--out")
            .arg(&tmp)
            .stdout(std::process::Stdio::null());
        if let Some(t) = self.opts.threads {
            cmd.args(["--threads", &t.to_string()]);
        }
        let status = cmd
            .status()
            .map_err(|e| Error::Step(format!("running {} bench: {e}", exe.display())))?;
        if !status.success() {
            return Err(Error::Step(format!(
                "`tradeoff bench` exited with {status}"
            )));
        }
        let text = std::fs::read_to_string(&tmp)
            .map_err(|e| Error::Step(format!("{}: {e}", tmp.display())))?;
        let _ = std::fs::remove_file(&tmp);
        serde_json::from_str(&text).map_err(|e| Error::Step(format!("bench record: {e}")))
    }
}

/// The kernel path that runs a variant's weights: this process's for a file, none known for a
/// served variant.
fn kernels_of(b: &Built) -> Option<String> {
    match b.at {
        At::File { .. } => Some(tradeoff_engine::kernels::id().to_string()),
        At::Endpoint { .. } => None,
    }
}

/// Perf metrics that would describe this machine, not the server.
const CLIENT_SIDE: [&str; 4] = ["peak_rss_bytes", "load_s", "energy_j_per_query", "power_w"];

/// Speed of a served variant, as a client here sees it. The server's memory and load time are
/// not visible from here, so the client's own are left out rather than reported as the
/// variant's.
fn remote_perf(mut e: RemoteEngine, url: &str, o: &PerfOptions) -> Result<PerfResult> {
    e.parallel = o.concurrency.max(1);
    let mut r = tradeoff_measure::perf::run(&mut e, o, None, None)?;
    r.metrics
        .retain(|m| !CLIENT_SIDE.contains(&m.name.as_str()));
    r.notes.push(format!(
        "served by {url}: latency and throughput as seen by this client, over the network; \
         the server's memory, energy and load time are not measured"
    ));
    Ok(r)
}

/// A client of `url`, with the chat template the server does not publish when one is given.
fn remote_engine(
    url: &str,
    model: Option<&str>,
    template: Option<&TemplateParts>,
) -> Result<RemoteEngine> {
    let e = RemoteEngine::connect(url, model)?;
    Ok(match template {
        Some(t) => e.with_template(&t.source, &t.bos, &t.eos)?,
        None => e,
    })
}
