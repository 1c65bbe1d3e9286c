//! The workspace's integration tests, one test binary: every module below would otherwise link the
//! whole AWS SDK into a binary of its own. Run one group with its module path as the filter, e.g.
//! `cargo test --workspace --test integration network::`.

mod alerting;
mod blast;
mod channels;
mod containers;
mod deploys;
mod faults;
mod generated;
mod harness;
mod history;
mod hub;
mod identity;
mod incidents;
mod network;
mod oncall;
mod preflight;
mod scenarios;
mod secrets;
mod slack_app;
