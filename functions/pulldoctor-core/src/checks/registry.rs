//! Registry checks: the repository's own policies (who may pull, what gets expired), private
//! registry credentials, and what a registry answers (rejected credentials, rate limits).

use crate::checks::rule::{Doc, Phases, Rule, Stage, ECS_ONLY, EVERYWHERE, ROLE_POLICY_READS};
use serde_json::{json, Value};

use super::console;
use super::permissions::{
    principal_context, verdicts_from_policies, verdicts_from_simulation, ActionVerdict, VIA_LOCAL,
    VIA_SIMULATOR,
};
use super::wording::task_definition_suffix;
use super::wording::words;
use crate::model::arn;
use crate::model::arn::kms_key_arn;
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{Fact, Facts, SecretShape};
use crate::model::image_ref::{ImageRef, RegistryKind};
use crate::model::message::{Category, Phase};
use crate::model::pull::pull_role;
use crate::model::pull::PULL_ACTIONS;
use crate::policy::{
    matching, Context, Decision, Effect, Labeled, Principal, Request, StatementRef, Truth,
};

pub const ECR_REPOSITORY_POLICY: Rule = Rule {
    code: RootCause::EcrRepositoryPolicy,
    name: "ecr_repository_policy",
    title: "The repository policy does not let this role pull",
    stage: Stage::Repository,
    explains: &[Category::AccessDenied, Category::RegistryCredentials],
    phases: Phases::Any,
    scope: EVERYWHERE,
    reads: &[
        &["ecr:GetRepositoryPolicy", "ecr:DescribeImages"],
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

/// The check of [`ECR_REPOSITORY_POLICY`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_repository_policy(facts: &Facts) -> Vec<Finding> {
    let Some((image, account, region)) = facts.ecr_image() else {
        return vec![];
    };
    if facts.repository.is_not_found() {
        return vec![];
    }
    let Some(who) = pull_role(facts) else {
        return vec![];
    };
    let Some(role_arn) = who.arn.clone() else {
        return vec![];
    };
    let pull = RepositoryPull::new(facts, image, account, region, role_arn);
    let doc = match pull.policy(&facts.identity.repository_policy) {
        Ok(doc) => doc,
        Err(finding) => return vec![*finding],
    };
    let (principal, ctx) = principal_context(&pull.role_arn, who.fact.value());
    let ctx = ctx
        .set("aws:RequestedRegion", region)
        .set("aws:ResourceAccount", account);
    let policy = Labeled {
        label: "repository policy",
        document: doc,
    };
    let judged = PolicyJudgement::of(&policy, &pull.repo_arn, &principal, &ctx);
    vec![pull.finding(&judged)]
}

/// The pull a repository policy is judged for: the repository, the role that pulls, and whether
/// they are in different accounts.
struct RepositoryPull<'a> {
    image: &'a ImageRef,
    account: &'a str,
    role_arn: String,
    role_account: String,
    cross_account: bool,
    repo_arn: String,
    url: String,
    /// "task" or "node"/"pod" (who reaches ECR), for the remediation's words.
    puller_word: &'static str,
}

impl<'a> RepositoryPull<'a> {
    fn new(
        facts: &Facts,
        image: &'a ImageRef,
        account: &'a str,
        region: &str,
        role_arn: String,
    ) -> Self {
        let role_account = arn::account(&role_arn).unwrap_or_default().to_string();
        RepositoryPull {
            image,
            account,
            cross_account: !role_account.is_empty() && role_account != account,
            repo_arn: facts.repository_arn(&role_arn, image, account, region),
            url: console::ecr_repository(region, account, &image.repository),
            role_arn,
            role_account,
            puller_word: words(facts).task,
        }
    }

    /// The statement a repository in another account needs.
    fn grant(&self) -> String {
        format!(
            "an Allow statement for principal {} (or arn:aws:iam::{}:root) with actions {}",
            self.role_arn,
            self.role_account,
            PULL_ACTIONS.join(", ")
        )
    }

    /// The resource, console link and evidence every finding of this check carries.
    fn base(&self, f: Finding) -> Finding {
        f.resource(format!("{}/{}", self.image.registry, self.image.repository))
            .console_url(self.url.clone())
            .evidence("repository_arn", self.repo_arn.as_str())
            .evidence("pulling_role", self.role_arn.as_str())
            .evidence("cross_account", self.cross_account)
    }

