//! Identity reads, and the round they run in: the role that pulls (execution role, or on EC2 the
//! container instance's role through instance → profile → role), its trust policy, whether it may
//! pull (`iam:SimulatePrincipalPolicy`, else its policy documents for the local evaluator), and the
//! registry secret's *shape*; beside them the repository's reads (policy, lifecycle policy,
//! manifest: [`super::ecr`]).
//!
//! Runs after the task, task definition and image reads, because it needs their answers to know
//! what to read. Reads are issued concurrently in three rounds:
//! 1. role(s), container instance chain, repository policy, lifecycle policy (image gone only),
//!    manifest (platform / disk / unknown failures only), secret metadata and shape, and — as the
//!    execution role's ARN names it — that role's pull simulation and policy lists;
//! 2. the other simulations: an instance role's (ECR actions), the execution role's (secret, KMS key);
//! 3. policy documents, only for a role whose simulation could not run (the managed ones take
//!    `GetPolicy` then `GetPolicyVersion`).
//!
//! Secret values are read only to learn which keys exist; the value never leaves
//! [`secret_shape`].

use aws_sdk_iam::types::{PolicyEvaluationDecisionType, Role};
use serde_json::Value;

use super::ecr::{
    not_private_ecr, read_lifecycle_policy, read_manifest, read_repository_policy, EcrImage,
};
use super::{parsed, CallLog, Clients};
use crate::model::arn::kms_key_arn;
use crate::model::facts::{
    ContainerInstanceFacts, Fact, Facts, IdentityFacts, LaunchType, PolicyFacts, PolicyKind,
    RoleFacts, SecretFacts, SecretShape, SimulationResult,
};
use crate::model::pull::{puller, Puller};
use crate::model::pull::{PULL_ACTIONS, TOKEN_ACTION};
use crate::policy::parse_document;

const NO_SUCH_ENTITY: &[&str] = &["NoSuchEntity", "NoSuchEntityException"];

/// `supplied_instance_role`: see [`super::Supplied::instance_role_arn`].
// Three rounds, each waiting for the answers the next one needs (see the module comment).
pub(super) async fn read(
    clients: &Clients,
    log: &CallLog,
    facts: &Facts,
    supplied_instance_role: Option<&str>,
) -> IdentityFacts {
    let iam = clients.iam.clone();
    let td = facts.task_definition.value();
    let ecr = facts.ecr_image();
    let who = puller(facts, td);
    let execution_role_arn = td.and_then(|t| t.execution_role_arn.as_deref());
    let secret_id = td.and_then(|t| {
        let name = facts.failure.container.as_deref()?;
        t.container(Some(name))?
            .registry_credentials_secret
            .as_deref()
    });

    // Round 1: everything the task definition and the image answers name.
    let (mut execution_role, (container_instance, mut instance_role), repository_policy, lifecycle_policy, manifest, registry_secret, early_pull_simulation, ()) =
        // Boxed: these futures are large, and tokio worker threads have small stacks.
        tokio::join!(
            Box::pin(read_execution_role(&iam, log, execution_role_arn)),
            Box::pin(read_instance_role(clients, &iam, log, facts, who, execution_role_arn.is_none(), supplied_instance_role)),
            Box::pin(read_repository_policy(clients, log, ecr)),
            Box::pin(read_lifecycle_policy(clients, log, facts, ecr)),
            Box::pin(read_manifest(clients, log, facts, ecr)),
            Box::pin(read_registry_secret(clients, log, facts, secret_id)),
            Box::pin(read_early_pull_simulation(&iam, log, facts, execution_role_arn, ecr)),
            Box::pin(list_policies_early(&iam, log, execution_role_arn, ecr.is_some() || secret_id.is_some())),
        );

    // Round 2: who pulls, may they, and may the execution role read the secret.
    let pull_role = match (execution_role_arn, who) {
        (Some(_), _) => Some(&execution_role),
        (None, Puller::Ec2) => Some(&instance_role),
        (None, _) => None,
    };
    let pull_simulation = read_pull_simulation(
        &iam,
        log,
        facts,
        ecr,
        pull_role,
        execution_role_arn,
        early_pull_simulation,
    );
    let secret_simulation = simulate_secret_read(&iam, log, &registry_secret, &execution_role);
    let (pull_simulation, secret_simulation) =
        tokio::join!(Box::pin(pull_simulation), Box::pin(secret_simulation));

    // Round 3: the local evaluator needs documents for each role whose simulation failed.
    let exec_needs_docs = (matches!(pull_simulation, Fact::Unreadable { .. })
        && execution_role_arn.is_some())
        || matches!(secret_simulation, Fact::Unreadable { .. });
    let instance_needs_docs =
        matches!(pull_simulation, Fact::Unreadable { .. }) && execution_role_arn.is_none();
    tokio::join!(
        Box::pin(read_policies_if(
            &iam,
            log,
            &mut execution_role,
            exec_needs_docs
        )),
        Box::pin(read_policies_if(
            &iam,
            log,
            &mut instance_role,
            instance_needs_docs
        )),
    );

    IdentityFacts {
        execution_role,
        container_instance,
        instance_role,
        pull_simulation,
        repository_policy,
        lifecycle_policy,
        manifest,
        registry_secret,
        secret_simulation,
    }
}

async fn read_execution_role(
    iam: &aws_sdk_iam::Client,
    log: &CallLog,
    arn: Option<&str>,
) -> Fact<RoleFacts> {
    match arn {
        Some(arn) => get_role(iam, log, arn).await,
        None => Fact::NotCollected {
            reason: "the task definition has no execution role".into(),
        },
    }
}

/// The container instance and, when it pulls (EC2 without an execution role), its role.
async fn read_instance_role(
    clients: &Clients,
    iam: &aws_sdk_iam::Client,
    log: &CallLog,
    facts: &Facts,
    who: Puller,
    no_execution_role: bool,
    supplied_instance_role: Option<&str>,
) -> (Fact<ContainerInstanceFacts>, Fact<RoleFacts>) {
    let on_ec2 = who == Puller::Ec2 || facts.task.launch_type == Some(LaunchType::Ec2);
    // Managed Instances: the container instance's attributes tell the platform; its role
    // never pulls (the execution role does), so it is not read.
    let managed = who == Puller::ManagedInstances;
    match (&facts.task.container_instance_arn, &facts.task.cluster_arn) {
        _ if on_ec2 && supplied_instance_role.is_some() => {
            let arn = supplied_instance_role.unwrap_or_default();
            let why = "no ECS container instance: the instance role was given (EKS node role)";
            (
                Fact::NotCollected { reason: why.into() },
                get_role(iam, log, arn).await,
            )
        }
        (Some(ci), Some(cluster)) if on_ec2 || managed => {
            read_instance_chain(clients, iam, log, cluster, ci, on_ec2 && no_execution_role).await
        }
        _ if on_ec2 || managed => {
            let why = "the task names no container instance (it may never have been placed)";
            (
                Fact::NotCollected { reason: why.into() },
                Fact::NotCollected { reason: why.into() },
            )
        }
        _ => {
            let why = "not an EC2 launch type task";
            (
                Fact::NotCollected { reason: why.into() },
                Fact::NotCollected { reason: why.into() },
            )
        }
    }
}

