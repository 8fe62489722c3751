//! Runs untrusted programs (model-generated code and its tests), one process tree per run.
//!
//! Each run gets a fresh empty directory as its working directory, a cleared environment,
//! resource limits (CPU time, address space, file size, processes, open files), a wall-clock
//! deadline that kills its whole process tree, capped stdout/stderr, no capabilities, and,
//! where the kernel allows, its own network namespace (no network), pid namespace (no process
//! outlives the run), mount namespace (everything read-only but its directory) and a Landlock
//! domain (writes only in its directory; reads only system and toolchain directories). Under
//! root, programs run as an unprivileged per-run uid. Where the kernel allows less, the
//! sandbox refuses to start unless weak is allowed ([`SandboxConfig::allow_weak`]).
//!
//! A run cannot fake a pass: the harness code reads a per-run random nonce from fd 3, closes
//! it, runs the candidate and its tests, and only then writes the nonce on fd 4
//! ([`RunOutput::nonce_seen`]). Exit status and printed text never count.
//!
//! Threat model and limits: `docs/sandbox.md`. Linux only.

mod landlock;
mod spawn;
mod warm;

pub use warm::WarmPython;

use crate::error::{io_err, Error, Result};
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use tradeoff_record::sandbox::{Isolation, Limits};

/// Sandbox settings.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where run directories are created (default: the system temp dir).
    pub tmp_root: Option<PathBuf>,
    /// Under root, the lowest uid programs run as (one uid per concurrent run).
    pub uid_base: u32,
    /// Try namespaces (network, pid); off gives plain processes with rlimits.
    pub namespaces: bool,
    /// Accept a sandbox weaker than the full one ([`Isolation::weaknesses`]) instead of
    /// refusing to start; the weakness is recorded with every result.
    pub allow_weak: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            tmp_root: None,
            // Far above the ranges useradd and /etc/subuid hand out.
            uid_base: 1_900_000_000,
            namespaces: true,
            allow_weak: false,
        }
    }
}

#[derive(Debug)]
enum Mode {
    /// Root: unshare directly, drop to a per-run uid.
    Root { flags: libc::c_int },
    /// Unprivileged user namespace with identity maps.
    UserNs { flags: libc::c_int },
    /// No namespaces.
    Plain,
}

/// A sandbox; cheap to share between threads ([`Sandbox::session`] per program).
#[derive(Debug)]
pub struct Sandbox {
    mode: Mode,
    isolation: Isolation,
    tmp_root: PathBuf,
}

/// Root mode: which uid slots are in use, process-wide (sandboxes in one process must not
/// hand out the same uid).
static SLOTS: Mutex<Vec<bool>> = Mutex::new(Vec::new());

const SLOTS_PER_PROCESS: usize = 1024;

const NS_FLAGS: libc::c_int =
    libc::CLONE_NEWNET | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWNS;

impl Sandbox {
    /// Probes the kernel for namespaces (once per call; keep the sandbox around).
    pub fn new() -> Result<Self> {
        Self::with_config(SandboxConfig::default())
    }

    pub fn with_config(cfg: SandboxConfig) -> Result<Self> {
        // SAFETY: plain getters.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let root = uid == 0;
        let tmp_root = cfg.tmp_root.unwrap_or_else(std::env::temp_dir);
        let probe_dir = CString::new(tmp_root.as_os_str().as_bytes())
            .map_err(|_| Error::Sandbox(format!("NUL in {}", tmp_root.display())))?;
        let mode = if !cfg.namespaces {
            Mode::Plain
        } else if root && spawn::probe(NS_FLAGS, None, Some(&probe_dir)) {
            Mode::Root { flags: NS_FLAGS }
        } else if !root
            && spawn::probe(
                NS_FLAGS | libc::CLONE_NEWUSER,
                Some(&id_maps(uid, gid)),
                Some(&probe_dir),
            )
        {
            Mode::UserNs {
                flags: NS_FLAGS | libc::CLONE_NEWUSER,
            }
        } else {
            Mode::Plain
        };
        let namespaces = !matches!(mode, Mode::Plain);
        let uid_base = match root {
            true => Some(cfg.uid_base + uid_block()? * SLOTS_PER_PROCESS as u32),
            false => None,
        };
        let isolation = Isolation {
            network: namespaces,
            pid: namespaces,
            user_namespace: matches!(mode, Mode::UserNs { .. }),
            uid_base,
            process_limit: root || matches!(mode, Mode::UserNs { .. }),
            filesystem: landlock::abi(),
            read_only_mounts: namespaces,
            no_privileges: true,
        };
        let weak = isolation.weaknesses();
        if !weak.is_empty() {
            if !cfg.allow_weak {
                return Err(Error::WeakSandbox(weak.join(", ")));
            }
            tracing::warn!(
                "sandbox: weak ({}); results are marked so; see docs/sandbox.md",
                weak.join(", ")
            );
        }
        Ok(Self {
            mode,
            isolation,
            tmp_root,
        })
    }

