//! One run, one plan: a tier chain's first real night (what the first policy moves, the
//! second decides in the same `plan`), `explain` saying what `apply` does (files held
//! open, refusals), completion markers that stay and keep their partitions, and a bind
//! mount under a root.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use chrono::{Duration, NaiveDate};
use serde_json::Value;

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

/// File lines by path: (policy, action, reason, to).
fn lines(done: &Done) -> BTreeMap<String, (String, String, String, Option<String>)> {
    done.json()
        .into_iter()
        .filter(|l| l["type"] == "file")
        .map(|l| {
            let s = |v: &Value| v.as_str().map(str::to_string);
            (
                s(&l["path"]).unwrap(),
                (s(&l["policy"]).unwrap(), s(&l["action"]).unwrap(), s(&l["reason"]).unwrap(), s(&l["to"])),
            )
        })
        .collect()
}

fn refusals(done: &Done) -> BTreeMap<String, Value> {
    done.summary()["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p["refused"].clone()))
        .collect()
}

/// The shipped lifecycle policy, with its roots in `t`'s scratch directory.
fn lifecycle(t: &Tree) -> std::path::PathBuf {
    let text =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/quotes-lifecycle.yaml")).unwrap();
    let dir = t.dir.path().display().to_string();
    let text =
        text.replace("/data/quotes", &format!("{dir}/quotes")).replace("/archive/quotes", &format!("{dir}/archive"));
    let p = t.dir.path().join("lifecycle.yaml");
    fs::write(&p, text).unwrap();
    p
}

/// Sixty nights of quotes: three files and a `_SUCCESS` a day, each written the evening
/// of its day.
fn sixty_days(t: &Tree) {
    let today = NaiveDate::from_ymd_opt(2024, 7, 12).unwrap();
    fs::create_dir_all(t.dir.path().join("archive")).unwrap();
    for back in 1..=60 {
        let d = today - Duration::days(back);
        let dir = t.dir.path().join(format!("quotes/{}", d.format("%Y-%m-%d")));
        fs::create_dir_all(&dir).unwrap();
        let evening = d.and_hms_opt(22, 0, 0).unwrap().and_utc().timestamp();
        for name in ["part-0001.csv", "part-0002.csv", "part-0003.csv", "_SUCCESS"] {
            fs::write(dir.join(name), format!("{name} of {d}\n").repeat(20)).unwrap();
            set_mtime(&dir.join(name), evening);
        }
    }
}

#[test]
fn the_shipped_lifecycle_plans_its_first_night_as_apply_runs_it() {
    let now = "2024-07-12T02:00:00-04:00";
    // With its max_delete: the archive policy is refused in plan as in apply.
    let t = Tree::new();
    sixty_days(&t);
    let p = lifecycle(&t);
    let plan = t.sweep("plan", &p, now).args(["--format", "json"]).output();
    let apply = t.sweep("apply", &p, now).args(["--format", "json"]).output();
    assert_eq!(plan.out.status.code(), Some(6), "{}", plan.stderr());
    assert_eq!(apply.out.status.code(), plan.out.status.code(), "{}", apply.stderr());
    assert_eq!(lines(&plan), lines(&apply), "plan lists what apply does, the archive's decisions included");
    assert_eq!(refusals(&plan), refusals(&apply));
    let archive = refusals(&plan)["quotes-archive"].clone();
    assert_eq!(archive["guard"], "max_delete", "the archive is refused for what arrives tonight: {archive}");
    let arrived = lines(&plan).into_iter().filter(|(_, l)| l.0 == "quotes-archive").count();
    assert_eq!(arrived, 31 * 4, "every file moved tonight is decided by the archive tonight");

    // Lifted for one night: plan lists every deletion apply makes.
    let t = Tree::new();
    sixty_days(&t);
    let p = lifecycle(&t);
    let plan = t.sweep("plan", &p, now).args(["--format", "json", "--max-delete", "100%"]).code(0);
    let apply = t.sweep("apply", &p, now).args(["--format", "json", "--max-delete", "100%"]).code(0);
    assert_eq!(lines(&plan), lines(&apply));
    let planned = lines(&plan);
    let deleted: Vec<&String> =
        planned.iter().filter(|(_, l)| l.0 == "quotes-archive" && l.1 == "delete").map(|(p, _)| p).collect();
    assert!(!deleted.is_empty());
    for path in &deleted {
        assert!(!Path::new(path).exists(), "{path} was planned deleted and is gone");
    }
    // What the archive keeps is one partition a week, the newest of each.
    let mut kept: Vec<String> = fs::read_dir(t.dir.path().join("archive"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    kept.sort();
    let weeks: Vec<u32> = kept
        .iter()
        .map(|d| chrono::Datelike::iso_week(&NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()).week())
        .collect();
    let mut unique = weeks.clone();
    unique.dedup();
    assert_eq!(weeks, unique, "one partition per ISO week: {kept:?}");
}

#[test]
fn explain_says_what_apply_does_with_a_file_held_open_and_with_a_refused_policy() {
    let t = Tree::new();
    t.files(&["2024-07-01/app.log", "2024-07-01/done.log", "2024-07-12/app.log"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/*"], "1d", ""));
    let held = fs::File::open(t.path("2024-07-01/app.log")).unwrap();
    let explain = Sweep::new()
        .args(["explain", "--format", "json", "--now", NOW, "-c"])
        .arg(&p)
        .arg(t.path("2024-07-01/app.log"))
        .arg(t.path("2024-07-01/done.log"))
        .code(0);
    let d: Vec<Value> = explain.json().iter().map(|l| l["decisions"][0].clone()).collect();
    assert_eq!(d[0]["action"], "protect", "{:?}", d[0]);
    assert_eq!(d[0]["reason"], format!("open by {} ({})", std::process::id(), comm()));
    assert_eq!(d[1]["action"], "delete");
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let by_path = lines(&plan);
    assert_eq!(by_path[&t.path("2024-07-01/app.log").display().to_string()].1, "protect");
    drop(held);

    // A refused policy: explain says what the file alone would get, and that nothing goes.
    let p = t.policy(&one_policy(&["%Y-%m-%d/*"], "1d", "max_delete: 1"));
    let explain = Sweep::new().args(["explain", "--now", NOW, "-c"]).arg(&p).arg(t.path("2024-07-01/done.log")).code(0);
    explain
        .stdout_has("decision  delete: would delete, but the policy is refused: max_delete: would delete 2 of 3 files");
}

/// This test binary's command name, as `/proc/PID/comm` gives it.
fn comm() -> String {
    fs::read_to_string("/proc/self/comm").unwrap().trim_end().to_string()
}

#[test]
fn a_marker_that_stays_keeps_every_file_beside_it() {
    let t = Tree::new();
    for d in ["2024-07-01", "2024-07-02", "2024-07-03"] {
        t.files(&[&format!("{d}/_SUCCESS"), &format!("{d}/part-0.csv"), &format!("{d}/part-1.csv")]);
        t.file(&format!("{d}/sub/part-2.csv"));
    }
    // The 1st's marker is held open; the 2nd's is younger than min_age.
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "markers: ['_SUCCESS']\nmin_age: 1h"));
    for d in ["2024-07-01", "2024-07-03"] {
        for f in ["_SUCCESS", "part-0.csv", "part-1.csv", "sub/part-2.csv"] {
            set_mtime(&t.path(&format!("{d}/{f}")), 1_720_000_000);
        }
    }
    for f in ["part-0.csv", "part-1.csv", "sub/part-2.csv"] {
        set_mtime(&t.path(&format!("2024-07-02/{f}")), 1_720_000_000);
    }
    set_mtime(&t.path("2024-07-02/_SUCCESS"), 1_720_785_000);
    let held = fs::File::open(t.path("2024-07-01/_SUCCESS")).unwrap();
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let apply = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    drop(held);
    assert_eq!(lines(&plan), lines(&apply));
    let l = lines(&apply);
    let at = |rel: &str| l[&t.path(rel).display().to_string()].clone();
    assert_eq!(at("2024-07-01/part-0.csv").1, "keep");
    assert_eq!(
        at("2024-07-01/part-0.csv").2,
        format!("marker _SUCCESS stays: open by {} ({})", std::process::id(), comm())
    );
    assert!(
        at("2024-07-02/part-1.csv").2.starts_with("marker _SUCCESS stays: modified"),
        "{:?}",
        at("2024-07-02/part-1.csv")
    );
    // Only the marker's own directory: a sub-directory is another partition's concern.
    assert_eq!(at("2024-07-01/sub/part-2.csv").1, "delete");
    let mut left = t.listing();
    left.sort();
    assert_eq!(
        left,
        [
            "2024-07-01/_SUCCESS",
            "2024-07-01/part-0.csv",
            "2024-07-01/part-1.csv",
            "2024-07-02/_SUCCESS",
            "2024-07-02/part-0.csv",
            "2024-07-02/part-1.csv"
        ],
        "the partition under a marker that stays is whole; the 3rd is gone"
    );
}

#[test]
fn a_marker_an_exclude_matches_is_a_validation_error() {
    let t = Tree::new();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "markers: ['_SUCCESS', '*.done']\nexclude: ['**/*.done']"));
    let done = Sweep::new().arg("check").arg("-c").arg(&p).code(3);
    done.stdout_has("marker `*.done` is also excluded (by `**/*.done`)");
    t.sweep("plan", &p, NOW).code(3);
}

/// A bind mount of another directory of the same filesystem under a root is a mount
/// point like any other: reported, not entered, not an error.
#[test]
fn a_bind_mount_under_a_root_is_a_mount_point_not_an_error() {
    let test = "a_bind_mount_under_a_root_is_a_mount_point_not_an_error";
    let Some(unshare) = required("unshare", test) else { return };
    if !rustix::process::geteuid().is_root() {
        missing(test, "root (to bind-mount inside a private mount namespace)");
        return;
    }
    let t = Tree::new();
    t.files(&["2024-07-01/a.csv", "2024-07-12/a.csv"]);
    fs::create_dir_all(t.path("2024-07-02")).unwrap();
    let src = t.dir.path().join("other");
    fs::create_dir_all(src.join("2024-06-01")).unwrap();
    fs::write(src.join("2024-06-01/keep-me.csv"), "x").unwrap();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    // In a private mount namespace: bind, run plan and apply, print both outputs.
    let script = r#"mount --bind "$1" "$2" || exit 97; "$3" plan -c "$4" --now "$5" --format json > "$6/plan.json"; echo $? > "$6/plan.rc"; "$3" apply -c "$4" --now "$5" --format json --lock-file "$6/lock" > "$6/apply.json"; echo $? > "$6/apply.rc""#;
    let out = std::process::Command::new(unshare)
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&src)
        .arg(t.path("2024-07-02"))
        .arg(BIN)
        .arg(&p)
        .arg(NOW)
        .arg(t.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read = |f: &str| fs::read_to_string(t.dir.path().join(f)).unwrap();
    assert_eq!(read("plan.rc").trim(), "0", "{}", read("plan.json"));
    assert_eq!(read("apply.rc").trim(), "0", "{}", read("apply.json"));
    let apply: Vec<Value> = read("apply.json").lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mounts: Vec<&Value> = apply.iter().filter(|l| l["type"] == "mount").collect();
    assert_eq!(mounts.len(), 1, "{apply:?}");
    assert!(mounts[0]["path"].as_str().unwrap().ends_with("/2024-07-02"));
    assert!(!apply.iter().any(|l| l["type"] == "file" && l["action"] == "error"), "no error: {apply:?}");
    assert!(src.join("2024-06-01/keep-me.csv").exists(), "nothing inside the bind mount was touched");
    assert!(!t.exists("2024-07-01/a.csv") && t.exists("2024-07-12/a.csv"));
}
