//! The context one policy file is read in: where each value came from (file, line,
//! column, key path), the problems found so far, and the helpers that check a node's
//! shape and turn a value into a setting, reporting what is wrong instead of stopping.
//! The file reader (`load.rs`) and the policy builder (`build.rs`) both work through it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use super::keys::{self, Key};
use super::yaml::{self, MapEntry, Mark, Node, Value, clip};
use super::*;
use crate::layout::{Template, TemplateError};

/// Where problems of one file are collected.
pub(super) struct Ctx<'a> {
    pub(super) file: &'a Path,
    pub(super) problems: Vec<Problem>,
    /// Problems already reported (a `defaults` value is checked once per policy).
    pub(super) seen: HashSet<(String, Mark, String)>,
    /// Layouts compiled so far, by their text: a layout repeated by an alias (or by
    /// `defaults`-like copying between policies) is compiled once.
    pub(super) templates: HashMap<String, Result<Template, TemplateError>>,
}

/// Why a value was refused: its code and the message.
pub(super) struct Invalid(pub(super) Code, pub(super) String);

impl From<String> for Invalid {
    fn from(message: String) -> Invalid {
        Invalid(Code::BadValue, message)
    }
}

/// A value and the key path it was written under.
#[derive(Clone, Copy)]
pub(super) struct Field<'n> {
    pub(super) node: &'n Node,
    pub(super) path: &'n str,
}

impl Ctx<'_> {
    pub(super) fn problem(&mut self, code: Code, key: &str, at: Mark, message: impl Into<String>) {
        let message = message.into();
        if self.seen.insert((key.to_string(), at, message.clone())) {
            let file = self.file.to_path_buf();
            self.problems.push(Problem { code, file, at: Some(at), key: key.to_string(), message });
        }
    }

    /// `source` compiled, or why it does not compile; each text is compiled once.
    pub(super) fn template(&mut self, source: &str) -> Result<Template, TemplateError> {
        if let Some(t) = self.templates.get(source) {
            return t.clone();
        }
        let t = Template::compile(source);
        self.templates.insert(source.to_string(), t.clone());
        t
    }

    pub(super) fn origin(&self, at: Mark) -> Origin {
        Origin { file: self.file.to_path_buf(), line: at.line }
    }

    /// The entries of a mapping, or a problem.
    pub(super) fn map<'n>(&mut self, f: Field<'n>, what: &str) -> Option<&'n [MapEntry]> {
        match &f.node.value {
            Value::Map(e) => Some(e),
            _ => {
                self.problem(Code::WrongType, f.path, f.node.mark, format!("expected {what}, found {}", f.node.kind()));
                None
            }
        }
    }

    /// Scalar text, or a problem. `plain_only` values (numbers, booleans) must not be quoted.
    pub(super) fn text<'n>(&mut self, f: Field<'n>, plain_only: bool) -> Option<&'n str> {
        match (&f.node.value, f.node.text()) {
            (Value::Scalar { plain: false, text }, _) if plain_only => {
                self.problem(
                    Code::WrongType,
                    f.path,
                    f.node.mark,
                    format!("`{}` is quoted text; write it without quotes", clip(text)),
                );
                None
            }
            (_, Some(t)) => Some(t),
            _ => {
                self.problem(
                    Code::WrongType,
                    f.path,
                    f.node.mark,
                    format!("expected a value, found {}", f.node.kind()),
                );
                None
            }
        }
    }

    /// Parses a scalar with `parse`, reporting its error at the value: a `bad_value`,
    /// or the code the parser gives ([`value::unit`] for units).
    pub(super) fn value<T, E: Into<Invalid>>(
        &mut self,
        f: Field,
        plain_only: bool,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let t = self.text(f, plain_only)?;
        match parse(t).map_err(Into::into) {
            Ok(v) => Some(v),
            Err(Invalid(code, e)) => {
                // Messages quote the value; a long one is cut, not echoed whole.
                let e = match clip(t) {
                    std::borrow::Cow::Owned(short) => e.replace(t, &short),
                    std::borrow::Cow::Borrowed(_) => e,
                };
                self.problem(code, f.path, f.node.mark, e);
                None
            }
        }
    }

    /// The items of a list of scalars, each with its own path; a scalar stands for a
    /// list of one only where that cannot be misread, so it is a problem here.
    pub(super) fn list<'n>(&mut self, f: Field<'n>) -> Option<Vec<(String, &'n Node)>> {
        match &f.node.value {
            Value::Seq(items) => {
                Some(items.iter().enumerate().map(|(i, n)| (yaml::index_path(f.path, i), n)).collect())
            }
            _ => {
                self.problem(
                    Code::WrongType,
                    f.path,
                    f.node.mark,
                    format!("expected a list (e.g. [\"a\", \"b\"]), found {}", f.node.kind()),
                );
                None
            }
        }
    }

    /// Checks a mapping's keys against `known`; returns the known ones by name.
    pub(super) fn keys<'n>(
        &mut self,
        entries: &'n [MapEntry],
        path: &str,
        known: &'static [Key],
    ) -> BTreeMap<&'static str, (String, &'n MapEntry)> {
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
                    self.problem(
                        Code::UnknownKey,
                        &key_path,
                        e.key_mark,
                        format!("unknown key `{}`{hint}", clip(&e.key)),
                    );
                }
            }
        }
        out
    }
}
