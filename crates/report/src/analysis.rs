//! From a stored run to the numbers a report shows: the variant × metric table with paired
//! comparisons against the baseline, Pareto frontiers per quality × cost pair, and the
//! per-problem outcome matrix per benchmark.

use crate::stats::{self, McNemar};
use crate::Result;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use tradeoff_store::{Kind, ResultId, ResultRow, Role, Run, RunVariant, Status, Store};

/// What to analyse and how.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Options {
    /// Quality metrics for the frontiers. Empty: `pass@1` of every benchmark and every metric
    /// of every quality result.
    pub quality: Vec<String>,
    /// Cost metrics for the frontiers. Empty: every perf metric, and `size_bytes`.
    pub costs: Vec<String>,
    /// Bootstrap resamples for the paired Δ intervals where problems have several samples.
    pub bootstrap: usize,
    pub seed: u64,
    /// Family-wise significance level of the McNemar tests (Holm-corrected over the report's
    /// comparisons with the baseline).
    pub alpha: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            quality: Vec::new(),
            costs: Vec::new(),
            bootstrap: 1000,
            seed: 0,
            alpha: 0.05,
        }
    }
}

/// The name under which the variant's stored file size is offered as a cost.
pub const SIZE_METRIC: &str = "size_bytes";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VariantInfo {
    pub id: String,
    pub label: String,
    pub role: Role,
    pub model: String,
    pub recipe: serde_json::Value,
    pub size_bytes: Option<u64>,
    pub artifact_path: Option<String>,
    pub artifact_sha256: Option<String>,
    pub note: Option<String>,
}

/// A variant against the baseline on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// variant − baseline.
    pub delta: f64,
    /// Paired 95% interval of Δpass@1 over the problems both ran: Newcombe's (method 10)
    /// where every problem has one sample in both, else a paired bootstrap (Newcombe's where
    /// that has zero width).
    pub delta_ci: Option<(f64, f64)>,
    /// Exact McNemar on each problem's first sample (the lowest sample index stored).
    pub mcnemar: Option<McNemar>,
    /// The McNemar p-value after Holm's step-down correction over every McNemar test of the
    /// report (all variants and benchmarks against the one baseline).
    #[serde(default)]
    pub p_holm: Option<f64>,
    /// Problems where both agree (both pass or both fail), with its Wilson 95% interval.
    pub agreement: Option<Rate>,
    /// Holm-adjusted McNemar p <= alpha; `None` where no paired test applies.
    pub significant: Option<bool>,
}

/// A rate with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub k: usize,
    pub n: usize,
    pub value: f64,
    pub ci95: Option<(f64, f64)>,
}

impl Rate {
    pub fn new(k: usize, n: usize) -> Self {
        Self {
            k,
            n,
            value: if n == 0 {
                f64::NAN
            } else {
                k as f64 / n as f64
            },
            ci95: stats::wilson(k, n),
        }
    }
}

/// One line of the table: a variant's metric.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub variant: String,
    pub label: String,
    pub role: Role,
    pub kind: Kind,
    pub result: String,
    pub metric: String,
    pub value: f64,
    pub ci95: Option<(f64, f64)>,
    pub n: Option<usize>,
    pub unit: Option<String>,
    pub higher_is_better: bool,
    /// Computed by an earlier run and reused.
    pub reused: bool,
    pub vs_baseline: Option<Comparison>,
    /// The variant `vs_baseline` compares with: the baseline, or in a run of several models
    /// that model's own variant of the baseline's recipe.
    #[serde(default)]
    pub compared_with: Option<String>,
    /// Samples of this result that ended in a fault of the harness (`infra_error`), not the
    /// model's: left out of pass@k, the paired comparisons and the per-problem matrix.
    #[serde(default)]
    pub harness_errors: usize,
}

/// A point of a frontier chart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    pub variant: String,
    pub label: String,
    pub cost: f64,
    pub cost_ci: Option<(f64, f64)>,
    pub quality: f64,
    pub quality_ci: Option<(f64, f64)>,
    pub on_front: bool,
}

/// Quality of one result against one cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Frontier {
    /// The benchmark or quality result.
    pub result: String,
    pub quality: String,
    pub quality_unit: Option<String>,
    pub quality_higher_is_better: bool,
    pub cost: String,
    pub cost_unit: Option<String>,
    pub cost_higher_is_better: bool,
    pub points: Vec<Point>,
    /// Variant labels on the frontier, best cost first.
    pub front: Vec<String>,
    /// Area under the non-decreasing convex hull, cost normalised to [0, 1] (RouterBench's
    /// AIQ); `None` for lower-is-better quality metrics.
    pub auc: Option<f64>,
}

