//! Deep trees. walkdir builds a path for every directory it opens, so at some depth the
//! path passes `PATH_MAX` and it reports "File name too long" and gives up on that
//! branch. sweep never hands the kernel more than one name at a time, so a tree of any
//! depth must be deleted completely (or be reported as an error, never skipped quietly),
//! without recursion that could overflow the stack and without one open descriptor per
//! level: the runs here are under `ulimit -n 1024`, with trees of 1,000 and 3,000 levels.
//!
//! The trees are built with `mkdirat`/`openat` relative to the previous level, since
//! their paths are too long for the kernel.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use rustix::fs::{Mode, OFlags};
use rustix::process::{Resource, Rlimit};
use serde_json::Value;

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

/// The name of every level: with its slash, three bytes of path per level, so walkdir's
/// paths pass `PATH_MAX` (4,096 bytes) at about depth 1,360.
const LEVEL: &str = "dd";
/// A file is put at every this many levels, and at the bottom.
const FILE_EVERY: usize = 100;
/// The file name at each of those levels.
const FILE: &str = "part.csv";
/// The descriptor limit sweep runs under.
const NOFILE: u64 = 1024;
/// Linux's `PATH_MAX`, terminating NUL included.
const PATH_MAX: usize = 4096;

#[test]
fn a_1000_level_tree_is_deleted_completely_under_ulimit_n_1024() {
    deleted_completely(1_000);
}

#[test]
fn a_3000_level_tree_is_deleted_completely_under_ulimit_n_1024() {
    deleted_completely(3_000);
}

/// Around the descriptor window: from the depth where the first ancestor is closed (and
/// reopened through `..` on the way back up) on, every directory must still go.
#[test]
fn trees_around_the_descriptor_window_are_deleted_completely() {
    let window = sweep::tree::local::Budget::for_limit(1024).window;
    for levels in window - 3..=window + 1 {
        deleted_completely(levels);
    }
}

/// The limitation sweep's walk exists for: walkdir stops at the `PATH_MAX` depth with
/// an error and never reaches the bottom of the same 3,000-level tree.
#[test]
fn walkdir_gives_up_on_a_3000_level_tree() {
    let deep = DeepTree::new(3_000);
    let mut errors = Vec::new();
    let mut files_seen = 0;
    let mut deepest_file = 0;
    for entry in walkdir::WalkDir::new(&deep.tree.root) {
        match entry {
            Ok(e) if e.file_type().is_file() && e.file_name() == FILE => {
                files_seen += 1;
                deepest_file = deepest_file.max(e.depth());
            }
            Ok(_) => {}
            Err(e) => errors.push(e),
        }
    }
    assert_eq!(errors.len(), 1, "walkdir reports one error, where it stops: {errors:?}");
    let err = &errors[0];
    let errno = err.io_error().and_then(|e| e.raw_os_error());
    assert_eq!(errno, Some(rustix::io::Errno::NAMETOOLONG.raw_os_error()), "the error is ENAMETOOLONG: {err}");
    let path_len = err.path().expect("the error names a path").as_os_str().len();
    assert!(path_len >= PATH_MAX, "the path walkdir could not open is {path_len} bytes, at least PATH_MAX");
    // Depth 0 is the root, 1 the partition, 1 + k the k-th level below it.
    let level = err.depth() - 1;
    let stop = deep.first_level_past_path_max();
    assert_eq!(level, stop, "walkdir stops at the first level whose path passes PATH_MAX");
    assert!(level < deep.levels, "walkdir stops at level {level} of {}", deep.levels);
    // Files at levels 0, 100, ... below the stop are seen; none below it.
    let reachable = stop.div_ceil(FILE_EVERY) as u64;
    assert_eq!(files_seen, reachable, "walkdir sees only the files above level {stop} of {}", deep.files);
    assert!(deepest_file < 1 + deep.levels, "walkdir never reaches the bottom file");
    eprintln!(
        "walkdir: '{}' at level {level} of {} (path {path_len} bytes); saw {files_seen} of {} files",
        shorten(&err.to_string()),
        deep.levels,
        deep.files
    );
}

/// `plan` counts every file of a `levels`-deep tree, then `apply` deletes every file and
/// every directory of it, both under `ulimit -n 1024`.
fn deleted_completely(levels: usize) {
    let deep = DeepTree::new(levels);
    let policy = deep.tree.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let dirs = levels as u64 + 1; // every level, and the partition

    let (plan, plan_dirs) = deep.run("plan", &policy);
    let p = &plan["policies"][0];
    assert_eq!(p["files"]["delete"], deep.files, "plan counts every file: {p}");
    assert_eq!(p["files"]["keep"], 1, "{p}");
    assert_eq!(p["files"]["unmatched"], 0, "{p}");
    assert_eq!(p["files"]["error"], 0, "{p}");
    assert_eq!(p["dirs_removed"], dirs, "plan would remove every directory: {p}");
    deep.check_dir_lines("plan", &plan_dirs);
    assert!(deep.partition().exists(), "plan deletes nothing");

    let (apply, apply_dirs) = deep.run("apply", &policy);
    let p = &apply["policies"][0];
    assert_eq!(p["files"]["delete"], deep.files, "{p}");
    assert_eq!(p["deleted"], deep.files, "apply deletes every file: {p}");
    assert_eq!(p["failed"], 0, "{p}");
    assert_eq!(p["files"]["error"], 0, "{p}");
    assert_eq!(p["dirs_removed"], dirs, "apply removes every directory: {p}");
    assert_eq!(p["problems"], serde_json::json!([]), "{p}");
    deep.check_dir_lines("apply", &apply_dirs);
    let gone = fs::symlink_metadata(deep.partition());
    assert!(gone.is_err(), "{} is gone: {gone:?}", deep.partition().display());
    assert_eq!(deep.tree.listing(), vec!["2024-07-12/keep.csv"]);
}

