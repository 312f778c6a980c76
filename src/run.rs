//! Running policies: for each one, the cutoff, the guards, the walk, the tally and the
//! exit status. This is where the one-way flow meets: policy → clock → walk → classify →
//! guard → delete → report.
//!
//! A policy's run is one walk, or two when a guard needs the whole plan before anything
//! may be deleted (`keep_last` must know the newest partitions; `max_delete` in `apply`
//! must know the count). The first walk is read-only and silent; the second classifies
//! the same way, with the guard's answer, and acts.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime};

use crate::action::Action;
use crate::classify::{Classifier, DirCtx, Verdict};
use crate::clock::{self, Now};
use crate::exit::Exit;
use crate::guard::{self, Newest};
use crate::log::Log;
use crate::policy::{OnUnmatched, Policy};
use crate::report::{
    DirEvent, Disk, ErrorEvent, FileEvent, FileOutcome, PolicyStart, PolicySummary, Refusal, Reporter, RunSummary,
    Silent, human_bytes,
};
use crate::walk::{self, Decision, DirTrouble, Entry, Mode, Removal, os_message};
use rustix::io::Errno;

/// How a run is done.
pub struct Settings {
    /// `apply` (true) or `plan` (false).
    pub apply: bool,
    /// The time to evaluate at.
    pub now: Now,
    /// Set to a signal number by SIGINT/SIGTERM handlers; 0 while running.
    pub signal: Arc<AtomicUsize>,
}

/// Runs `policies` in order, reporting to `reporter`.
///
/// `seal` runs after the last policy and before the summary is reported, so whatever it
/// does to the summary (writing the metrics file, and turning the exit code into 5 when
/// that fails) is what the summary line and JSON say.
pub fn run(
    policies: &[&Policy],
    settings: &Settings,
    reporter: &mut dyn Reporter,
    log: &Log,
    seal: impl FnOnce(&mut RunSummary),
) -> RunSummary {
    let started = SystemTime::now();
    let mut summary = RunSummary { dry_run: !settings.apply, exit: Exit::Clean, policies: Vec::new(), started };
    let mut output_failed = false;
    for policy in policies {
        let (s, out) = run_policy(policy, settings, reporter);
        for p in &s.problems {
            log.error(Some(&s.name), p);
        }
        if let Some(r) = &s.refused {
            log.error(Some(&s.name), &format!("refused by {}: {}", r.guard, r.reason));
        }
        let unmatched = s.files.get(Action::Unmatched);
        if unmatched > 0 {
            let msg = format!("{unmatched} files under {} match no layout", s.root.display());
            if s.unmatched_fails { log.error(Some(&s.name), &msg) } else { log.warn(Some(&s.name), &msg) }
        }
        if s.files.get(Action::Error) > 0 || s.failed > 0 {
            log.error(
                Some(&s.name),
                &format!("{} entries could not be read, {} deletions failed", s.files.get(Action::Error), s.failed),
            );
        }
        summary.exit = summary.exit.and(s.exit);
        summary.policies.push(s);
        if let Err(e) = out {
            output_failed = true;
            summary.exit = summary.exit.and(if e.kind() == io::ErrorKind::BrokenPipe {
                Exit::Interrupted(13)
            } else {
                log.error(None, &format!("cannot write the report: {e}"));
                Exit::Internal
            });
        }
        let sig = settings.signal.load(Ordering::SeqCst);
        if sig != 0 {
            summary.exit = summary.exit.and(Exit::Interrupted(sig as i32));
            log.error(None, &format!("interrupted by signal {sig}; stopped at the next file"));
        }
        if output_failed || sig != 0 {
            break;
        }
    }
    seal(&mut summary);
    if !output_failed
        && let Err(e) = reporter.finish(&summary)
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        log.error(None, &format!("cannot write the report: {e}"));
    }
    summary
}

