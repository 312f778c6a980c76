//! Text output for people: per policy, the cutoff, unmatched groups first (a new
//! upstream layout must jump out), partitions to delete / protect / keep with counts and
//! sizes, errors, and a summary; a last line that states the exit code and its meaning.
//!
//! Files are aggregated by partition, so memory follows the number of partitions, not
//! of files. `-v` streams one line per file as well. Policies that share a root are
//! walked together, so their events interleave: each policy keeps its own tally here.

use std::collections::BTreeMap;
use std::io::{self, Write};

use indicatif::HumanBytes;

use super::reason::{self, capacity_line, count, thousands};
use super::shape::shape;
use super::{Printer, display_path};
use crate::act::events::{
    DirEvent, ErrorEvent, FileEvent, FileOutcome, LeftoverEvent, NestedEvent, PolicyStart, Sink, TableEvent,
};
use crate::act::summary::{PolicySummary, RunSummary};
use crate::bucket::Action;
use crate::clock::Period;
use crate::exit::Exit;

/// ANSI styles, or nothing when colour is off.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn wrap(self, code: &str, s: &str) -> String {
        if self.0 { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }
    fn action(self, a: Action, s: &str) -> String {
        let code = match a {
            Action::Delete => "31",
            Action::Keep => "32",
            Action::Protect => "33",
            Action::Unmatched | Action::Error => "1;31",
            Action::Compress | Action::Move => "36",
        };
        self.wrap(code, s)
    }
}

#[derive(Default)]
struct Agg {
    files: u64,
    bytes: u64,
    date: String,
    /// Deleted for space, not for age.
    for_space: bool,
    /// Kept by thinning: the rule and bucket (`weekly 2024-W27`).
    thinned: Option<String>,
}

/// Unmatched files that share a shape and a reason.
struct Group {
    files: u64,
    bytes: u64,
    example: String,
}

/// At most this many unmatched groups; the rest are counted together.
const MAX_GROUPS: usize = 50;
/// At most this many errors or failures listed per policy (all are counted).
const MAX_LISTED: usize = 20;
/// Partition rows shown per action before the middle is elided (unless `-v`).
const MAX_ROWS: usize = 24;

/// A partition row: its action, period, and place (the directory that names it).
type Row = (Action, Period, String);

/// One policy's tally.
#[derive(Default)]
struct Tally {
    partitions: BTreeMap<Row, Agg>,
    groups: BTreeMap<(String, String), Group>,
    other_unmatched: (u64, u64),
    problems: Vec<String>,
    more_problems: u64,
    nested: Vec<String>,
    /// The policy's capacity settings, as written.
    capacity: Option<crate::policy::Capacity>,
    /// The row the last file went to, and the raw place it was made from: files come a
    /// directory at a time, so most find their row here without building its key.
    last: Option<(Row, Vec<u8>)>,
}

impl Tally {
    fn problem(&mut self, line: String) {
        if self.problems.len() < MAX_LISTED {
            self.problems.push(line);
        } else {
            self.more_problems += 1;
        }
    }
}

/// The text sink.
pub struct Text<'a> {
    out: &'a mut Printer,
    verbose: bool,
    paint: Paint,
    dry_run: bool,
    policies: BTreeMap<String, Tally>,
    reason: String,
}

impl<'a> Text<'a> {
    /// A text sink on `out`; `dry_run` for plan.
    pub fn new(out: &'a mut Printer, dry_run: bool) -> Text<'a> {
        let style = out.style;
        Text {
            out,
            verbose: style.verbose,
            paint: Paint(style.color),
            dry_run,
            policies: BTreeMap::new(),
            reason: String::new(),
        }
    }

    fn tally(&mut self, policy: &str) -> &mut Tally {
        // Looked up by `&str` first: a file's event should not allocate its policy's name.
        if !self.policies.contains_key(policy) {
            self.policies.insert(policy.to_string(), Tally::default());
        }
        match self.policies.get_mut(policy) {
            Some(t) => t,
            None => unreachable!("inserted above"),
        }
    }

    fn rows(&mut self, t: &Tally, action: Action) -> io::Result<()> {
        let rows: Vec<(&Row, &Agg)> = t.partitions.iter().filter(|((a, _, _), _)| *a == action).collect();
        let n = rows.len();
        let label = self.paint.action(action, &format!("{:<9}", action.as_str()));
        for (i, ((_, period, place), agg)) in rows.iter().enumerate() {
            if !self.verbose && n > MAX_ROWS && i >= MAX_ROWS / 2 && i < n - MAX_ROWS / 2 {
                if i == MAX_ROWS / 2 {
                    writeln!(self.out, "  {label} … {} more partitions …", thousands((n - MAX_ROWS) as u64))?;
                }
                continue;
            }
            // Name the place when another row has the same date in another directory.
            let shared = rows.iter().filter(|((_, p, _), _)| p == period).count() > 1;
            let date = if shared && !place.is_empty() { format!("{} in {place}/", agg.date) } else { agg.date.clone() };
            let why = match &agg.thinned {
                _ if agg.for_space => "  for space".to_string(),
                Some(t) => format!("  kept as {t}"),
                None => String::new(),
            };
            writeln!(
                self.out,
                "  {label} {date:<22} {:>13} {:>11}{why}",
                count(agg.files, "file", "files"),
                HumanBytes(agg.bytes).to_string()
            )?;
        }
        Ok(())
    }
}

impl Sink for Text<'_> {
    fn policy_start(&mut self, p: &PolicyStart) -> io::Result<()> {
        let policy = p.policy;
        self.tally(&policy.name).capacity = Some(policy.capacity);
        writeln!(
            self.out,
            "{} {}  root {}",
            self.paint.wrap("1", "policy"),
            self.paint.wrap("1", &policy.name),
            policy.root.display()
        )?;
        writeln!(self.out, "  {} → cutoff {}", reason::settings(policy, p.max_delete, p.lifted), p.cutoff.rfc3339())?;
        if let Some(b) = reason::business(p.cutoff) {
            writeln!(self.out, "  {b}")?;
        }
        Ok(())
    }

