//! Attacks on sweep running as root (issue 12), each made for real: the attacker is
//! `nobody` (util-linux `setpriv`), kernel protections that would hide a bug in sweep
//! (`fs.protected_symlinks`, `fs.protected_hardlinks`, `fs.protected_regular`) are turned
//! off for the test and restored afterwards, mounts are made only in a private mount
//! namespace (`unshare -m`), and races are bounded in time.
//!
//! Every test here fails on v1 (b42d7b2), except `a_lock_held_by_flock_1_still_exits_4`,
//! which guards the new lock code against a regression. Three of them also found bugs in
//! the first v2 hardening, since fixed: a planted lock link refused without saying why
//! (open(2) answers EACCES in a sticky directory, so the link is now looked at first), a
//! dangerous root refused but still walked (now never read), and a fresh file renamed
//! over a name between sweep's last check and its unlink (the file is now renamed to a
//! private name before the check, so there is no window).
//!
//! No test asserts how fast sweep is: runs that could hang have a generous hang guard
//! ([`HANG`]) that kills them and fails the test.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Pid, Resource, Rlimit, Signal, kill_process, kill_process_group};
use serde_json::Value;

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";
/// 2024-07-01T00:00:00Z: expired at [`NOW`] and by the real clock.
const OLD_MTIME: i64 = 1_719_792_000;
/// uid and gid of the attacker.
const NOBODY: u32 = 65534;
/// Address space sweep gets where memory must stay bounded.
const MEMORY: u64 = 512 * 1024 * 1024;

// ---------------------------------------------------------------------------------------
// 1. The lock file.

#[test]
fn a_symlink_planted_at_the_lock_path_is_refused_and_its_target_untouched() {
    let test = "a_symlink_planted_at_the_lock_path_is_refused_and_its_target_untouched";
    let Some(s) = LockScene::new(test) else { return };
    // The kernel would refuse to follow nobody's link in a sticky directory; sweep must
    // not rely on that.
    let Some(_sysctl) = Sysctl::set(&[("fs/protected_symlinks", "0")], test) else { return };
    let lock = s.public.join("sweep.lock");
    s.attacker.run("ln -s \"$1\" \"$2\"", &[&s.secret, &lock]);
    // Since Linux 4.19, root's open(O_CREAT | O_NOFOLLOW) of another user's symlink in a
    // sticky world-writable directory fails with EACCES (fs/namei.c, may_create_in_sticky,
    // checked before O_NOFOLLOW's ELOOP): the reason must not be lost to that.
    s.refused(&lock, "symbolic link");
    assert!(fs::symlink_metadata(&lock).unwrap().file_type().is_symlink(), "the planted link is left as it was");
}

#[test]
fn a_hard_link_planted_at_the_lock_path_is_refused_and_its_target_untouched() {
    let test = "a_hard_link_planted_at_the_lock_path_is_refused_and_its_target_untouched";
    let Some(s) = LockScene::new(test) else { return };
    // With protected_hardlinks off, anyone may link a file they cannot write.
    let Some(_sysctl) = Sysctl::set(&[("fs/protected_hardlinks", "0")], test) else { return };
    let lock = s.public.join("sweep.lock");
    s.attacker.run("ln \"$1\" \"$2\"", &[&s.secret, &lock]);
    assert_eq!(fs::metadata(&lock).unwrap().ino(), fs::metadata(&s.secret).unwrap().ino(), "the attack is set up");
    s.refused(&lock, "hard links");
}

#[test]
fn a_lock_file_owned_by_another_user_is_refused() {
    let test = "a_lock_file_owned_by_another_user_is_refused";
    let Some(s) = LockScene::new(test) else { return };
    // protected_regular would make the kernel refuse root's O_CREAT open of nobody's file
    // in a sticky directory: turned off, so that sweep's own check is what is tested.
    let Some(_sysctl) = Sysctl::set(&[("fs/protected_regular", "0")], test) else { return };
    let lock = s.public.join("sweep.lock");
    s.attacker.run("printf 'planted by nobody\\n' > \"$1\"", &[&lock]);
    assert_eq!(fs::metadata(&lock).unwrap().uid(), NOBODY);
    s.refused(&lock, &format!("owned by uid {NOBODY}"));
    assert_eq!(fs::read(&lock).unwrap(), b"planted by nobody\n", "nobody's file is not written");
}

#[test]
fn a_lock_file_in_a_world_writable_directory_that_is_not_sticky_is_taken_with_a_warning() {
    // Issue 12 asked for a refusal; e777607 made it a warning, since a container's
    // emptyDir is such a directory with nobody else in it. Others could remove and
    // replace the lock there between runs, and the warning must say so. (Anything they
    // plant in its place is refused by the tests above.)
    let test = "a_lock_file_in_a_world_writable_directory_that_is_not_sticky_is_taken_with_a_warning";
    let Some(s) = LockScene::new(test) else { return };
    let open = s.t.dir.path().join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let lock = open.join("sweep.lock");
    let mut cmd = Sweep::new();
    cmd.args(["apply", "--now", NOW, "-c"]).arg(&s.policy).arg("--lock-file").arg(&lock);
    let done = bounded(cmd.command(), "apply");
    expect_code(&done, 0);
    done.stderr_has("warning").stderr_has("can be written by other users").stderr_has("not sticky");
    let meta = fs::symlink_metadata(&lock).unwrap();
    assert!(meta.file_type().is_file() && meta.uid() == 0 && meta.nlink() == 1, "sweep's own lock file");
    assert!(!s.t.exists("2024-07-01/a"));
}

