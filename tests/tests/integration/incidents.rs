//! The incident lifecycle against moto's DynamoDB, SNS and ECS: one incident per failing service
//! and image (not per root cause), resolved when ECS says the service is steady again, joined to
//! the deployment the circuit breaker failed, in whichever order the events arrive.

use std::time::Duration;

use pulldoctor::collect::Clients;
use pulldoctor::intake::{intake, Intake};
use pulldoctor::lambda::{App, Settings};
use pulldoctor::model::diagnosis::{Confidence, RootCause};
use pulldoctor::notify::incident::{FailureRecord, FailureStep, IncidentStore};
use pulldoctor_tests::events::{messages, service, TaskEvent};
use pulldoctor_tests::{Inbox, SnsMessage, WebService};
use serde_json::Value;

struct Broken {
    web: WebService,
    inbox: Inbox,
    table: String,
}

async fn broken_service() -> Broken {
    let web = WebService::running("v2").await;
    let inbox = web.world.sns_inbox("pulldoctor-alerts").await;
    let table = web.world.dedup_table("pulldoctor-dedup").await;
    Broken { web, inbox, table }
}

impl Broken {
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
    fn app(&self) -> App {
        App::with_settings(
            &self.web.world.config,
            Settings {
                topic_arn: Some(self.inbox.topic_arn.clone()),
                dedup_table: Some(self.table.clone()),
                ..Settings::default()
            },
        )
    }
    async fn invoke(&self, app: &App, event: Value) -> Value {
        self.web
            .world
            .invoke(app, event)
            .await
            .expect("the handler answers")
    }
    async fn sns(&self) -> Vec<SnsMessage> {
        self.web
            .world
            .sns_messages_within(&self.inbox, Duration::from_secs(2))
            .await
    }
    /// The id of the service's current (PRIMARY) deployment, as moto reports it.
    async fn primary_deployment(&self) -> String {
        let ecs = aws_sdk_ecs::Client::new(&self.web.world.config);
        let out = ecs
            .describe_services()
            .cluster("prod")
            .services("web")
            .send()
            .await
            .unwrap();
        out.services()[0].deployments()[0].id().unwrap().to_string()
    }
}

fn status(m: &SnsMessage) -> Option<&str> {
    if let Some(json) = m
        .message
        .lines()
        .last()
        .filter(|l| l.contains("pulldoctor.incident/v1"))
    {
        let v: Value = serde_json::from_str(json).expect("the incident JSON");
        pulldoctor_tests::contracts::assert_valid(
            pulldoctor_tests::contracts::Contract::Incident,
            &v,
        );
        assert_eq!(
            v["status"].as_str(),
            m.envelope["MessageAttributes"]["status"]["Value"].as_str()
        );
    }
    m.envelope["MessageAttributes"]["status"]["Value"].as_str()
}

