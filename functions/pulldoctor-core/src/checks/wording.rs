//! The words a finding uses for who pulls and where the image is set, by audience: an ECS task and
//! its task definition, an EKS node and its node role, an EKS Fargate pod and its pod execution
//! role. Checks build their titles and remediations from these instead of ECS terms.

use crate::model::audience::Scope;
use crate::model::diagnosis::RootCause;
use crate::model::facts::Facts;

#[derive(Debug, PartialEq, Eq)]
pub struct Words {
    /// What pulls: `task`, `node`, `pod`.
    pub task: &'static str,
    /// Before `security groups` and `subnets`: `task's`, `node`, `pod`.
    pub tasks: &'static str,
    /// Where the image is named: `task definition`, `pod spec`.
    pub task_definition: &'static str,
    /// The role that pulls where there is no instance role: `execution role`, `pod execution role`.
    pub execution_role: &'static str,
    /// The AWS managed policy that grants it the pull.
    pub execution_policy: &'static str,
    /// `container instance role`, `node role`.
    pub instance_role: &'static str,
    /// `container instance`, `node`.
    pub instance: &'static str,
    /// `container instances`, `nodes`.
    pub instances: &'static str,
}

const ECS: Words = Words {
    task: "task",
    tasks: "task's",
    task_definition: "task definition",
    execution_role: "execution role",
    execution_policy: "AmazonECSTaskExecutionRolePolicy",
    instance_role: "container instance role",
    instance: "container instance",
    instances: "container instances",
};

const EKS_NODES: Words = Words {
    task: "node",
    tasks: "node",
    task_definition: "pod spec",
    instance_role: "node role",
    instance: "node",
    instances: "nodes",
    ..ECS
};

const EKS_FARGATE: Words = Words {
    task: "pod",
    tasks: "pod",
    task_definition: "pod spec",
    execution_role: "pod execution role",
    execution_policy: "AmazonEKSFargatePodExecutionRolePolicy",
    ..ECS
};

/// The words for the snapshot's audience.
pub fn words(facts: &Facts) -> &'static Words {
    match facts.audience.scope() {
        Scope::Ecs => &ECS,
        Scope::EksNodes => &EKS_NODES,
        Scope::EksFargate => &EKS_FARGATE,
    }
}

impl Words {
    /// Where to correct the image: `the image URI in the task definition web:7`, `the image in
    /// the pod spec`. `td` is the ` family:revision` suffix (empty on EKS).
    pub fn image_setting(&self, td: &str) -> String {
        if self.task_definition == ECS.task_definition {
            format!("the image URI in the task definition{td}")
        } else {
            format!("the image in the {}{td}", self.task_definition)
        }
    }

    /// The role a permissions code judges: the execution role or the instance role.
    pub fn role_kind(&self, code: RootCause) -> &'static str {
        if code == RootCause::IamInstanceRolePermissions {
            self.instance_role
        } else {
            self.execution_role
        }
    }
}

/// ` family:revision` when the task definition is known, for remediation text.
pub fn task_definition_suffix(facts: &Facts) -> String {
    match facts.task_definition.value() {
        Some(td) => match (&td.family, td.revision) {
            (Some(f), Some(r)) => format!(" {f}:{r}"),
            _ => String::new(),
        },
        None => String::new(),
    }
}
