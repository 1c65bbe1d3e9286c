//! The Facts snapshot: everything collected about one failed pull, as plain serializable data.
//!
//! Checks read only this. A snapshot saved as JSON can be re-judged offline, which is how checks are
//! unit-tested. Every field read from AWS is a [`Fact`], which records *why* it is missing when it
//! could not be read, so a check can say `unknown` with the reason instead of guessing.
//!
//! Compatibility: new fields are always `#[serde(default)]` so older saved snapshots still load.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::image_ref::ImageRef;
use crate::model::message::Classification;

/// A value read from AWS, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Fact<T> {
    /// The read succeeded.
    Found { value: T },
    /// The read succeeded and AWS says the thing does not exist. This is evidence, not a gap.
    NotFound { detail: String },
    /// The read failed (AccessDenied, throttling, timeout…); `reason` names the API action and
    /// `kind` says which, for code that decides on it.
    Unreadable {
        reason: String,
        #[serde(default)]
        kind: ErrorKind,
    },
    /// The read was not attempted (not applicable, or an earlier read it depends on failed).
    NotCollected { reason: String },
}

impl<T> Fact<T> {
    pub fn found(value: T) -> Self {
        Fact::Found { value }
    }
    pub fn value(&self) -> Option<&T> {
        match self {
            Fact::Found { value } => Some(value),
            _ => None,
        }
    }
    pub fn is_not_found(&self) -> bool {
        matches!(self, Fact::NotFound { .. })
    }
    /// Why there is no value (for `unknown` findings); `None` when there is one.
    pub fn gap(&self) -> Option<&str> {
        match self {
            Fact::Found { .. } => None,
            Fact::NotFound { detail } => Some(detail),
            Fact::Unreadable { reason, .. } | Fact::NotCollected { reason } => Some(reason),
        }
    }
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Fact<U> {
        match self {
            Fact::Found { value } => Fact::Found { value: f(value) },
            Fact::NotFound { detail } => Fact::NotFound { detail },
            Fact::Unreadable { reason, kind } => Fact::Unreadable { reason, kind },
            Fact::NotCollected { reason } => Fact::NotCollected { reason },
        }
    }
}

/// What kind of failure made a read fail. Saved snapshots from before it existed load as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    AccessDenied,
    /// AWS throttled the read and the retries did not get through.
    Throttled,
    /// The service did not answer in time.
    Timeout,
    /// The diagnosis deadline passed before the read was made or answered.
    Deadline,
    NotFound,
    #[default]
    Other,
}

impl<T> Default for Fact<T> {
    fn default() -> Self {
        Fact::NotCollected {
            reason: "not collected".into(),
        }
    }
}

/// Where ECS runs a task: a task's `launchType`, or one of a task definition's
/// `requiresCompatibilities`. Its JSON is the ECS name (`FARGATE`, `EC2`, `EXTERNAL`,
/// `MANAGED_INSTANCES`), and any name ECS adds later is kept as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LaunchType {
    Fargate,
    Ec2,
    /// ECS Anywhere.
    External,
    /// ECS Managed Instances.
    ManagedInstances,
    Other(String),
}

impl LaunchType {
    pub fn as_str(&self) -> &str {
        match self {
            LaunchType::Fargate => "FARGATE",
            LaunchType::Ec2 => "EC2",
            LaunchType::External => "EXTERNAL",
            LaunchType::ManagedInstances => "MANAGED_INSTANCES",
            LaunchType::Other(name) => name,
        }
    }

    /// Instances the customer runs and registers (EC2, ECS Anywhere).
    pub fn is_own_instances(&self) -> bool {
        matches!(self, LaunchType::Ec2 | LaunchType::External)
    }
}

impl From<&str> for LaunchType {
    fn from(name: &str) -> LaunchType {
        match name {
            "FARGATE" => LaunchType::Fargate,
            "EC2" => LaunchType::Ec2,
            "EXTERNAL" => LaunchType::External,
            "MANAGED_INSTANCES" => LaunchType::ManagedInstances,
            other => LaunchType::Other(other.to_string()),
        }
    }
}

impl From<String> for LaunchType {
    fn from(name: String) -> LaunchType {
        LaunchType::from(name.as_str())
    }
}

impl std::fmt::Display for LaunchType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for LaunchType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LaunchType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<LaunchType, D::Error> {
        String::deserialize(deserializer).map(LaunchType::from)
    }
}

/// For finding evidence, which is JSON.
impl From<LaunchType> for serde_json::Value {
    fn from(launch_type: LaunchType) -> serde_json::Value {
        serde_json::Value::String(launch_type.as_str().to_string())
    }
}

