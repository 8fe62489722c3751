//! The test-verified cascade: answer with the cheapest tier, run the checks the query itself
//! shows (HumanEval's docstring examples, MBPP's listed asserts), and escalate to the next
//! tier when they fail or the code does not run. Offline it replays the stored completions,
//! so its cost is every tier it tried plus the time its checks took.
//!
//! Only what the query shows may be used. HumanEval's examples are a few of its cases, so the
//! cascade is an honest deployable policy there; MBPP's prompt lists the very asserts that
//! judge it, so an MBPP cascade is an upper bound and is labelled so.

use crate::metrics::Point;
use crate::study::{Problem, Study};
use serde::Serialize;

/// The checks' verdict on one completion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CheckResult {
    pub passed: bool,
    /// Wall seconds the check took.
    pub exec_s: f64,
}

/// Runs a completion against visible checks (the CLI does it in the sandbox).
pub trait Checker: Sync {
    /// `tests` is Python that raises when a check fails; the completion is the model's answer
    /// to `problem`, as stored.
    fn check(&self, problem: &Problem, completion: &str, tests: &str) -> CheckResult;
}

/// The balanced call starting at byte `start` (which points at the name), and what follows.
fn split_call(line: &str, start: usize) -> Option<(&str, &str)> {
    let open = start + line[start..].find('(')?;
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for (i, c) in line[open..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    let end = open + i + 1;
                    return Some((&line[start..end], &line[end..]));
                }
            }
            _ => {}
        }
    }
    None
}

/// Arrows that separate a call from its expected value in docstrings.
const ARROWS: &[&str] = &[
    "==>",
    "==",
    "➞",
    "=>",
    "->",
    "→",
    "should return",
    "returns",
    "return",
    "=",
];

fn expected_after(rest: &str) -> Option<String> {
    let rest = rest.trim_start();
    let arrow = ARROWS.iter().find(|a| rest.starts_with(**a))?;
    let v = rest[arrow.len()..]
        .trim()
        .trim_end_matches(['.', ',', ';'])
        .trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// The function a HumanEval-style query asks for: the last `def` in it.
fn entry_point(text: &str) -> Option<&str> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("def "))
        .next_back()
        .and_then(|r| r.split('(').next())
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

/// (call, expected) pairs the query shows for its function, and `assert` lines as they are.
pub fn visible_checks(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(a) = l.strip_prefix("assert ") {
            out.push((a.to_string(), "True".to_string()));
        } else if let Some(call) = l.strip_prefix(">>>") {
            let want = lines.get(i + 1).copied().unwrap_or("");
            if !want.is_empty() && !want.starts_with(">>>") && !want.contains("\"\"\"") {
                out.push((call.trim().to_string(), want.to_string()));
            }
        }
    }
    if !out.is_empty() {
        return out;
    }
    let Some(name) = entry_point(text) else {
        return out;
    };
    let pat = format!("{name}(");
    for l in &lines {
        if l.starts_with("def ") {
            continue;
        }
        let mut from = 0;
        while let Some(pos) = l[from..].find(&pat).map(|p| p + from) {
            let boundary = l[..pos]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'));
            let Some((call, rest)) = split_call(l, pos).filter(|_| boundary) else {
                from = pos + pat.len();
                continue;
            };
            if let Some(want) = expected_after(rest) {
                out.push((call.to_string(), want));
            }
            from = pos + call.len();
        }
    }
    out
}

/// Python that runs `checks` after the solution; an expected value that is not a Python
/// expression ("1 + 9 = 10") is skipped, so only checks that can be judged count.
pub fn check_code(checks: &[(String, String)]) -> String {
    let pairs: Vec<String> = checks
        .iter()
        .map(|(c, w)| {
            format!(
                "({}, {})",
                serde_json::to_string(c).expect("string"),
                serde_json::to_string(w).expect("string")
            )
        })
        .collect();
    format!(
        r#"
def __tradeoff_visible_checks():
    for __call, __want in [{}]:
        try:
            __w = eval(__want)
        except Exception:
            continue
        __got = eval(__call)
        if isinstance(__w, float) or isinstance(__got, float):
            assert abs(__got - __w) <= 1e-6 * max(1.0, abs(__w)), __call
        else:
            assert __got == __w, __call
__tradeoff_visible_checks()
"#,
        pairs.join(", ")
    )
}

