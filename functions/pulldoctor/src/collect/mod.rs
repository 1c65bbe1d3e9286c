//! Collect: the AWS reads that turn a [`PullFailure`] into a [`Facts`] snapshot.
//!
//! Everything the event already names (task, task definition, repository, image) is read at once.
//! Each read that fails is recorded in its [`Fact`] with the reason; it never aborts the collection.

/// `shared!(log, [scope: region,] "action", not_found, request_builder, convert)`:
/// [`CallLog::read_shared`] keyed by every parameter of the request (and the region, for
/// clients that may point at another region than the home one).
macro_rules! shared {
    ($log:expr, scope: $scope:expr, $action:expr, $not_found:expr, $req:expr, $convert:expr $(,)?) => {{
        let req = $req;
        let key = format!("{} {:?}", $scope, req.as_input());
        $log.read_shared($action, key, $not_found, Box::pin(req.send()), $convert)
    }};
    ($log:expr, $action:expr, $not_found:expr, $req:expr, $convert:expr $(,)?) => {{
        let req = $req;
        let key = format!("{:?}", req.as_input());
        $log.read_shared($action, key, $not_found, Box::pin(req.send()), $convert)
    }};
}

mod aws_error;
mod cache;
mod ecr;
pub mod ecs;
pub mod identity;
mod missing_image;
pub mod network;
mod secrets;
mod private_dns;

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use serde::Serialize;

use aws_config::SdkConfig;
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::result::SdkError;
use chrono::Utc;

use aws_error::{ThrottleSpy, THROTTLED};
pub use aws_error::{read_failure, ReadFailure};
pub(crate) use cache::WarmCache;

use crate::classify::{classify, Category};
use crate::facts::{Fact, FailureFacts, Facts, ServiceNetworkFacts, TaskDefinitionFacts};
use crate::image_ref::ImageRef;
use crate::intake::PullFailure;

/// How long ECS keeps a stopped task visible to `DescribeTasks`.
pub const TASK_VISIBILITY: chrono::Duration = chrono::Duration::hours(1);

/// SDK clients, built once per process (Lambda cold start or CLI run) and cheap to clone.
///
/// Every client carries the [`Limits`]: a timeout per attempt and per operation, and the SDK's
/// adaptive retry mode (which also slows down when AWS throttles), so one slow or failing read
/// costs a bounded amount of time and degrades only the checks that needed it.
#[derive(Clone, Debug)]
pub struct Clients {
    config: SdkConfig,
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub ec2: aws_sdk_ec2::Client,
    iam: aws_sdk_iam::Client,
    cache: Option<Arc<WarmCache>>,
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
        let scope = move |service: &str| aws_sdk_ec2::config::retry::RetryPartition::new(format!("pulldoctor-{partition}-{service}"));
        Clients {
            ecs: aws_sdk_ecs::Client::from_conf(
                aws_sdk_ecs::config::Builder::from(&config).interceptor(ThrottleSpy).retry_partition(scope("ecs")).build(),
            ),
            ecr: aws_sdk_ecr::Client::from_conf(
                aws_sdk_ecr::config::Builder::from(&config).interceptor(ThrottleSpy).retry_partition(scope("ecr")).build(),
            ),
            ec2: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(&config).interceptor(ThrottleSpy).retry_partition(scope("ec2")).build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(&config).interceptor(ThrottleSpy).retry_partition(scope("iam")).build(),
            ),
            config,
            cache: None,
        }
    }

    /// The configuration the clients were built from (for clients of other services).
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }

    /// A Secrets Manager client in `region` (or the home region) with the same limits.
    pub(crate) fn secretsmanager_in(&self, region: Option<String>) -> aws_sdk_secretsmanager::Client {
        let mut conf = aws_sdk_secretsmanager::config::Builder::from(&self.config).interceptor(ThrottleSpy);
        if let Some(r) = region {
            conf = conf.region(aws_config::Region::new(r));
        }
        aws_sdk_secretsmanager::Client::from_conf(conf.build())
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
    /// `capacity` entries: a storm of failures of one service then costs about two reads per
    /// event (its task and its ENI). Throttled, failed (5xx) and timed-out reads are never kept; secret values are never read
    /// through the cache.
    pub fn with_warm_cache(mut self, ttl: Duration, capacity: usize) -> Clients {
        self.cache = Some(Arc::new(WarmCache::new(ttl, capacity)));
        self
    }

    /// The clients a warm Lambda container keeps: [`Limits::default`], a one-minute cache of
    /// at most 512 reads.
    pub fn for_lambda(config: &SdkConfig) -> Clients {
        Clients::new(config).with_lambda_cache()
    }

    /// [`Clients::with_warm_cache`] with the warm Lambda container's settings.
    pub fn with_lambda_cache(self) -> Clients {
        self.with_warm_cache(Duration::from_secs(60), 512)
    }

    /// Reads served from the warm cache so far (for the benchmark and tests).
    pub fn cache_hits(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| c.hits())
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
            .interceptor(ThrottleSpy)
            .build();
        aws_sdk_ecr::Client::from_conf(conf)
    }
}