#[test]
fn a_lock_held_by_flock_1_still_exits_4() {
    let test = "a_lock_held_by_flock_1_still_exits_4";
    let Some(flock) = required("flock", test) else { return };
    let t = Tree::new();
    t.file("2024-07-01/a");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let lock = t.dir.path().join("sweep.lock");
    // flock(1) creates the file (as root, 0644) and holds it while its command runs.
    let mut holder = Command::new(flock)
        .arg(&lock)
        .args(["sh", "-c", "echo held; exec sleep 5"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let group = Group(Pid::from_child(&holder));
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "held\n", "flock(1) took the lock");
    let done = bounded(t.sweep("apply", &p, NOW).command(), "sweep apply");
    expect_code(&done, 4);
    done.stderr_has("holds the lock");
    assert!(t.exists("2024-07-01/a"), "nothing touched while the lock is held");
    drop(group);
    let _ = holder.wait();
    // The file flock(1) made is one sweep accepts: once free, the same lock is taken.
    let done = bounded(t.sweep("apply", &p, NOW).command(), "sweep apply");
    expect_code(&done, 0);
    assert!(!t.exists("2024-07-01/a"));
}

#[test]
fn the_default_lock_lives_in_run_sweep_which_only_root_can_enter() {
    let test = "the_default_lock_lives_in_run_sweep_which_only_root_can_enter";
    let Some(unshare) = required("unshare", test) else { return };
    let t = Tree::new();
    t.file("2024-07-01/a");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let stat = t.dir.path().join("stat");
    // A fresh /run, in a private mount namespace: no stale lock is left on this machine,
    // and a real run's /run/sweep is neither used nor changed.
    let script = r#"mount -t tmpfs -o mode=0755 tmpfs /run || exit 97
"$@"; code=$?
stat -c '%a %u %h %F' /run/sweep /run/sweep/sweep.lock > "$STAT_OUT" 2>&1
exit $code"#;
    let mut cmd = Command::new(unshare);
    cmd.args(["-m", "--propagation", "private", "sh", "-c", script, "sh", BIN, "apply", "-c"])
        .arg(&p)
        .args(["--now", NOW])
        .env("STAT_OUT", &stat);
    let done = bounded(sweep_env(&mut cmd), "sweep apply in a mount namespace");
    assert_ne!(done.out.status.code(), Some(97), "mounting a tmpfs on /run failed as root:\n{}", done.stderr());
    expect_code(&done, 0);
    assert!(!t.exists("2024-07-01/a"), "the run itself went ahead");
    let stat = fs::read_to_string(&stat).unwrap();
    let lines: Vec<&str> = stat.lines().collect();
    assert_eq!(lines.len(), 2, "/run/sweep and its lock exist after apply without --lock-file:\n{stat}");
    assert_eq!(lines[0], "700 0 2 directory", "/run/sweep: mode 0700, owned by root\n{stat}");
    let lock: Vec<&str> = lines[1].splitn(4, ' ').collect();
    assert_eq!(&lock[1..3], ["0", "1"], "the lock file: owned by root, one link\n{stat}");
    assert!(lock[3].starts_with("regular"), "the lock file is a regular file\n{stat}");
}

/// A scene for the lock attacks: a scratch directory nobody may enter, holding a
/// root-owned secret and `public`, a sticky world-writable directory like `/tmp`; a
/// policy with one expired file.
struct LockScene {
    t: Tree,
    attacker: Nobody,
    policy: PathBuf,
    public: PathBuf,
    secret: PathBuf,
}

const SECRET: &[u8] = b"root's file: to be neither truncated nor written\n";

impl LockScene {
    fn new(test: &str) -> Option<LockScene> {
        let attacker = Nobody::new(test)?;
        let t = open_tree();
        t.file("2024-07-01/a");
        let policy = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
        let public = t.dir.path().join("public");
        fs::create_dir(&public).unwrap();
        fs::set_permissions(&public, fs::Permissions::from_mode(0o1777)).unwrap();
        let secret = t.dir.path().join("secret");
        fs::write(&secret, SECRET).unwrap();
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
        Some(LockScene { t, attacker, policy, public, secret })
    }

    /// `apply --lock-file lock` must refuse, saying `why`, before touching anything; the
    /// secret must be as it was.
    #[track_caller]
    fn refused(&self, lock: &Path, why: &str) {
        let before = fs::metadata(&self.secret).unwrap();
        let mut s = Sweep::new();
        s.args(["apply", "--now", NOW, "-c"]).arg(&self.policy).arg("--lock-file").arg(lock);
        let done = bounded(s.command(), "apply");
        let code = done.out.status.code();
        assert!(
            code.is_some_and(|c| c != 0 && c != 101),
            "apply with the lock file {} must refuse cleanly, not exit {code:?}\n--- stdout\n{}--- stderr\n{}",
            lock.display(),
            done.stdout(),
            done.stderr()
        );
        done.stderr_has("nothing was touched");
        assert!(self.t.exists("2024-07-01/a"), "nothing deleted without the lock");
        let after = fs::metadata(&self.secret).unwrap();
        assert_eq!(fs::read(&self.secret).unwrap(), SECRET, "the secret's content is unchanged");
        assert_eq!(
            (after.len(), after.ino(), after.uid(), after.mode(), after.mtime(), after.mtime_nsec()),
            (before.len(), before.ino(), before.uid(), before.mode(), before.mtime(), before.mtime_nsec()),
            "the secret's size, identity, owner, mode and mtime are unchanged"
        );
        // Safe so far; the message must also say why, so the operator can act on it.
        let err = done.stderr();
        assert!(
            err.contains("refusing the lock file") && err.contains(why),
            "apply refused the lock file {} safely, but does not say why (\"{why}\"):\n{err}",
            lock.display()
        );
    }
}

// ---------------------------------------------------------------------------------------
// 2. The metrics file.

#[test]
fn metrics_never_write_through_symlinks_planted_in_a_world_writable_directory() {
    let test = "metrics_never_write_through_symlinks_planted_in_a_world_writable_directory";
    let Some(attacker) = Nobody::new(test) else { return };
    let Some(unshare) = required("unshare", test) else { return };
    let t = open_tree();
    t.files(&["2024-07-01/a", "2024-07-12/a"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    // A careless textfile directory: anyone may create names in it.
    let dir = t.dir.path().join("textfile");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let canary = t.dir.path().join("canary");
    fs::write(&canary, SECRET).unwrap();
    let before = fs::metadata(&canary).unwrap();
    // Every name a temporary could plausibly have. sweep runs as PID 1 of a new PID
    // namespace, so a name built from the process id (v1: `.sweep.prom.tmp.PID`) is
    // among them.
    let mut planted: Vec<String> =
        [".sweep.prom.tmp", "sweep.prom.tmp", ".sweep.prom.swp", "sweep.prom.new", ".sweep.prom"]
            .into_iter()
            .map(String::from)
            .collect();
    planted.extend((1..=64).map(|pid| format!(".sweep.prom.tmp.{pid}")));
    planted.extend((1..=64).map(|pid| format!(".sweep.prom.{pid}.tmp")));
    let mut args: Vec<PathBuf> = vec![canary.clone()];
    args.extend(planted.iter().map(|n| dir.join(n)));
    let argv: Vec<&Path> = args.iter().map(PathBuf::as_path).collect();
    attacker.run("target=$1; shift; for n in \"$@\"; do ln -s \"$target\" \"$n\" || exit 1; done", &argv);

    let m = dir.join("sweep.prom");
    let mut cmd = Command::new(unshare);
    cmd.args(["--pid", "--kill-child", BIN, "apply", "-c"])
        .arg(&p)
        .args(["--now", NOW, "--lock-file"])
        .arg(t.dir.path().join("sweep.lock"))
        .arg("--metrics-file")
        .arg(&m);
    let done = bounded(sweep_env(&mut cmd), "sweep apply as PID 1");
    expect_code(&done, 0);
    assert_eq!(t.listing(), vec!["2024-07-12/a"], "the run itself went ahead");

    let after = fs::metadata(&canary).unwrap();
    assert_eq!(fs::read(&canary).unwrap(), SECRET, "nothing was written through a planted link");
    assert_eq!((after.len(), after.ino(), after.mtime()), (before.len(), before.ino(), before.mtime()));
    let meta = fs::symlink_metadata(&m).unwrap();
    assert!(meta.file_type().is_file(), "the metrics file is a regular file, not a planted link");
    assert_eq!(meta.mode() & 0o7777, 0o644, "mode 0644");
    assert_eq!((meta.uid(), meta.nlink()), (0, 1), "owned by root, one link");
    assert!(fs::read_to_string(&m).unwrap().contains("\nsweep_last_run_exit_code 0\n"));
    let mut want = planted.clone();
    want.push("sweep.prom".into());
    want.sort();
    assert_eq!(names_in(&dir), want, "no temporary file is left, and the planted links are left alone");
    for n in &planted {
        assert_eq!(fs::read_link(dir.join(n)).unwrap(), canary, "{n} is still nobody's link");
    }
}

#[test]
fn a_fifo_in_place_of_the_previous_metrics_file_does_not_hang_the_run() {
    let test = "a_fifo_in_place_of_the_previous_metrics_file_does_not_hang_the_run";
    let Some(attacker) = Nobody::new(test) else { return };
    let (t, p, dir) = metrics_scene();
    let m = dir.join("sweep.prom");
    attacker.run("mkfifo \"$1\"", &[&m]);
    assert!(fs::symlink_metadata(&m).unwrap().file_type().is_fifo());
    let done = bounded(t.sweep("apply", &p, NOW).arg("--metrics-file").arg(&m).command(), "apply");
    expect_code(&done, 0);
    assert!(!t.exists("2024-07-01/a"));
    let meta = fs::symlink_metadata(&m).unwrap();
    assert!(meta.file_type().is_file(), "the FIFO was replaced by the new metrics file");
    assert!(fs::read_to_string(&m).unwrap().contains("\nsweep_last_run_exit_code 0\n"));
    assert_eq!(names_in(&dir), vec!["sweep.prom"]);
}

#[test]
fn a_symlink_to_dev_zero_in_place_of_the_metrics_file_is_replaced_not_read() {
    let test = "a_symlink_to_dev_zero_in_place_of_the_metrics_file_is_replaced_not_read";
    let Some(attacker) = Nobody::new(test) else { return };
    let (t, p, dir) = metrics_scene();
    let m = dir.join("sweep.prom");
    attacker.run("ln -s /dev/zero \"$1\"", &[&m]);
    // Bounded memory: reading /dev/zero to its end would need all there is. The address
    // space limit keeps the machine safe; the peak resident size is the assertion.
    let mut s = t.sweep("apply", &p, NOW);
    s.arg("--metrics-file").arg(&m);
    let (done, peak_kib) = bounded_with_peak(limit_memory(s.command()), "apply");
    expect_code(&done, 0);
    assert!(peak_kib < 64 * 1024, "apply with /dev/zero as its previous metrics reached {peak_kib} KiB resident");
    assert!(!t.exists("2024-07-01/a"));
    let meta = fs::symlink_metadata(&m).unwrap();
    assert!(meta.file_type().is_file(), "the rename replaced the link; nothing was written through it");
    assert_eq!(meta.uid(), 0);
    assert!(fs::read_to_string(&m).unwrap().contains("\nsweep_last_run_exit_code 0\n"));
    assert!(fs::metadata("/dev/zero").unwrap().file_type().is_char_device());
    assert_eq!(names_in(&dir), vec!["sweep.prom"]);
}

#[test]
fn a_symlink_in_place_of_the_metrics_file_is_never_read_through() {
    // v1 read the previous file through any link and carried its last-success value
    // into the new, world-readable file: nobody could read a number out of a root-only
    // file by linking to it.
    let test = "a_symlink_in_place_of_the_metrics_file_is_never_read_through";
    let Some(attacker) = Nobody::new(test) else { return };
    let (t, _, dir) = metrics_scene();
    t.file("staging/unmatched");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let private = t.dir.path().join("private");
    let text = "sweep_last_success_timestamp_seconds 1234567890\nsweep_last_run_start_timestamp_seconds 1234567890\n";
    fs::write(&private, text).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o600)).unwrap();
    let m = dir.join("sweep.prom");
    attacker.run("ln -s \"$1\" \"$2\"", &[&private, &m]);
    // A failing run (exit 7) carries the previous success over.
    let done = bounded(t.sweep("apply", &p, NOW).arg("--metrics-file").arg(&m).command(), "apply");
    expect_code(&done, 7);
    let prom = fs::read_to_string(&m).unwrap();
    assert!(!prom.contains("1234567890"), "a value was read through nobody's link:\n{prom}");
    assert!(prom.contains("\nsweep_last_success_timestamp_seconds 0\n"), "{prom}");
    assert!(fs::symlink_metadata(&m).unwrap().file_type().is_file());
    assert_eq!(fs::read_to_string(&private).unwrap(), text);
}

/// A tree with an expired file, its policy, and a world-writable textfile directory.
fn metrics_scene() -> (Tree, PathBuf, PathBuf) {
    let t = open_tree();
    t.file("2024-07-01/a");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let dir = t.dir.path().join("textfile");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    (t, p, dir)
}

// ---------------------------------------------------------------------------------------
// 3. The root is resolved once.

/// Files in `danger`, far over `max_delete: 5`.
const DANGER_FILES: usize = 50;
/// How many runs race the attacker, at most, and for how long at most.
const FLIP_RUNS: usize = 40;
const FLIP_TIME: Duration = Duration::from_secs(8);

#[test]
fn flipping_a_symlink_above_the_root_never_deletes_on_the_other_side() {
    // `/T/link/data` is the root; nobody owns /T and keeps renaming a new `link` over the
    // old one, pointing at `safe` (2 expired files) and `danger` (50, more than
    // `max_delete: 5`). A run that resolves the root once sees one side whole: it deletes
    // safe's 2, or refuses danger's 50. A run that resolves it again between counting
    // and deleting deletes danger's 50 after counting safe's 2 (v1, within a few runs).
    let test = "flipping_a_symlink_above_the_root_never_deletes_on_the_other_side";
    let Some(nobody) = Nobody::new(test) else { return };
    let t = open_tree();
    let top = t.dir.path().join("T");
    let (safe, danger) = (top.join("safe/data/2024-07-01"), top.join("danger/data/2024-07-01"));
    fs::create_dir_all(&safe).unwrap();
    fs::create_dir_all(&danger).unwrap();
    for i in 0..DANGER_FILES {
        fs::write(danger.join(format!("f{i:02}")), "danger\n").unwrap();
    }
    symlink("safe", top.join("link")).unwrap();
    std::os::unix::fs::chown(&top, Some(NOBODY), Some(NOBODY)).unwrap();
    let p = t.policy(&format!(
        "version: 1\npolicies:\n  - name: t\n    root: {}/link/data\n    timezone: UTC\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n    max_delete: 5\n",
        top.display()
    ));

    let _flipper = Flipper::start(&nobody, &top);
    let started = Instant::now();
    let mut exits: BTreeMap<i32, usize> = BTreeMap::new();
    let mut runs = 0;
    while runs < FLIP_RUNS && started.elapsed() < FLIP_TIME {
        runs += 1;
        fs::create_dir_all(&safe).unwrap();
        fs::write(safe.join("a"), "safe\n").unwrap();
        fs::write(safe.join("b"), "safe\n").unwrap();
        let done = bounded(t.sweep("apply", &p, NOW).args(["--format", "json"]).command(), "apply under the flipper");
        let code = done.out.status.code().unwrap_or(-1);
        let left = fs::read_dir(&danger).map_or(0, |d| d.count());
        assert_eq!(
            left,
            DANGER_FILES,
            "run {runs}: sweep deleted {} files on the other side of the flipped link (exits so far {exits:?})\n\
             --- stdout\n{}--- stderr\n{}",
            DANGER_FILES - left,
            done.stdout(),
            done.stderr()
        );
        match code {
            0 => assert!(!safe.join("a").exists() && !safe.join("b").exists(), "exit 0: safe's files went"),
            6 => {
                assert_eq!(done.summary()["policies"][0]["refused"]["guard"], "max_delete");
                assert!(safe.join("a").exists() && safe.join("b").exists(), "exit 6: danger refused, safe untouched");
            }
            _ => panic!(
                "run {runs}: exit {code}, not 0 or 6\n--- stdout\n{}--- stderr\n{}",
                done.stdout(),
                done.stderr()
            ),
        }
        *exits.entry(code).or_default() += 1;
    }
    eprintln!("{runs} runs under the flipper in {:.1?}: exits {exits:?}", started.elapsed());
    assert!(
        exits.contains_key(&0) && exits.contains_key(&6),
        "in {runs} runs sweep never saw both sides of the link ({exits:?}): the race proved nothing"
    );
}

/// Environment of the flipper process.
const FLIP_DIR: &str = "SWEEP_HARDENING_FLIP_DIR";
const FLIP_SECS: &str = "SWEEP_HARDENING_FLIP_SECS";

/// The attacker of the flipping test, run as nobody: renames a fresh symlink named
/// `link`, to `danger` then to `safe`, over the old one in its directory, until its
/// deadline. Run on its own, it does nothing.
#[test]
#[ignore = "the attacker process of flipping_a_symlink_above_the_root_..., started by it; does nothing on its own"]
fn link_flipper() {
    let Some(dir) = std::env::var_os(FLIP_DIR) else { return };
    let secs: u64 = std::env::var(FLIP_SECS).ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let dir = rustix::fs::open(&dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        for target in ["danger", "safe"] {
            if let Err(Errno::EXIST) = rustix::fs::symlinkat(target, &dir, ".flip") {
                rustix::fs::unlinkat(&dir, ".flip", rustix::fs::AtFlags::empty()).unwrap();
                rustix::fs::symlinkat(target, &dir, ".flip").unwrap();
            }
            rustix::fs::renameat(&dir, ".flip", &dir, "link").unwrap();
        }
    }
}

/// The flipper process, as nobody; killed on drop.
struct Flipper(Child);

impl Flipper {
    fn start(nobody: &Nobody, dir: &Path) -> Flipper {
        let exe = nobody.executable();
        let mut cmd = nobody.command(&exe);
        cmd.args(["hardening::link_flipper", "--exact", "--ignored", "--nocapture", "--test-threads=1", "-q"])
            .env(FLIP_DIR, dir)
            .env(FLIP_SECS, (FLIP_TIME.as_secs() + 60).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut f = Flipper(cmd.spawn().expect("start the flipper"));
        let link = dir.join("link");
        let started = Instant::now();
        while fs::read_link(&link).map_or(true, |l| l != Path::new("danger")) {
            if let Some(status) = f.0.try_wait().unwrap() {
                let mut err = String::new();
                let _ = std::io::Read::read_to_string(&mut f.0.stderr.take().unwrap(), &mut err);
                panic!("the flipper ended before flipping ({status}):\n{err}");
            }
            assert!(started.elapsed() < HANG, "the flipper did not flip the link within {HANG:?}");
            std::thread::sleep(Duration::from_millis(1));
        }
        f
    }
}

impl Drop for Flipper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------------------
// 4. Dangerous roots by identity.

#[test]
fn a_bind_mount_of_etc_is_refused_as_a_root_by_identity() {
    let test = "a_bind_mount_of_etc_is_refused_as_a_root_by_identity";
    let Some(unshare) = required("unshare", test) else { return };
    if required("mount", test).is_none() {
        return;
    }
    let t = Tree::new();
    let target = t.dir.path().join("harmless");
    fs::create_dir(&target).unwrap();
    let p = t.policy(&format!(
        "version: 1\npolicies:\n  - name: looks-harmless\n    root: {}\n    timezone: UTC\n    layouts: ['**']\n    date_from: mtime\n    keep: 1d\n",
        target.display()
    ));
    // /etc, read-only, at a harmless-looking path, in a mount namespace of its own. Only
    // check and plan run there: nothing in /etc can be touched.
    let in_namespace = |args: &[&OsStr]| {
        let script = r#"target=$1; shift
mount --bind /etc "$target" || exit 97
mount -o remount,bind,ro "$target" || exit 98
exec "$@""#;
        let mut cmd = Command::new(&unshare);
        cmd.args(["-m", "--propagation", "private", "sh", "-c", script, "sh"]).arg(&target).arg(BIN).args(args);
        let done = bounded(sweep_env(&mut cmd), "sweep over a bind mount of /etc");
        let code = done.out.status.code();
        assert!(!matches!(code, Some(97 | 98)), "the bind mount failed as root:\n{}", done.stderr());
        done
    };
    let check = in_namespace(&[OsStr::new("check"), OsStr::new("-c"), p.as_os_str()]);
    expect_code(&check, 3);
    check.stdout_has("same directory as /etc").stdout_has("refuses to clean it");

    let plan = in_namespace(&[
        OsStr::new("plan"),
        OsStr::new("-c"),
        p.as_os_str(),
        OsStr::new("--now"),
        OsStr::new(NOW),
        OsStr::new("--format"),
        OsStr::new("json"),
    ]);
    expect_code(&plan, 6);
    assert_eq!(names_in(&target), Vec::<String>::new(), "the bind mount stayed in its namespace");
    let s = plan.summary();
    let policy = &s["policies"][0];
    assert_eq!(policy["refused"]["guard"], "dangerous_root", "{s}");
    assert!(policy["refused"]["reason"].as_str().unwrap().contains("same directory as /etc"), "{s}");
    // The refusal is decided before any walk, and a refused system directory is not even
    // read: nothing of /etc is listed.
    let listed = plan.json().iter().filter(|l| l["type"] == "file" || l["type"] == "dir").count();
    assert_eq!(
        (listed, &policy["files"]),
        (
            0,
            &serde_json::json!({"delete": 0, "keep": 0, "protect": 0, "unmatched": 0, "error": 0, "compress": 0, "move": 0})
        ),
        "a root refused as a system directory must not be walked, yet plan listed {listed} entries of /etc: {s}"
    );
}

// ---------------------------------------------------------------------------------------
// 5. `%s` plausibility.

#[test]
fn an_epoch_that_reads_as_1970_is_unmatched_as_an_implausible_date() {
    // `dump-20241129.bin` is a date, not 20,241,129 seconds after 1970.
    let t = Tree::new();
    t.files(&["dump-20241129.bin", "dump-1720000000.bin", "dump-1720780000.bin"]);
    let p = t.policy(&one_policy(&["dump-%s.bin"], "1d", ""));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(7);
    assert_eq!(
        plan.actions(&t.root),
        pairs(&[
            ("dump-1720000000.bin", "delete"),
            ("dump-1720780000.bin", "keep"),
            ("dump-20241129.bin", "unmatched")
        ])
    );
    let line = plan.json().into_iter().find(|l| l["action"] == "unmatched").unwrap();
    assert!(line["reason"].as_str().unwrap().contains("implausible date"), "{line}");
    t.sweep("apply", &p, NOW).code(7);
    assert_eq!(t.listing(), vec!["dump-1720780000.bin", "dump-20241129.bin"], "the misread dump stays");
}

// ---------------------------------------------------------------------------------------
// 6. min_age under a writer that renames files into place.

/// Old files in the expired partition.
const OLD_FILES: usize = 3_000;
/// How long apply runs race the writer, at most (a run started is finished).
const WRITER_TIME: Duration = Duration::from_secs(5);

#[test]
fn files_renamed_into_place_while_apply_runs_are_never_deleted_under_min_age() {
    // A writer keeps replacing old files with fresh ones (write a temporary, rename it
    // over the old name) while apply deletes the partition. A fresh file is protected by
    // min_age whenever sweep looks at it; the danger is a name sweep examined while it
    // was old and deletes after the rename (v1: dozens per run).
    let started = Instant::now();
    let mut runs = 0;
    while runs == 0 || started.elapsed() < WRITER_TIME {
        runs += 1;
        let race = renaming_writer_race();
        eprintln!(
            "run {runs}: {} renames during apply, which deleted {} old files; {} fresh files lost",
            race.renames,
            race.deleted,
            race.lost.len()
        );
        assert!(
            race.lost.is_empty(),
            "run {runs}: sweep deleted {} fresh files renamed into place under min_age 1h ({} renames during \
             the run). Each was examined while old (its line has the old file's 4 bytes), and what was \
             unlinked was the fresh file renamed over its name since. (sweep 2 checks the file again just \
             before unlinkat, in tree::local::still_same, but by name, in a separate call: a rename \
             between the two is not seen.)\n{}",
            race.lost.len(),
            race.renames,
            race.lost.join("\n")
        );
    }
}

/// What one [`renaming_writer_race`] saw.
struct WriterRace {
    /// Renames the writer made during the run.
    renames: usize,
    /// Fresh files gone afterwards, each with sweep's line about its name.
    lost: Vec<String>,
    /// Files apply reports deleted.
    deleted: u64,
}

/// One apply of a partition of [`OLD_FILES`] old files (and `min_age: 1h`) while a
/// thread renames fresh files over their names.
fn renaming_writer_race() -> WriterRace {
    let t = Tree::new();
    let part = t.path("2024-07-01");
    fs::create_dir(&part).unwrap();
    for i in 0..OLD_FILES {
        let f = part.join(format!("f{i:04}"));
        fs::write(&f, "old\n").unwrap();
        set_mtime(&f, OLD_MTIME);
    }
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "min_age: 1h"));
    let tmp = t.dir.path().join("incoming");

    let stop = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let writer: JoinHandle<Vec<usize>> = {
        let (stop, part) = (Arc::clone(&stop), part.clone());
        std::thread::spawn(move || {
            let mut renamed = Vec::new();
            // A fixed walk over every name, in an order unrelated to the directory's.
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i = (i + 1_237) % OLD_FILES;
                fs::write(&tmp, "fresh\n").unwrap();
                fs::rename(&tmp, part.join(format!("f{i:04}"))).unwrap();
                renamed.push(i);
                if renamed.len() == 20 {
                    let _ = started_tx.send(());
                }
            }
            renamed
        })
    };
    // The directory holds fresh files before apply starts, so it is never removed.
    started_rx.recv_timeout(HANG).expect("the writer renames files");
    // The real clock: the fresh files are seconds old, the old ones years.
    let mut s = Sweep::new();
    s.args(["apply", "--format", "json", "-c"]).arg(&p).arg("--lock-file").arg(t.dir.path().join("sweep.lock"));
    let done = bounded(s.command(), "apply under the writer");
    stop.store(true, Ordering::Relaxed);
    let renamed = writer.join().unwrap();
    expect_code(&done, 0);
    let stdout = done.stdout();
    let lost: Vec<String> = renamed
        .iter()
        .map(|i| format!("f{i:04}"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|n| fs::read(part.join(n)).map_or(true, |c| c != b"fresh\n"))
        .map(|n| {
            let line = stdout.lines().find(|l| l.contains(&format!("/{n}\""))).unwrap_or("(no line)");
            format!("{n}: {line}")
        })
        .collect();
    let s = done.summary();
    let deleted = s["policies"][0]["deleted"].as_u64().unwrap();
    assert!(deleted > 0, "apply deleted old files while the writer ran: {s}");
    for e in fs::read_dir(&part).unwrap() {
        let e = e.unwrap();
        assert_eq!(fs::read(e.path()).unwrap(), b"fresh\n", "{:?}: only fresh files are left", e.file_name());
    }
    WriterRace { renames: renamed.len(), lost, deleted }
}

