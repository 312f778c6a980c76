//! What a run tells the world: streamed events, per-policy summaries, the run summary.
//!
//! Each output format is one [`Reporter`] (text for people, JSON Lines for machines, a
//! progress bar, metrics); the run feeds events to all of them through [`Fanout`]. A new
//! format is a new file here, not a new branch in the walk.

pub mod json;
pub mod metrics;
pub mod progress;
pub mod text;

use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::action::Action;
use crate::classify::{ReasonText, Verdict};
use crate::exit::Exit;
use crate::policy::Share;

/// A policy is about to run.
#[derive(Debug)]
pub struct PolicyStart<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its root.
    pub root: &'a std::path::Path,
    /// The cutoff, when it could be computed.
    pub cutoff: Option<&'a str>,
    /// Human description: keep, zone, guards.
    pub settings: String,
    /// For `keep: N bd`: the business-day walk back, for people.
    pub business: Option<String>,
}

/// What happened to a file `delete` chose, in `apply`.
#[derive(Debug, Clone, Copy)]
pub enum FileOutcome<'a> {
    /// Deleted.
    Deleted,
    /// Already gone: not an error.
    Vanished,
    /// The OS refused; the message.
    Failed(&'a str),
    /// A guard refused the policy.
    Refused,
}

impl FileOutcome<'_> {
    /// The JSON name.
    pub fn as_str(&self) -> &'static str {
        match self {
            FileOutcome::Deleted => "deleted",
            FileOutcome::Vanished => "vanished",
            FileOutcome::Failed(_) => "failed",
            FileOutcome::Refused => "refused",
        }
    }
}

/// One file, classified (and, in `apply`, acted on).
pub struct FileEvent<'a> {
    /// Absolute path (bytes: names need not be UTF-8).
    pub path: &'a [u8],
    /// Path relative to the root.
    pub rel: &'a [u8],
    /// Size in bytes.
    pub bytes: u64,
    /// The decision.
    pub verdict: &'a Verdict<'a>,
    /// Renders the decision's reason.
    pub reasons: &'a ReasonText,
    /// `apply` only: what happened to a `delete`.
    pub outcome: Option<FileOutcome<'a>>,
}

/// An entry that could not be examined: counted in the `error` bucket.
pub struct ErrorEvent<'a> {
    /// Absolute path.
    pub path: &'a [u8],
    /// Relative to the root (empty for the root itself).
    pub rel: &'a [u8],
    /// The OS message and what it means here.
    pub message: &'a str,
}

/// A directory removed (or that would be) because the run emptied it.
pub struct DirEvent<'a> {
    /// Absolute path.
    pub path: &'a [u8],
    /// `None` on success (or in plan), else the OS message.
    pub error: Option<&'a str>,
    /// Whether it was really removed (apply) or only planned.
    pub dry_run: bool,
}

/// Why a guard refused a policy's deletions.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// `max_delete` or `dangerous_root`.
    pub guard: &'static str,
    /// The sentence for people, with the numbers.
    pub reason: String,
    /// Files the plan would delete.
    pub would_delete: u64,
    /// The guard's limit, where it has one.
    pub limit: Option<u64>,
}

/// The root filesystem's fullness after the run.
#[derive(Debug, Clone)]
pub struct Disk {
    /// Used share, 0–1, as `df` computes it (used / (used + available to users)).
    pub used_ratio: f64,
    /// Bytes used and available to unprivileged users.
    pub used_bytes: u64,
    /// Bytes available.
    pub avail_bytes: u64,
    /// The policy's `disk_fail_above`.
    pub threshold: Option<Share>,
    /// Bytes that would have to go to get below the threshold (0 when below).
    pub excess_bytes: u64,
}

/// Per-bucket numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Buckets(pub [u64; 5]);

impl Buckets {
    /// The number for one bucket.
    pub fn get(&self, a: Action) -> u64 {
        self.0[a.index()]
    }

    /// Adds to one bucket.
    pub fn add(&mut self, a: Action, n: u64) {
        self.0[a.index()] += n;
    }

