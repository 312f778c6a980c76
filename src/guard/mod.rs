//! Safety guards that look at a whole policy rather than one file: dangerous roots (by
//! identity), `max_delete` (count, share, span, or [`auto`] against the policy's own
//! history), `on_unmatched: refuse`, a clock that went backwards, and the bookkeeping for
//! `keep_last`. (`exclude`, `min_age`,
//! `max_future`, `min_date` and `skip_open` are per file and live in the classifier.)
//!
//! Each guard answers with a [`Refusal`] that the run reports and that makes the policy
//! delete nothing (exit 6); none of them ever deletes more. [`capacity`] is the one
//! whole-policy decision that deletes more, within its own floor; [`forecast`] decides
//! nothing, it says whether the retention asked for can fit at all.

pub mod auto;
pub mod capacity;
pub mod forecast;
pub mod thin;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::bucket::Action;
use crate::clock::Period;
use crate::policy::{MaxDelete, SYSTEM_DIRS};
use crate::tree::DirId;

/// A guard that can refuse a whole policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// The root is a system directory (by name or identity).
    DangerousRoot,
    /// A lakehouse table lies under the root.
    Table,
    /// `skip_open` cannot see every process's open files.
    SkipOpen,
    /// The system clock is behind the previous run.
    Clock,
    /// `on_unmatched: refuse`.
    OnUnmatched,
    /// `max_delete` (a count, a share or a span).
    MaxDelete,
    /// `max_delete: auto`, against the policy's own history.
    MaxDeleteAuto,
}

impl Guard {
    /// Its name in JSON, metrics and text (`refused.guard`).
    pub fn as_str(self) -> &'static str {
        match self {
            Guard::DangerousRoot => "dangerous_root",
            Guard::Table => "table",
            Guard::SkipOpen => "skip_open",
            Guard::Clock => "clock",
            Guard::OnUnmatched => "on_unmatched",
            Guard::MaxDelete => "max_delete",
            Guard::MaxDeleteAuto => "max_delete auto",
        }
    }
}

impl std::fmt::Display for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a guard found: the facts a refusal is worded from (`report` words it).
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// The root is a system directory: why, as [`SystemDirs::refuse`] says it.
    DangerousRoot(String),
    /// A table under the root.
    Table(crate::classify::Table),
    /// This many processes' open files could not be read.
    Blind(u64),
    /// The clock (`now`) is more than a day behind the previous run's start.
    Clock {
        /// Now, RFC 3339.
        now: String,
        /// The previous run's start, RFC 3339.
        previous: String,
    },
    /// This many files are unmatched.
    Unmatched(u64),
    /// More files to delete than `max_delete` (a count or a share) allows.
    Count {
        /// Files to delete.
        delete: u64,
        /// Files of the policy.
        files: u64,
        /// What the limit allows.
        allowed: u64,
        /// The limit as written.
        limit: MaxDelete,
    },
    /// A file to delete is dated before the span `max_delete` allows.
    Span {
        /// The earliest date to delete, RFC 3339.
        first: String,
        /// The start of the span, RFC 3339.
        start: String,
        /// The span.
        span: crate::clock::Keep,
    },
    /// More files or bytes to delete than `max_delete: auto` allows: its factor times the
    /// median of the policy's recent applies.
    Auto {
        /// Files to delete.
        delete: u64,
        /// Their bytes (sum of sizes).
        bytes: u64,
        /// What the history says, and what it allows.
        learned: auto::Learned,
    },
    /// `max_delete: auto` acts as a span (too few applies known, or a history that cannot
    /// be trusted), and a file to delete is dated before it.
    AutoSpan {
        /// The earliest date to delete, RFC 3339.
        first: String,
        /// The start of the span, RFC 3339.
        start: String,
        /// Why `auto` acts as a span.
        why: auto::Why,
    },
}

/// Why a guard refused a policy's deletions.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// What the guard found.
    pub finding: Finding,
    /// Files the plan would delete.
    pub would_delete: u64,
    /// The guard's limit, where it has one.
    pub limit: Option<u64>,
}

impl Refusal {
    /// The guard that refused.
    pub fn guard(&self) -> Guard {
        match self.finding {
            Finding::DangerousRoot(_) => Guard::DangerousRoot,
            Finding::Table(_) => Guard::Table,
            Finding::Blind(_) => Guard::SkipOpen,
            Finding::Clock { .. } => Guard::Clock,
            Finding::Unmatched(_) => Guard::OnUnmatched,
            Finding::Count { .. } | Finding::Span { .. } => Guard::MaxDelete,
            Finding::Auto { .. } | Finding::AutoSpan { .. } => Guard::MaxDeleteAuto,
        }
    }

    /// A stable code for scripts (`refused.code`): the guard, and for `max_delete` which
    /// of its forms.
    pub fn code(&self) -> &'static str {
        match &self.finding {
            Finding::Count { limit: MaxDelete::Share(_), .. } => "max_delete_share",
            Finding::Count { .. } => "max_delete_count",
            Finding::Span { .. } => "max_delete_span",
            Finding::Auto { .. } => "max_delete_auto",
            Finding::AutoSpan { .. } => "max_delete_auto_span",
            _ => self.guard().as_str(),
        }
    }
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
    /// Their bytes (sum of sizes), as `max_delete: auto` weighs them.
    pub bytes: u64,
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
    /// Adds one classified file of `size` bytes, which frees `freed` bytes if it is
    /// deleted.
    pub fn add(&mut self, action: Action, partition: Option<Period>, size: u64, freed: u64) {
        self.files += 1;
        self.unmatched += u64::from(action == Action::Unmatched);
        if action == Action::Delete {
            self.delete += 1;
            self.bytes += size;
            self.freed += freed;
            if let Some(p) = partition {
                self.earliest = Some(self.earliest.map_or(p.start, |e| e.min(p.start)));
            }
        }
    }
}

