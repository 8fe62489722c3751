//! The run store: every sweep, variant, result, metric and per-sample outcome, in one SQLite
//! file (WAL mode) beside the artifacts it points to.
//!
//! ```text
//! runs ──< run_variants >── variants (id = content hash; manifest, artifact path + sha256)
//!   │                          │
//!   └──< run_results >── results (cache_key UNIQUE; record JSON) ──< metrics, samples
//!
//! routing_log (tradeoff serve's decisions, one JSON record per request, by server session)
//! ```
//!
//! How a sweep uses it:
//!
//! ```no_run
//! # fn main() -> Result<(), tradeoff_store::Error> {
//! use tradeoff_store::{Kind, ResultSpec, Role, RunSpec, Started, Store, VariantSpec};
//! let mut store = Store::open(&Store::default_path())?;
//! let run = store.begin_run(&RunSpec::new("sweep.toml contents"))?.id;
//! let v = store.upsert_variant(run, &VariantSpec::new("q4_k_m", "qwen2.5-coder-0.5b"), Role::Candidate)?.id;
//! let spec = ResultSpec::new(&v, Kind::Bench, "humaneval");
//! match store.begin_result(run, &spec)? {
//!     Started::Cached(_) => {} // finished by an earlier run: nothing to compute
//!     Started::Todo { id, done } => {
//!         // compute, skipping `done`; store.add_sample(id, &s) as each sample finishes, then
//!         // store.finish_result(id, &metrics, &record)
//! #       let _ = (id, done);
//!     }
//! }
//! store.end_run(run, tradeoff_store::Status::Done)?;
//! # Ok(()) }
//! ```
//!
//! Every write is its own transaction, so a killed sweep keeps all it had committed, and a rerun
//! with the same run name and config resumes it. One `Store` is one connection: open another
//! per thread (WAL lets readers and one writer work at once).

mod artifact;
mod machine;
mod query;
mod routing_log;
mod schema;
mod store;
mod transfer;
mod types;

pub use artifact::hash_artifact;
pub use machine::Machine;
pub use query::{DiffRow, RmReport, RunDiff, RunFacets, RunSummary};
pub use routing_log::LogSession;
pub use schema::SCHEMA_VERSION;
pub use store::{Begun, Store, Upserted};
pub use transfer::{
    ExportOptions, ExportReport, ImportReport, Line as ExportLine, EXPORT_FORMAT, EXPORT_VERSION,
};
pub use types::{
    Dataset, Kind, ResultId, ResultRow, ResultSpec, Role, Run, RunId, RunSpec, RunVariant,
    SampleRow, Started, Status, Variant, VariantSpec,
};

use sha2::{Digest, Sha256};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("run store {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("run store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error(
        "run store schema is v{have}, newer than this tradeoff knows (v{known}): upgrade tradeoff"
    )]
    NewerSchema { have: u32, known: u32 },
    #[error("no run '{0}' in the store (see `tradeoff runs list`)")]
    NoRun(String),
    #[error("the run store has no runs yet")]
    Empty,
    #[error(
        "run '{0}' exists with a different config: choose another name or `tradeoff runs rm {0}`"
    )]
    RunNameTaken(String),
    #[error("run '{0}' was started on another machine: resume it there, or start a new run (another name)")]
    OtherMachine(String),
    #[error("no result {0} in the store")]
    NoResult(ResultId),
    #[error("variant {0} is not in the store: upsert it first")]
    NoVariant(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("line {line}: {msg}")]
    Import { line: usize, msg: String },
    #[error("run store: bad JSON in {what}: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// sha256 of a value's canonical JSON (object keys sorted at every level), hex.
pub fn sha256_json(v: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(canonical_json(v).as_bytes()))
}

/// JSON text with object keys sorted, whatever serde_json's map ordering is built with.
pub fn canonical_json(v: &serde_json::Value) -> String {
    use serde_json::Value;
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

/// sha256 of a string, hex.
pub fn sha256_str(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The tradeoff version and git revision compiled into this binary.
pub fn build_info() -> (&'static str, Option<&'static str>) {
    (env!("CARGO_PKG_VERSION"), option_env!("TRADEOFF_GIT_REV"))
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) for a unix time, for names and listings.
pub fn format_unix(t: f64) -> String {
    let secs = t.max(0.0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm), days since 1970-01-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_unix(0.0), "1970-01-01 00:00:00");
        assert_eq!(format_unix(951_782_400.0), "2000-02-29 00:00:00");
        assert_eq!(format_unix(1_763_904_000.5), "2025-11-23 13:20:00");
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let a = serde_json::json!({"b": 1, "a": {"d": [1, {"z": 0, "y": 1}], "c": null}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"c":null,"d":[1,{"y":1,"z":0}]},"b":1}"#
        );
    }
}
