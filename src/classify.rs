//! Deciding one file's bucket: layout match → period → cutoff → guards.
//!
//! The decision for a directory whose date is already known (a settled trailing `**`)
//! is made once when the walk enters it; a file then costs an exclude check, at most.
//! Reasons are kept as small values and only rendered to text when an output asks,
//! so a plan of a million files does not format a million strings it never prints.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::action::Action;
use crate::clock::{self, Cutoff, KeepUnit, Period};
use crate::layout::{Cursor, Match, Scratch};
use crate::policy::{DateFrom, Policy};
use crate::walk::Entry;

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
    /// Matches this `exclude` glob.
    Excluded(&'p str),
    /// Among the newest `keep_last` partitions.
    KeepLast,
    /// Modified this many seconds before now, less than `min_age`.
    MinAge(i64),
    /// No layout matches.
    NoLayout,
    /// A layout matched the shape but the date is impossible or does not exist.
    BadDate(Rc<str>),
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
    /// The partition's period, for grouping and `keep_last`.
    pub partition: Option<Period>,
}

/// What rendering a reason needs beyond the reason itself.
#[derive(Debug, Clone)]
pub struct ReasonText {
    cutoff: String,
    keep_last: u32,
    min_age: String,
    tz: Tz,
}

impl ReasonText {
    /// Writes the reason for `v` into `out`.
    pub fn render(&self, v: &Verdict, out: &mut String) {
        let date = v.date.as_deref().unwrap_or("?");
        let cutoff = &self.cutoff;
        let _ = match &v.reason {
            Reason::Expired => write!(out, "{date} ends before cutoff {cutoff}"),
            Reason::Current => write!(out, "{date} ends after cutoff {cutoff}"),
            Reason::MtimeExpired(t) => write!(out, "modified {} before cutoff {cutoff}", self.instant(*t)),
            Reason::MtimeCurrent(t) => write!(out, "modified {} after cutoff {cutoff}", self.instant(*t)),
            Reason::Excluded(p) => write!(out, "excluded by `{p}`"),
            Reason::KeepLast => write!(out, "{date} is among the newest {} partitions (keep_last)", self.keep_last),
            Reason::MinAge(age) => {
                write!(
                    out,
                    "modified {} ago, less than min_age {} (still being written?)",
                    human_secs(*age),
                    self.min_age
                )
            }
            Reason::NoLayout => write!(out, "no layout matches"),
            Reason::BadDate(why) => write!(out, "{why}"),
        };
    }

    /// The reason for `v` as a new string.
    pub fn to_string(&self, v: &Verdict) -> String {
        let mut s = String::new();
        self.render(v, &mut s);
        s
    }

    fn instant(&self, t: i64) -> String {
        clock::local(self.tz, t).to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    }
}

/// `90s`, `5m`, `3h12m`, `2d4h`: compact durations for messages.
pub fn human_secs(s: i64) -> String {
    let s = s.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

/// A layout match turned into a period and an expiry decision.
#[derive(Debug, Clone)]
enum Resolved {
    Dated { period: Period, date: Rc<str>, expired: bool },
    Bad(Rc<str>),
}

/// Per-directory state: where the layouts stand, and the decision when it is already
/// known for everything below.
#[derive(Debug, Clone)]
pub struct DirCtx {
    cursor: Cursor,
    settled: Option<Resolved>,
}

/// Classifies the files of one policy against one cutoff.
pub struct Classifier<'p> {
    policy: &'p Policy,
    tz: Tz,
    cutoff: i64,
    now: i64,
    scratch: Scratch,
    /// Protected newest partitions, once known (`keep_last`).
    newest: Option<BTreeSet<Period>>,
    /// The last per-file match and its resolution: neighbouring files usually share it.
    last: Option<(Match, Resolved)>,
    /// The last mtime day and its label.
    last_day: Option<(NaiveDate, Rc<str>)>,
    text: ReasonText,
}

