//! The routing log: one JSON line per request, saying what was decided, why, who answered and
//! what it cost.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub variant: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    /// Seconds since the Unix epoch.
    pub time: f64,
    pub id: String,
    pub endpoint: &'static str,
    /// sha256 of the query text: the log never holds prompts.
    pub prompt_sha256: String,
    pub prompt_chars: usize,
    pub prompt_tokens: usize,
    /// Whether `prompt_tokens` is an estimate (no tier could count them).
    pub tokens_estimated: bool,
    pub policy: String,
    pub score: Option<f64>,
    pub reason: String,
    pub chosen: String,
    /// None when no tier answered.
    pub answered: Option<String>,
    /// Tiers tried before the one that answered, and why each was passed over.
    pub fallbacks: Vec<Attempt>,
    pub stream: bool,
    pub status: u16,
    pub latency_s: f64,
    pub completion_tokens: usize,
}
