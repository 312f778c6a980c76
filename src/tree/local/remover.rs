//! The deletion threads. `unlinkat` dominates an `apply` (three quarters of its time is
//! in the kernel's unlink path), and unlinks in different directories do not contend
//! for the same directory lock: so the walk hands each directory's removals, in batches,
//! to a pool of threads (`--jobs`), while it goes on listing and classifying.
//!
//! What keeps this safe:
//! - every operation is relative to a directory descriptor the walk opened (shared
//!   through an `Arc`), never a path;
//! - a directory's `rmdir` is issued only when every operation inside it has completed:
//!   each directory counts its operations in flight, and an emptied directory's `rmdir`
//!   waits, deferred, until its count falls to zero (the thread that completes the last
//!   operation hands it on, and so on up the tree);
//! - the queue is bounded, and so are removals not yet done, so memory and descriptors
//!   stay flat whatever the tree;
//! - a directory's files are worked on by one thread at a time (unlinks in one directory
//!   serialise on its lock in the kernel; a second thread there only spins), so the
//!   threads spread over directories;
//! - every thread checks the stop flag before each operation: after a signal, what is
//!   still queued is reported as not attempted;
//! - pacing (`--max-rate`) is one token bucket shared by every thread;
//! - directories are removed by threads of their own: the last reference to a removed
//!   directory frees its blocks, and on a filesystem mounted with `discard` that waits
//!   for the device (about a millisecond here). The walk and the deleting threads let
//!   go of a directory before its `rmdir` is issued, so that wait falls on a thread
//!   that does nothing else, and unlinks go on meanwhile.
//!
//! Outcomes come back tagged with the id the walk gave each operation, in completion
//! order: across directories, the order of a run's report lines is not significant;
//! a directory's comes after those of everything in it (each thread sends its outcomes
//! before it lowers the count that lets the directory go).

use std::collections::VecDeque;
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{Scope, ScopedJoinHandle};

use rustix::fs::AtFlags;
use rustix::io::Errno;

use super::unlink::remove_checked;
use crate::tree::pace::Pacer;
use crate::tree::{Check, Removal, Transform};

/// Operations per batch.
const BATCH: usize = 256;

/// One operation, relative to an open directory.
pub(super) enum Op {
    /// `unlinkat(dir, name, 0)`, if the check holds; the file's size, for pacing.
    Unlink(CString, Check, u64),
    /// Compress or move a file, if the check holds; its size, for pacing.
    Transform(CString, Check, Transform, u64),
}

/// A directory being walked, as the deleting threads see it: the operations in flight
/// inside it, and its own `rmdir`, deferred until they are done. It holds no descriptor
/// of itself (queued operations do; its deferred removal holds the parent's), so the
/// walk's window of open directories stays what it is.
#[derive(Default)]
pub(super) struct Node {
    state: Mutex<NodeState>,
    /// A thread is working on a batch inside this directory. Unlinks in one directory
    /// serialise on its lock in the kernel, so a second thread there would only spin:
    /// batches of a busy directory wait, and threads take other directories' batches.
    busy: std::sync::atomic::AtomicBool,
}

/// A deferred `rmdir`: its id, the name, and the parent's descriptor and node.
type Deferred = (u64, CString, Arc<OwnedFd>, Arc<Node>);

#[derive(Default)]
struct NodeState {
    /// Operations queued or running inside this directory (its entries' removals and
    /// its sub-directories' `rmdir`s).
    pending: usize,
    /// This directory's own removal, waiting for `pending` to reach zero.
    deferred: Option<Deferred>,
}

impl Node {
    /// A node for a directory.
    pub(super) fn new() -> Arc<Node> {
        Arc::new(Node::default())
    }

    fn add(&self, n: usize) {
        if let Ok(mut s) = self.state.lock() {
            s.pending += n;
        }
    }

