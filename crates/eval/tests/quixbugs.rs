//! QuixBugs program repair (`quixbugs-py`, `quixbugs-java`) on the real data: every reference
//! fix passes QuixBugs' tests, every buggy program fails them (except the ones listed, whose
//! tests do not catch the bug), a wrong fix fails and a fix that loops forever times out.
//!
//! Needs the QuixBugs checkout (`$TRADEOFF_QUIXBUGS`, else `shared/data/quixbugs` next to an
//! ancestor of this crate), Python 3 and a JDK (`apt-get install openjdk-17-jdk-headless`);
//! without them the tests fail with what to install or set, they never skip.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tradeoff_eval::bench::{self, QuixBugs};
use tradeoff_eval::{
    Benchmark, Evaluator, Executor, Language, LoadOptions, Outcome, Program, Status, Style,
};

/// Programs per language in QuixBugs @ 4257f44; none is left out.
const PROGRAMS: usize = 40;

/// Buggy Python programs that pass every test QuixBugs has for them (none).
const PY_BUGGY_PASSING: &[&str] = &[];

/// Buggy Java programs that pass every JUnit test QuixBugs has for them (none).
const JAVA_BUGGY_PASSING: &[&str] = &[];

fn data() -> PathBuf {
    if let Some(p) = std::env::var_os("TRADEOFF_QUIXBUGS") {
        return p.into();
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/data/quixbugs"))
        .find(|p| p.join("json_testcases").is_dir())
        .expect(
            "QuixBugs not found: set TRADEOFF_QUIXBUGS to a QuixBugs checkout (github.com/jkoppel/\
             QuixBugs: the folder holding python_programs/, java_programs/ and json_testcases/)",
        )
}

fn load(lang: Language) -> QuixBugs {
    QuixBugs::load(&data(), lang).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `programs` on all cores under a CPU limit of `limit_s` seconds each.
fn run_all(e: &Executor, programs: Vec<Program>, limit_s: f64) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let out = Mutex::new(vec![None; programs.len()]);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = programs.get(i) else { break };
                let o = e.run(p, limit_s);
                out.lock().unwrap()[i] = Some(o);
            });
        }
    });
    out.into_inner()
        .unwrap()
        .into_iter()
        .map(|o| o.unwrap())
        .collect()
}

fn answer(b: &QuixBugs, task: &str, code: &str) -> (usize, String) {
    let i = b.index_of(task).unwrap();
    let fence = b.language().fence();
    let text = format!("```{fence}\n{code}\n```");
    (i, b.solution(i, Style::Instruct, &text))
}

fn run(b: &QuixBugs, e: &Executor, task: &str, code: &str, limit_s: f64) -> Outcome {
    let (i, sol) = answer(b, task, code);
    e.run(&b.program(i, &sol), limit_s)
}

/// The reference fixes through the evaluator (time limits measured, then the runs): all pass,
/// and each is its own exact fix.
fn canonical(lang: Language) {
    let b = load(lang);
    assert_eq!(b.len(), PROGRAMS, "excluded: {:?}", b.excluded());
    assert!(b.excluded().is_empty(), "{:?}", b.excluded());
    let e = common::executor();
    common::require(&e, lang);
    let r = Evaluator::new(&b, &e, common::options())
        .canonical()
        .unwrap();
    let failing: Vec<_> = r
        .failing()
        .map(|p| (&p.task_id, p.samples[0].status, &p.samples[0].detail))
        .collect();
    assert!(failing.is_empty(), "{failing:#?}");
    assert_eq!(r.problems.len(), PROGRAMS);
    assert_eq!(r.metric("pass@1").unwrap().value, 1.0);
    let exact = r.metric("exact_fix").expect("exact_fix reported");
    assert_eq!((exact.value, exact.n), (1.0, Some(PROGRAMS)));
    // Every case ran and passed, as reported one by one; a reference fix never regresses
    // (the buggy programs ran once each for the comparison), and the rate of 0 keeps an
    // interval.
    for p in &r.problems {
        let i = b.index_of(&p.task_id).unwrap();
        let all = "P".repeat(b.cases(i).0);
        assert_eq!(
            p.samples[0].cases.as_deref(),
            Some(all.as_str()),
            "{}",
            p.task_id
        );
    }
    let regression = r.metric("regression").expect("regression reported");
    assert_eq!((regression.value, regression.n), (0.0, Some(PROGRAMS)));
    assert!(!regression.higher_is_better);
    let (lo, hi) = regression.ci95.unwrap();
    assert!(lo == 0.0 && hi > 0.05, "{:?}", regression.ci95);
}

