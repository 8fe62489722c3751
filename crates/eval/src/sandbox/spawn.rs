//! The fork/exec chain of one sandboxed run.
//!
//! ```text
//! worker thread
//!  └─ supervisor   new session (its pid is the process group to kill); unshare(namespaces)
//!      └─ init     only with a pid namespace: pid 1, reaps orphans, reports, exits, which
//!                  makes the kernel kill everything left in the namespace
//!          └─ program   drop uid (root), rlimits, fds 0-4, cleared env, execve
//! ```
//!
//! Everything after `fork` runs in a copy of a multi-threaded process, so it only makes raw
//! system calls on data prepared before the fork: no allocation, no locks, no panics.

use libc::{c_char, c_int, pid_t};
use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::ptr;

#[cfg(target_env = "gnu")]
pub(super) type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
pub(super) type Resource = c_int;

/// What the child side needs, prepared before the fork.
pub(super) struct Plan {
    pub path: CString,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    pub cwd: CString,
    pub unshare: c_int,
    pub pid_ns: bool,
    /// With a mount namespace: the run directory, the only writable mount left.
    pub writable: Option<CString>,
    /// Identity uid/gid maps for an unprivileged user namespace ("U U 1").
    pub id_maps: Option<(Vec<u8>, Vec<u8>)>,
    /// Root only: run the program as this uid/gid, with no supplementary groups.
    pub drop_to: Option<u32>,
    pub rlimits: Vec<(Resource, libc::rlimit)>,
}

/// Parent-side descriptors the program gets as 0..=4; `status` is for the chain's reports.
pub(super) struct Fds {
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    pub nonce: RawFd,
    pub verdict: RawFd,
    pub status: RawFd,
    /// A Landlock ruleset the program restricts itself with, or -1.
    pub ruleset: RawFd,
}

// Setup stages named in failure reports.
pub(super) const STAGE_UNSHARE: u8 = 1;
pub(super) const STAGE_IDMAP: u8 = 2;
pub(super) const STAGE_FORK: u8 = 3;
pub(super) const STAGE_UID: u8 = 4;
pub(super) const STAGE_CHDIR: u8 = 5;
pub(super) const STAGE_FDS: u8 = 6;
pub(super) const STAGE_RLIMIT: u8 = 7;
pub(super) const STAGE_EXEC: u8 = 8;
pub(super) const STAGE_CONFINE: u8 = 9;
pub(super) const STAGE_MOUNT: u8 = 10;

pub(super) fn stage_name(stage: u8) -> &'static str {
    match stage {
        STAGE_UNSHARE => "unshare (namespaces)",
        STAGE_IDMAP => "writing uid/gid maps",
        STAGE_FORK => "fork",
        STAGE_UID => "dropping to the sandbox uid",
        STAGE_CHDIR => "entering the run directory",
        STAGE_FDS => "setting up file descriptors",
        STAGE_RLIMIT => "setting resource limits",
        STAGE_EXEC => "execve",
        STAGE_CONFINE => "dropping capabilities and confining the filesystem (Landlock)",
        STAGE_MOUNT => "mounting everything but the run directory read-only",
        _ => "setup",
    }
}

/// Report tags on the status pipe: `G` + the supervisor's pid (warm launcher only); `P` + pid
/// to kill at the deadline; `S` + wait status + rusage of the program; `E` + setup stage +
/// errno.
pub(super) const MSG_GROUP: u8 = b'G';
pub(super) const MSG_PID: u8 = b'P';
pub(super) const MSG_STATUS: u8 = b'S';
pub(super) const MSG_ERROR: u8 = b'E';
pub(super) const PID_LEN: usize = 1 + 4;
pub(super) const STATUS_LEN: usize = 1 + 4 + 8 + 8 + 8;
pub(super) const ERROR_LEN: usize = 1 + 1 + 4;