/// Runs one policy. The second value is the state of the output: an error stops the run.
fn run_policy(policy: &Policy, settings: &Settings, reporter: &mut dyn Reporter) -> (PolicySummary, io::Result<()>) {
    let started = Instant::now();
    let mut s = PolicySummary::new(&policy.name, policy.root.clone());
    s.unmatched_fails = policy.on_unmatched == OnUnmatched::Fail;
    let now = settings.now.resolve(&policy.zone);
    let cutoff = clock::cutoff(policy.keep, now, &policy.calendar);
    let cutoff_text = cutoff.rfc3339();
    s.cutoff = Some((cutoff_text.clone(), cutoff.timestamp()));
    let start = PolicyStart {
        name: &policy.name,
        root: &policy.root,
        cutoff: Some(&cutoff_text),
        settings: describe(policy),
        business: cutoff.business.as_ref().map(|(day, skipped)| describe_business(*day, skipped)),
    };
    let mut out = reporter.policy_start(&start);

    if let Some(reason) = guard::dangerous_root(&policy.root) {
        s.refused = Some(Refusal { guard: "dangerous_root", reason, would_delete: 0, limit: None });
    } else if out.is_ok() {
        let mut classifier = Classifier::new(policy, &cutoff, now.timestamp());
        let mut refused = None;
        if policy.keep_last > 0 || (settings.apply && policy.max_delete.is_some()) {
            let mut pre_summary = PolicySummary::new(&policy.name, policy.root.clone());
            let mut silent = Silent;
            let mut pre = PolicyWalk::new(
                policy,
                Classifier::new(policy, &cutoff, now.timestamp()),
                &mut silent,
                &mut pre_summary,
                settings,
            );
            pre.apply = false;
            pre.newest = Some(Newest::new(policy.keep_last));
            let _ = walk::walk(
                &policy.root,
                walk::Options { mode: Mode::Plan, one_file_system: policy.one_file_system },
                &mut pre,
            );
            let (newest, held) = pre.newest.take().map(Newest::finish).unwrap_or_default();
            classifier.protect_newest(newest);
            if settings.apply {
                let would_delete = pre_summary.files.get(Action::Delete) - held;
                refused = policy.max_delete.and_then(|m| guard::max_delete(m, would_delete, pre_summary.files.total()));
            }
        }
        let mode = if settings.apply && refused.is_none() { Mode::Apply } else { Mode::Plan };
        let mut w = PolicyWalk::new(policy, classifier, reporter, &mut s, settings);
        w.refused = refused.is_some();
        let walked = walk::walk(&policy.root, walk::Options { mode, one_file_system: policy.one_file_system }, &mut w);
        out = w.output.take().map_or(Ok(()), Err);
        if let Err(e) = walked {
            let message = match e.err {
                Errno::NOENT => "root does not exist".to_string(),
                Errno::NOTDIR => "root is not a directory".to_string(),
                err => format!("cannot open root: {}", os_message(err)),
            };
            let path = policy.root.as_os_str().as_encoded_bytes();
            s.files.add(Action::Error, 1);
            s.problems.push(format!("{}: {message}", policy.root.display()));
            if out.is_ok() {
                out = reporter.error(&ErrorEvent { path, rel: b"", message: &message });
            }
        }
        if refused.is_none() && !settings.apply {
            refused =
                policy.max_delete.and_then(|m| guard::max_delete(m, s.files.get(Action::Delete), s.files.total()));
        }
        s.refused = refused;
        s.disk = disk(policy, &s, settings.apply);
    }

    s.exit = exit_of(&s);
    if let Some(d) = s.disk.as_ref().filter(|d| d.excess_bytes > 0) {
        let t = d.threshold.expect("excess is only computed against a threshold");
        let verb = if settings.apply { "this run freed" } else { "this plan would free" };
        let freed = if settings.apply { s.deleted_bytes } else { s.bytes.get(Action::Delete) };
        s.problems.push(format!(
            "filesystem of {} is {:.1}% full, above disk_fail_above {t}; {verb} {}; about {} more must go",
            policy.root.display(),
            d.used_ratio * 100.0,
            human_bytes(freed),
            human_bytes(d.excess_bytes)
        ));
    }
    s.duration = started.elapsed();
    if out.is_ok() {
        out = reporter.policy_end(&s);
    }
    (s, out)
}

/// The exit status of one policy: the lowest code among its problems.
fn exit_of(s: &PolicySummary) -> Exit {
    let mut e = Exit::Clean;
    if s.files.get(Action::Error) > 0 || s.failed > 0 || s.dirs_failed > 0 {
        e = e.and(Exit::Io);
    }
    if s.refused.is_some() {
        e = e.and(Exit::Refused);
    }
    if s.unmatched_fails && s.files.get(Action::Unmatched) > 0 {
        e = e.and(Exit::Unmatched);
    }
    if s.disk.as_ref().is_some_and(|d| d.excess_bytes > 0) {
        e = e.and(Exit::DiskFull);
    }
    e
}

