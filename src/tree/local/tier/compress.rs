//! Compression in place: stream into a locked temporary beside the original, give it the
//! original's metadata and sweep's mark, sync, rename to `NAME.zst` (never over a file),
//! then unlink the original if it is still the file compressed.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, Mode, RenameFlags, Stat};
use rustix::io::Errno;

use super::metadata::give_metadata;
use super::*;
use crate::policy::Format;

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
pub(super) fn completes(dir: &OwnedFd, target: &CStr, src: &OwnedFd) -> bool {
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
pub(super) fn write_compressed(
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
