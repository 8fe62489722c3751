//! A routing study read from the run store: tiers (variants ordered by cost, each with its
//! measured speed), problems (the query each showed) and what every tier did on every problem.

use crate::query::Query;
use crate::{Error, Result};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use tradeoff_store::{Kind, ResultRow, RunVariant, Status, Store};

/// A variant a router can send queries to.
#[derive(Debug, Clone, Serialize)]
pub struct Tier {
    /// The run's label for it ("qwen2.5-coder-0.5b/original").
    pub label: String,
    pub variant: String,
    /// From the run's perf result: single-stream prompt and generation speeds.
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
}

impl Tier {
    /// Seconds one query costs on this tier, single stream.
    pub fn cost_s(&self, prompt_tokens: usize, generated: u64) -> f64 {
        prompt_tokens as f64 / self.prefill_tok_s + generated as f64 / self.decode_tok_s
    }
}

#[derive(Debug, Clone)]
pub struct Problem {
    pub bench: String,
    pub task_id: String,
    pub query: Query,
}

/// What one tier did on one problem (its first sample).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub passed: bool,
    pub tokens: u64,
    pub cost_s: f64,
    pub completion: Option<String>,
}

/// The query texts of one benchmark, from its data set, keyed by task id.
#[derive(Debug, Clone, Default)]
pub struct BenchTexts {
    /// sha256 of the data file, checked against the stored results' dataset.
    pub sha256: String,
    pub by_task: HashMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Study {
    pub run: String,
    pub tiers: Vec<Tier>,
    pub problems: Vec<Problem>,
    /// `outcomes[tier][problem]`.
    pub outcomes: Vec<Vec<Outcome>>,
}

/// The variant of a run that `want` names: its whole label, or a part of exactly one label.
pub fn find_variant<'a>(variants: &'a [RunVariant], want: &str) -> Result<&'a RunVariant> {
    if let Some(v) = variants.iter().find(|v| v.variant.label == want) {
        return Ok(v);
    }
    let hits: Vec<&RunVariant> = variants
        .iter()
        .filter(|v| v.variant.label.contains(want))
        .collect();
    let labels = || {
        variants
            .iter()
            .map(|v| v.variant.label.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::Study(format!(
            "no variant '{want}' in the run (it has: {})",
            labels()
        ))),
        _ => Err(Error::Study(format!(
            "'{want}' matches several variants ({}); give the whole label",
            labels()
        ))),
    }
}

fn metric(r: &ResultRow, name: &str) -> Option<f64> {
    r.metric(name)
        .map(|m| m.value)
        .filter(|v| v.is_finite() && *v > 0.0)
}

/// Prompt tokens per task id, from a benchmark record's per-problem timing.
fn prompt_tokens(store: &Store, r: &ResultRow) -> Result<HashMap<String, usize>> {
    let rec = store.record(r.id)?.unwrap_or_default();
    Ok(rec["problems"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| {
                    Some((
                        p["task_id"].as_str()?.to_string(),
                        p["timing"]["prompt_tokens"].as_u64()? as usize,
                    ))
                })
                .collect()
        })
        .unwrap_or_default())
}

