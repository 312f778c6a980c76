//! strftime fields captured from a path, and the local period they name.
//!
//! A layout's fields are checked once, at compile time, to name an unambiguous period
//! (`%d` without `%m` is rejected then). At match time the captured digits are turned
//! into a local calendar period; a name with the right shape but an impossible date
//! (`2024-02-30`) becomes an error string that the caller reports as *unmatched*.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use crate::clock::{DateSpec, Precision};

/// One strftime field a layout can capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `%Y`: four-digit year.
    Year,
    /// `%y`: two-digit year (69–99 → 1969–1999, 00–68 → 2000–2068, as POSIX strptime).
    Year2,
    /// `%m`: month 01–12.
    Month,
    /// `%d`: day of month 01–31.
    Day,
    /// `%j`: day of year 001–366.
    DayOfYear,
    /// `%H`: hour 00–23.
    Hour,
    /// `%M`: minute 00–59.
    Minute,
    /// `%S`: second 00–59.
    Second,
    /// `%s`: seconds since the Unix epoch.
    Epoch,
}

impl Field {
    /// The field for a strftime letter, if sweep supports it.
    pub fn from_letter(c: char) -> Option<Field> {
        Some(match c {
            'Y' => Field::Year,
            'y' => Field::Year2,
            'm' => Field::Month,
            'd' => Field::Day,
            'j' => Field::DayOfYear,
            'H' => Field::Hour,
            'M' => Field::Minute,
            'S' => Field::Second,
            's' => Field::Epoch,
            _ => return None,
        })
    }

    /// The regular expression for the digits of this field. Widths are fixed (zero-padded),
    /// as partition names are; `%s` takes 1 to 19 digits.
    pub fn digits(self) -> &'static str {
        match self {
            Field::Year => "([0-9]{4})",
            Field::Year2 | Field::Month | Field::Day | Field::Hour | Field::Minute | Field::Second => "([0-9]{2})",
            Field::DayOfYear => "([0-9]{3})",
            Field::Epoch => "([0-9]{1,19})",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// The set of fields a layout uses; validated into a [`Precision`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FieldSet(u16);

impl FieldSet {
    /// Adds a field.
    pub fn insert(&mut self, f: Field) {
        self.0 |= f.bit();
    }

    /// True when no field is present.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn has(self, f: Field) -> bool {
        self.0 & f.bit() != 0
    }

    /// The period these fields name, or why they do not name one unambiguously.
    pub fn precision(self) -> Result<Precision, String> {
        use Field::*;
        if self.has(Epoch) {
            if self.0 != Epoch.bit() {
                return Err("%s (epoch seconds) cannot be combined with other date fields".into());
            }
            return Ok(Precision::Epoch);
        }
        if self.has(Year) && self.has(Year2) {
            return Err("use %Y or %y, not both".into());
        }
        if self.has(DayOfYear) && (self.has(Month) || self.has(Day)) {
            return Err("%j (day of year) cannot be combined with %m or %d".into());
        }
        let year = self.has(Year) || self.has(Year2);
        let day = self.has(Day) || self.has(DayOfYear);
        // Each finer field needs every coarser one, or the date is ambiguous.
        let chain: [(bool, &str, bool, &str); 5] = [
            (self.has(Month), "%m", year, "%Y or %y"),
            (self.has(Day), "%d", self.has(Month), "%m"),
            (self.has(DayOfYear), "%j", year, "%Y or %y"),
            (self.has(Hour), "%H", day, "%d or %j"),
            (self.has(Minute), "%M", self.has(Hour), "%H"),
        ];
        for (has, name, needs, needed) in chain {
            if has && !needs {
                return Err(format!("{name} without {needed}: the date would be ambiguous"));
            }
        }
        if self.has(Second) && !self.has(Minute) {
            return Err("%S without %M: the date would be ambiguous".into());
        }
        Ok(if self.has(Second) {
            Precision::Second
        } else if self.has(Minute) {
            Precision::Minute
        } else if self.has(Hour) {
            Precision::Hour
        } else if day {
            Precision::Day
        } else if self.has(Month) {
            Precision::Month
        } else if year {
            Precision::Year
        } else {
            return Err("no date field".into());
        })
    }
}

/// Values captured so far along one match. A field captured twice must agree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Captured {
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
    yday: Option<u32>,
    hour: Option<u32>,
    minute: Option<u32>,
    second: Option<u32>,
    epoch: Option<i64>,
}

fn set<T: PartialEq + Copy>(slot: &mut Option<T>, v: T) -> bool {
    match *slot {
        Some(old) => old == v,
        None => {
            *slot = Some(v);
            true
        }
    }
}

