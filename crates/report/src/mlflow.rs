//! Export to an MLflow tracking server through its REST API (`/api/2.0/mlflow/...`).
//!
//! A tradeoff run becomes a parent MLflow run (config, machine, build; the report's HTML, CSV
//! and JSON as artifacts) with one child run per variant (recipe, model and artifact hashes as
//! params; every metric, its CI and its Δ/p-value against the baseline as metrics; the
//! manifest and each result record as artifacts). Artifacts go through the server's
//! `mlflow-artifacts` proxy when the run's artifact URI uses it; otherwise (a server started
//! with `--no-serve-artifacts`, or a bucket the client would write to directly) their
//! locations are logged as tags instead, and [`Exported::artifacts`] says so.

use crate::analysis::Report;
use crate::{Error, Result};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use tradeoff_store::{Role, Store};

/// MLflow's per-request limits for `runs/log-batch`.
const MAX_PARAMS: usize = 100;
const MAX_TAGS: usize = 100;
const MAX_METRICS: usize = 1000;
/// Longest param value every MLflow server since 1.x accepts.
const MAX_PARAM_LEN: usize = 500;

/// How artifacts reached the server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Artifacts {
    /// Uploaded through the `mlflow-artifacts` proxy: this many files.
    Uploaded(usize),
    /// The server has no artifact proxy for these runs: paths and store ids logged as tags.
    LoggedAsTags(String),
}

/// What [`export`] created.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    pub experiment_id: String,
    pub parent_run_id: String,
    /// (variant label, MLflow run id).
    pub variant_runs: Vec<(String, String)>,
    pub artifacts: Artifacts,
}

/// A small MLflow REST client.
pub struct Client {
    base: String,
    agent: ureq::Agent,
    token: Option<String>,
}

