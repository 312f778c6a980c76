//! `--shard I/N`: one of N runners that share a run's deletions.
//!
//! Every shard decides the whole run's plan the same way (the counting walk and the
//! guards see every file), and acts only on the files whose **partition key** hashes to
//! its index. The key is the directory that holds the object (its key up to the last
//! `/`, relative to the root): for the layouts buckets are written in
//! (`dt=%Y-%m-%d/hour=%H/part-*`) that is the partition's own directory, and every
//! object of one directory — a completion marker and the files beside it — goes to one
//! shard, so markers still go first exactly as in one run. The hash is 64-bit FNV-1a of
//! those bytes, modulo N: stable across runs, hosts, builds and versions of sweep, so N
//! runners started at once split the work without talking to each other, and together
//! delete exactly what one run deletes, each key once.

/// Which share of a run this runner acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

/// The variable a Kubernetes Indexed Job sets to each pod's index.
pub const JOB_INDEX: &str = "JOB_COMPLETION_INDEX";

/// 64-bit FNV-1a.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The partition key of a file at `rel` (below the root): its directory.
pub fn key_of(rel: &[u8]) -> &[u8] {
    rel.iter().rposition(|b| *b == b'/').map_or(&rel[..0], |i| &rel[..i])
}

impl Shard {
    /// Shard `index` of `count`.
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 {
            return Err("the number of shards must be at least 1".into());
        }
        if index >= count {
            return Err(format!("shard {index} of {count}: the index counts from 0, so it must be below {count}"));
        }
        Ok(Shard { index, count })
    }

    /// `I/N`, or `JOB_COMPLETION_INDEX/N` with the index from that variable (`env`).
    pub fn parse(s: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let (i, n) = s.split_once('/').ok_or_else(|| format!("`{s}`: write I/N, e.g. 0/4, or {JOB_INDEX}/4"))?;
        let count: u32 = n.trim().parse().map_err(|_| format!("`{s}`: the number of shards `{n}` is not a count"))?;
        let index = if i.trim() == JOB_INDEX {
            let v = env(JOB_INDEX).ok_or_else(|| {
                format!("`{s}`: the variable {JOB_INDEX} is not set (a Kubernetes Indexed Job sets it)")
            })?;
            v.trim().parse().map_err(|_| format!("{JOB_INDEX}=`{v}` is not an index"))?
        } else {
            i.trim().parse().map_err(|_| format!("`{s}`: the index `{i}` is not a count"))?
        };
        Shard::new(index, count)
    }

    /// The index (from 0).
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many shards share the run.
    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether this shard acts on the file at `rel` (below the root).
    pub fn owns(self, rel: &[u8]) -> bool {
        self.owns_key(key_of(rel))
    }

    /// Whether this shard acts on the partition key `key`.
    pub fn owns_key(self, key: &[u8]) -> bool {
        fnv1a(key) % u64::from(self.count) == u64::from(self.index)
    }

    /// The name of this shard's lease object.
    pub fn lease_name(self) -> String {
        format!(".sweep-lease.shard-{}-of-{}", self.index, self.count)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_belongs_to_exactly_one_shard() {
        let shards: Vec<Shard> = (0..4).map(|i| Shard::new(i, 4).unwrap()).collect();
        for d in 0..500 {
            let rel = format!("dt=2024-07-{:02}/hour={:02}/part-0.parquet", d % 28 + 1, d % 24);
            assert_eq!(shards.iter().filter(|s| s.owns(rel.as_bytes())).count(), 1, "{rel}");
        }
        // Files of one directory go together.
        let a = shards.iter().position(|s| s.owns(b"dt=2024-07-01/_SUCCESS"));
        assert_eq!(a, shards.iter().position(|s| s.owns(b"dt=2024-07-01/part-9.parquet")));
    }

    #[test]
    fn the_hash_is_fnv1a_and_stable() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x85944171f73967e8);
        assert_eq!(key_of(b"dt=1/hour=2/p"), b"dt=1/hour=2");
        assert_eq!(key_of(b"top.csv"), b"");
    }

    #[test]
    fn shards_are_read_from_the_command_line_or_the_job() {
        let none = |_: &str| None;
        assert_eq!(Shard::parse("1/4", none).unwrap(), Shard::new(1, 4).unwrap());
        assert!(Shard::parse("4/4", none).unwrap_err().contains("below 4"));
        assert!(Shard::parse("0/0", none).is_err());
        assert!(Shard::parse("x", none).is_err());
        let job = |k: &str| (k == JOB_INDEX).then(|| "3".to_string());
        assert_eq!(Shard::parse("JOB_COMPLETION_INDEX/8", job).unwrap(), Shard::new(3, 8).unwrap());
        assert!(Shard::parse("JOB_COMPLETION_INDEX/8", none).unwrap_err().contains("JOB_COMPLETION_INDEX"));
    }
}
