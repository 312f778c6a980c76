//! The one place sweep reads YAML: text → a tree of [`Node`]s that know where they were
//! written.
//!
//! Policy files come from pull requests (CI runs `sweep check` on them), so this reader
//! is built to be fed hostile text. It works on saphyr-parser's event stream (pure Rust,
//! no `unsafe`, a span on every event) and stops at the first of these limits, each with
//! an error that says which: [`MAX_BYTES`] of text, [`MAX_DEPTH`] levels of nesting,
//! [`MAX_NODES`] values and [`MAX_TEXT`] bytes of keys and scalars in all, both counting
//! every copy an alias makes (so a "billion laughs" file is refused after a few hundred
//! thousand copies, and one long scalar aliased many times after a few megabytes, not
//! after exhausting memory). Streaming the events means a deeply nested file is refused
//! at the first level too many, before the parser has seen the rest. Keys and values
//! quoted in messages are cut to [`QUOTE`] characters ([`clip`]), so no message grows
//! with the input.
//!
//! Keeping positions on every value is what lets the loader report every problem of a
//! file in one run, each at its line and column, and a duplicate key is found here, in any
//! mapping, instead of silently replacing the first.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// The largest policy file read, in bytes.
pub const MAX_BYTES: usize = 1024 * 1024;
/// The deepest nesting of sequences and mappings.
pub const MAX_DEPTH: usize = 32;
/// The most values in one file, counting each copy an alias makes.
pub const MAX_NODES: usize = 200_000;
/// The most bytes of keys and scalars in one file, counting each copy an alias makes:
/// what the loaded file holds in memory, and what later steps (compiling layouts,
/// matching test paths) work through.
pub const MAX_TEXT: usize = 4 * 1024 * 1024;
/// The most characters of a key or value quoted in a message.
pub const QUOTE: usize = 80;

/// `text` for a message: whole when short, else its first [`QUOTE`] characters and `…`.
pub fn clip(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(QUOTE) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
    }
}

/// A position in a file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Mark {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in characters.
    pub column: usize,
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One value and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where it starts.
    pub mark: Mark,
}

/// A YAML value. Scalars stay text: the loader decides what each key's text means, so
/// `keep: 1d` and `keep_last: 3` need no guessing about types here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A scalar; `plain` when it was written without quotes (only plain scalars can be
    /// numbers, booleans or null).
    Scalar {
        /// The text.
        text: String,
        /// Written without quotes.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order, without duplicate keys.
    Map(Vec<MapEntry>),
}

/// One key of a mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    /// The key's text.
    pub key: String,
    /// Where the key is written.
    pub key_mark: Mark,
    /// Its value.
    pub value: Node,
}

impl Node {
    /// The scalar text, when this is a scalar that is not null.
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } if !self.is_null() => Some(text),
            _ => None,
        }
    }

    /// True for `~`, `null` and an empty plain value.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            _ if self.is_null() => "nothing",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A key written twice in one mapping. The first value is the one used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The key's path (`policies[0].keep`).
    pub path: String,
    /// Where the second occurrence is.
    pub mark: Mark,
    /// Where the first is.
    pub first: Mark,
}

/// The path of the child `key` of the mapping at `parent`: `policies[0].keep`, or
/// `tests[0].expect["/a/b"]` for keys that are not simple names. A long key is
/// [`clip`]ped: the path is for messages, and every value below the key carries it.
pub fn key_path(parent: &str, key: &str) -> String {
    let simple = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = clip(key);
    match (parent.is_empty(), simple) {
        (true, true) => key.to_string(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{key:?}]"),
    }
}

/// The path of item `i` of the sequence at `parent`.
pub fn index_path(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// A file read as YAML.
#[derive(Debug)]
pub struct Document {
    /// The top value.
    pub root: Node,
    /// Keys written twice, in document order.
    pub duplicates: Vec<Duplicate>,
}

/// Why a file is not YAML sweep can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// Where, when known.
    pub mark: Option<Mark>,
    /// What is wrong.
    pub message: String,
}

