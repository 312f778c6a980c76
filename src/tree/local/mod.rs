//! Traversal of a local root through directory file descriptors, and the only code that
//! deletes local files.
//!
//! The root is opened once ([`Root::open`]); every decision about it (dangerous root,
//! guards, both walks) is taken on that descriptor, and the path reported is the one the
//! kernel says it opened. Below it, every descent is `openat(parent_fd, name,
//! O_DIRECTORY | O_NOFOLLOW)` followed by a check that the directory opened is the one
//! listed (same device and inode), and every deletion is `unlinkat(parent_fd, name)`.
//! No path is ever resolved again, so swapping any directory under the root for a
//! symlink — between listing and descending, or between descending and deleting — can
//! make sweep report an error, but never makes it enter or delete anything outside the
//! root (the race behind CVE-2002-0435 and CVE-2022-21658). Path-based walkers such as
//! walkdir (issue #209) and `std::fs::remove_dir_all` on old toolchains do not give this.
//!
//! Depth does not matter: paths are only built for reports, so there is no `PATH_MAX`
//! limit, and at most a window of directory descriptors is open at once, sized from the
//! descriptor limit actually available ([`Budget`]). Deeper ancestors are closed and
//! reopened through `..` on the way back up, with the same device/inode check, as fts
//! does. The walk is a loop, not recursion, so a deep tree cannot overflow the stack
//! (CVE-2021-3997).
//!
//! Memory: a directory is read once, streaming; files are handed to the visitor as they
//! are read, and only the names of sub-directories wait (per directory being walked, so
//! memory follows the depth and the widest directory, never the number of files).

pub mod open;
mod remover;

use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode as FsMode, OFlags, RawDir, SeekFrom, Stat};
use rustix::io::Errno;

use super::{Check, Decision, DirId, DirTrouble, Enter, Entry, Kind, Mode, Removal, Visitor};
use remover::{Op, Remover};

/// A root directory, opened once.
#[derive(Debug, Clone)]
pub struct Root {
    fd: Arc<OwnedFd>,
    /// Its identity.
    pub id: DirId,
    /// The path as the policy writes it (reports use it, so paths stay recognisable).
    pub path: PathBuf,
    /// Where the kernel says the descriptor points, when it differs from `path` (the
    /// root or a directory above it is a symlink).
    pub resolved: Option<PathBuf>,
}

impl Root {
    /// Opens `path` (following symlinks in it, once: a root that is a symlink to a
    /// directory is fine) as a directory.
    pub fn open(path: &Path) -> Result<Root, Errno> {
        let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, FsMode::empty())?;
        let st = rustix::fs::fstat(&fd)?;
        let real = rustix::fs::readlinkat(rustix::fs::CWD, format!("/proc/self/fd/{}", fd_number(&fd)), Vec::new())
            .ok()
            .map(|c| PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(c.into_bytes())));
        let resolved = real.filter(|r| r != path);
        Ok(Root { fd: Arc::new(fd), id: DirId { dev: st.st_dev, ino: st.st_ino }, path: path.to_path_buf(), resolved })
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
    /// Directory descriptors the walk keeps open at most.
    pub window: usize,
    /// Distinct directories one deletion batch may reference.
    pub fds_per_batch: usize,
    /// Deletion batches in flight.
    pub depth: usize,
}

impl Budget {
    /// The budget for the current soft descriptor limit.
    pub fn from_limit() -> Budget {
        let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(1024);
        Budget::for_limit(usize::try_from(soft).unwrap_or(usize::MAX))
    }

    /// The budget for a limit of `n` descriptors: a dozen stay free for stdio, the lock,
    /// the metrics file and the root; the walk gets half of the rest, the queue the other.
    pub fn for_limit(n: usize) -> Budget {
        let free = n.saturating_sub(12).max(4);
        let window = (free / 2).clamp(2, 64);
        let depth = (free / 8).clamp(1, 4);
        let fds_per_batch = (free / 2 / (depth + 1)).clamp(1, 32);
        Budget { window, fds_per_batch, depth }
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

/// Options of one walk.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Plan or apply.
    pub mode: Mode,
    /// Do not enter directories on other filesystems.
    pub one_file_system: bool,
    /// Whether files need `fstatat` (size and time). Without it, entries the listing
    /// types are handed over with size 0 and no time: enough for a pre-pass that only
    /// counts names.
    pub stat: bool,
    /// Descriptors.
    pub budget: Budget,
}

/// Names of sub-directories still to visit, packed in one buffer.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    items: Vec<(usize, u64)>, // end offset in `bytes`, inode from the listing
}

