//! Reads for a missing ECR image or repository, none of them issued when the image exists:
//!
//! * beside the identity reads: the missing image again with `imageStatus = ANY` (archived
//!   images are invisible otherwise) and the registry's pull-through cache rules;
//! * after them, only when the repository has a lifecycle policy: its current images (the
//!   rules' count arithmetic) and, for a service task, the images its other tasks run
//!   (evidence that the missing image existed);
//! * after them, only for an image under a pull-through cache rule: the registry policy, the
//!   pulling role's simulation on the import actions, and the upstream credentials secret's
//!   metadata.

use aws_sdk_ecr::types::{DescribeImagesFilter, ImageIdentifier, ImageStatusFilter};
use aws_sdk_ecs::types::DesiredStatus;

use super::{CallLog, Clients};
use crate::model::facts::service_name;
use crate::model::facts::{
    ErrorKind, Fact, Facts, ImageFacts, MissingImageFacts, PullThroughRuleFacts, RepositoryImages,
    SecretFacts, ServiceTaskImage, SimulationResult,
};
use crate::model::image_ref::ImageRef;
use crate::model::pull::pull_role;
use crate::model::pull::{CREATE_REPOSITORY_ACTION, IMPORT_ACTION};

/// Pages of `DescribeImages` read for the lifecycle arithmetic (1000 images each).
const IMAGE_PAGES: usize = 3;

fn skipped<T>(why: &str) -> Fact<T> {
    Fact::NotCollected { reason: why.into() }
}

fn image_missing(facts: &Facts) -> bool {
    facts.image_by_tag.is_not_found() || facts.image_by_digest.is_not_found()
}

/// The reads that need only the image answers; run beside the identity reads.
pub(super) async fn read_early(
    clients: &Clients,
    log: &CallLog,
    facts: &Facts,
) -> MissingImageFacts {
    let mut out = MissingImageFacts {
        archived: skipped("the image exists"),
        repository_images: skipped("the image exists"),
        service_tasks: skipped("the image exists"),
        pull_through_rules: skipped("the repository and the image exist"),
        registry_policy: skipped("not under a pull-through cache rule"),
        pull_through_simulation: skipped("not under a pull-through cache rule"),
        upstream_secret: skipped("not under a pull-through cache rule"),
    };
    let Some((image, account, region)) = facts.ecr_image() else {
        return MissingImageFacts::default();
    };
    let missing = image_missing(facts);
    let repository_missing = facts.repository.is_not_found();
    if !missing && !repository_missing {
        return out;
    }
    let ecr = clients.ecr_in(region);
    let archived = async {
        if !missing || repository_missing {
            return skipped("the image exists");
        }
        // The pinned digest when that is what is gone, else the tag.
        let id = match (&image.digest, image.effective_tag()) {
            (Some(d), _) if facts.image_by_digest.is_not_found() => {
                ImageIdentifier::builder().image_digest(d).build()
            }
            (_, Some(t)) => ImageIdentifier::builder().image_tag(t).build(),
            _ => return skipped("no tag or digest to look up"),
        };
        shared!(log, scope: region,
            "ecr:DescribeImages",
            &["ImageNotFoundException", "RepositoryNotFoundException"],
            ecr.describe_images()
                .registry_id(account)
                .repository_name(&image.repository)
                .image_ids(id)
                .filter(DescribeImagesFilter::builder().image_status(ImageStatusFilter::Any).build()),
            |out| match out.image_details().first() {
                Some(d) => Fact::found(super::ecr::image_facts(d)),
                None => Fact::NotFound { detail: "image not returned".into() },
            },
        )
        .await
    };
    let rules = async {
        shared!(log, scope: region,
            "ecr:DescribePullThroughCacheRules",
            &[],
            ecr.describe_pull_through_cache_rules().registry_id(account),
            |out| Fact::found(
                out.pull_through_cache_rules()
                    .iter()
                    .filter_map(|r| {
                        Some(PullThroughRuleFacts {
                            ecr_repository_prefix: r.ecr_repository_prefix()?.to_string(),
                            upstream_registry_url: r.upstream_registry_url().map(str::to_string),
                            credential_arn: r.credential_arn().map(str::to_string),
                            custom_role_arn: r.custom_role_arn().map(str::to_string),
                            upstream_repository_prefix: r.upstream_repository_prefix().map(str::to_string),
                        })
                    })
                    .collect::<Vec<_>>(),
            ),
        )
        .await
    };
    let (archived, rules) = tokio::join!(Box::pin(archived), Box::pin(rules));
    out.archived = archived;
    out.pull_through_rules = rules;
    out
}

