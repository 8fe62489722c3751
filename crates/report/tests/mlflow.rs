//! Export to a real MLflow server and read the run back through its REST API.
//!
//! Slow (installs `mlflow` from PyPI once, starts two servers), so ignored by default:
//!
//! ```sh
//! cargo test -p tradeoff-report --test mlflow -- --ignored --nocapture
//! ```
//!
//! The venv lives in `$TRADEOFF_HOME/mlflow-venv` (default ~/.cache/tradeoff/mlflow-venv) and is
//! reused; `$TRADEOFF_MLFLOW_PIP` overrides what is installed (default `mlflow==3.17.2`). The
//! servers listen on 127.0.0.1 at free ports with a SQLite backend in a temp dir.

mod common;

use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tradeoff_report::mlflow::{export, Artifacts, Client};
use tradeoff_report::{analyse, Options};
use tradeoff_store::Store;

const MLFLOW: &str = "mlflow==3.17.2";

fn run(cmd: &mut Command) {
    let st = cmd.status().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(st.success(), "{cmd:?}: {st}");
}

/// The venv's `mlflow`, installing it on first use.
fn mlflow() -> PathBuf {
    let venv = tradeoff_assets::cache_dir().join("mlflow-venv");
    let bin = venv.join("bin/mlflow");
    if !bin.exists() {
        let spec = std::env::var("TRADEOFF_MLFLOW_PIP").unwrap_or_else(|_| MLFLOW.to_string());
        eprintln!("installing {spec} into {}", venv.display());
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
        run(Command::new(venv.join("bin/pip")).args(["install", "-q", &spec]));
    }
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An `mlflow server` process group, stopped on drop.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        // The server forks uvicorn workers: signal the whole group it leads.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, extra: &[&str]) -> Server {
    use std::os::unix::process::CommandExt;
    std::fs::create_dir_all(dir).unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let child = Command::new(mlflow())
        .arg("server")
        .arg("--host")
        .arg("127.0.0.1")
        .arg("--port")
        .arg(port.to_string())
        .arg("--workers")
        .arg("1")
        .arg("--backend-store-uri")
        .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
        .args(extra)
        .current_dir(dir)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start mlflow server");
    let url = format!("http://127.0.0.1:{port}");
    let server = Server { child, url };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let t0 = Instant::now();
    while agent.get(format!("{}/health", server.url)).call().is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(180),
            "mlflow server did not come up; see {}",
            dir.join("server.log").display()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!(
        "mlflow server up at {} after {:.1}s",
        server.url,
        t0.elapsed().as_secs_f64()
    );
    server
}

