//! Closing one policy's run: the filesystem after it (real in `apply`, predicted in
//! `plan`, counting what earlier policies on the same filesystem free), whether the
//! capacity targets are met, whether the data is fresh, what the forecast is made of,
//! the problems as facts (the report words them) and the exit code.

use super::decide::Ledger;
use super::member::Member;
use super::summary::{Disk, Fresh, PolicySummary, Problem};
use crate::bucket::Action;
use crate::guard::forecast::{self, Outlook};
use crate::policy::Share;
use crate::tree::Root;
use crate::tree::local::open::OpenFiles;

/// The member's summary, closed. `before` is the filesystem's free bytes and inodes when
/// the root was opened; `now` the instant the run evaluates at; `max_delete` the limit
/// in force.
#[allow(clippy::too_many_arguments)]
pub fn summary(
    m: Member,
    max_delete: Option<crate::policy::MaxDelete>,
    root: Option<&Root>,
    before: Option<(u64, u64, u64)>,
    apply: bool,
    open: Option<&OpenFiles>,
    now: i64,
    ledger: &mut Ledger,
) -> PolicySummary {
    let policy = m.policy;
    let mut s = m.summary;
    // A refused policy deletes nothing: its plan frees nothing either, for its own disk
    // line and for the policies after it on the same filesystem (apply's filesystem
    // says the same).
    if s.refused.is_some() {
        s.freed_predicted = 0;
    }
    if let Some(root) = root {
        let earlier = ledger.freed.get(&root.id().dev).copied().unwrap_or_default();
        // What this plan frees: blocks of the files it deletes, and one inode per file
        // and per directory it removes. In apply the filesystem says it.
        let (freed, inodes) = if apply || s.refused.is_some() {
            (0, 0)
        } else {
            (s.freed_predicted, s.files.get(Action::Delete) + s.dirs_removed)
        };
        s.disk = disk(policy.disk_fail_above, root, earlier.0 + freed, open, before.map(|b| b.0));
        if !apply {
            let e = ledger.freed.entry(root.id().dev).or_default();
            e.0 += freed;
            e.1 += inodes;
        }
        // The filesystem's bytes in no policy's files, before the run. A file moved to
        // another root on the same filesystem is counted there, not twice.
        if let Some((_, _, used)) = before {
            let e = ledger.used.entry(root.id().dev).or_insert((used, 0));
            e.1 += s.allocated.saturating_sub(s.moved_within);
            let others = e.0.saturating_sub(e.1);
            if let Some(c) = s.capacity.as_mut() {
                c.used_by_others = Some(others);
            }
        }
        if let Some(c) = s.capacity.as_mut()
            && apply
            && let Some(st) = root.statvfs()
        {
            c.real_after = Some((st.f_bavail.saturating_mul(st.f_frsize), st.f_favail));
        }
        if let Some(recent) = m.recent.as_ref() {
            s.outlook = outlook(policy, root, recent, m.dated.saturating_sub(s.moved_within));
        }
    }
    s.newest_end = m.newest_end.as_ref().map(|(end, _)| *end);
    if let Some(expect) = policy.expect_fresh {
        let expect = i64::try_from(expect.as_secs()).unwrap_or(i64::MAX);
        let newest = m.newest_end.as_ref().map(|(end, date)| (date.to_string(), *end));
        let age = newest.as_ref().map(|(_, end)| now - end);
        let stale = age.is_none_or(|a| a > expect);
        s.fresh = Some(Fresh { expect, newest, age, stale });
    }
    problems(&mut s, policy, max_delete, apply);
    s.exit = s.exit_code();
    s
}

/// What the forecast is made of: the rate of the newest complete partitions, the
/// partitions `keep` holds at it, what the policy's dated files hold, and the alarm line.
/// The line is drawn on the filesystem's size as `disk_fail_above` measures it (used
/// plus available to users, as `df`'s Use%), so that a forecast above 1 foretells exactly
/// the exit 8 that `disk_fail_above` would give. A filesystem that reports no size
/// cannot be judged: no outlook.
fn outlook(policy: &crate::policy::Policy, root: &Root, recent: &forecast::Recent, held: u64) -> Option<Outlook> {
    let st = root.statvfs()?;
    let size = st.f_blocks.saturating_sub(st.f_bfree).saturating_add(st.f_bavail).saturating_mul(st.f_frsize);
    if size == 0 {
        return None;
    }
    let share = policy.disk_fail_above.map_or(100.0, |t| t.0);
    let line = (size as f64 * share / 100.0) as u64;
    let need = recent.rate().map(|r| (r, forecast::kept(policy.keep, r.spacing)));
    Some(Outlook { dev: root.id().dev, need, held, line, keep: policy.keep, threshold: policy.disk_fail_above })
}

