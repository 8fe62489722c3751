//! Result records: one schema for every metric and benchmark. The run store persists exactly
//! these, so field names are stable; add fields with `#[serde(default)]`, never rename.

use crate::generation::{EngineInfo, FinishReason, GenParams, Timing};
use crate::sandbox::{Isolation, Limits};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of this schema, stored in every [`BenchResult`].
pub const SCHEMA_VERSION: u32 = 1;

/// One number with its uncertainty: "pass@1", "codebleu", "decode_tok_s", ...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub value: f64,
    /// 95% confidence interval over problems for quality metrics (pass@k: Wilson where each
    /// problem has exactly k samples, else a bootstrap; see `passk::pass_at_k_ci`).
    pub ci95: Option<(f64, f64)>,
    /// How many units (problems, requests) the value is over.
    pub n: Option<usize>,
    pub unit: Option<String>,
    pub higher_is_better: bool,
}

impl Metric {
    pub fn new(name: impl Into<String>, value: f64, higher_is_better: bool) -> Self {
        Self {
            name: name.into(),
            value,
            ci95: None,
            n: None,
            unit: None,
            higher_is_better,
        }
    }
}

/// How one sample ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The tests ran to their end and the harness saw the run's nonce.
    Pass,
    /// A test assertion failed.
    Fail,
    /// The program raised an exception or crashed.
    Error,
    /// It does not compile (Java, C++) or parse (Python).
    CompileError,
    /// CPU-time or wall-clock limit.
    Timeout,
    /// Memory limit (MemoryError, std::bad_alloc, OutOfMemoryError).
    Memory,
    /// Wrote a file over the size limit.
    FileSize,
    /// Stopped before the tests completed without failing one (exit(0), os._exit, ...).
    Exited,
    /// The model produced nothing to run (generation failed).
    GenError,
    /// Scored by similarity to a reference, not executed (see `SampleOutcome::score`).
    Scored,
    /// A fault of the harness, not of the program: the sandbox could not be set up, a fork
    /// failed, the interpreter or JVM did not start. Retried once; samples that still end so
    /// are left out of pass@k and counted in [`BenchResult::infra_errors`]. Stored as
    /// `"infra_error"`; records written before the rename say `"sandbox_error"`.
    #[serde(alias = "sandbox_error")]
    InfraError,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::CompileError => "compile_error",
            Status::Timeout => "timeout",
            Status::Memory => "memory",
            Status::FileSize => "file_size",
            Status::Exited => "exited",
            Status::GenError => "gen_error",
            Status::Scored => "scored",
            Status::InfraError => "infra_error",
        }
    }
}

/// The data a benchmark was read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetRef {
    pub name: String,
    pub path: String,
    pub sha256: String,
}

/// How prompts were built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptInfo {
    /// "base", "instruct", "canonical" (reference solutions) or "samples" (scored from a file).
    pub style: String,
    /// The template, with `{placeholders}` for per-problem text.
    pub template: String,
}

/// The time-limit rule: `max(base_s, factor * t_reference)`, `default_s` without a reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeRule {
    pub base_s: f64,
    pub factor: f64,
    pub default_s: f64,
}

/// Defaults: `T_base` = 2 s and factor 4 (EvalPlus uses 1 s and 4 per test input; our limit
/// covers a whole program, interpreter start-up and every test, hence the larger base).
/// Problems without a reference (MultiPL-E) get a fixed 10 s.
impl Default for TimeRule {
    fn default() -> Self {
        Self {
            base_s: 2.0,
            factor: 4.0,
            default_s: 10.0,
        }
    }
}

impl TimeRule {
    /// The CPU-time limit for a problem whose reference takes `reference_s` (None: no
    /// reference, or it does not pass).
    pub fn limit(&self, reference_s: Option<f64>) -> f64 {
        match reference_s {
            Some(t) => self.base_s.max(self.factor * t),
            None => self.default_s,
        }
    }
}

/// How programs were run; see docs/sandbox.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxInfo {
    pub isolation: Isolation,
    /// Limits of a run (CPU and wall time vary per problem: `ProblemOutcome::time_limit_s`).
    pub limits: Limits,
    pub time_rule: TimeRule,
    /// Interpreter/compiler used, e.g. "python": "/usr/bin/python3 3.11.2".
    pub toolchain: BTreeMap<String, String>,
    /// Python programs were forked from a warm interpreter rather than each starting one.
    pub warm_python: bool,
}

/// One sample of one problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleOutcome {
    /// Text as the model produced it (or as read from a samples file).
    pub completion: String,
    /// The solution as executed, before the benchmark's tests were appended.
    pub program: String,
    pub status: Status,
    pub passed: bool,
    /// Short reason for a non-pass: exception, signal, compiler error, limit.
    pub detail: Option<String>,
    /// Wall-clock seconds of the test run (compilation excluded).
    pub exec_s: Option<f64>,
    pub cpu_s: Option<f64>,
    /// Reference-similarity score, for benchmarks scored that way.
    pub score: Option<f64>,
    pub tokens: Option<usize>,
    pub finish: Option<FinishReason>,
    /// The test cases' outcomes where the tests report each (`P` passed, `F` failed, `?` not
    /// reached), in the tests' order: QuixBugs' regression rate compares them with the buggy
    /// program's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases: Option<String>,
}

