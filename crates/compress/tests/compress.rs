//! Recipes run end to end on tiny random models (and on SmolLM2-135M where it is pulled).

use candle_core::quantized::GgmlDType;
use candle_core::{Device, Tensor};
use std::path::{Path, PathBuf};
use tradeoff_compress::{compress, Calibration, Manifest, Options, Quiet, Recipe};
use tradeoff_engine::gguf::Gguf;
use tradeoff_engine::testing::{write_tiny_gguf, TinySpec};
use tradeoff_engine::{Arch, LoadOptions, LocalEngine};

fn tiny(dir: &Path, arch: Arch) -> PathBuf {
    let p = dir.join(format!("tiny-{}.gguf", arch.name()));
    write_tiny_gguf(&p, &TinySpec::new(arch)).unwrap();
    p
}

/// Byte-level text for the tiny models' calibration, as JSONL.
fn calib_file(dir: &Path) -> PathBuf {
    let p = dir.join("calib.jsonl");
    let mut s = String::new();
    for i in 0..40 {
        let text = format!(
            "def f{i}(x):\n    return [y * {i} for y in range(x) if y % 3 == {}]\n",
            i % 3
        );
        s.push_str(&serde_json::json!({ "text": text }).to_string());
        s.push('\n');
    }
    std::fs::write(&p, s).unwrap();
    p
}

fn recipe(dir: &Path, name: &str, body: &str) -> Recipe {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, format!("name = \"{name}\"\n{body}")).unwrap();
    Recipe::load(p.to_str().unwrap()).unwrap()
}

const SMALL_CALIB: &str = "[calibration]\nsamples = 4\nctx = 64\n";

fn run(model: &Path, r: &Recipe, out: &Path, calib: &Path) -> Manifest {
    compress(&Options {
        model: model.to_str().unwrap(),
        recipe: r,
        out_dir: out,
        calibration: Calibration::Path(calib.to_path_buf()),
        seed: 0,
        progress: &Quiet,
    })
    .unwrap()
}

fn dequant(g: &mut Gguf, name: &str) -> (Vec<f32>, usize) {
    let t = g.tensor(name, &Device::Cpu).unwrap();
    let n = *t.shape().dims().last().unwrap();
    let v = t
        .dequantize(&Device::Cpu)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    (v, n)
}

fn linears(g: &Gguf) -> Vec<String> {
    g.tensor_names()
        .into_iter()
        .filter(|n| n.starts_with("blk.") && n.ends_with(".weight") && !n.contains("norm"))
        .collect()
}

fn logits_ok(model: &Path) -> usize {
    let e = LocalEngine::open(model.to_str().unwrap(), LoadOptions::default()).unwrap();
    let l = e.model.logits_all(&[1, 2, 3, 4, 5], None).unwrap();
    let v = l.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(v.iter().all(|x| x.is_finite()));
    e.model.layers.len()
}

