//! The paging and chat channels of an incident against local stand-ins of the SaaS
//! (tests/src/pagerduty.rs, tests/src/teams.rs): PagerDuty's Events API v2 and a Teams
//! Workflows webhook. Their credentials are Secrets Manager secrets in moto.

use std::time::{Duration, Instant};

use pulldoctor::model::audit::Delivery;
use pulldoctor::model::diagnosis::{
    Confidence, Diagnosis, FailureSummary, Finding, RootCause, RootCauseSummary, TaskSummary,
    SCHEMA,
};
use pulldoctor::model::facts::TaskSource;
use pulldoctor::model::incident::{
    FailedDeployment, Incident, IncidentKey, IncidentStatus, Notice, Resolution,
};
use pulldoctor::model::message::Category;
use pulldoctor::notify::http::Http;
use pulldoctor::notify::pagerduty::PagerDuty;
use pulldoctor::notify::teams::Teams;
use pulldoctor_tests::pagerduty::{AlertStatus, PagerDutyBehaviour, PagerDutyStub};
use pulldoctor_tests::teams::{TeamsBehaviour, TeamsStub};
use pulldoctor_tests::World;

const ROUTING_KEY: &str = "R0uT1nGk3yS3cr3t0123456789abcdef";
const TIMEOUT: Duration = Duration::from_secs(2);
/// For sends whose timing is not under test (the first secret read from moto can take seconds).
const AMPLE: Duration = Duration::from_secs(20);

/// Service `web` of cluster `prod`, whose tag `v2` was never pushed.
fn diagnosis() -> Diagnosis {
    let image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web:v2";
    Diagnosis {
        schema: SCHEMA.into(),
        event_id: Some("e-1".into()),
        account: Some("123456789012".into()),
        region: Some("us-east-1".into()),
        task: TaskSummary {
            arn: Some("arn:aws:ecs:us-east-1:123456789012:task/prod/0abc".into()),
            cluster: Some("prod".into()),
            group: Some("service:web".into()),
            launch_type: Some("FARGATE".into()),
            platform_version: Some("1.4.0".into()),
            source: TaskSource::DescribeTasks,
        },
        failure: FailureSummary {
            container: Some("web".into()),
            image: Some(image.into()),
            message: format!("CannotPullContainerError: {image}: not found"),
            category: Category::ImageNotFound,
        },
        root_cause: RootCauseSummary {
            code: RootCause::EcrImageNotFound,
            title: "Tag v2 does not exist in team/web".into(),
            confidence: Confidence::High,
            remediation: Some("Push team/web:v2.".into()),
            to_verify: vec![],
            also_wrong: vec![],
        },
        findings: vec![Finding::fail(RootCause::EcrImageNotFound, "Tag v2 does not exist in team/web")
            .resource(image)
            .evidence("tag", "v2")
            .console_url("https://us-east-1.console.aws.amazon.com/ecr/repositories/private/123456789012/team/web?region=us-east-1")],
        aws_calls: 4,
        duration_ms: 90,
        other_failures: vec![],
        deploy: None,
        changes: None,
        blast_radius: None,
    }
}

fn incident(d: &Diagnosis, failures: u64) -> Incident {
    let key = IncidentKey::of(d);
    Incident {
        id: key.id(),
        key,
        subject: "web".into(),
        status: IncidentStatus::Open,
        opened_at: 1_700_000_000,
        last_failure_at: 1_700_000_000 + failures as i64 * 30,
        failures,
        root_cause: d.root_cause.code.code().into(),
        title: d.root_cause.title.clone(),
        task_definition: Some("web:7".into()),
        slack: None,
        deployment: None,
    }
}

fn steady() -> Resolution {
    Resolution::SteadyState {
        at: 1_700_000_900,
        steady_on: Some("web:7".into()),
        rolled_back: false,
    }
}

fn deadline_in(d: Duration) -> tokio::time::Instant {
    tokio::time::Instant::now() + d
}