/// The reads that need the identity answers (lifecycle policy, pulling role).
pub(super) async fn read_late(
    clients: &Clients,
    log: &CallLog,
    facts: &Facts,
    mut out: MissingImageFacts,
) -> MissingImageFacts {
    let Some((image, account, region)) = facts.ecr_image() else {
        return out;
    };
    let ecr = clients.ecr_in(region);
    let archived = out
        .archived
        .value()
        .is_some_and(|i| i.status.as_deref().is_some_and(|s| s != "ACTIVE"));
    let lifecycle =
        image_missing(facts) && !archived && facts.identity.lifecycle_policy.value().is_some();
    let tasks = async {
        if !lifecycle {
            return skipped("no lifecycle policy to judge (or the image is archived)");
        }
        read_service_tasks(clients, log, facts).await
    };
    let rule = out.pull_through_rule(&image.repository).cloned();
    let repo = EcrRepository {
        ecr: &ecr,
        image,
        account,
        region,
    };
    // One round: the lifecycle reads and the pull-through reads each need only the answers above.
    let (images, tasks, registry_policy, simulation, secret) = tokio::join!(
        Box::pin(read_repository_images(log, &repo, lifecycle)),
        Box::pin(tasks),
        Box::pin(read_registry_policy(log, facts, &repo, rule.as_ref())),
        Box::pin(simulate_import(clients, log, facts, &repo, rule.as_ref())),
        Box::pin(read_upstream_secret(clients, log, rule.as_ref()))
    );
    out.repository_images = images;
    out.service_tasks = tasks;
    out.registry_policy = registry_policy;
    out.pull_through_simulation = simulation;
    out.upstream_secret = secret;
    out
}

/// The image's repository and the ECR client of its region.
struct EcrRepository<'a> {
    ecr: &'a aws_sdk_ecr::Client,
    image: &'a ImageRef,
    account: &'a str,
    region: &'a str,
}

/// The repository's current images (up to [`IMAGE_PAGES`] pages), for the lifecycle arithmetic.
async fn read_repository_images(
    log: &CallLog,
    repo: &EcrRepository<'_>,
    lifecycle: bool,
) -> Fact<RepositoryImages> {
    if !lifecycle {
        return skipped("no lifecycle policy to judge (or the image is archived)");
    }
    let EcrRepository {
        ecr,
        image,
        account,
        region,
    } = repo;
    let mut all = RepositoryImages::default();
    let mut token: Option<String> = None;
    for page in 0..IMAGE_PAGES {
        let fact = shared!(log, scope: region,
            "ecr:DescribeImages",
            &["RepositoryNotFoundException"],
            ecr.describe_images()
                .registry_id(*account)
                .repository_name(&image.repository)
                .max_results(1000)
                .set_next_token(token.clone()),
            |out| Fact::found((
                out.image_details().iter().map(super::ecr::image_facts).collect::<Vec<ImageFacts>>(),
                out.next_token().map(str::to_string),
            )),
        )
        .await;
        match fact {
            Fact::Found {
                value: (images, next),
            } => {
                all.images.extend(images);
                token = next;
            }
            // A later page that fails leaves the count a lower bound.
            _ if page > 0 => {
                all.truncated = true;
                return Fact::found(all);
            }
            other => return other.map(|_| RepositoryImages::default()),
        }
        if token.is_none() {
            return Fact::found(all);
        }
    }
    all.truncated = true;
    Fact::found(all)
}

