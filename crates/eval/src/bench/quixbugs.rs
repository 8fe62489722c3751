//! QuixBugs (Lin et al. 2017): 40 classic algorithms with a one-line bug each, in Python and
//! Java. Program repair: the prompt is the buggy program, the answer the whole fixed program,
//! scored by running QuixBugs' own tests in the sandbox.
//!
//! Read from a QuixBugs checkout (`python_programs/`, `correct_python_programs/`,
//! `java_programs/`, `correct_java_programs/`, `json_testcases/`, `python_testcases/`,
//! `java_testcases/junit/`); nothing is copied.
//!
//! Python: programs with JSON test cases get one `assert` per case, as upstream's pytest files
//! check them (`flatten`/`kheapsort` results through `list`, `hanoi` steps as tuples, `sqrt`
//! within the case's epsilon; the two cases upstream skips as too slow are skipped). The nine
//! graph programs have no JSON cases: their pytest files (plain functions of asserts over
//! `node.py`'s `Node`) are appended with the imports removed, and each `test*` function is
//! called in order.
//!
//! Every case runs, as pytest runs them all, and is reported to the harness on its own; the
//! first failure is raised again at the end, so the run ends as it would at that case. The
//! regression rate compares a repair's cases with the buggy program's (run once per problem).
//!
//! Java: the JUnit 4 tests (`java_testcases/junit/*_TEST.java`) are translated into plain Java
//! run by the harness's `Problem.main`: a fresh test-class instance per test method (as JUnit
//! makes one), `@Ignore`d methods left out, `org.junit.Assert.assertEquals` replaced by a
//! same-semantics `TradeoffAssert`. Everything lands in one compilation unit in the default
//! package: `package` lines and `java_programs.` qualifiers are removed, imports hoisted,
//! top-level types made package-private, and the `Node`/`WeightedEdge` helpers and the tests'
//! `QuixFixOracleHelper` appended. (JUnit itself is not run: the executor's class path holds
//! only its own support classes.)

use super::{Benchmark, Language, Measure, Program};
use crate::error::{io_err, Error, Result};
use crate::prompt::{self, Prompt, Style};
use crate::record::{DatasetRef, ProblemOutcome};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
struct Item {
    /// The program's file stem: `bitcount` (Python), `BITCOUNT` (Java).
    program: String,
    task_id: String,
    /// The function a fixed program must define (Python) / the method the tests call (Java).
    entry_point: String,
    /// Java: the program's class.
    class: String,
    buggy: String,
    fixed: String,
    /// Python: the test code appended to the program. Java: the test class, translated.
    tests: String,
    /// Java: imports the tests need, hoisted above the program.
    test_imports: Vec<String>,
    /// Java: test methods to call, in order.
    test_methods: Vec<String>,
    /// Test cases run (skipped ones not counted).
    cases: usize,
    /// Test cases left out, with the reason.
    skipped: Vec<String>,
    /// Which tests judge the program ("json_testcases/bitcount.json", ...).
    source: String,
    /// The reference, normalised for the exact-fix comparison.
    fixed_norm: Vec<String>,
}

/// QuixBugs in one language: `quixbugs-py` or `quixbugs-java`.
#[derive(Debug)]
pub struct QuixBugs {
    name: &'static str,
    language: Language,
    dataset: DatasetRef,
    items: Vec<Item>,
    /// Programs left out, with the reason.
    excluded: Vec<(String, String)>,
    /// Java helpers appended to every program (`Node`, `WeightedEdge`, `QuixFixOracleHelper`),
    /// with their imports.
    java_helpers: String,
    java_helper_imports: Vec<String>,
}

/// `$TRADEOFF_QUIXBUGS`, else `../shared/data/quixbugs` from the working directory.
pub fn default_quixbugs_path() -> PathBuf {
    std::env::var_os("TRADEOFF_QUIXBUGS")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/data/quixbugs"))
}

/// JSON cases QuixBugs' own pytest files skip as too slow (minutes each): program and the
/// case's arguments.
fn slow_case(program: &str, args: &[Json]) -> Option<&'static str> {
    match (program, args.first()) {
        // test_knapsack.py skips it unless --runslow ("Takes about 4 mins to pass!").
        ("knapsack", Some(Json::Num(n))) if n == "6404180" => {
            Some("takes about 4 minutes in CPython; upstream's pytest skips it unless --runslow")
        }
        // test_levenshtein.py always skips it; the JUnit test is @Ignore'd too.
        ("levenshtein", Some(Json::Str(s))) if s == "amanaplanacanalpanama" => {
            Some("exponential time; upstream's pytest always skips it")
        }
        _ => None,
    }
}