    /// The policy document, or the finding when there is none to judge.
    fn policy<'f>(&self, fact: &'f Fact<Value>) -> Result<&'f Value, Box<Finding>> {
        let code = RootCause::EcrRepositoryPolicy;
        let (repository, account, role_account) =
            (&self.image.repository, self.account, &self.role_account);
        let finding = match fact {
            Fact::Found { value } => return Ok(value),
            Fact::NotFound { .. } if self.cross_account => Finding::fail(
                code,
                format!("Repository {repository} in account {account} has no policy granting account {role_account}"),
            )
            .remediation(format!(
                "A repository in another account must grant the pull: add to the repository policy of {repository} in account \
                 {account} {}.",
                self.grant()
            )),
            Fact::NotFound { .. } => Finding::pass(code, format!("Repository {repository} has no repository policy")),
            gap if self.cross_account => Finding::unknown(
                code,
                format!("Could not read the policy of repository {repository} in account {account}"),
                gap.gap().unwrap_or_default(),
            )
            .remediation(format!(
                "Ask the owner of account {account} to confirm that the repository policy of {repository} contains {}, and \
                 no Deny statement matching that role.",
                self.grant()
            )),
            gap => Finding::unknown(code, "Could not read the repository policy", gap.gap().unwrap_or_default()),
        };
        Err(Box::new(self.base(finding)))
    }

    /// The finding for what the policy says about the pull (evidence after the common part, in
    /// the order reports show it).
    fn finding(&self, judged: &PolicyJudgement) -> Finding {
        let code = RootCause::EcrRepositoryPolicy;
        let (repository, account, role_arn) =
            (&self.image.repository, self.account, &self.role_arn);
        let role_name = crate::model::arn::role_name(role_arn);
        let statements = |list: &[StatementRef]| {
            json!(list.iter().map(|s| s.statement.clone()).collect::<Vec<_>>())
        };
        if judged.deny == Truth::Yes {
            let certain: Vec<&str> = judged
                .denies
                .iter()
                .filter(|s| s.unresolved.is_empty())
                .map(|s| s.statement.as_str())
                .collect();
            self.base(Finding::fail(
                code,
                format!("The repository policy of {repository} denies the pull to {role_name}: statement {}", certain.join(", ")),
            ))
            .evidence("deny_statements", statements(&judged.denies))
            .remediation(format!(
                "Remove or narrow the Deny statement(s) {} in the repository policy of {repository} (account {account}) so they no \
                 longer match {role_arn}.",
                certain.join(", "),
            ))
        } else if self.cross_account && judged.allow == Truth::No {
            self.base(Finding::fail(
                code,
                format!(
                    "The repository policy of {repository} (account {account}) does not grant {} to account {}",
                    judged.not_granted.join(", "),
                    self.role_account
                ),
            ))
            .evidence("allow_statements", statements(&judged.allows))
            .remediation(format!("Add to the repository policy of {repository} in account {account} {}.", self.grant()))
        } else if judged.deny == Truth::Maybe
            || (self.cross_account && judged.allow == Truth::Maybe)
        {
            self.base(Finding::unknown(
                code,
                format!("Whether the repository policy of {repository} lets {role_name} pull depends on conditions"),
                judged.unresolved(self.cross_account),
            ))
            .remediation(format!(
                "Verify that the pull meets these conditions (for aws:SourceVpce/aws:SourceVpc: that the {} reaches ECR \
                 through the named VPC endpoint or VPC).",
                self.puller_word
            ))
        } else {
            let what = if self.cross_account {
                "grants the pull and denies nothing to"
            } else {
                "denies nothing to"
            };
            self.base(Finding::pass(
                code,
                format!("The repository policy of {repository} {what} {role_name}"),
            ))
            .evidence("allow_statements", statements(&judged.allows))
        }
    }
}

/// What a resource policy says about each pull action: the Deny and Allow statements that match
/// (each once), whether any Deny applies, whether every action is allowed, and what is not.
struct PolicyJudgement {
    denies: Vec<StatementRef>,
    deny: Truth,
    allows: Vec<StatementRef>,
    allow: Truth,
    not_granted: Vec<&'static str>,
}

