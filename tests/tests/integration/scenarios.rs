//! End-to-end scenarios: a moto world with exactly one thing wrong, a real-format EventBridge event,
//! `pulldoctor::lambda::handle` (or the `pulldoctor` CLI), and what the user receives: the SNS
//! message, its subject, and the `pulldoctor.diagnosis/v1` JSON in it.
//!
//! Every scenario builds its own world (its own moto server), on a network that works (private
//! subnet with a NAT gateway route), so that only the injected fault can explain the failure.

use std::time::Duration;

use pulldoctor_tests::events::{self, messages, TaskEvent};
use pulldoctor_tests::{
    deciding_finding, sns_diagnosis, Inbox, TaskDefSpec, TempFile, WebAccount, World,
};
use serde_json::{json, Value};

/// The usual account ([`WebAccount`]: network, cluster `prod`, execution role, repository
/// `team/web` with `v1` pushed) and an SNS topic with a queue.
struct Setup {
    account: WebAccount,
    inbox: Inbox,
}

impl std::ops::Deref for Setup {
    type Target = WebAccount;
    fn deref(&self) -> &WebAccount {
        &self.account
    }
}

async fn setup() -> Setup {
    let account = WebAccount::build().await;
    let inbox = account.world.sns_inbox("pulldoctor-alerts").await;
    Setup { account, inbox }
}

impl Setup {
    async fn assert_nothing_published(&self) {
        let published = self
            .world
            .sns_messages_within(&self.inbox, Duration::from_secs(1))
            .await;
        assert!(
            published.is_empty(),
            "nothing should be published: {published:#?}"
        );
    }

    fn app(&self) -> pulldoctor::lambda::App {
        self.world.app(Some(self.inbox.topic_arn.clone()))
    }

    /// Invokes the handler; expects a notification and returns the published diagnosis (after
    /// checking the outcome and the message agree).
    async fn diagnose_via_sns(&self, event: Value) -> (String, Value) {
        let outcome = self
            .world
            .invoke(&self.app(), event)
            .await
            .expect("handle returned Err");
        assert_eq!(outcome["decision"], "notified", "outcome: {outcome}");
        let messages = self.world.read_sns_messages(&self.inbox).await;
        assert_eq!(
            messages.len(),
            1,
            "expected exactly one SNS message, got {messages:#?}"
        );
        let subject = messages[0]
            .subject
            .clone()
            .expect("SNS message has no subject");
        assert!(
            !subject.is_empty() && subject.chars().count() <= 100,
            "subject: {subject:?}"
        );
        let (summary, diagnosis) = sns_diagnosis(&messages[0].message);
        assert!(!summary.is_empty());
        assert_eq!(
            diagnosis["schema"], "pulldoctor.diagnosis/v1",
            "{diagnosis:#}"
        );
        assert_eq!(
            outcome["root_cause"], diagnosis["root_cause"]["code"],
            "outcome {outcome} vs message"
        );
        (subject, diagnosis)
    }
}

fn code(d: &Value) -> &str {
    d["root_cause"]["code"].as_str().unwrap_or("<none>")
}

fn findings<'a>(d: &'a Value, prefix: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    d["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |f| f["code"].as_str().is_some_and(|c| c.starts_with(prefix)))
}

