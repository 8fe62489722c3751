//! `tradeoff serve` as a user runs it: tiers from files, a request over HTTP, SIGTERM drains
//! and exits 0; mistakes are one line and a non-zero exit.

use std::path::Path;
use std::process::Command;
use tradeoff_engine::testing::{write_tiny_gguf, TinySpec};
use tradeoff_engine::Arch;

mod common;
use common::{exe, serve};

fn tiny_model(dir: &Path) -> String {
    let model = dir.join("tiny.gguf");
    write_tiny_gguf(&model, &TinySpec::new(Arch::Qwen2)).unwrap();
    model.display().to_string()
}

#[test]
fn serves_routes_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_model(dir.path());
    let log = dir.path().join("routing.jsonl");
    let (a, b) = (format!("a={m}"), format!("b={m}"));
    let args = [
        "--policy",
        "complexity",
        "--tier",
        &a,
        "--tier",
        &b,
        "--log",
        log.to_str().unwrap(),
    ];
    let (mut child, url, err) = serve(&args, dir.path());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .post(format!("{url}/completions"))
        .send_json(serde_json::json!({"prompt": "def f(x):", "max_tokens": 4}))
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["x-tradeoff-variant"], "a");
    let body: serde_json::Value = resp.body_mut().read_json().unwrap();
    assert_eq!(body["model"], "a");
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let rest = err.join().unwrap();
    assert!(status.success(), "exit {status:?}: {rest}");
    assert!(rest.contains("stopped"), "{rest}");
    let lines = std::fs::read_to_string(&log).unwrap();
    assert_eq!(lines.lines().count(), 1, "{lines}");
    assert!(lines.contains("\"policy\":\"complexity@3\""), "{lines}");
    // The log summarized and as CSV.
    let csv = dir.path().join("decisions.csv");
    let out = Command::new(exe())
        .args(["route", "log"])
        .arg(&log)
        .arg("--csv")
        .arg(&csv)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("1 requests") && text.contains("complexity@3"),
        "{text}"
    );
    assert!(text.contains("routing decision p50"), "{text}");
    let table = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(table.starts_with("time,id,endpoint"), "{table}");
    // The same decision in the run store, the latest session by default.
    let store_log = |args: &[&str]| {
        let out = Command::new(exe())
            .args(["route", "log"])
            .args(args)
            .env("TRADEOFF_STORE", dir.path().join("runs.sqlite"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{args:?}: {text}");
        text
    };
    let text = store_log(&[]);
    assert!(
        text.contains("1 requests in session") && text.contains("complexity@3"),
        "{text}"
    );
    let sessions = store_log(&["--sessions"]);
    assert_eq!(sessions.lines().count(), 2, "{sessions}");
    let err = Command::new(exe())
        .args(["route", "log", "--session", "nope"])
        .env("TRADEOFF_STORE", dir.path().join("runs.sqlite"))
        .output()
        .unwrap();
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("--sessions"));
}

#[test]
fn serve_without_tiers_serves_the_dashboard() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(exe())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("TRADEOFF_STORE", dir.path().join("runs.sqlite"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // "dashboard of STORE on http://HOST:PORT/", on stdout.
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let page = line.split("on http://").nth(1).map(|rest| {
        let url = format!("http://{}runs", rest.trim());
        ureq::get(url)
            .call()
            .map(|mut r| r.body_mut().read_to_string().unwrap())
    });
    let _ = child.kill();
    let _ = child.wait();
    let page = page.unwrap_or_else(|| panic!("no address in {line:?}"));
    assert!(page.unwrap().contains("0 of 0 runs"));
}

#[test]
fn serve_mistakes_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.gguf");
    write_tiny_gguf(&model, &TinySpec::new(Arch::Qwen2)).unwrap();
    let m = format!("a={}", model.display());
    // (`serve` with no tiers is not a mistake: it serves the dashboard alone.)
    let cases: [(&[&str], &str); 4] = [
        (&["serve", "--tier", "qwen"], "expected NAME=MODEL"),
        (
            &["serve", "--tier", &m, "--policy", "ngram-logreg"],
            "learned ones need --train-run",
        ),
        (&["serve", "--tier", "a=/nonexistent.gguf"], "nonexistent"),
        (&["serve", "--tier", "a=norun:original"], "norun"),
    ];
    for (args, needle) in cases {
        let out = Command::new(exe())
            .args(args)
            .env("TRADEOFF_STORE", dir.path().join("runs.sqlite"))
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        let last = err.trim().lines().last().unwrap_or("");
        assert!(
            last.starts_with("error: ") && last.contains(needle),
            "{args:?}: {err}"
        );
        assert!(!err.contains("stack backtrace"), "{err}");
    }
}

/// The official openai Python client (from `scripts/openai-venv.sh`, installed on first use)
/// against the server: chat, completion, n, streaming, overrides, typed errors, the API key.
#[test]
fn the_official_openai_client_works_against_serve() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(root.join("scripts/openai-venv.sh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_model(dir.path());
    let (a, b) = (format!("a={m}"), format!("b={m}"));
    let log = dir.path().join("log.jsonl");
    let args = [
        "--tier",
        &a,
        "--tier",
        &b,
        "--api-key",
        "k3y",
        "--max-tokens",
        "64",
        "--log",
        log.to_str().unwrap(),
    ];
    let (mut child, url, _err) = serve(&args, dir.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai_client.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&url)
        .arg("k3y")
        .output()
        .unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.trim() == "ok", "{text}");
}
