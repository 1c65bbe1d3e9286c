//! CloudTrail writes to the resources the root cause names (`cloudtrail:LookupEvents`).

use crate::aws::{CallLog, Clients};
use crate::model::diagnosis::Diagnosis;
use crate::model::facts::{ChangeFacts, Fact, Facts};

pub(super) async fn read(_clients: &Clients, _log: &CallLog, _facts: &Facts, _diagnosis: &Diagnosis) -> Fact<ChangeFacts> {
    Fact::NotCollected { reason: "not built yet".into() }
}
