//! The other services that share the resource the root cause names.

use crate::model::diagnosis::Diagnosis;
use crate::model::facts::Facts;
use crate::model::history::BlastRadius;

/// `None` when nothing was looked up.
pub fn summarize(_facts: &Facts, _diagnosis: &Diagnosis) -> Option<BlastRadius> {
    None
}
