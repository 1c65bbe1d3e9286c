//! The other services that may share the resource a root cause names.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BlastRadiusFacts {}
