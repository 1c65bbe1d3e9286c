//! Intake: parse an EventBridge `ECS Task State Change` event, decide whether it is an image-pull
//! failure, and identify the failing container and image. Pure; never panics on any input.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::facts::{AttachmentFacts, ContainerFacts, LaunchType, TaskFacts, TaskSource};

/// `CannotPullContainerError`, `CannotPullECRContainerError`, any case.
static PULL_ERROR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)cannot\s*pull\s*(ecr)?\s*container\s*error").unwrap());
/// The step that runs before the pull (Fargate platform 1.4.0+, and the EC2 agent): registry
/// credentials (ECR token, `repositoryCredentials`) and the task's secrets (`secrets[].valueFrom`
/// from Secrets Manager or SSM Parameter Store). Every one of them stops the task before any
/// container starts, and each is diagnosed.
static REGISTRY_AUTH_ERROR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)ResourceInitializationError:\s*unable to pull secrets or registry auth")
        .unwrap()
});

/// The `detail` of an `ECS Task State Change` event. Every field is optional: ECS adds fields over
/// time and omits others, and a wrong shape must not lose the event.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskDetail {
    pub task_arn: Option<String>,
    pub cluster_arn: Option<String>,
    pub task_definition_arn: Option<String>,
    pub group: Option<String>,
    pub launch_type: Option<LaunchType>,
    pub capacity_provider_name: Option<String>,
    pub platform_version: Option<String>,
    pub platform_family: Option<String>,
    pub availability_zone: Option<String>,
    pub container_instance_arn: Option<String>,
    pub last_status: Option<String>,
    pub desired_status: Option<String>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub ephemeral_storage: Option<EphemeralStorage>,
    pub containers: Vec<ContainerDetail>,
    pub attachments: Vec<AttachmentDetail>,
    pub overrides: Option<TaskOverrides>,
}

/// The overrides a task was started with; only the role that pulls bears on the pull.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskOverrides {
    pub execution_role_arn: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EphemeralStorage {
    pub size_in_gi_b: Option<i32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerDetail {
    pub name: Option<String>,
    pub image: Option<String>,
    pub image_digest: Option<String>,
    pub last_status: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AttachmentDetail {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub status: Option<String>,
    pub details: Vec<NameValue>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NameValue {
    pub name: Option<String>,
    pub value: Option<String>,
}

impl From<TaskDetail> for TaskFacts {
    fn from(d: TaskDetail) -> TaskFacts {
        TaskFacts {
            source: TaskSource::Event,
            arn: d.task_arn,
            cluster_arn: d.cluster_arn,
            task_definition_arn: d.task_definition_arn,
            group: d.group,
            launch_type: d.launch_type,
            capacity_provider: d.capacity_provider_name,
            platform_version: d.platform_version,
            platform_family: d.platform_family,
            availability_zone: d.availability_zone,
            container_instance_arn: d.container_instance_arn,
            last_status: d.last_status,
            stop_code: d.stop_code,
            stopped_reason: d.stopped_reason,
            ephemeral_storage_gib: d.ephemeral_storage.and_then(|e| e.size_in_gi_b),
            containers: d
                .containers
                .into_iter()
                .map(|c| ContainerFacts {
                    name: c.name,
                    image: c.image,
                    image_digest: c.image_digest,
                    last_status: c.last_status,
                    reason: c.reason,
                })
                .collect(),
            attachments: d
                .attachments
                .into_iter()
                .map(|a| AttachmentFacts {
                    id: a.id,
                    kind: a.kind,
                    status: a.status,
                    details: a
                        .details
                        .into_iter()
                        .filter_map(|nv| Some((nv.name?, nv.value.unwrap_or_default())))
                        .collect::<BTreeMap<_, _>>(),
                })
                .collect(),
            source_note: None,
            execution_role_override: d.overrides.and_then(|o| o.execution_role_arn),
        }
    }
}

/// An image-pull failure worth diagnosing.
#[derive(Debug, Clone, PartialEq)]
pub struct PullFailure {
    pub event_id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub time: Option<DateTime<Utc>>,
    pub task: TaskFacts,
    /// The failing container's name.
    pub container: Option<String>,
    /// The failing image, `@digest` appended when the event pinned one.
    pub image: Option<String>,
    /// The error message that identified the failure.
    pub message: String,
}

/// Why an event is not diagnosed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IgnoreKind {
    /// Not JSON of the expected shape.
    Malformed,
    /// A well-formed event that is not an image-pull failure.
    Unrelated,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Intake {
    PullFailure(Box<PullFailure>),
    /// A service event that moves an incident: recovery or a failed deployment.
    Service(Box<ServiceEvent>),
    Ignored {
        kind: IgnoreKind,
        reason: String,
    },
}

/// What a service event says about the service's incidents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceSignal {
    /// `ECS Service Action` / `SERVICE_STEADY_STATE`: the service is healthy (ECS re-sends it
    /// periodically while it stays so).
    SteadyState,
    /// `ECS Deployment State Change` / `SERVICE_DEPLOYMENT_FAILED` (the circuit breaker).
    DeploymentFailed {
        deployment_id: String,
        reason: Option<String>,
        /// The deployment ECS rolls back to, when the reason names one.
        rollback_to: Option<String>,
    },
}

/// An ECS service event that concerns incidents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEvent {
    pub event_id: Option<String>,
    pub account: String,
    pub region: String,
    /// Cluster name.
    pub cluster: String,
    /// Service name.
    pub service: String,
    pub service_arn: String,
    pub time: Option<DateTime<Utc>>,
    pub signal: ServiceSignal,
}

impl ServiceEvent {
    /// `account/region/cluster/service`, as incidents are indexed.
    pub fn service_key(&self) -> String {
        crate::model::incident::service_key(
            &self.account,
            &self.region,
            &self.cluster,
            &self.service,
        )
    }
}

/// `… rolling back to deploymentId ecs-svc/123.`
static ROLLBACK_TO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)rolling back to deployment\s*id\s+([A-Za-z0-9_./:-]+?)\.?(?:\s|$)").unwrap()
});

