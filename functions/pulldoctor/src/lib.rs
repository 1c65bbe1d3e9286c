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

pub mod model;
pub mod policy;
pub mod classify;
pub mod aws;
pub mod intake;
pub mod collect;
pub mod checks;
pub mod rank;
pub mod history;
pub mod report;
pub mod notify;
pub mod engine;
pub mod preflight;
pub mod lambda;
pub mod cli;
