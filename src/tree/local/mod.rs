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
//! Memory: a directory is read once, streaming, a batch of at most 1,024 entries at a
//! time; files are handed to the visitor batch by batch, and only the names of
//! sub-directories wait (per directory being walked, so memory follows the depth and the
//! widest directory, never the number of files).

mod batch;
pub mod open;
mod read;
mod remover;
pub mod resolve;
mod root;
mod stat;
pub mod tier;
mod unlink;

use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use rustix::fs::{Mode as FsMode, OFlags};
use rustix::io::Errno;

use super::{DirFacts, DirId, DirTrouble, Enter, Mode, Removal, TableFormat, Visitor};
use crate::tree::pace::Pacer;
use batch::Batch;
use remover::{Node, Pool};
pub use root::{Budget, RootDir, raise_fd_limit};

/// Options of one walk.
#[derive(Debug, Clone, Copy)]
pub struct LocalWalk {
    /// Plan or apply.
    pub mode: Mode,
    /// Whether files need `fstatat` (size and time). Without it, entries the listing
    /// types are handed over with size 0 and no time: enough for a pre-pass that only
    /// counts names.
    pub stat: bool,
    /// Descriptors.
    pub budget: Budget,
    /// Deleting threads (apply).
    pub jobs: usize,
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

    /// Whether `name` waits here.
    fn contains(&self, name: &[u8]) -> bool {
        let mut start = 0;
        self.items.iter().any(|&(end, _)| {
            let found = &self.bytes[start..end] == name;
            start = end;
            found
        })
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
    /// What the deleting threads count for it.
    node: Arc<Node>,
    /// A mount point (entered because the visitor said so): never removed.
    mount: bool,
    /// Plan mode: a directory that does not exist yet, which a move earlier in the run
    /// creates (no descriptor; its entries are all arrivals).
    planned: bool,
    /// Plan mode: names of sub-directories that do not exist yet but will hold arrivals.
    arriving: Vec<Vec<u8>>,
}

impl<D> Level<D> {
    /// A directory just opened (or, with `fd` `None` in a plan, one to be created).
    #[allow(clippy::too_many_arguments)]
    fn new(fd: Option<OwnedFd>, id: DirId, mtime: i64, path_len: usize, name_at: usize, state: D, mount: bool) -> Self {
        Level {
            planned: fd.is_none(),
            fd: fd.map(Arc::new),
            dev: id.dev,
            ino: id.ino,
            path_len,
            name_at,
            pending: Pending::default(),
            state,
            entries: 0,
            gone: 0,
            troubled: false,
            mtime,
            node: Node::new(),
            mount,
            arriving: Vec::new(),
        }
    }
}

/// A queued removal, waiting for its outcome.
enum Waiting<P> {
    File(P),
    Dir(Vec<u8>, u32),
}

/// Walks the tree under `root`. In apply, removals run on `opts.jobs` threads (and
/// emptied directories' on as many more), paced by `pacer`; a non-zero `stop` (a signal)
/// stops every thread at its next file.
pub fn walk<V: Visitor>(
    root: &RootDir,
    opts: LocalWalk,
    pacer: &Pacer,
    stop: &std::sync::atomic::AtomicUsize,
    v: &mut V,
) {
    use std::os::unix::ffi::OsStrExt;
    let mut path = root.path.as_os_str().as_bytes().to_vec();
    while path.len() > 1 && path.ends_with(b"/") {
        path.pop();
    }
    // A fresh open file description of the same directory: each walk reads it from the
    // start, whatever an earlier walk left its offset at.
    let fd = match rustix::fs::openat(&*root.fd, c".", OPEN_DIR, FsMode::empty()) {
        Ok(fd) => fd,
        Err(e) => {
            v.error(&path, DirTrouble::Unreadable, e);
            return;
        }
    };
    std::thread::scope(|scope| {
        let pool = if opts.mode == Mode::Apply {
            match Pool::start(scope, opts.jobs, opts.budget, pacer, stop) {
                Ok(p) => Some(p),
                Err(e) => {
                    // No thread could be started (RLIMIT_NPROC): say so, touch nothing.
                    v.error(&path, DirTrouble::Unreadable, e);
                    return;
                }
            }
        } else {
            None
        };
        let mut w = Walker {
            opts,
            root_len: path.len(),
            path,
            buf: vec![MaybeUninit::uninit(); 64 * 1024],
            name: Vec::new(),
            pool,
            pacer,
            waiting: HashMap::new(),
            since_check: 0,
            batch: Batch::default(),
            // Walks that only look share their lookups; while deleting, the cores belong
            // to the deleting threads.
            stats: match opts.mode {
                Mode::Plan if opts.stat => stat::Stats::start(scope, opts.jobs.min(cpus()).saturating_sub(1)),
                _ => stat::Stats::default(),
            },
            deferred: Vec::new(),
        };
        let state = v.root(probe_table(&fd));
        let len = w.path.len();
        let mut stack = vec![Level::new(Some(fd), root.id, 0, len, len, state, false)];
        w.list(&mut stack[0], v);
        w.run(&mut stack, v);
        if let Some(pool) = w.pool.take() {
            let rest = pool.finish();
            w.deliver(rest, v);
        }
    });
}

struct Walker<'scope, 'p, P> {
    opts: LocalWalk,
    /// Absolute path of the current directory (or entry), for reports only.
    path: Vec<u8>,
    root_len: usize,
    /// getdents buffer, shared: one directory is read at a time.
    buf: Vec<MaybeUninit<u8>>,
    /// Scratch for the name of the sub-directory being entered.
    name: Vec<u8>,
    /// The deleting threads (apply only).
    pool: Option<Pool<'scope>>,
    /// Paces the removals the walk makes itself (completion markers).
    pacer: &'p Pacer,
    /// Queued removals by id, until their outcomes come back.
    waiting: HashMap<u64, Waiting<P>>,
    /// Removals queued since outcomes were last taken.
    since_check: u32,
    /// The entries being read, reused from batch to batch.
    batch: Batch,
    /// Threads sharing the `fstatat`s of a batch (none but the walk's own, unless the
    /// walk only looks).
    stats: stat::Stats,
    /// Compressions decided in the directory being listed, queued once it is listed.
    deferred: Vec<(remover::Op, P)>,
}

const OPEN_DIR: OFlags =
    OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC).union(OFlags::NOCTTY);

