//! Running policies: for each root, the cutoffs, the guards, the walk, the tally and the
//! exit status. This is where the flow meets: policy → clock → tree → classify → guard →
//! act, with every event going to a [`Sink`] (`report` implements them).
//!
//! Policies that share a root are walked together, once. A root's run is one walk, or
//! two when a guard needs the whole plan before anything may be deleted (`keep_last`
//! must know the newest partitions; `max_delete` and `on_unmatched: refuse` must know
//! the counts): the first walk is read-only and silent, and lists names only unless a
//! policy needs sizes or times to classify; the second classifies the same way, with the
//! guards' answers, reports and acts.

pub mod events;
pub mod explain;
pub mod summary;
mod visit;

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime};

use rustix::io::Errno;

use crate::action::Action;
use crate::classify::{Classifier, Override};
use crate::clock::{self, Now};
use crate::exit::Exit;
use crate::guard::{self, Newest, Refusal, SystemDirs};
use crate::policy::set::Group;
use crate::policy::{DateFrom, MaxDelete, OnUnmatched, PolicySet};
use crate::tree::local::open::OpenFiles;
use crate::tree::local::{self, Budget, Root};
use crate::tree::{DirId, Mode, os_message};
use events::{ErrorEvent, Level, PolicyStart, Sink};
use summary::{Disk, PolicySummary, RunSummary};
use visit::{GroupWalk, Member, Pass};

/// How a run is done.
pub struct Options<'a> {
    /// Plan or apply.
    pub mode: Mode,
    /// The time to evaluate at.
    pub now: Now,
    /// Whether `now` is the system clock (the clock guard checks only that).
    pub system_clock: bool,
    /// `--max-delete`: replaces every selected policy's `max_delete` (`None` lifts it).
    pub max_delete: Option<Option<MaxDelete>>,
    /// The previous run's start, from the metrics file, for the clock guard.
    pub previous_start: Option<i64>,
    /// Set to a signal number by SIGINT/SIGTERM handlers; 0 while running.
    pub signal: &'a AtomicUsize,
}

/// Runs the `selected` policies of `set` (indices into `set.policies`), root by root, in
/// load order.
pub fn run(set: &PolicySet, selected: &[bool], opts: &Options, sink: &mut dyn Sink) -> RunSummary {
    let started = SystemTime::now();
    let mut summary = RunSummary { dry_run: opts.mode == Mode::Plan, exit: Exit::Clean, policies: Vec::new(), started };
    let chosen = |i: &usize| selected.get(*i).copied().unwrap_or(false);
    let system = SystemDirs::read();
    let wants_open = set.policies.iter().enumerate().any(|(i, p)| chosen(&i) && p.skip_open);
    let open = if wants_open {
        match OpenFiles::scan() {
            Ok(o) => Some(o),
            Err(e) => {
                sink.diagnostic(Level::Warn, None, &format!("{e}; skip_open cannot see open files and protects none"));
                None
            }
        }
    } else {
        None
    };
    let ctx = Ctx { set, opts, system: &system, open: open.as_ref(), budget: Budget::from_limit() };
    for group in set.groups() {
        if !group.members.iter().any(chosen) {
            continue;
        }
        let (done, output) = run_group(&ctx, &group, selected, sink);
        for s in done {
            summary.exit = summary.exit.and(s.exit);
            summary.policies.push(s);
        }
        if let Err(e) = output {
            summary.exit = summary.exit.and(if e.kind() == std::io::ErrorKind::BrokenPipe {
                Exit::Interrupted(13)
            } else {
                sink.diagnostic(Level::Error, None, &format!("cannot write the report: {e}"));
                Exit::Internal
            });
            return summary;
        }
        let sig = opts.signal.load(Ordering::SeqCst);
        if sig != 0 {
            summary.exit = summary.exit.and(Exit::Interrupted(i32::try_from(sig).unwrap_or(15)));
            sink.diagnostic(Level::Error, None, &format!("interrupted by signal {sig}; stopped at the next file"));
            return summary;
        }
    }
    summary
}

struct Ctx<'a> {
    set: &'a PolicySet,
    opts: &'a Options<'a>,
    system: &'a SystemDirs,
    open: Option<&'a OpenFiles>,
    budget: Budget,
}

