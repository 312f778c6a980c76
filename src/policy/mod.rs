//! Validated retention policies: what the rest of sweep works from.
//!
//! [`load`] reads the files ([`yaml`] is the only YAML reader), merges `defaults`, and
//! checks every value against the key table in [`keys`], reporting every problem of a
//! file at once, each with its file, line, column and key. The types below can only hold
//! valid settings: a `Keep` cannot be zero, a root is absolute, a layout is compiled, a
//! time zone exists. [`set`] decides which policy owns a path when roots nest or are
//! shared.

mod build;
mod context;
mod globs;
pub mod keys;
mod load;
pub mod object;
pub mod schema;
pub mod set;
pub mod value;
pub mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{Datelike, NaiveDate};
use globset::GlobSet;

use crate::bucket::Action;
use crate::clock::calendar::Calendar;
use crate::clock::{Keep, Now, Zone};
use crate::layout::Layouts;

pub use load::{load, load_text};
pub use set::PolicySet;

/// One retention policy.
#[derive(Debug)]
pub struct Policy {
    /// Unique across all files read.
    pub name: String,
    /// Where it was defined, for messages.
    pub origin: Origin,
    /// Absolute, without `..`; it need not exist until run time. An object storage root
    /// is kept as its URL (`s3://bucket/prefix`), which behaves as a path.
    pub root: PathBuf,
    /// The bucket and prefix, when the root is in object storage.
    pub object: Option<object::ObjectRoot>,
    /// Compiled layouts; the first that matches wins.
    pub layouts: Layouts,
    /// Retention.
    pub keep: Keep,
    /// Globs relative to the root whose files (or directories, with everything below)
    /// are never deleted.
    pub exclude: Globs,
    /// File-name globs of completion markers, deleted first in each directory.
    pub markers: Globs,
    /// The newest N partitions are kept whatever their age (0: off).
    pub keep_last: u32,
    /// Files modified less than this long before now are protected (zero: off).
    pub min_age: Duration,
    /// Circuit breaker for the number of deletions.
    pub max_delete: Option<MaxDelete>,
    /// Files dated (period start) later than now plus this are unmatched.
    pub max_future: Duration,
    /// Dates read from names before this day are unmatched (`date_from: path` only).
    pub min_date: NaiveDate,
    /// What unmatched files do to the run.
    pub on_unmatched: OnUnmatched,
    /// Regular files that a process holds open are protected.
    pub skip_open: bool,
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
    /// Space and size targets that delete the oldest kept partitions.
    pub capacity: Capacity,
    /// The newest partition must have ended within this long before now.
    pub expect_fresh: Option<Duration>,
    /// Deletions are paced to this rate.
    pub max_rate: Option<value::Rate>,
    /// Thinning, compression and archiving.
    pub tiers: Tiers,
    /// Object roots: an inventory report to plan from, a lease to hold.
    pub at_scale: object::AtScale,
}

/// The lifecycle before deletion: thinning of expired partitions, compression and
/// archiving of kept ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tiers {
    /// `keep_daily`, `keep_weekly`, `keep_monthly`, `keep_yearly`.
    pub thin: Thin,
    /// `compress`.
    pub compress: Option<Compress>,
    /// `archive`.
    pub archive: Option<Archive>,
}

/// Thinning counts (restic's rule); 0 turns a rule off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Thin {
    /// `keep_daily`.
    pub daily: u32,
    /// `keep_weekly`.
    pub weekly: u32,
    /// `keep_monthly`.
    pub monthly: u32,
    /// `keep_yearly`.
    pub yearly: u32,
}

impl Thin {
    /// Whether any rule is set.
    pub fn any(&self) -> bool {
        self.daily + self.weekly + self.monthly + self.yearly > 0
    }
}

/// The rule that kept a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `keep_daily`.
    Daily,
    /// `keep_weekly`.
    Weekly,
    /// `keep_monthly`.
    Monthly,
    /// `keep_yearly`.
    Yearly,
}

impl Rule {
    /// The word for reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Daily => "daily",
            Rule::Weekly => "weekly",
            Rule::Monthly => "monthly",
            Rule::Yearly => "yearly",
        }
    }

    /// The bucket a day falls in, as a label: `2024-07-05`, `2024-W27`, `2024-07`, `2024`.
    pub fn bucket(self, d: NaiveDate) -> String {
        match self {
            Rule::Daily => d.format("%Y-%m-%d").to_string(),
            Rule::Weekly => {
                let w = d.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Rule::Monthly => d.format("%Y-%m").to_string(),
            Rule::Yearly => format!("{}", d.year()),
        }
    }
}