impl QuixBugs {
    /// Loads QuixBugs from a checkout at `root` for `language` (Python or Java).
    pub fn load(root: &Path, language: Language) -> Result<Self> {
        let (name, dir, fixed_dir, ext) = match language {
            Language::Python => (
                "quixbugs-py",
                "python_programs",
                "correct_python_programs",
                "py",
            ),
            Language::Java => (
                "quixbugs-java",
                "java_programs",
                "correct_java_programs",
                "java",
            ),
            Language::Cpp | Language::CSharp => {
                return Err(Error::Invalid(format!(
                    "QuixBugs has no {} programs",
                    language.display()
                )));
            }
        };
        if !root.join(dir).is_dir() || !root.join("json_testcases").is_dir() {
            return Err(Error::Invalid(format!(
                "QuixBugs data not found at {}: pass --data PATH/TO/quixbugs (a QuixBugs \
                 checkout, the folder holding python_programs/ and json_testcases/) or set \
                 TRADEOFF_QUIXBUGS",
                root.display()
            )));
        }
        let mut files = FileLog::new(root);
        let mut programs: Vec<String> = std::fs::read_dir(root.join(dir))
            .map_err(io_err(root.join(dir)))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .filter_map(|e| {
                let file = e.file_name().to_string_lossy().into_owned();
                let stem = file.strip_suffix(&format!(".{ext}"))?.to_string();
                // Helpers and the graph programs' old test drivers are not programs.
                let helper = matches!(stem.as_str(), "node" | "Node" | "WeightedEdge")
                    || stem.ends_with("_test");
                (!helper).then_some(stem)
            })
            .collect();
        programs.sort();
        let mut items = Vec::new();
        let mut excluded = Vec::new();
        let (mut java_helpers, mut java_helper_imports) = (String::new(), Vec::new());
        if language == Language::Java {
            for helper in [
                "java_programs/Node.java",
                "java_programs/WeightedEdge.java",
                "java_testcases/junit/QuixFixOracleHelper.java",
            ] {
                let (imports, body) = java_unit(&files.read(helper)?);
                java_helper_imports.extend(imports);
                java_helpers.push_str(&format!("// QuixBugs {helper}\n{}\n", body.trim()));
                java_helpers.push('\n');
            }
        }
        for program in programs {
            let fixed_rel = format!("{fixed_dir}/{program}.{ext}");
            if !root.join(&fixed_rel).is_file() {
                excluded.push((program, format!("no {fixed_rel}")));
                continue;
            }
            let buggy = files.read(&format!("{dir}/{program}.{ext}"))?;
            let fixed = files.read(&fixed_rel)?;
            let item = match language {
                Language::Python => python_item(&mut files, &program, buggy, fixed)?,
                _ => java_item(&mut files, &program, buggy, fixed)?,
            };
            match item {
                Ok(item) => items.push(item),
                Err(why) => excluded.push((program, why)),
            }
        }
        Ok(Self {
            name,
            language,
            dataset: DatasetRef {
                name: name.to_string(),
                path: root.display().to_string(),
                sha256: files.sha256(),
            },
            items,
            excluded,
            java_helpers,
            java_helper_imports,
        })
    }

    /// Programs left out of the benchmark, with the reason (none in QuixBugs @ 4257f44).
    pub fn excluded(&self) -> &[(String, String)] {
        &self.excluded
    }

    /// The buggy program of problem `i` (what the prompt shows).
    pub fn buggy(&self, i: usize) -> &str {
        &self.items[i].buggy
    }

    /// The program's file stem (`bitcount`, `BITCOUNT`).
    pub fn program_name(&self, i: usize) -> &str {
        &self.items[i].program
    }

    /// Test cases run for problem `i`, and the ones skipped (with the reason).
    pub fn cases(&self, i: usize) -> (usize, &[String]) {
        (self.items[i].cases, &self.items[i].skipped)
    }

    /// Where problem `i`'s tests come from (`json_testcases/bitcount.json`, ...).
    pub fn test_source(&self, i: usize) -> &str {
        &self.items[i].source
    }

    /// Whether `solution` is the reference fix of problem `i`: equal to the reference once
    /// comments, docstrings, blank lines, `package`/`import` lines (Java) and all whitespace
    /// are dropped. Every buggy program differs from its reference in one such hunk (Python;
    /// Java: one to three), so this is "the candidate changed the same lines the same way".
    pub fn is_exact_fix(&self, i: usize, solution: &str) -> bool {
        normalise(solution, self.language) == self.items[i].fixed_norm
    }

    fn java_program(&self, it: &Item, solution: &str) -> Program {
        let code = java_whole_class(solution, it);
        let (cand_imports, body) = java_unit(&code);
        let mut imports: Vec<String> = Vec::new();
        for i in cand_imports
            .into_iter()
            .chain(self.java_helper_imports.iter().cloned())
            .chain(it.test_imports.iter().cloned())
        {
            if !imports.contains(&i) {
                imports.push(i);
            }
        }
        let header: String = imports.iter().map(|i| format!("{i}\n")).collect();
        // Every test method runs and is reported; the first failure is thrown at the end.
        let calls: String = it
            .test_methods
            .iter()
            .enumerate()
            .map(|(n, m)| {
                format!(
                    "        try {{\n            TradeoffAssert.test = \"{m}\";\n            \
                     new {}_TEST().{m}();\n            TradeoffMain.reportCase({}, true);\n        \
                     }} catch (Throwable e) {{\n            TradeoffMain.reportCase({}, false);\n            \
                     if (first == null) first = e;\n        }}\n",
                    it.class,
                    n + 1,
                    n + 1
                )
            })
            .collect();
        let mut tests = format!("\n{}\n{JAVA_ASSERT}\n{}\n", self.java_helpers, it.tests);
        tests.push_str(
            "class Problem {\n    public static void main(String[] args) throws Throwable {\n        \
             Throwable first = null;\n",
        );
        tests.push_str(&calls);
        tests.push_str("        if (first != null) throw first;\n    }\n}\n");
        Program {
            language: Language::Java,
            solution: format!("{header}\n{}\n", body.trim_end()),
            tests,
        }
    }
}

/// Files read from the checkout, for the data set's hash.
struct FileLog {
    root: PathBuf,
    manifest: String,
}

impl FileLog {
    fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            manifest: String::new(),
        }
    }

    fn read(&mut self, rel: &str) -> Result<String> {
        let path = self.root.join(rel);
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        self.manifest
            .push_str(&format!("{rel} {}\n", tradeoff_assets::sha256_hex(&bytes)));
        String::from_utf8(bytes).map_err(|e| Error::Data {
            path,
            line: 0,
            msg: format!("not UTF-8: {e}"),
        })
    }

    /// sha256 of "path sha256" lines of every file read, in reading order.
    fn sha256(&self) -> String {
        tradeoff_assets::sha256_hex(self.manifest.as_bytes())
    }
}

type Built = std::result::Result<Item, String>;

