//! The self-contained HTML report: inline CSS and SVG, no scripts, no external references.

use crate::analysis::{Report, Row};
use crate::fmt::{delta, esc, p_value, with_ci};
use crate::svg;
use std::collections::BTreeMap;
use std::fmt::Write;
use tradeoff_store::{format_unix, Role};

const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.meta{color:#555}.note{background:#fff7e0;border-left:4px solid #f0b400;padding:8px 12px;margin:10px 0}
.baseline{background:#eef4fb;border-left:4px solid #4c78a8;padding:8px 12px;margin:10px 0}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top;white-space:nowrap}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.base td{background:#f3f7fc}.sig{color:#b00;font-weight:bold}.ns{color:#777}
.charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;min-width:0;max-width:100%}figure .chart{max-width:100%;height:auto;box-sizing:border-box}figcaption{margin:4px 0}.chart{background:#fff;border:1px solid #eee}
.chart .grid{stroke:#eee}.chart .axis{stroke:#555}.chart .tick{font-size:11px;fill:#444}
.chart .label{font-size:12px;fill:#222}.chart .pt{font-size:11px;fill:#222}.chart .whisker{stroke:#333;stroke-width:1.2}
.scroll{overflow-x:auto}code,pre{font:12px ui-monospace,Menlo,Consolas,monospace}pre{background:#f7f7f7;padding:8px;overflow-x:auto}
details summary{cursor:pointer;color:#335;overflow-wrap:anywhere}p{overflow-wrap:anywhere}
@media print{body{max-width:none}.scroll{overflow:visible}figure{break-inside:avoid}table{font-size:10px}th,td{white-space:normal;padding:2px 4px}}
"#;

/// The ISA extensions that decide which kernels ran, for the header ("" when not recorded).
fn isa_note(m: &tradeoff_record::Machine) -> String {
    if m.isa.is_empty() {
        return String::new();
    }
    format!(", {} {}", esc(&m.arch), esc(&m.isa.join(" ")))
}

/// Renders the whole report.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let run = &r.run;
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>tradeoff report: {}</title><style>{CSS}</style></head><body>",
        esc(&run.name)
    );
    let _ = write!(
        s,
        "<h1>Trade-off report: {}</h1><p class=\"meta\">Run {} · {} · started {} UTC{} · tradeoff {}{} · {} ({} threads, {:.1} GiB RAM{}{})</p>",
        esc(&run.name),
        run.id,
        run.status.as_str(),
        format_unix(run.started_unix),
        run.ended_unix
            .map(|e| format!(", ended {} UTC", format_unix(e)))
            .unwrap_or_default(),
        esc(&run.tool_version),
        run.git_rev
            .as_ref()
            .map(|g| format!(" ({})", esc(&g[..g.len().min(12)])))
            .unwrap_or_default(),
        esc(&run.machine.cpu),
        run.machine.threads,
        run.machine.ram_bytes as f64 / (1u64 << 30) as f64,
        run.machine
            .gpu
            .as_ref()
            .map(|g| format!(", {}", esc(g)))
            .unwrap_or_default(),
        isa_note(&run.machine),
    );
    match (&r.baseline, &r.baseline_note) {
        (Some(b), Some(n)) => {
            let _ = write!(
                s,
                "<p class=\"baseline\">Baseline: <b>{}</b> — {}</p>",
                esc(b),
                esc(n)
            );
        }
        (Some(b), None) => {
            let _ = write!(s, "<p class=\"baseline\">Baseline: <b>{}</b>.</p>", esc(b));
        }
        _ => {}
    }
    for n in &r.notes {
        let _ = write!(s, "<p class=\"note\">{}</p>", esc(n));
    }

    summary(&mut s, r);

    if !r.frontiers.is_empty() {
        s.push_str("<h2>Pareto frontiers</h2><p>Each point is a variant; whiskers are 95% CIs; filled points and the green line are the frontier (no other variant is at least as good on both axes and better on one).</p><div class=\"charts\">");
        for f in &r.frontiers {
            let _ = write!(
                s,
                "<figure><figcaption><b>{}</b>: {} vs {}{}</figcaption>{}</figure>",
                esc(&f.result),
                esc(&f.quality),
                esc(&f.cost),
                f.auc
                    .map(|a| format!(
                        " · hull AUC {}",
                        esc(&crate::fmt::value(a, f.quality_unit.as_deref(), &f.quality))
                    ))
                    .unwrap_or_default(),
                svg::pareto(f)
            );
        }
        s.push_str("</div>");
    }

    let mut groups: BTreeMap<(tradeoff_store::Kind, &str, &str), Vec<&Row>> = BTreeMap::new();
    for row in &r.rows {
        groups
            .entry((row.kind, &row.result, &row.metric))
            .or_default()
            .push(row);
    }
    if !groups.is_empty() {
        s.push_str("<h2>Metrics</h2><div class=\"charts\">");
        for ((kind, result, metric), rows) in &groups {
            let title = format!("{result} · {metric} ({})", kind.as_str());
            let _ = write!(
                s,
                "<figure><figcaption>{}</figcaption>{}</figure>",
                esc(&title),
                svg::bars(&title, rows)
            );
        }
        s.push_str("</div>");
    }

    if !r.heatmaps.is_empty() {
        s.push_str("<h2>Per problem</h2><p>Which variant solved what: each column is a problem (most-solved first), colour is the fraction of samples that passed, grey = not run. Hover for the task id.</p>");
        for hm in &r.heatmaps {
            let _ = write!(
                s,
                "<h3>{}</h3><div class=\"scroll\">{}</div>",
                esc(&hm.result),
                svg::heatmap(hm)
            );
        }
    }

    crate::routing::section(&mut s, &r.routing);
    table(&mut s, r);
    variants(&mut s, r);
    method(&mut s, r);
    s.push_str("</body></html>\n");
    s
}

fn summary(s: &mut String, r: &Report) {
    let with_auc: Vec<_> = r.frontiers.iter().filter(|f| f.auc.is_some()).collect();
    if with_auc.is_empty() {
        return;
    }
    s.push_str("<h2>Summary</h2><div class=\"scroll\"><table><tr><th>result</th><th>quality</th><th>cost</th><th>frontier (best cost first)</th><th>hull AUC</th></tr>");
    for f in with_auc {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td><td class=\"num\">{}</td></tr>",
            esc(&f.result),
            esc(&f.quality),
            esc(&f.cost),
            if f.cost_higher_is_better {
                "higher is better"
            } else {
                "lower is better"
            },
            esc(&f.front.join(" → ")),
            esc(&crate::fmt::value(
                f.auc.unwrap_or(f64::NAN),
                f.quality_unit.as_deref(),
                &f.quality
            ))
        );
    }
    s.push_str("</table></div>");
}

fn table(s: &mut String, r: &Report) {
    s.push_str("<h2>All metrics</h2><div class=\"scroll\"><table><tr><th>variant</th><th>kind</th><th>result</th><th>metric</th><th>value [95% CI]</th><th>n</th><th>Δ vs baseline [95% CI]</th><th>McNemar (base only / variant only, p, Holm p)</th><th>agreement [95% CI]</th></tr>");
    for row in &r.rows {
        let base = row.role == Role::Baseline;
        let (d, mc, agree) = match &row.vs_baseline {
            Some(c) => (
                match row.compared_with.as_deref() {
                    Some(w) if r.baseline.as_deref() != Some(w) => format!(
                        "{} vs {w}",
                        delta(c.delta, c.delta_ci, row.unit.as_deref(), &row.metric)
                    ),
                    _ => delta(c.delta, c.delta_ci, row.unit.as_deref(), &row.metric),
                },
                c.mcnemar
                    .map(|m| {
                        let sig = c.significant == Some(true);
                        format!(
                            "{} / {}, <span class=\"{}\">p = {}{}{}</span>",
                            m.only_baseline,
                            m.only_variant,
                            if sig { "sig" } else { "ns" },
                            p_value(m.p_value),
                            c.p_holm
                                .map(|p| format!(", Holm p = {}", p_value(p)))
                                .unwrap_or_default(),
                            if sig { " *" } else { "" }
                        )
                    })
                    .unwrap_or_default(),
                c.agreement
                    .map(|a| esc(&crate::fmt::rate(&a)))
                    .unwrap_or_default(),
            ),
            None if base => ("baseline".into(), String::new(), String::new()),
            None => (String::new(), String::new(), String::new()),
        };
        let _ = write!(
            s,
            "<tr{}><td>{}{}</td><td>{}</td><td>{}</td><td>{}{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{mc}</td><td class=\"num\">{agree}</td></tr>",
            if base { " class=\"base\"" } else { "" },
            esc(&row.label),
            if row.reused { " <small title=\"computed by an earlier run, reused\">(cached)</small>" } else { "" },
            row.kind.as_str(),
            esc(&row.result),
            esc(&row.metric),
            if row.higher_is_better { " ↑" } else { " ↓" },
            esc(&with_ci(row.value, row.ci95, row.unit.as_deref(), &row.metric)),
            harness_n(row),
            esc(&d),
        );
    }
    let tests = r
        .rows
        .iter()
        .filter(|row| {
            row.vs_baseline
                .as_ref()
                .is_some_and(|c| c.mcnemar.is_some())
        })
        .count();
    let _ = write!(
        s,
        "</table></div><p class=\"meta\">↑ higher is better, ↓ lower is better. * = McNemar p ≤ {} after Holm's correction over the report's {tests} McNemar test{} (each on the first sample of every problem). Exported as CSV and JSON beside this file.</p>",
        r.options.alpha,
        if tests == 1 { "" } else { "s" },
    );
}

/// The n cell: the units the value is over, and the samples the harness failed (left out).
fn harness_n(row: &Row) -> String {
    let n = row.n.map(|n| n.to_string()).unwrap_or_default();
    match row.harness_errors {
        0 => n,
        h => format!(
            "{n}<br><small title=\"samples that ended in a fault of the harness (infra_error), not the model's: left out of pass@k\">{h} harness error{}</small>",
            if h == 1 { "" } else { "s" }
        ),
    }
}

fn variants(s: &mut String, r: &Report) {
    s.push_str("<h2>Variants</h2><div class=\"scroll\"><table><tr><th>variant</th><th>role</th><th>model</th><th>recipe</th><th>size</th><th>artifact</th><th>id</th></tr>");
    for v in &r.variants {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td><code>{}</code>{}</td><td><code title=\"{}\">{}</code></td></tr>",
            esc(&v.label),
            v.role.as_str(),
            esc(&v.model),
            esc(&tradeoff_store::canonical_json(&v.recipe)),
            v.size_bytes
                .map(|b| crate::fmt::value(b as f64, Some("bytes"), ""))
                .unwrap_or_default(),
            esc(v.artifact_path.as_deref().unwrap_or("")),
            v.artifact_sha256
                .as_ref()
                .map(|h| format!("<br><small>sha256 {}</small>", esc(h)))
                .unwrap_or_default(),
            esc(&v.id),
            esc(&v.id[..v.id.len().min(12)]),
        );
    }
    s.push_str("</table></div>");
    let _ = write!(
        s,
        "<details><summary>Sweep config (sha256 {})</summary><pre>{}</pre></details>",
        esc(&r.run.config_sha256),
        esc(&r.run.config)
    );
}

fn method(s: &mut String, r: &Report) {
    let _ = write!(
        s,
        "<h2>Method</h2><ul>\
<li>Intervals are 95%. pass@k: Wilson score interval over problems where each problem has exactly k samples (pass@1 with one sample per problem is a binomial proportion), otherwise the record's percentile bootstrap over problems, replaced by the Wilson interval of the mean where it has zero width. Rates: Wilson.</li>\
<li>Δpass@1 is paired: each problem's pass fraction for the variant minus the baseline's, over the problems both ran. Its interval is Newcombe's (1998, method 10: the two Wilson intervals combined with the pairs' correlation) where every problem has one sample in both, otherwise a paired bootstrap ({} resamples, seed {}) that resamples problems together, with Newcombe's interval where the bootstrap has zero width.</li>\
<li>McNemar: exact two-sided binomial test on the problems where exactly one of baseline and variant passed, on the first sample of each problem (the lowest sample index) even where there are several. Significance is judged on Holm's step-down adjusted p-values over every McNemar test in this report (all variants and benchmarks against the one baseline), at family-wise level {}.</li>\
<li>Samples that ended in a harness error (<code>infra_error</code>: the sandbox, a fork, or the interpreter or JVM failed before the program ran; retried once) are not the model's: they are left out of pass@k, the paired comparisons and the per-problem matrix, and counted beside n.</li>\
<li>Pareto frontier: variants no other variant matches or beats on both quality and cost, and beats on one.</li>\
<li>Hull AUC (RouterBench's AIQ): area under the non-decreasing convex hull of the (cost, quality) points with cost rescaled to [0, 1]; higher means more quality across budgets. Only for higher-is-better quality metrics.</li>\
</ul>",
        r.options.bootstrap, r.options.seed, r.options.alpha
    );
}