impl PolicyJudgement {
    fn of(policy: &Labeled, resource: &str, principal: &Principal, ctx: &Context) -> Self {
        let mut judged = PolicyJudgement {
            denies: vec![],
            deny: Truth::No,
            allows: vec![],
            allow: Truth::Yes,
            not_granted: vec![],
        };
        for action in PULL_ACTIONS {
            let req = Request {
                action,
                resource,
                principal: Some(principal),
                context: ctx,
            };
            let d = matching(policy, &req, Effect::Deny);
            judged.deny = judged.deny.or(d.truth);
            for s in d.statements {
                if !judged.denies.contains(&s) {
                    judged.denies.push(s);
                }
            }
            let a = matching(policy, &req, Effect::Allow);
            if a.truth == Truth::No {
                judged.not_granted.push(action);
            }
            judged.allow = judged.allow.and(a.truth);
            for s in a.statements {
                if !judged.allows.contains(&s) {
                    judged.allows.push(s);
                }
            }
        }
        judged
    }

    /// The conditions that could not be evaluated (of the Allow statements too, across accounts).
    fn unresolved(&self, with_allows: bool) -> String {
        let unresolved: Vec<String> = self
            .denies
            .iter()
            .chain(if with_allows {
                self.allows.iter()
            } else {
                [].iter()
            })
            .filter(|s| !s.unresolved.is_empty())
            .map(|s| {
                format!(
                    "statement {} ({}): {}",
                    s.statement,
                    s.effect,
                    s.unresolved.join(" and ")
                )
            })
            .collect();
        unresolved.join("; ")
    }
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
        &["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
        ROLE_POLICY_READS,
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

/// The check of [`REGISTRY_SECRET`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_registry_secret(facts: &Facts) -> Vec<Finding> {
    let code = RootCause::IamRegistrySecret;
    let Some(td) = facts.task_definition.value() else {
        return vec![];
    };
    let Some(secret_id) = facts
        .failure
        .container
        .as_deref()
        .and_then(|n| td.container(Some(n)))
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
    let kms = secret
        .kms_key_id
        .as_deref()
        .and_then(|k| kms_key_arn(k, &secret_arn));
    let mut judged = SecretJudgement::default();
    judged.shape(&secret.shape);
    let via = judged.execution_role(
        facts,
        td.execution_role_arn.is_some(),
        &secret_arn,
        kms.as_deref(),
    );
    vec![judged
        .finding(&secret_arn, kms.as_deref())
        .resource(secret_arn.clone())
        .evidence("secret_arn", secret_arn.as_str())
        .evidence("kms_key", kms)
        .evidence("shape", secret.shape.value().map(|s| json!(s)))
        .evidence("evaluated_with", via)]
}

/// What is wrong with the registry secret, what could not be judged, and how to fix it.
#[derive(Default)]
struct SecretJudgement {
    problems: Vec<String>,
    unknowns: Vec<String>,
    fixes: Vec<String>,
}

impl SecretJudgement {
    /// ECS needs a JSON object with string `username` and `password` keys.
    fn shape(&mut self, shape: &Fact<SecretShape>) {
        let s = match shape {
            Fact::Found { value } => value,
            gap => {
                return self.unknowns.push(format!(
                    "the secret's shape could not be read ({})",
                    gap.gap().unwrap_or_default()
                ))
            }
        };
        let before = self.problems.len();
        if s.binary {
            self.problems
                .push("the secret is binary, not a JSON string".into());
        } else if !s.json_object {
            self.problems.push("the secret is not a JSON object".into());
        } else {
            let missing: Vec<&str> = [("username", s.has_username), ("password", s.has_password)]
                .iter()
                .filter(|(_, has)| !has)
                .map(|(k, _)| *k)
                .collect();
            if !missing.is_empty() {
                self.problems
                    .push(format!("the secret has no {} key", missing.join(" or ")));
            } else if !s.values_are_strings {
                self.problems
                    .push("username or password is empty or not a string".into());
            }
        }
        if self.problems.len() > before {
            self.fixes.push("Store the credentials as {\"username\": \"…\", \"password\": \"…\"} in the secret.".into());
        }
    }

