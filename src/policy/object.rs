//! Object storage roots: `s3://BUCKET/PREFIX`, `gs://BUCKET/PREFIX`, `az://CONTAINER/PREFIX`.
//!
//! A policy keeps its root as a path whatever its kind, so ownership, nesting, `explain`
//! and reports treat both alike: `s3://lake/events` is the path `s3://lake/events`, and a
//! key below it is `s3://lake/events/dt=2024-07-12/part-0.parquet`. This module says which
//! roots are URLs and takes them apart.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::build::Lookup;
use super::context::Ctx;
use super::{Code, keys, value};

/// The object stores sweep knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Amazon S3 and S3-compatible servers.
    S3,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob Storage.
    Azure,
}

impl Scheme {
    /// The URL scheme.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::S3 => "s3",
            Scheme::Gcs => "gs",
            Scheme::Azure => "az",
        }
    }

    const ALL: [Scheme; 3] = [Scheme::S3, Scheme::Gcs, Scheme::Azure];
}

/// A root in a bucket (or container), below a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRoot {
    /// Which store.
    pub scheme: Scheme,
    /// The bucket or container.
    pub bucket: String,
    /// The key prefix, without leading or trailing `/` (empty: the whole bucket).
    pub prefix: String,
}

impl fmt::Display for ObjectRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.bucket)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

impl ObjectRoot {
    /// Reads `s3://BUCKET/PREFIX` (and `gs://`, `az://`): `None` when `s` is not a URL of
    /// one of them, else the root or why it is invalid.
    pub fn parse(s: &str) -> Option<Result<ObjectRoot, String>> {
        let (scheme, rest) = split(s)?;
        let rest = rest.trim_end_matches('/');
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Some(Err(format!("`{s}` names no bucket: write {}://BUCKET/PREFIX", scheme.as_str())));
        }
        let bucket_ok = bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
        if !bucket_ok {
            return Some(Err(format!(
                "`{bucket}` is not a bucket name: lowercase letters, digits, `-`, `.` and `_` only"
            )));
        }
        let segments = prefix.split('/').filter(|_| !prefix.is_empty());
        if let Some(bad) = segments.into_iter().find(|p| p.is_empty() || *p == "." || *p == "..") {
            let what = if bad.is_empty() { "an empty segment (`//`)" } else { "a `.` or `..` segment" };
            return Some(Err(format!("`{s}` has {what}; write the prefix it means")));
        }
        Some(Ok(ObjectRoot { scheme, bucket: bucket.to_string(), prefix: prefix.to_string() }))
    }

    /// The root as a policy keeps it.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(self.to_string())
    }

    /// The key of `rel` (a path below the root).
    pub fn key(&self, rel: &str) -> String {
        if self.prefix.is_empty() { rel.to_string() } else { format!("{}/{rel}", self.prefix) }
    }
}

/// What a policy on an object root does at scale: where its inventory reports are, and
/// whether it takes a lease.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AtScale {
    /// `inventory` and `inventory_max_age`.
    pub inventory: Option<Inventory>,
    /// `lease: true`, with its `lease_ttl`.
    pub lease: Option<Duration>,
}

/// Where a policy's S3 Inventory reports are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// The destination prefix that holds the dated report folders.
    pub url: ObjectRoot,
    /// A newer report than this is required.
    pub max_age: Duration,
}

/// The shortest `lease_ttl`: it is renewed every third of it.
const MIN_LEASE_TTL: Duration = Duration::from_secs(10);

