//! What the service was deployed with: its deployments and the revision it ran before the failing
//! one, with whether that revision's image still exists. Read only for a service task whose ECR
//! image is missing (the question then is "did a deploy change the image?").

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
