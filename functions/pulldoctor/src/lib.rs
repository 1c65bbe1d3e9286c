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
pub mod checks;
pub mod classify;
pub mod cli;
pub mod collect;
pub mod engine;
pub mod history;
pub mod intake;
pub mod lambda;
#[cfg(test)]
mod message_matrix;
#[cfg(test)]
mod generated_worlds;
pub mod model;
pub mod notify;
pub mod policy;
pub mod preflight;
pub mod rank;
pub mod report;
