//! `--metrics-file`: Prometheus text exposition for node_exporter's textfile collector.
//!
//! The file is replaced atomically (a dot-file in the same directory, fsync, rename), so
//! the collector never reads half a file, and it carries no sample timestamps (the
//! collector rejects them). Every value describes the last run, so all are gauges; the
//! last-success time survives failed runs by being read back from the previous file.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::UNIX_EPOCH;

use rustix::fs::{FileType, Mode, OFlags};

use crate::act::summary::{Buckets, PolicySummary, RunSummary};
use crate::bucket::Action;

const LAST_SUCCESS: &str = "sweep_last_success_timestamp_seconds";
const LAST_START: &str = "sweep_last_run_start_timestamp_seconds";

/// Reads one count of a policy's summary.
type Count = fn(&PolicySummary) -> u64;

/// Per-policy counts of the last run, each one gauge family: name, help, value.
const COUNTERS: &[(&str, &str, Count)] = &[
    ("sweep_deleted_files", "Files deleted by the last run (0 in plan).", |p| p.deleted),
    ("sweep_deleted_bytes", "Bytes deleted by the last run (0 in plan).", |p| p.deleted_bytes),
    ("sweep_compressed_files", "Files compressed in place by the last run (0 in plan).", |p| p.tiers.compressed),
    ("sweep_compressed_input_bytes", "Sizes of the files compressed by the last run, before compression.", |p| {
        p.tiers.bytes_before
    }),
    ("sweep_compressed_output_bytes", "Sizes of the compressed files the last run wrote.", |p| p.tiers.bytes_after),
    ("sweep_moved_files", "Files moved to the archive by the last run (0 in plan).", |p| p.tiers.moved),
    ("sweep_moved_bytes", "Bytes moved to the archive by the last run.", |p| p.tiers.moved_bytes),
    ("sweep_leftovers_removed", "Temporaries of interrupted runs removed by the last run.", |p| p.tiers.leftovers),
    ("sweep_failed_files", "Deletions the OS refused in the last run.", |p| p.failed),
    ("sweep_vanished_files", "Files already gone when their deletion came in the last run.", |p| p.vanished),
    (
        "sweep_dirs_removed",
        "Directories emptied and removed by the last run (in plan: those apply would remove).",
        |p| p.dirs_removed,
    ),
    ("sweep_mounts_skipped", "Mount points under the root not entered (one_file_system) in the last run.", |p| {
        p.mounts_skipped
    }),
    ("sweep_nested_roots", "Roots of other policies inside the policy's root, left to them, in the last run.", |p| {
        p.nested
    }),
    (
        "sweep_foreign_files",
        "Files at the policy's root that belong to a policy --policy did not select, left alone.",
        |p| p.foreign,
    ),
    (
        "sweep_future_files",
        "Files unmatched because they are dated later than now plus max_future, in the last run.",
        |p| p.future,
    ),
    ("sweep_open_files", "Files protected because a process held them open (skip_open), in the last run.", |p| p.open),
];

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
        "Files under the policy's root per action (delete, keep, protect, unmatched, error, compress, move) in the last run.",
        buckets(&|p| &p.files),
    );
    family("sweep_bytes", "Bytes under the policy's root per action in the last run.", buckets(&|p| &p.bytes));
    for (name, help, count) in COUNTERS {
        family(name, help, per(&|p| Some(count(p) as f64)));
    }
    family(
        "sweep_held_open_deleted_bytes",
        "Bytes of deleted files still held open on the root's filesystem (df counts them, du does not).",
        per(&|p| p.disk.as_ref().map(|d| d.held_open.1 as f64)),
    );
    family(
        "sweep_newest_partition_timestamp_seconds",
        "End of the newest matched partition's period, as a Unix time.",
        per(&|p| p.newest_end.map(|t| t as f64)),
    );
    family(
        "sweep_stale",
        "1 when the newest partition is older than expect_fresh (or none matched); only for policies that set it.",
        per(&|p| p.fresh.as_ref().map(|f| if f.stale { 1.0 } else { 0.0 })),
    );
    family(
        "sweep_free_before_bytes",
        "Bytes available to users on the root's filesystem when the policy's run started.",
        per(&|p| p.disk.as_ref().map(|d| d.avail_before as f64)),
    );
    family(
        "sweep_free_after_bytes",
        "Bytes available to users on the root's filesystem after the run (in plan: predicted).",
        per(&|p| p.disk.as_ref().map(|d| d.avail_bytes as f64)),
    );
    let targets = |inodes: bool| {
        let mut rows = Vec::new();
        for p in &run.policies {
            let Some(c) = &p.capacity else { continue };
            let t = c.decision.targets;
            let all = [("min_free", t.free, false), ("min_free_inodes", t.inodes, true), ("max_bytes", t.bytes, false)];
            for (name, v, counts_inodes) in all {
                if let Some(v) = v.filter(|_| counts_inodes == inodes) {
                    rows.push((format!("{{policy=\"{}\",target=\"{name}\"}}", escape(&p.name)), v as f64));
                }
            }
        }
        rows
    };
    family(
        "sweep_capacity_target_bytes",
        "A capacity target in bytes: free space wanted (min_free) or the most the policy's files may hold (max_bytes).",
        targets(false),
    );
    family("sweep_capacity_target_inodes", "Free inodes wanted (min_free_inodes).", targets(true));
    family(
        "sweep_capacity_met",
        "1 when every capacity target of the policy was met after the run.",
        per(&|p| p.capacity.as_ref().map(|c| if c.met() { 1.0 } else { 0.0 })),
    );
    family(
        "sweep_capacity_unknown",
        "1 when a capacity target could not be judged (the filesystem reports 0 blocks or 0 inodes, or statvfs fails): nothing was deleted for it.",
        per(&|p| p.capacity.as_ref().map(|c| if c.unknown.is_some() { 1.0 } else { 0.0 })),
    );
    family(
        "sweep_used_by_others_bytes",
        "Bytes on the root's filesystem in no policy's files, before the run: what others hold.",
        per(&|p| p.capacity.as_ref().and_then(|c| c.used_by_others).map(|b| b as f64)),
    );
    family(
        "sweep_forecast_fit_ratio",
        "What keep will hold at the rate of the newest complete partitions, over the room below disk_fail_above (the whole filesystem when unset) that others leave: above 1, the retention cannot fit.",
        per(&|p| p.forecast.as_ref().map(|f| f.fit)),
    );
    family(
        "sweep_for_space_files",
        "Files deleted (in plan: to delete) to meet a capacity target.",
        per(&|p| p.capacity.as_ref().map(|_| p.for_space as f64)),
    );
    family(
        "sweep_for_space_bytes",
        "Bytes on disk freed (in plan: to free) by the deletions for space.",
        per(&|p| p.capacity.as_ref().map(|c| if c.refused { 0.0 } else { c.decision.freed as f64 })),
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
    family(LAST_START, "Start time of the last run.", vec![(String::new(), started)]);
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

/// What sweep reads back from the metrics file an earlier run wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Previous {
    /// Start of the last run that exited 0.
    pub success: Option<f64>,
    /// Start of the last run.
    pub start: Option<f64>,
    /// Why the file was not read, when that is worth saying.
    pub warning: Option<String>,
}

