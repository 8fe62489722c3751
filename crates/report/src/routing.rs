//! The routing section: `tradeoff route eval` stores its whole evaluation as the record of a
//! `route` result; the report reads it back (only the fields it draws) and shows, per
//! protocol, every policy's held-out cost–quality curve with the tiers, the oracle and the
//! cascade as points, and a table of APGR / CPT(50%) / cost saved at 95% with their CIs and
//! what each router was trained on.

use crate::fmt::esc;
use crate::svg::{axes, extent, Axis, Scale};
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// A figure with its interval; `None` where it is undefined (no gap between the tiers).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Figure {
    pub value: Option<f64>,
    pub ci95: Option<(f64, f64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figures {
    pub apgr: Figure,
    pub cpt50: Figure,
    pub cpt80: Figure,
    pub aiq: Figure,
    pub saved95: Figure,
}

/// pass@1, mean seconds per query and share of queries sent to the last tier.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Summary {
    pub quality: f64,
    pub cost: f64,
    pub strong_share: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PointFigures {
    #[serde(flatten)]
    pub summary: Summary,
    pub quality_vs_best: Figure,
    pub cost_vs_best: Figure,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteRow {
    pub name: String,
    pub saw: String,
    pub note: Option<String>,
    #[serde(default)]
    pub curve: Vec<Summary>,
    pub figures: Option<Figures>,
    pub point: Option<PointFigures>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteProtocol {
    pub title: String,
    pub test_problems: usize,
    pub rows: Vec<RouteRow>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteTier {
    pub label: String,
}

/// One stored routing evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Routing {
    pub tiers: Vec<RouteTier>,
    pub benches: Vec<String>,
    pub cost_unit: String,
    pub protocols: Vec<RouteProtocol>,
}

const COLORS: &[&str] = &[
    "#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#9d755d",
];

fn pct(f: &Figure) -> String {
    match (f.value, f.ci95) {
        (Some(v), Some((lo, hi))) => {
            format!("{:.1} [{:.1}, {:.1}]", 100.0 * v, 100.0 * lo, 100.0 * hi)
        }
        (Some(v), None) => format!("{:.1}", 100.0 * v),
        _ => "–".into(),
    }
}

/// Cost (s/query) against pass@1: a line per policy, a marker per fixed point.
fn chart(p: &RouteProtocol) -> String {
    let (w, h) = (520.0, 330.0);
    let all = p.rows.iter().flat_map(|r| {
        r.curve
            .iter()
            .copied()
            .chain(r.point.as_ref().map(|x| x.summary))
    });
    let pts: Vec<Summary> = all.collect();
    let (x0, x1) = extent(pts.iter().map(|s| s.cost));
    let (y0, y1) = extent(pts.iter().map(|s| s.quality));
    let xs = Scale::new(x0, x1, 60.0, w - 150.0);
    let ys = Scale::new(y0, y1, h - 50.0, 12.0);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">"#
    );
    let xa = Axis {
        scale: xs,
        name: "seconds per query",
        unit: Some("s"),
    };
    let ya = Axis {
        scale: ys,
        name: "pass@1",
        unit: Some("fraction"),
    };
    axes(&mut s, &xa, &ya, "lower is better");
    let mut legend = 0.0;
    let mut key = |s: &mut String, color: &str, name: &str| {
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="{color}"/><text x="{:.1}" y="{:.1}" class="tick">{}</text>"#,
            w - 140.0,
            14.0 + legend,
            w - 126.0,
            23.0 + legend,
            esc(name)
        );
        legend += 16.0;
    };
    for (i, r) in p.rows.iter().filter(|r| !r.curve.is_empty()).enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut curve = r.curve.clone();
        curve.sort_by(|a, b| a.cost.total_cmp(&b.cost));
        let path: Vec<String> = curve
            .iter()
            .map(|c| format!("{:.1},{:.1}", xs.at(c.cost), ys.at(c.quality)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.6"><title>{}</title></polyline>"#,
            path.join(" "),
            esc(&r.name)
        );
        key(&mut s, color, &r.name);
    }
    for r in p.rows.iter() {
        let Some(pt) = &r.point else { continue };
        let (cx, cy) = (xs.at(pt.summary.cost), ys.at(pt.summary.quality));
        let _ = write!(
            s,
            r##"<circle cx="{cx:.1}" cy="{cy:.1}" r="4" fill="#222"><title>{}: pass@1 {:.1}%, {:.2} s/query</title></circle><text x="{:.1}" y="{:.1}" class="tick">{}</text>"##,
            esc(&r.name),
            100.0 * pt.summary.quality,
            pt.summary.cost,
            cx + 6.0,
            cy - 6.0,
            esc(&r.name)
        );
    }
    s.push_str("</svg>");
    s
}

fn table(s: &mut String, p: &RouteProtocol) {
    s.push_str("<div class=\"scroll\"><table><tr><th>policy</th><th>APGR %</th><th>CPT(50%) % calls</th><th>CPT(80%) % calls</th><th>saved at 95% of best %</th><th>trained on</th></tr>");
    for r in &p.rows {
        if let Some(f) = &r.figures {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.name),
                pct(&f.apgr),
                pct(&f.cpt50),
                pct(&f.cpt80),
                pct(&f.saved95),
                esc(&r.saw)
            );
        }
    }
    s.push_str("</table></div><div class=\"scroll\"><table><tr><th>fixed point</th><th>pass@1 %</th><th>s/query</th><th>pass@1 vs best %</th><th>cost vs best %</th><th>note</th></tr>");
    for r in &p.rows {
        if let Some(pt) = &r.point {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{:.1}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.name),
                100.0 * pt.summary.quality,
                pt.summary.cost,
                pct(&pt.quality_vs_best),
                pct(&pt.cost_vs_best),
                esc(r.note.as_deref().unwrap_or(""))
            );
        }
    }
    s.push_str("</table></div>");
}

