//! Notify: deliver a diagnosis (SNS) and record every invocation (JSON audit line on stdout, which
//! Lambda ships to CloudWatch Logs). Each sink is independent.

use serde::Serialize;

use crate::diagnosis::Diagnosis;
use crate::report;

/// SNS subjects are limited to 100 ASCII characters, no newlines.
pub const SUBJECT_MAX: usize = 100;

/// `[pulldoctor] <service or family>: <root cause title>`, ASCII-safe and at most 100 characters.
pub fn sns_subject(d: &Diagnosis) -> String {
    let raw = format!("[pulldoctor] {}: {}", report::subject_name(d), d.root_cause.title);
    let ascii: String = raw
        .chars()
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
        .collect();
    if ascii.len() <= SUBJECT_MAX {
        return ascii;
    }
    format!("{}...", &ascii[..SUBJECT_MAX - 3])
}

/// Human-readable summary, a blank line, then the diagnosis JSON on its own line.
pub fn sns_body(d: &Diagnosis) -> String {
    format!("{}\n{}\n", report::text(d), report::json(d))
}

/// What happened to one delivery, for the audit line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Delivery {
    Sent { id: String },
    Failed { error: String },
    NotConfigured,
}

pub async fn publish_sns(sns: &aws_sdk_sns::Client, topic_arn: &str, d: &Diagnosis) -> Delivery {
    let result = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(sns_subject(d))
        .message(sns_body(d))
        .send()
        .await;
    match result {
        Ok(out) => Delivery::Sent { id: out.message_id().unwrap_or_default().to_string() },
        Err(err) => {
            let reason = crate::collect::read_failure("sns:Publish", &[], &err);
            Delivery::Failed { error: format!("{reason:?}") }
        }
    }
}

/// One JSON audit record per invocation, ignored events included.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord<'a> {
    pub event_id: Option<&'a str>,
    pub task_arn: Option<&'a str>,
    /// `notified`, `diagnosed` (no sink configured), `ignored`, `publish_failed`.
    pub decision: &'a str,
    pub reason: Option<&'a str>,
    pub root_cause: Option<&'a str>,
    pub confidence: Option<&'a str>,
    /// Codes of failed findings; counts per status.
    pub failed: Vec<&'a str>,
    pub counts: FindingCounts,
    pub aws_calls: u32,
    pub duration_ms: u64,
    pub sns: Option<&'a Delivery>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FindingCounts {
    pub fail: usize,
    pub warn: usize,
    pub unknown: usize,
    pub pass: usize,
}

impl FindingCounts {
    pub fn of(d: &Diagnosis) -> FindingCounts {
        use crate::diagnosis::Status::*;
        let mut c = FindingCounts::default();
        for f in &d.findings {
            match f.status {
                Fail => c.fail += 1,
                Warn => c.warn += 1,
                Unknown => c.unknown += 1,
                Pass => c.pass += 1,
            }
        }
        c
    }
}

/// Write the audit record as one flat JSON log line (every field top-level, so CloudWatch Logs
/// Insights can filter on `decision` or `root_cause` directly).
pub fn audit(r: &AuditRecord<'_>) {
    let (sns_status, sns_detail) = match r.sns {
        Some(Delivery::Sent { id }) => (Some("sent"), Some(id.as_str())),
        Some(Delivery::Failed { error }) => (Some("failed"), Some(error.as_str())),
        Some(Delivery::NotConfigured) => (Some("not_configured"), None),
        None => (None, None),
    };
    tracing::info!(
        target: "pulldoctor::audit",
        event_id = r.event_id,
        task_arn = r.task_arn,
        decision = r.decision,
        reason = r.reason,
        root_cause = r.root_cause,
        confidence = r.confidence,
        failed = %r.failed.join(","),
        fail = r.counts.fail,
        warn = r.counts.warn,
        unknown = r.counts.unknown,
        pass = r.counts.pass,
        aws_calls = r.aws_calls,
        duration_ms = r.duration_ms,
        sns = sns_status,
        sns_detail = sns_detail,
        "audit"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn subject_is_ascii_and_bounded() {
        let mut d = sample();
        assert_eq!(sns_subject(&d), "[pulldoctor] web-api: Tag v9 does not exist in team/app");
        d.root_cause.title = format!("Tag “ünïcode” {}\n", "x".repeat(200));
        let s = sns_subject(&d);
        assert!(s.len() <= SUBJECT_MAX && s.is_ascii() && !s.contains('\n'), "{s}");
        assert!(s.ends_with("..."));
    }

    #[test]
    fn body_ends_with_the_json_document() {
        let body = sns_body(&sample());
        let last = body.lines().last().unwrap();
        assert!(last.starts_with("{\"schema\":\"pulldoctor.diagnosis/v1\""));
        let parsed: Diagnosis = serde_json::from_str(last).unwrap();
        assert_eq!(parsed, sample());
        assert!(body.starts_with("web-api (prod, us-east-1): "));
    }
}
