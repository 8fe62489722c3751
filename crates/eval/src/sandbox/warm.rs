//! Warm Python: programs forked from an already started interpreter.
//!
//! Starting CPython costs ~9 ms of CPU, more than most benchmark tests; forking a started
//! one costs well under 1 ms. A trusted "zygote" interpreter (our code only, started by
//! [`super::Sandbox::warm_python`]) receives one request per run over a private socket pair,
//! together with the run's descriptors. With a pid namespace it clones a child straight into
//! the run's namespaces, which is their init (pid 1): one fork fewer than the exec launcher's
//! supervisor → init → program (`spawn.rs`); the zygote holds the status pipe until it reaps
//! that init, so the pipe closes only once the namespace is empty, as with a supervisor.
//! Without one it forks a supervisor as `spawn.rs` does. The rest is that chain in Python:
//! new session, id maps, read-only mounts, program with dropped uid and capabilities,
//! Landlock, fds 0-4, cleared environment, rlimits, status descriptor closed, and only then
//! the harness code. It reports on the status pipe with the same messages, so deadlines and
//! collection are shared with the exec launcher.
//!
//! The program is a copy of the zygote's memory, which holds nothing secret (the nonce
//! arrives later, on fd 3) and no privileges once the uid is dropped; it cannot reach the
//! zygote's socket (fd 0 is replaced, everything else closed).

use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

const ZYGOTE: &str = r#"
import ctypes, fcntl, json, os, resource, signal, socket, struct, sys

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_SYS_LANDLOCK_RESTRICT_SELF = 446
_SYS_MOUNT_SETATTR = 442
_CLONE_NEWNS = 0x20000
_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 0x40000
_AT_FDCWD, _AT_RECURSIVE = -100, 0x8000
_MOUNT_ATTR_RDONLY = 1
_ulong = ctypes.c_ulong
_MAXFD = 2**31 - 1


def _check(ret):
    if ret != 0:
        raise OSError(ctypes.get_errno(), "libc")


def _fail(status, stage, e):
    err = e.errno if isinstance(e, OSError) and e.errno else 0
    try:
        os.write(status, b"E" + bytes([stage]) + struct.pack("<i", err))
    finally:
        os._exit(127)


def _write_file(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]


def _confine(ruleset):
    # As spawn.rs: no capabilities (a user namespace grants them all, and nothing here
    # execs to shed them), no privileges gained by execve, then Landlock.
    _check(_libc.capset(ctypes.byref(_CapHeader(0x20080522, 0)), (_CapData * 2)()))
    _libc.prctl(_PR_CAP_AMBIENT, _ulong(_PR_CAP_AMBIENT_CLEAR_ALL), _ulong(0), _ulong(0), _ulong(0))
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, _ulong(1), _ulong(0), _ulong(0), _ulong(0)))
    if ruleset is not None:
        _check(_libc.syscall(ctypes.c_long(_SYS_LANDLOCK_RESTRICT_SELF), ctypes.c_long(ruleset),
                             ctypes.c_long(0)))


class _MountAttr(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in ("set", "clear", "propagation", "userns_fd")]


def _setattr(path, flags, attr):
    _check(_libc.syscall(ctypes.c_long(_SYS_MOUNT_SETATTR), ctypes.c_long(_AT_FDCWD),
                         ctypes.c_char_p(path), ctypes.c_long(flags), ctypes.byref(attr),
                         ctypes.c_long(ctypes.sizeof(attr))))


def _read_only_except(path):
    # As spawn.rs: private mounts, the run directory bound onto itself, everything read-only
    # but that bind.
    path = os.fsencode(path)
    _check(_libc.mount(None, b"/", None, _ulong(_MS_REC | _MS_PRIVATE), None))
    _check(_libc.mount(path, path, None, _ulong(_MS_BIND | _MS_REC), None))
    _setattr(b"/", _AT_RECURSIVE, _MountAttr(_MOUNT_ATTR_RDONLY, 0, 0, 0))
    _setattr(path, 0, _MountAttr(0, _MOUNT_ATTR_RDONLY, 0, 0))


def _close_except(low, keep):
    os.closerange(low, keep)
    os.closerange(keep + 1, _MAXFD)