/// `compress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compress {
    /// Compress files older than the cutoff this would give.
    pub after: Keep,
    /// zstd or gzip.
    pub format: Format,
    /// Compression level.
    pub level: u32,
}

/// A compression format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `NAME.zst`.
    Zstd,
    /// `NAME.gz`.
    Gzip,
}

impl Format {
    /// The suffix it adds.
    pub fn suffix(self) -> &'static str {
        match self {
            Format::Zstd => ".zst",
            Format::Gzip => ".gz",
        }
    }
}

/// Names that are compressed already, by their suffix.
pub const COMPRESSED: &[&str] = &[".gz", ".zst", ".xz", ".bz2", ".lz4"];

/// `archive`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    /// Move files dated before the cutoff this would give.
    pub after: Keep,
    /// The archive's root.
    pub to: PathBuf,
}

/// Capacity targets: after the age plan, while one is not met, the oldest kept
/// partitions outside `keep_min` go, one whole partition at a time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// Free space wanted on the root's filesystem after the run.
    pub min_free: Option<value::Amount>,
    /// Free inodes wanted on the root's filesystem after the run.
    pub min_free_inodes: Option<value::Amount>,
    /// The most the policy's own files may hold (sum of `st_size`).
    pub max_bytes: Option<u64>,
    /// Capacity never deletes a partition inside this window.
    pub keep_min: Keep,
}

impl Capacity {
    /// Whether any target is set.
    pub fn any(&self) -> bool {
        self.min_free.is_some() || self.min_free_inodes.is_some() || self.max_bytes.is_some()
    }
}