/// Which variant solved which problem of one benchmark.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heatmap {
    pub result: String,
    /// Problems, most-solved first.
    pub tasks: Vec<String>,
    pub variants: Vec<String>,
    /// `cells[variant][task]`: fraction of samples that passed; `None` = not run.
    pub cells: Vec<Vec<Option<f64>>>,
    /// Problems each variant solved (any sample), with its Wilson 95% interval.
    pub solved: Vec<Rate>,
}

/// Everything the HTML, CSV, JSON and MLflow outputs show.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub run: Run,
    pub options: Options,
    pub baseline: Option<String>,
    /// Where the baseline comes from, when its variant or a record says so.
    pub baseline_note: Option<String>,
    pub variants: Vec<VariantInfo>,
    pub rows: Vec<Row>,
    pub frontiers: Vec<Frontier>,
    pub heatmaps: Vec<Heatmap>,
    /// Routing evaluations stored for this run (`tradeoff route eval`).
    #[serde(default)]
    pub routing: Vec<crate::routing::Routing>,
    /// Caveats: unfinished results, missing baseline, skipped comparisons.
    pub notes: Vec<String>,
}

/// Per-problem outcomes of one result: task → passes per sample, by sample index.
type Outcomes = BTreeMap<String, Vec<bool>>;

/// What the sandbox that ran a result's programs lacked, from the isolation its key records
/// (`params.environment.sandbox`); None when it had everything or the result does not say.
fn weak_sandbox(r: &ResultRow) -> Option<String> {
    let isolation = r.params.get("environment")?.get("sandbox")?;
    let isolation: tradeoff_record::sandbox::Isolation =
        serde_json::from_value(isolation.clone()).ok()?;
    let weak = isolation.weaknesses();
    (!weak.is_empty()).then(|| weak.join(", "))
}

/// Whether a stored sample ended in a fault of the harness (`tradeoff_record::Status::
/// InfraError`; "sandbox_error" in stores written before the rename).
fn is_harness_error(status: &str) -> bool {
    status == "infra_error" || status == "sandbox_error"
}

/// The outcomes of a result's samples, harness faults left out (as pass@k leaves them out),
/// and how many those were. A problem with nothing but harness faults has no outcome.
fn outcomes(store: &Store, r: &ResultRow) -> Result<(Outcomes, usize)> {
    let mut map: Outcomes = BTreeMap::new();
    let mut harness = 0;
    for s in store.samples(r.id)? {
        if is_harness_error(&s.status) {
            harness += 1;
            continue;
        }
        map.entry(s.task_id).or_default().push(s.passed);
    }
    Ok((map, harness))
}

fn pass_fraction(v: &[bool]) -> f64 {
    v.iter().filter(|&&p| p).count() as f64 / v.len().max(1) as f64
}

/// Compares a variant's outcomes with the baseline's on the problems both have.
fn compare(base: &Outcomes, var: &Outcomes, opts: &Options) -> Option<Comparison> {
    let common: Vec<&String> = base.keys().filter(|t| var.contains_key(*t)).collect();
    if common.is_empty() {
        return None;
    }
    let b: Vec<f64> = common.iter().map(|t| pass_fraction(&base[*t])).collect();
    let v: Vec<f64> = common.iter().map(|t| pass_fraction(&var[*t])).collect();
    let single = common
        .iter()
        .all(|t| base[*t].len() == 1 && var[*t].len() == 1);
    let (delta, ci) = if single {
        stats::paired_newcombe(&b, &v)?
    } else {
        stats::paired_delta(&b, &v, opts.bootstrap, opts.seed)?
    };
    let firsts: Vec<(bool, bool)> = common.iter().map(|t| (base[*t][0], var[*t][0])).collect();
    let m = stats::mcnemar_exact(firsts.iter().copied());
    let agree = firsts.iter().filter(|(x, y)| x == y).count();
    Some(Comparison {
        delta,
        delta_ci: Some(ci),
        mcnemar: Some(m),
        // Set by `apply_holm` once every comparison of the report is known.
        p_holm: None,
        agreement: Some(Rate::new(agree, firsts.len())),
        significant: None,
    })
}

