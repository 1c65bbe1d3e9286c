//! What SNS and the Slack webhook say when an incident moves without a new diagnosis: it is
//! resolved (or expired), or the service's deployment failed. Format-neutral lines first, then
//! each format. Pure; `pulldoctor.incident/v1` is the JSON SNS carries after the text.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::model::incident::{FailedDeployment, Incident, Resolution};
use crate::report;
use crate::report::sns::{SnsFormat, SnsMessage, SUBJECT_MAX};

/// `09:12 UTC`.
fn clock(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .map(|t| t.format("%H:%M UTC").to_string())
        .unwrap_or_else(|| "?".into())
}

/// `1 h 05 min`, `12 min`.
pub fn duration(seconds: i64) -> String {
    let minutes = seconds.max(0) / 60;
    match minutes {
        m if m >= 60 => format!("{} h {:02} min", m / 60, m % 60),
        m => format!("{m} min"),
    }
}

/// `web (prod, us-east-1)`.
pub fn place(i: &Incident) -> String {
    let place: Vec<&str> = [i.key.cluster.as_deref(), i.key.region.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if place.is_empty() {
        i.subject.clone()
    } else {
        format!("{} ({})", i.subject, place.join(", "))
    }
}

/// What a message about an incident says: a title and its lines, in plain words.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// `resolved`, `expired`, `deployment_failed`: the SNS `status` attribute.
    pub status: &'static str,
    pub title: String,
    pub lines: Vec<String>,
}

/// The incident ended.
pub fn resolved(i: &Incident, resolution: &Resolution) -> Summary {
    let image = i.key.image.as_deref().unwrap_or("the image");
    let failed = format!("{} failed task(s) since {}", i.failures, clock(i.opened_at));
    match resolution {
        Resolution::SteadyState { at, steady_on, rolled_back } => {
            let mut lines = vec![format!(
                "Resolved after {}: the service reached a steady state at {}. {failed}; last cause {} ({}).",
                duration(at - i.opened_at),
                clock(*at),
                i.root_cause,
                i.title
            )];
            if *rolled_back {
                let on = steady_on.as_deref().map(|t| format!(" on {t}")).unwrap_or_default();
                let failing = i.task_definition.as_deref().map(|t| format!(" ({t})")).unwrap_or_default();
                lines.push(format!(
                    "It is steady{on} because it rolled back: the failed revision{failing} still cannot pull {image}. Fix the cause before deploying it again."
                ));
            }
            Summary { status: "resolved", title: format!("Resolved: {}", place(i)), lines }
        }
        Resolution::Expired { at } => Summary {
            status: "expired",
            title: format!("Expired: {}", place(i)),
            lines: vec![format!(
                "No failure of {} since {}; the incident expired with its window at {}. A standalone task has no recovery signal, so pulldoctor cannot tell whether it was fixed. {failed}; last cause {} ({}).",
                i.subject,
                clock(i.last_failure_at),
                clock(*at),
                i.root_cause,
                i.title
            )],
        },
    }
}

/// The service's deployment failed; `incidents` are its open pull-failure incidents.
pub fn deployment_failed(d: &FailedDeployment, service: &str, incidents: &[Incident]) -> Summary {
    let mut lines = vec![match (&d.rolled_back_to, &d.rollback_deployment_id) {
        (Some(td), _) => format!(
            "Deployment {} of {service} failed and ECS rolled back to {td}.",
            d.deployment_id
        ),
        (None, Some(id)) => format!(
            "Deployment {} of {service} failed and ECS rolled back to deployment {id}.",
            d.deployment_id
        ),
        (None, None) => format!(
            "Deployment {} of {service} failed; the circuit breaker stopped it (no rollback).",
            d.deployment_id
        ),
    }];
    if let Some(reason) = &d.reason {
        lines.push(format!("ECS: {}", report::clean(reason)));
    }
    if let Some(td) = &d.failed_revision {
        lines.push(format!("The failed revision: {td}."));
    }
    lines.push(if incidents.len() == 1 {
        "Why: its tasks could not pull their image.".into()
    } else {
        format!("Why: {} images could not be pulled.", incidents.len())
    });
    for i in incidents {
        lines.push(format!(
            "{} — {} ({}); {} failed task(s) since {}.",
            i.key.image.as_deref().unwrap_or("image"),
            i.title,
            i.root_cause,
            i.failures,
            clock(i.opened_at)
        ));
    }
    let place = incidents
        .first()
        .map(place)
        .unwrap_or_else(|| service.to_string());
    Summary {
        status: "deployment_failed",
        title: format!("Deployment failed: {place}"),
        lines,
    }
}

