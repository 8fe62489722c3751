//! The heal recipe end to end on a tiny model: a pruned variant gets closer to its original,
//! keeps its zeros, and the same inputs give the same bytes.

use candle_core::Device;
use std::path::Path;
use tradeoff_compress::{Calibration, Options, Quiet, Recipe};
use tradeoff_engine::gguf::Gguf;
use tradeoff_engine::testing::{write_tiny_gguf, TinySpec};
use tradeoff_engine::Arch;
use tradeoff_train::{heal, HealOptions, HealRecipe};

const RECIPE: &str = r#"
name = "heal-tiny"
[lora]
r = 4
alpha = 8
targets = ["q_proj", "v_proj", "down_proj"]
[optim]
lr = 0.01
warmup = 1
[train]
tokens = 384
seq = 32
batch = 2
eval_every = 3
checkpoint_every = 2
val_windows = 2
[distill]
top_k = 16
"#;

fn zeros(p: &Path, name: &str) -> Vec<bool> {
    let mut g = Gguf::open(p).unwrap();
    let t = g
        .tensor(name, &Device::Cpu)
        .unwrap()
        .dequantize(&Device::Cpu)
        .unwrap();
    t.flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|v| *v == 0.0)
        .collect()
}

#[test]
fn heal_brings_a_pruned_variant_closer_keeps_its_zeros_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let teacher = dir.path().join("tiny.gguf");
    let mut spec = TinySpec::new(Arch::Llama);
    spec.n_layer = 2;
    write_tiny_gguf(&teacher, &spec).unwrap();
    let variant = dir.path().join("variant");
    tradeoff_compress::compress(&Options {
        model: teacher.to_str().unwrap(),
        recipe: &Recipe::load("magnitude-50").unwrap(),
        out_dir: &variant,
        calibration: Calibration::Stdlib,
        seed: 0,
        progress: &Quiet,
    })
    .unwrap();
    let recipe = HealRecipe::from_toml(RECIPE, "test").unwrap();
    let run = |out: &Path| {
        heal(&HealOptions {
            teacher: teacher.to_str().unwrap(),
            variant: &variant,
            recipe: &recipe,
            out_dir: out,
            seed: 1,
            progress: false,
        })
        .unwrap()
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let m = run(&a);
    assert_eq!(m.steps, 6);
    assert_eq!(m.tokens_seen, 384);
    assert!(m.masked_linears > 0);
    let (first, last) = (&m.history.evals[0], m.history.evals.last().unwrap());
    let kl = |e: &tradeoff_train::trainer::EvalPoint| e.teacher.unwrap().kl;
    assert!(
        kl(last) < kl(first) * 0.9,
        "val KL {} → {}",
        kl(first),
        kl(last)
    );
    assert_eq!(m.history.curve.len(), 6);
    assert!(m.data.checks.len() == 3 && m.data.name == "cpython-stdlib-calibration");
    // Adapted or not, every pruned weight stays zero (and the adapted ones changed).
    for name in [
        "blk.0.attn_q.weight",
        "blk.1.ffn_down.weight",
        "blk.0.attn_k.weight",
    ] {
        let before = zeros(&variant.join("model.gguf"), name);
        assert_eq!(before, zeros(&a.join("model.gguf"), name), "{name}");
    }
    assert_ne!(
        m.artifact_sha256,
        tradeoff_assets::sha256_file(&variant.join("model.gguf")).unwrap()
    );
    let again = run(&b);
    assert_eq!(
        again.artifact_sha256, m.artifact_sha256,
        "same inputs, same bytes"
    );
}