/// The root's filesystem after the run. A plan subtracts what it (and earlier policies
/// on the same filesystem) would free.
fn disk(
    threshold: Option<Share>,
    root: &Root,
    freed: u64,
    open: Option<&OpenFiles>,
    before: Option<u64>,
) -> Option<Disk> {
    let st = root.statvfs()?;
    let used = st.f_blocks.saturating_sub(st.f_bfree).saturating_mul(st.f_frsize).saturating_sub(freed);
    let avail = st.f_bavail.saturating_mul(st.f_frsize) + freed;
    let capacity = used + avail;
    if capacity == 0 {
        return None;
    }
    let used_ratio = used as f64 / capacity as f64;
    let excess_bytes = match threshold {
        Some(t) if used_ratio * 100.0 > t.0 => used - (capacity as f64 * t.0 / 100.0) as u64,
        _ => 0,
    };
    let held_open = match (open, root.local()) {
        (Some(o), Some(r)) => o.deleted_under(r.id.dev, r.resolved.as_deref().unwrap_or(&r.path)),
        _ => (0, 0),
    };
    Some(Disk {
        used_ratio,
        used_bytes: used,
        avail_bytes: avail,
        avail_before: before.unwrap_or(avail),
        threshold,
        excess_bytes,
        held_open,
    })
}

/// The policy's problems, as facts (`report` words them).
fn problems(
    s: &mut PolicySummary,
    policy: &crate::policy::Policy,
    max_delete: Option<crate::policy::MaxDelete>,
    apply: bool,
) {
    if let Some(d) = s.disk.as_ref().filter(|d| d.excess_bytes > 0)
        && let Some(t) = d.threshold
    {
        let freed = if apply { s.deleted_bytes } else { s.freed_predicted };
        s.problems.push(Problem::DiskAbove {
            used_ratio: d.used_ratio,
            threshold: t,
            freed,
            planned: !apply,
            excess: d.excess_bytes,
        });
    }
    if let Some(why) = s.capacity.as_ref().and_then(|c| c.unknown.clone()) {
        s.problems.push(Problem::CapacityUnknown(why));
    }
    if let Some(c) = s.capacity.as_ref().filter(|c| !c.met() && (c.unknown.is_none() || !c.decision.met)) {
        use crate::guard::capacity::Floor;
        let mut floors: Vec<String> = c
            .decision
            .stopped_by
            .iter()
            .map(|f| match f {
                Floor::KeepMin => format!("keep_min {}", policy.capacity.keep_min),
                Floor::KeepLast => format!("keep_last {}", policy.keep_last),
                Floor::MaxDelete => match max_delete {
                    Some(m) => format!("max_delete {m}, at most that much kept data a night"),
                    None => "max_delete".to_string(),
                },
            })
            .collect();
        if floors.is_empty() {
            floors.push(format!("keep_min {}", policy.capacity.keep_min));
        }
        s.problems.push(Problem::CapacityNotMet { missing: c.decision.missing, refused: c.refused, floors });
    }
    let unmatched = s.files.get(Action::Unmatched);
    if unmatched > 0 && s.unmatched_fails() {
        s.problems.push(Problem::Unmatched(unmatched));
    }
    if let Some(f) = s.fresh.as_ref().filter(|f| f.stale) {
        let newest = match (&f.newest, f.age) {
            (Some((date, _)), Some(age)) => Some((date.clone(), age)),
            _ => None,
        };
        s.problems.push(Problem::Stale { expect: setting(f.expect), newest });
    }
}

/// A duration setting as it is written: `26h`, `2d`.
fn setting(secs: i64) -> String {
    if secs % 86400 == 0 { format!("{}d", secs / 86400) } else { format!("{}h", secs / 3600) }
}
