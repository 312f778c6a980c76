//! The retention clock: time zones, `--now`, `keep` units, cutoffs and partition periods.
//!
//! Everything that turns wall-clock text into instants lives here, because that is where
//! daylight saving bites. The rules (docs/guide.md, "Retention"): hours are real elapsed hours; a day runs
//! from local midnight to local midnight (23 or 25 hours); a local time that occurs twice
//! ends only when its later occurrence ends; a partition whose local start does not exist
//! (the skipped hour in spring) is unmatched, with that reason.

pub mod calendar;
mod spec;

use std::fmt;
use std::num::NonZeroU32;

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Timelike};
use chrono_tz::Tz;

use calendar::{Calendar, Closure};
pub use spec::{DateSpec, Precision};

/// A policy's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    tz: Tz,
    local: bool,
}

impl Zone {
    /// Parses an IANA name or `local`.
    pub fn parse(s: &str) -> Result<Zone, String> {
        if s == "local" {
            return Ok(Zone { tz: system_zone(), local: true });
        }
        s.parse::<Tz>().map(|tz| Zone { tz, local: false }).map_err(|_| {
            format!("unknown time zone `{s}`: use an IANA name such as `America/New_York`, `UTC` or `local`")
        })
    }

    /// UTC.
    pub fn utc() -> Zone {
        Zone { tz: Tz::UTC, local: false }
    }

    /// The chrono-tz zone.
    pub fn tz(&self) -> Tz {
        self.tz
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.local { write!(f, "local ({})", self.tz.name()) } else { f.write_str(self.tz.name()) }
    }
}

/// The system's zone for `timezone: local`: `$TZ` when it names an IANA zone, else the
/// zone `/etc/localtime` points at, else UTC (what libc assumes without either).
fn system_zone() -> Tz {
    let from_env = std::env::var("TZ").ok().and_then(|v| {
        let v = v.trim_start_matches(':');
        let name = v.rsplit_once("zoneinfo/").map_or(v, |(_, n)| n);
        name.parse::<Tz>().ok()
    });
    from_env.or_else(|| iana_time_zone::get_timezone().ok().and_then(|n| n.parse::<Tz>().ok())).unwrap_or(Tz::UTC)
}

/// The `--now` option: an instant, or a wall-clock time read in each policy's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Now {
    /// RFC 3339 with an offset.
    Instant(DateTime<chrono::FixedOffset>),
    /// `2024-07-12T02:00:00` or `2024-07-12` (midnight), in the policy's zone.
    Local(NaiveDateTime),
}

impl Now {
    /// The real current time.
    pub fn system() -> Now {
        Now::Instant(chrono::Utc::now().fixed_offset())
    }

    /// Parses the forms `--now` takes (sweep(1)).
    pub fn parse(s: &str) -> Result<Now, String> {
        let s = s.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Ok(Now::Instant(t));
        }
        for f in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
                return Ok(Now::Local(t));
            }
        }
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(Now::Local(d.and_time(NaiveTime::MIN)));
        }
        Err(format!(
            "cannot read `{s}` as a time: use RFC 3339 (2024-07-12T02:00:00-04:00 or ...Z), \
             or 2024-07-12T02:00:00 / 2024-07-12 in each policy's time zone"
        ))
    }

    /// This time in `zone`. A naive time in a daylight-saving gap is read as the first
    /// instant after the gap; a repeated one as its first occurrence.
    pub fn resolve(&self, zone: &Zone) -> DateTime<Tz> {
        match *self {
            Now::Instant(t) => t.with_timezone(&zone.tz),
            Now::Local(t) => local(zone.tz, start_instant(zone.tz, t)),
        }
    }
}

/// The retention unit of `keep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepUnit {
    /// `d`: local calendar days.
    Days,
    /// `h`: real elapsed hours.
    Hours,
    /// `bd`: business days of the policy's calendar.
    BusinessDays,
}

/// `keep: N<unit>` with N ≥ 1: the current unit and the N−1 before it are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    /// How many units.
    pub count: NonZeroU32,
    /// Which unit.
    pub unit: KeepUnit,
}

