//! Secrets a task injects at start: what a `valueFrom` refers to, and what a failure message says
//! about them (which store, which secret). Pure string analysis; never sees a secret's value.
//!
//! ECS fetches every secret of a task — `containerDefinitions[].secrets[].valueFrom` and
//! `logConfiguration.secretOptions[].valueFrom` — with the task execution role before any
//! container starts, and stops the task with `ResourceInitializationError: unable to pull secrets
//! or registry auth: …` when one fails. `valueFrom` is a Secrets Manager secret ARN (possibly
//! partial, possibly followed by `:json-key:version-stage:version-id`), an SSM parameter ARN, or
//! the bare name of an SSM parameter in the task's own region and account.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Where a secret is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretStore {
    SecretsManager,
    /// SSM Parameter Store.
    Ssm,
}

impl SecretStore {
    /// The VPC endpoint service suffix (`com.amazonaws.<region>.<suffix>`).
    pub fn endpoint_suffix(self) -> &'static str {
        match self {
            SecretStore::SecretsManager => "secretsmanager",
            SecretStore::Ssm => "ssm",
        }
    }
    /// The IAM action ECS calls with the execution role.
    pub fn read_action(self) -> &'static str {
        match self {
            SecretStore::SecretsManager => "secretsmanager:GetSecretValue",
            SecretStore::Ssm => "ssm:GetParameters",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            SecretStore::SecretsManager => "Secrets Manager secret",
            SecretStore::Ssm => "SSM parameter",
        }
    }
    /// The AWS managed key the store uses when no customer managed key is given.
    pub fn is_aws_managed_key(self, key: &str) -> bool {
        let alias = match self {
            SecretStore::SecretsManager => "alias/aws/secretsmanager",
            SecretStore::Ssm => "alias/aws/ssm",
        };
        key == alias || key.ends_with(&format!(":{alias}"))
    }
}

/// What one `valueFrom` (or a name in a message) refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub store: SecretStore,
    /// From the ARN; `None` = the task's partition, region and account.
    pub partition: Option<String>,
    pub region: Option<String>,
    pub account: Option<String>,
    /// Secrets Manager: the secret name as written (with the 6-character suffix AWS adds when a
    /// full ARN is given). SSM: the parameter name (`/a/b` or `name`), without a `:version`.
    pub name: String,
    /// Secrets Manager: the JSON key asked for after the ARN, if any.
    pub json_key: Option<String>,
}

impl SecretRef {
    /// The identifier to describe the secret with: the secret ARN without the JSON key part
    /// (partial ARNs are accepted by `DescribeSecret`), or the parameter name.
    pub fn describe_id(&self) -> String {
        match (self.store, &self.region, &self.account) {
            (SecretStore::SecretsManager, Some(region), Some(account)) => format!(
                "arn:{}:secretsmanager:{region}:{account}:secret:{}",
                self.partition.as_deref().unwrap_or("aws"),
                self.name
            ),
            _ => self.name.clone(),
        }
    }

    /// The resource ARN IAM evaluates, with the task's region and account filling in a bare name.
    pub fn resource_arn(&self, task_region: &str, task_account: &str) -> String {
        let partition = self
            .partition
            .as_deref()
            .unwrap_or_else(|| crate::model::arn::partition_of(task_region));
        let region = self.region.as_deref().unwrap_or(task_region);
        let account = self.account.as_deref().unwrap_or(task_account);
        match self.store {
            SecretStore::SecretsManager => format!(
                "arn:{partition}:secretsmanager:{region}:{account}:secret:{}",
                self.name
            ),
            // arn:…:parameter/a/b for "/a/b", arn:…:parameter/name for "name".
            SecretStore::Ssm => format!(
                "arn:{partition}:ssm:{region}:{account}:parameter/{}",
                self.name.trim_start_matches('/')
            ),
        }
    }

    /// Do both name the same secret? A Secrets Manager name given without its 6-character suffix
    /// matches the full name; SSM names match with or without the leading `/` an ARN drops.
    pub fn same_secret(&self, other: &SecretRef) -> bool {
        if self.store != other.store {
            return false;
        }
        let agree = |a: &Option<String>, b: &Option<String>| a.is_none() || b.is_none() || a == b;
        if !agree(&self.region, &other.region) || !agree(&self.account, &other.account) {
            return false;
        }
        match self.store {
            SecretStore::Ssm => {
                self.name.trim_start_matches('/') == other.name.trim_start_matches('/')
            }
            SecretStore::SecretsManager => {
                let (a, b) = (self.name.as_str(), other.name.as_str());
                a == b || with_suffix(a, b) || with_suffix(b, a)
            }
        }
    }
}

