//! Output that cannot be written and signals mid-run: a lost stderr changes nothing, a
//! report that cannot be written is exit 1 (and the metrics say so), SIGHUP stops with a
//! summary, and a name cannot rewrite the terminal.
//!
//! Attacks on sweep running as root, each made for real (see tests/it/support/attack.rs):
//! the attacker is `nobody` (util-linux `setpriv`), kernel protections that would hide a
//! bug in sweep are turned off for the test and restored, mounts are made only in a
//! private mount namespace, and races are bounded in time.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use rustix::process::{Pid, Signal, kill_process};
use serde_json::Value;

use crate::support::*;

use crate::support::attack::*;

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
