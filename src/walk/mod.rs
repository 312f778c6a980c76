//! Traversal of one root through directory file descriptors, and the only code that
//! deletes anything.
//!
//! Every descent is `openat(parent_fd, name, O_DIRECTORY | O_NOFOLLOW)` followed by a
//! check that the directory opened is the one listed (same device and inode), and every
//! deletion is `unlinkat(parent_fd, name)`. No path is ever resolved from the root again
//! after the root itself is opened, so swapping any directory under the root for a
//! symlink — between listing and descending, or between descending and deleting — can
//! make sweep report an error, but never makes it enter or delete anything outside the
//! root (the race behind CVE-2002-0435 and CVE-2022-21658). Path-based walkers such as
//! walkdir (issue #209) and `std::fs::remove_dir_all` on old toolchains do not give this.
//!
//! Depth does not matter: paths are only built for reports, never passed to the kernel,
//! so there is no `PATH_MAX` limit, and at most [`FD_WINDOW`] directory descriptors are
//! open at once. Deeper ancestors are closed and reopened through `..` on the way back
//! up, with the same device/inode check, as fts does. The walk is a loop, not recursion,
//! so a deep tree cannot overflow the stack (CVE-2021-3997).
//!
//! Memory: a directory is read once, streaming; files are handed to the [`Visitor`] as
//! they are read, and only the names of sub-directories wait (per directory being walked,
//! so memory follows the depth and the widest directory, never the number of files).
//!
//! This module decides nothing: the visitor classifies each entry and answers whether it
//! goes; the walk removes it (in `apply`, on the [`remover`] thread) and hands the
//! outcome back. That exchange — entries out, decisions in, outcomes out — is the seam a
//! different kind of tree (an object store) would implement.

mod remover;

use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode as FsMode, OFlags, RawDir, Stat};
use rustix::io::Errno;

use remover::{Op, Remover};

/// Directory descriptors kept open at most; deeper ancestors are reopened via `..`.
pub const FD_WINDOW: usize = 64;

/// Whether removals are carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing is removed; a removal request reports [`Removal::Planned`].
    Plan,
    /// Removal requests unlink.
    Apply,
}

/// What a file under the root is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Other,
}

/// A non-directory entry, as the visitor sees it.
#[derive(Debug)]
pub struct Entry<'a> {
    /// Absolute path, for reports (not for the kernel).
    pub path: &'a [u8],
    /// The part of `path` below the root, `/`-separated.
    pub rel: &'a [u8],
    /// The last component.
    pub name: &'a [u8],
    /// The file's type (of the link itself, for a symlink: links are never followed).
    pub kind: Kind,
    /// Size in bytes (`st_size`).
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
}

/// The result of a removal.
#[derive(Debug)]
pub enum Removal {
    /// Plan mode: it would be removed.
    Planned,
    /// It was removed.
    Removed,
    /// It was already gone: not an error.
    Vanished,
    /// The OS refused.
    Failed(Errno),
}

impl Removal {
    fn of(r: Result<(), Errno>) -> Removal {
        match r {
            Ok(()) => Removal::Removed,
            Err(Errno::NOENT) => Removal::Vanished,
            Err(e) => Removal::Failed(e),
        }
    }
}

/// What the visitor wants done with a file.
#[derive(Debug)]
pub enum Decision<P> {
    /// It stays.
    Keep,
    /// A plan: it would go (the visitor has reported it). Counts for emptied directories.
    WouldRemove,
    /// Remove it; the outcome comes back with `P` through [`Visitor::removed`].
    Remove(P),
}

/// Why a directory could not be walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirTrouble {
    /// It could not be opened or read.
    Unreadable,
    /// It changed while sweep was in it (swapped, moved, or turned into a symlink).
    Changed,
}

/// Receives what the walk finds, and decides.
pub trait Visitor {
    /// Per-directory state, computed when entering (e.g. layout match states).
    type Dir;
    /// What the visitor needs to report a removal once its outcome is known.
    type Pending;

