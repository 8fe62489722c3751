//! tradeoff's evaluation harness: benchmarks, prompting, a sandbox for generated code, and
//! pass@k with confidence intervals (Wilson score or bootstrap over problems).
//!
//! ```text
//! Benchmark ──prompt──▶ Engine::generate_many ──answers──▶ Benchmark::solution/program
//!     ──▶ worker pool ──▶ Executor (sandbox) ──▶ SampleOutcome ──▶ BenchResult (record)
//! ```

pub mod bench;
mod error;
pub mod exec;
pub mod prompt;
pub mod record;
pub mod run;
pub mod samples;
pub mod sandbox;
pub mod timing;

pub use bench::{load, Benchmark, Language, LoadOptions, Program, ReferenceScorer, Scoring};
pub use error::{Error, Result};
pub use exec::{ExecOptions, Executor, Outcome};
pub use prompt::{Prompt, Style};
pub use record::{BenchResult, Metric, ProblemOutcome, SampleOutcome, Status};
pub use run::{EvalOptions, Evaluator};
pub use sandbox::{Sandbox, SandboxConfig};
/// pass@k and its confidence intervals (pure statistics, in `tradeoff_record`).
pub use tradeoff_record::passk;