/// The report's routing section (nothing when the run has no routing evaluation).
pub fn section(s: &mut String, routes: &[Routing]) {
    for r in routes {
        let tiers: Vec<&str> = r.tiers.iter().map(|t| t.label.as_str()).collect();
        let _ = write!(
            s,
            "<h2>Routing: {}</h2><p>Tiers, cheapest first: {}. Every learned policy is judged only on problems it was not trained on (k-fold by problem; across benchmarks). Cost: {}. Intervals: 95% bootstrap over problems.</p>",
            esc(&r.benches.join(", ")),
            esc(&tiers.join(" → ")),
            esc(&r.cost_unit)
        );
        for p in &r.protocols {
            let _ = write!(
                s,
                "<h3>{} ({} test problems)</h3><div class=\"charts\"><figure>{}</figure></div>",
                esc(&p.title),
                p.test_problems,
                chart(p)
            );
            table(s, p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_evaluation_with_undefined_figures_renders() {
        let rec = serde_json::json!({
            "run": "r", "tiers": [{"label": "small", "variant": "a", "prefill_tok_s": 1.0, "decode_tok_s": 1.0},
                                  {"label": "large", "variant": "b", "prefill_tok_s": 1.0, "decode_tok_s": 1.0}],
            "benches": ["humaneval"], "problems": 2, "cost_unit": "seconds",
            "protocols": [{"protocol": {"k_fold": {"bench": "humaneval", "k": 5}}, "title": "humaneval, 5-fold",
                "test_problems": 2, "tiers": [],
                "rows": [{"name": "tokens", "saw": "nothing (fixed rule)", "threshold_unit": "prompt tokens", "note": null,
                          "curve": [{"threshold": null, "quality": 0.5, "cost": 1.0, "strong_share": 0.0},
                                    {"threshold": 10.0, "quality": 0.7, "cost": 3.0, "strong_share": 1.0}],
                          "figures": {"apgr": {"value": 0.5, "ci95": [0.4, 0.6]}, "cpt50": {"value": null, "ci95": null},
                                      "cpt80": {"value": 0.8, "ci95": null}, "aiq": {"value": 0.6, "ci95": null},
                                      "saved95": {"value": 0.1, "ci95": null}}, "point": null},
                         {"name": "oracle", "saw": "nothing (fixed)", "threshold_unit": "", "note": "upper bound", "curve": [],
                          "figures": null, "point": {"quality": 0.7, "cost": 1.5, "strong_share": 0.2,
                          "quality_vs_best": {"value": 1.0, "ci95": null}, "cost_vs_best": {"value": 0.5, "ci95": null}}}]}]
        });
        let r: Routing = serde_json::from_value(rec).unwrap();
        let mut s = String::new();
        section(&mut s, &[r]);
        assert!(
            s.contains("<polyline") && s.contains("oracle") && s.contains("50.0 [40.0, 60.0]"),
            "{s}"
        );
        assert!(s.contains("small → large"));
    }
}
