//! Secrets the task injects at start (`containerDefinitions[].secrets`, `logConfiguration.
//! secretOptions`): ECS reads every one of them with the task execution role before any container
//! starts, and one that is missing or unreadable stops the task with `ResourceInitializationError:
//! unable to pull secrets or registry auth`. These checks run only when the message says that step
//! failed; when the message names the secret, only that one is judged. Registry credentials
//! (`repositoryCredentials`) are IAM_REGISTRY_SECRET's; the network path to `secretsmanager` and
//! `ssm` is the NET_* checks'.

use crate::checks::rule::{Doc, Phases, Rule, Stage, ECS_ONLY, ROLE_POLICY_READS};
use crate::model::message::Category;
use serde_json::json;

use super::console;
use super::permissions::{
    principal_context, verdicts_from_policies, verdicts_from_simulation, ActionVerdict, VIA_LOCAL,
    VIA_SIMULATOR,
};
use super::wording::task_definition_suffix;
use crate::model::arn::kms_key_arn;
use crate::model::arn::role_name;
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{
    Fact, Facts, RoleFacts, SimulationResult, TaskSecretFacts, TaskSecretsFacts,
};
use crate::model::secret_ref::{named_secrets, parse_value_from, SecretStore};
use crate::policy::{with_key_policy, with_resource_policy, Decision, Labeled, Principal, Request};

static JSON_KEY_MISSING: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"(?i)did not contain json key (\S+)").expect("static regex")
});

/// The secrets to judge: those the message names, else all of the step's store. `None` when the
/// check does not apply (not a secrets failure, no such secret in the task, or the message names a
/// secret that is not one of the task's — the registry credentials).
fn scope(facts: &Facts) -> Option<(&TaskSecretsFacts, Vec<&TaskSecretFacts>)> {
    let all = facts.secrets.value()?;
    if all.secrets.is_empty() {
        return None;
    }
    let named: Vec<&TaskSecretFacts> = all.secrets.iter().filter(|s| s.named_in_message).collect();
    if !named.is_empty() {
        return Some((all, named));
    }
    if !named_secrets(&facts.failure.message).is_empty() {
        return None;
    }
    Some((all, all.secrets.iter().collect()))
}

/// Judge each store's secrets on their own (a task can inject both Secrets Manager secrets and
/// SSM parameters; preflight judges both, a stopped task the store its step names).
fn per_store(
    facts: &Facts,
    judge: fn(&Facts, &TaskSecretsFacts, Vec<&TaskSecretFacts>) -> Vec<Finding>,
) -> Vec<Finding> {
    let Some((all, judged)) = scope(facts) else {
        return vec![];
    };
    [SecretStore::SecretsManager, SecretStore::Ssm]
        .into_iter()
        .map(|store| {
            judged
                .iter()
                .copied()
                .filter(|s| s.store == store)
                .collect::<Vec<_>>()
        })
        .filter(|part| !part.is_empty())
        .flat_map(|part| judge(facts, all, part))
        .collect()
}

/// `/app/db-password`, `prod/db-AbCdEf`: the name a user knows the secret by.
fn display(s: &TaskSecretFacts) -> String {
    parse_value_from(&s.reference)
        .map(|r| r.name)
        .unwrap_or_else(|| s.reference.clone())
}

fn names(list: &[&TaskSecretFacts]) -> String {
    list.iter()
        .map(|s| display(s))
        .collect::<Vec<_>>()
        .join(", ")
}

fn containers(list: &[&TaskSecretFacts]) -> String {
    let mut all: Vec<&str> = list
        .iter()
        .flat_map(|s| s.containers.iter().map(String::as_str))
        .collect();
    all.sort_unstable();
    all.dedup();
    all.join(", ")
}

fn plural(n: usize, label: &str) -> String {
    if n == 1 {
        label.to_string()
    } else {
        format!("{n} {label}s")
    }
}