impl Pending {
    fn push(&mut self, name: &[u8], ino: u64) {
        self.bytes.extend_from_slice(name);
        self.items.push((self.bytes.len(), ino));
    }

    /// Moves the last name into `out`.
    fn pop(&mut self, out: &mut Vec<u8>) -> Option<u64> {
        let (end, ino) = self.items.pop()?;
        let start = self.items.last().map_or(0, |&(e, _)| e);
        out.clear();
        out.extend_from_slice(&self.bytes[start..end]);
        self.bytes.truncate(start);
        Some(ino)
    }
}

struct Level<D> {
    /// `None` when closed to stay within the window. Shared with the remover thread,
    /// which may still hold it for queued removals.
    fd: Option<Arc<OwnedFd>>,
    dev: u64,
    ino: u64,
    /// Length of the path buffer for this directory.
    path_len: usize,
    /// Offset of this directory's name in the path buffer.
    name_at: usize,
    pending: Pending,
    state: D,
    /// Entries listed, and entries removed (or that would be, or are queued to be).
    entries: u64,
    gone: u64,
    /// Something went wrong here, or something here was left alone: never remove it.
    troubled: bool,
    /// Its modification time.
    mtime: i64,
}

/// A queued removal, waiting for its outcome.
enum Waiting<P> {
    File(P),
    Dir(Vec<u8>, u32),
}

/// Walks the tree under `root`.
pub fn walk<V: Visitor>(root: &Root, opts: Options, v: &mut V) {
    use std::os::unix::ffi::OsStrExt;
    let mut path = root.path.as_os_str().as_bytes().to_vec();
    while path.len() > 1 && path.ends_with(b"/") {
        path.pop();
    }
    let mut w = Walker {
        opts,
        root_len: path.len(),
        path,
        buf: vec![MaybeUninit::uninit(); 64 * 1024],
        name: Vec::new(),
        remover: None,
        waiting: VecDeque::new(),
    };
    if opts.mode == Mode::Apply {
        match Remover::start(opts.budget) {
            Ok(r) => w.remover = Some(r),
            Err(e) => {
                // No thread could be started (RLIMIT_NPROC): say so, touch nothing.
                v.error(&w.path, DirTrouble::Unreadable, e);
                return;
            }
        }
    }
    // A fresh open file description of the same directory: each walk reads it from the
    // start, whatever an earlier walk left its offset at.
    let fd = match rustix::fs::openat(&*root.fd, c".", OPEN_DIR, FsMode::empty()) {
        Ok(fd) => fd,
        Err(e) => {
            v.error(&w.path, DirTrouble::Unreadable, e);
            return;
        }
    };
    let state = v.root();
    let mut stack = vec![Level {
        fd: Some(Arc::new(fd)),
        dev: root.id.dev,
        ino: root.id.ino,
        path_len: w.path.len(),
        name_at: w.path.len(),
        pending: Pending::default(),
        state,
        entries: 0,
        gone: 0,
        troubled: false,
        mtime: 0,
    }];
    w.list(&mut stack[0], v);
    w.run(&mut stack, v);
    if let Some(mut r) = w.remover.take() {
        let rest = r.finish();
        w.deliver(rest, v);
    }
}

struct Walker<P> {
    opts: Options,
    /// Absolute path of the current directory (or entry), for reports only.
    path: Vec<u8>,
    root_len: usize,
    /// getdents buffer, shared: one directory is read at a time.
    buf: Vec<MaybeUninit<u8>>,
    /// Scratch for the name of the sub-directory being entered.
    name: Vec<u8>,
    /// The deletion thread (apply only).
    remover: Option<Remover>,
    /// Queued removals in queue order; results come back in the same order.
    waiting: VecDeque<Waiting<P>>,
}

const OPEN_DIR: OFlags =
    OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC).union(OFlags::NOCTTY);

