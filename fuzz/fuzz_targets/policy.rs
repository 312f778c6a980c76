//! Policy files: arbitrary bytes through `sweep::policy::load_text` (the YAML reader with
//! its limits, every key's validation, defaults, `tests:`), then, for text that loads,
//! what `sweep check` does with it: each test path decided by its owner over all loaded
//! policies (cutoffs, business-day calendars, layout matching, ownership notes).
//!
//! Problems are expected; a panic anywhere is a bug. Deciding a test path stats it,
//! read-only, as the real command does; nothing is written.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sweep::act::explain;

fuzz_target!(|data: &[u8]| {
    let (set, problems) = sweep::policy::load_text(Path::new("fuzz.yaml"), data);
    for p in &problems {
        let _ = p.to_string();
    }
    let _ = set.notes();
    if !problems.is_empty() {
        return;
    }
    let selected = vec![true; set.policies.len()];
    for t in &set.tests {
        let case = explain::Case::new(t.expect.iter().map(|e| e.path.clone()).collect());
        for e in &t.expect {
            if let Some(d) = explain::decide(&set, &selected, &e.path, &t.now, explain::Tree::Paths(&case)) {
                let _ = d.action();
                if let Some(v) = &d.verdict {
                    let _ = sweep::report::reason::text(v, &d.facts);
                }
            }
        }
    }
});
