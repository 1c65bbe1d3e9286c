//! EKS node groups: the kubelet on each node pulls with the node instance role, from the node's
//! subnet, through the node's security groups. The plan maps a node group onto the would-be-task
//! model: EC2 launch type, one "ENI" per node subnet, the node role as the instance role, the
//! node's CPU architecture (from its AMI type) as the task's, and each image as a container.
//!
//! Fargate profiles: each pod runs in its own micro-VM with an ENI in one of the profile's
//! (private) subnets, guarded by the cluster security group, and pulls with the profile's pod
//! execution role. That maps onto a Fargate task with an execution role and no public IP; the
//! role's trust is judged against `eks-fargate-pods.amazonaws.com` instead of `ecs-tasks`.

use aws_sdk_eks::error::ProvideErrorMetadata;

use super::{aws_error, Plan, PreflightError};
use crate::collect::Clients;
use crate::model::facts::{
    ContainerDefinitionFacts, LaunchType, ServiceNetworkFacts, TaskDefinitionFacts,
};

/// What the user asked to preflight on EKS.
#[derive(Debug, Clone, Default)]
pub struct EksRequest {
    pub cluster: String,
    pub target: EksTarget,
    pub images: Vec<String>,
    /// Override the node subnets / security groups.
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
}

/// Who pulls on EKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EksTarget {
    /// A managed node group: the kubelet pulls with the node role.
    Nodegroup(String),
    /// A Fargate profile: the pod pulls with the profile's pod execution role.
    FargateProfile(String),
}

impl Default for EksTarget {
    fn default() -> Self {
        EksTarget::Nodegroup(String::new())
    }
}

/// Read the cluster and the node group or Fargate profile; build the plan.
pub async fn plan(clients: &Clients, request: &EksRequest) -> Result<Plan, PreflightError> {
    if request.images.is_empty() {
        return Err(PreflightError::Input("give at least one --image".into()));
    }
    let eks = aws_sdk_eks::Client::new(clients.sdk_config());
    let mut calls = 0;
    calls += 1;
    let cluster = eks
        .describe_cluster()
        .name(&request.cluster)
        .send()
        .await
        .map_err(|e| eks_error("eks:DescribeCluster", &e))?
        .cluster
        .ok_or_else(|| {
            PreflightError::Input(format!("EKS cluster {} not returned", request.cluster))
        })?;
    let nodegroup_name = match &request.target {
        EksTarget::Nodegroup(n) => n.clone(),
        EksTarget::FargateProfile(profile) => {
            return fargate_plan(clients, &eks, request, &cluster, profile, calls).await
        }
    };
    calls += 1;
    let nodegroup = eks
        .describe_nodegroup()
        .cluster_name(&request.cluster)
        .nodegroup_name(&nodegroup_name)
        .send()
        .await
        .map_err(|e| eks_error("eks:DescribeNodegroup", &e))?
        .nodegroup
        .ok_or_else(|| {
            PreflightError::Input(format!("node group {} not returned", nodegroup_name))
        })?;

    let (security_groups, sg_source) = node_security_groups(
        clients,
        request,
        &cluster,
        &nodegroup,
        &nodegroup_name,
        &mut calls,
    )
    .await?;
    let subnets = if request.subnets.is_empty() {
        nodegroup.subnets().to_vec()
    } else {
        request.subnets.clone()
    };
    if subnets.is_empty() {
        return Err(PreflightError::Input(format!(
            "node group {} lists no subnets; give --subnets",
            nodegroup_name
        )));
    }
    let arm = nodegroup
        .ami_type()
        .is_some_and(|t| t.as_str().contains("ARM"));
    let task_definition = pods(
        format!("nodegroup/{}", nodegroup_name),
        LaunchType::Ec2,
        if arm { "ARM64" } else { "X86_64" },
        None,
        &request.images,
    );
    let cluster_arn = cluster.arn().unwrap_or(&request.cluster).to_string();
    Ok(Plan {
        region: clients.home_region().map(str::to_string),
        account: crate::model::arn::account(&cluster_arn).map(str::to_string),
        cluster: cluster_arn,
        service: None,
        nodegroup: Some(nodegroup_name.clone()),
        fargate_profile: None,
        launch_type: Some(LaunchType::Ec2),
        capacity_provider: None,
        platform_version: None,
        task_definition,
        task_definition_source: format!(
            "images given with --image, node AMI type {}",
            nodegroup.ami_type().map(|t| t.as_str()).unwrap_or("?")
        ),
        network: ServiceNetworkFacts {
            service_name: format!("node group {}", nodegroup_name),
            source: sg_source,
            subnets,
            security_groups,
            // Nodes get a public address only from their subnet's setting: not known here.
            assign_public_ip: None,
            no_awsvpc_configuration: false,
        },
        instance_role_arn: nodegroup.node_role().map(str::to_string),
        aws_calls: calls,
        container_instances: None,
        deploy: None,
    })
}