#[test]
fn rtn_error_is_bounded_per_type() {
    let mut s = 5u64;
    let v: Vec<f32> = (0..8 * 512)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
        })
        .collect();
    let w = Tensor::from_vec(v.clone(), (8, 512), &Device::Cpu).unwrap();
    let rms = (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
    let bounds = [
        (GgmlDType::Q8_0, 0.006),
        (GgmlDType::Q6K, 0.02),
        (GgmlDType::Q5K, 0.04),
        (GgmlDType::Q5_0, 0.04),
        (GgmlDType::Q5_1, 0.04),
        (GgmlDType::Q4K, 0.08),
        (GgmlDType::Q4_0, 0.09),
        (GgmlDType::Q4_1, 0.08),
        (GgmlDType::Q3K, 0.18),
        (GgmlDType::Q2K, 0.4),
    ];
    for (t, bound) in bounds {
        let q = tradeoff_compress::quant::rtn(&w, t).unwrap();
        assert_eq!(q.dtype(), t);
        let back = q
            .dequantize(&Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let err = (v
            .iter()
            .zip(&back)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            / v.len() as f32)
            .sqrt();
        assert!(err / rms < bound, "{t:?}: relative RMS error {}", err / rms);
    }
}

#[test]
fn q4_k_m_mix_follows_llama_rules_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny(dir.path(), Arch::Llama);
    let calib = calib_file(dir.path());
    let out = dir.path().join("q4km");
    let m = run(&model, &Recipe::load("q4_k_m").unwrap(), &out, &calib);
    // 3 layers: use_more_bits picks every layer (i < n/8 fails, i ≥ 7n/8 = 2, (i − 0) % 3 == 2).
    assert_eq!(m.tensor_types["blk.0.attn_q.weight"], "q4_k");
    assert_eq!(m.tensor_types["blk.2.attn_v.weight"], "q6_k");
    assert_eq!(m.tensor_types["blk.2.ffn_down.weight"], "q6_k");
    assert_eq!(m.tensor_types["output.weight"], "q6_k");
    assert_eq!(m.tensor_types["blk.0.attn_norm.weight"], "f32");
    assert!(m.fallbacks.is_empty());
    assert!(
        m.bits_per_weight > 4.0 && m.bits_per_weight < 7.0,
        "{}",
        m.bits_per_weight
    );
    assert_eq!(logits_ok(&out.join("model.gguf")), 3);
    let again = Manifest::load(&out).unwrap();
    assert_eq!(again.artifact_sha256, m.artifact_sha256);
    // Hashed while written: the same as reading the file back.
    assert_eq!(
        tradeoff_assets::sha256_file(&out.join("model.gguf")).unwrap(),
        m.artifact_sha256
    );
    let g = Gguf::open(&out.join("model.gguf")).unwrap();
    assert!(g.meta_str("tradeoff.recipe").unwrap().contains("q4_k_m"));
    assert_eq!(g.meta_u64("general.file_type"), Some(15));
}

#[test]
fn rows_that_do_not_fit_k_blocks_fall_back_and_overrides_apply() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = TinySpec::new(Arch::Qwen2);
    spec.hidden = 192; // 192 % 256 ≠ 0, like SmolLM2's 576
    spec.intermediate = 512;
    spec.n_head = 3;
    spec.n_kv_head = 1;
    let model = dir.path().join("odd.gguf");
    write_tiny_gguf(&model, &spec).unwrap();
    let r = recipe(
        dir.path(),
        "mix",
        "type = \"q4_k\"\n[[override]]\npattern = \"ffn_down\"\ntype = \"q8_0\"\n",
    );
    let out = dir.path().join("out");
    let m = run(&model, &r, &out, &calib_file(dir.path()));
    assert_eq!(m.tensor_types["blk.0.attn_q.weight"], "q5_0");
    assert_eq!(m.tensor_types["blk.0.ffn_down.weight"], "q8_0");
    assert!(m
        .fallbacks
        .iter()
        .any(|f| f.tensor == "blk.1.ffn_up.weight" && f.wanted == "q4_k" && f.used == "q5_0"));
    assert_eq!(m.tensor_types["blk.0.attn_q.bias"], "f32");
    logits_ok(&out.join("model.gguf"));
}

#[test]
fn pruning_patterns_hold_on_every_linear() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny(dir.path(), Arch::Llama);
    let calib = calib_file(dir.path());
    for (name, body) in [
        ("wanda24", format!("method = \"wanda\"\ntype = \"q8_0\"\n[prune]\npattern = \"2:4\"\n{SMALL_CALIB}")),
        ("sparsegpt24", format!("method = \"sparsegpt\"\ntype = \"q4_0\"\n[prune]\npattern = \"2:4\"\n{SMALL_CALIB}")),
    ] {
        let out = dir.path().join(name);
        let m = run(&model, &recipe(dir.path(), name, &body), &out, &calib);
        let mut g = Gguf::open(&out.join("model.gguf")).unwrap();
        for l in linears(&g) {
            let (v, _) = dequant(&mut g, &l);
            for grp in v.chunks(4) {
                assert!(grp.iter().filter(|x| **x == 0.0).count() >= 2, "{name}: {l}");
            }
        }
        let nz = m.nonzero_fraction.unwrap();
        assert!(nz <= 0.5 && nz > 0.4, "{name}: {nz}");
        assert!(m.zstd_size_bytes.unwrap() < m.size_bytes);
        logits_ok(&out.join("model.gguf"));
    }
    // f32 storage: no rounding to zero, so the per-row count is exact.
    for (name, method) in [("mag30", "magnitude"), ("sgpt30", "sparsegpt")] {
        let body =
            format!("method = \"{method}\"\ntype = \"f32\"\n[prune]\nratio = 0.3\n{SMALL_CALIB}");
        let out = dir.path().join(name);
        run(&model, &recipe(dir.path(), name, &body), &out, &calib);
        let mut g = Gguf::open(&out.join("model.gguf")).unwrap();
        for l in linears(&g) {
            let (v, n) = dequant(&mut g, &l);
            let want = (0.3 * n as f64).round() as usize;
            for row in v.chunks(n) {
                assert_eq!(
                    row.iter().filter(|x| **x == 0.0).count(),
                    want,
                    "{name}: {l}"
                );
            }
        }
    }
}