// ---------------------------------------------------------------------------------------
// 7. A stderr that cannot be written.

#[test]
fn an_unwritable_stderr_neither_stops_the_run_nor_changes_its_exit_code() {
    // /dev/full is the one that bites (ENOSPC: v1's eprintln! panicked, exit 101); std
    // treats EBADF on stderr as success, and Rust programs start with a closed stderr
    // reopened on /dev/null, but those must not change anything either.
    for how in ["/dev/full", "a read-only descriptor", "a closed descriptor"] {
        let t = Tree::new();
        t.files(&["a/2024-07-01/x", "a/staging/unmatched", "b/2024-07-01/y", "b/2024-07-12/y"]);
        let p = t.policy(
            "version: 1\ndefaults:\n  timezone: UTC\npolicies:\n  - name: first\n    root: {root}/a\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n  - name: second\n    root: {root}/b\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n",
        );
        let m = t.dir.path().join("sweep.prom");
        let lock = t.dir.path().join("sweep.lock");
        let args: Vec<&OsStr> = vec![
            OsStr::new("apply"),
            OsStr::new("-c"),
            p.as_os_str(),
            OsStr::new("--now"),
            OsStr::new(NOW),
            OsStr::new("--lock-file"),
            lock.as_os_str(),
            OsStr::new("--metrics-file"),
            m.as_os_str(),
        ];
        let mut cmd = match how {
            "a closed descriptor" => {
                let mut c = Command::new("sh");
                c.args(["-c", "exec 2>&-; exec \"$0\" \"$@\"", BIN]).args(&args);
                c
            }
            _ => {
                let mut c = Command::new(BIN);
                c.args(&args);
                let err = if how == "/dev/full" {
                    File::options().write(true).open("/dev/full").unwrap()
                } else {
                    let f = t.dir.path().join("stderr");
                    fs::write(&f, "").unwrap();
                    File::open(&f).unwrap()
                };
                c.stderr(err);
                c
            }
        };
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let done = finish_bounded(sweep_env(&mut cmd), "apply with stderr unwritable");
        assert_eq!(
            done.out.status.code(),
            Some(7),
            "stderr {how}: exit 7 (unmatched), as with a working stderr\n--- stdout\n{}",
            done.stdout()
        );
        done.stdout_has("exit 7: unmatched files");
        assert_eq!(
            t.listing(),
            vec!["a/staging/unmatched", "b/2024-07-12/y"],
            "stderr {how}: both policies ran to the end"
        );
        let prom = fs::read_to_string(&m).unwrap_or_else(|e| panic!("stderr {how}: the metrics file: {e}"));
        assert!(prom.contains("\nsweep_last_run_exit_code 7\n"), "stderr {how}:\n{prom}");
        assert!(prom.contains("sweep_deleted_files{policy=\"second\"} 1\n"), "stderr {how}:\n{prom}");
    }
}

