//! Hostile policy files, each generated here at the size that once crashed sweep or made
//! it hang: the run must end with exit 3 and a message naming the file, the line and the
//! limit. Every run is under hard caps (CPU seconds and address space, set with
//! `setrlimit` before exec), so a regression to the old cost is killed by the kernel and
//! fails on its exit status, with no timing assertion to flake on a busy machine.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use rustix::process::{Resource, Rlimit};

use crate::support::*;

/// CPU seconds a capped run may use: the debug build checks every file here in a few.
const CPU_SECONDS: u64 = 20;
/// Address space a capped run may map.
const MEMORY: u64 = 1024 * 1024 * 1024;

/// `s` with the caps: past them the kernel kills the run (SIGXCPU), or an allocation
/// fails and it aborts.
fn capped(s: &mut Sweep) -> &mut Sweep {
    // SAFETY: only setrlimit runs between fork and exec.
    unsafe {
        s.command().pre_exec(|| {
            let cpu = Rlimit { current: Some(CPU_SECONDS), maximum: Some(CPU_SECONDS) };
            rustix::process::setrlimit(Resource::Cpu, cpu)?;
            rustix::process::setrlimit(Resource::As, Rlimit { current: Some(MEMORY), maximum: Some(MEMORY) })?;
            Ok(())
        });
    }
    s
}

/// `sweep check -c FILE ARGS` under the caps.
fn check(file: &Path, args: &[&str]) -> Done {
    let mut s = Sweep::new();
    s.args(["check", "-c"]).arg(file).args(args);
    capped(&mut s).output()
}

