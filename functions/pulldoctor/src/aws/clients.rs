//! The SDK clients every read goes through: built once per process, each with a time and retry
//! budget, optionally a warm cache.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;

use super::cache::WarmCache;

/// The HTTPS client every AWS SDK client of pulldoctor uses: rustls with ring and the system's
/// root certificates. Set on every `SdkConfig` (the SDK crates are built without their default
/// client, whose aws-lc C library slows the arm64 build and grows the Lambda zip).
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The SDK configuration from the standard environment (region, credentials, `AWS_ENDPOINT_URL`),
/// with [`https_client`].
pub fn config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client())
}

/// How long a warm Lambda container keeps shared reads (`PULLDOCTOR_CACHE_TTL_SECONDS` changes it).
pub const LAMBDA_CACHE_TTL: Duration = Duration::from_secs(60);
use super::error::ThrottleSpy;

/// SDK clients, built once per process (Lambda cold start or CLI run) and cheap to clone.
///
/// Every client carries the [`Limits`]: a timeout per attempt and per operation, and the SDK's
/// adaptive retry mode (which also slows down when AWS throttles), so one slow or failing read
/// costs a bounded amount of time and degrades only the checks that needed it.
#[derive(Clone, Debug)]
pub struct Clients {
    pub(crate) config: SdkConfig,
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub(crate) iam: aws_sdk_iam::Client,
    /// The history's reads only (`LookupEvents`).
    pub(crate) cloudtrail: aws_sdk_cloudtrail::Client,
    pub(crate) cache: Option<Arc<WarmCache>>,
    /// This account's share of CloudTrail's `LookupEvents` budget.
    pub(crate) lookup_pace: Arc<super::pace::LookupPace>,
}

/// Time and retry budget for each AWS read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// TCP/TLS connect.
    pub connect: Duration,
    /// One HTTP attempt (a hung connection is abandoned and retried).
    pub attempt: Duration,
    /// One read including its retries.
    pub operation: Duration,
    /// Attempts per read (1 = no retry).
    pub max_attempts: u32,
    /// First retry backoff (the SDK doubles it, with jitter).
    pub initial_backoff: Duration,
}

impl Default for Limits {
    /// Sized for a Lambda with a 60 s timeout and an overall diagnosis deadline of about 20 s: a
    /// read that hangs is given up after 3 s per attempt, 8 s in all.
    fn default() -> Limits {
        Limits {
            connect: Duration::from_secs(2),
            attempt: Duration::from_secs(3),
            operation: Duration::from_secs(8),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(200),
        }
    }
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Clients {
        Clients::with_limits(config, Limits::default())
    }