fn python_item(files: &mut FileLog, program: &str, buggy: String, fixed: String) -> Result<Built> {
    let json_rel = format!("json_testcases/{program}.json");
    let pytest_rel = format!("python_testcases/test_{program}.py");
    let (tests, cases, skipped, source) = if files.root.join(&json_rel).is_file() {
        let text = files.read(&json_rel)?;
        let path = files.root.join(&json_rel);
        let (tests, cases, skipped) = python_json_tests(program, &text, &path)?;
        (tests, cases, skipped, json_rel)
    } else if files.root.join(&pytest_rel).is_file() {
        let text = files.read(&pytest_rel)?;
        let node = if text.contains("from node import Node") {
            files.read("python_testcases/node.py")?
        } else {
            String::new()
        };
        match python_graph_tests(&text, &node, &pytest_rel) {
            Some((tests, cases)) => (tests, cases, Vec::new(), pytest_rel),
            None => return Ok(Err(format!("{pytest_rel} defines no test functions"))),
        }
    } else {
        return Ok(Err(format!("neither {json_rel} nor {pytest_rel}")));
    };
    if !defines_python_function(&buggy, program) {
        return Ok(Err(format!(
            "python_programs/{program}.py defines no {program}()"
        )));
    }
    Ok(Ok(Item {
        task_id: format!("QuixBugs/{program}"),
        program: program.to_string(),
        entry_point: program.to_string(),
        class: String::new(),
        fixed_norm: normalise(&fixed, Language::Python),
        buggy,
        fixed,
        tests,
        test_imports: Vec::new(),
        test_methods: Vec::new(),
        cases,
        skipped,
        source,
    }))
}

/// Runs each case, reports it (`_tradeoff_case` is the harness's) and keeps the first failure.
const PY_CASES: &str = "_tradeoff_first = None
def _tradeoff_check(n, case):
    global _tradeoff_first
    try:
        case()
    except BaseException as e:
        _tradeoff_case(n, False)
        if _tradeoff_first is None:
            _tradeoff_first = e
    else:
        _tradeoff_case(n, True)
";

/// Ends the run as its first failing case did.
const PY_CASES_END: &str = "if _tradeoff_first is not None:
    raise _tradeoff_first
";

/// One `assert` per JSON case, as the program's pytest file checks it.
fn python_json_tests(
    program: &str,
    text: &str,
    path: &Path,
) -> Result<(String, usize, Vec<String>)> {
    let mut out = format!("\n\n# QuixBugs tests: json_testcases/{program}.json\n{PY_CASES}");
    let (mut cases, mut skipped) = (0, Vec::new());
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |msg: &str| Error::Data {
            path: path.to_path_buf(),
            line: n + 1,
            msg: msg.to_string(),
        };
        let v = Json::parse(line).map_err(|e| bad(&e))?;
        let (args, expected) = match &v {
            Json::Arr(v) => match v.as_slice() {
                [Json::Arr(args), expected] => (args.as_slice(), expected),
                _ => return Err(bad("expected [[args...], expected]")),
            },
            _ => return Err(bad("expected [[args...], expected]")),
        };
        if let Some(why) = slow_case(program, args) {
            skipped.push(format!("case {} ({why})", n + 1));
            out.push_str(&format!("# case {} skipped: {why}\n", n + 1));
            continue;
        }
        let call = format!(
            "{program}({})",
            args.iter().map(py_literal).collect::<Vec<_>>().join(", ")
        );
        let check = match program {
            // test_flatten.py / test_kheapsort.py: generators, compared as lists.
            "flatten" | "kheapsort" => format!("assert list({call}) == {}", py_literal(expected)),
            // test_hanoi.py: the steps are (start, end) tuples.
            "hanoi" => {
                let steps: Vec<String> = expected
                    .as_arr()
                    .ok_or_else(|| bad("hanoi: expected a list of steps"))?
                    .iter()
                    .map(|s| match s.as_arr() {
                        Some(pair) => py_tuple(pair),
                        None => py_literal(s),
                    })
                    .collect();
                format!("assert {call} == [{}]", steps.join(", "))
            }
            // test_sqrt.py: pytest.approx(expected, abs=epsilon), epsilon the last argument.
            "sqrt" => {
                let eps = args
                    .last()
                    .ok_or_else(|| bad("sqrt: no epsilon argument"))?;
                format!(
                    "assert abs({call} - {}) <= {}",
                    py_literal(expected),
                    py_literal(eps)
                )
            }
            _ => format!("assert {call} == {}", py_literal(expected)),
        };
        cases += 1;
        out.push_str(&format!(
            "def _tradeoff_t{cases}():\n    {check}\n_tradeoff_check({cases}, _tradeoff_t{cases})\n"
        ));
    }
    out.push_str(PY_CASES_END);
    Ok((out, cases, skipped))
}

/// A graph program's pytest file as plain Python: imports and the buggy/correct switch
/// removed, `node.py`'s `Node` first, then each `test*` function called in order.
fn python_graph_tests(text: &str, node: &str, rel: &str) -> Option<(String, usize)> {
    let mut body = String::new();
    let mut tests = Vec::new();
    let mut in_switch = false;
    for line in text.lines() {
        let top = !line.starts_with([' ', '\t']) && !line.trim().is_empty();
        if in_switch {
            if !top || line.starts_with("else:") {
                continue;
            }
            in_switch = false;
        }
        if line.starts_with("if pytest.use_correct") {
            in_switch = true;
            continue;
        }
        if line == "import pytest"
            || line.starts_with("from node import")
            || line.starts_with("from load_testdata import")
        {
            continue;
        }
        if let Some(rest) = line.strip_prefix("def test") {
            let name_end = rest.find('(')?;
            tests.push(format!("test{}", &rest[..name_end]));
        }
        body.push_str(line);
        body.push('\n');
    }
    if tests.is_empty() {
        return None;
    }
    let mut out = format!("\n\n# QuixBugs tests: {rel}\n");
    if !node.is_empty() {
        out.push_str("# python_testcases/node.py\n");
        out.push_str(node.trim_end());
        out.push_str("\n\n");
    }
    out.push_str(body.trim());
    out.push_str("\n\n");
    out.push_str(PY_CASES);
    for (n, t) in tests.iter().enumerate() {
        out.push_str(&format!("_tradeoff_check({}, {t})\n", n + 1));
    }
    out.push_str(PY_CASES_END);
    Some((out, tests.len()))
}

