//! EventBridge `ECS Task State Change` events in the shape AWS sends them, and the saved
//! fixtures in `tests/fixtures/events/`.

use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::util::{random_uuid, sha256_digest};
use crate::worlds::{StoppedTask, World};

/// Real-format failure messages (Fargate platform 1.4.0, containerd).
pub mod messages {
    /// Tag or digest unknown to the registry.
    pub fn image_not_found(image_ref: &str) -> String {
        format!(
            "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {image_ref}: {image_ref}: not found"
        )
    }

    /// The registry refused the anonymous/unauthenticated manifest request.
    pub fn unauthorized(image_ref: &str, registry: &str, reference: &str) -> String {
        format!(
            "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {image_ref}: pulling from host {registry} failed with status code [manifests {reference}]: 401 Unauthorized"
        )
    }

    /// The registry refused the credentials it was given (the role may not pull).
    pub fn forbidden(image_ref: &str, registry: &str, reference: &str) -> String {
        format!(
            "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {image_ref}: pulling from host {registry} failed with status code [manifests {reference}]: 403 Forbidden"
        )
    }

    /// The registry could not be reached (no route, SG, NACL…).
    pub fn io_timeout(
        image_ref: &str,
        registry: &str,
        repository: &str,
        reference: &str,
    ) -> String {
        format!(
            "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {image_ref}: failed to do request: Head \"https://{registry}/v2/{repository}/manifests/{reference}\": dial tcp 52.46.134.71:443: i/o timeout"
        )
    }

    /// Not an image-pull failure at all.
    pub const ESSENTIAL_CONTAINER_EXITED: &str = "Essential container in task exited";
}

/// One container of the event's `detail.containers`.
#[derive(Debug, Clone)]
pub struct EventContainer {
    pub name: String,
    pub image: String,
    pub image_digest: Option<String>,
    pub reason: Option<String>,
    pub exit_code: Option<i64>,
}

/// Builder for a STOPPED `ECS Task State Change` event of a Fargate task.
#[derive(Debug, Clone)]
pub struct TaskEvent {
    pub account: String,
    pub region: String,
    pub task: StoppedTask,
    pub containers: Vec<EventContainer>,
    pub stopped_reason: String,
    pub stop_code: String,
    /// `eni` in the events AWS sends (`ElasticNetworkInterface` in `DescribeTasks`).
    pub attachment_type: String,
}

impl TaskEvent {
    /// A task of `world` with one container, stopped for `stopped_reason` with `stop_code`.
    fn stopped(
        world: &World,
        task: &StoppedTask,
        container: EventContainer,
        stopped_reason: &str,
        stop_code: &str,
    ) -> TaskEvent {
        TaskEvent {
            account: world.account.clone(),
            region: world.region.clone(),
            task: task.clone(),
            containers: vec![container],
            stopped_reason: stopped_reason.to_string(),
            stop_code: stop_code.to_string(),
            attachment_type: "eni".to_string(),
        }
    }

    /// A task whose one container could not pull `image`: `stopCode: TaskFailedToStart`,
    /// `stoppedReason` and the container `reason` both carry `message`.
    pub fn pull_failure(
        world: &World,
        task: &StoppedTask,
        container: &str,
        image: &str,
        message: &str,
    ) -> TaskEvent {
        let container = EventContainer {
            name: container.to_string(),
            image: image.to_string(),
            image_digest: None,
            reason: Some(message.to_string()),
            exit_code: None,
        };
        TaskEvent::stopped(world, task, container, message, "TaskFailedToStart")
    }

    /// A task whose essential container ran and exited with code 1 (not a pull failure).
    pub fn essential_container_exited(
        world: &World,
        task: &StoppedTask,
        container: &str,
        image: &str,
    ) -> TaskEvent {
        let container = EventContainer {
            name: container.to_string(),
            image: image.to_string(),
            image_digest: Some(sha256_digest(image.as_bytes())),
            reason: None,
            exit_code: Some(1),
        };
        TaskEvent::stopped(
            world,
            task,
            container,
            messages::ESSENTIAL_CONTAINER_EXITED,
            "EssentialContainerExited",
        )
    }

    /// Pins the (first) container to a digest, as ECS does since deployments resolve digests.
    pub fn image_digest(mut self, digest: &str) -> TaskEvent {
        if let Some(c) = self.containers.first_mut() {
            c.image_digest = Some(digest.to_string());
        }
        self
    }

