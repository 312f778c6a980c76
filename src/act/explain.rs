//! One path's decision: what `sweep explain` shows and what `sweep check` verifies for
//! each expectation in `tests:`.
//!
//! The path's owner is decided as the walk decides it (over all loaded policies), and
//! the same classifier decides, so `explain`, `check` and `plan` cannot disagree on what
//! they all see. What needs the whole tree (`keep_last`, thinning, capacity) comes from
//! a counting walk of the root for `explain` ([`Tree::Walk`]), and from the case's own
//! paths for `tests:` ([`Tree::Paths`]: thinning only). `max_delete` and, for paths
//! that do not exist, what needs the file (`date_from: mtime`, `min_age`, `skip_open`)
//! is left out, and the decision says so.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::action::Action;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use crate::classify::{Classifier, Facts, Override, Reason, Verdict};
use crate::clock::{self, Cutoff, Now, Period};
use crate::policy::set::normalize;
use crate::policy::{DateFrom, Policy, PolicySet};
use crate::tree::{Entry, Kind};

/// One path's decision under its owner.
#[derive(Debug, Clone)]
pub struct Decision<'p> {
    /// The owner.
    pub policy: &'p Policy,
    /// Whether `--policy` selected the owner (a run would otherwise leave the path alone).
    pub selected: bool,
    /// The path is a directory: the decision is that of the files in it.
    pub directory: bool,
    /// The verdict, or `None` when it cannot be made without the file.
    pub verdict: Option<Verdict<'p>>,
    /// What rendering the reason needs.
    pub facts: Facts,
    /// Why it is undecided, when it is.
    pub undecided: Option<&'static str>,
    /// The layout that matched, as written.
    pub layout: Option<String>,
    /// The partition's period, RFC 3339 start and end.
    pub period: Option<(String, String)>,
    /// The cutoff.
    pub cutoff: Cutoff,
    /// For layouts that did not match (all, when none did): where each stopped.
    pub misses: Vec<String>,
    /// What was not evaluated, and other policies whose roots contain the path.
    pub notes: Vec<String>,
}

impl Decision<'_> {
    /// The action, when decided.
    pub fn action(&self) -> Option<Action> {
        self.verdict.as_ref().filter(|_| self.undecided.is_none()).map(|v| v.action)
    }
}

/// What the decisions that need the whole tree (`keep_last`, thinning, capacity) are
/// taken over.
#[derive(Debug, Clone, Copy)]
pub enum Tree<'a> {
    /// The owner's root, walked as `plan` walks it (`sweep explain`).
    Walk,
    /// A case's paths, as if they were the whole tree (a `tests:` case: its paths
    /// describe the tree it is about). Thinning is taken over them; `keep_last` and
    /// capacity are not evaluated.
    Paths(&'a Case),
}

/// The paths of one `tests:` case, all decided at its one `now`. What thinning keeps
/// among them is worked out once per owner and remembered: once per path would cost
/// the square of the number of paths.
#[derive(Debug, Default)]
pub struct Case {
    paths: Vec<PathBuf>,
    thinned: RefCell<HashMap<usize, BTreeMap<Period, Override>>>,
}

impl Case {
    /// A case of these paths.
    pub fn new(paths: Vec<PathBuf>) -> Case {
        Case { paths, thinned: RefCell::default() }
    }

    /// What thinning keeps among the partitions of the case's paths that `owner` owns;
    /// of them, only the one `path` falls in (all a decision needs).
    fn thinned(&self, set: &PolicySet, owner: usize, path: &Path, now: &Now) -> BTreeMap<Period, Override> {
        let mut memo = self.thinned.borrow_mut();
        let kept = memo.entry(owner).or_insert_with(|| thinned_over(set, owner, &self.paths, now));
        let policy = &set.policies[owner];
        let period = decide_with(policy, path, now, None).verdict.and_then(|v| v.partition);
        period.and_then(|p| Some((p, kept.get(&p)?.clone()))).into_iter().collect()
    }
}

/// The decision for `path` (absolute; `..` is resolved lexically) at `now`, or `None`
/// when no root contains it. `selected` says which policies `--policy` chose.
pub fn decide<'p>(set: &'p PolicySet, selected: &[bool], path: &Path, now: &Now, tree: Tree) -> Option<Decision<'p>> {
    let path = normalize(path);
    let owner = set.owner(&path)?;
    let policy = &set.policies[owner];
    let mut extra = None;
    let overrides = match tree {
        Tree::Walk if policy.keep_last > 0 || policy.tiers.thin.any() || policy.capacity.any() => {
            match super::whole_tree(set, owner, now) {
                Ok(o) => Some(o),
                Err(e) => {
                    extra = Some(format!("keep_last, thinning and capacity need the tree, which cannot be read: {e}"));
                    None
                }
            }
        }
        Tree::Paths(case) if policy.tiers.thin.any() => Some(case.thinned(set, owner, &path, now)),
        _ => None,
    };
    let mut d = decide_with(policy, &path, now, overrides);
    d.notes.extend(extra);
    d.selected = selected.get(owner).copied().unwrap_or(true);
    for other in set.containing(&path).into_iter().filter(|&i| i != owner).map(|i| &set.policies[i]) {
        let why = if other.root == policy.root {
            "shares the root; this path is matched first by the owner's layouts or exclude"
        } else if other.root.starts_with(&policy.root) {
            "has its root inside this one"
        } else {
            "has an outer root and never enters this policy's"
        };
        d.notes.push(format!("policy {} ({}) {why}", other.name, other.origin));
    }
    if !d.selected {
        d.notes.push(format!("policy {} is not selected by --policy: such a run leaves this path alone", policy.name));
    }
    Some(d)
}

