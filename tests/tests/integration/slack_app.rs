//! Slack as an app: an incident is one message, posted once, edited in place as tasks keep
//! failing, answered in its thread when a diagnosis adds something, and edited to resolved at
//! the end. The sender runs against the harness's stand-in for Slack's Web API
//! (`pulldoctor_tests::slack_api`) with its bot token in moto's Secrets Manager; the diagnoses
//! are judged from saved Facts (moto worlds).

use std::path::Path;
use std::time::Duration;

use pulldoctor::engine::judge;
use pulldoctor::model::audit::Delivery;
use pulldoctor::model::diagnosis::Diagnosis;
use pulldoctor::model::facts::Facts;
use pulldoctor::model::incident::{
    FailedDeployment, Incident, IncidentKey, IncidentStatus, Notice, Resolution,
};
use pulldoctor::notify::http::Http;
use pulldoctor::notify::slack_app::{SlackApp, SlackAppOutcome};
use pulldoctor_tests::slack_api::{SlackApi, SlackApiAnswer, SlackCall, BOT_TOKEN, CHANNEL};
use pulldoctor_tests::World;
use serde_json::Value;
use tokio::time::Instant;

/// A diagnosis judged from saved Facts (`functions/pulldoctor-core/tests/fixtures/facts/<name>.json`).
fn saved(name: &str) -> Diagnosis {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../functions/pulldoctor-core/tests/fixtures/facts/{name}.json"
    ));
    let facts: Facts = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    judge(&facts)
}

/// The incident a first diagnosis opens (what the lead's incident store keeps).
fn opened(d: &Diagnosis) -> Incident {
    let key = IncidentKey::of(d);
    let now = chrono::Utc::now().timestamp();
    Incident {
        id: key.id(),
        key,
        subject: pulldoctor::report::subject_name(d),
        status: IncidentStatus::Open,
        opened_at: now,
        last_failure_at: now,
        failures: 1,
        root_cause: d.root_cause.code.code().to_string(),
        title: d.root_cause.title.clone(),
        task_definition: Some("web:2".into()),
        slack: None,
        deployment: None,
    }
}

struct Setup {
    world: World,
    secret_arn: String,
    slack: SlackApi,
    app: SlackApp,
}

async fn setup(token: &str, channel: &str) -> Setup {
    let world = World::new().await;
    let slack = SlackApi::start();
    let secret_arn = world
        .secret("pulldoctor/slack-app", &SlackApi::secret(token, channel))
        .await;
    let app = SlackApp::new(
        &world.config,
        secret_arn.clone(),
        Some(slack.api_url()),
        Http::new(),
        Duration::from_secs(2),
    );
    Setup {
        world,
        secret_arn,
        slack,
        app,
    }
}

fn deadline(seconds: u64) -> Instant {
    Instant::now() + Duration::from_secs(seconds)
}

fn sent(outcome: &SlackAppOutcome) -> &str {
    match &outcome.delivery {
        Delivery::Sent { id } => id,
        other => panic!("not sent: {other:?}"),
    }
}

fn failed(outcome: &SlackAppOutcome) -> &str {
    match &outcome.delivery {
        Delivery::Failed { error } => error,
        other => panic!("not failed: {other:?}"),
    }
}

fn calls_of<'a>(calls: &'a [SlackCall], method: &str) -> Vec<&'a SlackCall> {
    calls.iter().filter(|c| c.method == method).collect()
}

/// Every text of a message's blocks, joined.
fn block_text(blocks: &Value) -> String {
    let mut out = vec![];
    for b in blocks.as_array().into_iter().flatten() {
        for t in [&b["text"]["text"], &b["elements"][0]["text"]] {
            out.extend(t.as_str().map(str::to_string));
        }
    }
    out.join("\n")
}

/// The token goes in the Authorization header and nowhere else of a request.
fn token_only_in_the_header(calls: &[SlackCall], token: &str) {
    for c in calls {
        assert_eq!(
            c.authorization.as_deref(),
            Some(format!("Bearer {token}").as_str()),
            "{c:?}"
        );
        assert!(
            !c.body.to_string().contains(token),
            "the token is in a body: {c:?}"
        );
        assert_eq!(
            c.raw.matches(token).count(),
            1,
            "the token once, in the header: {}",
            c.raw
        );
    }
}

