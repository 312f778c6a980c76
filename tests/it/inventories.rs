//! `inventory:` — planning from an S3 Inventory report against a real S3 server (moto) on
//! 127.0.0.1. Reports are written in S3's own layout (`manifest.json`,
//! `manifest.checksum`, gzip CSV or Parquet data files under `data/`) by an independent
//! writer (`tests/servers/objstore.py inventory`) from the bucket as it stands, and then
//! the bucket is changed behind the report's back; a proxy in front of the server counts
//! the listings sweep makes.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::servers::*;
use crate::support::*;

/// 2024-07-12T06:00:00Z, six hours before NOW, in milliseconds: a fresh report.
const FRESH_MS: i64 = 1_720_764_000_000;
const DAY_MS: i64 = 86_400_000;

/// 30 days of daily partitions (2024-06-13 … 2024-07-12), `per` keys and a `_SUCCESS`
/// each, and a stray key; `keep: 20d` at NOW expires 2024-06-13 … 2024-06-22.
fn lake(per: usize) -> Vec<String> {
    let mut keys = Vec::new();
    let start = chrono::NaiveDate::from_ymd_opt(2024, 6, 13).unwrap();
    for d in 0..30 {
        let day = start + chrono::Duration::days(d);
        keys.push(format!("lake/events/dt={day}/_SUCCESS"));
        keys.extend((0..per).map(|i| format!("lake/events/dt={day}/part-{i:03}.parquet")));
    }
    keys
}

fn expired(key: &str) -> bool {
    key.split("dt=").nth(1).is_some_and(|d| &d[..10] <= "2024-06-22")
}

/// Writes a report of `bucket` (as it stands) into a new destination bucket: its URL.
fn report(server: &Server, bucket: &str, date: &str, created_ms: i64, format: &str, opts: &[&str]) -> String {
    let dest = server.bucket(&[], 0);
    report_into(server, bucket, &dest, date, created_ms, format, opts)
}

fn report_into(
    server: &Server,
    bucket: &str,
    dest: &str,
    date: &str,
    created_ms: i64,
    format: &str,
    opts: &[&str],
) -> String {
    let created = created_ms.to_string();
    let mut args = vec!["inventory", bucket, dest, "inv", date, &created, format];
    args.extend_from_slice(opts);
    server.objstore(&args, None).trim().to_string()
}

fn policy(t: &Tree, bucket: &str, extra: &str) -> std::path::PathBuf {
    t.policy(&format!(
        "version: 1\npolicies:\n  - name: lake\n    root: s3://{bucket}/lake/events\n    timezone: UTC\n    layouts: [\"dt=%Y-%m-%d/*\"]\n    keep: 20d\n    markers: [\"_SUCCESS\"]\n{extra}"
    ))
}

