//! Slack Block Kit for an incident's one message and its thread (the Slack app's sink): the
//! message while the incident is open (the diagnosis with a counter), the replies that say what
//! is new, and the forms it is edited to when a deployment fails and when the incident ends.
//!
//! Every value from AWS or from the incident is untrusted and escaped as in [`super::slack`];
//! headers are `plain_text`, which Slack never parses for mentions or links.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::clean;
use super::slack::{
    code, escape, mrkdwn, render, truncate, BLOCKS_MAX, FIELD_MAX, HEADER_MAX, SECTION_MAX,
};
use crate::model::diagnosis::Diagnosis;
use crate::model::incident::{FailedDeployment, Incident, Resolution};

/// A thread reply is a short message: its text is capped well below a section's limit.
const REPLY_MAX: usize = 2900;

/// The first 8 characters of the incident id: enough to tell incidents apart in a channel.
pub fn short_id(incident: &Incident) -> String {
    incident.id.chars().take(8).collect()
}

/// `14:02 UTC`, or `Mar 3 14:02 UTC` when `with_date`.
fn clock(at: i64, with_date: bool) -> String {
    let Some(t) = DateTime::<Utc>::from_timestamp(at, 0) else {
        return format!("{at} (unix time)");
    };
    if with_date {
        t.format("%b %-d %H:%M UTC").to_string()
    } else {
        t.format("%H:%M UTC").to_string()
    }
}

/// `45 s`, `12 min`, `2 h 05 min`, `3 d 4 h`.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

fn tasks(n: u64) -> String {
    if n == 1 {
        "1 failed task".into()
    } else {
        format!("{n} failed tasks")
    }
}

/// `1 failed task so far`, or `4 failed tasks since 14:02 UTC` (with the date once the incident
/// has lasted a day).
pub fn counter(incident: &Incident) -> String {
    if incident.failures <= 1 {
        return format!("{} so far", tasks(1));
    }
    let long = incident.last_failure_at - incident.opened_at >= 86_400;
    format!(
        "{} since {}",
        tasks(incident.failures),
        clock(incident.opened_at, long)
    )
}

/// The context line under the header: the counter and the incident id.
fn counter_block(incident: &Incident, cause_changed: bool) -> Value {
    let mut text = format!(
        "{} · incident {}",
        counter(incident),
        code(&short_id(incident))
    );
    if cause_changed {
        text.push_str(&format!(
            " · root cause revised by a later diagnosis: {}",
            code(&incident.root_cause)
        ));
    }
    json!({"type": "context", "elements": [mrkdwn(text, SECTION_MAX)]})
}

/// What a failed deployment says on the incident's message.
fn deployment_text(deployment: &FailedDeployment, service: Option<&str>) -> String {
    let mut text = format!(
        ":rotating_light: *Deployment failed:* {}",
        code(&deployment.deployment_id)
    );
    if let Some(s) = service {
        text.push_str(&format!(" of service {}", code(s)));
    }
    text.push_str(&format!(" at {}", clock(deployment.at, false)));
    if let Some(reason) = &deployment.reason {
        text.push_str(&format!("\n{}", escape(reason)));
    }
    if let Some(revision) = &deployment.failed_revision {
        text.push_str(&format!("\n*Failed revision:* {}", code(revision)));
    }
    match (
        &deployment.rolled_back_to,
        &deployment.rollback_deployment_id,
    ) {
        (Some(td), Some(id)) => text.push_str(&format!(
            "\n*Rolled back to:* {} (deployment {})",
            code(td),
            code(id)
        )),
        (Some(td), None) => text.push_str(&format!("\n*Rolled back to:* {}", code(td))),
        (None, Some(id)) => text.push_str(&format!("\n*Rolled back to:* deployment {}", code(id))),
        (None, None) => text.push_str("\nNot rolled back."),
    }
    text
}

fn section(text: String) -> Value {
    json!({"type": "section", "text": mrkdwn(text, SECTION_MAX)})
}

fn header(text: &str) -> Value {
    json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&clean(text), HEADER_MAX), "emoji": false}})
}

/// The message while the incident is open: the diagnosis as the webhook renders it, with the
/// counter (and a failed deployment, when one is joined) right under the header.
pub fn open_message(incident: &Incident, d: &Diagnosis, cause_changed: bool) -> Value {
    let mut message = render(d, 0);
    let blocks = message["blocks"]
        .as_array_mut()
        .expect("render makes blocks");
    let mut top = vec![counter_block(incident, cause_changed)];
    if let Some(deployment) = &incident.deployment {
        top.push(section(deployment_text(
            deployment,
            incident.key.service.as_deref(),
        )));
    }
    let at = 1.min(blocks.len());
    blocks.splice(at..at, top);
    blocks.truncate(BLOCKS_MAX);
    message
}

