//! What a run found and did: per-policy summaries and the run's, which every output
//! (text, JSON, metrics) renders and from which the exit code is computed.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::bucket::Action;
use crate::exit::Exit;
use crate::guard::Refusal;
use crate::guard::auto::Basis;
use crate::guard::forecast::{Forecast, Outlook};
use crate::policy::{Factor, Share};

/// Per-bucket numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Buckets(pub [u64; 7]);

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

/// The root filesystem's fullness after the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Disk {
    /// Used share, 0–1, as `df` computes it (used / (used + available to users)).
    pub used_ratio: f64,
    /// Bytes used.
    pub used_bytes: u64,
    /// Bytes available to unprivileged users (after the run; predicted in plan).
    pub avail_bytes: u64,
    /// Bytes available to unprivileged users when the root was opened.
    pub avail_before: u64,
    /// The policy's `disk_fail_above`.
    pub threshold: Option<Share>,
    /// Bytes that would have to go to get below the threshold (0 when below).
    pub excess_bytes: u64,
    /// Deleted files still held open on this filesystem: how many, and their bytes.
    pub held_open: (u64, u64),
}

/// Capacity targets: the decision, and what the filesystem said after the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityReport {
    /// What was decided before the acting walk (predictions).
    pub decision: crate::guard::capacity::Decision,
    /// Free bytes and inodes after the run, read from the filesystem (apply only).
    pub real_after: Option<(u64, u64)>,
    /// A guard refused the policy, so nothing was deleted for space either.
    pub refused: bool,
    /// A target could not be judged (the filesystem reports no size or inodes): why.
    pub unknown: Option<String>,
    /// Bytes on the filesystem that are in no policy's files, before the run: what
    /// others (a neighbour, a log, another tenant) hold.
    pub used_by_others: Option<u64>,
}

impl CapacityReport {
    /// Whether every target is met: by the filesystem's own numbers after `apply` where
    /// they exist (the policy's own size stays a prediction), else by the prediction.
    pub fn met(&self) -> bool {
        if self.unknown.is_some() {
            return false;
        }
        let d = &self.decision;
        if self.refused {
            let b = &d.before;
            return d.targets.free.is_none_or(|t| b.free >= t)
                && d.targets.inodes.is_none_or(|t| b.inodes >= t)
                && d.targets.bytes.is_none_or(|t| b.bytes <= t);
        }
        match self.real_after {
            Some((free, inodes)) => {
                d.targets.free.is_none_or(|t| free >= t)
                    && d.targets.inodes.is_none_or(|t| inodes >= t)
                    && d.targets.bytes.is_none_or(|t| d.after.bytes <= t)
            }
            None => d.met,
        }
    }
}

/// `expect_fresh`: whether the newest partition is recent enough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fresh {
    /// The setting, in seconds.
    pub expect: i64,
    /// The newest matched partition: its date and the end of its period.
    pub newest: Option<(String, i64)>,
    /// How long ago it ended (seconds), when there is one.
    pub age: Option<i64>,
    /// Older than `expect_fresh`, or nothing matched.
    pub stale: bool,
}

/// `max_delete: auto` in force for a policy: what it went by, and what the run weighed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoReport {
    /// The factor (`auto(5x)`; 3 for `auto`).
    pub factor: Factor,
    /// The medians it learned, or why it acts as `2d`.
    pub basis: Basis,
    /// Files and bytes the plan would delete, once counted (none when another guard
    /// refused the policy first).
    pub would: Option<(u64, u64)>,
}

/// What the lifecycle actions did (in plan: would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TierTally {
    /// Files compressed.
    pub compressed: u64,
    /// Their sizes before compression.
    pub bytes_before: u64,
    /// The compressed files' sizes (0 in plan: not known before compressing).
    pub bytes_after: u64,
    /// Files moved to the archive.
    pub moved: u64,
    /// Their sizes.
    pub moved_bytes: u64,
    /// Temporaries of interrupted runs removed (in plan: found).
    pub leftovers: u64,
}

