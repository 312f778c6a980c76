//! What a run tells the world, as it happens: the events and the [`Sink`] that receives
//! them. `report` implements sinks (text, JSON Lines, progress, metrics); the run only
//! knows this trait, so a new output is a new sink, not a new branch in the run.
//!
//! Every method has a default that does nothing, so a sink implements what it needs.
//! A method returns an error when its output is gone (a closed pipe): the run then
//! stops at the next file.

use std::io;

use crate::act::summary::{PolicySummary, RunSummary};
use crate::classify::{Facts, Verdict};
use crate::clock::Cutoff;
use crate::policy::{MaxDelete, Policy};

/// A policy is about to run.
#[derive(Debug)]
pub struct PolicyStart<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// Its cutoff.
    pub cutoff: &'a Cutoff,
    /// The `max_delete` in force (the policy's, or `--max-delete`).
    pub max_delete: Option<MaxDelete>,
    /// `--max-delete 100%` lifted the policy's own `max_delete` for this run.
    pub lifted: bool,
}

/// What happened to a file `delete`, `compress` or `move` chose, in `apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOutcome<'a> {
    /// Deleted.
    Deleted,
    /// Already gone (or replaced since it was examined): not an error.
    Vanished,
    /// The OS refused; the message.
    Failed(&'a str),
    /// A guard refused the policy.
    Refused,
    /// Compressed: the compressed file's size.
    Compressed(u64),
    /// Moved to the archive.
    Moved,
    /// A plan: the operation would fail as the filesystem stands (a name it writes is
    /// taken); the message.
    WouldFail(&'a str),
}

impl FileOutcome<'_> {
    /// The JSON name.
    pub fn as_str(&self) -> &'static str {
        match self {
            FileOutcome::WouldFail(_) => "would_fail",
            FileOutcome::Deleted => "deleted",
            FileOutcome::Vanished => "vanished",
            FileOutcome::Failed(_) => "failed",
            FileOutcome::Refused => "refused",
            FileOutcome::Compressed(_) => "compressed",
            FileOutcome::Moved => "moved",
        }
    }
}

/// One file, classified (and, in `apply`, acted on).
pub struct FileEvent<'a> {
    /// The policy that owns it.
    pub policy: &'a str,
    /// Absolute path (bytes: names need not be UTF-8).
    pub path: &'a [u8],
    /// Path relative to the root.
    pub rel: &'a [u8],
    /// Size in bytes.
    pub bytes: u64,
    /// The decision.
    pub verdict: &'a Verdict<'a>,
    /// What rendering the decision's reason needs.
    pub facts: &'a Facts,
    /// `apply` only: what happened to a `delete`, `compress` or `move`.
    pub outcome: Option<FileOutcome<'a>>,
    /// `compress` and `move`: the file's new path.
    pub to: Option<&'a [u8]>,
}

/// An entry that could not be examined: counted in the `error` bucket.
pub struct ErrorEvent<'a> {
    /// The policy.
    pub policy: &'a str,
    /// Absolute path.
    pub path: &'a [u8],
    /// Relative to the root (empty for the root itself).
    pub rel: &'a [u8],
    /// The OS message and what it means here.
    pub message: &'a str,
}

/// A directory removed (or that would be) because the run emptied it.
pub struct DirEvent<'a> {
    /// The policy whose deletions emptied it.
    pub policy: &'a str,
    /// Absolute path.
    pub path: &'a [u8],
    /// `None` on success (or in plan), else the OS message.
    pub error: Option<&'a str>,
    /// Whether it was really removed (apply) or only planned.
    pub dry_run: bool,
}

/// Another policy's root inside this policy's root, left alone.
pub struct NestedEvent<'a> {
    /// The outer policy.
    pub policy: &'a str,
    /// The inner root.
    pub path: &'a [u8],
    /// The policy that owns it.
    pub owner: &'a str,
}

/// A temporary an interrupted run left, removed (or, in plan, that would be).
pub struct LeftoverEvent<'a> {
    /// The policy whose walk found it.
    pub policy: &'a str,
    /// Absolute path.
    pub path: &'a [u8],
    /// `None` on success (or in plan), else the OS message.
    pub error: Option<&'a str>,
    /// Whether it was really removed (apply) or only planned.
    pub dry_run: bool,
}

/// A lakehouse table under a policy's root: nothing below it is touched, and the policy
/// is refused unless a directory `exclude` covers the table.
pub struct TableEvent<'a> {
    /// The policy.
    pub policy: &'a str,
    /// The table's directory.
    pub path: &'a [u8],
    /// Its format.
    pub format: crate::tree::TableFormat,
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something failed.
    Error,
    /// Worth knowing; nothing failed.
    Warn,
}

