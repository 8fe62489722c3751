//! Result records: one schema for every metric and benchmark. The run store persists exactly
//! these, so field names are stable; add fields with `#[serde(default)]`, never rename. They
//! live in `tradeoff_record` (so the store and the report need not depend on the evaluation
//! stage) and are re-exported here.

pub use tradeoff_record::result::{
    BenchResult, DatasetRef, Metric, ProblemOutcome, PromptInfo, SampleOutcome, SandboxInfo,
    Status, TimeRule, SCHEMA_VERSION,
};