#[test]
fn gptq_is_deterministic_and_beats_rtn_on_the_calibration_text() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny(dir.path(), Arch::Qwen2);
    let calib = calib_file(dir.path());
    let r = recipe(
        dir.path(),
        "g",
        &format!("method = \"gptq\"\ntype = \"q4_0\"\npure = true\n{SMALL_CALIB}"),
    );
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let ma = run(&model, &r, &a, &calib);
    let mb = run(&model, &r, &b, &calib);
    assert_eq!(
        std::fs::read(a.join("model.gguf")).unwrap(),
        std::fs::read(b.join("model.gguf")).unwrap()
    );
    assert_eq!(ma.artifact_sha256, mb.artifact_sha256);
    assert!(ma.calibration_sha256.is_some());
    let rtn = dir.path().join("rtn");
    run(
        &model,
        &recipe(dir.path(), "r", "type = \"q4_0\"\npure = true\n"),
        &rtn,
        &calib,
    );
    // Output error of every linear on calibration-like text: GPTQ below RTN in total.
    let text = std::fs::read_to_string(&calib).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let base = LocalEngine::open(model.to_str().unwrap(), LoadOptions::default()).unwrap();
    let ids = base
        .tokenizer
        .encode(first["text"].as_str().unwrap())
        .unwrap();
    let want = base.model.logits_all(&ids, None).unwrap();
    let dist = |p: &Path| {
        let e = LocalEngine::open(p.to_str().unwrap(), LoadOptions::default()).unwrap();
        let l = e.model.logits_all(&ids, None).unwrap();
        (l - &want)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let (dg, dr) = (dist(&a.join("model.gguf")), dist(&rtn.join("model.gguf")));
    assert!(dg < dr, "GPTQ logit error {dg} vs RTN {dr}");
}

#[test]
fn sequential_gptq_calibrates_on_the_quantized_layers_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny(dir.path(), Arch::Llama);
    let calib = calib_file(dir.path());
    let body = format!("method = \"gptq\"\ntype = \"q4_0\"\npure = true\n{SMALL_CALIB}");
    let today = run(
        &model,
        &recipe(dir.path(), "t", &body),
        &dir.path().join("t"),
        &calib,
    );
    let seq = recipe(
        dir.path(),
        "s",
        &format!("{body}\n[gptq]\nsequential = true\n"),
    );
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let ma = run(&model, &seq, &a, &calib);
    run(&model, &seq, &b, &calib);
    assert_eq!(
        std::fs::read(a.join("model.gguf")).unwrap(),
        std::fs::read(b.join("model.gguf")).unwrap(),
        "sequential GPTQ is deterministic"
    );
    // Layer 0 sees the same inputs either way; later layers see the quantized ones.
    assert_ne!(ma.artifact_sha256, today.artifact_sha256);
    assert!(ma.recipe_toml.contains("sequential = true"));
    assert!(!today.recipe_toml.contains("sequential"));
    assert!(
        ma.notes.iter().any(|n| n.contains("sequential")),
        "{:?}",
        ma.notes
    );
    let mut ga = Gguf::open(&a.join("model.gguf")).unwrap();
    let mut gt = Gguf::open(&dir.path().join("t/model.gguf")).unwrap();
    assert_eq!(
        dequant(&mut ga, "blk.0.attn_q.weight").0,
        dequant(&mut gt, "blk.0.attn_q.weight").0
    );
    assert_ne!(
        dequant(&mut ga, "blk.1.attn_q.weight").0,
        dequant(&mut gt, "blk.1.attn_q.weight").0
    );
}

