//! Opening a directory by path as root on a shared host: a symlink is followed only if
//! the directory that holds it can be written by no user but root, and a directory
//! owned by a user other than root is passed through only into directories of the
//! same owner.
//!
//! A user who can write a directory on the way to a root (say they own `/srv/att/team`,
//! and the root is `/srv/att/team/cache`) can replace the last step with a symlink to
//! someone else's files, and a cleaner running as root would then clean those. systemd-
//! tmpfiles calls this an unsafe path transition and refuses it. The same user can as
//! well rename another user's directory (one left in their tree) to the root's name, so
//! tmpfiles also refuses a step from a directory a user owns into one another user
//! owns. So does sweep, for roots, `archive.to`, the lock file and the metrics file,
//! with both rules. The path is resolved one
//! component at a time (`O_PATH | O_NOFOLLOW`, each step relative to the last), so what
//! is checked is what is opened; a symlink in a directory only root can write (the
//! admin's own `/data -> /mnt/d1/data`) is followed as the kernel would follow it.
//!
//! Not running as root, nothing here applies: a user's own symlinks are theirs.

use std::ffi::{CString, OsStr};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

/// Why a directory was not opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The OS said no.
    Os(Errno),
    /// Reaching it means following a symlink that another user could have put there.
    Unsafe {
        /// The symlink, as a path.
        link: PathBuf,
        /// Where it points.
        target: PathBuf,
        /// The directory that holds it.
        dir: PathBuf,
        /// Who can write that directory, in words (`user att (uid 1001)`).
        writer: String,
    },
    /// Reaching it means entering a directory of one user that lies in a directory
    /// another user owns, who could have renamed it there.
    Foreign {
        /// The directory entered.
        dir: PathBuf,
        /// Its owner, in words.
        owner: String,
        /// The directory that holds it.
        parent: PathBuf,
        /// That directory's owner, in words.
        writer: String,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Os(e) => write!(f, "{}", crate::tree::os_message(*e)),
            Refusal::Unsafe { link, target, dir, writer } => write!(
                f,
                "refusing to follow the symlink {} (→ {}): it lies in {}, which {writer} can write \
                 (an unsafe path transition); to clean a tree a user owns, run sweep as that user \
                 (User= in the unit, or their crontab)",
                link.display(),
                target.display(),
                dir.display()
            ),
            Refusal::Foreign { dir, owner, parent, writer } => write!(
                f,
                "refusing to enter {} ({owner}): it lies in {}, which {writer} owns and could have \
                 renamed another user's directory there (an unsafe path transition); to clean a tree \
                 a user owns, run sweep as that user (User= in the unit, or their crontab)",
                dir.display(),
                parent.display()
            ),
        }
    }
}

/// How many symlinks one resolution may follow (as the kernel's limit).
const MAX_LINKS: u32 = 40;

/// Who other than root can write a directory with this `stat`, in words, if anyone.
fn writer(st: &rustix::fs::Stat) -> Option<String> {
    let mode = st.st_mode;
    if st.st_uid != 0 {
        return Some(user(st.st_uid));
    }
    if mode & 0o002 != 0 {
        return Some("every user".into());
    }
    if mode & 0o020 != 0 && st.st_gid != 0 {
        return Some(format!("group {}", st.st_gid));
    }
    None
}

/// A user in words: `user att (uid 1001)`, or `uid 1001` without a name.
fn user(uid: u32) -> String {
    match (uid, user_name(uid)) {
        (0, _) => "root".to_string(),
        (_, Some(n)) => format!("user {n} (uid {uid})"),
        (_, None) => format!("uid {uid}"),
    }
}

/// The name of `uid` in `/etc/passwd`, if it has one.
fn user_name(uid: u32) -> Option<String> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_string())
    })
}

/// Opens the directory `path` for reading. As root, a symlink on the way is followed
/// only when the directory holding it is writable by root alone; otherwise the kernel
/// resolves the path as `open(2)` does.
pub fn open_dir(path: &Path) -> Result<OwnedFd, Refusal> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if !rustix::process::geteuid().is_root() {
        return rustix::fs::open(path, flags, Mode::empty()).map_err(Refusal::Os);
    }
    let at = walk(path)?;
    rustix::fs::openat(&at, c".", flags, Mode::empty()).map_err(Refusal::Os)
}

