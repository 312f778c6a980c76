//! Every key a policy file may hold, once: its name, where it may appear, the shape of
//! its value, its default and one line saying what it does.
//!
//! The loader takes the known names from here (an unknown key is an error with the
//! nearest known name suggested), and `sweep schema`, `sweep man --section 5` and
//! `sweep init` are generated from the same table, so the documentation and the editor
//! schema cannot list a key the loader rejects or miss one it accepts.

/// The shape of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Text; `pattern` is a regular expression the schema checks (the loader checks more).
    Text {
        /// A regular expression the value matches.
        pattern: Option<&'static str>,
    },
    /// One of these words.
    Choice(&'static [&'static str]),
    /// `true` or `false`.
    Bool,
    /// A whole number ≥ 0.
    Count,
    /// A list of texts.
    List,
    /// A mapping with these keys.
    Map(&'static [Key]),
}

/// Where a key may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Only in a policy (`name`, `root`, `layouts`).
    Policy,
    /// In a policy or in `defaults`.
    Either,
}

/// One key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key as written.
    pub name: &'static str,
    /// Its value's shape.
    pub shape: Shape,
    /// Where it may appear.
    pub place: Place,
    /// Whether it is required in every policy (after `defaults` are merged).
    pub required: bool,
    /// The default, as YAML text, when it has one that matters.
    pub default: Option<&'static str>,
    /// A typical value, as YAML text.
    pub example: &'static str,
    /// What it does, in one or two sentences.
    pub doc: &'static str,
    /// Whether it means something on an object-storage root.
    pub object_root: bool,
    /// Whether it means something on a local root.
    pub local_root: bool,
}

