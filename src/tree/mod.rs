//! The seam between sweep's decisions and the trees it cleans.
//!
//! A tree lists entries under a root (with their size and time), hands each to a
//! [`Visitor`] that decides, removes what the visitor asks it to, and reports each
//! outcome back. It decides nothing itself. Classification, guards, ownership and
//! reporting are written once, against this trait, for every kind of tree:
//! [`local`] is sweep's fd-relative walk of a directory tree (the only code that deletes
//! local files); [`object`] walks a bucket through the `object_store` crate. [`Root`] is
//! either, opened once.

pub mod local;
pub mod object;
pub mod pace;

use std::io;

use rustix::io::Errno;

/// What a non-directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A symbolic link (never followed).
    Symlink,
    /// A named pipe.
    Fifo,
    /// A socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// Anything else.
    Other,
}

/// A non-directory entry, as the visitor sees it.
#[derive(Debug)]
pub struct Entry<'a> {
    /// Absolute path, for reports (never passed to the kernel).
    pub path: &'a [u8],
    /// The part of `path` below the root, `/`-separated.
    pub rel: &'a [u8],
    /// The last component.
    pub name: &'a [u8],
    /// The entry's type (of the link itself, for a symlink).
    pub kind: Kind,
    /// Size in bytes (`st_size`).
    pub size: u64,
    /// Space it occupies (`st_blocks × 512`).
    pub allocated: u64,
    /// Hard links (`st_nlink`): deleting a file with more than one frees nothing.
    pub links: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Device and inode, to recognise the same file elsewhere (open descriptors).
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

/// The identity of a directory: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DirId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

/// A lakehouse table format, recognised by the directory it keeps its log or metadata
/// in. Its data files are removed by the format's own retention, never by deleting
/// files: a file the log still names would break every reader of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableFormat {
    /// Delta Lake: `_delta_log/`.
    Delta,
    /// Apache Iceberg: `metadata/` holding a `*.metadata.json`.
    Iceberg,
    /// Apache Hudi: `.hoodie/`.
    Hudi,
}

impl TableFormat {
    /// The name in JSON (`delta`, `iceberg`, `hudi`).
    pub fn as_str(self) -> &'static str {
        match self {
            TableFormat::Delta => "delta",
            TableFormat::Iceberg => "iceberg",
            TableFormat::Hudi => "hudi",
        }
    }

    /// The format's name for people.
    pub fn name(self) -> &'static str {
        match self {
            TableFormat::Delta => "Delta Lake",
            TableFormat::Iceberg => "Apache Iceberg",
            TableFormat::Hudi => "Apache Hudi",
        }
    }

    /// What removes a table's old files: the format's own retention.
    pub fn retention(self) -> &'static str {
        match self {
            TableFormat::Delta => "VACUUM",
            TableFormat::Iceberg => "expire_snapshots (and remove_orphan_files)",
            TableFormat::Hudi => "the Hudi cleaner (hoodie.cleaner.policy)",
        }
    }

    /// The directory that marks the format.
    pub fn marker(self) -> &'static str {
        match self {
            TableFormat::Delta => "_delta_log/",
            TableFormat::Iceberg => "metadata/*.metadata.json",
            TableFormat::Hudi => ".hoodie/",
        }
    }
}

/// Why a listed object is not trusted. A listing comes from a service, or from whatever
/// stands between sweep and it: an object it shows that cannot be what was asked for is
/// never removed, and the visitor reports it `unmatched` with this reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Untrusted {
    /// The key is not directly below the prefix that was listed.
    OutsidePrefix,
    /// A `KEY/` object with data: a directory's name holding bytes, beside or instead
    /// of the directory marker it looks like.
    DirectoryWithData,
    /// The key has an empty, `.` or `..` segment (or a control character): it names no
    /// path below the root that sweep could report or address exactly.
    InvalidKey,
}

/// What the walk learnt about a directory when it opened it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirFacts {
    /// Its identity.
    pub id: DirId,
    /// It is a mount point: of another filesystem, or of the same one (a bind mount).
    pub mount: bool,
    /// It holds a lakehouse table's log or metadata directory.
    pub table: Option<TableFormat>,
}

