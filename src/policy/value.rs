//! The text forms of policy values: durations, shares, spans, sizes, dates.
//!
//! Units are exactly those SPEC.md lists, each with a whole number: `7days`, `1.5h` or
//! `1h30m` are errors that say what to write instead, never seven of anything.

use std::time::Duration;

use chrono::NaiveDate;

use super::{MaxDelete, Share};
use crate::clock::Keep;

/// `0s`, `90m`, `2h`, `1d`: a whole number and exactly one of these units.
pub fn duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = split(s);
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("`{s}` is not a duration: write N followed by s, m, h or d (e.g. 0s, 90m, 2h)")),
    };
    let n: u64 = n.parse().map_err(|_| format!("`{s}`: the count must be a whole number"))?;
    // Durations are compared with seconds since the epoch (i64): keep them far inside it.
    n.checked_mul(scale)
        .filter(|secs| *secs <= MAX_SECS)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{s}` is too long: at most {} days", MAX_SECS / 86400))
}

/// The longest duration accepted: 100,000 days, as for `keep`.
const MAX_SECS: u64 = 100_000 * 86400;

/// `1d`, `36h`: a duration in days or hours only.
pub fn days_or_hours(s: &str) -> Result<Duration, String> {
    match split(s).1 {
        "d" | "h" => duration(s),
        _ => Err(format!("`{s}`: write N followed by d or h (e.g. 1d, 26h)")),
    }
}

fn split(s: &str) -> (&str, &str) {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    s.split_at(digits)
}

/// `40%`, `12.5%`: a percentage from 0 to 100.
pub fn share(s: &str) -> Option<Share> {
    let v: f64 = s.trim().strip_suffix('%')?.trim().parse().ok()?;
    (v.is_finite() && (0.0..=100.0).contains(&v)).then_some(Share(v))
}

/// `max_delete`: `5000`, `40%` or a span `2d` / `12h` / `3bd`. `100%` is no limit at all,
/// so it is stored as none.
pub fn max_delete(s: &str) -> Result<Option<MaxDelete>, String> {
    let t = s.trim();
    if t.ends_with('%') {
        let share = share(t).ok_or_else(|| format!("`{s}`: a share is a percentage from 0% to 100%"))?;
        return Ok((share.0 < 100.0).then_some(MaxDelete::Share(share)));
    }
    if t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty() {
        return t.parse::<u64>().map(|n| Some(MaxDelete::Count(n))).map_err(|_| format!("`{s}`: too large"));
    }
    match Keep::parse(t) {
        Ok(span) => Ok(Some(MaxDelete::Span(span))),
        Err(_) => Err(format!(
            "`{s}`: write a number of files (5000), a share (40%) or a span back from the cutoff (2d, 12h, 3bd)"
        )),
    }
}

/// `2024-07-05`.
pub fn date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| format!("`{s}` is not a date: write YYYY-MM-DD"))
}

/// A count: a whole number ≥ 0.
pub fn count(s: &str) -> Result<u32, String> {
    s.trim().parse::<u32>().map_err(|_| format!("`{s}`: write a whole number from 0 to {}", u32::MAX))
}

/// `true` or `false` (YAML 1.2 core schema).
pub fn boolean(s: &str) -> Result<bool, String> {
    match s.trim() {
        "true" | "True" | "TRUE" => Ok(true),
        "false" | "False" | "FALSE" => Ok(false),
        _ => Err(format!("`{s}`: write true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::KeepUnit;

    #[test]
    fn durations() {
        assert_eq!(duration("0s"), Ok(Duration::ZERO));
        assert_eq!(duration("90m"), Ok(Duration::from_secs(5400)));
        for bad in ["7days", "1.5h", "1h30m", "", "h", "-1s"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
        assert!(duration("9223372036854775808s").is_err());
        assert!(duration("100001d").is_err());
        assert_eq!(days_or_hours("26h"), Ok(Duration::from_secs(26 * 3600)));
        assert!(days_or_hours("30m").is_err());
    }

    #[test]
    fn max_delete_forms() {
        assert_eq!(max_delete("40%"), Ok(Some(MaxDelete::Share(Share(40.0)))));
        assert_eq!(max_delete("100%"), Ok(None));
        assert_eq!(max_delete("5000"), Ok(Some(MaxDelete::Count(5000))));
        assert!(matches!(max_delete("2d"), Ok(Some(MaxDelete::Span(k))) if k.unit == KeepUnit::Days));
        assert!(matches!(max_delete("3bd"), Ok(Some(MaxDelete::Span(k))) if k.unit == KeepUnit::BusinessDays));
        for bad in ["101%", "lots", "2days", "0d", "1.5d"] {
            assert!(max_delete(bad).is_err(), "{bad}");
        }
        assert_eq!(MaxDelete::Share(Share(40.0)).limit(1001), Some(400));
    }

    #[test]
    fn other_forms() {
        assert!(date("2024-02-30").is_err());
        assert_eq!(count("3"), Ok(3));
        assert!(count("-1").is_err());
        assert_eq!(boolean("false"), Ok(false));
        assert!(boolean("yes").is_err());
    }
}