    pub fn isolation(&self) -> &Isolation {
        &self.isolation
    }

    /// A ruleset confining a run to `dir`, the system and the toolchains of `exes`.
    fn ruleset(&self, dir: &Path, exes: &[&Path]) -> Result<Option<OwnedFd>> {
        let Some(abi) = self.isolation.filesystem else {
            return Ok(None);
        };
        let read: Vec<PathBuf> = exes
            .iter()
            .flat_map(|e| landlock::toolchain_roots(e))
            .collect();
        landlock::ruleset(abi, dir, &read)
            .map(Some)
            .map_err(|e| Error::Sandbox(format!("Landlock ruleset: {e}")))
    }

    /// Starts a zygote interpreter for [`Session::run_python`] (see [`WarmPython`]).
    pub fn warm_python(&self, python: &Path) -> Result<WarmPython> {
        WarmPython::start(python)
    }

    /// A fresh empty directory for one program; runs in it share its files (compile, then run).
    pub fn session(&self) -> Result<Session<'_>> {
        let dir = tempfile::Builder::new()
            .prefix("tradeoff-run-")
            .tempdir_in(&self.tmp_root)
            .map_err(io_err(&self.tmp_root))?;
        let slot = match self.isolation.uid_base {
            Some(_) => Some(self.take_slot()?),
            None => None,
        };
        let uid = slot.map(|s| self.uid_of(s));
        // Private to the run's uid (and to us).
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .map_err(io_err(dir.path()))?;
        if let Some(uid) = uid {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(uid))
                .map_err(io_err(dir.path()))?;
        }
        Ok(Session {
            sandbox: self,
            dir: Some(dir),
            slot,
            uid,
        })
    }

    fn take_slot(&self) -> Result<usize> {
        let mut slots = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
        match slots.iter().position(|used| !used) {
            Some(i) => {
                slots[i] = true;
                Ok(i)
            }
            None if slots.len() < SLOTS_PER_PROCESS => {
                slots.push(true);
                Ok(slots.len() - 1)
            }
            None => Err(Error::Sandbox(format!(
                "more than {SLOTS_PER_PROCESS} concurrent runs"
            ))),
        }
    }

    /// Root mode: `uid_base + slot`; `uid_base` includes this process's block ([`uid_block`]),
    /// so concurrent tradeoff processes use different uids (and their runs cannot touch each
    /// other's files or process counts).
    fn uid_of(&self, slot: usize) -> u32 {
        self.isolation.uid_base.unwrap_or(0) + slot as u32
    }

    fn release_slot(&self, slot: usize) {
        let mut slots = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
        slots[slot] = false;
    }
}

/// This process's block of 1024 uids (0..2^16), held until it exits: the block is the name
/// of an abstract unix socket we bind, which no other process can bind while we live. Starts
/// at the pid's block, so the first try nearly always succeeds.
fn uid_block() -> Result<u32> {
    static BLOCK: OnceLock<std::result::Result<(u32, OwnedFd), String>> = OnceLock::new();
    let held = BLOCK.get_or_init(|| {
        // SAFETY: plain getter.
        let start = unsafe { libc::getpid() } as u32;
        (0..1u32 << 16)
            .map(|i| start.wrapping_add(i) & 0xFFFF)
            .find_map(|b| bind_abstract(&format!("tradeoff-uid-block-{b}")).map(|fd| (b, fd)))
            .ok_or_else(|| "every uid block is held by another process".to_string())
    });
    match held {
        Ok((b, _)) => Ok(*b),
        Err(e) => Err(Error::Sandbox(e.clone())),
    }
}

