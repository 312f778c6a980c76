//! Keeping the disk alive and hearing the upstream, on real filesystems: capacity
//! targets on a small tmpfs the age plan alone cannot save, `max_bytes` on an ordinary
//! directory, hard links that free nothing, `min_free_inodes` on a filesystem with few
//! inodes, freshness, dates in the future, and files a process holds open.

use std::fs;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";
const MIB: usize = 1 << 20;

/// A tree on its own tmpfs of `mib` MiB, with one file of `size` bytes in each of the
/// given daily partitions.
fn full_disk(mib: u64, days: &[u32], size: usize) -> (Tree, Tmpfs) {
    let t = Tree::new();
    let m = Tmpfs::mount(&t.root, &format!("size={mib}m"));
    for d in days {
        t.file_sized(&format!("2024-07-{d:02}/part-0.bin"), size);
    }
    (t, m)
}

fn partitions(t: &Tree) -> Vec<String> {
    let mut v: Vec<String> = t.listing().iter().map(|f| f.split('/').next().unwrap().to_string()).collect();
    v.dedup();
    v
}

fn capacity(done: &Done) -> Value {
    done.summary()["policies"][0]["capacity"].clone()
}

#[test]
fn min_free_deletes_the_oldest_kept_partitions_until_met() {
    // 20 MiB, 12 partitions of 1 MiB: 8 MiB free. keep 10d expires the 1st and 2nd; the
    // age plan alone leaves 10 MiB free, below min_free 60% (12 MiB).
    let days: Vec<u32> = (1..=12).collect();
    let (t, m) = full_disk(20, &days, MIB);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "10d", "min_free: 60%\nkeep_min: 3d"));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let c = capacity(&plan);
    assert_eq!(c["met"], true);
    assert_eq!(c["deleted_for_space"], 2);
    assert_eq!(c["min_free"], 12 * MIB as u64);
    assert_eq!(c["free_before"], m.free());
    let reasons: Vec<String> = plan
        .json()
        .iter()
        .filter(|l| l["type"] == "file" && l["reason"].as_str().unwrap().starts_with("for space"))
        .map(|l| l["path"].as_str().unwrap().rsplit('/').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(reasons, vec!["2024-07-03", "2024-07-04"], "the oldest kept partitions, oldest first");

    let apply = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(apply.actions(&t.root), plan.actions(&t.root), "plan predicts apply");
    assert_eq!(partitions(&t), (5..=12).map(|d| format!("2024-07-{d:02}")).collect::<Vec<_>>());
    let c = capacity(&apply);
    assert!(c["free_after"].as_u64().unwrap() >= 12 * MIB as u64, "{c}");
    assert_eq!(c["free_after"], m.free(), "the real free space after");
    let text = t.sweep("plan", &p, NOW).code(0).stdout();
    assert!(text.contains("capacity min_free 60% = 12.00 MiB: free 12.00 MiB before"), "{text}");
}

#[test]
fn the_keep_min_floor_stops_capacity_and_the_run_exits_8_saying_what_is_missing() {
    let days: Vec<u32> = (1..=12).collect();
    let (t, _m) = full_disk(20, &days, MIB);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "10d", "min_free: 90%\nkeep_min: 3d"));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(8);
    let c = capacity(&plan);
    assert_eq!(c["met"], false);
    assert_eq!(c["missing"]["free"], MIB as u64, "{c}");
    let apply = t.sweep("apply", &p, NOW).code(8);
    apply.stdout_has("capacity target not met: 1.00 MiB of free space still missing; the floor (keep_min 3d)");
    // Nothing inside keep_min went: the 10th, 11th and 12th are its three days.
    assert_eq!(partitions(&t), vec!["2024-07-10", "2024-07-11", "2024-07-12"]);
}

#[test]
fn several_policies_on_one_filesystem_are_served_in_run_order() {
    // Two policies on one tmpfs: the second sees what the first frees, in plan as in apply.
    let t = Tree::new();
    let _m = Tmpfs::mount(&t.root, "size=20m");
    for d in 1..=6u32 {
        t.file_sized(&format!("a/2024-07-{d:02}/x.bin"), 2 * MIB);
    }
    for d in 7..=12u32 {
        t.file_sized(&format!("b/2024-07-{d:02}/x.bin"), MIB);
    }
    // 18 MiB used, 2 free. Policy a keeps 11 days (the 1st expires: 4 free); min_free 10 MiB
    // is met by a, deleting its 2nd to 4th for space (10 free). b then needs nothing.
    let p = t.policy(
        "version: 1\ndefaults:\n  timezone: UTC\n  min_free: 10M\n  keep_min: 1d\npolicies:\n  - name: a\n    root: {root}/a\n    layouts: ['%Y-%m-%d/**']\n    keep: 11d\n  - name: b\n    root: {root}/b\n    layouts: ['%Y-%m-%d/**']\n    keep: 30d\n",
    );
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let s = plan.summary();
    assert_eq!(s["policies"][0]["capacity"]["deleted_for_space"], 3);
    assert_eq!(s["policies"][1]["capacity"]["deleted_for_space"], 0, "b sees what a frees");
    let apply = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(apply.actions(&t.root), plan.actions(&t.root));
    assert_eq!(apply.summary()["policies"][1]["capacity"]["met"], true);
}

