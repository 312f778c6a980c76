//! `Classifier::classify` as a table: one policy, one file, the bucket and the rule that
//! decided it — especially which rule wins when several apply.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::TimeZone;

use super::*;
use crate::tree::local::open::Holder;

/// The instant every case is evaluated at: 2024-07-12 12:00 UTC. With `keep: 7d` the
/// cutoff is 2024-07-06 00:00, so 2024-07-05 is expired and 2024-07-06 is kept.
const NOW: i64 = 1_720_785_600;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// A policy at `/data` with `layouts: ['%Y-%m-%d/*']`, `keep: 7d` and `extra` keys.
fn policy(extra: &str) -> Policy {
    policy_with("['%Y-%m-%d/*']", extra)
}

fn policy_with(layouts: &str, extra: &str) -> Policy {
    let text = format!(
        "version: 1\npolicies:\n  - name: t\n    root: /data\n    timezone: UTC\n    layouts: {layouts}\n    keep: 7d\n{extra}"
    );
    let (set, problems) = crate::policy::load_text(Path::new("case.yaml"), text.as_bytes());
    assert!(problems.is_empty(), "{problems:?}\n{text}");
    set.policies.into_iter().next().unwrap()
}

/// One file to classify: its path below the root, kind, mtime and inode.
struct File<'a> {
    rel: &'a str,
    kind: Kind,
    mtime: i64,
    ino: u64,
}

fn file(rel: &str) -> File<'_> {
    File { rel, kind: Kind::File, mtime: NOW - 30 * DAY, ino: 1 }
}

/// The verdict for `f` under `p`, with `overrides` and `open` in force.
fn verdict(p: &Policy, f: &File, overrides: BTreeMap<Period, Override>, open: Option<&OpenFiles>) -> (Action, String) {
    let at = chrono_tz::UTC.timestamp_opt(NOW, 0).unwrap();
    let cutoff = clock::cutoff(p.keep, at, &p.calendar);
    let mut c = Classifier::new(p, &cutoff, at, open);
    c.set_overrides(overrides);
    let mut dir = c.root();
    let parts: Vec<&str> = f.rel.split('/').collect();
    let (name, dirs) = parts.split_last().unwrap();
    let mut rel = String::new();
    for d in dirs {
        if !rel.is_empty() {
            rel.push('/');
        }
        rel.push_str(d);
        dir = c.enter(&dir, d.as_bytes(), rel.as_bytes());
    }
    let path = format!("/data/{}", f.rel);
    let e = Entry {
        path: path.as_bytes(),
        rel: f.rel.as_bytes(),
        name: name.as_bytes(),
        kind: f.kind,
        size: 10,
        allocated: 4096,
        links: 1,
        mtime: f.mtime,
        dev: 7,
        ino: f.ino,
    };
    let v = c.classify(&dir, &e);
    (v.action, rule(&v.reason).to_string())
}

/// The rule a reason names.
fn rule(r: &Reason) -> &'static str {
    match r {
        Reason::Expired => "expired",
        Reason::Current => "current",
        Reason::MtimeExpired(_) => "mtime-expired",
        Reason::MtimeCurrent(_) => "mtime-current",
        Reason::Excluded(_) => "excluded",
        Reason::KeepLast => "keep_last",
        Reason::MinAge(_) => "min_age",
        Reason::Open(_) => "open",
        Reason::ForSpace => "for-space",
        Reason::Thinned(..) => "thinned",
        Reason::Compress => "compress",
        Reason::Archive => "archive",
        Reason::NoLayout => "no-layout",
        Reason::BadDate(_) => "bad-date",
        Reason::Implausible => "implausible",
        Reason::Future => "future",
        Reason::Table(_) => "table",
        Reason::MarkerStays(_) => "marker-stays",
        Reason::Untrusted(_) => "untrusted",
    }
}

/// The day period of `date` (UTC).
fn day(date: &str) -> Period {
    let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    let start = d.and_time(NaiveTime::MIN).and_utc().timestamp();
    Period { start, end: start + DAY }
}

/// A case: what it shows, the policy, the file, the whole-tree decisions, the open
/// files, and the bucket and rule expected.
type Case<'a> = (&'a str, &'a Policy, File<'a>, BTreeMap<Period, Override>, Option<&'a OpenFiles>, Action, &'a str);