/// Forks the supervisor. Returns its pid, which is also the process group of the run.
///
/// # Safety
/// The descriptors in `fds` must be open; the child side only uses `plan` and `fds`.
pub(super) unsafe fn spawn(plan: &Plan, fds: &Fds) -> io::Result<pid_t> {
    let argv: Vec<*const c_char> = plan
        .argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(ptr::null()))
        .collect();
    let envp: Vec<*const c_char> = plan
        .env
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(ptr::null()))
        .collect();
    let parent = libc::getpid();
    let pid = libc::fork();
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        supervisor(plan, fds, &argv, &envp, parent);
    }
    Ok(pid)
}

unsafe fn supervisor(
    plan: &Plan,
    fds: &Fds,
    argv: &[*const c_char],
    envp: &[*const c_char],
    parent: pid_t,
) -> ! {
    libc::setsid();
    if plan.unshare != 0 && libc::unshare(plan.unshare) != 0 {
        fail(fds.status, STAGE_UNSHARE);
    }
    if let Some((uid_map, gid_map)) = &plan.id_maps {
        if !write_file(c"/proc/self/setgroups", b"deny")
            || !write_file(c"/proc/self/uid_map", uid_map)
            || !write_file(c"/proc/self/gid_map", gid_map)
        {
            fail(fds.status, STAGE_IDMAP);
        }
    }
    if let Some(dir) = &plan.writable {
        if !read_only_except(dir) {
            fail(fds.status, STAGE_MOUNT);
        }
    }
    // Die with the worker thread that started us; set after unshare, which may reset it.
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    if libc::getppid() != parent {
        libc::_exit(1);
    }
    let child = libc::fork();
    if child < 0 {
        fail(fds.status, STAGE_FORK);
    }
    if child == 0 {
        if plan.pid_ns {
            init(plan, fds, argv, envp);
        }
        program(plan, fds, argv, envp);
    }
    close_all_except(0, fds.status);
    // Tell the worker whom to kill at the deadline: init (whose death empties the namespace,
    // which we then see through waitpid) or the program itself.
    let mut msg = [0u8; PID_LEN];
    msg[0] = MSG_PID;
    msg[1..5].copy_from_slice(&child.to_le_bytes());
    write_all(fds.status, &msg);
    if plan.pid_ns {
        // init reports; waiting here means the worker sees the status pipe close only once
        // the namespace is empty.
        let mut st = 0;
        while libc::waitpid(child, &mut st, 0) < 0 && errno() == libc::EINTR {}
        libc::_exit(0);
    }
    report_exit(child, fds.status)
}

/// pid 1 of the new pid namespace.
unsafe fn init(plan: &Plan, fds: &Fds, argv: &[*const c_char], envp: &[*const c_char]) -> ! {
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    let child = libc::fork();
    if child < 0 {
        fail(fds.status, STAGE_FORK);
    }
    if child == 0 {
        program(plan, fds, argv, envp);
    }
    close_all_except(0, fds.status);
    report_exit(child, fds.status)
}

/// Waits for `child` (reaping any orphan on the way), reports how it ended, exits.
unsafe fn report_exit(child: pid_t, status_fd: RawFd) -> ! {
    loop {
        let mut st: c_int = 0;
        let mut ru: libc::rusage = std::mem::zeroed();
        let r = libc::wait4(-1, &mut st, 0, &mut ru);
        if r == child {
            let mut msg = [0u8; STATUS_LEN];
            msg[0] = MSG_STATUS;
            msg[1..5].copy_from_slice(&st.to_le_bytes());
            msg[5..13].copy_from_slice(&micros(ru.ru_utime).to_le_bytes());
            msg[13..21].copy_from_slice(&micros(ru.ru_stime).to_le_bytes());
            msg[21..29].copy_from_slice(&(ru.ru_maxrss as i64).to_le_bytes());
            write_all(status_fd, &msg);
            libc::_exit(0);
        }
        if r < 0 && errno() != libc::EINTR {
            libc::_exit(1);
        }
    }
}

