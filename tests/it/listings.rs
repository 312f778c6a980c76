//! Listings are not trusted: a fault-injecting proxy (`tests/servers/proxy.py`) stands
//! between sweep and a real S3 server (moto) on 127.0.0.1 and lies — a key outside the
//! listed prefix, a token that repeats, pages that never end — or throttles (503
//! SlowDown bursts). Keys the server really holds (`KEY/` with data, `..` and empty
//! segments) are put there with an independent client. Afterwards the bucket is listed
//! with that client: what sweep must not touch is still there.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::servers::*;
use crate::support::*;

fn policy(t: &Tree, bucket: &str, extra: &str) -> std::path::PathBuf {
    t.policy(&format!(
        "version: 1\npolicies:\n  - name: lake\n    root: s3://{bucket}/lake/events\n    timezone: UTC\n    layouts: [\"dt=%Y-%m-%d/*\"]\n    keep: 2d\n{extra}"
    ))
}

fn files(done: &Done) -> Vec<serde_json::Value> {
    done.json().into_iter().filter(|l| l["type"] == "file").collect()
}

fn line<'a>(lines: &'a [serde_json::Value], path: &str) -> &'a serde_json::Value {
    lines.iter().find(|l| l["path"] == path).unwrap_or_else(|| panic!("no line for {path}: {lines:#?}"))
}

