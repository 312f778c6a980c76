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
//! whose key is the prefix itself, so it is never classified or counted.
//!
//! Deletions are collected into batches of up to 1,000 keys (one `DeleteObjects` request
//! on S3; concurrent single deletes on Azure and GCS) with at most `jobs` batches in
//! flight. A failed request is retried with backoff a bounded number of times; after that
//! every key of the batch is an error with the service's message, and the run goes on
//! (exit 5). Credentials never reach a message: only the service's answers and the URLs
//! of the keys do.

mod markers;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::path::Path as Key;
use object_store::{BackoffConfig, ClientOptions, ObjectMeta, ObjectStore, RetryConfig};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::{Decision, DirFacts, DirId, Enter, Entry, Kind, Mode, Removal, TableFormat, Visitor};
use crate::policy::object::{ObjectRoot, Scheme};
use crate::tree::pace::Pacer;

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
    lister: Arc<dyn PaginatedListStore>,
    markers: markers::Markers,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "object::Bucket({})", self.url)
    }
}

/// Options of one walk.
#[derive(Debug, Clone, Copy)]
pub struct ObjectWalk {
    /// Plan or apply.
    pub mode: Mode,
    /// Deletion batches in flight, and directories listed ahead.
    pub jobs: usize,
}

pub(super) fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// A field of an Azure connection string (`BlobEndpoint=...;AccountName=...`).
fn connection_field(cs: &str, field: &str) -> Option<String> {
    cs.split(';').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.trim().eq_ignore_ascii_case(field).then(|| v.trim().to_string())
    })
}

/// Retries: a handful, with backoff, within half a minute; a request that gets no answer
/// is abandoned after a minute. A throttled or failing service ends the run, never loops.
fn client_settings() -> (RetryConfig, ClientOptions) {
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: 5,
        retry_timeout: Duration::from_secs(30),
    };
    let options =
        ClientOptions::new().with_connect_timeout(Duration::from_secs(5)).with_timeout(Duration::from_secs(60));
    (retry, options)
}

impl Bucket {
    /// A client for `url`, configured from the environment the way each cloud's own
    /// tools read it (docs/guide.md, "Object storage").
    pub fn open(url: &ObjectRoot) -> Result<Bucket, String> {
        use std::hash::{Hash, Hasher};
        let (retry, options) = client_settings();
        let fail = |e: object_store::Error| format!("{url}: cannot set up the client: {e}");
        type Clients = (Arc<dyn ObjectStore>, Arc<dyn PaginatedListStore>, markers::Markers);
        let (store, lister, markers): Clients = match url.scheme {
            Scheme::S3 => {
                let mut b = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(&url.bucket)
                    .with_retry(retry)
                    .with_client_options(options);
                if let Some(region) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
                    b = b.with_region(region);
                }
                // A custom endpoint (a local or on-premises server) is addressed
                // path-style, and may be plain http.
                if let Some(ep) = env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL")) {
                    b = b
                        .with_allow_http(ep.starts_with("http://"))
                        .with_endpoint(ep)
                        .with_virtual_hosted_style_request(false);
                }
                let s = Arc::new(b.build().map_err(fail)?);
                (s.clone(), s.clone(), markers::Markers::s3(s, url))
            }
            Scheme::Azure => {
                let cs = env("AZURE_STORAGE_CONNECTION_STRING").unwrap_or_default();
                let mut b = object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_container_name(&url.bucket)
                    .with_retry(retry)
                    .with_client_options(options);
                let account = env("AZURE_STORAGE_ACCOUNT_NAME").or_else(|| connection_field(&cs, "AccountName"));
                if let Some(account) = &account {
                    b = b.with_account(account);
                }
                if let Some(key) = env("AZURE_STORAGE_ACCOUNT_KEY").or_else(|| connection_field(&cs, "AccountKey")) {
                    b = b.with_access_key(key);
                }
                let endpoint = env("AZURE_STORAGE_ENDPOINT").or_else(|| connection_field(&cs, "BlobEndpoint"));
                if let Some(ep) = &endpoint {
                    b = b.with_allow_http(ep.starts_with("http://")).with_endpoint(ep.clone());
                }
                let s = Arc::new(b.build().map_err(fail)?);
                let account = account.unwrap_or_default();
                (s.clone(), s.clone(), markers::Markers::azure(s, url, account, endpoint))
            }
            Scheme::Gcs => {
                let mut options = options;
                let mut emulator = None;
                let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(&url.bucket)
                    .with_retry(retry);
                if let Some(host) = env("STORAGE_EMULATOR_HOST") {
                    // The emulator convention of Google's own client libraries.
                    let base = if host.contains("://") { host } else { format!("http://{host}") };
                    options = options.with_allow_http(base.starts_with("http://"));
                    emulator = Some(base.trim_end_matches('/').to_string());
                    b = b.with_base_url(base.trim_end_matches('/')).with_credentials(Arc::new(
                        object_store::StaticCredentialProvider::new(object_store::gcp::GcpCredential {
                            bearer: String::new(),
                        }),
                    ));
                } else if let Some(p) = env("GOOGLE_APPLICATION_CREDENTIALS") {
                    b = b.with_application_credentials(p);
                }
                let s = Arc::new(b.with_client_options(options).build().map_err(fail)?);
                (s.clone(), s.clone(), markers::Markers::gcs(s, url, emulator))
            }
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sweep-object")
            .enable_all()
            .build()
            .map_err(|e| format!("{url}: cannot start the client's threads: {e}"))?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        url.to_string().hash(&mut h);
        let id = DirId { dev: h.finish() | 1 << 63, ino: 1 };
        Ok(Bucket { url: url.clone(), id, store, lister, markers, rt })
    }
}

