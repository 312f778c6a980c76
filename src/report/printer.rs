//! The one way sweep writes: stdout for the report, stderr for diagnostics.
//!
//! Every sub-command writes through a [`Printer`], so they all share two rules. A closed
//! stdout (`sweep plan | head`) is not an error: the command stops quietly and exits 141,
//! as a process killed by SIGPIPE would, whatever the sub-command. And a stderr that
//! cannot be written (the logger gone) never stops a run or panics: diagnostics are
//! best effort, the exit code and the metrics still say what happened.

use std::io::{self, BufWriter, Write};

use serde::Serialize;

use crate::act::events::{Level, Sink};
use crate::act::summary::PolicySummary;
use crate::exit::Exit;

/// How output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// JSON Lines instead of text.
    pub json: bool,
    /// Text lists files, not only partitions.
    pub verbose: bool,
    /// ANSI colours in text.
    pub color: bool,
    /// Diagnostics as JSON objects.
    pub json_log: bool,
}

/// stdout, buffered, remembering whether it was closed.
pub struct Printer {
    out: BufWriter<io::Stdout>,
    /// How to write.
    pub style: Style,
    /// The reader went away (EPIPE): nothing more is written.
    closed: bool,
    /// Another write error, kept for the exit code.
    failed: Option<io::Error>,
}

impl Printer {
    /// A printer on stdout.
    pub fn new(style: Style) -> Printer {
        Printer { out: BufWriter::with_capacity(64 * 1024, io::stdout()), style, closed: false, failed: None }
    }

    /// The diagnostics channel that goes with this printer.
    pub fn log(&self) -> Log {
        Log { json: self.style.json_log }
    }

    /// Writes one line of text.
    pub fn line(&mut self, s: impl std::fmt::Display) {
        let _ = writeln!(self, "{s}");
    }

    /// Writes one JSON object as a line.
    pub fn json(&mut self, v: &impl Serialize) {
        if self.closed {
            return;
        }
        match serde_json::to_vec(v) {
            Ok(mut bytes) => {
                bytes.push(b'\n');
                let _ = self.write_all(&bytes);
            }
            Err(e) => self.failed = Some(io::Error::other(e)),
        }
    }

    /// Flushes, and turns the state of stdout into the exit status: `e` when all was
    /// written, 141 when the reader went away, 1 when stdout failed otherwise (a full
    /// disk under `> report.json`: the report is incomplete, and the exit says so).
    pub fn finish(&mut self, e: Exit) -> Exit {
        let _ = self.flush();
        if self.closed {
            return e.and(Exit::Interrupted(13));
        }
        match self.failed.take() {
            Some(err) => {
                self.log().emit(Level::Error, None, &format!("cannot write the report to stdout: {err}"));
                e.and(Exit::Internal)
            }
            None => e,
        }
    }

    /// Whether stdout still takes output.
    pub fn is_open(&self) -> bool {
        !self.closed && self.failed.is_none()
    }

    fn record(&mut self, e: &io::Error) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            self.closed = true;
        } else if self.failed.is_none() {
            self.failed = Some(io::Error::new(e.kind(), e.to_string()));
        }
    }
}

impl Write for Printer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        self.out.write(buf).inspect_err(|e| self.record(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        self.out.flush().inspect_err(|e| self.record(e))
    }
}

/// Diagnostics on stderr, as text for people or JSON objects for log shippers.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    json: bool,
}

#[derive(Serialize)]
struct LogLine<'a> {
    ts: String,
    level: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a str>,
    message: &'a str,
}

impl Log {
    /// A log in JSON (true) or text.
    pub fn new(json: bool) -> Log {
        Log { json }
    }

    /// Writes one diagnostic. A stderr that cannot be written is ignored.
    pub fn emit(&self, level: Level, policy: Option<&str>, message: &str) {
        let word = match level {
            Level::Error => "error",
            Level::Warn => "warning",
        };
        let mut err = io::stderr().lock();
        let _ = if self.json {
            let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let line = LogLine { ts, level: if level == Level::Error { "error" } else { "warn" }, policy, message };
            match serde_json::to_string(&line) {
                Ok(s) => writeln!(err, "{s}"),
                Err(_) => Ok(()),
            }
        } else {
            match policy {
                Some(p) => writeln!(err, "sweep: {word}: policy {p}: {message}"),
                None => writeln!(err, "sweep: {word}: {message}"),
            }
        };
    }

    /// An error.
    pub fn error(&self, message: &str) {
        self.emit(Level::Error, None, message);
    }

    /// A warning.
    pub fn warn(&self, message: &str) {
        self.emit(Level::Warn, None, message);
    }
}

/// The run's diagnostics, as a sink.
pub struct Diagnostics(pub Log);

impl Sink for Diagnostics {
    fn closed(&mut self, s: &PolicySummary) {
        for (level, message) in super::reason::diagnostics(s) {
            self.0.emit(level, Some(&s.name), &message);
        }
    }
    fn diagnostic(&mut self, level: Level, policy: Option<&str>, message: &str) {
        self.0.emit(level, policy, message);
    }
}