#[tokio::test]
async fn a_storm_opens_one_incident_and_the_steady_state_resolves_it_once() {
    let b = broken_service().await;
    let app = b.app();
    for _ in 0..6 {
        b.invoke(&app, b.failure().await).await;
    }
    let opened = b.sns().await;
    assert_eq!(opened.len(), 1, "one page for the storm: {opened:#?}");
    assert_eq!(status(&opened[0]), Some("open"));

    // ECS sends the steady state; two execution environments get copies at once.
    let steady = service::steady_state(&b.web.world, "prod", "web");
    let (first, second) = tokio::join!(
        b.invoke(&app, steady.clone()),
        b.invoke(&app, service::steady_state(&b.web.world, "prod", "web"))
    );
    let decisions = [
        first["decision"].as_str().unwrap(),
        second["decision"].as_str().unwrap(),
    ];
    assert!(decisions.contains(&"resolved"), "{decisions:?}");
    let resolved = b.sns().await;
    assert_eq!(
        resolved.len(),
        1,
        "exactly one resolved message: {resolved:#?}"
    );
    assert_eq!(status(&resolved[0]), Some("resolved"));
    let text = &resolved[0].message;
    assert!(
        text.contains("Resolved after") && text.contains("6 failed task(s)"),
        "{text}"
    );
    assert!(text.contains("ECR_IMAGE_NOT_FOUND"), "{text}");
    assert!(
        !text.contains("rolled back"),
        "the service was never rolled back: {text}"
    );
    assert_eq!(
        resolved[0].envelope["MessageAttributes"]["service"]["Value"],
        "web"
    );

    // ECS re-sends the steady state later: nothing open, nothing read, nothing sent.
    let again = b
        .invoke(&app, service::steady_state(&b.web.world, "prod", "web"))
        .await;
    assert_eq!(again["decision"], "no_open_incident", "{again}");
    assert!(b.sns().await.is_empty());

    // The next failure after recovery is a new incident: paged again.
    b.invoke(&app, b.failure().await).await;
    let reopened = b.sns().await;
    assert_eq!(reopened.len(), 1);
    assert_eq!(status(&reopened[0]), Some("open"));
}

#[tokio::test]
async fn a_steady_state_for_a_service_without_an_incident_costs_one_read_and_no_aws_call() {
    let b = broken_service().await;
    let app = b.app();
    b.web.world.moto.proxy().take();
    let outcome = b
        .invoke(&app, service::steady_state(&b.web.world, "prod", "web"))
        .await;
    assert_eq!(outcome["decision"], "no_open_incident", "{outcome}");
    let requests: Vec<String> = b
        .web
        .world
        .moto
        .proxy()
        .take()
        .into_iter()
        .map(|s| s.action)
        .collect();
    assert_eq!(
        requests,
        vec!["dynamodb:GetItem".to_string()],
        "one DynamoDB read and nothing else"
    );
    assert!(b.sns().await.is_empty());
}

#[tokio::test]
async fn a_circuit_breaker_rollback_names_the_deployment_the_revision_and_the_cause() {
    let b = broken_service().await;
    let app = b.app();
    for _ in 0..3 {
        b.invoke(&app, b.failure().await).await;
    }
    assert_eq!(b.sns().await.len(), 1);
    let rollback_target = b.primary_deployment().await;
    let failed = service::deployment_failed(
        &b.web.world,
        "prod",
        "web",
        "ecs-svc/8702117563924912345",
        Some(&rollback_target),
    );
    let outcome = b.invoke(&app, failed.clone()).await;
    assert_eq!(outcome["decision"], "notified", "{outcome}");
    let sns = b.sns().await;
    assert_eq!(sns.len(), 1, "{sns:#?}");
    assert_eq!(status(&sns[0]), Some("deployment_failed"));
    let text = &sns[0].message;
    let revision = b.web.task_definition.rsplit('/').next().unwrap();
    for needle in [
        "ecs-svc/8702117563924912345",
        &format!("rolled back to {revision}"),
        "ECR_IMAGE_NOT_FOUND",
        "3 failed task(s)",
    ] {
        assert!(text.contains(needle), "{needle} missing: {text}");
    }
    // The same deployment reported again (another event id): joined once.
    let again = b
        .invoke(
            &app,
            service::deployment_failed(
                &b.web.world,
                "prod",
                "web",
                "ecs-svc/8702117563924912345",
                Some(&rollback_target),
            ),
        )
        .await;
    assert_eq!(again["decision"], "recorded", "{again}");
    assert!(b.sns().await.is_empty());

    // Steady again on the old revision: resolved, and the message says it got there by rolling back.
    b.invoke(&app, service::steady_state(&b.web.world, "prod", "web"))
        .await;
    let resolved = b.sns().await;
    assert_eq!(resolved.len(), 1);
    assert!(
        resolved[0].message.contains("because it rolled back")
            && resolved[0].message.contains("still cannot pull"),
        "{}",
        resolved[0].message
    );
}

