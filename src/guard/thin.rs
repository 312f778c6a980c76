//! Thinning: among expired partitions, keep the newest of each of the last N days, ISO
//! weeks, months and years that hold one — restic's `forget` rule, over partitions.
//!
//! Only expired partitions are counted, so a day, week, month or year whose partitions
//! are all inside `keep` uses none of N. Each rule counts on its own (a partition kept
//! by two rules uses one of each); a kept partition names the first rule that keeps it,
//! in the order daily, weekly, monthly, yearly.

use std::collections::BTreeMap;

use chrono_tz::Tz;

use crate::clock::{self, Period};
use crate::policy::{Rule, Thin};

/// The expired periods to keep, each with the rule that keeps it and its bucket.
/// `expired` may hold a period more than once and in any order.
pub fn keep(thin: Thin, expired: impl IntoIterator<Item = Period>, tz: Tz) -> BTreeMap<Period, (Rule, String)> {
    let mut periods: Vec<Period> = expired.into_iter().collect();
    periods.sort();
    periods.dedup();
    let mut rules = [
        (Rule::Daily, thin.daily, None::<String>),
        (Rule::Weekly, thin.weekly, None),
        (Rule::Monthly, thin.monthly, None),
        (Rule::Yearly, thin.yearly, None),
    ];
    let mut kept = BTreeMap::new();
    for p in periods.into_iter().rev() {
        let day = clock::local_date(tz, p.start);
        let mut by = None;
        for (rule, left, last) in rules.iter_mut() {
            let b = rule.bucket(day);
            if *left > 0 && last.as_deref() != Some(b.as_str()) {
                *left -= 1;
                *last = Some(b.clone());
                by.get_or_insert((*rule, b));
            }
        }
        if let Some(by) = by {
            kept.insert(p, by);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn day(d: NaiveDate) -> Period {
        let s = d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp();
        Period { start: s, end: s + 86400 }
    }

    #[test]
    fn restics_rule_over_daily_partitions() {
        // 120 days back from Friday 12 July 2024 (exclusive), all expired.
        let end = NaiveDate::from_ymd_opt(2024, 7, 12).unwrap();
        let days: Vec<NaiveDate> = (1..=120).map(|i| end - chrono::Days::new(i)).collect();
        let thin = Thin { daily: 7, weekly: 4, monthly: 3, yearly: 0 };
        let kept = keep(thin, days.iter().map(|d| day(*d)), Tz::UTC);
        let mut got: Vec<(String, &str, String)> = kept
            .iter()
            .map(|(p, (r, b))| (clock::local_date(Tz::UTC, p.start).to_string(), r.as_str(), b.clone()))
            .collect();
        got.sort();
        // Daily: the 11th back to the 5th. Weekly, each rule counting on its own: weeks
        // 28 (the 11th), 27 (the 7th), 26 (the 30th), 25 (the 23rd). Monthly: July (the
        // 11th), June (the 30th), May (the 31st).
        let dates: Vec<&str> = got.iter().map(|(d, _, _)| d.as_str()).collect();
        assert_eq!(
            dates,
            vec![
                "2024-05-31",
                "2024-06-23",
                "2024-06-30",
                "2024-07-05",
                "2024-07-06",
                "2024-07-07",
                "2024-07-08",
                "2024-07-09",
                "2024-07-10",
                "2024-07-11"
            ]
        );
        let reason = |d: &str| got.iter().find(|g| g.0 == d).map(|g| format!("{} {}", g.1, g.2)).unwrap();
        assert_eq!(reason("2024-07-11"), "daily 2024-07-11");
        assert_eq!(reason("2024-06-30"), "weekly 2024-W26");
        assert_eq!(reason("2024-05-31"), "monthly 2024-05");
    }
}