/// `<root>/2024-07-01/dd/dd/.../dd` with `levels` levels below the partition, a file
/// at level 0, every [`FILE_EVERY`] levels and at the bottom; and a kept partition.
/// Removed with `rm -rf` on drop, which copes with any depth.
struct DeepTree {
    tree: Tree,
    levels: usize,
    files: u64,
}

impl DeepTree {
    fn new(levels: usize) -> DeepTree {
        let tree = Tree::new();
        tree.file("2024-07-12/keep.csv");
        let mut deep = DeepTree { tree, levels, files: 0 };
        fs::create_dir(deep.partition()).unwrap();
        let mut dir = open_dir(rustix::fs::CWD, deep.partition());
        for level in 0..=levels {
            if level % FILE_EVERY == 0 || level == levels {
                let f = rustix::fs::openat(
                    &dir,
                    FILE,
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o644),
                )
                .unwrap_or_else(|e| panic!("create the file at level {level}: {e}"));
                rustix::io::write(&f, format!("level {level}\n").as_bytes()).unwrap();
                deep.files += 1;
            }
            if level < levels {
                rustix::fs::mkdirat(&dir, LEVEL, Mode::from_raw_mode(0o755))
                    .unwrap_or_else(|e| panic!("mkdir level {}: {e}", level + 1));
                dir = open_dir(&dir, LEVEL);
            }
        }
        deep
    }

    fn partition(&self) -> PathBuf {
        self.tree.path("2024-07-01")
    }

    /// The directories reported removed are exactly the partition and every level under
    /// it, bottom-up: each named by its own path (the tree is one chain, so the paths
    /// differ in length only), never the root or anything outside the partition.
    #[track_caller]
    fn check_dir_lines(&self, sub: &str, reported: &[String]) {
        let partition = self.partition();
        let partition = partition.to_str().unwrap();
        let step = LEVEL.len() + 1;
        let want: Vec<usize> = (0..=self.levels).rev().map(|k| partition.len() + k * step).collect();
        let got: Vec<usize> = reported.iter().map(|p| p.len()).collect();
        for p in reported {
            let inside = p.strip_prefix(partition).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
            assert!(
                inside,
                "sweep {sub} on a {}-level tree reports removing a directory that is not the partition or under it: {}",
                self.levels,
                shorten(p)
            );
        }
        assert_eq!(
            got, want,
            "sweep {sub} on a {}-level tree: directories reported removed (path lengths)",
            self.levels
        );
    }

    /// The first level whose absolute path is too long for the kernel.
    fn first_level_past_path_max(&self) -> usize {
        let base = self.partition().as_os_str().len();
        (0..=self.levels).find(|k| base + k * (LEVEL.len() + 1) >= PATH_MAX).expect("the tree passes PATH_MAX")
    }

    /// Runs `sweep SUB --format json` under `ulimit -n 1024`; it must exit 0. Returns
    /// the summary and the paths of the directories reported removed (or to be).
    fn run(&self, sub: &str, policy: &std::path::Path) -> (Value, Vec<String>) {
        let mut s = self.tree.sweep(sub, policy, NOW);
        s.args(["--format", "json"]);
        if sub == "apply" {
            // Several deleting threads under the same tight descriptor limit.
            s.args(["--jobs", "4"]);
        }
        // SAFETY: only setrlimit runs between fork and exec.
        unsafe {
            s.command().pre_exec(|| {
                let limit = Rlimit { current: Some(NOFILE), maximum: Some(NOFILE) };
                rustix::process::setrlimit(Resource::Nofile, limit)?;
                Ok(())
            });
        }
        let done = s.output();
        let stdout = done.stdout();
        // The output holds a line per directory with its path: show only its end.
        let tail: Vec<&str> = stdout.lines().rev().take(3).collect();
        let tail: String = tail.into_iter().rev().map(|l| format!("{}\n", shorten(l))).collect();
        assert_eq!(
            done.out.status.code(),
            Some(0),
            "sweep {sub} on a {}-level tree\n--- stdout (last lines)\n{tail}--- stderr\n{}",
            self.levels,
            shorten(&done.stderr())
        );
        let errors = stdout.lines().filter(|l| l.contains(r#""action":"error""#)).count();
        assert_eq!(errors, 0, "no error lines\n{tail}");
        let last = stdout.lines().last().expect("some output");
        let summary: Value = serde_json::from_str(last).expect("the last line is JSON");
        assert_eq!(summary["type"], "summary", "the last line is the summary");
        let dirs = stdout
            .lines()
            .filter(|l| l.starts_with(r#"{"type":"dir""#))
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {}", shorten(l)));
                v["path"].as_str().expect("a dir line has a path").to_string()
            })
            .collect();
        (summary, dirs)
    }
}

impl Drop for DeepTree {
    fn drop(&mut self) {
        let _ = Command::new("rm").arg("-rf").arg(self.partition()).status();
    }
}

fn open_dir<Fd: std::os::fd::AsFd>(at: Fd, name: impl rustix::path::Arg) -> OwnedFd {
    rustix::fs::openat(at, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
        .expect("open a level of the deep tree")
}

/// A long line cut in the middle, for messages.
fn shorten(s: &str) -> String {
    const KEEP: usize = 300;
    if s.len() <= 2 * KEEP {
        return s.to_string();
    }
    let head = s.char_indices().map(|(i, _)| i).take_while(|&i| i <= KEEP).last().unwrap_or(0);
    let tail = s.char_indices().map(|(i, _)| i).find(|&i| i >= s.len() - KEEP).unwrap_or(s.len());
    format!("{} [... {} bytes ...] {}", &s[..head], tail - head, &s[tail..])
}
