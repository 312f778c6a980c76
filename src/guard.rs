//! Safety guards that look at a whole policy rather than one file: dangerous roots,
//! `max_delete`, and the bookkeeping for `keep_last`. (`exclude` and `min_age` are per
//! file and live in the classifier.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::clock::Period;
use crate::policy::MaxDelete;
use crate::report::Refusal;

/// Directories that hold the system itself. A policy rooted at one of them (or at a path
/// that resolves to one) is refused: a retention policy there is a typo, not a plan.
const DANGEROUS: &[&str] = &[
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/lost+found",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/snap",
    "/srv",
    "/sys",
    "/usr",
    "/var",
    "/usr/bin",
    "/usr/include",
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/usr/libexec",
    "/usr/local",
    "/usr/sbin",
    "/usr/share",
    "/usr/src",
    "/var/backups",
    "/var/cache",
    "/var/lib",
    "/var/mail",
    "/var/opt",
    "/var/spool",
];

/// Why `root` must not be a policy's root, if it must not.
pub fn dangerous_root(root: &Path) -> Option<String> {
    let is_system = |p: &Path| DANGEROUS.iter().any(|d| Path::new(d) == p);
    if is_system(root) {
        return Some(format!("root {} is a system directory; sweep refuses to clean it", root.display()));
    }
    let canonical: PathBuf = std::fs::canonicalize(root).ok()?;
    is_system(&canonical).then(|| {
        format!(
            "root {} resolves to {}, a system directory; sweep refuses to clean it",
            root.display(),
            canonical.display()
        )
    })
}

/// The `max_delete` circuit breaker: a refusal when `would_delete` of `files` is over it.
pub fn max_delete(limit: MaxDelete, would_delete: u64, files: u64) -> Option<Refusal> {
    let allowed = limit.limit(files);
    (would_delete > allowed).then(|| {
        let share = if files == 0 { 0.0 } else { would_delete as f64 * 100.0 / files as f64 };
        Refusal {
            guard: "max_delete",
            reason: format!(
                "would delete {would_delete} of {files} files ({share:.1}%), more than max_delete {limit} \
                 ({allowed} files); nothing of this policy was deleted"
            ),
            would_delete,
            limit: Some(allowed),
        }
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

    #[test]
    fn max_delete_refuses_over_the_limit() {
        assert!(max_delete(MaxDelete::Count(5), 5, 100).is_none());
        let r = max_delete(MaxDelete::Count(5), 6, 100).unwrap();
        assert!(r.reason.contains("would delete 6 of 100 files"), "{}", r.reason);
        assert!(max_delete(MaxDelete::Share(Share(40.0)), 40, 100).is_none());
        assert!(max_delete(MaxDelete::Share(Share(40.0)), 41, 100).is_some());
    }

    #[test]
    fn system_directories_are_dangerous() {
        assert!(dangerous_root(Path::new("/")).is_some());
        assert!(dangerous_root(Path::new("/usr")).is_some());
        assert!(dangerous_root(Path::new("/var/lib")).is_some());
        assert!(dangerous_root(Path::new("/data/ticker")).is_none());
        assert!(dangerous_root(Path::new("/var/log/airflow")).is_none());
    }
}
