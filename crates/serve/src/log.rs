//! The routing log: one JSON line per request, saying what was decided, why, who answered and
//! what it cost.

use serde::{Deserialize, Serialize};

/// Somewhere decisions go as they are made, besides the JSONL file (the CLI hands in the run
/// store). Called on the request path: implementations hand the entry off and return.
pub trait LogSink: Send + Sync {
    fn write(&self, e: &LogEntry);
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    pub variant: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogEntry {
    /// Seconds since the Unix epoch.
    pub time: f64,
    pub id: String,
    pub endpoint: String,
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
    /// Time from the request's arrival to the routing decision (token count, embedding,
    /// policy), milliseconds.
    #[serde(default)]
    pub route_ms: f64,
    pub completion_tokens: usize,
}

/// Reads a routing log; a line that does not parse is an error naming its number.
pub fn read_log(text: &str) -> Result<Vec<LogEntry>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}
