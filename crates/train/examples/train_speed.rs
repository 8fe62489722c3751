//! LoRA training speed: tokens per second of full optimizer steps (forward, cross-entropy,
//! backward, clipping, AdamW) on a model's GGUF, dequantized to f32 and frozen, with adapters
//! on all seven linears. `scripts/train-bench.sh` runs it beside PyTorch + PEFT on the same
//! GGUF, windows, rank, sequence length and batch, and prints the ratio.
//!
//! ```text
//! cargo run --release -p tradeoff-train --example train_speed -- smollm2-135m [--steps 4]
//!     [--batch 4] [--seq 256] [--r 16] [--tokens FILE]
//! ```
//! FILE: token ids, whitespace-separated, `batch × seq` of them (the script shares one file
//! with PyTorch); default: a fixed pseudo-random sequence. The first step is a warm-up and not
//! timed. Prints one JSON line.

use candle_core::DType;
use std::time::Instant;
use tradeoff_train::objective::cross_entropy;
use tradeoff_train::optim::{clip_global_norm, AdamW, OptimConfig};
use tradeoff_train::{Base, Lora, LoraConfig};

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| {
            v.parse().unwrap_or_else(|_| panic!("{name} {v}"))
        })
}

fn main() {
    let model = std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "smollm2-135m".into());
    let (steps, batch, seq, r) = (
        arg("--steps", 4usize),
        arg("--batch", 4usize),
        arg("--seq", 256usize),
        arg("--r", 16usize),
    );
    let tokens: Vec<u32> = match std::env::args().skip_while(|a| a != "--tokens").nth(1) {
        Some(f) => std::fs::read_to_string(&f)
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .split_whitespace()
            .map(|t| t.parse().expect("token id"))
            .collect(),
        None => (0..batch * seq)
            .map(|i| (i as u32 * 7919 + 17) % 30000)
            .collect(),
    };
    assert_eq!(tokens.len(), batch * seq, "--tokens: batch × seq ids");
    let gguf = match tradeoff_engine::resolve(&model).expect("model") {
        tradeoff_engine::ModelPath::Gguf(p) => p,
        other => panic!("{other:?}: a GGUF model"),
    };
    let base = Base::load(&gguf, DType::F32, false).expect("load");
    let ad = base
        .adapters(&LoraConfig::every_linear(r, 2.0 * r as f64), 0)
        .expect("adapters");
    let vars = ad.vars();
    let optim = OptimConfig::default();
    let mut opt = AdamW::new(&optim, &vars).expect("optimizer");
    let mut timed = Vec::new();
    for step in 0..=steps {
        let t0 = Instant::now();
        let lora = Lora {
            adapters: &ad,
            grad: true,
            dropout: None,
        };
        let logits = base.forward(&tokens, batch, Some(lora)).expect("forward");
        let loss = cross_entropy(&logits, &tokens, batch).expect("loss");
        let grads = loss.backward().expect("backward");
        let mut g: Vec<_> = vars
            .iter()
            .map(|v| grads.get(v).expect("gradient").clone())
            .collect();
        clip_global_norm(&mut g, optim.clip).expect("clip");
        opt.step(&vars, &g, optim.lr).expect("step");
        if step > 0 {
            timed.push(t0.elapsed().as_secs_f64());
        }
    }
    let secs: f64 = timed.iter().sum();
    println!(
        "{}",
        serde_json::json!({
            "impl": "tradeoff", "model": model, "steps": steps, "batch": batch, "seq": seq,
            "r": r, "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "tokens_per_s": (steps * batch * seq) as f64 / secs,
            "peak_rss_bytes": tradeoff_record::proc::peak_rss_bytes(),
        })
    );
}
