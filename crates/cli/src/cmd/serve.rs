//! `tradeoff serve`: an OpenAI-compatible endpoint over several variants, routing each request.

use super::runs::StoreArg;
use super::store_log::StoreLog;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tradeoff_engine::{LoadOptions, LocalEngine, RemoteEngine, Scheduler};
use tradeoff_route::{Example, Policy, PolicyArgs};
use tradeoff_serve::dashboard::{self, Dashboard};
use tradeoff_serve::openai::Limits;
use tradeoff_serve::{App, Backend, Options, Remote, Tier};
use tradeoff_store::{format_unix, now_unix, Store};

#[derive(clap::Args, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[command(after_help = "Examples:
  tradeoff serve --tier small=qwen2.5-coder-0.5b --tier large=qwen2.5-coder-1.5b
  tradeoff serve --tier small=qwen2.5-coder-0.5b --tier big=http://gpu-box:8000/v1#Qwen/Qwen2.5-Coder-7B-Instruct \\
      --policy ngram-logreg --threshold 0.6 --train-run routing-2tier --train-tiers 0.5b,1.5b
  tradeoff serve --tier q4=demo:q4_0 --tier orig=demo:original   # variants the demo sweep built
  tradeoff serve --config serve.toml
  tradeoff serve                                                 # the dashboard only

Then any OpenAI client: model \"auto\" routes by the default policy, a variant's name answers
with that variant, \"router-tokens-150\" routes by prompt tokens at 150. The header
X-Tradeoff-Variant overrides too. Responses say who answered in X-Tradeoff-Variant and why in
X-Tradeoff-Reason; every decision goes to the routing log (JSON lines) and to the run store
(`tradeoff route log` summarizes the latest server session).")]
pub struct ServeArgs {
    /// TOML file with any of these options (`tier = [\"small=…\", …]`, `policy = …`);
    /// flags given on the command line win.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// A variant to serve, cheapest first: NAME=MODEL (catalog name or GGUF path),
    /// NAME=RUN:VARIANT (a variant a sweep built, by its label in that run, or a part of one)
    /// or NAME=http://HOST:PORT/v1#MODEL-ID (an OpenAI-compatible server).
    #[arg(long = "tier", value_name = "NAME=MODEL")]
    #[serde(default)]
    tier: Vec<String>,
    /// What model "auto" routes by (see `tradeoff route policies`) [default: tokens].
    #[arg(long)]
    policy: Option<String>,
    /// The default policy's threshold [default: 150 for tokens, 3 for complexity, 0.5 for
    /// random, 0.6 for learned policies].
    #[arg(long)]
    threshold: Option<f64>,
    /// Fit the learned policies (ngram-logreg; embed-* when all-minilm-l6-v2 is pulled) on
    /// this run's per-problem outcomes at start-up.
    #[arg(long, value_name = "RUN")]
    train_run: Option<String>,
    /// The run's variants that play the tiers, cheapest first (labels or a part of one).
    #[arg(long, value_delimiter = ',')]
    #[serde(default)]
    train_tiers: Vec<String>,
    /// Benchmarks of the run to learn from [default: humaneval].
    #[arg(long, value_delimiter = ',')]
    #[serde(default)]
    train_bench: Vec<String>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    bind: Option<String>,
    /// Require `Authorization: Bearer KEY` from clients.
    #[arg(long, env = "TRADEOFF_API_KEY", hide_env_values = true)]
    #[serde(skip)]
    api_key: Option<String>,
    /// Routing log, one JSON line per request [default: tradeoff-routing.jsonl].
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Default and ceiling of a request's max_tokens [default: 1024].
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Seconds before a request moves to the next variant [default: 300].
    #[arg(long)]
    timeout: Option<f64>,
    /// Requests in flight per variant beyond which the next variant takes them [default: 64].
    #[arg(long)]
    max_in_flight: Option<usize>,
    #[command(flatten)]
    #[serde(skip)]
    store: StoreArg,
}

