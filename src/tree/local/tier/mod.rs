//! Lifecycle operations on kept files: compress in place, move to the archive. Both
//! are crash-safe in the same way: at every instant, either the original or the
//! complete result exists under its final name, never a truncated one.
//!
//! - Compression streams `NAME` into a temporary in the same directory
//!   (`.sweep.<hex>.compress`, created exclusively), gives it the original's metadata
//!   ([`give_metadata`]) and sweep's mark ([`MARK`]), syncs it, renames it to `NAME.zst`
//!   (never over an existing file), syncs the directory, and only then unlinks `NAME` —
//!   if it is still the file that was compressed. A crash leaves the original, and
//!   perhaps a temporary the next run removes; or both names, which the next run
//!   completes only if the compressed file is marked as written for this very original
//!   ([`completes`]).
//! - A move is a rename (`RENAME_NOREPLACE`: an existing file in the archive is never
//!   overwritten) when the archive is on the same filesystem; otherwise a copy into
//!   `ARCHIVE/.sweep-incoming/` (a directory of sweep's own, mode 0700), synced and
//!   checked for size, given the original's metadata, renamed into place from that
//!   directory's descriptor and checked to be the file written (device and inode), and
//!   then the unlink of the original.
//!
//! A copy or a compressed file keeps the original's owner, group, mode (without the
//! setuid, setgid and sticky bits), mtime, ACLs and extended attributes; when any of them
//! cannot be given, the operation fails and the original stays. Every step is relative to
//! a directory descriptor; no path is resolved.

use std::ffi::{CStr, CString};
use std::io::{self};
use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::tree::{Check, Removal, os_message};

mod archive;
mod compress;
mod metadata;

pub use archive::{archive, check_archive, clean_incoming};
use compress::completes;
pub use compress::compress;

/// Where copies into the archive wait until they are complete: a directory sweep makes
/// inside the archive, owned by the user sweep runs as, mode 0700.
pub const INCOMING: &CStr = c".sweep-incoming";

/// The extended attribute sweep marks a compressed file with before giving it its final
/// name: which file it was written for ([`mark`]). Only a marked file is ever taken for an
/// interrupted compression of its original ([`completes`]).
pub const MARK: &CStr = c"user.sweep.source";

/// The mark of a compression of the file whose status is `st`: its device, inode, size
/// and mtime, in a fixed text form.
fn mark(st: &Stat) -> String {
    format!(
        "sweep-source 1 dev={} ino={} size={} mtime={}.{:09}",
        st.st_dev, st.st_ino, st.st_size, st.st_mtime, st.st_mtime_nsec
    )
}

/// Why an operation did not happen.
#[derive(Debug)]
enum Fail {
    /// The OS refused a step.
    Os(Errno),
    /// The file changed while it was read: it is the next run's.
    Changed,
    /// sweep refused, or a step failed that needs saying which: the reason.
    Said(String),
}

impl From<Errno> for Fail {
    fn from(e: Errno) -> Fail {
        Fail::Os(e)
    }
}

impl Fail {
    fn removal(self) -> Removal {
        match self {
            Fail::Os(e) => Removal::Failed(e),
            Fail::Changed => Removal::Vanished,
            Fail::Said(why) => Removal::Rejected(why.into()),
        }
    }
}

/// Whether a name is one sweep makes: a temporary of [`compress`] or [`archive`], or a
/// file between its check and its unlink (`unlink::remove_checked`).
pub fn is_ours(name: &[u8]) -> bool {
    name.starts_with(b".sweep.") && (is_temporary(name) || super::unlink::is_in_flight(name))
}

/// What one of sweep's own names is, as a walk finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Debris {
    /// In use by a run now (this one, or another): left alone and not counted.
    Busy,
    /// Left by a run that was killed: removed.
    Leftover,
    /// Not a regular file (a symlink, a FIFO, a directory): sweep makes none, so this is
    /// an entry like any other, counted and judged.
    NotOurs,
}

/// How long a file may sit under an in-flight name before it is known to be a killed
/// run's: the name exists for microseconds, and the rename that made it set its ctime.
const IN_FLIGHT_GRACE: i64 = 60;

/// Tells a leftover from a temporary in use. A temporary is locked (`flock`) by the
/// run writing it for as long as it exists, so one nobody holds is a killed run's; an
/// in-flight name is this process's own (busy), or another's that is more than a
/// minute old.
pub fn debris(dir: &OwnedFd, name: &CStr) -> Debris {
    let n = name.to_bytes();
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if !rustix::fs::FileType::from_raw_mode(st.st_mode).is_file() => return Debris::NotOurs,
        Ok(_) => {}
        Err(_) => return Debris::Busy,
    }
    if super::unlink::is_in_flight(n) {
        if super::unlink::is_own_in_flight(n) {
            return Debris::Busy;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        return match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if now.saturating_sub(st.st_ctime) > IN_FLIGHT_GRACE => Debris::Leftover,
            _ => Debris::Busy,
        };
    }
    let Ok(fd) = rustix::fs::openat(dir, name, READ, Mode::empty()) else { return Debris::Busy };
    let regular = rustix::fs::fstat(&fd).is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_file());
    match rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) if regular => Debris::Leftover,
        _ => Debris::Busy,
    }
}