/// The registry policy, which must allow the pull-through import (own registry only).
async fn read_registry_policy(
    log: &CallLog,
    facts: &Facts,
    repo: &EcrRepository<'_>,
    rule: Option<&PullThroughRuleFacts>,
) -> Fact<serde_json::Value> {
    if rule.is_none() {
        return Fact::NotCollected {
            reason: "not under a pull-through cache rule".into(),
        };
    }
    let EcrRepository {
        ecr,
        account,
        region,
        ..
    } = repo;
    // GetRegistryPolicy reads the caller's own registry only.
    if facts.account.as_deref() != Some(*account) {
        return Fact::NotCollected {
            reason: format!("the registry is in account {account}, not the task's"),
        };
    }
    shared!(log, scope: region,
        "ecr:GetRegistryPolicy",
        &["RegistryPolicyNotFoundException"],
        ecr.get_registry_policy(),
        |out| match out.policy_text().and_then(crate::policy::parse_document) {
            Some(doc) => Fact::found(doc),
            None => Fact::Unreadable { reason: "the registry policy is not a JSON object".into(), kind: ErrorKind::Other },
        },
    )
    .await
}

/// May the pulling role import the image (and create its repository, when missing)?
async fn simulate_import(
    clients: &Clients,
    log: &CallLog,
    facts: &Facts,
    repo: &EcrRepository<'_>,
    rule: Option<&PullThroughRuleFacts>,
) -> Fact<Vec<SimulationResult>> {
    if rule.is_none() {
        return Fact::NotCollected {
            reason: "not under a pull-through cache rule".into(),
        };
    }
    let Some(role_arn) = pull_role(facts).and_then(|r| r.arn) else {
        return Fact::NotCollected {
            reason: "no role pulls the image".into(),
        };
    };
    let repository_arn = facts.repository_arn(&role_arn, repo.image, repo.account, repo.region);
    let mut actions = vec![IMPORT_ACTION];
    if facts.repository.is_not_found() {
        actions.push(CREATE_REPOSITORY_ACTION);
    }
    super::identity::simulate(
        &clients.iam,
        log,
        &role_arn,
        &[(actions, vec![repository_arn])],
    )
    .await
}

/// The upstream credentials secret's metadata (never its value).
async fn read_upstream_secret(
    clients: &Clients,
    log: &CallLog,
    rule: Option<&PullThroughRuleFacts>,
) -> Fact<SecretFacts> {
    let Some(arn) = rule.and_then(|r| r.credential_arn.clone()) else {
        return Fact::NotCollected {
            reason: "the pull-through cache rule has no upstream credentials".into(),
        };
    };
    let sm = clients.secretsmanager_in(crate::model::arn::region(&arn).map(str::to_string));
    shared!(
        log,
        "secretsmanager:DescribeSecret",
        &["ResourceNotFoundException"],
        sm.describe_secret().secret_id(&arn),
        |out| Fact::found(SecretFacts {
            arn: out.arn().map(str::to_string),
            name: out.name().map(str::to_string),
            kms_key_id: out.kms_key_id().map(str::to_string),
            shape: Fact::NotCollected {
                reason: "the upstream credentials are never read".into()
            },
        }),
    )
    .await
}

