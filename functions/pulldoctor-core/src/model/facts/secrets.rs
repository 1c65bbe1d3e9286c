//! The task's own secrets (`containerDefinitions[].secrets`, `logConfiguration.secretOptions`),
//! collected when the task stopped at the step that fetches them. Metadata only: whether each
//! secret or parameter exists and which KMS key encrypts it — never a value.

use serde::{Deserialize, Serialize};

use super::{Fact, SimulationResult};
use crate::model::secret_ref::{SecretStore, SecretsStep};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TaskSecretsFacts {
    /// The step the message names (SSM Parameter Store or Secrets Manager).
    #[serde(default)]
    pub step: Option<SecretsStep>,
    /// The task's secrets in that step's store, one entry per distinct `valueFrom`.
    #[serde(default)]
    pub secrets: Vec<TaskSecretFacts>,
    /// `iam:SimulatePrincipalPolicy` for the execution role: the store's read action on each
    /// secret, and `kms:Decrypt` on each customer managed key.
    #[serde(default)]
    pub simulation: Fact<Vec<SimulationResult>>,
    /// The key policies of the customer managed keys, read beside the simulation: KMS decides
    /// with the key policy first.
    #[serde(default)]
    pub key_policies: Vec<KeyPolicyFacts>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSecretFacts {
    /// The `valueFrom`, as the task definition has it.
    pub reference: String,
    pub store: SecretStore,
    /// The resource ARN permissions are judged on (the described ARN when known).
    pub resource_arn: String,
    /// Containers that inject it.
    #[serde(default)]
    pub containers: Vec<String>,
    /// The failure message names this secret.
    #[serde(default)]
    pub named_in_message: bool,
    /// `secretsmanager:DescribeSecret` / `ssm:DescribeParameters`.
    #[serde(default)]
    pub metadata: Fact<SecretMetadata>,
    /// The secret's resource policy (`secretsmanager:GetResourcePolicy`; `NotFound` when it has
    /// none). SSM parameters have none.
    #[serde(default)]
    pub resource_policy: Fact<serde_json::Value>,
}

/// The key policy of a customer managed key that encrypts one of the task's secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyPolicyFacts {
    pub key_arn: String,
    /// `kms:GetKeyPolicy` (policy `default`).
    pub policy: Fact<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SecretMetadata {
    #[serde(default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// The customer managed KMS key as the store names it; `None` for the AWS managed key (or an
    /// SSM parameter that is not a `SecureString`).
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// SSM: `String`, `StringList` or `SecureString`.
    #[serde(default)]
    pub parameter_type: Option<String>,
}