fn none() -> BTreeMap<Period, Override> {
    BTreeMap::new()
}

fn only(date: &str, o: Override) -> BTreeMap<Period, Override> {
    BTreeMap::from([(day(date), o)])
}

#[test]
fn the_rules_of_one_file_and_which_wins() {
    let plain = policy("");
    let guarded = policy("    min_age: 1h\n");
    let excluding = policy("    exclude: ['**/keep-*', '2024-07-01']\n");
    let tiers = policy(
        "    compress: {after: 2d, format: zstd}\n    archive: {after: 4d, to: /archive}\n    markers: ['_SUCCESS']\n",
    );
    let by_mtime = policy_with("['logs/*.log']", "    date_from: mtime\n");
    let thinned = Override { thinned: Some((Rule::Weekly, "2024-W27".into())), ..Override::default() };
    let keep_last = Override { keep_last: true, ..Override::default() };
    let space = |place: &str| Override { for_space: vec![place.as_bytes().into()], ..Override::default() };
    let mut held = OpenFiles::default();
    held.hold(7, 99, Holder { pid: 42, command: "writer".into() });
    let young = NOW - HOUR / 2;

    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        // The cutoff: the period's end decides, not the file's mtime.
        ("expired",                     &plain, file("2024-07-05/a"), none(), None, Action::Delete, "expired"),
        ("kept",                        &plain, file("2024-07-06/a"), none(), None, Action::Keep, "current"),
        ("expired, written today",      &plain, File { mtime: NOW, ..file("2024-07-05/a") }, none(), None, Action::Delete, "expired"),
        // What matches no partition is unmatched, with why.
        ("no layout",                   &plain, file("staging/a"), none(), None, Action::Unmatched, "no-layout"),
        ("a day that does not exist",   &plain, file("2024-02-30/a"), none(), None, Action::Unmatched, "bad-date"),
        ("before min_date",             &plain, file("1999-12-31/a"), none(), None, Action::Unmatched, "implausible"),
        ("after now + max_future",      &plain, file("2024-07-14/a"), none(), None, Action::Unmatched, "future"),
        ("within max_future",           &plain, file("2024-07-13/a"), none(), None, Action::Keep, "current"),
        // exclude wins over every other rule, also over a date sweep cannot believe.
        ("excluded file, expired",      &excluding, file("2024-07-05/keep-a"), none(), None, Action::Protect, "excluded"),
        ("excluded directory",          &excluding, file("2024-07-01/a"), none(), None, Action::Protect, "excluded"),
        ("excluded, in the future",     &excluding, file("2099-01-01/keep-a"), none(), None, Action::Protect, "excluded"),
        ("excluded, no layout",         &excluding, file("staging/keep-a"), none(), None, Action::Protect, "excluded"),
        // Whole-tree decisions: keep_last before min_age, thinning keeps, space deletes
        // a kept partition only at its place.
        ("keep_last",                   &plain, file("2024-07-05/a"), only("2024-07-05", keep_last.clone()), None, Action::Protect, "keep_last"),
        ("keep_last over min_age",      &guarded, File { mtime: young, ..file("2024-07-05/a") }, only("2024-07-05", keep_last), None, Action::Protect, "keep_last"),
        ("thinned",                     &plain, file("2024-07-05/a"), only("2024-07-05", thinned.clone()), None, Action::Keep, "thinned"),
        ("thinned, then archived",      &tiers, file("2024-07-05/a"), only("2024-07-05", thinned), None, Action::Move, "archive"),
        ("for space at its place",      &plain, file("2024-07-08/a"), only("2024-07-08", space("2024-07-08")), None, Action::Delete, "for-space"),
        ("for space elsewhere",         &plain, file("2024-07-08/a"), only("2024-07-08", space("other")), None, Action::Keep, "current"),
        ("for space, but young",        &guarded, File { mtime: young, ..file("2024-07-08/a") }, only("2024-07-08", space("2024-07-08")), None, Action::Protect, "min_age"),
        // A file's own state: min_age before skip_open; both protect from tiers too.
        ("young",                       &guarded, File { mtime: young, ..file("2024-07-05/a") }, none(), None, Action::Protect, "min_age"),
        ("old enough",                  &guarded, File { mtime: NOW - 2 * HOUR, ..file("2024-07-05/a") }, none(), None, Action::Delete, "expired"),
        ("open",                        &plain, File { ino: 99, ..file("2024-07-05/a") }, none(), Some(&held), Action::Protect, "open"),
        ("open and young",              &guarded, File { ino: 99, mtime: young, ..file("2024-07-05/a") }, none(), Some(&held), Action::Protect, "min_age"),
        ("open, not a file",            &plain, File { ino: 99, kind: Kind::Symlink, ..file("2024-07-05/a") }, none(), Some(&held), Action::Delete, "expired"),
        // Tiers: delete wins over archive, archive over compress; markers and compressed
        // names are not compressed; only files take a tier.
        ("expired beats archive",       &tiers, file("2024-07-05/a"), none(), None, Action::Delete, "expired"),
        ("archive over compress",       &tiers, file("2024-07-08/a"), none(), None, Action::Move, "archive"),
        ("compress",                    &tiers, file("2024-07-10/a"), none(), None, Action::Compress, "compress"),
        ("too new for a tier",          &tiers, file("2024-07-11/a"), none(), None, Action::Keep, "current"),
        ("compressed already",          &tiers, file("2024-07-10/a.zst"), none(), None, Action::Keep, "current"),
        ("a marker is not compressed",  &tiers, file("2024-07-10/_SUCCESS"), none(), None, Action::Keep, "current"),
        ("a symlink takes no tier",     &tiers, File { kind: Kind::Symlink, ..file("2024-07-10/a") }, none(), None, Action::Keep, "current"),
        ("open, not compressed",        &tiers, File { ino: 99, ..file("2024-07-10/a") }, none(), Some(&held), Action::Protect, "open"),
        // date_from: mtime: the layout says which files, the mtime when.
        ("mtime, old",                  &by_mtime, File { mtime: NOW - 8 * DAY, ..file("logs/a.log") }, none(), None, Action::Delete, "mtime-expired"),
        ("mtime, new",                  &by_mtime, File { mtime: NOW - DAY, ..file("logs/a.log") }, none(), None, Action::Keep, "mtime-current"),
        ("mtime, no layout",            &by_mtime, file("logs/a.txt"), none(), None, Action::Unmatched, "no-layout"),
    ];
    let mut wrong = Vec::new();
    for (what, p, f, overrides, open, action, rule) in cases {
        let got = verdict(p, &f, overrides, open);
        if got != (action, rule.to_string()) {
            wrong.push(format!("{what} ({}): expected {action} by {rule}, got {} by {}", f.rel, got.0, got.1));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_partition_place_is_the_directory_that_completed_the_date() {
    // `%Y/%m/%d/*`: the date is settled at the third directory, so two files of one day in
    // different sub-directories share one place.
    let p = policy_with("['%Y/%m/%d/**']", "");
    let at = chrono_tz::UTC.timestamp_opt(NOW, 0).unwrap();
    let cutoff = clock::cutoff(p.keep, at, &p.calendar);
    let mut c = Classifier::new(&p, &cutoff, at, None);
    let mut dir = c.root();
    let mut rel = String::new();
    for d in ["2024", "07", "05", "hour=01"] {
        if !rel.is_empty() {
            rel.push('/');
        }
        rel.push_str(d);
        dir = c.enter(&dir, d.as_bytes(), rel.as_bytes());
    }
    let e = Entry {
        path: b"/data/2024/07/05/hour=01/a",
        rel: b"2024/07/05/hour=01/a",
        name: b"a",
        kind: Kind::File,
        size: 1,
        allocated: 0,
        links: 1,
        mtime: NOW,
        dev: 1,
        ino: 1,
    };
    let v = c.classify(&dir, &e);
    assert_eq!((v.action, v.place, v.date.as_deref()), (Action::Delete, 3, Some("2024-07-05")));
    assert_eq!(place_of(e.rel, v.place), b"2024/07/05");
}

#[test]
fn places_are_leading_components() {
    assert_eq!(place_of(b"a/2024-07-11/x/y.csv", 2), b"a/2024-07-11");
    assert_eq!(place_of(b"a/b.csv", 1), b"a");
    assert_eq!(place_of(b"b.csv", 0), b"");
}
