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
    Sent {
        id: String,
    },
    Failed {
        error: String,
    },
    /// Not sent on purpose (duplicate, suppressed): says why.
    Skipped {
        reason: String,
    },
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
/// `publish_failed` (SNS refused: the invocation fails, so Lambda retries it); for service
/// events: `resolved` (open incidents closed), `no_open_incident` (a healthy service's periodic
/// steady state: one DynamoDB read), `recorded` (a failed deployment waits for its incident).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Notified,
    Suppressed,
    DuplicateEvent,
    Diagnosed,
    Ignored,
    PublishFailed,
    Resolved,
    NoOpenIncident,
    Recorded,
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
            Decision::Resolved => "resolved",
            Decision::NoOpenIncident => "no_open_incident",
            Decision::Recorded => "recorded",
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
    First {
        suppressed_before: u64,
    },
    Suppressed {
        count_in_window: u64,
        notified_by: Option<String>,
        window_seconds: u64,
    },
    DuplicateEvent,
    /// DynamoDB did not answer as expected: notified anyway.
    Unavailable {
        error: String,
    },
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
    /// The incidents this invocation touched, and how.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub incidents: Vec<IncidentStep>,
}

/// What an invocation did to one incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentStep {
    pub id: String,
    /// `opened`, `reminded`, `counted`, `cause_updated`, `resolved`, `expired`,
    /// `deployment_joined`.
    pub step: &'static str,
    /// Failed tasks counted so far.
    pub failures: u64,
}

impl IncidentStep {
    /// What this invocation did to `incident`.
    pub fn of(incident: &crate::model::incident::Incident, step: &'static str) -> IncidentStep {
        IncidentStep {
            id: incident.id.clone(),
            step,
            failures: incident.failures,
        }
    }
}

/// One entry per configured sink (absent: not configured).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Deliveries {
    pub sns: Option<Delivery>,
    /// The Slack incoming webhook.
    pub slack: Option<Delivery>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack_app: Option<Delivery>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pagerduty: Option<Delivery>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teams: Option<Delivery>,
}

impl Deliveries {
    /// Each configured sink by name.
    pub fn by_sink(&self) -> Vec<(&'static str, &Delivery)> {
        [
            ("sns", &self.sns),
            ("slack", &self.slack),
            ("slack_app", &self.slack_app),
            ("pagerduty", &self.pagerduty),
            ("teams", &self.teams),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect()
    }

    /// Whether any sink took the message.
    pub fn any_sent(&self) -> bool {
        self.by_sink().into_iter().any(|(_, d)| d.sent())
    }
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
            incidents: vec![],
        }
    }

    /// Fill in what the diagnosis says.
    pub fn with_diagnosis(mut self, d: &Diagnosis) -> AuditRecord {
        self.event_id = d.event_id.clone();
        self.task_arn = d.task.arn.clone();
        self.account = d.account.clone();
        self.root_cause = Some(d.root_cause.code.code().to_string());
        self.confidence = serde_json::to_value(d.root_cause.confidence)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string));
        self.failed = d
            .findings
            .iter()
            .filter(|f| f.status == crate::model::diagnosis::Status::Fail)
            .map(|f| f.code.code().to_string())
            .collect();
        self.counts = FindingCounts::of(d);
        self.aws_calls = d.aws_calls;
        self.change_event_ids = d
            .changes
            .as_ref()
            .map(|c| c.event_ids())
            .unwrap_or_default();
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
            (
                DedupStatus::DuplicateEvent,
                json!({"status": "duplicate_event"}),
            ),
            (
                DedupStatus::Unavailable {
                    error: "timeout".into(),
                },
                json!({"status": "unavailable", "error": "timeout"}),
            ),
            (
                DedupStatus::First {
                    suppressed_before: 3,
                },
                json!({"status": "first", "suppressed_before": 3}),
            ),
            (
                DedupStatus::Suppressed {
                    count_in_window: 2,
                    notified_by: None,
                    window_seconds: 1800,
                },
                json!({"status": "suppressed", "count_in_window": 2, "notified_by": null, "window_seconds": 1800}),
            ),
        ];
        for (status, want) in shapes {
            assert_eq!(serde_json::to_value(&status).unwrap(), want);
        }
    }
}
