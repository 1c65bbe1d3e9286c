//! Slack incoming webhook. The webhook URL is a credential (anyone holding it can post): it is
//! read from Secrets Manager on first use, kept in memory across warm invocations, and never
//! logged, printed or put into an error message.

use std::time::Duration;

use serde_json::Value;

use crate::model::audit::Delivery;
use crate::notify::http::Http;
use crate::notify::secret::{webhook_url as url_from_secret, CachedSecret};

pub struct Slack {
    webhook: CachedSecret<String>,
    http: Http,
    timeout: Duration,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slack")
            .field("webhook", &self.webhook)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Slack {
    pub fn new(
        config: &aws_config::SdkConfig,
        secret_arn: String,
        http: Http,
        timeout: Duration,
    ) -> Slack {
        Slack {
            webhook: CachedSecret::new(config, secret_arn),
            http,
            timeout,
        }
    }

    /// Post one message. Never retries (a retried post could duplicate it); the outcome goes to
    /// the audit line.
    pub async fn post(&self, message: &Value) -> Delivery {
        let url = match self
            .webhook
            .get(|s| {
                url_from_secret(s)
                    .ok_or_else(|| "the Slack secret holds no webhook URL (plain URL, or JSON with a \"webhook_url\" key)".to_string())
            })
            .await
        {
            Ok(url) => url,
            Err(error) => return Delivery::Failed { error },
        };
        let answer = match self.http.post_json(&url, &[], message, self.timeout).await {
            Ok(a) => a,
            Err(error) => {
                return Delivery::Failed {
                    error: error.replace("<url>", "<webhook>"),
                }
            }
        };
        if answer.success() {
            return Delivery::Sent {
                id: format!("HTTP {}", answer.status),
            };
        }
        if matches!(answer.status, 403 | 404 | 410) {
            // Revoked or rotated webhook: read the secret again next time.
            self.webhook.forget().await;
        }
        Delivery::Failed {
            error: answer.describe().replace("<url>", "<webhook>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_may_be_a_url_or_json() {
        assert_eq!(
            url_from_secret(" https://hooks.slack.com/services/T/B/x\n").unwrap(),
            "https://hooks.slack.com/services/T/B/x"
        );
        assert_eq!(
            url_from_secret(r#"{"webhook_url": "https://hooks.slack.com/x"}"#).unwrap(),
            "https://hooks.slack.com/x"
        );
        assert!(url_from_secret("not a url").is_none());
        assert!(url_from_secret(r#"{"token": "xoxb"}"#).is_none());
    }

    #[test]
    fn debug_never_shows_the_url() {
        let v = crate::notify::secret::Redacted("https://hooks.slack.com/secret".to_string());
        assert_eq!(format!("{v:?}"), "<redacted>");
    }
}
