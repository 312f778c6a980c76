//! Whole-policy decisions taken between opening a root and the walk that acts: refusals
//! that need no walk (a dangerous root, a clock gone backwards), and, after the counting
//! walk, what `keep_last` protects, what capacity deletes for space, and whether
//! `max_delete` or `on_unmatched: refuse` refuses the policy.

use std::collections::BTreeMap;

use super::Ctx;
use super::events::{Level, Sink};
use super::member::Member;
use super::summary::CapacityReport;
use crate::classify::Override;
use crate::clock::{self, Cutoff, Period};
use crate::guard;
use crate::guard::auto::{self, Basis};
use crate::guard::capacity::{self, Before, Floor, Targets};
use crate::policy::{MaxDelete, OnUnmatched};
use crate::tree::Root;
use crate::tree::local::RootDir;

/// What a run knows of each filesystem (by device) across its roots.
#[derive(Debug, Default)]
pub struct Ledger {
    /// What earlier policies in this run are predicted to free (plan only: in apply the
    /// filesystem itself says what they freed): bytes and inodes.
    pub freed: BTreeMap<u64, (u64, u64)>,
    /// Bytes used when the run first opened a root there, and the bytes of the files of
    /// the policies walked there since: what is left is others'.
    pub used: BTreeMap<u64, (u64, u64)>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Ledger {
        Ledger::default()
    }
}

