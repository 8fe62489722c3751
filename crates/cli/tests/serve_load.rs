//! The load program: 200 concurrent streaming requests through `tradeoff serve` to two tiers
//! of a tiny model, the first one a remote server that is killed mid-run. Every request must
//! end cleanly, answered (by the remote tier, or by the local one after a fallback) or refused
//! with an OpenAI-style error, and none may hang. Prints latency and routing-overhead
//! percentiles; it asserts only what a client is owed, never a timing. Loopback only, bounded:
//!   cargo test --release -p tradeoff --test serve_load -- --nocapture

use std::io::{BufRead, BufReader, Read};
use std::process::Command;
use std::time::{Duration, Instant};
use tradeoff_engine::testing::{write_tiny_gguf, TinySpec};
use tradeoff_engine::Arch;

mod common;
use common::{exe, serve};

const REQUESTS: usize = 200;
/// Requests start over this span, so some reach the remote tier before it dies, some while it
/// streams and some after.
const SPREAD: Duration = Duration::from_millis(2000);
const MAX_TOKENS: usize = 128;

/// How one request ended, as its client saw it.
#[derive(Debug)]
enum Outcome {
    /// Streamed to its final chunk and `[DONE]`.
    Answered { variant: String, fallbacks: usize },
    /// The stream carried an error event, then `[DONE]` (its tier died mid-answer).
    ErrorEvent { variant: String },
    /// An HTTP error status with an OpenAI-style JSON error body.
    Refused { status: u16 },
}

struct Timed {
    outcome: Outcome,
    first_byte_s: Option<f64>,
    total_s: f64,
}

fn one_request(agent: &ureq::Agent, url: &str, i: usize) -> Result<Timed, String> {
    let t0 = Instant::now();
    let body = serde_json::json!({
        "model": "auto",
        "messages": [{"role": "user", "content": format!("Write a function number {i}.")}],
        "max_tokens": MAX_TOKENS,
        "stream": true,
    });
    let mut resp = agent
        .post(format!("{url}/chat/completions"))
        .send_json(body)
        .map_err(|e| format!("request {i}: {e}"))?;
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (variant, fallbacks) = (header("x-tradeoff-variant"), header("x-tradeoff-fallbacks"));
    if status != 200 {
        let mut text = String::new();
        resp.body_mut()
            .as_reader()
            .read_to_string(&mut text)
            .map_err(|e| format!("request {i}: reading the error: {e}"))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|_| format!("request {i}: {status} {text}"))?;
        if v["error"]["message"].as_str().is_none_or(str::is_empty) {
            return Err(format!(
                "request {i}: {status} without an error message: {text}"
            ));
        }
        return Ok(Timed {
            outcome: Outcome::Refused { status },
            first_byte_s: None,
            total_s: t0.elapsed().as_secs_f64(),
        });
    }
    let mut first_byte_s = None;
    let (mut finished, mut error, mut done) = (false, false, false);
    for line in BufReader::new(resp.body_mut().as_reader()).lines() {
        let line = line.map_err(|e| format!("request {i}: stream broke: {e}"))?;
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        first_byte_s.get_or_insert(t0.elapsed().as_secs_f64());
        if data == "[DONE]" {
            done = true;
            break;
        }
        let v: serde_json::Value =
            serde_json::from_str(data).map_err(|_| format!("request {i}: bad chunk {data}"))?;
        error |= v.get("error").is_some();
        finished |= v["choices"][0]["finish_reason"].is_string();
    }
    if !done || !(finished || error) {
        return Err(format!(
            "request {i}: the stream ended without a final chunk and [DONE]"
        ));
    }
    let outcome = if error {
        Outcome::ErrorEvent { variant }
    } else {
        Outcome::Answered {
            variant,
            fallbacks: fallbacks.parse().unwrap_or(0),
        }
    };
    Ok(Timed {
        outcome,
        first_byte_s,
        total_s: t0.elapsed().as_secs_f64(),
    })
}