// The "done when" ----------------------------------------------------------------------
#[tokio::test]
async fn an_incident_is_one_message_edited_in_place_answered_in_its_thread_and_resolved() {
    let s = setup(BOT_TOKEN, CHANNEL).await;
    let first = saved("moto-fargate-sg-trap");
    let mut incident = opened(&first);

    let outcome = s
        .app
        .send(
            &Notice::Opened {
                incident: &incident,
                diagnosis: &first,
            },
            deadline(10),
        )
        .await;
    let posted = outcome
        .posted
        .clone()
        .expect("the message's ref, for the incident to keep");
    assert_eq!(posted.channel, CHANNEL);
    assert_eq!(sent(&outcome), format!("posted ts {}", posted.ts));
    incident.slack = Some(posted.clone());
    let messages = s.slack.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].ts, posted.ts);
    let text = block_text(&messages[0].blocks);
    assert!(text.contains("1 failed task so far · incident `"), "{text}");
    assert!(text.contains(&incident.id[..8]), "{text}");
    assert!(
        text.contains("NET_TASK_SG_EGRESS"),
        "the diagnosis is the message: {text}"
    );
    let since = chrono::DateTime::from_timestamp(incident.opened_at, 0)
        .unwrap()
        .format("%H:%M UTC")
        .to_string();

    // Three more failed tasks, nothing new: the counter moves on the same message.
    for n in 2..=4 {
        incident.failures = n;
        incident.last_failure_at += 30;
        let outcome = s
            .app
            .send(
                &Notice::Updated {
                    incident: &incident,
                    diagnosis: &first,
                    news: &[],
                    cause_changed: false,
                },
                deadline(10),
            )
            .await;
        assert_eq!(sent(&outcome), format!("updated ts {}", posted.ts));
        assert_eq!(outcome.posted, None, "no new message");
        let messages = s.slack.messages();
        assert_eq!(messages.len(), 1, "one message only: {messages:#?}");
        assert_eq!(messages[0].edits, (n - 1) as u32);
        assert!(messages[0].replies.is_empty());
        let text = block_text(&messages[0].blocks);
        assert!(
            text.contains(&format!("{n} failed tasks since {since}")),
            "{text}"
        );
    }

    // A fifth with something new (another subnet, a better root cause): edited and answered.
    let better = saved("moto-fargate-nacl90");
    incident.failures = 5;
    incident.root_cause = better.root_cause.code.code().to_string();
    incident.title = better.root_cause.title.clone();
    let news = vec!["Subnet subnet-0b1 fails too <!channel>".to_string()];
    let outcome = s
        .app
        .send(
            &Notice::Updated {
                incident: &incident,
                diagnosis: &better,
                news: &news,
                cause_changed: true,
            },
            deadline(10),
        )
        .await;
    assert!(
        sent(&outcome).starts_with(&format!("updated ts {}, thread reply ts ", posted.ts)),
        "{outcome:?}"
    );
    let messages = s.slack.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].edits, 4);
    assert_eq!(messages[0].replies.len(), 1, "one reply for the news");
    let reply = &messages[0].replies[0];
    assert!(
        reply.text.contains("*New in failed task 5:*")
            && reply
                .text
                .contains("Subnet subnet-0b1 fails too &lt;!channel&gt;"),
        "{reply:?}"
    );
    let text = block_text(&messages[0].blocks);
    assert!(
        text.contains(&format!("5 failed tasks since {since}")),
        "{text}"
    );
    assert!(
        text.contains("root cause revised by a later diagnosis: `NET_NACL`"),
        "{text}"
    );

    // Recovery: the service rolled back to the previous revision.
    let at = incident.opened_at + 3600 + 120;
    let resolution = Resolution::SteadyState {
        at,
        steady_on: Some("web:1".into()),
        rolled_back: true,
    };
    let outcome = s
        .app
        .send(
            &Notice::Resolved {
                incident: &incident,
                resolution: &resolution,
            },
            deadline(10),
        )
        .await;
    assert!(
        sent(&outcome).starts_with(&format!("updated ts {}, thread reply ts ", posted.ts)),
        "{outcome:?}"
    );
    let messages = s.slack.messages();
    assert_eq!(messages.len(), 1, "still one message: {messages:#?}");
    let m = &messages[0];
    assert_eq!(m.edits, 5);
    assert_eq!(m.replies.len(), 2);
    assert!(
        m.blocks[0]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Resolved: web: "),
        "{:#}",
        m.blocks
    );
    assert!(m.text.starts_with("Resolved: web: "), "{}", m.text);
    let text = block_text(&m.blocks);
    for needle in [
        "the service is steady on the previous revision `web:1` (rolled back)",
        "The image of the failed revision `web:2` still cannot be pulled",
        "Open 1 h 02 min with 5 failed tasks.",
        "*Root cause:* `NET_NACL`",
    ] {
        assert!(text.contains(needle), "{needle} missing: {text}");
    }
    assert!(
        !text.contains("NET_TASK_SG_EGRESS"),
        "the resolved form replaced the diagnosis: {text}"
    );
    assert!(
        block_text(&m.replies[1].blocks).contains("*Resolved* at"),
        "{:?}",
        m.replies[1]
    );

    // On the wire: 3 posts (message, news, resolved reply) and 5 edits; every post without link
    // previews; the token only ever in the header.
    let calls = s.slack.calls();
    let posts = calls_of(&calls, "chat.postMessage");
    assert_eq!(
        (posts.len(), calls_of(&calls, "chat.update").len()),
        (3, 5),
        "{calls:#?}"
    );
    assert!(
        posts
            .iter()
            .all(|c| c.body["unfurl_links"] == false && c.status == 200),
        "{posts:#?}"
    );
    assert!(
        posts[1].body["thread_ts"] == posted.ts.as_str()
            && posts[2].body["thread_ts"] == posted.ts.as_str()
    );
    assert!(posts[0].body.get("thread_ts").is_none());
    token_only_in_the_header(&calls, BOT_TOKEN);
    assert_eq!(s.slack.orphan_replies(), 0);
}