/// The reads only `pulldoctor preflight` makes (EKS, and the container instances of an EC2
/// bridge/host service), granted by `pulldoctor-preflight.json`, never by the Lambda's role.
pub const PREFLIGHT_ONLY_ACTIONS: &[&str] = &[
    "ec2:DescribeLaunchTemplateVersions",
    "eks:DescribeCluster",
    "eks:DescribeNodegroup",
    "eks:DescribeFargateProfile",
    "ecs:ListContainerInstances",
];

/// Every AWS read the collector may issue, as IAM action names. `infra/policies/*.json` grant exactly
/// these (a unit test keeps them equal); the Lambda's role in `template.yaml` grants all but the
/// preflight-only ones (`pulldoctor-preflight.json`, for CLI users), and
/// [`CallLog::read`] refuses, in debug builds, an action missing here.
pub const READ_ACTIONS: &[&str] = &[
    "ecs:DescribeTasks",
    "ecs:DescribeTaskDefinition",
    "ecs:DescribeServices",
    "ecs:DescribeContainerInstances",
    // Only for a task that names a capacity provider and no launch type (Managed Instances or EC2).
    "ecs:DescribeCapacityProviders",
    // Preflight of an EC2 bridge/host service: the instances its tasks would land on.
    "ecs:ListContainerInstances",
    "ecr:DescribeRepositories",
    "ecr:DescribeImages",
    "ecr:BatchGetImage",
    "ecr:GetRepositoryPolicy",
    "ecr:GetLifecyclePolicy",
    // Only when the image or its repository is missing (collect/missing_image.rs).
    "ecr:DescribePullThroughCacheRules",
    "ecr:GetRegistryPolicy",
    "ecs:ListTasks",
    "ec2:DescribeInstances",
    // Preflight of an EKS node group: its launch template's security groups.
    "ec2:DescribeLaunchTemplateVersions",
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
    // Hub-and-spoke endpoints: where the VPC resolves the ECR and S3 names (no public path only).
    "route53:ListHostedZonesByVPC",
    "route53resolver:ListResolverRuleAssociations",
    "route53resolver:GetResolverRule",
    // Preflight of an EKS node group (CLI): the cluster and the node group.
    "eks:DescribeCluster",
    "eks:DescribeNodegroup",
    "eks:DescribeFargateProfile",
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
    // The task's secrets from SSM Parameter Store: metadata only (exists, type, KMS key).
    "ssm:DescribeParameters",
];

/// One AWS read as the collection saw it (for the call log, the benchmark and the round count).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallRecord {
    pub action: String,
    /// Milliseconds since the collection started.
    pub start_ms: f64,
    pub end_ms: f64,
    /// `ok`, `not_found`, `failed`, `deadline`, or `cached` (answered by the warm cache, no call).
    pub outcome: &'static str,
}

