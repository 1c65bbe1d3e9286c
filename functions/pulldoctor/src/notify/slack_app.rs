//! Slack as an app: one message per incident, posted with a bot token through the Web API
//! (`chat.postMessage`), edited as the incident moves (`chat.update`) and answered in its thread
//! (`chat.postMessage` with `thread_ts`). The bot token and channel are read from Secrets Manager
//! (JSON `{"bot_token": "xoxb-…", "channel": "C…"}`), kept across warm invocations, read again
//! after Slack refuses the token, and never logged, printed or put into an error.
//!
//! Slack answers a method's failures as HTTP 200 with `{"ok": false, "error": "…"}`; an HTTP 429
//! (with `Retry-After`) or 5xx means the call was not processed and is retried inside the deadline.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::model::audit::Delivery;
use crate::model::incident::{FailedDeployment, Incident, Notice, SlackMessageRef};
use crate::notify::http::{backoff, Http};
use crate::notify::secret::CachedSecret;
use crate::report::slack_incident as render;

/// The Web API's base URL.
pub const SLACK_API: &str = "https://slack.com/api";

/// `chat.postMessage` answers with the whole message it posted (blocks included): up to 50
/// blocks of 3000 characters, escaped as JSON.
const ANSWER_MAX: usize = 512 * 1024;

/// Attempts of one call (the first included), all inside the deadline.
const MAX_ATTEMPTS: u32 = 4;

/// Slack's errors that mean the token itself was refused (revoked, rotated, workspace gone).
const REFUSED_TOKEN: &[&str] = &[
    "invalid_auth",
    "token_revoked",
    "token_expired",
    "account_inactive",
];

/// What the Lambda stores and audits after a send.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackAppOutcome {
    pub delivery: Delivery,
    /// The message this send posted (a new incident message), for the incident to keep.
    pub posted: Option<SlackMessageRef>,
}

impl SlackAppOutcome {
    fn only(delivery: Delivery) -> SlackAppOutcome {
        SlackAppOutcome {
            delivery,
            posted: None,
        }
    }
}

/// The secret's contents.
#[derive(Clone)]
struct AppSecret {
    token: String,
    channel: String,
}

impl std::fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSecret")
            .field("token", &"<redacted>")
            .field("channel", &self.channel)
            .finish()
    }
}

fn parse_secret(secret: &str) -> Result<AppSecret, String> {
    const SHAPE: &str =
        "the Slack app secret must be JSON {\"bot_token\": \"xoxb-…\", \"channel\": \"C…\"}";
    let v: Value = serde_json::from_str(secret.trim()).map_err(|_| SHAPE.to_string())?;
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    match (field("bot_token"), field("channel")) {
        (Some(token), Some(channel)) => Ok(AppSecret { token, channel }),
        _ => Err(SHAPE.to_string()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    PostMessage,
    Update,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::PostMessage => "chat.postMessage",
            Method::Update => "chat.update",
        }
    }
}

/// A call Slack answered with `ok: false`, or that failed otherwise (worded for the audit line).
#[derive(Debug)]
struct CallError {
    /// Slack's error code, when it answered one.
    code: Option<String>,
    text: String,
}

pub struct SlackApp {
    secret: CachedSecret<AppSecret>,
    api: String,
    http: Http,
    timeout: Duration,
}

