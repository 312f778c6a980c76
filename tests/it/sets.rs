//! Policy sets that cannot contradict themselves: nested and shared roots, `on_unmatched:
//! refuse`, directory excludes, completion markers, the `max_delete` span and the
//! `--max-delete` override — on real trees, with the filesystem checked afterwards.

use serde_json::Value;

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

/// Lines of one JSON type.
fn of_type(done: &Done, kind: &str) -> Vec<Value> {
    done.json().into_iter().filter(|l| l["type"] == kind).collect()
}

/// The summary of policy `name`.
fn policy(done: &Done, name: &str) -> Value {
    let s = done.summary();
    s["policies"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("no {name}")).clone()
}

/// An outer scratch policy over the whole tree and an inner long-lived one, the
/// incident's configuration: the outer must never take the inner's files.
fn nested(t: &Tree) -> std::path::PathBuf {
    t.policy(
        "version: 1\npolicies:\n  - name: scratch\n    root: {root}\n    timezone: UTC\n    date_from: mtime\n    layouts: ['**']\n    keep: 7d\n    skip_open: false\n  - name: ticker-long\n    root: {root}/ticker\n    timezone: UTC\n    layouts: ['%Y-%m-%d/**']\n    keep: 1000d\n",
    )
}

#[test]
fn an_outer_policy_never_enters_an_inner_root_and_reports_it() {
    let t = Tree::new();
    t.files(&["ticker/2024-07-01/a.csv", "ticker/2024-07-02/b.csv", "tmp/old.bin", "tmp/new.bin"]);
    let old = 1_700_000_000; // 2023-11
    t.mtime("ticker/2024-07-01/a.csv", old).mtime("ticker/2024-07-02/b.csv", old).mtime("tmp/old.bin", old);
    t.mtime("tmp/new.bin", 1_720_700_000); // 2024-07-11: inside keep 7d
    let p = nested(&t);
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let lines = of_type(&plan, "nested");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["policy"], "scratch");
    assert_eq!(lines[0]["owner"], "ticker-long");
    assert_eq!(lines[0]["path"], t.path("ticker").to_str().unwrap());
    assert_eq!(policy(&plan, "scratch")["nested"], 1);
    assert_eq!(policy(&plan, "scratch")["files"]["delete"], 1, "only tmp/old.bin is scratch's to delete");
    assert_eq!(policy(&plan, "ticker-long")["files"]["keep"], 2);

    let text = t.sweep("apply", &p, NOW).code(0);
    text.stdout_has(&format!("nested {} (policy ticker-long)", t.path("ticker").display()));
    assert_eq!(t.listing(), vec!["ticker/2024-07-01/a.csv", "ticker/2024-07-02/b.csv", "tmp/new.bin"]);
}

#[test]
fn selecting_only_the_outer_policy_still_leaves_the_inner_root_alone() {
    let t = Tree::new();
    t.files(&["ticker/2024-07-01/a.csv", "tmp/old.bin"]);
    t.mtime("ticker/2024-07-01/a.csv", 1_700_000_000).mtime("tmp/old.bin", 1_700_000_000);
    let p = nested(&t);
    let done = t.sweep("apply", &p, NOW).args(["--policy", "scratch", "--format", "json"]).code(0);
    assert_eq!(of_type(&done, "nested").len(), 1);
    assert_eq!(done.summary()["policies"].as_array().unwrap().len(), 1);
    assert!(t.exists("ticker/2024-07-01/a.csv"), "the inner policy's file stays");
    assert!(t.exists("ticker"), "the inner root is never removed as an emptied directory");
    assert!(!t.exists("tmp/old.bin"));
    // explain and check decide by the same rule.
    let e = Sweep::new()
        .args(["explain", "--format", "json", "--now", NOW, "--policy", "scratch", "-c"])
        .arg(&p)
        .arg(t.path("ticker/2024-07-01/a.csv"))
        .code(0);
    let d = &e.json()[0]["decisions"][0];
    assert_eq!(d["policy"], "ticker-long");
    assert_eq!(d["selected"], false);
    assert_eq!(d["action"], "keep");
}

#[test]
fn check_notes_nested_and_shared_roots() {
    let t = Tree::new();
    let p = t.policy(
        "version: 1\npolicies:\n  - name: outer\n    root: {root}\n    timezone: UTC\n    layouts: ['%Y-%m-%d/**']\n    keep: 7d\n  - name: inner\n    root: {root}/inner\n    timezone: UTC\n    layouts: ['%Y-%m-%d/**']\n    keep: 30d\n  - name: also-inner\n    root: {root}/inner\n    timezone: UTC\n    layouts: ['x_%Y%m%d.csv']\n    keep: 30d\n",
    );
    let done = Sweep::new().arg("check").arg("-c").arg(&p).code(0);
    done.stdout_has("note: policies inner, also-inner share root")
        .stdout_has("note: root ")
        .stdout_has("(policy inner) is inside root")
        .stdout_has("(policy outer)");
    let json = Sweep::new().args(["check", "--format", "json", "-c"]).arg(&p).code(0);
    let notes: Vec<Value> = json.json().into_iter().filter(|l| l["type"] == "note").collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
}

