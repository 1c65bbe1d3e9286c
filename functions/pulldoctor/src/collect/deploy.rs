//! The deploy behind a missing image: the service's deployments (`ecs:DescribeServices`, the
//! same request the network reads make, so it is issued once) and, when another deployment runs
//! another revision, that revision (`ecs:DescribeTaskDefinition`) and whether the failing
//! container's image in it still exists (`ecr:DescribeImages`). Nothing is read when the image
//! exists or the task is not a service's.

use aws_sdk_ecr::types::ImageIdentifier;

use super::{CallLog, Clients};
use crate::model::facts::{
    service_name, DeployFacts, DeployHistoryFacts, DeploymentFacts, Fact, Facts, ImageChangeFacts,
    ImageFacts, LaunchFacts, PreviousRevisionFacts, RevisionFacts, ServiceDeploymentFacts,
};
use crate::model::image_ref::ImageRef;

/// The deploy's history for any service task (history on): the revision the service ran before
/// the failing one, from `DescribeServices` (shared with the network and missing-image reads),
/// else the service deployment history (`ListServiceDeployments` → `DescribeServiceRevisions`),
/// else the family's previous revision; that revision's task definition (unless already read)
/// and, for each container whose ECR image changed, whether the old and new images exist.
/// Rounds: {DescribeServices, ListServiceDeployments} → {DescribeServiceRevisions,
/// DescribeTaskDefinition} → DescribeImages. `None` for a standalone task.
pub(super) async fn read_history(
    clients: &Clients,
    log: &CallLog,
    facts: &Facts,
) -> Option<DeployFacts> {
    let (Some(service), Some(cluster)) =
        (service_name(&facts.task), facts.task.cluster_arn.as_deref())
    else {
        return None;
    };
    let failing_arn = facts.task.task_definition_arn.clone();
    let reuse = facts.deploy.deployments.value().is_some();
    let (deployments, listed) = tokio::join!(
        Box::pin(async {
            if reuse {
                facts.deploy.deployments.clone()
            } else {
                read_deployments(clients, log, cluster, service).await
            }
        }),
        Box::pin(list_service_deployments(clients, log, cluster, service)),
    );
    let from_deployments = deployments
        .value()
        .and_then(|d| previous_deployment(d, failing_arn.as_deref()))
        .cloned();
    // Targets of the newest deployments: the failing one and the one before (one redeploy of the same
    // revision in between is tolerated); DescribeServiceRevisions takes them in one call.
    let targets: Vec<String> = listed
        .value()
        .map(|l| {
            let mut t: Vec<String> = vec![];
            for arn in l.iter().filter_map(|d| d.target_revision.clone()) {
                if !t.contains(&arn) && t.len() < REVISIONS_READ {
                    t.push(arn);
                }
            }
            t
        })
        .unwrap_or_default();
    let already_read = facts
        .deploy
        .previous
        .value()
        .filter(|p| p.task_definition.value().is_some());
    let (revisions, previous_td) = tokio::join!(
        Box::pin(describe_service_revisions(clients, log, &targets)),
        Box::pin(async {
            match (&from_deployments, already_read) {
                (Some(d), Some(p)) if p.deployment.task_definition == d.task_definition => {
                    p.task_definition.clone()
                }
                (Some(d), _) => {
                    super::ecs::read_task_definition(clients, log, d.task_definition.as_deref())
                        .await
                }
                (None, _) => skipped("no other deployment of the service runs another revision"),
            }
        }),
    );
    let unread: Vec<String> = [
        &deployments.clone().map(|_| ()),
        &listed.clone().map(|_| ()),
        &revisions.clone().map(|_| ()),
    ]
    .into_iter()
    .filter_map(|f| match f {
        Fact::Unreadable { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .collect();
    let revisions = revisions.value().cloned().unwrap_or_default();
    let revision_of = |arn: &str| {
        revisions
            .iter()
            .find(|r| r.service_revision.as_deref() == Some(arn))
    };
    let listed_entries = listed.value().cloned().unwrap_or_default();
    // The newest deployment to the failing revision, and the newest to another one after it.
    let failing_entry = listed_entries.iter().position(|d| {
        d.target_revision
            .as_deref()
            .and_then(revision_of)
            .and_then(|r| r.task_definition_arn.as_deref())
            == failing_arn.as_deref()
    });
    let previous_entry = failing_entry.and_then(|i| {
        listed_entries.iter().skip(i + 1).find(|d| {
            let td = d
                .target_revision
                .as_deref()
                .and_then(revision_of)
                .and_then(|r| r.task_definition_arn.as_deref());
            td.is_some() && td != failing_arn.as_deref()
        })
    });

    let mut failing = RevisionFacts {
        task_definition_arn: failing_arn.clone(),
        task_definition: facts.task_definition.clone(),
        ..Default::default()
    };
    if let Some(d) = deployments
        .value()
        .and_then(|d| d.iter().find(|d| d.task_definition == failing_arn))
    {
        failing.deployment_id = Some(d.id.clone());
        failing.status = d.status.clone();
        failing.created_at = d.created_at.clone();
        failing.launch = d.launch.clone();
    }
    if let Some(entry) = failing_entry.map(|i| &listed_entries[i]) {
        failing.service_revision = entry.target_revision.clone();
        if failing.deployment_id.is_none() {
            failing.status = entry.status.clone();
            failing.created_at = entry.created_at.clone();
        }
        if let Some(r) = entry.target_revision.as_deref().and_then(revision_of) {
            fill(&mut failing.launch, &r.launch);
        }
    }
    fill(&mut failing.launch, &task_launch(facts));

    let (source, previous) = if let Some(d) = &from_deployments {
        let mut p = RevisionFacts {
            task_definition_arn: d.task_definition.clone(),
            deployment_id: Some(d.id.clone()),
            status: d.status.clone(),
            created_at: d.created_at.clone(),
            launch: d.launch.clone(),
            task_definition: previous_td,
            ..Default::default()
        };
        if let Some(r) = revisions
            .iter()
            .find(|r| r.task_definition_arn == d.task_definition)
        {
            p.service_revision = r.service_revision.clone();
            fill(&mut p.launch, &r.launch);
        }
        (Some("service_deployments"), Some(p))
    } else if let Some(entry) = previous_entry {
        let r = entry
            .target_revision
            .as_deref()
            .and_then(revision_of)
            .cloned()
            .unwrap_or_default();
        let task_definition =
            super::ecs::read_task_definition(clients, log, r.task_definition_arn.as_deref()).await;
        let p = RevisionFacts {
            task_definition_arn: r.task_definition_arn.clone(),
            service_revision: entry.target_revision.clone(),
            status: entry.status.clone(),
            created_at: entry.created_at.clone(),
            launch: r.launch,
            task_definition,
            ..Default::default()
        };
        (Some("service_revisions"), Some(p))
    } else if let Some(family_previous) = family_previous(facts) {
        let task_definition =
            super::ecs::read_task_definition(clients, log, Some(&family_previous)).await;
        let p = RevisionFacts {
            task_definition_arn: task_definition
                .value()
                .and_then(|t| t.arn.clone())
                .or(Some(family_previous)),
            task_definition,
            ..Default::default()
        };
        (Some("previous_family_revision"), Some(p))
    } else {
        (None, None)
    };

    let (rolled_back, rollout_reason) = rollback(
        deployments.value().map(Vec::as_slice).unwrap_or_default(),
        failing_entry.map(|i| &listed_entries[i]),
    );
    let images = match &previous {
        Some(p) => read_image_changes(clients, log, facts, &failing, p).await,
        None => vec![],
    };
    // Nothing answered: the section is unknown, not "only revision on record".
    let history = if previous.is_none() && deployments.value().is_none() && listed.value().is_none()
    {
        Fact::Unreadable {
            reason: unread.join("; "),
            kind: crate::model::facts::ErrorKind::Other,
        }
    } else {
        Fact::found(DeployHistoryFacts {
            service: service.to_string(),
            source: source.map(str::to_string),
            failing,
            previous,
            rolled_back,
            rollout_reason,
            images,
            service_deployments: listed,
            unread,
        })
    };
    let deployments = if reuse {
        facts.deploy.deployments.clone()
    } else {
        deployments
    };
    Some(DeployFacts {
        deployments,
        previous: facts.deploy.previous.clone(),
        history,
    })
}

/// Service revisions described per diagnosis (one `DescribeServiceRevisions` call).
const REVISIONS_READ: usize = 3;
/// Service deployments listed (newest first).
const DEPLOYMENTS_LISTED: i32 = 5;
/// Image existence reads for the containers a deploy changed, beyond those already read.
const IMAGE_READS: usize = 4;

async fn list_service_deployments(
    clients: &Clients,
    log: &CallLog,
    cluster: &str,
    service: &str,
) -> Fact<Vec<ServiceDeploymentFacts>> {
    shared!(
        log,
        "ecs:ListServiceDeployments",
        &["ClusterNotFoundException", "ServiceNotFoundException"],
        clients
            .ecs
            .list_service_deployments()
            .cluster(cluster)
            .service(service)
            .max_results(DEPLOYMENTS_LISTED),
        |out| {
            let mut briefs: Vec<_> = out.service_deployments().iter().collect();
            // Newest first, whatever order the page comes in.
            briefs.sort_by(|a, b| {
                b.created_at()
                    .map(|t| t.as_nanos())
                    .cmp(&a.created_at().map(|t| t.as_nanos()))
            });
            Fact::found(
                briefs
                    .into_iter()
                    .map(|d| ServiceDeploymentFacts {
                        arn: d.service_deployment_arn().unwrap_or_default().to_string(),
                        status: d.status().map(|s| s.as_str().to_string()),
                        status_reason: d.status_reason().map(str::to_string),
                        target_revision: d.target_service_revision_arn().map(str::to_string),
                        created_at: d.created_at().map(|t| t.to_string()),
                    })
                    .collect::<Vec<_>>(),
            )
        },
    )
    .await
}

/// A service revision as the deploy diff needs it.
#[derive(Clone, Default)]
struct ServiceRevision {
    service_revision: Option<String>,
    task_definition_arn: Option<String>,
    launch: LaunchFacts,
}

async fn describe_service_revisions(
    clients: &Clients,
    log: &CallLog,
    arns: &[String],
) -> Fact<Vec<ServiceRevision>> {
    if arns.is_empty() {
        return skipped("no service deployment listed");
    }
    shared!(
        log,
        "ecs:DescribeServiceRevisions",
        &[],
        clients
            .ecs
            .describe_service_revisions()
            .set_service_revision_arns(Some(arns.to_vec())),
        |out| Fact::found(
            out.service_revisions()
                .iter()
                .map(|r| ServiceRevision {
                    service_revision: r.service_revision_arn().map(str::to_string),
                    task_definition_arn: r.task_definition().map(str::to_string),
                    launch: LaunchFacts {
                        image_digests: r
                            .container_images()
                            .iter()
                            .filter_map(|c| Some((
                                c.container_name()?.to_string(),
                                c.image_digest()?.to_string()
                            )))
                            .collect(),
                        ..launch_facts(
                            r.launch_type(),
                            r.platform_version(),
                            r.capacity_provider_strategy(),
                            r.network_configuration()
                        )
                    },
                })
                .collect::<Vec<_>>()
        ),
    )
    .await
}

pub fn launch_facts(
    launch_type: Option<&aws_sdk_ecs::types::LaunchType>,
    platform_version: Option<&str>,
    capacity: &[aws_sdk_ecs::types::CapacityProviderStrategyItem],
    network: Option<&aws_sdk_ecs::types::NetworkConfiguration>,
) -> LaunchFacts {
    let awsvpc = network.and_then(|n| n.awsvpc_configuration());
    LaunchFacts {
        launch_type: launch_type.map(|l| l.as_str().to_string()),
        platform_version: platform_version.map(str::to_string),
        capacity_providers: capacity
            .iter()
            .map(|c| c.capacity_provider().to_string())
            .collect(),
        subnets: awsvpc.map(|a| a.subnets().to_vec()),
        security_groups: awsvpc.map(|a| a.security_groups().to_vec()),
        assign_public_ip: awsvpc
            .map(|a| a.assign_public_ip() == Some(&aws_sdk_ecs::types::AssignPublicIp::Enabled)),
        image_digests: Default::default(),
    }
}

/// Completes what one source left unknown with another's answer.
pub fn fill(launch: &mut LaunchFacts, other: &LaunchFacts) {
    let known = launch.launch_type.is_some() || !launch.capacity_providers.is_empty();
    if !known {
        launch.launch_type = other.launch_type.clone();
        launch.capacity_providers = other.capacity_providers.clone();
    }
    launch.platform_version = launch
        .platform_version
        .take()
        .or_else(|| other.platform_version.clone());
    if launch.subnets.is_none() {
        launch.subnets = other.subnets.clone();
        launch.security_groups = other.security_groups.clone();
        launch.assign_public_ip = other.assign_public_ip;
    }
    if launch.image_digests.is_empty() {
        launch.image_digests = other.image_digests.clone();
    }
}

/// The failing task's own launch settings, when no deployment or revision gave them.
fn task_launch(facts: &Facts) -> LaunchFacts {
    let service = facts
        .network
        .service
        .value()
        .filter(|s| !s.no_awsvpc_configuration);
    LaunchFacts {
        launch_type: facts
            .task
            .launch_type
            .as_ref()
            .map(|l| l.as_str().to_string()),
        platform_version: facts.task.platform_version.clone(),
        capacity_providers: facts.task.capacity_provider.iter().cloned().collect(),
        subnets: service.map(|s| s.subnets.clone()),
        security_groups: service.map(|s| s.security_groups.clone()),
        assign_public_ip: service.and_then(|s| s.assign_public_ip),
        image_digests: Default::default(),
    }
}

/// `family:N-1` of the failing revision, the last resort (the service may never have run it).
fn family_previous(facts: &Facts) -> Option<String> {
    let td = facts.task_definition.value();
    let arn = facts
        .task
        .task_definition_arn
        .as_deref()
        .or(td.and_then(|t| t.arn.as_deref()))?;
    let name = crate::model::arn::last_name(arn);
    let (family, revision) = match (
        td.and_then(|t| t.family.clone()),
        td.and_then(|t| t.revision),
    ) {
        (Some(f), Some(r)) => (f, r),
        _ => {
            let (f, r) = name.rsplit_once(':')?;
            (f.to_string(), r.parse().ok()?)
        }
    };
    (revision > 1).then(|| format!("{family}:{}", revision - 1))
}

/// Whether the circuit breaker rolled the failing revision back, in ECS's words: a deployment's
/// rollout reason ("ECS deployment circuit breaker: rolling back to …"), or the service
/// deployment's `ROLLBACK_*` status.
fn rollback(
    deployments: &[DeploymentFacts],
    failing: Option<&ServiceDeploymentFacts>,
) -> (bool, Option<String>) {
    if let Some(f) = failing.filter(|f| {
        f.status
            .as_deref()
            .is_some_and(|s| s.starts_with("ROLLBACK_"))
    }) {
        let status = f.status.clone().unwrap_or_default();
        return (
            true,
            Some(
                f.status_reason
                    .clone()
                    .map(|r| format!("{status}: {r}"))
                    .unwrap_or(status),
            ),
        );
    }
    let reason = deployments
        .iter()
        .filter_map(|d| d.rollout_state_reason.as_deref())
        .find(|r| {
            let r = r.to_ascii_lowercase();
            r.contains("circuit breaker")
                && (r.contains("rolling back") || r.contains("rolled back"))
        });
    (reason.is_some(), reason.map(str::to_string))
}

/// For each container whose image the deploy changed, whether the old and new images exist in
/// ECR: answers already read (the failing image, the previous revision's image) are reused, the
/// rest read at once, at most [`IMAGE_READS`].
async fn read_image_changes(
    clients: &Clients,
    log: &CallLog,
    facts: &Facts,
    failing: &RevisionFacts,
    previous: &RevisionFacts,
) -> Vec<ImageChangeFacts> {
    let changes = previous.image_changes_to(failing);
    let mut budget = IMAGE_READS;
    let mut reads = vec![];
    for (name, before, after) in &changes {
        let known_after = known_image(facts, name, after.as_deref(), true);
        let known_before = known_image(facts, name, before.as_deref(), false);
        let mut plan = |known: Option<Fact<ImageFacts>>, image: &Option<String>| match known {
            Some(f) => Plan::Known(f),
            None if budget == 0 => Plan::Known(skipped("past the image read bound")),
            None => match image.as_deref().map(ImageRef::parse) {
                Some(Ok(r)) if r.ecr().is_some() => {
                    budget -= 1;
                    Plan::Read(r)
                }
                _ => Plan::Known(skipped("not an ECR image")),
            },
        };
        let b = plan(known_before, before);
        let a = plan(known_after, after);
        reads.push((name.clone(), before.clone(), after.clone(), b, a));
    }
    let resolved = futures_util::future::join_all(reads.into_iter().map(
        |(container, before, after, b, a)| async move {
            let (before_image, after_image) = tokio::join!(
                Box::pin(b.resolve(clients, log)),
                Box::pin(a.resolve(clients, log))
            );
            ImageChangeFacts {
                container,
                before,
                after,
                before_image,
                after_image,
            }
        },
    ))
    .await;
    resolved
}

enum Plan {
    Known(Fact<ImageFacts>),
    Read(ImageRef),
}

impl Plan {
    async fn resolve(self, clients: &Clients, log: &CallLog) -> Fact<ImageFacts> {
        match self {
            Plan::Known(f) => f,
            Plan::Read(r) => read_image(clients, log, &r).await,
        }
    }
}

/// What the first read phase already knows about the failing container's images: the failing
/// image (`image_by_digest` / `image_by_tag`) and the previous revision's (`deploy.previous.image`).
fn known_image(
    facts: &Facts,
    container: &str,
    image: Option<&str>,
    failing_side: bool,
) -> Option<Fact<ImageFacts>> {
    if facts.failure.container.as_deref() != Some(container) {
        return None;
    }
    let parsed = ImageRef::parse(image?).ok()?;
    if failing_side {
        let failure = facts.failure.image_ref.as_ref()?;
        if failure.repository != parsed.repository || failure.registry != parsed.registry {
            return None;
        }
        if parsed.digest.is_some()
            && parsed.digest == failure.digest
            && facts.image_by_digest.value().is_some()
        {
            return Some(facts.image_by_digest.clone());
        }
        if parsed.effective_tag() == failure.effective_tag()
            && !matches!(facts.image_by_tag, Fact::NotCollected { .. })
        {
            return Some(facts.image_by_tag.clone());
        }
        return None;
    }
    let previous = facts.deploy.previous.value()?;
    let old = previous
        .task_definition
        .value()?
        .container(Some(container))?
        .image
        .as_deref()?;
    let old = ImageRef::parse(old).ok()?;
    // The revision's digest may be appended: the tag's answer stands unless it names another digest.
    let digest_agrees = match (
        parsed.digest.as_deref(),
        previous.image.value().and_then(|i| i.digest.as_deref()),
    ) {
        (Some(want), Some(got)) => want == got,
        _ => true,
    };
    let same = old.repository == parsed.repository
        && old.effective_tag() == parsed.effective_tag()
        && digest_agrees;
    (same && !matches!(previous.image, Fact::NotCollected { .. })).then(|| previous.image.clone())
}

fn skipped<T>(why: &str) -> Fact<T> {
    Fact::NotCollected { reason: why.into() }
}

pub(super) async fn read(clients: &Clients, log: &CallLog, facts: &Facts) -> DeployFacts {
    let missing = facts.image_by_tag.is_not_found() || facts.image_by_digest.is_not_found();
    let (Some(service), Some(cluster)) =
        (service_name(&facts.task), facts.task.cluster_arn.as_deref())
    else {
        return DeployFacts {
            deployments: skipped("not a service's task"),
            previous: skipped("not a service's task"),
            ..Default::default()
        };
    };
    if !missing
        || facts
            .failure
            .image_ref
            .as_ref()
            .and_then(|i| i.ecr())
            .is_none()
    {
        return DeployFacts {
            deployments: skipped("the image exists"),
            previous: skipped("the image exists"),
            ..Default::default()
        };
    }
    let deployments = read_deployments(clients, log, cluster, service).await;
    let failing = facts.task.task_definition_arn.as_deref();
    let previous = match deployments
        .value()
        .and_then(|d| previous_deployment(d, failing))
    {
        Some(deployment) => {
            Fact::found(read_previous(clients, log, facts, deployment.clone()).await)
        }
        None => match &deployments {
            Fact::Found { .. } => {
                skipped("no other deployment of the service runs another revision")
            }
            Fact::Unreadable { reason, kind } => Fact::Unreadable {
                reason: reason.clone(),
                kind: *kind,
            },
            other => Fact::Unreadable {
                reason: other
                    .gap()
                    .unwrap_or("the deployments were not read")
                    .to_string(),
                kind: crate::model::facts::ErrorKind::Other,
            },
        },
    };
    DeployFacts {
        deployments,
        previous,
        ..Default::default()
    }
}

/// The service's deployments (one `DescribeServices`), for the incident side: which revision a
/// recovered service is steady on, which one a failed deployment rolled back to. Returns what
/// the read cost too (the audit line counts it).
pub async fn service_deployments(
    clients: &Clients,
    cluster: &str,
    service: &str,
) -> (Fact<Vec<DeploymentFacts>>, u32) {
    // No warm cache: the service's state now is the point.
    let log = CallLog::new(None, None);
    let deployments = read_deployments(clients, &log, cluster, service).await;
    (deployments, log.calls())
}

async fn read_deployments(
    clients: &Clients,
    log: &CallLog,
    cluster: &str,
    service: &str,
) -> Fact<Vec<DeploymentFacts>> {
    shared!(
        log,
        "ecs:DescribeServices",
        &["ClusterNotFoundException", "ServiceNotFoundException"],
        clients
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service),
        |out| match out.services().first() {
            Some(svc) => Fact::found(
                svc.deployments()
                    .iter()
                    .map(deployment_facts)
                    .collect::<Vec<_>>()
            ),
            None => Fact::NotFound {
                detail: out
                    .failures()
                    .first()
                    .and_then(|f| f.reason())
                    .unwrap_or("service not returned")
                    .to_string(),
            },
        },
    )
    .await
}

pub fn deployment_facts(d: &aws_sdk_ecs::types::Deployment) -> DeploymentFacts {
    DeploymentFacts {
        id: d.id().unwrap_or_default().to_string(),
        status: d.status().map(str::to_string),
        task_definition: d.task_definition().map(str::to_string),
        rollout_state: d.rollout_state().map(|s| s.as_str().to_string()),
        rollout_state_reason: d.rollout_state_reason().map(str::to_string),
        running_count: d.running_count(),
        created_at: d.created_at().map(|t| t.to_string()),
        launch: launch_facts(
            d.launch_type(),
            d.platform_version(),
            d.capacity_provider_strategy(),
            d.network_configuration(),
        ),
    }
}

/// The deployment that runs another revision than the failing one: the `PRIMARY` one when the
/// failing revision is not primary (a circuit-breaker rollback makes the old revision primary),
/// else the older deployment still running the most tasks.
pub fn previous_deployment<'a>(
    deployments: &'a [DeploymentFacts],
    failing: Option<&str>,
) -> Option<&'a DeploymentFacts> {
    let failing = failing?;
    let others = || {
        deployments
            .iter()
            .filter(|d| d.task_definition.as_deref().is_some_and(|t| t != failing))
    };
    others()
        .find(|d| d.status.as_deref() == Some("PRIMARY"))
        .or_else(|| others().max_by_key(|d| d.running_count))
}