/// The largest `keep` count accepted: beyond it the arithmetic leaves the calendar and
/// the setting is surely a typo.
pub const MAX_KEEP: u32 = 100_000;

impl Keep {
    /// Parses `1d`, `36h`, `2bd`. Units are exactly these: `7days` is an error.
    pub fn parse(s: &str) -> Result<Keep, String> {
        let s = s.trim();
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let (n, unit) = s.split_at(digits);
        let unit = match unit {
            "d" => KeepUnit::Days,
            "h" => KeepUnit::Hours,
            "bd" => KeepUnit::BusinessDays,
            _ => return Err(format!("`{s}` is not a retention: write N followed by d, h or bd (e.g. 1d, 36h, 2bd)")),
        };
        let n: u32 = n
            .parse()
            .map_err(|_| format!("`{s}`: the count must be a whole number ≥ 1 (e.g. 1{})", unit_suffix(unit)))?;
        if n > MAX_KEEP {
            return Err(format!("`{s}`: at most {MAX_KEEP} units"));
        }
        let count =
            NonZeroU32::new(n).ok_or_else(|| format!("`{s}`: keep must be at least 1 (keep: 1d keeps today only)"))?;
        Ok(Keep { count, unit })
    }
}

fn unit_suffix(u: KeepUnit) -> &'static str {
    match u {
        KeepUnit::Days => "d",
        KeepUnit::Hours => "h",
        KeepUnit::BusinessDays => "bd",
    }
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.count, unit_suffix(self.unit))
    }
}

/// The instant before which partitions have expired, and how it was reached.
#[derive(Debug, Clone)]
pub struct Cutoff {
    /// The cutoff in the policy's zone.
    pub at: DateTime<Tz>,
    /// For `bd`: the business day the cutoff fell on and the days passed over on the way.
    pub business: Option<(NaiveDate, Vec<(NaiveDate, Closure)>)>,
}

impl Cutoff {
    /// Seconds since the epoch.
    pub fn timestamp(&self) -> i64 {
        self.at.timestamp()
    }

    /// RFC 3339 with the zone's offset, as the JSON summary shows it.
    pub fn rfc3339(&self) -> String {
        self.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    }
}

/// The cutoff for `keep` at `now` in `zone`: 00:00 (or the hour's start) of the N-th most
/// recent unit on or before now.
pub fn cutoff(keep: Keep, now: DateTime<Tz>, calendar: &Calendar) -> Cutoff {
    let tz = now.timezone();
    let n = keep.count.get();
    let at_midnight = |d: NaiveDate| tz.timestamp_opt(start_instant(tz, d.and_time(NaiveTime::MIN)), 0).unwrap();
    match keep.unit {
        KeepUnit::Days => {
            let day = now.date_naive().checked_sub_days(chrono::Days::new(u64::from(n - 1))).unwrap_or(NaiveDate::MIN);
            Cutoff { at: at_midnight(day), business: None }
        }
        KeepUnit::Hours => {
            // Real hours: step back from this local hour's start in elapsed time, so a
            // clock change inside the window neither adds nor removes an hour.
            let into_hour = i64::from(now.minute()) * 60 + i64::from(now.second());
            let start = now.timestamp() - into_hour - 3600 * i64::from(n - 1);
            Cutoff { at: tz.timestamp_opt(start, 0).unwrap(), business: None }
        }
        KeepUnit::BusinessDays => {
            let (day, skipped) = calendar.nth_business_day_on_or_before(now.date_naive(), n);
            Cutoff { at: at_midnight(day), business: Some((day, skipped)) }
        }
    }
}

