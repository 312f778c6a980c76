//! Deciding one file's bucket: layout match → period → plausibility → cutoff → guards.
//!
//! The decision for a directory whose date is already known (a settled trailing `**`)
//! is made once when the walk enters it; a file then costs an exclude check, at most.
//! Reasons are small values, rendered to text only when an output asks (`report`), so a
//! plan of a million files does not format a million strings it never prints.
//!
//! The same classifier serves `plan`, `apply`, `explain` and `check`'s tests, so they
//! cannot disagree on what they all see.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;

use crate::bucket::Action;
use crate::clock::{self, Cutoff, DateSpec, KeepUnit, Period};
use crate::layout::{Cursor, Match, Scratch};
use crate::policy::{DateFrom, Policy, Rule};
use crate::tree::local::open::{Holder, OpenFiles};
use crate::tree::{Entry, Kind};

/// Why a file got its bucket.
#[derive(Debug, Clone)]
pub enum Reason<'p> {
    /// Its period ends at or before the cutoff.
    Expired,
    /// Its period ends after the cutoff.
    Current,
    /// `date_from: mtime`, modified before the cutoff (seconds since the epoch).
    MtimeExpired(i64),
    /// `date_from: mtime`, modified at or after the cutoff.
    MtimeCurrent(i64),
    /// Matches this `exclude` glob (itself, or a directory above it).
    Excluded(&'p str),
    /// Among the newest `keep_last` partitions.
    KeepLast,
    /// Modified this many seconds before now, less than `min_age` (negative: after now).
    MinAge(i64),
    /// A process holds it open.
    Open(Holder),
    /// Not expired, but deleted to meet a capacity target.
    ForSpace,
    /// Expired, but kept by a thinning rule, for this bucket.
    Thinned(Rule, Rc<str>),
    /// Old enough to be compressed (`compress.after`).
    Compress,
    /// Old enough to be archived (`archive.after`).
    Archive,
    /// No layout matches.
    NoLayout,
    /// A layout matched the shape but the date is impossible or does not exist.
    BadDate(Rc<str>),
    /// The date is before `min_date`.
    Implausible,
    /// The period starts later than now plus `max_future`.
    Future,
    /// Inside a lakehouse table: the format's own retention removes its files.
    Table(Rc<Table>),
    /// A completion marker of its directory stays (its name and its own decision), so
    /// nothing directly beside it goes: a reader must never see a marker over a
    /// partition that is being emptied.
    MarkerStays(Box<(Rc<str>, Verdict<'p>)>),
    /// A listed object the walk does not trust (object storage): never deleted.
    Untrusted(crate::tree::Untrusted),
}

/// A lakehouse table found under a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Its format.
    pub format: crate::tree::TableFormat,
    /// The table's directory, as reports show it.
    pub path: Rc<str>,
}

/// One file's decision.
#[derive(Debug, Clone)]
pub struct Verdict<'p> {
    /// The bucket.
    pub action: Action,
    /// Why.
    pub reason: Reason<'p>,
    /// The partition's date as the layout writes it (or the mtime's local date).
    pub date: Option<Rc<str>>,
    /// The partition's period, for grouping, `keep_last` and the guards.
    pub partition: Option<Period>,
    /// How many leading components of the path below the root name the partition's
    /// place (the directory whose name completed the date, or the file's directory), so
    /// that outputs do not merge partitions of one date in different directories.
    pub place: u16,
}

impl Verdict<'_> {
    /// A key of a listing that is not trusted: unmatched, for `why`.
    pub fn untrusted(why: crate::tree::Untrusted) -> Self {
        Verdict { action: Action::Unmatched, reason: Reason::Untrusted(why), date: None, partition: None, place: 0 }
    }
}

/// What whole-tree guards decided for the partitions of one period, before the walk
/// that acts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Override {
    /// Among the newest `keep_last`: its expired files are protected.
    pub keep_last: bool,
    /// Places (directories below the root) whose partition of this period is deleted for
    /// space, although it is not expired.
    pub for_space: Vec<Box<[u8]>>,
    /// Expired, but kept by thinning: the rule and its bucket (`weekly`, `2024-W27`).
    pub thinned: Option<(Rule, Rc<str>)>,
}

