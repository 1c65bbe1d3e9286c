//! Secrets Manager and SSM Parameter Store builders.

use super::World;

impl World {
    /// A Secrets Manager secret holding `value`; returns its ARN.
    pub async fn secret(&self, name: &str, value: &str) -> String {
        aws_sdk_secretsmanager::Client::new(&self.config)
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("CreateSecret")
            .arn
            .expect("secret arn")
    }

    /// A customer managed KMS key with this key policy; returns its ARN.
    pub async fn kms_key(&self, policy: &serde_json::Value) -> String {
        aws_sdk_kms::Client::new(&self.config)
            .create_key()
            .policy(policy.to_string())
            .send()
            .await
            .expect("CreateKey")
            .key_metadata
            .map(|k| k.arn.unwrap_or(k.key_id))
            .expect("key arn")
    }

    /// A Secrets Manager secret holding `value`, encrypted with customer managed key `key`.
    pub async fn secret_with_key(&self, name: &str, value: &str, key: &str) -> String {
        aws_sdk_secretsmanager::Client::new(&self.config)
            .create_secret()
            .name(name)
            .secret_string(value)
            .kms_key_id(key)
            .send()
            .await
            .expect("CreateSecret")
            .arn
            .expect("secret arn")
    }

    /// An SSM `SecureString` parameter holding `value`.
    pub async fn secure_parameter(&self, name: &str, value: &str) {
        aws_sdk_ssm::Client::new(&self.config)
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .expect("PutParameter");
    }
}
