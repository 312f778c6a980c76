//! The progress bar on stderr: files seen, bytes and rate, per policy.
//!
//! It is drawn only when asked (`--progress always`) or when stderr is a terminal
//! (`auto`), never in cron or pipes. Counters are plain integers; the bar is told about
//! them every few thousand files and redraws on its own timer, so progress costs nothing
//! per file.

use std::io::{self, Write};
use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle, TermLike};

use crate::act::events::{FileEvent, PolicyStart, Sink};
use crate::act::summary::PolicySummary;

/// How often the bar hears about the counters, in files.
const EVERY: u64 = 2048;

/// The progress reporter.
pub struct Progress {
    forced: bool,
    bar: Option<ProgressBar>,
    files: u64,
    bytes: u64,
    ticking: bool,
}

impl Progress {
    /// A progress bar; `forced` draws it even when stderr is not a terminal.
    pub fn new(forced: bool) -> Progress {
        Progress { forced, bar: None, files: 0, bytes: 0, ticking: false }
    }

    fn update(&mut self) {
        if let Some(b) = &self.bar {
            b.set_position(self.files);
            b.set_message(HumanBytes(self.bytes).to_string());
            // Hidden until the first file, so there is never an empty first frame.
            if !self.ticking && self.files > 0 {
                b.set_draw_target(self.target());
                b.enable_steady_tick(Duration::from_millis(200));
                self.ticking = true;
            }
        }
    }

    fn target(&self) -> ProgressDrawTarget {
        if self.forced { ProgressDrawTarget::term_like(Box::new(Stderr)) } else { ProgressDrawTarget::stderr() }
    }
}

/// stderr as a terminal-like target, for `--progress always` when stderr is a pipe
/// (indicatif would otherwise hide itself).
#[derive(Debug)]
struct Stderr;

impl TermLike for Stderr {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        write!(io::stderr(), "\x1b[{n}A")
    }
    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        write!(io::stderr(), "\x1b[{n}B")
    }
    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        write!(io::stderr(), "\x1b[{n}C")
    }
    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        write!(io::stderr(), "\x1b[{n}D")
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        writeln!(io::stderr(), "{s}")
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        write!(io::stderr(), "{s}")
    }
    fn clear_line(&self) -> io::Result<()> {
        write!(io::stderr(), "\r\x1b[2K")
    }
    fn flush(&self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Files per second as a whole number: "12,345/s".
fn rate(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = write!(w, "{}/s", super::reason::thousands(state.per_sec().round() as u64));
}

/// "1 file", "2,048 files".
fn files(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = write!(w, "{}", super::reason::count(state.pos(), "file", "files"));
}

impl Sink for Progress {
    fn policy_start(&mut self, p: &PolicyStart) -> io::Result<()> {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix}: {files}, {msg} ({rate}) {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner())
                .with_key("rate", rate)
                .with_key("files", files),
        );
        bar.set_prefix(p.policy.name.clone());
        bar.set_message(HumanBytes(0).to_string());
        self.bar = Some(bar);
        self.files = 0;
        self.bytes = 0;
        self.ticking = false;
        Ok(())
    }

    fn file(&mut self, e: &FileEvent) -> io::Result<()> {
        self.files += 1;
        self.bytes += e.bytes;
        if self.files == 1 || self.files.is_multiple_of(EVERY) {
            self.update();
        }
        Ok(())
    }

    fn policy_end(&mut self, _: &PolicySummary) -> io::Result<()> {
        self.update();
        if let Some(b) = self.bar.take() {
            if self.forced {
                // Leave the final count visible: it is what a forced bar is for.
                b.finish();
            } else {
                b.finish_and_clear();
            }
        }
        Ok(())
    }
}
