//! The command line, as clap derive structs and nothing else.
//!
//! Every name here is part of the product contract (SPEC.md): scripts and cron entries
//! depend on them. The rest of the program never sees these types; `lib.rs` turns them
//! into validated settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Delete expired files from date-partitioned trees according to declarative retention
/// policies. Start with `sweep demo`, then `sweep plan -c POLICY.yaml`.
#[derive(Debug, Parser)]
#[command(name = "sweep", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Dry run: classify every file and print what would be deleted; deletes nothing.
    Plan(RunArgs),
    /// Delete what `plan` shows, then remove the directories that emptied.
    Apply(ApplyArgs),
    /// Validate policy files and run their `tests:` (for CI); exit 0 when valid, 3 when not.
    Check(CheckArgs),
    /// For each PATH (which need not exist): policy, layout, date, cutoff and decision.
    Explain(ExplainArgs),
    /// Build a scratch tree that reproduces the incident sweep was written for, and clean it.
    Demo(DemoArgs),
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout.
    Man,
}

/// Where policies come from and which of them to use.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// A policy file, or a directory whose *.yaml / *.yml files are read in name order.
    /// May be repeated.
    #[arg(short = 'c', long = "config", value_name = "PATH", required = true)]
    pub config: Vec<PathBuf>,

    /// Use only this policy (repeatable).
    #[arg(long = "policy", value_name = "NAME")]
    pub policy: Vec<String>,
}

/// Options shared by everything that evaluates retention.
#[derive(Debug, Args)]
pub struct ClockArgs {
    /// Evaluate as if now were TIME: RFC 3339 (2024-07-12T02:00:00-04:00, ...Z), or a naive
    /// 2024-07-12T02:00:00 / 2024-07-12 read in each policy's timezone.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
}

/// Output options.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output for people (text) or machines (json: JSON Lines, summary last).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// List files, not only partitions (text output).
    #[arg(short, long)]
    pub verbose: bool,

    /// Colour in text output: auto uses it on a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = When::Auto, value_name = "WHEN")]
    pub color: When,

    /// Diagnostics on stderr as text or as JSON objects (one per line) for log shippers.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `plan`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub policies: PolicyArgs,
    #[command(flatten)]
    pub clock: ClockArgs,
    #[command(flatten)]
    pub output: OutputArgs,

    /// Progress bar on stderr: auto shows it only on a terminal (never in cron).
    #[arg(long, value_enum, default_value_t = When::Auto, value_name = "WHEN")]
    pub progress: When,

    /// Write Prometheus text-format metrics here, atomically (for node_exporter's
    /// textfile collector).
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
}

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub run: RunArgs,

    /// Behave exactly like `plan`.
    #[arg(long)]
    pub dry_run: bool,

    /// Hold an exclusive flock(2) on this file for the whole run
    /// [default: /run/lock/sweep.lock, or $TMPDIR/sweep.lock when /run/lock is not writable].
    #[arg(long, value_name = "PATH")]
    pub lock_file: Option<PathBuf>,
}

/// `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub policies: PolicyArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub policies: PolicyArgs,
    #[command(flatten)]
    pub clock: ClockArgs,
    #[command(flatten)]
    pub output: OutputArgs,

    /// Absolute paths to explain; they need not exist.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
}

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Build the scratch tree here instead of a new temporary directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// auto | always | never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum When {
    Auto,
    Always,
    Never,
}

/// Diagnostics format on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}