/// What one collection cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CallStats {
    /// AWS requests issued (cache hits and deduplicated reads are not requests).
    pub calls: u32,
    pub failed: u32,
    /// Reads answered by the warm cache.
    pub cached: u32,
    /// Dependent rounds: the longest chain of calls each of which started after the previous
    /// one had answered. With a fixed latency per call, wall time ≈ rounds × latency.
    pub rounds: u32,
    /// Whether the overall deadline cut the collection short.
    pub deadline_hit: bool,
    pub records: Vec<CallRecord>,
}

/// Longest chain of records where each starts after the previous ended (cache hits excluded).
pub fn dependent_rounds(records: &[CallRecord]) -> u32 {
    let mut calls: Vec<&CallRecord> = records.iter().filter(|r| r.outcome != "cached").collect();
    calls.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    let mut depth = vec![0u32; calls.len()];
    for i in 0..calls.len() {
        let before = (0..i).filter(|&j| calls[j].end_ms <= calls[i].start_ms).map(|j| depth[j]).max().unwrap_or(0);
        depth[i] = before + 1;
    }
    depth.into_iter().max().unwrap_or(0)
}

/// Why a read produced no output.
enum Gap {
    NotFound(String),
    Failed(String),
}

/// Answers without output that the warm cache keeps: "does not exist" and "access denied".
enum CachedGap {
    NotFound(String),
    Denied(String),
}

type Shared<O> = tokio::sync::OnceCell<Result<Arc<O>, (bool, String)>>;

/// Issues the reads of one collection: counts and times them, enforces the overall deadline,
/// answers a read asked twice (identity and network both need an EC2 instance) with the first
/// answer, and consults the warm cache.
pub(crate) struct CallLog {
    calls: AtomicU32,
    failed: AtomicU32,
    cached: AtomicU32,
    deadline_hit: AtomicBool,
    started: Instant,
    deadline: Option<tokio::time::Instant>,
    records: Mutex<Vec<CallRecord>>,
    in_flight: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
    cache: Option<Arc<WarmCache>>,
}

impl Default for CallLog {
    fn default() -> CallLog {
        CallLog::new(None, None)
    }
}

impl CallLog {
    pub(crate) fn new(deadline: Option<tokio::time::Instant>, cache: Option<Arc<WarmCache>>) -> CallLog {
        CallLog {
            calls: AtomicU32::new(0),
            failed: AtomicU32::new(0),
            cached: AtomicU32::new(0),
            deadline_hit: AtomicBool::new(false),
            started: Instant::now(),
            deadline,
            records: Mutex::new(vec![]),
            in_flight: Mutex::new(HashMap::new()),
            cache,
        }
    }

    fn record(&self, action: &str, start: Instant, outcome: &'static str) {
        let ms = |t: Instant| t.duration_since(self.started).as_secs_f64() * 1000.0;
        let record = CallRecord { action: action.to_string(), start_ms: ms(start), end_ms: ms(Instant::now()), outcome };
        self.records.lock().unwrap_or_else(|e| e.into_inner()).push(record);
    }

