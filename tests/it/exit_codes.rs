//! Every exit code of the contract, produced by a real situation, with the filesystem
//! checked afterwards.

use std::fs::OpenOptions;

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

#[test]
fn clean_run_exits_0() {
    let t = Tree::new();
    t.files(&["2024-07-11/a", "2024-07-12/a"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    t.sweep("apply", &p, NOW).code(0).stdout_has("exit 0: clean");
}

#[test]
fn usage_errors_exit_2() {
    let t = Tree::new();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    Sweep::new().args(["plan", "--no-such-flag"]).code(2);
    Sweep::new().arg("plan").code(2);
    t.sweep("plan", &p, "yesterday").code(2).stderr_has("--now");
    t.sweep("plan", &p, NOW).args(["--policy", "nope"]).code(2).stderr_has("no such policy");
    Sweep::new().args(["completions", "tcsh"]).code(2);
}

#[test]
fn invalid_policy_exits_3_and_touches_nothing() {
    let t = Tree::new();
    t.file("2024-07-01/a");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "0d", ""));
    t.sweep("apply", &p, NOW).code(3);
    Sweep::new().arg("check").arg("-c").arg(&p).code(3);
    assert!(t.exists("2024-07-01/a"));
}

#[test]
fn held_lock_exits_4_at_once() {
    let t = Tree::new();
    t.file("2024-07-01/a");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let lock = t.dir.path().join("sweep.lock");
    let f = OpenOptions::new().create(true).truncate(false).write(true).open(&lock).unwrap();
    f.try_lock().unwrap();
    t.sweep("apply", &p, NOW).code(4).stderr_has("holds the lock");
    assert!(t.exists("2024-07-01/a"), "nothing touched while the lock is held");
    // The same lock flock(1) takes.
    let status = std::process::Command::new("flock").args(["-n"]).arg(&lock).arg("true").status().unwrap();
    assert!(!status.success(), "flock(1) sees sweep's lock file as held");
    drop(f);
    t.sweep("apply", &p, NOW).code(0);
    assert!(!t.exists("2024-07-01/a"));
}

#[test]
fn missing_root_exits_5_while_other_policies_run() {
    let t = Tree::new();
    t.file("2024-07-01/a");
    let p = t.policy(
        "version: 1\npolicies:\n  - name: gone\n    root: {dir}/nope\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n  - name: here\n    root: {root}\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n",
    );
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(5);
    let s = done.summary();
    assert_eq!(s["policies"][0]["files"]["error"], 1);
    assert_eq!(s["policies"][1]["deleted"], 1);
    assert!(!t.exists("2024-07-01/a"));
    done.stderr_has("root does not exist");
}

#[test]
fn max_delete_refuses_with_6_and_deletes_nothing_of_that_policy() {
    let t = Tree::new();
    t.files(&["2024-07-01/a", "2024-07-02/a", "2024-07-03/a", "2024-07-12/a"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "max_delete: 50%"));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(6);
    let refused = &plan.summary()["policies"][0]["refused"];
    assert_eq!(refused["guard"], "max_delete");
    assert!(refused["reason"].as_str().unwrap().contains("would delete 3 of 4 files"), "{refused}");
    let apply = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(6);
    assert!(apply.json().iter().filter(|l| l["action"] == "delete").all(|l| l["outcome"] == "refused"));
    assert_eq!(t.listing().len(), 4);
}

#[test]
fn dangerous_root_is_refused() {
    let t = Tree::new();
    let p = t.policy("version: 1\npolicies:\n  - name: oops\n    root: /usr\n    layouts: ['%Y/**']\n    keep: 1d\n");
    t.sweep("plan", &p, NOW).code(6).stderr_has("system directory");
    Sweep::new().arg("check").arg("-c").arg(&p).code(3).stdout_has("system directory");
    // A root that resolves to one through a symlink is refused too.
    std::os::unix::fs::symlink("/etc", t.dir.path().join("etc-link")).unwrap();
    let p = t.policy(
        "version: 1\npolicies:\n  - name: oops\n    root: {dir}/etc-link\n    layouts: ['%Y/**']\n    keep: 1d\n",
    );
    t.sweep("apply", &p, NOW).code(6).stderr_has("resolves to /etc");
}

#[test]
fn unmatched_exits_7_unless_warned() {
    let t = Tree::new();
    t.files(&["2024-07-01/a", "staging/x"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    t.sweep("apply", &p, NOW).code(7);
    assert_eq!(t.listing(), vec!["staging/x"], "matched files are still deleted");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "on_unmatched: warn"));
    t.sweep("apply", &p, NOW).code(0).stderr_has("match no layout");
}

#[test]
fn disk_fuller_than_the_threshold_exits_8() {
    let t = Tree::new();
    t.file("2024-07-12/a");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "disk_fail_above: 0.0001%"));
    let done = t.sweep("apply", &p, NOW).code(8);
    done.stderr_has("above disk_fail_above").stderr_has("more must go");
}

#[test]
fn lowest_code_wins() {
    let t = Tree::new();
    t.files(&["2024-07-01/a", "staging/x"]);
    let p = t.policy(
        "version: 1\npolicies:\n  - name: gone\n    root: {dir}/nope\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n  - name: here\n    root: {root}\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n",
    );
    // 5 (missing root) and 7 (unmatched) → 5.
    let done = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(5);
    let s = done.summary();
    assert_eq!(s["exit_code"], 5);
    let codes: Vec<(String, u64)> = s["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p["exit_code"].as_u64().unwrap()))
        .collect();
    assert_eq!(codes, vec![("gone".to_string(), 5), ("here".to_string(), 7)], "each policy keeps its own code");
    // The policy after the missing root still ran in full.
    assert_eq!(s["policies"][1]["files"]["delete"], 1);
    assert_eq!(s["policies"][1]["files"]["unmatched"], 1);
    t.sweep("apply", &p, NOW).code(5);
    assert_eq!(t.listing(), vec!["staging/x"], "the second policy deleted its expired file");
}
