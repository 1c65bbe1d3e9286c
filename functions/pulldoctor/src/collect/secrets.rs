//! The task's own secrets, read only when the task stopped at the step that fetches them
//! (`unable to retrieve secrets from ssm`, `unable to retrieve secret from asm`, `The task cannot
//! pull secrets from …`): whether each secret or parameter exists and which KMS key encrypts it
//! (`secretsmanager:DescribeSecret`, `ssm:DescribeParameters` — metadata only, never a value), and
//! whether the execution role may read and decrypt it (`iam:SimulatePrincipalPolicy`, else the
//! role's policy documents for the local evaluator).
//!
//! Two dependent rounds beside the identity reads: the metadata (which names the KMS keys), then
//! one simulation; the policy documents only if the simulator could not be used.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::ParameterStringFilter;

use super::identity::{get_role, read_policies, simulate};
use super::{CallLog, Clients};
use crate::model::arn::kms_key_arn;
use crate::model::facts::{
    ErrorKind, Fact, Facts, KeyPolicyFacts, RoleFacts, SecretMetadata, SimulationResult,
    TaskDefinitionFacts, TaskSecretFacts, TaskSecretsFacts,
};
use crate::model::secret_ref::{
    named_secrets, parse_value_from, secrets_step, SecretRef, SecretStore,
};

/// At most this many secrets are described (one read each in Secrets Manager); the others say so.
const MAX_DESCRIBED: usize = 20;
/// `ssm:DescribeParameters` accepts up to 50 names in one `Name Equals` filter.
const SSM_BATCH: usize = 50;

/// The secrets facts, and the execution role with its policy documents when the simulator could
/// not be used (for the local evaluator; the caller merges them into the identity facts).
///
/// A stopped task is judged at the step its message names. With no message (preflight: the task
/// that would start) every store the task definition uses is judged, as the task's start will.
pub(super) async fn read(
    clients: &Clients,
    log: &CallLog,
    facts: &Facts,
) -> (Fact<TaskSecretsFacts>, Option<RoleFacts>) {
    let step = secrets_step(&facts.failure.message);
    let td = match &facts.task_definition {
        Fact::Found { value } => value,
        gap => {
            let why = format!(
                "the task definition could not be read: {}",
                gap.gap().unwrap_or_default()
            );
            return (Fact::NotCollected { reason: why }, None);
        }
    };
    let stores = match step.and_then(|s| s.store()) {
        Some(store) => vec![store],
        None if facts.failure.message.trim().is_empty() => stores_used(td),
        None => vec![],
    };
    if stores.is_empty() {
        return (
            Fact::NotCollected {
                reason: "the task did not stop at the step that fetches its secrets".into(),
            },
            None,
        );
    }
    let (Some(region), Some(account)) = (facts.region.as_deref(), facts.account.as_deref()) else {
        return (
            Fact::NotCollected {
                reason: "the task's region or account is not known".into(),
            },
            None,
        );
    };
    let mut merged = TaskSecretsFacts {
        step,
        secrets: vec![],
        simulation: Fact::NotCollected {
            reason: "no secret to judge".into(),
        },
        key_policies: vec![],
    };
    let mut role = None;
    for store in stores {
        let (part, part_role) = read_store(clients, log, facts, td, store, region, account).await;
        merged.secrets.extend(part.secrets);
        merged.simulation = merge_simulations(merged.simulation, part.simulation);
        merged.key_policies.extend(part.key_policies);
        role = role.or(part_role);
    }
    (Fact::found(merged), role)
}

/// The stores the task definition's secrets live in (Secrets Manager first).
fn stores_used(td: &TaskDefinitionFacts) -> Vec<SecretStore> {
    [SecretStore::SecretsManager, SecretStore::Ssm]
        .into_iter()
        .filter(|store| {
            td.containers
                .iter()
                .flat_map(|c| &c.secrets)
                .any(|v| parse_value_from(v).is_some_and(|r| r.store == *store))
        })
        .collect()
}

/// Two stores' simulations as one: every result, or the first gap.
fn merge_simulations(
    a: Fact<Vec<SimulationResult>>,
    b: Fact<Vec<SimulationResult>>,
) -> Fact<Vec<SimulationResult>> {
    match (a, b) {
        (Fact::Found { value: mut x }, Fact::Found { value: y }) => {
            x.extend(y);
            Fact::found(x)
        }
        (Fact::NotCollected { .. }, other) | (other, Fact::NotCollected { .. }) => other,
        (gap, _) => gap,
    }
}

