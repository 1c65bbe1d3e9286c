//! AWS Chatbot / Amazon Q Developer in chat applications: the custom notification schema
//! (`version`, `source: custom`, `content`), published to SNS so that a Chatbot channel
//! subscribed to the topic shows it in Slack, Teams or Chime with no webhook at all.

use serde_json::{json, Value};

use super::{clean, evidence_value, headline_subject, markdown::escape};
use crate::model::diagnosis::{Diagnosis, Status};

/// Chatbot truncates long descriptions; keep ours well under its limits.
const DESCRIPTION_MAX: usize = 3500;
const TITLE_MAX: usize = 250;

fn truncate(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

pub fn render(d: &Diagnosis, suppressed_before: u64) -> Value {
    let rc = &d.root_cause;
    let mut description = format!(
        "*Root cause:* `{}` ({:?} confidence)\n",
        rc.code, rc.confidence
    );
    if let Some(image) = &d.failure.image {
        description.push_str(&format!("*Image:* `{}`\n", clean(image).replace('`', "'")));
    }
    description.push_str(&format!(
        "*Message:* `{}`\n",
        clean(&d.failure.message).replace('`', "'")
    ));
    if let Some(decider) = d.deciding_finding() {
        for (k, v) in decider.evidence.as_object().into_iter().flatten() {
            description.push_str(&format!(
                "• {}: {}\n",
                escape(k),
                escape(&evidence_value(v))
            ));
        }
    }
    let counts = |s: Status| d.findings.iter().filter(|f| f.status == s).count();
    description.push_str(&format!(
        "Checks: {} fail, {} warn, {} unknown, {} pass",
        counts(Status::Fail),
        counts(Status::Warn),
        counts(Status::Unknown),
        counts(Status::Pass)
    ));
    if suppressed_before > 0 {
        description.push_str(&format!(
            "\n{suppressed_before} more failure(s) like this one were not notified during the previous window"
        ));
    }
    let mut next_steps: Vec<String> = rc.remediation.iter().map(|r| escape(r)).collect();
    next_steps.extend(rc.to_verify.iter().map(|h| escape(h)));
    next_steps.extend(rc.also_wrong.iter().map(|a| {
        let fix = a
            .remediation
            .as_deref()
            .map(|r| format!(" — fix: {}", escape(r)))
            .unwrap_or_default();
        format!(
            "{}: `{}` {}{fix}",
            super::ALSO_WRONG,
            a.code,
            escape(&a.title)
        )
    }));
    next_steps.extend(
        d.deciding_finding()
            .and_then(|f| f.console_url.clone())
            .map(|u| format!("Console: {u}")),
    );
    next_steps.extend(d.other_failures.iter().map(|o| {
        let fix = o
            .root_cause
            .remediation
            .as_deref()
            .map(|r| format!(" — fix: {}", escape(r)))
            .unwrap_or_default();
        format!(
            "{}: {}: `{}` {}{fix}",
            super::OTHER_FAILURES,
            escape(&super::other_failure_name(o)),
            o.root_cause.code,
            escape(&o.root_cause.title)
        )
    }));
    let mut keywords = vec![
        rc.code.code().to_string(),
        d.failure.category.as_str().to_string(),
    ];
    keywords.extend(d.task.cluster.iter().map(|c| clean(c)));
    keywords.extend(d.service_name().map(clean));
    json!({
        "version": "1.0",
        "source": "custom",
        "id": d.event_id,
        "content": {
            "textType": "client-markdown",
            "title": truncate(format!(":rotating_light: {}: {}", escape(&headline_subject(d)), escape(&rc.title)), TITLE_MAX),
            "description": truncate(description, DESCRIPTION_MAX),
            "nextSteps": next_steps,
            "keywords": keywords,
        },
        "metadata": {
            "summary": truncate(clean(&format!("{}: {}", super::subject_name(d), rc.title)), TITLE_MAX),
            "eventType": rc.code.code(),
            "relatedResources": d.task.arn.iter().collect::<Vec<_>>(),
            "additionalContext": {
                "account": d.account, "region": d.region, "cluster": d.task.cluster,
                "event_id": d.event_id,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::report::tests::sample;

    #[test]
    fn follows_the_custom_notification_schema() {
        let v = super::render(&sample(), 0);
        assert_eq!(v["version"], "1.0");
        assert_eq!(v["source"], "custom");
        let c = &v["content"];
        assert!(c["title"]
            .as_str()
            .unwrap()
            .contains("web-api (prod, us-east-1)"));
        assert!(c["description"]
            .as_str()
            .unwrap()
            .contains("`ECR_IMAGE_NOT_FOUND`"));
        assert_eq!(c["nextSteps"][0], "Push team/app:v9.");
        assert_eq!(c["keywords"][0], "ECR_IMAGE_NOT_FOUND");
        assert!(!v.to_string().contains('\u{1b}'));
    }
}
