//! A root, opened once, and the descriptor budget of a walk.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::io::Errno;

use crate::tree::DirId;

/// A root directory, opened once.
#[derive(Debug, Clone)]
pub struct RootDir {
    pub(super) fd: Arc<OwnedFd>,
    /// Its identity.
    pub id: DirId,
    /// The path as the policy writes it (reports use it, so paths stay recognisable).
    pub path: PathBuf,
    /// Where the kernel says the descriptor points, when it differs from `path` (the
    /// root or a directory above it is a symlink).
    pub resolved: Option<PathBuf>,
}

impl RootDir {
    /// Opens `path` (following symlinks in it, once: a root that is a symlink to a
    /// directory is fine, unless, as root, the symlink lies in a directory another user
    /// can write: see [`super::resolve`]) as a directory.
    pub fn open(path: &Path) -> Result<RootDir, super::resolve::Refusal> {
        let fd = super::resolve::open_dir(path)?;
        let st = rustix::fs::fstat(&fd).map_err(super::resolve::Refusal::Os)?;
        let real = rustix::fs::readlinkat(rustix::fs::CWD, format!("/proc/self/fd/{}", fd_number(&fd)), Vec::new())
            .ok()
            .map(|c| PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(c.into_bytes())));
        let resolved = real.filter(|r| r != path);
        Ok(RootDir {
            fd: Arc::new(fd),
            id: DirId { dev: st.st_dev, ino: st.st_ino },
            path: path.to_path_buf(),
            resolved,
        })
    }

    /// The open directory, to hand to a [`crate::tree::Transform::Move`] as its
    /// destination.
    pub fn dir(&self) -> Arc<OwnedFd> {
        Arc::clone(&self.fd)
    }

    /// The filesystem's numbers (statvfs of the open root).
    pub fn statvfs(&self) -> Result<rustix::fs::StatVfs, Errno> {
        rustix::fs::fstatvfs(&*self.fd)
    }
}

fn fd_number(fd: &OwnedFd) -> i32 {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}

/// How many descriptors a walk may hold: its window of open directories, and what the
/// deletion queue may keep open. Sized from `RLIMIT_NOFILE` so a low limit slows the
/// walk (more reopening through `..`) instead of leaving parts of the tree unvisited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Directory descriptors the walk keeps open at most; also the most directory
    /// removals waiting for their directories to empty or being done (each holds its
    /// parent open).
    pub window: usize,
    /// Deletion batches queued at most (each holds its directory open).
    pub depth: usize,
    /// Deleting threads at most (each running batch holds its directory open; the
    /// threads removing directories hold only removals counted in `window`).
    pub threads: usize,
}

impl Budget {
    /// The budget for the current soft descriptor limit.
    pub fn from_limit() -> Budget {
        let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(1024);
        Budget::for_limit(usize::try_from(soft).unwrap_or(usize::MAX))
    }

    /// The budget for a limit of `n` descriptors: eight stay free for stdio, the lock, the
    /// metrics file, the policy files and the root; the walk's window, the removals
    /// waiting for their directories, the queue and the threads get a quarter each.
    pub fn for_limit(n: usize) -> Budget {
        let quarter = n.saturating_sub(8).max(4) / 4;
        Budget { window: quarter.clamp(2, 64), depth: quarter.clamp(1, 64), threads: quarter.max(1) }
    }

    /// Descriptors a walk with this budget may hold at most.
    pub fn descriptors(&self) -> usize {
        2 * self.window + self.depth + self.threads
    }
}

/// Raises the soft descriptor limit to the hard limit, so that a low default (`ulimit
/// -n 1024`, or less in some containers) costs nothing that could be had.
pub fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut l = getrlimit(Resource::Nofile);
    if l.current != l.maximum {
        l.current = l.maximum;
        let _ = setrlimit(Resource::Nofile, l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_fit_the_limit() {
        let b = Budget::for_limit(1024);
        assert_eq!((b.window, b.depth), (64, 64));
        for n in [16, 32, 64, 100, 256, 1024, 65536] {
            let b = Budget::for_limit(n);
            assert!(b.window >= 2 && b.depth >= 1 && b.threads >= 1, "{n}: {b:?}");
            assert!(b.descriptors() + 8 <= n, "{n}: {b:?} uses {}", b.descriptors());
        }
    }
}
