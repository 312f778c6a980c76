//! Reading policy files: YAML → raw structs → validated [`Policy`] values.
//!
//! This is the only module that touches YAML (serde_yaml is archived upstream; keeping
//! it here makes a swap to a maintained fork a local change). Three passes over each
//! file, each with a precise location for what it finds:
//! 1. [`Spans`] indexes every value's line and column and finds duplicate keys, which
//!    serde_yaml would otherwise accept as last-wins in maps;
//! 2. serde_yaml checks structure: unknown keys, wrong types;
//! 3. this module checks values and the rules that span keys (layouts need fields under
//!    `date_from: path`, names are unique across files).

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use globset::{GlobBuilder, GlobSetBuilder};
use serde::Deserialize;

use super::spans::{Spans, index_path, key_path};
use super::*;
use crate::clock::calendar::CalendarKind;
use crate::layout::Template;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: u32,
    #[serde(default)]
    defaults: Option<RawPolicy>,
    policies: Vec<RawPolicy>,
    #[serde(default)]
    tests: Vec<RawTest>,
}

/// One policy, or the `defaults` block: every key optional here, required ones are
/// checked after `defaults` are merged (serde's `flatten` cannot be combined with
/// `deny_unknown_fields`, so one struct serves both).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: Option<String>,
    root: Option<String>,
    layouts: Option<Vec<String>>,
    keep: Option<String>,
    exclude: Option<Vec<String>>,
    keep_last: Option<u32>,
    min_age: Option<String>,
    max_delete: Option<String>,
    on_unmatched: Option<String>,
    remove_empty_dirs: Option<bool>,
    one_file_system: Option<bool>,
    date_from: Option<String>,
    timezone: Option<String>,
    calendar: Option<String>,
    holidays: Option<Vec<String>>,
    disk_fail_above: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    now: String,
    expect: BTreeMap<String, String>,
}

/// Reads every file named by `paths` (directories: their `*.yaml`/`*.yml` in name
/// order) and returns the policies, or every error found.
pub fn load(paths: &[PathBuf]) -> Result<PolicySet, Vec<PolicyError>> {
    let mut errors = Vec::new();
    let mut files = Vec::new();
    for p in paths {
        match expand(p) {
            Ok(mut f) => files.append(&mut f),
            Err(e) => errors.push(e),
        }
    }
    let mut set = PolicySet { policies: Vec::new(), tests: Vec::new(), files: files.clone() };
    let mut names: HashMap<String, Origin> = HashMap::new();
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(text) => errors.append(&mut parse_text(file, &text, &mut set, &mut names)),
            Err(e) => errors.push(PolicyError { file: file.clone(), at: None, message: format!("cannot read: {e}") }),
        }
    }
    if errors.is_empty() && set.policies.is_empty() {
        errors.push(PolicyError {
            file: paths.first().cloned().unwrap_or_default(),
            at: None,
            message: "no policies found".into(),
        });
    }
    if errors.is_empty() { Ok(set) } else { Err(errors) }
}

/// Parses one policy file's text (named `file` in messages) on its own: what `load` does
/// for each file, without touching the filesystem. The fuzz targets drive this.
pub fn load_text(file: &Path, text: &str) -> Result<PolicySet, Vec<PolicyError>> {
    let mut set = PolicySet { policies: Vec::new(), tests: Vec::new(), files: vec![file.to_path_buf()] };
    let errors = parse_text(file, text, &mut set, &mut HashMap::new());
    if errors.is_empty() { Ok(set) } else { Err(errors) }
}

/// Adds the policies and tests of one file's text to `set`; returns its errors.
fn parse_text(file: &Path, text: &str, set: &mut PolicySet, names: &mut HashMap<String, Origin>) -> Vec<PolicyError> {
    let mut ctx = FileCtx { file, spans: Spans::index(text), errors: Vec::new() };
    for d in std::mem::take(&mut ctx.spans.duplicates) {
        ctx.errors.push(PolicyError {
            file: file.to_path_buf(),
            at: Some((d.mark.line, d.mark.column)),
            message: format!("{}: duplicate key (first at line {})", d.path, d.first.line),
        });
    }
    if ctx.errors.is_empty() {
        parse_file(&mut ctx, text, set, names);
    }
    ctx.errors
}

