//! The walk's visitor for the policies that share one root: ownership, classification,
//! the decision, the tally and the events.
//!
//! One walk serves every policy at a root (a second walk of the same tree would be
//! wasted I/O). For each file the owner is decided as SPEC.md says — the first policy
//! whose layouts or exclude match it, else the first at that root — and only the owner
//! classifies, counts and acts. A file whose owner `--policy` did not select is
//! `foreign`: counted, never touched. Directories that are other policies' roots are
//! `nested`: reported once and never entered.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::io::Errno;

use super::events::{DirEvent, ErrorEvent, FileEvent, FileOutcome, LeftoverEvent, NestedEvent, Sink};
use super::summary::PolicySummary;
use std::rc::Rc;

use crate::action::Action;
use crate::classify::{Classifier, DirCtx, Reason, Verdict, place_of};
use crate::guard::capacity::Census;
use crate::guard::{Newest, Planned};
use crate::policy::Policy;
use crate::tree::{Check, Decision, DirId, DirTrouble, Enter, Entry, Removal, Transform, Visitor, os_message};

/// One policy at the root being walked.
pub struct Member<'p> {
    /// The policy.
    pub policy: &'p Policy,
    /// Its classifier (every member has one: ownership needs their layouts).
    pub classifier: Classifier<'p>,
    /// Whether `--policy` selected it: only selected members report and act.
    pub selected: bool,
    /// Its tally.
    pub summary: PolicySummary,
    /// A guard refused it: nothing is deleted.
    pub refused: bool,
    /// What the pre-pass counts for `max_delete`.
    pub planned: Planned,
    /// The pre-pass's newest partitions, for `keep_last`.
    pub newest: Option<Newest>,
    /// The pre-pass's partition statistics, for capacity targets.
    pub census: Option<Census>,
    /// The end of the newest matched partition, and its date, for `expect_fresh`.
    pub newest_end: Option<(i64, Rc<str>)>,
    /// The archive's root, opened once (`archive.to`); `Err` with the reason when it
    /// could not be.
    pub archive: Result<Option<std::sync::Arc<std::os::fd::OwnedFd>>, String>,
    /// The filesystem said EROFS once: nothing more is attempted.
    read_only: bool,
}

impl<'p> Member<'p> {
    /// A member for `policy`.
    pub fn new(policy: &'p Policy, classifier: Classifier<'p>, selected: bool) -> Member<'p> {
        Member {
            policy,
            classifier,
            selected,
            summary: PolicySummary::new(&policy.name, policy.root.clone()),
            refused: false,
            planned: Planned::default(),
            newest: None,
            census: None,
            newest_end: None,
            archive: Ok(None),
            read_only: false,
        }
    }
}

/// Whether the walk acts or only counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Read-only and silent: counts for the guards.
    Count,
    /// Classifies, reports, and (in apply) acts.
    Act { apply: bool },
}

/// Per-directory state: each member's layout state, and what the run did here.
pub struct GroupDir<'p> {
    ctx: Vec<DirCtx<'p>>,
    /// Members whose deletions emptied (part of) this directory, as a bit set.
    deleters: u64,
    /// A completion marker here could not be deleted: its path.
    marker_failed: Option<String>,
}

/// A file queued for deletion, with what its report needs once the outcome is known.
pub struct Doomed<'p> {
    member: usize,
    path: Vec<u8>,
    rel_at: usize,
    size: u64,
    verdict: Verdict<'p>,
    marker: bool,
    /// Compress and move: the new path.
    to: Option<Vec<u8>>,
}

