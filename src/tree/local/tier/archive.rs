//! Moving to the archive: a rename on one filesystem; otherwise a copy through sweep's
//! own incoming directory, checked to be the file written before the original goes. The
//! directories made on the way take the source directories' owner and mode.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, BufReader};
use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, Stat};
use rustix::io::Errno;

use super::metadata::give_metadata;
use super::*;

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