/// Refusals that need no walk: a dangerous root, a clock gone backwards.
pub fn before_walking(ctx: &Ctx, members: &mut [Member], root: &Root) {
    let danger = root.local().and_then(|r| ctx.system.refuse(&r.path, Some(r.id), r.resolved.as_deref()));
    let now = ctx.opts.now.resolve(&crate::clock::Zone::utc()).timestamp();
    let clock = if ctx.opts.system_clock {
        guard::clock(now, ctx.opts.previous_start, |t| {
            clock::local(chrono_tz::Tz::UTC, t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
    } else {
        None
    };
    let blind = ctx.open.map_or(0, |o| o.unreadable);
    for m in members.iter_mut().filter(|m| m.selected) {
        let refusal = match (&danger, &clock) {
            (Some(reason), _) => Some(guard::dangerous(reason.clone())),
            (None, Some(r)) => Some(r.clone()),
            (None, None) if blind > 0 && m.policy.skip_open && root.local().is_some() => Some(guard::blind(blind)),
            (None, None) => None,
        };
        if let Some(r) = refusal {
            m.refused = true;
            m.summary.refused = Some(r);
        }
    }
}

/// Opens the archive root of each member that moves files (`archive.to`), once: a
/// missing one, one that is a system directory, and one that a user other than the one
/// sweep runs as (or root) can write, or whose incoming directory is not sweep's own,
/// fails every move (exit 5), in plan as in apply. In apply, copies an interrupted run left in its incoming directory are
/// removed first.
pub fn open_archives(ctx: &Ctx, members: &mut [Member], root: &Root, apply: bool, sink: &mut dyn Sink) {
    // Where the root really is: an archive spelled outside it may still lie inside it
    // through a symlink (validation compares spellings), and would then be walked and
    // moved one level deeper every night.
    let real_root = root.local().map(|r| r.resolved.clone().unwrap_or_else(|| r.path.clone()));
    for m in members.iter_mut().filter(|m| m.selected) {
        let Some(a) = m.policy.tiers.archive.as_ref() else { continue };
        let to = a.to.display();
        m.archive = match RootDir::open(&a.to) {
            Ok(r)
                if real_root.as_ref().is_some_and(|root| {
                    let real = r.resolved.as_deref().unwrap_or(&r.path);
                    real.starts_with(root) || root.starts_with(real)
                }) =>
            {
                let real = r.resolved.as_deref().unwrap_or(&r.path).display().to_string();
                Err(format!(
                    "archive.to {to}: it is {real}, which contains the root or lies inside it (through a symlink): the archive must be outside the root"
                ))
            }
            Ok(r) => match ctx.system.refuse(&r.path, Some(r.id), r.resolved.as_deref()) {
                Some(reason) => Err(format!("archive.to {to}: {reason}")),
                // One that another user can write: a forgery could take an original's place.
                None => match crate::tree::local::tier::check_archive(&r.dir()) {
                    Err(reason) => Err(format!("archive.to {to}: {reason}")),
                    Ok(()) => Ok(Some((r.dir(), r.id))),
                },
            },
            Err(e) => Err(format!("archive.to {to}: {e}")),
        };
        match &m.archive {
            Err(why) => m.summary.problems.push(super::summary::Problem::Archive(why.clone())),
            Ok(Some(dir)) if apply => {
                let n = crate::tree::local::tier::clean_incoming(&dir.0);
                if n > 0 {
                    m.summary.tiers.leftovers += n as u64;
                    let what = if n == 1 { "copy" } else { "copies" };
                    let msg = format!("removed {n} incomplete {what} an interrupted run left in {to}/.sweep-incoming");
                    sink.diagnostic(Level::Warn, Some(&m.policy.name), &msg);
                }
            }
            Ok(_) => {}
        }
    }
}

/// After the counting walk, for one member: `keep_last`, capacity, then the refusals.
/// `beside` is what the other policies at the root free in the same walk (bytes,
/// inodes): capacity counts it, as the filesystem will after the walk.
#[allow(clippy::too_many_arguments)]
pub fn after_counting(
    m: &mut Member,
    cutoff: &Cutoff,
    max_delete: Option<MaxDelete>,
    root: &Root,
    ledger: &Ledger,
    beside: (u64, u64),
    now: chrono::DateTime<chrono_tz::Tz>,
) {
    if !m.selected || m.refused {
        return;
    }
    let mut overrides: BTreeMap<_, Override> = BTreeMap::new();
    let mut held = (0, 0);
    if let Some(n) = m.newest.take() {
        let (newest, h) = n.finish();
        held = h;
        for p in newest {
            overrides.entry(p).or_default().keep_last = true;
        }
    }
    let mut plan = m.planned;
    plan.delete = plan.delete.saturating_sub(held.0);
    plan.bytes = plan.bytes.saturating_sub(held.1);
    // `auto` without a median to go by acts as its span: a second floor for capacity
    // too, as a span written in the policy is.
    let span = match (max_delete, &m.auto) {
        (Some(MaxDelete::Span(s)), _) => Some(s),
        (Some(MaxDelete::Auto { .. }), Some(Basis::Learned(_))) => None,
        (Some(MaxDelete::Auto { .. }), _) => Some(auto::span()),
        _ => None,
    };

    let keep_last = |o: &BTreeMap<Period, Override>, p: Period| o.get(&p).is_some_and(|o| o.keep_last);
    let mut census = m.census.take();
    if let Some(c) = census.as_mut() {
        for (p, _) in overrides.iter().filter(|(_, o)| o.keep_last) {
            c.hold(*p);
        }
    }
    let thin = m.policy.tiers.thin;
    if let Some(census) = census.as_mut().filter(|_| thin.any()) {
        let kept = guard::thin::keep(thin, census.expired(), m.policy.zone.tz());
        for (period, (rule, bucket)) in kept {
            // Held by keep_last already (and subtracted from the plan).
            if keep_last(&overrides, period) {
                continue;
            }
            let (files, bytes) = census.spare(period);
            plan.delete = plan.delete.saturating_sub(files);
            plan.bytes = plan.bytes.saturating_sub(bytes);
            overrides.entry(period).or_default().thinned = Some((rule, bucket.into()));
        }
        plan.earliest = census.earliest_delete();
    }
    if let Some(census) = census.filter(|_| m.policy.capacity.any()) {
        let c = m.policy.capacity;
        let st = root.statvfs();
        let (ledger_bytes, ledger_inodes) = ledger.freed.get(&root.id().dev).copied().unwrap_or_default();
        let before = Before {
            free: st.as_ref().map_or(0, |s| s.f_bavail.saturating_mul(s.f_frsize)) + ledger_bytes + beside.0,
            inodes: st.as_ref().map_or(0, |s| s.f_favail) + ledger_inodes + beside.1,
            bytes: census.bytes,
        };
        // A filesystem that reports no size (or no inodes), or none at all, cannot be
        // judged: a share of nothing, or a free count of nothing, is no reason to
        // delete kept data. Nothing goes for that target, and the run says so.
        let blocks = st.as_ref().map_or(0, |s| s.f_blocks);
        let files = st.as_ref().map_or(0, |s| s.f_files);
        let mut unknown = Vec::new();
        if c.min_free.is_some() && blocks == 0 {
            unknown.push(("min_free", if st.is_some() { "it reports 0 blocks" } else { "statvfs failed" }));
        }
        if c.min_free_inodes.is_some() && files == 0 {
            unknown.push(("min_free_inodes", if st.is_some() { "it reports 0 inodes" } else { "statvfs failed" }));
        }
        let known = |k: &str| !unknown.iter().any(|(t, _)| *t == k);
        let targets = Targets {
            free: c
                .min_free
                .filter(|_| known("min_free"))
                .map(|a| a.of(blocks.saturating_mul(st.as_ref().map_or(0, |s| s.f_frsize)))),
            inodes: c.min_free_inodes.filter(|_| known("min_free_inodes")).map(|a| a.of(files)),
            bytes: c.max_bytes,
        };
        let floor = clock::cutoff(c.keep_min, now, &m.policy.calendar).timestamp();
        // A span max_delete is a second floor: however full another user makes the
        // filesystem, one night deletes at most that span of kept data.
        let span_end = span.map(|s| clock::span_end(cutoff, s, &m.policy.calendar));
        let remove_dirs = m.policy.remove_empty_dirs;
        let age = census.age_plan(remove_dirs);
        let decision = capacity::choose(targets, before, &census, age, remove_dirs, |p| {
            if p.end > floor {
                Err(Floor::KeepMin)
            } else if keep_last(&overrides, p) {
                Err(Floor::KeepLast)
            } else if span_end.is_some_and(|e| p.start >= e) {
                Err(Floor::MaxDelete)
            } else {
                Ok(())
            }
        });
        for (period, place) in &decision.chosen {
            overrides.entry(*period).or_default().for_space.push(place.clone());
            let start = period.start;
            plan.earliest = Some(plan.earliest.map_or(start, |e| e.min(start)));
        }
        plan.delete += decision.files;
        plan.bytes += decision.size;
        let unknown = (!unknown.is_empty()).then(|| {
            let (targets, why): (Vec<&str>, Vec<&str>) = unknown.into_iter().unzip();
            format!(
                "cannot judge free space on the filesystem of {} ({}): nothing is deleted for {}",
                m.policy.root.display(),
                why[0],
                targets.join(" or ")
            )
        });
        m.summary.capacity =
            Some(CapacityReport { decision, real_after: None, refused: false, unknown, used_by_others: None });
    }
    m.classifier.set_overrides(overrides);

    let tz = m.policy.zone.tz();
    let describe = |t: i64| clock::local(tz, t).to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let refusal = if let Some(t) = &m.table {
        Some(guard::table(t, plan.delete))
    } else if m.policy.on_unmatched == OnUnmatched::Refuse && plan.unmatched > 0 {
        guard::unmatched(plan.unmatched, plan.delete)
    } else if plan.delete == 0 {
        None
    } else {
        max_delete.and_then(|limit| match (limit, &m.auto) {
            (MaxDelete::Auto { .. }, Some(Basis::Learned(learned))) => auto::refuse(learned, &plan),
            (MaxDelete::Auto { .. }, basis) => {
                let why = match basis {
                    Some(Basis::Span(why)) => why.clone(),
                    _ => auto::Why::Untrusted("no history was read".to_string()),
                };
                let span = auto::span();
                let start = clock::span_start(cutoff, span, &m.policy.calendar);
                guard::max_delete(MaxDelete::Span(span), &plan, Some(start), describe).map(|r| auto::as_span(r, &why))
            }
            (limit, _) => {
                let span = match limit {
                    MaxDelete::Span(s) => Some(clock::span_start(cutoff, s, &m.policy.calendar)),
                    _ => None,
                };
                guard::max_delete(limit, &plan, span, describe)
            }
        })
    };
    if let Some(a) = m.summary.auto.as_mut() {
        a.would = Some((plan.delete, plan.bytes));
    }
    if let Some(r) = refusal {
        m.refused = true;
        m.summary.refused = Some(r);
        if let Some(c) = m.summary.capacity.as_mut() {
            c.refused = true;
        }
    }
}