// 1 -------------------------------------------------------------------------------------------
#[tokio::test]
async fn missing_tag_is_diagnosed_as_image_not_found_and_notified() {
    let s = setup().await;
    let image = s.repo.image("v2"); // only v1 was pushed
    let task = s.service_task(&image, true).await;
    let event = TaskEvent::pull_failure(
        &s.world,
        &task,
        "web",
        &image,
        &messages::image_not_found(&image),
    )
    .to_value();

    let (subject, d) = s.diagnose_via_sns(event.clone()).await;

    assert_eq!(code(&d), "ECR_IMAGE_NOT_FOUND", "{d:#}");
    assert!(
        subject.contains("web"),
        "subject should name the service: {subject:?}"
    );
    // The event carries the whole task (moto still has it): DescribeTasks is not asked.
    assert_eq!(d["task"]["source"], "event", "{d:#}");
    assert_eq!(d["task"]["arn"], json!(task.task_arn));
    assert_eq!(d["task"]["group"], "service:web");
    assert_eq!(d["task"]["launch_type"], "FARGATE");
    assert_eq!(d["event_id"], event["id"]);
    assert_eq!(d["account"], json!(s.world.account));
    assert_eq!(d["region"], json!(s.world.region));
    assert_eq!(d["failure"]["container"], "web");
    assert_eq!(d["failure"]["image"], json!(image));
    assert_eq!(d["failure"]["category"], "image_not_found");
    let decided = deciding_finding(&d).expect("a failed ECR_IMAGE_NOT_FOUND finding decides");
    assert!(
        decided.to_string().contains("v2"),
        "the finding should name the missing tag: {decided:#}"
    );
}

// 2 -------------------------------------------------------------------------------------------
#[tokio::test]
async fn pinned_digest_gone_while_tag_exists_is_image_not_found_naming_both_digests() {
    let s = setup().await;
    let old_digest = s.v1_digest.clone();
    // A new build is pushed under v1: the tag moves, the old image disappears (moto removes it;
    // delete explicitly as real ECR would keep it untagged until a lifecycle rule runs).
    let new_digest = s.world.push_image(&s.repo, "v1", "web-v1-rebuilt").await;
    s.world.delete_image(&s.repo, &old_digest).await;
    let images = s.world.images(&s.repo).await;
    assert!(
        images.iter().all(|(d, _)| d != &old_digest),
        "precondition: old image gone: {images:?}"
    );
    assert!(images
        .iter()
        .any(|(d, tags)| d == &new_digest && tags.iter().any(|t| t == "v1")));

    let image = s.repo.image("v1");
    let task = s.service_task(&image, true).await;
    let message = messages::image_not_found(&s.repo.image_at(&old_digest));
    let event = TaskEvent::pull_failure(&s.world, &task, "web", &image, &message)
        .image_digest(&old_digest)
        .to_value();

    let (_, d) = s.diagnose_via_sns(event).await;

    assert_eq!(code(&d), "ECR_IMAGE_NOT_FOUND", "{d:#}");
    let decided = deciding_finding(&d).expect("a failed ECR_IMAGE_NOT_FOUND finding decides");
    let said = format!("{} {}", decided["title"], decided["evidence"]);
    assert!(
        said.contains(&old_digest),
        "should name the pinned (missing) digest: {decided:#}"
    );
    assert!(
        said.contains(&new_digest),
        "should name the digest v1 points to now: {decided:#}"
    );
}

// 3 -------------------------------------------------------------------------------------------
#[tokio::test]
async fn missing_repository_is_diagnosed() {
    let s = setup().await;
    let image = format!("{}/team/ghost:v1", s.world.registry()); // never created
    let task = s.service_task(&image, true).await;
    let event = TaskEvent::pull_failure(
        &s.world,
        &task,
        "web",
        &image,
        &messages::image_not_found(&image),
    )
    .to_value();

    let (_, d) = s.diagnose_via_sns(event).await;

    assert_eq!(code(&d), "ECR_REPOSITORY_NOT_FOUND", "{d:#}");
    let decided = deciding_finding(&d).expect("a failed ECR_REPOSITORY_NOT_FOUND finding decides");
    assert!(decided.to_string().contains("team/ghost"), "{decided:#}");
}