/// What rendering a reason needs besides the verdict.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The cutoff, RFC 3339.
    pub cutoff: String,
    /// The zone dates are shown in.
    pub tz: Tz,
    /// `keep_last`.
    pub keep_last: u32,
    /// `min_age` in seconds.
    pub min_age: i64,
    /// The instant the run evaluates at.
    pub now: i64,
    /// `min_date`.
    pub min_date: NaiveDate,
    /// `max_future` in seconds.
    pub max_future: i64,
    /// The capacity targets, as written (`min_free 15%, max_bytes 500G`).
    pub capacity: String,
    /// The compression cutoff (RFC 3339) and the suffix it adds.
    pub compress: Option<(String, &'static str)>,
    /// The archive cutoff (RFC 3339) and the archive's root.
    pub archive: Option<(String, String)>,
}

/// The first `n` components of `rel`: the place that names a partition.
pub fn place_of(rel: &[u8], n: u16) -> &[u8] {
    if n == 0 {
        return b"";
    }
    let end = rel.iter().enumerate().filter(|(_, b)| **b == b'/').nth(usize::from(n) - 1).map_or(rel.len(), |(i, _)| i);
    &rel[..end]
}

/// Whether a name is compressed already (so `compress` leaves it alone).
pub fn compressed(name: &[u8]) -> bool {
    crate::policy::COMPRESSED.iter().any(|s| name.ends_with(s.as_bytes()))
}

/// The capacity targets as written, for reasons.
fn capacity_text(p: &Policy) -> String {
    let c = &p.capacity;
    let mut parts = Vec::new();
    match c.min_free {
        Some(crate::policy::value::Amount::Absolute(b)) => parts.push(format!("min_free {}", indicatif::HumanBytes(b))),
        Some(m) => parts.push(format!("min_free {m}")),
        None => {}
    }
    if let Some(m) = c.min_free_inodes {
        parts.push(format!("min_free_inodes {m}"));
    }
    if let Some(m) = c.max_bytes {
        parts.push(format!("max_bytes {}", indicatif::HumanBytes(m)));
    }
    parts.join(", ")
}

/// A layout match turned into a period and an expiry decision.
#[derive(Debug, Clone)]
enum Resolved {
    Dated { period: Period, date: Rc<str>, expired: bool, implausible: bool },
    Bad(Rc<str>),
}

/// Per-directory state: where the layouts stand, the decision when it is already known
/// for everything below, and an `exclude` that matched this directory or one above.
#[derive(Debug, Clone)]
pub struct DirCtx<'p> {
    cursor: Cursor,
    settled: Option<Resolved>,
    excluded: Option<&'p str>,
    /// Components from the root to this directory.
    depth: u16,
    /// The depth at which the date became settled, when it is.
    settled_at: Option<u16>,
}

/// Classifies the files of one policy against one cutoff.
pub struct Classifier<'p> {
    policy: &'p Policy,
    tz: Tz,
    cutoff: i64,
    now: i64,
    /// Periods starting after this are dated in the future.
    future: i64,
    /// Local `min_date` at 00:00 as an instant.
    min_date: i64,
    scratch: Scratch,
    overrides: BTreeMap<Period, Override>,
    /// Kept files whose period ends at or before this are compressed.
    compress: Option<i64>,
    /// Kept files whose period ends at or before this are moved to the archive.
    archive: Option<i64>,
    open: Option<&'p OpenFiles>,
    /// The last per-file match and its resolution: neighbouring files usually share it.
    last: Option<(Match, Resolved)>,
    /// The last mtime day and its label.
    last_day: Option<(NaiveDate, Rc<str>)>,
    facts: Facts,
}

impl DirCtx<'_> {
    /// Whether an `exclude` matched this directory or one above it.
    pub fn excluded(&self) -> bool {
        self.excluded.is_some()
    }
}

