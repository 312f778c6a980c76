//! sweep deletes expired files from date-partitioned trees according to declarative
//! retention policies, and refuses to fail silently.
//!
//! Modules depend on those before them in this order, never on those after:
//!
//! ```text
//! exit, bucket        the vocabulary: exit codes, the buckets a file ends in
//! clock               zones, `--now`, keep units, calendars → cutoffs and periods
//! layout              templates → matcher → (date, period)
//! policy              YAML → validated policies; who owns a path
//! tree                the seam: list, size, time, remove, outcomes; `tree::local`
//! classify            one entry → a verdict (an enum, no text)
//! guard               whole-policy checks: dangerous roots, max_delete, keep_last, clock
//! act                 runs policies: walks, guards, decisions, tallies, events
//! report              the printer, the sinks (text, JSON, metrics, progress), the words
//! state               what sweep remembers between runs (the history of `auto`)
//! lock, config, cli   the run lock; the validated configuration; the command line
//! cmd                 one module per sub-command
//! ```

// Unsafe code is denied; one raw system call that neither rustix nor std offers
// (`kcmp`, in tree::local::open) is allowed where it is made, with integers only.
#![deny(unsafe_code)]

pub mod act;
pub mod bucket;
pub mod classify;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod exit;
pub mod guard;
pub mod layout;
pub mod lock;
pub mod policy;
pub mod report;
pub mod state;
pub mod tree;