/// A file a plan knows will be in a directory when `apply` reaches it, though it is not
/// there yet: an earlier policy of the run moves it in. Its metadata is the original's
/// (a move keeps size, mtime and, on the same filesystem, the inode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// Its name in the directory.
    pub name: Vec<u8>,
    /// `st_size`.
    pub size: u64,
    /// `st_blocks × 512`.
    pub allocated: u64,
    /// Modification time.
    pub mtime: i64,
    /// Device it will be on.
    pub dev: u64,
    /// Inode it will have (0 when a copy makes a new one).
    pub ino: u64,
}

/// What will arrive in one directory: files, and the names of sub-directories that hold
/// arrivals (which the move creates when they do not exist yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Arrivals {
    /// Files.
    pub files: Vec<Arrival>,
    /// Sub-directory names.
    pub dirs: Vec<Vec<u8>>,
}

/// Which entries one reading of a directory hands to the visitor. Where a policy has
/// completion markers, a directory is read twice, so that its markers are decided (and
/// in `apply` removed) before anything else in it is queued: a reader must never see a
/// marker over a partition that is half deleted. Both trees read directories this way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerPass {
    /// Everything: the directory has no marker pass.
    All,
    /// Only completion markers.
    Markers,
    /// Everything but the markers, which the first pass handed over.
    Rest,
}

impl MarkerPass {
    /// The readings of a directory, in order: with markers, the markers then the rest.
    pub fn order(markers: bool) -> &'static [MarkerPass] {
        if markers { &[MarkerPass::Markers, MarkerPass::Rest] } else { &[MarkerPass::All] }
    }

    /// Whether an entry (a marker, or not) is handed over in this reading.
    pub fn hands(self, marker: bool) -> bool {
        match self {
            MarkerPass::All => true,
            MarkerPass::Markers => marker,
            MarkerPass::Rest => !marker,
        }
    }
}

/// Whether removals are carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing is removed; a removal request reports [`Removal::Planned`].
    Plan,
    /// Removal requests are carried out.
    Apply,
}

/// The result of a removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Plan mode: it would be removed.
    Planned,
    /// It was removed.
    Removed,
    /// It was already gone (or replaced by another file since it was examined, which is
    /// left for the next run): not an error.
    Vanished,
    /// The OS refused.
    Failed(Errno),
    /// A service refused (object storage), with its message.
    Rejected(std::sync::Arc<str>),
    /// Compressed in place: the compressed file's size.
    Compressed(u64),
    /// Moved to the archive.
    Moved,
    /// Plan mode: it would fail, as the filesystem stands now (a compressed name or an
    /// archive destination that exists already).
    WouldFail(Errno),
}

impl Removal {
    /// The outcome of an `unlinkat`.
    pub fn of(r: Result<(), Errno>) -> Removal {
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
    Remove(P, Check),
    /// Compress it in place or move it to the archive; the outcome comes back likewise.
    Transform(P, Transform),
}

/// A lifecycle operation on a file that is kept.
#[derive(Debug, Clone)]
pub enum Transform {
    /// `NAME` becomes `NAME.zst` or `NAME.gz`, with the same mode, owner and mtime.
    Compress {
        /// The format.
        format: crate::policy::Format,
        /// Its level.
        level: u32,
    },
    /// The file moves to the archive root `to`, at `rel` (its path below the policy's
    /// root).
    Move {
        /// The archive's root, opened once.
        to: std::sync::Arc<std::os::fd::OwnedFd>,
        /// The path below it.
        rel: Vec<u8>,
    },
}

/// What must still hold, immediately before the removal, for it to go ahead: the
/// decision depended on the file's own state (its mtime, for `min_age` or
/// `date_from: mtime`), so a file replaced or rewritten since it was examined is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The name decides: remove whatever is there.
    None,
    /// Still the same inode with the same mtime.
    Same {
        /// The inode examined.
        ino: u64,
        /// Its mtime then.
        mtime: i64,
    },
}

/// What the visitor wants done with a directory.
#[derive(Debug)]
pub enum Enter<D> {
    /// Walk it, with this state.
    Walk(D),
    /// Leave it alone (the visitor has reported why); it is never removed, nor is its
    /// parent as emptied.
    Skip,
}

/// Why a directory could not be walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirTrouble {
    /// It could not be opened or read.
    Unreadable,
    /// It changed while sweep was in it (swapped, moved, or turned into a symlink).
    Changed,
}

