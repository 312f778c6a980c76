//! Deleting in a bucket: keys collected into batches of up to 1,000 (one `DeleteObjects`
//! request on S3; single deletes on GCS and Azure), at most `jobs` batches in flight,
//! every key answered, and a failing service ends the run instead of stalling it; then
//! the directory markers the run emptied.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use object_store::ObjectStore;
use object_store::path::Path as Key;

use super::message;
use super::walk::{Waiting, Walk};
use crate::tree::{Mode, Removal, Visitor};

impl<P> Walk<'_, P> {
    /// Sends the batch being filled, once fewer than `jobs` are in flight.
    pub(super) async fn send_batch<V: Visitor<Pending = P>>(&mut self, v: &mut V) {
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
    pub(super) async fn collect_one<V: Visitor<Pending = P>>(&mut self, v: &mut V) {
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
    pub(super) async fn drain<V: Visitor<Pending = P>>(&mut self, v: &mut V) {
        while !self.inflight.is_empty() {
            self.collect_one(v).await;
        }
    }

    pub(super) async fn finish<V: Visitor<Pending = P>>(&mut self, v: &mut V) {
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
}

/// A batch's outcomes, and the service's message when it failed as a whole.
pub(super) type Deleted = (Vec<(u64, Result<(), String>)>, Option<String>);

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
