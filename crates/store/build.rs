//! Records the git revision the binary was built from (`TRADEOFF_GIT_REV`), so every run in the
//! store says which code produced it. Outside a git checkout (a crate tarball) it is unset.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=TRADEOFF_GIT_REV");
    if let Some(rev) = git(&["rev-parse", "HEAD"]) {
        println!("cargo:rustc-env=TRADEOFF_GIT_REV={rev}");
    }
    // HEAD moves on commit and checkout; its reflog is rewritten each time, also in worktrees.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        for f in ["HEAD", "logs/HEAD"] {
            let p = Path::new(&dir).join(f);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
}
