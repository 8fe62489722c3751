//! `tradeoff quality` and `tradeoff bench`.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;
use tradeoff_engine::{inspect, resolve, LoadOptions, LocalEngine};
use tradeoff_eval::Metric;
use tradeoff_measure::perf::FileInfo;
use tradeoff_measure::{perf, quality, Baseline, PerfOptions, QualityOptions};

#[derive(Args)]
pub struct QualityArgs {
    /// The variant: catalog name, GGUF file or model folder.
    #[arg(long, short)]
    pub model: String,
    /// The model it is compared with. A quantized GGUF is dequantized to f32 first (the
    /// closest thing to the original weights when no f16 file exists).
    #[arg(long, short)]
    pub baseline: String,
    /// Tokens per window of the held-out corpus (the second half of each is scored).
    #[arg(long, default_value_t = 512)]
    pub ctx: usize,
    /// Windows scored at most.
    #[arg(long, default_value_t = 32)]
    pub chunks: usize,
    /// Baseline log-probabilities kept per position (KL divergence is over these + the rest).
    #[arg(long, default_value_t = 128)]
    pub top_k: usize,
    /// Write the result record (JSON) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Catalog name, GGUF file, model folder, or http://HOST:PORT/v1#MODEL.
    #[arg(long, short)]
    pub model: String,
    /// Requests in the workload (the first N HumanEval prompts).
    #[arg(long, default_value_t = 20)]
    pub prompts: usize,
    /// New tokens per request (end-of-sequence is ignored so every variant does equal work).
    #[arg(long, default_value_t = 128)]
    pub max_new_tokens: usize,
    /// Also run all requests at once through batched generation (0 or 1: skip).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Price of this machine per hour, for cost per 1,000 queries.
    #[arg(long, default_value_t = 1.0, env = "TRADEOFF_PRICE_PER_HOUR")]
    pub price_per_hour: f64,
    /// Prompt as plain completion instead of the chat template.
    #[arg(long)]
    pub base: bool,
    /// Write the result record (JSON) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run_quality(a: QualityArgs) -> Result<()> {
    let o = QualityOptions {
        ctx: a.ctx,
        max_chunks: a.chunks,
        top_k: a.top_k,
        ..Default::default()
    };
    let corpus = tradeoff_assets::corpus::eval_corpus()?;
    let bmp = resolve(&a.baseline)?;
    eprintln!(
        "baseline: {} ({} windows of {} tokens; cached after the first time)",
        a.baseline, o.max_chunks, o.ctx
    );
    let base = Baseline::obtain(
        &a.baseline,
        &bmp,
        &corpus,
        &o,
        &tradeoff_assets::cache_dir(),
    )?;
    let vmp = resolve(&a.model)?;
    let vsha = quality::model_id(&vmp)?;
    let ve = LocalEngine::load(&vmp, LoadOptions::default())?;
    let r = quality::measure(
        &ve.model,
        &ve.tokenizer,
        &corpus,
        &base,
        &o,
        (&a.model, Some(&vsha)),
    )?;
    println!("{} vs {} ({})", a.model, a.baseline, r.baseline.weights);
    println!(
        "corpus: {} ({} windows × {} tokens, {} scored), sha256 {}",
        r.baseline.corpus,
        r.baseline.chunks,
        r.baseline.ctx,
        r.windows.iter().map(|w| w.scored).sum::<usize>(),
        &r.baseline.corpus_sha256[..12]
    );
    print_metrics(&r.metrics);
    println!("KL divergence: {}", r.kld_method);
    write_out(a.out.as_ref(), &r)
}

pub fn run_bench(a: BenchArgs) -> Result<()> {
    let o = PerfOptions {
        prompts: a.prompts,
        max_new_tokens: a.max_new_tokens,
        concurrency: a.concurrency,
        price_per_hour: a.price_per_hour,
        style: if a.base {
            tradeoff_eval::Style::Base
        } else {
            tradeoff_eval::Style::Instruct
        },
        ..Default::default()
    };
    let t = Instant::now();
    let (mut engine, file): (Box<dyn tradeoff_engine::Engine>, _) = if a.model.starts_with("http") {
        (
            tradeoff_engine::open_engine(&a.model, LoadOptions::default())?,
            None,
        )
    } else {
        let mp = resolve(&a.model)?;
        let info = inspect(&mp)?;
        let file = FileInfo {
            path: info.path.clone(),
            bytes: info.file_bytes,
            n_params: info.n_params,
            bits_per_weight: info.bits_per_weight,
        };
        let mut e = LocalEngine::load(&mp, LoadOptions::default())?;
        e.opts.max_batch = Some(a.concurrency.max(1));
        (Box::new(e) as Box<dyn tradeoff_engine::Engine>, Some(file))
    };
    let load_s = t.elapsed().as_secs_f64();
    let r = perf::run(engine.as_mut(), &o, Some(load_s), file)?;
    println!(
        "{} on {} ({} threads)",
        a.model,
        r.machine.cpu,
        r.model.threads.unwrap_or(r.machine.threads)
    );
    println!("workload: {}", r.workload);
    print_metrics(&r.metrics);
    for n in &r.notes {
        println!("note: {n}");
    }
    write_out(a.out.as_ref(), &r)
}

pub fn print_metrics(ms: &[Metric]) {
    for m in ms {
        let ci = m
            .ci95
            .map(|(lo, hi)| format!("  95% CI [{}, {}]", fmt(lo), fmt(hi)))
            .unwrap_or_default();
        let unit = m
            .unit
            .as_deref()
            .map(|u| format!(" {u}"))
            .unwrap_or_default();
        println!("  {:<24} {}{unit}{ci}", m.name, fmt(m.value));
    }
}

fn fmt(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e7).contains(&a) {
        format!("{v:.3e}")
    } else if a < 10.0 {
        format!("{v:.4}")
    } else {
        format!("{v:.1}")
    }
}

fn write_out<T: serde::Serialize>(out: Option<&PathBuf>, r: &T) -> Result<()> {
    if let Some(p) = out {
        if let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(p, serde_json::to_vec_pretty(r)?)
            .with_context(|| format!("writing {}", p.display()))?;
        println!("record: {}", p.display());
    }
    Ok(())
}
