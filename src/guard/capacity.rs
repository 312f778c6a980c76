//! Capacity targets: after the age plan, while a target is not met, the oldest remaining
//! kept partitions (by period start, then path) become deletions, one whole partition at
//! a time, down to a floor (`keep_min`, `keep_last`) that nothing crosses.
//!
//! Everything here is arithmetic on what the counting walk found, so `plan` predicts
//! exactly the choice `apply` makes. What deleting frees is predicted the way the kernel
//! will free it: `st_blocks × 512` of files with one link (a file with more links frees
//! nothing), one inode per file and per directory the run removes.

use std::collections::BTreeMap;

use crate::bucket::Action;
use crate::clock::Period;
use crate::tree::Entry;

/// A partition: its period and its place (the directory that names it, below the root).
pub type PartKey = (Period, Box<[u8]>);

/// What one partition holds, from the counting walk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Part {
    /// Files in all.
    pub files: u64,
    /// Files the age plan deletes, their blocks freed and their sizes.
    pub delete: Tally,
    /// Kept files that would go if the partition were deleted for space (not protected
    /// by exclude, `min_age` or `skip_open`).
    pub freeable: Tally,
    /// Directories at or below the partition's place.
    pub dirs: u64,
}

/// Files, the bytes their deletion frees on disk, and their apparent sizes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Files.
    pub files: u64,
    /// `st_blocks × 512` of those with one link.
    pub freed: u64,
    /// Sum of `st_size`.
    pub size: u64,
}

impl Tally {
    fn add(&mut self, e: &Entry, frees: bool) {
        self.files += 1;
        if frees {
            self.freed += e.allocated;
        }
        self.size += e.size;
    }
}

/// The partitions of one period, by place.
type Places = Vec<(Box<[u8]>, Part)>;

/// Partition statistics of one policy, gathered by the counting walk. Memory follows
/// the number of partitions, not of files.
#[derive(Debug, Default)]
pub struct Census {
    parts: BTreeMap<Period, Places>,
    /// Sum of `st_size` of every file of the policy.
    pub bytes: u64,
}

impl Census {
    fn part(&mut self, period: Period, place: &[u8]) -> &mut Part {
        let places = self.parts.entry(period).or_default();
        let i = match places.iter().position(|(p, _)| &**p == place) {
            Some(i) => i,
            None => {
                places.push((place.into(), Part::default()));
                places.len() - 1
            }
        };
        &mut places[i].1
    }

    /// Notes one file: its action, partition and place, whether a guard would still
    /// protect it if its partition were deleted for space, and whether deleting it frees
    /// its blocks (not when another link or an open descriptor keeps them).
    pub fn file(
        &mut self,
        e: &Entry,
        action: Action,
        partition: Option<Period>,
        place: &[u8],
        protected: bool,
        frees: bool,
    ) {
        self.bytes += e.size;
        let Some(period) = partition else { return };
        let part = self.part(period, place);
        part.files += 1;
        match action {
            Action::Delete => part.delete.add(e, frees),
            Action::Keep if !protected => part.freeable.add(e, frees),
            _ => {}
        }
    }

    /// Notes a directory at or below a partition's place.
    pub fn dir(&mut self, period: Period, place: &[u8]) {
        self.part(period, place).dirs += 1;
    }