    /// Sum over buckets.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// One policy's result.
#[derive(Debug, Clone)]
pub struct PolicySummary {
    /// Name.
    pub name: String,
    /// Root as written.
    pub root: PathBuf,
    /// Cutoff, RFC 3339, and as a timestamp.
    pub cutoff: Option<(String, i64)>,
    /// Files per bucket.
    pub files: Buckets,
    /// Bytes per bucket.
    pub bytes: Buckets,
    /// Files deleted, and their bytes.
    pub deleted: u64,
    pub deleted_bytes: u64,
    /// Deletions the OS refused.
    pub failed: u64,
    /// Files already gone when their turn came (listed, then removed by someone else).
    pub vanished: u64,
    /// Directories removed (or, in plan, that would be).
    pub dirs_removed: u64,
    /// Emptied directories the OS refused to remove.
    pub dirs_failed: u64,
    /// Mount points not entered.
    pub mounts_skipped: u64,
    /// A guard's refusal.
    pub refused: Option<Refusal>,
    /// Problems for the whole policy (missing root, read-only filesystem), for people.
    pub problems: Vec<String>,
    /// Whether unmatched files fail this policy.
    pub unmatched_fails: bool,
    /// This policy's exit status.
    pub exit: Exit,
    /// Wall time of the policy.
    pub duration: Duration,
    /// Fullness of the root's filesystem after the run, when it could be read.
    pub disk: Option<Disk>,
}

impl PolicySummary {
    /// An empty summary for `name` at `root`.
    pub fn new(name: &str, root: PathBuf) -> PolicySummary {
        PolicySummary {
            name: name.to_string(),
            root,
            cutoff: None,
            files: Buckets::default(),
            bytes: Buckets::default(),
            deleted: 0,
            deleted_bytes: 0,
            failed: 0,
            vanished: 0,
            dirs_removed: 0,
            dirs_failed: 0,
            mounts_skipped: 0,
            refused: None,
            problems: Vec::new(),
            unmatched_fails: true,
            exit: Exit::Clean,
            duration: Duration::ZERO,
            disk: None,
        }
    }
}

/// The whole run's result.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// `plan` (or `apply --dry-run`).
    pub dry_run: bool,
    /// The exit status.
    pub exit: Exit,
    /// Per policy, in run order.
    pub policies: Vec<PolicySummary>,
    /// When the run started.
    pub started: SystemTime,
}

/// An output of the run. Methods return `io::Error` when the output is gone (a closed
/// pipe): the run then stops.
pub trait Reporter {
    /// A policy starts.
    fn policy_start(&mut self, p: &PolicyStart) -> io::Result<()>;
    /// A file was classified.
    fn file(&mut self, e: &FileEvent) -> io::Result<()>;
    /// An entry could not be examined.
    fn error(&mut self, e: &ErrorEvent) -> io::Result<()>;
    /// A directory was emptied and removed.
    fn dir(&mut self, e: &DirEvent) -> io::Result<()>;
    /// A mount point was not entered.
    fn mount(&mut self, path: &[u8]) -> io::Result<()>;
    /// A policy ended.
    fn policy_end(&mut self, s: &PolicySummary) -> io::Result<()>;
    /// The run ended.
    fn finish(&mut self, s: &RunSummary) -> io::Result<()>;
}

/// Sends every event to several reporters.
pub struct Fanout(pub Vec<Box<dyn Reporter>>);

macro_rules! fan {
    ($self:ident, $m:ident, $($arg:expr),*) => {{
        for r in $self.0.iter_mut() {
            r.$m($($arg),*)?;
        }
        Ok(())
    }};
}

impl Reporter for Fanout {
    fn policy_start(&mut self, p: &PolicyStart) -> io::Result<()> {
        fan!(self, policy_start, p)
    }
    fn file(&mut self, e: &FileEvent) -> io::Result<()> {
        fan!(self, file, e)
    }
    fn error(&mut self, e: &ErrorEvent) -> io::Result<()> {
        fan!(self, error, e)
    }
    fn dir(&mut self, e: &DirEvent) -> io::Result<()> {
        fan!(self, dir, e)
    }
    fn mount(&mut self, path: &[u8]) -> io::Result<()> {
        fan!(self, mount, path)
    }
    fn policy_end(&mut self, s: &PolicySummary) -> io::Result<()> {
        fan!(self, policy_end, s)
    }
    fn finish(&mut self, s: &RunSummary) -> io::Result<()> {
        fan!(self, finish, s)
    }
}

/// Discards everything (the read-only pre-pass that guards need).
pub struct Silent;

impl Reporter for Silent {
    fn policy_start(&mut self, _: &PolicyStart) -> io::Result<()> {
        Ok(())
    }
    fn file(&mut self, _: &FileEvent) -> io::Result<()> {
        Ok(())
    }
    fn error(&mut self, _: &ErrorEvent) -> io::Result<()> {
        Ok(())
    }
    fn dir(&mut self, _: &DirEvent) -> io::Result<()> {
        Ok(())
    }
    fn mount(&mut self, _: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn policy_end(&mut self, _: &PolicySummary) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self, _: &RunSummary) -> io::Result<()> {
        Ok(())
    }
}

/// A path for people: valid UTF-8 as is, with control characters, backslashes and bytes
/// that are not UTF-8 escaped (`\n`, `\\`, `\xff`), so one file is always one line.
pub fn display_path(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let clean = std::str::from_utf8(bytes).ok().filter(|s| !s.chars().any(|c| c.is_control() || c == '\\'));
    if let Some(s) = clean {
        return s.into();
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.into()
}

/// `1.2 MiB`-style sizes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_for_people_are_one_line() {
        assert_eq!(display_path(b"/data/x.csv"), "/data/x.csv");
        assert_eq!(display_path(b"/data/a\nb"), "/data/a\\nb");
        assert_eq!(display_path(b"/data/\xffz"), "/data/\\xffz");
        assert_eq!(display_path("/data/é".as_bytes()), "/data/é");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