#[tokio::test]
async fn a_failed_deployment_before_any_diagnosis_joins_the_incident_when_it_opens() {
    let b = broken_service().await;
    let app = b.app();
    let outcome = b
        .invoke(
            &app,
            service::deployment_failed(
                &b.web.world,
                "prod",
                "web",
                "ecs-svc/5550001112223334444",
                None,
            ),
        )
        .await;
    assert_eq!(outcome["decision"], "recorded", "{outcome}");
    assert!(
        b.sns().await.is_empty(),
        "no alert without a pull failure to explain it"
    );
    b.invoke(&app, b.failure().await).await;
    let sns = b.sns().await;
    assert_eq!(sns.len(), 1);
    assert!(
        sns[0]
            .message
            .contains("Deployment ecs-svc/5550001112223334444 of web failed"),
        "{}",
        sns[0].message
    );
    assert!(sns[0].message.contains("ECR_IMAGE_NOT_FOUND"));
}

/// The store on its own: a better root cause found later updates the incident in place; a
/// standalone family's incident expires with its window and the next failure opens a new one.
#[tokio::test]
async fn a_better_cause_updates_in_place_and_a_standalone_incident_expires() {
    let b = broken_service().await;
    let store = IncidentStore::new(
        aws_sdk_dynamodb::Client::new(&b.web.world.config),
        b.table.clone(),
        Duration::from_secs(2),
        Duration::from_secs(60),
    );
    let Intake::PullFailure(failure) = intake(&b.failure().await) else {
        panic!()
    };
    let (_, known) =
        pulldoctor::engine::diagnose(&Clients::new(&b.web.world.config), &failure).await;
    assert_eq!(known.root_cause.code, RootCause::EcrImageNotFound);
    let mut unknown = known.clone();
    unknown.root_cause.code = RootCause::Unknown;
    unknown.root_cause.confidence = Confidence::Low;
    let now = chrono::Utc::now().timestamp();
    let record = |d, event_id, now| FailureRecord {
        diagnosis: d,
        task_definition: Some("web:42".into()),
        event_id,
        now,
    };
    let FailureStep::Opened { incident, .. } =
        store.record_failure(&record(&unknown, "e-1", now)).await
    else {
        panic!("not opened")
    };
    assert_eq!(incident.root_cause, "UNKNOWN");
    let FailureStep::Counted(counted) = store.record_failure(&record(&known, "e-2", now)).await
    else {
        panic!("not counted")
    };
    assert!(counted.cause_changed && counted.update_sinks, "{counted:?}");
    assert_eq!(
        (
            counted.incident.id,
            counted.incident.root_cause.as_str(),
            counted.incident.failures
        ),
        (incident.id.clone(), "ECR_IMAGE_NOT_FOUND", 2)
    );
    // UNKNOWN again (throttled reads) does not take the better cause back.
    let FailureStep::Counted(counted) = store.record_failure(&record(&unknown, "e-3", now)).await
    else {
        panic!()
    };
    assert!(!counted.cause_changed);
    assert_eq!(counted.incident.root_cause, "ECR_IMAGE_NOT_FOUND");

    let mut standalone = known.clone();
    standalone.task.group = Some("family:nightly".into());
    let FailureStep::Opened {
        incident: first, ..
    } = store.record_failure(&record(&standalone, "s-1", now)).await
    else {
        panic!()
    };
    let FailureStep::Opened {
        incident: second,
        expired,
        ..
    } = store
        .record_failure(&record(&standalone, "s-2", now + 3))
        .await
    else {
        panic!("the window passed: a new incident")
    };
    assert_eq!(second.id, first.id, "same family and image: same key");
    assert_eq!(second.failures, 1);
    assert_eq!(
        expired.map(|e| e.status),
        Some(pulldoctor::model::incident::IncidentStatus::Expired)
    );
}