impl Client {
    /// `tracking_uri` is the server's base URL, e.g. `http://127.0.0.1:5000`. A bearer token
    /// is read from `$MLFLOW_TRACKING_TOKEN`, as the MLflow client does.
    pub fn new(tracking_uri: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(120)))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            base: tracking_uri.trim_end_matches('/').to_string(),
            agent,
            token: std::env::var("MLFLOW_TRACKING_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
        }
    }

    fn err(&self, msg: impl Into<String>) -> Error {
        Error::Mlflow {
            url: self.base.clone(),
            msg: msg.into(),
        }
    }

    fn finish(
        &self,
        what: &str,
        resp: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, String)> {
        let mut resp = resp.map_err(|e| {
            self.err(format!(
                "{what}: cannot reach the server ({e}); is it running?"
            ))
        })?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        Ok((status, text))
    }

    fn json_or_err(&self, what: &str, (status, text): (u16, String)) -> Result<Value> {
        if !(200..300).contains(&status) {
            return Err(self.err(format!("{what}: HTTP {status}: {}", text.trim())));
        }
        serde_json::from_str(&text).map_err(|e| self.err(format!("{what}: bad JSON ({e})")))
    }

    /// GET `/api/2.0/mlflow/<path>` with query parameters.
    pub fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value> {
        let mut req = self
            .agent
            .get(format!("{}/api/2.0/mlflow/{path}", self.base));
        for (k, v) in query {
            req = req.query(*k, *v);
        }
        if let Some(t) = &self.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let r = self.finish(path, req.call())?;
        self.json_or_err(path, r)
    }

    /// POST `/api/2.0/mlflow/<path>` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let mut req = self
            .agent
            .post(format!("{}/api/2.0/mlflow/{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let r = self.finish(path, req.send_json(body))?;
        self.json_or_err(path, r)
    }

    /// The id of the experiment called `name`, created if missing.
    pub fn experiment(&self, name: &str) -> Result<String> {
        let mut req = self
            .agent
            .get(format!(
                "{}/api/2.0/mlflow/experiments/get-by-name",
                self.base
            ))
            .query("experiment_name", name);
        if let Some(t) = &self.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let (status, text) = self.finish("experiments/get-by-name", req.call())?;
        if status == 404 {
            let v = self.post("experiments/create", &json!({ "name": name }))?;
            return str_field(&v, "/experiment_id")
                .ok_or_else(|| self.err("experiments/create: no experiment_id"));
        }
        let v = self.json_or_err("experiments/get-by-name", (status, text))?;
        str_field(&v, "/experiment/experiment_id")
            .ok_or_else(|| self.err("experiments/get-by-name: no experiment_id"))
    }

    fn create_run(
        &self,
        experiment_id: &str,
        name: &str,
        start_ms: i64,
        tags: &[(String, String)],
    ) -> Result<(String, String)> {
        let v = self.post(
            "runs/create",
            &json!({
                "experiment_id": experiment_id,
                "run_name": name,
                "start_time": start_ms,
                "tags": kv(tags),
            }),
        )?;
        let id =
            str_field(&v, "/run/info/run_id").ok_or_else(|| self.err("runs/create: no run_id"))?;
        let uri = str_field(&v, "/run/info/artifact_uri").unwrap_or_default();
        Ok((id, uri))
    }

    fn log_batch(
        &self,
        run_id: &str,
        params: &[(String, String)],
        tags: &[(String, String)],
        metrics: &[(String, f64)],
        ts_ms: i64,
    ) -> Result<()> {
        for chunk in params.chunks(MAX_PARAMS) {
            self.post(
                "runs/log-batch",
                &json!({"run_id": run_id, "params": kv(chunk)}),
            )?;
        }
        for chunk in tags.chunks(MAX_TAGS) {
            self.post(
                "runs/log-batch",
                &json!({"run_id": run_id, "tags": kv(chunk)}),
            )?;
        }
        for chunk in metrics.chunks(MAX_METRICS) {
            let ms: Vec<Value> = chunk
                .iter()
                .map(|(k, v)| json!({"key": k, "value": v, "timestamp": ts_ms, "step": 0}))
                .collect();
            self.post("runs/log-batch", &json!({"run_id": run_id, "metrics": ms}))?;
        }
        Ok(())
    }

    fn end_run(&self, run_id: &str, status: &str, end_ms: i64) -> Result<()> {
        self.post(
            "runs/update",
            &json!({"run_id": run_id, "status": status, "end_time": end_ms}),
        )?;
        Ok(())
    }

    /// Uploads one file under a run whose artifact URI is `mlflow-artifacts:/...`. `Ok(false)`
    /// when the server has no artifact proxy.
    fn upload(
        &self,
        artifact_uri: &str,
        name: &str,
        bytes: &[u8],
        content_type: &str,
    ) -> Result<bool> {
        let Some(rest) = artifact_uri.strip_prefix("mlflow-artifacts:") else {
            return Ok(false);
        };
        // `mlflow-artifacts://host:port/path` names the server; the path is what the proxy takes.
        let path = match rest.strip_prefix("//") {
            Some(r) => r.split_once('/').map_or("", |(_, p)| p),
            None => rest.trim_start_matches('/'),
        };
        let url = format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/{path}/{name}",
            self.base
        );
        let mut req = self.agent.put(&url).header("Content-Type", content_type);
        if let Some(t) = &self.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let (status, text) = self.finish("mlflow-artifacts upload", req.send(bytes))?;
        match status {
            200..=299 => Ok(true),
            404 | 501 | 503 => Ok(false),
            _ => Err(self.err(format!("PUT {url}: HTTP {status}: {}", text.trim()))),
        }
    }
}

fn kv(pairs: &[(String, String)]) -> Vec<Value> {
    pairs
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect()
}

fn str_field(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// MLflow keys allow letters, digits, `_ - . / ` and space: `pass@1` becomes `pass_at_1`.
pub fn key(s: &str) -> String {
    s.replace('@', "_at_")
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "_-./ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn param(k: impl AsRef<str>, v: impl ToString) -> (String, String) {
    let mut v = v.to_string();
    if v.len() > MAX_PARAM_LEN {
        let mut cut = MAX_PARAM_LEN - 3;
        while !v.is_char_boundary(cut) {
            cut -= 1;
        }
        v.truncate(cut);
        v.push_str("...");
    }
    (key(k.as_ref()), v)
}

/// `{"a": {"b": 1}}` → `prefix.a.b = 1`, for recipes and generation parameters.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                flatten(&format!("{prefix}.{k}"), x, out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push(param(prefix, s)),
        other => out.push(param(prefix, other)),
    }
}

fn ms(unix_s: f64) -> i64 {
    (unix_s * 1000.0) as i64
}