#[tokio::test]
async fn a_rate_limited_or_failing_api_is_retried_inside_the_deadline() {
    let s = setup(BOT_TOKEN, CHANNEL).await;
    let d = saved("moto-fargate-sg-trap");
    let incident = opened(&d);

    // 429 with Retry-After: 1, then 503: the post is made once, on the third attempt.
    s.slack
        .answer_next([SlackApiAnswer::RateLimited(1), SlackApiAnswer::Status(503)]);
    let started = std::time::Instant::now();
    let outcome = s
        .app
        .send(
            &Notice::Opened {
                incident: &incident,
                diagnosis: &d,
            },
            deadline(10),
        )
        .await;
    assert!(outcome.posted.is_some(), "{outcome:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was waited for"
    );
    let statuses: Vec<u16> = s.slack.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [429, 503, 200]);
    assert_eq!(s.slack.messages().len(), 1);

    // A Retry-After past the deadline is not waited for: failed at once, saying so.
    s.slack.answer_next([SlackApiAnswer::RateLimited(30)]);
    let started = std::time::Instant::now();
    let outcome = s
        .app
        .send(
            &Notice::Opened {
                incident: &incident,
                diagnosis: &d,
            },
            deadline(3),
        )
        .await;
    assert_eq!(
        failed(&outcome),
        "chat.postMessage: HTTP 429 (retry after 30 s) after 1 attempt(s)"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.slack.messages().len(), 1);
}

#[tokio::test]
async fn a_post_that_may_have_been_made_is_never_sent_twice_but_an_edit_is_retried() {
    let s = setup(BOT_TOKEN, CHANNEL).await;
    let d = saved("moto-fargate-sg-trap");
    let mut incident = opened(&d);

    // The post is made, then the connection drops before the answer.
    s.slack.answer_next([SlackApiAnswer::DropAfterProcessing]);
    let outcome = s
        .app
        .send(
            &Notice::Opened {
                incident: &incident,
                diagnosis: &d,
            },
            deadline(10),
        )
        .await;
    assert!(
        failed(&outcome).starts_with("chat.postMessage: "),
        "{outcome:?}"
    );
    assert!(
        failed(&outcome).ends_with("(not retried: the message may have been posted)"),
        "{outcome:?}"
    );
    assert_eq!(s.slack.messages().len(), 1, "posted once, not twice");
    assert_eq!(s.slack.calls().len(), 1);

    // The same for an edit: the same edit again is harmless, so it is retried.
    incident.slack = Some(pulldoctor::model::incident::SlackMessageRef {
        channel: CHANNEL.into(),
        ts: s.slack.messages()[0].ts.clone(),
    });
    incident.failures = 2;
    s.slack.answer_next([SlackApiAnswer::DropAfterProcessing]);
    let outcome = s
        .app
        .send(
            &Notice::Updated {
                incident: &incident,
                diagnosis: &d,
                news: &[],
                cause_changed: false,
            },
            deadline(10),
        )
        .await;
    sent(&outcome);
    let messages = s.slack.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].edits, 2,
        "the edit was made twice, to the same content"
    );
}