    /// Periods the age plan deletes files of.
    pub fn expired(&self) -> impl Iterator<Item = Period> + '_ {
        self.parts.iter().filter(|(_, places)| places.iter().any(|(_, p)| p.delete.files > 0)).map(|(p, _)| *p)
    }

    /// A period thinning keeps: what the age plan would delete of it is kept instead
    /// (and so becomes what deleting it for space would free). Returns how many files,
    /// and their sizes.
    pub fn spare(&mut self, period: Period) -> (u64, u64) {
        let mut n = (0, 0);
        for (_, p) in self.parts.get_mut(&period).into_iter().flatten() {
            n.0 += p.delete.files;
            n.1 += p.delete.size;
            p.freeable.files += p.delete.files;
            p.freeable.freed += p.delete.freed;
            p.freeable.size += p.delete.size;
            p.delete = Tally::default();
        }
        n
    }

    /// A period `keep_last` protects: what the age plan would delete of it stays, and
    /// capacity may not take it either. Returns how many files.
    pub fn hold(&mut self, period: Period) -> u64 {
        let mut n = 0;
        for (_, p) in self.parts.get_mut(&period).into_iter().flatten() {
            n += p.delete.files;
            p.delete = Tally::default();
        }
        n
    }

    /// The start of the earliest period the age plan deletes files of.
    pub fn earliest_delete(&self) -> Option<i64> {
        self.expired().next().map(|p| p.start)
    }

    /// What the age plan frees: bytes on disk, inodes (files, and the directories of
    /// partitions it deletes whole, when emptied directories are removed), and sizes.
    pub fn age_plan(&self, remove_dirs: bool) -> (u64, u64, u64) {
        let mut out = (0, 0, 0);
        for places in self.parts.values() {
            for (_, p) in places {
                out.0 += p.delete.freed;
                out.1 += p.delete.files + if remove_dirs && p.delete.files == p.files { p.dirs } else { 0 };
                out.2 += p.delete.size;
            }
        }
        out
    }

    /// Partitions that still hold kept files, oldest first (by period start, then place).
    fn kept(&self) -> impl Iterator<Item = (Period, &[u8], &Part)> {
        self.parts.iter().flat_map(|(period, places)| {
            let mut ps: Vec<&(Box<[u8]>, Part)> = places.iter().filter(|(_, p)| p.freeable.files > 0).collect();
            ps.sort_by(|a, b| a.0.cmp(&b.0));
            ps.into_iter().map(move |(place, p)| (*period, &**place, p))
        })
    }
}

/// The targets, resolved against the filesystem: bytes and inodes wanted free, and the
/// most the policy's files may hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Targets {
    /// Bytes available to users wanted after the run.
    pub free: Option<u64>,
    /// Inodes available to users wanted after the run.
    pub inodes: Option<u64>,
    /// The most the policy's own files may hold.
    pub bytes: Option<u64>,
}

/// Where a policy stands before deleting for space.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Before {
    /// Bytes available to users, as the run starts (plus what earlier policies on the
    /// same filesystem are predicted to free).
    pub free: u64,
    /// Inodes available to users, likewise.
    pub inodes: u64,
    /// Sum of the policy's file sizes.
    pub bytes: u64,
}

/// A floor that keeps kept partitions from capacity, however full the filesystem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Floor {
    /// `keep_min`.
    KeepMin,
    /// `keep_last`.
    KeepLast,
    /// A span `max_delete`: at most that much kept data in one night.
    MaxDelete,
}

/// What capacity decided for one policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// The floors that kept a partition while a target was still not met.
    pub stopped_by: Vec<Floor>,
    /// The targets.
    pub targets: Targets,
    /// Where the policy stood before the run.
    pub before: Before,
    /// Predicted after the age plan and the deletions for space.
    pub after: Before,
    /// Partitions to delete for space, oldest first.
    pub chosen: Vec<PartKey>,
    /// Files they hold that go (what `max_delete` counts too).
    pub files: u64,
    /// Their bytes freed on disk.
    pub freed: u64,
    /// Their sizes (what `max_delete: auto` weighs).
    pub size: u64,
    /// Whether every target is met after the run (predicted).
    pub met: bool,
    /// What is missing for each target not met (0 for a target met).
    pub missing: Missing,
}

/// What is missing to meet each target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Missing {
    /// Bytes of free space.
    pub free: u64,
    /// Free inodes.
    pub inodes: u64,
    /// Bytes over `max_bytes`.
    pub bytes: u64,
}

