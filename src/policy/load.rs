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
use std::path::{Path, PathBuf};

use super::build;
use super::context::{Ctx, Field};
use super::keys::{self, Place};
use super::yaml::{self, Node, clip};
use super::*;

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
            Err((code, message)) => {
                problems.push(Problem { code, file: file.clone(), at: None, key: String::new(), message })
            }
        }
    }
    if problems.is_empty() && set.policies.is_empty() {
        problems.push(Problem {
            code: Code::NoPolicies,
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
fn read(file: &Path) -> Result<Vec<u8>, (Code, String)> {
    let unreadable = |m: String| (Code::Unreadable, m);
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_nonblock())
        .open(file)
        .map_err(|e| unreadable(format!("cannot read: {e}")))?;
    let meta = f.metadata().map_err(|e| unreadable(format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(unreadable("not a regular file".into()));
    }
    unsafe_for_root(&meta, "policy file").map_err(|m| (Code::UnsafeFile, m))?;
    if meta.len() > yaml::MAX_BYTES as u64 {
        let len = meta.len();
        return Err(unreadable(format!("the file is {len} bytes; policy files are at most {} bytes", yaml::MAX_BYTES)));
    }
    let mut bytes = Vec::new();
    f.take(yaml::MAX_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(|e| unreadable(format!("cannot read: {e}")))?;
    Ok(bytes)
}

/// As root, a policy file (or directory of them) another user could have written is
/// refused: its policies would decide what root deletes.
fn unsafe_for_root(meta: &std::fs::Metadata, what: &str) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    if meta.uid() != 0 {
        return Err(format!(
            "this {what} is owned by uid {}, not root: sweep runs as root, and another user's file would decide what root deletes",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "this {what} can be written by {} (mode {mode:04o}): sweep runs as root, and another user could decide what root deletes; chmod go-w it",
            if mode & 0o002 != 0 { "every user" } else { "its group" }
        ));
    }
    Ok(())
}

fn libc_nonblock() -> i32 {
    rustix::fs::OFlags::NONBLOCK.bits() as i32
}

/// A file, or a directory's `*.yaml`/`*.yml` files in name order.
fn expand(p: &Path) -> Result<Vec<PathBuf>, Problem> {
    let at =
        |code: Code, message: String| Problem { code, file: p.to_path_buf(), at: None, key: String::new(), message };
    let err = |message: String| at(Code::Unreadable, message);
    let meta = std::fs::metadata(p).map_err(|e| err(format!("cannot read: {e}")))?;
    if !meta.is_dir() {
        return Ok(vec![p.to_path_buf()]);
    }
    unsafe_for_root(&meta, "directory of policy files").map_err(|m| at(Code::UnsafeFile, m))?;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(p).map_err(|e| err(format!("cannot read directory: {e}")))? {
        let path = entry.map_err(|e| err(format!("cannot read directory: {e}")))?.path();
        let yaml = path.extension().is_some_and(|x| x == "yaml" || x == "yml");
        // Whatever is named like a policy file is read, or said why not (a FIFO, a link
        // to a device): nothing named so is skipped silently.
        if yaml && !path.is_dir() {
            out.push(path);
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(at(Code::NoPolicies, "no *.yaml or *.yml files in this directory".into()));
    }
    Ok(out)
}

/// Adds the policies and tests of one file to `set`; returns its problems.
fn parse_bytes(file: &Path, bytes: &[u8], set: &mut PolicySet, names: &mut HashMap<String, Origin>) -> Vec<Problem> {
    let mut ctx = Ctx { file, problems: Vec::new(), seen: HashSet::new(), templates: HashMap::new() };
    match yaml::parse_bytes(bytes) {
        Err(e) => {
            let (file, at, message) = (file.to_path_buf(), e.mark, e.message);
            ctx.problems.push(Problem { code: Code::Syntax, file, at, key: String::new(), message })
        }
        Ok(doc) => {
            for d in &doc.duplicates {
                let message = format!("duplicate key (first at line {}); remove one", d.first.line);
                let (file, at, key) = (file.to_path_buf(), Some(d.mark), d.path.clone());
                ctx.problems.push(Problem { code: Code::DuplicateKey, file, at, key, message });
            }
            parse_file(&mut ctx, &doc.root, set, names);
        }
    }
    ctx.problems.sort_by_key(|p| p.at);
    ctx.problems
}

/// The `name` a policy's mapping gives itself, if it is a plain string.
fn name_of(node: &Node) -> Option<String> {
    match &node.value {
        yaml::Value::Map(entries) => entries.iter().find(|e| e.key == "name").and_then(|e| match &e.value.value {
            yaml::Value::Scalar { text, .. } if !text.is_empty() => Some(text.clone()),
            _ => None,
        }),
        _ => None,
    }
}

fn parse_file(ctx: &mut Ctx, root: &Node, set: &mut PolicySet, names: &mut HashMap<String, Origin>) {
    let Some(entries) = ctx.map(Field { node: root, path: "" }, "a mapping with version and policies") else { return };
    let top = ctx.keys(entries, "", keys::FILE);
    for k in keys::FILE.iter().filter(|k| k.required && !top.contains_key(k.name)) {
        ctx.problem(Code::MissingKey, k.name, root.mark, format!("missing key `{}`", k.name));
    }
    if let Some((path, e)) = top.get("version") {
        let f = Field { node: &e.value, path };
        if let Some(v) = ctx.value(f, true, value::count)
            && v != 1
        {
            let message = format!("unsupported version {v}; this sweep reads version 1");
            ctx.problem(Code::UnsupportedVersion, path, e.value.mark, message);
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
                ctx.problem(Code::NotInDefaults, &p, e.key_mark, "cannot be set in defaults, only in each policy");
            }
        }
    }
    if let Some((path, e)) = top.get("policies")
        && let Some(items) = ctx.list(Field { node: &e.value, path })
    {
        if items.is_empty() {
            ctx.problem(Code::NoPolicies, path, e.value.mark, "no policies: a policy file defines at least one");
        }
        for (item_path, node) in items {
            // The name is checked for duplicates whatever else is wrong with the policy:
            // every problem of a file is reported in one run.
            let name = name_of(node);
            let duplicate = name.as_ref().and_then(|n| names.get(n).map(|first| (n.clone(), first.clone())));
            if let Some((n, first)) = &duplicate {
                let message = format!("duplicate policy name `{}` (first defined at {first})", clip(n));
                ctx.problem(Code::DuplicateName, &yaml::key_path(&item_path, "name"), node.mark, message);
            }
            let policy = build::policy(ctx, Field { node, path: &item_path }, &defaults);
            match (policy, name) {
                (Some(policy), _) if duplicate.is_none() => {
                    names.insert(policy.name.clone(), policy.origin.clone());
                    set.policies.push(policy);
                }
                (None, Some(n)) if duplicate.is_none() => {
                    let origin = Origin { file: ctx.file.to_path_buf(), line: node.mark.line };
                    names.insert(n, origin);
                }
                _ => {}
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

fn test(ctx: &mut Ctx, f: Field) -> Option<PolicyTest> {
    let before = ctx.problems.len();
    let entries = ctx.map(f, "a mapping with now and expect")?;
    let k = ctx.keys(entries, f.path, keys::TEST);
    for key in keys::TEST.iter().filter(|key| !k.contains_key(key.name)) {
        ctx.problem(
            Code::MissingKey,
            &yaml::key_path(f.path, key.name),
            f.node.mark,
            format!("missing key `{}`", key.name),
        );
    }
    let now = k.get("now").and_then(|(p, e)| ctx.value(Field { node: &e.value, path: p }, false, Now::parse));
    let mut expect = Vec::new();
    if let Some((p, e)) = k.get("expect")
        && let Some(items) = ctx.map(Field { node: &e.value, path: p }, "a mapping of paths to actions")
    {
        for item in items {
            let at = yaml::key_path(p, &item.key);
            if !item.key.starts_with('/') && !super::object::is_url(std::path::Path::new(&item.key)) {
                ctx.problem(
                    Code::BadValue,
                    &at,
                    item.key_mark,
                    format!("`{}`: test paths are absolute (or s3://, gs://, az:// URLs)", clip(&item.key)),
                );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<String> {
        load_text(Path::new("p.yaml"), yaml.as_bytes()).1.iter().map(ToString::to_string).collect()
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