/// The `max_delete` circuit breaker. `span_start` is the instant before which nothing
/// may be dated (for the span form); `describe` renders an instant.
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
                finding: Finding::Span { first: describe(first), start: describe(start), span },
                would_delete: delete,
                limit: None,
            })
        }
        // Judged against the policy's history, by `auto::refuse`.
        MaxDelete::Auto { .. } => None,
        _ => {
            let allowed = limit.limit(files)?;
            (delete > allowed).then_some(Refusal {
                finding: Finding::Count { delete, files, allowed, limit },
                would_delete: delete,
                limit: Some(allowed),
            })
        }
    }
}

/// `on_unmatched: refuse`: any unmatched file stops the policy's deletions.
pub fn unmatched(unmatched: u64, would_delete: u64) -> Option<Refusal> {
    (unmatched > 0).then_some(Refusal { finding: Finding::Unmatched(unmatched), would_delete, limit: None })
}

/// A lakehouse table under the root: its data files belong to the table's log, and only
/// the format's own retention may remove them (deleting one a snapshot still names
/// breaks every reader of the table). The whole policy is refused; a directory
/// `exclude` of the table lets the rest of it run.
pub fn table(t: &crate::classify::Table, would_delete: u64) -> Refusal {
    Refusal { finding: Finding::Table(t.clone()), would_delete, limit: None }
}

/// `skip_open` cannot judge: the open files of `n` processes could not be read (another
/// user's `/proc/PID/fd` needs `CAP_SYS_PTRACE`), and a file one of them holds open would
/// be deleted under it as if it were closed.
pub fn blind(n: u64) -> Refusal {
    Refusal { finding: Finding::Blind(n), would_delete: 0, limit: None }
}

/// A root that is a system directory: why.
pub fn dangerous(why: String) -> Refusal {
    Refusal { finding: Finding::DangerousRoot(why), would_delete: 0, limit: None }
}

/// A system clock more than a day behind the previous run's start (read from the
/// metrics file) is not to be trusted with deletions.
pub fn clock(now: i64, previous_start: Option<i64>, describe: impl Fn(i64) -> String) -> Option<Refusal> {
    let prev = previous_start?;
    (now < prev.saturating_sub(86400)).then(|| Refusal {
        finding: Finding::Clock { now: describe(now), previous: describe(prev) },
        would_delete: 0,
        limit: None,
    })
}

/// Tracks the newest `n` partitions seen, and how many deletable files (and bytes) each
/// holds, in memory bounded by `n`.
#[derive(Debug)]
pub struct Newest {
    n: usize,
    partitions: BTreeMap<Period, (u64, u64)>,
}

impl Newest {
    /// Keeps the newest `n`.
    pub fn new(n: u32) -> Newest {
        Newest { n: n as usize, partitions: BTreeMap::new() }
    }

    /// Notes a file of partition `p` and `size` bytes; `deletable` when it would be
    /// deleted without `keep_last`.
    pub fn observe(&mut self, p: Period, deletable: bool, size: u64) {
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
        if deletable {
            let held = self.partitions.entry(p).or_default();
            held.0 += 1;
            held.1 += size;
        } else {
            self.partitions.entry(p).or_default();
        }
    }

    /// The protected partitions, and how many deletable files (and their bytes) they hold.
    pub fn finish(self) -> (BTreeSet<Period>, (u64, u64)) {
        let held = self.partitions.values().fold((0, 0), |(f, b), (hf, hb)| (f + hf, b + hb));
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
            n.observe(p(s), d, 7);
        }
        let (set, held) = n.finish();
        assert_eq!(set.into_iter().collect::<Vec<_>>(), vec![p(30), p(40)]);
        assert_eq!(held, (1, 7));
    }

    fn plan(delete: u64, files: u64, earliest: Option<i64>) -> Planned {
        Planned { delete, bytes: 0, files, earliest, unmatched: 0, freed: 0 }
    }

    #[test]
    fn max_delete_refuses_over_the_limit() {
        let show = |t: i64| t.to_string();
        assert!(max_delete(MaxDelete::Count(5), &plan(5, 100, None), None, show).is_none());
        let r = max_delete(MaxDelete::Count(5), &plan(6, 100, None), None, show).unwrap();
        assert_eq!((r.code(), r.limit), ("max_delete_count", Some(5)));
        assert!(max_delete(MaxDelete::Share(Share(40.0)), &plan(40, 100, None), None, show).is_none());
        assert!(max_delete(MaxDelete::Share(Share(40.0)), &plan(41, 100, None), None, show).is_some());
        let span = MaxDelete::Span(Keep::parse("1d").unwrap());
        assert!(max_delete(span, &plan(9, 9, Some(100)), Some(100), show).is_none());
        let r = max_delete(span, &plan(9, 9, Some(99)), Some(100), show).unwrap();
        assert_eq!(
            r.finding,
            Finding::Span { first: "99".into(), start: "100".into(), span: Keep::parse("1d").unwrap() }
        );
        assert_eq!(r.code(), "max_delete_span");
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
