//! The run lock: `apply` holds an exclusive `flock(2)` on a file for its whole run, the
//! same lock `flock(1)` takes, so a cron entry needs no wrapper and two runs never
//! overlap. Non-blocking: a held lock means exit 4 at once, never a wait.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it.
    Busy,
    /// The file could not be opened.
    Io(io::Error),
}

/// `/run/lock/sweep.lock` where `/run/lock` is writable (root, systemd hosts), else
/// `$TMPDIR/sweep.lock` (or `/tmp/sweep.lock`).
pub fn default_path() -> PathBuf {
    let run_lock = Path::new("/run/lock");
    if rustix::fs::access(run_lock, rustix::fs::Access::WRITE_OK).is_ok() {
        return run_lock.join("sweep.lock");
    }
    std::env::temp_dir().join("sweep.lock")
}

/// Takes the lock on `path` without waiting, and writes this process's id into it
/// (for people looking at who holds it).
pub fn acquire(path: &Path) -> Result<Lock, LockError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(path)
        .map_err(LockError::Io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(LockError::Busy),
        Err(TryLockError::Error(e)) => return Err(LockError::Io(e)),
    }
    let _ = file.set_len(0).and_then(|_| writeln!(file, "{}", std::process::id()));
    Ok(Lock { _file: file })
}
