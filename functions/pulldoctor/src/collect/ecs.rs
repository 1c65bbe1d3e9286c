//! ECS reads: the stopped task and its task definition.

use aws_sdk_ecs::types::{Task, TaskDefinition};

use super::{CallLog, Clients};
use crate::model::facts::{
    AttachmentFacts, ContainerDefinitionFacts, ContainerFacts, Fact, LaunchType,
    TaskDefinitionFacts, TaskFacts, TaskSource,
};

/// What the event lacks that a check needs from the task, if anything. The `detail` of an
/// `ECS Task State Change` event is the task as `DescribeTasks` returns it, so a complete event
/// makes that read redundant. Field by field, what the checks need:
/// * `taskArn`, `clusterArn`: the task in reports, the service and container-instance reads;
/// * `taskDefinitionArn`: the task definition (roles, images, secrets, network mode);
/// * `group`: `service:NAME` decides whether the service is read (security groups of a gone ENI,
///   the deploy, the blast radius);
/// * `launchType` or `capacityProviderName`: who pulls (execution role or instance role);
/// * `platformVersion` on Fargate: which endpoints the pull needs (1.3 vs 1.4);
/// * `containerInstanceArn` (EC2, External, Managed Instances) or the ENI attachment (awsvpc):
///   where the pull starts;
/// * `containers` (names, images, digests, reasons): the failure itself.
///
/// Both carry `overrides` too (an `executionRoleArn` override), `platformFamily`,
/// `availabilityZone`, `ephemeralStorage` and the stop code and reason, so those need no read either;
/// only `tags` are `DescribeTasks`-only (with `include=TAGS`), and no check reads them.
pub fn event_lacks(task: &TaskFacts) -> Option<&'static str> {
    let eni_subnet = task
        .eni_attachment()
        .is_some_and(|a| a.details.contains_key("subnetId"));
    if task.arn.is_none() || task.cluster_arn.is_none() {
        Some("the task or cluster ARN")
    } else if task.task_definition_arn.is_none() {
        Some("the task definition ARN")
    } else if task.group.is_none() {
        Some("the group (service or family)")
    } else if task.launch_type.is_none() && task.capacity_provider.is_none() {
        Some("the launch type or capacity provider")
    } else if task.is_fargate() && task.platform_version.is_none() {
        Some("the Fargate platform version")
    } else if task.container_instance_arn.is_none() && !eni_subnet {
        Some("the container instance or the ENI attachment's subnet")
    } else if task.containers.is_empty()
        || task
            .containers
            .iter()
            .any(|c| c.name.is_none() || c.image.is_none())
    {
        Some("the containers' names and images")
    } else {
        None
    }
}

/// The task: the event's copy when it carries everything the checks need ([`event_lacks`]),
/// else as `DescribeTasks` sees it, else the event's copy with a note saying why.
pub(super) async fn read_task(
    clients: &Clients,
    log: &CallLog,
    from_event: &TaskFacts,
    too_old: bool,
) -> TaskFacts {
    let with_note = |note: String| TaskFacts {
        source_note: Some(note),
        ..from_event.clone()
    };
    if from_event.source == TaskSource::DescribeTasks || event_lacks(from_event).is_none() {
        return from_event.clone();
    }
    if too_old {
        return with_note(
            "event is older than the one-hour window in which ECS shows stopped tasks".into(),
        );
    }
    let (Some(cluster), Some(arn)) = (from_event.cluster_arn.as_deref(), from_event.arn.as_deref())
    else {
        return with_note("event names no cluster or task ARN".into());
    };
    let described = log
        .read(
            "ecs:DescribeTasks",
            &[],
            clients
                .ecs
                .describe_tasks()
                .cluster(cluster)
                .tasks(arn)
                .send(),
            |out| match out.tasks().first() {
                Some(task) => Fact::found(task_facts(task)),
                None => Fact::NotFound {
                    detail: out
                        .failures()
                        .first()
                        .and_then(|f| f.reason())
                        .unwrap_or("task not returned")
                        .to_string(),
                },
            },
        )
        .await;
    match described {
        Fact::Found { value } => merge_event(value, from_event),
        other => with_note(format!(
            "DescribeTasks: {}",
            other.gap().unwrap_or("no task")
        )),
    }
}

