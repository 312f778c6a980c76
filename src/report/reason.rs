//! The words: a decision's reason, a policy's settings, the business-day walk, compact
//! durations and counted nouns. Every output format takes its text from here, so text,
//! JSON, `explain` and `check` say the same thing the same way.

use std::fmt::Write as _;
use std::path::Path;

use chrono::NaiveDate;

use crate::act::events::Level;
use crate::act::summary::{CapacityReport, PolicySummary, Problem};
use crate::bucket::Action;
use crate::classify::{Facts, Reason, Verdict};
use crate::clock::calendar::Closure;
use crate::clock::{self, Cutoff};
use crate::policy::{DateFrom, MaxDelete, OnUnmatched, Policy};
use crate::tree::Untrusted;
use indicatif::HumanBytes;

/// Writes the reason for `v` into `out`.
pub fn render(v: &Verdict, f: &Facts, out: &mut String) {
    let date = v.date.as_deref().unwrap_or("?");
    let cutoff = &f.cutoff;
    let instant = |t: i64| clock::local(f.tz, t).to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let _ = match &v.reason {
        Reason::Expired => write!(out, "{date} ends before cutoff {cutoff}"),
        Reason::Current => write!(out, "{date} ends after cutoff {cutoff}"),
        Reason::MtimeExpired(t) => write!(out, "modified {} before cutoff {cutoff}", instant(*t)),
        Reason::MtimeCurrent(t) => write!(out, "modified {} after cutoff {cutoff}", instant(*t)),
        Reason::Excluded(p) => write!(out, "excluded by `{p}`"),
        Reason::KeepLast => write!(out, "{date} is among the newest {} partitions (keep_last)", f.keep_last),
        Reason::MinAge(age) if *age < 0 => write!(
            out,
            "modified {} after now ({}), so younger than min_age {} (still being written?)",
            secs(-*age),
            instant(f.now),
            secs(f.min_age)
        ),
        Reason::MinAge(age) => {
            write!(out, "modified {} ago, less than min_age {} (still being written?)", secs(*age), secs(f.min_age))
        }
        Reason::Open(h) => write!(out, "open by {} ({})", h.pid, h.command),
        Reason::ForSpace => write!(
            out,
            "for space: {} is not met, and {date} is among the oldest kept partitions outside the floor",
            f.capacity
        ),
        Reason::Thinned(rule, bucket) => write!(out, "kept as {} {bucket}", rule.as_str()),
        Reason::Compress => match &f.compress {
            Some((cutoff, suffix)) => write!(out, "{date} ends before compress cutoff {cutoff}: to NAME{suffix}"),
            None => write!(out, "{date}: compress"),
        },
        Reason::Archive => match &f.archive {
            Some((cutoff, to)) => write!(out, "{date} ends before archive cutoff {cutoff}: to {to}"),
            None => write!(out, "{date}: archive"),
        },
        Reason::NoLayout => write!(out, "no layout matches"),
        Reason::Untrusted(why) => out.write_str(match why {
            Untrusted::OutsidePrefix => "outside the listed prefix",
            Untrusted::DirectoryWithData => "directory object with data",
            Untrusted::InvalidKey => "invalid key",
        }),
        Reason::BadDate(why) => write!(out, "{why}"),
        Reason::Implausible => write!(out, "implausible date: {date} is before min_date {}", f.min_date),
        Reason::Future => write!(
            out,
            "dated in the future: {date} starts later than now ({}) plus max_future {}",
            instant(f.now),
            secs(f.max_future)
        ),
        Reason::Table(t) => write!(
            out,
            "inside the {} table {}: {} removes its files, sweep never does",
            t.format.name(),
            t.path,
            t.format.retention()
        ),
        Reason::MarkerStays(stay) => {
            let (name, marker) = &**stay;
            let _ = write!(out, "marker {name} stays: ");
            render(marker, f, out);
            Ok(())
        }
    };
}

