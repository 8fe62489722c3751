//! The store the dashboard tests read, written through the store's API as a sweep would, and
//! the dashboard started on loopback over it.

#![allow(dead_code)] // Each test file uses part of it.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tradeoff_record::Metric;
use tradeoff_serve::dashboard::{router, Dashboard};
use tradeoff_serve::App;
use tradeoff_store::*;

pub const PROBLEMS: usize = 10;

/// Every page of the dashboard over the fixture, one of each kind.
pub const PAGES: &[&str] = &[
    "/",
    "/runs",
    "/runs/sweep-a",
    "/runs/1",
    "/runs/sweep-a/compare",
    "/runs/sweep-a/pareto",
    "/runs/sweep-a/pareto?quality=humaneval/pass@1&cost=size_bytes",
    "/runs/sweep-a/problems",
    "/runs/sweep-a/problems?show=differ",
    "/runs/sweep-a/sample?result=1&task=HumanEval%2F0",
    "/runs/live/progress",
    "/routing",
    "/runs/sweep-a/report.html",
];

/// (label, role, method, size, decode tok/s, solved problems)
pub type FixtureVariant = (&'static str, Role, &'static str, u64, f64, Vec<bool>);

pub fn variants_a() -> Vec<FixtureVariant> {
    let base: Vec<bool> = (0..PROBLEMS).map(|i| i % 5 != 0).collect(); // 8/10
    let mut q8 = base.clone();
    q8[1] = false;
    let q4: Vec<bool> = (0..PROBLEMS).map(|i| i % 2 == 0).collect();
    let pruned: Vec<bool> = (0..PROBLEMS).map(|i| i == 3).collect();
    vec![
        (
            "original",
            Role::Baseline,
            "original",
            4_000_000,
            20.0,
            base,
        ),
        ("q8_0", Role::Candidate, "rtn", 2_000_000, 35.0, q8),
        ("q4_0", Role::Candidate, "rtn", 1_100_000, 50.0, q4),
        (
            "wanda-50",
            Role::Candidate,
            "wanda",
            1_500_000,
            30.0,
            pruned,
        ),
    ]
}

pub fn prompt(task: usize) -> String {
    format!("def f{task}(x):\n    \"\"\"Return x plus {task}.\"\"\"\n")
}

fn sample(task: usize, s: u32, passed: bool) -> SampleRow {
    SampleRow {
        task_id: format!("HumanEval/{task}"),
        sample: s,
        passed,
        status: if passed { "pass" } else { "fail" }.into(),
        detail: (!passed).then(|| "AssertionError: f(1) != 2".to_string()),
        tokens: Some(12),
        exec_s: Some(0.02),
        gen_s: Some(0.5),
        completion: Some(format!(
            "    return x + {}\n",
            if passed { task } else { 0 }
        )),
        cases: None,
    }
}

/// A finished benchmark result with one sample per problem, its pass@1 and a record holding
/// the prompts and programs.
fn bench(store: &mut Store, run: RunId, vid: &str, name: &str, solved: &[bool]) {
    let id = store
        .begin_result(run, &ResultSpec::new(vid, Kind::Bench, name))
        .unwrap()
        .id();
    let mut problems = Vec::new();
    for (i, &p) in solved.iter().enumerate() {
        let s = sample(i, 0, p);
        problems.push(json!({
            "task_id": s.task_id, "prompt": prompt(i),
            "samples": [{"program": format!("{}{}", prompt(i), s.completion.as_deref().unwrap())}],
        }));
        store.add_sample(id, &s).unwrap();
    }
    let k = solved.iter().filter(|&&p| p).count();
    let pass1 = Metric {
        n: Some(solved.len()),
        unit: Some("fraction".into()),
        ..Metric::new("pass@1", k as f64 / solved.len() as f64, true)
    };
    store
        .finish_result(
            id,
            &[pass1],
            &json!({"benchmark": name, "problems": problems}),
        )
        .unwrap();
}

fn variant(label: &str, model: &str, method: &str, size: u64) -> VariantSpec {
    VariantSpec {
        recipe: json!({"method": method, "name": label, "type": label}),
        manifest: json!({"bits_per_weight": size / 250_000}),
        size_bytes: Some(size),
        artifact_sha256: Some(format!("{size:064}")),
        ..VariantSpec::new(label, model)
    }
}

