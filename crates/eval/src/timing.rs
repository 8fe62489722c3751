//! Time limits: EvalPlus' rule `max(T_base, factor * T_reference)`, where `T_reference` is the
//! reference solution's measured time on this machine, measured once and cached.
//!
//! Defaults: `T_base` = 2 s and factor 4 (EvalPlus uses 1 s and 4 per test input; our limit
//! covers a whole program, interpreter start-up and every test, hence the larger base).
//! Problems without a reference (MultiPL-E) get a fixed 10 s. The limit is on CPU time; the
//! wall clock allows `2 * limit + 1 s` so that a loaded machine does not turn slow-but-correct
//! programs into timeouts (see `Executor::limits`).

use crate::error::{io_err, Result};
use crate::record::TimeRule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// Reference times of one benchmark's data on one machine.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RefTimes {
    /// Host, CPU and toolchain the times were measured with; a mismatch discards them.
    pub machine: String,
    /// Seconds per task id; None when the reference did not pass.
    pub times: BTreeMap<String, Option<f64>>,
}

impl RefTimes {
    /// `<cache>/eval/ref-times/<benchmark>-<sha256 prefix>.json`.
    pub fn path(cache_dir: &Path, benchmark: &str, dataset_sha256: &str) -> PathBuf {
        let sha = dataset_sha256.get(..16).unwrap_or(dataset_sha256);
        cache_dir
            .join("eval")
            .join("ref-times")
            .join(format!("{benchmark}-{sha}.json"))
    }

    /// The cached times when they were measured on this `machine`, else empty.
    pub fn load(path: &Path, machine: &str) -> Self {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| serde_json::from_str::<RefTimes>(&s).ok())
            .filter(|t| t.machine == machine)
            .unwrap_or_else(|| RefTimes {
                machine: machine.to_string(),
                times: BTreeMap::new(),
            })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path.parent().expect("a file under the cache dir");
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).expect("plain data");
        std::fs::write(&tmp, text).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io_err(path))
    }
}

/// Host name, CPU model, core count and the toolchain: what reference times depend on.
pub fn machine_fingerprint(toolchain: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{} | {cpu} | {cores} cores | {toolchain}", host.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_and_cache_roundtrip() {
        let r = TimeRule::default();
        assert_eq!(r.limit(Some(0.02)), 2.0);
        assert_eq!(r.limit(Some(1.5)), 6.0);
        assert_eq!(r.limit(None), 10.0);
        let dir = tempfile::tempdir().unwrap();
        let p = RefTimes::path(dir.path(), "humaneval", "abcdef0123456789ffff");
        assert!(p.ends_with("eval/ref-times/humaneval-abcdef0123456789.json"));
        let mut t = RefTimes::load(&p, "m1");
        assert!(t.times.is_empty());
        t.times.insert("HumanEval/0".into(), Some(0.03));
        t.save(&p).unwrap();
        assert_eq!(RefTimes::load(&p, "m1").times.len(), 1);
        assert!(RefTimes::load(&p, "other machine").times.is_empty());
    }
}