/// A file, or a directory's `*.yaml`/`*.yml` files in name order.
fn expand(p: &Path) -> Result<Vec<PathBuf>, PolicyError> {
    let err = |message: String| PolicyError { file: p.to_path_buf(), at: None, message };
    let meta = std::fs::metadata(p).map_err(|e| err(format!("cannot read: {e}")))?;
    if !meta.is_dir() {
        return Ok(vec![p.to_path_buf()]);
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(p).map_err(|e| err(format!("cannot read directory: {e}")))? {
        let path = entry.map_err(|e| err(format!("cannot read directory: {e}")))?.path();
        let yaml = path.extension().is_some_and(|x| x == "yaml" || x == "yml");
        if yaml && path.is_file() {
            out.push(path);
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(err("no *.yaml or *.yml files in this directory".into()));
    }
    Ok(out)
}

struct FileCtx<'a> {
    file: &'a Path,
    spans: Spans,
    errors: Vec<PolicyError>,
}

impl FileCtx<'_> {
    /// Records an error at the value `path` (or its nearest present ancestor).
    fn err(&mut self, path: &str, message: impl fmt::Display) {
        let at = self.spans.near(path).map(|m| (m.line, m.column));
        self.errors.push(PolicyError { file: self.file.to_path_buf(), at, message: format!("{path}: {message}") });
    }

    fn origin(&self, path: &str) -> Origin {
        Origin { file: self.file.to_path_buf(), line: self.spans.near(path).map_or(0, |m| m.line) }
    }

    /// Runs `parse` on an optional value, recording its error at `path`.
    fn value<T>(&mut self, path: &str, v: Option<&String>, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        match parse(v?) {
            Ok(t) => Some(t),
            Err(e) => {
                self.err(path, e);
                None
            }
        }
    }
}

fn parse_file(ctx: &mut FileCtx, text: &str, set: &mut PolicySet, names: &mut HashMap<String, Origin>) {
    let raw: RawFile = match serde_yaml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let at = e.location().map(|l| (l.line(), l.column()));
            let message = e.to_string();
            // serde_yaml appends " at line L column C"; the location is shown in front.
            let message = message.split(" at line ").next().unwrap_or(&message).to_string();
            ctx.errors.push(PolicyError { file: ctx.file.to_path_buf(), at, message });
            return;
        }
    };
    if raw.version != 1 {
        ctx.err("version", format!("unsupported version {}; this sweep reads version 1", raw.version));
        return;
    }
    let defaults = raw.defaults.unwrap_or_default();
    for (key, present) in
        [("name", defaults.name.is_some()), ("root", defaults.root.is_some()), ("layouts", defaults.layouts.is_some())]
    {
        if present {
            ctx.err(&key_path("defaults", key), "cannot be set in defaults, only in each policy");
        }
    }
    if raw.policies.is_empty() {
        ctx.err("policies", "no policies: a policy file must define at least one");
    }
    for (i, p) in raw.policies.into_iter().enumerate() {
        let path = index_path("policies", i);
        if let Some(policy) = policy(ctx, &path, merge(p, &defaults)) {
            if let Some(first) = names.get(&policy.name) {
                ctx.err(
                    &key_path(&path, "name"),
                    format!("duplicate policy name `{}` (first defined at {first})", policy.name),
                );
            } else {
                names.insert(policy.name.clone(), policy.origin.clone());
                set.policies.push(policy);
            }
        }
    }
    for (i, t) in raw.tests.into_iter().enumerate() {
        if let Some(t) = test(ctx, &index_path("tests", i), t) {
            set.tests.push(t);
        }
    }
}

/// Fills every key a policy leaves out from `defaults`.
fn merge(p: RawPolicy, d: &RawPolicy) -> RawPolicy {
    let d = d.clone();
    RawPolicy {
        name: p.name,
        root: p.root,
        layouts: p.layouts,
        keep: p.keep.or(d.keep),
        exclude: p.exclude.or(d.exclude),
        keep_last: p.keep_last.or(d.keep_last),
        min_age: p.min_age.or(d.min_age),
        max_delete: p.max_delete.or(d.max_delete),
        on_unmatched: p.on_unmatched.or(d.on_unmatched),
        remove_empty_dirs: p.remove_empty_dirs.or(d.remove_empty_dirs),
        one_file_system: p.one_file_system.or(d.one_file_system),
        date_from: p.date_from.or(d.date_from),
        timezone: p.timezone.or(d.timezone),
        calendar: p.calendar.or(d.calendar),
        holidays: p.holidays.or(d.holidays),
        disk_fail_above: p.disk_fail_above.or(d.disk_fail_above),
    }
}

/// Keys a policy may take from `defaults`.
const MERGED_KEYS: [&str; 13] = [
    "keep",
    "exclude",
    "keep_last",
    "min_age",
    "max_delete",
    "on_unmatched",
    "remove_empty_dirs",
    "one_file_system",
    "date_from",
    "timezone",
    "calendar",
    "holidays",
    "disk_fail_above",
];

/// Where a merged key was written: in the policy, or else in `defaults`.
fn written_at(ctx: &FileCtx, policy: &str, key: &str) -> String {
    let own = key_path(policy, key);
    if ctx.spans.get(&own).is_some() { own } else { key_path("defaults", key) }
}