/// Thinning over the partitions of `paths` that policy `owner` owns and that age
/// expires.
fn thinned_over(set: &PolicySet, owner: usize, paths: &[PathBuf], now: &Now) -> BTreeMap<Period, Override> {
    let policy = &set.policies[owner];
    let expired = paths.iter().filter_map(|p| {
        let p = normalize(p);
        if set.owner(&p) != Some(owner) {
            return None;
        }
        let d = decide_with(policy, &p, now, None);
        d.verdict.filter(|v| v.action == Action::Delete).and_then(|v| v.partition)
    });
    let kept = crate::guard::thin::keep(policy.tiers.thin, expired.collect::<Vec<_>>(), policy.zone.tz());
    kept.into_iter()
        .map(|(p, (rule, bucket))| (p, Override { thinned: Some((rule, bucket.into())), ..Override::default() }))
        .collect()
}

/// The decision for `path` under `policy`, as a walk would make it, with the
/// whole-tree decisions `overrides` when they are known.
fn decide_with<'p>(
    policy: &'p Policy,
    path: &Path,
    now: &Now,
    overrides: Option<BTreeMap<Period, Override>>,
) -> Decision<'p> {
    let now_at = now.resolve(&policy.zone);
    let cutoff = clock::cutoff(policy.keep, now_at, &policy.calendar);
    let tz = policy.zone.tz();
    let rel: PathBuf = path.strip_prefix(&policy.root).map(Path::to_path_buf).unwrap_or_default();
    let parts: Vec<&[u8]> = rel.iter().map(|c| c.as_bytes()).collect();
    let mut classifier = Classifier::new(policy, &cutoff, now_at, None);
    let mut notes = Vec::new();
    let whole = overrides.is_some();
    if let Some(o) = overrides {
        classifier.set_overrides(o);
    }
    if policy.keep_last > 0 && !whole {
        notes.push(format!("keep_last {} needs the whole tree; not evaluated here (plan shows it)", policy.keep_last));
    }
    let meta = if policy.object.is_some() { None } else { std::fs::symlink_metadata(path).ok() };
    let directory = meta.as_ref().is_some_and(|m| m.is_dir());
    let mtime = meta.as_ref().filter(|_| !directory).map(MetadataExt::mtime);
    let needs_mtime = policy.date_from == DateFrom::Mtime || !policy.min_age.is_zero();
    if needs_mtime && mtime.is_none() {
        let what = if policy.date_from == DateFrom::Mtime { "date_from: mtime" } else { "min_age" };
        let why =
            if directory { "is decided per file" } else { "needs the file's mtime, and the path does not exist here" };
        notes.push(format!("{what} {why}"));
    }
    if directory {
        notes.push(
            "a directory: this is the decision for the files directly in it (and below, for a `**` layout)".into(),
        );
    }
    // A directory is explained as a file inside it would be: the same partition.
    let mut dirs: Vec<&[u8]> = parts.clone();
    let name: &[u8] = if directory { b"" } else { dirs.pop().unwrap_or_default() };
    let mut dir = classifier.root();
    let mut at = Vec::new();
    for d in &dirs {
        if !at.is_empty() {
            at.push(b'/');
        }
        at.extend_from_slice(d);
        dir = classifier.enter(&dir, d, &at);
    }
    let path_bytes = path.as_os_str().as_bytes();
    let entry = Entry {
        path: path_bytes,
        rel: rel.as_os_str().as_bytes(),
        name,
        kind: Kind::File,
        size: meta.as_ref().map_or(0, |m| m.len()),
        allocated: 0,
        links: 1,
        // Without the file, its age cannot protect it: assume it is old.
        mtime: mtime.unwrap_or(i64::MIN / 2),
        dev: meta.as_ref().map_or(0, MetadataExt::dev),
        ino: meta.as_ref().map_or(0, MetadataExt::ino),
    };
    let verdict = classifier.classify(&dir, &entry);
    let trace_parts: Vec<&[u8]> = if directory { parts.iter().copied().chain([&b"*"[..]]).collect() } else { parts };
    let trace = policy.layouts.trace(&trace_parts);
    let layout = trace.matched.map(|m| policy.layouts.templates()[m.layout].source().to_string());
    let rfc = |s| clock::local(tz, s).to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let needed_mtime = matches!(verdict.reason, Reason::MtimeCurrent(_) | Reason::MtimeExpired(_) | Reason::KeepLast);
    let undecided = (policy.date_from == DateFrom::Mtime && mtime.is_none() && needed_mtime)
        .then_some("depends on the file's mtime");
    let misses = trace
        .misses
        .iter()
        .map(|(i, why)| format!("layout {} `{}`: {why}", i + 1, policy.layouts.templates()[*i].source()))
        .collect();
    let period = verdict.partition.filter(|_| undecided.is_none()).map(|p| (rfc(p.start), rfc(p.end)));
    Decision {
        policy,
        selected: true,
        directory,
        facts: classifier.facts().clone(),
        verdict: Some(verdict),
        undecided,
        layout,
        period,
        cutoff,
        misses,
        notes,
    }
}

/// Makes `p` absolute against the current directory.
pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() || crate::policy::object::is_url(p) {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}
