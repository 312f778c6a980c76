//! The walk of a bucket: a directory is a key prefix, listed with the delimiter `/` page by
//! page, the next prefixes listed ahead while one is classified; its objects go to the
//! visitor as they arrive, markers first where a policy has completion markers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use object_store::list::{PaginatedListOptions, PaginatedListStore};
use tokio::sync::mpsc;

use super::delete::Deletions;
use super::{Bucket, ObjectWalk, PAGES_AHEAD, Page, message};
use crate::policy::object::Scheme;
use crate::tree::pace::Pacer;
use crate::tree::{
    Decision, DirFacts, DirId, Enter, Entry, Kind, MarkerPass as Pass, Mode, Removal, TableFormat, Visitor,
};

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
    deletions: Deletions<P>,
    /// Markers of emptied directories (key, display path, tag, whether the listing showed
    /// it), deepest first.
    markers: Vec<(String, Vec<u8>, u32, bool)>,
    /// The first page of a directory's listing, read before the walk entered it (to
    /// tell a table), by prefix.
    first: HashMap<String, Page>,
}

impl<P> Walk<'_, P> {
    fn stopped<V: Visitor>(&self, v: &V) -> bool {
        v.stop() || self.stop.load(Ordering::Relaxed) != 0 || self.deletions.broken.is_some()
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
        self.deletions.flush(self.root, self.opts.jobs, v).await;
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
                        self.deletions.broken = Some(msg.clone());
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
                if !pass.hands(marker) {
                    continue;
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
                            self.deletions.queue(self.root, self.opts.jobs, p, o.location.clone(), v).await;
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

    /// Ends the walk: the deletions sent and answered, then the markers of the
    /// directories the run emptied, deepest first.
    async fn finish<V: Visitor<Pending = P>>(&mut self, v: &mut V) {
        if self.stop.load(Ordering::Relaxed) != 0 && self.deletions.broken.is_none() {
            self.deletions.abandon(v);
        }
        self.deletions.flush(self.root, self.opts.jobs, v).await;
        // Listings started ahead of a stop are abandoned.
        self.ahead.clear();
        for (key, path, tag, known) in std::mem::take(&mut self.markers) {
            if self.stop.load(Ordering::Relaxed) != 0 || self.deletions.broken.is_some() {
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
        deletions: Deletions::new(),
        markers: Vec::new(),
        first: HashMap::new(),
    };
    root.rt.block_on(w.run(v));
}
