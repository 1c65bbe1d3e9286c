//! The Facts snapshot: everything collected about one failed pull, as plain serializable data.
//!
//! Checks read only this. A snapshot saved as JSON can be re-judged offline, which is how checks are
//! unit-tested. Every field read from AWS is a [`Fact`], which records *why* it is missing when it
//! could not be read, so a check can say `unknown` with the reason instead of guessing.
//!
//! Compatibility: new fields are always `#[serde(default)]` so older saved snapshots still load.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::classify::Classification;
use crate::image_ref::ImageRef;

/// A value read from AWS, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Fact<T> {
    /// The read succeeded.
    Found { value: T },
    /// The read succeeded and AWS says the thing does not exist. This is evidence, not a gap.
    NotFound { detail: String },
    /// The read failed (AccessDenied, throttling, timeout…); `reason` names the API action.
    Unreadable { reason: String },
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
            Fact::Unreadable { reason } | Fact::NotCollected { reason } => Some(reason),
        }
    }
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Fact<U> {
        match self {
            Fact::Found { value } => Fact::Found { value: f(value) },
            Fact::NotFound { detail } => Fact::NotFound { detail },
            Fact::Unreadable { reason } => Fact::Unreadable { reason },
            Fact::NotCollected { reason } => Fact::NotCollected { reason },
        }
    }
}

impl<T> Default for Fact<T> {
    fn default() -> Self {
        Fact::NotCollected { reason: "not collected".into() }
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
    /// `FARGATE`, `EC2`, `EXTERNAL`; absent when a capacity provider was used and not resolved.
    #[serde(default)]
    pub launch_type: Option<String>,
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
        self.launch_type.as_deref() == Some("FARGATE")
            || self.capacity_provider.as_deref().is_some_and(|c| c.starts_with("FARGATE"))
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
    pub requires_compatibilities: Vec<String>,
    #[serde(default)]
    pub cpu_architecture: Option<String>,
    #[serde(default)]
    pub operating_system_family: Option<String>,
    #[serde(default)]
    pub ephemeral_storage_gib: Option<i32>,
    #[serde(default)]
    pub containers: Vec<ContainerDefinitionFacts>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ContainerDefinitionFacts {
    pub name: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    /// ARN of the Secrets Manager secret for a private registry (`repositoryCredentials`).
    #[serde(default)]
    pub registry_credentials_secret: Option<String>,
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
}

// ───────────────────────────── Network (task → ECR API, registry, S3 layers) ─────────────────────
// The types live in `facts/network.rs`; `Facts::network` holds them.
mod network;
pub use network::*;
