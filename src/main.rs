//! The `sweep` binary: signals first (so even an early SIGTERM gets a summary), then the
//! command line → a validated configuration → one sub-command → one exit code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let signal = sweep::cmd::signals();
    sweep::tree::local::raise_fd_limit();
    let cli = match sweep::cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            let code = if e.use_stderr() { sweep::exit::Exit::Usage } else { sweep::exit::Exit::Clean };
            return code.into();
        }
    };
    let exit = match sweep::config::Config::from_cli(cli) {
        Ok(config) => sweep::cmd::run(config, signal),
        Err(e) => {
            sweep::report::Log::new(false).error(&e.0);
            sweep::exit::Exit::Usage
        }
    };
    exit.into()
}