fn file_lines(done: &Done) -> Vec<(String, String, Option<String>)> {
    let mut v: Vec<_> = done
        .json()
        .into_iter()
        .filter(|l| l["type"] == "file")
        .map(|l| {
            (
                l["path"].as_str().unwrap().to_string(),
                l["action"].as_str().unwrap().to_string(),
                l["outcome"].as_str().map(str::to_string),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_plan_from_an_inventory_lists_live_only_where_it_acts_and_misses_nothing_written_since() {
    let test = "a_plan_from_an_inventory_lists_live_only_where_it_acts_and_misses_nothing_written_since";
    let Some(server) = shared(Kind::S3, test) else { return };
    let t = Tree::new();
    let keys = lake(4);
    let bucket = server.bucket(&keys, 10);
    let twin = server.bucket(&keys, 10);
    let inventory = report(server, &bucket, "2024-07-12T00-00Z", FRESH_MS, "csv", &["--files", "3"]);
    // Behind the report's back: a late file in an expired partition, one the report
    // lists that has gone since, and a new kept partition.
    server.objstore(
        &["put", &bucket, "10"],
        Some("lake/events/dt=2024-06-15/late.parquet\nlake/events/dt=2024-07-12/new.parquet"),
    );
    server.objstore(
        &["put", &twin, "10"],
        Some("lake/events/dt=2024-06-15/late.parquet\nlake/events/dt=2024-07-12/new.parquet"),
    );
    let gone = "lake/events/dt=2024-06-16/part-000.parquet";
    delete_key(server, &bucket, gone);
    delete_key(server, &twin, gone);

    let proxy = Proxy::start(server, &json!({}));
    let p = policy(&t, &bucket, &format!("    inventory: {inventory}\n"));
    let plan = proxy.sweep(server, "plan", &p, &t).args(["--format", "json"]).code(0);
    let plan_lists = proxy.lists();
    let done = proxy.sweep(server, "apply", &p, &t).args(["--format", "json"]).code(0);
    let apply_lists = proxy.lists() - plan_lists;

    // plan and apply say the same, file by file.
    let planned: Vec<_> = file_lines(&plan).into_iter().map(|(p, a, _)| (p, a)).collect();
    let applied: Vec<_> = file_lines(&done).into_iter().map(|(p, a, _)| (p, a)).collect();
    assert_eq!(planned, applied);
    let url = |k: &str| format!("s3://{bucket}/{k}");
    let deleted: BTreeSet<String> =
        file_lines(&done).into_iter().filter(|(_, _, o)| o.as_deref() == Some("deleted")).map(|(p, ..)| p).collect();
    assert!(deleted.contains(&url("lake/events/dt=2024-06-15/late.parquet")), "the late file in an expired partition");
    assert!(!applied.iter().any(|(p, _)| p == &url(gone)), "a key gone since the report is not deleted twice");
    let s = done.summary();
    let inv = &s["policies"][0]["inventory"];
    assert_eq!(inv["report"], "2024-07-12T00-00Z", "the summary names the report's date: {inv}");
    assert_eq!(s["policies"][0]["failed"], 0);

    // The same run without the report, on the twin bucket: the same deletions.
    let q = policy(&t, &twin, "");
    let live = proxy.sweep(server, "apply", &q, &t).args(["--format", "json"]).code(0);
    let live_lists = proxy.lists() - plan_lists - apply_lists;
    let twin_deleted: BTreeSet<String> = file_lines(&live)
        .into_iter()
        .filter(|(_, _, o)| o.as_deref() == Some("deleted"))
        .map(|(p, ..)| p.replacen(&twin, &bucket, 1))
        .collect();
    assert_eq!(deleted, twin_deleted);
    let left: BTreeSet<String> = server.list(&bucket).into_iter().collect();
    let twin_left: BTreeSet<String> = server.list(&twin).into_iter().collect();
    assert_eq!(left, twin_left, "the bucket ends as a run without the report leaves it");
    assert!(left.iter().all(|k| !expired(k)), "{left:?}");

    // Listings: the report's folder, then the root, the prefix it lives in and the ten
    // expired days (the rest come from the report); listing every day live takes more.
    assert!(apply_lists <= 10 + 4, "{apply_lists} listings with the report");
    assert!(live_lists > 2 * 30, "{live_lists} listings without it");
    assert_eq!(inv["live_prefixes"], 10 + 1, "the ten expired days and the root: {inv}");
}

fn delete_key(server: &Server, bucket: &str, key: &str) {
    server.objstore(&["delete", bucket], Some(key));
}

#[test]
fn a_report_older_than_inventory_max_age_is_an_error_and_nothing_is_done() {
    let test = "a_report_older_than_inventory_max_age_is_an_error_and_nothing_is_done";
    let Some(server) = shared(Kind::S3, test) else { return };
    let t = Tree::new();
    let keys = lake(1);
    let bucket = server.bucket(&keys, 1);
    let inventory = report(server, &bucket, "2024-07-09T00-00Z", FRESH_MS - 3 * DAY_MS, "csv", &[]);
    let p = policy(&t, &bucket, &format!("    inventory: {inventory}\n"));
    for sub in ["plan", "apply"] {
        let done = server.sweep(sub, &p, &t).args(["--format", "json"]).code(5);
        let s = done.summary();
        let problems = s["policies"][0]["problems"].to_string();
        assert!(problems.contains("inventory_max_age is 2d") && problems.contains("2024-07-09T00-00Z"), "{problems}");
        assert_eq!(s["policies"][0]["problem_codes"][0], "inventory");
        assert!(
            done.json().iter().all(|l| l["type"] != "file" || l["action"] == "error"),
            "nothing is planned from it"
        );
    }
    assert_eq!(server.list(&bucket).len(), keys.len(), "nothing deleted, no fall back to listing");
    let p = policy(&t, &bucket, &format!("    inventory: {inventory}\n    inventory_max_age: 4d\n"));
    server.sweep("apply", &p, &t).code(0);
    assert_eq!(server.list(&bucket).len(), 20 * 2);
}

#[test]
fn a_damaged_report_is_refused_and_nothing_is_done() {
    let Some(server) = shared(Kind::S3, "a_damaged_report_is_refused_and_nothing_is_done") else { return };
    let t = Tree::new();
    let keys = lake(2);
    let bucket = server.bucket(&keys, 1);
    for (opts, says) in [
        (&["--bad-checksum"][..], "manifest.checksum: says"),
        (&["--bad-data", "--files", "2"][..], "the manifest says"),
    ] {
        let inventory = report(server, &bucket, "2024-07-12T00-00Z", FRESH_MS, "csv", opts);
        let p = policy(&t, &bucket, &format!("    inventory: {inventory}\n"));
        let done = server.sweep("apply", &p, &t).args(["--format", "json"]).code(5);
        let problems = done.summary()["policies"][0]["problems"].to_string();
        assert!(problems.contains(says) && problems.contains("damaged"), "{opts:?}: {problems}");
        assert_eq!(server.list(&bucket).len(), keys.len());
    }
}

#[test]
fn the_newest_complete_report_is_used_and_an_incomplete_newer_one_waits() {
    let test = "the_newest_complete_report_is_used_and_an_incomplete_newer_one_waits";
    let Some(server) = shared(Kind::S3, test) else { return };
    let t = Tree::new();
    let keys = lake(1);
    let bucket = server.bucket(&keys, 1);
    let dest = server.bucket(&[], 0);
    let older = report_into(server, &bucket, &dest, "2024-07-11T00-00Z", FRESH_MS - DAY_MS, "csv", &[]);
    let newer = report_into(server, &bucket, &dest, "2024-07-12T00-00Z", FRESH_MS, "csv", &["--no-checksum"]);
    assert_eq!(older, newer, "one destination");
    // A report dated after --now is not one this run could have had.
    report_into(server, &bucket, &dest, "2024-07-13T00-00Z", FRESH_MS + DAY_MS, "csv", &[]);
    let p = policy(&t, &bucket, &format!("    inventory: {older}\n"));
    let done = server.sweep("plan", &p, &t).args(["--format", "json"]).code(0);
    assert_eq!(done.summary()["policies"][0]["inventory"]["report"], "2024-07-11T00-00Z");
    let text = server.sweep("plan", &p, &t).output();
    assert!(text.stdout().contains("planned from the inventory report 2024-07-11T00-00Z"), "{}", text.stdout());
}

#[test]
fn unmatched_keys_of_kept_partitions_come_from_the_report() {
    let Some(server) = shared(Kind::S3, "unmatched_keys_of_kept_partitions_come_from_the_report") else { return };
    let t = Tree::new();
    let mut keys = lake(1);
    keys.push("lake/events/staging/upload.tmp".into());
    keys.push("lake/events/dt=2024-07-01/part-a.parquet/\t3".into());
    let bucket = server.bucket(&keys, 1);
    let inventory = report(server, &bucket, "2024-07-12T00-00Z", FRESH_MS, "csv", &[]);
    let proxy = Proxy::start(server, &json!({}));
    let p = policy(&t, &bucket, &format!("    inventory: {inventory}\n"));
    let done = proxy.sweep(server, "plan", &p, &t).args(["--format", "json"]).code(7);
    let unmatched: Vec<Value> = done.json().into_iter().filter(|l| l["action"] == "unmatched").collect();
    let reasons: BTreeSet<(String, String)> = unmatched
        .iter()
        .map(|l| (l["path"].as_str().unwrap().to_string(), l["reason"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        reasons,
        [
            (format!("s3://{bucket}/lake/events/staging/upload.tmp"), "no layout matches".to_string()),
            (
                format!("s3://{bucket}/lake/events/dt=2024-07-01/part-a.parquet/"),
                "directory object with data".to_string()
            ),
        ]
        .into_iter()
        .collect()
    );
    let listed_staging = proxy.requests().iter().any(|(_, q, _)| q.contains("prefix=lake%2Fevents%2Fstaging%2F"));
    assert!(!listed_staging, "a kept prefix is read from the report, not listed");
}

#[test]
fn a_parquet_report_plans_as_its_csv_twin() {
    let test = "a_parquet_report_plans_as_its_csv_twin";
    if !cfg!(feature = "parquet") {
        return missing(test, "the `parquet` cargo feature (on by default: built with --no-default-features?)");
    }
    let pyarrow = std::process::Command::new("python3").args(["-c", "import pyarrow"]).status();
    if !pyarrow.is_ok_and(|s| s.success()) {
        return missing(test, "the pyarrow Python package (pip install pyarrow)");
    }
    let Some(server) = shared(Kind::S3, test) else { return };
    let t = Tree::new();
    let keys = lake(3);
    let bucket = server.bucket(&keys, 5);
    let csv = report(server, &bucket, "2024-07-12T00-00Z", FRESH_MS, "csv", &[]);
    let parquet = report(server, &bucket, "2024-07-12T00-00Z", FRESH_MS, "parquet", &["--files", "2"]);
    let plan = |inv: &str| {
        let p = policy(&t, &bucket, &format!("    inventory: {inv}\n"));
        let done = server.sweep("plan", &p, &t).args(["--format", "json"]).code(0);
        assert_eq!(done.summary()["policies"][0]["inventory"]["keys"], keys.len());
        file_lines(&done)
    };
    assert_eq!(plan(&parquet), plan(&csv));
    let p = policy(&t, &bucket, &format!("    inventory: {parquet}\n"));
    server.sweep("apply", &p, &t).code(0);
    assert!(server.list(&bucket).iter().all(|k| !expired(k)));
}
