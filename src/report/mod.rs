//! Everything sweep prints: the [`Printer`] every sub-command writes through, the sinks
//! a run's events go to (text, JSON Lines, progress, metrics, diagnostics), `check`'s
//! and `explain`'s reports, and the words ([`reason`]) they all share.

pub mod capture;
pub mod check;
mod counts;
pub mod explain;
pub mod json;
pub mod man;
pub mod metrics;
mod printer;
pub mod progress;
pub mod reason;
mod scale;
mod shape;
pub mod text;

pub use printer::{Diagnostics, Log, Printer, Style};

/// A path for people: valid UTF-8 as is, with control characters, bidirectional
/// overrides, line separators, backslashes and bytes that are not UTF-8 escaped (`\n`,
/// `\u{202e}`, `\\`, `\xff`), so one file is always one line that reads as it is.
pub fn display_path(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let clean = std::str::from_utf8(bytes).ok().filter(|s| !s.chars().any(|c| needs_escape(c) || c == '\\'));
    if let Some(s) = clean {
        return s.into();
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.into()
}

/// Characters that change how a terminal shows a line: controls, bidirectional
/// overrides and isolates (U+202A–U+202E, U+2066–U+2069), line and paragraph separators.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_for_people_are_one_line() {
        assert_eq!(display_path(b"/data/x.csv"), "/data/x.csv");
        assert_eq!(display_path(b"/data/a\nb"), "/data/a\\nb");
        assert_eq!(display_path(b"/data/\xffz"), "/data/\\xffz");
        assert_eq!(display_path("/data/é".as_bytes()), "/data/é");
        assert_eq!(display_path("/data/a\u{202e}txt.exe".as_bytes()), "/data/a\\u{202e}txt.exe");
        assert_eq!(display_path("/data/a\u{2028}b".as_bytes()), "/data/a\\u{2028}b");
    }
}
