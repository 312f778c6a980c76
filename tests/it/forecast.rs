//! Foresight on filesystems of known size: the forecast's numbers (`bytes_per_period`,
//! `footprint`, `room`, `fit`) against a calculation made here from the tree the test
//! wrote and the filesystem's own `statvfs` — one policy with and without
//! `disk_fail_above`, several policies sharing a filesystem, `date_from: mtime`, no
//! complete partition — in the JSON summary, the text line and the metrics file.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";
const DAY: i64 = 86_400;
/// 2024-07-12T00:00:00Z.
const TODAY: i64 = 1_720_742_400;
/// Partition sizes are multiples of this: what tmpfs allocates exactly.
const UNIT: u64 = 256 * 1024;

/// A scratch tree whose `fs/` is a tmpfs of `mib` MiB; policy roots go below it.
struct Disk {
    t: Tree,
    fs: PathBuf,
    _mount: Tmpfs,
}

impl Disk {
    fn new(mib: u64) -> Disk {
        let t = Tree::new();
        let fs = t.dir.path().join("fs");
        let mount = Tmpfs::mount(&fs, &format!("size={mib}m"));
        Disk { t, fs, _mount: mount }
    }

    /// Writes `bytes` at `rel` below the tmpfs.
    fn write(&self, rel: &str, bytes: u64) -> PathBuf {
        let p = self.fs.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, vec![b'x'; bytes as usize]).unwrap();
        p
    }

    /// The filesystem as the test sees it before a run: its size as `df`'s Use% counts it
    /// (used plus available), and the bytes used.
    fn statvfs(&self) -> (u64, u64) {
        let st = rustix::fs::statvfs(&self.fs).unwrap();
        ((st.f_blocks - st.f_bfree + st.f_bavail) * st.f_frsize, (st.f_blocks - st.f_bfree) * st.f_frsize)
    }
}

/// Bytes on disk of every file below `dir`, as `du` counts them.
fn du(dir: &Path) -> u64 {
    let mut sum = 0;
    for e in walkdir::WalkDir::new(dir) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            sum += e.metadata().unwrap().blocks() * 512;
        }
    }
    sum
}

fn median(v: &[u64]) -> u64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2 }
}

fn policy_json<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["policies"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()
}

/// The forecast of `name`, as (bytes_per_period, footprint, room, fit).
#[track_caller]
fn forecast(summary: &Value, name: &str) -> (u64, u64, u64, f64) {
    let f = &policy_json(summary, name)["forecast"];
    assert!(f.is_object(), "{name} has no forecast: {summary}");
    (
        f["bytes_per_period"].as_u64().unwrap(),
        f["footprint"].as_u64().unwrap(),
        f["room"].as_u64().unwrap(),
        f["fit"].as_f64().unwrap(),
    )
}

/// The value of `name{policy="…"}` in a metrics file, when it has one.
fn metric(prom: &str, name: &str, policy: &str) -> Option<f64> {
    let prefix = format!("{name}{{policy=\"{policy}\"}} ");
    prom.lines().find_map(|l| l.strip_prefix(&prefix)).map(|v| v.parse().unwrap())
}

/// Ten days of daily partitions of `units[i]` × 256 KiB, the last one today's (still
/// being written), in `root` below the tmpfs.
fn ten_days(d: &Disk, root: &str, units: &[u64; 10]) {
    for (i, u) in units.iter().enumerate() {
        let day = 3 + i as u32;
        // Two files a partition: a partition's bytes are all of its files'.
        d.write(&format!("{root}/2024-07-{day:02}/part-0.bin"), u * UNIT - UNIT / 2);
        d.write(&format!("{root}/2024-07-{day:02}/part-1.bin"), UNIT / 2);
    }
}

const UNITS: [u64; 10] = [1, 1, 6, 7, 5, 8, 6, 7, 9, 2];

