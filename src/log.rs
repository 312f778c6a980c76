//! Diagnostics on stderr, as text for people or JSON objects for log shippers
//! (`--log-format json`). stdout carries the report; stderr carries what went wrong.

use serde::Serialize;

/// Where diagnostics go and in which form.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    json: bool,
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warn,
}

#[derive(Serialize)]
struct Line<'a> {
    ts: String,
    level: Level,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a str>,
    message: &'a str,
}

impl Log {
    /// A log in JSON (true) or text.
    pub fn new(json: bool) -> Log {
        Log { json }
    }

    /// Writes one diagnostic.
    pub fn emit(&self, level: Level, policy: Option<&str>, message: &str) {
        if self.json {
            let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            if let Ok(s) = serde_json::to_string(&Line { ts, level, policy, message }) {
                eprintln!("{s}");
            }
        } else {
            let level = match level {
                Level::Error => "error",
                Level::Warn => "warning",
            };
            match policy {
                Some(p) => eprintln!("sweep: {level}: policy {p}: {message}"),
                None => eprintln!("sweep: {level}: {message}"),
            }
        }
    }

    /// An error.
    pub fn error(&self, policy: Option<&str>, message: &str) {
        self.emit(Level::Error, policy, message);
    }

    /// A warning.
    pub fn warn(&self, policy: Option<&str>, message: &str) {
        self.emit(Level::Warn, policy, message);
    }
}
