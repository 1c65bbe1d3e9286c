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
use crate::model::facts::{ContainerDefinitionFacts, LaunchType, ServiceNetworkFacts, TaskDefinitionFacts};

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

/// The service principal that assumes a Fargate pod execution role.
pub const FARGATE_PODS: &str = "eks-fargate-pods.amazonaws.com";

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
        .ok_or_else(|| PreflightError::Input(format!("EKS cluster {} not returned", request.cluster)))?;
    let nodegroup_name = match &request.target {
        EksTarget::Nodegroup(n) => n.clone(),
        EksTarget::FargateProfile(profile) => return fargate_plan(clients, &eks, request, &cluster, profile, calls).await,
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
        .ok_or_else(|| PreflightError::Input(format!("node group {} not returned", nodegroup_name)))?;

    // Node security groups: the launch template's when it sets any, else the cluster security
    // group EKS attaches to managed nodes.
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
        calls += 1;
        let out = req.send().await.map_err(|e| aws_error("ec2:DescribeLaunchTemplateVersions", &[], &e))?;
        if let Some(data) = out.launch_template_versions().first().and_then(|v| v.launch_template_data()) {
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
    let subnets = if request.subnets.is_empty() { nodegroup.subnets().to_vec() } else { request.subnets.clone() };
    if subnets.is_empty() {
        return Err(PreflightError::Input(format!("node group {} lists no subnets; give --subnets", nodegroup_name)));
    }
    let arm = nodegroup.ami_type().is_some_and(|t| t.as_str().contains("ARM"));
    let task_definition = pods(format!("nodegroup/{}", nodegroup_name), LaunchType::Ec2, if arm { "ARM64" } else { "X86_64" }, None, &request.images);
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
        task_definition_source: format!("images given with --image, node AMI type {}", nodegroup.ami_type().map(|t| t.as_str()).unwrap_or("?")),
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
    })
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
        .ok_or_else(|| PreflightError::Input(format!("Fargate profile {profile_name} not returned")))?;
    // Fargate pods get the cluster security group (unless security groups for pods are configured,
    // which pulldoctor does not read: --security-groups covers it).
    let (security_groups, sg_source) = if !request.security_groups.is_empty() {
        (request.security_groups.clone(), "--security-groups".to_string())
    } else if let Some(sg) = cluster.resources_vpc_config().and_then(|v| v.cluster_security_group_id()) {
        (vec![sg.to_string()], format!("cluster security group of {}", request.cluster))
    } else {
        return Err(PreflightError::Input(format!(
            "cannot tell the security group of Fargate pods: cluster {} reports no cluster security group; give --security-groups",
            request.cluster
        )));
    };
    let subnets = if request.subnets.is_empty() { profile.subnets().to_vec() } else { request.subnets.clone() };
    if subnets.is_empty() {
        return Err(PreflightError::Input(format!("Fargate profile {profile_name} lists no subnets; give --subnets")));
    }
    let role = profile.pod_execution_role_arn().map(str::to_string);
    if role.is_none() {
        return Err(PreflightError::Input(format!("Fargate profile {profile_name} returned no pod execution role")));
    }
    // EKS on Fargate runs linux/amd64 pods only.
    let task_definition = pods(format!("fargateprofile/{profile_name}"), LaunchType::Fargate, "X86_64", role, &request.images);
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
    })
}