/// The tag [`Visitor::remove_emptied`] gives a directory that is emptied and counts as
/// gone, but that another runner removes (a directory marker another shard owns).
pub const ELSEWHERE: u32 = u32::MAX;

/// Receives what a walk finds, and decides.
pub trait Visitor {
    /// Per-directory state, computed when entering (e.g. layout match states).
    type Dir;
    /// What the visitor needs to report a removal once its outcome is known.
    type Pending;

    /// State for the root; `table` when the root itself holds a table.
    fn root(&mut self, table: Option<TableFormat>) -> Self::Dir;
    /// Sub-directory `name` (at `rel` below the root) of a directory with state
    /// `parent`: walk it or not. A mount point is walked only if the visitor says so
    /// (after reporting it, it says not).
    fn enter(&mut self, parent: &Self::Dir, name: &[u8], rel: &[u8], path: &[u8], facts: DirFacts) -> Enter<Self::Dir>;
    /// Plan mode: what an earlier policy of the run will have moved into the directory
    /// at `rel` (with state `dir`) by the time `apply` walks it.
    fn arrivals(&mut self, _dir: &Self::Dir, _rel: &[u8]) -> Arrivals {
        Arrivals::default()
    }
    /// Whether this directory's completion markers must go before its other files:
    /// the walk then hands over, first, the entries [`Visitor::is_marker`] names.
    fn has_markers(&self, _dir: &Self::Dir) -> bool {
        false
    }
    /// Whether `name` is a completion marker.
    fn is_marker(&self, _dir: &Self::Dir, _name: &[u8]) -> bool {
        false
    }
    /// The markers of a directory have been handled (removed, or failed, with the
    /// outcomes reported): the visitor can record that in the directory's state.
    fn markers_done(&mut self, _dir: &mut Self::Dir) {}
    /// A non-directory entry: whether it goes.
    fn file(&mut self, dir: &mut Self::Dir, entry: &Entry) -> Decision<Self::Pending>;
    /// The outcome of a [`Decision::Remove`].
    fn removed(&mut self, pending: Self::Pending, result: Removal);
    /// Plan mode: what the visitor knows better about a lifecycle operation the walk
    /// predicted from the filesystem as it stands (a name taken now that an earlier
    /// policy of the run frees first).
    fn foresee(&mut self, _pending: &Self::Pending, predicted: Removal) -> Removal {
        predicted
    }
    /// An entry could not be examined (`path` is absolute).
    fn error(&mut self, path: &[u8], trouble: DirTrouble, err: Errno);
    /// A directory could not be listed by a service (object storage): its message.
    fn service_error(&mut self, path: &[u8], message: &str);
    /// A listed entry was gone before it could be examined (removed by someone else).
    fn vanished(&mut self, _path: &[u8]) {}
    /// Whether a name like one of sweep's own temporaries (at `rel`, in a directory with
    /// state `dir`) lies where the walk's policy acts, so that it may be treated as one
    /// (removed if a killed run left it); if not, it is handed over as any file is.
    fn acts_on_temporary(&mut self, _dir: &Self::Dir, _name: &[u8], _rel: &[u8]) -> bool {
        false
    }
    /// A temporary an interrupted run left (a partial compression or copy, a file
    /// caught between its check and its unlink) was removed — or, in plan mode, would
    /// be.
    fn leftover(&mut self, _path: &[u8], _result: Removal) {}
    /// Whether an emptied directory should be removed: `Some(tag)`, a small tag carried
    /// with the removal to its outcome (e.g. which policy emptied it), or [`ELSEWHERE`]
    /// when it counts as gone but another runner removes it (object storage, `--shard`).
    /// Called for every emptied directory below the root (never for the root), with its
    /// parent's state.
    fn remove_emptied(&mut self, dir: &Self::Dir, parent: &mut Self::Dir) -> Option<u32>;
    /// A directory was (or in plan mode would be) removed, or its removal failed.
    /// `by` is the tag [`Visitor::remove_emptied`] gave it.
    fn dir_removed(&mut self, path: &[u8], by: u32, result: Removal);
    /// Whether a directory that was empty when listed (modified at `mtime`) should be
    /// removed, and its tag: never, unless the visitor knows it for a leftover.
    fn remove_empty(&mut self, _dir: &Self::Dir, _mtime: i64, _parent: &mut Self::Dir) -> Option<u32> {
        None
    }
    /// Checked before every entry: true stops the walk (a signal, a closed stdout).
    fn stop(&self) -> bool;
    /// Object storage: a listed object the walk does not trust (`path` is its URL; `dir`
    /// the state of the directory whose listing showed it). It is never removed.
    fn untrusted(&mut self, _dir: &mut Self::Dir, _path: &[u8], _size: u64, _why: Untrusted) {}
    /// Object storage with an inventory report: whether the directory at `rel` must be
    /// listed live (the plan acts in it or below it) rather than read from the report.
    fn live(&self, _rel: &[u8]) -> bool {
        true
    }
}