fn bind_abstract(name: &str) -> Option<OwnedFd> {
    // SAFETY: a socket we own; the address is built in a zeroed local struct.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return None;
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        // sun_path[0] = 0: the abstract namespace, gone with the socket.
        for (d, s) in addr.sun_path[1..].iter_mut().zip(name.as_bytes()) {
            *d = *s as libc::c_char;
        }
        let len = std::mem::size_of::<libc::sa_family_t>() + 1 + name.len();
        let r = libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len as libc::socklen_t,
        );
        (r == 0).then_some(fd)
    }
}

fn id_maps(uid: u32, gid: u32) -> (Vec<u8>, Vec<u8>) {
    (
        format!("{uid} {uid} 1\n").into_bytes(),
        format!("{gid} {gid} 1\n").into_bytes(),
    )
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Killed at the wall-clock deadline before it reported.
    Killed,
}

/// Everything observed about one run.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub exit: Exit,
    /// The wall-clock deadline was reached and the process tree killed.
    pub timed_out: bool,
    pub wall_s: f64,
    /// User + system CPU of the program and its reaped children (unknown when killed).
    pub cpu_s: Option<f64>,
    pub max_rss_kb: Option<u64>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Bytes written in all (more than kept when over [`Limits::output_bytes`]).
    pub stdout_len: u64,
    pub stderr_len: u64,
    /// What the program wrote on fd 4 (first 4 KiB).
    pub verdict: Vec<u8>,
    /// fd 4 carried this run's nonce: the harness code ran to its end.
    pub nonce_seen: bool,
}