fn java_item(files: &mut FileLog, program: &str, buggy: String, fixed: String) -> Result<Built> {
    let junit_rel = format!("java_testcases/junit/{program}_TEST.java");
    if !files.root.join(&junit_rel).is_file() {
        return Ok(Err(format!("no {junit_rel}")));
    }
    let text = files.read(&junit_rel)?;
    let Some(t) = translate_junit(&text, program) else {
        return Ok(Err(format!("{junit_rel}: no test methods")));
    };
    let lower = program.to_lowercase();
    let entry_point = if defines_java_method(&buggy, &lower) {
        lower
    } else {
        match first_static_method(&buggy) {
            Some(m) => m,
            None => {
                return Ok(Err(format!(
                    "java_programs/{program}.java: no static method"
                )))
            }
        }
    };
    Ok(Ok(Item {
        task_id: format!("QuixBugs/{program}"),
        program: program.to_string(),
        entry_point,
        class: program.to_string(),
        fixed_norm: normalise(&fixed, Language::Java),
        buggy,
        fixed,
        tests: t.class,
        test_imports: t.imports,
        cases: t.methods.len(),
        test_methods: t.methods,
        skipped: t.ignored,
        source: junit_rel,
    }))
}

struct JunitTests {
    /// The test class, package-private, asserts through `TradeoffAssert`.
    class: String,
    imports: Vec<String>,
    methods: Vec<String>,
    ignored: Vec<String>,
}

/// A JUnit 4 test class as plain Java for the default package.
fn translate_junit(text: &str, program: &str) -> Option<JunitTests> {
    let (imports, body) = java_unit(text);
    let mut class = String::new();
    let (mut methods, mut ignored) = (Vec::new(), Vec::new());
    let (mut is_test, mut is_ignored) = (false, false);
    for line in body.lines() {
        let t = line.trim();
        if t.starts_with("@org.junit.Test") || t.starts_with("@Test") {
            is_test = true;
            continue;
        }
        if t.starts_with("@org.junit.Ignore") || t.starts_with("@Ignore") {
            is_ignored = true;
            continue;
        }
        if is_test {
            if let Some(rest) = t.strip_prefix("public void ") {
                if let Some(end) = rest.find('(') {
                    let name = rest[..end].trim().to_string();
                    if is_ignored {
                        ignored.push(format!("{name} (@Ignore in {program}_TEST.java)"));
                    } else {
                        methods.push(name);
                    }
                    is_test = false;
                    is_ignored = false;
                }
            }
        }
        let line = line
            .replace("org.junit.Assert.assertEquals(", "assertEquals(")
            .replace(
                "java_testcases.junit.QuixFixOracleHelper",
                "QuixFixOracleHelper",
            );
        class.push_str(&qualify_asserts(&line));
        class.push('\n');
    }
    (!methods.is_empty()).then_some(JunitTests {
        class: format!(
            "// QuixBugs java_testcases/junit/{program}_TEST.java\n{}",
            class.trim()
        ),
        imports: imports
            .into_iter()
            .filter(|i| !i.contains("org.junit"))
            .collect(),
        methods,
        ignored,
    })
}

/// `assertEquals(` not preceded by a name character or `.` → `TradeoffAssert.assertEquals(`.
fn qualify_asserts(line: &str) -> String {
    const PAT: &str = "assertEquals(";
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(PAT) {
        let before = rest[..at].chars().next_back();
        out.push_str(&rest[..at]);
        if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.')) {
            out.push_str("TradeoffAssert.");
        }
        out.push_str(PAT);
        rest = &rest[at + PAT.len()..];
    }
    out.push_str(rest);
    out
}

/// JUnit 4's `Assert.assertEquals` overloads the QuixBugs tests use, same semantics and
/// message shape; the failing test's name leads the message.
const JAVA_ASSERT: &str = r#"final class TradeoffAssert {
    static String test = "";

    private static void fail(String message) {
        throw new AssertionError(test + ": " + message);
    }

    private static String differ(Object expected, Object actual) {
        return "expected:<" + expected + "> but was:<" + actual + ">";
    }

    static void assertEquals(long expected, long actual) {
        if (expected != actual) fail(differ(expected, actual));
    }

    static void assertEquals(Object expected, Object actual) {
        boolean same = expected == null ? actual == null : expected.equals(actual);
        if (!same) fail(differ(expected, actual));
    }

    static void assertEquals(double expected, double actual, double delta) {
        if (Double.compare(expected, actual) != 0 && !(Math.abs(expected - actual) <= delta))
            fail(differ(expected, actual));
    }

    static void assertEquals(float expected, float actual, float delta) {
        if (Float.compare(expected, actual) != 0 && !(Math.abs(expected - actual) <= delta))
            fail(differ(expected, actual));
    }

    // JUnit 4.12: deprecated, and always fails.
    @Deprecated
    static void assertEquals(double expected, double actual) {
        fail("Use assertEquals(expected, actual, delta) to compare floating-point numbers");
    }
}
"#;

/// A Java compilation unit for the default package: its imports (those of QuixBugs' own
/// packages and JUnit dropped) and the rest, with the `package` line removed, `java_programs.`
/// qualifiers dropped and top-level types made package-private (one file holds them all).
fn java_unit(text: &str) -> (Vec<String>, String) {
    let mut imports = Vec::new();
    let mut body = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("package ") && t.ends_with(';') {
            continue;
        }
        if t.starts_with("import ") && t.ends_with(';') {
            let quix = [
                "java_programs.",
                "correct_java_programs.",
                "java_testcases.",
            ];
            if !quix.iter().any(|q| t.contains(q)) && !t.contains("org.junit") {
                imports.push(t.to_string());
            }
            continue;
        }
        let line = line
            .replace("correct_java_programs.", "")
            .replace("java_programs.", "");
        body.push_str(&package_private(&line));
        body.push('\n');
    }
    (imports, body)
}

