//! `--metrics-file`: the Prometheus text exposition node_exporter's textfile collector
//! reads, on real trees with the real binary. The format is checked twice: by
//! `promtool check metrics` (when installed; CI installs it) and by a strict parser here,
//! so a change that would make the collector drop the file, or break the alert rules'
//! names, fails even where promtool is missing. Values are checked against the tree and
//! the filesystem; the write is checked to be a rename of a complete file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::*;

const NOW: &str = "2024-07-12T12:00:00Z";

/// 2024-07-12T00:00:00Z: the cutoff of `keep: 1d` at `NOW` in UTC.
const CUTOFF_1D_UTC: f64 = 1_720_742_400.0;

/// 2024-07-11T00:00:00-04:00: the cutoff of `keep: 2d` at `NOW` in America/New_York.
const CUTOFF_2D_NEW_YORK: f64 = 1_720_670_400.0;

/// Families with one series per policy and bucket (`policy`, `action` labels).
const BUCKETED: [&str; 2] = ["sweep_files", "sweep_bytes"];

/// Families with one series per policy (`policy` label).
const PER_POLICY: [&str; 25] = [
    "sweep_compressed_files",
    "sweep_compressed_input_bytes",
    "sweep_compressed_output_bytes",
    "sweep_moved_files",
    "sweep_moved_bytes",
    "sweep_leftovers_removed",
    "sweep_nested_roots",
    "sweep_foreign_files",
    "sweep_future_files",
    "sweep_open_files",
    "sweep_held_open_deleted_bytes",
    "sweep_free_before_bytes",
    "sweep_free_after_bytes",
    "sweep_newest_partition_timestamp_seconds",
    "sweep_deleted_files",
    "sweep_deleted_bytes",
    "sweep_failed_files",
    "sweep_vanished_files",
    "sweep_dirs_removed",
    "sweep_mounts_skipped",
    "sweep_refused",
    "sweep_policy_exit_code",
    "sweep_duration_seconds",
    "sweep_cutoff_timestamp_seconds",
    "sweep_filesystem_used_ratio",
];

/// Families with a series only for policies that set what they measure: `expect_fresh`
/// (sweep_stale), capacity targets (the targets carry a `target` label), or that have a
/// complete partition to forecast from (sweep_forecast_fit_ratio).
const CONDITIONAL: [&str; 9] = [
    "sweep_stale",
    "sweep_forecast_fit_ratio",
    "sweep_capacity_target_bytes",
    "sweep_capacity_target_inodes",
    "sweep_capacity_met",
    "sweep_capacity_unknown",
    "sweep_used_by_others_bytes",
    "sweep_for_space_files",
    "sweep_for_space_bytes",
];

/// Families with one series for the whole run (no labels).
const PER_RUN: [&str; 4] = [
    "sweep_last_run_exit_code",
    "sweep_last_run_dry_run",
    "sweep_last_run_start_timestamp_seconds",
    "sweep_last_success_timestamp_seconds",
];

const ACTIONS: [&str; 7] = ["delete", "keep", "protect", "unmatched", "error", "compress", "move"];

// ---------------------------------------------------------------------------------------
// A strict reader of the text exposition format (version 0.0.4), as the textfile collector
// needs it: where the format allows something sweep has no reason to write (blank lines,
// comments, timestamps, several spaces), this rejects it.

type Labels = BTreeMap<String, String>;

/// One metric family: its help text, its type and its samples in file order.
#[derive(Debug, Default)]
struct Family {
    help: Option<String>,
    kind: Option<String>,
    samples: Vec<(Labels, f64)>,
}

/// A parsed metrics file.
#[derive(Debug)]
struct Exposition {
    text: String,
    families: BTreeMap<String, Family>,
}

fn metric_name_ok(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn label_name_ok(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Moves to the group of lines of `name`; a family's lines must form one group.
fn enter(current: &mut Option<String>, done: &mut BTreeSet<String>, name: &str) -> Result<(), String> {
    if current.as_deref() != Some(name) {
        if let Some(c) = current.take() {
            done.insert(c);
        }
        if done.contains(name) {
            return Err(format!("the lines of `{name}` are not one group"));
        }
        *current = Some(name.to_string());
    }
    Ok(())
}

/// `name{labels} value` (no timestamp).
fn parse_sample(line: &str) -> Result<(String, Labels, f64), String> {
    let end = line.find(['{', ' ']).ok_or("a sample without a value")?;
    let name = &line[..end];
    if !metric_name_ok(name) {
        return Err(format!("`{name}` is not a valid metric name"));
    }
    let mut rest = &line[end..];
    let mut labels = Labels::new();
    if let Some(mut r) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = r.strip_prefix('}') {
                r = after;
                break;
            }
            let eq = r.find('=').ok_or("a label without `=`")?;
            let label = &r[..eq];
            if !label_name_ok(label) || label.starts_with("__") {
                return Err(format!("`{label}` is not a valid label name"));
            }
            r = r[eq + 1..].strip_prefix('"').ok_or_else(|| format!("the value of label `{label}` is not quoted"))?;
            let mut value = String::new();
            let mut it = r.char_indices();
            let close = loop {
                match it.next() {
                    None => return Err(format!("the value of label `{label}` is not terminated")),
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match it.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        other => {
                            return Err(format!("bad escape `\\{}` in label `{label}`", other.map_or(' ', |o| o.1)));
                        }
                    },
                    Some((_, c)) => value.push(c),
                }
            };
            r = &r[close + 1..];
            if labels.insert(label.to_string(), value).is_some() {
                return Err(format!("label `{label}` given twice"));
            }
            if let Some(after) = r.strip_prefix(',') {
                r = after;
            } else if !r.starts_with('}') {
                return Err(format!("`,` or `}}` expected after label `{label}`"));
            }
        }
        rest = r;
    }
    let value = rest.strip_prefix(' ').ok_or("one space expected before the value")?;
    if value.contains([' ', '\t']) {
        return Err("text after the value (a timestamp? the textfile collector rejects them)".into());
    }
    let v: f64 = value.parse().map_err(|_| format!("`{value}` is not a number"))?;
    if !v.is_finite() {
        return Err(format!("`{value}` is not finite"));
    }
    Ok((name.to_string(), labels, v))
}

