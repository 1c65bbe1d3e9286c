//! The deploy behind the failure: the failing revision against the one the service ran before.

use crate::model::facts::Facts;
use crate::model::history::DeployDiff;

/// `None` for a standalone task or without deploy facts.
pub fn diff(_facts: &Facts) -> Option<DeployDiff> {
    None
}
