//! Each layout family of the cookbook (docs/guide.md), planned and applied on a real tree.

use crate::support::*;

const NOW: &str = "2024-07-12T02:00:00Z";

#[test]
fn daily_directories_at_any_depth() {
    let t = Tree::new();
    t.files(&["2024-07-10/part-1.csv", "2024-07-11/a/b/part-2.csv", "2024-07-12/part-1.csv", "2024-07-12/_SUCCESS"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let plan = t.sweep("plan", &p, NOW).arg("--format").arg("json").code(0);
    assert_eq!(
        plan.actions(&t.root),
        pairs(&[
            ("2024-07-10/part-1.csv", "delete"),
            ("2024-07-11/a/b/part-2.csv", "delete"),
            ("2024-07-12/_SUCCESS", "keep"),
            ("2024-07-12/part-1.csv", "keep"),
        ])
    );
    assert_eq!(t.listing().len(), 4, "plan deletes nothing");
    t.sweep("apply", &p, NOW).code(0);
    assert_eq!(t.listing(), vec!["2024-07-12/_SUCCESS", "2024-07-12/part-1.csv"]);
    assert!(!t.exists("2024-07-11"), "emptied directories are removed bottom-up");
    assert!(t.root.is_dir(), "the root itself stays");
}

#[test]
fn hive_hourly_partitions() {
    let t = Tree::new();
    t.files(&["dt=2024-07-11/hour=23/x.parquet", "dt=2024-07-12/hour=00/x.parquet", "dt=2024-07-12/hour=01/x.parquet"]);
    let p = t.policy(&one_policy(&["dt=%Y-%m-%d/hour=%H/*"], "2h", ""));
    // At 01:30, keep 2h keeps hours 00 and 01.
    let plan = t.sweep("plan", &p, "2024-07-12T01:30:00Z").args(["--format", "json"]).code(0);
    let dates: Vec<String> =
        plan.json().iter().filter(|l| l["type"] == "file").map(|l| l["date"].as_str().unwrap().to_string()).collect();
    assert!(dates.contains(&"2024-07-11T23".to_string()), "{dates:?}");
    t.sweep("apply", &p, "2024-07-12T01:30:00Z").code(0);
    assert_eq!(t.listing(), vec!["dt=2024-07-12/hour=00/x.parquet", "dt=2024-07-12/hour=01/x.parquet"]);
    assert!(!t.exists("dt=2024-07-11"));
}

#[test]
fn year_month_day_directories() {
    let t = Tree::new();
    t.files(&["2024/06/30/x.csv", "2024/07/11/x.csv", "2024/07/12/x.csv", "2024/07/12/notes.txt"]);
    let p = t.policy(&one_policy(&["%Y/%m/%d/*.csv"], "1d", "on_unmatched: warn"));
    t.sweep("apply", &p, NOW).code(0);
    assert_eq!(t.listing(), vec!["2024/07/12/notes.txt", "2024/07/12/x.csv"]);
    assert!(!t.exists("2024/06"), "empty month directory removed");
    assert!(t.exists("2024/07"));
}

#[test]
fn dated_file_names() {
    let t = Tree::new();
    t.files(&["ticker_20240710.csv", "ticker_20240711.csv", "ticker_20240712.csv", "other_20240701.csv"]);
    let p = t.policy(&one_policy(&["ticker_%Y%m%d.csv"], "1d", ""));
    t.sweep("apply", &p, NOW).code(7);
    assert_eq!(t.listing(), vec!["other_20240701.csv", "ticker_20240712.csv"]);
}

#[test]
fn airflow_log_folders() {
    let t = Tree::new();
    t.files(&[
        "dag_id=etl/run_id=scheduled__2024-07-10T00:00:00+00:00/task_id=load/attempt=1.log",
        "dag_id=etl/run_id=manual__2024-07-12T01:02:03+00:00/task_id=load/attempt=1.log",
        "scheduler/latest",
    ]);
    let p = t.policy(&one_policy(&["dag_id=*/run_id=*__%Y-%m-%dT*/**"], "1d", "exclude: [\"scheduler/**\"]"));
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(done.summary()["policies"][0]["files"]["protect"], 1);
    assert_eq!(
        t.listing(),
        vec!["dag_id=etl/run_id=manual__2024-07-12T01:02:03+00:00/task_id=load/attempt=1.log", "scheduler/latest"]
    );
    assert!(t.exists("dag_id=etl"), "a directory with a kept run stays");
}

#[test]
fn mtime_dates() {
    let t = Tree::new();
    t.files(&["a.log", "b.log", "c.tmp"]);
    t.mtime("a.log", 1_720_569_600); // 2024-07-10T00:00Z
    t.mtime("b.log", 1_720_742_400); // 2024-07-12T00:00Z
    t.mtime("c.tmp", 1_000_000_000);
    let p = t.policy(&one_policy(&["*.log"], "1d", "date_from: mtime\non_unmatched: warn"));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let a = plan.json().into_iter().find(|l| l["path"].as_str().is_some_and(|p| p.ends_with("a.log"))).unwrap();
    assert_eq!(a["date"], "2024-07-10");
    assert_eq!(a["action"], "delete");
    t.sweep("apply", &p, NOW).code(0);
    assert_eq!(t.listing(), vec!["b.log", "c.tmp"]);
}

#[test]
fn first_matching_layout_wins_and_the_incident_is_caught() {
    let t = Tree::new();
    t.files(&["ticker_2024-07-10.csv", "2024-07-11/part-0001.csv", "2024-07-12/part-0001.csv"]);
    let old = t.policy_named("old.yaml", &one_policy(&["ticker_%Y-%m-%d.csv"], "1d", ""));
    let done = t.sweep("plan", &old, NOW).code(7);
    done.stdout_has("UNMATCHED").stdout_has("####-##-##/part-####.csv");
    let fixed = t.policy_named("fixed.yaml", &one_policy(&["%Y-%m-%d/**", "ticker_%Y-%m-%d.csv"], "1d", ""));
    t.sweep("apply", &fixed, NOW).code(0);
    assert_eq!(t.listing(), vec!["2024-07-12/part-0001.csv"]);
}
