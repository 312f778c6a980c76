//! The live states of a cursor while it is built, each once.

use std::collections::HashSet;

use super::State;

/// A cursor being built: states in the order they are found, each once. A linear
/// search is cheapest for the few states real layouts have; past [`Self::SMALL`] a set
/// keeps adding a state constant-time.
pub(super) struct Building {
    pub(super) states: Vec<State>,
    seen: Option<HashSet<State>>,
}

impl Building {
    const SMALL: usize = 16;

    pub(super) fn new(capacity: usize) -> Building {
        Building { states: Vec::with_capacity(capacity), seen: None }
    }

    pub(super) fn push(&mut self, s: State) {
        let new = match &mut self.seen {
            Some(seen) => seen.insert(s),
            None if self.states.len() < Self::SMALL => !self.states.contains(&s),
            None => {
                let mut seen: HashSet<State> = self.states.iter().copied().collect();
                let new = seen.insert(s);
                self.seen = Some(seen);
                new
            }
        };
        if new {
            self.states.push(s);
        }
    }
}