/// A task that names only a capacity provider, no launch type: the provider's type (read in the
/// task's cluster, where ECS Managed Instances providers live) tells the launch type, hence who
/// pulls. Fargate's providers (`FARGATE`, `FARGATE_SPOT`) need no read. A failed read leaves the
/// launch type unset, and the checks fall back to the task definition's compatibilities.
pub(super) async fn resolve_launch_type(clients: &Clients, log: &CallLog, task: &mut TaskFacts) {
    if task.launch_type.is_some() || task.is_fargate() {
        return;
    }
    let Some(name) = task.capacity_provider.clone() else {
        return;
    };
    let call = clients
        .ecs
        .describe_capacity_providers()
        .capacity_providers(&name)
        .set_cluster(task.cluster_arn.clone());
    let kind = log
        .read(
            "ecs:DescribeCapacityProviders",
            &[],
            call.send(),
            |out| match out.capacity_providers().first() {
                Some(cp) => Fact::found(cp.r#type().map(|t| t.as_str().to_string())),
                None => Fact::NotFound {
                    detail: format!("capacity provider {name} not returned"),
                },
            },
        )
        .await;
    if let Some(kind) = kind.value().cloned().flatten() {
        task.launch_type = launch_type_of_capacity_provider(&kind);
    }
}

/// The launch type of a capacity provider type (`EC2_AUTOSCALING` → `EC2`).
pub fn launch_type_of_capacity_provider(kind: &str) -> Option<LaunchType> {
    match kind {
        "EC2_AUTOSCALING" => Some(LaunchType::Ec2),
        "FARGATE" | "FARGATE_SPOT" => Some(LaunchType::Fargate),
        "MANAGED_INSTANCES" => Some(LaunchType::ManagedInstances),
        _ => None,
    }
}

/// `DescribeTasks` may lack what the event carried (reasons, the pinned digest): keep the event's.
fn merge_event(mut task: TaskFacts, event: &TaskFacts) -> TaskFacts {
    task.stopped_reason = task.stopped_reason.or_else(|| event.stopped_reason.clone());
    for c in &mut task.containers {
        if let Some(e) = event.containers.iter().find(|e| e.name == c.name) {
            c.reason = c.reason.take().or_else(|| e.reason.clone());
            c.image_digest = c.image_digest.take().or_else(|| e.image_digest.clone());
        }
    }
    if task.containers.is_empty() {
        task.containers = event.containers.clone();
    }
    if task.attachments.is_empty() {
        task.attachments = event.attachments.clone();
    }
    task.execution_role_override = task
        .execution_role_override
        .or_else(|| event.execution_role_override.clone());
    task
}

pub fn task_facts(t: &Task) -> TaskFacts {
    TaskFacts {
        source: TaskSource::DescribeTasks,
        arn: t.task_arn().map(str::to_string),
        cluster_arn: t.cluster_arn().map(str::to_string),
        task_definition_arn: t.task_definition_arn().map(str::to_string),
        group: t.group().map(str::to_string),
        launch_type: t.launch_type().map(|l| LaunchType::from(l.as_str())),
        capacity_provider: t.capacity_provider_name().map(str::to_string),
        platform_version: t.platform_version().map(str::to_string),
        platform_family: t.platform_family().map(str::to_string),
        availability_zone: t.availability_zone().map(str::to_string),
        container_instance_arn: t.container_instance_arn().map(str::to_string),
        last_status: t.last_status().map(str::to_string),
        stop_code: t.stop_code().map(|c| c.as_str().to_string()),
        stopped_reason: t.stopped_reason().map(str::to_string),
        ephemeral_storage_gib: t.ephemeral_storage().map(|e| e.size_in_gib()),
        containers: t
            .containers()
            .iter()
            .map(|c| ContainerFacts {
                name: c.name().map(str::to_string),
                image: c.image().map(str::to_string),
                image_digest: c.image_digest().map(str::to_string),
                last_status: c.last_status().map(str::to_string),
                reason: c.reason().map(str::to_string),
            })
            .collect(),
        attachments: t
            .attachments()
            .iter()
            .map(|a| AttachmentFacts {
                id: a.id().map(str::to_string),
                kind: a.r#type().map(str::to_string),
                status: a.status().map(str::to_string),
                details: a
                    .details()
                    .iter()
                    .filter_map(|kv| {
                        Some((
                            kv.name()?.to_string(),
                            kv.value().unwrap_or_default().to_string(),
                        ))
                    })
                    .collect(),
            })
            .collect(),
        source_note: None,
        execution_role_override: t
            .overrides()
            .and_then(|o| o.execution_role_arn())
            .map(str::to_string),
    }
}

pub(super) async fn read_task_definition(
    clients: &Clients,
    log: &CallLog,
    arn: Option<&str>,
) -> Fact<TaskDefinitionFacts> {
    let Some(arn) = arn else {
        return Fact::NotCollected {
            reason: "the event names no task definition".into(),
        };
    };
    shared!(
        log,
        "ecs:DescribeTaskDefinition",
        &[],
        clients.ecs.describe_task_definition().task_definition(arn),
        |out| match out.task_definition() {
            Some(td) => Fact::found(task_definition_facts(td)),
            None => Fact::NotFound {
                detail: "task definition not returned".into()
            },
        },
    )
    .await
}

/// Only what bears on pulling and on the secrets fetched before it. Environment values, secret
/// values and the variable names secrets are injected as are deliberately not copied.
pub fn task_definition_facts(td: &TaskDefinition) -> TaskDefinitionFacts {
    TaskDefinitionFacts {
        arn: td.task_definition_arn().map(str::to_string),
        family: td.family().map(str::to_string),
        revision: Some(td.revision()),
        execution_role_arn: td.execution_role_arn().map(str::to_string),
        task_role_arn: td.task_role_arn().map(str::to_string),
        network_mode: td.network_mode().map(|m| m.as_str().to_string()),
        requires_compatibilities: td
            .requires_compatibilities()
            .iter()
            .map(|c| LaunchType::from(c.as_str()))
            .collect(),
        cpu_architecture: td
            .runtime_platform()
            .and_then(|p| p.cpu_architecture())
            .map(|a| a.as_str().to_string()),
        operating_system_family: td
            .runtime_platform()
            .and_then(|p| p.operating_system_family())
            .map(|f| f.as_str().to_string()),
        ephemeral_storage_gib: td.ephemeral_storage().map(|e| e.size_in_gib()),
        containers: td
            .container_definitions()
            .iter()
            .map(|c| ContainerDefinitionFacts {
                name: c.name().map(str::to_string),
                image: c.image().map(str::to_string),
                registry_credentials_secret: c
                    .repository_credentials()
                    .map(|r| r.credentials_parameter().to_string()),
                // Where each secret comes from (valueFrom), never its name or value.
                secrets: c
                    .secrets()
                    .iter()
                    .chain(
                        c.log_configuration()
                            .map(|l| l.secret_options())
                            .unwrap_or_default(),
                    )
                    .map(|s| s.value_from().to_string())
                    .collect(),
            })
            .collect(),
    }
}

/// The capacity-provider read against mocked ECS answers shaped like the real API (moto has no
/// Managed Instances capacity providers).
#[cfg(test)]
mod capacity_provider_tests {
    use aws_sdk_ecs::operation::describe_capacity_providers::{
        DescribeCapacityProvidersError, DescribeCapacityProvidersOutput,
    };
    use aws_sdk_ecs::types::{CapacityProvider, CapacityProviderType};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;
    use crate::checks::iam::identity_fixtures::{world, CLUSTER};
    use crate::model::diagnosis::Status;

    fn clients(ecs: aws_sdk_ecs::Client) -> Clients {
        Clients::mocked(
            ecs,
            aws_sdk_ecr::Client::from_conf(aws_sdk_ecr::Config::builder().build()),
        )
    }

    /// ECS answering for the providers of cluster `prod`: `mi-general` (Managed Instances) and
    /// `asg` (an Auto Scaling group), or access denied.
    fn ecs(deny: bool) -> aws_sdk_ecs::Client {
        let described = mock!(aws_sdk_ecs::Client::describe_capacity_providers)
            .match_requests(|r| r.cluster() == Some(CLUSTER))
            .then_compute_output(|r| {
                let kind = match r.capacity_providers() {
                    [name] if name == "mi-general" => CapacityProviderType::ManagedInstances,
                    _ => CapacityProviderType::Ec2Autoscaling,
                };
                let name = r.capacity_providers().first().cloned().unwrap_or_default();
                DescribeCapacityProvidersOutput::builder()
                    .capacity_providers(CapacityProvider::builder().name(name).r#type(kind).build())
                    .build()
            });
        let denied = mock!(aws_sdk_ecs::Client::describe_capacity_providers).then_error(|| {
            DescribeCapacityProvidersError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("not authorized")
                    .build(),
            )
        });
        if deny {
            mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&denied])
        } else {
            mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&described])
        }
    }

    #[tokio::test]
    #[allow(clippy::type_complexity)] // a table test: one tuple per case reads best
    async fn a_task_naming_only_a_capacity_provider_gets_its_launch_type() {
        // (name, launch type in the event, capacity provider, ECS denies, launch type after, calls)
        let cases: [(&str, Option<&str>, &str, bool, Option<&str>, u32); 5] = [
            (
                "managed instances provider",
                None,
                "mi-general",
                false,
                Some("MANAGED_INSTANCES"),
                1,
            ),
            ("auto scaling provider", None, "asg", false, Some("EC2"), 1),
            (
                "launch type already given",
                Some("EC2"),
                "asg",
                false,
                Some("EC2"),
                0,
            ),
            (
                "fargate spot needs no read",
                None,
                "FARGATE_SPOT",
                false,
                None,
                0,
            ),
            (
                "read denied: left to the task definition",
                None,
                "mi-general",
                true,
                None,
                1,
            ),
        ];
        for (name, launch, provider, deny, expected, calls) in cases {
            let clients = clients(ecs(deny));
            let log = CallLog::default();
            let mut task = TaskFacts {
                launch_type: launch.map(LaunchType::from),
                capacity_provider: Some(provider.into()),
                cluster_arn: Some(CLUSTER.into()),
                ..Default::default()
            };
            resolve_launch_type(&clients, &log, &mut task).await;
            assert_eq!(
                task.launch_type.as_ref().map(LaunchType::as_str),
                expected,
                "{name}"
            );
            assert_eq!(log.calls(), calls, "{name}");
        }
    }

    /// What the user sees: a task definition that may run on EC2 or Managed Instances, a task
    /// that names only its Managed Instances provider and no execution role. The provider's type
    /// makes it a missing execution role (not an instance-role question, not unknown).
    #[tokio::test]
    async fn the_providers_type_decides_who_pulls() {
        let mut f = world();
        f.task.launch_type = None;
        f.task.capacity_provider = Some("mi-general".into());
        if let Fact::Found { value } = &mut f.task_definition {
            value.execution_role_arn = None;
            value.requires_compatibilities = vec!["EC2".into(), "MANAGED_INSTANCES".into()];
        }
        assert_eq!(
            crate::checks::iam::check_execution_role_present(&f)[0].status,
            Status::Unknown,
            "undecided without the read"
        );
        resolve_launch_type(&clients(ecs(false)), &CallLog::default(), &mut f.task).await;
        let got = &crate::checks::iam::check_execution_role_present(&f)[0];
        assert_eq!(got.status, Status::Fail, "{got:?}");
        assert!(got.title.contains("ECS Managed Instances"), "{}", got.title);
    }
}