fn task_definition_url(facts: &Facts) -> Option<String> {
    let td = facts.task_definition.value()?;
    Some(console::task_definition(
        facts.region.as_deref()?,
        td.family.as_deref()?,
        td.revision?,
    ))
}

fn with_url(f: Finding, url: Option<String>) -> Finding {
    match url {
        Some(u) => f.console_url(u),
        None => f,
    }
}

pub const TASK_SECRETS_EXIST: Rule = Rule {
    code: RootCause::SecretNotFound,
    name: "task_secrets_exist",
    title: "A secret or parameter the task needs at start does not exist",
    stage: Stage::Identity,
    explains: &[Category::RegistryCredentials, Category::AccessDenied],
    phases: Phases::Any,
    scope: ECS_ONLY,
    reads: &[
        &["secretsmanager:DescribeSecret", "ssm:DescribeParameters"],
    ],
    doc: Doc {
        what: "a secret or SSM parameter the task needs at start (registry credentials or `secrets`) does not \
             exist",
        why: "ECS fetches the secrets a container injects (secrets[].valueFrom) before it starts the task. A \
             Secrets Manager secret or SSM parameter that was deleted, never created, misspelled, or lives in \
             another region or account while named by a bare name makes the task stop at that step \
             (ResourceNotFoundException, invalid ssm parameters). A JSON key that the secret lacks fails the \
             same way. Only metadata is read.",
        fix: "Create the secret or parameter in the task's region and account, or correct valueFrom in the \
             task definition; name a secret or parameter in another region or account by its full ARN, then \
             register a new revision.",
        reference: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/specifying-sensitive-data.html",
    },
    run: check_secrets_exist,
};

/// The check of [`TASK_SECRETS_EXIST`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_secrets_exist(facts: &Facts) -> Vec<Finding> {
    per_store(facts, secrets_exist_in)
}

fn secrets_exist_in(
    facts: &Facts,
    all: &TaskSecretsFacts,
    judged: Vec<&TaskSecretFacts>,
) -> Vec<Finding> {
    let code = RootCause::SecretNotFound;
    let label = judged[0].store.label();
    let missing: Vec<&TaskSecretFacts> = judged
        .iter()
        .copied()
        .filter(|s| s.metadata.is_not_found())
        .collect();
    let unreadable: Vec<String> = judged
        .iter()
        .filter(|s| !s.metadata.is_not_found())
        .filter_map(|s| Some(format!("{}: {}", display(s), s.metadata.gap()?)))
        .collect();
    let evidence = json!(judged
        .iter()
        .map(|s| json!({"secret": s.reference, "containers": s.containers, "exists": match &s.metadata {
            Fact::Found { .. } => json!(true),
            Fact::NotFound { detail } => json!(format!("no: {detail}")),
            other => json!(format!("unknown: {}", other.gap().unwrap_or_default())),
        }}))
        .collect::<Vec<_>>());
    let region = facts.region.as_deref().unwrap_or("the task's region");
    // "did not contain json key K": the secret exists, the key a valueFrom asks for does not. Blamed
    // only when exactly one of the task's secrets asks for K (else it may be the registry's).
    let key_missing = JSON_KEY_MISSING
        .captures(&facts.failure.message)
        .and_then(|c| {
            let key = c.get(1)?.as_str().trim_end_matches('.');
            let asking: Vec<&TaskSecretFacts> = judged
                .iter()
                .copied()
                .filter(|s| !s.metadata.is_not_found())
                .filter(|s| {
                    parse_value_from(&s.reference)
                        .and_then(|r| r.json_key)
                        .as_deref()
                        == Some(key)
                })
                .collect();
            match asking.as_slice() {
                [one] => Some((key.to_string(), *one)),
                _ => None,
            }
        });
    let finding = if let Some(first) = missing.first() {
        let title = if missing.len() == 1 {
            format!(
                "{label} {} does not exist (injected by container {})",
                display(first),
                containers(&missing)
            )
        } else {
            format!(
                "{} the task injects do not exist: {}",
                plural(missing.len(), label),
                names(&missing)
            )
        };
        Finding::fail(code, title).resource(first.reference.clone()).remediation(format!(
            "Create {what} {n} (in {where_}), or correct the valueFrom of container {c} in the task definition{td} and \
             register a new revision. A secret or parameter in another region or account must be named by its full ARN.",
            what = label,
            n = names(&missing),
            where_ = match parse_value_from(&first.reference) {
                Some(r) if r.region.is_some() => format!("{} of account {}", r.region.unwrap_or_default(), r.account.unwrap_or_default()),
                _ => format!("{region}, the task's region and account"),
            },
            c = containers(&missing),
            td = task_definition_suffix(facts),
        ))
    } else if let Some((key, secret)) = key_missing {
        Finding::fail(
            code,
            format!("{label} {} has no JSON key {key}, which container {} asks for", display(secret), containers(&[secret])),
        )
        .resource(secret.reference.clone())
        .remediation(format!(
            "Add the key {key} to the JSON of {label} {}, or correct the key in its valueFrom (arn:…:secret:NAME:KEY::) in \
             the task definition{} and register a new revision.",
            display(secret),
            task_definition_suffix(facts),
        ))
    } else if !unreadable.is_empty() {
        Finding::unknown(
            code,
            format!("Could not check that the {label}s the task injects exist"),
            unreadable.join("; "),
        )
        .resource(judged[0].reference.clone())
        .remediation(format!("Verify that {} exist in {region}.", names(&judged)))
    } else {
        Finding::pass(
            code,
            format!(
                "The {} the task injects exist: {}",
                plural(judged.len(), label),
                names(&judged)
            ),
        )
        .resource(judged[0].reference.clone())
    };
    vec![with_url(
        finding
            .evidence("secrets", evidence)
            .evidence("step", json!(all.step)),
        task_definition_url(facts),
    )]
}