/// A top-level `public [final|abstract] class|interface|enum|record` line without `public`.
fn package_private(line: &str) -> String {
    let Some(rest) = line.strip_prefix("public ") else {
        return line.to_string();
    };
    let mut r = rest;
    loop {
        let before = r;
        for m in ["final ", "abstract ", "static ", "strictfp "] {
            r = r.strip_prefix(m).unwrap_or(r);
        }
        if r == before {
            break;
        }
    }
    let decl = ["class ", "interface ", "enum ", "record ", "@interface "];
    if decl.iter().any(|d| r.starts_with(d)) {
        rest.to_string()
    } else {
        line.to_string()
    }
}

/// The answer as a whole class: where the model wrote only method(s), no class at all, they are
/// put in the program's class with the buggy program's imports.
fn java_whole_class(solution: &str, it: &Item) -> String {
    let declares_class = solution.lines().any(|l| {
        let l = package_private(l);
        let mut l = l.trim_start();
        for m in ["final ", "abstract ", "static "] {
            l = l.strip_prefix(m).unwrap_or(l);
        }
        l.starts_with("class ") || l.starts_with("interface ") || l.starts_with("enum ")
    });
    if declares_class {
        return solution.to_string();
    }
    let imports: String = it
        .buggy
        .lines()
        .filter(|l| l.trim_start().starts_with("import "))
        .map(|l| format!("{l}\n"))
        .collect();
    format!(
        "{imports}public class {} {{\n{}\n}}\n",
        it.class,
        solution.trim_end()
    )
}

fn defines_python_function(code: &str, name: &str) -> bool {
    python_toplevel_defs(code).iter().any(|d| d == name)
}

/// Names of the top-level functions `code` defines.
fn python_toplevel_defs(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| {
            let rest = l
                .strip_prefix("def ")
                .or_else(|| l.strip_prefix("async def "))?;
            Some(rest[..rest.find('(')?].trim().to_string())
        })
        .collect()
}

/// A method declaration of `name` (`static T name(`, a space before `(` allowed).
fn defines_java_method(code: &str, name: &str) -> bool {
    code.lines().any(|l| {
        let t = l.trim_start();
        let modifier = ["public ", "static ", "private ", "protected "];
        modifier.iter().any(|m| t.starts_with(m))
            && t.split_once('(')
                .is_some_and(|(before, _)| before.trim_end().rsplit(' ').next() == Some(name))
    })
}

fn first_static_method(code: &str) -> Option<String> {
    code.lines().find_map(|l| {
        let t = l.trim_start();
        if !t.contains("static ") || t.contains(" class ") || t.contains('=') {
            return None;
        }
        let before = t[..t.find('(')?].trim_end();
        let name = before.rsplit(' ').next()?;
        (!name.is_empty()).then(|| name.to_string())
    })
}

/// A JSON value with numbers kept as written: serde_json's default float parsing is not
/// correctly rounded (`1.4166666666666665` reads as `...663`), and Python must see the test
/// case's numbers exactly.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> std::result::Result<Json, String> {
        let mut p = JsonParser {
            s: text.as_bytes(),
            at: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.at != p.s.len() {
            return Err(format!("trailing text at byte {}", p.at));
        }
        Ok(v)
    }

    fn as_arr(&self) -> Option<&[Json]> {
        match self {
            Json::Arr(a) => Some(a),
            _ => None,
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    at: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.at).is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn err<T>(&self, what: &str) -> std::result::Result<T, String> {
        Err(format!("{what} at byte {}", self.at))
    }

    fn eat(&mut self, word: &str) -> bool {
        let ok = self.s[self.at..].starts_with(word.as_bytes());
        if ok {
            self.at += word.len();
        }
        ok
    }

    fn value(&mut self) -> std::result::Result<Json, String> {
        self.ws();
        match self.s.get(self.at) {
            None => self.err("unexpected end"),
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat("]") {
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    if self.eat("]") {
                        return Ok(Json::Arr(items));
                    }
                    if !self.eat(",") {
                        return self.err("expected , or ]");
                    }
                }
            }
            Some(b'{') => {
                self.at += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat("}") {
                    return Ok(Json::Obj(items));
                }
                loop {
                    self.ws();
                    let Json::Str(k) = self.value()? else {
                        return self.err("expected a string key");
                    };
                    self.ws();
                    if !self.eat(":") {
                        return self.err("expected :");
                    }
                    items.push((k, self.value()?));
                    self.ws();
                    if self.eat("}") {
                        return Ok(Json::Obj(items));
                    }
                    if !self.eat(",") {
                        return self.err("expected , or }");
                    }
                }
            }
            Some(b'"') => self.string().map(Json::Str),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.at;
                while self
                    .s
                    .get(self.at)
                    .is_some_and(|b| b.is_ascii_digit() || b"+-.eE".contains(b))
                {
                    self.at += 1;
                }
                let num = std::str::from_utf8(&self.s[start..self.at]).unwrap_or("");
                // Validated by the standard parser; kept as written.
                if num.parse::<f64>().is_err() || num.ends_with('.') || num.starts_with('.') {
                    return self.err("bad number");
                }
                Ok(Json::Num(num.to_string()))
            }
            _ if self.eat("null") => Ok(Json::Null),
            _ if self.eat("true") => Ok(Json::Bool(true)),
            _ if self.eat("false") => Ok(Json::Bool(false)),
            _ => self.err("unexpected character"),
        }
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        self.at += 1; // the opening quote
        let mut out: Vec<u16> = Vec::new();
        let mut bytes: Vec<u8> = Vec::new();
        let flush = |bytes: &mut Vec<u8>, out: &mut Vec<u16>| {
            out.extend(String::from_utf8_lossy(bytes).encode_utf16());
            bytes.clear();
        };
        loop {
            let Some(&b) = self.s.get(self.at) else {
                return self.err("unterminated string");
            };
            self.at += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    flush(&mut bytes, &mut out);
                    let Some(&e) = self.s.get(self.at) else {
                        return self.err("unterminated escape");
                    };
                    self.at += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex = self.s.get(self.at..self.at + 4).unwrap_or(b"");
                            let unit = std::str::from_utf8(hex)
                                .ok()
                                .and_then(|h| u16::from_str_radix(h, 16).ok());
                            let Some(unit) = unit else {
                                return self.err("bad \\u escape");
                            };
                            self.at += 4;
                            out.push(unit);
                            continue;
                        }
                        _ => return self.err("bad escape"),
                    };
                    let mut buf = [0u16; 2];
                    out.extend_from_slice(c.encode_utf16(&mut buf));
                }
                _ => bytes.push(b),
            }
        }
        flush(&mut bytes, &mut out);
        Ok(String::from_utf16_lossy(&out))
    }
}

