//! Time limits: EvalPlus' rule `max(T_base, factor * T_reference)`, where `T_reference` is the
//! reference solution's measured time on this machine, measured once per process (by the
//! [`crate::Executor`], in memory: a file of times could have been written by a program of a
//! weaker sandbox or another run, and a doctored time changes verdicts).
//!
//! Defaults: `T_base` = 2 s and factor 4 (EvalPlus uses 1 s and 4 per test input; our limit
//! covers a whole program, interpreter start-up and every test, hence the larger base).
//! Problems without a reference (MultiPL-E) get a fixed 10 s. The limit is on CPU time; the
//! wall clock allows `2 * limit + 1 s` so that a loaded machine does not turn slow-but-correct
//! programs into timeouts (see `Executor::limits`).

use crate::record::TimeRule;
use std::collections::BTreeMap;

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

/// Reference seconds per task id (None: the reference did not pass), by benchmark data.
pub type ReferenceTimes = BTreeMap<String, BTreeMap<String, Option<f64>>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule() {
        let r = TimeRule::default();
        assert_eq!(r.limit(Some(0.02)), 2.0);
        assert_eq!(r.limit(Some(1.5)), 6.0);
        assert_eq!(r.limit(None), 10.0);
    }
}