impl RunOutput {
    /// Killed by the CPU-time limit (SIGXCPU at the soft limit, SIGKILL at the hard one).
    pub fn cpu_exceeded(&self, limits: &Limits) -> bool {
        match self.exit {
            Exit::Signal(s) if s == libc::SIGXCPU => true,
            Exit::Signal(s) if s == libc::SIGKILL => {
                self.cpu_s.is_some_and(|c| c + 0.05 >= limits.cpu_s as f64)
            }
            _ => false,
        }
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// One program's directory; dropped, it is removed (the processes are gone by then).
pub struct Session<'a> {
    sandbox: &'a Sandbox,
    dir: Option<tempfile::TempDir>,
    slot: Option<usize>,
    uid: Option<u32>,
}

impl Session<'_> {
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("present until drop").path()
    }

    /// Writes a file (relative path) into the run directory, readable by the program.
    pub fn write_file(&self, rel: &str, data: &[u8]) -> Result<()> {
        let path = self.dir().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let mut f = std::fs::File::create(&path).map_err(io_err(&path))?;
        f.write_all(data).map_err(io_err(&path))
    }

    /// Copies a directory tree into the run directory (e.g. precompiled support classes).
    pub fn copy_dir(&self, src: &Path, rel: &str) -> Result<()> {
        copy_tree(src, &self.dir().join(rel))
    }

    /// Runs `argv` (its first element an absolute path) in the run directory.
    pub fn run(&self, argv: &[String], limits: &Limits) -> Result<RunOutput> {
        self.run_env(argv, &[], limits)
    }

    /// Like [`Session::run`] with extra environment variables.
    pub fn run_env(
        &self,
        argv: &[String],
        env: &[(&str, &str)],
        limits: &Limits,
    ) -> Result<RunOutput> {
        let path = argv
            .first()
            .filter(|p| p.starts_with('/'))
            .ok_or_else(|| Error::Sandbox(format!("argv[0] must be an absolute path: {argv:?}")))?;
        let setup = self.setup(env, limits, Path::new(path))?;
        let cstr = |s: &[u8]| {
            CString::new(s).map_err(|_| Error::Sandbox(format!("NUL byte in argument {argv:?}")))
        };
        let plan = spawn::Plan {
            path: cstr(path.as_bytes())?,
            argv: argv
                .iter()
                .map(|a| cstr(a.as_bytes()))
                .collect::<Result<_>>()?,
            env: setup
                .env
                .iter()
                .map(|(k, v)| cstr(format!("{k}={v}").as_bytes()))
                .collect::<Result<_>>()?,
            cwd: cstr(self.dir().as_os_str().as_bytes())?,
            unshare: setup.unshare,
            pid_ns: setup.pid_ns,
            writable: (setup.unshare & libc::CLONE_NEWNS != 0)
                .then(|| cstr(self.dir().as_os_str().as_bytes()))
                .transpose()?,
            id_maps: setup.id_maps.clone(),
            drop_to: setup.drop_to,
            rlimits: setup.rlimits.clone(),
        };
        self.execute(&setup, limits, path, |fds| {
            // SAFETY: all descriptors in `fds` are open until after the fork returns.
            let pid = unsafe { spawn::spawn(&plan, fds) }
                .map_err(|e| Error::Sandbox(format!("fork: {e}")))?;
            Ok(Some(pid))
        })
    }

    /// Runs Python `code` in a process forked from `warm`'s interpreter instead of a fresh
    /// one (same isolation, no interpreter start-up): see [`WarmPython`].
    pub fn run_python(&self, warm: &WarmPython, code: &str, limits: &Limits) -> Result<RunOutput> {
        let setup = self.setup(&[], limits, warm.python())?;
        let request = serde_json::json!({
            "dir": self.dir(),
            "uid": setup.drop_to,
            "unshare": setup.unshare,
            "pid_ns": setup.pid_ns,
            "sys_clone": libc::SYS_clone,
            "id_maps": setup.id_maps.as_ref().map(|(u, g)| {
                [String::from_utf8_lossy(u), String::from_utf8_lossy(g)]
            }),
            "rlimits": setup
                .rlimits
                .iter()
                .map(|(r, l)| [i64::from(*r), l.rlim_cur as i64, l.rlim_max as i64])
                .collect::<Vec<_>>(),
            "env": setup.env.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "code": code,
        });
        let request = serde_json::to_vec(&request).expect("plain data");
        self.execute(&setup, limits, "python (warm)", |fds| {
            warm.launch(&request, fds)?;
            Ok(None)
        })
    }

    /// What both launchers apply to a run of `exe`.
    fn setup(&self, env: &[(&str, &str)], limits: &Limits, exe: &Path) -> Result<Setup> {
        let dir = self.dir().display().to_string();
        let mut envs = vec![
            (
                "PATH".to_string(),
                "/usr/local/bin:/usr/bin:/bin".to_string(),
            ),
            ("HOME".to_string(), dir.clone()),
            ("TMPDIR".to_string(), dir),
            ("LANG".to_string(), "C.UTF-8".to_string()),
        ];
        envs.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut rlimits = vec![
            rlim(libc::RLIMIT_CPU, limits.cpu_s, limits.cpu_s + 1),
            rlim(libc::RLIMIT_AS, limits.memory_bytes, limits.memory_bytes),
            rlim(
                libc::RLIMIT_FSIZE,
                limits.file_size_bytes,
                limits.file_size_bytes,
            ),
            rlim(libc::RLIMIT_NOFILE, limits.open_files, limits.open_files),
            rlim(libc::RLIMIT_CORE, 0, 0),
        ];
        let (unshare, pid_ns, id_maps_, drop_to) = match self.sandbox.mode {
            Mode::Root { flags } => (flags, flags & libc::CLONE_NEWPID != 0, None, self.uid),
            Mode::UserNs { flags } => {
                // SAFETY: plain getters.
                let (u, g) = unsafe { (libc::geteuid(), libc::getegid()) };
                (flags, true, Some(id_maps(u, g)), None)
            }
            Mode::Plain => (0, false, None, self.uid),
        };
        if self.sandbox.isolation.process_limit {
            // In a user namespace the supervisor and init count too.
            let extra = if id_maps_.is_some() { 2 } else { 0 };
            let n = limits.processes + extra;
            rlimits.push(rlim(libc::RLIMIT_NPROC, n, n));
        }
        Ok(Setup {
            env: envs,
            rlimits,
            unshare,
            pid_ns,
            id_maps: id_maps_,
            drop_to,
            ruleset: self.sandbox.ruleset(self.dir(), &[exe])?,
        })
    }

    /// Creates the run's pipes, starts it with `launch` (which returns the supervisor's pid
    /// when it is our child), enforces the deadline and collects what the run produced.
    fn execute(
        &self,
        setup: &Setup,
        limits: &Limits,
        what: &str,
        launch: impl FnOnce(&spawn::Fds) -> Result<Option<libc::pid_t>>,
    ) -> Result<RunOutput> {
        let nonce = random_nonce()?;
        let (nonce_r, nonce_w) = pipe()?;
        write_fd(&nonce_w, nonce.as_bytes())?;
        drop(nonce_w);
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (ver_r, ver_w) = pipe()?;
        let (st_r, st_w) = pipe()?;
        if let Some(uid) = self.uid {
            // Runtimes that reach fds through /proc/self/fd (the JVM) reopen the pipe, which
            // checks the pipe's owner: make it the run's uid.
            for fd in [&nonce_r, &ver_w] {
                // SAFETY: fchown on an owned descriptor.
                if unsafe { libc::fchown(fd.as_raw_fd(), uid, uid) } != 0 {
                    return Err(Error::Sandbox(format!(
                        "fchown pipe: {}",
                        std::io::Error::last_os_error()
                    )));
                }
            }
        }
        let null = std::fs::File::open("/dev/null").map_err(io_err("/dev/null"))?;
        let fds = spawn::Fds {
            stdin: null.as_raw_fd(),
            stdout: out_w.as_raw_fd(),
            stderr: err_w.as_raw_fd(),
            nonce: nonce_r.as_raw_fd(),
            verdict: ver_w.as_raw_fd(),
            status: st_w.as_raw_fd(),
            ruleset: setup.ruleset.as_ref().map_or(-1, |r| r.as_raw_fd()),
        };
        let start = Instant::now();
        let supervisor = launch(&fds)?;
        drop((null, nonce_r, out_w, err_w, ver_w, st_w));

        let deadline = start + Duration::from_secs_f64(limits.wall_s.max(0.0));
        let mut streams = [
            Stream::new(out_r, limits.output_bytes),
            Stream::new(err_r, limits.output_bytes),
            Stream::new(ver_r, 4096),
            Stream::new(st_r, 4096),
        ];
        let timed_out = pump(&mut streams, deadline);
        let wall_s = start.elapsed().as_secs_f64();
        if timed_out {
            // Kill init (or, without a pid namespace, the program and its process group),
            // then wait for the supervisor to see it gone: with a pid namespace that means
            // every process of the run is gone, so its uid can be reused at once. The
            // supervisor is alive until then, so its group id is still this run's.
            let r = Reports::parse(&streams[3].kept);
            let group = supervisor.or(r.group);
            // SAFETY: signalling processes of this run only.
            unsafe {
                if let Some(t) = r.pid {
                    libc::kill(t, libc::SIGKILL);
                }
                if let (Some(g), true) = (group, r.pid.is_none() || !setup.pid_ns) {
                    libc::kill(-g, libc::SIGKILL);
                }
            }
            if pump(&mut streams, Instant::now() + Duration::from_secs(10)) {
                tracing::warn!("sandbox: a run did not end 10 s after SIGKILL");
            }
        }
        if let Some(pid) = supervisor {
            // SAFETY: signalling the run's own process group (leftovers without a pid
            // namespace), then reaping its supervisor, whose zombie keeps the group id from
            // reuse until then.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                let mut st = 0;
                while libc::waitpid(pid, &mut st, 0) < 0
                    && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                {
                }
            }
        }
        for s in &mut streams {
            s.drain();
        }
        let [out, err, ver, status] = streams;

        let reports = Reports::parse(&status.kept);
        if let Some((stage, errno)) = reports.error {
            return Err(Error::Sandbox(format!(
                "{} failed for {what}: {}",
                spawn::stage_name(stage),
                std::io::Error::from_raw_os_error(errno)
            )));
        }
        if reports.status.is_none() && !timed_out {
            return Err(Error::Sandbox(format!(
                "{what}: the run ended without reporting how (its supervisor died)"
            )));
        }
        let mut exit = Exit::Killed;
        let (mut cpu_s, mut max_rss_kb) = (None, None);
        if let Some((st, cpu, rss)) = reports.status {
            exit = if libc::WIFSIGNALED(st) {
                Exit::Signal(libc::WTERMSIG(st))
            } else {
                Exit::Code(libc::WEXITSTATUS(st))
            };
            cpu_s = Some(cpu);
            max_rss_kb = Some(rss);
        }
        let nonce_seen = contains(&ver.kept, nonce.as_bytes());
        Ok(RunOutput {
            exit,
            timed_out,
            wall_s,
            cpu_s,
            max_rss_kb,
            stdout: out.kept,
            stderr: err.kept,
            stdout_len: out.total,
            stderr_len: err.total,
            verdict: ver.kept,
            nonce_seen,
        })
    }
}