/// A JSON value as a Python literal.
fn py_literal(v: &Json) -> String {
    match v {
        Json::Null => "None".into(),
        Json::Bool(b) => if *b { "True" } else { "False" }.into(),
        // JSON's number syntax is Python's (a `.` or exponent makes a float, as json.loads).
        Json::Num(n) => n.clone(),
        Json::Str(s) => py_str(s),
        Json::Arr(a) => format!(
            "[{}]",
            a.iter().map(py_literal).collect::<Vec<_>>().join(", ")
        ),
        Json::Obj(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", py_str(k), py_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn py_tuple(items: &[Json]) -> String {
    let inner: Vec<String> = items.iter().map(py_literal).collect();
    match inner.len() {
        1 => format!("({},)", inner[0]),
        _ => format!("({})", inner.join(", ")),
    }
}

/// A Python string literal: ASCII, every special character escaped.
fn py_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// A program's code lines for the exact-fix comparison: comments, docstrings (Python),
/// `package`/`import` lines (Java), blank lines and all whitespace dropped.
fn normalise(code: &str, language: Language) -> Vec<String> {
    let code = code.replace("\r\n", "\n");
    match language {
        Language::Python => normalise_python(&code),
        _ => normalise_c_like(&code),
    }
}

fn normalise_python(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut doc: Option<&str> = None;
    for line in code.lines() {
        let t = line.trim();
        if let Some(q) = doc {
            if t.ends_with(q) {
                doc = None;
            }
            continue;
        }
        // A string statement on its own (docstring): drop it, over as many lines as it takes.
        if let Some(q) = ["\"\"\"", "'''"].into_iter().find(|q| t.starts_with(q)) {
            let closed = t.len() >= 6 && t[3..].contains(q);
            if !closed {
                doc = Some(q);
            }
            continue;
        }
        let t = strip_comment(t, &["#"]);
        let s: String = t.chars().filter(|c| !c.is_whitespace()).collect();
        if !s.is_empty() {
            out.push(s);
        }
    }
    out
}

fn normalise_c_like(code: &str) -> Vec<String> {
    // Block comments first (outside strings), then line comments.
    let mut text = String::with_capacity(code.len());
    let mut chars = code.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                text.push(c);
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        text.push(n);
                    }
                } else if c == q || c == '\n' {
                    quote = None;
                }
            }
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                text.push(c);
            }
            None if c == '/' && chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for d in chars.by_ref() {
                    if prev == '*' && d == '/' {
                        break;
                    }
                    if d == '\n' {
                        text.push('\n');
                    }
                    prev = d;
                }
            }
            None => text.push(c),
        }
    }
    text.lines()
        .map(|l| strip_comment(l.trim(), &["//"]))
        .filter(|t| !(t.starts_with("package ") || t.starts_with("import ")))
        .map(|t| t.chars().filter(|c| !c.is_whitespace()).collect::<String>())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `line` up to a comment marker that is not inside a string literal.
fn strip_comment<'a>(line: &'a str, markers: &[&str]) -> &'a str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if c == '"' || c == '\'' {
            quote = Some(c);
        } else if markers.iter().any(|m| line[i..].starts_with(m)) {
            return line[..i].trim_end();
        }
    }
    line
}

const INSTRUCT: &str = "The following {language} program has a bug. Fix it.\n\n```{fence}\n{buggy}\n```\n\nAnswer with the whole fixed program in one ```{fence} block.";
const BASE_TEMPLATE: &str = "### Buggy {language} program\n```{fence}\n{buggy}\n```\n\n### The same program with the bug fixed\n```{fence}\n";

impl Benchmark for QuixBugs {
    fn name(&self) -> &str {
        self.name
    }
    fn language(&self) -> Language {
        self.language
    }
    fn dataset(&self) -> &DatasetRef {
        &self.dataset
    }
    fn len(&self) -> usize {
        self.items.len()
    }
    fn task_id(&self, i: usize) -> &str {
        &self.items[i].task_id
    }

    fn prompt(&self, i: usize, style: Style) -> Prompt {
        let lang = self.language;
        let fill = |t: &str| {
            t.replace("{language}", lang.display())
                .replace("{fence}", lang.fence())
                .replace("{buggy}", self.items[i].buggy.trim())
        };
        match style {
            Style::Base => Prompt::Completion {
                text: fill(BASE_TEMPLATE),
                stop: vec!["```".into()],
            },
            Style::Instruct => prompt::chat(lang.display(), lang.fence(), fill(INSTRUCT)),
        }
    }

    fn template(&self, style: Style) -> String {
        let lang = self.language;
        let fill = |t: &str| {
            t.replace("{language}", lang.display())
                .replace("{fence}", lang.fence())
                .replace('\n', "\\n")
        };
        match style {
            Style::Base => format!(
                "{} ({{buggy}}: the buggy program verbatim); stop: [\"```\"]",
                fill(BASE_TEMPLATE)
            ),
            Style::Instruct => format!(
                "system: {}\nuser: {}\nassistant (prefill): ```{}\\n\nstop: [\"```\"]",
                prompt::QWEN_SYSTEM.replace("{language}", lang.display()),
                fill(INSTRUCT),
                lang.fence()
            ),
        }
    }

