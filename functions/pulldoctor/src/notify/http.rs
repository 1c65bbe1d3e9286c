//! The HTTPS client every chat and paging sink posts with (Slack, PagerDuty, Teams): one
//! connection pool per cold start, rustls with the system roots, a timeout per request. It only
//! carries bytes; each sink decides what an answer means and whether to retry.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

/// How much of an answer's body [`Http::post_json`] keeps: errors and small JSON answers.
pub const ANSWER_MAX: usize = 4096;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

#[derive(Clone)]
pub struct Http {
    client: HttpsClient,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http")
    }
}

/// What the server answered (the body cut to [`ANSWER_MAX`] unless the caller asks for more).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// `Retry-After` in seconds, when the server sent a number.
    pub retry_after: Option<u64>,
    pub body: String,
}

impl Answer {
    /// `HTTP 503 (retry after 2 s): <the body's first 200 characters>`, for an error message.
    pub fn describe(&self) -> String {
        let mut out = format!("HTTP {}", self.status);
        if let Some(after) = self.retry_after {
            out.push_str(&format!(" (retry after {after} s)"));
        }
        let body: String = self.body.chars().take(200).collect();
        if !body.is_empty() {
            out.push_str(&format!(": {}", crate::report::clean(&body)));
        }
        out
    }

    pub fn success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

impl Http {
    pub fn new() -> Http {
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider());
        // No system roots readable: an empty store (every https post then fails, and says so).
        let connector = match tls {
            Ok(builder) => builder.https_or_http().enable_http1().build(),
            Err(_) => hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(
                    rustls::ClientConfig::builder_with_provider(
                        rustls::crypto::ring::default_provider().into(),
                    )
                    .with_safe_default_protocol_versions()
                    .expect("the provider supports the default protocol versions")
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
                )
                .https_or_http()
                .enable_http1()
                .build(),
        };
        Http {
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// POST `body` as JSON to `url` with extra `headers`. `Err` is a transport failure or the
    /// timeout, worded without the URL (URLs of webhooks are credentials).
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<Answer, String> {
        self.post_json_keeping(url, headers, body, timeout, ANSWER_MAX)
            .await
    }

    /// [`Http::post_json`], keeping up to `answer_max` bytes of the answer (an API that echoes
    /// what was posted, like Slack's `chat.postMessage`, answers more than 4 KiB).
    pub async fn post_json_keeping(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
        timeout: Duration,
        answer_max: usize,
    ) -> Result<Answer, String> {
        let mut request =
            hyper::Request::post(url).header("content-type", "application/json; charset=utf-8");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|_| "the configured URL is not a valid URL".to_string())?;
        let scrub = |s: String| s.replace(url, "<url>");
        let response = match tokio::time::timeout(timeout, self.client.request(request)).await {
            Err(_) => return Err(format!("timeout after {} ms", timeout.as_millis())),
            Ok(Err(e)) => {
                let mut msg = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    msg.push_str(&format!(": {s}"));
                    source = s.source();
                }
                return Err(scrub(msg));
            }
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = tokio::time::timeout(timeout, response.into_body().collect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|b| {
                let bytes = b.to_bytes();
                String::from_utf8_lossy(&bytes[..bytes.len().min(answer_max)]).into_owned()
            })
            .unwrap_or_default();
        Ok(Answer {
            status,
            retry_after,
            body: scrub(body),
        })
    }

    /// POST like [`Http::post_json`], again after a 429 or a 5xx (and after a transport error
    /// when `retry_transport`: a timed-out post may have arrived, so only where a duplicate does
    /// no harm), waiting [`backoff`] (the server's `Retry-After` when given) as long as
    /// `deadline` allows. Every attempt's timeout is cut to the time left. Never posts again
    /// after a 2xx or a 4xx other than 429.
    pub async fn post_json_retrying(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
        timeout: Duration,
        deadline: tokio::time::Instant,
        retry_transport: bool,
    ) -> Retried {
        let mut attempts = 0;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                let last = Err("no time left before the deadline".to_string());
                return Retried {
                    last,
                    attempts,
                    out_of_time: true,
                };
            }
            attempts += 1;
            let last = self.post_json(url, headers, body, timeout.min(left)).await;
            let (again, retry_after) = match &last {
                Ok(a) => (retryable(a.status), a.retry_after),
                Err(_) => (retry_transport, None),
            };
            if !again {
                return Retried {
                    last,
                    attempts,
                    out_of_time: false,
                };
            }
            match backoff(attempts, retry_after, deadline) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => {
                    return Retried {
                        last,
                        attempts,
                        out_of_time: true,
                    }
                }
            }
        }
    }
}

/// The end of a post retried on 429, 5xx and transport errors ([`Http::post_json_retrying`]).
#[derive(Debug, Clone)]
pub struct Retried {
    /// The last answer (any status) or transport error.
    pub last: Result<Answer, String>,
    /// Posts made.
    pub attempts: u32,
    /// The last answer was retryable, but the deadline left no time for another attempt.
    pub out_of_time: bool,
}

impl Retried {
    /// `, after 3 attempts (no time left before the deadline)`, for an error message.
    pub fn attempts_note(&self) -> String {
        match (self.attempts, self.out_of_time) {
            // No attempt: the error itself says there was no time.
            (0, _) | (1, false) => String::new(),
            (n, false) => format!(", after {n} attempts"),
            (n, true) => format!(", after {n} attempt(s) (no time left before the deadline)"),
        }
    }
}

/// 429 and 5xx are worth another try; any other status is the answer.
pub fn retryable(status: u16) -> bool {
    status == 429 || status >= 500
}

/// How long to wait before retry `attempt` (1-based) of a 429 or 5xx: the server's
/// `Retry-After` when given, else 0.5 s, 1 s, 2 s…; `None` when the wait would pass `deadline`.
pub fn backoff(
    attempt: u32,
    retry_after: Option<u64>,
    deadline: tokio::time::Instant,
) -> Option<Duration> {
    let wait = match retry_after {
        Some(s) => Duration::from_secs(s),
        None => Duration::from_millis(500u64 << attempt.saturating_sub(1).min(6)),
    };
    (tokio::time::Instant::now() + wait < deadline).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn backoff_stays_inside_the_deadline() {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        assert_eq!(backoff(1, None, deadline), Some(Duration::from_millis(500)));
        assert_eq!(backoff(2, None, deadline), Some(Duration::from_secs(1)));
        assert_eq!(backoff(1, Some(2), deadline), Some(Duration::from_secs(2)));
        assert_eq!(
            backoff(1, Some(30), deadline),
            None,
            "a Retry-After past the deadline is not waited for"
        );
        assert_eq!(backoff(4, None, deadline), None);
    }
}