/// Holm's correction over every McNemar test of the report: each comparison's adjusted
/// p-value, and whether it is at most `alpha`.
fn apply_holm(rows: &mut [Row], alpha: f64) {
    let tested: Vec<&mut Comparison> = rows
        .iter_mut()
        .filter_map(|r| r.vs_baseline.as_mut())
        .filter(|c| c.mcnemar.is_some())
        .collect();
    let p: Vec<f64> = tested
        .iter()
        .map(|c| c.mcnemar.expect("filtered").p_value)
        .collect();
    for (c, adj) in tested.into_iter().zip(stats::holm(&p)) {
        c.p_holm = Some(adj);
        c.significant = Some(adj <= alpha);
    }
}

/// The 95% interval of a bench result's pass@k from its per-problem outcomes: Wilson where
/// each problem has exactly k samples, else the record's own (bootstrap) interval unless that
/// has zero width ([`tradeoff_record::passk::pass_at_k_ci`]). Records written before these rules
/// had a bootstrap interval even for one sample per problem, which can be [0, 0].
fn pass_at_k_ci(metric: &str, stored: Option<(f64, f64)>, outs: &Outcomes) -> Option<(f64, f64)> {
    let k = metric.strip_prefix("pass@").and_then(|k| k.parse().ok());
    let counts: Vec<(usize, usize)> = outs
        .values()
        .map(|s| (s.len(), s.iter().filter(|&&p| p).count()))
        .collect();
    match k {
        Some(k) if k >= 1 && !counts.is_empty() && counts.iter().all(|&(n, _)| n >= k) => {
            tradeoff_record::passk::pass_at_k_ci(&counts, k, |_| stored)
        }
        _ => stored,
    }
}

/// The results a report shows: where a run holds several of one variant, kind and name (a
/// resumed sweep whose inputs changed, e.g. a benchmark's new scoring version), the latest
/// finished one; the others are counted in a note. Unfinished ones are kept only where none
/// finished (the report lists them as left out).
fn current(results: Vec<ResultRow>, notes: &mut Vec<String>) -> Vec<ResultRow> {
    let mut latest: BTreeMap<(String, Kind, String), (f64, ResultId)> = BTreeMap::new();
    for r in results.iter().filter(|r| r.status == Status::Done) {
        let key = (r.variant.clone(), r.kind, r.name.clone());
        let at = (r.started_unix, r.id);
        let e = latest.entry(key).or_insert(at);
        if at.0 > e.0 || at.0 == e.0 && at.1 > e.1 {
            *e = at;
        }
    }
    let total = results.len();
    let kept: Vec<ResultRow> = results
        .into_iter()
        .filter(
            |r| match latest.get(&(r.variant.clone(), r.kind, r.name.clone())) {
                Some(&(_, id)) => r.id == id,
                None => true,
            },
        )
        .collect();
    let superseded = total - kept.len();
    if superseded > 0 {
        notes.push(format!(
            "{superseded} result{} of this run superseded by a later one of the same variant and \
             name (other inputs, e.g. a benchmark's newer scoring version): left out.",
            if superseded == 1 { "" } else { "s" }
        ));
    }
    kept
}

/// The variant `v` is compared with: in a run of several models, its own model's variant of
/// the baseline's recipe (the 1.5B's q4_0 against the 1.5B as distributed, not against the
/// 0.5B), else the baseline; None for the baseline itself.
fn reference_of<'a>(
    v: &VariantInfo,
    infos: &'a [VariantInfo],
    baseline: Option<&'a VariantInfo>,
) -> Option<&'a VariantInfo> {
    let b = baseline?;
    let own = infos
        .iter()
        .find(|o| o.model == v.model && o.recipe == b.recipe && o.id != v.id);
    match own {
        Some(o) if o.model != b.model => Some(o),
        _ => (v.id != b.id).then_some(b),
    }
}

