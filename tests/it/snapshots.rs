//! The whole text report, line for line, for a few trees: what an operator reads at 3 a.m.
//! is checked as a whole, not by substrings. The expected outputs are files in
//! `tests/it/expected/`; the scratch directory reads `{dir}` and a rate `N/s (R/s)`.
//! After a deliberate change of the report, `SWEEP_BLESS=1 cargo test snapshots` rewrites
//! them: review the diff like code.

use std::fs;
use std::path::Path;

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

/// Compares `done`'s stdout, stderr and exit status with `tests/it/expected/NAME.txt`.
fn expect(name: &str, t: &Tree, done: &Done) {
    let dir = t.dir.path().to_str().unwrap();
    let got = format!(
        "{}--- stderr\n{}--- exit {}\n",
        normalise(&done.stdout(), dir),
        normalise(&done.stderr(), dir),
        done.out.status.code().map_or("signal".to_string(), |c| c.to_string())
    );
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/expected").join(format!("{name}.txt"));
    if std::env::var_os("SWEEP_BLESS").is_some() {
        fs::write(&file, &got).unwrap();
        return;
    }
    let want =
        fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e} (SWEEP_BLESS=1 writes it)", file.display()));
    if got != want {
        let diff: Vec<String> = want
            .lines()
            .zip(got.lines())
            .enumerate()
            .filter(|(_, (w, g))| w != g)
            .map(|(i, (w, g))| format!("line {}:\n  want: {w}\n  got:  {g}", i + 1))
            .take(10)
            .collect();
        panic!(
            "{name}: the report differs from {} ({} lines expected, {} got)\n{}\n--- whole output\n{got}",
            file.display(),
            want.lines().count(),
            got.lines().count(),
            diff.join("\n")
        );
    }
}

/// The scratch directory as `{dir}`; a measured rate as `N/s (R/s)`; the machine's own
/// warning about processes its platform guards (a container's supervisor) dropped.
fn normalise(text: &str, dir: &str) -> String {
    let text: String = text
        .lines()
        .filter(|l| !l.contains("could not be examined even with CAP_SYS_PTRACE"))
        .map(|l| format!("{l}\n"))
        .collect();
    let text = text.replace(dir, "{dir}");
    let rate = regex::Regex::new(r"at [0-9,.]+/s \([^)]*/s\)").unwrap();
    rate.replace_all(&text, "at N/s (R/s)").into_owned()
}

#[test]
fn a_day_partitioned_tree_with_markers_and_a_new_upstream_layout() {
    let t = Tree::new();
    for d in ["01", "02", "09", "10"] {
        t.file_sized(&format!("2024-07-{d}/part-0000.csv"), 1500);
        t.file_sized(&format!("2024-07-{d}/part-0001.csv"), 2500);
        t.file(&format!("2024-07-{d}/_SUCCESS"));
    }
    t.file_sized("2024-07-02/debug.log", 100);
    t.file_sized("staging/batch-17.tmp", 700);
    t.file_sized("staging/batch-18.tmp", 700);
    let p = t.policy(&one_policy(&["%Y-%m-%d/*"], "7d", "markers: ['_SUCCESS']\nexclude: ['**/*.log']"));
    let plan = t.sweep("plan", &p, NOW).output();
    expect("plan-markers-unmatched", &t, &plan);
    let apply = t.sweep("apply", &p, NOW).output();
    expect("apply-markers-unmatched", &t, &apply);
}

#[test]
fn tiers_thinning_and_keep_last_in_one_report() {
    let t = Tree::new();
    for d in 1..=11 {
        t.file_sized(&format!("2024-06-{d:02}/events.csv"), 1000 + d * 10);
    }
    for d in 1..=11 {
        t.file_sized(&format!("2024-07-{d:02}/events.csv"), 2000 + d * 10);
    }
    fs::create_dir_all(t.dir.path().join("archive")).unwrap();
    let p = t.policy(&one_policy(
        &["%Y-%m-%d/*"],
        "30d",
        "keep_weekly: 2\ncompress: {after: 3d, format: zstd}\narchive: {after: 8d, to: {dir}/archive}",
    ));
    let plan = t.sweep("plan", &p, NOW).output();
    expect("plan-tiers-thinning", &t, &plan);
}

#[test]
fn a_refusal_and_an_unmatched_warning_across_two_policies() {
    let t = Tree::new();
    for d in 1..=9 {
        t.file(&format!("2024-07-{d:02}/a.csv"));
    }
    t.file("logs/app-20240701.log");
    t.file("logs/app.log.1");
    let p = t.policy(
        "version: 1\ndefaults:\n  timezone: UTC\npolicies:\n  - name: events\n    root: {root}\n    layouts: ['%Y-%m-%d/*']\n    keep: 2d\n    max_delete: 3\n    exclude: ['logs']\n  - name: logs\n    root: {root}/logs\n    layouts: ['app-%Y%m%d.log']\n    keep: 5d\n    on_unmatched: warn\n",
    );
    let plan = t.sweep("plan", &p, NOW).output();
    expect("plan-refusal-two-policies", &t, &plan);
}
