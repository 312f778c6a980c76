//! Lifecycle tiers on real trees: thinning compared with an independent computation,
//! compression round trips in both formats, a run killed in the middle of a compression,
//! moves to an archive on the same filesystem and on another one (a tmpfs), and
//! destinations that are never overwritten.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

/// CSV-like bytes: `n` lines, deterministic, compressible about as market data is.
fn csv(lines: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines * 40);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..lines {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let sym = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "META"][(x % 6) as usize];
        out.extend_from_slice(format!("{i},{sym},{}.{:02},{}\n", 100 + x % 900, x % 100, x % 10_000).as_bytes());
    }
    out
}

fn decompress(path: &Path) -> Vec<u8> {
    let f = fs::File::open(path).unwrap();
    let mut out = Vec::new();
    if path.extension().is_some_and(|e| e == "zst") {
        zstd::stream::read::Decoder::new(f).unwrap().read_to_end(&mut out).unwrap();
    } else {
        flate2::read::GzDecoder::new(f).read_to_end(&mut out).unwrap();
    }
    out
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The partitions restic's rule keeps, computed another way: for each rule, the distinct
/// buckets of the expired days, newest first; the first N of them; in each, its newest
/// day. The reason is the first rule, in the order daily, weekly, monthly, yearly.
fn restic(expired: &[NaiveDate], n: [usize; 4]) -> BTreeMap<NaiveDate, String> {
    let buckets: [fn(NaiveDate) -> String; 4] = [
        |d| d.format("%Y-%m-%d").to_string(),
        |d| format!("{}-W{:02}", d.iso_week().year(), d.iso_week().week()),
        |d| d.format("%Y-%m").to_string(),
        |d| d.format("%Y").to_string(),
    ];
    let names = ["daily", "weekly", "monthly", "yearly"];
    let mut kept: BTreeMap<NaiveDate, String> = BTreeMap::new();
    for (r, bucket) in buckets.iter().enumerate() {
        let mut newest: BTreeMap<String, NaiveDate> = BTreeMap::new();
        for d in expired {
            let e = newest.entry(bucket(*d)).or_insert(*d);
            *e = (*e).max(*d);
        }
        let mut by_recency: Vec<NaiveDate> = newest.into_values().collect();
        by_recency.sort_by(|a, b| b.cmp(a));
        for d in by_recency.into_iter().take(n[r]) {
            kept.entry(d).or_insert_with(|| format!("{} {}", names[r], bucket(d)));
        }
    }
    kept
}

#[test]
fn thinning_keeps_exactly_what_an_independent_computation_of_restics_rule_keeps() {
    let t = Tree::new();
    let today = day("2024-07-12");
    let days: Vec<NaiveDate> = (0..120).map(|i| today - chrono::Days::new(i)).collect();
    for d in &days {
        t.file(&format!("{d}/part-0.csv"));
    }
    let p = t.policy(&one_policy(&["%Y-%m-%d/*"], "7d", "keep_daily: 5\nkeep_weekly: 6\nkeep_monthly: 4"));
    // keep: 7d at noon on the 12th: the 6th onwards is current, the 5th and older expired.
    let expired: Vec<NaiveDate> = days.iter().copied().filter(|d| *d < day("2024-07-06")).collect();
    assert_eq!(expired.len(), 113);
    let want = restic(&expired, [5, 6, 4, 0]);

    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let mut reasons: BTreeMap<NaiveDate, String> = BTreeMap::new();
    for l in plan.json().iter().filter(|l| l["type"] == "file" && l["action"] == "keep") {
        let rel = l["path"].as_str().unwrap().strip_prefix(&format!("{}/", t.root.display())).unwrap();
        let d = day(&rel[..10]);
        if d < day("2024-07-06") {
            let reason = l["reason"].as_str().unwrap();
            reasons.insert(d, reason.strip_prefix("kept as ").unwrap_or(reason).to_string());
        }
    }
    assert_eq!(reasons, want, "plan keeps restic's set, with the first rule that keeps each");
    let s = plan.summary();
    assert_eq!(s["policies"][0]["files"]["delete"], 113 - want.len());
    assert_eq!(s["policies"][0]["files"]["keep"], 7 + want.len());

    // The text report names the rule on the kept partitions' rows.
    let newest_weekly = want.iter().rev().find(|(_, r)| r.starts_with("weekly")).unwrap();
    t.sweep("plan", &p, NOW).arg("--verbose").code(0).stdout_has(&format!("kept as {}", newest_weekly.1));

    // explain walks the tree to say why a partition survived.
    let (d, why) = want.iter().find(|(_, r)| r.starts_with("monthly")).unwrap();
    let mut e = Sweep::new();
    e.args(["explain", "-c"]).arg(&p).args(["--now", NOW]).arg(t.path(&format!("{d}/part-0.csv")));
    e.code(0).stdout_has(&format!("kept as {why}"));

    t.sweep("apply", &p, NOW).code(0);
    let left: BTreeSet<NaiveDate> = t.listing().iter().map(|f| day(&f[..10])).collect();
    let mut expect: BTreeSet<NaiveDate> = want.keys().copied().collect();
    expect.extend(days.iter().filter(|d| **d >= day("2024-07-06")));
    assert_eq!(left, expect, "apply leaves exactly the current and the thinned-in partitions");
    // A second run deletes nothing more: the same rule over what is left keeps it all.
    let again = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(again.summary()["policies"][0]["files"]["delete"], 0);
}

#[test]
fn compression_round_trips_in_both_formats_and_keeps_mode_owner_and_mtime() {
    let data = csv(150_000); // about 4 MiB
    assert!(data.len() > 3 << 20);
    for (format, suffix) in [("zstd", "zst"), ("gzip", "gz")] {
        let t = Tree::new();
        t.file_bytes("2024-07-01/trades.csv", &data).file("2024-07-11/trades.csv");
        let src = t.path("2024-07-01/trades.csv");
        fs::set_permissions(&src, fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::chown(&src, Some(1234), Some(4321)).unwrap();
        t.mtime("2024-07-01/trades.csv", 1_719_900_000);
        let p = t.policy(&one_policy(
            &["%Y-%m-%d/*"],
            "30d",
            &format!("compress: {{after: 2d, format: {format}, level: 3}}"),
        ));

        let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
        let line = plan.json().into_iter().find(|l| l["action"] == "compress").expect("a compress line");
        assert_eq!(line["to"], format!("{}.{suffix}", src.display()));
        assert_eq!(line["bytes_before"], data.len());
        assert!(line.get("bytes_after").is_none(), "not known before compressing: {line}");
        assert!(src.exists(), "plan changes nothing");

        let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
        let line = done.json().into_iter().find(|l| l["action"] == "compress").unwrap();
        assert_eq!(line["outcome"], "compressed");
        let z = t.path(&format!("2024-07-01/trades.csv.{suffix}"));
        let m = fs::metadata(&z).unwrap();
        assert_eq!(line["bytes_after"], m.len());
        assert!(m.len() < data.len() as u64 / 2, "{format}: {} of {}", m.len(), data.len());
        assert_eq!((m.mode() & 0o7777, m.uid(), m.gid(), m.mtime()), (0o640, 1234, 4321, 1_719_900_000));
        assert_eq!(decompress(&z), data, "{format} round trip");
        assert_eq!(t.listing(), vec![format!("2024-07-01/trades.csv.{suffix}"), "2024-07-11/trades.csv".into()]);
        let s = done.summary();
        assert_eq!(s["policies"][0]["files"]["compress"], 1);
        assert_eq!(s["policies"][0]["compressed"], 1);
        assert_eq!(s["policies"][0]["compressed_bytes_after"], m.len());

        // The compressed file is the policy's and is left alone from now on.
        let again = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
        assert_eq!(again.summary()["policies"][0]["files"]["compress"], 0);
        assert_eq!(again.summary()["policies"][0]["files"]["keep"], 2);
    }
}

#[test]
fn a_run_killed_while_compressing_leaves_the_original_and_the_next_run_cleans_up() {
    let t = Tree::new();
    let data = csv(1_200_000); // about 32 MiB: seconds of work at level 19
    t.file_bytes("2024-07-01/big.csv", &data);
    let p = t.policy(&one_policy(&["%Y-%m-%d/*"], "30d", "compress: {after: 2d, format: zstd, level: 19}"));
    let mut child = t.sweep("apply", &p, NOW).command().stdout(std::process::Stdio::null()).spawn().unwrap();
    let dir = t.path("2024-07-01");
    let temporary = || {
        fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with(".sweep.") && n.ends_with(".compress"))
    };
    let started = Instant::now();
    let tmp = loop {
        if let Some(n) = temporary() {
            break n;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no temporary appeared within 30 s");
        assert!(child.try_wait().unwrap().is_none(), "sweep finished before it could be killed");
        std::thread::sleep(Duration::from_millis(2));
    };
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(fs::read(t.path("2024-07-01/big.csv")).unwrap(), data, "the original is intact");
    assert!(!t.exists("2024-07-01/big.csv.zst"), "no compressed file under the final name");
    assert!(t.exists(&format!("2024-07-01/{tmp}")), "the killed run's temporary is there");

    // The next plan reports it; the next apply removes it and does the job.
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let leftover: Vec<_> = plan.json().into_iter().filter(|l| l["type"] == "leftover").collect();
    assert_eq!(leftover.len(), 1, "{leftover:?}");
    assert!(leftover[0]["path"].as_str().unwrap().ends_with(&tmp));
    assert!(t.exists(&format!("2024-07-01/{tmp}")), "plan removes nothing");
    assert_eq!(plan.summary()["policies"][0]["files"]["unmatched"], 0, "a temporary is not unmatched");
    let p3 = t.policy(&one_policy(&["%Y-%m-%d/*"], "30d", "compress: {after: 2d, format: zstd, level: 1}"));
    let done = t.sweep("apply", &p3, NOW).args(["--format", "json"]).code(0);
    assert_eq!(done.summary()["policies"][0]["leftovers"], 1);
    assert_eq!(t.listing(), vec!["2024-07-01/big.csv.zst"]);
    assert_eq!(decompress(&t.path("2024-07-01/big.csv.zst")), data);
}

#[test]
fn a_temporary_another_run_is_writing_is_left_alone() {
    let t = Tree::new();
    t.file("2024-07-11/a.csv");
    let busy = t.path("2024-07-11/.sweep.00112233aabbccdd.compress");
    fs::write(&busy, b"partial").unwrap();
    let held = fs::File::open(&busy).unwrap();
    rustix::fs::flock(&held, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let p = t.policy(&one_policy(&["%Y-%m-%d/*"], "30d", ""));
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    assert!(done.json().iter().all(|l| l["type"] != "leftover"));
    assert!(busy.exists(), "a locked temporary belongs to a run in progress");
    drop(held);
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(done.summary()["policies"][0]["leftovers"], 1);
    assert!(!busy.exists());
}

fn archive_tree(t: &Tree) {
    t.file_bytes("2024-05-20/a.csv", b"a\n").file_bytes("2024-05-20/b.csv", b"bb\n");
    t.file_bytes("2024-05-21/n/c.csv", b"ccc\n").file("2024-07-11/today.csv");
    t.mtime("2024-05-20/a.csv", 1_716_200_000);
    fs::set_permissions(t.path("2024-05-20/b.csv"), fs::Permissions::from_mode(0o600)).unwrap();
}

fn archive_policy(t: &Tree, to: &Path) -> std::path::PathBuf {
    t.policy(&one_policy(&["%Y-%m-%d/**"], "90d", &format!("archive: {{after: 30d, to: {}}}", to.display())))
}

fn check_archived(t: &Tree, to: &Path, done: &Done) {
    assert_eq!(t.listing(), vec!["2024-07-11/today.csv"]);
    assert!(!t.exists("2024-05-20") && !t.exists("2024-05-21"), "directories emptied by moves are removed");
    assert_eq!(fs::read(to.join("2024-05-20/a.csv")).unwrap(), b"a\n");
    assert_eq!(fs::read(to.join("2024-05-20/b.csv")).unwrap(), b"bb\n");
    assert_eq!(fs::read(to.join("2024-05-21/n/c.csv")).unwrap(), b"ccc\n");
    assert_eq!(fs::metadata(to.join("2024-05-20/a.csv")).unwrap().mtime(), 1_716_200_000);
    assert_eq!(fs::metadata(to.join("2024-05-20/b.csv")).unwrap().mode() & 0o777, 0o600);
    let moves: Vec<_> = done.json().into_iter().filter(|l| l["action"] == "move").collect();
    assert_eq!(moves.len(), 3);
    for m in &moves {
        assert_eq!(m["outcome"], "moved");
        let rel = m["path"].as_str().unwrap().strip_prefix(&format!("{}/", t.root.display())).unwrap();
        assert_eq!(m["to"], to.join(rel).to_str().unwrap());
    }
    let s = done.summary();
    assert_eq!((s["policies"][0]["files"]["move"].as_u64(), s["policies"][0]["moved"].as_u64()), (Some(3), Some(3)));
}

#[test]
fn archive_on_the_same_filesystem_renames() {
    let t = Tree::new();
    archive_tree(&t);
    let to = t.dir.path().join("archive");
    fs::create_dir(&to).unwrap();
    let ino = fs::metadata(t.path("2024-05-20/a.csv")).unwrap().ino();
    let p = archive_policy(&t, &to);
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(plan.summary()["policies"][0]["files"]["move"], 3);
    assert_eq!(plan.summary()["policies"][0]["dirs_removed"], 3, "plan predicts the emptied directories");
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    check_archived(&t, &to, &done);
    assert_eq!(fs::metadata(to.join("2024-05-20/a.csv")).unwrap().ino(), ino, "a rename, not a copy");
}

#[test]
fn archive_to_another_filesystem_copies_syncs_verifies_and_unlinks() {
    let t = Tree::new();
    archive_tree(&t);
    let to = t.dir.path().join("archive");
    let _m = Tmpfs::mount(&to, "size=8m,mode=0755");
    let p = archive_policy(&t, &to);
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    check_archived(&t, &to, &done);
    let incoming: Vec<_> = fs::read_dir(to.join(".sweep-incoming")).unwrap().collect();
    assert!(incoming.is_empty(), "no copy is left behind: {incoming:?}");
}

#[test]
fn an_existing_destination_is_never_overwritten() {
    for other_fs in [false, true] {
        let t = Tree::new();
        archive_tree(&t);
        let to = t.dir.path().join("archive");
        let _m = other_fs.then(|| Tmpfs::mount(&to, "size=8m,mode=0755"));
        fs::create_dir_all(to.join("2024-05-20")).unwrap();
        fs::write(to.join("2024-05-20/a.csv"), b"older copy").unwrap();
        let p = archive_policy(&t, &to);
        let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(5);
        assert_eq!(fs::read(to.join("2024-05-20/a.csv")).unwrap(), b"older copy", "other_fs {other_fs}");
        assert_eq!(fs::read(t.path("2024-05-20/a.csv")).unwrap(), b"a\n", "the source stays");
        let failed = done.json().into_iter().find(|l| l["outcome"] == "failed").expect("a failed move");
        assert!(failed["path"].as_str().unwrap().ends_with("2024-05-20/a.csv"));
        assert!(failed["error"].as_str().unwrap().contains("exists"), "{failed}");
        assert!(!t.exists("2024-05-20/b.csv"), "the other files moved");
        assert!(t.exists("2024-05-20"), "a directory still holding a file stays");
    }
}

#[test]
fn a_missing_archive_fails_plan_and_apply_with_exit_5_and_moves_nothing() {
    let t = Tree::new();
    archive_tree(&t);
    let to = t.dir.path().join("no-such-archive");
    let p = archive_policy(&t, &to);
    let plan = t.sweep("plan", &p, NOW).code(5);
    plan.stdout_has("no-such-archive");
    let before = t.listing();
    t.sweep("apply", &p, NOW).code(5);
    assert_eq!(t.listing(), before);
    assert!(!to.exists());
}

#[test]
fn check_refuses_tiers_that_contradict_the_policy() {
    let t = Tree::new();
    let inside = t.path("archive");
    let cases = [
        (one_policy(&["%Y-%m-%d/*.csv"], "30d", "compress: {after: 2d}"), "match no layout"),
        (one_policy(&["%Y-%m-%d/*"], "30d", "compress: {after: 30d}"), "not shorter than keep"),
        (one_policy(&["%Y-%m-%d/*"], "30d", "archive: {after: 40d, to: /srv/elsewhere}"), "not shorter than keep"),
        (
            one_policy(&["%Y-%m-%d/*"], "30d", &format!("archive: {{after: 7d, to: {}}}", inside.display())),
            "outside the root",
        ),
        (one_policy(&["%Y-%m-%d/*"], "30d", "archive: {after: 7d, to: /etc}"), "system directory"),
    ];
    for (yaml, needle) in cases {
        let p = t.policy(&yaml);
        let mut s = Sweep::new();
        s.args(["check", "-c"]).arg(&p);
        let done = s.code(3);
        assert!(
            done.stdout().contains(needle) || done.stderr().contains(needle),
            "{needle}: {}{}",
            done.stdout(),
            done.stderr()
        );
        t.sweep("plan", &p, NOW).code(3);
    }
}

#[test]
fn max_delete_counts_deletions_only() {
    let t = Tree::new();
    for d in 1..=9 {
        t.file(&format!("2024-06-{d:02}/a.csv"));
    }
    t.file("2024-05-01/old.csv");
    let p = t.policy(&one_policy(&["%Y-%m-%d/*"], "60d", "compress: {after: 2d}\nmax_delete: 1"));
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    let s = &done.summary()["policies"][0];
    assert_eq!((s["files"]["compress"].as_u64(), s["files"]["delete"].as_u64()), (Some(9), Some(1)));
    assert!(s["refused"].is_null());
}

/// Names like sweep's own temporaries obey ownership and exclude like any file: removed
/// (and counted, as leftovers) only where the policy acts; excluded, in a table or owned
/// by a policy `--policy` did not select, they are files like any other.
#[test]
fn names_like_sweeps_temporaries_obey_ownership_and_exclude() {
    let t = Tree::new();
    let temp = ".sweep.0123456789abcdef.compress";
    let files = [
        format!("2024-07-12/{temp}"),
        format!("keep/{temp}"),
        format!("other/{temp}"),
        format!("tbl/{temp}"),
        "tbl/_delta_log/0.json".to_string(),
        "2024-07-12/a.csv".to_string(),
    ];
    for f in &files {
        t.file(f);
    }
    let p = t.policy(
        "version: 1\ndefaults:\n  timezone: UTC\n  on_unmatched: warn\npolicies:\n  - name: a\n    root: {root}\n    layouts: ['%Y-%m-%d/*']\n    keep: 30d\n    exclude: ['keep', 'tbl']\n  - name: b\n    root: {root}\n    layouts: ['other/*']\n    date_from: mtime\n    keep: 30d\n",
    );
    let done = t.sweep("apply", &p, "2024-07-12T12:00:00Z").args(["--format", "json", "--policy", "a"]).code(0);
    assert!(!t.exists(&files[0]), "in the policy's own partition: a leftover, removed");
    for f in &files[1..] {
        assert!(t.exists(f), "{f} is left alone");
    }
    let s = &done.summary()["policies"][0];
    assert_eq!(s["leftovers"], 1, "{s}");
    assert_eq!(s["foreign"], 1, "b's is b's: {s}");
    let lines = done.json();
    let excluded =
        lines.iter().find(|l| l["path"].as_str().is_some_and(|p| p.ends_with(&format!("keep/{temp}")))).unwrap();
    assert_eq!(excluded["action"], "protect", "{excluded}");
}

#[test]
fn entries_named_like_sweeps_temporaries_that_are_not_files_are_counted_as_any_other() {
    // sweep's temporaries are regular files: a symlink or a FIFO with such a name is an
    // entry like any other, counted (max_bytes, unmatched) and judged, never passed over.
    let t = Tree::new();
    t.file("2024-07-01/a.csv");
    let link = t.path("2024-07-01/.sweep.0123456789abcdef.compress");
    std::os::unix::fs::symlink("a.csv", &link).unwrap();
    let fifo = t.path("stray/.sweep.fedcba9876543210.move");
    fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo");
    let p = t.policy(&one_policy(&["%Y-%m-%d/*"], "1d", ""));
    let done = t.sweep("plan", &p, "2024-07-12T12:00:00Z").args(["--format", "json"]).code(7);
    let lines = done.json();
    let action = |name: &str| {
        let l = lines.iter().find(|l| l["path"].as_str().is_some_and(|p| p.ends_with(name)));
        l.map(|l| l["action"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(action(".sweep.0123456789abcdef.compress").as_deref(), Some("delete"), "{}", done.stdout());
    assert_eq!(action(".sweep.fedcba9876543210.move").as_deref(), Some("unmatched"), "{}", done.stdout());
    assert_eq!(done.summary()["policies"][0]["leftovers"], 0);
}