/// A refusal in words: what the guard found, with its numbers, and that nothing of the
/// policy was deleted.
pub fn refusal(r: &crate::guard::Refusal) -> String {
    use crate::guard::Finding;
    let nothing = "nothing of this policy was deleted";
    match &r.finding {
        Finding::DangerousRoot(why) => why.clone(),
        Finding::Table(t) => format!(
            "{} is a {} table ({}); its files are removed by {}, never by deleting files: sweep touches nothing below it; \
             exclude it (a directory exclude) to clean the rest of the root; {nothing}",
            t.path,
            t.format.name(),
            t.format.marker(),
            t.format.retention()
        ),
        Finding::Blind(n) => format!(
            "cannot see which files {} hold open (reading another user's /proc/PID/fd needs CAP_SYS_PTRACE): \
             skip_open cannot judge; give sweep CAP_SYS_PTRACE (the shipped unit does), or set skip_open: false; {nothing}",
            count(*n, "process", "processes")
        ),
        Finding::Clock { now, previous } => format!(
            "the clock says {now}, more than a day before the previous run started ({previous}); fix the clock or pass --now"
        ),
        Finding::Unmatched(n) => {
            format!(
                "{} under the root and on_unmatched: refuse; {nothing}",
                count(*n, "unmatched file", "unmatched files")
            )
        }
        Finding::Count { delete, files, allowed, limit } => {
            let share = if *files == 0 { 0.0 } else { *delete as f64 * 100.0 / *files as f64 };
            format!(
                "would delete {} of {} ({share:.1}%), more than max_delete {limit} ({}); {nothing}",
                thousands(*delete),
                count(*files, "file", "files"),
                count(*allowed, "file", "files")
            )
        }
        Finding::Span { first, start, span } => format!(
            "would delete files dated from {first}, before {start} (max_delete {span} back from the cutoff); \
             a clock or retention mistake? {nothing}"
        ),
        Finding::Auto { delete, bytes, learned } => {
            let files = |n: u64| count(n, "file", "files");
            let over = match (*delete > learned.allowed_files(), learned.allowed_bytes().is_some_and(|b| *bytes > b)) {
                (true, true) => "more files and bytes",
                (true, false) => "more files",
                _ => "more bytes",
            };
            format!(
                "would delete {} ({}); {}; {over} than that: a retention typo, a clock jump or an upstream rename? {nothing}",
                files(*delete),
                size(*bytes),
                auto_basis(learned)
            )
        }
        Finding::AutoSpan { first, start, why } => format!(
            "would delete files dated from {first}, before {start}: max_delete auto acts as {} back from the cutoff \
             ({}); a clock or retention mistake? {nothing}",
            crate::guard::auto::span(),
            auto_why(why)
        ),
    }
}

/// What `max_delete: auto` learned, in words: "the last 14 applies deleted 240 files
/// (36 MiB) at most, median 212 (30 MiB); auto allows 3× (636 files, 90 MiB)".
pub fn auto_basis(l: &crate::guard::auto::Learned) -> String {
    let allowed = match l.allowed_bytes() {
        Some(b) => format!("{}, {}", count(l.allowed_files(), "file", "files"), size(b)),
        None => count(l.allowed_files(), "file", "files"),
    };
    format!(
        "the last {} deleted {} ({}) at most, median {} ({}); auto allows {}× ({allowed})",
        count(l.runs as u64, "apply", "applies"),
        count(l.max_files, "file", "files"),
        size(l.max_bytes),
        thousands(l.median_files),
        size(l.median_bytes),
        l.factor.get()
    )
}

/// Why `max_delete: auto` acts as its span, in words.
pub fn auto_why(why: &crate::guard::auto::Why) -> String {
    use crate::guard::auto::{NEEDED, Why};
    match why {
        Why::Few(n) => format!(
            "{} that deleted something known, {NEEDED} needed",
            if *n == 1 { "1 apply".to_string() } else { format!("{n} applies") }
        ),
        Why::Untrusted(reason) => format!("the history is not trusted: {reason}"),
    }
}

