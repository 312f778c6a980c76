//! Foresight: can the retention a policy asks for fit on its filesystem at all?
//!
//! The incident's disk filled for two weeks before anything alarmed, yet the numbers
//! were there on the first night: the bytes of every dated partition. At 40 GiB a day,
//! `keep: 7d` needs 280 GiB; if the filesystem has 250 GiB below its alarm line, no
//! amount of correct cleaning will save it. A forecast says so before the disk fills.
//!
//! The arithmetic, per policy on a local root:
//!
//! - `bytes_per_period`: the median bytes on disk (`st_blocks × 512`, as `du` counts) of
//!   the newest [`SAMPLED`] *complete* partitions — those whose period has ended by now.
//!   The partition being written is not one: half a day says nothing of a day. A
//!   partition's bytes are those of every file dated in it, whatever its bucket.
//! - the partitions `keep` holds: its window (N days or hours; a business day counts as a
//!   day) divided by the spacing of the partitions, rounded up (at least 1). The spacing
//!   is the median distance between the starts of the sampled partitions (so a daily
//!   dump named by `%s` counts as daily, and weekday-only data as daily); from a single
//!   partition, its own length, if it is an hour or more.
//! - `footprint` = `bytes_per_period` × those partitions: what the policy will hold in a
//!   steady state.
//! - `room`: the filesystem's size as `disk_fail_above` measures it (used plus available
//!   to users, as `df`'s Use%) times `disk_fail_above` (all of it when unset), minus what
//!   others hold — the bytes used before the run that no policy's dated files account
//!   for — minus the footprints of the run's other policies on the same filesystem (or
//!   what they hold now, for one without a forecast).
//! - `fit` = `footprint` ÷ `room`; above 1, the retention cannot fit even in a steady
//!   state. With no room left at all, `room` is 0 and `fit` is the footprint over one
//!   byte: a number far above 1, not an infinity JSON cannot carry.
//!
//! No complete partition (or only a lone one shorter than an hour): no forecast.

use std::collections::BTreeMap;

use crate::clock::{Keep, KeepUnit, Period};
use crate::policy::Share;

/// Complete partitions sampled per policy: a week of daily ones.
pub const SAMPLED: usize = 7;

/// The newest complete partitions seen by a walk, and their bytes, in memory bounded by
/// [`SAMPLED`] whatever the size of the tree.
#[derive(Debug, Clone)]
pub struct Recent {
    now: i64,
    parts: BTreeMap<Period, u64>,
}

impl Recent {
    /// Partitions complete at `now` (seconds) count.
    pub fn new(now: i64) -> Recent {
        Recent { now, parts: BTreeMap::new() }
    }

    /// Notes a file of `bytes` (on disk) dated in `p`.
    pub fn observe(&mut self, p: Period, bytes: u64) {
        if p.end > self.now {
            return;
        }
        if let Some(b) = self.parts.get_mut(&p) {
            *b += bytes;
            return;
        }
        // A period older than all of a full sample is not among the newest; once one is
        // dropped, every later file of it is older than the sample too, so the periods
        // kept have all their files counted.
        if self.parts.len() == SAMPLED {
            match self.parts.first_key_value() {
                Some((oldest, _)) if *oldest < p => {
                    self.parts.pop_first();
                }
                _ => return,
            }
        }
        self.parts.insert(p, bytes);
    }

    /// The rate the sample shows, when it shows one.
    pub fn rate(&self) -> Option<Rate> {
        let bytes: Vec<u64> = self.parts.values().copied().collect();
        let starts: Vec<i64> = self.parts.keys().map(|p| p.start).collect();
        let spacing = match starts.len() {
            0 => return None,
            1 => self.parts.keys().next().map(|p| p.end - p.start).filter(|l| *l >= 3600)?,
            _ => {
                let mut gaps: Vec<i64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
                gaps.sort_unstable();
                let n = gaps.len();
                let m = if n % 2 == 1 { gaps[n / 2] } else { (gaps[n / 2 - 1] + gaps[n / 2]) / 2 };
                m.max(1)
            }
        };
        Some(Rate { bytes: super::auto::median(&bytes), spacing, sampled: bytes.len() })
    }
}

/// What a sample of complete partitions shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Median bytes of a partition.
    pub bytes: u64,
    /// Seconds between partitions.
    pub spacing: i64,
    /// Partitions sampled.
    pub sampled: usize,
}

/// The partitions `keep` holds in a steady state when one arrives every `spacing`
/// seconds: its window over the spacing, rounded up, at least 1.
pub fn kept(keep: Keep, spacing: i64) -> u64 {
    let unit: u64 = match keep.unit {
        KeepUnit::Hours => 3600,
        KeepUnit::Days | KeepUnit::BusinessDays => 86_400,
    };
    let window = u64::from(keep.count.get()) * unit;
    let spacing = u64::try_from(spacing.max(1)).unwrap_or(1);
    window.div_ceil(spacing).max(1)
}

/// One policy's outlook, before its filesystem's room is shared among the policies on it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outlook {
    /// The filesystem (device).
    pub dev: u64,
    /// The rate and the partitions `keep` holds at it, when there is a rate.
    pub need: Option<(Rate, u64)>,
    /// Bytes on disk of the policy's dated files, before the run (a file moved to
    /// another root on the same filesystem is that root's).
    pub held: u64,
    /// The alarm line in bytes: the filesystem's size times `disk_fail_above` (or all).
    pub line: u64,
    /// The policy's `keep`, for the words.
    pub keep: Keep,
    /// Its `disk_fail_above`, for the words.
    pub threshold: Option<Share>,
}

