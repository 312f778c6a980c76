//! `sweep plan` and `sweep apply`: the lock (apply only), the policies, the outputs, the
//! run, the metrics file, the summary, the exit status — in that order, so that the
//! summary and the metrics say the same thing and a metrics file that cannot be written
//! shows as exit 5 in both.

use std::sync::atomic::AtomicUsize;

use crate::act::events::{Fanout, Sink};
use crate::act::summary::RunSummary;
use crate::act::{self, RunOptions};
use crate::config::RunConfig;
use crate::exit::Exit;
use crate::guard::auto::{self, Past};
use crate::lock::{self, LockError};
use crate::report::json::Json;
use crate::report::progress::Progress;
use crate::report::text::Text;
use crate::report::{Diagnostics, Printer, metrics};
use crate::state;
use crate::tree::Mode;

/// Runs `plan` or `apply`.
pub fn run(cfg: &RunConfig, signal: &AtomicUsize) -> Exit {
    summary(cfg, signal).map_or_else(|e| e, |s| s.exit)
}

/// Runs `plan` or `apply`, and returns what the run found (its exit status included),
/// or the exit status of a run that could not start (lock held, invalid policies).
pub fn summary(cfg: &RunConfig, signal: &AtomicUsize) -> Result<RunSummary, Exit> {
    let mut printer = Printer::new(cfg.style);
    let log = printer.log();
    let _lock = match (&cfg.mode, &cfg.lock) {
        (Mode::Apply, Some(path)) => match lock::acquire(path) {
            Ok(held) => {
                if let Some(w) = &held.warning {
                    log.warn(w);
                }
                Some(held)
            }
            Err(LockError::Busy) => {
                log.error(&format!("another run holds the lock {}; nothing was touched", path.display()));
                return Err(Exit::Locked);
            }
            Err(LockError::Unsafe(why)) => {
                log.error(&format!("refusing the lock file {}: {why}; nothing was touched", path.display()));
                return Err(Exit::Io);
            }
            Err(LockError::Io(e)) => {
                log.error(&format!("cannot open the lock file {}: {e}; nothing was touched", path.display()));
                return Err(Exit::Io);
            }
        },
        _ => None,
    };
    let (set, selected) = super::load(&cfg.selection, &log)?;
    // A shard's share is a bucket's partitions: a local root is one machine's.
    if let Some(shard) = cfg.shard
        && let Some(p) = set.policies.iter().zip(&selected).find(|(p, sel)| **sel && p.object.is_none()).map(|(p, _)| p)
    {
        log.error(&format!(
            "--shard {shard} splits object storage roots between runners; policy {} cleans the local root {}: select object storage policies with --policy",
            p.name,
            p.root.display()
        ));
        return Err(Exit::Usage);
    }
    let previous = cfg.metrics_file.as_deref().map(metrics::previous).unwrap_or_default();
    if let Some(w) = &previous.warning {
        log.warn(w);
    }
    let apply = cfg.mode == Mode::Apply;
    let history = super::history(&set, &selected, cfg.max_delete, apply, &cfg.state_dir, &log);
    let opts = RunOptions {
        mode: cfg.mode,
        now: cfg.now,
        system_clock: cfg.system_clock,
        max_delete: cfg.max_delete,
        previous_start: previous.start.map(|s| s as i64),
        signal,
        jobs: cfg.jobs,
        max_rate: cfg.max_rate,
        history: history.as_ref(),
        shard: cfg.shard,
    };
    let dry_run = cfg.mode == Mode::Plan;
    let mut diagnostics = Diagnostics(log);
    let mut progress = cfg.progress.map(Progress::new);
    let mut summary = {
        let mut report: Box<dyn Sink> =
            if cfg.style.json { Box::new(Json::new(&mut printer)) } else { Box::new(Text::new(&mut printer, dry_run)) };
        let mut sinks: Vec<&mut dyn Sink> = Vec::new();
        // The bar goes first, so it is cleared before a policy's text is printed.
        if let Some(p) = progress.as_mut() {
            sinks.push(p);
        }
        sinks.push(report.as_mut());
        sinks.push(&mut diagnostics);
        let mut all = Fanout(sinks);
        let mut summary = act::run(&set, &selected, &opts, &mut all);
        if apply && history.is_some() {
            record(cfg, &set, &mut summary, &log);
        }
        if let Some(path) = &cfg.metrics_file {
            let text = metrics::render(&summary, previous.success);
            if let Err(e) = metrics::write_atomically(path, &text) {
                log.error(&format!("cannot write metrics to {}: {e}", path.display()));
                summary.exit = summary.exit.and(Exit::Io);
            }
        }
        let _ = all.finish(&summary);
        summary
    };
    summary.exit = printer.finish(summary.exit);
    if summary.exit == Exit::Internal
        && let Some(path) = &cfg.metrics_file
    {
        // The report could not be written: the metrics must not record a success.
        let _ = metrics::write_atomically(path, &metrics::render(&summary, previous.success));
    }
    Ok(summary)
}

/// Adds this apply's deletions to the history of each policy that asks for
/// `max_delete: auto` (or has it from `--max-delete`), before the metrics are written: a
/// history that cannot be written is an I/O failure (exit 5), in both.
fn record(cfg: &RunConfig, set: &crate::policy::PolicySet, summary: &mut RunSummary, log: &crate::report::Log) {
    let at = cfg.now.resolve(&crate::clock::Zone::utc()).timestamp();
    let applies: Vec<state::Record> = summary
        .policies
        .iter()
        .filter(|s| s.deleted > 0)
        .filter_map(|s| {
            let p = set.policies.iter().find(|p| p.name == s.name)?;
            let (in_force, asked) = super::auto(p, cfg.max_delete);
            let past = Past { at, files: s.deleted, bytes: s.deleted_bytes };
            (in_force || asked).then(|| (p.name.clone(), auto::root_key(&p.root), past))
        })
        .collect();
    match state::record(&cfg.state_dir, &applies) {
        Ok(state::Recorded::Done) => {}
        Ok(state::Recorded::Untrusted(why)) => log.warn(&format!("not recording the max_delete auto history: {why}")),
        Err(e) => {
            log.error(&format!("cannot record the max_delete auto history: {e}"));
            summary.exit = summary.exit.and(Exit::Io);
        }
    }
}