/// Two policies on one root, each owning the files its layouts match.
fn shared(t: &Tree) -> std::path::PathBuf {
    t.policy(
        "version: 1\ndefaults:\n  timezone: UTC\n  on_unmatched: warn\npolicies:\n  - name: alpha\n    root: {root}\n    layouts: ['a_%Y%m%d.csv']\n    keep: 1d\n  - name: beta\n    root: {root}\n    layouts: ['b_%Y%m%d.csv']\n    keep: 30d\n",
    )
}

#[test]
fn a_shared_root_is_walked_once_and_each_file_counted_by_its_owner() {
    let t = Tree::new();
    t.files(&["a_20240701.csv", "a_20240712.csv", "b_20240701.csv", "b_20240501.csv", "c_20240701.csv"]);
    let p = shared(&t);
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let alpha = policy(&plan, "alpha");
    let beta = policy(&plan, "beta");
    // alpha: a_0701 delete, a_0712 keep, c_ (no one's layout: the first policy's) unmatched.
    assert_eq!(alpha["files"]["delete"], 1);
    assert_eq!(alpha["files"]["keep"], 1);
    assert_eq!(alpha["files"]["unmatched"], 1);
    // beta: b_0701 keep (30 days), b_0501 delete; never alpha's files as unmatched.
    assert_eq!(beta["files"]["delete"], 1);
    assert_eq!(beta["files"]["keep"], 1);
    assert_eq!(beta["files"]["unmatched"], 0);
    let files = of_type(&plan, "file");
    assert_eq!(files.len(), 5, "each file reported once");
    for f in &files {
        let name = f["path"].as_str().unwrap().rsplit('/').next().unwrap();
        let owner = if name.starts_with("b_") { "beta" } else { "alpha" };
        assert_eq!(f["policy"], owner, "{f}");
    }
    t.sweep("apply", &p, NOW).code(0);
    assert_eq!(t.listing(), vec!["a_20240712.csv", "b_20240701.csv", "c_20240701.csv"]);
}

#[test]
fn files_of_an_unselected_policy_at_a_shared_root_are_foreign_and_left_alone() {
    let t = Tree::new();
    t.files(&["a_20240701.csv", "b_20240501.csv", "b_20240502.csv"]);
    let p = shared(&t);
    let done = t.sweep("apply", &p, NOW).args(["--policy", "alpha", "--format", "json"]).code(0);
    let alpha = policy(&done, "alpha");
    assert_eq!(alpha["foreign"], 2);
    assert_eq!(alpha["files"]["unmatched"], 0, "beta's files are not alpha's unmatched");
    assert_eq!(alpha["deleted"], 1);
    assert_eq!(t.listing(), vec!["b_20240501.csv", "b_20240502.csv"]);
    // With both selected, nothing is foreign.
    let done = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(policy(&done, "alpha")["foreign"], 0);
}

#[test]
fn on_unmatched_refuse_deletes_nothing_of_the_policy() {
    // An upload nobody explained: nothing may be deleted while it is there.
    let t = Tree::new();
    t.files(&["dt=2024-07-01/part-0.parquet", "dt=2024-07-12/part-0.parquet", "staging/upload-3f2a.tmp"]);
    let p = t.policy(&one_policy(&["dt=%Y-%m-%d/*"], "1d", "on_unmatched: refuse"));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(6);
    let s = &plan.summary()["policies"][0];
    assert_eq!(s["refused"]["guard"], "on_unmatched");
    assert_eq!(s["dirs_removed"], 0, "plan predicts no directory removal for a refused policy");
    assert!(of_type(&plan, "dir").is_empty());
    let apply = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(6);
    let line = of_type(&apply, "file").into_iter().find(|l| l["action"] == "delete").unwrap();
    assert_eq!(line["outcome"], "refused");
    assert_eq!(t.listing().len(), 3, "nothing deleted");
    // Text says so without claiming directories would go.
    let text = t.sweep("plan", &p, NOW).code(6);
    text.stdout_has("REFUSED by on_unmatched").stdout_has("0 directories would be removed");
}

