//! Storm and duplicate suppression in a DynamoDB table (partition key `pk`, TTL attribute
//! `expires_at`).
//!
//! * `event#<EventBridge id>`: written once with a conditional put. EventBridge delivers at least
//!   once; a second delivery of the same event finds the item and is dropped.
//! * `inc#…` and `svc#…`: incidents, see [`crate::notify::incident`].
//!
//! Any other DynamoDB error fails open: the caller notifies and records why in the audit line.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

/// How long an event id is remembered: longer than Lambda keeps retrying an async event (6 h max).
const EVENT_MEMORY_SECS: i64 = 6 * 3600;

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

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl Dedup {
    /// DynamoDB calls get their own timeouts and retries. An unanswered call fails open (the page
    /// goes out), so a slow table must not look unavailable too soon: a second page for the same
    /// incident costs on-call more than a few seconds' delay. At most 8 s in all.
    pub fn new(config: &aws_config::SdkConfig, table: String, window: Duration) -> Dedup {
        let conf = aws_sdk_dynamodb::config::Builder::from(config)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(3))
                    .operation_timeout(Duration::from_secs(8))
                    .build(),
            )
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
            .build();
        Dedup {
            client: Client::from_conf(conf),
            table,
            window,
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// The incidents kept in the same table (same client, same timeouts).
    pub fn incidents(&self, update_interval: Duration) -> crate::notify::incident::IncidentStore {
        crate::notify::incident::IncidentStore::new(
            self.client.clone(),
            self.table.clone(),
            self.window,
            update_interval,
        )
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
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                EventMark::Duplicate
            }
            Err(e) => EventMark::Unavailable(crate::aws::error::short_error(&e)),
        }
    }

    /// Forget an event id (its diagnosis could not be delivered: Lambda's retry must not be dropped).
    pub async fn forget_event(&self, event_id: &str) {
        let _ = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("event#{event_id}")))
            .send()
            .await;
    }
}

/// CloudTrail's `LookupEvents` budget (2 per second per account and region) shared by every
/// container through the table: `ct#<key>#<second>#<slot>` items, claimed with a conditional put,
/// kept 2 minutes. A table that does not answer lets the lookup go (the SDK's retries and
/// CloudTrail's own throttling answer then).
impl crate::aws::pace::LookupSlots for Dedup {
    fn take<'a>(&'a self, key: &'a str, second: i64) -> futures_util::future::BoxFuture<'a, bool> {
        Box::pin(async move {
            for slot in 0..2 {
                let put = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .item("pk", s(format!("ct#{key}#{second}#{slot}")))
                    .item("expires_at", n(second + 120))
                    .condition_expression("attribute_not_exists(pk)")
                    .send()
                    .await;
                match put {
                    Ok(_) => return true,
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                    {
                        continue
                    }
                    Err(_) => return true,
                }
            }
            false
        })
    }
}
