//! Registry checks: the repository's own policies (who may pull, what gets expired), private
//! registry credentials, and what a registry answers (rejected credentials, rate limits).

use serde_json::json;

use super::console;
use super::wording::words;
use super::ecr::task_definition_suffix;
use crate::model::arn;
use crate::model::pull::pull_role;
use super::iam::{principal_context, verdicts_from_policies, verdicts_from_simulation, ActionVerdict, VIA_LOCAL, VIA_SIMULATOR};
use crate::model::message::{Category, Phase};
use crate::model::arn::kms_key_arn;
use crate::model::pull::PULL_ACTIONS;
use crate::model::diagnosis::{Finding, RootCause};
use crate::checks::rule::{Doc, Phases, Rule, Stage, ECS_ONLY, EVERYWHERE};
use crate::model::facts::{Fact, Facts};
use crate::model::image_ref::{ImageRef, RegistryKind};
use crate::policy::{matching, Decision, Effect, Labeled, Request, StatementRef, Truth};

fn ecr_image(facts: &Facts) -> Option<(&ImageRef, &str, &str)> {
    let image = facts.failure.image_ref.as_ref()?;
    let (account, region) = image.ecr()?;
    Some((image, account, region))
}

pub const ECR_REPOSITORY_POLICY: Rule = Rule {
    code: RootCause::EcrRepositoryPolicy,
    name: "ecr_repository_policy",
    title: "The repository policy does not let this role pull",
    stage: Stage::Repository,
    explains: &[Category::AccessDenied, Category::RegistryCredentials],
    phases: Phases::Any,
    scope: EVERYWHERE,
    reads: &[
        "ecr:GetRepositoryPolicy",
        "ecr:DescribeRepositories",
    ],
    doc: Doc {
        what: "the repository policy denies the pull or does not grant a cross-account principal",
        why: "A repository policy is a resource policy. An explicit Deny that matches the pulling role (by \
             principal, aws:PrincipalArn, or a condition such as aws:SourceVpce the pull does not meet) \
             refuses the pull even when the role's own policies allow it. A repository in another account \
             must also grant the pull to the role or its account: the role's own policies are not enough \
             across accounts. ECR answers 403.",
        fix: "Remove or narrow the Deny statement; for a cross-account pull, add an Allow statement for the \
             pulling role (or its account root) with ecr:BatchGetImage and ecr:GetDownloadUrlForLayer.",
        reference: "https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-policies.html",
    },
    run: check_repository_policy,
};

