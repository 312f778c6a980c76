//! What one file's outcome adds to its policy's summary, and the message a failure
//! carries (worded in `plan` as `apply` words the same failure).

use rustix::io::Errno;

use super::member::Member;
use super::summary::Problem;
use crate::bucket::Action;
use crate::tree::{Removal, os_message};

/// Counts `result` for a file of `size` bytes decided `action` (`to`: where a compression
/// or move writes; `within`: what a move takes on the same filesystem) in `m`'s summary;
/// returns the message of a failure.
pub(super) fn count(
    m: &mut Member,
    action: Action,
    size: u64,
    within: u64,
    to: Option<&[u8]>,
    result: &Removal,
) -> Option<String> {
    let s = &mut m.summary;
    match result {
        Removal::Planned => match action {
            Action::Compress => {
                s.tiers.compressed += 1;
                s.tiers.bytes_before += size;
            }
            Action::Move => {
                s.tiers.moved += 1;
                s.tiers.moved_bytes += size;
                s.moved_within += within;
            }
            _ => {
                s.deleted += 1;
                s.deleted_bytes += size;
            }
        },
        Removal::Removed => {
            s.deleted += 1;
            s.deleted_bytes += size;
        }
        Removal::Compressed(after) => {
            s.tiers.compressed += 1;
            s.tiers.bytes_before += size;
            s.tiers.bytes_after += after;
        }
        Removal::Moved => {
            s.tiers.moved += 1;
            s.tiers.moved_bytes += size;
            s.moved_within += within;
        }
        Removal::Vanished => s.vanished += 1,
        Removal::WouldFail(err) => {
            s.failed += 1;
            return Some(match (action, to) {
                (Action::Compress, Some(to)) if *err == Errno::EXIST => {
                    let name = to.rsplit(|b| *b == b'/').next().unwrap_or(to);
                    format!("{} exists (not an interrupted compression of this file)", String::from_utf8_lossy(name))
                }
                _ => os_message(*err),
            });
        }
        Removal::Failed(err) => {
            s.failed += 1;
            if *err == Errno::ROFS && !m.read_only {
                m.read_only = true;
                s.problems.push(Problem::ReadOnly);
            }
            return Some(if *err == Errno::INTR {
                "not attempted: the run was interrupted".to_string()
            } else {
                os_message(*err)
            });
        }
        Removal::Rejected(why) => {
            s.failed += 1;
            return Some(why.to_string());
        }
    }
    None
}