impl YamlError {
    fn at(mark: Mark, message: impl Into<String>) -> YamlError {
        YamlError { mark: Some(mark), message: message.into() }
    }
}

/// Reads raw bytes: checks size, encoding and byte-order mark, then parses.
pub fn parse_bytes(bytes: &[u8]) -> Result<Document, YamlError> {
    if bytes.len() > MAX_BYTES {
        return Err(YamlError {
            mark: None,
            message: format!("the file is {} bytes; policy files are at most {MAX_BYTES} bytes", bytes.len()),
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[start..]).chars().count() + 1;
        YamlError::at(Mark { line, column }, "not valid UTF-8: policy files are UTF-8 text")
    })?;
    parse(text)
}

/// Parses one YAML document.
pub fn parse(text: &str) -> Result<Document, YamlError> {
    if text.len() > MAX_BYTES {
        return Err(YamlError { mark: None, message: format!("policy files are at most {MAX_BYTES} bytes") });
    }
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    let mut documents = 0;
    while let Some(next) = parser.next_event() {
        let (ev, span) = next.map_err(|e| {
            let m = e.marker();
            let message = if e.info().contains("recursion limit") {
                format!("nested more than {MAX_DEPTH} levels deep")
            } else {
                e.info().to_string()
            };
            YamlError::at(Mark { line: m.line(), column: m.col() + 1 }, message)
        })?;
        let mark = mark_of(span);
        match ev {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlError::at(mark, "more than one YAML document: a policy file holds one"));
                }
            }
            Event::StreamEnd => break,
            ev => b.event(ev, mark)?,
        }
    }
    match b.done {
        Some(root) => Ok(Document { root, duplicates: b.duplicates }),
        None => Err(YamlError { mark: None, message: "the file is empty".into() }),
    }
}

fn mark_of(span: Span) -> Mark {
    Mark { line: span.start.line(), column: span.start.col() + 1 }
}

/// A collection being built, with its path for messages.
enum Open {
    Seq {
        anchor: usize,
        mark: Mark,
        path: String,
        items: Vec<Node>,
    },
    Map {
        anchor: usize,
        mark: Mark,
        path: String,
        entries: Vec<MapEntry>,
        seen: HashMap<String, Mark>,
        key: Option<(String, Mark)>,
    },
}

/// What a node costs against the file's budget: values, and bytes of keys and scalars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Cost {
    values: usize,
    bytes: usize,
}

impl Cost {
    fn add(self, other: Cost) -> Cost {
        Cost { values: self.values.saturating_add(other.values), bytes: self.bytes.saturating_add(other.bytes) }
    }

