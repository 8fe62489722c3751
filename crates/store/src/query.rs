//! Reading the store back: listings, one run in full, diffs between runs, removal.

use crate::types::*;
use crate::{Error, Machine, Result, Store};
use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use tradeoff_record::Metric;

/// One line of `tradeoff runs list`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: RunId,
    pub name: String,
    pub status: Status,
    pub started_unix: f64,
    pub ended_unix: Option<f64>,
    pub variants: usize,
    pub results: usize,
    /// Results of this run that an earlier run computed.
    pub reused: usize,
}

/// What a run is about, for filtering listings: its variants' models and compression methods
/// (the recipe's `method`, else its `name`) and its benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFacets {
    pub models: BTreeSet<String>,
    pub methods: BTreeSet<String>,
    pub benchmarks: BTreeSet<String>,
}

/// One metric compared between two runs (same variant, result and metric name).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiffRow {
    pub variant: String,
    pub label: String,
    pub kind: Kind,
    pub result: String,
    pub metric: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunDiff {
    pub a: String,
    pub b: String,
    pub same_config: bool,
    /// Config lines only in a (`-`) or only in b (`+`).
    pub config_lines: Vec<String>,
    pub same_machine: bool,
    pub rows: Vec<DiffRow>,
}

/// What [`Store::rm_run`] removed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RmReport {
    pub run: String,
    pub results_removed: usize,
    pub variants_removed: usize,
    /// Artifacts of removed variants: left on disk, no longer referenced by the store.
    pub unreferenced_artifacts: Vec<PathBuf>,
}

const RUN_COLS: &str = "id, name, config, config_sha256, tool_version, git_rev, cpu, threads,
    ram_bytes, gpu, os, hostname, started_unix, ended_unix, status, arch, isa";

fn run_from_row(r: &Row<'_>) -> rusqlite::Result<Run> {
    Ok(Run {
        id: r.get(0)?,
        name: r.get(1)?,
        config: r.get(2)?,
        config_sha256: r.get(3)?,
        tool_version: r.get(4)?,
        git_rev: r.get(5)?,
        machine: Machine {
            cpu: r.get(6)?,
            threads: r.get::<_, i64>(7)? as usize,
            ram_bytes: r.get::<_, i64>(8)? as u64,
            gpu: r.get(9)?,
            os: r.get(10)?,
            hostname: r.get(11)?,
            arch: r.get(15)?,
            isa: r
                .get::<_, String>(16)?
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_string)
                .collect(),
        },
        started_unix: r.get(12)?,
        ended_unix: r.get(13)?,
        status: Status::parse(&r.get::<_, String>(14)?),
    })
}

