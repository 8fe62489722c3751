//! Compare view: the variants picked (all by default) side by side on every metric, each with
//! its 95% CI, and against the baseline: Δ with its paired CI and the McNemar p-value (Holm);
//! bars of pass@1 per benchmark.

use super::page::{run_nav, View};
use super::params::Params;
use super::run::{crumbs, load};
use super::table::{Cell, Table};
use super::Result;
use std::collections::BTreeMap;
use tradeoff_report::fmt::{delta, esc, p_value, with_ci};
use tradeoff_report::{Report, Row};
use tradeoff_store::{Kind, Role, Store};

pub(crate) fn view(store: &Store, what: &str, p: &Params) -> Result<View> {
    let (run, r) = load(store, what)?;
    let picked = p.all("v");
    let chosen: Vec<&tradeoff_report::VariantInfo> = r
        .variants
        .iter()
        .filter(|v| picked.is_empty() || picked.contains(&v.id.as_str()))
        .collect();
    let mut body = run_nav(&run.id.to_string(), "/compare");
    body.push_str(&form(&r, &picked, run.id));
    if chosen.len() < 3 && r.variants.len() >= 3 {
        body.push_str("<p class=\"note\">Pick three variants or more to compare.</p>");
    }
    body.push_str(&bars(&r, &chosen));
    let ids: Vec<&str> = chosen.iter().map(|v| v.id.as_str()).collect();
    Ok(View {
        title: format!("Compare variants of {}", run.name),
        crumbs: crumbs(&run),
        run: Some(run.id.to_string()),
        body,
        table: Some(table(&r, &ids)),
        after: "<p class=\"meta\">Each Δ is the variant minus the baseline with its paired 95% \
                CI; p is the exact McNemar test on the first sample of each problem, Holm-\
                corrected over the run (* = significant at 5%).</p>"
            .into(),
        stem: format!("{}-compare", run.name),
    })
}

/// A checkbox per variant; submitting keeps the picks in the URL (`v=ID&v=ID…`).
fn form(r: &Report, picked: &[&str], run: i64) -> String {
    let mut s = format!(
        "<form class=\"filters\" method=\"get\" action=\"/runs/{run}/compare\"><fieldset><legend>Variants to compare</legend>"
    );
    for v in &r.variants {
        let on = picked.is_empty() || picked.contains(&v.id.as_str());
        s.push_str(&format!(
            "<label><input type=\"checkbox\" name=\"v\" value=\"{}\"{}> {}{}</label>",
            esc(&v.id),
            if on { " checked" } else { "" },
            esc(&v.label),
            if v.role == Role::Baseline {
                " (baseline)"
            } else {
                ""
            }
        ));
    }
    s.push_str("</fieldset><button type=\"submit\">Compare</button></form>");
    s
}

/// Metrics as rows, a value column per variant and a Δ column per candidate.
fn table(r: &Report, ids: &[&str]) -> Table {
    let info: Vec<&tradeoff_report::VariantInfo> = ids
        .iter()
        .filter_map(|id| r.variants.iter().find(|v| v.id == *id))
        .collect();
    let mut cols = vec!["kind".to_string(), "result".into(), "metric".into()];
    for v in &info {
        cols.push(v.label.clone());
        if v.role != Role::Baseline {
            cols.push(format!("{} Δ vs baseline", v.label));
        }
    }
    let col_refs: Vec<&str> = cols.iter().map(String::as_str).collect();
    let mut t = Table::new("compare", format!("{} variants", info.len()), &col_refs);
    // (kind, result, metric) → variant → row, in the report's order.
    let mut keys: Vec<(Kind, &str, &str)> = Vec::new();
    let mut by: BTreeMap<(Kind, &str, &str), BTreeMap<&str, &Row>> = BTreeMap::new();
    for row in &r.rows {
        let k = (row.kind, row.result.as_str(), row.metric.as_str());
        if !by.contains_key(&k) {
            keys.push(k);
        }
        by.entry(k).or_default().insert(row.variant.as_str(), row);
    }
    for k in keys {
        let rows = &by[&k];
        if !info.iter().any(|v| rows.contains_key(v.id.as_str())) {
            continue;
        }
        let mut cells = vec![Cell::text(k.0.as_str()), Cell::text(k.1), Cell::text(k.2)];
        for v in &info {
            let row = rows.get(v.id.as_str());
            cells.push(match row {
                Some(x) => Cell::num(
                    x.value,
                    with_ci(x.value, x.ci95, x.unit.as_deref(), &x.metric),
                ),
                None => Cell::text("").class("num"),
            });
            if v.role != Role::Baseline {
                cells.push(delta_cell(row.copied()));
            }
        }
        t.push(cells);
    }
    t
}

fn delta_cell(row: Option<&Row>) -> Cell {
    let Some((row, c)) = row.and_then(|r| r.vs_baseline.as_ref().map(|c| (r, c))) else {
        return Cell::text("").class("num");
    };
    let mut shown = delta(c.delta, c.delta_ci, row.unit.as_deref(), &row.metric);
    if let Some(p) = c.p_holm {
        let star = if c.significant == Some(true) {
            " *"
        } else {
            ""
        };
        shown.push_str(&format!(", p = {}{star}", p_value(p)));
    }
    Cell::num(c.delta, shown)
}

/// pass@1 of each benchmark for the chosen variants, as the report draws it.
fn bars(r: &Report, chosen: &[&tradeoff_report::VariantInfo]) -> String {
    let mut by_bench: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for v in chosen {
        for row in r
            .rows
            .iter()
            .filter(|x| x.variant == v.id && x.kind == Kind::Bench && x.metric == "pass@1")
        {
            by_bench.entry(row.result.as_str()).or_default().push(row);
        }
    }
    let mut s = String::new();
    for (bench, rows) in by_bench {
        s.push_str(&format!(
            "<figure><figcaption>{} pass@1 (95% CI)</figcaption>{}</figure>",
            esc(bench),
            tradeoff_report::svg::bars(&format!("{bench} pass@1"), &rows)
        ));
    }
    if s.is_empty() {
        s
    } else {
        format!("<div class=\"charts\">{s}</div>")
    }
}
