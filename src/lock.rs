//! The run lock: `apply` holds an exclusive `flock(2)` on a file for its whole run, the
//! same lock `flock(1)` takes, so a cron entry needs no wrapper and two runs never
//! overlap. Non-blocking: a held lock means exit 4 at once, never a wait.
//!
//! sweep runs as root, so the lock file is treated as hostile ground. It is opened the
//! way `flock(1)` opens it — read-only, created if missing, never truncated, never
//! written — and also without following a symlink and without blocking on a FIFO; then
//! it must be a regular file owned by the running user with one link. Anything else is
//! refused with the reason, before anything is touched. A lock in a directory others
//! may write and that is not sticky could be removed and replaced between runs; that is
//! said as a warning (a container's `emptyDir` is such a directory, with nobody else in
//! it). The default lives in a directory only root can create in: `/run/sweep/` (mode
//! 0700, created by sweep, or by the systemd unit's `RuntimeDirectory=sweep`).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
    /// Something worth saying about where the lock lives.
    pub warning: Option<String>,
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it.
    Busy,
    /// The file is not one sweep will lock: why.
    Unsafe(String),
    /// The file could not be opened.
    Io(std::io::Error),
}

/// `/run/sweep/sweep.lock` for root (the directory created 0700 if missing), else
/// `$XDG_RUNTIME_DIR/sweep.lock`, else `sweep.lock` in a private `sweep-UID` directory
/// under `$TMPDIR`.
pub fn default_path() -> PathBuf {
    let uid = rustix::process::geteuid();
    if uid.is_root() {
        let dir = Path::new("/run/sweep");
        let _ = rustix::fs::mkdir(dir, Mode::from_raw_mode(0o700));
        return dir.join("sweep.lock");
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("sweep.lock");
    }
    let dir = std::env::temp_dir().join(format!("sweep-{}", uid.as_raw()));
    let _ = rustix::fs::mkdir(&dir, Mode::from_raw_mode(0o700));
    dir.join("sweep.lock")
}

/// Takes the lock on `path` without waiting.
pub fn acquire(path: &Path) -> Result<Lock, LockError> {
    let (dir, name) = split(path);
    let dir = crate::tree::local::resolve::open_dir(dir).map_err(|e| match e {
        crate::tree::local::resolve::Refusal::Os(e) => LockError::Io(e.into()),
        unsafe_link => LockError::Unsafe(format!("its directory: {unsafe_link}")),
    })?;
    let warning = check_directory(&dir, path);
    // Say what is there before opening it: a planted link in a sticky directory makes
    // open(2) fail with EACCES (protected_symlinks), which would hide the reason.
    if let Ok(st) = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)
        && FileType::from_raw_mode(st.st_mode) == FileType::Symlink
    {
        return Err(LockError::Unsafe("it is a symbolic link".into()));
    }
    let flags =
        OFlags::RDONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd: OwnedFd = match rustix::fs::openat(&dir, name, flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => fd,
        Err(Errno::LOOP) => return Err(LockError::Unsafe("it is a symbolic link".into())),
        Err(e) => return Err(LockError::Io(e.into())),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| LockError::Io(e.into()))?;
    let me = rustix::process::geteuid().as_raw();
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(LockError::Unsafe("it is not a regular file".into()));
    }
    if st.st_uid != me {
        return Err(LockError::Unsafe(format!("it is owned by uid {}, not by this user (uid {me})", st.st_uid)));
    }
    if st.st_nlink != 1 {
        return Err(LockError::Unsafe(format!("it has {} hard links; a lock file has one", st.st_nlink)));
    }
    let file = File::from(fd);
    match file.try_lock() {
        Ok(()) => Ok(Lock { _file: file, warning }),
        Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Busy),
        Err(std::fs::TryLockError::Error(e)) => Err(LockError::Io(e)),
    }
}

/// The directory and the name of `path`.
fn split(path: &Path) -> (&Path, &std::ffi::OsStr) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    (dir, path.file_name().unwrap_or(path.as_os_str()))
}

/// A lock file in a directory others may write (and which is not sticky) could be
/// replaced between runs, so two runs would lock different files: worth a warning.
fn check_directory(dir: &OwnedFd, path: &Path) -> Option<String> {
    let mode = rustix::fs::fstat(dir).ok()?.st_mode;
    let others_write = mode & 0o022 != 0;
    let sticky = mode & 0o1000 != 0;
    (others_write && !sticky).then(|| {
        format!(
            "the lock's directory {} can be written by other users (mode {:o}) and is not sticky: \
             they could replace the lock between runs; use a directory only this user can write",
            path.parent().unwrap_or(path).display(),
            mode & 0o7777
        )
    })
}