    fn file(&mut self, e: &FileEvent) -> io::Result<()> {
        let v = e.verdict;
        let mut text = std::mem::take(&mut self.reason);
        text.clear();
        if v.action == Action::Unmatched || self.verbose {
            reason::render(v, e.facts, &mut text);
        }
        let t = self.tally(e.policy);
        if v.action == Action::Unmatched {
            let key = (shape(e.rel), text.clone());
            if let Some(g) = t.groups.get_mut(&key) {
                g.files += 1;
                g.bytes += e.bytes;
            } else if t.groups.len() < MAX_GROUPS {
                t.groups.insert(key, Group { files: 1, bytes: e.bytes, example: display_path(e.rel).into_owned() });
            } else {
                t.other_unmatched.0 += 1;
                t.other_unmatched.1 += e.bytes;
            }
        } else {
            let (period, raw, date) = match v.partition {
                Some(p) => (p, crate::classify::place_of(e.rel, v.place), v.date.as_deref().unwrap_or("")),
                None => (Period { start: i64::MAX, end: i64::MAX }, &b""[..], "(no date)"),
            };
            let Tally { partitions, last, .. } = t;
            let same = matches!(last, Some(((a, p, _), r)) if *a == v.action && *p == period && r == raw);
            if !same {
                *last = Some(((v.action, period, display_path(raw).into_owned()), raw.to_vec()));
            }
            if let Some((row, _)) = last {
                if !partitions.contains_key(row) {
                    partitions.insert(row.clone(), Agg { date: date.to_string(), ..Agg::default() });
                }
                if let Some(agg) = partitions.get_mut(row) {
                    agg.for_space |= matches!(v.reason, crate::classify::Reason::ForSpace);
                    if let crate::classify::Reason::Thinned(rule, bucket) = &v.reason {
                        agg.thinned.get_or_insert_with(|| format!("{} {bucket}", rule.as_str()));
                    }
                    agg.files += 1;
                    agg.bytes += e.bytes;
                }
            }
        }
        match e.outcome {
            Some(FileOutcome::Failed(msg)) => t.problem(format!("failed  {}: {msg}", display_path(e.path))),
            Some(FileOutcome::WouldFail(msg)) => t.problem(format!("would fail  {}: {msg}", display_path(e.path))),
            _ => {}
        }
        let r = if self.verbose {
            let outcome = match e.outcome {
                Some(FileOutcome::Failed(msg)) => format!("  FAILED: {msg}"),
                Some(FileOutcome::WouldFail(msg)) => format!("  WOULD FAIL: {msg}"),
                Some(FileOutcome::Compressed(n)) => format!("  compressed to {}", HumanBytes(n)),
                Some(o) => format!("  {}", o.as_str()),
                None => String::new(),
            };
            let outcome = match e.to {
                Some(to) => format!("  → {}{outcome}", display_path(to)),
                None => outcome,
            };
            let label = self.paint.action(v.action, &format!("{:<9}", v.action.as_str()));
            writeln!(
                self.out,
                "  {label} {:>11}  {}  ({text}){outcome}",
                HumanBytes(e.bytes).to_string(),
                display_path(e.path)
            )
        } else {
            Ok(())
        };
        self.reason = text;
        r
    }

    fn error(&mut self, e: &ErrorEvent) -> io::Result<()> {
        let line = format!("error   {}: {}", display_path(e.path), e.message);
        if self.verbose {
            writeln!(self.out, "  {}", self.paint.action(Action::Error, &line))?;
        }
        self.tally(e.policy).problem(line);
        Ok(())
    }

