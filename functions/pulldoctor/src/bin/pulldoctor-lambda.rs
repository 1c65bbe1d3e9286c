//! The Lambda function: build clients once, then serve events.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use pulldoctor::lambda::{handle, init_logging, App};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let app = App::from_env().await;
    run(service_fn(|event: LambdaEvent<Value>| handle(&app, event))).await
}
