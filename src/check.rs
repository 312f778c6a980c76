//! `sweep check`: validate policy files for CI and verify their `tests:` examples, in
//! the spirit of `promtool test rules`. Nothing on disk is touched; roots need not exist.

use std::io::{self, Write};

use crate::explain::{decide, owners};
use crate::guard;
use crate::policy::{Policy, PolicySet};

/// The outcome of a check: every problem, one line each.
#[derive(Debug, Default)]
pub struct Report {
    /// Problems, as `file:line: message`.
    pub problems: Vec<String>,
    /// Expectations verified.
    pub passed: usize,
}

/// Checks the loaded `set`, restricted to `selected` policies.
pub fn check(set: &PolicySet, selected: &[&Policy]) -> Report {
    let mut r = Report::default();
    for p in selected {
        if let Some(why) = guard::dangerous_root(&p.root) {
            r.problems.push(format!("{}: policy {}: {why}", p.origin, p.name));
        }
    }
    for t in &set.tests {
        for e in &t.expect {
            let at = format!("{}:{}", t.origin.file.display(), e.line);
            let Some(policy) = owners(selected, &e.path).into_iter().next() else {
                r.problems.push(format!("{at}: {}: no policy's root contains this path", e.path.display()));
                continue;
            };
            let d = decide(policy, &e.path, &t.now);
            match d.action {
                Some(a) if a == e.action => r.passed += 1,
                Some(a) => r.problems.push(format!(
                    "{at}: {}: expected {}, got {a} from policy {} ({})",
                    e.path.display(),
                    e.action,
                    policy.name,
                    d.reason
                )),
                None => r.problems.push(format!(
                    "{at}: {}: expected {}, but policy {} cannot decide without the file ({})",
                    e.path.display(),
                    e.action,
                    policy.name,
                    d.reason
                )),
            }
        }
    }
    r
}

/// Prints the report for people.
pub fn print(out: &mut dyn Write, set: &PolicySet, selected: usize, r: &Report) -> io::Result<()> {
    for p in &r.problems {
        writeln!(out, "{p}")?;
    }
    let tests: usize = set.tests.iter().map(|t| t.expect.len()).sum();
    if r.problems.is_empty() {
        writeln!(
            out,
            "ok: {} in {}; {} of {tests} test expectations pass",
            count(selected, "policy", "policies"),
            count(set.files.len(), "file", "files"),
            r.passed
        )
    } else {
        let problems = count(r.problems.len(), "problem", "problems");
        writeln!(out, "FAILED: {problems}; {} of {tests} test expectations pass", r.passed)
    }
}

/// "1 policy", "2 policies".
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
