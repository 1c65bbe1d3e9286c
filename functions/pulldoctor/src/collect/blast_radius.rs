//! The other services that share the resource the root cause names.

use crate::aws::{CallLog, Clients};
use crate::model::diagnosis::Diagnosis;
use crate::model::facts::{BlastRadiusFacts, Fact, Facts};

pub(super) async fn read(_clients: &Clients, _log: &CallLog, _facts: &Facts, _diagnosis: &Diagnosis) -> Fact<BlastRadiusFacts> {
    Fact::NotCollected { reason: "not built yet".into() }
}