/// One page of a directory's listing, or the service's message and whether the service
/// itself failed (rather than one odd key in this directory).
type Page = Result<(Vec<ObjectMeta>, Vec<Key>, bool), (String, bool)>;

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

/// Lists the prefix `prefix` (ending in `/`, or empty for the bucket) into `tx`, a page
/// at a time, each with whether more follow.
async fn list(lister: Arc<dyn PaginatedListStore>, prefix: String, tx: mpsc::Sender<Page>) {
    let mut token = None;
    loop {
        let opts = PaginatedListOptions { delimiter: Some("/".into()), page_token: token, ..Default::default() };
        let page = lister.list_paginated((!prefix.is_empty()).then_some(prefix.as_str()), opts).await;
        match page {
            Ok(p) => {
                token = p.page_token;
                let more = token.is_some();
                if tx.send(Ok((p.result.objects, p.result.common_prefixes, more))).await.is_err() || !more {
                    return;
                }
            }
            Err(e) => {
                let fatal = !matches!(e, object_store::Error::InvalidPath { .. });
                let _ = tx.send(Err((message(&e), fatal))).await;
                return;
            }
        }
    }
}

/// A directory being walked.
struct Level<D> {
    /// Its key prefix, ending in `/` (empty: the bucket itself).
    prefix: String,
    /// Length of the display path (`s3://bucket/…/dir`).
    path_len: usize,
    /// Sub-directory names still to visit, in reverse order.
    pending: Vec<String>,
    state: D,
    entries: u64,
    gone: u64,
    troubled: bool,
    /// A marker object (`prefix` itself) exists: its mtime.
    marker: Option<i64>,
    /// Whether the listing can show the marker (Azure's leaves it out).
    marker_known: bool,
}

impl<D> Level<D> {
    fn new(prefix: String, path_len: usize, state: D, marker_known: bool) -> Level<D> {
        let (entries, gone, troubled, marker) = (0, 0, false, None);
        Level { prefix, path_len, pending: Vec::new(), state, entries, gone, troubled, marker, marker_known }
    }
}

/// What waits for a deletion's outcome.
enum Waiting<P> {
    File(P),
}

struct Walk<'a, P> {
    root: &'a Bucket,
    opts: ObjectWalk,
    pacer: &'a Pacer,
    stop: &'a AtomicUsize,
    /// The display path of the current directory (or entry).
    path: Vec<u8>,
    root_len: usize,
    /// Listings started ahead, by prefix.
    ahead: HashMap<String, mpsc::Receiver<Page>>,
    batch: Vec<(u64, Key)>,
    inflight: JoinSet<Deleted>,
    waiting: HashMap<u64, Waiting<P>>,
    next: u64,
    /// The service failed: its message. Nothing more is sent.
    broken: Option<String>,
    /// Markers of emptied directories (key, display path, tag, whether the listing showed
    /// it), deepest first.
    markers: Vec<(String, Vec<u8>, u32, bool)>,
    /// The first page of a directory's listing, read before the walk entered it (to
    /// tell a table), by prefix.
    first: HashMap<String, Page>,
}

