//! What a listed key is to the walk of the directory it was listed in — a file of that
//! directory, the directory's own marker, or something the walk does not trust.
//!
//! A listing is an answer from a service or from whatever stands between sweep and it
//! (a proxy, a gateway, a buggy S3-compatible server). sweep deletes by key, so a key is
//! acted on only when it is exactly what was asked for: directly below the listed prefix,
//! with a name that is a path segment. Everything else is reported, never deleted.

use crate::tree::Untrusted;

/// The name of sweep's lease object at a root (`lease: true`), and the start of the
/// names of shards' leases. Never classified.
pub(super) const LEASE: &str = ".sweep-lease";

/// What a listed object is in the directory `prefix` (empty, or ending in `/`).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Object<'k> {
    /// A file of the directory, by name.
    File(&'k str),
    /// The directory's own zero-byte marker (`prefix` itself).
    OwnMarker,
    /// Not trusted.
    Untrusted(Untrusted),
}

/// Whether `segment` can name a directory or a file: not empty, not `.` or `..`, no
/// control character (which the client library cannot address).
pub(super) fn valid_segment(segment: &str) -> bool {
    !segment.is_empty() && segment != "." && segment != ".." && !segment.chars().any(|c| c.is_control())
}

/// Whether every segment of `key` (a path of segments joined by `/`) is valid.
fn valid_key(key: &str) -> bool {
    key.split('/').all(valid_segment)
}

/// An object `key` of `size` bytes that the listing of `prefix` showed.
pub(super) fn object<'k>(prefix: &str, key: &'k str, size: u64) -> Object<'k> {
    let Some(rest) = key.strip_prefix(prefix) else { return Object::Untrusted(Untrusted::OutsidePrefix) };
    if rest.is_empty() {
        // `KEY/` itself: a marker when empty; with data it is a file nobody can name as
        // one (it would be confused with `KEY`).
        return if size == 0 && !prefix.is_empty() {
            Object::OwnMarker
        } else {
            Object::Untrusted(Untrusted::DirectoryWithData)
        };
    }
    if let Some(sub) = rest.strip_suffix('/')
        && !sub.contains('/')
        && size > 0
    {
        // A sub-directory's `NAME/` shown as an object, holding data.
        return Object::Untrusted(Untrusted::DirectoryWithData);
    }
    if rest.contains('/') {
        // A delimiter listing shows only what is directly below the prefix.
        return Object::Untrusted(Untrusted::OutsidePrefix);
    }
    if !valid_key(key) {
        return Object::Untrusted(Untrusted::InvalidKey);
    }
    Object::File(rest)
}

/// A sub-directory (a common prefix, ending in `/`) that the listing of `prefix` showed:
/// its name, or why it is not trusted. An invalid one is not walked as a directory: the
/// keys below it are reported one by one.
pub(super) fn sub_prefix<'k>(prefix: &str, sub: &'k str) -> Result<&'k str, Untrusted> {
    let name = sub.strip_prefix(prefix).and_then(|r| r.strip_suffix('/')).ok_or(Untrusted::OutsidePrefix)?;
    if name.contains('/') {
        return Err(Untrusted::OutsidePrefix);
    }
    if !valid_segment(name) || !valid_key(prefix.trim_end_matches('/')) && !prefix.is_empty() {
        return Err(Untrusted::InvalidKey);
    }
    Ok(name)
}

/// Whether `name`, directly at the root, is sweep's own lease object (or a shard's).
pub(super) fn is_lease(name: &str) -> bool {
    name == LEASE || name.strip_prefix(LEASE).is_some_and(|r| r.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_is_directly_below_the_prefix_is_a_file() {
        let p = "lake/events/dt=2024-07-01/";
        assert_eq!(object(p, "lake/events/dt=2024-07-01/part-0.parquet", 5), Object::File("part-0.parquet"));
        assert_eq!(object(p, "other/victim.txt", 5), Object::Untrusted(Untrusted::OutsidePrefix));
        assert_eq!(object(p, "lake/events/dt=2024-07-01/x/y", 5), Object::Untrusted(Untrusted::OutsidePrefix));
        assert_eq!(object(p, "lake/events/dt=2024-07-01/", 0), Object::OwnMarker);
        assert_eq!(object(p, "lake/events/dt=2024-07-01/", 3), Object::Untrusted(Untrusted::DirectoryWithData));
        assert_eq!(object(p, "lake/events/dt=2024-07-01/a.csv/", 3), Object::Untrusted(Untrusted::DirectoryWithData));
        assert_eq!(object(p, "lake/events/dt=2024-07-01/..", 3), Object::Untrusted(Untrusted::InvalidKey));
        assert_eq!(object(p, "lake/events/dt=2024-07-01/a\u{7}b", 3), Object::Untrusted(Untrusted::InvalidKey));
        assert_eq!(object("", "top.csv", 1), Object::File("top.csv"));
        assert_eq!(object("a//", "a//b", 1), Object::Untrusted(Untrusted::InvalidKey));
    }

    #[test]
    fn sub_prefixes_must_be_one_valid_segment_below() {
        assert_eq!(sub_prefix("lake/", "lake/dt=1/"), Ok("dt=1"));
        assert_eq!(sub_prefix("lake/", "lake/../"), Err(Untrusted::InvalidKey));
        assert_eq!(sub_prefix("lake/", "lake//"), Err(Untrusted::InvalidKey));
        assert_eq!(sub_prefix("lake/", "other/"), Err(Untrusted::OutsidePrefix));
        assert_eq!(sub_prefix("lake/", "lake/a/b/"), Err(Untrusted::OutsidePrefix));
        assert_eq!(sub_prefix("", "lake/"), Ok("lake"));
    }

    #[test]
    fn leases_are_recognised_by_name() {
        assert!(is_lease(".sweep-lease") && is_lease(".sweep-lease.shard-1-of-4"));
        assert!(!is_lease(".sweep-leases") && !is_lease("sweep-lease"));
    }
}