// 4 -------------------------------------------------------------------------------------------
#[tokio::test]
async fn fargate_task_without_execution_role_pulling_from_ecr() {
    let s = setup().await;
    let image = s.repo.image("v1"); // exists
    let task = s.service_task(&image, false).await;
    let message = messages::unauthorized(&image, &s.world.registry(), "v1");
    let event = TaskEvent::pull_failure(&s.world, &task, "web", &image, &message).to_value();

    let (_, d) = s.diagnose_via_sns(event).await;

    assert_eq!(code(&d), "IAM_EXECUTION_ROLE_MISSING", "{d:#}");
    // The image is there: no ECR check may claim otherwise.
    assert!(findings(&d, "ECR_").all(|f| f["status"] != "fail"), "{d:#}");
}

// 5 -------------------------------------------------------------------------------------------
#[tokio::test]
async fn task_no_longer_visible_is_diagnosed_from_the_event() {
    let s = setup().await;
    let image = s.repo.image("v2");
    let td = s.task_definition(&image, true).await;
    s.world.service("prod", "web", &td, &s.net).await;
    let task = s
        .world
        .unknown_task(&s.cluster_arn, &td, &s.net, "service:web");
    let event = TaskEvent::pull_failure(
        &s.world,
        &task,
        "web",
        &image,
        &messages::image_not_found(&image),
    )
    .to_value();

    let (_, d) = s.diagnose_via_sns(event).await;

    assert_eq!(d["task"]["source"], "event", "{d:#}");
    assert_eq!(d["task"]["arn"], json!(task.task_arn));
    assert_eq!(d["task"]["group"], "service:web");
    assert_eq!(code(&d), "ECR_IMAGE_NOT_FOUND", "{d:#}");
}

