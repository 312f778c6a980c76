//! The validated configuration of one invocation: what the command line asked for, in
//! types the rest of sweep can use without checking again. Only this module and `cli`
//! know clap; `demo` builds a [`RunConfig`] directly.
//!
//! Every option is read here, once: a `--now` that is not a time, or a `--max-delete`
//! that is not a limit, is a usage error (exit 2) before anything else happens.

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::act::shard::Shard;
use crate::cli::{
    ApplyArgs, CheckArgs, Cli, Command, DemoArgs, ExplainArgs, Format, LogFormat, OutputArgs, PolicyArgs, RunArgs, When,
};
use crate::clock::Now;
use crate::policy::MaxDelete;
use crate::report::Style;
use crate::tree::Mode;
use crate::tree::pace::Rate;

/// What to do.
#[derive(Debug)]
pub enum Config {
    /// `plan` or `apply`.
    Run(RunConfig),
    /// `check`.
    Check(CheckConfig),
    /// `explain`.
    Explain(ExplainConfig),
    /// `demo`.
    Demo(DemoConfig),
    /// `init`: the layout and the root.
    Init(String, PathBuf),
    /// `schema`.
    Schema,
    /// `completions`.
    Completions(Completions),
    /// `man`, with the section.
    Man(u8),
}

/// Which policies: the files to read and the `--policy` names.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Files or directories of policy files.
    pub config: Vec<PathBuf>,
    /// Policy names; empty means all.
    pub policy: Vec<String>,
}

/// `plan` and `apply`.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Plan or apply.
    pub mode: Mode,
    /// `apply`'s lock file.
    pub lock: Option<PathBuf>,
    /// The policies.
    pub selection: Selection,
    /// The time to evaluate at.
    pub now: Now,
    /// Whether `now` is the system clock rather than `--now`.
    pub system_clock: bool,
    /// How to write.
    pub style: Style,
    /// The progress bar: `None` off, `Some(forced)` on.
    pub progress: Option<bool>,
    /// `--metrics-file`.
    pub metrics_file: Option<PathBuf>,
    /// `--max-delete`: `Some(None)` lifts every limit.
    pub max_delete: Option<Option<MaxDelete>>,
    /// Deleting threads.
    pub jobs: usize,
    /// `--max-rate`.
    pub max_rate: Option<Rate>,
    /// `--state-dir`.
    pub state_dir: PathBuf,
    /// `--shard`.
    pub shard: Option<Shard>,
}

/// `check`.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// The policies.
    pub selection: Selection,
    /// How to write.
    pub style: Style,
}

/// `explain`.
#[derive(Debug, Clone)]
pub struct ExplainConfig {
    /// The policies.
    pub selection: Selection,
    /// The time to evaluate at.
    pub now: Now,
    /// How to write.
    pub style: Style,
    /// Paths to explain.
    pub paths: Vec<PathBuf>,
    /// `--state-dir`.
    pub state_dir: PathBuf,
}

/// `demo`.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Where to build the scratch tree; a new temporary directory when `None`.
    pub dir: Option<PathBuf>,
    /// How to write.
    pub style: Style,
}

/// `sweep completions SHELL`: which shell's script.
#[derive(Debug, Clone, Copy)]
pub struct Completions(clap_complete::Shell);

impl Completions {
    /// Writes the script.
    pub fn write(self, out: &mut dyn std::io::Write) {
        crate::cli::completions(self.0, out);
    }
}

/// A usage error: the message, for stderr (exit 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl Config {
    /// Validates the parsed command line.
    pub fn from_cli(cli: Cli) -> Result<Config, UsageError> {
        Ok(match cli.command {
            Command::Plan(args) => Config::Run(run(args, Mode::Plan, None)?),
            Command::Apply(ApplyArgs { run: args, dry_run, lock_file, jobs, max_rate }) => {
                let mut c = if dry_run {
                    run(args, Mode::Plan, None)?
                } else {
                    let lock = Some(lock_file.unwrap_or_else(crate::lock::default_path));
                    run(args, Mode::Apply, lock)?
                };
                if let Some(j) = jobs {
                    c.jobs = usize::from(j);
                }
                if let Some(r) = max_rate {
                    c.max_rate = Some(Rate::parse(&r).map_err(|e| UsageError(format!("--max-rate: {e}")))?);
                }
                Config::Run(c)
            }
            Command::Check(CheckArgs { policies, output }) => {
                Config::Check(CheckConfig { selection: selection(policies), style: style(&output) })
            }
            Command::Explain(ExplainArgs { policies, clock, output, paths, state }) => Config::Explain(ExplainConfig {
                selection: selection(policies),
                now: now(clock.now.as_deref())?.0,
                style: style(&output),
                paths,
                state_dir: state.state_dir,
            }),
            Command::Demo(DemoArgs { dir, output }) => Config::Demo(DemoConfig { dir, style: style(&output) }),
            Command::Init { layout, root } => Config::Init(layout, root),
            Command::Schema => Config::Schema,
            Command::Completions { shell } => Config::Completions(Completions(shell)),
            Command::Man { section } => Config::Man(section),
        })
    }
}

fn selection(p: PolicyArgs) -> Selection {
    Selection { config: p.config, policy: p.policy }
}

fn run(args: RunArgs, mode: Mode, lock: Option<PathBuf>) -> Result<RunConfig, UsageError> {
    let (now, system_clock) = now(args.clock.now.as_deref())?;
    let style = style(&args.output);
    // The bar goes to stderr. Streaming `-v` lines to the same terminal would interleave
    // with it, so `auto` leaves it out then.
    let streaming_to_terminal = style.verbose && std::io::stdout().is_terminal();
    let progress = match args.progress {
        When::Always => Some(true),
        When::Auto if std::io::stderr().is_terminal() && !streaming_to_terminal => Some(false),
        _ => None,
    };
    let max_delete = match &args.max_delete {
        None => None,
        Some(v) => Some(crate::policy::value::max_delete(v).map_err(|e| UsageError(format!("--max-delete: {e}")))?),
    };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let shard = match &args.shard {
        None => None,
        Some(v) => Some(Shard::parse(v, env).map_err(|e| UsageError(format!("--shard: {e}")))?),
    };
    Ok(RunConfig {
        mode,
        lock,
        selection: selection(args.policies),
        now,
        system_clock,
        style,
        progress,
        metrics_file: args.metrics_file,
        max_delete,
        jobs: default_jobs(),
        max_rate: None,
        state_dir: args.state.state_dir,
        shard,
    })
}

/// The number of CPUs, at most 8: past that, deletions contend in the filesystem more
/// than they gain.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}

fn now(arg: Option<&str>) -> Result<(Now, bool), UsageError> {
    match arg {
        None => Ok((Now::system(), true)),
        Some(s) => Now::parse(s).map(|n| (n, false)).map_err(|e| UsageError(format!("--now: {e}"))),
    }
}

/// The output style of the command line's options.
pub fn style(o: &OutputArgs) -> Style {
    let color = match o.color {
        When::Always => true,
        When::Never => false,
        When::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    Style { json: o.format == Format::Json, verbose: o.verbose, color, json_log: o.log_format == LogFormat::Json }
}
