//! Property tests over random trees, policies and `--now`: sweep never deletes a file
//! whose period ends after the cutoff, every file lands in exactly one bucket and the
//! counts add up, and `plan` predicts `apply` exactly.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use proptest::prelude::*;

use crate::support::*;

/// One generated file: which layout family, a date offset in days from `now`, an hour,
/// and a name.
#[derive(Debug, Clone)]
struct Spec {
    family: u8,
    day: i64,
    hour: u32,
    name: u8,
}

fn spec() -> impl Strategy<Value = Spec> {
    (0u8..4, -12i64..3, 0u32..24, 0u8..6).prop_map(|(family, day, hour, name)| Spec { family, day, hour, name })
}

/// The path of a spec, and the start and end of its period (None: unmatched).
fn place(s: &Spec, today: NaiveDate) -> (String, Option<(NaiveDateTime, NaiveDateTime)>) {
    let d = today + Duration::days(s.day);
    let day = d.and_hms_opt(0, 0, 0).map(|start| (start, start + Duration::days(1)));
    match s.family {
        0 => (format!("{}/part-{}.csv", d.format("%Y-%m-%d"), s.name), day),
        1 => (format!("{}/deep/er/x{}.bin", d.format("%Y-%m-%d"), s.name), day),
        2 => {
            let start = d.and_hms_opt(s.hour, 0, 0).unwrap();
            (
                format!("hourly/{}-{:02}-{}.log", d.format("%Y%m%d"), s.hour, s.name),
                Some((start, start + Duration::hours(1))),
            )
        }
        _ => (format!("staging/{}-{}.tmp", d.format("%Y%m%d"), s.name), None),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, max_shrink_iters: 20, ..ProptestConfig::default() })]

    #[test]
    fn buckets_cutoff_and_plan_predicts_apply(
        specs in prop::collection::vec(spec(), 1..40),
        now_hour in 0u32..24,
        keep in 1u32..5,
        hours in any::<bool>(),
        keep_last in 0u32..3,
        exclude in any::<bool>(),
    ) {
        let today = NaiveDate::from_ymd_opt(2024, 7, 12).unwrap();
        let now = today.and_hms_opt(now_hour, 30, 0).unwrap();
        let (cutoff, keep_text) = if hours {
            (now.date().and_hms_opt(now_hour, 0, 0).unwrap() - Duration::hours(i64::from(keep) - 1), format!("{keep}h"))
        } else {
            ((today - Duration::days(i64::from(keep) - 1)).and_hms_opt(0, 0, 0).unwrap(), format!("{keep}d"))
        };
        let t = Tree::new();
        let mut expected: BTreeMap<String, Option<(NaiveDateTime, NaiveDateTime)>> = BTreeMap::new();
        for s in &specs {
            let (path, end) = place(s, today);
            t.file(&path);
            expected.insert(path, end);
        }
        let extra = format!(
            "keep_last: {keep_last}\non_unmatched: warn\n{}",
            if exclude { "exclude: ['**/part-0.csv']" } else { "" }
        );
        let p = t.policy(&one_policy(&["%Y-%m-%d/**", "hourly/%Y%m%d-%H-*.log"], &keep_text, &extra));
        let now_arg = format!("{}Z", now.format("%Y-%m-%dT%H:%M:%S"));

        let plan = t.sweep("plan", &p, &now_arg).args(["--format", "json"]).code(0);
        let planned = plan.actions(&t.root);
        // Every file exactly once, and nothing else.
        let names: Vec<&String> = planned.iter().map(|(p, _)| p).collect();
        prop_assert_eq!(names, expected.keys().collect::<Vec<_>>());
        let files = &plan.summary()["policies"][0]["files"];
        let total: u64 = ["delete", "keep", "protect", "unmatched", "error"].iter().map(|k| files[k].as_u64().unwrap()).sum();
        prop_assert_eq!(total, expected.len() as u64);
        for (path, action) in &planned {
            // max_future (1d by default): a period starting later than that is unmatched.
            let future = expected[path].is_some_and(|(start, _)| start > now + Duration::days(1));
            let end = expected[path].map(|(_, end)| end);
            match (end, action.as_str()) {
                (None, a) => prop_assert!(a == "unmatched" || a == "protect", "{path}: {a}"),
                (Some(_), "unmatched") => prop_assert!(future, "{path}: unmatched but not dated in the future"),
                (Some(_), a) if future => prop_assert!(a == "protect" && exclude && path.ends_with("part-0.csv"), "{path}: dated in the future, but {a}"),
                (Some(end), "delete") => prop_assert!(end <= cutoff, "{path} ends {end}, after cutoff {cutoff}"),
                (Some(end), "keep") => prop_assert!(end > cutoff, "{path} ends {end}, expired at {cutoff} but kept"),
                (Some(end), "protect") => prop_assert!(
                    end <= cutoff || (exclude && path.ends_with("part-0.csv")),
                    "{path}: protect needs a guard"
                ),
                (_, a) => prop_assert!(false, "{path}: unexpected {a}"),
            }
        }

        let apply = t.sweep("apply", &p, &now_arg).args(["--format", "json"]).code(0);
        prop_assert_eq!(&apply.actions(&t.root), &planned, "plan predicts apply");
        let left: Vec<String> = planned.iter().filter(|(_, a)| a != "delete").map(|(p, _)| p.clone()).collect();
        prop_assert_eq!(t.listing(), left);
    }
}