/// `full` is `partial` plus the `-XXXXXX` suffix Secrets Manager appends to secret ARNs.
fn with_suffix(full: &str, partial: &str) -> bool {
    full.strip_prefix(partial)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|s| s.len() == 6 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Parse a `valueFrom`. `None` for an empty or unrecognizable reference.
pub fn parse_value_from(value_from: &str) -> Option<SecretRef> {
    let v = value_from.trim();
    if v.is_empty() {
        return None;
    }
    if let Some(rest) = v.strip_prefix("arn:") {
        // partition:service:region:account:resource…
        let mut parts = rest.splitn(5, ':');
        let partition = parts.next()?.to_string();
        let service = parts.next()?;
        let region = parts.next()?.to_string();
        let account = parts.next()?.to_string();
        let resource = parts.next()?;
        let some = |s: String| Some(s).filter(|s| !s.is_empty());
        return match service {
            "secretsmanager" => {
                // secret:NAME[:json-key:version-stage:version-id]
                let mut fields = resource.strip_prefix("secret:")?.split(':');
                let name = fields.next().filter(|n| !n.is_empty())?.to_string();
                let json_key = fields.next().filter(|k| !k.is_empty()).map(str::to_string);
                Some(SecretRef {
                    store: SecretStore::SecretsManager,
                    partition: some(partition),
                    region: some(region),
                    account: some(account),
                    name,
                    json_key,
                })
            }
            "ssm" => {
                let path = resource.strip_prefix("parameter")?;
                let name = ssm_name(path.split(':').next().unwrap_or(path))?;
                Some(SecretRef {
                    store: SecretStore::Ssm,
                    partition: some(partition),
                    region: some(region),
                    account: some(account),
                    name,
                    json_key: None,
                })
            }
            _ => None,
        };
    }
    // A bare name is an SSM parameter in the task's region and account (`name` or `/a/b`, maybe
    // with a `:version` or `:label` selector, which parameter names cannot contain).
    let name = v.split(':').next().unwrap_or(v);
    Some(SecretRef {
        store: SecretStore::Ssm,
        partition: None,
        region: None,
        account: None,
        name: name.to_string(),
        json_key: None,
    })
    .filter(|r| !r.name.is_empty())
}

/// `parameter/a/b` → `/a/b` (hierarchical names start with `/`), `parameter/name` → `name`.
fn ssm_name(path: &str) -> Option<String> {
    let name = path.strip_prefix('/')?;
    if name.is_empty() {
        return None;
    }
    Some(if name.contains('/') {
        format!("/{name}")
    } else {
        name.to_string()
    })
}

/// Which step of the secrets and registry-auth phase a message says failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretsStep {
    /// The ECR authorization token (`ecr:GetAuthorizationToken`): not a secret.
    EcrAuth,
    /// Private registry credentials (`repositoryCredentials`) from Secrets Manager.
    RegistryCredentials,
    /// The task's secrets in Secrets Manager ("unable to retrieve secret from asm"; older agents
    /// also used this wording for registry credentials).
    SecretsManager,
    /// The task's secrets in SSM Parameter Store.
    Ssm,
}

impl SecretsStep {
    /// The store of the task's own secrets this step reads, if it reads them.
    pub fn store(self) -> Option<SecretStore> {
        match self {
            SecretsStep::SecretsManager => Some(SecretStore::SecretsManager),
            SecretsStep::Ssm => Some(SecretStore::Ssm),
            SecretsStep::EcrAuth | SecretsStep::RegistryCredentials => None,
        }
    }
}

macro_rules! regex {
    ($name:ident = $re:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($re).expect("static regex"));
    };
}

regex!(
    SECRETS_PHASE =
        r"(?i)unable to pull secrets or registry auth|fetching secret data from|secret resource"
);
regex!(
    STEP_SSM = r"(?i)secrets? from ssm|ssm parameter store|systems manager|invalid ssm parameters|ssm:getparameters|operation error ssm"
);
regex!(
    STEP_REGISTRY = r"(?i)registry auth from asm|asm fetching secret|credentialsparameter|private registry credentials"
);
regex!(
    STEP_ASM = r"(?i)secrets? from asm|pull secrets from aws secrets manager|fetching secret data from aws secrets manager"
);
regex!(STEP_ECR = r"(?i)ecr registry auth|registry auth from amazon ecr|ecr:getauthorizationtoken");

/// The secrets step the message names; `None` when it is not a secrets or registry-auth failure
/// or does not say which step failed (e.g. `pull command failed: signal: killed`).
pub fn secrets_step(message: &str) -> Option<SecretsStep> {
    if !SECRETS_PHASE.is_match(message) {
        return None;
    }
    // Most specific first: the registry-auth wordings also contain "asm".
    if STEP_SSM.is_match(message) {
        Some(SecretsStep::Ssm)
    } else if STEP_REGISTRY.is_match(message) {
        Some(SecretsStep::RegistryCredentials)
    } else if STEP_ASM.is_match(message) {
        Some(SecretsStep::SecretsManager)
    } else if STEP_ECR.is_match(message) {
        Some(SecretsStep::EcrAuth)
    } else {
        None
    }
}