/// Builds the report of `run`.
pub fn analyse(store: &Store, run: &Run, opts: &Options) -> Result<Report> {
    let variants = store.variants(run.id)?;
    let mut notes = Vec::new();
    let results = current(store.results(run.id)?, &mut notes);
    let info = |v: &RunVariant| VariantInfo {
        id: v.variant.id.clone(),
        label: v.variant.label.clone(),
        role: v.role,
        model: v.variant.model.clone(),
        recipe: v.variant.recipe.clone(),
        size_bytes: v.variant.size_bytes,
        artifact_path: v
            .variant
            .artifact_path
            .as_ref()
            .map(|p| p.display().to_string()),
        artifact_sha256: v.variant.artifact_sha256.clone(),
        note: v.variant.note.clone(),
    };
    let infos: Vec<VariantInfo> = variants.iter().map(info).collect();
    let label: BTreeMap<&str, &VariantInfo> = infos.iter().map(|v| (v.id.as_str(), v)).collect();
    let baseline = infos.iter().find(|v| v.role == Role::Baseline).cloned();
    if baseline.is_none() {
        notes.push("No baseline in this run: no comparisons.".into());
    }

    let mut baseline_note = baseline.as_ref().and_then(|b| b.note.clone());
    for r in results.iter().filter(|r| r.status != Status::Done) {
        notes.push(format!(
            "{} / {}: {}{} — left out.",
            label.get(r.variant.as_str()).map_or("?", |v| &v.label),
            r.name,
            r.status.as_str(),
            r.error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ));
    }
    let mut routing = Vec::new();
    for r in results
        .iter()
        .filter(|r| r.status == Status::Done && r.kind == Kind::Route)
    {
        match store
            .record(r.id)?
            .map(serde_json::from_value::<crate::routing::Routing>)
        {
            Some(Ok(ev)) => routing.push(ev),
            _ => notes.push(format!(
                "Routing evaluation {} could not be read — left out.",
                r.id
            )),
        }
    }
    let done: Vec<&ResultRow> = results
        .iter()
        .filter(|r| {
            r.status == Status::Done
                && r.kind != Kind::Route
                && label.contains_key(r.variant.as_str())
        })
        .collect();
    if baseline_note.is_none() {
        // Quality records say where their reference came from (bench records are large and
        // carry no such field).
        for r in done.iter().filter(|r| r.kind != Kind::Bench) {
            if let Some(n) = store
                .record(r.id)?
                .as_ref()
                .and_then(|v| v.get("baseline_note"))
            {
                baseline_note = n.as_str().map(str::to_string);
                break;
            }
        }
    }

    // Per-problem outcomes of every bench result, keyed by (benchmark, variant), and the
    // samples the harness failed.
    let mut outs: BTreeMap<(String, String), Outcomes> = BTreeMap::new();
    let mut harness: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in done.iter().filter(|r| r.kind == Kind::Bench) {
        let (o, h) = outcomes(store, r)?;
        let key = (r.name.clone(), r.variant.clone());
        if h > 0 {
            notes.push(format!(
                "{} / {}: {h} sample{} ended in a harness error (infra_error: not the model's \
                 fault) and {} left out of pass@k and the comparisons.",
                label[r.variant.as_str()].label,
                r.name,
                if h == 1 { "" } else { "s" },
                if h == 1 { "is" } else { "are" },
            ));
            harness.insert(key.clone(), h);
        }
        if let Some(weak) = weak_sandbox(r) {
            notes.push(format!(
                "{} / {}: WEAK SANDBOX ({weak}): its programs were less confined than \
                 tradeoff's full sandbox (--allow-weak-sandbox).",
                label[r.variant.as_str()].label,
                r.name,
            ));
        }
        outs.insert(key, o);
    }

    let models: BTreeSet<&str> = infos.iter().map(|v| v.model.as_str()).collect();
    if let (Some(b), true) = (&baseline, models.len() > 1) {
        notes.push(format!(
            "Several models: each model's variants are compared with that model's own variant \
             of the baseline's recipe ({}) where the run has one, else with the baseline ({}).",
            b.recipe
                .get("name")
                .and_then(|n| n.as_str())
                .unwrap_or("its recipe"),
            b.label
        ));
    }
    let mut rows = Vec::new();
    for r in &done {
        let v = label[r.variant.as_str()];
        let reference = reference_of(v, &infos, baseline.as_ref());
        let base_result = reference.and_then(|b| {
            done.iter()
                .find(|x| x.variant == b.id && x.kind == r.kind && x.name == r.name)
        });
        for m in &r.metrics {
            let vs_baseline = match base_result {
                Some(br) => {
                    let bm = br.metric(&m.name);
                    let paired = (r.kind == Kind::Bench && m.name == "pass@1")
                        .then(|| {
                            let key = |vid: &str| (r.name.clone(), vid.to_string());
                            compare(
                                outs.get(&key(&br.variant))?,
                                outs.get(&key(&r.variant))?,
                                opts,
                            )
                        })
                        .flatten();
                    match (paired, bm) {
                        // Δ from per-problem outcomes; the stored value may round differently.
                        (Some(c), Some(bm)) => Some(Comparison {
                            delta: m.value - bm.value,
                            ..c
                        }),
                        (None, Some(bm)) => Some(Comparison {
                            delta: m.value - bm.value,
                            delta_ci: None,
                            mcnemar: None,
                            p_holm: None,
                            agreement: None,
                            significant: None,
                        }),
                        (_, None) => None,
                    }
                }
                _ => None,
            };
            rows.push(Row {
                variant: v.id.clone(),
                label: v.label.clone(),
                role: v.role,
                kind: r.kind,
                result: r.name.clone(),
                metric: m.name.clone(),
                value: m.value,
                ci95: match outs.get(&(r.name.clone(), r.variant.clone())) {
                    Some(o) if r.kind == Kind::Bench => pass_at_k_ci(&m.name, m.ci95, o),
                    _ => m.ci95,
                },
                n: m.n,
                unit: m.unit.clone(),
                higher_is_better: m.higher_is_better,
                reused: r.reused,
                compared_with: vs_baseline.as_ref().and(reference).map(|b| b.label.clone()),
                vs_baseline,
                harness_errors: match r.kind {
                    Kind::Bench => harness
                        .get(&(r.name.clone(), r.variant.clone()))
                        .copied()
                        .unwrap_or(0),
                    _ => 0,
                },
            });
        }
    }
    // Variants in run order, then result and metric order as stored.
    let order: BTreeMap<&str, usize> = infos
        .iter()
        .enumerate()
        .map(|(i, v)| (v.id.as_str(), i))
        .collect();
    rows.sort_by_key(|r| (r.kind, r.result.clone(), order[r.variant.as_str()]));
    apply_holm(&mut rows, opts.alpha);

    let frontiers = frontiers(&infos, &rows, opts, &mut notes);
    let heatmaps = heatmaps(&infos, &outs);
    Ok(Report {
        run: run.clone(),
        options: opts.clone(),
        baseline: baseline.map(|b| b.label),
        baseline_note,
        variants: infos,
        rows,
        frontiers,
        heatmaps,
        routing,
        notes,
    })
}

