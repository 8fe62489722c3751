//! C# with Mono: the program is compiled by `mcs` into a library (`prog.dll`) and run by a
//! harness executable (`TradeoffMain.exe`, built once per executor into a private directory
//! and copied into each run) that loads it and calls `Problem.Main`. The program is another
//! assembly, so it cannot replace the harness or run before it.
//!
//! MultiPL-E's C# tests check with `Debug.Assert` (compiled in with `-d:DEBUG`), which by
//! default only prints: the harness replaces the trace listeners with one that throws, so a
//! failed assertion ends the tests as a failure (`F`).

use super::{tool_output, which, Tool};
use crate::error::{io_err, Error, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The harness. The nonce is read from fd 3 and the verdict written on fd 4 through libc
/// (Mono's `FileStream` does not take raw descriptors; no path under /proc is needed).
const DRIVER: &str = r#"
using System;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

// A failed Debug.Assert becomes an exception the harness reports as a test failure.
class TradeoffAssertListener : TraceListener {
    public override void Write(string message) { }
    public override void WriteLine(string message) { }
    public override void Fail(string message) { throw new TradeoffAssertionException(message); }
    public override void Fail(string message, string detail) { throw new TradeoffAssertionException(message + " " + detail); }
}

class TradeoffAssertionException : Exception {
    public TradeoffAssertionException(string message) : base(message) { }
}

public static class TradeoffMain {
    [DllImport("libc", SetLastError = true)]
    static extern IntPtr read(int fd, byte[] buf, IntPtr count);
    [DllImport("libc", SetLastError = true)]
    static extern IntPtr write(int fd, byte[] buf, IntPtr count);
    [DllImport("libc")]
    static extern int close(int fd);

    static void Put(byte[] b) {
        int done = 0;
        while (done < b.Length) {
            byte[] rest = new byte[b.Length - done];
            Array.Copy(b, done, rest, 0, rest.Length);
            long w = (long)write(4, rest, (IntPtr)rest.Length);
            if (w <= 0) return;
            done += (int)w;
        }
    }

    static void Report(string tag, Exception e) {
        try {
            string s = tag + " " + e.GetType().Name + ": " + e.Message;
            Put(System.Text.Encoding.UTF8.GetBytes(s.Length > 1000 ? s.Substring(0, 1000) : s));
        } catch (Exception) {
        }
    }

    public static int Main(string[] args) {
        byte[] nonce = new byte[32];
        int got = 0;
        while (got < nonce.Length) {
            byte[] chunk = new byte[nonce.Length - got];
            long r = (long)read(3, chunk, (IntPtr)chunk.Length);
            if (r <= 0) break;
            Array.Copy(chunk, 0, nonce, got, (int)r);
            got += (int)r;
        }
        if (got != nonce.Length) Environment.Exit(125);
        close(3);
        // The runtime runs and nothing of the candidate has: from here on, how the run ends
        // is the program's (prog.dll is loaded below).
        Put(System.Text.Encoding.UTF8.GetBytes("started\n"));
        Trace.Listeners.Clear();
        Trace.Listeners.Add(new TradeoffAssertListener());
        try {
            Assembly prog = Assembly.LoadFrom("prog.dll");
            MethodInfo main = prog.GetType("Problem", true).GetMethod("Main",
                BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic);
            main.Invoke(null, new object[] { new string[0] });
        } catch (Exception outer) {
            Exception e = outer is TargetInvocationException && outer.InnerException != null
                ? outer.InnerException : outer;
            if (e is TradeoffAssertionException) {
                Report("F", e);
            } else if (e is OutOfMemoryException) {
                Report("M", e);
            } else {
                Console.Error.WriteLine(e);
                Report("E", e);
            }
            Console.Out.Flush();
            Environment.Exit(1);
        }
        Console.Out.Flush();
        Put(nonce);
        Environment.Exit(0);
        return 0;
    }
}
"#;

/// Compiler flags shared by the harness and programs: MultiPL-E's (`-d:DEBUG` keeps
/// `Debug.Assert`; its prompts use `System.Numerics`).
const FLAGS: &[&str] = &["-d:DEBUG", "-r:System.Numerics.dll", "-warn:0"];

#[derive(Debug)]
pub(super) struct CSharp {
    pub(super) mcs: Tool,
    pub(super) mono: PathBuf,
    /// `TradeoffMain.exe`, built by this executor in its own private directory (never
    /// reused from a place a program could have written).
    pub(super) support: tempfile::TempDir,
}

impl CSharp {
    /// The compile command for `prog.cs` in the run directory.
    pub(super) fn compile_argv(&self) -> Vec<String> {
        let mut argv = vec![self.mcs.path.display().to_string()];
        argv.extend(FLAGS.iter().map(|f| f.to_string()));
        argv.extend(["-target:library", "-out:prog.dll", "prog.cs"].map(String::from));
        argv
    }

    /// The test run: the harness, which loads `prog.dll`.
    pub(super) fn run_argv(&self) -> Vec<String> {
        vec![
            self.mono.display().to_string(),
            "support/TradeoffMain.exe".into(),
        ]
    }
}

/// Why mcs failed without compiling the program: every diagnostic about the program carries
/// an `error CS` code, so a failure without one is the compiler's (or runtime's) own.
pub(super) fn compiler_start_failure(output: &str) -> Option<String> {
    (!output.contains("error CS")).then(|| super::stderr_head(output))
}

/// Finds mcs and mono and compiles the harness.
pub(super) fn build() -> std::result::Result<CSharp, String> {
    let missing = |tool: &str| {
        format!(
            "{tool} not found on PATH: install Mono (Debian/Ubuntu: apt-get install mono-mcs \
             libmono-system-numerics4.0-cil) to run C# benchmarks"
        )
    };
    let mcs = which("mcs").ok_or_else(|| missing("mcs"))?;
    let mono = which("mono").ok_or_else(|| missing("mono"))?;
    let version = tool_output(&mcs, &["--version"]).unwrap_or_default();
    let support = compile_support(&mcs).map_err(|e| e.to_string())?;
    Ok(CSharp {
        mcs: Tool { path: mcs, version },
        mono,
        support,
    })
}

fn compile_support(mcs: &Path) -> Result<tempfile::TempDir> {
    let tmp = std::env::temp_dir();
    let out = tempfile::Builder::new()
        .prefix("tradeoff-cs-support-")
        .tempdir()
        .map_err(io_err(&tmp))?;
    let src = out.path().join("TradeoffMain.cs");
    std::fs::write(&src, DRIVER).map_err(io_err(&src))?;
    let run = Command::new(mcs)
        .args(FLAGS)
        .args(["-out:TradeoffMain.exe", "TradeoffMain.cs"])
        .current_dir(out.path())
        .output()
        .map_err(io_err(mcs))?;
    if !run.status.success() {
        return Err(Error::Toolchain(format!(
            "compiling the C# harness failed (System.Numerics comes with apt-get install \
             libmono-system-numerics4.0-cil): {}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        )));
    }
    std::fs::remove_file(&src).map_err(io_err(&src))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcs_failing_without_a_diagnostic_is_its_own_fault() {
        let program =
            "prog.cs(12,9): error CS0103: The name `x' does not exist in the current context\n";
        assert!(compiler_start_failure(program).is_none());
        let runtime = "* Assertion at mono-mmap.c:255, condition `<disabled>' not met\n";
        assert!(compiler_start_failure(runtime).is_some_and(|w| w.contains("mono-mmap")));
    }
}
