//! Lifecycle operations on kept files: compress in place, move to the archive. Both
//! are crash-safe in the same way: at every instant, either the original or the
//! complete result exists under its final name, never a truncated one.
//!
//! - Compression streams `NAME` into a temporary in the same directory
//!   (`.sweep.<hex>.compress`, created exclusively), syncs it, gives it the original's
//!   mode, owner and times, renames it to `NAME.zst` (never over an existing file), syncs
//!   the directory, and only then unlinks `NAME` — if it is still the file that was
//!   compressed. A crash leaves the original, and perhaps a temporary the next run
//!   removes; or both names, which the next run resolves by comparing contents.
//! - A move is a rename (`RENAME_NOREPLACE`: an existing file in the archive is never
//!   overwritten) when the archive is on the same filesystem; otherwise a copy into
//!   `ARCHIVE/.sweep-incoming/`, synced and checked for size, renamed into place, and
//!   then the unlink of the original.
//!
//! Every step is relative to a directory descriptor; no path is resolved.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, Stat, Timespec, Timestamps};
use rustix::io::Errno;

use crate::policy::Format;
use crate::tree::{Check, Removal};

/// Where copies into the archive wait until they are complete.
pub const INCOMING: &CStr = c".sweep-incoming";

/// Whether a name is one sweep makes: a temporary of [`compress`] or [`archive`], or a
/// file between its check and its unlink (`remover::remove_checked`).
pub fn is_ours(name: &[u8]) -> bool {
    name.starts_with(b".sweep.") && (is_temporary(name) || super::remover::is_in_flight(name))
}

