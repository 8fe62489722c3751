//! Hostile programs: each tries to change or read files outside its run directory (the
//! user's files, tradeoff's caches, the run store, shared temp dirs). The victim files are
//! world-writable, so Unix permissions alone would let every attack through: what stops them
//! is the sandbox's own confinement. Runs as the current user and, when that is root, again
//! as an unprivileged uid (the same test binary under `setpriv`), through both launchers
//! (exec and warm Python). A legitimate program in the same sandbox must still pass.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tradeoff_eval::sandbox::{Exit, Limits, Sandbox};

const ATTACKS: &str = r#"
import json, os, sys
V = VICTIM
done = {}
def attempt(name, f):
    try:
        f()
        done[name] = "DONE"
    except BaseException as e:
        done[name] = type(e).__name__
def write(p, mode="w"):
    with open(p, mode) as f:
        f.write("x")
attempt("create", lambda: write(V + "/new.txt"))
attempt("overwrite", lambda: write(V + "/keep.txt"))
attempt("append", lambda: write(V + "/keep.txt", "a"))
attempt("truncate", lambda: os.truncate(V + "/keep.txt", 0))
attempt("delete", lambda: os.remove(V + "/keep.txt"))
attempt("rename", lambda: os.rename(V + "/keep.txt", V + "/moved.txt"))
attempt("move_out", lambda: os.rename(V + "/keep.txt", "stolen.txt"))
attempt("hardlink_in", lambda: os.link(V + "/keep.txt", "linked.txt"))
attempt("mkdir", lambda: os.mkdir(V + "/d"))
attempt("rmdir", lambda: os.rmdir(V + "/sub"))
attempt("symlink", lambda: os.symlink("/etc/passwd", V + "/s"))
attempt("mkfifo", lambda: os.mkfifo(V + "/f"))
attempt("chmod", lambda: os.chmod(V + "/keep.txt", 0o600))
attempt("utime", lambda: os.utime(V + "/keep.txt", (0, 0)))
attempt("read_store", lambda: open(V + "/runs.sqlite").read())
attempt("list_cache", lambda: os.listdir(V + "/sub"))
attempt("read_real_cache", lambda: os.listdir(CACHE))
def privileged():
    status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
    if int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0 \
            and status["NoNewPrivs"].strip() == "1":
        raise PermissionError("no capabilities, no_new_privs")
attempt("capabilities", privileged)
attempt("tmp", lambda: write("/tmp/tradeoff-hostile-%d" % os.getpid()))
attempt("dev_shm", lambda: write("/dev/shm/tradeoff-hostile-%d" % os.getpid()))
attempt("var_tmp", lambda: write("/var/tmp/tradeoff-hostile-%d" % os.getpid()))
print(json.dumps(done))
"#;

/// Legitimate work: its own directory, the standard library, a subprocess, /dev/null.
const LEGIT: &str = r#"
import collections, decimal, fractions, hashlib, heapq, itertools, json, math, os, re, subprocess
with open("data.txt", "w") as f:
    f.write("ok")
os.mkdir("sub")
os.rename("data.txt", "sub/data.txt")
assert open("sub/data.txt").read() == "ok"
os.remove("sub/data.txt")
os.rmdir("sub")
with open(os.devnull, "w") as f:
    f.write("x")
assert subprocess.run(["/bin/sh", "-c", "echo hi"], capture_output=True).stdout == b"hi\n"
assert math.gcd(12, 18) == 6 and heapq.nsmallest(1, [3, 1]) == [1]
os.write(4, os.read(3, 32))
"#;

struct Victim {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Victim {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tradeoff-victim-")
            .tempdir()
            .unwrap();
        let path = dir.path().to_path_buf();
        std::fs::create_dir(path.join("sub")).unwrap();
        for (name, text) in [("keep.txt", "keep"), ("runs.sqlite", "secret")] {
            std::fs::write(path.join(name), text).unwrap();
            chmod(&path.join(name), 0o666);
        }
        for d in [&path, &path.join("sub")] {
            chmod(d, 0o777);
        }
        Self { _dir: dir, path }
    }

    /// Names, sizes, modes and mtimes of everything inside.
    fn snapshot(&self) -> Vec<(String, u64, u32, i64)> {
        use std::os::unix::fs::MetadataExt;
        let mut all: Vec<_> = walk(&self.path)
            .into_iter()
            .map(|p| {
                let m = std::fs::symlink_metadata(&p).unwrap();
                (p.display().to_string(), m.len(), m.mode(), m.mtime())
            })
            .collect();
        all.sort();
        all
    }
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = vec![p.to_path_buf()];
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            out.extend(walk(&e.path()));
        }
    }
    out
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn python() -> PathBuf {
    // World-readable, so it also works for the unprivileged uid.
    PathBuf::from("/usr/bin/python3")
}

/// Runs Python `code` in a fresh session through the `exec` or the `warm` launcher.
fn launch(
    sb: &Sandbox,
    warm: &tradeoff_eval::sandbox::WarmPython,
    launcher: &str,
    code: &str,
) -> tradeoff_eval::sandbox::RunOutput {
    let s = sb.session().unwrap();
    let limits = Limits::default();
    match launcher {
        "exec" => s.run(
            &[
                python().display().to_string(),
                "-I".into(),
                "-c".into(),
                code.into(),
            ],
            &limits,
        ),
        _ => s.run_python(warm, code, &limits),
    }
    .unwrap()
}

