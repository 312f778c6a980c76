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
