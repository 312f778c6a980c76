//! The acting walk: each file's decision (the same one the counting walk counted),
//! reported, and in `apply` carried out — removed, compressed or moved — with its
//! outcome reported when it is known. What a plan moves into a root that runs later is
//! noted for that root's walks ([`super::arrivals`]), and what a plan moves into this
//! root from an earlier one is decided here as if it were already there.
//!
//! A plan's emptied directories are held until the walk ends: a table found late in the
//! walk refuses its policy, and a directory that policy would have emptied is then not
//! removed after all. Memory follows the directories to remove, as the text report's
//! partitions do.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::io::Errno;

use super::arrivals::{Planned as PlannedArrivals, Routes};
use super::cohort::{Cohort, DirState, Entering, Judged};
use super::events::{DirEvent, ErrorEvent, FileEvent, FileOutcome, LeftoverEvent, NestedEvent, Sink, TableEvent};
use super::member::MemberSet;
use super::summary::Problem;
use crate::bucket::Action;
use crate::classify::{Reason, Verdict};
use crate::tree::{
    Arrival, Arrivals, Check, Decision, DirFacts, DirTrouble, ELSEWHERE, Enter, Entry, Removal, TableFormat, Transform,
    Untrusted, Visitor, os_message,
};

/// A file queued for deletion (or a lifecycle operation), with what its report needs
/// once the outcome is known.
pub struct Doomed<'p> {
    member: usize,
    path: Vec<u8>,
    rel_at: usize,
    size: u64,
    verdict: Verdict<'p>,
    marker: bool,
    /// Compress and move: the new path.
    to: Option<Vec<u8>>,
    /// A move in a plan: the file as it will arrive.
    arrival: Option<Box<Arrival>>,
    /// A move to another root on the same filesystem: the bytes it takes there.
    within: u64,
}

/// The acting walk's visitor.
pub struct Acting<'c, 's, 'p> {
    cohort: &'c mut Cohort<'p>,
    sink: &'s mut dyn Sink,
    apply: bool,
    root_path: &'c [u8],
    signal: &'c AtomicUsize,
    /// Plan mode: arrivals from earlier roots (read) and for later ones (written).
    arrivals: Option<(&'c mut PlannedArrivals, &'c Routes<'p>)>,
    /// The report could not be written: stop.
    pub output: Option<io::Error>,
    /// Nested roots already reported.
    reported: std::collections::HashSet<Vec<u8>>,
    /// A marker's removal failed in the directory being listed.
    marker_failure: Option<String>,
    /// Plan mode: the members that emptied the directory being removed.
    emptied_by: MemberSet,
    /// Plan mode: directories that would be removed, held until the walk ends.
    held: Vec<(Vec<u8>, usize, MemberSet)>,
    /// Set when the run's lease is lost: the walk stops at the next file.
    pub halt: Option<Arc<std::sync::atomic::AtomicBool>>,
}

const NOT_ATTEMPTED: &str = "Read-only file system (not attempted after the first failure)";

impl<'c, 's, 'p> Acting<'c, 's, 'p> {
    /// An acting walk over `cohort`'s root (shown as `root_path`), reporting to `sink`.
    pub fn new(
        cohort: &'c mut Cohort<'p>,
        sink: &'s mut dyn Sink,
        apply: bool,
        root_path: &'c [u8],
        signal: &'c AtomicUsize,
        arrivals: Option<(&'c mut PlannedArrivals, &'c Routes<'p>)>,
    ) -> Acting<'c, 's, 'p> {
        Acting {
            cohort,
            sink,
            apply,
            root_path,
            signal,
            arrivals,
            output: None,
            reported: std::collections::HashSet::new(),
            marker_failure: None,
            emptied_by: MemberSet::default(),
            held: Vec::new(),
            halt: None,
        }
    }

