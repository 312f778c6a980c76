//! The lease (`lease: true`): one runner at a time per bucket root, across machines, the
//! way `apply --lock-file` is one at a time per host.
//!
//! A lease is an object, `PREFIX/.sweep-lease` (a shard's: `.sweep-lease.shard-I-of-N`),
//! created only if absent (a conditional put: `If-None-Match: *` on S3, generation 0 on
//! GCS, `If-None-Match` on Azure), holding who took it (host, pid, start) and its TTL. It
//! is renewed every third of its TTL by a conditional update on its ETag, so a runner that
//! lost it (another took it over) learns so at the next renewal and stops. A lease whose
//! last renewal (its Last-Modified, the service's clock) is older than its TTL belongs to
//! a runner that died: it is taken over by a conditional update on the ETag read, so of
//! two runners that find it stale, one wins. At the end the lease is deleted — after
//! checking it is still this runner's (stores have no conditional delete: a runner that
//! takes it over in between, after a full TTL without renewal, is the one case left).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use super::{Bucket, message};

/// What a lease object holds.
#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    host: String,
    pid: u32,
    /// When the holder took it (RFC 3339).
    started: String,
    /// Seconds it holds without a renewal.
    ttl_seconds: u64,
}

impl Holder {
    fn describe(&self) -> String {
        format!("host {} pid {} since {}", self.host, self.pid, self.started)
    }
}

/// Why a lease was not taken.
#[derive(Debug)]
pub enum LeaseError {
    /// Another runner holds it: who, and until when at least.
    Held(String),
    /// The service failed: its message.
    Failed(String),
}

/// A lease held by this run, renewed in the background until it is released.
#[derive(Debug)]
pub struct Lease {
    key: Key,
    /// The lease's URL, for messages.
    pub url: String,
    store: Arc<dyn ObjectStore>,
    etag: Arc<Mutex<Option<String>>>,
    lost: Arc<AtomicBool>,
    why: Arc<Mutex<Option<String>>>,
    renewal: tokio::task::JoinHandle<()>,
    /// The stale lease this run took over: whose it was.
    pub took_over: Option<String>,
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn body(ttl: Duration, started: &str) -> PutPayload {
    let h = Holder { host: host(), pid: std::process::id(), started: started.to_string(), ttl_seconds: ttl.as_secs() };
    PutPayload::from(serde_json::to_vec(&h).unwrap_or_default())
}

fn mode(mode: PutMode) -> PutOptions {
    PutOptions { mode, ..Default::default() }
}

impl Bucket {
    /// Takes the lease `name` at the root (apply), held for `ttl` between renewals.
    pub fn take_lease(&self, name: &str, ttl: Duration) -> Result<Lease, LeaseError> {
        let key = if self.url.prefix.is_empty() { name.to_string() } else { format!("{}/{name}", self.url.prefix) };
        let url = self.url_of(&key);
        let key = Key::parse(&key).map_err(|e| LeaseError::Failed(e.to_string()))?;
        let store = Arc::clone(&self.store);
        let started = now();
        let (etag, took_over) = self.rt.block_on(acquire(&store, &key, &url, ttl, &started))?;
        let etag = Arc::new(Mutex::new(etag));
        let lost = Arc::new(AtomicBool::new(false));
        let why = Arc::new(Mutex::new(None));
        let renewal = self.rt.spawn(renew(
            Arc::clone(&store),
            key.clone(),
            (ttl, started),
            Arc::clone(&etag),
            Arc::clone(&lost),
            Arc::clone(&why),
        ));
        Ok(Lease { key, url, store, etag, lost, why, renewal, took_over })
    }