    /// The fenced block of the answer that defines the entry point (else the first; the whole
    /// answer without a fence), as the model wrote it.
    fn solution(&self, i: usize, _style: Style, answer: &str) -> String {
        format!(
            "{}\n",
            prompt::extract_code(answer, &self.items[i].entry_point)
        )
    }

    fn program(&self, i: usize, solution: &str) -> Program {
        let it = &self.items[i];
        match self.language {
            Language::Python => {
                // An answer with only the function(s) it changed: the buggy program first, so
                // the helpers it left out exist and its definitions replace the buggy ones.
                let defs = python_toplevel_defs(solution);
                let buggy_defs = python_toplevel_defs(&it.buggy);
                let partial = buggy_defs.iter().any(|d| defs.contains(d))
                    && !buggy_defs.iter().all(|d| defs.contains(d));
                let solution = if partial {
                    format!("{}\n\n{}", it.buggy.trim_end(), solution)
                } else {
                    solution.to_string()
                };
                Program {
                    language: Language::Python,
                    solution,
                    tests: it.tests.clone(),
                }
            }
            _ => self.java_program(it, solution),
        }
    }

    fn reference(&self, i: usize) -> Option<String> {
        Some(self.items[i].fixed.clone())
    }

    /// `QuixBugs/bitcount`, `bitcount`, `BITCOUNT` (any case).
    fn index_of(&self, task_id: &str) -> Option<usize> {
        let name = task_id.rsplit('/').next().unwrap_or(task_id).trim();
        self.items
            .iter()
            .position(|it| it.program.eq_ignore_ascii_case(name))
    }

    /// 2: every case runs and is reported (the regression rate); `exact_fix`'s interval is
    /// Wilson's where the bootstrap collapses.
    fn scoring_version(&self) -> u32 {
        2
    }

    fn before(&self, i: usize) -> Option<String> {
        Some(self.items[i].buggy.clone())
    }

    /// `exact_fix`: the share of a problem's samples that make the reference fix (see
    /// [`QuixBugs::is_exact_fix`]), averaged over problems. `regression`: the share of a
    /// problem's samples (harness faults left out) that fail a test case the buggy program
    /// passes, averaged over problems (a case not reached, or a program that does not
    /// compile, passes none).
    fn extra_measures(
        &self,
        problems: &[ProblemOutcome],
        before: &[Option<String>],
    ) -> Vec<Measure> {
        let regression: Vec<f64> = problems
            .iter()
            .zip(before)
            .filter_map(|(p, before)| {
                let ran: Vec<_> = p
                    .samples
                    .iter()
                    .filter(|s| s.status != crate::record::Status::InfraError)
                    .collect();
                if ran.is_empty() {
                    return None;
                }
                let broke = ran
                    .iter()
                    .filter(|s| regressed(before.as_deref(), s.cases.as_deref()))
                    .count();
                Some(broke as f64 / ran.len() as f64)
            })
            .collect();
        let per: Vec<f64> = problems
            .iter()
            .filter(|p| !p.samples.is_empty())
            .filter_map(|p| {
                let i = self.index_of(&p.task_id)?;
                let exact = p
                    .samples
                    .iter()
                    .filter(|s| self.is_exact_fix(i, &s.program))
                    .count();
                Some(exact as f64 / p.samples.len() as f64)
            })
            .collect();
        vec![
            Measure {
                name: "exact_fix".into(),
                per_problem: per,
                higher_is_better: true,
            },
            Measure {
                name: "regression".into(),
                per_problem: regression,
                higher_is_better: false,
            },
        ]
    }
}

