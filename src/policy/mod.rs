//! Validated retention policies: what the rest of sweep works from.
//!
//! `load` reads YAML (the only module that does), merges `defaults`, and checks every
//! value, so that the types below can only hold valid settings: a `Keep` cannot be zero,
//! a root is absolute, a layout is compiled, a time zone exists. An error names the file,
//! line and column.

mod load;
mod spans;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use globset::GlobSet;

use crate::action::Action;
use crate::clock::calendar::Calendar;
use crate::clock::{Keep, Now, Zone};
use crate::layout::Layouts;

pub use load::{load, load_text};

/// Everything read from the `-c` paths.
#[derive(Debug)]
pub struct PolicySet {
    /// Policies in the order read (files in name order, then order within a file).
    pub policies: Vec<Policy>,
    /// Examples from `tests:` keys, verified by `sweep check`.
    pub tests: Vec<PolicyTest>,
    /// The files read.
    pub files: Vec<PathBuf>,
}

/// One retention policy.
#[derive(Debug)]
pub struct Policy {
    /// Unique across all files read.
    pub name: String,
    /// Where it was defined, for messages.
    pub origin: Origin,
    /// Absolute, without `..`; it need not exist until run time.
    pub root: PathBuf,
    /// Compiled layouts; the first that matches wins.
    pub layouts: Layouts,
    /// Retention.
    pub keep: Keep,
    /// Globs relative to the root whose files are never deleted.
    pub exclude: Exclude,
    /// The newest N partitions are kept whatever their age (0: off).
    pub keep_last: u32,
    /// Files modified less than this long before now are protected (zero: off).
    pub min_age: Duration,
    /// Circuit breaker for the number of deletions.
    pub max_delete: Option<MaxDelete>,
    /// Whether unmatched files fail the run.
    pub on_unmatched: OnUnmatched,
    /// Remove directories the run emptied.
    pub remove_empty_dirs: bool,
    /// Do not enter other filesystems under the root.
    pub one_file_system: bool,
    /// Where a file's date comes from.
    pub date_from: DateFrom,
    /// Zone for dates, `keep` and naive `--now`.
    pub zone: Zone,
    /// Business days for `keep: N bd`.
    pub calendar: Calendar,
    /// Disk-pressure alarm threshold.
    pub disk_fail_above: Option<Share>,
}

/// Where a policy or test was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The policy file.
    pub file: PathBuf,
    /// Its line.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// `exclude` globs.
#[derive(Debug, Clone, Default)]
pub struct Exclude {
    set: GlobSet,
    patterns: Vec<String>,
}

impl Exclude {
    /// The first pattern matching `rel` (a path relative to the root), if any.
    pub fn matching(&self, rel: &Path) -> Option<&str> {
        // `matches` allocates; most files match no exclude, and `is_match` does not.
        if self.patterns.is_empty() || !self.set.is_match(rel) {
            return None;
        }
        self.set.matches(rel).first().map(|&i| self.patterns[i].as_str())
    }

    /// True when there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// `max_delete`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxDelete {
    /// At most this many files.
    Count(u64),
    /// At most this share of the policy's files.
    Share(Share),
}

impl MaxDelete {
    /// The largest number of deletions allowed out of `files`.
    pub fn limit(self, files: u64) -> u64 {
        match self {
            MaxDelete::Count(n) => n,
            MaxDelete::Share(s) => (files as f64 * s.0 / 100.0).floor() as u64,
        }
    }
}

impl fmt::Display for MaxDelete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxDelete::Count(n) => write!(f, "{n}"),
            MaxDelete::Share(s) => write!(f, "{s}"),
        }
    }
}

/// A percentage in `[0, 100]`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Share(pub f64);

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// `on_unmatched`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnmatched {
    /// Unmatched files make the run exit 7.
    Fail,
    /// Unmatched files are reported only.
    Warn,
}

/// `date_from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateFrom {
    /// The layout's fields.
    Path,
    /// The file's modification time.
    Mtime,
}

/// One `tests:` item.
#[derive(Debug, Clone)]
pub struct PolicyTest {
    /// Where it was written.
    pub origin: Origin,
    /// The `now` it is evaluated at.
    pub now: Now,
    /// Paths and the action each must get.
    pub expect: Vec<Expectation>,
}

/// One expected decision.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// Absolute path (need not exist).
    pub path: PathBuf,
    /// Expected action.
    pub action: Action,
    /// Line of the expectation.
    pub line: usize,
}

/// An invalid policy file: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The file.
    pub file: PathBuf,
    /// Line and column, when known.
    pub at: Option<(usize, usize)>,
    /// What is wrong, and what to write instead.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((l, c)) => write!(f, "{}:{l}:{c}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Parses a holiday date.
pub(crate) fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| format!("`{s}` is not a date: write YYYY-MM-DD"))
}
