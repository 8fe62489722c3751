//! Quality and performance measurement on tiny random models written by the test.

use candle_core::quantized::GgmlDType;
use tradeoff_engine::testing::{write_tiny_gguf, TinySpec};
use tradeoff_engine::{Arch, LoadOptions, LocalEngine, ModelPath};
use tradeoff_measure::{perf, quality, Baseline, PerfOptions, QualityOptions};

fn tiny(dir: &std::path::Path, dtype: GgmlDType) -> LocalEngine {
    let p = dir.join(format!("{dtype:?}.gguf"));
    let mut s = TinySpec::new(Arch::Qwen2);
    s.dtype = dtype;
    write_tiny_gguf(&p, &s).unwrap();
    LocalEngine::load(&ModelPath::Gguf(p), LoadOptions::default()).unwrap()
}

fn opts() -> QualityOptions {
    QualityOptions {
        ctx: 64,
        max_chunks: 4,
        top_k: 16,
        continuations: 3,
        continuation_prompt: 16,
        continuation_tokens: 8,
        bootstrap: 100,
        seed: 1,
    }
}

#[test]
fn kl_divergence_is_zero_against_itself_and_grows_with_fewer_bits() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = tradeoff_assets::corpus::eval_corpus().unwrap();
    let o = opts();
    let base_e = tiny(dir.path(), GgmlDType::F32);
    let base = Baseline::compute(
        &base_e.model,
        &base_e.tokenizer,
        &corpus,
        &o,
        ("tiny", "sha", "f32"),
    )
    .unwrap();
    // The cache round-trips exactly.
    let path = dir.path().join("b.bin");
    base.save(&path).unwrap();
    let loaded = Baseline::load(&path).unwrap();
    assert_eq!(loaded.meta, base.meta);
    assert_eq!(loaded.continuations, base.continuations);

    let kld = |e: &LocalEngine| {
        let r =
            quality::measure(&e.model, &e.tokenizer, &corpus, &loaded, &o, ("v", None)).unwrap();
        let m = |n: &str| r.metric(n).unwrap().value;
        (
            m("kld_mean"),
            m("top1_agreement"),
            m("greedy_identical"),
            m("ppl"),
            m("ppl_base"),
        )
    };
    let (k0, a0, g0, p0, pb0) = kld(&base_e);
    assert!(k0.abs() < 1e-6, "KLD against itself {k0}");
    assert_eq!(a0, 1.0);
    assert_eq!(g0, 1.0);
    assert!((p0 - pb0).abs() / pb0 < 1e-5);
    let (k8, a8, ..) = kld(&tiny(dir.path(), GgmlDType::Q8_0));
    let (k4, a4, ..) = kld(&tiny(dir.path(), GgmlDType::Q4_0));
    assert!(
        0.0 < k8 && k8 < k4,
        "KLD must grow as bits shrink: Q8_0 {k8}, Q4_0 {k4}"
    );
    assert!(a4 <= a8 && a8 <= 1.0);
}

#[test]
fn perf_reports_speed_latency_and_says_when_energy_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = tiny(dir.path(), GgmlDType::Q8_0);
    let o = PerfOptions {
        prompts: 4,
        max_new_tokens: 6,
        concurrency: 4,
        bootstrap: 50,
        ..Default::default()
    };
    let r = perf::run(&mut e, &o, Some(0.1), None).unwrap();
    assert_eq!(r.requests.len(), 4);
    assert!(
        r.requests.iter().all(|q| q.generated_tokens == 6),
        "EOS is ignored: every request does equal work"
    );
    for name in [
        "ttft_s",
        "prefill_tok_s",
        "decode_tok_s",
        "latency_p50_s",
        "latency_p90_s",
        "latency_p99_s",
        "batch_decode_tok_s",
        "cost_per_1k_queries",
    ] {
        let m = r.metric(name).unwrap_or_else(|| panic!("{name} missing"));
        assert!(m.value.is_finite() && m.value > 0.0, "{name} = {}", m.value);
    }
    let p50 = r.metric("latency_p50_s").unwrap().value;
    assert!(p50 <= r.metric("latency_p99_s").unwrap().value);
    let energy = r.metric("energy_j_per_query").is_some();
    assert!(
        energy || r.notes.iter().any(|n| n.contains("not available")),
        "energy must be measured or said missing"
    );
    assert!(!r.machine.cpu.is_empty());
}
