//! Offline evaluation of routing policies on a study, strictly held out: within each benchmark
//! k-fold by problem, and across benchmarks (train on one, judge on another). Every policy is
//! judged on problems it was not fitted on; fixed rules, the oracle and the cascade are judged
//! on the same test problems, so every row of a protocol is comparable.

use crate::cascade::{run_cascade, CascadeRun, Checker};
use crate::metrics::{
    apgr_delta, best_tier, bootstrap, ci, figures_ci, FiguresCi, Point, Summary, WithCi,
};
use crate::policy::{choose, policy, Example, PolicyArgs, Score};
use crate::study::Study;
use crate::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use std::collections::BTreeSet;

/// How train and test problems are drawn.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// k folds of one benchmark's problems: fit on k−1, score the held-out one.
    KFold { bench: String, k: usize },
    /// Fit on every problem of `train`, score every problem of `test`.
    Cross { train: String, test: String },
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Protocol::KFold { bench, k } => write!(f, "{bench}, {k}-fold by problem"),
            Protocol::Cross { train, test } => write!(f, "train {train} -> test {test}"),
        }
    }
}

#[derive(Clone)]
pub struct EvalOptions {
    /// Policy names (see [`crate::POLICIES`]).
    pub policies: Vec<String>,
    pub folds: usize,
    /// The seed rule's token threshold, reported as its own row.
    pub seed_tokens: usize,
    pub resamples: usize,
    pub seed: u64,
    pub args: PolicyArgs,
    /// Threads for the cascade's checks.
    pub threads: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            policies: ["random", "tokens", "complexity", "ngram-logreg"]
                .map(String::from)
                .to_vec(),
            folds: 5,
            seed_tokens: 150,
            resamples: 1000,
            seed: 0,
            args: PolicyArgs::default(),
            threads: 2,
        }
    }
}

/// One threshold of a curve, over the protocol's test problems.
#[derive(Debug, Clone, Serialize)]
pub struct CurvePoint {
    pub threshold: f64,
    #[serde(flatten)]
    pub summary: Summary,
}

