//! Faults, each on a real tree: unreadable directories, undeletable files, files that
//! vanish, huge directories, empty roots, read-only filesystems, mount points, signals.
//! Tests that need root privileges probe for them and fail loudly when missing: this
//! suite runs as root on its CI machines, and a skipped safety test proves nothing.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

#[test]
fn unreadable_directory_is_an_error_with_the_os_message() {
    let t = Tree::new();
    t.files(&["2024-07-01/ok.csv", "2024-07-01/locked/secret.csv", "2024-07-02/ok.csv"]);
    std::fs::set_permissions(t.path("2024-07-01/locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let done = without_dac(t.sweep("apply", &p, NOW).args(["--format", "json"])).code(5);
    std::fs::set_permissions(t.path("2024-07-01/locked"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = done.json().into_iter().find(|l| l["action"] == "error").expect("an error line");
    assert!(err["path"].as_str().unwrap().ends_with("2024-07-01/locked"), "{err}");
    assert_eq!(err["reason"], "Permission denied");
    assert_eq!(done.summary()["policies"][0]["files"]["error"], 1);
    assert_eq!(t.listing(), vec!["2024-07-01/locked/secret.csv"], "everything else deleted; the parent stays");
}

#[test]
fn a_file_that_cannot_be_stat_ed_is_an_error() {
    let t = Tree::new();
    t.files(&["2024-07-01/noexec/a.csv"]);
    // Readable but not searchable: names can be listed, not examined.
    std::fs::set_permissions(t.path("2024-07-01/noexec"), std::fs::Permissions::from_mode(0o444)).unwrap();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let done = without_dac(t.sweep("plan", &p, NOW).args(["--format", "json"])).code(5);
    std::fs::set_permissions(t.path("2024-07-01/noexec"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = done.summary();
    assert_eq!(s["policies"][0]["files"]["error"], 1, "{s}");
}

#[test]
fn an_undeletable_file_fails_with_exit_5_and_the_rest_is_deleted() {
    let t = Tree::new();
    t.files(&["2024-07-01/a.csv", "2024-07-01/stuck.csv", "2024-07-02/b.csv"]);
    let stuck = Immutable::set(t.path("2024-07-01/stuck.csv"));
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).output();
    drop(stuck);
    assert_eq!(done.out.status.code(), Some(5), "{}", done.stderr());
    let line = done.json().into_iter().find(|l| l["path"].as_str().is_some_and(|p| p.ends_with("stuck.csv"))).unwrap();
    assert_eq!(line["outcome"], "failed");
    assert_eq!(line["error"], "Operation not permitted");
    assert_eq!(done.summary()["policies"][0]["failed"], 1);
    assert_eq!(t.listing(), vec!["2024-07-01/stuck.csv"]);
}

#[test]
fn files_vanishing_mid_run_are_not_errors() {
    // Another cleaner removes the same partitions while sweep deletes them: whatever it
    // gets to first is `vanished`, never `failed`, and the run stays clean. sweep is paced
    // (3 partitions of 1,000 files, one thread, 1,000 files a second: 3 s) and the rival
    // starts once the first partition has lost a file, seen on the disk, not guessed from
    // how long starting takes; it needs milliseconds, so it beats sweep to most files.
    let t = Tree::new();
    for d in 1..=3 {
        for i in 0..1_000 {
            t.file(&format!("2024-07-0{d}/f{i:04}"));
        }
    }
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let child = t
        .sweep("apply", &p, NOW)
        .args(["--format", "json", "--max-rate", "1000/s", "--jobs", "1"])
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = t.path("2024-07-01");
    let started = std::time::Instant::now();
    while std::fs::read_dir(&first).map_or(0, |d| d.count()) == 1_000 {
        assert!(started.elapsed() < Duration::from_secs(60), "sweep deleted nothing in 60 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    let days = ["2024-07-01", "2024-07-02", "2024-07-03"].map(|d| t.path(d));
    assert!(Command::new("rm").arg("-rf").args(days).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let s: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(out.status.code(), Some(0), "{s}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(s["policies"][0]["failed"], 0, "{s}");
    assert_eq!(s["policies"][0]["files"]["error"], 0, "{s}");
    assert!(s["policies"][0]["vanished"].as_u64().unwrap() > 0, "the rival beat sweep to files: {s}");
    assert!(t.listing().is_empty(), "{:?}", t.listing());
}

#[test]
fn a_directory_with_200_000_entries() {
    let t = Tree::new();
    let dir = t.path("2024-07-01");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..200_000 {
        std::fs::File::create(dir.join(format!("{i:06}"))).unwrap();
    }
    t.file("2024-07-12/keep");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(plan.summary()["policies"][0]["files"]["delete"], 200_000);
    let done = t.sweep("apply", &p, NOW).code(0);
    done.stdout_has("deleted 200,000 files");
    assert!(!dir.exists());
    assert_eq!(t.listing(), vec!["2024-07-12/keep"]);
}

#[test]
fn an_empty_root_is_clean() {
    let t = Tree::new();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    let s = done.summary();
    assert_eq!(
        s["policies"][0]["files"],
        serde_json::json!({"delete":0,"keep":0,"protect":0,"unmatched":0,"error":0,"compress":0,"move":0})
    );
    assert!(t.root.is_dir());
}

/// A tmpfs mounted at `path` (unmounted on drop).
struct Mount(std::path::PathBuf);

impl Mount {
    #[track_caller]
    fn tmpfs(path: &std::path::Path) -> Mount {
        std::fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount").args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"]).arg(path).status().unwrap();
        assert!(ok.success(), "mounting a tmpfs must work as root on this machine kind");
        Mount(path.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_read_only_filesystem_is_reported_once_per_policy() {
    let t = Tree::new();
    let m = Mount::tmpfs(&t.root);
    for i in 0..50 {
        t.file(&format!("2024-07-01/f{i:02}"));
    }
    let ok = Command::new("mount").args(["-o", "remount,ro"]).arg(&m.0).status().unwrap();
    assert!(ok.success(), "remount read-only");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(5);
    let s = done.summary();
    assert_eq!(s["policies"][0]["failed"], 50);
    let problems = s["policies"][0]["problems"].as_array().unwrap();
    assert_eq!(problems.iter().filter(|p| p.as_str().unwrap().contains("read-only")).count(), 1, "{s}");
    assert_eq!(s["policies"][0]["problem_codes"], serde_json::json!(["read_only"]), "{s}");
    assert_eq!(done.stderr().matches("read-only").count(), 1, "once on stderr:\n{}", done.stderr());
    assert_eq!(t.listing().len(), 50);
}

#[test]
fn mount_points_are_reported_not_entered() {
    let t = Tree::new();
    t.file("2024-07-01/a");
    let _m = Mount::tmpfs(&t.path("2024-07-02"));
    t.file("2024-07-02/on-another-fs");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    let mount = done.json().into_iter().find(|l| l["type"] == "mount").expect("mount reported");
    assert!(mount["path"].as_str().unwrap().ends_with("2024-07-02"));
    assert_eq!(done.summary()["policies"][0]["mounts_skipped"], 1);
    assert!(t.exists("2024-07-02/on-another-fs"));
    assert!(!t.exists("2024-07-01"));
    let text = t.sweep("plan", &p, NOW).code(0);
    text.stdout_has("a mount point; not entered (one_file_system)");
    // Told to cross, it does.
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "one_file_system: false"));
    t.sweep("apply", &p, NOW).code(0);
    assert!(!t.exists("2024-07-02/on-another-fs"));
}

#[test]
fn sigterm_mid_apply_stops_at_the_next_file_with_a_summary() {
    for (sig, code) in [(rustix::process::Signal::TERM, 143), (rustix::process::Signal::INT, 130)] {
        let t = Tree::new();
        for d in 1..=3 {
            for i in 0..10_000 {
                t.file(&format!("2024-07-0{d}/f{i:05}"));
            }
        }
        let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
        let mut child = Command::new(BIN)
            .args(["apply", "--format", "json", "--now", NOW, "-c"])
            .arg(&p)
            .arg("--lock-file")
            .arg(t.dir.path().join("lock"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        assert!(first.contains("\"outcome\":\"deleted\""), "{first}");
        rustix::process::kill_process(rustix::process::Pid::from_child(&child), sig).unwrap();
        let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code));
        let summary: serde_json::Value = serde_json::from_str(rest.last().unwrap()).unwrap();
        assert_eq!(summary["type"], "summary");
        assert_eq!(summary["exit_code"], code);
        let deleted = summary["policies"][0]["deleted"].as_u64().unwrap();
        assert!(deleted > 0 && deleted < 30_000, "stopped part-way: {deleted}");
        assert_eq!(t.listing().len() as u64, 30_000 - deleted, "the summary says exactly what was deleted");
        std::thread::sleep(Duration::from_millis(10));
    }
}
