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
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, Stat, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;

use crate::policy::Format;
use crate::tree::{Check, Removal, os_message};

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

/// Gives the new file `to` (a temporary sweep created, still its own) the metadata of the
/// original open as `from`, whose status is `st`: first every extended attribute (POSIX
/// ACLs are the attribute `system.posix_acl_access`) and, on a compressed file
/// (`marked`), sweep's [`MARK`], while the file is still sweep's to write; then the owner
/// and group; then the mode, without the setuid, setgid and sticky bits; then the times.
/// The owner comes before the mode and the mode has no special bit, so there is no
/// instant at which a root-owned setuid file exists. An attribute that cannot be given
/// fails the operation (`what` names the new file in its message): nothing is silently
/// left root-owned, or readable by someone the original's ACL kept out.
fn give_metadata(to: &OwnedFd, from: &OwnedFd, st: &Stat, marked: bool, what: &str) -> Result<(), Fail> {
    copy_xattrs(to, from, what)?;
    if marked {
        match rustix::fs::fsetxattr(to, MARK, mark(st).as_bytes(), XattrFlags::empty()) {
            // The filesystem cannot hold a mark: the file is written all the same, and a
            // compressed file found there is never trusted.
            Ok(()) | Err(Errno::NOTSUP) => {}
            Err(e) => {
                return Err(Fail::Said(format!("cannot mark {what} ({}): {}", MARK.to_string_lossy(), os_message(e))));
            }
        }
    }
    let (uid, gid) = (rustix::fs::Uid::from_raw(st.st_uid), rustix::fs::Gid::from_raw(st.st_gid));
    rustix::fs::fchown(to, Some(uid), Some(gid)).map_err(|e| {
        Fail::Said(format!(
            "cannot give {what} the original's owner (uid {}, gid {}): {}",
            st.st_uid,
            st.st_gid,
            os_message(e)
        ))
    })?;
    let mode = st.st_mode & 0o777;
    rustix::fs::fchmod(to, Mode::from_raw_mode(mode))
        .map_err(|e| Fail::Said(format!("cannot give {what} the original's mode {mode:04o}: {}", os_message(e))))?;
    let ts = |s: i64, ns: i64| Timespec { tv_sec: s, tv_nsec: ns };
    let times = Timestamps {
        last_access: ts(st.st_atime, st.st_atime_nsec as _),
        last_modification: ts(st.st_mtime, st.st_mtime_nsec as _),
    };
    rustix::fs::futimens(to, &times)
        .map_err(|e| Fail::Said(format!("cannot give {what} the original's times: {}", os_message(e))))
}

/// Copies every extended attribute of `from` to `to` but two: a file capability
/// (`security.capability`), a privilege like the setuid bit, which a copy does not keep
/// (the kernel drops it too when a file is written or changes owner); and sweep's own
/// [`MARK`], which is about another file.
fn copy_xattrs(to: &OwnedFd, from: &OwnedFd, what: &str) -> Result<(), Fail> {
    let names = match sized(|| rustix::fs::flistxattr_query(from), |b| rustix::fs::flistxattr(from, b)) {
        Ok(names) => names,
        // A filesystem without extended attributes: there are none to copy.
        Err(Errno::NOTSUP) => return Ok(()),
        Err(e) => {
            return Err(Fail::Said(format!("cannot list the original's extended attributes: {}", os_message(e))));
        }
    };
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if name == b"security.capability" || name == MARK.to_bytes() {
            continue;
        }
        let Ok(cname) = CString::new(name) else { continue };
        let shown = String::from_utf8_lossy(name);
        let value =
            match sized(|| rustix::fs::fgetxattr_query(from, &cname), |b| rustix::fs::fgetxattr(from, &cname, b)) {
                Ok(v) => v,
                // Removed since it was listed.
                Err(Errno::NODATA) => continue,
                Err(e) => {
                    return Err(Fail::Said(format!(
                        "cannot read the original's extended attribute {shown}: {}",
                        os_message(e)
                    )));
                }
            };
        rustix::fs::fsetxattr(to, &cname, &value, XattrFlags::empty()).map_err(|e| {
            Fail::Said(format!("cannot give {what} the original's extended attribute {shown}: {}", os_message(e)))
        })?;
    }
    Ok(())
}