#[tokio::test]
async fn a_refused_token_is_a_failure_naming_slacks_error_and_the_token_never_shows() {
    const WRONG: &str = "xoxb-1111111111-PULLDOC-r3v0k3dT0k3n";
    let s = setup(WRONG, CHANNEL).await;
    let d = saved("moto-fargate-sg-trap");
    let incident = opened(&d);

    let outcome = s
        .app
        .send(
            &Notice::Opened {
                incident: &incident,
                diagnosis: &d,
            },
            deadline(10),
        )
        .await;
    let error = failed(&outcome);
    assert!(
        error.starts_with("chat.postMessage: invalid_auth"),
        "{error}"
    );
    assert_eq!(outcome.posted, None);
    assert!(s.slack.messages().is_empty());
    let shown = format!("{outcome:?} {:?} {error}", s.app);
    for secret in [WRONG, "r3v0k3dT0k3n", BOT_TOKEN] {
        assert!(!shown.contains(secret), "the token leaked: {shown}");
    }
    token_only_in_the_header(&s.slack.calls(), WRONG);

    // Rotated in Secrets Manager: the refused token was forgotten, the new one is read.
    aws_sdk_secretsmanager::Client::new(&s.world.config)
        .put_secret_value()
        .secret_id(&s.secret_arn)
        .secret_string(SlackApi::secret(BOT_TOKEN, CHANNEL))
        .send()
        .await
        .expect("PutSecretValue");
    let outcome = s
        .app
        .send(
            &Notice::Opened {
                incident: &incident,
                diagnosis: &d,
            },
            deadline(10),
        )
        .await;
    assert!(outcome.posted.is_some(), "{outcome:?}");

    // Slack's other refusals, switched on the stub, are named the same way.
    for code in [
        "token_revoked",
        "account_inactive",
        "channel_not_found",
        "internal_error",
    ] {
        s.slack.answer_next([SlackApiAnswer::Error(code.into())]);
        let outcome = s
            .app
            .send(
                &Notice::Opened {
                    incident: &incident,
                    diagnosis: &d,
                },
                deadline(10),
            )
            .await;
        assert!(
            failed(&outcome).starts_with(&format!("chat.postMessage: {code}")),
            "{outcome:?}"
        );
    }
    let posts = s.slack.calls().len();
    assert_eq!(
        posts, 6,
        "ok:false is not retried (internal_error may have posted)"
    );
}

