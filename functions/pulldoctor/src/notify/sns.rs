//! Publishes a rendered SNS message ([`crate::report::sns`]) to the topic.

use aws_sdk_sns::types::MessageAttributeValue;

use crate::model::audit::Delivery;
use crate::report::sns::SnsMessage;

pub async fn publish(sns: &aws_sdk_sns::Client, topic_arn: &str, msg: &SnsMessage) -> Delivery {
    let mut request = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(&msg.subject)
        .message(&msg.body);
    for (name, value) in &msg.attributes {
        let attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .expect("data type is set");
        request = request.message_attributes(*name, attr);
    }
    match request.send().await {
        Ok(out) => Delivery::Sent {
            id: out.message_id().unwrap_or_default().to_string(),
        },
        Err(err) => {
            let reason = crate::aws::read_failure("sns:Publish", &[], &err);
            Delivery::Failed {
                error: format!("{reason:?}"),
            }
        }
    }
}
