//! `sweep check`: validates policy files for CI — every problem of every file in one
//! run, dangerous roots, notes on nested and shared roots, and the `tests:` examples,
//! each decided by the policy that owns its path (over all loaded policies, as a run
//! decides). Exit 0 when all is valid, 3 when not.

use crate::act::explain;
use crate::config::CheckConfig;
use crate::exit::Exit;
use crate::guard::SystemDirs;
use crate::policy::{self, Problem, yaml};
use crate::report::Printer;
use crate::report::check::{CheckReport, print};

/// Runs `check`.
pub fn run(cfg: &CheckConfig) -> Exit {
    let mut out = Printer::new(cfg.style);
    let (set, problems) = policy::load(&cfg.selection.config);
    let selected = match super::choose(&set, &cfg.selection.policy) {
        Ok(s) => s,
        Err(e) => {
            out.log().error(&e);
            return out.finish(Exit::Usage);
        }
    };
    let mut r = CheckReport {
        policies: selected.iter().filter(|s| **s).count(),
        files: set.files.clone(),
        tests: set.tests.iter().map(|t| t.expect.len()).sum(),
        tests_run: problems.is_empty(),
        problems,
        notes: set.notes().into_iter().chain(identity_notes(&set)).collect(),
        passed: 0,
    };
    let system = SystemDirs::read();
    for (p, _) in set.policies.iter().zip(&selected).filter(|(_, s)| **s) {
        let id = std::fs::metadata(&p.root).ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            crate::tree::DirId { dev: m.dev(), ino: m.ino() }
        });
        let resolved = std::fs::canonicalize(&p.root).ok();
        if let Some(why) = system.refuse(&p.root, id, resolved.as_deref()) {
            r.problems.push(Problem {
                code: crate::policy::Code::DangerousRoot,
                file: p.origin.file.clone(),
                at: Some(yaml::Mark { line: p.origin.line, column: 1 }),
                key: "root".into(),
                message: format!("policy {}: {why}", p.name),
            });
        }
    }
    if r.tests_run {
        for t in &set.tests {
            let case = explain::Case::new(t.expect.iter().map(|e| e.path.clone()).collect());
            for e in &t.expect {
                let problem = |message: String| Problem {
                    code: crate::policy::Code::TestFailed,
                    file: t.origin.file.clone(),
                    at: Some(e.at),
                    key: e.key.clone(),
                    message,
                };
                let Some(d) = explain::decide(&set, &selected, &e.path, &t.now, explain::Tree::Paths(&case)) else {
                    r.problems.push(problem("no policy's root contains this path".into()));
                    continue;
                };
                let reason = d.verdict.as_ref().map(|v| crate::report::reason::text(v, &d.facts)).unwrap_or_default();
                match d.action() {
                    Some(a) if a == e.action => r.passed += 1,
                    Some(a) => r.problems.push(problem(format!(
                        "expected {}, got {a} from policy {} ({reason})",
                        e.action, d.policy.name
                    ))),
                    None => r.problems.push(problem(format!(
                        "expected {}, but policy {} cannot decide without the file ({})",
                        e.action,
                        d.policy.name,
                        d.undecided.unwrap_or_default()
                    ))),
                }
            }
        }
    }
    print(&mut out, &r);
    let code = if r.problems.is_empty() { Exit::Clean } else { Exit::InvalidPolicy };
    out.finish(code)
}

/// Notes for roots that nest or coincide by what they are, not by how they are spelled
/// (a symlink, a bind mount, `..`): resolved as they exist now, as a run finds them.
fn identity_notes(set: &policy::PolicySet) -> Vec<String> {
    let groups = set.groups();
    let real: Vec<Option<std::path::PathBuf>> = groups
        .iter()
        .map(|g| set.policies[g.members[0]].object.is_none().then(|| std::fs::canonicalize(&g.root).ok()).flatten())
        .collect();
    let names = |g: &policy::set::Group| {
        g.members.iter().map(|&i| set.policies[i].name.as_str()).collect::<Vec<_>>().join(", ")
    };
    let mut notes = Vec::new();
    for (a, ga) in groups.iter().enumerate() {
        for (b, gb) in groups.iter().enumerate() {
            let (Some(ra), Some(rb)) = (&real[a], &real[b]) else { continue };
            if a == b {
                continue;
            }
            if ra == rb && a < b {
                notes.push(format!(
                    "roots {} (policy {}) and {} (policy {}) are one directory, {}: they share it, each file belonging to the first policy whose layouts or exclude match it",
                    ga.root.display(),
                    names(ga),
                    gb.root.display(),
                    names(gb),
                    ra.display()
                ));
            } else if rb != ra && rb.starts_with(ra) && !gb.root.starts_with(&ga.root) {
                notes.push(format!(
                    "root {} (policy {}) is inside root {} (policy {}): it is {}; everything below it belongs to {}, which the outer policy never enters",
                    gb.root.display(),
                    names(gb),
                    ga.root.display(),
                    names(ga),
                    rb.display(),
                    names(gb)
                ));
            }
        }
    }
    notes
}
