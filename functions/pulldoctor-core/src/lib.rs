//! pulldoctor's pure core: everything between the reads and the deliveries.
//!
//! ```text
//! Facts ─► checks ─► rank ─► history ─► report
//! ```
//! The [`model`] is the domain every stage shares; [`policy`] evaluates IAM and resource policies;
//! [`classify`] says what a failure message is consistent with; [`judge`] runs checks, rank and
//! history over one snapshot. Nothing here reads AWS or the clock of a request: a saved Facts
//! snapshot is judged the same way offline.

pub mod checks;
pub mod classify;
pub mod history;
pub mod judge;
pub mod model;
pub mod policy;
pub mod rank;
pub mod report;
pub mod snapshot;

#[cfg(test)]
mod generated_worlds;
#[cfg(test)]
mod message_matrix;