/// One store's secrets: their metadata (round 1), then whether the execution role may read and
/// decrypt them (round 2).
async fn read_store(
    clients: &Clients,
    log: &CallLog,
    facts: &Facts,
    td: &TaskDefinitionFacts,
    store: SecretStore,
    region: &str,
    account: &str,
) -> (TaskSecretsFacts, Option<RoleFacts>) {
    let step = secrets_step(&facts.failure.message);
    let named = named_secrets(&facts.failure.message);
    let mut secrets = task_secrets(td, store, region, account, &named);

    // Round 1: metadata. When the message names secrets, only those are read; when it names one
    // that is not the task's (the registry credentials'), none is.
    let any_named = secrets.iter().any(|(_, s)| s.named_in_message);
    if !named.is_empty() && !any_named {
        let secrets = secrets
            .into_iter()
            .map(|(_, mut s)| {
                s.metadata = Fact::NotCollected {
                    reason: "the message names another secret".into(),
                };
                s
            })
            .collect();
        let simulation = Fact::NotCollected {
            reason: "the message names another secret".into(),
        };
        return (
            TaskSecretsFacts {
                step,
                secrets,
                simulation,
                key_policies: vec![],
            },
            None,
        );
    }
    match store {
        SecretStore::SecretsManager => {
            read_secrets_metadata(clients, log, &mut secrets, region, any_named).await
        }
        SecretStore::Ssm => {
            read_parameters_metadata(clients, log, &mut secrets, region, account, any_named).await
        }
    }
    let mut secrets: Vec<TaskSecretFacts> = secrets.into_iter().map(|(_, s)| s).collect();
    for s in &mut secrets {
        if let Some(arn) = s.metadata.value().and_then(|m| m.arn.clone()) {
            s.resource_arn = arn;
        }
    }

    // Round 2: may the execution role read them, and decrypt them with their customer keys? The
    // role's side (simulation), the secrets' resource policies and the keys' policies at once.
    let access = async {
        match &td.execution_role_arn {
            None => (
                Fact::NotCollected {
                    reason: "the task definition has no execution role".into(),
                },
                None,
            ),
            Some(role_arn) => {
                read_execution_role_access(clients, log, role_arn, store, &secrets, any_named).await
            }
        }
    };
    let keys = customer_keys(&secrets, any_named);
    let ((simulation, role), policies, key_policies) = tokio::join!(
        Box::pin(access),
        Box::pin(read_resource_policies(
            clients, log, &secrets, region, any_named
        )),
        Box::pin(read_key_policies(clients, log, &keys)),
    );
    for (s, policy) in secrets.iter_mut().zip(policies) {
        s.resource_policy = policy;
    }
    (
        TaskSecretsFacts {
            step,
            secrets,
            simulation,
            key_policies,
        },
        role,
    )
}

/// The customer managed keys of the judged secrets, each once.
fn customer_keys(secrets: &[TaskSecretFacts], any_named: bool) -> Vec<String> {
    secrets
        .iter()
        .filter(|s| !s.metadata.is_not_found() && wanted(s, any_named))
        .filter_map(|s| kms_key_arn(s.metadata.value()?.kms_key_id.as_deref()?, &s.resource_arn))
        .fold(vec![], |mut acc, k| {
            if !acc.contains(&k) {
                acc.push(k);
            }
            acc
        })
}

/// Each judged Secrets Manager secret's resource policy (`NotFound`: it has none); the others
/// are not read.
async fn read_resource_policies(
    clients: &Clients,
    log: &CallLog,
    secrets: &[TaskSecretFacts],
    region: &str,
    any_named: bool,
) -> Vec<Fact<serde_json::Value>> {
    let reads = secrets.iter().map(|s| async move {
        let judged = s.store == SecretStore::SecretsManager
            && wanted(s, any_named)
            && s.metadata.value().is_some();
        if !judged {
            return Fact::NotCollected {
                reason: "not a Secrets Manager secret that exists".into(),
            };
        }
        let secret_region = crate::model::arn::region(&s.resource_arn)
            .map(str::to_string)
            .or_else(|| Some(region.to_string()));
        let sm = clients.secretsmanager_in(secret_region);
        log.read(
            "secretsmanager:GetResourcePolicy",
            &[],
            sm.get_resource_policy().secret_id(&s.resource_arn).send(),
            |out| match out
                .resource_policy()
                .and_then(crate::policy::parse_document)
            {
                Some(doc) => Fact::found(doc),
                None => Fact::NotFound {
                    detail: "the secret has no resource policy".into(),
                },
            },
        )
        .await
    });
    futures_util::future::join_all(reads).await
}