impl Study {
    /// The study of `tiers` (labels, cheapest first) on `benches` in `run`.
    pub fn from_store(
        store: &Store,
        run: &str,
        benches: &[String],
        tiers: &[String],
        texts: &BTreeMap<String, BenchTexts>,
    ) -> Result<Study> {
        if tiers.len() < 2 {
            return Err(Error::Study(
                "routing needs at least two tiers (--tiers SMALL,LARGE)".into(),
            ));
        }
        let run = store.resolve_run(run)?;
        let variants = store.variants(run.id)?;
        let results: Vec<ResultRow> = store
            .results(run.id)?
            .into_iter()
            .filter(|r| r.status == Status::Done)
            .collect();
        let chosen: Vec<&RunVariant> = tiers
            .iter()
            .map(|t| find_variant(&variants, t))
            .collect::<Result<_>>()?;
        let mut out_tiers = Vec::new();
        for v in &chosen {
            let perf = results
                .iter()
                .find(|r| r.kind == Kind::Perf && r.variant == v.variant.id)
                .ok_or_else(|| Error::Study(format!(
                    "tier '{}' has no perf result in run '{}': add [perf] to the config and rerun the sweep",
                    v.variant.label, run.name
                )))?;
            let (Some(prefill), Some(decode)) =
                (metric(perf, "prefill_tok_s"), metric(perf, "decode_tok_s"))
            else {
                return Err(Error::Study(format!(
                    "tier '{}': its perf result lacks prefill/decode speed",
                    v.variant.label
                )));
            };
            out_tiers.push(Tier {
                label: v.variant.label.clone(),
                variant: v.variant.id.clone(),
                prefill_tok_s: prefill,
                decode_tok_s: decode,
            });
        }
        let mut problems = Vec::new();
        let mut outcomes: Vec<Vec<Outcome>> = vec![Vec::new(); chosen.len()];
        for bench in benches {
            let text = texts
                .get(bench)
                .ok_or_else(|| Error::Study(format!("no query texts for benchmark '{bench}'")))?;
            // Per tier: task id → (sample 0, prompt tokens).
            let mut per_tier = Vec::new();
            for t in &out_tiers {
                let r = results
                    .iter()
                    .find(|r| r.kind == Kind::Bench && r.name == *bench && r.variant == t.variant)
                    .ok_or_else(|| {
                        Error::Study(format!(
                            "tier '{}' has no finished {bench} result in run '{}'",
                            t.label, run.name
                        ))
                    })?;
                if let Some(d) = &r.dataset {
                    if !text.sha256.is_empty() && d.sha256 != text.sha256 {
                        return Err(Error::Study(format!(
                            "{bench}: the run was evaluated on other data (sha256 {}) than the data set here ({})",
                            &d.sha256[..12.min(d.sha256.len())],
                            &text.sha256[..12.min(text.sha256.len())]
                        )));
                    }
                }
                let samples: HashMap<String, tradeoff_store::SampleRow> = store
                    .samples(r.id)?
                    .into_iter()
                    .filter(|s| s.sample == 0)
                    .map(|s| (s.task_id.clone(), s))
                    .collect();
                per_tier.push((samples, prompt_tokens(store, r)?));
            }
            let mut ids: Vec<&String> = per_tier[0].0.keys().collect();
            ids.retain(|id| per_tier.iter().all(|(s, _)| s.contains_key(*id)));
            ids.sort_by_key(|id| task_order(id));
            for id in ids {
                let query_text = text.by_task.get(id.as_str()).ok_or_else(|| {
                    Error::Study(format!("{bench}: task {id} is not in the data set here"))
                })?;
                let tokens0 = per_tier[0].1.get(id.as_str()).copied().unwrap_or(0);
                for (t, (samples, toks)) in per_tier.iter().enumerate() {
                    let s = &samples[id.as_str()];
                    let pt = toks.get(id.as_str()).copied().unwrap_or(tokens0);
                    let tokens = s.tokens.unwrap_or(0);
                    outcomes[t].push(Outcome {
                        passed: s.passed,
                        tokens,
                        cost_s: out_tiers[t].cost_s(pt, tokens),
                        completion: s.completion.clone(),
                    });
                }
                problems.push(Problem {
                    bench: bench.clone(),
                    task_id: id.clone(),
                    query: Query::new(query_text.clone(), tokens0),
                });
            }
        }
        if problems.is_empty() {
            return Err(Error::Study(
                "no problem was solved or failed by every tier".into(),
            ));
        }
        Ok(Study {
            run: run.name,
            tiers: out_tiers,
            problems,
            outcomes,
        })
    }

    /// pass@1 of each tier over the problems.
    pub fn tier_quality(&self) -> Vec<f64> {
        self.outcomes
            .iter()
            .map(|o| o.iter().filter(|x| x.passed).count() as f64 / o.len().max(1) as f64)
            .collect()
    }

    /// Whether each tier passed problem `p`.
    pub fn passed(&self, p: usize) -> Vec<bool> {
        self.outcomes.iter().map(|o| o[p].passed).collect()
    }
}

/// "HumanEval/12" sorts before "HumanEval/100".
fn task_order(id: &str) -> (String, u64) {
    match id.rsplit_once('/') {
        Some((a, n)) => (a.to_string(), n.parse().unwrap_or(u64::MAX)),
        None => (id.to_string(), u64::MAX),
    }
}
