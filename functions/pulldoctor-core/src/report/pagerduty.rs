//! PagerDuty Events API v2 alert events for an incident's notices. Pure:
//! [`crate::notify::pagerduty`] puts in the routing key and sends them.
//!
//! One incident is one PagerDuty alert. Every event carries the incident's `dedup_key`, so
//! PagerDuty applies a later `trigger` to the open alert (a trigger log entry with the new
//! counter and root cause) instead of opening another, and `resolve` closes it. PagerDuty's
//! limits: `payload.summary` ≤ 1024 characters, `dedup_key` ≤ 255, `severity` one of
//! `critical`, `error`, `warning`, `info`, a whole event ≤ 512 KB.

use serde_json::{json, Map, Value};

use super::{clean, console_links, truncate};
use crate::model::diagnosis::Diagnosis;
use crate::model::incident::{FailedDeployment, Incident, IncidentKey, Notice};

/// Where the routing key goes. The sender replaces it: the key never reaches a renderer.
pub const ROUTING_KEY_PLACEHOLDER: &str = "<routing key>";
pub const SUMMARY_MAX: usize = 1024;
pub const DEDUP_KEY_MAX: usize = 255;
const LINKS_MAX: usize = 5;
/// Free text in `custom_details` (a title, a fix, the message), in characters.
const TEXT_MAX: usize = 2000;
/// The deciding finding's evidence, as JSON bytes; larger evidence is cut to a string.
const EVIDENCE_MAX: usize = 8 * 1024;

/// `payload.severity` from the diagnosis' confidence ([`super::sns::severity`]):
///
/// | confidence | severity |
/// |---|---|
/// | high | `critical` |
/// | medium | `error` |
/// | low, or root cause `UNKNOWN` | `warning` |
///
/// PagerDuty reads severity as how hard the system is hit, and a service can set the urgency
/// of its incidents from it (dynamic notifications). Every pull failure stops tasks, so none is
/// `info`; what differs is how sure the diagnosis is, and a guess (`warning`) can then be kept
/// from waking anyone up with a wrong fix.
pub fn severity(d: &Diagnosis) -> &'static str {
    match super::sns::severity(d) {
        "high" => "critical",
        "medium" => "error",
        _ => "warning",
    }
}

/// A failed deployment is ECS's verdict, not a diagnosis' guess: `critical`.
const DEPLOYMENT_FAILED_SEVERITY: &str = "critical";

/// The events to send for `notice`, in order, each with [`ROUTING_KEY_PLACEHOLDER`]:
/// * `Opened`, `Updated`: one `trigger` (same `dedup_key`: PagerDuty applies an update to the
///   open alert, with the new counter and root cause);
/// * `DeploymentFailed`: one `trigger` per incident listed, naming the deployment;
/// * `Resolved`: one `resolve`.
pub fn events(notice: &Notice<'_>) -> Vec<Value> {
    match *notice {
        Notice::Opened {
            incident,
            diagnosis,
        } => vec![diagnosis_trigger(incident, diagnosis, None)],
        Notice::Updated {
            incident,
            diagnosis,
            news,
            cause_changed,
        } => {
            vec![diagnosis_trigger(
                incident,
                diagnosis,
                Some((news, cause_changed)),
            )]
        }
        Notice::Resolved {
            incident,
            resolution: _,
        } => vec![json!({
            "routing_key": ROUTING_KEY_PLACEHOLDER,
            "event_action": "resolve",
            "dedup_key": dedup_key(incident),
        })],
        Notice::DeploymentFailed {
            deployment,
            service,
            incidents,
        } => incidents
            .iter()
            .map(|i| deployment_trigger(i, deployment, service))
            .collect(),
    }
}

/// The incident's `dedup_key`, within PagerDuty's 255 characters (cut the same way every time).
pub fn dedup_key(incident: &Incident) -> String {
    incident.dedup_key().chars().take(DEDUP_KEY_MAX).collect()
}