/// Lines an opening or reminding message adds about its incident: how a standalone family's
/// incident ends, and a failed deployment already joined.
pub fn context_lines(i: &Incident, window_seconds: u64) -> Vec<String> {
    let mut lines = vec![];
    if i.key.service.is_none() {
        lines.push(format!(
            "Standalone task family: ECS sends no recovery signal for it, so this incident expires at {} unless it fails again.",
            clock(i.last_failure_at + window_seconds as i64)
        ));
    }
    if let Some(d) = &i.deployment {
        lines.extend(
            deployment_failed(d, &i.subject, &[])
                .lines
                .into_iter()
                .take(2),
        );
    }
    lines
}

/// The `pulldoctor.incident/v1` JSON.
pub fn json(
    summary: &Summary,
    incidents: &[&Incident],
    resolution: Option<&Resolution>,
    deployment: Option<&FailedDeployment>,
) -> Value {
    json!({
        "schema": "pulldoctor.incident/v1",
        "status": summary.status,
        "title": summary.title,
        "lines": summary.lines,
        "incidents": incidents,
        "resolution": resolution,
        "deployment": deployment,
    })
}

/// SNS attributes of an incident message: those of the diagnosis that the incident knows, and
/// `status`.
fn attributes(summary: &Summary, i: Option<&Incident>) -> Vec<(&'static str, String)> {
    let ascii = |s: &str| report::clean(s).chars().take(256).collect::<String>();
    let mut out = vec![("status", summary.status.to_string())];
    if let Some(i) = i {
        out.extend(
            [
                ("root_cause", Some(i.root_cause.clone())),
                ("cluster", i.key.cluster.as_deref().map(ascii)),
                ("service", i.key.service.as_deref().map(ascii)),
                ("account", i.key.account.as_deref().map(ascii)),
                ("region", i.key.region.as_deref().map(ascii)),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.filter(|v| !v.trim().is_empty()).map(|v| (k, v))),
        );
    }
    out
}

/// The SNS message for an incident `summary` (`body_json` is its `pulldoctor.incident/v1`).
pub fn sns_message(
    summary: &Summary,
    first: Option<&Incident>,
    body_json: &Value,
    format: SnsFormat,
) -> SnsMessage {
    let subject: String = format!("[pulldoctor] {}", summary.title)
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(SUBJECT_MAX)
        .collect();
    let body = match format {
        SnsFormat::Text => format!(
            "{}\n\n{}\n\n{}\n",
            summary.title,
            summary.lines.join("\n"),
            report::json_value_line(body_json)
        ),
        SnsFormat::Chatbot => report::json_value_line(&json!({
            "version": "1.0",
            "source": "custom",
            "content": {
                "textType": "client-markdown",
                "title": summary.title,
                "description": summary.lines.join("\n"),
                "keywords": [summary.status],
            },
            "metadata": {"additionalContext": {"status": summary.status}},
        })),
    };
    SnsMessage {
        subject,
        body,
        attributes: attributes(summary, first),
        trimmed: false,
    }
}

