//! Deleting in a bucket: keys collected into batches of up to 1,000 (one `DeleteObjects`
//! request on S3; single deletes on GCS and Azure), at most `jobs` batches in flight,
//! every key answered, and a failing service ends the run instead of stalling it.
//!
//! Throttling (`503 SlowDown`) is answered as S3's documentation asks: `object_store`
//! retries each request with exponential backoff; keys it still could not delete because
//! the service was throttling are sent again after a randomised, growing pause, a few
//! rounds at most ([`Backoff::batch`]); and each throttled batch halves the batches in
//! flight, which grow back by one with each batch that goes through.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use object_store::ObjectStore;
use object_store::path::Path as Key;
use tokio::task::JoinSet;

use super::retry::{Backoff, throttled};
use super::{BATCH, Bucket, message};
use crate::tree::{Removal, Visitor};

/// The deletions of a walk: the batch being filled, the batches in flight, and what
/// waits for each key's outcome.
pub(super) struct Deletions<P> {
    batch: Vec<(u64, Key)>,
    inflight: JoinSet<Deleted>,
    waiting: HashMap<u64, P>,
    next: u64,
    /// Batches allowed in flight: `jobs`, halved by throttling, growing back by one.
    limit: Option<usize>,
    /// The service failed: its message. Nothing more is sent.
    pub(super) broken: Option<String>,
}

impl<P> Deletions<P> {
    pub(super) fn new() -> Deletions<P> {
        let (batch, inflight, waiting) = (Vec::new(), JoinSet::new(), HashMap::new());
        Deletions { batch, inflight, waiting, next: 0, limit: None, broken: None }
    }

    /// Queues `key`, whose outcome goes to the visitor with `p`; sends the batch when it
    /// is full.
    pub(super) async fn queue<V: Visitor<Pending = P>>(
        &mut self,
        root: &Bucket,
        jobs: usize,
        p: P,
        key: Key,
        v: &mut V,
    ) {
        let id = self.next;
        self.next += 1;
        self.waiting.insert(id, p);
        self.batch.push((id, key));
        if self.batch.len() >= BATCH {
            self.send(root, jobs, v).await;
        }
    }

    /// Sends the batch being filled, once fewer than `jobs` are in flight.
    pub(super) async fn send<V: Visitor<Pending = P>>(&mut self, root: &Bucket, jobs: usize, v: &mut V) {
        if self.batch.is_empty() {
            return;
        }
        let jobs = jobs.max(1);
        while self.inflight.len() >= self.limit.unwrap_or(jobs).min(jobs) {
            self.collect_one(v, jobs).await;
        }
        let batch = std::mem::take(&mut self.batch);
        if let Some(why) = &self.broken {
            let why: Arc<str> = format!("not attempted: the service failed earlier ({why})").into();
            for (id, _) in batch {
                if let Some(p) = self.waiting.remove(&id) {
                    v.removed(p, Removal::Rejected(Arc::clone(&why)));
                }
            }
            return;
        }
        let store = Arc::clone(&root.store);
        self.inflight.spawn_on(delete(store, batch), root.rt.handle());
    }

    /// Takes the outcomes of one batch.
    async fn collect_one<V: Visitor<Pending = P>>(&mut self, v: &mut V, jobs: usize) {
        let Some(done) = self.inflight.join_next().await else { return };
        let (results, fatal, slowed) = done.unwrap_or_default();
        let limit = self.limit.unwrap_or(jobs);
        self.limit = Some(if slowed { (limit / 2).max(1) } else { (limit + 1).min(jobs) });
        if let Some(why) = fatal {
            self.broken.get_or_insert(why);
        }
        for (id, r) in results {
            let Some(p) = self.waiting.remove(&id) else { continue };
            let outcome = match r {
                Ok(()) => Removal::Removed,
                Err(msg) => Removal::Rejected(msg.into()),
            };
            v.removed(p, outcome);
        }
    }

    /// Sends what is queued and waits for every batch in flight.
    pub(super) async fn flush<V: Visitor<Pending = P>>(&mut self, root: &Bucket, jobs: usize, v: &mut V) {
        self.send(root, jobs, v).await;
        while !self.inflight.is_empty() {
            self.collect_one(v, jobs.max(1)).await;
        }
    }

    /// Interrupted: what was not sent is reported as not attempted.
    pub(super) fn abandon<V: Visitor<Pending = P>>(&mut self, v: &mut V) {
        for (id, _) in std::mem::take(&mut self.batch) {
            if let Some(p) = self.waiting.remove(&id) {
                v.removed(p, Removal::Failed(rustix::io::Errno::INTR));
            }
        }
    }
}

/// A batch's outcomes, the service's message when it failed as a whole, and whether it
/// was throttled on the way.
type Deleted = (Vec<(u64, Result<(), String>)>, Option<String>, bool);

/// Consecutive failures of single deletions after which the service is taken for
/// failed: stores without a bulk call (GCS) retry every key on its own, which on a dead
/// server would take minutes per batch.
const FAILURES: usize = 3;

/// Deletes one batch; every key gets an outcome. Keys refused because the service was
/// throttling are sent again after a pause, a bounded number of rounds.
async fn delete(store: Arc<dyn ObjectStore>, batch: Vec<(u64, Key)>) -> Deleted {
    let mut pending = batch;
    let mut out = Vec::with_capacity(pending.len());
    let mut backoff = Backoff::batch();
    let mut slowed = false;
    loop {
        let (results, fatal) = attempt(&store, &pending).await;
        let again: std::collections::HashSet<u64> =
            results.iter().filter(|(_, r)| r.as_ref().err().is_some_and(|m| throttled(m))).map(|(id, _)| *id).collect();
        if again.is_empty() {
            out.extend(results);
            return (out, fatal, slowed);
        }
        slowed = true;
        let Some(wait) = backoff.next() else {
            out.extend(results);
            return (out, fatal, slowed);
        };
        out.extend(results.into_iter().filter(|(id, _)| !again.contains(id)));
        pending.retain(|(id, _)| again.contains(id));
        tokio::time::sleep(wait).await;
    }
}

/// One attempt at a batch: every key gets an outcome, and the service's message when it
/// failed as a whole. A request that failed as a whole (after its retries), or a run of
/// single failures, fails every key not yet answered with the service's message.
async fn attempt(
    store: &Arc<dyn ObjectStore>,
    batch: &[(u64, Key)],
) -> (Vec<(u64, Result<(), String>)>, Option<String>) {
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
