//! The HTTP handlers: parse, route, answer (falling back along the tiers), log.

use crate::log::{Attempt, LogEntry};
use crate::openai::{
    finish_reason, usage, ApiError, ChatRequest, Common, CompletionRequest, OneOrMany,
};
use crate::{App, InFlight, Input, RouteSpec};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as Sse, KeepAlive};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tradeoff_engine::{ChatMessage, Event, GenParams, Generation};
use tradeoff_route::Query;

pub(crate) fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(app.clone(), auth));
    Router::new()
        .merge(api)
        .route("/health", get(health))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(app.opts.max_body))
        .with_state(app)
}

/// Checks the API key, in constant time.
async fn auth(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if let Some(key) = &app.opts.api_key {
        use subtle::ConstantTimeEq;
        let given = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(given.as_bytes().ct_eq(key.as_bytes())) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "missing or wrong API key: send Authorization: Bearer <key>",
            )
            .into_response();
        }
    }
    next.run(req).await
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "no such endpoint: POST /v1/completions, POST /v1/chat/completions, GET /v1/models, \
         /health, /metrics",
    )
}

async fn health(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "variants": app.opts.tiers.iter().map(|t| json!({
            "name": t.name,
            "in_flight": t.in_flight.load(Ordering::SeqCst),
            "engine": t.backend.info().engine,
        })).collect::<Vec<_>>(),
    }))
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
}

async fn models(State(app): State<Arc<App>>) -> Json<Value> {
    let created = now() as u64;
    let mut data: Vec<Value> = app
        .opts
        .tiers
        .iter()
        .map(|t| {
            json!({"id": t.name, "object": "model", "created": created, "owned_by": "tradeoff",
                   "model": t.backend.info().model})
        })
        .collect();
    data.push(json!({"id": "auto", "object": "model", "created": created, "owned_by": "tradeoff",
                     "routing": format!("{} at {}", app.opts.default_policy.0, app.opts.default_policy.1)}));
    for p in app.opts.policies.keys() {
        data.push(
            json!({"id": format!("router-{p}-<threshold>"), "object": "model",
                         "created": created, "owned_by": "tradeoff"}),
        );
    }
    Json(json!({"object": "list", "data": data}))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// What a request asks for, in either API.
enum Ask {
    Completion(String),
    Chat(Vec<ChatMessage>),
}

impl Ask {
    fn endpoint(&self) -> &'static str {
        match self {
            Ask::Completion(_) => "completions",
            Ask::Chat(_) => "chat.completions",
        }
    }

    /// What the router sees: the prompt, or the last user message.
    fn query_text(&self) -> String {
        match self {
            Ask::Completion(p) => p.clone(),
            Ask::Chat(m) => m
                .iter()
                .rev()
                .find(|m| m.role == "user")
                .map(|m| m.content.clone())
                .unwrap_or_default(),
        }
    }

    /// The prompt as tier `tier`'s model would read it, for counting its tokens.
    fn prompt_for(&self, app: &App, tier: usize) -> tradeoff_engine::Result<String> {
        match self {
            Ask::Completion(p) => Ok(p.clone()),
            Ask::Chat(m) => app.opts.tiers[tier].backend.render_chat(m),
        }
    }

    fn input(&self) -> Input {
        match self {
            Ask::Completion(p) => Input::Prompt(p.clone()),
            Ask::Chat(m) => Input::Chat(m.clone()),
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid("body", format!("bad request body: {e}")))
}

async fn completions(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let req: CompletionRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return fail(&app, "completions", e),
    };
    let prompt = match req.prompt {
        OneOrMany::One(p) => p,
        OneOrMany::Many(mut v) if v.len() == 1 => v.remove(0),
        OneOrMany::Many(_) => {
            let e = ApiError::invalid("prompt", "send one prompt per request");
            return fail(&app, "completions", e);
        }
    };
    handle(app, headers, Ask::Completion(prompt), req.common).await
}

async fn chat(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let req: ChatRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return fail(&app, "chat.completions", e),
    };
    if req.messages.is_empty() {
        let e = ApiError::invalid("messages", "messages must not be empty");
        return fail(&app, "chat.completions", e);
    }
    let msgs = req.messages.iter().map(|m| m.to_chat()).collect();
    handle(app, headers, Ask::Chat(msgs), req.common).await
}

fn fail(app: &App, endpoint: &str, e: ApiError) -> Response {
    app.metrics.request(endpoint, e.status.as_u16());
    e.into_response()
}