#[test]
fn a_key_injected_from_outside_the_prefix_is_unmatched_under_its_own_url_and_never_deleted() {
    let test = "a_key_injected_from_outside_the_prefix_is_unmatched_under_its_own_url_and_never_deleted";
    let Some(server) = shared(Kind::S3, test) else { return };
    let t = Tree::new();
    let keys: Vec<String> =
        ["lake/events/dt=2024-07-01/part-0.parquet", "lake/events/dt=2024-07-12/part-0.parquet", "other/victim.txt"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    let bucket = server.bucket(&keys, 10);
    let proxy = Proxy::start(
        server,
        &json!({"inject": [{"prefix": "lake/events/dt=2024-07-01/", "objects": [{"key": "other/victim.txt", "size": 10}]}]}),
    );
    // What the listing showed is unmatched like any stray file: `fail` fails the run.
    proxy.sweep(server, "plan", &policy(&t, &bucket, ""), &t).code(7);
    let p = policy(&t, &bucket, "    on_unmatched: warn\n");
    let done = proxy.sweep(server, "apply", &p, &t).args(["--format", "json"]).code(0);
    let lines = files(&done);
    let victim = line(&lines, &format!("s3://{bucket}/other/victim.txt"));
    assert_eq!(
        (victim["action"].as_str(), victim["reason"].as_str()),
        (Some("unmatched"), Some("outside the listed prefix"))
    );
    assert!(
        !lines.iter().any(|l| l["path"].as_str().unwrap().ends_with("dt=2024-07-01/victim.txt")),
        "reported under a name it does not have: {lines:#?}"
    );
    assert_eq!(done.summary()["policies"][0]["deleted"], 1);
    assert_eq!(server.list(&bucket), ["lake/events/dt=2024-07-12/part-0.parquet", "other/victim.txt"]);
}

#[test]
fn a_directory_object_with_data_stays_and_its_neighbour_is_deleted_under_its_own_name() {
    let test = "a_directory_object_with_data_stays_and_its_neighbour_is_deleted_under_its_own_name";
    let Some(server) = shared(Kind::S3, test) else { return };
    let t = Tree::new();
    let keys: Vec<String> = [
        "lake/events/dt=2024-07-01/a.csv",
        "lake/events/dt=2024-07-01/a.csv/\t7",
        "lake/events/dt=2024-07-01/\t5",
        "lake/events/dt=2024-07-12/a.csv",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let bucket = server.bucket(&keys, 10);
    let p = policy(&t, &bucket, "    on_unmatched: warn\n");
    let url = |k: &str| format!("s3://{bucket}/{k}");
    let plan = server.sweep("plan", &p, &t).args(["--format", "json"]).code(0);
    let lines = files(&plan);
    assert_eq!(line(&lines, &url("lake/events/dt=2024-07-01/a.csv"))["action"], "delete");
    for k in ["lake/events/dt=2024-07-01/a.csv/", "lake/events/dt=2024-07-01/"] {
        let l = line(&lines, &url(k));
        assert_eq!(
            (l["action"].as_str(), l["reason"].as_str()),
            (Some("unmatched"), Some("directory object with data")),
            "{k}"
        );
    }
    let done = server.sweep("apply", &p, &t).args(["--format", "json"]).code(0);
    let lines = files(&done);
    assert_eq!(line(&lines, &url("lake/events/dt=2024-07-01/a.csv"))["outcome"], "deleted");
    assert_eq!(done.summary()["policies"][0]["deleted"], 1);
    assert_eq!(
        server.list(&bucket),
        ["lake/events/dt=2024-07-01/", "lake/events/dt=2024-07-01/a.csv/", "lake/events/dt=2024-07-12/a.csv"],
        "the object named a.csv went; the objects with data named like directories stayed"
    );
}

#[test]
fn keys_with_dot_dot_or_empty_segments_are_unmatched_and_the_rest_goes_on() {
    let test = "keys_with_dot_dot_or_empty_segments_are_unmatched_and_the_rest_goes_on";
    let Some(server) = shared(Kind::S3, test) else { return };
    let t = Tree::new();
    let bad = [
        "lake/events/dt=2024-07-01/x/../victim.csv",
        "lake/events/dt=2024-07-01//y.csv",
        "lake/events/./dt=2024-07-02/z.csv",
    ];
    let good = ["lake/events/dt=2024-07-01/part-0.parquet", "lake/events/dt=2024-07-02/part-0.parquet"];
    let kept = "lake/events/dt=2024-07-12/part-0.parquet";
    let keys: Vec<String> = bad.iter().chain(&good).chain([&kept]).map(|s| s.to_string()).collect();
    let bucket = server.bucket(&keys, 10);
    let mut stored = server.list(&bucket);
    stored.sort();
    let mut want = keys.clone();
    want.sort();
    assert_eq!(stored, want, "the server holds the keys exactly");
    // Unmatched fails the run (7), not an I/O error (5), and the plan still deletes.
    let plan = server.sweep("plan", &policy(&t, &bucket, ""), &t).args(["--format", "json"]).code(7);
    let lines = files(&plan);
    for k in bad {
        let l = line(&lines, &format!("s3://{bucket}/{k}"));
        assert_eq!((l["action"].as_str(), l["reason"].as_str()), (Some("unmatched"), Some("invalid key")), "{k}");
    }
    let done =
        server.sweep("apply", &policy(&t, &bucket, "    on_unmatched: warn\n"), &t).args(["--format", "json"]).code(0);
    assert_eq!(done.summary()["policies"][0]["deleted"], 2);
    assert_eq!(done.summary()["policies"][0]["files"]["unmatched"], 3);
    let left: BTreeSet<String> = server.list(&bucket).into_iter().collect();
    let want: BTreeSet<String> = bad.iter().chain([&kept]).map(|s| s.to_string()).collect();
    assert_eq!(left, want);
}

/// A listing that would never end is an error at once, within a bounded time and a
/// handful of requests.
fn endless(rule: serde_json::Value, says: &str, test: &str) {
    let Some(server) = shared(Kind::S3, test) else { return };
    let t = Tree::new();
    let keys: Vec<String> = (0..3).map(|i| format!("lake/events/dt=2024-07-01/part-{i}.parquet")).collect();
    let bucket = server.bucket(&keys, 10);
    let proxy = Proxy::start(server, &rule);
    let started = Instant::now();
    for sub in ["plan", "apply"] {
        let done = proxy.sweep(server, sub, &policy(&t, &bucket, ""), &t).args(["--format", "json"]).code(5);
        let error = done.json().into_iter().find(|l| l["action"] == "error").expect("an error line");
        assert!(error["reason"].as_str().unwrap().contains(says), "{error}");
    }
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
    // Two requests a walk (the page, and the one that gives the lie away); plan walks
    // once, apply twice (it counts before it acts).
    let of_prefix = proxy
        .requests()
        .iter()
        .filter(|(_, q, _)| q.contains("prefix=lake%2Fevents%2Fdt%3D2024-07-01%2F&delimiter"))
        .count();
    assert!(of_prefix <= 6, "{of_prefix} listings of the lying prefix: {:#?}", proxy.requests());
    assert_eq!(server.list(&bucket).len(), 3, "nothing deleted");
}

#[test]
fn a_listing_that_repeats_its_continuation_token_is_an_error_at_once() {
    endless(
        json!({"repeat_token": ["lake/events/dt=2024-07-01/"]}),
        "repeated a continuation token",
        "a_listing_that_repeats_its_continuation_token_is_an_error_at_once",
    );
}

#[test]
fn a_listing_of_empty_pages_that_claim_more_is_an_error_at_once() {
    endless(
        json!({"empty_pages": ["lake/events/dt=2024-07-01/"]}),
        "with no keys that claims more follow",
        "a_listing_of_empty_pages_that_claim_more_is_an_error_at_once",
    );
}

#[test]
fn a_plain_http_endpoint_is_used_only_when_aws_allow_http_says_so() {
    let Some(server) = shared(Kind::S3, "a_plain_http_endpoint_is_used_only_when_aws_allow_http_says_so") else {
        return;
    };
    let t = Tree::new();
    let bucket = server.bucket(&["lake/events/dt=2024-07-01/part-0.parquet".to_string()], 10);
    let p = policy(&t, &bucket, "");
    for allow in [None, Some("false"), Some("1")] {
        let mut s = server.sweep("apply", &p, &t);
        match allow {
            None => {
                s.command().env_remove("AWS_ALLOW_HTTP");
            }
            Some(v) => {
                s.env("AWS_ALLOW_HTTP", v);
            }
        }
        let done = s.args(["--format", "json"]).code(5);
        let error = done.json().into_iter().find(|l| l["action"] == "error").expect("an error line");
        let msg = error["reason"].as_str().unwrap();
        assert!(msg.contains("AWS_ALLOW_HTTP=true") && msg.contains(&server.endpoint), "{allow:?}: {msg}");
    }
    assert_eq!(server.list(&bucket).len(), 1);
    server.sweep("apply", &p, &t).code(0);
    assert!(server.list(&bucket).is_empty());
}

#[test]
fn bursts_of_503_slowdown_are_backed_off_and_nothing_is_lost() {
    let test = "bursts_of_503_slowdown_are_backed_off_and_nothing_is_lost";
    let Some(server) = shared(Kind::S3, test) else { return };
    let t = Tree::new();
    let mut keys = Vec::new();
    for d in 1..=4 {
        keys.push(format!("lake/events/dt=2024-07-0{d}/"));
        keys.push(format!("lake/events/dt=2024-07-0{d}/_SUCCESS"));
        keys.extend((0..600).map(|i| format!("lake/events/dt=2024-07-0{d}/part-{i:04}.parquet")));
    }
    let kept: Vec<String> = (0..5).map(|i| format!("lake/events/dt=2024-07-12/part-{i}.parquet")).collect();
    keys.extend(kept.iter().cloned());
    let bucket = server.bucket(&keys, 1);
    // Every 3rd request starts a burst of 3 refusals: more in a row than one request's
    // own retries can be sure to outlast, on listings, DeleteObjects and marker deletes.
    let proxy = Proxy::start(server, &json!({"slowdown": {"every": 3, "burst": 3}, "slowdown_limit": 60}));
    let p = policy(&t, &bucket, "    markers: [\"_SUCCESS\"]\n");
    let started = Instant::now();
    let done = proxy.sweep(server, "apply", &p, &t).args(["--format", "json", "--jobs", "4"]).code(0);
    assert!(started.elapsed() < Duration::from_secs(180), "{:?}", started.elapsed());
    let s = &done.summary()["policies"][0];
    assert_eq!((s["deleted"].as_u64(), s["failed"].as_u64()), (Some(4 * 601), Some(0)), "{s}");
    assert_eq!(server.list(&bucket), kept, "every expired key went, the markers too, and the rest stayed");
    let refused = proxy.requests().iter().filter(|r| r.2 == 503).count();
    assert!(refused >= 30, "the proxy refused only {refused} requests: the test did not throttle");
}

#[test]
fn a_directory_with_markers_is_listed_once() {
    let Some(server) = shared(Kind::S3, "a_directory_with_markers_is_listed_once") else { return };
    let t = Tree::new();
    let mut keys = Vec::new();
    for d in ["01", "02", "12"] {
        keys.push(format!("lake/events/dt=2024-07-{d}/_SUCCESS"));
        keys.extend((0..3).map(|i| format!("lake/events/dt=2024-07-{d}/part-{i}.parquet")));
    }
    let bucket = server.bucket(&keys, 1);
    let proxy = Proxy::start(server, &json!({}));
    let p = policy(&t, &bucket, "    markers: [\"_SUCCESS\"]\n");
    // Once a walk: plan walks once, apply twice (it counts before it acts).
    for (sub, walks) in [("plan", 1), ("apply", 2)] {
        let before = proxy.requests().len();
        proxy.sweep(server, sub, &p, &t).code(0);
        let requests = proxy.requests();
        for d in ["01", "02", "12"] {
            let listed = requests[before..]
                .iter()
                .filter(|(m, q, _)| {
                    m == "GET"
                        && q.contains("delimiter")
                        && q.contains(&format!("prefix=lake%2Fevents%2Fdt%3D2024-07-{d}%2F&"))
                })
                .count();
            assert_eq!(listed, walks, "{sub}: dt=2024-07-{d}/ listed {listed} times: {:#?}", &requests[before..]);
        }
    }
    assert_eq!(server.list(&bucket).len(), 4);
}