/// Names of temporaries a run makes: `.sweep.` + 16 hex digits + `.compress` or `.move`.
pub fn is_temporary(name: &[u8]) -> bool {
    let hex = |b: &[u8]| b.len() == 16 && b.iter().all(u8::is_ascii_hexdigit);
    let Some(rest) = name.strip_prefix(b".sweep.") else { return false };
    match rest.split_at_checked(16) {
        Some((h, b".compress" | b".move")) => hex(h),
        _ => false,
    }
}

fn temporary(kind: &str) -> CString {
    let mut random = [0u8; 8];
    let _ = rustix::rand::getrandom(&mut random, rustix::rand::GetRandomFlags::empty());
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    CString::new(format!(".sweep.{hex}.{kind}")).unwrap_or_default()
}

const READ: OFlags = OFlags::RDONLY.union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC).union(OFlags::NONBLOCK);
const CREATE: OFlags =
    OFlags::WRONLY.union(OFlags::CREATE).union(OFlags::EXCL).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// Creates a temporary, locked for as long as it is open: a walk that finds one nobody
/// holds knows it for a killed run's ([`debris`]).
fn create_locked(dir: &OwnedFd, name: &CStr) -> Result<OwnedFd, Errno> {
    let fd = rustix::fs::openat(dir, name, CREATE, Mode::from_raw_mode(0o600))?;
    if let Err(e) = rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
        return Err(e);
    }
    Ok(fd)
}

fn io_errno(e: io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::IO, Errno::from_raw_os_error)
}

/// Carries out a lifecycle operation on `name` in `dir`.
pub fn transform(dir: &OwnedFd, name: &CStr, check: Check, t: &crate::tree::Transform) -> Removal {
    match t {
        crate::tree::Transform::Compress { format, level } => compress(dir, name, *format, *level, check),
        crate::tree::Transform::Move { to, rel } => archive(dir, name, to, rel, check),
    }
}

/// What a lifecycle operation on `name` in `dir` would do, as the filesystem stands now
/// (a plan): it would fail where the name it writes is taken already — a compressed
/// name that is not an interrupted compression of this very file, an archive
/// destination that exists, or a path there that is not a directory. Nothing is written.
pub fn predict(dir: &OwnedFd, name: &CStr, t: &crate::tree::Transform) -> Removal {
    match t {
        crate::tree::Transform::Compress { format, .. } => {
            let mut target = name.to_bytes().to_vec();
            target.extend_from_slice(format.suffix().as_bytes());
            let Ok(target) = CString::new(target) else { return Removal::WouldFail(Errno::INVAL) };
            if rustix::fs::statat(dir, &target, AtFlags::SYMLINK_NOFOLLOW).is_err() {
                return Removal::Planned;
            }
            let src = rustix::fs::openat(dir, name, READ, Mode::empty());
            match src {
                Ok(src) if completes(dir, &target, &src) => Removal::Planned,
                _ => Removal::WouldFail(Errno::EXIST),
            }
        }
        crate::tree::Transform::Move { to, rel } => {
            let mut parts: Vec<&[u8]> = rel.split(|b| *b == b'/').filter(|p| !p.is_empty()).collect();
            let Some(file) = parts.pop() else { return Removal::WouldFail(Errno::INVAL) };
            let Ok(mut at) = rustix::io::dup(&**to) else { return Removal::Planned };
            for p in parts {
                let Ok(p) = CString::new(p) else { return Removal::WouldFail(Errno::INVAL) };
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                match rustix::fs::openat(&at, &p, flags, Mode::empty()) {
                    Ok(d) => at = d,
                    // Created by the move.
                    Err(Errno::NOENT) => return Removal::Planned,
                    Err(e) => return Removal::WouldFail(e),
                }
            }
            let Ok(file) = CString::new(file) else { return Removal::WouldFail(Errno::INVAL) };
            match rustix::fs::statat(&at, &file, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(_) => Removal::WouldFail(Errno::EXIST),
                Err(_) => Removal::Planned,
            }
        }
    }
}

/// Whether the original open as `src` is still as examined (`st`): if it changed while
/// it was read, what was written is not of the file decided on.
fn unchanged(src: &OwnedFd, st: &Stat) -> Result<(), Fail> {
    let now = rustix::fs::fstat(src)?;
    if (now.st_mtime, now.st_mtime_nsec, now.st_size) != (st.st_mtime, st.st_mtime_nsec, st.st_size) {
        return Err(Fail::Changed);
    }
    Ok(())
}

/// Unlinks the original if it is still the file compressed (inode and mtime).
fn remove_original(dir: &OwnedFd, name: &CStr, st: &Stat) -> Removal {
    super::unlink::remove_checked(dir, name, Check::Same { ino: st.st_ino, mtime: st.st_mtime })
}

#[cfg(test)]
mod tests;