/// The routing decision and everything the log needs about it.
struct Routing {
    id: String,
    policy: String,
    decision: tradeoff_route::Decision,
    query: Query,
    tokens_estimated: bool,
    t0: Instant,
    /// Seconds the decision took.
    route_s: f64,
}

async fn handle(app: Arc<App>, headers: HeaderMap, ask: Ask, common: Common) -> Response {
    let endpoint = ask.endpoint();
    let (params, n) = match common.params(app.opts.limits) {
        Ok(x) => x,
        Err(e) => return fail(&app, endpoint, e),
    };
    let header = headers
        .get("x-tradeoff-variant")
        .and_then(|v| v.to_str().ok());
    let spec = match app.route_spec(common.model.as_deref(), header) {
        Ok(s) => s,
        Err(e) => return fail(&app, endpoint, e),
    };
    let routing = match route(&app, &ask, &spec).await {
        Ok(r) => r,
        Err(e) => return fail(&app, endpoint, e),
    };
    app.metrics
        .decision(&app.opts.tiers[routing.decision.tier].name);
    if common.stream {
        stream(app, ask, params, n, routing).await
    } else {
        complete(app, ask, params, n, routing).await
    }
}

/// Counts the query's tokens (on the cheapest tier that can, chat template applied), embeds
/// it when the policy needs that, and decides.
async fn route(app: &Arc<App>, ask: &Ask, spec: &RouteSpec) -> Result<Routing, ApiError> {
    let t0 = Instant::now();
    let id = format!("cmpl-{}", app.next_id.fetch_add(1, Ordering::SeqCst));
    let text = ask.query_text();
    let counted = (0..app.opts.tiers.len()).find_map(|t| {
        let prompt = ask.prompt_for(app, t).ok()?;
        app.opts.tiers[t].backend.count_tokens(&prompt)
    });
    let tokens_estimated = counted.is_none();
    let mut query = Query::new(text.clone(), counted.unwrap_or(text.len().div_ceil(4)));
    if let RouteSpec::Policy(p, _) = spec {
        if tradeoff_route::policy::needs_embedding(p) {
            let emb = app.opts.embedder.clone().ok_or_else(|| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    format!("policy {p} needs the sentence embedder, which is not loaded"),
                )
            })?;
            let e = tokio::task::spawn_blocking(move || emb.embed(&text))
                .await
                .map_err(|e| {
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "server_error",
                        e.to_string(),
                    )
                })?
                .map_err(|e| {
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "server_error",
                        e.to_string(),
                    )
                })?;
            query.embedding = Some(e.into());
        }
    }
    let (policy, decision) = app.decide(spec, &query);
    Ok(Routing {
        id,
        policy,
        decision,
        query,
        tokens_estimated,
        t0,
        route_s: t0.elapsed().as_secs_f64(),
    })
}

/// A tier that took the request: its first event, the rest to come, and its slot.
struct Started {
    tier: usize,
    first: Event,
    rx: UnboundedReceiver<Event>,
    slot: InFlight,
}

/// Tries the tiers in order until one starts answering. Non-streaming requests wait for the
/// whole answer (a tier that fails midway is passed over too); streaming ones for the first
/// text, after which the client holds that tier.
async fn attempt(
    app: &Arc<App>,
    ask: &Ask,
    params: &GenParams,
    n: usize,
    chosen: usize,
    whole: bool,
    fallbacks: &mut Vec<Attempt>,
) -> Option<Started> {
    for t in app.order(chosen) {
        let tier = &app.opts.tiers[t];
        let mut pass = |error: String| {
            fallbacks.push(Attempt {
                variant: tier.name.clone(),
                error,
            })
        };
        let Some(slot) = InFlight::try_new(app, t) else {
            pass(format!(
                "overloaded ({} requests in flight)",
                tier.max_in_flight
            ));
            continue;
        };
        let (tx, mut rx) = unbounded_channel();
        if let Err(e) = tier.backend.start(ask.input(), params.clone(), n, tx) {
            pass(e.to_string());
            continue;
        }
        let wait = async {
            loop {
                match rx.recv().await {
                    Some(Event::Text { .. }) if whole => continue,
                    other => return other,
                }
            }
        };
        match tokio::time::timeout(tier.timeout, wait).await {
            Err(_) => pass(format!("no answer within {} s", tier.timeout.as_secs_f64())),
            Ok(None) => pass("the backend stopped without an answer".into()),
            Ok(Some(Event::Done(Err(e)))) => pass(e.to_string()),
            Ok(Some(first)) => {
                return Some(Started {
                    tier: t,
                    first,
                    rx,
                    slot,
                })
            }
        }
    }
    None
}

