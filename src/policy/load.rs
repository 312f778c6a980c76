//! Reading policy files: bytes → YAML nodes → validated [`Policy`] values, collecting
//! every problem of every file rather than stopping at the first.
//!
//! One pass over the node tree does it all: unknown keys (with the nearest known one
//! suggested), duplicate keys (found by the YAML reader), values of the wrong shape, bad
//! values, and the rules that span keys (layouts need fields under `date_from: path`,
//! names are unique across files). A value inherited from `defaults` is reported once,
//! where it is written.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobSetBuilder};

use super::keys::{self, Key, Place};
use super::yaml::{self, Entry, Mark, Node, Value};
use super::*;
use crate::clock::calendar::CalendarKind;
use crate::layout::Template;

/// Reads every file named by `paths` (directories: their `*.yaml`/`*.yml` in name
/// order). The set holds every policy that is valid; `problems` everything that is not.
pub fn load(paths: &[PathBuf]) -> (PolicySet, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for p in paths {
        match expand(p) {
            Ok(mut f) => files.append(&mut f),
            Err(e) => problems.push(e),
        }
    }
    let mut set = PolicySet::new(files.clone());
    let mut names = HashMap::new();
    for file in &files {
        match read(file) {
            Ok(bytes) => problems.append(&mut parse_bytes(file, &bytes, &mut set, &mut names)),
            Err(message) => problems.push(Problem { file: file.clone(), at: None, key: String::new(), message }),
        }
    }
    if problems.is_empty() && set.policies.is_empty() {
        problems.push(Problem {
            file: paths.first().cloned().unwrap_or_default(),
            at: None,
            key: String::new(),
            message: "no policies found".into(),
        });
    }
    (set, problems)
}

/// Parses one file's text (named `file` in messages) on its own, without touching the
/// filesystem. The fuzz targets drive this.
pub fn load_text(file: &Path, text: &[u8]) -> (PolicySet, Vec<Problem>) {
    let mut set = PolicySet::new(vec![file.to_path_buf()]);
    let problems = parse_bytes(file, text, &mut set, &mut HashMap::new());
    (set, problems)
}

/// Reads a policy file: a regular file, at most [`yaml::MAX_BYTES`]. Opened without
/// blocking, so a FIFO named by mistake is refused instead of hanging the run.
fn read(file: &Path) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_nonblock())
        .open(file)
        .map_err(|e| format!("cannot read: {e}"))?;
    let meta = f.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut bytes = Vec::new();
    f.take(yaml::MAX_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
    Ok(bytes)
}

fn libc_nonblock() -> i32 {
    rustix::fs::OFlags::NONBLOCK.bits() as i32
}

/// A file, or a directory's `*.yaml`/`*.yml` files in name order.
fn expand(p: &Path) -> Result<Vec<PathBuf>, Problem> {
    let err = |message: String| Problem { file: p.to_path_buf(), at: None, key: String::new(), message };
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

/// Adds the policies and tests of one file to `set`; returns its problems.
fn parse_bytes(file: &Path, bytes: &[u8], set: &mut PolicySet, names: &mut HashMap<String, Origin>) -> Vec<Problem> {
    let mut ctx = Ctx { file, problems: Vec::new(), seen: HashSet::new() };
    match yaml::parse_bytes(bytes) {
        Err(e) => {
            ctx.problems.push(Problem { file: file.to_path_buf(), at: e.mark, key: String::new(), message: e.message })
        }
        Ok(doc) => {
            for d in &doc.duplicates {
                let message = format!("duplicate key (first at line {}); remove one", d.first.line);
                ctx.problems.push(Problem { file: file.to_path_buf(), at: Some(d.mark), key: d.path.clone(), message });
            }
            parse_file(&mut ctx, &doc.root, set, names);
        }
    }
    ctx.problems.sort_by_key(|p| p.at);
    ctx.problems
}

struct Ctx<'a> {
    file: &'a Path,
    problems: Vec<Problem>,
    /// Problems already reported (a `defaults` value is checked once per policy).
    seen: HashSet<(String, String)>,
}

/// A value and the key path it was written under.
#[derive(Clone, Copy)]
struct Field<'n> {
    node: &'n Node,
    path: &'n str,
}

