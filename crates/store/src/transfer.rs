//! Moving a run between stores: `tradeoff runs export` writes it as JSON lines (run, variants,
//! finished results with metrics, per-sample outcomes), `tradeoff runs import` reads it into
//! another store under the same content hashes, so routing studies and reports can be rebuilt
//! anywhere without generating again.
//!
//! Records are slimmed on the way out: a benchmark problem's prompt becomes its sha256 and the
//! executed program is dropped (both follow from the data set and the completion), so an
//! export holds model outputs and measurements, never the benchmark's text.

use crate::types::*;
use crate::{Error, Result, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{BufRead, Write};

/// The first line's `format`; anything else is refused.
pub const EXPORT_FORMAT: &str = "tradeoff-run-export";
/// Bumped when a line's shape changes incompatibly.
pub const EXPORT_VERSION: u32 = 1;

/// One line of an export.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    Header {
        format: String,
        version: u32,
        run: Run,
    },
    Variant(RunVariant),
    Result {
        /// Its cache key in the exporting store; samples name their result by it.
        key: String,
        spec: ResultSpec,
        status: Status,
        metrics: Vec<tradeoff_record::Metric>,
        record: Option<Value>,
    },
    /// A sample of the result whose cache key (in the exporting store) is `result`.
    Sample {
        result: String,
        row: SampleRow,
    },
}

/// What [`Store::export_run`] includes.
#[derive(Debug, Clone, Copy)]
pub struct ExportOptions {
    /// The model's completions (pass/fail, tokens and timings are always there).
    pub completions: bool,
    /// Results still running, with the samples they have: importing them and rerunning the
    /// sweep resumes them on another machine.
    pub unfinished: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            completions: true,
            unfinished: false,
        }
    }
}

/// What [`Store::export_run`] wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportReport {
    pub variants: usize,
    pub results: usize,
    /// Of `results`, those still running (exported with `unfinished`).
    pub unfinished: usize,
    pub samples: usize,
}

/// What [`Store::import_run`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub run: String,
    pub variants: usize,
    /// Results added to this store.
    pub results_added: usize,
    /// Results this store already had (same cache key): linked to the run, not rewritten.
    pub results_present: usize,
    /// Unfinished results whose samples were added: a sweep with the same config resumes them.
    pub results_unfinished: usize,
    pub samples: usize,
}

/// A benchmark record without the data set's text: prompts become `prompt_sha256`, executed
/// programs and completions (the samples carry those) are dropped.
fn slim_record(mut rec: Value) -> Value {
    if let Some(problems) = rec.get_mut("problems").and_then(Value::as_array_mut) {
        for p in problems {
            let Some(obj) = p.as_object_mut() else {
                continue;
            };
            if let Some(Value::String(prompt)) = obj.remove("prompt") {
                obj.insert(
                    "prompt_sha256".into(),
                    Value::String(hex::encode(Sha256::digest(prompt.as_bytes()))),
                );
            }
            if let Some(samples) = obj.get_mut("samples").and_then(Value::as_array_mut) {
                for s in samples.iter_mut().filter_map(Value::as_object_mut) {
                    s.remove("program");
                    s.remove("completion");
                }
            }
        }
    }
    rec
}

fn spec_of(r: &ResultRow) -> ResultSpec {
    ResultSpec {
        variant: r.variant.clone(),
        kind: r.kind,
        name: r.name.clone(),
        dataset: r.dataset.clone(),
        prompt_template: r.prompt_template.clone(),
        generation: r.generation.clone(),
        seed: r.seed,
        n: r.n,
        k: r.k.clone(),
        params: r.params.clone(),
    }
}

fn write_line(out: &mut dyn Write, line: &Line) -> Result<()> {
    let io = |source| Error::Io {
        path: "export".into(),
        source,
    };
    serde_json::to_writer(&mut *out, line).map_err(|source| Error::Json {
        what: "export line",
        source,
    })?;
    out.write_all(b"\n").map_err(io)
}

impl Store {
    /// Writes `run` as JSON lines: its finished results (and running ones when asked; a
    /// failed one never), with completions unless told not to.
    pub fn export_run(
        &self,
        run: &Run,
        opts: ExportOptions,
        out: &mut dyn Write,
    ) -> Result<ExportReport> {
        let mut rep = ExportReport::default();
        write_line(
            out,
            &Line::Header {
                format: EXPORT_FORMAT.into(),
                version: EXPORT_VERSION,
                run: run.clone(),
            },
        )?;
        for v in self.variants(run.id)? {
            write_line(out, &Line::Variant(v))?;
            rep.variants += 1;
        }
        for r in self.results(run.id)? {
            let wanted =
                r.status == Status::Done || (opts.unfinished && r.status == Status::Running);
            if !wanted {
                continue;
            }
            rep.unfinished += usize::from(r.status == Status::Running);
            let record = self.record(r.id)?.map(slim_record);
            write_line(
                out,
                &Line::Result {
                    key: r.cache_key.clone(),
                    spec: spec_of(&r),
                    status: r.status,
                    metrics: r.metrics.clone(),
                    record,
                },
            )?;
            rep.results += 1;
            for mut row in self.samples(r.id)? {
                if !opts.completions {
                    row.completion = None;
                }
                write_line(
                    out,
                    &Line::Sample {
                        result: r.cache_key.clone(),
                        row,
                    },
                )?;
                rep.samples += 1;
            }
        }
        Ok(rep)
    }