/// A problem of a policy's run as a whole, as facts (`report` words it): each has a
/// stable code for scripts.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The root could not be opened or listed: the message.
    Root(String),
    /// The filesystem is read-only: deletions stopped after the first failure.
    ReadOnly,
    /// The archive cannot be used (nothing is moved): why.
    Archive(String),
    /// The filesystem is fuller than `disk_fail_above` after the run.
    DiskAbove {
        /// Used share, 0–1.
        used_ratio: f64,
        /// The threshold.
        threshold: Share,
        /// What the run freed (or the plan would free).
        freed: u64,
        /// A plan's prediction, not a run's result.
        planned: bool,
        /// What would still have to go.
        excess: u64,
    },
    /// A capacity target could not be judged: why.
    CapacityUnknown(String),
    /// A capacity target is not met.
    CapacityNotMet {
        /// What is missing.
        missing: crate::guard::capacity::Missing,
        /// A guard refused the policy, so nothing went for space.
        refused: bool,
        /// The floors that stopped it, as written (`keep_min 2d`).
        floors: Vec<String>,
    },
    /// Unmatched files fail the run (`on_unmatched: fail`).
    Unmatched(u64),
    /// The newest partition is older than `expect_fresh` (or there is none).
    Stale {
        /// The setting, as written.
        expect: String,
        /// The newest partition's date and how long ago it ended.
        newest: Option<(String, i64)>,
    },
    /// The inventory report cannot be used (missing, damaged, too old): why. Nothing of
    /// the policy was done.
    Inventory(String),
    /// Another runner holds the lease: who. Nothing of the policy was done.
    LeaseHeld(String),
    /// The lease could not be taken, renewed or released (the service failed, or another
    /// runner took it over mid-run): why.
    Lease(String),
}

impl Problem {
    /// A stable code for scripts (`problem_codes` in the JSON summary).
    pub fn code(&self) -> &'static str {
        match self {
            Problem::Root(_) => "root",
            Problem::ReadOnly => "read_only",
            Problem::Archive(_) => "archive",
            Problem::DiskAbove { .. } => "disk_above",
            Problem::CapacityUnknown(_) => "capacity_unknown",
            Problem::CapacityNotMet { .. } => "capacity_not_met",
            Problem::Unmatched(_) => "unmatched",
            Problem::Stale { .. } => "stale",
            Problem::Inventory(_) => "inventory",
            Problem::LeaseHeld(_) => "lease_held",
            Problem::Lease(_) => "lease",
        }
    }

    /// The exit status a problem of this kind gives by itself, where the summary's
    /// counts do not already say it.
    fn exit(&self) -> Exit {
        match self {
            Problem::Inventory(_) | Problem::Lease(_) => Exit::Io,
            Problem::LeaseHeld(_) => Exit::Locked,
            _ => Exit::Clean,
        }
    }
}

/// The inventory report a policy planned from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryUse {
    /// The report's folder, `2024-07-12T00-00Z`: its date.
    pub date: String,
    /// When S3 created it, seconds since the epoch.
    pub created: i64,
    /// Its manifest's URL.
    pub manifest: String,
    /// Objects below the root it lists.
    pub keys: u64,
    /// Directories the plan acts in, listed live.
    pub live: u64,
}

