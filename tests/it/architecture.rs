//! The flow has one direction: a module may use the modules before it in this order,
//! never one after it (docs/architecture.md). A back-edge — `clock` reaching into
//! `layout`, `guard` into `report` — is a sign a split is wrong, so it fails here.

use std::fs;
use std::path::Path;

/// Top-level modules of `src/`, from the bottom of the flow to the top.
const ORDER: &[&str] = &[
    "exit", "bucket", "clock", "layout", "policy", "tree", "classify", "guard", "act", "report", "state", "lock",
    "cli", "config", "cmd",
];

fn rank(module: &str) -> usize {
    ORDER.iter().position(|m| *m == module).unwrap_or_else(|| panic!("module `{module}` is not in ORDER"))
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_module_uses_a_module_above_it_in_the_flow() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut edges = Vec::new();
    for f in &all {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let me = rank(&top);
        let text = fs::read_to_string(f).unwrap();
        // Code only: doc comments may name any module.
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let used: String =
                    line[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if used.is_empty() || used == top {
                    continue;
                }
                if rank(&used) > me {
                    edges.push(format!("{}: {top} uses {used}", rel.display()));
                }
            }
        }
    }
    assert!(edges.is_empty(), "back-edges in the flow:\n{}", edges.join("\n"));
}

/// clap's types stay in `cli.rs` (and `config.rs`, which turns them into a validated
/// configuration); `cmd/man.rs` may call `cli`'s generators, which take no clap type.
#[test]
fn only_cli_and_config_know_the_command_line_parser() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    for f in &all {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        if rel == "cli.rs" || rel == "config.rs" || rel == "main.rs" {
            continue;
        }
        let text = fs::read_to_string(f).unwrap();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            let clap = ["clap::", "clap_complete::", "clap_mangen::"].iter().any(|c| line.contains(c));
            let cli = line.contains("crate::cli::") && rel != "cmd/man.rs";
            assert!(!clap && !cli, "{rel} uses the parser: {line}");
        }
    }
}

/// Every test the Safety table (docs/safety.md) names exists: the table is the promise,
/// the tests the proof, and a renamed test must not leave a guarantee without one.
#[test]
fn the_safety_table_names_tests_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let safety = fs::read_to_string(root.join("docs/safety.md")).unwrap();
    let table = safety.split("\n## Guarantees\n").nth(1).expect("docs/safety.md has no `## Guarantees`");
    let table = table.split("\n## ").next().unwrap();
    let mut named = 0;
    for row in table.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| guarantee")) {
        let proof = row.rsplit('|').nth(1).unwrap_or("");
        let mut module = String::new();
        for span in proof.split('`').skip(1).step_by(2) {
            let (m, name) = match span.split_once("::") {
                Some((m, name)) => {
                    module = m.to_string();
                    (m, name)
                }
                None if span.starts_with('…') => (module.as_str(), span.trim_start_matches('…')),
                None => continue,
            };
            if !m.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                continue;
            }
            let file = root.join("tests/it").join(format!("{m}.rs"));
            let text = fs::read_to_string(&file).unwrap_or_else(|_| panic!("no tests/it/{m}.rs for `{span}`"));
            if name == "*" {
                continue;
            }
            let name = name.split_whitespace().next().unwrap_or(name);
            assert!(
                text.contains(&format!("fn {name}(")),
                "docs/safety.md's Safety table names `{m}::{name}`, which does not exist"
            );
            named += 1;
        }
    }
    assert!(named > 30, "the table names {named} tests");
}

/// A test that runs something as another user goes through `support::User`, which makes
/// the program reachable wherever the repository was cloned (a private clone directory
/// shuts other users out of `target/`). Switching users anywhere else is a test that
/// fails for whoever clones into `/root` or a `mktemp -d`.
#[test]
fn only_the_user_helper_switches_users() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut all = Vec::new();
    files(&tests, &mut all);
    let allowed = |f: &Path, needle: &str| match needle {
        ".uid(" => f.ends_with("support/user.rs"),
        // The attacker is started through setpriv, with the program made reachable by
        // the helper (support/attack.rs, `Nobody::command`).
        _ => f.ends_with("support/attack.rs"),
    };
    // `.uid(` with an argument: `Command::uid`, not `Metadata::uid()`.
    let switches = |l: &str, needle: &str| {
        l.match_indices(needle).any(|(i, _)| needle != ".uid(" || !l[i + needle.len()..].starts_with(')'))
    };
    let mut found = Vec::new();
    for f in all.iter().filter(|f| !f.ends_with("architecture.rs")) {
        let text = fs::read_to_string(f).unwrap();
        for needle in [".uid(", "--reuid"] {
            let code = text.lines().filter(|l| !l.trim_start().starts_with("//"));
            if code.into_iter().any(|l| switches(l, needle)) && !allowed(f, needle) {
                found.push(format!("{}: {needle}", f.display()));
            }
        }
    }
    assert!(found.is_empty(), "users switched outside support::User:\n{}", found.join("\n"));
}

/// No two files of one folder use each other: a circle means neither is the lower layer,
/// and the split between them is wrong (a shared part belongs in a third file).
#[test]
fn no_two_sibling_modules_use_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut uses: std::collections::BTreeMap<std::path::PathBuf, std::collections::BTreeSet<String>> =
        Default::default();
    for f in &all {
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        if name == "mod" || name == "lib" || name == "main" {
            continue;
        }
        let dir = f.parent().unwrap();
        let siblings: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let p = e.unwrap().path();
                let stem = p.file_stem()?.to_string_lossy().to_string();
                (p.extension().is_some_and(|x| x == "rs") && stem != name && stem != "mod").then_some(stem)
            })
            .collect();
        let text = fs::read_to_string(f).unwrap();
        let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        let used: std::collections::BTreeSet<String> = siblings
            .into_iter()
            .filter(|s| {
                code.contains(&format!("super::{s}::"))
                    || code.contains(&format!("super::{s};"))
                    || code.contains(&format!("super::{s}::{{"))
            })
            .collect();
        uses.insert(f.clone(), used);
    }
    let mut circles = Vec::new();
    for (f, used) in &uses {
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        for other in used {
            let g = f.parent().unwrap().join(format!("{other}.rs"));
            if uses.get(&g).is_some_and(|u| u.contains(&name)) && f < &g {
                circles.push(format!(
                    "{} ↔ {}",
                    f.strip_prefix(&src).unwrap().display(),
                    g.strip_prefix(&src).unwrap().display()
                ));
            }
        }
    }
    assert!(circles.is_empty(), "modules that use each other:\n{}", circles.join("\n"));
}

/// No source file over 600 lines: a file that long does more than one thing (a test
/// module goes in a file of its own, as `classify/tests.rs`).
#[test]
fn no_source_file_is_over_600_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let long: Vec<String> = all
        .iter()
        .filter_map(|f| {
            let n = fs::read_to_string(f).unwrap().lines().count();
            (n > 600).then(|| format!("{}: {n} lines", f.strip_prefix(&src).unwrap().display()))
        })
        .collect();
    assert!(long.is_empty(), "source files over 600 lines:\n{}", long.join("\n"));
}