async fn read_previous(
    clients: &Clients,
    log: &CallLog,
    facts: &Facts,
    deployment: DeploymentFacts,
) -> PreviousRevisionFacts {
    let task_definition =
        super::ecs::read_task_definition(clients, log, deployment.task_definition.as_deref()).await;
    let container = facts.failure.container.as_deref();
    let image_in = |td: Option<&crate::model::facts::TaskDefinitionFacts>| {
        td.and_then(|td| td.container(container))
            .and_then(|c| c.image.clone())
    };
    let old_image = image_in(task_definition.value());
    // The event may append the resolved digest to the failure's image: compare definitions.
    let current_image =
        image_in(facts.task_definition.value()).or_else(|| facts.failure.image.clone());
    let image = match old_image.as_deref().map(ImageRef::parse) {
        _ if task_definition.value().is_none() => skipped("the previous revision was not read"),
        None => skipped("the previous revision has no container of that name"),
        Some(Err(_)) => skipped("the previous image reference could not be parsed"),
        Some(Ok(_)) if old_image == current_image => {
            skipped("the image did not change with the deploy")
        }
        Some(Ok(old)) => read_image(clients, log, &old).await,
    };
    PreviousRevisionFacts {
        deployment,
        task_definition,
        image,
    }
}

async fn read_image(clients: &Clients, log: &CallLog, image: &ImageRef) -> Fact<ImageFacts> {
    if image.ecr().is_none() {
        return skipped("the previous image is not in ECR");
    }
    let id = match (&image.digest, image.effective_tag()) {
        (Some(d), _) => ImageIdentifier::builder().image_digest(d).build(),
        (None, Some(t)) => ImageIdentifier::builder().image_tag(t).build(),
        (None, None) => return skipped("the previous image has no tag or digest"),
    };
    super::ecr::describe_image(clients, log, image, id).await
}

