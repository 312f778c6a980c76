//! Dates and clocks gone wrong: an epoch that reads as 1970, a system clock behind the
//! last run, a span guard at the end of time.
//!
//! Attacks on sweep running as root, each made for real (see tests/it/support/attack.rs):
//! the attacker is `nobody` (util-linux `setpriv`), kernel protections that would hide a
//! bug in sweep are turned off for the test and restored, mounts are made only in a
//! private mount namespace, and races are bounded in time.

use std::fs::{self};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::*;

use crate::support::attack::*;

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
    assert_eq!(done.summary()["policies"][0]["refused"]["code"], "max_delete_span");
    assert_eq!(t.listing(), vec!["2024-07-01/a", "2024-07-02/a"]);
}