impl std::fmt::Debug for SlackApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackApp")
            .field("secret", &self.secret)
            .field("api", &self.api)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl SlackApp {
    /// `url_override` replaces [`SLACK_API`] (tests).
    pub fn new(
        config: &aws_config::SdkConfig,
        secret_arn: String,
        url_override: Option<String>,
        http: Http,
        timeout: Duration,
    ) -> SlackApp {
        let api = url_override
            .unwrap_or_else(|| SLACK_API.to_string())
            .trim_end_matches('/')
            .to_string();
        SlackApp {
            secret: CachedSecret::new(config, secret_arn),
            api,
            http,
            timeout,
        }
    }

    pub async fn send(&self, notice: &Notice<'_>, deadline: Instant) -> SlackAppOutcome {
        // Nothing to edit: decided before the secret is read.
        match notice {
            Notice::Resolved { incident, .. } if incident.slack.is_none() => {
                return SlackAppOutcome::only(Delivery::Skipped {
                    reason: "the incident has no Slack message".into(),
                });
            }
            Notice::DeploymentFailed { incidents, .. }
                if incidents.iter().all(|i| i.slack.is_none()) =>
            {
                return SlackAppOutcome::only(Delivery::Skipped {
                    reason: without_message(incidents),
                });
            }
            _ => {}
        }
        let secret = match self.secret.get(parse_secret).await {
            Ok(s) => s,
            Err(error) => return SlackAppOutcome::only(Delivery::Failed { error }),
        };
        let mut outcome = match *notice {
            Notice::Opened {
                incident,
                diagnosis,
            } => {
                self.post_incident(
                    &secret,
                    &render::open_message(incident, diagnosis, false),
                    deadline,
                )
                .await
            }
            Notice::Updated {
                incident,
                diagnosis,
                news,
                cause_changed,
            } => {
                let message = render::open_message(incident, diagnosis, cause_changed);
                self.updated(&secret, incident, &message, news, deadline)
                    .await
            }
            Notice::Resolved {
                incident,
                resolution,
            } => {
                let target = incident.slack.as_ref().expect("checked above");
                let steps = [
                    self.update(
                        &secret,
                        target,
                        &render::resolved_message(incident, resolution),
                        deadline,
                    )
                    .await,
                    self.reply(
                        &secret,
                        target,
                        &render::resolved_reply(incident, resolution),
                        deadline,
                    )
                    .await,
                ];
                SlackAppOutcome::only(delivery(&steps, None))
            }
            Notice::DeploymentFailed {
                deployment,
                service,
                incidents,
            } => SlackAppOutcome::only(
                self.deployment_failed(&secret, deployment, service, incidents, deadline)
                    .await,
            ),
        };
        // Slack never echoes the token, but an error must not carry it even if it did.
        if let Delivery::Failed { error } = &mut outcome.delivery {
            *error = error.replace(&secret.token, "<token>");
        }
        outcome
    }

    /// Post a new incident message to the configured channel.
    async fn post_incident(
        &self,
        secret: &AppSecret,
        message: &Value,
        deadline: Instant,
    ) -> SlackAppOutcome {
        let body = json!({
            "channel": secret.channel,
            "text": message["text"],
            "blocks": message["blocks"],
            "unfurl_links": false,
            "unfurl_media": false,
        });
        match self
            .call(secret, Method::PostMessage, &body, deadline)
            .await
        {
            Ok(answer) => match message_ref(&answer) {
                Some(posted) => SlackAppOutcome {
                    delivery: Delivery::Sent {
                        id: format!("posted ts {}", posted.ts),
                    },
                    posted: Some(posted),
                },
                None => SlackAppOutcome::only(Delivery::Failed {
                    error: "chat.postMessage: ok without channel and ts".into(),
                }),
            },
            Err(e) => SlackAppOutcome::only(Delivery::Failed { error: e.text }),
        }
    }

    /// Edit the counter and diagnosis in place, and reply in the thread when there is news. A
    /// message that is gone (deleted in Slack, or never posted) is posted anew.
    async fn updated(
        &self,
        secret: &AppSecret,
        incident: &Incident,
        message: &Value,
        news: &[String],
        deadline: Instant,
    ) -> SlackAppOutcome {
        let (target, mut outcome) = match &incident.slack {
            Some(target) => match self.update(secret, target, message, deadline).await {
                Err(e) if e.code.as_deref() == Some("message_not_found") => {
                    let posted = self.post_incident(secret, message, deadline).await;
                    (posted.posted.clone(), posted)
                }
                step => (
                    Some(target.clone()),
                    SlackAppOutcome::only(delivery(&[step], None)),
                ),
            },
            None => {
                let posted = self.post_incident(secret, message, deadline).await;
                (posted.posted.clone(), posted)
            }
        };
        if let (Some(target), false) = (target, news.is_empty()) {
            let reply = self
                .reply(
                    secret,
                    &target,
                    &render::news_reply(incident, news),
                    deadline,
                )
                .await;
            outcome.delivery = match (outcome.delivery, reply) {
                (Delivery::Sent { id }, Ok(reply)) => Delivery::Sent {
                    id: format!("{id}, {reply}"),
                },
                (Delivery::Sent { id }, Err(e)) => Delivery::Failed {
                    error: format!("{id}; {}", e.text),
                },
                (Delivery::Failed { error }, Err(e)) => Delivery::Failed {
                    error: format!("{error}; {}", e.text),
                },
                (other, _) => other,
            };
        }
        outcome
    }

    /// A thread reply on each incident's message naming the deployment, and the message edited
    /// to show it; incidents without a message are named in the delivery.
    async fn deployment_failed(
        &self,
        secret: &AppSecret,
        deployment: &FailedDeployment,
        service: &str,
        incidents: &[Incident],
        deadline: Instant,
    ) -> Delivery {
        let mut steps = Vec::new();
        for incident in incidents {
            let Some(target) = &incident.slack else {
                continue;
            };
            let label = |r: Result<String, CallError>| {
                r.map_err(|e| CallError {
                    text: format!("incident {}: {}", render::short_id(incident), e.text),
                    ..e
                })
            };
            steps.push(label(
                self.reply(
                    secret,
                    target,
                    &render::deployment_reply(incident, deployment, service),
                    deadline,
                )
                .await,
            ));
            steps.push(label(
                self.update(
                    secret,
                    target,
                    &render::deployment_message(incident, deployment, service),
                    deadline,
                )
                .await,
            ));
        }
        let missing = incidents
            .iter()
            .any(|i| i.slack.is_none())
            .then(|| without_message(incidents));
        delivery(&steps, missing)
    }

    async fn update(
        &self,
        secret: &AppSecret,
        target: &SlackMessageRef,
        message: &Value,
        deadline: Instant,
    ) -> Result<String, CallError> {
        let body = json!({"channel": target.channel, "ts": target.ts, "text": message["text"], "blocks": message["blocks"]});
        self.call(secret, Method::Update, &body, deadline)
            .await
            .map(|_| format!("updated ts {}", target.ts))
    }

    async fn reply(
        &self,
        secret: &AppSecret,
        target: &SlackMessageRef,
        message: &Value,
        deadline: Instant,
    ) -> Result<String, CallError> {
        let body = json!({
            "channel": target.channel,
            "thread_ts": target.ts,
            "text": message["text"],
            "blocks": message["blocks"],
            "unfurl_links": false,
            "unfurl_media": false,
        });
        let answer = self
            .call(secret, Method::PostMessage, &body, deadline)
            .await?;
        Ok(format!(
            "thread reply ts {}",
            answer["ts"].as_str().unwrap_or("?")
        ))
    }

    /// One Web API call: `Ok` is Slack's `ok: true` answer.
    async fn call(
        &self,
        secret: &AppSecret,
        method: Method,
        body: &Value,
        deadline: Instant,
    ) -> Result<Value, CallError> {
        let name = method.name();
        let fail = |code: Option<&str>, text: String| CallError {
            code: code.map(str::to_string),
            text: format!("{name}: {text}"),
        };
        let url = format!("{}/{name}", self.api);
        let authorization = format!("Bearer {}", secret.token);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(fail(
                    None,
                    format!("deadline passed before attempt {attempt}"),
                ));
            }
            let answer = match self
                .http
                .post_json_keeping(
                    &url,
                    &[("authorization", &authorization)],
                    body,
                    self.timeout.min(left),
                    ANSWER_MAX,
                )
                .await
            {
                Ok(answer) => answer,
                // A transport failure (a timeout, a reset connection) after the request was sent
                // may come after Slack posted; postMessage has no idempotency key, so a retry
                // could post the message twice. An edit is the same edit again: retried.
                Err(error) => {
                    let error = error.replace("<url>", "<slack api>");
                    if method == Method::PostMessage {
                        return Err(fail(
                            None,
                            format!("{error} (not retried: the message may have been posted)"),
                        ));
                    }
                    match backoff(attempt, None, deadline).filter(|_| attempt < MAX_ATTEMPTS) {
                        Some(wait) => {
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                        None => {
                            return Err(fail(None, format!("{error} (after {attempt} attempt(s))")))
                        }
                    }
                }
            };
            // 429 and 5xx: Slack did not process the call (its methods answer their own
            // failures as 200 with ok:false), so even a post is safe to send again.
            if answer.status == 429 || answer.status >= 500 {
                if let Some(wait) = backoff(attempt, answer.retry_after, deadline)
                    .filter(|_| attempt < MAX_ATTEMPTS)
                {
                    tokio::time::sleep(wait).await;
                    continue;
                }
                let mut text = format!("HTTP {}", answer.status);
                if let Some(after) = answer.retry_after {
                    text.push_str(&format!(" (retry after {after} s)"));
                }
                text.push_str(&format!(" after {attempt} attempt(s)"));
                return Err(fail(None, text));
            }
            let parsed: Option<Value> = serde_json::from_str(&answer.body).ok();
            return match parsed {
                Some(v) if v["ok"] == true => Ok(v),
                Some(v) if v["ok"] == false => {
                    let code = crate::report::clean(v["error"].as_str().unwrap_or("unknown_error"));
                    let code: String = code.chars().take(100).collect();
                    if REFUSED_TOKEN.contains(&code.as_str()) {
                        self.secret.forget().await;
                        Err(fail(Some(&code), format!("{code} (the bot token was refused; the secret is read again next time)")))
                    } else {
                        Err(fail(Some(&code), code.clone()))
                    }
                }
                _ => {
                    let body: String = crate::report::clean(&answer.body)
                        .chars()
                        .take(200)
                        .collect();
                    Err(fail(
                        None,
                        format!("HTTP {}: unexpected answer {body:?}", answer.status),
                    ))
                }
            };
        }
    }
}

