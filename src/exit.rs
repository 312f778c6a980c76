//! Exit codes of the product contract, and how several of them combine.
//!
//! Scripts and cron wrappers branch on these numbers, so they live in one place as an enum
//! rather than as literals scattered through the code. When several conditions hold at
//! once the lowest non-zero code wins (an I/O error outranks unmatched files), except an
//! interruption, which overrides everything: the run did not finish.

use std::fmt;

/// One reason for a run's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exit {
    /// Every file classified, every planned deletion done.
    Clean,
    /// A bug or an environment sweep cannot work in.
    Internal,
    /// The command line is wrong.
    Usage,
    /// A policy file is invalid; nothing was touched.
    InvalidPolicy,
    /// Another run holds the lock, or a bucket root's lease; nothing it guards was touched.
    Locked,
    /// Some paths could not be read or deleted, or a root is missing.
    Io,
    /// A safety guard refused a policy's deletions.
    Refused,
    /// Unmatched files under a root with `on_unmatched: fail`.
    Unmatched,
    /// A filesystem is fuller than `disk_fail_above` after the run, or a capacity target
    /// is not met.
    DiskFull,
    /// A policy's newest partition is older than `expect_fresh`.
    Stale,
    /// SIGINT or SIGTERM stopped the run (128 + signal number).
    Interrupted(i32),
}

impl Exit {
    /// Every code of the contract but interruptions, in order.
    pub const TABLE: [Exit; 10] = [
        Exit::Clean,
        Exit::Internal,
        Exit::Usage,
        Exit::InvalidPolicy,
        Exit::Locked,
        Exit::Io,
        Exit::Refused,
        Exit::Unmatched,
        Exit::DiskFull,
        Exit::Stale,
    ];

    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Clean => 0,
            Exit::Internal => 1,
            Exit::Usage => 2,
            Exit::InvalidPolicy => 3,
            Exit::Locked => 4,
            Exit::Io => 5,
            Exit::Refused => 6,
            Exit::Unmatched => 7,
            Exit::DiskFull => 8,
            Exit::Stale => 9,
            Exit::Interrupted(sig) => (128 + sig).clamp(129, 255) as u8,
        }
    }

    /// What the code means, in the words of the README's table.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Clean => "clean: every file classified, every planned deletion done",
            Exit::Internal => "unexpected internal error",
            Exit::Usage => "command-line usage error",
            Exit::InvalidPolicy => "a policy file is invalid; nothing was touched",
            Exit::Locked => "another run holds the lock, or a bucket root's lease; nothing it guards was touched",
            Exit::Io => "I/O errors: some paths could not be read or deleted, or a root is missing",
            Exit::Refused => {
                "a safety guard (max_delete, on_unmatched: refuse, a dangerous root, the clock) refused a policy's deletions"
            }
            Exit::Unmatched => "unmatched files under a root with on_unmatched: fail",
            Exit::DiskFull => {
                "a filesystem is fuller than disk_fail_above, or a capacity target is not met, after the run"
            }
            Exit::Stale => "stale data: a policy's newest partition is older than expect_fresh",
            Exit::Interrupted(_) => "interrupted by a signal; the summary covers the work done so far",
        }
    }

    /// Combines two outcomes: an interruption wins, then the lowest non-zero code.
    pub fn and(self, other: Exit) -> Exit {
        match (self, other) {
            (a @ Exit::Interrupted(_), _) => a,
            (_, b @ Exit::Interrupted(_)) => b,
            (Exit::Clean, b) => b,
            (a, Exit::Clean) => a,
            (a, b) => a.min(b),
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit {}: {}", self.code(), self.meaning())
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_non_zero_wins() {
        assert_eq!(Exit::Clean.and(Exit::Unmatched), Exit::Unmatched);
        assert_eq!(Exit::Unmatched.and(Exit::Io), Exit::Io);
        assert_eq!(Exit::DiskFull.and(Exit::Refused).and(Exit::Clean), Exit::Refused);
        assert_eq!(Exit::Io.and(Exit::Interrupted(2)), Exit::Interrupted(2));
        assert_eq!(Exit::Interrupted(15).code(), 143);
        assert_eq!(Exit::Stale.and(Exit::DiskFull), Exit::DiskFull);
        assert_eq!(Exit::Clean.and(Exit::Stale).code(), 9);
    }
}
