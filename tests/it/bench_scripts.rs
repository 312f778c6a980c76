//! The benchmark scripts stay runnable: their one tree generator makes every layout it
//! offers, and sweep classifies each as the benchmarks assume (strays unmatched, the
//! rest by date), with no path outside the repository.

use std::process::Command;

use crate::support::*;

#[test]
fn the_tree_generator_makes_every_layout_as_the_benchmarks_assume() {
    let test = "bench_scripts::the_tree_generator_makes_every_layout_as_the_benchmarks_assume";
    let Some(python) = required("python3", test) else { return };
    let generator = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/gen_tree.py");
    for (layout, pattern, files) in [
        ("daily", "%Y-%m-%d/*", 3 * 4),
        ("hive-hourly", "dt=%Y-%m-%d/hour=%H/*", 3 * 2 * 4),
        ("ymd", "%Y/%m/%d/*", 3 * 4),
        ("flat-files", "ticker_%Y-%m-%d_*.csv", 3 * 4),
    ] {
        let t = Tree::new();
        std::fs::remove_dir(&t.root).unwrap();
        let made = Command::new(&python)
            .arg(generator)
            .arg(&t.root)
            .args(["--layout", layout, "--days", "3", "--files", "4", "--hours", "2", "--stray", "2"])
            .args(["--end", "2024-07-12"])
            .output()
            .unwrap();
        assert!(made.status.success(), "{layout}: {}", String::from_utf8_lossy(&made.stderr));
        let p = t.policy(&one_policy(&[pattern], "2d", "on_unmatched: warn"));
        let s = t.sweep("plan", &p, "2024-07-12T12:00:00Z").args(["--format", "json"]).code(0).summary();
        let f = &s["policies"][0]["files"];
        assert_eq!(f["unmatched"], 2, "{layout}: the strays: {s}");
        let dated = f["delete"].as_u64().unwrap() + f["keep"].as_u64().unwrap();
        assert_eq!(dated, files, "{layout}: {s}");
        assert_eq!(f["delete"].as_u64().unwrap(), files / 3, "{layout}: the oldest of three days expires: {s}");
    }
    // Every script finds what it needs inside the repository.
    for script in [
        "bench/compare.sh",
        "bench/pacing.sh",
        "bench/static.sh",
        "bench/objects.sh",
        "bench/objects-scale.sh",
        "bench/s3lib.sh",
        "bench/s3tool.py",
        "bench/peers/run_peers.py",
    ] {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_string() + script).unwrap();
        assert!(!text.contains("../shared") && !text.contains("../../"), "{script} reaches outside the repository");
    }
}
