//! The runs list: filter by model, method, benchmark, status, name and date; sort by any
//! column. Filtering and sorting happen here, over one listing and two facet queries, so the
//! page stays fast with hundreds of runs.

use super::page::{select, View};
use super::params::{parse_date, Params};
use super::table::{Cell, Table};
use super::Result;
use std::collections::BTreeSet;
use tradeoff_report::fmt::esc;
use tradeoff_store::{format_unix, RunFacets, RunSummary, Store};

const COLUMNS: &[&str] = &[
    "run",
    "status",
    "started (UTC)",
    "models",
    "methods",
    "benchmarks",
    "variants",
    "results",
    "reused",
];
/// Sort keys, by column.
const SORTS: &[&str] = &[
    "name", "status", "started", "", "", "", "variants", "results", "reused",
];

pub(crate) fn view(store: &Store, p: &Params) -> Result<View> {
    let runs = store.list_runs()?;
    let facets = store.run_facets()?;
    let empty = RunFacets::default();
    let facet = |r: &RunSummary| facets.get(&r.id).unwrap_or(&empty);
    let mut shown: Vec<&RunSummary> = runs.iter().filter(|r| keep(r, facet(r), p)).collect();
    sort(&mut shown, p);

    let mut t = Table::new(
        "runs",
        format!("{} of {} runs", shown.len(), runs.len()),
        COLUMNS,
    );
    t.head_html = COLUMNS
        .iter()
        .zip(SORTS)
        .map(|(c, key)| (!key.is_empty()).then(|| sort_link(c, key, p)))
        .collect();
    for r in shown {
        let f = facet(r);
        let join = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
        t.push(vec![
            Cell::link(&r.name, &format!("/runs/{}", r.id)),
            Cell::text(r.status.as_str()),
            Cell::text(format_unix(r.started_unix)),
            Cell::text(join(&f.models)),
            Cell::text(join(&f.methods)),
            Cell::text(join(&f.benchmarks)),
            Cell::num(r.variants as f64, r.variants.to_string()),
            Cell::num(r.results as f64, r.results.to_string()),
            Cell::num(r.reused as f64, r.reused.to_string()),
        ]);
    }
    Ok(View {
        title: "Runs".into(),
        body: form(&facets, p),
        table: Some(t),
        stem: "runs".into(),
        ..View::default()
    })
}

/// Whether a run passes every filter given.
fn keep(r: &RunSummary, f: &RunFacets, p: &Params) -> bool {
    let has = |key: &str, set: &BTreeSet<String>| p.get(key).is_none_or(|v| set.contains(v));
    let name_ok = p
        .get("q")
        .is_none_or(|q| r.name.to_lowercase().contains(&q.to_lowercase()));
    let status_ok = p.get("status").is_none_or(|s| r.status.as_str() == s);
    let from_ok = p
        .get("from")
        .and_then(parse_date)
        .is_none_or(|t| r.started_unix >= t);
    // `to` is inclusive: the whole day.
    let to_ok = p
        .get("to")
        .and_then(parse_date)
        .is_none_or(|t| r.started_unix < t + 86_400.0);
    has("model", &f.models)
        && has("method", &f.methods)
        && has("bench", &f.benchmarks)
        && name_ok
        && status_ok
        && from_ok
        && to_ok
}

fn sort(runs: &mut [&RunSummary], p: &Params) {
    let desc = p.get("dir") != Some("asc");
    match p.get("sort").unwrap_or("started") {
        "name" => runs.sort_by(|a, b| a.name.cmp(&b.name)),
        "status" => runs.sort_by(|a, b| a.status.as_str().cmp(b.status.as_str())),
        "variants" => runs.sort_by_key(|r| r.variants),
        "results" => runs.sort_by_key(|r| r.results),
        "reused" => runs.sort_by_key(|r| r.reused),
        _ => runs.sort_by(|a, b| a.started_unix.total_cmp(&b.started_unix)),
    }
    if desc {
        runs.reverse();
    }
}

/// A column header that sorts by it (descending first; again to flip), keeping the filters.
fn sort_link(col: &str, key: &str, p: &Params) -> String {
    let current = p.get("sort").unwrap_or("started") == key;
    let desc = p.get("dir") != Some("asc");
    let next_dir = if current && desc { "asc" } else { "desc" };
    let mark = match (current, desc) {
        (true, true) => " ▼",
        (true, false) => " ▲",
        _ => "",
    };
    let q = Params::parse(Some(&p.with("sort", Some(key)))).with("dir", Some(next_dir));
    let sorted = if current {
        format!(
            " aria-sort=\"{}\"",
            if desc { "descending" } else { "ascending" }
        )
    } else {
        String::new()
    };
    format!("<a href=\"/?{}\"{sorted}>{}{mark}</a>", esc(&q), esc(col))
}

/// The filter form: a select per facet (values from every run), name and date range.
fn form(facets: &std::collections::BTreeMap<i64, RunFacets>, p: &Params) -> String {
    let all = |pick: fn(&RunFacets) -> &BTreeSet<String>| {
        let vals: BTreeSet<&String> = facets.values().flat_map(pick).collect();
        std::iter::once((String::new(), "any".to_string()))
            .chain(vals.into_iter().map(|v| (v.clone(), v.clone())))
            .collect::<Vec<_>>()
    };
    let statuses: Vec<(String, String)> = ["", "running", "done", "failed"]
        .iter()
        .map(|s| {
            (
                s.to_string(),
                if s.is_empty() { "any" } else { s }.to_string(),
            )
        })
        .collect();
    let input = |name: &str, label: &str, kind: &str| {
        format!(
            "<label>{label} <input type=\"{kind}\" name=\"{name}\" value=\"{}\"></label>",
            esc(p.get(name).unwrap_or(""))
        )
    };
    let keep_sort: String = ["sort", "dir"]
        .iter()
        .filter_map(|k| {
            p.get(k)
                .map(|v| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", esc(v)))
        })
        .collect();
    format!(
        "<form class=\"filters\" method=\"get\" action=\"/\" role=\"search\">{}{}{}{}{}{}{}{keep_sort}\
         <button type=\"submit\">Filter</button> <a href=\"/\">Clear</a></form>",
        select("model", "Model", &all(|f| &f.models), p.get("model")),
        select("method", "Method", &all(|f| &f.methods), p.get("method")),
        select("bench", "Benchmark", &all(|f| &f.benchmarks), p.get("bench")),
        select("status", "Status", &statuses, p.get("status")),
        input("q", "Name", "search"),
        input("from", "From", "date"),
        input("to", "To", "date"),
    )
}