    /// State for the root.
    fn root(&mut self) -> Self::Dir;
    /// State for sub-directory `name` of a directory with state `parent`.
    fn enter(&mut self, parent: &Self::Dir, name: &[u8]) -> Self::Dir;
    /// A non-directory entry: whether it goes.
    fn file(&mut self, dir: &Self::Dir, entry: &Entry) -> Decision<Self::Pending>;
    /// The outcome of a [`Decision::Remove`].
    fn removed(&mut self, pending: Self::Pending, result: Removal);
    /// An entry could not be examined (`path` is absolute).
    fn error(&mut self, path: &[u8], trouble: DirTrouble, err: Errno);
    /// A listed entry was gone before it could be examined (removed by someone else).
    fn vanished(&mut self, path: &[u8]);
    /// A directory on another filesystem that was not entered.
    fn mount(&mut self, path: &[u8]);
    /// Whether an emptied directory should be removed. Called for every emptied
    /// directory below the root (never for the root).
    fn remove_emptied(&mut self) -> bool;
    /// A directory was (or in plan mode would be) removed, or its removal failed.
    fn dir_removed(&mut self, path: &[u8], result: &Removal);
    /// Checked before every entry: true stops the walk (a signal, a closed stdout).
    fn stop(&self) -> bool;
}

/// What stopped a walk from starting.
#[derive(Debug)]
pub struct RootError {
    /// What failed.
    pub err: Errno,
}

/// Options of one walk.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Plan or apply.
    pub mode: Mode,
    /// Do not enter directories on other filesystems.
    pub one_file_system: bool,
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
    /// `None` when closed to stay within [`FD_WINDOW`]. Shared with the remover thread,
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
    /// Something went wrong here: never remove it.
    troubled: bool,
}

/// A queued removal, waiting for its outcome.
enum Waiting<P> {
    File(P),
    Dir(Vec<u8>),
}