/// What the cascade did over the study's problems.
#[derive(Debug, Clone, Serialize)]
pub struct CascadeRun {
    pub point: Point,
    /// Problems answered by each tier.
    pub answered_by: Vec<usize>,
    /// Problems whose query showed no check (answered by the first tier whose code ran).
    pub without_checks: usize,
    /// Answers the checks accepted that the benchmark's tests then failed.
    pub accepted_wrong: usize,
}

/// Replays the cascade over the study's stored completions.
pub fn run_cascade(study: &Study, checker: &dyn Checker, threads: usize) -> CascadeRun {
    let last = study.tiers.len() - 1;
    let n = study.problems.len();
    // Per problem: (accepted tier, cost, had checks).
    let mut per: Vec<(usize, f64, bool)> = vec![(0, 0.0, false); n];
    let chunk = n.div_ceil(threads.max(1));
    std::thread::scope(|s| {
        for (c, slot) in per.chunks_mut(chunk.max(1)).enumerate() {
            s.spawn(move || {
                for (j, out) in slot.iter_mut().enumerate() {
                    let p = c * chunk + j;
                    let problem = &study.problems[p];
                    let checks = visible_checks(&problem.query.text);
                    let tests = if checks.is_empty() {
                        String::new()
                    } else {
                        check_code(&checks)
                    };
                    let mut cost = 0.0;
                    let mut tier = last;
                    for t in 0..=last {
                        let o = &study.outcomes[t][p];
                        cost += o.cost_s;
                        if t == last {
                            break;
                        }
                        let r =
                            checker.check(problem, o.completion.as_deref().unwrap_or(""), &tests);
                        cost += r.exec_s;
                        if r.passed {
                            tier = t;
                            break;
                        }
                    }
                    *out = (tier, cost, !checks.is_empty());
                }
            });
        }
    });
    let mut answered_by = vec![0; last + 1];
    let mut accepted_wrong = 0;
    for (p, &(t, _, _)) in per.iter().enumerate() {
        answered_by[t] += 1;
        if t < last && !study.outcomes[t][p].passed {
            accepted_wrong += 1;
        }
    }
    CascadeRun {
        point: Point {
            threshold: f64::NAN,
            passed: per
                .iter()
                .enumerate()
                .map(|(p, &(t, _, _))| study.outcomes[t][p].passed)
                .collect(),
            cost: per.iter().map(|x| x.1).collect(),
            strong: per.iter().map(|x| x.0 == last).collect(),
        },
        answered_by,
        without_checks: per.iter().filter(|x| !x.2).count(),
        accepted_wrong,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_doctests_arrows_and_asserts() {
        let he = "def add(x: int, y: int):\n    \"\"\"Add two numbers\n    >>> add(2, 3)\n    5\n    >>> add(5, 7)\n    12\n    \"\"\"\n";
        assert_eq!(
            visible_checks(he),
            vec![
                ("add(2, 3)".into(), "5".into()),
                ("add(5, 7)".into(), "12".into())
            ]
        );
        let arrows = "def f(lst):\n    \"\"\"Examples:\n    f([1, (2, 3)]) ==> 12\n    f('a)') ➞ \"b\"\n    Example: f([]) == 0.\n    For lst = [1] the output should be 1\n    \"\"\"";
        assert_eq!(
            visible_checks(arrows),
            vec![
                ("f([1, (2, 3)])".into(), "12".into()),
                ("f('a)')".into(), "\"b\"".into()),
                ("f([])".into(), "0".into()),
            ]
        );
        let mbpp = "Write a function.\nYour code should pass these tests:\nassert f(1) == 2\nassert f(2) == 3";
        assert_eq!(visible_checks(mbpp).len(), 2);
        assert!(visible_checks("def g():\n    \"\"\"No examples.\"\"\"").is_empty());
    }

    #[test]
    fn check_code_is_python_with_each_pair() {
        let code = check_code(&[("f(\"x\")".into(), "'y'".into())]);
        assert!(code.contains(r#"("f(\"x\")", "'y'")"#), "{code}");
    }
}
