//! Alerting that on-call can trust: one page per broken service and cause (dedup in moto's
//! DynamoDB), duplicate deliveries dropped, Slack through a webhook read from Secrets Manager,
//! sinks that fail independently, and an audit line for every invocation.
//!
//! The storm test drives the real `pulldoctor-lambda` binary through a local Lambda Runtime API
//! (tests/src/lambda.rs) with several processes polling it at once, like concurrent Lambda
//! execution environments. Slack is a local HTTP stub (moto has no Slack); everything AWS is moto.

use std::collections::BTreeMap;
use std::time::Duration;

use pulldoctor::lambda::{App, Settings};
use pulldoctor_tests::alerting::{SlackBehaviour, SlackStub};
use pulldoctor_tests::events::{messages, TaskEvent};
use pulldoctor_tests::lambda::{audit_records, InvocationResult, LambdaProcess, RuntimeApi};
use pulldoctor_tests::{sns_diagnosis, Inbox, StoppedTask, WebService, World};
use serde_json::Value;

/// Service `web` in cluster `prod` whose task definition names tag `v2`, which was never pushed:
/// every task it starts fails the same way (ECR_IMAGE_NOT_FOUND).
struct Broken {
    web: WebService,
    inbox: Inbox,
}

async fn broken_service() -> Broken {
    let web = WebService::running("v2").await;
    let inbox = web.world.sns_inbox("pulldoctor-alerts").await;
    Broken { web, inbox }
}

impl Broken {
    async fn failed_task(&self) -> StoppedTask {
        self.web.run_stopped_task().await
    }
    async fn event(&self) -> Value {
        let task = self.failed_task().await;
        let image = &self.web.image;
        TaskEvent::pull_failure(
            &self.web.world,
            &task,
            "web",
            image,
            &messages::image_not_found(image),
        )
        .to_value()
    }
    fn app(&self, settings: Settings) -> App {
        App::with_settings(
            &self.web.world.config,
            Settings {
                topic_arn: Some(self.inbox.topic_arn.clone()),
                ..settings
            },
        )
    }
}

