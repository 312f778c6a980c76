//! An inventory report's keys, sorted on disk, listed like a bucket.
//!
//! S3 Inventory writes its rows in no promised order, and a report can hold millions of
//! them: memory must not grow with it. The rows are sorted the way S3 lists keys (by
//! their UTF-8 bytes) with an external merge sort — runs of a few MiB sorted in memory
//! and written to unnamed temporary files, then merged — into one file of lines
//! `KEY \t SIZE \t MTIME \t BAD \n` (the key escaped so it holds no tab or newline).
//! A sparse index (the offset of the first line of every 16 KiB block, 8 bytes each; the
//! keys stay on disk and a lookup reads them by a binary search) lets [`Sorted::page`] answer
//! what `ListObjectsV2` answers: the objects directly below a prefix and its
//! sub-prefixes, a page at a time, skipping each sub-prefix's keys by a search, not a
//! scan. So the walk reads a report exactly as it lists a bucket.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;

use crate::tree::object::page::{ListError, Listed, RawPage};

/// Bytes of keys sorted in memory at once.
const RUN_BYTES: usize = 8 << 20;
/// The index holds the offset of the first line starting in each block of this size: a
/// lookup scans at most one block (about 300 lines of 50 bytes), and the index is 1/2048
/// of the sorted file (a 1,000,000-row report: 55 MB on disk, 27 KB of index; a
/// billion rows, 27 MB).
const BLOCK: u64 = 16 << 10;
/// Bytes a probe of the binary search reads first: it needs one line (a longer one is
/// read on, in doubling steps).
const PROBE: usize = 256;
/// Entries in a page, as S3 gives at most.
const PAGE: usize = 1000;

/// One row: the key's place in the run buffer, its size, mtime and whether it was not
/// UTF-8.
#[derive(Debug, Clone, Copy)]
struct Row {
    start: usize,
    len: usize,
    size: u64,
    mtime: i64,
    bad: bool,
}

/// Collects rows and sorts them, in runs that spill to disk.
#[derive(Debug, Default)]
pub struct Sorter {
    keys: Vec<u8>,
    rows: Vec<Row>,
    runs: Vec<File>,
    /// Rows pushed.
    pub count: u64,
}

fn escape(key: &[u8], out: &mut Vec<u8>) {
    for &b in key {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b => out.push(b),
        }
    }
}

fn unescape(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\\' && i + 1 < text.len() {
            out.push(match text[i + 1] {
                b'n' => b'\n',
                b't' => b'\t',
                b'r' => b'\r',
                b => b,
            });
            i += 2;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

/// What a line of the sorted report that does not parse means: the temporary file was
/// damaged under us.
fn damaged() -> io::Error {
    io::Error::other("a damaged sorted report")
}

/// A line's key, borrowed from the line unless it had to be unescaped (a search reads
/// hundreds of lines per lookup: most keys hold no backslash and cost no allocation).
fn key_field(line: &[u8]) -> Option<Cow<'_, [u8]>> {
    let end = line.iter().position(|b| *b == b'\t')?;
    let raw = &line[..end];
    Some(if raw.contains(&b'\\') { Cow::Owned(unescape(raw)) } else { Cow::Borrowed(raw) })
}

/// A line: key, size, mtime, bad.
fn parse_line(line: &[u8]) -> Option<(Cow<'_, [u8]>, u64, i64, bool)> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let key = key_field(line)?;
    let mut f = line.split(|b| *b == b'\t').skip(1);
    let size = std::str::from_utf8(f.next()?).ok()?.parse().ok()?;
    let mtime = std::str::from_utf8(f.next()?).ok()?.parse().ok()?;
    let bad = f.next()? == b"1";
    Some((key, size, mtime, bad))
}

fn write_line(
    out: &mut impl Write,
    key: &[u8],
    size: u64,
    mtime: i64,
    bad: bool,
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    scratch.clear();
    escape(key, scratch);
    writeln!(scratch, "\t{size}\t{mtime}\t{}", u8::from(bad))?;
    out.write_all(scratch)
}