    /// Adds `cost` to what the file has spent, or says which budget it exceeds.
    fn charge(&mut self, cost: Cost, mark: Mark) -> Result<(), YamlError> {
        *self = self.add(cost);
        if self.values > MAX_NODES {
            return Err(YamlError::at(
                mark,
                format!("more than {MAX_NODES} values (counting what aliases repeat): refusing to expand further"),
            ));
        }
        if self.bytes > MAX_TEXT {
            return Err(YamlError::at(
                mark,
                format!(
                    "more than {MAX_TEXT} bytes of keys and values (counting what aliases repeat): refusing to expand further"
                ),
            ));
        }
        Ok(())
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    /// Each anchored node with its cost, so an alias is charged before it is copied.
    anchors: HashMap<usize, (Node, Cost)>,
    spent: Cost,
    done: Option<Node>,
    duplicates: Vec<Duplicate>,
}

impl Builder {
    fn event(&mut self, ev: Event, mark: Mark) -> Result<(), YamlError> {
        match ev {
            Event::Scalar(text, style, anchor, _) => {
                self.spent.charge(Cost { values: 1, bytes: text.len() }, mark)?;
                let node =
                    Node { value: Value::Scalar { text: text.into_owned(), plain: style == ScalarStyle::Plain }, mark };
                self.finish(node, anchor)
            }
            Event::Alias(id) => {
                let Some((node, cost)) = self.anchors.get(&id) else {
                    return Err(YamlError::at(mark, "alias to an anchor that is not defined before it"));
                };
                // Charged before it is copied: the copy is what could exhaust memory.
                self.spent.charge(*cost, mark)?;
                let node = node.clone();
                // An alias used as a key is a scalar key or an error, like any key.
                self.finish(Node { mark, ..node }, 0)
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err(YamlError::at(mark, format!("nested more than {MAX_DEPTH} levels deep")));
                }
                let path = match self.stack.last() {
                    None => String::new(),
                    Some(Open::Seq { path, items, .. }) => index_path(path, items.len()),
                    Some(Open::Map { path, key: Some((k, _)), .. }) => key_path(path, k),
                    Some(Open::Map { key: None, .. }) => {
                        return Err(YamlError::at(mark, "a mapping key must be a plain value, not a list or mapping"));
                    }
                };
                self.spent.charge(Cost { values: 1, bytes: 0 }, mark)?;
                self.stack.push(match ev {
                    Event::SequenceStart(..) => Open::Seq { anchor, mark, path, items: Vec::new() },
                    _ => Open::Map { anchor, mark, path, entries: Vec::new(), seen: HashMap::new(), key: None },
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Open::Seq { anchor, mark, items, .. }) => (Node { value: Value::Seq(items), mark }, anchor),
                    Some(Open::Map { anchor, mark, entries, .. }) => {
                        (Node { value: Value::Map(entries), mark }, anchor)
                    }
                    None => return Ok(()),
                };
                self.finish(node, anchor)
            }
            _ => Ok(()),
        }
    }

    /// Places a finished node in its parent (or as the document).
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), cost(&node)));
        }
        match self.stack.last_mut() {
            None => {
                self.done = Some(node);
                Ok(())
            }
            Some(Open::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Open::Map { entries, seen, key, path, .. }) => match key.take() {
                None => {
                    let Value::Scalar { text, .. } = node.value else {
                        return Err(YamlError::at(node.mark, "a mapping key must be a plain value"));
                    };
                    *key = Some((text, node.mark));
                    Ok(())
                }
                Some((k, key_mark)) => {
                    if let Some(first) = seen.get(&k) {
                        self.duplicates.push(Duplicate { path: key_path(path, &k), mark: key_mark, first: *first });
                    } else {
                        seen.insert(k.clone(), key_mark);
                        entries.push(MapEntry { key: k, key_mark, value: node });
                    }
                    Ok(())
                }
            },
        }
    }
}

