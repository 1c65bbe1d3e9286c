//! What one Lambda invocation did with a diagnosis: the audit record (decision, deduplication,
//! deliveries). Record and format are apart: this is the record, plain data the handler fills in
//! as it goes; the line it is written as (JSON that is also a CloudWatch Embedded Metric Format
//! document) is a format like the others, in [`crate::report::audit`], and notify only prints it.
//! Both use these types, so they live below both.

use serde::Serialize;

use crate::model::diagnosis::Diagnosis;

/// What happened to one delivery, for the audit line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Delivery {
    Sent { id: String },
    Failed { error: String },
    /// Not sent on purpose (duplicate, suppressed): says why.
    Skipped { reason: String },
    NotConfigured,
}

impl Delivery {
    pub fn failed(&self) -> bool {
        matches!(self, Delivery::Failed { .. })
    }
    pub fn sent(&self) -> bool {
        matches!(self, Delivery::Sent { .. })
    }
}

/// `notified`, `suppressed` (same failure already notified in the window), `duplicate_event`
/// (EventBridge delivered this event id before), `diagnosed` (no sink configured), `ignored`,
/// `publish_failed` (SNS refused: the invocation fails, so Lambda retries it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Notified,
    Suppressed,
    DuplicateEvent,
    Diagnosed,
    Ignored,
    PublishFailed,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Notified => "notified",
            Decision::Suppressed => "suppressed",
            Decision::DuplicateEvent => "duplicate_event",
            Decision::Diagnosed => "diagnosed",
            Decision::Ignored => "ignored",
            Decision::PublishFailed => "publish_failed",
        }
    }
}

/// What deduplication said, as the audit line's `dedup` object (`status` plus its details).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DedupStatus {
    /// No dedup table.
    #[default]
    Disabled,
    /// First of its window; `suppressed_before` were held back in the previous one.
    First { suppressed_before: u64 },
    Suppressed { count_in_window: u64, notified_by: Option<String>, window_seconds: u64 },
    DuplicateEvent,
    /// DynamoDB did not answer as expected: notified anyway.
    Unavailable { error: String },
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FindingCounts {
    pub fail: usize,
    pub warn: usize,
    pub unknown: usize,
    pub pass: usize,
}

impl FindingCounts {
    pub fn of(d: &Diagnosis) -> FindingCounts {
        use crate::model::diagnosis::Status::*;
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

/// One JSON audit record per invocation, ignored events included.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub audit: &'static str,
    pub event_id: Option<String>,
    pub task_arn: Option<String>,
    /// The account the diagnosis ran in (a member account when events are forwarded).
    pub account: Option<String>,
    pub decision: Decision,
    pub reason: Option<String>,
    pub root_cause: Option<String>,
    pub confidence: Option<String>,
    pub fingerprint: Option<String>,
    /// Codes of failed findings.
    pub failed: Vec<String>,
    pub counts: FindingCounts,
    pub aws_calls: u32,
    pub duration_ms: u64,
    /// What deduplication said.
    pub dedup: DedupStatus,
    pub deliveries: Deliveries,
    /// CloudTrail event ids of the changes the diagnosis cites (see `Diagnosis::changes`), so
    /// an audit query can join a failure to the write that caused it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub change_event_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Deliveries {
    pub sns: Option<Delivery>,
    pub slack: Option<Delivery>,
}

impl AuditRecord {
    pub fn new(decision: Decision) -> AuditRecord {
        AuditRecord {
            audit: "pulldoctor.audit/v1",
            event_id: None,
            task_arn: None,
            account: None,
            decision,
            reason: None,
            root_cause: None,
            confidence: None,
            fingerprint: None,
            failed: vec![],
            counts: FindingCounts::default(),
            aws_calls: 0,
            duration_ms: 0,
            dedup: DedupStatus::Disabled,
            deliveries: Deliveries::default(),
            change_event_ids: vec![],
        }
    }

    /// Fill in what the diagnosis says.
    pub fn with_diagnosis(mut self, d: &Diagnosis) -> AuditRecord {
        self.event_id = d.event_id.clone();
        self.task_arn = d.task.arn.clone();
        self.account = d.account.clone();
        self.root_cause = Some(d.root_cause.code.code().to_string());
        self.confidence = serde_json::to_value(d.root_cause.confidence).ok().and_then(|v| v.as_str().map(str::to_string));
        self.failed = d
            .findings
            .iter()
            .filter(|f| f.status == crate::model::diagnosis::Status::Fail)
            .map(|f| f.code.code().to_string())
            .collect();
        self.counts = FindingCounts::of(d);
        self.aws_calls = d.aws_calls;
        self.change_event_ids = d.changes.as_ref().map(|c| c.event_ids()).unwrap_or_default();
        self
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dedup_status_keeps_the_audit_shapes() {
        let shapes = [
            (DedupStatus::Disabled, json!({"status": "disabled"})),
            (DedupStatus::DuplicateEvent, json!({"status": "duplicate_event"})),
            (DedupStatus::Unavailable { error: "timeout".into() }, json!({"status": "unavailable", "error": "timeout"})),
            (DedupStatus::First { suppressed_before: 3 }, json!({"status": "first", "suppressed_before": 3})),
            (
                DedupStatus::Suppressed { count_in_window: 2, notified_by: None, window_seconds: 1800 },
                json!({"status": "suppressed", "count_in_window": 2, "notified_by": null, "window_seconds": 1800}),
            ),
        ];
        for (status, want) in shapes {
            assert_eq!(serde_json::to_value(&status).unwrap(), want);
        }
    }
}
