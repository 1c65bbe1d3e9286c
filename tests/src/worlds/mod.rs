//! Worlds: AWS resources built in one private moto server with the real Rust AWS SDK, by service
//! ([`network`], [`ecs`], [`ecr`], [`iam`], [`sns`], [`secrets`], [`dynamodb`]), and the shared
//! service worlds the tests start from ([`web`]: [`WebAccount`], [`WebService`],
//! [`NatRouteDeleted`]).
//!
//! moto 5.2.1 quirks the builders work around (each is commented where it matters):
//! * `RunTask` with `awsvpc` fails (HTTP 500) unless every container definition has `memory` (or
//!   `memoryReservation`), the `awsvpcConfiguration` has `securityGroups`, and the VPC has DNS
//!   hostnames enabled (moto reads the ENI's `private_dns_name`, only set in such VPCs).
//! * `DescribeTasks` for a task ARN moto never saw returns `tasks: []` *and* `failures: []` (real ECS
//!   returns a `MISSING` failure).
//! * `PutImage` computes the digest as sha256 of the concatenated *layer digests*, not of the manifest
//!   bytes: images that share their layers share a digest. Always take the digest from the response.
//! * Pushing a different manifest under an existing tag deletes the previously tagged image outright
//!   (real ECR keeps it untagged).
//! * moto task ids are dashed UUIDs (real ECS: 32 hex characters); `containers[].taskArn` holds the
//!   task *definition* ARN; containers stay `PENDING` after `StopTask`; the ENI stays `in-use`.

use aws_config::SdkConfig;

use crate::moto::{Moto, ACCOUNT_ID, REGION};

pub mod dynamodb;
pub mod ecr;
pub mod ecs;
pub mod iam;
pub mod network;
pub mod secrets;
pub mod sns;
pub mod web;

pub use ecr::{docker_manifest, ecr_registry, Repository};
pub use ecs::{awsvpc, Eni, Launch, StoppedTask, TaskDefSpec};
pub use iam::{trust_policy, EXECUTION_ROLE_POLICY_ARN};
pub use network::Network;
pub use sns::{Inbox, SnsMessage};
pub use web::{NatRouteDeleted, WebAccount, WebService};

/// One isolated AWS world: a private moto server and SDK clients pointed at it.
pub struct World {
    /// Shared by the worlds of other accounts in the same server ([`World::in_account`]).
    pub moto: std::sync::Arc<Moto>,
    pub config: SdkConfig,
    pub account: String,
    pub region: String,
    pub ec2: aws_sdk_ec2::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub iam: aws_sdk_iam::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl World {
    /// Starts a private moto server and builds clients for [`REGION`].
    pub async fn new() -> World {
        let moto = tokio::task::spawn_blocking(Moto::start)
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        eprintln!(
            "moto server on port {} answered after {:?}",
            moto.port(),
            moto.startup()
        );
        let config = moto.sdk_config(REGION).await;
        World::with_config(std::sync::Arc::new(moto), config, ACCOUNT_ID)
    }

    fn with_config(moto: std::sync::Arc<Moto>, config: SdkConfig, account: &str) -> World {
        World {
            ec2: aws_sdk_ec2::Client::new(&config),
            ecs: aws_sdk_ecs::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            account: account.to_string(),
            region: REGION.to_string(),
            config,
            moto,
        }
    }

    /// The same moto server seen from another account: moto binds the credentials STS
    /// `AssumeRole` returns to the role's account, so these clients create and read there.
    pub async fn in_account(&self, account: &str) -> World {
        let creds = aws_sdk_sts::Client::new(&self.config)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/pulldoctor-setup"))
            .role_session_name("setup")
            .send()
            .await
            .expect("AssumeRole into the member account")
            .credentials
            .expect("credentials");
        let config = self
            .config
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new(
                        creds.access_key_id(),
                        creds.secret_access_key(),
                        Some(creds.session_token().to_string()),
                        None,
                        "member",
                    ),
                ),
            )
            .build();
        World::with_config(self.moto.clone(), config, account)
    }

    /// `123456789012.dkr.ecr.us-east-1.amazonaws.com`.
    pub fn registry(&self) -> String {
        ecr_registry(&self.account, &self.region)
    }

    /// `arn:aws:<service>:<region>:<account>:<resource>` in this world.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{resource}",
            self.region, self.account
        )
    }
}