#[test]
fn a_directory_exclude_protects_everything_below_it() {
    let t = Tree::new();
    t.files(&[
        "2024-07-01/part-0.csv",
        "2024-07-01/_temporary/0/task/part-1.csv",
        "2024-07-01/_temporary/x.crc",
        "2024-07-02/part-0.csv",
    ]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "exclude: ['**/_temporary']"));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(
        plan.actions(&t.root),
        pairs(&[
            ("2024-07-01/_temporary/0/task/part-1.csv", "protect"),
            ("2024-07-01/_temporary/x.crc", "protect"),
            ("2024-07-01/part-0.csv", "delete"),
            ("2024-07-02/part-0.csv", "delete"),
        ])
    );
    let reason = of_type(&plan, "file").into_iter().find(|l| l["action"] == "protect").unwrap()["reason"].clone();
    assert_eq!(reason, "excluded by `**/_temporary`");
    t.sweep("apply", &p, NOW).code(0);
    assert_eq!(t.listing(), vec!["2024-07-01/_temporary/0/task/part-1.csv", "2024-07-01/_temporary/x.crc"]);
}

#[test]
fn markers_are_deleted_before_the_rest_of_their_directory() {
    let t = Tree::new();
    let mut files = vec!["2024-07-01/_SUCCESS".to_string(), "2024-07-01/sub/part-9.csv".to_string()];
    files.extend((0..50).map(|i| format!("2024-07-01/part-{i:02}.csv")));
    files.push("2024-07-12/_SUCCESS".into());
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    t.files(&refs);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "markers: ['_SUCCESS', '*.done']"));
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    let order: Vec<String> = of_type(&done, "file")
        .iter()
        .filter(|l| l["outcome"] == "deleted")
        .map(|l| l["path"].as_str().unwrap().to_string())
        .filter(|p| p.contains("/2024-07-01/") && !p.contains("/sub/"))
        .collect();
    assert_eq!(order.len(), 51);
    assert!(order[0].ends_with("/2024-07-01/_SUCCESS"), "the marker goes first: {:?}", &order[..3]);
    assert_eq!(t.listing(), vec!["2024-07-12/_SUCCESS"], "the whole expired partition went, marker included");
}

#[test]
fn a_marker_that_cannot_be_deleted_keeps_its_directory_whole() {
    let t = Tree::new();
    t.files(&["2024-07-01/_SUCCESS", "2024-07-01/part-0.csv", "2024-07-01/part-1.csv", "2024-07-01/sub/part-2.csv"]);
    let _guard = Immutable::set(t.path("2024-07-01/_SUCCESS"));
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "markers: ['_SUCCESS']"));
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(5);
    let failed: Vec<Value> = of_type(&done, "file").into_iter().filter(|l| l["outcome"] == "failed").collect();
    assert_eq!(failed.len(), 3, "the marker and the two files beside it: {failed:?}");
    for f in failed.iter().filter(|f| !f["path"].as_str().unwrap().ends_with("_SUCCESS")) {
        assert!(f["error"].as_str().unwrap().contains("_SUCCESS could not be deleted"), "{f}");
    }
    assert_eq!(
        t.listing(),
        vec!["2024-07-01/_SUCCESS", "2024-07-01/part-0.csv", "2024-07-01/part-1.csv"],
        "a sub-directory is not affected"
    );
}

#[test]
fn the_span_guard_allows_a_steady_night_and_refuses_a_jump() {
    let t = Tree::new();
    t.files(&["2024-07-11/a.csv", "2024-07-11/b.csv", "2024-07-12/a.csv"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "max_delete: 2d"));
    // A year later every partition is expired: refused, nothing deleted.
    let jump = t.sweep("apply", &p, "2025-07-12T12:00:00Z").args(["--format", "json"]).code(6);
    let refused = &jump.summary()["policies"][0]["refused"];
    assert_eq!(refused["guard"], "max_delete");
    assert!(refused["reason"].as_str().unwrap().contains("before 2025-07-10T00:00:00+00:00"), "{refused}");
    assert_eq!(t.listing().len(), 3);
    // A typo (keep: 3d for 30d) against a month-old tree: refused as well.
    t.file("2024-06-10/old.csv");
    t.sweep("plan", &p, NOW).code(6);
    std::fs::remove_dir_all(t.path("2024-06-10")).unwrap();
    // The steady night: yesterday goes.
    t.sweep("apply", &p, NOW).code(0);
    assert_eq!(t.listing(), vec!["2024-07-12/a.csv"]);
}

#[test]
fn max_delete_on_the_command_line_overrides_the_policies() {
    let t = Tree::new();
    t.files(&["2024-07-01/a.csv", "2024-07-02/a.csv", "2024-07-12/a.csv"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "max_delete: 1d"));
    t.sweep("plan", &p, NOW).code(6);
    // Tighter: refused too.
    t.sweep("plan", &p, NOW).args(["--max-delete", "1"]).code(6);
    // The on-call override after an outage.
    t.sweep("apply", &p, NOW).args(["--max-delete", "100%"]).code(0);
    assert_eq!(t.listing(), vec!["2024-07-12/a.csv"]);
    Sweep::new().args(["plan", "--max-delete", "7days", "-c"]).arg(&p).code(2).stderr_has("--max-delete");
}
