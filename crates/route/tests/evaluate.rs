//! Held-out evaluation on a synthetic study: no policy is scored on a problem it was fitted
//! on, a learnable signal is learned, and the cascade pays for every tier it tries.

use std::collections::HashSet;
use std::sync::Mutex;
use tradeoff_route::cascade::run_cascade;
use tradeoff_route::*;

const HE: usize = 120;
const MBPP: usize = 80;

fn hard(i: usize) -> bool {
    i.is_multiple_of(3)
}

/// Hard problems say so in words ("recursion", "nested") and are long; the small tier fails
/// them, the large one fails every seventh problem.
fn study() -> Study {
    let tier = |label: &str, prefill, decode| Tier {
        label: label.into(),
        variant: label.into(),
        prefill_tok_s: prefill,
        decode_tok_s: decode,
    };
    let mut problems = Vec::new();
    let mut outcomes = vec![Vec::new(), Vec::new()];
    for (bench, n) in [("humaneval", HE), ("mbpp", MBPP)] {
        for i in 0..n {
            let h = hard(i);
            let text = if h {
                format!("{bench}: write f{i}: walk the nested tree with recursion and memoize each subtree.\n>>> f{i}(1)\n{i}\n")
            } else {
                format!("{bench}: write f{i}: return the sum of the list.\n>>> f{i}(1)\n{i}\n")
            };
            problems.push(Problem {
                bench: bench.into(),
                task_id: format!("{bench}/{i}"),
                query: Query::new(text, if h { 200 } else { 60 }),
            });
            for (t, passed) in [(0, !h && i % 5 != 1), (1, i % 7 != 0)] {
                let cost = if t == 0 { 1.0 } else { 3.0 };
                outcomes[t].push(Outcome {
                    passed,
                    tokens: 100,
                    cost_s: cost,
                    completion: Some(if passed { "ok" } else { "bad" }.into()),
                });
            }
        }
    }
    Study {
        run: "synthetic".into(),
        tiers: vec![tier("small", 1000.0, 100.0), tier("large", 300.0, 33.0)],
        problems,
        outcomes,
    }
}

/// Remembers every query it was fitted on and refuses to score one of them.
struct Spy {
    seen: HashSet<String>,
    scored: &'static Mutex<Vec<String>>,
}

impl Policy for Spy {
    fn name(&self) -> String {
        "spy".into()
    }
    fn threshold_unit(&self) -> &'static str {
        "none"
    }
    fn fit(&mut self, train: &[Example<'_>]) -> tradeoff_route::Result<()> {
        self.seen = train.iter().map(|e| e.query.text.clone()).collect();
        Ok(())
    }
    fn learns(&self) -> bool {
        true
    }
    fn score(&self, q: &Query) -> Score {
        assert!(
            !self.seen.contains(&q.text),
            "scored a training problem: {}",
            q.text
        );
        self.scored.lock().unwrap().push(q.text.clone());
        Score::Difficulty(0.0)
    }
}

#[test]
fn no_policy_is_scored_on_a_problem_it_was_fitted_on() {
    static SCORED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let st = study();
    let protocols = [
        (
            Protocol::KFold {
                bench: "humaneval".into(),
                k: 5,
            },
            HE,
        ),
        (
            Protocol::Cross {
                train: "mbpp".into(),
                test: "humaneval".into(),
            },
            HE,
        ),
        (
            Protocol::Cross {
                train: "humaneval".into(),
                test: "mbpp".into(),
            },
            MBPP,
        ),
    ];
    for (p, n) in protocols {
        SCORED.lock().unwrap().clear();
        let sp = splits(&st, &p, 3);
        let make = || -> tradeoff_route::Result<Box<dyn Policy>> {
            Ok(Box::new(Spy {
                seen: HashSet::new(),
                scored: &SCORED,
            }))
        };
        let h = held_out(&st, &sp, &make).unwrap();
        // Every test problem scored exactly once, by a policy that never saw it.
        let distinct: HashSet<usize> = h.order.iter().copied().collect();
        assert_eq!((h.order.len(), distinct.len()), (n, n), "{p}");
        assert_eq!(SCORED.lock().unwrap().len(), n);
    }
    // A split that leaks is refused before anything is fitted.
    let leaky = vec![(vec![0, 1, 2], vec![2, 3])];
    let make = || -> tradeoff_route::Result<Box<dyn Policy>> {
        policy("ngram-logreg", &PolicyArgs::default())
    };
    let err = held_out(&st, &leaky, &make).err().expect("leak refused");
    assert!(err.to_string().contains("in both train and test"), "{err}");
}

