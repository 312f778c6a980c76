//! The symlink-swap race: while `apply` runs, a separate process keeps exchanging a
//! directory under the root with a symlink to a directory outside it, holding files of
//! the same names. A deleter that resolves paths again after listing them follows the
//! symlink sooner or later and deletes outside the root (CVE-2002-0435, CVE-2022-21658).
//! sweep must never do that: the outside directory stays byte-identical, however the
//! race turns out.
//!
//! Two places are attacked: the partition directory itself (`<root>/2024-07-01`) and a
//! directory two levels down (`<root>/2024-07-01/a/b`). A third test runs the same
//! harness with a naive path-based deleter (walkdir + `remove_file`) and requires it to
//! lose outside files, which proves the harness can catch the bug it is there for.
//!
//! The attacker is this test executable run again (`race::attacker`, an ignored test
//! that does nothing unless the harness's environment variables are set). Between
//! passes it is stopped with SIGSTOP, so that the tree can be checked and rebuilt
//! without racing the checks themselves; during a pass it runs flat out.
//!
//! `SWEEP_RACE_SECS` (default 20) bounds how long each variant races sweep.

use std::collections::BTreeMap;
use std::ffi::{CString, OsString};
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::fs::{CWD, RenameFlags, renameat_with};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions, kill_process, waitid};

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

/// Files in the attacked directory, and as many of the same names outside.
const FILES: usize = 50;
/// Size of each of them.
const FILE_BYTES: usize = 4096;
/// 2024-07-01T00:00:00Z: expired under the policy, whichever way it looks at a file.
const OLD_MTIME: i64 = 1_719_792_000;

/// Seconds each variant races sweep, unless `SWEEP_RACE_SECS` says otherwise.
const DEFAULT_RACE_SECS: u64 = 20;
/// How long the naive deleter is given to lose a file. It takes a few passes at most.
const NAIVE_LIMIT: Duration = Duration::from_secs(20);
/// A single pass taking longer than this is a hang.
const PASS_LIMIT: Duration = Duration::from_secs(60);

/// Environment of the attacker process: the two paths to exchange, and for how long.
const ATTACK_A: &str = "SWEEP_RACE_ATTACK_A";
const ATTACK_B: &str = "SWEEP_RACE_ATTACK_B";
const ATTACK_SECS: &str = "SWEEP_RACE_ATTACK_SECS";

#[test]
fn swapping_the_partition_for_a_symlink_never_deletes_outside_the_root() {
    sweep_race(Variant::Partition);
}

#[test]
fn swapping_a_nested_directory_for_a_symlink_never_deletes_outside_the_root() {
    sweep_race(Variant::Nested);
}

#[test]
fn a_path_based_deleter_loses_outside_files_in_the_same_race() {
    for variant in [Variant::Partition, Variant::Nested] {
        let h = Harness::new(variant);
        let stats = h.race(NAIVE_LIMIT, naive_pass);
        eprintln!("naive deleter, {}: {stats}", variant.name());
        let loss = stats.loss.as_deref().unwrap_or_else(|| {
            panic!(
                "the naive deleter lost nothing outside the root in {} passes ({:.1?}) with {} swapped: \
                 the harness cannot detect the race it is there for",
                stats.passes,
                stats.elapsed,
                variant.rel()
            )
        });
        assert!(loss.contains("part-"), "the loss is one of the outside files: {loss}");
        eprintln!("naive deleter, {}: {}", variant.name(), loss.lines().next().unwrap_or_default());
        h.restore_outside();
    }
}

/// Races `apply` against the attacker for `SWEEP_RACE_SECS` and checks the outside
/// directory after every pass.
fn sweep_race(variant: Variant) {
    let secs = race_secs();
    let h = Harness::new(variant);
    let stats = h.race(Duration::from_secs(secs), sweep_pass);
    eprintln!("sweep apply, {}: {stats}", variant.name());
    if let Some(loss) = &stats.loss {
        panic!("sweep changed the directory outside the root after {} passes: {loss}", stats.passes);
    }
    assert!(
        stats.swapped > 0,
        "the attacker was never seen to exchange {} in {} passes: the test proved nothing",
        variant.rel(),
        stats.passes
    );
    assert!(
        stats.deleted > 0,
        "sweep deleted no partition file in {} passes: it was never caught mid-walk, so the test proved nothing",
        stats.passes
    );
}