unsafe fn program(plan: &Plan, fds: &Fds, argv: &[*const c_char], envp: &[*const c_char]) -> ! {
    if let Some(id) = plan.drop_to {
        if libc::setgroups(0, ptr::null()) != 0
            || libc::setresgid(id, id, id) != 0
            || libc::setresuid(id, id, id) != 0
        {
            fail(fds.status, STAGE_UID);
        }
    }
    // After the uid change, which clears it.
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    if !confine(fds.ruleset) {
        fail(fds.status, STAGE_CONFINE);
    }
    // A fresh process expects default signal dispositions and an empty mask (Rust ignores
    // SIGPIPE, and ignored signals survive execve).
    let mut set: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut set);
    libc::sigprocmask(libc::SIG_SETMASK, &set, ptr::null_mut());
    for sig in 1..32 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    if libc::chdir(plan.cwd.as_ptr()) != 0 {
        fail(fds.status, STAGE_CHDIR);
    }
    // Move everything above the target numbers first so no dup2 clobbers a source.
    let status = libc::fcntl(fds.status, libc::F_DUPFD_CLOEXEC, 10);
    if status < 0 {
        fail(fds.status, STAGE_FDS);
    }
    let sources = [fds.stdin, fds.stdout, fds.stderr, fds.nonce, fds.verdict];
    let mut high = [0 as RawFd; 5];
    for (h, &s) in high.iter_mut().zip(&sources) {
        *h = libc::fcntl(s, libc::F_DUPFD_CLOEXEC, 10);
        if *h < 0 {
            fail(status, STAGE_FDS);
        }
    }
    for (target, &h) in high.iter().enumerate() {
        if libc::dup2(h, target as c_int) < 0 {
            fail(status, STAGE_FDS);
        }
    }
    close_all_except(5, status);
    for (res, lim) in &plan.rlimits {
        if libc::setrlimit(*res, lim) != 0 {
            fail(status, STAGE_RLIMIT);
        }
    }
    libc::execve(plan.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
    fail(status, STAGE_EXEC)
}

/// In a fresh mount namespace: every mount read-only but a bind mount of `dir`. Landlock
/// cannot stop chmod, chown or utime on files the uid owns (the user's own files, in user
/// namespace mode); a read-only mount does.
unsafe fn read_only_except(dir: &std::ffi::CStr) -> bool {
    #[repr(C)]
    struct MountAttr {
        set: u64,
        clear: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 1;
    let attr = |set, clear| MountAttr {
        set,
        clear,
        propagation: 0,
        userns_fd: 0,
    };
    let setattr = |path: &std::ffi::CStr, flags: c_int, a: &MountAttr| {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags as libc::c_uint,
            a as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        ) == 0
    };
    // Private first, so nothing below propagates back to the host's mounts.
    libc::mount(
        ptr::null(),
        c"/".as_ptr(),
        ptr::null(),
        libc::MS_REC | libc::MS_PRIVATE,
        ptr::null(),
    ) == 0
        && libc::mount(
            dir.as_ptr(),
            dir.as_ptr(),
            ptr::null(),
            libc::MS_BIND | libc::MS_REC,
            ptr::null(),
        ) == 0
        && setattr(c"/", libc::AT_RECURSIVE, &attr(MOUNT_ATTR_RDONLY, 0))
        && setattr(dir, 0, &attr(0, MOUNT_ATTR_RDONLY))
}

