//! Pareto page: pick a quality (benchmark or quality result, and metric) and a cost; the
//! chart shows every variant, the frontier as a line and diamond marks, each point's values
//! on hover and a link to the variant; the table below lists the same points.

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
    let mut body = run_nav(&run.id.to_string(), "/pareto");
    body.push_str(&format!(
        "<form class=\"filters\" method=\"get\" action=\"/runs/{}/pareto\">{}{}<button type=\"submit\">Show</button></form>",
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
        ],
    );
    match chosen {
        None => body.push_str(
            "<p class=\"note\">No frontier: this run needs a quality and a cost measured on two \
             variants or more.</p>",
        ),
        Some(f) => {
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