    fn dir(&mut self, e: &DirEvent) -> io::Result<()> {
        if let Some(err) = e.error {
            self.tally(e.policy).problem(format!("rmdir   {}: {err}", display_path(e.path)));
        } else if self.verbose {
            let verb = if e.dry_run { "rmdir (planned)" } else { "rmdir" };
            writeln!(self.out, "  {verb:<9} {}", display_path(e.path))?;
        }
        Ok(())
    }

    fn leftover(&mut self, e: &LeftoverEvent) -> io::Result<()> {
        let path = display_path(e.path);
        match e.error {
            Some(err) => self.tally(e.policy).problem(format!("leftover {path}: {err}")),
            None => {
                let verb = if e.dry_run { "would remove" } else { "removed" };
                writeln!(self.out, "  leftover {path}: a temporary an interrupted run left; {verb}")?;
            }
        }
        Ok(())
    }

    fn mount(&mut self, policy: &str, path: &[u8]) -> io::Result<()> {
        let line = format!("mount   {}: a mount point; not entered (one_file_system)", display_path(path));
        self.tally(policy).problem(line);
        Ok(())
    }

    fn table(&mut self, e: &TableEvent) -> io::Result<()> {
        let line = format!(
            "table {}: a {} table ({}); its files are {}'s to remove: nothing below it is touched",
            display_path(e.path),
            e.format.name(),
            e.format.marker(),
            e.format.retention()
        );
        writeln!(self.out, "  {line}")?;
        Ok(())
    }

    fn nested(&mut self, e: &NestedEvent) -> io::Result<()> {
        let line = format!("nested {} (policy {})", display_path(e.path), e.owner);
        writeln!(self.out, "  {line}")?;
        self.tally(e.policy).nested.push(line);
        Ok(())
    }