/// The visitor.
pub struct GroupWalk<'s, 'p> {
    /// The policies at this root, in load order.
    pub members: Vec<Member<'p>>,
    sink: &'s mut dyn Sink,
    pass: Pass,
    /// Roots of other policies below this root, by path relative to it, with owners.
    nested_rel: HashMap<Vec<u8>, &'p str>,
    /// The same roots by identity, and the root's own.
    nested_id: HashMap<DirId, (&'p str, Vec<u8>)>,
    root_id: DirId,
    signal: &'s AtomicUsize,
    /// A marker's removal failed in the directory being listed.
    marker_failure: Option<String>,
    /// The report could not be written: stop.
    pub output: Option<io::Error>,
    /// Nested roots already reported.
    reported: HashSet<Vec<u8>>,
}

const NOT_ATTEMPTED: &str = "Read-only file system (not attempted after the first failure)";

impl<'s, 'p> GroupWalk<'s, 'p> {
    /// A visitor for `members` at a root with identity `root_id`. `nested` lists other
    /// policies' roots inside it (relative path, identity when the directory exists,
    /// owner's name).
    pub fn new(
        members: Vec<Member<'p>>,
        sink: &'s mut dyn Sink,
        pass: Pass,
        nested: Vec<(Vec<u8>, Option<DirId>, &'p str)>,
        root_id: DirId,
        signal: &'s AtomicUsize,
    ) -> GroupWalk<'s, 'p> {
        let mut nested_rel = HashMap::new();
        let mut nested_id = HashMap::new();
        for (rel, id, owner) in nested {
            if let Some(id) = id {
                nested_id.insert(id, (owner, rel.clone()));
            }
            nested_rel.insert(rel, owner);
        }
        GroupWalk {
            members,
            sink,
            pass,
            nested_rel,
            nested_id,
            root_id,
            signal,
            marker_failure: None,
            output: None,
            reported: HashSet::new(),
        }
    }

    fn report(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            self.output.get_or_insert(e);
        }
    }

    fn apply(&self) -> bool {
        self.pass == Pass::Act { apply: true }
    }

    /// The first selected member: errors that belong to no file are its.
    fn primary(&self) -> usize {
        self.members.iter().position(|m| m.selected).unwrap_or(0)
    }

    /// Reports another policy's root inside this one, once, for every selected member.
    fn nested(&mut self, path: &[u8], owner: &str) {
        if self.pass == Pass::Count || !self.reported.insert(path.to_vec()) {
            return;
        }
        for i in 0..self.members.len() {
            if !self.members[i].selected {
                continue;
            }
            self.members[i].summary.nested += 1;
            let m = &self.members[i];
            let r = self.sink.nested(&NestedEvent { policy: &m.policy.name, path, owner });
            self.report(r);
        }
    }

    /// The member that owns a file at a shared root.
    fn owner(&mut self, dir: &GroupDir<'p>, e: &Entry) -> usize {
        if self.members.len() == 1 {
            return 0;
        }
        (0..self.members.len()).find(|&i| self.members[i].classifier.claims(&dir.ctx[i], e.name, e.rel)).unwrap_or(0)
    }
}

impl<'p> Visitor for GroupWalk<'_, 'p> {
    type Dir = GroupDir<'p>;
    type Pending = Doomed<'p>;

