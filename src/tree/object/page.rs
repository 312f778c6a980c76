//! What one page of a listing holds, whoever answered it: S3 itself, another store's
//! client, or an inventory report.

/// An object as a listing shows it: the key exactly as stored.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    /// The key.
    pub key: String,
    /// Bytes.
    pub size: u64,
    /// Last modified, seconds since the epoch.
    pub mtime: i64,
    /// The key's bytes are not UTF-8 (`key` holds replacement characters).
    pub bad: bool,
}

/// One page: objects, sub-prefixes (ending in `/`, each with whether its bytes were not
/// UTF-8), and the token of the next page.
#[derive(Debug, Default)]
pub(crate) struct RawPage {
    pub objects: Vec<Listed>,
    pub prefixes: Vec<(String, bool)>,
    pub token: Option<String>,
}

/// Why a listing stopped: the message, and whether the service itself failed (rather
/// than one odd directory).
#[derive(Debug, Clone)]
pub(crate) struct ListError {
    pub message: String,
    pub fatal: bool,
}

impl ListError {
    /// The service (or what answers for it) failed: nothing more is asked of it.
    pub(crate) fn fatal(message: String) -> ListError {
        ListError { message, fatal: true }
    }
}
