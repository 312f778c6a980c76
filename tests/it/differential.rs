//! plan ≡ apply ≡ explain, as a property: a model-based differential test over random
//! trees and random sets of policies that meet — nested and shared roots, a tier chain
//! that archives into another policy's root (loaded after it, or before; spelled as the
//! root is, or through a symlink to it), completion
//! markers, excludes, unmatched files, files held open, `min_age`, `keep_last`,
//! thinning, capacity, the `max_delete` forms (`auto` against a generated history in a
//! state directory of the case's own), `on_unmatched`, and table directories.
//!
//! For each case, on one tree that nothing else changes: `plan` prints file lines
//! (policy, path, action, reason, `to`), refusals and an exit code; `explain` of every
//! path `apply` will report gives the action `apply` takes on it; `apply` prints the same
//! file lines, refusals and exit code as `plan`. The three are compared, not checked
//! against a model of the rules (the property tests in `props.rs` do that): what is
//! tested here is that the whole run is one plan, however the features meet.
//!
//! Failing seeds are kept in `tests/proptest-regressions/differential.txt` and run first.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use chrono::{Duration, NaiveDate};
use proptest::prelude::*;
use serde_json::Value;

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 7, 12).unwrap()
}

/// Where a generated file lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The main policy's root, `a/`.
    Hot,
    /// A policy nested in it, `a/inner/`.
    Inner,
    /// A second policy at the same root, `a/logs/…`.
    Shared,
    /// The archive policy's root, `arch/`.
    Arch,
}

/// What a generated file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    Data,
    /// `_SUCCESS` in its partition.
    Marker,
    /// `keep-N.csv`, which an `exclude` names.
    Excluded,
    /// A name no layout matches.
    Stray,
    /// Compressed already.
    Zst,
    /// A file of a Delta table directory (`tbl/…`) in the root.
    Table,
}

#[derive(Debug, Clone)]
struct FileSpec {
    place: Place,
    what: What,
    /// Days back from today (negative: in the future).
    back: i64,
    hour: u32,
    n: u8,
    /// Minutes before now it was last written, for `min_age` (else: the end of its day).
    fresh: Option<u32>,
}

fn file_spec() -> impl Strategy<Value = FileSpec> {
    let place =
        prop_oneof![6 => Just(Place::Hot), 1 => Just(Place::Inner), 1 => Just(Place::Shared), 2 => Just(Place::Arch)];
    let what = prop_oneof![
        10 => Just(What::Data),
        2 => Just(What::Marker),
        1 => Just(What::Excluded),
        1 => Just(What::Stray),
        1 => Just(What::Zst),
        1 => Just(What::Table),
    ];
    (place, what, -1i64..40, 0u32..24, 0u8..3, prop::option::weighted(0.1, 1u32..120))
        .prop_map(|(place, what, back, hour, n, fresh)| FileSpec { place, what, back, hour, n, fresh })
}

/// The main policy's settings.
#[derive(Debug, Clone)]
struct Hot {
    hive: bool,
    keep: u32,
    markers: bool,
    exclude: bool,
    keep_last: u32,
    min_age: bool,
    /// 0: none, 1: a count, 2: a share, 3: a span, 4: auto.
    max_delete: (u8, u32),
    /// warn, refuse, fail.
    on_unmatched: u8,
    compress: Option<u32>,
    archive: Option<u32>,
    /// `max_bytes` (with `keep_min: 1d`).
    max_bytes: Option<u32>,
    skip_open: bool,
    /// The whole case on a tmpfs with this many KiB free once the tree is written (room
    /// for compression's temporaries), with `min_free` at this share.
    tmpfs: Option<(u32, u32)>,
}

