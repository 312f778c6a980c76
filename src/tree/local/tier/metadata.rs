//! The metadata a compressed or archived copy takes from its original: extended
//! attributes (ACLs included), sweep's mark, owner and group, mode, times.

use std::ffi::CString;
use std::os::fd::OwnedFd;

use rustix::fs::{Mode, Stat, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;

use super::{Fail, MARK, mark};
use crate::tree::os_message;

/// Gives the new file `to` (a temporary sweep created, still its own) the metadata of the
/// original open as `from`, whose status is `st`: first every extended attribute (POSIX
/// ACLs are the attribute `system.posix_acl_access`) and, on a compressed file
/// (`marked`), sweep's [`MARK`], while the file is still sweep's to write; then the owner
/// and group; then the mode, without the setuid, setgid and sticky bits; then the times.
/// The owner comes before the mode and the mode has no special bit, so there is no
/// instant at which a root-owned setuid file exists. An attribute that cannot be given
/// fails the operation (`what` names the new file in its message): nothing is silently
/// left root-owned, or readable by someone the original's ACL kept out.
pub(super) fn give_metadata(to: &OwnedFd, from: &OwnedFd, st: &Stat, marked: bool, what: &str) -> Result<(), Fail> {
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
