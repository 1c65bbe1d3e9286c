//! Self-tests of the harness: moto starts, worlds build with the real SDK, the SNS → SQS path
//! delivers envelopes, and the fixtures have the shape of real events. These do not need the
//! engine; they prove the premises the scenarios rely on (e.g. that `DescribeTasks` sees a stopped
//! task but not an unknown ARN).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use pulldoctor_tests::events::{self, messages, TaskEvent};
use pulldoctor_tests::{split_sns_body, TaskDefSpec, World};
use serde_json::{json, Value};

#[tokio::test]
async fn world_builds_a_stopped_fargate_task_that_describe_tasks_finds() {
    let t0 = Instant::now();
    let world = World::new().await;
    let startup = world.moto.startup();
    eprintln!("moto startup: {startup:?}");

    let net = world.network().await;
    let cluster = world.cluster("prod").await;
    let role = world.execution_role("ecsTaskExecutionRole").await;
    let repo = world.repository("team/web").await;
    let first = world.push_image(&repo, "v1", "web-build-1").await;
    let td = world
        .task_definition(&TaskDefSpec {
            family: "web".into(),
            container: "web".into(),
            image: repo.image("v1"),
            execution_role_arn: Some(role.clone()),
        })
        .await;
    world.service("prod", "web", &td, &net).await;
    let task = world
        .run_stopped_task("prod", &td, &net, "service:web")
        .await;
    eprintln!("world built {:?} after moto start", t0.elapsed() - startup);

    // The execution role carries the managed policy (MOTO_IAM_LOAD_MANAGED_POLICIES=true).
    let attached = world
        .iam
        .list_attached_role_policies()
        .role_name("ecsTaskExecutionRole")
        .send()
        .await
        .unwrap();
    let arns: Vec<_> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
        .collect();
    assert_eq!(arns, [pulldoctor_tests::EXECUTION_ROLE_POLICY_ARN]);
    let trust = world
        .iam
        .get_role()
        .role_name("ecsTaskExecutionRole")
        .send()
        .await
        .unwrap();
    let doc = trust
        .role()
        .unwrap()
        .assume_role_policy_document()
        .unwrap_or_default();
    assert!(
        urlencoding_decode(doc).contains("ecs-tasks.amazonaws.com"),
        "trust policy: {doc}"
    );

    // The stopped task is visible to DescribeTasks with what the event will claim.
    let described = world
        .ecs
        .describe_tasks()
        .cluster(&cluster)
        .tasks(&task.task_arn)
        .send()
        .await
        .unwrap();
    let got = described
        .tasks()
        .first()
        .expect("DescribeTasks should find the stopped task");
    assert_eq!(got.task_arn(), Some(task.task_arn.as_str()));
    assert_eq!(got.last_status(), Some("STOPPED"));
    assert_eq!(got.group(), Some("service:web"));
    assert_eq!(got.task_definition_arn(), Some(td.as_str()));
    assert_eq!(task.eni.subnet_id, net.subnet_id);
    // moto sent `containers[].cpu` as a number; the compat proxy made it a string (else the SDK
    // calls above would have failed with "expected string").
    assert!(
        world.moto.rewritten_responses() >= 2,
        "RunTask and DescribeTasks responses rewritten"
    );
    assert_eq!(got.containers()[0].cpu(), Some("0"));

    // An ARN moto never saw: no task. (moto returns no MISSING failure either, unlike ECS.)
    let unknown = world.unknown_task(&cluster, &td, &net, "service:web");
    let described = world
        .ecs
        .describe_tasks()
        .cluster(&cluster)
        .tasks(&unknown.task_arn)
        .send()
        .await
        .unwrap();
    assert!(
        described.tasks().is_empty(),
        "unknown ARN should not be found: {described:?}"
    );
    eprintln!(
        "DescribeTasks(unknown ARN) failures from moto: {:?}",
        described.failures()
    );

    // Distinct seeds give distinct digests; re-pushing a tag moves it (moto drops the old image).
    let second = world.push_image(&repo, "v1", "web-build-2").await;
    assert_ne!(first, second);
    let images = world.images(&repo).await;
    assert!(
        images
            .iter()
            .any(|(d, tags)| d == &second && tags == &["v1"]),
        "{images:?}"
    );
    world.delete_image(&repo, &first).await; // no-op in moto; real ECR would keep it untagged
    assert!(!world.images(&repo).await.iter().any(|(d, _)| d == &first));

    // The event built from this task is a real-format pull failure event.
    let event = TaskEvent::pull_failure(
        &world,
        &task,
        "web",
        &repo.image("v2"),
        &messages::image_not_found(&repo.image("v2")),
    )
    .to_value();
    assert_eq!(event["resources"][0], json!(task.task_arn));
    assert_eq!(event["detail"]["taskArn"], json!(task.task_arn));
    assert_eq!(event["detail"]["clusterArn"], json!(cluster));
    assert_eq!(
        event["detail"]["containers"][0]["reason"],
        event["detail"]["stoppedReason"]
    );
}