/// A service event (`ECS Service Action` steady state, `ECS Deployment State Change` failure), or
/// why it is not one we act on.
fn service_event(parsed: EventBridgeEvent<Value>) -> Intake {
    let detail = &parsed.detail;
    let text = |k: &str| detail.get(k).and_then(Value::as_str).map(str::to_string);
    let event_name = text("eventName").unwrap_or_default();
    let signal = match (parsed.detail_type.as_str(), event_name.as_str()) {
        ("ECS Service Action", "SERVICE_STEADY_STATE") => ServiceSignal::SteadyState,
        ("ECS Deployment State Change", "SERVICE_DEPLOYMENT_FAILED") => {
            let Some(deployment_id) = text("deploymentId") else {
                return ignored(
                    IgnoreKind::Malformed,
                    "a SERVICE_DEPLOYMENT_FAILED event without a deploymentId",
                );
            };
            let reason = text("reason");
            let rollback_to = reason
                .as_deref()
                .and_then(|r| ROLLBACK_TO.captures(r))
                .map(|c| c[1].trim_end_matches('.').to_string());
            ServiceSignal::DeploymentFailed {
                deployment_id,
                reason,
                rollback_to,
            }
        }
        (kind, name) => {
            return ignored(
                IgnoreKind::Unrelated,
                format!("{kind} {name:?} does not move an incident"),
            )
        }
    };
    // The service is the event's resource: arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME.
    let Some(service_arn) = parsed
        .resources
        .iter()
        .flatten()
        .find(|r| r.contains(":service/"))
        .cloned()
    else {
        return ignored(
            IgnoreKind::Malformed,
            "a service event without the service's ARN in resources",
        );
    };
    let Some((cluster, service)) = service_arn
        .split_once(":service/")
        .and_then(|(_, rest)| rest.split_once('/'))
    else {
        return ignored(
            IgnoreKind::Malformed,
            format!("{service_arn:?} is not a service ARN with its cluster"),
        );
    };
    let (cluster, service) = (cluster.to_string(), service.to_string());
    let account = parsed
        .account
        .clone()
        .or_else(|| crate::model::arn::account(&service_arn).map(str::to_string));
    let region = parsed
        .region
        .clone()
        .or_else(|| crate::model::arn::region(&service_arn).map(str::to_string));
    let (Some(account), Some(region)) = (account, region) else {
        return ignored(
            IgnoreKind::Malformed,
            "a service event without its account and region",
        );
    };
    Intake::Service(Box::new(ServiceEvent {
        event_id: parsed.id,
        account,
        region,
        cluster,
        service,
        service_arn,
        time: parsed.time,
        signal,
    }))
}

