//! One policy at the root being walked, with what its walks learn, and the set type
//! that says which of a root's policies did something (emptied a directory).

use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::Arc;

use super::summary::PolicySummary;
use crate::bucket::Action;
use crate::classify::{Classifier, Table};
use crate::clock::Period;
use crate::guard::auto::Basis;
use crate::guard::capacity::Census;
use crate::guard::forecast::Recent;
use crate::guard::{Newest, Planned};
use crate::policy::Policy;
use crate::tree::DirId;

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
    /// What the counting walk counts for `max_delete`.
    pub planned: Planned,
    /// The counting walk's newest partitions, for `keep_last`.
    pub newest: Option<Newest>,
    /// The counting walk's partition statistics, for capacity targets.
    pub census: Option<Census>,
    /// The first lakehouse table found under the root (and not excluded).
    pub table: Option<Rc<Table>>,
    /// The end of the newest matched partition, and its date, for `expect_fresh`.
    pub newest_end: Option<(i64, Rc<str>)>,
    /// The archive's root, opened once (`archive.to`), and its identity; `Err` with the
    /// reason when it could not be.
    pub archive: Result<Option<(Arc<OwnedFd>, DirId)>, String>,
    /// The filesystem said EROFS once: nothing more is attempted.
    pub read_only: bool,
    /// What `max_delete: auto` goes by, when it is in force.
    pub auto: Option<Basis>,
    /// The acting walk's newest complete partitions, for the forecast (local roots).
    pub recent: Option<Recent>,
    /// Bytes on disk of the policy's dated files, as the acting walk found them.
    pub dated: u64,
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
            table: None,
            newest_end: None,
            archive: Ok(None),
            read_only: false,
            auto: None,
            recent: None,
            dated: 0,
        }
    }

    /// Notes a file of the acting walk for the forecast: `allocated` bytes on disk, with
    /// this action, dated in `partition`. Every file of a partition counts, whatever its
    /// bucket; an unmatched one is no partition's.
    pub fn foresee(&mut self, action: Action, partition: Option<Period>, allocated: u64) {
        let Some(p) = partition.filter(|_| !matches!(action, Action::Unmatched | Action::Error)) else { return };
        self.dated += allocated;
        if let Some(r) = self.recent.as_mut() {
            r.observe(p, allocated);
        }
    }

    /// Whether this member may still act: selected, and neither refused nor stopped by
    /// a read-only filesystem.
    pub fn acting(&self) -> bool {
        self.selected && !self.refused && !self.read_only
    }
}

/// A set of a root's members, by their index: which of them emptied a directory. Any
/// number of policies may share a root, so this is a growable bit set, not a word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberSet(Vec<u64>);

impl MemberSet {
    /// Adds member `i`.
    pub fn insert(&mut self, i: usize) {
        let (word, bit) = (i / 64, i % 64);
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << bit;
    }

    /// Adds every member of `other`.
    pub fn extend(&mut self, other: &MemberSet) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }

    /// The members, in order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0
            .iter()
            .enumerate()
            .flat_map(|(w, bits)| (0..64).filter(move |b| bits & (1 << b) != 0).map(move |b| w * 64 + b))
    }

    /// The first member.
    pub fn first(&self) -> Option<usize> {
        self.iter().next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_holds_members_past_sixty_four() {
        let mut s = MemberSet::default();
        assert!(s.first().is_none());
        for i in [3, 64, 70, 200] {
            s.insert(i);
        }
        let mut t = MemberSet::default();
        t.insert(1);
        t.extend(&s);
        assert_eq!(t.iter().collect::<Vec<_>>(), [1, 3, 64, 70, 200]);
        assert_eq!(t.first(), Some(1));
    }
}
