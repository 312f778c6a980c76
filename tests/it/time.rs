//! Time zones, month partitions, leap days.

use crate::support::*;

#[test]
fn utc_and_new_york_disagree_on_the_date() {
    // 2024-07-12T02:00Z is still 2024-07-11 (22:00) in New York.
    let t = Tree::new();
    t.files(&["2024-07-10/a", "2024-07-11/a", "2024-07-12/a"]);
    let ny = t.policy_named("ny.yaml", &one_policy(&["%Y-%m-%d/**"], "1d", "timezone: America/New_York"));
    let utc = t.policy_named("utc.yaml", &one_policy(&["%Y-%m-%d/**"], "1d", "timezone: UTC"));
    let now = "2024-07-12T02:00:00Z";
    let a = t.sweep("plan", &ny, now).args(["--format", "json"]).code(0);
    assert_eq!(a.summary()["policies"][0]["cutoff"], "2024-07-11T00:00:00-04:00");
    assert_eq!(a.summary()["policies"][0]["files"]["delete"], 1);
    let b = t.sweep("plan", &utc, now).args(["--format", "json"]).code(0);
    assert_eq!(b.summary()["policies"][0]["cutoff"], "2024-07-12T00:00:00+00:00");
    assert_eq!(b.summary()["policies"][0]["files"]["delete"], 2);
    // A naive --now is read in each policy's zone.
    let c = t.sweep("plan", &ny, "2024-07-12T02:00:00").args(["--format", "json"]).code(0);
    assert_eq!(c.summary()["policies"][0]["cutoff"], "2024-07-12T00:00:00-04:00");
    t.sweep("apply", &ny, now).code(0);
    assert_eq!(t.listing(), vec!["2024-07-11/a", "2024-07-12/a"]);
}

#[test]
fn month_partitions_are_not_deleted_mid_month() {
    let t = Tree::new();
    t.files(&["2024/06/a.gz", "2024/07/a.gz"]);
    let p = t.policy(&one_policy(&["%Y/%m/**"], "1d", ""));
    t.sweep("apply", &p, "2024-07-20T12:00:00Z").code(0);
    assert_eq!(t.listing(), vec!["2024/07/a.gz"], "June has ended; July has not");
    t.sweep("apply", &p, "2024-07-31T23:59:59Z").code(0);
    assert!(t.exists("2024/07/a.gz"), "not even on the last day");
    t.sweep("apply", &p, "2024-08-01T00:00:00Z").code(0);
    assert!(t.listing().is_empty());
}

#[test]
fn leap_days() {
    let t = Tree::new();
    t.files(&["2024-02-28/a", "2024-02-29/a", "2024-03-01/a", "2023-02-29/a"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "2d", ""));
    let plan = t.sweep("plan", &p, "2024-03-01T06:00:00Z").args(["--format", "json"]).code(7);
    assert_eq!(
        plan.actions(&t.root),
        pairs(&[
            ("2023-02-29/a", "unmatched"),
            ("2024-02-28/a", "delete"),
            ("2024-02-29/a", "keep"),
            ("2024-03-01/a", "keep")
        ])
    );
    let bad = plan.json().into_iter().find(|l| l["action"] == "unmatched").unwrap();
    assert!(bad["reason"].as_str().unwrap().contains("impossible date: 2023-02-29"), "{bad}");
}

#[test]
fn hours_across_midnight_and_day_of_year() {
    let t = Tree::new();
    t.files(&["2024/193/a", "2024/194/a"]); // day 193 of 2024 = 2024-07-11
    let p = t.policy(&one_policy(&["%Y/%j/**"], "1d", ""));
    let plan = t.sweep("plan", &p, "2024-07-12T06:00:00Z").args(["--format", "json"]).code(0);
    assert_eq!(plan.actions(&t.root), pairs(&[("2024/193/a", "delete"), ("2024/194/a", "keep")]));
}
