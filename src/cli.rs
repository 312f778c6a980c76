//! The command line, as clap derive structs and nothing else.
//!
//! Every name here is part of the product contract (docs/output.md, sweep(1)): scripts and cron entries
//! depend on them. The rest of the program never sees these types; `config` turns them
//! into a validated configuration.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Delete expired files from date-partitioned trees according to declarative retention
/// policies. Start with `sweep demo`, then `sweep plan -c POLICY.yaml`.
#[derive(Debug, Parser)]
#[command(name = "sweep", version, max_term_width = 100)]
pub struct Cli {
    /// The sub-command.
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
    /// Print a commented starter policy file that `sweep check` accepts as it is.
    Init {
        /// The layout of the tree to clean.
        #[arg(long, value_name = "TEMPLATE", default_value = "%Y-%m-%d/**")]
        layout: String,
        /// The directory to clean.
        #[arg(long, value_name = "PATH", default_value = "/data/example")]
        root: PathBuf,
    },
    /// Print a JSON Schema (draft 2020-12) of the policy file, for editors and CI.
    Schema,
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff) on stdout: sweep(1), or sweep.yaml(5) with --section 5.
    Man {
        /// 1: the command; 5: the policy file.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
        section: u8,
    },
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
    /// Which policies.
    #[command(flatten)]
    pub policies: PolicyArgs,
    /// The time to evaluate at.
    #[command(flatten)]
    pub clock: ClockArgs,
    /// How to write.
    #[command(flatten)]
    pub output: OutputArgs,

    /// Progress bar on stderr: auto shows it only on a terminal (never in cron).
    #[arg(long, value_enum, default_value_t = When::Auto, value_name = "WHEN")]
    pub progress: When,

    /// Write Prometheus text-format metrics here, atomically (for node_exporter's
    /// textfile collector).
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,

    /// Replace every selected policy's max_delete for this run: a count (5000), a share
    /// (40%; 100% lifts it), a span back from the cutoff (2d, 12h, 3bd) or auto.
    #[arg(long, value_name = "VALUE")]
    pub max_delete: Option<String>,

    /// Object storage roots: act only on shard I of N (I from 0). Every shard plans the
    /// whole run; each acts on the partitions whose directory hashes to I. I may be
    /// written JOB_COMPLETION_INDEX, read from that variable (a Kubernetes Indexed Job).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// What sweep remembers between runs: the deletions of each policy's recent applies,
    /// which max_delete: auto compares a run with (apply writes it).
    #[command(flatten)]
    pub state: StateArgs,
}

/// The state directory.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// The directory sweep keeps its state in: history.json, the deletions of each
    /// policy's last 14 applies, for max_delete: auto. Read when a policy has auto; written
    /// by apply. Must belong to root (or to the user sweep runs as) and be writable by no
    /// one else.
    #[arg(long, value_name = "DIR", default_value = crate::state::DEFAULT_DIR)]
    pub state_dir: PathBuf,
}

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// What plan takes.
    #[command(flatten)]
    pub run: RunArgs,

    /// Behave exactly like `plan`.
    #[arg(long)]
    pub dry_run: bool,

    /// Delete on up to N threads, different directories in parallel [default: the number
    /// of CPUs, at most 8].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,

    /// Pace deletions: files per second (5000/s) or bytes per second (200M/s; K M G are
    /// powers of 1024). A policy's max_rate applies too; the stricter wins.
    #[arg(long, value_name = "RATE")]
    pub max_rate: Option<String>,

    /// Hold an exclusive flock(2) on this file for the whole run [default:
    /// /run/sweep/sweep.lock as root, else $XDG_RUNTIME_DIR/sweep.lock].
    #[arg(long, value_name = "PATH")]
    pub lock_file: Option<PathBuf>,
}

/// `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Which policies.
    #[command(flatten)]
    pub policies: PolicyArgs,
    /// How to write.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Which policies.
    #[command(flatten)]
    pub policies: PolicyArgs,
    /// The time to evaluate at.
    #[command(flatten)]
    pub clock: ClockArgs,
    /// How to write.
    #[command(flatten)]
    pub output: OutputArgs,

    /// Absolute paths to explain; they need not exist.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,

    /// Where the history max_delete: auto goes by is read from.
    #[command(flatten)]
    pub state: StateArgs,
}

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Build the scratch tree here instead of a new temporary directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// How to write.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// JSON Lines, for machines.
    Json,
}

/// auto | always | never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum When {
    /// Decide from the terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Diagnostics format on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `sweep: error: ...` lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The man page sweep(1): clap's rendering of every command and option, with `extra`
/// (roff: exit status, files, see also) inserted before the version section.
pub fn man_page(extra: &str) -> Vec<u8> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    let _ = man.render_title(&mut out);
    let _ = man.render_name_section(&mut out);
    let _ = man.render_synopsis_section(&mut out);
    let _ = man.render_description_section(&mut out);
    let _ = man.render_options_section(&mut out);
    // The commands, all in this one page (there are no sweep-plan(1) pages to point to).
    out.extend_from_slice(b".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = sub.get_name();
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default().replace('\\', "\\e").replace('-', "\\-");
        let has_options = sub.get_arguments().any(|a| !a.is_hide_set());
        let see = if has_options { format!(" (see {} OPTIONS)", name.to_uppercase()) } else { String::new() };
        out.extend_from_slice(format!(".TP\n\\fBsweep {name}\\fR\n{about}{see}\n").as_bytes());
    }
    // Each sub-command's own options, which clap_mangen would put in pages of their own.
    for sub in cmd.get_subcommands() {
        let args: Vec<_> = sub.get_arguments().filter(|a| !a.is_hide_set()).collect();
        if args.is_empty() {
            continue;
        }
        out.extend_from_slice(format!(".SH \"{} OPTIONS\"\n", sub.get_name().to_uppercase()).as_bytes());
        for a in args {
            let flag = match (a.get_short(), a.get_long()) {
                (Some(s), Some(l)) => format!("\\fB\\-{s}\\fR, \\fB\\-\\-{}\\fR", l.replace('-', "\\-")),
                (None, Some(l)) => format!("\\fB\\-\\-{}\\fR", l.replace('-', "\\-")),
                _ => format!("\\fI{}\\fR", a.get_id().as_str().to_uppercase()),
            };
            let takes = a.get_num_args().is_some_and(|n| n.takes_values()) && a.get_long().is_some();
            let value = match a.get_value_names() {
                Some(v) if takes => format!(" \\fI{}\\fR", v.join(" ")),
                _ if takes => format!(" \\fI{}\\fR", a.get_id().as_str().to_uppercase()),
                _ => String::new(),
            };
            let mut help = a.get_long_help().or(a.get_help()).map(|h| h.to_string()).unwrap_or_default();
            let choices: Vec<String> = a.get_possible_values().iter().map(|v| v.get_name().to_string()).collect();
            if !choices.is_empty() && takes {
                help.push_str(&format!(" [{}]", choices.join(", ")));
            }
            out.extend_from_slice(format!(".TP\n{flag}{value}\n{}\n", roff_escape(&help)).as_bytes());
        }
    }
    out.extend_from_slice(extra.as_bytes());
    let _ = man.render_version_section(&mut out);
    out
}

fn roff_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('-', "\\-")
        .lines()
        .map(|l| l.strip_prefix('.').map_or(l.to_string(), |r| format!("\\&.{r}")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes a completion script for `shell` (bash, zsh, fish, elvish, powershell).
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    use clap::CommandFactory;
    clap_complete::generate(shell, &mut Cli::command(), "sweep", out);
}