    /// Issue one request, within the deadline, and classify its failure.
    async fn issue<O, E, R>(
        &self,
        action: &str,
        not_found: &[&str],
        call: impl Future<Output = Result<O, SdkError<E, R>>>,
    ) -> Result<O, Gap>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        debug_assert!(READ_ACTIONS.contains(&action), "{action} is not in READ_ACTIONS (nor in the deployed policy)");
        let start = Instant::now();
        if self.deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            self.deadline_hit.store(true, Ordering::Relaxed);
            self.failed.fetch_add(1, Ordering::Relaxed);
            return Err(Gap::Failed(format!("Deadline: {action} was not read (the diagnosis deadline had passed)")));
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let throttled = Arc::new(AtomicBool::new(false));
        let call = THROTTLED.scope(throttled.clone(), call);
        let answered = match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, call).await.ok(),
            None => Some(call.await),
        };
        let result = match answered {
            None => {
                self.deadline_hit.store(true, Ordering::Relaxed);
                self.record(action, start, "deadline");
                Err(Gap::Failed(format!("Deadline: {action} had not answered when the diagnosis deadline passed")))
            }
            Some(Ok(output)) => {
                self.record(action, start, "ok");
                Ok(output)
            }
            Some(Err(err)) => match read_failure(action, not_found, &err) {
                ReadFailure::NotFound(detail) => {
                    self.record(action, start, "not_found");
                    Err(Gap::NotFound(detail))
                }
                // Throttled, then out of time while the adaptive retry waited: say so.
                ReadFailure::Failed(reason) if reason.starts_with("Timeout") && throttled.load(Ordering::Relaxed) => {
                    self.record(action, start, "failed");
                    Err(Gap::Failed(format!("Throttled: {action} (AWS throttled it and the retries did not get through in time)")))
                }
                ReadFailure::Failed(reason) => {
                    self.record(action, start, "failed");
                    Err(Gap::Failed(reason))
                }
            },
        };
        if let Err(Gap::Failed(reason)) = &result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(action, %reason, "AWS read failed");
        }
        result
    }

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
        // Boxed: SDK futures are large, and debug builds poll them on small stacks.
        match Box::pin(self.issue(action, not_found, Box::pin(call))).await {
            Ok(output) => convert(output),
            Err(Gap::NotFound(detail)) => Fact::NotFound { detail },
            Err(Gap::Failed(reason)) => Fact::Unreadable { reason },
        }
    }

    /// Like [`read`](Self::read) for a read of a shared resource, identified by `key` (the
    /// request's parameters): asked twice in one collection it is issued once, and with a warm
    /// cache a recent answer is reused.
    pub(crate) async fn read_shared<T, O, E, R>(
        &self,
        action: &str,
        key: String,
        not_found: &[&str],
        call: impl Future<Output = Result<O, SdkError<E, R>>>,
        convert: impl FnOnce(&O) -> Fact<T>,
    ) -> Fact<T>
    where
        O: Send + Sync + 'static,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let key = format!("{action} {key}");
        if let Some(cache) = &self.cache {
            if let Some(output) = cache.get::<O>(&key) {
                self.cached.fetch_add(1, Ordering::Relaxed);
                self.record(action, Instant::now(), "cached");
                return convert(&output);
            }
            if let Some(gap) = cache.get::<CachedGap>(&key) {
                self.cached.fetch_add(1, Ordering::Relaxed);
                self.record(action, Instant::now(), "cached");
                return match &*gap {
                    CachedGap::NotFound(detail) => Fact::NotFound { detail: detail.clone() },
                    CachedGap::Denied(reason) => Fact::Unreadable { reason: reason.clone() },
                };
            }
        }
        let cell: Arc<Shared<O>> = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            let entry = in_flight.entry(key.clone()).or_insert_with(|| Arc::new(Shared::<O>::new()));
            match entry.clone().downcast::<Shared<O>>() {
                Ok(cell) => cell,
                // Same key, other output type: cannot happen (the action is in the key); just read.
                Err(_) => Arc::new(Shared::<O>::new()),
            }
        };
        let answer = cell
            .get_or_init(|| async {
                match Box::pin(self.issue(action, not_found, call)).await {
                    Ok(output) => {
                        let output = Arc::new(output);
                        if let Some(cache) = &self.cache {
                            cache.put(key.clone(), output.clone());
                        }
                        Ok(output)
                    }
                    Err(Gap::NotFound(detail)) => {
                        if let Some(cache) = &self.cache {
                            cache.put(key.clone(), Arc::new(CachedGap::NotFound(detail.clone())));
                        }
                        Err((true, detail))
                    }
                    Err(Gap::Failed(reason)) => {
                        // A denial will still be one in a minute; throttling, 5xx and timeouts may not.
                        if let (Some(cache), true) = (&self.cache, reason.starts_with("AccessDenied:")) {
                            cache.put(key.clone(), Arc::new(CachedGap::Denied(reason.clone())));
                        }
                        Err((false, reason))
                    }
                }
            })
            .await;
        match answer {
            Ok(output) => convert(output),
            Err((true, detail)) => Fact::NotFound { detail: detail.clone() },
            Err((false, reason)) => Fact::Unreadable { reason: reason.clone() },
        }
    }

    pub(crate) fn calls(&self) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }
    pub(crate) fn failed(&self) -> u32 {
        self.failed.load(Ordering::Relaxed)
    }
    pub(crate) fn stats(&self) -> CallStats {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner()).clone();
        CallStats {
            calls: self.calls(),
            failed: self.failed(),
            cached: self.cached.load(Ordering::Relaxed),
            rounds: dependent_rounds(&records),
            deadline_hit: self.deadline_hit.load(Ordering::Relaxed),
            records,
        }
    }
}