/// Writes `text` as `name` in `t`'s directory.
fn file(t: &Tree, name: &str, text: &str) -> PathBuf {
    let p = t.dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Exit 3, and a problem line starting with `FILE:LINE:` (any line for 0) that holds
/// every one of `needles`.
#[track_caller]
fn refused_at(done: &Done, file: &Path, line: usize, needles: &[&str]) {
    let out = done.stdout();
    assert_eq!(
        done.out.status.code(),
        Some(3),
        "status {}\n--- stdout\n{out}\n--- stderr\n{}",
        done.out.status,
        done.stderr()
    );
    let at = if line == 0 { format!("{}:", file.display()) } else { format!("{}:{line}:", file.display()) };
    let placed =
        |l: &str| l.strip_prefix(&at).is_some_and(|rest| line > 0 || rest.starts_with(|c: char| c.is_ascii_digit()));
    assert!(
        out.lines().any(|l| placed(l) && needles.iter().all(|n| l.contains(n))),
        "no line at {at} with {needles:?}:\n{}",
        out.chars().take(4000).collect::<String>()
    );
}

/// One policy with `layouts` (YAML text) at line 6, and `rest` after it.
fn policy(layouts: &str, rest: &str) -> String {
    format!("version: 1\npolicies:\n  - name: a\n    root: /data/a\n    keep: 1d\n    layouts: {layouts}\n{rest}")
}

// ---------------------------------------------------------------------------------------
// Layouts.

#[test]
fn brace_nesting_in_a_layout_is_refused_not_a_stack_overflow() {
    let t = Tree::new();
    // 36,000 levels overflowed the stack; now the length stops it first.
    let deep = file(&t, "deep.yaml", &policy(&format!("[\"{}%Y{}\"]", "{".repeat(36_000), "}".repeat(36_000)), ""));
    let done = check(&deep, &[]);
    refused_at(&done, &deep, 6, &["policies[0].layouts[0]", "72002 bytes long; a layout is at most 256 bytes"]);
    assert!(done.stdout().len() < 2000, "the layout is not echoed whole:\n{}", done.stdout());
    // Within the length, the nesting has its own limit.
    let nested = file(&t, "nested.yaml", &policy(&format!("[\"{}%Y{}/**\"]", "{".repeat(40), "}".repeat(40)), ""));
    refused_at(&check(&nested, &[]), &nested, 6, &["policies[0].layouts[0]", "nested more than 32 levels deep"]);
    let ok = file(&t, "ok.yaml", &policy(&format!("[\"{}%Y{}/**\"]", "{".repeat(32), "}".repeat(32)), ""));
    check(&ok, &[]).stdout_has("ok: 1 policy");
}

#[test]
fn consecutive_globstars_are_one_and_long_layouts_are_refused() {
    let t = Tree::new();
    let tests = "tests:\n  - now: 2024-07-12T00:00:00Z\n    expect:\n      /data/a/2020: delete\n";
    // 60,000 `**` overflowed the stack, 20,000 took minutes.
    let chain = file(&t, "chain.yaml", &policy(&format!("[\"{}%Y\"]", "**/".repeat(60_000)), tests));
    refused_at(&check(&chain, &[]), &chain, 6, &["policies[0].layouts[0]", "a layout is at most 256 bytes"]);
    let many = file(&t, "many.yaml", &policy(&format!("[\"{}%Y\"]", "a/".repeat(70)), ""));
    refused_at(&check(&many, &[]), &many, 6, &["more than 64 components"]);
    // `**/**` means `**`: within the length, any run of them is one.
    let tests = "tests:\n  - now: 2024-07-12T00:00:00Z\n    expect:\n      /data/a/2020/x: delete\n      /data/a/x/y/2020/z: delete\n";
    let merged = file(&t, "merged.yaml", &policy(&format!("[\"{}%Y/**\"]", "**/".repeat(80)), tests));
    check(&merged, &[]).stdout_has("2 of 2 test expectations pass");
}

#[test]
fn a_layout_with_more_than_two_globstars_is_refused() {
    let t = Tree::new();
    // With a 40-component test path this took seconds, with 6 fields minutes.
    let dirs: Vec<String> = (0..40).map(|i| format!("{:02}", i % 60)).collect();
    let tests =
        format!("tests:\n  - now: 2024-07-12T00:00:00Z\n    expect:\n      /data/a/{}/f: keep\n", dirs.join("/"));
    let f = file(&t, "stars.yaml", &policy("[\"**/%y/**/%m/**/%d/**/*\"]", &tests));
    refused_at(&check(&f, &[]), &f, 6, &["policies[0].layouts[0]", "4 `**` components; a layout has at most 2"]);
}

#[test]
fn two_globstars_stay_linear_in_the_depth_of_a_path_and_of_a_tree() {
    // Every directory matches `%Y` with a new value: the most places a path can stand.
    // The deepest match is the date (here 2000).
    let years: Vec<String> = (0..1500).map(|i| format!("{}", 3499 - i)).collect();
    let t = Tree::new();
    let tests = format!(
        "tests:\n  - now: 2024-07-12T00:00:00Z\n    expect:\n      ? /data/a/{}/0712.log\n      : delete\n",
        years.join("/")
    );
    let f = file(&t, "deep.yaml", &policy("[\"**/%Y/**/%m%d.log\"]", &tests));
    check(&f, &[]).stdout_has("1 of 1 test expectation pass");

    // The walk, on a real tree 300 levels deep.
    let t = Tree::new();
    let deep: Vec<String> = (0..300).map(|i| format!("{}", 2299 - i)).collect();
    t.file(&format!("{}/0101.log", deep.join("/")));
    let p = t.policy(&one_policy(&["**/%Y/**/%m%d.log"], "1d", ""));
    let plan = capped(&mut t.sweep("plan", &p, "2024-07-12T00:00:00Z")).args(["--format", "json"]).code(0);
    assert_eq!(plan.summary()["policies"][0]["files"]["delete"], 1);
}

// ---------------------------------------------------------------------------------------
// What aliases repeat, and long keys.

#[test]
fn a_long_scalar_aliased_many_times_is_refused_by_its_bytes() {
    let t = Tree::new();
    // 500 KB, 100,000 times: 50 GB once expanded, though only 100,001 values.
    let text = format!(
        "version: 1\npolicies: []\nbig: &a \"{}\"\nrep: [{}]\n",
        "x".repeat(500_000),
        vec!["*a"; 100_000].join(",")
    );
    let f = file(&t, "scalar.yaml", &text);
    refused_at(&check(&f, &[]), &f, 4, &["more than 4194304 bytes of keys and values (counting what aliases repeat)"]);
}

#[test]
fn an_aliased_key_is_charged_for_its_bytes_every_time() {
    let t = Tree::new();
    // A 100 KB key, aliased as a key 1,000 times (duplicates, each once reported).
    let keys: String = (0..1000).map(|i| format!("  *k : {i}\n")).collect();
    let text = format!("version: 1\npolicies: []\nk: &k \"{}\"\nm:\n{keys}", "k".repeat(100_000));
    let f = file(&t, "keys.yaml", &text);
    // Refused at the alias that crosses the budget, some forty lines down.
    refused_at(&check(&f, &[]), &f, 0, &["bytes of keys and values"]);
}

#[test]
fn one_layout_aliased_a_thousand_times_is_refused_before_it_is_compiled() {
    let t = Tree::new();
    let layout = format!("%Y{}", "?".repeat(1000));
    let text = format!(
        "version: 1\nl: &l \"{layout}\"\npolicies:\n  - name: a\n    root: /data/a\n    keep: 1d\n    layouts: [{}]\n",
        vec!["*l"; 1000].join(",")
    );
    let f = file(&t, "aliased.yaml", &text);
    refused_at(&check(&f, &[]), &f, 7, &["policies[0].layouts", "1000 layouts; a policy has at most 64"]);
    let one = file(&t, "one.yaml", &policy(&format!("[\"{layout}\"]"), ""));
    refused_at(&check(&one, &[]), &one, 6, &["1002 bytes long; a layout is at most 256 bytes"]);
    // Layouts at the limits, shared by many policies, are compiled once.
    let layouts: Vec<String> = (0..64).map(|i| format!("\"%Y{i}{}\"", "?".repeat(240))).collect();
    let policies: String =
        (0..200).map(|i| format!("  - {{name: p{i}, root: /data/p{i}, layouts: *l, keep: 1d}}\n")).collect();
    let shared = file(&t, "shared.yaml", &format!("version: 1\nl: &l [{}]\npolicies:\n{policies}", layouts.join(",")));
    let done = check(&shared, &[]);
    done.stdout_has("l: unknown key `l`").stdout_has("FAILED: 1 problem");
}

#[test]
fn globs_are_bounded_in_length_and_number() {
    let t = Tree::new();
    let long = file(&t, "long.yaml", &policy("[\"%Y/**\"]", &format!("    exclude: [\"{}\"]\n", "*a".repeat(5000))));
    refused_at(
        &check(&long, &[]),
        &long,
        7,
        &["policies[0].exclude[0]", "10000 bytes long; a glob is at most 256 bytes"],
    );
    let globs: Vec<String> = (0..300).map(|i| format!("\"x{i}\"")).collect();
    let many = file(&t, "many.yaml", &policy("[\"%Y/**\"]", &format!("    markers: [{}]\n", globs.join(","))));
    refused_at(&check(&many, &[]), &many, 7, &["policies[0].markers", "300 globs; a list has at most 256"]);
}

#[test]
fn long_unknown_keys_get_no_suggestion_and_are_not_echoed_whole() {
    let t = Tree::new();
    // 30 unknown keys of 30,000 bytes: the distance to every known key was computed for
    // each, and each was printed twice.
    let keys: String = (0..30).map(|i| format!("    ? {}{i}\n    : 1\n", "keep".repeat(7_500))).collect();
    let f = file(&t, "keys.yaml", &policy("[\"%Y/**\"]", &keys));
    let done = check(&f, &[]);
    refused_at(&done, &f, 7, &["unknown key `keepkeep", "…`; known keys: name, root"]);
    assert!(done.stdout().lines().all(|l| l.len() < 1200), "a key is echoed whole");
    assert!(done.stdout().len() < 50_000, "{} bytes of output", done.stdout().len());
}

#[test]
fn a_long_key_is_not_copied_into_the_path_of_everything_below_it() {
    let t = Tree::new();
    // A 300 KB key over 150,000 lists: 45 GB of paths once copied into each.
    let text = format!("version: 1\npolicies: []\n? {}\n: [{}]\n", "k".repeat(300_000), vec!["[]"; 150_000].join(","));
    let f = file(&t, "path.yaml", &text);
    let done = check(&f, &[]);
    refused_at(&done, &f, 3, &["unknown key `kkkk", "…`"]);
    assert!(done.stdout().len() < 2000, "{}", done.stdout());
}

// ---------------------------------------------------------------------------------------
// Many policies.

#[test]
fn fifteen_thousand_policies_with_their_own_roots_check_in_bounded_time() {
    let t = Tree::new();
    let policies: String =
        (0..15_000).map(|i| format!("- {{name: p{i}, root: /d/{i}, layouts: [\"%Y/**\"], keep: 1d}}\n")).collect();
    let expect: String = (0..3_000).map(|i| format!("      /d/{}/2020/x: delete\n", i * 5)).collect();
    let text = format!("version: 1\npolicies:\n{policies}tests:\n  - now: 2024-07-12T00:00:00Z\n    expect:\n{expect}");
    let f = file(&t, "many.yaml", &text);
    let done = check(&f, &[]);
    assert_eq!(done.out.status.code(), Some(0), "{}{}", done.stdout(), done.stderr());
    done.stdout_has("ok: 15,000 policies in 1 file; 3,000 of 3,000 test expectations pass");
}

#[test]
fn ten_thousand_roots_inside_one_are_noted_once_each() {
    let t = Tree::new();
    // Each note looked at every other root, and rebuilt the list of roots to do so.
    let mut policies = String::from("- {name: outer, root: /d, layouts: [\"%Y/**\"], keep: 1d}\n");
    policies.extend((0..10_000).map(|i| format!("- {{name: p{i}, root: /d/{i}, layouts: [\"%Y/**\"], keep: 1d}}\n")));
    // And a chain, where only the directly enclosing root reports an inner one.
    let mut root = String::from("/c");
    for i in 0..200 {
        root.push_str(&format!("/{i}"));
        policies.push_str(&format!("- {{name: c{i}, root: {root}, layouts: [\"%Y/**\"], keep: 1d}}\n"));
    }
    let f = file(&t, "nested.yaml", &format!("version: 1\npolicies:\n{policies}"));
    let done = check(&f, &[]);
    assert_eq!(done.out.status.code(), Some(0), "{}", done.stderr());
    assert_eq!(done.stdout().lines().filter(|l| l.starts_with("note: root ")).count(), 10_000 + 199);
    done.stdout_has("note: root /d/9999 (policy p9999) is inside root /d (policy outer)");
    done.stdout_has("note: root /c/0/1 (policy c1) is inside root /c/0 (policy c0)");
}

#[test]
fn thinning_over_many_test_paths_is_worked_out_once() {
    let t = Tree::new();
    let expect: String = (0..4_000)
        .map(|i| {
            let d = chrono::NaiveDate::from_ymd_opt(2010, 1, 1).unwrap() + chrono::Duration::days(i);
            format!("      /data/a/{}/x: delete\n", d.format("%Y-%m-%d"))
        })
        .collect();
    let text = policy(
        "[\"%Y-%m-%d/**\"]",
        &format!(
            "    timezone: UTC\n    keep_yearly: 1000\ntests:\n  - now: 2024-07-12T00:00:00Z\n    expect:\n{expect}"
        ),
    );
    let f = file(&t, "thin.yaml", &text);
    let done = check(&f, &[]);
    // The newest partition of each year is kept as yearly: 11 years of 4,000 days.
    done.stdout_has("expected delete, got keep")
        .stdout_has("FAILED: 11 problems; 3,989 of 4,000 test expectations pass");
}

// ---------------------------------------------------------------------------------------
// Output.

#[test]
fn only_the_first_thousand_problems_are_listed_and_all_are_counted() {
    let t = Tree::new();
    let keys: String = (0..5_000).map(|i| format!("    x{i}: 1\n")).collect();
    let f = file(&t, "problems.yaml", &policy("[\"%Y/**\"]", &keys));
    let done = check(&f, &[]);
    assert_eq!(done.out.status.code(), Some(3));
    let out = done.stdout();
    assert_eq!(out.lines().filter(|l| l.contains("unknown key")).count(), 1000);
    done.stdout_has("… and 4,000 more problems\nFAILED: 5,000 problems");
    let json = check(&f, &["--format", "json"]);
    let lines = json.json();
    assert_eq!(lines.iter().filter(|l| l["type"] == "problem").count(), 1000);
    let summary = json.summary();
    assert_eq!((summary["problems"].as_u64(), summary["listed"].as_u64()), (Some(5000), Some(1000)));
}
