//! ECS reads: the stopped task and its task definition.

use aws_sdk_ecs::types::{Task, TaskDefinition};

use super::{CallLog, Clients};
use crate::facts::{
    AttachmentFacts, ContainerDefinitionFacts, ContainerFacts, Fact, TaskDefinitionFacts, TaskFacts,
    TaskSource,
};

/// The task as `DescribeTasks` sees it, else the event's copy with a note saying why.
pub(super) async fn read_task(
    clients: &Clients,
    log: &CallLog,
    from_event: &TaskFacts,
    too_old: bool,
) -> TaskFacts {
    let with_note = |note: String| TaskFacts { source_note: Some(note), ..from_event.clone() };
    if too_old {
        return with_note("event is older than the one-hour window in which ECS shows stopped tasks".into());
    }
    let (Some(cluster), Some(arn)) = (from_event.cluster_arn.as_deref(), from_event.arn.as_deref()) else {
        return with_note("event names no cluster or task ARN".into());
    };
    let described = log
        .read(
            "ecs:DescribeTasks",
            &[],
            clients.ecs.describe_tasks().cluster(cluster).tasks(arn).send(),
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
        other => with_note(format!("DescribeTasks: {}", other.gap().unwrap_or("no task"))),
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
    task
}

pub fn task_facts(t: &Task) -> TaskFacts {
    TaskFacts {
        source: TaskSource::DescribeTasks,
        arn: t.task_arn().map(str::to_string),
        cluster_arn: t.cluster_arn().map(str::to_string),
        task_definition_arn: t.task_definition_arn().map(str::to_string),
        group: t.group().map(str::to_string),
        launch_type: t.launch_type().map(|l| l.as_str().to_string()),
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
                    .filter_map(|kv| Some((kv.name()?.to_string(), kv.value().unwrap_or_default().to_string())))
                    .collect(),
            })
            .collect(),
        source_note: None,
    }
}

pub(super) async fn read_task_definition(
    clients: &Clients,
    log: &CallLog,
    arn: Option<&str>,
) -> Fact<TaskDefinitionFacts> {
    let Some(arn) = arn else {
        return Fact::NotCollected { reason: "the event names no task definition".into() };
    };
    shared!(log,
        "ecs:DescribeTaskDefinition",
        &[],
        clients.ecs.describe_task_definition().task_definition(arn),
        |out| match out.task_definition() {
            Some(td) => Fact::found(task_definition_facts(td)),
            None => Fact::NotFound { detail: "task definition not returned".into() },
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
        requires_compatibilities: td.requires_compatibilities().iter().map(|c| c.as_str().to_string()).collect(),
        cpu_architecture: td.runtime_platform().and_then(|p| p.cpu_architecture()).map(|a| a.as_str().to_string()),
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
                    .chain(c.log_configuration().map(|l| l.secret_options()).unwrap_or_default())
                    .map(|s| s.value_from().to_string())
                    .collect(),
            })
            .collect(),
    }
}