/// The attacker process: exchanges the two paths in its environment until its deadline
/// (or until the harness kills it). Run on its own, it does nothing.
#[test]
#[ignore = "the attacker process of the race tests, started by them; does nothing on its own"]
fn attacker() {
    let (Some(a), Some(b)) = (std::env::var_os(ATTACK_A), std::env::var_os(ATTACK_B)) else {
        return;
    };
    let a = CString::new(a.into_vec()).expect("no NUL in paths");
    let b = CString::new(b.into_vec()).expect("no NUL in paths");
    let secs: u64 = std::env::var(ATTACK_SECS).ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        for _ in 0..256 {
            match renameat_with(CWD, a.as_c_str(), CWD, b.as_c_str(), RenameFlags::EXCHANGE) {
                // ENOENT: one side was deleted; the harness rebuilds it between passes.
                Ok(()) | Err(Errno::NOENT) => {}
                Err(e) => panic!("renameat2({a:?}, {b:?}, RENAME_EXCHANGE): {e}"),
            }
        }
    }
}

/// Which directory the attacker exchanges with the symlink.
#[derive(Clone, Copy)]
enum Variant {
    /// The expired partition itself.
    Partition,
    /// A directory two levels inside it, where the files are.
    Nested,
}

impl Variant {
    /// The attacked directory, relative to the root.
    fn rel(self) -> &'static str {
        match self {
            Variant::Partition => "2024-07-01",
            Variant::Nested => "2024-07-01/a/b",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Variant::Partition => "partition swapped",
            Variant::Nested => "nested directory swapped",
        }
    }
}

/// What a sequence of passes did.
#[derive(Default)]
struct Stats {
    passes: u64,
    elapsed: Duration,
    /// Passes after which the attacker had visibly exchanged the two names.
    swapped: u64,
    /// Partition files really gone, over all passes (counted on disk).
    deleted: u64,
    /// Exit codes of sweep and how often each came.
    exits: BTreeMap<i32, u64>,
    /// The first change to the outside directory, with the pass's output.
    loss: Option<String>,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passes in {:.1?}, swapped after {}, {} partition files deleted, exit codes {:?}, {}",
            self.passes,
            self.elapsed,
            self.swapped,
            self.deleted,
            self.exits,
            if self.loss.is_some() { "outside directory CHANGED" } else { "outside directory intact" }
        )
    }
}

/// What one pass says it did.
struct Pass {
    /// Partition files the deleter reports as deleted, if it reports.
    reported_deleted: Option<u64>,
    /// Output to show if the pass turns out to have done damage.
    log: String,
}

/// A root with an expired partition, a directory outside the root with files of the
/// same names, a symlink to it, and (during [`Harness::race`]) the attacker exchanging
/// the symlink with the attacked directory.
struct Harness {
    tree: Tree,
    policy: PathBuf,
    /// The attacked directory, `<root>/2024-07-01` or `<root>/2024-07-01/a/b`.
    target: PathBuf,
    /// `<tmp>/swap`: a symlink to `outside` in a clean state, the attacked directory
    /// after an odd number of exchanges.
    swap: PathBuf,
    /// `<tmp>/outside`: never renamed, never to be changed.
    outside: PathBuf,
    /// The outside directory as created.
    snapshot: Snapshot,
}

impl Harness {
    fn new(variant: Variant) -> Harness {
        let tree = Tree::new();
        let tmp = tree.dir.path().to_path_buf();
        let outside = tmp.join("outside");
        fs::create_dir(&outside).unwrap();
        for i in 0..FILES {
            let name = part_name(i);
            let p = outside.join(&name);
            fs::write(&p, content("OUTSIDE THE ROOT, must survive", &name)).unwrap();
            set_mtime(&p, OLD_MTIME);
        }
        // Whole seconds, so that a restored directory can be compared exactly.
        set_mtime(&outside, OLD_MTIME);
        tree.file("2024-07-12/keep.csv");
        let policy = tree.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
        let snapshot = Snapshot::take(&outside).expect("outside directory");
        let h = Harness { target: tree.path(variant.rel()), swap: tmp.join("swap"), outside, snapshot, policy, tree };
        probe_rename_exchange(&tmp);
        h.rebuild();
        h
    }