/// Runs the attacks and the legitimate program through both launchers; returns what each
/// attack did, per launcher.
fn run_suite(sb: &Sandbox, victim: &Victim) -> Vec<(String, serde_json::Value)> {
    let cache = tradeoff_assets::cache_dir();
    let code = ATTACKS
        .replace(
            "VICTIM",
            &format!("{:?}", victim.path.display().to_string()),
        )
        .replace("CACHE", &format!("{:?}", cache.display().to_string()));
    let warm = sb.warm_python(&python()).unwrap();
    let mut results = Vec::new();
    for launcher in ["exec", "warm"] {
        let run = |code: &str| launch(sb, &warm, launcher, code);
        let out = run(&code);
        assert_eq!(out.exit, Exit::Code(0), "{launcher}: {}", out.stderr_str());
        let done: serde_json::Value = serde_json::from_str(out.stdout_str().trim()).unwrap();
        results.push((launcher.to_string(), done));
        let legit = run(LEGIT);
        assert!(
            legit.nonce_seen && legit.exit == Exit::Code(0),
            "{launcher}: the legitimate program failed: {}",
            legit.stderr_str()
        );
    }
    results
}

fn check(sb: &Sandbox) {
    assert!(
        sb.isolation().weaknesses().is_empty(),
        "this platform must give the full sandbox: {}",
        sb.isolation().describe()
    );
    let victim = Victim::new();
    let before = victim.snapshot();
    for (launcher, done) in run_suite(sb, &victim) {
        let escaped: Vec<_> = done
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, v)| *v == "DONE")
            .map(|(k, _)| k.clone())
            .collect();
        assert!(
            escaped.is_empty(),
            "{launcher}: escaped by {escaped:?}: {done}"
        );
        eprintln!(
            "uid {} {launcher}: {} attacks, none got through: {done}",
            // SAFETY: plain getter.
            unsafe { libc::geteuid() },
            done.as_object().unwrap().len()
        );
    }
    assert_eq!(victim.snapshot(), before, "files outside the run changed");
}

#[test]
fn hostile_programs_change_and_read_nothing_outside_their_directory() {
    check(&Sandbox::new().unwrap());
}

/// As root, the same suite again as an unprivileged uid (no passwd entry needed): the
/// sandbox then takes its user-namespace path. As a normal user the test above already is
/// that run.
#[test]
fn hostile_programs_are_confined_for_an_unprivileged_user() {
    if std::env::var_os("TRADEOFF_HOSTILE_CHILD").is_some() {
        check(&Sandbox::new().unwrap());
        return;
    }
    // SAFETY: plain getter.
    if unsafe { libc::geteuid() } != 0 {
        check(&Sandbox::new().unwrap());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=4242", "--regid=4242", "--clear-groups", "--"])
        .arg(&exe)
        .args([
            "--exact",
            "hostile_programs_are_confined_for_an_unprivileged_user",
            "--nocapture",
        ])
        .env("TRADEOFF_HOSTILE_CHILD", "1")
        .env("HOME", std::env::temp_dir())
        .output()
        .expect("setpriv (util-linux) runs the suite as an unprivileged uid");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "as uid 4242:\n{text}");
    assert!(text.contains("1 passed"), "as uid 4242:\n{text}");
}

/// Concurrent runs share nothing to talk through: one listens on an abstract unix socket (and
/// on loopback TCP), the other cannot connect to either, through both launchers.
#[test]
fn concurrent_runs_cannot_reach_each_other() {
    let sb = Sandbox::new().unwrap();
    let warm = sb.warm_python(&python()).unwrap();
    let name = format!("tradeoff-hostile-{}", std::process::id());
    let listen = format!(
        "import socket, time\nu = socket.socket(socket.AF_UNIX)\nu.bind('\\0{name}')\nu.listen()\ntry:\n    t = socket.socket()\n    t.bind(('127.0.0.1', 4242))\n    t.listen()\nexcept OSError:\n    pass\nprint('listening', flush=True)\ntime.sleep(3)\n"
    );
    let connect = format!(
        "import socket, time\ntime.sleep(1)\nfor family, addr in ((socket.AF_UNIX, '\\0{name}'), (socket.AF_INET, ('127.0.0.1', 4242))):\n    try:\n        socket.socket(family).connect(addr)\n        print('CONNECTED', addr)\n    except OSError as e:\n        print('refused', type(e).__name__)\n"
    );
    for launcher in ["exec", "warm"] {
        let run = |code: &str| launch(&sb, &warm, launcher, code);
        let (a, b) = std::thread::scope(|t| {
            let a = t.spawn(|| run(&listen));
            let b = t.spawn(|| run(&connect));
            (a.join().unwrap(), b.join().unwrap())
        });
        assert!(
            a.stdout_str().contains("listening"),
            "{launcher}: {}",
            a.stderr_str()
        );
        let out = b.stdout_str();
        assert_eq!(
            out.matches("refused").count(),
            2,
            "{launcher}: {out}{}",
            b.stderr_str()
        );
    }
}
