//! `tradeoff eval` and `tradeoff eval-samples`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use tradeoff_engine::GenParams;
use tradeoff_eval::{
    bench, samples, BenchResult, Benchmark, Error, EvalOptions, Evaluator, ExecOptions, Executor,
    LoadOptions, Style,
};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum StyleArg {
    /// Plain completion with the benchmark's stop sequences.
    Base,
    /// Chat template; answer pre-filled with a code fence (Qwen2.5-Coder report's prompt).
    Instruct,
}

/// Where benchmark data comes from.
#[derive(clap::Args, Debug)]
pub struct DataArgs {
    /// MBPP split: test (task ids 11-510), validation, train, prompt (1-10) or all.
    #[arg(long)]
    pub split: Option<String>,
    /// MBPP data file (mbpp.jsonl, 974 problems); default ../shared/data/mbpp/mbpp.jsonl.
    /// For quixbugs-py/quixbugs-java: the QuixBugs folder (default $TRADEOFF_QUIXBUGS, else
    /// ../shared/data/quixbugs). For codexglue-*: CodeXGLUE's code-to-code-trans folder
    /// (default $TRADEOFF_CODEXGLUE, else ../shared/data/codexglue-code-to-code-trans).
    #[arg(long, env = "TRADEOFF_MBPP")]
    pub data: Option<PathBuf>,
}

/// How programs are run.
#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Programs run at once (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Python interpreter for programs (default: python3 on PATH, else /usr/bin/python3).
    #[arg(long, env = "TRADEOFF_PYTHON")]
    pub python: Option<PathBuf>,
    /// Start a fresh interpreter for each Python program instead of forking a warm one.
    #[arg(long)]
    pub cold_python: bool,
    /// Bootstrap resamples for the 95% confidence intervals (pass@k where every problem has
    /// exactly k samples, as pass@1 with --n 1, uses the Wilson score interval and needs none).
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Benchmarks, comma-separated: humaneval, mbpp, mbpp-reworded, humaneval-java,
    /// humaneval-cpp, humaneval-cs, quixbugs-py, quixbugs-java (program repair),
    /// humaneval-translate-java, humaneval-translate-cpp, humaneval-translate-cs (Python to
    /// Java/C++/C# translation, judged by tests), codexglue-java-cs, codexglue-cs-java (Java/C#
    /// translation, scored by exact match, BLEU and CodeBLEU).
    #[arg(long, value_delimiter = ',', required = true)]
    pub bench: Vec<String>,
    /// Model to evaluate (catalog name or file).
    #[arg(
        long,
        required_unless_present = "canonical",
        conflicts_with = "canonical"
    )]
    pub model: Option<String>,
    /// Run the benchmarks' reference solutions instead of a model.
    #[arg(long)]
    pub canonical: bool,
    #[arg(long, value_enum, default_value = "instruct")]
    pub style: StyleArg,
    /// Samples per problem.
    #[arg(long, default_value_t = 1)]
    pub n: usize,
    /// pass@k values to report (those <= n).
    #[arg(long, value_delimiter = ',', default_value = "1,5,10")]
    pub k: Vec<usize>,
    /// Sampling temperature (0: greedy).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Nucleus sampling: keep the most likely tokens up to this probability mass.
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Sample among the k most likely tokens.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Most tokens generated per sample.
    #[arg(long, default_value_t = 512)]
    pub max_new_tokens: usize,
    /// Seed of the sampler and of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Only the first N problems of each benchmark (quick checks).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Write the full result record (JSON): a file for one benchmark, a directory for several.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub exec: ExecArgs,
}

#[derive(clap::Args, Debug)]
pub struct SamplesArgs {
    /// JSONL samples: {"task_id": ..., "completion": ...} per line, several per task allowed.
    pub file: PathBuf,
    /// humaneval or mbpp (any benchmark name works).
    #[arg(long)]
    pub bench: String,
    /// pass@k values to report (those every problem has enough samples for).
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    pub k: Vec<usize>,
    /// Score only the problems that have samples.
    #[arg(long)]
    pub partial: bool,
    /// Also write the full result record (JSON) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub exec: ExecArgs,
}

fn load_options(data: &DataArgs) -> LoadOptions {
    LoadOptions {
        cache_dir: tradeoff_assets::cache_dir(),
        data: data.data.clone(),
        split: data.split.clone(),
    }
}

fn executor(args: &ExecArgs, allow_weak: bool) -> Result<Executor> {
    Ok(Executor::new(
        crate::sandbox(allow_weak)?,
        ExecOptions {
            python: args.python.clone(),
            warm_python: !args.cold_python,
        },
    ))
}

fn options(exec: &ExecArgs) -> EvalOptions {
    let mut o = EvalOptions {
        bootstrap: exec.bootstrap,
        progress: true,
        ..EvalOptions::default()
    };
    if let Some(j) = exec.jobs {
        o.jobs = j.max(1);
    }
    o
}

