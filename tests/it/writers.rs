//! A writer that renames fresh files over old names while `apply` runs: under `min_age`,
//! none of them is ever deleted.
//!
//! Attacks on sweep running as root, each made for real (see tests/it/support/attack.rs):
//! the attacker is `nobody` (util-linux `setpriv`), kernel protections that would hide a
//! bug in sweep are turned off for the test and restored, mounts are made only in a
//! private mount namespace, and races are bounded in time.

use std::fs::{self};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::*;

use crate::support::attack::*;

/// Old files in the expired partition.
const OLD_FILES: usize = 3_000;
/// How long apply runs race the writer, at most (a run started is finished).
const WRITER_TIME: Duration = Duration::from_secs(5);

#[test]
fn files_renamed_into_place_while_apply_runs_are_never_deleted_under_min_age() {
    // A writer keeps replacing old files with fresh ones (write a temporary, rename it
    // over the old name) while apply deletes the partition. A fresh file is protected by
    // min_age whenever sweep looks at it; the danger is a name sweep examined while it
    // was old and deletes after the rename (v1: dozens per run).
    let started = Instant::now();
    let mut runs = 0;
    while runs == 0 || started.elapsed() < WRITER_TIME {
        runs += 1;
        let race = renaming_writer_race();
        eprintln!(
            "run {runs}: {} renames during apply, which deleted {} old files; {} fresh files lost",
            race.renames,
            race.deleted,
            race.lost.len()
        );
        assert!(
            race.lost.is_empty(),
            "run {runs}: sweep deleted {} fresh files renamed into place under min_age 1h ({} renames during \
             the run). Each was examined while old (its line has the old file's 4 bytes), and what was \
             unlinked was the fresh file renamed over its name since. (sweep 2 checks the file again just \
             before unlinkat, in tree::local::still_same, but by name, in a separate call: a rename \
             between the two is not seen.)\n{}",
            race.lost.len(),
            race.renames,
            race.lost.join("\n")
        );
    }
}

/// What one [`renaming_writer_race`] saw.
struct WriterRace {
    /// Renames the writer made during the run.
    renames: usize,
    /// Fresh files gone afterwards, each with sweep's line about its name.
    lost: Vec<String>,
    /// Files apply reports deleted.
    deleted: u64,
}

/// One apply of a partition of [`OLD_FILES`] old files (and `min_age: 1h`) while a
/// thread renames fresh files over their names.
fn renaming_writer_race() -> WriterRace {
    let t = Tree::new();
    let part = t.path("2024-07-01");
    fs::create_dir(&part).unwrap();
    for i in 0..OLD_FILES {
        let f = part.join(format!("f{i:04}"));
        fs::write(&f, "old\n").unwrap();
        set_mtime(&f, OLD_MTIME);
    }
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "min_age: 1h"));
    let tmp = t.dir.path().join("incoming");

    let stop = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let writer: JoinHandle<Vec<usize>> = {
        let (stop, part) = (Arc::clone(&stop), part.clone());
        std::thread::spawn(move || {
            let mut renamed = Vec::new();
            // A fixed walk over every name, in an order unrelated to the directory's.
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i = (i + 1_237) % OLD_FILES;
                fs::write(&tmp, "fresh\n").unwrap();
                fs::rename(&tmp, part.join(format!("f{i:04}"))).unwrap();
                renamed.push(i);
                if renamed.len() == 20 {
                    let _ = started_tx.send(());
                }
            }
            renamed
        })
    };
    // The directory holds fresh files before apply starts, so it is never removed.
    started_rx.recv_timeout(HANG).expect("the writer renames files");
    // The real clock: the fresh files are seconds old, the old ones years.
    let mut s = Sweep::new();
    s.args(["apply", "--format", "json", "-c"]).arg(&p).arg("--lock-file").arg(t.dir.path().join("sweep.lock"));
    let done = bounded(s.command(), "apply under the writer");
    stop.store(true, Ordering::Relaxed);
    let renamed = writer.join().unwrap();
    let stdout = done.stdout();
    // Two renames over one name inside sweep's check (set aside, compare, put back)
    // leave a fresh file sweep never examined with no name to go back to: it is kept
    // beside, and the deletion fails saying where (exit 5). That is the one failure a
    // writer may cause; every such file must be there, fresh.
    let kept: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("\"outcome\":\"failed\""))
        .map(|l| {
            let (_, name) = l.rsplit_once("it is kept as ").unwrap_or_else(|| panic!("an unexpected failure: {l}"));
            name.trim_end_matches("\"}")
        })
        .collect();
    for name in &kept {
        assert_eq!(fs::read(part.join(name)).unwrap(), b"fresh\n", "{name}: kept, and fresh");
    }
    expect_code(&done, if kept.is_empty() { 0 } else { 5 });
    let lost: Vec<String> = renamed
        .iter()
        .map(|i| format!("f{i:04}"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|n| fs::read(part.join(n)).map_or(true, |c| c != b"fresh\n"))
        .map(|n| {
            let line = stdout.lines().find(|l| l.contains(&format!("/{n}\""))).unwrap_or("(no line)");
            format!("{n}: {line}")
        })
        .collect();
    let s = done.summary();
    let deleted = s["policies"][0]["deleted"].as_u64().unwrap();
    assert!(deleted > 0, "apply deleted old files while the writer ran: {s}");
    for e in fs::read_dir(&part).unwrap() {
        let e = e.unwrap();
        assert_eq!(fs::read(e.path()).unwrap(), b"fresh\n", "{:?}: only fresh files are left", e.file_name());
    }
    WriterRace { renames: renamed.len(), lost, deleted }
}
