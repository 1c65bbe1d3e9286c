//! Collect: the AWS reads that turn a [`PullFailure`] into a [`Facts`] snapshot.
//!
//! Everything the event already names (task, task definition, repository, image) is read at once.
//! Each read that fails is recorded in its [`Fact`] with the reason; it never aborts the collection.

mod aws_error;
mod ecr;
pub mod ecs;
pub mod identity;
pub mod network;

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::SdkConfig;
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::result::SdkError;
use chrono::Utc;

pub use aws_error::{read_failure, ReadFailure};

use crate::classify::{classify, Category};
use crate::facts::{Fact, FailureFacts, Facts};
use crate::image_ref::ImageRef;
use crate::intake::PullFailure;

/// How long ECS keeps a stopped task visible to `DescribeTasks`.
pub const TASK_VISIBILITY: chrono::Duration = chrono::Duration::hours(1);

/// SDK clients, built once per process (Lambda cold start or CLI run) and cheap to clone.
#[derive(Clone, Debug)]
pub struct Clients {
    config: SdkConfig,
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub ec2: aws_sdk_ec2::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Clients {
        Clients {
            config: config.clone(),
            ecs: aws_sdk_ecs::Client::new(config),
            ecr: aws_sdk_ecr::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
        }
    }

    /// Clients acting as `role_arn` (a member account's read-only role), with the base
    /// configuration's region and endpoint. Credentials come from STS `AssumeRole` (session name
    /// `pulldoctor`, `external_id` when set) and are refreshed by the SDK before they expire.
    pub async fn assumed_role(config: &SdkConfig, role_arn: &str, external_id: Option<&str>) -> Clients {
        let mut provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name("pulldoctor")
            .configure(config);
        if let Some(id) = external_id {
            provider = provider.external_id(id);
        }
        let provider = provider.build().await;
        let assumed = config
            .to_builder()
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider))
            .build();
        Clients::new(&assumed)
    }

    pub fn home_region(&self) -> Option<&str> {
        self.config.region().map(|r| r.as_ref())
    }

    /// ECR client for the image's region (a task may pull from another region's registry).
    pub fn ecr_in(&self, region: &str) -> aws_sdk_ecr::Client {
        if self.home_region() == Some(region) {
            return self.ecr.clone();
        }
        let conf = aws_sdk_ecr::config::Builder::from(&self.config)
            .region(aws_config::Region::new(region.to_string()))
            .build();
        aws_sdk_ecr::Client::from_conf(conf)
    }
}

/// Every AWS read the collector may issue, as IAM action names. The deployed role grants exactly
/// these (`template.yaml`, `infra/policies/*.json`; a unit test keeps them equal), and
/// [`CallLog::read`] refuses, in debug builds, an action missing here.
pub const READ_ACTIONS: &[&str] = &[
    "ecs:DescribeTasks",
    "ecs:DescribeTaskDefinition",
    "ecs:DescribeServices",
    "ecs:DescribeContainerInstances",
    "ecr:DescribeRepositories",
    "ecr:DescribeImages",
    "ecr:BatchGetImage",
    "ecr:GetRepositoryPolicy",
    "ecr:GetLifecyclePolicy",
    "ec2:DescribeInstances",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeRouteTables",
    "ec2:DescribeNatGateways",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribePrefixLists",
    "ec2:GetManagedPrefixListEntries",
    "iam:GetRole",
    "iam:SimulatePrincipalPolicy",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:GetInstanceProfile",
    "secretsmanager:DescribeSecret",
    // Opt-in at deploy time (RegistrySecretArns): only the secret's keys are looked at.
    "secretsmanager:GetSecretValue",
];

/// Counts calls made and failed during one collection.
#[derive(Default)]
pub(crate) struct CallLog {
    calls: AtomicU32,
    failed: AtomicU32,
}

impl CallLog {
    /// Issue one AWS read and record its outcome as a [`Fact`].
    pub(crate) async fn read<T, O, E, R>(
        &self,
        action: &str,
        not_found: &[&str],
        call: impl Future<Output = Result<O, SdkError<E, R>>>,
        convert: impl FnOnce(O) -> Fact<T>,
    ) -> Fact<T>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        debug_assert!(READ_ACTIONS.contains(&action), "{action} is not in READ_ACTIONS (nor in the deployed policy)");
        self.calls.fetch_add(1, Ordering::Relaxed);
        match call.await {
            Ok(output) => convert(output),
            Err(err) => match read_failure(action, not_found, &err) {
                ReadFailure::NotFound(detail) => Fact::NotFound { detail },
                ReadFailure::Failed(reason) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(action, %reason, "AWS read failed");
                    Fact::Unreadable { reason }
                }
            },
        }
    }
    pub(crate) fn calls(&self) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }
    pub(crate) fn failed(&self) -> u32 {
        self.failed.load(Ordering::Relaxed)
    }
}

