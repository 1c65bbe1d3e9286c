//! The other services that may share the resource a root cause names: what is shared
//! ([`Shared::of`], decided from the ranked root cause) and the services read to compare
//! (`ecs:ListServices` / `ecs:DescribeServices`, and their task definitions for identity and
//! image causes). Read only with history on.

use serde::{Deserialize, Serialize};

use super::{Fact, Facts};
use crate::model::diagnosis::{Diagnosis, RootCause, Status};
use crate::model::image_ref::ImageRef;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlastRadiusFacts {
    pub shared: Shared,
    /// Every service read, sorted by cluster then name (the failing one included: the summary
    /// leaves it out).
    #[serde(default)]
    pub services: Vec<ServiceFacts>,
    /// Cluster ARNs whose services were all read.
    #[serde(default)]
    pub clusters_examined: Vec<String>,
    /// Why the look was bounded (pages, clusters, calls); empty: every service that could share
    /// the resource was read.
    #[serde(default)]
    pub bounded: Vec<String>,
}

/// What the root cause shares with other services, by the AWS semantics of the broken resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shared {
    /// Route tables and network ACLs are associated with subnets: every awsvpc task placed in
    /// one of them takes the same path (`without_public_ip`: only tasks without a public IP).
    Subnets {
        subnets: Vec<String>,
        #[serde(default)]
        without_public_ip: bool,
    },
    /// Security-group rules follow the ENI: every task with one of these groups.
    SecurityGroups {
        security_groups: Vec<String>,
    },
    /// DNS, interface endpoints with private DNS and endpoint policies serve the whole VPC:
    /// every task in one of its subnets (`subnets`, read with `ec2:DescribeSubnets`).
    Vpc {
        vpc: String,
        #[serde(default)]
        subnets: Vec<String>,
    },
    ExecutionRole {
        arn: String,
    },
    /// The role of the cluster's EC2 capacity: tasks there without an execution role pull with it.
    InstanceRole {
        arn: String,
        cluster: String,
    },
    /// `repository` is `registry/name`; `reference` (tag or digest) narrows it to one image, and
    /// `cpu_architecture` to the task definitions of that architecture (platform mismatch).
    Image {
        repository: String,
        #[serde(default)]
        reference: Option<String>,
        #[serde(default)]
        cpu_architecture: Option<String>,
    },
}

/// One service as `ecs:DescribeServices` returned it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ServiceFacts {
    /// Cluster ARN.
    pub cluster: String,
    pub name: String,
    /// `ACTIVE`, `DRAINING`, `INACTIVE`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub launch_type: Option<String>,
    #[serde(default)]
    pub capacity_providers: Vec<String>,
    /// The awsvpc configuration (empty without one: bridge/host tasks use their instance's).
    #[serde(default)]
    pub subnets: Vec<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    #[serde(default)]
    pub assign_public_ip: Option<bool>,
    #[serde(default)]
    pub task_definition: Option<String>,
    /// Read only for identity and image causes.
    #[serde(default)]
    pub definition: Fact<ServiceDefinitionFacts>,
}

/// What a service's task definition says about who pulls what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ServiceDefinitionFacts {
    #[serde(default)]
    pub execution_role_arn: Option<String>,
    /// Every container's image, as written.
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default)]
    pub cpu_architecture: Option<String>,
}

impl ServiceFacts {
    /// On EC2 capacity: launch type EC2, or a capacity provider other than Fargate's. A service
    /// with neither uses the cluster's default strategy, which is not read: counted as EC2 when
    /// the failing task's instance role is the question (it may land there).
    pub fn on_ec2_capacity(&self) -> bool {
        match self.launch_type.as_deref() {
            Some(lt) => lt == "EC2",
            None => {
                self.capacity_providers.is_empty()
                    || self
                        .capacity_providers
                        .iter()
                        .any(|p| p != "FARGATE" && p != "FARGATE_SPOT")
            }
        }
    }
}

