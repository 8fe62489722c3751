//! `tradeoff route eval|policies|log`: which variant should answer each query, judged held out
//! on a run's per-problem outcomes, and what `tradeoff serve` decided.

use super::runs::StoreArg;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use tradeoff_eval::{bench, Benchmark, Executor, Language, Program, Prompt, Style};
use tradeoff_route::cascade::{CheckResult, Checker};
use tradeoff_route::{BenchTexts, EvalOptions, Problem, RouteEval, Study};
use tradeoff_serve::LogEntry;
use tradeoff_store::format_unix;

#[derive(Subcommand)]
pub enum RouteCmd {
    /// Judge routing policies on a run's stored outcomes, held out: k-fold by problem within
    /// each benchmark and train-on-one/test-on-another across them. Prints each policy's
    /// APGR, CPT(50%), CPT(80%), AIQ and compute saved at 95% of the best tier's pass@1, with
    /// bootstrap CIs, against random, each tier alone, the oracle and the cascade.
    #[command(after_help = "Examples:
  tradeoff runs import docs/results/routing-2tier.jsonl.gz
  tradeoff route eval routing-2tier --bench humaneval,mbpp --tiers 0.5b,1.5b
  tradeoff route eval routing-2tier --bench humaneval --tiers 0.5b,1.5b \\
      --policies tokens,complexity,embed-knn --json out/route.json")]
    Eval(EvalArgs),
    /// List the routing policies.
    Policies,
    /// Summarize a `tradeoff serve` routing log: requests per variant chosen and answering,
    /// fallbacks, statuses, latency and routing overhead percentiles; --csv writes every
    /// decision as a table.
    #[command(after_help = "Examples:
  tradeoff route log                       # the latest server session in the run store
  tradeoff route log --sessions            # every session: when, how many requests
  tradeoff route log --session all --csv decisions.csv
  tradeoff route log tradeoff-routing.jsonl   # the JSONL file `tradeoff serve --log` writes")]
    Log(LogArgs),
}

#[derive(clap::Args)]
pub struct LogArgs {
    /// A JSONL log `tradeoff serve --log` wrote [default: the run store's log].
    file: Option<PathBuf>,
    /// Which server session of the store's log (see --sessions), or "all" [default: the
    /// latest].
    #[arg(long, conflicts_with = "file")]
    session: Option<String>,
    /// List the server sessions in the store's log.
    #[arg(long, conflicts_with = "file")]
    sessions: bool,
    /// Also write every decision as CSV.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArg,
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Run id or name.
    run: String,
    /// Benchmarks whose outcomes to use (comma-separated); two or more add cross-benchmark
    /// protocols.
    #[arg(long, value_delimiter = ',', default_value = "humaneval")]
    bench: Vec<String>,
    /// Tiers, cheapest first: variant labels of the run, or a part that names one
    /// ("0.5b,1.5b").
    #[arg(long, value_delimiter = ',', required = true)]
    tiers: Vec<String>,
    /// Policies to judge (see `tradeoff route policies`) [default: random, tokens,
    /// complexity, ngram-logreg, and the embedding policies when all-minilm-l6-v2 is pulled].
    #[arg(long, value_delimiter = ',')]
    policies: Vec<String>,
    /// Folds of the within-benchmark protocol.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Bootstrap resamples behind every interval.
    #[arg(long, default_value_t = 1000)]
    resamples: usize,
    /// Leave out the cascade (it runs the queries' visible checks in the sandbox).
    #[arg(long)]
    no_cascade: bool,
    /// The seed rule's token threshold, reported as its own row.
    #[arg(long, default_value_t = 150)]
    seed_tokens: usize,
    /// Write the whole evaluation (curves included) as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// MBPP jsonl [default: $TRADEOFF_MBPP, else ../shared/data/mbpp/mbpp.jsonl].
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArg,
}

pub fn run(c: RouteCmd, threads: Option<usize>, allow_weak_sandbox: bool) -> Result<()> {
    match c {
        RouteCmd::Policies => {
            for (name, what, _) in tradeoff_route::POLICIES {
                println!("{name:<14} {what}");
            }
            println!(
                "{:<14} (evaluation only) the cheapest tier that solved each problem",
                "oracle"
            );
            println!(
                "{:<14} cheapest tier first; escalate when the query's own examples fail",
                "cascade"
            );
            Ok(())
        }
        RouteCmd::Eval(a) => eval(a, threads, allow_weak_sandbox),
        RouteCmd::Log(a) => log(a),
    }
}