/// Checks a family's name against the Prometheus naming conventions.
fn check_name(name: &str, kind: &str) -> Result<(), String> {
    match kind {
        "counter" if !name.ends_with("_total") => return Err(format!("counter `{name}` does not end in `_total`")),
        "gauge" if name.ends_with("_total") => return Err(format!("gauge `{name}` ends in `_total`")),
        "counter" | "gauge" => {}
        other => return Err(format!("`{name}` has type `{other}`; sweep writes only gauges and counters")),
    }
    for reserved in ["_count", "_sum", "_bucket"] {
        if name.ends_with(reserved) {
            return Err(format!("`{name}` ends in `{reserved}`, reserved for summaries and histograms"));
        }
    }
    let base = name.strip_suffix("_total").unwrap_or(name);
    let words: Vec<&str> = base.split('_').collect();
    for unit in ["seconds", "bytes", "ratio"] {
        if words.contains(&unit) && words.last() != Some(&unit) {
            return Err(format!("`{name}`: the unit `{unit}` is not the suffix"));
        }
    }
    for unit in ["milliseconds", "ms", "microseconds", "minutes", "hours", "kilobytes", "megabytes", "percent"] {
        if words.contains(&unit) {
            return Err(format!("`{name}`: `{unit}` is not a base unit"));
        }
    }
    Ok(())
}

/// Parses and checks a metrics file: every sample belongs to a family with exactly one
/// `# HELP` and one `# TYPE` line before it, the family's lines are one group, names and
/// labels are valid and escaped, no series appears twice, values are finite numbers, and
/// the file ends with a newline.
fn parse(text: &str) -> Result<Exposition, String> {
    if text.is_empty() {
        return Err("empty file".into());
    }
    if !text.ends_with('\n') {
        return Err("the file does not end with a newline".into());
    }
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut series: BTreeSet<(String, Labels)> = BTreeSet::new();
    let mut current = None;
    let mut done = BTreeSet::new();
    for (i, line) in text.split_terminator('\n').enumerate() {
        let at = |m: String| format!("line {}: {m}: {line:?}", i + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            if !metric_name_ok(name) {
                return Err(at(format!("`{name}` is not a valid metric name")));
            }
            if help.trim().is_empty() {
                return Err(at(format!("empty HELP for `{name}`")));
            }
            let mut cs = help.chars();
            while let Some(c) = cs.next() {
                if c == '\\' && !matches!(cs.next(), Some('\\' | 'n')) {
                    return Err(at("a HELP text may escape only `\\\\` and `\\n`".into()));
                }
            }
            enter(&mut current, &mut done, name).map_err(at)?;
            let f = families.entry(name.to_string()).or_default();
            if f.help.is_some() {
                return Err(at(format!("a second HELP for `{name}`")));
            }
            f.help = Some(help.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or_else(|| at("a TYPE without a type".into()))?;
            if !metric_name_ok(name) {
                return Err(at(format!("`{name}` is not a valid metric name")));
            }
            enter(&mut current, &mut done, name).map_err(at)?;
            let f = families.entry(name.to_string()).or_default();
            if f.kind.is_some() {
                return Err(at(format!("a second TYPE for `{name}`")));
            }
            check_name(name, kind).map_err(at)?;
            f.kind = Some(kind.to_string());
        } else if line.starts_with('#') || line.trim().is_empty() {
            return Err(at("a comment or blank line sweep does not write".into()));
        } else {
            let (name, labels, v) = parse_sample(line).map_err(at)?;
            enter(&mut current, &mut done, &name).map_err(at)?;
            let f = families
                .get_mut(&name)
                .filter(|f| f.help.is_some() && f.kind.is_some())
                .ok_or_else(|| at(format!("a sample of `{name}` before its HELP and TYPE")))?;
            if !series.insert((name.clone(), labels.clone())) {
                return Err(at("a duplicate series".into()));
            }
            f.samples.push((labels, v));
        }
    }
    for (name, f) in &families {
        if f.help.is_none() || f.kind.is_none() {
            return Err(format!("`{name}` lacks a HELP or a TYPE line"));
        }
    }
    Ok(Exposition { text: text.to_string(), families })
}

impl Exposition {
    /// The value of `name{labels}`, if the file has that series.
    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: Labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.families.get(name)?.samples.iter().find(|(l, _)| *l == want).map(|(_, v)| *v)
    }

    #[track_caller]
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels).unwrap_or_else(|| panic!("no series {name}{labels:?} in:\n{}", self.text))
    }

    /// A per-policy value.
    #[track_caller]
    fn policy(&self, name: &str, policy: &str) -> f64 {
        self.get(name, &[("policy", policy)])
    }

    /// A per-bucket value.
    #[track_caller]
    fn bucket(&self, name: &str, policy: &str, action: &str) -> f64 {
        self.get(name, &[("policy", policy), ("action", action)])
    }

    /// A per-run value.
    #[track_caller]
    fn run(&self, name: &str) -> f64 {
        self.get(name, &[])
    }

    /// `(delete, keep, protect, unmatched, error, compress, move)` of a bucketed family.
    #[track_caller]
    fn buckets(&self, name: &str, policy: &str) -> [f64; 7] {
        ACTIONS.map(|a| self.bucket(name, policy, a))
    }
}

/// Reads and parses the metrics file at `path`; any format problem fails the test.
#[track_caller]
fn read_metrics(path: &Path) -> Exposition {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse(&text).unwrap_or_else(|e| panic!("{}: {e}\n--- file\n{text}", path.display()))
}

// ---------------------------------------------------------------------------------------
// Helpers.

/// A directory for metrics files only, like node_exporter's textfile directory.
fn textfile_dir(t: &Tree) -> PathBuf {
    let d = t.dir.path().join("textfile");
    fs::create_dir_all(&d).unwrap();
    d
}

