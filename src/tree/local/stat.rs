//! `fstatat` on several threads. A walk of a dated tree spends four fifths of its time
//! in the kernel, most of it looking names up to stat them (one `fstatat` per file), and
//! a single thread can only do that one file at a time. So the walk lists a batch of a
//! directory's entries, keeps the first share of the `fstatat`s for itself and hands
//! the rest to helper threads, one contiguous share each; it visits its own share while
//! the helpers stat theirs, then takes their results in order. Nothing changes but
//! who calls `fstatat`: every call is relative to the directory descriptor the walk
//! opened and checked, the visitor still sees the entries in listing order on the
//! walk's own thread, and at most one batch per helper is in flight, so memory stays
//! flat.
//!
//! Used for walks that only look (`plan`, the counting pass of `apply`): while
//! deleting, the cores belong to the deleting threads.

use std::ffi::CStr;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::Scope;
use std::time::{Duration, Instant};

use rustix::fs::{AtFlags, Stat};
use rustix::io::Errno;

/// The outcome of one `fstatat`.
pub(super) type Statted = Result<Stat, Errno>;

/// A share of a batch: names (each NUL-terminated, packed), their directory, and the
/// results, in the same order. It travels to a helper and back, and is reused.
#[derive(Default)]
struct Share {
    fd: Option<Arc<OwnedFd>>,
    names: Vec<u8>,
    stats: Vec<Statted>,
}

impl Share {
    fn run(&mut self) {
        self.stats.clear();
        let Some(fd) = self.fd.take() else { return };
        let mut rest = &self.names[..];
        while let Ok(name) = CStr::from_bytes_until_nul(rest) {
            self.stats.push(rustix::fs::statat(&*fd, name, AtFlags::SYMLINK_NOFOLLOW));
            rest = &rest[name.to_bytes_with_nul().len()..];
        }
    }
}

/// A helper: where its shares go, and where they come back.
struct Helper {
    to: Sender<Share>,
    from: Receiver<Share>,
    /// A share to fill next time (the last one back).
    spare: Option<Share>,
}

/// The helper threads of one walk (none for a walk on one thread).
#[derive(Default)]
pub(super) struct Stats {
    helpers: Vec<Helper>,
}

/// How long a helper polls for its next share before it sleeps, and the walk for a
/// helper's results. Waking a sleeping thread costs tens of microseconds on a virtual
/// machine — as much as the `fstatat`s of a small directory — and in a tree of small
/// directories the next share comes sooner than that.
const IDLE_SPIN: Duration = Duration::from_micros(200);
const WAIT_SPIN: Duration = Duration::from_millis(2);

/// The next message, polled for up to `spin`, then waited for.
fn receive<T>(from: &Receiver<T>, spin: Duration) -> Option<T> {
    let start = Instant::now();
    let mut polls = 0u32;
    loop {
        match from.try_recv() {
            Ok(t) => return Some(t),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        polls += 1;
        if polls.is_multiple_of(64) && start.elapsed() > spin {
            return from.recv().ok();
        }
        std::hint::spin_loop();
    }
}

/// Below this many `fstatat`s a batch is not worth splitting: waking a helper costs
/// about as much as a few lookups.
const MIN_SPLIT: usize = 16;

impl Stats {
    /// Starts `helpers` threads in `scope` (fewer if the system refuses threads: the
    /// walk then does more itself).
    pub(super) fn start<'scope>(scope: &'scope Scope<'scope, '_>, helpers: usize) -> Stats {
        let mut started = Vec::new();
        for _ in 0..helpers {
            let (to, jobs) = channel::<Share>();
            let (done, from) = channel::<Share>();
            let spawned = std::thread::Builder::new().name("sweep-stat".into()).spawn_scoped(scope, move || {
                while let Some(mut share) = receive(&jobs, IDLE_SPIN) {
                    share.run();
                    if done.send(share).is_err() {
                        return;
                    }
                }
            });
            if spawned.is_err() {
                break;
            }
            started.push(Helper { to, from, spare: None });
        }
        Stats { helpers: started }
    }

    /// Stats `names` relative to `fd` and calls `each` with every result, in order, on
    /// this thread: first those of its own share (as it goes, while the helpers work),
    /// then those of each helper's share in turn.
    pub(super) fn stat(&mut self, fd: &Arc<OwnedFd>, names: &[&CStr], mut each: impl FnMut(usize, Statted)) {
        let n = names.len();
        let helpers = if n < MIN_SPLIT { 0 } else { self.helpers.len().min(n / (MIN_SPLIT / 2)) };
        // The walking thread also visits every entry (a lookup costs about 3.5 times a
        // visit), so it takes a smaller share: with one helper, 44 %.
        let own = if helpers == 0 { n } else { n * 7 / (9 * helpers + 7) };
        let per = if helpers == 0 { 0 } else { (n - own).div_ceil(helpers) };
        // Helper `i`'s share: contiguous, after the walk's own, the last one shorter.
        let bounds = |i: usize| ((own + i * per).min(n), (own + (i + 1) * per).min(n));
        let mut sent = 0;
        for (i, h) in self.helpers.iter_mut().take(helpers).enumerate() {
            let (from, to) = bounds(i);
            let mut share = h.spare.take().unwrap_or_default();
            share.fd = Some(Arc::clone(fd));
            share.names.clear();
            for name in &names[from..to] {
                share.names.extend_from_slice(name.to_bytes_with_nul());
            }
            if h.to.send(share).is_err() {
                break;
            }
            sent += 1;
        }
        let split = if sent == helpers { own } else { n };
        if split == n {
            // A helper is gone: wait for those sent (ignoring their results), do it all here.
            for h in self.helpers.iter_mut().take(sent) {
                h.spare = h.from.recv().ok();
            }
        }
        for (i, name) in names[..split].iter().enumerate() {
            each(i, rustix::fs::statat(&**fd, *name, AtFlags::SYMLINK_NOFOLLOW));
        }
        if split == n {
            return;
        }
        let mut at = split;
        for (k, h) in self.helpers.iter_mut().take(sent).enumerate() {
            let (from, to) = bounds(k);
            let expected = to - from;
            match receive(&h.from, WAIT_SPIN) {
                Some(mut share) if share.stats.len() == expected => {
                    for r in share.stats.drain(..) {
                        each(at, r);
                        at += 1;
                    }
                    h.spare = Some(share);
                }
                // A helper died (it cannot panic, but be sure): do its share here.
                _ => {
                    for name in &names[at..at + expected] {
                        each(at, rustix::fs::statat(&**fd, *name, AtFlags::SYMLINK_NOFOLLOW));
                        at += 1;
                    }
                }
            }
        }
    }
}
