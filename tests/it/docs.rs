//! The documents say what the code does: the guide's policy reference is the loader's key
//! table (`src/policy/keys.rs`), the exit-code tables are the exit enum's, and every link
//! between the documents reaches a file and a heading that exist.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use sweep::exit::Exit;
use sweep::policy::keys::{ARCHIVE, COMPRESS, FILE, Key, POLICY, Place, TEST};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The text of the section that starts with the heading line `heading`, up to the next
/// heading of the same level or above.
fn section<'a>(text: &'a str, heading: &str, file: &str) -> &'a str {
    let level = heading.split(' ').next().unwrap_or("");
    let start = text
        .lines()
        .scan(0, |at, l| {
            let here = *at;
            *at += l.len() + 1;
            Some((here, l))
        })
        .find(|(_, l)| *l == heading)
        .map(|(at, _)| at + heading.len() + 1)
        .unwrap_or_else(|| panic!("{file} has no heading `{heading}`"));
    let rest = &text[start.min(text.len())..];
    let mut end = rest.len();
    let mut at = 0;
    for l in rest.lines() {
        let hashes = l.chars().take_while(|c| *c == '#').count();
        if hashes > 0 && hashes <= level.len() && l[hashes..].starts_with(' ') {
            end = at;
            break;
        }
        at += l.len() + 1;
    }
    &rest[..end]
}

/// The cells of a Markdown table row; `\|` inside a cell is text.
fn cells(row: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cell = String::new();
    let mut chars = row.trim().trim_start_matches('|').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => out.push(std::mem::take(&mut cell).trim().to_string()),
            _ => cell.push(c),
        }
    }
    out
}

/// The rows (cells) of every table in `text` whose header row is `header`.
fn table_rows(text: &str, header: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut inside = false;
    for l in text.lines() {
        if l.trim() == header {
            inside = true;
        } else if !l.trim_start().starts_with('|') {
            inside = false;
        } else if inside && !l.trim_start().starts_with("|---") {
            rows.push(cells(l));
        }
    }
    rows
}

const KEY_HEADER: &str = "| key | value | default | what it does |";