/// Receives a run's events.
pub trait Sink {
    /// A policy starts.
    fn policy_start(&mut self, _p: &PolicyStart) -> io::Result<()> {
        Ok(())
    }
    /// A file was classified.
    fn file(&mut self, _e: &FileEvent) -> io::Result<()> {
        Ok(())
    }
    /// An entry could not be examined.
    fn error(&mut self, _e: &ErrorEvent) -> io::Result<()> {
        Ok(())
    }
    /// A directory was emptied and removed.
    fn dir(&mut self, _e: &DirEvent) -> io::Result<()> {
        Ok(())
    }
    /// A temporary an interrupted run left was removed (or would be).
    fn leftover(&mut self, _e: &LeftoverEvent) -> io::Result<()> {
        Ok(())
    }
    /// A mount point was not entered.
    fn mount(&mut self, _policy: &str, _path: &[u8]) -> io::Result<()> {
        Ok(())
    }
    /// Another policy's root was left alone.
    fn nested(&mut self, _e: &NestedEvent) -> io::Result<()> {
        Ok(())
    }
    /// A table was found (and left alone).
    fn table(&mut self, _e: &TableEvent) -> io::Result<()> {
        Ok(())
    }
    /// What the whole-policy decisions (`keep_last`, thinning, capacity) made of a
    /// policy's partitions, before its acting walk (for `explain`).
    fn decided(
        &mut self,
        _policy: &str,
        _partitions: &std::collections::BTreeMap<crate::clock::Period, crate::classify::Override>,
    ) {
    }
    /// A policy ended.
    fn policy_end(&mut self, _s: &PolicySummary) -> io::Result<()> {
        Ok(())
    }
    /// The run ended.
    fn finish(&mut self, _s: &RunSummary) -> io::Result<()> {
        Ok(())
    }
    /// A policy closed, whether or not its output could be written: for diagnostics,
    /// which a lost stdout must not silence.
    fn closed(&mut self, _s: &PolicySummary) {}
    /// A diagnostic for stderr. It cannot fail: a lost stderr must not stop the run.
    fn diagnostic(&mut self, _level: Level, _policy: Option<&str>, _message: &str) {}
}

/// Sends every event to several sinks.
pub struct Fanout<'a>(pub Vec<&'a mut dyn Sink>);

macro_rules! fan {
    ($self:ident, $m:ident, $($arg:expr),*) => {{
        for r in $self.0.iter_mut() {
            r.$m($($arg),*)?;
        }
        Ok(())
    }};
}

impl Sink for Fanout<'_> {
    fn policy_start(&mut self, p: &PolicyStart) -> io::Result<()> {
        fan!(self, policy_start, p)
    }
    fn file(&mut self, e: &FileEvent) -> io::Result<()> {
        fan!(self, file, e)
    }
    fn error(&mut self, e: &ErrorEvent) -> io::Result<()> {
        fan!(self, error, e)
    }
    fn dir(&mut self, e: &DirEvent) -> io::Result<()> {
        fan!(self, dir, e)
    }
    fn mount(&mut self, policy: &str, path: &[u8]) -> io::Result<()> {
        fan!(self, mount, policy, path)
    }
    fn leftover(&mut self, e: &LeftoverEvent) -> io::Result<()> {
        fan!(self, leftover, e)
    }
    fn nested(&mut self, e: &NestedEvent) -> io::Result<()> {
        fan!(self, nested, e)
    }
    fn table(&mut self, e: &TableEvent) -> io::Result<()> {
        fan!(self, table, e)
    }
    fn decided(
        &mut self,
        policy: &str,
        partitions: &std::collections::BTreeMap<crate::clock::Period, crate::classify::Override>,
    ) {
        for r in self.0.iter_mut() {
            r.decided(policy, partitions);
        }
    }
    fn policy_end(&mut self, s: &PolicySummary) -> io::Result<()> {
        fan!(self, policy_end, s)
    }
    fn finish(&mut self, s: &RunSummary) -> io::Result<()> {
        fan!(self, finish, s)
    }
    fn closed(&mut self, s: &PolicySummary) {
        for r in self.0.iter_mut() {
            r.closed(s);
        }
    }
    fn diagnostic(&mut self, level: Level, policy: Option<&str>, message: &str) {
        for r in self.0.iter_mut() {
            r.diagnostic(level, policy, message);
        }
    }
}
