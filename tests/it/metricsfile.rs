//! The metrics file as hostile ground: never written or read through a symlink, FIFO or
//! device planted where it goes; a previous file another user wrote is not trusted.
//!
//! Attacks on sweep running as root, each made for real (see tests/it/support/attack.rs):
//! the attacker is `nobody` (util-linux `setpriv`), kernel protections that would hide a
//! bug in sweep are turned off for the test and restored, mounts are made only in a
//! private mount namespace, and races are bounded in time.

use std::fs::{self};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

use crate::lockfile::SECRET;
use crate::support::attack::*;

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

/// A user who can write the metrics directory plants `sweep.prom` with a last run in
/// 2100: as root, the file is not sweep's, so its times are ignored with a warning —
/// the clock guard does not refuse every policy, and the forged success is not kept.
#[test]
fn a_previous_metrics_file_another_user_wrote_is_not_trusted() {
    let test = "a_previous_metrics_file_another_user_wrote_is_not_trusted";
    let Some(nobody) = Nobody::new(test) else { return };
    let (t, p, dir) = metrics_scene();
    let m = dir.join("sweep.prom");
    nobody.run(
        "printf 'sweep_last_run_start_timestamp_seconds 4102444800\\nsweep_last_success_timestamp_seconds 4102444800\\n' > \"$1\"",
        &[&m],
    );
    // The system clock (no --now): the clock guard reads the previous run's start.
    let mut s = Sweep::new();
    s.args(["apply", "-c"])
        .arg(&p)
        .arg("--lock-file")
        .arg(t.dir.path().join("sweep.lock"))
        .arg("--metrics-file")
        .arg(&m);
    let done = bounded(s.command(), "apply with a forged metrics file");
    assert_eq!(done.out.status.code(), Some(0), "{}", done.stderr());
    assert!(done.stderr().contains("ignoring the previous metrics file"), "{}", done.stderr());
    let prom = fs::read_to_string(&m).unwrap();
    assert!(!prom.contains("4102444800"), "the forged times are gone: {prom}");
}