#[cfg(test)]
mod tests {
    //! moto keeps a single deployment per service, so the richer shapes (a rolling deploy with
    //! the old deployment still running, a circuit-breaker rollback) come from aws-smithy-mocks
    //! answers shaped like `DescribeServices`' documented response.
    use aws_sdk_ecr::operation::describe_images::{DescribeImagesError, DescribeImagesOutput};
    use aws_sdk_ecr::types::ImageDetail;
    use aws_sdk_ecs::operation::describe_services::{
        DescribeServicesError, DescribeServicesOutput,
    };
    use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
    use aws_sdk_ecs::types::{
        ContainerDefinition, Deployment, DeploymentRolloutState, Service, TaskDefinition,
    };
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;
    use crate::checks::deploy::check_deploy_change;
    use crate::checks::ecr::fixtures::not_found;
    use crate::checks::iam::identity_fixtures::{world, CLUSTER};
    use crate::model::diagnosis::Status;

    const NEW: &str = "arn:aws:ecs:us-east-1:111122223333:task-definition/web:42";
    const OLD: &str = "arn:aws:ecs:us-east-1:111122223333:task-definition/web:41";
    const NEW_IMAGE: &str = "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:2.4.2";
    const OLD_IMAGE: &str = "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:2.4.1";

    /// A service task of `web` that failed on `:2.4.2`, which does not exist.
    fn failed_deploy() -> Facts {
        let mut f = world();
        f.task.group = Some("service:web".into());
        f.task.task_definition_arn = Some(NEW.into());
        f.failure.image = Some(NEW_IMAGE.into());
        f.failure.image_ref = ImageRef::parse(NEW_IMAGE).ok();
        if let Fact::Found { value } = &mut f.task_definition {
            value.arn = Some(NEW.into());
            value.containers[0].image = Some(NEW_IMAGE.into());
        }
        f.image_by_tag = not_found();
        f
    }