/// The `default` key policy of each customer managed key.
async fn read_key_policies(
    clients: &Clients,
    log: &CallLog,
    keys: &[String],
) -> Vec<KeyPolicyFacts> {
    let reads = keys.iter().map(|key| async move {
        let kms = clients.kms_in(crate::model::arn::region(key).map(str::to_string));
        let policy = log
            .read(
                "kms:GetKeyPolicy",
                &[],
                kms.get_key_policy()
                    .key_id(key)
                    .policy_name("default")
                    .send(),
                |out| match out.policy().and_then(crate::policy::parse_document) {
                    Some(doc) => Fact::found(doc),
                    None => Fact::Unreadable {
                        reason: "kms:GetKeyPolicy returned no policy document".into(),
                        kind: ErrorKind::Other,
                    },
                },
            )
            .await;
        KeyPolicyFacts {
            key_arn: key.clone(),
            policy,
        }
    });
    futures_util::future::join_all(reads).await
}

/// Whether a secret's metadata is read and judged: all of them, or only those the message names.
fn wanted(s: &TaskSecretFacts, any_named: bool) -> bool {
    !any_named || s.named_in_message
}

/// The task's secrets in `store`, one entry per secret (two valueFroms may read two JSON keys of
/// one secret), metadata not read yet.
fn task_secrets(
    td: &TaskDefinitionFacts,
    store: SecretStore,
    region: &str,
    account: &str,
    named: &[SecretRef],
) -> Vec<(SecretRef, TaskSecretFacts)> {
    let mut secrets: Vec<(SecretRef, TaskSecretFacts)> = vec![];
    for c in &td.containers {
        let container = c.name.clone().unwrap_or_default();
        for value_from in &c.secrets {
            let Some(r) = parse_value_from(value_from).filter(|r| r.store == store) else {
                continue;
            };
            if let Some((_, existing)) = secrets.iter_mut().find(|(e, _)| e.same_secret(&r)) {
                if !existing.containers.contains(&container) {
                    existing.containers.push(container.clone());
                }
                continue;
            }
            let entry = TaskSecretFacts {
                reference: value_from.clone(),
                store,
                resource_arn: r.resource_arn(region, account),
                containers: vec![container.clone()],
                named_in_message: named.iter().any(|n| n.same_secret(&r)),
                metadata: Fact::NotCollected {
                    reason: "not read".into(),
                },
                resource_policy: Fact::NotCollected {
                    reason: "not read".into(),
                },
            };
            secrets.push((r, entry));
        }
    }
    secrets
}

/// Secrets Manager: one `DescribeSecret` per wanted secret (at most [`MAX_DESCRIBED`]), at once.
async fn read_secrets_metadata(
    clients: &Clients,
    log: &CallLog,
    secrets: &mut [(SecretRef, TaskSecretFacts)],
    region: &str,
    any_named: bool,
) {
    let reads = secrets
        .iter()
        .filter(|(_, s)| wanted(s, any_named))
        .take(MAX_DESCRIBED)
        .map(|(r, _)| {
            let sm =
                clients.secretsmanager_in(r.region.clone().or_else(|| Some(region.to_string())));
            async move {
                (
                    r.describe_id(),
                    describe_secret(&sm, log, &r.describe_id()).await,
                )
            }
        });
    let answers: BTreeMap<String, Fact<SecretMetadata>> = futures_util::future::join_all(reads)
        .await
        .into_iter()
        .collect();
    for (r, s) in secrets {
        if let Some(answer) = answers.get(&r.describe_id()) {
            s.metadata = answer.clone();
        } else if wanted(s, any_named) {
            s.metadata = Fact::NotCollected {
                reason: format!("only the first {MAX_DESCRIBED} secrets are described"),
            };
        }
    }
}

/// SSM: the wanted parameters described by region, the regions at once; a parameter shared from
/// another account cannot be described from here.
async fn read_parameters_metadata(
    clients: &Clients,
    log: &CallLog,
    secrets: &mut [(SecretRef, TaskSecretFacts)],
    region: &str,
    account: &str,
    any_named: bool,
) {
    let mut by_region: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (r, s) in secrets.iter_mut() {
        if !wanted(s, any_named) {
            continue;
        }
        match r.account.as_deref() {
            Some(other) if other != account => {
                s.metadata = Fact::NotCollected {
                    reason: format!(
                        "the parameter is in account {other}: it can only be described there"
                    ),
                };
            }
            _ => by_region
                .entry(r.region.clone().unwrap_or_else(|| region.to_string()))
                .or_default()
                .push(r.name.clone()),
        }
    }
    let reads = by_region.into_iter().map(|(r, names)| {
        let ssm = clients.ssm_in(Some(r.clone()));
        async move { (r, describe_parameters(&ssm, log, &names).await) }
    });
    let answers: BTreeMap<String, BTreeMap<String, Fact<SecretMetadata>>> =
        futures_util::future::join_all(reads)
            .await
            .into_iter()
            .collect();
    for (r, s) in secrets {
        let reg = r.region.clone().unwrap_or_else(|| region.to_string());
        if let Some(answer) = answers
            .get(&reg)
            .and_then(|a| a.get(r.name.trim_start_matches('/')))
        {
            s.metadata = answer.clone();
        }
    }
}

