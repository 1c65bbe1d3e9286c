//! The on-call loop end to end: the real `pulldoctor-lambda` binary (or the handler in-process)
//! with SNS and DynamoDB in moto, and local stand-ins for the SaaS it pages — PagerDuty's Events
//! API v2, Slack's Web API, a Teams Workflows webhook — that answer as their documentation says.

use std::collections::BTreeMap;
use std::time::Duration;

use pulldoctor::lambda::{App, Settings};
use pulldoctor_tests::events::{messages, service, TaskEvent};
use pulldoctor_tests::lambda::{InvocationResult, LambdaProcess, RuntimeApi};
use pulldoctor_tests::pagerduty::{AlertStatus, PagerDutyBehaviour, PagerDutyStub};
use pulldoctor_tests::slack_api::{SlackApi, BOT_TOKEN, CHANNEL};
use pulldoctor_tests::teams::TeamsStub;
use pulldoctor_tests::{Inbox, WebService};
use serde_json::Value;

const ROUTING_KEY: &str = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12";

struct OnCall {
    web: WebService,
    inbox: Inbox,
    table: String,
    pagerduty: PagerDutyStub,
    slack: SlackApi,
    teams: TeamsStub,
    secrets: [String; 3],
}

async fn on_call() -> OnCall {
    let web = WebService::running("v2").await;
    let inbox = web.world.sns_inbox("pulldoctor-alerts").await;
    let table = web.world.dedup_table("pulldoctor-dedup").await;
    let (pagerduty, slack, teams) = (
        PagerDutyStub::start(),
        SlackApi::start(),
        TeamsStub::start(),
    );
    let secrets = [
        web.world
            .secret(
                "pulldoctor/pagerduty",
                &format!("{{\"routing_key\": \"{ROUTING_KEY}\"}}"),
            )
            .await,
        web.world
            .secret(
                "pulldoctor/slack-app",
                &SlackApi::secret(BOT_TOKEN, CHANNEL),
            )
            .await,
        web.world
            .secret("pulldoctor/teams", &teams.webhook_url())
            .await,
    ];
    OnCall {
        web,
        inbox,
        table,
        pagerduty,
        slack,
        teams,
        secrets,
    }
}

impl OnCall {
    async fn failure(&self) -> Value {
        let task = self.web.run_stopped_task().await;
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

    /// The function's environment, as the template sets it.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PULLDOCTOR_TOPIC_ARN", self.inbox.topic_arn.clone()),
            ("PULLDOCTOR_DEDUP_TABLE", self.table.clone()),
            ("PULLDOCTOR_HOME_ACCOUNT", self.web.world.account.clone()),
            ("PULLDOCTOR_PAGERDUTY_SECRET_ARN", self.secrets[0].clone()),
            ("PULLDOCTOR_PAGERDUTY_URL", self.pagerduty.url()),
            ("PULLDOCTOR_SLACK_APP_SECRET_ARN", self.secrets[1].clone()),
            ("PULLDOCTOR_SLACK_API_URL", self.slack.api_url()),
            ("PULLDOCTOR_TEAMS_SECRET_ARN", self.secrets[2].clone()),
            // Every failure may update PagerDuty and Slack (the default is once a minute).
            ("PULLDOCTOR_UPDATE_INTERVAL_SECONDS", "0".into()),
        ]
    }

    fn app(&self) -> App {
        let settings = Settings {
            topic_arn: Some(self.inbox.topic_arn.clone()),
            dedup_table: Some(self.table.clone()),
            pagerduty_secret_arn: Some(self.secrets[0].clone()),
            pagerduty_url: Some(self.pagerduty.url()),
            slack_app_secret_arn: Some(self.secrets[1].clone()),
            slack_api_url: Some(self.slack.api_url()),
            teams_secret_arn: Some(self.secrets[2].clone()),
            update_interval: Some(Duration::ZERO),
            ..Settings::default()
        };
        App::with_settings(&self.web.world.config, settings)
    }

    fn assert_no_secret_in(&self, lines: &[String]) {
        for secret in [ROUTING_KEY, BOT_TOKEN, "s3cr3tW0rkfl0wS1g"] {
            assert!(
                lines.iter().all(|l| !l.contains(secret)),
                "a secret leaked into the output"
            );
        }
    }
}

