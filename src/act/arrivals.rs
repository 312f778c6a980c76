//! What a plan moves into roots that run after it: the arrivals a later policy's walks
//! must see, so that `plan` decides them the way `apply` will (where they are real
//! files by the time the later policy runs).
//!
//! A night's moves can be many (a day of an archive is a partition of thousands of
//! files), so they are not held in memory: each is written to an unnamed temporary
//! file as it is planned, and indexed by the directory it lands in. Memory follows the
//! number of directories that receive files, not the number of files.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::policy::PolicySet;
use crate::tree::{Arrival, Arrivals};

/// Where a planned move lands: which root of the run (by its place in the run) owns
/// the destination, and whether that root runs after the one being walked.
///
/// Roots are the same by identity however they are spelled, so a destination is
/// routed by where it really is: each root and each `archive.to` is resolved once
/// (symlinks followed, as the walks and moves reach them), and paths are compared in
/// that form. An `archive.to` spelled through a symlink to a later root lands in that
/// root, in `plan` as in `apply`.
pub struct Routes<'p> {
    set: &'p PolicySet,
    /// For each policy, the place in the run of its root.
    group_of: Vec<usize>,
    /// Each root, in run order: as spelled, as resolved, and whether it runs in this run.
    roots: Vec<(PathBuf, PathBuf, bool)>,
    /// Where policies move files to, as spelled and as resolved, and the place in the
    /// run of the root that moves them.
    targets: Vec<(PathBuf, PathBuf, usize)>,
    current: usize,
}

impl<'p> Routes<'p> {
    /// Routes over `set`'s roots (`groups`, in run order); `runs` says which run.
    pub fn new(set: &'p PolicySet, groups: Vec<crate::policy::set::Group>, runs: Vec<bool>) -> Routes<'p> {
        let mut group_of = vec![0; set.policies.len()];
        for (g, group) in groups.iter().enumerate() {
            for &i in &group.members {
                group_of[i] = g;
            }
        }
        let targets = set
            .policies
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.tiers.archive.as_ref().map(|a| (a.to.clone(), resolved(&a.to), group_of[i])))
            .collect();
        let roots = groups
            .into_iter()
            .zip(runs)
            .map(|(g, r)| {
                let real = resolved(&g.root);
                (g.root, real, r)
            })
            .collect();
        Routes { set, group_of, roots, targets, current: 0 }
    }

    /// `path` (below a root or an `archive.to` of the run, as spelled there) as resolved.
    pub fn real(&self, path: &[u8]) -> Vec<u8> {
        let spelled = Path::new(OsStr::from_bytes(path));
        let prefixes = self.roots.iter().map(|(s, r, _)| (s, r)).chain(self.targets.iter().map(|(s, r, _)| (s, r)));
        // The longest spelled prefix: a root below another is its own.
        let best = prefixes.filter(|(s, _)| spelled.starts_with(s)).max_by_key(|(s, _)| s.as_os_str().len());
        match best {
            Some((s, r)) => match spelled.strip_prefix(s) {
                Ok(rest) if rest.as_os_str().is_empty() => r.as_os_str().as_bytes().to_vec(),
                Ok(rest) => r.join(rest).into_os_string().into_vec(),
                Err(_) => path.to_vec(),
            },
            None => path.to_vec(),
        }
    }

    /// Whether a root that runs later moves files to where `path` is (so that deleting
    /// it now frees the name for that move).
    pub fn later_moves_into(&self, path: &[u8]) -> bool {
        // Most runs move nothing into a later root: then no path needs resolving.
        if !self.targets.iter().any(|(_, _, g)| *g > self.current) {
            return false;
        }
        let real = self.real(path);
        let real = Path::new(OsStr::from_bytes(&real));
        self.targets.iter().any(|(_, to, g)| *g > self.current && real.starts_with(to))
    }

    /// The root being walked now.
    pub fn current(&self) -> usize {
        self.current
    }

    /// Sets the root being walked now.
    pub fn at(&mut self, group: usize) {
        self.current = group;
    }