/// Which entries one reading of a directory hands over.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Everything (the directory has no marker pass).
    All,
    /// Only completion markers (non-directories the visitor names).
    Markers,
    /// Everything but the markers, which the first pass handled.
    Rest,
}

impl<P> Walker<P> {
    fn run<V: Visitor<Pending = P>>(&mut self, stack: &mut Vec<Level<V::Dir>>, v: &mut V) {
        loop {
            if v.stop() {
                return;
            }
            let Some(top) = stack.last_mut() else { return };
            if let Some(ino) = top.pending.pop(&mut self.name) {
                if let Some(child) = self.open_child(top, ino, v) {
                    stack.push(child);
                    let depth = stack.len();
                    if depth > self.opts.budget.window {
                        stack[depth - 1 - self.opts.budget.window].fd = None;
                    }
                    if let Some(top) = stack.last_mut() {
                        self.list(top, v);
                    }
                }
                continue;
            }
            // Every entry of the top directory is done: go back up.
            if stack.len() == 1 {
                return;
            }
            let Some(done) = stack.pop() else { return };
            let Some(parent) = stack.last_mut() else { return };
            if parent.fd.is_none() && !self.reopen_parent(&done, parent, v) {
                // The tree was moved while sweep was in it: stop rather than guess.
                return;
            }
            // A mount point is never removed (it could not be: EBUSY), only emptied. A
            // directory that was empty to begin with goes only when the visitor says it
            // is a leftover (say, a skeleton an interrupted run left in an expired
            // partition).
            let clean = !done.troubled && done.dev == parent.dev && done.gone == done.entries;
            let emptied = clean
                && if done.entries > 0 {
                    v.remove_emptied(&done.state, &mut parent.state)
                } else {
                    v.remove_empty(&done.state, done.mtime, &mut parent.state)
                };
            if emptied {
                parent.gone += 1;
                let path = &self.path[..done.path_len];
                let tag = v.removal_tag(&done.state);
                let full = match (&mut self.remover, &parent.fd) {
                    (Some(r), Some(pfd)) => {
                        let name = cstring(&self.path[done.name_at..done.path_len]);
                        self.waiting.push_back(Waiting::Dir(path.to_vec(), tag));
                        r.push(Op::Rmdir(Arc::clone(pfd), name))
                    }
                    _ => {
                        v.dir_removed(path, tag, Removal::Planned);
                        false
                    }
                };
                if full {
                    self.flush(v);
                }
            } else if done.troubled || done.gone != done.entries {
                parent.troubled |= done.troubled;
            }
            self.path.truncate(parent.path_len);
        }
    }

    /// Sends the queued batch and reports whatever results are back.
    fn flush<V: Visitor<Pending = P>>(&mut self, v: &mut V) {
        if let Some(r) = &mut self.remover {
            r.send();
            let ready = r.ready();
            self.deliver(ready, v);
        }
    }

    /// Hands results, in queue order, to the visitor.
    fn deliver<V: Visitor<Pending = P>>(&mut self, results: Vec<Removal>, v: &mut V) {
        for r in results {
            match self.waiting.pop_front() {
                Some(Waiting::File(p)) => v.removed(p, r),
                Some(Waiting::Dir(path, tag)) => match r {
                    // Something was written into it meanwhile, or an entry could not be
                    // deleted (reported on its own): it stays, rightly.
                    Removal::Failed(Errno::NOTEMPTY | Errno::EXIST) => {}
                    r => v.dir_removed(&path, tag, r),
                },
                None => {}
            }
        }
    }