/// The containers of the service's other running and recently stopped tasks (ECS shows stopped
/// tasks for about an hour).
async fn read_service_tasks(
    clients: &Clients,
    log: &CallLog,
    facts: &Facts,
) -> Fact<Vec<ServiceTaskImage>> {
    let Some(service) = service_name(&facts.task) else {
        return Fact::NotCollected {
            reason: "not a service task".into(),
        };
    };
    let Some(cluster) = facts.task.cluster_arn.as_deref() else {
        return Fact::NotCollected {
            reason: "the event names no cluster".into(),
        };
    };
    let list = |status: DesiredStatus| {
        log.read(
            "ecs:ListTasks",
            &[],
            clients
                .ecs
                .list_tasks()
                .cluster(cluster)
                .service_name(service)
                .desired_status(status)
                .max_results(50)
                .send(),
            |out| Fact::found(out.task_arns().to_vec()),
        )
    };
    let (running, stopped) = tokio::join!(
        Box::pin(list(DesiredStatus::Running)),
        Box::pin(list(DesiredStatus::Stopped))
    );
    let mut arns: Vec<String> = vec![];
    for fact in [running, stopped] {
        match fact {
            Fact::Found { value } => arns.extend(value),
            other => return other.map(|_| vec![]),
        }
    }
    arns.retain(|a| Some(a.as_str()) != facts.task.arn.as_deref());
    arns.dedup();
    arns.truncate(100);
    if arns.is_empty() {
        return Fact::found(vec![]);
    }
    let group = format!("service:{service}");
    log.read(
        "ecs:DescribeTasks",
        &[],
        clients
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns))
            .send(),
        |out| {
            Fact::found(
                out.tasks()
                    .iter()
                    // ListTasks filters by service; keep only the service's tasks all the same.
                    .filter(|t| t.group() == Some(group.as_str()))
                    .flat_map(|t| {
                        t.containers().iter().map(move |c| ServiceTaskImage {
                            task_arn: t.task_arn().unwrap_or_default().to_string(),
                            last_status: t.last_status().map(str::to_string),
                            created_at: t.created_at().map(|d| d.to_string()),
                            container: c.name().map(str::to_string),
                            image: c.image().map(str::to_string),
                            image_digest: c.image_digest().map(str::to_string),
                        })
                    })
                    .collect(),
            )
        },
    )
    .await
}

/// The service-task evidence path against mocked ECS and ECR answers shaped like the real API
/// (moto's `DescribeTasks` has no `containers[].imageDigest`).
#[cfg(test)]
mod mock_tests {
    use aws_sdk_ecr::operation::describe_images::{DescribeImagesError, DescribeImagesOutput};
    use aws_sdk_ecr::operation::describe_pull_through_cache_rules::DescribePullThroughCacheRulesOutput;
    use aws_sdk_ecr::types::ImageDetail;
    use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
    use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
    use aws_sdk_ecs::types::{Container, Task};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;
    use serde_json::json;

    use super::*;
    use crate::checks::ecr::fixtures::{not_found, IMAGE, OLD};
    use crate::checks::iam::identity_fixtures::{world, CLUSTER};
    use crate::checks::lifecycle::check_image_expired;
    use crate::model::diagnosis::Status;

    const SIBLING: &str = "arn:aws:ecs:us-east-1:111122223333:task/prod/5ca1ab1e";

