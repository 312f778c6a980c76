//! `max_delete: auto`: a circuit breaker that needs no number a person picks.
//!
//! A run that deletes fifty times what every other night deleted is the signature of a
//! retention typo (`keep: 3d` for `30d`), a clock jump or an upstream rename; a fixed
//! `max_delete` catches it only if someone chose the number well, and keeps choosing it
//! as the data grows. `auto` compares the run with the policy's own past instead: the
//! files and bytes of its last [`KEPT`] applies that deleted something (a refused or
//! empty night teaches nothing). More than `factor` times the median of either refuses
//! the policy. With fewer than [`NEEDED`] applies known, or a history that cannot be
//! trusted, there is no median worth the name, and `auto` acts as the span `2d`.
//!
//! This module only weighs numbers; the state directory (`state.rs`) reads and writes
//! the history.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use super::{Finding, Planned, Refusal};
use crate::clock::{Keep, KeepUnit};
use crate::policy::Factor;

/// Applies remembered per policy: two weeks of nightly runs.
pub const KEPT: usize = 14;

/// Applies needed before their median is trusted.
pub const NEEDED: usize = 3;

/// The span `auto` acts as without a trusted median: `2d`, what a steady `keep: 1d`
/// night needs (yesterday, and the day before it when a night was missed).
pub fn span() -> Keep {
    Keep { count: NonZeroU32::MIN.saturating_add(1), unit: KeepUnit::Days }
}

/// A root as the history keys it: as written, without trailing slashes.
pub fn root_key(root: &std::path::Path) -> String {
    let text = root.to_string_lossy();
    let trimmed = text.trim_end_matches('/');
    if trimmed.is_empty() { "/".to_string() } else { trimmed.to_string() }
}

/// One apply that deleted something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Past {
    /// The instant the run evaluated at (`--now`, or the clock), seconds.
    pub at: i64,
    /// Files it deleted.
    pub files: u64,
    /// Their bytes (sum of sizes).
    pub bytes: u64,
}

/// A policy, as the history knows it: its name and its root as written (a policy renamed
/// or moved to another root starts a new history).
pub type PolicyKey = (String, String);

/// What the state directory says of the policies' past applies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    policies: BTreeMap<PolicyKey, Vec<Past>>,
    /// Why the state cannot be trusted, when it cannot: every `auto` then acts as `2d`.
    untrusted: Option<String>,
}

impl History {
    /// A history that cannot be trusted, and why (a corrupt file, one another user owns).
    pub fn untrusted(why: String) -> History {
        History { policies: BTreeMap::new(), untrusted: Some(why) }
    }

    /// Why it cannot be trusted, when it cannot.
    pub fn why_untrusted(&self) -> Option<&str> {
        self.untrusted.as_deref()
    }

    /// The applies known of a policy, oldest first; or why none can be believed.
    pub fn of(&self, name: &str, root: &str) -> Result<&[Past], &str> {
        if let Some(why) = &self.untrusted {
            return Err(why);
        }
        let key = (name.to_string(), root.to_string());
        Ok(self.policies.get(&key).map_or(&[][..], Vec::as_slice))
    }

    /// Notes an apply of a policy that deleted something; only the last [`KEPT`] stay.
    pub fn record(&mut self, name: &str, root: &str, past: Past) {
        let runs = self.policies.entry((name.to_string(), root.to_string())).or_default();
        runs.push(past);
        if runs.len() > KEPT {
            runs.drain(..runs.len() - KEPT);
        }
    }

    /// Every policy's applies.
    pub fn policies(&self) -> impl Iterator<Item = (&PolicyKey, &[Past])> {
        self.policies.iter().map(|(k, v)| (k, v.as_slice()))
    }

    /// Keeps the `n` policies recorded most recently (by their newest apply), so that a
    /// state directory shared by policies that come and go stays bounded.
    pub fn keep_newest(&mut self, n: usize) {
        if self.policies.len() <= n {
            return;
        }
        let mut newest: Vec<(i64, PolicyKey)> =
            self.policies.iter().map(|(k, v)| (v.iter().map(|p| p.at).max().unwrap_or(i64::MIN), k.clone())).collect();
        newest.sort_by_key(|n| std::cmp::Reverse(n.0));
        for (_, k) in newest.into_iter().skip(n) {
            self.policies.remove(&k);
        }
    }
}

/// Why `auto` acts as the span `2d` this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Only this many applies that deleted something are known (fewer than [`NEEDED`]).
    Few(usize),
    /// The history cannot be trusted: why.
    Untrusted(String),
}

/// What the history says of a policy, and what `auto` allows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Learned {
    /// Applies the medians are taken over.
    pub runs: usize,
    /// Median files deleted.
    pub median_files: u64,
    /// Median bytes deleted.
    pub median_bytes: u64,
    /// The most files one of them deleted.
    pub max_files: u64,
    /// The most bytes one of them deleted.
    pub max_bytes: u64,
    /// The factor.
    pub factor: Factor,
}

impl Learned {
    /// The most files a run may delete.
    pub fn allowed_files(&self) -> u64 {
        self.median_files.saturating_mul(u64::from(self.factor.get()))
    }