/// Settings of one run, shared by both launchers.
struct Setup {
    env: Vec<(String, String)>,
    rlimits: Vec<(spawn::Resource, libc::rlimit)>,
    unshare: libc::c_int,
    pid_ns: bool,
    id_maps: Option<(Vec<u8>, Vec<u8>)>,
    drop_to: Option<u32>,
    /// Landlock ruleset for the program, where the kernel has Landlock.
    ruleset: Option<OwnedFd>,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_path_buf();
            if dir.close().is_err() {
                // The program may have left unwritable directories behind.
                make_writable(&path);
                if let Err(e) = std::fs::remove_dir_all(&path) {
                    tracing::warn!("could not remove {}: {e}", path.display());
                }
            }
        }
        if let Some(slot) = self.slot {
            self.sandbox.release_slot(slot);
        }
    }
}

fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.is_dir() {
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700));
            if let Ok(rd) = std::fs::read_dir(path) {
                for e in rd.flatten() {
                    make_writable(&e.path());
                }
            }
        }
    }
}

fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    std::fs::create_dir_all(dst).map_err(io_err(dst))?;
    for entry in std::fs::read_dir(src).map_err(io_err(src))? {
        let entry = entry.map_err(io_err(src))?;
        let to = dst.join(entry.file_name());
        if entry.file_type().map_err(io_err(entry.path()))?.is_dir() {
            copy_tree(&entry.path(), &to)?;
        } else {
            std::fs::copy(entry.path(), &to).map_err(io_err(&to))?;
        }
    }
    Ok(())
}