/// The instant `span` units before `cutoff` (N days back at local midnight, N real
/// hours, or 00:00 of the N-th business day before the cutoff's day): what `max_delete`
/// as a span allows nothing to be dated before.
pub fn span_start(cutoff: &Cutoff, span: Keep, calendar: &Calendar) -> i64 {
    let tz = cutoff.at.timezone();
    let n = span.count.get();
    let day = cutoff.at.date_naive();
    let midnight = |d: NaiveDate| start_instant(tz, d.and_time(NaiveTime::MIN));
    match span.unit {
        KeepUnit::Days => midnight(day.checked_sub_days(chrono::Days::new(u64::from(n))).unwrap_or(NaiveDate::MIN)),
        KeepUnit::Hours => cutoff.timestamp().saturating_sub(3600 * i64::from(n)),
        KeepUnit::BusinessDays => {
            let before = day.pred_opt().unwrap_or(NaiveDate::MIN);
            midnight(calendar.nth_business_day_on_or_before(before, n).0)
        }
    }
}

/// The end of a `max_delete` span forward from the cutoff: the instant `span` units
/// after it (N days, N hours, or N business days). Capacity takes no partition that
/// starts there or later, so one night deletes at most `span` of kept data.
pub fn span_end(cutoff: &Cutoff, span: Keep, calendar: &Calendar) -> i64 {
    let tz = cutoff.at.timezone();
    let n = span.count.get();
    let day = cutoff.at.date_naive();
    let midnight = |d: NaiveDate| start_instant(tz, d.and_time(NaiveTime::MIN));
    match span.unit {
        KeepUnit::Days => midnight(day.checked_add_days(chrono::Days::new(u64::from(n))).unwrap_or(NaiveDate::MAX)),
        KeepUnit::Hours => cutoff.timestamp().saturating_add(3600 * i64::from(n)),
        KeepUnit::BusinessDays => {
            let mut d = day;
            let mut left = n;
            while left > 0 {
                let Some(next) = d.succ_opt() else { return i64::MAX };
                d = next;
                if calendar.is_business_day(d) {
                    left -= 1;
                }
            }
            midnight(d)
        }
    }
}

/// A partition's period as instants (seconds since the epoch), half-open `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    /// First second of the period.
    pub start: i64,
    /// First second after it.
    pub end: i64,
}

/// Turns a local date spec into instants in `tz`, or says why the local time does not exist.
pub fn period(spec: &DateSpec, tz: Tz) -> Result<Period, String> {
    let (start_local, end_local) = match spec {
        DateSpec::Epoch(s) => return Ok(Period { start: *s, end: s.saturating_add(1) }),
        DateSpec::Local { .. } => spec.local_bounds().ok_or("date out of range")?,
    };
    let DateSpec::Local { precision, .. } = spec else { unreachable!() };
    let start = match earliest(tz, start_local) {
        Some(t) => t,
        // A day, month or year whose midnight was skipped still exists: it starts when
        // the clock jumps. A skipped hour, minute or second never happened.
        None if *precision <= Precision::Day => gap_end(tz, start_local),
        None => {
            return Err(format!(
                "local time {} does not exist in {} (skipped by a daylight-saving change)",
                spec.label(),
                tz.name()
            ));
        }
    };
    // The period is over once its last second is. When that second occurs twice (the
    // repeated hour in autumn) its later occurrence counts, so a repeated hour expires only
    // when both occurrences are over, while the hour before it still ends at the first
    // change of the clock.
    let last = end_local - TimeDelta::seconds(1);
    let end = latest(tz, last).map_or_else(|| gap_end(tz, last), |t| t + 1);
    Ok(Period { start, end })
}

fn earliest(tz: Tz, t: NaiveDateTime) -> Option<i64> {
    match tz.from_local_datetime(&t) {
        LocalResult::Single(d) => Some(d.timestamp()),
        LocalResult::Ambiguous(a, b) => Some(a.timestamp().min(b.timestamp())),
        LocalResult::None => None,
    }
}

fn latest(tz: Tz, t: NaiveDateTime) -> Option<i64> {
    match tz.from_local_datetime(&t) {
        LocalResult::Single(d) => Some(d.timestamp()),
        LocalResult::Ambiguous(a, b) => Some(a.timestamp().max(b.timestamp())),
        LocalResult::None => None,
    }
}

/// For a wall time that exists, its first instant; for one inside a gap, the instant the
/// clock jumped (the gap's end).
pub fn start_of(tz: Tz, t: NaiveDateTime) -> i64 {
    start_instant(tz, t)
}

