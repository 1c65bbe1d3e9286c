//! The deploy behind a missing image: the service's deployments (`ecs:DescribeServices`, the
//! same request the network reads make, so it is issued once) and, when another deployment runs
//! another revision, that revision (`ecs:DescribeTaskDefinition`) and whether the failing
//! container's image in it still exists (`ecr:DescribeImages`). Nothing is read when the image
//! exists or the task is not a service's.

use aws_sdk_ecr::types::ImageIdentifier;

use super::{CallLog, Clients};
use crate::model::facts::{service_name, DeployFacts, DeploymentFacts, Fact, Facts, ImageFacts, PreviousRevisionFacts};
use crate::model::image_ref::ImageRef;

/// The deploy's history for any service task (history on): the richer sources than
/// `DescribeServices`, the previous revision's settings. `None` leaves `facts.deploy` as it is.
pub(super) async fn read_history(_clients: &Clients, _log: &CallLog, _facts: &Facts) -> Option<DeployFacts> {
    None
}

fn skipped<T>(why: &str) -> Fact<T> {
    Fact::NotCollected { reason: why.into() }
}

pub(super) async fn read(clients: &Clients, log: &CallLog, facts: &Facts) -> DeployFacts {
    let missing = facts.image_by_tag.is_not_found() || facts.image_by_digest.is_not_found();
    let (Some(service), Some(cluster)) = (service_name(&facts.task), facts.task.cluster_arn.as_deref()) else {
        return DeployFacts { deployments: skipped("not a service's task"), previous: skipped("not a service's task") };
    };
    if !missing || facts.failure.image_ref.as_ref().and_then(|i| i.ecr()).is_none() {
        return DeployFacts { deployments: skipped("the image exists"), previous: skipped("the image exists") };
    }
    let deployments = read_deployments(clients, log, cluster, service).await;
    let failing = facts.task.task_definition_arn.as_deref();
    let previous = match deployments.value().and_then(|d| previous_deployment(d, failing)) {
        Some(deployment) => Fact::found(read_previous(clients, log, facts, deployment.clone()).await),
        None => match &deployments {
            Fact::Found { .. } => skipped("no other deployment of the service runs another revision"),
            Fact::Unreadable { reason, kind } => Fact::Unreadable { reason: reason.clone(), kind: *kind },
            other => Fact::Unreadable {
                reason: other.gap().unwrap_or("the deployments were not read").to_string(),
                kind: crate::model::facts::ErrorKind::Other,
            },
        },
    };
    DeployFacts { deployments, previous }
}

async fn read_deployments(clients: &Clients, log: &CallLog, cluster: &str, service: &str) -> Fact<Vec<DeploymentFacts>> {
    shared!(log,
        "ecs:DescribeServices",
        &["ClusterNotFoundException", "ServiceNotFoundException"],
        clients.ecs.describe_services().cluster(cluster).services(service),
        |out| match out.services().first() {
            Some(svc) => Fact::found(svc.deployments().iter().map(deployment_facts).collect::<Vec<_>>()),
            None => Fact::NotFound {
                detail: out.failures().first().and_then(|f| f.reason()).unwrap_or("service not returned").to_string(),
            },
        },
    )
    .await
}

fn deployment_facts(d: &aws_sdk_ecs::types::Deployment) -> DeploymentFacts {
    DeploymentFacts {
        id: d.id().unwrap_or_default().to_string(),
        status: d.status().map(str::to_string),
        task_definition: d.task_definition().map(str::to_string),
        rollout_state: d.rollout_state().map(|s| s.as_str().to_string()),
        rollout_state_reason: d.rollout_state_reason().map(str::to_string),
        running_count: d.running_count(),
        created_at: d.created_at().map(|t| t.to_string()),
    }
}

/// The deployment that runs another revision than the failing one: the `PRIMARY` one when the
/// failing revision is not primary (a circuit-breaker rollback makes the old revision primary),
/// else the older deployment still running the most tasks.
pub fn previous_deployment<'a>(deployments: &'a [DeploymentFacts], failing: Option<&str>) -> Option<&'a DeploymentFacts> {
    let failing = failing?;
    let others = || deployments.iter().filter(|d| d.task_definition.as_deref().is_some_and(|t| t != failing));
    others()
        .find(|d| d.status.as_deref() == Some("PRIMARY"))
        .or_else(|| others().max_by_key(|d| d.running_count))
}

