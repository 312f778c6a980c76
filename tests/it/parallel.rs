//! Parallel deletion (`--jobs`) and pacing (`--max-rate`): the same outcome whatever the
//! number of threads, every directory removed after everything in it, markers first in
//! every directory, and a paced run never faster than its rate.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

/// A tree with many directories at several depths, markers, kept and unmatched files.
fn tree() -> Tree {
    let t = Tree::new();
    for d in 1..=12u32 {
        for h in 0..6u32 {
            let dir = format!("dt=2024-07-{d:02}/hour={h:02}");
            for f in 0..25 {
                t.file(&format!("{dir}/part-{f:03}.parquet"));
            }
            t.file(&format!("{dir}/_SUCCESS"));
            t.file(&format!("{dir}/deep/er/x.crc"));
        }
    }
    t.file("staging/x.tmp");
    t
}

fn policy(t: &Tree) -> std::path::PathBuf {
    t.policy(&one_policy(&["dt=%Y-%m-%d/hour=%H/**"], "3d", "markers: ['_SUCCESS']\non_unmatched: warn"))
}

/// The JSON lines of a run, without their order (which is not significant across
/// directories when several threads delete), and its summary without timings (nor the
/// disk's numbers, which move with whatever else writes to the filesystem).
fn outcome(done: &Done) -> (BTreeSet<String>, Value) {
    let lines = done.json();
    let mut summary = lines.last().unwrap().clone();
    for p in summary["policies"].as_array_mut().unwrap() {
        p.as_object_mut()
            .unwrap()
            .retain(|k, _| !["duration_seconds", "rate", "disk_used_ratio", "forecast"].contains(&k.as_str()));
    }
    let rest = lines[..lines.len() - 1].iter().map(|l| l.to_string()).collect();
    (rest, summary)
}

#[test]
fn one_thread_and_eight_threads_leave_the_same_tree_and_say_the_same() {
    let (a, b) = (tree(), tree());
    let one = a.sweep("apply", &policy(&a), NOW).args(["--jobs", "1", "--format", "json"]).code(0);
    let eight = b.sweep("apply", &policy(&b), NOW).args(["--jobs", "8", "--format", "json"]).code(0);
    assert_eq!(a.listing(), b.listing(), "files left");
    let strip = |(lines, summary): (BTreeSet<String>, Value), root: &str| {
        (
            lines.into_iter().map(|l| l.replace(root, "ROOT")).collect::<BTreeSet<_>>(),
            summary.to_string().replace(root, "ROOT"),
        )
    };
    let (la, sa) = strip(outcome(&one), a.root.to_str().unwrap());
    let (lb, sb) = strip(outcome(&eight), b.root.to_str().unwrap());
    assert_eq!(la, lb, "JSON lines, modulo order");
    assert_eq!(sa, sb, "summary");
    // Nine days of six hours went, directories and all; three days stayed.
    assert_eq!(one.summary()["policies"][0]["deleted"], 9 * 6 * 27);
    assert_eq!(one.summary()["policies"][0]["dirs_removed"], 9 * 6 * 3 + 9);
    assert!(!a.exists("dt=2024-07-09") && a.exists("dt=2024-07-10/hour=00/_SUCCESS"));
}

#[test]
fn with_eight_threads_each_marker_still_goes_before_its_directory() {
    let t = tree();
    let done = t.sweep("apply", &policy(&t), NOW).args(["--jobs", "8", "--format", "json"]).code(0);
    // The marker's line comes first among its directory's deleted files: it was removed,
    // on the walk's own thread, before anything else of the directory was queued.
    let mut seen_marker = BTreeSet::new();
    for l in done.json().into_iter().filter(|l| l["outcome"] == "deleted") {
        let path = l["path"].as_str().unwrap();
        let (dir, name) = path.rsplit_once('/').unwrap();
        if name == "_SUCCESS" {
            seen_marker.insert(dir.to_string());
        } else if name.starts_with("part-") {
            assert!(seen_marker.contains(dir), "{path} went before its directory's marker");
        }
    }
    assert_eq!(seen_marker.len(), 9 * 6);
}

