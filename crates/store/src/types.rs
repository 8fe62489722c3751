//! What goes into the store and what comes out: plain serde records.

use crate::{sha256_json, Machine};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;
use tradeoff_record::{Metric, SampleOutcome};

pub type RunId = i64;
pub type ResultId = i64;

/// Kind of a result: a benchmark score, a quality-vs-baseline measure (perplexity, KL, top-1
/// agreement), or a performance measure (TTFT, tok/s, latency, memory, energy, cost).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Bench,
    Quality,
    Perf,
    /// A routing evaluation over several variants (`tradeoff route eval`), stored under its
    /// strongest tier; its record is the whole evaluation.
    Route,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Bench => "bench",
            Kind::Quality => "quality",
            Kind::Perf => "perf",
            Kind::Route => "route",
        }
    }

    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "quality" => Kind::Quality,
            "perf" => Kind::Perf,
            "route" => Kind::Route,
            _ => Kind::Bench,
        }
    }
}

/// State of a run or a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Started and not ended: in progress, or the process died (a rerun resumes it).
    Running,
    Done,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Done => "done",
            Status::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "done" => Status::Done,
            "failed" => Status::Failed,
            _ => Status::Running,
        }
    }
}

/// A variant's place in a run: everything is compared with the run's baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Baseline,
    Candidate,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Baseline => "baseline",
            Role::Candidate => "candidate",
        }
    }
}

/// What [`crate::Store::begin_run`] needs. [`RunSpec::new`] fills in the build and the machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    /// Unique; `None` names it `run-YYYYMMDD-HHMMSS`. Beginning a run under an existing name
    /// with the same config resumes that run.
    pub name: Option<String>,
    /// The sweep's config file, verbatim.
    pub config: String,
    pub tool_version: String,
    pub git_rev: Option<String>,
    pub machine: Machine,
    /// Whether its results depend on the machine (timings): such a run resumes only where it
    /// began. Quality-only runs (pass/fail, perplexity) resume anywhere, from an export too.
    pub machine_bound: bool,
    /// Whether a stored config text (first) describes the same run as this one's (second), so
    /// that a run resumes though its text differs (the sweep: the same TOML once parsed, so
    /// comments and layout do not count). Where None the texts must be equal.
    #[serde(skip)]
    pub same_config: Option<fn(&str, &str) -> bool>,
}

impl RunSpec {
    pub fn new(config: impl Into<String>) -> Self {
        let (version, rev) = crate::build_info();
        Self {
            name: None,
            config: config.into(),
            tool_version: version.to_string(),
            git_rev: rev.map(str::to_string),
            machine: Machine::detect(),
            machine_bound: true,
            same_config: None,
        }
    }

    /// Marks a run whose results do not depend on the machine it runs on.
    pub fn portable(mut self) -> Self {
        self.machine_bound = false;
        self
    }

    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// A run as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub id: RunId,
    pub name: String,
    pub config: String,
    pub config_sha256: String,
    pub tool_version: String,
    pub git_rev: Option<String>,
    pub machine: Machine,
    pub started_unix: f64,
    pub ended_unix: Option<f64>,
    pub status: Status,
}

/// A compressed (or baseline) model. Its id is a hash of what makes it what it is, so the same
/// recipe applied to the same source is one variant across runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VariantSpec {
    /// Short name for tables and charts: "baseline", "q4_k_m", "prune-4L".
    pub label: String,
    /// The model it derives from (catalog name or path).
    pub model: String,
    /// sha256 of the source weights.
    pub source_sha256: Option<String>,
    /// How it was made (method, bits, group size, calibration hash, seed...).
    pub recipe: Value,
    /// The artifact's manifest.json, verbatim.
    pub manifest: Value,
    pub artifact_path: Option<PathBuf>,
    pub artifact_sha256: Option<String>,
    pub size_bytes: Option<u64>,
    /// Caveats reports must repeat, e.g. "baseline = dequantized GGUF; no f16 weights were
    /// available".
    pub note: Option<String>,
}

impl VariantSpec {
    pub fn new(label: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            model: model.into(),
            recipe: Value::Null,
            manifest: Value::Null,
            ..Self::default()
        }
    }

    /// Points the variant at its artifact (file or folder) and records its sha256 and size.
    pub fn with_artifact(mut self, path: &std::path::Path) -> crate::Result<Self> {
        let (sha, size) = crate::hash_artifact(path)?;
        self.artifact_path = Some(path.to_path_buf());
        self.artifact_sha256 = Some(sha);
        self.size_bytes = Some(size);
        Ok(self)
    }

    /// The content hash: source, recipe and artifact bytes. Label, path and manifest text are
    /// not part of it (moving or renaming a file does not make a new variant).
    pub fn id(&self) -> String {
        sha256_json(&json!({
            "model": self.model,
            "source_sha256": self.source_sha256,
            "recipe": self.recipe,
            "artifact_sha256": self.artifact_sha256,
        }))
    }
}