/// A full secret ARN ends in the 6 characters Secrets Manager appends; a partial one cannot be
/// matched against policies written for `name-*` or the full ARN.
fn arn_is_exact(s: &TaskSecretFacts) -> bool {
    s.metadata.value().is_some_and(|m| m.arn.is_some())
        || s.store == SecretStore::Ssm
        || display(s).rsplit_once('-').is_some_and(|(_, tail)| {
            tail.len() == 6 && tail.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

pub const TASK_SECRETS_ACCESS: Rule = Rule {
    code: RootCause::SecretAccessDenied,
    name: "task_secrets_access",
    title: "The execution role may not read a secret or parameter the task needs (or its KMS key)",
    stage: Stage::Identity,
    explains: &[Category::RegistryCredentials, Category::AccessDenied],
    phases: Phases::Any,
    scope: ECS_ONLY,
    reads: &[
        &["secretsmanager:DescribeSecret", "ssm:DescribeParameters"],
        &["secretsmanager:GetResourcePolicy", "kms:GetKeyPolicy"],
        ROLE_POLICY_READS,
    ],
    doc: Doc {
        what: "the execution role may not read a secret or SSM parameter the task needs, or its KMS key",
        why: "ECS reads the task's secrets with the execution role: secretsmanager:GetSecretValue on each \
             secret, ssm:GetParameters on each parameter, and kms:Decrypt on a customer managed key that \
             encrypts one. A missing allow, an explicit deny, a permission boundary or an SCP makes the read \
             fail with AccessDeniedException and the task stops before its containers start.",
        fix: "Allow the execution role those actions on the exact secret and parameter ARNs, and kms:Decrypt \
             on their customer managed keys (the key policy must allow it too).",
        reference: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html",
    },
    run: check_secrets_access,
};

/// The check of [`TASK_SECRETS_ACCESS`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_secrets_access(facts: &Facts) -> Vec<Finding> {
    per_store(facts, secrets_access_in)
}

fn secrets_access_in(
    facts: &Facts,
    all: &TaskSecretsFacts,
    judged: Vec<&TaskSecretFacts>,
) -> Vec<Finding> {
    let code = RootCause::SecretAccessDenied;
    let Some(td) = facts.task_definition.value() else {
        return vec![];
    };
    let judged: Vec<&TaskSecretFacts> = judged
        .into_iter()
        .filter(|s| !s.metadata.is_not_found())
        .collect();
    if judged.is_empty() {
        return vec![];
    }
    let store = judged[0].store;
    let action = store.read_action();
    let url = task_definition_url(facts);
    let Some(role_arn) = &td.execution_role_arn else {
        return vec![with_url(
            Finding::fail(code, format!("The task definition has no execution role, which ECS needs to read {}", names(&judged)))
                .resource(td.arn.clone().unwrap_or_else(|| "task definition".into()))
                .remediation(format!(
                    "Set executionRoleArn in the task definition{} to a role trusted by ecs-tasks.amazonaws.com that may {action} \
                     on {}, register a new revision and deploy it.",
                    task_definition_suffix(facts),
                    names(&judged)
                )),
            url,
        )];
    };
    let role = match &facts.identity.execution_role {
        Fact::Found { value } => value,
        // IAM_EXECUTION_ROLE_TRUST reports a role that does not exist.
        Fact::NotFound { .. } => return vec![],
        gap => {
            return vec![Finding::unknown(
                code,
                format!("Could not read the execution role {}", role_name(role_arn)),
                gap.gap().unwrap_or_default(),
            )
            .resource(role_arn.clone())]
        }
    };
    let mut access = SecretsAccess::default();
    access.requests(&judged, store);
    let via = access.judge(
        &all.simulation,
        role,
        &ResourceSide {
            all,
            judged: &judged,
            store,
        },
    );
    vec![with_url(
        access
            .finding(facts, role, &judged, store)
            .resource(judged[0].resource_arn.clone())
            .evidence("execution_role", role.arn.as_str())
            .evidence(
                "requests",
                json!(access
                    .requests
                    .iter()
                    .map(|(a, r, _)| format!("{a} on {r}"))
                    .collect::<Vec<_>>()),
            )
            .evidence("evaluated_with", via),
        url,
    )]
}

/// The reads ECS makes with the execution role, and what the role's permissions say of them.
#[derive(Default)]
struct SecretsAccess {
    /// (action, resource, what it is) for every read ECS makes.
    requests: Vec<(&'static str, String, String)>,
    /// Customer managed keys, each once.
    keys: Vec<String>,
    problems: Vec<String>,
    fixes: Vec<String>,
    unknowns: Vec<String>,
}

/// What the secrets and their keys say about a request, beside the execution role's own policies.
struct ResourceSide<'a> {
    all: &'a TaskSecretsFacts,
    judged: &'a [&'a TaskSecretFacts],
    store: SecretStore,
}

impl ResourceSide<'_> {
    /// The role's verdict on one request, combined with the secret's resource policy (its read
    /// action) or the key's policy (`kms:Decrypt`), as IAM and KMS decide.
    fn decide(&self, role: &RoleFacts, v: ActionVerdict) -> ActionVerdict {
        let (principal, ctx) = principal_context(&role.arn, Some(role));
        let role_account = crate::model::arn::account(&role.arn)
            .unwrap_or_default()
            .to_string();
        let (decision, why) = if v.action == "kms:Decrypt" {
            let Some(doc) = self
                .all
                .key_policies
                .iter()
                .find(|p| p.key_arn == v.resource)
                .and_then(|p| p.policy.value())
            else {
                return v;
            };
            let region = crate::model::arn::region(&v.resource).unwrap_or_default();
            let service = match self.store {
                SecretStore::SecretsManager => "secretsmanager",
                SecretStore::Ssm => "ssm",
            };
            let ctx = ctx
                .set(
                    "kms:ViaService",
                    format!("{service}.{region}.amazonaws.com"),
                )
                .set("kms:CallerAccount", role_account.clone());
            let req = Request {
                action: &v.action,
                resource: &v.resource,
                principal: Some(&principal),
                context: &ctx,
            };
            let root = Principal::of_arn(&format!("arn:aws:iam::{role_account}:root"));
            let policy = Labeled {
                label: "key policy",
                document: doc,
            };
            with_key_policy(v.decision, &policy, &req, &root)
        } else {
            let Some(secret) = self.judged.iter().find(|s| s.resource_arn == v.resource) else {
                return v;
            };
            let doc = match &secret.resource_policy {
                Fact::Found { value } => Some(value),
                Fact::NotFound { .. } => None,
                _ => return v,
            };
            let same_account =
                crate::model::arn::account(&v.resource) == Some(role_account.as_str());
            let req = Request {
                action: &v.action,
                resource: &v.resource,
                principal: Some(&principal),
                context: &ctx,
            };
            let labeled = doc.map(|d| Labeled {
                label: "the secret's resource policy",
                document: d,
            });
            with_resource_policy(
                v.decision,
                labeled.as_ref(),
                &req,
                same_account,
                v.why.contains("boundary"),
            )
        };
        match why {
            Some(why) => ActionVerdict { decision, why, ..v },
            None => ActionVerdict { decision, ..v },
        }
    }
}