/// The forecast's line, for a policy whose retention does not fit: "forecast: keep 7d
/// needs 280 GiB at 40 GiB/day; 250 GiB room below disk_fail_above 90% (policy
/// ticker-load)".
pub fn forecast(policy: &str, f: &crate::guard::forecast::Forecast) -> String {
    let room = match f.threshold {
        Some(t) => format!("{} room below disk_fail_above {t}", size(f.room)),
        None => format!("{} room on the whole filesystem (no disk_fail_above)", size(f.room)),
    };
    format!(
        "forecast: keep {} needs {} at {}{}; {room} (policy {policy})",
        f.keep,
        size(f.footprint),
        size(f.bytes_per_period),
        per(f.spacing)
    )
}

/// "/day", "/hour", … for partitions that come every `spacing` seconds (a day of 23 or
/// 25 hours is a day); " per 6h" for any other spacing.
fn per(spacing: i64) -> String {
    const DAY: i64 = 86_400;
    let near = |want: i64| (spacing - want).abs() <= 3600;
    let unit = match spacing {
        1 => "second",
        60 => "minute",
        3600 => "hour",
        _ if near(DAY) => "day",
        _ if near(7 * DAY) => "week",
        _ if (28 * DAY - 3600..=31 * DAY + 3600).contains(&spacing) => "month",
        _ if (365 * DAY - 3600..=366 * DAY + 3600).contains(&spacing) => "year",
        _ => return format!(" per {}", secs(spacing)),
    };
    format!("/{unit}")
}

/// `max_delete: auto` in force, in words, for the text summary: what it went by and
/// what this run weighed.
pub fn auto(a: &crate::act::summary::AutoReport) -> String {
    use crate::guard::auto::Basis;
    let weighed = match a.would {
        Some((files, bytes)) => {
            format!("; this run's plan deletes {} ({})", count(files, "file", "files"), size(bytes))
        }
        None => String::new(),
    };
    match &a.basis {
        Basis::Learned(l) => format!("max_delete auto: {}{weighed}", auto_basis(l)),
        Basis::Span(why) => {
            format!("max_delete auto acts as {} ({}){weighed}", crate::guard::auto::span(), auto_why(why))
        }
    }
}

/// A size for a sentence: "280 GiB", "1.5 MiB", "512 B" (powers of 1024, at most one
/// decimal, none when it is a whole number).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    let tenths = (v * 10.0).round() / 10.0;
    if unit == 0 || tenths.fract() == 0.0 {
        format!("{} {}", tenths as u64, UNITS[unit])
    } else {
        format!("{tenths:.1} {}", UNITS[unit])
    }
}

