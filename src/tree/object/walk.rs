//! The walk of a bucket: a directory is a key prefix, listed with the delimiter `/` page by
//! page, the next prefixes listed ahead while one is classified; its objects go to the
//! visitor as they arrive, markers first where a policy has completion markers.
//!
//! Every listed key is checked against the prefix that was listed ([`super::names`])
//! before the visitor sees it: what is not directly below it, a `KEY/` with data, and a
//! key with an empty, `.` or `..` segment go to [`Visitor::untrusted`], never to a
//! deletion. A sub-prefix that is not one valid segment is not walked as a directory:
//! the keys below it are listed flat and reported one by one.
//!
//! With an inventory report, a directory is read from the report or listed live, as
//! [`Listing`] and the visitor say: the counting walk reads only the report; the acting
//! walk lists live the directories the plan acts in (and any directory the report does
//! not know, below one listed live), so nothing written since the report into a
//! partition it deletes is missed, and nothing the report shows that has gone since is
//! deleted twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

use super::delete::Deletions;
use super::list::{self, Listed, Lister, Page};
use super::names::{self, Object};
use super::{Bucket, ObjectWalk, PAGES_AHEAD};
use crate::policy::object::Scheme;
use crate::tree::pace::Pacer;
use crate::tree::{
    Decision, DirFacts, DirId, ELSEWHERE, Enter, Entry, Kind, Listing, MarkerPass as Pass, Mode, Removal, TableFormat,
    Untrusted, Visitor,
};

/// Entries of a directory that its markers' pass keeps for the rest of the directory, so
/// that it is not listed twice. A directory with more is listed again (memory stays
/// bounded): partitions rarely hold that many objects in one directory.
const REPLAY: usize = 10_000;

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
    /// Listed live rather than read from an inventory report.
    live: bool,
    /// What the markers' pass listed besides the markers, when it all fitted in
    /// [`REPLAY`]: the rest of the directory, without a second listing.
    replay: Option<Vec<Listed>>,
    /// Sub-prefixes that are no valid directory: their keys are reported one by one.
    poisoned: Vec<String>,
}

impl<D> Level<D> {
    fn new(prefix: String, path_len: usize, state: D, marker_known: bool, live: bool) -> Level<D> {
        Level {
            prefix,
            path_len,
            pending: Vec::new(),
            state,
            entries: 0,
            gone: 0,
            troubled: false,
            marker: None,
            marker_known,
            live,
            replay: None,
            poisoned: Vec::new(),
        }
    }
}

