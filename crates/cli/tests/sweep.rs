//! `tradeoff sweep` end to end on a tiny random model: a sweep killed with SIGKILL in the
//! middle of an evaluation and run again ends with the same table as an uninterrupted one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tradeoff_engine::testing::{write_tiny_gguf, TinySpec};
use tradeoff_engine::Arch;
use tradeoff_store::{Kind, Store};

mod common;
use common::{exe, serve};

/// Fails (never skips) where HumanEval is missing: the README's test command pulls it.
fn require_humaneval() {
    assert!(
        tradeoff_assets::find(tradeoff_assets::Kind::Dataset, "humaneval")
            .is_ok_and(|a| a.is_pulled(&tradeoff_assets::cache_dir())),
        "HumanEval is not pulled: run `tradeoff data pull humaneval`"
    );
}

fn config(dir: &Path, name: &str) -> PathBuf {
    let model = dir.join("tiny-q8.gguf");
    if !model.exists() {
        let mut s = TinySpec::new(Arch::Qwen2);
        s.dtype = candle_core::quantized::GgmlDType::Q8_0;
        write_tiny_gguf(&model, &s).unwrap();
    }
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!(
            r#"name = "{name}"
models = ["{}"]
seed = 3

[[variant]]
recipe = "original"
[[variant]]
recipe = "q4_0"

[eval]
benchmarks = ["humaneval"]
limit = 48
max_new_tokens = 16

[quality]
chunks = 3
ctx = 64
top_k = 16

[perf]
prompts = 2
max_new_tokens = 6
concurrency = 2
"#,
            model.display()
        ),
    )
    .unwrap();
    cfg
}

fn sweep(cfg: &Path, store: &Path, variants: &Path) -> Command {
    let mut c = Command::new(exe());
    c.arg("sweep")
        .arg(cfg)
        .arg("--no-report")
        .env("TRADEOFF_STORE", store)
        .env("TRADEOFF_VARIANTS", variants)
        .env("TRADEOFF_THREADS", "2");
    c
}

fn samples_committed(store: &Path) -> usize {
    // Never the one to create (and migrate) the store the sweep is about to create.
    if !store.exists() {
        return 0;
    }
    let Ok(s) = Store::open(store) else { return 0 };
    let Ok(runs) = s.list_runs() else { return 0 };
    let mut n = 0;
    for r in runs {
        for res in s.results(r.id).unwrap_or_default() {
            n += s.samples(res.id).map(|v| v.len()).unwrap_or(0);
        }
    }
    n
}

/// (variant label, result kind, metric name) → value, perf left out (timings differ).
fn table(store: &Path, run: &str) -> Vec<(String, String, String, String)> {
    let s = Store::open(store).unwrap();
    let run = s.resolve_run(run).unwrap();
    let labels: std::collections::BTreeMap<String, String> = s
        .variants(run.id)
        .unwrap()
        .into_iter()
        .map(|v| (v.variant.id.clone(), v.variant.label.clone()))
        .collect();
    let mut rows = Vec::new();
    for r in s.results(run.id).unwrap() {
        if r.kind == Kind::Perf {
            continue;
        }
        for m in &r.metrics {
            if m.name.contains("_s") || m.name.contains("duration") {
                continue;
            }
            rows.push((
                labels[&r.variant].clone(),
                r.name.clone(),
                m.name.clone(),
                format!("{:.9} {:?}", m.value, m.ci95),
            ));
        }
    }
    rows.sort();
    rows
}

