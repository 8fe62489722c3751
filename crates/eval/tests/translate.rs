//! Translation by execution (`humaneval-translate-java`, `-cpp`, `-cs`): HumanEval's Python
//! reference into Java / C++ / C#, judged by MultiPL-E's tests. MultiPL-E ships no solutions,
//! so `--canonical` cannot run; hand-written translations of two problems stand in for it.
//! Fails where javac, g++ or mcs is missing (`scripts/test` installs the toolchains).

mod common;

use tradeoff_eval::{
    Benchmark, EvalOptions, Evaluator, Executor, Language, Outcome, Prompt, Status, Style,
};

fn run(b: &dyn Benchmark, e: &Executor, task: &str, answer: &str) -> Outcome {
    let i = b.index_of(task).unwrap();
    e.run(&b.program(i, &b.solution(i, Style::Instruct, answer)), 10.0)
}

/// The user message and prefill of an instruct prompt.
fn chat(p: Prompt) -> (String, String) {
    match p {
        Prompt::Chat {
            messages, prefill, ..
        } => (messages.last().unwrap().content.clone(), prefill),
        other => panic!("not a chat: {other:?}"),
    }
}

/// Prompts carry the Python reference and MultiPL-E's signature; no reference to run.
fn check_prompts(b: &dyn Benchmark, lang: Language, signature: &str) {
    let i = b.index_of("HumanEval/56").unwrap();
    assert_eq!(Some(i), b.index_of("HumanEval_56_correct_bracketing"));
    assert_eq!(b.task_id(i), "HumanEval_56_correct_bracketing");
    assert_eq!(b.language(), lang);
    assert!(b.reference(i).is_none());
    let (user, prefill) = chat(b.prompt(i, Style::Instruct));
    assert!(user.starts_with(&format!(
        "Translate this Python function into {}.",
        lang.display()
    )));
    // HumanEval's prompt and canonical solution.
    assert!(user.contains("```python\ndef correct_bracketing(brackets: str):"));
    assert!(
        user.contains("    depth = 0\n    for b in brackets:"),
        "{user}"
    );
    assert!(user.contains(signature), "{user}");
    assert!(user.contains(&format!("one ```{} block", lang.fence())));
    assert_eq!(prefill, format!("```{}\n", lang.fence()));
    match b.prompt(i, Style::Base) {
        Prompt::Completion { text, .. } => {
            assert!(text.contains("// def correct_bracketing(brackets: str):"));
            assert!(text.contains("//     depth = 0\n"));
            assert!(text.trim_end().ends_with(signature), "{text}");
        }
        other => panic!("{other:?}"),
    }
    let e = common::executor();
    let err = Evaluator::new(b, &e, EvalOptions::default())
        .canonical()
        .unwrap_err();
    assert!(err.to_string().contains("no reference"), "{err}");
}

/// A benchmark, and correct translations of HumanEval/56 and HumanEval/23 with the text in
/// each that a wrong one changes.
struct Case {
    name: &'static str,
    len: usize,
    lang: Language,
    signature: &'static str,
    bracketing: &'static str,
    strlen: &'static str,
    strlen_call: &'static str,
}

fn check(c: &Case) {
    let (b, e) = (common::load(c.name), common::executor());
    // Every MultiPL-E problem has its HumanEval reference: none skipped.
    assert_eq!(b.len(), c.len);
    check_prompts(&*b, c.lang, c.signature);
    common::require(&e, c.lang);
    let (task, good) = ("HumanEval/56", c.bracketing);
    assert_eq!(run(&*b, &e, task, good).status, Status::Pass);
    assert_eq!(run(&*b, &e, "HumanEval/23", c.strlen).status, Status::Pass);
    // Wrong translations: they run and fail the tests.
    let o = run(&*b, &e, task, &good.replace("depth == 0", "depth >= 0"));
    assert_eq!(o.status, Status::Fail, "{o:?}");
    let wrong = c
        .strlen
        .replace(c.strlen_call, &format!("{} + 1", c.strlen_call));
    let o = run(&*b, &e, "HumanEval/23", &wrong);
    assert_eq!(o.status, Status::Fail, "{o:?}");
    // Python left in: does not compile.
    let o = run(&*b, &e, task, &good.replace("int depth = 0;", "depth = 0"));
    assert_eq!(o.status, Status::CompileError, "{o:?}");
}

#[test]
fn java() {
    check(&Case {
        name: "humaneval-translate-java",
        len: 158,
        lang: Language::Java,
        signature: "public static boolean correctBracketing(String brackets) {",
        bracketing: "```java\n    public static boolean correctBracketing(String brackets) {\n        int depth = 0;\n        for (char b : brackets.toCharArray()) {\n            if (b == '<') depth += 1; else depth -= 1;\n            if (depth < 0) return false;\n        }\n        return depth == 0;\n    }\n```",
        strlen: "```java\n    public static long strlen(String string) {\n        return string.length();\n    }\n```",
        strlen_call: "string.length()",
    });
}

#[test]
fn cpp() {
    check(&Case {
        name: "humaneval-translate-cpp",
        len: 161,
        lang: Language::Cpp,
        signature: "bool correct_bracketing(std::string brackets) {",
        bracketing: "```cpp\nbool correct_bracketing(std::string brackets) {\n    int depth = 0;\n    for (char b : brackets) {\n        if (b == '<') depth += 1; else depth -= 1;\n        if (depth < 0) return false;\n    }\n    return depth == 0;\n}\n```",
        strlen: "```cpp\nlong string_length(std::string string) {\n    return string.size();\n}\n```",
        strlen_call: "string.size()",
    });
}

#[test]
fn csharp() {
    check(&Case {
        name: "humaneval-translate-cs",
        len: 158,
        lang: Language::CSharp,
        signature: "public static bool CorrectBracketing(string brackets) {",
        bracketing: "```csharp\n    public static bool CorrectBracketing(string brackets) {\n        int depth = 0;\n        foreach (char b in brackets) {\n            if (b == '<') depth += 1; else depth -= 1;\n            if (depth < 0) return false;\n        }\n        return depth == 0;\n    }\n```",
        strlen: "```csharp\n    public static long Strlen(string str) {\n        return str.Length;\n    }\n```",
        strlen_call: "str.Length",
    });
}