#[test]
fn max_bytes_caps_the_policys_own_files_on_an_ordinary_directory() {
    let t = Tree::new();
    for d in 1..=10u32 {
        t.file_sized(&format!("2024-07-{d:02}/a"), 1000);
        t.file_sized(&format!("2024-07-{d:02}/b"), 1000);
    }
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "30d", "max_bytes: 12000\nkeep_min: 2d"));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let c = capacity(&plan);
    assert_eq!((c["bytes_before"].as_u64(), c["bytes_after"].as_u64()), (Some(20_000), Some(12_000)));
    t.sweep("apply", &p, NOW).code(0);
    assert_eq!(partitions(&t), (5..=10).map(|d| format!("2024-07-{d:02}")).collect::<Vec<_>>());
}

#[test]
fn hard_linked_files_free_nothing() {
    let (t, m) = full_disk(20, &[5, 6, 7, 8, 9, 10, 11, 12], 2 * MIB);
    // The 5th's file has a second link (in a directory the policy excludes): deleting it
    // frees nothing.
    fs::create_dir(m.0.join("keep")).unwrap();
    fs::hard_link(t.path("2024-07-05/part-0.bin"), m.0.join("keep/elsewhere.bin")).unwrap();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "30d", "min_free: 8M\nkeep_min: 1d\nexclude: ['keep']"));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let c = capacity(&plan);
    // 4 MiB free; the 5th frees 0, the 6th and 7th 2 MiB each: three partitions go.
    assert_eq!(c["partitions_for_space"], 3, "{c}");
    assert_eq!(c["bytes_freed_for_space"], 4 * MIB as u64);
    t.sweep("apply", &p, NOW).code(0);
    assert!(m.free() >= 8 * MIB as u64);
}

#[test]
fn min_free_inodes_counts_files_and_directories() {
    let t = Tree::new();
    let m = Tmpfs::mount(&t.root, "size=20m,nr_inodes=64");
    for d in 1..=12u32 {
        for f in 0..3 {
            t.file(&format!("2024-07-{d:02}/{f}"));
        }
    }
    let st = rustix::fs::statvfs(&m.0).unwrap();
    let free = st.f_favail;
    // Each partition is 3 files and its directory: 4 inodes. Ask for 8 more than free.
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "30d", &format!("min_free_inodes: {}\nkeep_min: 1d", free + 8)));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(capacity(&plan)["partitions_for_space"], 2);
    t.sweep("apply", &p, NOW).code(0);
    assert_eq!(partitions(&t).len(), 10);
    assert!(rustix::fs::statvfs(&m.0).unwrap().f_favail >= free + 8);
}

#[test]
fn freshness_fresh_stale_and_empty() {
    let t = Tree::new();
    t.files(&["2024-07-11/a", "2024-07-12/a"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "7d", "expect_fresh: 26h"));
    // 12:00 on the 12th: today's partition ends tonight — fresh.
    let done = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(done.summary()["policies"][0]["fresh"]["stale"], false);
    // Three days later, the newest (the 12th) ended 2 days 12 hours ago: stale, exit 9.
    let done = t.sweep("plan", &p, "2024-07-15T12:00:00Z").code(9);
    done.stdout_has("stale: newest partition 2024-07-12 ended 2d12h ago (expect_fresh 26h)")
        .stdout_has("exit 9: stale data");
    // The metric is written whether or not expect_fresh is set.
    let m = t.dir.path().join("m.prom");
    t.sweep("plan", &p, "2024-07-15T12:00:00Z").arg("--metrics-file").arg(&m).code(9);
    let prom = fs::read_to_string(&m).unwrap();
    assert!(prom.contains("sweep_newest_partition_timestamp_seconds{policy=\"t\"} 1720828800\n"), "{prom}");
    assert!(prom.contains("sweep_stale{policy=\"t\"} 1\n"), "{prom}");
    // An empty root is stale too: nothing arrived at all.
    fs::remove_dir_all(t.path("2024-07-11")).unwrap();
    fs::remove_dir_all(t.path("2024-07-12")).unwrap();
    t.sweep("plan", &p, NOW).code(9).stdout_has("stale: no partition under");
    // 9 is the weakest code: unmatched files (7) win.
    t.file("staging/x");
    t.sweep("plan", &p, NOW).code(7);
}