/// The pods to check, in the shape of the task definition the checks read: one Linux container per
/// `--image`, pulling with `execution_role` (Fargate) or the node role (node groups).
fn pods(family: String, compatibility: LaunchType, architecture: &str, execution_role: Option<String>, images: &[String]) -> TaskDefinitionFacts {
    TaskDefinitionFacts {
        family: Some(family),
        network_mode: Some("awsvpc".into()),
        requires_compatibilities: vec![compatibility],
        cpu_architecture: Some(architecture.into()),
        operating_system_family: Some("LINUX".into()),
        execution_role_arn: execution_role,
        containers: images
            .iter()
            .map(|i| ContainerDefinitionFacts { name: Some(i.clone()), image: Some(i.clone()), ..Default::default() })
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

/// The trust a Fargate pod execution role needs: `eks-fargate-pods.amazonaws.com`, with the
/// profile as `aws:SourceArn` (what the EKS documentation's condition example matches).
pub fn pod_execution_role_trust(facts: &crate::model::facts::Facts, profile: &FargateProfilePlan) -> Vec<crate::model::diagnosis::Finding> {
    let expected = crate::checks::iam::TrustExpectation {
        service: FARGATE_PODS,
        role_kind: "pod execution role",
        managed_policy: "AmazonEKSFargatePodExecutionRolePolicy",
        source_arns: profile.arn.iter().cloned().collect(),
        reference: format!("a new Fargate profile replacing {} (a profile cannot be changed)", profile.name),
        redeploy: "restart the pods",
    };
    crate::checks::iam::execution_role_trust(facts, &expected)
}

fn eks_error<E, R>(action: &str, e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> PreflightError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error().and_then(|s| s.code()) {
        Some("ResourceNotFoundException") => {
            PreflightError::Input(format!("{action}: {}", e.as_service_error().and_then(|s| s.message()).unwrap_or("not found")))
        }
        _ => match crate::collect::read_failure(action, &[], e) {
            crate::collect::ReadFailure::NotFound(d) => PreflightError::Input(d),
            crate::collect::ReadFailure::Failed { reason, .. } => PreflightError::Aws(reason),
        },
    }
}

/// The checks speak ECS (tasks, container instances, task execution roles); on EKS the same codes
/// concern nodes or pods. Rewrites a finding's title and remediation in EKS terms; codes, status
/// and evidence are untouched. ECS-only advice that has no EKS wording (`runtimePlatform`,
/// `ephemeralStorage` in the task definition) is left as is.
pub fn eks_wording(finding: &mut crate::model::diagnosis::Finding, fargate: bool) {
    finding.title = eks_text(&finding.title, fargate);
    if let Some(r) = &finding.remediation {
        finding.remediation = Some(eks_text(r, fargate));
    }
}

fn eks_text(text: &str, fargate: bool) -> String {
    // Placeholders keep phrases that must survive the generic "task" rewrites.
    const TASK_DEFINITION: &str = "\u{1}TD\u{1}";
    const POD_EXECUTION_ROLE: &str = "\u{1}PER\u{1}";
    let who = if fargate { "pod" } else { "node" };
    let mut s = text
        .replace("the image URI in the task definition", "the image in the pod spec")
        .replace("the image tag in the task definition", "the image tag in the pod spec")
        .replace("point the task definition", "point the pod spec")
        .replace("task definition", TASK_DEFINITION);
    if fargate {
        s = s
            .replace(
                "Run the task with assignPublicIp=ENABLED, or in a private subnet whose",
                "Fargate pods never get a public IP: give the profile private subnets whose",
            )
            .replace("AmazonECSTaskExecutionRolePolicy", "AmazonEKSFargatePodExecutionRolePolicy")
            .replace("pod execution role", POD_EXECUTION_ROLE)
            .replace("task execution role", "execution role")
            .replace("execution role", POD_EXECUTION_ROLE);
    } else {
        s = s
            .replace("container instance role", "node role")
            .replace("container instances", "nodes")
            .replace("container instance", "node");
    }
    s.replace("task's security group", &format!("{who} security group"))
        .replace("task's subnets", &format!("{who} subnets"))
        .replace("task's", &format!("{who}'s"))
        .replace("the tasks", &format!("the {who}s"))
        .replace("the task", &format!("the {who}"))
        .replace(TASK_DEFINITION, "task definition")
        .replace(POD_EXECUTION_ROLE, "pod execution role")
}

#[cfg(test)]
mod tests {
    use super::eks_text;

    #[test]
    fn eks_wording_table() {
        // (ECS text, fargate profile?, EKS text)
        let table = [
            (
                "The container instance role eks-node may not ecr:BatchGetImage",
                false,
                "The node role eks-node may not ecr:BatchGetImage",
            ),
            (
                "Allow TCP 443 out in the task's security groups sg-1",
                false,
                "Allow TCP 443 out in the node security groups sg-1",
            ),
            ("Allow TCP 443 out in the task's security groups sg-1", true, "Allow TCP 443 out in the pod security groups sg-1"),
            (
                "The execution role r may not ecr:GetAuthorizationToken; AmazonECSTaskExecutionRolePolicy grants it",
                true,
                "The pod execution role r may not ecr:GetAuthorizationToken; AmazonEKSFargatePodExecutionRolePolicy grants it",
            ),
            ("The pod execution role r trusts x", true, "The pod execution role r trusts x"),
            ("Could not check the task execution role", true, "Could not check the pod execution role"),
            (
                "Push the image again or point the task definition at an image that exists",
                false,
                "Push the image again or point the pod spec at an image that exists",
            ),
            ("Endpoint e admits HTTPS from the task's address", true, "Endpoint e admits HTTPS from the pod's address"),
            (
                "Run the task with assignPublicIp=ENABLED, or in a private subnet whose route table sends 0.0.0.0/0 to a NAT gateway.",
                true,
                "Fargate pods never get a public IP: give the profile private subnets whose route table sends 0.0.0.0/0 to a NAT gateway.",
            ),
            // ECS advice without an EKS counterpart keeps its task definition wording.
            (
                "set runtimePlatform.cpuArchitecture to X86_64 in the task definition",
                false,
                "set runtimePlatform.cpuArchitecture to X86_64 in the task definition",
            ),
        ];
        for (ecs, fargate, eks) in table {
            assert_eq!(eks_text(ecs, fargate), eks, "{ecs}");
        }
    }
}