/// Minimal percent-decoding for IAM's URL-encoded policy documents.
fn urlencoding_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn sns_publish_arrives_in_the_queue_as_an_envelope_with_subject_and_body() {
    let world = World::new().await;
    let inbox = world.sns_inbox("pulldoctor").await;
    let body = "web (prod, us-east-1): the image tag v2 does not exist in team/web.\n\n\
                {\"schema\":\"pulldoctor.diagnosis/v1\",\"root_cause\":{\"code\":\"ECR_IMAGE_NOT_FOUND\"}}";
    world
        .sns
        .publish()
        .topic_arn(&inbox.topic_arn)
        .subject("pulldoctor: web cannot pull its image (ECR_IMAGE_NOT_FOUND)")
        .message(body)
        .send()
        .await
        .unwrap();

    let messages = world.read_sns_messages(&inbox).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(
        messages[0].subject.as_deref(),
        Some("pulldoctor: web cannot pull its image (ECR_IMAGE_NOT_FOUND)")
    );
    assert_eq!(messages[0].message, body);
    assert_eq!(messages[0].envelope["TopicArn"], json!(inbox.topic_arn));
    let (summary, diagnosis) = split_sns_body(&messages[0].message);
    assert!(summary.starts_with("web (prod, us-east-1)"));
    assert_eq!(diagnosis["schema"], "pulldoctor.diagnosis/v1");
    assert_eq!(diagnosis["root_cause"]["code"], "ECR_IMAGE_NOT_FOUND");

    // Read messages are gone; nothing else arrives.
    assert!(world
        .sns_messages_within(&inbox, Duration::from_millis(500))
        .await
        .is_empty());
}

#[tokio::test]
async fn parallel_worlds_are_isolated() {
    let (a, b) = tokio::join!(World::new(), World::new());
    assert_ne!(a.moto.port(), b.moto.port());
    a.cluster("only-in-a").await;
    let in_b = b.ecs.list_clusters().send().await.unwrap();
    assert!(
        !in_b
            .cluster_arns()
            .iter()
            .any(|arn| arn.ends_with("/only-in-a")),
        "world b sees world a's cluster: {in_b:?}"
    );
}

#[test]
fn split_sns_body_finds_the_json_after_the_summary() {
    let (summary, json) =
        split_sns_body("line one\nline two {\"schema\" inline}\n\n{\"schema\":\"pulldoctor.diagnosis/v1\",\"x\":[1,\n2]}\n");
    assert_eq!(summary, "line one\nline two {\"schema\" inline}");
    assert_eq!(json["x"], json!([1, 2]));
}

#[test]
#[should_panic(expected = "blank line")]
fn split_sns_body_requires_a_blank_line_before_the_json() {
    split_sns_body("summary\n{\"schema\":\"pulldoctor.diagnosis/v1\"}");
}

#[test]
#[should_panic(expected = "no line starting with")]
fn split_sns_body_requires_the_json() {
    split_sns_body("summary only\n\nno json here");
}

