//! Text output for people: per policy, the cutoff, unmatched groups first (a new
//! upstream layout must jump out), partitions to delete / protect / keep with counts and
//! sizes, errors, and a summary; a last line that states the exit code and its meaning.
//!
//! Files are aggregated by partition, so memory follows the number of partitions, not
//! of files. `-v` streams one line per file as well.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};

use super::*;
use crate::clock::Period;

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
        };
        self.wrap(code, s)
    }
}

#[derive(Default)]
struct Agg {
    files: u64,
    bytes: u64,
    date: String,
}

/// Unmatched files that share a shape (digits masked) and a reason.
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

/// The text reporter.
pub struct Text<W: Write> {
    out: BufWriter<W>,
    verbose: bool,
    paint: Paint,
    dry_run: bool,
    partitions: BTreeMap<(Action, Period), Agg>,
    groups: BTreeMap<(String, String), Group>,
    other_unmatched: (u64, u64),
    problems: Vec<String>,
    more_problems: u64,
    reason: String,
}

impl<W: Write> Text<W> {
    /// A text reporter on `w`.
    pub fn new(w: W, verbose: bool, color: bool, dry_run: bool) -> Text<W> {
        Text {
            out: BufWriter::with_capacity(64 * 1024, w),
            verbose,
            paint: Paint(color),
            dry_run,
            partitions: BTreeMap::new(),
            groups: BTreeMap::new(),
            other_unmatched: (0, 0),
            problems: Vec::new(),
            more_problems: 0,
            reason: String::new(),
        }
    }

    fn problem(&mut self, line: String) {
        if self.problems.len() < MAX_LISTED {
            self.problems.push(line);
        } else {
            self.more_problems += 1;
        }
    }

    fn rows(&mut self, action: Action) -> io::Result<()> {
        let rows: Vec<(&Period, &Agg)> = self
            .partitions
            .range((action, Period { start: i64::MIN, end: i64::MIN })..)
            .take_while(|((a, _), _)| *a == action)
            .map(|((_, p), g)| (p, g))
            .collect();
        let n = rows.len();
        let label = self.paint.action(action, &format!("{:<9}", action.as_str()));
        for (i, (_, agg)) in rows.iter().enumerate() {
            if !self.verbose && n > MAX_ROWS && i >= MAX_ROWS / 2 && i < n - MAX_ROWS / 2 {
                if i == MAX_ROWS / 2 {
                    writeln!(self.out, "  {label} … {} more partitions …", n - MAX_ROWS)?;
                }
                continue;
            }
            writeln!(self.out, "  {label} {:<22} {:>9} files {:>11}", agg.date, agg.files, human_bytes(agg.bytes))?;
        }
        Ok(())
    }
}

/// `2024-07-12/part-0001.csv` → `####-##-##/part-####.csv`: files of one layout share it.
fn shape(rel: &[u8]) -> String {
    display_path(rel).chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect()
}

impl<W: Write> Reporter for Text<W> {
    fn policy_start(&mut self, p: &PolicyStart) -> io::Result<()> {
        writeln!(
            self.out,
            "{} {}  root {}",
            self.paint.wrap("1", "policy"),
            self.paint.wrap("1", p.name),
            p.root.display()
        )?;
        match p.cutoff {
            Some(c) => writeln!(self.out, "  {} → cutoff {c}", p.settings)?,
            None => writeln!(self.out, "  {}", p.settings)?,
        }
        if let Some(b) = &p.business {
            writeln!(self.out, "  {b}")?;
        }
        Ok(())
    }

    fn file(&mut self, e: &FileEvent) -> io::Result<()> {
        let v = e.verdict;
        if v.action == Action::Unmatched {
            self.reason.clear();
            e.reasons.render(v, &mut self.reason);
            let key = (shape(e.rel), self.reason.clone());
            if let Some(g) = self.groups.get_mut(&key) {
                g.files += 1;
                g.bytes += e.bytes;
            } else if self.groups.len() < MAX_GROUPS {
                self.groups.insert(key, Group { files: 1, bytes: e.bytes, example: display_path(e.rel).into_owned() });
            } else {
                self.other_unmatched.0 += 1;
                self.other_unmatched.1 += e.bytes;
            }
        } else if let Some(p) = v.partition {
            let agg = self.partitions.entry((v.action, p)).or_default();
            if agg.files == 0 {
                agg.date = v.date.as_deref().unwrap_or("").to_string();
            }
            agg.files += 1;
            agg.bytes += e.bytes;
        } else {
            let agg = self.partitions.entry((v.action, Period { start: i64::MAX, end: i64::MAX })).or_default();
            agg.date = "(no date)".into();
            agg.files += 1;
            agg.bytes += e.bytes;
        }
        if let Some(FileOutcome::Failed(msg)) = e.outcome {
            self.problem(format!("failed  {}: {msg}", display_path(e.path)));
        }
        if self.verbose {
            self.reason.clear();
            e.reasons.render(v, &mut self.reason);
            let outcome = match e.outcome {
                Some(FileOutcome::Failed(msg)) => format!("  FAILED: {msg}"),
                Some(o) => format!("  {}", o.as_str()),
                None => String::new(),
            };
            let label = self.paint.action(v.action, &format!("{:<9}", v.action.as_str()));
            writeln!(
                self.out,
                "  {label} {:>11}  {}  ({}){outcome}",
                human_bytes(e.bytes),
                display_path(e.path),
                self.reason
            )?;
        }
        Ok(())
    }