    /// Runs `pass` once undisturbed, then over and over with the attacker running, until
    /// `limit` has passed or the outside directory has changed. After every pass the
    /// attacker is stopped, the outside directory compared with its snapshot, and the
    /// tree rebuilt.
    fn race(&self, limit: Duration, mut pass: impl FnMut(&Harness, &mut Stats) -> Pass) -> Stats {
        // Undisturbed, the deleter must delete the whole partition and nothing else;
        // otherwise a quiet race would prove nothing.
        let mut calm = Stats::default();
        let p = pass(self, &mut calm);
        let left = self.partition_files_left();
        assert_eq!(left, 0, "undisturbed, the deleter deletes the whole partition\n{}", p.log);
        assert!(calm.exits.keys().all(|&c| c == 0), "undisturbed, sweep exits 0\n{}", p.log);
        if let Some(reported) = p.reported_deleted {
            assert_eq!(reported, FILES as u64, "undisturbed, every deletion is reported\n{}", p.log);
        }
        if let Some(diff) = self.snapshot.diff(&self.outside) {
            panic!("undisturbed, the deleter changed the outside directory: {diff}\n{}", p.log);
        }
        self.check_kept();
        self.rebuild();

        let mut attacker = Attacker::start(&self.target, &self.swap, limit.as_secs() + 60);
        attacker.wait_for_first_swap(&self.target, &self.swap);
        let mut stats = Stats::default();
        let started = Instant::now();
        while started.elapsed() < limit {
            let p = pass(self, &mut stats);
            attacker.pause();
            stats.passes += 1;
            if self.is_swapped() {
                stats.swapped += 1;
            }
            let deleted = (FILES - self.partition_files_left()) as u64;
            stats.deleted += deleted;
            if let Some(diff) = self.snapshot.diff(&self.outside) {
                stats.loss = Some(format!("{diff}\n--- output of that pass\n{}", p.log));
                break;
            }
            if let Some(reported) = p.reported_deleted {
                assert_eq!(
                    reported, deleted,
                    "pass {}: partition files reported deleted vs. really gone\n{}",
                    stats.passes, p.log
                );
            }
            self.check_kept();
            self.rebuild();
            attacker.resume();
        }
        stats.elapsed = started.elapsed();
        stats
    }

    /// Puts the tree back in its clean state: the attacked directory full of expired
    /// files, and `swap` a symlink to `outside`. Only with the attacker stopped.
    fn rebuild(&self) {
        let part = self.tree.path("2024-07-01");
        remove_entry(&part, &self.outside);
        remove_entry(&self.swap, &self.outside);
        fs::create_dir_all(&self.target).unwrap();
        for i in 0..FILES {
            let name = part_name(i);
            let p = self.target.join(&name);
            fs::write(&p, content("inside the root, expired", &name)).unwrap();
            set_mtime(&p, OLD_MTIME);
        }
        symlink(&self.outside, &self.swap).unwrap();
    }

    /// Whether the attacker has left the symlink inside the root, or the attacked
    /// directory at `swap`.
    fn is_swapped(&self) -> bool {
        let link_inside = fs::symlink_metadata(&self.target).is_ok_and(|m| m.file_type().is_symlink());
        let dir_at_swap = fs::symlink_metadata(&self.swap).is_ok_and(|m| m.is_dir());
        link_inside || dir_at_swap
    }

