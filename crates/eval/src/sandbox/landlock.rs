//! Filesystem confinement with Landlock: a run may write only in its own directory and read
//! only the system's directories and its toolchain's, not the user's home, tradeoff's caches
//! or the run store. Unprivileged, so a normal user gets the same confinement as root.
//!
//! The ruleset is built here, before the fork, for each run (its directory differs); the
//! program side only calls `landlock_restrict_self` on the descriptor (`spawn.rs`, and the
//! warm zygote through ctypes). Raw system calls: the kernel ABI is small and stable, and the
//! child side must not allocate.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const SYS_CREATE_RULESET: libc::c_long = 444;
const SYS_ADD_RULE: libc::c_long = 445;
pub(super) const SYS_RESTRICT_SELF: libc::c_long = 446;
const CREATE_RULESET_VERSION: u32 = 1;
const RULE_PATH_BENEATH: libc::c_int = 1;

const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
/// Every filesystem right of ABI 1 (remove, make of each kind, ...).
const ALL_V1: u64 = (1 << 13) - 1;
const REFER: u64 = 1 << 13;
const TRUNCATE: u64 = 1 << 14;
const IOCTL_DEV: u64 = 1 << 15;
/// Rights that make sense on a file (not a directory) as a rule's target.
const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;
const READ: u64 = EXECUTE | READ_FILE | READ_DIR;
/// TCP bind and connect (ABI 4): handled with no rule, so denied, also without a network
/// namespace.
const NET_ALL: u64 = 0b11;
/// Abstract unix sockets and signals (ABI 6): only within the run's own domain.
const SCOPE_ALL: u64 = 0b11;

/// System directories every run may read and execute from (those that exist). Not `/home`,
/// `/root`, `/tmp`, `/var` or `/opt`: the user's files, caches and stores live there.
const SYSTEM: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/proc", "/sys", "/dev",
];
/// Devices a run may also write to.
const DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full"];

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneath {
    allowed_access: u64,
    parent_fd: i32,
}

/// The Landlock ABI version the kernel offers, if any.
pub(super) fn abi() -> Option<u32> {
    // SAFETY: the version query reads no memory.
    let v = unsafe {
        libc::syscall(
            SYS_CREATE_RULESET,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    (v > 0).then_some(v as u32)
}

fn handled_fs(abi: u32) -> u64 {
    let mut h = ALL_V1;
    if abi >= 2 {
        h |= REFER;
    }
    if abi >= 3 {
        h |= TRUNCATE;
    }
    if abi >= 5 {
        h |= IOCTL_DEV;
    }
    h
}

/// Where a toolchain's own files live, read from its executable's path: the directory above
/// `bin/` of the path as given and of its target (`/opt/venv/bin/python` links to
/// `/usr/bin/python3.11`: both `/opt/venv` and `/usr`).
pub(super) fn toolchain_roots(exe: &Path) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    for p in [Some(exe.to_path_buf()), std::fs::canonicalize(exe).ok()]
        .into_iter()
        .flatten()
    {
        let dir = p.parent().unwrap_or(Path::new("/"));
        let root = match dir.file_name() {
            Some(n) if n == "bin" => dir.parent().unwrap_or(dir),
            _ => dir,
        };
        if root != Path::new("/") && !roots.iter().any(|r: &PathBuf| r == root) {
            roots.push(root.to_path_buf());
        }
    }
    roots
}

/// A ruleset for one run: full rights in `dir`, read and execute in the system directories
/// and in `read`, write on a few devices; everything else denied. The descriptor is what
/// the program side passes to `landlock_restrict_self`.
pub(super) fn ruleset(abi: u32, dir: &Path, read: &[PathBuf]) -> io::Result<OwnedFd> {
    let handled = handled_fs(abi);
    let attr = RulesetAttr {
        handled_access_fs: handled,
        handled_access_net: NET_ALL,
        scoped: SCOPE_ALL,
    };
    let size = match abi {
        1..=3 => 8,
        4 | 5 => 16,
        _ => 24,
    };
    // SAFETY: `attr` is valid for `size` bytes (a prefix of the struct).
    let fd = unsafe { libc::syscall(SYS_CREATE_RULESET, &attr, size as usize, 0u32) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let system = SYSTEM.iter().map(PathBuf::from);
    for p in system.chain(read.iter().cloned()) {
        add(fd.as_raw_fd(), &p, READ & handled)?;
    }
    for p in DEVICES {
        add(fd.as_raw_fd(), Path::new(p), FILE_RIGHTS & handled)?;
    }
    add(fd.as_raw_fd(), dir, handled)?;
    Ok(fd)
}

/// One path-beneath rule; paths that do not exist are skipped (no rule, so no access).
fn add(ruleset: RawFd, path: &Path, access: u64) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    // SAFETY: opening a path for reference only.
    let pfd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if pfd < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        };
    }
    // SAFETY: owned from here.
    let pfd = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(pfd) });
    // What was opened, not the path again.
    let is_dir = pfd.metadata().is_ok_and(|m| m.is_dir());
    let rule = PathBeneath {
        allowed_access: if is_dir { access } else { access & FILE_RIGHTS },
        parent_fd: pfd.as_raw_fd(),
    };
    // SAFETY: `rule` is a valid path-beneath attribute for the call.
    let r = unsafe { libc::syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, &rule, 0u32) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toolchain_roots_are_above_bin_and_never_the_root() {
        assert_eq!(
            toolchain_roots(Path::new("/nonexistent/venv/bin/python")),
            vec![PathBuf::from("/nonexistent/venv")]
        );
        assert!(toolchain_roots(Path::new("/bin/sh"))
            .iter()
            .all(|r| r != Path::new("/")));
    }
}
