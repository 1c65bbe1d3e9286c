//! Identity checks: who pulls the image, and whether that identity is configured.

use super::console;
use super::ecr::task_definition_suffix;
use crate::diagnosis::{Finding, RootCause};
use crate::facts::{Fact, Facts, TaskDefinitionFacts};
use crate::image_ref::RegistryKind;

/// How the launch type decides who authenticates the pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Puller {
    /// Fargate: only the task execution role can authenticate to ECR or a private registry.
    Fargate,
    /// EC2 / external: the execution role if set, else the container instance role.
    Ec2,
    /// The launch type cannot be told from the facts.
    Undetermined,
}

pub fn puller(facts: &Facts, td: Option<&TaskDefinitionFacts>) -> Puller {
    if facts.task.is_fargate() {
        return Puller::Fargate;
    }
    match facts.task.launch_type.as_deref() {
        Some("EC2" | "EXTERNAL") => return Puller::Ec2,
        Some(_) => return Puller::Undetermined,
        None => {}
    }
    // No launch type in the task (capacity provider): a Fargate-only task definition settles it.
    match td.map(|t| t.requires_compatibilities.as_slice()) {
        Some([only]) if only == "FARGATE" => Puller::Fargate,
        Some(c) if !c.is_empty() && !c.iter().any(|x| x == "FARGATE") => Puller::Ec2,
        _ => Puller::Undetermined,
    }
}

/// IAM_EXECUTION_ROLE_MISSING — on Fargate the image is pulled with the task execution role: with
/// none, ECS cannot get an ECR authorization token (or read private registry credentials) and the
/// pull fails before it starts. On EC2 the container instance role stands in for ECR, but private
/// registry credentials (`repositoryCredentials`) still need an execution role.
pub fn check_execution_role_present(facts: &Facts) -> Vec<Finding> {
    let code = RootCause::IamExecutionRoleMissing;
    let Some(image) = facts.failure.image_ref.as_ref() else { return vec![] };
    let td = match &facts.task_definition {
        Fact::Found { value } => value,
        gap => {
            return vec![Finding::unknown(
                code,
                "Could not check the task execution role",
                gap.gap().unwrap_or_default(),
            )]
        }
    };
    let resource = td.arn.clone().unwrap_or_else(|| "task definition".into());
    let uses_credentials = facts
        .failure
        .container
        .as_deref()
        .and_then(|name| td.containers.iter().find(|c| c.name.as_deref() == Some(name)))
        .is_some_and(|c| c.registry_credentials_secret.is_some());
    let is_ecr = matches!(image.kind, RegistryKind::Ecr { .. });
    if !is_ecr && !uses_credentials {
        // Public images pulled anonymously need no role.
        return vec![];
    }
    let need = match (puller(facts, Some(td)), uses_credentials) {
        (_, true) => "reads the private registry credentials",
        (Puller::Fargate, false) => "pulls from ECR on Fargate",
        (Puller::Ec2, false) => {
            return vec![Finding::pass(code, "EC2 launch type: without an execution role the container instance role pulls from ECR")
                .resource(resource)
                .evidence("execution_role_arn", td.execution_role_arn.clone())]
        }
        (Puller::Undetermined, false) if td.execution_role_arn.is_none() => {
            return vec![Finding::unknown(
                code,
                "No execution role, and the launch type is not known",
                "the task has no launch type and the task definition allows both EC2 and Fargate",
            )
            .resource(resource)]
        }
        (Puller::Undetermined, false) => "pulls from ECR",
    };
    let finding = match &td.execution_role_arn {
        Some(role) => Finding::pass(code, format!("Task definition has an execution role: {role}"))
            .evidence("execution_role_arn", role.as_str())
            .console_url(console::iam_role(facts.region.as_deref().unwrap_or("us-east-1"), role_name(role))),
        None => Finding::fail(code, format!("The task definition has no execution role, which {need}"))
            .evidence("execution_role_arn", serde_json::Value::Null)
            .evidence("launch_type", facts.task.launch_type.clone())
            .remediation(format!(
                "Set executionRoleArn in the task definition{td} to a role trusted by ecs-tasks.amazonaws.com \
                 with the AWS managed policy AmazonECSTaskExecutionRolePolicy (ECR pull{creds}), register a new \
                 revision and deploy it.",
                td = task_definition_suffix(facts),
                creds = if uses_credentials { " plus secretsmanager:GetSecretValue on the credentials secret" } else { "" },
            )),
    };
    vec![finding.resource(resource)]
}

/// `arn:aws:iam::1:role/path/name` → `name`.
pub fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::ecr::fixtures::{facts, IMAGE};
    use crate::diagnosis::Status;
    use crate::facts::ContainerDefinitionFacts;

    #[test]
    fn execution_role_table() {
        // (name, image, launch type, requires compat, role, container uses credentials, expected)
        let role = Some("arn:aws:iam::111122223333:role/ecsTaskExecutionRole");
        let cases: Vec<(&str, &str, Option<&str>, Vec<&str>, Option<&str>, bool, Option<Status>)> = vec![
            ("fargate no role", IMAGE, Some("FARGATE"), vec![], None, false, Some(Status::Fail)),
            ("fargate role", IMAGE, Some("FARGATE"), vec![], role, false, Some(Status::Pass)),
            ("ec2 no role uses instance role", IMAGE, Some("EC2"), vec![], None, false, Some(Status::Pass)),
            ("capacity provider, fargate-only td", IMAGE, None, vec!["FARGATE"], None, false, Some(Status::Fail)),
            ("undetermined no role", IMAGE, None, vec!["EC2", "FARGATE"], None, false, Some(Status::Unknown)),
            ("docker hub anonymous", "nginx:1.25", Some("FARGATE"), vec![], None, false, None),
            ("private registry creds on ec2", "ghcr.io/o/app:1", Some("EC2"), vec![], None, true, Some(Status::Fail)),
        ];
        for (name, image, launch, compat, role, creds, expected) in cases {
            let mut f = facts(image);
            f.failure.container = Some("web".into());
            f.task.launch_type = launch.map(str::to_string);
            if let Fact::Found { value } = &mut f.task_definition {
                value.requires_compatibilities = compat.iter().map(|s| s.to_string()).collect();
                value.execution_role_arn = role.map(str::to_string);
                value.containers = vec![ContainerDefinitionFacts {
                    name: Some("web".into()),
                    image: Some(image.into()),
                    registry_credentials_secret: creds.then(|| "arn:aws:secretsmanager:us-east-1:1:secret:x".into()),
                }];
            }
            let got = check_execution_role_present(&f);
            assert_eq!(got.first().map(|x| x.status), expected, "{name}");
            if expected == Some(Status::Fail) {
                assert!(got[0].remediation.as_deref().unwrap().contains("web:7"), "{name}");
            }
        }
    }

    #[test]
    fn unreadable_task_definition_is_unknown_with_reason() {
        let mut f = facts(IMAGE);
        f.task_definition = Fact::Unreadable { reason: "AccessDenied: ecs:DescribeTaskDefinition".into() };
        let got = check_execution_role_present(&f);
        assert_eq!(got[0].status, Status::Unknown);
        assert!(got[0].evidence["reason"].as_str().unwrap().contains("ecs:DescribeTaskDefinition"));
    }
}
