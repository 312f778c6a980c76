//! Several policies, one tree: who owns a path.
//!
//! Every path under any loaded policy's root belongs to exactly one policy (SPEC.md,
//! "Ownership"): the one whose root is the deepest root containing it; among policies
//! with the same root, the first in load order whose `layouts` or `exclude` match it,
//! else the first policy with that root. The rule is decided over all loaded policies,
//! whatever `--policy` selects, so selecting one policy can never make it take files
//! another policy keeps. The walk applies the same rule incrementally (see `act`);
//! `explain` and `check`'s tests use [`PolicySet::owner`].

use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::{Policy, PolicyTest};

/// Everything read from the `-c` paths.
#[derive(Debug, Default)]
pub struct PolicySet {
    /// Policies in load order (files in name order, then order within a file).
    pub policies: Vec<Policy>,
    /// Examples from `tests:` keys, verified by `sweep check`.
    pub tests: Vec<PolicyTest>,
    /// The files read.
    pub files: Vec<PathBuf>,
}

/// Policies that share one root, walked together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The root.
    pub root: PathBuf,
    /// Indices into [`PolicySet::policies`], in load order.
    pub members: Vec<usize>,
}

/// A root inside another policy's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nested {
    /// The inner root.
    pub root: PathBuf,
    /// The policy that owns it (the first with that root).
    pub owner: usize,
}

impl PolicySet {
    /// An empty set read from `files`.
    pub fn new(files: Vec<PathBuf>) -> PolicySet {
        PolicySet { policies: Vec::new(), tests: Vec::new(), files }
    }

    /// The index of the policy called `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.policies.iter().position(|p| p.name == name)
    }

    /// Distinct roots in the order their first policy was loaded, each with every policy
    /// at that root.
    pub fn groups(&self) -> Vec<Group> {
        let mut groups: Vec<Group> = Vec::new();
        for (i, p) in self.policies.iter().enumerate() {
            match groups.iter_mut().find(|g| g.root == p.root) {
                Some(g) => g.members.push(i),
                None => groups.push(Group { root: p.root.clone(), members: vec![i] }),
            }
        }
        groups
    }

    /// Roots strictly inside `root`, each with its owner, outermost first. Only the
    /// outermost matter to a walk (it never enters them), but all are listed.
    pub fn nested_in(&self, root: &Path) -> Vec<Nested> {
        let mut out: Vec<Nested> = Vec::new();
        for g in self.groups() {
            if g.root != root && g.root.starts_with(root) {
                out.push(Nested { root: g.root.clone(), owner: g.members[0] });
            }
        }
        out.sort_by_key(|n| n.root.components().count());
        out
    }

    /// The policy that owns `path` (absolute; `..` is resolved without the filesystem),
    /// or `None` when no root contains it. A root itself belongs to no policy: sweep
    /// never removes a root.
    pub fn owner(&self, path: &Path) -> Option<usize> {
        let path = normalize(path);
        let group = self
            .groups()
            .into_iter()
            .filter(|g| path.starts_with(&g.root) && path != g.root)
            .max_by_key(|g| g.root.components().count())?;
        let rel = path.strip_prefix(&group.root).ok()?;
        let first = group.members[0];
        if group.members.len() == 1 {
            return Some(first);
        }
        Some(group.members.iter().copied().find(|&i| claims(&self.policies[i], rel)).unwrap_or(first))
    }

    /// Notes for `sweep check`: every nested and shared root, and who owns what.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        for g in self.groups() {
            if g.members.len() > 1 {
                let names: Vec<&str> = g.members.iter().map(|&i| self.policies[i].name.as_str()).collect();
                notes.push(format!(
                    "policies {} share root {}: each file belongs to the first of them whose layouts or exclude match it, in that order; files none of them matches are {}'s (reported unmatched)",
                    names.join(", "),
                    g.root.display(),
                    names[0]
                ));
            }
            for n in self.nested_in(&g.root) {
                // Only the directly enclosing root reports an inner one.
                let direct = !self.groups().iter().any(|o| {
                    o.root != g.root && o.root != n.root && o.root.starts_with(&g.root) && n.root.starts_with(&o.root)
                });
                if direct {
                    let outer: Vec<&str> = g.members.iter().map(|&i| self.policies[i].name.as_str()).collect();
                    notes.push(format!(
                        "root {} (policy {}) is inside root {} (policy {}): everything below it belongs to {}; {} never enters it",
                        n.root.display(),
                        self.policies[n.owner].name,
                        g.root.display(),
                        outer.join(", "),
                        self.policies[n.owner].name,
                        outer.join(", ")
                    ));
                }
            }
        }
        notes
    }
}

/// Whether `policy`'s layouts or exclude match `rel` (a path below its root): what makes
/// a file at a shared root this policy's.
pub fn claims(policy: &Policy, rel: &Path) -> bool {
    let parts: Vec<&[u8]> = rel.iter().map(|c| c.as_bytes()).collect();
    if policy.layouts.trace(&parts).matched.is_some() {
        return true;
    }
    // An exclude matching the file, or any directory above it.
    rel.ancestors().filter(|a| !a.as_os_str().is_empty()).any(|a| policy.exclude.matching(a).is_some())
}

/// `path` with `.` and `..` resolved lexically (as `explain` and policy tests see paths:
/// they need not exist, so no symlink is read).
pub fn normalize(path: &Path) -> PathBuf {
    if let Some(url) = super::object::normalize(path) {
        return url;
    }
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}
