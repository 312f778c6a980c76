//! `max_delete: auto` on real trees, night after night (`--now` stepping a day at a time,
//! new partitions written between runs): a month where it never fires, the retention
//! typo it refuses, the upstream that doubles and is let through, the first nights that
//! act as `2d`, and the state file as hostile ground — written by another user,
//! writable by others, truncated — which never crashes a run and never lifts the guard.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDate};
use serde_json::Value;

use crate::support::attack::Nobody;
use crate::support::*;

/// One file's size: partitions differ by their number of files.
const FILE: usize = 1000;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The nightly run's time on `d`.
fn night(d: NaiveDate) -> String {
    format!("{}T02:00:00Z", d.format("%Y-%m-%d"))
}

/// Writes the partition of `d` with `n` files; returns `n`.
fn partition(t: &Tree, d: NaiveDate, n: usize) -> usize {
    for i in 0..n {
        t.file_sized(&format!("{}/part-{i:03}.csv", d.format("%Y-%m-%d")), FILE);
    }
    n
}

/// Ten to fourteen files: a normal day's volume.
fn normal(d: NaiveDate) -> usize {
    10 + (d.format("%j").to_string().parse::<usize>().unwrap() * 7) % 5
}

fn policy(t: &Tree, keep: &str) -> PathBuf {
    t.policy(&one_policy(&["%Y-%m-%d/**"], keep, "max_delete: auto"))
}

/// `sweep SUB` with the test's state directory, as JSON.
fn run(t: &Tree, sub: &str, p: &Path, now: &str, state: &Path) -> Done {
    t.sweep(sub, p, now).arg("--state-dir").arg(state).args(["--format", "json"]).output()
}

#[track_caller]
fn code(done: &Done, want: i32) {
    assert_eq!(done.out.status.code(), Some(want), "--- stdout\n{}--- stderr\n{}", done.stdout(), done.stderr());
}

fn policy_of(done: &Done) -> Value {
    done.summary()["policies"][0].clone()
}

fn history(state: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(state.join("history.json")).unwrap()).unwrap()
}

/// Files in partitions dated before `cutoff`.
fn expired(t: &Tree, cutoff: NaiveDate) -> usize {
    t.listing().iter().filter(|f| NaiveDate::parse_from_str(&f[..10], "%Y-%m-%d").unwrap() < cutoff).count()
}