/// Reads something whose size is asked first (an attribute list or value), again if it
/// grew in between.
fn sized(
    query: impl Fn() -> Result<usize, Errno>,
    read: impl Fn(&mut [u8]) -> Result<usize, Errno>,
) -> Result<Vec<u8>, Errno> {
    for _ in 0..8 {
        let mut buf = vec![0u8; query()?];
        if buf.is_empty() {
            return Ok(buf);
        }
        match read(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Errno::RANGE) => {}
            Err(e) => return Err(e),
        }
    }
    Err(Errno::RANGE)
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

/// Whether the existing compressed file `target` in `dir` completes an interrupted
/// compression of the original open as `src`: a regular file with one link, owned by the
/// original's owner and group, writable by no one else, carrying sweep's [`MARK`] for the
/// original as it is now (device, inode, size and mtime).
///
/// sweep marks a compressed file only once its content is complete and synced, before
/// giving it its name, so a marked file needs no comparison of content (and a content
/// comparison is what a forgery passed: whoever can read a file can write its compressed
/// form beside it). The mark itself is an attribute the file's owner may set; it counts
/// only on a file owned by the original's owner, which no other user can make: so only
/// that owner (who may remove the original anyway) or root could forge one.
fn completes(dir: &OwnedFd, target: &CStr, src: &OwnedFd) -> bool {
    let Ok(original) = rustix::fs::fstat(src) else { return false };
    let Ok(z) = rustix::fs::openat(dir, target, READ, Mode::empty()) else { return false };
    let Ok(zs) = rustix::fs::fstat(&z) else { return false };
    let regular = rustix::fs::FileType::from_raw_mode(zs.st_mode) == rustix::fs::FileType::RegularFile;
    if !regular
        || zs.st_nlink != 1
        || (zs.st_uid, zs.st_gid) != (original.st_uid, original.st_gid)
        || zs.st_mode & 0o022 != 0
    {
        return false;
    }
    let mut buf = [0u8; 160];
    rustix::fs::fgetxattr(&z, MARK, &mut buf[..]).is_ok_and(|n| buf[..n] == *mark(&original).as_bytes())
}

/// Compresses `name` in `dir` to `name` + the format's suffix. `check` is the file as it
/// was examined: a file changed meanwhile is left for the next run.
pub fn compress(dir: &OwnedFd, name: &CStr, format: Format, level: u32, check: Check) -> Removal {
    match compress_inner(dir, name, format, level, check) {
        Ok(r) => r,
        Err(e) => e.removal(),
    }
}

fn compress_inner(dir: &OwnedFd, name: &CStr, format: Format, level: u32, check: Check) -> Result<Removal, Fail> {
    let src = match rustix::fs::openat(dir, name, READ, Mode::empty()) {
        Ok(f) => f,
        Err(Errno::NOENT) => return Ok(Removal::Vanished),
        Err(e) => return Err(e.into()),
    };
    let st = rustix::fs::fstat(&src)?;
    if let Check::Same { ino, mtime } = check
        && (st.st_ino != ino || st.st_mtime != mtime)
    {
        return Ok(Removal::Vanished);
    }
    let mut target = name.to_bytes().to_vec();
    target.extend_from_slice(format.suffix().as_bytes());
    let target = CString::new(target).map_err(|_| Errno::INVAL)?;
    if let Ok(existing) = rustix::fs::statat(dir, &target, AtFlags::SYMLINK_NOFOLLOW) {
        // Both names: an earlier run stopped between its rename and its unlink, or
        // someone else wrote that name. Only sweep's own mark for this very file
        // finishes the job; anything else leaves both as they are.
        if !completes(dir, &target, &src) {
            let why = format!("{} exists (not an interrupted compression of this file)", target.to_string_lossy());
            return Err(Fail::Said(why));
        }
        return Ok(match remove_original(dir, name, &st) {
            Removal::Removed => Removal::Compressed(u64::try_from(existing.st_size).unwrap_or(0)),
            other => other,
        });
    }
    let size = match write_compressed(dir, &src, &st, &target, format, level) {
        Ok(size) => size,
        Err(Fail::Changed) => return Ok(Removal::Vanished),
        Err(e) => return Err(e),
    };
    Ok(match remove_original(dir, name, &st) {
        Removal::Removed | Removal::Vanished => Removal::Compressed(size),
        other => other,
    })
}

