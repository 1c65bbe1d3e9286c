//! The Lambda handler: intake → engine → notify, with one JSON audit line per invocation.

use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// Clients and settings built once per cold start and shared by every invocation.
#[derive(Clone)]
pub struct App {
    pub config: aws_config::SdkConfig,
    pub topic_arn: Option<String>,
}

impl App {
    /// Reads `PULLDOCTOR_TOPIC_ARN` and the standard AWS SDK environment.
    pub async fn from_env() -> App {
        let config = aws_config::load_from_env().await;
        App::new(&config, std::env::var("PULLDOCTOR_TOPIC_ARN").ok())
    }
    pub fn new(config: &aws_config::SdkConfig, topic_arn: Option<String>) -> App {
        App { config: config.clone(), topic_arn }
    }
}

/// Handles one EventBridge event. Returns a small JSON outcome:
/// `{"decision": "notified" | "diagnosed" | "ignored", "reason": …, "root_cause": …}`.
/// Unrelated or malformed events are ignored with `Ok`: retrying them cannot help.
pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
    let _ = (app, event);
    todo!()
}