/// The guide's policy reference lists exactly the keys the loader accepts, each table
/// those of one place in the file, with the loader's defaults, and says which keys cannot
/// go in `defaults` and which mean nothing on an object storage root.
#[test]
fn the_guide_lists_every_policy_key_and_no_other() {
    let guide = read("docs/guide.md");
    let reference = section(&guide, "## Policy reference", "docs/guide.md");
    // (heading, keys, whether the rows say where the key may go and which roots it fits)
    let tables: [(&str, &[Key], bool); 5] = [
        ("### The file", FILE, false),
        ("### A policy", POLICY, true),
        ("### `compress`", COMPRESS, false),
        ("### `archive`", ARCHIVE, false),
        ("### `tests`", TEST, false),
    ];
    // No key table hides under a heading this test does not know.
    for sub in reference.split("\n### ").skip(1) {
        let heading = format!("### {}", sub.lines().next().unwrap_or(""));
        let known = tables.iter().any(|(h, _, _)| *h == heading);
        assert!(
            known || table_rows(sub, KEY_HEADER).is_empty(),
            "docs/guide.md: `{heading}` has a key table this test does not check"
        );
    }
    let mut problems = Vec::new();
    for (heading, keys, policy) in tables {
        let rows = table_rows(section(reference, heading, "docs/guide.md's policy reference"), KEY_HEADER);
        assert!(!rows.is_empty(), "docs/guide.md: `{heading}` has no `{KEY_HEADER}` table");
        let mut listed = BTreeMap::new();
        for row in &rows {
            let [name, _value, default, doc] = &row[..] else {
                problems.push(format!("{heading}: a row has {} cells, not 4: {row:?}", row.len()));
                continue;
            };
            let Some(name) = name.strip_prefix('`').and_then(|n| n.strip_suffix('`')).filter(|n| !n.contains('`'))
            else {
                problems.push(format!("{heading}: the first cell names no key: {name:?}"));
                continue;
            };
            if listed.insert(name.to_string(), (default.clone(), doc.clone())).is_some() {
                problems.push(format!("{heading}: `{name}` is listed twice"));
            }
        }
        for key in keys {
            let Some((default, doc)) = listed.get(key.name) else {
                problems.push(format!("{heading}: the key `{}` is missing from the reference", key.name));
                continue;
            };
            let want = match (key.required, key.default) {
                (true, _) => "required".to_string(),
                (false, Some(d)) => format!("`{d}`"),
                (false, None) => "—".to_string(),
            };
            if *default != want {
                problems.push(format!(
                    "{heading}: `{}` has the default {default:?}; the key table says {want:?}",
                    key.name
                ));
            }
            if policy {
                let policy_only = doc.contains("Not in `defaults`.");
                if policy_only != (key.place == Place::Policy) {
                    problems.push(format!(
                        "{heading}: `{}` {} say \"Not in `defaults`.\"",
                        key.name,
                        if policy_only { "must not" } else { "must" }
                    ));
                }
                let local_only = doc.contains("Local roots only.");
                if local_only == key.object_root {
                    problems.push(format!(
                        "{heading}: `{}` {} say \"Local roots only.\"",
                        key.name,
                        if local_only { "must not" } else { "must" }
                    ));
                }
                let object_only = doc.contains("Object roots only.");
                if object_only == key.local_root {
                    problems.push(format!(
                        "{heading}: `{}` {} say \"Object roots only.\"",
                        key.name,
                        if object_only { "must not" } else { "must" }
                    ));
                }
            }
        }
        let known: BTreeSet<&str> = keys.iter().map(|k| k.name).collect();
        for name in listed.keys().filter(|n| !known.contains(n.as_str())) {
            problems.push(format!("{heading}: `{name}` is not a key the loader accepts there"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/guide.md's policy reference and src/policy/keys.rs disagree:\n{}",
        problems.join("\n")
    );
}

/// The README and docs/output.md carry the same exit-code table, and it lists every code
/// the exit enum has, and the signal codes.
#[test]
fn the_exit_code_tables_agree_with_the_code() {
    let header = "| code | meaning |";
    let readme = table_rows(section(&read("README.md"), "## Exit codes", "README.md"), header);
    let output = table_rows(section(&read("docs/output.md"), "## Exit codes", "docs/output.md"), header);
    assert_eq!(readme, output, "README.md and docs/output.md have different exit-code tables");
    let listed: BTreeSet<u8> = readme
        .iter()
        .flat_map(|row| {
            row[0].split(',').map(|c| c.trim().parse::<u8>().unwrap_or_else(|_| panic!("code {:?}", row[0])))
        })
        .collect();
    let mut want: BTreeSet<u8> = Exit::TABLE.iter().map(|e| e.code()).collect();
    want.extend([129, 130, 141, 143]);
    assert_eq!(listed, want, "the exit-code table lists exactly the codes sweep exits with");
    for e in Exit::TABLE {
        let row = readme.iter().find(|r| r[0] == e.code().to_string()).unwrap();
        let first = e.meaning().split([',', ':', ';']).next().unwrap_or("");
        assert!(
            row[1].replace('`', "").contains(first),
            "exit {}: the table says {:?}, sweep says {:?}",
            e.code(),
            row[1],
            e.meaning()
        );
    }
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, other punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for l in text.lines() {
        if l.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && l.starts_with('#') {
            out.insert(anchor(l.trim_start_matches('#')));
        }
    }
    out
}

/// Relative links `[text](target)` outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for l in text.lines() {
        if l.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        for (i, _) in l.match_indices("](") {
            let rest = &l[i + 2..];
            if let Some(end) = rest.find(')') {
                let target = &rest[..end];
                if !target.contains("://") && !target.starts_with("mailto:") {
                    out.push(target.to_string());
                }
            }
        }
    }
    out
}

/// Every link between the documents reaches a file that exists, and a heading that
/// exists when it names one: moving a section must move the links to it.
#[test]
fn links_between_the_documents_resolve() {
    let docs = [
        "README.md",
        "docs/guide.md",
        "docs/operations.md",
        "docs/output.md",
        "docs/safety.md",
        "docs/architecture.md",
        "bench/README.md",
        "examples/README.md",
        "packaging/README.md",
        "CHANGELOG.md",
    ];
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in docs {
        let text = read(doc);
        let dir = Path::new(doc).parent().unwrap_or(Path::new(""));
        for link in links(&text) {
            let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target: PathBuf = if file.is_empty() { PathBuf::from(doc) } else { dir.join(file) };
            let path = repo().join(&target);
            checked += 1;
            if !path.exists() {
                broken.push(format!("{doc}: {link}: no file {}", target.display()));
                continue;
            }
            if !fragment.is_empty() {
                let Ok(target_text) = fs::read_to_string(&path) else {
                    broken.push(format!("{doc}: {link}: {} is not a document", target.display()));
                    continue;
                };
                if !anchors(&target_text).contains(fragment) {
                    broken.push(format!("{doc}: {link}: {} has no heading #{fragment}", target.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked > 40, "only {checked} links found: is the link reader still right?");
}

#[test]
fn every_check_problem_code_is_documented() {
    let output = read("docs/output.md");
    for code in sweep::policy::Code::ALL {
        let code = code.as_str();
        assert!(output.contains(&format!("`{code}`")), "docs/output.md does not list the check problem code `{code}`");
    }
}

/// The README is the front page — what, why, quick start, install, one worked example,
/// links — and the depth lives in docs/: it stays short enough to be read.
#[test]
fn the_readme_stays_under_400_lines() {
    let n = read("README.md").lines().count();
    assert!(n <= 400, "README.md has {n} lines: move the depth to docs/");
}
