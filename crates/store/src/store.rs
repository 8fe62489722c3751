//! Opening the store and the writes a sweep makes.

use crate::types::*;
use crate::{format_unix, now_unix, schema, sha256_str, Error, Result};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tradeoff_record::{BenchResult, Metric};

/// One connection to the run store.
pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
}

/// What [`Store::upsert_variant`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Upserted {
    pub id: String,
    /// The variant was already stored (by this or an earlier run).
    pub reused: bool,
}

/// What [`Store::begin_run`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Begun {
    pub id: RunId,
    pub name: String,
    /// A run with this name and config existed and is continued.
    pub resumed: bool,
}

pub(crate) fn json_text(v: &impl Serialize, what: &'static str) -> Result<String> {
    serde_json::to_string(v).map_err(|source| Error::Json { what, source })
}

impl Store {
    /// `<cache dir>/runs.sqlite` (`$TRADEOFF_HOME`, else `~/.cache/tradeoff`).
    pub fn default_path() -> PathBuf {
        tradeoff_assets::cache_dir().join("runs.sqlite")
    }

    /// Opens (creating it and its folder if needed) and migrates the store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let open_err = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        // WAL: a commit survives the process being killed right after it, and readers (a
        // report) never block the sweep writing. NORMAL skips the fsync per commit, which only
        // matters on power loss.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_err)?;
        schema::migrate(&mut conn)?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a run, or resumes the run of the same name when its config is the same.
    pub fn begin_run(&mut self, spec: &RunSpec) -> Result<Begun> {
        let now = now_unix();
        let config_sha = sha256_str(&spec.config);
        let tx = self.conn.transaction()?;
        let name = match &spec.name {
            Some(n) => n.clone(),
            None => {
                let base = format!(
                    "run-{}",
                    format_unix(now).replace(['-', ':'], "").replace(' ', "-")
                );
                let mut name = base.clone();
                let mut i = 2;
                while tx
                    .query_row("SELECT 1 FROM runs WHERE name = ?1", [&name], |_| Ok(()))
                    .optional()?
                    .is_some()
                {
                    name = format!("{base}-{i}");
                    i += 1;
                }
                name
            }
        };
        let existing: Option<(RunId, bool, String)> = tx
            .query_row(
                "SELECT id, config_sha256, machine_fp, config FROM runs WHERE name = ?1",
                [&name],
                |r| {
                    let (sha, text): (String, String) = (r.get(1)?, r.get(3)?);
                    let same = sha == config_sha
                        || spec.same_config.is_some_and(|f| f(&text, &spec.config));
                    Ok((r.get(0)?, same, r.get(2)?))
                },
            )
            .optional()?;
        let begun = match existing {
            // Perf results of a run must come from one machine.
            Some((_, true, fp))
                if spec.machine_bound && fp != crate::machine::fingerprint(&spec.machine) =>
            {
                return Err(Error::OtherMachine(name))
            }
            Some((id, true, _)) => {
                tx.execute(
                    "UPDATE runs SET status = 'running', ended_unix = NULL WHERE id = ?1",
                    [id],
                )?;
                Begun {
                    id,
                    name,
                    resumed: true,
                }
            }
            Some(_) => return Err(Error::RunNameTaken(name)),
            None => {
                let m = &spec.machine;
                tx.execute(
                    "INSERT INTO runs (name, config, config_sha256, tool_version, git_rev, cpu,
                        threads, ram_bytes, gpu, os, hostname, machine_fp, started_unix, status, arch, isa)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'running',
                        ?14, ?15)",
                    params![
                        name,
                        spec.config,
                        config_sha,
                        spec.tool_version,
                        spec.git_rev,
                        m.cpu,
                        m.threads as i64,
                        m.ram_bytes as i64,
                        m.gpu,
                        m.os,
                        m.hostname,
                        crate::machine::fingerprint(m),
                        now,
                        m.arch,
                        m.isa.join(",")
                    ],
                )?;
                Begun {
                    id: tx.last_insert_rowid(),
                    name,
                    resumed: false,
                }
            }
        };
        tx.commit()?;
        Ok(begun)
    }

    /// Marks a run done or failed.
    pub fn end_run(&mut self, run: RunId, status: Status) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE runs SET status = ?2, ended_unix = ?3 WHERE id = ?1",
            params![run, status.as_str(), now_unix()],
        )?;
        if n == 0 {
            return Err(Error::NoRun(run.to_string()));
        }
        Ok(())
    }

    /// Stores a variant (or finds it by content hash) and adds it to the run.
    pub fn upsert_variant(
        &mut self,
        run: RunId,
        spec: &VariantSpec,
        role: Role,
    ) -> Result<Upserted> {
        let id = spec.id();
        let recipe = json_text(&spec.recipe, "recipe")?;
        let manifest = json_text(&spec.manifest, "manifest")?;
        let path = spec
            .artifact_path
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        let tx = self.conn.transaction()?;
        let reused = tx
            .query_row("SELECT 1 FROM variants WHERE id = ?1", [&id], |_| Ok(()))
            .optional()?
            .is_some();
        if reused {
            // Same content: keep the row, follow the artifact if it moved.
            if path.is_some() {
                tx.execute(
                    "UPDATE variants SET artifact_path = ?2 WHERE id = ?1",
                    params![id, path],
                )?;
            }
        } else {
            tx.execute(
                "INSERT INTO variants (id, label, model, source_sha256, recipe, manifest,
                    artifact_path, artifact_sha256, size_bytes, note, created_unix)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    id,
                    spec.label,
                    spec.model,
                    spec.source_sha256,
                    recipe,
                    manifest,
                    path,
                    spec.artifact_sha256,
                    spec.size_bytes.map(|s| s as i64),
                    spec.note,
                    now_unix()
                ],
            )?;
        }
        let position: i64 = tx.query_row(
            "SELECT COUNT(*) FROM run_variants WHERE run = ?1",
            [run],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO run_variants (run, variant, role, label, position)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (run, variant) DO UPDATE SET role = excluded.role, label = excluded.label",
            params![run, id, role.as_str(), spec.label, position],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
            {
                Error::NoRun(run.to_string())
            }
            e => Error::Sql(e),
        })?;
        tx.commit()?;
        Ok(Upserted { id, reused })
    }

    fn machine_fp(&self, run: RunId) -> Result<String> {
        self.conn
            .query_row("SELECT machine_fp FROM runs WHERE id = ?1", [run], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| Error::NoRun(run.to_string()))
    }

    /// The stored result with this spec's cache key, finished or not.
    pub fn find_result(&self, run: RunId, spec: &ResultSpec) -> Result<Option<ResultRow>> {
        let key = spec.cache_key(&self.machine_fp(run)?);
        let id: Option<ResultId> = self
            .conn
            .query_row("SELECT id FROM results WHERE cache_key = ?1", [&key], |r| {
                r.get(0)
            })
            .optional()?;
        id.map(|id| self.result(id, Some(run))).transpose()
    }

    /// Reuses a finished result with the same cache key, resumes an unfinished one (keeping
    /// its samples), or starts a new one; in every case the result is linked to `run`.
    pub fn begin_result(&mut self, run: RunId, spec: &ResultSpec) -> Result<Started> {
        let fp = self.machine_fp(run)?;
        let key = spec.cache_key(&fp);
        let tx = self.conn.transaction()?;
        let found: Option<(ResultId, String)> = tx
            .query_row(
                "SELECT id, status FROM results WHERE cache_key = ?1",
                [&key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let started = match found {
            Some((id, status)) if Status::parse(&status) == Status::Done => Started::Cached(id),
            Some((id, _)) => {
                tx.execute(
                    "UPDATE results SET status = 'running', error = NULL, run = ?2 WHERE id = ?1",
                    params![id, run],
                )?;
                let mut stmt =
                    tx.prepare("SELECT task_id, sample FROM samples WHERE result = ?1")?;
                let done = stmt
                    .query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))?
                    .collect::<rusqlite::Result<BTreeSet<_>>>()?;
                drop(stmt);
                Started::Todo { id, done }
            }
            None => {
                let exists = tx
                    .query_row(
                        "SELECT 1 FROM variants WHERE id = ?1",
                        [&spec.variant],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if !exists {
                    return Err(Error::NoVariant(spec.variant.clone()));
                }
                let machine = (spec.kind == Kind::Perf).then_some(fp);
                tx.execute(
                    "INSERT INTO results (cache_key, variant, kind, name, dataset_name,
                        dataset_sha256, prompt_template, generation, seed, n, k, params,
                        machine_fp, status, run, started_unix)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'running',
                        ?14, ?15)",
                    params![
                        key,
                        spec.variant,
                        spec.kind.as_str(),
                        spec.name,
                        spec.dataset.as_ref().map(|d| &d.name),
                        spec.dataset.as_ref().map(|d| &d.sha256),
                        spec.prompt_template,
                        spec.generation.as_ref().map(|g| g.to_string()),
                        spec.seed as i64,
                        spec.n as i64,
                        json_text(&spec.k, "k")?,
                        json_text(&spec.params, "params")?,
                        machine,
                        run,
                        now_unix()
                    ],
                )?;
                Started::Todo {
                    id: tx.last_insert_rowid(),
                    done: BTreeSet::new(),
                }
            }
        };
        let computed_here = !matches!(started, Started::Cached(_));
        tx.execute(
            "INSERT INTO run_results (run, result, reused) VALUES (?1, ?2, ?3)
             ON CONFLICT (run, result) DO NOTHING",
            params![run, started.id(), !computed_here],
        )?;
        tx.commit()?;
        Ok(started)
    }

    /// Commits one finished sample. A sample already stored is kept as it was (returns false).
    pub fn add_sample(&mut self, result: ResultId, s: &SampleRow) -> Result<bool> {
        let n = self.conn.execute(
            "INSERT INTO samples (result, task_id, sample, passed, status, detail, tokens, exec_s,
                gen_s, completion, cases)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (result, task_id, sample) DO NOTHING",
            params![
                result,
                s.task_id,
                s.sample,
                s.passed,
                s.status,
                s.detail,
                s.tokens.map(|t| t as i64),
                s.exec_s,
                s.gen_s,
                s.completion,
                s.cases
            ],
        )?;
        Ok(n == 1)
    }

    /// Stores the result's metrics and full record and marks it done, in one transaction.
    pub fn finish_result(
        &mut self,
        result: ResultId,
        metrics: &[Metric],
        record: &impl Serialize,
    ) -> Result<()> {
        let record = json_text(record, "record")?;
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE results SET record = ?2, status = 'done', error = NULL, ended_unix = ?3
             WHERE id = ?1",
            params![result, record, now_unix()],
        )?;
        if n == 0 {
            return Err(Error::NoResult(result));
        }
        tx.execute("DELETE FROM metrics WHERE result = ?1", [result])?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO metrics (result, name, value, ci_lo, ci_hi, n, unit, higher_is_better)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for m in metrics {
                stmt.execute(params![
                    result,
                    m.name,
                    m.value.is_finite().then_some(m.value),
                    m.ci95.map(|c| c.0),
                    m.ci95.map(|c| c.1),
                    m.n.map(|n| n as i64),
                    m.unit,
                    m.higher_is_better
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A benchmark record in one go: every sample not yet stored, then its metrics.
    pub fn finish_bench(&mut self, result: ResultId, rec: &BenchResult) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO samples (result, task_id, sample, passed, status, detail, tokens,
                    exec_s, gen_s, completion)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (result, task_id, sample) DO NOTHING",
            )?;
            for p in &rec.problems {
                let gen_s = p.timing.as_ref().map(|t| t.total_s);
                for (i, o) in p.samples.iter().enumerate() {
                    let s = SampleRow::from_outcome(&p.task_id, i as u32, o, gen_s);
                    stmt.execute(params![
                        result,
                        s.task_id,
                        s.sample,
                        s.passed,
                        s.status,
                        s.detail,
                        s.tokens.map(|t| t as i64),
                        s.exec_s,
                        s.gen_s,
                        s.completion
                    ])?;
                }
            }
        }
        tx.commit()?;
        self.finish_result(result, &rec.metrics, rec)
    }

    /// Marks a result failed; its samples stay, and the next run with the same key resumes it.
    pub fn fail_result(&mut self, result: ResultId, error: &str) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE results SET status = 'failed', error = ?2, ended_unix = ?3 WHERE id = ?1",
            params![result, error, now_unix()],
        )?;
        if n == 0 {
            return Err(Error::NoResult(result));
        }
        Ok(())
    }
}
