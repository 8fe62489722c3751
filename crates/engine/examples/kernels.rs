//! tradeoff's quantized matmul kernels against candle's `QMatMul` on the same weights, in one
//! run: billions of multiply-adds per second for each weight type and batch size, and the
//! ratio. Shapes are Qwen2.5-Coder-1.5B's MLP (1536 → 8960 → 1536), which every type can hold.
//!
//! ```text
//! cargo run --release -p tradeoff-engine --example kernels -- [--reps 20] [--types q4_0,q4k,q6k]
//! ```

use anyhow::{bail, Context, Result};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use std::time::Instant;
use tradeoff_engine::kernels::{self, Kind, Packed};

const SHAPES: [(usize, usize); 2] = [(8960, 1536), (1536, 8960)];
const BATCHES: [usize; 4] = [1, 4, 16, 64];

fn dtype(name: &str) -> Result<GgmlDType> {
    Ok(match name {
        "q4_0" => GgmlDType::Q4_0,
        "q4_1" => GgmlDType::Q4_1,
        "q5_0" => GgmlDType::Q5_0,
        "q8_0" => GgmlDType::Q8_0,
        "q4k" => GgmlDType::Q4K,
        "q6k" => GgmlDType::Q6K,
        _ => bail!("unknown type {name}: use q4_0, q4_1, q5_0, q8_0, q4k or q6k"),
    })
}

/// Best of `reps` timings of `f`, in seconds.
fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() -> Result<()> {
    let mut reps = 20;
    let mut types = "q4_0,q5_0,q8_0,q4k,q6k".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--reps" => reps = args.next().context("--reps N")?.parse()?,
            "--types" => types = args.next().context("--types LIST")?,
            _ => bail!("unknown argument {a}: use --reps N, --types LIST"),
        }
    }
    println!("kernels: {}", kernels::describe());
    println!(
        "{:<6} {:>11} {:>4} {:>12} {:>12} {:>7}",
        "type", "n x k", "m", "tradeoff", "candle", "ratio"
    );
    for name in types.split(',') {
        let t = dtype(name)?;
        for (n, k) in SHAPES {
            let w: Vec<f32> = (0..n * k)
                .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 500.0)
                .collect();
            let w = Tensor::from_vec(w, (n, k), &Device::Cpu)?;
            let qt = QTensor::quantize(&w, t)?;
            let kind = Kind::from_ggml(t).context("type without a tradeoff kernel")?;
            let packed = Packed::new(kind, n, k, &qt.data()?)?;
            let qmm = QMatMul::from_qtensor(qt)?;
            for m in BATCHES {
                let x: Vec<f32> = (0..m * k)
                    .map(|i| ((i * 104729 % 997) as f32 - 498.0) / 498.0)
                    .collect();
                let xt = Tensor::from_vec(x.clone(), (m, k), &Device::Cpu)?;
                let ours = best(reps, || {
                    packed.matmul(&x, m).expect("matmul");
                });
                let theirs = best(reps, || {
                    qmm.forward(&xt).expect("forward");
                });
                let gmacs = |s: f64| (m * n * k) as f64 / s / 1e9;
                println!(
                    "{:<6} {:>11} {:>4} {:>9.1} G/s {:>9.1} G/s {:>6.2}x",
                    name,
                    format!("{n}x{k}"),
                    m,
                    gmacs(ours),
                    gmacs(theirs),
                    theirs / ours
                );
            }
        }
    }
    Ok(())
}