/// Every removed directory's line comes after the line of everything that was in it,
/// whichever threads deleted them: directories of more than one batch (256 files),
/// nested ones, many at once.
#[test]
fn with_eight_threads_a_directory_is_reported_after_everything_in_it() {
    let t = Tree::new();
    for d in 1..=6u32 {
        for h in 0..4u32 {
            for f in 0..300 {
                t.file(&format!("dt=2024-07-{d:02}/hour={h:02}/part-{f:03}"));
            }
            t.file(&format!("dt=2024-07-{d:02}/hour={h:02}/a/b/c"));
        }
    }
    let p = t.policy(&one_policy(&["dt=%Y-%m-%d/hour=%H/**"], "3d", ""));
    let done = t.sweep("apply", &p, NOW).args(["--jobs", "8", "--format", "json"]).code(0);
    let mut removed: Vec<String> = Vec::new();
    for l in done.json().iter().filter(|l| l["outcome"] == "deleted" || l["outcome"] == "removed") {
        let path = l["path"].as_str().unwrap();
        if let Some(dir) = removed.iter().find(|d| path.starts_with(&format!("{d}/"))) {
            panic!("{path} reported after its directory {dir}");
        }
        if l["type"] == "dir" {
            removed.push(path.to_string());
        }
    }
    // Six days of four hours, each with a/ and a/b/, and the days themselves.
    assert_eq!(removed.len(), 6 * 4 * 3 + 6);
}

#[test]
fn a_paced_run_takes_at_least_files_over_rate() {
    let t = Tree::new();
    for i in 0..60 {
        t.file(&format!("2024-07-01/{i:02}"));
    }
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "max_rate: 1000/s"));
    // The stricter of the policy's max_rate and --max-rate applies: 100 files a second.
    let started = Instant::now();
    let done = t.sweep("apply", &p, NOW).args(["--max-rate", "100/s", "--jobs", "4", "--format", "json"]).code(0);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(590), "60 files at 100/s took {took:?}");
    assert!(t.listing().is_empty());
    let rate = &done.summary()["policies"][0]["rate"];
    assert!(rate["files_per_second"].as_f64().unwrap() <= 105.0, "{rate}");
    // A byte rate paces by size: 8 files of 10 KiB at 40K/s take about 2 seconds.
    let t = Tree::new();
    for i in 0..8 {
        t.file_sized(&format!("2024-07-01/{i}"), 10 * 1024);
    }
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let started = Instant::now();
    t.sweep("apply", &p, NOW).args(["--max-rate", "40K/s"]).code(0);
    assert!(started.elapsed() >= Duration::from_millis(1700), "{:?}", started.elapsed());
    Sweep::new().args(["apply", "--max-rate", "fast", "-c"]).arg(&p).code(2).stderr_has("--max-rate");
}

/// Runs `s` on the first CPU this process may use, and no other.
fn on_one_cpu(s: &mut Sweep) -> &mut Sweep {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};
    use std::os::unix::process::CommandExt;
    let mine = sched_getaffinity(None).expect("affinity");
    let first = (0..CpuSet::MAX_CPU).find(|&c| mine.is_set(c)).expect("a CPU");
    let mut one = CpuSet::new();
    one.set(first);
    // SAFETY: only an async-signal-safe syscall (sched_setaffinity) runs between fork
    // and exec.
    unsafe {
        s.command().pre_exec(move || sched_setaffinity(None, &one).map_err(std::io::Error::from));
    }
    s
}