// ---------------------------------------------------------------------------------------
// 8. Low descriptor limits.

#[test]
fn a_1200_file_tree_is_classified_and_deleted_completely_under_ulimit_n_64() {
    // 80 daily partitions of 15 files: each deletion batch then spans many directories,
    // each holding a descriptor while queued (v1 kept up to 5 × 32 of them, and lost
    // directories to EMFILE; with 40 partitions of 30 it stayed just under 64).
    let t = Tree::new();
    let mut dirs = 0;
    let mut day = chrono::NaiveDate::from_ymd_opt(2024, 4, 1).unwrap();
    for _ in 0..80 {
        for i in 0..15 {
            t.file(&format!("{day}/part-{i:02}.csv"));
        }
        dirs += 1;
        day = day.succ_opt().unwrap();
    }
    t.file("2024-07-12/keep.csv");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let plan = bounded(limit_fds(t.sweep("plan", &p, NOW).args(["--format", "json"]).command(), 64), "plan");
    expect_code(&plan, 0);
    let s = plan.summary();
    assert_eq!(s["policies"][0]["files"]["delete"], 1_200, "{s}");
    assert_eq!(s["policies"][0]["files"]["keep"], 1, "{s}");
    assert_eq!(s["policies"][0]["files"]["error"], 0, "{s}");
    let apply = bounded(limit_fds(t.sweep("apply", &p, NOW).args(["--format", "json"]).command(), 64), "apply");
    expect_code(&apply, 0);
    let s = apply.summary();
    assert_eq!(s["policies"][0]["deleted"], 1_200, "{s}");
    assert_eq!(s["policies"][0]["failed"], 0, "{s}");
    assert_eq!(s["policies"][0]["dirs_removed"], dirs, "{s}");
    assert_eq!(t.listing(), vec!["2024-07-12/keep.csv"]);
    assert_eq!(names_in(&t.root), vec!["2024-07-12"], "every emptied directory was removed");
}