    /// Opens the sub-directory named in `self.name`, checking it is the one listed.
    fn open_child<V: Visitor>(&mut self, parent: &mut Level<V::Dir>, ino: u64, v: &mut V) -> Option<Level<V::Dir>> {
        let pfd = parent.fd.clone()?;
        self.path.truncate(parent.path_len);
        let name_at = self.path.len() + 1;
        self.path.push(b'/');
        self.path.extend_from_slice(&self.name);
        let opened = rustix::fs::openat(&*pfd, &self.name[..], OPEN_DIR, FsMode::empty())
            .and_then(|fd| rustix::fs::fstat(&fd).map(|st| (fd, st)));
        let (fd, st) = match opened {
            Ok(x) => x,
            Err(Errno::NOENT) => {
                // Removed by someone else meanwhile: nothing left to count.
                parent.gone += 1;
                return None;
            }
            Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
                // Listed as a directory, now a symlink or a file: never followed.
                parent.troubled = true;
                v.error(&self.path, DirTrouble::Changed, e);
                return None;
            }
            Err(e) => {
                parent.troubled = true;
                v.error(&self.path, DirTrouble::Unreadable, e);
                return None;
            }
        };
        if st.st_dev != parent.dev {
            // A mount point. (Its listed inode is the covered directory's, so the inode
            // check below does not apply.)
            if self.opts.one_file_system {
                parent.troubled = true;
                v.mount(&self.path);
                return None;
            }
        } else if ino != 0 && st.st_ino != ino {
            parent.troubled = true;
            v.error(&self.path, DirTrouble::Changed, Errno::STALE);
            return None;
        }
        let rel = &self.path[(self.root_len + 1).min(self.path.len())..];
        let id = DirId { dev: st.st_dev, ino: st.st_ino };
        let state = match v.enter(&parent.state, &self.name, rel, &self.path, id) {
            Enter::Walk(s) => s,
            Enter::Skip => {
                parent.troubled = true;
                return None;
            }
        };
        Some(Level {
            fd: Some(Arc::new(fd)),
            dev: st.st_dev,
            ino: st.st_ino,
            path_len: self.path.len(),
            name_at,
            pending: Pending::default(),
            state,
            entries: 0,
            gone: 0,
            troubled: false,
            mtime: st.st_mtime,
        })
    }

    /// Reopens a parent whose descriptor was closed, through `..` of its child, and
    /// checks it is the same directory. If it is not, the tree was moved under us: that
    /// is reported as an error and the walk stops.
    fn reopen_parent<V: Visitor>(&mut self, child: &Level<V::Dir>, parent: &mut Level<V::Dir>, v: &mut V) -> bool {
        let reopened = child
            .fd
            .as_ref()
            .ok_or(Errno::BADF)
            .and_then(|cfd| rustix::fs::openat(&**cfd, c"..", OPEN_DIR, FsMode::empty()))
            .and_then(|fd| rustix::fs::fstat(&fd).map(|st| (fd, st)));
        match reopened {
            Ok((fd, st)) if st.st_dev == parent.dev && st.st_ino == parent.ino => {
                parent.fd = Some(Arc::new(fd));
                true
            }
            other => {
                let err = other.err().unwrap_or(Errno::STALE);
                self.path.truncate(parent.path_len);
                v.error(&self.path, DirTrouble::Changed, err);
                false
            }
        }
    }

    /// Lists one directory: with completion markers, first the markers (whose removals
    /// complete before anything else of the directory is queued), then the rest.
    fn list<V: Visitor<Pending = P>>(&mut self, level: &mut Level<V::Dir>, v: &mut V) {
        if !v.has_markers(&level.state) {
            self.read(level, v, Pass::All);
            return;
        }
        self.read(level, v, Pass::Markers);
        // The markers' outcomes must be known before the rest is queued.
        if let Some(r) = &mut self.remover {
            let rest = r.drain();
            self.deliver(rest, v);
        }
        v.markers_done(&mut level.state);
        if let Some(fd) = &level.fd
            && rustix::fs::seek(&**fd, SeekFrom::Start(0)).is_ok()
        {
            self.read(level, v, Pass::Rest);
        }
    }

    /// Reads one directory: files go to the visitor now, sub-directories wait.
    fn read<V: Visitor<Pending = P>>(&mut self, level: &mut Level<V::Dir>, v: &mut V, pass: Pass) {
        let Some(fd) = level.fd.clone() else { return };
        let mut buf = std::mem::take(&mut self.buf);
        let mut dir = RawDir::new(&*fd, &mut buf);
        let base = level.path_len;
        while let Some(next) = dir.next() {
            if v.stop() {
                break;
            }
            let ent = match next {
                Ok(e) => e,
                // The directory itself was removed meanwhile (by someone else): nothing
                // left to list, and nothing lost.
                Err(Errno::NOENT) => break,
                Err(e) => {
                    self.path.truncate(base);
                    level.troubled = true;
                    v.error(&self.path, DirTrouble::Unreadable, e);
                    break;
                }
            };
            let cname = ent.file_name();
            let name = cname.to_bytes();
            if name == b"." || name == b".." || is_in_flight(name) {
                continue;
            }
            let listed = ent.file_type();
            let marker = pass != Pass::All && listed != FileType::Directory && v.is_marker(&level.state, name);
            match pass {
                Pass::Markers if !marker => continue,
                Pass::Rest if marker => continue,
                _ => {}
            }
            level.entries += 1;
            if listed == FileType::Directory {
                level.pending.push(name, ent.ino());
                continue;
            }
            self.path.truncate(base);
            self.path.push(b'/');
            self.path.extend_from_slice(name);
            let st = if self.opts.stat || listed == FileType::Unknown {
                match rustix::fs::statat(&*fd, cname, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => Some(st),
                    Err(Errno::NOENT) => {
                        level.gone += 1;
                        v.vanished(&self.path);
                        continue;
                    }
                    Err(e) => {
                        level.troubled = true;
                        v.error(&self.path, DirTrouble::Unreadable, e);
                        continue;
                    }
                }
            } else {
                None
            };
            let kind = match &st {
                Some(st) => kind_of(FileType::from_raw_mode(st.st_mode)),
                None => kind_of(listed),
            };
            let Some(kind) = kind else {
                // Listed with an unknown type (or changed into a directory): walk it.
                level.pending.push(name, st.as_ref().map_or(0, |s| s.st_ino));
                continue;
            };
            let entry = entry(&self.path, self.root_len, name, kind, st.as_ref(), level.dev, ent.ino());
            match v.file(&mut level.state, &entry) {
                Decision::Keep => {}
                Decision::WouldRemove => level.gone += 1,
                Decision::Remove(p, check) => {
                    level.gone += 1;
                    let full = match &mut self.remover {
                        None => {
                            v.removed(p, Removal::Planned);
                            false
                        }
                        Some(r) => {
                            self.waiting.push_back(Waiting::File(p));
                            r.push(Op::Unlink(Arc::clone(&fd), cname.to_owned(), check))
                        }
                    };
                    if full {
                        self.flush(v);
                    }
                }
            }
        }
        self.buf = buf;
        self.path.truncate(base);
    }
}