impl Sorter {
    /// An empty sorter.
    pub fn new() -> Sorter {
        Sorter::default()
    }

    /// Adds one row.
    pub fn push(&mut self, key: &str, size: u64, mtime: i64, bad: bool) -> io::Result<()> {
        let start = self.keys.len();
        self.keys.extend_from_slice(key.as_bytes());
        self.rows.push(Row { start, len: key.len(), size, mtime, bad });
        self.count += 1;
        if self.keys.len() >= RUN_BYTES {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts the rows in memory and writes them as a run.
    fn spill(&mut self) -> io::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let keys = &self.keys;
        self.rows.sort_unstable_by(|a, b| keys[a.start..a.start + a.len].cmp(&keys[b.start..b.start + b.len]));
        let mut out = BufWriter::new(tempfile::tempfile()?);
        let mut scratch = Vec::new();
        for r in &self.rows {
            write_line(&mut out, &keys[r.start..r.start + r.len], r.size, r.mtime, r.bad, &mut scratch)?;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        self.runs.push(file);
        self.keys.clear();
        self.rows.clear();
        Ok(())
    }

    /// Merges the runs into one sorted file (a key listed twice is kept once).
    pub fn finish(mut self) -> io::Result<Sorted> {
        self.spill()?;
        let mut readers: Vec<BufReader<File>> = Vec::with_capacity(self.runs.len());
        for f in self.runs.drain(..) {
            let mut f = f;
            io::Seek::seek(&mut f, io::SeekFrom::Start(0))?;
            readers.push(BufReader::with_capacity(64 << 10, f));
        }
        let mut heap = BinaryHeap::new();
        let mut line = Vec::new();
        let next = |r: &mut BufReader<File>, line: &mut Vec<u8>| -> io::Result<Option<Vec<u8>>> {
            line.clear();
            Ok((r.read_until(b'\n', line)? > 0).then(|| line.clone()))
        };
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some(l) = next(r, &mut line)? {
                let key = key_field(&l).ok_or_else(|| io::Error::other("a damaged sort run"))?.into_owned();
                heap.push(Reverse((key, i, l)));
            }
        }
        let file = tempfile::tempfile()?;
        let mut out = BufWriter::with_capacity(64 << 10, file.try_clone()?);
        let mut index: Vec<u64> = Vec::new();
        let (mut at, mut count) = (0u64, 0u64);
        let mut last: Option<Vec<u8>> = None;
        while let Some(Reverse((key, i, l))) = heap.pop() {
            if last.as_deref() != Some(&key[..]) {
                if index.last().is_none_or(|o| at / BLOCK > o / BLOCK) {
                    index.push(at);
                }
                out.write_all(&l)?;
                at += l.len() as u64;
                count += 1;
                last = Some(key);
            }
            if let Some(l) = next(&mut readers[i], &mut line)? {
                let key = key_field(&l).ok_or_else(|| io::Error::other("a damaged sort run"))?.into_owned();
                heap.push(Reverse((key, i, l)));
            }
        }
        out.flush()?;
        Ok(Sorted { file, len: at, index, count })
    }
}

/// The sorted keys of a report, on disk.
#[derive(Debug)]
pub struct Sorted {
    file: File,
    len: u64,
    index: Vec<u64>,
    /// Keys held.
    pub count: u64,
}

/// Reads lines from an offset of the sorted file.
struct Cursor<'a> {
    file: &'a File,
    len: u64,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    base: u64,
    /// Offset of the next line.
    pos: u64,
    /// Bytes to read when the buffer runs out.
    chunk: usize,
}

impl<'a> Cursor<'a> {
    /// A line [`Cursor::next_line`] found (valid until the cursor moves again).
    fn line(&self, at: Range<usize>) -> &[u8] {
        &self.buf[at]
    }