/// The buggy programs as answers: all fail (or time out), except the listed ones.
fn buggy(lang: Language, passing: &[&str]) {
    let b = load(lang);
    let e = common::executor();
    common::require(&e, lang);
    let programs = (0..b.len())
        .map(|i| b.program(i, &b.solution(i, Style::Instruct, b.buggy(i))))
        .collect();
    let outcomes = run_all(&e, programs, 3.0);
    let mut passed = Vec::new();
    let mut by_status = std::collections::BTreeMap::new();
    let (mut cases_passed, mut with_a_pass) = (0, 0);
    for (i, o) in outcomes.iter().enumerate() {
        assert_ne!(o.status, Status::InfraError, "{}: {o:?}", b.task_id(i));
        assert_ne!(o.status, Status::CompileError, "{}: {o:?}", b.task_id(i));
        // Cases are reported up to where the run stopped (a loop stops it for good).
        let cases = o.cases.as_deref().unwrap_or("");
        assert!(cases.len() <= b.cases(i).0, "{}: {cases}", b.task_id(i));
        assert!(
            o.status == Status::Timeout || cases.len() == b.cases(i).0,
            "{}: {o:?}",
            b.task_id(i)
        );
        cases_passed += cases.matches('P').count();
        with_a_pass += usize::from(cases.contains('P'));
        *by_status.entry(o.status).or_insert(0) += 1;
        let detail = o.detail.as_deref().unwrap_or("");
        eprintln!("{} buggy: {:?} {detail}", b.task_id(i), o.status);
        if o.status == Status::Pass {
            passed.push(b.program_name(i).to_string());
        }
        // A buggy program is never the exact fix.
        assert!(!b.is_exact_fix(i, b.buggy(i)), "{}", b.task_id(i));
    }
    eprintln!(
        "{}: buggy programs by status: {by_status:?}; {with_a_pass} pass some case, \
         {cases_passed} cases passed in all",
        b.name()
    );
    // The regression rate needs cases a buggy program passes.
    assert!(with_a_pass >= 10, "{with_a_pass}");
    assert_eq!(passed, passing, "buggy programs that pass their tests");
}

#[test]
fn python_reference_fixes_all_pass() {
    canonical(Language::Python);
}

#[test]
fn python_buggy_programs_fail() {
    buggy(Language::Python, PY_BUGGY_PASSING);
}

#[test]
fn java_reference_fixes_all_pass() {
    canonical(Language::Java);
}

#[test]
fn java_buggy_programs_fail() {
    buggy(Language::Java, JAVA_BUGGY_PASSING);
}