/// Run `sweep-a` (model tiny-a, four variants, humaneval and decode speed), run `sweep-b`
/// (model tiny-b, mbpp) and run `live`, still running with a benchmark half done.
pub fn fixture(dir: &Path) -> PathBuf {
    let path = dir.join("runs.sqlite");
    let mut store = Store::open(&path).unwrap();
    let run = store
        .begin_run(&RunSpec::new("[sweep]\nmodel = \"tiny-a\"\n").named("sweep-a"))
        .unwrap()
        .id;
    for (label, role, method, size, tok_s, solved) in variants_a() {
        let vid = store
            .upsert_variant(run, &variant(label, "tiny-a", method, size), role)
            .unwrap()
            .id;
        bench(&mut store, run, &vid, "humaneval", &solved);
        let id = store
            .begin_result(run, &ResultSpec::new(&vid, Kind::Perf, "decode"))
            .unwrap()
            .id();
        let m = Metric {
            unit: Some("tok/s".into()),
            ci95: Some((tok_s * 0.95, tok_s * 1.05)),
            ..Metric::new("decode_tok_s", tok_s, true)
        };
        store.finish_result(id, &[m], &json!({})).unwrap();
    }
    store.end_run(run, Status::Done).unwrap();

    let run = store
        .begin_run(&RunSpec::new("[sweep]\nmodel = \"tiny-b\"\n").named("sweep-b"))
        .unwrap()
        .id;
    for (label, role, method, solved) in [
        ("original", Role::Baseline, "original", [true; 6].to_vec()),
        (
            "q4_k_m",
            Role::Candidate,
            "rtn",
            [true, false, true, false, true, true].to_vec(),
        ),
    ] {
        let vid = store
            .upsert_variant(run, &variant(label, "tiny-b", method, 1_000_000), role)
            .unwrap()
            .id;
        bench(&mut store, run, &vid, "mbpp", &solved);
    }
    store.end_run(run, Status::Done).unwrap();

    let run = store
        .begin_run(&RunSpec::new("[sweep]\nmodel = \"tiny-c\"\n").named("live"))
        .unwrap()
        .id;
    let v1 = store
        .upsert_variant(
            run,
            &variant("original", "tiny-c", "original", 900),
            Role::Baseline,
        )
        .unwrap()
        .id;
    bench(&mut store, run, &v1, "humaneval", &[true; PROBLEMS]);
    let v2 = store
        .upsert_variant(run, &variant("q4_0", "tiny-c", "rtn", 400), Role::Candidate)
        .unwrap()
        .id;
    let id = store
        .begin_result(run, &ResultSpec::new(&v2, Kind::Bench, "humaneval"))
        .unwrap()
        .id();
    for i in 0..3 {
        store.add_sample(id, &sample(i, 0, true)).unwrap();
    }
    path
}

/// Commits `n` more samples of the running result of run `live` (from problem `from`).
pub fn advance_live(path: &Path, from: usize, n: usize) {
    let store = Store::open(path).unwrap();
    let run = store.resolve_run("live").unwrap();
    let running = store
        .results(run.id)
        .unwrap()
        .into_iter()
        .find(|r| r.status == Status::Running)
        .unwrap();
    drop(store);
    let mut store = Store::open(path).unwrap();
    for i in from..from + n {
        store.add_sample(running.id, &sample(i, 0, true)).unwrap();
    }
}

/// The dashboard (and the API of `app`, when given) on a loopback port, served from a thread
/// of its own until the test process ends. Returns `http://127.0.0.1:PORT`.
pub fn start(store: &Path, app: Option<Arc<App>>) -> String {
    let store = store.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(format!("http://{}", listener.local_addr().unwrap()))
                .unwrap();
            let dash = router(Dashboard {
                store,
                app: app.clone(),
            });
            let r = match app {
                Some(a) => tradeoff_serve::router(a).merge(dash),
                None => dash,
            };
            tradeoff_serve::serve_router(r, listener, std::future::pending())
                .await
                .unwrap();
        });
    });
    rx.recv().unwrap()
}

/// GET without treating 4xx/5xx as errors: status, content type, body.
pub fn get(url: &str) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent.get(url).call().unwrap();
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (
        r.status().as_u16(),
        kind,
        r.body_mut().read_to_string().unwrap(),
    )
}