#[test]
fn a_200_level_tree_is_deleted_completely_under_ulimit_n_16() {
    let t = Tree::new();
    let mut rel = String::from("2024-07-01");
    let mut files = 0;
    for level in 0..=200 {
        t.file(&format!("{rel}/part-{level}.csv"));
        files += 1;
        rel.push_str("/d");
    }
    t.file("2024-07-12/keep.csv");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let plan = bounded(limit_fds(t.sweep("plan", &p, NOW).args(["--format", "json"]).command(), 16), "plan");
    expect_code(&plan, 0);
    assert_eq!(plan.summary()["policies"][0]["files"]["delete"], files);
    let apply = bounded(limit_fds(t.sweep("apply", &p, NOW).args(["--format", "json"]).command(), 16), "apply");
    expect_code(&apply, 0);
    let s = apply.summary();
    assert_eq!(s["policies"][0]["deleted"], files, "{s}");
    assert_eq!(s["policies"][0]["files"]["error"], 0, "{s}");
    assert_eq!(s["policies"][0]["dirs_removed"], 201, "the partition and its 200 levels: {s}");
    assert_eq!(t.listing(), vec!["2024-07-12/keep.csv"]);
    assert!(!t.exists("2024-07-01"));
}

// ---------------------------------------------------------------------------------------
// 9. A clock gone wrong.

