//! Tasks with several containers (issue 12): the failing container is the one whose reason (or,
//! with only `stoppedReason`, whose image) the error names — never a healthy sidecar because it is
//! listed first — and when several containers fail on different images, each image is diagnosed.
//!
//! moto 5.2.1 reports only the first container of a task definition in `RunTask`/`DescribeTasks`
//! (here: the sidecar), which is also what makes these worlds a fair test that the collector does
//! not re-pick the failing container from `DescribeTasks`.

use aws_sdk_ecs::types::ContainerDefinition;
use pulldoctor::collect::{Clients, Options};
use pulldoctor::engine::Run;
use pulldoctor::intake::{intake, Intake};
use pulldoctor::model::diagnosis::{Diagnosis, RootCause, Status};
use pulldoctor_tests::events::{messages, EventContainer, TaskEvent};
use pulldoctor_tests::{Launch, Network, Repository, StoppedTask, WebAccount, World};

/// The usual account's service `web` (Fargate, private subnet behind a NAT), whose task definition
/// lists a log-router sidecar first (`team/web:v1`, pushed) and the app second
/// (`team/web-api:v2`, not pushed; only `v1` is). The sidecar's repository name is a prefix of the
/// app's.
struct Setup {
    world: World,
    net: Network,
    sidecar_image: String,
    app_repo: Repository,
    app_image: String,
    task_definition: String,
}

async fn setup() -> Setup {
    let WebAccount {
        world,
        net,
        role_arn,
        image: sidecar_image,
        ..
    } = WebAccount::build().await;
    let app_repo = world.repository("team/web-api").await;
    world.push_image(&app_repo, "v1", "api-v1").await;
    let app_image = app_repo.image("v2");
    let container = |name: &str, image: &str, essential: bool| {
        ContainerDefinition::builder()
            .name(name)
            .image(image)
            .essential(essential)
            .memory_reservation(256)
            .build()
    };
    let containers = vec![
        container("log-router", &sidecar_image, false),
        container("app", &app_image, true),
    ];
    let task_definition = world
        .register_task_definition("web", Some(&role_arn), Launch::Fargate, containers)
        .await;
    world.service("prod", "web", &task_definition, &net).await;
    Setup {
        world,
        net,
        sidecar_image,
        app_repo,
        app_image,
        task_definition,
    }
}

impl Setup {
    /// A task of the service that moto ran and stopped (DescribeTasks still answers).
    async fn stopped_task(&self) -> StoppedTask {
        self.world
            .run_stopped_task("prod", &self.task_definition, &self.net, "service:web")
            .await
    }

    /// `event` as a less complete copy would carry it: without its `group`, so that the collector
    /// asks `DescribeTasks` (whose answer moto gives with the sidecar alone).
    fn without_group(mut event: serde_json::Value) -> serde_json::Value {
        event["detail"].as_object_mut().unwrap().remove("group");
        event
    }

    fn container(name: &str, image: &str, reason: Option<String>) -> EventContainer {
        EventContainer {
            name: name.into(),
            image: image.into(),
            image_digest: None,
            reason,
            exit_code: None,
        }
    }

    async fn diagnose(&self, event: serde_json::Value) -> Run {
        let Intake::PullFailure(failure) = intake(&event) else {
            panic!("not a pull failure: {event:#}")
        };
        pulldoctor::engine::diagnose_with(
            &Clients::new(&self.world.config),
            &failure,
            Options::default(),
        )
        .await
    }
}