#[test]
fn python_wrong_fix_fails_and_a_loop_times_out() {
    let b = load(Language::Python);
    let e = common::executor();
    common::require(&e, Language::Python);
    let i = b.index_of("QuixBugs/gcd").unwrap();
    assert!(b.test_source(i).ends_with("json_testcases/gcd.json"));
    // The reference fix, answered in a chatty way, passes and is the exact fix.
    let fixed =
        "def gcd(a, b):\n    if b == 0:\n        return a\n    else:\n        return gcd(b, a % b)";
    let o = run(&b, &e, "gcd", fixed, 5.0);
    assert_eq!(o.status, Status::Pass, "{o:?}");
    assert!(b.is_exact_fix(i, &answer(&b, "gcd", fixed).1));
    // Another correct fix passes too, but is not the exact fix.
    let other = "def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a";
    assert_eq!(run(&b, &e, "gcd", other, 5.0).status, Status::Pass);
    assert!(!b.is_exact_fix(i, &answer(&b, "gcd", other).1));
    // A wrong fix: the failing case's assert is the detail.
    let wrong = "def gcd(a, b):\n    return a % b if b else a";
    let o = run(&b, &e, "gcd", wrong, 5.0);
    assert_eq!(o.status, Status::Fail, "{o:?}");
    assert!(o.detail.as_deref().unwrap().starts_with("assert gcd("));
    // Every case ran: some pass, some fail, each reported.
    let cases = o.cases.unwrap();
    assert_eq!(cases.len(), b.cases(i).0);
    assert!(cases.contains('P') && cases.contains('F'), "{cases}");
    // The buggy bitcount (`n ^= n - 1`) never ends: killed at the CPU limit.
    let bitcount = b.index_of("bitcount").unwrap();
    let sol = b.solution(bitcount, Style::Instruct, b.buggy(bitcount));
    let o = e.run(&b.program(bitcount, &sol), 2.0);
    assert_eq!(o.status, Status::Timeout, "{o:?}");
    // A graph program (pytest functions over node.py's Node): the fix passes, a wrong one not.
    let dfs = "def depth_first_search(startnode, goalnode):\n    nodesvisited = set()\n\n    def search_from(node):\n        if node in nodesvisited:\n            return False\n        elif node is goalnode:\n            return True\n        else:\n            nodesvisited.add(node)\n            return any(search_from(nextnode) for nextnode in node.successors)\n\n    return search_from(startnode)";
    assert_eq!(
        run(&b, &e, "depth_first_search", dfs, 5.0).status,
        Status::Pass
    );
    let o = run(
        &b,
        &e,
        "depth_first_search",
        "def depth_first_search(a, b):\n    return True",
        5.0,
    );
    assert_eq!(o.status, Status::Fail, "{o:?}");
    // Only the function that changed: the buggy program's helpers stay available.
    let spl = "def shortest_path_length(length_by_edge, startnode, goalnode):\n    unvisited_nodes = []\n    heappush(unvisited_nodes, (0, startnode))\n    visited_nodes = set()\n    while len(unvisited_nodes) > 0:\n        distance, node = heappop(unvisited_nodes)\n        if node is goalnode:\n            return distance\n        visited_nodes.add(node)\n        for nextnode in node.successors:\n            if nextnode in visited_nodes:\n                continue\n            insert_or_update(unvisited_nodes, (min(get(unvisited_nodes, nextnode) or float('inf'), distance + length_by_edge[node, nextnode]), nextnode))\n    return float('inf')";
    let o = run(&b, &e, "shortest_path_length", spl, 5.0);
    assert_eq!(o.status, Status::Pass, "{o:?}");
    // No code at all: nothing defines the function.
    let o = run(&b, &e, "gcd", "I cannot fix this.", 5.0);
    assert_ne!(o.status, Status::Pass);
}

#[test]
fn java_wrong_fix_fails_and_a_loop_times_out() {
    let b = load(Language::Java);
    let e = common::executor();
    common::require(&e, Language::Java);
    let i = b.index_of("QuixBugs/GCD").unwrap();
    let fixed = b.reference(i).unwrap();
    // The whole reference, package line and all, passes and is the exact fix.
    let o = run(&b, &e, "GCD", &fixed, 10.0);
    assert_eq!(o.status, Status::Pass, "{o:?}");
    assert!(b.is_exact_fix(i, &answer(&b, "GCD", &fixed).1));
    // Only the method, no class: put in the program's class.
    let method = "    public static int gcd(int a, int b) {\n        return b == 0 ? a : gcd(b, a % b);\n    }";
    let o = run(&b, &e, "GCD", method, 10.0);
    assert_eq!(o.status, Status::Pass, "{o:?}");
    assert!(!b.is_exact_fix(i, &answer(&b, "GCD", method).1));
    // A wrong fix fails with JUnit's message, the test named.
    let wrong = fixed.replace("gcd(b, a%b)", "gcd(a%b, a)");
    assert_ne!(wrong, fixed);
    let o = run(&b, &e, "GCD", &wrong, 10.0);
    assert!(matches!(o.status, Status::Fail | Status::Error), "{o:?}");
    let wrong = fixed.replace("gcd(b, a%b)", "b + 1");
    let o = run(&b, &e, "GCD", &wrong, 10.0);
    assert_eq!(o.status, Status::Fail, "{o:?}");
    // Every test method ran and was reported; the first failure is the run's.
    assert_eq!(
        o.cases.as_deref().map(str::len),
        Some(b.cases(i).0),
        "{o:?}"
    );
    let detail = o.detail.unwrap();
    assert!(
        detail.contains("AssertionError: test_0: expected:<"),
        "{detail}"
    );
    // Does not compile.
    let o = run(
        &b,
        &e,
        "GCD",
        &fixed.replace("return a;", "return c;"),
        10.0,
    );
    assert_eq!(o.status, Status::CompileError, "{o:?}");
    // The buggy bitcount never ends: killed at the CPU limit.
    let bitcount = b.index_of("BITCOUNT").unwrap();
    let sol = b.solution(bitcount, Style::Instruct, b.buggy(bitcount));
    let o = e.run(&b.program(bitcount, &sol), 2.0);
    assert_eq!(o.status, Status::Timeout, "{o:?}");
    // A graph program (Node helper, JUnit test with imports and instance fields).
    let mst = b.index_of("MINIMUM_SPANNING_TREE").unwrap();
    let o = e.run(&b.program(mst, &b.reference(mst).unwrap()), 10.0);
    assert_eq!(o.status, Status::Pass, "{o:?}");
}