    /// Releases `lease`: stops renewing it and deletes it if it is still this run's.
    pub fn release(&self, lease: Lease) -> Result<(), String> {
        lease.renewal.abort();
        if lease.lost.load(Ordering::SeqCst) {
            return Ok(());
        }
        let ours = lease.etag.lock().ok().and_then(|e| e.clone());
        self.rt.block_on(async {
            match lease.store.head(&lease.key).await {
                Ok(meta) if meta.e_tag.is_some() && meta.e_tag == ours => {
                    lease.store.delete(&lease.key).await.map_err(|e| format!("{}: {}", lease.url, message(&e)))
                }
                Ok(_) => Err(format!("{}: another runner holds it now; it is left to them", lease.url)),
                Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(format!("{}: {}", lease.url, message(&e))),
            }
        })
    }
}

impl Lease {
    /// Whether the lease was lost (taken over, or its renewal failed), and why.
    pub fn lost(&self) -> Option<String> {
        if self.lost.load(Ordering::SeqCst) { self.why.lock().ok().and_then(|w| w.clone()) } else { None }
    }

    /// The flag renewal sets when the lease is lost: the walk stops at the next file.
    pub fn lost_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.lost)
    }
}

/// Creates the lease, or takes over a stale one: its ETag, and whose stale lease it was.
async fn acquire(
    store: &Arc<dyn ObjectStore>,
    key: &Key,
    url: &str,
    ttl: Duration,
    started: &str,
) -> Result<(Option<String>, Option<String>), LeaseError> {
    let fail = |e: object_store::Error| LeaseError::Failed(format!("{url}: {}", message(&e)));
    // Twice at most: a lease released between our create and our read is created again.
    for _ in 0..2 {
        match store.put_opts(key, body(ttl, started), mode(PutMode::Create)).await {
            Ok(r) => return Ok((r.e_tag, None)),
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(fail(e)),
        }
        let got = match store.get(key).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(fail(e)),
        };
        let meta = got.meta.clone();
        let bytes = got.bytes().await.map_err(fail)?;
        let holder: Option<Holder> = serde_json::from_slice(&bytes).ok();
        let who = holder.as_ref().map_or_else(|| "an unreadable lease".to_string(), Holder::describe);
        // The holder's own TTL decides (it promised to renew within it); a lease nobody
        // can read is judged by ours.
        let their_ttl = holder.as_ref().map_or(ttl, |h| Duration::from_secs(h.ttl_seconds));
        let renewed = meta.last_modified;
        let expires = renewed + chrono::Duration::from_std(their_ttl).unwrap_or(chrono::Duration::MAX);
        let now = chrono::Utc::now();
        if now < expires {
            let until = expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            return Err(LeaseError::Held(format!("{url} is held by {who}, renewed until at least {until}")));
        }
        let version = UpdateVersion { e_tag: meta.e_tag.clone(), version: meta.version.clone() };
        return match store.put_opts(key, body(ttl, started), mode(PutMode::Update(version))).await {
            Ok(r) => Ok((r.e_tag, Some(who))),
            Err(object_store::Error::Precondition { .. }) => {
                Err(LeaseError::Held(format!("{url}: another runner took over the stale lease of {who} first")))
            }
            Err(e) => Err(fail(e)),
        };
    }
    Err(LeaseError::Failed(format!("{url}: created and released by others while this run tried to take it")))
}

/// Renews the lease every third of its TTL until aborted; a failed renewal loses it.
async fn renew(
    store: Arc<dyn ObjectStore>,
    key: Key,
    (ttl, started): (Duration, String),
    etag: Arc<Mutex<Option<String>>>,
    lost: Arc<AtomicBool>,
    why: Arc<Mutex<Option<String>>>,
) {
    loop {
        tokio::time::sleep(ttl / 3).await;
        let current = etag.lock().ok().and_then(|e| e.clone());
        let version = UpdateVersion { e_tag: current, version: None };
        match store.put_opts(&key, body(ttl, &started), mode(PutMode::Update(version))).await {
            Ok(r) => {
                if let Ok(mut e) = etag.lock() {
                    *e = r.e_tag;
                }
            }
            Err(e) => {
                let reason = match e {
                    object_store::Error::Precondition { .. } => "another runner took it over".to_string(),
                    e => format!("its renewal failed: {}", message(&e)),
                };
                if let Ok(mut w) = why.lock() {
                    *w = Some(reason);
                }
                lost.store(true, Ordering::SeqCst);
                return;
            }
        }
    }
}