/// Resolves `path` (absolute or relative to the working directory) to an `O_PATH`
/// descriptor of the directory it names, checking every symlink on the way.
fn walk(path: &Path) -> Result<OwnedFd, Refusal> {
    let step = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let start = if path.is_absolute() { c"/" } else { c"." };
    let mut at = rustix::fs::open(start, step | OFlags::DIRECTORY, Mode::empty()).map_err(Refusal::Os)?;
    // Where `at` is, for messages: the path as followed so far.
    let mut shown = if path.is_absolute() { PathBuf::from("/") } else { PathBuf::from(".") };
    // Components still to resolve, last first.
    let mut todo: Vec<Vec<u8>> = parts(path);
    let mut links = 0;
    while let Some(c) = todo.pop() {
        let name = CString::new(c.clone()).map_err(|_| Refusal::Os(Errno::INVAL))?;
        let next = rustix::fs::openat(&at, &name, step, Mode::empty()).map_err(Refusal::Os)?;
        let st = rustix::fs::fstat(&next).map_err(Refusal::Os)?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Refusal::Os(Errno::LOOP));
                }
                let target = rustix::fs::readlinkat(&next, c"", Vec::new()).map_err(Refusal::Os)?;
                let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
                let here = rustix::fs::fstat(&at).map_err(Refusal::Os)?;
                if let Some(writer) = writer(&here) {
                    return Err(Refusal::Unsafe {
                        link: shown.join(OsStr::from_bytes(&c)),
                        target,
                        dir: shown,
                        writer,
                    });
                }
                if target.is_absolute() {
                    at = rustix::fs::open(c"/", step | OFlags::DIRECTORY, Mode::empty()).map_err(Refusal::Os)?;
                    shown = PathBuf::from("/");
                }
                todo.extend(parts(&target));
            }
            FileType::Directory => {
                // systemd-tmpfiles' rule: a directory owned by a user other than root
                // holds nothing of another user's on the way (its owner can rename any
                // directory into it, as it can plant a symlink).
                let here = rustix::fs::fstat(&at).map_err(Refusal::Os)?;
                if c != b".." && here.st_uid != 0 && st.st_uid != here.st_uid {
                    return Err(Refusal::Foreign {
                        dir: shown.join(OsStr::from_bytes(&c)),
                        owner: user(st.st_uid),
                        parent: shown,
                        writer: user(here.st_uid),
                    });
                }
                at = next;
                if c == b".." {
                    shown.pop();
                } else {
                    shown.push(OsStr::from_bytes(&c));
                }
            }
            _ => return Err(Refusal::Os(Errno::NOTDIR)),
        }
    }
    Ok(at)
}

/// The components of `path` to resolve, last first (`.` dropped, `..` kept: the kernel
/// resolves it on the directory reached, not on the spelling).
fn parts(path: &Path) -> Vec<Vec<u8>> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.as_bytes().to_vec()),
            Component::ParentDir => Some(b"..".to_vec()),
            _ => None,
        })
        .rev()
        .collect()
}

/// Whether a user other than root can write the directory open as `fd`: in words, who.
pub fn others_can_write(fd: &OwnedFd) -> Option<String> {
    rustix::fs::fstat(fd).ok().and_then(|st| writer(&st))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_symlinks_are_followed_and_unsafe_ones_are_refused() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        std::fs::create_dir_all(real.join("sub")).unwrap();
        std::os::unix::fs::symlink(&real, d.path().join("link")).unwrap();
        std::os::unix::fs::symlink("../real/sub", d.path().join("real/rel")).unwrap();
        // Root's own directories: followed, absolute and relative.
        assert!(open_dir(&d.path().join("link/sub")).is_ok());
        assert!(open_dir(&d.path().join("real/rel")).is_ok());
        // A directory another user owns: its symlink is not followed.
        let theirs = d.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        std::os::unix::fs::symlink(&real, theirs.join("cache")).unwrap();
        let r = open_dir(&theirs.join("cache")).unwrap_err();
        let Refusal::Unsafe { link, dir, .. } = &r else { panic!("{r:?}") };
        assert_eq!((link.as_path(), dir.as_path()), (theirs.join("cache").as_path(), theirs.as_path()));
        assert!(r.to_string().contains("(uid 65534)"), "{r}");
        // A directory of theirs that is a real directory is fine to pass through.
        std::fs::create_dir(theirs.join("plain")).unwrap();
        std::os::unix::fs::chown(theirs.join("plain"), Some(65534), Some(65534)).unwrap();
        assert!(open_dir(&theirs.join("plain")).is_ok());
        // One of another owner in it (root's, or a third user's) could have been renamed
        // there by them: refused, naming both owners.
        for (name, uid) in [("roots", 0), ("bobs", 1001)] {
            std::fs::create_dir(theirs.join(name)).unwrap();
            std::os::unix::fs::chown(theirs.join(name), Some(uid), Some(uid)).unwrap();
            let r = open_dir(&theirs.join(name)).unwrap_err();
            let Refusal::Foreign { dir, parent, .. } = &r else { panic!("{r:?}") };
            assert_eq!((dir.as_path(), parent.as_path()), (theirs.join(name).as_path(), theirs.as_path()));
            assert!(r.to_string().contains("(uid 65534)") && r.to_string().contains("unsafe path transition"), "{r}");
        }
        // World-writable, even sticky: refused.
        std::fs::set_permissions(&real, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
        std::os::unix::fs::symlink(real.join("sub"), real.join("tmp-link")).unwrap();
        assert!(matches!(open_dir(&real.join("tmp-link")), Err(Refusal::Unsafe { .. })));
        assert_eq!(open_dir(&d.path().join("missing")).err(), Some(Refusal::Os(Errno::NOENT)));
    }
}
