//! Identity checks: who pulls the image, and whether that identity is configured.

use serde_json::json;

use super::console;
use super::permissions::{
    names, principal_context, unresolved_text, verdicts_from_policies, verdicts_from_simulation,
    ActionVerdict, VIA_LOCAL, VIA_SIMULATOR,
};
use super::wording::task_definition_suffix;
use super::wording::words;
use crate::checks::rule::{Doc, Phases, Rule, Stage, ECS_ONLY, ROLE_POLICY_READS};
use crate::model::arn::role_name;
use crate::model::audience::Audience;
use crate::model::audience::Scope;
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{Fact, Facts, RoleFacts, SimulationResult};
use crate::model::image_ref::RegistryKind;
use crate::model::message::Category;
use crate::model::pull::{pull_role, puller, Puller};
use crate::model::pull::{PULL_ACTIONS, TOKEN_ACTION};
use crate::policy::{
    self, direct_grant, matching, statements, with_resource_grant, Context, Decision, Effect,
    Labeled, Principal, Request, StatementRef, Truth,
};

pub const EXECUTION_ROLE_PRESENT: Rule = Rule {
    code: RootCause::IamExecutionRoleMissing,
    name: "execution_role_present",
    title: "The task definition has no execution role to pull from ECR",
    stage: Stage::Identity,
    explains: &[Category::AccessDenied, Category::RegistryCredentials],
    phases: Phases::Any,
    scope: ECS_ONLY,
    reads: &[
        &["ecs:DescribeTaskDefinition"],
    ],
    doc: Doc {
        what: "the task definition has no execution role where one is required",
        why: "On Fargate and on ECS Managed Instances, ECS pulls the image with the task execution role: \
             without one it cannot get an ECR authorization token or read private registry credentials, and \
             the pull fails before it starts. On EC2 the container instance role can pull from ECR instead, \
             but private registry credentials (repositoryCredentials) still need an execution role.",
        fix: "Set executionRoleArn in the task definition to a role trusted by ecs-tasks.amazonaws.com with \
             the AWS managed policy AmazonECSTaskExecutionRolePolicy (plus secretsmanager:GetSecretValue on \
             the credentials secret, if any), register a new revision and deploy it.",
        reference: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html",
    },
    run: check_execution_role_present,
};