struct CostValue {
    value: f64,
    ci: Option<(f64, f64)>,
    unit: Option<String>,
    higher_is_better: bool,
}

fn frontiers(
    infos: &[VariantInfo],
    rows: &[Row],
    opts: &Options,
    notes: &mut Vec<String>,
) -> Vec<Frontier> {
    // Costs per variant: perf metrics, plus the artifact size.
    let mut costs: BTreeMap<String, BTreeMap<String, CostValue>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.kind == Kind::Perf) {
        costs
            .entry(r.metric.clone())
            .or_default()
            .entry(r.variant.clone())
            .or_insert(CostValue {
                value: r.value,
                ci: r.ci95,
                unit: r.unit.clone(),
                higher_is_better: r.higher_is_better,
            });
    }
    let sizes = costs.entry(SIZE_METRIC.to_string()).or_default();
    for v in infos {
        if let Some(s) = v.size_bytes {
            sizes.entry(v.id.clone()).or_insert(CostValue {
                value: s as f64,
                ci: None,
                unit: Some("bytes".into()),
                higher_is_better: false,
            });
        }
    }
    costs.retain(|name, vals| {
        !vals.is_empty() && (opts.costs.is_empty() || opts.costs.contains(name))
    });
    for c in &opts.costs {
        if !costs.contains_key(c) {
            notes.push(format!("Cost metric '{c}' is not in this run."));
        }
    }

    // Quality series: (result, metric) → rows.
    let mut series: BTreeMap<(String, String), Vec<&Row>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.kind != Kind::Perf) {
        let wanted = if opts.quality.is_empty() {
            r.kind == Kind::Quality || r.metric == "pass@1"
        } else {
            opts.quality.contains(&r.metric)
        };
        if wanted {
            series
                .entry((r.result.clone(), r.metric.clone()))
                .or_default()
                .push(r);
        }
    }

    let mut out = Vec::new();
    for ((result, metric), qrows) in &series {
        for (cost, per_variant) in &costs {
            let points: Vec<(&Row, &CostValue)> = qrows
                .iter()
                .filter_map(|r| per_variant.get(&r.variant).map(|c| (*r, c)))
                .collect();
            if points.len() < 2 {
                continue;
            }
            let first = points[0].1;
            let xy: Vec<(f64, f64)> = points.iter().map(|(r, c)| (c.value, r.value)).collect();
            let qhib = points[0].0.higher_is_better;
            let front = stats::pareto_front(&xy, first.higher_is_better, qhib);
            let on: BTreeSet<usize> = front.iter().copied().collect();
            out.push(Frontier {
                result: result.clone(),
                quality: metric.clone(),
                quality_unit: points[0].0.unit.clone(),
                quality_higher_is_better: qhib,
                cost: cost.clone(),
                cost_unit: first.unit.clone(),
                cost_higher_is_better: first.higher_is_better,
                front: front.iter().map(|&i| points[i].0.label.clone()).collect(),
                auc: qhib
                    .then(|| stats::hull_auc(&xy, first.higher_is_better))
                    .flatten(),
                points: points
                    .iter()
                    .enumerate()
                    .map(|(i, (r, c))| Point {
                        variant: r.variant.clone(),
                        label: r.label.clone(),
                        cost: c.value,
                        cost_ci: c.ci,
                        quality: r.value,
                        quality_ci: r.ci95,
                        on_front: on.contains(&i),
                    })
                    .collect(),
            });
        }
    }
    out
}

