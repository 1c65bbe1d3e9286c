//! Report: render a [`Diagnosis`] for people (text, markdown) and machines (JSON). Pure.
//!
//! Everything that came from AWS (messages, image names, reasons) is untrusted: control characters
//! are removed from text and markdown metacharacters are escaped, so a crafted tag cannot reshape
//! the report.

pub mod audit;
pub mod chatbot;
pub mod history;
pub mod incident;
mod markdown;
pub mod pagerduty;
pub mod slack;
pub mod slack_incident;
#[cfg(test)]
mod snapshots;
pub mod sns;
pub mod teams;
mod text;

use std::str::FromStr;

use crate::model::diagnosis::Diagnosis;

pub use markdown::escape as escape_markdown;
pub use markdown::render as markdown;
pub use text::render as text;

/// Output formats of `diagnose`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Json,
    /// Slack Block Kit (what the webhook posts).
    Slack,
    /// The SNS message: subject, summary and JSON, as published.
    Sns,
    /// AWS Chatbot custom notification JSON.
    Chatbot,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Format::Text),
            "markdown" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            "slack" => Ok(Format::Slack),
            "sns" => Ok(Format::Sns),
            "chatbot" => Ok(Format::Chatbot),
            other => Err(format!(
                "unknown format {other:?} (text, markdown, json, slack, sns, chatbot)"
            )),
        }
    }
}

pub fn render(diagnosis: &Diagnosis, format: Format) -> String {
    match format {
        Format::Text => text(diagnosis),
        Format::Markdown => markdown(diagnosis),
        Format::Json => json(diagnosis),
        Format::Slack => serde_json::to_string_pretty(&slack::render(diagnosis, 0)).expect("JSON"),
        Format::Sns => {
            let m = sns::message(diagnosis, sns::SnsFormat::Text, 0);
            format!("Subject: {}\n\n{}", m.subject, m.body)
        }
        Format::Chatbot => {
            serde_json::to_string_pretty(&chatbot::render(diagnosis, 0)).expect("JSON")
        }
    }
}

/// The `pulldoctor.diagnosis/v1` document, on one line.
pub fn json(diagnosis: &Diagnosis) -> String {
    serde_json::to_string(diagnosis).expect("a Diagnosis always serializes")
}

/// Any JSON value on one line.
pub fn json_value_line(value: &serde_json::Value) -> String {
    serde_json::to_string(value).expect("a JSON value always serializes")
}

/// What failed, for headlines: the service name, else the task family, else the task id.
pub fn subject_name(d: &Diagnosis) -> String {
    d.subject_name()
}

/// `web (prod, us-east-1)`.
pub fn headline_subject(d: &Diagnosis) -> String {
    let place: Vec<&str> = [d.task.cluster.as_deref(), d.region.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if place.is_empty() {
        subject_name(d)
    } else {
        format!("{} ({})", subject_name(d), place.join(", "))
    }
}

/// Heading of the other failing images of the task (`other_failures`).
pub const OTHER_FAILURES: &str = "Other containers that failed to pull";

/// `web-api (image)` for an other failure's heading line.
pub(crate) fn other_failure_name(o: &crate::model::diagnosis::OtherFailure) -> String {
    format!(
        "{} ({})",
        clean(
            o.failure
                .container
                .as_deref()
                .unwrap_or("unknown container")
        ),
        clean(o.failure.image.as_deref().unwrap_or("unknown image"))
    )
}

/// `high`, `medium`, `low`; `no` for `UNKNOWN`.
pub(crate) fn confidence_word(rc: &crate::model::diagnosis::RootCauseSummary) -> &'static str {
    use crate::model::diagnosis::{Confidence, RootCause};
    match (rc.code, rc.confidence) {
        (RootCause::Unknown, _) => "no",
        (_, Confidence::High) => "high",
        (_, Confidence::Medium) => "medium",
        (_, Confidence::Low) => "low",
    }
}

/// Heading of the failing checks that are not the root cause (`root_cause.also_wrong`).
pub const ALSO_WRONG: &str = "Also wrong (will bite next)";

/// The sentence before an `UNKNOWN` diagnosis' causes to verify: no check failed, or those that
/// failed cannot explain this message (they are listed as also wrong).
pub fn no_cause_lead(d: &Diagnosis) -> String {
    if d.root_cause.also_wrong.is_empty() {
        "No check failed.".to_string()
    } else {
        format!(
            "No failing check explains this {} message.",
            d.failure.category.as_str().replace('_', " ")
        )
    }
}

