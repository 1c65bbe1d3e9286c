//! EC2 launch type without awsvpc (`bridge`, `host`): a task has no subnet of its own. The image is
//! pulled by the container instance it is placed on, through that instance's subnet and security
//! groups, with the task's execution role — or, when the task definition has none, the instance's
//! role. So the preflight checks from the cluster's container instances: each distinct (subnet,
//! security groups, instance profile) among the first [`MAX_INSTANCES`] ACTIVE ones is one place a
//! task could land.

use serde::{Deserialize, Serialize};

use super::{aws_error, PreflightError};
use crate::collect::Clients;
use crate::model::facts::LaunchType;

/// Container instances read at most (one `DescribeContainerInstances` and one `DescribeInstances`).
pub const MAX_INSTANCES: usize = 10;
/// One `ListContainerInstances` page: the count reported when the cluster has more.
const LIST_PAGE: i32 = 100;

/// The container instances a preflight considered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstancesConsidered {
    /// ACTIVE container instances listed in the cluster (at most one page of 100).
    pub active: usize,
    /// The listing has more than `active` (another page).
    pub more: bool,
    /// The first [`MAX_INSTANCES`] of them, with what the pull depends on.
    pub considered: Vec<ConsideredInstance>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsideredInstance {
    /// EC2 instance id.
    pub instance: String,
    pub container_instance_arn: String,
    pub subnet: Option<String>,
    pub security_groups: Vec<String>,
    pub instance_profile_arn: Option<String>,
    /// Checked as the representative of the instances with its subnet, security groups and
    /// instance profile (the others would give the same answers).
    pub checked: bool,
}

impl InstancesConsidered {
    /// The instances checked, one per distinct (subnet, security groups, instance profile).
    pub fn checked(&self) -> impl Iterator<Item = &ConsideredInstance> {
        self.considered.iter().filter(|i| i.checked)
    }