fn entry<'a>(
    path: &'a [u8],
    root_len: usize,
    name: &'a [u8],
    kind: Kind,
    st: Option<&Stat>,
    dev: u64,
    ino: u64,
) -> Entry<'a> {
    let rel = &path[(root_len + 1).min(path.len())..];
    match st {
        Some(st) => Entry {
            path,
            rel,
            name,
            kind,
            size: u64::try_from(st.st_size).unwrap_or(0),
            allocated: u64::try_from(st.st_blocks).unwrap_or(0).saturating_mul(512),
            links: st.st_nlink,
            mtime: st.st_mtime,
            dev: st.st_dev,
            ino: st.st_ino,
        },
        None => Entry { path, rel, name, kind, size: 0, allocated: 0, links: 1, mtime: 0, dev, ino },
    }
}

fn cstring(name: &[u8]) -> std::ffi::CString {
    // Names come from getdents64, which never returns a NUL inside a name.
    std::ffi::CString::new(name).unwrap_or_default()
}

/// The type of a non-directory, or `None` for a directory or an unknown type.
fn kind_of(t: FileType) -> Option<Kind> {
    Some(match t {
        FileType::Directory | FileType::Unknown => return None,
        FileType::RegularFile => Kind::File,
        FileType::Symlink => Kind::Symlink,
        FileType::Fifo => Kind::Fifo,
        FileType::Socket => Kind::Socket,
        FileType::CharacterDevice => Kind::CharDevice,
        FileType::BlockDevice => Kind::BlockDevice,
    })
}

/// The names sweep gives a file for the instant between checking it and unlinking it
/// (see [`remove_checked`]): `.sweep.` + 16 hex digits + `.unlinking`. The walk never
/// hands such a name to the visitor; it exists for microseconds.
fn is_in_flight(name: &[u8]) -> bool {
    name.len() == 33 && name.starts_with(b".sweep.") && name.ends_with(b".unlinking")
}

