//! The run lock as hostile ground: a lock path an attacker planted a symlink, a hard link
//! or their own file at is refused with the reason and its target left untouched; a
//! lock held by `flock(1)` still means exit 4.
//!
//! Attacks on sweep running as root, each made for real (see tests/it/support/attack.rs):
//! the attacker is `nobody` (util-linux `setpriv`), kernel protections that would hide a
//! bug in sweep are turned off for the test and restored, mounts are made only in a
//! private mount namespace, and races are bounded in time.

use std::fs::{self};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rustix::process::Pid;

use crate::support::*;

use crate::support::attack::*;

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

pub const SECRET: &[u8] = b"root's file: to be neither truncated nor written\n";

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
