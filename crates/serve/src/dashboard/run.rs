//! A run's page: what it was (config, machine, manifests), its variants with the recipe
//! parameters that differ between them marked, and every metric with its 95% CI and the
//! comparison against the baseline. Also the run's full HTML and PDF report.

use super::page::{run_nav, View};
use super::params::{encode, Params};
use super::table::{Cell, Table};
use super::{with_store, Dashboard, Error, Result};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tradeoff_report::fmt::{delta, esc, p_value, value};
use tradeoff_report::{Report, Row, VariantInfo};
use tradeoff_store::{format_unix, Role, Run, Store};

/// The run and its analysis, by id or name.
pub(crate) fn load(store: &Store, what: &str) -> Result<(Run, Report)> {
    let run = store.resolve_run(what)?;
    let report = tradeoff_report::analyse(store, &run, &tradeoff_report::Options::default())?;
    Ok((run, report))
}

/// The anchor of a variant's row on the run page.
pub(crate) fn variant_anchor(id: &str) -> String {
    format!("variant-{}", &id[..id.len().min(12)])
}

pub(crate) fn crumbs(run: &Run) -> Vec<(String, String)> {
    vec![
        ("Runs".into(), "/".into()),
        (run.name.clone(), format!("/runs/{}", run.id)),
    ]
}

pub(crate) fn view(store: &Store, what: &str, _: &Params) -> Result<View> {
    let (run, r) = load(store, what)?;
    let mut body = run_nav(&run.id.to_string(), "");
    body.push_str(&meta(&run));
    for n in r.baseline_note.iter().chain(&r.notes) {
        body.push_str(&format!("<p class=\"note\">{}</p>", esc(n)));
    }
    let manifests: BTreeMap<String, Value> = store
        .variants(run.id)?
        .into_iter()
        .map(|v| (v.variant.id, v.variant.manifest))
        .collect();
    body.push_str(&variants(&r.variants, &manifests));
    body.push_str(&format!(
        "<details><summary>Config</summary><pre>{}</pre></details><h2>Metrics</h2>",
        esc(&run.config)
    ));
    Ok(View {
        title: format!("Run {}", run.name),
        crumbs: vec![("Runs".into(), "/".into())],
        run: Some(run.id.to_string()),
        body,
        table: Some(metrics(&r)),
        after: "<p class=\"meta\">Δ and its 95% CI are against the baseline (paired over the \
                problems both ran); * marks a McNemar test significant at 5% after Holm's \
                correction over the run.</p>"
            .into(),
        stem: format!("{}-metrics", run.name),
    })
}

fn meta(run: &Run) -> String {
    let m = &run.machine;
    format!(
        "<p class=\"meta\">Run {} · <b>{}</b> · started {} UTC{} · tradeoff {} · {} ({} threads, {:.1} GiB{})</p>",
        run.id,
        run.status.as_str(),
        format_unix(run.started_unix),
        run.ended_unix
            .map(|e| format!(", ended {} UTC", format_unix(e)))
            .unwrap_or_default(),
        esc(&run.tool_version),
        esc(&m.cpu),
        m.threads,
        m.ram_bytes as f64 / (1u64 << 30) as f64,
        m.gpu.as_ref().map(|g| format!(", {}", esc(g))).unwrap_or_default()
    )
}

/// `a.b.c = value` for every leaf of a JSON object.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        Value::Null => {}
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// The variants, one row each, with a column per recipe parameter; a parameter whose value
/// is not the same in every variant is marked (highlighted and flagged with ≠).
fn variants(vs: &[VariantInfo], manifests: &BTreeMap<String, Value>) -> String {
    let flat: Vec<BTreeMap<String, String>> = vs
        .iter()
        .map(|v| {
            let mut m = BTreeMap::new();
            flatten("", &v.recipe, &mut m);
            m
        })
        .collect();
    let keys: BTreeSet<&String> = flat.iter().flat_map(|m| m.keys()).collect();
    let differs = |k: &String| {
        let vals: BTreeSet<Option<&String>> = flat.iter().map(|m| m.get(k)).collect();
        vals.len() > 1
    };
    let mut s = String::from(
        "<h2>Variants</h2><p class=\"meta\">Recipe parameters that differ between variants are \
         <mark>marked ≠</mark>.</p><div class=\"scroll\"><table class=\"data\" id=\"variants\">\
         <thead><tr><th scope=\"col\">variant</th><th scope=\"col\">role</th><th scope=\"col\">model</th><th scope=\"col\">size</th>",
    );
    for k in &keys {
        let flag = if differs(k) { " ≠" } else { "" };
        s.push_str(&format!("<th scope=\"col\">{}{flag}</th>", esc(k)));
    }
    s.push_str("<th scope=\"col\">manifest</th></tr></thead><tbody>");
    for (v, m) in vs.iter().zip(&flat) {
        let base = v.role == Role::Baseline;
        s.push_str(&format!(
            "<tr id=\"{}\"{}><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td class=\"num\">{}</td>",
            variant_anchor(&v.id),
            if base { " class=\"base\"" } else { "" },
            esc(&v.label),
            if base { "baseline" } else { "candidate" },
            esc(&v.model),
            v.size_bytes
                .map(|b| value(b as f64, Some("bytes"), "size_bytes"))
                .unwrap_or_default()
        ));
        for k in &keys {
            match m.get(*k) {
                None => s.push_str("<td class=\"na\">—</td>"),
                Some(v) if differs(k) => s.push_str(&format!("<td><mark>≠ {}</mark></td>", esc(v))),
                Some(v) => s.push_str(&format!("<td>{}</td>", esc(v))),
            }
        }
        s.push_str(&format!(
            "<td><details><summary>manifest</summary><pre>{}</pre><p>{}</p></details></td></tr>",
            esc(&manifests
                .get(&v.id)
                .and_then(|m| serde_json::to_string_pretty(m).ok())
                .unwrap_or_default()),
            esc(v.artifact_path.as_deref().unwrap_or("no artifact file"))
        ));
    }
    s.push_str("</tbody></table></div>");
    s
}

