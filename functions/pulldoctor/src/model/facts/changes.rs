//! CloudTrail events for the resources a root cause names (`cloudtrail:LookupEvents`), as
//! CloudTrail returned them; `history/changes.rs` judges which could explain the failure.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Fact, Facts, RoleFacts};
use crate::model::diagnosis::{Diagnosis, RootCause};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ChangeFacts {
    /// The end of the window: the failure's time, or when it was looked up if unknown.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// How far before `until` the events were looked up.
    pub window_hours: u32,
    /// One per resource looked up, in the order the root cause names them.
    #[serde(default)]
    pub lookups: Vec<ResourceLookup>,
}

/// The events CloudTrail returned for one `ResourceName`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ResourceLookup {
    /// As CloudTrail names it: an EC2 id, an IAM role name, an ECR repository name or ARN, a
    /// secret name.
    pub resource: String,
    /// `Unreadable` when LookupEvents failed (throttled, denied, deadline).
    #[serde(default)]
    pub events: Fact<Vec<TrailEvent>>,
    /// Every page was read (false: the read bound stopped it; older events are unknown).
    #[serde(default)]
    pub complete: bool,
}

/// One entry of `LookupEvents`, with the parts of its `CloudTrailEvent` record that say who,
/// from where and what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TrailEvent {
    pub event_id: String,
    pub event_name: String,
    #[serde(default)]
    pub event_time: Option<DateTime<Utc>>,
    /// `ec2.amazonaws.com`.
    #[serde(default)]
    pub event_source: Option<String>,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub username: Option<String>,
    /// `(ResourceType, ResourceName)` as the entry lists them.
    #[serde(default)]
    pub resources: Vec<(String, String)>,
    /// `userIdentity` of the record.
    #[serde(default)]
    pub user_identity: Option<serde_json::Value>,
    #[serde(default)]
    pub source_ip: Option<String>,
    /// `requestParameters` of the record (CloudTrail already hides secret values).
    #[serde(default)]
    pub request_parameters: Option<serde_json::Value>,
}

/// At most this many resources are looked up (one `LookupEvents` each, at once): LookupEvents
/// allows 2 requests per second per account and region, shared with every other caller.
pub const MAX_RESOURCES: usize = 3;

/// The resources the ranked root cause names, as CloudTrail names them in `ResourceName`, most
/// telling first (at most [`MAX_RESOURCES`]). Empty when the root cause names none CloudTrail
/// records (a message-only cause, an unknown one).
pub fn resources_named(facts: &Facts, diagnosis: &Diagnosis) -> Vec<String> {
    use RootCause::*;
    let finding = diagnosis.deciding_finding();
    // The ids of one kind (`sg-`, `acl-`, `vpce-`) the finding names, in its resource first.
    let named = |prefix: &str| -> Vec<String> {
        let text = finding.map(|f| format!("{} {}", f.resource.as_deref().unwrap_or_default(), f.evidence)).unwrap_or_default();
        let mut ids: Vec<String> = vec![];
        for token in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if token.strip_prefix(prefix).is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_hexdigit())) && !ids.iter().any(|i| i == token) {
                ids.push(token.to_string());
            }
        }
        ids
    };
    let net = &facts.network;
    let role_name = |role: &Fact<RoleFacts>| role.value().map(|r| r.name.clone());
    let execution_role = || {
        role_name(&facts.identity.execution_role).or_else(|| {
            let td = facts.task_definition.value()?;
            td.execution_role_arn.as_deref().map(|arn| crate::model::arn::role_name(arn).to_string())
        })
    };
    let repository = || facts.ecr_image().map(|(image, _, _)| image.repository.clone());
    let mut resources: Vec<String> = match diagnosis.root_cause.code {
        NetNoRoute => {
            let rt = net.route_table.value();
            let nat = rt
                .and_then(|rt| rt.routes.iter().find(|r| r.destination.as_deref() == Some("0.0.0.0/0") && r.target.starts_with("nat-")))
                .map(|r| r.target.clone())
                .or_else(|| net.nat_gateways.value().and_then(|n| n.first()).map(|n| n.id.clone()));
            rt.map(|rt| rt.id.clone()).into_iter().chain(nat).collect()
        }
        NetTaskSgEgress => match named("sg-") {
            ids if !ids.is_empty() => ids,
            _ => net.security_groups.value().map(|g| g.iter().map(|g| g.id.clone()).collect()).unwrap_or_default(),
        },
        NetEndpointSg => {
            let endpoints = named("vpce-");
            let of_endpoints: Vec<String> = net
                .endpoints
                .value()
                .map(|eps| eps.iter().filter(|e| endpoints.contains(&e.id)).flat_map(|e| e.security_groups.clone()).collect())
                .unwrap_or_default();
            if of_endpoints.is_empty() { named("sg-") } else { of_endpoints }
        }
        NetNacl => match named("acl-") {
            ids if !ids.is_empty() => ids,
            _ => net.network_acl.value().map(|a| vec![a.id.clone()]).unwrap_or_default(),
        },
        NetEndpointMissing | NetEndpointDns | NetEndpointPolicy | NetS3EndpointPolicy => named("vpce-"),
        IamExecutionRoleMissing | IamExecutionRoleTrust | IamExecutionRolePermissions | IamRegistrySecret => execution_role().into_iter().collect(),
        IamInstanceRolePermissions => role_name(&facts.identity.instance_role).into_iter().collect(),
        EcrRepositoryPolicy | EcrRepositoryNotFound => repository().into_iter().collect(),
        EcrImageNotFound | EcrImageExpired => {
            // A lifecycle expiry is a service event on the repository's ARN, not its name.
            let arn = facts.ecr_image().map(|(image, account, region)| {
                let related = facts.task.arn.as_deref().unwrap_or_default();
                facts.repository_arn(related, image, account, region)
            });
            repository().into_iter().chain(arn).collect()
        }
        SecretNotFound | SecretAccessDenied => finding.and_then(|f| f.resource.clone()).map(|r| secret_name(&r)).into_iter().collect(),
        _ => vec![],
    };
    resources.dedup();
    resources.truncate(MAX_RESOURCES);
    resources
}

/// A Secrets Manager secret's name from its ARN (`…:secret:db-pass-AbCdEf` → `db-pass`); other
/// references (an SSM parameter, a bare name) as they are.
pub fn secret_name(reference: &str) -> String {
    match reference.split_once(":secret:") {
        Some((_, name)) => match name.rsplit_once('-') {
            // A full ARN ends in `-` and six random characters.
            Some((base, suffix)) if suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_alphanumeric()) => base.to_string(),
            _ => name.to_string(),
        },
        None => reference.to_string(),
    }
}
