//! Property tests over random trees, policies and `--now`: sweep never deletes a file
//! whose period ends after the cutoff, every file lands in exactly one bucket (the one an
//! independent computation expects, guards included) and the counts add up, `plan`
//! predicts `apply` exactly, and with two policies over one tree no policy touches a file
//! it does not own, while `explain` agrees with the walk on every file.

use std::collections::{BTreeMap, BTreeSet};

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

/// The newest `n` distinct periods among `periods` (what `keep_last` protects).
fn newest(
    periods: impl Iterator<Item = (NaiveDateTime, NaiveDateTime)>,
    n: u32,
) -> BTreeSet<(NaiveDateTime, NaiveDateTime)> {
    let all: BTreeSet<_> = periods.collect();
    all.into_iter().rev().take(n as usize).collect()
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
        // max_future (1d by default): a period starting later than that is unmatched, and
        // counts for nothing, not even as one of the newest.
        let future = |p: &(NaiveDateTime, NaiveDateTime)| p.0 > now + Duration::days(1);
        let protected = newest(expected.values().flatten().copied().filter(|p| !future(p)), keep_last);
        let excluded = |path: &str| exclude && path.ends_with("part-0.csv");

        let plan = t.sweep("plan", &p, &now_arg).args(["--format", "json"]).code(0);
        let planned = plan.actions(&t.root);
        // Every file exactly once, and nothing else.
        let names: Vec<&String> = planned.iter().map(|(p, _)| p).collect();
        prop_assert_eq!(names, expected.keys().collect::<Vec<_>>());
        let files = &plan.summary()["policies"][0]["files"];
        let total: u64 = ["delete", "keep", "protect", "unmatched", "error"].iter().map(|k| files[k].as_u64().unwrap()).sum();
        prop_assert_eq!(total, expected.len() as u64);
        for (path, action) in &planned {
            let period = expected[path];
            let a = action.as_str();
            match period {
                _ if excluded(path) => prop_assert_eq!(a, "protect", "{}: excluded", path),
                None => prop_assert_eq!(a, "unmatched", "{}", path),
                Some(p) if future(&p) => prop_assert_eq!(a, "unmatched", "{}: dated in the future", path),
                Some((_, end)) if end > cutoff => prop_assert_eq!(a, "keep", "{}: ends {} after cutoff {}", path, end, cutoff),
                Some(p) if protected.contains(&p) => prop_assert_eq!(a, "protect", "{}: among the newest {}", path, keep_last),
                Some(_) => prop_assert_eq!(a, "delete", "{}: expired, no guard", path),
            }
        }

        let apply = t.sweep("apply", &p, &now_arg).args(["--format", "json"]).code(0);
        prop_assert_eq!(&apply.actions(&t.root), &planned, "plan predicts apply");
        let left: Vec<String> = planned.iter().filter(|(_, a)| a != "delete").map(|(p, _)| p.clone()).collect();
        prop_assert_eq!(t.listing(), left);
    }

    /// Two policies over one tree, nested or sharing a root: every file is reported by its
    /// owner only, no policy deletes another's file, and `explain` agrees with `apply` on
    /// every file.
    #[test]
    fn two_policies_never_delete_each_others_files(
        specs in prop::collection::vec(spec(), 1..30),
        inner in prop::collection::vec(any::<bool>(), 30),
        shared in any::<bool>(),
        keeps in (1u32..4, 1u32..4),
        now_hour in 0u32..24,
    ) {
        let today = NaiveDate::from_ymd_opt(2024, 7, 12).unwrap();
        let now = today.and_hms_opt(now_hour, 30, 0).unwrap();
        let t = Tree::new();
        t.dir_("inner");
        let mut owner: BTreeMap<String, &str> = BTreeMap::new();
        for (i, s) in specs.iter().enumerate() {
            let (path, _) = place(s, today);
            let (path, who) = if shared {
                // alpha: the daily layouts, beta: the hourly one; unmatched files are alpha's.
                (path.clone(), if path.starts_with("hourly/") { "beta" } else { "alpha" })
            } else if inner[i] {
                (format!("inner/{path}"), "beta")
            } else {
                (path, "alpha")
            };
            t.file(&path);
            owner.insert(path, who);
        }
        let policy = if shared {
            format!(
                "version: 1\ndefaults:\n  timezone: UTC\n  on_unmatched: warn\npolicies:\n  - name: alpha\n    root: {{root}}\n    layouts: ['%Y-%m-%d/**']\n    keep: {}d\n  - name: beta\n    root: {{root}}\n    layouts: ['hourly/%Y%m%d-%H-*.log']\n    keep: {}d\n",
                keeps.0, keeps.1
            )
        } else {
            format!(
                "version: 1\ndefaults:\n  timezone: UTC\n  on_unmatched: warn\npolicies:\n  - name: alpha\n    root: {{root}}\n    layouts: ['%Y-%m-%d/**', 'hourly/%Y%m%d-%H-*.log']\n    keep: {}d\n  - name: beta\n    root: {{root}}/inner\n    layouts: ['%Y-%m-%d/**', 'hourly/%Y%m%d-%H-*.log']\n    keep: {}d\n",
                keeps.0, keeps.1
            )
        };
        let p = t.policy(&policy);
        let now_arg = format!("{}Z", now.format("%Y-%m-%dT%H:%M:%S"));

        let plan = t.sweep("plan", &p, &now_arg).args(["--format", "json"]).code(0);
        let prefix = format!("{}/", t.root.display());
        let mut planned: BTreeMap<String, String> = BTreeMap::new();
        for l in plan.json().into_iter().filter(|l| l["type"] == "file") {
            let path = l["path"].as_str().unwrap().strip_prefix(&prefix).unwrap().to_string();
            prop_assert_eq!(l["policy"].as_str().unwrap(), owner[&path], "{} reported by its owner", path);
            prop_assert!(planned.insert(path.clone(), l["action"].as_str().unwrap().to_string()).is_none(), "{} twice", path);
        }
        prop_assert_eq!(planned.len(), owner.len(), "every file once");

        // explain, deciding each path alone, agrees with the walk.
        let mut e = Sweep::new();
        e.args(["explain", "--format", "json", "--now", &now_arg, "-c"]).arg(&p);
        for path in owner.keys() {
            e.arg(t.path(path));
        }
        let explained = e.code(0);
        for l in explained.json() {
            let path = l["path"].as_str().unwrap().strip_prefix(&prefix).unwrap().to_string();
            let d = &l["decisions"][0];
            prop_assert_eq!(d["policy"].as_str().unwrap(), owner[&path], "explain's owner of {}", path);
            prop_assert_eq!(d["action"].as_str().unwrap(), planned[&path].as_str(), "explain agrees on {}", path);
        }

        t.sweep("apply", &p, &now_arg).code(0);
        let left: Vec<String> = planned.iter().filter(|(_, a)| *a != "delete").map(|(p, _)| p.clone()).collect();
        prop_assert_eq!(t.listing(), left);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 30, max_shrink_iters: 20, ..ProptestConfig::default() })]

    /// Capacity (`max_bytes`, on an ordinary directory): never a file inside `keep_min`,
    /// whole partitions, always the oldest kept ones first, and plan predicts apply.
    #[test]
    fn capacity_takes_the_oldest_partitions_outside_keep_min(
        parts in prop::collection::vec((0i64..20, 1usize..4, 1usize..2000), 1..25),
        keep in 1u32..15,
        keep_min in 1u32..10,
        cap in 0u64..40_000,
    ) {
        let today = NaiveDate::from_ymd_opt(2024, 7, 12).unwrap();
        let t = Tree::new();
        for (back, files, size) in &parts {
            let d = today - Duration::days(*back);
            for f in 0..*files {
                t.file_sized(&format!("{}/f{f}", d.format("%Y-%m-%d")), *size);
            }
        }
        let p = t.policy(&one_policy(&["%Y-%m-%d/**"], &format!("{keep}d"), &format!("max_bytes: {cap}\nkeep_min: {keep_min}d")));
        let now = "2024-07-12T12:00:00Z";
        let plan = t.sweep("plan", &p, now).args(["--format", "json"]).output();
        let code = plan.out.status.code().unwrap();
        prop_assert!(code == 0 || code == 8, "exit {}", code);
        let floor = today - Duration::days(i64::from(keep_min) - 1);
        let cutoff = today - Duration::days(i64::from(keep) - 1);
        // Partitions by day: which went for space, which stayed kept.
        let mut space: BTreeSet<NaiveDate> = BTreeSet::new();
        let mut kept: BTreeSet<NaiveDate> = BTreeSet::new();
        for l in plan.json().into_iter().filter(|l| l["type"] == "file") {
            let day = NaiveDate::parse_from_str(l["date"].as_str().unwrap(), "%Y-%m-%d").unwrap();
            let reason = l["reason"].as_str().unwrap();
            if reason.starts_with("for space") {
                prop_assert!(day < floor, "{} went for space inside keep_min ({})", day, floor);
                prop_assert!(day >= cutoff, "{} was expired anyway", day);
                space.insert(day);
            } else if l["action"] == "keep" {
                kept.insert(day);
            }
        }
        prop_assert!(space.is_disjoint(&kept), "whole partitions: {:?} vs {:?}", space, kept);
        // Oldest first: no kept partition outside the floor is older than one that went.
        if let Some(newest_gone) = space.iter().next_back() {
            let older_kept: Vec<_> = kept.iter().filter(|d| *d < newest_gone && **d < floor).collect();
            prop_assert!(older_kept.is_empty(), "kept {:?} while {} went", older_kept, newest_gone);
        }
        // And exit 8 exactly when the floor stopped it.
        let met = plan.summary()["policies"][0]["capacity"]["met"].as_bool().unwrap();
        prop_assert_eq!(code == 8, !met);
        let apply = t.sweep("apply", &p, now).args(["--format", "json"]).output();
        prop_assert_eq!(apply.out.status.code(), Some(code));
        prop_assert_eq!(apply.actions(&t.root), plan.actions(&t.root), "plan predicts apply");
    }
}
