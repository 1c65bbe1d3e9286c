//! Microsoft Teams through a Workflows webhook ("Post to a channel when a webhook request is
//! received"). The webhook URL is a credential (its `sig` lets anyone post): read from Secrets
//! Manager on first use, kept in memory across warm invocations, and never logged, printed or
//! put into an error message.
//!
//! Post-only: a card when an incident opens and one when it resolves. The webhook answers 202
//! when the workflow has *accepted* the request; whether the card reached the channel is only
//! known inside the workflow's run history, so a 202 is recorded as accepted, never as
//! delivered.

use std::time::Duration;

use crate::model::audit::Delivery;
use crate::model::incident::Notice;
use crate::notify::http::Http;
use crate::notify::secret::{webhook_url, CachedSecret};

pub struct Teams {
    webhook: CachedSecret<String>,
    http: Http,
    timeout: Duration,
}

impl std::fmt::Debug for Teams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Teams")
            .field("webhook", &self.webhook)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Teams {
    /// The webhook URL is the secret itself (no URL setting to override).
    pub fn new(
        config: &aws_config::SdkConfig,
        secret_arn: String,
        http: Http,
        timeout: Duration,
    ) -> Teams {
        Teams {
            webhook: CachedSecret::new(config, secret_arn),
            http,
            timeout,
        }
    }

    /// Post the notice's card, again after a 429 or a 5xx within `deadline`; never again after
    /// a 2xx or a network error (the first post may have arrived: a second card would be a
    /// duplicate in the channel).
    pub async fn send(&self, notice: &Notice<'_>, deadline: tokio::time::Instant) -> Delivery {
        let Some(message) = crate::report::teams::render(notice) else {
            let what = match notice {
                Notice::DeploymentFailed { .. } => "a failed deployment",
                _ => "an update of an open incident",
            };
            return Delivery::Skipped {
                reason: format!(
                    "Teams is post-only: {what} is not posted (the incident's card stands)"
                ),
            };
        };
        let url = match self
            .webhook
            .get(|s| {
                webhook_url(s).ok_or_else(|| {
                    "the Teams secret holds no webhook URL (plain URL, or JSON with a \"webhook_url\" key)".to_string()
                })
            })
            .await
        {
            Ok(url) => url,
            Err(error) => return Delivery::Failed { error },
        };
        let retried = self
            .http
            .post_json_retrying(&url, &[], &message, self.timeout, deadline, false)
            .await;
        let answer = match &retried.last {
            Ok(a) => a,
            Err(e) => {
                return Delivery::Failed {
                    error: format!("{e}{}", retried.attempts_note()).replace("<url>", "<webhook>"),
                }
            }
        };
        if answer.success() {
            return Delivery::Sent {
                id: format!(
                    "HTTP {} accepted (Teams does not confirm delivery)",
                    answer.status
                ),
            };
        }
        if matches!(answer.status, 401 | 403 | 404 | 410) {
            // A deleted workflow or a changed URL: read the secret again next time.
            self.webhook.forget().await;
        }
        Delivery::Failed {
            error: format!("{}{}", answer.describe(), retried.attempts_note())
                .replace("<url>", "<webhook>"),
        }
    }
}