def _report_exit(child, status):
    while True:
        try:
            pid, st, ru = os.wait4(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(1)
        if pid == child:
            os.write(status, b"S" + struct.pack("<iqqq", st, int(ru.ru_utime * 1e6),
                                                int(ru.ru_stime * 1e6), ru.ru_maxrss))
            return


def _program(req, fds):
    status = fds[5]
    stage = 4
    try:
        uid = req["uid"]
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        _check(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL))
        stage = 9
        _confine(fds[6] if len(fds) > 6 else None)
        stage = 5
        os.chdir(req["dir"])
        stage = 6
        status = fcntl.fcntl(status, fcntl.F_DUPFD_CLOEXEC, 10)
        high = [fcntl.fcntl(f, fcntl.F_DUPFD_CLOEXEC, 10) for f in fds[:5]]
        for target, fd in enumerate(high):
            os.dup2(fd, target)
        _close_except(5, status)
        os.environ.clear()
        os.environ.update(req["env"])
        stage = 7
        for res, soft, hard in req["rlimits"]:
            resource.setrlimit(res, (soft, hard))
    except BaseException as e:
        _fail(status, stage, e)
    os.close(status)
    code = _compiled[req["code"]]
    del req, fds, status
    # Ends as the interpreter would: exit status from SystemExit, traceback and 1 on an
    # uncaught exception, buffers flushed (atexit handlers do not run).
    try:
        exec(code, {"__name__": "__main__"})
        rc = 0
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            rc = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            rc = 1
    except BaseException:
        import traceback
        traceback.print_exc()
        rc = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(rc & 0xFF)


def _init(req, fds):
    try:
        _check(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL))
        child = os.fork()
    except BaseException as e:
        _fail(fds[5], 3, e)
    if child == 0:
        _program(req, fds)
    _close_except(0, fds[5])
    _report_exit(child, fds[5])
    os._exit(0)


def _supervise(req, fds):
    # Plain mode only (no namespaces; with them the run's init is cloned straight from the
    # zygote, _init_direct): a supervisor leading the run's process group, as in spawn.rs.
    status = fds[5]
    stage = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        os.write(status, b"G" + struct.pack("<i", os.getpid()))
        stage = 3
        _check(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL))
        child = os.fork()
    except BaseException as e:
        _fail(status, stage, e)
    if child == 0:
        _program(req, fds)
    os.write(status, b"P" + struct.pack("<i", child))
    _close_except(0, status)
    _report_exit(child, status)
    # What is left of the run's process group goes with us.
    os.killpg(0, signal.SIGKILL)


# Status descriptors of runs whose init is our own child, held until it is reaped: the
# worker sees the pipe close only once the run's namespace is empty (as the supervisor's
# wait gives in the other chain), so the run's uid is free to reuse by then.
_holding = {}


def _reap(signum, frame):
    try:
        while True:
            pid = os.waitpid(-1, os.WNOHANG)[0]
            if not pid:
                break
            fd = _holding.pop(pid, None)
            if fd is not None:
                os.close(fd)
    except ChildProcessError:
        pass


def _clone(flags, number):
    # fork() straight into the new namespaces: the child is the namespace's pid 1, which
    # saves the supervisor process of the other chain (a fork costs more than the run's
    # tests on small machines).
    pid = _libc.syscall(ctypes.c_long(number), _ulong(flags | signal.SIGCHLD), _ulong(0),
                        _ulong(0), _ulong(0), _ulong(0))
    if pid < 0:
        raise OSError(ctypes.get_errno(), "clone")
    return pid


_shared_net = False


def _run_flags(flags):
    # As root, the zygote moves once into an empty network namespace of its own and its runs
    # share it instead of each creating one (~0.5 ms a run): loopback stays down, the runs
    # have no capabilities to bring it up, and Landlock scopes abstract unix sockets to each
    # run, so runs cannot reach each other or anything else through it.
    global _shared_net
    if flags & _CLONE_NEWNET and not flags & _CLONE_NEWUSER and os.geteuid() == 0:
        if not _shared_net:
            _check(_libc.unshare(_CLONE_NEWNET))
            _shared_net = True
        return flags & ~_CLONE_NEWNET
    return flags


def _init_direct(req, fds):
    # The cloned child: pid 1 of the run's namespaces and its session leader. It drops the
    # descriptors the zygote holds for other runs, sets up as spawn.rs's supervisor does,
    # then is init.
    status = fds[5]
    stage = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        for fd in _holding.values():
            os.close(fd)
        os.setsid()
        stage = 2
        if req["id_maps"]:
            _write_file("/proc/self/setgroups", b"deny")
            _write_file("/proc/self/uid_map", req["id_maps"][0].encode())
            _write_file("/proc/self/gid_map", req["id_maps"][1].encode())
        stage = 10
        if req["unshare"] & _CLONE_NEWNS:
            _read_only_except(req["dir"])
    except BaseException as e:
        _fail(status, stage, e)
    _init(req, fds)


# Harness code compiled once here rather than in every child (a compile in a fresh child
# costs ~1 ms of page faults).
_compiled = {}