/// Walks the objects under `root`.
pub fn walk<V: Visitor>(root: &Bucket, opts: ObjectWalk, pacer: &Pacer, stop: &AtomicUsize, v: &mut V) {
    let path = root.url.to_string().into_bytes();
    let mut w = Walk {
        root,
        opts,
        pacer,
        stop,
        root_len: path.len(),
        path,
        ahead: HashMap::new(),
        batch: Vec::new(),
        inflight: JoinSet::new(),
        waiting: HashMap::new(),
        next: 0,
        markers: Vec::new(),
        broken: None,
        first: HashMap::new(),
    };
    root.rt.block_on(w.run(v));
}

impl<P> Walk<'_, P> {
    fn stopped<V: Visitor>(&self, v: &V) -> bool {
        v.stop() || self.stop.load(Ordering::Relaxed) != 0 || self.broken.is_some()
    }

    /// Starts listing `prefix` unless it is already under way.
    fn start(&mut self, prefix: &str) {
        if self.ahead.contains_key(prefix) {
            return;
        }
        let (tx, rx) = mpsc::channel(PAGES_AHEAD);
        let lister = Arc::clone(&self.root.lister);
        self.root.rt.spawn(list(lister, prefix.to_string(), tx));
        self.ahead.insert(prefix.to_string(), rx);
    }

    /// Starts listing the next directories the walk will visit, up to the look-ahead.
    fn look_ahead<D>(&mut self, stack: &[Level<D>]) {
        let want = self.opts.jobs.clamp(2, 16) * 2;
        let mut upcoming = Vec::new();
        for level in stack.iter().rev() {
            for name in level.pending.iter().rev() {
                if self.ahead.len() + upcoming.len() >= want {
                    break;
                }
                upcoming.push(format!("{}{name}/", level.prefix));
            }
        }
        for p in upcoming {
            self.start(&p);
        }
    }

    /// Reads the first page of `prefix`'s listing ahead of the walk (it is kept for the
    /// walk), and tells whether the directory is a lakehouse table: its sub-prefixes
    /// include `_delta_log/` or `.hoodie/`, or `metadata/` holding a `*.metadata.json`.
    /// A listing of more than one page may name them on a later page: then they are
    /// asked for directly, before anything of the directory is handed over.
    async fn table(&mut self, prefix: &str) -> Option<TableFormat> {
        self.start(prefix);
        let mut rx = self.ahead.remove(prefix)?;
        let page = rx.recv().await?;
        let (dirs, more) = match &page {
            Ok((_, dirs, more)) => (dirs.iter().map(|d| d.as_ref().to_string()).collect::<Vec<_>>(), *more),
            Err(_) => (Vec::new(), false),
        };
        self.first.insert(prefix.to_string(), page);
        self.ahead.insert(prefix.to_string(), rx);
        let has = |name: &str| dirs.iter().any(|d| d.rsplit('/').next() == Some(name));
        let exists = |name: &'static str| {
            let lister = Arc::clone(&self.root.lister);
            let key = format!("{prefix}{name}/");
            async move {
                let opts = PaginatedListOptions { max_keys: Some(1), ..Default::default() };
                lister.list_paginated(Some(&key), opts).await.is_ok_and(|p| !p.result.objects.is_empty())
            }
        };
        // Another page may name them.
        let full = more;
        if has("_delta_log") || (full && exists("_delta_log").await) {
            return Some(TableFormat::Delta);
        }
        if has(".hoodie") || (full && exists(".hoodie").await) {
            return Some(TableFormat::Hudi);
        }
        if has("metadata") || full {
            let opts = PaginatedListOptions { delimiter: Some("/".into()), ..Default::default() };
            let key = format!("{prefix}metadata/");
            if let Ok(p) = self.root.lister.list_paginated(Some(&key), opts).await
                && p.result.objects.iter().any(|o| o.location.as_ref().ends_with(".metadata.json"))
            {
                return Some(TableFormat::Iceberg);
            }
        }
        None
    }

    async fn run<V: Visitor<Pending = P>>(&mut self, v: &mut V) {
        let prefix = if self.root.url.prefix.is_empty() { String::new() } else { format!("{}/", self.root.url.prefix) };
        let table = self.table(&prefix).await;
        let state = v.root(table);
        // Azure's listings leave a prefix's own marker blob out: whether there is one is
        // only learnt by deleting it.
        let marker_known = self.root.url.scheme != Scheme::Azure;
        let mut stack = vec![Level::new(prefix, self.path.len(), state, marker_known)];
        if let Some(top) = stack.last_mut() {
            self.list_dir(top, v).await;
        }
        loop {
            if self.stopped(v) {
                break;
            }
            let Some(top) = stack.last_mut() else { break };
            if let Some(name) = top.pending.pop() {
                self.path.truncate(top.path_len);
                self.path.push(b'/');
                self.path.extend_from_slice(name.as_bytes());
                let prefix = format!("{}{name}/", top.prefix);
                let rel = self.path[self.root_len + 1..].to_vec();
                let path = self.path.clone();
                let id = DirId { dev: self.root.id.dev, ino: 0 };
                let table = self.table(&prefix).await;
                let Some(top) = stack.last_mut() else { break };
                match v.enter(&top.state, name.as_bytes(), &rel, &path, DirFacts { id, mount: false, table }) {
                    Enter::Walk(state) => {
                        stack.push(Level::new(prefix, self.path.len(), state, marker_known));
                        self.look_ahead(&stack);
                        if let Some(top) = stack.last_mut() {
                            self.list_dir(top, v).await;
                        }
                    }
                    Enter::Skip => {
                        top.troubled = true;
                        self.ahead.remove(&prefix);
                        self.first.remove(&prefix);
                    }
                }
                continue;
            }
            if stack.len() == 1 {
                break;
            }
            let Some(done) = stack.pop() else { break };
            let Some(parent) = stack.last_mut() else { break };
            // A directory is only a prefix: it goes when its last object does. Counting
            // it as gone lets the parent be seen as emptied too.
            let clean = !done.troubled && done.gone == done.entries;
            let emptied = if !clean {
                None
            } else {
                match (done.entries, done.marker) {
                    (0, Some(mtime)) => v.remove_empty(&done.state, mtime, &mut parent.state),
                    (0, None) => None,
                    _ => v.remove_emptied(&done.state, &mut parent.state),
                }
            };
            if let Some(tag) = emptied {
                parent.gone += 1;
                if done.marker.is_some() || !done.marker_known {
                    // Its marker goes once everything else has (at the end of the walk).
                    self.markers.push((
                        done.prefix.clone(),
                        self.path[..done.path_len].to_vec(),
                        tag,
                        done.marker_known,
                    ));
                }
            } else {
                parent.troubled |= done.troubled || done.gone != done.entries;
            }
            self.path.truncate(parent.path_len);
        }
        self.finish(v).await;
    }

    /// Lists one directory: with completion markers (apply), the markers are handed over
    /// and deleted first, then the directory is listed again for the rest.
    async fn list_dir<V: Visitor<Pending = P>>(&mut self, level: &mut Level<V::Dir>, v: &mut V) {
        if !v.has_markers(&level.state) {
            self.read(level, v, Pass::All).await;
            return;
        }
        self.read(level, v, Pass::Markers).await;
        self.send_batch(v).await;
        self.drain(v).await;
        v.markers_done(&mut level.state);
        if !level.troubled {
            self.read(level, v, Pass::Rest).await;
        }
    }

    async fn read<V: Visitor<Pending = P>>(&mut self, level: &mut Level<V::Dir>, v: &mut V, pass: Pass) {
        let (mut rx, mut first) = match self.ahead.remove(&level.prefix) {
            Some(rx) if pass != Pass::Rest => (rx, self.first.remove(&level.prefix)),
            _ => {
                self.first.remove(&level.prefix);
                self.start(&level.prefix);
                match self.ahead.remove(&level.prefix) {
                    Some(rx) => (rx, None),
                    None => return,
                }
            }
        };
        let own_marker = level.prefix.trim_end_matches('/').to_string();
        loop {
            let page = match first.take() {
                Some(p) => p,
                None => match rx.recv().await {
                    Some(p) => p,
                    None => break,
                },
            };
            if self.stopped(v) {
                break;
            }
            let (objects, dirs) = match page {
                Ok((objects, dirs, _)) => (objects, dirs),
                Err((msg, fatal)) => {
                    if fatal {
                        // The service failed (after its retries): nothing more is asked of
                        // it, so a dead or throttling service ends the run, never stalls it.
                        self.broken = Some(msg.clone());
                    }
                    level.troubled = true;
                    self.path.truncate(level.path_len);
                    let path = self.path.clone();
                    v.service_error(&path, &msg);
                    break;
                }
            };
            if pass != Pass::Markers {
                for d in &dirs {
                    if let Some(name) = d.as_ref().rsplit('/').next() {
                        level.pending.push(name.to_string());
                        level.entries += 1;
                    }
                }
            }
            for o in objects {
                if self.stopped(v) {
                    break;
                }
                let key: &str = o.location.as_ref();
                // The directory's own marker (`prefix/`): not a file.
                if key == own_marker && o.size == 0 {
                    level.marker = Some(o.last_modified.timestamp());
                    continue;
                }
                let name = key.rsplit('/').next().unwrap_or(key);
                let marker = pass != Pass::All && v.is_marker(&level.state, name.as_bytes());
                match pass {
                    Pass::Markers if !marker => continue,
                    Pass::Rest if marker => continue,
                    _ => {}
                }
                level.entries += 1;
                self.path.truncate(level.path_len);
                self.path.push(b'/');
                self.path.extend_from_slice(name.as_bytes());
                let size = o.size;
                let mtime = o.last_modified.timestamp();
                let entry = Entry {
                    path: &self.path,
                    rel: &self.path[(self.root_len + 1).min(self.path.len())..],
                    name: name.as_bytes(),
                    kind: Kind::File,
                    size,
                    allocated: size,
                    links: 1,
                    mtime,
                    dev: self.root.id.dev,
                    ino: 0,
                };
                match v.file(&mut level.state, &entry) {
                    Decision::Keep => {}
                    Decision::WouldRemove => level.gone += 1,
                    Decision::Remove(p, _) => {
                        level.gone += 1;
                        if self.opts.mode == Mode::Plan {
                            v.removed(p, Removal::Planned);
                        } else {
                            self.pacer.wait(size);
                            let id = self.next;
                            self.next += 1;
                            self.waiting.insert(id, Waiting::File(p));
                            self.batch.push((id, o.location.clone()));
                            if self.batch.len() >= BATCH {
                                self.send_batch(v).await;
                            }
                        }
                    }
                    // Compression and moves are local only (a validation error here).
                    Decision::Transform(p, _) => v.removed(p, Removal::Failed(rustix::io::Errno::NOTSUP)),
                }
            }
        }
        if pass != Pass::Markers {
            level.pending.reverse();
        }
        self.path.truncate(level.path_len);
    }

    /// Sends the batch being filled, once fewer than `jobs` are in flight.
    async fn send_batch<V: Visitor<Pending = P>>(&mut self, v: &mut V) {
        if self.batch.is_empty() {
            return;
        }
        while self.inflight.len() >= self.opts.jobs.max(1) {
            self.collect_one(v).await;
        }
        let batch = std::mem::take(&mut self.batch);
        if let Some(why) = &self.broken {
            let why: Arc<str> = format!("not attempted: the service failed earlier ({why})").into();
            for (id, _) in batch {
                if let Some(Waiting::File(p)) = self.waiting.remove(&id) {
                    v.removed(p, Removal::Rejected(Arc::clone(&why)));
                }
            }
            return;
        }
        let store = Arc::clone(&self.root.store);
        self.inflight.spawn_on(delete(store, batch), self.root.rt.handle());
    }

    /// Takes the outcomes of one batch.
    async fn collect_one<V: Visitor<Pending = P>>(&mut self, v: &mut V) {
        let Some(done) = self.inflight.join_next().await else { return };
        let (results, fatal) = done.unwrap_or_default();
        if let Some(why) = fatal {
            self.broken.get_or_insert(why);
        }
        for (id, r) in results {
            let Some(Waiting::File(p)) = self.waiting.remove(&id) else { continue };
            let outcome = match r {
                Ok(()) => Removal::Removed,
                Err(msg) => Removal::Rejected(msg.into()),
            };
            v.removed(p, outcome);
        }
    }

    /// Waits for every batch in flight.
    async fn drain<V: Visitor<Pending = P>>(&mut self, v: &mut V) {
        while !self.inflight.is_empty() {
            self.collect_one(v).await;
        }
    }

    async fn finish<V: Visitor<Pending = P>>(&mut self, v: &mut V) {
        if self.stop.load(Ordering::Relaxed) != 0 && self.broken.is_none() {
            // Interrupted: what was not sent is reported as not attempted.
            for (id, _) in std::mem::take(&mut self.batch) {
                if let Some(Waiting::File(p)) = self.waiting.remove(&id) {
                    v.removed(p, Removal::Failed(rustix::io::Errno::INTR));
                }
            }
        }
        self.send_batch(v).await;
        self.drain(v).await;
        // Listings started ahead of a stop are abandoned.
        self.ahead.clear();
        for (key, path, tag, known) in std::mem::take(&mut self.markers) {
            if self.stop.load(Ordering::Relaxed) != 0 || self.broken.is_some() {
                break;
            }
            let outcome = match self.opts.mode {
                Mode::Plan if known => Removal::Planned,
                Mode::Plan => continue,
                Mode::Apply => match self.only_marker(&key).await {
                    Ok(true) => match self.root.markers.delete(&key).await {
                        Ok(true) => Removal::Removed,
                        // There was none (Azure): nothing to report.
                        Ok(false) if !known => continue,
                        Ok(false) => Removal::Vanished,
                        Err(e) => Removal::Rejected(e.into()),
                    },
                    // Something is left (a deletion failed, or a writer came): it stays.
                    Ok(false) => continue,
                    Err(e) => Removal::Rejected(e.into()),
                },
            };
            v.dir_removed(&path, tag, outcome);
        }
    }

    /// Whether the prefix `key` holds nothing but its marker.
    async fn only_marker(&self, key: &str) -> Result<bool, String> {
        let opts = PaginatedListOptions { max_keys: Some(2), ..Default::default() };
        let page = self.root.lister.list_paginated(Some(key), opts).await.map_err(|e| message(&e))?;
        let own = key.trim_end_matches('/');
        Ok(page.result.objects.iter().all(|o| o.location.as_ref() == own) && page.result.common_prefixes.is_empty())
    }
}

