//! sweep deletes expired files from date-partitioned trees according to declarative
//! retention policies, and refuses to fail silently.
//!
//! The data flows one way: [`policy`] (YAML → validated policies) → [`layout`] and
//! [`clock`] (templates, cutoffs) → [`walk`] (fd-relative traversal, the only code that
//! deletes) → [`classify`] (one file's bucket) → [`guard`] (whole-policy checks) →
//! [`report`] (text, JSON Lines, metrics, progress). [`run`] drives a run; [`exit`]
//! holds the exit codes of the product contract.

pub mod action;
pub mod check;
pub mod classify;
pub mod cli;
pub mod clock;
pub mod demo;
pub mod exit;
pub mod explain;
pub mod guard;
pub mod layout;
pub mod lock;
pub mod log;
pub mod policy;
pub mod report;
pub mod run;
pub mod walk;

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use clap::{CommandFactory, Parser};

use cli::{ApplyArgs, CheckArgs, Cli, Command, ExplainArgs, Format, OutputArgs, PolicyArgs, RunArgs, When};
use clock::Now;
use exit::Exit;
use log::Log;
use policy::{Policy, PolicySet};
use report::{Fanout, Reporter};

/// Parses the command line, runs it, and returns the exit status.
pub fn main() -> Exit {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { Exit::Usage } else { Exit::Clean };
        }
    };
    match cli.command {
        Command::Plan(args) => execute(&args, false, None),
        Command::Apply(args) => apply(&args),
        Command::Check(args) => check(&args),
        Command::Explain(args) => explain(&args),
        Command::Demo(args) => demo::demo(&args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "sweep", &mut io::stdout());
            Exit::Clean
        }
        Command::Man => match clap_mangen::Man::new(Cli::command()).render(&mut io::stdout()) {
            Ok(()) => Exit::Clean,
            Err(_) => Exit::Internal,
        },
    }
}

fn log_of(o: &OutputArgs) -> Log {
    Log::new(o.log_format == cli::LogFormat::Json)
}

/// Loads policies and applies `--policy`; prints errors and returns the exit status on failure.
fn load(args: &PolicyArgs, log: &Log) -> Result<PolicySet, Exit> {
    let set = policy::load(&args.config).map_err(|errors| {
        for e in &errors {
            log.error(None, &e.to_string());
        }
        Exit::InvalidPolicy
    })?;
    for name in &args.policy {
        if !set.policies.iter().any(|p| &p.name == name) {
            let known: Vec<&str> = set.policies.iter().map(|p| p.name.as_str()).collect();
            log.error(None, &format!("--policy {name}: no such policy (known: {})", known.join(", ")));
            return Err(Exit::Usage);
        }
    }
    Ok(set)
}

fn selected<'s>(set: &'s PolicySet, args: &PolicyArgs) -> Vec<&'s Policy> {
    set.policies.iter().filter(|p| args.policy.is_empty() || args.policy.contains(&p.name)).collect()
}

fn parse_now(now: &Option<String>, log: &Log) -> Result<Now, Exit> {
    match now {
        None => Ok(Now::system()),
        Some(s) => Now::parse(s).map_err(|e| {
            log.error(None, &format!("--now: {e}"));
            Exit::Usage
        }),
    }
}

/// Whether text output is coloured.
fn color(w: When) -> bool {
    match w {
        When::Always => true,
        When::Never => false,
        When::Auto => io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

fn apply(args: &ApplyArgs) -> Exit {
    if args.dry_run {
        return execute(&args.run, false, None);
    }
    let log = log_of(&args.run.output);
    let path = args.lock_file.clone().unwrap_or_else(lock::default_path);
    match lock::acquire(&path) {
        Ok(held) => execute(&args.run, true, Some(held)),
        Err(lock::LockError::Busy) => {
            log.error(None, &format!("another run holds the lock {}; nothing was touched", path.display()));
            Exit::Locked
        }
        Err(lock::LockError::Io(e)) => {
            log.error(None, &format!("cannot open the lock file {}: {e}; nothing was touched", path.display()));
            Exit::Io
        }
    }
}

/// Registers SIGINT/SIGTERM: the first one asks the run to stop at the next file; a
/// second one ends the process at once.
fn signals() -> Arc<AtomicUsize> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let which = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&seen));
        let _ = signal_hook::flag::register(sig, Arc::clone(&seen));
        let _ = signal_hook::flag::register_usize(sig, Arc::clone(&which), sig as usize);
    }
    which
}