#[test]
fn a_clock_two_days_behind_the_last_run_refuses_every_policy() {
    let t = Tree::new();
    t.files(&["a/2024-07-01/x", "b/2024-07-01/y"]);
    let p = t.policy(
        "version: 1\ndefaults:\n  timezone: UTC\npolicies:\n  - name: a\n    root: {root}/a\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n  - name: b\n    root: {root}/b\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n",
    );
    // The last run started two days after what this machine's clock now says.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let m = t.dir.path().join("sweep.prom");
    fs::write(&m, format!("sweep_last_run_start_timestamp_seconds {}\n", now + 2 * 86_400)).unwrap();
    let mut s = Sweep::new();
    s.args(["apply", "--format", "json", "-c"])
        .arg(&p)
        .arg("--lock-file")
        .arg(t.dir.path().join("sweep.lock"))
        .arg("--metrics-file")
        .arg(&m);
    let done = bounded(s.command(), "apply with the system clock");
    expect_code(&done, 6);
    let s = done.summary();
    for policy in s["policies"].as_array().unwrap() {
        assert_eq!(policy["refused"]["guard"], "clock", "{s}");
        assert_eq!(policy["deleted"], 0, "{s}");
    }
    done.stderr_has("fix the clock or pass --now");
    assert_eq!(t.listing(), vec!["a/2024-07-01/x", "b/2024-07-01/y"], "nothing deleted");
}