impl<'p> Classifier<'p> {
    /// A classifier for `policy` at `now` (seconds since the epoch) with `cutoff`.
    pub fn new(policy: &'p Policy, cutoff: &Cutoff, now: i64) -> Classifier<'p> {
        let tz = policy.zone.tz();
        Classifier {
            policy,
            tz,
            cutoff: cutoff.timestamp(),
            now,
            scratch: policy.layouts.scratch(),
            newest: None,
            last: None,
            last_day: None,
            text: ReasonText {
                cutoff: cutoff.rfc3339(),
                keep_last: policy.keep_last,
                min_age: human_secs(policy.min_age.as_secs() as i64),
                tz,
            },
        }
    }

    /// Sets the partitions `keep_last` protects.
    pub fn protect_newest(&mut self, newest: BTreeSet<Period>) {
        self.newest = Some(newest);
    }

    /// How reasons are rendered.
    pub fn reason_text(&self) -> &ReasonText {
        &self.text
    }

    /// State for the root.
    pub fn root(&mut self) -> DirCtx {
        let cursor = self.policy.layouts.start();
        self.dir(cursor)
    }

    /// State for sub-directory `name` of `parent`.
    pub fn enter(&mut self, parent: &DirCtx, name: &[u8]) -> DirCtx {
        let cursor = self.policy.layouts.descend(&parent.cursor, name, &mut self.scratch);
        self.dir(cursor)
    }

    fn dir(&mut self, cursor: Cursor) -> DirCtx {
        let settled = match self.policy.date_from {
            DateFrom::Path => self.policy.layouts.settled(&cursor).map(|m| self.resolve(m)),
            DateFrom::Mtime => None,
        };
        DirCtx { cursor, settled }
    }

    fn resolve(&mut self, m: Match) -> Resolved {
        if let Some((lm, r)) = &self.last
            && *lm == m
        {
            return r.clone();
        }
        let template = &self.policy.layouts.templates()[m.layout];
        let precision = template.precision().expect("date_from: path layouts have fields");
        let r = match m.captured.resolve(precision).and_then(|spec| clock::period(&spec, self.tz).map(|p| (spec, p))) {
            Ok((spec, period)) => {
                let date: Rc<str> = match spec {
                    crate::layout::fields::DateSpec::Epoch(s) => {
                        clock::local(self.tz, s).to_rfc3339_opts(chrono::SecondsFormat::Secs, false).into()
                    }
                    _ => spec.label().into(),
                };
                Resolved::Dated { period, date, expired: period.end <= self.cutoff }
            }
            Err(why) => Resolved::Bad(format!("{why} (layout `{}`)", template.source()).into()),
        };
        self.last = Some((m, r.clone()));
        r
    }

    /// The bucket of one file.
    pub fn classify(&mut self, dir: &DirCtx, e: &Entry) -> Verdict<'p> {
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
        let (period, date, expired, bad) = match resolved {
            Some(Resolved::Dated { period, date, expired }) => (Some(period), Some(date), expired, None),
            Some(Resolved::Bad(why)) => (None, None, false, Some(why)),
            None => (None, None, false, None),
        };
        let verdict = |action, reason| Verdict { action, reason, date: date.clone(), partition: period };
        if !self.policy.exclude.is_empty()
            && let Some(p) = self.policy.exclude.matching(Path::new(OsStr::from_bytes(e.rel)))
        {
            return verdict(Action::Protect, Reason::Excluded(p));
        }
        let Some(period) = period else {
            return verdict(Action::Unmatched, bad.map_or(Reason::NoLayout, Reason::BadDate));
        };
        let mtime_mode = self.policy.date_from == DateFrom::Mtime;
        if !expired {
            let reason = if mtime_mode { Reason::MtimeCurrent(e.mtime) } else { Reason::Current };
            return verdict(Action::Keep, reason);
        }
        if self.newest.as_ref().is_some_and(|n| n.contains(&period)) {
            return verdict(Action::Protect, Reason::KeepLast);
        }
        let age = self.now - e.mtime;
        if !self.policy.min_age.is_zero() && age < self.policy.min_age.as_secs() as i64 {
            return verdict(Action::Protect, Reason::MinAge(age));
        }
        let reason = if mtime_mode { Reason::MtimeExpired(e.mtime) } else { Reason::Expired };
        verdict(Action::Delete, reason)
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
        Resolved::Dated { period, date, expired: mtime < self.cutoff }
    }
}