/// A Slack incoming-webhook message for `summary`.
pub fn slack_message(summary: &Summary) -> Value {
    let text = report::slack::escape(&format!(
        "{}: {}",
        summary.title,
        summary.lines.first().cloned().unwrap_or_default()
    ));
    let body: Vec<String> = summary
        .lines
        .iter()
        .map(|l| report::slack::escape(l))
        .collect();
    json!({
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": summary.title.chars().take(150).collect::<String>()}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body.join("\n").chars().take(3000).collect::<String>()}},
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::incident::{IncidentKey, IncidentStatus};

    fn incident(service: Option<&str>) -> Incident {
        let key = IncidentKey {
            account: Some("111122223333".into()),
            region: Some("us-east-1".into()),
            cluster: Some("prod".into()),
            service: service.map(str::to_string),
            family: service.is_none().then(|| "nightly".into()),
            image: Some("111122223333.dkr.ecr.us-east-1.amazonaws.com/web:v2".into()),
        };
        Incident {
            id: key.id(),
            subject: service.unwrap_or("nightly").into(),
            status: IncidentStatus::Open,
            opened_at: 1_764_493_200, // 09:00 UTC
            last_failure_at: 1_764_493_800,
            failures: 12,
            root_cause: "ECR_IMAGE_NOT_FOUND".into(),
            title: "Tag v2 not found".into(),
            task_definition: Some("web:42".into()),
            slack: None,
            deployment: None,
            key,
        }
    }

    #[test]
    fn resolved_says_how_long_and_whether_it_rolled_back() {
        let i = incident(Some("web"));
        let cases = [
            (
                false,
                vec![
                    "Resolved after 20 min",
                    "12 failed task(s) since 09:00 UTC",
                    "ECR_IMAGE_NOT_FOUND",
                ],
                "rolled back",
            ),
            (
                true,
                vec![
                    "steady on web:41 because it rolled back",
                    "(web:42) still cannot pull",
                ],
                "@@",
            ),
        ];
        for (rolled_back, wanted, unwanted) in cases {
            let r = Resolution::SteadyState {
                at: i.opened_at + 1200,
                steady_on: Some("web:41".into()),
                rolled_back,
            };
            let s = resolved(&i, &r);
            let text = s.lines.join("\n");
            assert_eq!(s.status, "resolved");
            assert_eq!(s.title, "Resolved: web (prod, us-east-1)");
            for w in wanted {
                assert!(text.contains(w), "{w} missing: {text}");
            }
            assert!(!text.contains(unwanted), "{text}");
        }
        let expired = resolved(&incident(None), &Resolution::Expired { at: 1_764_495_600 });
        assert_eq!(expired.status, "expired");
        assert!(
            expired.lines[0].contains("no recovery signal"),
            "{:?}",
            expired.lines
        );
    }

    #[test]
    fn deployment_failed_names_the_deployment_the_rollback_and_the_cause() {
        let d = FailedDeployment {
            deployment_id: "ecs-svc/870".into(),
            reason: Some(
                "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/118.".into(),
            ),
            rollback_deployment_id: Some("ecs-svc/118".into()),
            rolled_back_to: Some("web:41".into()),
            failed_revision: Some("web:42".into()),
            at: 0,
        };
        let s = deployment_failed(&d, "web", &[incident(Some("web"))]);
        let text = s.lines.join("\n");
        for w in [
            "ecs-svc/870 of web failed and ECS rolled back to web:41",
            "web:42",
            "Tag v2 not found (ECR_IMAGE_NOT_FOUND)",
            "12 failed task(s)",
        ] {
            assert!(text.contains(w), "{w} missing: {text}");
        }
        let msg = sns_message(
            &s,
            Some(&incident(Some("web"))),
            &json(&s, &[], None, Some(&d)),
            SnsFormat::Text,
        );
        assert!(msg
            .attributes
            .contains(&("status", "deployment_failed".into())));
        assert!(msg
            .attributes
            .contains(&("root_cause", "ECR_IMAGE_NOT_FOUND".into())));
        assert!(msg.subject.len() <= SUBJECT_MAX);
        let no_rollback = FailedDeployment {
            rollback_deployment_id: None,
            rolled_back_to: None,
            ..d
        };
        assert!(deployment_failed(&no_rollback, "web", &[]).lines[0].contains("no rollback"));
    }

    #[test]
    fn a_standalone_incident_says_when_it_expires() {
        let lines = context_lines(&incident(None), 1800);
        assert!(lines[0].contains("expires at 09:40 UTC"), "{lines:?}");
        assert!(context_lines(&incident(Some("web")), 1800).is_empty());
    }
}