/// Writes the compressed form of the original open as `src` (status `st`) to `target` in
/// `dir`, through a temporary that is removed if anything fails; returns its size.
fn write_compressed(
    dir: &OwnedFd,
    src: &OwnedFd,
    st: &Stat,
    target: &CStr,
    format: Format,
    level: u32,
) -> Result<u64, Fail> {
    let tmp = temporary("compress");
    let out = create_locked(dir, &tmp)?;
    let written = (|| -> Result<u64, Fail> {
        let input = BufReader::with_capacity(1 << 20, File::from(rustix::io::dup(src)?));
        let mut out = encode(input, File::from(out), format, level).map_err(io_errno)?;
        out.flush().map_err(io_errno)?;
        let fd: OwnedFd = out.into();
        unchanged(src, st)?;
        give_metadata(&fd, src, st, true, "the compressed file")?;
        rustix::fs::fsync(&fd)?;
        let size = rustix::fs::fstat(&fd)?.st_size;
        rustix::fs::renameat_with(dir, &tmp, dir, target, RenameFlags::NOREPLACE)?;
        rustix::fs::fsync(dir)?;
        Ok(u64::try_from(size).unwrap_or(0))
    })();
    if written.is_err() {
        let _ = rustix::fs::unlinkat(dir, &tmp, AtFlags::empty());
    }
    written
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

fn encode(input: impl Read, out: File, format: Format, level: u32) -> io::Result<File> {
    let mut input = input;
    match format {
        Format::Zstd => {
            let mut e = zstd::stream::write::Encoder::new(out, i32::try_from(level).unwrap_or(3))?;
            io::copy(&mut input, &mut e)?;
            e.finish()
        }
        Format::Gzip => {
            let mut e = flate2::write::GzEncoder::new(out, flate2::Compression::new(level));
            io::copy(&mut input, &mut e)?;
            e.finish()
        }
    }
}

/// Moves `name` in `dir` to `rel` below the archive root `to`.
pub fn archive(dir: &OwnedFd, name: &CStr, to: &OwnedFd, rel: &[u8], check: Check) -> Removal {
    match archive_inner(dir, name, to, rel, check) {
        Ok(r) => r,
        Err(Fail::Changed) => Removal::Vanished,
        Err(e) => e.removal(),
    }
}

fn archive_inner(dir: &OwnedFd, name: &CStr, to: &OwnedFd, rel: &[u8], check: Check) -> Result<Removal, Fail> {
    let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(Removal::Vanished),
        Err(e) => return Err(e.into()),
    };
    if let Check::Same { ino, mtime } = check
        && (st.st_ino != ino || st.st_mtime != mtime)
    {
        return Ok(Removal::Vanished);
    }
    let (dest_dir, file) = directories(dir, to, rel)?;
    let file = CString::new(file).map_err(|_| Errno::INVAL)?;
    match rustix::fs::renameat_with(dir, name, &dest_dir, &file, RenameFlags::NOREPLACE) {
        Ok(()) => return Ok(Removal::Moved),
        Err(Errno::XDEV) => {}
        Err(e) => return Err(e.into()),
    }
    if rustix::fs::statat(&dest_dir, &file, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
        return Err(Errno::EXIST.into());
    }
    // Another filesystem: copy into sweep's own incoming directory, then into place.
    let incoming = open_incoming(to)?;
    let src = match rustix::fs::openat(dir, name, READ, Mode::empty()) {
        Ok(f) => f,
        Err(Errno::NOENT) => return Ok(Removal::Vanished),
        Err(e) => return Err(e.into()),
    };
    if rustix::fs::fstat(&src).map(|s| (s.st_dev, s.st_ino))? != (st.st_dev, st.st_ino) {
        return Ok(Removal::Vanished);
    }
    let tmp = temporary("move");
    let out = create_locked(&incoming, &tmp)?;
    let copied = (|| -> Result<(), Fail> {
        let mut out = File::from(out);
        let mut input = BufReader::with_capacity(1 << 20, File::from(rustix::io::dup(&src)?));
        io::copy(&mut input, &mut out).map_err(io_errno)?;
        let fd: OwnedFd = out.into();
        unchanged(&src, &st)?;
        if rustix::fs::fstat(&fd)?.st_size != st.st_size {
            return Err(Fail::Changed);
        }
        give_metadata(&fd, &src, &st, false, "the copy")?;
        rustix::fs::fsync(&fd)?;
        let written = rustix::fs::fstat(&fd)?;
        rustix::fs::renameat_with(&incoming, &tmp, &dest_dir, &file, RenameFlags::NOREPLACE)?;
        // What landed must be what was written: no one else can rename into the incoming
        // directory, and this says so for the destination too.
        let landed = rustix::fs::statat(&dest_dir, &file, AtFlags::SYMLINK_NOFOLLOW);
        if landed.map(|l| (l.st_dev, l.st_ino)).ok() != Some((written.st_dev, written.st_ino)) {
            return Err(Fail::Said(format!(
                "the file at {} in the archive is not the copy written (another device or inode); the original stays",
                String::from_utf8_lossy(rel)
            )));
        }
        rustix::fs::fsync(&dest_dir)?;
        Ok(())
    })();
    if let Err(e) = copied {
        let _ = rustix::fs::unlinkat(&incoming, &tmp, AtFlags::empty());
        return Err(e);
    }
    Ok(match remove_original(dir, name, &st) {
        Removal::Removed | Removal::Vanished => Removal::Moved,
        other => other,
    })
}