/// Node security groups: the launch template's when it sets any, else the cluster security
/// group EKS attaches to managed nodes; `--security-groups` overrides both. With where they
/// come from.
async fn node_security_groups(
    clients: &Clients,
    request: &EksRequest,
    cluster: &aws_sdk_eks::types::Cluster,
    nodegroup: &aws_sdk_eks::types::Nodegroup,
    nodegroup_name: &str,
    calls: &mut u32,
) -> Result<(Vec<String>, String), PreflightError> {
    let mut security_groups = Vec::new();
    let mut sg_source = String::new();
    if let Some(lt) = nodegroup.launch_template() {
        let mut req = clients.ec2.describe_launch_template_versions();
        req = match (lt.id(), lt.name()) {
            (Some(id), _) => req.launch_template_id(id),
            (None, Some(name)) => req.launch_template_name(name),
            (None, None) => req,
        };
        if let Some(v) = lt.version() {
            req = req.versions(v);
        }
        *calls += 1;
        let out = req
            .send()
            .await
            .map_err(|e| aws_error("ec2:DescribeLaunchTemplateVersions", &[], &e))?;
        if let Some(data) = out
            .launch_template_versions()
            .first()
            .and_then(|v| v.launch_template_data())
        {
            security_groups.extend(data.security_group_ids().iter().cloned());
            for ni in data.network_interfaces() {
                security_groups.extend(ni.groups().iter().cloned());
            }
        }
        sg_source = format!("launch template {}", lt.id().or(lt.name()).unwrap_or("?"));
    }
    let vpc = cluster.resources_vpc_config();
    if security_groups.is_empty() {
        if let Some(sg) = vpc.and_then(|v| v.cluster_security_group_id()) {
            security_groups.push(sg.to_string());
            sg_source = format!("cluster security group of {}", request.cluster);
        }
    }
    if !request.security_groups.is_empty() {
        security_groups = request.security_groups.clone();
        sg_source = "--security-groups".into();
    }
    if security_groups.is_empty() {
        return Err(PreflightError::Input(format!(
            "cannot tell the node security groups of {}: no launch template groups and no cluster security group; give --security-groups",
            nodegroup_name
        )));
    }
    Ok((security_groups, sg_source))
}