#[test]
fn a_month_of_nights_never_fires_lets_a_doubling_through_and_refuses_a_retention_typo() {
    let t = Tree::new();
    let state = t.dir.path().join("state");
    // May's partitions are there already; from the 25th upstream writes twice as much.
    for d in 1..=31 {
        let date = day(2024, 5, d);
        partition(&t, date, if d >= 25 { 2 * normal(date) } else { normal(date) });
    }
    let p = policy(&t, "30d");
    let mut deleted = Vec::new();
    for d in 1..=30 {
        let today = day(2024, 6, d);
        if d > 1 {
            partition(&t, today - Duration::days(1), normal(today));
        }
        let now = night(today);
        let want = expired(&t, today - Duration::days(29));
        let plan = run(&t, "plan", &p, &now, &state);
        let apply = run(&t, "apply", &p, &now, &state);
        code(&plan, 0);
        code(&apply, 0);
        let (planned, applied) = (policy_of(&plan), policy_of(&apply));
        assert_eq!(planned["max_delete_auto"], applied["max_delete_auto"], "plan and apply weigh the same");
        assert!(applied["refused"].is_null());
        assert_eq!(applied["deleted"], want as u64, "night {now}");
        let auto = &applied["max_delete_auto"];
        assert_eq!(auto["would_delete"], want as u64);
        // Every night so far deleted something; the first three act as 2d.
        let known = deleted.len();
        if known < 3 {
            assert_eq!(auto["acts_as"], "2d", "{now}: {auto}");
            assert!(auto["why"].as_str().unwrap().ends_with("known, 3 needed"), "{auto}");
            assert!(auto["learned"].is_null());
        } else {
            let l = &auto["learned"];
            assert_eq!(l["runs"], known.min(14) as u64, "{now}: {auto}");
            let last: Vec<u64> = deleted[known.saturating_sub(14)..].to_vec();
            let mut sorted = last.clone();
            sorted.sort_unstable();
            let n = sorted.len();
            let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2 };
            assert_eq!(l["median_files"], median, "{now}");
            assert_eq!(l["max_files"], *sorted.last().unwrap());
            assert_eq!(l["allowed_files"], 3 * median);
            let bytes: Vec<u64> = last.iter().map(|n| n * FILE as u64).collect();
            let mut sorted = bytes.clone();
            sorted.sort_unstable();
            let median_bytes = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2 };
            assert_eq!(l["median_bytes"], median_bytes, "{now}");
        }
        deleted.push(want as u64);
    }
    // The doubled partitions went through: more than any night before them, within 3×.
    // (The first night deleted two days: May's 1st and 2nd.)
    let before_growth = *deleted[1..23].iter().max().unwrap();
    assert!(deleted[23..].iter().all(|n| *n > before_growth && *n < 3 * before_growth), "{deleted:?}");
    // The history holds the last 14 nights, no more.
    let h = history(&state);
    let applies = h["policies"][0]["applies"].as_array().unwrap();
    assert_eq!(applies.len(), 14);
    assert_eq!(applies.iter().map(|a| a["files"].as_u64().unwrap()).collect::<Vec<_>>(), deleted[16..]);
    assert_eq!(h["policies"][0]["root"], t.root.display().to_string());

    // July 1st. Upstream wrote June 1st's partition with as many files as ever, each
    // fifty times as large: refused on bytes alone.
    let today = day(2024, 7, 1);
    partition(&t, day(2024, 6, 30), normal(today));
    let first = t.listing().into_iter().filter(|f| f.starts_with("2024-06-01/")).collect::<Vec<_>>();
    for f in &first {
        t.file_sized(f, 50 * FILE);
    }
    let bomb = run(&t, "apply", &p, &night(today), &state);
    code(&bomb, 6);
    let r = &policy_of(&bomb)["refused"];
    assert_eq!(r["code"], "max_delete_auto");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("would delete {} files", first.len())) && reason.contains("more bytes than that"),
        "{reason}"
    );
    assert_eq!(policy_of(&bomb)["max_delete_auto"]["would_delete_bytes"], (first.len() * 50 * FILE) as u64);

    // And someone types keep: 3d for keep: 30d.
    let typo = policy(&t, "3d");
    let now = night(today);
    let listing = t.listing();
    let kept_history = fs::read(state.join("history.json")).unwrap();
    let would = expired(&t, today - Duration::days(2)) as u64;
    let plan = run(&t, "plan", &typo, &now, &state);
    let apply = run(&t, "apply", &typo, &now, &state);
    code(&plan, 6);
    code(&apply, 6);
    let r = &policy_of(&apply)["refused"];
    assert_eq!(policy_of(&plan)["refused"], *r);
    assert_eq!((r["guard"].as_str(), r["code"].as_str()), (Some("max_delete auto"), Some("max_delete_auto")));
    assert_eq!(r["would_delete"], would);
    let reason = r["reason"].as_str().unwrap();
    let files = format!("would delete {would} files");
    for part in [files.as_str(), "the last 14 applies deleted", "auto allows 3×", "more files and bytes"] {
        assert!(reason.contains(part), "{part:?} in {reason}");
    }
    assert_eq!(t.listing(), listing, "nothing deleted");
    assert_eq!(fs::read(state.join("history.json")).unwrap(), kept_history, "a refused night teaches nothing");
    // In words, and in explain.
    let text = t.sweep("plan", &typo, &now).arg("--state-dir").arg(&state).code(6).stdout();
    assert!(text.contains("REFUSED by max_delete auto: would delete"), "{text}");
    assert!(text.contains("= max_delete auto: the last 14 applies deleted"), "{text}");
    let file = t.path("2024-06-02/part-000.csv");
    let ex = t.sweep("explain", &typo, &now).arg("--state-dir").arg(&state).arg(&file).code(0).stdout();
    assert!(ex.contains("would delete, but the policy is refused: max_delete auto: would delete"), "{ex}");
    assert!(ex.contains("note      max_delete auto: the last 14 applies deleted"), "{ex}");

    // The on-call override lifts it for one run, like any other value.
    let lifted = t.sweep("apply", &typo, &now).arg("--state-dir").arg(&state).args(["--max-delete", "100%"]).code(0);
    drop(lifted);
    assert_eq!(expired(&t, today - Duration::days(2)), 0);
}