/// ECR_REPOSITORY_POLICY — a repository policy is a resource policy: an explicit Deny that matches
/// the pulling role (by principal, `aws:PrincipalArn`, or a condition such as
/// `aws:SourceVpce`/`aws:SourceVpc` that the pull does not meet) refuses the pull even when the
/// role's own policies allow it. A repository in another account must also *grant* the pull to
/// the role (or its account): the role's policies alone are not enough across accounts.
pub fn check_repository_policy(facts: &Facts) -> Vec<Finding> {
    let code = RootCause::EcrRepositoryPolicy;
    let Some((image, account, region)) = ecr_image(facts) else { return vec![] };
    if facts.repository.is_not_found() {
        return vec![];
    }
    let Some(who) = pull_role(facts) else { return vec![] };
    let Some(role_arn) = who.arn.clone() else { return vec![] };
    let role_account = arn::account(&role_arn).unwrap_or_default().to_string();
    let cross_account = !role_account.is_empty() && role_account != account;
    let resource = format!("{}/{}", image.registry, image.repository);
    let url = console::ecr_repository(region, account, &image.repository);
    let repo_arn = facts
        .repository
        .value()
        .and_then(|r| r.arn.clone())
        .unwrap_or_else(|| crate::model::arn::repository_arn(&role_arn, region, account, &image.repository));
    let grant = format!(
        "an Allow statement for principal {role_arn} (or arn:aws:iam::{role_account}:root) with actions {}",
        PULL_ACTIONS.join(", ")
    );
    let base = |f: Finding| {
        f.resource(resource.clone())
            .console_url(url.clone())
            .evidence("repository_arn", repo_arn.as_str())
            .evidence("pulling_role", role_arn.as_str())
            .evidence("cross_account", cross_account)
    };
    let doc = match &facts.identity.repository_policy {
        Fact::Found { value } => value,
        Fact::NotFound { .. } if cross_account => {
            return vec![base(Finding::fail(
                code,
                format!("Repository {} in account {account} has no policy granting account {role_account}", image.repository),
            ))
            .remediation(format!(
                "A repository in another account must grant the pull: add to the repository policy of {} in account \
                 {account} {grant}.",
                image.repository
            ))]
        }
        Fact::NotFound { .. } => {
            return vec![base(Finding::pass(code, format!("Repository {} has no repository policy", image.repository)))]
        }
        gap if cross_account => {
            return vec![base(Finding::unknown(
                code,
                format!("Could not read the policy of repository {} in account {account}", image.repository),
                gap.gap().unwrap_or_default(),
            ))
            .remediation(format!(
                "Ask the owner of account {account} to confirm that the repository policy of {} contains {grant}, and \
                 no Deny statement matching that role.",
                image.repository
            ))]
        }
        gap => {
            return vec![base(Finding::unknown(code, "Could not read the repository policy", gap.gap().unwrap_or_default()))]
        }
    };
    let (principal, mut ctx) = principal_context(&role_arn, who.fact.value());
    ctx = ctx.set("aws:RequestedRegion", region).set("aws:ResourceAccount", account);
    let policy = Labeled { label: "repository policy", document: doc };
    let mut denies: Vec<StatementRef> = vec![];
    let mut deny_truth = Truth::No;
    let mut allow_truth = Truth::Yes;
    let mut allows: Vec<StatementRef> = vec![];
    let mut not_granted: Vec<&str> = vec![];
    for action in PULL_ACTIONS {
        let req = Request { action, resource: &repo_arn, principal: Some(&principal), context: &ctx };
        let d = matching(&policy, &req, Effect::Deny);
        deny_truth = deny_truth.or(d.truth);
        for s in d.statements {
            if !denies.contains(&s) {
                denies.push(s);
            }
        }
        let a = matching(&policy, &req, Effect::Allow);
        if a.truth == Truth::No {
            not_granted.push(action);
        }
        allow_truth = allow_truth.and(a.truth);
        for s in a.statements {
            if !allows.contains(&s) {
                allows.push(s);
            }
        }
    }
    let statements = |list: &[StatementRef]| json!(list.iter().map(|s| s.statement.clone()).collect::<Vec<_>>());
    let finding = if deny_truth == Truth::Yes {
        let certain: Vec<&StatementRef> = denies.iter().filter(|s| s.unresolved.is_empty()).collect();
        base(Finding::fail(
            code,
            format!(
                "The repository policy of {} denies the pull to {}: statement {}",
                image.repository,
                crate::model::arn::role_name(&role_arn),
                certain.iter().map(|s| s.statement.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ))
        .evidence("deny_statements", statements(&denies))
        .remediation(format!(
            "Remove or narrow the Deny statement(s) {} in the repository policy of {} (account {account}) so they no \
             longer match {role_arn}.",
            certain.iter().map(|s| s.statement.as_str()).collect::<Vec<_>>().join(", "),
            image.repository
        ))
    } else if cross_account && allow_truth == Truth::No {
        base(Finding::fail(
            code,
            format!(
                "The repository policy of {} (account {account}) does not grant {} to account {role_account}",
                image.repository,
                not_granted.join(", ")
            ),
        ))
        .evidence("allow_statements", statements(&allows))
        .remediation(format!("Add to the repository policy of {} in account {account} {grant}.", image.repository))
    } else if deny_truth == Truth::Maybe || (cross_account && allow_truth == Truth::Maybe) {
        let unresolved: Vec<String> = denies
            .iter()
            .chain(if cross_account { allows.iter() } else { [].iter() })
            .filter(|s| !s.unresolved.is_empty())
            .map(|s| format!("statement {} ({}): {}", s.statement, s.effect, s.unresolved.join(" and ")))
            .collect();
        base(Finding::unknown(
            code,
            format!("Whether the repository policy of {} lets {} pull depends on conditions", image.repository, crate::model::arn::role_name(&role_arn)),
            unresolved.join("; "),
        ))
        .remediation(format!(
            "Verify that the pull meets these conditions (for aws:SourceVpce/aws:SourceVpc: that the {} reaches ECR \
             through the named VPC endpoint or VPC).",
            words(facts).task
        ))
    } else {
        let what = if cross_account { "grants the pull and denies nothing to" } else { "denies nothing to" };
        base(Finding::pass(code, format!("The repository policy of {} {what} {}", image.repository, crate::model::arn::role_name(&role_arn))))
            .evidence("allow_statements", statements(&allows))
    };
    vec![finding]
}

pub const REGISTRY_SECRET: Rule = Rule {
    code: RootCause::IamRegistrySecret,
    name: "registry_secret",
    title: "The private registry credentials secret is missing or unreadable",
    stage: Stage::Identity,
    explains: &[Category::RegistryCredentials, Category::AccessDenied],
    phases: Phases::Only(&[Phase::AuthToken]),
    scope: ECS_ONLY,
    reads: &[
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "iam:GetRole",
        "iam:SimulatePrincipalPolicy",
        "iam:ListRolePolicies",
        "iam:GetRolePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
    ],
    doc: Doc {
        what: "the private-registry credentials secret is missing, unreadable (permission/KMS) or malformed",
        why: "For an image in a private registry outside ECR, ECS reads repositoryCredentials from Secrets \
             Manager with the execution role before the pull. The secret must exist, the role must be allowed \
             secretsmanager:GetSecretValue on it (and kms:Decrypt on its customer managed key), and it must \
             be a JSON object with username and password keys. Otherwise the task stops at the credentials \
             step. pulldoctor reads only the secret's shape (opt-in), never its values.",
        fix: "Create the secret (or correct repositoryCredentials.credentialsParameter) as {\"username\": \"…\", \
             \"password\": \"…\"}, allow the execution role secretsmanager:GetSecretValue on it, and let it \
             decrypt with the secret's KMS key.",
        reference: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/private-auth.html",
    },
    run: check_registry_secret,
};

/// IAM_REGISTRY_SECRET — for a private registry, ECS reads `repositoryCredentials` from Secrets
/// Manager with the execution role before the pull: the secret must exist, the role must be
/// allowed `secretsmanager:GetSecretValue` on it (and `kms:Decrypt` on its customer managed key),
/// and the secret must be a JSON object with `username` and `password` keys. Only the secret's
/// *shape* is examined; its values are never read into the snapshot or any report.
pub fn check_registry_secret(facts: &Facts) -> Vec<Finding> {
    let code = RootCause::IamRegistrySecret;
    let Some(td) = facts.task_definition.value() else { return vec![] };
    let Some(secret_id) = facts
        .failure
        .container
        .as_deref()
        .and_then(|n| td.containers.iter().find(|c| c.name.as_deref() == Some(n)))
        .and_then(|c| c.registry_credentials_secret.clone())
    else {
        return vec![];
    };
    let secret = match &facts.identity.registry_secret {
        Fact::Found { value } => value,
        Fact::NotFound { detail } => {
            return vec![Finding::fail(code, format!("The registry credentials secret {} does not exist", short_secret(&secret_id)))
                .resource(secret_id.clone())
                .evidence("secret", secret_id.as_str())
                .evidence("secrets_manager_answer", detail.as_str())
                .remediation(format!(
                    "Create the secret in Secrets Manager (in the task's region) as a JSON object with username and \
                     password keys, or correct repositoryCredentials.credentialsParameter in the task definition{td}.",
                    td = task_definition_suffix(facts)
                ))]
        }
        gap => {
            return vec![Finding::unknown(code, "Could not read the registry credentials secret", gap.gap().unwrap_or_default())
                .resource(secret_id.clone())
                .remediation("Verify that the secret exists and is a JSON object with username and password keys.")]
        }
    };
    let secret_arn = secret.arn.clone().unwrap_or_else(|| secret_id.clone());
    let mut problems: Vec<String> = vec![];
    let mut unknowns: Vec<String> = vec![];
    let mut fixes: Vec<String> = vec![];

    // Shape.
    match &secret.shape {
        Fact::Found { value: s } => {
            if s.binary {
                problems.push("the secret is binary, not a JSON string".into());
            } else if !s.json_object {
                problems.push("the secret is not a JSON object".into());
            } else {
                let missing: Vec<&str> = [("username", s.has_username), ("password", s.has_password)]
                    .iter()
                    .filter(|(_, has)| !has)
                    .map(|(k, _)| *k)
                    .collect();
                if !missing.is_empty() {
                    problems.push(format!("the secret has no {} key", missing.join(" or ")));
                } else if !s.values_are_strings {
                    problems.push("username or password is empty or not a string".into());
                }
            }
            if !problems.is_empty() {
                fixes.push("Store the credentials as {\"username\": \"…\", \"password\": \"…\"} in the secret.".into());
            }
        }
        gap => unknowns.push(format!("the secret's shape could not be read ({})", gap.gap().unwrap_or_default())),
    }

    // May the execution role read and decrypt it?
    let kms = secret.kms_key_id.as_deref().and_then(|k| kms_key_arn(k, &secret_arn));
    let mut via = None;
    match (&td.execution_role_arn, &facts.identity.execution_role) {
        (None, _) => {} // reported by IAM_EXECUTION_ROLE_MISSING
        (Some(_), Fact::NotFound { .. }) => {} // reported by IAM_EXECUTION_ROLE_TRUST
        (Some(_), Fact::Found { value: role }) => {
            let verdicts: Result<Vec<ActionVerdict>, String> = match &facts.identity.secret_simulation {
                Fact::Found { value } => {
                    via = Some(VIA_SIMULATOR);
                    Ok(verdicts_from_simulation(value))
                }
                sim_gap => {
                    via = Some(VIA_LOCAL);
                    let (_, ctx) = principal_context(&role.arn, Some(role));
                    let mut requests = vec![("secretsmanager:GetSecretValue", secret_arn.as_str())];
                    if let Some(k) = &kms {
                        requests.push(("kms:Decrypt", k.as_str()));
                    }
                    verdicts_from_policies(role, &requests, &ctx)
                        .map_err(|e| format!("simulator: {}; {e}", sim_gap.gap().unwrap_or("not run")))
                }
            };
            match verdicts {
                Ok(verdicts) => {
                    for v in verdicts {
                        match v.decision {
                            Decision::Allowed => {}
                            Decision::Unknown => unknowns.push(format!("{}: {}", v.action, v.why)),
                            _ => {
                                problems.push(format!("the execution role {} may not {} ({})", role.name, v.action, v.why));
                                fixes.push(format!("Allow {} on {} to the execution role {}.", v.action, v.resource, role.name));
                            }
                        }
                    }
                }
                Err(e) => unknowns.push(format!("the execution role's permissions could not be judged: {e}")),
            }
        }
        (Some(_), gap) => unknowns.push(format!("the execution role could not be read ({})", gap.gap().unwrap_or_default())),
    }
    let note_kms = kms.as_ref().map(|k| {
        format!("The key policy of {k} must also let the execution role decrypt (pulldoctor does not read key policies).")
    });
    let finding = if !problems.is_empty() {
        Finding::fail(code, format!("Registry credentials secret {}: {}", short_secret(&secret_arn), problems.join("; ")))
            .remediation([fixes.join(" "), note_kms.clone().unwrap_or_default()].join(" ").trim().to_string())
    } else if !unknowns.is_empty() {
        Finding::unknown(code, format!("Could not fully check the registry credentials secret {}", short_secret(&secret_arn)), unknowns.join("; "))
            .remediation("Verify that the execution role may read (and decrypt) the secret and that it holds username and password keys.")
    } else {
        let mut f = Finding::pass(code, format!("Registry credentials secret {} is readable and well-formed", short_secret(&secret_arn)));
        if let Some(n) = note_kms {
            f = f.evidence("note", n);
        }
        f
    };
    vec![finding
        .resource(secret_arn.clone())
        .evidence("secret_arn", secret_arn.as_str())
        .evidence("kms_key", kms)
        .evidence("shape", secret.shape.value().map(|s| json!(s)))
        .evidence("evaluated_with", via)]
}

/// A secret ARN's name part (`…:secret:reg-AbCdEf` → `reg-AbCdEf`).
fn short_secret(id: &str) -> &str {
    id.rsplit(':').next().unwrap_or(id)
}

pub const REGISTRY_AUTH: Rule = Rule {
    code: RootCause::RegistryAuth,
    name: "registry_auth",
    title: "The registry rejected or requires credentials",
    stage: Stage::Image,
    explains: &[Category::RegistryCredentials, Category::AccessDenied],
    phases: Phases::Any,
    scope: ECS_ONLY,
    reads: &[
        "ecs:DescribeTaskDefinition",
    ],
    doc: Doc {
        what: "a non-ECR registry rejected the credentials or requires them",
        why: "A registry other than ECR answered 401 (unauthorized, authentication required, incorrect \
             username or password): the task sent no credentials for a private image, or the credentials in \
             its secret are wrong or expired (access tokens expire).",
        fix: "Store the registry's username and password in Secrets Manager as a JSON object, set \
             repositoryCredentials.credentialsParameter of the container to it and let the execution role \
             read it; or update the credentials in that secret; or copy the image into ECR.",
        reference: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/private-auth.html",
    },
    run: check_registry_auth,
};

/// REGISTRY_AUTH — a registry other than ECR answered 401 (`unauthorized`, `incorrect username or
/// password`, `authentication required`): the task sent no credentials for a private image, or
/// the credentials in its secret are wrong or expired (personal access tokens expire).
pub fn check_registry_auth(facts: &Facts) -> Vec<Finding> {
    let code = RootCause::RegistryAuth;
    let Some(image) = facts.failure.image_ref.as_ref() else { return vec![] };
    if matches!(image.kind, RegistryKind::Ecr { .. }) || facts.failure.classification.category != Category::RegistryCredentials {
        return vec![];
    }
    let secret = facts.task_definition.value().and_then(|td| {
        let name = facts.failure.container.as_deref()?;
        td.containers.iter().find(|c| c.name.as_deref() == Some(name))?.registry_credentials_secret.clone()
    });
    let finding = match &secret {
        Some(s) => Finding::fail(code, format!("{} rejected the credentials from secret {}", image.registry, short_secret(s)))
            .evidence("secret", s.as_str())
            .remediation(format!(
                "Update the username and password in secret {} with credentials that may pull {} (tokens and passwords \
                 expire or are revoked), then start new tasks.",
                short_secret(s),
                image.name()
            )),
        None => Finding::fail(code, format!("{} requires credentials and the task sends none", image.registry)).remediation(format!(
            "Store the registry's username and password in Secrets Manager as a JSON object with username and password keys, \
             set repositoryCredentials.credentialsParameter of container {} in the task definition{} to it, and allow the \
             execution role secretsmanager:GetSecretValue on it. Or copy the image into ECR.",
            facts.failure.container.as_deref().unwrap_or("…"),
            task_definition_suffix(facts)
        )),
    };
    vec![finding
        .resource(image.to_string())
        .evidence("registry", image.registry.as_str())
        .evidence("http_status", facts.failure.classification.http_status)]
}

pub const REGISTRY_RATE_LIMIT: Rule = Rule {
    code: RootCause::RegistryRateLimit,
    name: "registry_rate_limit",
    title: "The public registry rate-limited the pull",
    stage: Stage::Image,
    explains: &[Category::RateLimited],
    phases: Phases::Any,
    scope: ECS_ONLY,
    reads: &[
        "ecs:DescribeTaskDefinition",
    ],
    doc: Doc {
        what: "a public registry (Docker Hub…) throttled the pull",
        why: "Public registries limit pulls: Docker Hub counts anonymous pulls per source IP (so every task \
             behind one NAT gateway shares the limit) and authenticated pulls per account. ECR answers \
             ThrottlingException when its API quotas are exceeded, and a pull-through cache passes on its \
             upstream's limit. The pull fails with toomanyrequests or 429.",
        fix: "Serve the image from ECR (an ECR pull-through cache rule for Docker Hub with credentials, or a \
             copy in your own repository), or authenticate the pulls; for ECR quotas, spread out task \
             launches or ask for a higher quota.",
        reference: "https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache.html",
    },
    run: check_rate_limit,
};

/// REGISTRY_RATE_LIMIT — public registries limit pulls: Docker Hub by source IP for anonymous pulls
/// (all tasks behind one NAT gateway share the limit) and per account when authenticated. ECR
/// answers `ThrottlingException` when API quotas are exceeded, and a pull-through cache relays
/// the upstream registry's limit.
pub fn check_rate_limit(facts: &Facts) -> Vec<Finding> {
    let code = RootCause::RegistryRateLimit;
    let Some(image) = facts.failure.image_ref.as_ref() else { return vec![] };
    if facts.failure.classification.category != Category::RateLimited {
        return vec![];
    }
    let has_credentials = facts
        .task_definition
        .value()
        .and_then(|td| {
            let name = facts.failure.container.as_deref()?;
            td.containers.iter().find(|c| c.name.as_deref() == Some(name))
        })
        .is_some_and(|c| c.registry_credentials_secret.is_some());
    let region = facts.region.as_deref().unwrap_or("REGION");
    let (title, remediation) = match (&image.kind, image.pull_through_upstream()) {
        (RegistryKind::DockerHub, _) => (
            "Docker Hub rate-limited the pull".to_string(),
            format!(
                "Pull through an ECR pull-through cache rule for Docker Hub (upstream registry-1.docker.io, with Docker Hub \
                 credentials in a Secrets Manager secret named ecr-pullthroughcache/…) and use the image \
                 ACCOUNT.dkr.ecr.{region}.amazonaws.com/PREFIX/{repo}; {auth}or copy the image into your own ECR repository.",
                repo = image.repository,
                auth = if has_credentials {
                    "the task already pulls with credentials, so that account's plan limit was reached: use a paid plan, "
                } else {
                    "or authenticate the pulls (repositoryCredentials with a Docker Hub account) so the per-account limit applies instead of the shared anonymous one, "
                },
            ),
        ),
        (RegistryKind::Ecr { .. }, Some(upstream)) => (
            format!("The pull-through cache's upstream registry {upstream} rate-limited the pull"),
            format!(
                "Add upstream credentials to the pull-through cache rule for {upstream} (a Secrets Manager secret \
                 ecr-pullthroughcache/…) so cached pulls are authenticated, and let the cache warm before scaling out."
            ),
        ),
        (RegistryKind::Ecr { .. }, None) => (
            "ECR throttled the pull (API request quota)".to_string(),
            "Spread out task launches (deployment batch size, service scaling steps), and if it persists request a higher \
             quota for the ECR actions named in the message (GetAuthorizationToken, BatchGetImage, GetDownloadUrlForLayer) \
             in Service Quotas."
                .to_string(),
        ),
        (_, _) => (
            format!("{} rate-limited the pull", image.registry),
            format!(
                "Authenticate the pulls (repositoryCredentials) or serve the image from ECR — directly or through a \
                 pull-through cache rule for {} where ECR supports that registry.",
                image.registry
            ),
        ),
    };
    vec![Finding::fail(code, title)
        .resource(image.to_string())
        .evidence("registry", image.registry.as_str())
        .evidence("authenticated", has_credentials)
        .evidence("http_status", facts.failure.classification.http_status)
        .remediation(remediation)]
}
