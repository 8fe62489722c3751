//! The records tradeoff's stages write and read, without the machinery that produces them:
//! benchmark results ([`BenchResult`], [`Metric`], per-problem and per-sample outcomes), the
//! sandbox and generation settings they carry, the [`Machine`] a run ran on (one detector, one
//! [`proc`] reader) and pass@k with its confidence intervals ([`passk`]).
//!
//! The run store and the report depend on this crate only; `tradeoff_eval` (which produces
//! the records) and `tradeoff_engine` re-export what they used to define.

pub mod generation;
pub mod machine;
pub mod passk;
pub mod proc;
pub mod result;
pub mod sandbox;

pub use generation::{EngineInfo, FinishReason, GenParams, Timing};
pub use machine::Machine;
pub use result::{
    BenchResult, DatasetRef, Metric, ProblemOutcome, PromptInfo, SampleOutcome, SandboxInfo,
    Status, TimeRule, SCHEMA_VERSION,
};
pub use sandbox::{Isolation, Limits};
