//! Business days for `keep: N bd`: weekdays, or the New York Stock Exchange's trading
//! days, computed by rule for any year, minus dates a policy lists.
//!
//! No crate computes NYSE closures by rule (the ones that exist are year tables), and a
//! table silently stops being right in the first year it does not cover, which is exactly
//! the kind of failure sweep exists to prevent.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{Datelike, NaiveDate, Weekday};

/// Which days are business days before `holidays` are removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarKind {
    /// Monday to Friday.
    Weekdays,
    /// Weekdays minus NYSE full-day closures.
    Nyse,
}

/// Why a date is not a business day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closure {
    /// Saturday or Sunday.
    Weekend,
    /// An NYSE holiday, by name.
    Exchange(&'static str),
    /// Listed in the policy's `holidays`.
    Listed,
}

impl fmt::Display for Closure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Closure::Weekend => f.write_str("weekend"),
            Closure::Exchange(name) => write!(f, "NYSE holiday: {name}"),
            Closure::Listed => f.write_str("listed in holidays"),
        }
    }
}

/// A business-day calendar.
#[derive(Debug, Clone)]
pub struct Calendar {
    kind: CalendarKind,
    holidays: BTreeSet<NaiveDate>,
}

impl Calendar {
    /// A calendar of `kind` with extra closures.
    pub fn new(kind: CalendarKind, holidays: impl IntoIterator<Item = NaiveDate>) -> Self {
        Calendar { kind, holidays: holidays.into_iter().collect() }
    }

    /// The kind.
    pub fn kind(&self) -> CalendarKind {
        self.kind
    }

    /// `None` for a business day, else why not (weekend, then exchange, then listed).
    pub fn closure(&self, date: NaiveDate) -> Option<Closure> {
        if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            return Some(Closure::Weekend);
        }
        if self.kind == CalendarKind::Nyse
            && let Some((_, name)) = nyse_holidays(date.year()).into_iter().find(|(d, _)| *d == date)
        {
            return Some(Closure::Exchange(name));
        }
        self.holidays.contains(&date).then_some(Closure::Listed)
    }

    /// True for a business day.
    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        self.closure(date).is_none()
    }

    /// The `n`-th most recent business day on or before `today` (today counts when it is
    /// one; `n` is at least 1), and the days passed over on the way, newest first.
    pub fn nth_business_day_on_or_before(&self, today: NaiveDate, n: u32) -> (NaiveDate, Vec<(NaiveDate, Closure)>) {
        let mut left = n.max(1);
        let mut day = today;
        let mut skipped = Vec::new();
        loop {
            match self.closure(day) {
                None => {
                    left -= 1;
                    if left == 0 {
                        return (day, skipped);
                    }
                }
                Some(why) => skipped.push((day, why)),
            }
            match day.pred_opt() {
                Some(d) => day = d,
                // The start of the calendar: no earlier business day exists.
                None => return (day, skipped),
            }
        }
    }
}

/// NYSE full-day closures of `year`, by rule, in date order.
///
/// Saturday closures move to Friday and Sunday ones to Monday, except New Year's Day: the
/// exchange does not close on the Friday before a Saturday 1 January, since that Friday is
/// the last trading day of the year (NYSE Rule 7.2), so such a year has no New Year closure.
/// Martin Luther King Jr. Day from 1998 and Juneteenth from 2022, when the exchange adopted
/// them. One-off closures (national days of mourning, weather) belong in `holidays:`.
pub fn nyse_holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let mut days = Vec::new();
    let mut add = |d: Option<NaiveDate>, name| {
        if let Some(d) = d {
            days.push((d, name));
        }
    };
    if let Some(jan1) = NaiveDate::from_ymd_opt(year, 1, 1) {
        match jan1.weekday() {
            Weekday::Sat => {}
            Weekday::Sun => add(jan1.succ_opt(), "New Year's Day (observed)"),
            _ => add(Some(jan1), "New Year's Day"),
        }
    }
    if year >= 1998 {
        add(nth_weekday(year, 1, Weekday::Mon, 3), "Martin Luther King Jr. Day");
    }
    add(nth_weekday(year, 2, Weekday::Mon, 3), "Washington's Birthday");
    add(easter(year).and_then(|e| e.checked_sub_days(chrono::Days::new(2))), "Good Friday");
    add(last_weekday(year, 5, Weekday::Mon), "Memorial Day");
    if year >= 2022 {
        observed(&mut add, NaiveDate::from_ymd_opt(year, 6, 19), "Juneteenth", "Juneteenth (observed)");
    }
    observed(&mut add, NaiveDate::from_ymd_opt(year, 7, 4), "Independence Day", "Independence Day (observed)");
    add(nth_weekday(year, 9, Weekday::Mon, 1), "Labor Day");
    add(nth_weekday(year, 11, Weekday::Thu, 4), "Thanksgiving Day");
    observed(&mut add, NaiveDate::from_ymd_opt(year, 12, 25), "Christmas Day", "Christmas Day (observed)");
    days.sort();
    days
}