/// Opens (creating as needed) the directories of `rel` below `to`, without following
/// links; returns the last one and the file name. `src` is the directory the file is in:
/// a directory made here takes the owner, group and mode of the source directory it
/// stands for, so the archive keeps out whom the source kept out (a file of a `0700`
/// directory stays out of reach of other users).
fn directories<'a>(src: &OwnedFd, to: &OwnedFd, rel: &'a [u8]) -> Result<(OwnedFd, &'a [u8]), Errno> {
    let mut parts: Vec<&[u8]> = rel.split(|b| *b == b'/').filter(|p| !p.is_empty()).collect();
    let file = parts.pop().ok_or(Errno::INVAL)?;
    let mut dir = rustix::io::dup(to)?;
    // The source directories, deepest first: read once a directory must be made.
    let mut models: Option<Vec<Stat>> = None;
    for (i, p) in parts.iter().enumerate() {
        if *p == b".." || *p == b"." {
            return Err(Errno::INVAL);
        }
        let name = CString::new(*p).map_err(|_| Errno::INVAL)?;
        dir = match open_subdir(&dir, &name) {
            Err(Errno::NOENT) => {
                let models = models.get_or_insert_with(|| source_dirs(src, parts.len()));
                make_subdir(&dir, &name, models.get(parts.len() - 1 - i))?
            }
            other => other?,
        };
    }
    Ok((dir, file))
}

/// The `stat` of `src` and of up to `n - 1` of its parents, deepest first (fewer when
/// one cannot be read).
fn source_dirs(src: &OwnedFd, n: usize) -> Vec<Stat> {
    let mut out = Vec::with_capacity(n);
    let Ok(mut at) = rustix::io::dup(src) else { return out };
    while out.len() < n {
        let Ok(st) = rustix::fs::fstat(&at) else { break };
        out.push(st);
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        match rustix::fs::openat(&at, c"..", flags, Mode::empty()) {
            Ok(up) => at = up,
            Err(_) => break,
        }
    }
    out
}

/// Opens the directory `name` of `dir`, never through a link.
fn open_subdir(dir: &OwnedFd, name: &CStr) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::openat(dir, name, flags, Mode::empty())
}

/// Makes the directory `name` in `dir`, private (0700) until it has the owner and then
/// the mode of `model`, the source directory it stands for. Without a model, or when the
/// owner cannot be given (sweep not running as root, a group it is not in), it stays
/// private to the user sweep runs as: an archive never shows more than its source did.
fn make_subdir(dir: &OwnedFd, name: &CStr, model: Option<&Stat>) -> Result<OwnedFd, Errno> {
    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o700)) {
        Ok(()) => {}
        // Made meanwhile (another run, the same run's other thread): use it as it is.
        Err(Errno::EXIST) => return open_subdir(dir, name),
        Err(e) => return Err(e),
    }
    let fd = open_subdir(dir, name)?;
    if let Some(m) = model {
        let owner = (rustix::fs::Uid::from_raw(m.st_uid), rustix::fs::Gid::from_raw(m.st_gid));
        if rustix::fs::fchown(&fd, Some(owner.0), Some(owner.1)).is_ok() {
            // Setgid and sticky carry over (group inheritance, a shared directory);
            // setuid means nothing on a directory.
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(m.st_mode & 0o3777))?;
        }
    }
    Ok(fd)
}