/// The OS's message for an error, without Rust's " (os error N)" suffix.
pub fn os_message(e: Errno) -> String {
    let s = io::Error::from_raw_os_error(e.raw_os_error()).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// A policy's root, opened: a local directory or a bucket prefix.
#[derive(Debug)]
pub enum Root {
    /// A directory, opened once.
    Local(local::RootDir),
    /// A bucket and prefix, with its client.
    Object(object::Bucket),
}

/// Where an object walk's listings come from.
#[derive(Debug, Clone, Copy)]
pub enum Listing<'a> {
    /// The service, directory by directory.
    Live,
    /// An inventory report only (the counting walk: nothing is acted on).
    Report(&'a std::sync::Arc<object::Report>),
    /// The report, except the directories the visitor wants live ([`Visitor::live`]) and
    /// those the report does not know.
    Mixed(&'a std::sync::Arc<object::Report>),
}

/// Options of one walk, whatever the tree.
#[derive(Debug, Clone, Copy)]
pub struct WalkOptions<'a> {
    /// Plan or apply.
    pub mode: Mode,
    /// Local: whether files need `fstatat`.
    pub stat: bool,
    /// Local: descriptors.
    pub budget: local::Budget,
    /// Deleting threads (local), deletion batches in flight (object storage).
    pub jobs: usize,
    /// Object storage: where listings come from.
    pub listing: Listing<'a>,
}

impl Root {
    /// Opens the root `path` of a policy (`object` when it is in object storage).
    pub fn open(path: &std::path::Path, object: Option<&crate::policy::object::ObjectRoot>) -> Result<Root, String> {
        match object {
            Some(o) => object::Bucket::open(o).map(Root::Object),
            None => local::RootDir::open(path).map(Root::Local).map_err(|err| match err {
                local::resolve::Refusal::Os(Errno::NOENT) => "root does not exist".to_string(),
                local::resolve::Refusal::Os(Errno::NOTDIR) => "root is not a directory".to_string(),
                local::resolve::Refusal::Os(err) => format!("cannot open root: {}", os_message(err)),
                unsafe_link => format!("root: {unsafe_link}"),
            }),
        }
    }

    /// Its identity (a stand-in for object storage).
    pub fn id(&self) -> DirId {
        match self {
            Root::Local(r) => r.id,
            Root::Object(r) => r.id,
        }
    }

    /// The local root, if it is one.
    pub fn local(&self) -> Option<&local::RootDir> {
        match self {
            Root::Local(r) => Some(r),
            Root::Object(_) => None,
        }
    }

    /// The bucket, if it is one.
    pub fn object(&self) -> Option<&object::Bucket> {
        match self {
            Root::Local(_) => None,
            Root::Object(r) => Some(r),
        }
    }

    /// The filesystem's numbers (local roots only).
    pub fn statvfs(&self) -> Option<rustix::fs::StatVfs> {
        self.local().and_then(|r| r.statvfs().ok())
    }

    /// Walks it.
    pub fn walk<V: Visitor>(
        &self,
        opts: WalkOptions,
        pacer: &pace::Pacer,
        stop: &std::sync::atomic::AtomicUsize,
        v: &mut V,
    ) {
        match self {
            Root::Local(r) => {
                let o = local::LocalWalk { mode: opts.mode, stat: opts.stat, budget: opts.budget, jobs: opts.jobs };
                local::walk(r, o, pacer, stop, v);
            }
            Root::Object(r) => {
                let o = object::ObjectWalk { mode: opts.mode, jobs: opts.jobs, listing: opts.listing };
                object::walk(r, o, pacer, stop, v)
            }
        }
    }
}