    /// Files left in the attacked directory, wherever the attacker left it (0 if it was
    /// removed, as an emptied directory is).
    fn partition_files_left(&self) -> usize {
        let dirs: Vec<&PathBuf> = [&self.target, &self.swap]
            .into_iter()
            .filter(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
            .collect();
        assert!(dirs.len() <= 1, "only one of {dirs:?} can be the attacked directory");
        dirs.first().map_or(0, |d| fs::read_dir(d).unwrap().count())
    }

    fn check_kept(&self) {
        let keep = self.tree.path("2024-07-12/keep.csv");
        assert!(fs::symlink_metadata(&keep).is_ok_and(|m| m.is_file()), "{} must be kept", keep.display());
    }

    /// Writes the outside directory back as it was (after the naive deleter).
    fn restore_outside(&self) {
        let now = Snapshot::take(&self.outside).unwrap_or_else(|_| {
            fs::create_dir(&self.outside).unwrap();
            Snapshot::default()
        });
        for name in now.entries.keys().filter(|n| !self.snapshot.entries.contains_key(*n)) {
            fs::remove_file(self.outside.join(name)).unwrap();
        }
        for (name, item) in &self.snapshot.entries {
            let p = self.outside.join(name);
            fs::write(&p, &item.content).unwrap();
            set_mtime(&p, item.mtime.0);
        }
        set_mtime(&self.outside, self.snapshot.dir_mtime.0);
        if let Some(diff) = self.snapshot.diff(&self.outside) {
            panic!("restoring the outside directory failed: {diff}");
        }
    }
}

/// Removes whatever is at `p` (nothing, a symlink, or a directory of ours), never
/// following a symlink. `outside` must never be the one removed.
fn remove_entry(p: &Path, outside: &Path) {
    let Ok(m) = fs::symlink_metadata(p) else { return };
    if m.is_dir() {
        let o = fs::metadata(outside).unwrap();
        assert!((m.dev(), m.ino()) != (o.dev(), o.ino()), "{} is the outside directory", p.display());
        fs::remove_dir_all(p).unwrap();
    } else {
        fs::remove_file(p).unwrap();
    }
}

/// One `sweep apply`, with a time limit. Exit 0, 5 (a directory changed while being
/// walked) and 7 (the symlink sitting at the partition's place matches no layout) are
/// all correct under attack; anything else fails the test.
fn sweep_pass(h: &Harness, stats: &mut Stats) -> Pass {
    let tmp = h.tree.dir.path();
    let (out_path, err_path) = (tmp.join("pass.stdout"), tmp.join("pass.stderr"));
    let mut cmd = Command::new(BIN);
    cmd.env_remove("NO_COLOR")
        .env("TZ", "UTC")
        .arg("apply")
        .arg("-c")
        .arg(&h.policy)
        // Several deleting threads, whatever this machine's CPU count: the attacks must
        // fail against the pool as they fail against one thread.
        .args(["--now", NOW, "--format", "json", "--jobs", "4", "--lock-file"])
        .arg(tmp.join("sweep.lock"))
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap());
    let mut child = cmd.spawn().expect("run sweep");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > PASS_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sweep apply did not finish within {PASS_LIMIT:?} under the race");
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let stdout = fs::read_to_string(&out_path).unwrap();
    let stderr = fs::read_to_string(&err_path).unwrap();
    let log = format!("exit {status}\n--- stdout\n{stdout}--- stderr\n{stderr}");
    let code = status.code().unwrap_or(-1);
    assert!(matches!(code, 0 | 5 | 7), "sweep apply under the race must exit 0, 5 or 7\n{log}");
    *stats.exits.entry(code).or_default() += 1;
    let mut reported = 0;
    for line in stdout.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}\n{log}"));
        let partition_file = v["path"].as_str().is_some_and(|p| p.contains("/part-"));
        if v["type"] == "file" && v["outcome"] == "deleted" && partition_file {
            reported += 1;
        }
    }
    Pass { reported_deleted: Some(reported), log }
}

