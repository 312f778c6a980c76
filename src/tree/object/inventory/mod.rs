//! Planning from an S3 Inventory report instead of listing the bucket (`inventory:`).
//!
//! S3 writes a report daily or weekly under the destination it is given:
//! `PREFIX/YYYY-MM-DDTHH-MMZ/manifest.json` (the source bucket, the format, the columns,
//! the creation time, and the data files with their MD5), `manifest.checksum` (the MD5
//! of manifest.json, written once the report is complete) and the data files under
//! `PREFIX/data/`. [`Report::open`] takes the newest complete report that is not dated
//! after now, checks every checksum, refuses one older than `inventory_max_age` (never a
//! silent fall back to listing, nor to an older plan), and reads the rows below the
//! policy's root into a sorted file on disk ([`sorted`]), which the walk then lists
//! exactly as it lists a bucket. Each data file is downloaded to an unnamed temporary
//! file, verified, then read a row at a time: memory does not grow with the report.

pub mod csv;
#[cfg(feature = "parquet")]
mod parquet;
pub mod sorted;

use std::io::{BufReader, Seek, Write};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use md5::Digest;
use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use object_store::path::Path as Key;
use serde::Deserialize;

use super::page::{ListError, RawPage};
use crate::policy::object::ObjectRoot;

/// `manifest.json`, the parts sweep reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    source_bucket: String,
    file_format: String,
    #[serde(default)]
    file_schema: String,
    creation_timestamp: String,
    files: Vec<DataFile>,
}

#[derive(Debug, Deserialize)]
struct DataFile {
    key: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(rename = "MD5checksum")]
    md5: String,
}

/// A report, read and sorted: what the walk lists instead of the bucket.
#[derive(Debug)]
pub struct Report {
    sorted: sorted::Sorted,
    /// The report's folder (`2024-07-12T00-00Z`): the date the summary names.
    pub date: String,
    /// When S3 created it (`creationTimestamp`), seconds since the epoch.
    pub created: i64,
    /// Its manifest's URL.
    pub manifest: String,
    /// Objects below the root it lists.
    pub keys: u64,
}

/// Where a policy's reports are, and how old the newest may be.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    /// `s3://BUCKET/PREFIX/`: the folder that holds the dated report folders.
    pub url: &'a ObjectRoot,
    /// `inventory_max_age`.
    pub max_age: Duration,
}

