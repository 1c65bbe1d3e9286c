//! The history reads, made after the first judgement named a root cause: the deploy's history
//! (`deploy::read_history`), the CloudTrail writes to the resources the root cause names
//! (`changes`), and the other services that share them (`blast_radius`). They run in a call log
//! of their own, so their cost is reported beside the diagnosis's (the bench shows both), under
//! the same deadline and warm cache. A failed read here degrades its own section to `unknown`,
//! never the diagnosis.

use super::{blast_radius, changes, deploy, Options};
use crate::aws::{CallLog, CallStats, Clients};
use crate::model::diagnosis::Diagnosis;
use crate::model::facts::Facts;

/// Reads the history of `facts` for the root cause `diagnosis` ranked, into `facts.history`
/// (and `facts.deploy`), and returns what the reads cost.
pub async fn read(
    clients: &Clients,
    facts: &mut Facts,
    diagnosis: &Diagnosis,
    options: Options,
) -> CallStats {
    let log = CallLog::new(options.deadline, clients.cache.clone())
        .with_lookup_pace(clients.lookup_pace.clone());
    let (deploy, changes, blast_radius) = tokio::join!(
        Box::pin(deploy::read_history(clients, &log, facts)),
        Box::pin(changes::read(clients, &log, facts, diagnosis)),
        Box::pin(blast_radius::read(clients, &log, facts, diagnosis)),
    );
    if let Some(deploy) = deploy {
        facts.deploy = deploy;
    }
    facts.history.looked_up = true;
    facts.history.changes = changes;
    facts.history.blast_radius = blast_radius;
    log.stats()
}
