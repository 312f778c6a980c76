//! The deletion thread. `unlinkat` dominates an `apply` (three quarters of its time is
//! in the kernel's unlink path), while the walk's own work (`getdents64`, `fstatat`,
//! classification, output) is the rest: running the unlinks on a second thread overlaps
//! the two on the machines sweep runs on (two cores or more).
//!
//! Order is what keeps this simple and safe: one thread executes the operations strictly
//! in the order the walk queued them, so a directory's `rmdir` always comes after the
//! unlinks of its entries and of its sub-directories, and results come back in the same
//! order. Every operation is relative to a directory descriptor the walk opened (shared
//! through an `Arc`), never a path. The queue is bounded, so memory stays flat and a stop
//! (a signal) leaves at most a few batches to finish.

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, channel, sync_channel};
use std::thread::JoinHandle;

use rustix::fs::AtFlags;
use rustix::io::Errno;

use super::{Budget, remove_checked};
use crate::tree::{Check, Removal};

/// Operations per batch sent to the thread.
const BATCH: usize = 256;

/// One removal, relative to an open directory.
pub(super) enum Op {
    /// `unlinkat(dir, name, 0)`, if the check holds.
    Unlink(Arc<OwnedFd>, CString, Check),
    /// `unlinkat(dir, name, AT_REMOVEDIR)`.
    Rmdir(Arc<OwnedFd>, CString),
}

impl Op {
    fn dir(&self) -> &Arc<OwnedFd> {
        match self {
            Op::Unlink(d, ..) | Op::Rmdir(d, _) => d,
        }
    }

    fn run(self) -> Removal {
        match self {
            Op::Unlink(dir, name, check) => remove_checked(&dir, &name, check),
            Op::Rmdir(dir, name) => Removal::of(rustix::fs::unlinkat(&*dir, &name, AtFlags::REMOVEDIR)),
        }
    }
}

/// The queue to the deletion thread and the results coming back.
pub(super) struct Remover {
    batch: Vec<Op>,
    /// Distinct directories referenced by `batch`.
    dirs: usize,
    /// Operations sent whose results have not come back.
    outstanding: usize,
    budget: Budget,
    tx: Option<SyncSender<Vec<Op>>>,
    rx: Receiver<Vec<Removal>>,
    thread: Option<JoinHandle<()>>,
}

impl Remover {
    /// Starts the thread.
    pub(super) fn start(budget: Budget) -> Result<Remover, Errno> {
        let (tx, ops) = sync_channel::<Vec<Op>>(budget.depth);
        let (results, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("sweep-remover".into())
            .spawn(move || {
                for batch in ops {
                    let done: Vec<Removal> = batch.into_iter().map(Op::run).collect();
                    if results.send(done).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| e.raw_os_error().map_or(Errno::AGAIN, Errno::from_raw_os_error))?;
        Ok(Remover {
            batch: Vec::with_capacity(BATCH),
            dirs: 0,
            outstanding: 0,
            budget,
            tx: Some(tx),
            rx,
            thread: Some(thread),
        })
    }

    /// Queues an operation; true when the batch is full and should be sent.
    pub(super) fn push(&mut self, op: Op) -> bool {
        let same_dir = self.batch.last().is_some_and(|last| Arc::ptr_eq(last.dir(), op.dir()));
        if !same_dir {
            self.dirs += 1;
        }
        self.batch.push(op);
        self.batch.len() >= BATCH || self.dirs >= self.budget.fds_per_batch
    }

    /// Sends the current batch (waiting while the queue is full).
    pub(super) fn send(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.dirs = 0;
        self.outstanding += batch.len();
        if let Some(tx) = &self.tx {
            // The thread only stops when the queue closes, so this cannot fail.
            let _ = tx.send(batch);
        }
    }

    /// Results that are ready, in queue order, without waiting.
    pub(super) fn ready(&mut self) -> Vec<Removal> {
        let mut out = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(mut r) => {
                    self.outstanding -= r.len();
                    out.append(&mut r);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return out,
            }
        }
    }

    /// Sends what is queued and waits for every result so far, in order.
    pub(super) fn drain(&mut self) -> Vec<Removal> {
        self.send();
        let mut out = Vec::new();
        while self.outstanding > 0 {
            match self.rx.recv() {
                Ok(mut r) => {
                    self.outstanding -= r.len();
                    out.append(&mut r);
                }
                Err(_) => break,
            }
        }
        out
    }

    /// Sends what is left, closes the queue, and returns every remaining result in order.
    pub(super) fn finish(&mut self) -> Vec<Removal> {
        let out = self.drain();
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        out
    }
}
