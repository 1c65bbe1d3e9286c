//! The deploy behind a missing image.

use serde_json::json;

use super::network::console;
use crate::checks::rule::{Doc, Phases, Rule, Stage, ECS_ONLY};
use crate::model::arn::{cluster_name, last_name};
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{service_name, Fact, Facts, PreviousRevisionFacts};

pub const DEPLOY_CHANGE: Rule = Rule {
    code: RootCause::EcsDeployChange,
    name: "deploy_change",
    title: "A service deploy changed the image to one that does not exist",
    stage: Stage::Image,
    // Context for a missing image, never the root cause itself: it explains no message.
    explains: &[],
    phases: Phases::Any,
    scope: ECS_ONLY,
    reads: &[&["ecs:DescribeServices", "ecs:DescribeTaskDefinition", "ecr:DescribeImages"]],
    doc: Doc {
        what: "context, never the root cause: the service deploy that moved to the revision whose image is missing, and whether the image it replaced still exists",
        why: "A deploy that points the service at an image that was never pushed (a typo'd or not yet built tag) \
             makes every new task fail to pull while the previous revision's tasks keep running; after a \
             deployment circuit-breaker rollback the service is healthy again but the failed revision still \
             cannot start. The missing image is the root cause (ECR_IMAGE_NOT_FOUND); this finding names the \
             deploy, the revision before it and whether its image still exists, so the fix is known: push the \
             image, or go back to the revision that worked. Read only for a service task whose ECR image is \
             missing: the service's deployments, the previous revision and its image.",
        fix: "Push the missing image, or roll the service back to the previous revision (aws ecs update-service \
             --task-definition FAMILY:REVISION) when its image still exists; after a circuit-breaker rollback, push \
             the image before deploying the failed revision again.",
        reference: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html",
    },
    run: check_deploy_change,
};

/// The check of [`DEPLOY_CHANGE`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_deploy_change(facts: &Facts) -> Vec<Finding> {
    let code = RootCause::EcsDeployChange;
    let previous = match &facts.deploy.previous {
        Fact::Found { value } => value,
        Fact::NotCollected { .. } => return vec![],
        gap => {
            return vec![Finding::unknown(
                code,
                "Could not tell whether a deploy changed the image",
                gap.gap()
                    .unwrap_or("the service's deployments were not read"),
            )]
        }
    };
    let revision = |arn: Option<&str>| arn.map(last_name).unwrap_or("?").to_string();
    let failing = revision(facts.task.task_definition_arn.as_deref());
    let before = revision(previous.deployment.task_definition.as_deref());
    let Some(td) = previous.task_definition.value() else {
        return vec![Finding::unknown(
            code,
            format!("Could not read {before}, the revision the service ran before {failing}"),
            previous.task_definition.gap().unwrap_or("not read"),
        )];
    };
    let container = facts.failure.container.as_deref();
    let old_image = td.container(container).and_then(|c| c.image.clone());
    let new_image = facts.failure.image.clone().unwrap_or_default();
    let evidence = json!({
        "failing_task_definition": failing,
        "previous_task_definition": before,
        "previous_deployment": previous.deployment.id,
        "previous_deployment_status": previous.deployment.status,
        "previous_rollout_state": previous.deployment.rollout_state,
        "previous_rollout_state_reason": previous.deployment.rollout_state_reason,
        "previous_image": old_image,
        "failing_image": new_image,
    });
    let finding = match (&previous.image, old_image.as_deref()) {
        (Fact::NotCollected { .. }, Some(old)) if !image_changed(facts, old) => Finding::pass(
            code,
            format!("The deploy did not change the image: {before} ran {old} too, so it was removed after that deploy"),
        ),
        (_, None) => Finding::pass(code, format!("{before}, the revision before, has no container {}", container.unwrap_or("?"))),
        (image, Some(old)) => {
            let old_state = match image {
                Fact::Found { .. } => "still exists".to_string(),
                Fact::NotFound { .. } => "is gone too".to_string(),
                other => format!("could not be checked: {}", other.gap().unwrap_or("not read")),
            };
            Finding::warn(
                code,
                format!("The deploy of {failing} changed the image from {old} ({old_state}) to {new_image} (not found)"),
            )
            .remediation(remediation(facts, previous, &failing, &before, old, !image.is_not_found()))
        }
    };
    let mut finding = super::network::spread(finding, evidence).resource(failing);
    if let (Some(region), Some(service), Some(cluster)) = (
        facts.region.as_deref(),
        service_name(&facts.task),
        facts.task.cluster_arn.as_deref(),
    ) {
        finding = finding.console_url(console::service_deployments(
            region,
            cluster_name(cluster),
            service,
        ));
    }
    vec![finding]
}

fn image_changed(facts: &Facts, old: &str) -> bool {
    let container = facts.failure.container.as_deref();
    let current = facts
        .task_definition
        .value()
        .and_then(|td| td.container(container))
        .and_then(|c| c.image.as_deref())
        .or(facts.failure.image.as_deref());
    current != Some(old)
}

fn remediation(
    facts: &Facts,
    previous: &PreviousRevisionFacts,
    failing: &str,
    before: &str,
    old: &str,
    old_exists: bool,
) -> String {
    let new_image = facts.failure.image.as_deref().unwrap_or("the new image");
    let rolled_back = previous.deployment.status.as_deref() == Some("PRIMARY")
        && previous
            .deployment
            .rollout_state_reason
            .as_deref()
            .is_some_and(|r| r.contains("rolling back") || r.contains("rolled back"));
    if rolled_back {
        return format!(
            "The deployment circuit breaker already rolled the service back to {before}. Push {new_image} (or correct the \
             image in the task definition and register a new revision) before deploying {failing} again."
        );
    }
    if !old_exists {
        return format!("Push {new_image}. The image it replaced ({old}) is gone too, so going back to {before} would fail the same way.");
    }
    let service = service_name(&facts.task).unwrap_or("SERVICE");
    let cluster = facts
        .task
        .cluster_arn
        .as_deref()
        .map(cluster_name)
        .unwrap_or("CLUSTER");
    format!(
        "Push {new_image}, or go back to the revision that worked: aws ecs update-service --cluster {cluster} \
         --service {service} --task-definition {before}"
    )
}