/// The largest metrics file read back.
const MAX_READ: u64 = 1024 * 1024;

/// Reads an earlier metrics file, carefully: it sits in a directory other users may
/// write (node_exporter's textfile directory), so it is opened without following a
/// symlink and without blocking on a FIFO, must be a regular file, and is read up to
/// 1 MiB. Anything else is "no previous run".
pub fn previous(path: &Path) -> Previous {
    let Some((dir, name)) = split(path) else { return Previous::default() };
    let dir = match crate::tree::local::resolve::open_dir(dir) {
        Ok(d) => d,
        Err(crate::tree::local::resolve::Refusal::Os(_)) => return Previous::default(),
        Err(e) => {
            return Previous { warning: Some(format!("not reading the previous metrics: {e}")), ..Previous::default() };
        }
    };
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let Ok(fd) = rustix::fs::openat(&dir, name, flags, Mode::empty()) else { return Previous::default() };
    match rustix::fs::fstat(&fd) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {
            // As root, a file someone else could have written says nothing about sweep's
            // last run: its times must not steer the clock guard or hide a stale alert.
            let me = rustix::process::geteuid();
            if me.is_root() && st.st_uid != 0 {
                return Previous {
                    warning: Some(format!(
                        "ignoring the previous metrics file {}: it is owned by uid {}, not root, so its last run times are not trusted",
                        path.display(),
                        st.st_uid
                    )),
                    ..Previous::default()
                };
            }
        }
        _ => return Previous::default(),
    }
    let mut text = String::new();
    if std::fs::File::from(fd).take(MAX_READ).read_to_string(&mut text).is_err() {
        return Previous::default();
    }
    parse_previous(&text)
}