/// A thread reply: what a later failure added to the diagnosis.
pub fn news_reply(incident: &Incident, news: &[String]) -> Value {
    let mut text = format!("*New in failed task {}:*", incident.failures);
    for item in news {
        text.push_str(&format!("\n• {}", escape(item)));
    }
    let text = truncate(&text, REPLY_MAX);
    json!({"text": text, "blocks": [section(text.clone())]})
}

/// The root cause and where the failure is, from the incident alone (no diagnosis at hand).
fn summary_blocks(incident: &Incident) -> Vec<Value> {
    let mut blocks = vec![section(format!(
        "*Root cause:* {}\n{}",
        code(&incident.root_cause),
        escape(&incident.title)
    ))];
    let k = &incident.key;
    let fields: Vec<Value> = [
        ("Cluster", k.cluster.as_deref()),
        ("Service", k.service.as_deref()),
        ("Task family", k.family.as_deref()),
        ("Task definition", incident.task_definition.as_deref()),
        ("Image", k.image.as_deref()),
        ("Account", k.account.as_deref()),
        ("Region", k.region.as_deref()),
    ]
    .into_iter()
    .filter_map(|(label, v)| v.map(|v| mrkdwn(format!("*{label}*\n{}", code(v)), FIELD_MAX)))
    .collect();
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    blocks
}

/// The message after a circuit-breaker failure of the service: the notice carries no
/// diagnosis, so the message becomes the incident's summary under the deployment (the next
/// failure restores the full diagnosis, the deployment kept on top).
pub fn deployment_message(
    incident: &Incident,
    deployment: &FailedDeployment,
    service: &str,
) -> Value {
    let mut blocks = vec![
        header(&format!("{}: {}", incident.subject, incident.title)),
        counter_block(incident, false),
        section(deployment_text(deployment, Some(service))),
    ];
    blocks.extend(summary_blocks(incident));
    let text = escape(&format!(
        "Deployment {} of {} failed: {} ({})",
        deployment.deployment_id, service, incident.title, incident.root_cause
    ));
    json!({"text": text, "blocks": blocks})
}

/// A thread reply: the deployment that failed and the incident's root cause as its reason.
pub fn deployment_reply(
    incident: &Incident,
    deployment: &FailedDeployment,
    service: &str,
) -> Value {
    let text = format!(
        "{}\n*Why:* this incident's root cause, {} {} ({} since {})",
        deployment_text(deployment, Some(service)),
        code(&incident.root_cause),
        escape(&incident.title),
        tasks(incident.failures),
        clock(incident.opened_at, false)
    );
    let text = truncate(&text, REPLY_MAX);
    let fallback = escape(&format!(
        "Deployment {} of {} failed",
        deployment.deployment_id, service
    ));
    json!({"text": fallback, "blocks": [section(text)]})
}

/// How the incident ended, in one paragraph.
fn ending_text(incident: &Incident, resolution: &Resolution) -> String {
    let tally = |at: i64| {
        format!(
            "Open {} with {}.",
            duration(at - incident.opened_at),
            tasks(incident.failures)
        )
    };
    match resolution {
        Resolution::SteadyState { at, steady_on, rolled_back: false } => {
            let on = steady_on.as_deref().map(|td| format!(" on {}", code(td))).unwrap_or_default();
            format!(":white_check_mark: *Resolved* at {}: the service reached steady state{on}. {}", clock(*at, false), tally(*at))
        }
        Resolution::SteadyState { at, steady_on, rolled_back: true } => {
            let previous = match steady_on {
                Some(td) => format!("the previous revision {}", code(td)),
                None => "the previous revision".into(),
            };
            let failed = incident
                .deployment
                .as_ref()
                .and_then(|d| d.failed_revision.as_deref())
                .or(incident.task_definition.as_deref())
                .map(|td| format!("revision {}", code(td)))
                .unwrap_or_else(|| "revision".into());
            format!(
                ":white_check_mark: *Resolved* at {}: the service is steady on {previous} (rolled back). \
                 :warning: The image of the failed {failed} still cannot be pulled: fix it before deploying that revision again. {}",
                clock(*at, false),
                tally(*at)
            )
        }
        Resolution::Expired { at } => format!(
            ":hourglass: *Expired* at {} with the notification window: a standalone task has no recovery signal, \
             so whether it recovered is not known. {} A new failure opens a new incident.",
            clock(*at, false),
            tally(*at)
        ),
    }
}

