//! The OpenAI wire format: request bodies (parsed leniently, as clients send them), response
//! bodies and errors.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use tradeoff_engine::{ChatMessage, FinishReason, GenParams, Timing};

/// One string or a list of them (`prompt`, `stop`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// The fields `/v1/completions` and `/v1/chat/completions` share.
#[derive(Debug, Clone, Deserialize)]
pub struct Common {
    #[serde(default)]
    pub model: Option<String>,
    pub max_tokens: Option<usize>,
    /// The chat API's newer name for `max_tokens`.
    pub max_completion_tokens: Option<usize>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub n: Option<usize>,
    pub stop: Option<OneOrMany>,
    pub seed: Option<u64>,
    #[serde(default)]
    pub stream: bool,
}

#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    pub prompt: OneOrMany,
    #[serde(flatten)]
    pub common: Common,
}

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    #[serde(flatten)]
    pub common: Common,
}

#[derive(Debug, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: Content,
}

/// Message content: a string, or a list of parts of which the text ones count.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Value>),
}

impl Message {
    pub fn to_chat(&self) -> ChatMessage {
        let text = match &self.content {
            Content::Text(s) => s.clone(),
            Content::Parts(p) => p
                .iter()
                .filter_map(|x| x["text"].as_str())
                .collect::<Vec<_>>()
                .join(""),
        };
        ChatMessage::new(self.role.clone(), text)
    }
}

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `max_tokens` when the request gives none, and its ceiling.
    pub max_tokens: usize,
    pub max_n: usize,
}

impl Common {
    pub fn params(&self, limits: Limits) -> Result<(GenParams, usize), ApiError> {
        let max = self
            .max_completion_tokens
            .or(self.max_tokens)
            .unwrap_or(limits.max_tokens);
        if max == 0 || max > limits.max_tokens {
            return Err(ApiError::invalid(
                "max_tokens",
                format!(
                    "max_tokens must be between 1 and {} (the server's --max-tokens)",
                    limits.max_tokens
                ),
            ));
        }
        let n = self.n.unwrap_or(1);
        if n == 0 || n > limits.max_n {
            return Err(ApiError::invalid(
                "n",
                format!("n must be between 1 and {}", limits.max_n),
            ));
        }
        let temperature = self.temperature.unwrap_or(0.0);
        if !(0.0..=2.0).contains(&temperature) {
            return Err(ApiError::invalid(
                "temperature",
                "temperature must be between 0 and 2",
            ));
        }
        if let Some(p) = self.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
            return Err(ApiError::invalid(
                "top_p",
                format!("top_p must be in (0, 1], not {p}"),
            ));
        }
        let stop = self
            .stop
            .clone()
            .map(OneOrMany::into_vec)
            .unwrap_or_default();
        if stop.len() > 4 {
            return Err(ApiError::invalid("stop", "at most 4 stop sequences"));
        }
        Ok((
            GenParams {
                max_new_tokens: max,
                temperature,
                top_k: None,
                top_p: self.top_p,
                seed: self.seed.unwrap_or(0),
                stop,
                ignore_eos: false,
            },
            n,
        ))
    }
}

pub fn finish_reason(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Length | FinishReason::Context => "length",
        _ => "stop",
    }
}

/// A response's `usage`: prompt tokens copied from a cached prefix are reported as OpenAI
/// reports its prompt caching.
pub fn usage(t: &Timing) -> Value {
    json!({"prompt_tokens": t.prompt_tokens,
           "completion_tokens": t.generated_tokens,
           "total_tokens": t.prompt_tokens + t.generated_tokens,
           "prompt_tokens_details": {"cached_tokens": t.cached_tokens}})
}

/// An error as OpenAI's API returns it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub param: Option<&'static str>,
    pub message: String,
}

impl ApiError {
    pub fn invalid(param: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            param: Some(param),
            message: message.into(),
        }
    }
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            param: None,
            message: message.into(),
        }
    }
    pub fn body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.status.as_u16(),
        }})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}