    /// The most bytes a run may delete; none when the applies deleted only empty files
    /// (a ratio of nothing says nothing: the count still holds).
    pub fn allowed_bytes(&self) -> Option<u64> {
        (self.median_bytes > 0).then(|| self.median_bytes.saturating_mul(u64::from(self.factor.get())))
    }

    /// Whether `files` and `bytes` stay within what it allows.
    pub fn allows(&self, files: u64, bytes: u64) -> bool {
        files <= self.allowed_files() && self.allowed_bytes().is_none_or(|b| bytes <= b)
    }
}

/// What `auto` goes by for one policy this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basis {
    /// Enough applies are known.
    Learned(Learned),
    /// It acts as the span `2d`, and why.
    Span(Why),
}

/// What `auto` with `factor` goes by, given what the history says of the policy.
pub fn assess(factor: Factor, past: Result<&[Past], &str>) -> Basis {
    let past = match past {
        Ok(p) => p,
        Err(why) => return Basis::Span(Why::Untrusted(why.to_string())),
    };
    // The newest KEPT, whatever a hand-edited file holds.
    let past = &past[past.len().saturating_sub(KEPT)..];
    if past.len() < NEEDED {
        return Basis::Span(Why::Few(past.len()));
    }
    let files: Vec<u64> = past.iter().map(|p| p.files).collect();
    let bytes: Vec<u64> = past.iter().map(|p| p.bytes).collect();
    Basis::Learned(Learned {
        runs: past.len(),
        median_files: median(&files),
        median_bytes: median(&bytes),
        max_files: files.iter().copied().max().unwrap_or(0),
        max_bytes: bytes.iter().copied().max().unwrap_or(0),
        factor,
    })
}

/// The median: the middle value, or the mean of the two middle ones (rounded down).
pub fn median(values: &[u64]) -> u64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => 0,
        _ if n % 2 == 1 => v[n / 2],
        _ => ((u128::from(v[n / 2 - 1]) + u128::from(v[n / 2])) / 2) as u64,
    }
}

/// The breaker for a basis that learned: refuses a plan that deletes more files or bytes
/// than it allows. (A basis that acts as a span is judged as the span, by
/// [`super::max_delete`], and its refusal worded by [`as_span`].)
pub fn refuse(learned: &Learned, plan: &Planned) -> Option<Refusal> {
    (!learned.allows(plan.delete, plan.bytes)).then(|| Refusal {
        finding: Finding::Auto { delete: plan.delete, bytes: plan.bytes, learned: *learned },
        would_delete: plan.delete,
        limit: Some(learned.allowed_files()),
    })
}

/// A span refusal, as `auto` acting as the span for `why`.
pub fn as_span(r: Refusal, why: &Why) -> Refusal {
    match r.finding {
        Finding::Span { first, start, .. } => {
            Refusal { finding: Finding::AutoSpan { first, start, why: why.clone() }, ..r }
        }
        _ => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(files: &[u64]) -> Vec<Past> {
        files.iter().enumerate().map(|(i, f)| Past { at: i as i64, files: *f, bytes: f * 100 }).collect()
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[]), 0);
        assert_eq!(median(&[5]), 5);
        assert_eq!(median(&[9, 1, 5]), 5);
        assert_eq!(median(&[1, 2, 3, 10]), 2);
        assert_eq!(median(&[u64::MAX, u64::MAX]), u64::MAX, "no overflow");
    }

    #[test]
    fn too_few_applies_act_as_a_span_and_enough_learn() {
        let three = Factor::DEFAULT;
        assert_eq!(assess(three, Ok(&runs(&[10, 20]))), Basis::Span(Why::Few(2)));
        assert_eq!(assess(three, Err("corrupt")), Basis::Span(Why::Untrusted("corrupt".into())));
        let Basis::Learned(l) = assess(three, Ok(&runs(&[200, 240, 212, 190]))) else { panic!() };
        assert_eq!((l.runs, l.median_files, l.max_files, l.allowed_files()), (4, 206, 240, 618));
        assert_eq!(l.allowed_bytes(), Some(61_800));
        assert!(l.allows(618, 61_800));
        assert!(!l.allows(619, 0), "files alone");
        assert!(!l.allows(1, 61_801), "bytes alone");
    }

    #[test]
    fn only_the_newest_fourteen_count_and_empty_files_make_no_byte_ratio() {
        let mut h = History::default();
        for i in 0..20 {
            h.record("p", "/r", Past { at: i, files: if i < 6 { 1_000 } else { 10 }, bytes: 0 });
        }
        let known = h.of("p", "/r").unwrap();
        assert_eq!(known.len(), KEPT);
        assert_eq!(known[0].at, 6);
        let Basis::Learned(l) = assess(Factor::new(5).unwrap(), Ok(known)) else { panic!() };
        assert_eq!((l.median_files, l.allowed_files(), l.allowed_bytes()), (10, 50, None));
        assert!(h.of("other", "/r").unwrap().is_empty());
    }

    #[test]
    fn the_policies_recorded_last_are_kept() {
        let mut h = History::default();
        for (name, at) in [("a", 5), ("b", 9), ("c", 1)] {
            h.record(name, "/r", Past { at, files: 1, bytes: 1 });
        }
        h.keep_newest(2);
        let names: Vec<&str> = h.policies().map(|(k, _)| k.0.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
    }
}