/// Chooses the partitions to delete for space. `eligible` says whether a partition may
/// go, or which floor keeps it; `age` is what the age plan frees (bytes, inodes,
/// sizes); `remove_dirs` whether emptied directories are removed.
pub fn choose(
    targets: Targets,
    before: Before,
    census: &Census,
    age: (u64, u64, u64),
    remove_dirs: bool,
    eligible: impl Fn(Period) -> Result<(), Floor>,
) -> Decision {
    let mut after =
        Before { free: before.free + age.0, inodes: before.inodes + age.1, bytes: before.bytes.saturating_sub(age.2) };
    let unmet = |a: &Before| {
        targets.free.is_some_and(|t| a.free < t)
            || targets.inodes.is_some_and(|t| a.inodes < t)
            || targets.bytes.is_some_and(|t| a.bytes > t)
    };
    let mut d = Decision { targets, before, ..Decision::default() };
    for (period, place, part) in census.kept() {
        if !unmet(&after) {
            break;
        }
        if let Err(floor) = eligible(period) {
            if !d.stopped_by.contains(&floor) {
                d.stopped_by.push(floor);
            }
            continue;
        }
        let whole = part.freeable.files + part.delete.files == part.files;
        after.free += part.freeable.freed;
        after.inodes += part.freeable.files + if remove_dirs && whole { part.dirs } else { 0 };
        after.bytes = after.bytes.saturating_sub(part.freeable.size);
        d.files += part.freeable.files;
        d.freed += part.freeable.freed;
        d.size += part.freeable.size;
        d.chosen.push((period, place.into()));
    }
    d.after = after;
    d.met = !unmet(&after);
    if d.met {
        d.stopped_by.clear();
    }
    d.stopped_by.sort();
    d.missing = Missing {
        free: targets.free.map_or(0, |t| t.saturating_sub(after.free)),
        inodes: targets.inodes.map_or(0, |t| t.saturating_sub(after.inodes)),
        bytes: targets.bytes.map_or(0, |t| after.bytes.saturating_sub(t)),
    };
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Kind;

    fn entry(size: u64, links: u64) -> Entry<'static> {
        Entry {
            path: b"/r/x",
            rel: b"x",
            name: b"x",
            kind: Kind::File,
            size,
            allocated: size,
            links,
            mtime: 0,
            dev: 1,
            ino: 1,
        }
    }

    fn day(n: i64) -> Period {
        Period { start: n * 86400, end: (n + 1) * 86400 }
    }

    #[test]
    fn the_oldest_kept_partitions_go_first_until_the_target_is_met() {
        let mut c = Census::default();
        for d in 0..5 {
            for _ in 0..2 {
                c.file(&entry(100, 1), Action::Keep, Some(day(d)), b"", false, true);
            }
        }
        let targets = Targets { free: Some(1_000), ..Targets::default() };
        let before = Before { free: 650, inodes: 0, bytes: 1_000 };
        let d = choose(targets, before, &c, c.age_plan(true), true, |_| Ok(()));
        // 650 + 200 (day 0) + 200 (day 1) = 1,050 ≥ 1,000.
        assert_eq!(d.chosen.iter().map(|(p, _)| p.start / 86400).collect::<Vec<_>>(), vec![0, 1]);
        assert!(d.met);
        assert_eq!(d.files, 4);
    }

    #[test]
    fn hard_links_free_nothing_and_the_floor_stops_it() {
        let mut c = Census::default();
        c.file(&entry(500, 2), Action::Keep, Some(day(0)), b"", false, false);
        c.file(&entry(100, 1), Action::Keep, Some(day(1)), b"", false, true);
        c.file(&entry(100, 1), Action::Keep, Some(day(9)), b"", false, true);
        let targets = Targets { free: Some(1_000), ..Targets::default() };
        let floor = |p: Period| if p.start < 5 * 86400 { Ok(()) } else { Err(Floor::KeepMin) };
        let d = choose(targets, Before { free: 0, inodes: 0, bytes: 0 }, &c, (0, 0, 0), true, floor);
        assert_eq!(d.stopped_by, [Floor::KeepMin]);
        assert_eq!(d.chosen.len(), 2, "day 9 is inside the floor");
        assert_eq!(d.freed, 100, "the hard-linked file frees nothing");
        assert!(!d.met);
        assert_eq!(d.missing, Missing { free: 900, inodes: 0, bytes: 0 });
    }

    #[test]
    fn max_bytes_counts_sizes_and_inodes_count_files_and_directories() {
        let mut c = Census::default();
        c.file(&entry(300, 1), Action::Keep, Some(day(0)), b"d0", false, true);
        c.dir(day(0), b"d0");
        c.file(&entry(300, 1), Action::Keep, Some(day(1)), b"d1", true, true);
        c.file(&entry(300, 1), Action::Keep, Some(day(2)), b"d2", false, true);
        let targets = Targets { bytes: Some(400), inodes: Some(2), ..Targets::default() };
        let d = choose(targets, Before { free: 0, inodes: 0, bytes: c.bytes }, &c, (0, 0, 0), true, |_| Ok(()));
        // Day 0 frees 300 bytes and two inodes (the file, its directory); day 1 holds only
        // a protected file and frees nothing; day 2 brings the sizes to 300 ≤ 400.
        assert_eq!(d.chosen.len(), 2);
        assert_eq!(d.after.bytes, 300);
        assert_eq!(d.after.inodes, 3);
        assert!(d.met);
    }
}
