//! Routing page: the routing log of a server session (from the run store) with counts per
//! answering variant, followed live over server-sent events; and, when this server has
//! variants to answer with, a form to send a test query under a chosen policy and threshold
//! or a manual override, showing the decision and the answer.

use super::page::{select, View};
use super::params::Params;
use super::table::{Cell, Table};
use super::{with_store, Dashboard, Result};
use crate::{App, LogEntry};
use axum::extract::{RawQuery, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::wrappers::ReceiverStream;
use tradeoff_report::fmt::esc;
use tradeoff_store::{format_unix, Store};

/// Requests answered by one variant in a session.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Count {
    pub variant: String,
    pub requests: usize,
    pub share: f64,
    pub fallbacks: usize,
    pub mean_latency_s: f64,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct Log {
    pub session: Option<String>,
    pub total: usize,
    pub counts: Vec<Count>,
    /// The latest decisions, newest first.
    pub recent: Vec<LogEntry>,
}

/// The session asked for, else the latest one, summarised.
pub(crate) fn log(store: &Store, session: Option<&str>) -> Result<Log> {
    let sessions = store.routing_sessions()?;
    let Some(session) = session
        .map(str::to_string)
        .or_else(|| sessions.last().map(|s| s.session.clone()))
    else {
        return Ok(Log::default());
    };
    let entries: Vec<LogEntry> = store
        .routing_log(Some(&session))?
        .iter()
        .filter_map(|e| serde_json::from_str(e).ok())
        .collect();
    let mut by: BTreeMap<String, Count> = BTreeMap::new();
    for e in &entries {
        let name = e.answered.clone().unwrap_or_else(|| "(no answer)".into());
        let c = by.entry(name.clone()).or_insert_with(|| Count {
            variant: name,
            ..Count::default()
        });
        c.requests += 1;
        c.fallbacks += e.fallbacks.len();
        c.mean_latency_s += e.latency_s;
    }
    let total = entries.len();
    let counts = by
        .into_values()
        .map(|mut c| {
            c.mean_latency_s /= c.requests as f64;
            c.share = c.requests as f64 / total as f64;
            c
        })
        .collect();
    Ok(Log {
        session: Some(session),
        total,
        counts,
        recent: entries.into_iter().rev().take(20).collect(),
    })
}

pub(crate) fn view(store: &Store, app: Option<&App>, p: &Params) -> Result<View> {
    let sessions = store.routing_sessions()?;
    let l = log(store, p.get("session"))?;
    let mut body = String::new();
    match app {
        Some(app) => body.push_str(&test_form(app)),
        None => body.push_str(
            "<p class=\"note\">This server has no variants to answer with: start it with \
             <code>tradeoff serve --tier NAME=MODEL …</code> to send test queries from here.</p>",
        ),
    }
    let opts: Vec<(String, String)> = sessions
        .iter()
        .rev()
        .map(|s| {
            (
                s.session.clone(),
                format!(
                    "{} ({} requests, last {})",
                    s.session,
                    s.requests,
                    format_unix(s.last_unix)
                ),
            )
        })
        .collect();
    body.push_str("<h2>Routing log</h2>");
    if !opts.is_empty() {
        body.push_str(&format!(
            "<form class=\"filters\" method=\"get\" action=\"/routing\">{}<button type=\"submit\">Show</button></form>",
            select("session", "Server session", &opts, l.session.as_deref())
        ));
    }
    let events = match p.get("session") {
        Some(s) => format!("/routing/events?session={}", super::params::encode(s)),
        None => "/routing/events".into(),
    };
    body.push_str(&format!(
        "<p id=\"routing-summary\" role=\"status\" aria-live=\"polite\" data-events=\"{}\">{}</p>",
        esc(&events),
        esc(&summary(&l))
    ));
    let mut t = Table::new(
        "counts",
        "Requests per answering variant",
        &[
            "variant",
            "requests",
            "share",
            "fallbacks",
            "mean latency (s)",
        ],
    );
    for c in &l.counts {
        t.push(vec![
            Cell::text(&c.variant),
            Cell::num(c.requests as f64, c.requests.to_string()),
            Cell::num(c.share, format!("{:.1}%", c.share * 100.0)),
            Cell::num(c.fallbacks as f64, c.fallbacks.to_string()),
            Cell::num(c.mean_latency_s, format!("{:.3}", c.mean_latency_s)),
        ]);
    }
    Ok(View {
        title: "Routing".into(),
        body,
        table: Some(t),
        after: recent(&l.recent),
        stem: "routing".into(),
        ..View::default()
    })
}

fn summary(l: &Log) -> String {
    match &l.session {
        Some(s) => format!("Session {s}: {} requests logged.", l.total),
        None => "No server session has logged requests in this store yet.".into(),
    }
}

fn recent(entries: &[LogEntry]) -> String {
    let mut s = String::from("<h2>Latest decisions</h2><ol id=\"recent\" class=\"log\">");
    for e in entries {
        s.push_str(&format!(
            "<li>{} · {} → <b>{}</b> ({})</li>",
            esc(&format_unix(e.time)),
            esc(&e.policy),
            esc(e.answered.as_deref().unwrap_or("no answer")),
            esc(&e.reason)
        ));
    }
    s.push_str("</ol>");
    s
}

/// Policy, threshold, override and a prompt; the script posts it to `/v1/completions`.
fn test_form(app: &App) -> String {
    let policies: Vec<(String, String)> = app
        .opts
        .policies
        .keys()
        .map(|k| (k.clone(), k.clone()))
        .collect();
    let (default, thr) = &app.opts.default_policy;
    let mut overrides = vec![(String::new(), "none: route by the policy".to_string())];
    overrides.extend(
        app.tiers()
            .iter()
            .map(|t| (t.name.clone(), format!("always {}", t.name))),
    );
    let key = if app.opts.api_key.is_some() {
        "<label>API key <input type=\"password\" name=\"key\" autocomplete=\"off\"></label>"
    } else {
        ""
    };
    format!(
        "<h2>Send a test query</h2><form id=\"route-test\" class=\"filters\">{}\
         <label>Threshold <input type=\"number\" name=\"threshold\" step=\"any\" value=\"{thr}\"></label>{}{key}\
         <label class=\"wide\">Prompt <textarea name=\"prompt\" rows=\"4\" required>def add(a, b):\n</textarea></label>\
         <label>Max tokens <input type=\"number\" name=\"max_tokens\" value=\"32\" min=\"1\"></label>\
         <button type=\"submit\">Send</button></form>\
         <div id=\"route-answer\" role=\"status\" aria-live=\"polite\"></div>",
        select("policy", "Policy", &policies, Some(default)),
        select("override", "Manual override", &overrides, None),
    )
}

/// Server-sent events: the session's [`Log`] each second while the client listens.
pub(crate) async fn events(State(d): State<Arc<Dashboard>>, RawQuery(q): RawQuery) -> Response {
    let session = Params::parse(q.as_deref())
        .get("session")
        .map(str::to_string);
    let (tx, rx) = tokio::sync::mpsc::channel::<std::result::Result<Event, Infallible>>(4);
    tokio::spawn(async move {
        loop {
            let s = session.clone();
            let event = match with_store(&d, move |st| log(st, s.as_deref())).await {
                Ok(l) => {
                    let mut v = serde_json::to_value(&l).expect("log serializes");
                    v["summary"] = summary(&l).into();
                    Event::default().event("log").data(v.to_string())
                }
                Err(e) => Event::default().event("error").data(e.to_string()),
            };
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response()
}
