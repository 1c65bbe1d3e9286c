//! What the history reads found, after the first judgement named a root cause: CloudTrail writes
//! to the resources it names (`facts/changes.rs`) and the other services that share them
//! (`facts/blast_radius.rs`). The deploy's own history is in `facts/deploy.rs`. Read only with
//! history on (the default; `--no-history` turns it off).

use serde::{Deserialize, Serialize};

use super::{BlastRadiusFacts, ChangeFacts, Fact};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HistoryFacts {
    /// The history reads ran (false: history off, or a snapshot from before them).
    #[serde(default)]
    pub looked_up: bool,
    #[serde(default)]
    pub changes: Fact<ChangeFacts>,
    #[serde(default)]
    pub blast_radius: Fact<BlastRadiusFacts>,
}