fn start_instant(tz: Tz, t: NaiveDateTime) -> i64 {
    earliest(tz, t).unwrap_or_else(|| gap_end(tz, t))
}

/// The instant a daylight-saving gap containing wall time `t` ends. Gaps end on whole
/// minutes in every zone the tz database has had since 1970, so the first existing wall
/// time after `t` is found by stepping minutes (at most a day: Samoa skipped one).
fn gap_end(tz: Tz, t: NaiveDateTime) -> i64 {
    let base = t.with_second(0).unwrap_or(t);
    for m in 1..=26 * 60 {
        if let Some(s) = base.checked_add_signed(TimeDelta::minutes(m)).and_then(|w| earliest(tz, w)) {
            return s;
        }
    }
    // Unreachable for real zones; read the wall time with the offset before the gap.
    t.and_utc().timestamp() - i64::from(tz.offset_from_utc_datetime(&t).fix().local_minus_utc())
}

/// `90s`, `5m`, `3h12m`, `2d4h`: a compact duration, for messages.
pub fn human(s: i64) -> String {
    let s = s.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 if s % 3600 == 0 => format!("{}h", s / 3600),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ if s % 86400 == 0 => format!("{}d", s / 86400),
        _ => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

/// Local calendar date and wall time of an instant, for labels.
pub fn local(tz: Tz, secs: i64) -> DateTime<Tz> {
    tz.timestamp_opt(secs, 0).single().unwrap_or_else(|| tz.timestamp_opt(0, 0).unwrap())
}

/// The local date of an instant: the `date` shown for `date_from: mtime`.
pub fn local_date(tz: Tz, secs: i64) -> NaiveDate {
    local(tz, secs).date_naive()
}

/// A period of one local day or hour containing `secs`, for grouping files by mtime.
pub fn containing(tz: Tz, secs: i64, unit: KeepUnit) -> Period {
    let t = local(tz, secs);
    let spec = match unit {
        KeepUnit::Hours => {
            let hour = t.date_naive().and_time(NaiveTime::MIN) + TimeDelta::hours(i64::from(t.hour()));
            DateSpec::Local { precision: Precision::Hour, start: hour }
        }
        _ => DateSpec::Local { precision: Precision::Day, start: t.date_naive().and_time(NaiveTime::MIN) },
    };
    period(&spec, tz).unwrap_or(Period { start: secs, end: secs + 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use calendar::CalendarKind;

    fn zone(name: &str) -> Zone {
        Zone::parse(name).unwrap()
    }

    fn at(s: &str, z: &Zone) -> DateTime<Tz> {
        Now::parse(s).unwrap().resolve(z)
    }

    fn day(s: &str, p: Precision) -> DateSpec {
        let start = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap();
        DateSpec::Local { precision: p, start }
    }

    fn weekdays() -> Calendar {
        Calendar::new(CalendarKind::Weekdays, [])
    }

    fn cut(keep: &str, now: &str, z: &Zone) -> String {
        cutoff(Keep::parse(keep).unwrap(), at(now, z), &weekdays()).rfc3339()
    }

    #[test]
    fn keep_parsing() {
        assert_eq!(Keep::parse("1d").unwrap().to_string(), "1d");
        assert_eq!(Keep::parse("36h").unwrap().unit, KeepUnit::Hours);
        assert_eq!(Keep::parse("2bd").unwrap().unit, KeepUnit::BusinessDays);
        for bad in ["0d", "7days", "d", "-1d", "1.5d", "1w", "", "100001d"] {
            assert!(Keep::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn now_forms() {
        let ny = zone("America/New_York");
        assert_eq!(at("2024-07-12T02:00:00-04:00", &ny).to_rfc3339(), "2024-07-12T02:00:00-04:00");
        assert_eq!(at("2024-07-12T06:00:00Z", &ny).to_rfc3339(), "2024-07-12T02:00:00-04:00");
        assert_eq!(at("2024-07-12T02:00:00", &ny).to_rfc3339(), "2024-07-12T02:00:00-04:00");
        assert_eq!(at("2024-07-12", &ny).to_rfc3339(), "2024-07-12T00:00:00-04:00");
        assert!(Now::parse("yesterday").is_err());
    }

    #[test]
    fn day_cutoff_is_local_midnight() {
        let ny = zone("America/New_York");
        // 02:00 UTC on the 12th is still the 11th in New York.
        assert_eq!(cut("1d", "2024-07-12T02:00:00Z", &ny), "2024-07-11T00:00:00-04:00");
        assert_eq!(cut("1d", "2024-07-12T02:00:00Z", &zone("UTC")), "2024-07-12T00:00:00+00:00");
        assert_eq!(cut("3d", "2024-03-01T12:00:00Z", &zone("UTC")), "2024-02-28T00:00:00+00:00");
        assert_eq!(cut("1d", "2024-07-12T12:00:00Z", &zone("Asia/Kolkata")), "2024-07-12T00:00:00+05:30");
    }

    #[test]
    fn hour_cutoff_counts_real_hours() {
        let ny = zone("America/New_York");
        // Fall back on 2024-11-03: 01:00–02:00 happens twice. At 02:30 EST, keep 3h keeps
        // 02:00 EST, 01:00 EST and 01:00 EDT: three real hours.
        assert_eq!(cut("3h", "2024-11-03T02:30:00-05:00", &ny), "2024-11-03T01:00:00-04:00");
        // Spring forward on 2024-03-10: 02:00–03:00 never happens.
        assert_eq!(cut("2h", "2024-03-10T03:30:00-04:00", &ny), "2024-03-10T01:00:00-05:00");
        // Kolkata hours start at :30 UTC: 10:10Z is 15:40 there.
        assert_eq!(cut("1h", "2024-07-12T10:10:00Z", &zone("Asia/Kolkata")), "2024-07-12T15:00:00+05:30");
    }

    #[test]
    fn days_are_23_or_25_hours() {
        let ny = zone("America/New_York").tz();
        let spring = period(&day("2024-03-10T00:00:00", Precision::Day), ny).unwrap();
        assert_eq!(spring.end - spring.start, 23 * 3600);
        let fall = period(&day("2024-11-03T00:00:00", Precision::Day), ny).unwrap();
        assert_eq!(fall.end - fall.start, 25 * 3600);
        let london = zone("Europe/London").tz();
        let fall = period(&day("2024-10-27T00:00:00", Precision::Day), london).unwrap();
        assert_eq!(fall.end - fall.start, 25 * 3600);
    }

    #[test]
    fn repeated_hour_ends_with_its_later_occurrence() {
        let ny = zone("America/New_York").tz();
        let p = period(&day("2024-11-03T01:00:00", Precision::Hour), ny).unwrap();
        assert_eq!(local(ny, p.start).to_rfc3339(), "2024-11-03T01:00:00-04:00");
        assert_eq!(local(ny, p.end).to_rfc3339(), "2024-11-03T02:00:00-05:00");
    }

    #[test]
    fn london_hours_on_both_change_days() {
        let london = zone("Europe/London");
        // Spring 2024-03-31: 01:00 GMT jumps to 02:00 BST. keep 3h at 03:10 BST keeps the
        // 03:00 and 02:00 BST hours and the 00:00 GMT hour: three real hours.
        assert_eq!(cut("3h", "2024-03-31T03:10:00+01:00", &london), "2024-03-31T00:00:00+00:00");
        // Autumn 2024-10-27: 01:00-02:00 happens in BST and again in GMT.
        let p = period(&day("2024-10-27T01:00:00", Precision::Hour), london.tz()).unwrap();
        assert_eq!(p.end - p.start, 2 * 3600);
        assert_eq!(local(london.tz(), p.end).to_rfc3339(), "2024-10-27T02:00:00+00:00");
        assert_eq!(cut("1d", "2024-10-27T23:30:00+00:00", &london), "2024-10-27T00:00:00+01:00");
    }

    #[test]
    fn kolkata_days_and_hours() {
        let ist = zone("Asia/Kolkata");
        let p = period(&day("2024-07-12T00:00:00", Precision::Day), ist.tz()).unwrap();
        assert_eq!(local(ist.tz(), p.start).to_rfc3339(), "2024-07-12T00:00:00+05:30");
        assert_eq!(p.end - p.start, 86400);
        assert_eq!(cut("2h", "2024-07-12T20:00:00Z", &ist), "2024-07-13T00:00:00+05:30");
    }

    #[test]
    fn the_hour_before_a_repeated_hour_ends_at_the_first_change() {
        let ny = zone("America/New_York").tz();
        let p = period(&day("2024-11-03T00:00:00", Precision::Hour), ny).unwrap();
        assert_eq!(p.end - p.start, 3600);
        assert_eq!(local(ny, p.end).to_rfc3339(), "2024-11-03T01:00:00-04:00");
    }

    #[test]
    fn skipped_hour_does_not_exist() {
        let ny = zone("America/New_York").tz();
        let err = period(&day("2024-03-10T02:00:00", Precision::Hour), ny).unwrap_err();
        assert!(err.contains("does not exist in America/New_York"), "{err}");
        // The hour before the gap ends when the clock jumps.
        let p = period(&day("2024-03-10T01:00:00", Precision::Hour), ny).unwrap();
        assert_eq!(p.end - p.start, 3600);
        let london = zone("Europe/London").tz();
        assert!(period(&day("2024-03-31T01:00:00", Precision::Hour), london).is_err());
    }

    #[test]
    fn a_skipped_midnight_starts_the_day_at_the_jump() {
        // Santiago springs forward at 24:00 on 2024-09-07: 2024-09-08 starts at 01:00.
        let scl = zone("America/Santiago").tz();
        let p = period(&day("2024-09-08T00:00:00", Precision::Day), scl).unwrap();
        assert_eq!(local(scl, p.start).to_rfc3339(), "2024-09-08T01:00:00-03:00");
        assert_eq!(p.end - p.start, 23 * 3600);
    }

    #[test]
    fn month_partition_is_not_expired_mid_month() {
        let utc = zone("UTC");
        let p = period(&day("2024-07-01T00:00:00", Precision::Month), utc.tz()).unwrap();
        let c = cutoff(Keep::parse("1d").unwrap(), at("2024-07-20T00:00:00Z", &utc), &weekdays());
        assert!(p.end > c.timestamp());
        let c = cutoff(Keep::parse("1d").unwrap(), at("2024-08-01T09:00:00Z", &utc), &weekdays());
        assert!(p.end <= c.timestamp());
    }

    #[test]
    fn spans_count_back_from_the_cutoff() {
        let utc = zone("UTC");
        let c = cutoff(Keep::parse("1d").unwrap(), at("2024-07-12T02:00:00Z", &utc), &weekdays());
        let span = |s| local(utc.tz(), span_start(&c, Keep::parse(s).unwrap(), &weekdays())).to_rfc3339();
        assert_eq!(span("1d"), "2024-07-11T00:00:00+00:00");
        assert_eq!(span("2d"), "2024-07-10T00:00:00+00:00");
        assert_eq!(span("6h"), "2024-07-11T18:00:00+00:00");
        // Monday's cutoff; one business day back is Friday.
        let c = cutoff(Keep::parse("1bd").unwrap(), at("2024-07-15T02:00:00Z", &utc), &weekdays());
        assert_eq!(
            local(utc.tz(), span_start(&c, Keep::parse("1bd").unwrap(), &weekdays())).to_rfc3339(),
            "2024-07-12T00:00:00+00:00"
        );
    }

    #[test]
    fn business_day_cutoff() {
        let utc = zone("UTC");
        // Monday 2024-07-15: keep 1bd keeps Monday only.
        assert_eq!(cut("1bd", "2024-07-15T09:00:00Z", &utc), "2024-07-15T00:00:00+00:00");
        // Saturday: keep 1bd keeps Friday (and the weekend after it).
        assert_eq!(cut("1bd", "2024-07-13T09:00:00Z", &utc), "2024-07-12T00:00:00+00:00");
        assert_eq!(cut("2bd", "2024-07-15T09:00:00Z", &utc), "2024-07-12T00:00:00+00:00");
    }
}
