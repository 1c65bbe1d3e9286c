//! Collect: the AWS reads that turn a [`PullFailure`] into a [`Facts`] snapshot.
//!
//! Everything the event already names (task, task definition, repository, image) is read at once.
//! Each read that fails is recorded in its [`Fact`] with the reason; it never aborts the collection.

mod aws_error;
mod ecr;
pub mod ecs;
pub mod network;

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::SdkConfig;
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::result::SdkError;
use chrono::Utc;

pub use aws_error::{read_failure, ReadFailure};

use crate::classify::classify;
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
    let (task, task_definition, (repository, image_by_digest, image_by_tag), network) = tokio::join!(
        ecs::read_task(clients, &log, &failure.task, too_old),
        ecs::read_task_definition(clients, &log, failure.task.task_definition_arn.as_deref()),
        ecr::read_image(clients, &log, image_ref.as_ref()),
        // Boxed: the network reads nest several levels of joined futures (keeps worker stacks small).
        Box::pin(network::read_network(clients, &log, &failure.task, region.as_deref())),
    );

    Facts {
        event_id: failure.event_id.clone(),
        account: failure.account.clone().or_else(|| arn_account(failure.task.arn.as_deref())),
        region,
        task,
        failure: FailureFacts {
            container: failure.container.clone(),
            image: failure.image.clone(),
            image_ref,
            classification: classify(&failure.message),
            message: failure.message.clone(),
        },
        task_definition,
        repository,
        image_by_digest,
        image_by_tag,
        network,
        aws_calls: log.calls(),
        aws_failures: log.failed(),
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
