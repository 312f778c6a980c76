//! Low descriptor limits slow the walk, never shorten it.
//!
//! Attacks on sweep running as root, each made for real (see tests/it/support/attack.rs):
//! the attacker is `nobody` (util-linux `setpriv`), kernel protections that would hide a
//! bug in sweep are turned off for the test and restored, mounts are made only in a
//! private mount namespace, and races are bounded in time.

use crate::support::*;

use crate::support::attack::*;

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
