//! What the CLI's integration tests share: the binary, and a `tradeoff serve` on loopback.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

pub fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tradeoff"))
}

/// Starts `tradeoff serve` with `args` on a free loopback port, its store in `dir`; returns the
/// child, its URL (`http://HOST:PORT/v1`) and the rest of its stderr, which drains on a thread
/// (so a chatty server never blocks) and is there once the child has exited.
pub fn serve(args: &[&str], dir: &Path) -> (Child, String, JoinHandle<String>) {
    let mut child = Command::new(exe())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(args)
        .env("TRADEOFF_STORE", dir.join("runs.sqlite"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    for _ in 0..20 {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        seen.push_str(&line);
        if let Some(rest) = line.split("on http://").nth(1) {
            assert!(seen.contains("auto = "), "{seen}");
            let url = format!("http://{}", rest.split_whitespace().next().unwrap());
            let rest = std::thread::spawn(move || {
                let mut s = String::new();
                let _ = err.read_to_string(&mut s);
                s
            });
            return (child, url, rest);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no serving line in {seen}");
}