impl Shared {
    /// What the root cause `diagnosis` ranked shares with other services, from the task's facts
    /// and the deciding finding; `None` when it shares nothing another service could hit (a
    /// rate limit, the disk of one task, UNKNOWN) or the facts do not name it.
    pub fn of(facts: &Facts, diagnosis: &Diagnosis) -> Option<Shared> {
        let code = diagnosis.root_cause.code;
        let deciding = diagnosis
            .findings
            .iter()
            .find(|f| f.code == code && matches!(f.status, Status::Fail | Status::Warn));
        let net = &facts.network;
        let subnet = net.subnet_id.clone();
        // The route table's subnets take the same path (a main table also serves subnets it
        // does not list: those are not known without another read).
        let route_subnets = || {
            let mut ids: Vec<String> = subnet.iter().cloned().collect();
            if let Some(rt) = net.route_table.value() {
                ids.extend(rt.subnet_ids.iter().cloned());
            }
            sorted(ids)
        };
        let task_groups = || {
            net.task_eni
                .value()
                .map(|e| e.security_groups.clone())
                .or_else(|| {
                    net.service
                        .value()
                        .filter(|s| !s.no_awsvpc_configuration)
                        .map(|s| s.security_groups.clone())
                })
                .unwrap_or_default()
        };
        let non_empty = |ids: Vec<String>| (!ids.is_empty()).then_some(ids);
        let task_definition = facts.task_definition.value();
        let image = || {
            facts.failure.image_ref.clone().or_else(|| {
                facts
                    .failure
                    .image
                    .as_deref()
                    .and_then(|i| ImageRef::parse(i).ok())
            })
        };
        match code {
            // A missing route (to a NAT gateway, or endpoints for a VPC without them) and a
            // region without a path: the route table decides, per subnet.
            RootCause::NetNoRoute | RootCause::NetEndpointMissing | RootCause::NetCrossRegion => {
                non_empty(route_subnets()).map(|subnets| Shared::Subnets {
                    subnets,
                    without_public_ip: false,
                })
            }
            // A public subnet without a public IP: only the tasks that get none.
            RootCause::NetNoPublicIp => non_empty(route_subnets()).map(|subnets| Shared::Subnets {
                subnets,
                without_public_ip: true,
            }),
            // The ACL at fault: the task subnet's is shared by every subnet associated with it;
            // the NAT's or an endpoint subnet's blocks the task's path, as the route does.
            RootCause::NetNacl => {
                let at_fault = deciding.and_then(|f| f.resource.as_deref());
                let subnets = match net.network_acl.value() {
                    Some(acl) if at_fault.is_none_or(|id| id == acl.id) => sorted(
                        subnet
                            .iter()
                            .cloned()
                            .chain(acl.subnet_ids.iter().cloned())
                            .collect(),
                    ),
                    _ => route_subnets(),
                };
                non_empty(subnets).map(|subnets| Shared::Subnets {
                    subnets,
                    without_public_ip: false,
                })
            }
            // Egress rules, and an endpoint group that does not admit the task's groups: the
            // rules follow the security groups, whichever subnet the task is in.
            RootCause::NetTaskSgEgress | RootCause::NetEndpointSg => {
                let named: Vec<String> = deciding
                    .and_then(|f| f.resource.as_deref())
                    .map(|r| {
                        r.split(", ")
                            .filter(|s| s.starts_with("sg-"))
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                let groups = if code == RootCause::NetTaskSgEgress && !named.is_empty() {
                    named
                } else {
                    task_groups()
                };
                non_empty(sorted(groups))
                    .map(|security_groups| Shared::SecurityGroups { security_groups })
            }
            // The VPC's DNS, its interface endpoints' private DNS and the endpoint policies serve
            // every subnet of the VPC.
            RootCause::NetEndpointDns
            | RootCause::NetDns
            | RootCause::NetEndpointPolicy
            | RootCause::NetS3EndpointPolicy => net.vpc_id().map(|vpc| Shared::Vpc {
                vpc,
                subnets: vec![],
            }),
            RootCause::IamExecutionRoleMissing
            | RootCause::IamExecutionRoleTrust
            | RootCause::IamExecutionRolePermissions => task_definition
                .and_then(|td| td.execution_role_arn.clone())
                .or_else(|| facts.identity.execution_role.value().map(|r| r.arn.clone()))
                .map(|arn| Shared::ExecutionRole { arn }),
            RootCause::IamInstanceRolePermissions => {
                let cluster = facts.task.cluster_arn.clone()?;
                facts
                    .identity
                    .instance_role
                    .value()
                    .map(|r| Shared::InstanceRole {
                        arn: r.arn.clone(),
                        cluster,
                    })
            }
            RootCause::EcrRepositoryNotFound
            | RootCause::EcrRepositoryPolicy
            | RootCause::EcrPullThroughCache => image().map(|i| Shared::Image {
                repository: i.name(),
                reference: None,
                cpu_architecture: None,
            }),
            RootCause::EcrImageNotFound
            | RootCause::EcrImageExpired
            | RootCause::EcrImageArchived => image().map(|i| Shared::Image {
                repository: i.name(),
                reference: Some(i.reference().to_string()),
                cpu_architecture: None,
            }),
            RootCause::ImagePlatformMismatch => image().map(|i| Shared::Image {
                repository: i.name(),
                reference: Some(i.reference().to_string()),
                cpu_architecture: Some(architecture(
                    task_definition.and_then(|td| td.cpu_architecture.as_deref()),
                )),
            }),
            _ => None,
        }
    }

    /// Needs the services' task definitions (`ecs:DescribeTaskDefinition`).
    pub fn needs_definitions(&self) -> bool {
        matches!(
            self,
            Shared::ExecutionRole { .. } | Shared::InstanceRole { .. } | Shared::Image { .. }
        )
    }

    /// For the report: `subnet subnet-0abc`, `execution role ecsTaskExecutionRole`, …
    pub fn labels(&self) -> Vec<String> {
        match self {
            Shared::Subnets { subnets, .. } => {
                subnets.iter().map(|s| format!("subnet {s}")).collect()
            }
            Shared::SecurityGroups { security_groups } => security_groups
                .iter()
                .map(|s| format!("security group {s}"))
                .collect(),
            Shared::Vpc { vpc, .. } => vec![format!("VPC {vpc}")],
            Shared::ExecutionRole { arn } => vec![format!(
                "execution role {}",
                crate::model::arn::role_name(arn)
            )],
            Shared::InstanceRole { arn, .. } => vec![format!(
                "instance role {}",
                crate::model::arn::role_name(arn)
            )],
            Shared::Image {
                repository,
                reference: None,
                ..
            } => vec![format!("repository {}", short_repository(repository))],
            Shared::Image {
                repository,
                reference: Some(r),
                ..
            } => vec![format!("image {}", image_label(repository, r))],
        }
    }
}

/// `registry/team/web` → `team/web` (the registry is the account's: the name is what people use).
pub fn short_repository(repository: &str) -> &str {
    repository
        .split_once('/')
        .map_or(repository, |(_, name)| name)
}

/// `team/web:2.4.2`, or `team/web@sha256:…`.
pub fn image_label(repository: &str, reference: &str) -> String {
    let sep = if reference.contains(':') { "@" } else { ":" };
    format!("{}{sep}{reference}", short_repository(repository))
}

/// A task definition's CPU architecture; ECS runs `X86_64` when none is set.
pub fn architecture(cpu: Option<&str>) -> String {
    cpu.unwrap_or("X86_64").to_string()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids.dedup();
    ids
}