/// The value at quantile `q` of sorted `xs`.
fn quantile(xs: &[f64], q: f64) -> f64 {
    xs.get(((xs.len() as f64 - 1.0) * q).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

/// The decisions `a` names, and where they came from.
fn log_entries(a: &LogArgs) -> Result<(Vec<LogEntry>, String)> {
    if let Some(file) = &a.file {
        let text = std::fs::read_to_string(file).with_context(|| {
            format!(
                "reading {} (the routing log `tradeoff serve --log` writes)",
                file.display()
            )
        })?;
        let entries = tradeoff_serve::read_log(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        return Ok((entries, file.display().to_string()));
    }
    let st = a.store.open()?;
    let sessions = st.routing_sessions()?;
    let Some(latest) = sessions.last() else {
        bail!(
            "{} holds no routing log yet: `tradeoff serve` writes one (or give a JSONL file)",
            st.path().display()
        );
    };
    let session = match a.session.as_deref() {
        Some("all") => None,
        Some(s) if sessions.iter().any(|x| x.session == s) => Some(s),
        Some(s) => {
            bail!("no server session '{s}' in the routing log: see `tradeoff route log --sessions`")
        }
        None => Some(latest.session.as_str()),
    };
    let entries = st
        .routing_log(session)?
        .iter()
        .enumerate()
        .map(|(i, j)| {
            serde_json::from_str(j).with_context(|| format!("routing log record {}", i + 1))
        })
        .collect::<Result<Vec<LogEntry>>>()?;
    let from = match session {
        Some(s) => format!("session '{s}' of {}", st.path().display()),
        None => format!("all sessions of {}", st.path().display()),
    };
    Ok((entries, from))
}

fn log_sessions(a: &LogArgs) -> Result<()> {
    let st = a.store.open()?;
    println!("{:<36} {:>9}  {:<19}  last", "session", "requests", "first");
    for s in st.routing_sessions()? {
        println!(
            "{:<36} {:>9}  {}  {}",
            s.session,
            s.requests,
            format_unix(s.first_unix),
            format_unix(s.last_unix)
        );
    }
    Ok(())
}

fn log(a: LogArgs) -> Result<()> {
    if a.sessions {
        return log_sessions(&a);
    }
    let (entries, from) = log_entries(&a)?;
    println!("{} requests in {from}", entries.len());
    let mut by: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for e in &entries {
        by.entry((e.policy.clone(), e.chosen.clone()))
            .or_default()
            .0 += 1;
        if let Some(t) = &e.answered {
            by.entry((e.policy.clone(), t.clone())).or_default().1 += 1;
        }
        *statuses.entry(e.status).or_default() += 1;
    }
    println!(
        "\n{:<24} {:<28} {:>8} {:>9}",
        "policy", "variant", "chosen", "answered"
    );
    for ((p, t), (c, n)) in &by {
        println!("{p:<24} {t:<28} {c:>8} {n:>9}");
    }
    let fallbacks = entries.iter().filter(|e| !e.fallbacks.is_empty()).count();
    println!(
        "\nfallbacks: {fallbacks} requests answered by another variant than chosen or refused"
    );
    let mut reasons: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for f in entries.iter().flat_map(|e| &e.fallbacks) {
        *reasons.entry((&f.variant, &f.error)).or_default() += 1;
    }
    for ((variant, error), n) in &reasons {
        println!("  {n:>6} × {variant}: {error}");
    }
    let st: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    println!("statuses: {}", st.join(", "));
    let mut lat: Vec<f64> = entries.iter().map(|e| e.latency_s).collect();
    let mut rt: Vec<f64> = entries.iter().map(|e| e.route_ms).collect();
    lat.sort_by(f64::total_cmp);
    rt.sort_by(f64::total_cmp);
    if !entries.is_empty() {
        println!(
            "latency p50 {:.3} s, p99 {:.3} s; routing decision p50 {:.3} ms, p99 {:.3} ms",
            quantile(&lat, 0.5),
            quantile(&lat, 0.99),
            quantile(&rt, 0.5),
            quantile(&rt, 0.99)
        );
    }
    if let Some(path) = &a.csv {
        let mut out = String::from(
            "time,id,endpoint,prompt_sha256,prompt_tokens,policy,score,chosen,answered,fallbacks,stream,status,latency_s,route_ms,completion_tokens\n",
        );
        for e in &entries {
            let fb: Vec<String> = e
                .fallbacks
                .iter()
                .map(|f| format!("{}: {}", f.variant, f.error))
                .collect();
            let cells = [
                format!("{:.3}", e.time),
                e.id.clone(),
                e.endpoint.clone(),
                e.prompt_sha256.clone(),
                e.prompt_tokens.to_string(),
                e.policy.clone(),
                e.score.map(|s| s.to_string()).unwrap_or_default(),
                e.chosen.clone(),
                e.answered.clone().unwrap_or_default(),
                fb.join("; "),
                e.stream.to_string(),
                e.status.to_string(),
                format!("{:.4}", e.latency_s),
                format!("{:.4}", e.route_ms),
                e.completion_tokens.to_string(),
            ];
            let row: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&row.join(","));
            out.push('\n');
        }
        std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// A CSV cell, quoted when it holds a comma, quote or newline.
fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn load_benches(
    names: &[String],
    data: Option<PathBuf>,
) -> Result<BTreeMap<String, Box<dyn Benchmark>>> {
    names
        .iter()
        .map(|n| {
            let b = bench::load(
                n,
                &bench::LoadOptions {
                    cache_dir: tradeoff_assets::cache_dir(),
                    data: Some(data.clone().unwrap_or_else(bench::default_mbpp_path)),
                    split: None,
                },
            )?;
            Ok((n.clone(), b))
        })
        .collect()
}

/// What a router sees of a problem: the user's message (or the plain prompt).
fn query_text(p: &Prompt) -> String {
    match p {
        Prompt::Chat { messages, .. } => messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| m.content.clone())
            .unwrap_or_default(),
        Prompt::Completion { text, .. } => text.clone(),
    }
}

/// Runs stored completions against the checks a query shows, in the sandbox.
struct SandboxChecker<'a> {
    exec: Executor,
    benches: &'a BTreeMap<String, Box<dyn Benchmark>>,
}

impl Checker for SandboxChecker<'_> {
    fn check(&self, problem: &Problem, completion: &str, tests: &str) -> CheckResult {
        let b = &self.benches[&problem.bench];
        let Some(i) = b.index_of(&problem.task_id) else {
            return CheckResult {
                passed: false,
                exec_s: 0.0,
            };
        };
        let prompt = b.prompt(i, Style::Instruct);
        let prefill = prompt.prefill();
        let solution = b.solution(i, Style::Instruct, &format!("{prefill}{completion}"));
        let out = self.exec.run(
            &Program {
                language: Language::Python,
                solution,
                tests: tests.to_string(),
            },
            5.0,
        );
        CheckResult {
            passed: out.status == tradeoff_eval::Status::Pass,
            exec_s: out.exec_s.unwrap_or(0.0),
        }
    }
}

fn default_policies(embedder: bool) -> Vec<String> {
    let mut p: Vec<String> = ["random", "tokens", "complexity", "ngram-logreg"]
        .map(String::from)
        .to_vec();
    if embedder {
        p.extend(["embed-logreg", "embed-knn"].map(String::from));
    }
    p
}

pub(crate) fn embedder(needed: bool) -> Result<Option<Arc<tradeoff_route::Embedder>>> {
    let asset = tradeoff_assets::find(tradeoff_assets::Kind::Model, "all-minilm-l6-v2")?;
    let root = tradeoff_assets::cache_dir();
    if !needed && !asset.is_pulled(&root) {
        return Ok(None);
    }
    let dir = asset.require(&root)?;
    Ok(Some(Arc::new(tradeoff_route::Embedder::load(&dir)?)))
}

/// The queries each benchmark showed, keyed by task id, for `Study::from_store`.
fn bench_texts(benches: &BTreeMap<String, Box<dyn Benchmark>>) -> BTreeMap<String, BenchTexts> {
    benches
        .iter()
        .map(|(n, b)| {
            let by_task = (0..b.len())
                .map(|i| {
                    (
                        b.task_id(i).to_string(),
                        query_text(&b.prompt(i, Style::Instruct)),
                    )
                })
                .collect();
            (
                n.clone(),
                BenchTexts {
                    sha256: b.dataset().sha256.clone(),
                    by_task,
                },
            )
        })
        .collect()
}

/// Benchmarks by name.
type Benches = BTreeMap<String, Box<dyn Benchmark>>;

/// A routing study of `run`'s `tiers` on `bench`, query texts from the benchmarks' data.
pub(crate) fn load_study(
    store: &tradeoff_store::Store,
    run: &str,
    bench: &[String],
    tiers: &[String],
    data: Option<PathBuf>,
) -> Result<(Study, Benches)> {
    let benches = load_benches(bench, data)?;
    let study = Study::from_store(store, run, bench, tiers, &bench_texts(&benches))?;
    Ok((study, benches))
}

fn eval(a: EvalArgs, threads: Option<usize>, allow_weak_sandbox: bool) -> Result<()> {
    let mut store = a.store.open()?;
    let (mut study, benches) = load_study(&store, &a.run, &a.bench, &a.tiers, a.data.clone())?;
    let wants_embed = a
        .policies
        .iter()
        .any(|p| tradeoff_route::policy::needs_embedding(p));
    let emb = embedder(wants_embed)?;
    let policies = if a.policies.is_empty() {
        default_policies(emb.is_some())
    } else {
        a.policies.clone()
    };
    if let (Some(e), true) = (
        &emb,
        policies
            .iter()
            .any(|p| tradeoff_route::policy::needs_embedding(p)),
    ) {
        let bar = super::progress_bar(study.problems.len() as u64, "embedding queries");
        for p in &mut study.problems {
            p.query.embedding = Some(e.embed(&p.query.text)?.into());
            bar.inc(1);
        }
        bar.finish_and_clear();
    }
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let checker = if a.no_cascade {
        None
    } else {
        Some(SandboxChecker {
            exec: Executor::new(
                crate::sandbox(allow_weak_sandbox)?,
                tradeoff_eval::ExecOptions::default(),
            ),
            benches: &benches,
        })
    };
    let opts = EvalOptions {
        policies,
        folds: a.folds,
        seed_tokens: a.seed_tokens,
        resamples: a.resamples,
        seed: 0,
        args: tradeoff_route::PolicyArgs {
            tiers: study.tiers.iter().map(|t| t.label.clone()).collect(),
            arg: None,
            seed: 0,
            embedder: emb,
        },
        threads,
    };
    let ev = tradeoff_route::evaluate(&study, &opts, checker.as_ref().map(|c| c as &dyn Checker))?;
    print_eval(&ev);
    save(&mut store, &a, &opts.policies, &ev)?;
    if let Some(path) = &a.json {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(&ev)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}

/// Stores the evaluation as a `route` result of the run, under its strongest tier, keyed by
/// everything that decides it (the tiers' stored results are content-keyed themselves).
fn save(
    store: &mut tradeoff_store::Store,
    a: &EvalArgs,
    policies: &[String],
    ev: &RouteEval,
) -> Result<()> {
    let run = store.resolve_run(&a.run)?;
    let strongest = &ev.tiers.last().expect("two tiers or more").variant;
    let (version, rev) = tradeoff_store::build_info();
    let spec = tradeoff_store::ResultSpec {
        params: serde_json::json!({
            "benches": a.bench, "tiers": ev.tiers.iter().map(|t| &t.variant).collect::<Vec<_>>(),
            "policies": policies, "folds": a.folds, "resamples": a.resamples,
            "seed_tokens": a.seed_tokens, "cascade": !a.no_cascade,
            "tool_version": version, "git_rev": rev,
            // The embedder's linear layers run int8 where the engine's kernels do, f32 elsewhere.
            "kernels": tradeoff_engine::kernels::id(),
        }),
        ..tradeoff_store::ResultSpec::new(strongest, tradeoff_store::Kind::Route, "route")
    };
    let record = serde_json::to_value(ev)?;
    let metrics: Vec<tradeoff_eval::Metric> = ev
        .protocols
        .iter()
        .flat_map(|p| {
            p.rows.iter().filter_map(move |r| {
                let f = r.figures.as_ref()?;
                Some(tradeoff_eval::Metric {
                    ci95: f.apgr.ci95,
                    n: Some(p.test_problems),
                    ..tradeoff_eval::Metric::new(
                        format!("{} / {} / APGR", p.title, r.name),
                        f.apgr.value,
                        true,
                    )
                })
            })
        })
        .collect();
    match store.begin_result(run.id, &spec)? {
        tradeoff_store::Started::Cached(_) => {
            println!("\n(this evaluation is already in run '{}')", run.name)
        }
        tradeoff_store::Started::Todo { id, .. } => {
            store.finish_result(id, &metrics, &record)?;
            println!(
                "\nstored in run '{}': `tradeoff report {}` draws it",
                run.name, run.name
            );
        }
    }
    Ok(())
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}", 100.0 * x)
    } else {
        "-".into()
    }
}