    fn deployment(
        id: &str,
        status: &str,
        td: &str,
        state: DeploymentRolloutState,
        reason: Option<&str>,
        running: i32,
    ) -> Deployment {
        Deployment::builder()
            .id(id)
            .status(status)
            .task_definition(td)
            .rollout_state(state)
            .set_rollout_state_reason(reason.map(str::to_string))
            .running_count(running)
            .build()
    }

    /// ECS answering `deployments` for service `web` (`None`: access denied), the old revision
    /// naming `:2.4.1`, and ECR saying whether `:2.4.1` still exists.
    fn clients(deployments: Option<Vec<Deployment>>, old_image_exists: bool) -> Clients {
        let denied = deployments.is_none();
        let services = mock!(aws_sdk_ecs::Client::describe_services)
            .match_requests(|r| r.cluster() == Some(CLUSTER) && r.services() == ["web"])
            .then_output(move || {
                let svc = Service::builder()
                    .service_name("web")
                    .set_deployments(deployments.clone())
                    .build();
                DescribeServicesOutput::builder().services(svc).build()
            });
        let refused = mock!(aws_sdk_ecs::Client::describe_services).then_error(|| {
            DescribeServicesError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("not authorized")
                    .build(),
            )
        });
        let old_revision = mock!(aws_sdk_ecs::Client::describe_task_definition)
            .match_requests(|r| r.task_definition() == Some(OLD))
            .then_output(|| {
                let td = TaskDefinition::builder()
                    .task_definition_arn(OLD)
                    .family("web")
                    .revision(41)
                    .container_definitions(
                        ContainerDefinition::builder()
                            .name("web")
                            .image(OLD_IMAGE)
                            .build(),
                    )
                    .build();
                DescribeTaskDefinitionOutput::builder()
                    .task_definition(td)
                    .build()
            });
        let present = mock!(aws_sdk_ecr::Client::describe_images)
            .match_requests(|r| r.image_ids().first().and_then(|i| i.image_tag()) == Some("2.4.1"))
            .then_output(|| {
                DescribeImagesOutput::builder()
                    .image_details(ImageDetail::builder().image_tags("2.4.1").build())
                    .build()
            });
        let gone = mock!(aws_sdk_ecr::Client::describe_images).then_error(|| {
            DescribeImagesError::generic(
                ErrorMetadata::builder()
                    .code("ImageNotFoundException")
                    .message("not found")
                    .build(),
            )
        });
        let ecs = if denied {
            mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&refused])
        } else {
            mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&services, &old_revision])
        };
        let ecr = if old_image_exists {
            mock_client!(aws_sdk_ecr, RuleMode::MatchAny, [&present])
        } else {
            mock_client!(aws_sdk_ecr, RuleMode::MatchAny, [&gone])
        };
        Clients::mocked(ecs, ecr)
    }

    /// What the on-call engineer reads for each shape of the service's deployments.
    #[tokio::test]
    #[allow(clippy::type_complexity)] // a table test: one tuple per case reads best
    async fn the_deploy_behind_a_missing_image() {
        use DeploymentRolloutState::{Completed, Failed, InProgress};
        let rolling = vec![
            deployment("ecs-svc/2", "PRIMARY", NEW, InProgress, None, 0),
            deployment("ecs-svc/1", "ACTIVE", OLD, Completed, None, 3),
        ];
        let rolled_back = vec![
            deployment(
                "ecs-svc/3",
                "PRIMARY",
                OLD,
                InProgress,
                Some("ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1."),
                3,
            ),
            deployment(
                "ecs-svc/2",
                "ACTIVE",
                NEW,
                Failed,
                Some("ECS deployment circuit breaker: tasks failed to start."),
                0,
            ),
        ];
        let single = vec![deployment("ecs-svc/2", "PRIMARY", NEW, InProgress, None, 0)];
        // (case, deployments (None = DescribeServices denied), :2.4.1 exists, status, title needle, fix needle, calls)
        let cases: [(&str, Option<Vec<Deployment>>, bool, Option<Status>, &str, &str, u32); 5] = [
            ("rolling deploy, old image present", Some(rolling.clone()), true, Some(Status::Warn),
             "The deploy of web:42 changed the image from 111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:2.4.1 (still exists) to 111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:2.4.2 (not found)",
             "aws ecs update-service --cluster prod --service web --task-definition web:41", 3),
            ("circuit breaker rolled back", Some(rolled_back), true, Some(Status::Warn),
             "changed the image from", "already rolled the service back to web:41", 3),
            ("old image gone too", Some(rolling), false, Some(Status::Warn),
             "(is gone too)", "going back to web:41 would fail the same way", 3),
            ("only the failing deployment (what moto keeps)", Some(single), true, None, "", "", 1),
            ("deployments unreadable", None, true, Some(Status::Unknown), "Could not tell whether a deploy changed the image", "", 1),
        ];
        for (case, deployments, old_exists, status, title, fix, calls) in cases {
            let mut f = failed_deploy();
            let log = CallLog::default();
            f.deploy = read(&clients(deployments, old_exists), &log, &f).await;
            let got = check_deploy_change(&f);
            assert_eq!(got.first().map(|g| g.status), status, "{case}: {got:#?}");
            if let Some(g) = got.first() {
                assert!(g.title.contains(title), "{case}: {}", g.title);
                assert!(
                    g.remediation.as_deref().unwrap_or_default().contains(fix),
                    "{case}: {:?}",
                    g.remediation
                );
            }
            assert_eq!(log.calls(), calls, "{case}");
            // Context only: the missing image stays the root cause.
            let d = crate::engine::judge(&f);
            assert_eq!(
                d.root_cause.code,
                crate::model::diagnosis::RootCause::EcrImageNotFound,
                "{case}"
            );
        }
    }

    #[tokio::test]
    async fn nothing_is_read_when_the_image_exists_or_the_task_is_standalone() {
        let log = CallLog::default();
        let mut present = failed_deploy();
        present.image_by_tag =
            crate::checks::ecr::fixtures::image(crate::checks::ecr::fixtures::OLD, "2.4.2");
        let mut standalone = failed_deploy();
        standalone.task.group = Some("family:web".into());
        for f in [present, standalone] {
            let deploy = read(&clients(Some(vec![]), true), &log, &f).await;
            assert!(matches!(deploy.previous, Fact::NotCollected { .. }));
        }
        assert_eq!(log.calls(), 0);
    }

    #[test]
    fn the_previous_deployment_is_the_other_revision() {
        let d = |id: &str, status: &str, td: &str, running: i32| DeploymentFacts {
            id: id.into(),
            status: Some(status.into()),
            task_definition: Some(td.into()),
            running_count: running,
            ..Default::default()
        };
        let rolling = [d("2", "PRIMARY", NEW, 0), d("1", "ACTIVE", OLD, 3)];
        assert_eq!(
            previous_deployment(&rolling, Some(NEW)).map(|d| d.id.as_str()),
            Some("1")
        );
        let rolled_back = [d("3", "PRIMARY", OLD, 3), d("2", "ACTIVE", NEW, 0)];
        assert_eq!(
            previous_deployment(&rolled_back, Some(NEW)).map(|d| d.id.as_str()),
            Some("3")
        );
        assert_eq!(
            previous_deployment(&[d("2", "PRIMARY", NEW, 0)], Some(NEW)),
            None
        );
        assert_eq!(previous_deployment(&rolling, None), None);
    }

    // History on: the service deployment history (`ListServiceDeployments` →
    // `DescribeServiceRevisions`), shaped like the API reference's responses.
    mod history {
        use aws_sdk_ecs::operation::describe_service_revisions::DescribeServiceRevisionsOutput;
        use aws_sdk_ecs::operation::list_service_deployments::{
            ListServiceDeploymentsError, ListServiceDeploymentsOutput,
        };
        use aws_sdk_ecs::types::{
            AwsVpcConfiguration, ContainerImage, LaunchType, NetworkConfiguration,
            ServiceDeploymentBrief, ServiceDeploymentStatus, ServiceRevision,
        };
        use aws_smithy_types::DateTime;

        use super::*;
        use crate::checks::iam::identity_fixtures::ROLE;
        use crate::model::history::HistoryStatus;

        const REV_NEW: &str =
            "arn:aws:ecs:us-east-1:111122223333:service-revision/prod/web/4980306466373577095";
        const REV_OLD: &str =
            "arn:aws:ecs:us-east-1:111122223333:service-revision/prod/web/1147829487383945817";
        const OLD_ROLE: &str = "arn:aws:iam::111122223333:role/web-exec-2024";
        const DIGEST_NEW: &str =
            "sha256:9b1c0f2b7d0e4b0e8b8b8a3b0e1e9a1f3c9d2a7b6e5f4d3c2b1a0f9e8d7c6b5a";
        const DIGEST_OLD: &str =
            "sha256:1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b";

        fn brief(
            arn: &str,
            status: ServiceDeploymentStatus,
            reason: Option<&str>,
            target: &str,
            created: i64,
        ) -> ServiceDeploymentBrief {
            ServiceDeploymentBrief::builder()
                .service_deployment_arn(arn)
                .service_arn("arn:aws:ecs:us-east-1:111122223333:service/prod/web")
                .cluster_arn(CLUSTER)
                .status(status)
                .set_status_reason(reason.map(str::to_string))
                .target_service_revision_arn(target)
                .created_at(DateTime::from_secs(created))
                .build()
        }

        fn revision(arn: &str, td: &str, subnet: &str, digest: &str) -> ServiceRevision {
            let awsvpc = AwsVpcConfiguration::builder()
                .subnets(subnet)
                .security_groups("sg-0web")
                .build()
                .unwrap();
            ServiceRevision::builder()
                .service_revision_arn(arn)
                .task_definition(td)
                .launch_type(LaunchType::Fargate)
                .platform_version("1.4.0")
                .network_configuration(
                    NetworkConfiguration::builder()
                        .awsvpc_configuration(awsvpc)
                        .build(),
                )
                .container_images(
                    ContainerImage::builder()
                        .container_name("web")
                        .image_digest(digest)
                        .build(),
                )
                .build()
        }

        /// ECS with `deployments` in DescribeServices, the service deployment history `listed`
        /// (`None`: AccessDenied) and its two revisions, the old revision (`old_role`), and ECR
        /// answering that `:2.4.1` exists.
        fn clients(
            deployments: Vec<Deployment>,
            listed: Option<Vec<ServiceDeploymentBrief>>,
            old_subnet: &str,
            old_role: &str,
        ) -> Clients {
            let services = mock!(aws_sdk_ecs::Client::describe_services).then_output(move || {
                let svc = Service::builder()
                    .service_name("web")
                    .set_deployments(Some(deployments.clone()))
                    .build();
                DescribeServicesOutput::builder().services(svc).build()
            });
            let denied = listed.is_none();
            let list = mock!(aws_sdk_ecs::Client::list_service_deployments)
                .match_requests(|r| r.service() == Some("web") && r.cluster() == Some(CLUSTER))
                .then_output(move || {
                    ListServiceDeploymentsOutput::builder()
                        .set_service_deployments(listed.clone())
                        .build()
                });
            let list_denied =
                mock!(aws_sdk_ecs::Client::list_service_deployments).then_error(|| {
                    ListServiceDeploymentsError::generic(
                        ErrorMetadata::builder()
                            .code("AccessDeniedException")
                            .message("not authorized")
                            .build(),
                    )
                });
            let old_subnet = old_subnet.to_string();
            let revisions =
                mock!(aws_sdk_ecs::Client::describe_service_revisions).then_output(move || {
                    DescribeServiceRevisionsOutput::builder()
                        .service_revisions(revision(REV_NEW, NEW, "subnet-0new", DIGEST_NEW))
                        .service_revisions(revision(REV_OLD, OLD, &old_subnet, DIGEST_OLD))
                        .build()
                });
            let old_role = old_role.to_string();
            let old_revision = mock!(aws_sdk_ecs::Client::describe_task_definition)
                .match_requests(|r| {
                    r.task_definition()
                        .is_some_and(|t| t == OLD || t.starts_with("web:"))
                })
                .then_output(move || {
                    let td = TaskDefinition::builder()
                        .task_definition_arn(OLD)
                        .family("web")
                        .revision(41)
                        .execution_role_arn(old_role.clone())
                        .container_definitions(
                            ContainerDefinition::builder()
                                .name("web")
                                .image(OLD_IMAGE)
                                .build(),
                        )
                        .build();
                    DescribeTaskDefinitionOutput::builder()
                        .task_definition(td)
                        .build()
                });
            let present = mock!(aws_sdk_ecr::Client::describe_images).then_output(|| {
                DescribeImagesOutput::builder()
                    .image_details(ImageDetail::builder().image_tags("2.4.1").build())
                    .build()
            });
            let ecs = if denied {
                mock_client!(
                    aws_sdk_ecs,
                    RuleMode::MatchAny,
                    [&services, &list_denied, &old_revision]
                )
            } else {
                mock_client!(
                    aws_sdk_ecs,
                    RuleMode::MatchAny,
                    [&services, &list, &revisions, &old_revision]
                )
            };
            Clients::mocked(
                ecs,
                mock_client!(aws_sdk_ecr, RuleMode::MatchAny, [&present]),
            )
        }

        /// History on for the failed deploy: what the `deploy` section says, and what it cost.
        async fn deploy_section(
            clients: Clients,
            first_phase: bool,
        ) -> (crate::model::history::DeployDiff, crate::aws::CallStats) {
            let mut f = failed_deploy();
            if first_phase {
                f.deploy = read(&clients, &CallLog::default(), &f).await;
            }
            let log = CallLog::default();
            f.deploy = read_history(&clients, &log, &f)
                .await
                .expect("a service task");
            let d = crate::engine::judge(&f);
            (d.deploy.expect("deploy section"), log.stats())
        }

        #[tokio::test]
        async fn a_circuit_breaker_rollback_names_the_revision_rolled_back_to() {
            use DeploymentRolloutState::{Completed, Failed};
            // After the rollback: the old revision is PRIMARY again, the failed one ACTIVE.
            let deployments = vec![
                deployment(
                    "ecs-svc/3",
                    "PRIMARY",
                    OLD,
                    Completed,
                    Some("ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1."),
                    3,
                ),
                deployment(
                    "ecs-svc/2",
                    "ACTIVE",
                    NEW,
                    Failed,
                    Some("ECS deployment circuit breaker: tasks failed to start."),
                    0,
                ),
            ];
            let listed = vec![
                brief("sd-2", ServiceDeploymentStatus::RollbackSuccessful, Some("Service deployment rolled back because the circuit breaker threshold was exceeded."), REV_NEW, 2_000),
                brief("sd-1", ServiceDeploymentStatus::Successful, None, REV_OLD, 1_000),
            ];
            let (d, stats) = deploy_section(
                clients(deployments, Some(listed), "subnet-0new", ROLE),
                true,
            )
            .await;
            assert_eq!(d.status, HistoryStatus::Found);
            assert_eq!(d.source.as_deref(), Some("service_deployments"));
            assert_eq!(
                d.previous
                    .as_ref()
                    .and_then(|p| p.task_definition.as_deref()),
                Some("web:41")
            );
            assert_eq!(
                d.previous
                    .as_ref()
                    .and_then(|p| p.service_revision.as_deref()),
                Some(REV_OLD)
            );
            assert!(d.rolled_back, "{d:#?}");
            assert!(
                d.rollout_reason
                    .as_deref()
                    .unwrap()
                    .starts_with("ROLLBACK_SUCCESSFUL: Service deployment rolled back"),
                "{d:#?}"
            );
            let image = &d.differences[0];
            assert_eq!(image.setting, "image");
            assert_eq!(
                image.before.as_deref(),
                Some(format!("{OLD_IMAGE}@{DIGEST_OLD}").as_str())
            );
            assert_eq!(
                (image.before_state.as_deref(), image.after_state.as_deref()),
                (Some("present"), Some("not_found"))
            );
            assert!(d.explains_failure);
            assert_eq!(d.differences.len(), 1, "only the image changed: {d:#?}");
            let lines = crate::report::history::deploy_lines(&d);
            assert!(
                lines.last().unwrap().starts_with(
                    "The deployment circuit breaker rolled the service back to web:41"
                ),
                "{lines:?}"
            );
            // The first phase read the deployments, the old revision and its image: the history
            // adds ListServiceDeployments then DescribeServiceRevisions.
            let actions: Vec<_> = stats.records.iter().map(|r| r.action.as_str()).collect();
            assert_eq!(
                actions,
                ["ecs:ListServiceDeployments", "ecs:DescribeServiceRevisions"],
                "{stats:?}"
            );
            assert_eq!(stats.rounds, 2, "{stats:?}");
        }

        #[tokio::test]
        async fn a_deploy_that_changed_role_subnets_and_image_from_the_service_history() {
            // What moto keeps: DescribeServices shows only the failing deployment.
            let deployments = vec![deployment(
                "ecs-svc/2",
                "PRIMARY",
                NEW,
                DeploymentRolloutState::InProgress,
                None,
                0,
            )];
            let listed = vec![
                brief(
                    "sd-1",
                    ServiceDeploymentStatus::Successful,
                    None,
                    REV_OLD,
                    1_000,
                ),
                brief(
                    "sd-2",
                    ServiceDeploymentStatus::InProgress,
                    None,
                    REV_NEW,
                    2_000,
                ),
            ];
            let (d, stats) = deploy_section(
                clients(deployments, Some(listed), "subnet-0old", OLD_ROLE),
                false,
            )
            .await;
            assert_eq!(d.source.as_deref(), Some("service_revisions"), "{d:#?}");
            assert_eq!(d.failing.service_revision.as_deref(), Some(REV_NEW));
            assert!(!d.rolled_back);
            let settings: Vec<_> = d.differences.iter().map(|x| x.setting.as_str()).collect();
            assert_eq!(settings, ["image", "execution_role", "subnets"], "{d:#?}");
            let subnets = &d.differences[2];
            assert_eq!(
                (subnets.before.as_deref(), subnets.after.as_deref()),
                (Some("subnet-0old"), Some("subnet-0new"))
            );
            assert_eq!(d.differences[1].before.as_deref(), Some(OLD_ROLE));
            assert_eq!(
                (
                    d.differences[0].before_state.as_deref(),
                    d.differences[0].after_state.as_deref()
                ),
                (Some("present"), Some("not_found"))
            );
            assert!(d.explains_failure, "the image changed to a missing one");
            // DescribeServices ∥ ListServiceDeployments → DescribeServiceRevisions → the old
            // revision → its image.
            assert_eq!(stats.calls, 5, "{stats:?}");
        }

        #[tokio::test]
        async fn without_the_service_history_the_family_revision_is_the_last_resort_and_says_so() {
            let deployments = vec![deployment(
                "ecs-svc/2",
                "PRIMARY",
                NEW,
                DeploymentRolloutState::InProgress,
                None,
                0,
            )];
            let (d, _) =
                deploy_section(clients(deployments, None, "subnet-0new", ROLE), false).await;
            assert_eq!(d.status, HistoryStatus::Found);
            assert_eq!(d.source.as_deref(), Some("previous_family_revision"));
            assert!(
                d.reason
                    .as_deref()
                    .unwrap()
                    .contains("AccessDenied: ecs:ListServiceDeployments"),
                "{d:#?}"
            );
            let lines = crate::report::history::deploy_lines(&d);
            assert!(
                lines[0].contains("the service may never have run it"),
                "{lines:?}"
            );
        }

        #[tokio::test]
        async fn a_standalone_task_has_no_deploy_section() {
            let mut f = failed_deploy();
            f.task.group = Some("family:web".into());
            let log = CallLog::default();
            assert_eq!(
                read_history(&clients(vec![], Some(vec![]), "s", ROLE), &log, &f).await,
                None
            );
            assert_eq!(log.calls(), 0);
        }
    }
}