/// Whether a sample with case outcomes `after` fails a case that `before` passes.
fn regressed(before: Option<&str>, after: Option<&str>) -> bool {
    let after = after.unwrap_or("").as_bytes();
    before
        .unwrap_or("")
        .bytes()
        .enumerate()
        .any(|(j, b)| b == b'P' && after.get(j) != Some(&b'P'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_literals() {
        let v = Json::parse(
            r#" [null, true, false, 4.0, 1.4166666666666665, -3, 1e-5, "a\"b\\c\n\u00e9\/", [1, [2]], {"k": []}] "#,
        )
        .unwrap();
        assert_eq!(
            py_literal(&v),
            r#"[None, True, False, 4.0, 1.4166666666666665, -3, 1e-5, "a\"b\\c\n\xe9/", [1, [2]], {"k": []}]"#
        );
        // Surrogate pairs, non-ASCII text as written.
        let v = Json::parse(r#"["\ud83d\ude00", "é"]"#).unwrap();
        assert_eq!(py_literal(&v), r#"["\U0001f600", "\xe9"]"#);
        for bad in ["[1,", "[1 2]", "\"abc", "tru", "[1] x", "{1: 2}", "[.5]"] {
            assert!(Json::parse(bad).is_err(), "{bad}");
        }
        let one = Json::Num("1".into());
        assert_eq!(py_tuple(std::slice::from_ref(&one)), "(1,)");
        assert_eq!(py_tuple(&[one, Json::Num("3".into())]), "(1, 3)");
    }

    #[test]
    fn json_cases_become_asserts() {
        let text = "[[127], 7]\n\n[[128], 1]\n";
        let (t, n, skipped) = python_json_tests("bitcount", text, Path::new("x")).unwrap();
        assert_eq!((n, skipped.len()), (2, 0));
        // Each case a function of its own, run and reported by number; the first failure
        // raised at the end.
        assert!(
            t.contains(
                "def _tradeoff_t1():\n    assert bitcount(127) == 7\n_tradeoff_check(1, _tradeoff_t1)\n\
                 def _tradeoff_t2():\n    assert bitcount(128) == 1\n_tradeoff_check(2, _tradeoff_t2)\n"
            ),
            "{t}"
        );
        assert!(t.starts_with(&format!(
            "\n\n# QuixBugs tests: json_testcases/bitcount.json\n{PY_CASES}"
        )));
        assert!(t.ends_with(PY_CASES_END), "{t}");
        let (t, _, _) = python_json_tests(
            "hanoi",
            "[[2, 1, 3], [[1, 2], [1, 3], [2, 3]]]",
            Path::new("x"),
        )
        .unwrap();
        assert!(
            t.contains("assert hanoi(2, 1, 3) == [(1, 2), (1, 3), (2, 3)]"),
            "{t}"
        );
        let (t, _, _) =
            python_json_tests("sqrt", "[[2, 0.01], 1.4166666666666665]", Path::new("x")).unwrap();
        assert!(
            t.contains("assert abs(sqrt(2, 0.01) - 1.4166666666666665) <= 0.01"),
            "{t}"
        );
        let (_, n, skipped) = python_json_tests(
            "levenshtein",
            "[[\"amanaplanacanalpanama\", \"docnote\"], 42]\n[[\"a\", \"b\"], 1]",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!((n, skipped.len()), (1, 1));
        assert!(python_json_tests("gcd", "[1, 2]", Path::new("x")).is_err());
    }

    #[test]
    fn pytest_graph_file_becomes_plain_python() {
        let text = "import pytest\nfrom node import Node\n\nif pytest.use_correct:\n    from correct_python_programs.f import f\nelse:\n    from python_programs.f import f\n\n\nn = Node(1)\n\ndef test1():\n    assert f(n)\n\n\ndef test2():\n    assert not f(None)\n";
        let (t, n) = python_graph_tests(text, "class Node:\n    pass\n", "t.py").unwrap();
        assert_eq!(n, 2);
        assert!(!t.contains("pytest") && !t.contains("import"), "{t}");
        assert!(t.contains("class Node:\n    pass\n\nn = Node(1)"), "{t}");
        assert!(
            t.ends_with(&format!(
                "{PY_CASES}_tradeoff_check(1, test1)\n_tradeoff_check(2, test2)\n{PY_CASES_END}"
            )),
            "{t}"
        );
    }

    #[test]
    fn junit_becomes_plain_java() {
        let text = "package java_testcases.junit;\n\nimport static org.junit.Assert.assertEquals;\nimport java.util.List;\nimport org.junit.Test;\nimport java_programs.F;\n\npublic class F_TEST {\n    @org.junit.Test(timeout = 3000)\n    public void test_0() throws java.lang.Exception {\n        int result = java_programs.F.f((int)1);\n        org.junit.Assert.assertEquals( (int) 7, result);\n    }\n\n    @org.junit.Test(timeout = 40000)\n    @org.junit.Ignore\n    public void test_1() {\n        String r = java_testcases.junit.QuixFixOracleHelper.format(null, true);\n    }\n\n    @Test\n    public void test2() {\n        assertEquals(\"a\", \"a\");\n    }\n}\n";
        let t = translate_junit(text, "F").unwrap();
        assert_eq!(t.methods, ["test_0", "test2"]);
        assert_eq!(t.ignored.len(), 1);
        assert_eq!(t.imports, ["import java.util.List;"]);
        assert!(t.class.contains("\nclass F_TEST {"), "{}", t.class);
        assert!(t.class.contains("int result = F.f((int)1);"));
        assert!(t
            .class
            .contains("TradeoffAssert.assertEquals( (int) 7, result);"));
        assert!(t
            .class
            .contains("TradeoffAssert.assertEquals(\"a\", \"a\");"));
        assert!(t.class.contains("= QuixFixOracleHelper.format("));
        let code = t.class.split_once('\n').unwrap().1;
        assert!(!code.contains('@') && !code.contains("junit"), "{code}");
        assert_eq!(qualify_asserts("x.assertEquals(1)"), "x.assertEquals(1)");
        assert_eq!(package_private("public final class A {"), "final class A {");
        assert_eq!(
            package_private("    public class Inner {"),
            "    public class Inner {"
        );
        assert_eq!(
            package_private("public static int f() {"),
            "public static int f() {"
        );
    }

    #[test]
    fn a_regression_fails_a_case_the_buggy_program_passes() {
        assert!(!regressed(Some("PFP"), Some("PPP")));
        assert!(!regressed(Some("PFP"), Some("PFP")));
        assert!(regressed(Some("PFP"), Some("FPP")));
        // Not reached (the run stopped) or nothing ran (no compile): no pass.
        assert!(regressed(Some("PFP"), Some("P")));
        assert!(regressed(Some("PFP"), None));
        // A buggy program that passes nothing cannot be regressed from.
        assert!(!regressed(Some("FF?"), None));
        assert!(!regressed(None, Some("F")));
    }

    #[test]
    fn exact_fix_ignores_layout_comments_and_docstrings() {
        let fixed = "def f(n):\n    return n & (n - 1)  # fixed\n";
        let answer = "def f(n):\n\n    # the fix\n    return n&(n-1)\n\"\"\"\nDoc\n\"\"\"\n";
        assert_eq!(
            normalise(fixed, Language::Python),
            normalise(answer, Language::Python)
        );
        assert_ne!(
            normalise(fixed, Language::Python),
            normalise("def f(n):\n    return n ^ (n - 1)\n", Language::Python)
        );
        // '#' inside a string is not a comment.
        assert_eq!(normalise("x = '#'\n", Language::Python), ["x='#'"]);
        let java = "package java_programs;\nimport java.util.*;\n/* c\n * d */\npublic class A { // x\n    int s = \"//\".length();\n}\n";
        assert_eq!(
            normalise(java, Language::Java),
            ["publicclassA{", "ints=\"//\".length();", "}"]
        );
    }
}