/// Opens the archive's incoming directory, making it (mode 0700) when missing. One that
/// is not sweep's own ([`incoming_problem`]) is refused, naming it: another user who could
/// write there could swap the copy for a forgery before it is moved into place.
fn open_incoming(to: &OwnedFd) -> Result<OwnedFd, Fail> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let opened = match rustix::fs::openat(to, INCOMING, flags, Mode::empty()) {
        Err(Errno::NOENT) => match rustix::fs::mkdirat(to, INCOMING, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => rustix::fs::openat(to, INCOMING, flags, Mode::empty()),
            Err(e) => Err(e),
        },
        other => other,
    };
    let st = match &opened {
        Ok(fd) => rustix::fs::fstat(fd)?,
        // Not a directory, or a link: say what it is.
        Err(Errno::NOTDIR | Errno::LOOP) => rustix::fs::statat(to, INCOMING, AtFlags::SYMLINK_NOFOLLOW)?,
        Err(e) => return Err(Fail::Os(*e)),
    };
    match (incoming_problem(&st), opened) {
        (None, Ok(fd)) => Ok(fd),
        (Some(why), _) => Err(Fail::Said(why)),
        (None, Err(e)) => Err(Fail::Os(e)),
    }
}

/// What makes the entry `INCOMING` (status `st`) not sweep's own incoming directory, if
/// anything: it must be a directory owned by the user sweep runs as, that no one else
/// may enter or write.
fn incoming_problem(st: &Stat) -> Option<String> {
    let euid = rustix::process::geteuid().as_raw();
    let kind = match rustix::fs::FileType::from_raw_mode(st.st_mode) {
        rustix::fs::FileType::Directory => "a directory",
        rustix::fs::FileType::Symlink => "a symbolic link",
        _ => "not a directory",
    };
    let own = kind == "a directory" && st.st_uid == euid && st.st_mode & 0o077 == 0;
    (!own).then(|| {
        format!(
            "{} is not sweep's own ({kind}, owned by uid {}, mode {:04o}; it must be a directory owned by uid \
             {euid}, mode 0700): nothing is copied through it",
            INCOMING.to_string_lossy(),
            st.st_uid,
            st.st_mode & 0o7777
        )
    })
}

/// Whether files may be moved into the archive root open as `to`: no user but the one
/// sweep runs as (or root) may write it, and its incoming directory, if there is one, is
/// sweep's own. Someone else who can write there could create the incoming directory
/// before sweep does, or plant files in it, and have a forgery take the original's
/// place. The reason, when not.
pub fn check_archive(to: &OwnedFd) -> Result<(), String> {
    let st = rustix::fs::fstat(to).map_err(os_message)?;
    let euid = rustix::process::geteuid().as_raw();
    let mode = st.st_mode & 0o7777;
    if st.st_uid != euid && st.st_uid != 0 {
        return Err(format!("can be written by another user: it is owned by uid {} (mode {mode:04o})", st.st_uid));
    }
    if mode & 0o022 != 0 {
        return Err(format!("can be written by its group or by others (mode {mode:04o})"));
    }
    match rustix::fs::statat(to, INCOMING, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(incoming) => incoming_problem(&incoming).map_or(Ok(()), Err),
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(format!("{}: {}", INCOMING.to_string_lossy(), os_message(e))),
    }
}