async fn read_previous(clients: &Clients, log: &CallLog, facts: &Facts, deployment: DeploymentFacts) -> PreviousRevisionFacts {
    let task_definition = super::ecs::read_task_definition(clients, log, deployment.task_definition.as_deref()).await;
    let container = facts.failure.container.as_deref();
    let image_in = |td: Option<&crate::model::facts::TaskDefinitionFacts>| {
        td.and_then(|td| td.container(container)).and_then(|c| c.image.clone())
    };
    let old_image = image_in(task_definition.value());
    // The event may append the resolved digest to the failure's image: compare definitions.
    let current_image = image_in(facts.task_definition.value()).or_else(|| facts.failure.image.clone());
    let image = match old_image.as_deref().map(ImageRef::parse) {
        _ if task_definition.value().is_none() => skipped("the previous revision was not read"),
        None => skipped("the previous revision has no container of that name"),
        Some(Err(_)) => skipped("the previous image reference could not be parsed"),
        Some(Ok(_)) if old_image == current_image => skipped("the image did not change with the deploy"),
        Some(Ok(old)) => read_image(clients, log, &old).await,
    };
    PreviousRevisionFacts { deployment, task_definition, image }
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
    use aws_sdk_ecs::operation::describe_services::{DescribeServicesError, DescribeServicesOutput};
    use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
    use aws_sdk_ecs::types::{ContainerDefinition, Deployment, DeploymentRolloutState, Service, TaskDefinition};
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

    fn deployment(id: &str, status: &str, td: &str, state: DeploymentRolloutState, reason: Option<&str>, running: i32) -> Deployment {
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
                let svc = Service::builder().service_name("web").set_deployments(deployments.clone()).build();
                DescribeServicesOutput::builder().services(svc).build()
            });
        let refused = mock!(aws_sdk_ecs::Client::describe_services).then_error(|| {
            DescribeServicesError::generic(ErrorMetadata::builder().code("AccessDeniedException").message("not authorized").build())
        });
        let old_revision = mock!(aws_sdk_ecs::Client::describe_task_definition)
            .match_requests(|r| r.task_definition() == Some(OLD))
            .then_output(|| {
                let td = TaskDefinition::builder()
                    .task_definition_arn(OLD)
                    .family("web")
                    .revision(41)
                    .container_definitions(ContainerDefinition::builder().name("web").image(OLD_IMAGE).build())
                    .build();
                DescribeTaskDefinitionOutput::builder().task_definition(td).build()
            });
        let present = mock!(aws_sdk_ecr::Client::describe_images)
            .match_requests(|r| r.image_ids().first().and_then(|i| i.image_tag()) == Some("2.4.1"))
            .then_output(|| DescribeImagesOutput::builder().image_details(ImageDetail::builder().image_tags("2.4.1").build()).build());
        let gone = mock!(aws_sdk_ecr::Client::describe_images).then_error(|| {
            DescribeImagesError::generic(ErrorMetadata::builder().code("ImageNotFoundException").message("not found").build())
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
    async fn the_deploy_behind_a_missing_image() {
        use DeploymentRolloutState::{Completed, Failed, InProgress};
        let rolling = vec![
            deployment("ecs-svc/2", "PRIMARY", NEW, InProgress, None, 0),
            deployment("ecs-svc/1", "ACTIVE", OLD, Completed, None, 3),
        ];
        let rolled_back = vec![
            deployment("ecs-svc/3", "PRIMARY", OLD, InProgress, Some("ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1."), 3),
            deployment("ecs-svc/2", "ACTIVE", NEW, Failed, Some("ECS deployment circuit breaker: tasks failed to start."), 0),
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
                assert!(g.remediation.as_deref().unwrap_or_default().contains(fix), "{case}: {:?}", g.remediation);
            }
            assert_eq!(log.calls(), calls, "{case}");
            // Context only: the missing image stays the root cause.
            let d = crate::engine::judge(&f);
            assert_eq!(d.root_cause.code, crate::model::diagnosis::RootCause::EcrImageNotFound, "{case}");
        }
    }

    #[tokio::test]
    async fn nothing_is_read_when_the_image_exists_or_the_task_is_standalone() {
        let log = CallLog::default();
        let mut present = failed_deploy();
        present.image_by_tag = crate::checks::ecr::fixtures::image(crate::checks::ecr::fixtures::OLD, "2.4.2");
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
        assert_eq!(previous_deployment(&rolling, Some(NEW)).map(|d| d.id.as_str()), Some("1"));
        let rolled_back = [d("3", "PRIMARY", OLD, 3), d("2", "ACTIVE", NEW, 0)];
        assert_eq!(previous_deployment(&rolled_back, Some(NEW)).map(|d| d.id.as_str()), Some("3"));
        assert_eq!(previous_deployment(&[d("2", "PRIMARY", NEW, 0)], Some(NEW)), None);
        assert_eq!(previous_deployment(&rolling, None), None);
    }
}
