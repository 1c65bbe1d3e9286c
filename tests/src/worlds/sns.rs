//! SNS builders: a topic with an SQS queue subscribed, to read back what pulldoctor published.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::World;

/// An SNS topic with an SQS queue subscribed (envelope delivery, not raw).
#[derive(Debug, Clone)]
pub struct Inbox {
    pub topic_arn: String,
    pub queue_url: String,
    pub queue_arn: String,
}

/// One SNS notification read from the queue.
#[derive(Debug, Clone)]
pub struct SnsMessage {
    pub subject: Option<String>,
    pub message: String,
    /// The whole SNS envelope (`Type`, `TopicArn`, `Subject`, `Message`, …).
    pub envelope: Value,
}

impl World {
    /// An SNS topic with an SQS queue subscribed (`RawMessageDelivery=false`: the queue receives
    /// the SNS envelope with `Subject` and `Message`).
    pub async fn sns_inbox(&self, name: &str) -> Inbox {
        use aws_sdk_sqs::types::QueueAttributeName;
        let topic_arn = self
            .sns
            .create_topic()
            .name(name)
            .send()
            .await
            .expect("CreateTopic")
            .topic_arn
            .expect("topic arn");
        let queue_url = self
            .sqs
            .create_queue()
            .queue_name(format!("{name}-inbox"))
            .send()
            .await
            .expect("CreateQueue")
            .queue_url
            .expect("queue url");
        let queue_arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .expect("queue arn");
        // What real SQS needs for SNS delivery (moto delivers without it).
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}
            }]
        });
        self.sqs
            .set_queue_attributes()
            .queue_url(&queue_url)
            .attributes(QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .expect("SetQueueAttributes");
        self.sns
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .attributes("RawMessageDelivery", "false")
            .send()
            .await
            .expect("Subscribe");
        Inbox {
            topic_arn,
            queue_url,
            queue_arn,
        }
    }

    /// Waits up to 5 s for the first SNS notification in the inbox, then drains whatever else is
    /// there. Messages read are deleted from the queue.
    pub async fn read_sns_messages(&self, inbox: &Inbox) -> Vec<SnsMessage> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut messages = Vec::new();
        loop {
            let batch = self.receive(inbox, 1).await;
            let empty = batch.is_empty();
            messages.extend(batch);
            if (!messages.is_empty() && empty) || Instant::now() > deadline {
                return messages;
            }
        }
    }

    /// Every SNS notification that arrives within `window` (for asserting that nothing was sent).
    pub async fn sns_messages_within(&self, inbox: &Inbox, window: Duration) -> Vec<SnsMessage> {
        let deadline = Instant::now() + window;
        let mut messages = Vec::new();
        loop {
            messages.extend(self.receive(inbox, 0).await);
            if Instant::now() >= deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn receive(&self, inbox: &Inbox, wait_seconds: i32) -> Vec<SnsMessage> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&inbox.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .send()
            .await
            .expect("ReceiveMessage");
        let mut messages = Vec::new();
        for m in out.messages() {
            let body = m.body().unwrap_or_default();
            let envelope: Value = serde_json::from_str(body)
                .unwrap_or_else(|e| panic!("SQS body is not an SNS envelope ({e}): {body}"));
            assert_eq!(
                envelope["Type"], "Notification",
                "unexpected SNS envelope: {envelope}"
            );
            messages.push(SnsMessage {
                subject: envelope["Subject"].as_str().map(str::to_string),
                message: envelope["Message"].as_str().unwrap_or_default().to_string(),
                envelope,
            });
            if let Some(handle) = m.receipt_handle() {
                self.sqs
                    .delete_message()
                    .queue_url(&inbox.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
        messages
    }
}
