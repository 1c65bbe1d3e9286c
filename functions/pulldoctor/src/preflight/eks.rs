//! EKS node groups: the kubelet on each node pulls with the node instance role, from the node's
//! subnet, through the node's security groups. The plan maps a node group onto the would-be-task
//! model: EC2 launch type, one "ENI" per node subnet, the node role as the instance role, the
//! node's CPU architecture (from its AMI type) as the task's, and each image as a container.

use aws_sdk_eks::error::ProvideErrorMetadata;

use super::{aws_error, Plan, PreflightError};
use crate::collect::Clients;
use crate::facts::{ContainerDefinitionFacts, ServiceNetworkFacts, TaskDefinitionFacts};

/// What the user asked to preflight on EKS.
#[derive(Debug, Clone, Default)]
pub struct EksRequest {
    pub cluster: String,
    pub nodegroup: String,
    pub images: Vec<String>,
    /// Override the node subnets / security groups.
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
}

/// Read the cluster, the node group and its launch template; build the plan.
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
    calls += 1;
    let nodegroup = eks
        .describe_nodegroup()
        .cluster_name(&request.cluster)
        .nodegroup_name(&request.nodegroup)
        .send()
        .await
        .map_err(|e| eks_error("eks:DescribeNodegroup", &e))?
        .nodegroup
        .ok_or_else(|| PreflightError::Input(format!("node group {} not returned", request.nodegroup)))?;

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
            request.nodegroup
        )));
    }
    let subnets = if request.subnets.is_empty() { nodegroup.subnets().to_vec() } else { request.subnets.clone() };
    if subnets.is_empty() {
        return Err(PreflightError::Input(format!("node group {} lists no subnets; give --subnets", request.nodegroup)));
    }
    let arm = nodegroup.ami_type().is_some_and(|t| t.as_str().contains("ARM"));
    let task_definition = TaskDefinitionFacts {
        family: Some(format!("nodegroup/{}", request.nodegroup)),
        network_mode: Some("awsvpc".into()),
        requires_compatibilities: vec!["EC2".into()],
        cpu_architecture: Some(if arm { "ARM64" } else { "X86_64" }.into()),
        operating_system_family: Some("LINUX".into()),
        containers: request
            .images
            .iter()
            .map(|i| ContainerDefinitionFacts { name: Some(i.clone()), image: Some(i.clone()), ..Default::default() })
            .collect(),
        ..Default::default()
    };
    let cluster_arn = cluster.arn().unwrap_or(&request.cluster).to_string();
    Ok(Plan {
        region: clients.home_region().map(str::to_string),
        account: crate::collect::arn_account(Some(&cluster_arn)),
        cluster: cluster_arn,
        service: None,
        nodegroup: Some(request.nodegroup.clone()),
        launch_type: Some("EC2".into()),
        capacity_provider: None,
        platform_version: None,
        task_definition,
        task_definition_source: format!("images given with --image, node AMI type {}", nodegroup.ami_type().map(|t| t.as_str()).unwrap_or("?")),
        network: ServiceNetworkFacts {
            service_name: format!("node group {}", request.nodegroup),
            source: sg_source,
            subnets,
            security_groups,
            // Nodes get a public address only from their subnet's setting: not known here.
            assign_public_ip: None,
            no_awsvpc_configuration: false,
        },
        instance_role_arn: nodegroup.node_role().map(str::to_string),
        aws_calls: calls,
    })
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
            crate::collect::ReadFailure::Failed(r) => PreflightError::Aws(r),
        },
    }
}
