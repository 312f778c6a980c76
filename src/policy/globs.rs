//! `exclude` and `markers`: lists of globs, checked (length, count, no way out of the
//! root) and compiled into one set each.

use globset::{GlobBuilder, GlobSetBuilder};

use super::context::{Ctx, Field};
use super::yaml::clip;
use super::{Code, Globs};
use crate::layout;

/// The longest `exclude` or `markers` glob, in bytes, as for a layout.
const MAX_GLOB_LEN: usize = layout::MAX_LEN;
/// The most globs in one `exclude` or `markers` list: they are compiled into one set, at
/// a cost that grows with all of them together.
const MAX_GLOBS: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum GlobKind {
    /// Relative to the root, across directories.
    Exclude,
    /// One file name.
    Marker,
}

pub(super) fn globs(ctx: &mut Ctx, f: Field, kind: GlobKind) -> Option<Globs> {
    let items = ctx.list(f)?;
    if items.len() > MAX_GLOBS {
        ctx.problem(
            Code::TooMany,
            f.path,
            f.node.mark,
            format!("{} globs; a list has at most {MAX_GLOBS}", items.len()),
        );
        return None;
    }
    let before = ctx.problems.len();
    let mut out = Globs::default();
    let mut builder = GlobSetBuilder::new();
    for (p, n) in items {
        let Some(pat) = ctx.text(Field { node: n, path: &p }, false) else { continue };
        if pat.len() > MAX_GLOB_LEN {
            let message = format!("`{}`: {} bytes long; a glob is at most {MAX_GLOB_LEN} bytes", clip(pat), pat.len());
            ctx.problem(Code::BadGlob, &p, n.mark, message);
            continue;
        }
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
            ctx.problem(Code::BadGlob, &p, n.mark, format!("`{pat}`: {w}"));
            continue;
        }
        match GlobBuilder::new(pat).literal_separator(true).backslash_escape(true).build() {
            Ok(g) => {
                builder.add(g);
                out.patterns.push(pat.to_string());
            }
            Err(e) => ctx.problem(Code::BadGlob, &p, n.mark, format!("`{pat}`: {}", e.kind())),
        }
    }
    match builder.build() {
        Ok(s) => out.set = s,
        Err(e) => ctx.problem(Code::BadGlob, f.path, f.node.mark, e.to_string()),
    }
    (ctx.problems.len() == before).then_some(out)
}

/// A file name a glob matches: `*` and `?` become `x`, a class its first member, a
/// `{a,b}` its first alternative (to ask whether an exclude would match a marker).
pub(super) fn sample_name(glob: &str) -> String {
    let mut out = String::new();
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => out.push('x'),
            '\\' => out.extend(chars.next()),
            '[' => {
                let negated = chars.next_if(|c| *c == '!' || *c == '^').is_some();
                let first = chars.next();
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                }
                out.push(if negated { '\u{1}' } else { first.unwrap_or('x') });
            }
            '{' => {
                let mut depth = 1;
                let mut taking = true;
                for c in chars.by_ref() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        ',' if depth == 1 => taking = false,
                        c if taking => out.push(c),
                        _ => {}
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}
