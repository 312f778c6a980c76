//! The shape of an unmatched path, so that the text report groups files of one kind
//! (a new upstream layout) into one line instead of listing each.

use std::sync::LazyLock;

use regex::Regex;

use super::display_path;

static UUID: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").ok());

/// The shape of an unmatched path, so that files of one kind form one group: digits
/// become `#` (`2024-07-12/part-0001.csv` → `####-##-##/part-####.csv`), and random
/// tokens — UUIDs, long runs of letters and digits, hex ids — become `*`, so that
/// `staging/3f2a…e1.tmp` and its thousand siblings are one line, `staging/*.tmp`.
pub fn shape(rel: &[u8]) -> String {
    let text = display_path(rel);
    let text = match UUID.as_ref() {
        Some(re) => re.replace_all(&text, "\u{0}").into_owned(),
        None => text.into_owned(),
    };
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if token.is_empty() {
            return;
        }
        let digits = token.bytes().filter(u8::is_ascii_digit).count();
        let letters = token.len() - digits;
        let hex = token.bytes().all(|b| b.is_ascii_hexdigit());
        if digits == token.len() {
            out.extend(std::iter::repeat_n('#', token.len()));
        } else if digits > 0 && letters > 0 && ((hex && token.len() >= 8) || token.len() >= 16) {
            out.push('*');
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(if c == '\u{0}' { '*' } else { c });
        }
    }
    flush(&mut token, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_group_dates_and_random_names() {
        assert_eq!(shape(b"2024-07-12/part-0001.csv"), "####-##-##/part-####.csv");
        assert_eq!(shape(b"staging/3f2a9c1e-1234-5678-9abc-def012345678.tmp"), "staging/*.tmp");
        assert_eq!(shape(b"staging/a1b2c3d4e5f6.tmp"), "staging/*.tmp");
        assert_eq!(shape(b"staging/x7Kq9mPz2LwR8vNt4sYb.json"), "staging/*.json");
        assert_eq!(shape(b"_delta_log/00000000000000000010.json"), "_delta_log/####################.json");
        assert_eq!(shape(b"README.md"), "README.md");
    }
}