    /// `n` operations inside this directory are done: its own removal, if it waits and
    /// nothing else is in flight here.
    fn done(&self, n: usize) -> Option<Deferred> {
        let mut s = self.state.lock().ok()?;
        s.pending = s.pending.saturating_sub(n);
        if s.pending == 0 { s.deferred.take() } else { None }
    }
}

/// A batch: operations inside one directory, open as `fd`.
struct Batch {
    fd: Arc<OwnedFd>,
    node: Arc<Node>,
    ops: Vec<(u64, Op)>,
}

/// What the threads share.
struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when a batch is queued or the queue closes (for threads), and when a
    /// batch is taken (for a walk waiting for room).
    ready: Condvar,
    room: Condvar,
    capacity: usize,
    /// Directory removals not yet done, deferred or queued: bounded, because each holds
    /// a parent's descriptor.
    deferred: AtomicUsize,
    /// Directory removals whose directories are empty, for the removing threads.
    rmdirs: Mutex<Rmdirs>,
    /// Signalled when a removal is queued or the queue closes.
    rmdir_ready: Condvar,
}

#[derive(Default)]
struct Rmdirs {
    queue: VecDeque<Deferred>,
    closed: bool,
}

impl Shared {
    /// Closes both queues: threads finish what is queued, then end.
    fn close(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.closed = true;
        }
        self.ready.notify_all();
        if let Ok(mut r) = self.rmdirs.lock() {
            r.closed = true;
        }
        self.rmdir_ready.notify_all();
    }

    /// Hands a directory whose operations are all done to the removing threads.
    fn release(&self, d: Deferred) {
        if let Ok(mut r) = self.rmdirs.lock() {
            r.queue.push_back(d);
            self.rmdir_ready.notify_one();
        }
    }
}

struct Queue {
    batches: VecDeque<Batch>,
    closed: bool,
}

/// The pool, seen from the walk.
pub(super) struct Pool<'scope> {
    shared: Arc<Shared>,
    results: Receiver<Vec<(u64, Removal)>>,
    batch: Option<Batch>,
    next: u64,
    /// Operations sent whose outcomes have not come back.
    outstanding: usize,
    /// The most directory removals not yet done before the walk waits for outcomes.
    max_deferred: usize,
    threads: Vec<ScopedJoinHandle<'scope, ()>>,
}