/// The ref of the message a `chat.postMessage` answer describes.
fn message_ref(answer: &Value) -> Option<SlackMessageRef> {
    Some(SlackMessageRef {
        channel: answer["channel"].as_str()?.to_string(),
        ts: answer["ts"].as_str()?.to_string(),
    })
}

fn without_message(incidents: &[Incident]) -> String {
    let ids: Vec<String> = incidents
        .iter()
        .filter(|i| i.slack.is_none())
        .map(render::short_id)
        .collect();
    format!("no Slack message for incident(s) {}", ids.join(", "))
}

/// One delivery from several calls: sent when all were, else failed with every error (and what
/// was done); `note` is appended either way.
fn delivery(steps: &[Result<String, CallError>], note: Option<String>) -> Delivery {
    let done: Vec<&str> = steps
        .iter()
        .filter_map(|s| s.as_ref().ok())
        .map(String::as_str)
        .collect();
    let errors: Vec<&str> = steps
        .iter()
        .filter_map(|s| s.as_ref().err())
        .map(|e| e.text.as_str())
        .collect();
    let mut parts: Vec<String> = if errors.is_empty() {
        vec![done.join(", ")]
    } else {
        let mut p = vec![errors.join("; ")];
        if !done.is_empty() {
            p.push(format!("done: {}", done.join(", ")));
        }
        p
    };
    parts.extend(note);
    let text = parts.join("; ");
    if errors.is_empty() {
        Delivery::Sent { id: text }
    } else {
        Delivery::Failed { error: text }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_json_with_a_token_and_a_channel() {
        for (secret, ok) in [
            (
                r#"{"bot_token": "xoxb-1-2-abc", "channel": "C0PULLDOC"}"#,
                true,
            ),
            (
                " {\"bot_token\": \" xoxb-1 \", \"channel\": \"C1\"}\n",
                true,
            ),
            (r#"{"bot_token": "xoxb-1"}"#, false),
            (r#"{"bot_token": "", "channel": "C1"}"#, false),
            ("xoxb-plain-token", false),
            (r#"{"webhook_url": "https://hooks.slack.com/x"}"#, false),
        ] {
            match parse_secret(secret) {
                Ok(s) => {
                    assert!(ok, "{secret}");
                    assert!(s.token.starts_with("xoxb-") && !s.channel.is_empty());
                }
                Err(e) => {
                    assert!(!ok, "{secret}");
                    assert!(
                        !e.contains("xoxb-1") && !e.contains("hooks.slack"),
                        "the error repeats the secret: {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let s = parse_secret(r#"{"bot_token": "xoxb-s3cr3t", "channel": "C1"}"#).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cr3t") && shown.contains("C1"), "{shown}");
    }

    #[test]
    fn several_calls_make_one_delivery() {
        let ok = |s: &str| Ok::<String, CallError>(s.to_string());
        let err = |s: &str| {
            Err::<String, CallError>(CallError {
                code: None,
                text: s.to_string(),
            })
        };
        for (steps, note, want) in [
            (
                vec![ok("updated ts 1"), ok("thread reply ts 2")],
                None,
                Delivery::Sent {
                    id: "updated ts 1, thread reply ts 2".into(),
                },
            ),
            (
                vec![ok("updated ts 1")],
                Some("no Slack message for incident(s) ab".to_string()),
                Delivery::Sent {
                    id: "updated ts 1; no Slack message for incident(s) ab".into(),
                },
            ),
            (
                vec![err("chat.update: HTTP 500"), ok("thread reply ts 2")],
                None,
                Delivery::Failed {
                    error: "chat.update: HTTP 500; done: thread reply ts 2".into(),
                },
            ),
            (
                vec![err("a"), err("b")],
                Some("n".to_string()),
                Delivery::Failed {
                    error: "a; b; n".into(),
                },
            ),
        ] {
            assert_eq!(delivery(&steps, note), want);
        }
    }
}
