//! Pacing deletions, so a cleanup does not flood a production disk.
//!
//! A token bucket per limit (files per second, bytes per second): each deletion takes a
//! token per file and one per byte of the file, waiting until the bucket holds enough.
//! The bucket holds at most one second's worth, so a burst after a pause is at most one
//! second's work, and a steady run deletes at the rate, smoothly, file by file — not in
//! batches followed by sleeps. Shared by every deleting thread.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use crate::policy::value::Rate;

/// One token bucket.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Takes `n` tokens, returning how long to wait before the deletion may go.
    fn take(&mut self, n: f64) -> Duration {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.rate);
        self.at = now;
        self.tokens -= n;
        if self.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-self.tokens / self.rate) }
    }
}

/// The pacer: no limit, or a bucket per limit.
#[derive(Debug, Default)]
pub struct Pacer {
    files: Option<Mutex<Bucket>>,
    bytes: Option<Mutex<Bucket>>,
}

impl Pacer {
    /// A pacer for these limits (the strictest of each kind applies).
    pub fn new(rates: &[Rate]) -> Pacer {
        let min = |pick: fn(&Rate) -> Option<f64>| {
            rates.iter().filter_map(pick).fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.min(r))))
        };
        // The bucket starts with one file's worth: the first deletion goes at once, and
        // the rate holds from there.
        let bucket = |rate: f64| Mutex::new(Bucket { rate, tokens: rate.min(1.0), at: Instant::now() });
        Pacer {
            files: min(|r| if let Rate::Files(n) = r { Some(*n) } else { None }).map(bucket),
            bytes: min(|r| if let Rate::Bytes(n) = r { Some(*n) } else { None }).map(bucket),
        }
    }

    /// Whether any limit is set.
    pub fn is_limited(&self) -> bool {
        self.files.is_some() || self.bytes.is_some()
    }

    /// Waits until one file of `bytes` may be deleted.
    pub fn wait(&self, bytes: u64) {
        let delay = self.delay(bytes);
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
    }

    /// Takes one file of `bytes` from the buckets: how long to wait before deleting it
    /// (for callers that wait their own way, as async code must).
    pub fn delay(&self, bytes: u64) -> Duration {
        let mut delay = Duration::ZERO;
        if let Some(b) = &self.files
            && let Ok(mut b) = b.lock()
        {
            delay = delay.max(b.take(1.0));
        }
        if let Some(b) = &self.bytes
            && let Ok(mut b) = b.lock()
        {
            delay = delay.max(b.take(bytes as f64));
        }
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paced_run_takes_at_least_n_over_rate() {
        let p = Pacer::new(&[Rate::Files(200.0), Rate::Files(1000.0)]);
        let t = Instant::now();
        for _ in 0..41 {
            p.wait(0);
        }
        // 41 files at 200/s with one in the bucket: at least 40 / 200 s.
        assert!(t.elapsed() >= Duration::from_millis(195), "{:?}", t.elapsed());
    }
}