impl<'scope> Pool<'scope> {
    /// Starts `jobs` deleting threads and as many removing directories in `scope`.
    /// `budget` bounds the batches queued and the directory removals not yet done (each
    /// holds a directory descriptor).
    pub(super) fn start<'env>(
        scope: &'scope Scope<'scope, 'env>,
        jobs: usize,
        budget: super::Budget,
        pacer: &'env Pacer,
        stop: &'env AtomicUsize,
    ) -> Result<Pool<'scope>, Errno> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue { batches: VecDeque::new(), closed: false }),
            ready: Condvar::new(),
            room: Condvar::new(),
            capacity: budget.depth,
            deferred: AtomicUsize::new(0),
            rmdirs: Mutex::new(Rmdirs::default()),
            rmdir_ready: Condvar::new(),
        });
        let (tx, results) = channel();
        let mut threads = Vec::new();
        // As many threads removing directories as deleting files: they mostly wait for
        // the device, and a removal they hold counts against the deferred bound.
        let mut start = || -> Result<(), Errno> {
            for i in 0..jobs.clamp(1, budget.threads) {
                let (s, t) = (Arc::clone(&shared), tx.clone());
                threads.push(spawn(scope, format!("sweep-remover-{i}"), move || work(&s, &t, pacer, stop))?);
                let (s, t) = (Arc::clone(&shared), tx.clone());
                threads.push(spawn(scope, format!("sweep-rmdir-{i}"), move || remove_dirs(&s, &t, stop))?);
            }
            Ok(())
        };
        if let Err(e) = start() {
            // The threads started must not wait forever for work.
            shared.close();
            return Err(e);
        }
        Ok(Pool { shared, results, batch: None, next: 0, outstanding: 0, max_deferred: budget.window.max(2), threads })
    }

    /// Queues an operation on a file of the directory open as `fd`, whose node is
    /// `node`; returns its id.
    pub(super) fn queue(&mut self, fd: &Arc<OwnedFd>, node: &Arc<Node>, op: Op) -> u64 {
        let id = self.next;
        self.next += 1;
        node.add(1);
        self.outstanding += 1;
        let same = self.batch.as_ref().is_some_and(|b| Arc::ptr_eq(&b.node, node) && Arc::ptr_eq(&b.fd, fd));
        if !same {
            self.send();
            self.batch = Some(Batch { fd: Arc::clone(fd), node: Arc::clone(node), ops: Vec::with_capacity(BATCH) });
        }
        if let Some(b) = self.batch.as_mut() {
            b.ops.push((id, op));
            if b.ops.len() >= BATCH {
                self.send();
            }
        }
        id
    }

    /// Removes the directory `name` of the directory open as `parent_fd` (node
    /// `parent`) once everything inside it (node `child`) is done; returns its id.
    /// Returns `None` when too many removals wait already: the caller must take outcomes
    /// (which frees them) and try again. The caller holds the directory open no longer
    /// (see the module's notes).
    pub(super) fn rmdir(
        &mut self,
        parent_fd: &Arc<OwnedFd>,
        parent: &Arc<Node>,
        child: &Arc<Node>,
        name: CString,
    ) -> Option<u64> {
        if self.shared.deferred.load(Ordering::Relaxed) >= self.max_deferred {
            return None;
        }
        // The batch may hold operations inside `child`: they must be on their way.
        self.send();
        let id = self.next;
        self.next += 1;
        self.outstanding += 1;
        parent.add(1);
        self.shared.deferred.fetch_add(1, Ordering::Relaxed);
        let removal = (id, name, Arc::clone(parent_fd), Arc::clone(parent));
        let now = match child.state.lock() {
            Ok(mut s) if s.pending > 0 => {
                s.deferred = Some(removal);
                None
            }
            _ => Some(removal),
        };
        if let Some(removal) = now {
            self.shared.release(removal);
        }
        Some(id)
    }

    /// Sends the batch being filled, waiting for room in the queue.
    pub(super) fn send(&mut self) {
        if let Some(b) = self.batch.take().filter(|b| !b.ops.is_empty()) {
            self.enqueue(b);
        }
    }

    fn enqueue(&self, b: Batch) {
        let Ok(mut q) = self.shared.queue.lock() else { return };
        while q.batches.len() >= self.shared.capacity {
            q = match self.shared.room.wait(q) {
                Ok(q) => q,
                Err(_) => return,
            };
        }
        q.batches.push_back(b);
        self.shared.ready.notify_one();
    }

    /// Outcomes that are ready, without waiting.
    pub(super) fn ready(&mut self) -> Vec<(u64, Removal)> {
        let mut out = Vec::new();
        loop {
            match self.results.try_recv() {
                Ok(mut r) => {
                    self.outstanding -= r.len();
                    out.append(&mut r);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return out,
            }
        }
    }

    /// Sends what is queued and waits for at least one outcome (when any is due).
    pub(super) fn wait(&mut self) -> Vec<(u64, Removal)> {
        self.send();
        if self.outstanding == 0 {
            return Vec::new();
        }
        match self.results.recv() {
            Ok(mut r) => {
                self.outstanding -= r.len();
                r.append(&mut self.ready());
                r
            }
            Err(_) => Vec::new(),
        }
    }

    /// Sends what is left, waits for every outcome, and stops the threads.
    pub(super) fn finish(mut self) -> Vec<(u64, Removal)> {
        let mut out = Vec::new();
        while self.outstanding > 0 {
            let got = self.wait();
            if got.is_empty() {
                break;
            }
            out.extend(got);
        }
        self.shared.close();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        out
    }
}