/// A naive, path-based deleter: walkdir without following links, and `remove_file` of
/// every non-directory under a `2024-07-01` component. Every call resolves the path
/// from the root again, so a symlink swapped in meanwhile is followed.
fn naive_pass(h: &Harness, _stats: &mut Stats) -> Pass {
    let mut removed = 0;
    for entry in walkdir::WalkDir::new(&h.tree.root).follow_links(false).into_iter().flatten() {
        let expired = entry.path().components().any(|c| c.as_os_str() == "2024-07-01");
        if expired && !entry.file_type().is_dir() && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Pass { reported_deleted: None, log: format!("the naive deleter removed {removed} paths") }
}

/// The attacker process (see [`attacker`]); killed on drop.
struct Attacker {
    child: Child,
    pid: Pid,
}

impl Attacker {
    /// Starts exchanging `a` and `b`; it stops by itself after `secs` seconds, and when
    /// the thread that started it ends.
    fn start(a: &Path, b: &Path, secs: u64) -> Attacker {
        let exe = std::env::current_exe().expect("path of the test executable");
        let mut cmd = Command::new(exe);
        cmd.args(["race::attacker", "--exact", "--ignored", "--nocapture", "--test-threads=1", "-q"])
            .env(ATTACK_A, a)
            .env(ATTACK_B, b)
            .env(ATTACK_SECS, secs.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: only prctl runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start the attacker process");
        let pid = Pid::from_child(&child);
        Attacker { child, pid }
    }

    /// Waits until the attacker is seen to have exchanged the two names once (which
    /// also proves `renameat2(RENAME_EXCHANGE)` works here).
    fn wait_for_first_swap(&mut self, a: &Path, b: &Path) {
        let started = Instant::now();
        loop {
            let link_at_a = fs::symlink_metadata(a).is_ok_and(|m| m.file_type().is_symlink());
            let dir_at_b = fs::symlink_metadata(b).is_ok_and(|m| m.is_dir());
            if link_at_a || dir_at_b {
                return;
            }
            if self.child.try_wait().unwrap().is_some() {
                self.fail("exited before exchanging anything");
            }
            if started.elapsed() > Duration::from_secs(30) {
                self.fail("did not exchange anything within 30 s");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops the attacker and waits until it is stopped: no exchange is in flight after
    /// this returns.
    fn pause(&mut self) {
        kill_process(self.pid, Signal::STOP).expect("SIGSTOP the attacker");
        let opts = WaitIdOptions::STOPPED | WaitIdOptions::EXITED | WaitIdOptions::NOWAIT;
        let status = waitid(WaitId::Pid(self.pid), opts).expect("waitid on the attacker").expect("a status");
        if !status.stopped() {
            self.fail("ended during the race");
        }
    }

    fn resume(&mut self) {
        kill_process(self.pid, Signal::CONT).expect("SIGCONT the attacker");
    }

    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let status = self.child.wait();
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut s) = self.child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(mut s) = self.child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        panic!("the attacker process {what} ({status:?})\n--- stdout\n{out}\n--- stderr\n{err}");
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Checks that `renameat2(RENAME_EXCHANGE)` works on this filesystem; fails loudly if not.
fn probe_rename_exchange(dir: &Path) {
    let (a, b) = (dir.join("probe-a"), dir.join("probe-b"));
    fs::write(&a, "a").unwrap();
    fs::write(&b, "b").unwrap();
    if let Err(e) = renameat_with(CWD, &a, CWD, &b, RenameFlags::EXCHANGE) {
        panic!("this test needs renameat2(RENAME_EXCHANGE), which failed here: {e}");
    }
    assert_eq!(fs::read_to_string(&a).unwrap(), "b", "renameat2(RENAME_EXCHANGE) exchanged the names");
    fs::remove_file(&a).unwrap();
    fs::remove_file(&b).unwrap();
}

/// Everything observable about a directory of plain files: each file's type, content
/// and mtime, and the directory's own mtime (which changes when an entry is added or
/// removed).
#[derive(Default, PartialEq)]
struct Snapshot {
    dir_mtime: (i64, i64),
    entries: BTreeMap<OsString, Item>,
}

#[derive(PartialEq)]
struct Item {
    kind: String,
    mtime: (i64, i64),
    content: Vec<u8>,
}

impl Snapshot {
    fn take(dir: &Path) -> Result<Snapshot, String> {
        let m = fs::symlink_metadata(dir).map_err(|e| format!("{} is gone: {e}", dir.display()))?;
        if !m.is_dir() {
            return Err(format!("{} is no longer a directory", dir.display()));
        }
        let mut entries = BTreeMap::new();
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let m = fs::symlink_metadata(e.path()).unwrap();
            let content = if m.is_file() { fs::read(e.path()).unwrap() } else { Vec::new() };
            let item = Item { kind: format!("{:?}", m.file_type()), mtime: (m.mtime(), m.mtime_nsec()), content };
            entries.insert(e.file_name(), item);
        }
        Ok(Snapshot { dir_mtime: (m.mtime(), m.mtime_nsec()), entries })
    }

    /// The first difference between this snapshot and `dir` now, if any.
    fn diff(&self, dir: &Path) -> Option<String> {
        let now = match Snapshot::take(dir) {
            Ok(s) => s,
            Err(e) => return Some(e),
        };
        let show = |n: &OsString| String::from_utf8_lossy(n.as_bytes()).into_owned();
        for (name, was) in &self.entries {
            let Some(is) = now.entries.get(name) else {
                return Some(format!("outside file {} was deleted", show(name)));
            };
            if is.kind != was.kind {
                return Some(format!("outside file {} changed type: {} -> {}", show(name), was.kind, is.kind));
            }
            if is.content != was.content {
                return Some(format!("outside file {} changed content", show(name)));
            }
            if is.mtime != was.mtime {
                return Some(format!("outside file {} changed mtime: {:?} -> {:?}", show(name), was.mtime, is.mtime));
            }
        }
        if let Some(name) = now.entries.keys().find(|n| !self.entries.contains_key(*n)) {
            return Some(format!("{} appeared in the outside directory", show(name)));
        }
        if now.dir_mtime != self.dir_mtime {
            return Some(format!("the outside directory's mtime changed: {:?} -> {:?}", self.dir_mtime, now.dir_mtime));
        }
        None
    }
}

fn part_name(i: usize) -> String {
    format!("part-{i:04}.csv")
}

/// `FILE_BYTES` of text naming the file and where it lives, so that any mix-up shows.
fn content(where_: &str, name: &str) -> Vec<u8> {
    let line = format!("{where_}: {name}\n");
    line.bytes().cycle().take(FILE_BYTES).collect()
}

fn race_secs() -> u64 {
    match std::env::var("SWEEP_RACE_SECS") {
        Err(std::env::VarError::NotPresent) => DEFAULT_RACE_SECS,
        Ok(s) => s
            .trim()
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("SWEEP_RACE_SECS must be a positive number of seconds, not {s:?}")),
        Err(e) => panic!("SWEEP_RACE_SECS: {e}"),
    }
}
