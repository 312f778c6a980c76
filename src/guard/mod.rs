//! Safety guards that look at a whole policy rather than one file: dangerous roots (by
//! identity), `max_delete` (count, share or span), `on_unmatched: refuse`, a clock that
//! went backwards, and the bookkeeping for `keep_last`. (`exclude`, `min_age`,
//! `max_future`, `min_date` and `skip_open` are per file and live in the classifier.)
//!
//! Each guard answers with a [`Refusal`] that the run reports and that makes the policy
//! delete nothing (exit 6); none of them ever deletes more. [`capacity`] is the one
//! whole-policy decision that deletes more, within its own floor.

pub mod capacity;
pub mod thin;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::bucket::Action;
use crate::clock::Period;
use crate::policy::{MaxDelete, SYSTEM_DIRS};
use crate::tree::DirId;

/// Why a guard refused a policy's deletions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The guard: `max_delete`, `dangerous_root`, `on_unmatched` or `clock`.
    pub guard: &'static str,
    /// The sentence for people, with the numbers.
    pub reason: String,
    /// Files the plan would delete.
    pub would_delete: u64,
    /// The guard's limit, where it has one.
    pub limit: Option<u64>,
}

/// The system directories of this machine, by name and by identity (device and inode),
/// read once per run. Comparing identities is what `rm --preserve-root` does ("same as
/// '/'"): a bind mount of `/` or `/etc` under a harmless path is the directory itself.
#[derive(Debug, Default)]
pub struct SystemDirs {
    ids: BTreeMap<DirId, &'static str>,
}

impl SystemDirs {
    /// Stats every system directory that exists here.
    pub fn read() -> SystemDirs {
        let mut ids = BTreeMap::new();
        for d in SYSTEM_DIRS {
            if let Ok(m) = std::fs::metadata(d) {
                ids.entry(DirId { dev: m.dev(), ino: m.ino() }).or_insert(*d);
            }
        }
        SystemDirs { ids }
    }

    /// Why `root` (opened, with identity `id` and the path the kernel resolved, when
    /// known) must not be a policy's root, if it must not.
    pub fn refuse(&self, root: &Path, id: Option<DirId>, resolved: Option<&Path>) -> Option<String> {
        if let Some(d) = SYSTEM_DIRS.iter().find(|d| Path::new(d) == root) {
            return Some(format!("root {} is the system directory {d}; sweep refuses to clean it", root.display()));
        }
        let same = id.and_then(|id| self.ids.get(&id))?;
        let how = match resolved {
            Some(r) if r != root => format!("resolves to {}", r.display()),
            _ => "is a bind mount or link".to_string(),
        };
        Some(format!(
            "root {} {how}, the same directory as {same} (same device and inode); sweep refuses to clean it",
            root.display()
        ))
    }
}

/// What the whole-policy guards weigh: the deletions a plan holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Planned {
    /// Files to delete.
    pub delete: u64,
    /// Files of the policy in all.
    pub files: u64,
    /// The earliest period start among files to delete.
    pub earliest: Option<i64>,
    /// Unmatched files.
    pub unmatched: u64,
    /// What the files to delete free on disk (`st_blocks × 512` of those with one link),
    /// when the walk looked at sizes.
    pub freed: u64,
}

impl Planned {
    /// Adds one classified file, which frees `freed` bytes if it is deleted.
    pub fn add(&mut self, action: Action, partition: Option<Period>, freed: u64) {
        self.files += 1;
        self.unmatched += u64::from(action == Action::Unmatched);
        if action == Action::Delete {
            self.delete += 1;
            self.freed += freed;
            if let Some(p) = partition {
                self.earliest = Some(self.earliest.map_or(p.start, |e| e.min(p.start)));
            }
        }
    }
}

/// The `max_delete` circuit breaker. `span_start` is the instant before which nothing
/// may be dated (for the span form); `describe` renders an instant for the message.
pub fn max_delete(
    limit: MaxDelete,
    plan: &Planned,
    span_start: Option<i64>,
    describe: impl Fn(i64) -> String,
) -> Option<Refusal> {
    let Planned { delete, files, earliest, .. } = *plan;
    match limit {
        MaxDelete::Span(span) => {
            let start = span_start?;
            let first = earliest.filter(|e| *e < start)?;
            Some(Refusal {
                guard: "max_delete",
                reason: format!(
                    "would delete files dated from {}, before {} (max_delete {span} back from the cutoff); \
                     a clock or retention mistake? nothing of this policy was deleted",
                    describe(first),
                    describe(start)
                ),
                would_delete: delete,
                limit: None,
            })
        }
        _ => {
            let allowed = limit.limit(files)?;
            (delete > allowed).then(|| {
                let share = if files == 0 { 0.0 } else { delete as f64 * 100.0 / files as f64 };
                Refusal {
                    guard: "max_delete",
                    reason: format!(
                        "would delete {delete} of {files} files ({share:.1}%), more than max_delete {limit} \
                         ({allowed} files); nothing of this policy was deleted"
                    ),
                    would_delete: delete,
                    limit: Some(allowed),
                }
            })
        }
    }
}

/// `on_unmatched: refuse`: any unmatched file stops the policy's deletions.
pub fn unmatched(unmatched: u64, would_delete: u64) -> Option<Refusal> {
    (unmatched > 0).then(|| Refusal {
        guard: "on_unmatched",
        reason: format!(
            "{unmatched} unmatched files under the root and on_unmatched: refuse; nothing of this policy was deleted"
        ),
        would_delete,
        limit: None,
    })
}

