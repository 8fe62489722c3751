//! The dashboard: HTML pages over the run store, served by the same binary as the API.
//!
//! Every page is rendered on the server (the report's analysis and SVG charts, plain forms and
//! links, so it works from the keyboard and without scripts); a little vanilla JS adds only the
//! live parts (sweep progress and the routing log over server-sent events, test queries). All
//! assets are compiled in: nothing is fetched from the network. Each view that shows a table
//! answers `?format=csv` and `?format=json` with exactly the rows its filters show.

mod compare;
mod page;
mod params;
mod pareto;
mod problems;
mod progress;
mod routing;
mod run;
mod runs;
mod table;

use crate::App;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use page::View;
use params::Params;
use std::path::PathBuf;
use std::sync::Arc;
use tradeoff_store::Store;

/// What the dashboard reads, and the API server beside it (for the routing page), if any.
pub struct Dashboard {
    pub store: PathBuf,
    pub app: Option<Arc<App>>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Store(#[from] tradeoff_store::Error),
    #[error(transparent)]
    Report(#[from] tradeoff_report::Error),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
}

type Result<T> = std::result::Result<T, Error>;

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match &self {
            Error::NotFound(_) | Error::Store(tradeoff_store::Error::NoRun(_)) => {
                StatusCode::NOT_FOUND
            }
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = page::error_page(status, &self.to_string());
        (status, [(header::CONTENT_TYPE, page::HTML)], body).into_response()
    }
}

/// The dashboard's routes (no fallback: it merges with the API's router).
pub fn router(d: Dashboard) -> Router {
    Router::new()
        .route("/", get(runs_page))
        .route("/runs", get(runs_page))
        .route("/runs/{run}", get(run_page))
        .route("/runs/{run}/compare", get(compare_page))
        .route("/runs/{run}/pareto", get(pareto_page))
        .route("/runs/{run}/problems", get(problems_page))
        .route("/runs/{run}/sample", get(sample_page))
        .route("/runs/{run}/report.html", get(run::report_html))
        .route("/runs/{run}/report.pdf", get(run::report_pdf))
        .route("/runs/{run}/progress", get(progress_page))
        .route("/runs/{run}/progress/events", get(progress::events))
        .route("/routing", get(routing_page))
        .route("/routing/events", get(routing::events))
        .route("/assets/dashboard.css", get(css))
        .route("/assets/dashboard.js", get(js))
        // The report's page names no icon, so browsers ask for this one; a 404 would be a
        // console error.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .with_state(Arc::new(d))
}

/// Runs `f` on a blocking thread with its own store connection (SQLite is synchronous; WAL
/// lets it read while a sweep writes).
pub(crate) async fn with_store<T, F>(d: &Dashboard, f: F) -> Result<T>
where
    F: FnOnce(&Store) -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    let path = d.store.clone();
    tokio::task::spawn_blocking(move || f(&Store::open(&path)?))
        .await
        .unwrap_or_else(|e| Err(Error::BadRequest(format!("page failed: {e}"))))
}

/// A view as HTML, or its table as CSV or JSON when the query asks.
async fn view<F>(d: Arc<Dashboard>, uri: OriginalUri, q: Option<String>, f: F) -> Response
where
    F: FnOnce(&Store, &Params) -> Result<View> + Send + 'static,
{
    let params = Params::parse(q.as_deref());
    let p = params.clone();
    match with_store(&d, move |s| f(s, &p)).await {
        Ok(v) => v.respond(uri.path(), &params),
        Err(e) => e.into_response(),
    }
}

type Ctx = (State<Arc<Dashboard>>, OriginalUri, RawQuery);

async fn runs_page((State(d), uri, RawQuery(q)): Ctx) -> Response {
    view(d, uri, q, runs::view).await
}

async fn run_page(Path(run): Path<String>, (State(d), uri, RawQuery(q)): Ctx) -> Response {
    view(d, uri, q, move |s, p| run::view(s, &run, p)).await
}

async fn compare_page(Path(run): Path<String>, (State(d), uri, RawQuery(q)): Ctx) -> Response {
    view(d, uri, q, move |s, p| compare::view(s, &run, p)).await
}

async fn pareto_page(Path(run): Path<String>, (State(d), uri, RawQuery(q)): Ctx) -> Response {
    view(d, uri, q, move |s, p| pareto::view(s, &run, p)).await
}

async fn problems_page(Path(run): Path<String>, (State(d), uri, RawQuery(q)): Ctx) -> Response {
    view(d, uri, q, move |s, p| problems::view(s, &run, p)).await
}

async fn sample_page(Path(run): Path<String>, (State(d), uri, RawQuery(q)): Ctx) -> Response {
    view(d, uri, q, move |s, p| problems::sample(s, &run, p)).await
}

async fn progress_page(Path(run): Path<String>, (State(d), uri, RawQuery(q)): Ctx) -> Response {
    view(d, uri, q, move |s, p| progress::view(s, &run, p)).await
}

async fn routing_page((State(d), uri, RawQuery(q)): Ctx) -> Response {
    let app = d.app.clone();
    view(d, uri, q, move |s, p| routing::view(s, app.as_deref(), p)).await
}

async fn css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("assets/dashboard.css"),
    )
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/dashboard.js"),
    )
}

fn asset(kind: &'static str, text: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        text,
    )
        .into_response()
}