fn key_paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = format!("{prefix}/{k}");
                out.insert(path.clone());
                key_paths(v, &path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                key_paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// The saved fixtures and the builder agree on the real event shape (so the CLI/README examples and
/// the moto scenarios exercise the same parser paths).
#[test]
fn fixtures_are_real_format_pull_failure_events() {
    let names = events::fixture_names();
    assert!(names.len() >= 3, "fixtures: {names:?}");

    // Keys every STOPPED Fargate pull-failure event carries.
    let required: BTreeSet<&str> = [
        "/version",
        "/id",
        "/detail-type",
        "/source",
        "/account",
        "/time",
        "/region",
        "/resources",
        "/detail",
        "/detail/attachments",
        "/detail/attachments[]/type",
        "/detail/attachments[]/status",
        "/detail/attachments[]/details",
        "/detail/attachments[]/details[]/name",
        "/detail/attachments[]/details[]/value",
        "/detail/availabilityZone",
        "/detail/clusterArn",
        "/detail/containers",
        "/detail/containers[]/containerArn",
        "/detail/containers[]/lastStatus",
        "/detail/containers[]/name",
        "/detail/containers[]/image",
        "/detail/containers[]/reason",
        "/detail/containers[]/taskArn",
        "/detail/containers[]/networkInterfaces",
        "/detail/cpu",
        "/detail/memory",
        "/detail/createdAt",
        "/detail/desiredStatus",
        "/detail/group",
        "/detail/launchType",
        "/detail/lastStatus",
        "/detail/platformVersion",
        "/detail/platformFamily",
        "/detail/stopCode",
        "/detail/stoppedReason",
        "/detail/stoppingAt",
        "/detail/stoppedAt",
        "/detail/taskArn",
        "/detail/taskDefinitionArn",
        "/detail/version",
    ]
    .into_iter()
    .collect();

    for name in &names {
        let e = events::fixture(name);
        let mut paths = BTreeSet::new();
        key_paths(&e, "", &mut paths);
        let missing: Vec<_> = required.iter().filter(|p| !paths.contains(**p)).collect();
        assert!(missing.is_empty(), "{name}: missing {missing:?}");
        assert_eq!(e["detail-type"], "ECS Task State Change", "{name}");
        assert_eq!(e["source"], "aws.ecs", "{name}");
        assert_eq!(e["resources"][0], e["detail"]["taskArn"], "{name}");
        assert_eq!(e["detail"]["lastStatus"], "STOPPED", "{name}");
        assert_eq!(e["detail"]["stopCode"], "TaskFailedToStart", "{name}");
        let reason = e["detail"]["stoppedReason"].as_str().unwrap();
        assert!(
            reason.starts_with("CannotPullContainerError:")
                || reason.starts_with(
                    "ResourceInitializationError: unable to pull secrets or registry auth"
                ),
            "{name}: {reason}"
        );
        // The builder produces at least every key the fixtures have (modulo optional ones).
        let world_free = builder_paths();
        let extra: Vec<_> = paths
            .iter()
            .filter(|p| !world_free.contains(*p) && !p.ends_with("/imageDigest"))
            .collect();
        assert!(
            extra.is_empty(),
            "{name} has keys the builder never produces: {extra:?}"
        );
    }
}

/// Key paths of a builder event (no moto needed: the builder only formats values).
fn builder_paths() -> BTreeSet<String> {
    use pulldoctor_tests::{Eni, StoppedTask};
    let task = StoppedTask {
        task_arn: "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef"
            .into(),
        cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod".into(),
        task_definition_arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1".into(),
        group: "service:web".into(),
        started_by: "ecs-svc/1234567890123456789".into(),
        availability_zone: "us-east-1a".into(),
        platform_version: "1.4.0".into(),
        eni: Eni {
            subnet_id: "subnet-1".into(),
            network_interface_id: "eni-1".into(),
            mac_address: "0e:00:00:00:00:01".into(),
            private_dns_name: "ip-10-0-1-1.ec2.internal".into(),
            private_ipv4_address: "10.0.1.1".into(),
            attachment_status: "DELETED".into(),
        },
    };
    let event = TaskEvent {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        task,
        containers: vec![events::EventContainer {
            name: "web".into(),
            image: "img".into(),
            image_digest: None,
            reason: Some("CannotPullContainerError: x".into()),
            exit_code: None,
        }],
        stopped_reason: "CannotPullContainerError: x".into(),
        stop_code: "TaskFailedToStart".into(),
        attachment_type: "eni".into(),
    }
    .to_value();
    let mut paths = BTreeSet::new();
    key_paths(&event, "", &mut paths);
    paths
}

#[test]
fn compat_proxy_turns_container_numbers_into_strings_only() {
    let mut doc = json!({"tasks": [{"cpu": 256, "containers": [{"cpu": 0, "memory": 512, "exitCode": 1, "name": "web"}]}]});
    assert!(pulldoctor_tests::proxy::stringify_container_numbers(
        &mut doc
    ));
    assert_eq!(
        doc,
        json!({"tasks": [{"cpu": 256, "containers": [{"cpu": "0", "memory": "512", "exitCode": 1, "name": "web"}]}]})
    );
    assert!(!pulldoctor_tests::proxy::stringify_container_numbers(
        &mut doc
    ));
}
