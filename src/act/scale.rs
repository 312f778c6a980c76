//! A bucket root at scale: the inventory report a plan comes from, the directories the
//! plan acts in (listed live), and the lease held while acting.
//!
//! Before the walks, [`prepare`] reads the newest complete report (`inventory:`) and, in
//! `apply`, takes the lease (`lease: true`). Either failing stops the root's policies
//! before anything is listed or touched: a report that is missing, damaged or older than
//! `inventory_max_age` is an error (exit 5), never a silent fall back to listing; a lease
//! another runner holds is exit 4, as the local lock is. The counting walk then reads
//! only the report and notes, in a [`Live`] set, every directory where the plan acts;
//! the acting walk lists exactly those live (and, below them, what the report does not
//! know). [`finish`] releases the lease and records what the run used.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::events::{ErrorEvent, Level, Sink};
use super::member::Member;
use super::shard::Shard;
use super::summary::{InventoryUse, Problem};
use crate::bucket::Action;
use crate::tree::Root;
use crate::tree::object::{Lease, LeaseError, Report};

/// The directories a plan from a report acts in: each listed live by the acting walk.
/// Memory follows the directories acted in (one night's partitions), not the report.
#[derive(Debug, Default)]
pub struct Live {
    dirs: HashSet<Vec<u8>>,
    /// Places whose whole subtree goes (for space): every directory below is live.
    below: Vec<Vec<u8>>,
}

impl Live {
    /// Notes the directory of the file at `rel` (below the root), and its ancestors, so
    /// that the walk reaches it through live listings that show what is new there.
    pub fn add_file(&mut self, rel: &[u8]) {
        self.add_dir(super::shard::key_of(rel));
    }

    /// Notes the directory `rel` and its ancestors.
    fn add_dir(&mut self, rel: &[u8]) {
        let mut dir = rel;
        while self.dirs.insert(dir.to_vec()) && !dir.is_empty() {
            dir = super::shard::key_of(dir);
        }
    }

    /// Notes the place `rel` and everything below it.
    pub fn add_below(&mut self, rel: &[u8]) {
        self.add_dir(rel);
        self.below.push(rel.to_vec());
    }

    /// Whether the directory at `rel` is listed live.
    pub fn contains(&self, rel: &[u8]) -> bool {
        self.dirs.contains(rel) || self.below.iter().any(|b| rel.starts_with(b) && rel.get(b.len()) == Some(&b'/'))
    }

    /// Directories noted.
    pub fn count(&self) -> usize {
        self.dirs.len()
    }
}

/// What a root's run holds besides its walks.
#[derive(Default)]
pub struct Scale {
    /// The report the plan comes from.
    pub report: Option<Arc<Report>>,
    /// The lease held while acting.
    pub lease: Option<Lease>,
    /// Nothing may be listed or done at this root (the report or the lease failed).
    pub stop: bool,
}

impl Scale {
    /// The flag that stops the acting walk when the lease is lost.
    pub fn halt(&self) -> Option<Arc<AtomicBool>> {
        self.lease.as_ref().map(Lease::lost_flag)
    }
}

/// Reads the report and takes the lease the root's first policy asks for.
pub fn prepare(
    members: &mut [Member],
    root: &Root,
    apply: bool,
    shard: Option<Shard>,
    now: i64,
    sink: &mut dyn Sink,
) -> Scale {
    let mut scale = Scale::default();
    let (Some(bucket), Some(first)) = (root.object(), members.first()) else { return scale };
    let at = first.policy.at_scale.clone();
    let root_path = first.policy.root.clone();
    if let Some(inv) = &at.inventory {
        match bucket.open_report(inv, now) {
            Ok(r) => scale.report = Some(r),
            Err(why) => {
                for m in members.iter_mut().filter(|m| m.selected) {
                    m.summary.files.add(Action::Error, 1);
                    m.summary.problems.push(Problem::Inventory(why.clone()));
                    let path = root_path.as_os_str().as_encoded_bytes();
                    let _ = sink.error(&ErrorEvent { policy: &m.policy.name, path, rel: b"", message: &why });
                }
                scale.stop = true;
                return scale;
            }
        }
    }
    if let Some(ttl) = at.lease.filter(|_| apply) {
        let name = shard.map_or_else(|| ".sweep-lease".to_string(), Shard::lease_name);
        match bucket.take_lease(&name, ttl) {
            Ok(lease) => {
                if let Some(who) = &lease.took_over {
                    let msg = format!("{}: took over the stale lease of {who}", lease.url);
                    sink.diagnostic(Level::Warn, Some(&first.policy.name), &msg);
                }
                for m in members.iter_mut().filter(|m| m.selected) {
                    m.summary.lease = Some((lease.url.clone(), lease.took_over.clone()));
                }
                scale.lease = Some(lease);
            }
            Err(e) => {
                let problem = match e {
                    LeaseError::Held(who) => Problem::LeaseHeld(who),
                    LeaseError::Failed(why) => Problem::Lease(why),
                };
                for m in members.iter_mut().filter(|m| m.selected) {
                    m.summary.problems.push(problem.clone());
                }
                scale.stop = true;
            }
        }
    }
    scale
}

/// Releases the lease and records what the run used: the report, the live directories,
/// a lease lost mid-run.
pub fn finish(scale: Scale, members: &mut [Member], root: &Root, live: usize) {
    if let Some(r) = &scale.report {
        let used = InventoryUse {
            date: r.date.clone(),
            created: r.created,
            manifest: r.manifest.clone(),
            keys: r.keys,
            live: live as u64,
        };
        for m in members.iter_mut().filter(|m| m.selected) {
            m.summary.inventory = Some(used.clone());
        }
    }
    let Some(lease) = scale.lease else { return };
    let mut problem = lease
        .lost()
        .map(|why| Problem::Lease(format!("{} was lost mid-run ({why}): the run stopped acting at once", lease.url)));
    if let Some(bucket) = root.object()
        && let Err(why) = bucket.release(lease)
    {
        problem.get_or_insert(Problem::Lease(format!("releasing it: {why}")));
    }
    if let Some(p) = problem {
        for m in members.iter_mut().filter(|m| m.selected) {
            m.summary.problems.push(p.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_makes_its_directory_and_their_ancestors_live() {
        let mut l = Live::default();
        l.add_file(b"events/dt=2024-07-01/hour=05/part-0.parquet");
        for d in [&b"events/dt=2024-07-01/hour=05"[..], b"events/dt=2024-07-01", b"events", b""] {
            assert!(l.contains(d), "{}", String::from_utf8_lossy(d));
        }
        assert!(!l.contains(b"events/dt=2024-07-02"));
        l.add_below(b"events/dt=2024-07-03");
        assert!(l.contains(b"events/dt=2024-07-03/hour=00") && !l.contains(b"events/dt=2024-07-030"));
    }
}