fn error_of(delivery: &Delivery) -> &str {
    match delivery {
        Delivery::Failed { error } => error,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// PagerDuty against the stub, its routing key read from a secret holding `secret`, and a
/// failure of service `web` to page about.
struct Paging {
    _world: World,
    stub: PagerDutyStub,
    pd: PagerDuty,
    d: Diagnosis,
    i: Incident,
}

async fn paging(secret: &str) -> Paging {
    let world = World::new().await;
    let stub = PagerDutyStub::start();
    let arn = world.secret("pulldoctor/pagerduty", secret).await;
    let pd = PagerDuty::new(&world.config, arn, Some(stub.url()), Http::new(), TIMEOUT);
    let d = diagnosis();
    let i = incident(&d, 1);
    Paging {
        _world: world,
        stub,
        pd,
        d,
        i,
    }
}

impl Paging {
    async fn send_opened(&self, deadline: Duration) -> Delivery {
        self.pd
            .send(
                &Notice::Opened {
                    incident: &self.i,
                    diagnosis: &self.d,
                },
                deadline_in(deadline),
            )
            .await
    }

    /// Reads the routing key into the sink's cache (a resolve of nothing open: PagerDuty
    /// accepts and drops it), so that a timing test times the posts only. Returns the requests
    /// so far.
    async fn warm(&self) -> usize {
        assert!(self
            .pd
            .send(
                &Notice::Resolved {
                    incident: &self.i,
                    resolution: &steady()
                },
                deadline_in(AMPLE)
            )
            .await
            .sent());
        self.stub.requests().len()
    }
}

/// The key is in no delivery, error or Debug output.
fn assert_no_key(pd: &PagerDuty, deliveries: &[&Delivery], key: &str) {
    assert!(!format!("{pd:?}").contains(key), "{pd:?}");
    for d in deliveries {
        assert!(!format!("{d:?}").contains(key), "{d:?}");
    }
}

#[tokio::test]
async fn pagerduty_trigger_update_resolve_is_one_incident() {
    let p = paging(&format!(r#"{{"routing_key": "{ROUTING_KEY}"}}"#)).await;
    let mut later = diagnosis();
    later.root_cause.code = RootCause::NetNoRoute;
    later.root_cause.title = "Subnet subnet-1 has no route to ECR".into();
    later.root_cause.confidence = Confidence::Medium;
    let updated = Incident {
        failures: 6,
        root_cause: "NET_NO_ROUTE".into(),
        title: later.root_cause.title.clone(),
        ..p.i.clone()
    };
    let news = vec!["a better root cause: NET_NO_ROUTE".to_string()];
    let key = p.i.dedup_key();

    let deliveries = [
        p.send_opened(AMPLE).await,
        p.pd.send(
            &Notice::Updated {
                incident: &updated,
                diagnosis: &later,
                news: &news,
                cause_changed: true,
            },
            deadline_in(AMPLE),
        )
        .await,
        p.pd.send(
            &Notice::Resolved {
                incident: &updated,
                resolution: &steady(),
            },
            deadline_in(AMPLE),
        )
        .await,
    ];
    for d in &deliveries {
        assert_eq!(
            d,
            &Delivery::Sent {
                id: format!("{key} (202)")
            }
        );
    }
    let actions: Vec<_> = p
        .stub
        .accepted()
        .iter()
        .map(|e| e["event_action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, ["trigger", "trigger", "resolve"]);
    let alerts = p.stub.alerts();
    assert_eq!(
        alerts.len(),
        1,
        "one PagerDuty incident for the whole life: {alerts:#?}"
    );
    let alert = &alerts[0];
    assert_eq!(
        (alert.dedup_key.as_str(), alert.status, alert.triggers),
        (key.as_str(), AlertStatus::Resolved, 2)
    );
    assert_eq!(
        alert.routing_key, ROUTING_KEY,
        "the key read from the secret"
    );
    let payload = alert.payload();
    assert_eq!(payload["summary"], "web (prod, us-east-1): Subnet subnet-1 has no route to ECR [NET_NO_ROUTE] · 6 failed tasks");
    assert_eq!(payload["severity"], "error");
    assert_eq!(payload["custom_details"]["failures"], 6);
    assert_eq!(payload["custom_details"]["root_cause_changed"], true);
    assert_no_key(&p.pd, &deliveries.iter().collect::<Vec<_>>(), ROUTING_KEY);
}

#[tokio::test]
async fn pagerduty_retries_a_429_after_its_retry_after() {
    let p = paging(ROUTING_KEY).await;
    let before = p.warm().await;
    p.stub.answer_next(PagerDutyBehaviour::RateLimited(1), 1);
    let started = Instant::now();
    let delivery = p.send_opened(Duration::from_secs(5)).await;
    assert_eq!(
        delivery,
        Delivery::Sent {
            id: format!("{} (202)", p.i.dedup_key())
        }
    );
    assert_eq!(
        p.stub.requests().len() - before,
        2,
        "one 429, then the accepted retry"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was waited for: {:?}",
        started.elapsed()
    );
    assert_eq!(p.stub.alerts().len(), 1);
}

#[tokio::test]
async fn pagerduty_server_errors_until_the_deadline_fail_within_it() {
    let p = paging(ROUTING_KEY).await;
    let before = p.warm().await;
    p.stub.answer(PagerDutyBehaviour::ServerError);
    let budget = Duration::from_secs(3);
    let started = Instant::now();
    let delivery = p.send_opened(budget).await;
    let elapsed = started.elapsed();
    let error = error_of(&delivery);
    assert!(
        error.starts_with("HTTP 500") && error.contains("no time left before the deadline"),
        "{error}"
    );
    assert!(
        elapsed < budget + Duration::from_millis(300),
        "returned after {elapsed:?}"
    );
    assert!(
        p.stub.requests().len() - before >= 2,
        "retried: {} requests",
        p.stub.requests().len() - before
    );
    assert!(p.stub.alerts().is_empty());
    assert_no_key(&p.pd, &[&delivery], ROUTING_KEY);
}

#[tokio::test]
async fn pagerduty_invalid_event_is_not_retried_and_says_why() {
    // One character short: plausible to us, refused by PagerDuty.
    let short_key = &ROUTING_KEY[..31];
    let p = paging(short_key).await;
    let delivery = p.send_opened(AMPLE).await;
    assert_eq!(
        error_of(&delivery),
        "HTTP 400 Event object is invalid: Length of 'routing_key' is incorrect (should be 32 characters)"
    );
    assert_eq!(p.stub.requests().len(), 1, "a 400 is not sent again");
    assert_no_key(&p.pd, &[&delivery], short_key);
}

#[tokio::test]
async fn pagerduty_down_fails_within_the_deadline_and_the_next_send_gets_through() {
    let p = paging(ROUTING_KEY).await;
    let before = p.warm().await;
    p.stub.answer(PagerDutyBehaviour::Down);
    let started = Instant::now();
    let delivery = p.send_opened(Duration::from_secs(2)).await;
    let error = error_of(&delivery);
    assert!(
        error.contains("no time left before the deadline") && error.contains("attempt"),
        "{error}"
    );
    assert!(!error.contains("127.0.0.1"), "{error}");
    assert!(
        started.elapsed() < Duration::from_millis(2300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(p.stub.requests().len(), before, "connections were refused");
    p.stub.answer(PagerDutyBehaviour::Normal);
    let delivery = p.send_opened(Duration::from_secs(2)).await;
    assert!(delivery.sent(), "{delivery:?}");
}

#[tokio::test]
async fn pagerduty_failed_deployment_triggers_each_incident_and_names_the_failures() {
    let p = paging(ROUTING_KEY).await;
    let mut sidecar = diagnosis();
    sidecar.failure.image =
        Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/sidecar:v5".into());
    let incidents = [incident(&p.d, 3), incident(&sidecar, 3)];
    let deployment = FailedDeployment {
        deployment_id: "ecs-svc/5555".into(),
        reason: Some(
            "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/4444".into(),
        ),
        rollback_deployment_id: Some("ecs-svc/4444".into()),
        rolled_back_to: Some("web:6".into()),
        failed_revision: Some("web:7".into()),
        at: 1_700_000_500,
    };
    let notice = Notice::DeploymentFailed {
        deployment: &deployment,
        service: "web",
        incidents: &incidents,
    };
    let delivery = p.pd.send(&notice, deadline_in(AMPLE)).await;
    let keys: Vec<String> = incidents.iter().map(Incident::dedup_key).collect();
    assert_eq!(
        delivery,
        Delivery::Sent {
            id: format!("{} (202), {} (202)", keys[0], keys[1])
        }
    );
    let alerts = p.stub.alerts();
    assert_eq!(
        alerts
            .iter()
            .map(|a| a.dedup_key.clone())
            .collect::<Vec<_>>(),
        keys
    );
    for a in &alerts {
        let deployment = &a.payload()["custom_details"]["deployment"];
        assert_eq!(
            (
                deployment["id"].as_str(),
                deployment["rolled_back_to"].as_str()
            ),
            (Some("ecs-svc/5555"), Some("web:6"))
        );
    }

    // The second one refused until the deadline: failed, saying which, and which went through.
    p.stub.answer_next(PagerDutyBehaviour::Normal, 1);
    p.stub.answer(PagerDutyBehaviour::ServerError);
    let delivery =
        p.pd.send(&notice, deadline_in(Duration::from_secs(2)))
            .await;
    let error = error_of(&delivery);
    assert!(
        error.starts_with(&format!("1 of 2 events failed: {}: HTTP 500", keys[1])),
        "{error}"
    );
    assert!(
        error.ends_with(&format!("; sent: {} (202)", keys[0])),
        "{error}"
    );
    assert_no_key(&p.pd, &[&delivery], ROUTING_KEY);
}

/// Teams against the stub, its webhook URL read from a secret.
async fn teams(world: &World, stub: &TeamsStub) -> Teams {
    let arn = world
        .secret(
            "pulldoctor/teams",
            &format!(r#"{{"webhook_url": "{}"}}"#, stub.webhook_url()),
        )
        .await;
    Teams::new(&world.config, arn, Http::new(), TIMEOUT)
}

const ACCEPTED: &str = "HTTP 202 accepted (Teams does not confirm delivery)";

#[tokio::test]
async fn teams_posts_a_card_when_the_incident_opens_and_when_it_resolves() {
    let world = World::new().await;
    let stub = TeamsStub::start();
    let teams = teams(&world, &stub).await;
    let d = diagnosis();
    let opened = incident(&d, 1);
    let updated = incident(&d, 4);
    let deployment = FailedDeployment {
        deployment_id: "ecs-svc/5555".into(),
        reason: None,
        rollback_deployment_id: None,
        rolled_back_to: None,
        failed_revision: None,
        at: 1_700_000_500,
    };
    let incidents = [updated.clone()];

    let deliveries = [
        teams
            .send(
                &Notice::Opened {
                    incident: &opened,
                    diagnosis: &d,
                },
                deadline_in(AMPLE),
            )
            .await,
        teams
            .send(
                &Notice::Updated {
                    incident: &updated,
                    diagnosis: &d,
                    news: &[],
                    cause_changed: false,
                },
                deadline_in(AMPLE),
            )
            .await,
        teams
            .send(
                &Notice::DeploymentFailed {
                    deployment: &deployment,
                    service: "web",
                    incidents: &incidents,
                },
                deadline_in(AMPLE),
            )
            .await,
        teams
            .send(
                &Notice::Resolved {
                    incident: &updated,
                    resolution: &steady(),
                },
                deadline_in(AMPLE),
            )
            .await,
    ];
    assert_eq!(
        deliveries[0],
        Delivery::Sent {
            id: ACCEPTED.into()
        },
        "a 202 is reported as accepted, not delivered"
    );
    assert!(
        matches!(&deliveries[1], Delivery::Skipped { reason } if reason.contains("post-only")),
        "{:?}",
        deliveries[1]
    );
    assert!(
        matches!(&deliveries[2], Delivery::Skipped { reason } if reason.contains("failed deployment")),
        "{:?}",
        deliveries[2]
    );
    assert_eq!(
        deliveries[3],
        Delivery::Sent {
            id: ACCEPTED.into()
        }
    );
    assert_eq!(
        stub.requests().len(),
        2,
        "the skipped notices posted nothing"
    );
    let cards = stub.cards();
    assert_eq!(cards.len(), 2);
    assert_eq!(
        cards[0]["body"][0]["text"],
        "web: Tag v2 does not exist in team/web"
    );
    assert!(cards[0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["type"] == "Action.OpenUrl"));
    assert!(
        cards[1]["body"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Resolved: web: "),
        "{}",
        cards[1]
    );
    for d in &deliveries {
        assert!(!format!("{d:?}").contains("s3cr3tW0rkfl0wS1g"));
    }
    assert!(!format!("{teams:?}").contains("s3cr3tW0rkfl0wS1g"));
}

#[tokio::test]
async fn teams_retries_429_and_5xx_within_the_deadline_but_not_a_400() {
    let world = World::new().await;
    let stub = TeamsStub::start();
    let teams = teams(&world, &stub).await;
    let d = diagnosis();
    let i = incident(&d, 1);
    let notice = Notice::Opened {
        incident: &i,
        diagnosis: &d,
    };

    stub.answer_next(TeamsBehaviour::RateLimited(1), 1);
    let started = Instant::now();
    assert_eq!(
        teams.send(&notice, deadline_in(AMPLE)).await,
        Delivery::Sent {
            id: ACCEPTED.into()
        }
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was waited for"
    );
    assert_eq!(
        (stub.requests().len(), stub.cards().len()),
        (2, 1),
        "one 429, one accepted post"
    );

    stub.answer(TeamsBehaviour::Status(400));
    let delivery = teams
        .send(&notice, deadline_in(Duration::from_secs(5)))
        .await;
    assert!(error_of(&delivery).starts_with("HTTP 400"), "{delivery:?}");
    assert_eq!(stub.requests().len(), 3, "a 400 is not posted again");

    stub.answer(TeamsBehaviour::Status(502));
    let started = Instant::now();
    let delivery = teams
        .send(&notice, deadline_in(Duration::from_secs(2)))
        .await;
    let error = error_of(&delivery);
    assert!(
        error.starts_with("HTTP 502") && error.contains("no time left before the deadline"),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(2300),
        "{:?}",
        started.elapsed()
    );
    assert!(
        stub.requests().len() >= 5,
        "retried: {}",
        stub.requests().len()
    );
    assert!(
        !error.contains("s3cr3tW0rkfl0wS1g") && !error.contains("127.0.0.1"),
        "{error}"
    );
}