impl Drop for Pool<'_> {
    /// However the walk ends, the threads end too (the scope joins them).
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// Starts a named thread in `scope`.
fn spawn<'scope>(
    scope: &'scope Scope<'scope, '_>,
    name: String,
    f: impl FnOnce() + Send + 'scope,
) -> Result<ScopedJoinHandle<'scope, ()>, Errno> {
    std::thread::Builder::new()
        .name(name)
        .spawn_scoped(scope, f)
        .map_err(|e| e.raw_os_error().map_or(Errno::AGAIN, Errno::from_raw_os_error))
}

/// A deleting thread: takes batches until the queue closes.
fn work(shared: &Shared, results: &Sender<Vec<(u64, Removal)>>, pacer: &Pacer, stop: &AtomicUsize) {
    loop {
        let batch = {
            let Ok(mut q) = shared.queue.lock() else { return };
            loop {
                let free = q.batches.iter().position(|b| !b.node.busy.load(Ordering::Relaxed));
                if let Some(b) = free.and_then(|i| q.batches.remove(i)) {
                    b.node.busy.store(true, Ordering::Relaxed);
                    shared.room.notify_one();
                    break b;
                }
                if q.closed && q.batches.is_empty() {
                    return;
                }
                q = match shared.ready.wait(q) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            }
        };
        let mut done = Vec::with_capacity(batch.ops.len());
        for (id, op) in &batch.ops {
            if stop.load(Ordering::Relaxed) != 0 {
                done.push((*id, Removal::Failed(Errno::INTR)));
                continue;
            }
            let r = match op {
                Op::Unlink(name, check, size) => {
                    pacer.wait(*size);
                    remove_checked(&batch.fd, name, *check)
                }
                Op::Transform(name, check, t, size) => {
                    pacer.wait(*size);
                    super::tier::transform(&batch.fd, name, *check, t)
                }
            };
            done.push((*id, r));
        }
        // Another thread may take this directory's next batch now. (The flag is only
        // read and written under the queue's lock.) Threads asleep were waiting for a
        // batch they may take, and this directory's is the only one that just became
        // free: one thread is woken for it, if it has one queued, not all of them.
        let waiting = match shared.queue.lock() {
            Ok(q) => {
                batch.node.busy.store(false, Ordering::Relaxed);
                q.batches.iter().any(|b| Arc::ptr_eq(&b.node, &batch.node))
            }
            Err(_) => false,
        };
        if waiting {
            shared.ready.notify_one();
        }
        // The directory's count falls, and its own removal may go to a removing thread:
        // after this thread has let go of the directory, and after its outcomes are
        // sent, so the report names a directory after everything in it.
        let Batch { fd, node, ops } = batch;
        drop(fd);
        if results.send(done).is_err() {
            return;
        }
        if let Some(d) = node.done(ops.len()) {
            shared.release(d);
        }
    }
}

/// A thread removing directories whose contents are gone, until the queue closes. A
/// removal that was the last thing in flight in its parent hands the parent's on.
fn remove_dirs(shared: &Shared, results: &Sender<Vec<(u64, Removal)>>, stop: &AtomicUsize) {
    loop {
        let (id, name, parent_fd, parent) = {
            let Ok(mut r) = shared.rmdirs.lock() else { return };
            loop {
                if let Some(d) = r.queue.pop_front() {
                    break d;
                }
                if r.closed {
                    return;
                }
                r = match shared.rmdir_ready.wait(r) {
                    Ok(r) => r,
                    Err(_) => return,
                };
            }
        };
        let r = if stop.load(Ordering::Relaxed) != 0 {
            Removal::Failed(Errno::INTR)
        } else {
            Removal::of(rustix::fs::unlinkat(&*parent_fd, &name, AtFlags::REMOVEDIR))
        };
        drop(parent_fd);
        shared.deferred.fetch_sub(1, Ordering::Relaxed);
        if results.send(vec![(id, r)]).is_err() {
            return;
        }
        if let Some(d) = parent.done(1) {
            shared.release(d);
        }
    }
}
