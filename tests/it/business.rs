//! Business-day retention (`keep: N bd`, weekday and NYSE calendars) and daylight-saving
//! days, planned and applied on real trees.

use crate::support::*;

/// Plans `days` (one file in each `YYYY-MM-DD/` partition) and returns `(date, action)`.
fn plan_days(days: &[&str], keep: &str, extra: &str, now: &str) -> Vec<(String, String)> {
    let t = Tree::new();
    for d in days {
        t.file(&format!("{d}/x.csv"));
    }
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], keep, extra));
    let done = t.sweep("plan", &p, now).args(["--format", "json"]).code(0);
    done.actions(&t.root).into_iter().map(|(path, a)| (path.trim_end_matches("/x.csv").to_string(), a)).collect()
}

#[test]
fn monday_keep_1bd_deletes_friday_and_the_weekend() {
    let got = plan_days(
        &["2024-07-11", "2024-07-12", "2024-07-13", "2024-07-14", "2024-07-15"],
        "1bd",
        "timezone: America/New_York",
        "2024-07-15T06:00:00-04:00",
    );
    assert_eq!(
        got,
        pairs(&[
            ("2024-07-11", "delete"),
            ("2024-07-12", "delete"),
            ("2024-07-13", "delete"),
            ("2024-07-14", "delete"),
            ("2024-07-15", "keep")
        ])
    );
}

#[test]
fn saturday_keep_1bd_keeps_friday() {
    let got = plan_days(&["2024-07-11", "2024-07-12", "2024-07-13"], "1bd", "", "2024-07-13T09:00:00Z");
    assert_eq!(got, pairs(&[("2024-07-11", "delete"), ("2024-07-12", "keep"), ("2024-07-13", "keep")]));
}

#[test]
fn day_after_thanksgiving_on_the_nyse_calendar() {
    // Friday 2024-11-29: business days back are Fri 29 and Wed 27 (Thu 28 is Thanksgiving).
    let days = ["2024-11-26", "2024-11-27", "2024-11-28", "2024-11-29"];
    let nyse = plan_days(&days, "2bd", "calendar: nyse", "2024-11-29T18:00:00Z");
    assert_eq!(
        nyse,
        pairs(&[("2024-11-26", "delete"), ("2024-11-27", "keep"), ("2024-11-28", "keep"), ("2024-11-29", "keep")])
    );
    // Plain weekdays count Thursday as a business day.
    let weekdays = plan_days(&days, "2bd", "", "2024-11-29T18:00:00Z");
    assert_eq!(weekdays[1], ("2024-11-27".into(), "delete".into()));
}

#[test]
fn monday_after_good_friday_on_the_nyse_calendar() {
    // Good Friday 2024-03-29: from Monday 2024-04-01, two business days are Apr 1 and Mar 28.
    let days = ["2024-03-27", "2024-03-28", "2024-03-29", "2024-03-30", "2024-03-31", "2024-04-01"];
    let got = plan_days(&days, "2bd", "calendar: nyse\ntimezone: America/New_York", "2024-04-01T07:00:00-04:00");
    assert_eq!(
        got,
        pairs(&[
            ("2024-03-27", "delete"),
            ("2024-03-28", "keep"),
            ("2024-03-29", "keep"),
            ("2024-03-30", "keep"),
            ("2024-03-31", "keep"),
            ("2024-04-01", "keep"),
        ])
    );
}

#[test]
fn listed_holidays_are_skipped_and_explain_says_why() {
    let t = Tree::new();
    let p = t.policy(&one_policy(
        &["%Y-%m-%d/**"],
        "1bd",
        "calendar: nyse\nholidays: [2025-01-09]\ntimezone: America/New_York",
    ));
    // Friday 2025-01-10, keep 2bd: Fri 10, then Thu 9 is a listed closure, so Wed 8.
    let p2 = t.policy_named("two.yaml", &std::fs::read_to_string(&p).unwrap().replace("keep: 1bd", "keep: 2bd"));
    let out = Sweep::new()
        .args(["explain", "--now", "2025-01-10T08:00:00-05:00", "-c"])
        .arg(&p2)
        .arg(t.path("2025-01-07/x.csv"))
        .code(0)
        .stdout();
    assert!(out.contains("business day Wed 2025-01-08; skipped Thu 2025-01-09 (listed in holidays)"), "{out}");
    assert!(out.contains("decision  delete"), "{out}");
    let text = t.sweep("plan", &p2, "2025-01-10T08:00:00-05:00").code(0).stdout();
    assert!(text.contains("business day Wed 2025-01-08"), "{text}");
}

/// Plans hourly partitions `dt=DATE/hour=HH/x` and returns `(partition, action)`.
fn plan_hours(parts: &[&str], keep: &str, tz: &str, now: &str) -> Vec<(String, String)> {
    let t = Tree::new();
    for p in parts {
        t.file(&format!("{p}/x"));
    }
    let policy =
        t.policy(&one_policy(&["dt=%Y-%m-%d/hour=%H/*"], keep, &format!("timezone: {tz}\non_unmatched: warn")));
    let done = t.sweep("plan", &policy, now).args(["--format", "json"]).code(0);
    done.actions(&t.root).into_iter().map(|(path, a)| (path.trim_end_matches("/x").to_string(), a)).collect()
}

