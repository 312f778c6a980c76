//! `--format json`: JSON Lines on stdout, one object per file, streamed, summary last.
//!
//! Field names are the product contract (docs/output.md). Names that are not UTF-8 cannot be
//! JSON strings: `path` then holds the name with invalid bytes replaced by U+FFFD and
//! `path_base64` holds the exact bytes, so a script can always recover the real name.

use std::io::{self, Write};

use base64::Engine as _;
use serde::Serialize;

use super::Printer;
use super::counts::BucketJson;
use super::reason;
use crate::act::events::{DirEvent, ErrorEvent, FileEvent, FileOutcome, LeftoverEvent, NestedEvent, Sink, TableEvent};
use crate::act::summary::{CapacityReport, PolicySummary, RunSummary};
use crate::bucket::Action;

/// Writes JSON Lines through the printer.
pub struct Json<'a> {
    out: &'a mut Printer,
    reason: String,
}

impl<'a> Json<'a> {
    /// A JSON sink on `out`.
    pub fn new(out: &'a mut Printer) -> Json<'a> {
        Json { out, reason: String::new() }
    }
}

/// A `dir` or `leftover` line: something removed besides the files decided on.
fn removal(
    out: &mut Printer,
    kind: &'static str,
    policy: &str,
    path: &[u8],
    dry_run: bool,
    error: Option<&str>,
    reason: Option<&str>,
) -> io::Result<()> {
    let p = json_path(path);
    let outcome = match (dry_run, error) {
        (true, _) => None,
        (false, None) => Some("removed"),
        (false, Some(_)) => Some("failed"),
    };
    let row = DirLine {
        kind,
        policy,
        path: &p.text,
        path_base64: p.base64.as_deref(),
        action: "remove",
        outcome,
        error,
        reason,
    };
    line(out, &row)
}

fn line<T: Serialize>(out: &mut Printer, v: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, v).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// A path as JSON: text, plus the exact bytes when the text is lossy.
pub struct JsonPath<'a> {
    /// The path as text (lossy when it is not UTF-8).
    pub text: std::borrow::Cow<'a, str>,
    /// The exact bytes, when the text is lossy.
    pub base64: Option<String>,
}

/// A path for JSON.
pub fn json_path(bytes: &[u8]) -> JsonPath<'_> {
    match std::str::from_utf8(bytes) {
        Ok(s) => JsonPath { text: s.into(), base64: None },
        Err(_) => JsonPath {
            text: String::from_utf8_lossy(bytes),
            base64: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        },
    }
}

#[derive(Serialize)]
struct FileLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    policy: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_base64: Option<&'a str>,
    action: &'static str,
    reason: &'a str,
    date: Option<&'a str>,
    bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    /// `compress` and `move`: the new path.
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_base64: Option<&'a str>,
    /// `compress`: the sizes before and (once compressed) after.
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_before: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_after: Option<u64>,
}

#[derive(Serialize)]
struct DirLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    policy: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_base64: Option<&'a str>,
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

#[derive(Serialize)]
struct NestedLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    policy: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_base64: Option<&'a str>,
    owner: &'a str,
}

#[derive(Serialize)]
struct TableLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    policy: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_base64: Option<&'a str>,
    format: &'static str,
    /// What removes the table's files instead.
    retention: &'static str,
}

#[derive(Serialize)]
struct SummaryLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    dry_run: bool,
    exit_code: u8,
    policies: Vec<PolicyJson<'a>>,
}

#[derive(Serialize)]
struct PolicyJson<'a> {
    name: &'a str,
    root: std::borrow::Cow<'a, str>,
    cutoff: Option<&'a str>,
    files: BucketJson,
    bytes: BucketJson,
    deleted: u64,
    compressed: u64,
    compressed_bytes_before: u64,
    compressed_bytes_after: u64,
    moved: u64,
    moved_bytes: u64,
    leftovers: u64,
    failed: u64,
    dirs_removed: u64,
    refused: Option<RefusalJson>,
    dirs_failed: u64,
    vanished: u64,
    mounts_skipped: u64,
    nested: u64,
    tables: u64,
    foreign: u64,
    future: u64,
    open: u64,
    capacity: Option<CapacityJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fresh: Option<FreshJson<'a>>,
    newest_partition_end: Option<String>,
    rate: Option<RateJson>,
    problems: Vec<String>,
    problem_codes: Vec<&'static str>,
    exit_code: u8,
    duration_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    disk_used_ratio: Option<f64>,
    forecast: Option<ForecastJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_delete_auto: Option<AutoJson>,
    /// Object roots at scale: `inventory`, `lease`, `shard`.
    #[serde(flatten)]
    scale: super::scale::ScaleJson<'a>,
}

/// `forecast`: whether the retention fits (null without a complete partition, and on
/// object roots).
#[derive(Serialize)]
struct ForecastJson {
    bytes_per_period: u64,
    footprint: u64,
    room: u64,
    fit: f64,
}

