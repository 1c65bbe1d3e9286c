//! The Lambda handler: intake → engine → notify, with one JSON audit line per invocation.

use std::time::Instant;

use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

use crate::collect::Clients;
use crate::diagnosis::Confidence;
use crate::engine;
use crate::intake::{intake, Intake};
use crate::notify::{self, AuditRecord, Delivery, FindingCounts};

/// Clients and settings built once per cold start and shared by every invocation.
#[derive(Clone)]
pub struct App {
    pub config: aws_config::SdkConfig,
    pub topic_arn: Option<String>,
    clients: Clients,
    sns: aws_sdk_sns::Client,
}

impl App {
    /// Reads `PULLDOCTOR_TOPIC_ARN` and the standard AWS SDK environment.
    pub async fn from_env() -> App {
        let config = aws_config::load_from_env().await;
        let topic = std::env::var("PULLDOCTOR_TOPIC_ARN").ok().filter(|t| !t.trim().is_empty());
        App::new(&config, topic)
    }
    pub fn new(config: &aws_config::SdkConfig, topic_arn: Option<String>) -> App {
        App {
            config: config.clone(),
            topic_arn,
            clients: Clients::new(config),
            sns: aws_sdk_sns::Client::new(config),
        }
    }
}

/// Handles one EventBridge event. Returns a small JSON outcome:
/// `{"decision": "notified" | "diagnosed" | "ignored", "reason": …, "root_cause": …}`.
///
/// Unrelated or malformed events are ignored with `Ok`: retrying them cannot help. A diagnosis
/// that could not be published returns `Err`, so Lambda's async retries (and finally the
/// on-failure destination) keep it: nothing is lost silently.
pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
    let started = Instant::now();
    let failure = match intake(&event.payload) {
        Intake::Ignored { kind, reason } => {
            let reason = format!("{}: {reason}", serde_json::to_value(&kind)?.as_str().unwrap_or("ignored"));
            notify::audit(&AuditRecord {
                event_id: event.payload.get("id").and_then(Value::as_str),
                task_arn: event.payload.pointer("/detail/taskArn").and_then(Value::as_str),
                decision: "ignored",
                reason: Some(&reason),
                root_cause: None,
                confidence: None,
                failed: vec![],
                counts: FindingCounts::default(),
                aws_calls: 0,
                duration_ms: started.elapsed().as_millis() as u64,
                sns: None,
            });
            return Ok(json!({"decision": "ignored", "reason": reason, "root_cause": null}));
        }
        Intake::PullFailure(failure) => failure,
    };

    let (_, diagnosis) = engine::diagnose_within(&app.clients, &failure, engine::deadline_for(event.context.deadline)).await;
    let delivery = match &app.topic_arn {
        Some(topic) => notify::publish_sns(&app.sns, topic, &diagnosis).await,
        None => Delivery::NotConfigured,
    };
    let decision = match &delivery {
        Delivery::Sent { .. } => "notified",
        Delivery::NotConfigured => "diagnosed",
        Delivery::Failed { .. } => "publish_failed",
    };
    let code = diagnosis.root_cause.code.code();
    notify::audit(&AuditRecord {
        event_id: diagnosis.event_id.as_deref(),
        task_arn: diagnosis.task.arn.as_deref(),
        decision,
        reason: None,
        root_cause: Some(code),
        confidence: Some(match diagnosis.root_cause.confidence {
            Confidence::High => "high",
            Confidence::Medium => "medium",
            Confidence::Low => "low",
        }),
        failed: diagnosis
            .findings
            .iter()
            .filter(|f| f.status == crate::diagnosis::Status::Fail)
            .map(|f| f.code.code())
            .collect(),
        counts: FindingCounts::of(&diagnosis),
        aws_calls: diagnosis.aws_calls,
        duration_ms: started.elapsed().as_millis() as u64,
        sns: Some(&delivery),
    });
    if let Delivery::Failed { error } = delivery {
        return Err(format!("diagnosis {code} could not be published: {error}").into());
    }
    Ok(json!({"decision": decision, "reason": null, "root_cause": code}))
}

/// Logging for Lambda: JSON lines on stdout, level from `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_target(true)
        .without_time()
        .with_env_filter(filter)
        .try_init();
}
