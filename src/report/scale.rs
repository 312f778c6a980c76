//! What the summary says of a bucket at scale — the inventory report a plan came from, a
//! lease taken over, a shard's place in the whole plan —, as text lines and JSON keys.

use indicatif::HumanBytes;
use serde::Serialize;

use super::counts::BucketJson;

use super::reason::{count, thousands};
use crate::act::summary::PolicySummary;
use crate::bucket::Action;

/// The lines for `s`, without the leading `= `.
pub fn lines(s: &PolicySummary) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(i) = &s.inventory {
        let created = chrono::DateTime::from_timestamp(i.created, 0).map(|d| d.to_rfc3339()).unwrap_or_default();
        out.push(format!(
            "planned from the inventory report {} (created {created}, {} below the root); {} listed live",
            i.date,
            count(i.keys, "object", "objects"),
            count(i.live, "prefix", "prefixes")
        ));
    }
    if let Some((url, Some(who))) = &s.lease {
        out.push(format!("lease {url}: took over the stale lease of {who}"));
    }
    if let Some(sh) = &s.shard {
        let (f, b) = (&sh.files, &sh.bytes);
        out.push(format!(
            "shard {}/{}: the lines above are its share; the whole plan: delete {} ({}), keep {} ({}), protect {}, unmatched {}, error {}",
            sh.index,
            sh.count,
            count(f.get(Action::Delete), "file", "files"),
            HumanBytes(b.get(Action::Delete)),
            thousands(f.get(Action::Keep)),
            HumanBytes(b.get(Action::Keep)),
            thousands(f.get(Action::Protect)),
            thousands(f.get(Action::Unmatched)),
            thousands(f.get(Action::Error)),
        ));
    }
    out
}

/// The JSON summary's keys for a bucket at scale, each absent when unused.
#[derive(Serialize)]
pub struct ScaleJson<'a> {
    /// `inventory:`: the report the plan came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    inventory: Option<InventoryJson<'a>>,
    /// `lease: true`: the lease held while acting.
    #[serde(skip_serializing_if = "Option::is_none")]
    lease: Option<LeaseJson<'a>>,
    /// `--shard`: this shard, and the whole plan's totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    shard: Option<ShardJson>,
}

#[derive(Serialize)]
struct InventoryJson<'a> {
    /// The report's date, as its folder is named (`2024-07-12T00-00Z`).
    report: &'a str,
    created: String,
    manifest: &'a str,
    keys: u64,
    live_prefixes: u64,
}

#[derive(Serialize)]
struct LeaseJson<'a> {
    object: &'a str,
    took_over: Option<&'a str>,
}

#[derive(Serialize)]
struct ShardJson {
    index: u32,
    count: u32,
    plan: PlanJson,
}

#[derive(Serialize)]
struct PlanJson {
    files: BucketJson,
    bytes: BucketJson,
}

impl<'a> ScaleJson<'a> {
    /// The keys for `p`.
    pub fn of(p: &'a PolicySummary) -> Self {
        ScaleJson {
            inventory: p.inventory.as_ref().map(|i| InventoryJson {
                report: &i.date,
                created: chrono::DateTime::from_timestamp(i.created, 0).map(|d| d.to_rfc3339()).unwrap_or_default(),
                manifest: &i.manifest,
                keys: i.keys,
                live_prefixes: i.live,
            }),
            lease: p.lease.as_ref().map(|(object, took)| LeaseJson { object, took_over: took.as_deref() }),
            shard: p.shard.map(|sh| ShardJson {
                index: sh.index,
                count: sh.count,
                plan: PlanJson { files: sh.files.into(), bytes: sh.bytes.into() },
            }),
        }
    }
}