/// Where the task facts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TaskSource {
    /// `ecs:DescribeTasks` still returned the task.
    DescribeTasks,
    /// The task was gone (or unreadable): facts come from the event payload alone.
    #[default]
    Event,
}

/// The full snapshot judged by the checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Facts {
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    pub task: TaskFacts,
    pub failure: FailureFacts,
    #[serde(default)]
    pub task_definition: Fact<TaskDefinitionFacts>,
    /// ECR only; `NotCollected` for other registries.
    #[serde(default)]
    pub repository: Fact<RepositoryFacts>,
    /// The image looked up by the digest the task was pinned to (ECR, when a digest is known).
    #[serde(default)]
    pub image_by_digest: Fact<ImageFacts>,
    /// The image looked up by tag (ECR, when the reference has a tag).
    #[serde(default)]
    pub image_by_tag: Fact<ImageFacts>,
    /// Network path from the task to ECR and S3 (see `facts/network.rs`).
    #[serde(default)]
    pub network: NetworkFacts,
    /// AWS API calls made while collecting.
    #[serde(default)]
    pub aws_calls: u32,
    /// How many of those calls failed (not counting "does not exist" answers).
    #[serde(default)]
    pub aws_failures: u32,
    /// Who pulls, whether they may, and what the image is (see the identity section below).
    #[serde(default)]
    pub identity: IdentityFacts,
    /// The task's own secrets, when the failure is at the step that fetches them (see
    /// `facts/secrets.rs`); `NotCollected` otherwise.
    #[serde(default)]
    pub secrets: Fact<TaskSecretsFacts>,
    /// A missing ECR image or repository: archive, lifecycle arithmetic, the service's other
    /// tasks, pull-through cache (see `facts/ecr.rs`). Read only when something is missing.
    #[serde(default)]
    pub missing_image: MissingImageFacts,
    /// The service's deployments and its revision before the failing one (see
    /// `facts/deploy.rs`); read only for a service task whose ECR image is missing.
    #[serde(default)]
    pub deploy: DeployFacts,
    /// What changed and who else is hit (see `facts/history.rs`): read after the first judgement,
    /// for the resources its root cause names.
    #[serde(default)]
    pub history: HistoryFacts,
    /// Who pulls: an ECS task, or (`preflight eks`) EKS nodes or Fargate pods. Checks word their
    /// findings for it and run only where it is in their scope.
    #[serde(default)]
    pub audience: crate::model::audience::Audience,
}

impl Facts {
    /// The failing image when it is in a private ECR registry, with that registry's account and region.
    pub fn ecr_image(&self) -> Option<(&ImageRef, &str, &str)> {
        let image = self.failure.image_ref.as_ref()?;
        let (account, region) = image.ecr()?;
        Some((image, account, region))
    }

    /// The image's repository ARN: as ECR reported it, else built from the image URI in the
    /// partition of `related_arn`.
    pub fn repository_arn(
        &self,
        related_arn: &str,
        image: &ImageRef,
        account: &str,
        region: &str,
    ) -> String {
        self.repository
            .value()
            .and_then(|r| r.arn.clone())
            .unwrap_or_else(|| {
                crate::model::arn::repository_arn(related_arn, region, account, &image.repository)
            })
    }
}

/// The stopped task, from `DescribeTasks` or from the event's `detail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TaskFacts {
    pub source: TaskSource,
    #[serde(default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub cluster_arn: Option<String>,
    #[serde(default)]
    pub task_definition_arn: Option<String>,
    /// `service:NAME` for service tasks, `family:NAME` for standalone ones.
    #[serde(default)]
    pub group: Option<String>,
    /// Absent when a capacity provider was used and not resolved.
    #[serde(default)]
    pub launch_type: Option<LaunchType>,
    #[serde(default)]
    pub capacity_provider: Option<String>,
    #[serde(default)]
    pub platform_version: Option<String>,
    #[serde(default)]
    pub platform_family: Option<String>,
    #[serde(default)]
    pub availability_zone: Option<String>,
    #[serde(default)]
    pub container_instance_arn: Option<String>,
    #[serde(default)]
    pub last_status: Option<String>,
    #[serde(default)]
    pub stop_code: Option<String>,
    #[serde(default)]
    pub stopped_reason: Option<String>,
    #[serde(default)]
    pub ephemeral_storage_gib: Option<i32>,
    #[serde(default)]
    pub containers: Vec<ContainerFacts>,
    #[serde(default)]
    pub attachments: Vec<AttachmentFacts>,
    /// Why the task facts come from the event rather than `DescribeTasks` (e.g. `MISSING`).
    #[serde(default)]
    pub source_note: Option<String>,
    /// The `executionRoleArn` of the task's overrides (RunTask / StartTask `overrides`): the role
    /// that pulls for this task instead of the task definition's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_override: Option<String>,
}

