//! tradeoff's server: an OpenAI-compatible endpoint (`/v1/completions`,
//! `/v1/chat/completions`, `/v1/models`, `/health`, `/metrics`) that sends each request to
//! one of several variants ("tiers", cheapest first) by a routing policy from
//! `tradeoff-route`, with manual override, fallback to the next tier and a log of every
//! decision.
//!
//! A request's `model` picks how it is routed: a tier's name answers with that tier (manual
//! override, as does the `X-Tradeoff-Variant` header), `router-<policy>-<threshold>` uses that
//! policy (RouteLLM's convention), `auto` or nothing the server's default policy.

mod backend;
pub mod dashboard;
mod handlers;
mod log;
mod metrics;
pub mod openai;

pub use backend::{Backend, Input, Remote};
pub use log::{read_log, Attempt, LogEntry, LogSink};

use metrics::Metrics;
use openai::{ApiError, Limits};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tradeoff_route::{Decision, Embedder, Policy, Query, Routed, Router};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Engine(#[from] tradeoff_engine::Error),
    #[error(transparent)]
    Route(#[from] tradeoff_route::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// A variant the server can answer with.
pub struct Tier {
    pub name: String,
    pub backend: Arc<dyn Backend>,
    /// A request that has not finished by then moves to the next tier.
    pub timeout: Duration,
    /// Requests in flight beyond this go to the next tier (overload).
    pub max_in_flight: usize,
    in_flight: AtomicUsize,
}

impl Tier {
    pub fn new(name: impl Into<String>, backend: Arc<dyn Backend>) -> Self {
        Self {
            name: name.into(),
            backend,
            timeout: Duration::from_secs(300),
            max_in_flight: 256,
            in_flight: AtomicUsize::new(0),
        }
    }
}

/// Counts a request in flight on a tier until dropped.
struct InFlight {
    app: Arc<App>,
    tier: usize,
}

impl InFlight {
    /// None when the tier already holds its maximum.
    fn try_new(app: &Arc<App>, tier: usize) -> Option<Self> {
        let t = &app.opts.tiers[tier];
        let n = t.in_flight.fetch_add(1, Ordering::SeqCst);
        if n >= t.max_in_flight {
            t.in_flight.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Self {
            app: app.clone(),
            tier,
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.app.opts.tiers[self.tier]
            .in_flight
            .fetch_sub(1, Ordering::SeqCst);
    }
}

/// Everything the server is configured with.
pub struct Options {
    /// Cheapest first.
    pub tiers: Vec<Tier>,
    /// Policies by name, fitted already where they learn.
    pub policies: BTreeMap<String, Arc<dyn Policy>>,
    /// What `auto` means: a policy name and its threshold.
    pub default_policy: (String, f64),
    /// For the embedding policies.
    pub embedder: Option<Arc<Embedder>>,
    /// JSON lines, one per request.
    pub log: Option<PathBuf>,
    /// Where else each decision goes (the run store).
    pub sinks: Vec<Arc<dyn LogSink>>,
    /// Clients must send `Authorization: Bearer KEY` (all but `/health`).
    pub api_key: Option<String>,
    pub limits: Limits,
    /// Largest request body, bytes.
    pub max_body: usize,
}

/// The server's shared state.
pub struct App {
    opts: Options,
    metrics: Metrics,
    log: Mutex<Option<std::fs::File>>,
    next_id: AtomicUsize,
}

impl App {
    pub fn new(opts: Options) -> Result<Arc<App>> {
        if opts.tiers.is_empty() {
            return Err(Error::Config(
                "no tiers: give at least one variant to serve".into(),
            ));
        }
        let names: std::collections::BTreeSet<&str> =
            opts.tiers.iter().map(|t| t.name.as_str()).collect();
        if names.len() != opts.tiers.len() {
            return Err(Error::Config("two tiers share a name".into()));
        }
        if !opts.policies.contains_key(&opts.default_policy.0) {
            return Err(Error::Config(format!(
                "default policy {} is not among the loaded ones ({})",
                opts.default_policy.0,
                opts.policies.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let log = match &opts.log {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|source| Error::Io {
                        path: p.clone(),
                        source,
                    })?,
            ),
            None => None,
        };
        Ok(Arc::new(App {
            opts,
            metrics: Metrics::default(),
            log: Mutex::new(log),
            next_id: AtomicUsize::new(0),
        }))
    }

    pub fn tiers(&self) -> &[Tier] {
        &self.opts.tiers
    }

    fn tier_index(&self, name: &str) -> Option<usize> {
        self.opts.tiers.iter().position(|t| t.name == name)
    }

    /// How a request is routed: which policy at which threshold, or an override.
    fn route_spec(
        &self,
        model: Option<&str>,
        header: Option<&str>,
    ) -> std::result::Result<RouteSpec, ApiError> {
        if let Some(h) = header {
            return match self.tier_index(h) {
                Some(t) => Ok(RouteSpec::Override(
                    t,
                    format!("header X-Tradeoff-Variant: {h}"),
                )),
                None => Err(self.unknown_model(h)),
            };
        }
        match model {
            None | Some("") | Some("auto") => Ok(RouteSpec::Policy(
                self.opts.default_policy.0.clone(),
                self.opts.default_policy.1,
            )),
            Some(m) => {
                if let Some(t) = self.tier_index(m) {
                    return Ok(RouteSpec::Override(t, format!("model: {m}")));
                }
                let spec = m.strip_prefix("router-").and_then(|r| {
                    let (p, thr) = r.rsplit_once('-')?;
                    Some((p.to_string(), thr.parse::<f64>().ok()?))
                });
                match spec {
                    Some((p, thr)) if self.opts.policies.contains_key(&p) => {
                        Ok(RouteSpec::Policy(p, thr))
                    }
                    _ => Err(self.unknown_model(m)),
                }
            }
        }
    }

    fn unknown_model(&self, m: &str) -> ApiError {
        let mut e = ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!(
                "model {m:?} does not exist here: use a variant ({}), \"auto\", or \
                 router-<policy>-<threshold> with a policy among {}",
                self.opts
                    .tiers
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                self.opts
                    .policies
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        e.param = Some("model");
        e
    }

    /// The decision for a query under `spec`.
    fn decide(&self, spec: &RouteSpec, q: &Query) -> (String, Decision) {
        match spec {
            RouteSpec::Override(t, why) => (
                "override".into(),
                Decision {
                    tier: *t,
                    score: f64::NAN,
                    reason: format!("manual override ({why})"),
                },
            ),
            RouteSpec::Policy(name, thr) => {
                let routed = Routed {
                    policy: Box::new(Shared(self.opts.policies[name].clone())),
                    threshold: *thr,
                    tiers: self.opts.tiers.len(),
                };
                (routed.name(), routed.route(q))
            }
        }
    }

    /// Tiers to try, in order: the chosen one, then the stronger ones, then the cheaper ones.
    fn order(&self, chosen: usize) -> Vec<usize> {
        let n = self.opts.tiers.len();
        (chosen..n).chain((0..chosen).rev()).collect()
    }

    fn write_log(&self, e: &LogEntry) {
        let mut g = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = g.as_mut() {
            use std::io::Write;
            if let Ok(line) = serde_json::to_string(e) {
                if let Err(err) = writeln!(f, "{line}") {
                    tracing::warn!("routing log: {err}");
                }
            }
        }
        drop(g);
        for s in &self.opts.sinks {
            s.write(e);
        }
    }
}

enum RouteSpec {
    Override(usize, String),
    Policy(String, f64),
}

/// A shared policy behind the `Box<dyn Policy>` that `Routed` holds.
struct Shared(Arc<dyn Policy>);

impl Policy for Shared {
    fn name(&self) -> String {
        self.0.name()
    }
    fn threshold_unit(&self) -> &'static str {
        self.0.threshold_unit()
    }
    fn score(&self, q: &Query) -> tradeoff_route::Score {
        self.0.score(q)
    }
    fn explain(&self, q: &Query) -> String {
        self.0.explain(q)
    }
}

/// The HTTP routes over `app`.
pub fn router(app: Arc<App>) -> axum::Router {
    handlers::router(app)
}

/// Serves `router` (the API, the dashboard, or both merged) until `shutdown` resolves, then
/// finishes the requests in flight.
pub async fn serve_router(
    router: axum::Router,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}