/// How one collection runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Reads still unanswered then are given up (their facts say so); the collection returns
    /// what it has.
    pub deadline: Option<tokio::time::Instant>,
}

/// What a caller already knows and the collector would otherwise read. A preflight has no task,
/// no ENI and maybe no registered revision yet: it supplies the would-be task's task definition
/// (from the JSON file a pipeline is about to register) and its awsvpc configuration (from the
/// service or from flags). `Default` = read everything, as for a real failure.
#[derive(Debug, Clone, Default)]
pub struct Supplied {
    /// Used instead of `ecs:DescribeTaskDefinition`.
    pub task_definition: Option<TaskDefinitionFacts>,
    /// Used instead of `ecs:DescribeServices` as the source of security groups and `assignPublicIp`.
    pub service_network: Option<ServiceNetworkFacts>,
    /// The EC2 role that pulls when there is no ECS container instance to read it from (an EKS
    /// node group's node role): read with `iam:GetRole` as the instance role.
    pub instance_role_arn: Option<String>,
}

/// Gather the facts for one failure. Never fails: gaps are recorded in the snapshot.
pub async fn collect(clients: &Clients, failure: &PullFailure) -> Facts {
    collect_with(clients, failure, &Supplied::default(), Options::default()).await.0
}

/// [`collect`] with some inputs supplied by the caller instead of read (see [`Supplied`]) and a
/// deadline, returning what the reads cost.
pub async fn collect_with(clients: &Clients, failure: &PullFailure, supplied: &Supplied, options: Options) -> (Facts, CallStats) {
    let (facts, _, stats) = collect_group(clients, failure, &[], supplied, options).await;
    (facts, stats)
}

/// [`collect_with`] for `failure` and the `others` of the same task (containers that failed on
/// other images, see [`crate::intake::other_failures`]): one Facts snapshot per failing image.
/// The collections share one call log, so what they have in common — the task, its task
/// definition, the network path, the roles and policies — is read once; only the image-specific
/// reads (repository, image, repository policy, registry secret) are made per image.
pub async fn collect_group(
    clients: &Clients,
    failure: &PullFailure,
    others: &[PullFailure],
    supplied: &Supplied,
    options: Options,
) -> (Facts, Vec<Facts>, CallStats) {
    let log = CallLog::new(options.deadline, clients.cache.clone());
    let task_reads = TaskReads::default();
    let (mut facts, mut other_facts) = tokio::join!(
        Box::pin(collect_one(clients, &log, &task_reads, failure, supplied)),
        Box::pin(futures_util::future::join_all(others.iter().map(|o| Box::pin(collect_one(clients, &log, &task_reads, o, supplied))))),
    );
    let stats = log.stats();
    for f in std::iter::once(&mut facts).chain(other_facts.iter_mut()) {
        f.aws_calls = stats.calls;
        f.aws_failures = stats.failed;
    }
    (facts, other_facts, stats)
}

/// Reads of one task that every failing image of it shares (issued by whichever collection asks
/// first): `DescribeTasks` and the network path, which do not depend on the image.
#[derive(Default)]
struct TaskReads {
    task: tokio::sync::OnceCell<crate::facts::TaskFacts>,
    network: tokio::sync::OnceCell<crate::facts::NetworkFacts>,
}

