//! Storm and duplicate suppression in a DynamoDB table (partition key `pk`, TTL attribute
//! `expires_at`).
//!
//! * `event#<EventBridge id>`: written once with a conditional put. EventBridge delivers at least
//!   once; a second delivery of the same event finds the item and is dropped.
//! * `fp#<fingerprint>`: one item per failure (account, region, cluster, service or family, root
//!   cause, image). The first diagnosis claims a window with a conditional update; the others in
//!   the window only add one to `suppressed`. The claim after the window returns the old count,
//!   so the next notification says how many were held back. Conditions make concurrent Lambdas
//!   agree: exactly one claim wins.
//!
//! Any other DynamoDB error fails open: the caller notifies and records why in the audit line.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::model::diagnosis::Diagnosis;
use crate::report;

/// How long an event id is remembered: longer than Lambda keeps retrying an async event (6 h max).
const EVENT_MEMORY_SECS: i64 = 6 * 3600;
/// How long a fingerprint's counter outlives its window, so the next notification can report it.
const COUNTER_MEMORY_SECS: i64 = 24 * 3600;

#[derive(Clone, Debug)]
pub struct Dedup {
    client: Client,
    table: String,
    window: Duration,
}

/// Outcome of recording an event id.
#[derive(Debug, Clone, PartialEq)]
pub enum EventMark {
    First,
    Duplicate,
    /// DynamoDB did not answer as expected: go on (fail open).
    Unavailable(String),
}

/// Whether this diagnosis should be notified.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Gate {
    /// First of its window; `suppressed_before` were held back in the previous window.
    Notify { suppressed_before: u64 },
    /// Same failure already notified in this window; `count` suppressed so far in it.
    Suppressed { count: u64, notified_by: Option<String> },
    /// Dedup could not be consulted: notify anyway.
    Unavailable { error: String },
}

/// `account`, `region`, `cluster`, service or family, root cause code and image, hashed.
pub fn fingerprint(d: &Diagnosis) -> String {
    let parts = [
        d.account.as_deref().unwrap_or("-"),
        d.region.as_deref().unwrap_or("-"),
        d.task.cluster.as_deref().unwrap_or("-"),
        &report::subject_name(d),
        d.root_cause.code.code(),
        d.failure.image.as_deref().unwrap_or("-"),
    ];
    let digest = Sha256::digest(parts.join("\n").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn short_error<E: std::fmt::Debug>(err: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match err {
        SdkError::ServiceError(e) => format!(
            "{}: {}",
            e.err().code().unwrap_or("ServiceError"),
            e.err().message().unwrap_or_default()
        ),
        SdkError::TimeoutError(_) => "timeout".into(),
        SdkError::DispatchFailure(e) => format!("dispatch failure (connector: {:?})", e.as_connector_error().map(|c| c.to_string())),
        other => format!("{other}"),
    }
}

impl Dedup {
    /// DynamoDB calls get a short timeout and one retry: dedup must never delay a page for long.
    pub fn new(config: &aws_config::SdkConfig, table: String, window: Duration) -> Dedup {
        let conf = aws_sdk_dynamodb::config::Builder::from(config)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(2))
                    .operation_timeout(Duration::from_secs(5))
                    .build(),
            )
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
            .build();
        Dedup { client: Client::from_conf(conf), table, window }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    pub async fn mark_event(&self, event_id: &str, now: i64) -> EventMark {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("event#{event_id}")))
            .item("seen_at", n(now))
            .item("expires_at", n(now + EVENT_MEMORY_SECS))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => EventMark::First,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => EventMark::Duplicate,
            Err(e) => EventMark::Unavailable(short_error(&e)),
        }
    }

    /// Forget an event id (its diagnosis could not be delivered: Lambda's retry must not be dropped).
    pub async fn forget_event(&self, event_id: &str) {
        let _ = self.client.delete_item().table_name(&self.table).key("pk", s(format!("event#{event_id}"))).send().await;
    }

    pub async fn gate(&self, fingerprint: &str, event_id: &str, now: i64) -> Gate {
        let until = now + self.window.as_secs() as i64;
        let claim = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("fp#{fingerprint}")))
            .update_expression(
                "SET window_until = :until, suppressed = :zero, notified_by = :event, notified_at = :now, expires_at = :expires",
            )
            .condition_expression("attribute_not_exists(pk) OR window_until <= :now")
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":event", s(event_id))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":expires", n(until + COUNTER_MEMORY_SECS))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        match claim {
            Ok(out) => {
                let suppressed_before = out
                    .attributes()
                    .and_then(|a| a.get("suppressed"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                Gate::Notify { suppressed_before }
            }
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                let counted = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", s(format!("fp#{fingerprint}")))
                    .update_expression("ADD suppressed :one")
                    .expression_attribute_values(":one", n(1))
                    .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
                    .send()
                    .await;
                match counted {
                    Ok(out) => {
                        let attrs = out.attributes();
                        Gate::Suppressed {
                            count: attrs
                                .and_then(|a| a.get("suppressed"))
                                .and_then(|v| v.as_n().ok())
                                .and_then(|v| v.parse().ok())
                                .unwrap_or(1),
                            notified_by: attrs.and_then(|a| a.get("notified_by")).and_then(|v| v.as_s().ok()).cloned(),
                        }
                    }
                    // The window is held by someone else: suppressing without counting is
                    // better than a second page.
                    Err(_) => Gate::Suppressed { count: 0, notified_by: None },
                }
            }
            Err(e) => Gate::Unavailable { error: short_error(&e) },
        }
    }

    /// Give back a claimed window (nothing was delivered), so that the next failure notifies.
    pub async fn release(&self, fingerprint: &str, event_id: &str) {
        let _ = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("fp#{fingerprint}")))
            .update_expression("SET window_until = :zero")
            .condition_expression("notified_by = :event")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":event", s(event_id))
            .send()
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn fingerprint_ignores_the_task_but_not_the_cause_or_image() {
        let a = sample();
        let mut other_task = sample();
        other_task.task.arn = Some("arn:aws:ecs:us-east-1:111122223333:task/prod/ffff".into());
        other_task.event_id = Some("e-2".into());
        assert_eq!(fingerprint(&a), fingerprint(&other_task));
        let mut other_image = sample();
        other_image.failure.image = Some("x:v10".into());
        assert_ne!(fingerprint(&a), fingerprint(&other_image));
        let mut other_cause = sample();
        other_cause.root_cause.code = crate::model::diagnosis::RootCause::NetNoRoute;
        assert_ne!(fingerprint(&a), fingerprint(&other_cause));
        assert_eq!(fingerprint(&a).len(), 32);
    }
}
