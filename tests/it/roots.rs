//! Roots as hostile ground: a root is resolved once (a symlink flipped above it never
//! makes a run delete on the other side), a system directory in disguise is refused by
//! its identity, and, as root, no symlink another user could have planted is followed.
//!
//! Attacks on sweep running as root, each made for real (see tests/it/support/attack.rs):
//! the attacker is `nobody` (util-linux `setpriv`), kernel protections that would hide a
//! bug in sweep are turned off for the test and restored, mounts are made only in a
//! private mount namespace, and races are bounded in time.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{self};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::support::*;

use serde_json::Value;

use crate::support::attack::*;

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
    // As root, sweep does not follow a symlink in a directory nobody can write at all;
    // the race is run with sweep as another unprivileged user, to whom nobody's
    // symlinks are as good as any, and whom resolving once alone must protect.
    let test = "flipping_a_symlink_above_the_root_never_deletes_on_the_other_side";
    let Some(nobody) = Nobody::new(test) else { return };
    let Some(cleaner) = User::new(64_998, 64_998, test) else { return };
    let t = open_tree();
    let top = t.dir.path().join("T");
    let (safe, danger) = (top.join("safe/data/2024-07-01"), top.join("danger/data/2024-07-01"));
    fs::create_dir_all(&safe).unwrap();
    fs::create_dir_all(&danger).unwrap();
    for i in 0..DANGER_FILES {
        fs::write(danger.join(format!("f{i:02}")), "danger\n").unwrap();
    }
    for d in [safe.parent().unwrap(), danger.parent().unwrap(), &safe, &danger] {
        std::os::unix::fs::chown(d, Some(64_998), Some(64_998)).unwrap();
    }
    symlink("safe", top.join("link")).unwrap();
    std::os::unix::fs::chown(&top, Some(NOBODY), Some(NOBODY)).unwrap();
    let p = t.policy(&format!(
        "version: 1\npolicies:\n  - name: t\n    root: {}/link/data\n    timezone: UTC\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n    max_delete: 5\n    skip_open: false\n",
        top.display()
    ));
    // As root: refused, naming the symlink and who can write its directory.
    let done = bounded(t.sweep("apply", &p, NOW).args(["--format", "json"]).command(), "apply as root");
    assert_eq!(done.out.status.code(), Some(5), "{}", done.stderr());
    assert!(done.stderr().contains("refusing to follow the symlink") && done.stderr().contains("(uid 65534)"));
    assert_eq!(fs::read_dir(&danger).unwrap().count(), DANGER_FILES);
    let lock = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(lock.path(), Some(64_998), Some(64_998)).unwrap();

    let _flipper = Flipper::start(&nobody, &top);
    let started = Instant::now();
    let mut exits: BTreeMap<i32, usize> = BTreeMap::new();
    let mut runs = 0;
    while runs < FLIP_RUNS && started.elapsed() < FLIP_TIME {
        runs += 1;
        fs::create_dir_all(&safe).unwrap();
        fs::write(safe.join("a"), "safe\n").unwrap();
        fs::write(safe.join("b"), "safe\n").unwrap();
        std::os::unix::fs::chown(&safe, Some(64_998), Some(64_998)).unwrap();
        let mut s = cleaner.sweep();
        s.args(["apply", "-c"])
            .arg(&p)
            .args(["--now", NOW, "--format", "json", "--lock-file"])
            .arg(lock.path().join("l"));
        let done = bounded(s.command(), "apply under the flipper");
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
        cmd.args(["roots::link_flipper", "--exact", "--ignored", "--nocapture", "--test-threads=1", "-q"])
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
// Roots by identity, and unsafe path transitions.

/// An admin writes the outer root through a symlink and the inner policy's root by its
/// real path (or the reverse): nesting is decided by what the roots are, so the outer
/// policy never enters the inner root, and `check` notes it.
#[test]
fn a_root_nested_by_identity_is_never_entered_however_it_is_spelled() {
    for reverse in [false, true] {
        let t = open_tree();
        let real = t.dir.path().join("mnt/d1/data");
        fs::create_dir_all(real.join("inner/2024-01-01")).unwrap();
        fs::create_dir_all(real.join("old")).unwrap();
        symlink(&real, t.dir.path().join("link")).unwrap();
        for f in ["inner/2024-01-01/keep-me.csv", "old/scratch.tmp"] {
            fs::write(real.join(f), "x").unwrap();
            set_mtime(&real.join(f), OLD_MTIME);
        }
        let (outer, inner) = if reverse {
            (real.display().to_string(), t.dir.path().join("link/inner").display().to_string())
        } else {
            (t.dir.path().join("link").display().to_string(), real.join("inner").display().to_string())
        };
        let p = t.policy(&format!(
            "version: 1\ndefaults:\n  timezone: UTC\npolicies:\n  - name: scratch\n    root: {outer}\n    date_from: mtime\n    layouts: ['**']\n    keep: 7d\n  - name: long\n    root: {inner}\n    layouts: ['%Y-%m-%d/*']\n    keep: 1000d\n"
        ));
        let check = Sweep::new().arg("check").arg("-c").arg(&p).code(0);
        check.stdout_has(&format!("root {inner} (policy long) is inside root {outer} (policy scratch)"));
        let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
        assert!(
            real.join("inner/2024-01-01/keep-me.csv").exists(),
            "reverse {reverse}: the inner policy's file is kept"
        );
        assert!(real.join("inner").is_dir(), "reverse {reverse}: the inner root is never removed");
        assert!(!real.join("old/scratch.tmp").exists(), "the outer policy still cleans its own");
        let nested: Vec<Value> = done.json().into_iter().filter(|l| l["type"] == "nested").collect();
        assert_eq!(nested.len(), 1, "{}", done.stdout());
        assert_eq!(nested[0]["owner"], "long");
        // explain, asked through the outer spelling, answers as the run walks it.
        let via_outer = Path::new(&outer).join("inner/2024-01-01/keep-me.csv");
        let e = Sweep::new().args(["explain", "--now", NOW, "-c"]).arg(&p).arg(&via_outer).code(0);
        e.stdout_has("policy    long").stdout_has("decision  keep");
    }
}

/// Two spellings of one directory are one shared root: one walk, each file counted by
/// its owner once.
#[test]
fn two_spellings_of_one_root_are_one_shared_root() {
    let t = open_tree();
    let real = t.dir.path().join("real");
    fs::create_dir_all(real.join("2024-07-01")).unwrap();
    fs::create_dir_all(real.join("logs")).unwrap();
    fs::write(real.join("2024-07-01/a.csv"), "x").unwrap();
    fs::write(real.join("logs/20240701-1.log"), "x").unwrap();
    symlink(&real, t.dir.path().join("alias")).unwrap();
    let p = t.policy(&format!(
        "version: 1\ndefaults:\n  timezone: UTC\npolicies:\n  - name: days\n    root: {}\n    layouts: ['%Y-%m-%d/*']\n    keep: 1d\n    on_unmatched: warn\n  - name: logs\n    root: {}\n    layouts: ['logs/%Y%m%d-*.log']\n    keep: 30d\n    on_unmatched: warn\n",
        real.display(),
        t.dir.path().join("alias").display()
    ));
    Sweep::new().arg("check").arg("-c").arg(&p).code(0).stdout_has("are one directory");
    let done = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let files: Vec<Value> = done.json().into_iter().filter(|l| l["type"] == "file").collect();
    assert_eq!(files.len(), 2, "each file once: {}", done.stdout());
    let s = done.summary();
    let unmatched: u64 =
        s["policies"].as_array().unwrap().iter().map(|p| p["files"]["unmatched"].as_u64().unwrap()).sum();
    assert_eq!(unmatched, 0, "neither policy calls the other's file unmatched: {s}");
}

/// A user who owns a directory above a root replaces the root with a symlink to
/// someone else's files: as root, sweep does not follow it, names it and its owner, and
/// touches nothing (exit 5). The same for `archive.to`, the lock file and the metrics
/// file.
#[test]
fn a_symlink_planted_by_a_user_above_a_root_is_never_followed() {
    let test = "a_symlink_planted_by_a_user_above_a_root_is_never_followed";
    let Some(nobody) = Nobody::new(test) else { return };
    let t = open_tree();
    let team = t.dir.path().join("att/team");
    let victim = t.dir.path().join("victim");
    fs::create_dir_all(team.join("cache/2024-07-01")).unwrap();
    fs::create_dir_all(victim.join("2024-07-01")).unwrap();
    fs::write(victim.join("2024-07-01/ledger.csv"), "victim's\n").unwrap();
    std::os::unix::fs::chown(&team, Some(NOBODY), Some(NOBODY)).unwrap();
    let p = t.policy(&format!(
        "version: 1\npolicies:\n  - name: cache\n    root: {}/cache\n    timezone: UTC\n    layouts: ['%Y-%m-%d/*']\n    keep: 1d\n",
        team.display()
    ));
    // The attacker swaps the root for a symlink to the victim's tree.
    nobody.run("mv \"$1/cache\" \"$1/old\" && ln -s \"$2\" \"$1/cache\"", &[&team, &victim]);
    for sub in ["plan", "apply"] {
        let done = t.sweep(sub, &p, NOW).args(["--format", "json"]).output();
        assert_eq!(done.out.status.code(), Some(5), "{sub}: {}", done.stderr());
        let why = done.stderr();
        assert!(why.contains(&format!("refusing to follow the symlink {}/cache", team.display())), "{why}");
        assert!(why.contains("user nobody (uid 65534)") || why.contains("(uid 65534)"), "{why}");
    }
    assert!(victim.join("2024-07-01/ledger.csv").exists(), "the victim's file is untouched");

    // archive.to, the lock file and the metrics file, through a directory nobody owns.
    let safe_root = t.dir.path().join("hot");
    fs::create_dir_all(safe_root.join("2024-07-01")).unwrap();
    fs::write(safe_root.join("2024-07-01/a.csv"), "a").unwrap();
    nobody.run("ln -s \"$2\" \"$1/archive\" && ln -s \"$2\" \"$1/run\"", &[&team, &victim]);
    let p = t.policy(&format!(
        "version: 1\npolicies:\n  - name: hot\n    root: {}\n    timezone: UTC\n    layouts: ['%Y-%m-%d/*']\n    keep: 30d\n    archive: {{after: 2d, to: {}/archive}}\n",
        safe_root.display(),
        team.display()
    ));
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).output();
    assert_eq!(done.out.status.code(), Some(5), "{}", done.stderr());
    assert!(done.stdout().contains("refusing to follow the symlink"), "{}", done.stdout());
    assert!(safe_root.join("2024-07-01/a.csv").exists() && !victim.join("2024-07-01/a.csv").exists());
    let lock = team.join("run/sweep.lock");
    let done = Sweep::new().args(["apply", "--now", NOW, "-c"]).arg(&p).arg("--lock-file").arg(&lock).output();
    assert_eq!(done.out.status.code(), Some(5), "{}", done.stderr());
    assert!(done.stderr().contains("refusing the lock file") && done.stderr().contains("refusing to follow"));
    assert!(!victim.join("sweep.lock").exists());
    let m = team.join("run/sweep.prom");
    let done = t.sweep("plan", &p, NOW).arg("--metrics-file").arg(&m).output();
    assert_eq!(done.out.status.code(), Some(5), "{}", done.stderr());
    assert!(done.stderr().contains("cannot write metrics"), "{}", done.stderr());
    assert!(!victim.join("sweep.prom").exists(), "nothing written through the symlink");
}
