//! Per-problem view: which variant solved which problem of a benchmark (a grid of marks, not
//! only colours), each cell a link to the problem's prompt, the completions, the sandbox's
//! verdict and its output.

use super::page::{run_nav, select, View};
use super::params::{encode, Params};
use super::run::{crumbs, load};
use super::table::{Cell, Table};
use super::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use tradeoff_report::fmt::{esc, rate};
use tradeoff_store::{Kind, Status, Store};

pub(crate) fn view(store: &Store, what: &str, p: &Params) -> Result<View> {
    let (run, r) = load(store, what)?;
    let benches: Vec<(String, String)> = r
        .heatmaps
        .iter()
        .map(|h| (h.result.clone(), h.result.clone()))
        .collect();
    let hm = r
        .heatmaps
        .iter()
        .find(|h| p.get("bench").is_none_or(|b| b == h.result));
    let show = p.get("show").unwrap_or("all");
    let shows = [
        ("all", "every problem"),
        ("differ", "where variants differ"),
        ("unsolved", "solved by none"),
    ]
    .map(|(a, b)| (a.to_string(), b.to_string()));
    let mut body = run_nav(&run.id.to_string(), "/problems");
    body.push_str(&format!(
        "<form class=\"filters\" method=\"get\" action=\"/runs/{}/problems\">{}{}<button type=\"submit\">Show</button></form>",
        run.id,
        select("bench", "Benchmark", &benches, hm.map(|h| h.result.as_str())),
        select("show", "Problems", &shows, Some(show)),
    ));
    let Some(hm) = hm else {
        body.push_str("<p class=\"note\">No benchmark with per-problem outcomes in this run.</p>");
        return Ok(View {
            title: format!("Per problem: {}", run.name),
            crumbs: crumbs(&run),
            body,
            ..View::default()
        });
    };
    // The stored result behind each column, for the cell links.
    let id_of: BTreeMap<&str, &str> = r
        .variants
        .iter()
        .map(|v| (v.label.as_str(), v.id.as_str()))
        .collect();
    let result_of: BTreeMap<String, i64> = store
        .results(run.id)?
        .into_iter()
        .filter(|x| x.kind == Kind::Bench && x.name == hm.result && x.status == Status::Done)
        .map(|x| (x.variant, x.id))
        .collect();
    let results: Vec<Option<i64>> = hm
        .variants
        .iter()
        .map(|l| {
            id_of
                .get(l.as_str())
                .and_then(|id| result_of.get(*id).copied())
        })
        .collect();
    body.push_str("<ul class=\"solved\">");
    for (label, rt) in hm.variants.iter().zip(&hm.solved) {
        body.push_str(&format!(
            "<li><b>{}</b>: {} solved</li>",
            esc(label),
            rate(rt)
        ));
    }
    body.push_str("</ul><p class=\"meta\">✓ every sample passed, ✗ none did, ◐ some did, — not run. Select a mark to read the problem.</p>");
    let mut cols = vec!["problem".to_string()];
    cols.extend(hm.variants.iter().cloned());
    let refs: Vec<&str> = cols.iter().map(String::as_str).collect();
    let mut t = Table::new("grid", format!("{} per problem", hm.result), &refs);
    for (ti, task) in hm.tasks.iter().enumerate() {
        let cells: Vec<Option<f64>> = hm.cells.iter().map(|row| row[ti]).collect();
        if !wanted(show, &cells) {
            continue;
        }
        let mut row = vec![Cell::text(task)];
        for (c, result) in cells.iter().zip(&results) {
            row.push(mark(*c, *result, task, run.id));
        }
        t.push(row);
    }
    Ok(View {
        title: format!("Per problem: {}", run.name),
        crumbs: crumbs(&run),
        run: Some(run.id.to_string()),
        body,
        table: Some(t),
        stem: format!("{}-{}-problems", run.name, hm.result),
        ..View::default()
    })
}

fn wanted(show: &str, cells: &[Option<f64>]) -> bool {
    let ran: Vec<f64> = cells.iter().flatten().copied().collect();
    match show {
        "differ" => ran.iter().any(|&f| f > 0.0) && ran.iter().any(|&f| f < 1.0),
        "unsolved" => ran.iter().all(|&f| f == 0.0),
        _ => true,
    }
}