struct Walk<'a, P> {
    root: &'a Bucket,
    opts: ObjectWalk<'a>,
    pacer: &'a Pacer,
    stop: &'a AtomicUsize,
    /// The root's prefix (ending in `/`, or empty).
    root_prefix: String,
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

    /// The lister of a directory listed live, or read from the report.
    fn lister(&self, live: bool) -> Lister {
        match self.opts.listing {
            Listing::Report(r) | Listing::Mixed(r) if !live => Lister::Report(Arc::clone(r)),
            _ => self.root.lister.clone(),
        }
    }

    /// Whether the directory `prefix` (at `rel`, below a directory listed live or not) is
    /// listed live.
    fn live<V: Visitor>(&self, v: &V, parent_live: bool, prefix: &str, rel: &[u8]) -> bool {
        match self.opts.listing {
            Listing::Live => true,
            Listing::Report(_) => false,
            Listing::Mixed(r) => v.live(rel) || (parent_live && !r.knows(prefix)),
        }
    }

    /// Starts listing `prefix` unless it is already under way.
    fn start(&mut self, prefix: &str, live: bool) {
        if self.ahead.contains_key(prefix) {
            return;
        }
        let (tx, rx) = mpsc::channel(PAGES_AHEAD);
        let shown = self.root.url_of(prefix);
        self.root.rt.spawn(list::list(self.lister(live), prefix.to_string(), true, shown, tx));
        self.ahead.insert(prefix.to_string(), rx);
    }

    /// Starts listing the next directories the walk will visit, up to the look-ahead.
    fn look_ahead<V: Visitor>(&mut self, stack: &[Level<V::Dir>], v: &V) {
        let want = self.opts.jobs.clamp(2, 16) * 2;
        let mut upcoming = Vec::new();
        'levels: for level in stack.iter().rev() {
            for name in level.pending.iter().rev() {
                if self.ahead.len() + upcoming.len() >= want {
                    break 'levels;
                }
                let prefix = format!("{}{name}/", level.prefix);
                let rel = &prefix.as_bytes()[self.root_prefix.len()..prefix.len() - 1];
                let live = self.live(v, level.live, &prefix, rel);
                upcoming.push((prefix, live));
            }
        }
        for (p, live) in upcoming {
            self.start(&p, live);
        }
    }

    /// Reads the first page of `prefix`'s listing ahead of the walk (it is kept for the
    /// walk), and tells whether the directory is a lakehouse table: its sub-prefixes
    /// include `_delta_log/` or `.hoodie/`, or `metadata/` holding a `*.metadata.json`.
    /// A listing of more than one page may name them on a later page: then they are
    /// asked for directly, before anything of the directory is handed over.
    async fn table(&mut self, prefix: &str, live: bool) -> Option<TableFormat> {
        self.start(prefix, live);
        let mut rx = self.ahead.remove(prefix)?;
        let page = rx.recv().await?;
        let (dirs, more) = match &page {
            Ok((_, dirs, more)) => (dirs.iter().map(|d| d.0.clone()).collect::<Vec<_>>(), *more),
            Err(_) => (Vec::new(), false),
        };
        self.first.insert(prefix.to_string(), page);
        self.ahead.insert(prefix.to_string(), rx);
        let has = |name: &str| dirs.iter().any(|d| d.trim_end_matches('/').rsplit('/').next() == Some(name));
        let lister = self.lister(live);
        let exists = |name: &'static str| {
            let lister = lister.clone();
            let key = format!("{prefix}{name}/");
            async move { lister.page(&key, false, None, Some(1)).await.is_ok_and(|p| !p.objects.is_empty()) }
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
            let key = format!("{prefix}metadata/");
            if let Ok(p) = lister.page(&key, true, None, None).await
                && p.objects.iter().any(|o| o.key.ends_with(".metadata.json"))
            {
                return Some(TableFormat::Iceberg);
            }
        }
        None
    }

    async fn run<V: Visitor<Pending = P>>(&mut self, v: &mut V) {
        let prefix = self.root_prefix.clone();
        let live = self.live(v, true, &prefix, b"");
        let table = self.table(&prefix, live).await;
        let state = v.root(table);
        // Azure's listings leave a prefix's own marker blob out: whether there is one is
        // only learnt by deleting it.
        let marker_known = self.root.url.scheme != Scheme::Azure;
        let mut stack = vec![Level::new(prefix, self.path.len(), state, marker_known, live)];
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
                let live = self.live(v, top.live, &prefix, &rel);
                let table = self.table(&prefix, live).await;
                let Some(top) = stack.last_mut() else { break };
                match v.enter(&top.state, name.as_bytes(), &rel, &path, DirFacts { id, mount: false, table }) {
                    Enter::Walk(state) => {
                        stack.push(Level::new(prefix, self.path.len(), state, marker_known, live));
                        self.look_ahead(&stack, v);
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
                if tag != ELSEWHERE && (done.marker.is_some() || !done.marker_known) {
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

    /// Lists one directory: with completion markers, the markers are handed over (and in
    /// apply deleted) first, then the rest — kept from the same listing when it fits.
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

    /// One reading of a directory. The first (`All` or `Markers`) takes its
    /// sub-directories; `Markers` hands over only markers and keeps the rest for `Rest`.
    async fn read<V: Visitor<Pending = P>>(&mut self, level: &mut Level<V::Dir>, v: &mut V, pass: Pass) {
        if pass == Pass::Rest
            && let Some(kept) = level.replay.take()
        {
            for o in kept {
                if self.stopped(v) {
                    break;
                }
                self.hand(level, v, &o, pass).await;
            }
            self.path.truncate(level.path_len);
            return;
        }
        let (mut rx, mut first) = match self.ahead.remove(&level.prefix) {
            Some(rx) if pass != Pass::Rest => (rx, self.first.remove(&level.prefix)),
            _ => {
                self.first.remove(&level.prefix);
                self.start(&level.prefix, level.live);
                match self.ahead.remove(&level.prefix) {
                    Some(rx) => (rx, None),
                    None => return,
                }
            }
        };
        let mut kept = (pass == Pass::Markers).then(Vec::new);
        let mut complete = false;
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
            let (objects, dirs, more) = match page {
                Ok(p) => p,
                Err(e) => {
                    if e.fatal {
                        // The service failed (after its retries), or its listing cannot
                        // be trusted to end: nothing more is asked of it, so a dead,
                        // throttling or lying service ends the run, never stalls it.
                        self.deletions.broken = Some(e.message.clone());
                    }
                    level.troubled = true;
                    self.path.truncate(level.path_len);
                    let path = self.path.clone();
                    v.service_error(&path, &e.message);
                    kept = None;
                    break;
                }
            };
            if pass != Pass::Rest {
                self.take_dirs(level, v, dirs);
            }
            for o in objects {
                if self.stopped(v) {
                    break;
                }
                if let Some(k) = kept.as_mut() {
                    let marker = matches!(names::object(&level.prefix, &o.key, o.size), Object::File(n) if !o.bad && v.is_marker(&level.state, n.as_bytes()));
                    if !marker {
                        if k.len() < REPLAY {
                            k.push(o);
                        } else {
                            // Too many to keep: the rest pass lists the directory again.
                            kept = None;
                            level.replay = None;
                        }
                        continue;
                    }
                    self.hand(level, v, &o, Pass::Markers).await;
                } else if pass == Pass::Markers {
                    let marker = matches!(names::object(&level.prefix, &o.key, o.size), Object::File(n) if !o.bad && v.is_marker(&level.state, n.as_bytes()));
                    if marker {
                        self.hand(level, v, &o, Pass::Markers).await;
                    }
                } else {
                    self.hand(level, v, &o, pass).await;
                }
            }
            if !more {
                complete = true;
            }
        }
        if pass != Pass::Rest {
            level.pending.reverse();
            self.poisoned(level, v).await;
        }
        if complete {
            level.replay = kept;
        }
        self.path.truncate(level.path_len);
    }

    /// Takes a page's sub-prefixes: directories to visit, or not to be trusted.
    fn take_dirs<V: Visitor<Pending = P>>(&mut self, level: &mut Level<V::Dir>, v: &mut V, dirs: Vec<(String, bool)>) {
        for (d, bad) in dirs {
            level.entries += 1;
            match names::sub_prefix(&level.prefix, &d) {
                Ok(name) if !bad => level.pending.push(name.to_string()),
                Ok(_) | Err(Untrusted::InvalidKey) => level.poisoned.push(d),
                Err(why) => {
                    let url = self.root.url_of(&d);
                    v.untrusted(&mut level.state, url.as_bytes(), 0, why);
                }
            }
        }
    }

    /// Reports, key by key, what lies below sub-prefixes that are no valid directory.
    async fn poisoned<V: Visitor<Pending = P>>(&mut self, level: &mut Level<V::Dir>, v: &mut V) {
        for prefix in std::mem::take(&mut level.poisoned) {
            let (tx, mut rx) = mpsc::channel(PAGES_AHEAD);
            let shown = self.root.url_of(&prefix);
            self.root.rt.spawn(list::list(self.lister(level.live), prefix, false, shown.clone(), tx));
            while let Some(page) = rx.recv().await {
                if self.stopped(v) {
                    break;
                }
                match page {
                    Ok((objects, _, _)) => {
                        for o in objects {
                            let url = self.root.url_of(&o.key);
                            v.untrusted(&mut level.state, url.as_bytes(), o.size, Untrusted::InvalidKey);
                        }
                    }
                    Err(e) => {
                        level.troubled = true;
                        if e.fatal {
                            self.deletions.broken = Some(e.message.clone());
                        }
                        v.service_error(shown.as_bytes(), &e.message);
                        break;
                    }
                }
            }
        }
    }

    /// Hands one listed object to the visitor (or notes the directory's own marker).
    async fn hand<V: Visitor<Pending = P>>(&mut self, level: &mut Level<V::Dir>, v: &mut V, o: &Listed, pass: Pass) {
        let name = match names::object(&level.prefix, &o.key, o.size) {
            Object::OwnMarker if !o.bad => {
                level.marker = Some(o.mtime);
                return;
            }
            Object::File(name) if !o.bad => name,
            Object::Untrusted(why) => {
                level.entries += 1;
                let url = self.root.url_of(&o.key);
                v.untrusted(&mut level.state, url.as_bytes(), o.size, why);
                return;
            }
            Object::OwnMarker | Object::File(_) => {
                level.entries += 1;
                let url = self.root.url_of(&o.key);
                v.untrusted(&mut level.state, url.as_bytes(), o.size, Untrusted::InvalidKey);
                return;
            }
        };
        // sweep's own lease object is nobody's file.
        if level.prefix == self.root_prefix && names::is_lease(name) {
            return;
        }
        let marker = pass != Pass::All && v.is_marker(&level.state, name.as_bytes());
        if !pass.hands(marker) {
            return;
        }
        level.entries += 1;
        self.path.truncate(level.path_len);
        self.path.push(b'/');
        self.path.extend_from_slice(name.as_bytes());
        let entry = Entry {
            path: &self.path,
            rel: &self.path[(self.root_len + 1).min(self.path.len())..],
            name: name.as_bytes(),
            kind: Kind::File,
            size: o.size,
            allocated: o.size,
            links: 1,
            mtime: o.mtime,
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
                    // Paced in the runtime: a sleeping thread would stall the listings
                    // and deletions it drives.
                    let wait = self.pacer.delay(o.size);
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    match object_store::path::Path::parse(&o.key) {
                        Ok(key) => self.deletions.queue(self.root, self.opts.jobs, p, key, v).await,
                        Err(e) => v.removed(p, Removal::Rejected(e.to_string().into())),
                    }
                }
            }
            // Compression and moves are local only (a validation error here).
            Decision::Transform(p, _) => v.removed(p, Removal::Failed(rustix::io::Errno::NOTSUP)),
        }
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

    /// Whether the prefix `key` holds nothing but its marker, as the bucket stands now.
    async fn only_marker(&self, key: &str) -> Result<bool, String> {
        let page = self.root.lister.page(key, false, None, Some(2)).await.map_err(|e| e.message)?;
        Ok(page.objects.iter().all(|o| o.key == key) && page.prefixes.is_empty())
    }
}

/// Walks the objects under `root`.
pub fn walk<V: Visitor>(root: &Bucket, opts: ObjectWalk, pacer: &Pacer, stop: &AtomicUsize, v: &mut V) {
    let path = root.url.to_string().into_bytes();
    let root_prefix = if root.url.prefix.is_empty() { String::new() } else { format!("{}/", root.url.prefix) };
    let mut w = Walk {
        root,
        opts,
        pacer,
        stop,
        root_prefix,
        root_len: path.len(),
        path,
        ahead: HashMap::new(),
        deletions: Deletions::new(),
        markers: Vec::new(),
        first: HashMap::new(),
    };
    root.rt.block_on(w.run(v));
}
