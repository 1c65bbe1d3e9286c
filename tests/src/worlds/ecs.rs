//! ECS builders: clusters, task definitions, services, and stopped tasks (run by moto, or made up
//! in the real format for tasks moto never saw).

use aws_sdk_ecs::types::{ContainerDefinition, NetworkConfiguration};
use serde_json::json;

use super::{Network, World};
use crate::util::{random_digits, random_hex32};

/// What to register as a task definition.
#[derive(Debug, Clone)]
pub struct TaskDefSpec {
    pub family: String,
    pub container: String,
    pub image: String,
    pub execution_role_arn: Option<String>,
}

/// Where a task definition's tasks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// Fargate, `awsvpc`, 256 CPU / 512 MiB, x86_64.
    Fargate,
    /// The same on ARM64.
    FargateArm64,
    /// EC2 container instances, `bridge` networking (no task-level CPU or memory).
    Ec2Bridge,
}

/// The task's elastic network interface as ECS reports it in `attachments[].details`.
#[derive(Debug, Clone)]
pub struct Eni {
    pub subnet_id: String,
    pub network_interface_id: String,
    pub mac_address: String,
    pub private_dns_name: String,
    pub private_ipv4_address: String,
    /// The attachment's status in the event: `DELETED` once ECS removed the ENI (as for every task
    /// that failed to start), `ATTACHED` for a task moto ran and stopped, whose ENI still exists.
    pub attachment_status: String,
}

/// A Fargate task (stopped in moto, or one moto never saw) to describe in an event.
#[derive(Debug, Clone)]
pub struct StoppedTask {
    pub task_arn: String,
    pub cluster_arn: String,
    pub task_definition_arn: String,
    pub group: String,
    pub started_by: String,
    pub availability_zone: String,
    pub platform_version: String,
    pub eni: Eni,
}

/// An awsvpc network configuration: `subnets`, one security group, public IP or not.
pub fn awsvpc(
    subnets: &[&str],
    security_group: &str,
    assign_public_ip: bool,
) -> NetworkConfiguration {
    use aws_sdk_ecs::types::{AssignPublicIp, AwsVpcConfiguration};
    NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(subnets.iter().map(|s| s.to_string()).collect()))
                // moto quirk: RunTask fails without securityGroups.
                .security_groups(security_group)
                .assign_public_ip(if assign_public_ip {
                    AssignPublicIp::Enabled
                } else {
                    AssignPublicIp::Disabled
                })
                .build()
                .expect("awsvpc configuration"),
        )
        .build()
}

/// The network's private subnet and task security group, no public IP.
fn private_awsvpc(network: &Network) -> NetworkConfiguration {
    awsvpc(&[&network.subnet_id], &network.security_group_id, false)
}

impl World {
    /// Creates an ECS cluster; returns its ARN.
    pub async fn cluster(&self, name: &str) -> String {
        self.ecs
            .create_cluster()
            .cluster_name(name)
            .send()
            .await
            .expect("CreateCluster")
            .cluster
            .and_then(|c| c.cluster_arn)
            .expect("cluster arn")
    }

    /// Registers a Fargate (`awsvpc`, 256 CPU / 512 MiB) task definition; returns its ARN.
    pub async fn task_definition(&self, spec: &TaskDefSpec) -> String {
        let container = ContainerDefinition::builder()
            .name(&spec.container)
            .image(&spec.image)
            .essential(true)
            // moto quirk: RunTask needs a container-level memory or memoryReservation (it sums them).
            .memory_reservation(512)
            .build();
        self.register_task_definition(
            &spec.family,
            spec.execution_role_arn.as_deref(),
            Launch::Fargate,
            vec![container],
        )
        .await
    }