impl Captured {
    /// Records `digits` for `field`; false when it contradicts an earlier capture.
    pub fn put(&mut self, field: Field, digits: &[u8]) -> bool {
        let mut v: i64 = 0;
        for &b in digits {
            v = match v.checked_mul(10).and_then(|v| v.checked_add(i64::from(b - b'0'))) {
                Some(v) => v,
                None => return false,
            };
        }
        let small = v as u32; // every field but %s and %Y has at most 3 digits
        match field {
            Field::Year => set(&mut self.year, v as i32),
            Field::Year2 => set(&mut self.year, if v >= 69 { 1900 + v as i32 } else { 2000 + v as i32 }),
            Field::Month => set(&mut self.month, small),
            Field::Day => set(&mut self.day, small),
            Field::DayOfYear => set(&mut self.yday, small),
            Field::Hour => set(&mut self.hour, small),
            Field::Minute => set(&mut self.minute, small),
            Field::Second => set(&mut self.second, small),
            Field::Epoch => set(&mut self.epoch, v),
        }
    }

    /// The local period named by the captured fields at `precision`, or why the date is
    /// impossible.
    pub fn resolve(&self, precision: Precision) -> Result<DateSpec, String> {
        if precision == Precision::Epoch {
            return Ok(DateSpec::Epoch(self.epoch.unwrap_or(0)));
        }
        let year = self.year.unwrap_or(1970);
        let date = match (self.yday, precision) {
            (Some(yday), _) => NaiveDate::from_yo_opt(year, yday)
                .ok_or_else(|| format!("impossible date: day {yday:03} of {year:04}"))?,
            (None, Precision::Year) => NaiveDate::from_ymd_opt(year, 1, 1).ok_or("impossible year")?,
            (None, Precision::Month) => {
                let m = self.month.unwrap_or(1);
                NaiveDate::from_ymd_opt(year, m, 1).ok_or_else(|| format!("impossible date: {year:04}-{m:02}"))?
            }
            (None, _) => {
                let (m, d) = (self.month.unwrap_or(1), self.day.unwrap_or(1));
                NaiveDate::from_ymd_opt(year, m, d)
                    .ok_or_else(|| format!("impossible date: {year:04}-{m:02}-{d:02}"))?
            }
        };
        let (h, mi, s) = (self.hour.unwrap_or(0), self.minute.unwrap_or(0), self.second.unwrap_or(0));
        let time = NaiveTime::from_hms_opt(h, mi, s)
            .ok_or_else(|| format!("impossible time: {} {h:02}:{mi:02}:{s:02}", date.format("%Y-%m-%d")))?;
        Ok(DateSpec::Local { precision, start: NaiveDateTime::new(date, time) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(fields: &[Field]) -> FieldSet {
        let mut s = FieldSet::default();
        fields.iter().for_each(|f| s.insert(*f));
        s
    }

    #[test]
    fn precision_is_the_finest_field() {
        use Field::*;
        assert_eq!(set_of(&[Year, Month]).precision(), Ok(Precision::Month));
        assert_eq!(set_of(&[Year, Month, Day]).precision(), Ok(Precision::Day));
        assert_eq!(set_of(&[Year, DayOfYear, Hour]).precision(), Ok(Precision::Hour));
        assert_eq!(set_of(&[Year2, Month, Day, Hour, Minute, Second]).precision(), Ok(Precision::Second));
        assert_eq!(set_of(&[Epoch]).precision(), Ok(Precision::Epoch));
    }

    #[test]
    fn ambiguous_field_sets_are_rejected() {
        use Field::*;
        assert!(set_of(&[Year, Day]).precision().unwrap_err().contains("%d without %m"));
        assert!(set_of(&[Month, Day]).precision().is_err());
        assert!(set_of(&[Year, Month, Hour]).precision().is_err());
        assert!(set_of(&[Year, Year2]).precision().is_err());
        assert!(set_of(&[Epoch, Year]).precision().is_err());
        assert!(set_of(&[Year, DayOfYear, Month]).precision().is_err());
    }

    #[test]
    fn impossible_dates_say_so() {
        let mut c = Captured::default();
        assert!(c.put(Field::Year, b"2024") && c.put(Field::Month, b"02") && c.put(Field::Day, b"30"));
        assert_eq!(c.resolve(Precision::Day).unwrap_err(), "impossible date: 2024-02-30");
        let mut leap = Captured::default();
        assert!(leap.put(Field::Year, b"2024") && leap.put(Field::Month, b"02") && leap.put(Field::Day, b"29"));
        assert_eq!(leap.resolve(Precision::Day).unwrap().label(), "2024-02-29");
        let mut noleap = Captured::default();
        assert!(noleap.put(Field::Year, b"2023") && noleap.put(Field::DayOfYear, b"366"));
        assert!(noleap.resolve(Precision::Day).is_err());
        let mut hour = Captured::default();
        assert!(hour.put(Field::Year, b"2024") && hour.put(Field::Month, b"07") && hour.put(Field::Day, b"01"));
        assert!(hour.put(Field::Hour, b"24"));
        assert!(hour.resolve(Precision::Hour).unwrap_err().contains("impossible time"));
    }

    #[test]
    fn repeated_fields_must_agree() {
        let mut c = Captured::default();
        assert!(c.put(Field::Year, b"2024"));
        assert!(c.put(Field::Year, b"2024"));
        assert!(!c.put(Field::Year, b"2023"));
        let mut y2 = Captured::default();
        assert!(y2.put(Field::Year2, b"69"));
        assert_eq!(y2.year, Some(1969));
    }
}
