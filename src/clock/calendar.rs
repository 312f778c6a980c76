// TEMPORARY placeholder until the real calendar module lands.
use chrono::{Datelike, NaiveDate, Weekday};
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarKind {
    Weekdays,
    Nyse,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closure {
    Weekend,
    Exchange(&'static str),
    Listed,
}
impl std::fmt::Display for Closure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}
#[derive(Debug, Clone)]
pub struct Calendar {
    kind: CalendarKind,
    holidays: Vec<NaiveDate>,
}
impl Calendar {
    pub fn new(kind: CalendarKind, holidays: impl IntoIterator<Item = NaiveDate>) -> Self {
        Calendar { kind, holidays: holidays.into_iter().collect() }
    }
    pub fn kind(&self) -> CalendarKind {
        self.kind
    }
    pub fn closure(&self, d: NaiveDate) -> Option<Closure> {
        if matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            Some(Closure::Weekend)
        } else if self.holidays.contains(&d) {
            Some(Closure::Listed)
        } else {
            None
        }
    }
    pub fn is_business_day(&self, d: NaiveDate) -> bool {
        self.closure(d).is_none()
    }
    pub fn nth_business_day_on_or_before(&self, today: NaiveDate, n: u32) -> (NaiveDate, Vec<(NaiveDate, Closure)>) {
        let mut d = today;
        let mut left = n.max(1);
        let mut skipped = vec![];
        loop {
            match self.closure(d) {
                None => {
                    left -= 1;
                    if left == 0 {
                        return (d, skipped);
                    }
                }
                Some(c) => skipped.push((d, c)),
            }
            d = d.pred_opt().unwrap();
        }
    }
}