/// One simulation of the store's read action on the secrets and `kms:Decrypt` on their customer
/// keys; then (round 3, only without the simulator) the role's documents for the local evaluator.
async fn read_execution_role_access(
    clients: &Clients,
    log: &CallLog,
    role_arn: &str,
    store: SecretStore,
    secrets: &[TaskSecretFacts],
    any_named: bool,
) -> (Fact<Vec<SimulationResult>>, Option<RoleFacts>) {
    let iam = &clients.iam;
    let judged: Vec<&TaskSecretFacts> = secrets
        .iter()
        .filter(|s| !s.metadata.is_not_found() && wanted(s, any_named))
        .collect();
    let resources: Vec<String> = judged.iter().map(|s| s.resource_arn.clone()).collect();
    let keys = customer_keys(secrets, any_named);
    let mut requests = vec![];
    if !resources.is_empty() {
        requests.push((vec![store.read_action()], resources));
    }
    if !keys.is_empty() {
        requests.push((vec!["kms:Decrypt"], keys));
    }
    let simulation = if requests.is_empty() {
        Fact::NotCollected {
            reason: "no secret to judge".into(),
        }
    } else {
        simulate(iam, log, role_arn, &requests).await
    };
    let role = if matches!(simulation, Fact::Unreadable { .. }) {
        match get_role(iam, log, role_arn).await {
            Fact::Found { value: mut role } => {
                read_policies(iam, log, &mut role).await;
                Some(role)
            }
            _ => None,
        }
    } else {
        None
    };
    (simulation, role)
}

async fn describe_secret(
    sm: &aws_sdk_secretsmanager::Client,
    log: &CallLog,
    id: &str,
) -> Fact<SecretMetadata> {
    shared!(
        log,
        "secretsmanager:DescribeSecret",
        &["ResourceNotFoundException"],
        sm.describe_secret().secret_id(id),
        |out| {
            Fact::found(SecretMetadata {
                arn: out.arn().map(str::to_string),
                name: out.name().map(str::to_string),
                kms_key_id: out
                    .kms_key_id()
                    .filter(|k| !SecretStore::SecretsManager.is_aws_managed_key(k))
                    .map(str::to_string),
                parameter_type: None,
            })
        }
    )
    .await
}

/// One `ssm:DescribeParameters` per 50 names; keyed by the name without its leading `/`.
async fn describe_parameters(
    ssm: &aws_sdk_ssm::Client,
    log: &CallLog,
    names: &[String],
) -> BTreeMap<String, Fact<SecretMetadata>> {
    let mut out = BTreeMap::new();
    for chunk in names.chunks(SSM_BATCH) {
        let filter = ParameterStringFilter::builder()
            .key("Name")
            .option("Equals")
            .set_values(Some(chunk.to_vec()))
            .build();
        let filter = match filter {
            Ok(f) => f,
            Err(e) => {
                for n in chunk {
                    out.insert(
                        n.trim_start_matches('/').to_string(),
                        Fact::Unreadable {
                            reason: format!("ssm:DescribeParameters: {e}"),
                            kind: ErrorKind::Other,
                        },
                    );
                }
                continue;
            }
        };
        let answer: Fact<Vec<SecretMetadata>> = shared!(
            log,
            "ssm:DescribeParameters",
            &[],
            ssm.describe_parameters()
                .parameter_filters(filter)
                .max_results(SSM_BATCH as i32),
            |out| Fact::found(
                out.parameters()
                    .iter()
                    .map(|p| {
                        let parameter_type = p.r#type().map(|t| t.as_str().to_string());
                        let secure = parameter_type.as_deref() == Some("SecureString");
                        SecretMetadata {
                            arn: p.arn().map(str::to_string),
                            name: p.name().map(str::to_string),
                            kms_key_id: p
                                .key_id()
                                .filter(|k| secure && !SecretStore::Ssm.is_aws_managed_key(k))
                                .map(str::to_string),
                            parameter_type,
                        }
                    })
                    .collect(),
            ),
        )
        .await;
        for n in chunk {
            let key = n.trim_start_matches('/').to_string();
            let fact = match &answer {
                Fact::Found { value } => match value
                    .iter()
                    .find(|m| m.name.as_deref().map(|x| x.trim_start_matches('/')) == Some(&key))
                {
                    Some(m) => Fact::found(m.clone()),
                    None => Fact::NotFound {
                        detail: format!("ssm:DescribeParameters returned no parameter named {n}"),
                    },
                },
                gap => gap.clone().map(|_| SecretMetadata::default()),
            };
            out.insert(key, fact);
        }
    }
    out
}
