//! The result of judging a [`Facts`](crate::model::facts::Facts) snapshot: findings, a ranked root cause, and
//! the `pulldoctor.diagnosis/v1` JSON document (a public contract: docs/schemas/diagnosis.v1.json).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::facts::TaskSource;
use crate::model::message::Category;
pub use crate::model::root_cause::RootCause;

/// Schema tag of the JSON diagnosis; bump only with a new contract.
pub const SCHEMA: &str = "pulldoctor.diagnosis/v1";

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Fail,
    Warn,
    Unknown,
    Pass,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Unknown => "unknown",
            Status::Pass => "pass",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

/// What one check concluded about one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub code: RootCause,
    pub status: Status,
    pub title: String,
    #[serde(default)]
    pub resource: Option<String>,
    /// Structured evidence (ids, routes, policy statements). Always a JSON object.
    #[serde(default = "empty_object")]
    pub evidence: Value,
    #[serde(default)]
    pub remediation: Option<String>,
    #[serde(default)]
    pub console_url: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

impl Finding {
    pub fn new(code: RootCause, status: Status, title: impl Into<String>) -> Self {
        Finding {
            code,
            status,
            title: title.into(),
            resource: None,
            evidence: empty_object(),
            remediation: None,
            console_url: None,
        }
    }
    pub fn pass(code: RootCause, title: impl Into<String>) -> Self {
        Self::new(code, Status::Pass, title)
    }
    pub fn fail(code: RootCause, title: impl Into<String>) -> Self {
        Self::new(code, Status::Fail, title)
    }
    pub fn warn(code: RootCause, title: impl Into<String>) -> Self {
        Self::new(code, Status::Warn, title)
    }
    /// A check that could not be evaluated; `reason` says why (e.g. which read failed).
    pub fn unknown(code: RootCause, title: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(code, Status::Unknown, title).evidence("reason", reason.into())
    }
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }
    pub fn evidence(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Value::Object(map) = &mut self.evidence {
            map.insert(key.to_string(), value.into());
        }
        self
    }
    pub fn remediation(mut self, text: impl Into<String>) -> Self {
        self.remediation = Some(text.into());
        self
    }
    pub fn console_url(mut self, url: impl Into<String>) -> Self {
        self.console_url = Some(url.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSummary {
    pub arn: Option<String>,
    pub cluster: Option<String>,
    pub group: Option<String>,
    pub launch_type: Option<String>,
    pub platform_version: Option<String>,
    pub source: TaskSource,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureSummary {
    pub container: Option<String>,
    pub image: Option<String>,
    pub message: String,
    pub category: Category,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootCauseSummary {
    pub code: RootCause,
    pub title: String,
    pub confidence: Confidence,
    /// The fix, copied from the deciding finding (absent for `UNKNOWN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    /// For `UNKNOWN`: the likely causes of this message category, to verify by hand.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_verify: Vec<String>,
    /// Failing checks that are not the root cause: ruled out by what the message says, or
    /// behind the root cause on the pull's path. Each is wrong too and will break the pull
    /// next, once the root cause is fixed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_wrong: Vec<AlsoWrong>,
}

/// One failing check listed in [`RootCauseSummary::also_wrong`] (the full finding is in `findings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlsoWrong {
    pub code: RootCause,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

impl AlsoWrong {
    pub fn of(finding: &Finding) -> AlsoWrong {
        AlsoWrong {
            code: finding.code,
            title: finding.title.clone(),
            resource: finding.resource.clone(),
            remediation: finding.remediation.clone(),
        }
    }
}

/// The `pulldoctor.diagnosis/v1` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub schema: String,
    pub event_id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub task: TaskSummary,
    pub failure: FailureSummary,
    pub root_cause: RootCauseSummary,
    pub findings: Vec<Finding>,
    pub aws_calls: u32,
    pub duration_ms: u64,
    /// Other containers of the task that failed to pull another image, each diagnosed on its
    /// own (the shared reads made once). Absent when only one image failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_failures: Vec<OtherFailure>,
    /// The deploy behind the failure (a service task): the revisions compared and what changed.
    /// Absent without a service or with history off (`--no-history`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<crate::model::history::DeployDiff>,
    /// Recent CloudTrail writes to the resources the root cause names. Absent when the root
    /// cause names none, or with history off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<crate::model::history::Changes>,
    /// Other services that share the broken resource. Absent when the root cause names none, or
    /// with history off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blast_radius: Option<crate::model::history::BlastRadius>,
}

/// The diagnosis of another failing image of the same task (see [`Diagnosis::other_failures`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OtherFailure {
    /// `container`, `image`, `message`, `category`, as in the top-level `failure`.
    #[serde(flatten)]
    pub failure: FailureSummary,
    pub root_cause: RootCauseSummary,
    /// Its checks that did not pass (those that passed are in the top-level `findings` too,
    /// or concern only this image and need no attention).
    pub findings: Vec<Finding>,
}

impl OtherFailure {
    /// The finding that decided its root cause, if any.
    pub fn deciding_finding(&self) -> Option<&Finding> {
        self.findings
            .iter()
            .find(|f| f.code == self.root_cause.code && f.status == Status::Fail)
    }
}

impl Diagnosis {
    /// The finding that decided the root cause, if any.
    pub fn deciding_finding(&self) -> Option<&Finding> {
        self.findings
            .iter()
            .find(|f| f.code == self.root_cause.code && f.status == Status::Fail)
    }
    /// The task's subnet, if a finding names it (evidence `subnet`, or a `subnet-…` resource).
    pub fn subnet(&self) -> Option<String> {
        self.findings.iter().find_map(|f| {
            f.evidence
                .get("subnet")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| f.resource.clone().filter(|r| r.starts_with("subnet-")))
        })
    }
    /// What failed, for headlines: the service name, else the task family, else the task id.
    pub fn subject_name(&self) -> String {
        if let Some(s) = self.service_name() {
            return s.to_string();
        }
        if let Some(f) = self
            .task
            .group
            .as_deref()
            .and_then(|g| g.strip_prefix("family:"))
        {
            return f.to_string();
        }
        self.task
            .arn
            .as_deref()
            .and_then(|a| a.rsplit('/').next())
            .unwrap_or("ECS task")
            .to_string()
    }
    /// Service name for `group = "service:NAME"`.
    pub fn service_name(&self) -> Option<&str> {
        crate::model::facts::service_of_group(self.task.group.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_the_design_table() {
        for rc in RootCause::ALL {
            let json = serde_json::to_value(rc).unwrap();
            assert_eq!(json, Value::String(rc.code().to_string()), "{rc:?}");
            let back: RootCause = serde_json::from_value(json).unwrap();
            assert_eq!(back, rc);
        }
    }
}