/// The root's filesystem after the run. A plan estimates it from the sizes it would
/// delete (apparent sizes: blocks freed may differ a little).
fn disk(policy: &Policy, s: &PolicySummary, applied: bool) -> Option<Disk> {
    let st = rustix::fs::statvfs(&policy.root).ok()?;
    let used = st.f_blocks.saturating_sub(st.f_bfree).saturating_mul(st.f_frsize);
    let avail = st.f_bavail.saturating_mul(st.f_frsize);
    let used = if applied { used } else { used.saturating_sub(s.bytes.get(Action::Delete)) };
    let capacity = used + avail;
    if capacity == 0 {
        return None;
    }
    let used_ratio = used as f64 / capacity as f64;
    let excess_bytes = match policy.disk_fail_above {
        Some(t) if used_ratio * 100.0 > t.0 => used - (capacity as f64 * t.0 / 100.0) as u64,
        _ => 0,
    };
    Some(Disk { used_ratio, used_bytes: used, avail_bytes: avail, threshold: policy.disk_fail_above, excess_bytes })
}

/// One line describing a policy's retention and guards, for the text header.
fn describe(p: &Policy) -> String {
    let mut d = format!("keep {} in {}", p.keep, p.zone);
    if p.date_from == crate::policy::DateFrom::Mtime {
        d.push_str(", dates from mtime");
    }
    if p.keep_last > 0 {
        d.push_str(&format!(", keep_last {}", p.keep_last));
    }
    if !p.min_age.is_zero() {
        d.push_str(&format!(", min_age {}", crate::classify::human_secs(p.min_age.as_secs() as i64)));
    }
    if let Some(m) = p.max_delete {
        d.push_str(&format!(", max_delete {m}"));
    }
    d
}

/// "cutoff on business day Fri 2024-07-12; skipped Sun 2024-07-14 (weekend), ..."
pub fn describe_business(
    day: chrono::NaiveDate,
    skipped: &[(chrono::NaiveDate, crate::clock::calendar::Closure)],
) -> String {
    let mut d = format!("business day {}", day.format("%a %Y-%m-%d"));
    if !skipped.is_empty() {
        let days: Vec<String> = skipped.iter().map(|(d, why)| format!("{} ({why})", d.format("%a %Y-%m-%d"))).collect();
        d.push_str(&format!("; skipped {}", days.join(", ")));
    }
    d
}

/// The walk's visitor for one policy: classify, act, tally, report.
struct PolicyWalk<'r, 'p> {
    policy: &'p Policy,
    classifier: Classifier<'p>,
    reporter: &'r mut dyn Reporter,
    summary: &'r mut PolicySummary,
    /// Outcomes are real (apply), not predictions.
    apply: bool,
    /// A guard refused this policy: nothing is deleted.
    refused: bool,
    /// The filesystem said EROFS once: nothing more is attempted.
    read_only: bool,
    /// Set during the pre-pass for `keep_last`.
    newest: Option<Newest>,
    signal: &'r AtomicUsize,
    /// The report could not be written: stop.
    output: Option<io::Error>,
}

impl<'r, 'p> PolicyWalk<'r, 'p> {
    fn new(
        policy: &'p Policy,
        classifier: Classifier<'p>,
        reporter: &'r mut dyn Reporter,
        summary: &'r mut PolicySummary,
        settings: &'r Settings,
    ) -> Self {
        PolicyWalk {
            policy,
            classifier,
            reporter,
            summary,
            apply: settings.apply,
            refused: false,
            read_only: false,
            newest: None,
            signal: &settings.signal,
            output: None,
        }
    }

    fn report(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            self.output.get_or_insert(e);
        }
    }
}

const NOT_ATTEMPTED: &str = "Read-only file system (not attempted after the first failure)";

/// A file queued for deletion, with what its report needs once the outcome is known.
struct Doomed<'p> {
    path: Vec<u8>,
    rel_at: usize,
    size: u64,
    verdict: Verdict<'p>,
}