    fn root(&mut self) -> GroupDir<'p> {
        let ctx = self.members.iter_mut().map(|m| m.classifier.root()).collect();
        GroupDir { ctx, deleters: 0, marker_failed: None }
    }

    fn enter(&mut self, parent: &GroupDir<'p>, name: &[u8], rel: &[u8], path: &[u8], id: DirId) -> Enter<GroupDir<'p>> {
        if id == self.root_id {
            let i = self.primary();
            let m = &mut self.members[i];
            if self.pass != Pass::Count && m.selected {
                m.summary.files.add(Action::Error, 1);
                let message = "this is the root itself again (a bind mount?); not entered";
                let r = self.sink.error(&ErrorEvent { policy: &m.policy.name, path, rel, message });
                self.report(r);
            }
            return Enter::Skip;
        }
        let nested = self.nested_rel.get(rel).copied().or_else(|| self.nested_id.get(&id).map(|(o, _)| *o));
        if let Some(owner) = nested {
            self.nested(path, owner);
            return Enter::Skip;
        }
        let ctx: Vec<DirCtx<'p>> =
            self.members.iter_mut().zip(&parent.ctx).map(|(m, p)| m.classifier.enter(p, name, rel)).collect();
        if self.pass == Pass::Count {
            for (m, c) in self.members.iter_mut().zip(&ctx) {
                if let (Some(census), Some((period, at))) = (m.census.as_mut(), m.classifier.dir_partition(c)) {
                    census.dir(period, place_of(rel, at));
                }
            }
        }
        Enter::Walk(GroupDir { ctx, deleters: 0, marker_failed: None })
    }

    fn has_markers(&self, _dir: &GroupDir<'p>) -> bool {
        self.apply() && self.members.iter().any(|m| m.selected && !m.refused && !m.policy.markers.is_empty())
    }

    fn is_marker(&self, _dir: &GroupDir<'p>, name: &[u8]) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let name = std::path::Path::new(std::ffi::OsStr::from_bytes(name));
        self.members.iter().any(|m| m.policy.markers.matching(name).is_some())
    }

    fn markers_done(&mut self, dir: &mut GroupDir<'p>) {
        dir.marker_failed = self.marker_failure.take();
    }

    fn file(&mut self, dir: &mut GroupDir<'p>, e: &Entry) -> Decision<Doomed<'p>> {
        if let Some(owner) = self.nested_rel.get(e.rel).copied() {
            // Another policy's root, as a symlink or a file: never this policy's.
            self.nested(e.path, owner);
            return Decision::Keep;
        }
        let i = self.owner(dir, e);
        if !self.members[i].selected {
            if self.pass != Pass::Count {
                for m in self.members.iter_mut().filter(|m| m.selected) {
                    m.summary.foreign += 1;
                }
            }
            return Decision::Keep;
        }
        let apply = self.apply();
        let m = &mut self.members[i];
        let verdict = m.classifier.classify(&dir.ctx[i], e);
        let action = verdict.action;
        if self.pass == Pass::Count {
            m.planned.add(action, verdict.partition);
            if let Some(c) = m.census.as_mut() {
                let kept = matches!(action, Action::Keep | Action::Compress | Action::Move);
                let protected = kept && m.classifier.protected_if_expired(e);
                c.file(e, action, verdict.partition, place_of(e.rel, verdict.place), protected);
            }
            if let (Some(n), Some(p)) = (&mut m.newest, verdict.partition) {
                n.observe(p, action == Action::Delete);
            }
            return Decision::Keep;
        }
        m.summary.files.add(action, 1);
        m.summary.bytes.add(action, e.size);
        match &verdict.reason {
            Reason::Future => m.summary.future += 1,
            Reason::Open(_) => m.summary.open += 1,
            Reason::ForSpace => m.summary.for_space += 1,
            Reason::Excluded(_) => {}
            _ => {
                if let (Some(p), Some(date)) = (verdict.partition, &verdict.date)
                    && m.newest_end.as_ref().is_none_or(|(end, _)| p.end > *end)
                {
                    m.newest_end = Some((p.end, date.clone()));
                }
            }
        }
        if action == Action::Delete && e.links <= 1 {
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
        let (decision, outcome) = match action {
            Action::Delete | Action::Compress | Action::Move if m.refused => {
                (Decision::Keep, apply.then_some(FileOutcome::Refused))
            }
            Action::Move if m.archive.is_err() => {
                m.summary.failed += 1;
                archive_failed = m.archive.as_ref().err().cloned().unwrap_or_default();
                (Decision::Keep, Some(FileOutcome::Failed(&archive_failed)))
            }
            // A plan: the walk learns the file would go, to predict emptied directories.
            Action::Delete | Action::Move if !apply => {
                dir.deleters |= 1 << i.min(63);
                (Decision::WouldRemove, None)
            }
            Action::Compress if !apply => (Decision::Keep, None),
            Action::Delete | Action::Compress | Action::Move if m.read_only => {
                m.summary.failed += 1;
                (Decision::Keep, Some(FileOutcome::Failed(NOT_ATTEMPTED)))
            }
            Action::Delete if dir.marker_failed.is_some() => {
                m.summary.failed += 1;
                marker_failed = format!(
                    "not deleted: the completion marker {} could not be deleted, so the rest of its directory stays",
                    dir.marker_failed.as_deref().unwrap_or_default()
                );
                (Decision::Keep, Some(FileOutcome::Failed(&marker_failed)))
            }
            Action::Delete | Action::Compress | Action::Move => {
                let transform = match (action, &m.archive) {
                    (Action::Compress, _) => {
                        m.policy.tiers.compress.map(|c| Transform::Compress { format: c.format, level: c.level })
                    }
                    (Action::Move, Ok(Some(to))) => {
                        Some(Transform::Move { to: std::sync::Arc::clone(to), rel: e.rel.to_vec() })
                    }
                    _ => None,
                };
                if action != Action::Compress {
                    dir.deleters |= 1 << i.min(63);
                }
                let check = if m.classifier.depends_on_mtime() {
                    Check::Same { ino: e.ino, mtime: e.mtime }
                } else {
                    Check::None
                };
                let marker = {
                    use std::os::unix::ffi::OsStrExt;
                    let name = std::path::Path::new(std::ffi::OsStr::from_bytes(e.name));
                    m.policy.markers.matching(name).is_some()
                };
                let rel_at = e.path.len() - e.rel.len();
                // Reported when the outcome is known.
                let doomed = Doomed { member: i, path: e.path.to_vec(), rel_at, size: e.size, verdict, marker, to };
                return match transform {
                    Some(t) => Decision::Transform(doomed, t),
                    None => Decision::Remove(doomed, check),
                };
            }
            _ => (Decision::Keep, None),
        };
        let m = &self.members[i];
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

    fn removed(&mut self, d: Doomed<'p>, result: Removal) {
        let m = &mut self.members[d.member];
        let s = &mut m.summary;
        let message;
        let action = d.verdict.action;
        let outcome = match result {
            Removal::Planned => {
                match action {
                    Action::Compress => {
                        s.tiers.compressed += 1;
                        s.tiers.bytes_before += d.size;
                    }
                    Action::Move => {
                        s.tiers.moved += 1;
                        s.tiers.moved_bytes += d.size;
                    }
                    _ => {
                        s.deleted += 1;
                        s.deleted_bytes += d.size;
                    }
                }
                FileOutcome::Deleted
            }
            Removal::Removed => {
                s.deleted += 1;
                s.deleted_bytes += d.size;
                FileOutcome::Deleted
            }
            Removal::Compressed(after) => {
                s.tiers.compressed += 1;
                s.tiers.bytes_before += d.size;
                s.tiers.bytes_after += after;
                FileOutcome::Compressed(after)
            }
            Removal::Moved => {
                s.tiers.moved += 1;
                s.tiers.moved_bytes += d.size;
                FileOutcome::Moved
            }
            Removal::Vanished => {
                s.vanished += 1;
                FileOutcome::Vanished
            }
            Removal::Failed(err) => {
                s.failed += 1;
                if err == Errno::ROFS && !m.read_only {
                    m.read_only = true;
                    s.problems.push(format!(
                        "{}: read-only filesystem; deletions under this root stopped after the first failure",
                        m.policy.root.display()
                    ));
                }
                if d.marker {
                    self.marker_failure = Some(String::from_utf8_lossy(&d.path).into_owned());
                }
                message = if err == Errno::INTR {
                    "not attempted: the run was interrupted".to_string()
                } else {
                    os_message(err)
                };
                FileOutcome::Failed(&message)
            }
            Removal::Rejected(ref why) => {
                s.failed += 1;
                if d.marker {
                    self.marker_failure = Some(String::from_utf8_lossy(&d.path).into_owned());
                }
                message = why.to_string();
                FileOutcome::Failed(&message)
            }
        };
        let m = &self.members[d.member];
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
        let i = self.primary();
        let m = &mut self.members[i];
        if self.pass == Pass::Count {
            return;
        }
        let message = match trouble {
            DirTrouble::Unreadable => os_message(err),
            DirTrouble::Changed => "changed while being walked (replaced by a symlink or moved); not entered".into(),
        };
        m.summary.files.add(Action::Error, 1);
        let root_len = m.policy.root.as_os_str().len();
        let rel = path.get(root_len + 1..).unwrap_or_default();
        let r = self.sink.error(&ErrorEvent { policy: &m.policy.name, path, rel, message: &message });
        self.report(r);
    }

    fn service_error(&mut self, path: &[u8], message: &str) {
        if self.pass == Pass::Count {
            return;
        }
        let i = self.primary();
        let m = &mut self.members[i];
        m.summary.files.add(Action::Error, 1);
        let root_len = m.policy.root.as_os_str().len();
        let rel = path.get(root_len + 1..).unwrap_or_default();
        if rel.is_empty() {
            m.summary.problems.push(format!("{}: {message}", m.policy.root.display()));
        }
        let r = self.sink.error(&ErrorEvent { policy: &m.policy.name, path, rel, message });
        self.report(r);
    }

    fn vanished(&mut self, _path: &[u8]) {
        let i = self.primary();
        if self.pass != Pass::Count {
            self.members[i].summary.vanished += 1;
        }
    }

    fn leftover(&mut self, path: &[u8], result: Removal) {
        if self.pass == Pass::Count {
            return;
        }
        let i = self.primary();
        let apply = self.apply();
        let m = &mut self.members[i];
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

    fn mount(&mut self, path: &[u8]) {
        if self.pass == Pass::Count {
            return;
        }
        for i in 0..self.members.len() {
            if self.members[i].selected {
                self.members[i].summary.mounts_skipped += 1;
                let r = self.sink.mount(&self.members[i].policy.name, path);
                self.report(r);
            }
        }
    }

    fn remove_emptied(&mut self, dir: &GroupDir<'p>, parent: &mut GroupDir<'p>) -> bool {
        if dir.deleters == 0 {
            return false;
        }
        let ok = self
            .members
            .iter()
            .enumerate()
            .filter(|(i, _)| dir.deleters & (1 << (*i).min(63)) != 0)
            .all(|(_, m)| m.policy.remove_empty_dirs && !m.refused && !m.read_only);
        if ok {
            parent.deleters |= dir.deleters;
        }
        ok
    }

    fn remove_empty(&mut self, dir: &GroupDir<'p>, mtime: i64, parent: &mut GroupDir<'p>) -> bool {
        // Only where one policy owns the whole directory: its root is not shared.
        if self.members.len() != 1 || self.pass == Pass::Count {
            return false;
        }
        let m = &self.members[0];
        let stale = m.selected
            && !m.refused
            && !m.read_only
            && m.policy.remove_empty_dirs
            && m.classifier.stale_dir(&dir.ctx[0], mtime);
        if stale {
            parent.deleters |= 1;
        }
        stale
    }

    fn removal_tag(&self, dir: &GroupDir<'p>) -> u32 {
        dir.deleters.trailing_zeros()
    }

    fn dir_removed(&mut self, path: &[u8], by: u32, result: Removal) {
        let i = (by as usize).min(self.members.len().saturating_sub(1));
        let apply = self.apply();
        let m = &mut self.members[i];
        let error = match result {
            // Already reported once for the policy.
            Removal::Failed(Errno::ROFS) if m.read_only => return,
            Removal::Failed(e) => Some(os_message(e)),
            Removal::Rejected(why) => Some(why.to_string()),
            Removal::Vanished => return,
            Removal::Planned | Removal::Removed | Removal::Compressed(_) | Removal::Moved => None,
        };
        if error.is_some() {
            m.summary.dirs_failed += 1;
        } else {
            m.summary.dirs_removed += 1;
        }
        let r = self.sink.dir(&DirEvent { policy: &m.policy.name, path, error: error.as_deref(), dry_run: !apply });
        self.report(r);
    }

    fn stop(&self) -> bool {
        self.output.is_some() || self.signal.load(Ordering::Relaxed) != 0
    }
}