fn hot() -> impl Strategy<Value = Hot> {
    (
        (any::<bool>(), 1u32..20, any::<bool>(), any::<bool>(), 0u32..3, prop::bool::weighted(0.2)),
        ((0u8..5, 1u32..40), 0u8..3, prop::option::of(1u32..10), prop::option::of(2u32..25)),
        (
            prop::option::weighted(0.25, 0u32..4000),
            prop::bool::weighted(0.8),
            prop::option::weighted(0.2, (16u32..256, 5u32..95)),
        ),
    )
        .prop_map(
            |(
                (hive, keep, markers, exclude, keep_last, min_age),
                (max_delete, on_unmatched, compress, archive),
                (max_bytes, skip_open, tmpfs),
            )| Hot {
                hive,
                // Validation: tiers come before expiry.
                keep: keep.max(archive.map_or(0, |a| a + 1)).max(compress.map_or(0, |c| c + 1)),
                markers,
                exclude,
                keep_last,
                min_age,
                max_delete,
                on_unmatched,
                compress,
                archive,
                max_bytes,
                skip_open,
                tmpfs,
            },
        )
}

/// The archive policy's settings (when the main policy archives).
#[derive(Debug, Clone)]
struct Arch {
    keep: u32,
    weekly: u32,
    /// 0: none, 1: a count, 2: a span.
    max_delete: (u8, u32),
    /// Loaded before the main policy, so it runs first.
    first: bool,
    /// The main policy's `archive.to` is spelled through a symlink to this root
    /// (`{dir}/alias -> arch`): the same root by identity.
    alias: bool,
}

fn arch() -> impl Strategy<Value = Arch> {
    (1u32..40, 0u32..4, (0u8..3, 1u32..20), any::<bool>(), prop::bool::weighted(0.3))
        .prop_map(|(keep, weekly, max_delete, first, alias)| Arch { keep, weekly, max_delete, first, alias })
}

#[derive(Debug, Clone)]
struct Case {
    hot: Hot,
    arch: Arch,
    inner: Option<u32>,
    shared: Option<u32>,
    files: Vec<FileSpec>,
    /// Indices of files the test holds open while the three commands run.
    held: Vec<usize>,
    /// The main policy's past applies (files, bytes), for `max_delete: auto`.
    history: Vec<(u64, u64)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        hot(),
        arch(),
        prop::option::of(1u32..10),
        prop::option::of(1u32..10),
        prop::collection::vec(file_spec(), 1..30),
        prop::collection::vec(0usize..30, 0..3),
        prop::collection::vec((1u64..20, 100u64..3000), 0..6),
    )
        .prop_map(|(hot, arch, inner, shared, files, held, history)| Case {
            hot,
            arch,
            inner,
            shared,
            files,
            held,
            history,
        })
}

fn max_delete(form: (u8, u32), files: bool) -> String {
    match form {
        (1, n) => format!("max_delete: {n}\n"),
        (2, n) if files => format!("max_delete: {}%\n", (n * 3).min(100)),
        (2, n) | (3, n) => format!("max_delete: {}d\n", n % 10 + 1),
        (4, n) if n % 3 == 0 => "max_delete: auto\n".to_string(),
        (4, n) => format!("max_delete: auto({}x)\n", n % 5 + 2),
        _ => String::new(),
    }
}