#[test]
fn imatrix_recipe_runs() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny(dir.path(), Arch::Llama);
    let r = recipe(
        dir.path(),
        "im",
        &format!("method = \"imatrix\"\ntype = \"q4_k_m\"\n{SMALL_CALIB}"),
    );
    let out = dir.path().join("im");
    let m = run(&model, &r, &out, &calib_file(dir.path()));
    assert_eq!(m.tensor_types["blk.0.ffn_up.weight"], "q4_k");
    logits_ok(&out.join("model.gguf"));
}

#[test]
fn shortgpt_drops_and_renumbers_layers() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny(dir.path(), Arch::Llama);
    let r = recipe(
        dir.path(),
        "s",
        &format!("method = \"shortgpt\"\n[depth]\ndrop = 1\n{SMALL_CALIB}"),
    );
    let out = dir.path().join("s");
    let m = run(&model, &r, &out, &calib_file(dir.path()));
    assert_eq!(m.dropped_layers.len(), 1);
    assert_eq!(m.block_influence.as_ref().unwrap().len(), 3);
    let g = Gguf::open(&out.join("model.gguf")).unwrap();
    assert_eq!(g.meta_u64("llama.block_count"), Some(2));
    assert!(g.has_tensor("blk.1.ffn_down.weight") && !g.has_tensor("blk.2.ffn_down.weight"));
    assert_eq!(logits_ok(&out.join("model.gguf")), 2);
    // Kept layers are copied exactly.
    let src = Gguf::open(&model).unwrap();
    let kept: Vec<usize> = (0..3).filter(|l| !m.dropped_layers.contains(l)).collect();
    let (mut src, mut g) = (src, g);
    let (a, _) = dequant(&mut src, &format!("blk.{}.attn_q.weight", kept[1]));
    let (b, _) = dequant(&mut g, "blk.1.attn_q.weight");
    assert_eq!(a, b);
}

#[test]
fn calibration_holding_a_humaneval_signature_is_refused() {
    let root = tradeoff_assets::cache_dir();
    let he = tradeoff_assets::find(tradeoff_assets::Kind::Dataset, "humaneval").unwrap();
    assert!(
        he.is_pulled(&root),
        "HumanEval is not pulled: run `tradeoff data pull humaneval`"
    );
    let dir = tempfile::tempdir().unwrap();
    let model = tiny(dir.path(), Arch::Llama);
    let calib = dir.path().join("leak.jsonl");
    let sig = "def has_close_elements(numbers: List[float], threshold: float) -> bool:";
    let text = format!("{}\n    pass\n", sig).repeat(20);
    std::fs::write(&calib, serde_json::json!({ "text": text }).to_string()).unwrap();
    let r = recipe(
        dir.path(),
        "w",
        &format!("method = \"wanda\"\ntype = \"q8_0\"\n[prune]\nratio = 0.5\n{SMALL_CALIB}"),
    );
    let e = compress(&Options {
        model: model.to_str().unwrap(),
        recipe: &r,
        out_dir: &dir.path().join("out"),
        calibration: Calibration::Path(calib),
        seed: 0,
        progress: &Quiet,
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("HumanEval/0"), "{e}");
}

#[test]
fn bad_recipe_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(
        &p,
        "name = \"x\"\nmethod = \"gptq\"\n[gptq]\ndamp = \"lots\"\n",
    )
    .unwrap();
    let e = Recipe::load(p.to_str().unwrap()).unwrap_err().to_string();
    assert!(
        e.contains("bad.toml") && e.contains("line 4") && e.contains("damp"),
        "{e}"
    );
    assert!(!e.contains('\n'));
    std::fs::write(&p, "name = \"x\"\ntype = \"q4_0\"\nratio = 0.5\n").unwrap();
    let e = Recipe::load(p.to_str().unwrap()).unwrap_err().to_string();
    assert!(e.contains("line 3") && e.contains("ratio"), "{e}");
    std::fs::write(&p, "name = \"x\"\ntype = \"q9_9\"\n").unwrap();
    let e = Recipe::load(p.to_str().unwrap()).unwrap_err().to_string();
    assert!(
        e.contains("line 2, key `type`") && e.contains("q9_9"),
        "{e}"
    );
    std::fs::write(
        &p,
        "name = \"x\"\nmethod = \"wanda\"\n\n[prune]\nratio = 1.5\n",
    )
    .unwrap();
    let e = Recipe::load(p.to_str().unwrap()).unwrap_err().to_string();
    assert!(e.contains("line 4, key `prune`"), "{e}");
    assert!(Recipe::load("no-such-recipe").is_err());
}

