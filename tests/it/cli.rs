//! plan ≡ apply --dry-run, explain, check, demo, completions and man.

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

#[test]
fn dry_run_is_plan() {
    let t = Tree::new();
    t.files(&["2024-07-01/a", "2024-07-12/a", "x"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(7);
    let dry = t.sweep("apply", &p, NOW).args(["--dry-run", "--format", "json"]).code(7);
    assert_eq!(plan.actions(&t.root), dry.actions(&t.root));
    let strip = |mut v: serde_json::Value| {
        v["policies"][0]["duration_seconds"] = 0.into();
        v["policies"][0]["disk_used_ratio"] = 0.into();
        // The forecast's room moves with whatever else writes to this filesystem.
        v["policies"][0]["forecast"]["room"] = 0.into();
        v["policies"][0]["forecast"]["fit"] = 0.into();
        v
    };
    assert_eq!(strip(plan.summary()), strip(dry.summary()));
    assert_eq!(t.listing().len(), 3);
    let text_plan = t.sweep("plan", &p, NOW).code(7).stdout();
    let text_dry = t.sweep("apply", &p, NOW).arg("--dry-run").code(7).stdout();
    assert_eq!(text_plan, text_dry);
}

#[test]
fn plan_predicts_apply() {
    let t = Tree::new();
    t.files(&["2024-07-01/a/b", "2024-07-01/c", "2024-07-12/a", "2024-07-02/_KEEP", "2024-07-02/x"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "exclude: ['**/_KEEP']"));
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).code(0);
    let apply = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    assert_eq!(plan.actions(&t.root), apply.actions(&t.root));
    let (ps, as_) = (plan.summary(), apply.summary());
    assert_eq!(ps["policies"][0]["files"], as_["policies"][0]["files"]);
    assert_eq!(ps["policies"][0]["dirs_removed"], as_["policies"][0]["dirs_removed"]);
    assert_eq!(as_["policies"][0]["deleted"], 3);
    assert_eq!(as_["policies"][0]["dirs_removed"], 2);
    assert!(apply.json().iter().filter(|l| l["action"] == "delete").all(|l| l["outcome"] == "deleted"));
    assert_eq!(t.listing(), vec!["2024-07-02/_KEEP", "2024-07-12/a"]);
}

#[test]
fn json_summary_is_last_and_every_line_parses() {
    let t = Tree::new();
    t.files(&["2024-07-01/a", "2024-07-12/a"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).code(0);
    let lines = done.json();
    assert!(lines[..lines.len() - 1].iter().all(|l| l["type"] != "summary"));
    let s = done.summary();
    assert_eq!(s["dry_run"], false);
    assert_eq!(s["exit_code"], 0);
    let pol = &s["policies"][0];
    for key in ["name", "root", "cutoff", "files", "bytes", "deleted", "failed", "dirs_removed", "refused"] {
        assert!(pol.get(key).is_some(), "summary has {key}");
    }
    assert_eq!(pol["bytes"]["delete"], 2);
    assert!(lines.iter().any(|l| l["type"] == "dir" && l["outcome"] == "removed"));
}

#[test]
fn explain_works_on_paths_that_do_not_exist() {
    let t = Tree::new();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**", "ticker_%Y%m%d.csv"], "1d", "timezone: America/New_York"));
    let out = Sweep::new()
        .args(["explain", "--now", "2024-07-12T02:00:00-04:00", "-c"])
        .arg(&p)
        .arg(t.path("2024-07-11/part-0001.csv"))
        .arg(t.path("staging/x.csv"))
        .arg("/elsewhere/x")
        .code(0);
    out.stdout_has("layout    %Y-%m-%d/**")
        .stdout_has("date      2024-07-11")
        .stdout_has("cutoff    2024-07-12T00:00:00-04:00")
        .stdout_has("decision  delete: 2024-07-11 ends before cutoff")
        .stdout_has("decision  unmatched: no layout matches")
        .stdout_has("directory `staging` (component 1) matches no `%Y-%m-%d`")
        .stdout_has("no policy's root contains this path");
}

#[test]
fn check_does_not_need_roots_and_runs_policy_tests() {
    let t = Tree::new();
    let p = t.policy(
        "version: 1\npolicies:\n  - name: t\n    root: /nonexistent/ticker\n    timezone: America/New_York\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\ntests:\n  - now: 2024-07-12T02:00:00-04:00\n    expect:\n      /nonexistent/ticker/2024-07-11/part-0001.csv: delete\n      /nonexistent/ticker/2024-07-12/part-0001.csv: keep\n      /nonexistent/ticker/staging/x.csv: unmatched\n",
    );
    Sweep::new().arg("check").arg("-c").arg(&p).code(0).stdout_has("3 of 3 test expectations pass");
    let bad = t.policy_named(
        "bad.yaml",
        "version: 1\npolicies:\n  - name: t\n    root: /nonexistent/ticker\n    timezone: UTC\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\ntests:\n  - now: 2024-07-12T02:00:00Z\n    expect:\n      /nonexistent/ticker/2024-07-11/a: keep\n",
    );
    let done = Sweep::new().arg("check").arg("-c").arg(&bad).code(3);
    done.stdout_has(&format!("{}:11:", bad.display())).stdout_has("expected keep, got delete");
}

#[test]
fn demo_runs_and_leaves_the_tree() {
    let t = Tree::new();
    let dir = t.dir.path().join("demo");
    let done = Sweep::new().arg("demo").arg("--dir").arg(&dir).code(0);
    done.stdout_has("UNMATCHED").stdout_has("exit 7").stdout_has("exit 0").stdout_has("2024-07-12/part-0001.csv");
    // The forecast: the scratch policy's own, and the incident's line.
    done.stdout_has("keep 30d fits: the forecast (JSON summary, metric sweep_forecast_fit_ratio) has fit 0.")
        .stdout_has("forecast: keep 7d needs 280 GiB at 40 GiB/day; 250 GiB room below disk_fail_above 90%");
    assert!(dir.join("data/ticker/2024-07-12/part-0001.csv").exists());
    assert!(!dir.join("data/ticker/2024-07-11").exists());
    assert!(!dir.join("data/ticker/ticker_2024-07-01.csv").exists());
}

#[test]
fn completions_and_man_page_come_from_the_real_flags() {
    let bash = Sweep::new().args(["completions", "bash"]).code(0).stdout();
    assert!(bash.contains("--lock-file") && bash.contains("--metrics-file"));
    let man = Sweep::new().arg("man").code(0).stdout();
    assert!(man.contains(".TH sweep 1"), "roff for sweep(1):\n{man}");
    // Every sub-command and every long option of every sub-command, from the parser.
    for sub in ["plan", "apply", "check", "explain", "demo", "completions", "man"] {
        assert!(
            man.contains(&format!("\\fB{sub}\\fR")) || man.contains(&format!("sweep\\-{sub}")) || man.contains(sub),
            "{sub}"
        );
    }
    for flag in
        ["config", "policy", "now", "format", "progress", "metrics\\-file", "lock\\-file", "max\\-delete", "dry\\-run"]
    {
        assert!(man.contains(&format!("\\-\\-{flag}")), "--{flag} is in sweep(1)");
    }
    // The exit-code table, every code with its meaning.
    assert!(man.contains(".SH \"EXIT STATUS\""), "{man}");
    for code in 0..=9 {
        assert!(man.contains(&format!(".TP\n\\fB{code}\\fR\n")), "exit {code} is listed");
    }
    assert!(man.contains(".SH FILES") && man.contains("/run/sweep/sweep.lock"));
    // sweep.yaml(5): every policy key the loader accepts.
    let five = Sweep::new().args(["man", "--section", "5"]).code(0).stdout();
    assert!(five.contains(".TH SWEEP.YAML 5"), "{five}");
    for key in sweep::policy::keys::POLICY.iter().chain(sweep::policy::keys::FILE).chain(sweep::policy::keys::TEST) {
        assert!(five.contains(&format!("\\fB{}\\fR:", key.name)), "key {} is in sweep.yaml(5)", key.name);
    }
    for section in ["LAYOUTS", "UNITS", "OWNERSHIP", "EXAMPLE"] {
        assert!(five.contains(&format!(".SH {section}")), "{section}");
    }
}

/// Both man pages as `man` shows them: they render without a warning from groff, and the
/// rendered sweep.yaml(5) names every key the loader accepts (nested ones included).
#[test]
fn the_man_pages_render_with_man_and_name_every_key() {
    let Some(man) = required("man", "the_man_pages_render_with_man_and_name_every_key") else { return };
    let t = Tree::new();
    let render = |args: &[&str], file: &str| -> String {
        let roff = Sweep::new().args(args).code(0).stdout();
        let path = t.dir.path().join(file);
        std::fs::write(&path, roff).unwrap();
        let out = std::process::Command::new(&man)
            .args(["-l", "-P", "cat"])
            .arg(&path)
            .env("MANWIDTH", "100")
            .env("LANG", "C.UTF-8")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && err.trim().is_empty(), "man -l {file}: {err}");
        String::from_utf8(out.stdout).unwrap()
    };
    let one = render(&["man"], "sweep.1");
    for needle in ["SYNOPSIS", "EXIT STATUS", "FILES", "--lock-file", "--max-rate", "--jobs"] {
        assert!(one.contains(needle), "sweep(1) as rendered lacks {needle}");
    }
    let five = render(&["man", "--section", "5"], "sweep.yaml.5");
    use sweep::policy::keys::{ARCHIVE, COMPRESS, FILE, POLICY, TEST};
    for key in POLICY.iter().chain(FILE).chain(TEST).chain(COMPRESS).chain(ARCHIVE) {
        assert!(five.contains(&format!("{}:", key.name)), "rendered sweep.yaml(5) lacks the key {}", key.name);
    }
    for section in ["LAYOUTS", "UNITS", "OWNERSHIP", "EXAMPLE"] {
        assert!(five.contains(section), "{section}");
    }
}

/// sweep(1) is one page: it lists its commands, and names no sweep-plan(1) page that
/// does not exist.
#[test]
fn the_man_page_lists_its_commands_and_points_to_no_missing_page() {
    let page = Sweep::new().arg("man").code(0).stdout();
    assert!(!page.contains("sweep\\-plan(1)") && !page.contains("sweep-plan(1)"), "{page}");
    for c in ["plan", "apply", "check", "explain", "demo", "init"] {
        assert!(page.contains(&format!("\\fBsweep {c}\\fR")), "{c} is listed");
    }
}