fn ignored(kind: IgnoreKind, reason: impl Into<String>) -> Intake {
    Intake::Ignored {
        kind,
        reason: reason.into(),
    }
}

/// Decide what to do with one EventBridge event.
pub fn intake(event: &Value) -> Intake {
    if !event.is_object() {
        return ignored(IgnoreKind::Malformed, "event is not a JSON object");
    }
    let parsed: EventBridgeEvent<Value> = match serde_json::from_value(event.clone()) {
        Ok(e) => e,
        Err(e) => {
            return ignored(
                IgnoreKind::Malformed,
                format!("not an EventBridge event: {e}"),
            )
        }
    };
    if parsed.source == "aws.ecs"
        && matches!(
            parsed.detail_type.as_str(),
            "ECS Service Action" | "ECS Deployment State Change"
        )
    {
        return service_event(parsed);
    }
    if parsed.source != "aws.ecs" || parsed.detail_type != "ECS Task State Change" {
        return ignored(
            IgnoreKind::Unrelated,
            format!(
                "event {:?} from {:?} is not an ECS task state change",
                parsed.detail_type, parsed.source
            ),
        );
    }
    let detail: TaskDetail = match serde_json::from_value(parsed.detail) {
        Ok(d) => d,
        Err(e) => {
            return ignored(
                IgnoreKind::Malformed,
                format!("task detail has an unexpected shape: {e}"),
            )
        }
    };
    let mut failure = match pull_failure_of(TaskFacts::from(detail)) {
        Ok(f) => f,
        Err(reason) => return ignored(IgnoreKind::Unrelated, reason),
    };
    failure.event_id = parsed.id;
    failure.account = parsed.account;
    failure.region = parsed.region;
    failure.time = parsed.time;
    Intake::PullFailure(Box::new(failure))
}

/// Is this message an image-pull failure, or a failure of the secrets and registry-auth step
/// before it (SSM Parameter Store secrets included)?
pub fn is_pull_failure_message(message: &str) -> bool {
    PULL_ERROR.is_match(message) || REGISTRY_AUTH_ERROR.is_match(message)
}

/// Identify the failure in a stopped task: the message, the container and the image. Also used by
/// the CLI for a task read with `DescribeTasks`.
pub fn pull_failure_of(task: TaskFacts) -> Result<PullFailure, String> {
    if task.last_status.as_deref() != Some("STOPPED") {
        return Err(format!(
            "task is not stopped (lastStatus {})",
            task.last_status.as_deref().unwrap_or("absent")
        ));
    }
    // The failing container is the one whose reason carries the error, not the first listed (a
    // healthy sidecar often is). A reason that names another container's image is that
    // container's failure, copied: it does not make this one the failing container.
    let mut owners = Owners::new(&task.containers);
    let failing_container = task.containers.iter().find(|c| {
        c.reason
            .as_deref()
            .is_some_and(|r| is_pull_failure_message(r) && owners.owns(c, r))
    });
    let message = match (failing_container, task.stopped_reason.as_deref()) {
        (Some(c), _) => c.reason.clone().unwrap_or_default(),
        (None, Some(r)) if is_pull_failure_message(r) => r.to_string(),
        (None, reason) => {
            return Err(format!(
                "task did not stop because of an image pull failure (stoppedReason: {})",
                reason
                    .map(truncate_for_log)
                    .unwrap_or_else(|| "absent".into())
            ))
        }
    };
    // When only stoppedReason names the failure, the container is the one whose image it names
    // (the most specific match), else the only container.
    let container = failing_container
        .or_else(|| container_named_by(&task.containers, &message))
        .or(match task.containers.as_slice() {
            [only] => Some(only),
            _ => None,
        })
        .cloned();
    let image = container
        .as_ref()
        .and_then(|c| pinned_image(c.image.as_deref()?, c.image_digest.as_deref()));
    Ok(PullFailure {
        event_id: None,
        account: None,
        region: None,
        time: None,
        container: container.and_then(|c| c.name),
        image,
        message,
        task,
    })
}