/// Every metric of every variant, with CI and the comparison with the baseline.
fn metrics(r: &Report) -> Table {
    let mut t = Table::new(
        "metrics",
        format!("{} metrics", r.rows.len()),
        &[
            "variant",
            "kind",
            "result",
            "metric",
            "value",
            "95% CI",
            "n",
            "Δ vs baseline [95% CI]",
            "McNemar p (Holm)",
        ],
    );
    for row in &r.rows {
        t.push(metric_row(row));
        if row.role == Role::Baseline {
            *t.row_class.last_mut().expect("pushed") = Some("base");
        }
    }
    t
}

fn metric_row(row: &Row) -> Vec<Cell> {
    let unit = row.unit.as_deref();
    let arrow = if row.higher_is_better { " ↑" } else { " ↓" };
    let cmp = row.vs_baseline.as_ref();
    let p = cmp.and_then(|c| c.p_holm);
    let star = if cmp.and_then(|c| c.significant) == Some(true) {
        " *"
    } else {
        ""
    };
    vec![
        Cell::link(&row.label, &format!("#{}", variant_anchor(&row.variant))),
        Cell::text(row.kind.as_str()),
        Cell::text(&row.result),
        Cell::text(format!("{}{arrow}", row.metric)),
        Cell::num(row.value, value(row.value, unit, &row.metric)),
        Cell::text(
            row.ci95
                .map(|(lo, hi)| {
                    format!(
                        "[{}, {}]",
                        value(lo, unit, &row.metric),
                        value(hi, unit, &row.metric)
                    )
                })
                .unwrap_or_default(),
        )
        .class("num"),
        Cell::text(row.n.map(|n| n.to_string()).unwrap_or_default()).class("num"),
        Cell::text(
            cmp.map(|c| delta(c.delta, c.delta_ci, unit, &row.metric))
                .unwrap_or_default(),
        )
        .class("num"),
        Cell::text(
            p.map(|p| format!("{}{star}", p_value(p)))
                .unwrap_or_default(),
        )
        .class("num"),
    ]
}

/// The run's self-contained HTML report (the same as `tradeoff report`).
pub(crate) async fn report_html(
    State(d): State<Arc<Dashboard>>,
    Path(run): Path<String>,
) -> Response {
    match with_store(&d, move |s| Ok(tradeoff_report::html(&load(s, &run)?.1))).await {
        Ok(html) => ([(header::CONTENT_TYPE, super::page::HTML)], html).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The report printed to PDF by a headless Chromium.
pub(crate) async fn report_pdf(
    State(d): State<Arc<Dashboard>>,
    Path(run): Path<String>,
) -> Response {
    let pdf = with_store(&d, move |s| {
        let (run, report) = load(s, &run)?;
        let browser = tradeoff_report::pdf::find_browser().ok_or_else(|| {
            Error::NotFound(
                "no headless Chromium on PATH for PDF: `apt-get install chromium`".into(),
            )
        })?;
        let dir = std::env::temp_dir().join(format!(
            "tradeoff-dashboard-{}-{}",
            std::process::id(),
            encode(&run.name)
        ));
        let io = |e: std::io::Error| Error::BadRequest(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(&dir).map_err(io)?;
        let html = dir.join("report.html");
        std::fs::write(&html, tradeoff_report::html(&report)).map_err(io)?;
        let out = dir.join("report.pdf");
        let done = tradeoff_report::pdf::print(&browser, &html, &out, Duration::from_secs(120));
        let bytes = std::fs::read(&out);
        let _ = std::fs::remove_dir_all(&dir);
        match (done, bytes) {
            (tradeoff_report::pdf::Pdf::Written(_), Ok(b)) => Ok((run.name, b)),
            (tradeoff_report::pdf::Pdf::Skipped(why), _) => Err(Error::BadRequest(why)),
            (_, Err(e)) => Err(io(e)),
        }
    })
    .await;
    match pdf {
        Ok((name, bytes)) => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"{}.pdf\"", encode(&name)),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}