impl<P> Walker<'_, '_, P> {
    fn run<V: Visitor<Pending = P>>(&mut self, stack: &mut Vec<Level<V::Dir>>, v: &mut V) {
        loop {
            if v.stop() {
                return;
            }
            let Some(top) = stack.last_mut() else { return };
            let child = if let Some(ino) = top.pending.pop(&mut self.name) {
                self.open_child(top, ino, v)
            } else if let Some(name) = top.arriving.pop() {
                self.name = name;
                self.planned_child(top, v)
            } else {
                None
            };
            if let Some(child) = child {
                let planned = child.planned;
                stack.push(child);
                let depth = stack.len();
                // A planned directory holds no descriptor, so its parent cannot be
                // reopened through it: while in one, ancestors stay open.
                if depth > self.opts.budget.window && !planned {
                    stack[depth - 1 - self.opts.budget.window].fd = None;
                }
                if let Some(top) = stack.last_mut() {
                    self.list(top, v);
                }
                continue;
            }
            if stack.last().is_some_and(|t| !t.pending.items.is_empty() || !t.arriving.is_empty()) {
                continue;
            }
            // Every entry of the top directory is done: go back up.
            if stack.len() == 1 {
                return;
            }
            let Some(mut done) = stack.pop() else { return };
            let Some(parent) = stack.last_mut() else { return };
            if parent.fd.is_none() && !parent.planned && !self.reopen_parent(&done, parent, v) {
                // The tree was moved while sweep was in it: stop rather than guess.
                return;
            }
            // A mount point is never removed (it could not be: EBUSY), only emptied. A
            // directory that was empty to begin with goes only when the visitor says it
            // is a leftover (say, a skeleton an interrupted run left in an expired
            // partition).
            let clean = !done.troubled && !done.mount && done.dev == parent.dev && done.gone == done.entries;
            let emptied = if !clean {
                None
            } else if done.entries > 0 {
                v.remove_emptied(&done.state, &mut parent.state)
            } else {
                v.remove_empty(&done.state, done.mtime, &mut parent.state)
            };
            if let Some(tag) = emptied {
                // Let go of it first: whoever holds a removed directory last frees it,
                // and may wait for the device doing so (see `remover`).
                done.fd = None;
                parent.gone += 1;
                match (&mut self.pool, &parent.fd) {
                    (Some(_), Some(pfd)) => {
                        let name = cstring(&self.path[done.name_at..done.path_len]);
                        let pfd = Arc::clone(pfd);
                        let id = loop {
                            let Some(pool) = self.pool.as_mut() else { break None };
                            match pool.rmdir(&pfd, &parent.node, &done.node, name.clone()) {
                                Some(id) => break Some(id),
                                // Too many directory removals are not done yet: take
                                // outcomes until one has gone.
                                None => {
                                    let got = pool.wait();
                                    self.deliver(got, v);
                                }
                            }
                        };
                        if let Some(id) = id {
                            self.waiting.insert(id, Waiting::Dir(self.path[..done.path_len].to_vec(), tag));
                        }
                    }
                    _ => v.dir_removed(&self.path[..done.path_len], tag, Removal::Planned),
                }
            } else if done.troubled || done.gone != done.entries {
                parent.troubled |= done.troubled;
            }
            self.path.truncate(parent.path_len);
        }
    }