#[test]
fn registered_with_a_data_folder_and_prompts_show_the_buggy_program() {
    let dir = data();
    let opts = |data: Option<PathBuf>| LoadOptions {
        cache_dir: tradeoff_assets::cache_dir(),
        data,
        split: None,
    };
    for (name, lang, task) in [
        ("quixbugs-py", Language::Python, "QuixBugs/bitcount"),
        ("quixbugs-java", Language::Java, "QuixBugs/BITCOUNT"),
    ] {
        assert!(bench::BENCHMARKS.iter().any(|(n, _, _)| *n == name));
        let b = bench::load(name, &opts(Some(dir.clone()))).unwrap();
        assert_eq!((b.name(), b.language(), b.len()), (name, lang, PROGRAMS));
        assert_eq!(b.task_id(0), task);
        assert_eq!(b.dataset().sha256.len(), 64);
        let prompt = b.prompt(0, Style::Instruct);
        let tradeoff_eval::Prompt::Chat {
            messages, prefill, ..
        } = &prompt
        else {
            panic!("instruct prompts are chats")
        };
        let user = &messages.last().unwrap().content;
        assert!(user.starts_with(&format!(
            "The following {} program has a bug.",
            lang.display()
        )));
        assert!(
            user.contains("n ^= n - 1") || user.contains("n = (n ^ (n - 1));"),
            "{user}"
        );
        assert!(user.ends_with(&format!(
            "Answer with the whole fixed program in one ```{} block.",
            lang.fence()
        )));
        assert_eq!(prefill, &format!("```{}\n", lang.fence()));
        let tradeoff_eval::Prompt::Completion { text, stop } = b.prompt(0, Style::Base) else {
            panic!("base prompts are completions")
        };
        assert!(text.ends_with(&format!("bug fixed\n```{}\n", lang.fence())));
        assert_eq!(stop, ["```"]);
        // A data file (MBPP's jsonl, e.g. from $TRADEOFF_MBPP) is not the QuixBugs folder:
        // the default one is read instead.
        let mbpp_like = dir.join("json_testcases/gcd.json");
        match bench::load(name, &opts(Some(mbpp_like))) {
            Ok(b) => assert_eq!(b.len(), PROGRAMS),
            Err(e) => {
                let default = bench::default_quixbugs_path().display().to_string();
                assert!(e.to_string().contains(&default), "{e}");
            }
        }
    }
    // Every program has tests; the cases upstream skips are skipped here too.
    for (lang, total, skipped) in [(Language::Python, 276, 2), (Language::Java, 259, 1)] {
        let b = load(lang);
        let (mut n, mut s) = (0, Vec::new());
        for i in 0..b.len() {
            let (cases, skipped) = b.cases(i);
            assert!(cases > 0, "{}", b.task_id(i));
            n += cases;
            s.extend(skipped.iter().map(|w| format!("{}: {w}", b.task_id(i))));
        }
        eprintln!(
            "{}: {n} test cases, left out as upstream does: {s:?}",
            b.name()
        );
        assert_eq!((n, s.len()), (total, skipped), "{s:?}");
    }
    let missing = dir.join("no-such-folder");
    let err = bench::load("quixbugs-py", &opts(Some(missing)))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("TRADEOFF_QUIXBUGS") && err.contains("--data"),
        "{err}"
    );
}