#[test]
fn builtins_load_and_round_trip() {
    for (name, _) in Recipe::builtin() {
        let r = Recipe::load(name).unwrap();
        assert_eq!(r.name, name);
        let back = Recipe::from_toml(&r.to_toml(), name).unwrap();
        assert_eq!(back, r, "{name}");
        assert_eq!(r.short_hash().len(), 12);
    }
    assert!(Recipe::load("original").unwrap().is_original());
    assert!(Recipe::load("gptq-q4_0").unwrap().needs_calibration());
    assert!(!Recipe::load("q4_k_m").unwrap().needs_calibration());
}

/// SmolLM2-135M; fails (never skips) where `tradeoff models pull smollm2-135m` has not run.
fn smollm2() -> String {
    match tradeoff_engine::resolve("smollm2-135m") {
        Ok(p) => p.path().display().to_string(),
        Err(e) => panic!("{e}: run `tradeoff models pull smollm2-135m`"),
    }
}

fn greedy(model: &Path) -> String {
    use tradeoff_engine::{Engine, GenParams, GenRequest};
    let mut e = LocalEngine::open(model.to_str().unwrap(), LoadOptions::default()).unwrap();
    let params = GenParams {
        max_new_tokens: 16,
        ..Default::default()
    };
    let g = e
        .generate(
            &GenRequest::new("def fibonacci(n):\n", params),
            &mut |_, _, _| {},
        )
        .unwrap();
    g.samples[0].text.clone()
}

#[test]
fn smollm2_rtn_artifacts_generate() {
    let base = smollm2();
    let dir = tempfile::tempdir().unwrap();
    for name in ["q8_0", "q4_k_m"] {
        let out = dir.path().join(name);
        let m = compress(&Options {
            model: &base,
            recipe: &Recipe::load(name).unwrap(),
            out_dir: &out,
            calibration: Calibration::Stdlib,
            seed: 0,
            progress: &Quiet,
        })
        .unwrap();
        let text = greedy(&out.join("model.gguf"));
        assert!(!text.trim().is_empty(), "{name}");
        if name == "q4_k_m" {
            // hidden 576 is no multiple of 256: Q4_K rows fall back to Q5_0, Q6_K to Q8_0.
            assert!(m
                .fallbacks
                .iter()
                .any(|f| f.wanted == "q4_k" && f.used == "q5_0"));
            assert_eq!(m.tensor_types["token_embd.weight"], "q8_0");
        }
    }
}

/// Mean KL(base ‖ variant) per token over `windows` windows of the evaluation corpus.
/// The variant's weights are expanded to f32 like the base's, so the number measures the
/// weights alone (not the kernels' activation rounding) and 512-token windows run on gemm.
fn kld(base_lp: &[Tensor], wins: &[Vec<u32>], variant: &Path) -> f64 {
    let opts = LoadOptions {
        dequantize: true,
        ..Default::default()
    };
    let v = LocalEngine::open(variant.to_str().unwrap(), opts).unwrap();
    let (mut sum, mut n) = (0f64, 0usize);
    for (w, lp) in wins.iter().zip(base_lp) {
        let lq =
            tradeoff_engine::model::log_softmax(&v.model.logits_all(w, None).unwrap()).unwrap();
        let p = lp.exp().unwrap();
        let k = (p * (lp - lq).unwrap()).unwrap().sum(1).unwrap();
        sum += k.sum_all().unwrap().to_scalar::<f32>().unwrap() as f64;
        n += w.len();
    }
    sum / n as f64
}