#[test]
fn future_partitions_are_unmatched_and_never_the_newest_for_keep_last() {
    // A clock bug upstream wrote partitions dated next year. keep_last 2 must keep the
    // two newest real partitions, not the bogus ones.
    let t = Tree::new();
    t.files(&["2024-07-01/a", "2024-07-02/a", "2024-07-03/a", "2025-07-01/a", "2025-07-02/a"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "keep_last: 2\non_unmatched: warn"));
    let done = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(
        done.actions(&t.root),
        pairs(&[
            ("2024-07-01/a", "delete"),
            ("2024-07-02/a", "protect"),
            ("2024-07-03/a", "protect"),
            ("2025-07-01/a", "unmatched"),
            ("2025-07-02/a", "unmatched"),
        ])
    );
    let reason = done.json().iter().find(|l| l["action"] == "unmatched").unwrap()["reason"].clone();
    assert!(reason.as_str().unwrap().starts_with("dated in the future"), "{reason}");
    assert_eq!(done.summary()["policies"][0]["future"], 2);
}

#[test]
fn open_files_are_protected_and_deleted_open_files_are_reported() {
    let t = Tree::new();
    // Its own filesystem, so that no other process's deleted files are counted.
    let _m = Tmpfs::mount(&t.root, "size=20m");
    t.files(&["2024-07-01/app.log", "2024-07-01/old.log", "2024-07-01/gone.log"]);
    t.file_sized("2024-07-01/gone.log", 3 * MIB);
    // One process writes app.log; another holds gone.log, which is then deleted under it.
    let hold = |f: &str| {
        Command::new("sleep").arg("30").stdin(fs::File::open(t.path(f)).unwrap()).stdout(Stdio::null()).spawn().unwrap()
    };
    let mut writer = hold("2024-07-01/app.log");
    let mut holder = hold("2024-07-01/gone.log");
    fs::remove_file(t.path("2024-07-01/gone.log")).unwrap();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).output();
    let text = t.sweep("plan", &p, NOW).output();
    let _ = writer.kill();
    let _ = holder.kill();
    let _ = writer.wait();
    let _ = holder.wait();
    assert_eq!(done.out.status.code(), Some(0), "{}", done.stderr());
    let line = done.json().into_iter().find(|l| l["path"].as_str().is_some_and(|p| p.ends_with("app.log"))).unwrap();
    assert_eq!(line["action"], "protect");
    assert_eq!(line["reason"], format!("open by {} (sleep)", writer.id()));
    assert_eq!(t.listing(), vec!["2024-07-01/app.log"]);
    let s = done.summary();
    assert_eq!(s["policies"][0]["open"], 1);
    // The disk line says what the deleted-but-open file still holds.
    let out = text.stdout();
    assert!(out.contains("deleted but still open hold 3.00 MiB"), "{out}");
}