impl Ctx<'_> {
    fn problem(&mut self, key: &str, at: Mark, message: impl Into<String>) {
        let message = message.into();
        if self.seen.insert((key.to_string(), message.clone())) {
            self.problems.push(Problem { file: self.file.to_path_buf(), at: Some(at), key: key.to_string(), message });
        }
    }

    fn origin(&self, at: Mark) -> Origin {
        Origin { file: self.file.to_path_buf(), line: at.line }
    }

    /// The entries of a mapping, or a problem.
    fn map<'n>(&mut self, f: Field<'n>, what: &str) -> Option<&'n [Entry]> {
        match &f.node.value {
            Value::Map(e) => Some(e),
            _ => {
                self.problem(f.path, f.node.mark, format!("expected {what}, found {}", f.node.kind()));
                None
            }
        }
    }

    /// Scalar text, or a problem. `plain_only` values (numbers, booleans) must not be quoted.
    fn text<'n>(&mut self, f: Field<'n>, plain_only: bool) -> Option<&'n str> {
        match (&f.node.value, f.node.text()) {
            (Value::Scalar { plain: false, text }, _) if plain_only => {
                self.problem(f.path, f.node.mark, format!("`{text}` is quoted text; write it without quotes"));
                None
            }
            (_, Some(t)) => Some(t),
            _ => {
                self.problem(f.path, f.node.mark, format!("expected a value, found {}", f.node.kind()));
                None
            }
        }
    }

    /// Parses a scalar with `parse`, reporting its error at the value.
    fn value<T>(&mut self, f: Field, plain_only: bool, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let t = self.text(f, plain_only)?;
        match parse(t) {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem(f.path, f.node.mark, e);
                None
            }
        }
    }

    /// The items of a list of scalars, each with its own path; a scalar stands for a
    /// list of one only where that cannot be misread, so it is a problem here.
    fn list<'n>(&mut self, f: Field<'n>) -> Option<Vec<(String, &'n Node)>> {
        match &f.node.value {
            Value::Seq(items) => {
                Some(items.iter().enumerate().map(|(i, n)| (yaml::index_path(f.path, i), n)).collect())
            }
            _ => {
                self.problem(
                    f.path,
                    f.node.mark,
                    format!("expected a list (e.g. [\"a\", \"b\"]), found {}", f.node.kind()),
                );
                None
            }
        }
    }

    /// Checks a mapping's keys against `known`; returns the known ones by name.
    fn keys<'n>(
        &mut self,
        entries: &'n [Entry],
        path: &str,
        known: &'static [Key],
    ) -> BTreeMap<&'static str, (String, &'n Entry)> {
        let mut out = BTreeMap::new();
        for e in entries {
            let key_path = yaml::key_path(path, &e.key);
            match known.iter().find(|k| k.name == e.key) {
                Some(k) => {
                    out.insert(k.name, (key_path, e));
                }
                None => {
                    let hint = match keys::suggest(&e.key, known) {
                        Some(s) => format!("; did you mean {s}?"),
                        None => {
                            format!("; known keys: {}", known.iter().map(|k| k.name).collect::<Vec<_>>().join(", "))
                        }
                    };
                    self.problem(&key_path, e.key_mark, format!("unknown key `{}`{hint}", e.key));
                }
            }
        }
        out
    }
}

