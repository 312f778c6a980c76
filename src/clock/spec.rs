//! A partition's date before a time zone gives it instants: a local calendar period
//! at some precision, or an absolute instant (`%s`). Layouts produce these; the clock
//! turns them into [`super::Period`]s.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};

/// The length of a partition: that of the finest field its layout captures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Precision {
    /// `%Y` or `%y` alone.
    Year,
    /// Down to `%m`.
    Month,
    /// Down to `%d` or `%j`.
    Day,
    /// Down to `%H`.
    Hour,
    /// Down to `%M`.
    Minute,
    /// Down to `%S`.
    Second,
    /// `%s`: one second, but an absolute instant rather than a local time.
    Epoch,
}

impl Precision {
    /// A word for messages: "day", "hour", ...
    pub fn noun(self) -> &'static str {
        match self {
            Precision::Year => "year",
            Precision::Month => "month",
            Precision::Day => "day",
            Precision::Hour => "hour",
            Precision::Minute => "minute",
            Precision::Second | Precision::Epoch => "second",
        }
    }
}

/// A partition's period before a time zone gives it instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateSpec {
    /// A local calendar period starting at `start`.
    Local {
        /// The period's length.
        precision: Precision,
        /// Its first local instant.
        start: NaiveDateTime,
    },
    /// One second at an absolute instant (`%s`).
    Epoch(i64),
}

impl DateSpec {
    /// The period's local start and the local start of the next period. `None` when the
    /// end falls outside chrono's calendar.
    pub fn local_bounds(&self) -> Option<(NaiveDateTime, NaiveDateTime)> {
        let DateSpec::Local { precision, start } = *self else { return None };
        let end = match precision {
            Precision::Year => NaiveDate::from_ymd_opt(start.year() + 1, 1, 1)?.and_time(NaiveTime::MIN),
            Precision::Month => {
                let (y, m) =
                    if start.month() == 12 { (start.year() + 1, 1) } else { (start.year(), start.month() + 1) };
                NaiveDate::from_ymd_opt(y, m, 1)?.and_time(NaiveTime::MIN)
            }
            Precision::Day => start.checked_add_signed(chrono::TimeDelta::days(1))?,
            Precision::Hour => start.checked_add_signed(chrono::TimeDelta::hours(1))?,
            Precision::Minute => start.checked_add_signed(chrono::TimeDelta::minutes(1))?,
            Precision::Second | Precision::Epoch => start.checked_add_signed(chrono::TimeDelta::seconds(1))?,
        };
        Some((start, end))
    }

    /// The date as the layout writes it, at its precision: `2024`, `2024-07`, `2024-07-11`,
    /// `2024-07-11T03`, `2024-07-11T03:15`, `2024-07-11T03:15:09`.
    pub fn label(&self) -> String {
        match *self {
            DateSpec::Epoch(s) => format!("@{s}"),
            DateSpec::Local { precision, start } => {
                let f = match precision {
                    Precision::Year => "%Y",
                    Precision::Month => "%Y-%m",
                    Precision::Day => "%Y-%m-%d",
                    Precision::Hour => "%Y-%m-%dT%H",
                    Precision::Minute => "%Y-%m-%dT%H:%M",
                    Precision::Second | Precision::Epoch => "%Y-%m-%dT%H:%M:%S",
                };
                start.format(f).to_string()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_follow_the_calendar() {
        let spec = |p, s: &str| DateSpec::Local { precision: p, start: s.parse().unwrap() };
        let (_, end) = spec(Precision::Month, "2024-12-01T00:00:00").local_bounds().unwrap();
        assert_eq!(end.to_string(), "2025-01-01 00:00:00");
        let (_, end) = spec(Precision::Month, "2024-02-01T00:00:00").local_bounds().unwrap();
        assert_eq!(end.to_string(), "2024-03-01 00:00:00");
        let (_, end) = spec(Precision::Day, "2024-02-28T00:00:00").local_bounds().unwrap();
        assert_eq!(end.to_string(), "2024-02-29 00:00:00");
        assert_eq!(spec(Precision::Hour, "2024-07-11T03:00:00").label(), "2024-07-11T03");
    }
}