/// Runs `events` through `processes` copies of the binary polling one Runtime API; returns each
/// invocation's result and every stdout line.
async fn through_the_binary(
    o: &OnCall,
    events: Vec<Value>,
    processes: usize,
) -> (Vec<InvocationResult>, Vec<String>) {
    let runtime = RuntimeApi::start();
    let env = o.env();
    let lambdas: Vec<LambdaProcess> = (0..processes)
        .map(|_| LambdaProcess::spawn(&runtime, &o.web.world.moto, &env))
        .collect();
    let ids: Vec<String> = events.into_iter().map(|e| runtime.invoke(e)).collect();
    let results = tokio::task::spawn_blocking(move || {
        let r = runtime.wait_for(&ids, Duration::from_secs(300));
        ids.iter()
            .map(|id| r.get(id).cloned().expect("every invocation answered"))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let lines = lambdas
        .into_iter()
        .flat_map(LambdaProcess::finish)
        .collect();
    (results, lines)
}

fn audit(lines: &[String]) -> Vec<Value> {
    pulldoctor_tests::lambda::audit_records(lines)
}

fn decisions(records: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in records {
        *out.entry(r["decision"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_storm_then_recovery_pages_once_updates_in_place_and_resolves_once() {
    let o = on_call().await;
    let mut storm = vec![];
    for _ in 0..12 {
        storm.push(o.failure().await);
    }
    let (results, mut lines) = through_the_binary(&o, storm, 3).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, InvocationResult::Response(_))),
        "{results:?}"
    );
    // ECS says the service is steady again (after the rollback or the fix).
    let (results, more) = through_the_binary(
        &o,
        vec![service::steady_state(&o.web.world, "prod", "web")],
        1,
    )
    .await;
    assert!(
        matches!(&results[0], InvocationResult::Response(v) if v["decision"] == "resolved"),
        "{results:?}"
    );
    lines.extend(more);

    // PagerDuty: one incident, triggered once then updated with the same key, resolved once.
    let alerts = o.pagerduty.alerts();
    assert_eq!(alerts.len(), 1, "one PagerDuty incident: {alerts:#?}");
    let alert = &alerts[0];
    assert_eq!(alert.status, AlertStatus::Resolved);
    assert_eq!(alert.routing_key, ROUTING_KEY);
    assert!(alert.dedup_key.starts_with("pulldoctor/") && alert.dedup_key.len() <= 255);
    assert!(
        alert.triggers >= 2,
        "the first failure triggered, later ones updated: {}",
        alert.triggers
    );
    let actions: Vec<&str> = alert
        .events
        .iter()
        .map(|e| e["event_action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "resolve").count(),
        1,
        "{actions:?}"
    );
    assert_eq!(actions.last(), Some(&"resolve"));
    assert!(
        alert.payload()["custom_details"]
            .to_string()
            .contains("ECR_IMAGE_NOT_FOUND"),
        "{}",
        alert.payload()
    );

    // Slack app: one message, edited as tasks failed and again when resolved; replies in its thread.
    let messages = o.slack.messages();
    assert_eq!(
        messages.len(),
        1,
        "one Slack message for the incident: {messages:#?}"
    );
    let message = &messages[0];
    assert!(message.edits >= 2, "{message:#?}");
    assert!(
        message.text.contains("Resolved"),
        "the message ends resolved: {}",
        message.text
    );
    assert!(
        !message.replies.is_empty(),
        "recovery replies in the thread"
    );
    assert_eq!(o.slack.orphan_replies(), 0);

    // Teams: a card when it opened and one when it resolved.
    assert_eq!(o.teams.cards().len(), 2, "{:#?}", o.teams.cards());

    // SNS: the diagnosis, then the short resolved message.
    let sns = o
        .web
        .world
        .sns_messages_within(&o.inbox, Duration::from_secs(2))
        .await;
    let statuses: Vec<&str> = sns
        .iter()
        .map(|m| {
            m.envelope["MessageAttributes"]["status"]["Value"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    assert!(
        statuses.contains(&"open") && statuses.contains(&"resolved"),
        "{statuses:?}"
    );

    let records = audit(&lines);
    assert_eq!(records.len(), 13, "one audit line per invocation");
    assert_eq!(
        decisions(&records),
        BTreeMap::from([
            ("notified".into(), 1),
            ("suppressed".into(), 11),
            ("resolved".into(), 1)
        ])
    );
    let resolved = records
        .iter()
        .find(|r| r["decision"] == "resolved")
        .unwrap();
    assert_eq!(resolved["Resolved"], 1);
    for sink in ["sns", "pagerduty", "slack_app", "teams"] {
        assert_eq!(
            resolved["deliveries"][sink]["status"], "sent",
            "{sink}: {resolved}"
        );
    }
    assert!(
        resolved["deliveries"]["teams"]["id"]
            .as_str()
            .unwrap()
            .contains("accepted"),
        "{resolved}"
    );
    o.assert_no_secret_in(&lines);
}

#[tokio::test]
async fn pagerduty_down_does_not_stop_sns_slack_or_teams_and_the_audit_says_which_sink_failed() {
    let o = on_call().await;
    o.pagerduty.answer(PagerDutyBehaviour::Down);
    let (results, lines) = through_the_binary(&o, vec![o.failure().await], 1).await;
    assert!(
        matches!(&results[0], InvocationResult::Response(v) if v["decision"] == "notified"),
        "{results:?}"
    );
    assert_eq!(
        o.web
            .world
            .sns_messages_within(&o.inbox, Duration::from_secs(2))
            .await
            .len(),
        1
    );
    assert_eq!(o.slack.messages().len(), 1);
    assert_eq!(o.teams.cards().len(), 1);
    let records = audit(&lines);
    let r = &records[0];
    assert_eq!(r["deliveries"]["pagerduty"]["status"], "failed", "{r}");
    assert_eq!(r["SinkFailures"], 1);
    let by_sink: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("Sink").is_some())
        .collect();
    assert_eq!(by_sink.len(), 1, "{lines:#?}");
    assert_eq!(
        (
            by_sink[0]["Sink"].as_str(),
            by_sink[0]["SinkFailures"].as_u64()
        ),
        (Some("pagerduty"), Some(1))
    );
    o.assert_no_secret_in(&lines);
}

#[tokio::test]
async fn a_circuit_breaker_rollback_updates_the_page_and_the_thread_then_resolves_saying_so() {
    let o = on_call().await;
    let app = o.app();
    for _ in 0..3 {
        o.web.world.invoke(&app, o.failure().await).await.unwrap();
    }
    let ecs = aws_sdk_ecs::Client::new(&o.web.world.config);
    let primary = ecs
        .describe_services()
        .cluster("prod")
        .services("web")
        .send()
        .await
        .unwrap()
        .services()[0]
        .deployments()[0]
        .id()
        .unwrap()
        .to_string();
    let failed = service::deployment_failed(
        &o.web.world,
        "prod",
        "web",
        "ecs-svc/8702117563924912345",
        Some(&primary),
    );
    let outcome = o.web.world.invoke(&app, failed).await.unwrap();
    assert_eq!(outcome["decision"], "notified", "{outcome}");

    let alert = &o.pagerduty.alerts()[0];
    assert_eq!(alert.status, AlertStatus::Triggered);
    assert!(
        alert
            .payload()
            .to_string()
            .contains("ecs-svc/8702117563924912345"),
        "the page names the deployment: {}",
        alert.payload()
    );
    let message = &o.slack.messages()[0];
    let thread: Vec<&str> = message.replies.iter().map(|r| r.text.as_str()).collect();
    assert!(
        thread
            .iter()
            .any(|t| t.contains("ecs-svc/8702117563924912345")),
        "{thread:#?}"
    );

    o.web
        .world
        .invoke(&app, service::steady_state(&o.web.world, "prod", "web"))
        .await
        .unwrap();
    assert_eq!(o.pagerduty.alerts()[0].status, AlertStatus::Resolved);
    let message = &o.slack.messages()[0];
    let whole = format!("{} {}", message.text, message.blocks);
    assert!(
        whole.contains("Resolved") && whole.contains("rolled back"),
        "{whole}"
    );
}