fn opts(policies: &[&str]) -> EvalOptions {
    EvalOptions {
        policies: policies.iter().map(|s| s.to_string()).collect(),
        resamples: 200,
        args: PolicyArgs {
            tiers: vec!["small".into(), "large".into()],
            ..Default::default()
        },
        ..Default::default()
    }
}

fn row<'a>(p: &'a ProtocolEval, name: &str) -> &'a Row {
    p.rows
        .iter()
        .find(|r| r.name.starts_with(name))
        .unwrap_or_else(|| panic!("no row {name}"))
}

#[test]
fn a_learnable_signal_is_learned_held_out_and_rows_say_what_they_saw() {
    let st = study();
    let ev = evaluate(
        &st,
        &opts(&["random", "tokens", "complexity", "ngram-logreg"]),
        None,
    )
    .unwrap();
    let names: Vec<String> = ev.protocols.iter().map(|p| p.title.clone()).collect();
    assert_eq!(
        names,
        [
            "humaneval, 5-fold by problem",
            "mbpp, 5-fold by problem",
            "train humaneval -> test mbpp",
            "train mbpp -> test humaneval"
        ]
    );
    for p in &ev.protocols {
        let apgr = |n: &str| row(p, n).figures.unwrap().apgr.value;
        assert!(
            apgr("ngram-logreg") > apgr("random") + 0.1,
            "{}: {} vs {}",
            p.title,
            apgr("ngram-logreg"),
            apgr("random")
        );
        assert!(apgr("tokens") > apgr("random") + 0.1, "{}", p.title);
        assert!(
            row(p, "ngram-logreg").saw.contains("humaneval")
                || row(p, "ngram-logreg").saw.contains("mbpp")
        );
        assert_eq!(row(p, "tokens").saw, "nothing (fixed rule)");
        for fixed in [
            "tokens<=150 (seed rule)",
            "always:small",
            "always:large",
            "oracle",
        ] {
            assert!(row(p, fixed).point.is_some(), "{fixed}");
        }
        let large = row(p, "always:large").point.as_ref().unwrap();
        assert!((large.quality_vs_best.value - 1.0).abs() < 1e-12);
        let (lo, hi) = row(p, "ngram-logreg").figures.unwrap().apgr.ci95.unwrap();
        assert!(lo < hi, "intervals never collapse on a real spread");
    }
}

/// Accepts a completion iff it is "ok"; each check costs half a second.
struct Fake;

impl Checker for Fake {
    fn check(&self, _: &Problem, completion: &str, tests: &str) -> CheckResult {
        assert!(
            tests.contains("assert"),
            "the doctest became a check: {tests}"
        );
        CheckResult {
            passed: completion == "ok",
            exec_s: 0.5,
        }
    }
}

#[test]
fn the_cascade_pays_for_every_tier_it_tries_and_mbpp_is_an_upper_bound() {
    let st = study();
    let c = run_cascade(&st, &Fake, 2);
    let n = HE + MBPP;
    for p in 0..n {
        let small_ok = st.outcomes[0][p].passed;
        let want = if small_ok { 1.0 + 0.5 } else { 1.0 + 0.5 + 3.0 };
        assert_eq!(c.point.cost[p], want, "problem {p}");
        assert_eq!(c.point.strong[p], !small_ok);
    }
    assert_eq!(c.answered_by.iter().sum::<usize>(), n);
    assert_eq!((c.accepted_wrong, c.without_checks), (0, 0));
    let ev = evaluate(&st, &opts(&["tokens"]), Some(&Fake)).unwrap();
    for p in &ev.protocols {
        let cascade = row(p, "cascade");
        let upper = cascade
            .note
            .as_deref()
            .unwrap_or("")
            .contains("upper bound");
        assert_eq!(
            upper,
            p.title.contains("test mbpp") || p.title.starts_with("mbpp"),
            "{}",
            p.title
        );
        assert_eq!(
            cascade.point.as_ref().unwrap().quality_vs_best.value,
            row(p, "oracle")
                .point
                .as_ref()
                .unwrap()
                .quality_vs_best
                .value
        );
    }
}
