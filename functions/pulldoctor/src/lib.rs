//! pulldoctor: explains why an Amazon ECS task could not pull its container image.
//!
//! The engine is a one-way pipeline; module order follows it:
//!
//! ```text
//! event JSON ─► intake ─► collect ─► checks ─► rank ─► report ─► notify
//!               (pure)    (AWS I/O)  (pure)    (pure)  (pure)    (I/O)
//! ```
//! [`engine`] wires the stages together; the Lambda handler ([`lambda`]) and the CLI ([`cli`]) are
//! thin adapters over it.

pub mod aws;
pub mod cli;
pub mod collect;
pub mod engine;
#[cfg(test)]
mod identity_worlds;
pub mod intake;
pub mod lambda;
pub mod notify;
pub mod preflight;

// The pure core (no AWS SDK, no async runtime), under the paths the stages have always used.
pub use pulldoctor_core::{
    checks, classify, history, judge, model, policy, rank, report, snapshot,
};