/// Which objects one reading of a directory hands over (as for local trees).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    All,
    Markers,
    Rest,
}

/// A batch's outcomes, and the service's message when it failed as a whole.
type Deleted = (Vec<(u64, Result<(), String>)>, Option<String>);

/// Consecutive failures of single deletions after which the service is taken for
/// failed: stores without a bulk call (GCS) retry every key on its own, which on a dead
/// server would take minutes per batch.
const FAILURES: usize = 3;

/// Deletes one batch; every key gets an outcome, and the service's message when it
/// failed as a whole. A request that failed as a whole (after its retries), or a run of
/// single failures, fails every key not yet answered with the service's message.
async fn delete(store: Arc<dyn ObjectStore>, batch: Vec<(u64, Key)>) -> Deleted {
    let keys: Vec<object_store::Result<Key>> = batch.iter().map(|(_, k)| Ok(k.clone())).collect();
    let mut stream = store.delete_stream(futures::stream::iter(keys).boxed());
    let mut out = Vec::with_capacity(batch.len());
    let mut ids = batch.iter().map(|(id, _)| *id);
    let mut failures = 0;
    let mut fatal = None;
    while let Some(r) = stream.next().await {
        let Some(id) = ids.next() else { break };
        let r = match r {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(message(&e)),
        };
        failures = if r.is_err() { failures + 1 } else { 0 };
        let why = r.as_ref().err().cloned();
        out.push((id, r));
        if failures >= FAILURES {
            fatal = why;
            break;
        }
    }
    drop(stream);
    // A failure of the whole request answers once for many keys: every key left gets it.
    if out.len() < batch.len() {
        let why = fatal.clone().or_else(|| out.iter().rev().find_map(|(_, r)| r.clone().err()));
        let why = why.unwrap_or_else(|| "the service answered for fewer keys than were sent".into());
        fatal.get_or_insert(why.clone());
        out.extend(ids.map(|id| (id, Err(why.clone()))));
    }
    (out, fatal)
}