/// A name for [`is_in_flight`], unique in this process.
fn in_flight_name() -> std::ffi::CString {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = u64::from(std::process::id()) << 40;
    let n = seed ^ NEXT.fetch_add(1, Ordering::Relaxed);
    std::ffi::CString::new(format!(".sweep.{n:016x}.unlinking")).unwrap_or_default()
}

/// Removes `name` from `dir` if the check still holds, with no window in which a file
/// renamed over the name could be deleted instead of the one examined.
///
/// Without a check the name decides, and `unlinkat` is the one syscall. With one, the
/// file is first renamed to a private name (`RENAME_NOREPLACE`): from then on no writer
/// can put anything there. If it is the inode examined, with the same mtime, it is
/// unlinked; if not (a writer replaced it before the rename), it is renamed back, unless
/// a writer has meanwhile put yet another file at the name, which supersedes it.
fn remove_checked(dir: &OwnedFd, name: &std::ffi::CStr, check: Check) -> Removal {
    let Check::Same { ino, mtime } = check else {
        return Removal::of(rustix::fs::unlinkat(dir, name, AtFlags::empty()));
    };
    let private = in_flight_name();
    if let Err(e) = rustix::fs::renameat_with(dir, name, dir, &private, rustix::fs::RenameFlags::NOREPLACE) {
        return Removal::of(Err(e));
    }
    let same = rustix::fs::statat(dir, &private, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| st.st_ino == ino && st.st_mtime == mtime);
    if same {
        return Removal::of(rustix::fs::unlinkat(dir, &private, AtFlags::empty()));
    }
    match rustix::fs::renameat_with(dir, &private, dir, name, rustix::fs::RenameFlags::NOREPLACE) {
        // Back where it was: the file examined is gone; this one is the next run's.
        Ok(()) => Removal::Vanished,
        // A newer file took the name meanwhile: this one was overwritten, as the
        // writer's own rename would have done.
        Err(Errno::EXIST) => {
            let _ = rustix::fs::unlinkat(dir, &private, AtFlags::empty());
            Removal::Vanished
        }
        Err(e) => Removal::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_names_are_recognised_and_unique() {
        let (a, b) = (in_flight_name(), in_flight_name());
        assert_ne!(a, b);
        assert!(is_in_flight(a.to_bytes()), "{a:?}");
        assert!(!is_in_flight(b".sweep.unlinking") && !is_in_flight(b"part-0.csv"));
    }

    #[test]
    fn a_file_replaced_before_its_removal_is_put_back() {
        let d = tempfile::tempdir().unwrap();
        let dir = rustix::fs::open(d.path(), OFlags::RDONLY | OFlags::DIRECTORY, FsMode::empty()).unwrap();
        std::fs::write(d.path().join("f"), b"old").unwrap();
        let st = rustix::fs::statat(&dir, c"f", AtFlags::empty()).unwrap();
        let check = Check::Same { ino: st.st_ino, mtime: st.st_mtime };
        // A writer renames a fresh file over the name.
        std::fs::write(d.path().join("tmp"), b"fresh").unwrap();
        std::fs::rename(d.path().join("tmp"), d.path().join("f")).unwrap();
        assert_eq!(remove_checked(&dir, c"f", check), Removal::Vanished);
        assert_eq!(std::fs::read(d.path().join("f")).unwrap(), b"fresh");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1, "no private name left");
        // The same file, unchanged: removed.
        let st = rustix::fs::statat(&dir, c"f", AtFlags::empty()).unwrap();
        let check = Check::Same { ino: st.st_ino, mtime: st.st_mtime };
        assert_eq!(remove_checked(&dir, c"f", check), Removal::Removed);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[test]
    fn budgets_fit_the_limit() {
        let b = Budget::for_limit(1024);
        assert_eq!((b.window, b.depth, b.fds_per_batch), (64, 4, 32));
        for n in [8, 16, 32, 64, 100, 256] {
            let b = Budget::for_limit(n);
            let used = b.window + (b.depth + 1) * b.fds_per_batch;
            assert!(b.window >= 2 && b.fds_per_batch >= 1, "{n}: {b:?}");
            assert!(used + 8 <= n.max(16), "{n}: {b:?} uses {used}");
        }
    }
}