/// A loop-mounted ext4 filesystem of `mib` MiB (no reserved blocks), unmounted and
/// detached when dropped.
struct LoopFs {
    mnt: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl LoopFs {
    fn new(mib: u64, test: &str) -> Option<LoopFs> {
        let mkfs = required("mkfs.ext4", test)?;
        if !rustix::process::geteuid().is_root() {
            missing(test, "root (to mount a loop filesystem)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("fs.img");
        fs::File::create(&img).unwrap().set_len(mib << 20).unwrap();
        let ok = Command::new(mkfs).args(["-F", "-q", "-m", "0"]).arg(&img).status().unwrap();
        assert!(ok.success(), "mkfs.ext4");
        let mnt = dir.path().join("mnt");
        fs::create_dir(&mnt).unwrap();
        let ok = Command::new("mount").args(["-o", "loop"]).arg(&img).arg(&mnt).status().unwrap();
        assert!(ok.success(), "mounting a loop filesystem must work as root on this machine kind");
        Some(LoopFs { mnt, _dir: dir })
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-d").arg(&self.mnt).status();
    }
}

/// Another user fills the shared filesystem: capacity deletes for space only within the
/// span of `max_delete` after the cutoff, however full it gets, says which floor stopped
/// it, exits 8, and reports what the others hold.
#[test]
fn a_neighbour_who_fills_the_disk_cannot_make_capacity_delete_more_than_max_delete_allows() {
    let test = "a_neighbour_who_fills_the_disk_cannot_make_capacity_delete_more_than_max_delete_allows";
    let Some(lfs) = LoopFs::new(64, test) else { return };
    let Some(_) = required("setpriv", test) else { return };
    let root = lfs.mnt.join("data");
    let today = chrono::NaiveDate::from_ymd_opt(2024, 7, 12).unwrap();
    for back in 0..32 {
        let d = today - chrono::Duration::days(back);
        let dir = root.join(d.format("%Y-%m-%d").to_string());
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("part-0.bin"), vec![7u8; MIB]).unwrap();
    }
    // nobody, in a directory of its own on the same filesystem, fills it.
    let theirs = lfs.mnt.join("nobody");
    fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let fill = User::NOBODY
        .command("dd")
        .args(["if=/dev/zero", "bs=1M"])
        .arg(format!("of={}", theirs.join("fill").display()))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!fill.success(), "dd stops when the filesystem is full");
    let filled = fs::metadata(theirs.join("fill")).unwrap().len();

    let t = Tree::new();
    let p = t.policy(
        &one_policy(&["%Y-%m-%d/**"], "30d", "min_free: 15%\nmax_delete: 2d\nkeep_min: 1d")
            .replace("{root}", root.to_str().unwrap()),
    );
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(8);
    let apply = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(8);
    assert_eq!(apply.actions(&root), plan.actions(&root), "plan predicts apply");
    let mut left: Vec<String> =
        fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    left.sort();
    let want: Vec<String> =
        (0..28).rev().map(|b| (today - chrono::Duration::days(b)).format("%Y-%m-%d").to_string()).collect();
    assert_eq!(left, want, "the two expired days went by age, two more for space, and no more");
    let c = capacity(&apply);
    assert_eq!(c["met"], false);
    assert_eq!(c["deleted_for_space"], 2);
    let others = c["used_by_others"].as_u64().unwrap();
    assert!(others >= filled && others < filled + 4 * MIB as u64, "used_by_others {others}, nobody wrote {filled}");
    let problems = apply.summary()["policies"][0]["problems"].to_string();
    assert!(problems.contains("max_delete 2d"), "the floor that stopped it is named: {problems}");
    let text = t.sweep("plan", &p, NOW).code(8);
    text.stdout_has("others use");
}

/// A filesystem that reports no size (tmpfs `size=0`, some FUSE and btrfs setups)
/// cannot be judged: nothing goes for space, every night, and the run says so.
#[test]
fn a_filesystem_that_reports_no_size_cannot_be_judged_and_nothing_goes_for_space() {
    let t = Tree::new();
    let _m = Tmpfs::mount(&t.root, "size=0,nr_inodes=0");
    for d in 1..=12 {
        t.file_sized(&format!("2024-07-{d:02}/part-0.bin"), 1000);
    }
    let before = t.listing();
    for extra in ["min_free: 1G", "min_free: 50%", "min_free_inodes: 1000"] {
        let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "30d", &format!("{extra}\nkeep_min: 1d")));
        let m = t.dir.path().join("sweep.prom");
        let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(8);
        let apply = t.sweep("apply", &p, NOW).args(["--format", "json"]).arg("--metrics-file").arg(&m).code(8);
        assert_eq!(plan.actions(&t.root), apply.actions(&t.root));
        assert_eq!(t.listing(), before, "{extra}: nothing deleted");
        let c = capacity(&apply);
        assert_eq!(c["deleted_for_space"], 0);
        assert!(c["unknown"].as_str().unwrap().starts_with("cannot judge free space on"), "{c}");
        let metrics = fs::read_to_string(&m).unwrap();
        assert!(metrics.contains("sweep_capacity_unknown{policy=\"t\"} 1"), "{metrics}");
    }
    // A target that needs no filesystem numbers still works there.
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "30d", "max_bytes: 5000\nkeep_min: 1d"));
    t.sweep("apply", &p, NOW).code(0);
    assert_eq!(t.listing().len(), 5);
}

#[test]
fn a_capacity_target_without_keep_min_is_invalid() {
    let t = Tree::new();
    for target in ["min_free: 10%", "min_free_inodes: 1000", "max_bytes: 1G"] {
        let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "30d", target));
        let done = Sweep::new().arg("check").arg("-c").arg(&p).code(3);
        done.stdout_has("needs `keep_min`");
    }
}
