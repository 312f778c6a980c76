//! Several policies, one tree: who owns a path.
//!
//! Every path under any loaded policy's root belongs to exactly one policy (docs/guide.md,
//! "Several policies, one tree"): the one whose root is the deepest root containing it; among policies
//! with the same root, the first in load order whose `layouts` or `exclude` match it,
//! else the first policy with that root. The rule is decided over all loaded policies,
//! whatever `--policy` selects, so selecting one policy can never make it take files
//! another policy keeps. The walk applies the same rule incrementally (see `act`);
//! `explain` and `check`'s tests use [`PolicySet::owner`].
//!
//! A set may hold thousands of policies (a generated file, or a hostile one in CI), and
//! every test path asks for its owner, so the roots are indexed once ([`Roots`]): sorted
//! component-wise, the roots inside a root follow it, and each root knows the deepest
//! root that contains it. An owner is then a binary search and a short climb, and the
//! roots nested in one are a contiguous run.

use std::borrow::Cow;
use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

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
    /// The index of the roots, built on first use (once loading is done).
    roots: OnceLock<Roots>,
}

/// The distinct roots of a set, indexed.
#[derive(Debug, Clone, Default)]
struct Roots {
    /// How many policies it was built from: a set changed since is indexed afresh.
    policies: usize,
    /// The groups in the order their first policy was loaded.
    groups: Vec<Group>,
    /// Group indices, sorted by root (component-wise, so the roots inside a root follow
    /// it, contiguously).
    sorted: Vec<usize>,
    /// For each group, the group of the deepest other root containing its root.
    parent: Vec<Option<usize>>,
    /// For each group, the groups whose deepest containing root is its own, outermost
    /// first, then in load order.
    children: Vec<Vec<usize>>,
}

impl Roots {
    fn new(policies: &[Policy]) -> Roots {
        let mut groups: Vec<Group> = Vec::new();
        let mut by_root: HashMap<&Path, usize> = HashMap::new();
        for (i, p) in policies.iter().enumerate() {
            match by_root.get(p.root.as_path()) {
                Some(&g) => groups[g].members.push(i),
                None => {
                    by_root.insert(&p.root, groups.len());
                    groups.push(Group { root: p.root.clone(), members: vec![i] });
                }
            }
        }
        let mut sorted: Vec<usize> = (0..groups.len()).collect();
        sorted.sort_by(|&a, &b| groups[a].root.cmp(&groups[b].root));
        // In sorted order, the roots containing the current one are a stack.
        let mut parent = vec![None; groups.len()];
        let mut stack: Vec<usize> = Vec::new();
        for &g in &sorted {
            while stack.last().is_some_and(|&o| !groups[g].root.starts_with(&groups[o].root)) {
                stack.pop();
            }
            parent[g] = stack.last().copied();
            stack.push(g);
        }
        let mut children = vec![Vec::new(); groups.len()];
        for (g, p) in parent.iter().enumerate() {
            if let Some(p) = *p {
                children[p].push(g);
            }
        }
        for c in &mut children {
            c.sort_by_key(|&g| (groups[g].root.components().count(), g));
        }
        Roots { policies: policies.len(), groups, sorted, parent, children }
    }

    /// The group of the deepest root that contains `path` and is not `path` itself.
    fn deepest(&self, path: &Path) -> Option<usize> {
        let at = self.sorted.partition_point(|&g| self.groups[g].root.as_path() <= path);
        let mut g = self.sorted.get(at.checked_sub(1)?).copied();
        // The deepest root containing `path` sorts between itself and `path`, so it
        // contains the root just before `path`: climb from there.
        while let Some(i) = g {
            let root = &self.groups[i].root;
            if path != root && path.starts_with(root) {
                return Some(i);
            }
            g = self.parent[i];
        }
        None
    }

