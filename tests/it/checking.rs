//! `sweep check` as a CI tool: every problem of a file in one run, each with its place,
//! a suggestion for a misspelt key, JSON for machines, also when the file is invalid.

use serde_json::Value;

use crate::support::*;

/// A policy with three different kinds of problem: an unknown key, a bad value, a
/// duplicate key — and a fourth in a second policy of the same file.
const BROKEN: &str = "version: 1
policies:
  - name: t
    root: {root}
    layout: ['%Y-%m-%d/**']
    keep: 7days
    keep: 1d
  - name: u
    root: relative/path
    layouts: ['%Y-%m-%d/**']
    keep: 1d
";

#[test]
fn check_reports_every_problem_of_a_file_in_one_run() {
    let t = Tree::new();
    let p = t.policy(BROKEN);
    let done = Sweep::new().arg("check").arg("-c").arg(&p).code(3);
    let f = p.display();
    done.stdout_has(&format!("{f}:5:5: policies[0].layout: unknown key `layout`; did you mean layouts?"))
        .stdout_has(&format!("{f}:6:11: policies[0].keep: `7days` is not a retention"))
        .stdout_has(&format!("{f}:7:5: policies[0].keep: duplicate key (first at line 6)"))
        .stdout_has(&format!("{f}:9:11: policies[1].root: `relative/path` is relative"))
        .stdout_has("policies[0].layouts: missing key `layouts`")
        .stdout_has("FAILED: 5 problems");
    // plan refuses the same file the same way, on stderr, touching nothing.
    t.file("2024-07-01/a");
    t.sweep("apply", &p, "2024-07-12").code(3).stderr_has("did you mean layouts?");
    assert!(t.exists("2024-07-01/a"));
}

#[test]
fn check_in_json_gives_a_line_per_problem_and_a_summary_also_when_invalid() {
    let t = Tree::new();
    let p = t.policy(BROKEN);
    let done = Sweep::new().args(["check", "--format", "json", "-c"]).arg(&p).code(3);
    let lines = done.json();
    let problems: Vec<&Value> = lines.iter().filter(|l| l["type"] == "problem").collect();
    assert_eq!(problems.len(), 5, "{lines:?}");
    let unknown = problems.iter().find(|l| l["key"] == "policies[0].layout").unwrap();
    assert_eq!(unknown["file"], p.to_str().unwrap());
    assert_eq!((unknown["line"].as_u64(), unknown["column"].as_u64()), (Some(5), Some(5)), "the key's place");
    let bad = problems.iter().find(|l| l["message"].as_str().unwrap().contains("7days")).unwrap();
    assert_eq!((bad["line"].as_u64(), bad["column"].as_u64()), (Some(6), Some(11)), "the value's place");
    // Each problem has a stable code for scripts.
    let mut codes: Vec<&str> = problems.iter().map(|l| l["code"].as_str().unwrap()).collect();
    codes.sort_unstable();
    assert_eq!(codes, ["bad_unit", "bad_value", "duplicate_key", "missing_key", "unknown_key"], "{lines:?}");
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["ok"], false);
    assert_eq!(summary["problems"], 5);
    assert_eq!(summary["exit_code"], 3);

    // A valid file: only the summary, ok.
    let good = t.policy_named("good.yaml", &one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let done = Sweep::new().args(["check", "--format", "json", "-c"]).arg(&good).code(0);
    let lines = done.json();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["ok"], true);
}

#[test]
fn a_wrong_expectation_names_its_place_the_expected_and_the_actual_decision() {
    let t = Tree::new();
    let p = t.policy(&format!(
        "{}tests:\n  - now: 2024-07-12T12:00:00Z\n    expect:\n      {{root}}/2024-07-11/a: keep\n      {{root}}/2024-07-12/a: keep\n",
        one_policy(&["%Y-%m-%d/**"], "1d", "")
    ));
    let done = Sweep::new().arg("check").arg("-c").arg(&p).code(3);
    done.stdout_has(&format!(
        "{}:11:7: tests[0].expect[\"{}\"]: expected keep",
        p.display(),
        t.path("2024-07-11/a").display()
    ))
    .stdout_has("expected keep, got delete from policy t (2024-07-11 ends before cutoff 2024-07-12T00:00:00+00:00)")
    .stdout_has("FAILED: 1 problem; 1 of 2 test expectations pass");
}

#[test]
fn a_yaml_syntax_error_stops_only_its_own_file() {
    let t = Tree::new();
    t.policy_named("a.yaml", "version: 1\npolicies: [\n");
    t.policy_named("b.yaml", &one_policy(&["%Y-%m-%d/**"], "0d", "").replace("name: t", "name: b"));
    let done = Sweep::new().arg("check").arg("-c").arg(t.dir.path()).code(3);
    done.stdout_has("a.yaml:").stdout_has("b.yaml:").stdout_has("keep must be at least 1");
}

/// A duplicate policy name is reported next to the policy's other problems: every
/// problem of a file in one run.
#[test]
fn a_duplicate_name_is_reported_beside_the_policys_other_problems() {
    let t = Tree::new();
    let p = t.policy(
        "version: 1\npolicies:\n  - name: t\n    root: {root}\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n  - name: t\n    root: {root}/b\n    layouts: ['%Y-%m-%d/**']\n    keep: 1week\n",
    );
    let done = Sweep::new().arg("check").arg("-c").arg(&p).code(3);
    done.stdout_has("policies[1].name: duplicate policy name `t`").stdout_has("policies[1].keep: `1week`");
}

/// `.gz .zst .xz .bz2 .lz4` names are never compressed, so a layout for them needs no
/// layout for a doubled suffix.
#[test]
fn layouts_for_compressed_names_need_no_doubled_suffix() {
    let t = Tree::new();
    let p =
        t.policy(&one_policy(&["%Y-%m-%d/*.csv", "%Y-%m-%d/*.csv.gz"], "30d", "compress: {after: 2d, format: gzip}"));
    Sweep::new().arg("check").arg("-c").arg(&p).code(0);
}

/// A `tests:` case decides as a run does: a completion marker among its paths that stays
/// keeps its neighbours, and what an earlier policy moves into another's root counts
/// for that root's thinning.
#[test]
fn policy_tests_decide_markers_and_tier_chains_as_a_run_does() {
    let t = Tree::new();
    let p = t.policy(
        "version: 1
defaults:
  timezone: UTC
policies:
  - name: hot
    root: {dir}/hot
    layouts: ['%Y-%m-%d/*.csv']
    keep: 60d
    markers: ['_SUCCESS']
    archive: {after: 30d, to: {dir}/cold}
  - name: cold
    root: {dir}/cold
    layouts: ['%Y-%m-%d/*.csv']
    keep: 30d
    keep_weekly: 4
tests:
  - now: 2024-07-12T12:00:00Z
    expect:
      # _SUCCESS matches no layout: it stays, and so does everything beside it.
      {dir}/hot/2024-05-01/_SUCCESS: unmatched
      {dir}/hot/2024-05-01/a.csv: keep
      # Moved tonight into cold: the newest of its ISO week (2024-W23) there...
      {dir}/hot/2024-06-08/a.csv: move
      # ...so cold's own partition of that week goes.
      {dir}/cold/2024-06-04/a.csv: delete
",
    );
    Sweep::new().arg("check").arg("-c").arg(&p).code(0).stdout_has("4 of 4 test expectations pass");
}