/// The check of [`EXECUTION_ROLE_PRESENT`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_execution_role_present(facts: &Facts) -> Vec<Finding> {
    let code = RootCause::IamExecutionRoleMissing;
    let Some(image) = facts.failure.image_ref.as_ref() else {
        return vec![];
    };
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
        .and_then(|name| td.container(Some(name)))
        .is_some_and(|c| c.registry_credentials_secret.is_some());
    let is_ecr = matches!(image.kind, RegistryKind::Ecr { .. });
    if !is_ecr && !uses_credentials {
        // Public images pulled anonymously need no role.
        return vec![];
    }
    let need = match (puller(facts, Some(td)), uses_credentials) {
        (_, true) => "reads the private registry credentials",
        (Puller::Fargate, false) => "pulls from ECR on Fargate",
        (Puller::ManagedInstances, false) => "pulls from ECR on ECS Managed Instances",
        (Puller::Ec2, false) => {
            return vec![Finding::pass(code, "EC2 launch type: without an execution role the container instance role pulls from ECR")
                .resource(resource)
                .evidence("execution_role_arn", td.execution_role_arn.clone())]
        }
        (Puller::Undetermined, false) if td.execution_role_arn.is_none() => {
            return vec![Finding::unknown(
                code,
                "No execution role, and the launch type is not known",
                "the task has no launch type and the task definition allows more than one of EC2, Fargate and \
                 Managed Instances (only on EC2 may the container instance role pull instead)",
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

const ECS_TASKS: &str = "ecs-tasks.amazonaws.com";
/// The service principal that assumes an EKS Fargate pod execution role.
pub const FARGATE_PODS: &str = "eks-fargate-pods.amazonaws.com";

pub const EXECUTION_ROLE_TRUST: Rule = Rule {
    code: RootCause::IamExecutionRoleTrust,
    name: "execution_role_trust",
    title: "The execution role cannot be assumed by ECS tasks",
    stage: Stage::Identity,
    explains: &[Category::AccessDenied, Category::RegistryCredentials],
    phases: Phases::Any,
    scope: &[Scope::Ecs, Scope::EksFargate],
    reads: &[
        &["iam:GetRole"],
    ],
    doc: Doc {
        what: "the execution role cannot be assumed by `ecs-tasks.amazonaws.com`",
        why: "ECS gets the execution role's credentials by assuming it as the service principal \
             ecs-tasks.amazonaws.com (EKS Fargate: eks-fargate-pods.amazonaws.com). If the role was deleted \
             or the ARN is wrong, if its trust policy names another principal (ecs.amazonaws.com, \
             ec2.amazonaws.com…), or if a condition such as aws:SourceAccount or aws:SourceArn does not \
             match, there are no credentials to fetch the registry token or secret and the pull fails before \
             it starts.",
        fix: "Edit the role's trust relationship so that it allows sts:AssumeRole for ecs-tasks.amazonaws.com \
             (optionally limited with aws:SourceAccount), or point the task definition at a role that does; \
             then deploy a new revision.",
        reference: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html",
    },
    run: check_execution_role_trust,
};

/// The check of [`EXECUTION_ROLE_TRUST`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_execution_role_trust(facts: &Facts) -> Vec<Finding> {
    if let Audience::EksFargateProfile {
        profile,
        profile_arn,
    } = &facts.audience
    {
        return execution_role_trust(facts, &pod_execution_role(profile, profile_arn.as_deref()));
    }
    // ECS names the task (or its cluster) as the source; which one is not documented precisely,
    // so a condition holds only if it holds for both.
    let sources: Vec<String> = [facts.task.arn.clone(), facts.task.cluster_arn.clone()]
        .into_iter()
        .flatten()
        .collect();
    let expected = TrustExpectation {
        service: ECS_TASKS,
        role_kind: "execution role",
        managed_policy: "AmazonECSTaskExecutionRolePolicy",
        source_arns: sources,
        reference: match &facts.task.execution_role_override {
            Some(_) => "the executionRoleArn override the task was started with".to_string(),
            None => format!(
                "executionRoleArn in the task definition{}",
                task_definition_suffix(facts)
            ),
        },
        redeploy: if facts.task.execution_role_override.is_some() {
            "start the task again"
        } else {
            "deploy a new revision"
        },
    };
    execution_role_trust(facts, &expected)
}

/// The trust an EKS Fargate pod execution role needs: `eks-fargate-pods.amazonaws.com`, with the
/// profile as `aws:SourceArn` (what the EKS documentation's condition example matches).
fn pod_execution_role(profile: &str, profile_arn: Option<&str>) -> TrustExpectation {
    TrustExpectation {
        service: FARGATE_PODS,
        role_kind: "pod execution role",
        managed_policy: "AmazonEKSFargatePodExecutionRolePolicy",
        source_arns: profile_arn.iter().map(|a| a.to_string()).collect(),
        reference: format!(
            "a new Fargate profile replacing {profile} (a profile cannot be changed)"
        ),
        redeploy: "restart the pods",
    }
}

/// Who must be able to assume the role that pulls, for [`execution_role_trust`].
#[derive(Debug, Clone)]
pub struct TrustExpectation {
    /// `ecs-tasks.amazonaws.com`; `eks-fargate-pods.amazonaws.com` for an EKS Fargate pod
    /// execution role.
    pub service: &'static str,
    /// `execution role`, `pod execution role`.
    pub role_kind: &'static str,
    /// The AWS managed policy the remediation names.
    pub managed_policy: &'static str,
    /// Values of `aws:SourceArn` the service may present; a condition holds only if it holds for all.
    pub source_arns: Vec<String>,
    /// What points at the role (`executionRoleArn in the task definition web:3`).
    pub reference: String,
    /// What makes the change take effect (`deploy a new revision`).
    pub redeploy: &'static str,
}

/// The trust judgement of [`check_execution_role_trust`] for any service principal (an EKS
/// Fargate pod execution role: `eks-fargate-pods.amazonaws.com`).
pub fn execution_role_trust(facts: &Facts, expected: &TrustExpectation) -> Vec<Finding> {
    let code = RootCause::IamExecutionRoleTrust;
    let Some(td) = facts.task_definition.value() else {
        return vec![];
    };
    let Some(arn) = td.execution_role_arn.as_deref() else {
        return vec![];
    };
    let service_name = expected.service;
    let kind = expected.role_kind;
    let url = console::iam_role(
        facts.region.as_deref().unwrap_or("us-east-1"),
        role_name(arn),
    );
    let role = match &facts.identity.execution_role {
        Fact::Found { value } => value,
        Fact::NotFound { detail } => {
            return vec![Finding::fail(
                code,
                format!("The {kind} {} does not exist", role_name(arn)),
            )
            .resource(arn)
            .evidence("execution_role_arn", arn)
            .evidence("iam_answer", detail.as_str())
            .remediation(format!(
                "Create the role {name} trusted by {service_name} with the AWS managed policy \
                     {policy}, or point {reference} at an existing {kind}, then {redeploy}.",
                name = role_name(arn),
                policy = expected.managed_policy,
                reference = expected.reference,
                redeploy = expected.redeploy,
            ))]
        }
        gap => {
            return vec![Finding::unknown(
                code,
                format!("Could not read the {kind}"),
                gap.gap().unwrap_or_default(),
            )
            .resource(arn)]
        }
    };
    let Some(trust) = &role.trust_policy else {
        return vec![Finding::unknown(
            code,
            format!("Could not read the {kind}'s trust policy"),
            "iam:GetRole returned no trust policy",
        )
        .resource(arn)];
    };
    let service = Principal {
        service: Some(service_name.into()),
        ..Default::default()
    };
    let account = facts.account.clone().or_else(|| {
        facts
            .task
            .arn
            .as_deref()
            .and_then(crate::model::arn::account)
            .map(str::to_string)
    });
    let ctx = assume_context(account.as_deref(), expected);
    let req = Request {
        action: "sts:AssumeRole",
        resource: &role.arn,
        principal: Some(&service),
        context: &ctx,
    };
    let doc = Labeled {
        label: "trust policy",
        document: trust,
    };
    let deny = matching(&doc, &req, Effect::Deny);
    let allow = matching(&doc, &req, Effect::Allow);
    let trusted = trusted_principals(trust);
    let base = |f: Finding| {
        f.resource(arn)
            .console_url(url.clone())
            .evidence("execution_role_arn", arn)
            .evidence("trusted_principals", json!(trusted))
    };
    let fix = format!(
        "Edit the trust relationship of role {name} so that it allows sts:AssumeRole for the service principal \
         {service_name}{cond}.",
        name = role.name,
        cond = account
            .as_deref()
            .map(|a| format!(" (optionally limited with aws:SourceAccount = {a})"))
            .unwrap_or_default(),
    );
    let finding = match (deny.truth, allow.truth) {
        (Truth::Yes, _) => base(Finding::fail(code, format!("The trust policy of {} denies {service_name}", role.name)))
            .evidence("statements", statement_list(&deny.statements))
            .remediation(format!("Remove or narrow the Deny statement {}. {fix}", names(&deny.statements))),
        (_, Truth::No) => {
            let others = if trusted.is_empty() { "no service".to_string() } else { trusted.join(", ") };
            let conditional = statements_for_principal(trust, service_name);
            let title = if conditional {
                format!(
                    "The trust policy of {} lets {service_name} assume it only under conditions this {} does not meet",
                    role.name,
                    words(facts).task
                )
            } else {
                format!("The {kind} {} trusts {others}, not {service_name}", role.name)
            };
            base(Finding::fail(code, title)).evidence("task_account", account.clone()).remediation(fix)
        }
        (Truth::Maybe, _) | (_, Truth::Maybe) => base(Finding::unknown(
            code,
            format!("Whether {service_name} may assume {} depends on conditions pulldoctor cannot evaluate", role.name),
            unresolved_text(deny.statements.iter().chain(&allow.statements)),
        ))
        .evidence("statements", statement_list(&allow.statements)),
        (Truth::No, Truth::Yes) => base(Finding::pass(code, format!("The {kind} {} trusts {service_name}", role.name)))
            .evidence("statements", statement_list(&allow.statements)),
    };
    vec![finding]
}

/// What the service's sts:AssumeRole request carries: the task's account, and the source ARNs
/// the expectation names.
fn assume_context(account: Option<&str>, expected: &TrustExpectation) -> Context {
    let mut ctx = Context::new();
    if let Some(a) = account {
        ctx = ctx.set("aws:SourceAccount", a);
    }
    if !expected.source_arns.is_empty() {
        ctx = ctx.one_of("aws:SourceArn", expected.source_arns.clone());
    }
    ctx
}

/// Service principals in Allow statements of a trust policy.
fn trusted_principals(trust: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = statements(trust)
        .into_iter()
        .filter(|s| {
            s.get("Effect")
                .and_then(|e| e.as_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("allow"))
        })
        .filter_map(|s| s.get("Principal"))
        .flat_map(|p| match p {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Object(m) => m
                .values()
                .flat_map(|v| policy::strings(v))
                .map(str::to_string)
                .collect(),
            _ => vec![],
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn statements_for_principal(trust: &serde_json::Value, service: &str) -> bool {
    statements(trust).into_iter().any(|s| {
        s.pointer("/Principal/Service")
            .is_some_and(|v| policy::strings(v).contains(&service))
            && s.get("Condition").is_some()
    })
}

fn statement_list(statements: &[StatementRef]) -> serde_json::Value {
    json!(statements.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

pub const EXECUTION_ROLE_PERMISSIONS: Rule = Rule {
    code: RootCause::IamExecutionRolePermissions,
    name: "execution_role_permissions",
    title: "The execution role lacks ECR pull permissions",
    stage: Stage::Identity,
    explains: &[Category::AccessDenied, Category::RegistryCredentials],
    phases: Phases::Any,
    scope: &[Scope::Ecs, Scope::EksFargate],
    reads: &[
        ROLE_POLICY_READS,
    ],
    doc: Doc {
        what: "the execution role lacks the ECR pull actions on the repository",
        why: "The role that pulls must allow ecr:GetAuthorizationToken on * and ecr:BatchGetImage and \
             ecr:GetDownloadUrlForLayer on the repository. A missing allow, an explicit deny, a permission \
             boundary or an SCP that leaves one out makes ECR answer 403 (not authorized). \
             ecr:BatchCheckLayerAvailability is not needed to pull.",
        fix: "Attach the AWS managed policy AmazonECSTaskExecutionRolePolicy (EKS Fargate: \
             AmazonEKSFargatePodExecutionRolePolicy) to the execution role, or allow those three actions \
             yourself; make sure no deny, boundary or SCP removes them.",
        reference: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html",
    },
    run: check_execution_role_permissions,
};

/// The check of [`EXECUTION_ROLE_PERMISSIONS`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_execution_role_permissions(facts: &Facts) -> Vec<Finding> {
    check_pull_permissions(facts, RootCause::IamExecutionRolePermissions)
}

pub const INSTANCE_ROLE_PERMISSIONS: Rule = Rule {
    code: RootCause::IamInstanceRolePermissions,
    name: "instance_role_permissions",
    title: "The container instance role lacks ECR pull permissions",
    stage: Stage::Identity,
    explains: &[Category::AccessDenied, Category::RegistryCredentials],
    phases: Phases::Any,
    scope: &[Scope::Ecs, Scope::EksNodes],
    reads: &[
        &["ecs:DescribeContainerInstances", "ec2:DescribeInstances", "iam:GetInstanceProfile"],
        ROLE_POLICY_READS,
    ],
    doc: Doc {
        what: "the EC2 container instance role lacks the ECR pull actions (no execution role set)",
        why: "On EC2 without an execution role, the ECS agent (on EKS, the kubelet) pulls from ECR with the \
             instance's role, which needs ecr:GetAuthorizationToken, ecr:BatchGetImage and \
             ecr:GetDownloadUrlForLayer. An instance without an instance profile cannot pull from ECR at all.",
        fix: "Attach AmazonEC2ContainerRegistryReadOnly or AmazonEC2ContainerRegistryPullOnly (ECS instances: \
             AmazonEC2ContainerServiceforEC2Role grants them too) to the instance role, or give the task \
             definition an execution role.",
        reference: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/instance_IAM_role.html",
    },
    run: check_instance_role_permissions,
};

/// The check of [`INSTANCE_ROLE_PERMISSIONS`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_instance_role_permissions(facts: &Facts) -> Vec<Finding> {
    check_pull_permissions(facts, RootCause::IamInstanceRolePermissions)
}

fn check_pull_permissions(facts: &Facts, code: RootCause) -> Vec<Finding> {
    let Some((image, account, region)) = facts.ecr_image() else {
        return vec![];
    };
    let Some(who) = pull_role(facts) else {
        return vec![];
    };
    if who.code != code {
        return vec![];
    }
    let w = words(facts);
    let kind = w.role_kind(code);
    let role = match who.fact {
        Fact::Found { value } => value,
        // A missing execution role is reported by the trust check.
        Fact::NotFound { .. } if code == RootCause::IamExecutionRolePermissions => return vec![],
        Fact::NotFound { detail } => {
            // EKS nodes have no task definition to fall back on.
            let or_execution_role = if facts.audience == Audience::Ecs {
                ", or give the task definition an execution role"
            } else {
                ""
            };
            return vec![Finding::fail(code, format!("The {} has no IAM role to pull from ECR", w.instance))
                .resource(facts.task.container_instance_arn.clone().unwrap_or_default())
                .evidence("detail", detail.as_str())
                .remediation(format!(
                    "Attach an instance profile whose role has the AWS managed policy AmazonEC2ContainerServiceforEC2Role \
                     (or AmazonEC2ContainerRegistryReadOnly, or AmazonEC2ContainerRegistryPullOnly) to the {} (launch template){or_execution_role}.",
                    w.instances
                ))];
        }
        gap => {
            return vec![Finding::unknown(
                code,
                format!("Could not read the {kind}"),
                gap.gap().unwrap_or_default(),
            )
            .resource(who.arn.unwrap_or_default())]
        }
    };
    let repository_arn = facts.repository_arn(&role.arn, image, account, region);
    let (verdicts, via) = match &facts.identity.pull_simulation {
        // Only the actions a pull makes: a snapshot saved by an older version may also hold
        // `ecr:BatchCheckLayerAvailability`, which a pull never calls.
        Fact::Found { value } => {
            let needed: Vec<SimulationResult> = value
                .iter()
                .filter(|r| r.action == TOKEN_ACTION || PULL_ACTIONS.contains(&r.action.as_str()))
                .cloned()
                .collect();
            (verdicts_from_simulation(&needed), VIA_SIMULATOR)
        }
        sim_gap => {
            let (_, mut ctx) = principal_context(&role.arn, Some(role));
            ctx = ctx
                .set("aws:RequestedRegion", region)
                .set("aws:ResourceAccount", account);
            let mut requests: Vec<(&str, &str)> = vec![(TOKEN_ACTION, "*")];
            requests.extend(PULL_ACTIONS.iter().map(|a| (*a, repository_arn.as_str())));
            match verdicts_from_policies(role, &requests, &ctx) {
                Ok(v) => (v, VIA_LOCAL),
                Err(e) => {
                    return vec![Finding::unknown(
                        code,
                        format!(
                            "Could not judge the ECR permissions of the {kind} {}",
                            role.name
                        ),
                        format!("simulator: {}; {e}", sim_gap.gap().unwrap_or("not run")),
                    )
                    .resource(role.arn.clone())]
                }
            }
        }
    };
    let mut verdicts = with_repository_grants(facts, role, &repository_arn, verdicts);
    // Permissions on a repository that does not exist are moot: no grant makes the pull work
    // until it exists (then its own policy counts too). The repository check names the cause.
    if facts.repository.is_not_found() {
        verdicts.retain(|v| v.action == TOKEN_ACTION);
    }
    permissions_finding(facts, code, kind, role, &repository_arn, &verdicts, via)
}

/// Within one account, an allow in the repository policy that names the role suffices for the
/// pull actions even when the role's own policies do not allow them (IAM's same-account rule);
/// the permissions boundary still limits it. Across accounts the identity side's verdict stands
/// (the repository policy check judges the other side).
fn with_repository_grants(
    facts: &Facts,
    role: &RoleFacts,
    repository_arn: &str,
    verdicts: Vec<ActionVerdict>,
) -> Vec<ActionVerdict> {
    let same_account =
        crate::model::arn::account(&role.arn) == crate::model::arn::account(repository_arn);
    let Some(document) = facts
        .identity
        .repository_policy
        .value()
        .filter(|_| same_account)
    else {
        return verdicts;
    };
    let (principal, ctx) = principal_context(&role.arn, Some(role));
    let policy = Labeled {
        label: "repository policy",
        document,
    };
    verdicts
        .into_iter()
        .map(|v| {
            if v.action == TOKEN_ACTION {
                return v;
            }
            let req = Request {
                action: &v.action,
                resource: repository_arn,
                principal: Some(&principal),
                context: &ctx,
            };
            let grant = direct_grant(&policy, &req);
            let boundary_denies = v.why.contains("boundary");
            let decision = with_resource_grant(v.decision, grant.truth, boundary_denies);
            if decision == v.decision {
                return v;
            }
            let why = match decision {
                Decision::Allowed => format!(
                    "allowed by {} (same account: the resource policy's grant suffices)",
                    names(&grant.statements)
                ),
                _ => format!(
                    "{}; {} may grant it: {}",
                    v.why,
                    names(&grant.statements),
                    unresolved_text(grant.statements.iter())
                ),
            };
            ActionVerdict { decision, why, ..v }
        })
        .collect()
}

fn permissions_finding(
    facts: &Facts,
    code: RootCause,
    kind: &str,
    role: &RoleFacts,
    repository_arn: &str,
    verdicts: &[ActionVerdict],
    via: &str,
) -> Vec<Finding> {
    let url = console::iam_role(facts.region.as_deref().unwrap_or("us-east-1"), &role.name);
    let denied: Vec<&ActionVerdict> = verdicts
        .iter()
        .filter(|v| matches!(v.decision, Decision::ExplicitDeny | Decision::ImplicitDeny))
        .collect();
    let unknown: Vec<&ActionVerdict> = verdicts
        .iter()
        .filter(|v| v.decision == Decision::Unknown)
        .collect();
    let evidence = json!(verdicts
        .iter()
        .map(|v| json!({"action": v.action, "resource": v.resource, "decision": v.decision.as_str(), "why": v.why}))
        .collect::<Vec<_>>());
    let finding = if !denied.is_empty() {
        let actions: Vec<&str> = denied.iter().map(|v| v.action.as_str()).collect();
        let explicit = denied.iter().find(|v| v.decision == Decision::ExplicitDeny);
        let fix = match explicit {
            Some(v) => format!("Remove or narrow the deny ({}), then make sure", v.why),
            None => "Make sure".to_string(),
        };
        Finding::fail(code, format!("The {kind} {} may not {}: {}", role.name, actions.join(", "), denied[0].why))
            .remediation(format!(
                "{fix} the {kind} {name} allows ecr:GetAuthorizationToken on * and {pull} on {repository_arn} — the \
                 AWS managed policy {managed} grants them.{boundary}",
                name = role.name,
                pull = PULL_ACTIONS.join(", "),
                managed = if code == RootCause::IamExecutionRolePermissions {
                    words(facts).execution_policy
                } else {
                    "AmazonEC2ContainerRegistryReadOnly (or AmazonEC2ContainerRegistryPullOnly)"
                },
                boundary = if role.permissions_boundary_arn.is_some() || denied.iter().any(|v| v.why.contains("boundary") || v.why.contains("SCP")) {
                    " A permission boundary or SCP must allow these actions too."
                } else {
                    ""
                },
            ))
    } else if !unknown.is_empty() {
        Finding::unknown(
            code,
            format!(
                "Could not fully judge whether the {kind} {} may pull",
                role.name
            ),
            unknown
                .iter()
                .map(|v| format!("{}: {}", v.action, v.why))
                .collect::<Vec<_>>()
                .join("; "),
        )
    } else if facts.repository.is_not_found() {
        Finding::pass(
            code,
            format!(
                "The {kind} {} may get an ECR token; its pull permissions are moot while {} does not exist",
                role.name, repository_arn
            ),
        )
    } else {
        Finding::pass(
            code,
            format!("The {kind} {} may pull from {}", role.name, repository_arn),
        )
    };
    vec![finding
        .resource(role.arn.clone())
        .console_url(url)
        .evidence("role_arn", role.arn.as_str())
        .evidence("repository_arn", repository_arn)
        .evidence("evaluated_with", via)
        .evidence("actions", evidence)]
}

/// Shared by the identity and registry tests: a Fargate task pulling from ECR with an execution
/// role whose trust policy is right and whose simulation allows the pull.
#[cfg(any(test, feature = "fixtures"))]
pub mod identity_fixtures {
    use serde_json::json;

    use crate::checks::ecr::fixtures::{facts, IMAGE};
    use crate::model::facts::{Fact, Facts, RepositoryFacts, RoleFacts, SimulationResult};

    pub const ACCOUNT: &str = "111122223333";
    pub const ROLE: &str = "arn:aws:iam::111122223333:role/ecsTaskExecutionRole";
    pub const REPO_ARN: &str = "arn:aws:ecr:us-east-1:111122223333:repository/team/app";
    pub const TASK: &str = "arn:aws:ecs:us-east-1:111122223333:task/prod/0123456789abcdef";
    pub const CLUSTER: &str = "arn:aws:ecs:us-east-1:111122223333:cluster/prod";

    pub fn trust(service: &str) -> serde_json::Value {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})
    }

    pub fn role(arn: &str) -> RoleFacts {
        RoleFacts {
            arn: arn.into(),
            name: arn.rsplit('/').next().unwrap().into(),
            role_id: Some("AROAEXAMPLEID".into()),
            trust_policy: Some(trust("ecs-tasks.amazonaws.com")),
            ..Default::default()
        }
    }

    pub fn sim(action: &str, decision: &str) -> SimulationResult {
        SimulationResult {
            action: action.into(),
            resource: if action == "ecr:GetAuthorizationToken" {
                "*".into()
            } else {
                REPO_ARN.into()
            },
            decision: decision.into(),
            ..Default::default()
        }
    }

    pub fn all_allowed() -> Vec<SimulationResult> {
        [
            "ecr:GetAuthorizationToken",
            "ecr:BatchCheckLayerAvailability",
            "ecr:GetDownloadUrlForLayer",
            "ecr:BatchGetImage",
        ]
        .iter()
        .map(|a| sim(a, "allowed"))
        .collect()
    }

    pub fn world() -> Facts {
        let mut f = facts(IMAGE);
        f.account = Some(ACCOUNT.into());
        f.region = Some("us-east-1".into());
        f.task.arn = Some(TASK.into());
        f.task.cluster_arn = Some(CLUSTER.into());
        f.task.launch_type = Some("FARGATE".into());
        f.failure.container = Some("web".into());
        f.repository = Fact::found(RepositoryFacts {
            name: "team/app".into(),
            arn: Some(REPO_ARN.into()),
            ..Default::default()
        });
        if let Fact::Found { value } = &mut f.task_definition {
            value.execution_role_arn = Some(ROLE.into());
            value.containers = vec![crate::model::facts::ContainerDefinitionFacts {
                name: Some("web".into()),
                image: Some(IMAGE.into()),
                registry_credentials_secret: None,
                ..Default::default()
            }];
        }
        f.identity.execution_role = Fact::found(role(ROLE));
        f.identity.pull_simulation = Fact::found(all_allowed());
        f.identity.repository_policy = Fact::NotFound {
            detail: "RepositoryPolicyNotFoundException".into(),
        };
        f
    }
}