/// A lakehouse table under the root: its data files belong to the table's log, and only
/// the format's own retention may remove them (deleting one a snapshot still names
/// breaks every reader of the table). The whole policy is refused; a directory
/// `exclude` of the table lets the rest of it run.
pub fn table(t: &crate::classify::Table, would_delete: u64) -> Refusal {
    Refusal {
        guard: "table",
        reason: format!(
            "{} is a {} table ({}); its files are removed by {}, never by deleting files: sweep touches nothing below it; \
             exclude it (a directory exclude) to clean the rest of the root; nothing of this policy was deleted",
            t.path,
            t.format.name(),
            t.format.marker(),
            t.format.retention()
        ),
        would_delete,
        limit: None,
    }
}

/// `skip_open` cannot judge: the open files of `n` processes could not be read (another
/// user's `/proc/PID/fd` needs `CAP_SYS_PTRACE`), and a file one of them holds open would
/// be deleted under it as if it were closed.
pub fn blind(n: u64) -> Refusal {
    Refusal {
        guard: "skip_open",
        reason: format!(
            "cannot see which files {n} {} hold open (reading another user's /proc/PID/fd and maps needs CAP_SYS_PTRACE): \
             skip_open cannot judge; give sweep CAP_SYS_PTRACE (the shipped unit does), or set skip_open: false; \
             nothing of this policy was deleted",
            if n == 1 { "process" } else { "processes" }
        ),
        would_delete: 0,
        limit: None,
    }
}

/// A system clock more than a day behind the previous run's start (read from the
/// metrics file) is not to be trusted with deletions.
pub fn clock(now: i64, previous_start: Option<i64>, describe: impl Fn(i64) -> String) -> Option<Refusal> {
    let prev = previous_start?;
    (now < prev.saturating_sub(86400)).then(|| Refusal {
        guard: "clock",
        reason: format!(
            "the clock says {}, more than a day before the previous run started ({}); fix the clock or pass --now",
            describe(now),
            describe(prev)
        ),
        would_delete: 0,
        limit: None,
    })
}

/// Tracks the newest `n` partitions seen, and how many deletable files each holds, in
/// memory bounded by `n`.
#[derive(Debug)]
pub struct Newest {
    n: usize,
    partitions: BTreeMap<Period, u64>,
}

impl Newest {
    /// Keeps the newest `n`.
    pub fn new(n: u32) -> Newest {
        Newest { n: n as usize, partitions: BTreeMap::new() }
    }

    /// Notes a file of partition `p`; `deletable` when it would be deleted without
    /// `keep_last`.
    pub fn observe(&mut self, p: Period, deletable: bool) {
        if self.n == 0 {
            return;
        }
        if self.partitions.len() == self.n && !self.partitions.contains_key(&p) {
            match self.partitions.first_key_value() {
                Some((oldest, _)) if *oldest < p => {
                    self.partitions.pop_first();
                }
                _ => return,
            }
        }
        *self.partitions.entry(p).or_default() += u64::from(deletable);
    }

    /// The protected partitions, and how many deletable files they hold.
    pub fn finish(self) -> (BTreeSet<Period>, u64) {
        let held = self.partitions.values().sum();
        (self.partitions.into_keys().collect(), held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Keep;
    use crate::policy::Share;

    fn p(start: i64) -> Period {
        Period { start, end: start + 10 }
    }

    #[test]
    fn newest_keeps_the_latest_partitions() {
        let mut n = Newest::new(2);
        for (s, d) in [(30, true), (10, true), (20, true), (20, true), (40, false), (10, true)] {
            n.observe(p(s), d);
        }
        let (set, held) = n.finish();
        assert_eq!(set.into_iter().collect::<Vec<_>>(), vec![p(30), p(40)]);
        assert_eq!(held, 1);
    }

    fn plan(delete: u64, files: u64, earliest: Option<i64>) -> Planned {
        Planned { delete, files, earliest, unmatched: 0, freed: 0 }
    }

    #[test]
    fn max_delete_refuses_over_the_limit() {
        let show = |t: i64| t.to_string();
        assert!(max_delete(MaxDelete::Count(5), &plan(5, 100, None), None, show).is_none());
        let r = max_delete(MaxDelete::Count(5), &plan(6, 100, None), None, show).unwrap();
        assert!(r.reason.contains("would delete 6 of 100 files"), "{}", r.reason);
        assert!(max_delete(MaxDelete::Share(Share(40.0)), &plan(40, 100, None), None, show).is_none());
        assert!(max_delete(MaxDelete::Share(Share(40.0)), &plan(41, 100, None), None, show).is_some());
        let span = MaxDelete::Span(Keep::parse("1d").unwrap());
        assert!(max_delete(span, &plan(9, 9, Some(100)), Some(100), show).is_none());
        let r = max_delete(span, &plan(9, 9, Some(99)), Some(100), show).unwrap();
        assert!(r.reason.contains("dated from 99, before 100"), "{}", r.reason);
    }

    #[test]
    fn system_directories_are_dangerous_by_name_and_identity() {
        let sys = SystemDirs::read();
        assert!(sys.refuse(Path::new("/"), None, None).is_some());
        assert!(sys.refuse(Path::new("/var/lib"), None, None).is_some());
        assert!(sys.refuse(Path::new("/data/ticker"), None, None).is_none());
        let m = std::fs::metadata("/etc").unwrap();
        let r = sys.refuse(Path::new("/data/x"), Some(DirId { dev: m.dev(), ino: m.ino() }), None).unwrap();
        assert!(r.contains("same directory as /etc"), "{r}");
    }

    #[test]
    fn a_clock_behind_the_last_run_refuses() {
        let show = |t: i64| t.to_string();
        assert!(clock(1000, None, show).is_none());
        assert!(clock(1000, Some(1000 + 86400), show).is_none());
        assert!(clock(1000, Some(1001 + 86400), show).is_some());
    }
}
