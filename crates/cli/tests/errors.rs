//! What a user sees when a command fails: one line on stderr, `error: ` and the causes, no
//! backtrace whatever RUST_BACKTRACE says, and a non-zero exit; `-v` puts each cause on a
//! line of its own.

#[allow(dead_code)] // serve() is for the serving tests
mod common;

use common::exe;
use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary with RUST_BACKTRACE=1 (and no RUST_LIB_BACKTRACE), its cache in `home`.
/// RUST_LOG=error keeps warnings (e.g. about the sandbox's isolation on this machine) out of
/// stderr, so that only the error is there.
fn run(args: &[&str], home: &Path) -> Output {
    Command::new(exe())
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LIB_BACKTRACE")
        .env("RUST_LOG", "error")
        .env("TRADEOFF_HOME", home)
        .output()
        .unwrap()
}

/// The stderr lines of a failed command.
fn failed(out: &Output) -> Vec<String> {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "succeeded; stderr: {err}");
    assert_ne!(out.status.code(), None, "killed by a signal; stderr: {err}");
    err.lines().map(str::to_string).collect()
}

/// The one line a failed command printed.
fn one_line(out: &Output) -> String {
    let lines = failed(out);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].starts_with("error: "), "{lines:#?}");
    lines[0].clone()
}

#[test]
fn a_corrupt_gguf_is_one_line_without_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("corrupt.gguf");
    // 1000 bytes that are not GGUF (candle's error for them captures a backtrace).
    let bytes: Vec<u8> = (0u32..1000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&gguf, bytes).unwrap();
    let path = gguf.to_str().unwrap();
    for args in [
        &["eval", "--bench", "humaneval", "--model", path][..],
        &["generate", "--model", path, "--prompt", "hi"],
    ] {
        let line = one_line(&run(args, dir.path()));
        assert!(
            line.starts_with(&format!("error: {path}: not a valid GGUF file")),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn verbose_puts_each_cause_on_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    // --out under a regular file: creating it fails, with the OS error as the cause.
    let out = file.join("out");
    let out = out.to_str().unwrap();
    let args = [
        "eval",
        "--canonical",
        "--bench",
        "humaneval,mbpp",
        "--out",
        out,
    ];
    let line = one_line(&run(&args, dir.path()));
    let head = format!("error: --out {out} must be a directory for several benchmarks");
    assert!(line.starts_with(&format!("{head}: ")), "{line}");

    let mut verbose = vec!["-v"];
    verbose.extend(args);
    let lines = failed(&run(&verbose, dir.path()));
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(lines[0], head);
    assert!(lines[1].starts_with("  caused by: "), "{lines:#?}");
}

#[test]
fn a_draft_count_that_is_not_a_number_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(exe())
        .args(["generate", "--model", "smollm2-135m", "--prompt", "hi"])
        .env("TRADEOFF_DRAFTS", "eight")
        .env("RUST_LOG", "error")
        .env("TRADEOFF_HOME", dir.path())
        .output()
        .unwrap();
    let line = one_line(&out);
    assert!(
        line.contains("TRADEOFF_DRAFTS=eight is not a whole number"),
        "{line}"
    );
}
