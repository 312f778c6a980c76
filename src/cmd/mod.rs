//! One module per sub-command, each taking its validated configuration and returning
//! the exit status; [`run`] dispatches.

mod check;
mod demo;
mod explain;
mod init;
mod man;
mod plan;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use crate::config::Config;
use crate::exit::Exit;
use crate::guard::auto::History;
use crate::policy::{self, MaxDelete, PolicySet};
use crate::report::Log;

/// Runs one sub-command. `signal` is set by the handlers `signals` installed.
pub fn run(config: Config, signal: Arc<AtomicUsize>) -> Exit {
    match config {
        Config::Run(c) => plan::run(&c, &signal),
        Config::Check(c) => check::run(&c),
        Config::Explain(c) => explain::run(&c, &signal),
        Config::Demo(c) => demo::run(&c, &signal),
        Config::Init(layout, root) => init::run(&layout, &root),
        Config::Schema => init::schema(),
        Config::Completions(shell) => man::completions(shell),
        Config::Man(section) => man::run(section),
    }
}

/// Registers SIGINT, SIGTERM and SIGHUP: the first one asks the run to stop at the next
/// file (the summary and metrics are still written); a second one ends the process at
/// once. Called first thing in `main`, so even a signal in the first milliseconds gets
/// a summary.
pub fn signals() -> Arc<AtomicUsize> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let which = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&seen));
        let _ = signal_hook::flag::register(sig, Arc::clone(&seen));
        let _ = signal_hook::flag::register_usize(sig, Arc::clone(&which), sig as usize);
    }
    which
}

/// Loads the policy files and the `--policy` selection; reports every problem on
/// stderr and returns the exit status when the set cannot be used.
fn load(selection: &crate::config::Selection, log: &Log) -> Result<(PolicySet, Vec<bool>), Exit> {
    let (set, problems) = policy::load(&selection.config);
    if !problems.is_empty() {
        for p in &problems {
            log.error(&p.to_string());
        }
        return Err(Exit::InvalidPolicy);
    }
    let chosen = choose(&set, &selection.policy).map_err(|e| {
        log.error(&e);
        Exit::Usage
    })?;
    Ok((set, chosen))
}

/// Which policies `--policy` selects (all when none is named).
fn choose(set: &PolicySet, names: &[String]) -> Result<Vec<bool>, String> {
    for name in names {
        if set.index(name).is_none() {
            let known: Vec<&str> = set.policies.iter().map(|p| p.name.as_str()).collect();
            return Err(format!("--policy {name}: no such policy (known: {})", known.join(", ")));
        }
    }
    Ok(set.policies.iter().map(|p| names.is_empty() || names.contains(&p.name)).collect())
}

/// Whether `max_delete: auto` is in force for `policy` this run (its own, or
/// `--max-delete auto`), and whether the policy itself asks for it.
fn auto(policy: &crate::policy::Policy, max_delete: Option<Option<MaxDelete>>) -> (bool, bool) {
    let is = |m: Option<MaxDelete>| matches!(m, Some(MaxDelete::Auto { .. }));
    (is(max_delete.unwrap_or(policy.max_delete)), is(policy.max_delete))
}

/// The history `max_delete: auto` goes by, read from `dir` when a selected policy has it
/// in force (or asks for it, when `recording`: an apply then adds to it). A history that
/// cannot be trusted is said once, on stderr: `auto` acts as `2d` meanwhile.
fn history(
    set: &PolicySet,
    selected: &[bool],
    max_delete: Option<Option<MaxDelete>>,
    recording: bool,
    dir: &std::path::Path,
    log: &Log,
) -> Option<History> {
    let wanted = set.policies.iter().zip(selected).any(|(p, s)| {
        let (in_force, asked) = auto(p, max_delete);
        *s && (in_force || (recording && asked))
    });
    if !wanted {
        return None;
    }
    let h = crate::state::read(dir);
    if let Some(why) = h.why_untrusted() {
        log.warn(&format!("max_delete auto acts as 2d: {why}"));
    }
    Some(h)
}