/// A variant as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Variant {
    pub id: String,
    /// The label it was first stored with; in a [`RunVariant`], that run's label.
    pub label: String,
    pub model: String,
    pub source_sha256: Option<String>,
    pub recipe: Value,
    pub manifest: Value,
    pub artifact_path: Option<PathBuf>,
    pub artifact_sha256: Option<String>,
    pub size_bytes: Option<u64>,
    pub note: Option<String>,
    pub created_unix: f64,
}

/// A variant in a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunVariant {
    pub role: Role,
    #[serde(flatten)]
    pub variant: Variant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub name: String,
    pub sha256: String,
}

/// Every input that decides a result's outcome; two equal specs are the same result. Put
/// anything else that matters (split, problem limit, prompt style, time-limit rule, context
/// length...) in `params`. Perf results are also keyed by the run's machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultSpec {
    pub variant: String,
    pub kind: Kind,
    /// Benchmark or measurement name: "humaneval", "perplexity", "decode".
    pub name: String,
    pub dataset: Option<Dataset>,
    pub prompt_template: Option<String>,
    /// Generation parameters (`GenParams` as JSON).
    pub generation: Option<Value>,
    pub seed: u64,
    pub n: usize,
    pub k: Vec<usize>,
    pub params: Value,
}

impl ResultSpec {
    pub fn new(variant: &str, kind: Kind, name: impl Into<String>) -> Self {
        Self {
            variant: variant.to_string(),
            kind,
            name: name.into(),
            dataset: None,
            prompt_template: None,
            generation: None,
            seed: 0,
            n: 1,
            k: vec![1],
            params: Value::Null,
        }
    }

    /// The cache key; `machine_fp` is mixed in for perf results only.
    pub fn cache_key(&self, machine_fp: &str) -> String {
        let mut v = serde_json::to_value(self).expect("ResultSpec serializes");
        if self.kind == Kind::Perf {
            v["machine"] = Value::String(machine_fp.to_string());
        }
        sha256_json(&v)
    }
}

/// What [`crate::Store::begin_result`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Started {
    /// A finished result with the same key exists (now linked to this run): compute nothing.
    Cached(ResultId),
    /// Compute it. `done` lists the (task_id, sample) an interrupted earlier attempt already
    /// committed: skip those (adding them again is a no-op).
    Todo {
        id: ResultId,
        done: BTreeSet<(String, u32)>,
    },
}

impl Started {
    pub fn id(&self) -> ResultId {
        match self {
            Started::Cached(id) | Started::Todo { id, .. } => *id,
        }
    }
}

/// One sample of one problem, as committed when it finishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRow {
    pub task_id: String,
    pub sample: u32,
    pub passed: bool,
    /// `tradeoff_record::Status` as text: "pass", "fail", "timeout"...
    pub status: String,
    pub detail: Option<String>,
    pub tokens: Option<u64>,
    pub exec_s: Option<f64>,
    /// Generation time of the request that produced it.
    pub gen_s: Option<f64>,
    pub completion: Option<String>,
    /// Each test case's outcome, where the tests report them (`SampleOutcome::cases`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases: Option<String>,
}

impl SampleRow {
    pub fn from_outcome(task_id: &str, sample: u32, o: &SampleOutcome, gen_s: Option<f64>) -> Self {
        Self {
            task_id: task_id.to_string(),
            sample,
            passed: o.passed,
            status: o.status.as_str().to_string(),
            detail: o.detail.clone(),
            tokens: o.tokens.map(|t| t as u64),
            exec_s: o.exec_s,
            gen_s,
            completion: Some(o.completion.clone()),
            cases: o.cases.clone(),
        }
    }
}

/// A result as stored, with its metrics.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultRow {
    pub id: ResultId,
    pub cache_key: String,
    pub variant: String,
    pub kind: Kind,
    pub name: String,
    pub dataset: Option<Dataset>,
    pub prompt_template: Option<String>,
    pub generation: Option<Value>,
    pub seed: u64,
    pub n: usize,
    pub k: Vec<usize>,
    pub params: Value,
    pub status: Status,
    pub error: Option<String>,
    /// The run that computed it (`None` once that run was removed).
    pub computed_by: Option<RunId>,
    /// Computed by an earlier run and reused by the one it was listed for.
    pub reused: bool,
    pub started_unix: f64,
    pub ended_unix: Option<f64>,
    pub metrics: Vec<Metric>,
}

impl ResultRow {
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }
}
