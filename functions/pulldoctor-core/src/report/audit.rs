//! The audit line: an [`AuditRecord`] as one JSON object that is also a CloudWatch Embedded
//! Metric Format document (the `_aws` directives and a top-level number per metric). Notify
//! prints it; the schema is docs/schemas/audit.v1.json.

use serde_json::{json, Value};

use crate::model::audit::{AuditRecord, Decision, DedupStatus};

/// CloudWatch namespace of the EMF metrics.
pub const METRIC_NAMESPACE: &str = "pulldoctor";

/// The record plus its Embedded Metric Format metadata, as one JSON object.
pub fn emf(record: &AuditRecord, timestamp_ms: i64) -> Value {
    let mut v = serde_json::to_value(record).expect("an audit record always serializes");
    let failed_sinks: Vec<&str> = record
        .deliveries
        .by_sink()
        .into_iter()
        .filter(|(_, d)| d.failed())
        .map(|(k, _)| k)
        .collect();
    let sink_failures = failed_sinks.len();
    let flag = |d: Decision| u32::from(record.decision == d);
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
            {"Name": "Resolved", "Unit": "Count"},
        ]
    })];
    let obj = v.as_object_mut().expect("object");
    obj.insert("Invocations".into(), json!(1));
    obj.insert("Notifications".into(), json!(flag(Decision::Notified)));
    obj.insert(
        "SuppressedDuplicates".into(),
        json!(flag(Decision::Suppressed)),
    );
    obj.insert(
        "DuplicateDeliveries".into(),
        json!(flag(Decision::DuplicateEvent)),
    );
    obj.insert("SinkFailures".into(), json!(sink_failures));
    obj.insert(
        "DedupUnavailable".into(),
        json!(u32::from(matches!(
            record.dedup,
            DedupStatus::Unavailable { .. }
        ))),
    );
    obj.insert(
        "Resolved".into(),
        json!(record
            .incidents
            .iter()
            .filter(|i| matches!(i.step, "resolved" | "expired"))
            .count()),
    );

    if let (
        Some(rc),
        Decision::Notified | Decision::Suppressed | Decision::Diagnosed | Decision::PublishFailed,
    ) = (&record.root_cause, record.decision)
    {
        obj.insert("RootCause".into(), json!(rc));
        obj.insert("Diagnoses".into(), json!(1));
        directives.push(json!({
            "Namespace": METRIC_NAMESPACE,
            "Dimensions": [["RootCause"]],
            "Metrics": [{"Name": "Diagnoses", "Unit": "Count"}]
        }));
    }
    obj.insert(
        "_aws".into(),
        json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}),
    );
    v
}

/// `SinkFailures` by `Sink`: one small EMF document per failed sink (a document holds one value
/// per dimension, and the audit line already counts the total without a dimension).
pub fn sink_failure_metrics(record: &AuditRecord, timestamp_ms: i64) -> Vec<Value> {
    record
        .deliveries
        .by_sink()
        .into_iter()
        .filter(|(_, d)| d.failed())
        .map(|(sink, _)| {
            json!({
                "Sink": sink,
                "SinkFailures": 1,
                "event_id": record.event_id,
                "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [{
                    "Namespace": METRIC_NAMESPACE,
                    "Dimensions": [["Sink"]],
                    "Metrics": [{"Name": "SinkFailures", "Unit": "Count"}]
                }]}
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::audit::Delivery;
    use crate::report::tests::sample;

    #[test]
    fn audit_line_is_an_emf_document() {
        let mut r = AuditRecord::new(Decision::Notified).with_diagnosis(&sample());
        r.deliveries.sns = Some(Delivery::Sent { id: "m-1".into() });
        r.deliveries.slack = Some(Delivery::Failed {
            error: "HTTP 500".into(),
        });
        let v = emf(&r, 1_700_000_000_000);
        assert_eq!(v["decision"], "notified");
        assert_eq!(v["root_cause"], "ECR_IMAGE_NOT_FOUND");
        assert_eq!(v["deliveries"]["sns"]["status"], "sent");
        assert_eq!(v["deliveries"]["slack"]["error"], "HTTP 500");
        assert_eq!(v["SinkFailures"], 1);
        assert_eq!(v["Notifications"], 1);
        let by_sink = sink_failure_metrics(&r, 1_700_000_000_000);
        assert_eq!(by_sink.len(), 1);
        assert_eq!(
            (
                by_sink[0]["Sink"].as_str(),
                by_sink[0]["SinkFailures"].as_u64()
            ),
            (Some("slack"), Some(1))
        );
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

    #[test]
    fn dedup_unavailable_is_counted() {
        let mut r = AuditRecord::new(Decision::Notified);
        assert_eq!(emf(&r, 0)["DedupUnavailable"], 0);
        r.dedup = DedupStatus::Unavailable { error: "x".into() };
        assert_eq!(emf(&r, 0)["DedupUnavailable"], 1);
    }

    #[test]
    fn ignored_event_has_no_root_cause_dimension() {
        let v = emf(&AuditRecord::new(Decision::Ignored), 0);
        assert_eq!(v["_aws"]["CloudWatchMetrics"].as_array().unwrap().len(), 1);
        assert!(v.get("RootCause").is_none());
        assert_eq!(v["Invocations"], 1);
    }
}