def _main():
    # Reaping (rather than ignoring SIGCHLD) adds the runs' CPU time to ours, and so to our
    # parent's accounting. Supervisors restore the default for their own children.
    signal.signal(signal.SIGCHLD, _reap)
    sock = socket.socket(fileno=0)
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 1 << 20, 7)
        except InterruptedError:
            continue
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)
        if len(fds) not in (6, 7):
            for fd in fds:
                os.close(fd)
            continue
        try:
            req = json.loads(msg)
            if req["code"] not in _compiled:
                if len(_compiled) > 16:
                    _compiled.clear()
                _compiled[req["code"]] = compile(req["code"], "<harness>", "exec")
            direct = bool(req["pid_ns"])
            if direct:
                # Until the child is in _holding, so that _reap cannot miss it.
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
                pid = _clone(_run_flags(req["unshare"]), req["sys_clone"])
            else:
                pid = os.fork()
        except BaseException as e:
            try:
                os.write(fds[5], b"E" + bytes([3]) + struct.pack("<i", getattr(e, "errno", 0) or 0))
            except OSError:
                pass
            pid = -1
        if pid == 0:
            try:
                if direct:
                    _init_direct(req, fds)
                else:
                    for fd in _holding.values():
                        os.close(fd)
                    _supervise(req, fds)
            finally:
                os._exit(1)
        if pid > 0 and direct:
            # The run's process group and what to kill at the deadline: both the init.
            try:
                os.write(fds[5], b"G" + struct.pack("<i", pid) + b"P" + struct.pack("<i", pid))
            except OSError:
                pass
            _holding[pid] = os.dup(fds[5])
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        for fd in fds:
            os.close(fd)


_main()
"#;

/// A zygote interpreter for [`super::Session::run_python`]; restarted if it dies.
pub struct WarmPython {
    python: PathBuf,
    conn: Mutex<Option<Conn>>,
}

struct Conn {
    child: Child,
    sock: OwnedFd,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // The zygote exits on EOF; kill anyway so that drop never waits on it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::fmt::Debug for WarmPython {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmPython")
            .field("python", &self.python)
            .finish()
    }
}

impl WarmPython {
    pub(super) fn start(python: &Path) -> Result<Self> {
        let w = Self {
            python: python.to_path_buf(),
            conn: Mutex::new(None),
        };
        *w.conn.lock().unwrap_or_else(|e| e.into_inner()) = Some(w.connect()?);
        Ok(w)
    }

    fn connect(&self) -> Result<Conn> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: socketpair fills the array; on success we own both ends.
        let (ours, theirs) = unsafe {
            if libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            ) != 0
            {
                return Err(Error::Sandbox(format!(
                    "socketpair: {}",
                    std::io::Error::last_os_error()
                )));
            }
            (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
        };
        let child = Command::new(&self.python)
            .args(["-I", "-S", "-c", ZYGOTE])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .current_dir("/")
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::Sandbox(format!("starting {}: {e}", self.python.display())))?;
        Ok(Conn { child, sock: ours })
    }

    pub(super) fn python(&self) -> &Path {
        &self.python
    }

    /// Hands one run to the zygote: the request and the run's descriptors (0-4, status, and
    /// the Landlock ruleset if any).
    pub(super) fn launch(&self, request: &[u8], fds: &super::spawn::Fds) -> Result<()> {
        let all = [
            fds.stdin,
            fds.stdout,
            fds.stderr,
            fds.nonce,
            fds.verdict,
            fds.status,
            fds.ruleset,
        ];
        let fds = &all[..if fds.ruleset < 0 { 6 } else { 7 }];
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut last = None;
        for _ in 0..2 {
            if conn.is_none() {
                *conn = Some(self.connect()?);
            }
            let sock = conn.as_ref().expect("just set").sock.as_raw_fd();
            match send_with_fds(sock, request, fds) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    // The zygote died (it is restarted once).
                    last = Some(e);
                    *conn = None;
                }
            }
        }
        Err(Error::Sandbox(format!(
            "warm python {}: {}",
            self.python.display(),
            last.expect("set on failure")
        )))
    }
}

fn send_with_fds(sock: RawFd, data: &[u8], fds: &[RawFd]) -> std::io::Result<()> {
    let payload = std::mem::size_of_val(fds);
    // SAFETY: the control buffer is sized and aligned (u64) for one SCM_RIGHTS message with
    // `fds`; sendmsg only reads the buffers.
    unsafe {
        let space = libc::CMSG_SPACE(payload as u32) as usize;
        let mut control = vec![0u64; space.div_ceil(8)];
        let mut iov = libc::iovec {
            iov_base: data.as_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(payload as u32) as _;
        std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast(), fds.len());
        if libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