impl TaskFacts {
    /// The ENI attachment of an awsvpc task, if any.
    pub fn eni_attachment(&self) -> Option<&AttachmentFacts> {
        // Events say `eni`, DescribeTasks says `ElasticNetworkInterface`.
        self.attachments
            .iter()
            .find(|a| matches!(a.kind.as_deref(), Some("eni" | "ElasticNetworkInterface")))
    }
    pub fn is_fargate(&self) -> bool {
        self.launch_type == Some(LaunchType::Fargate)
            || self
                .capacity_provider
                .as_deref()
                .is_some_and(|c| c.starts_with("FARGATE"))
    }
    /// ECS Managed Instances: EC2 instances ECS launches and runs for you; the task execution role
    /// pulls, as on Fargate.
    pub fn is_managed_instances(&self) -> bool {
        self.launch_type == Some(LaunchType::ManagedInstances)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ContainerFacts {
    pub name: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub image_digest: Option<String>,
    #[serde(default)]
    pub last_status: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AttachmentFacts {
    #[serde(default)]
    pub id: Option<String>,
    /// `ElasticNetworkInterface`, …
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// `subnetId`, `networkInterfaceId`, `privateIPv4Address`, … as given by ECS.
    #[serde(default)]
    pub details: BTreeMap<String, String>,
}

impl Facts {
    /// The pull-through cache rule serving the image, when its repository or tag is missing.
    pub fn pull_through_rule_serving_image(&self) -> Option<&PullThroughRuleFacts> {
        let image = self.failure.image_ref.as_ref()?;
        self.missing_image.pull_through_rule(&image.repository)
    }

    /// The role this task pulls with is the one it was started with: an `executionRoleArn`
    /// override of RunTask / StartTask takes the task definition's place (the checks and the
    /// identity reads then judge that role).
    pub fn apply_task_overrides(&mut self) {
        let Some(role) = self.task.execution_role_override.clone() else {
            return;
        };
        if let Fact::Found { value } = &mut self.task_definition {
            value.execution_role_arn = Some(role);
        }
    }
}

/// Which container failed, with what image and message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FailureFacts {
    #[serde(default)]
    pub container: Option<String>,
    /// The image as the task names it, with `@digest` appended when the event pinned one.
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub image_ref: Option<ImageRef>,
    pub message: String,
    pub classification: Classification,
    /// When the task failed (the event's time), if the event said: the history looks before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<chrono::DateTime<chrono::Utc>>,
}

/// The parts of a task definition that bear on pulling images. Environment values and secrets are
/// never collected, so they can never leak into a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TaskDefinitionFacts {
    pub arn: Option<String>,
    #[serde(default)]
    pub family: Option<String>,
    #[serde(default)]
    pub revision: Option<i32>,
    #[serde(default)]
    pub execution_role_arn: Option<String>,
    #[serde(default)]
    pub task_role_arn: Option<String>,
    /// `awsvpc`, `bridge`, `host`, `none`.
    #[serde(default)]
    pub network_mode: Option<String>,
    #[serde(default)]
    pub requires_compatibilities: Vec<LaunchType>,
    #[serde(default)]
    pub cpu_architecture: Option<String>,
    #[serde(default)]
    pub operating_system_family: Option<String>,
    #[serde(default)]
    pub ephemeral_storage_gib: Option<i32>,
    #[serde(default)]
    pub containers: Vec<ContainerDefinitionFacts>,
}

impl TaskDefinitionFacts {
    /// The container definition named `name` (the failing container).
    pub fn container(&self, name: Option<&str>) -> Option<&ContainerDefinitionFacts> {
        self.containers.iter().find(|c| c.name.as_deref() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ContainerDefinitionFacts {
    pub name: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    /// ARN of the Secrets Manager secret for a private registry (`repositoryCredentials`).
    #[serde(default)]
    pub registry_credentials_secret: Option<String>,
    /// The `valueFrom` of each secret the container injects (`secrets`, and the log driver's
    /// `secretOptions`): a Secrets Manager ARN, an SSM parameter ARN or name. A reference, never a
    /// value; the variable names are not collected either.
    #[serde(default)]
    pub secrets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RepositoryFacts {
    pub name: String,
    #[serde(default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub registry_id: Option<String>,
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ImageFacts {
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub pushed_at: Option<String>,
    #[serde(default)]
    pub size_bytes: Option<i64>,
    #[serde(default)]
    pub manifest_media_type: Option<String>,
    /// `ACTIVE`, `ARCHIVED` or `ACTIVATING` (ECR archive storage class); `None` = active.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub last_archived_at: Option<String>,
    /// `lastRecordedPullTime` (ECR records it at most about once a day).
    #[serde(default)]
    pub last_pulled_at: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Identity and registry: who pulls, whether they may, and what is pulled
// ---------------------------------------------------------------------------------------------

/// Roles, policies, the repository's policies, the image manifest and the registry secret's
/// shape. Secret values are never stored: [`SecretShape`] records only which keys exist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct IdentityFacts {
    /// The task definition's execution role (`iam:GetRole`); `NotCollected` when there is none.
    #[serde(default)]
    pub execution_role: Fact<RoleFacts>,
    /// EC2 launch type: the container instance the task was placed on.
    #[serde(default)]
    pub container_instance: Fact<ContainerInstanceFacts>,
    /// EC2 launch type without an execution role: the role of the instance's profile.
    #[serde(default)]
    pub instance_role: Fact<RoleFacts>,
    /// `iam:SimulatePrincipalPolicy` for the role that pulls, on the ECR pull actions.
    #[serde(default)]
    pub pull_simulation: Fact<Vec<SimulationResult>>,
    /// The repository policy, parsed (`ecr:GetRepositoryPolicy`, in the image's registry).
    #[serde(default)]
    pub repository_policy: Fact<serde_json::Value>,
    /// The lifecycle policy, parsed; read only when the image is gone.
    #[serde(default)]
    pub lifecycle_policy: Fact<serde_json::Value>,
    /// The image manifest (`ecr:BatchGetImage`); read for platform and disk failures.
    #[serde(default)]
    pub manifest: Fact<ManifestFacts>,
    /// The private registry credentials secret (`repositoryCredentials`) of the failed container.
    #[serde(default)]
    pub registry_secret: Fact<SecretFacts>,
    /// `iam:SimulatePrincipalPolicy` for the execution role on the secret and its KMS key.
    #[serde(default)]
    pub secret_simulation: Fact<Vec<SimulationResult>>,
}

/// An IAM role as `iam:GetRole` returns it, plus its policies when they had to be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RoleFacts {
    pub arn: String,
    pub name: String,
    /// Unique id (`AROA…`).
    #[serde(default)]
    pub role_id: Option<String>,
    #[serde(default)]
    pub trust_policy: Option<serde_json::Value>,
    #[serde(default)]
    pub permissions_boundary_arn: Option<String>,
    /// Role tags (for `aws:PrincipalTag/*` conditions).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Inline and attached managed policies (current default version). Read only when the
    /// policy simulator could not be used; `NotCollected` otherwise.
    #[serde(default)]
    pub policies: Fact<Vec<PolicyFacts>>,
    /// The permission boundary's document, when there is one and policies were read.
    #[serde(default)]
    pub boundary: Fact<PolicyFacts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    #[default]
    Inline,
    Managed,
    Boundary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PolicyFacts {
    pub kind: PolicyKind,
    pub name: String,
    #[serde(default)]
    pub arn: Option<String>,
    /// Default version id of a managed policy.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub document: Fact<serde_json::Value>,
}

/// One `EvaluationResult` of `iam:SimulatePrincipalPolicy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SimulationResult {
    pub action: String,
    pub resource: String,
    /// `allowed`, `implicitDeny` or `explicitDeny`, as IAM says.
    pub decision: String,
    /// Policies whose statements decided (`SourcePolicyId`, e.g. the inline policy name).
    #[serde(default)]
    pub matched_policies: Vec<String>,
    /// Condition keys the simulator needed and did not have.
    #[serde(default)]
    pub missing_context: Vec<String>,
    /// `false` when the permission boundary did not allow the action.
    #[serde(default)]
    pub allowed_by_boundary: Option<bool>,
    /// `false` when an organization SCP denied it.
    #[serde(default)]
    pub allowed_by_organizations: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ContainerInstanceFacts {
    pub arn: String,
    #[serde(default)]
    pub ec2_instance_id: Option<String>,
    /// Container instance attribute `ecs.cpu-architecture` (`x86_64`, `arm64`).
    #[serde(default)]
    pub cpu_architecture: Option<String>,
    /// Container instance attribute `ecs.os-type` (`linux`, `windows`).
    #[serde(default)]
    pub os_type: Option<String>,
    /// Container instance attribute `ecs.os-family` (`LINUX`, `WINDOWS_SERVER_2019_FULL`, …):
    /// on Windows it names the Windows Server version, hence the build images must match.
    #[serde(default)]
    pub os_family: Option<String>,
    /// The EC2 instance's profile (`ec2:DescribeInstances`), when it was read.
    #[serde(default)]
    pub instance_profile_arn: Option<String>,
}

/// An image manifest or index, reduced to what the checks use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ManifestFacts {
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub media_type: Option<String>,
    /// An OCI index or Docker manifest list.
    #[serde(default)]
    pub is_index: bool,
    /// Index entries' platforms (attestation entries left out). Empty for a single manifest.
    #[serde(default)]
    pub platforms: Vec<PlatformFacts>,
    /// Single manifest: the config blob digest (its architecture is inside that blob).
    #[serde(default)]
    pub config_digest: Option<String>,
    /// Sum of the compressed layer sizes, when the manifest lists layers.
    #[serde(default)]
    pub layers_bytes: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PlatformFacts {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
    /// `os.version` of an index entry (Windows images: `10.0.17763.5458`, whose third part is the
    /// Windows build the image was made from).
    #[serde(default)]
    pub os_version: Option<String>,
}

impl std::fmt::Display for PlatformFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The registry credentials secret: where it is and its *shape*. Never its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SecretFacts {
    #[serde(default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// The customer managed KMS key, as Secrets Manager names it; `None` = `aws/secretsmanager`.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub shape: Fact<SecretShape>,
}

/// Which keys the secret holds — booleans and a count only, so no value can leak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SecretShape {
    /// The secret string is a JSON object.
    pub json_object: bool,
    pub has_username: bool,
    pub has_password: bool,
    /// `username` and `password` are non-empty strings.
    #[serde(default)]
    pub values_are_strings: bool,
    /// The secret is binary (`SecretBinary`), which ECS cannot use for registry credentials.
    #[serde(default)]
    pub binary: bool,
}

// ───────────────────────────── Network (task → ECR API, registry, S3 layers) ─────────────────────
// The types live in `facts/network.rs`; `Facts::network` holds them.
mod network;
pub use network::*;

// ───────────────────────────── Secrets injected at task start ─────────────────────────────────────
mod secrets;
pub use secrets::*;

// ECR evidence read only when the image or repository is missing: `facts/ecr.rs`.
mod ecr;
pub use ecr::*;

// The service's deployments: `facts/deploy.rs`.
mod deploy;
pub use deploy::*;

// Private DNS of the VPC (hub-and-spoke endpoints): `facts/private_dns.rs`.
mod private_dns;
pub use private_dns::*;

// What changed and who else is hit, read after the first judgement: `facts/history.rs`,
// `facts/changes.rs` (CloudTrail), `facts/blast_radius.rs` (services sharing the resource).
mod blast_radius;
mod changes;
mod history;
pub use blast_radius::*;
pub use changes::*;
pub use history::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_types_are_the_ecs_names_in_json() {
        for name in [
            "FARGATE",
            "EC2",
            "EXTERNAL",
            "MANAGED_INSTANCES",
            "SOMETHING_NEW",
        ] {
            let launch_type: LaunchType = serde_json::from_value(serde_json::json!(name)).unwrap();
            assert_eq!(serde_json::to_value(&launch_type).unwrap(), name);
            assert_eq!(launch_type.to_string(), name);
        }
        assert_eq!(
            LaunchType::from("MANAGED_INSTANCES"),
            LaunchType::ManagedInstances
        );
        assert_eq!(
            LaunchType::from("SOMETHING_NEW"),
            LaunchType::Other("SOMETHING_NEW".into())
        );
        let task: TaskFacts =
            serde_json::from_str(r#"{"source": "event", "launch_type": "EC2"}"#).unwrap();
        assert_eq!(task.launch_type, Some(LaunchType::Ec2));
        assert_eq!(serde_json::to_value(&task).unwrap()["launch_type"], "EC2");
    }

    #[test]
    fn an_unreadable_fact_saved_before_kinds_loads_as_other() {
        let old: Fact<String> = serde_json::from_str(
            r#"{"state": "unreadable", "reason": "AccessDenied: ecs:DescribeTasks"}"#,
        )
        .unwrap();
        assert_eq!(
            old,
            Fact::Unreadable {
                reason: "AccessDenied: ecs:DescribeTasks".into(),
                kind: ErrorKind::Other
            }
        );
        let new = Fact::<String>::Unreadable {
            reason: "Throttled: ec2:DescribeSubnets".into(),
            kind: ErrorKind::Throttled,
        };
        let json = serde_json::to_value(&new).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"state": "unreadable", "reason": "Throttled: ec2:DescribeSubnets", "kind": "throttled"})
        );
        assert_eq!(serde_json::from_value::<Fact<String>>(json).unwrap(), new);
    }
}