async fn read_registry_secret(
    clients: &Clients,
    log: &CallLog,
    facts: &Facts,
    secret_id: Option<&str>,
) -> Fact<SecretFacts> {
    match secret_id {
        Some(id) => read_secret(clients, log, id, facts.region.as_deref()).await,
        None => Fact::NotCollected {
            reason: "the container uses no private registry credentials".into(),
        },
    }
}

/// The execution role's simulation needs only its ARN, which the task definition names: it
/// runs beside GetRole instead of after it (one dependent round less). Its answer is used
/// only if GetRole then finds the role.
async fn read_early_pull_simulation(
    iam: &aws_sdk_iam::Client,
    log: &CallLog,
    facts: &Facts,
    execution_role_arn: Option<&str>,
    ecr: EcrImage<'_>,
) -> Option<Fact<Vec<SimulationResult>>> {
    let (Some(arn), Some((image, account, region))) = (execution_role_arn, ecr) else {
        return None;
    };
    if !arn.starts_with("arn:") {
        return None;
    }
    let repository_arn = facts.repository_arn(arn, image, account, region);
    Some(simulate_pull(iam, log, arn, &repository_arn).await)
}

/// The execution role's policy lists (inline names, attached managed policies), beside `GetRole`
/// and the simulation rather than after a failed one: the role name is in the task definition's
/// ARN. When the simulator answers they go unused (two calls); when it cannot (not granted,
/// unsupported), the documents are read one dependent round sooner. [`read_policies`] finds
/// them in the call log instead of asking again.
async fn list_policies_early(
    iam: &aws_sdk_iam::Client,
    log: &CallLog,
    execution_role_arn: Option<&str>,
    simulated: bool,
) {
    let Some(arn) = execution_role_arn.filter(|a| a.starts_with("arn:") && simulated) else {
        return;
    };
    let name = crate::model::arn::role_name(arn);
    tokio::join!(
        Box::pin(list_inline(iam, log, name)),
        Box::pin(list_attached(iam, log, name))
    );
}

async fn list_inline(iam: &aws_sdk_iam::Client, log: &CallLog, role: &str) -> Fact<Vec<String>> {
    shared!(
        log,
        "iam:ListRolePolicies",
        NO_SUCH_ENTITY,
        iam.list_role_policies().role_name(role),
        |out| { Fact::found(out.policy_names().to_vec()) }
    )
    .await
}

/// (name, ARN) of each managed policy attached to `role`.
async fn list_attached(
    iam: &aws_sdk_iam::Client,
    log: &CallLog,
    role: &str,
) -> Fact<Vec<(String, String)>> {
    shared!(
        log,
        "iam:ListAttachedRolePolicies",
        NO_SUCH_ENTITY,
        iam.list_attached_role_policies().role_name(role),
        |out| {
            Fact::found(
                out.attached_policies()
                    .iter()
                    .filter_map(|p| {
                        Some((
                            p.policy_name().unwrap_or_default().to_string(),
                            p.policy_arn()?.to_string(),
                        ))
                    })
                    .collect::<Vec<_>>(),
            )
        },
    )
    .await
}

/// May the pulling role pull: the early simulation when that role is the execution role.
async fn read_pull_simulation(
    iam: &aws_sdk_iam::Client,
    log: &CallLog,
    facts: &Facts,
    ecr: EcrImage<'_>,
    pull_role: Option<&Fact<RoleFacts>>,
    execution_role_arn: Option<&str>,
    early: Option<Fact<Vec<SimulationResult>>>,
) -> Fact<Vec<SimulationResult>> {
    let Some((image, account, region)) = ecr else {
        return not_private_ecr();
    };
    let Some(role) = pull_role else {
        return Fact::NotCollected {
            reason: "no role pulls the image (see the execution role check)".into(),
        };
    };
    let Some(role) = role.value() else {
        return Fact::NotCollected {
            reason: format!(
                "the pulling role could not be read: {}",
                role.gap().unwrap_or_default()
            ),
        };
    };
    if let (Some(early), true) = (early, execution_role_arn == Some(role.arn.as_str())) {
        return early;
    }
    let repository_arn = facts.repository_arn(&role.arn, image, account, region);
    simulate_pull(iam, log, &role.arn, &repository_arn).await
}

/// May the execution role read the registry secret (and decrypt it with its KMS key).
async fn simulate_secret_read(
    iam: &aws_sdk_iam::Client,
    log: &CallLog,
    registry_secret: &Fact<SecretFacts>,
    execution_role: &Fact<RoleFacts>,
) -> Fact<Vec<SimulationResult>> {
    let Some(secret) = registry_secret.value() else {
        return Fact::NotCollected {
            reason: "the registry secret was not read".into(),
        };
    };
    let Some(role) = execution_role.value() else {
        return Fact::NotCollected {
            reason: "no readable execution role".into(),
        };
    };
    let Some(secret_arn) = &secret.arn else {
        return Fact::NotCollected {
            reason: "the secret ARN is not known".into(),
        };
    };
    let mut requests = vec![(
        vec!["secretsmanager:GetSecretValue"],
        vec![secret_arn.clone()],
    )];
    if let Some(key) = secret
        .kms_key_id
        .as_deref()
        .and_then(|k| kms_key_arn(k, secret_arn))
    {
        requests.push((vec!["kms:Decrypt"], vec![key]));
    }
    simulate(iam, log, &role.arn, &requests).await
}

async fn read_policies_if(
    iam: &aws_sdk_iam::Client,
    log: &CallLog,
    role: &mut Fact<RoleFacts>,
    needed: bool,
) {
    match role {
        Fact::Found { value } if needed => read_policies(iam, log, value).await,
        _ => {}
    }
}

pub(crate) async fn get_role(
    iam: &aws_sdk_iam::Client,
    log: &CallLog,
    arn: &str,
) -> Fact<RoleFacts> {
    shared!(
        log,
        "iam:GetRole",
        NO_SUCH_ENTITY,
        iam.get_role().role_name(crate::model::arn::role_name(arn)),
        |out| {
            match out.role() {
                Some(role) => Fact::found(role_facts(role)),
                None => Fact::NotFound {
                    detail: "role not returned".into(),
                },
            }
        }
    )
    .await
}

pub(crate) fn role_facts(role: &Role) -> RoleFacts {
    RoleFacts {
        arn: role.arn().to_string(),
        name: role.role_name().to_string(),
        role_id: Some(role.role_id().to_string()).filter(|s| !s.is_empty()),
        trust_policy: role.assume_role_policy_document().and_then(parse_document),
        permissions_boundary_arn: role
            .permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn())
            .map(str::to_string),
        tags: role
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        policies: Fact::NotCollected {
            reason: "the policy simulator answered".into(),
        },
        boundary: Fact::NotCollected {
            reason: "the policy simulator answered".into(),
        },
    }
}

