//! Routing: which variant should answer each query?
//!
//! ```text
//! store (per-problem outcomes + perf) ──► Study ──► evaluate (k-fold / cross-benchmark)
//!                                           │            ├─ Policy::fit on the training problems
//!                                           │            ├─ Policy::score on the held-out ones
//!                                           │            └─ curve per threshold → APGR, CPT, AIQ
//!                                           └─► cascade (stored completions + visible checks)
//! ```
//!
//! A [`Policy`] scores a [`Query`] (a difficulty, or a pass probability per tier); with a
//! threshold it becomes a [`Router`], the thing `tradeoff serve` asks. Policies are registered
//! in one table, [`POLICIES`]. Evaluation never scores a learned policy on a problem it was
//! trained on (checked by [`evaluate::assert_disjoint`]).

pub mod cascade;
pub mod embed;
pub mod evaluate;
pub mod metrics;
pub mod policy;
pub mod query;
pub mod study;

pub use cascade::{visible_checks, CheckResult, Checker};
pub use embed::Embedder;
pub use evaluate::{
    evaluate, held_out, splits, EvalOptions, HeldOut, Protocol, ProtocolEval, RouteEval, Row,
};
pub use policy::{policy, Decision, Example, Policy, PolicyArgs, Routed, Router, Score, POLICIES};
pub use query::{complexity, Complexity, Query};
pub use study::{find_variant, BenchTexts, Outcome, Problem, Study, Tier};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Store(#[from] tradeoff_store::Error),
    #[error("unknown policy '{0}' (see `tradeoff route policies`)")]
    UnknownPolicy(String),
    #[error("{0}")]
    Study(String),
    #[error("embedder {path}: {msg}")]
    Embedder { path: String, msg: String },
}

pub type Result<T> = std::result::Result<T, Error>;