/// Remove control characters (ANSI escapes, NUL, bidi overrides) from untrusted text; newlines
/// become spaces so one value stays on one line.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\n' || c == '\r' || c == '\t' {
                ' '
            } else {
                c
            }
        })
        .filter(|c| {
            !c.is_control() && !matches!(*c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

/// A console link: what a button or link says, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleLink {
    pub label: String,
    pub url: String,
}

/// The longest console URL any sink is given (Slack's button limit; real console URLs are far
/// shorter).
const CONSOLE_URL_MAX: usize = 3000;

/// Console links of the deciding finding and the others not passing, each URL once, `https://`
/// only, at most `max`: the buttons and links every chat and paging sink shows.
pub fn console_links(d: &Diagnosis, max: usize) -> Vec<ConsoleLink> {
    let mut links = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let decider = d.deciding_finding();
    for f in decider.into_iter().chain(
        d.findings
            .iter()
            .filter(|f| f.status != crate::model::diagnosis::Status::Pass),
    ) {
        if links.len() == max {
            break;
        }
        let Some(url) = f.console_url.as_deref() else {
            continue;
        };
        if !url.starts_with("https://") || url.len() > CONSOLE_URL_MAX || !seen.insert(url) {
            continue;
        }
        let label = clean(&format!(
            "Open {}",
            f.resource.as_deref().unwrap_or(f.code.code())
        ));
        links.push(ConsoleLink {
            label,
            url: url.to_string(),
        });
    }
    links
}

/// At most `max` characters (not bytes): cut on a character boundary, `…` marking the cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Render an evidence value compactly (strings without quotes).
pub(crate) fn evidence_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => clean(s),
        serde_json::Value::Null => "none".into(),
        other => clean(&other.to_string()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::diagnosis::*;
    use crate::model::facts::TaskSource;
    use crate::model::message::Category;

    pub fn sample() -> Diagnosis {
        Diagnosis {
            schema: SCHEMA.into(),
            event_id: Some("e-1".into()),
            account: Some("111122223333".into()),
            region: Some("us-east-1".into()),
            task: TaskSummary {
                arn: Some("arn:aws:ecs:us-east-1:111122223333:task/prod/0abc".into()),
                cluster: Some("prod".into()),
                group: Some("service:web-api".into()),
                launch_type: Some("FARGATE".into()),
                platform_version: Some("1.4.0".into()),
                source: TaskSource::DescribeTasks,
            },
            failure: FailureSummary {
                container: Some("web".into()),
                image: Some("111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v9".into()),
                message: "CannotPullContainerError: manifest unknown\u{1b}[31m | *boom*".into(),
                category: Category::ImageNotFound,
            },
            root_cause: RootCauseSummary {
                code: RootCause::EcrImageNotFound,
                title: "Tag v9 does not exist in team/app".into(),
                confidence: Confidence::High,
                remediation: Some("Push team/app:v9.".into()),
                to_verify: vec![],
                also_wrong: vec![],
            },
            findings: vec![
                Finding::fail(RootCause::EcrImageNotFound, "Tag v9 does not exist in team/app")
                    .resource("111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v9")
                    .evidence("tag", "v9")
                    .remediation("Push team/app:v9.")
                    .console_url("https://us-east-1.console.aws.amazon.com/ecr/repositories/private/111122223333/team/app?region=us-east-1"),
                Finding::pass(RootCause::EcrRepositoryNotFound, "Repository team/app exists"),
                Finding::unknown(RootCause::IamExecutionRoleMissing, "Could not check the task execution role", "AccessDenied: ecs:DescribeTaskDefinition"),
            ],
            aws_calls: 5,
            duration_ms: 120,
            other_failures: vec![],
            deploy: None,
            changes: None,
            blast_radius: None,
        }
    }

    /// The incident [`sample`] opens (one failure), for the incident sinks' renderers.
    pub fn incident_of(d: &Diagnosis) -> crate::model::incident::Incident {
        use crate::model::incident::{Incident, IncidentKey, IncidentStatus};
        let key = IncidentKey::of(d);
        Incident {
            id: key.id(),
            key,
            subject: crate::report::subject_name(d),
            status: IncidentStatus::Open,
            opened_at: 1_700_000_000,
            last_failure_at: 1_700_000_300,
            failures: 1,
            root_cause: d.root_cause.code.code().into(),
            title: d.root_cause.title.clone(),
            task_definition: Some("web-api:42".into()),
            slack: None,
            deployment: None,
        }
    }

    #[test]
    fn json_follows_the_contract() {
        let v: serde_json::Value = serde_json::from_str(&json(&sample())).unwrap();
        assert_eq!(v["schema"], "pulldoctor.diagnosis/v1");
        for key in [
            "event_id",
            "account",
            "region",
            "task",
            "failure",
            "root_cause",
            "findings",
            "aws_calls",
            "duration_ms",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        for key in [
            "arn",
            "cluster",
            "group",
            "launch_type",
            "platform_version",
            "source",
        ] {
            assert!(v["task"].get(key).is_some(), "missing task.{key}");
        }
        assert_eq!(v["task"]["source"], "describe_tasks");
        assert_eq!(v["failure"]["category"], "image_not_found");
        assert_eq!(v["root_cause"]["code"], "ECR_IMAGE_NOT_FOUND");
        assert_eq!(v["root_cause"]["confidence"], "high");
        let f = &v["findings"][0];
        for key in [
            "code",
            "status",
            "title",
            "resource",
            "evidence",
            "remediation",
            "console_url",
        ] {
            assert!(f.get(key).is_some(), "missing findings[].{key}");
        }
        assert_eq!(f["status"], "fail");
        assert_eq!(v["findings"][2]["status"], "unknown");
        // Round trip: the document is what a consumer parses.
        let back: Diagnosis = serde_json::from_value(v).unwrap();
        assert_eq!(back, sample());
    }

    /// An i/o timeout with a failing S3 endpoint policy: UNKNOWN, and the policy as also wrong.
    pub fn ruled_out() -> Diagnosis {
        let mut d = sample();
        d.failure.message =
            "CannotPullContainerError: dial tcp 52.46.134.71:443: i/o timeout".into();
        d.failure.category = Category::Network;
        let policy = Finding::fail(
            RootCause::NetS3EndpointPolicy,
            "S3 endpoint vpce-s3 denies the layer bucket <!here>",
        )
        .resource("vpce-s3")
        .remediation(
            "Allow s3:GetObject on arn:aws:s3:::prod-us-east-1-starport-layer-bucket/* in vpce-s3.",
        );
        d.findings = vec![
            Finding::pass(RootCause::NetNoRoute, "Subnet routes to a NAT gateway"),
            policy.clone(),
        ];
        d.root_cause = RootCauseSummary {
            code: RootCause::Unknown,
            title: crate::checks::title(RootCause::Unknown).into(),
            confidence: Confidence::Low,
            remediation: None,
            to_verify: vec!["Check the route to ECR.".into()],
            also_wrong: vec![AlsoWrong::of(&policy)],
        };
        d
    }

    #[test]
    fn also_wrong_is_shown_in_every_report() {
        let d = ruled_out();
        let text = render(&d, Format::Text);
        assert!(
            text.contains("Root cause: UNKNOWN (no confidence)"),
            "{text}"
        );
        assert!(text.contains("No failing check explains this network message. Verify by hand:\n  - Check the route to ECR."), "{text}");
        assert!(text.contains("Also wrong (will bite next):\n  - NET_S3_ENDPOINT_POLICY S3 endpoint vpce-s3 denies"), "{text}");
        assert!(text.contains("    fix: Allow s3:GetObject on arn:aws:s3:::prod-us-east-1-starport-layer-bucket/* in vpce-s3."), "{text}");
        let md = render(&d, Format::Markdown);
        assert!(md.contains("**Also wrong (will bite next):**\n\n- `NET_S3_ENDPOINT_POLICY` S3 endpoint vpce-s3 denies the layer bucket \\<\\!here\\>"), "{md}");
        let slack = render(&d, Format::Slack);
        assert!(
            slack.contains("*Also wrong (will bite next):*")
                && slack.contains("&lt;!here&gt;")
                && !slack.contains("<!here>"),
            "{slack}"
        );
        let sns = render(&d, Format::Sns);
        assert!(sns.contains("Also wrong (will bite next):"), "{sns}");
        let chatbot = render(&d, Format::Chatbot);
        assert!(
            chatbot.contains("Also wrong (will bite next): `NET_S3_ENDPOINT_POLICY`"),
            "{chatbot}"
        );
        let v: serde_json::Value = serde_json::from_str(&json(&d)).unwrap();
        assert_eq!(v["root_cause"]["code"], "UNKNOWN");
        assert_eq!(
            v["root_cause"]["also_wrong"][0]["code"],
            "NET_S3_ENDPOINT_POLICY"
        );
        assert_eq!(v["root_cause"]["also_wrong"][0]["resource"], "vpce-s3");
        // Nothing listed, nothing said: the document of an ordinary diagnosis is unchanged.
        let plain: serde_json::Value = serde_json::from_str(&json(&sample())).unwrap();
        assert!(plain["root_cause"].get("also_wrong").is_none());
        assert!(!render(&sample(), Format::Text).contains("Also wrong"));
    }

    #[test]
    fn other_failures_are_shown_in_every_report() {
        let mut d = sample();
        let log_image = "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/log-router:v3";
        let missing = Finding::fail(
            RootCause::EcrImageNotFound,
            "Tag v3 does not exist in team/log-router",
        )
        .remediation("Push team/log-router:v3.");
        d.other_failures = vec![OtherFailure {
            failure: FailureSummary {
                container: Some("log".into()),
                image: Some(log_image.into()),
                message: "CannotPullContainerError: team/log-router:v3: not found @channel".into(),
                category: Category::ImageNotFound,
            },
            root_cause: RootCauseSummary {
                code: RootCause::EcrImageNotFound,
                title: missing.title.clone(),
                confidence: Confidence::High,
                remediation: missing.remediation.clone(),
                to_verify: vec![],
                also_wrong: vec![],
            },
            findings: vec![missing],
        }];
        let text = render(&d, Format::Text);
        assert!(text.contains(&format!("Other containers that failed to pull:\n  - log ({log_image}): Tag v3 does not exist in team/log-router\n    Root cause: ECR_IMAGE_NOT_FOUND (high confidence)\n    Fix: Push team/log-router:v3.")), "{text}");
        // The primary diagnosis still leads.
        assert!(
            text.starts_with("web-api (prod, us-east-1): Tag v9 does not exist in team/app\n"),
            "{text}"
        );
        let md = render(&d, Format::Markdown);
        assert!(md.contains("**Other containers that failed to pull:**\n\n- `log` `111122223333.dkr.ecr.us-east-1.amazonaws.com/team/log-router:v3`: `ECR_IMAGE_NOT_FOUND`"), "{md}");
        let slack = render(&d, Format::Slack);
        assert!(
            slack.contains("*Other containers that failed to pull:*")
                && slack.contains("`ECR_IMAGE_NOT_FOUND` (High confidence) Tag v3"),
            "{slack}"
        );
        assert!(!slack.contains("@channel"), "{slack}");
        assert!(render(&d, Format::Sns).contains("Other containers that failed to pull:"));
        assert!(render(&d, Format::Chatbot).contains("Other containers that failed to pull: log"));
        let v: serde_json::Value = serde_json::from_str(&json(&d)).unwrap();
        let o = &v["other_failures"][0];
        assert_eq!(
            (o["container"].as_str(), o["image"].as_str()),
            (Some("log"), Some(log_image))
        );
        assert_eq!(o["category"], "image_not_found");
        assert_eq!(o["root_cause"]["code"], "ECR_IMAGE_NOT_FOUND");
        assert_eq!(o["findings"][0]["status"], "fail");
        let back: Diagnosis = serde_json::from_value(v).unwrap();
        assert_eq!(back, d);
        // One failing image: no section, no field.
        assert!(!render(&sample(), Format::Text).contains("Other containers"));
        assert!(serde_json::from_str::<serde_json::Value>(&json(&sample()))
            .unwrap()
            .get("other_failures")
            .is_none());
    }

    #[test]
    fn clean_strips_control_and_bidi_characters() {
        assert_eq!(clean("a\u{1b}[31mb\nc\u{202e}d\0"), "a[31mb cd");
    }

    #[test]
    fn subject_names_service_then_family_then_task() {
        let mut d = sample();
        assert_eq!(headline_subject(&d), "web-api (prod, us-east-1)");
        d.task.group = Some("family:batch".into());
        assert_eq!(subject_name(&d), "batch");
        d.task.group = None;
        assert_eq!(subject_name(&d), "0abc");
    }
}