fn parse_file(ctx: &mut Ctx, root: &Node, set: &mut PolicySet, names: &mut HashMap<String, Origin>) {
    let Some(entries) = ctx.map(Field { node: root, path: "" }, "a mapping with version and policies") else { return };
    let top = ctx.keys(entries, "", keys::FILE);
    for k in keys::FILE.iter().filter(|k| k.required && !top.contains_key(k.name)) {
        ctx.problem(k.name, root.mark, format!("missing key `{}`", k.name));
    }
    if let Some((path, e)) = top.get("version") {
        let f = Field { node: &e.value, path };
        if let Some(v) = ctx.value(f, true, value::count)
            && v != 1
        {
            ctx.problem(path, e.value.mark, format!("unsupported version {v}; this sweep reads version 1"));
        }
    }
    let mut defaults = BTreeMap::new();
    if let Some((path, e)) = top.get("defaults")
        && !e.value.is_null()
        && let Some(d) = ctx.map(Field { node: &e.value, path }, "a mapping of policy keys")
    {
        defaults = ctx.keys(d, path, keys::POLICY);
        for k in keys::POLICY.iter().filter(|k| k.place == Place::Policy) {
            if let Some((p, e)) = defaults.remove(k.name) {
                ctx.problem(&p, e.key_mark, "cannot be set in defaults, only in each policy");
            }
        }
    }
    if let Some((path, e)) = top.get("policies")
        && let Some(items) = ctx.list(Field { node: &e.value, path })
    {
        if items.is_empty() {
            ctx.problem(path, e.value.mark, "no policies: a policy file defines at least one");
        }
        for (item_path, node) in items {
            if let Some(policy) = policy(ctx, Field { node, path: &item_path }, &defaults) {
                if let Some(first) = names.get(&policy.name) {
                    let message = format!("duplicate policy name `{}` (first defined at {first})", policy.name);
                    ctx.problem(&yaml::key_path(&item_path, "name"), node.mark, message);
                } else {
                    names.insert(policy.name.clone(), policy.origin.clone());
                    set.policies.push(policy);
                }
            }
        }
    }
    if let Some((path, e)) = top.get("tests")
        && !e.value.is_null()
        && let Some(items) = ctx.list(Field { node: &e.value, path })
    {
        for (item_path, node) in items {
            if let Some(t) = test(ctx, Field { node, path: &item_path }) {
                set.tests.push(t);
            }
        }
    }
}

