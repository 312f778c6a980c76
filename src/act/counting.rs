//! The counting walk: read-only and silent, it gathers what the whole-policy decisions
//! need before anything is deleted — the plan's counts for `max_delete` and
//! `on_unmatched: refuse`, the newest partitions for `keep_last`, partition statistics
//! for thinning and capacity, and the tables that refuse a policy. `apply` always
//! counts first (a table anywhere under a root must refuse the policy before its first
//! deletion); `plan` counts when a guard needs the numbers.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::arrivals::Planned as PlannedArrivals;
use super::cohort::{Cohort, DirState, Entering, Judged};
use crate::bucket::Action;
use crate::classify::place_of;
use crate::tree::{Arrivals, Decision, DirFacts, DirTrouble, Enter, Entry, Removal, TableFormat, Untrusted, Visitor};

/// The counting walk's visitor.
pub struct Counting<'c, 'p> {
    cohort: &'c mut Cohort<'p>,
    /// Plan mode: what earlier policies move into this root, and this root's place in
    /// the run.
    arrivals: Option<(&'c PlannedArrivals, usize)>,
    root_path: &'c [u8],
    signal: &'c AtomicUsize,
}

impl<'c, 'p> Counting<'c, 'p> {
    /// A counting walk over `cohort`'s root (shown as `root_path`).
    pub fn new(
        cohort: &'c mut Cohort<'p>,
        arrivals: Option<(&'c PlannedArrivals, usize)>,
        root_path: &'c [u8],
        signal: &'c AtomicUsize,
    ) -> Counting<'c, 'p> {
        Counting { cohort, arrivals, root_path, signal }
    }

    /// Notes a table that the members not excluding it must refuse for.
    fn table(&mut self, dir: &DirState<'p>) {
        for i in 0..self.cohort.members.len() {
            if let Some(t) = self.cohort.table_for(dir, i) {
                let m = &mut self.cohort.members[i];
                if m.selected && m.table.is_none() {
                    m.table = Some(t);
                }
            }
        }
    }
}

impl<'p> Visitor for Counting<'_, 'p> {
    type Dir = DirState<'p>;
    type Pending = ();

    fn root(&mut self, table: Option<TableFormat>) -> DirState<'p> {
        let d = self.cohort.root(table, self.root_path);
        self.table(&d);
        d
    }

    fn enter(
        &mut self,
        parent: &DirState<'p>,
        name: &[u8],
        rel: &[u8],
        path: &[u8],
        facts: DirFacts,
    ) -> Enter<DirState<'p>> {
        let fresh_table = facts.table.is_some() && parent.table.is_none();
        match self.cohort.enter(parent, name, rel, path, facts) {
            Entering::Walk(d) => {
                for (m, c) in self.cohort.members.iter_mut().zip(&d.ctx) {
                    if let (Some(census), Some((period, at))) = (m.census.as_mut(), m.classifier.dir_partition(c)) {
                        census.dir(period, place_of(rel, at));
                    }
                }
                if fresh_table {
                    self.table(&d);
                }
                Enter::Walk(d)
            }
            Entering::Nested(_) | Entering::Mount => Enter::Skip,
        }
    }

    fn arrivals(&mut self, _dir: &DirState<'p>, rel: &[u8]) -> Arrivals {
        self.arrivals.map(|(a, group)| a.arriving(group, rel)).unwrap_or_default()
    }

    fn has_markers(&self, _dir: &DirState<'p>) -> bool {
        self.cohort.has_markers()
    }

    fn is_marker(&self, _dir: &DirState<'p>, name: &[u8]) -> bool {
        self.cohort.is_marker(name)
    }

    fn acts_on_temporary(&mut self, dir: &DirState<'p>, name: &[u8], rel: &[u8]) -> bool {
        self.cohort.acts_on(dir, name, rel)
    }

    fn markers_done(&mut self, dir: &mut DirState<'p>) {
        dir.markers_done();
    }

    fn file(&mut self, dir: &mut DirState<'p>, e: &Entry) -> Decision<()> {
        let Judged::Owned { member, verdict, marker } = self.cohort.judge(dir, e) else { return Decision::Keep };
        if marker {
            dir.marker(member, e.name, &verdict);
        }
        let frees = self.cohort.frees(e);
        let m = &mut self.cohort.members[member];
        let action = verdict.action;
        m.planned.add(action, verdict.partition, e.size, if frees { e.allocated } else { 0 });
        if let Some(c) = m.census.as_mut() {
            let kept = matches!(action, Action::Keep | Action::Compress | Action::Move);
            let protected = kept && m.classifier.protected_if_expired(e);
            c.file(e, action, verdict.partition, place_of(e.rel, verdict.place), protected, frees);
        }
        if let (Some(n), Some(p)) = (&mut m.newest, verdict.partition) {
            n.observe(p, action == Action::Delete, e.size);
        }
        if action == Action::Delete
            && self.cohort.mine(e.rel)
            && let Some(live) = self.cohort.live.as_mut()
        {
            live.add_file(e.rel);
        }
        Decision::Keep
    }

    fn removed(&mut self, _pending: (), _result: Removal) {}

    fn error(&mut self, _path: &[u8], _trouble: DirTrouble, _err: rustix::io::Errno) {}

    fn service_error(&mut self, _path: &[u8], _message: &str) {}

    fn remove_emptied(&mut self, _dir: &DirState<'p>, _parent: &mut DirState<'p>) -> Option<u32> {
        None
    }

    fn dir_removed(&mut self, _path: &[u8], _by: u32, _result: Removal) {}

    fn stop(&self) -> bool {
        self.signal.load(Ordering::Relaxed) != 0
    }

    fn untrusted(&mut self, _dir: &mut DirState<'p>, _path: &[u8], _size: u64, _why: Untrusted) {
        let i = self.cohort.primary();
        self.cohort.members[i].planned.add(Action::Unmatched, None, 0, 0);
    }
}