/// EC2: container instance → EC2 instance → instance profile → role.
async fn read_instance_chain(
    clients: &Clients,
    iam: &aws_sdk_iam::Client,
    log: &CallLog,
    cluster: &str,
    container_instance: &str,
    need_role: bool,
) -> (Fact<ContainerInstanceFacts>, Fact<RoleFacts>) {
    let mut ci = shared!(
        log,
        "ecs:DescribeContainerInstances",
        &[],
        clients
            .ecs
            .describe_container_instances()
            .cluster(cluster)
            .container_instances(container_instance),
        |out| match out.container_instances().first() {
            Some(c) => {
                let attribute = |name: &str| {
                    c.attributes()
                        .iter()
                        .find(|a| a.name() == name)
                        .and_then(|a| a.value())
                        .map(str::to_string)
                };
                Fact::found(ContainerInstanceFacts {
                    arn: c
                        .container_instance_arn()
                        .unwrap_or(container_instance)
                        .to_string(),
                    ec2_instance_id: c.ec2_instance_id().map(str::to_string),
                    cpu_architecture: attribute("ecs.cpu-architecture"),
                    os_type: attribute("ecs.os-type"),
                    os_family: attribute("ecs.os-family"),
                    instance_profile_arn: None,
                })
            }
            None => Fact::NotFound {
                detail: out
                    .failures()
                    .first()
                    .and_then(|f| f.reason())
                    .unwrap_or("container instance not returned")
                    .to_string(),
            },
        },
    )
    .await;
    if !need_role {
        return (
            ci,
            Fact::NotCollected {
                reason: "the execution role pulls, not the instance's role".into(),
            },
        );
    }
    let Some(instance_id) = ci.value().and_then(|c| c.ec2_instance_id.clone()) else {
        let why = format!(
            "the container instance could not be read: {}",
            ci.gap().unwrap_or("no EC2 instance id")
        );
        return (ci, Fact::NotCollected { reason: why });
    };
    let ec2 = clients.ec2.clone();
    let profile: Fact<Option<String>> = shared!(
        log,
        "ec2:DescribeInstances",
        &["InvalidInstanceID.NotFound"],
        ec2.describe_instances().instance_ids(&instance_id),
        |out| {
            let instance = out.reservations().iter().flat_map(|r| r.instances()).next();
            match instance {
                Some(i) => Fact::found(
                    i.iam_instance_profile()
                        .and_then(|p| p.arn())
                        .map(str::to_string),
                ),
                None => Fact::NotFound {
                    detail: format!("instance {instance_id} not returned"),
                },
            }
        },
    )
    .await;
    let profile_arn = match profile {
        Fact::Found { value: Some(arn) } => arn,
        Fact::Found { value: None } => {
            return (
                ci,
                Fact::NotFound {
                    detail: format!("EC2 instance {instance_id} has no instance profile"),
                },
            )
        }
        other => {
            let why = format!("ec2:DescribeInstances: {}", other.gap().unwrap_or_default());
            return (ci, Fact::NotCollected { reason: why });
        }
    };
    if let Fact::Found { value } = &mut ci {
        value.instance_profile_arn = Some(profile_arn.clone());
    }
    let role = shared!(
        log,
        "iam:GetInstanceProfile",
        NO_SUCH_ENTITY,
        iam.get_instance_profile()
            .instance_profile_name(crate::model::arn::last_name(&profile_arn)),
        |out| match out.instance_profile().and_then(|p| p.roles().first()) {
            Some(role) => Fact::found(role_facts(role)),
            None => Fact::NotFound {
                detail: format!("instance profile {profile_arn} has no role")
            },
        },
    )
    .await;
    (ci, role)
}

/// One simulation call: IAM evaluates every action against every listed resource, so asking
/// for the three actions on `*` and on the repository and keeping the pairs that matter (the
/// token on `*`, the pull actions on the repository) answers both questions at once.
async fn simulate_pull(
    iam: &aws_sdk_iam::Client,
    log: &CallLog,
    role_arn: &str,
    repository_arn: &str,
) -> Fact<Vec<SimulationResult>> {
    let mut actions = vec![TOKEN_ACTION];
    actions.extend(PULL_ACTIONS);
    let requests = vec![(actions, vec!["*".to_string(), repository_arn.to_string()])];
    simulate(iam, log, role_arn, &requests)
        .await
        .map(|results| {
            results
                .into_iter()
                .filter(|r| {
                    if r.action == TOKEN_ACTION {
                        r.resource == "*"
                    } else {
                        r.resource != "*"
                    }
                })
                .collect()
        })
}

/// `iam:SimulatePrincipalPolicy` for each (actions, resource) pair, concurrently. Any failure
/// makes the whole fact unreadable, so the caller falls back to the local evaluator.
pub(crate) async fn simulate(
    iam: &aws_sdk_iam::Client,
    log: &CallLog,
    role_arn: &str,
    requests: &[(Vec<&str>, Vec<String>)],
) -> Fact<Vec<SimulationResult>> {
    let calls = requests.iter().map(|(actions, resources)| {
        let call = iam
            .simulate_principal_policy()
            .policy_source_arn(role_arn)
            .set_action_names(Some(actions.iter().map(|a| a.to_string()).collect()))
            .set_resource_arns(Some(resources.clone()));
        let resource = resources.first().cloned().unwrap_or_default();
        shared!(
            log,
            "iam:SimulatePrincipalPolicy",
            NO_SUCH_ENTITY,
            call,
            move |out| {
                Fact::found(
                    out.evaluation_results()
                        .iter()
                        .map(|r| SimulationResult {
                            action: r.eval_action_name().to_string(),
                            resource: r.eval_resource_name().unwrap_or(&resource).to_string(),
                            decision: match r.eval_decision() {
                                PolicyEvaluationDecisionType::Allowed => "allowed".to_string(),
                                PolicyEvaluationDecisionType::ExplicitDeny => {
                                    "explicitDeny".to_string()
                                }
                                PolicyEvaluationDecisionType::ImplicitDeny => {
                                    "implicitDeny".to_string()
                                }
                                other => other.as_str().to_string(),
                            },
                            matched_policies: {
                                let mut ids: Vec<String> = r
                                    .matched_statements()
                                    .iter()
                                    .filter_map(|s| s.source_policy_id())
                                    .map(str::to_string)
                                    .collect();
                                ids.dedup();
                                ids
                            },
                            missing_context: r.missing_context_values().to_vec(),
                            allowed_by_boundary: r
                                .permissions_boundary_decision_detail()
                                .map(|d| d.allowed_by_permissions_boundary()),
                            allowed_by_organizations: r
                                .organizations_decision_detail()
                                .map(|d| d.allowed_by_organizations()),
                        })
                        .collect(),
                )
            }
        )
    });
    let mut all = vec![];
    for fact in futures_util::future::join_all(calls).await {
        match fact {
            Fact::Found { value } => all.extend(value),
            other => return other,
        }
    }
    Fact::found(all)
}