fn with_ci(w: &tradeoff_route::metrics::WithCi) -> String {
    match w.ci95 {
        Some((lo, hi)) => format!("{} [{}, {}]", pct(w.value), pct(lo), pct(hi)),
        None => pct(w.value),
    }
}

/// A difference in percentage points with its interval: "+23.1 [5.2, 41.0]".
fn signed_ci(w: &tradeoff_route::metrics::WithCi) -> String {
    let pp = |x: f64| format!("{:+.1}", 100.0 * x);
    match w.ci95 {
        Some((lo, hi)) => format!("{} [{}, {}]", pp(w.value), pp(lo), pp(hi)),
        None => pp(w.value),
    }
}

fn print_eval(ev: &RouteEval) {
    println!(
        "run '{}': {} problems ({})",
        ev.run,
        ev.problems,
        ev.benches.join(", ")
    );
    println!("cost: {}", ev.cost_unit);
    for (t, tier) in ev.tiers.iter().enumerate() {
        println!(
            "  tier {t}: {} (prefill {:.0} tok/s, decode {:.1} tok/s)",
            tier.label, tier.prefill_tok_s, tier.decode_tok_s
        );
    }
    for p in &ev.protocols {
        println!("\n== {} ({} test problems)", p.title, p.test_problems);
        for (t, s) in p.tiers.iter().enumerate() {
            println!(
                "  tier {t}: pass@1 {}%, {:.2} s/query",
                pct(s.quality),
                s.cost
            );
        }
        println!(
            "  {:<26} {:>22} {:>22} {:>22} {:>22} {:>22}",
            "policy (curves)",
            "APGR %",
            "CPT(50%) %calls",
            "CPT(80%) %calls",
            "AIQ (pass@1 %)",
            "saved @95% best %"
        );
        for r in p.rows.iter().filter(|r| r.figures.is_some()) {
            let f = r.figures.as_ref().expect("curve row");
            println!(
                "  {:<26} {:>22} {:>22} {:>22} {:>22} {:>22}",
                r.name,
                with_ci(&f.apgr),
                with_ci(&f.cpt50),
                with_ci(&f.cpt80),
                with_ci(&f.aiq),
                with_ci(&f.saved95)
            );
        }
        let vs: Vec<String> = p
            .rows
            .iter()
            .filter(|r| r.name != "random")
            .filter_map(|r| {
                Some(format!(
                    "{} {}",
                    r.name,
                    signed_ci(r.apgr_vs_random.as_ref()?)
                ))
            })
            .collect();
        if !vs.is_empty() {
            println!(
                "  APGR minus random's, paired bootstrap (above zero: better than random): {}",
                vs.join("; ")
            );
        }
        println!(
            "  {:<26} {:>9} {:>10} {:>9} {:>22} {:>22}",
            "fixed points", "pass@1 %", "s/query", "%last", "pass@1 vs best %", "cost vs best %"
        );
        for r in p.rows.iter().filter(|r| r.point.is_some()) {
            let f = r.point.as_ref().expect("point row");
            println!(
                "  {:<26} {:>9} {:>10.2} {:>9} {:>22} {:>22}{}",
                r.name,
                pct(f.summary.quality),
                f.summary.cost,
                pct(f.summary.strong_share),
                with_ci(&f.quality_vs_best),
                with_ci(&f.cost_vs_best),
                r.note
                    .as_ref()
                    .map(|n| format!("  ({n})"))
                    .unwrap_or_default()
            );
        }
        let saw: Vec<String> = p
            .rows
            .iter()
            .filter(|r| r.figures.is_some())
            .map(|r| format!("{}: {}", r.name, r.saw))
            .collect();
        println!("  trained on: {}", saw.join("; "));
    }
}