fn mark(cell: Option<f64>, result: Option<i64>, task: &str, run: i64) -> Cell {
    let Some(f) = cell else {
        return Cell::text("—").class("na");
    };
    let (sym, class) = if f >= 1.0 {
        ("✓ pass", "pass")
    } else if f <= 0.0 {
        ("✗ fail", "fail")
    } else {
        ("◐ part", "part")
    };
    let shown = if f > 0.0 && f < 1.0 {
        format!("{sym} {:.0}%", f * 100.0)
    } else {
        sym.to_string()
    };
    let cell = Cell::num(f, shown.clone()).class(class);
    match result {
        Some(id) => cell.html(format!(
            "<a href=\"/runs/{run}/sample?result={id}&amp;task={}\">{}</a>",
            encode(task),
            esc(&shown)
        )),
        None => cell,
    }
}

/// One problem of one result: its prompt, then each sample's completion, program, verdict
/// and the sandbox's output.
pub(crate) fn sample(store: &Store, what: &str, p: &Params) -> Result<View> {
    let run = store.resolve_run(what)?;
    let result: i64 = p
        .get("result")
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| Error::BadRequest("result=ID is required".into()))?;
    let task = p
        .get("task")
        .ok_or_else(|| Error::BadRequest("task=TASK is required".into()))?;
    let row = store.result(result, Some(run.id))?;
    let label = store
        .variants(run.id)?
        .into_iter()
        .find(|v| v.variant.id == row.variant)
        .map(|v| v.variant.label)
        .ok_or_else(|| Error::NotFound(format!("result {result} is not in run {}", run.name)))?;
    let samples: Vec<_> = store
        .samples(result)?
        .into_iter()
        .filter(|s| s.task_id == task)
        .collect();
    if samples.is_empty() {
        return Err(Error::NotFound(format!(
            "no samples of {task} in result {result}"
        )));
    }
    // The prompt and programs are only in the finished record.
    let problem = store.record(result)?.and_then(|rec| {
        rec.get("problems")?
            .as_array()?
            .iter()
            .find(|x| x.get("task_id").and_then(Value::as_str) == Some(task))
            .cloned()
    });
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let mut body = format!(
        "<p class=\"meta\">{} · {} · variant <b>{}</b></p>",
        esc(&row.name),
        esc(task),
        esc(&label)
    );
    if let Some(pr) = &problem {
        body.push_str(&format!(
            "<h2>Prompt</h2><pre class=\"code\">{}</pre>",
            esc(&text(pr.get("prompt")))
        ));
    }
    let mut t = Table::new(
        "samples",
        "Samples",
        &[
            "sample", "verdict", "passed", "tokens", "exec (s)", "output",
        ],
    );
    let mut after = String::new();
    for s in &samples {
        t.push(vec![
            Cell::num(s.sample as f64, s.sample.to_string()),
            Cell::text(&s.status).class(if s.passed { "pass" } else { "fail" }),
            Cell::text(if s.passed { "✓ yes" } else { "✗ no" }),
            Cell::text(s.tokens.map(|t| t.to_string()).unwrap_or_default()).class("num"),
            Cell::text(s.exec_s.map(|x| format!("{x:.3}")).unwrap_or_default()).class("num"),
            Cell::text(s.detail.clone().unwrap_or_default()),
        ]);
        let program = problem.as_ref().and_then(|pr| {
            pr.get("samples")?
                .get(s.sample as usize)?
                .get("program")?
                .as_str()
                .map(str::to_string)
        });
        after.push_str(&format!(
            "<h2>Sample {}: {}</h2><h3>Completion</h3><pre class=\"code\">{}</pre>",
            s.sample,
            esc(&s.status),
            esc(s.completion.as_deref().unwrap_or("(not stored)"))
        ));
        if let Some(prog) = program {
            after.push_str(&format!(
                "<details><summary>Program the sandbox ran</summary><pre class=\"code\">{}</pre></details>",
                esc(&prog)
            ));
        }
        if let Some(d) = &s.detail {
            after.push_str(&format!(
                "<h3>Sandbox output</h3><pre class=\"code\">{}</pre>",
                esc(d)
            ));
        }
    }
    let mut crumbs = crumbs(&run);
    crumbs.push((
        "Per problem".into(),
        format!("/runs/{}/problems?bench={}", run.id, encode(&row.name)),
    ));
    Ok(View {
        title: format!("{task} · {label}"),
        crumbs,
        run: Some(run.id.to_string()),
        body,
        table: Some(t),
        after,
        stem: format!("{}-{}-{}", run.name, label, task),
    })
}
