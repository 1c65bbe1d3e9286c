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
