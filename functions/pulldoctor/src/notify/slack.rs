//! Slack incoming webhook. The webhook URL is a credential (anyone holding it can post): it is
//! read from Secrets Manager on first use, kept in memory across warm invocations, and never
//! logged, printed or put into an error message.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::model::audit::Delivery;

/// The webhook URL. `Debug` does not show it.
#[derive(Clone)]
struct WebhookUrl(String);

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookUrl(<redacted>)")
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

pub struct Slack {
    secrets: aws_sdk_secretsmanager::Client,
    secret_arn: String,
    url: Mutex<Option<WebhookUrl>>,
    http: HttpsClient,
    timeout: Duration,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slack").field("secret_arn", &self.secret_arn).field("timeout", &self.timeout).finish()
    }
}

/// The secret holds the URL itself, or JSON with a `webhook_url` (or `url`) key.
fn url_from_secret(secret: &str) -> Option<String> {
    let secret = secret.trim();
    let url = if secret.starts_with('{') {
        let v: Value = serde_json::from_str(secret).ok()?;
        v.get("webhook_url").or_else(|| v.get("url"))?.as_str()?.trim().to_string()
    } else {
        secret.to_string()
    };
    (url.starts_with("https://") || url.starts_with("http://")).then_some(url)
}

impl Slack {
    pub fn new(config: &aws_config::SdkConfig, secret_arn: String, timeout: Duration) -> Slack {
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider());
        // No system roots readable: an empty store (every https post then fails, and says so).
        let connector = match tls {
            Ok(builder) => builder.https_or_http().enable_http1().build(),
            Err(_) => hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(
                    rustls::ClientConfig::builder_with_provider(rustls::crypto::aws_lc_rs::default_provider().into())
                        .with_safe_default_protocol_versions()
                        .expect("ring supports the default protocol versions")
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth(),
                )
                .https_or_http()
                .enable_http1()
                .build(),
        };
        Slack {
            secrets: aws_sdk_secretsmanager::Client::new(config),
            secret_arn,
            url: Mutex::new(None),
            http: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        }
    }

    async fn webhook(&self) -> Result<WebhookUrl, String> {
        let mut cached = self.url.lock().await;
        if let Some(url) = cached.as_ref() {
            return Ok(url.clone());
        }
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(&self.secret_arn)
            .send()
            .await
            .map_err(|e| format!("{:?}", crate::aws::read_failure("secretsmanager:GetSecretValue", &[], &e)))?;
        let url = out
            .secret_string()
            .and_then(url_from_secret)
            .ok_or("the Slack secret holds no webhook URL (plain URL, or JSON with a \"webhook_url\" key)")?;
        let url = WebhookUrl(url);
        *cached = Some(url.clone());
        Ok(url)
    }

    /// Post one message. Never retries (a retried post could duplicate it); the outcome goes to
    /// the audit line.
    pub async fn post(&self, message: &Value) -> Delivery {
        let url = match self.webhook().await {
            Ok(url) => url,
            Err(error) => return Delivery::Failed { error },
        };
        let scrub = |s: String| s.replace(&url.0, "<webhook>");
        let request = match hyper::Request::post(&url.0)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(message.to_string())))
        {
            Ok(r) => r,
            Err(_) => return Delivery::Failed { error: "the webhook URL in the Slack secret is not a valid URL".into() },
        };
        let response = match tokio::time::timeout(self.timeout, self.http.request(request)).await {
            Err(_) => return Delivery::Failed { error: format!("timeout after {} ms", self.timeout.as_millis()) },
            Ok(Err(e)) => {
                let mut msg = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    msg.push_str(&format!(": {s}"));
                    source = s.source();
                }
                return Delivery::Failed { error: scrub(msg) };
            }
            Ok(Ok(r)) => r,
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = tokio::time::timeout(self.timeout, response.into_body().collect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).chars().take(200).collect::<String>())
            .unwrap_or_default();
        if status.is_success() {
            return Delivery::Sent { id: format!("HTTP {}", status.as_u16()) };
        }
        if matches!(status.as_u16(), 403 | 404 | 410) {
            // Revoked or rotated webhook: read the secret again next time.
            *self.url.lock().await = None;
        }
        let mut error = format!("HTTP {}", status.as_u16());
        if let Some(after) = retry_after {
            error.push_str(&format!(" (retry after {} s)", after.chars().take(10).collect::<String>()));
        }
        if !body.is_empty() {
            error.push_str(&format!(": {}", crate::report::clean(&body)));
        }
        Delivery::Failed { error: scrub(error) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_may_be_a_url_or_json() {
        assert_eq!(url_from_secret(" https://hooks.slack.com/services/T/B/x\n").unwrap(), "https://hooks.slack.com/services/T/B/x");
        assert_eq!(url_from_secret(r#"{"webhook_url": "https://hooks.slack.com/x"}"#).unwrap(), "https://hooks.slack.com/x");
        assert!(url_from_secret("not a url").is_none());
        assert!(url_from_secret(r#"{"token": "xoxb"}"#).is_none());
    }

    #[test]
    fn debug_never_shows_the_url() {
        assert_eq!(format!("{:?}", WebhookUrl("https://hooks.slack.com/secret".into())), "WebhookUrl(<redacted>)");
    }
}
