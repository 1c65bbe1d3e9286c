//! Facts about a missing ECR image or repository: what the lifecycle arithmetic, the archive and
//! the pull-through cache checks need. All of it is read only when the image (or its repository)
//! is missing, so the common diagnosis costs nothing more.

use serde::{Deserialize, Serialize};

use super::{Fact, ImageFacts, SecretFacts, SimulationResult};

/// `Default` = nothing collected (the image exists, or an older snapshot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MissingImageFacts {
    /// The missing image looked up again with `filter.imageStatus = ANY`: `Found` when it is
    /// archived (or being restored), which a plain `DescribeImages` does not show.
    #[serde(default)]
    pub archived: Fact<ImageFacts>,
    /// The repository's current (active) images, for the lifecycle rules' count arithmetic.
    /// Read only when the repository has a lifecycle policy.
    #[serde(default)]
    pub repository_images: Fact<RepositoryImages>,
    /// The images the other running or recently stopped tasks of the same service run
    /// (`ecs:ListTasks` + `ecs:DescribeTasks`): evidence that an image existed. Read only for a
    /// service task whose repository has a lifecycle policy.
    #[serde(default)]
    pub service_tasks: Fact<Vec<ServiceTaskImage>>,
    /// The registry's pull-through cache rules (`ecr:DescribePullThroughCacheRules`).
    #[serde(default)]
    pub pull_through_rules: Fact<Vec<PullThroughRuleFacts>>,
    /// The registry permissions policy (`ecr:GetRegistryPolicy`), parsed; read only for an image
    /// under a pull-through cache rule.
    #[serde(default)]
    pub registry_policy: Fact<serde_json::Value>,
    /// `iam:SimulatePrincipalPolicy` for the pulling role on `ecr:BatchImportUpstreamImage` and
    /// `ecr:CreateRepository` (image under a pull-through cache rule only).
    #[serde(default)]
    pub pull_through_simulation: Fact<Vec<SimulationResult>>,
    /// The rule's upstream credentials secret (`secretsmanager:DescribeSecret`, metadata only).
    #[serde(default)]
    pub upstream_secret: Fact<SecretFacts>,
}

/// The repository's active images, at most a few pages of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RepositoryImages {
    #[serde(default)]
    pub images: Vec<ImageFacts>,
    /// More pages existed than were read: counts are lower bounds.
    #[serde(default)]
    pub truncated: bool,
}

/// One container of another task of the same service, as `DescribeTasks` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ServiceTaskImage {
    pub task_arn: String,
    #[serde(default)]
    pub last_status: Option<String>,
    /// RFC 3339; when the task was created (it pulled its image after that).
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub container: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub image_digest: Option<String>,
}

/// One `PullThroughCacheRule`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PullThroughRuleFacts {
    /// Repositories named `PREFIX/…` are served by this rule.
    pub ecr_repository_prefix: String,
    #[serde(default)]
    pub upstream_registry_url: Option<String>,
    /// The upstream credentials (a Secrets Manager secret named `ecr-pullthroughcache/…`).
    #[serde(default)]
    pub credential_arn: Option<String>,
    /// The role ECR assumes for an ECR-to-ECR rule.
    #[serde(default)]
    pub custom_role_arn: Option<String>,
    #[serde(default)]
    pub upstream_repository_prefix: Option<String>,
}

impl MissingImageFacts {
    /// The pull-through cache rule whose prefix covers `repository`, longest prefix first.
    pub fn pull_through_rule(&self, repository: &str) -> Option<&PullThroughRuleFacts> {
        self.pull_through_rules
            .value()?
            .iter()
            .filter(|r| r.covers(repository))
            .max_by_key(|r| r.ecr_repository_prefix.len())
    }
}

impl PullThroughRuleFacts {
    pub fn covers(&self, repository: &str) -> bool {
        // `ROOT` is the prefix of a rule that caches every repository of the registry.
        self.ecr_repository_prefix == "ROOT"
            || repository
                .strip_prefix(self.ecr_repository_prefix.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    }
}
