//! Where each value of a YAML document sits, and duplicate keys.
//!
//! serde_yaml locates syntax and type errors, but once a value has been deserialized its
//! position is gone, and a duplicate key in a map is silently last-wins. This pass reads
//! the same text as a stream of marked events and records the line and column of every
//! value by its path (`policies[0].keep`), so that a semantic error ("keep must be at
//! least 1") can point at the exact place, and so that duplicate keys anywhere are errors.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A position in a file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// A key that appears twice in one mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The path of the mapping's value that repeats (`policies[0].keep`).
    pub path: String,
    /// Where the second occurrence is.
    pub mark: Mark,
    /// Where the first one is.
    pub first: Mark,
}

/// Positions of values by path.
#[derive(Debug, Default)]
pub struct Spans {
    marks: HashMap<String, Mark>,
    /// Duplicate keys found, in document order.
    pub duplicates: Vec<Duplicate>,
}

impl Spans {
    /// Indexes `text`. A syntax error yields an empty index: serde_yaml reports it.
    pub fn index(text: &str) -> Spans {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut builder, false).is_err() {
            return Spans::default();
        }
        Spans { marks: builder.marks, duplicates: builder.duplicates }
    }

    /// The position of the value at `path`, if it is in the document.
    pub fn get(&self, path: &str) -> Option<Mark> {
        self.marks.get(path).copied()
    }

    /// The position of the value at `path`, or of its nearest ancestor that is present.
    pub fn near(&self, path: &str) -> Option<Mark> {
        let mut p = path;
        loop {
            if let Some(m) = self.get(p) {
                return Some(m);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

/// The path of the child `key` of the mapping at `parent`.
pub fn key_path(parent: &str, key: &str) -> String {
    let simple = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
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

enum Frame {
    Map { path: String, key: Option<(String, Mark)>, seen: HashMap<String, Mark> },
    Seq { path: String, next: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    marks: HashMap<String, Mark>,
    duplicates: Vec<Duplicate>,
}

impl Builder {
    /// The path of the node that starts now, or `None` when it is a mapping key.
    fn place(&mut self, ev: &Event, mark: Mark) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = index_path(path, *next);
                *next += 1;
                Some(p)
            }
            Some(Frame::Map { path, key, seen }) => match key.take() {
                Some((k, _)) => Some(key_path(path, &k)),
                None => {
                    // A key. Only scalar keys are tracked; complex keys are rare and
                    // serde rejects them for sweep's schema anyway.
                    let text = match ev {
                        Event::Scalar(s, ..) => s.clone(),
                        _ => String::from("?"),
                    };
                    if let Some(first) = seen.get(&text) {
                        self.duplicates.push(Duplicate { path: key_path(path, &text), mark, first: *first });
                    } else {
                        seen.insert(text.clone(), mark);
                    }
                    *key = Some((text, mark));
                    None
                }
            },
        }
    }
}

fn mark(m: Marker) -> Mark {
    // yaml-rust2 counts lines from 1 and columns from 0.
    Mark { line: m.line(), column: m.col() + 1 }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, m: Marker) {
        let m = mark(m);
        match ev {
            Event::Scalar(..) | Event::Alias(_) => {
                if let Some(p) = self.place(&ev, m) {
                    self.marks.entry(p).or_insert(m);
                }
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                // A collection used as a key is not indexed below.
                let p = self.place(&ev, m).unwrap_or_else(|| String::from("?"));
                self.marks.entry(p.clone()).or_insert(m);
                self.stack.push(match ev {
                    Event::SequenceStart(..) => Frame::Seq { path: p, next: 0 },
                    _ => Frame::Map { path: p, key: None, seen: HashMap::new() },
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "version: 1\npolicies:\n  - name: a\n    keep: 0d\n    layouts: [\"%Y/**\", x]\ntests:\n  - expect:\n      /a/b: keep\n      /a/b: delete\n";

    #[test]
    fn values_are_located_by_path() {
        let s = Spans::index(DOC);
        assert_eq!(s.get("version"), Some(Mark { line: 1, column: 10 }));
        assert_eq!(s.get("policies[0].keep"), Some(Mark { line: 4, column: 11 }));
        assert_eq!(s.get("policies[0].layouts[1]").map(|m| m.line), Some(5));
        assert_eq!(s.get("tests[0].expect[\"/a/b\"]").map(|m| m.line), Some(8));
        assert_eq!(s.near("policies[0].keep_last").map(|m| m.line), Some(3));
    }

    #[test]
    fn duplicate_keys_are_found() {
        let s = Spans::index(DOC);
        assert_eq!(s.duplicates.len(), 1);
        assert_eq!(s.duplicates[0].path, "tests[0].expect[\"/a/b\"]");
        assert_eq!(s.duplicates[0].mark.line, 9);
        assert_eq!(s.duplicates[0].first.line, 8);
        let s = Spans::index("a: 1\nb: 2\na: 3\n");
        assert_eq!(s.duplicates[0].path, "a");
    }
}
