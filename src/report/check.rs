//! `sweep check`'s report: every problem with its place, notes about nested and shared
//! roots, and a last line (text) or summary object (JSON) that says whether the files
//! are valid, also when they are not.

use std::path::PathBuf;

use serde::Serialize;

use super::Printer;
use super::reason::{count, thousands};
use crate::policy::Problem;

/// The most problems listed; the rest are counted. A hostile file can hold a problem per
/// value, and a listing of hundreds of thousands of lines helps no one (the summary
/// still counts them all).
pub const MAX_LISTED: usize = 1000;

/// What `check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Every problem, in file order.
    pub problems: Vec<Problem>,
    /// Who owns what where roots nest or are shared.
    pub notes: Vec<String>,
    /// Policies checked.
    pub policies: usize,
    /// Files read.
    pub files: Vec<PathBuf>,
    /// Expectations that held, and expectations in all.
    pub passed: usize,
    /// Expectations written.
    pub tests: usize,
    /// Whether the expectations were evaluated (not when a policy is invalid).
    pub tests_run: bool,
}

#[derive(Serialize)]
struct ProblemLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    code: &'static str,
    file: String,
    line: Option<usize>,
    column: Option<usize>,
    key: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct NoteLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

#[derive(Serialize)]
struct SummaryLine {
    #[serde(rename = "type")]
    kind: &'static str,
    ok: bool,
    policies: usize,
    files: Vec<String>,
    problems: usize,
    /// Problem lines printed before the summary: at most [`MAX_LISTED`].
    listed: usize,
    tests: TestsJson,
    exit_code: u8,
}

#[derive(Serialize)]
struct TestsJson {
    passed: usize,
    total: usize,
    run: bool,
}

/// Prints the report.
pub fn print(out: &mut Printer, r: &CheckReport) {
    let ok = r.problems.is_empty();
    let unlisted = r.problems.len().saturating_sub(MAX_LISTED);
    if out.style.json {
        for p in r.problems.iter().take(MAX_LISTED) {
            out.json(&ProblemLine {
                kind: "problem",
                code: p.code.as_str(),
                file: p.file.display().to_string(),
                line: p.at.map(|m| m.line),
                column: p.at.map(|m| m.column),
                key: &p.key,
                message: &p.message,
            });
        }
        for n in &r.notes {
            out.json(&NoteLine { kind: "note", message: n });
        }
        out.json(&SummaryLine {
            kind: "summary",
            ok,
            policies: r.policies,
            files: r.files.iter().map(|f| f.display().to_string()).collect(),
            problems: r.problems.len(),
            listed: r.problems.len() - unlisted,
            tests: TestsJson { passed: r.passed, total: r.tests, run: r.tests_run },
            exit_code: if ok { 0 } else { 3 },
        });
        return;
    }
    for p in r.problems.iter().take(MAX_LISTED) {
        out.line(p);
    }
    if unlisted > 0 {
        let what = if unlisted == 1 { "problem" } else { "problems" };
        out.line(format_args!("… and {} more {what}", thousands(unlisted as u64)));
    }
    for n in &r.notes {
        out.line(format_args!("note: {n}"));
    }
    let tests = match (r.tests, r.tests_run) {
        (0, _) => String::new(),
        (n, true) => format!(
            "; {} of {} pass",
            thousands(r.passed as u64),
            count(n as u64, "test expectation", "test expectations")
        ),
        (n, false) => format!(
            "; {} not run until the policies are valid",
            count(n as u64, "test expectation", "test expectations")
        ),
    };
    if ok {
        out.line(format_args!(
            "ok: {} in {}{tests}",
            count(r.policies as u64, "policy", "policies"),
            count(r.files.len() as u64, "file", "files"),
        ));
    } else {
        out.line(format_args!("FAILED: {}{tests}", count(r.problems.len() as u64, "problem", "problems")));
    }
}
