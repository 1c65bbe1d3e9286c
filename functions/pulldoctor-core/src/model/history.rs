//! What changed before the failure and who else it will hit: the `deploy`, `changes` and
//! `blast_radius` sections of the diagnosis (`pulldoctor.diagnosis/v1`, additive fields; see
//! docs/schemas/diagnosis.v1.json). They answer the first two questions of an incident call
//! ("what changed?", "what else is broken?"); none of them decides the root cause.

use serde::{Deserialize, Serialize};

/// Whether a history section could be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryStatus {
    /// Looked up; the section lists what was found (possibly nothing).
    Found,
    /// Could not be looked up (denied, throttled, past the read bound, deadline): `reason` says
    /// why and which IAM action to grant. Never a silent "nothing changed".
    Unknown,
}

/// The deploy behind the failure: the failing revision against the one the service ran before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployDiff {
    pub status: HistoryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where the previous revision came from: `service_deployments` (`DescribeServices`),
    /// `service_revisions` (`ListServiceDeployments` / `DescribeServiceRevisions`), or
    /// `previous_family_revision` (the family's revision before, a last resort: the service may
    /// never have run it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The revision that failed (`family:revision`, with its deployment id when known).
    pub failing: Revision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Revision>,
    /// The deployment circuit breaker rolled the service back (to `previous`).
    #[serde(default)]
    pub rolled_back: bool,
    /// ECS's words on the rollout, e.g. "ECS deployment circuit breaker: rolling back to …".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_reason: Option<String>,
    /// The differences that matter for a pull, most telling first.
    #[serde(default)]
    pub differences: Vec<Difference>,
    /// The deploy explains the failure (e.g. it changed the image to one that does not exist):
    /// reports then show "What changed" first.
    #[serde(default)]
    pub explains_failure: bool,
}

/// One side of a [`DeployDiff`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    /// `family:revision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_revision: Option<String>,
    /// `PRIMARY`, `ACTIVE`, `INACTIVE` or the service deployment's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// What a deploy changed in one setting that matters for a pull.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// `image`, `execution_role`, `runtime_platform`, `launch_type`, `platform_version`,
    /// `capacity_provider`, `subnets`, `security_groups`, `assign_public_ip`,
    /// `repository_credentials`, `secrets`.
    pub setting: String,
    /// The container, for per-container settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Lists (subnets, security groups, secrets) are sorted and joined with ", ".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// For images: whether each side exists in its registry (`present`, `not_found`, `unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_state: Option<String>,
}

/// Recent writes to the resources the root cause names, from CloudTrail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    pub status: HistoryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The resources looked up (ids and names as CloudTrail records them).
    #[serde(default)]
    pub resources: Vec<String>,
    /// The window looked at, before the failure.
    pub window_hours: u32,
    /// Most likely breaking change first.
    #[serde(default)]
    pub events: Vec<ChangeEvent>,
}

/// One CloudTrail event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEvent {
    pub event_id: String,
    /// `DeleteRoute`, `RevokeSecurityGroupEgress`, `PolicyExecutionEvent`, …
    pub event_name: String,
    /// RFC 3339.
    pub time: String,
    /// The role session (`platform-deployer/ci-1234`), user, or service that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// `cloudformation.amazonaws.com`, … when a service made the call on the actor's behalf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    pub resource: String,
    /// The CloudFormation stack that owns the resource (`aws:cloudformation:stack-name` tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// The event can explain the root cause (a delete, revoke, detach… of the broken resource).
    #[serde(default)]
    pub likely_cause: bool,
}

/// Other services that share the broken resource and will fail on their next task start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlastRadius {
    pub status: HistoryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What is shared, e.g. `subnet subnet-0abc`, `execution role ecsTaskExecutionRole`,
    /// `repository web`.
    #[serde(default)]
    pub shared: Vec<String>,
    /// How many services are at risk (all found, even past the ten listed).
    pub total: u32,
    /// Up to ten, with why each is at risk.
    #[serde(default)]
    pub services: Vec<AtRisk>,
    /// Every service that could share it was examined (false: bounded, more may be at risk).
    #[serde(default)]
    pub complete: bool,
    /// Clusters whose services were examined.
    #[serde(default)]
    pub clusters_examined: u32,
}

/// One service at risk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtRisk {
    pub service: String,
    pub cluster: String,
    /// e.g. "runs in subnet-0abc", "uses execution role ecsTaskExecutionRole".
    pub why: String,
}

impl Changes {
    /// The event ids, for the audit line.
    pub fn event_ids(&self) -> Vec<String> {
        self.events.iter().map(|e| e.event_id.clone()).collect()
    }
}