/// The policy file for a case.
fn policies(c: &Case) -> String {
    let h = &c.hot;
    let layout = if h.hive { "dt=%Y-%m-%d/hour=%H/*" } else { "%Y-%m-%d/*" };
    let mut hot = format!(
        "  - name: hot\n    root: {{dir}}/a\n    layouts: ['{layout}']\n    keep: {}d\n    keep_last: {}\n    on_unmatched: {}\n    skip_open: {}\n",
        h.keep,
        h.keep_last,
        ["warn", "refuse", "fail"][usize::from(h.on_unmatched)],
        h.skip_open
    );
    hot.push_str(&max_delete(h.max_delete, true).replace("max_delete", "    max_delete"));
    if h.markers {
        hot.push_str("    markers: ['_SUCCESS']\n");
    }
    if h.exclude {
        hot.push_str("    exclude: ['**/keep-*', 'tbl']\n");
    }
    if h.min_age {
        hot.push_str("    min_age: 1h\n");
    }
    if let Some(after) = h.compress {
        hot.push_str(&format!("    compress: {{after: {after}d, format: zstd}}\n"));
    }
    if let Some(after) = h.archive {
        let to = if c.arch.alias { "alias" } else { "arch" };
        hot.push_str(&format!("    archive: {{after: {after}d, to: {{dir}}/{to}}}\n"));
    }
    if let Some(b) = h.max_bytes {
        hot.push_str(&format!("    max_bytes: {b}\n"));
    }
    if let Some((_, share)) = h.tmpfs {
        hot.push_str(&format!("    min_free: {share}%\n"));
    }
    if h.max_bytes.is_some() || h.tmpfs.is_some() {
        hot.push_str("    keep_min: 1d\n");
    }
    let a = &c.arch;
    let mut arch = format!(
        "  - name: arch\n    root: {{dir}}/arch\n    layouts: ['{layout}']\n    keep: {}d\n    keep_weekly: {}\n    on_unmatched: warn\n",
        a.keep, a.weekly
    );
    arch.push_str(&max_delete(a.max_delete, false).replace("max_delete", "    max_delete"));
    let mut out = String::from("version: 1\ndefaults:\n  timezone: UTC\npolicies:\n");
    if a.first {
        out.push_str(&arch);
        out.push_str(&hot);
    } else {
        out.push_str(&hot);
        out.push_str(&arch);
    }
    if let Some(keep) = c.inner {
        out.push_str(&format!(
            "  - name: inner\n    root: {{dir}}/a/inner\n    layouts: ['%Y-%m-%d/*']\n    keep: {keep}d\n    on_unmatched: warn\n"
        ));
    }
    if let Some(keep) = c.shared {
        out.push_str(&format!(
            "  - name: shared\n    root: {{dir}}/a\n    layouts: ['logs/%Y%m%d-*.log']\n    keep: {keep}d\n    on_unmatched: warn\n"
        ));
    }
    out
}

/// The path (below the scratch directory) and mtime of a generated file.
fn place(c: &Case, f: &FileSpec) -> (String, i64) {
    let d = today() - Duration::days(f.back);
    let day_end = (d + Duration::days(1)).and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() - 60;
    let now = today().and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp();
    let mtime = match f.fresh {
        Some(m) => now - 60 * i64::from(m),
        None => day_end.min(now - 7200),
    };
    let partition = if c.hot.hive {
        format!("dt={}/hour={:02}", d.format("%Y-%m-%d"), f.hour)
    } else {
        d.format("%Y-%m-%d").to_string()
    };
    let name = match f.what {
        What::Data | What::Table => format!("part-{}.csv", f.n),
        What::Marker => "_SUCCESS".into(),
        What::Excluded => format!("keep-{}.csv", f.n),
        What::Stray => format!("x-{}.tmp", f.n),
        What::Zst => format!("part-{}.csv.zst", f.n),
    };
    let path = match (f.place, f.what) {
        (Place::Hot | Place::Arch, What::Table) => {
            let base = if f.place == Place::Hot { "a" } else { "arch" };
            if f.n == 0 {
                format!("{base}/tbl/_delta_log/{:020}.json", f.hour)
            } else {
                format!("{base}/tbl/{partition}/{name}")
            }
        }
        (Place::Hot, What::Stray) => format!("a/staging/{name}"),
        (Place::Hot, _) => format!("a/{partition}/{name}"),
        (Place::Arch, _) => format!("arch/{partition}/{name}"),
        (Place::Inner, _) => format!("a/inner/{}/{name}", d.format("%Y-%m-%d")),
        (Place::Shared, What::Stray) => format!("a/logs/{name}"),
        (Place::Shared, _) => format!("a/logs/{}-{}.log", d.format("%Y%m%d"), f.n),
    };
    (path, mtime)
}

