//! The JSON form of a policy's counts per bucket (`files`, `bytes`, a shard's `plan`):
//! one object with a key per bucket, in the order the text summary gives them.

use serde::Serialize;

use crate::act::summary::Buckets;
use crate::bucket::Action;

#[derive(Serialize)]
pub struct BucketJson {
    delete: u64,
    keep: u64,
    protect: u64,
    unmatched: u64,
    error: u64,
    compress: u64,
    #[serde(rename = "move")]
    moved: u64,
}

impl From<Buckets> for BucketJson {
    fn from(b: Buckets) -> Self {
        BucketJson {
            delete: b.get(Action::Delete),
            keep: b.get(Action::Keep),
            protect: b.get(Action::Protect),
            unmatched: b.get(Action::Unmatched),
            error: b.get(Action::Error),
            compress: b.get(Action::Compress),
            moved: b.get(Action::Move),
        }
    }
}