impl SecretsAccess {
    /// The store's read action on each secret, and kms:Decrypt on each customer managed key.
    fn requests(&mut self, judged: &[&TaskSecretFacts], store: SecretStore) {
        let (action, label) = (store.read_action(), store.label());
        for s in judged {
            if arn_is_exact(s) {
                self.requests.push((
                    action,
                    s.resource_arn.clone(),
                    format!("{label} {}", display(s)),
                ));
            } else {
                self.unknowns.push(format!(
                    "{}: its full ARN is not known ({})",
                    display(s),
                    s.metadata.gap().unwrap_or("not described")
                ));
            }
            match s.metadata.value().and_then(|m| m.kms_key_id.as_deref()) {
                None => {}
                Some(key) => match kms_key_arn(key, &s.resource_arn) {
                    Some(k) if !self.keys.contains(&k) => {
                        self.keys.push(k.clone());
                        self.requests.push(("kms:Decrypt", k.clone(), format!("the KMS key of {}", display(s))));
                    }
                    Some(_) => {}
                    None => self.unknowns.push(format!(
                        "{} is encrypted with KMS key {key}: an alias is not resolved, so kms:Decrypt on the key it names is not checked",
                        display(s)
                    )),
                },
            }
        }
    }

    /// Judge every request by the simulation, else by the role's documents, then with each
    /// resource's own policy (the secret's, the key's); returns how.
    fn judge(
        &mut self,
        simulation: &Fact<Vec<SimulationResult>>,
        role: &RoleFacts,
        side: &ResourceSide,
    ) -> &'static str {
        let (verdicts, via): (Result<Vec<ActionVerdict>, String>, &str) = match simulation {
            Fact::Found { value } => {
                let wanted = |v: &ActionVerdict| {
                    self.requests
                        .iter()
                        .any(|(a, r, _)| *a == v.action && *r == v.resource)
                };
                (
                    Ok(verdicts_from_simulation(value)
                        .into_iter()
                        .filter(wanted)
                        .collect()),
                    VIA_SIMULATOR,
                )
            }
            sim_gap => {
                let (_, ctx) = principal_context(&role.arn, Some(role));
                let pairs: Vec<(&str, &str)> = self
                    .requests
                    .iter()
                    .map(|(a, r, _)| (*a, r.as_str()))
                    .collect();
                (
                    verdicts_from_policies(role, &pairs, &ctx).map_err(|e| {
                        format!("simulator: {}; {e}", sim_gap.gap().unwrap_or("not run"))
                    }),
                    VIA_LOCAL,
                )
            }
        };
        let verdicts = verdicts.map(|list| {
            list.into_iter()
                .map(|v| side.decide(role, v))
                .collect::<Vec<_>>()
        });
        match verdicts {
            Ok(verdicts) => {
                for (a, r, what) in &self.requests {
                    match verdicts.iter().find(|v| v.action == *a && v.resource == *r) {
                        Some(v) if v.decision == Decision::Allowed => {}
                        Some(v) if v.decision == Decision::Unknown => {
                            self.unknowns.push(format!("{a} on {what}: {}", v.why))
                        }
                        Some(v) => {
                            self.problems.push(format!("{a} on {what} ({})", v.why));
                            self.fixes.push(format!(
                                "Allow {a} on {r} to the execution role {}.",
                                role.name
                            ));
                        }
                        None => self
                            .unknowns
                            .push(format!("{a} on {what}: the simulator gave no answer")),
                    }
                }
            }
            Err(e) => self.unknowns.push(format!(
                "the execution role's permissions could not be judged: {e}"
            )),
        }
        via
    }

    fn finding(
        &self,
        facts: &Facts,
        role: &RoleFacts,
        judged: &[&TaskSecretFacts],
        store: SecretStore,
    ) -> Finding {
        let code = RootCause::SecretAccessDenied;
        let (action, label) = (store.read_action(), store.label());
        let unread: Vec<&String> = self
            .keys
            .iter()
            .filter(|k| {
                !facts.secrets.value().is_some_and(|all| {
                    all.key_policies
                        .iter()
                        .any(|p| &p.key_arn == *k && p.policy.value().is_some())
                })
            })
            .collect();
        let key_note = (!unread.is_empty()).then(|| {
            let keys: Vec<&str> = unread.iter().map(|k| k.as_str()).collect();
            format!("The key policy of {} must also let the execution role decrypt (it could not be read).", keys.join(", "))
        });
        let cross_account: Vec<String> = judged
            .iter()
            .filter(|s| {
                parse_value_from(&s.reference)
                    .and_then(|r| r.account)
                    .is_some_and(|a| Some(a.as_str()) != facts.account.as_deref())
            })
            .map(|s| display(s))
            .collect();
        if !self.problems.is_empty() {
            Finding::fail(
                code,
                format!(
                    "The execution role {} may not {}",
                    role.name,
                    self.problems.join("; ")
                ),
            )
            .remediation(
                [self.fixes.join(" "), key_note.unwrap_or_default()]
                    .join(" ")
                    .trim()
                    .to_string(),
            )
        } else if !self.unknowns.is_empty() {
            Finding::unknown(code, format!("Could not fully check that the execution role {} may read the task's {label}s", role.name), self.unknowns.join("; "))
                .remediation(format!("Verify that the execution role may {action} on {} (and kms:Decrypt on a customer managed key).", names(judged)))
        } else {
            let mut f = Finding::pass(
                code,
                format!(
                    "The execution role {} may read {}",
                    role.name,
                    names(judged)
                ),
            );
            if let Some(n) = key_note {
                f = f.evidence("note", n);
            }
            if !cross_account.is_empty() {
                f = f.evidence(
                    "cross_account",
                    format!("{} in another account: its resource policy (and key policy) must also grant the role", cross_account.join(", ")),
                );
            }
            f
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::secret_ref::{secrets_step, SecretsStep};

    /// The partial-ARN cases are saved Facts (`tests/fixtures/checks/SECRET_ACCESS_DENIED`); their
    /// message is read as the Secrets Manager step.
    #[test]
    fn partial_secret_arn_message_is_the_secrets_manager_step() {
        let message = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): AccessDeniedException: Access to KMS is not allowed";
        assert_eq!(secrets_step(message), Some(SecretsStep::SecretsManager));
    }
}
