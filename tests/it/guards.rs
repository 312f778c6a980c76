//! Guards that keep files a plain age rule would delete: keep_last, min_age, exclude.

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

#[test]
fn keep_last_protects_the_newest_partitions() {
    // Upstream stalled on the 5th: every partition is expired, but the newest two stay.
    let t = Tree::new();
    t.files(&["2024-07-01/a", "2024-07-03/a", "2024-07-04/a", "2024-07-05/a", "2024-07-05/b"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "keep_last: 2"));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(
        plan.actions(&t.root),
        pairs(&[
            ("2024-07-01/a", "delete"),
            ("2024-07-03/a", "delete"),
            ("2024-07-04/a", "protect"),
            ("2024-07-05/a", "protect"),
            ("2024-07-05/b", "protect"),
        ])
    );
    let reason = plan.json().into_iter().find(|l| l["action"] == "protect").unwrap()["reason"].clone();
    assert!(reason.as_str().unwrap().contains("newest 2 partitions (keep_last)"), "{reason}");
    t.sweep("apply", &p, NOW).code(0);
    assert_eq!(t.listing(), vec!["2024-07-04/a", "2024-07-05/a", "2024-07-05/b"]);
}

#[test]
fn keep_last_counts_toward_max_delete_only_what_it_does_not_protect() {
    let t = Tree::new();
    t.files(&["2024-07-01/a", "2024-07-02/a", "2024-07-03/a", "2024-07-04/a"]);
    // Without keep_last, 4 of 4 would go (refused at 50%); with keep_last 2, 2 of 4 go.
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "keep_last: 2\nmax_delete: 50%"));
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(done.summary()["policies"][0]["deleted"], 2);
    assert_eq!(t.listing(), vec!["2024-07-03/a", "2024-07-04/a"]);
}

#[test]
fn min_age_protects_files_still_being_written() {
    let t = Tree::new();
    t.files(&["2024-07-01/old", "2024-07-01/backfill"]);
    let now = 1_720_785_600; // 2024-07-12T12:00:00Z
    t.mtime("2024-07-01/old", now - 86_400);
    t.mtime("2024-07-01/backfill", now - 600);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "min_age: 1h"));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(plan.actions(&t.root), pairs(&[("2024-07-01/backfill", "protect"), ("2024-07-01/old", "delete")]));
    let line = plan.json().into_iter().find(|l| l["action"] == "protect").unwrap();
    assert!(line["reason"].as_str().unwrap().contains("modified 10m ago, less than min_age 1h"), "{line}");
    t.sweep("apply", &p, NOW).code(0);
    assert_eq!(t.listing(), vec!["2024-07-01/backfill"], "the directory stays with its backfill");
    // 0s turns it off.
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "min_age: 0s"));
    t.sweep("apply", &p, NOW).code(0);
    assert!(t.listing().is_empty());
}

#[test]
fn exclude_protects_even_unmatched_files() {
    let t = Tree::new();
    t.files(&["2024-07-01/_SUCCESS", "2024-07-01/a", "README", "2024-07-12/_SUCCESS"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "exclude: ['**/_SUCCESS', 'README']"));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(
        plan.actions(&t.root),
        pairs(&[
            ("2024-07-01/_SUCCESS", "protect"),
            ("2024-07-01/a", "delete"),
            ("2024-07-12/_SUCCESS", "protect"),
            ("README", "protect")
        ])
    );
    t.sweep("apply", &p, NOW).code(0);
    assert_eq!(t.listing(), vec!["2024-07-01/_SUCCESS", "2024-07-12/_SUCCESS", "README"]);
}

#[test]
fn max_delete_as_a_count_and_other_policies_still_run() {
    let t = Tree::new();
    t.files(&["a/2024-07-01/x", "a/2024-07-02/x", "b/2024-07-01/x"]);
    let p = t.policy(
        "version: 1\ndefaults:\n  timezone: UTC\npolicies:\n  - name: a\n    root: {root}/a\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n    max_delete: 1\n  - name: b\n    root: {root}/b\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n",
    );
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(6);
    let s = done.summary();
    assert_eq!(s["policies"][0]["refused"]["guard"], "max_delete");
    assert_eq!(s["policies"][0]["refused"]["limit"], 1);
    assert_eq!(s["policies"][1]["deleted"], 1);
    assert_eq!(t.listing(), vec!["a/2024-07-01/x", "a/2024-07-02/x"]);
}

#[test]
fn empty_skeletons_in_expired_partitions_are_removed_and_fresh_ones_kept() {
    // An interrupted run (or an upstream that gave up) left empty directories in an
    // expired partition; today's partition has an empty directory a writer just made.
    let t = Tree::new();
    t.dir_("2024-07-01/part/a").dir_("2024-07-01/part/b").dir_("2024-07-12/incoming").dir_("staging/empty");
    t.file("2024-07-12/x");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let dirs: Vec<String> = plan
        .json()
        .into_iter()
        .filter(|l| l["type"] == "dir")
        .map(|l| l["path"].as_str().unwrap().strip_prefix(&format!("{}/", t.root.display())).unwrap().to_string())
        .collect();
    assert_eq!(dirs.len(), 4, "a, b, part and the partition: {dirs:?}");
    t.sweep("apply", &p, NOW).code(0);
    assert!(!t.exists("2024-07-01"), "the expired skeleton went");
    assert!(t.exists("2024-07-12/incoming"), "today's empty directory stays");
    assert!(t.exists("staging/empty"), "an empty directory outside any partition stays");
    // With min_age, a skeleton modified just now may be a backfill starting: it stays.
    t.dir_("2024-07-02/fresh");
    set_mtime(&t.path("2024-07-02/fresh"), 1_720_785_600 - 60);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "min_age: 1h"));
    t.sweep("apply", &p, NOW).code(0);
    assert!(t.exists("2024-07-02/fresh"));
}