    /// Where a file moved to `to` lands, when a root that runs later owns it: that
    /// root's place in the run, the directory below it, and the file's name.
    pub fn route(&self, to: &[u8]) -> Option<(usize, Vec<u8>, Vec<u8>)> {
        let real = self.real(to);
        let real = Path::new(OsStr::from_bytes(&real));
        // The deepest root that really holds it, spelled as that root is.
        let (root, rest) = self
            .roots
            .iter()
            .filter_map(|(spelled, r, _)| Some((spelled, real.strip_prefix(r).ok()?)))
            .filter(|(_, rest)| !rest.as_os_str().is_empty())
            .min_by_key(|(_, rest)| rest.as_os_str().len())?;
        let owner = self.set.owner(&root.join(rest))?;
        let group = self.group_of[owner];
        let (spelled, _, runs) = self.roots.get(group)?;
        if group <= self.current || !runs {
            return None;
        }
        let rel = root.join(rest);
        let rel = rel.strip_prefix(spelled).ok()?.as_os_str().as_bytes();
        let (dir, name) = match rel.iter().rposition(|b| *b == b'/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => (&b""[..], rel),
        };
        Some((group, dir.to_vec(), name.to_vec()))
    }
}

/// `path` with symlinks resolved as far as it exists, the rest as written (a destination
/// directory sweep has yet to make).
fn resolved(path: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut at = path;
    loop {
        if let Ok(real) = std::fs::canonicalize(at) {
            return missing.iter().rev().fold(real, |p: PathBuf, c: &&OsStr| p.join(c));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name);
                at = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// A directory that receives arrivals: the walk (a root's place in the run) and its
/// path below that root.
type Place = (usize, Vec<u8>);

/// The arrivals planned so far in a run.
#[derive(Default)]
pub struct Planned {
    /// Where records are written; `None` when no temporary file could be made (then
    /// they are kept in memory).
    file: Option<BufWriter<File>>,
    /// Bytes written so far.
    len: u64,
    /// Records kept in memory instead, by directory.
    memory: BTreeMap<Place, Vec<Arrival>>,
    /// Each directory's records in the file: (offset, count) runs.
    index: BTreeMap<Place, Vec<(u64, u32)>>,
    /// The sub-directories of each directory that lead to arrivals.
    children: BTreeMap<Place, BTreeSet<Vec<u8>>>,
    /// Records of the directory being written to, not yet in the file.
    current: Option<(Place, Vec<Arrival>)>,
    /// Whether anything was planned at all (most runs plan nothing).
    any: bool,
    /// Files an earlier root's plan deletes where a later root's policy moves files to
    /// (by a hash of their path): a move there finds the name free, as in `apply`.
    gone: std::collections::HashSet<u64>,
}

impl Planned {
    /// An empty set of arrivals.
    pub fn new() -> Planned {
        Planned::default()
    }

    /// Notes that `a` arrives in the directory `dir` (relative to its root) of the
    /// root that runs `group`th.
    pub fn add(&mut self, group: usize, dir: &[u8], a: Arrival) {
        if !self.any {
            self.any = true;
            self.file = tempfile::tempfile().ok().map(BufWriter::new);
        }
        if self.current.as_ref().is_none_or(|(p, _)| p.0 != group || p.1 != dir) {
            self.flush();
            self.note_parents(group, dir);
            self.current = Some(((group, dir.to_vec()), Vec::new()));
        }
        if let Some((_, v)) = self.current.as_mut() {
            v.push(a);
            if v.len() >= 1024 {
                self.flush_keep_current();
            }
        }
    }

    /// Notes that an earlier root's plan deletes the file at `path`.
    pub fn note_gone(&mut self, path: &[u8]) {
        self.gone.insert(hash(path));
    }

    /// Whether an earlier root's plan deletes the file at `path`.
    pub fn is_gone(&self, path: &[u8]) -> bool {
        !self.gone.is_empty() && self.gone.contains(&hash(path))
    }

    /// Records every ancestor of `dir` as leading to arrivals.
    fn note_parents(&mut self, group: usize, dir: &[u8]) {
        let mut end = dir.len();
        while end > 0 {
            let start = dir[..end].iter().rposition(|b| *b == b'/').map_or(0, |i| i + 1);
            let parent = if start == 0 { Vec::new() } else { dir[..start - 1].to_vec() };
            let new = self.children.entry((group, parent)).or_default().insert(dir[start..end].to_vec());
            if !new {
                break;
            }
            end = start.saturating_sub(1);
        }
    }

    fn flush_keep_current(&mut self) {
        if let Some((place, v)) = self.current.take() {
            self.store(place.clone(), v);
            self.current = Some((place, Vec::new()));
        }
    }

    fn flush(&mut self) {
        if let Some((place, v)) = self.current.take() {
            self.store(place, v);
        }
    }

    fn store(&mut self, place: Place, v: Vec<Arrival>) {
        if v.is_empty() {
            return;
        }
        let offset = self.len;
        let written = self.file.as_mut().is_some_and(|f| {
            let mut ok = true;
            let mut n = 0;
            for a in &v {
                let rec = encode(a);
                n += rec.len() as u64;
                ok &= f.write_all(&rec).is_ok();
            }
            self.len += n;
            ok
        });
        if written {
            self.index.entry(place).or_default().push((offset, u32::try_from(v.len()).unwrap_or(u32::MAX)));
        } else {
            // Whatever went to the file of this run is lost with it: keep the rest here.
            self.file = None;
            self.memory.entry(place).or_default().extend(v);
        }
    }

    /// What arrives in the directory `rel` (below its root) of the `group`th root.
    pub fn arriving(&self, group: usize, rel: &[u8]) -> Arrivals {
        if !self.any {
            return Arrivals::default();
        }
        let place = (group, rel.to_vec());
        let mut files = Vec::new();
        if let Some(runs) = self.index.get(&place)
            && let Some(f) = self.file.as_ref()
        {
            for &(offset, count) in runs {
                read(f.get_ref(), offset, count, &mut files);
            }
        }
        if let Some(v) = self.memory.get(&place) {
            files.extend(v.iter().cloned());
        }
        if let Some((p, v)) = &self.current
            && *p == place
        {
            files.extend(v.iter().cloned());
        }
        let dirs = self.children.get(&place).map(|c| c.iter().cloned().collect()).unwrap_or_default();
        Arrivals { files, dirs }
    }

    /// Makes everything written readable (called between the walk that plans moves
    /// and the walks that read them).
    pub fn settle(&mut self) {
        self.flush();
        if let Some(f) = self.file.as_mut()
            && f.flush().is_err()
        {
            self.file = None;
        }
        if let Some(f) = self.file.as_mut() {
            let _ = f.get_mut().seek(SeekFrom::End(0));
        }
    }
}

fn hash(path: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    h.finish()
}

/// A record: name length, name, size, allocated, mtime, dev, ino.
fn encode(a: &Arrival) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + a.name.len() + 40);
    out.extend_from_slice(&u32::try_from(a.name.len()).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&a.name);
    for n in [a.size, a.allocated, a.mtime as u64, a.dev, a.ino] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out
}