#[test]
fn the_first_nights_act_as_2d_and_refuse_a_clock_jump() {
    let t = Tree::new();
    let state = t.dir.path().join("state");
    partition(&t, day(2024, 7, 1), 3);
    let p = policy(&t, "1d");
    // No history, and the clock a year ahead: refused as 2d refuses it.
    let jump = run(&t, "apply", &p, &night(day(2025, 7, 2)), &state);
    code(&jump, 6);
    let r = policy_of(&jump)["refused"].clone();
    assert_eq!((r["guard"].as_str(), r["code"].as_str()), (Some("max_delete auto"), Some("max_delete_auto_span")));
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "max_delete auto acts as 2d back from the cutoff (0 applies that deleted something known, 3 needed)"
        ),
        "{reason}"
    );
    assert_eq!(t.listing().len(), 3);
    assert!(!state.join("history.json").exists(), "nothing deleted, nothing recorded");

    // Nights that delete yesterday only, within 2d: allowed, and learned from.
    for d in 2..=10 {
        partition(&t, day(2024, 7, d), 3);
        let done = run(&t, "apply", &p, &night(day(2024, 7, d)), &state);
        code(&done, 0);
        assert_eq!(policy_of(&done)["deleted"], 3);
        let auto = &policy_of(&done)["max_delete_auto"];
        if d <= 4 {
            assert_eq!(auto["acts_as"], "2d", "night {d}: {auto}");
        } else {
            assert_eq!(auto["learned"]["median_files"], 3, "night {d}: {auto}");
        }
    }
    let st = fs::metadata(state.join("history.json")).unwrap();
    assert_eq!((st.uid(), st.mode() & 0o777), (rustix::process::geteuid().as_raw(), 0o644));
    assert_eq!(
        fs::metadata(&state).unwrap().mode() & 0o022,
        0,
        "created for the first record, for root alone to write"
    );
}

#[test]
fn check_accepts_auto_and_names_a_bad_factor() {
    let t = Tree::new();
    for v in ["auto", "auto(5x)"] {
        let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", &format!("max_delete: {v}")));
        Sweep::new().arg("check").arg("-c").arg(&p).code(0);
    }
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "max_delete: auto(1x)"));
    let out = Sweep::new().arg("check").arg("-c").arg(&p).code(3).stdout();
    assert!(out.contains("policy.yaml:8:") && out.contains("max_delete") && out.contains("from 2 to 100"), "{out}");
    // And on the command line.
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    t.sweep("plan", &p, "2024-07-12").args(["--max-delete", "auto(0x)"]).code(2);
}

/// What is left after the nights before the 11th of July: its 9th and 10th, which a
/// normal night on the 11th deletes (within 2d).
fn leave_two(t: &Tree) {
    for d in 1..=8 {
        fs::remove_dir_all(t.path(&format!("2024-07-{d:02}"))).unwrap();
    }
}

/// Ten days of partitions, and a history that, if believed, would let all ten go in one
/// night: a median of 1,000 files.
fn forged(t: &Tree, state: &Path) -> String {
    for d in 1..=10 {
        partition(t, day(2024, 7, d), 3);
    }
    let root = t.root.display().to_string();
    let applies: Vec<String> = (0..14).map(|i| format!("{{\"at\":{i},\"files\":1000,\"bytes\":1000000}}")).collect();
    fs::create_dir_all(state).unwrap();
    format!(
        "{{\"version\":1,\"policies\":[{{\"name\":\"t\",\"root\":\"{root}\",\"applies\":[{}]}}]}}\n",
        applies.join(",")
    )
}

#[test]
fn a_history_another_user_wrote_is_not_believed_and_auto_acts_as_2d() {
    const TEST: &str = "breaker::a_history_another_user_wrote_is_not_believed_and_auto_acts_as_2d";
    let Some(attacker) = Nobody::new(TEST) else { return };
    let t = crate::support::attack::open_tree();
    let state = t.dir.path().join("state");
    let text = forged(&t, &state);
    // The attacker writes it where it may, and it ends up in the state directory (a
    // careless `mv` by an administrator keeps its owner).
    let drop_dir = t.dir.path().join("drop");
    fs::create_dir(&drop_dir).unwrap();
    fs::set_permissions(&drop_dir, fs::Permissions::from_mode(0o777)).unwrap();
    let planted = drop_dir.join("history.json");
    fs::write(t.dir.path().join("forged"), &text).unwrap();
    attacker.run("cat \"$1\" > \"$2\"", &[&t.dir.path().join("forged"), &planted]);
    fs::rename(&planted, state.join("history.json")).unwrap();
    assert_eq!(fs::metadata(state.join("history.json")).unwrap().uid(), 65534);

    let p = policy(&t, "1d");
    let jump = run(&t, "apply", &p, &night(day(2024, 7, 11)), &state);
    code(&jump, 6);
    jump.stderr_has("max_delete auto acts as 2d: the history").stderr_has("is owned by uid 65534, not root");
    let auto = &policy_of(&jump)["max_delete_auto"];
    assert_eq!(auto["acts_as"], "2d");
    assert!(auto["why"].as_str().unwrap().starts_with("the history is not trusted"), "{auto}");
    assert_eq!(policy_of(&jump)["refused"]["code"], "max_delete_auto_span");
    assert_eq!(t.listing().len(), 30, "the forged median lifted nothing");

    // A normal night goes ahead, and replaces the forged file with root's own.
    leave_two(&t);
    let ok = run(&t, "apply", &p, &night(day(2024, 7, 11)), &state);
    code(&ok, 0);
    let st = fs::metadata(state.join("history.json")).unwrap();
    assert_eq!(st.uid(), 0);
    let h = history(&state);
    assert_eq!(h["policies"][0]["applies"].as_array().unwrap().len(), 1, "the forged entries are gone: {h}");
}