/// Reads `inventory`, `inventory_max_age`, `lease` and `lease_ttl` for a policy whose root
/// is `object` (`None`: local, when `root_known`).
pub(super) fn at_scale(ctx: &mut Ctx, keys: &Lookup, object: Option<&ObjectRoot>, root_known: bool) -> Option<AtScale> {
    let before = ctx.problems.len();
    if object.is_none() && root_known {
        for k in keys::POLICY.iter().filter(|k| !k.local_root) {
            if let Some(v) = keys.get(k.name) {
                let msg = format!(
                    "`{}` means something on an object storage root only (s3://, gs://, az://): remove it",
                    k.name
                );
                ctx.problem(Code::Conflict, v.path, v.node.mark, msg);
            }
        }
    }
    let inventory = keys.or(ctx, "inventory", None, false, |s| match ObjectRoot::parse(s) {
        Some(Ok(r)) if r.scheme == Scheme::S3 => Ok(Some(r)),
        Some(Ok(_)) | None => Err(format!("`{s}`: an S3 Inventory destination, s3://BUCKET/PREFIX/")),
        Some(Err(e)) => Err(e),
    });
    if let (Some(Some(_)), Some(o)) = (&inventory, object)
        && o.scheme != Scheme::S3
        && let Some(v) = keys.get("inventory")
    {
        let msg = format!(
            "`inventory` reads S3 Inventory reports: {o} is not an s3:// root (GCS and Azure inventories are not read yet)"
        );
        ctx.problem(Code::BadValue, v.path, v.node.mark, msg);
    }
    let max_age = keys.or(ctx, "inventory_max_age", Duration::from_secs(2 * 86400), false, value::days_or_hours);
    let lease = keys.flag(ctx, "lease", false);
    let ttl = keys.or(ctx, "lease_ttl", Duration::from_secs(3600), false, |s| {
        value::duration(s).and_then(|d| {
            if d < MIN_LEASE_TTL {
                Err(format!("`{s}`: a lease_ttl is at least 10s (it is renewed every third of it)"))
            } else {
                Ok(d)
            }
        })
    });
    if ctx.problems.len() > before {
        return None;
    }
    let inventory = inventory?.map(|url| Inventory { url, max_age: max_age.unwrap_or_default() });
    Some(AtScale { inventory, lease: lease?.then_some(ttl?) })
}

/// The scheme of a URL root and what follows `://`.
fn split(s: &str) -> Option<(Scheme, &str)> {
    Scheme::ALL
        .into_iter()
        .find_map(|sc| s.strip_prefix(sc.as_str()).and_then(|r| r.strip_prefix("://")).map(|r| (sc, r)))
}

/// Whether a path is an object storage URL (`s3://…`, `gs://…`, `az://…`).
pub fn is_url(p: &Path) -> bool {
    p.to_str().is_some_and(|s| split(s).is_some())
}

/// `path` with `.` and `..` segments resolved, when it is a URL: `s3://b/x/../y` is
/// `s3://b/y` (never above the bucket).
pub fn normalize(p: &Path) -> Option<PathBuf> {
    let (scheme, rest) = split(p.to_str()?)?;
    let mut out: Vec<&str> = Vec::new();
    for (i, seg) in rest.split('/').enumerate() {
        match seg {
            "" | "." => {}
            ".." if i > 0 && out.len() > 1 => {
                out.pop();
            }
            ".." if i > 0 => {}
            s => out.push(s),
        }
    }
    Some(PathBuf::from(format!("{}://{}", scheme.as_str(), out.join("/"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_parsed_and_written_back() {
        let r = ObjectRoot::parse("s3://lake/events/").unwrap().unwrap();
        assert_eq!((r.scheme, r.bucket.as_str(), r.prefix.as_str()), (Scheme::S3, "lake", "events"));
        assert_eq!(r.to_string(), "s3://lake/events");
        assert_eq!(r.key("dt=2024-07-12/p.parquet"), "events/dt=2024-07-12/p.parquet");
        let whole = ObjectRoot::parse("az://logs").unwrap().unwrap();
        assert_eq!((whole.to_string(), whole.key("a")), ("az://logs".to_string(), "a".to_string()));
        assert!(ObjectRoot::parse("/data").is_none());
        assert!(ObjectRoot::parse("s3:///x").unwrap().is_err());
        assert!(ObjectRoot::parse("gs://b/a//c").unwrap().is_err());
        assert!(ObjectRoot::parse("gs://b/a/../c").unwrap().is_err());
        assert!(ObjectRoot::parse("s3://Bucket/x").unwrap().is_err());
    }

    #[test]
    fn paths_below_a_url_root_behave_like_paths() {
        let root = ObjectRoot::parse("s3://lake/events").unwrap().unwrap().path();
        let key = normalize(Path::new("s3://lake/events/x/../dt=1/p")).unwrap();
        assert_eq!(key, PathBuf::from("s3://lake/events/dt=1/p"));
        assert!(key.starts_with(&root));
        assert_eq!(key.strip_prefix(&root).unwrap(), Path::new("dt=1/p"));
        assert!(!PathBuf::from("s3://lake/events2/x").starts_with(&root));
        assert!(is_url(&root) && !is_url(Path::new("/s3://x")));
    }
}