/// A Fargate profile: its subnets, the cluster security group, its pod execution role.
async fn fargate_plan(
    clients: &Clients,
    eks: &aws_sdk_eks::Client,
    request: &EksRequest,
    cluster: &aws_sdk_eks::types::Cluster,
    profile_name: &str,
    mut calls: u32,
) -> Result<Plan, PreflightError> {
    calls += 1;
    let profile = eks
        .describe_fargate_profile()
        .cluster_name(&request.cluster)
        .fargate_profile_name(profile_name)
        .send()
        .await
        .map_err(|e| eks_error("eks:DescribeFargateProfile", &e))?
        .fargate_profile
        .ok_or_else(|| {
            PreflightError::Input(format!("Fargate profile {profile_name} not returned"))
        })?;
    // Fargate pods get the cluster security group (unless security groups for pods are configured,
    // which pulldoctor does not read: --security-groups covers it).
    let (security_groups, sg_source) = if !request.security_groups.is_empty() {
        (
            request.security_groups.clone(),
            "--security-groups".to_string(),
        )
    } else if let Some(sg) = cluster
        .resources_vpc_config()
        .and_then(|v| v.cluster_security_group_id())
    {
        (
            vec![sg.to_string()],
            format!("cluster security group of {}", request.cluster),
        )
    } else {
        return Err(PreflightError::Input(format!(
            "cannot tell the security group of Fargate pods: cluster {} reports no cluster security group; give --security-groups",
            request.cluster
        )));
    };
    let subnets = if request.subnets.is_empty() {
        profile.subnets().to_vec()
    } else {
        request.subnets.clone()
    };
    if subnets.is_empty() {
        return Err(PreflightError::Input(format!(
            "Fargate profile {profile_name} lists no subnets; give --subnets"
        )));
    }
    let role = profile.pod_execution_role_arn().map(str::to_string);
    if role.is_none() {
        return Err(PreflightError::Input(format!(
            "Fargate profile {profile_name} returned no pod execution role"
        )));
    }
    // EKS on Fargate runs linux/amd64 pods only.
    let task_definition = pods(
        format!("fargateprofile/{profile_name}"),
        LaunchType::Fargate,
        "X86_64",
        role,
        &request.images,
    );
    let cluster_arn = cluster.arn().unwrap_or(&request.cluster).to_string();
    Ok(Plan {
        region: clients.home_region().map(str::to_string),
        account: crate::model::arn::account(&cluster_arn).map(str::to_string),
        cluster: cluster_arn,
        service: None,
        nodegroup: None,
        fargate_profile: Some(FargateProfilePlan {
            name: profile_name.to_string(),
            arn: profile.fargate_profile_arn().map(str::to_string),
        }),
        launch_type: Some(LaunchType::Fargate),
        capacity_provider: None,
        // Pods pull through their own ENI, as ECS tasks on platform 1.4.0+ do.
        platform_version: None,
        task_definition,
        task_definition_source: "images given with --image, Fargate (linux/amd64)".into(),
        network: ServiceNetworkFacts {
            service_name: format!("Fargate profile {profile_name}"),
            source: sg_source,
            subnets,
            security_groups,
            // EKS gives Fargate pods no public IP: profile subnets must be private.
            assign_public_ip: Some(false),
            no_awsvpc_configuration: false,
        },
        instance_role_arn: None,
        aws_calls: calls,
        container_instances: None,
        deploy: None,
    })
}

