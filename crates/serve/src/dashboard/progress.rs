//! Live progress of a sweep: its steps (one per stored result) with samples committed, and
//! for running benchmark steps an estimate of the time left; the page follows it over
//! server-sent events, which poll the store once a second until the run ends.

use super::page::{run_nav, View};
use super::params::Params;
use super::run::crumbs;
use super::table::{Cell, Table};
use super::{with_store, Dashboard, Result};
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::wrappers::ReceiverStream;
use tradeoff_store::{format_unix, now_unix, Status, Store};

/// One step of the sweep: a result being (or done) computed.
#[derive(Debug, Serialize)]
pub(crate) struct Step {
    pub variant: String,
    pub kind: String,
    pub name: String,
    pub status: String,
    pub samples: usize,
    /// Samples a finished step of the same benchmark has (what this one will reach).
    pub expected: Option<usize>,
    pub eta_s: Option<f64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Progress {
    pub run: String,
    pub status: String,
    pub steps_done: usize,
    pub steps_failed: usize,
    pub steps: Vec<Step>,
    pub samples: usize,
    pub elapsed_s: f64,
    /// The longest estimate of the running steps (they run one after another or together).
    pub eta_s: Option<f64>,
}

pub(crate) fn progress(store: &Store, what: &str) -> Result<Progress> {
    let run = store.resolve_run(what)?;
    let labels: BTreeMap<String, String> = store
        .variants(run.id)?
        .into_iter()
        .map(|v| (v.variant.id, v.variant.label))
        .collect();
    let results = store.results(run.id)?;
    let counts = store.sample_counts(run.id)?;
    let count = |id: i64| counts.get(&id).copied().unwrap_or(0);
    // Samples of a finished step, per benchmark: what a running one of it will reach.
    let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
    for r in results.iter().filter(|r| r.status == Status::Done) {
        let n = expected.entry(r.name.as_str()).or_default();
        *n = (*n).max(count(r.id));
    }
    let now = now_unix();
    let steps: Vec<Step> = results
        .iter()
        .map(|r| {
            let done = count(r.id);
            let exp = expected.get(r.name.as_str()).copied().filter(|&e| e > 0);
            let eta_s = match (r.status, exp) {
                (Status::Running, Some(e)) if done > 0 && e > done => {
                    Some((now - r.started_unix) / done as f64 * (e - done) as f64)
                }
                _ => None,
            };
            Step {
                variant: labels.get(&r.variant).cloned().unwrap_or_default(),
                kind: r.kind.as_str().into(),
                name: r.name.clone(),
                status: r.status.as_str().into(),
                samples: done,
                expected: exp,
                eta_s,
            }
        })
        .collect();
    Ok(Progress {
        run: run.name.clone(),
        status: run.status.as_str().into(),
        steps_done: results.iter().filter(|r| r.status == Status::Done).count(),
        steps_failed: results
            .iter()
            .filter(|r| r.status == Status::Failed)
            .count(),
        samples: steps.iter().map(|s| s.samples).sum(),
        eta_s: steps.iter().filter_map(|s| s.eta_s).reduce(f64::max),
        steps,
        elapsed_s: run.ended_unix.unwrap_or(now) - run.started_unix,
    })
}

/// `1h 02m`, `3m 05s`, `12s`.
pub(crate) fn duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s / 60 % 60),
    }
}

/// The sentence above the table; the script rewrites it from each event.
fn summary(p: &Progress) -> String {
    format!(
        "{}: {} steps, {} done, {} failed; {} samples committed; {} elapsed{}",
        p.status,
        p.steps.len(),
        p.steps_done,
        p.steps_failed,
        p.samples,
        duration(p.elapsed_s),
        p.eta_s
            .map(|e| format!("; about {} left in the running steps", duration(e)))
            .unwrap_or_default()
    )
}

pub(crate) fn view(store: &Store, what: &str, _: &Params) -> Result<View> {
    let run = store.resolve_run(what)?;
    let p = progress(store, what)?;
    let mut t = Table::new(
        "steps",
        "Steps",
        &[
            "variant", "kind", "name", "status", "samples", "expected", "ETA",
        ],
    );
    for s in &p.steps {
        t.push(vec![
            Cell::text(&s.variant),
            Cell::text(&s.kind),
            Cell::text(&s.name),
            Cell::text(&s.status),
            Cell::num(s.samples as f64, s.samples.to_string()),
            Cell::text(s.expected.map(|e| e.to_string()).unwrap_or_default()).class("num"),
            Cell::text(s.eta_s.map(duration).unwrap_or_default()).class("num"),
        ]);
    }
    let mut body = run_nav(&run.id.to_string(), "/progress");
    body.push_str(&format!(
        "<p class=\"meta\">Started {} UTC. This page follows the store while the run is running.</p>\
         <p id=\"progress-summary\" role=\"status\" aria-live=\"polite\" data-events=\"/runs/{}/progress/events\">{}</p>",
        format_unix(run.started_unix),
        run.id,
        tradeoff_report::fmt::esc(&summary(&p))
    ));
    Ok(View {
        title: format!("Progress of {}", run.name),
        crumbs: crumbs(&run),
        run: Some(run.id.to_string()),
        body,
        table: Some(t),
        stem: format!("{}-progress", run.name),
        ..View::default()
    })
}

/// Server-sent events: a `progress` event (the [`Progress`] as JSON, with its summary) each
/// second while the run is running, then one last and a `done` event.
pub(crate) async fn events(State(d): State<Arc<Dashboard>>, Path(run): Path<String>) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::result::Result<Event, Infallible>>(4);
    tokio::spawn(async move {
        loop {
            let what = run.clone();
            let snap = with_store(&d, move |s| progress(s, &what)).await;
            let (event, running) = match snap {
                Ok(p) => {
                    let mut v = serde_json::to_value(&p).expect("progress serializes");
                    v["summary"] = summary(&p).into();
                    (
                        Event::default().event("progress").data(v.to_string()),
                        p.status == "running",
                    )
                }
                Err(e) => (Event::default().event("error").data(e.to_string()), false),
            };
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
            if !running {
                let _ = tx.send(Ok(Event::default().event("done").data(""))).await;
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response()
}
