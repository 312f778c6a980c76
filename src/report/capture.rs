//! A sink that watches a plan for the decisions of a few paths (`sweep explain`): what
//! the plan's acting walk decided for each, worded as every report words it, and what
//! the whole-policy decisions made of each policy's partitions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;

use super::reason;
use crate::act::events::{FileEvent, Sink};
use crate::act::explain::Observed;
use crate::classify::Override;
use crate::clock::Period;

/// The decisions watched.
#[derive(Debug, Default)]
pub struct Capture {
    want: HashSet<Vec<u8>>,
    /// By path: the owner and its decision.
    pub files: HashMap<Vec<u8>, (String, Observed)>,
    /// By policy: its partitions' whole-policy decisions.
    pub partitions: HashMap<String, BTreeMap<Period, Override>>,
}

impl Capture {
    /// Watches for these paths (absolute, as reports write them).
    pub fn new(paths: impl IntoIterator<Item = Vec<u8>>) -> Capture {
        Capture { want: paths.into_iter().collect(), ..Capture::default() }
    }
}

impl Sink for Capture {
    fn file(&mut self, e: &FileEvent) -> io::Result<()> {
        // A file the walk decided on is reported once, or twice (decided, then its
        // outcome): the first says what the plan decided.
        if self.want.contains(e.path) && !self.files.contains_key(e.path) {
            let observed = Observed {
                action: e.verdict.action,
                reason: reason::text(e.verdict, e.facts),
                date: e.verdict.date.as_deref().map(str::to_string),
                partition: e.verdict.partition,
            };
            self.files.insert(e.path.to_vec(), (e.policy.to_string(), observed));
        }
        Ok(())
    }

    fn decided(&mut self, policy: &str, partitions: &BTreeMap<Period, Override>) {
        self.partitions.insert(policy.to_string(), partitions.clone());
    }
}
