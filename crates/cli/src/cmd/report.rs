//! `tradeoff report`: the trade-off report of a stored run.

use super::runs::StoreArg;
use anyhow::Result;
use std::path::PathBuf;
use tradeoff_report::{analyse, pdf::Pdf, write, Options};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Writes RUN.html (self-contained: inline CSS and SVG, opens offline), RUN.csv and RUN.json \
(one row per variant × metric, with the comparison against the baseline), and RUN.pdf when \
a headless Chromium is installed.

The report shows: Pareto frontiers of each quality metric against each cost metric with 95% \
CI whiskers and the area under the cost-quality hull; bars per metric; a per-problem heatmap \
of which variant solved what; and a table of every variant × metric with its CI, Δ vs the \
baseline (for pass@1: Newcombe's paired CI with one sample per problem, else a paired \
bootstrap CI) and the exact McNemar p-value on each problem's first sample, with significance \
judged after Holm's correction over all the report's McNemar tests.

Examples:
  tradeoff report                          # the latest run, into out/report/
  tradeoff report q4-sweep --cost size_bytes,decode_tok_s --out /tmp/r
  tradeoff report 3 --quality pass@1,kl_divergence --no-pdf")]
pub struct ReportArgs {
    /// Run id or name [default: the latest run].
    pub run: Option<String>,
    /// Folder to write into.
    #[arg(long, default_value = "out/report")]
    pub out: PathBuf,
    /// Quality metrics for the frontiers, comma-separated [default: pass@1 of each benchmark
    /// and every quality-vs-baseline metric].
    #[arg(long, value_delimiter = ',')]
    pub quality: Vec<String>,
    /// Cost metrics for the frontiers, comma-separated, e.g. size_bytes, peak_rss_bytes,
    /// decode_tok_s, latency_p90_s [default: every perf metric and size_bytes].
    #[arg(long, value_delimiter = ',')]
    pub cost: Vec<String>,
    /// Bootstrap resamples for the paired Δpass@1 intervals (several samples per problem).
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Family-wise significance level of the McNemar tests (Holm-corrected).
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Do not try to print a PDF.
    #[arg(long)]
    pub no_pdf: bool,
    #[command(flatten)]
    pub store: StoreArg,
}

/// A file name from a run name.
pub fn stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub fn run(a: &ReportArgs) -> Result<()> {
    let store = a.store.open()?;
    let run = store.resolve_run(a.run.as_deref().unwrap_or("latest"))?;
    let opts = Options {
        quality: a.quality.clone(),
        costs: a.cost.clone(),
        bootstrap: a.bootstrap,
        seed: a.seed,
        alpha: a.alpha,
    };
    let report = analyse(&store, &run, &opts)?;
    let w = write(&report, &a.out, &stem(&run.name), !a.no_pdf)?;
    println!("report of run {} '{}':", run.id, run.name);
    for p in [&w.html, &w.csv, &w.json] {
        println!("  {}", p.display());
    }
    match &w.pdf {
        Pdf::Written(p) => println!("  {}", p.display()),
        Pdf::Skipped(why) if !a.no_pdf => println!("  no PDF: {why}"),
        Pdf::Skipped(_) => {}
    }
    for n in &report.notes {
        println!("note: {n}");
    }
    Ok(())
}