const DURATION: Option<&str> = Some(r"^[0-9]+(s|m|h|d)$");
const KEEP: Option<&str> = Some(r"^[0-9]+(d|h|bd)$");
const SPAN_DH: Option<&str> = Some(r"^[0-9]+(d|h)$");
const SHARE: Option<&str> = Some(r"^[0-9]+(\.[0-9]+)?%$");
const MAX_DELETE: Option<&str> = Some(r"^([0-9]+|[0-9]+(\.[0-9]+)?%|[0-9]+(d|h|bd)|auto|auto\([0-9]+x\))$");
const DATE: Option<&str> = Some(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$");
const SIZE: Option<&str> = Some(r"^[0-9]+[KMGT]?$");
const SHARE_OR_SIZE: Option<&str> = Some(r"^([0-9]+(\.[0-9]+)?%|[0-9]+[KMGT]?)$");
const SHARE_OR_COUNT: Option<&str> = Some(r"^([0-9]+(\.[0-9]+)?%|[0-9]+)$");

const fn key(name: &'static str, shape: Shape, example: &'static str, doc: &'static str) -> Key {
    Key {
        name,
        shape,
        place: Place::Either,
        required: false,
        default: None,
        example,
        doc,
        object_root: true,
        local_root: true,
    }
}

impl Key {
    const fn default(mut self, d: &'static str) -> Key {
        self.default = Some(d);
        self
    }
    const fn policy_only(mut self) -> Key {
        self.place = Place::Policy;
        self
    }
    const fn required(mut self) -> Key {
        self.required = true;
        self
    }
    const fn local_only(mut self) -> Key {
        self.object_root = false;
        self
    }
    const fn object_only(mut self) -> Key {
        self.local_root = false;
        self
    }
}

/// The keys of one policy, in the order the documentation lists them.
pub const POLICY: &[Key] = &[
    key("name", Shape::Text { pattern: Some(r"^[A-Za-z0-9_.-]+$") }, "ticker-load", "Unique across all files read; letters, digits, `_`, `.` and `-`.")
        .policy_only()
        .required(),
    key("root", Shape::Text { pattern: Some(r"^(/|s3://|gs://|az://)") }, "/data/ticker", "Absolute path of the directory the policy cleans; it must exist at run time, not for `check`. Its filesystem, its mount points and the roots of other policies below it are never crossed. Or an object storage root, `s3://BUCKET/PREFIX`, `gs://BUCKET/PREFIX`, `az://CONTAINER/PREFIX`, with credentials and endpoint from the environment.")
        .policy_only()
        .required(),
    key("layouts", Shape::List, "[\"%Y-%m-%d/**\", \"ticker_%Y-%m-%d.csv\"]", "Path templates relative to the root, the first that matches a file wins: globs (`*`, `?`, `[...]`, `{a,b}`, `**`) with strftime fields (`%Y %m %d %H %M %S %j %y %s %%`) that capture the partition's date.")
        .policy_only()
        .required(),
    key("keep", Shape::Text { pattern: KEEP }, "1d", "Retention: `N d` (days), `N h` (real hours) or `N bd` (business days), N ≥ 1. The current unit and the N−1 before it are kept; a partition expires when its whole period ends at or before the cutoff.")
        .required(),
    key("exclude", Shape::List, "[\"**/_temporary\"]", "Globs relative to the root: matching files are never deleted and are reported as `protect`; a pattern that matches a directory protects everything below it."),
    key("markers", Shape::List, "[\"_SUCCESS\", \"*.done\"]", "File-name globs (no `/`) of completion markers. In each directory, the markers to delete go before its other files; a marker that stays, for any reason (held open, younger than `min_age`, not expired, unmatched, or its deletion failed), keeps every file directly beside it. A glob that an `exclude` also matches is an error."),
    key("keep_last", Shape::Count, "0", "The newest N partitions (not dated in the future) are kept whatever their age: an upstream that stalls never leaves the tree empty.")
        .default("0"),
    key("min_age", Shape::Text { pattern: DURATION }, "30m", "Files modified less than this before now are protected (a backfill may still be writing); `0s` turns it off. Units s, m, h, d.")
        .default("0s"),
    key("max_delete", Shape::Text { pattern: MAX_DELETE }, "2d", "Circuit breaker: a count (`5000`), a share of the policy's files (`40%`), a span (`2d`, `12h`, `3bd`: nothing dated before the cutoff minus the span), or `auto` (more than 3 times the median files or bytes of the policy's last 14 applies that deleted something; `auto(5x)` sets the factor, 2 to 100; it acts as `2d` until 3 such applies are known, the history is kept in `--state-dir`). Over it, nothing of the policy is deleted and the run exits 6. `--max-delete` overrides it for one run.")
        .default("100%"),
    key("max_future", Shape::Text { pattern: SPAN_DH }, "1d", "A file dated (period start) later than now plus this is unmatched with the reason `dated in the future`.")
        .default("1d"),
    key("min_date", Shape::Text { pattern: DATE }, "2000-01-01", "A date read from a name earlier than this is unmatched with the reason `implausible date` (so `dump-%s.bin` never reads `dump-20241129.bin` as 1970). Not used with `date_from: mtime`.")
        .default("2000-01-01"),
    key("on_unmatched", Shape::Choice(&["fail", "warn", "refuse"]), "fail", "Files no layout matches: `fail` exits 7 (matched files are still deleted), `warn` only reports them, `refuse` deletes nothing of the policy and exits 6.")
        .default("fail"),
    key("skip_open", Shape::Bool, "true", "A regular file that any process holds open (seen through /proc/*/fd) is protected.")
        .default("true")
        .local_only(),
    key("remove_empty_dirs", Shape::Bool, "true", "Directories emptied by the run are removed bottom-up; the root never is.")
        .default("true"),
    key("one_file_system", Shape::Bool, "true", "Other filesystems mounted under the root are not entered (and are reported).")
        .default("true")
        .local_only(),
    key("date_from", Shape::Choice(&["path", "mtime"]), "path", "Where a file's date comes from: the layout's fields, or the file's modification time (layouts are then plain globs).")
        .default("path"),
    key("timezone", Shape::Text { pattern: None }, "America/New_York", "IANA zone name, or `local`, for dates in names, `keep` and a naive `--now`.")
        .default("local"),
    key("calendar", Shape::Choice(&["weekdays", "nyse"]), "weekdays", "Business days for `keep: N bd`: Monday to Friday, or without New York Stock Exchange holidays (computed by rule for any year).")
        .default("weekdays"),
    key("holidays", Shape::List, "[2024-07-05]", "Extra non-business dates (YYYY-MM-DD) for `bd`."),
    key("disk_fail_above", Shape::Text { pattern: SHARE }, "90%", "After the run, if the root's filesystem is fuller than this, the run exits 8. The forecast measures the room below this line (the whole filesystem when unset): when `keep` needs more at the current rate, `plan` and `apply` say so.")
        .local_only(),
    key("min_free", Shape::Text { pattern: SHARE_OR_SIZE }, "15%", "Free space wanted on the root's filesystem after the run: a share of its size or a size (`50G`; K M G T are powers of 1024). While it is not met, the oldest kept partitions outside `keep_min` are deleted, one whole partition at a time; if the floor is reached first, the run exits 8 and says how much is missing.")
        .local_only(),
    key("min_free_inodes", Shape::Text { pattern: SHARE_OR_COUNT }, "10%", "Free inodes wanted on the root's filesystem after the run: a share of its inodes or a count. Each deleted file and removed directory frees one.")
        .local_only(),
    key("max_bytes", Shape::Text { pattern: SIZE }, "500G", "The most the policy's own files may hold (sum of their sizes); the oldest kept partitions outside `keep_min` go until they fit.")
        ,
    key("keep_min", Shape::Text { pattern: KEEP }, "2d", "Capacity targets never delete a partition inside this window (`N d`, `N h` or `N bd`, counted as `keep` counts). Required with `min_free`, `min_free_inodes` or `max_bytes`; a span `max_delete` is a second floor (at most that span of kept data a night).")
        ,
    key("keep_daily", Shape::Count, "7", "Among expired partitions, for each of the last N days that hold one, keep the newest partition that starts in it (restic's `forget` rule): kept as daily."),
    key("keep_weekly", Shape::Count, "4", "Likewise for the last N ISO weeks: kept as weekly 2024-W27."),
    key("keep_monthly", Shape::Count, "12", "Likewise for the last N months: kept as monthly."),
    key("keep_yearly", Shape::Count, "3", "Likewise for the last N years: kept as yearly."),
    key("compress", Shape::Map(COMPRESS), "{after: 2d, format: zstd, level: 3}", "Files not expired whose period ends at or before the cutoff `keep: AFTER` would give are compressed in place: NAME becomes NAME.zst (or .gz) with the same mode, owner and mtime, crash-safe. Names already ending .gz .zst .xz .bz2 .lz4 are left alone; a layout must match the compressed names.")
        .local_only(),
    key("archive", Shape::Map(ARCHIVE), "{after: 30d, to: /archive/ticker}", "Files not expired dated before the cutoff `keep: AFTER` would give move to TO plus their path below the root (a rename on one filesystem; else copy, sync, verify, unlink). TO is absolute, outside the root, not a system directory, and must exist at run time. Delete wins over archive, archive over compress.")
        .local_only(),
    key("max_rate", Shape::Text { pattern: Some(r"^[0-9]+[KMG]?/s$") }, "5000/s", "Pace deletions: files per second (`5000/s`) or bytes per second (`200M/s`; K M G are powers of 1024), smoothly, a burst at most one second's worth. `--max-rate` applies too; the stricter wins."),
    key("expect_fresh", Shape::Text { pattern: SPAN_DH }, "26h", "The newest matched partition must have ended no earlier than this before now; otherwise (or when nothing matches) the policy reports it stale and the run exits 9.")
        ,
    key("inventory", Shape::Text { pattern: Some(r"^s3://") }, "s3://lake-inventory/lake/events-daily/", "Plan from the newest complete S3 Inventory report at this destination (the prefix that holds its dated `YYYY-MM-DDTHH-MMZ/` folders; CSV or Parquet) instead of listing the bucket: only the prefixes the plan acts in are listed live. On an `s3://` root.")
        .object_only(),
    key("inventory_max_age", Shape::Text { pattern: SPAN_DH }, "2d", "The newest complete inventory report must be younger than this; an older one is an error (exit 5), never a silent fall back to listing.")
        .default("2d")
        .object_only(),
    key("lease", Shape::Bool, "true", "Before acting, create the lease object `PREFIX/.sweep-lease` only if it is absent, renew it while running and delete it at the end: a second runner finds it held and exits 4; one past its TTL is taken over.")
        .default("false")
        .object_only(),
    key("lease_ttl", Shape::Text { pattern: DURATION }, "1h", "How long a lease holds without being renewed (at least 10s); it is renewed every third of it.")
        .default("1h")
        .object_only(),
];

/// The keys of `compress:`.
pub const COMPRESS: &[Key] = &[
    key(
        "after",
        Shape::Text { pattern: KEEP },
        "2d",
        "Compress files whose period ends at or before the cutoff `keep: AFTER` would give; shorter than `keep`.",
    )
    .required(),
    key("format", Shape::Choice(&["zstd", "gzip"]), "zstd", "zstd (NAME.zst) or gzip (NAME.gz).").default("zstd"),
    key("level", Shape::Count, "3", "Compression level: zstd 1 to 19, gzip 1 to 9.").default("3"),
];

/// The keys of `archive:`.
pub const ARCHIVE: &[Key] = &[
    key(
        "after",
        Shape::Text { pattern: KEEP },
        "30d",
        "Move files dated before the cutoff `keep: AFTER` would give; shorter than `keep`.",
    )
    .required(),
    key(
        "to",
        Shape::Text { pattern: Some(r"^/") },
        "/archive/ticker",
        "The archive's root: absolute, outside the policy's root.",
    )
    .required(),
];

/// The keys of a `tests:` item.
pub const TEST: &[Key] = &[
    key(
        "now",
        Shape::Text { pattern: None },
        "2024-07-12T02:00:00-04:00",
        "The time the expectations are evaluated at, in any `--now` form.",
    )
    .required(),
    key(
        "expect",
        Shape::Map(&[]),
        "{/data/ticker/2024-07-11/part-0001.csv: delete}",
        "Absolute paths (they need not exist) and the action each must get: delete, keep, protect, unmatched.",
    )
    .required(),
];

/// The keys at the top of a file.
pub const FILE: &[Key] = &[
    key("version", Shape::Count, "1", "The file format: 1.").required(),
    key(
        "defaults",
        Shape::Map(POLICY),
        "{timezone: UTC}",
        "Values for every policy of this file that does not set them; any policy key but name, root and layouts.",
    ),
    key("policies", Shape::List, "[...]", "The policies, in order.").required(),
    key("tests", Shape::List, "[...]", "Examples that `sweep check` verifies."),
];

/// The policy key called `name`.
pub fn policy_key(name: &str) -> Option<&'static Key> {
    POLICY.iter().find(|k| k.name == name)
}

