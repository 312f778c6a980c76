//! Compiles one path component of a layout (glob text with strftime fields) into a
//! byte regex with one capture group per field.
//!
//! The glob dialect is the one the guide lists (docs/guide.md, "Layouts"): `*` (never crosses `/`), `?`, `[...]`
//! (`[!...]` or `[^...]` negates), `{a,b}` (may nest, may hold fields), `\` escapes the
//! next character, `%%` is a literal `%`. A component that is plain text compiles to a
//! byte comparison instead of a regex, since most layouts have such components.

use regex::bytes::Regex;

use super::fields::{Field, FieldSet};

/// One compiled path component.
#[derive(Debug, Clone)]
pub enum Component {
    /// `**`: zero or more directories (or, last, everything inside).
    Globstar,
    /// `*` alone: any one name. Common as a last component (`dt=%Y-%m-%d/hour=%H/*`), so
    /// it skips the regex.
    Any,
    /// Plain text, compared byte for byte.
    Literal(Box<[u8]>),
    /// Glob text and fields.
    Pattern(Pattern),
}

/// A component with glob syntax or fields.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub(super) regex: Regex,
    /// Capture group index → field, for every field occurrence.
    pub(super) groups: Box<[(usize, Field)]>,
}

/// Compiles `text` (one `/`-free component) and adds its fields to `fields`.
pub fn component(text: &str, fields: &mut FieldSet) -> Result<Component, String> {
    match text {
        "**" => return Ok(Component::Globstar),
        "*" => return Ok(Component::Any),
        _ => {}
    }
    if text.is_empty() {
        return Err("empty path component (two slashes in a row?)".into());
    }
    if text == "." || text == ".." {
        return Err(format!("`{text}` is not allowed in a layout"));
    }
    if text.contains("**") {
        return Err(format!("`**` must be a whole path component, not part of `{text}`"));
    }
    let mut out = Translator { re: String::from("(?s-u)^"), groups: Vec::new(), literal: Vec::new(), plain: true };
    let chars: Vec<char> = text.chars().collect();
    let end = out.sequence(&chars, 0, 0)?;
    if end != chars.len() {
        return Err(format!("unbalanced `}}` in `{text}`"));
    }
    if out.plain {
        return Ok(Component::Literal(out.literal.into_boxed_slice()));
    }
    out.re.push('$');
    for (_, f) in &out.groups {
        fields.insert(*f);
    }
    let regex = Regex::new(&out.re).map_err(|e| format!("cannot compile `{text}`: {e}"))?;
    Ok(Component::Pattern(Pattern { regex, groups: out.groups.into_boxed_slice() }))
}

struct Translator {
    re: String,
    groups: Vec<(usize, Field)>,
    /// The component's bytes while it is still plain text.
    literal: Vec<u8>,
    plain: bool,
}

impl Translator {
    /// Translates chars from `i` until the end, or (inside `depth` braces) until an
    /// unnested `,` or `}`; returns the index it stopped at. Each `{` recurses, so the
    /// depth is capped here too, whoever calls.
    fn sequence(&mut self, s: &[char], mut i: usize, depth: usize) -> Result<usize, String> {
        let in_braces = depth > 0;
        while i < s.len() {
            let c = s[i];
            match c {
                ',' | '}' if in_braces => return Ok(i),
                '}' => return Ok(i),
                '*' => {
                    self.plain = false;
                    self.re.push_str(".*");
                    i += 1;
                }
                '?' => {
                    // One character: a whole UTF-8 sequence, or one byte of a name that is not UTF-8.
                    self.plain = false;
                    self.re.push_str("(?:(?u:.)|[\\x80-\\xff])");
                    i += 1;
                }
                '[' => {
                    self.plain = false;
                    i = self.class(s, i)?;
                }
                '{' => {
                    if depth >= super::MAX_BRACE_DEPTH {
                        return Err(format!("`{{...}}` nested more than {} levels deep", super::MAX_BRACE_DEPTH));
                    }
                    self.plain = false;
                    self.re.push_str("(?:");
                    i += 1;
                    loop {
                        i = self.sequence(s, i, depth + 1)?;
                        match s.get(i) {
                            Some(',') => {
                                self.re.push('|');
                                i += 1;
                            }
                            Some('}') => {
                                self.re.push(')');
                                i += 1;
                                break;
                            }
                            _ => return Err("unclosed `{` (alternatives need a closing `}`)".into()),
                        }
                    }
                }
                '%' => {
                    let Some(&letter) = s.get(i + 1) else {
                        return Err("`%` at the end of a component; write `%%` for a literal `%`".into());
                    };
                    if letter == '%' {
                        self.literal_char('%');
                    } else {
                        let field = Field::from_letter(letter).ok_or_else(|| {
                            format!("unknown field `%{letter}`; supported: %Y %m %d %H %M %S %j %y %s %%")
                        })?;
                        self.plain = false;
                        self.re.push_str(field.digits());
                        // Group indices count every `(` that opens a capture group so far.
                        self.groups.push((self.groups.len() + 1, field));
                    }
                    i += 2;
                }
                '\\' => {
                    let Some(&next) = s.get(i + 1) else {
                        return Err("`\\` at the end of a component".into());
                    };
                    self.literal_char(next);
                    i += 2;
                }
                _ => {
                    self.literal_char(c);
                    i += 1;
                }
            }
        }
        if in_braces {
            return Err("unclosed `{` (alternatives need a closing `}`)".into());
        }
        Ok(i)
    }

    fn literal_char(&mut self, c: char) {
        let mut buf = [0u8; 4];
        let enc = c.encode_utf8(&mut buf);
        self.literal.extend_from_slice(enc.as_bytes());
        self.re.push_str(&regex::escape(enc));
    }