/// What one of sweep's own names is, as a walk finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Debris {
    /// In use by a run now (this one, or another): left alone and not counted.
    Busy,
    /// Left by a run that was killed: removed.
    Leftover,
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
    if super::remover::is_in_flight(n) {
        if super::remover::is_own_in_flight(n) {
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

/// Gives `to` the mode, owner and times of `from` (owner only where allowed).
fn same_metadata(to: &OwnedFd, from: &Stat) -> Result<(), Errno> {
    rustix::fs::fchmod(to, Mode::from_raw_mode(from.st_mode & 0o7777))?;
    let owner = (rustix::fs::Uid::from_raw(from.st_uid), rustix::fs::Gid::from_raw(from.st_gid));
    match rustix::fs::fchown(to, Some(owner.0), Some(owner.1)) {
        Ok(()) | Err(Errno::PERM) => {}
        Err(e) => return Err(e),
    }
    let ts = |s: i64, ns: i64| Timespec { tv_sec: s, tv_nsec: ns };
    let times = Timestamps {
        last_access: ts(from.st_atime, from.st_atime_nsec as _),
        last_modification: ts(from.st_mtime, from.st_mtime_nsec as _),
    };
    rustix::fs::futimens(to, &times)
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
                Ok(src) if completes(dir, &target, *format, &src) => Removal::Planned,
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
/// compression of `src`: a regular file holding exactly its content.
fn completes(dir: &OwnedFd, target: &CStr, format: Format, src: &OwnedFd) -> bool {
    let Ok(existing) = rustix::fs::statat(dir, target, AtFlags::SYMLINK_NOFOLLOW) else { return false };
    rustix::fs::openat(dir, target, READ, Mode::empty())
        .ok()
        .filter(|_| rustix::fs::FileType::from_raw_mode(existing.st_mode) == rustix::fs::FileType::RegularFile)
        .is_some_and(|z| same_content(File::from(z), format, src).unwrap_or(false))
}

/// Compresses `name` in `dir` to `name` + the format's suffix. `check` is the file as it
/// was examined: a file changed meanwhile is left for the next run.
pub fn compress(dir: &OwnedFd, name: &CStr, format: Format, level: u32, check: Check) -> Removal {
    match compress_inner(dir, name, format, level, check) {
        Ok(r) => r,
        Err(e) => Removal::Failed(e),
    }
}

fn compress_inner(dir: &OwnedFd, name: &CStr, format: Format, level: u32, check: Check) -> Result<Removal, Errno> {
    let src = match rustix::fs::openat(dir, name, READ, Mode::empty()) {
        Ok(f) => f,
        Err(Errno::NOENT) => return Ok(Removal::Vanished),
        Err(e) => return Err(e),
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
        // Both names: an earlier run stopped between its rename and its unlink. If the
        // compressed file holds exactly the original, finish the job; else leave both.
        if !completes(dir, &target, format, &src) {
            return Err(Errno::EXIST);
        }
        return Ok(match remove_original(dir, name, &st) {
            Removal::Removed => Removal::Compressed(u64::try_from(existing.st_size).unwrap_or(0)),
            other => other,
        });
    }
    let tmp = temporary("compress");
    let out = create_locked(dir, &tmp)?;
    let written = (|| -> Result<u64, Errno> {
        let out = File::from(out);
        let input = BufReader::with_capacity(1 << 20, File::from(rustix::io::dup(&src)?));
        let mut out = encode(input, out, format, level).map_err(io_errno)?;
        out.flush().map_err(io_errno)?;
        out.sync_all().map_err(io_errno)?;
        let fd: OwnedFd = out.into();
        // Changed while being read: the compressed copy is not of the file decided on.
        let now = rustix::fs::fstat(&src)?;
        if now.st_mtime != st.st_mtime || now.st_size != st.st_size || now.st_mtime_nsec != st.st_mtime_nsec {
            return Err(Errno::AGAIN);
        }
        same_metadata(&fd, &st)?;
        let size = rustix::fs::fstat(&fd)?.st_size;
        rustix::fs::renameat_with(dir, &tmp, dir, &target, RenameFlags::NOREPLACE)?;
        rustix::fs::fsync(dir)?;
        Ok(u64::try_from(size).unwrap_or(0))
    })();
    let size = match written {
        Ok(size) => size,
        Err(e) => {
            let _ = rustix::fs::unlinkat(dir, &tmp, AtFlags::empty());
            return if e == Errno::AGAIN { Ok(Removal::Vanished) } else { Err(e) };
        }
    };
    Ok(match remove_original(dir, name, &st) {
        Removal::Removed | Removal::Vanished => Removal::Compressed(size),
        other => other,
    })
}

/// Unlinks the original if it is still the file compressed (inode and mtime).
fn remove_original(dir: &OwnedFd, name: &CStr, st: &Stat) -> Removal {
    super::remover::remove_checked(dir, name, Check::Same { ino: st.st_ino, mtime: st.st_mtime })
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

/// Whether the compressed file `z` decompresses to exactly the content of `original`.
fn same_content(z: File, format: Format, original: &OwnedFd) -> io::Result<bool> {
    let mut a: Box<dyn Read> = match format {
        Format::Zstd => Box::new(zstd::stream::read::Decoder::new(z)?),
        Format::Gzip => Box::new(flate2::read::GzDecoder::new(BufReader::new(z))),
    };
    let mut b = BufReader::new(File::from(rustix::io::dup(original).map_err(io::Error::from)?));
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = read_full(&mut a, &mut x)?;
        let m = read_full(&mut b, &mut y[..n.max(1)])?;
        if n != m || x[..n] != y[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Moves `name` in `dir` to `rel` below the archive root `to`.
pub fn archive(dir: &OwnedFd, name: &CStr, to: &OwnedFd, rel: &[u8], check: Check) -> Removal {
    match archive_inner(dir, name, to, rel, check) {
        Ok(r) => r,
        Err(e) => Removal::Failed(e),
    }
}

fn archive_inner(dir: &OwnedFd, name: &CStr, to: &OwnedFd, rel: &[u8], check: Check) -> Result<Removal, Errno> {
    let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(Removal::Vanished),
        Err(e) => return Err(e),
    };
    if let Check::Same { ino, mtime } = check
        && (st.st_ino != ino || st.st_mtime != mtime)
    {
        return Ok(Removal::Vanished);
    }
    let (dest_dir, file) = directories(to, rel)?;
    let file = CString::new(file).map_err(|_| Errno::INVAL)?;
    match rustix::fs::renameat_with(dir, name, &dest_dir, &file, RenameFlags::NOREPLACE) {
        Ok(()) => return Ok(Removal::Moved),
        Err(Errno::XDEV) => {}
        Err(e) => return Err(e),
    }
    if rustix::fs::statat(&dest_dir, &file, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
        return Err(Errno::EXIST);
    }
    // Another filesystem: copy into the archive's incoming directory, then into place.
    let incoming = subdir(to, INCOMING)?;
    let tmp = temporary("move");
    let copied = (|| -> Result<(), Errno> {
        let src = rustix::fs::openat(dir, name, READ, Mode::empty())?;
        let mut out = File::from(create_locked(&incoming, &tmp)?);
        let mut input = BufReader::with_capacity(1 << 20, File::from(rustix::io::dup(&src)?));
        io::copy(&mut input, &mut out).map_err(io_errno)?;
        out.sync_all().map_err(io_errno)?;
        let fd: OwnedFd = out.into();
        let (now, copy) = (rustix::fs::fstat(&src)?, rustix::fs::fstat(&fd)?);
        if now.st_size != st.st_size || copy.st_size != st.st_size || now.st_mtime != st.st_mtime {
            return Err(Errno::AGAIN);
        }
        same_metadata(&fd, &st)?;
        rustix::fs::renameat_with(&incoming, &tmp, &dest_dir, &file, RenameFlags::NOREPLACE)?;
        rustix::fs::fsync(&dest_dir)
    })();
    if let Err(e) = copied {
        let _ = rustix::fs::unlinkat(&incoming, &tmp, AtFlags::empty());
        return if e == Errno::AGAIN { Ok(Removal::Vanished) } else { Err(e) };
    }
    Ok(match remove_original(dir, name, &st) {
        Removal::Removed | Removal::Vanished => Removal::Moved,
        other => other,
    })
}

/// Opens (creating as needed) the directories of `rel` below `to`, without following
/// links; returns the last one and the file name.
fn directories<'a>(to: &OwnedFd, rel: &'a [u8]) -> Result<(OwnedFd, &'a [u8]), Errno> {
    let mut parts: Vec<&[u8]> = rel.split(|b| *b == b'/').filter(|p| !p.is_empty()).collect();
    let file = parts.pop().ok_or(Errno::INVAL)?;
    let mut dir = rustix::io::dup(to)?;
    for p in parts {
        if p == b".." || p == b"." {
            return Err(Errno::INVAL);
        }
        dir = subdir(&dir, &CString::new(p).map_err(|_| Errno::INVAL)?)?;
    }
    Ok((dir, file))
}

/// Opens the directory `name` of `dir`, creating it when missing.
fn subdir(dir: &OwnedFd, name: &CStr) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Err(Errno::NOENT) => match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => rustix::fs::openat(dir, name, flags, Mode::empty()),
            Err(e) => Err(e),
        },
        other => other,
    }
}

/// Removes what interrupted copies left in the archive's incoming directory; returns
/// how many.
pub fn clean_incoming(to: &OwnedFd) -> usize {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let Ok(dir) = rustix::fs::openat(to, INCOMING, flags, Mode::empty()) else { return 0 };
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

    #[test]
    fn an_existing_compressed_file_is_never_overwritten_unless_it_is_the_same() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.csv"), b"hello\n").unwrap();
        std::fs::write(d.path().join("a.csv.zst"), b"not zstd").unwrap();
        let dir = open(d.path());
        assert_eq!(compress(&dir, c"a.csv", Format::Zstd, 3, Check::None), Removal::Failed(Errno::EXIST));
        assert_eq!(std::fs::read(d.path().join("a.csv.zst")).unwrap(), b"not zstd");
        // A complete one (an earlier run stopped before its unlink): the job is finished.
        std::fs::write(d.path().join("a.csv.zst"), zstd::encode_all(&b"hello\n"[..], 3).unwrap()).unwrap();
        assert!(matches!(compress(&dir, c"a.csv", Format::Zstd, 3, Check::None), Removal::Compressed(_)));
        assert!(!d.path().join("a.csv").exists());
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