impl ServeArgs {
    /// Command-line values over the config file's.
    fn merged(self) -> Result<ServeArgs> {
        let Some(path) = &self.config else {
            return Ok(self);
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let f: ServeArgs = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
        let pick_vec = |a: Vec<String>, b: Vec<String>| if a.is_empty() { b } else { a };
        Ok(ServeArgs {
            config: self.config.clone(),
            tier: pick_vec(self.tier, f.tier),
            policy: self.policy.or(f.policy),
            threshold: self.threshold.or(f.threshold),
            train_run: self.train_run.or(f.train_run),
            train_tiers: pick_vec(self.train_tiers, f.train_tiers),
            train_bench: pick_vec(self.train_bench, f.train_bench),
            bind: self.bind.or(f.bind),
            api_key: self.api_key,
            log: self.log.or(f.log),
            max_tokens: self.max_tokens.or(f.max_tokens),
            timeout: self.timeout.or(f.timeout),
            max_in_flight: self.max_in_flight.or(f.max_in_flight),
            store: self.store,
        })
    }
}

fn default_threshold(policy: &str) -> f64 {
    match policy {
        "tokens" => 150.0,
        "complexity" => 3.0,
        "random" => 0.5,
        _ => 0.6,
    }
}

/// Loads one tier: an in-process model behind a shared batch, or a remote server.
fn backend(a: &ServeArgs, spec: &str, batch: Option<usize>) -> Result<Arc<dyn Backend>> {
    if spec.starts_with("http://") || spec.starts_with("https://") {
        let (url, model) = match spec.split_once('#') {
            Some((u, m)) => (u, Some(m)),
            None => (spec, None),
        };
        let e = RemoteEngine::connect(url, model)?;
        return Ok(Arc::new(Remote(Arc::new(e))));
    }
    let path = match spec.split_once(':') {
        Some((run, label)) if !Path::new(spec).exists() => stored_variant(a, run, label)?,
        _ => spec.to_string(),
    };
    let e = LocalEngine::open(
        &path,
        LoadOptions {
            max_batch: batch,
            ..Default::default()
        },
    )?;
    Ok(Arc::new(Scheduler::spawn(e, a.max_tokens.unwrap_or(1024))?))
}

/// The file of variant `label` of sweep run `run` (RUN:LABEL), from the run store.
fn stored_variant(a: &ServeArgs, run: &str, label: &str) -> Result<String> {
    let store = a.store.open()?;
    let r = store.resolve_run(run)?;
    let variants = store.variants(r.id)?;
    let v = &tradeoff_route::find_variant(&variants, label)
        .map_err(|e| anyhow::anyhow!("--tier {run}:{label}: {e}"))?
        .variant;
    match &v.artifact_path {
        Some(p) if p.is_file() => Ok(p.display().to_string()),
        Some(p) => bail!(
            "--tier {run}:{label}: variant '{}' was at {}, which is gone: rerun `tradeoff sweep` on the run's config (`tradeoff runs show {run} --config`)",
            v.label,
            p.display()
        ),
        None => bail!("--tier {run}:{label}: variant '{}' has no file", v.label),
    }
}

/// The fixed policies, and the learned ones fitted on a run when one is given.
fn policies(a: &ServeArgs, tiers: &[String]) -> Result<BTreeMap<String, Arc<dyn Policy>>> {
    let mut out: BTreeMap<String, Arc<dyn Policy>> = BTreeMap::new();
    let base = PolicyArgs {
        tiers: tiers.to_vec(),
        ..PolicyArgs::default()
    };
    for name in ["tokens", "complexity", "random"] {
        out.insert(name.into(), tradeoff_route::policy(name, &base)?.into());
    }
    let Some(run) = &a.train_run else {
        return Ok(out);
    };
    if a.train_tiers.len() != tiers.len() {
        bail!(
            "--train-tiers names {} variants of run {run} for {} tiers: give one per --tier, cheapest first",
            a.train_tiers.len(),
            tiers.len()
        );
    }
    let store = a.store.open()?;
    let bench = if a.train_bench.is_empty() {
        vec!["humaneval".to_string()]
    } else {
        a.train_bench.clone()
    };
    let (mut study, _) = super::route::load_study(&store, run, &bench, &a.train_tiers, None)?;
    let emb = super::route::embedder(false)?;
    let mut names = vec!["ngram-logreg"];
    if let Some(e) = &emb {
        names.extend(["embed-logreg", "embed-knn"]);
        for p in &mut study.problems {
            p.query.embedding = Some(e.embed(&p.query.text)?.into());
        }
    }
    let passed: Vec<Vec<bool>> = (0..study.problems.len()).map(|p| study.passed(p)).collect();
    let examples: Vec<Example<'_>> = study
        .problems
        .iter()
        .zip(&passed)
        .map(|(p, passed)| Example {
            query: &p.query,
            passed,
        })
        .collect();
    let args = PolicyArgs {
        embedder: emb.clone(),
        ..base
    };
    for name in names {
        let mut p = tradeoff_route::policy(name, &args)?;
        p.fit(&examples)?;
        eprintln!(
            "{name}: fitted on {} problems of run {run} ({}), tiers {}",
            examples.len(),
            bench.join(", "),
            a.train_tiers.join(" < ")
        );
        out.insert(name.into(), p.into());
    }
    Ok(out)
}

pub fn run(a: ServeArgs, batch: Option<usize>) -> Result<()> {
    let a = a.merged()?;
    let store_path = a.store.store.clone().unwrap_or_else(Store::default_path);
    let bind = a.bind.clone().unwrap_or_else(|| "127.0.0.1:8080".into());
    if a.tier.is_empty() {
        eprintln!("no variants (--tier NAME=MODEL): serving the dashboard only");
        return super::dashboard::serve(store_path, &bind, false);
    }
    let max_tokens = a.max_tokens.unwrap_or(1024);
    let mut names = Vec::new();
    let mut tiers = Vec::new();
    for t in &a.tier {
        let Some((name, spec)) = t.split_once('=') else {
            bail!("--tier {t}: expected NAME=MODEL, e.g. small=qwen2.5-coder-0.5b");
        };
        eprintln!("loading {name}: {spec}");
        let mut tier = Tier::new(name, backend(&a, spec, batch)?);
        tier.timeout = Duration::from_secs_f64(a.timeout.unwrap_or(300.0));
        tier.max_in_flight = a.max_in_flight.unwrap_or(64);
        names.push(name.to_string());
        tiers.push(tier);
    }
    let policies = policies(&a, &names)?;
    let policy = a.policy.clone().unwrap_or_else(|| "tokens".into());
    if !policies.contains_key(&policy) {
        bail!(
            "policy {policy} is not available: choose among {} (learned ones need --train-run)",
            policies.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let threshold = a.threshold.unwrap_or_else(|| default_threshold(&policy));
    let log = a
        .log
        .clone()
        .unwrap_or_else(|| "tradeoff-routing.jsonl".into());
    let session = format!("{} pid {}", format_unix(now_unix()), std::process::id());
    let store_log = StoreLog::start(&store_path, session.clone())?;
    let app = App::new(Options {
        tiers,
        policies,
        default_policy: (policy.clone(), threshold),
        embedder: super::route::embedder(false)?,
        log: Some(log.clone()),
        sinks: vec![store_log.clone()],
        api_key: a.api_key.clone(),
        limits: Limits {
            max_tokens,
            max_n: 16,
        },
        max_body: 1 << 20,
    })?;
    let keyed = a.api_key.is_some();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&bind)
            .await
            .with_context(|| {
                format!("cannot listen on {bind}: is another server there? (--bind HOST:PORT)")
            })?;
        let addr = listener.local_addr()?;
        eprintln!(
            "serving {} on http://{addr}/v1 (auto = {policy} at {threshold}), the dashboard on http://{addr}/; routing log {} and session '{session}' in {}",
            names.join(" < "),
            log.display(),
            store_path.display()
        );
        if keyed {
            eprintln!("note: the API wants the key; the dashboard's pages do not (keep --bind on loopback)");
        }
        let router = tradeoff_serve::router(app.clone()).merge(dashboard::router(Dashboard {
            store: store_path.clone(),
            app: Some(app),
        }));
        tradeoff_serve::serve_router(router, listener, shutdown_signal()).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    store_log.close();
    eprintln!("stopped: requests in flight were answered and logged");
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub(super) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
