//! The text forms of policy values: durations, shares, spans, sizes, dates.
//!
//! Units are exactly those the guide lists (docs/guide.md), each with a whole number: `7days`, `1.5h` or
//! `1h30m` are errors that say what to write instead, never seven of anything.

use std::time::Duration;

use chrono::NaiveDate;

use super::{Factor, MaxDelete, Share};
use crate::clock::Keep;

/// A parser of a value with a unit, whose errors are `bad_unit` problems.
pub(super) fn unit<T>(
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> impl FnOnce(&str) -> Result<T, super::context::Invalid> {
    move |s| parse(s).map_err(|e| super::context::Invalid(super::Code::BadUnit, e))
}

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

/// `max_delete`: `5000`, `40%`, a span `2d` / `12h` / `3bd`, or `auto` / `auto(5x)`.
/// `100%` is no limit at all, so it is stored as none.
pub fn max_delete(s: &str) -> Result<Option<MaxDelete>, String> {
    let t = s.trim();
    if let Some(rest) = t.strip_prefix("auto") {
        let factor = match rest.strip_prefix('(').and_then(|r| r.strip_suffix("x)")) {
            None if rest.is_empty() => Some(Factor::DEFAULT),
            Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok().and_then(Factor::new),
            _ => {
                return Err(format!("`{s}`: write auto, or auto(Nx) with a whole number N (e.g. auto(5x))"));
            }
        };
        return factor.map(|factor| Some(MaxDelete::Auto { factor })).ok_or_else(|| {
            format!(
                "`{s}`: the factor of auto is a whole number from {} to {} (e.g. auto(5x))",
                Factor::MIN,
                Factor::MAX
            )
        });
    }
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
            "`{s}`: write a number of files (5000), a share (40%), a span back from the cutoff (2d, 12h, 3bd) or auto"
        )),
    }
}

/// `50G`, `512M`, `1T`, `4096`: bytes, with `K M G T` as powers of 1024.
pub fn size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (n, unit) = split(t);
    let scale: u64 = match unit {
        "" | "B" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("`{s}` is not a size: write N followed by K, M, G or T (powers of 1024), e.g. 50G")),
    };
    let n: u64 = n.parse().map_err(|_| format!("`{s}`: the count must be a whole number"))?;
    n.checked_mul(scale).ok_or_else(|| format!("`{s}` is too large"))
}

/// `15%` of something, or an absolute amount of it (`50G` of space, `200000` inodes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    /// A share of the whole.
    Share(Share),
    /// So many bytes, or so many inodes.
    Absolute(u64),
}

impl Amount {
    /// The amount out of `whole`.
    pub fn of(self, whole: u64) -> u64 {
        match self {
            Amount::Share(s) => (whole as f64 * s.0 / 100.0).ceil() as u64,
            Amount::Absolute(n) => n,
        }
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Amount::Share(s) => write!(f, "{s}"),
            Amount::Absolute(n) => write!(f, "{n}"),
        }
    }
}

/// `min_free`: `15%` of the filesystem, or a size (`50G`).
pub fn free_space(s: &str) -> Result<Amount, String> {
    if s.trim().ends_with('%') {
        return share(s).map(Amount::Share).ok_or_else(|| format!("`{s}`: a share is a percentage from 0% to 100%"));
    }
    size(s)
        .map(Amount::Absolute)
        .map_err(|_| format!("`{s}`: write a share (15%) or a size (50G; K M G T are powers of 1024)"))
}

/// `min_free_inodes`: `10%` of the filesystem's inodes, or a count (`200000`).
pub fn free_inodes(s: &str) -> Result<Amount, String> {
    if s.trim().ends_with('%') {
        return share(s).map(Amount::Share).ok_or_else(|| format!("`{s}`: a share is a percentage from 0% to 100%"));
    }
    s.trim()
        .parse::<u64>()
        .map(Amount::Absolute)
        .map_err(|_| format!("`{s}`: write a share (10%) or a number of inodes (200000)"))
}

/// A rate: files or bytes per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// Files per second.
    Files(f64),
    /// Bytes per second.
    Bytes(f64),
}

impl Rate {
    /// Parses `5000/s` (files) or `200M/s` (bytes; `K M G` are powers of 1024).
    pub fn parse(s: &str) -> Result<Rate, String> {
        let t = s.trim();
        let Some(n) = t.strip_suffix("/s") else {
            return Err(format!("`{s}` is not a rate: write files per second (5000/s) or bytes per second (200M/s)"));
        };
        let (digits, unit) = n.split_at(n.bytes().take_while(u8::is_ascii_digit).count());
        let v: u64 = digits.parse().map_err(|_| format!("`{s}`: the count must be a whole number"))?;
        if v == 0 {
            return Err(format!("`{s}`: a rate must be more than 0"));
        }
        let scale: u64 = match unit {
            "" => return Ok(Rate::Files(v as f64)),
            "B" => 1,
            "K" => 1 << 10,
            "M" => 1 << 20,
            "G" => 1 << 30,
            _ => return Err(format!("`{s}`: write N/s (files) or N followed by K, M or G, then /s (bytes)")),
        };
        Ok(Rate::Bytes(v.saturating_mul(scale) as f64))
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rate::Files(n) => write!(f, "{n}/s"),
            Rate::Bytes(n) => write!(f, "{}/s", indicatif::HumanBytes(*n as u64)),
        }
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
        assert_eq!(max_delete("auto"), Ok(Some(MaxDelete::Auto { factor: Factor::DEFAULT })));
        assert_eq!(max_delete(" auto(5x) "), Ok(Some(MaxDelete::Auto { factor: Factor::new(5).unwrap() })));
        for bad in ["auto(1x)", "auto(0x)", "auto(101x)", "auto(5)", "auto()", "auto(x)", "auto(2.5x)", "autox", "AUTO"]
        {
            assert!(max_delete(bad).is_err(), "{bad}");
        }
        for s in ["auto", "auto(5x)"] {
            assert_eq!(max_delete(s).unwrap().unwrap().to_string(), s, "written back as written");
        }
        assert_eq!(max_delete("auto(3x)").unwrap().unwrap().to_string(), "auto");
    }

    #[test]
    fn sizes_and_amounts() {
        assert_eq!(size("50G"), Ok(50 << 30));
        assert_eq!(size("512M"), Ok(512 << 20));
        assert_eq!(size("4096"), Ok(4096));
        assert!(size("50GB").is_err() && size("1.5G").is_err() && size("50g").is_err());
        assert_eq!(free_space("15%"), Ok(Amount::Share(Share(15.0))));
        assert_eq!(free_space("1T"), Ok(Amount::Absolute(1 << 40)));
        assert!(free_space("150%").is_err());
        assert_eq!(free_inodes("200000"), Ok(Amount::Absolute(200_000)));
        assert!(free_inodes("20K").is_err());
        assert_eq!(Amount::Share(Share(10.0)).of(1001), 101);
    }

    #[test]
    fn rates() {
        assert_eq!(Rate::parse("5000/s"), Ok(Rate::Files(5000.0)));
        assert_eq!(Rate::parse("200M/s"), Ok(Rate::Bytes(200.0 * 1048576.0)));
        for bad in ["5000", "0/s", "1.5/s", "200MB/s", "fast"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
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