/// `max_delete_auto`: what `max_delete: auto` went by, when it is in force.
#[derive(Serialize)]
struct AutoJson {
    factor: u32,
    /// The medians, when enough applies are known.
    learned: Option<LearnedJson>,
    /// `2d` when it acts as a span, and why.
    acts_as: Option<String>,
    why: Option<String>,
    would_delete: Option<u64>,
    would_delete_bytes: Option<u64>,
}

#[derive(Serialize)]
struct LearnedJson {
    runs: usize,
    median_files: u64,
    median_bytes: u64,
    max_files: u64,
    max_bytes: u64,
    allowed_files: u64,
    allowed_bytes: Option<u64>,
}

impl AutoJson {
    fn of(a: &crate::act::summary::AutoReport) -> AutoJson {
        use crate::guard::auto::Basis;
        let (learned, acts_as, why) = match &a.basis {
            Basis::Learned(l) => (
                Some(LearnedJson {
                    runs: l.runs,
                    median_files: l.median_files,
                    median_bytes: l.median_bytes,
                    max_files: l.max_files,
                    max_bytes: l.max_bytes,
                    allowed_files: l.allowed_files(),
                    allowed_bytes: l.allowed_bytes(),
                }),
                None,
                None,
            ),
            Basis::Span(w) => (None, Some(crate::guard::auto::span().to_string()), Some(reason::auto_why(w))),
        };
        AutoJson {
            factor: a.factor.get(),
            learned,
            acts_as,
            why,
            would_delete: a.would.map(|w| w.0),
            would_delete_bytes: a.would.map(|w| w.1),
        }
    }
}

/// `capacity`: the keys of the targets set, sizes in bytes.
#[derive(Serialize)]
struct CapacityJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    min_free: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    free_before: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    free_after: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    free_after_predicted: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_free_inodes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    free_inodes_before: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    free_inodes_after: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_before: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_after: Option<u64>,
    met: bool,
    /// A target could not be judged: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    unknown: Option<String>,
    used_by_others: Option<u64>,
    deleted_for_space: u64,
    partitions_for_space: usize,
    bytes_freed_for_space: u64,
    missing: MissingJson,
}

#[derive(Serialize)]
struct MissingJson {
    free: u64,
    inodes: u64,
    bytes: u64,
}

impl CapacityJson {
    fn of(c: &CapacityReport) -> CapacityJson {
        let d = &c.decision;
        let t = d.targets;
        let free_after = c.real_after.map_or(d.after.free, |r| r.0);
        let inodes_after = c.real_after.map_or(d.after.inodes, |r| r.1);
        CapacityJson {
            min_free: t.free,
            free_before: t.free.map(|_| d.before.free),
            free_after: t.free.map(|_| free_after),
            free_after_predicted: t.free.map(|_| d.after.free),
            min_free_inodes: t.inodes,
            free_inodes_before: t.inodes.map(|_| d.before.inodes),
            free_inodes_after: t.inodes.map(|_| inodes_after),
            max_bytes: t.bytes,
            bytes_before: t.bytes.map(|_| d.before.bytes),
            bytes_after: t.bytes.map(|_| d.after.bytes),
            met: c.met(),
            unknown: c.unknown.clone(),
            used_by_others: c.used_by_others,
            deleted_for_space: if c.refused { 0 } else { d.files },
            partitions_for_space: if c.refused { 0 } else { d.chosen.len() },
            bytes_freed_for_space: if c.refused { 0 } else { d.freed },
            missing: MissingJson { free: d.missing.free, inodes: d.missing.inodes, bytes: d.missing.bytes },
        }
    }
}

#[derive(Serialize)]
struct RateJson {
    files_per_second: f64,
    bytes_per_second: f64,
}

#[derive(Serialize)]
struct FreshJson<'a> {
    expect_fresh_seconds: i64,
    newest: Option<&'a str>,
    age_seconds: Option<i64>,
    stale: bool,
}

#[derive(Serialize)]
struct RefusalJson {
    guard: &'static str,
    /// A stable code for scripts: the guard, and which form of `max_delete`.
    code: &'static str,
    reason: String,
    would_delete: u64,
    limit: Option<u64>,
}