/// `payload.source`: the failing service or task family, like an ARN without its prefix:
/// `aws:ecs:us-east-1:111122223333:service/prod/web`, `…:family/prod/batch`.
pub fn source(key: &IncidentKey) -> String {
    let part = |v: &Option<String>| v.as_deref().map(clean).unwrap_or_else(|| "-".into());
    let what = match (&key.service, &key.family) {
        (Some(s), _) => format!("service/{}/{}", part(&key.cluster), clean(s)),
        (None, Some(f)) => format!("family/{}/{}", part(&key.cluster), clean(f)),
        (None, None) => format!("cluster/{}", part(&key.cluster)),
    };
    truncate(
        &format!(
            "aws:ecs:{}:{}:{what}",
            part(&key.region),
            part(&key.account)
        ),
        SUMMARY_MAX,
    )
}

/// `web-api (prod, us-east-1): Tag v9 does not exist in team/app [ECR_IMAGE_NOT_FOUND]`, then
/// what else is worth a glance (failures counted, the deployment), cut to 1024 characters.
pub fn summary(incident: &Incident, code: &str, title: &str, tail: &str) -> String {
    let place: Vec<&str> = [
        incident.key.cluster.as_deref(),
        incident.key.region.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let subject = if place.is_empty() {
        incident.subject.clone()
    } else {
        format!("{} ({})", incident.subject, place.join(", "))
    };
    truncate(
        &clean(&format!("{subject}: {title} [{code}]{tail}")),
        SUMMARY_MAX,
    )
}

fn failures_tail(incident: &Incident) -> String {
    match incident.failures {
        0 | 1 => String::new(),
        n => format!(" · {n} failed tasks"),
    }
}

fn timestamp(unix_seconds: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(unix_seconds, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn text(s: &str) -> Value {
    Value::String(truncate(&clean(s), TEXT_MAX))
}

fn put(details: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value.filter(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty())) {
        details.insert(key.to_string(), v);
    }
}

/// What the incident itself says, for every trigger.
fn incident_details(incident: &Incident) -> Map<String, Value> {
    let k = &incident.key;
    let mut details = Map::new();
    put(&mut details, "incident", Some(json!(incident.id)));
    put(&mut details, "failures", Some(json!(incident.failures)));
    put(
        &mut details,
        "first_failure_at",
        timestamp(incident.opened_at).map(Value::String),
    );
    put(
        &mut details,
        "last_failure_at",
        timestamp(incident.last_failure_at).map(Value::String),
    );
    put(
        &mut details,
        "task_definition",
        incident.task_definition.as_deref().map(text),
    );
    put(&mut details, "image", k.image.as_deref().map(text));
    put(&mut details, "cluster", k.cluster.as_deref().map(text));
    put(&mut details, "service", k.service.as_deref().map(text));
    put(&mut details, "family", k.family.as_deref().map(text));
    put(&mut details, "account", k.account.as_deref().map(text));
    put(&mut details, "region", k.region.as_deref().map(text));
    put(
        &mut details,
        "deployment",
        incident.deployment.as_ref().map(deployment_details),
    );
    details
}

fn deployment_details(d: &FailedDeployment) -> Value {
    let mut out = Map::new();
    put(&mut out, "id", Some(text(&d.deployment_id)));
    put(&mut out, "reason", d.reason.as_deref().map(text));
    put(
        &mut out,
        "rollback_deployment_id",
        d.rollback_deployment_id.as_deref().map(text),
    );
    put(
        &mut out,
        "rolled_back_to",
        d.rolled_back_to.as_deref().map(text),
    );
    put(
        &mut out,
        "failed_revision",
        d.failed_revision.as_deref().map(text),
    );
    put(&mut out, "failed_at", timestamp(d.at).map(Value::String));
    Value::Object(out)
}

/// The deciding finding's evidence, cut to [`EVIDENCE_MAX`] bytes of JSON.
fn evidence(d: &Diagnosis) -> Option<Value> {
    let evidence = &d.deciding_finding()?.evidence;
    if evidence.as_object().is_some_and(|o| o.is_empty()) || evidence.is_null() {
        return None;
    }
    let whole = evidence.to_string();
    if whole.len() <= EVIDENCE_MAX {
        return Some(evidence.clone());
    }
    Some(Value::String(format!(
        "{} (cut: the CLI and the SNS message show all of it)",
        truncate(&clean(&whole), EVIDENCE_MAX / 2)
    )))
}

fn diagnosis_trigger(
    incident: &Incident,
    d: &Diagnosis,
    update: Option<(&[String], bool)>,
) -> Value {
    let rc = &d.root_cause;
    let mut details = Map::new();
    put(
        &mut details,
        "root_cause",
        Some(
            json!({"code": rc.code.code(), "title": text(&rc.title), "confidence": super::confidence_word(rc)}),
        ),
    );
    put(&mut details, "fix", rc.remediation.as_deref().map(text));
    put(
        &mut details,
        "to_verify",
        Some(Value::Array(rc.to_verify.iter().map(|h| text(h)).collect())),
    );
    put(
        &mut details,
        "also_wrong",
        Some(Value::Array(
            rc.also_wrong
                .iter()
                .map(|o| {
                    let fix = o
                        .remediation
                        .as_deref()
                        .map(|f| format!(" (fix: {f})"))
                        .unwrap_or_default();
                    text(&format!("{} {}{fix}", o.code, o.title))
                })
                .collect(),
        )),
    );
    let decider = d.deciding_finding();
    put(
        &mut details,
        "deciding_check",
        decider.map(|f| json!(f.code.code())),
    );
    put(
        &mut details,
        "resource",
        decider.and_then(|f| f.resource.as_deref()).map(text),
    );
    put(&mut details, "evidence", evidence(d));
    put(&mut details, "message", Some(text(&d.failure.message)));
    put(
        &mut details,
        "container",
        d.failure.container.as_deref().map(text),
    );
    put(&mut details, "task", d.task.arn.as_deref().map(text));
    put(
        &mut details,
        "other_failures",
        Some(Value::Array(
            d.other_failures
                .iter()
                .map(|o| {
                    text(&format!(
                        "{}: {} {}",
                        super::other_failure_name(o),
                        o.root_cause.code,
                        o.root_cause.title
                    ))
                })
                .collect(),
        )),
    );
    if let Some((news, cause_changed)) = update {
        put(
            &mut details,
            "news",
            Some(Value::Array(news.iter().map(|n| text(n)).collect())),
        );
        put(
            &mut details,
            "root_cause_changed",
            Some(json!(cause_changed)),
        );
    }
    put(&mut details, "event_id", d.event_id.as_deref().map(text));
    details.extend(incident_details(incident));
    let mut links: Vec<Value> = console_links(d, LINKS_MAX)
        .into_iter()
        .map(|l| json!({"href": l.url, "text": l.label}))
        .collect();
    links.extend(service_link(&incident.key).filter(|_| links.len() < LINKS_MAX));
    trigger(
        incident,
        summary(
            incident,
            rc.code.code(),
            &rc.title,
            &failures_tail(incident),
        ),
        severity(d),
        rc.code.code(),
        details,
        links,
    )
}

fn deployment_trigger(incident: &Incident, deployment: &FailedDeployment, service: &str) -> Value {
    let rolled_back = deployment
        .rolled_back_to
        .as_deref()
        .map(|to| format!(", rolled back to {to}"))
        .unwrap_or_default();
    let tail = format!(
        " · deployment {} of {service} failed{rolled_back}",
        deployment.deployment_id
    );
    let mut details = Map::new();
    put(
        &mut details,
        "root_cause",
        Some(json!({"code": incident.root_cause, "title": text(&incident.title)})),
    );
    details.extend(incident_details(incident));
    // The deployment of this notice, whether or not the incident has joined it yet.
    details.insert("deployment".into(), deployment_details(deployment));
    trigger(
        incident,
        summary(incident, &incident.root_cause, &incident.title, &tail),
        DEPLOYMENT_FAILED_SEVERITY,
        &incident.root_cause,
        details,
        service_link(&incident.key).into_iter().collect(),
    )
}

fn trigger(
    incident: &Incident,
    summary: String,
    severity: &str,
    class: &str,
    details: Map<String, Value>,
    links: Vec<Value>,
) -> Value {
    let k = &incident.key;
    let mut payload = json!({
        "summary": summary,
        "source": source(k),
        "severity": severity,
        "class": class,
        "custom_details": details,
    });
    if let Some(t) = timestamp(incident.last_failure_at) {
        payload["timestamp"] = Value::String(t);
    }
    if let Some(image) = &k.image {
        payload["component"] = Value::String(truncate(&clean(image), TEXT_MAX));
    }
    if let Some(cluster) = &k.cluster {
        payload["group"] = Value::String(truncate(&clean(cluster), TEXT_MAX));
    }
    json!({
        "routing_key": ROUTING_KEY_PLACEHOLDER,
        "event_action": "trigger",
        "dedup_key": dedup_key(incident),
        "client": "pulldoctor",
        "payload": payload,
        "links": links,
    })
}

/// The ECS console page of the incident's service, when the key names one.
fn service_link(k: &IncidentKey) -> Option<Value> {
    let (region, cluster, service) = (
        k.region.as_deref()?,
        k.cluster.as_deref()?,
        k.service.as_deref()?,
    );
    Some(json!({
        "href": crate::checks::console::ecs_service(region, cluster, service),
        "text": truncate(&clean(&format!("Open service {service}")), 200),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::diagnosis::{Confidence, RootCause};
    use crate::model::incident::Resolution;
    use crate::report::tests::{incident_of, sample};

    #[test]
    fn opened_is_a_trigger_with_the_incident_key_and_pagerduty_fields() {
        let d = sample();
        let incident = incident_of(&d);
        let events = events(&Notice::Opened {
            incident: &incident,
            diagnosis: &d,
        });
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e["event_action"], "trigger");
        assert_eq!(e["routing_key"], ROUTING_KEY_PLACEHOLDER);
        assert_eq!(e["dedup_key"], format!("pulldoctor/{}", incident.id));
        let p = &e["payload"];
        assert_eq!(
            p["summary"],
            "web-api (prod, us-east-1): Tag v9 does not exist in team/app [ECR_IMAGE_NOT_FOUND]"
        );
        assert_eq!(
            p["source"],
            "aws:ecs:us-east-1:111122223333:service/prod/web-api"
        );
        assert_eq!(p["severity"], "critical");
        assert_eq!(p["class"], "ECR_IMAGE_NOT_FOUND");
        assert_eq!(p["group"], "prod");
        assert_eq!(
            p["component"],
            "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v9"
        );
        assert_eq!(p["timestamp"], "2023-11-14T22:18:20Z");
        let c = &p["custom_details"];
        assert_eq!(
            c["root_cause"],
            json!({"code": "ECR_IMAGE_NOT_FOUND", "title": "Tag v9 does not exist in team/app", "confidence": "high"})
        );
        assert_eq!(c["fix"], "Push team/app:v9.");
        assert_eq!(c["evidence"], json!({"tag": "v9"}));
        assert_eq!(c["deciding_check"], "ECR_IMAGE_NOT_FOUND");
        assert_eq!(c["failures"], 1);
        assert_eq!(c["task_definition"], "web-api:42");
        assert_eq!(
            c["image"],
            "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v9"
        );
        assert_eq!(c["incident"], incident.id.as_str());
        assert_eq!(
            c["message"], "CannotPullContainerError: manifest unknown[31m | *boom*",
            "control characters removed"
        );
        assert!(
            c.get("news").is_none() && c.get("to_verify").is_none(),
            "empty lists are left out: {c}"
        );
        let links = e["links"].as_array().unwrap();
        assert!(
            links[0]["href"]
                .as_str()
                .unwrap()
                .starts_with("https://us-east-1.console.aws.amazon.com/ecr/"),
            "{links:?}"
        );
        assert_eq!(links[1]["href"], "https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/prod/services/web-api/health?region=us-east-1");
    }

    #[test]
    fn updated_triggers_again_with_the_same_key_and_the_new_cause() {
        let first = sample();
        let mut later = sample();
        later.root_cause.code = RootCause::NetNoRoute;
        later.root_cause.title = "Subnet has no route to ECR".into();
        later.root_cause.confidence = Confidence::Medium;
        let mut incident = incident_of(&first);
        incident.failures = 7;
        let news = vec!["another subnet: subnet-2".to_string()];
        let opened = &events(&Notice::Opened {
            incident: &incident,
            diagnosis: &first,
        })[0];
        let updated = &events(&Notice::Updated {
            incident: &incident,
            diagnosis: &later,
            news: &news,
            cause_changed: true,
        })[0];
        assert_eq!(updated["event_action"], "trigger");
        assert_eq!(updated["dedup_key"], opened["dedup_key"]);
        let p = &updated["payload"];
        assert_eq!(
            p["summary"],
            "web-api (prod, us-east-1): Subnet has no route to ECR [NET_NO_ROUTE] · 7 failed tasks"
        );
        assert_eq!(p["severity"], "error");
        assert_eq!(p["custom_details"]["failures"], 7);
        assert_eq!(
            p["custom_details"]["news"],
            json!(["another subnet: subnet-2"])
        );
        assert_eq!(p["custom_details"]["root_cause_changed"], true);
    }

    #[test]
    fn resolved_is_a_resolve_with_the_same_key() {
        let d = sample();
        let incident = incident_of(&d);
        let resolution = Resolution::SteadyState {
            at: 1_700_000_900,
            steady_on: Some("web-api:41".into()),
            rolled_back: true,
        };
        let events = events(&Notice::Resolved {
            incident: &incident,
            resolution: &resolution,
        });
        assert_eq!(
            events,
            vec![
                json!({"routing_key": ROUTING_KEY_PLACEHOLDER, "event_action": "resolve", "dedup_key": incident.dedup_key()})
            ]
        );
    }

    #[test]
    fn a_failed_deployment_triggers_each_incident_of_the_service() {
        let d = sample();
        let a = incident_of(&d);
        let mut other = sample();
        other.failure.image =
            Some("111122223333.dkr.ecr.us-east-1.amazonaws.com/team/sidecar:v3".into());
        let b = incident_of(&other);
        let deployment = FailedDeployment {
            deployment_id: "ecs-svc/1234".into(),
            reason: Some(
                "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1111".into(),
            ),
            rollback_deployment_id: Some("ecs-svc/1111".into()),
            rolled_back_to: Some("web-api:41".into()),
            failed_revision: Some("web-api:42".into()),
            at: 1_700_000_600,
        };
        let incidents = [a.clone(), b.clone()];
        let events = events(&Notice::DeploymentFailed {
            deployment: &deployment,
            service: "web-api",
            incidents: &incidents,
        });
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["dedup_key"], a.dedup_key());
        assert_eq!(events[1]["dedup_key"], b.dedup_key());
        let p = &events[0]["payload"];
        assert_eq!(p["severity"], "critical");
        assert_eq!(
            p["summary"],
            "web-api (prod, us-east-1): Tag v9 does not exist in team/app [ECR_IMAGE_NOT_FOUND] · deployment ecs-svc/1234 of web-api failed, rolled back to web-api:41"
        );
        let dep = &p["custom_details"]["deployment"];
        assert_eq!(dep["id"], "ecs-svc/1234");
        assert_eq!(dep["rolled_back_to"], "web-api:41");
        assert_eq!(dep["rollback_deployment_id"], "ecs-svc/1111");
        assert!(dep["reason"]
            .as_str()
            .unwrap()
            .starts_with("ECS deployment circuit breaker"));
        assert_eq!(
            p["custom_details"]["root_cause"]["code"],
            "ECR_IMAGE_NOT_FOUND"
        );
    }

    #[test]
    fn severity_follows_the_confidence() {
        let table = [
            (RootCause::EcrImageNotFound, Confidence::High, "critical"),
            (RootCause::EcrImageNotFound, Confidence::Medium, "error"),
            (RootCause::EcrImageNotFound, Confidence::Low, "warning"),
            (RootCause::Unknown, Confidence::High, "warning"),
            (RootCause::Unknown, Confidence::Low, "warning"),
        ];
        for (code, confidence, want) in table {
            let mut d = sample();
            d.root_cause.code = code;
            d.root_cause.confidence = confidence;
            assert_eq!(severity(&d), want, "{code:?} {confidence:?}");
        }
    }

    #[test]
    fn summary_is_cut_to_1024_characters_on_a_character_boundary() {
        let mut d = sample();
        let incident = incident_of(&d);
        // (title, characters of the summary): short stays whole, long is cut with a mark.
        let table = [
            ("short".to_string(), None),
            ("x".repeat(2000), Some(SUMMARY_MAX)),
            ("é".repeat(1500), Some(SUMMARY_MAX)),
            ("🦀".repeat(1030), Some(SUMMARY_MAX)),
            (
                format!("{}\u{1b}[31m\n", "y".repeat(990)),
                Some(SUMMARY_MAX),
            ),
        ];
        for (title, cut) in table {
            d.root_cause.title = title.clone();
            let e = &events(&Notice::Opened {
                incident: &incident,
                diagnosis: &d,
            })[0];
            let s = e["payload"]["summary"].as_str().unwrap();
            assert!(!s.chars().any(char::is_control), "{s:?}");
            match cut {
                None => assert!(s.ends_with(&format!("{title} [ECR_IMAGE_NOT_FOUND]"))),
                Some(n) => {
                    assert_eq!(s.chars().count(), n, "{title:.20}");
                    assert!(s.ends_with('…'));
                }
            }
        }
    }

    #[test]
    fn dedup_key_is_the_incidents_and_within_255_characters() {
        let d = sample();
        let mut incident = incident_of(&d);
        let table = [
            (incident.id.clone(), format!("pulldoctor/{}", incident.id)),
            ("z".repeat(300), format!("pulldoctor/{}", "z".repeat(244))),
        ];
        for (id, want) in table {
            incident.id = id;
            assert_eq!(dedup_key(&incident), want);
            assert!(dedup_key(&incident).chars().count() <= DEDUP_KEY_MAX);
        }
    }

    #[test]
    fn source_names_the_service_or_the_family() {
        let mut key = IncidentKey::of(&sample());
        let table = [
            (
                Some("web-api"),
                None,
                "aws:ecs:us-east-1:111122223333:service/prod/web-api",
            ),
            (
                None,
                Some("batch"),
                "aws:ecs:us-east-1:111122223333:family/prod/batch",
            ),
            (None, None, "aws:ecs:us-east-1:111122223333:cluster/prod"),
        ];
        for (service, family, want) in table {
            key.service = service.map(str::to_string);
            key.family = family.map(str::to_string);
            assert_eq!(source(&key), want);
        }
        key.account = None;
        assert_eq!(source(&key), "aws:ecs:us-east-1:-:cluster/prod");
    }

    #[test]
    fn huge_evidence_is_cut() {
        let mut d = sample();
        d.findings[0].evidence =
            json!({"rules": (0..5000).map(|i| format!("sg-rule-{i}")).collect::<Vec<_>>()});
        let incident = incident_of(&d);
        let e = &events(&Notice::Opened {
            incident: &incident,
            diagnosis: &d,
        })[0];
        let evidence = e["payload"]["custom_details"]["evidence"].as_str().unwrap();
        assert!(
            evidence.len() < EVIDENCE_MAX
                && evidence.ends_with("(cut: the CLI and the SNS message show all of it)")
        );
        assert!(e.to_string().len() < 64 * 1024);
    }
}