    /// `[...]` → a regex class; returns the index after `]`.
    fn class(&mut self, s: &[char], start: usize) -> Result<usize, String> {
        let mut i = start + 1;
        let mut cls = String::from("(?u:[");
        if matches!(s.get(i), Some('!') | Some('^')) {
            cls.push('^');
            i += 1;
        }
        let first = i;
        loop {
            let Some(&c) = s.get(i) else {
                return Err("unclosed `[` (a class needs a closing `]`)".into());
            };
            if c == ']' && i > first {
                break;
            }
            if s.get(i + 1) == Some(&'-') && s.get(i + 2).is_some_and(|&e| e != ']') {
                let e = s[i + 2];
                if e < c {
                    return Err(format!("invalid range `{c}-{e}` in `[...]`"));
                }
                cls.push_str(&format!("\\x{{{:x}}}-\\x{{{:x}}}", c as u32, e as u32));
                i += 3;
            } else {
                cls.push_str(&format!("\\x{{{:x}}}", c as u32));
                i += 1;
            }
        }
        cls.push_str("])");
        self.re.push_str(&cls);
        Ok(i + 1)
    }
}

/// A name that `text` (one component) matches, with its fields filled from `date`: `*`
/// and `?` become `x`, a class its first member, alternatives their first, `**` a
/// directory named `sub`. For examples (`sweep init`); the caller checks the result
/// really matches.
pub fn example(text: &str, date: chrono::NaiveDateTime) -> String {
    use chrono::Datelike;
    if text == "**" {
        return "sub".into();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut skip_alternatives = 0usize;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if i + 1 < chars.len() => {
                if skip_alternatives == 0 {
                    out.push(chars[i + 1]);
                }
                i += 2;
                continue;
            }
            ',' if skip_alternatives > 0 => {
                // Skip the remaining alternatives up to the matching `}`.
                let mut depth = 1;
                i += 1;
                while i < chars.len() && depth > 0 {
                    match chars[i] {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    i += 1;
                }
                skip_alternatives -= 1;
                continue;
            }
            '{' => skip_alternatives += 1,
            '}' => skip_alternatives = skip_alternatives.saturating_sub(1),
            '*' | '?' => out.push('x'),
            '[' => {
                let mut j = i + 1;
                if matches!(chars.get(j), Some('!' | '^')) {
                    // A negated class: a digit is rarely what it excludes.
                    out.push('0');
                    while j < chars.len() && chars[j] != ']' {
                        j += 1;
                    }
                } else {
                    if let Some(&first) = chars.get(j) {
                        out.push(first);
                    }
                    j += 1;
                    while j < chars.len() && chars[j] != ']' {
                        j += 1;
                    }
                }
                i = j + 1;
                continue;
            }
            '%' => {
                let field = chars.get(i + 1).copied().unwrap_or('%');
                let v = match field {
                    'Y' => format!("{:04}", date.year()),
                    'y' => format!("{:02}", date.year() % 100),
                    'm' => format!("{:02}", date.month()),
                    'd' => format!("{:02}", date.day()),
                    'j' => format!("{:03}", date.ordinal()),
                    'H' => date.format("%H").to_string(),
                    'M' => date.format("%M").to_string(),
                    'S' => date.format("%S").to_string(),
                    's' => date.and_utc().timestamp().to_string(),
                    _ => "%".into(),
                };
                out.push_str(&v);
                i += 2;
                continue;
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(text: &str) -> Pattern {
        match component(text, &mut FieldSet::default()).unwrap() {
            Component::Pattern(p) => p,
            other => panic!("{text}: expected a pattern, got {other:?}"),
        }
    }

    #[test]
    fn plain_text_is_a_literal() {
        assert!(matches!(component("logs", &mut FieldSet::default()), Ok(Component::Literal(b)) if &*b == b"logs"));
        assert!(matches!(component("100%%", &mut FieldSet::default()), Ok(Component::Literal(b)) if &*b == b"100%"));
        assert!(matches!(component("a\\*b", &mut FieldSet::default()), Ok(Component::Literal(b)) if &*b == b"a*b"));
    }

    #[test]
    fn globs_and_fields() {
        let p = pat("ticker_%Y%m%d.{csv,csv.gz}");
        assert!(p.regex.is_match(b"ticker_20240712.csv"));
        assert!(p.regex.is_match(b"ticker_20240712.csv.gz"));
        assert!(!p.regex.is_match(b"ticker_2024712.csv"));
        assert!(!p.regex.is_match(b"xticker_20240712.csv"));
        assert_eq!(p.groups.len(), 3);
        let p = pat("run_id=*__%Y-%m-%dT*");
        assert!(p.regex.is_match(b"run_id=scheduled__2024-07-12T00:00:00+00:00"));
        let p = pat("part-[0-9][!a-z]?.csv");
        assert!(p.regex.is_match(b"part-12x.csv"));
        assert!(!p.regex.is_match(b"part-1\xffx.csv"));
        assert!(p.regex.is_match("part-12é.csv".as_bytes()));
        assert!(pat("*.log").regex.is_match(b"a\nb.log"));
        assert!(pat("?").regex.is_match(b"\xff"));
    }

    #[test]
    fn errors_name_the_problem() {
        let err = |t| component(t, &mut FieldSet::default()).unwrap_err();
        assert!(err("%Q").contains("unknown field `%Q`"));
        assert!(err("a**").contains("whole path component"));
        assert!(err("{a,b").contains("unclosed `{`"));
        assert!(err("[ab").contains("unclosed `[`"));
        assert!(err("a}").contains("unbalanced"));
        assert!(err("x%").contains("`%%`"));
        assert!(err("..").contains("not allowed"));
        assert!(err("[z-a]").contains("invalid range"));
    }
}