impl Outlook {
    /// What the policy will hold in a steady state.
    pub fn footprint(&self) -> Option<u64> {
        self.need.map(|(r, n)| r.bytes.saturating_mul(n))
    }

    /// What it takes of the filesystem's room: its footprint, or what it holds now.
    fn share(&self) -> u64 {
        self.footprint().unwrap_or(self.held)
    }
}

/// A policy's forecast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// Median bytes of its newest complete partitions.
    pub bytes_per_period: u64,
    /// Seconds between partitions.
    pub spacing: i64,
    /// Partitions `keep` holds.
    pub partitions: u64,
    /// What it will hold in a steady state.
    pub footprint: u64,
    /// What the filesystem has for it below the alarm line.
    pub room: u64,
    /// `footprint` ÷ `room`: above 1, the retention cannot fit.
    pub fit: f64,
    /// The policy's `keep`.
    pub keep: Keep,
    /// Its `disk_fail_above` (the line the room is measured below; all when unset).
    pub threshold: Option<Share>,
}

/// The forecasts of a run's policies (`None` for one without an outlook or a rate).
/// `used` gives the bytes used on a filesystem before the run.
pub fn settle(outlooks: &[Option<Outlook>], used: impl Fn(u64) -> Option<u64>) -> Vec<Option<Forecast>> {
    outlooks
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let o = o.as_ref()?;
            let (rate, partitions) = o.need?;
            let footprint = o.footprint()?;
            let same = || {
                outlooks
                    .iter()
                    .enumerate()
                    .filter_map(|(j, x)| x.as_ref().map(|x| (j, x)))
                    .filter(|(_, x)| x.dev == o.dev)
            };
            let held: u64 = same().map(|(_, x)| x.held).sum();
            let others = used(o.dev).unwrap_or(held).saturating_sub(held);
            let policies: u64 = same().filter(|(j, _)| *j != i).map(|(_, x)| x.share()).sum();
            let room = o.line.saturating_sub(others).saturating_sub(policies);
            Some(Forecast {
                bytes_per_period: rate.bytes,
                spacing: rate.spacing,
                partitions,
                footprint,
                room,
                fit: footprint as f64 / room.max(1) as f64,
                keep: o.keep,
                threshold: o.threshold,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn day(n: i64) -> Period {
        Period { start: n * DAY, end: (n + 1) * DAY }
    }

    #[test]
    fn the_newest_complete_partitions_give_the_median() {
        let mut r = Recent::new(20 * DAY + 3600);
        // Day 20 is being written: not complete. Days 3..=19: the newest 7 are 13..=19.
        for d in 3..=20 {
            r.observe(day(d), 100 * d as u64);
            r.observe(day(d), 1);
        }
        let rate = r.rate().unwrap();
        assert_eq!(rate, Rate { bytes: 1601, spacing: DAY, sampled: 7 });
        assert_eq!(kept(Keep::parse("7d").unwrap(), rate.spacing), 7);
        assert_eq!(kept(Keep::parse("36h").unwrap(), rate.spacing), 2);
        assert_eq!(kept(Keep::parse("5bd").unwrap(), rate.spacing), 5);
        assert_eq!(kept(Keep::parse("7d").unwrap(), 3600), 168);
        assert!(Recent::new(0).rate().is_none());
    }

    #[test]
    fn sparse_partitions_are_spaced_by_their_starts_and_a_lone_instant_says_nothing() {
        let mut r = Recent::new(10 * DAY);
        for d in 1..=4 {
            r.observe(Period { start: d * DAY + 5, end: d * DAY + 6 }, 10);
        }
        assert_eq!(r.rate().unwrap().spacing, DAY);
        let mut lone = Recent::new(10 * DAY);
        lone.observe(Period { start: DAY, end: DAY + 1 }, 10);
        assert!(lone.rate().is_none());
    }

    #[test]
    fn policies_on_one_filesystem_share_its_room() {
        let rate = |bytes| Some((Rate { bytes, spacing: DAY, sampled: 7 }, 7));
        let o = |dev, need, held, line| Outlook {
            dev,
            need,
            held,
            line,
            keep: Keep::parse("7d").unwrap(),
            threshold: None,
        };
        // Line 1,000; used 600, of which the policies' dated files are 300 + 100.
        let a = o(1, rate(40), 300, 1_000);
        let b = o(1, None, 100, 900);
        let c = o(2, rate(10), 0, 50);
        let f = settle(&[Some(a), Some(b), None, Some(c)], |dev| (dev == 1).then_some(600));
        let fa = f[0].unwrap();
        // Others hold 200; b holds 100 (no forecast): room 1,000 − 200 − 100 = 700.
        assert_eq!((fa.footprint, fa.room), (280, 700));
        assert!((fa.fit - 0.4).abs() < 1e-9);
        assert!(f[1].is_none() && f[2].is_none());
        // Alone on its filesystem, with nothing used: room is its line.
        assert_eq!((f[3].unwrap().footprint, f[3].unwrap().room), (70, 50));
        // No room at all: a finite fit far above 1.
        let full = settle(&[Some(o(1, rate(1), 0, 10))], |_| Some(50));
        assert_eq!(full[0].unwrap().room, 0);
        assert_eq!(full[0].unwrap().fit, 7.0);
    }
}
