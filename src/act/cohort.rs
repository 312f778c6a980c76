//! The policies at one root, and the decisions both walks of that root take the same
//! way: who owns a directory or a file (another policy's nested root, a policy
//! `--policy` did not select, or one of the members), and one file's verdict once the
//! rules that look beyond the file have had their say — a table it lies in, a
//! completion marker beside it that stays.
//!
//! The counting walk ([`super::counting`]) and the acting walk ([`super::acting`]) are
//! two short visitors over this one decision, so what the guards count is what the
//! acting walk does, and `explain` (which watches the acting walk of a plan) says the
//! same.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use super::member::{Member, MemberSet};
use crate::bucket::Action;
use crate::classify::{DirCtx, Reason, Table, Verdict};
use crate::tree::local::open::OpenFiles;
use crate::tree::{DirFacts, DirId, Entry, Kind, TableFormat};

/// Other policies' roots the walk must not enter: by path relative to the walked root
/// (when spelled inside it), and by identity (however spelled: through a symlink, a
/// bind mount, or another path to the same directory), with their owners.
pub type NestedRoots<'p> = Vec<(Option<Vec<u8>>, Option<DirId>, &'p str)>;

/// The policies at one root, in load order, and where other policies' roots lie below it.
pub struct Cohort<'p> {
    /// The members.
    pub members: Vec<Member<'p>>,
    nested_rel: HashMap<Vec<u8>, &'p str>,
    nested_id: HashMap<DirId, &'p str>,
    root_id: DirId,
    /// Some member stays on the root's filesystem: mount points are not entered.
    one_file_system: bool,
    /// The files processes hold open, when they were scanned.
    open: Option<&'p OpenFiles>,
    /// `--shard`: the share this runner acts on.
    pub shard: Option<super::shard::Shard>,
    /// A plan from an inventory report: the directories it acts in (the counting walk
    /// notes them; the acting walk lists them live).
    pub live: Option<super::scale::Live>,
}