/// What one run printed: file lines keyed by path, refusals by policy, exit code, and
/// (apply) each file's outcome.
#[derive(Debug, PartialEq, Eq)]
struct Printed {
    files: BTreeMap<String, (String, String, String, Option<String>)>,
    refused: BTreeMap<String, Option<String>>,
    exit: i32,
    outcomes: BTreeMap<String, Option<String>>,
}

fn printed(done: &Done, dir: &str) -> Printed {
    let rel = |v: &Value| v.as_str().map(|p| p.strip_prefix(dir).unwrap_or(p).to_string());
    let mut files = BTreeMap::new();
    let mut refused = BTreeMap::new();
    let mut outcomes = BTreeMap::new();
    for l in done.json() {
        match l["type"].as_str() {
            Some("file") => {
                let path = rel(&l["path"]).unwrap();
                let line = (
                    l["policy"].as_str().unwrap().to_string(),
                    l["action"].as_str().unwrap().to_string(),
                    l["reason"].as_str().unwrap().to_string(),
                    rel(&l["to"]),
                );
                outcomes.insert(path.clone(), l["outcome"].as_str().map(str::to_string));
                assert!(files.insert(path.clone(), line).is_none(), "{path} reported twice:\n{}", done.stdout());
            }
            Some("summary") => {
                for p in l["policies"].as_array().unwrap() {
                    let guard = p["refused"]["guard"].as_str().map(|g| format!("{g}: {}", p["refused"]["reason"]));
                    refused.insert(p["name"].as_str().unwrap().to_string(), guard);
                }
            }
            _ => {}
        }
    }
    Printed { files, refused, exit: done.out.status.code().unwrap_or(-1), outcomes }
}