    /// The groups whose roots are strictly inside `root`, in sorted order.
    fn inside<'a>(&'a self, root: &'a Path) -> impl Iterator<Item = usize> + 'a {
        let from = self.sorted.partition_point(|&g| self.groups[g].root.as_path() <= root);
        self.sorted[from..].iter().copied().take_while(move |&g| self.groups[g].root.starts_with(root))
    }
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
        PolicySet { policies: Vec::new(), tests: Vec::new(), files, roots: OnceLock::new() }
    }

    /// The roots, indexed once; afresh if policies were added since.
    fn roots(&self) -> Cow<'_, Roots> {
        let r = self.roots.get_or_init(|| Roots::new(&self.policies));
        if r.policies == self.policies.len() { Cow::Borrowed(r) } else { Cow::Owned(Roots::new(&self.policies)) }
    }

    /// The index of the policy called `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.policies.iter().position(|p| p.name == name)
    }

    /// Distinct roots in the order their first policy was loaded, each with every policy
    /// at that root.
    pub fn groups(&self) -> Vec<Group> {
        self.roots().groups.clone()
    }

    /// Roots strictly inside `root`, each with its owner, outermost first (then in load
    /// order). Only the outermost matter to a walk (it never enters them), but all are
    /// listed: a bind mount of a deeper one is recognised by its identity.
    pub fn nested_in(&self, root: &Path) -> Vec<Nested> {
        let roots = self.roots();
        let mut inside: Vec<usize> = roots.inside(root).collect();
        inside.sort_by_key(|&g| (roots.groups[g].root.components().count(), g));
        inside
            .into_iter()
            .map(|g| Nested { root: roots.groups[g].root.clone(), owner: roots.groups[g].members[0] })
            .collect()
    }

    /// The policies whose roots contain `path` (and are not `path` itself), in load
    /// order: its owner's root and the roots around it.
    pub fn containing(&self, path: &Path) -> Vec<usize> {
        let roots = self.roots();
        let path = normalize(path);
        let mut out = Vec::new();
        let mut g = roots.deepest(&path);
        while let Some(i) = g {
            out.extend_from_slice(&roots.groups[i].members);
            g = roots.parent[i];
        }
        out.sort_unstable();
        out
    }

    /// The policy that owns `path` (absolute; `..` is resolved without the filesystem),
    /// or `None` when no root contains it. A root itself belongs to no policy: sweep
    /// never removes a root.
    pub fn owner(&self, path: &Path) -> Option<usize> {
        let path = normalize(path);
        let roots = self.roots();
        let group = &roots.groups[roots.deepest(&path)?];
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
        let roots = self.roots();
        for (gi, g) in roots.groups.iter().enumerate() {
            if g.members.len() > 1 {
                let names: Vec<&str> = g.members.iter().map(|&i| self.policies[i].name.as_str()).collect();
                notes.push(format!(
                    "policies {} share root {}: each file belongs to the first of them whose layouts or exclude match it, in that order; files none of them matches are {}'s (reported unmatched)",
                    names.join(", "),
                    g.root.display(),
                    names[0]
                ));
            }
            // Only the directly enclosing root reports an inner one.
            for &c in &roots.children[gi] {
                let n = &roots.groups[c];
                let owner = &self.policies[n.members[0]].name;
                let outer: Vec<&str> = g.members.iter().map(|&i| self.policies[i].name.as_str()).collect();
                notes.push(format!(
                    "root {} (policy {owner}) is inside root {} (policy {}): everything below it belongs to {owner}; {} never enters it",
                    n.root.display(),
                    g.root.display(),
                    outer.join(", "),
                    outer.join(", ")
                ));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn set(roots: &[&str]) -> PolicySet {
        let mut yaml = String::from("version: 1\npolicies:\n");
        for (i, r) in roots.iter().enumerate() {
            yaml.push_str(&format!("  - {{name: p{i}, root: {r}, layouts: [\"%Y/**\"], keep: 1d}}\n"));
        }
        let (set, problems) = super::super::load_text(Path::new("t.yaml"), yaml.as_bytes());
        assert!(problems.is_empty(), "{problems:?}");
        set
    }

    #[test]
    fn the_deepest_root_owns_and_inner_roots_are_listed_outermost_first() {
        let s = set(&["/d/a", "/d", "/d/a/b", "/d/ab", "/d/a", "/e", "/d/a/b/c/d"]);
        let owner = |p: &str| s.owner(Path::new(p));
        assert_eq!(owner("/d/a/x"), Some(0));
        assert_eq!(owner("/d/a/b/2024/x"), Some(2));
        assert_eq!(owner("/d/a/b/c/x"), Some(2));
        assert_eq!(owner("/d/a/b/c/d/x"), Some(6));
        assert_eq!(owner("/d/ab/x"), Some(3), "a sibling with a common prefix is no parent");
        assert_eq!(owner("/d/a"), Some(1), "a root belongs to the root around it");
        assert_eq!(owner("/d/a/b/../x"), Some(0));
        assert_eq!(owner("/d"), None);
        assert_eq!(owner("/f/x"), None);
        let nested: Vec<String> = s.nested_in(Path::new("/d")).iter().map(|n| n.root.display().to_string()).collect();
        assert_eq!(nested, ["/d/a", "/d/ab", "/d/a/b", "/d/a/b/c/d"]);
        assert_eq!(s.nested_in(Path::new("/d/a"))[0].owner, 2);
        assert_eq!(s.containing(Path::new("/d/a/b/x")), [0, 1, 2, 4]);
        let notes = s.notes();
        assert_eq!(notes.iter().filter(|n| n.contains("share root /d/a")).count(), 1, "{notes:#?}");
        let inside: Vec<&String> = notes.iter().filter(|n| n.contains("is inside")).collect();
        assert_eq!(inside.len(), 4, "only the directly enclosing root reports: {notes:#?}");
        assert!(inside.iter().any(|n| n.starts_with("root /d/a/b/c/d (policy p6) is inside root /d/a/b (policy p2)")));
        assert_eq!(s.groups().len(), 6);
    }
}