#[test]
fn the_forecast_is_the_median_partition_times_keep_over_the_room_others_leave() {
    let d = Disk::new(20);
    ten_days(&d, "data", &UNITS);
    // A neighbour's file beside the root: what others hold.
    d.write("neighbour.bin", 2 << 20);
    let (size, used) = d.statvfs();

    // Computed here: 2024-07-12 is not complete; the newest seven complete are the 5th to
    // the 11th.
    let complete: Vec<u64> = UNITS[2..9].iter().map(|u| u * UNIT).collect();
    let bpp = median(&complete);
    assert_eq!(bpp, 7 * UNIT, "the test's own arithmetic");
    let others = used - du(&d.fs.join("data"));
    assert_eq!(others, 2 << 20, "tmpfs allocates the neighbour's file exactly");

    for (threshold, share) in [("disk_fail_above: 90%", 0.9), ("", 1.0)] {
        let p = d.t.policy(
            &one_policy(&["%Y-%m-%d/**"], "12d", threshold).replace("{root}", &d.fs.join("data").display().to_string()),
        );
        let plan = d.t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
        let (got_bpp, footprint, room, fit) = forecast(&plan.summary(), "t");
        let line = (size as f64 * share) as u64;
        assert_eq!(got_bpp, bpp);
        assert_eq!(footprint, 12 * bpp, "keep 12d holds twelve daily partitions");
        assert_eq!(room, line - others, "{threshold:?}");
        let want = footprint as f64 / room as f64;
        assert!((fit - want).abs() < 1e-9, "fit {fit}, computed {want}");
        assert!(fit > 1.0, "the case is built not to fit: {fit}");

        // The text says so after the policies; the exit code does not change.
        let text = d.t.sweep("plan", &p, NOW).code(0).stdout();
        let room_words = if share < 1.0 {
            "16 MiB room below disk_fail_above 90%"
        } else {
            "18 MiB room on the whole filesystem (no disk_fail_above)"
        };
        let words = format!("forecast: keep 12d needs 21 MiB at 1.8 MiB/day; {room_words} (policy t)");
        assert!(text.contains(&words), "{words}\n{text}");
        assert!(text.find(&words) > text.find("= dry run"), "after the policy's summary:\n{text}");

        // apply forecasts from the tree as it found it, as plan did; and the metric.
        let m = d.t.dir.path().join("sweep.prom");
        let apply = d.t.sweep("apply", &p, NOW).args(["--format", "json", "--metrics-file"]).arg(&m).code(0);
        assert_eq!(forecast(&apply.summary(), "t"), (bpp, footprint, room, fit));
        let prom = fs::read_to_string(&m).unwrap();
        let v = metric(&prom, "sweep_forecast_fit_ratio", "t").unwrap_or_else(|| panic!("{prom}"));
        assert!((v - fit).abs() < 1e-9, "metric {v}, JSON {fit}");
    }

    // keep 5d fits: no line, and the numbers still add up.
    let p = d.t.policy(
        &one_policy(&["%Y-%m-%d/**"], "5d", "disk_fail_above: 90%")
            .replace("{root}", &d.fs.join("data").display().to_string()),
    );
    // keep 5d deletes the 3rd to the 7th: the forecast is of the tree before the run.
    let plan = d.t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let (_, footprint, room, fit) = forecast(&plan.summary(), "t");
    assert_eq!(footprint, 5 * bpp);
    assert!(fit < 1.0 && (fit - footprint as f64 / room as f64).abs() < 1e-9);
    let text = d.t.sweep("plan", &p, NOW).code(0).stdout();
    assert!(!text.contains("forecast:"), "{text}");
}

