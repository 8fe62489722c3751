//! The hand-made run the report tests and the MLflow test share: a baseline and three
//! quantized variants with HumanEval outcomes, decode speed, latency and KL divergence; and the
//! plain sample every report test builds its runs from.

// Each test binary uses part of this module.
#![allow(dead_code)]

use serde_json::json;
use tradeoff_record::Metric;
use tradeoff_store::*;

pub const PROBLEMS: usize = 20;
pub const NOTE: &str = "baseline = dequantized GGUF; no f16 weights were available";

/// (label, bits, size, decode tok/s, problems solved)
fn variants() -> Vec<(&'static str, u32, u64, f64, Vec<bool>)> {
    let base: Vec<bool> = (0..PROBLEMS).map(|i| i % 4 != 0).collect(); // 15/20
    let mut q8 = base.clone();
    q8[1] = false; // b=1, c=0
    let mut q4 = base.clone();
    for i in [1, 2, 3, 5, 6, 7] {
        q4[i] = false; // b=6
    }
    q4[0] = true; // c=1
    let q2: Vec<bool> = (0..PROBLEMS).map(|i| i % 4 == 1).collect(); // 5/20: b=10, c=0
    vec![
        ("baseline", 32, 4_000_000, 20.0, base),
        ("q8", 8, 2_000_000, 35.0, q8),
        ("q4", 4, 1_100_000, 50.0, q4),
        ("q2", 2, 700_000, 60.0, q2),
    ]
}

/// One sample of `HumanEval/{task}` with the given outcome and nothing else measured.
pub fn sample(task: usize, passed: bool, status: &str) -> SampleRow {
    SampleRow {
        task_id: format!("HumanEval/{task}"),
        sample: 0,
        passed,
        status: status.into(),
        detail: None,
        tokens: None,
        exec_s: None,
        gen_s: None,
        completion: None,
        cases: None,
    }
}

pub fn build(store: &mut Store) -> RunId {
    let mut spec = RunSpec::new("[sweep]\nmodel = \"smollm2-135m\"\n").named("demo");
    spec.machine.hostname = "test".into();
    let run = store.begin_run(&spec).unwrap().id;
    for (label, bits, size, tok_s, solved) in variants() {
        let role = if label == "baseline" {
            Role::Baseline
        } else {
            Role::Candidate
        };
        let v = VariantSpec {
            recipe: json!({"method": "rtn", "bits": bits}),
            manifest: json!({"bits_per_weight": bits}),
            artifact_path: Some(format!("/cache/variants/{label}.gguf").into()),
            artifact_sha256: Some(format!("{bits:064}")),
            size_bytes: Some(size),
            note: (label == "baseline").then(|| NOTE.to_string()),
            ..VariantSpec::new(label, "smollm2-135m")
        };
        let vid = store.upsert_variant(run, &v, role).unwrap().id;

        let bench = ResultSpec::new(&vid, Kind::Bench, "humaneval");
        let id = store.begin_result(run, &bench).unwrap().id();
        for (i, &p) in solved.iter().enumerate() {
            let s = SampleRow {
                tokens: Some(100),
                exec_s: Some(0.05),
                gen_s: Some(2.0),
                ..sample(i, p, if p { "pass" } else { "fail" })
            };
            store.add_sample(id, &s).unwrap();
        }
        let per: Vec<f64> = solved.iter().map(|&p| f64::from(u8::from(p))).collect();
        let pass1 = Metric {
            ci95: tradeoff_record::passk::bootstrap_ci(&per, 1000, 0),
            n: Some(PROBLEMS),
            unit: Some("fraction".into()),
            ..Metric::new("pass@1", tradeoff_record::passk::mean(&per), true)
        };
        store
            .finish_result(id, &[pass1], &json!({"benchmark": "humaneval"}))
            .unwrap();

        let perf = ResultSpec::new(&vid, Kind::Perf, "decode");
        let id = store.begin_result(run, &perf).unwrap().id();
        let m = vec![
            Metric {
                ci95: Some((tok_s * 0.95, tok_s * 1.05)),
                unit: Some("tok/s".into()),
                ..Metric::new("decode_tok_s", tok_s, true)
            },
            Metric {
                unit: Some("s".into()),
                ..Metric::new("latency_p90_s", 100.0 / tok_s, false)
            },
        ];
        store.finish_result(id, &m, &json!({})).unwrap();

        let q = ResultSpec::new(&vid, Kind::Quality, "wikitext");
        let id = store.begin_result(run, &q).unwrap().id();
        let kl = Metric::new("kl_divergence", 0.01 * (32 / bits) as f64 - 0.01, false);
        store.finish_result(id, &[kl], &json!({})).unwrap();
    }
    // An unfinished result is reported as left out, not silently dropped.
    let q2 = store.variants(run).unwrap()[3].variant.id.clone();
    store
        .begin_result(run, &ResultSpec::new(&q2, Kind::Bench, "mbpp"))
        .unwrap();
    store.end_run(run, Status::Done).unwrap();
    run
}
