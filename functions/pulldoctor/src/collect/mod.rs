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

mod blast_radius;
mod changes;
mod deploy;
/// Shared with preflight, which compares the service's running revision with the next one.
pub use deploy::{deployment_facts, fill as fill_launch, launch_facts, service_deployments};
mod ecr;
pub mod ecs;
pub mod history;
pub mod identity;
mod missing_image;
pub mod network;
mod private_dns;
mod secrets;

use chrono::Utc;

use crate::aws::CallLog;
pub use crate::aws::{
    dependent_rounds, read_failure, CallRecord, CallStats, Clients, Limits, ReadFailure,
    PREFLIGHT_ONLY_ACTIONS, READ_ACTIONS,
};
use crate::classify::classify;
use crate::intake::PullFailure;
use crate::model::facts::{
    ErrorKind, Fact, Facts, FailureFacts, ServiceNetworkFacts, TaskDefinitionFacts,
};
use crate::model::image_ref::ImageRef;
use crate::model::message::Category;
use crate::policy::parse_document;

/// How long ECS keeps a stopped task visible to `DescribeTasks`.
pub const TASK_VISIBILITY: chrono::Duration = chrono::Duration::hours(1);

/// How one collection runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Reads still unanswered then are given up (their facts say so); the collection returns
    /// what it has.
    pub deadline: Option<tokio::time::Instant>,
    /// After the first judgement, read what changed and who else is hit ([`history`]). The
    /// CLI and the Lambda turn it on unless told `--no-history` / `PULLDOCTOR_HISTORY=off`.
    pub history: bool,
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
    collect_with(clients, failure, &Supplied::default(), Options::default())
        .await
        .0
}

/// [`collect`] with some inputs supplied by the caller instead of read (see [`Supplied`]) and a
/// deadline, returning what the reads cost.
pub async fn collect_with(
    clients: &Clients,
    failure: &PullFailure,
    supplied: &Supplied,
    options: Options,
) -> (Facts, CallStats) {
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
        Box::pin(futures_util::future::join_all(others.iter().map(|o| {
            Box::pin(collect_one(clients, &log, &task_reads, o, supplied))
        }))),
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
    task: tokio::sync::OnceCell<crate::model::facts::TaskFacts>,
    network: tokio::sync::OnceCell<crate::model::facts::NetworkFacts>,
}

async fn collect_one(
    clients: &Clients,
    log: &CallLog,
    task_reads: &TaskReads,
    failure: &PullFailure,
    supplied: &Supplied,
) -> Facts {
    let region = failure
        .region
        .clone()
        .or_else(|| {
            failure
                .task
                .arn
                .as_deref()
                .and_then(crate::model::arn::region)
                .map(str::to_string)
        })
        .or_else(|| clients.home_region().map(str::to_string));
    let classification = classify(&failure.message);
    // Identity reads need the task definition and the image answers, not the network: they run
    // beside the network levels, so the critical path is the longer of the two chains.
    let (mut facts, network) = tokio::join!(
        Box::pin(read_task_and_identity(
            clients,
            log,
            task_reads,
            failure,
            supplied,
            region.clone(),
            classification.clone()
        )),
        Box::pin(read_task_network(
            clients,
            log,
            task_reads,
            failure,
            supplied,
            region.as_deref(),
            classification.category
        )),
    );
    facts.network = network;
    facts
}

/// The network path of the task (shared by every failing image of it), unless the message shows
/// that the registry answered.
async fn read_task_network(
    clients: &Clients,
    log: &CallLog,
    task_reads: &TaskReads,
    failure: &PullFailure,
    supplied: &Supplied,
    region: Option<&str>,
    category: Category,
) -> crate::model::facts::NetworkFacts {
    if let Some(why) = registry_answered(category) {
        return network::skipped(why);
    }
    // Boxed: the network reads nest several levels of joined futures (keeps worker stacks small).
    let service = supplied.service_network.as_ref();
    task_reads
        .network
        .get_or_init(|| {
            Box::pin(async {
                // With hub-and-spoke's private DNS: where the names resolve, when the route table
                // shows no public path.
                Box::pin(network::read_network(
                    clients,
                    log,
                    &failure.task,
                    region,
                    service,
                ))
                .await
            })
        })
        .await
        .clone()
}