#[test]
fn policies_on_one_filesystem_leave_each_other_their_footprints() {
    let d = Disk::new(32);
    // a: ten days; b: six hourly partitions a day for the last three days; c: only today
    // (no complete partition: it takes what it holds now).
    ten_days(&d, "a", &UNITS);
    let mut b_parts = Vec::new();
    for day in 9..=11u32 {
        for h in (0u64..24).step_by(4) {
            let bytes = UNIT * (1 + h % 3);
            d.write(&format!("b/2024-07-{day:02}/{h:02}/x.bin"), bytes);
            b_parts.push(bytes);
        }
    }
    d.write("c/2024-07-12/x.bin", 3 * UNIT);
    d.write("elsewhere.bin", UNIT);
    let (size, used) = d.statvfs();
    let yaml = format!(
        "version: 1\ndefaults:\n  timezone: UTC\npolicies:\n\
         \x20 - name: a\n    root: {fs}/a\n    layouts: ['%Y-%m-%d/**']\n    keep: 10d\n    disk_fail_above: 80%\n\
         \x20 - name: b\n    root: {fs}/b\n    layouts: ['%Y-%m-%d/%H/*']\n    keep: 2d\n\
         \x20 - name: c\n    root: {fs}/c\n    layouts: ['%Y-%m-%d/*']\n    keep: 1d\n",
        fs = d.fs.display()
    );
    let p = d.t.policy(&yaml);
    let m = d.t.dir.path().join("sweep.prom");
    let plan = d.t.sweep("plan", &p, NOW).args(["--format", "json", "--metrics-file"]).arg(&m).code(0);
    let s = plan.summary();

    // Computed here.
    let held = |r: &str| du(&d.fs.join(r));
    let others = used - held("a") - held("b") - held("c");
    assert_eq!(others, UNIT);
    let a_foot = 10 * median(&UNITS[2..9].iter().map(|u| u * UNIT).collect::<Vec<_>>());
    // b's newest seven complete partitions: the 11th's six and the 10th's last; every
    // four hours, so keep 2d (48 h) holds 12 of them.
    let b_newest: Vec<u64> = b_parts[b_parts.len() - 7..].to_vec();
    let b_foot = 12 * median(&b_newest);
    let c_held = held("c");

    let (_, foot, room, fit) = forecast(&s, "a");
    assert_eq!(foot, a_foot);
    assert_eq!(room, (size as f64 * 0.8) as u64 - others - b_foot - c_held, "a's room: its line, others, b and c");
    assert!((fit - foot as f64 / room as f64).abs() < 1e-9);
    let (bpp, foot, room, _) = forecast(&s, "b");
    assert_eq!((bpp, foot), (median(&b_newest), b_foot));
    assert_eq!(room, size - others - a_foot - c_held, "b has no disk_fail_above: all of the filesystem");
    assert!(policy_json(&s, "c")["forecast"].is_null(), "no complete partition, no forecast");

    let prom = fs::read_to_string(&m).unwrap();
    assert!(
        metric(&prom, "sweep_forecast_fit_ratio", "a").is_some()
            && metric(&prom, "sweep_forecast_fit_ratio", "b").is_some()
    );
    assert_eq!(metric(&prom, "sweep_forecast_fit_ratio", "c"), None, "absent without a forecast:\n{prom}");

    // --policy b alone: a's and c's files are others' now.
    let only_b = d.t.sweep("plan", &p, NOW).args(["--format", "json", "--policy", "b"]).code(0);
    let (_, _, room, _) = forecast(&only_b.summary(), "b");
    assert_eq!(room, size - (used - held("b")));
}

#[test]
fn mtime_policies_forecast_from_days_of_mtime() {
    let d = Disk::new(8);
    let mut per_day = Vec::new();
    // Five days of files named by no date, two or three a day.
    for back in 1..=5i64 {
        let mut day = 0;
        for n in 0..(2 + back % 2) {
            let bytes = UNIT * (1 + ((back + n) % 3) as u64);
            let f = d.write(&format!("logs/app-{back}-{n}.log"), bytes);
            set_mtime(&f, TODAY - back * DAY + 3600 * (n + 1));
            day += bytes;
        }
        per_day.push(day);
    }
    // Today's file: not complete.
    let f = d.write("logs/app-0.log", UNIT);
    set_mtime(&f, TODAY + 3600);
    let p = d.t.policy(
        &one_policy(&["*.log"], "3d", "date_from: mtime").replace("{root}", &d.fs.join("logs").display().to_string()),
    );
    let plan = d.t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let (bpp, foot, _, _) = forecast(&plan.summary(), "t");
    assert_eq!((bpp, foot), (median(&per_day), 3 * median(&per_day)));
}

#[test]
fn without_a_complete_partition_there_is_no_forecast_and_no_metric() {
    let t = Tree::new();
    t.file_sized("2024-07-12/a.bin", 4096);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "7d", ""));
    let m = t.dir.path().join("sweep.prom");
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json", "--metrics-file"]).arg(&m).code(0);
    let s = plan.summary();
    assert!(s["policies"][0].as_object().unwrap().contains_key("forecast"), "the key is there");
    assert!(s["policies"][0]["forecast"].is_null());
    let prom = fs::read_to_string(&m).unwrap();
    assert!(prom.contains("# TYPE sweep_forecast_fit_ratio gauge"), "{prom}");
    assert_eq!(metric(&prom, "sweep_forecast_fit_ratio", "t"), None);
    assert!(!t.sweep("plan", &p, NOW).code(0).stdout().contains("forecast:"));
}
