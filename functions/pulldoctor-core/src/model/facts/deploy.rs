//! What the service was deployed with: its deployments and the revision it ran before the failing
//! one, with whether that revision's image still exists. `deployments`/`previous` are read only
//! for a service task whose ECR image is missing (the question then is "did a deploy change the
//! image?"); `history` for any service task with history on (the `deploy` section).

use serde::{Deserialize, Serialize};

use super::{Fact, ImageFacts, TaskDefinitionFacts};

/// The service's deployments and the revision before the failing one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DeployFacts {
    /// `ecs:DescribeServices` → `deployments`, newest first as ECS lists them.
    #[serde(default)]
    pub deployments: Fact<Vec<DeploymentFacts>>,
    /// The revision the service ran before (or was rolled back to): `NotCollected` when the
    /// service has no deployment with another task definition.
    #[serde(default)]
    pub previous: Fact<PreviousRevisionFacts>,
    /// With history on: the failing revision against the one the service ran before, from the
    /// best source available. `NotCollected` with history off or for a standalone task.
    #[serde(default)]
    pub history: Fact<DeployHistoryFacts>,
}

/// One deployment of the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DeploymentFacts {
    pub id: String,
    /// `PRIMARY` (the newest, or the rollback target), `ACTIVE` (older, still running tasks),
    /// `INACTIVE`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub task_definition: Option<String>,
    /// `IN_PROGRESS`, `COMPLETED`, `FAILED`.
    #[serde(default)]
    pub rollout_state: Option<String>,
    /// ECS's words, e.g. "ECS deployment circuit breaker: rolling back to deploymentId …".
    #[serde(default)]
    pub rollout_state_reason: Option<String>,
    #[serde(default)]
    pub running_count: i32,
    #[serde(default)]
    pub created_at: Option<String>,
    /// How the deployment launches its tasks (`DescribeServices` gives it per deployment).
    #[serde(default)]
    pub launch: LaunchFacts,
}

/// The revision before the failing one and the failing container's image in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PreviousRevisionFacts {
    /// The deployment that runs (or ran) it.
    pub deployment: DeploymentFacts,
    #[serde(default)]
    pub task_definition: Fact<TaskDefinitionFacts>,
    /// The failing container's image in that revision, looked up in ECR (`NotCollected` when
    /// the image did not change or is not in ECR).
    #[serde(default)]
    pub image: Fact<ImageFacts>,
}

/// The settings outside the task definition that bear on a pull, as a deployment or service
/// revision launches tasks. `None` / empty: not known from that source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LaunchFacts {
    #[serde(default)]
    pub launch_type: Option<String>,
    #[serde(default)]
    pub platform_version: Option<String>,
    /// The capacity provider strategy's providers, in order.
    #[serde(default)]
    pub capacity_providers: Vec<String>,
    /// `None`: no awsvpc configuration known.
    #[serde(default)]
    pub subnets: Option<Vec<String>>,
    #[serde(default)]
    pub security_groups: Option<Vec<String>>,
    #[serde(default)]
    pub assign_public_ip: Option<bool>,
    /// Container name → the image digest ECS resolved (service revisions' `containerImages`).
    #[serde(default)]
    pub image_digests: std::collections::BTreeMap<String, String>,
}

/// One `ecs:ListServiceDeployments` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ServiceDeploymentFacts {
    pub arn: String,
    /// `PENDING`, `IN_PROGRESS`, `SUCCESSFUL`, `STOPPED`, `STOP_REQUESTED`, `ROLLBACK_IN_PROGRESS`,
    /// `ROLLBACK_SUCCESSFUL`, `ROLLBACK_FAILED`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub status_reason: Option<String>,
    #[serde(default)]
    pub target_revision: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// One side of the deploy: a task definition revision and how the service launched it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RevisionFacts {
    #[serde(default)]
    pub task_definition_arn: Option<String>,
    #[serde(default)]
    pub deployment_id: Option<String>,
    #[serde(default)]
    pub service_revision: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub launch: LaunchFacts,
    #[serde(default)]
    pub task_definition: Fact<TaskDefinitionFacts>,
}

/// A container whose image the deploy changed, and whether each side exists in ECR
/// (`NotCollected`: not an ECR image, or past the read bound).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ImageChangeFacts {
    pub container: String,
    #[serde(default)]
    pub before: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub before_image: Fact<ImageFacts>,
    #[serde(default)]
    pub after_image: Fact<ImageFacts>,
}

/// The deploy behind the failing revision, for any service task (history on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DeployHistoryFacts {
    pub service: String,
    /// Where `previous` came from: `service_deployments`, `service_revisions` or
    /// `previous_family_revision` (see `model::history::DeployDiff::source`).
    #[serde(default)]
    pub source: Option<String>,
    pub failing: RevisionFacts,
    /// `None`: no other revision on record.
    #[serde(default)]
    pub previous: Option<RevisionFacts>,
    /// The deployment circuit breaker rolled the failing revision back.
    #[serde(default)]
    pub rolled_back: bool,
    #[serde(default)]
    pub rollout_reason: Option<String>,
    #[serde(default)]
    pub images: Vec<ImageChangeFacts>,
    /// `ecs:ListServiceDeployments`, newest first.
    #[serde(default)]
    pub service_deployments: Fact<Vec<ServiceDeploymentFacts>>,
    /// Sources that could not be read (their reason names the action to grant).
    #[serde(default)]
    pub unread: Vec<String>,
}

fn image_with_digest(image: Option<&str>, container: &str, launch: &LaunchFacts) -> Option<String> {
    match (image, launch.image_digests.get(container)) {
        (Some(i), Some(d)) if !i.contains('@') => Some(format!("{i}@{d}")),
        (i, _) => i.map(str::to_string),
    }
}

impl RevisionFacts {
    /// The containers whose image changed from this revision to `after`: (container, before,
    /// after). Tags always compare; digests only when both sides know theirs (a re-pushed tag).
    pub fn image_changes_to(
        &self,
        after: &RevisionFacts,
    ) -> Vec<(String, Option<String>, Option<String>)> {
        let before = self;
        let (Some(after_td), Some(before_td)) = (
            after.task_definition.value(),
            before.task_definition.value(),
        ) else {
            return vec![];
        };
        let strip = |i: &Option<String>| {
            i.as_deref()
                .map(|i| i.split('@').next().unwrap_or(i).to_string())
        };
        after_td
            .containers
            .iter()
            .filter_map(|c| {
                let name = c.name.clone().unwrap_or_default();
                let old = before_td.container(c.name.as_deref())?;
                let a = image_with_digest(c.image.as_deref(), &name, &after.launch);
                let b = image_with_digest(old.image.as_deref(), &name, &before.launch);
                let digests = after.launch.image_digests.contains_key(&name)
                    && before.launch.image_digests.contains_key(&name);
                let changed = if digests {
                    a != b
                } else {
                    strip(&a) != strip(&b)
                };
                changed.then_some((name, b, a))
            })
            .collect()
    }
}
