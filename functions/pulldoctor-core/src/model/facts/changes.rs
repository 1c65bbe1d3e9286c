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
    // The ids of one kind (`sg-`, `acl-`, `vpce-`) the finding's resource names, else its evidence.
    let ids_in = |text: &str, prefix: &str| -> Vec<String> {
        let mut ids: Vec<String> = vec![];
        for token in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if token
                .strip_prefix(prefix)
                .is_some_and(|rest| !rest.is_empty())
                && !ids.iter().any(|i| i == token)
            {
                ids.push(token.to_string());
            }
        }
        ids
    };
    let named = |prefix: &str| -> Vec<String> {
        let Some(f) = finding else { return vec![] };
        match ids_in(f.resource.as_deref().unwrap_or_default(), prefix) {
            ids if !ids.is_empty() => ids,
            _ => ids_in(&f.evidence.to_string(), prefix),
        }
    };
    let net = &facts.network;
    let role_name = |role: &Fact<RoleFacts>| role.value().map(|r| r.name.clone());
    let execution_role = || {
        role_name(&facts.identity.execution_role).or_else(|| {
            let td = facts.task_definition.value()?;
            td.execution_role_arn
                .as_deref()
                .map(|arn| crate::model::arn::role_name(arn).to_string())
        })
    };
    let repository = || {
        facts
            .ecr_image()
            .map(|(image, _, _)| image.repository.clone())
    };
    let mut resources: Vec<String> = match diagnosis.root_cause.code {
        NetNoRoute => {
            let rt = net.route_table.value();
            let nat = rt
                .and_then(|rt| {
                    rt.routes.iter().find(|r| {
                        r.destination.as_deref() == Some("0.0.0.0/0")
                            && r.target.starts_with("nat-")
                    })
                })
                .map(|r| r.target.clone())
                .or_else(|| {
                    net.nat_gateways
                        .value()
                        .and_then(|n| n.first())
                        .map(|n| n.id.clone())
                });
            rt.map(|rt| rt.id.clone()).into_iter().chain(nat).collect()
        }
        NetTaskSgEgress => match named("sg-") {
            ids if !ids.is_empty() => ids,
            _ => net
                .security_groups
                .value()
                .map(|g| g.iter().map(|g| g.id.clone()).collect())
                .unwrap_or_default(),
        },
        NetEndpointSg => {
            let endpoints = named("vpce-");
            let of_endpoints: Vec<String> = net
                .endpoints
                .value()
                .map(|eps| {
                    eps.iter()
                        .filter(|e| endpoints.contains(&e.id))
                        .flat_map(|e| e.security_groups.clone())
                        .collect()
                })
                .unwrap_or_default();
            if of_endpoints.is_empty() {
                named("sg-")
            } else {
                of_endpoints
            }
        }
        NetNacl => match named("acl-") {
            ids if !ids.is_empty() => ids,
            _ => net
                .network_acl
                .value()
                .map(|a| vec![a.id.clone()])
                .unwrap_or_default(),
        },
        NetEndpointMissing | NetEndpointDns | NetEndpointPolicy | NetS3EndpointPolicy => {
            named("vpce-")
        }
        IamExecutionRoleMissing
        | IamExecutionRoleTrust
        | IamExecutionRolePermissions
        | IamRegistrySecret => execution_role().into_iter().collect(),
        IamInstanceRolePermissions => role_name(&facts.identity.instance_role)
            .into_iter()
            .collect(),
        EcrRepositoryPolicy | EcrRepositoryNotFound => repository().into_iter().collect(),
        EcrImageNotFound | EcrImageExpired => {
            // A lifecycle expiry is a service event on the repository's ARN, not its name.
            let arn = facts.ecr_image().map(|(image, account, region)| {
                let related = facts.task.arn.as_deref().unwrap_or_default();
                facts.repository_arn(related, image, account, region)
            });
            repository().into_iter().chain(arn).collect()
        }
        SecretNotFound | SecretAccessDenied => finding
            .and_then(|f| f.resource.clone())
            .map(|r| secret_name(&r))
            .into_iter()
            .collect(),
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
            Some((base, suffix))
                if suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_alphanumeric()) =>
            {
                base.to_string()
            }
            _ => name.to_string(),
        },
        None => reference.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resources a saved world's root cause names, as the CloudTrail lookups ask for them.
    #[test]
    fn the_root_cause_names_what_cloudtrail_is_asked_about() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/checks");
        // (saved Facts, root cause, resources)
        let cases: [(&str, &str, &[&str]); 9] = [
            // The blackholed route's NAT gateway, and the route table that lost its route.
            (
                "NET_NO_ROUTE/world-nat-gateway-deleted",
                "NET_NO_ROUTE",
                &["rtb-private", "nat-1"],
            ),
            (
                "NET_NO_ROUTE/world-no-nat-no-endpoints",
                "NET_NO_ROUTE",
                &["rtb-private", "nat-1"],
            ),
            (
                "NET_TASK_SG_EGRESS/world-ec2-instance-sg-without-egress",
                "NET_TASK_SG_EGRESS",
                &["sg-instance"],
            ),
            // The endpoint's security group, not the task's.
            (
                "NET_ENDPOINT_SG/world-endpoint-sg-without-443",
                "NET_ENDPOINT_SG",
                &["sg-endpoints"],
            ),
            // The ACL at fault, not the NAT subnet's its evidence also shows.
            (
                "NET_NACL/world-nacl-deny-90-before-allow-100",
                "NET_NACL",
                &["acl-1"],
            ),
            (
                "NET_ENDPOINT_POLICY/world-ecr-endpoint-policy-denies-batchgetimage",
                "NET_ENDPOINT_POLICY",
                &["vpce-dkr"],
            ),
            (
                "IAM_EXECUTION_ROLE_PERMISSIONS/world-role-without-ecr-permissions",
                "IAM_EXECUTION_ROLE_PERMISSIONS",
                &["ecsTaskExecutionRole"],
            ),
            (
                "ECR_REPOSITORY_POLICY/world-cross-account-repository-without-grant",
                "ECR_REPOSITORY_POLICY",
                &["team/app"],
            ),
            // A lifecycle expiry is recorded on the repository's ARN.
            (
                "ECR_IMAGE_NOT_FOUND/tag-missing",
                "ECR_IMAGE_NOT_FOUND",
                &[
                    "team/app",
                    "arn:aws:ecr:us-east-1:111122223333:repository/team/app",
                ],
            ),
        ];
        for (case, code, want) in cases {
            let path = std::path::PathBuf::from(format!("{dir}/{case}.facts.json"));
            let facts: Facts = crate::checks::fixture_tests::read_facts(&path).unwrap();
            let d = crate::judge::judge(&facts);
            let got = resources_named(&facts, &d);
            assert_eq!(
                (d.root_cause.code.code(), got),
                (code, want.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
                "{case}"
            );
        }
    }
}