async fn collect_one(clients: &Clients, log: &CallLog, task_reads: &TaskReads, failure: &PullFailure, supplied: &Supplied) -> Facts {
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
            None => {
                let service = supplied.service_network.as_ref();
                task_reads
                    .network
                    .get_or_init(|| {
                        Box::pin(async {
                            let mut n = Box::pin(network::read_network(clients, log, &failure.task, region.as_deref(), service)).await;
                            // Hub-and-spoke: where the names resolve, when the route table shows no public path.
                            Box::pin(private_dns::read_private_dns(clients, log, region.as_deref(), &mut n)).await;
                            n
                        })
                    })
                    .await
                    .clone()
            }
        }
    };
    // Identity reads need the task definition and the image answers, not the network: they run
    // beside the network levels, so the critical path is the longer of the two chains.
    let rest = async {
        let (task, task_definition, (repository, image_by_digest, image_by_tag)) = tokio::join!(
            Box::pin(async { task_reads.task.get_or_init(|| Box::pin(ecs::read_task(clients, log, &failure.task, too_old))).await.clone() }),
            Box::pin(async {
                match &supplied.task_definition {
                    Some(td) => Fact::found(td.clone()),
                    None => ecs::read_task_definition(clients, log, failure.task.task_definition_arn.as_deref()).await,
                }
            }),
            Box::pin(ecr::read_image(clients, log, image_ref.as_ref())),
        );
        let mut task = task;
        ecs::resolve_launch_type(clients, log, &mut task).await;
        let mut facts = Facts {
            event_id: failure.event_id.clone(),
            account: failure.account.clone().or_else(|| arn_account(failure.task.arn.as_deref())),
            region: region.clone(),
            task,
            failure: FailureFacts {
                container: failure.container.clone(),
                image: failure.image.clone(),
                image_ref: image_ref.clone(),
                classification: classification.clone(),
                message: failure.message.clone(),
            },
            task_definition,
            repository,
            image_by_digest,
            image_by_tag,
            aws_calls: 0,
            aws_failures: 0,
            identity: Default::default(),
            network: Default::default(),
            secrets: Default::default(),
            missing_image: Default::default(),
        };
        let (identity, (secrets, secrets_role), missing) = tokio::join!(
            Box::pin(identity::read(clients, log, &facts, supplied.instance_role_arn.as_deref())),
            Box::pin(secrets::read(clients, log, &facts)),
            Box::pin(missing_image::read_early(clients, log, &facts)),
        );
        facts.identity = identity;
        facts.secrets = secrets;
        // The secrets' local evaluation needs the execution role's documents, which the identity
        // reads skip when its own simulation answered.
        if let (Fact::Found { value: role }, Some(read)) = (&mut facts.identity.execution_role, secrets_role) {
            if role.arn == read.arn && role.policies.value().is_none() {
                role.policies = read.policies;
                role.boundary = read.boundary;
            }
        }
        facts.missing_image = Box::pin(missing_image::read_late(clients, log, &facts, missing)).await;
        facts
    };
    let (mut facts, network) = tokio::join!(Box::pin(rest), Box::pin(network));
    facts.network = network;
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
        granted.extend(actions(include_str!("../../../../infra/policies/pulldoctor-preflight.json")));
        granted.remove("kms:Decrypt"); // used by Secrets Manager on our behalf, not called directly
        let wanted: BTreeSet<String> = READ_ACTIONS.iter().map(|a| a.to_string()).collect();
        assert_eq!(granted, wanted);
        let preflight = actions(include_str!("../../../../infra/policies/pulldoctor-preflight.json"));
        let preflight_only: BTreeSet<String> = super::PREFLIGHT_ONLY_ACTIONS.iter().map(|a| a.to_string()).collect();
        assert_eq!(preflight, preflight_only, "pulldoctor-preflight.json grants exactly the preflight-only reads");
    }
}