/// The task, its task definition and the image at once; then the identity, secrets and early
/// missing-image reads at once (they need those answers); then the late missing-image reads
/// (they need the identity answers).
async fn read_task_and_identity(
    clients: &Clients,
    log: &CallLog,
    task_reads: &TaskReads,
    failure: &PullFailure,
    supplied: &Supplied,
    region: Option<String>,
    classification: crate::model::message::Classification,
) -> Facts {
    let image_ref = failure
        .image
        .as_deref()
        .and_then(|i| ImageRef::parse(i).ok());
    let too_old = failure
        .time
        .is_some_and(|t| Utc::now() - t > TASK_VISIBILITY);
    let (task, task_definition, (repository, image_by_digest, image_by_tag)) = tokio::join!(
        Box::pin(async {
            task_reads
                .task
                .get_or_init(|| Box::pin(ecs::read_task(clients, log, &failure.task, too_old)))
                .await
                .clone()
        }),
        Box::pin(async {
            match &supplied.task_definition {
                Some(td) => Fact::found(td.clone()),
                None => {
                    ecs::read_task_definition(
                        clients,
                        log,
                        failure.task.task_definition_arn.as_deref(),
                    )
                    .await
                }
            }
        }),
        Box::pin(ecr::read_image(clients, log, image_ref.as_ref())),
    );
    let mut task = task;
    ecs::resolve_launch_type(clients, log, &mut task).await;
    let mut facts = Facts {
        event_id: failure.event_id.clone(),
        account: failure.account.clone().or_else(|| {
            failure
                .task
                .arn
                .as_deref()
                .and_then(crate::model::arn::account)
                .map(str::to_string)
        }),
        region,
        task,
        failure: FailureFacts {
            container: failure.container.clone(),
            image: failure.image.clone(),
            image_ref,
            classification,
            message: failure.message.clone(),
            time: failure.time,
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
        deploy: Default::default(),
        history: Default::default(),
        audience: Default::default(),
    };
    facts.apply_task_overrides();
    // Beside the identity reads: the secrets, the missing image's early reads and (for a missing
    // image of a service task) the deploy behind it all need only the first round's answers.
    let (identity, (secrets, secrets_role), missing, deploy) = tokio::join!(
        Box::pin(identity::read(
            clients,
            log,
            &facts,
            supplied.instance_role_arn.as_deref()
        )),
        Box::pin(secrets::read(clients, log, &facts)),
        Box::pin(missing_image::read_early(clients, log, &facts)),
        Box::pin(deploy::read(clients, log, &facts)),
    );
    facts.deploy = deploy;
    facts.identity = identity;
    facts.secrets = secrets;
    // The secrets' local evaluation needs the execution role's documents, which the identity
    // reads skip when its own simulation answered.
    if let (Fact::Found { value: role }, Some(read)) =
        (&mut facts.identity.execution_role, secrets_role)
    {
        if role.arn == read.arn && role.policies.value().is_none() {
            role.policies = read.policies;
            role.boundary = read.boundary;
        }
    }
    facts.missing_image = Box::pin(missing_image::read_late(clients, log, &facts, missing)).await;
    facts
}

/// When the message shows that the registry answered (the image is missing, does not fit, filled
/// the disk, or the registry throttled), the network path demonstrably works: reading it would
/// cost calls and could only add noise. Access denied stays examined (an endpoint policy can deny).
fn registry_answered(category: Category) -> Option<&'static str> {
    match category {
        Category::ImageNotFound => Some(
            "the registry answered that the image does not exist, so the network path to it works",
        ),
        Category::PlatformMismatch => {
            Some("the registry served the image manifest, so the network path to it works")
        }
        Category::DiskSpace => {
            Some("the layers were being written to disk, so the network path to the registry works")
        }
        Category::RateLimited => {
            Some("the registry answered with a rate limit, so the network path to it works")
        }
        Category::Network
        | Category::AccessDenied
        | Category::RegistryCredentials
        | Category::Unknown => None,
    }
}

pub(super) fn parsed(text: Option<&str>, what: &str) -> Fact<serde_json::Value> {
    match text.and_then(parse_document) {
        Some(doc) => Fact::found(doc),
        None => Fact::Unreadable {
            reason: format!("the {what} is not a JSON object"),
            kind: ErrorKind::Other,
        },
    }
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
        let mut granted = actions(include_str!(
            "../../../../infra/policies/pulldoctor-read.json"
        ));
        granted.extend(actions(include_str!(
            "../../../../infra/policies/pulldoctor-registry-secrets.json"
        )));
        granted.extend(actions(include_str!(
            "../../../../infra/policies/pulldoctor-preflight.json"
        )));
        granted.remove("kms:Decrypt"); // used by Secrets Manager on our behalf, not called directly
        let wanted: BTreeSet<String> = READ_ACTIONS.iter().map(|a| a.to_string()).collect();
        assert_eq!(granted, wanted);
        let preflight = actions(include_str!(
            "../../../../infra/policies/pulldoctor-preflight.json"
        ));
        let preflight_only: BTreeSet<String> = super::PREFLIGHT_ONLY_ACTIONS
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(
            preflight, preflight_only,
            "pulldoctor-preflight.json grants exactly the preflight-only reads"
        );
    }
}
