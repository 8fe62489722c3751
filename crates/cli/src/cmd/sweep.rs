//! `tradeoff sweep`: the main job. Builds every variant of a config, measures it, stores it,
//! and writes the report.

use super::report::stem;
use super::runs::StoreArg;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use tradeoff_report::{analyse, pdf::Pdf, write, Options};
use tradeoff_store::Store;
use tradeoff_sweep::{Outcome, SweepConfig, SweepOptions};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
The config names models, the variants to make of each (compression recipes; see `tradeoff \
compress --list`) and what to measure: [eval] benchmarks (pass@k with CIs), [quality] \
(perplexity, KL divergence, top-1 agreement against the model's original weights dequantized \
to f32), [perf] (TTFT, tok/s, latency percentiles, peak memory, cost). See examples/demo.toml.

Everything is cached by content hash: a variant built before is reused, a result computed \
before (same variant, same inputs) is not recomputed. Kill it at any point and run the same \
command again: it resumes, keeping every problem already scored.

Examples:
  tradeoff sweep examples/demo.toml
  tradeoff sweep examples/qwen-coder.toml --out out/qwen
  tradeoff report demo-qwen --cost size_bytes,decode_tok_s   # redraw with other axes")]
pub struct SweepArgs {
    /// The sweep's TOML config.
    pub config: PathBuf,
    /// Where the report goes.
    #[arg(long, default_value = "out/report")]
    pub out: PathBuf,
    /// Do not write the report at the end (`tradeoff report NAME` writes it later).
    #[arg(long)]
    pub no_report: bool,
    /// Do not try to print the report as PDF.
    #[arg(long)]
    pub no_pdf: bool,
    /// Folder for compressed variants [default: $TRADEOFF_HOME/variants].
    #[arg(long, env = "TRADEOFF_VARIANTS", value_name = "DIR")]
    pub variants: Option<PathBuf>,
    /// Programs executed at once while scoring (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub store: StoreArg,
}

pub fn run(
    a: &SweepArgs,
    threads: Option<usize>,
    batch: Option<usize>,
    allow_weak_sandbox: bool,
) -> Result<()> {
    let (cfg, text) = SweepConfig::load(&a.config)?;
    let dir = a.config.parent().unwrap_or(Path::new("."));
    let mut opts = SweepOptions::new(dir);
    if let Some(s) = &a.store.store {
        opts.store = s.clone();
    }
    if let Some(v) = &a.variants {
        opts.variants_dir = v.clone();
    }
    opts.perf_exe = std::env::current_exe().ok();
    opts.jobs = a.jobs;
    opts.threads = threads;
    opts.batch = batch;
    opts.allow_weak_sandbox = allow_weak_sandbox;
    eprintln!(
        "sweep '{}': {} model(s) × {} variant(s); store {}",
        cfg.name,
        cfg.models.len(),
        cfg.variants.len(),
        opts.store.display()
    );
    let summary = tradeoff_sweep::run(&cfg, &text, &opts)?;
    let (mut computed, mut reused) = (0, 0);
    for s in &summary.steps {
        match s.outcome {
            Outcome::Computed => computed += 1,
            Outcome::Reused => reused += 1,
            Outcome::Failed(_) => {}
        }
    }
    println!(
        "run {} '{}'{}: {computed} steps computed, {reused} reused",
        summary.run_id,
        summary.run_name,
        if summary.resumed { " (resumed)" } else { "" }
    );
    if !a.no_report {
        let store = Store::open(&opts.store)?;
        let run = store.resolve_run(&summary.run_name)?;
        let ropts = Options {
            quality: cfg.report.quality.clone(),
            costs: cfg.report.costs.clone(),
            ..Options::default()
        };
        let report = analyse(&store, &run, &ropts)?;
        let w = write(&report, &a.out, &stem(&run.name), !a.no_pdf)?;
        println!("report: {}", w.html.display());
        println!("        {}  {}", w.csv.display(), w.json.display());
        if let Pdf::Written(p) = &w.pdf {
            println!("        {}", p.display());
        }
    }
    let failed: Vec<_> = summary.failures().collect();
    if !failed.is_empty() {
        for s in &failed {
            if let Outcome::Failed(e) = &s.outcome {
                eprintln!("failed: {} {}: {e}", s.variant, s.what);
            }
        }
        bail!(
            "{} step(s) failed (the rest is stored); fix the cause and run the same command to finish",
            failed.len()
        );
    }
    Ok(())
}