impl Sink for Json<'_> {
    fn file(&mut self, e: &FileEvent) -> io::Result<()> {
        let mut reason = std::mem::take(&mut self.reason);
        reason.clear();
        reason::render(e.verdict, e.facts, &mut reason);
        let p = json_path(e.path);
        let (outcome, error) = match e.outcome {
            None => (None, None),
            Some(o @ (FileOutcome::Failed(msg) | FileOutcome::WouldFail(msg))) => (Some(o.as_str()), Some(msg)),
            Some(o) => (Some(o.as_str()), None),
        };
        let to = e.to.map(json_path);
        let compress = e.verdict.action == Action::Compress;
        let row = FileLine {
            kind: "file",
            policy: e.policy,
            path: &p.text,
            path_base64: p.base64.as_deref(),
            action: e.verdict.action.as_str(),
            reason: &reason,
            date: e.verdict.date.as_deref(),
            bytes: e.bytes,
            outcome,
            error,
            to: to.as_ref().map(|t| &*t.text),
            to_base64: to.as_ref().and_then(|t| t.base64.as_deref()),
            bytes_before: compress.then_some(e.bytes),
            bytes_after: match e.outcome {
                Some(FileOutcome::Compressed(n)) => Some(n),
                _ => None,
            },
        };
        let r = line(self.out, &row);
        self.reason = reason;
        r
    }

    fn error(&mut self, e: &ErrorEvent) -> io::Result<()> {
        let p = json_path(e.path);
        let row = FileLine {
            kind: "file",
            policy: e.policy,
            path: &p.text,
            path_base64: p.base64.as_deref(),
            action: "error",
            reason: e.message,
            date: None,
            bytes: 0,
            outcome: None,
            error: None,
            to: None,
            to_base64: None,
            bytes_before: None,
            bytes_after: None,
        };
        line(self.out, &row)
    }

    fn dir(&mut self, e: &DirEvent) -> io::Result<()> {
        removal(self.out, "dir", e.policy, e.path, e.dry_run, e.error, None)
    }

    fn mount(&mut self, policy: &str, path: &[u8]) -> io::Result<()> {
        let p = json_path(path);
        line(
            self.out,
            &DirLine {
                kind: "mount",
                policy,
                path: &p.text,
                path_base64: p.base64.as_deref(),
                action: "skip",
                outcome: None,
                error: None,
                reason: Some(
                    "a mount point (another filesystem, or a bind mount); not entered (one_file_system: true)",
                ),
            },
        )
    }

    fn leftover(&mut self, e: &LeftoverEvent) -> io::Result<()> {
        let why = Some("a temporary an interrupted run left");
        removal(self.out, "leftover", e.policy, e.path, e.dry_run, e.error, why)
    }

    fn nested(&mut self, e: &NestedEvent) -> io::Result<()> {
        let p = json_path(e.path);
        line(
            self.out,
            &NestedLine {
                kind: "nested",
                policy: e.policy,
                path: &p.text,
                path_base64: p.base64.as_deref(),
                owner: e.owner,
            },
        )
    }

    fn table(&mut self, e: &TableEvent) -> io::Result<()> {
        let p = json_path(e.path);
        line(
            self.out,
            &TableLine {
                kind: "table",
                policy: e.policy,
                path: &p.text,
                path_base64: p.base64.as_deref(),
                format: e.format.as_str(),
                retention: e.format.retention(),
            },
        )
    }

    fn policy_end(&mut self, _: &PolicySummary) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, s: &RunSummary) -> io::Result<()> {
        let policies = s
            .policies
            .iter()
            .map(|p| PolicyJson {
                name: &p.name,
                root: p.root.to_string_lossy(),
                cutoff: p.cutoff.as_ref().map(|c| c.0.as_str()),
                files: p.files.into(),
                bytes: p.bytes.into(),
                deleted: p.deleted,
                compressed: p.tiers.compressed,
                compressed_bytes_before: p.tiers.bytes_before,
                compressed_bytes_after: p.tiers.bytes_after,
                moved: p.tiers.moved,
                moved_bytes: p.tiers.moved_bytes,
                leftovers: p.tiers.leftovers,
                failed: p.failed,
                dirs_removed: p.dirs_removed,
                dirs_failed: p.dirs_failed,
                refused: p.refused.as_ref().map(|r| RefusalJson {
                    guard: r.guard().as_str(),
                    code: r.code(),
                    reason: reason::refusal(r),
                    would_delete: r.would_delete,
                    limit: r.limit,
                }),
                vanished: p.vanished,
                mounts_skipped: p.mounts_skipped,
                nested: p.nested,
                tables: p.tables,
                foreign: p.foreign,
                future: p.future,
                open: p.open,
                capacity: p.capacity.as_ref().map(CapacityJson::of),
                fresh: p.fresh.as_ref().map(|f| FreshJson {
                    expect_fresh_seconds: f.expect,
                    newest: f.newest.as_ref().map(|(d, _)| d.as_str()),
                    age_seconds: f.age,
                    stale: f.stale,
                }),
                rate: p.rate().map(|(f, b)| RateJson { files_per_second: f.round(), bytes_per_second: b.round() }),
                newest_partition_end: p
                    .newest_end
                    .map(|t| chrono::DateTime::from_timestamp(t, 0).map(|d| d.to_rfc3339()).unwrap_or_default()),
                problems: p.problems.iter().map(|x| reason::problem(x, &p.root)).collect(),
                problem_codes: p.problems.iter().map(|x| x.code()).collect(),
                exit_code: p.exit.code(),
                duration_seconds: p.duration.as_secs_f64(),
                disk_used_ratio: p.disk.as_ref().map(|d| d.used_ratio),
                forecast: p.forecast.as_ref().map(|f| ForecastJson {
                    bytes_per_period: f.bytes_per_period,
                    footprint: f.footprint,
                    room: f.room,
                    fit: f.fit,
                }),
                max_delete_auto: p.auto.as_ref().map(AutoJson::of),
                scale: super::scale::ScaleJson::of(p),
            })
            .collect();
        line(self.out, &SummaryLine { kind: "summary", dry_run: s.dry_run, exit_code: s.exit.code(), policies })?;
        self.out.flush()
    }
}