/// A shard's place in a run shared by several runners, and the whole plan's totals
/// (the summary's `files` and `bytes` are this shard's share).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardTotals {
    /// This shard's index (from 0).
    pub index: u32,
    /// Shards in all.
    pub count: u32,
    /// Files per bucket, in the whole plan.
    pub files: Buckets,
    /// Bytes per bucket, in the whole plan.
    pub bytes: Buckets,
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
    /// Bytes of the files deleted.
    pub deleted_bytes: u64,
    /// Compressions and moves.
    pub tiers: TierTally,
    /// Deletions (and compressions, moves) the OS refused.
    pub failed: u64,
    /// Files already gone when their turn came (listed, then removed by someone else).
    pub vanished: u64,
    /// Directories removed (or, in plan, that would be).
    pub dirs_removed: u64,
    /// Emptied directories the OS refused to remove.
    pub dirs_failed: u64,
    /// Mount points not entered.
    pub mounts_skipped: u64,
    /// Roots of other policies inside this one's, left alone.
    pub nested: u64,
    /// Lakehouse tables found under the root (not excluded): each refuses the policy.
    pub tables: u64,
    /// Files at this policy's root that belong to a policy `--policy` did not select.
    pub foreign: u64,
    /// Files unmatched because they are dated in the future.
    pub future: u64,
    /// Files protected because a process holds them open.
    pub open: u64,
    /// Files deleted (or to delete) for space.
    pub for_space: u64,
    /// `st_blocks × 512` of the files to delete with one link: what the deletions free.
    pub freed_predicted: u64,
    /// `st_blocks × 512` of every file of the policy, as walked.
    pub allocated: u64,
    /// Of that, what moved to another root on the same filesystem (counted there).
    pub moved_within: u64,
    /// What capacity decided, when the policy has targets.
    pub capacity: Option<CapacityReport>,
    /// What `expect_fresh` found, when it is set.
    pub fresh: Option<Fresh>,
    /// The end of the newest matched partition (seconds), whether or not
    /// `expect_fresh` is set.
    pub newest_end: Option<i64>,
    /// A guard's refusal.
    pub refused: Option<Refusal>,
    /// Problems of the policy as a whole (missing root, read-only filesystem, ...).
    pub problems: Vec<Problem>,
    /// `on_unmatched`.
    pub on_unmatched: crate::policy::OnUnmatched,
    /// This policy's exit status.
    pub exit: Exit,
    /// Wall time of the policy.
    pub duration: Duration,
    /// Wall time of the walk that deleted (apply), for the achieved rate.
    pub deleting: Option<Duration>,
    /// Fullness of the root's filesystem after the run, when it could be read.
    pub disk: Option<Disk>,
    /// `max_delete: auto`, when it is in force.
    pub auto: Option<AutoReport>,
    /// What the forecast is made from, before the filesystem's room is shared among the
    /// run's policies on it (local roots).
    pub outlook: Option<Outlook>,
    /// Whether the retention fits: set once every policy of the run has been walked.
    pub forecast: Option<Forecast>,
    /// The inventory report the plan came from (`inventory:`).
    pub inventory: Option<InventoryUse>,
    /// The lease held while acting (`lease: true`): its URL, and whose stale lease it
    /// took over.
    pub lease: Option<(String, Option<String>)>,
    /// `--shard`: this shard, and the whole plan's totals.
    pub shard: Option<ShardTotals>,
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
            tiers: TierTally::default(),
            failed: 0,
            vanished: 0,
            dirs_removed: 0,
            dirs_failed: 0,
            mounts_skipped: 0,
            nested: 0,
            tables: 0,
            foreign: 0,
            future: 0,
            open: 0,
            for_space: 0,
            freed_predicted: 0,
            allocated: 0,
            moved_within: 0,
            capacity: None,
            fresh: None,
            newest_end: None,
            refused: None,
            problems: Vec::new(),
            on_unmatched: crate::policy::OnUnmatched::Fail,
            exit: Exit::Clean,
            duration: Duration::ZERO,
            deleting: None,
            disk: None,
            auto: None,
            outlook: None,
            forecast: None,
            inventory: None,
            lease: None,
            shard: None,
        }
    }

    /// Whether unmatched files fail this policy (exit 7).
    pub fn unmatched_fails(&self) -> bool {
        self.on_unmatched == crate::policy::OnUnmatched::Fail
    }

    /// Files and bytes deleted per second while deleting (apply).
    pub fn rate(&self) -> Option<(f64, f64)> {
        let secs = self.deleting?.as_secs_f64();
        (secs > 0.0).then(|| (self.deleted as f64 / secs, self.deleted_bytes as f64 / secs))
    }

    /// The exit status of one policy: the lowest code among its problems.
    pub fn exit_code(&self) -> Exit {
        let mut e = Exit::Clean;
        if self.files.get(Action::Error) > 0 || self.failed > 0 || self.dirs_failed > 0 {
            e = e.and(Exit::Io);
        }
        if self.refused.is_some() {
            e = e.and(Exit::Refused);
        }
        if self.unmatched_fails() && self.files.get(Action::Unmatched) > 0 {
            e = e.and(Exit::Unmatched);
        }
        if self.disk.as_ref().is_some_and(|d| d.excess_bytes > 0) || self.capacity.as_ref().is_some_and(|c| !c.met()) {
            e = e.and(Exit::DiskFull);
        }
        if self.fresh.as_ref().is_some_and(|f| f.stale) {
            e = e.and(Exit::Stale);
        }
        for p in &self.problems {
            e = e.and(p.exit());
        }
        e
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