/// Reads `count` records at `offset`.
fn read(f: &File, mut offset: u64, count: u32, out: &mut Vec<Arrival>) {
    for _ in 0..count {
        let mut len = [0u8; 4];
        if f.read_exact_at(&mut len, offset).is_err() {
            return;
        }
        let n = u32::from_le_bytes(len) as usize;
        let mut rec = vec![0u8; n + 40];
        if f.read_exact_at(&mut rec, offset + 4).is_err() {
            return;
        }
        let num = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&rec[n + 8 * i..n + 8 * i + 8]);
            u64::from_le_bytes(b)
        };
        out.push(Arrival {
            name: rec[..n].to_vec(),
            size: num(0),
            allocated: num(1),
            mtime: num(2) as i64,
            dev: num(3),
            ino: num(4),
        });
        offset += 4 + rec.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(name: &str, size: u64) -> Arrival {
        Arrival { name: name.as_bytes().to_vec(), size, allocated: 4096, mtime: -5, dev: 7, ino: 9 }
    }

    #[test]
    fn arrivals_come_back_by_directory_with_the_directories_that_lead_to_them() {
        let mut p = Planned::new();
        assert_eq!(p.arriving(1, b""), Arrivals::default());
        for i in 0..3000 {
            p.add(1, b"2024-06-12/x", arrival(&format!("f{i}"), i));
        }
        p.add(1, b"2024-06-13", arrival("g", 1));
        p.add(2, b"", arrival("h", 2));
        p.add(1, b"2024-06-12/x", arrival("late", 5));
        p.settle();
        let a = p.arriving(1, b"2024-06-12/x");
        assert_eq!(a.files.len(), 3001);
        assert_eq!(a.files[2999], arrival("f2999", 2999));
        assert_eq!(a.files[3000].name, b"late");
        assert_eq!(p.arriving(1, b"").dirs, vec![b"2024-06-12".to_vec(), b"2024-06-13".to_vec()]);
        assert_eq!(p.arriving(1, b"2024-06-12").dirs, vec![b"x".to_vec()]);
        assert_eq!(p.arriving(2, b"").files, vec![arrival("h", 2)]);
        assert!(p.arriving(3, b"").files.is_empty());
    }
}