/// The pods to check, in the shape of the task definition the checks read: one Linux container per
/// `--image`, pulling with `execution_role` (Fargate) or the node role (node groups).
fn pods(
    family: String,
    compatibility: LaunchType,
    architecture: &str,
    execution_role: Option<String>,
    images: &[String],
) -> TaskDefinitionFacts {
    TaskDefinitionFacts {
        family: Some(family),
        network_mode: Some("awsvpc".into()),
        requires_compatibilities: vec![compatibility],
        cpu_architecture: Some(architecture.into()),
        operating_system_family: Some("LINUX".into()),
        execution_role_arn: execution_role,
        containers: images
            .iter()
            .map(|i| ContainerDefinitionFacts {
                name: Some(i.clone()),
                image: Some(i.clone()),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// The Fargate profile a plan checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FargateProfilePlan {
    pub name: String,
    pub arn: Option<String>,
}

fn eks_error<E, R>(
    action: &str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> PreflightError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error().and_then(|s| s.code()) {
        Some("ResourceNotFoundException") => PreflightError::Input(format!(
            "{action}: {}",
            e.as_service_error()
                .and_then(|s| s.message())
                .unwrap_or("not found")
        )),
        _ => match crate::collect::read_failure(action, &[], e) {
            crate::collect::ReadFailure::NotFound(d) => PreflightError::Input(d),
            crate::collect::ReadFailure::Failed { reason, .. } => PreflightError::Aws(reason),
        },
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::iam::identity_fixtures::{self, sim, trust};
    use crate::checks::network::fixtures::{
        fargate_endpoints, fargate_nat, fargate_public, rule, sg, SG_TASK,
    };
    use crate::checks::{ecr, run_all};
    use crate::model::audience::Audience;
    use crate::model::facts::{
        DhcpOptionsFacts, Fact, Facts, ManifestFacts, PlatformFacts, RoleFacts, SgRuleFacts,
    };

    fn nodes() -> Audience {
        Audience::EksNodegroup {
            nodegroup: "general".into(),
        }
    }
    fn fargate() -> Audience {
        Audience::EksFargateProfile {
            profile: "web".into(),
            profile_arn: None,
        }
    }

    /// Every title and remediation the checks give for `facts` judged for `audience`.
    fn said(facts: &Facts, audience: &Audience) -> String {
        let mut f = facts.clone();
        f.audience = audience.clone();
        run_all(&f)
            .iter()
            .flat_map(|x| [Some(x.title.clone()), x.remediation.clone()])
            .flatten()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// An EC2 task pulling with the container instance role `eks-node`, which may not BatchGetImage.
    fn instance_role_denied() -> Facts {
        let mut f = identity_fixtures::world();
        f.task.launch_type = Some("EC2".into());
        if let Fact::Found { value } = &mut f.task_definition {
            value.execution_role_arn = None;
        }
        let arn = "arn:aws:iam::111122223333:role/eks-node";
        f.identity.instance_role = Fact::found(RoleFacts {
            trust_policy: Some(trust("ec2.amazonaws.com")),
            ..identity_fixtures::role(arn)
        });
        f.identity.pull_simulation = Fact::found(vec![
            sim("ecr:GetAuthorizationToken", "allowed"),
            sim("ecr:BatchGetImage", "implicitDeny"),
            sim("ecr:GetDownloadUrlForLayer", "allowed"),
        ]);
        f
    }

    fn execution_role_denied_token() -> Facts {
        let mut f = identity_fixtures::world();
        f.identity.pull_simulation = Fact::found(vec![
            sim("ecr:GetAuthorizationToken", "implicitDeny"),
            sim("ecr:BatchGetImage", "allowed"),
            sim("ecr:GetDownloadUrlForLayer", "allowed"),
        ]);
        f
    }

    fn dns_port_closed() -> Facts {
        let mut f = fargate_nat();
        f.network.dhcp_options = Fact::found(DhcpOptionsFacts {
            id: "dopt-1".into(),
            domain_name_servers: vec!["10.0.0.53".into()],
        });
        f.network.security_groups = Fact::found(vec![sg(
            SG_TASK,
            vec![],
            vec![SgRuleFacts {
                cidrs: vec!["0.0.0.0/0".into()],
                ..rule("tcp", 443, 443)
            }],
        )]);
        f
    }

    fn tag_missing() -> Facts {
        let mut f = identity_fixtures::world();
        f.image_by_tag = ecr::fixtures::not_found();
        f
    }

    fn arm64_only_image() -> Facts {
        let mut f = identity_fixtures::world();
        f.identity.manifest = Fact::found(ManifestFacts {
            is_index: true,
            platforms: vec![PlatformFacts {
                os: "linux".into(),
                architecture: "arm64".into(),
                ..Default::default()
            }],
            ..Default::default()
        });
        f
    }

    /// The checks word their findings for who pulls: the same world judged for ECS and for an EKS
    /// node group or Fargate profile names each side's things.
    #[test]
    fn eks_wording_table() {
        let unreadable_role = {
            let mut f = identity_fixtures::world();
            f.identity.execution_role = Fact::Unreadable {
                reason: "AccessDenied: iam:GetRole".into(),
                kind: crate::model::facts::ErrorKind::AccessDenied,
            };
            f
        };
        let pod_role_trusting_ecs = {
            let mut f = identity_fixtures::world();
            f.identity.execution_role =
                Fact::found(identity_fixtures::role(identity_fixtures::ROLE));
            f
        };
        // (world, EKS audience, ECS text, EKS text)
        let table: Vec<(&str, Facts, Audience, &str, &str)> = vec![
            ("node role", instance_role_denied(), nodes(), "The container instance role eks-node may not ecr:BatchGetImage", "The node role eks-node may not ecr:BatchGetImage"),
            ("node security groups", dns_port_closed(), nodes(), "Allow UDP and TCP 53 out to 10.0.0.53 in the task's security groups", "Allow UDP and TCP 53 out to 10.0.0.53 in the node security groups"),
            ("pod security groups", dns_port_closed(), fargate(), "in the task's security groups", "Allow UDP and TCP 53 out to 10.0.0.53 in the pod security groups"),
            ("pod execution role", execution_role_denied_token(), fargate(), "The execution role ecsTaskExecutionRole may not ecr:GetAuthorizationToken", "The pod execution role ecsTaskExecutionRole may not ecr:GetAuthorizationToken"),
            ("pod execution policy", execution_role_denied_token(), fargate(), "the AWS managed policy AmazonECSTaskExecutionRolePolicy grants them", "the AWS managed policy AmazonEKSFargatePodExecutionRolePolicy grants them"),
            ("unreadable pod execution role", unreadable_role, fargate(), "Could not read the execution role", "Could not read the pod execution role"),
            ("pod spec", tag_missing(), nodes(), "change the image tag in the task definition web:7 to one that exists", "change the image tag in the pod spec web:7 to one that exists"),
            ("pod address", fargate_endpoints(), fargate(), "admits HTTPS from the task's security group sg-task", "admits HTTPS from the pod security group sg-task"),
            ("Fargate pods have no public IP", fargate_public(false), fargate(), "Turn on assignPublicIp for service web", "Fargate pods never get a public IP: give the profile private subnets whose route table sends 0.0.0.0/0 to a NAT gateway."),
            ("node public IPs", fargate_public(false), nodes(), "Turn on assignPublicIp for service web", "Give the nodes of node group general public IPs"),
            ("pod trust", pod_role_trusting_ecs, fargate(), "The execution role ecsTaskExecutionRole trusts ecs-tasks.amazonaws.com", "The pod execution role ecsTaskExecutionRole trusts ecs-tasks.amazonaws.com, not eks-fargate-pods.amazonaws.com"),
            // ECS advice without an EKS counterpart keeps its task definition wording.
            ("runtimePlatform", arm64_only_image(), nodes(), "set runtimePlatform.cpuArchitecture to ARM64 in the task definition web:7", "set runtimePlatform.cpuArchitecture to ARM64 in the task definition web:7"),
        ];
        for (name, facts, audience, ecs, eks) in table {
            let (as_ecs, as_eks) = (said(&facts, &Audience::Ecs), said(&facts, &audience));
            assert!(as_ecs.contains(ecs), "{name}, ECS:\n{as_ecs}");
            assert!(as_eks.contains(eks), "{name}, EKS:\n{as_eks}");
        }
    }

    /// Each audience runs the checks whose scope holds it: nodes pull with the node role (no
    /// execution role checks), Fargate pods with the profile's pod execution role.
    #[test]
    fn checks_run_where_their_scope_says() {
        use crate::model::diagnosis::RootCause as R;
        let codes = |f: &Facts, a: &Audience| {
            let mut f = f.clone();
            f.audience = a.clone();
            run_all(&f).iter().map(|x| x.code).collect::<Vec<_>>()
        };
        let ecs = codes(&identity_fixtures::world(), &Audience::Ecs);
        assert!(
            ecs.contains(&R::IamExecutionRoleMissing) && ecs.contains(&R::IamExecutionRoleTrust),
            "{ecs:?}"
        );
        let on_nodes = codes(&instance_role_denied(), &nodes());
        assert!(
            on_nodes.contains(&R::IamInstanceRolePermissions),
            "{on_nodes:?}"
        );
        assert!(
            !on_nodes
                .iter()
                .any(|c| matches!(c, R::IamExecutionRoleMissing | R::IamExecutionRoleTrust)),
            "{on_nodes:?}"
        );
        let on_fargate = codes(&identity_fixtures::world(), &fargate());
        assert!(
            on_fargate.contains(&R::IamExecutionRoleTrust)
                && !on_fargate.contains(&R::IamExecutionRoleMissing),
            "{on_fargate:?}"
        );
    }
}