/// Exports `report` (built from `store`) into the experiment `experiment`.
pub fn export(
    client: &Client,
    store: &Store,
    report: &Report,
    experiment: &str,
) -> Result<Exported> {
    let run = &report.run;
    let exp = client.experiment(experiment)?;
    let start = ms(run.started_unix);
    let end = run.ended_unix.map_or(start, ms);
    let status = match run.status {
        tradeoff_store::Status::Done => "FINISHED",
        tradeoff_store::Status::Failed => "FAILED",
        tradeoff_store::Status::Running => "KILLED",
    };
    let m = &run.machine;
    let mut tags = vec![
        ("tradeoff.run_id".to_string(), run.id.to_string()),
        ("tradeoff.run_name".into(), run.name.clone()),
        ("tradeoff.store".into(), store.path().display().to_string()),
        ("tradeoff.status".into(), run.status.as_str().into()),
        ("mlflow.source.name".into(), "tradeoff".into()),
    ];
    if let Some(g) = &run.git_rev {
        tags.push(("mlflow.source.git.commit".into(), g.clone()));
    }
    if let Some(n) = &report.baseline_note {
        tags.push(("tradeoff.baseline_note".into(), n.clone()));
    }
    let mut params = vec![
        param("config_sha256", &run.config_sha256),
        param("tool_version", &run.tool_version),
        param("machine.cpu", &m.cpu),
        param("machine.threads", m.threads),
        param("machine.ram_bytes", m.ram_bytes),
        param("machine.gpu", m.gpu.as_deref().unwrap_or("none")),
        param("machine.os", &m.os),
        param("machine.arch", &m.arch),
        param("machine.isa", m.isa.join(",")),
        param("baseline", report.baseline.as_deref().unwrap_or("none")),
    ];
    params.extend(
        report
            .frontiers
            .iter()
            .filter(|f| f.auc.is_some())
            .map(|f| {
                param(
                    format!("front.{}.{}.{}", f.result, f.quality, f.cost),
                    f.front.join(" > "),
                )
            }),
    );
    let auc: Vec<(String, f64)> = report
        .frontiers
        .iter()
        .filter_map(|f| {
            Some((
                key(&format!("hull_auc.{}.{}.{}", f.result, f.quality, f.cost)),
                f.auc?,
            ))
        })
        .collect();
    let (parent, parent_uri) = client.create_run(&exp, &run.name, start, &tags)?;
    client.log_batch(&parent, &params, &[], &auc, end)?;

    // Files to upload per MLflow run; without a proxy they become tags.
    let mut uploads: Vec<(String, String, String, Vec<u8>, &str)> = vec![
        (
            parent.clone(),
            parent_uri.clone(),
            "report.html".into(),
            crate::html(report).into_bytes(),
            "text/html",
        ),
        (
            parent.clone(),
            parent_uri.clone(),
            "report.csv".into(),
            crate::csv(report).into_bytes(),
            "text/csv",
        ),
        (
            parent.clone(),
            parent_uri.clone(),
            "report.json".into(),
            crate::json(report).into_bytes(),
            "application/json",
        ),
        (
            parent.clone(),
            parent_uri,
            "sweep_config.txt".into(),
            run.config.clone().into_bytes(),
            "text/plain",
        ),
    ];
    let mut fallback_tags: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();

    let results = store.results(run.id)?;
    let mut variant_runs = Vec::new();
    for v in &report.variants {
        let mut tags = vec![
            ("mlflow.parentRunId".to_string(), parent.clone()),
            ("tradeoff.variant_id".into(), v.id.clone()),
            ("tradeoff.role".into(), v.role.as_str().into()),
        ];
        if let Some(n) = &v.note {
            tags.push(("tradeoff.note".into(), n.clone()));
        }
        let (rid, uri) = client.create_run(&exp, &v.label, start, &tags)?;
        let stored = store.variant(&v.id)?;
        let mut params = vec![
            param("variant", &v.label),
            param("role", v.role.as_str()),
            param("model", &v.model),
            param(
                "source_sha256",
                stored.source_sha256.as_deref().unwrap_or(""),
            ),
            param("artifact_path", v.artifact_path.as_deref().unwrap_or("")),
            param(
                "artifact_sha256",
                v.artifact_sha256.as_deref().unwrap_or(""),
            ),
        ];
        if let Some(s) = v.size_bytes {
            params.push(param("size_bytes", s));
        }
        flatten("recipe", &v.recipe, &mut params);
        let mine: Vec<_> = results.iter().filter(|r| r.variant == v.id).collect();
        for r in &mine {
            let p = format!("{}.{}", r.kind.as_str(), r.name);
            if let Some(d) = &r.dataset {
                params.push(param(
                    format!("{p}.dataset"),
                    format!("{} sha256:{}", d.name, d.sha256),
                ));
            }
            params.push(param(format!("{p}.seed"), r.seed));
            params.push(param(format!("{p}.n"), r.n));
            if let Some(g) = &r.generation {
                flatten(&format!("{p}.gen"), g, &mut params);
            }
        }
        params.sort();
        params.dedup_by(|a, b| a.0 == b.0);
        let mut metrics = Vec::new();
        for row in report.rows.iter().filter(|r| r.variant == v.id) {
            let k = key(&format!("{}.{}", row.result, row.metric));
            metrics.push((k.clone(), row.value));
            if let Some((lo, hi)) = row.ci95 {
                metrics.push((format!("{k}.ci_lo"), lo));
                metrics.push((format!("{k}.ci_hi"), hi));
            }
            if let Some(c) = &row.vs_baseline {
                metrics.push((format!("{k}.delta"), c.delta));
                if let Some((lo, hi)) = c.delta_ci {
                    metrics.push((format!("{k}.delta_ci_lo"), lo));
                    metrics.push((format!("{k}.delta_ci_hi"), hi));
                }
                if let Some(mc) = c.mcnemar {
                    metrics.push((format!("{k}.mcnemar_p"), mc.p_value));
                }
                if let Some(p) = c.p_holm {
                    metrics.push((format!("{k}.mcnemar_p_holm"), p));
                }
            }
        }
        metrics.retain(|(_, x)| x.is_finite());
        client.log_batch(&rid, &params, &[], &metrics, end)?;

        let manifest = serde_json::to_vec_pretty(&stored.manifest).expect("JSON value serializes");
        uploads.push((
            rid.clone(),
            uri.clone(),
            "manifest.json".into(),
            manifest,
            "application/json",
        ));
        for r in &mine {
            if let Some(rec) = store.record(r.id)? {
                let name = format!(
                    "records/{}-{}.json",
                    r.kind.as_str(),
                    key(&r.name).replace(['/', ' '], "_")
                );
                let bytes = serde_json::to_vec(&rec).expect("JSON value serializes");
                uploads.push((rid.clone(), uri.clone(), name, bytes, "application/json"));
                fallback_tags.entry(rid.clone()).or_default().push((
                    format!("tradeoff.record.{}.{}", r.kind.as_str(), key(&r.name)),
                    format!("result {} in {}", r.id, store.path().display()),
                ));
            }
        }
        if v.role == Role::Baseline {
            variant_runs.insert(0, (v.label.clone(), rid));
        } else {
            variant_runs.push((v.label.clone(), rid));
        }
    }

    let mut uploaded = 0;
    let mut proxy = true;
    for (rid, uri, name, bytes, ctype) in &uploads {
        if proxy && client.upload(uri, name, bytes, ctype)? {
            uploaded += 1;
        } else {
            proxy = false;
            if name == "manifest.json" {
                fallback_tags.entry(rid.clone()).or_default().push((
                    "tradeoff.manifest".into(),
                    format!("variant manifest in {}", store.path().display()),
                ));
            }
        }
    }
    let artifacts = if proxy {
        Artifacts::Uploaded(uploaded)
    } else {
        let uri = uploads.first().map_or("", |u| u.1.as_str());
        for (rid, tags) in &fallback_tags {
            client.log_batch(rid, &[], tags, &[], end)?;
        }
        Artifacts::LoggedAsTags(format!(
            "artifact URI {uri} is not served through the mlflow-artifacts proxy: logged store paths as tags"
        ))
    };
    for (_, rid) in &variant_runs {
        client.end_run(rid, status, end)?;
    }
    client.end_run(&parent, status, end)?;
    Ok(Exported {
        experiment_id: exp,
        parent_run_id: parent,
        variant_runs,
        artifacts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_params_fit_mlflow() {
        assert_eq!(key("humaneval.pass@1"), "humaneval.pass_at_1");
        assert_eq!(key("p90 (s)"), "p90 _s_");
        let (k, v) = param("x", "é".repeat(400));
        assert_eq!(k, "x");
        assert!(v.len() <= MAX_PARAM_LEN && v.ends_with("..."));
        let mut out = Vec::new();
        flatten(
            "recipe",
            &json!({"method": "rtn", "q": {"bits": 4, "sym": true}, "none": null}),
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                ("recipe.method".into(), "rtn".into()),
                ("recipe.q.bits".into(), "4".into()),
                ("recipe.q.sym".into(), "true".into()),
            ]
        );
    }
}