fn heatmaps(infos: &[VariantInfo], outs: &BTreeMap<(String, String), Outcomes>) -> Vec<Heatmap> {
    let benches: BTreeSet<&String> = outs.keys().map(|(b, _)| b).collect();
    benches
        .into_iter()
        .map(|bench| {
            let vs: Vec<(&VariantInfo, &Outcomes)> = infos
                .iter()
                .filter_map(|v| outs.get(&(bench.clone(), v.id.clone())).map(|o| (v, o)))
                .collect();
            let mut tasks: Vec<String> = vs
                .iter()
                .flat_map(|(_, o)| o.keys().cloned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let solved_by = |t: &String| {
                vs.iter()
                    .filter(|(_, o)| o.get(t).is_some_and(|s| s.contains(&true)))
                    .count()
            };
            tasks.sort_by_key(|t| std::cmp::Reverse(solved_by(t)));
            Heatmap {
                result: bench.clone(),
                variants: vs.iter().map(|(v, _)| v.label.clone()).collect(),
                cells: vs
                    .iter()
                    .map(|(_, o)| {
                        tasks
                            .iter()
                            .map(|t| o.get(t).map(|s| pass_fraction(s)))
                            .collect()
                    })
                    .collect(),
                solved: vs
                    .iter()
                    .map(|(_, o)| {
                        Rate::new(o.values().filter(|s| s.contains(&true)).count(), o.len())
                    })
                    .collect(),
                tasks,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(params: serde_json::Value) -> ResultRow {
        serde_json::from_value(serde_json::json!({
            "id": 1, "cache_key": "k", "variant": "v", "kind": "bench", "name": "humaneval",
            "dataset": null, "prompt_template": null, "generation": null, "seed": 0, "n": 1,
            "k": [1], "params": params, "status": "done", "error": null, "computed_by": null,
            "reused": false, "started_unix": 0.0, "ended_unix": null, "metrics": []
        }))
        .unwrap()
    }

    #[test]
    fn a_weak_sandbox_is_named_and_a_full_one_is_not() {
        let full = tradeoff_record::sandbox::Isolation {
            network: true,
            pid: true,
            user_namespace: false,
            uid_base: None,
            process_limit: true,
            filesystem: Some(7),
            read_only_mounts: true,
            no_privileges: true,
        };
        let env = |i: &tradeoff_record::sandbox::Isolation| serde_json::json!({ "environment": { "sandbox": i } });
        assert_eq!(weak_sandbox(&row(env(&full))), None);
        let weak = tradeoff_record::sandbox::Isolation {
            filesystem: None,
            pid: false,
            ..full
        };
        assert_eq!(
            weak_sandbox(&row(env(&weak))).as_deref(),
            Some("no pid namespace, no filesystem confinement (Landlock)")
        );
        assert_eq!(
            weak_sandbox(&row(serde_json::json!({}))),
            None,
            "not recorded"
        );
    }
}