/// A fixed-date holiday with the Saturday → Friday and Sunday → Monday rules.
fn observed(
    add: &mut impl FnMut(Option<NaiveDate>, &'static str),
    date: Option<NaiveDate>,
    name: &'static str,
    moved: &'static str,
) {
    let Some(date) = date else { return };
    match date.weekday() {
        Weekday::Sat => add(date.pred_opt(), moved),
        Weekday::Sun => add(date.succ_opt(), moved),
        _ => add(Some(date), name),
    }
}

/// The `n`-th `weekday` of `month` (n from 1).
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

/// The last `weekday` of `month`.
fn last_weekday(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    (1..=5).rev().find_map(|n| NaiveDate::from_weekday_of_month_opt(year, month, weekday, n))
}

/// Western (Gregorian) Easter Sunday: the anonymous Gregorian algorithm (Meeus/Jones/Butcher).
pub fn easter(year: i32) -> Option<NaiveDate> {
    let y = i64::from(year);
    let a = y.rem_euclid(19);
    let b = y.div_euclid(100);
    let c = y.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let month = (h + l - 7 * m + 114).div_euclid(31);
    let day = (h + l - 7 * m + 114).rem_euclid(31) + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// The exchange's published full-day closures, 2019–2027.
    const PUBLISHED: &[(i32, &[&str])] = &[
        (
            2019,
            &[
                "2019-01-01",
                "2019-01-21",
                "2019-02-18",
                "2019-04-19",
                "2019-05-27",
                "2019-07-04",
                "2019-09-02",
                "2019-11-28",
                "2019-12-25",
            ],
        ),
        (
            2020,
            &[
                "2020-01-01",
                "2020-01-20",
                "2020-02-17",
                "2020-04-10",
                "2020-05-25",
                "2020-07-03",
                "2020-09-07",
                "2020-11-26",
                "2020-12-25",
            ],
        ),
        (
            2021,
            &[
                "2021-01-01",
                "2021-01-18",
                "2021-02-15",
                "2021-04-02",
                "2021-05-31",
                "2021-07-05",
                "2021-09-06",
                "2021-11-25",
                "2021-12-24",
            ],
        ),
        (
            2022,
            &[
                "2022-01-17",
                "2022-02-21",
                "2022-04-15",
                "2022-05-30",
                "2022-06-20",
                "2022-07-04",
                "2022-09-05",
                "2022-11-24",
                "2022-12-26",
            ],
        ),
        (
            2023,
            &[
                "2023-01-02",
                "2023-01-16",
                "2023-02-20",
                "2023-04-07",
                "2023-05-29",
                "2023-06-19",
                "2023-07-04",
                "2023-09-04",
                "2023-11-23",
                "2023-12-25",
            ],
        ),
        (
            2024,
            &[
                "2024-01-01",
                "2024-01-15",
                "2024-02-19",
                "2024-03-29",
                "2024-05-27",
                "2024-06-19",
                "2024-07-04",
                "2024-09-02",
                "2024-11-28",
                "2024-12-25",
            ],
        ),
        (
            2025,
            &[
                "2025-01-01",
                "2025-01-20",
                "2025-02-17",
                "2025-04-18",
                "2025-05-26",
                "2025-06-19",
                "2025-07-04",
                "2025-09-01",
                "2025-11-27",
                "2025-12-25",
            ],
        ),
        (
            2026,
            &[
                "2026-01-01",
                "2026-01-19",
                "2026-02-16",
                "2026-04-03",
                "2026-05-25",
                "2026-06-19",
                "2026-07-03",
                "2026-09-07",
                "2026-11-26",
                "2026-12-25",
            ],
        ),
        (
            2027,
            &[
                "2027-01-01",
                "2027-01-18",
                "2027-02-15",
                "2027-03-26",
                "2027-05-31",
                "2027-06-18",
                "2027-07-05",
                "2027-09-06",
                "2027-11-25",
                "2027-12-24",
            ],
        ),
    ];

    #[test]
    fn nyse_matches_the_published_lists() {
        for (year, want) in PUBLISHED {
            let got: Vec<String> = nyse_holidays(*year).iter().map(|(d, _)| d.to_string()).collect();
            assert_eq!(got, *want, "{year}");
        }
    }

    #[test]
    fn observance_names() {
        let names = |y| nyse_holidays(y).into_iter().map(|(d, n)| format!("{d} {n}")).collect::<Vec<_>>();
        assert!(names(2021).contains(&"2021-12-24 Christmas Day (observed)".to_string()));
        assert!(names(2023).contains(&"2023-01-02 New Year's Day (observed)".to_string()));
        assert!(names(2027).contains(&"2027-06-18 Juneteenth (observed)".to_string()));
        assert!(!names(2021).iter().any(|n| n.contains("Juneteenth")), "not before 2022");
        assert!(!names(1997).iter().any(|n| n.contains("Luther King")), "not before 1998");
    }

    #[test]
    fn easter_dates() {
        for (y, e) in [
            (2019, "2019-04-21"),
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2038, "2038-04-25"),
            (1818, "1818-03-22"),
            (2285, "2285-03-22"),
        ] {
            assert_eq!(easter(y), Some(d(e)), "{y}");
        }
    }

    #[test]
    fn closures_in_order_of_precedence() {
        let c = Calendar::new(CalendarKind::Nyse, [d("2024-07-04"), d("2024-07-06"), d("2025-01-09")]);
        assert_eq!(c.closure(d("2024-07-06")), Some(Closure::Weekend));
        assert_eq!(c.closure(d("2024-07-04")), Some(Closure::Exchange("Independence Day")));
        assert_eq!(c.closure(d("2025-01-09")), Some(Closure::Listed));
        assert_eq!(c.closure(d("2024-07-05")), None);
        let w = Calendar::new(CalendarKind::Weekdays, []);
        assert!(w.is_business_day(d("2024-07-04")), "weekdays ignore the exchange");
    }

    #[test]
    fn walking_back() {
        let nyse = Calendar::new(CalendarKind::Nyse, []);
        // Monday counts itself.
        assert_eq!(nyse.nth_business_day_on_or_before(d("2024-07-15"), 1).0, d("2024-07-15"));
        // Saturday: Friday.
        let (day, skipped) = nyse.nth_business_day_on_or_before(d("2024-07-13"), 1);
        assert_eq!((day, skipped), (d("2024-07-12"), vec![(d("2024-07-13"), Closure::Weekend)]));
        // Tuesday after Memorial Day, n = 2: Friday, skipping Monday, Sunday, Saturday.
        let (day, skipped) = nyse.nth_business_day_on_or_before(d("2024-05-28"), 2);
        assert_eq!(day, d("2024-05-24"));
        let days: Vec<NaiveDate> = skipped.iter().map(|s| s.0).collect();
        assert_eq!(days, vec![d("2024-05-27"), d("2024-05-26"), d("2024-05-25")]);
        assert_eq!(skipped[0].1, Closure::Exchange("Memorial Day"));
        // Monday after Good Friday, n = 2: Thursday.
        assert_eq!(nyse.nth_business_day_on_or_before(d("2024-04-01"), 2).0, d("2024-03-28"));
        // Day after Thanksgiving, n = 2: Wednesday.
        assert_eq!(nyse.nth_business_day_on_or_before(d("2024-11-29"), 2).0, d("2024-11-27"));
        // Listed closures.
        let listed = Calendar::new(CalendarKind::Nyse, [d("2025-01-09")]);
        let (day, skipped) = listed.nth_business_day_on_or_before(d("2025-01-10"), 2);
        assert_eq!((day, skipped), (d("2025-01-08"), vec![(d("2025-01-09"), Closure::Listed)]));
        // n = 0 means 1.
        assert_eq!(nyse.nth_business_day_on_or_before(d("2024-07-15"), 0).0, d("2024-07-15"));
    }

    #[test]
    fn every_day_of_a_century_walks_back_consistently() {
        let nyse = Calendar::new(CalendarKind::Nyse, []);
        let mut day = d("1990-01-01");
        while day < d("2100-01-01") {
            let (bd, skipped) = nyse.nth_business_day_on_or_before(day, 1);
            assert!(bd <= day && nyse.is_business_day(bd), "{day}");
            assert_eq!(skipped.len() as i64, (day - bd).num_days(), "{day}");
            assert!(skipped.len() <= 4, "{day}: at most a long weekend plus a holiday");
            day = day.succ_opt().unwrap();
        }
    }

    #[test]
    fn no_panic_at_the_ends_of_the_calendar() {
        for y in [NaiveDate::MIN.year(), NaiveDate::MIN.year() + 1, NaiveDate::MAX.year() - 1, NaiveDate::MAX.year()] {
            let _ = nyse_holidays(y);
        }
        let nyse = Calendar::new(CalendarKind::Nyse, []);
        let _ = nyse.closure(NaiveDate::MIN);
        let _ = nyse.closure(NaiveDate::MAX);
        let _ = nyse.nth_business_day_on_or_before(NaiveDate::MIN, 3);
    }
}