/// A key longer than this is no typo of a known one (the longest is 17 bytes), and the
/// distance costs the product of the lengths: no suggestion is looked for.
const SUGGEST_MAX: usize = 64;

/// The known name nearest to `unknown`, when one is near enough to be a typo.
pub fn suggest(unknown: &str, known: &'static [Key]) -> Option<&'static str> {
    if unknown.len() > SUGGEST_MAX {
        return None;
    }
    let lower = unknown.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&lower, k.name), k.name))
        .filter(|(d, name)| *d <= 2.max(name.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_nearest_key() {
        assert_eq!(suggest("layout", POLICY), Some("layouts"));
        assert_eq!(suggest("keeep", POLICY), Some("keep"));
        assert_eq!(suggest("max_delet", POLICY), Some("max_delete"));
        assert_eq!(suggest("Timezone", POLICY), Some("timezone"));
        assert_eq!(suggest("frobnicate", POLICY), None);
        assert_eq!(suggest("polices", FILE), Some("policies"));
        assert_eq!(suggest(&"layouts".repeat(100), POLICY), None);
    }

    #[test]
    fn names_are_unique() {
        for (i, k) in POLICY.iter().enumerate() {
            assert!(POLICY[i + 1..].iter().all(|o| o.name != k.name), "{} twice", k.name);
        }
    }
}
