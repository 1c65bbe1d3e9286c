//! History: what changed before the failure and who else it will hit, judged from the Facts
//! (pure, like the checks). It never decides the root cause; it adds the `deploy`, `changes` and
//! `blast_radius` sections to a diagnosis whose root cause is already ranked.
//!
//! * [`deploy`]: the failing revision against the one the service ran before.
//! * [`changes`]: the CloudTrail writes to the resources the root cause names, most likely
//!   breaking change first.
//! * [`blast_radius`]: the other services that share the broken resource.

pub mod blast_radius;
pub mod changes;
pub mod deploy;

use crate::model::diagnosis::Diagnosis;
use crate::model::facts::Facts;

/// Adds what the Facts say about history to a judged diagnosis. Sections without facts stay absent.
pub fn attach(facts: &Facts, diagnosis: &mut Diagnosis) {
    diagnosis.deploy = deploy::diff(facts, diagnosis);
    diagnosis.changes = changes::summarize(facts, diagnosis);
    diagnosis.blast_radius = blast_radius::summarize(facts, diagnosis);
}