/// Walks `root` (resolved once: a root that is a symlink to a directory is fine).
pub fn walk<V: Visitor>(root: &Path, opts: Options, v: &mut V) -> Result<(), RootError> {
    use std::os::unix::ffi::OsStrExt;
    let fd = rustix::fs::open(root, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, FsMode::empty())
        .map_err(|err| RootError { err })?;
    let st = rustix::fs::fstat(&fd).map_err(|err| RootError { err })?;
    let mut w = Walker {
        opts,
        path: root.as_os_str().as_bytes().to_vec(),
        root_len: root.as_os_str().len(),
        buf: vec![MaybeUninit::uninit(); 64 * 1024],
        name: Vec::new(),
        remover: (opts.mode == Mode::Apply).then(Remover::start),
        waiting: VecDeque::new(),
    };
    while w.path.len() > 1 && w.path.ends_with(b"/") {
        w.path.pop();
        w.root_len -= 1;
    }
    let state = v.root();
    let mut stack = vec![Level {
        fd: Some(Arc::new(fd)),
        dev: st.st_dev,
        ino: st.st_ino,
        path_len: w.path.len(),
        name_at: w.path.len(),
        pending: Pending::default(),
        state,
        entries: 0,
        gone: 0,
        troubled: false,
    }];
    w.read(&mut stack[0], v);
    w.run(&mut stack, v);
    if let Some(mut r) = w.remover.take() {
        let rest = r.finish();
        w.deliver(rest, v);
    }
    Ok(())
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

impl<P> Walker<P> {
    fn run<V: Visitor<Pending = P>>(&mut self, stack: &mut Vec<Level<V::Dir>>, v: &mut V) {
        loop {
            if v.stop() {
                return;
            }
            let top = stack.last_mut().expect("the root stays on the stack");
            if let Some(ino) = top.pending.pop(&mut self.name) {
                if let Some(child) = self.open_child(top, ino, v) {
                    stack.push(child);
                    let depth = stack.len();
                    if depth > FD_WINDOW {
                        stack[depth - 1 - FD_WINDOW].fd = None;
                    }
                    let top = stack.last_mut().expect("just pushed");
                    self.read(top, v);
                }
                continue;
            }
            // Every entry of the top directory is done: go back up.
            if stack.len() == 1 {
                return;
            }
            let done = stack.pop().expect("more than the root");
            let parent = stack.last_mut().expect("more than the root");
            if parent.fd.is_none() && !self.reopen_parent(&done, parent, v) {
                // The tree was moved while sweep was in it: stop rather than guess.
                return;
            }
            // A mount point is never removed (it could not be: EBUSY), only emptied.
            let emptied = done.entries > 0 && done.gone == done.entries && !done.troubled && done.dev == parent.dev;
            if emptied && v.remove_emptied() {
                parent.gone += 1;
                let path = &self.path[..done.path_len];
                let full = match &mut self.remover {
                    None => {
                        v.dir_removed(path, &Removal::Planned);
                        false
                    }
                    Some(r) => {
                        let pfd = parent.fd.clone().expect("reopened above");
                        let name = cstring(&self.path[done.name_at..done.path_len]);
                        self.waiting.push_back(Waiting::Dir(path.to_vec()));
                        r.push(Op::Rmdir(pfd, name))
                    }
                };
                if full {
                    self.flush(v);
                }
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
    fn deliver<V: Visitor<Pending = P>>(&mut self, results: Vec<Result<(), Errno>>, v: &mut V) {
        for r in results {
            match self.waiting.pop_front().expect("one waiting entry per queued removal") {
                Waiting::File(p) => v.removed(p, Removal::of(r)),
                Waiting::Dir(path) => match r {
                    // Something was written into it meanwhile, or an entry could not be
                    // deleted (reported on its own): it stays, rightly.
                    Err(Errno::NOTEMPTY | Errno::EXIST) => {}
                    r => v.dir_removed(&path, &Removal::of(r)),
                },
            }
        }
    }

    /// Opens the sub-directory named in `self.name`, checking it is the one listed.
    fn open_child<V: Visitor>(&mut self, parent: &mut Level<V::Dir>, ino: u64, v: &mut V) -> Option<Level<V::Dir>> {
        let pfd = parent.fd.as_ref().expect("the top directory is always open");
        self.path.truncate(parent.path_len);
        let name_at = self.path.len() + 1;
        self.path.push(b'/');
        self.path.extend_from_slice(&self.name);
        let opened = rustix::fs::openat(&**pfd, &self.name[..], OPEN_DIR, FsMode::empty())
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
        let state = v.enter(&parent.state, &self.name);
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
        })
    }

    /// Reopens a parent whose descriptor was closed, through `..` of its child, and
    /// checks it is the same directory. If it is not, the tree was moved under us: that
    /// is reported as an error and the walk stops.
    fn reopen_parent<V: Visitor>(&mut self, child: &Level<V::Dir>, parent: &mut Level<V::Dir>, v: &mut V) -> bool {
        let cfd = child.fd.as_ref().expect("the directory just finished is open");
        let reopened = rustix::fs::openat(&**cfd, c"..", OPEN_DIR, FsMode::empty())
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

    /// Reads one directory: files go to the visitor now, sub-directories wait.
    fn read<V: Visitor<Pending = P>>(&mut self, level: &mut Level<V::Dir>, v: &mut V) {
        let fd = level.fd.clone().expect("a directory being read is open");
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
            if name == b"." || name == b".." {
                continue;
            }
            level.entries += 1;
            if ent.file_type() == FileType::Directory {
                level.pending.push(name, ent.ino());
                continue;
            }
            self.path.truncate(base);
            self.path.push(b'/');
            self.path.extend_from_slice(name);
            let st = match rustix::fs::statat(&*fd, cname, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
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
            };
            let Some(kind) = kind_of(&st) else {
                // Listed with an unknown type (or changed into a directory): walk it.
                level.pending.push(name, st.st_ino);
                continue;
            };
            let entry = Entry {
                path: &self.path,
                rel: &self.path[(self.root_len + 1).min(self.path.len())..],
                name,
                kind,
                size: u64::try_from(st.st_size).unwrap_or(0),
                mtime: st.st_mtime,
            };
            match v.file(&level.state, &entry) {
                Decision::Keep => {}
                Decision::WouldRemove => level.gone += 1,
                Decision::Remove(p) => {
                    level.gone += 1;
                    let full = match &mut self.remover {
                        None => {
                            v.removed(p, Removal::Planned);
                            false
                        }
                        Some(r) => {
                            self.waiting.push_back(Waiting::File(p));
                            r.push(Op::Unlink(Arc::clone(&fd), cname.to_owned()))
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

fn cstring(name: &[u8]) -> std::ffi::CString {
    std::ffi::CString::new(name).expect("directory entry names have no NUL byte")
}

/// The type of a non-directory, or `None` for a directory.
fn kind_of(st: &Stat) -> Option<Kind> {
    Some(match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => return None,
        FileType::RegularFile => Kind::File,
        FileType::Symlink => Kind::Symlink,
        FileType::Fifo => Kind::Fifo,
        FileType::Socket => Kind::Socket,
        FileType::CharacterDevice => Kind::CharDevice,
        FileType::BlockDevice => Kind::BlockDevice,
        FileType::Unknown => Kind::Other,
    })
}

/// The OS's message for an error, without Rust's " (os error N)" suffix.
pub fn os_message(e: Errno) -> String {
    let s = io::Error::from_raw_os_error(e.raw_os_error()).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
