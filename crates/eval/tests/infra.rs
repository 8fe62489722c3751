//! Faults of the harness are not the model's: `infra_error`, retried once, left out of
//! pass@k and counted in the result. Faults are provoked deterministically: a run directory
//! root that is gone (the sandbox cannot create a session), an interpreter that does not exist.

mod common;

use std::path::{Path, PathBuf};
use tradeoff_eval::record::DatasetRef;
use tradeoff_eval::{
    BenchResult, Benchmark, Evaluator, ExecOptions, Executor, Language, Program, Prompt, Sandbox,
    SandboxConfig, Status, Style,
};

/// A sandbox whose run directories go under `root`.
fn sandbox_in(root: &Path) -> Sandbox {
    Sandbox::with_config(SandboxConfig {
        tmp_root: Some(root.to_path_buf()),
        // The isolation does not matter here, only where sessions are made.
        allow_weak: true,
        ..SandboxConfig::default()
    })
    .unwrap()
}

fn humaneval_program(bench: &dyn Benchmark, task: &str) -> Program {
    let i = bench.index_of(task).unwrap();
    bench.program(i, &bench.reference(i).unwrap())
}

#[test]
fn a_session_that_cannot_be_made_is_an_infra_error_retried_once() {
    let bench = common::load("humaneval");
    let root = tempfile::tempdir().unwrap();
    let exec = common::executor_in(sandbox_in(root.path()), true);
    common::require(&exec, Language::Python);
    let program = humaneval_program(bench.as_ref(), "HumanEval/2");
    let ok = exec.run(&program, 10.0);
    assert_eq!(ok.status, Status::Pass, "{ok:?}");
    assert_eq!(exec.retries(), 0, "a pass is not retried");

    // The root of the run directories is gone: no session can be created.
    let gone = root.path().to_path_buf();
    root.close().unwrap();
    let o = exec.run(&program, 10.0);
    assert_eq!(o.status, Status::InfraError, "{o:?}");
    let detail = o.detail.unwrap();
    assert!(
        detail.contains(&*gone.to_string_lossy()) && detail.ends_with("(twice)"),
        "{detail}"
    );
    assert_eq!(exec.retries(), 1, "retried once, not more");
}

#[test]
fn an_interpreter_that_does_not_exist_is_an_infra_error_not_a_failure() {
    let bench = common::load("humaneval");
    let exec = Executor::new(
        Sandbox::with_config(SandboxConfig {
            allow_weak: true,
            ..SandboxConfig::default()
        })
        .unwrap(),
        ExecOptions {
            python: Some("/nonexistent/tradeoff/python3".into()),
            warm_python: false,
        },
    );
    assert!(exec.prepare(Language::Python).is_err());
    let o = exec.run(&humaneval_program(bench.as_ref(), "HumanEval/2"), 10.0);
    assert_eq!(o.status, Status::InfraError, "{o:?}");
    assert!(o.detail.unwrap().contains("/nonexistent/tradeoff/python3"));
    assert_eq!(exec.retries(), 1);
}

/// Text in a completion that makes the harness fail on its program (and its retry).
const FAULT: &str = "    # harness fault\n";

/// HumanEval, except that a program whose solution contains [`FAULT`] finds the sandbox's
/// run-directory root gone (removed just before it runs, recreated for the next program).
/// Deterministic with one job: programs run one after another.
struct Faulty {
    inner: Box<dyn Benchmark>,
    root: PathBuf,
}