    /// Distinct subnets of the considered instances, in the order met.
    pub fn subnets(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.checked().filter_map(|i| i.subnet.clone()) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// `3 ACTIVE container instances, 3 considered: i-1 (subnet-a), …`.
    pub fn summary(&self) -> String {
        let listed = if self.more {
            format!("more than {}", self.active)
        } else {
            self.active.to_string()
        };
        let named: Vec<String> = self
            .considered
            .iter()
            .map(|i| {
                format!(
                    "{} ({})",
                    i.instance,
                    i.subnet.as_deref().unwrap_or("no subnet")
                )
            })
            .collect();
        format!(
            "{listed} ACTIVE container instance(s), {} considered: {}",
            self.considered.len(),
            named.join(", ")
        )
    }
}

/// Whether tasks of this plan run on container instances with no awsvpc subnets of their own.
pub fn pulls_from_instances(
    launch_type: Option<&LaunchType>,
    capacity_provider: Option<&str>,
    network_mode: Option<&str>,
) -> bool {
    let on_ec2 = match (launch_type, capacity_provider) {
        (Some(l), _) => *l == LaunchType::Ec2,
        // A capacity provider other than FARGATE / FARGATE_SPOT is an Auto Scaling group.
        (None, Some(cp)) => !cp.starts_with("FARGATE"),
        (None, None) => false,
    };
    // No network mode on EC2 means the default, bridge (Linux) or NAT (Windows).
    on_ec2 && network_mode != Some("awsvpc")
}

/// List the cluster's ACTIVE container instances and read the first [`MAX_INSTANCES`]: their EC2
/// instance, subnet, security groups and instance profile. Returns the calls made too.
pub async fn read(
    clients: &Clients,
    cluster: &str,
) -> Result<(InstancesConsidered, u32), PreflightError> {
    let mut calls = 1;
    let listed = clients
        .ecs
        .list_container_instances()
        .cluster(cluster)
        .status(aws_sdk_ecs::types::ContainerInstanceStatus::Active)
        .max_results(LIST_PAGE)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                "ecs:ListContainerInstances",
                &["ClusterNotFoundException"],
                &e,
            )
        })?;
    let arns = listed.container_instance_arns().to_vec();
    let more = listed.next_token().is_some_and(|t| !t.is_empty());
    let first: Vec<String> = arns.iter().take(MAX_INSTANCES).cloned().collect();
    if first.is_empty() {
        return Ok((
            InstancesConsidered {
                active: 0,
                more,
                considered: vec![],
            },
            calls,
        ));
    }
    calls += 1;
    let described = clients
        .ecs
        .describe_container_instances()
        .cluster(cluster)
        .set_container_instances(Some(first))
        .send()
        .await
        .map_err(|e| {
            aws_error(
                "ecs:DescribeContainerInstances",
                &["ClusterNotFoundException"],
                &e,
            )
        })?;
    // (container instance ARN, EC2 instance id) of the ACTIVE ones, in the listing's order.
    let pairs: Vec<(String, String)> = described
        .container_instances()
        .iter()
        .filter(|c| c.status().is_none_or(|s| s == "ACTIVE"))
        .filter_map(|c| {
            Some((
                c.container_instance_arn()?.to_string(),
                c.ec2_instance_id()?.to_string(),
            ))
        })
        .collect();
    if pairs.is_empty() {
        return Ok((
            InstancesConsidered {
                active: arns.len(),
                more,
                considered: vec![],
            },
            calls,
        ));
    }
    calls += 1;
    let ids: Vec<String> = pairs.iter().map(|(_, id)| id.clone()).collect();
    let reservations = clients
        .ec2
        .describe_instances()
        .set_instance_ids(Some(ids))
        .send()
        .await
        .map_err(|e| aws_error("ec2:DescribeInstances", &[], &e))?;
    let instances: Vec<&aws_sdk_ec2::types::Instance> = reservations
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    let mut considered: Vec<ConsideredInstance> = Vec::new();
    for (arn, id) in pairs {
        let instance = instances
            .iter()
            .find(|i| i.instance_id() == Some(id.as_str()));
        let primary = instance.and_then(|i| {
            i.network_interfaces()
                .iter()
                .find(|e| e.attachment().and_then(|a| a.device_index()) == Some(0))
        });
        let groups = |g: &[aws_sdk_ec2::types::GroupIdentifier]| {
            g.iter()
                .filter_map(|g| g.group_id().map(str::to_string))
                .collect::<Vec<_>>()
        };
        let mut security_groups = match (primary, instance) {
            (Some(p), _) if !p.groups().is_empty() => groups(p.groups()),
            (_, Some(i)) => groups(i.security_groups()),
            _ => vec![],
        };
        security_groups.sort();
        let subnet = primary
            .and_then(|p| p.subnet_id())
            .or(instance.and_then(|i| i.subnet_id()))
            .map(str::to_string);
        let instance_profile_arn = instance
            .and_then(|i| i.iam_instance_profile())
            .and_then(|p| p.arn())
            .map(str::to_string);
        let checked = subnet.is_some()
            && !considered.iter().any(|c| {
                c.checked
                    && c.subnet == subnet
                    && c.security_groups == security_groups
                    && c.instance_profile_arn == instance_profile_arn
            });
        considered.push(ConsideredInstance {
            instance: id,
            container_instance_arn: arn,
            subnet,
            security_groups,
            instance_profile_arn,
            checked,
        });
    }
    Ok((
        InstancesConsidered {
            active: arns.len(),
            more,
            considered,
        },
        calls,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_plans_pull_from_container_instances() {
        let cases = [
            (Some("EC2"), None, Some("bridge"), true),
            (Some("EC2"), None, Some("host"), true),
            (Some("EC2"), None, None, true),
            (Some("EC2"), None, Some("awsvpc"), false),
            (Some("FARGATE"), None, Some("awsvpc"), false),
            (None, Some("my-asg-provider"), Some("bridge"), true),
            (None, Some("FARGATE_SPOT"), Some("awsvpc"), false),
            (Some("EXTERNAL"), None, Some("bridge"), false),
            (None, None, Some("bridge"), false),
        ];
        for (launch, provider, mode, expected) in cases {
            let launch_type = launch.map(LaunchType::from);
            assert_eq!(
                pulls_from_instances(launch_type.as_ref(), provider, mode),
                expected,
                "{launch:?} {provider:?} {mode:?}"
            );
        }
    }

    #[test]
    fn summary_names_the_instances_and_the_count() {
        let i = |id: &str, subnet: &str, checked: bool| ConsideredInstance {
            instance: id.into(),
            container_instance_arn: format!(
                "arn:aws:ecs:us-east-1:111122223333:container-instance/prod/{id}"
            ),
            subnet: Some(subnet.into()),
            security_groups: vec!["sg-1".into()],
            instance_profile_arn: None,
            checked,
        };
        let c = InstancesConsidered {
            active: 100,
            more: true,
            considered: vec![
                i("i-1", "subnet-a", true),
                i("i-2", "subnet-b", true),
                i("i-3", "subnet-a", false),
            ],
        };
        assert_eq!(c.summary(), "more than 100 ACTIVE container instance(s), 3 considered: i-1 (subnet-a), i-2 (subnet-b), i-3 (subnet-a)");
        assert_eq!(
            c.subnets(),
            vec!["subnet-a".to_string(), "subnet-b".to_string()]
        );
        assert_eq!(c.checked().count(), 2);
    }
}