    /// Reads an export into this store as a run named `name` (default: the exported run's
    /// name). Variants and results keep their content hashes, so importing twice, or into a
    /// store that already computed some of them, adds nothing twice.
    pub fn import_run(
        &mut self,
        input: &mut dyn BufRead,
        name: Option<&str>,
    ) -> Result<ImportReport> {
        let bad = |n: usize, msg: String| Error::Import { line: n, msg };
        let mut lines = input.lines().enumerate();
        let (run, source_run) = match lines.next() {
            Some((_, Ok(text))) => match serde_json::from_str::<Line>(&text) {
                Ok(Line::Header { format, version, run })
                    if format == EXPORT_FORMAT && version <= EXPORT_VERSION =>
                {
                    let spec = RunSpec {
                        name: Some(name.unwrap_or(&run.name).to_string()),
                        config: run.config.clone(),
                        tool_version: run.tool_version.clone(),
                        git_rev: run.git_rev.clone(),
                        machine: run.machine.clone(),
                        machine_bound: true,
                        same_config: None,
                    };
                    (self.begin_run(&spec)?, run)
                }
                Ok(Line::Header { version, .. }) if version > EXPORT_VERSION => {
                    return Err(bad(1, format!("export version {version} is newer than this tradeoff reads ({EXPORT_VERSION}): upgrade tradeoff")))
                }
                _ => return Err(bad(1, "not a tradeoff run export (no header line)".into())),
            },
            Some((_, Err(source))) => {
                return Err(Error::Io {
                    path: "import".into(),
                    source,
                })
            }
            None => return Err(bad(1, "empty file".into())),
        };
        let mut rep = ImportReport {
            run: run.name.clone(),
            ..Default::default()
        };
        // Exported cache key → this store's result id, for results whose samples are wanted.
        let mut ids: std::collections::HashMap<String, Option<ResultId>> = Default::default();
        // A result is marked done only once all its samples are in: an import killed midway
        // leaves it running, and importing again resumes it.
        let mut pending: Option<(ResultId, Vec<tradeoff_record::Metric>, Option<Value>)> = None;
        for (i, text) in lines {
            let n = i + 1;
            let text = text.map_err(|source| Error::Io {
                path: "import".into(),
                source,
            })?;
            if text.trim().is_empty() {
                continue;
            }
            let line: Line = serde_json::from_str(&text).map_err(|e| bad(n, e.to_string()))?;
            if !matches!(line, Line::Sample { .. }) {
                if let Some((id, metrics, record)) = pending.take() {
                    self.finish_result(id, &metrics, &record)?;
                }
            }
            match line {
                Line::Header { .. } => return Err(bad(n, "a second header".into())),
                Line::Variant(rv) => {
                    self.import_variant(run.id, rv).map_err(|m| match m {
                        Error::Import { msg, .. } => bad(n, msg),
                        e => e,
                    })?;
                    rep.variants += 1;
                }
                Line::Result {
                    key,
                    spec,
                    status,
                    metrics,
                    record,
                } => {
                    if !matches!(status, Status::Done | Status::Running) {
                        continue;
                    }
                    match self.begin_result(run.id, &spec)? {
                        Started::Cached(_) => {
                            rep.results_present += 1;
                            ids.insert(key, None);
                        }
                        Started::Todo { id, .. } if status == Status::Running => {
                            rep.results_unfinished += 1;
                            ids.insert(key, Some(id));
                        }
                        Started::Todo { id, .. } => {
                            pending = Some((id, metrics, record));
                            rep.results_added += 1;
                            ids.insert(key, Some(id));
                        }
                    }
                }
                Line::Sample { result, row } => match ids.get(&result) {
                    Some(Some(id)) => {
                        self.add_sample(*id, &row)?;
                        rep.samples += 1;
                    }
                    Some(None) => {}
                    None => return Err(bad(n, format!("sample of unknown result {result}"))),
                },
            }
        }
        if let Some((id, metrics, record)) = pending.take() {
            self.finish_result(id, &metrics, &record)?;
        }
        self.end_run(run.id, source_run.status)?;
        Ok(rep)
    }

    fn import_variant(&mut self, run: RunId, rv: RunVariant) -> Result<()> {
        let v = rv.variant;
        let spec = VariantSpec {
            label: v.label,
            model: v.model,
            source_sha256: v.source_sha256,
            recipe: v.recipe,
            manifest: v.manifest,
            artifact_path: v.artifact_path,
            artifact_sha256: v.artifact_sha256,
            size_bytes: v.size_bytes,
            note: v.note,
        };
        if spec.id() != v.id {
            return Err(Error::Import {
                line: 0,
                msg: format!(
                    "variant {} does not hash to its id (edited or corrupt)",
                    v.id
                ),
            });
        }
        self.upsert_variant(run, &spec, rv.role)?;
        Ok(())
    }
}
