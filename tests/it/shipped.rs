//! Every policy shipped under `policies/` works on a steady night and refuses a jump:
//! on a tree that holds exactly its retention plus one expired period, `apply` deletes
//! that period and exits 0; with `--now` a year later, it refuses (exit 6) and deletes
//! nothing. A shipped policy that refused every normal night (v1's `ticker.yaml`) or
//! would wipe a volume after a clock jump is a defect these tests catch.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};

use crate::support::*;

/// The repository's policy file `name`, with every `root:` moved under the tree.
fn shipped(t: &Tree, name: &str) -> PathBuf {
    let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies").join(name)).unwrap();
    let moved: String = text
        .lines()
        .map(|l| match l.trim_start().strip_prefix("root: ") {
            Some(_) => format!("{}root: {}", &l[..l.len() - l.trim_start().len()], t.root.display()),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    t.policy_named(name, &moved)
}

/// One steady-night case: the files of the tree, their mtimes, what must go.
struct Night {
    now: &'static str,
    files: Vec<(String, Option<i64>)>,
    expired: Vec<String>,
}

fn run(name: &str, night: impl Fn() -> Night) {
    // The steady night.
    let t = Tree::new();
    let n = night();
    for (f, mtime) in &n.files {
        t.file(f);
        if let Some(m) = mtime {
            t.mtime(f, *m);
        }
    }
    let p = shipped(&t, name);
    let done = t.sweep("apply", &p, n.now).args(["--format", "json"]).output();
    let code = done.out.status.code();
    assert_eq!(code, Some(0), "{name}: a steady night exits 0\n{}\n{}", done.stdout(), done.stderr());
    let mut left: Vec<String> = n.files.iter().map(|(f, _)| f.clone()).filter(|f| !n.expired.contains(f)).collect();
    left.sort();
    assert_eq!(t.listing(), left, "{name}: exactly the expired period went");

    // The same tree a year later: refused, nothing touched.
    let t = Tree::new();
    for (f, mtime) in &n.files {
        t.file(f);
        if let Some(m) = mtime {
            t.mtime(f, *m);
        }
    }
    let p = shipped(&t, name);
    let later = NaiveDateTime::parse_from_str(&n.now[..19], "%Y-%m-%dT%H:%M:%S").unwrap() + Duration::days(365);
    let later = format!("{}{}", later.format("%Y-%m-%dT%H:%M:%S"), &n.now[19..]);
    let done = t.sweep("apply", &p, &later).args(["--format", "json"]).output();
    assert_eq!(done.out.status.code(), Some(6), "{name}: a year's jump refuses\n{}\n{}", done.stdout(), done.stderr());
    assert_eq!(done.summary()["policies"][0]["refused"]["guard"], "max_delete", "{name}");
    assert_eq!(t.listing().len(), n.files.len(), "{name}: nothing deleted");
}

fn days(from: &str, n: i64) -> impl Iterator<Item = NaiveDate> {
    let start = NaiveDate::parse_from_str(from, "%Y-%m-%d").unwrap();
    (0..n).map(move |i| start + Duration::days(i))
}

#[test]
fn ticker_on_a_steady_night_and_after_a_jump() {
    run("ticker.yaml", || {
        // 02:00 in New York on the 12th: the 12th is today; the 11th expired tonight.
        let old = 1_720_742_400 - 7200; // well before min_age
        let mut files = Vec::new();
        for d in ["2024-07-11", "2024-07-12"] {
            for f in ["part-0001.csv", "part-0002.csv", "_SUCCESS"] {
                files.push((format!("{d}/{f}"), Some(old)));
            }
        }
        let expired = files.iter().filter(|(f, _)| f.starts_with("2024-07-11")).map(|(f, _)| f.clone()).collect();
        Night { now: "2024-07-12T02:00:00-04:00", files, expired }
    });
}

#[test]
fn airflow_logs_on_a_steady_night_and_after_a_jump() {
    run("airflow-logs.yaml", || {
        // keep 30d at 00:30 UTC on 12 July: 13 June to 12 July stay; 12 June expired tonight.
        let mut files = Vec::new();
        for d in days("2024-06-12", 31) {
            let run = format!("dag_id=etl/run_id=scheduled__{}T00:00:00+00:00", d.format("%Y-%m-%d"));
            files.push((format!("{run}/task_id=load/attempt=1.log"), None));
        }
        let expired = vec![files[0].0.clone()];
        Night { now: "2024-07-12T00:30:00Z", files, expired }
    });
}

#[test]
fn events_hive_on_a_steady_night_and_after_a_jump() {
    run("events-hive.yaml", || {
        // keep 48h at 10:30 in London on 12 July: from 10 July 11:00 on stay; 10:00 expired.
        let start = NaiveDateTime::parse_from_str("2024-07-10T10:00:00", "%Y-%m-%dT%H:%M:%S").unwrap();
        let mut files = Vec::new();
        for h in 0..49 {
            let t = start + Duration::hours(h);
            let dir = format!("dt={}/hour={}", t.format("%Y-%m-%d"), t.format("%H"));
            files.push((format!("{dir}/part-0.parquet"), None));
            files.push((format!("{dir}/_SUCCESS"), None));
        }
        let expired = files[..2].iter().map(|(f, _)| f.clone()).collect();
        Night { now: "2024-07-12T10:30:00+01:00", files, expired }
    });
}

#[test]
fn reports_ymd_on_a_steady_night_and_after_a_jump() {
    run("reports-ymd.yaml", || {
        // Monday 8 July 2024, 18:00 New York: Mon 8, Fri 5, Wed 3 stay (Thu 4 closed);
        // Tue 2 expired tonight.
        let mut files = Vec::new();
        for d in ["2024/07/02", "2024/07/03", "2024/07/05", "2024/07/08"] {
            files.push((format!("{d}/summary.pdf"), None));
            files.push((format!("{d}/positions.csv"), None));
        }
        let expired = files[..2].iter().map(|(f, _)| f.clone()).collect();
        Night { now: "2024-07-08T18:00:00-04:00", files, expired }
    });
}

#[test]
fn scratch_mtime_on_a_steady_night_and_after_a_jump() {
    run("scratch-mtime.yaml", || {
        // keep 7d of mtimes, in the zone `local` (the tests run with TZ=UTC): files from the
        // last seven days stay, the day before them goes.
        let noon = |d: NaiveDate| d.and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp();
        let mut files = Vec::new();
        for (i, d) in days("2024-07-05", 8).enumerate() {
            files.push((format!("user{i}/work.bin"), Some(noon(d))));
        }
        files.push(("alice/.keep".into(), Some(noon(NaiveDate::from_ymd_opt(2023, 1, 1).unwrap()))));
        let expired = vec![files[0].0.clone()];
        Night { now: "2024-07-12T02:00:00Z", files, expired }
    });
}

/// `quotes-lifecycle.yaml` with its two roots under a tree: `/data/quotes` is the
/// tree's root, `/archive/quotes` a directory beside it.
fn lifecycle(t: &Tree) -> (PathBuf, PathBuf) {
    let text =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/quotes-lifecycle.yaml")).unwrap();
    let archive = t.dir.path().join("archive");
    fs::create_dir_all(&archive).unwrap();
    let text =
        text.replace("/data/quotes", t.root.to_str().unwrap()).replace("/archive/quotes", archive.to_str().unwrap());
    (t.policy_named("quotes-lifecycle.yaml", &text), archive)
}

/// The lifecycle's steady state at 02:00 in New York on `today`: raw partitions for the
/// last 7 days, compressed ones back to day 30, and in the archive the Sundays of the
/// last year plus every day since the last Sunday that moved.
fn lifecycle_tree(t: &Tree, archive: &Path, today: NaiveDate) {
    for (i, d) in (0..31).map(|i| (i, today - Duration::days(i))) {
        let name = if i < 8 { "part-0001.csv" } else { "part-0001.csv.zst" };
        t.file(&format!("{d}/{name}"));
        t.file(&format!("{d}/_SUCCESS"));
    }
    for i in 31..420 {
        let d = today - Duration::days(i);
        let since_sunday = d.weekday().num_days_from_sunday();
        let last_sunday_moved = (today - Duration::days(31)).weekday().num_days_from_sunday();
        if d.weekday() == chrono::Weekday::Sun || (i - 31) < i64::from(last_sunday_moved) && since_sunday > 0 {
            fs::create_dir_all(archive.join(d.to_string())).unwrap();
            fs::write(archive.join(format!("{d}/part-0001.csv.zst")), b"z").unwrap();
        }
    }
}

fn listing_of(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .map(|e| e.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn quotes_lifecycle_on_a_steady_night_and_after_a_jump() {
    // Friday 12 July 2024, 02:00 in New York.
    let today = NaiveDate::from_ymd_opt(2024, 7, 12).unwrap();
    let now = "2024-07-12T02:00:00-04:00";
    let t = Tree::new();
    let (p, archive) = lifecycle(&t);
    lifecycle_tree(&t, &archive, today);
    let done = t.sweep("apply", &p, now).args(["--format", "json"]).output();
    assert_eq!(done.out.status.code(), Some(0), "a steady night exits 0\n{}\n{}", done.stdout(), done.stderr());
    let s = done.summary();
    let (hot, cold) = (&s["policies"][0], &s["policies"][1]);
    // Tonight: day 7 (the 5th) is compressed; day 30 (12 June) moves, and so does its marker.
    assert_eq!(
        (hot["compressed"].as_u64(), hot["moved"].as_u64(), hot["deleted"].as_u64()),
        (Some(1), Some(2), Some(0))
    );
    let hot_days: Vec<String> = t.listing().iter().filter(|f| !f.ends_with("_SUCCESS")).cloned().collect();
    let want: Vec<String> = (0..30)
        .rev()
        .map(|i| {
            let d = today - Duration::days(i);
            if i < 7 { format!("{d}/part-0001.csv") } else { format!("{d}/part-0001.csv.zst") }
        })
        .collect();
    assert_eq!(hot_days, want, "7 days raw, compressed to day 29; day 30 moved");
    // The archive: 12 June (a Wednesday) arrived; the 10th and 11th, kept last night as
    // the newest of their week, went; at most one partition per ISO week, 52 weeks.
    let left = listing_of(&archive);
    assert!(left.contains(&"2024-06-12/part-0001.csv.zst".to_string()), "{left:?}");
    assert!(left.contains(&"2024-06-12/_SUCCESS".to_string()));
    let weeks: Vec<String> = left
        .iter()
        .filter(|f| f.ends_with(".zst"))
        .map(|f| {
            let d = NaiveDate::parse_from_str(&f[..10], "%Y-%m-%d").unwrap();
            format!("{}-W{:02}", d.iso_week().year(), d.iso_week().week())
        })
        .collect();
    let distinct: std::collections::BTreeSet<&String> = weeks.iter().collect();
    assert_eq!(distinct.len(), weeks.len(), "one partition per week: {left:?}");
    assert_eq!(weeks.len(), 52, "{left:?}");
    assert_eq!(cold["exit_code"], 0);
    assert!(cold["deleted"].as_u64().unwrap() >= 2);

    // A year later: everything in the hot tier would move, and the archive would lose more
    // than a quarter: its deletions are refused (exit 6), none happens.
    let t = Tree::new();
    let (p, archive) = lifecycle(&t);
    lifecycle_tree(&t, &archive, today);
    let before = listing_of(&archive).len() + t.listing().len();
    let done = t.sweep("apply", &p, "2025-07-12T02:00:00-04:00").args(["--format", "json"]).output();
    assert_eq!(done.out.status.code(), Some(6), "a year's jump refuses\n{}\n{}", done.stdout(), done.stderr());
    assert_eq!(done.summary()["policies"][1]["refused"]["guard"], "max_delete");
    assert_eq!(listing_of(&archive).len() + t.listing().len(), before, "moved, maybe; deleted, nothing");
}

#[test]
fn every_shipped_policy_has_a_steady_night_test() {
    let this = include_str!("shipped.rs");
    for e in fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let stem = name.trim_end_matches(".yaml").replace('-', "_");
        assert!(
            this.contains(&format!("run(\"{name}\"")) || this.contains(&format!("fn {stem}_on_a_steady_night")),
            "policies/{name} has no steady-night test here"
        );
    }
}