/// No capabilities (a user namespace grants them all inside it), no privileges gained by
/// execve (setuid binaries), then the Landlock ruleset if there is one.
unsafe fn confine(ruleset: RawFd) -> bool {
    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: c_int,
    }
    const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    // Version 3 takes two `{ effective, permitted, inheritable }` sets of u32: all empty.
    let none = [0u32; 6];
    if libc::syscall(libc::SYS_capset, &header, none.as_ptr()) != 0 {
        return false;
    }
    libc::prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        0 as libc::c_ulong,
        0 as libc::c_ulong,
        0 as libc::c_ulong,
    );
    if libc::prctl(
        libc::PR_SET_NO_NEW_PRIVS,
        1 as libc::c_ulong,
        0 as libc::c_ulong,
        0 as libc::c_ulong,
        0 as libc::c_ulong,
    ) != 0
    {
        return false;
    }
    ruleset < 0 || libc::syscall(super::landlock::SYS_RESTRICT_SELF, ruleset, 0u32) == 0
}

unsafe fn fail(status_fd: RawFd, stage: u8) -> ! {
    let e = errno();
    let mut msg = [0u8; ERROR_LEN];
    msg[0] = MSG_ERROR;
    msg[1] = stage;
    msg[2..6].copy_from_slice(&e.to_le_bytes());
    write_all(status_fd, &msg);
    libc::_exit(127)
}

/// Closes every descriptor >= `from` except `keep`.
unsafe fn close_all_except(from: c_int, keep: RawFd) {
    close_range(from as u32, (keep as u32).wrapping_sub(1));
    close_range(keep as u32 + 1, u32::MAX);
}

unsafe fn close_range(first: u32, last: u32) {
    if first > last {
        return;
    }
    if libc::syscall(libc::SYS_close_range, first, last, 0u32) == 0 {
        return;
    }
    // Kernels before 5.9: close one by one up to the descriptor limit.
    let mut lim: libc::rlimit = std::mem::zeroed();
    let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
        lim.rlim_cur.min(1 << 20) as u32
    } else {
        4096
    };
    let mut fd = first;
    while fd <= last && fd < max {
        libc::close(fd as c_int);
        fd += 1;
    }
}

unsafe fn write_file(path: &std::ffi::CStr, data: &[u8]) -> bool {
    let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
    if fd < 0 {
        return false;
    }
    let ok = libc::write(fd, data.as_ptr().cast(), data.len()) == data.len() as isize;
    libc::close(fd);
    ok
}

unsafe fn write_all(fd: RawFd, mut data: &[u8]) {
    while !data.is_empty() {
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return;
        }
        data = &data[n as usize..];
    }
}

fn micros(tv: libc::timeval) -> i64 {
    tv.tv_sec * 1_000_000 + tv.tv_usec
}

fn errno() -> c_int {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Forks a child that tries `unshare(flags)` (plus the id maps, plus a fork, as a real run
/// would) and reports whether it worked.
pub(super) fn probe(
    flags: c_int,
    id_maps: Option<&(Vec<u8>, Vec<u8>)>,
    writable: Option<&std::ffi::CStr>,
) -> bool {
    // SAFETY: the child only makes raw system calls on data prepared here, then _exits.
    unsafe {
        let pid = libc::fork();
        if pid < 0 {
            return false;
        }
        if pid == 0 {
            if libc::unshare(flags) != 0 {
                libc::_exit(1);
            }
            if let Some((u, g)) = id_maps {
                if !write_file(c"/proc/self/setgroups", b"deny")
                    || !write_file(c"/proc/self/uid_map", u)
                    || !write_file(c"/proc/self/gid_map", g)
                {
                    libc::_exit(2);
                }
            }
            if let Some(dir) = writable {
                if !read_only_except(dir) {
                    libc::_exit(5);
                }
            }
            let c = libc::fork();
            if c < 0 {
                libc::_exit(3);
            }
            if c == 0 {
                libc::_exit(0);
            }
            let mut st = 0;
            if libc::waitpid(c, &mut st, 0) != c || st != 0 {
                libc::_exit(4);
            }
            libc::_exit(0);
        }
        let mut st = 0;
        while libc::waitpid(pid, &mut st, 0) < 0 {
            if errno() != libc::EINTR {
                return false;
            }
        }
        libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0
    }
}