/// Inline policies, attached managed policies (default version) and the permission boundary.
pub(crate) async fn read_policies(iam: &aws_sdk_iam::Client, log: &CallLog, role: &mut RoleFacts) {
    let name = role.name.clone();
    let inline = async {
        let names = list_inline(iam, log, &name).await;
        let Fact::Found { value: names } = names else {
            return names.map(|_| vec![]);
        };
        let docs = names.iter().map(|policy| {
            let name = &name;
            async move {
                let document = shared!(
                    log,
                    "iam:GetRolePolicy",
                    NO_SUCH_ENTITY,
                    iam.get_role_policy().role_name(name).policy_name(policy),
                    |out| parsed(Some(out.policy_document()), "inline policy"),
                )
                .await;
                PolicyFacts {
                    kind: PolicyKind::Inline,
                    name: policy.clone(),
                    arn: None,
                    version: None,
                    document,
                }
            }
        });
        Fact::found(futures_util::future::join_all(docs).await)
    };
    let managed = async {
        let attached = list_attached(iam, log, &name).await;
        let Fact::Found { value: attached } = attached else {
            return attached.map(|_| vec![]);
        };
        let docs = attached
            .iter()
            .map(|(name, arn)| managed_policy(iam, log, PolicyKind::Managed, name, arn));
        Fact::found(futures_util::future::join_all(docs).await)
    };
    let boundary = async {
        match &role.permissions_boundary_arn {
            Some(arn) => {
                let name = crate::model::arn::role_name(arn).to_string();
                Fact::found(managed_policy(iam, log, PolicyKind::Boundary, &name, arn).await)
            }
            None => Fact::NotFound {
                detail: "the role has no permission boundary".into(),
            },
        }
    };
    let (inline, managed, boundary) = tokio::join!(inline, managed, boundary);
    role.policies = match (inline, managed) {
        (Fact::Found { value: mut a }, Fact::Found { value: b }) => {
            a.extend(b);
            Fact::found(a)
        }
        (Fact::Found { .. }, gap) | (gap, _) => gap,
    };
    role.boundary = boundary;
}

async fn managed_policy(
    iam: &aws_sdk_iam::Client,
    log: &CallLog,
    kind: PolicyKind,
    name: &str,
    arn: &str,
) -> PolicyFacts {
    let version = shared!(
        log,
        "iam:GetPolicy",
        NO_SUCH_ENTITY,
        iam.get_policy().policy_arn(arn),
        |out| {
            match out.policy().and_then(|p| p.default_version_id()) {
                Some(v) => Fact::found(v.to_string()),
                None => Fact::NotFound {
                    detail: "policy has no default version".into(),
                },
            }
        }
    )
    .await;
    let document = match &version {
        Fact::Found { value } => {
            let req = iam.get_policy_version().policy_arn(arn).version_id(value);
            let key = format!("{:?}", req.as_input());
            // A version of an AWS managed policy never changes: a warm container keeps it for its
            // life, so after the cache's TTL only `GetPolicy` (is it still the default?) is asked.
            let lasting = is_aws_managed(arn);
            log.read_shared_kept(
                "iam:GetPolicyVersion",
                key,
                lasting,
                NO_SUCH_ENTITY,
                Box::pin(req.send()),
                |out| {
                    parsed(
                        out.policy_version().and_then(|v| v.document()),
                        "managed policy",
                    )
                },
            )
            .await
        }
        gap => gap.clone().map(|_| Value::Null),
    };
    PolicyFacts {
        kind,
        name: name.to_string(),
        arn: Some(arn.to_string()),
        version: version.value().cloned(),
        document,
    }
}

/// `arn:aws:iam::aws:policy/…` (any partition): a policy AWS publishes, whose versions are the
/// same in every account and never edited (a change is a new version).
fn is_aws_managed(arn: &str) -> bool {
    arn.split(':').nth(4) == Some("aws")
        && arn
            .split(':')
            .nth(5)
            .is_some_and(|r| r.starts_with("policy/"))
}

async fn read_secret(
    clients: &Clients,
    log: &CallLog,
    id: &str,
    task_region: Option<&str>,
) -> Fact<SecretFacts> {
    let region = crate::model::arn::region(id)
        .map(str::to_string)
        .or_else(|| task_region.map(str::to_string));
    let sm = clients.secretsmanager_in(region);
    read_secret_with(&sm, log, id).await
}

pub(crate) async fn read_secret_with(
    sm: &aws_sdk_secretsmanager::Client,
    log: &CallLog,
    id: &str,
) -> Fact<SecretFacts> {
    let described = shared!(
        log,
        "secretsmanager:DescribeSecret",
        &["ResourceNotFoundException"],
        sm.describe_secret().secret_id(id),
        |out| {
            Fact::found(SecretFacts {
                arn: out.arn().map(str::to_string),
                name: out.name().map(str::to_string),
                kms_key_id: out
                    .kms_key_id()
                    .filter(|k| *k != "alias/aws/secretsmanager")
                    .map(str::to_string),
                shape: Fact::NotCollected {
                    reason: "not read".into(),
                },
            })
        }
    )
    .await;
    let Fact::Found { value: mut secret } = described else {
        return described;
    };
    secret.shape = log
        .read(
            "secretsmanager:GetSecretValue",
            &["ResourceNotFoundException"],
            sm.get_secret_value().secret_id(id).send(),
            |out| {
                Fact::found(secret_shape(
                    out.secret_string(),
                    out.secret_binary().is_some(),
                ))
            },
        )
        .await;
    Fact::found(secret)
}