    pub fn to_value(&self) -> Value {
        let now = Utc::now();
        let ts = |secs_ago: i64| {
            (now - chrono::Duration::milliseconds(secs_ago * 1000 + 137))
                .to_rfc3339_opts(SecondsFormat::Millis, true)
        };
        let t = &self.task;
        let task_id = t
            .task_arn
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let cluster_name = t
            .cluster_arn
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        // A container that ran has an exit code: the task got past the pull.
        let ran = self.containers.iter().any(|c| c.exit_code.is_some());
        let containers: Vec<Value> = self
            .containers
            .iter()
            .map(|c| {
                let mut v = json!({
                    "containerArn": format!("arn:aws:ecs:{}:{}:container/{cluster_name}/{task_id}/{}", self.region, self.account, random_uuid()),
                    "lastStatus": "STOPPED",
                    "name": c.name,
                    "image": c.image,
                    "taskArn": t.task_arn,
                    "networkInterfaces": [{
                        "attachmentId": random_uuid(),
                        "privateIpv4Address": t.eni.private_ipv4_address,
                    }],
                    "cpu": "0",
                    "memory": "512",
                });
                if let Some(d) = &c.image_digest {
                    v["imageDigest"] = json!(d);
                }
                if let Some(r) = &c.reason {
                    v["reason"] = json!(r);
                }
                if let Some(code) = c.exit_code {
                    v["exitCode"] = json!(code);
                    v["runtimeId"] = json!(format!("{task_id}-{}", 1_234_567_890u64));
                }
                v
            })
            .collect();
        let mut detail = json!({
            "attachments": [{
                "id": random_uuid(),
                "type": self.attachment_type,
                "status": t.eni.attachment_status,
                "details": [
                    {"name": "subnetId", "value": t.eni.subnet_id},
                    {"name": "networkInterfaceId", "value": t.eni.network_interface_id},
                    {"name": "macAddress", "value": t.eni.mac_address},
                    {"name": "privateDnsName", "value": t.eni.private_dns_name},
                    {"name": "privateIPv4Address", "value": t.eni.private_ipv4_address},
                ],
            }],
            "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
            "availabilityZone": t.availability_zone,
            "clusterArn": t.cluster_arn,
            "containers": containers,
            "cpu": "256",
            "memory": "512",
            "createdAt": ts(75),
            "desiredStatus": "STOPPED",
            "enableExecuteCommand": false,
            "ephemeralStorage": {"sizeInGiB": 20},
            "group": t.group,
            "launchType": "FARGATE",
            "lastStatus": "STOPPED",
            "overrides": {"containerOverrides": self.containers.iter().map(|c| json!({"name": c.name})).collect::<Vec<_>>()},
            "platformVersion": t.platform_version,
            "platformFamily": "Linux",
            "startedBy": t.started_by,
            "stopCode": self.stop_code,
            "stoppedReason": self.stopped_reason,
            "stoppingAt": ts(6),
            "stoppedAt": ts(2),
            "taskArn": t.task_arn,
            "taskDefinitionArn": t.task_definition_arn,
            "updatedAt": ts(2),
            "version": 4,
        });
        detail["pullStartedAt"] = json!(ts(60));
        if ran {
            detail["pullStoppedAt"] = json!(ts(50));
            detail["startedAt"] = json!(ts(45));
            detail["connectivity"] = json!("CONNECTED");
            detail["connectivityAt"] = json!(ts(55));
            detail["executionStoppedAt"] = json!(ts(8));
        }
        json!({
            "version": "0",
            "id": random_uuid(),
            "detail-type": "ECS Task State Change",
            "source": "aws.ecs",
            "account": self.account,
            "time": now.to_rfc3339_opts(SecondsFormat::Secs, true),
            "region": self.region,
            "resources": [t.task_arn],
            "detail": detail,
        })
    }
}

/// `tests/fixtures/events/`.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("events")
}

/// Loads `tests/fixtures/events/<name>`.
pub fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Names of every saved fixture event.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("read fixtures dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// The saved tag-not-found fixture, retargeted at `task_definition`, `image` and `message` (a
/// task older than the `DescribeTasks` window: the event's copy is all there is).
pub fn retargeted_fixture(task_definition: &str, image: &str, message: &str) -> Value {
    let mut e = fixture("cannot-pull-image-tag-not-found.json");
    let d = &mut e["detail"];
    d["taskDefinitionArn"] = json!(task_definition);
    d["containers"][0]["image"] = json!(image);
    d["containers"][0]["reason"] = json!(message);
    d["stoppedReason"] = json!(message);
    e
}

/// ECS service events, as EventBridge delivers them (ECS developer guide, "service action events"
/// and "service deployment state change events"). `time` is now: after the failures a test sent.
pub mod service {
    use chrono::{SecondsFormat, Utc};
    use serde_json::{json, Value};

    use crate::World;

    fn event(
        world: &World,
        detail_type: &str,
        cluster: &str,
        service: &str,
        detail: Value,
    ) -> Value {
        json!({
            "version": "0",
            "id": crate::util::random_uuid(),
            "detail-type": detail_type,
            "source": "aws.ecs",
            "account": world.account,
            "time": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
            "region": world.region,
            "resources": [format!("arn:aws:ecs:{}:{}:service/{cluster}/{service}", world.region, world.account)],
            "detail": detail,
        })
    }

    /// `SERVICE_STEADY_STATE` (ECS sends it again every so often while the service stays healthy).
    pub fn steady_state(world: &World, cluster: &str, service: &str) -> Value {
        let cluster_arn = format!(
            "arn:aws:ecs:{}:{}:cluster/{cluster}",
            world.region, world.account
        );
        event(
            world,
            "ECS Service Action",
            cluster,
            service,
            json!({
                "eventType": "INFO", "eventName": "SERVICE_STEADY_STATE", "clusterArn": cluster_arn,
                "createdAt": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
            }),
        )
    }

    /// `SERVICE_DEPLOYMENT_FAILED` from the circuit breaker, rolling back to `rollback_to` if given.
    pub fn deployment_failed(
        world: &World,
        cluster: &str,
        service: &str,
        deployment_id: &str,
        rollback_to: Option<&str>,
    ) -> Value {
        let reason = match rollback_to {
            Some(id) => {
                format!("ECS deployment circuit breaker: rolling back to deploymentId {id}.")
            }
            None => "ECS deployment circuit breaker: task failed to start.".to_string(),
        };
        event(
            world,
            "ECS Deployment State Change",
            cluster,
            service,
            json!({
                "eventType": "ERROR", "eventName": "SERVICE_DEPLOYMENT_FAILED", "deploymentId": deployment_id,
                "updatedAt": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true), "reason": reason
            }),
        )
    }
}
