//! Checks: pure rules that judge a [`Facts`] snapshot, one concern each, like lint rules.
//!
//! Each check is a [`Rule`] next to its function: a stable code (the root cause it can prove), what
//! breaks, why and how to fix it, where it runs and what it reads; [`RULES`] lists them all. A
//! check returns findings with evidence and a remediation. A check that does not apply
//! returns no finding; one that cannot be evaluated returns `unknown` with the reason — never a
//! pass.

pub mod catalog;
pub mod deploy;
pub mod ecr;
#[cfg(test)]
pub(crate) mod fixture_tests;
pub mod iam;
pub mod image;
pub mod lifecycle;
pub mod network;
pub mod permissions;
pub mod pull_through;
pub mod registry;
pub mod rule;
pub mod secrets;
pub mod wording;

use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::Facts;
use crate::model::message::Category;
pub use rule::{Doc, Rule, Stage};

/// Every rule, one line each, stage by stage and within a stage in the order a pull meets them
/// (who pulls → what is pulled). This order is the ranking's: among failing checks consistent with
/// the message, the first listed here is the root cause. Findings come out in this order too.
pub const RULES: &[&Rule] = &[
    // Name resolution and routing decide whether any packet leaves.
    &network::dns::VPC_DNS,
    &network::route::SUBNET_ROUTE,
    &network::route::CROSS_REGION_IMAGE,
    &network::endpoints::REQUIRED_ENDPOINTS,
    &network::route::PUBLIC_IP,
    &network::endpoints::ENDPOINT_PRIVATE_DNS,
    // Then filters along the path, in the order a packet meets them.
    &network::security_groups::TASK_SG_EGRESS,
    &network::nacl::SUBNET_NACL,
    &network::security_groups::ENDPOINT_SG_INGRESS,
    &network::policies::ECR_ENDPOINT_POLICY,
    &network::policies::S3_ENDPOINT_POLICY,
    // Then who pulls and whether they may.
    &iam::EXECUTION_ROLE_PRESENT,
    &iam::EXECUTION_ROLE_TRUST,
    &registry::REGISTRY_SECRET,
    &secrets::TASK_SECRETS_EXIST,
    &secrets::TASK_SECRETS_ACCESS,
    &iam::EXECUTION_ROLE_PERMISSIONS,
    &iam::INSTANCE_ROLE_PERMISSIONS,
    // Then the repository: its cache rule, whether it exists, its policy.
    &pull_through::ECR_PULL_THROUGH_CACHE,
    &ecr::ECR_REPOSITORY_EXISTS,
    &registry::ECR_REPOSITORY_POLICY,
    // Then what is pulled.
    &lifecycle::ECR_IMAGE_ARCHIVED,
    &lifecycle::ECR_IMAGE_EXPIRED,
    &ecr::ECR_IMAGE_EXISTS,
    &deploy::DEPLOY_CHANGE,
    &image::IMAGE_PLATFORM,
    &image::EPHEMERAL_STORAGE,
    &registry::REGISTRY_RATE_LIMIT,
    &registry::REGISTRY_AUTH,
];

/// `UNKNOWN` is no rule's code: what a diagnosis says when no failing check explains the message.
pub const UNKNOWN_TITLE: &str = "No check explains the failure; verify the likely causes by hand";
pub const UNKNOWN_DOC: Doc = Doc {
    what: "no check explains the message; its category's likely causes are listed to verify by hand",
    why: "Every check either passed, could not be judged (a read was denied or timed out), or failed in a way the \
          message rules out: an endpoint policy or IAM answers 403, never an i/o timeout. The message's category \
          then says where to look, and failing checks it rules out are still listed as also wrong.",
    fix: "Verify the causes listed under to_verify by hand; grant the reads named by unknown findings (they say which \
          IAM action was missing) and diagnose again; fix the checks listed as also wrong, which would break the \
          pull next.",
    reference: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_cannot_pull_image.html",
};

/// The rule whose code this is; `None` for `UNKNOWN`.
pub fn rule(code: RootCause) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.code == code)
}

/// The generic title of a code, `UNKNOWN`'s included.
pub fn title(code: RootCause) -> &'static str {
    rule(code).map_or(UNKNOWN_TITLE, |r| r.title)
}

/// Position on the pull's path: lower blocks first; `UNKNOWN` last.
pub fn path_position(code: RootCause) -> usize {
    RULES
        .iter()
        .position(|r| r.code == code)
        .unwrap_or(RULES.len())
}

/// The causes whose rules explain at least one of `categories` (a message consistent with those
/// kinds of cause), most likely first: by the first category each explains, then in the order the
/// pull meets them. A message of unknown category rules nothing out: every cause that can decide.
/// Context rules (which explain nothing) are never consistent.
pub fn consistent_causes(categories: &[Category]) -> Vec<RootCause> {
    let rank_of = |rule: &Rule| {
        categories
            .iter()
            .position(|c| *c == Category::Unknown || rule.explains.contains(c))
    };
    let mut ranked: Vec<(usize, usize, RootCause)> = RULES
        .iter()
        .enumerate()
        .filter(|(_, rule)| !rule.explains.is_empty())
        .filter_map(|(position, rule)| rank_of(rule).map(|r| (r, position, rule.code)))
        .collect();
    ranked.sort();
    ranked.into_iter().map(|(_, _, code)| code).collect()
}

/// Run every check whose scope holds the snapshot's audience, in registry order.
pub fn run_all(facts: &Facts) -> Vec<Finding> {
    let scope = facts.audience.scope();
    RULES
        .iter()
        .filter(|rule| rule.scope.contains(&scope))
        .flat_map(|rule| (rule.run)(facts))
        .collect()
}

/// Console links, so every finding points at the resource to fix.
pub mod console {
    /// The console's host for a region (China regions have their own domain).
    pub(crate) fn host(region: &str) -> String {
        if region.starts_with("cn-") {
            format!("https://{region}.console.amazonaws.cn")
        } else {
            format!("https://{region}.console.aws.amazon.com")
        }
    }
    pub fn ecr_repository(region: &str, account: &str, name: &str) -> String {
        format!(
            "{}/ecr/repositories/private/{account}/{name}?region={region}",
            host(region)
        )
    }
    pub fn task_definition(region: &str, family: &str, revision: i32) -> String {
        format!(
            "{}/ecs/v2/task-definitions/{family}/{revision}/containers?region={region}",
            host(region)
        )
    }
    /// An ECS service's page (its health, deployments and events).
    pub fn ecs_service(region: &str, cluster: &str, service: &str) -> String {
        let (cluster, service) = (urlencoding::encode(cluster), urlencoding::encode(service));
        format!(
            "{}/ecs/v2/clusters/{cluster}/services/{service}/health?region={region}",
            host(region)
        )
    }
    pub fn iam_role(region: &str, role_name: &str) -> String {
        let global = if region.starts_with("cn-") {
            "https://console.amazonaws.cn".to_string()
        } else {
            "https://console.aws.amazon.com".to_string()
        };
        format!("{global}/iam/home#/roles/details/{role_name}")
    }
}
