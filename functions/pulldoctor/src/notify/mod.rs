//! Notify: deliver a diagnosis (SNS, Slack) after deduplication, and record every invocation as
//! one JSON audit line on stdout (Lambda ships it to CloudWatch Logs) that is also a CloudWatch
//! Embedded Metric Format document. Each sink is independent: one failing never stops another.

pub mod dedup;
pub mod slack;
pub mod sns;

use serde::Serialize;
use serde_json::{json, Value};

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
        self
    }

    /// The record plus its Embedded Metric Format metadata, as one JSON object.
    pub fn to_json(&self, timestamp_ms: i64) -> Value {
        let mut v = serde_json::to_value(self).expect("an audit record always serializes");
        let sink_failures = [&self.deliveries.sns, &self.deliveries.slack]
            .into_iter()
            .flatten()
            .filter(|d| d.failed())
            .count();
        let flag = |d: Decision| u32::from(self.decision == d);
        let mut directives = vec![json!({
            "Namespace": METRIC_NAMESPACE,
            "Dimensions": [[]],
            "Metrics": [
                {"Name": "Invocations", "Unit": "Count"},
                {"Name": "Notifications", "Unit": "Count"},
                {"Name": "SuppressedDuplicates", "Unit": "Count"},
                {"Name": "DuplicateDeliveries", "Unit": "Count"},
                {"Name": "SinkFailures", "Unit": "Count"},
                {"Name": "DedupUnavailable", "Unit": "Count"},
            ]
        })];
        let obj = v.as_object_mut().expect("object");
        obj.insert("Invocations".into(), json!(1));
        obj.insert("Notifications".into(), json!(flag(Decision::Notified)));
        obj.insert("SuppressedDuplicates".into(), json!(flag(Decision::Suppressed)));
        obj.insert("DuplicateDeliveries".into(), json!(flag(Decision::DuplicateEvent)));
        obj.insert("SinkFailures".into(), json!(sink_failures));
        obj.insert("DedupUnavailable".into(), json!(u32::from(matches!(self.dedup, DedupStatus::Unavailable { .. }))));
        if let (Some(rc), Decision::Notified | Decision::Suppressed | Decision::Diagnosed | Decision::PublishFailed) =
            (&self.root_cause, self.decision)
        {
            obj.insert("RootCause".into(), json!(rc));
            obj.insert("Diagnoses".into(), json!(1));
            directives.push(json!({
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [["RootCause"]],
                "Metrics": [{"Name": "Diagnoses", "Unit": "Count"}]
            }));
        }
        obj.insert("_aws".into(), json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}));
        v
    }
}

/// Every AWS action the notify side calls (the reads are `collect::READ_ACTIONS`). template.yaml
/// grants exactly these besides the reads (a test below keeps them equal);
/// `secretsmanager:GetSecretValue` is granted on the Slack secret only, `sts:AssumeRole` on the
/// member role name only.
pub const NOTIFY_ACTIONS: &[&str] = &[
    "sns:Publish",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "secretsmanager:GetSecretValue",
    "sts:AssumeRole",
];

/// CloudWatch namespace of the EMF metrics.
pub const METRIC_NAMESPACE: &str = "pulldoctor";

/// Write the audit record as one JSON line on stdout (`println!` holds the stdout lock for the
/// whole line, so it is never interleaved with other output).
pub fn audit(r: &AuditRecord) {
    println!("{}", r.to_json(chrono::Utc::now().timestamp_millis()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn audit_line_is_an_emf_document() {
        let mut r = AuditRecord::new(Decision::Notified).with_diagnosis(&sample());
        r.deliveries.sns = Some(Delivery::Sent { id: "m-1".into() });
        r.deliveries.slack = Some(Delivery::Failed { error: "HTTP 500".into() });
        let v = r.to_json(1_700_000_000_000);
        assert_eq!(v["decision"], "notified");
        assert_eq!(v["root_cause"], "ECR_IMAGE_NOT_FOUND");
        assert_eq!(v["deliveries"]["sns"]["status"], "sent");
        assert_eq!(v["deliveries"]["slack"]["error"], "HTTP 500");
        assert_eq!(v["SinkFailures"], 1);
        assert_eq!(v["Notifications"], 1);
        assert_eq!(v["Diagnoses"], 1);
        assert_eq!(v["RootCause"], "ECR_IMAGE_NOT_FOUND");
        // Every metric an EMF directive names is a top-level number.
        for directive in v["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            for m in directive["Metrics"].as_array().unwrap() {
                assert!(v[m["Name"].as_str().unwrap()].is_number(), "{m}");
            }
            for dims in directive["Dimensions"].as_array().unwrap() {
                for dim in dims.as_array().unwrap() {
                    assert!(v[dim.as_str().unwrap()].is_string());
                }
            }
        }
    }

    /// Actions listed in template.yaml's policies (`- service:Action` lines).
    fn template_actions() -> std::collections::BTreeSet<String> {
        include_str!("../../../../template.yaml")
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- "))
            .filter(|a| {
                a.split_once(':').is_some_and(|(svc, act)| {
                    !svc.is_empty() && svc.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                        && !act.is_empty() && act.chars().all(|c| c.is_ascii_alphanumeric())
                })
            })
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn template_grants_exactly_the_calls_the_code_makes() {
        let granted = template_actions();
        let mut wanted: std::collections::BTreeSet<String> =
            crate::aws::READ_ACTIONS
                .iter()
                .filter(|a| !crate::aws::PREFLIGHT_ONLY_ACTIONS.contains(a))
                .chain(NOTIFY_ACTIONS)
                .map(|a| a.to_string())
                .collect();
        wanted.insert("kms:Decrypt".into()); // Secrets Manager decrypts on our behalf (kms:ViaService)
        assert_eq!(granted, wanted);
    }

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
        let mut r = AuditRecord::new(Decision::Notified);
        assert_eq!(r.to_json(0)["DedupUnavailable"], 0);
        r.dedup = DedupStatus::Unavailable { error: "x".into() };
        assert_eq!(r.to_json(0)["DedupUnavailable"], 1);
    }

    #[test]
    fn ignored_event_has_no_root_cause_dimension() {
        let v = AuditRecord::new(Decision::Ignored).to_json(0);
        assert_eq!(v["_aws"]["CloudWatchMetrics"].as_array().unwrap().len(), 1);
        assert!(v.get("RootCause").is_none());
        assert_eq!(v["Invocations"], 1);
    }
}
