//! The Lambda function: build clients once, then serve events.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use pulldoctor::lambda::{handle, init_logging, App};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    // A malformed setting stops the cold start with a clear message (Lambda reports an init error).
    let app = App::from_env()
        .await
        .map_err(|e| format!("pulldoctor configuration: {e}"))?;
    run(service_fn(|event: LambdaEvent<Value>| handle(&app, event))).await
}