/// Per-directory state, the same in both walks.
pub struct DirState<'p> {
    /// Each member's layout state.
    pub ctx: Vec<DirCtx<'p>>,
    /// Members whose deletions emptied (part of) this directory.
    pub deleters: MemberSet,
    /// The table this directory lies in (itself, or one above it).
    pub table: Option<Rc<Table>>,
    /// Markers handed over in the markers' pass: their owner, name and verdict.
    markers: Vec<(usize, Rc<str>, Verdict<'p>)>,
    /// Markers that stay, once the markers' pass is done.
    stays: Vec<(usize, Rc<str>, Verdict<'p>)>,
    /// A marker's removal failed here (apply): its path.
    pub marker_failed: Option<String>,
    /// Its path below the root (empty: the root).
    pub rel: Box<[u8]>,
}

/// What a sub-directory is to the walks.
pub enum Entering<'p> {
    /// Walk it.
    Walk(DirState<'p>),
    /// Another policy's root: never entered.
    Nested(&'p str),
    /// A mount point (or the root itself, bind-mounted below itself): not entered.
    Mount,
}

/// What a file is to the walks.
pub enum Judged<'p> {
    /// It stands where another policy's root is (a symlink or file of that name).
    Nested(&'p str),
    /// Its owner is a policy `--policy` did not select: left alone.
    Foreign,
    /// Member `member` owns it.
    Owned {
        /// The owner.
        member: usize,
        /// Its verdict, with the table and marker rules applied.
        verdict: Verdict<'p>,
        /// It is one of the owner's completion markers.
        marker: bool,
    },
}

impl<'p> Cohort<'p> {
    /// The members at a root with identity `root_id`, and the roots nested in it.
    pub fn new(
        members: Vec<Member<'p>>,
        nested: NestedRoots<'p>,
        root_id: DirId,
        open: Option<&'p OpenFiles>,
    ) -> Cohort<'p> {
        let mut nested_rel = HashMap::new();
        let mut nested_id = HashMap::new();
        for (rel, id, owner) in nested {
            if let Some(id) = id {
                nested_id.insert(id, owner);
            }
            if let Some(rel) = rel {
                nested_rel.insert(rel, owner);
            }
        }
        let one_file_system = members.iter().any(|m| m.policy.one_file_system);
        Cohort { members, nested_rel, nested_id, root_id, one_file_system, open, shard: None, live: None }
    }

    /// The state of the root; `path` is the root as reports show it.
    pub fn root(&mut self, table: Option<TableFormat>, path: &[u8]) -> DirState<'p> {
        let ctx = self.members.iter_mut().map(|m| m.classifier.root()).collect();
        let table = table.map(|format| Rc::new(Table { format, path: String::from_utf8_lossy(path).into() }));
        DirState {
            ctx,
            deleters: MemberSet::default(),
            table,
            markers: Vec::new(),
            stays: Vec::new(),
            marker_failed: None,
            rel: Box::default(),
        }
    }

    /// What the sub-directory `name` (at `rel`, shown as `path`) of `parent` is.
    pub fn enter(
        &mut self,
        parent: &DirState<'p>,
        name: &[u8],
        rel: &[u8],
        path: &[u8],
        facts: DirFacts,
    ) -> Entering<'p> {
        let nested = self.nested_rel.get(rel).copied().or_else(|| self.nested_id.get(&facts.id).copied());
        if let Some(owner) = nested {
            return Entering::Nested(owner);
        }
        if facts.id == self.root_id || (facts.mount && self.one_file_system) {
            return Entering::Mount;
        }
        let ctx = self.members.iter_mut().zip(&parent.ctx).map(|(m, p)| m.classifier.enter(p, name, rel)).collect();
        let table = parent.table.clone().or_else(|| {
            facts.table.map(|format| Rc::new(Table { format, path: String::from_utf8_lossy(path).into() }))
        });
        Entering::Walk(DirState {
            ctx,
            deleters: MemberSet::default(),
            table,
            markers: Vec::new(),
            stays: Vec::new(),
            marker_failed: None,
            rel: rel.into(),
        })
    }

    /// Whether the table of `dir` is one member `i` must refuse for: a table that no
    /// directory `exclude` of the member covers.
    pub fn table_for(&self, dir: &DirState<'p>, i: usize) -> Option<Rc<Table>> {
        dir.table.clone().filter(|_| !dir.ctx[i].excluded())
    }

    /// The member that owns a file at a shared root: the first whose layouts or exclude
    /// match it, else the first.
    fn owner(&mut self, dir: &DirState<'p>, e: &Entry) -> usize {
        if self.members.len() == 1 {
            return 0;
        }
        (0..self.members.len()).find(|&i| self.members[i].classifier.claims(&dir.ctx[i], e.name, e.rel)).unwrap_or(0)
    }

    /// The decision for one file.
    pub fn judge(&mut self, dir: &DirState<'p>, e: &Entry) -> Judged<'p> {
        if let Some(owner) = self.nested_rel.get(e.rel).copied() {
            return Judged::Nested(owner);
        }
        let i = self.owner(dir, e);
        let m = &mut self.members[i];
        if !m.selected {
            return Judged::Foreign;
        }
        let mut verdict = m.classifier.classify(&dir.ctx[i], e);
        let marker =
            !m.policy.markers.is_empty() && m.policy.markers.matching(Path::new(OsStr::from_bytes(e.name))).is_some();
        if let Some(table) = dir.table.as_ref().filter(|_| !dir.ctx[i].excluded())
            && !matches!(verdict.reason, Reason::Excluded(_))
        {
            verdict = Verdict {
                action: Action::Protect,
                reason: Reason::Table(Rc::clone(table)),
                date: verdict.date,
                partition: None,
                place: verdict.place,
            };
        } else if !marker
            && matches!(verdict.action, Action::Delete | Action::Move)
            && let Some((_, name, stays)) = dir.stays.iter().find(|(owner, _, _)| *owner == i)
        {
            verdict = Verdict {
                action: Action::Keep,
                reason: Reason::MarkerStays(Box::new((Rc::clone(name), stays.clone()))),
                date: verdict.date,
                partition: verdict.partition,
                place: verdict.place,
            };
        }
        Judged::Owned { member: i, verdict, marker }
    }

    /// Whether the walk's policies act on a file named like one of sweep's temporaries
    /// at `rel` in `dir`: its owner is selected, nothing excludes it, it
    /// is in no table and at no other policy's root. Only there is it sweep's own.
    pub fn acts_on(&mut self, dir: &DirState<'p>, name: &[u8], rel: &[u8]) -> bool {
        if self.nested_rel.contains_key(rel) || dir.table.is_some() {
            return false;
        }
        let i = if self.members.len() == 1 {
            0
        } else {
            (0..self.members.len()).find(|&i| self.members[i].classifier.claims(&dir.ctx[i], name, rel)).unwrap_or(0)
        };
        let m = &self.members[i];
        m.selected && !dir.ctx[i].excluded() && m.policy.exclude.matching(Path::new(OsStr::from_bytes(rel))).is_none()
    }

    /// Whether deleting the file frees its blocks: not when another link, or a process
    /// holding it open, keeps them (whatever `skip_open` says about deleting it).
    pub fn frees(&self, e: &Entry) -> bool {
        e.links <= 1 && !(e.kind == Kind::File && self.open.is_some_and(|o| o.holder(e.dev, e.ino).is_some()))
    }

    /// Whether `name` is a completion marker of any member (the walk hands markers over
    /// first; which member's it is, ownership says).
    pub fn is_marker(&self, name: &[u8]) -> bool {
        let name = Path::new(OsStr::from_bytes(name));
        self.members.iter().any(|m| !m.policy.markers.is_empty() && m.policy.markers.matching(name).is_some())
    }

    /// Whether this runner acts on the file at `rel` (always, unless `--shard` gives the
    /// file's partition to another shard).
    pub fn mine(&self, rel: &[u8]) -> bool {
        self.shard.is_none_or(|s| s.owns(rel))
    }

    /// `--shard`: adds a file of `size` bytes decided `action` to member `i`'s totals of
    /// the whole plan; whether this runner acts on it ([`Cohort::mine`]).
    pub fn share(&mut self, i: usize, action: Action, size: u64, rel: &[u8]) -> bool {
        if let Some(t) = self.members[i].summary.shard.as_mut() {
            t.files.add(action, 1);
            t.bytes.add(action, size);
        }
        self.mine(rel)
    }

    /// Whether the directory at `rel` is another shard's to remove: the shard of the
    /// files directly in it, which knows when its last one has gone.
    pub fn dir_elsewhere(&self, rel: &[u8]) -> bool {
        self.shard.is_some_and(|s| !s.owns_key(rel))
    }

    /// The first selected member: what belongs to no file of a member's (a listing's
    /// error, an object the listing should not have shown) is its.
    pub fn primary(&self) -> usize {
        self.members.iter().position(|m| m.selected).unwrap_or(0)
    }

    /// Whether any member that may act has completion markers.
    pub fn has_markers(&self) -> bool {
        self.members.iter().any(|m| m.selected && !m.policy.markers.is_empty())
    }
}

impl<'p> DirState<'p> {
    /// Notes a marker of member `member` judged in the markers' pass.
    pub fn marker(&mut self, member: usize, name: &[u8], verdict: &Verdict<'p>) {
        self.markers.push((member, String::from_utf8_lossy(name).into(), verdict.clone()));
    }

    /// The markers' pass is done: the markers that stay (whatever keeps them: a guard,
    /// an exclude, a date that has not expired, no layout) keep everything directly
    /// beside them that their owner would delete or move.
    pub fn markers_done(&mut self) {
        for (i, name, v) in std::mem::take(&mut self.markers) {
            if !matches!(v.action, Action::Delete | Action::Move) && !self.stays.iter().any(|(o, _, _)| *o == i) {
                self.stays.push((i, name, v));
            }
        }
    }
}