/// A single operating point against the best tier, with bootstrap intervals.
#[derive(Debug, Clone, Serialize)]
pub struct PointFigures {
    #[serde(flatten)]
    pub summary: Summary,
    /// Quality as a share of the best tier's.
    pub quality_vs_best: WithCi,
    /// Cost as a share of the best tier's.
    pub cost_vs_best: WithCi,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    /// What the row was fitted on ("nothing" for fixed rules).
    pub saw: String,
    pub threshold_unit: String,
    pub note: Option<String>,
    /// Threshold sweeps: the curve and its figures.
    pub curve: Vec<CurvePoint>,
    pub figures: Option<FiguresCi>,
    /// APGR minus the random policy's on the same problems, paired bootstrap (curve rows,
    /// when random is among the policies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apgr_vs_random: Option<WithCi>,
    /// Single points (a fixed threshold, one tier, the oracle, the cascade).
    pub point: Option<PointFigures>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProtocolEval {
    pub protocol: Protocol,
    pub title: String,
    pub test_problems: usize,
    pub tiers: Vec<Summary>,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteEval {
    pub run: String,
    pub tiers: Vec<crate::study::Tier>,
    pub benches: Vec<String>,
    pub problems: usize,
    pub cost_unit: String,
    pub protocols: Vec<ProtocolEval>,
}

/// Refuses a split whose train and test sets share a problem.
pub fn assert_disjoint(study: &Study, train: &[usize], test: &[usize]) -> Result<()> {
    let key = |i: &usize| (&study.problems[*i].bench, &study.problems[*i].task_id);
    let tr: BTreeSet<_> = train.iter().map(key).collect();
    if let Some(i) = test.iter().find(|i| tr.contains(&key(i))) {
        return Err(Error::Study(format!(
            "held-out split broken: {} is in both train and test",
            study.problems[*i].task_id
        )));
    }
    Ok(())
}

/// (train, test) index splits of a protocol.
pub fn splits(study: &Study, p: &Protocol, seed: u64) -> Vec<(Vec<usize>, Vec<usize>)> {
    let of = |b: &str| -> Vec<usize> {
        (0..study.problems.len())
            .filter(|&i| study.problems[i].bench == b)
            .collect()
    };
    match p {
        Protocol::Cross { train, test } => vec![(of(train), of(test))],
        Protocol::KFold { bench, k } => {
            let mut idx = of(bench);
            idx.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
            let k = (*k).clamp(2, idx.len().max(2));
            (0..k)
                .map(|f| {
                    let test: Vec<usize> = idx.iter().skip(f).step_by(k).copied().collect();
                    let train: Vec<usize> = idx
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| j % k != f)
                        .map(|(_, &i)| i)
                        .collect();
                    (train, test)
                })
                .collect()
        }
    }
}

/// What a policy said about every held-out problem of a protocol.
pub struct HeldOut {
    /// Problem indices, in the order they were scored.
    pub order: Vec<usize>,
    pub scores: Vec<Score>,
    pub threshold_unit: String,
    pub learns: bool,
}

/// Fits a fresh policy from `make` on each split's training problems and scores only that
/// split's test problems; a split whose sides share a problem is refused.
pub fn held_out(
    study: &Study,
    splits: &[(Vec<usize>, Vec<usize>)],
    make: &dyn Fn() -> Result<Box<dyn crate::Policy>>,
) -> Result<HeldOut> {
    let passed: Vec<Vec<bool>> = (0..study.problems.len()).map(|p| study.passed(p)).collect();
    let mut out = HeldOut {
        order: Vec::new(),
        scores: Vec::new(),
        threshold_unit: String::new(),
        learns: false,
    };
    for (train, test) in splits {
        assert_disjoint(study, train, test)?;
        let mut pol = make()?;
        let ex: Vec<Example> = train
            .iter()
            .map(|&i| Example {
                query: &study.problems[i].query,
                passed: &passed[i],
            })
            .collect();
        pol.fit(&ex)?;
        out.learns = pol.learns();
        out.threshold_unit = pol.threshold_unit().to_string();
        for &i in test {
            out.order.push(i);
            out.scores.push(pol.score(&study.problems[i].query));
        }
    }
    Ok(out)
}

/// Thresholds that visit every distinct decision of the scores, at most ~100.
fn grid(scores: &[Score]) -> Vec<f64> {
    let mut vals: Vec<f64> = scores
        .iter()
        .flat_map(|s| match s {
            Score::Difficulty(d) => vec![*d],
            Score::PassProb(p) => p.clone(),
            Score::Tier(_) => vec![],
        })
        .filter(|v| v.is_finite())
        .collect();
    vals.sort_by(f64::total_cmp);
    vals.dedup();
    if vals.len() > 100 {
        let step = vals.len() as f64 / 100.0;
        vals = (0..100).map(|i| vals[(i as f64 * step) as usize]).collect();
    }
    let mut g = vec![f64::NEG_INFINITY];
    g.extend(vals);
    g.push(f64::INFINITY);
    g
}

/// The point a per-problem tier choice makes, over `idx` (costs and passes of that tier).
fn point_of(study: &Study, idx: &[usize], tier: impl Fn(usize) -> usize, threshold: f64) -> Point {
    let last = study.tiers.len() - 1;
    let tiers: Vec<usize> = idx.iter().map(|&p| tier(p)).collect();
    Point {
        threshold,
        passed: idx
            .iter()
            .zip(&tiers)
            .map(|(&p, &t)| study.outcomes[t][p].passed)
            .collect(),
        cost: idx
            .iter()
            .zip(&tiers)
            .map(|(&p, &t)| study.outcomes[t][p].cost_s)
            .collect(),
        strong: tiers.iter().map(|&t| t == last).collect(),
    }
}

fn subset(p: &Point, idx: &[usize]) -> Point {
    Point {
        threshold: p.threshold,
        passed: idx.iter().map(|&i| p.passed[i]).collect(),
        cost: idx.iter().map(|&i| p.cost[i]).collect(),
        strong: idx.iter().map(|&i| p.strong[i]).collect(),
    }
}

fn point_figures(p: &Point, tiers: &[Point], resamples: usize, seed: u64) -> PointFigures {
    let n = p.passed.len();
    let ((q, c), draws) = bootstrap(n, resamples, seed, |idx| {
        let t: Vec<Summary> = tiers.iter().map(|t| t.summary(idx)).collect();
        let (s, b) = (p.summary(idx), best_tier(&t));
        (s.quality / b.quality, s.cost / b.cost)
    });
    let ci = |f: fn(&(f64, f64)) -> f64| ci(draws.iter().map(f).collect());
    let all: Vec<usize> = (0..n).collect();
    PointFigures {
        summary: p.summary(&all),
        quality_vs_best: WithCi {
            value: q,
            ci95: ci(|d| d.0),
        },
        cost_vs_best: WithCi {
            value: c,
            ci95: ci(|d| d.1),
        },
    }
}

fn curve_row(
    name: String,
    saw: String,
    unit: String,
    points: Vec<Point>,
    tiers: &[Point],
    o: &EvalOptions,
) -> Row {
    let all: Vec<usize> = (0..tiers[0].passed.len()).collect();
    Row {
        name,
        saw,
        threshold_unit: unit,
        note: None,
        curve: points
            .iter()
            .map(|p| CurvePoint {
                threshold: p.threshold,
                summary: p.summary(&all),
            })
            .collect(),
        figures: Some(figures_ci(&points, tiers, o.resamples, o.seed)),
        apgr_vs_random: None,
        point: None,
    }
}

fn point_row(
    name: String,
    note: Option<String>,
    p: &Point,
    tiers: &[Point],
    o: &EvalOptions,
) -> Row {
    Row {
        name,
        saw: "nothing (fixed)".into(),
        threshold_unit: String::new(),
        note,
        curve: Vec::new(),
        figures: None,
        apgr_vs_random: None,
        point: Some(point_figures(p, tiers, o.resamples, o.seed)),
    }
}

fn eval_protocol(
    study: &Study,
    protocol: Protocol,
    opts: &EvalOptions,
    cascade: Option<&CascadeRun>,
) -> Result<ProtocolEval> {
    let sp = splits(study, &protocol, opts.seed);
    let test: Vec<usize> = sp.iter().flat_map(|(_, t)| t.iter().copied()).collect();
    let nt = study.tiers.len();
    let tier_pts: Vec<Point> = (0..nt)
        .map(|t| point_of(study, &test, |_| t, f64::NAN))
        .collect();
    let mut rows = Vec::new();
    let train_desc = match &protocol {
        Protocol::KFold { bench, k } => format!("the other {}/{k} of {bench}", k - 1),
        Protocol::Cross { train, .. } => format!("all of {train}"),
    };
    let mut curves: Vec<Vec<Point>> = Vec::new();
    for name in &opts.policies {
        let HeldOut {
            order,
            scores,
            threshold_unit: unit,
            learns,
        } = held_out(study, &sp, &|| policy(name, &opts.args))?;
        let pos: std::collections::HashMap<usize, usize> =
            order.iter().enumerate().map(|(j, &p)| (p, j)).collect();
        let points: Vec<Point> = grid(&scores)
            .into_iter()
            .map(|th| point_of(study, &test, |p| choose(&scores[pos[&p]], th, nt), th))
            .collect();
        let saw = if learns {
            train_desc.clone()
        } else {
            "nothing (fixed rule)".into()
        };
        let label = policy(name, &opts.args)?.name();
        rows.push(curve_row(label, saw, unit, points.clone(), &tier_pts, opts));
        curves.push(points);
    }
    if let Some(r) = opts.policies.iter().position(|p| p == "random") {
        for (row, pts) in rows.iter_mut().zip(&curves) {
            row.apgr_vs_random = Some(apgr_delta(
                pts,
                &curves[r],
                &tier_pts,
                opts.resamples,
                opts.seed,
            ));
        }
    }
    // The seed's rule at its own threshold.
    let seed_rule = point_of(
        study,
        &test,
        |p| {
            choose(
                &Score::Difficulty(study.problems[p].query.tokens as f64),
                opts.seed_tokens as f64,
                nt,
            )
        },
        opts.seed_tokens as f64,
    );
    rows.push(point_row(
        format!("tokens<={} (seed rule)", opts.seed_tokens),
        None,
        &seed_rule,
        &tier_pts,
        opts,
    ));
    for (t, tier) in study.tiers.iter().enumerate() {
        rows.push(point_row(
            format!("always:{}", tier.label),
            None,
            &tier_pts[t],
            &tier_pts,
            opts,
        ));
    }
    let oracle = point_of(
        study,
        &test,
        |p| (0..nt).find(|&t| study.outcomes[t][p].passed).unwrap_or(0),
        f64::NAN,
    );
    rows.push(point_row(
        "oracle".into(),
        Some("upper bound: knows every answer".into()),
        &oracle,
        &tier_pts,
        opts,
    ));
    if let Some(c) = cascade {
        let benches: BTreeSet<&str> = test
            .iter()
            .map(|&p| study.problems[p].bench.as_str())
            .collect();
        let note = benches
            .iter()
            .any(|b| b.starts_with("mbpp"))
            .then(|| "upper bound: MBPP prompts show the asserts that judge them".to_string());
        rows.push(point_row(
            "cascade".into(),
            note,
            &subset(&c.point, &test),
            &tier_pts,
            opts,
        ));
    }
    let all: Vec<usize> = (0..test.len()).collect();
    Ok(ProtocolEval {
        title: protocol.to_string(),
        protocol,
        test_problems: test.len(),
        tiers: tier_pts.iter().map(|t| t.summary(&all)).collect(),
        rows,
    })
}

/// Every protocol the study allows: k-fold within each benchmark, and each ordered pair of
/// benchmarks across.
pub fn evaluate(
    study: &Study,
    opts: &EvalOptions,
    checker: Option<&dyn Checker>,
) -> Result<RouteEval> {
    let benches: Vec<String> = {
        let mut seen = Vec::new();
        for p in &study.problems {
            if !seen.contains(&p.bench) {
                seen.push(p.bench.clone());
            }
        }
        seen
    };
    let cascade = checker.map(|c| run_cascade(study, c, opts.threads));
    let mut protocols: Vec<Protocol> = benches
        .iter()
        .map(|b| Protocol::KFold {
            bench: b.clone(),
            k: opts.folds,
        })
        .collect();
    for a in &benches {
        for b in benches.iter().filter(|b| *b != a) {
            protocols.push(Protocol::Cross {
                train: a.clone(),
                test: b.clone(),
            });
        }
    }
    Ok(RouteEval {
        run: study.run.clone(),
        tiers: study.tiers.clone(),
        benches,
        problems: study.problems.len(),
        cost_unit: "seconds per query, single stream (prompt tokens / prefill tok/s + generated tokens / decode tok/s, from the run's perf results)".into(),
        protocols: protocols
            .into_iter()
            .map(|p| eval_protocol(study, p, opts, cascade.as_ref()))
            .collect::<Result<_>>()?,
    })
}
