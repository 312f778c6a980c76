//! Listing one directory (a key prefix) of a bucket, page by page, from wherever the
//! walk reads it: S3 itself ([`super::s3`]), `object_store`'s listing for GCS and Azure,
//! or an inventory report ([`super::inventory`]). However it is read, a listing is not
//! trusted to end: a continuation token seen before, or a page with no keys that claims
//! more follow, is an error at once — never a loop.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use object_store::list::{PaginatedListOptions, PaginatedListStore};
use tokio::sync::mpsc;

use super::inventory::Report;
use super::message;
pub(crate) use super::page::{ListError, Listed, RawPage};
use super::s3::S3Lister;

/// A page as the walk receives it: objects, sub-prefixes, whether more follow.
pub(super) type Page = Result<(Vec<Listed>, Vec<(String, bool)>, bool), ListError>;

/// Where a directory's listing comes from.
#[derive(Clone)]
pub(super) enum Lister {
    /// S3's `ListObjectsV2`, read by sweep.
    S3(Arc<S3Lister>),
    /// `object_store`'s listing (GCS, Azure).
    Store(Arc<dyn PaginatedListStore>),
    /// An inventory report.
    Report(Arc<Report>),
}

impl Lister {
    /// One page of the listing of `prefix`, after `token`.
    pub(super) async fn page(
        &self,
        prefix: &str,
        delimiter: bool,
        token: Option<&str>,
        max_keys: Option<usize>,
    ) -> Result<RawPage, ListError> {
        match self {
            Lister::S3(s) => s.page(prefix, delimiter, token, max_keys).await,
            Lister::Report(r) => r.page(prefix, delimiter, token, max_keys),
            Lister::Store(s) => {
                let opts = PaginatedListOptions {
                    delimiter: delimiter.then(|| "/".into()),
                    page_token: token.map(str::to_string),
                    max_keys,
                    ..Default::default()
                };
                let page = s.list_paginated((!prefix.is_empty()).then_some(prefix), opts).await.map_err(|e| {
                    // A key the client cannot parse fails that directory; anything else is
                    // the service's failure.
                    let fatal = !matches!(e, object_store::Error::InvalidPath { .. });
                    ListError { message: message(&e), fatal }
                })?;
                // The client drops a key's trailing `/`: the directory's own marker comes
                // back as the prefix without it.
                let own = prefix.trim_end_matches('/');
                let objects = page
                    .result
                    .objects
                    .into_iter()
                    .map(|o| {
                        let k = o.location.as_ref();
                        let key = if !own.is_empty() && k == own { prefix.to_string() } else { k.to_string() };
                        Listed { key, size: o.size, mtime: o.last_modified.timestamp(), bad: false }
                    })
                    .collect();
                let prefixes =
                    page.result.common_prefixes.iter().map(|p| (format!("{}/", p.as_ref()), false)).collect();
                Ok(RawPage { objects, prefixes, token: page.page_token })
            }
        }
    }
}

fn token_hash(t: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    t.hash(&mut h);
    h.finish()
}

/// Lists `prefix` into `tx`, a page at a time; `shown` is the prefix as messages name it
/// (`s3://bucket/prefix/`).
pub(super) async fn list(lister: Lister, prefix: String, delimiter: bool, shown: String, tx: mpsc::Sender<Page>) {
    let mut token: Option<String> = None;
    // Tokens are opaque: a hash of each is enough to know one seen before. One per page.
    let mut seen = HashSet::new();
    let mut pages = 0u64;
    loop {
        let page = lister.page(&prefix, delimiter, token.as_deref(), None).await;
        let p = match page {
            Ok(p) => p,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        pages += 1;
        if let Some(t) = &p.token {
            let why = if !seen.insert(token_hash(t)) {
                Some(format!("repeated a continuation token on page {pages}"))
            } else if p.objects.is_empty() && p.prefixes.is_empty() {
                Some(format!("returned page {pages} with no keys that claims more follow"))
            } else {
                None
            };
            if let Some(why) = why {
                let msg = format!("the listing of {shown} {why}: stopped, it would never end");
                let _ = tx.send(Err(ListError::fatal(msg))).await;
                return;
            }
        }
        token = p.token;
        let more = token.is_some();
        if tx.send(Ok((p.objects, p.prefixes, more))).await.is_err() || !more {
            return;
        }
    }
}