fn rlim(res: spawn::Resource, soft: u64, hard: u64) -> (spawn::Resource, libc::rlimit) {
    (
        res,
        libc::rlimit {
            rlim_cur: soft as libc::rlim_t,
            rlim_max: hard as libc::rlim_t,
        },
    )
}

/// What the fork chain reported on the status pipe.
#[derive(Default)]
struct Reports {
    /// The supervisor, when it is not our child (warm launcher): the run's process group.
    group: Option<libc::pid_t>,
    /// What to kill at the deadline.
    pid: Option<libc::pid_t>,
    /// Wait status, CPU seconds, max RSS in KiB.
    status: Option<(i32, f64, u64)>,
    /// Setup stage and errno.
    error: Option<(u8, i32)>,
}

impl Reports {
    fn parse(mut msg: &[u8]) -> Self {
        let mut r = Reports::default();
        let int = |b: &[u8]| i32::from_le_bytes(b[..4].try_into().expect("4 bytes"));
        let word = |b: &[u8]| i64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
        loop {
            match msg.first() {
                // Only the first of each counts.
                Some(&spawn::MSG_PID) if msg.len() >= spawn::PID_LEN => {
                    r.pid = r.pid.or(Some(int(&msg[1..])));
                    msg = &msg[spawn::PID_LEN..];
                }
                Some(&spawn::MSG_GROUP) if msg.len() >= spawn::PID_LEN => {
                    r.group = r.group.or(Some(int(&msg[1..])));
                    msg = &msg[spawn::PID_LEN..];
                }
                Some(&spawn::MSG_STATUS) if msg.len() >= spawn::STATUS_LEN => {
                    let cpu = (word(&msg[5..]) + word(&msg[13..])) as f64 / 1e6;
                    r.status = Some((int(&msg[1..]), cpu, word(&msg[21..]).max(0) as u64));
                    msg = &msg[spawn::STATUS_LEN..];
                }
                Some(&spawn::MSG_ERROR) if msg.len() >= spawn::ERROR_LEN => {
                    r.error = Some((msg[1], int(&msg[2..])));
                    msg = &msg[spawn::ERROR_LEN..];
                }
                _ => return r,
            }
        }
    }
}

