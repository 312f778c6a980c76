//! Integration tests: real trees in temporary directories, the real binary, and the
//! filesystem checked afterwards. One test binary (one link) for all of them.

mod support;

mod business;
mod cli;
mod depth;
mod examples;
mod exit_codes;
mod faults;
mod guards;
mod layouts;
mod metrics;
mod names;
mod output;
mod policy_errors;
mod props;
mod race;
mod time;
