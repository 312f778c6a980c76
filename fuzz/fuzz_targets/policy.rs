//! Policy files: arbitrary text through `sweep::policy::load_text` (yaml-rust2 positions
//! and duplicate keys, serde_yaml structure, then validation: layouts, time zones, globs,
//! durations, shares, holidays, `tests:`), then, for text that loads, what `sweep check`
//! does with it (cutoffs, business-day calendars, layout matching of every `tests:` path).
//!
//! Errors are expected; a panic anywhere is a bug. `sweep check` stats the test paths and
//! canonicalizes the roots, read-only, as the real command does; nothing is written.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // `sweep::policy::load` reads files with `read_to_string`: text that is not UTF-8
    // never reaches the parser.
    let Ok(text) = std::str::from_utf8(data) else { return };
    match sweep::policy::load_text(Path::new("fuzz.yaml"), text) {
        Err(errors) => {
            assert!(!errors.is_empty(), "load_text failed without an error");
            for e in &errors {
                let _ = e.to_string();
            }
        }
        Ok(set) => {
            let selected: Vec<&sweep::policy::Policy> = set.policies.iter().collect();
            let report = sweep::check::check(&set, &selected);
            let mut out = Vec::new();
            let _ = sweep::check::print(&mut out, &set, selected.len(), &report);
        }
    }
});
