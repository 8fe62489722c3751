//! Time limits: EvalPlus' rule `max(T_base, factor * T_reference)`, where `T_reference` is the
//! reference solution's measured time on this machine, measured once per process (by the
//! [`crate::Executor`], in memory: a file of times could have been written by a program of a
//! weaker sandbox or another run, and a doctored time changes verdicts).
//!
//! Defaults: `T_base` = 2 s and factor 4 (EvalPlus uses 1 s and 4 per test input; our limit
//! covers a whole program, interpreter start-up and every test, hence the larger base).
//! Problems without a reference (MultiPL-E) get a fixed 10 s. The limit is on CPU time; the
//! wall clock allows `2 * limit + 1 s` so that a loaded machine does not turn slow-but-correct
//! programs into timeouts (see `Executor::limits`). The rule itself is
//! [`crate::record::TimeRule`] (a record type, in `tradeoff_record`).

use std::collections::BTreeMap;

/// Reference seconds per task id (None: the reference did not pass), by benchmark data.
pub type ReferenceTimes = BTreeMap<String, BTreeMap<String, Option<f64>>>;