    #[tokio::test]
    async fn another_task_of_the_service_still_runs_the_expired_digest() {
        let running = mock!(aws_sdk_ecs::Client::list_tasks)
            .match_requests(|r| {
                r.service_name() == Some("web")
                    && r.desired_status() == Some(&DesiredStatus::Running)
            })
            .then_output(|| ListTasksOutput::builder().task_arns(SIBLING).build());
        let stopped = mock!(aws_sdk_ecs::Client::list_tasks)
            .match_requests(|r| r.desired_status() == Some(&DesiredStatus::Stopped))
            .then_output(|| ListTasksOutput::builder().build());
        let describe = mock!(aws_sdk_ecs::Client::describe_tasks)
            .match_requests(|r| r.tasks() == [SIBLING])
            .then_output(|| {
                DescribeTasksOutput::builder()
                    .tasks(
                        Task::builder()
                            .task_arn(SIBLING)
                            .group("service:web")
                            .last_status("RUNNING")
                            .created_at(aws_smithy_types::DateTime::from_secs(
                                chrono::Utc::now().timestamp() - 3 * 86_400,
                            ))
                            .containers(
                                Container::builder()
                                    .name("web")
                                    .image(IMAGE)
                                    .image_digest(OLD)
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            });
        let ecs = mock_client!(
            aws_sdk_ecs,
            RuleMode::MatchAny,
            [&running, &stopped, &describe]
        );
        // The archive lookup finds nothing; the listing shows the five v* images the rule keeps.
        let archived = mock!(aws_sdk_ecr::Client::describe_images)
            .match_requests(|r| !r.image_ids().is_empty())
            .then_error(|| {
                DescribeImagesError::generic(
                    ErrorMetadata::builder()
                        .code("ImageNotFoundException")
                        .message("not found")
                        .build(),
                )
            });
        let listing = mock!(aws_sdk_ecr::Client::describe_images)
            .match_requests(|r| r.image_ids().is_empty())
            .then_output(|| {
                let mut out = DescribeImagesOutput::builder();
                for (i, tag) in ["v2", "v3", "v4", "v5", "v6"].iter().enumerate() {
                    out = out.image_details(
                        ImageDetail::builder()
                            .image_digest(format!("sha256:{:064x}", i + 100))
                            .image_tags(*tag)
                            .build(),
                    );
                }
                out.build()
            });
        let rules = mock!(aws_sdk_ecr::Client::describe_pull_through_cache_rules)
            .then_output(|| DescribePullThroughCacheRulesOutput::builder().build());
        let ecr = mock_client!(
            aws_sdk_ecr,
            RuleMode::MatchAny,
            [&archived, &listing, &rules]
        );
        let clients = Clients::mocked(ecs, ecr);

        let mut facts = world();
        facts.task.group = Some("service:web".into());
        facts.task.cluster_arn = Some(CLUSTER.into());
        facts.image_by_tag = not_found();
        facts.identity.lifecycle_policy = Fact::found(
            json!({"rules": [{"rulePriority": 1, "description": "keep 5 releases",
            "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"], "countType": "imageCountMoreThan", "countNumber": 5},
            "action": {"type": "expire"}}]}),
        );
        let log = CallLog::default();
        let early = read_early(&clients, &log, &facts).await;
        assert!(early.archived.is_not_found(), "{:?}", early.archived);
        assert_eq!(early.pull_through_rules, Fact::found(vec![]));
        facts.missing_image = read_late(&clients, &log, &facts, early).await;
        let tasks = facts
            .missing_image
            .service_tasks
            .value()
            .expect("service tasks read");
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].image_digest.as_deref(), Some(OLD));
        assert_eq!(
            facts
                .missing_image
                .repository_images
                .value()
                .map(|r| r.images.len()),
            Some(5)
        );
        assert_eq!(
            log.calls(),
            6,
            "archive lookup, rules, listing, 2 × ListTasks, DescribeTasks"
        );

        let got = &check_image_expired(&facts)[0];
        assert_eq!(got.status, Status::Fail, "{got:#?}");
        assert!(got.title.contains("Tag v1 is gone and lifecycle rule 1 of team/app (keeps only the 5 most recent images tagged v*) removed it"), "{}", got.title);
        let why = got.evidence["existed_because"].as_str().unwrap();
        assert!(
            why.contains("task 5ca1ab1e of the same service (running) runs v1 as sha256:1111"),
            "{why}"
        );
    }

    /// With the image present none of these reads is issued.
    #[tokio::test]
    async fn nothing_is_read_when_the_image_exists() {
        let ecs = mock_client!(
            aws_sdk_ecs,
            RuleMode::MatchAny,
            Vec::<&aws_smithy_mocks::Rule>::new()
        );
        let ecr = mock_client!(
            aws_sdk_ecr,
            RuleMode::MatchAny,
            Vec::<&aws_smithy_mocks::Rule>::new()
        );
        let clients = Clients::mocked(ecs, ecr);
        let mut facts = world();
        facts.image_by_tag = crate::checks::ecr::fixtures::image(OLD, "v1");
        facts.identity.lifecycle_policy = Fact::found(json!({"rules": []}));
        let log = CallLog::default();
        let early = read_early(&clients, &log, &facts).await;
        let late = read_late(&clients, &log, &facts, early).await;
        assert_eq!(log.calls(), 0);
        assert!(matches!(late.repository_images, Fact::NotCollected { .. }));
    }
}
