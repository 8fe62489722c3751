//! Pareto page: pick a quality (benchmark or quality result, and metric) and a cost; the
//! chart shows every variant, the frontier as a line and diamond marks, each point's values
//! on hover and a link to the variant; the table below lists the same points. With a budget
//! on the cost, the page names the variant to deploy: the best quality within it, and which
//! others its 95% interval cannot tell apart from it.

use super::page::{run_nav, select, View};
use super::params::Params;
use super::run::{crumbs, load, variant_anchor};
use super::table::{Cell, Table};
use super::Result;
use std::collections::BTreeSet;
use tradeoff_report::fmt::{esc, value, with_ci};
use tradeoff_report::Frontier;
use tradeoff_store::Store;

/// How a quality series is named in the query: `result/metric`.
fn quality_key(f: &Frontier) -> String {
    format!("{}/{}", f.result, f.quality)
}

pub(crate) fn view(store: &Store, what: &str, p: &Params) -> Result<View> {
    let (run, r) = load(store, what)?;
    let qualities: BTreeSet<String> = r.frontiers.iter().map(quality_key).collect();
    let costs: BTreeSet<&str> = r.frontiers.iter().map(|f| f.cost.as_str()).collect();
    let want_q = p.get("quality");
    let want_c = p.get("cost");
    // The asked pair, else the first frontier matching what was asked.
    let chosen = r
        .frontiers
        .iter()
        .find(|f| want_q.is_none_or(|q| q == quality_key(f)) && want_c.is_none_or(|c| c == f.cost))
        .or_else(|| {
            r.frontiers
                .iter()
                .find(|f| want_q.is_none_or(|q| q == quality_key(f)))
        });
    let opts = |vals: Vec<String>| vals.into_iter().map(|v| (v.clone(), v)).collect::<Vec<_>>();
    let budget_text = p.get("budget").unwrap_or("").trim();
    let budget = parse_amount(budget_text);
    let mut body = run_nav(&run.id.to_string(), "/pareto");
    body.push_str(&format!(
        "<form class=\"filters\" method=\"get\" action=\"/runs/{}/pareto\">{}{}{}<button type=\"submit\">Show</button></form>",
        run.id,
        select(
            "quality",
            "Quality",
            &opts(qualities.into_iter().collect()),
            chosen.map(quality_key).as_deref()
        ),
        select(
            "cost",
            "Cost",
            &opts(costs.into_iter().map(str::to_string).collect()),
            chosen.map(|f| f.cost.as_str())
        ),
        budget_input(chosen, budget_text),
    ));
    let mut t = Table::new(
        "points",
        "Variants on this chart",
        &[
            "variant",
            "cost",
            "quality",
            "quality 95% CI",
            "on the frontier",
            "within budget",
        ],
    );
    match chosen {
        None => body.push_str(
            "<p class=\"note\">No frontier: this run needs a quality and a cost measured on two \
             variants or more.</p>",
        ),
        Some(f) => {
            if !budget_text.is_empty() {
                body.push_str(&advice(f, budget, budget_text, run.id));
            }
            body.push_str(&chart(f, run.id));
            for pt in &f.points {
                t.push(vec![
                    Cell::link(
                        &pt.label,
                        &format!("/runs/{}#{}", run.id, variant_anchor(&pt.variant)),
                    ),
                    Cell::num(pt.cost, value(pt.cost, f.cost_unit.as_deref(), &f.cost)),
                    Cell::num(
                        pt.quality,
                        value(pt.quality, f.quality_unit.as_deref(), &f.quality),
                    ),
                    Cell::text(with_ci(
                        pt.quality,
                        pt.quality_ci,
                        f.quality_unit.as_deref(),
                        &f.quality,
                    )),
                    Cell::text(if pt.on_front { "yes ◆" } else { "no" }),
                    Cell::text(match budget {
                        Some(b) if fits(f, pt, b) => "yes",
                        Some(_) => "no",
                        None => "",
                    }),
                ]);
            }
        }
    }
    Ok(View {
        title: format!("Pareto frontier of {}", run.name),
        crumbs: crumbs(&run),
        run: Some(run.id.to_string()),
        body,
        table: Some(t),
        stem: format!("{}-pareto", run.name),
        ..View::default()
    })
}

fn chart(f: &Frontier, run: i64) -> String {
    let href = |pt: &tradeoff_report::Point| format!("/runs/{run}#{}", variant_anchor(&pt.variant));
    let auc = f
        .auc
        .map(|a| format!(" Area under the cost–quality hull: {a:.3}."))
        .unwrap_or_default();
    format!(
        "<figure class=\"pareto\"><figcaption>{} {} against {} ({}). Frontier, best cost first: \
         <b>{}</b>.{auc} Diamonds and the line mark the frontier; whiskers are 95% CIs; hover a \
         point for its values, select it to open the variant.</figcaption>{}</figure>",
        esc(&f.result),
        esc(&f.quality),
        esc(&f.cost),
        if f.cost_higher_is_better {
            "higher is better"
        } else {
            "lower is better"
        },
        esc(&f.front.join(" → ")),
        tradeoff_report::svg::pareto_linked(f, &href)
    )
}

/// The budget field: an upper bound for costs where lower is better, a lower bound otherwise.
fn budget_input(f: Option<&Frontier>, text: &str) -> String {
    // The label keeps its first word whatever the cost, so it is found the same way.
    let (label, hint) = match f {
        Some(f) if f.cost_higher_is_better => {
            (format!("Budget (at least this {})", f.cost), cost_range(f))
        }
        Some(f) => (format!("Budget (at most this {})", f.cost), cost_range(f)),
        None => ("Budget".to_string(), String::new()),
    };
    format!(
        "<label>{} <input name=\"budget\" value=\"{}\" placeholder=\"{}\" size=\"12\" \
         inputmode=\"decimal\"></label>",
        esc(&label),
        esc(text),
        esc(&hint)
    )
}