impl Benchmark for Faulty {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn language(&self) -> Language {
        self.inner.language()
    }
    fn dataset(&self) -> &DatasetRef {
        self.inner.dataset()
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn task_id(&self, i: usize) -> &str {
        self.inner.task_id(i)
    }
    fn prompt(&self, i: usize, style: Style) -> Prompt {
        self.inner.prompt(i, style)
    }
    fn template(&self, style: Style) -> String {
        self.inner.template(style)
    }
    fn solution(&self, i: usize, style: Style, answer: &str) -> String {
        self.inner.solution(i, style, answer)
    }
    fn program(&self, i: usize, solution: &str) -> Program {
        if solution.contains(FAULT.trim()) {
            match std::fs::remove_dir_all(&self.root) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{e}"),
                _ => {}
            }
        } else {
            std::fs::create_dir_all(&self.root).unwrap();
        }
        self.inner.program(i, solution)
    }
    fn reference(&self, i: usize) -> Option<String> {
        self.inner.reference(i)
    }
}

#[test]
fn pass_at_k_leaves_out_samples_the_harness_failed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("runs");
    std::fs::create_dir(&root).unwrap();
    let bench = Faulty {
        inner: common::load("humaneval"),
        root: root.clone(),
    };
    let exec = common::executor_in(sandbox_in(&root), true);
    common::require(&exec, Language::Python);
    let at = |t: &str| bench.index_of(t).unwrap();
    let fault = |c: &str| format!("{FAULT}{c}");
    let sets = vec![
        // Both pass.
        (
            at("HumanEval/2"),
            vec![
                "    return number % 1.0\n".to_string(),
                "    return number % 1.0\n".to_string(),
            ],
        ),
        // A harness fault (on a correct answer), and a failure that counts.
        (
            at("HumanEval/15"),
            vec![
                fault("    return ' '.join(str(x) for x in range(n + 1))\n"),
                "    return ''\n".to_string(),
            ],
        ),
        // Nothing but harness faults: the problem is not in pass@k at all.
        (
            at("HumanEval/23"),
            vec![
                fault("    return len(string)\n"),
                fault("    return len(string)\n"),
            ],
        ),
    ];
    let mut opts = common::options();
    opts.jobs = 1;
    opts.k = vec![1, 2];
    let before = exec.retries();
    let r = Evaluator::new(&bench, &exec, opts)
        .completions(&sets)
        .unwrap();

    let status = |p: usize, s: usize| r.problems[p].samples[s].status;
    assert_eq!(
        [status(0, 0), status(0, 1), status(1, 0), status(1, 1)],
        [Status::Pass, Status::Pass, Status::InfraError, Status::Fail]
    );
    assert_eq!([status(2, 0), status(2, 1)], [Status::InfraError; 2]);
    assert_eq!(exec.retries() - before, 3, "each faulty run tried twice");
    assert_eq!(r.infra_errors, 3);
    assert_eq!(r.status_counts.get(&Status::InfraError), Some(&3));
    assert_eq!(r.status_counts.get(&Status::Pass), Some(&2));
    assert_eq!(r.status_counts.get(&Status::Fail), Some(&1));

    // pass@1 over HumanEval/2 (2 of 2) and HumanEval/15 (0 of its 1 kept sample); counted as
    // failures, the faults would have made it 1/3.
    let p1 = r.metric("pass@1").unwrap();
    assert_eq!((p1.value, p1.n), (0.5, Some(2)), "{p1:?}");
    // pass@2 only where 2 samples are left: HumanEval/2.
    let p2 = r.metric("pass@2").unwrap();
    assert_eq!((p2.value, p2.n), (1.0, Some(1)), "{p2:?}");

    // The record keeps the count; old records (no count, the old status name) still read.
    let mut v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["infra_errors"], 3);
    assert_eq!(v["problems"][2]["samples"][0]["status"], "infra_error");
    v.as_object_mut().unwrap().remove("infra_errors");
    v["problems"][2]["samples"][0]["status"] = "sandbox_error".into();
    v["status_counts"] = serde_json::json!({"pass": 2, "fail": 1, "sandbox_error": 3});
    let old: BenchResult = serde_json::from_value(v).unwrap();
    assert_eq!(old.infra_errors, 0);
    assert_eq!(old.problems[2].samples[0].status, Status::InfraError);
    assert_eq!(old.status_counts.get(&Status::InfraError), Some(&3));
}
