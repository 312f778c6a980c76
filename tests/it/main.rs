//! Integration tests: real trees in temporary directories, the real binary, and the
//! filesystem checked afterwards. One test binary (one link) for all of them.

// Tests fail by panicking, and set up child processes (limits, capabilities, umask) in
// `pre_exec`, which is unsafe; the crate under test forbids both.
#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code)]

mod support;

mod architecture;
mod bench_scripts;
mod breaker;
mod business;
mod capacity;
mod checking;
mod cli;
mod clocks;
mod depth;
mod differential;
mod docs;
mod examples;
mod exit_codes;
mod faults;
mod forecast;
mod guards;
mod hostile;
mod inventories;
mod layouts;
mod leases;
mod limits;
mod listings;
mod lockfile;
mod metrics;
mod metricsfile;
mod names;
mod objects;
mod one_run;
mod output;
mod parallel;
mod policy_errors;
mod policyfiles;
mod props;
mod race;
mod reports;
mod roots;
mod schema;
mod sets;
mod shards;
mod shared_host;
mod shipped;
mod snapshots;
mod streams;
mod tables;
mod tier_attacks;
mod tiers;
mod time;
mod writers;