    fn policy_end(&mut self, s: &PolicySummary) -> io::Result<()> {
        let p = self.paint;
        let mut t = self.policies.remove(&s.name).unwrap_or_default();
        let unmatched = s.files.get(Action::Unmatched);
        if unmatched > 0 {
            let how = if s.unmatched_fails() { "UNMATCHED" } else { "unmatched (not failing the run)" };
            writeln!(
                self.out,
                "  {} {} ({}) under the root match no layout — a new upstream layout?",
                p.action(Action::Unmatched, &format!("!! {how}:")),
                count(unmatched, "file", "files"),
                HumanBytes(s.bytes.get(Action::Unmatched))
            )?;
            let mut groups: Vec<_> = std::mem::take(&mut t.groups).into_iter().collect();
            groups.sort_by_key(|g| std::cmp::Reverse(g.1.files));
            for ((shape, reason), g) in groups {
                writeln!(
                    self.out,
                    "     {:>13} {:>11}  like {shape}  e.g. {}  ({reason})",
                    count(g.files, "file", "files"),
                    HumanBytes(g.bytes).to_string(),
                    g.example
                )?;
            }
            if t.other_unmatched.0 > 0 {
                writeln!(
                    self.out,
                    "     {:>13} {:>11}  of other shapes",
                    count(t.other_unmatched.0, "file", "files"),
                    HumanBytes(t.other_unmatched.1).to_string()
                )?;
            }
        }
        for a in [Action::Delete, Action::Move, Action::Compress, Action::Protect, Action::Keep] {
            self.rows(&t, a)?;
        }
        for problem in &s.problems {
            let line = reason::problem(problem, &s.root);
            writeln!(self.out, "  {}", p.action(Action::Error, &format!("!! {line}")))?;
        }
        for line in std::mem::take(&mut t.problems) {
            writeln!(self.out, "  {}", p.action(Action::Error, &line))?;
        }
        if t.more_problems > 0 {
            writeln!(self.out, "  … and {} more (see --format json)", thousands(t.more_problems))?;
        }
        if let Some(r) = &s.refused {
            let why = reason::refusal(r);
            writeln!(self.out, "  {}", p.action(Action::Error, &format!("!! REFUSED by {}: {why}", r.guard())))?;
        }
        let f = &s.files;
        let b = &s.bytes;
        writeln!(
            self.out,
            "  = delete {} ({}), keep {} ({}), protect {} ({}), unmatched {}, error {}",
            count(f.get(Action::Delete), "file", "files"),
            HumanBytes(b.get(Action::Delete)),
            thousands(f.get(Action::Keep)),
            HumanBytes(b.get(Action::Keep)),
            thousands(f.get(Action::Protect)),
            HumanBytes(b.get(Action::Protect)),
            thousands(f.get(Action::Unmatched)),
            thousands(f.get(Action::Error)),
        )?;
        let mut also = Vec::new();
        if s.nested > 0 {
            let whose = if s.nested == 1 { "its own policy" } else { "their own policies" };
            also.push(format!("{} left to {whose}", count(s.nested, "nested root", "nested roots")));
        }
        if s.foreign > 0 {
            also.push(format!("{} of unselected policies left alone", count(s.foreign, "file", "files")));
        }
        for (a, verb) in [(Action::Move, "move"), (Action::Compress, "compress")] {
            if f.get(a) > 0 {
                also.push(format!("{verb} {} ({})", count(f.get(a), "file", "files"), HumanBytes(b.get(a))));
            }
        }
        if !also.is_empty() {
            writeln!(self.out, "  = {}", also.join(", "))?;
        }
        for line in super::scale::lines(s) {
            writeln!(self.out, "  = {line}")?;
        }
        let tiers = &s.tiers;
        if !self.dry_run && (tiers.compressed > 0 || tiers.moved > 0) {
            writeln!(
                self.out,
                "  = compressed {} ({} → {}), moved {} ({})",
                count(tiers.compressed, "file", "files"),
                HumanBytes(tiers.bytes_before),
                HumanBytes(tiers.bytes_after),
                count(tiers.moved, "file", "files"),
                HumanBytes(tiers.moved_bytes)
            )?;
        }
        if self.dry_run {
            let dirs = count(s.dirs_removed, "directory", "directories");
            writeln!(self.out, "  = dry run: nothing deleted; {dirs} would be removed")?;
        } else {
            let rate = match s.rate() {
                Some((files, bytes)) if s.deleted > 0 => {
                    format!(", at {}/s ({}/s)", thousands(files.round() as u64), HumanBytes(bytes.round() as u64))
                }
                _ => String::new(),
            };
            writeln!(
                self.out,
                "  = deleted {} ({}), failed {}, vanished {}, {} removed{rate}",
                count(s.deleted, "file", "files"),
                HumanBytes(s.deleted_bytes),
                thousands(s.failed),
                thousands(s.vanished),
                count(s.dirs_removed, "directory", "directories")
            )?;
        }
        if let Some(d) = &s.disk {
            let held = if d.held_open.0 > 0 {
                format!(
                    "; {} deleted but still open hold {} (df counts them, du does not)",
                    count(d.held_open.0, "file", "files"),
                    HumanBytes(d.held_open.1)
                )
            } else {
                String::new()
            };
            match d.threshold {
                Some(t) => {
                    let state = if d.excess_bytes > 0 { "ABOVE" } else { "below" };
                    writeln!(
                        self.out,
                        "  = disk {:.1}% used, {state} disk_fail_above {t}{held}",
                        d.used_ratio * 100.0
                    )?;
                }
                None if !held.is_empty() => writeln!(self.out, "  = disk {:.1}% used{held}", d.used_ratio * 100.0)?,
                None => {}
            }
        }
        if let (Some(c), Some(settings)) = (&s.capacity, &t.capacity) {
            writeln!(self.out, "  = {}", capacity_line(c, settings, self.dry_run))?;
        }
        if let Some(a) = &s.auto {
            writeln!(self.out, "  = {}", reason::auto(a))?;
        }
        if let Some(f) = s.fresh.as_ref().filter(|f| !f.stale)
            && let (Some((date, _)), Some(age)) = (&f.newest, f.age)
        {
            let expect =
                if f.expect % 86400 == 0 { format!("{}d", f.expect / 86400) } else { format!("{}h", f.expect / 3600) };
            if age < 0 {
                writeln!(
                    self.out,
                    "  = fresh: newest partition {date} is still current (ends in {}; expect_fresh {expect})",
                    reason::secs(-age)
                )?;
            } else {
                writeln!(
                    self.out,
                    "  = fresh: newest partition {date} ended {} ago (expect_fresh {expect})",
                    reason::secs(age)
                )?;
            }
        }
        writeln!(self.out)?;
        self.out.flush()
    }

    fn finish(&mut self, s: &RunSummary) -> io::Result<()> {
        // Known only once every policy on a filesystem has been walked: after them all.
        for p in &s.policies {
            if let Some(f) = p.forecast.as_ref().filter(|f| f.fit > 1.0) {
                writeln!(self.out, "{}", self.paint.wrap("33", &reason::forecast(&p.name, f)))?;
            }
        }
        let warned: u64 =
            s.policies.iter().filter(|p| !p.unmatched_fails()).map(|p| p.files.get(Action::Unmatched)).sum();
        let line = if s.exit == Exit::Clean && warned > 0 {
            let files = count(warned, "unmatched file", "unmatched files");
            self.paint.wrap("33", &format!("exit 0: done, with warnings: {files} (on_unmatched: warn)"))
        } else if s.exit == Exit::Clean {
            self.paint.wrap("32", &s.exit.to_string())
        } else {
            self.paint.wrap("1;31", &s.exit.to_string())
        };
        writeln!(self.out, "{line}")?;
        self.out.flush()
    }
}