#[test]
fn a_history_others_can_write_is_not_believed_nor_written() {
    let t = Tree::new();
    let state = t.dir.path().join("state");
    let text = forged(&t, &state);
    fs::write(state.join("history.json"), &text).unwrap();
    let p = policy(&t, "1d");

    // The file writable by others.
    fs::set_permissions(state.join("history.json"), fs::Permissions::from_mode(0o666)).unwrap();
    let done = run(&t, "plan", &p, &night(day(2024, 7, 11)), &state);
    code(&done, 6);
    done.stderr_has("is writable by group or others (mode 0666)");

    // The directory writable by others: not read, and not written either.
    fs::set_permissions(state.join("history.json"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(&state, fs::Permissions::from_mode(0o777)).unwrap();
    let done = run(&t, "apply", &p, &night(day(2024, 7, 11)), &state);
    code(&done, 6);
    done.stderr_has("the state directory").stderr_has("is writable by group or others (mode 0777)");
    leave_two(&t);
    let ok = run(&t, "apply", &p, &night(day(2024, 7, 11)), &state);
    code(&ok, 0);
    ok.stderr_has("not recording the max_delete auto history");
    assert_eq!(fs::read_to_string(state.join("history.json")).unwrap(), text, "untouched");
}

#[test]
fn a_truncated_history_neither_crashes_nor_lifts_the_guard() {
    let t = Tree::new();
    let state = t.dir.path().join("state");
    let text = forged(&t, &state);
    fs::write(state.join("history.json"), &text[..text.len() / 2]).unwrap();
    let p = policy(&t, "1d");
    let jump = run(&t, "apply", &p, &night(day(2024, 7, 11)), &state);
    code(&jump, 6);
    jump.stderr_has("max_delete auto acts as 2d").stderr_has("history.json is corrupt (");
    assert_eq!(policy_of(&jump)["refused"]["code"], "max_delete_auto_span");
    assert_eq!(t.listing().len(), 30);
    // A normal night deletes, and writes a history that reads back.
    leave_two(&t);
    let ok = run(&t, "apply", &p, &night(day(2024, 7, 11)), &state);
    code(&ok, 0);
    assert_eq!(history(&state)["policies"][0]["applies"][0]["files"], 6);
    let again = run(&t, "plan", &p, &night(day(2024, 7, 12)), &state);
    code(&again, 0);
    assert!(again.stderr().is_empty(), "{}", again.stderr());
    for d in 1..=10 {
        partition(&t, day(2024, 7, d), 3);
    }
    // An empty file, a directory in its place, a symlink: none crashes a run.
    for (what, make) in [
        ("empty", Box::new(|p: &Path| fs::write(p, b"").unwrap()) as Box<dyn Fn(&Path)>),
        ("a directory", Box::new(|p: &Path| fs::create_dir(p).unwrap())),
        ("a symlink", Box::new(|p: &Path| std::os::unix::fs::symlink("/etc/hostname", p).unwrap())),
    ] {
        let h = state.join("history.json");
        let _ = fs::remove_file(&h);
        let _ = fs::remove_dir(&h);
        make(&h);
        let done = run(&t, "plan", &p, &night(day(2024, 7, 11)), &state);
        code(&done, 6);
        assert!(done.stderr().contains("max_delete auto acts as 2d"), "{what}: {}", done.stderr());
    }
}

#[test]
fn a_history_that_cannot_be_written_fails_the_apply_with_5() {
    let t = Tree::new();
    partition(&t, day(2024, 7, 1), 2);
    let p = policy(&t, "1d");
    // A parent that is a file: the directory cannot be made.
    let blocker = t.dir.path().join("not-a-dir");
    fs::write(&blocker, b"").unwrap();
    let state = blocker.join("state");
    let done = run(&t, "apply", &p, &night(day(2024, 7, 2)), &state);
    code(&done, 5);
    done.stderr_has("cannot record the max_delete auto history");
    assert!(t.listing().is_empty(), "the deletions themselves were done");
    // plan does not write it.
    partition(&t, day(2024, 7, 1), 2);
    code(&run(&t, "plan", &p, &night(day(2024, 7, 2)), &state), 0);
}