fn policy(ctx: &mut FileCtx, path: &str, raw: RawPolicy) -> Option<Policy> {
    let written: HashMap<&str, String> = MERGED_KEYS.iter().map(|k| (*k, written_at(ctx, path, k))).collect();
    let at = |key: &str| written[key].clone();
    let before = ctx.errors.len();
    let required = |ctx: &mut FileCtx, key: &str, present: bool| {
        if !present {
            ctx.err(path, format!("missing required key `{key}`"));
        }
    };
    required(ctx, "name", raw.name.is_some());
    required(ctx, "root", raw.root.is_some());
    required(ctx, "layouts", raw.layouts.is_some());
    required(ctx, "keep", raw.keep.is_some());

    let name = ctx.value(&key_path(path, "name"), raw.name.as_ref(), valid_name);
    let root = ctx.value(&key_path(path, "root"), raw.root.as_ref(), valid_root);
    let keep = ctx.value(&at("keep"), raw.keep.as_ref(), Keep::parse);
    let min_age = ctx.value(&at("min_age"), raw.min_age.as_ref(), parse_duration).unwrap_or(Duration::ZERO);
    let max_delete = ctx.value(&at("max_delete"), raw.max_delete.as_ref(), parse_max_delete).flatten();
    let on_unmatched = ctx
        .value(&at("on_unmatched"), raw.on_unmatched.as_ref(), |s| match s {
            "fail" => Ok(OnUnmatched::Fail),
            "warn" => Ok(OnUnmatched::Warn),
            _ => Err(format!("`{s}`: use fail or warn")),
        })
        .unwrap_or(OnUnmatched::Fail);
    let date_from = ctx
        .value(&at("date_from"), raw.date_from.as_ref(), |s| match s {
            "path" => Ok(DateFrom::Path),
            "mtime" => Ok(DateFrom::Mtime),
            _ => Err(format!("`{s}`: use path or mtime")),
        })
        .unwrap_or(DateFrom::Path);
    let zone = ctx.value(&at("timezone"), raw.timezone.as_ref(), Zone::parse);
    let zone = match (zone, raw.timezone.is_some()) {
        (Some(z), _) => Some(z),
        (None, false) => Zone::parse("local").ok(),
        (None, true) => None,
    };
    let kind = ctx
        .value(&at("calendar"), raw.calendar.as_ref(), |s| match s {
            "weekdays" => Ok(CalendarKind::Weekdays),
            "nyse" => Ok(CalendarKind::Nyse),
            _ => Err(format!("`{s}`: use weekdays or nyse")),
        })
        .unwrap_or(CalendarKind::Weekdays);
    let holidays_at = at("holidays");
    let mut holidays = Vec::new();
    for (i, h) in raw.holidays.iter().flatten().enumerate() {
        if let Some(d) = ctx.value(&index_path(&holidays_at, i), Some(h), parse_date) {
            holidays.push(d);
        }
    }
    let disk_fail_above = ctx.value(&at("disk_fail_above"), raw.disk_fail_above.as_ref(), |s| {
        let share = parse_share(s).ok_or_else(|| format!("`{s}`: write a percentage such as 90%"))?;
        if share.0 <= 0.0 { Err(format!("`{s}`: must be more than 0%")) } else { Ok(share) }
    });

    let exclude_at = at("exclude");
    let mut exclude = Exclude::default();
    let mut builder = GlobSetBuilder::new();
    for (i, pat) in raw.exclude.iter().flatten().enumerate() {
        let p = index_path(&exclude_at, i);
        if pat.starts_with('/') {
            ctx.err(&p, format!("`{pat}`: exclude globs are relative to the root; remove the leading `/`"));
            continue;
        }
        match GlobBuilder::new(pat).literal_separator(true).backslash_escape(true).build() {
            Ok(g) => {
                builder.add(g);
                exclude.patterns.push(pat.clone());
            }
            Err(e) => ctx.err(&p, format!("`{pat}`: {}", e.kind())),
        }
    }
    match builder.build() {
        Ok(s) => exclude.set = s,
        Err(e) => ctx.err(&exclude_at, e),
    }

    let layouts_at = key_path(path, "layouts");
    let mut templates = Vec::new();
    if raw.layouts.as_ref().is_some_and(|l| l.is_empty()) {
        ctx.err(&layouts_at, "at least one layout is required");
    }
    for (i, src) in raw.layouts.iter().flatten().enumerate() {
        let p = index_path(&layouts_at, i);
        match Template::compile(src) {
            Ok(t) => {
                match (date_from, t.precision().is_some()) {
                    (DateFrom::Path, false) => ctx.err(
                        &p,
                        format!("`{src}` has no date fields (%Y, %m, %d, ...), but date_from is path; add fields or set date_from: mtime"),
                    ),
                    (DateFrom::Mtime, true) => ctx.err(
                        &p,
                        format!("`{src}` has date fields, but date_from is mtime: dates come from the files' mtimes; remove the fields or use date_from: path"),
                    ),
                    _ => {}
                }
                templates.push(t);
            }
            Err(e) => ctx.err(&p, format!("`{src}`: {e}")),
        }
    }

    if ctx.errors.len() > before {
        return None;
    }
    Some(Policy {
        name: name?,
        origin: ctx.origin(path),
        root: root?,
        layouts: Layouts::new(templates),
        keep: keep?,
        exclude,
        keep_last: raw.keep_last.unwrap_or(0),
        min_age,
        max_delete,
        on_unmatched,
        remove_empty_dirs: raw.remove_empty_dirs.unwrap_or(true),
        one_file_system: raw.one_file_system.unwrap_or(true),
        date_from,
        zone: zone?,
        calendar: Calendar::new(kind, holidays),
        disk_fail_above,
    })
}

