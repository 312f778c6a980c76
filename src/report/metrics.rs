//! `--metrics-file`: Prometheus text exposition for node_exporter's textfile collector.
//!
//! The file is replaced atomically (a dot-file in the same directory, fsync, rename), so
//! the collector never reads half a file, and it carries no sample timestamps (the
//! collector rejects them). Every value describes the last run, so all are gauges; the
//! last-success time survives failed runs by being read back from the previous file.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::time::UNIX_EPOCH;

use super::*;

const LAST_SUCCESS: &str = "sweep_last_success_timestamp_seconds";

/// Renders the metrics for `run`. `previous_success` is carried over when this run failed.
pub fn render(run: &RunSummary, previous_success: Option<f64>) -> String {
    let mut m = String::new();
    let mut family = |name: &str, help: &str, rows: Vec<(String, f64)>| {
        let _ = writeln!(m, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, v) in rows {
            let _ = writeln!(m, "{name}{labels} {v}");
        }
    };
    let per = |f: &dyn Fn(&PolicySummary) -> Option<f64>| -> Vec<(String, f64)> {
        run.policies.iter().filter_map(|p| f(p).map(|v| (format!("{{policy=\"{}\"}}", escape(&p.name)), v))).collect()
    };
    let buckets = |b: &dyn Fn(&PolicySummary) -> &Buckets| -> Vec<(String, f64)> {
        let mut rows = Vec::new();
        for p in &run.policies {
            for a in Action::ALL {
                rows.push((
                    format!("{{policy=\"{}\",action=\"{}\"}}", escape(&p.name), a.as_str()),
                    b(p).get(a) as f64,
                ));
            }
        }
        rows
    };
    family(
        "sweep_files",
        "Files under the policy's root per action (delete, keep, protect, unmatched, error) in the last run.",
        buckets(&|p| &p.files),
    );
    family("sweep_bytes", "Bytes under the policy's root per action in the last run.", buckets(&|p| &p.bytes));
    family("sweep_deleted_files", "Files deleted by the last run (0 in plan).", per(&|p| Some(p.deleted as f64)));
    family("sweep_deleted_bytes", "Bytes deleted by the last run (0 in plan).", per(&|p| Some(p.deleted_bytes as f64)));
    family("sweep_failed_files", "Deletions the OS refused in the last run.", per(&|p| Some(p.failed as f64)));
    family(
        "sweep_vanished_files",
        "Files already gone when their deletion came in the last run.",
        per(&|p| Some(p.vanished as f64)),
    );
    family(
        "sweep_dirs_removed",
        "Directories emptied and removed by the last run (in plan: those apply would remove).",
        per(&|p| Some(p.dirs_removed as f64)),
    );
    family(
        "sweep_mounts_skipped",
        "Mount points under the root not entered (one_file_system) in the last run.",
        per(&|p| Some(p.mounts_skipped as f64)),
    );
    family(
        "sweep_refused",
        "1 when a safety guard refused the policy's deletions in the last run.",
        per(&|p| Some(if p.refused.is_some() { 1.0 } else { 0.0 })),
    );
    family(
        "sweep_policy_exit_code",
        "The policy's own exit code in the last run (0 clean; see sweep's exit-code table).",
        per(&|p| Some(f64::from(p.exit.code()))),
    );
    family("sweep_duration_seconds", "Wall time of the policy's last run.", per(&|p| Some(p.duration.as_secs_f64())));
    family(
        "sweep_cutoff_timestamp_seconds",
        "The cutoff of the last run: partitions ending at or before it expire.",
        per(&|p| p.cutoff.as_ref().map(|c| c.1 as f64)),
    );
    family(
        "sweep_filesystem_used_ratio",
        "Used share (0-1) of the root's filesystem after the last run.",
        per(&|p| p.disk.as_ref().map(|d| d.used_ratio)),
    );
    let started = run.started.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    family("sweep_last_run_exit_code", "Exit code of the last run.", vec![(String::new(), f64::from(run.exit.code()))]);
    family(
        "sweep_last_run_dry_run",
        "1 when the last run was a plan (nothing deleted).",
        vec![(String::new(), if run.dry_run { 1.0 } else { 0.0 })],
    );
    family("sweep_last_run_start_timestamp_seconds", "Start time of the last run.", vec![(String::new(), started)]);
    let success = if run.exit == crate::exit::Exit::Clean { Some(started) } else { previous_success };
    family(
        LAST_SUCCESS,
        "Start time of the last run that exited 0 (0 when none is known).",
        vec![(String::new(), success.unwrap_or(0.0))],
    );
    m
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The last-success time recorded in an earlier metrics file, if any.
pub fn previous_success(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(LAST_SUCCESS)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
        .filter(|v| *v > 0.0)
}

/// Writes `text` to `path` atomically: a hidden temporary file beside it, fsync, rename.
pub fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let tmp = dir.join(format!(".{}.tmp.{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