fn params(run: &Value) -> std::collections::BTreeMap<String, String> {
    run["data"]["params"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["key"].as_str().unwrap().to_string(),
                        p["value"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn metric(run: &Value, key: &str) -> Option<f64> {
    run["data"]["metrics"]
        .as_array()?
        .iter()
        .find(|m| m["key"] == key)?["value"]
        .as_f64()
}

fn tag(run: &Value, key: &str) -> Option<String> {
    run["data"]["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)?["value"]
        .as_str()
        .map(str::to_string)
}

fn exported_run(dir: &Path, server: &Server) -> (tradeoff_report::mlflow::Exported, Client) {
    let mut store = Store::open(&dir.join("runs.sqlite")).unwrap();
    let id = common::build(&mut store);
    let run = store.resolve_run(&id.to_string()).unwrap();
    let report = analyse(&store, &run, &Options::default()).unwrap();
    let client = Client::new(&server.url);
    let e = export(&client, &store, &report, "tradeoff-test").unwrap();
    (e, client)
}

#[test]
#[ignore = "installs mlflow from PyPI and starts servers; see the file's docs"]
fn export_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();

    // 1. Default server: artifacts go through the mlflow-artifacts proxy.
    let dir = tmp.path().join("proxy");
    let server = start(
        &dir,
        &[
            "--artifacts-destination",
            &dir.join("artifacts").display().to_string(),
        ],
    );
    let (e, client) = exported_run(&dir, &server);
    assert_eq!(e.variant_runs.len(), 4);
    assert_eq!(e.artifacts, Artifacts::Uploaded(4 + 4 * (1 + 3)), "{e:?}");

    let parent = client
        .get("runs/get", &[("run_id", &e.parent_run_id)])
        .unwrap()["run"]
        .clone();
    assert_eq!(parent["info"]["run_name"], "demo");
    assert_eq!(parent["info"]["status"], "FINISHED");
    assert_eq!(
        tag(&parent, "tradeoff.baseline_note").as_deref(),
        Some(common::NOTE)
    );
    assert_eq!(params(&parent)["baseline"], "baseline");
    assert!(metric(&parent, "hull_auc.humaneval.pass_at_1.size_bytes").is_some());

    let (label, q2) = &e.variant_runs[3];
    assert_eq!(label, "q2");
    let q2 = client.get("runs/get", &[("run_id", q2)]).unwrap()["run"].clone();
    assert_eq!(
        tag(&q2, "mlflow.parentRunId"),
        Some(e.parent_run_id.clone())
    );
    let p = params(&q2);
    assert_eq!(p["recipe.bits"], "2");
    assert_eq!(p["model"], "smollm2-135m");
    assert_eq!(metric(&q2, "humaneval.pass_at_1"), Some(0.25));
    assert_eq!(
        metric(&q2, "humaneval.pass_at_1.mcnemar_p"),
        Some(0.001953125)
    );
    assert_eq!(metric(&q2, "decode.decode_tok_s"), Some(60.0));
    assert!(metric(&q2, "humaneval.pass_at_1.delta_ci_lo").is_some());

    // Artifacts read back through the proxy.
    let uri = q2["info"]["artifact_uri"].as_str().unwrap();
    let path = uri
        .trim_start_matches("mlflow-artifacts:")
        .trim_start_matches('/');
    let listed = ureq::get(format!("{}/api/2.0/mlflow-artifacts/artifacts", server.url))
        .query("path", path)
        .call()
        .unwrap()
        .body_mut()
        .read_json::<Value>()
        .unwrap();
    let names: Vec<&str> = listed["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"manifest.json") && names.contains(&"records"),
        "{listed}"
    );
    let puri = parent["info"]["artifact_uri"].as_str().unwrap();
    let ppath = puri
        .trim_start_matches("mlflow-artifacts:")
        .trim_start_matches('/');
    let html = ureq::get(format!(
        "{}/api/2.0/mlflow-artifacts/artifacts/{ppath}/report.html",
        server.url
    ))
    .call()
    .unwrap()
    .body_mut()
    .read_to_string()
    .unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
    drop(server);

    // 2. A server without the artifact proxy: locations are logged as tags instead.
    let dir = tmp.path().join("noproxy");
    let server = start(
        &dir,
        &[
            "--no-serve-artifacts",
            "--default-artifact-root",
            &dir.join("artifacts").display().to_string(),
        ],
    );
    let (e, client) = exported_run(&dir, &server);
    let Artifacts::LoggedAsTags(why) = &e.artifacts else {
        panic!("expected the fallback, got {:?}", e.artifacts);
    };
    assert!(
        why.contains("not served through the mlflow-artifacts proxy"),
        "{why}"
    );
    let q4 = client
        .get("runs/get", &[("run_id", &e.variant_runs[2].1)])
        .unwrap()["run"]
        .clone();
    assert!(tag(&q4, "tradeoff.manifest")
        .unwrap()
        .contains("runs.sqlite"));
    assert!(tag(&q4, "tradeoff.record.bench.humaneval")
        .unwrap()
        .starts_with("result "));
    assert_eq!(params(&q4)["artifact_path"], "/cache/variants/q4.gguf");
    eprintln!(
        "exported and read back: {} runs with the proxy, fallback: {why}",
        1 + e.variant_runs.len()
    );
}