/// Base log-probabilities over 4 windows of 512 tokens of the evaluation corpus.
fn eval_windows(base: &str) -> (Vec<Vec<u32>>, Vec<Tensor>) {
    let opts = LoadOptions {
        dequantize: true,
        ..Default::default()
    };
    let eng = LocalEngine::open(base, opts).unwrap();
    let text = tradeoff_assets::corpus::eval_corpus().unwrap().text;
    let ids = eng.tokenizer.encode(&text).unwrap();
    let wins: Vec<Vec<u32>> = (0..4)
        .map(|i| ids[i * 4096..i * 4096 + 512].to_vec())
        .collect();
    let lp = wins
        .iter()
        .map(|w| {
            tradeoff_engine::model::log_softmax(&eng.model.logits_all(w, None).unwrap()).unwrap()
        })
        .collect();
    (wins, lp)
}

fn build(base: &str, name: &str, out: &Path) -> Manifest {
    compress(&Options {
        model: base,
        recipe: &Recipe::load(name).unwrap(),
        out_dir: out,
        calibration: Calibration::Stdlib,
        seed: 0,
        progress: &Quiet,
    })
    .unwrap()
}

#[test]
#[ignore]
fn smollm2_gptq_beats_rtn_at_q4_0() {
    let base = smollm2();
    let (wins, lp) = eval_windows(&base);
    let dir = tempfile::tempdir().unwrap();
    let k: Vec<f64> = ["q4_0", "gptq-q4_0"]
        .iter()
        .map(|name| {
            let out = dir.path().join(name);
            build(&base, name, &out);
            kld(&lp, &wins, &out.join("model.gguf"))
        })
        .collect();
    println!("KLD q4_0 {:.4}, gptq-q4_0 {:.4}", k[0], k[1]);
    assert!(k[1] < k[0]);
}

/// Every built-in recipe on SmolLM2: size, bits/weight, wall time, KL divergence to the
/// dequantized base. `cargo test -p tradeoff-compress --release -- --ignored --nocapture`;
/// `TABLE_RECIPES=a,b` limits it to some recipes.
#[test]
#[ignore]
fn smollm2_table() {
    let base = smollm2();
    let (wins, base_lp) = eval_windows(&base);
    let dir = tempfile::tempdir().unwrap();
    println!("| recipe | size MB | bits/weight | wall s | KLD | notes |");
    println!("|---|---|---|---|---|---|");
    let src = PathBuf::from(&base);
    println!(
        "| original (Q4_1 file) | {:.1} | - | - | {:.4} | the reference |",
        std::fs::metadata(&src).unwrap().len() as f64 / 1e6,
        kld(&base_lp, &wins, &src)
    );
    let only = std::env::var("TABLE_RECIPES").ok();
    for (name, _) in Recipe::builtin() {
        if name == "original"
            || only
                .as_ref()
                .is_some_and(|o| !o.split(',').any(|x| x == name))
        {
            continue;
        }
        let out = dir.path().join(name);
        let m = build(&base, name, &out);
        let k = kld(&base_lp, &wins, &out.join("model.gguf"));
        let extra = match (m.nonzero_fraction, m.zstd_size_bytes) {
            (Some(nz), Some(z)) => {
                format!("nonzero {:.1}%, zstd {:.1} MB", nz * 100.0, z as f64 / 1e6)
            }
            _ if !m.dropped_layers.is_empty() => format!("dropped {:?}", m.dropped_layers),
            _ => format!("{} fallbacks", m.fallbacks.len()),
        };
        println!(
            "| {name} | {:.1} | {:.2} | {:.1} | {k:.4} | {extra} |",
            m.size_bytes as f64 / 1e6,
            m.bits_per_weight,
            m.wall_s
        );
        std::fs::remove_dir_all(&out).unwrap();
    }
}
