//! The differentiable forward against the engine's, and autograd against finite differences.

use candle_core::{DType, Tensor};
use std::path::Path;
use tradeoff_engine::testing::{write_tiny_gguf, TinySpec};
use tradeoff_engine::{Arch, LoadOptions, LocalEngine, ModelPath};
use tradeoff_train::objective::{distill_loss, DistillConfig, TopK};
use tradeoff_train::{Adapters, Base, Lora, LoraConfig, Target};

fn tiny(dir: &Path, arch: Arch) -> std::path::PathBuf {
    let p = dir.join(format!("{}.gguf", arch.name()));
    let mut s = TinySpec::new(arch);
    s.hidden = 64;
    s.intermediate = 128;
    s.n_layer = 2;
    write_tiny_gguf(&p, &s).unwrap();
    p
}

fn tokens(n: usize) -> Vec<u32> {
    (0..n as u32).map(|i| (i * 37 + 11) % 250).collect()
}

#[test]
fn forward_matches_the_engine_llama_and_qwen2() {
    let dir = tempfile::tempdir().unwrap();
    for arch in [Arch::Llama, Arch::Qwen2] {
        let p = tiny(dir.path(), arch);
        let toks = tokens(12);
        let eng = LocalEngine::load(
            &ModelPath::Gguf(p.clone()),
            LoadOptions {
                dequantize: true,
                ..Default::default()
            },
        )
        .unwrap();
        let want = eng.model.logits_all(&toks, None).unwrap();
        let base = Base::load(&p, DType::F32, false).unwrap();
        // Two copies of the sequence as a batch of two: rows must not see each other.
        let two: Vec<u32> = toks.iter().chain(&toks).copied().collect();
        let got = base.forward(&two, 2, None).unwrap();
        let want = Tensor::cat(&[&want, &want], 0).unwrap();
        let diff = (got - &want).unwrap().abs().unwrap().max_all().unwrap();
        let diff = diff.to_scalar::<f32>().unwrap();
        let scale = want
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-4 * scale.max(1.0), "{arch:?}: max diff {diff}");
    }
}

/// The distillation loss as a function of the adapters, in f64.
fn loss(base: &Base, ad: &Adapters, toks: &[u32], teacher: &TopK, c: &DistillConfig) -> Tensor {
    let logits = base
        .forward(
            toks,
            2,
            Some(Lora {
                adapters: ad,
                grad: true,
                dropout: None,
            }),
        )
        .unwrap();
    distill_loss(&logits, toks, 2, teacher, c).unwrap()
}

fn check_gradients(base: &Base, cfg: &LoraConfig) {
    let n_layer = base.layers.len();
    let ad = Adapters::new(cfg, n_layer, |l, t| base.shape(l, t), DType::F64, 3).unwrap();
    // B starts at zero (so A's gradient would be zero): give it values to test both.
    for (i, v) in ad.vars().iter().enumerate() {
        if i % 2 == 1 {
            let r = Tensor::randn(0f64, 0.05, v.shape(), v.device()).unwrap();
            v.set(&r).unwrap();
        }
    }
    let toks = tokens(16);
    let k = 8;
    let ids: Vec<u32> = (0..16 * k as u32).map(|i| (i * 13 + 5) % 260).collect();
    let logp: Vec<f32> = (0..16 * k).map(|i| -1.0 - (i % k) as f32 * 0.5).collect();
    let teacher = TopK {
        k,
        ids: &ids,
        logp: &logp,
    };
    let c = DistillConfig {
        alpha: 0.5,
        temperature: 2.0,
        top_k: k,
    };
    let l = loss(base, &ad, &toks, &teacher, &c);
    let grads = l.backward().unwrap();
    let eps = 1e-5;
    let mut checked = 0;
    for v in ad.vars() {
        let g = grads.get(v).expect("every adapter gets a gradient");
        let g = g.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let x0 = v.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        // A few coordinates per tensor, spread over it.
        for j in (0..x0.len()).step_by(x0.len() / 3 + 1) {
            let at = |d: f64| -> f64 {
                let mut x = x0.clone();
                x[j] += d;
                v.set(&Tensor::from_vec(x, v.shape(), v.device()).unwrap())
                    .unwrap();
                loss(base, &ad, &toks, &teacher, &c)
                    .to_scalar::<f64>()
                    .unwrap()
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps);
            let tol = 1e-6 + 1e-4 * fd.abs().max(g[j].abs());
            assert!(
                (fd - g[j]).abs() < tol,
                "coordinate {j}: autograd {} vs finite difference {fd}",
                g[j]
            );
            checked += 1;
        }
        v.set(&Tensor::from_vec(x0, v.shape(), v.device()).unwrap())
            .unwrap();
    }
    assert!(checked >= 2 * 3 * n_layer * cfg.targets.len());
}

#[test]
fn lora_gradients_match_finite_differences() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LoraConfig {
        r: 2,
        alpha: 4.0,
        dropout: 0.0,
        targets: Target::ALL.to_vec(),
    };
    for arch in [Arch::Llama, Arch::Qwen2] {
        let base = Base::load(&tiny(dir.path(), arch), DType::F64, false).unwrap();
        check_gradients(&base, &cfg);
    }
}

#[test]
fn masked_lora_gradients_match_finite_differences() {
    let dir = tempfile::tempdir().unwrap();
    let mut base = Base::load(&tiny(dir.path(), Arch::Llama), DType::F64, false).unwrap();
    // Prune half of every linear (as a pruned variant stores it) and mask the updates.
    for l in &mut base.layers {
        for f in &mut l.lin {
            let keep =
                f.w.abs()
                    .unwrap()
                    .ge(0.02)
                    .unwrap()
                    .to_dtype(DType::F64)
                    .unwrap();
            f.w = f.w.mul(&keep).unwrap();
            f.mask = Some(keep);
        }
    }
    let cfg = LoraConfig {
        r: 2,
        alpha: 2.0,
        dropout: 0.0,
        targets: vec![Target::Q, Target::Down],
    };
    check_gradients(&base, &cfg);
}
