//! Backing off from a throttling or failing service, as S3's documentation asks of a
//! client that gets `503 SlowDown`: retry with exponentially growing, randomised waits
//! ("full jitter"), and send less at once. Every retry is bounded, in number and in time:
//! a service that keeps refusing ends the run with its message, never a loop.

use std::time::{Duration, Instant};

/// The waits of one request's retries.
#[derive(Debug)]
pub(super) struct Backoff {
    attempt: u32,
    started: Instant,
    rng: u64,
    /// The first wait's ceiling.
    base: Duration,
    /// No wait is longer than this.
    cap: Duration,
    /// Retries at most.
    max_attempts: u32,
    /// No retry starts after this long.
    budget: Duration,
}

impl Backoff {
    /// Listing: up to 8 retries within a minute, waits from 0–200 ms up to 0–10 s.
    pub(super) fn listing() -> Backoff {
        Backoff::new(Duration::from_millis(200), Duration::from_secs(10), 8, Duration::from_secs(60))
    }

    /// A deletion batch the client's own retries gave up on while throttled: up to 3 more
    /// rounds, waits from 0–1 s up to 0–8 s, within two minutes.
    pub(super) fn batch() -> Backoff {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(8), 3, Duration::from_secs(120))
    }

    fn new(base: Duration, cap: Duration, max_attempts: u32, budget: Duration) -> Backoff {
        let mut seed = [0u8; 8];
        let _ = rustix::rand::getrandom(&mut seed, rustix::rand::GetRandomFlags::empty());
        let rng = u64::from_ne_bytes(seed) | 1;
        Backoff { attempt: 0, started: Instant::now(), rng, base, cap, max_attempts, budget }
    }

    /// The next wait, or `None` when the retries are spent.
    pub(super) fn next(&mut self) -> Option<Duration> {
        if self.attempt >= self.max_attempts || self.started.elapsed() >= self.budget {
            return None;
        }
        let ceiling = self.base.saturating_mul(1 << self.attempt.min(16)).min(self.cap);
        self.attempt += 1;
        // xorshift64: enough to spread clients that were throttled together.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let share = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        Some(ceiling.mul_f64(share))
    }

    /// Retries made so far.
    pub(super) fn attempts(&self) -> u32 {
        self.attempt
    }
}

/// Whether an HTTP status asks the client to come back later: throttling (503 SlowDown,
/// 429) or a passing failure of the service (500, 502, 504, 408).
pub(super) fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Whether a service's error message says it is throttling: S3's `SlowDown` (503), or
/// 429 from other stores. `object_store` gives its errors as text, so the code is
/// looked for in it.
pub(super) fn throttled(message: &str) -> bool {
    ["SlowDown", "503", "Service Unavailable", "429", "Too Many Requests", "TooManyRequests"]
        .iter()
        .any(|s| message.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_stay_under_the_cap_and_end() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400), 5, Duration::from_secs(60));
        let waits: Vec<Duration> = std::iter::from_fn(|| b.next()).collect();
        assert_eq!(waits.len(), 5);
        let ceilings = [100, 200, 400, 400, 400];
        for (w, c) in waits.iter().zip(ceilings) {
            assert!(*w <= Duration::from_millis(c), "{w:?} > {c} ms");
        }
        assert_eq!(b.attempts(), 5);
    }

    #[test]
    fn throttling_is_recognised_in_messages() {
        assert!(throttled("Server returned non-2xx status code: 503 Service Unavailable: <Code>SlowDown</Code>"));
        assert!(!throttled("NoSuchBucket: The specified bucket does not exist"));
        assert!(retryable_status(503) && retryable_status(500) && !retryable_status(403));
    }
}