#[test]
fn a_plan_walked_on_several_threads_says_exactly_what_one_thread_says() {
    let test = "a_plan_walked_on_several_threads_says_exactly_what_one_thread_says";
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        missing(test, "a second CPU");
        return;
    }
    // Batches of every shape: a directory larger than a batch (1,024 entries), small
    // ones above and below the size worth splitting, sub-directories and symlinks
    // between files, unmatched names. Sizes differ file by file, so a result handed to
    // the wrong name would show.
    let t = Tree::new();
    for i in 0..2500usize {
        t.file_sized(&format!("2024-07-01/f{i:04}"), i % 97);
        if i % 400 == 0 {
            t.file(&format!("2024-07-01/sub{i}/x"));
        }
    }
    for d in 2..=11u32 {
        for i in 0..(d as usize * 3) {
            t.file_sized(&format!("2024-07-{d:02}/g{i}"), i * 7 + d as usize);
        }
    }
    std::os::unix::fs::symlink("/etc/passwd", t.path("2024-07-01/link")).unwrap();
    t.file("2024-07-11/unmatched/deeper/y");
    t.file_sized("notes.txt", 5);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "3d", "on_unmatched: warn"));
    let many = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let one = on_one_cpu(t.sweep("plan", &p, NOW).args(["--format", "json"])).code(0);
    let strip = |d: &Done| {
        let mut lines = d.json();
        for p in lines.last_mut().unwrap()["policies"].as_array_mut().unwrap() {
            p.as_object_mut()
                .unwrap()
                .retain(|k, _| !["duration_seconds", "rate", "disk_used_ratio", "forecast"].contains(&k.as_str()));
        }
        lines
    };
    let (many, one) = (strip(&many), strip(&one));
    // A line per file, per directory that would be removed, and the summary.
    assert_eq!(many.len(), (2500 + 7 + 3 * 65 + 3) + 16 + 1, "{:?}", many.last());
    assert_eq!(many, one, "the same lines, in the same order");
}

/// A run that may start some of its threads but not all (`RLIMIT_NPROC`, as a user with
/// no other processes) ends, says why, and touches nothing: the threads already started
/// must not wait forever for work that never comes.
#[test]
fn a_run_that_cannot_start_all_its_threads_ends_and_touches_nothing() {
    use std::os::unix::process::CommandExt;
    let test = "a_run_that_cannot_start_all_its_threads_ends_and_touches_nothing";
    // A user id nothing else runs as: the limit counts every process of the user.
    const UID: u32 = 64_999;
    let Some(user) = User::new(UID, UID, test) else { return };
    // --jobs 4 wants 8 threads besides the main one; each limit lets fewer start.
    for limit in 1..=6u64 {
        let t = tree();
        // It runs without CAP_SYS_PTRACE: skip_open could not judge, and would refuse.
        let p = t.policy(&one_policy(
            &["dt=%Y-%m-%d/hour=%H/**"],
            "3d",
            "markers: ['_SUCCESS']\non_unmatched: warn\nskip_open: false",
        ));
        let before = t.listing();
        let chown =
            std::process::Command::new("chown").arg("-R").arg(format!("{UID}:{UID}")).arg(t.dir.path()).status();
        assert!(chown.is_ok_and(|s| s.success()), "chown the tree");
        let mut s = t.sweep_as(&user, "apply", &p, NOW);
        s.args(["--jobs", "4", "--format", "json"]).env("XDG_RUNTIME_DIR", "");
        let c = s.command();
        // SAFETY: only an async-signal-safe syscall (setrlimit) runs between fork and exec.
        unsafe {
            c.pre_exec(move || {
                use rustix::process::{Resource, Rlimit, setrlimit};
                let l = Rlimit { current: Some(limit), maximum: Some(limit) };
                setrlimit(Resource::Nproc, l).map_err(std::io::Error::from)
            });
        }
        let done = bounded(c, &format!("apply with RLIMIT_NPROC {limit}"));
        let (stdout, stderr) = (done.stdout(), done.stderr());
        assert_eq!(done.out.status.code(), Some(5), "limit {limit}: exit 5 (error)\n{stdout}\n{stderr}");
        assert!(stdout.contains("Resource temporarily unavailable"), "limit {limit}: says why\n{stdout}");
        assert_eq!(t.listing(), before, "limit {limit}: nothing deleted");
    }
}