#[test]
fn max_delete_as_a_span_at_the_end_of_time_refuses_and_deletes_nothing() {
    let t = Tree::new();
    t.files(&["2024-07-01/a", "2024-07-02/a"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "max_delete: 2d"));
    let done = bounded(t.sweep("apply", &p, "2262-04-11").args(["--format", "json"]).command(), "apply");
    expect_code(&done, 6);
    assert_eq!(done.summary()["policies"][0]["refused"]["guard"], "max_delete");
    assert_eq!(t.listing(), vec!["2024-07-01/a", "2024-07-02/a"]);
}

// ---------------------------------------------------------------------------------------
// 10. A summary that cannot be written.

#[test]
fn a_report_that_cannot_be_written_exits_1_and_the_metrics_say_so() {
    // With an empty root the summary is the whole report, written last: its failure is
    // known only after the metrics file was first written (v1 exited 0, metrics saying 0).
    for files in [&[][..], &["2024-07-01/a", "2024-07-12/a"][..]] {
        let t = Tree::new();
        t.files(files);
        let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
        let m = t.dir.path().join("sweep.prom");
        let mut s = t.sweep("plan", &p, NOW);
        s.args(["--format", "json", "--metrics-file"]).arg(&m);
        let cmd = s.command();
        cmd.stdin(Stdio::null()).stdout(File::options().write(true).open("/dev/full").unwrap()).stderr(Stdio::piped());
        let done = finish_bounded(cmd, "plan > /dev/full");
        expect_code(&done, 1);
        done.stderr_has("cannot write the report");
        let prom = fs::read_to_string(&m).unwrap();
        assert!(prom.contains("\nsweep_last_run_exit_code 1\n"), "{files:?}: the metrics record the failure:\n{prom}");
        assert!(prom.contains("\nsweep_last_success_timestamp_seconds 0\n"), "{files:?}: and no success:\n{prom}");
    }
}

// ---------------------------------------------------------------------------------------
// 11. Hostile policy files.

#[test]
fn hostile_policy_files_are_refused_at_the_limit_they_break() {
    let t = Tree::new();
    let nested = t.dir.path().join("nested.yaml");
    fs::write(&nested, "[".repeat(100_000)).unwrap();
    // 10 levels of 10 aliases each: 10^10 values once expanded.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let bomb_file = t.dir.path().join("bomb.yaml");
    fs::write(&bomb_file, bomb).unwrap();
    let big = t.dir.path().join("big.yaml");
    let mut text = b"version: 1\n".to_vec();
    text.resize(50 * 1024 * 1024, b'#');
    text.push(b'\n');
    fs::write(&big, text).unwrap();

    for (file, limit) in [
        (&nested, "nested more than 32 levels deep"),
        (&bomb_file, "counting what aliases repeat"),
        (&big, "at most 1048576 bytes"),
    ] {
        let mut s = Sweep::new();
        s.args(["check", "-c"]).arg(file);
        let done = bounded(limit_memory(s.command()), "check of a hostile policy file");
        expect_code(&done, 3);
        done.stdout_has(&format!("{}:", file.display())).stdout_has(limit);
    }
}

// ---------------------------------------------------------------------------------------
// 12. The low items.

#[test]
fn sighup_mid_apply_stops_with_a_summary_and_exit_129() {
    let t = Tree::new();
    let total = 20_000;
    for d in 1..=2 {
        for i in 0..total / 2 {
            t.file(&format!("2024-07-0{d}/f{i:05}"));
        }
    }
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let mut child = Command::new(BIN)
        .args(["apply", "--format", "json", "--now", NOW, "-c"])
        .arg(&p)
        .arg("--lock-file")
        .arg(t.dir.path().join("sweep.lock"))
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let guard = Watchdog::start(Pid::from_child(&child));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("\"outcome\":\"deleted\""), "{first}");
    kill_process(Pid::from_child(&child), Signal::HUP).unwrap();
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    assert!(!guard.stop(), "apply did not stop within {HANG:?} of SIGHUP");
    assert_eq!(status.code(), Some(129), "128 + SIGHUP");
    let summary: Value = serde_json::from_str(rest.last().unwrap()).unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["exit_code"], 129);
    let deleted = summary["policies"][0]["deleted"].as_u64().unwrap();
    assert!(deleted > 0 && deleted < total, "stopped part-way: {deleted}");
    assert_eq!(t.listing().len() as u64, total - deleted, "the summary says exactly what was deleted");
}

#[test]
fn a_bidirectional_override_in_a_name_is_escaped_in_text_output() {
    let t = Tree::new();
    // Shown raw, this reads as "invoice-exe.pdf" on a terminal.
    t.file("2024-07-01/invoice-\u{202e}fdp.exe");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let done = t.sweep("plan", &p, NOW).arg("-v").code(0);
    done.stdout_has("invoice-\\u{202e}fdp.exe");
    assert!(!done.stdout().contains('\u{202e}'), "the override never reaches the terminal:\n{}", done.stdout());
}

#[test]
fn explain_resolves_dot_dot_before_choosing_a_policy() {
    let t = Tree::new();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let path = format!("{}/2024-07-01/../../../../etc/x", t.root.display());
    let done = Sweep::new().args(["explain", "-c"]).arg(&p).args(["--now", NOW, &path]).output();
    assert!(done.out.status.code().is_some_and(|c| c != 101), "{}", done.stderr());
    done.stdout_has("no policy's root contains this path");
    assert!(!done.stdout().contains("delete"), "a path outside every root is never to be deleted:\n{}", done.stdout());
}

#[test]
fn an_exclude_glob_climbing_out_of_the_root_is_rejected() {
    let t = Tree::new();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "exclude: ['../**']"));
    Sweep::new().arg("check").arg("-c").arg(&p).code(3).stdout_has("`..` would point outside the root");
}

