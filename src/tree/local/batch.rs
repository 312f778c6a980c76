//! A batch of one directory's entries, as listed: the walk lists up to [`BATCH`] entries
//! before it stats any of them, so that the `fstatat`s of a batch can be shared between
//! threads ([`super::stat`]). Names are packed in one buffer that is reused, so memory
//! follows the batch, never the directory.

use std::ffi::CStr;

use rustix::fs::FileType;

/// Entries per batch: a 64 KiB `getdents64` buffer holds about 1,500 short names.
pub(super) const BATCH: usize = 1024;

/// What the walk does with a listed entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum What {
    /// A sub-directory: it waits to be walked.
    Dir,
    /// A file that needs `fstatat` (its size and time, or its type).
    Stat,
    /// A file the listing's type is enough for.
    Listed,
    /// One of sweep's own temporaries.
    Ours,
}

/// One listed entry: where its name starts, its inode and type from the listing, and
/// what to do with it.
#[derive(Debug, Clone, Copy)]
struct Listed {
    start: usize,
    ino: u64,
    kind: FileType,
    what: What,
}

/// Up to [`BATCH`] listed entries of one directory.
#[derive(Default)]
pub(super) struct Batch {
    /// Names, each NUL-terminated.
    names: Vec<u8>,
    listed: Vec<Listed>,
    /// The entries that need `fstatat`, by position.
    pub(super) stat_at: Vec<usize>,
}

impl Batch {
    /// Empties it, keeping its memory.
    pub(super) fn clear(&mut self) {
        self.names.clear();
        self.listed.clear();
        self.stat_at.clear();
    }

    /// Entries listed.
    pub(super) fn len(&self) -> usize {
        self.listed.len()
    }

    /// Adds an entry.
    pub(super) fn push(&mut self, name: &CStr, ino: u64, kind: FileType, what: What) {
        if what == What::Stat {
            self.stat_at.push(self.listed.len());
        }
        self.listed.push(Listed { start: self.names.len(), ino, kind, what });
        self.names.extend_from_slice(name.to_bytes_with_nul());
    }

    /// The `at`th entry: name, inode, listed type, what to do.
    pub(super) fn get(&self, at: usize) -> (&CStr, u64, FileType, What) {
        let l = self.listed[at];
        // Names come from getdents64 and are stored with their NUL: this cannot fail.
        let name = CStr::from_bytes_until_nul(&self.names[l.start..]).unwrap_or(c"");
        (name, l.ino, l.kind, l.what)
    }

    /// The names of the entries that need `fstatat`, in order.
    pub(super) fn to_stat(&self) -> Vec<&CStr> {
        self.stat_at.iter().map(|&at| self.get(at).0).collect()
    }
}
