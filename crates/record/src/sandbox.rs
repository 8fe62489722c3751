//! What the sandbox that ran a benchmark's programs could isolate and which limits it set:
//! recorded with every result ([`crate::SandboxInfo`]). The sandbox itself is
//! `tradeoff_eval::sandbox`; threat model and limits: `docs/sandbox.md`.

use serde::{Deserialize, Serialize};

/// Resource limits of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// CPU seconds (RLIMIT_CPU soft limit; SIGKILL one second later).
    pub cpu_s: u64,
    /// Wall-clock seconds before the whole process tree is killed.
    pub wall_s: f64,
    /// Address space per process (RLIMIT_AS).
    pub memory_bytes: u64,
    /// Largest file the program may write (RLIMIT_FSIZE).
    pub file_size_bytes: u64,
    /// Processes and threads of the run (RLIMIT_NPROC; only enforced per run with a user
    /// namespace or a dropped uid, see [`Isolation::process_limit`]).
    pub processes: u64,
    /// Open file descriptors (RLIMIT_NOFILE).
    pub open_files: u64,
    /// Bytes kept of stdout and of stderr each; the rest is read and dropped.
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            cpu_s: 10,
            wall_s: 20.0,
            memory_bytes: 4 << 30,
            file_size_bytes: 64 << 20,
            processes: 32,
            open_files: 256,
            output_bytes: 64 << 10,
        }
    }
}

/// What isolation the sandbox could set up on this machine; recorded with every result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Isolation {
    /// A network namespace with no interface but a down loopback, so no network at all (as
    /// root, warm Python runs share one; see docs/sandbox.md).
    pub network: bool,
    /// Own pid namespace: every process the program starts dies when the run ends.
    pub pid: bool,
    /// Unprivileged user namespace (how `network` and `pid` are obtained without root).
    pub user_namespace: bool,
    /// Running as root: programs run as an unprivileged uid/gid at or above this one, one per
    /// concurrent run, without supplementary groups.
    pub uid_base: Option<u32>,
    /// RLIMIT_NPROC counts only the run's own processes.
    pub process_limit: bool,
    /// Landlock ABI of the filesystem confinement: a program writes only in its own
    /// directory and reads only system and toolchain directories. None: not confined.
    #[serde(default)]
    pub filesystem: Option<u32>,
    /// Own mount namespace with every mount read-only but the run directory (chmod, chown
    /// and utime fail outside it, which Landlock does not cover).
    #[serde(default)]
    pub read_only_mounts: bool,
    /// Capabilities dropped and no privileges gained through execve, in every launcher.
    #[serde(default)]
    pub no_privileges: bool,
}

impl Isolation {
    /// What this isolation lacks of the full sandbox (empty: nothing). Results of a weak
    /// sandbox are only produced with `--allow-weak-sandbox`, and say so.
    pub fn weaknesses(&self) -> Vec<&'static str> {
        [
            (!self.network, "no network namespace"),
            (!self.pid, "no pid namespace"),
            (
                self.filesystem.is_none(),
                "no filesystem confinement (Landlock)",
            ),
            (!self.read_only_mounts, "no read-only mount namespace"),
            (!self.process_limit, "no per-run process limit"),
            (!self.no_privileges, "capabilities not dropped"),
        ]
        .into_iter()
        .filter_map(|(weak, what)| weak.then_some(what))
        .collect()
    }

    /// One line for logs.
    pub fn describe(&self) -> String {
        let yes = |b: bool| if b { "on" } else { "OFF" };
        format!(
            "network isolation {}, pid namespace {}, filesystem confinement {}, {}, per-run \
             process limit {}",
            yes(self.network),
            yes(self.pid),
            match (self.filesystem, self.read_only_mounts) {
                (Some(abi), true) => format!("on (Landlock ABI {abi}, read-only mounts)"),
                (Some(abi), false) => format!("Landlock ABI {abi} only (mounts writable)"),
                (None, true) => "read-only mounts only (no Landlock)".into(),
                (None, false) => "OFF".into(),
            },
            match (self.uid_base, self.user_namespace) {
                (Some(b), _) => format!("programs run as unprivileged uids >= {b}"),
                (None, true) => "user namespace (same uid)".into(),
                (None, false) => "same uid".into(),
            },
            yes(self.process_limit)
        )
    }
}