fn all_failed(fallbacks: &[Attempt]) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "server_error",
        format!(
            "no variant could answer: {}",
            fallbacks
                .iter()
                .map(|a| format!("{}: {}", a.variant, a.error))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    )
}

/// How a request ended, for the log.
struct Ending {
    answered: Option<usize>,
    fallbacks: Vec<Attempt>,
    stream: bool,
    status: u16,
    completion_tokens: usize,
}

fn log_entry(app: &App, r: &Routing, endpoint: &'static str, end: Ending) -> LogEntry {
    let score = Some(r.decision.score).filter(|s| s.is_finite());
    LogEntry {
        time: now(),
        id: r.id.clone(),
        endpoint: endpoint.to_string(),
        prompt_sha256: hex::encode(Sha256::digest(r.query.text.as_bytes())),
        prompt_chars: r.query.text.chars().count(),
        prompt_tokens: r.query.tokens,
        tokens_estimated: r.tokens_estimated,
        policy: r.policy.clone(),
        score,
        reason: r.decision.reason.clone(),
        chosen: app.opts.tiers[r.decision.tier].name.clone(),
        answered: end.answered.map(|t| app.opts.tiers[t].name.clone()),
        fallbacks: end.fallbacks,
        stream: end.stream,
        status: end.status,
        latency_s: r.t0.elapsed().as_secs_f64(),
        route_ms: 1e3 * r.route_s,
        completion_tokens: end.completion_tokens,
    }
}

/// Finishes the books on a request: metrics and the routing log.
fn record(app: &App, e: &LogEntry, g: Option<&Generation>) {
    app.metrics.request(&e.endpoint, e.status);
    if let (Some(t), Some(g)) = (&e.answered, g) {
        app.metrics.answered(
            t,
            g.timing.prompt_tokens,
            g.timing.generated_tokens,
            e.latency_s,
            e.fallbacks.len(),
        );
    }
    app.write_log(e);
}

/// Response headers that say who answered and why (visible ASCII only).
fn tag(resp: &mut Response, app: &App, r: &Routing, tier: usize, fallbacks: usize) {
    let clean = |s: &str| -> HeaderValue {
        let s: String = s
            .chars()
            .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
            .collect();
        HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("?"))
    };
    let h = resp.headers_mut();
    h.insert("x-tradeoff-variant", clean(&app.opts.tiers[tier].name));
    h.insert("x-tradeoff-policy", clean(&r.policy));
    h.insert("x-tradeoff-reason", clean(&r.decision.reason));
    h.insert("x-tradeoff-fallbacks", HeaderValue::from(fallbacks));
}

async fn complete(app: Arc<App>, ask: Ask, params: GenParams, n: usize, r: Routing) -> Response {
    let endpoint = ask.endpoint();
    let mut fallbacks = Vec::new();
    let started = attempt(
        &app,
        &ask,
        &params,
        n,
        r.decision.tier,
        true,
        &mut fallbacks,
    )
    .await;
    let Some(Started {
        tier,
        first: Event::Done(Ok(g)),
        ..
    }) = started
    else {
        let e = all_failed(&fallbacks);
        let entry = log_entry(
            &app,
            &r,
            endpoint,
            Ending {
                answered: None,
                fallbacks,
                stream: false,
                status: e.status.as_u16(),
                completion_tokens: 0,
            },
        );
        record(&app, &entry, None);
        return e.into_response();
    };
    let name = app.opts.tiers[tier].name.clone();
    let choices: Vec<Value> = g
        .samples
        .iter()
        .enumerate()
        .map(|(i, s)| match ask {
            Ask::Completion(_) => json!({"index": i, "text": s.text, "logprobs": null,
                                        "finish_reason": finish_reason(s.finish)}),
            Ask::Chat(_) => json!({"index": i,
                                  "message": {"role": "assistant", "content": s.text},
                                  "finish_reason": finish_reason(s.finish)}),
        })
        .collect();
    let object = match ask {
        Ask::Completion(_) => "text_completion",
        Ask::Chat(_) => "chat.completion",
    };
    let body = json!({
        "id": r.id, "object": object, "created": now() as u64, "model": name,
        "choices": choices,
        "usage": usage(&g.timing),
    });
    let nfb = fallbacks.len();
    let entry = log_entry(
        &app,
        &r,
        endpoint,
        Ending {
            answered: Some(tier),
            fallbacks,
            stream: false,
            status: 200,
            completion_tokens: g.timing.generated_tokens,
        },
    );
    record(&app, &entry, Some(&g));
    let mut resp = Json(body).into_response();
    tag(&mut resp, &app, &r, tier, nfb);
    resp
}