fn dump(d: &Diagnosis) -> String {
    d.findings
        .iter()
        .map(|f| format!("{:7} {:28} {}", f.status.as_str(), f.code.code(), f.title))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The sidecar is listed first in the event, the task definition and DescribeTasks; the error is
/// the app's. Both when the app's own `reason` carries it and when only `stoppedReason` does.
#[tokio::test]
async fn a_healthy_sidecar_listed_first_does_not_take_the_diagnosis() {
    let s = setup().await;
    let task = s.stopped_task().await;
    let message = messages::image_not_found(&s.app_image);
    let with_reason = |reason: bool| {
        let mut event = TaskEvent::pull_failure(&s.world, &task, "app", &s.app_image, &message);
        event.containers = vec![
            Setup::container("log-router", &s.sidecar_image, None),
            Setup::container("app", &s.app_image, reason.then(|| message.clone())),
        ];
        event.to_value()
    };
    // Before issue 12, the stoppedReason-only event named the sidecar: its repository
    // (`…/team/web`) is a substring of the app's (`…/team/web-api:v2`).
    for (reason, complete) in [(true, true), (false, true), (true, false), (false, false)] {
        let event = if complete {
            with_reason(reason)
        } else {
            Setup::without_group(with_reason(reason))
        };
        let run = s.diagnose(event).await;
        let d = &run.diagnosis;
        assert_eq!(
            d.failure.container.as_deref(),
            Some("app"),
            "reason on the container: {reason}"
        );
        assert_eq!(
            d.failure.image.as_deref(),
            Some(s.app_image.as_str()),
            "reason on the container: {reason}"
        );
        assert_eq!(
            d.root_cause.code,
            RootCause::EcrImageNotFound,
            "{}",
            dump(d)
        );
        assert!(
            d.root_cause.title.contains("v2") && d.root_cause.title.contains(&s.app_repo.name),
            "{}",
            d.root_cause.title
        );
        // The sidecar did not fail: nothing else to report.
        assert!(d.other_failures.is_empty(), "{:?}", d.other_failures);
        if complete {
            // The event carries the whole task: DescribeTasks is not asked.
            assert_eq!(
                run.facts.task.source,
                pulldoctor::model::facts::TaskSource::Event
            );
            assert!(
                run.stats
                    .records
                    .iter()
                    .all(|r| r.action != "ecs:DescribeTasks"),
                "{:#?}",
                run.stats.records
            );
        } else {
            // DescribeTasks answered (with moto's one container, the sidecar) and changed nothing.
            assert_eq!(
                run.facts.task.source,
                pulldoctor::model::facts::TaskSource::DescribeTasks
            );
        }
    }
}

/// Two containers fail, each on its own missing tag: both images are diagnosed, the shared reads
/// (task, task definition, network, role) made once.
#[tokio::test]
async fn two_containers_failing_on_different_images_are_both_diagnosed() {
    let s = setup().await;
    let task = s.stopped_task().await;
    let sidecar_missing = s.sidecar_image.replace(":v1", ":v9");
    let app_message = messages::image_not_found(&s.app_image);
    let sidecar_message = messages::image_not_found(&sidecar_missing);
    let mut event = TaskEvent::pull_failure(&s.world, &task, "app", &s.app_image, &app_message);
    event.containers = vec![
        Setup::container(
            "log-router",
            &sidecar_missing,
            Some(sidecar_message.clone()),
        ),
        Setup::container("app", &s.app_image, Some(app_message.clone())),
    ];
    // Without its group, so that the shared DescribeTasks is asked (once, for both images).
    let run = s.diagnose(Setup::without_group(event.to_value())).await;
    let d = &run.diagnosis;
    // The first failing container is the primary diagnosis; the other is diagnosed beside it.
    assert_eq!(d.failure.container.as_deref(), Some("log-router"));
    assert_eq!(
        d.root_cause.code,
        RootCause::EcrImageNotFound,
        "{}",
        dump(d)
    );
    assert!(d.root_cause.title.contains("v9"), "{}", d.root_cause.title);
    assert_eq!(d.other_failures.len(), 1, "{:#?}", d.other_failures);
    let other = &d.other_failures[0];
    assert_eq!(other.failure.container.as_deref(), Some("app"));
    assert_eq!(other.failure.image.as_deref(), Some(s.app_image.as_str()));
    assert_eq!(other.failure.message, app_message);
    assert_eq!(other.root_cause.code, RootCause::EcrImageNotFound);
    assert!(
        other.root_cause.title.contains("v2") && other.root_cause.title.contains(&s.app_repo.name),
        "{}",
        other.root_cause.title
    );
    assert!(other.findings.iter().all(|f| f.status != Status::Pass));
    assert!(other
        .deciding_finding()
        .is_some_and(|f| f.remediation.is_some()));

    // One collection per image, the rest shared: the task and its definition are read once,
    // each image's tags once per image.
    let count = |action: &str| {
        run.stats
            .records
            .iter()
            .filter(|r| r.action == action)
            .count()
    };
    assert_eq!(count("ecs:DescribeTasks"), 1, "{:#?}", run.stats.records);
    assert_eq!(
        count("ecs:DescribeTaskDefinition"),
        1,
        "{:#?}",
        run.stats.records
    );
    assert_eq!(count("iam:GetRole"), 1, "{:#?}", run.stats.records);
    // Each image's own reads once per image: its tag (which also tells its repository exists)
    // and, for the deploy behind the missing tag, the image its previous revision ran.
    assert_eq!(count("ecr:DescribeImages"), 4, "{:#?}", run.stats.records);

    // What the user reads.
    let text = pulldoctor::report::text(d);
    assert!(
        text.contains(&format!(
            "Other containers that failed to pull:\n  - app ({})",
            s.app_image
        )),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&pulldoctor::report::json(d)).unwrap();
    assert_eq!(json["other_failures"][0]["container"], "app");
    assert_eq!(
        json["other_failures"][0]["root_cause"]["code"],
        "ECR_IMAGE_NOT_FOUND"
    );
}