/// `2024-07-12T00-00Z` as seconds since the epoch.
fn folder_time(name: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(name, "%Y-%m-%dT%H-%MZ").ok().map(|t| t.and_utc().timestamp())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A duration as people write it: `2d 3h`, `5h 10m`, `42s`.
fn age(secs: i64) -> String {
    let (d, h, m) = (secs / 86400, secs % 86400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

impl Report {
    /// The newest complete report at `source` for the bucket `bucket`, with the keys
    /// below `root` (a prefix ending in `/`, or empty). `store` reads the destination
    /// bucket; `now` is the instant the run evaluates at.
    pub async fn open(
        store: Arc<dyn ObjectStore>,
        source: &Source<'_>,
        bucket: &str,
        root: &str,
        now: i64,
    ) -> Result<Report, String> {
        let at = |k: &str| format!("s3://{}/{k}", source.url.bucket);
        let prefix = source.url.prefix.clone();
        let listed = store
            .list_with_delimiter((!prefix.is_empty()).then(|| Key::from(prefix.as_str())).as_ref())
            .await
            .map_err(|e| format!("listing the inventory reports at {}/: {}", source.url, super::message(&e)))?;
        let mut folders: Vec<(i64, String)> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| {
                let name = p.as_ref().rsplit('/').next()?.to_string();
                folder_time(&name).map(|t| (t, name))
            })
            .filter(|(t, _)| *t <= now)
            .collect();
        folders.sort_unstable_by(|a, b| b.cmp(a));
        let base = |name: &str| if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") };
        for (_, name) in folders {
            let checksum_key = format!("{}/manifest.checksum", base(&name));
            let manifest_key = format!("{}/manifest.json", base(&name));
            let checksum = match get_small(&store, &checksum_key).await {
                Ok(Some(c)) => c,
                // Not complete yet (S3 writes the checksum last): an older one may be.
                Ok(None) => continue,
                Err(e) => return Err(format!("{}: {e}", at(&checksum_key))),
            };
            let Some(manifest) =
                get_small(&store, &manifest_key).await.map_err(|e| format!("{}: {e}", at(&manifest_key)))?
            else {
                continue;
            };
            let want = String::from_utf8_lossy(&checksum).trim().to_ascii_lowercase();
            let got = hex(&md5::Md5::digest(&manifest));
            if want != got {
                return Err(format!(
                    "{}: says {want}, but the MD5 of manifest.json is {got}: the report is damaged (nothing of this policy was done)",
                    at(&checksum_key)
                ));
            }
            let m: Manifest = serde_json::from_slice(&manifest)
                .map_err(|e| format!("{}: not an S3 Inventory manifest: {e}", at(&manifest_key)))?;
            if m.source_bucket != bucket {
                return Err(format!("{}: a report of bucket {}, not of {bucket}", at(&manifest_key), m.source_bucket));
            }
            let created = m.creation_timestamp.trim().parse::<i64>().map(|ms| ms / 1000).map_err(|_| {
                format!("{}: creationTimestamp `{}` is not milliseconds", at(&manifest_key), m.creation_timestamp)
            })?;
            let max = i64::try_from(source.max_age.as_secs()).unwrap_or(i64::MAX);
            if now - created > max {
                return Err(format!(
                    "the newest complete inventory report, {} ({}), is {} old; inventory_max_age is {}: nothing of this policy was done (it never falls back to an older plan)",
                    name,
                    at(&manifest_key),
                    age(now - created),
                    age(max)
                ));
            }
            let mut sorter = sorted::Sorter::new();
            for f in &m.files {
                read_data_file(&store, &m, f, bucket, root, &mut sorter)
                    .await
                    .map_err(|e| format!("{}: {e}", at(&f.key)))?;
            }
            let keys = sorter.count;
            let sorted = sorter.finish().map_err(|e| format!("sorting the inventory report {name}: {e}"))?;
            return Ok(Report { sorted, date: name, created, manifest: at(&manifest_key), keys });
        }
        Err(format!(
            "no complete inventory report at {}/ (a folder YYYY-MM-DDTHH-MMZ/ dated no later than now, with manifest.json and manifest.checksum)",
            source.url
        ))
    }

    /// A page of the report's listing of `prefix` ([`sorted::Sorted::page`]).
    pub(in crate::tree::object) fn page(
        &self,
        prefix: &str,
        delimiter: bool,
        token: Option<&str>,
        max_keys: Option<usize>,
    ) -> Result<RawPage, ListError> {
        self.sorted.page(prefix, delimiter, token, max_keys)
    }

    /// Whether the report holds any key below `prefix`.
    pub(in crate::tree::object) fn knows(&self, prefix: &str) -> bool {
        self.sorted.has_prefix(prefix)
    }
}

/// A small object (a manifest, a checksum), or `None` when it does not exist.
async fn get_small(store: &Arc<dyn ObjectStore>, key: &str) -> Result<Option<Vec<u8>>, String> {
    let k = Key::parse(key).map_err(|e| e.to_string())?;
    match store.get(&k).await {
        Ok(r) => {
            if r.meta.size > 64 << 20 {
                return Err(format!("{} bytes: too large for a manifest", r.meta.size));
            }
            r.bytes().await.map(|b| b.to_vec()).map(Some).map_err(|e| super::message(&e))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(super::message(&e)),
    }
}

/// Downloads one data file to a temporary file while computing its MD5, checks it
/// against the manifest, then reads its rows below `root` into `sorter`.
async fn read_data_file(
    store: &Arc<dyn ObjectStore>,
    m: &Manifest,
    f: &DataFile,
    bucket: &str,
    root: &str,
    sorter: &mut sorted::Sorter,
) -> Result<(), String> {
    let k = Key::parse(&f.key).map_err(|e| e.to_string())?;
    let got = store.get(&k).await.map_err(|e| super::message(&e))?;
    let mut file = tempfile::tempfile().map_err(|e| format!("a temporary file: {e}"))?;
    let mut md5 = md5::Md5::new();
    let mut size = 0u64;
    let mut stream = got.into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| super::message(&e))?;
        md5.update(&chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk).map_err(|e| format!("a temporary file: {e}"))?;
    }
    let digest = hex(&md5.finalize());
    if !digest.eq_ignore_ascii_case(f.md5.trim()) {
        return Err(format!("its MD5 is {digest}, the manifest says {}: the report is damaged", f.md5));
    }
    if let Some(want) = f.size.filter(|w| *w != size) {
        return Err(format!("{size} bytes, the manifest says {want}: the report is damaged"));
    }
    file.rewind().map_err(|e| e.to_string())?;
    let mut keep = |key: String, bad: bool, size: u64, mtime: i64, from: Option<&str>| -> Result<(), String> {
        if from.is_some_and(|b| b != bucket) || !key.starts_with(root) {
            return Ok(());
        }
        sorter.push(&key, size, mtime, bad).map_err(|e| format!("sorting the report: {e}"))
    };
    match m.file_format.to_ascii_lowercase().as_str() {
        "csv" => {
            let cols = csv::columns(&m.file_schema)?;
            let input = BufReader::with_capacity(64 << 10, flate2::read::MultiGzDecoder::new(BufReader::new(file)));
            csv::rows(input, cols, |r| if r.current { keep(r.key, r.bad, r.size, r.mtime, r.bucket.as_deref()) } else { Ok(()) })
        }
        #[cfg(feature = "parquet")]
        "parquet" => parquet::rows(file, &mut keep),
        #[cfg(not(feature = "parquet"))]
        "parquet" => Err("a Parquet report, and this sweep was built without Parquet support (cargo feature `parquet`); configure the inventory as CSV".into()),
        other => Err(format!("fileFormat {other}: sweep reads CSV and Parquet reports; configure the inventory as CSV")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_and_ages_read_as_people_write_them() {
        assert_eq!(folder_time("2024-07-12T00-00Z"), Some(1720742400));
        assert_eq!(folder_time("data"), None);
        assert_eq!(age(2 * 86400 + 3 * 3600 + 5), "2d 3h");
        assert_eq!(age(3600 * 5 + 600), "5h 10m");
    }
}
