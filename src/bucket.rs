//! The buckets every file under a root ends in: the five of v1, and the two lifecycle
//! actions of tiers (compress, move), which keep a file in another form or place.

use std::fmt;
use std::str::FromStr;

/// What sweep decided for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Expired: `apply` deletes it.
    Delete,
    /// Matched and not expired.
    Keep,
    /// Expired, but a guard keeps it (`exclude`, `keep_last`, `min_age`).
    Protect,
    /// No layout matches, or the date is impossible.
    Unmatched,
    /// Could not be read or classified.
    Error,
    /// Not expired, old enough to be compressed in place (`compress`).
    Compress,
    /// Not expired, old enough to be moved to the archive (`archive`).
    Move,
}

impl Action {
    /// All buckets, in the order summaries list them.
    pub const ALL: [Action; 7] = [
        Action::Delete,
        Action::Keep,
        Action::Protect,
        Action::Unmatched,
        Action::Error,
        Action::Compress,
        Action::Move,
    ];

    /// The name used in JSON, policy tests and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Delete => "delete",
            Action::Keep => "keep",
            Action::Protect => "protect",
            Action::Unmatched => "unmatched",
            Action::Error => "error",
            Action::Compress => "compress",
            Action::Move => "move",
        }
    }

    /// Index into per-bucket arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Action, String> {
        Action::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| {
            format!("`{s}` is not an action: use delete, keep, protect, unmatched, error, compress or move")
        })
    }
}

impl serde::Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