impl<'p> Classifier<'p> {
    /// A classifier for `policy` at `now` (seconds since the epoch) with `cutoff`;
    /// `open` when `skip_open` is to be honoured.
    pub fn new(
        policy: &'p Policy,
        cutoff: &Cutoff,
        at: chrono::DateTime<Tz>,
        open: Option<&'p OpenFiles>,
    ) -> Classifier<'p> {
        let tz = policy.zone.tz();
        let now = at.timestamp();
        let tier = |after: crate::clock::Keep| clock::cutoff(after, at, &policy.calendar).timestamp();
        let rfc = |t: i64| clock::local(tz, t).to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        let max_future = i64::try_from(policy.max_future.as_secs()).unwrap_or(i64::MAX);
        let min_date = clock::start_of(tz, policy.min_date.and_time(NaiveTime::MIN));
        Classifier {
            policy,
            tz,
            cutoff: cutoff.timestamp(),
            now,
            future: now.saturating_add(max_future),
            min_date,
            scratch: policy.layouts.scratch(),
            compress: policy.tiers.compress.map(|c| tier(c.after)),
            archive: policy.tiers.archive.as_ref().map(|a| tier(a.after)),
            overrides: BTreeMap::new(),
            open: open.filter(|_| policy.skip_open),
            last: None,
            last_day: None,
            facts: Facts {
                cutoff: cutoff.rfc3339(),
                tz,
                keep_last: policy.keep_last,
                min_age: i64::try_from(policy.min_age.as_secs()).unwrap_or(i64::MAX),
                now,
                min_date: policy.min_date,
                max_future,
                capacity: capacity_text(policy),
                compress: policy.tiers.compress.map(|c| (rfc(tier(c.after)), c.format.suffix())),
                archive: policy.tiers.archive.as_ref().map(|a| (rfc(tier(a.after)), a.to.display().to_string())),
            },
        }
    }

    /// Sets what whole-tree guards decided for partitions.
    pub fn set_overrides(&mut self, overrides: BTreeMap<Period, Override>) {
        self.overrides = overrides;
    }

    /// The whole-tree decisions in force.
    pub fn overrides(&self) -> &BTreeMap<Period, Override> {
        &self.overrides
    }

    /// Whether a guard would still protect this file if its partition expired (for
    /// capacity's prediction of what deleting a kept partition frees).
    pub fn protected_if_expired(&self, e: &Entry) -> bool {
        let young = self.facts.min_age > 0 && self.now.saturating_sub(e.mtime) < self.facts.min_age;
        young || (e.kind == Kind::File && self.open.is_some_and(|o| o.holder(e.dev, e.ino).is_some()))
    }

    /// The partition and place a directory lies in, when its date is settled (for
    /// capacity's count of the directories a partition's deletion removes).
    pub fn dir_partition(&self, dir: &DirCtx) -> Option<(Period, u16)> {
        match (&dir.settled, dir.settled_at) {
            (Some(Resolved::Dated { period, implausible: false, .. }), Some(at)) => Some((*period, at)),
            _ => None,
        }
    }

    /// What rendering this classifier's reasons needs.
    pub fn facts(&self) -> &Facts {
        &self.facts
    }

    /// The policy.
    pub fn policy(&self) -> &'p Policy {
        self.policy
    }

    /// State for the root.
    pub fn root(&mut self) -> DirCtx<'p> {
        let cursor = self.policy.layouts.start();
        self.dir(cursor, None, 0, None)
    }

    /// State for sub-directory `name` (at `rel` below the root) of `parent`.
    pub fn enter(&mut self, parent: &DirCtx<'p>, name: &[u8], rel: &[u8]) -> DirCtx<'p> {
        let cursor = self.policy.layouts.descend(&parent.cursor, name, &mut self.scratch);
        let excluded = parent.excluded.or_else(|| self.policy.exclude.matching(Path::new(OsStr::from_bytes(rel))));
        self.dir(cursor, excluded, parent.depth.saturating_add(1), parent.settled_at)
    }

    fn dir(&mut self, cursor: Cursor, excluded: Option<&'p str>, depth: u16, settled_at: Option<u16>) -> DirCtx<'p> {
        let settled = match self.policy.date_from {
            DateFrom::Path => self.policy.layouts.settled(&cursor).map(|m| self.resolve(m)),
            DateFrom::Mtime => None,
        };
        let settled_at = settled_at.or(settled.as_ref().map(|_| depth));
        DirCtx { cursor, settled, excluded, depth, settled_at }
    }

    /// Whether this policy claims the file `name` in directory `dir` at a shared root:
    /// a layout or an `exclude` matches it.
    pub fn claims(&mut self, dir: &DirCtx, name: &[u8], rel: &[u8]) -> bool {
        dir.excluded.is_some()
            || self.policy.layouts.settled(&dir.cursor).is_some()
            || self.policy.layouts.match_file(&dir.cursor, name, &mut self.scratch).is_some()
            || self.policy.exclude.matching(Path::new(OsStr::from_bytes(rel))).is_some()
    }

    fn resolve(&mut self, m: Match) -> Resolved {
        if let Some((lm, r)) = &self.last
            && *lm == m
        {
            return r.clone();
        }
        let template = &self.policy.layouts.templates()[m.layout];
        let resolved = template
            .precision()
            .ok_or_else(|| "layout has no date fields".to_string())
            .and_then(|precision| m.captured.resolve(precision))
            .and_then(|spec| clock::period(&spec, self.tz).map(|p| (spec, p)));
        let r = match resolved {
            Ok((spec, period)) => {
                let date: Rc<str> = match spec {
                    DateSpec::Epoch(s) => {
                        clock::local(self.tz, s).to_rfc3339_opts(chrono::SecondsFormat::Secs, false).into()
                    }
                    _ => spec.label().into(),
                };
                Resolved::Dated {
                    period,
                    date,
                    expired: period.end <= self.cutoff,
                    implausible: period.start < self.min_date,
                }
            }
            Err(why) => Resolved::Bad(format!("{why} (layout `{}`)", template.source()).into()),
        };
        self.last = Some((m, r.clone()));
        r
    }

    /// The bucket of one file.
    pub fn classify(&mut self, dir: &DirCtx<'p>, e: &Entry) -> Verdict<'p> {
        let resolved = match self.policy.date_from {
            DateFrom::Path => match &dir.settled {
                Some(r) => Some(r.clone()),
                None => self.policy.layouts.match_file(&dir.cursor, e.name, &mut self.scratch).map(|m| self.resolve(m)),
            },
            DateFrom::Mtime => {
                let matched = self.policy.layouts.settled(&dir.cursor).is_some()
                    || self.policy.layouts.match_file(&dir.cursor, e.name, &mut self.scratch).is_some();
                matched.then(|| self.by_mtime(e.mtime))
            }
        };
        let (period, date, expired, implausible, bad) = match resolved {
            Some(Resolved::Dated { period, date, expired, implausible }) => {
                (Some(period), Some(date), expired, implausible, None)
            }
            Some(Resolved::Bad(why)) => (None, None, false, false, Some(why)),
            None => (None, None, false, false, None),
        };
        let place = if self.policy.date_from == DateFrom::Mtime { 0 } else { dir.settled_at.unwrap_or(dir.depth) };
        let verdict = |action, reason| Verdict { action, reason, date: date.clone(), partition: period, place };
        let excluded = dir.excluded.or_else(|| {
            if self.policy.exclude.is_empty() {
                None
            } else {
                self.policy.exclude.matching(Path::new(OsStr::from_bytes(e.rel)))
            }
        });
        if let Some(p) = excluded {
            // Protected whatever its date; but a date in the future or before min_date is
            // no partition of this policy's (it must not count among the newest).
            let partition = period.filter(|p| !implausible && p.start <= self.future);
            return Verdict { action: Action::Protect, reason: Reason::Excluded(p), date, partition, place };
        }
        let Some(period) = period else {
            return verdict(Action::Unmatched, bad.map_or(Reason::NoLayout, Reason::BadDate));
        };
        if implausible {
            return Verdict { action: Action::Unmatched, reason: Reason::Implausible, date, partition: None, place };
        }
        if period.start > self.future {
            return Verdict { action: Action::Unmatched, reason: Reason::Future, date, partition: None, place };
        }
        let mtime_mode = self.policy.date_from == DateFrom::Mtime;
        let over = self.overrides.get(&period);
        let for_space = !expired
            && over
                .is_some_and(|o| !o.for_space.is_empty() && o.for_space.iter().any(|p| **p == *place_of(e.rel, place)));
        if expired && over.is_some_and(|o| o.keep_last) {
            return verdict(Action::Protect, Reason::KeepLast);
        }
        let thinned = if expired { over.and_then(|o| o.thinned.clone()) } else { None };
        if (!expired || thinned.is_some()) && !for_space {
            // Kept: as it is, or in another form or place once it is old enough.
            let tier = if e.kind != Kind::File {
                None
            } else if self.archive.is_some_and(|c| period.end <= c) {
                Some((Action::Move, Reason::Archive))
            } else if self.compress.is_some_and(|c| period.end <= c) && !compressed(e.name) && !self.is_marker(e.name) {
                Some((Action::Compress, Reason::Compress))
            } else {
                None
            };
            let Some((action, reason)) = tier else {
                let reason = match (thinned, mtime_mode) {
                    (Some((rule, bucket)), _) => Reason::Thinned(rule, bucket),
                    (None, true) => Reason::MtimeCurrent(e.mtime),
                    (None, false) => Reason::Current,
                };
                return verdict(Action::Keep, reason);
            };
            // A file still being written, or held open, is not moved or rewritten either.
            return match self.guarded(e) {
                Some(r) => verdict(Action::Protect, r),
                None => verdict(action, reason),
            };
        }
        if let Some(r) = self.guarded(e) {
            return verdict(Action::Protect, r);
        }
        let reason = match (for_space, mtime_mode) {
            (true, _) => Reason::ForSpace,
            (false, true) => Reason::MtimeExpired(e.mtime),
            (false, false) => Reason::Expired,
        };
        verdict(Action::Delete, reason)
    }

    /// Whether the directory at `dir` (modified at `mtime`) lies inside an expired
    /// partition that nothing protects: an empty directory there is a leftover (of an
    /// interrupted run, or of an upstream that created and never filled it).
    pub fn stale_dir(&self, dir: &DirCtx, mtime: i64) -> bool {
        let young = self.facts.min_age > 0 && self.now.saturating_sub(mtime) < self.facts.min_age;
        match &dir.settled {
            Some(Resolved::Dated { period, expired: true, implausible: false, .. }) => {
                dir.excluded.is_none() && !young && !self.overrides.contains_key(period) && period.start <= self.future
            }
            _ => false,
        }
    }

    /// Whether `name` is a completion marker (never compressed: readers look for it
    /// by name).
    fn is_marker(&self, name: &[u8]) -> bool {
        use std::os::unix::ffi::OsStrExt;
        !self.policy.markers.is_empty()
            && self.policy.markers.matching(std::path::Path::new(std::ffi::OsStr::from_bytes(name))).is_some()
    }

    /// The guard that protects a file by its own state: `min_age`, `skip_open`.
    fn guarded(&self, e: &Entry) -> Option<Reason<'p>> {
        let age = self.now.saturating_sub(e.mtime);
        if self.facts.min_age > 0 && age < self.facts.min_age {
            return Some(Reason::MinAge(age));
        }
        if e.kind == Kind::File
            && let Some(h) = self.open.and_then(|o| o.holder(e.dev, e.ino))
        {
            return Some(Reason::Open(h.clone()));
        }
        None
    }

    /// Whether a decision to delete depends on the file's own state, so the removal
    /// must check it is still the same file (see `tree::Check`).
    pub fn depends_on_mtime(&self) -> bool {
        self.facts.min_age > 0 || self.policy.date_from == DateFrom::Mtime
    }

    /// `date_from: mtime`: the file's own instant decides; it is grouped by the local day
    /// (or hour, for `keep` in hours) it falls in.
    fn by_mtime(&mut self, mtime: i64) -> Resolved {
        let unit = if self.policy.keep.unit == KeepUnit::Hours { KeepUnit::Hours } else { KeepUnit::Days };
        let period = clock::containing(self.tz, mtime, unit);
        let day = clock::local_date(self.tz, mtime);
        let date = match &self.last_day {
            Some((d, label)) if *d == day => label.clone(),
            _ => {
                let label: Rc<str> = day.format("%Y-%m-%d").to_string().into();
                self.last_day = Some((day, label.clone()));
                label
            }
        };
        Resolved::Dated { period, date, expired: mtime < self.cutoff, implausible: false }
    }
}

#[cfg(test)]
mod tests;