fn decisions(records: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in records {
        *out.entry(r["decision"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    out
}

// The "done when" ----------------------------------------------------------------------
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_storm_of_failures_pages_once_through_the_real_lambda_binary() {
    let b = broken_service().await;
    let table = b.web.world.dedup_table("pulldoctor-dedup").await;
    let slack = SlackStub::start();
    let secret = b
        .web
        .world
        .secret("pulldoctor/slack", &slack.webhook_url())
        .await;

    let mut events = Vec::new();
    for _ in 0..50 {
        events.push(b.event().await);
    }
    // EventBridge redelivers event #7 five more times, interleaved with the storm.
    let mut deliveries: Vec<Value> = events.clone();
    for (i, at) in [3, 11, 20, 33, 47].into_iter().enumerate() {
        deliveries.insert(at + i, events[7].clone());
    }
    assert_eq!(deliveries.len(), 55);

    let runtime = RuntimeApi::start();
    let settings = [
        ("PULLDOCTOR_TOPIC_ARN", b.inbox.topic_arn.clone()),
        ("PULLDOCTOR_DEDUP_TABLE", table),
        ("PULLDOCTOR_SLACK_SECRET_ARN", secret),
        ("PULLDOCTOR_HOME_ACCOUNT", b.web.world.account.clone()),
    ];
    // Four concurrent execution environments racing for the same failure.
    let lambdas: Vec<LambdaProcess> = (0..4)
        .map(|_| LambdaProcess::spawn(&runtime, &b.web.world.moto, &settings))
        .collect();
    let ids: Vec<String> = deliveries.into_iter().map(|e| runtime.invoke(e)).collect();
    let results = tokio::task::spawn_blocking({
        let ids = ids.clone();
        move || {
            let r = runtime.wait_for(&ids, Duration::from_secs(300));
            (runtime, r)
        }
    })
    .await
    .unwrap()
    .1;
    let errors: Vec<_> = ids
        .iter()
        .filter(|id| !matches!(results.get(*id), Some(InvocationResult::Response(_))))
        .collect();
    assert!(
        errors.is_empty(),
        "invocations without a response: {errors:?} {results:?}"
    );

    let sns = b
        .web
        .world
        .sns_messages_within(&b.inbox, Duration::from_secs(3))
        .await;
    let notified: Vec<String> = audit_records(
        &lambdas
            .iter()
            .flat_map(LambdaProcess::lines)
            .collect::<Vec<_>>(),
    )
    .into_iter()
    .filter(|r| r["decision"] == "notified")
    .map(|r| format!("{} {}", r["dedup"], r["incidents"]))
    .collect();
    assert_eq!(
        sns.len(),
        1,
        "exactly one SNS message for the storm; notified with {notified:#?}"
    );
    let (_, diagnosis) = sns_diagnosis(&sns[0].message);
    assert_eq!(diagnosis["root_cause"]["code"], "ECR_IMAGE_NOT_FOUND");
    assert_eq!(
        slack.posts().len(),
        1,
        "exactly one Slack post: {:#?}",
        slack.posts()
    );

    let lines: Vec<String> = lambdas
        .into_iter()
        .flat_map(LambdaProcess::finish)
        .collect();
    let records = audit_records(&lines);
    assert_eq!(
        records.len(),
        55,
        "one audit line per invocation:\n{}",
        lines.join("\n")
    );
    let counted = decisions(&records);
    assert_eq!(
        counted,
        BTreeMap::from([
            ("notified".to_string(), 1),
            ("suppressed".to_string(), 49),
            ("duplicate_event".to_string(), 5)
        ]),
        "{counted:?}"
    );
    let duplicates: Vec<_> = records
        .iter()
        .filter(|r| r["decision"] == "duplicate_event")
        .collect();
    assert!(
        duplicates.iter().all(|r| r["event_id"] == events[7]["id"]),
        "only event #7 was redelivered"
    );
    assert!(
        duplicates.iter().all(|r| r["aws_calls"] == 0),
        "a duplicate is dropped before any AWS read"
    );
    let notified = records
        .iter()
        .find(|r| r["decision"] == "notified")
        .unwrap();
    assert_eq!(
        notified["deliveries"]["sns"]["status"], "sent",
        "{notified}"
    );
    assert_eq!(
        notified["deliveries"]["slack"]["status"], "sent",
        "{notified}"
    );
    assert_eq!(notified["Notifications"], 1);
    let fingerprints: std::collections::BTreeSet<_> = records
        .iter()
        .filter(|r| r["decision"] != "duplicate_event")
        .map(|r| r["fingerprint"].to_string())
        .collect();
    assert_eq!(
        fingerprints.len(),
        1,
        "one failure, one fingerprint: {fingerprints:?}"
    );
    let max_count = records
        .iter()
        .filter_map(|r| r["dedup"]["count_in_window"].as_u64())
        .max();
    assert_eq!(
        max_count,
        Some(49),
        "the counter saw every suppressed failure"
    );
    let webhook = slack.webhook_url();
    assert!(
        lines
            .iter()
            .all(|l| !l.contains(&webhook) && !l.contains("s3cr3tW3bh00kT0k3n")),
        "the webhook URL leaked"
    );
}

// Duplicates, windows, counts -------------------------------------------------------------------
#[tokio::test]
async fn duplicate_delivery_is_dropped_and_the_next_window_reports_what_was_suppressed() {
    let b = broken_service().await;
    let table = b.web.world.dedup_table("dedup").await;
    // A 15-second window stands in for the default 30 minutes (a debug-build diagnosis against
    // moto takes 1-3 s on a busy machine).
    let window = Duration::from_secs(15);
    let app = b.app(Settings {
        dedup_table: Some(table),
        dedup_window: Some(window),
        ..Settings::default()
    });
    let first = b.event().await;
    let mut storm = Vec::new();
    for _ in 0..2 {
        storm.push(b.event().await);
    }
    let later = b.event().await;

    let window_started = std::time::Instant::now();
    assert_eq!(
        b.web.world.invoke(&app, first.clone()).await.unwrap()["decision"],
        "notified"
    );
    let claimed = std::time::Instant::now(); // the window was claimed just before this
    assert_eq!(
        b.web.world.invoke(&app, first.clone()).await.unwrap()["decision"],
        "duplicate_event"
    );
    for e in storm {
        assert_eq!(
            b.web.world.invoke(&app, e).await.unwrap()["decision"],
            "suppressed"
        );
    }
    assert!(
        window_started.elapsed() < window,
        "the storm took longer than the window; the test proves nothing"
    );
    let sns = b.web.world.read_sns_messages(&b.inbox).await;
    assert_eq!(sns.len(), 1, "{sns:#?}");
    // SNS message attributes, for subscription filter policies.
    let attrs = &sns[0].envelope["MessageAttributes"];
    let attr = |k: &str| attrs[k]["Value"].as_str().map(str::to_string);
    assert_eq!(
        attr("root_cause").as_deref(),
        Some("ECR_IMAGE_NOT_FOUND"),
        "{attrs:#}"
    );
    assert_eq!(attr("category").as_deref(), Some("image_not_found"));
    assert_eq!(attr("cluster").as_deref(), Some("prod"));
    assert_eq!(attr("service").as_deref(), Some("web"));
    assert_eq!(attr("severity").as_deref(), Some("high"));
    assert_eq!(attr("account"), Some(b.web.world.account.clone()));
    assert_eq!(attr("region"), Some(b.web.world.region.clone()));

    tokio::time::sleep((window + Duration::from_millis(1100)).saturating_sub(claimed.elapsed()))
        .await;
    assert_eq!(
        b.web.world.invoke(&app, later).await.unwrap()["decision"],
        "notified"
    );
    let sns = b.web.world.read_sns_messages(&b.inbox).await;
    assert_eq!(sns.len(), 1);
    assert!(
        sns[0].message.starts_with(
            "(2 more failure(s) like this one were not notified during the previous window.)"
        ),
        "{}",
        sns[0].message
    );
}

#[tokio::test]
async fn a_new_image_for_the_same_service_is_a_new_failure() {
    let b = broken_service().await;
    let table = b.web.world.dedup_table("dedup").await;
    let app = b.app(Settings {
        dedup_table: Some(table),
        ..Settings::default()
    });
    assert_eq!(
        b.web.world.invoke(&app, b.event().await).await.unwrap()["decision"],
        "notified"
    );
    // The team deploys v3 (also never pushed): a new fingerprint, so on-call hears about it.
    let v3 = b.web.image.replace(":v2", ":v3");
    let task = b.failed_task().await;
    let event = TaskEvent::pull_failure(
        &b.web.world,
        &task,
        "web",
        &v3,
        &messages::image_not_found(&v3),
    )
    .to_value();
    let outcome = b.web.world.invoke(&app, event).await.unwrap();
    assert_eq!(outcome["decision"], "notified", "{outcome}");
    assert_eq!(
        b.web
            .world
            .sns_messages_within(&b.inbox, Duration::from_secs(2))
            .await
            .len(),
        2
    );
}

// Fail open -------------------------------------------------------------------------------------
#[tokio::test]
async fn dedup_unavailable_still_notifies_and_says_so_in_the_audit_line() {
    let b = broken_service().await;
    let runtime = RuntimeApi::start();
    let lambda = LambdaProcess::spawn(
        &runtime,
        &b.web.world.moto,
        &[
            ("PULLDOCTOR_TOPIC_ARN", b.inbox.topic_arn.clone()),
            // No such table: every DynamoDB call fails.
            ("PULLDOCTOR_DEDUP_TABLE", "table-that-does-not-exist".into()),
        ],
    );
    let id = runtime.invoke(b.event().await);
    let ids = vec![id.clone()];
    let results =
        tokio::task::spawn_blocking(move || runtime.wait_for(&ids, Duration::from_secs(120)))
            .await
            .unwrap();
    assert!(
        matches!(results.get(&id), Some(InvocationResult::Response(v)) if v["decision"] == "notified"),
        "{results:?}"
    );
    assert_eq!(b.web.world.read_sns_messages(&b.inbox).await.len(), 1);
    let lines = lambda.finish();
    let records = audit_records(&lines);
    assert_eq!(records.len(), 1, "{lines:?}");
    assert_eq!(
        records[0]["dedup"]["status"], "unavailable",
        "{}",
        records[0]
    );
    assert!(
        records[0]["dedup"]["error"]
            .as_str()
            .unwrap()
            .contains("ResourceNotFound"),
        "{}",
        records[0]
    );
    assert_eq!(records[0]["DedupUnavailable"], 1);
}

// Slack -----------------------------------------------------------------------------------------
#[tokio::test]
async fn slack_failures_do_not_stop_sns_and_are_recorded() {
    let b = broken_service().await;
    let slack = SlackStub::start();
    let secret = b
        .web
        .world
        .secret(
            "slack",
            &format!("{{\"webhook_url\": \"{}\"}}", slack.webhook_url()),
        )
        .await;
    let runtime = RuntimeApi::start();
    let lambda = LambdaProcess::spawn(
        &runtime,
        &b.web.world.moto,
        &[
            ("PULLDOCTOR_TOPIC_ARN", b.inbox.topic_arn.clone()),
            ("PULLDOCTOR_SLACK_SECRET_ARN", secret),
            ("PULLDOCTOR_SLACK_TIMEOUT_MS", "500".into()),
        ],
    );
    let runtime = std::sync::Arc::new(runtime);
    let mut expected = Vec::new();
    for (behaviour, want) in [
        (SlackBehaviour::Ok, None),
        (SlackBehaviour::Status(500), Some("HTTP 500")),
        (
            SlackBehaviour::RateLimited(7),
            Some("HTTP 429 (retry after 7 s)"),
        ),
        (
            SlackBehaviour::Slow(Duration::from_secs(3)),
            Some("timeout after 500 ms"),
        ),
    ] {
        slack.answer(behaviour);
        let id = runtime.invoke(b.event().await);
        let ids = vec![id.clone()];
        let rt = runtime.clone();
        let results =
            tokio::task::spawn_blocking(move || rt.wait_for(&ids, Duration::from_secs(120)))
                .await
                .unwrap();
        assert!(
            matches!(results.get(&id), Some(InvocationResult::Response(v)) if v["decision"] == "notified"),
            "a Slack failure must not fail the invocation: {results:?}"
        );
        expected.push(want);
    }
    assert_eq!(
        b.web
            .world
            .sns_messages_within(&b.inbox, Duration::from_secs(2))
            .await
            .len(),
        4,
        "SNS got every diagnosis"
    );
    assert_eq!(slack.posts().len(), 4, "every attempt reached the stub");
    let lines = lambda.finish();
    let records = audit_records(&lines);
    assert_eq!(records.len(), 4);
    for (record, want) in records.iter().zip(&expected) {
        let slack_result = &record["deliveries"]["slack"];
        match want {
            None => assert_eq!(slack_result["status"], "sent", "{record}"),
            Some(error) => {
                assert_eq!(slack_result["status"], "failed", "{record}");
                assert!(
                    slack_result["error"].as_str().unwrap().starts_with(error),
                    "{record}"
                );
                assert_eq!(record["SinkFailures"], 1);
            }
        }
        assert_eq!(record["deliveries"]["sns"]["status"], "sent");
    }
    // The post is Block Kit with the facts on-call needs.
    let post = &slack.posts()[0];
    let blocks = post["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(
        blocks[0]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with("web: "),
        "{post:#}"
    );
    let text = post.to_string();
    for needle in [
        "*Cluster*",
        "`prod`",
        "*Service*",
        "`web`",
        "*Image*",
        "team/web:v2",
        ":x: FAIL `ECR_IMAGE_NOT_FOUND`",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from the Slack post: {post:#}"
        );
    }
    let webhook = slack.webhook_url();
    assert!(
        lines
            .iter()
            .all(|l| !l.contains(&webhook) && !l.contains("s3cr3tW3bh00kT0k3n")),
        "the webhook URL leaked"
    );
}

#[tokio::test]
async fn unreadable_slack_secret_is_recorded_and_sns_still_delivers() {
    let b = broken_service().await;
    let app = b.app(Settings {
        slack_secret_arn: Some(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf".into(),
        ),
        ..Settings::default()
    });
    let outcome = b.web.world.invoke(&app, b.event().await).await.unwrap();
    assert_eq!(outcome["decision"], "notified", "{outcome}");
    assert_eq!(b.web.world.read_sns_messages(&b.inbox).await.len(), 1);
}

// Chatbot ---------------------------------------------------------------------------------------
#[tokio::test]
async fn chatbot_format_publishes_the_custom_notification_schema() {
    let b = broken_service().await;
    let app = b.app(Settings {
        sns_format: Some(pulldoctor::report::sns::SnsFormat::Chatbot),
        ..Settings::default()
    });
    b.web.world.invoke(&app, b.event().await).await.unwrap();
    let sns = b.web.world.read_sns_messages(&b.inbox).await;
    assert_eq!(sns.len(), 1);
    let body: Value =
        serde_json::from_str(&sns[0].message).expect("the message is one JSON document");
    assert_eq!(body["version"], "1.0");
    assert_eq!(body["source"], "custom");
    assert!(
        body["content"]["title"]
            .as_str()
            .unwrap()
            .contains("web (prod, us-east-1)"),
        "{body:#}"
    );
    assert!(body["content"]["description"]
        .as_str()
        .unwrap()
        .contains("ECR_IMAGE_NOT_FOUND"));
    assert!(!body["content"]["nextSteps"].as_array().unwrap().is_empty());
    assert_eq!(body["content"]["keywords"][0], "ECR_IMAGE_NOT_FOUND");
}

// Multi-account ---------------------------------------------------------------------------------
#[tokio::test]
async fn an_event_from_a_member_account_is_diagnosed_there_through_an_assumed_role() {
    const MEMBER: &str = "111111111111";
    let world = World::new().await;
    let net = world.network().await;
    let cluster_arn = world.cluster("prod").await;
    // The member account: a repository team/web with v1 only (the same moto server, seen through
    // credentials STS AssumeRole bound to the member account).
    let member_config = world.in_account(MEMBER).await.config;
    let member_ecr = aws_sdk_ecr::Client::new(&member_config);
    member_ecr
        .create_repository()
        .repository_name("team/web")
        .send()
        .await
        .expect("CreateRepository in the member account");

    let image = format!("{MEMBER}.dkr.ecr.us-east-1.amazonaws.com/team/web:v2");
    let mut task = world.unknown_task(
        &cluster_arn,
        &format!("arn:aws:ecs:us-east-1:{MEMBER}:task-definition/web:1"),
        &net,
        "service:web",
    );
    task.task_arn = task.task_arn.replace(&world.account, MEMBER);
    task.cluster_arn = task.cluster_arn.replace(&world.account, MEMBER);
    let mut event = TaskEvent::pull_failure(
        &world,
        &task,
        "web",
        &image,
        &messages::image_not_found(&image),
    );
    event.account = MEMBER.to_string();
    let event = event.to_value();
    assert_eq!(event["account"], MEMBER);

    let inbox = world.sns_inbox("alerts").await;
    let base = Settings {
        topic_arn: Some(inbox.topic_arn.clone()),
        home_account: Some(world.account.clone()),
        ..Settings::default()
    };
    // Without the member role the central account's view is used: no such repository there.
    let central = App::with_settings(&world.config, base.clone());
    let outcome = world.invoke(&central, event.clone()).await.unwrap();
    assert_eq!(
        outcome["root_cause"], "ECR_REPOSITORY_NOT_FOUND",
        "{outcome}"
    );
    // With it, the function reads the member account: the repository exists, the tag does not.
    let multi = App::with_settings(
        &world.config,
        Settings {
            member_role_name: Some("pulldoctor-read".into()),
            ..base
        },
    );
    let outcome = world.invoke(&multi, event).await.unwrap();
    assert_eq!(outcome["root_cause"], "ECR_IMAGE_NOT_FOUND", "{outcome}");
    let sns = world
        .sns_messages_within(&inbox, Duration::from_secs(2))
        .await;
    assert_eq!(sns.len(), 2);
    assert_eq!(
        sns[1].envelope["MessageAttributes"]["account"]["Value"],
        MEMBER
    );
}
