//! The machine a run ran on ([`Machine`], from `tradeoff_record`): perf numbers are only
//! comparable (and reusable) on the same one.

pub use tradeoff_record::Machine;

/// What perf results depend on, hashed ([`Machine::identity`]: not the hostname, as two
/// identical boxes are one machine).
pub(crate) fn fingerprint(m: &Machine) -> String {
    crate::sha256_json(&m.identity())
}
