//! What the outputs say on real trees: explain on a directory, reasons that hold with a
//! past `--now`, warnings that are not called clean, counted nouns, partitions that keep
//! their place, unmatched random names grouped, and the unmatched alarm named in JSON.

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

#[test]
fn explain_on_a_directory_says_so_and_names_its_partition() {
    let t = Tree::new();
    t.files(&["dt=2024-07-05/part-0.parquet"]);
    let p = t.policy(&one_policy(&["dt=%Y-%m-%d/*"], "1d", ""));
    let done = Sweep::new().args(["explain", "--now", NOW, "-c"]).arg(&p).arg(t.path("dt=2024-07-05")).code(0);
    done.stdout_has("— a directory")
        .stdout_has("date      partition 2024-07-05")
        .stdout_has("decision  delete (its files): 2024-07-05 ends before cutoff");
}

#[test]
fn min_age_with_a_past_now_says_the_file_is_newer_than_now() {
    let t = Tree::new();
    t.file("2024-07-01/a.csv"); // modified now, long after --now
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "min_age: 30m"));
    let done = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let reason = done.json()[0]["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("after now (2024-07-12T12:00:00+00:00)"), "{reason}");
    assert!(!reason.contains("0s ago"), "{reason}");
}

#[test]
fn warned_unmatched_files_do_not_end_in_clean() {
    let t = Tree::new();
    t.files(&["2024-07-01/a", "staging/x"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "on_unmatched: warn"));
    let out = t.sweep("plan", &p, NOW).code(0).stdout();
    let last = out.trim_end().lines().last().unwrap();
    assert_eq!(last, "exit 0: done, with warnings: 1 unmatched file (on_unmatched: warn)");
    assert!(!out.contains("clean: every file classified"), "{out}");
}

#[test]
fn counts_read_as_numbers_of_things() {
    let t = Tree::new();
    t.files(&["2024-07-01/a", "2024-07-12/a", "2024-07-12/b"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let out = t.sweep("plan", &p, NOW).code(0).stdout();
    assert!(out.contains("delete    2024-07-01") && out.contains(" 1 file "), "{out}");
    assert!(out.contains(" 2 files "), "{out}");
    assert!(out.contains("= delete 1 file ("), "{out}");
    assert!(out.contains("1 directory would be removed"), "{out}");
}

#[test]
fn partitions_of_one_date_in_different_directories_are_separate_rows() {
    let t = Tree::new();
    t.files(&["eu/2024-07-01/a", "eu/2024-07-01/b", "us/2024-07-01/a"]);
    let p = t.policy(&one_policy(&["*/%Y-%m-%d/**"], "1d", ""));
    let out = t.sweep("plan", &p, NOW).code(0).stdout();
    assert!(out.contains("2024-07-01 in eu/2024-07-01/") && out.contains("2 files"), "{out}");
    assert!(out.contains("2024-07-01 in us/2024-07-01/") && out.contains("1 file"), "{out}");
}

#[test]
fn unmatched_random_names_are_grouped_by_directory_and_extension() {
    let t = Tree::new();
    for i in 0..120u32 {
        t.file(&format!("staging/{:08x}-1c2d-4e5f-8a9b-{:012x}.tmp", i.wrapping_mul(2654435761), i));
    }
    t.file("2024-07-12/a");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let out = t.sweep("plan", &p, NOW).code(7).stdout();
    let groups: Vec<&str> = out.lines().filter(|l| l.contains(" like ")).collect();
    assert_eq!(groups.len(), 1, "{out}");
    assert!(groups[0].contains("120 files") && groups[0].contains("like staging/*.tmp"), "{out}");
}

#[test]
fn the_json_summary_names_the_unmatched_alarm() {
    let t = Tree::new();
    t.files(&["2024-07-12/a", "staging/x"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let done = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(7);
    let problems = done.summary()["policies"][0]["problems"].clone();
    assert!(
        problems.to_string().contains("1 files under") || problems.to_string().contains("match no layout"),
        "{problems}"
    );
    assert!(problems.to_string().contains("on_unmatched: fail"), "{problems}");
    assert_eq!(done.summary()["policies"][0]["problem_codes"], serde_json::json!(["unmatched"]));
}

#[test]
fn the_progress_rate_is_a_whole_number() {
    let t = Tree::new();
    for i in 0..3000 {
        t.file(&format!("2024-07-01/{i}"));
    }
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let done = t.sweep("plan", &p, NOW).args(["--progress", "always"]).code(0);
    let err = done.stderr();
    let rates: Vec<&str> =
        err.split('(').skip(1).filter_map(|s| s.split(')').next()).filter(|s| s.ends_with("/s")).collect();
    assert!(!rates.is_empty(), "{err}");
    for r in rates {
        assert!(r.trim_end_matches("/s").chars().all(|c| c.is_ascii_digit() || c == ','), "{r}");
    }
    assert!(!err.contains(": 0 files"), "no empty first frame:\n{err}");
}