    fn error(&mut self, e: &ErrorEvent) -> io::Result<()> {
        let line = format!("error   {}: {}", display_path(e.path), e.message);
        if self.verbose {
            writeln!(self.out, "  {}", self.paint.action(Action::Error, &line))?;
        }
        self.problem(line);
        Ok(())
    }

    fn dir(&mut self, e: &DirEvent) -> io::Result<()> {
        if let Some(err) = e.error {
            self.problem(format!("rmdir   {}: {err}", display_path(e.path)));
        } else if self.verbose {
            let verb = if e.dry_run { "rmdir (planned)" } else { "rmdir" };
            writeln!(self.out, "  {verb:<9} {}", display_path(e.path))?;
        }
        Ok(())
    }

    fn mount(&mut self, path: &[u8]) -> io::Result<()> {
        self.problem(format!("mount   {}: another filesystem; not entered (one_file_system)", display_path(path)));
        Ok(())
    }

    fn policy_end(&mut self, s: &PolicySummary) -> io::Result<()> {
        let p = self.paint;
        let unmatched = s.files.get(Action::Unmatched);
        if unmatched > 0 {
            let how = if s.unmatched_fails { "UNMATCHED" } else { "unmatched (on_unmatched: warn)" };
            writeln!(
                self.out,
                "  {} {unmatched} files ({}) under the root match no layout — a new upstream layout?",
                p.action(Action::Unmatched, &format!("!! {how}:")),
                human_bytes(s.bytes.get(Action::Unmatched))
            )?;
            let mut groups: Vec<_> = std::mem::take(&mut self.groups).into_iter().collect();
            groups.sort_by_key(|g| std::cmp::Reverse(g.1.files));
            for ((shape, reason), g) in groups {
                writeln!(
                    self.out,
                    "     {:>9} files {:>11}  like {shape}  e.g. {}  ({reason})",
                    g.files,
                    human_bytes(g.bytes),
                    g.example
                )?;
            }
            if self.other_unmatched.0 > 0 {
                writeln!(
                    self.out,
                    "     {:>9} files {:>11}  of other shapes",
                    self.other_unmatched.0,
                    human_bytes(self.other_unmatched.1)
                )?;
            }
        }
        for a in [Action::Delete, Action::Protect, Action::Keep] {
            self.rows(a)?;
        }
        for line in &s.problems {
            writeln!(self.out, "  {}", p.action(Action::Error, &format!("!! {line}")))?;
        }
        for line in std::mem::take(&mut self.problems) {
            writeln!(self.out, "  {}", p.action(Action::Error, &line))?;
        }
        if self.more_problems > 0 {
            writeln!(self.out, "  … and {} more (see --format json)", self.more_problems)?;
        }
        if let Some(r) = &s.refused {
            writeln!(self.out, "  {}", p.action(Action::Error, &format!("!! REFUSED by {}: {}", r.guard, r.reason)))?;
        }
        let f = &s.files;
        let b = &s.bytes;
        writeln!(
            self.out,
            "  = delete {} files ({}), keep {} ({}), protect {} ({}), unmatched {}, error {}",
            f.get(Action::Delete),
            human_bytes(b.get(Action::Delete)),
            f.get(Action::Keep),
            human_bytes(b.get(Action::Keep)),
            f.get(Action::Protect),
            human_bytes(b.get(Action::Protect)),
            f.get(Action::Unmatched),
            f.get(Action::Error),
        )?;
        if self.dry_run {
            writeln!(self.out, "  = dry run: nothing deleted; {} directories would be removed", s.dirs_removed)?;
        } else {
            writeln!(
                self.out,
                "  = deleted {} files ({}), failed {}, vanished {}, directories removed {}",
                s.deleted,
                human_bytes(s.deleted_bytes),
                s.failed,
                s.vanished,
                s.dirs_removed
            )?;
        }
        if let Some(d) = &s.disk
            && let Some(t) = d.threshold
        {
            let state = if d.excess_bytes > 0 { "ABOVE" } else { "below" };
            writeln!(self.out, "  = disk {:.1}% used, {state} disk_fail_above {t}", d.used_ratio * 100.0)?;
        }
        writeln!(self.out)?;
        self.partitions.clear();
        self.other_unmatched = (0, 0);
        self.more_problems = 0;
        self.out.flush()
    }

    fn finish(&mut self, s: &RunSummary) -> io::Result<()> {
        let line = s.exit.to_string();
        let line = if s.exit == crate::exit::Exit::Clean {
            self.paint.wrap("32", &line)
        } else {
            self.paint.wrap("1;31", &line)
        };
        writeln!(self.out, "{line}")?;
        self.out.flush()
    }
}
