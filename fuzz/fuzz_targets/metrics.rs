//! The metrics reader: whatever an earlier run (or anyone who can write the textfile
//! directory) left in the metrics file, reading it back must not panic, hang or grow
//! without bound, and only finite positive times may come out of it.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let p = sweep::report::metrics::parse_previous(&text);
    for v in [p.success, p.start].into_iter().flatten() {
        assert!(v.is_finite() && v > 0.0, "{v}");
    }
});