/// Runs the policies at one root. Returns the selected members' summaries, and the
/// state of the output (an error stops the run).
fn run_group(
    ctx: &Ctx,
    group: &Group,
    selected: &[bool],
    sink: &mut dyn Sink,
) -> (Vec<PolicySummary>, std::io::Result<()>) {
    let started = Instant::now();
    let opts = ctx.opts;
    let apply = opts.mode == Mode::Apply;
    let mut members: Vec<Member> = Vec::new();
    let mut cutoffs = Vec::new();
    for &i in &group.members {
        let policy = &ctx.set.policies[i];
        let now = opts.now.resolve(&policy.zone);
        let cutoff = clock::cutoff(policy.keep, now, &policy.calendar);
        let classifier = Classifier::new(policy, &cutoff, now.timestamp(), ctx.open);
        let mut m = Member::new(policy, classifier, selected.get(i).copied().unwrap_or(false));
        m.summary.cutoff = Some((cutoff.rfc3339(), cutoff.timestamp()));
        m.summary.unmatched_fails = policy.on_unmatched == OnUnmatched::Fail;
        members.push(m);
        cutoffs.push(cutoff);
    }
    let max_delete = |m: &Member| opts.max_delete.unwrap_or(m.policy.max_delete);
    let mut out = Ok(());
    for (m, cutoff) in members.iter().zip(&cutoffs) {
        if m.selected && out.is_ok() {
            out = sink.policy_start(&PolicyStart { policy: m.policy, cutoff, max_delete: max_delete(m) });
        }
    }

    let root = match Root::open(&group.root) {
        Ok(r) => Some(r),
        Err(err) => {
            let message = match err {
                Errno::NOENT => "root does not exist".to_string(),
                Errno::NOTDIR => "root is not a directory".to_string(),
                err => format!("cannot open root: {}", os_message(err)),
            };
            for m in members.iter_mut().filter(|m| m.selected) {
                m.summary.files.add(Action::Error, 1);
                m.summary.problems.push(format!("{}: {message}", group.root.display()));
                if out.is_ok() {
                    let path = group.root.as_os_str().as_bytes();
                    out = sink.error(&ErrorEvent { policy: &m.policy.name, path, rel: b"", message: &message });
                }
            }
            None
        }
    };

    if let Some(root) = &root {
        refuse_before_walking(ctx, &mut members, root);
        let nested = nested_roots(ctx.set, group);
        let needs_prepass = members.iter().any(|m| {
            m.selected
                && !m.refused
                && (m.policy.keep_last > 0 || max_delete(m).is_some() || m.policy.on_unmatched == OnUnmatched::Refuse)
        });
        if needs_prepass && out.is_ok() {
            let stat = members.iter().any(|m| !m.policy.min_age.is_zero() || m.policy.date_from == DateFrom::Mtime);
            for m in members.iter_mut().filter(|m| m.policy.keep_last > 0) {
                m.newest = Some(Newest::new(m.policy.keep_last));
            }
            let mut silent = events::Fanout(Vec::new());
            let mut w = GroupWalk::new(members, &mut silent, Pass::Count, nested.clone(), root.id, opts.signal);
            let options = local::Options { mode: Mode::Plan, one_file_system: true, stat, budget: ctx.budget };
            local::walk(root, local::Options { one_file_system: one_fs(&w.members), ..options }, &mut w);
            members = w.members;
            for (m, cutoff) in members.iter_mut().zip(&cutoffs) {
                decide_guards(m, cutoff, max_delete(m));
            }
        }
        if out.is_ok() {
            let acting = apply && members.iter().any(|m| m.selected && !m.refused);
            let mut w = GroupWalk::new(members, sink, Pass::Act { apply }, nested, root.id, opts.signal);
            let mode = if acting { Mode::Apply } else { Mode::Plan };
            let options = local::Options { mode, one_file_system: one_fs(&w.members), stat: true, budget: ctx.budget };
            local::walk(root, options, &mut w);
            out = w.output.take().map_or(Ok(()), Err);
            members = w.members;
        }
    }

    let mut done = Vec::new();
    for m in members.into_iter().filter(|m| m.selected) {
        let mut s = m.summary;
        if let Some(root) = &root {
            s.disk = disk(m.policy.disk_fail_above, root, &s, apply, ctx.open);
        }
        s.exit = s.exit_code();
        if let Some(d) = s.disk.as_ref().filter(|d| d.excess_bytes > 0)
            && let Some(t) = d.threshold
        {
            let verb = if apply { "this run freed" } else { "this plan would free" };
            let freed = if apply { s.deleted_bytes } else { s.bytes.get(Action::Delete) };
            s.problems.push(format!(
                "filesystem of {} is {:.1}% full, above disk_fail_above {t}; {verb} {}; about {} more must go",
                s.root.display(),
                d.used_ratio * 100.0,
                indicatif::HumanBytes(freed),
                indicatif::HumanBytes(d.excess_bytes)
            ));
        }
        let unmatched = s.files.get(Action::Unmatched);
        if unmatched > 0 && s.unmatched_fails {
            s.problems.push(format!(
                "{unmatched} files under {} match no layout (on_unmatched: fail): a new upstream layout?",
                s.root.display()
            ));
        }
        s.duration = started.elapsed();
        diagnose(&s, m.policy.on_unmatched, sink);
        if out.is_ok() {
            out = sink.policy_end(&s);
        }
        done.push(s);
    }
    (done, out)
}

/// Whether the walk stays on the root's filesystem: unless every policy there allows
/// crossing, it does.
fn one_fs(members: &[Member]) -> bool {
    members.iter().any(|m| m.policy.one_file_system)
}

