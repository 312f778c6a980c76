//! Object storage roots (`s3://`, `gs://`, `az://`) behind the same [`Visitor`] as local
//! trees, through the `object_store` crate (Apache Arrow: S3, GCS and Azure clients with
//! bounded retries, paginated listing and S3's bulk `DeleteObjects`).
//!
//! The walk is the local one's shape: a directory is a key prefix ending in `/`, listed
//! with the delimiter `/`, page by page (at most 1,000 keys a page); its objects go to the
//! visitor as they arrive and its sub-prefixes wait, so memory follows the depth and the
//! widest directory's sub-prefixes, never the number of objects. Listing one prefix per
//! directory is what lets the walk list partitions concurrently: while one directory is
//! being classified, the next ones are already being listed (a bounded number of tasks,
//! each a bounded channel of pages).
//!
//! Listing a prefix with the delimiter also tells a directory marker (`KEY/`, the zero-byte
//! object consoles and Hadoop create for folders) from an object: it is the one object
//! whose key is the prefix itself, so it is never classified or counted. S3 is listed by
//! sweep itself ([`s3`]), so that keys arrive exactly as stored; what a listing shows is
//! checked before it is believed ([`names`], [`list`]).
//!
//! Deletions are collected into batches of up to 1,000 keys (one `DeleteObjects` request
//! on S3; concurrent single deletes on Azure and GCS) with at most `jobs` batches in
//! flight. A failed request is retried with backoff a bounded number of times; after that
//! every key of the batch is an error with the service's message, and the run goes on
//! (exit 5). Credentials never reach a message: only the service's answers and the URLs
//! of the keys do.

mod client;
mod delete;
pub mod inventory;
mod lease;
mod list;
mod markers;
mod names;
mod page;
mod retry;
mod s3;
mod walk;

pub use inventory::Report;
pub use lease::{Lease, LeaseError};
pub use walk::walk;

use std::sync::Arc;

use object_store::ObjectStore;

use super::{DirId, Listing, Mode};
use crate::policy::object::ObjectRoot;

/// Keys per deletion batch (S3's `DeleteObjects` limit).
const BATCH: usize = 1000;
/// Pages of one directory's listing buffered ahead of the walk.
const PAGES_AHEAD: usize = 2;

/// An object storage root, with its client. Opening it reads the environment and makes
/// no request: a missing bucket or refused credentials surface as the first listing's
/// error.
pub struct Bucket {
    /// Bucket and prefix.
    pub url: ObjectRoot,
    /// A stand-in identity (a hash of the URL), so that roots compare as local ones do.
    pub id: DirId,
    store: Arc<dyn ObjectStore>,
    lister: list::Lister,
    markers: markers::Markers,
    rt: tokio::runtime::Runtime,
}

impl Bucket {
    /// The URL of `key` in this bucket, as reports show it.
    pub fn url_of(&self, key: &str) -> String {
        format!("{}://{}/{key}", self.url.scheme.as_str(), self.url.bucket)
    }

    /// The newest complete S3 Inventory report of this bucket at `inv` ([`Report::open`]),
    /// with the keys below the root; `now` is the instant the run evaluates at.
    pub fn open_report(&self, inv: &crate::policy::object::Inventory, now: i64) -> Result<Arc<Report>, String> {
        let store: Arc<dyn ObjectStore> = client::s3_store(&inv.url.bucket)?;
        let root = if self.url.prefix.is_empty() { String::new() } else { format!("{}/", self.url.prefix) };
        let source = inventory::Source { url: &inv.url, max_age: inv.max_age };
        self.rt.block_on(Report::open(store, &source, &self.url.bucket, &root, now)).map(Arc::new)
    }
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "object::Bucket({})", self.url)
    }
}

/// Options of one walk.
#[derive(Debug, Clone, Copy)]
pub struct ObjectWalk<'a> {
    /// Plan or apply.
    pub mode: Mode,
    /// Deletion batches in flight, and directories listed ahead.
    pub jobs: usize,
    /// Where listings come from.
    pub listing: Listing<'a>,
}

/// The service's message, without the noise of nested error types.
fn message(e: &object_store::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        source = inner.source();
    }
    s
}
