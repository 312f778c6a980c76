//! Layout templates and path matching.
//!
//! Input: the first line (up to the first `\n`) holds one to four templates separated by
//! TAB; it must be UTF-8, as a policy file is. The rest of the input is a relative path of
//! arbitrary bytes (not necessarily UTF-8), split on `/`. Every template is compiled; the
//! ones that compile form a `Layouts`, which matches the path the way the walk does
//! (`descend` for each directory, `match_file` for the last component) and the way
//! `explain` and `sweep check` do (`trace`). A match is resolved to a date at the layout's
//! precision, labelled, and turned into a period in UTC, America/New_York and
//! Asia/Kolkata.
//!
//! No panic is allowed anywhere. The target also asserts invariants between the two ways
//! of matching: the walk and `trace` agree on the first matching layout and its fields,
//! and a directory that `settled` says is decided yields that decision for the file.

#![no_main]

use chrono_tz::Tz;
use libfuzzer_sys::fuzz_target;
use sweep::clock::DateSpec;
use sweep::layout::{Layouts, Template};

const ZONES: [Tz; 3] = [Tz::UTC, Tz::America__New_York, Tz::Asia__Kolkata];

fuzz_target!(|data: &[u8]| {
    let (head, path) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(head) = std::str::from_utf8(head) else { return };

    let mut templates = Vec::new();
    for source in head.split('\t').take(4) {
        match Template::compile(source) {
            Ok(t) => {
                assert_eq!(t.source(), source);
                templates.push(t);
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    if templates.is_empty() {
        return;
    }
    let Ok(layouts) = Layouts::new(templates) else { return };

    let parts: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    let (file, dirs) = parts.split_last().expect("split yields at least one part");

    // The walk: one directory at a time.
    let mut scratch = layouts.scratch();
    let mut cur = layouts.start();
    let mut settled = None;
    for name in dirs {
        if settled.is_none() {
            settled = layouts.settled(&cur);
        }
        cur = layouts.descend(&cur, name, &mut scratch);
    }
    if settled.is_none() {
        settled = layouts.settled(&cur);
    }
    let walked = layouts.match_file(&cur, file, &mut scratch);

    // `explain` and `sweep check`: the whole path at once, one layout at a time.
    let trace = layouts.trace(&parts);
    for (_, why) in &trace.misses {
        assert!(!why.is_empty());
    }

    assert_eq!(walked, trace.matched, "the walk and trace disagree");
    if let Some(s) = settled {
        assert_eq!(walked, Some(s), "a settled directory decided differently for its file");
    }

    let Some(m) = walked else { return };
    let Some(precision) = layouts.templates()[m.layout].precision() else { return };
    let _ = precision.noun();
    let Ok(spec) = m.captured.resolve(precision) else { return };
    let label = spec.label();
    assert!(!label.is_empty());
    let _ = spec.local_bounds();
    for tz in ZONES {
        if let Ok(p) = sweep::clock::period(&spec, tz) {
            // A local period in these zones always has a length (no zone here skipped a
            // whole day); `%s` is one second, saturating at i64::MAX.
            match spec {
                DateSpec::Local { .. } => assert!(p.start < p.end, "empty or inverted period {p:?} for {label} in {tz}"),
                DateSpec::Epoch(_) => assert!(p.start <= p.end),
            }
        }
    }
});