    fn new(s: &'a Sorted, pos: u64) -> Cursor<'a> {
        Cursor { file: &s.file, len: s.len, buf: Vec::new(), base: pos, pos, chunk: BLOCK as usize }
    }

    /// Moves to `pos` (a line start).
    fn seek(&mut self, pos: u64) {
        let end = self.base + self.buf.len() as u64;
        if pos < self.base || pos > end {
            self.buf.clear();
            self.base = pos;
        }
        self.pos = pos;
    }

    /// The next line's offset, and where it is in `buf` (read it with [`Cursor::line`]).
    fn next_line(&mut self) -> io::Result<Option<(u64, Range<usize>)>> {
        if self.pos >= self.len {
            return Ok(None);
        }
        loop {
            let from = (self.pos - self.base) as usize;
            if let Some(nl) = self.buf.get(from..).and_then(|b| memchr::memchr(b'\n', b)) {
                let at = self.pos;
                self.pos += nl as u64 + 1;
                return Ok(Some((at, from..from + nl + 1)));
            }
            // Refill from the current position, keeping nothing before it.
            self.buf.drain(..from.min(self.buf.len()));
            self.base = self.pos;
            let have = self.buf.len();
            let want = self.chunk.max(have * 2);
            self.buf.resize(want, 0);
            let n = self.file.read_at(&mut self.buf[have..], self.base + have as u64)?;
            self.buf.truncate(have + n);
            if n == 0 {
                return Err(io::Error::other("the sorted report ends inside a line"));
            }
        }
    }
}

impl Sorted {
    /// The offset of the first line whose key is not less than `target`.
    fn lower_bound(&self, cur: &mut Cursor, target: &[u8]) -> io::Result<u64> {
        // The first block whose first key is not below the target; the key is before it.
        let (mut lo, mut hi) = (0, self.index.len());
        cur.chunk = PROBE;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            cur.seek(self.index[mid]);
            let below = match cur.next_line()? {
                Some((_, l)) => key_field(cur.line(l)).ok_or_else(damaged)?.as_ref() < target,
                None => false,
            };
            if below {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        cur.chunk = BLOCK as usize;
        let from = if lo == 0 { 0 } else { self.index[lo - 1] };
        cur.seek(from);
        while let Some((at, line)) = cur.next_line()? {
            let key = key_field(cur.line(line)).ok_or_else(damaged)?;
            if key.as_ref() >= target {
                cur.seek(at);
                return Ok(at);
            }
        }
        Ok(self.len)
    }

    /// Whether any key starts with `prefix`. A report that cannot be read here says no:
    /// the walk then lists the prefix live, the answer that cannot miss a key.
    pub fn has_prefix(&self, prefix: &str) -> bool {
        let mut cur = Cursor::new(self, 0);
        match self.lower_bound(&mut cur, prefix.as_bytes()) {
            Ok(_) => match cur.next_line() {
                Ok(Some((_, l))) => key_field(cur.line(l)).is_some_and(|k| k.starts_with(prefix.as_bytes())),
                _ => false,
            },
            Err(_) => false,
        }
    }

    /// One page of the listing of `prefix` (with the delimiter `/` when `delimiter`),
    /// from `token` (an offset this method gave) on.
    pub(crate) fn page(
        &self,
        prefix: &str,
        delimiter: bool,
        token: Option<&str>,
        max_keys: Option<usize>,
    ) -> Result<RawPage, ListError> {
        self.read_page(prefix, delimiter, token, max_keys.unwrap_or(PAGE).clamp(1, PAGE))
            .map_err(|e| ListError::fatal(format!("reading the sorted inventory report: {e}")))
    }

    fn read_page(&self, prefix: &str, delimiter: bool, token: Option<&str>, max: usize) -> io::Result<RawPage> {
        let mut cur = Cursor::new(self, 0);
        match token {
            Some(t) => cur.seek(t.parse().map_err(|_| io::Error::other("a continuation token that is not an offset"))?),
            None => {
                self.lower_bound(&mut cur, prefix.as_bytes())?;
            }
        }
        let mut page = RawPage { objects: Vec::new(), prefixes: Vec::new(), token: None };
        let p = prefix.as_bytes();
        while let Some((at, line)) = cur.next_line()? {
            let (key, size, mtime, bad) = parse_line(cur.line(line)).ok_or_else(damaged)?;
            if !key.starts_with(p) {
                break;
            }
            if page.objects.len() + page.prefixes.len() >= max {
                page.token = Some(at.to_string());
                break;
            }
            let rest = &key[p.len()..];
            match rest.iter().position(|b| *b == b'/').filter(|_| delimiter) {
                Some(slash) => {
                    let common = key[..p.len() + slash + 1].to_vec();
                    page.prefixes.push((String::from_utf8_lossy(&common).into_owned(), false));
                    // Past every key below it: `/` + 1 is `0`.
                    let mut after = common;
                    if let Some(last) = after.last_mut() {
                        *last = b'0';
                    }
                    self.lower_bound(&mut cur, &after)?;
                }
                None => {
                    let text = String::from_utf8_lossy(&key).into_owned();
                    page.objects.push(Listed { key: text, size, mtime, bad });
                }
            }
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(keys: &[&str]) -> Sorted {
        let mut s = Sorter::new();
        for (i, k) in keys.iter().enumerate() {
            s.push(k, i as u64, 100 + i as i64, false).unwrap();
        }
        s.finish().unwrap()
    }

    #[test]
    fn a_report_lists_like_a_bucket() {
        let s = sorted(&["b/2/x", "a", "b/1", "b/2/y", "b/3/", "c\tweird\nkey", "b/1", "b0"]);
        assert_eq!(s.count, 7, "a key listed twice is kept once");
        let page = s.page("b/", true, None, None).unwrap();
        let objs: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(objs, ["b/1"]);
        let dirs: Vec<&str> = page.prefixes.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(dirs, ["b/2/", "b/3/"]);
        let top = s.page("", true, None, None).unwrap();
        let objs: Vec<&str> = top.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(objs, ["a", "b0", "c\tweird\nkey"]);
        let marker = s.page("b/3/", true, None, None).unwrap();
        assert_eq!(marker.objects[0].key, "b/3/");
        assert!(s.has_prefix("b/2/") && !s.has_prefix("b/4/"));
    }

    #[test]
    fn pages_carry_a_token_and_runs_merge() {
        let mut s = Sorter::new();
        let n = 5000;
        for i in (0..n).rev() {
            s.push(&format!("d/k{i:06}"), 1, 1, false).unwrap();
            if i % 1700 == 0 {
                s.spill().unwrap();
            }
        }
        let s = s.finish().unwrap();
        let mut token = None;
        let mut seen = Vec::new();
        loop {
            let page = s.page("d/", true, token.as_deref(), None).unwrap();
            assert!(page.objects.len() <= PAGE);
            seen.extend(page.objects.into_iter().map(|o| o.key));
            token = page.token;
            if token.is_none() {
                break;
            }
        }
        let want: Vec<String> = (0..n).map(|i| format!("d/k{i:06}")).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn a_lookup_finds_a_key_in_any_block_of_a_large_report() {
        let mut s = Sorter::new();
        for i in (0..40_000).step_by(2) {
            s.push(&format!("p/{i:05}/part-{i}.csv"), 1, 1, false).unwrap();
        }
        let s = s.finish().unwrap();
        assert!(s.index.len() > 30, "the report spans many blocks: {}", s.index.len());
        for i in [0, 2, 4094, 10_000, 20_000, 39_998] {
            assert!(s.has_prefix(&format!("p/{i:05}/")), "{i}");
            let page = s.page(&format!("p/{i:05}/"), true, None, None).unwrap();
            assert_eq!(page.objects.len(), 1, "{i}");
            assert_eq!(page.objects[0].key, format!("p/{i:05}/part-{i}.csv"));
        }
        for i in [1, 4095, 39_999, 40_000] {
            assert!(!s.has_prefix(&format!("p/{i:05}/")), "{i}");
        }
        assert!(!s.has_prefix("a") && !s.has_prefix("q") && s.has_prefix("p/"));
    }

    /// What `ListObjectsV2` answers for the (unique, byte-sorted) `keys`: the objects
    /// directly below `prefix` and, with the delimiter, its common prefixes, in order.
    fn model(keys: &std::collections::BTreeSet<String>, prefix: &str, delimiter: bool) -> (Vec<String>, Vec<String>) {
        let (mut objects, mut prefixes) = (Vec::new(), Vec::<String>::new());
        for k in keys.iter().filter(|k| k.starts_with(prefix)) {
            match k[prefix.len()..].find('/').filter(|_| delimiter) {
                Some(i) => {
                    let common = &k[..prefix.len() + i + 1];
                    if prefixes.last().map(String::as_str) != Some(common) {
                        prefixes.push(common.to_string());
                    }
                }
                None => objects.push(k.clone()),
            }
        }
        (objects, prefixes)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Against a model of a bucket's listing: random keys (slashes, escapes, tabs,
        /// newlines, multi-byte characters), pushed in any order with spills at any
        /// point, listed by any prefix, with and without the delimiter, in pages of any
        /// size; and `has_prefix` for the same prefixes.
        #[test]
        fn a_report_lists_exactly_as_a_bucket_would(
            keys in proptest::collection::vec("[ab/\\\\\t\n0.é%+ ]{1,6}(/[ab]{0,30}){0,3}", 0..1500),
            spill_every in 50usize..2000,
            cuts in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), 0usize..40), 0..6),
            max_keys in 1usize..1200,
            delimiter in proptest::prelude::any::<bool>(),
        ) {
            let mut s = Sorter::new();
            for (i, k) in keys.iter().enumerate() {
                s.push(k, k.len() as u64, 7, false).unwrap();
                if i % spill_every == spill_every - 1 {
                    s.spill().unwrap();
                }
            }
            let sorted = s.finish().unwrap();
            let set: std::collections::BTreeSet<String> = keys.iter().cloned().collect();
            proptest::prop_assert_eq!(sorted.count, set.len() as u64);
            let mut prefixes = vec![String::new(), "a/".to_string(), "zz".to_string()];
            for (at, len) in cuts {
                if let Some(k) = (!keys.is_empty()).then(|| &keys[at.index(keys.len())]) {
                    prefixes.push(k.chars().take(len).collect());
                }
            }
            for prefix in prefixes {
                let (mut objects, mut common, mut token) = (Vec::new(), Vec::new(), None);
                loop {
                    let page = sorted.page(&prefix, delimiter, token.as_deref(), Some(max_keys)).unwrap();
                    proptest::prop_assert!(page.objects.len() + page.prefixes.len() <= max_keys);
                    for o in &page.objects {
                        proptest::prop_assert_eq!(o.size, o.key.len() as u64);
                    }
                    objects.extend(page.objects.into_iter().map(|o| o.key));
                    common.extend(page.prefixes.into_iter().map(|p| p.0));
                    token = page.token;
                    if token.is_none() {
                        break;
                    }
                }
                let (want_objects, want_common) = model(&set, &prefix, delimiter);
                proptest::prop_assert_eq!(&objects, &want_objects, "objects of {:?}", prefix);
                proptest::prop_assert_eq!(&common, &want_common, "prefixes of {:?}", prefix);
                proptest::prop_assert_eq!(sorted.has_prefix(&prefix), set.iter().any(|k| k.starts_with(&prefix)), "{:?}", prefix);
            }
        }
    }
}