    pub fn with_limits(config: &SdkConfig, limits: Limits) -> Clients {
        let config = config
            .to_builder()
            .retry_config(
                RetryConfig::adaptive()
                    .with_max_attempts(limits.max_attempts.max(1))
                    .with_initial_backoff(limits.initial_backoff),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(limits.connect)
                    .operation_attempt_timeout(limits.attempt)
                    .operation_timeout(limits.operation)
                    .build(),
            )
            .build();
        // Each Clients has its own retry partitions (per service): the adaptive rate limiter
        // and retry quota of one account's clients must not slow down another's.
        static NEXT_PARTITION: AtomicU32 = AtomicU32::new(0);
        let partition = NEXT_PARTITION.fetch_add(1, Ordering::Relaxed);
        let scope = move |service: &str| {
            aws_sdk_ec2::config::retry::RetryPartition::new(format!(
                "pulldoctor-{partition}-{service}"
            ))
        };
        Clients {
            ecs: aws_sdk_ecs::Client::from_conf(
                aws_sdk_ecs::config::Builder::from(&config)
                    .interceptor(ThrottleSpy)
                    .retry_partition(scope("ecs"))
                    .build(),
            ),
            ecr: aws_sdk_ecr::Client::from_conf(
                aws_sdk_ecr::config::Builder::from(&config)
                    .interceptor(ThrottleSpy)
                    .retry_partition(scope("ecr"))
                    .build(),
            ),
            ec2: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(&config)
                    .interceptor(ThrottleSpy)
                    .retry_partition(scope("ec2"))
                    .build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(&config)
                    .interceptor(ThrottleSpy)
                    .retry_partition(scope("iam"))
                    .build(),
            ),
            cloudtrail: aws_sdk_cloudtrail::Client::from_conf(
                aws_sdk_cloudtrail::config::Builder::from(&config)
                    .interceptor(ThrottleSpy)
                    .retry_partition(scope("cloudtrail"))
                    .build(),
            ),
            config,
            cache: None,
            lookup_pace: Arc::default(),
        }
    }

    /// The configuration the clients were built from (for clients of other services).
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }

    /// A Secrets Manager client in `region` (or the home region) with the same limits.
    pub(crate) fn secretsmanager_in(
        &self,
        region: Option<String>,
    ) -> aws_sdk_secretsmanager::Client {
        let mut conf =
            aws_sdk_secretsmanager::config::Builder::from(&self.config).interceptor(ThrottleSpy);
        if let Some(r) = region {
            conf = conf.region(aws_config::Region::new(r));
        }
        aws_sdk_secretsmanager::Client::from_conf(conf.build())
    }

    /// A KMS client in `region` (or the home region) with the same limits (key policies only).
    pub(crate) fn kms_in(&self, region: Option<String>) -> aws_sdk_kms::Client {
        let mut conf = aws_sdk_kms::config::Builder::from(&self.config).interceptor(ThrottleSpy);
        if let Some(r) = region {
            conf = conf.region(aws_config::Region::new(r));
        }
        aws_sdk_kms::Client::from_conf(conf.build())
    }

    /// An SSM client in `region` (or the home region) with the same limits.
    pub(crate) fn ssm_in(&self, region: Option<String>) -> aws_sdk_ssm::Client {
        let mut conf = aws_sdk_ssm::config::Builder::from(&self.config).interceptor(ThrottleSpy);
        if let Some(r) = region {
            conf = conf.region(aws_config::Region::new(r));
        }
        aws_sdk_ssm::Client::from_conf(conf.build())
    }

    /// Keep successful reads of shared, slowly changing resources (task definition, image,
    /// VPC, subnet, route tables, endpoints, security groups, roles, policies) for `ttl`, at most
    /// `capacity` entries: a storm of failures of one service then costs next to no read per event
    /// (its task and its ENI come from the event). Throttled, failed (5xx) and timed-out reads are
    /// never kept; secret values are never read through the cache.
    pub fn with_warm_cache(mut self, ttl: Duration, capacity: usize) -> Clients {
        self.cache = Some(Arc::new(WarmCache::new(ttl, capacity)));
        self
    }

    /// The clients a warm Lambda container keeps: [`Limits::default`], a one-minute cache of
    /// at most 512 reads.
    pub fn for_lambda(config: &SdkConfig) -> Clients {
        Clients::new(config).with_lambda_cache()
    }

    /// Take CloudTrail lookups from `slots` shared by every container, as account and region `key`.
    pub fn with_lookup_slots(
        mut self,
        slots: Arc<dyn super::pace::LookupSlots>,
        key: String,
    ) -> Clients {
        self.lookup_pace = Arc::new(super::pace::LookupPace::shared(slots, key));
        self
    }

    /// [`Clients::with_warm_cache`] with the warm Lambda container's settings.
    pub fn with_lambda_cache(self) -> Clients {
        self.with_warm_cache(LAMBDA_CACHE_TTL, 512)
    }

    /// Reads served from the warm cache so far (for the benchmark and tests).
    pub fn cache_hits(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| c.hits())
    }

    /// Clients acting as `role_arn` (a member account's read-only role), with the base
    /// configuration's region and endpoint. Credentials come from STS `AssumeRole` (session name
    /// `pulldoctor`, `external_id` when set) and are refreshed by the SDK before they expire.
    pub async fn assumed_role(
        config: &SdkConfig,
        role_arn: &str,
        external_id: Option<&str>,
    ) -> Clients {
        let mut provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name("pulldoctor")
            .configure(config);
        if let Some(id) = external_id {
            provider = provider.external_id(id);
        }
        let provider = provider.build().await;
        let assumed = config
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
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
            .interceptor(ThrottleSpy)
            .build();
        aws_sdk_ecr::Client::from_conf(conf)
    }
}

#[cfg(test)]
impl Clients {
    /// Clients over aws-smithy-mocks ECS and ECR clients, in us-east-1; EC2 and IAM unconfigured
    /// (a test that reaches them fails loudly).
    pub(crate) fn mocked(ecs: aws_sdk_ecs::Client, ecr: aws_sdk_ecr::Client) -> Clients {
        Clients {
            config: SdkConfig::builder()
                .region(aws_config::Region::new("us-east-1"))
                .build(),
            ecs,
            ecr,
            ec2: aws_sdk_ec2::Client::from_conf(aws_sdk_ec2::Config::builder().build()),
            iam: aws_sdk_iam::Client::from_conf(aws_sdk_iam::Config::builder().build()),
            cloudtrail: aws_sdk_cloudtrail::Client::from_conf(
                aws_sdk_cloudtrail::Config::builder().build(),
            ),
            cache: None,
            lookup_pace: Arc::default(),
        }
    }
}