/// Refusals that need no walk: a dangerous root, a clock gone backwards.
fn refuse_before_walking(ctx: &Ctx, members: &mut [Member], root: &Root) {
    let danger = ctx.system.refuse(&root.path, Some(root.id), root.resolved.as_deref());
    let now = ctx.opts.now.resolve(&crate::clock::Zone::utc()).timestamp();
    let clock = if ctx.opts.system_clock {
        guard::clock(now, ctx.opts.previous_start, |t| {
            clock::local(chrono_tz::Tz::UTC, t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
    } else {
        None
    };
    for m in members.iter_mut().filter(|m| m.selected) {
        let refusal = match (&danger, &clock) {
            (Some(reason), _) => {
                Some(Refusal { guard: "dangerous_root", reason: reason.clone(), would_delete: 0, limit: None })
            }
            (None, Some(r)) => Some(r.clone()),
            (None, None) => None,
        };
        if let Some(r) = refusal {
            m.refused = true;
            m.summary.refused = Some(r);
        }
    }
}

/// After the counting walk: what `keep_last` protects, and whether `max_delete` or
/// `on_unmatched: refuse` refuses the policy.
fn decide_guards(m: &mut Member, cutoff: &clock::Cutoff, max_delete: Option<MaxDelete>) {
    if !m.selected || m.refused {
        return;
    }
    let mut held = 0;
    if let Some(n) = m.newest.take() {
        let (newest, h) = n.finish();
        held = h;
        let overrides: BTreeMap<_, _> = newest.into_iter().map(|p| (p, Override::KeepLast)).collect();
        m.classifier.set_overrides(overrides);
    }
    let mut plan = m.planned;
    plan.delete = plan.delete.saturating_sub(held);
    let tz = m.policy.zone.tz();
    let describe = |t: i64| clock::local(tz, t).to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let refusal = if m.policy.on_unmatched == OnUnmatched::Refuse && plan.unmatched > 0 {
        guard::unmatched(plan.unmatched, plan.delete)
    } else if plan.delete == 0 {
        None
    } else {
        max_delete.and_then(|limit| {
            let span = match limit {
                MaxDelete::Span(s) => Some(clock::span_start(cutoff, s, &m.policy.calendar)),
                _ => None,
            };
            guard::max_delete(limit, &plan, span, describe)
        })
    };
    if let Some(r) = refusal {
        m.refused = true;
        m.summary.refused = Some(r);
    }
}

/// Other policies' roots inside this group's: relative path, identity (when the
/// directory exists now), owner.
fn nested_roots<'p>(set: &'p PolicySet, group: &Group) -> Vec<(Vec<u8>, Option<DirId>, &'p str)> {
    set.nested_in(&group.root)
        .into_iter()
        .filter_map(|n| {
            let rel = n.root.strip_prefix(&group.root).ok()?.as_os_str().as_bytes().to_vec();
            let id = std::fs::metadata(&n.root).ok().map(|m| DirId { dev: m.dev(), ino: m.ino() });
            Some((rel, id, set.policies[n.owner].name.as_str()))
        })
        .collect()
}

/// The root's filesystem after the run. A plan estimates it from the sizes it would
/// delete (apparent sizes: blocks freed may differ a little).
fn disk(
    threshold: Option<crate::policy::Share>,
    root: &Root,
    s: &PolicySummary,
    applied: bool,
    open: Option<&OpenFiles>,
) -> Option<Disk> {
    let st = root.statvfs().ok()?;
    let used = st.f_blocks.saturating_sub(st.f_bfree).saturating_mul(st.f_frsize);
    let avail = st.f_bavail.saturating_mul(st.f_frsize);
    let used = if applied { used } else { used.saturating_sub(s.bytes.get(Action::Delete)) };
    let capacity = used + avail;
    if capacity == 0 {
        return None;
    }
    let used_ratio = used as f64 / capacity as f64;
    let excess_bytes = match threshold {
        Some(t) if used_ratio * 100.0 > t.0 => used - (capacity as f64 * t.0 / 100.0) as u64,
        _ => 0,
    };
    let held_open = open.map_or((0, 0), |o| o.deleted_on(root.id.dev));
    Some(Disk { used_ratio, used_bytes: used, avail_bytes: avail, threshold, excess_bytes, held_open })
}

/// One policy's diagnostics on stderr: what went wrong, in a line each.
fn diagnose(s: &PolicySummary, on_unmatched: OnUnmatched, sink: &mut dyn Sink) {
    let name = Some(s.name.as_str());
    for p in &s.problems {
        sink.diagnostic(Level::Error, name, p);
    }
    if let Some(r) = &s.refused {
        sink.diagnostic(Level::Error, name, &format!("refused by {}: {}", r.guard, r.reason));
    }
    let unmatched = s.files.get(Action::Unmatched);
    if unmatched > 0 && on_unmatched != OnUnmatched::Fail {
        let how = if on_unmatched == OnUnmatched::Warn { "warn" } else { "refuse" };
        let msg = format!("{unmatched} files under {} match no layout (on_unmatched: {how})", s.root.display());
        sink.diagnostic(Level::Warn, name, &msg);
    }
    if s.files.get(Action::Error) > 0 || s.failed > 0 {
        let msg = format!("{} entries could not be read, {} deletions failed", s.files.get(Action::Error), s.failed);
        sink.diagnostic(Level::Error, name, &msg);
    }
}