fn ending_word(resolution: &Resolution) -> &'static str {
    match resolution {
        Resolution::SteadyState { .. } => "Resolved",
        Resolution::Expired { .. } => "Expired",
    }
}

/// The message once the incident has ended: "Resolved" (or "Expired") before the headline, how
/// it ended, how long it was open and how many tasks failed, then the root cause it had.
pub fn resolved_message(incident: &Incident, resolution: &Resolution) -> Value {
    let word = ending_word(resolution);
    let mut blocks = vec![
        header(&format!("{word}: {}: {}", incident.subject, incident.title)),
        section(ending_text(incident, resolution)),
    ];
    if let Some(deployment) = &incident.deployment {
        blocks.push(section(deployment_text(
            deployment,
            incident.key.service.as_deref(),
        )));
    }
    blocks.extend(summary_blocks(incident));
    blocks.push(json!({"type": "context", "elements": [mrkdwn(format!("incident {}", code(&short_id(incident))), SECTION_MAX)]}));
    let text = escape(&format!(
        "{word}: {}: {} ({})",
        incident.subject, incident.title, incident.root_cause
    ));
    json!({"text": text, "blocks": blocks})
}

/// The short thread reply that says the incident ended.
pub fn resolved_reply(incident: &Incident, resolution: &Resolution) -> Value {
    let text = truncate(&ending_text(incident, resolution), REPLY_MAX);
    let fallback = escape(&format!(
        "{}: {}",
        ending_word(resolution),
        incident.subject
    ));
    json!({"text": fallback, "blocks": [section(text)]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::incident::{IncidentKey, IncidentStatus};
    use crate::report::slack::fallback_text;
    use crate::report::tests::sample;

    /// 2024-03-03 14:02:00 UTC.
    const OPENED: i64 = 1_709_474_520;

    fn incident(failures: u64, last_after: i64) -> Incident {
        let d = sample();
        let key = IncidentKey::of(&d);
        Incident {
            id: key.id(),
            key,
            subject: "web-api".into(),
            status: IncidentStatus::Open,
            opened_at: OPENED,
            last_failure_at: OPENED + last_after,
            failures,
            root_cause: "ECR_IMAGE_NOT_FOUND".into(),
            title: "Tag v9 does not exist in team/app".into(),
            task_definition: Some("web-api:9".into()),
            slack: None,
            deployment: None,
        }
    }

    fn deployment() -> FailedDeployment {
        FailedDeployment {
            deployment_id: "ecs-svc/1111".into(),
            reason: Some(
                "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/0000".into(),
            ),
            rollback_deployment_id: Some("ecs-svc/0000".into()),
            rolled_back_to: Some("web-api:8".into()),
            failed_revision: Some("web-api:9".into()),
            at: OPENED + 600,
        }
    }

    fn texts(v: &Value) -> Vec<String> {
        let mut out = vec![];
        for b in v["blocks"].as_array().unwrap() {
            for t in [&b["text"]["text"], &b["elements"][0]["text"]] {
                if let Some(t) = t.as_str() {
                    out.push(t.to_string());
                }
            }
        }
        out
    }

    #[test]
    fn counter_and_duration_read_as_on_call_says_them() {
        for (failures, last_after, want) in [
            (1, 0, "1 failed task so far"),
            (0, 0, "1 failed task so far"),
            (2, 60, "2 failed tasks since 14:02 UTC"),
            (40, 86_399, "40 failed tasks since 14:02 UTC"),
            (41, 86_400, "41 failed tasks since Mar 3 14:02 UTC"),
        ] {
            assert_eq!(
                counter(&incident(failures, last_after)),
                want,
                "{failures} {last_after}"
            );
        }
        for (seconds, want) in [
            (-5, "0 s"),
            (45, "45 s"),
            (60, "1 min"),
            (3599, "59 min"),
            (3600, "1 h 00 min"),
            (7500, "2 h 05 min"),
            (3 * 86_400 + 4 * 3600 + 5, "3 d 4 h"),
        ] {
            assert_eq!(duration(seconds), want, "{seconds}");
        }
    }

    #[test]
    fn open_message_is_the_diagnosis_with_the_counter_under_the_header() {
        let d = sample();
        for (failures, cause_changed, deployment, want_second, want_more) in [
            (1, false, false, "1 failed task so far · incident `", None),
            (
                3,
                false,
                false,
                "3 failed tasks since 14:02 UTC · incident `",
                None,
            ),
            (
                4,
                true,
                false,
                "4 failed tasks since 14:02 UTC",
                Some("root cause revised by a later diagnosis: `ECR_IMAGE_NOT_FOUND`"),
            ),
            (
                5,
                false,
                true,
                "5 failed tasks since 14:02 UTC",
                Some("*Deployment failed:* `ecs-svc/1111` of service `web-api`"),
            ),
        ] {
            let mut i = incident(failures, 300);
            i.deployment = deployment.then(self::deployment);
            let v = open_message(&i, &d, cause_changed);
            let blocks = v["blocks"].as_array().unwrap();
            assert_eq!(blocks[0]["type"], "header");
            assert_eq!(blocks[1]["type"], "context");
            let t = texts(&v);
            assert!(t[1].starts_with(want_second), "{failures}: {t:#?}");
            assert!(t[1].contains(&short_id(&i)), "{t:#?}");
            if let Some(more) = want_more {
                assert!(
                    t[1..3].iter().any(|s| s.contains(more)),
                    "{more} missing: {t:#?}"
                );
            }
            // The diagnosis is all there, as the webhook renders it.
            assert_eq!(
                blocks.len(),
                render(&d, 0)["blocks"].as_array().unwrap().len() + 1 + usize::from(deployment)
            );
            assert_eq!(v["text"], fallback_text(&d));
        }
    }

    #[test]
    fn open_message_stays_within_the_block_limit() {
        let mut d = sample();
        let f = d.findings[0].clone();
        d.findings = (0..400)
            .map(|i| {
                let mut f = f.clone();
                f.title = format!("{i} {}", "x".repeat(300));
                f
            })
            .collect();
        let mut i = incident(9, 60);
        i.deployment = Some(deployment());
        let v = open_message(&i, &d, true);
        assert!(v["blocks"].as_array().unwrap().len() <= BLOCKS_MAX);
        assert_eq!(
            v["blocks"][1]["type"], "context",
            "the counter survives the cut"
        );
    }

    #[test]
    fn resolved_forms_say_how_the_incident_ended() {
        let at = OPENED + 2 * 3600 + 5 * 60;
        let steady = |steady_on: Option<&str>, rolled_back| Resolution::SteadyState {
            at,
            steady_on: steady_on.map(str::to_string),
            rolled_back,
        };
        for (resolution, with_deployment, header, wants, not) in [
            (
                steady(Some("web-api:9"), false),
                false,
                "Resolved: web-api: Tag v9 does not exist in team/app",
                vec![
                    "*Resolved* at 16:07 UTC: the service reached steady state on `web-api:9`.",
                    "Open 2 h 05 min with 7 failed tasks.",
                ],
                vec!["still cannot be pulled", "rolled back"],
            ),
            (
                steady(Some("web-api:8"), true),
                true,
                "Resolved: web-api: Tag v9 does not exist in team/app",
                vec![
                    "steady on the previous revision `web-api:8` (rolled back)",
                    "The image of the failed revision `web-api:9` still cannot be pulled",
                    "*Deployment failed:* `ecs-svc/1111`",
                ],
                vec!["reached steady state on"],
            ),
            (
                steady(None, true),
                false,
                "Resolved: web-api: Tag v9 does not exist in team/app",
                vec![
                    "steady on the previous revision (rolled back)",
                    "failed revision `web-api:9` still cannot be pulled",
                ],
                vec!["revision revision"],
            ),
            (
                Resolution::Expired { at },
                false,
                "Expired: web-api: Tag v9 does not exist in team/app",
                vec![
                    "*Expired* at 16:07 UTC with the notification window",
                    "a standalone task has no recovery signal",
                    "Open 2 h 05 min with 7 failed tasks.",
                ],
                vec!["*Resolved*"],
            ),
        ] {
            let mut i = incident(7, 3600);
            i.deployment = with_deployment.then(deployment);
            let v = resolved_message(&i, &resolution);
            assert_eq!(v["blocks"][0]["text"]["text"], header, "{resolution:?}");
            assert!(v["text"]
                .as_str()
                .unwrap()
                .starts_with(header.split(':').next().unwrap()));
            let all = texts(&v).join("\n");
            for w in &wants {
                assert!(all.contains(w), "{w} missing for {resolution:?}: {all}");
            }
            for n in &not {
                assert!(!all.contains(n), "{n} present for {resolution:?}: {all}");
            }
            assert!(all.contains("*Root cause:* `ECR_IMAGE_NOT_FOUND`"), "{all}");
            let reply = texts(&resolved_reply(&i, &resolution)).join("\n");
            assert!(reply.contains(wants[0]), "{reply}");
        }
    }

    #[test]
    fn deployment_reply_and_message_name_the_deployment_and_the_root_cause() {
        let i = incident(3, 300);
        let d = deployment();
        for (rolled_back_to, rollback_id, want) in [
            (
                Some("web-api:8"),
                Some("ecs-svc/0000"),
                "*Rolled back to:* `web-api:8` (deployment `ecs-svc/0000`)",
            ),
            (
                None,
                Some("ecs-svc/0000"),
                "*Rolled back to:* deployment `ecs-svc/0000`",
            ),
            (None, None, "Not rolled back."),
        ] {
            let d = FailedDeployment {
                rolled_back_to: rolled_back_to.map(str::to_string),
                rollback_deployment_id: rollback_id.map(str::to_string),
                ..d.clone()
            };
            let reply = texts(&deployment_reply(&i, &d, "web-api")).join("\n");
            for w in [
                want,
                "*Deployment failed:* `ecs-svc/1111` of service `web-api` at 14:12 UTC",
                "*Failed revision:* `web-api:9`",
                "*Why:* this incident's root cause, `ECR_IMAGE_NOT_FOUND` Tag v9 does not exist",
                "3 failed tasks since 14:02 UTC",
            ] {
                assert!(reply.contains(w), "{w} missing: {reply}");
            }
            let message = deployment_message(&i, &d, "web-api");
            assert_eq!(
                message["blocks"][0]["text"]["text"],
                "web-api: Tag v9 does not exist in team/app"
            );
            let all = texts(&message).join("\n");
            assert!(
                all.contains(want)
                    && all.contains("3 failed tasks since 14:02 UTC")
                    && all.contains("*Root cause:* `ECR_IMAGE_NOT_FOUND`"),
                "{all}"
            );
        }
    }

    #[test]
    fn news_reply_lists_what_is_new() {
        let i = incident(4, 300);
        let v = news_reply(
            &i,
            &[
                "subnet subnet-2 has no route".into(),
                "image team/other:v1 <!channel>".into(),
            ],
        );
        assert_eq!(
            v["text"],
            "*New in failed task 4:*\n• subnet subnet-2 has no route\n• image team/other:v1 &lt;!channel&gt;"
        );
    }

    /// Values from AWS or the incident cannot ping, link or reshape any of the messages.
    #[test]
    fn crafted_values_are_escaped_everywhere() {
        let mut i = incident(3, 300);
        i.subject = "web <!channel>".into();
        i.title = "Tag <https://evil.example|click> @here".into();
        i.root_cause = "<!here>".into();
        i.key.cluster = Some("prod`<!channel>".into());
        let mut d = deployment();
        d.reason = Some("circuit breaker <!subteam^S1> @channel".into());
        d.rolled_back_to = Some("x`<!everyone>`".into());
        i.deployment = Some(d.clone());
        let at = OPENED + 60;
        let outputs = [
            open_message(&i, &sample(), true),
            news_reply(&i, &["<!channel> @here".into()]),
            deployment_message(&i, &d, "svc <!here>"),
            deployment_reply(&i, &d, "svc <!here>"),
            resolved_message(
                &i,
                &Resolution::SteadyState {
                    at,
                    steady_on: Some("<!here>".into()),
                    rolled_back: true,
                },
            ),
            resolved_reply(&i, &Resolution::Expired { at }),
        ];
        for v in outputs {
            let mut v = v.clone();
            // Headers are plain_text (never parsed); everything else must be escaped.
            v["blocks"]
                .as_array_mut()
                .unwrap()
                .retain(|b| b["type"] != "header");
            let out = v.to_string();
            for bad in [
                "<!channel>",
                "<!here>",
                "<!everyone>",
                "<!subteam",
                "<https://evil",
                "@here",
                "@channel",
            ] {
                assert!(!out.contains(bad), "{bad} survived: {out}");
            }
        }
    }
}