/// At most this many other failing images of one task are diagnosed (ECS allows 10 containers).
pub const MAX_OTHER_FAILURES: usize = 9;

/// The other containers of the failed task whose own reason is a pull failure of another image
/// than `failure`'s (a task can fail on several images at once): one failure each, to be diagnosed
/// beside `failure`. An image already covered is not repeated; at most [`MAX_OTHER_FAILURES`].
pub fn other_failures(failure: &PullFailure) -> Vec<PullFailure> {
    let containers = &failure.task.containers;
    let mut owners = Owners::new(containers);
    // Images as the task definition writes them (a digest pin may be reported for one container
    // of an image and not another).
    let primary = containers
        .iter()
        .find(|c| failure.container.is_some() && c.name == failure.container);
    let mut covered: Vec<&str> = primary
        .and_then(|c| c.image.as_deref())
        .or(failure.image.as_deref())
        .map(str::trim)
        .into_iter()
        .collect();
    let mut out = Vec::new();
    for c in containers {
        if failure.container.is_some() && c.name == failure.container {
            continue;
        }
        let Some(reason) = c
            .reason
            .as_deref()
            .filter(|r| is_pull_failure_message(r) && owners.owns(c, r))
        else {
            continue;
        };
        let Some(written) = c.image.as_deref().map(str::trim).filter(|i| !i.is_empty()) else {
            continue;
        };
        if covered.contains(&written) {
            continue;
        }
        covered.push(written);
        let image = pinned_image(written, c.image_digest.as_deref());
        out.push(PullFailure {
            container: c.name.clone(),
            image,
            message: reason.to_string(),
            ..failure.clone()
        });
        if out.len() == MAX_OTHER_FAILURES {
            break;
        }
    }
    out
}

/// How specifically `message` names `image`: the length of the longest of the image as written
/// and its repository (tag and digest removed) found in it as a whole name (`nginx` is named by
/// `docker.io/library/nginx:1.25`, not by `team/nginx-app:v2`). 0 when not named.
fn name_score(message: &str, image: Option<&str>) -> usize {
    let Some(image) = image.map(str::trim).filter(|i| !i.is_empty()) else {
        return 0;
    };
    [image, strip_tag(image)]
        .into_iter()
        .filter(|n| !n.is_empty() && names(message, n))
        .map(str::len)
        .max()
        .unwrap_or(0)
}

/// Whether `name` occurs in `message` not as part of a longer name.
fn names(message: &str, name: &str) -> bool {
    let continues = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.');
    message.match_indices(name).any(|(at, _)| {
        let before = message[..at].chars().next_back();
        let after = message[at + name.len()..].chars().next();
        !before.is_some_and(continues) && !after.is_some_and(|c| continues(c) || c == '/')
    })
}

/// The container whose image `message` names most specifically, if any does.
fn container_named_by<'a>(
    containers: &'a [ContainerFacts],
    message: &str,
) -> Option<&'a ContainerFacts> {
    let mut best: Option<(&ContainerFacts, usize)> = None;
    for c in containers {
        let score = name_score(message, c.image.as_deref());
        if score > 0 && best.is_none_or(|(_, b)| score > b) {
            best = Some((c, score));
        }
    }
    best.map(|(c, _)| c)
}

/// Decides whether a reason is about its own container's image: it names no image of the task
/// more specifically than that container's own. Remembers, per message, how specifically it names
/// the task's images (reasons repeat; a task listing many containers stays linear).
struct Owners<'a> {
    containers: &'a [ContainerFacts],
    best: std::collections::HashMap<&'a str, usize>,
}