/// The values an earlier exposition holds: for each, the first line with a finite,
/// positive time (a line with NaN or a negative value does not hide a good one after it).
pub fn parse_previous(text: &str) -> Previous {
    let value = |name: &str| {
        text.lines().find_map(|l| {
            let v = l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok()?;
            (v.is_finite() && v > 0.0).then_some(v)
        })
    };
    Previous { success: value(LAST_SUCCESS), start: value(LAST_START), warning: None }
}

fn split(path: &Path) -> Option<(&Path, &std::ffi::OsStr)> {
    let name = path.file_name()?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some((dir, name))
}

/// Writes `text` to `path` atomically and safely: a new file with an unpredictable name,
/// created exclusively (`O_EXCL | O_NOFOLLOW`, so nothing planted in the directory is
/// ever written through) relative to the directory's descriptor, mode 0644, synced, then
/// renamed over `path` through the same descriptor, and the directory synced.
pub fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let (dir, name) = split(path).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let dir = crate::tree::local::resolve::open_dir(dir).map_err(|e| match e {
        crate::tree::local::resolve::Refusal::Os(e) => io::Error::from(e),
        unsafe_link => io::Error::new(io::ErrorKind::PermissionDenied, format!("its directory: {unsafe_link}")),
    })?;
    write_in(&dir, name, text)
}

/// [`write_atomically`] into a directory already open as `dir`: the temporary is
/// created and renamed to `name` through that descriptor.
pub fn write_in(dir: &std::os::fd::OwnedFd, name: &std::ffi::OsStr, text: &str) -> io::Result<()> {
    let mut tmp_name = None;
    let mut fd = None;
    for _ in 0..8 {
        let mut random = [0u8; 8];
        rustix::rand::getrandom(&mut random, rustix::rand::GetRandomFlags::empty())?;
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let candidate = format!(".{}.{suffix}.tmp", name.to_string_lossy());
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(dir, candidate.as_str(), flags, Mode::from_raw_mode(0o644)) {
            Ok(f) => {
                tmp_name = Some(candidate);
                fd = Some(f);
                break;
            }
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let (Some(tmp), Some(fd)) = (tmp_name, fd) else {
        return Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name"));
    };
    let result = (|| -> io::Result<()> {
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o644))?;
        let mut f = std::fs::File::from(fd);
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        rustix::fs::renameat(dir, tmp.as_str(), dir, name)?;
        // Make the rename itself durable.
        rustix::fs::fsync(dir)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = rustix::fs::unlinkat(dir, tmp.as_str(), rustix::fs::AtFlags::empty());
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_values_are_read_back_and_garbage_is_not() {
        let p = parse_previous(
            "# HELP x\nsweep_last_success_timestamp_seconds 1720742400\nsweep_last_run_start_timestamp_seconds 1720828800.5\n",
        );
        assert_eq!(p, Previous { success: Some(1720742400.0), start: Some(1720828800.5), warning: None });
        assert_eq!(parse_previous("sweep_last_success_timestamp_seconds NaN\n"), Previous::default());
        assert_eq!(parse_previous("\u{0}\u{ff}garbage"), Previous::default());
        let p = parse_previous(
            "sweep_last_success_timestamp_seconds NaN\nsweep_last_success_timestamp_seconds -5\nsweep_last_success_timestamp_seconds 1720742400\n",
        );
        assert_eq!(p.success, Some(1720742400.0), "an invalid value does not hide a valid one after it");
    }

    #[test]
    fn a_fifo_or_symlink_in_place_of_the_file_is_no_previous_run() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo.prom");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
        assert_eq!(previous(&fifo), Previous::default());
        let link = d.path().join("link.prom");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert_eq!(previous(&link), Previous::default());
    }
}
