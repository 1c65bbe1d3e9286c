//! Who pulls an image and what a pull asks ECR for: the facts every identity check, collector and
//! preflight agree on.

use crate::model::diagnosis::RootCause;
use crate::model::facts::{Fact, Facts, LaunchType, RoleFacts, TaskDefinitionFacts};

/// The ECR actions a pull needs on the repository (`ecr:GetAuthorizationToken` needs `*`): the ones
/// the ECS documentation for ECR images lists, and all that `AmazonEC2ContainerRegistryPullOnly`
/// grants. `ecr:BatchCheckLayerAvailability` is a push-side check a pull never calls: requiring it
/// would fail roles and repository policies built from the pull-only policy.
pub const PULL_ACTIONS: [&str; 2] = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"];
pub const TOKEN_ACTION: &str = "ecr:GetAuthorizationToken";

/// What a pull-through cache's first pull needs besides the pull actions.
pub const IMPORT_ACTION: &str = "ecr:BatchImportUpstreamImage";
pub const CREATE_REPOSITORY_ACTION: &str = "ecr:CreateRepository";

/// How the launch type decides who authenticates the pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Puller {
    /// Fargate: only the task execution role can authenticate to ECR or a private registry.
    Fargate,
    /// ECS Managed Instances: the task execution role pulls, as on Fargate; the instance profile's
    /// role (`AmazonECSInstanceRolePolicyForManagedInstances`) only registers the instance.
    ManagedInstances,
    /// EC2 / external: the execution role if set, else the container instance role.
    Ec2,
    /// The launch type cannot be told from the facts.
    Undetermined,
}

impl Puller {
    /// Only the execution role can pull (Fargate, Managed Instances).
    pub fn needs_execution_role(self) -> bool {
        matches!(self, Puller::Fargate | Puller::ManagedInstances)
    }
}

pub fn puller(facts: &Facts, td: Option<&TaskDefinitionFacts>) -> Puller {
    if facts.task.is_fargate() {
        return Puller::Fargate;
    }
    match &facts.task.launch_type {
        Some(l) if l.is_own_instances() => return Puller::Ec2,
        Some(LaunchType::ManagedInstances) => return Puller::ManagedInstances,
        Some(_) => return Puller::Undetermined,
        None => {}
    }
    // No launch type in the task (only a capacity provider, whose name can be anything): a task
    // definition that can run in one place only settles it.
    match td.map(|t| t.requires_compatibilities.as_slice()) {
        Some([LaunchType::Fargate]) => Puller::Fargate,
        Some([LaunchType::ManagedInstances]) => Puller::ManagedInstances,
        Some(c) if !c.is_empty() && c.iter().all(LaunchType::is_own_instances) => Puller::Ec2,
        _ => Puller::Undetermined,
    }
}

/// Which role pulls the image, and the root cause that names its permissions.
#[derive(Debug, Clone)]
pub struct PullRole<'a> {
    pub code: RootCause,
    /// `execution role` or `container instance role`.
    pub kind: &'static str,
    /// Known even when the role itself could not be read (execution role).
    pub arn: Option<String>,
    pub fact: &'a Fact<RoleFacts>,
}

/// The execution role when the task definition has one (the agent always prefers it), else on
/// EC2 the container instance role; `None` when nothing pulls with a role.
pub fn pull_role(facts: &Facts) -> Option<PullRole<'_>> {
    let td = facts.task_definition.value()?;
    if let Some(arn) = &td.execution_role_arn {
        return Some(PullRole {
            code: RootCause::IamExecutionRolePermissions,
            kind: "execution role",
            arn: Some(arn.clone()),
            fact: &facts.identity.execution_role,
        });
    }
    if puller(facts, Some(td)) == Puller::Ec2 {
        return Some(PullRole {
            code: RootCause::IamInstanceRolePermissions,
            kind: "container instance role",
            arn: facts.identity.instance_role.value().map(|r| r.arn.clone()),
            fact: &facts.identity.instance_role,
        });
    }
    None
}