fn test(ctx: &mut FileCtx, path: &str, raw: RawTest) -> Option<PolicyTest> {
    let before = ctx.errors.len();
    let now = ctx.value(&key_path(path, "now"), Some(&raw.now), Now::parse);
    let expect_at = key_path(path, "expect");
    let mut expect = Vec::new();
    for (p, action) in &raw.expect {
        let at = key_path(&expect_at, p);
        let line = ctx.spans.near(&at).map_or(0, |m| m.line);
        if !p.starts_with('/') {
            ctx.err(&at, format!("`{p}`: test paths are absolute"));
            continue;
        }
        if let Some(action) = ctx.value(&at, Some(action), |s| s.parse::<Action>()) {
            expect.push(Expectation { path: PathBuf::from(p), action, line });
        }
    }
    expect.sort_by_key(|e| e.line);
    if ctx.errors.len() > before {
        return None;
    }
    Some(PolicyTest { origin: ctx.origin(path), now: now?, expect })
}

fn valid_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok { Ok(s.to_string()) } else { Err(format!("`{s}`: a name uses only letters, digits, `_`, `.` and `-`")) }
}

fn valid_root(s: &str) -> Result<PathBuf, String> {
    let p = Path::new(s);
    if !p.is_absolute() {
        return Err(format!("`{s}` is relative; a root must be an absolute path"));
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!("`{s}` contains `..`; write the directory it means"));
    }
    Ok(p.components().collect())
}

/// `0s`, `90m`, `2h`, `1d`: a whole number and exactly one of these units.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (n, unit) = s.split_at(digits);
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("`{s}` is not a duration: write N followed by s, m, h or d (e.g. 0s, 90m, 2h)")),
    };
    let n: u64 = n.parse().map_err(|_| format!("`{s}`: the count must be a whole number"))?;
    n.checked_mul(scale).map(Duration::from_secs).ok_or_else(|| format!("`{s}` is too long"))
}

fn parse_share(s: &str) -> Option<Share> {
    let v: f64 = s.trim().strip_suffix('%')?.trim().parse().ok()?;
    (v.is_finite() && (0.0..=100.0).contains(&v)).then_some(Share(v))
}

/// `5000` or `40%`. `100%` is no limit at all, so it is stored as none.
fn parse_max_delete(s: &str) -> Result<Option<MaxDelete>, String> {
    if s.trim().ends_with('%') {
        let share = parse_share(s).ok_or_else(|| format!("`{s}`: a share is a percentage from 0% to 100%"))?;
        return Ok((share.0 < 100.0).then_some(MaxDelete::Share(share)));
    }
    s.trim()
        .parse::<u64>()
        .map(|n| Some(MaxDelete::Count(n)))
        .map_err(|_| format!("`{s}`: write a number of files (5000) or a share (40%)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_shares() {
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("7days").is_err());
        assert!(parse_duration("1.5h").is_err());
        assert_eq!(parse_max_delete("40%"), Ok(Some(MaxDelete::Share(Share(40.0)))));
        assert_eq!(parse_max_delete("100%"), Ok(None));
        assert_eq!(parse_max_delete("5000"), Ok(Some(MaxDelete::Count(5000))));
        assert!(parse_max_delete("101%").is_err());
        assert!(parse_max_delete("lots").is_err());
        assert_eq!(MaxDelete::Share(Share(40.0)).limit(1001), 400);
    }

    #[test]
    fn roots_and_names() {
        assert!(valid_root("data/x").is_err());
        assert!(valid_root("/data/../etc").is_err());
        assert_eq!(valid_root("/data/x/").unwrap(), PathBuf::from("/data/x"));
        assert!(valid_name("ticker-load.v2_x").is_ok());
        assert!(valid_name("ticker load").is_err());
    }
}