/// The event is the task: `DescribeTasks` only for what a real-format event lacks.
#[cfg(test)]
mod event_tests {
    use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
    use aws_sdk_ecs::types::Task;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    use super::*;
    use crate::intake::{intake, Intake};

    fn event_task(name: &str) -> TaskFacts {
        let text = match name {
            "network" => {
                include_str!("../../../../tests/fixtures/events/cannot-pull-network-timeout.json")
            }
            "tag" => include_str!(
                "../../../../tests/fixtures/events/cannot-pull-image-tag-not-found.json"
            ),
            _ => include_str!(
                "../../../../tests/fixtures/events/registry-auth-resource-initialization.json"
            ),
        };
        match intake(&serde_json::from_str(text).unwrap()) {
            Intake::PullFailure(f) => f.task,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    #[allow(clippy::type_complexity)] // a table test: one tuple per case reads best
    fn a_real_event_carries_what_the_checks_need_and_a_gap_is_named() {
        for name in ["network", "tag", "auth"] {
            assert_eq!(event_lacks(&event_task(name)), None, "{name}");
        }
        let drop: [(&str, fn(&mut TaskFacts), &str); 6] = [
            ("no group", |t| t.group = None, "group"),
            (
                "no task definition",
                |t| t.task_definition_arn = None,
                "task definition",
            ),
            ("no launch type", |t| t.launch_type = None, "launch type"),
            (
                "Fargate without platform version",
                |t| t.platform_version = None,
                "platform version",
            ),
            (
                "no ENI attachment",
                |t| t.attachments.clear(),
                "ENI attachment",
            ),
            (
                "a container without image",
                |t| t.containers[0].image = None,
                "images",
            ),
        ];
        for (name, change, named) in drop {
            let mut task = event_task("network");
            change(&mut task);
            assert!(
                event_lacks(&task).is_some_and(|gap| gap.contains(named)),
                "{name}: {:?}",
                event_lacks(&task)
            );
        }
        // EC2 bridge: the container instance stands in for the ENI attachment.
        let mut ec2 = event_task("network");
        ec2.attachments.clear();
        ec2.launch_type = Some(LaunchType::Ec2);
        ec2.container_instance_arn =
            Some("arn:aws:ecs:us-east-1:111122223333:container-instance/prod/abc".into());
        assert_eq!(event_lacks(&ec2), None);
    }

    #[tokio::test]
    async fn describe_tasks_is_read_only_for_what_the_event_lacks() {
        let described = mock!(aws_sdk_ecs::Client::describe_tasks).then_output(|| {
            DescribeTasksOutput::builder()
                .tasks(
                    Task::builder()
                        .task_arn("arn:aws:ecs:us-east-1:111122223333:task/prod/0f")
                        .group("service:web")
                        .build(),
                )
                .build()
        });
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&described]);
        let clients = Clients::mocked(
            ecs,
            aws_sdk_ecr::Client::from_conf(aws_sdk_ecr::Config::builder().build()),
        );

        let complete = event_task("network");
        let log = CallLog::default();
        let task = read_task(&clients, &log, &complete, false).await;
        assert_eq!(
            (log.calls(), task.source, task.source_note.as_deref()),
            (0, TaskSource::Event, None)
        );
        assert_eq!(task, complete, "the event's copy, unchanged");
        // Older than DescribeTasks' window changes nothing for a complete event.
        assert_eq!(read_task(&clients, &log, &complete, true).await, complete);
        assert_eq!(log.calls(), 0);

        let mut partial = complete.clone();
        partial.group = None;
        let task = read_task(&clients, &log, &partial, false).await;
        assert_eq!(
            (log.calls(), task.source, task.group.as_deref()),
            (1, TaskSource::DescribeTasks, Some("service:web"))
        );
        // What DescribeTasks lacked the event gave (its containers, reasons and attachment).
        assert_eq!(task.containers, complete.containers);
        assert_eq!(task.attachments, complete.attachments);
    }
}