#[test]
fn invalid_utf8_in_a_policy_file_is_located_by_line_and_column() {
    let t = Tree::new();
    let p = t.dir.path().join("policy.yaml");
    fs::write(&p, b"version: 1\npolicies:\n  - name: t\xff\n").unwrap();
    let done = Sweep::new().arg("check").arg("-c").arg(&p).code(3);
    done.stdout_has(&format!("{}:3:12:", p.display())).stdout_has("not valid UTF-8");
}

#[test]
fn a_policy_file_starting_with_a_byte_order_mark_loads() {
    let t = Tree::new();
    let p = t.dir.path().join("policy.yaml");
    let text =
        format!("\u{feff}{}", one_policy(&["%Y-%m-%d/**"], "1d", "")).replace("{root}", t.root.to_str().unwrap());
    fs::write(&p, text).unwrap();
    Sweep::new().arg("check").arg("-c").arg(&p).code(0).stdout_has("ok: 1 policy in 1 file");
}

#[test]
fn a_min_age_beyond_i64_seconds_is_rejected() {
    let t = Tree::new();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "min_age: 9223372036854775808s"));
    Sweep::new().arg("check").arg("-c").arg(&p).code(3).stdout_has("min_age");
}

// ---------------------------------------------------------------------------------------
// Helpers.

/// The attacker: commands run as nobody:nogroup, without supplementary groups, through
/// util-linux `setpriv`.
struct Nobody {
    setpriv: PathBuf,
}

impl Nobody {
    /// `None` after a loud skip (a failure under CI) when `setpriv` or root is missing.
    fn new(test: &str) -> Option<Nobody> {
        let setpriv = required("setpriv", test)?;
        if !rustix::process::geteuid().is_root() {
            missing(test, "root (to act as nobody and restore what the attack changed)");
            return None;
        }
        Some(Nobody { setpriv })
    }

    /// `program` as nobody; a path is made reachable first (see [`User::reachable`]).
    fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let program = program.as_ref();
        let mut c = Command::new(&self.setpriv);
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        if program.to_string_lossy().contains('/') {
            c.arg(User::NOBODY.reachable(Path::new(program)));
        } else {
            c.arg(program);
        }
        c
    }

    /// Runs `sh -c script` as nobody with `args` as `$1...`; it must succeed.
    #[track_caller]
    fn run(&self, script: &str, args: &[&Path]) {
        let out = self.command("sh").args(["-c", script, "sh"]).args(args).output().expect("run setpriv");
        assert!(
            out.status.success(),
            "as nobody: {script} {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// This test executable, at a path nobody may execute (a copy, if the build
    /// directory is closed to others).
    fn executable(&self) -> PathBuf {
        let exe = std::env::current_exe().expect("path of the test executable");
        User::NOBODY.reachable(&exe)
    }
}

/// A tree whose scratch directory (and the directory above it) nobody may enter.
fn open_tree() -> Tree {
    let t = Tree::new();
    for d in [t.dir.path().parent().unwrap(), t.dir.path()] {
        let mode = fs::metadata(d).unwrap().permissions().mode();
        if mode & 0o005 != 0o005 {
            fs::set_permissions(d, fs::Permissions::from_mode(mode | 0o755)).unwrap();
        }
    }
    t
}

/// Serialises every test that changes a sysctl, so that none saves another's value.
static SYSCTLS: Mutex<()> = Mutex::new(());

/// Sysctls set for one test and restored on drop, also when the test panics.
struct Sysctl {
    saved: Vec<(PathBuf, String)>,
    _serial: MutexGuard<'static, ()>,
}

impl Sysctl {
    /// Sets each `(name, value)` (names as under `/proc/sys`); `None` after a loud skip
    /// (a failure under CI) when one cannot be set.
    fn set(settings: &[(&str, &str)], test: &str) -> Option<Sysctl> {
        let serial = SYSCTLS.lock().unwrap_or_else(|e| e.into_inner());
        let mut s = Sysctl { saved: Vec::new(), _serial: serial };
        for (name, value) in settings {
            let path = Path::new("/proc/sys").join(name);
            let Ok(old) = fs::read_to_string(&path) else {
                missing(test, &format!("the sysctl {name}"));
                return None;
            };
            if fs::write(&path, value).is_err()
                || fs::read_to_string(&path).ok().as_deref().map(str::trim) != Some(value)
            {
                missing(test, &format!("permission to set the sysctl {name}"));
                return None;
            }
            s.saved.push((path, old.trim().to_string()));
        }
        Some(s)
    }
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        for (path, old) in self.saved.iter().rev() {
            if let Err(e) = fs::write(path, old) {
                loud(&format!("could not restore {} to {old}: {e}", path.display()));
            }
        }
    }
}

/// A process group, killed on drop.
struct Group(Pid);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = kill_process_group(self.0, Signal::KILL);
    }
}

/// Like [`bounded`], sampling the child's peak resident size (`VmHWM`) every few
/// milliseconds while it runs; returns the largest sample, in KiB.
#[track_caller]
fn bounded_with_peak(cmd: &mut Command, what: &str) -> (Done, u64) {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let pid = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let hwm = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
                peak = peak.max(hwm.unwrap_or(0));
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        })
    };
    let guard = Watchdog::start(Pid::from_child(&child));
    let out: Output = child.wait_with_output().unwrap();
    done.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    if guard.stop() {
        panic!("{what} hung: killed after {HANG:?}\n--- stderr\n{}", String::from_utf8_lossy(&out.stderr));
    }
    (Done { out }, peak)
}

#[track_caller]
fn expect_code(done: &Done, want: i32) {
    assert_eq!(
        done.out.status.code(),
        Some(want),
        "exit status {}\n--- stdout\n{}--- stderr\n{}",
        done.out.status,
        done.stdout(),
        done.stderr()
    );
}

/// The environment `Sweep` gives the binary, for commands that run it through another.
fn sweep_env(cmd: &mut Command) -> &mut Command {
    cmd.env_remove("NO_COLOR").env("TZ", "UTC")
}

/// Runs the command under `ulimit -n n` (soft and hard).
fn limit_fds(cmd: &mut Command, n: u64) -> &mut Command {
    // SAFETY: only setrlimit runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::setrlimit(Resource::Nofile, Rlimit { current: Some(n), maximum: Some(n) })?;
            Ok(())
        });
    }
    cmd
}

/// Runs the command with its address space limited to [`MEMORY`].
fn limit_memory(cmd: &mut Command) -> &mut Command {
    // SAFETY: only setrlimit runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setrlimit(Resource::As, Rlimit { current: Some(MEMORY), maximum: Some(MEMORY) })?;
            Ok(())
        });
    }
    cmd
}

/// Names in a directory, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .map(|n: OsString| n.to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