/// What a copy of a node costs, for the alias budget.
fn cost(n: &Node) -> Cost {
    match &n.value {
        Value::Scalar { text, .. } => Cost { values: 1, bytes: text.len() },
        Value::Seq(items) => items.iter().map(cost).fold(Cost { values: 1, bytes: 0 }, Cost::add),
        Value::Map(entries) => entries
            .iter()
            .map(|e| Cost { values: 1, bytes: e.key.len() }.add(cost(&e.value)))
            .fold(Cost { values: 1, bytes: 0 }, Cost::add),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(n: &Node) -> &[MapEntry] {
        match &n.value {
            Value::Map(e) => e,
            v => panic!("not a map: {v:?}"),
        }
    }

    #[test]
    fn values_know_where_they_are() {
        let d = parse("version: 1\npolicies:\n  - name: a\n    keep: \"0d\"\n    layouts: [x, y]\n").unwrap();
        let top = map(&d.root);
        assert_eq!(top[0].key, "version");
        assert_eq!(top[0].key_mark, Mark { line: 1, column: 1 });
        assert_eq!(top[0].value.mark, Mark { line: 1, column: 10 });
        let Value::Seq(policies) = &top[1].value.value else { panic!() };
        let p = map(&policies[0]);
        assert_eq!(p[1].value.value, Value::Scalar { text: "0d".into(), plain: false });
        assert_eq!(p[1].value.mark, Mark { line: 4, column: 11 });
        assert_eq!(p[2].value.mark.line, 5);
    }

    #[test]
    fn duplicate_keys_are_found_anywhere_and_the_first_wins() {
        let d = parse("a: 1\nb:\n  x: 1\n  x: 2\na: 3\n").unwrap();
        assert_eq!(d.duplicates.len(), 2);
        assert_eq!(
            (d.duplicates[0].path.as_str(), d.duplicates[0].mark.line, d.duplicates[0].first.line),
            ("b.x", 4, 3)
        );
        assert_eq!((d.duplicates[1].path.as_str(), d.duplicates[1].mark.line), ("a", 5));
        assert_eq!(map(&d.root)[0].value.text(), Some("1"));
        let d = parse("tests:\n  - expect:\n      /a/b: keep\n      /a/b: delete\n").unwrap();
        assert_eq!(d.duplicates[0].path, "tests[0].expect[\"/a/b\"]");
    }

    #[test]
    fn nulls_and_quotes() {
        let d = parse("a:\nb: ~\nc: ''\nd: null\n").unwrap();
        let m = map(&d.root);
        assert!(m[0].value.is_null() && m[1].value.is_null() && m[3].value.is_null());
        assert!(!m[2].value.is_null());
    }

    #[test]
    fn hostile_input_is_refused_with_a_reason() {
        let deep = "[".repeat(100_000);
        let e = parse(&deep).unwrap_err();
        assert!(e.message.contains("nested more than 32"), "{e:?}");

        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..12 {
            let prev = if i == 0 { "a".to_string() } else { format!("l{}", i - 1) };
            bomb.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let e = parse(&bomb).unwrap_err();
        assert!(e.message.contains("counting what aliases repeat"), "{e:?}");

        let big = "a: b\n".repeat(MAX_BYTES / 5 + 1);
        assert!(parse_bytes(big.as_bytes()).unwrap_err().message.contains("at most"));
        assert!(parse("a: 1\n---\nb: 2\n").unwrap_err().message.contains("more than one"));
        assert!(parse("").unwrap_err().message.contains("empty"));
    }

    #[test]
    fn aliases_are_charged_for_their_text() {
        let long = "x".repeat(100_000);
        let text = format!("big: &a \"{long}\"\nrep: [{}]\n", vec!["*a"; 100].join(", "));
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("more than 4194304 bytes of keys and values"), "{e:?}");
        assert_eq!(e.mark.map(|m| m.line), Some(2));
        // Aliases used as keys are charged too.
        let text = format!("k: &k \"{long}\"\nm:\n{}", (0..50).map(|i| format!("  *k : {i}\n")).collect::<String>());
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("bytes of keys and values"), "{e:?}");
        // Well under the budget, aliases still work.
        let text = format!("big: &a \"{long}\"\nrep: [*a, *a, *a]\n");
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn long_keys_are_clipped_in_paths() {
        let key = "k".repeat(10_000);
        assert_eq!(clip(&key).chars().count(), QUOTE + 1);
        assert!(clip(&key).ends_with('…'));
        assert_eq!(clip("short"), "short");
        assert_eq!(clip(&"é".repeat(100)).chars().count(), QUOTE + 1);
        assert!(key_path("a", &key).len() < 100);
        let d = parse(&format!("? {key}\n:\n  x: 1\n  x: 2\n")).unwrap();
        assert!(d.duplicates[0].path.len() < 100, "{}", d.duplicates[0].path);
    }

    #[test]
    fn encoding_problems_have_a_place() {
        let e = parse_bytes(b"version: 1\nname: caf\xe9\n").unwrap_err();
        assert_eq!(e.mark, Some(Mark { line: 2, column: 10 }));
        let d = parse_bytes(b"\xEF\xBB\xBFversion: 1\n").unwrap();
        assert_eq!(map(&d.root)[0].key, "version");
    }

    #[test]
    fn aliases_repeat_values() {
        let d = parse("a: &l [x, y]\nb: *l\n").unwrap();
        let m = map(&d.root);
        assert_eq!(m[0].value.value, m[1].value.value);
        assert_eq!(m[1].value.mark.line, 2);
    }
}