fn json_col(text: Option<String>) -> Value {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

const VARIANT_COLS: &str = "v.id, v.label, v.model, v.source_sha256, v.recipe, v.manifest,
    v.artifact_path, v.artifact_sha256, v.size_bytes, v.note, v.created_unix";

fn variant_from_row(r: &Row<'_>) -> rusqlite::Result<Variant> {
    Ok(Variant {
        id: r.get(0)?,
        label: r.get(1)?,
        model: r.get(2)?,
        source_sha256: r.get(3)?,
        recipe: json_col(r.get(4)?),
        manifest: json_col(r.get(5)?),
        artifact_path: r.get::<_, Option<String>>(6)?.map(PathBuf::from),
        artifact_sha256: r.get(7)?,
        size_bytes: r.get::<_, Option<i64>>(8)?.map(|s| s as u64),
        note: r.get(9)?,
        created_unix: r.get(10)?,
    })
}

impl Store {
    /// A run by id, by name, or `latest` (the most recently started).
    pub fn resolve_run(&self, what: &str) -> Result<Run> {
        let found = if what == "latest" {
            let r = self
                .conn
                .query_row(
                    &format!(
                        "SELECT {RUN_COLS} FROM runs ORDER BY started_unix DESC, id DESC LIMIT 1"
                    ),
                    [],
                    run_from_row,
                )
                .optional()?;
            return r.ok_or(Error::Empty);
        } else if let Ok(id) = what.parse::<RunId>() {
            self.conn
                .query_row(
                    &format!("SELECT {RUN_COLS} FROM runs WHERE id = ?1 OR name = ?2"),
                    params![id, what],
                    run_from_row,
                )
                .optional()?
        } else {
            self.conn
                .query_row(
                    &format!("SELECT {RUN_COLS} FROM runs WHERE name = ?1"),
                    [what],
                    run_from_row,
                )
                .optional()?
        };
        found.ok_or_else(|| Error::NoRun(what.to_string()))
    }

    /// All runs, newest first.
    pub fn list_runs(&self) -> Result<Vec<RunSummary>> {
        let mut stmt = self.conn.prepare(
            "SELECT r.id, r.name, r.status, r.started_unix, r.ended_unix,
                (SELECT COUNT(*) FROM run_variants WHERE run = r.id),
                (SELECT COUNT(*) FROM run_results WHERE run = r.id),
                (SELECT COUNT(*) FROM run_results WHERE run = r.id AND reused)
             FROM runs r ORDER BY r.started_unix DESC, r.id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(RunSummary {
                id: r.get(0)?,
                name: r.get(1)?,
                status: Status::parse(&r.get::<_, String>(2)?),
                started_unix: r.get(3)?,
                ended_unix: r.get(4)?,
                variants: r.get::<_, i64>(5)? as usize,
                results: r.get::<_, i64>(6)? as usize,
                reused: r.get::<_, i64>(7)? as usize,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every run's [`RunFacets`], in two queries whatever the number of runs.
    pub fn run_facets(&self) -> Result<BTreeMap<RunId, RunFacets>> {
        let mut out: BTreeMap<RunId, RunFacets> = BTreeMap::new();
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT rv.run, v.model, v.recipe FROM run_variants rv
             JOIN variants v ON v.id = rv.variant",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, RunId>(0)?,
                r.get::<_, String>(1)?,
                json_col(r.get(2)?),
            ))
        })?;
        for row in rows {
            let (run, model, recipe) = row?;
            let f = out.entry(run).or_default();
            f.models.insert(model);
            let method = recipe.get("method").or_else(|| recipe.get("name"));
            if let Some(m) = method.and_then(Value::as_str) {
                f.methods.insert(m.to_string());
            }
        }
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT rr.run, r.name FROM run_results rr
             JOIN results r ON r.id = rr.result WHERE r.kind = 'bench'",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, RunId>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (run, bench) = row?;
            out.entry(run).or_default().benchmarks.insert(bench);
        }
        Ok(out)
    }

    /// Samples committed so far per result of a run (live progress of a sweep).
    pub fn sample_counts(&self, run: RunId) -> Result<BTreeMap<ResultId, usize>> {
        let mut stmt = self.conn.prepare(
            "SELECT rr.result, (SELECT COUNT(*) FROM samples s WHERE s.result = rr.result)
             FROM run_results rr WHERE rr.run = ?1",
        )?;
        let rows = stmt.query_map([run], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as usize)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The run's variants in the order they were added.
    pub fn variants(&self, run: RunId) -> Result<Vec<RunVariant>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {VARIANT_COLS}, rv.role, rv.label FROM run_variants rv
             JOIN variants v ON v.id = rv.variant WHERE rv.run = ?1 ORDER BY rv.position"
        ))?;
        let rows = stmt.query_map([run], |r| {
            let mut variant = variant_from_row(r)?;
            // The run's own name for it.
            variant.label = r.get(12)?;
            Ok(RunVariant {
                variant,
                role: if r.get::<_, String>(11)? == "baseline" {
                    Role::Baseline
                } else {
                    Role::Candidate
                },
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A variant by id, whatever run it is in.
    pub fn variant(&self, id: &str) -> Result<Variant> {
        self.conn
            .query_row(
                &format!("SELECT {VARIANT_COLS} FROM variants v WHERE v.id = ?1"),
                [id],
                variant_from_row,
            )
            .optional()?
            .ok_or_else(|| Error::NoVariant(id.to_string()))
    }

    /// The results a run uses (computed or reused), with metrics, in insertion order.
    pub fn results(&self, run: RunId) -> Result<Vec<ResultRow>> {
        let ids: Vec<ResultId> = {
            let mut stmt = self
                .conn
                .prepare("SELECT result FROM run_results WHERE run = ?1 ORDER BY result")?;
            let rows = stmt.query_map([run], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        ids.into_iter()
            .map(|id| self.result(id, Some(run)))
            .collect()
    }

    /// One result with its metrics; `for_run` decides what `reused` says.
    pub fn result(&self, id: ResultId, for_run: Option<RunId>) -> Result<ResultRow> {
        let mut row = self
            .conn
            .query_row(
                "SELECT id, cache_key, variant, kind, name, dataset_name, dataset_sha256,
                    prompt_template, generation, seed, n, k, params, status, error, run,
                    started_unix, ended_unix,
                    (SELECT reused FROM run_results WHERE result = results.id AND run = ?2)
                 FROM results WHERE id = ?1",
                params![id, for_run],
                |r| {
                    let dataset = match (
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                    ) {
                        (Some(name), Some(sha256)) => Some(Dataset { name, sha256 }),
                        _ => None,
                    };
                    Ok(ResultRow {
                        id: r.get(0)?,
                        cache_key: r.get(1)?,
                        variant: r.get(2)?,
                        kind: Kind::parse(&r.get::<_, String>(3)?),
                        name: r.get(4)?,
                        dataset,
                        prompt_template: r.get(7)?,
                        generation: r.get::<_, Option<String>>(8)?.map(|t| json_col(Some(t))),
                        seed: r.get::<_, i64>(9)? as u64,
                        n: r.get::<_, i64>(10)? as usize,
                        k: serde_json::from_value(json_col(r.get(11)?)).unwrap_or_default(),
                        params: json_col(r.get(12)?),
                        status: Status::parse(&r.get::<_, String>(13)?),
                        error: r.get(14)?,
                        computed_by: r.get(15)?,
                        started_unix: r.get(16)?,
                        ended_unix: r.get(17)?,
                        reused: r.get::<_, Option<bool>>(18)?.unwrap_or(false),
                        metrics: Vec::new(),
                    })
                },
            )
            .optional()?
            .ok_or(Error::NoResult(id))?;
        let mut stmt = self.conn.prepare(
            "SELECT name, value, ci_lo, ci_hi, n, unit, higher_is_better FROM metrics
             WHERE result = ?1 ORDER BY rowid",
        )?;
        let metrics = stmt.query_map([id], |r| {
            let ci = match (r.get::<_, Option<f64>>(2)?, r.get::<_, Option<f64>>(3)?) {
                (Some(lo), Some(hi)) => Some((lo, hi)),
                _ => None,
            };
            Ok(Metric {
                name: r.get(0)?,
                value: r.get::<_, Option<f64>>(1)?.unwrap_or(f64::NAN),
                ci95: ci,
                n: r.get::<_, Option<i64>>(4)?.map(|n| n as usize),
                unit: r.get(5)?,
                higher_is_better: r.get(6)?,
            })
        })?;
        row.metrics = metrics.collect::<rusqlite::Result<_>>()?;
        Ok(row)
    }

    /// A result's per-sample outcomes, by task then sample index.
    pub fn samples(&self, result: ResultId) -> Result<Vec<SampleRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT task_id, sample, passed, status, detail, tokens, exec_s, gen_s, completion, cases
             FROM samples WHERE result = ?1 ORDER BY task_id, sample",
        )?;
        let rows = stmt.query_map([result], |r| {
            Ok(SampleRow {
                task_id: r.get(0)?,
                sample: r.get(1)?,
                passed: r.get(2)?,
                status: r.get(3)?,
                detail: r.get(4)?,
                tokens: r.get::<_, Option<i64>>(5)?.map(|t| t as u64),
                exec_s: r.get(6)?,
                gen_s: r.get(7)?,
                completion: r.get(8)?,
                cases: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The full record a result was finished with (`None` while unfinished).
    pub fn record(&self, result: ResultId) -> Result<Option<Value>> {
        let text: Option<Option<String>> = self
            .conn
            .query_row("SELECT record FROM results WHERE id = ?1", [result], |r| {
                r.get(0)
            })
            .optional()?;
        let text = text.ok_or(Error::NoResult(result))?;
        text.map(|t| {
            serde_json::from_str(&t).map_err(|source| Error::Json {
                what: "record",
                source,
            })
        })
        .transpose()
    }

    /// Every metric of two runs side by side, matched by variant, result and metric name.
    pub fn diff(&self, a: &Run, b: &Run) -> Result<RunDiff> {
        type Key = (String, Kind, String, String);
        let collect = |run: &Run| -> Result<(BTreeMap<Key, f64>, BTreeMap<String, String>)> {
            let labels = self
                .variants(run.id)?
                .into_iter()
                .map(|v| (v.variant.id, v.variant.label))
                .collect();
            let mut values = BTreeMap::new();
            for r in self.results(run.id)? {
                for m in &r.metrics {
                    values.insert(
                        (r.variant.clone(), r.kind, r.name.clone(), m.name.clone()),
                        m.value,
                    );
                }
            }
            Ok((values, labels))
        };
        let (va, la) = collect(a)?;
        let (vb, lb) = collect(b)?;
        let keys: BTreeSet<&Key> = va.keys().chain(vb.keys()).collect();
        let rows = keys
            .into_iter()
            .map(|k| DiffRow {
                variant: k.0.clone(),
                label: la.get(&k.0).or(lb.get(&k.0)).cloned().unwrap_or_default(),
                kind: k.1,
                result: k.2.clone(),
                metric: k.3.clone(),
                a: va.get(k).copied(),
                b: vb.get(k).copied(),
            })
            .collect();
        let (la, lb): (BTreeSet<&str>, BTreeSet<&str>) =
            (a.config.lines().collect(), b.config.lines().collect());
        let config_lines = la
            .difference(&lb)
            .map(|l| format!("- {l}"))
            .chain(lb.difference(&la).map(|l| format!("+ {l}")))
            .collect();
        Ok(RunDiff {
            a: a.name.clone(),
            b: b.name.clone(),
            same_config: a.config_sha256 == b.config_sha256,
            config_lines,
            same_machine: crate::machine::fingerprint(&a.machine)
                == crate::machine::fingerprint(&b.machine),
            rows,
        })
    }

    /// Removes a run, the results no other run uses, and the variants no run uses. Artifact
    /// files are left on disk (listed in the report).
    pub fn rm_run(&mut self, run: &Run) -> Result<RmReport> {
        let tx = self.conn.transaction()?;
        let mine: Vec<ResultId> = {
            let mut stmt = tx.prepare("SELECT result FROM run_results WHERE run = ?1")?;
            let rows = stmt.query_map([run.id], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let variants: Vec<String> = {
            let mut stmt = tx.prepare("SELECT variant FROM run_variants WHERE run = ?1")?;
            let rows = stmt.query_map([run.id], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        tx.execute("DELETE FROM runs WHERE id = ?1", [run.id])?;
        let mut results_removed = 0;
        for id in mine {
            results_removed += tx.execute(
                "DELETE FROM results WHERE id = ?1
                 AND NOT EXISTS (SELECT 1 FROM run_results WHERE result = ?1)",
                [id],
            )?;
        }
        let mut variants_removed = 0;
        let mut unreferenced_artifacts = Vec::new();
        for id in variants {
            let path: Option<Option<String>> = tx
                .query_row(
                    "DELETE FROM variants WHERE id = ?1
                     AND NOT EXISTS (SELECT 1 FROM run_variants WHERE variant = ?1)
                     AND NOT EXISTS (SELECT 1 FROM results WHERE variant = ?1)
                     RETURNING artifact_path",
                    [&id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(p) = path {
                variants_removed += 1;
                unreferenced_artifacts.extend(p.map(PathBuf::from));
            }
        }
        tx.commit()?;
        Ok(RmReport {
            run: run.name.clone(),
            results_removed,
            variants_removed,
            unreferenced_artifacts,
        })
    }
}
