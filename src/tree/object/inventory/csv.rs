//! The rows of an S3 Inventory report in CSV (gzip): quoted, comma-separated fields in the
//! order the manifest's `fileSchema` names them, keys URL-encoded. Read a line at a time
//! from the decompressed stream; nothing is held but the current line.

use std::io::BufRead;

/// Where the columns sweep reads are, by the report's own schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    bucket: Option<usize>,
    key: usize,
    size: usize,
    mtime: usize,
    latest: Option<usize>,
    delete_marker: Option<usize>,
    width: usize,
}

/// One object of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The source bucket (when the report has the column).
    pub bucket: Option<String>,
    /// The key, decoded.
    pub key: String,
    /// Its bytes were not UTF-8 once decoded (the key holds replacement characters).
    pub bad: bool,
    /// Size in bytes.
    pub size: u64,
    /// Last modified, seconds since the epoch.
    pub mtime: i64,
    /// A current version (not an older one, nor a delete marker): the only rows sweep
    /// plans from.
    pub current: bool,
}

/// The columns of `fileSchema` (`Bucket, Key, Size, LastModifiedDate, …`).
pub fn columns(schema: &str) -> Result<Columns, String> {
    let names: Vec<String> = schema.split(',').map(|s| s.trim().to_ascii_lowercase()).collect();
    let find = |n: &str| names.iter().position(|x| x == n);
    let need = |n: &str, label: &str| {
        find(n).ok_or_else(|| {
            format!("the report's fileSchema ({schema}) has no {label} column: add it to the inventory configuration")
        })
    };
    Ok(Columns {
        bucket: find("bucket"),
        key: need("key", "Key")?,
        size: need("size", "Size")?,
        mtime: need("lastmodifieddate", "LastModifiedDate")?,
        latest: find("islatest"),
        delete_marker: find("isdeletemarker"),
        width: names.len(),
    })
}

/// Splits one CSV record into its fields (RFC 4180: fields may be quoted, `""` is a quote).
/// The strings of `out` are reused from line to line: a report has millions of rows.
fn fields(line: &str, out: &mut Vec<String>) -> Result<(), String> {
    let mut n = 0;
    let mut chars = line.chars().peekable();
    let result = loop {
        if out.len() == n {
            out.push(String::new());
        }
        let field = &mut out[n];
        field.clear();
        n += 1;
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field is not closed".into()),
                }
            }
            match chars.next() {
                None => break Ok(()),
                Some(',') => {}
                Some(c) => break Err(format!("`{c}` after a quoted field")),
            }
        } else {
            let mut more = false;
            for c in chars.by_ref() {
                if c == ',' {
                    more = true;
                    break;
                }
                field.push(c);
            }
            if !more {
                break Ok(());
            }
        }
    };
    out.truncate(n);
    result
}

/// A URL-encoded key (`+` a space, `%XX` a byte), and whether its bytes were not UTF-8.
pub fn decode_key(s: &str) -> (String, bool) {
    if !s.contains(['%', '+']) {
        return (s.to_string(), false);
    }
    let plus = s.replace('+', " ");
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(&plus).collect();
    match String::from_utf8(bytes) {
        Ok(k) => (k, false),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), true),
    }
}

/// An inventory timestamp (`2024-07-01T05:30:00.000Z`), in seconds.
pub fn timestamp(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp())
}

/// Reads every row of `input`, handing each to `each`; errors name the line.
pub fn rows(
    mut input: impl BufRead,
    cols: Columns,
    mut each: impl FnMut(Row) -> Result<(), String>,
) -> Result<(), String> {
    let mut f = Vec::new();
    let mut buf = String::new();
    for n in 0.. {
        let at = |why: String| format!("line {}: {why}", n + 1);
        buf.clear();
        if input.read_line(&mut buf).map_err(|e| at(e.to_string()))? == 0 {
            break;
        }
        let line = buf.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            continue;
        }
        fields(line, &mut f).map_err(at)?;
        if f.len() < cols.width {
            return Err(at(format!("{} fields; the fileSchema names {}", f.len(), cols.width)));
        }
        let yes = |i: Option<usize>| i.is_some_and(|i| f[i].eq_ignore_ascii_case("true"));
        let current = cols.latest.is_none_or(|i| f[i].eq_ignore_ascii_case("true")) && !yes(cols.delete_marker);
        if !current {
            each(Row { bucket: None, key: String::new(), bad: false, size: 0, mtime: 0, current })?;
            continue;
        }
        let (key, bad) = decode_key(&f[cols.key]);
        let size = f[cols.size].parse().map_err(|_| at(format!("size `{}` of {key} is not a number", f[cols.size])))?;
        let mtime = timestamp(&f[cols.mtime])
            .ok_or_else(|| at(format!("LastModifiedDate `{}` of {key} is not a timestamp", f[cols.mtime])))?;
        let bucket = cols.bucket.map(|i| f[i].clone());
        each(Row { bucket, key, bad, size, mtime, current }).map_err(at)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_and_encoded_keys_are_read() {
        let cols = columns("Bucket, Key, Size, LastModifiedDate, ETag, IsLatest, IsDeleteMarker").unwrap();
        let text = "\"lake\",\"events%2Fdt%3D2024-07-01%2Fa+b.csv\",\"12\",\"2024-07-01T05:30:00.000Z\",\"\"\"e\"\"\",\"true\",\"false\"\n\
                    \"lake\",\"events%2Fold\",\"1\",\"2024-07-01T05:30:00.000Z\",\"x\",\"false\",\"false\"\n";
        let mut got = Vec::new();
        rows(text.as_bytes(), cols, |r| {
            got.push(r);
            Ok(())
        })
        .unwrap();
        assert_eq!(got[0].key, "events/dt=2024-07-01/a b.csv");
        assert_eq!((got[0].size, got[0].mtime, got[0].current), (12, 1719811800, true));
        assert_eq!(got[0].bucket.as_deref(), Some("lake"));
        assert!(!got[1].current, "an older version is not planned from");
    }

    #[test]
    fn a_missing_column_or_a_short_line_is_an_error() {
        assert!(columns("Bucket, Key, Size").unwrap_err().contains("LastModifiedDate"));
        let cols = columns("Bucket, Key, Size, LastModifiedDate").unwrap();
        let err = rows("\"b\",\"k\",\"1\"\n".as_bytes(), cols, |_| Ok(())).unwrap_err();
        assert!(err.starts_with("line 1:"), "{err}");
        let err = rows("\"b\",\"k,\"1\",\"x\"\n".as_bytes(), cols, |_| Ok(())).unwrap_err();
        assert!(err.starts_with("line 1:"), "{err}");
    }

    #[test]
    fn fields_split_as_rfc_4180_says_with_their_strings_reused() {
        let mut f = vec!["left over".to_string(); 9];
        for (line, want) in [
            ("a,b,", &["a", "b", ""][..]),
            (",", &["", ""][..]),
            ("", &[""][..]),
            ("\"x,\"\"y\"\"\",z", &["x,\"y\"", "z"][..]),
            ("\"\",\"\"", &["", ""][..]),
            ("plain", &["plain"][..]),
        ] {
            fields(line, &mut f).unwrap();
            assert_eq!(f, want, "{line:?}");
        }
        assert!(fields("\"a\"b", &mut f).is_err());
        assert_eq!(decode_key("events/dt=1/x.csv"), ("events/dt=1/x.csv".into(), false));
        assert_eq!(decode_key("a+b%2Fc"), ("a b/c".into(), false));
    }
}