/// `plan` and `apply` (with the lock already held).
fn execute(args: &RunArgs, apply: bool, _lock: Option<lock::Lock>) -> Exit {
    let log = log_of(&args.output);
    let set = match load(&args.policies, &log) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let now = match parse_now(&args.clock.now, &log) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let policies = selected(&set, &args.policies);
    let mut outputs: Vec<Box<dyn Reporter>> = Vec::new();
    // The bar goes first, so it is cleared before a policy's text is printed. Streaming
    // `-v` lines to the same terminal would interleave with it, so `auto` leaves it out then.
    let streaming_to_terminal = args.output.verbose && io::stdout().is_terminal();
    let progress = match args.progress {
        When::Always => Some(true),
        When::Auto if io::stderr().is_terminal() && !streaming_to_terminal => Some(false),
        _ => None,
    };
    if let Some(forced) = progress {
        outputs.push(Box::new(report::progress::Progress::new(forced)));
    }
    match args.output.format {
        Format::Text => outputs.push(Box::new(report::text::Text::new(
            io::stdout().lock(),
            args.output.verbose,
            color(args.output.color),
            !apply,
        ))),
        Format::Json => outputs.push(Box::new(report::json::Json::new(io::stdout().lock()))),
    }
    let settings = run::Settings { apply, now, signal: signals() };
    let write_metrics = |summary: &mut report::RunSummary| {
        if let Some(path) = &args.metrics_file {
            let previous = report::metrics::previous_success(path);
            let text = report::metrics::render(summary, previous);
            if let Err(e) = report::metrics::write_atomically(path, &text) {
                log.error(None, &format!("cannot write metrics to {}: {e}", path.display()));
                summary.exit = summary.exit.and(Exit::Io);
            }
        }
    };
    run::run(&policies, &settings, &mut Fanout(outputs), &log, write_metrics).exit
}

fn check(args: &CheckArgs) -> Exit {
    let log = log_of(&args.output);
    let set = match load(&args.policies, &log) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let policies = selected(&set, &args.policies);
    let r = check::check(&set, &policies);
    let mut out = io::stdout().lock();
    let written = match args.output.format {
        Format::Text => check::print(&mut out, &set, policies.len(), &r),
        Format::Json => {
            let v = serde_json::json!({
                "type": "check",
                "ok": r.problems.is_empty(),
                "policies": policies.len(),
                "files": set.files,
                "passed": r.passed,
                "problems": r.problems,
            });
            writeln!(out, "{v}")
        }
    };
    if written.is_err() {
        return Exit::Internal;
    }
    if r.problems.is_empty() { Exit::Clean } else { Exit::InvalidPolicy }
}

fn explain(args: &ExplainArgs) -> Exit {
    let log = log_of(&args.output);
    let set = match load(&args.policies, &log) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let now = match parse_now(&args.clock.now, &log) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let policies = selected(&set, &args.policies);
    let mut out = io::stdout().lock();
    for p in &args.paths {
        let path = explain::absolute(p);
        let decisions: Vec<explain::Decision> =
            explain::owners(&policies, &path).into_iter().map(|pol| explain::decide(pol, &path, &now)).collect();
        let written = match args.output.format {
            Format::Text => explain::print_text(&mut out, &path, &decisions),
            Format::Json => {
                let v = serde_json::json!({"type": "explain", "path": path.to_string_lossy(), "decisions": decisions});
                writeln!(out, "{v}")
            }
        };
        if written.is_err() {
            return Exit::Internal;
        }
    }
    Exit::Clean
}

/// Runs `plan` or `apply` for the demo, as the command line would.
pub(crate) fn demo_run(args: &RunArgs, apply: bool, lock: &std::path::Path) -> Exit {
    if !apply {
        return execute(args, false, None);
    }
    match lock::acquire(lock) {
        Ok(held) => execute(args, true, Some(held)),
        Err(_) => Exit::Locked,
    }
}