pub fn run(args: &EvalArgs, batch: Option<usize>, allow_weak: bool) -> Result<()> {
    if args.n == 0 {
        bail!("--n must be at least 1");
    }
    if args.n > 1 && args.temperature <= 0.0 && !args.canonical {
        tracing::warn!(
            "--n {} with greedy decoding gives identical samples; set --temperature",
            args.n
        );
    }
    if args.out.is_some() && args.bench.len() > 1 {
        let out = args.out.as_deref().expect("checked");
        std::fs::create_dir_all(out).with_context(|| {
            format!(
                "--out {} must be a directory for several benchmarks",
                out.display()
            )
        })?;
    }
    let exec = executor(&args.exec, allow_weak)?;
    let mut engine = match (&args.model, args.canonical) {
        (Some(spec), false) => Some(crate::load_engine(spec, batch)?),
        _ => None,
    };
    let mut opts = options(&args.exec);
    opts.style = match args.style {
        StyleArg::Base => Style::Base,
        StyleArg::Instruct => Style::Instruct,
    };
    opts.n = if args.canonical { 1 } else { args.n };
    opts.k = args.k.clone();
    opts.limit = args.limit;
    opts.seed = args.seed;
    opts.params = GenParams {
        max_new_tokens: args.max_new_tokens,
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        seed: args.seed,
        stop: Vec::new(),
        ignore_eos: false,
    };
    let load = load_options(&args.data);
    let mut ran = 0;
    for name in &args.bench {
        let bench = bench::load(name, &load)?;
        match exec.prepare(bench.language()) {
            Err(Error::Toolchain(why)) => {
                eprintln!("skipping {name}: {why}");
                continue;
            }
            other => other?,
        }
        if engine.is_none() && (0..bench.len()).all(|i| bench.reference(i).is_none()) {
            eprintln!(
                "skipping {name}: its data has no reference solutions (MultiPL-E ships none)"
            );
            continue;
        }
        let ev = Evaluator::new(bench.as_ref(), &exec, opts.clone());
        let result = match engine.as_deref_mut() {
            Some(engine) => ev.model(engine)?,
            None => ev.canonical()?,
        };
        print_summary(&result, bench.as_ref());
        if let Some(out) = &args.out {
            let path = if args.bench.len() > 1 {
                out.join(format!("{name}.json"))
            } else {
                out.clone()
            };
            write_json(&path, &result)?;
        }
        ran += 1;
    }
    if ran == 0 {
        bail!("no benchmark could run (see the messages above)");
    }
    if args.out.is_none() {
        eprintln!("(pass --out FILE to keep per-problem results)");
    }
    Ok(())
}

pub fn run_samples(args: &SamplesArgs, allow_weak: bool) -> Result<()> {
    let bench = bench::load(&args.bench, &load_options(&args.data))?;
    let lines = samples::read(&args.file)?;
    let (sets, at) = samples::group(bench.as_ref(), &args.file, &lines, args.partial)?;
    let exec = executor(&args.exec, allow_weak)?;
    let mut opts = options(&args.exec);
    opts.k = args.k.clone();
    opts.seed = args.seed;
    let result = Evaluator::new(bench.as_ref(), &exec, opts).completions(&sets)?;
    let out = samples::results_path(&args.file);
    samples::write_results(&out, &lines, |n| {
        let (pos, j) = at[n];
        result.problems[pos].samples[j].clone()
    })?;
    print_summary(&result, bench.as_ref());
    println!("results: {}", out.display());
    if let Some(path) = &args.out {
        write_json(path, &result)?;
    }
    Ok(())
}

fn write_json(path: &Path, result: &BenchResult) -> Result<()> {
    let text = serde_json::to_string_pretty(result)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    println!("record: {}", path.display());
    Ok(())
}

fn print_summary(r: &BenchResult, bench: &dyn Benchmark) {
    let split = r
        .split
        .as_deref()
        .map(|s| format!(", split {s}"))
        .unwrap_or_default();
    println!(
        "{} ({} problems{split}, {}, n={}): {:.1}s",
        r.benchmark,
        r.problems.len(),
        r.prompt.style,
        r.n,
        r.duration_s
    );
    for m in &r.metrics {
        let ci = m
            .ci95
            .map(|(lo, hi)| format!("  95% CI [{:.1}, {:.1}]", 100.0 * lo, 100.0 * hi))
            .unwrap_or_default();
        println!("  {:<8} {:5.1}%{ci}", m.name, 100.0 * m.value);
    }
    let counts: Vec<String> = r
        .status_counts
        .iter()
        .map(|(s, c)| format!("{} {c}", s.as_str()))
        .collect();
    println!("  samples: {}", counts.join(", "));
    if r.infra_errors > 0 {
        println!(
            "  {} harness error{} (excluded from pass@k)",
            r.infra_errors,
            if r.infra_errors == 1 { "" } else { "s" }
        );
    }
    if let Some(sb) = &r.sandbox {
        println!("  sandbox: {}", sb.isolation.describe());
        let weak = sb.isolation.weaknesses();
        if !weak.is_empty() {
            println!(
                "  WEAK SANDBOX ({}): generated code was less confined than tradeoff's full \
                 sandbox",
                weak.join(", ")
            );
        }
    }
    let failing: Vec<_> = r.failing().collect();
    // Similarity-scored samples never "pass": only executed references can fail.
    if r.prompt.style == "canonical" && r.scoring == "execution" && !failing.is_empty() {
        println!(
            "  {} reference solutions fail{}:",
            failing.len(),
            if bench.name() == "mbpp-reworded" {
                " (MBPP's code; MultiPL-E changed these problems' signatures or expected values)"
            } else {
                ""
            }
        );
        for p in failing.iter().take(100) {
            let s = &p.samples[0];
            println!(
                "    {} {}: {}",
                p.task_id,
                s.status.as_str(),
                s.detail.as_deref().unwrap_or("")
            );
        }
    }
}