/// A read end being drained: the first `cap` bytes are kept.
struct Stream {
    fd: OwnedFd,
    cap: usize,
    kept: Vec<u8>,
    total: u64,
    eof: bool,
}

impl Stream {
    fn new(fd: OwnedFd, cap: usize) -> Self {
        // SAFETY: fcntl on an owned descriptor.
        unsafe {
            let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        Self {
            fd,
            cap,
            kept: Vec::new(),
            total: 0,
            eof: false,
        }
    }

    /// Reads what is available now.
    fn drain(&mut self) {
        let mut buf = [0u8; 16384];
        while !self.eof {
            // SAFETY: reading into a local buffer.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                let n = n as usize;
                self.total += n as u64;
                let room = self.cap.saturating_sub(self.kept.len());
                self.kept.extend_from_slice(&buf[..n.min(room)]);
            } else if n == 0 {
                self.eof = true;
            } else {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    // EAGAIN: nothing more for now.
                    break;
                }
            }
        }
    }
}

/// Drains the streams until the status pipe (the last) closes or the deadline passes.
/// Returns whether the deadline passed.
fn pump(streams: &mut [Stream; 4], deadline: Instant) -> bool {
    loop {
        if streams[3].eof {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        let mut pfds: Vec<libc::pollfd> = streams
            .iter()
            .filter(|s| !s.eof)
            .map(|s| libc::pollfd {
                fd: s.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = (deadline - now).as_millis().clamp(1, 1000) as libc::c_int;
        // SAFETY: polling a local array of open descriptors.
        unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
        for p in pfds.iter().filter(|p| p.revents != 0) {
            if let Some(s) = streams.iter_mut().find(|s| s.fd.as_raw_fd() == p.fd) {
                s.drain();
            }
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the array; on success we own both descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::Sandbox(format!(
            "pipe: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: freshly created, owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn write_fd(fd: &OwnedFd, data: &[u8]) -> Result<()> {
    // SAFETY: writing a small buffer into a fresh pipe (it fits: pipes hold 64 KiB).
    let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
    if n != data.len() as isize {
        return Err(Error::Sandbox("could not write the nonce".into()));
    }
    Ok(())
}

/// 128 random bits from the kernel, as the 32 hex digits a program reads from fd 3.
fn random_nonce() -> Result<String> {
    let mut buf = [0u8; 16];
    // SAFETY: getrandom fills the local buffer.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        return Err(Error::Sandbox(format!(
            "getrandom: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_uid_block_cannot_be_taken_by_another_process() {
        let block = uid_block().unwrap();
        assert_eq!(uid_block().unwrap(), block, "one block per process");
        // What another tradeoff process trying this block gets: refused, so it moves on.
        assert!(bind_abstract(&format!("tradeoff-uid-block-{block}")).is_none());
        let name = format!("tradeoff-uid-block-test-{}", std::process::id());
        let held = bind_abstract(&name).unwrap();
        assert!(bind_abstract(&name).is_none());
        drop(held);
        assert!(bind_abstract(&name).is_some(), "released with the socket");
    }
}