/// The shape of a registry credentials secret: which keys it has. The value is parsed here and
/// dropped; nothing of it but booleans leaves this function.
pub fn secret_shape(secret_string: Option<&str>, binary: bool) -> SecretShape {
    let Some(text) = secret_string else {
        return SecretShape {
            binary,
            ..Default::default()
        };
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => {
            let non_empty = |k: &str| {
                map.get(k)
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
            };
            SecretShape {
                json_object: true,
                has_username: map.contains_key("username"),
                has_password: map.contains_key("password"),
                values_are_strings: non_empty("username") && non_empty("password"),
                binary,
            }
        }
        _ => SecretShape {
            binary,
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::arn::repository_arn;

    #[test]
    fn secret_shape_table() {
        let cases = [
            (
                Some(r#"{"username":"u","password":"p"}"#),
                true,
                true,
                true,
                true,
            ),
            (Some(r#"{"username":"u"}"#), true, true, false, false),
            (
                Some(r#"{"user":"u","pass":"p"}"#),
                true,
                false,
                false,
                false,
            ),
            (
                Some(r#"{"username":"","password":"p"}"#),
                true,
                true,
                true,
                false,
            ),
            (Some("plain-token"), false, false, false, false),
            (Some("[1,2]"), false, false, false, false),
            (None, false, false, false, false),
        ];
        for (text, json_object, u, p, strings) in cases {
            let s = secret_shape(text, false);
            assert_eq!(
                (
                    s.json_object,
                    s.has_username,
                    s.has_password,
                    s.values_are_strings
                ),
                (json_object, u, p, strings),
                "{text:?}"
            );
        }
        assert!(secret_shape(None, true).binary);
    }

    #[test]
    fn arns() {
        assert_eq!(
            repository_arn("arn:aws-cn:iam::1:role/r", "cn-north-1", "2", "team/app"),
            "arn:aws-cn:ecr:cn-north-1:2:repository/team/app"
        );
        let secret = "arn:aws:secretsmanager:us-east-1:111122223333:secret:reg-AbCdEf";
        assert_eq!(
            kms_key_arn("1234-abcd", secret).as_deref(),
            Some("arn:aws:kms:us-east-1:111122223333:key/1234-abcd")
        );
        assert_eq!(
            kms_key_arn("arn:aws:kms:us-east-1:1:key/k", secret).as_deref(),
            Some("arn:aws:kms:us-east-1:1:key/k")
        );
        assert_eq!(kms_key_arn("alias/team", secret), None);
    }
}

/// The SimulatePrincipalPolicy path and the no-leak guarantee, against mocked SDK clients
/// (moto implements neither the simulator nor a way to prove what reports contain).
#[cfg(test)]
mod mock_tests {
    use aws_sdk_iam::operation::simulate_principal_policy::{
        SimulatePrincipalPolicyError, SimulatePrincipalPolicyOutput,
    };
    use aws_sdk_iam::types::{
        EvaluationResult, OrganizationsDecisionDetail, PermissionsBoundaryDecisionDetail,
        PolicyEvaluationDecisionType as D, Statement,
    };
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;
    use crate::checks::iam::check_execution_role_permissions;
    use crate::checks::iam::identity_fixtures::{world, REPO_ARN, ROLE};
    use crate::checks::permissions::{VIA_LOCAL, VIA_SIMULATOR};
    use crate::engine::judge;
    use crate::model::diagnosis::{RootCause, Status};

    fn result(action: &str, decision: D) -> EvaluationResult {
        EvaluationResult::builder()
            .eval_action_name(action)
            .eval_resource_name(REPO_ARN)
            .eval_decision(decision)
            .build()
            .unwrap()
    }

    /// A mocked IAM client answering every SimulatePrincipalPolicy call by action name.
    fn iam_with(answer: fn(&str) -> EvaluationResult) -> aws_sdk_iam::Client {
        // Like IAM: one result per (action, resource) pair asked for.
        let rule = mock!(aws_sdk_iam::Client::simulate_principal_policy).then_compute_output(
            move |input| {
                let mut results = vec![];
                for a in input.action_names() {
                    for resource in input.resource_arns() {
                        let r = answer(a);
                        results.push(
                            EvaluationResult::builder()
                                .eval_action_name(r.eval_action_name())
                                .eval_resource_name(resource)
                                .eval_decision(r.eval_decision().clone())
                                .set_matched_statements(Some(r.matched_statements().to_vec()))
                                .set_permissions_boundary_decision_detail(
                                    r.permissions_boundary_decision_detail().cloned(),
                                )
                                .set_organizations_decision_detail(
                                    r.organizations_decision_detail().cloned(),
                                )
                                .build()
                                .unwrap(),
                        );
                    }
                }
                SimulatePrincipalPolicyOutput::builder()
                    .set_evaluation_results(Some(results))
                    .build()
            },
        );
        mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&rule])
    }

    async fn judged(
        iam: &aws_sdk_iam::Client,
    ) -> (
        Fact<Vec<SimulationResult>>,
        Vec<crate::model::diagnosis::Finding>,
        u32,
    ) {
        let log = CallLog::default();
        let sim = simulate_pull(iam, &log, ROLE, REPO_ARN).await;
        let mut f = world();
        f.identity.pull_simulation = sim.clone();
        (sim, check_execution_role_permissions(&f), log.calls())
    }

    #[tokio::test]
    async fn simulator_allows_the_pull() {
        let iam = iam_with(|a| result(a, D::Allowed));
        let (sim, findings, calls) = judged(&iam).await;
        assert_eq!(
            calls, 1,
            "one call: the token on *, the pull actions on the repository"
        );
        let sim = sim.value().unwrap();
        assert_eq!(
            sim.len(),
            3,
            "the token and the two pull actions (BatchCheckLayerAvailability is not asked)"
        );
        assert!(sim.iter().any(|r| r.action == "ecr:GetAuthorizationToken"));
        assert_eq!(findings[0].status, Status::Pass);
        assert_eq!(findings[0].evidence["evaluated_with"], VIA_SIMULATOR);
    }

    #[tokio::test]
    async fn simulator_implicit_deny() {
        let iam = iam_with(|a| {
            if a == "ecr:BatchGetImage" {
                result(a, D::ImplicitDeny)
            } else {
                result(a, D::Allowed)
            }
        });
        let (_, findings, _) = judged(&iam).await;
        assert_eq!(findings[0].status, Status::Fail);
        assert!(
            findings[0]
                .title
                .contains("may not ecr:BatchGetImage: no policy of the role allows it"),
            "{}",
            findings[0].title
        );
    }

    #[tokio::test]
    async fn simulator_explicit_deny_names_the_policy() {
        let iam = iam_with(|a| {
            if a == "ecr:GetDownloadUrlForLayer" {
                EvaluationResult::builder()
                    .eval_action_name(a)
                    .eval_decision(D::ExplicitDeny)
                    .matched_statements(
                        Statement::builder().source_policy_id("deny-layers").build(),
                    )
                    .build()
                    .unwrap()
            } else {
                result(a, D::Allowed)
            }
        });
        let (_, findings, _) = judged(&iam).await;
        assert_eq!(findings[0].status, Status::Fail);
        assert!(
            findings[0]
                .title
                .contains("explicitly denied by deny-layers"),
            "{}",
            findings[0].title
        );
    }

    #[tokio::test]
    async fn simulator_boundary_and_scp_denials() {
        let iam = iam_with(|a| {
            let base = EvaluationResult::builder().eval_action_name(a);
            match a {
                "ecr:BatchGetImage" => base
                    .eval_decision(D::ImplicitDeny)
                    .permissions_boundary_decision_detail(
                        PermissionsBoundaryDecisionDetail::builder()
                            .allowed_by_permissions_boundary(false)
                            .build(),
                    )
                    .build()
                    .unwrap(),
                "ecr:GetAuthorizationToken" => base
                    .eval_decision(D::ExplicitDeny)
                    .organizations_decision_detail(
                        OrganizationsDecisionDetail::builder()
                            .allowed_by_organizations(false)
                            .build(),
                    )
                    .build()
                    .unwrap(),
                _ => result(a, D::Allowed),
            }
        });
        let (sim, findings, _) = judged(&iam).await;
        let sim = sim.value().unwrap();
        let batch = sim
            .iter()
            .find(|r| r.action == "ecr:BatchGetImage")
            .unwrap();
        assert_eq!(batch.allowed_by_boundary, Some(false));
        let token = sim
            .iter()
            .find(|r| r.action == "ecr:GetAuthorizationToken")
            .unwrap();
        assert_eq!(token.allowed_by_organizations, Some(false));
        let f = &findings[0];
        assert_eq!(f.status, Status::Fail);
        let why = f.evidence["actions"].to_string();
        assert!(
            why.contains("permission boundary does not allow it")
                && why.contains("organization SCP"),
            "{why}"
        );
        assert!(f
            .remediation
            .as_deref()
            .unwrap()
            .contains("permission boundary or SCP"));
    }

    #[tokio::test]
    async fn simulator_access_denied_falls_back_to_the_documents() {
        let rule = mock!(aws_sdk_iam::Client::simulate_principal_policy).then_error(|| {
            SimulatePrincipalPolicyError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("not authorized")
                    .build(),
            )
        });
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&rule]);
        let log = CallLog::default();
        let sim = simulate_pull(&iam, &log, ROLE, REPO_ARN).await;
        assert!(
            matches!(&sim, Fact::Unreadable { reason, .. } if reason.contains("iam:SimulatePrincipalPolicy")),
            "{sim:?}"
        );

        // The documents, as IAM returns them (URL-encoded).
        let encoded = urlencoding::encode(r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoPull","Effect":"Deny","Action":"ecr:BatchGetImage","Resource":"*"}]}"#).into_owned();
        let managed = urlencoding::encode(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:GetAuthorizationToken","ecr:BatchCheckLayerAvailability","ecr:GetDownloadUrlForLayer","ecr:BatchGetImage"],"Resource":"*"}]}"#).into_owned();
        let list_inline = mock!(aws_sdk_iam::Client::list_role_policies).then_output(|| {
            aws_sdk_iam::operation::list_role_policies::ListRolePoliciesOutput::builder()
                .policy_names("deny-pull")
                .build()
                .unwrap()
        });
        let get_inline = mock!(aws_sdk_iam::Client::get_role_policy).then_output(move || {
            aws_sdk_iam::operation::get_role_policy::GetRolePolicyOutput::builder()
                .role_name("ecsTaskExecutionRole")
                .policy_name("deny-pull")
                .policy_document(encoded.clone())
                .build()
                .unwrap()
        });
        let list_attached = mock!(aws_sdk_iam::Client::list_attached_role_policies).then_output(|| {
            aws_sdk_iam::operation::list_attached_role_policies::ListAttachedRolePoliciesOutput::builder()
                .attached_policies(
                    aws_sdk_iam::types::AttachedPolicy::builder()
                        .policy_name("AmazonECSTaskExecutionRolePolicy")
                        .policy_arn("arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")
                        .build(),
                )
                .build()
        });
        let get_policy = mock!(aws_sdk_iam::Client::get_policy).then_output(|| {
            aws_sdk_iam::operation::get_policy::GetPolicyOutput::builder()
                .policy(
                    aws_sdk_iam::types::Policy::builder()
                        .default_version_id("v3")
                        .build(),
                )
                .build()
        });
        let get_version = mock!(aws_sdk_iam::Client::get_policy_version)
            .match_requests(|r| r.version_id() == Some("v3"))
            .then_output(move || {
                aws_sdk_iam::operation::get_policy_version::GetPolicyVersionOutput::builder()
                    .policy_version(
                        aws_sdk_iam::types::PolicyVersion::builder()
                            .document(managed.clone())
                            .version_id("v3")
                            .build(),
                    )
                    .build()
            });
        let iam = mock_client!(
            aws_sdk_iam,
            RuleMode::MatchAny,
            [
                &list_inline,
                &get_inline,
                &list_attached,
                &get_policy,
                &get_version
            ]
        );
        let mut role = crate::checks::iam::identity_fixtures::role(ROLE);
        read_policies(&iam, &log, &mut role).await;
        let policies = role.policies.value().expect("policies read");
        assert_eq!(policies.len(), 2);
        assert_eq!(policies[1].version.as_deref(), Some("v3"));
        assert!(matches!(role.boundary, Fact::NotFound { .. }));

        let mut f = world();
        f.identity.pull_simulation = sim;
        f.identity.execution_role = Fact::found(role);
        let got = &check_execution_role_permissions(&f)[0];
        assert_eq!(got.status, Status::Fail);
        assert_eq!(got.evidence["evaluated_with"], VIA_LOCAL);
        assert!(
            got.title
                .contains("inline policy deny-pull statement NoPull"),
            "{}",
            got.title
        );
    }

    /// The execution role's policy lists are asked beside GetRole and its simulation (the task
    /// definition names the role), whether or not the simulator then answers; the documents read
    /// after a denied simulation find them in the call log, so nothing is asked twice. In a warm
    /// container an AWS managed policy's version outlives the cache's TTL: GetPolicy alone again.
    #[tokio::test]
    async fn policy_lists_go_with_get_role_and_an_aws_managed_version_is_kept() {
        use aws_sdk_ecr::operation::get_repository_policy::GetRepositoryPolicyError;
        use aws_sdk_iam::operation::{
            get_policy::GetPolicyOutput, get_policy_version::GetPolicyVersionOutput,
            get_role::GetRoleOutput,
        };
        use aws_sdk_iam::operation::{
            list_attached_role_policies::ListAttachedRolePoliciesOutput,
            list_role_policies::ListRolePoliciesOutput,
        };
        const MANAGED: &str =
            "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";
        let get_role = mock!(aws_sdk_iam::Client::get_role).then_output(|| {
            let role = aws_sdk_iam::types::Role::builder()
                .path("/")
                .role_name("ecsTaskExecutionRole")
                .role_id("AROAEXAMPLEID")
                .arn(ROLE);
            GetRoleOutput::builder()
                .role(
                    role.create_date(aws_smithy_types::DateTime::from_secs(0))
                        .build()
                        .unwrap(),
                )
                .build()
        });
        let denied = mock!(aws_sdk_iam::Client::simulate_principal_policy).then_error(|| {
            SimulatePrincipalPolicyError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("not authorized")
                    .build(),
            )
        });
        let allowed = mock!(aws_sdk_iam::Client::simulate_principal_policy).then_output(|| {
            SimulatePrincipalPolicyOutput::builder()
                .evaluation_results(result("ecr:BatchGetImage", D::Allowed))
                .build()
        });
        let list_inline = mock!(aws_sdk_iam::Client::list_role_policies)
            .match_requests(|r| r.role_name() == Some("ecsTaskExecutionRole"))
            .then_output(|| {
                ListRolePoliciesOutput::builder()
                    .set_policy_names(Some(vec![]))
                    .build()
                    .unwrap()
            });
        let list_attached = mock!(aws_sdk_iam::Client::list_attached_role_policies)
            .match_requests(|r| r.role_name() == Some("ecsTaskExecutionRole"))
            .then_output(|| {
                let p = aws_sdk_iam::types::AttachedPolicy::builder()
                    .policy_name("AmazonECSTaskExecutionRolePolicy")
                    .policy_arn(MANAGED);
                ListAttachedRolePoliciesOutput::builder()
                    .attached_policies(p.build())
                    .build()
            });
        let get_policy = mock!(aws_sdk_iam::Client::get_policy).then_output(|| {
            GetPolicyOutput::builder()
                .policy(
                    aws_sdk_iam::types::Policy::builder()
                        .default_version_id("v1")
                        .build(),
                )
                .build()
        });
        let document = urlencoding::encode(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:GetAuthorizationToken","ecr:BatchCheckLayerAvailability","ecr:GetDownloadUrlForLayer","ecr:BatchGetImage"],"Resource":"*"}]}"#).into_owned();
        let get_version = mock!(aws_sdk_iam::Client::get_policy_version).then_output(move || {
            GetPolicyVersionOutput::builder()
                .policy_version(
                    aws_sdk_iam::types::PolicyVersion::builder()
                        .document(document.clone())
                        .version_id("v1")
                        .build(),
                )
                .build()
        });
        let no_policy = mock!(aws_sdk_ecr::Client::get_repository_policy).then_error(|| {
            GetRepositoryPolicyError::generic(
                ErrorMetadata::builder()
                    .code("RepositoryPolicyNotFoundException")
                    .message("none")
                    .build(),
            )
        });
        let clients = |simulation: &aws_smithy_mocks::Rule| Clients {
            config: aws_config::SdkConfig::builder()
                .region(aws_config::Region::new("us-east-1"))
                .build(),
            ecs: aws_sdk_ecs::Client::from_conf(aws_sdk_ecs::Config::builder().build()),
            ecr: mock_client!(aws_sdk_ecr, RuleMode::MatchAny, [&no_policy]),
            ec2: aws_sdk_ec2::Client::from_conf(aws_sdk_ec2::Config::builder().build()),
            iam: mock_client!(
                aws_sdk_iam,
                RuleMode::MatchAny,
                [
                    &get_role,
                    simulation,
                    &list_inline,
                    &list_attached,
                    &get_policy,
                    &get_version
                ]
            ),
            cloudtrail: aws_sdk_cloudtrail::Client::from_conf(
                aws_sdk_cloudtrail::Config::builder().build(),
            ),
            cache: None,
            lookup_pace: Default::default(),
        };
        let facts = world();

        // Simulator denied: the lists once, then GetPolicy → GetPolicyVersion.
        let log = CallLog::default();
        let identity = read(&clients(&denied), &log, &facts, None).await;
        let policies = identity
            .execution_role
            .value()
            .and_then(|r| r.policies.value())
            .expect("documents read");
        assert_eq!(
            policies.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["AmazonECSTaskExecutionRolePolicy"]
        );
        assert_eq!(
            (
                list_inline.num_calls(),
                list_attached.num_calls(),
                get_policy.num_calls(),
                get_version.num_calls()
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(log.calls(), 7, "GetRole, the simulation, two lists, the repository policy, GetPolicy, GetPolicyVersion");

        // Simulator answers: the lists were asked all the same, and nothing else.
        let log = CallLog::default();
        let identity = read(&clients(&allowed), &log, &facts, None).await;
        assert!(identity.pull_simulation.value().is_some());
        assert_eq!(
            (
                list_inline.num_calls(),
                list_attached.num_calls(),
                get_policy.num_calls()
            ),
            (2, 2, 1)
        );
        assert_eq!(log.calls(), 5);

        // A warm container, after the TTL: GetPolicy again, the version from the cache.
        let iam = clients(&denied).iam;
        let cache = std::sync::Arc::new(crate::aws::cache::WarmCache::new(
            std::time::Duration::from_millis(10),
            64,
        ));
        for _ in 0..2 {
            let log = CallLog::new(None, Some(cache.clone()));
            let mut role = crate::checks::iam::identity_fixtures::role(ROLE);
            read_policies(&iam, &log, &mut role).await;
            assert!(
                role.policies
                    .value()
                    .is_some_and(|p| p[0].document.value().is_some()),
                "{:?}",
                role.policies
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(
            (get_policy.num_calls(), get_version.num_calls()),
            (3, 2),
            "one more GetPolicy, no more GetPolicyVersion"
        );
    }

    /// ECS Managed Instances: the container instance is read for its platform attributes
    /// (`ecs.os-family` included), but not the instance → profile → role chain, because the
    /// execution role pulls there, as on Fargate.
    #[tokio::test]
    async fn managed_instances_read_the_instance_attributes_but_not_its_role() {
        use aws_sdk_ecs::types::{Attribute, ContainerInstance};
        let ci_arn = "arn:aws:ecs:us-east-1:111122223333:container-instance/prod/0f1e2d";
        let describe = mock!(aws_sdk_ecs::Client::describe_container_instances).then_output(move || {
            let attribute = |n: &str, v: &str| Attribute::builder().name(n).value(v).build().unwrap();
            aws_sdk_ecs::operation::describe_container_instances::DescribeContainerInstancesOutput::builder()
                .container_instances(
                    ContainerInstance::builder()
                        .container_instance_arn(ci_arn)
                        .ec2_instance_id("i-0managed")
                        .attributes(attribute("ecs.cpu-architecture", "arm64"))
                        .attributes(attribute("ecs.os-type", "linux"))
                        .attributes(attribute("ecs.os-family", "LINUX"))
                        .build(),
                )
                .build()
        });
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe]);
        let get_role = mock!(aws_sdk_iam::Client::get_role).then_output(|| {
            aws_sdk_iam::operation::get_role::GetRoleOutput::builder()
                .role(
                    aws_sdk_iam::types::Role::builder()
                        .path("/")
                        .role_name("ecsTaskExecutionRole")
                        .role_id("AROAEXAMPLEID")
                        .arn(ROLE)
                        .create_date(aws_smithy_types::DateTime::from_secs(0))
                        .build()
                        .unwrap(),
                )
                .build()
        });
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&get_role]);
        let ecr = mock_client!(
            aws_sdk_ecr,
            RuleMode::MatchAny,
            Vec::<&aws_smithy_mocks::Rule>::new()
        );
        // Not to be called: a client with no endpoint would fail the read, and the count shows it.
        let ec2 = aws_sdk_ec2::Client::from_conf(aws_sdk_ec2::Config::builder().build());
        let cloudtrail =
            aws_sdk_cloudtrail::Client::from_conf(aws_sdk_cloudtrail::Config::builder().build());
        let clients = Clients {
            config: aws_config::SdkConfig::builder().build(),
            ecs,
            ecr,
            ec2,
            iam,
            cloudtrail,
            cache: None,
            lookup_pace: Default::default(),
        };

        let mut facts = world();
        facts.task.launch_type = Some("MANAGED_INSTANCES".into());
        facts.task.capacity_provider = Some("mi-general".into());
        facts.task.container_instance_arn = Some(ci_arn.into());
        facts.failure.image = Some("ghcr.io/acme/app:1".into());
        facts.failure.image_ref =
            crate::model::image_ref::ImageRef::parse("ghcr.io/acme/app:1").ok();
        let log = CallLog::default();
        let identity = read(&clients, &log, &facts, None).await;
        assert_eq!(
            log.calls(),
            2,
            "iam:GetRole and ecs:DescribeContainerInstances only"
        );
        let ci = identity
            .container_instance
            .value()
            .expect("container instance read");
        assert_eq!(
            (ci.cpu_architecture.as_deref(), ci.os_family.as_deref()),
            (Some("arm64"), Some("LINUX"))
        );
        assert!(
            matches!(&identity.instance_role, Fact::NotCollected { reason } if reason.contains("execution role")),
            "{:?}",
            identity.instance_role
        );
        facts.identity = identity;
        assert_eq!(
            crate::model::platform::task_platform(&facts).to_string(),
            "linux/arm64"
        );
    }

    /// No secret value or environment value reaches the Facts snapshot or any report format,
    /// even though the collector is handed both by the (mocked) AWS APIs.
    #[tokio::test]
    async fn no_secret_or_environment_value_leaks() {
        const USER: &str = "leaky-user-7781";
        const PASSWORD: &str = "hunter2-very-secret-PASSWORD";
        const ENV_VALUE: &str = "env-value-DO-NOT-PRINT-4242";
        const SECRET_REF: &str = "arn:aws:ssm:us-east-1:111122223333:parameter/db-password-SSMREF";
        let secret_arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:reg-AbCdEf";

        use aws_sdk_ecs::types::{
            ContainerDefinition, KeyValuePair, RepositoryCredentials, Secret, TaskDefinition,
        };
        let td = mock!(aws_sdk_ecs::Client::describe_task_definition).then_output(move || {
            aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput::builder(
            )
            .task_definition(
                TaskDefinition::builder()
                    .task_definition_arn("arn:aws:ecs:us-east-1:111122223333:task-definition/web:7")
                    .family("web")
                    .revision(7)
                    .execution_role_arn(ROLE)
                    .container_definitions(
                        ContainerDefinition::builder()
                            .name("web")
                            .image("ghcr.io/acme/app:1")
                            .environment(
                                KeyValuePair::builder()
                                    .name("API_TOKEN")
                                    .value(ENV_VALUE)
                                    .build(),
                            )
                            .secrets(
                                Secret::builder()
                                    .name("DB_PASSWORD")
                                    .value_from(SECRET_REF)
                                    .build()
                                    .unwrap(),
                            )
                            .repository_credentials(
                                RepositoryCredentials::builder()
                                    .credentials_parameter(secret_arn)
                                    .build()
                                    .unwrap(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .build()
        });
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&td]);
        let describe =
            mock!(aws_sdk_secretsmanager::Client::describe_secret).then_output(move || {
                aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput::builder()
                    .arn(secret_arn)
                    .name("reg")
                    .build()
            });
        let value = mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_output(|| {
            aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput::builder()
                .secret_string(format!(r#"{{"username":"{USER}","pass":"{PASSWORD}"}}"#))
                .build()
        });
        let sm = mock_client!(
            aws_sdk_secretsmanager,
            RuleMode::MatchAny,
            [&describe, &value]
        );
        let ecr = mock_client!(
            aws_sdk_ecr,
            RuleMode::MatchAny,
            Vec::<&aws_smithy_mocks::Rule>::new()
        );
        // Never called on this path: a plain client with no endpoint is enough.
        let ec2 = aws_sdk_ec2::Client::from_conf(aws_sdk_ec2::Config::builder().build());
        let iam = aws_sdk_iam::Client::from_conf(aws_sdk_iam::Config::builder().build());
        let cloudtrail =
            aws_sdk_cloudtrail::Client::from_conf(aws_sdk_cloudtrail::Config::builder().build());
        let clients = Clients {
            config: aws_config::SdkConfig::builder().build(),
            ecs,
            ecr,
            ec2,
            iam,
            cloudtrail,
            cache: None,
            lookup_pace: Default::default(),
        };

        let log = CallLog::default();
        let task_definition =
            super::super::ecs::read_task_definition(&clients, &log, Some("web:7")).await;
        let registry_secret = read_secret_with(&sm, &log, secret_arn).await;

        let message = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: retrieved secret from Secrets Manager did not contain json key password";
        let mut facts = world();
        facts.failure.image = Some("ghcr.io/acme/app:1".into());
        facts.failure.image_ref =
            crate::model::image_ref::ImageRef::parse("ghcr.io/acme/app:1").ok();
        facts.failure.message = message.into();
        facts.failure.classification = crate::classify::classify(message);
        facts.task_definition = task_definition;
        facts.identity.registry_secret = registry_secret;
        facts.identity.secret_simulation = Fact::found(vec![SimulationResult {
            action: "secretsmanager:GetSecretValue".into(),
            resource: secret_arn.into(),
            decision: "allowed".into(),
            ..Default::default()
        }]);

        let diagnosis = judge(&facts);
        assert_eq!(
            diagnosis.root_cause.code,
            RootCause::IamRegistrySecret,
            "{:?}",
            diagnosis.root_cause
        );
        let secret_finding = diagnosis
            .findings
            .iter()
            .find(|f| f.code == RootCause::IamRegistrySecret)
            .unwrap();
        assert!(
            secret_finding.title.contains("no password key"),
            "{}",
            secret_finding.title
        );

        let mut outputs = vec![
            ("facts", serde_json::to_string(&facts).unwrap()),
            ("facts debug", format!("{facts:?}")),
            ("diagnosis debug", format!("{diagnosis:?}")),
        ];
        for format in [
            crate::report::Format::Text,
            crate::report::Format::Markdown,
            crate::report::Format::Json,
        ] {
            outputs.push(("report", crate::report::render(&diagnosis, format)));
        }
        for (what, text) in &outputs {
            for needle in [USER, PASSWORD, ENV_VALUE, "API_TOKEN", "DB_PASSWORD"] {
                assert!(!text.contains(needle), "{what} contains {needle}");
            }
            // Where a secret comes from (valueFrom) is collected since issue 12, so a failure at the
            // secrets step can name it; a registry-credentials failure never prints it.
            if *what != "facts" && *what != "facts debug" {
                assert!(!text.contains(SECRET_REF), "{what} contains {SECRET_REF}");
            }
        }
        assert_eq!(
            facts.task_definition.value().unwrap().containers[0].secrets,
            [SECRET_REF]
        );
        assert!(
            facts
                .identity
                .registry_secret
                .value()
                .unwrap()
                .shape
                .value()
                .unwrap()
                .has_username
        );
    }
}