fn cost_range(f: &Frontier) -> String {
    let (lo, hi) = f
        .points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.cost), hi.max(p.cost))
        });
    if lo.is_finite() {
        format!("{} – {}", short(lo), short(hi))
    } else {
        String::new()
    }
}

/// A number with an optional k/M/G suffix (Ki/Mi/Gi: powers of 1024; a unit after it is
/// ignored): "400M", "0.4 GB", "390 MiB", "1.5e8", "12 tok/s".
fn parse_amount(s: &str) -> Option<f64> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+')))
        .unwrap_or(s.len());
    let v: f64 = s[..end].parse().ok()?;
    let mut unit = s[end..].trim_start().chars();
    // "MiB" as the charts write sizes: powers of 1024.
    let base: f64 = if unit.clone().nth(1) == Some('i') {
        1024.0
    } else {
        1000.0
    };
    let scale = match unit.next() {
        Some('k' | 'K') => base,
        Some('M') => base.powi(2),
        Some('G' | 'g') => base.powi(3),
        _ => 1.0,
    };
    Some(v * scale).filter(|v| v.is_finite())
}

/// A cost written the way `parse_amount` reads it back.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.3}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.3}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.3}k", v / 1e3)
    } else {
        format!("{v:.4}")
    }
}

fn fits(f: &Frontier, p: &tradeoff_report::Point, budget: f64) -> bool {
    if f.cost_higher_is_better {
        p.cost >= budget
    } else {
        p.cost <= budget
    }
}

/// Which variant to deploy within the budget: the best quality that fits, and the variants
/// that fit whose 95% interval overlaps its own (the data cannot rank them).
fn advice(f: &Frontier, budget: Option<f64>, text: &str, run: i64) -> String {
    let Some(b) = budget else {
        return format!(
            "<p class=\"note\" role=\"status\">\"{}\" is not a number: write the budget \
             like 400M, 390 MiB, 0.4G or 12.5.</p>",
            esc(text)
        );
    };
    let better = |a: f64, b: f64| {
        if f.quality_higher_is_better {
            a > b
        } else {
            a < b
        }
    };
    let within: Vec<_> = f.points.iter().filter(|p| fits(f, p, b)).collect();
    let Some(best) = within.iter().copied().reduce(|a, p| {
        // Equal quality: the cheaper one.
        let cheaper = if f.cost_higher_is_better {
            p.cost > a.cost
        } else {
            p.cost < a.cost
        };
        if better(p.quality, a.quality) || (p.quality == a.quality && cheaper) {
            p
        } else {
            a
        }
    }) else {
        let cheapest = f
            .points
            .iter()
            .reduce(|a, p| if fits(f, p, a.cost) { p } else { a });
        return format!(
            "<p class=\"note\" role=\"status\" id=\"advice\">No variant fits a budget of {}. \
             The cheapest is <b>{}</b> at {}.</p>",
            esc(text),
            esc(cheapest.map_or("", |p| p.label.as_str())),
            cheapest.map_or(String::new(), |p| value(
                p.cost,
                f.cost_unit.as_deref(),
                &f.cost
            ))
        );
    };
    let overlaps = |p: &tradeoff_report::Point| match (p.quality_ci, best.quality_ci) {
        (Some((lo, hi)), Some((blo, bhi))) => lo <= bhi && blo <= hi,
        _ => false,
    };
    let ties: Vec<String> = within
        .iter()
        .filter(|p| p.variant != best.variant && overlaps(p))
        .map(|p| {
            format!(
                "{} ({})",
                esc(&p.label),
                esc(&value(p.quality, f.quality_unit.as_deref(), &f.quality))
            )
        })
        .collect();
    let tie_note = if ties.is_empty() {
        " No other variant within the budget comes near it.".to_string()
    } else {
        format!(
            " Not distinguishable from it at 95% (intervals overlap): {}. Take the cheapest of \
             these if cost matters more, or measure on more problems to separate them.",
            ties.join(", ")
        )
    };
    format!(
        "<p class=\"advice\" role=\"status\" id=\"advice\">Within a budget of {} ({}): deploy \
         <a href=\"/runs/{run}#{}\"><b>{}</b></a>, {} {} at {}.{tie_note}</p>",
        esc(text),
        esc(&f.cost),
        variant_anchor(&best.variant),
        esc(&best.label),
        esc(&f.quality),
        esc(&with_ci(
            best.quality,
            best.quality_ci,
            f.quality_unit.as_deref(),
            &f.quality
        )),
        esc(&value(best.cost, f.cost_unit.as_deref(), &f.cost)),
    )
}

#[cfg(test)]
mod tests {
    use super::parse_amount;

    #[test]
    fn amounts_read_with_suffixes() {
        assert_eq!(parse_amount("400M"), Some(4e8));
        assert_eq!(parse_amount("0.4 GB"), Some(4e8));
        assert_eq!(parse_amount("1.5e8"), Some(1.5e8));
        assert_eq!(parse_amount("12.5 tok/s"), Some(12.5));
        assert_eq!(parse_amount("2k"), Some(2000.0));
        assert_eq!(parse_amount("390 MiB"), Some(390.0 * 1024.0 * 1024.0));
        assert_eq!(parse_amount("lots"), None);
    }
}
