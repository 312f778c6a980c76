//! One path's decision: what `sweep explain` shows and what `sweep check` verifies for
//! each expectation in `tests:`.
//!
//! The path's owner is decided as the walk decides it (over all loaded policies), and
//! the same classifier decides, so `explain`, `check` and `plan` cannot disagree on what
//! they all see. `explain` watches a plan of the owner's root (and of the roots that
//! move files into it) and reports the decision the plan's acting walk took for the path
//! ([`Observed`]), refusals included; only for a path the plan does not list (one that
//! does not exist, or a directory) is the decision made here, from the path, with what
//! the plan decided for whole partitions ([`Tree::Given`]). A `tests:` case is its own
//! tree ([`Tree::Paths`]): thinning is taken over its paths (and the paths earlier
//! policies move in), and a completion marker among them that stays keeps its
//! neighbours, as in a run.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::bucket::Action;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use crate::classify::{Classifier, Facts, Override, Reason, Verdict};
use crate::clock::{self, Cutoff, Now, Period};
use crate::guard::Refusal;
use crate::policy::set::normalize;
use crate::policy::{DateFrom, Policy, PolicySet};
use crate::tree::{Entry, Kind};

/// What a plan's acting walk decided for a path, as it reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The action.
    pub action: Action,
    /// The reason, as reports word it.
    pub reason: String,
    /// The partition's date.
    pub date: Option<String>,
    /// The partition's period.
    pub partition: Option<Period>,
}

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
    /// What a plan decided for the path, when `explain` watched one that lists it.
    pub observed: Option<Observed>,
    /// The owner's refusal in that plan.
    pub refusal: Option<Refusal>,
}

impl Decision<'_> {
    /// The action, when decided.
    pub fn action(&self) -> Option<Action> {
        if let Some(o) = &self.observed {
            return Some(o.action);
        }
        self.verdict.as_ref().filter(|_| self.undecided.is_none()).map(|v| v.action)
    }

    /// Takes what a plan decided for the path.
    pub fn observe(&mut self, o: Observed) {
        let tz = self.policy.zone.tz();
        let rfc = |s| clock::local(tz, s).to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        self.period = o.partition.map(|p| (rfc(p.start), rfc(p.end)));
        self.undecided = None;
        self.observed = Some(o);
    }
}

/// What the decisions that need the whole tree (`keep_last`, thinning, capacity) are
/// taken over.
#[derive(Debug, Clone, Copy)]
pub enum Tree<'a> {
    /// What a plan of the owner's root decided for its partitions (`sweep explain`, for
    /// a path the plan does not list).
    Given(&'a BTreeMap<Period, Override>),
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

    /// A completion marker of `owner` among the case's paths, in `path`'s directory,
    /// that stays: its name and its decision.
    fn marker_staying<'p>(
        &self,
        set: &'p PolicySet,
        owner: usize,
        path: &Path,
        now: &Now,
    ) -> Option<(std::rc::Rc<str>, Verdict<'p>)> {
        let policy = &set.policies[owner];
        if policy.markers.is_empty() {
            return None;
        }
        let dir = path.parent()?;
        self.paths.iter().map(|p| normalize(p)).find_map(|p| {
            let name = p.file_name()?;
            if p.parent() != Some(dir) || policy.markers.matching(Path::new(name)).is_none() {
                return None;
            }
            if set.owner(&p) != Some(owner) {
                return None;
            }
            let o = self.thinned(set, owner, &p, now);
            let v = decide_with(policy, &p, now, Some(o)).verdict?;
            (!matches!(v.action, Action::Delete | Action::Move))
                .then(|| (std::rc::Rc::from(name.to_string_lossy().as_ref()), v))
        })
    }
}

/// The decision for `path` (absolute; `..` is resolved lexically) at `now`, or `None`
/// when no root contains it. `selected` says which policies `--policy` chose.
pub fn decide<'p>(set: &'p PolicySet, selected: &[bool], path: &Path, now: &Now, tree: Tree) -> Option<Decision<'p>> {
    let path = normalize(path);
    let owner = set.owner(&path)?;
    let policy = &set.policies[owner];
    let overrides = match tree {
        Tree::Given(o) => Some(o.clone()),
        Tree::Paths(case) if policy.tiers.thin.any() => Some(case.thinned(set, owner, &path, now)),
        Tree::Paths(_) => None,
    };
    let whole = matches!(tree, Tree::Given(_));
    let mut d = decide_with(policy, &path, now, overrides);
    if whole {
        d.notes.retain(|n| !n.starts_with("keep_last"));
    }
    if let Tree::Paths(case) = tree
        && let Some(v) = d.verdict.as_mut()
        && matches!(v.action, Action::Delete | Action::Move)
        && policy.markers.matching(Path::new(path.file_name().unwrap_or_default())).is_none()
        && let Some((name, marker)) = case.marker_staying(set, owner, &path, now)
    {
        v.action = Action::Keep;
        v.reason = Reason::MarkerStays(Box::new((name, marker)));
    }
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

/// Which policies a plan must run for `explain` to watch the decisions of `paths`:
/// their owners, and, among the policies `selected`, those whose moves reach an owner's
/// root earlier in the run (and those that feed them).
pub fn needed(set: &PolicySet, selected: &[bool], paths: &[PathBuf]) -> Vec<bool> {
    let groups = set.groups();
    let mut group_of = vec![0; set.policies.len()];
    for (g, group) in groups.iter().enumerate() {
        for &i in &group.members {
            group_of[i] = g;
        }
    }
    let mut need = vec![false; set.policies.len()];
    let mut wanted = vec![false; groups.len()];
    for p in paths {
        if let Some(owner) = set.owner(&normalize(p)) {
            need[owner] = true;
            wanted[group_of[owner]] = true;
        }
    }
    loop {
        let mut grew = false;
        for (i, p) in set.policies.iter().enumerate() {
            let Some(a) = p.tiers.archive.as_ref() else { continue };
            if need[i] || !selected.get(i).copied().unwrap_or(false) {
                continue;
            }
            let into = set.owner(&a.to.join("x")).map(|o| group_of[o]);
            if into.is_some_and(|g| wanted[g] && g > group_of[i]) {
                need[i] = true;
                wanted[group_of[i]] = true;
                grew = true;
            }
        }
        if !grew {
            return need;
        }
    }
}

/// Thinning over the partitions of `paths` that policy `owner` owns and that age
/// expires.
fn thinned_over(set: &PolicySet, owner: usize, paths: &[PathBuf], now: &Now) -> BTreeMap<Period, Override> {
    let policy = &set.policies[owner];
    // The case's paths of this policy, and those an earlier policy moves into its root.
    let arrived = |p: &PathBuf| -> Option<PathBuf> {
        let p = normalize(p);
        let from = set.owner(&p)?;
        if from == owner {
            return Some(p);
        }
        let source = &set.policies[from];
        let a = source.tiers.archive.as_ref()?;
        let d = decide_with(source, &p, now, None);
        if d.verdict.is_none_or(|v| v.action != Action::Move) {
            return None;
        }
        let to = a.to.join(p.strip_prefix(&source.root).ok()?);
        let earlier = |i: usize| set.groups().iter().position(|g| g.members.contains(&i));
        (set.owner(&to) == Some(owner) && earlier(from) < earlier(owner)).then_some(to)
    };
    let expired = paths.iter().filter_map(arrived).filter_map(|p| {
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
        observed: None,
        refusal: None,
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