    /// Registers `containers` as a revision of `family` for `launch`; returns its ARN.
    pub async fn register_task_definition(
        &self,
        family: &str,
        execution_role_arn: Option<&str>,
        launch: Launch,
        containers: Vec<ContainerDefinition>,
    ) -> String {
        use aws_sdk_ecs::types::{
            Compatibility, CpuArchitecture, NetworkMode, OsFamily, RuntimePlatform,
        };
        let req = self
            .ecs
            .register_task_definition()
            .family(family)
            .set_container_definitions(Some(containers))
            .set_execution_role_arn(execution_role_arn.map(str::to_string));
        let req = match launch {
            Launch::Ec2Bridge => req
                .requires_compatibilities(Compatibility::Ec2)
                .network_mode(NetworkMode::Bridge),
            Launch::Fargate | Launch::FargateArm64 => req
                .requires_compatibilities(Compatibility::Fargate)
                .network_mode(NetworkMode::Awsvpc)
                .cpu("256")
                .memory("512"),
        };
        let req = if launch == Launch::FargateArm64 {
            req.runtime_platform(
                RuntimePlatform::builder()
                    .cpu_architecture(CpuArchitecture::Arm64)
                    .operating_system_family(OsFamily::Linux)
                    .build(),
            )
        } else {
            req
        };
        req.send()
            .await
            .expect("RegisterTaskDefinition")
            .task_definition
            .and_then(|t| t.task_definition_arn)
            .expect("task definition arn")
    }

    /// Creates a Fargate service (desired count 1) in the network's private subnet. Returns its
    /// ARN.
    pub async fn service(
        &self,
        cluster: &str,
        name: &str,
        task_definition_arn: &str,
        network: &Network,
    ) -> String {
        self.service_with(
            cluster,
            name,
            task_definition_arn,
            private_awsvpc(network),
            1,
        )
        .await
    }

    /// Creates a Fargate service (platform 1.4.0) with this network configuration and desired
    /// count. Returns its ARN.
    pub async fn service_with(
        &self,
        cluster: &str,
        name: &str,
        task_definition_arn: &str,
        network_configuration: NetworkConfiguration,
        desired_count: i32,
    ) -> String {
        use aws_sdk_ecs::types::LaunchType;
        self.ecs
            .create_service()
            .cluster(cluster)
            .service_name(name)
            .task_definition(task_definition_arn)
            .desired_count(desired_count)
            .launch_type(LaunchType::Fargate)
            .platform_version("1.4.0")
            .network_configuration(network_configuration)
            .send()
            .await
            .expect("CreateService")
            .service
            .and_then(|s| s.service_arn)
            .expect("service arn")
    }

    /// `RunTask` (FARGATE, awsvpc, platform 1.4.0) then `StopTask`: a stopped task that
    /// `DescribeTasks` still returns. `group` is `service:NAME` or `family:NAME`.
    pub async fn run_stopped_task(
        &self,
        cluster: &str,
        task_definition_arn: &str,
        network: &Network,
        group: &str,
    ) -> StoppedTask {
        use aws_sdk_ecs::types::LaunchType;
        let started_by = if group.starts_with("service:") {
            format!("ecs-svc/{}", &random_digits(19))
        } else {
            "pulldoctor-tests".to_string()
        };
        let out = self
            .ecs
            .run_task()
            .cluster(cluster)
            .task_definition(task_definition_arn)
            .launch_type(LaunchType::Fargate)
            .platform_version("1.4.0")
            .group(group)
            .started_by(&started_by)
            .count(1)
            .network_configuration(private_awsvpc(network))
            .send()
            .await
            .expect("RunTask");
        assert!(
            out.failures().is_empty(),
            "RunTask failures: {:?}",
            out.failures()
        );
        let task = out
            .tasks()
            .first()
            .expect("RunTask returned no task")
            .clone();
        let task_arn = task.task_arn().expect("task arn").to_string();
        let detail = |name: &str| -> String {
            task.attachments()
                .iter()
                .flat_map(|a| a.details())
                .find(|kv| kv.name() == Some(name))
                .and_then(|kv| kv.value())
                .unwrap_or_default()
                .to_string()
        };
        let eni = Eni {
            subnet_id: detail("subnetId"),
            network_interface_id: detail("networkInterfaceId"),
            mac_address: detail("macAddress"),
            private_dns_name: detail("privateDnsName"),
            private_ipv4_address: detail("privateIPv4Address"),
            attachment_status: "ATTACHED".to_string(),
        };
        assert!(
            eni.network_interface_id.starts_with("eni-"),
            "RunTask gave no ENI attachment: {task:?}"
        );
        self.ecs
            .stop_task()
            .cluster(cluster)
            .task(&task_arn)
            .reason("Task failed to start")
            .send()
            .await
            .expect("StopTask");
        StoppedTask {
            task_arn,
            cluster_arn: task.cluster_arn().expect("cluster arn").to_string(),
            task_definition_arn: task_definition_arn.to_string(),
            group: group.to_string(),
            started_by,
            availability_zone: network.availability_zone.clone(),
            platform_version: "1.4.0".to_string(),
            eni,
        }
    }