/// Runs one case: plan, explain of every path apply reports, apply.
fn run(c: &Case) -> Result<(), TestCaseError> {
    let t = Tree::new();
    // A small filesystem of its own, for `min_free` (as root; elsewhere the dimension is
    // left out, loudly, once).
    let _tmpfs = match c.hot.tmpfs {
        Some((room, _)) if rustix::process::geteuid().is_root() => {
            // A page per file and per directory, the policy file, and the room asked for.
            let kib = 4 * (3 * c.files.len() as u32 + 16) + room;
            Some(Tmpfs::mount(t.dir.path(), &format!("size={kib}k,nr_inodes=4096")))
        }
        Some(_) => {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| missing("differential (min_free on a tmpfs)", "root (to mount a tmpfs)"));
            None
        }
        None => None,
    };
    let dir = format!("{}/", t.dir.path().display());
    fs::create_dir_all(t.dir.path().join("a/inner")).unwrap();
    fs::create_dir_all(t.dir.path().join("arch")).unwrap();
    std::os::unix::fs::symlink("arch", t.dir.path().join("alias")).unwrap();
    let p = t.policy(&policies(c));
    // The main policy's history, as apply would have written it.
    let state = t.dir.path().join("state");
    fs::create_dir(&state).unwrap();
    let applies: Vec<String> = c
        .history
        .iter()
        .enumerate()
        .map(|(i, (files, bytes))| format!("{{\"at\":{i},\"files\":{files},\"bytes\":{bytes}}}"))
        .collect();
    let root = t.dir.path().join("a");
    fs::write(
        state.join("history.json"),
        format!(
            "{{\"version\":1,\"policies\":[{{\"name\":\"hot\",\"root\":\"{}\",\"applies\":[{}]}}]}}",
            root.display(),
            applies.join(",")
        ),
    )
    .unwrap();
    let mut paths = BTreeSet::new();
    for f in &c.files {
        let (rel, mtime) = place(c, f);
        let p = t.dir.path().join(&rel);
        if paths.insert(rel.clone()) {
            // A full tmpfs refuses the rest of the tree: the case is the tree that fit.
            if fs::create_dir_all(p.parent().unwrap()).is_err()
                || fs::write(&p, vec![b'x'; 100 + 37 * usize::from(f.n)]).is_err()
            {
                let _ = fs::remove_file(&p);
                paths.remove(&rel);
                continue;
            }
            set_mtime(&p, mtime);
        }
    }
    let listed: Vec<&String> = paths.iter().collect();
    // Held open by this process (the test binary): sweep sees it in /proc like any writer.
    let _held: Vec<fs::File> = c
        .held
        .iter()
        .filter_map(|i| listed.get(*i % listed.len().max(1)))
        .filter_map(|rel| fs::File::open(t.dir.path().join(rel)).ok())
        .collect();

    let plan = t.sweep("plan", &p, NOW).args(["--format", "json", "--state-dir"]).arg(&state).output();
    let planned = printed(&plan, &dir);
    prop_assert!(planned.exit != 1 && planned.exit != 2 && planned.exit != 3, "plan failed:\n{}", plan.stderr());

    // explain, of every path the plan reports, before anything is touched.
    let mut e = Sweep::new();
    e.args(["explain", "--format", "json", "--now", NOW, "--state-dir"]).arg(&state).arg("-c").arg(&p);
    for path in planned.files.keys() {
        e.arg(t.dir.path().join(path));
    }
    let explained = if planned.files.is_empty() { None } else { Some(e.output()) };

    let apply = t.sweep("apply", &p, NOW).args(["--format", "json", "--state-dir"]).arg(&state).output();
    let applied = printed(&apply, &dir);

    prop_assert_eq!(
        &planned.files,
        &applied.files,
        "plan's file lines differ from apply's\n--- plan\n{}\n--- apply\n{}",
        plan.stdout(),
        apply.stdout()
    );
    prop_assert_eq!(&planned.refused, &applied.refused, "refusals differ");
    prop_assert_eq!(planned.exit, applied.exit, "exit codes differ\n{}\n{}", plan.stderr(), apply.stderr());
    // What apply says it did is what it did: a refused policy acted on nothing, and a
    // file it deleted or moved is gone.
    for (path, (policy, _, _, _)) in &applied.files {
        let outcome = applied.outcomes[path].as_deref();
        if applied.refused.get(policy).is_some_and(Option::is_some) {
            prop_assert!(
                !matches!(outcome, Some("deleted" | "moved" | "compressed")),
                "{} of refused policy {} was {:?}\n{}",
                path,
                policy,
                outcome,
                apply.stdout()
            );
        }
        let gone = matches!(outcome, Some("deleted" | "moved" | "compressed"));
        // A file deleted by an earlier root's policy may have a moved file in its place.
        let refilled = applied.files.values().any(|(_, _, _, to)| to.as_deref() == Some(path.as_str()));
        if !refilled {
            prop_assert_eq!(!t.dir.path().join(path).exists(), gone, "{} after apply ({:?})", path, outcome);
        }
    }
    if let Some(explained) = explained {
        for l in explained.json() {
            let path = l["path"].as_str().unwrap().strip_prefix(&dir).unwrap().to_string();
            let d = &l["decisions"][0];
            let (policy, action, _, _) = &applied.files[&path];
            prop_assert_eq!(d["policy"].as_str(), Some(policy.as_str()), "explain's owner of {}", path);
            prop_assert_eq!(
                d["action"].as_str(),
                Some(action.as_str()),
                "explain of {} says {} ({}), apply did {}",
                path,
                d["action"],
                d["reason"],
                action
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 200,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::SourceParallel("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn plan_apply_and_explain_agree_on_every_file(c in case()) {
        run(&c)?;
    }
}

/// Cases per run: 300, or `SWEEP_DIFFERENTIAL_CASES`.
fn cases() -> u32 {
    std::env::var("SWEEP_DIFFERENTIAL_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(300)
}
