//! Where a pull happens: an ECS task, or (`preflight eks`) the nodes of an EKS managed node group
//! or the pods of an EKS Fargate profile. A rule says in which of these it runs ([`Scope`]).

use serde::{Deserialize, Serialize};

/// Where a rule runs. Stable strings (`pulldoctor checks --format json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// An ECS task (Fargate, EC2, Managed Instances, external).
    Ecs,
    /// The nodes of an EKS managed node group: the kubelet pulls with the node role.
    EksNodes,
    /// A pod of an EKS Fargate profile: it pulls with the profile's pod execution role.
    EksFargate,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Ecs, Scope::EksNodes, Scope::EksFargate];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ecs => "ecs",
            Scope::EksNodes => "eks_nodes",
            Scope::EksFargate => "eks_fargate",
        }
    }

    /// For people: `ECS`, `EKS nodes`, `EKS Fargate`.
    pub fn label(self) -> &'static str {
        match self {
            Scope::Ecs => "ECS",
            Scope::EksNodes => "EKS nodes",
            Scope::EksFargate => "EKS Fargate",
        }
    }
}

/// Who pulls, and so what the findings call things: a task and its task definition, or (in
/// `preflight eks`) a node group's nodes and their node role, or a Fargate profile's pods and their
/// pod execution role. Checks word their titles and remediations for it, and run only where their
/// scope includes it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Audience {
    #[default]
    Ecs,
    EksNodegroup {
        nodegroup: String,
    },
    EksFargateProfile {
        profile: String,
        #[serde(default)]
        profile_arn: Option<String>,
    },
}

impl Audience {
    pub fn scope(&self) -> Scope {
        match self {
            Audience::Ecs => Scope::Ecs,
            Audience::EksNodegroup { .. } => Scope::EksNodes,
            Audience::EksFargateProfile { .. } => Scope::EksFargate,
        }
    }
}