#[test]
fn killed_sweep_resumes_to_the_same_table() {
    require_humaneval();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let clean = config(d, "clean");
    let out = sweep(&clean, &d.join("a.sqlite"), &d.join("va"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "clean sweep failed:\n{err}");

    let killed = config(d, "killed");
    let store_b = d.join("b.sqlite");
    let log = d.join("killed.log");
    let mut child = sweep(&killed, &store_b, &d.join("vb"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while samples_committed(&store_b) < 3 {
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "no samples committed"
        );
        if child.try_wait().unwrap().is_some() {
            panic!(
                "sweep ended before it could be killed:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = samples_committed(&store_b);

    let out = sweep(&killed, &store_b, &d.join("vb")).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "resumed sweep failed:\n{err}");
    assert!(stdout.contains("(resumed)"), "{stdout}");
    assert!(
        err.contains("resuming:"),
        "committed problems were not reused:\n{err}"
    );
    assert!(samples_committed(&store_b) > before);

    let (a, b) = (
        table(&d.join("a.sqlite"), "clean"),
        table(&store_b, "killed"),
    );
    assert!(
        a.iter().any(|r| r.2 == "pass@1") && a.iter().any(|r| r.2 == "kld_mean"),
        "{a:?}"
    );
    assert_eq!(a, b);

    // A third run computes nothing.
    let out = sweep(&killed, &store_b, &d.join("vb")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(" 0 steps computed"), "{stdout}");

    let rep = Command::new(exe())
        .args(["report", "killed", "--no-pdf", "--out"])
        .arg(d.join("report"))
        .env("TRADEOFF_STORE", &store_b)
        .output()
        .unwrap();
    assert!(
        rep.status.success(),
        "{}",
        String::from_utf8_lossy(&rep.stderr)
    );
    let html = std::fs::read_to_string(d.join("report/killed.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("dequantized"));
}

#[test]
fn bad_configs_fail_with_one_line_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    let run = |text: &str| {
        std::fs::write(&cfg, text).unwrap();
        let out = Command::new(exe())
            .arg("sweep")
            .arg(&cfg)
            .env("TRADEOFF_STORE", dir.path().join("s.sqlite"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = run("name = \"x\"\nmodels = [\"smollm2-135m\"]\n[[variant]]\nrecipe = \"original\"\n[eval]\nbenchmarks = [\"humaneval\"]\nmax_new_tokns = 3\n");
    assert!(
        e.contains("bad.toml: line 7") && e.contains("max_new_tokns"),
        "{e}"
    );
    let e = run(
        "name = \"x\"\nmodels = [\"no-such-model\"]\n[[variant]]\nrecipe = \"original\"\n[perf]\n",
    );
    assert!(e.contains("no-such-model") && e.contains("catalog"), "{e}");
    assert_eq!(
        e.trim().lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{e}"
    );
}

/// A variant served by another process (`[[variant]] endpoint`) is swept like one built here:
/// the same model behind `tradeoff serve` gives the same greedy answers as in-process, its perf
/// leaves out what only the server could measure, and its manifest says what served it.
#[test]
fn a_served_variant_is_swept_like_a_local_one() {
    require_humaneval();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = d.join("tiny.gguf");
    write_tiny_gguf(&model, &TinySpec::new(Arch::Qwen2)).unwrap();
    let m = model.display().to_string();
    let tier = format!("tiny={m}");
    let (mut server, url, _) = serve(&["--tier", &tier, "--log", "/dev/null"], d);
    let cfg = d.join("served.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"name = "served"
models = ["{m}"]

[[variant]]
recipe = "original"
[[variant]]
label = "served"
endpoint = "{url}#tiny"
chat_template = "{m}"

[eval]
benchmarks = ["humaneval"]
limit = 6
max_new_tokens = 12

[perf]
prompts = 2
max_new_tokens = 4
concurrency = 2
"#
        ),
    )
    .unwrap();
    let store = d.join("s.sqlite");
    let out = sweep(&cfg, &store, &d.join("v")).output().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("served: connect"), "{err}");

    let s = Store::open(&store).unwrap();
    let run = s.resolve_run("served").unwrap();
    let variants = s.variants(run.id).unwrap();
    let served = variants
        .iter()
        .find(|v| v.variant.label == "served")
        .unwrap();
    let manifest = &served.variant.manifest;
    assert_eq!(manifest["model"], "tiny", "{manifest}");
    assert!(manifest["chat_template_sha256"].is_string(), "{manifest}");
    let results = s.results(run.id).unwrap();
    let completions = |label: &str| {
        let v = variants.iter().find(|v| v.variant.label == label).unwrap();
        let r = results
            .iter()
            .find(|r| r.variant == v.variant.id && r.kind == Kind::Bench)
            .unwrap();
        let mut c: Vec<(String, Option<String>)> = s
            .samples(r.id)
            .unwrap()
            .into_iter()
            .map(|x| (x.task_id, x.completion))
            .collect();
        c.sort();
        c
    };
    let local = completions("original");
    assert_eq!(local.len(), 6);
    assert_eq!(local, completions("served"));
    let perf = results
        .iter()
        .find(|r| r.variant == served.variant.id && r.kind == Kind::Perf)
        .unwrap();
    let names: Vec<&str> = perf.metrics.iter().map(|m| m.name.as_str()).collect();
    assert!(names.contains(&"decode_tok_s"), "{names:?}");
    assert!(!names.contains(&"peak_rss_bytes"), "{names:?}");
}

/// `[[variant]] heal` makes a trained variant like any other: compressed, healed with the
/// recipe file beside the config, measured, its manifest holding both steps; a second sweep
/// reuses the healed folder.
#[test]
fn a_healed_variant_is_built_and_then_reused() {
    require_humaneval();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = d.join("tiny-llama.gguf");
    let mut s = TinySpec::new(Arch::Llama);
    s.n_layer = 2;
    write_tiny_gguf(&model, &s).unwrap();
    std::fs::write(
        d.join("heal-tiny.toml"),
        "name = \"heal-tiny\"\n[lora]\nr = 2\n[train]\ntokens = 128\nseq = 32\nbatch = 2\nval_windows = 1\n[distill]\ntop_k = 8\n",
    )
    .unwrap();
    let cfg = d.join("healed.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"healed\"\nmodels = [\"{}\"]\n[[variant]]\nrecipe = \"original\"\n\
             [[variant]]\nrecipe = \"magnitude-50\"\nheal = \"heal-tiny.toml\"\n\
             [eval]\nbenchmarks = [\"humaneval\"]\nlimit = 3\nmax_new_tokens = 4\n",
            model.display()
        ),
    )
    .unwrap();
    let (store, variants) = (d.join("s.sqlite"), d.join("v"));
    let out = sweep(&cfg, &store, &variants).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = Store::open(&store).unwrap();
    let run = s.resolve_run("healed").unwrap();
    let healed = s
        .variants(run.id)
        .unwrap()
        .into_iter()
        .find(|v| v.variant.label == "magnitude-50+heal")
        .expect("a variant labelled magnitude-50+heal");
    let m = &healed.variant.manifest;
    assert_eq!(m["heal"]["recipe"]["name"], "heal-tiny", "{m}");
    assert_eq!(m["compress"]["recipe"]["name"], "magnitude-50", "{m}");
    let artifact = healed.variant.artifact_path.clone().unwrap_or_default();
    assert!(
        artifact.to_string_lossy().contains("-heal-"),
        "{artifact:?}"
    );
    assert_eq!(
        s.results(run.id)
            .unwrap()
            .iter()
            .filter(|r| r.variant == healed.variant.id)
            .count(),
        1
    );
    let again = sweep(&cfg, &store, &variants).output().unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains(" 0 steps computed"), "{stdout}");
}