    /// Hands outcomes to the visitor.
    fn deliver<V: Visitor<Pending = P>>(&mut self, results: Vec<(u64, Removal)>, v: &mut V) {
        for (id, r) in results {
            match self.waiting.remove(&id) {
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
            .and_then(|fd| dir_stat(&fd).map(|st| (fd, st)));
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
        // A mount point: another filesystem, or a bind mount of this one. (Its listed
        // inode is the covered directory's, so the inode check does not apply.)
        let mount = st.mount_root || st.id.dev != parent.dev;
        if !mount && ino != 0 && st.id.ino != ino {
            parent.troubled = true;
            v.error(&self.path, DirTrouble::Changed, Errno::STALE);
            return None;
        }
        let rel = &self.path[(self.root_len + 1).min(self.path.len())..];
        let facts = DirFacts { id: st.id, mount, table: probe_table(&fd) };
        let state = match v.enter(&parent.state, &self.name, rel, &self.path, facts) {
            Enter::Walk(s) => s,
            Enter::Skip => {
                parent.troubled = true;
                return None;
            }
        };
        Some(Level::new(Some(fd), st.id, st.mtime, self.path.len(), name_at, state, mount))
    }

    /// Plan mode: a sub-directory (named in `self.name`) that does not exist yet, which
    /// a move earlier in the run creates to put arrivals in.
    fn planned_child<V: Visitor>(&mut self, parent: &mut Level<V::Dir>, v: &mut V) -> Option<Level<V::Dir>> {
        self.path.truncate(parent.path_len);
        let name_at = self.path.len() + 1;
        self.path.push(b'/');
        self.path.extend_from_slice(&self.name);
        let rel = &self.path[(self.root_len + 1).min(self.path.len())..];
        let id = DirId { dev: parent.dev, ino: 0 };
        let facts = DirFacts { id, mount: false, table: None };
        match v.enter(&parent.state, &self.name, rel, &self.path, facts) {
            Enter::Walk(state) => {
                parent.entries += 1;
                Some(Level::new(None, id, 0, self.path.len(), name_at, state, false))
            }
            Enter::Skip => None,
        }
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
}

/// What the walk needs to know of a directory it opened.
struct DirStat {
    id: DirId,
    mtime: i64,
    /// The kernel says it is the root of a mount (`STATX_ATTR_MOUNT_ROOT`): a bind mount
    /// of the same filesystem is recognised by this, not by its device.
    mount_root: bool,
}

/// `statx` of an open directory (one syscall, as `fstat` was), falling back to `fstat`
/// where `statx` is missing (then only another device tells a mount point).
fn dir_stat(fd: &OwnedFd) -> Result<DirStat, Errno> {
    use rustix::fs::{AtFlags, StatxAttributes, StatxFlags};
    match rustix::fs::statx(fd, c"", AtFlags::EMPTY_PATH, StatxFlags::BASIC_STATS) {
        Ok(st) => Ok(DirStat {
            id: DirId { dev: rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor), ino: st.stx_ino },
            mtime: st.stx_mtime.tv_sec,
            mount_root: st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT)
                && st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT),
        }),
        Err(Errno::NOSYS) => rustix::fs::fstat(fd).map(|st| DirStat {
            id: DirId { dev: st.st_dev, ino: st.st_ino },
            mtime: st.st_mtime,
            mount_root: false,
        }),
        Err(e) => Err(e),
    }
}

/// Whether the directory open as `fd` is a lakehouse table: it holds `_delta_log/`,
/// `.hoodie/`, or `metadata/` with a `*.metadata.json`. Three lookups per directory.
pub fn probe_table(fd: &OwnedFd) -> Option<TableFormat> {
    use rustix::fs::{AtFlags, FileType};
    let is_dir = |name: &std::ffi::CStr| {
        rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
    };
    if is_dir(c"_delta_log") {
        return Some(TableFormat::Delta);
    }
    if is_dir(c".hoodie") {
        return Some(TableFormat::Hudi);
    }
    if is_dir(c"metadata") {
        let meta = rustix::fs::openat(fd, c"metadata", OPEN_DIR, FsMode::empty()).ok()?;
        let mut buf = vec![MaybeUninit::uninit(); 8192];
        let mut dir = rustix::fs::RawDir::new(&meta, &mut buf);
        while let Some(Ok(e)) = dir.next() {
            if e.file_name().to_bytes().ends_with(b".metadata.json") {
                return Some(TableFormat::Iceberg);
            }
        }
    }
    None
}

/// CPUs this process may run on: helpers past that only wait for one.
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cstring(name: &[u8]) -> std::ffi::CString {
    // Names come from getdents64, which never returns a NUL inside a name.
    std::ffi::CString::new(name).unwrap_or_default()
}