/// Directories that hold the system itself. A policy rooted at one of them (or at a path
/// that resolves to one, or at a bind mount of one) is refused: a retention policy there
/// is a typo, not a plan.
pub const SYSTEM_DIRS: &[&str] = &[
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

/// Whether `path` names a system directory (by name only: for validating a policy file,
/// where nothing need exist yet).
pub fn is_system_dir(path: &Path) -> bool {
    SYSTEM_DIRS.iter().any(|d| Path::new(d) == path)
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

/// A list of globs, matched as a set; the first pattern that matches is named in reasons.
#[derive(Debug, Clone, Default)]
pub struct Globs {
    set: GlobSet,
    patterns: Vec<String>,
}

impl Globs {
    /// The first pattern matching `path`, if any.
    pub fn matching(&self, path: &Path) -> Option<&str> {
        // `matches` allocates; most files match no pattern, and `is_match` does not.
        if self.patterns.is_empty() || !self.set.is_match(path) {
            return None;
        }
        self.set.matches(path).first().map(|&i| self.patterns[i].as_str())
    }

    /// True when there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The patterns as written.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// `max_delete`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxDelete {
    /// At most this many files.
    Count(u64),
    /// At most this share of the policy's files.
    Share(Share),
    /// Nothing dated (period start) before the cutoff minus this many units.
    Span(Keep),
    /// Adaptive: at most `factor` times the median files or bytes of the policy's recent
    /// applies that deleted something; the span `2d` until three are known (`guard::auto`
    /// decides, from the history the state directory keeps).
    Auto {
        /// How many times the median a run may delete.
        factor: Factor,
    },
}

/// The factor of `max_delete: auto(Nx)`: a whole number from 2 to 100. 1 would refuse
/// every night that deletes a little more than the median, so it is not a factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Factor(u32);

impl Factor {
    /// `auto` alone: three times the median.
    pub const DEFAULT: Factor = Factor(3);
    /// The smallest factor accepted.
    pub const MIN: u32 = 2;
    /// The largest factor accepted: beyond it the breaker no longer breaks anything.
    pub const MAX: u32 = 100;

    /// The factor `n`, when it is one.
    pub fn new(n: u32) -> Option<Factor> {
        (Factor::MIN..=Factor::MAX).contains(&n).then_some(Factor(n))
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl MaxDelete {
    /// The largest number of deletions allowed out of `files`, for the count forms.
    pub fn limit(self, files: u64) -> Option<u64> {
        match self {
            MaxDelete::Count(n) => Some(n),
            MaxDelete::Share(s) => Some((files as f64 * s.0 / 100.0).floor() as u64),
            MaxDelete::Span(_) | MaxDelete::Auto { .. } => None,
        }
    }
}

impl fmt::Display for MaxDelete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxDelete::Count(n) => write!(f, "{n}"),
            MaxDelete::Share(s) => write!(f, "{s}"),
            MaxDelete::Span(k) => write!(f, "{k}"),
            MaxDelete::Auto { factor } if *factor == Factor::DEFAULT => f.write_str("auto"),
            MaxDelete::Auto { factor } => write!(f, "auto({}x)", factor.0),
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
    /// Unmatched files make the run exit 7; matched files are still deleted.
    Fail,
    /// Unmatched files are reported only.
    Warn,
    /// Unmatched files refuse the whole policy (nothing deleted, exit 6).
    Refuse,
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
    /// Where the path is written.
    pub at: yaml::Mark,
    /// Its key path (`tests[0].expect["/data/x"]`).
    pub key: String,
}

/// What kind of problem a policy file has: a stable code for scripts (`code` on each
/// `check --format json` problem line), documented in docs/output.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The file or directory cannot be read, is not a regular file, or is too large.
    Unreadable,
    /// As root: a policy file (or directory) another user owns or can write.
    UnsafeFile,
    /// Not valid YAML, or over the parser's limits.
    Syntax,
    /// A key written twice in one mapping.
    DuplicateKey,
    /// A key sweep does not know.
    UnknownKey,
    /// A required key is missing.
    MissingKey,
    /// A mapping, list or plain value where another is expected (a quoted number).
    WrongType,
    /// A value that is not one of the accepted forms.
    BadValue,
    /// A duration, size, share or span that is not a whole number with a known unit.
    BadUnit,
    /// A layout that does not compile, or does not fit `date_from`.
    BadLayout,
    /// A glob that does not compile or climbs out of the root.
    BadGlob,
    /// A list longer than its limit.
    TooMany,
    /// Two policies with one name.
    DuplicateName,
    /// A `version` this sweep does not read.
    UnsupportedVersion,
    /// A key that may be set only in each policy, set in `defaults`.
    NotInDefaults,
    /// No policy at all.
    NoPolicies,
    /// Settings that contradict each other (a tier after expiry, an archive inside its
    /// root, a marker that is also excluded, a capacity target without `keep_min`).
    Conflict,
    /// A system directory as a root or an archive.
    DangerousRoot,
    /// A `tests:` case whose expectation does not hold.
    TestFailed,
}

impl Code {
    /// The code as written in JSON: `unknown_key`, `bad_unit`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unreadable => "unreadable",
            Code::UnsafeFile => "unsafe_file",
            Code::Syntax => "syntax",
            Code::DuplicateKey => "duplicate_key",
            Code::UnknownKey => "unknown_key",
            Code::MissingKey => "missing_key",
            Code::WrongType => "wrong_type",
            Code::BadValue => "bad_value",
            Code::BadUnit => "bad_unit",
            Code::BadLayout => "bad_layout",
            Code::BadGlob => "bad_glob",
            Code::TooMany => "too_many",
            Code::DuplicateName => "duplicate_name",
            Code::UnsupportedVersion => "unsupported_version",
            Code::NotInDefaults => "not_in_defaults",
            Code::NoPolicies => "no_policies",
            Code::Conflict => "conflict",
            Code::DangerousRoot => "dangerous_root",
            Code::TestFailed => "test_failed",
        }
    }

    /// Every code, for the documentation test.
    pub const ALL: [Code; 19] = [
        Code::Unreadable,
        Code::UnsafeFile,
        Code::Syntax,
        Code::DuplicateKey,
        Code::UnknownKey,
        Code::MissingKey,
        Code::WrongType,
        Code::BadValue,
        Code::BadUnit,
        Code::BadLayout,
        Code::BadGlob,
        Code::TooMany,
        Code::DuplicateName,
        Code::UnsupportedVersion,
        Code::NotInDefaults,
        Code::NoPolicies,
        Code::Conflict,
        Code::DangerousRoot,
        Code::TestFailed,
    ];
}

/// A problem in a policy file: where, under which key, what kind, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Its kind, for scripts.
    pub code: Code,
    /// The file.
    pub file: PathBuf,
    /// Line and column (of the key, or of the value when the value is wrong), when known.
    pub at: Option<yaml::Mark>,
    /// The key's path (`policies[0].keep`), empty for the file as a whole.
    pub key: String,
    /// What is wrong, and what to write instead.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(m) = self.at {
            write!(f, ":{}:{}", m.line, m.column)?;
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.key, self.message)
        }
    }
}