    /// A task in the real long-ARN format that moto has never seen (`DescribeTasks` finds nothing),
    /// as if it had stopped more than an hour ago. Its ENI is made up too.
    pub fn unknown_task(
        &self,
        cluster_arn: &str,
        task_definition_arn: &str,
        network: &Network,
        group: &str,
    ) -> StoppedTask {
        let cluster_name = cluster_arn.rsplit('/').next().unwrap_or("default");
        let id = random_hex32();
        StoppedTask {
            task_arn: format!(
                "arn:aws:ecs:{}:{}:task/{cluster_name}/{id}",
                self.region, self.account
            ),
            cluster_arn: cluster_arn.to_string(),
            task_definition_arn: task_definition_arn.to_string(),
            group: group.to_string(),
            started_by: format!("ecs-svc/{}", random_digits(19)),
            availability_zone: network.availability_zone.clone(),
            platform_version: "1.4.0".to_string(),
            eni: Eni {
                subnet_id: network.subnet_id.clone(),
                network_interface_id: format!("eni-{}", &random_hex32()[..17]),
                mac_address: "0e:3a:5f:21:9c:47".to_string(),
                private_dns_name: "ip-10-0-1-87.ec2.internal".to_string(),
                private_ipv4_address: "10.0.1.87".to_string(),
                attachment_status: "DELETED".to_string(),
            },
        }
    }

    /// An EC2 instance in `subnet_id` with security group `security_group_id` and instance profile
    /// `instance_profile`, registered as a container instance of `cluster`. Returns the instance
    /// id and the container instance ARN.
    pub async fn container_instance(
        &self,
        cluster: &str,
        subnet_id: &str,
        security_group_id: &str,
        instance_profile: &str,
    ) -> (String, String) {
        use aws_sdk_ec2::types::IamInstanceProfileSpecification;
        let ami = self
            .ec2
            .describe_images()
            .send()
            .await
            .expect("DescribeImages")
            .images()[0]
            .image_id()
            .expect("image id")
            .to_string();
        let instance = self
            .ec2
            .run_instances()
            .image_id(ami)
            .min_count(1)
            .max_count(1)
            .subnet_id(subnet_id)
            .security_group_ids(security_group_id)
            .iam_instance_profile(
                IamInstanceProfileSpecification::builder()
                    .name(instance_profile)
                    .build(),
            )
            .send()
            .await
            .expect("RunInstances")
            .instances()[0]
            .instance_id()
            .expect("instance id")
            .to_string();
        let identity =
            json!({"instanceId": instance, "region": self.region, "accountId": self.account})
                .to_string();
        let arn = self
            .ecs
            .register_container_instance()
            .cluster(cluster)
            .instance_identity_document(identity)
            .instance_identity_document_signature("unsigned")
            .send()
            .await
            .expect("RegisterContainerInstance")
            .container_instance
            .and_then(|ci| ci.container_instance_arn)
            .expect("container instance arn");
        (instance, arn)
    }
}