impl<'p> walk::Visitor for PolicyWalk<'_, 'p> {
    type Dir = DirCtx;
    type Pending = Doomed<'p>;

    fn root(&mut self) -> DirCtx {
        self.classifier.root()
    }

    fn enter(&mut self, parent: &DirCtx, name: &[u8]) -> DirCtx {
        self.classifier.enter(parent, name)
    }

    fn file(&mut self, dir: &DirCtx, e: &Entry) -> Decision<Doomed<'p>> {
        let verdict = self.classifier.classify(dir, e);
        let action = verdict.action;
        if let (Some(n), Some(p)) = (&mut self.newest, verdict.partition) {
            n.observe(p, action == Action::Delete);
        }
        self.summary.files.add(action, 1);
        self.summary.bytes.add(action, e.size);
        let (decision, outcome) = match action {
            Action::Delete if self.refused => (Decision::Keep, self.apply.then_some(FileOutcome::Refused)),
            // A plan: the walk learns the file would go, to predict emptied directories.
            Action::Delete if !self.apply => (Decision::WouldRemove, None),
            Action::Delete if self.read_only => {
                self.summary.failed += 1;
                (Decision::Keep, Some(FileOutcome::Failed(NOT_ATTEMPTED)))
            }
            Action::Delete => {
                // Reported when the outcome is known.
                let rel_at = e.path.len() - e.rel.len();
                return Decision::Remove(Doomed { path: e.path.to_vec(), rel_at, size: e.size, verdict });
            }
            _ => (Decision::Keep, None),
        };
        let event = FileEvent {
            path: e.path,
            rel: e.rel,
            bytes: e.size,
            verdict: &verdict,
            reasons: self.classifier.reason_text(),
            outcome,
        };
        let r = self.reporter.file(&event);
        self.report(r);
        decision
    }

    fn removed(&mut self, d: Doomed<'p>, result: Removal) {
        let s = &mut *self.summary;
        let message;
        let outcome = match result {
            Removal::Removed | Removal::Planned => {
                s.deleted += 1;
                s.deleted_bytes += d.size;
                FileOutcome::Deleted
            }
            Removal::Vanished => {
                s.vanished += 1;
                FileOutcome::Vanished
            }
            Removal::Failed(err) => {
                s.failed += 1;
                if err == Errno::ROFS && !self.read_only {
                    self.read_only = true;
                    s.problems.push(format!(
                        "{}: read-only filesystem; deletions under this root stopped after the first failure",
                        self.policy.root.display()
                    ));
                }
                message = os_message(err);
                FileOutcome::Failed(&message)
            }
        };
        let event = FileEvent {
            path: &d.path,
            rel: &d.path[d.rel_at..],
            bytes: d.size,
            verdict: &d.verdict,
            reasons: self.classifier.reason_text(),
            outcome: Some(outcome),
        };
        let r = self.reporter.file(&event);
        self.report(r);
    }

    fn error(&mut self, path: &[u8], trouble: DirTrouble, err: Errno) {
        let message = match trouble {
            DirTrouble::Unreadable => os_message(err),
            DirTrouble::Changed => "changed while being walked (replaced by a symlink or moved); not entered".into(),
        };
        self.summary.files.add(Action::Error, 1);
        let root_len = self.policy.root.as_os_str().len();
        let rel = path.get(root_len + 1..).unwrap_or_default();
        let r = self.reporter.error(&ErrorEvent { path, rel, message: &message });
        self.report(r);
    }

    fn vanished(&mut self, _path: &[u8]) {
        self.summary.vanished += 1;
    }

    fn mount(&mut self, path: &[u8]) {
        self.summary.mounts_skipped += 1;
        let r = self.reporter.mount(path);
        self.report(r);
    }

    fn remove_emptied(&mut self) -> bool {
        self.policy.remove_empty_dirs && !self.refused && !self.read_only
    }

    fn dir_removed(&mut self, path: &[u8], result: &Removal) {
        let error = match result {
            // Already reported once for the policy.
            Removal::Failed(Errno::ROFS) if self.read_only => return,
            Removal::Failed(e) => Some(os_message(*e)),
            Removal::Vanished => return,
            Removal::Planned | Removal::Removed => None,
        };
        if error.is_some() {
            self.summary.dirs_failed += 1;
        } else {
            self.summary.dirs_removed += 1;
        }
        let r = self.reporter.dir(&DirEvent { path, error: error.as_deref(), dry_run: !self.apply });
        self.report(r);
    }

    fn stop(&self) -> bool {
        self.output.is_some() || self.signal.load(Ordering::Relaxed) != 0
    }
}
