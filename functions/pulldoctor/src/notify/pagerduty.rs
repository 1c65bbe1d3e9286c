//! PagerDuty Events API v2: send the events [`crate::report::pagerduty`] renders for a notice.
//! The routing (integration) key is a credential: read from Secrets Manager on first use, kept
//! in memory across warm invocations, and never logged, printed or put into an error message.
//!
//! PagerDuty answers 202 when it accepts an event, 400 for an invalid one (its `errors` say
//! why; sending it again cannot help), 429 and 5xx when it cannot take it now: those, and
//! network errors, are sent again within the deadline (a repeated event does no harm: the
//! `dedup_key` folds it into the same alert).

use std::time::Duration;

use serde_json::Value;

use crate::model::audit::Delivery;
use crate::model::incident::Notice;
use crate::notify::http::{Http, Retried};
use crate::notify::secret::CachedSecret;
use crate::report::pagerduty as render;

/// The Events API v2 enqueue URL (US service region; EU accounts use
/// `https://events.eu.pagerduty.com/v2/enqueue` through `PULLDOCTOR_PAGERDUTY_URL`).
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

pub struct PagerDuty {
    routing_key: CachedSecret<String>,
    url: String,
    http: Http,
    timeout: Duration,
}

impl std::fmt::Debug for PagerDuty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerDuty")
            .field("routing_key", &self.routing_key)
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish()
    }
}

const SECRET_SHAPE: &str =
    "the PagerDuty secret holds no routing key (the 32-character integration key, or JSON with a \"routing_key\" key)";

/// The secret holds the key itself, or JSON with a `routing_key` key. PagerDuty's keys are 32
/// letters and digits; the shape is checked loosely (PagerDuty's own 400 says more precisely
/// what is wrong with a key of another length).
fn routing_key_from_secret(secret: &str) -> Result<String, String> {
    let secret = secret.trim();
    let key = if secret.starts_with('{') {
        let v: Value = serde_json::from_str(secret).map_err(|_| SECRET_SHAPE.to_string())?;
        v.get("routing_key")
            .and_then(Value::as_str)
            .ok_or_else(|| SECRET_SHAPE.to_string())?
            .trim()
            .to_string()
    } else {
        secret.to_string()
    };
    let plausible =
        (16..=64).contains(&key.len()) && key.chars().all(|c| c.is_ascii_alphanumeric());
    plausible
        .then_some(key)
        .ok_or_else(|| SECRET_SHAPE.to_string())
}

impl PagerDuty {
    /// `url_override` replaces [`DEFAULT_URL`] (`PULLDOCTOR_PAGERDUTY_URL`: the EU service
    /// region, tests). `timeout` bounds each request; `send`'s deadline bounds them all.
    pub fn new(
        config: &aws_config::SdkConfig,
        secret_arn: String,
        url_override: Option<String>,
        http: Http,
        timeout: Duration,
    ) -> PagerDuty {
        PagerDuty {
            routing_key: CachedSecret::new(config, secret_arn),
            url: url_override
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_URL.to_string()),
            http,
            timeout,
        }
    }

    /// Send the notice's events (one; one per incident for a failed deployment), each retried
    /// within `deadline`. Sent when PagerDuty accepted every one (`id`: each `dedup_key` and
    /// status); Failed naming those it did not.
    pub async fn send(&self, notice: &Notice<'_>, deadline: tokio::time::Instant) -> Delivery {
        let events = render::events(notice);
        if events.is_empty() {
            return Delivery::Skipped {
                reason: "no incident to send to PagerDuty".into(),
            };
        }
        let key = match self.routing_key.get(routing_key_from_secret).await {
            Ok(key) => key,
            Err(error) => return Delivery::Failed { error },
        };
        let total = events.len();
        let (mut sent, mut failed) = (Vec::new(), Vec::new());
        for mut event in events {
            let dedup_key = event["dedup_key"].as_str().unwrap_or_default().to_string();
            event["routing_key"] = Value::String(key.clone());
            let retried = self
                .http
                .post_json_retrying(&self.url, &[], &event, self.timeout, deadline, true)
                .await;
            match self.outcome(&retried, &dedup_key).await {
                Ok(id) => sent.push(id),
                // PagerDuty does not echo the key; scrubbed anyway, whatever answered.
                Err(error) => failed.push((dedup_key, error.replace(&key, "<routing key>"))),
            }
        }
        match failed.len() {
            0 => Delivery::Sent {
                id: sent.join(", "),
            },
            _ if total == 1 => Delivery::Failed {
                error: failed.remove(0).1,
            },
            n => {
                let which: Vec<String> = failed.iter().map(|(k, e)| format!("{k}: {e}")).collect();
                let mut error = format!("{n} of {total} events failed: {}", which.join("; "));
                if !sent.is_empty() {
                    error.push_str(&format!("; sent: {}", sent.join(", ")));
                }
                Delivery::Failed { error }
            }
        }
    }

    /// `dedup_key (202)`, or why PagerDuty did not take the event.
    async fn outcome(&self, retried: &Retried, dedup_key: &str) -> Result<String, String> {
        let answer = match &retried.last {
            Ok(a) => a,
            Err(e) => return Err(format!("{e}{}", retried.attempts_note())),
        };
        let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
        if answer.success() {
            let key = body["dedup_key"].as_str().unwrap_or(dedup_key);
            return Ok(format!("{key} ({})", answer.status));
        }
        if answer.status == 400 {
            let errors: Vec<String> = body["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(crate::report::clean)
                .collect();
            if errors.iter().any(|e| {
                e.contains("routing_key") || e.to_ascii_lowercase().contains("routing key")
            }) {
                // Rotated or mistyped: read the secret again next time.
                self.routing_key.forget().await;
            }
            if let Some(message) = body["message"].as_str() {
                let mut error = format!("HTTP 400 {}", crate::report::clean(message));
                if !errors.is_empty() {
                    error.push_str(&format!(": {}", errors.join("; ")));
                }
                return Err(format!("{error}{}", retried.attempts_note()));
            }
        }
        Err(format!("{}{}", answer.describe(), retried.attempts_note()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_may_be_the_key_or_json() {
        let key = "0123456789abcdef0123456789ABCDEF";
        let table = [
            (format!(" {key}\n"), Ok(key.to_string())),
            (
                format!(r#"{{"routing_key": "{key}"}}"#),
                Ok(key.to_string()),
            ),
            (r#"{"integration": "x"}"#.to_string(), Err(())),
            (
                "https://events.pagerduty.com/v2/enqueue".to_string(),
                Err(()),
            ),
            ("short".to_string(), Err(())),
            (format!("{key} {key}"), Err(())),
            ("".to_string(), Err(())),
        ];
        for (secret, want) in table {
            let got = routing_key_from_secret(&secret);
            match want {
                Ok(k) => assert_eq!(got.as_deref(), Ok(k.as_str())),
                Err(()) => {
                    let error = got.unwrap_err();
                    assert_eq!(error, SECRET_SHAPE);
                    assert!(
                        secret.trim().is_empty() || !error.contains(secret.trim()),
                        "the secret is never echoed"
                    );
                }
            }
        }
    }
}