#[test]
fn new_york_spring_forward_hour_does_not_exist() {
    let got = plan_hours(
        &["dt=2024-03-10/hour=01", "dt=2024-03-10/hour=02", "dt=2024-03-10/hour=03"],
        "1h",
        "America/New_York",
        "2024-03-10T03:30:00-04:00",
    );
    assert_eq!(
        got,
        pairs(&[
            ("dt=2024-03-10/hour=01", "delete"),
            ("dt=2024-03-10/hour=02", "unmatched"),
            ("dt=2024-03-10/hour=03", "keep")
        ])
    );
    let t = Tree::new();
    t.file("dt=2024-03-10/hour=02/x");
    let p = t.policy(&one_policy(&["dt=%Y-%m-%d/hour=%H/*"], "1h", "timezone: America/New_York"));
    let done = t.sweep("plan", &p, "2024-03-10T12:00:00-04:00").args(["--format", "json"]).code(7);
    let line = done.json().into_iter().find(|l| l["action"] == "unmatched").unwrap();
    assert!(line["reason"].as_str().unwrap().contains("does not exist in America/New_York"), "{line}");
}

#[test]
fn new_york_fall_back_repeated_hour_expires_after_its_later_occurrence() {
    let parts = ["dt=2024-11-03/hour=00", "dt=2024-11-03/hour=01", "dt=2024-11-03/hour=02"];
    // 01:30 EST is the second 01:30 of the day; keep 1h: cutoff 01:00 EST (06:00Z).
    let got = plan_hours(&parts, "1h", "America/New_York", "2024-11-03T01:30:00-05:00");
    assert_eq!(got[0].1, "delete");
    assert_eq!(got[1].1, "keep", "hour 01 is not over until 02:00 EST");
    // At 02:10 EST the later 01:00–02:00 has ended.
    let got = plan_hours(&parts, "1h", "America/New_York", "2024-11-03T02:10:00-05:00");
    assert_eq!(got[1].1, "delete");
    assert_eq!(got[2].1, "keep");
    // Three real hours at 02:30 EST reach back to 01:00 EDT, not 00:00 EDT.
    let got = plan_hours(&parts, "3h", "America/New_York", "2024-11-03T02:30:00-05:00");
    assert_eq!(got[0].1, "delete");
    assert_eq!(got[1].1, "keep");
}

#[test]
fn london_change_days() {
    // Spring: 01:00–02:00 GMT on 2024-03-31 is skipped.
    let got = plan_hours(
        &["dt=2024-03-31/hour=00", "dt=2024-03-31/hour=01", "dt=2024-03-31/hour=02"],
        "2h",
        "Europe/London",
        "2024-03-31T03:00:00+01:00",
    );
    assert_eq!(
        got,
        pairs(&[
            ("dt=2024-03-31/hour=00", "delete"),
            ("dt=2024-03-31/hour=01", "unmatched"),
            ("dt=2024-03-31/hour=02", "keep")
        ])
    );
    // Autumn: 01:00–02:00 on 2024-10-27 happens twice (BST, then GMT).
    let got = plan_hours(
        &["dt=2024-10-27/hour=00", "dt=2024-10-27/hour=01"],
        "1h",
        "Europe/London",
        "2024-10-27T01:30:00+00:00",
    );
    assert_eq!(got, pairs(&[("dt=2024-10-27/hour=00", "delete"), ("dt=2024-10-27/hour=01", "keep")]));
}

#[test]
fn days_on_change_days_run_midnight_to_midnight() {
    for (tz, day, next_noon) in [
        ("America/New_York", "2024-03-10", "2024-03-11T00:30:00-04:00"),
        ("America/New_York", "2024-11-03", "2024-11-04T00:30:00-05:00"),
        ("Europe/London", "2024-03-31", "2024-04-01T00:30:00+01:00"),
        ("Europe/London", "2024-10-27", "2024-10-28T00:30:00+00:00"),
    ] {
        let got = plan_days(&[day], "1d", &format!("timezone: {tz}"), next_noon);
        assert_eq!(got[0].1, "delete", "{tz} {day} has ended by {next_noon}");
        // One minute before its local midnight it is still today.
        let before = chrono::DateTime::parse_from_rfc3339(next_noon).unwrap() - chrono::Duration::minutes(31);
        let got = plan_days(&[day], "1d", &format!("timezone: {tz}"), &before.to_rfc3339());
        assert_eq!(got[0].1, "keep", "{tz} {day} at {before}");
    }
}

#[test]
fn kolkata_half_hour_offset() {
    // 20:00Z on the 12th is 01:30 on the 13th in Kolkata (+05:30).
    let got = plan_days(&["2024-07-12", "2024-07-13"], "1d", "timezone: Asia/Kolkata", "2024-07-12T20:00:00Z");
    assert_eq!(got, pairs(&[("2024-07-12", "delete"), ("2024-07-13", "keep")]));
    let got = plan_days(&["2024-07-12"], "1d", "timezone: Asia/Kolkata", "2024-07-12T18:29:00Z");
    assert_eq!(got[0].1, "keep", "23:59 in Kolkata");
    let got =
        plan_hours(&["dt=2024-07-13/hour=00", "dt=2024-07-13/hour=01"], "1h", "Asia/Kolkata", "2024-07-12T20:00:00Z");
    assert_eq!(got, pairs(&[("dt=2024-07-13/hour=00", "delete"), ("dt=2024-07-13/hour=01", "keep")]));
}