/// Gather the facts for one failure. Never fails: gaps are recorded in the snapshot.
pub async fn collect(clients: &Clients, failure: &PullFailure) -> Facts {
    let log = CallLog::default();
    let image_ref = failure.image.as_deref().and_then(|i| ImageRef::parse(i).ok());
    let region = failure
        .region
        .clone()
        .or_else(|| arn_region(failure.task.arn.as_deref()))
        .or_else(|| clients.home_region().map(str::to_string));

    let too_old = failure.time.is_some_and(|t| Utc::now() - t > TASK_VISIBILITY);
    let classification = classify(&failure.message);
    let network = async {
        match registry_answered(classification.category) {
            Some(why) => network::skipped(why),
            // Boxed: the network reads nest several levels of joined futures (keeps worker stacks small).
            None => Box::pin(network::read_network(clients, &log, &failure.task, region.as_deref())).await,
        }
    };
    let (task, task_definition, (repository, image_by_digest, image_by_tag), network) = tokio::join!(
        ecs::read_task(clients, &log, &failure.task, too_old),
        ecs::read_task_definition(clients, &log, failure.task.task_definition_arn.as_deref()),
        ecr::read_image(clients, &log, image_ref.as_ref()),
        network,
    );

    let mut facts = Facts {
        event_id: failure.event_id.clone(),
        account: failure.account.clone().or_else(|| arn_account(failure.task.arn.as_deref())),
        region,
        task,
        failure: FailureFacts {
            container: failure.container.clone(),
            image: failure.image.clone(),
            image_ref,
            classification,
            message: failure.message.clone(),
        },
        task_definition,
        repository,
        image_by_digest,
        image_by_tag,
        aws_calls: 0,
        aws_failures: 0,
        identity: Default::default(),
        network,
    };
    // Second round: what the task, task definition and image reads said decides what to read.
    facts.identity = Box::pin(identity::read(clients, &log, &facts)).await;
    facts.aws_calls = log.calls();
    facts.aws_failures = log.failed();
    facts
}

/// When the message shows that the registry answered (the image is missing, does not fit, filled
/// the disk, or the registry throttled), the network path demonstrably works: reading it would
/// cost calls and could only add noise. Access denied stays examined (an endpoint policy can deny).
fn registry_answered(category: Category) -> Option<&'static str> {
    match category {
        Category::ImageNotFound => Some("the registry answered that the image does not exist, so the network path to it works"),
        Category::PlatformMismatch => Some("the registry served the image manifest, so the network path to it works"),
        Category::DiskSpace => Some("the layers were being written to disk, so the network path to the registry works"),
        Category::RateLimited => Some("the registry answered with a rate limit, so the network path to it works"),
        Category::Network | Category::AccessDenied | Category::RegistryCredentials | Category::Unknown => None,
    }
}

/// `arn:aws:ecs:us-east-1:111122223333:task/…` → `us-east-1`.
pub fn arn_region(arn: Option<&str>) -> Option<String> {
    arn_part(arn?, 3)
}

/// `arn:aws:ecs:us-east-1:111122223333:task/…` → `111122223333`.
pub fn arn_account(arn: Option<&str>) -> Option<String> {
    arn_part(arn?, 4)
}

fn arn_part(arn: &str, index: usize) -> Option<String> {
    arn.split(':').nth(index).filter(|p| !p.is_empty()).map(str::to_string)
}

#[cfg(test)]
mod policy_tests {
    use std::collections::BTreeSet;

    use super::READ_ACTIONS;

    fn actions(doc: &str) -> BTreeSet<String> {
        let doc: serde_json::Value = serde_json::from_str(doc).expect("policy JSON");
        let mut out = BTreeSet::new();
        for st in doc["Statement"].as_array().expect("statements") {
            for a in st["Action"].as_array().expect("Action list") {
                out.insert(a.as_str().unwrap().to_string());
            }
        }
        out
    }

    /// A read missing from the policy would be AccessDenied in every real account, so a
    /// whole class of checks would always be `unknown`; an extra grant is needless privilege.
    #[test]
    fn deployed_policies_grant_exactly_the_reads() {
        let mut granted = actions(include_str!("../../../../infra/policies/pulldoctor-read.json"));
        granted.extend(actions(include_str!("../../../../infra/policies/pulldoctor-registry-secrets.json")));
        granted.remove("kms:Decrypt"); // used by Secrets Manager on our behalf, not called directly
        let wanted: BTreeSet<String> = READ_ACTIONS.iter().map(|a| a.to_string()).collect();
        assert_eq!(granted, wanted);
    }
}