regex!(SM_ARN = r"(?i)\barn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[^\s:,;'\x22]+");
regex!(SSM_ARN = r"(?i)\barn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/[^\s,;'\x22]+");
regex!(
    INVALID_PARAMETERS =
        r"(?i)invalid (?:ssm )?parameters:\s*([A-Za-z0-9_./:-]+(?:\s?,\s?[A-Za-z0-9_./:-]+)*)"
);

/// The secrets a message names: Secrets Manager and SSM ARNs (`failed to fetch secret …`,
/// `… on resource: …`) and the parameters listed as invalid. A name running into the end of a
/// message ECS cut at 255 characters may be cut short and is left out.
pub fn named_secrets(message: &str) -> Vec<SecretRef> {
    let complete_end = message.trim_end().chars().count() < 255;
    let end = message.trim_end().len();
    let keep = |m_end: usize| complete_end || m_end < end;
    let mut out: Vec<SecretRef> = vec![];
    let mut push = |r: Option<SecretRef>| {
        if let Some(r) = r {
            if !out.iter().any(|o| o.same_secret(&r)) {
                out.push(r);
            }
        }
    };
    for re in [&*SM_ARN, &*SSM_ARN] {
        for m in re.find_iter(message) {
            if keep(m.end()) {
                push(parse_value_from(m.as_str().trim_end_matches('.')));
            }
        }
    }
    for c in INVALID_PARAMETERS.captures_iter(message) {
        let list = c.get(1).expect("group 1");
        for (i, name) in list.as_str().split(',').enumerate() {
            let last = i == list.as_str().split(',').count() - 1;
            if last && !keep(list.end()) {
                continue;
            }
            let name = name.trim().trim_end_matches('.');
            // Parameters only: "invalid parameters" lists SSM names or ARNs.
            push(parse_value_from(name).filter(|r| r.store == SecretStore::Ssm));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_from_forms() {
        // (valueFrom, store, region, account, name, json key, resource ARN in us-east-1/111122223333)
        let cases = [
            ("arn:aws:secretsmanager:us-west-2:444455556666:secret:prod/db-AbCdEf", SecretStore::SecretsManager, Some("us-west-2"), Some("444455556666"), "prod/db-AbCdEf", None, "arn:aws:secretsmanager:us-west-2:444455556666:secret:prod/db-AbCdEf"),
            ("arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!db-a57b-ZaeqeH:password::", SecretStore::SecretsManager, Some("us-east-1"), Some("111122223333"), "rds!db-a57b-ZaeqeH", Some("password"), "arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!db-a57b-ZaeqeH"),
            ("arn:aws:secretsmanager:us-east-1:111122223333:secret:api:key:AWSCURRENT:", SecretStore::SecretsManager, Some("us-east-1"), Some("111122223333"), "api", Some("key"), "arn:aws:secretsmanager:us-east-1:111122223333:secret:api"),
            ("arn:aws:ssm:eu-west-1:111122223333:parameter/app/production/DATABASE_URL", SecretStore::Ssm, Some("eu-west-1"), Some("111122223333"), "/app/production/DATABASE_URL", None, "arn:aws:ssm:eu-west-1:111122223333:parameter/app/production/DATABASE_URL"),
            ("arn:aws:ssm:eu-west-1:111122223333:parameter/flat", SecretStore::Ssm, Some("eu-west-1"), Some("111122223333"), "flat", None, "arn:aws:ssm:eu-west-1:111122223333:parameter/flat"),
            ("/app/db-password", SecretStore::Ssm, None, None, "/app/db-password", None, "arn:aws:ssm:us-east-1:111122223333:parameter/app/db-password"),
            ("db-password:3", SecretStore::Ssm, None, None, "db-password", None, "arn:aws:ssm:us-east-1:111122223333:parameter/db-password"),
        ];
        for (v, store, region, account, name, key, arn) in cases {
            let r = parse_value_from(v).unwrap_or_else(|| panic!("{v}"));
            assert_eq!(
                (
                    r.store,
                    r.region.as_deref(),
                    r.account.as_deref(),
                    r.name.as_str(),
                    r.json_key.as_deref()
                ),
                (store, region, account, name, key),
                "{v}"
            );
            assert_eq!(r.resource_arn("us-east-1", "111122223333"), arn, "{v}");
        }
        for bad in [
            "",
            "  ",
            "arn:aws:s3:::bucket",
            "arn:aws:secretsmanager:us-east-1:1:secret:",
            "arn:aws:ssm:us-east-1:1:document/x",
        ] {
            assert_eq!(parse_value_from(bad), None, "{bad}");
        }
        assert_eq!(
            parse_value_from("arn:aws-cn:ssm:cn-north-1:111122223333:parameter/a/b")
                .unwrap()
                .resource_arn("us-east-1", "1"),
            "arn:aws-cn:ssm:cn-north-1:111122223333:parameter/a/b"
        );
        assert_eq!(
            parse_value_from("/a/b")
                .unwrap()
                .resource_arn("cn-north-1", "111122223333"),
            "arn:aws-cn:ssm:cn-north-1:111122223333:parameter/a/b"
        );
    }

    #[test]
    fn same_secret_tolerates_partial_arns_and_slashes() {
        let p = |v: &str| parse_value_from(v).unwrap();
        assert!(
            p("arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf").same_secret(&p(
                "arn:aws:secretsmanager:us-east-1:111122223333:secret:db:password::"
            ))
        );
        assert!(
            !p("arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf").same_secret(&p(
                "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-other"
            ))
        );
        assert!(
            !p("arn:aws:secretsmanager:us-east-1:111122223333:secret:db").same_secret(&p(
                "arn:aws:secretsmanager:us-west-2:111122223333:secret:db"
            ))
        );
        assert!(p("/app/db").same_secret(&p("arn:aws:ssm:us-east-1:111122223333:parameter/app/db")));
        assert!(!p("/app/db").same_secret(&p("/app/db2")));
    }

    #[test]
    fn steps_and_named_secrets_from_messages() {
        let sm = "arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!db-a57b";
        // (message, step, named secrets' describe ids)
        let cases: Vec<(String, Option<SecretsStep>, Vec<&str>)> = vec![
            ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid ssm parameters: /wishkit/gemini-api-key".into(), Some(SecretsStep::Ssm), vec!["/wishkit/gemini-api-key"]),
            ("ResourceInitializationError: unable to pull secrets or registry auth: fetching secret data from SSM Parameter Store in us-east-1: invalid parameters: /app/db-password,/app/api-key".into(), Some(SecretsStep::Ssm), vec!["/app/db-password", "/app/api-key"]),
            ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): AccessDeniedException: User: arn:aws:sts::111122223333:assumed-role/ecsTaskExecutionRole/17cb is not authorized to perform: ssm:GetParameters on resource: arn:aws:ssm:ap-northeast-2:111122223333:parameter/app/email/sender because no identity-based policy allows the ssm:GetParameters action".into(), Some(SecretsStep::Ssm), vec!["/app/email/sender"]),
            ("ResourceInitializationError: unable to pull secrets or registry auth: unable to retrieve secrets from ssm: The task cannot pull secrets from AWS Systems Manager. There is a connection issue between the task and AWS Systems Manager Parameter Store. Check your task network configuration. RequestCanceled: request context canceled caused by: context deadline exceeded".into(), Some(SecretsStep::Ssm), vec![]),
            (format!("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret {sm} from secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified secret."), Some(SecretsStep::SecretsManager), vec![sm]),
            (format!("ResourceInitializationError: unable to pull secrets or registry auth: unable to retrieve secret from asm: There is a connection issue between the task and AWS Secrets Manager. Check your task network configuration. failed to fetch secret {sm} from secrets manager: context deadline exceeded."), Some(SecretsStep::SecretsManager), vec![sm]),
            ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to get registry auth from asm: service call has been retried 1 time(s): asm fetching secret from the service for dockerhub: RequestError: send request failed".into(), Some(SecretsStep::RegistryCredentials), vec![]),
            ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s): RequestError: send request failed".into(), Some(SecretsStep::EcrAuth), vec![]),
            ("ResourceInitializationError: unable to pull secrets or registry auth: The task cannot pull registry auth from Amazon ECR: There is a connection issue between the task and Amazon ECR.".into(), Some(SecretsStep::EcrAuth), vec![]),
            ("ResourceInitializationError: unable to pull secrets or registry auth: pull command failed: : signal: killed".into(), None, vec![]),
            ("CannotPullContainerError: pull image manifest has been retried 5 time(s): i/o timeout".into(), None, vec![]),
        ];
        for (message, step, named) in cases {
            assert_eq!(secrets_step(&message), step, "{message}");
            let got: Vec<String> = named_secrets(&message)
                .iter()
                .map(SecretRef::describe_id)
                .collect();
            assert_eq!(got, named, "{message}");
        }
        // A name touching the end of a message cut at 255 characters may be incomplete.
        let cut = format!("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid ssm parameters: /a/b,/app/{}", "x".repeat(60));
        let cut: String = cut.chars().take(255).collect();
        assert_eq!(
            named_secrets(&cut)
                .iter()
                .map(SecretRef::describe_id)
                .collect::<Vec<_>>(),
            ["/a/b"]
        );
    }
}