fn percentile(xs: &mut [f64], q: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(((xs.len() as f64 - 1.0) * q).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

#[test]
fn two_hundred_streams_with_a_backend_killed_mid_run_all_end_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.gguf");
    write_tiny_gguf(&model, &TinySpec::new(Arch::Qwen2)).unwrap();
    let m = model.display().to_string();
    let (mut remote, remote_url, _) = serve(
        &["--tier", &format!("tiny={m}"), "--log", "/dev/null"],
        dir.path(),
    );
    let log = dir.path().join("routing.jsonl");
    let (tier_remote, tier_local) = (format!("remote={remote_url}#tiny"), format!("local={m}"));
    let args = [
        "--tier",
        &tier_remote,
        "--tier",
        &tier_local,
        "--policy",
        "complexity",
        "--timeout",
        "30",
        "--max-in-flight",
        "100",
        "--log",
        log.to_str().unwrap(),
    ];
    let (mut front, url, _) = serve(&args, dir.path());

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .max_idle_connections(0)
        .build()
        .into();
    let t0 = Instant::now();
    let clients: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let (agent, url) = (agent.clone(), url.clone());
            std::thread::spawn(move || {
                std::thread::sleep(SPREAD * i as u32 / REQUESTS as u32);
                one_request(&agent, &url, i)
            })
        })
        .collect();
    // Kill the remote tier half way in, with requests streaming through it.
    std::thread::sleep(SPREAD / 2);
    remote.kill().unwrap();
    remote.wait().unwrap();
    let killed_at = t0.elapsed().as_secs_f64();
    let results: Vec<Result<Timed, String>> =
        clients.into_iter().map(|c| c.join().unwrap()).collect();
    let wall = t0.elapsed().as_secs_f64();

    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} unclean ends: {failures:#?}",
        failures.len()
    );
    let timed: Vec<&Timed> = results.iter().map(|r| r.as_ref().unwrap()).collect();
    let count = |f: &dyn Fn(&Outcome) -> bool| timed.iter().filter(|t| f(&t.outcome)).count();
    let by_remote =
        count(&|o| matches!(o, Outcome::Answered { variant, .. } if variant == "remote"));
    let by_local = count(&|o| matches!(o, Outcome::Answered { variant, .. } if variant == "local"));
    let fell_back = count(&|o| matches!(o, Outcome::Answered { fallbacks, .. } if *fallbacks > 0));
    let errors = count(&|o| matches!(o, Outcome::ErrorEvent { .. }));
    let refused = count(&|o| matches!(o, Outcome::Refused { .. }));
    let statuses: std::collections::BTreeSet<u16> = timed
        .iter()
        .filter_map(|t| match t.outcome {
            Outcome::Refused { status } => Some(status),
            _ => None,
        })
        .collect();
    let answered = |t: &&&Timed| matches!(t.outcome, Outcome::Answered { .. });
    let mut total: Vec<f64> = timed.iter().filter(answered).map(|t| t.total_s).collect();
    let mut ttfb: Vec<f64> = timed
        .iter()
        .filter(answered)
        .filter_map(|t| t.first_byte_s)
        .collect();
    println!(
        "{REQUESTS} streaming requests over {:.1} s, remote tier killed at {killed_at:.2} s, all done in {wall:.2} s",
        SPREAD.as_secs_f64()
    );
    println!(
        "answered by remote {by_remote}, by local {by_local} ({fell_back} after a fallback); \
         error event mid-stream {errors}; refused {refused} (HTTP {statuses:?}); hung or broken 0"
    );
    println!(
        "answered: latency p50 {:.3} s p99 {:.3} s; first byte p50 {:.3} s p99 {:.3} s",
        percentile(&mut total, 0.5),
        percentile(&mut total, 0.99),
        percentile(&mut ttfb, 0.5),
        percentile(&mut ttfb, 0.99)
    );
    for t in &timed {
        if let Outcome::ErrorEvent { variant } = &t.outcome {
            assert_eq!(
                variant, "remote",
                "only the killed tier may fail mid-answer"
            );
        }
    }
    // Requests that chose the dead tier after the kill were answered by the other one.
    assert!(
        fell_back > 0,
        "no fallback seen: {by_remote} {by_local} {errors} {refused}"
    );

    // SIGTERM drains, and the log holds every request.
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(front.id() as i32, libc::SIGTERM) };
    assert!(front.wait().unwrap().success());
    let out = Command::new(exe())
        .args(["route", "log"])
        .arg(&log)
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{summary}");
    assert!(
        summary.contains(&format!("{REQUESTS} requests")),
        "{summary}"
    );
    println!("\n$ tradeoff route log\n{summary}");
    // The run store holds the same decisions: the front's session has every request.
    let out = Command::new(exe())
        .args(["route", "log", "--sessions"])
        .env("TRADEOFF_STORE", dir.path().join("runs.sqlite"))
        .output()
        .unwrap();
    let sessions = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{sessions}");
    assert!(
        sessions
            .lines()
            // requests, then first and last (date and time each): the fifth field from the end
            .any(|l| l.split_whitespace().rev().nth(4) == Some(&REQUESTS.to_string())),
        "{sessions}"
    );
}