impl<'a> Owners<'a> {
    fn new(containers: &'a [ContainerFacts]) -> Owners<'a> {
        Owners {
            containers,
            best: std::collections::HashMap::new(),
        }
    }

    fn owns(&mut self, c: &ContainerFacts, message: &'a str) -> bool {
        let containers = self.containers;
        let best = *self.best.entry(message).or_insert_with(|| {
            containers
                .iter()
                .map(|o| name_score(message, o.image.as_deref()))
                .max()
                .unwrap_or(0)
        });
        name_score(message, c.image.as_deref()) >= best
    }
}

/// The image as it was pulled: since 2024 ECS pins service deployments to a digest, which the event
/// reports in `imageDigest`; the digest is what must exist.
fn pinned_image(image: &str, digest: Option<&str>) -> Option<String> {
    let image = image.trim();
    if image.is_empty() {
        return None;
    }
    match digest.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) if !image.contains('@') => Some(format!("{image}@{d}")),
        _ => Some(image.to_string()),
    }
}

/// `repo/name:tag` → `repo/name` (so a message naming another tag still matches the container).
fn strip_tag(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}

fn truncate_for_log(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(detail: Value) -> Value {
        json!({
            "version": "0", "id": "3317b2af-7005-47ee-b2f1-0f7c1f7bbd5f",
            "detail-type": "ECS Task State Change", "source": "aws.ecs",
            "account": "111122223333", "time": "2026-11-23T08:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:ecs:us-east-1:111122223333:task/prod/abc"],
            "detail": detail
        })
    }

    /// Every sample of infra/patterns/samples: what EventBridge routes to us (`match-*`) is a
    /// pull failure or a service event; the service samples it does not route are ignored too.
    #[test]
    fn the_pattern_samples_take_the_path_their_name_says() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/patterns/samples");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let event: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let got = intake(&event);
            match (name.starts_with("match-"), name.contains("-service-"), &got) {
                (true, false, Intake::PullFailure(_)) | (true, true, Intake::Service(_)) => {}
                (false, _, Intake::Ignored { .. }) => {}
                // A task that is not STOPPED, or stopped for another reason: ignored by intake too.
                _ => panic!("{name}: {got:?}"),
            }
            seen += 1;
        }
        assert!(seen >= 16, "{seen} samples");
    }

    #[test]
    fn service_events_name_the_service_and_the_rollback() {
        let steady = json!({
            "version": "0", "id": "e-1", "detail-type": "ECS Service Action", "source": "aws.ecs",
            "account": "111122223333", "time": "2026-11-30T09:12:00Z", "region": "us-east-1",
            "resources": ["arn:aws:ecs:us-east-1:111122223333:service/prod/web"],
            "detail": {"eventType": "INFO", "eventName": "SERVICE_STEADY_STATE",
                "clusterArn": "arn:aws:ecs:us-east-1:111122223333:cluster/prod"}
        });
        let Intake::Service(e) = intake(&steady) else {
            panic!()
        };
        assert_eq!(
            (e.cluster.as_str(), e.service.as_str(), &e.signal),
            ("prod", "web", &ServiceSignal::SteadyState)
        );
        assert_eq!(e.service_key(), "111122223333/us-east-1/prod/web");

        let cases = [
            (
                "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1187621098765432101.",
                Some("ecs-svc/1187621098765432101"),
            ),
            ("ECS deployment circuit breaker: task failed to start.", None),
        ];
        for (reason, rollback) in cases {
            let mut failed = steady.clone();
            failed["detail-type"] = json!("ECS Deployment State Change");
            failed["detail"] = json!({"eventType": "ERROR", "eventName": "SERVICE_DEPLOYMENT_FAILED",
                "deploymentId": "ecs-svc/870", "reason": reason});
            let Intake::Service(e) = intake(&failed) else {
                panic!()
            };
            assert_eq!(
                e.signal,
                ServiceSignal::DeploymentFailed {
                    deployment_id: "ecs-svc/870".into(),
                    reason: Some(reason.into()),
                    rollback_to: rollback.map(str::to_string)
                }
            );
        }

        // Old-style service ARN (no cluster) or no deploymentId: malformed, ignored with why.
        let mut no_cluster = steady.clone();
        no_cluster["resources"] = json!(["arn:aws:ecs:us-east-1:111122223333:service/web"]);
        let mut no_id = steady.clone();
        no_id["detail-type"] = json!("ECS Deployment State Change");
        no_id["detail"] = json!({"eventName": "SERVICE_DEPLOYMENT_FAILED"});
        for e in [no_cluster, no_id] {
            assert!(
                matches!(
                    intake(&e),
                    Intake::Ignored {
                        kind: IgnoreKind::Malformed,
                        ..
                    }
                ),
                "{e}"
            );
        }
    }

    fn stopped(containers: Value, stopped_reason: &str) -> Value {
        json!({
            "taskArn": "arn:aws:ecs:us-east-1:111122223333:task/prod/abc",
            "clusterArn": "arn:aws:ecs:us-east-1:111122223333:cluster/prod",
            "lastStatus": "STOPPED", "launchType": "FARGATE", "group": "service:web",
            "stoppedReason": stopped_reason, "containers": containers,
            "attachments": [{"id": "a1", "type": "eni", "status": "DELETED",
                "details": [{"name": "subnetId", "value": "subnet-0ab"}]}],
            "someFutureField": {"nested": true}
        })
    }

    fn decide(ev: Value) -> Result<PullFailure, (IgnoreKind, String)> {
        match intake(&ev) {
            Intake::PullFailure(f) => Ok(*f),
            Intake::Ignored { kind, reason } => Err((kind, reason)),
            Intake::Service(e) => Err((IgnoreKind::Unrelated, format!("service event {e:?}"))),
        }
    }

    #[test]
    fn pull_failure_messages_are_recognized() {
        let cases = [
            ("CannotPullContainerError: pull image manifest has been retried 5 time(s)", true),
            ("cannotpullcontainererror: inspect image has been retried", true),
            ("CannotPullECRContainerError: AccessDeniedException", true),
            ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s)", true),
            ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried", true),
            ("ResourceInitializationError: unable to pull secrets or registry auth: pull command failed: : signal: killed", true),
            // Application secrets from SSM Parameter Store are diagnosed too (they were dropped before).
            ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried", true),
            ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid ssm parameters: /app/db-password", true),
            ("ResourceInitializationError: unable to pull secrets or registry auth: unable to retrieve secrets from ssm: The task cannot pull secrets from AWS Systems Manager. There is a connection issue between the task and AWS Systems Manager Parameter Store. Check your task network configuration.", true),
            ("ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times", false),
            ("Essential container in task exited", false),
            ("Task stopped by user", false),
            ("", false),
        ];
        for (message, expected) in cases {
            assert_eq!(is_pull_failure_message(message), expected, "{message}");
        }
    }

    #[test]
    fn failing_container_reason_wins_and_digest_is_pinned() {
        let ev = event(stopped(
            json!([
                {"name": "sidecar", "image": "public.ecr.aws/x/y:1", "lastStatus": "STOPPED"},
                {"name": "web", "image": "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1",
                 "imageDigest": "sha256:aaaa", "lastStatus": "STOPPED",
                 "reason": "CannotPullContainerError: failed to resolve ref"}
            ]),
            "Task failed to start",
        ));
        let f = decide(ev).unwrap();
        assert_eq!(f.container.as_deref(), Some("web"));
        assert_eq!(
            f.image.as_deref(),
            Some("111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1@sha256:aaaa")
        );
        assert_eq!(f.message, "CannotPullContainerError: failed to resolve ref");
        assert_eq!(
            f.event_id.as_deref(),
            Some("3317b2af-7005-47ee-b2f1-0f7c1f7bbd5f")
        );
        assert_eq!(f.account.as_deref(), Some("111122223333"));
        assert_eq!(f.task.attachments[0].details["subnetId"], "subnet-0ab");
        assert_eq!(f.task.source, TaskSource::Event);
    }

    /// A task started with `overrides.executionRoleArn` pulls with that role: intake keeps it.
    #[test]
    fn the_execution_role_override_is_kept() {
        let mut detail = stopped(
            json!([{"name": "web", "image": "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1",
                    "lastStatus": "STOPPED", "reason": "CannotPullContainerError: pull access denied"}]),
            "Task failed to start",
        );
        detail["overrides"] = json!({"containerOverrides": [{"name": "web"}],
            "executionRoleArn": "arn:aws:iam::111122223333:role/batch-exec"});
        let f = decide(event(detail.clone())).unwrap();
        assert_eq!(
            f.task.execution_role_override.as_deref(),
            Some("arn:aws:iam::111122223333:role/batch-exec")
        );
        detail["overrides"] = json!({"containerOverrides": []});
        assert_eq!(
            decide(event(detail)).unwrap().task.execution_role_override,
            None
        );
    }

    #[test]
    fn stopped_reason_names_the_container_by_image() {
        let ev = event(stopped(
            json!([
                {"name": "a", "image": "nginx:1.25"},
                {"name": "b", "image": "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v2"}
            ]),
            "CannotPullContainerError: ref pull has been retried 1 time(s): failed to resolve ref 111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v2: not found",
        ));
        let f = decide(ev).unwrap();
        assert_eq!(f.container.as_deref(), Some("b"));
    }

    const APP: &str = "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/nginx-app:v2";

    fn not_found(image: &str) -> String {
        format!("CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {image}: {image}: not found")
    }

    #[test]
    fn a_healthy_sidecar_listed_first_never_takes_the_failure() {
        // (containers, stoppedReason, expected container): the sidecar comes first every time.
        let cases = [
            // Only stoppedReason names the failure, and the sidecar's image name is part of the
            // app's: the whole name decides, not a substring.
            (
                json!([{"name": "proxy", "image": "nginx"}, {"name": "app", "image": APP}]),
                not_found(APP),
                Some("app"),
            ),
            (
                json!([{"name": "proxy", "image": "nginx:1.25"}, {"name": "app", "image": APP}]),
                not_found(APP),
                Some("app"),
            ),
            // Docker Hub names: `nginx` is pulled as docker.io/library/nginx.
            (
                json!([{"name": "app", "image": APP}, {"name": "proxy", "image": "nginx:1.25"}]),
                not_found("docker.io/library/nginx:1.25"),
                Some("proxy"),
            ),
            // Same repository, two tags: the tag the message names.
            (
                json!([{"name": "old", "image": "team/app:v1"}, {"name": "new", "image": "team/app:v2"}]),
                not_found("docker.io/team/app:v2"),
                Some("new"),
            ),
            // The sidecar carries the app's error (copied): the app is the failing container.
            (
                json!([{"name": "proxy", "image": "nginx:1.25", "reason": not_found(APP)}, {"name": "app", "image": APP, "reason": not_found(APP)}]),
                "Task failed to start".into(),
                Some("app"),
            ),
            // A message that names no image of the task: no container can be told.
            (
                json!([{"name": "proxy", "image": "nginx:1.25"}, {"name": "app", "image": APP}]),
                "CannotPullContainerError: i/o timeout".into(),
                None,
            ),
        ];
        for (containers, reason, expected) in cases {
            let f = decide(event(stopped(containers.clone(), &reason))).unwrap();
            assert_eq!(f.container.as_deref(), expected, "{containers} / {reason}");
            if let Some(name) = expected {
                let image = containers
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["name"] == name)
                    .unwrap()["image"]
                    .as_str()
                    .unwrap();
                assert_eq!(f.image.as_deref(), Some(image));
            }
            assert!(other_failures(&f).is_empty(), "{containers}");
        }
    }

    /// `diagnose --cluster --task` reads the task with DescribeTasks and picks the same way.
    #[test]
    fn the_cli_picks_the_failing_container_of_a_described_task() {
        use aws_sdk_ecs::types::{Container, Task};
        let described = |reason_on_app: bool| {
            let app = Container::builder().name("app").image(APP);
            let app = if reason_on_app {
                app.reason(not_found(APP))
            } else {
                app
            };
            Task::builder()
                .task_arn("arn:aws:ecs:us-east-1:111122223333:task/prod/abc")
                .cluster_arn("arn:aws:ecs:us-east-1:111122223333:cluster/prod")
                .last_status("STOPPED")
                .stopped_reason(if reason_on_app {
                    "Task failed to start".to_string()
                } else {
                    not_found(APP)
                })
                .containers(
                    Container::builder()
                        .name("proxy")
                        .image("nginx")
                        .last_status("STOPPED")
                        .build(),
                )
                .containers(app.build())
                .build()
        };
        for reason_on_app in [true, false] {
            let f = pull_failure_of(crate::collect::ecs::task_facts(&described(reason_on_app)))
                .unwrap();
            assert_eq!(
                (f.container.as_deref(), f.image.as_deref()),
                (Some("app"), Some(APP)),
                "{reason_on_app}"
            );
            assert_eq!(f.task.source, TaskSource::DescribeTasks);
        }
    }

    #[test]
    fn every_failing_image_of_the_task_is_a_failure() {
        let log = "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/log-router:v3";
        let containers = json!([
            {"name": "proxy", "image": "nginx:1.25", "lastStatus": "STOPPED"},
            {"name": "app", "image": APP, "imageDigest": "sha256:aaaa", "reason": not_found(APP)},
            {"name": "log", "image": log, "reason": not_found(log)},
            {"name": "app-copy", "image": APP, "reason": not_found(APP)},
        ]);
        let f = decide(event(stopped(
            containers,
            "CannotPullContainerError: see containers",
        )))
        .unwrap();
        assert_eq!(f.container.as_deref(), Some("app"));
        let others = other_failures(&f);
        let got: Vec<(Option<&str>, Option<&str>, &str)> = others
            .iter()
            .map(|o| {
                (
                    o.container.as_deref(),
                    o.image.as_deref(),
                    o.message.as_str(),
                )
            })
            .collect();
        // The log router is its own failure; the second container of the app's image is the app's.
        assert_eq!(got, vec![(Some("log"), Some(log), not_found(log).as_str())]);
        assert_eq!(others[0].task, f.task);
        assert_eq!(others[0].event_id, f.event_id);
    }

    #[test]
    fn unrelated_and_malformed_events_are_ignored_with_a_reason() {
        let cases: Vec<(Value, IgnoreKind)> = vec![
            (json!({}), IgnoreKind::Malformed),
            (json!([]), IgnoreKind::Malformed),
            (json!("x"), IgnoreKind::Malformed),
            (json!(null), IgnoreKind::Malformed),
            (
                json!({"source": "aws.ecs", "detail-type": "ECS Task State Change", "detail": "oops"}),
                IgnoreKind::Malformed,
            ),
            (
                json!({"source": "aws.ecs", "detail-type": "ECS Task State Change", "detail": {"containers": "x"}}),
                IgnoreKind::Malformed,
            ),
            (
                json!({"source": "aws.ecs", "detail": {}}),
                IgnoreKind::Malformed,
            ),
            (
                json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}),
                IgnoreKind::Unrelated,
            ),
            (
                event(stopped(
                    json!([{"name": "web", "image": "nginx"}]),
                    "Essential container in task exited",
                )),
                IgnoreKind::Unrelated,
            ),
            (
                event(
                    json!({"lastStatus": "RUNNING", "stoppedReason": "CannotPullContainerError: x"}),
                ),
                IgnoreKind::Unrelated,
            ),
        ];
        for (ev, kind) in cases {
            let (got, reason) = decide(ev.clone()).expect_err(&ev.to_string());
            assert_eq!(got, kind, "{ev} → {reason}");
            assert!(!reason.is_empty());
        }
    }

    /// Before, a task stopped by an SSM Parameter Store secret was ignored as "unrelated"; it is
    /// now a failure to diagnose, with its message and container.
    #[test]
    fn ssm_secret_failure_is_accepted() {
        let message = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid ssm parameters: /app/db-password";
        let ev = event(stopped(
            json!([{"name": "web", "image": "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1", "lastStatus": "STOPPED"}]),
            message,
        ));
        let f = decide(ev).expect("an SSM secrets failure is diagnosed");
        assert_eq!(f.message, message);
        assert_eq!(f.container.as_deref(), Some("web"));
    }

    #[test]
    fn absent_image_is_none_not_empty() {
        let ev = event(stopped(
            json!([{"name": "web", "image": "  "}, {"name": "x"}]),
            "CannotPullContainerError: boom",
        ));
        let f = decide(ev).unwrap();
        assert_eq!(f.image, None);
    }
}