    /// May the execution role read and decrypt the secret? Returns how that was judged.
    fn execution_role(
        &mut self,
        facts: &Facts,
        has_execution_role: bool,
        secret_arn: &str,
        kms: Option<&str>,
    ) -> Option<&'static str> {
        let role = match &facts.identity.execution_role {
            _ if !has_execution_role => return None, // reported by IAM_EXECUTION_ROLE_MISSING
            Fact::NotFound { .. } => return None,    // reported by IAM_EXECUTION_ROLE_TRUST
            Fact::Found { value } => value,
            gap => {
                self.unknowns.push(format!(
                    "the execution role could not be read ({})",
                    gap.gap().unwrap_or_default()
                ));
                return None;
            }
        };
        let (via, verdicts): (_, Result<Vec<ActionVerdict>, String>) =
            match &facts.identity.secret_simulation {
                Fact::Found { value } => (VIA_SIMULATOR, Ok(verdicts_from_simulation(value))),
                sim_gap => {
                    let (_, ctx) = principal_context(&role.arn, Some(role));
                    let mut requests = vec![("secretsmanager:GetSecretValue", secret_arn)];
                    if let Some(k) = kms {
                        requests.push(("kms:Decrypt", k));
                    }
                    let verdicts = verdicts_from_policies(role, &requests, &ctx).map_err(|e| {
                        format!("simulator: {}; {e}", sim_gap.gap().unwrap_or("not run"))
                    });
                    (VIA_LOCAL, verdicts)
                }
            };
        match verdicts {
            Ok(verdicts) => {
                for v in verdicts {
                    match v.decision {
                        Decision::Allowed => {}
                        Decision::Unknown => self.unknowns.push(format!("{}: {}", v.action, v.why)),
                        _ => {
                            self.problems.push(format!(
                                "the execution role {} may not {} ({})",
                                role.name, v.action, v.why
                            ));
                            self.fixes.push(format!(
                                "Allow {} on {} to the execution role {}.",
                                v.action, v.resource, role.name
                            ));
                        }
                    }
                }
            }
            Err(e) => self.unknowns.push(format!(
                "the execution role's permissions could not be judged: {e}"
            )),
        }
        Some(via)
    }

    fn finding(&self, secret_arn: &str, kms: Option<&str>) -> Finding {
        let code = RootCause::IamRegistrySecret;
        let note_kms = kms.map(|k| {
            format!("The key policy of {k} must also let the execution role decrypt (pulldoctor does not read key policies).")
        });
        if !self.problems.is_empty() {
            Finding::fail(
                code,
                format!(
                    "Registry credentials secret {}: {}",
                    short_secret(secret_arn),
                    self.problems.join("; ")
                ),
            )
            .remediation(
                [self.fixes.join(" "), note_kms.unwrap_or_default()]
                    .join(" ")
                    .trim()
                    .to_string(),
            )
        } else if !self.unknowns.is_empty() {
            Finding::unknown(code, format!("Could not fully check the registry credentials secret {}", short_secret(secret_arn)), self.unknowns.join("; "))
                .remediation("Verify that the execution role may read (and decrypt) the secret and that it holds username and password keys.")
        } else {
            let mut f = Finding::pass(
                code,
                format!(
                    "Registry credentials secret {} is readable and well-formed",
                    short_secret(secret_arn)
                ),
            );
            if let Some(n) = note_kms {
                f = f.evidence("note", n);
            }
            f
        }
    }
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
        &["ecs:DescribeTaskDefinition"],
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

/// The check of [`REGISTRY_AUTH`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_registry_auth(facts: &Facts) -> Vec<Finding> {
    let code = RootCause::RegistryAuth;
    let Some(image) = facts.failure.image_ref.as_ref() else {
        return vec![];
    };
    if matches!(image.kind, RegistryKind::Ecr { .. })
        || facts.failure.classification.category != Category::RegistryCredentials
    {
        return vec![];
    }
    let secret = facts.task_definition.value().and_then(|td| {
        let name = facts.failure.container.as_deref()?;
        td.container(Some(name))?
            .registry_credentials_secret
            .clone()
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
        &["ecs:DescribeTaskDefinition"],
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

/// The check of [`REGISTRY_RATE_LIMIT`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_rate_limit(facts: &Facts) -> Vec<Finding> {
    let code = RootCause::RegistryRateLimit;
    let Some(image) = facts.failure.image_ref.as_ref() else {
        return vec![];
    };
    if facts.failure.classification.category != Category::RateLimited {
        return vec![];
    }
    let has_credentials = facts
        .task_definition
        .value()
        .and_then(|td| {
            let name = facts.failure.container.as_deref()?;
            td.container(Some(name))
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