/// A policy's problem in words, one sentence. `root` is the policy's root as written.
pub fn problem(p: &Problem, root: &Path) -> String {
    let root = root.display();
    match p {
        Problem::Root(message) => format!("{root}: {message}"),
        Problem::ReadOnly => {
            format!("{root}: read-only filesystem; deletions under this root stopped after the first failure")
        }
        Problem::Archive(why) => format!("{why}; nothing is moved"),
        Problem::DiskAbove { used_ratio, threshold, freed, planned, excess } => {
            let verb = if *planned { "this plan would free" } else { "this run freed" };
            format!(
                "filesystem of {root} is {:.1}% full, above disk_fail_above {threshold}; {verb} {}; about {} more must go",
                used_ratio * 100.0,
                HumanBytes(*freed),
                HumanBytes(*excess)
            )
        }
        Problem::CapacityUnknown(why) => why.clone(),
        Problem::CapacityNotMet { missing: m, refused, floors } => {
            let mut missing = Vec::new();
            if m.free > 0 {
                missing.push(format!("{} of free space", HumanBytes(m.free)));
            }
            if m.inodes > 0 {
                missing.push(format!("{} free inodes", m.inodes));
            }
            if m.bytes > 0 {
                missing.push(format!("{} over max_bytes", HumanBytes(m.bytes)));
            }
            let missing = if missing.is_empty() { "the target".to_string() } else { missing.join(", ") };
            let why = if *refused {
                "nothing was deleted because a guard refused the policy".to_string()
            } else {
                format!("the floor ({}) keeps the rest", floors.join(" and "))
            };
            format!("capacity target not met: {missing} still missing; {why}")
        }
        Problem::Unmatched(n) => {
            format!(
                "{} under {root} match no layout (on_unmatched: fail): a new upstream layout?",
                count(*n, "file", "files")
            )
        }
        Problem::Stale { expect, newest: Some((date, age)) } => {
            format!("stale: newest partition {date} ended {} ago (expect_fresh {expect})", clock::human(*age))
        }
        Problem::Stale { expect, newest: None } => format!("stale: no partition under {root} (expect_fresh {expect})"),
        Problem::Inventory(why) => format!("inventory: {why}"),
        Problem::LeaseHeld(who) => format!("lease: {who}; nothing of this policy was touched"),
        Problem::Lease(why) => format!("lease: {why}"),
    }
}

/// A policy's diagnostics for stderr, a line each with its level: its problems, a
/// refusal, unmatched files that do not fail it, and entries that could not be read or
/// deleted.
pub fn diagnostics(s: &PolicySummary) -> Vec<(Level, String)> {
    let mut out: Vec<(Level, String)> = s.problems.iter().map(|p| (Level::Error, problem(p, &s.root))).collect();
    if let Some(r) = &s.refused {
        out.push((Level::Error, format!("refused by {}: {}", r.guard(), refusal(r))));
    }
    let unmatched = s.files.get(Action::Unmatched);
    if unmatched > 0 && s.on_unmatched != OnUnmatched::Fail {
        let how = if s.on_unmatched == OnUnmatched::Warn { "warn" } else { "refuse" };
        let msg = format!(
            "{} under {} match no layout (on_unmatched: {how})",
            count(unmatched, "file", "files"),
            s.root.display()
        );
        out.push((Level::Warn, msg));
    }
    if s.files.get(Action::Error) > 0 || s.failed > 0 {
        let msg = format!(
            "{} could not be read, {} failed",
            count(s.files.get(Action::Error), "entry", "entries"),
            count(s.failed, "deletion", "deletions")
        );
        out.push((Level::Error, msg));
    }
    out
}

/// "capacity: min_free 1.5 GiB: free 0.9 GiB before, 1.6 GiB after (predicted 1.6 GiB);
/// 3 partitions (1,234 files) deleted for space: met".
pub fn capacity_line(c: &CapacityReport, settings: &crate::policy::Capacity, dry_run: bool) -> String {
    let d = &c.decision;
    let mut targets = Vec::new();
    let written = |a: Option<crate::policy::value::Amount>| match a {
        Some(crate::policy::value::Amount::Share(s)) => format!("{s} = "),
        _ => String::new(),
    };
    if let Some(t) = d.targets.free {
        let after = match (c.real_after, dry_run) {
            (Some((real, _)), false) => format!("{} after (predicted {})", HumanBytes(real), HumanBytes(d.after.free)),
            _ => format!("{} predicted after", HumanBytes(d.after.free)),
        };
        targets.push(format!(
            "min_free {}{}: free {} before, {after}",
            written(settings.min_free),
            HumanBytes(t),
            HumanBytes(d.before.free)
        ));
    }
    if let Some(t) = d.targets.inodes {
        let after = match (c.real_after, dry_run) {
            (Some((_, real)), false) => format!("{} after (predicted {})", thousands(real), thousands(d.after.inodes)),
            _ => format!("{} predicted after", thousands(d.after.inodes)),
        };
        targets.push(format!(
            "min_free_inodes {}{}: free {} before, {after}",
            written(settings.min_free_inodes),
            thousands(t),
            thousands(d.before.inodes)
        ));
    }
    if let Some(t) = d.targets.bytes {
        targets.push(format!(
            "max_bytes {}: {} before, {} after",
            HumanBytes(t),
            HumanBytes(d.before.bytes),
            HumanBytes(d.after.bytes)
        ));
    }
    let verb = if dry_run { "to delete" } else { "deleted" };
    let chosen = if d.chosen.is_empty() {
        "nothing deleted for space".to_string()
    } else {
        format!(
            "{} ({}, {}) {verb} for space",
            count(d.chosen.len() as u64, "partition", "partitions"),
            count(d.files, "file", "files"),
            HumanBytes(d.freed)
        )
    };
    let state = if c.met() { "met" } else { "NOT met" };
    let others = match c.used_by_others {
        Some(b) => format!("; others use {} of the filesystem", HumanBytes(b)),
        None => String::new(),
    };
    format!("capacity {}; {chosen}: {state}{others}", targets.join("; "))
}