/// Everything about one problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemOutcome {
    pub task_id: String,
    /// The full prompt given to the model (chat template applied, prefill included).
    pub prompt: String,
    /// CPU-time limit applied to each test run.
    pub time_limit_s: Option<f64>,
    /// Generation timing of the request that produced the samples (they share one prefill).
    pub timing: Option<Timing>,
    pub samples: Vec<SampleOutcome>,
}

impl ProblemOutcome {
    pub fn passes(&self) -> usize {
        self.samples.iter().filter(|s| s.passed).count()
    }

    /// Samples that ended in a harness fault ([`Status::InfraError`]).
    pub fn infra_errors(&self) -> usize {
        self.samples
            .iter()
            .filter(|s| s.status == Status::InfraError)
            .count()
    }

    /// (samples, passes) for pass@k: samples that ended in a harness fault are left out.
    pub fn pass_counts(&self) -> (usize, usize) {
        (self.samples.len() - self.infra_errors(), self.passes())
    }
}

/// One benchmark run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchResult {
    pub schema: u32,
    pub tradeoff_version: String,
    pub benchmark: String,
    pub language: String,
    /// `"execution"`, or `"reference:<metric>"` for similarity-scored benchmarks.
    pub scoring: String,
    pub dataset: DatasetRef,
    pub split: Option<String>,
    pub prompt: PromptInfo,
    pub model: Option<EngineInfo>,
    pub generation: Option<GenParams>,
    /// Samples per problem (the largest, when a samples file has uneven counts).
    pub n: usize,
    pub k: Vec<usize>,
    pub seed: u64,
    /// Bootstrap resamples behind the confidence intervals.
    pub bootstrap: usize,
    pub sandbox: Option<SandboxInfo>,
    pub metrics: Vec<Metric>,
    pub status_counts: BTreeMap<Status, usize>,
    /// Samples that ended in a harness fault ([`Status::InfraError`]) even after a retry;
    /// they are left out of pass@k (0 in records written before this field).
    #[serde(default)]
    pub infra_errors: usize,
    pub problems: Vec<ProblemOutcome>,
    pub started_unix_s: u64,
    pub duration_s: f64,
}

impl BenchResult {
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// Problems where no sample passed, for reports.
    pub fn failing(&self) -> impl Iterator<Item = &ProblemOutcome> {
        self.problems.iter().filter(|p| p.passes() == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_rule() {
        let r = TimeRule::default();
        assert_eq!(r.limit(Some(0.02)), 2.0);
        assert_eq!(r.limit(Some(1.5)), 6.0);
        assert_eq!(r.limit(None), 10.0);
    }

    /// A record written before the types moved out of tradeoff-eval (serialized with those
    /// types) still reads, and writes back the same JSON.
    #[test]
    fn stored_bench_result_reads_and_round_trips() {
        let text = include_str!("testdata/bench_result_v1.json");
        let r: BenchResult = serde_json::from_str(text).unwrap();
        assert_eq!(
            (r.schema, r.benchmark.as_str()),
            (SCHEMA_VERSION, "humaneval")
        );
        assert_eq!(r.metric("pass@1").unwrap().ci95, Some((0.1, 0.9)));
        assert_eq!(r.status_counts[&Status::Pass], 1);
        assert_eq!(r.problems[0].pass_counts(), (1, 1));
        assert_eq!(
            r.failing().map(|p| p.task_id.as_str()).collect::<Vec<_>>(),
            ["HumanEval/1"]
        );
        assert_eq!(r.problems[0].samples[0].finish, Some(FinishReason::Stop));
        assert_eq!(r.problems[0].timing.as_ref().unwrap().prompt_tokens, 10);
        let sandbox = r.sandbox.as_ref().unwrap();
        assert!(sandbox.isolation.weaknesses().is_empty());
        assert_eq!(sandbox.limits, Limits::default());
        assert_eq!(sandbox.time_rule, TimeRule::default());
        assert_eq!(r.generation.as_ref().unwrap().max_new_tokens, 64);
        let back = serde_json::to_value(&r).unwrap();
        let orig: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn old_names_still_read() {
        let s: Status = serde_json::from_str("\"sandbox_error\"").unwrap();
        assert_eq!(s, Status::InfraError);
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"infra_error\"");
        // Records from before `infra_errors` existed.
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("testdata/bench_result_v1.json")).unwrap();
        v.as_object_mut().unwrap().remove("infra_errors");
        let r: BenchResult = serde_json::from_value(v).unwrap();
        assert_eq!(r.infra_errors, 0);
    }
}