async fn stream(app: Arc<App>, ask: Ask, params: GenParams, n: usize, r: Routing) -> Response {
    let endpoint = ask.endpoint();
    let mut fallbacks = Vec::new();
    let Some(started) = attempt(
        &app,
        &ask,
        &params,
        n,
        r.decision.tier,
        false,
        &mut fallbacks,
    )
    .await
    else {
        let e = all_failed(&fallbacks);
        let entry = log_entry(
            &app,
            &r,
            endpoint,
            Ending {
                answered: None,
                fallbacks,
                stream: true,
                status: e.status.as_u16(),
                completion_tokens: 0,
            },
        );
        record(&app, &entry, None);
        return e.into_response();
    };
    let tier = started.tier;
    let nfb = fallbacks.len();
    let (out, out_rx) = unbounded_channel::<Result<Sse, Infallible>>();
    let chat = matches!(ask, Ask::Chat(_));
    let (id, model, created) = (
        r.id.clone(),
        app.opts.tiers[tier].name.clone(),
        now() as u64,
    );
    let chunk = move |choices: Value, usage: Option<Value>| {
        let mut v = json!({"id": id, "object": if chat { "chat.completion.chunk" } else { "text_completion" },
                           "created": created, "model": model, "choices": choices});
        if let Some(u) = usage {
            v["usage"] = u;
        }
        Sse::default().data(v.to_string())
    };
    let app2 = app.clone();
    let mut resp_headers = Response::new(axum::body::Body::empty());
    tag(&mut resp_headers, &app, &r, tier, nfb);
    tokio::spawn(async move {
        let Started {
            first,
            mut rx,
            slot,
            ..
        } = started;
        let mut ev = Some(first);
        let mut result = None;
        while let Some(e) = ev.take() {
            let msg = match e {
                Event::Text { sample, text } => chunk(
                    json!([if chat {
                        json!({"index": sample, "delta": {"role": "assistant", "content": text}, "finish_reason": null})
                    } else {
                        json!({"index": sample, "text": text, "finish_reason": null})
                    }]),
                    None,
                ),
                Event::Done(Ok(g)) => {
                    let choices: Vec<Value> = g.samples.iter().enumerate().map(|(i, s)| {
                        if chat {
                            json!({"index": i, "delta": {}, "finish_reason": finish_reason(s.finish)})
                        } else {
                            json!({"index": i, "text": "", "finish_reason": finish_reason(s.finish)})
                        }
                    }).collect();
                    let m = chunk(json!(choices), Some(usage(&g.timing)));
                    result = Some(Ok(g));
                    m
                }
                Event::Done(Err(e)) => {
                    let m = Sse::default().data(
                        ApiError::new(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "server_error",
                            e.to_string(),
                        )
                        .body()
                        .to_string(),
                    );
                    result = Some(Err(e));
                    m
                }
            };
            if out.send(Ok(msg)).is_err() {
                break; // the client left: dropping rx cancels the request
            }
            if result.is_some() {
                let _ = out.send(Ok(Sse::default().data("[DONE]")));
                break;
            }
            ev = rx.recv().await;
            if ev.is_none() {
                // The backend went away mid-answer: say so rather than end the stream silently.
                let e = tradeoff_engine::Error::Stopped("the backend stopped mid-answer".into());
                let body = ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    e.to_string(),
                );
                let _ = out.send(Ok(Sse::default().data(body.body().to_string())));
                let _ = out.send(Ok(Sse::default().data("[DONE]")));
                result = Some(Err(e));
            }
        }
        drop(slot);
        let (status, g) = match &result {
            Some(Ok(g)) => (200, Some(g)),
            Some(Err(_)) => (500, None),
            None => (499, None),
        };
        let tokens = g.map_or(0, |g| g.timing.generated_tokens);
        let entry = log_entry(
            &app2,
            &r,
            endpoint,
            Ending {
                answered: Some(tier),
                fallbacks,
                stream: true,
                status,
                completion_tokens: tokens,
            },
        );
        record(&app2, &entry, g);
    });
    let sse = axum::response::sse::Sse::new(UnboundedReceiverStream::new(out_rx))
        .keep_alive(KeepAlive::default());
    let mut resp = sse.into_response();
    for (k, v) in resp_headers.headers() {
        resp.headers_mut().insert(k.clone(), v.clone());
    }
    resp
}