/// The reason for `v` as a new string.
pub fn text(v: &Verdict, f: &Facts) -> String {
    let mut s = String::new();
    render(v, f, &mut s);
    s
}

/// `90s`, `5m`, `3h12m`, `2d4h`: compact durations for messages.
pub fn secs(s: i64) -> String {
    clock::human(s)
}

/// "1 file", "2 files", "1,234 files": a count with thousands separators and its noun.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One line describing a policy's retention and guards, for the text header.
pub fn settings(p: &Policy, max_delete: Option<MaxDelete>, lifted: bool) -> String {
    let mut d = format!("keep {} in {}", p.keep, p.zone);
    if p.date_from == DateFrom::Mtime {
        d.push_str(", dates from mtime");
    }
    if p.keep_last > 0 {
        let _ = write!(d, ", keep_last {}", p.keep_last);
    }
    if !p.min_age.is_zero() {
        let _ = write!(d, ", min_age {}", secs(i64::try_from(p.min_age.as_secs()).unwrap_or(i64::MAX)));
    }
    if let Some(m) = max_delete {
        let _ = write!(d, ", max_delete {m}");
    } else if lifted {
        d.push_str(", max_delete lifted for this run");
    }
    if p.on_unmatched != OnUnmatched::Fail {
        let how = if p.on_unmatched == OnUnmatched::Warn { "warn" } else { "refuse" };
        let _ = write!(d, ", on_unmatched {how}");
    }
    if !p.markers.is_empty() {
        let _ = write!(d, ", markers {}", p.markers.patterns().join(" "));
    }
    d
}

/// For `keep: N bd`: "business day Fri 2024-07-12; skipped Sun 2024-07-14 (weekend), ...".
pub fn business(cutoff: &Cutoff) -> Option<String> {
    let (day, skipped) = cutoff.business.as_ref()?;
    Some(business_walk(*day, skipped))
}

fn business_walk(day: NaiveDate, skipped: &[(NaiveDate, Closure)]) -> String {
    let mut d = format!("business day {}", day.format("%a %Y-%m-%d"));
    if !skipped.is_empty() {
        let days: Vec<String> = skipped.iter().map(|(d, why)| format!("{} ({why})", d.format("%a %Y-%m-%d"))).collect();
        let _ = write!(d, "; skipped {}", days.join(", "));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_durations_read_well() {
        assert_eq!(count(1, "file", "files"), "1 file");
        assert_eq!(count(0, "file", "files"), "0 files");
        assert_eq!(count(1_234_567, "file", "files"), "1,234,567 files");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(secs(90), "1m");
        assert_eq!(secs(1800), "30m");
        assert_eq!(secs(7200), "2h");
        assert_eq!(secs(86400), "1d");
        assert_eq!(secs(90000), "1d1h");
    }
}