// 6 -------------------------------------------------------------------------------------------
#[tokio::test]
async fn network_timeout_with_healthy_image_and_role_is_unknown_with_low_confidence() {
    let s = setup().await;
    let image = s.repo.image("v1");
    let task = s.service_task(&image, true).await;
    let message = messages::io_timeout(&image, &s.world.registry(), &s.repo.name, "v1");
    let event = TaskEvent::pull_failure(&s.world, &task, "web", &image, &message)
        .image_digest(&s.v1_digest)
        .to_value();

    let (_, d) = s.diagnose_via_sns(event).await;

    assert_eq!(d["failure"]["category"], "network", "{d:#}");
    assert_eq!(code(&d), "UNKNOWN", "{d:#}");
    assert_eq!(d["root_cause"]["confidence"], "low", "{d:#}");
    assert!(
        d["root_cause"]["to_verify"]
            .as_array()
            .is_some_and(|v| !v.is_empty()),
        "UNKNOWN should list what to verify by hand: {d:#}"
    );
    let ecr: Vec<_> = findings(&d, "ECR_").collect();
    assert!(
        ecr.iter().any(|f| f["status"] == "pass"),
        "ECR checks should have run and passed: {d:#}"
    );
    assert!(ecr.iter().all(|f| f["status"] != "fail"), "{d:#}");
    assert!(
        d["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["status"] != "fail"),
        "{d:#}"
    );
}

// 7 -------------------------------------------------------------------------------------------
#[tokio::test]
async fn task_that_exited_normally_is_ignored_and_nothing_is_published() {
    let s = setup().await;
    let image = s.repo.image("v1");
    let task = s.service_task(&image, true).await;
    let event = TaskEvent::essential_container_exited(&s.world, &task, "web", &image).to_value();

    let outcome = s
        .world
        .invoke(&s.app(), event)
        .await
        .expect("handle returned Err");

    assert_eq!(outcome["decision"], "ignored", "outcome: {outcome}");
    s.assert_nothing_published().await;
}

// 8 -------------------------------------------------------------------------------------------
#[tokio::test]
async fn malformed_events_are_ignored_without_error_or_message() {
    let s = setup().await;
    let image = s.repo.image("v2");
    let task = s.service_task(&image, true).await;
    let good = TaskEvent::pull_failure(
        &s.world,
        &task,
        "web",
        &image,
        &messages::image_not_found(&image),
    )
    .to_value();

    let mut detail_is_string = good.clone();
    detail_is_string["detail"] = json!("STOPPED");
    let mut no_detail_type = good.clone();
    no_detail_type
        .as_object_mut()
        .unwrap()
        .remove("detail-type");
    let mut other_source = good.clone();
    other_source["source"] = json!("aws.ec2");
    other_source["detail-type"] = json!("EC2 Instance State-change Notification");

    let cases = [
        ("{}", json!({})),
        ("[]", json!([])),
        ("\"x\"", json!("x")),
        ("null", Value::Null),
        ("42", json!(42)),
        ("detail is a string", detail_is_string),
        ("no detail-type", no_detail_type),
        ("another service's event", other_source),
    ];
    let app = s.app();
    for (name, event) in cases {
        let outcome = s.world.invoke(&app, event).await.unwrap_or_else(|e| {
            panic!("{name}: handle returned Err({e}); malformed input must be ignored")
        });
        assert_eq!(outcome["decision"], "ignored", "{name}: {outcome}");
    }
    s.assert_nothing_published().await;
}

// 9 -------------------------------------------------------------------------------------------
#[tokio::test]
async fn cli_diagnoses_a_saved_event_against_moto() {
    // The world the fixture describes: cluster prod, task definition web:1, repository team/web
    // holding v1 while the event's task wanted v2. The task itself is long gone.
    let world = World::new().await;
    let fixture = events::fixture("cannot-pull-image-tag-not-found.json");
    assert_eq!(
        fixture["account"],
        json!(world.account),
        "fixture ids must match moto's account"
    );
    let wanted = fixture["detail"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string();
    world.cluster("prod").await;
    let role = world.execution_role("ecsTaskExecutionRole").await;
    let repo = world.repository("team/web").await;
    world.push_image(&repo, "v1", "web-v1").await;
    assert_eq!(wanted, repo.image("v2"));
    let td = world
        .task_definition(&TaskDefSpec {
            family: "web".into(),
            container: "web".into(),
            image: wanted.clone(),
            execution_role_arn: Some(role),
        })
        .await;
    assert_eq!(fixture["detail"]["taskDefinitionArn"], json!(td));
    let file = TempFile::new(
        "event.json",
        serde_json::to_string_pretty(&fixture).unwrap().as_bytes(),
    );
    let path = file.path().to_str().unwrap();

    let json_run = pulldoctor_tests::run_cli(
        &world.moto,
        &["diagnose", "--event", path, "--format", "json"],
    )
    .await;
    assert_eq!(json_run.code, Some(0), "{json_run:#?}");
    let d: Value = serde_json::from_str(json_run.stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not the diagnosis JSON ({e}): {json_run:#?}"));
    assert_eq!(d["schema"], "pulldoctor.diagnosis/v1");
    pulldoctor_tests::contracts::assert_valid(pulldoctor_tests::contracts::Contract::Diagnosis, &d);
    assert_eq!(code(&d), "ECR_IMAGE_NOT_FOUND", "{d:#}");
    assert_eq!(d["task"]["source"], "event");
    assert_eq!(d["event_id"], fixture["id"]);
    let title = d["root_cause"]["title"]
        .as_str()
        .expect("root cause title")
        .to_string();

    let text_run = pulldoctor_tests::run_cli(
        &world.moto,
        &["diagnose", "--event", path, "--format", "text"],
    )
    .await;
    assert_eq!(text_run.code, Some(0), "{text_run:#?}");
    assert!(
        text_run.stdout.contains(&title),
        "text output should carry the root cause title {title:?}: {text_run:#?}"
    );

    let missing = pulldoctor_tests::run_cli(
        &world.moto,
        &["diagnose", "--event", "/nonexistent/event.json"],
    )
    .await;
    assert_eq!(missing.code, Some(1), "{missing:#?}");
    assert!(
        missing.stdout.trim().is_empty(),
        "no diagnosis on stdout: {missing:#?}"
    );
    assert!(
        missing.stderr.contains("/nonexistent/event.json"),
        "stderr should name the file: {missing:#?}"
    );
}