    fn report(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            self.output.get_or_insert(e);
        }
    }

    /// The first selected member: errors that belong to no file are its.
    fn primary(&self) -> usize {
        self.cohort.primary()
    }

    /// Reports another policy's root inside this one, once, for every selected member.
    fn nested(&mut self, path: &[u8], owner: &str) {
        if !self.reported.insert(path.to_vec()) {
            return;
        }
        for i in 0..self.cohort.members.len() {
            if !self.cohort.members[i].selected {
                continue;
            }
            self.cohort.members[i].summary.nested += 1;
            let name = &self.cohort.members[i].policy.name;
            let r = self.sink.nested(&NestedEvent { policy: name, path, owner });
            self.report(r);
        }
    }

    /// Reports a table for each member that does not exclude it; a member that had no
    /// counting walk learns here that it is refused.
    fn tables(&mut self, dir: &DirState<'p>) {
        for i in 0..self.cohort.members.len() {
            let Some(t) = self.cohort.table_for(dir, i) else { continue };
            let m = &mut self.cohort.members[i];
            if !m.selected {
                continue;
            }
            m.summary.tables += 1;
            if m.table.is_none() {
                m.table = Some(std::rc::Rc::clone(&t));
            }
            if m.summary.refused.is_none() {
                m.refused = true;
                m.summary.refused = Some(crate::guard::table(&t, m.planned.delete));
            }
            let name = &m.policy.name;
            let r = self.sink.table(&TableEvent { policy: name, path: t.path.as_bytes(), format: t.format });
            self.report(r);
        }
    }

    /// Ends a plan's walk: the directories it would remove, unless a member that
    /// emptied one was refused meanwhile.
    pub fn finish(&mut self) {
        for (path, by, set) in std::mem::take(&mut self.held) {
            if set.iter().any(|i| self.cohort.members.get(i).is_none_or(|m| m.refused || !m.selected)) {
                continue;
            }
            let m = &mut self.cohort.members[by];
            m.summary.dirs_removed += 1;
            let r = self.sink.dir(&DirEvent { policy: &m.policy.name, path: &path, error: None, dry_run: true });
            self.report(r);
        }
    }

    /// Notes a planned move into a root that runs later.
    fn arrive(&mut self, to: &[u8], arrival: Arrival) {
        let Some((planned, routes)) = self.arrivals.as_mut() else { return };
        if let Some((group, dir, name)) = routes.route(to) {
            planned.add(group, &dir, Arrival { name, ..arrival });
        }
    }
}

impl<'p> Visitor for Acting<'_, '_, 'p> {
    type Dir = DirState<'p>;
    type Pending = Doomed<'p>;