/// Removes what interrupted copies left in the archive's incoming directory (if it is
/// sweep's own); returns how many.
pub fn clean_incoming(to: &OwnedFd) -> usize {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let Ok(dir) = rustix::fs::openat(to, INCOMING, flags, Mode::empty()) else { return 0 };
    if rustix::fs::fstat(&dir).map_or(true, |st| incoming_problem(&st).is_some()) {
        return 0;
    }
    let mut buf = vec![std::mem::MaybeUninit::uninit(); 8192];
    let mut names = Vec::new();
    let mut it = rustix::fs::RawDir::new(&dir, &mut buf);
    while let Some(Ok(e)) = it.next() {
        let n = e.file_name();
        if is_temporary(n.to_bytes()) && debris(&dir, n) == Debris::Leftover {
            names.push(n.to_owned());
        }
    }
    names.iter().filter(|n| rustix::fs::unlinkat(&dir, n.as_c_str(), AtFlags::empty()).is_ok()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(p: &std::path::Path) -> OwnedFd {
        rustix::fs::open(p, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap()
    }

    #[test]
    fn compression_round_trips_and_keeps_mode_and_mtime() {
        for format in [Format::Zstd, Format::Gzip] {
            let d = tempfile::tempdir().unwrap();
            let data: Vec<u8> =
                (0..300_000u32).flat_map(|i| format!("{i},T{},{}.5\n", i % 97, i % 1000).into_bytes()).collect();
            std::fs::write(d.path().join("a.csv"), &data).unwrap();
            let path = d.path().join("a.csv");
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
            let st = rustix::fs::stat(&path).unwrap();
            let dir = open(d.path());
            let r = compress(&dir, c"a.csv", format, 3, Check::Same { ino: st.st_ino, mtime: st.st_mtime });
            let Removal::Compressed(size) = r else { panic!("{r:?}") };
            let z = d.path().join(format!("a.csv{}", format.suffix()));
            assert!(!path.exists());
            let zst = rustix::fs::stat(&z).unwrap();
            assert_eq!(u64::try_from(zst.st_size).unwrap(), size);
            assert!(size < data.len() as u64 / 2, "{size} of {}", data.len());
            assert_eq!((zst.st_mode & 0o7777, zst.st_mtime), (0o640, st.st_mtime));
            let mut back = Vec::new();
            match format {
                Format::Zstd => {
                    zstd::stream::read::Decoder::new(File::open(&z).unwrap()).unwrap().read_to_end(&mut back)
                }
                Format::Gzip => flate2::read::GzDecoder::new(File::open(&z).unwrap()).read_to_end(&mut back),
            }
            .unwrap();
            assert_eq!(back, data);
            assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1, "no temporary left");
        }
    }

    /// Leaves `NAME.zst` beside `NAME` in `dir` as a run stopped before its unlink would:
    /// written, marked and named by sweep, the original still there.
    fn interrupted(dir: &OwnedFd, name: &CStr) {
        let src = rustix::fs::openat(dir, name, READ, Mode::empty()).unwrap();
        let st = rustix::fs::fstat(&src).unwrap();
        let target = CString::new([name.to_bytes(), b".zst"].concat()).unwrap();
        write_compressed(dir, &src, &st, &target, Format::Zstd, 3).unwrap();
    }

    fn exists(r: &Removal) -> bool {
        matches!(r, Removal::Rejected(why) if why.contains("exists (not an interrupted compression of this file)"))
    }

    #[test]
    fn an_existing_compressed_file_is_completed_only_when_sweep_marked_it_for_this_very_file() {
        let d = tempfile::tempdir().unwrap();
        let (a, z) = (d.path().join("a.csv"), d.path().join("a.csv.zst"));
        std::fs::write(&a, b"hello\n").unwrap();
        let dir = open(d.path());
        std::fs::write(&z, b"not zstd").unwrap();
        let r = compress(&dir, c"a.csv", Format::Zstd, 3, Check::None);
        assert!(exists(&r), "{r:?}");
        assert_eq!(std::fs::read(&z).unwrap(), b"not zstd");
        // Its exact compressed content is not enough: anyone who can read a file can write that.
        std::fs::write(&z, zstd::encode_all(&b"hello\n"[..], 3).unwrap()).unwrap();
        assert!(exists(&compress(&dir, c"a.csv", Format::Zstd, 3, Check::None)));
        assert!(a.exists());
        let plan = predict(&dir, c"a.csv", &crate::tree::Transform::Compress { format: Format::Zstd, level: 3 });
        assert_eq!(plan, Removal::WouldFail(Errno::EXIST), "plan predicts it");
        // sweep's own, for this file: the job is finished.
        std::fs::remove_file(&z).unwrap();
        interrupted(&dir, c"a.csv");
        let plan = predict(&dir, c"a.csv", &crate::tree::Transform::Compress { format: Format::Zstd, level: 3 });
        assert_eq!(plan, Removal::Planned);
        assert!(matches!(compress(&dir, c"a.csv", Format::Zstd, 3, Check::None), Removal::Compressed(_)));
        assert!(!a.exists());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_marked_compressed_file_is_not_trusted_once_it_or_the_original_changed() {
        type Spoil = fn(&std::path::Path, &std::path::Path);
        let spoils: [(&str, Spoil); 5] = [
            ("group-writable", |_, z| {
                std::fs::set_permissions(z, std::os::unix::fs::PermissionsExt::from_mode(0o664)).unwrap();
            }),
            ("a second link", |_, z| std::fs::hard_link(z, z.with_extension("link")).unwrap()),
            ("the original rewritten", |a, _| std::fs::write(a, b"hellO\n").unwrap()),
            ("the original replaced", |a, _| {
                std::fs::write(a.with_extension("new"), b"hello\n").unwrap();
                std::fs::rename(a.with_extension("new"), a).unwrap();
            }),
            ("its mark removed", |_, z| rustix::fs::removexattr(z, MARK).unwrap()),
        ];
        for (what, spoil) in spoils {
            let d = tempfile::tempdir().unwrap();
            let (a, z) = (d.path().join("a.csv"), d.path().join("a.csv.zst"));
            std::fs::write(&a, b"hello\n").unwrap();
            set_old_mtime(&a);
            let dir = open(d.path());
            interrupted(&dir, c"a.csv");
            spoil(&a, &z);
            let r = compress(&dir, c"a.csv", Format::Zstd, 3, Check::None);
            assert!(exists(&r), "{what}: {r:?}");
            assert!(a.exists() && z.exists(), "{what}");
        }
        if rustix::process::geteuid().is_root() {
            let d = tempfile::tempdir().unwrap();
            let (a, z) = (d.path().join("a.csv"), d.path().join("a.csv.zst"));
            std::fs::write(&a, b"hello\n").unwrap();
            let dir = open(d.path());
            interrupted(&dir, c"a.csv");
            std::os::unix::fs::chown(&z, Some(65534), None).unwrap();
            assert!(exists(&compress(&dir, c"a.csv", Format::Zstd, 3, Check::None)), "another owner");
        }
    }

    /// Gives `p` an mtime in the past, so that a rewrite changes it.
    fn set_old_mtime(p: &std::path::Path) {
        let t = Timespec { tv_sec: 1_700_000_000, tv_nsec: 0 };
        rustix::fs::utimensat(
            rustix::fs::CWD,
            p,
            &Timestamps { last_access: t, last_modification: t },
            AtFlags::empty(),
        )
        .unwrap();
    }

    #[test]
    fn moves_never_overwrite_and_create_directories() {
        let (src, dst) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::create_dir_all(src.path().join("2024-07-01")).unwrap();
        std::fs::write(src.path().join("2024-07-01/a"), b"a").unwrap();
        std::fs::write(src.path().join("2024-07-01/b"), b"b").unwrap();
        std::fs::create_dir_all(dst.path().join("2024-07-01")).unwrap();
        std::fs::write(dst.path().join("2024-07-01/b"), b"old").unwrap();
        let (s, t) = (open(&src.path().join("2024-07-01")), open(dst.path()));
        assert_eq!(archive(&s, c"a", &t, b"2024-07-01/a", Check::None), Removal::Moved);
        assert_eq!(std::fs::read(dst.path().join("2024-07-01/a")).unwrap(), b"a");
        assert_eq!(archive(&s, c"b", &t, b"2024-07-01/b", Check::None), Removal::Failed(Errno::EXIST));
        assert_eq!(std::fs::read(dst.path().join("2024-07-01/b")).unwrap(), b"old");
        assert!(src.path().join("2024-07-01/b").exists());
    }

    #[test]
    fn temporaries_are_recognised() {
        assert!(is_temporary(b".sweep.0123456789abcdef.compress"));
        assert!(is_temporary(b".sweep.0123456789abcdef.move"));
        assert!(!is_temporary(b".sweep.0123456789abcdef.unlinking"));
        assert!(!is_temporary(b"sweep.0123456789abcdef.move"));
    }
}
