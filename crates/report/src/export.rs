//! The table as CSV (one row per variant × metric) and the whole report as JSON.

use crate::analysis::Report;

/// Column names of [`csv`], in order.
pub const CSV_COLUMNS: &[&str] = &[
    "run",
    "variant_id",
    "variant",
    "role",
    "kind",
    "result",
    "metric",
    "value",
    "ci_lo",
    "ci_hi",
    "n",
    "unit",
    "higher_is_better",
    "reused",
    "delta_vs_baseline",
    "delta_ci_lo",
    "delta_ci_hi",
    "mcnemar_only_baseline",
    "mcnemar_only_variant",
    "mcnemar_p",
    "mcnemar_p_holm",
    "significant",
    "agreement",
    "agreement_ci_lo",
    "agreement_ci_hi",
    "harness_errors",
    "compared_with",
];

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn num(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map(|x| x.to_string())
        .unwrap_or_default()
}

/// RFC 4180 CSV of every row of the report's table.
pub fn csv(r: &Report) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for row in &r.rows {
        let c = row.vs_baseline.as_ref();
        let m = c.and_then(|c| c.mcnemar);
        let a = c.and_then(|c| c.agreement);
        let cells = [
            field(&r.run.name),
            row.variant.clone(),
            field(&row.label),
            row.role.as_str().into(),
            row.kind.as_str().into(),
            field(&row.result),
            field(&row.metric),
            num(Some(row.value)),
            num(row.ci95.map(|c| c.0)),
            num(row.ci95.map(|c| c.1)),
            row.n.map(|n| n.to_string()).unwrap_or_default(),
            field(row.unit.as_deref().unwrap_or("")),
            row.higher_is_better.to_string(),
            row.reused.to_string(),
            num(c.map(|c| c.delta)),
            num(c.and_then(|c| c.delta_ci).map(|x| x.0)),
            num(c.and_then(|c| c.delta_ci).map(|x| x.1)),
            m.map(|m| m.only_baseline.to_string()).unwrap_or_default(),
            m.map(|m| m.only_variant.to_string()).unwrap_or_default(),
            num(m.map(|m| m.p_value)),
            num(c.and_then(|c| c.p_holm)),
            c.and_then(|c| c.significant)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            num(a.map(|a| a.value)),
            num(a.and_then(|a| a.ci95).map(|x| x.0)),
            num(a.and_then(|a| a.ci95).map(|x| x.1)),
            row.harness_errors.to_string(),
            field(row.compared_with.as_deref().unwrap_or("")),
        ];
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// The report as pretty JSON (run, variants, rows, frontiers, heatmaps, notes).
pub fn json(r: &Report) -> String {
    serde_json::to_string_pretty(r).expect("report serializes")
}