/// One policy, with `defaults` filling what it leaves out.
fn policy(ctx: &mut Ctx, f: Field, defaults: &BTreeMap<&'static str, (String, &Entry)>) -> Option<Policy> {
    let before = ctx.problems.len();
    let entries = ctx.map(f, "a mapping of policy keys")?;
    let own = ctx.keys(entries, f.path, keys::POLICY);
    // Each key: the policy's own value, else the default (reported where it is written).
    let get = |name: &str| -> Option<Field> {
        own.get(name).or_else(|| defaults.get(name)).map(|(path, e)| Field { node: &e.value, path: path.as_str() })
    };
    for k in keys::POLICY.iter().filter(|k| k.required) {
        if get(k.name).is_none() {
            ctx.problem(&yaml::key_path(f.path, k.name), f.node.mark, format!("missing key `{}`", k.name));
        }
    }
    let name = get("name").and_then(|v| ctx.value(v, false, valid_name));
    let root = get("root").and_then(|v| ctx.value(v, false, valid_root));
    let keep = get("keep").and_then(|v| ctx.value(v, false, Keep::parse));
    let keep_last = get("keep_last").map_or(Some(0), |v| ctx.value(v, true, value::count));
    let min_age = get("min_age").map_or(Some(Duration::ZERO), |v| ctx.value(v, false, value::duration));
    let max_delete = get("max_delete").map_or(Some(None), |v| ctx.value(v, false, value::max_delete));
    let max_future =
        get("max_future").map_or(Some(Duration::from_secs(86400)), |v| ctx.value(v, false, value::days_or_hours));
    let min_date = get("min_date").map_or(NaiveDate::from_ymd_opt(2000, 1, 1), |v| ctx.value(v, false, value::date));
    let on_unmatched = get("on_unmatched").map_or(Some(OnUnmatched::Fail), |v| {
        ctx.value(v, false, |s| match s {
            "fail" => Ok(OnUnmatched::Fail),
            "warn" => Ok(OnUnmatched::Warn),
            "refuse" => Ok(OnUnmatched::Refuse),
            _ => Err(format!("`{s}`: use fail, warn or refuse")),
        })
    });
    let flag = |ctx: &mut Ctx, name: &str, default: bool| {
        get(name).map_or(Some(default), |v| ctx.value(v, true, value::boolean))
    };
    let skip_open = flag(ctx, "skip_open", true);
    let remove_empty_dirs = flag(ctx, "remove_empty_dirs", true);
    let one_file_system = flag(ctx, "one_file_system", true);
    let date_from = get("date_from").map_or(Some(DateFrom::Path), |v| {
        ctx.value(v, false, |s| match s {
            "path" => Ok(DateFrom::Path),
            "mtime" => Ok(DateFrom::Mtime),
            _ => Err(format!("`{s}`: use path or mtime")),
        })
    });
    let zone = match get("timezone") {
        Some(v) => ctx.value(v, false, Zone::parse),
        None => Zone::parse("local").ok(),
    };
    let kind = get("calendar").map_or(Some(CalendarKind::Weekdays), |v| {
        ctx.value(v, false, |s| match s {
            "weekdays" => Ok(CalendarKind::Weekdays),
            "nyse" => Ok(CalendarKind::Nyse),
            _ => Err(format!("`{s}`: use weekdays or nyse")),
        })
    });
    let mut holidays = Vec::new();
    if let Some(v) = get("holidays")
        && let Some(items) = ctx.list(v)
    {
        for (p, n) in items {
            if let Some(d) = ctx.value(Field { node: n, path: &p }, false, value::date) {
                holidays.push(d);
            }
        }
    }
    let disk_fail_above = get("disk_fail_above").and_then(|v| {
        ctx.value(v, false, |s| {
            let share = value::share(s).ok_or_else(|| format!("`{s}`: write a percentage such as 90%"))?;
            if share.0 <= 0.0 { Err(format!("`{s}`: must be more than 0%")) } else { Ok(share) }
        })
    });
    let exclude = get("exclude").map_or_else(|| Some(Globs::default()), |v| globs(ctx, v, GlobKind::Exclude));
    let markers = get("markers").map_or_else(|| Some(Globs::default()), |v| globs(ctx, v, GlobKind::Marker));

    let mut templates = Vec::new();
    if let Some(v) = get("layouts")
        && let Some(items) = ctx.list(v)
    {
        if items.is_empty() {
            ctx.problem(v.path, v.node.mark, "at least one layout is required");
        }
        for (p, n) in items {
            let Some(src) = ctx.text(Field { node: n, path: &p }, false) else { continue };
            match Template::compile(src) {
                Ok(t) => {
                    match (date_from, t.precision().is_some()) {
                        (Some(DateFrom::Path), false) => ctx.problem(
                            &p,
                            n.mark,
                            format!("`{src}` has no date fields (%Y, %m, %d, ...), but date_from is path; add fields or set date_from: mtime"),
                        ),
                        (Some(DateFrom::Mtime), true) => ctx.problem(
                            &p,
                            n.mark,
                            format!("`{src}` has date fields, but date_from is mtime: dates come from the files' mtimes; remove the fields or use date_from: path"),
                        ),
                        _ => {}
                    }
                    templates.push(t);
                }
                Err(e) => ctx.problem(&p, n.mark, format!("`{src}`: {e}")),
            }
        }
    }

    let layouts = match Layouts::new(templates) {
        Ok(l) => Some(l),
        Err(e) => {
            if let Some(v) = get("layouts") {
                ctx.problem(v.path, v.node.mark, e);
            }
            None
        }
    };
    if ctx.problems.len() > before {
        return None;
    }
    Some(Policy {
        name: name?,
        origin: ctx.origin(f.node.mark),
        root: root?,
        layouts: layouts?,
        keep: keep?,
        exclude: exclude?,
        markers: markers?,
        keep_last: keep_last?,
        min_age: min_age?,
        max_delete: max_delete?,
        max_future: max_future?,
        min_date: min_date?,
        on_unmatched: on_unmatched?,
        skip_open: skip_open?,
        remove_empty_dirs: remove_empty_dirs?,
        one_file_system: one_file_system?,
        date_from: date_from?,
        zone: zone?,
        calendar: Calendar::new(kind?, holidays),
        disk_fail_above,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum GlobKind {
    /// Relative to the root, across directories.
    Exclude,
    /// One file name.
    Marker,
}

fn globs(ctx: &mut Ctx, f: Field, kind: GlobKind) -> Option<Globs> {
    let items = ctx.list(f)?;
    let before = ctx.problems.len();
    let mut out = Globs::default();
    let mut builder = GlobSetBuilder::new();
    for (p, n) in items {
        let Some(pat) = ctx.text(Field { node: n, path: &p }, false) else { continue };
        let wrong = match kind {
            GlobKind::Exclude if pat.starts_with('/') => {
                Some("exclude globs are relative to the root; remove the leading `/`")
            }
            GlobKind::Exclude if pat.split('/').any(|c| c == "..") => {
                Some("`..` would point outside the root; exclude globs name paths below it")
            }
            GlobKind::Marker if pat.contains('/') => Some("markers are file names: no `/`"),
            _ => None,
        };
        if let Some(w) = wrong {
            ctx.problem(&p, n.mark, format!("`{pat}`: {w}"));
            continue;
        }
        match GlobBuilder::new(pat).literal_separator(true).backslash_escape(true).build() {
            Ok(g) => {
                builder.add(g);
                out.patterns.push(pat.to_string());
            }
            Err(e) => ctx.problem(&p, n.mark, format!("`{pat}`: {}", e.kind())),
        }
    }
    match builder.build() {
        Ok(s) => out.set = s,
        Err(e) => ctx.problem(f.path, f.node.mark, e.to_string()),
    }
    (ctx.problems.len() == before).then_some(out)
}

fn test(ctx: &mut Ctx, f: Field) -> Option<PolicyTest> {
    let before = ctx.problems.len();
    let entries = ctx.map(f, "a mapping with now and expect")?;
    let k = ctx.keys(entries, f.path, keys::TEST);
    for key in keys::TEST.iter().filter(|key| !k.contains_key(key.name)) {
        ctx.problem(&yaml::key_path(f.path, key.name), f.node.mark, format!("missing key `{}`", key.name));
    }
    let now = k.get("now").and_then(|(p, e)| ctx.value(Field { node: &e.value, path: p }, false, Now::parse));
    let mut expect = Vec::new();
    if let Some((p, e)) = k.get("expect")
        && let Some(items) = ctx.map(Field { node: &e.value, path: p }, "a mapping of paths to actions")
    {
        for item in items {
            let at = yaml::key_path(p, &item.key);
            if !item.key.starts_with('/') {
                ctx.problem(&at, item.key_mark, format!("`{}`: test paths are absolute", item.key));
                continue;
            }
            if let Some(action) = ctx.value(Field { node: &item.value, path: &at }, false, |s| s.parse::<Action>()) {
                expect.push(Expectation { path: PathBuf::from(&item.key), action, at: item.key_mark, key: at.clone() });
            }
        }
    }
    if ctx.problems.len() > before {
        return None;
    }
    Some(PolicyTest { origin: ctx.origin(f.node.mark), now: now?, expect })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<String> {
        load_text(Path::new("p.yaml"), yaml.as_bytes()).1.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn roots_and_names() {
        assert!(valid_root("data/x").is_err());
        assert!(valid_root("/data/../etc").is_err());
        assert_eq!(valid_root("/data/x/").unwrap(), PathBuf::from("/data/x"));
        assert!(valid_name("ticker-load.v2_x").is_ok());
        assert!(valid_name("ticker load").is_err());
    }

    #[test]
    fn every_kind_of_problem_in_one_run() {
        let p = problems(
            "version: 1\npolicies:\n  - name: a\n    root: /d\n    layout: [\"%Y/**\"]\n    keep: 0d\n    keep: 1d\n    keep_last: \"2\"\n    exclude: [\"../**\"]\n",
        );
        let text = p.join("\n");
        assert!(text.contains("p.yaml:7:5: policies[0].keep: duplicate key (first at line 6)"), "{text}");
        assert!(text.contains("p.yaml:5:5: policies[0].layout: unknown key `layout`; did you mean layouts?"), "{text}");
        assert!(text.contains("policies[0].layouts: missing key `layouts`"), "{text}");
        assert!(text.contains("p.yaml:6:11: policies[0].keep: `0d`: keep must be at least 1"), "{text}");
        assert!(text.contains("policies[0].keep_last: `2` is quoted text"), "{text}");
        assert!(text.contains("policies[0].exclude[0]: `../**`"), "{text}");
    }

    #[test]
    fn a_bad_default_is_reported_once_where_it_is_written() {
        let p = problems(
            "version: 1\ndefaults:\n  keep: 7days\npolicies:\n  - {name: a, root: /a, layouts: [\"%Y/**\"]}\n  - {name: b, root: /b, layouts: [\"%Y/**\"]}\n",
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("p.yaml:3:9: defaults.keep: `7days`"), "{p:?}");
    }
}