    fn root(&mut self, table: Option<TableFormat>) -> DirState<'p> {
        let d = self.cohort.root(table, self.root_path);
        if d.table.is_some() {
            self.tables(&d);
        }
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
                if fresh_table {
                    self.tables(&d);
                }
                Enter::Walk(d)
            }
            Entering::Nested(owner) => {
                self.nested(path, owner);
                Enter::Skip
            }
            Entering::Mount => {
                for i in 0..self.cohort.members.len() {
                    if self.cohort.members[i].selected {
                        self.cohort.members[i].summary.mounts_skipped += 1;
                        let r = self.sink.mount(&self.cohort.members[i].policy.name, path);
                        self.report(r);
                    }
                }
                Enter::Skip
            }
        }
    }

    fn arrivals(&mut self, _dir: &DirState<'p>, rel: &[u8]) -> Arrivals {
        match &self.arrivals {
            Some((planned, routes)) => planned.arriving(routes.current(), rel),
            None => Arrivals::default(),
        }
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
        dir.marker_failed = self.marker_failure.take();
    }

    fn file(&mut self, dir: &mut DirState<'p>, e: &Entry) -> Decision<Doomed<'p>> {
        let (i, verdict, marker) = match self.cohort.judge(dir, e) {
            Judged::Nested(owner) => {
                // Another policy's root, as a symlink or a file: never this policy's.
                self.nested(e.path, owner);
                return Decision::Keep;
            }
            Judged::Foreign => {
                for m in self.cohort.members.iter_mut().filter(|m| m.selected) {
                    m.summary.foreign += 1;
                }
                return Decision::Keep;
            }
            Judged::Owned { member, verdict, marker } => (member, verdict, marker),
        };
        if marker {
            dir.marker(i, e.name, &verdict);
        }
        if !self.cohort.share(i, verdict.action, e.size, e.rel) {
            // Another shard's partition: it reports and acts on it. This walk only learns
            // whether it goes, so that emptied directories are seen as such.
            let m = &self.cohort.members[i];
            if verdict.action == Action::Delete && !m.refused && dir.marker_failed.is_none() {
                dir.deleters.insert(i);
                return Decision::WouldRemove;
            }
            return Decision::Keep;
        }
        let apply = self.apply;
        let frees = self.cohort.frees(e);
        let m = &mut self.cohort.members[i];
        let action = verdict.action;
        m.summary.files.add(action, 1);
        m.summary.bytes.add(action, e.size);
        m.summary.allocated += e.allocated;
        m.foresee(action, verdict.partition, e.allocated);
        match &verdict.reason {
            Reason::Future => m.summary.future += 1,
            Reason::Open(_) => m.summary.open += 1,
            Reason::ForSpace => m.summary.for_space += 1,
            Reason::Excluded(_) | Reason::Table(_) => {}
            _ => {
                if let (Some(p), Some(date)) = (verdict.partition, &verdict.date)
                    && m.newest_end.as_ref().is_none_or(|(end, _)| p.end > *end)
                {
                    m.newest_end = Some((p.end, date.clone()));
                }
            }
        }
        if action == Action::Delete && frees {
            m.summary.freed_predicted += e.allocated;
        }
        let marker_failed;
        let archive_failed;
        let to = match action {
            Action::Compress => m.policy.tiers.compress.map(|c| [e.path, c.format.suffix().as_bytes()].concat()),
            Action::Move => m.policy.tiers.archive.as_ref().map(|a| {
                use std::os::unix::ffi::OsStrExt;
                [a.to.as_os_str().as_bytes(), b"/", e.rel].concat()
            }),
            _ => None,
        };
        let acts = matches!(action, Action::Delete | Action::Compress | Action::Move);
        let (decision, outcome) = match action {
            _ if acts && m.refused => (Decision::Keep, apply.then_some(FileOutcome::Refused)),
            Action::Move if m.archive.is_err() => {
                m.summary.failed += 1;
                archive_failed = m.archive.as_ref().err().cloned().unwrap_or_default();
                (Decision::Keep, Some(FileOutcome::Failed(&archive_failed)))
            }
            _ if acts && m.read_only => {
                m.summary.failed += 1;
                (Decision::Keep, Some(FileOutcome::Failed(NOT_ATTEMPTED)))
            }
            Action::Delete | Action::Move if dir.marker_failed.is_some() => {
                m.summary.failed += 1;
                marker_failed = format!(
                    "not deleted: the completion marker {} could not be deleted, so the rest of its directory stays",
                    dir.marker_failed.as_deref().unwrap_or_default()
                );
                (Decision::Keep, Some(FileOutcome::Failed(&marker_failed)))
            }
            Action::Delete if !apply => {
                // A plan: the walk learns the file would go, to predict emptied directories.
                dir.deleters.insert(i);
                if let Some((planned, routes)) = self.arrivals.as_mut()
                    && routes.later_moves_into(e.path)
                {
                    planned.note_gone(&routes.real(e.path));
                }
                (Decision::WouldRemove, None)
            }
            Action::Delete | Action::Compress | Action::Move => {
                let transform = match (action, &m.archive) {
                    (Action::Compress, _) => {
                        m.policy.tiers.compress.map(|c| Transform::Compress { format: c.format, level: c.level })
                    }
                    (Action::Move, Ok(Some((to, _)))) => {
                        Some(Transform::Move { to: Arc::clone(to), rel: e.rel.to_vec() })
                    }
                    _ => None,
                };
                if action != Action::Compress {
                    dir.deleters.insert(i);
                }
                let check = if m.classifier.depends_on_mtime() {
                    Check::Same { ino: e.ino, mtime: e.mtime }
                } else {
                    Check::None
                };
                let arrival = match (&m.archive, action) {
                    (Ok(Some((_, id))), Action::Move) if !apply => Some(Box::new(Arrival {
                        name: Vec::new(),
                        size: e.size,
                        allocated: e.allocated,
                        mtime: e.mtime,
                        dev: id.dev,
                        ino: if id.dev == e.dev { e.ino } else { 0 },
                    })),
                    _ => None,
                };
                let within = match (&m.archive, action) {
                    (Ok(Some((_, id))), Action::Move) if id.dev == e.dev => e.allocated,
                    _ => 0,
                };
                let rel_at = e.path.len() - e.rel.len();
                // Reported when the outcome is known.
                let doomed = Doomed {
                    member: i,
                    path: e.path.to_vec(),
                    rel_at,
                    size: e.size,
                    verdict,
                    marker,
                    to,
                    arrival,
                    within,
                };
                return match transform {
                    Some(t) => Decision::Transform(doomed, t),
                    None => Decision::Remove(doomed, check),
                };
            }
            _ => (Decision::Keep, None),
        };
        let m = &self.cohort.members[i];
        let event = FileEvent {
            policy: &m.policy.name,
            path: e.path,
            rel: e.rel,
            bytes: e.size,
            verdict: &verdict,
            facts: m.classifier.facts(),
            outcome,
            to: to.as_deref(),
        };
        let r = self.sink.file(&event);
        self.report(r);
        decision
    }

    fn foresee(&mut self, d: &Doomed<'p>, predicted: Removal) -> Removal {
        match (&predicted, &d.to, &self.arrivals) {
            (Removal::WouldFail(Errno::EXIST), Some(to), Some((planned, routes)))
                if d.verdict.action == Action::Move && planned.is_gone(&routes.real(to)) =>
            {
                Removal::Planned
            }
            _ => predicted,
        }
    }

    fn removed(&mut self, d: Doomed<'p>, result: Removal) {
        let action = d.verdict.action;
        if let (Removal::Planned, Some(a), Some(to)) = (&result, &d.arrival, &d.to) {
            let a = (**a).clone();
            self.arrive(to, a);
        }

        let message = super::outcome::count(
            &mut self.cohort.members[d.member],
            action,
            d.size,
            d.within,
            d.to.as_deref(),
            &result,
        );
        if d.marker && matches!(result, Removal::Failed(_) | Removal::Rejected(_)) {
            self.marker_failure = Some(String::from_utf8_lossy(&d.path).into_owned());
        }
        let message = message.as_deref().unwrap_or_default();
        let outcome = match result {
            Removal::Planned | Removal::Removed => FileOutcome::Deleted,
            Removal::Compressed(after) => FileOutcome::Compressed(after),
            Removal::Moved => FileOutcome::Moved,
            Removal::Vanished => FileOutcome::Vanished,
            Removal::WouldFail(_) => FileOutcome::WouldFail(message),
            Removal::Failed(_) | Removal::Rejected(_) => FileOutcome::Failed(message),
        };
        let m = &self.cohort.members[d.member];
        let event = FileEvent {
            policy: &m.policy.name,
            path: &d.path,
            rel: &d.path[d.rel_at..],
            bytes: d.size,
            verdict: &d.verdict,
            facts: m.classifier.facts(),
            outcome: (!matches!(result, Removal::Planned)).then_some(outcome),
            to: d.to.as_deref(),
        };
        let r = self.sink.file(&event);
        self.report(r);
    }

    fn error(&mut self, path: &[u8], trouble: DirTrouble, err: Errno) {
        let message = match trouble {
            DirTrouble::Unreadable => os_message(err),
            DirTrouble::Changed => "changed while being walked (replaced by a symlink or moved); not entered".into(),
        };
        self.service_error(path, &message);
    }

    fn service_error(&mut self, path: &[u8], message: &str) {
        let i = self.primary();
        let m = &mut self.cohort.members[i];
        m.summary.files.add(Action::Error, 1);
        let root_len = m.policy.root.as_os_str().len();
        let rel = path.get(root_len + 1..).unwrap_or_default();
        if rel.is_empty() {
            m.summary.problems.push(Problem::Root(message.to_string()));
        }
        let r = self.sink.error(&ErrorEvent { policy: &m.policy.name, path, rel, message });
        self.report(r);
    }

    fn vanished(&mut self, _path: &[u8]) {
        let i = self.primary();
        self.cohort.members[i].summary.vanished += 1;
    }

    fn leftover(&mut self, path: &[u8], result: Removal) {
        let i = self.primary();
        let apply = self.apply;
        let m = &mut self.cohort.members[i];
        let error = match result {
            Removal::Failed(e) => Some(os_message(e)),
            _ => None,
        };
        if error.is_some() {
            m.summary.failed += 1;
        } else {
            m.summary.tiers.leftovers += 1;
        }
        let r = self.sink.leftover(&LeftoverEvent {
            policy: &m.policy.name,
            path,
            error: error.as_deref(),
            dry_run: !apply,
        });
        self.report(r);
    }

    fn remove_emptied(&mut self, dir: &DirState<'p>, parent: &mut DirState<'p>) -> Option<u32> {
        let by = dir.deleters.first()?;
        let ok = dir.deleters.iter().all(|i| {
            let m = &self.cohort.members[i];
            m.policy.remove_empty_dirs && !m.refused && !m.read_only
        });
        if !ok {
            return None;
        }
        parent.deleters.extend(&dir.deleters);
        if self.cohort.dir_elsewhere(&dir.rel) {
            return Some(ELSEWHERE);
        }
        self.emptied_by = dir.deleters.clone();
        u32::try_from(by).ok()
    }

    fn remove_empty(&mut self, dir: &DirState<'p>, mtime: i64, parent: &mut DirState<'p>) -> Option<u32> {
        // Only where one policy owns the whole directory: its root is not shared.
        if self.cohort.members.len() != 1 {
            return None;
        }
        let m = &self.cohort.members[0];
        let stale = m.acting() && m.policy.remove_empty_dirs && m.classifier.stale_dir(&dir.ctx[0], mtime);
        if !stale {
            return None;
        }
        parent.deleters.insert(0);
        if self.cohort.dir_elsewhere(&dir.rel) {
            return Some(ELSEWHERE);
        }
        self.emptied_by = MemberSet::default();
        self.emptied_by.insert(0);
        Some(0)
    }

    fn dir_removed(&mut self, path: &[u8], by: u32, result: Removal) {
        let i = (by as usize).min(self.cohort.members.len().saturating_sub(1));
        if result == Removal::Planned {
            let set = std::mem::take(&mut self.emptied_by);
            self.held.push((path.to_vec(), i, set));
            return;
        }
        let m = &mut self.cohort.members[i];
        let error = match result {
            // Already reported once for the policy.
            Removal::Failed(Errno::ROFS) if m.read_only => return,
            Removal::Failed(e) | Removal::WouldFail(e) => Some(os_message(e)),
            Removal::Rejected(why) => Some(why.to_string()),
            Removal::Vanished => return,
            Removal::Planned | Removal::Removed | Removal::Compressed(_) | Removal::Moved => None,
        };
        if error.is_some() {
            m.summary.dirs_failed += 1;
        } else {
            m.summary.dirs_removed += 1;
        }
        let r =
            self.sink.dir(&DirEvent { policy: &m.policy.name, path, error: error.as_deref(), dry_run: !self.apply });
        self.report(r);
    }

    fn stop(&self) -> bool {
        self.output.is_some()
            || self.signal.load(Ordering::Relaxed) != 0
            || self.halt.as_ref().is_some_and(|h| h.load(Ordering::Relaxed))
    }

    fn live(&self, rel: &[u8]) -> bool {
        self.cohort.live.as_ref().is_none_or(|l| l.contains(rel))
    }

    fn untrusted(&mut self, _dir: &mut DirState<'p>, path: &[u8], size: u64, why: Untrusted) {
        let i = self.primary();
        let root = self.cohort.members[i].policy.root.as_os_str().as_encoded_bytes();
        let rel = path.strip_prefix(root).and_then(|r| r.strip_prefix(b"/")).unwrap_or(path);
        if !self.cohort.share(i, Action::Unmatched, size, rel) {
            return;
        }
        let m = &mut self.cohort.members[i];
        m.summary.files.add(Action::Unmatched, 1);
        m.summary.bytes.add(Action::Unmatched, size);
        let verdict = Verdict::untrusted(why);
        let event = FileEvent {
            policy: &m.policy.name,
            path,
            rel,
            bytes: size,
            verdict: &verdict,
            facts: m.classifier.facts(),
            outcome: None,
            to: None,
        };
        let r = self.sink.file(&event);
        self.report(r);
    }
}