/// Names in a directory, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// `promtool check metrics < text` must exit 0 with nothing to say (no lint problem).
#[track_caller]
fn promtool_accepts(bin: &Path, text: &str, what: &str) {
    let out = promtool_check(bin, text);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics rejects the {what} metrics (exit {:?}):\n{}{}\n--- file\n{text}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// promtool on `PATH`; when it is missing, says so loudly: the parser checks still run.
#[track_caller]
fn promtool() -> Option<PathBuf> {
    required("promtool", "the promtool checks of metrics files (this suite's own parser still runs)")
}

fn promtool_check(bin: &Path, text: &str) -> std::process::Output {
    let mut child = Command::new(bin)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs the binary with umask 022, the usual one for a cron job or a systemd service.
fn umask_022(s: &mut Sweep) -> &mut Sweep {
    // SAFETY: only an async-signal-safe syscall (umask) runs between fork and exec.
    unsafe {
        s.command().pre_exec(|| {
            rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
            Ok(())
        });
    }
    s
}

/// A policy file with one policy per `(name, root below the tree's root)`, keep 1d, in UTC.
fn policies(t: &Tree, list: &[(&str, &str)]) -> PathBuf {
    let mut yaml = String::from("version: 1\ndefaults:\n  timezone: UTC\npolicies:\n");
    for (name, root) in list {
        fs::create_dir_all(t.path(root)).unwrap();
        yaml.push_str(&format!(
            "  - name: {name}\n    root: {{root}}/{root}\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n"
        ));
    }
    t.policy(&yaml)
}

// ---------------------------------------------------------------------------------------
// The format.

#[test]
fn promtool_accepts_plan_and_apply_output_with_every_bucket_filled() {
    let t = Tree::new();
    t.files(&[
        "2024-07-01/a.csv",             // delete
        "2024-07-01/_SUCCESS",          // protect (exclude)
        "2024-07-02/stuck.csv",         // delete, but the deletion fails
        "2024-07-03/locked/secret.csv", // error: its directory cannot be read
        "2024-07-12/a.csv",             // keep
        "staging/x.csv",                // unmatched
    ]);
    let _stuck = Immutable::set(t.path("2024-07-02/stuck.csv"));
    fs::set_permissions(t.path("2024-07-03/locked"), fs::Permissions::from_mode(0o000)).unwrap();
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "exclude: ['**/_SUCCESS']"));
    let dir = textfile_dir(&t);
    let (plan_file, apply_file) = (dir.join("plan.prom"), dir.join("apply.prom"));

    without_dac(t.sweep("plan", &p, NOW).arg("--metrics-file").arg(&plan_file)).code(5);
    without_dac(t.sweep("apply", &p, NOW).arg("--metrics-file").arg(&apply_file)).code(5);
    fs::set_permissions(t.path("2024-07-03/locked"), fs::Permissions::from_mode(0o755)).unwrap();

    let plan = read_metrics(&plan_file);
    let apply = read_metrics(&apply_file);
    assert_eq!(plan.buckets("sweep_files", "t"), [2.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
    assert_eq!(
        apply.buckets("sweep_files", "t"),
        [2.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0],
        "every bucket of v1 is non-zero (tiers fill the other two)"
    );
    assert_eq!(apply.policy("sweep_deleted_files", "t"), 1.0);
    assert_eq!(apply.policy("sweep_failed_files", "t"), 1.0);
    assert_eq!(apply.run("sweep_last_run_exit_code"), 5.0);
    assert_eq!(
        t.listing(),
        vec![
            "2024-07-01/_SUCCESS",
            "2024-07-02/stuck.csv",
            "2024-07-03/locked/secret.csv",
            "2024-07-12/a.csv",
            "staging/x.csv"
        ]
    );

    if let Some(bin) = promtool() {
        promtool_accepts(&bin, &plan.text, "plan");
        promtool_accepts(&bin, &apply.text, "apply");
        // The check is real: promtool does complain about a lint problem.
        let bad = "# HELP sweep_things Things.\n# TYPE sweep_things counter\nsweep_things 1\n";
        let out = promtool_check(&bin, bad);
        assert!(!out.status.success(), "promtool accepts a counter without _total: the check above proves nothing");
    }
}

#[test]
fn the_exposition_is_well_formed_and_has_exactly_the_documented_families() {
    let t = Tree::new();
    t.files(&["a/2024-07-01/x", "a/2024-07-12/x", "b/2024-07-02/x"]);
    let p = policies(&t, &[("a", "a"), ("b", "b")]);
    let m = textfile_dir(&t).join("sweep.prom");
    t.sweep("apply", &p, NOW).arg("--metrics-file").arg(&m).code(0);
    // read_metrics applies every check of `parse`.
    let e = read_metrics(&m);
    let documented: BTreeSet<&str> =
        BUCKETED.iter().chain(&PER_POLICY).chain(&CONDITIONAL).chain(&PER_RUN).copied().collect();
    let written: BTreeSet<&str> = e.families.keys().map(String::as_str).collect();
    assert_eq!(written, documented, "every family written is known to these tests");
    // And the metrics table of docs/output.md names exactly these: dashboards and alerts
    // use them.
    let output = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/output.md")).unwrap();
    let table = output.split("\n## Metrics\n").nth(1).expect("docs/output.md has no `## Metrics`");
    let table = table.split("\n## ").next().unwrap();
    let in_docs: BTreeSet<String> = table
        .lines()
        .filter(|l| l.trim_start().starts_with("| `sweep_"))
        .flat_map(|l| {
            l.split('|').nth(1).unwrap_or("").split('`').skip(1).step_by(2).map(str::to_string).collect::<Vec<_>>()
        })
        .collect();
    let written: BTreeSet<String> = written.iter().map(|s| s.to_string()).collect();
    assert_eq!(written, in_docs, "docs/output.md's metrics table lists exactly the families sweep writes");
    for (name, f) in &e.families {
        assert_eq!(f.kind.as_deref(), Some("gauge"), "{name}: every value describes the last run, so a gauge");
        for (labels, _) in &f.samples {
            for v in labels.values() {
                assert!(!v.is_empty(), "{name}: an empty label value is the same as no label");
            }
        }
    }
    // Label values need no escaping because policy names cannot hold `"`, `\` or a
    // newline: the loader refuses them. Should it ever allow them, `parse` checks the
    // escaping, and this test must grow a policy with such a name.
    for bad in [r#"a"b"#, r"a\b"] {
        let t = Tree::new();
        let p = t.policy(&format!(
            "version: 1\npolicies:\n  - name: '{bad}'\n    root: {{root}}\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n"
        ));
        Sweep::new().arg("check").arg("-c").arg(&p).code(3).stdout_has("a name uses only letters");
    }
}

#[test]
fn the_parser_rejects_what_the_collector_or_the_conventions_would() {
    let head = "# HELP a_x X.\n# TYPE a_x gauge\n";
    let ok = format!("{head}a_x{{policy=\"p\\\\q\\\"r\\ns\",action=\"delete\"}} 1.5\na_x{{policy=\"p\"}} 2\n");
    let e = parse(&ok).unwrap();
    assert_eq!(e.get("a_x", &[("policy", "p\\q\"r\ns"), ("action", "delete")]), 1.5, "escapes are undone");
    assert_eq!(e.policy("a_x", "p"), 2.0);
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        (format!("{head}a_x 1"), "newline"),
        ("a_x 1\n".into(), "before its HELP"),
        ("# TYPE a_x gauge\na_x 1\n".into(), "before its HELP"),
        ("# HELP a_x X.\na_x 1\n".into(), "before its HELP"),
        ("# HELP a_x X.\n".into(), "lacks a HELP or a TYPE"),
        ("# HELP a_x\n# TYPE a_x gauge\na_x 1\n".into(), "empty HELP"),
        ("# HELP a_x X \\t.\n# TYPE a_x gauge\na_x 1\n".into(), "may escape only"),
        (format!("# HELP a_x Y.\n{head}a_x 1\n"), "second HELP"),
        (format!("{head}# TYPE a_x gauge\na_x 1\n"), "second TYPE"),
        ("# HELP a_x X.\n# TYPE a_x summary\na_x 1\n".into(), "only gauges and counters"),
        ("# HELP a_x X.\n# TYPE a_x counter\na_x 1\n".into(), "does not end in `_total`"),
        ("# HELP a_total X.\n# TYPE a_total gauge\na_total 1\n".into(), "ends in `_total`"),
        ("# HELP a_count X.\n# TYPE a_count gauge\na_count 1\n".into(), "reserved"),
        ("# HELP a_bytes_x X.\n# TYPE a_bytes_x gauge\na_bytes_x 1\n".into(), "not the suffix"),
        ("# HELP a_ms X.\n# TYPE a_ms gauge\na_ms 1\n".into(), "not a base unit"),
        ("# HELP 1a X.\n# TYPE 1a gauge\n1a 1\n".into(), "not a valid metric name"),
        (format!("{head}a_x{{1p=\"x\"}} 1\n"), "not a valid label name"),
        (format!("{head}a_x{{__p=\"x\"}} 1\n"), "not a valid label name"),
        (format!("{head}a_x{{p=x}} 1\n"), "not quoted"),
        (format!("{head}a_x{{p=\"x\\y\"}} 1\n"), "bad escape"),
        (format!("{head}a_x{{p=\"x\"y\"}} 1\n"), "expected after label"),
        (format!("{head}a_x{{p=\"x}} 1\n"), "not terminated"),
        (format!("{head}a_x{{p=\"x\",p=\"y\"}} 1\n"), "given twice"),
        (format!("{head}a_x{{p=\"x\"}} 1\na_x{{p=\"x\"}} 2\n"), "duplicate series"),
        (format!("{head}a_x 1\na_x 2\n"), "duplicate series"),
        (format!("{head}a_x one\n"), "not a number"),
        (format!("{head}a_x NaN\n"), "not finite"),
        (format!("{head}a_x +Inf\n"), "not finite"),
        (format!("{head}a_x 1 1720742400000\n"), "timestamp"),
        (format!("{head}a_x  1\n"), "text after the value"),
        (format!("{head}a_x\n"), "without a value"),
        (format!("{head}# a comment\na_x 1\n"), "comment"),
        (format!("{head}\na_x 1\n"), "blank line"),
        (format!("{head}a_x 1\n# HELP b_x B.\n# TYPE b_x gauge\nb_x 1\na_x{{p=\"q\"}} 1\n"), "not one group"),
    ];
    for (text, why) in cases {
        match parse(&text) {
            Ok(_) => panic!("accepted, but should fail with {why:?}:\n{text}"),
            Err(e) => assert!(e.contains(why), "failed for another reason than {why:?}: {e}\n{text}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The values.

#[test]
fn values_match_a_known_tree_in_plan_and_apply() {
    let t = Tree::new();
    t.file_sized("2024-07-01/a.csv", 100);
    t.file_sized("2024-07-02/b.csv", 200);
    t.file_sized("2024-07-10/c.csv", 300); // ends at the cutoff: expired
    t.file_sized("2024-07-11/d.csv", 10);
    t.file_sized("2024-07-12/e.csv", 20);
    t.file_sized("staging/x.tmp", 7);
    // 08:00 in New York: the cutoff is New York's midnight of the day before, not UTC's.
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "2d", "timezone: America/New_York"));
    let m = textfile_dir(&t).join("sweep.prom");

    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).arg("--metrics-file").arg(&m).code(7);
    let e = read_metrics(&m);
    assert_eq!(e.buckets("sweep_files", "t"), [3.0, 2.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
    assert_eq!(e.buckets("sweep_bytes", "t"), [600.0, 30.0, 0.0, 7.0, 0.0, 0.0, 0.0]);
    assert_eq!(e.policy("sweep_deleted_files", "t"), 0.0, "plan deletes nothing");
    assert_eq!(e.policy("sweep_deleted_bytes", "t"), 0.0);
    assert_eq!(e.policy("sweep_failed_files", "t"), 0.0);
    assert_eq!(e.policy("sweep_refused", "t"), 0.0);
    assert_eq!(e.policy("sweep_cutoff_timestamp_seconds", "t"), CUTOFF_2D_NEW_YORK);
    assert_eq!(e.policy("sweep_policy_exit_code", "t"), 7.0);
    assert_eq!(e.run("sweep_last_run_exit_code"), 7.0);
    assert_eq!(e.run("sweep_last_run_dry_run"), 1.0);
    assert_eq!(t.listing().len(), 6, "plan deleted nothing");
    // The same numbers as the JSON summary of the same run.
    let s = &plan.summary()["policies"][0];
    for (i, a) in ACTIONS.iter().enumerate() {
        assert_eq!(e.buckets("sweep_files", "t")[i], s["files"][a].as_f64().unwrap(), "files {a}");
        assert_eq!(e.buckets("sweep_bytes", "t")[i], s["bytes"][a].as_f64().unwrap(), "bytes {a}");
    }
    assert_eq!(e.policy("sweep_dirs_removed", "t"), s["dirs_removed"].as_f64().unwrap());

    let before = SystemTime::now();
    let done = t.sweep("apply", &p, NOW).args(["--format", "json"]).arg("--metrics-file").arg(&m).output();
    let after = SystemTime::now();
    let code = done.out.status.code().expect("an exit code");
    assert_eq!(code, 7, "{}", done.stderr());
    let e = read_metrics(&m);
    assert_eq!(e.buckets("sweep_files", "t"), [3.0, 2.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
    assert_eq!(e.buckets("sweep_bytes", "t"), [600.0, 30.0, 0.0, 7.0, 0.0, 0.0, 0.0]);
    assert_eq!(e.policy("sweep_deleted_files", "t"), 3.0);
    assert_eq!(e.policy("sweep_deleted_bytes", "t"), 600.0);
    assert_eq!(e.policy("sweep_failed_files", "t"), 0.0);
    assert_eq!(e.policy("sweep_vanished_files", "t"), 0.0);
    assert_eq!(e.policy("sweep_dirs_removed", "t"), 3.0, "2024-07-01, 2024-07-02 and 2024-07-10");
    assert_eq!(e.policy("sweep_mounts_skipped", "t"), 0.0);
    assert_eq!(e.policy("sweep_refused", "t"), 0.0);
    assert_eq!(e.policy("sweep_cutoff_timestamp_seconds", "t"), CUTOFF_2D_NEW_YORK);
    assert_eq!(e.run("sweep_last_run_exit_code"), f64::from(code), "the process's exit code");
    assert_eq!(e.policy("sweep_policy_exit_code", "t"), 7.0);
    assert_eq!(e.run("sweep_last_run_dry_run"), 0.0);
    assert_eq!(t.listing(), vec!["2024-07-11/d.csv", "2024-07-12/e.csv", "staging/x.tmp"]);
    assert!(!t.exists("2024-07-01") && !t.exists("2024-07-02") && !t.exists("2024-07-10"));

    let started = e.run("sweep_last_run_start_timestamp_seconds");
    assert!(epoch(before) <= started && started <= epoch(after), "{} <= {started} <= {}", epoch(before), epoch(after));
    let duration = e.policy("sweep_duration_seconds", "t");
    assert!(duration >= 0.0 && started + duration <= epoch(after), "{started} + {duration} <= {}", epoch(after));
    let used = e.policy("sweep_filesystem_used_ratio", "t");
    assert!(used > 0.0 && used <= 1.0, "{used}");
    assert_eq!(e.run("sweep_last_success_timestamp_seconds"), 0.0, "no run has succeeded yet: 0, as documented");
    let s = &done.summary()["policies"][0];
    // serde_json reads floats to within an ulp, not always exactly.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs());
    assert!(close(duration, s["duration_seconds"].as_f64().unwrap()), "{duration} vs {s}");
    assert!(close(used, s["disk_used_ratio"].as_f64().unwrap()), "{used} vs {s}");
    assert_eq!(e.policy("sweep_deleted_files", "t"), s["deleted"].as_f64().unwrap());
    if let Some(bin) = promtool() {
        promtool_accepts(&bin, &e.text, "apply");
    }

    // keep: 1d in UTC, for a second data point of the cutoff.
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", "on_unmatched: warn"));
    t.sweep("plan", &p, NOW).arg("--metrics-file").arg(&m).code(0);
    let e = read_metrics(&m);
    assert_eq!(e.policy("sweep_cutoff_timestamp_seconds", "t"), CUTOFF_1D_UTC);
    assert_eq!(e.buckets("sweep_files", "t"), [1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
    assert_eq!(e.run("sweep_last_run_exit_code"), 0.0);
}

#[test]
fn last_success_is_kept_across_failing_runs() {
    let t = Tree::new();
    t.file("2024-07-01/a");
    let good = t.policy_named("good.yaml", &one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let missing = t.policy_named(
        "missing.yaml",
        "version: 1\npolicies:\n  - name: t\n    root: {dir}/nope\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n",
    );
    let m = textfile_dir(&t).join("sweep.prom");
    let last_success = |e: &Exposition| e.run("sweep_last_success_timestamp_seconds");

    // The first run ever fails: no success is known, which the file says as 0.
    t.sweep("apply", &missing, NOW).arg("--metrics-file").arg(&m).code(5);
    let e = read_metrics(&m);
    assert_eq!(e.run("sweep_last_run_exit_code"), 5.0);
    assert_eq!(last_success(&e), 0.0);

    // A clean run: its start is the last success.
    let before = SystemTime::now();
    t.sweep("apply", &good, NOW).arg("--metrics-file").arg(&m).code(0);
    let after = SystemTime::now();
    let e = read_metrics(&m);
    let success = last_success(&e);
    assert_eq!(success, e.run("sweep_last_run_start_timestamp_seconds"));
    assert!(epoch(before) <= success && success <= epoch(after));

    // Failing runs of two kinds keep it, while the exit code says they failed.
    t.sweep("apply", &missing, NOW).arg("--metrics-file").arg(&m).code(5);
    let e = read_metrics(&m);
    assert_eq!(e.run("sweep_last_run_exit_code"), 5.0);
    assert_eq!(last_success(&e), success, "kept from the previous file");
    assert!(e.run("sweep_last_run_start_timestamp_seconds") > success);
    t.file("staging/x");
    t.sweep("apply", &good, NOW).arg("--metrics-file").arg(&m).code(7);
    let e = read_metrics(&m);
    assert_eq!(e.run("sweep_last_run_exit_code"), 7.0);
    assert_eq!(last_success(&e), success, "kept across two failing runs");

    // The next clean run moves it on.
    fs::remove_file(t.path("staging/x")).unwrap();
    t.sweep("apply", &good, NOW).arg("--metrics-file").arg(&m).code(0);
    let e = read_metrics(&m);
    assert_eq!(e.run("sweep_last_run_exit_code"), 0.0);
    assert!(last_success(&e) > success);
    assert_eq!(last_success(&e), e.run("sweep_last_run_start_timestamp_seconds"));
}

#[test]
fn last_success_is_read_back_from_the_previous_file() {
    let t = Tree::new();
    t.file("staging/x");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let m = textfile_dir(&t).join("sweep.prom");
    let run = |previous: &[u8]| -> f64 {
        fs::write(&m, previous).unwrap();
        t.sweep("plan", &p, NOW).arg("--metrics-file").arg(&m).code(7);
        read_metrics(&m).run("sweep_last_success_timestamp_seconds")
    };
    let family = "# HELP sweep_last_success_timestamp_seconds Start time.\n\
                  # TYPE sweep_last_success_timestamp_seconds gauge\n";
    let previous = format!(
        "sweep_files{{policy=\"t\",action=\"keep\"}} 3\n{family}sweep_last_success_timestamp_seconds 1700000000.25\n"
    );
    assert_eq!(run(previous.as_bytes()), 1_700_000_000.25);
    assert_eq!(run(b"sweep_last_success_timestamp_seconds 1720000000\n"), 1_720_000_000.0);
    // Nothing usable: none is known.
    assert_eq!(run(b"sweep_last_success_timestamp_seconds 0\n"), 0.0);
    assert_eq!(run(b"sweep_last_success_timestamp_seconds -5\n"), 0.0);
    assert_eq!(run(b"sweep_last_success_timestamp_seconds soon\n"), 0.0);
    assert_eq!(run(b"sweep_last_success_timestamp_seconds_x 1720000000\n"), 0.0);
    assert_eq!(run(b"sweep_last_success_timestamp_seconds \xff1720000000\n\x00"), 0.0);
}

// ---------------------------------------------------------------------------------------
// The write.

#[test]
fn the_file_is_replaced_by_a_rename_and_no_temporary_file_remains() {
    let t = Tree::new();
    t.files(&["2024-07-01/a", "2024-07-12/a"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let dir = textfile_dir(&t);
    let m = dir.join("sweep.prom");
    fs::write(&m, "stale\n").unwrap();
    // A second name for the old file: a rewrite in place would change what it reads.
    let old = t.dir.path().join("old.prom");
    fs::hard_link(&m, &old).unwrap();
    let inode = fs::metadata(&m).unwrap().ino();

    umask_022(t.sweep("apply", &p, NOW).arg("--metrics-file").arg(&m)).code(0);
    assert_eq!(names_in(&dir), vec!["sweep.prom"], "no temporary file is left beside it");
    let meta = fs::metadata(&m).unwrap();
    assert_ne!(meta.ino(), inode, "a new file was renamed over the old one");
    assert_eq!(fs::read_to_string(&old).unwrap(), "stale\n", "the old file was not rewritten in place");
    assert_eq!(fs::metadata(&old).unwrap().nlink(), 1, "the old file lost its name in the directory");
    assert_eq!(meta.permissions().mode() & 0o777, 0o644, "readable by node_exporter's own user");
    read_metrics(&m);

    // Again, from plan, and with a relative path (the directory is then `.`).
    let dir2 = t.dir.path().join("cwd");
    fs::create_dir(&dir2).unwrap();
    let mut s = t.sweep("plan", &p, NOW);
    s.command().current_dir(&dir2);
    s.args(["--metrics-file", "sweep.prom"]).code(0);
    assert_eq!(names_in(&dir2), vec!["sweep.prom"]);
    assert_eq!(read_metrics(&dir2.join("sweep.prom")).run("sweep_last_run_dry_run"), 1.0);
    t.sweep("plan", &p, NOW).arg("--metrics-file").arg(&m).code(0);
    assert_eq!(names_in(&dir), vec!["sweep.prom"]);
}

#[test]
fn a_reader_never_sees_half_a_file() {
    // What node_exporter does on every scrape, while sweep rewrites the file run after run.
    let t = Tree::new();
    let list: Vec<(String, String)> = (0..20).map(|i| (format!("p{i:02}"), format!("r{i:02}"))).collect();
    let refs: Vec<(&str, &str)> = list.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let p = policies(&t, &refs);
    let m = textfile_dir(&t).join("sweep.prom");
    t.sweep("plan", &p, NOW).arg("--metrics-file").arg(&m).code(0);
    let complete = read_metrics(&m).families.len();

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, m) = (Arc::clone(&stop), m.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                let text = fs::read_to_string(&m).unwrap_or_else(|e| panic!("the file went away: {e}"));
                let e = parse(&text).unwrap_or_else(|e| panic!("read half a file ({e}):\n{text}"));
                assert_eq!(e.families.len(), complete, "read half a file:\n{text}");
                reads += 1;
            }
            reads
        })
    };
    for _ in 0..60 {
        t.sweep("plan", &p, NOW).arg("--metrics-file").arg(&m).code(0);
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader.join().expect("the reader saw only whole files");
    assert!(reads >= 10, "the reader ran alongside: {reads} reads");
}

#[test]
fn a_metrics_file_that_cannot_be_written_exits_5_naming_it_and_the_work_is_done() {
    let t = Tree::new();
    t.files(&["2024-07-01/a", "2024-07-12/a"]);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));

    // A directory that does not exist. The plan is still printed in full.
    let m = t.dir.path().join("no-such-dir/sweep.prom");
    let plan = t.sweep("plan", &p, NOW).args(["--format", "json"]).arg("--metrics-file").arg(&m).code(5);
    plan.stderr_has(&format!("cannot write metrics to {}", m.display())).stderr_has("No such file or directory");
    assert_eq!(plan.summary()["policies"][0]["files"]["delete"], 1);
    assert_eq!(plan.summary()["exit_code"], 5, "the summary states the code the run exits with");
    assert_eq!(t.listing().len(), 2);
    let apply = t.sweep("apply", &p, NOW).args(["--format", "json"]).arg("--metrics-file").arg(&m).code(5);
    apply.stderr_has(&format!("cannot write metrics to {}", m.display()));
    assert_eq!(apply.summary()["policies"][0]["deleted"], 1);
    assert_eq!(apply.summary()["exit_code"], 5);
    assert_eq!(t.listing(), vec!["2024-07-12/a"], "the deletions happened");
    assert!(!t.dir.path().join("no-such-dir").exists());

    // A directory sweep may not write to (root without CAP_DAC_OVERRIDE): the old file stays whole.
    t.file("2024-07-02/a");
    let dir = textfile_dir(&t);
    let m = dir.join("sweep.prom");
    fs::write(&m, "old\n").unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
    let done = without_dac(t.sweep("apply", &p, NOW).arg("--metrics-file").arg(&m)).output();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(done.out.status.code(), Some(5), "{}", done.stderr());
    done.stderr_has(&format!("cannot write metrics to {}", m.display())).stderr_has("Permission denied");
    assert_eq!(names_in(&dir), vec!["sweep.prom"]);
    assert_eq!(fs::read_to_string(&m).unwrap(), "old\n");
    assert_eq!(t.listing(), vec!["2024-07-12/a"]);

    // The path is a directory: the rename fails after the temporary file was written,
    // and the temporary file is removed.
    t.file("2024-07-03/a");
    let m = dir.join("taken.prom");
    fs::create_dir(&m).unwrap();
    let done = t.sweep("apply", &p, NOW).arg("--metrics-file").arg(&m).code(5);
    done.stderr_has(&format!("cannot write metrics to {}", m.display()));
    let last = done.stdout().lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("exit 5:"), "the text report's last line states the real code: {last:?}");
    assert_eq!(names_in(&dir), vec!["sweep.prom", "taken.prom"], "no temporary file left");
    assert!(names_in(&m).is_empty());
    assert_eq!(t.listing(), vec!["2024-07-12/a"]);

    // With another failure, the lowest code wins: 5 over 7.
    t.file("staging/x");
    t.sweep("plan", &p, NOW).arg("--metrics-file").arg(&m).code(5).stderr_has("match no layout");
}

#[test]
fn runs_that_touch_nothing_leave_the_metrics_file_alone() {
    // Exit 2, 3 and 4 write no metrics (the alert rules' "no recent success" covers them):
    // a run refused by the lock must not overwrite what the run holding it will write.
    let t = Tree::new();
    t.file("2024-07-01/a");
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let m = textfile_dir(&t).join("sweep.prom");
    t.sweep("plan", &p, NOW).arg("--metrics-file").arg(&m).code(0);
    let text = fs::read_to_string(&m).unwrap();
    let inode = fs::metadata(&m).unwrap().ino();
    let unchanged = || {
        assert_eq!(fs::read_to_string(&m).unwrap(), text);
        assert_eq!(fs::metadata(&m).unwrap().ino(), inode);
    };

    t.sweep("apply", &p, "yesterday").arg("--metrics-file").arg(&m).code(2);
    unchanged();
    let invalid = t.policy_named("invalid.yaml", &one_policy(&["%Y-%m-%d/**"], "0d", ""));
    t.sweep("apply", &invalid, NOW).arg("--metrics-file").arg(&m).code(3);
    unchanged();
    let lock =
        fs::OpenOptions::new().create(true).truncate(false).write(true).open(t.dir.path().join("sweep.lock")).unwrap();
    lock.try_lock().unwrap();
    t.sweep("apply", &p, NOW).arg("--metrics-file").arg(&m).code(4);
    unchanged();
    drop(lock);
    t.sweep("apply", &p, NOW).arg("--metrics-file").arg(&m).code(0);
    assert_eq!(read_metrics(&m).policy("sweep_deleted_files", "t"), 1.0);
}

// ---------------------------------------------------------------------------------------
// Guards, plan, several policies.

#[test]
fn refused_is_1_when_max_delete_trips_and_0_otherwise() {
    let t = Tree::new();
    t.files(&[
        "capped/2024-07-01/a",
        "capped/2024-07-02/a",
        "capped/2024-07-03/a",
        "capped/2024-07-12/a",
        "free/2024-07-01/a",
        "free/2024-07-12/a",
    ]);
    let p = t.policy(
        "version: 1\ndefaults:\n  timezone: UTC\npolicies:\n  - name: capped\n    root: {root}/capped\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n    max_delete: 50%\n  - name: free\n    root: {root}/free\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n",
    );
    let m = textfile_dir(&t).join("sweep.prom");
    for sub in ["plan", "apply"] {
        t.sweep(sub, &p, NOW).arg("--metrics-file").arg(&m).code(6);
        let e = read_metrics(&m);
        assert_eq!(e.policy("sweep_refused", "capped"), 1.0, "{sub}");
        assert_eq!(e.policy("sweep_refused", "free"), 0.0, "{sub}");
        assert_eq!(e.bucket("sweep_files", "capped", "delete"), 3.0, "{sub}: what the guard refused is still counted");
        assert_eq!(e.policy("sweep_deleted_files", "capped"), 0.0, "{sub}");
        assert_eq!(e.policy("sweep_policy_exit_code", "capped"), 6.0, "{sub}");
        assert_eq!(e.policy("sweep_policy_exit_code", "free"), 0.0, "{sub}");
        assert_eq!(e.run("sweep_last_run_exit_code"), 6.0, "{sub}");
    }
    let e = read_metrics(&m);
    assert_eq!(e.policy("sweep_deleted_files", "free"), 1.0);
    assert_eq!(t.listing().len(), 5, "only free's expired file went");
    assert!(t.exists("capped/2024-07-01/a"));

    // Within the cap, nothing is refused.
    let p = t.policy(
        "version: 1\ndefaults:\n  timezone: UTC\npolicies:\n  - name: capped\n    root: {root}/capped\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n    max_delete: 75%\n",
    );
    t.sweep("apply", &p, NOW).arg("--metrics-file").arg(&m).code(0);
    let e = read_metrics(&m);
    assert_eq!(e.policy("sweep_refused", "capped"), 0.0);
    assert_eq!(e.policy("sweep_deleted_files", "capped"), 3.0);
    assert_eq!(e.run("sweep_last_run_exit_code"), 0.0);
}

#[test]
fn plan_and_apply_dry_run_write_metrics_that_say_so() {
    let t = Tree::new();
    t.file_sized("2024-07-01/a", 40);
    t.file_sized("2024-07-12/a", 2);
    let p = t.policy(&one_policy(&["%Y-%m-%d/**"], "1d", ""));
    let m = textfile_dir(&t).join("sweep.prom");
    let runs: [&[&str]; 2] = [&["plan"], &["apply", "--dry-run"]];
    for args in runs {
        t.sweep(args[0], &p, NOW).args(&args[1..]).arg("--metrics-file").arg(&m).code(0);
        let e = read_metrics(&m);
        assert_eq!(e.run("sweep_last_run_dry_run"), 1.0, "{args:?}");
        assert_eq!(e.bucket("sweep_files", "t", "delete"), 1.0, "{args:?}");
        assert_eq!(e.bucket("sweep_bytes", "t", "delete"), 40.0, "{args:?}");
        assert_eq!(e.policy("sweep_deleted_files", "t"), 0.0, "{args:?}");
        assert_eq!(e.policy("sweep_deleted_bytes", "t"), 0.0, "{args:?}");
        assert_eq!(t.listing().len(), 2, "{args:?}");
    }
    t.sweep("apply", &p, NOW).arg("--metrics-file").arg(&m).code(0);
    let e = read_metrics(&m);
    assert_eq!(e.run("sweep_last_run_dry_run"), 0.0);
    assert_eq!(e.policy("sweep_deleted_files", "t"), 1.0);
    assert_eq!(e.policy("sweep_deleted_bytes", "t"), 40.0);
    assert_eq!(t.listing(), vec!["2024-07-12/a"]);
}

#[test]
fn several_policies_get_one_series_each_under_one_help_and_type() {
    let t = Tree::new();
    t.files(&["alpha/2024-07-01/a", "beta/2024-07-01/a", "beta/2024-07-02/a", "gamma/2024-07-12/a"]);
    // Two files in a config directory, read in name order.
    let conf = t.dir.path().join("conf.d");
    fs::create_dir(&conf).unwrap();
    let policy = |name: &str| {
        format!("  - name: {name}\n    root: {}/{name}\n    layouts: ['%Y-%m-%d/**']\n    keep: 1d\n", t.root.display())
    };
    let head = "version: 1\ndefaults:\n  timezone: UTC\npolicies:\n";
    fs::write(conf.join("a.yaml"), format!("{head}{}{}", policy("alpha"), policy("beta"))).unwrap();
    fs::write(conf.join("b.yaml"), format!("{head}{}", policy("gamma"))).unwrap();
    let m = textfile_dir(&t).join("sweep.prom");
    t.sweep("apply", &conf, NOW).arg("--metrics-file").arg(&m).code(0);
    let e = read_metrics(&m);
    if let Some(bin) = promtool() {
        promtool_accepts(&bin, &e.text, "three-policy");
    }

    let lines: Vec<&str> = e.text.lines().collect();
    for name in BUCKETED.iter().chain(&PER_POLICY).chain(&CONDITIONAL).chain(&PER_RUN) {
        for kind in ["HELP", "TYPE"] {
            let n = lines.iter().filter(|l| l.starts_with(&format!("# {kind} {name} "))).count();
            assert_eq!(n, 1, "{n} `# {kind} {name}` lines");
        }
    }
    let names = ["alpha", "beta", "gamma"];
    for name in BUCKETED {
        let got: BTreeSet<(String, String)> =
            e.families[name].samples.iter().map(|(l, _)| (l["policy"].clone(), l["action"].clone())).collect();
        assert_eq!(e.families[name].samples.len(), 21, "{name}");
        assert_eq!(got.len(), 21, "{name}: one series per policy and action");
        assert!(e.families[name].samples.iter().all(|(l, _)| l.len() == 2));
    }
    for name in PER_POLICY {
        let got: Vec<&str> = e.families[name].samples.iter().map(|(l, _)| l["policy"].as_str()).collect();
        assert_eq!(got, names, "{name}: one series per policy, in run order");
        assert!(e.families[name].samples.iter().all(|(l, _)| l.len() == 1));
    }
    for name in PER_RUN {
        assert_eq!(e.families[name].samples.len(), 1, "{name}");
        assert!(e.families[name].samples[0].0.is_empty(), "{name} has no labels");
    }
    // Each value belongs to its own policy.
    assert_eq!(names.map(|n| e.policy("sweep_deleted_files", n)), [1.0, 2.0, 0.0]);
    assert_eq!(names.map(|n| e.bucket("sweep_files", n, "keep")), [0.0, 0.0, 1.0]);
    assert_eq!(names.map(|n| e.policy("sweep_dirs_removed", n)), [1.0, 2.0, 0.0]);
    assert_eq!(t.listing(), vec!["gamma/2024-07-12/a"]);

    // `--policy` selects: the file then speaks of that policy only.
    t.sweep("plan", &conf, NOW).args(["--policy", "gamma"]).arg("--metrics-file").arg(&m).code(0);
    let e = read_metrics(&m);
    for name in BUCKETED.iter().chain(&PER_POLICY) {
        assert!(e.families[*name].samples.iter().all(|(l, _)| l["policy"] == "gamma"), "{name}");
    }
    assert_eq!(e.families["sweep_refused"].samples.len(), 1);
}
