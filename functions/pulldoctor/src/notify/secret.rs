//! A credential held in Secrets Manager (a webhook URL, a bot token, a routing key): read on
//! first use, kept in memory across warm invocations, read again after the sink says it was
//! refused (rotated or revoked), and never logged, printed or put into an error message.

use tokio::sync::Mutex;

/// A secret value whose `Debug` does not show it.
#[derive(Clone, PartialEq)]
pub struct Redacted<T>(pub T);

impl<T> std::fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A webhook URL secret (Slack, Teams): the URL itself, or JSON with a `webhook_url` (or `url`)
/// key. `None` when it holds no http(s) URL.
pub fn webhook_url(secret: &str) -> Option<String> {
    let secret = secret.trim();
    let url = if secret.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(secret).ok()?;
        v.get("webhook_url")
            .or_else(|| v.get("url"))?
            .as_str()?
            .trim()
            .to_string()
    } else {
        secret.to_string()
    };
    (url.starts_with("https://") || url.starts_with("http://")).then_some(url)
}

/// One secret, parsed by the sink's own reader into `T`.
pub struct CachedSecret<T> {
    secrets: aws_sdk_secretsmanager::Client,
    secret_arn: String,
    value: Mutex<Option<Redacted<T>>>,
}

impl<T> std::fmt::Debug for CachedSecret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSecret")
            .field("secret_arn", &self.secret_arn)
            .finish()
    }
}

impl<T: Clone> CachedSecret<T> {
    pub fn new(config: &aws_config::SdkConfig, secret_arn: String) -> CachedSecret<T> {
        CachedSecret {
            secrets: aws_sdk_secretsmanager::Client::new(config),
            secret_arn,
            value: Mutex::new(None),
        }
    }

    /// The parsed secret. `parse` returns `Err(what the secret should hold)` for a secret of the
    /// wrong shape; that wording, never the value, is the error.
    pub async fn get(&self, parse: impl Fn(&str) -> Result<T, String>) -> Result<T, String> {
        let mut cached = self.value.lock().await;
        if let Some(v) = cached.as_ref() {
            return Ok(v.0.clone());
        }
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(&self.secret_arn)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "{:?}",
                    crate::aws::read_failure("secretsmanager:GetSecretValue", &[], &e)
                )
            })?;
        let value = parse(out.secret_string().unwrap_or_default())?;
        *cached = Some(Redacted(value.clone()));
        Ok(value)
    }

    /// The sink was refused with this secret: read it again next time.
    pub async fn forget(&self) {
        *self.value.lock().await = None;
    }
}
