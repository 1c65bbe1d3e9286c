//! CloudTrail events for the resources a root cause names (`cloudtrail:LookupEvents`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ChangeFacts {}