#[tokio::test]
async fn a_missing_channel_or_message_is_handled_as_slack_answers_it() {
    let s = setup(BOT_TOKEN, CHANNEL).await;
    let d = saved("moto-fargate-sg-trap");
    let mut incident = opened(&d);
    let elsewhere = s
        .world
        .secret(
            "pulldoctor/slack-app-elsewhere",
            &SlackApi::secret(BOT_TOKEN, "C0NOSUCH"),
        )
        .await;
    let elsewhere = SlackApp::new(
        &s.world.config,
        elsewhere,
        Some(s.slack.api_url()),
        Http::new(),
        Duration::from_secs(2),
    );
    let outcome = elsewhere
        .send(
            &Notice::Opened {
                incident: &incident,
                diagnosis: &d,
            },
            deadline(10),
        )
        .await;
    assert_eq!(failed(&outcome), "chat.postMessage: channel_not_found");

    // An update of a message that is gone (deleted in Slack) posts the incident anew.
    incident.failures = 3;
    incident.slack = Some(pulldoctor::model::incident::SlackMessageRef {
        channel: CHANNEL.into(),
        ts: "1600000000.000001".into(),
    });
    let news = vec!["another image".to_string()];
    let outcome = s
        .app
        .send(
            &Notice::Updated {
                incident: &incident,
                diagnosis: &d,
                news: &news,
                cause_changed: false,
            },
            deadline(10),
        )
        .await;
    let posted = outcome.posted.clone().expect("posted anew");
    let messages = s.slack.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].ts, posted.ts);
    assert!(
        block_text(&messages[0].blocks).contains("3 failed tasks since"),
        "the counter carries over"
    );
    assert_eq!(
        messages[0].replies.len(),
        1,
        "the news replies on the new message"
    );
    let errors: Vec<_> = s
        .slack
        .calls()
        .iter()
        .filter_map(|c| c.error.clone())
        .collect();
    assert_eq!(errors, ["channel_not_found", "message_not_found"]);

    // An update without a message (the first post failed): posted like an opening.
    incident.slack = None;
    let outcome = s
        .app
        .send(
            &Notice::Updated {
                incident: &incident,
                diagnosis: &d,
                news: &[],
                cause_changed: false,
            },
            deadline(10),
        )
        .await;
    assert!(
        outcome.posted.is_some() && sent(&outcome).starts_with("posted ts "),
        "{outcome:?}"
    );

    // Nothing to resolve without a message: skipped, no call made.
    let calls = s.slack.calls().len();
    let outcome = s
        .app
        .send(
            &Notice::Resolved {
                incident: &incident,
                resolution: &Resolution::Expired {
                    at: incident.opened_at + 1800,
                },
            },
            deadline(10),
        )
        .await;
    assert_eq!(
        outcome.delivery,
        Delivery::Skipped {
            reason: "the incident has no Slack message".into()
        }
    );
    assert_eq!(s.slack.calls().len(), calls);
}

#[tokio::test]
async fn a_failed_deployment_is_answered_in_each_incident_thread() {
    let s = setup(BOT_TOKEN, CHANNEL).await;
    let d = saved("moto-fargate-sg-trap");
    let mut with_message = opened(&d);
    with_message.failures = 6;
    let outcome = s
        .app
        .send(
            &Notice::Opened {
                incident: &with_message,
                diagnosis: &d,
            },
            deadline(10),
        )
        .await;
    with_message.slack = outcome.posted;
    let mut without_message = opened(&saved("moto-fargate-nacl90"));
    without_message.id = "feedbeef".repeat(4);

    let deployment = FailedDeployment {
        deployment_id: "ecs-svc/5555555555555555555".into(),
        reason: Some("ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/4444444444444444444".into()),
        rollback_deployment_id: Some("ecs-svc/4444444444444444444".into()),
        rolled_back_to: Some("web:1".into()),
        failed_revision: Some("web:2".into()),
        at: with_message.opened_at + 600,
    };
    let incidents = [with_message.clone(), without_message];
    let outcome = s
        .app
        .send(
            &Notice::DeploymentFailed {
                deployment: &deployment,
                service: "web",
                incidents: &incidents,
            },
            deadline(10),
        )
        .await;
    let id = sent(&outcome);
    assert!(
        id.ends_with("; no Slack message for incident(s) feedbeef"),
        "{id}"
    );
    let messages = s.slack.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!((m.edits, m.replies.len()), (1, 1));
    let reply = block_text(&m.replies[0].blocks);
    for needle in [
        "*Deployment failed:* `ecs-svc/5555555555555555555` of service `web`",
        "ECS deployment circuit breaker: rolling back",
        "*Rolled back to:* `web:1` (deployment `ecs-svc/4444444444444444444`)",
        "*Failed revision:* `web:2`",
        "*Why:* this incident's root cause, `NET_TASK_SG_EGRESS`",
        "6 failed tasks since",
    ] {
        assert!(reply.contains(needle), "{needle} missing: {reply}");
    }
    let text = block_text(&m.blocks);
    assert!(
        text.contains("*Deployment failed:* `ecs-svc/5555555555555555555`")
            && text.contains("*Root cause:* `NET_TASK_SG_EGRESS`"),
        "{text}"
    );

    // No incident with a message: nothing to answer.
    let lone = [incidents[1].clone()];
    let outcome = s
        .app
        .send(
            &Notice::DeploymentFailed {
                deployment: &deployment,
                service: "web",
                incidents: &lone,
            },
            deadline(10),
        )
        .await;
    assert_eq!(
        outcome.delivery,
        Delivery::Skipped {
            reason: "no Slack message for incident(s) feedbeef".into()
        }
    );
}
