//! Checks: pure rules that judge a [`Facts`] snapshot, one concern each, like lint rules.
//!
//! Each check has a stable code (the root cause it can prove), says what breaks and why in its doc
//! comment, and returns findings with evidence and a remediation. A check that does not apply
//! returns no finding; one that cannot be evaluated returns `unknown` with the reason — never a
//! pass.

pub mod deploy;
pub mod ecr;
pub mod iam;
pub mod image;
pub mod lifecycle;
pub mod network;
pub mod pull_through;
pub mod registry;
pub mod secrets;
#[cfg(test)]
pub(crate) mod fixture_tests;
#[cfg(test)]
mod identity_worlds;

use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::Facts;

/// A registered check.
pub struct Check {
    pub code: RootCause,
    /// Short snake_case name, e.g. `ecr_image_exists`.
    pub name: &'static str,
    pub run: fn(&Facts) -> Vec<Finding>,
}

/// Every check, in the order a pull meets them (who pulls → what is pulled).
pub const ALL: &[Check] = &[
    // Network: name resolution, routing, filters along the path, endpoint policies.
    Check { code: RootCause::NetDns, name: "vpc_dns", run: network::dns::check_dns },
    Check { code: RootCause::NetNoRoute, name: "subnet_route", run: network::route::check_route },
    Check { code: RootCause::NetCrossRegion, name: "cross_region_image", run: network::route::check_cross_region },
    Check { code: RootCause::NetEndpointMissing, name: "required_endpoints", run: network::endpoints::check_required_endpoints },
    Check { code: RootCause::NetNoPublicIp, name: "public_ip", run: network::route::check_public_ip },
    Check { code: RootCause::NetEndpointDns, name: "endpoint_private_dns", run: network::endpoints::check_endpoint_dns },
    Check { code: RootCause::NetTaskSgEgress, name: "task_sg_egress", run: network::security_groups::check_task_egress },
    Check { code: RootCause::NetNacl, name: "subnet_nacl", run: network::nacl::check_nacl },
    Check { code: RootCause::NetEndpointSg, name: "endpoint_sg_ingress", run: network::security_groups::check_endpoint_ingress },
    Check { code: RootCause::NetEndpointPolicy, name: "ecr_endpoint_policy", run: network::policies::check_ecr_endpoint_policies },
    Check { code: RootCause::NetS3EndpointPolicy, name: "s3_endpoint_policy", run: network::policies::check_s3_endpoint_policy },
    Check { code: RootCause::IamExecutionRoleMissing, name: "execution_role_present", run: iam::check_execution_role_present },
    Check { code: RootCause::EcrRepositoryNotFound, name: "ecr_repository_exists", run: ecr::check_repository_exists },
    Check { code: RootCause::EcrImageNotFound, name: "ecr_image_exists", run: ecr::check_image_exists },
    Check { code: RootCause::EcsDeployChange, name: "deploy_change", run: deploy::check_deploy_change },
    // Identity and registry (issue 3).
    Check { code: RootCause::IamExecutionRoleTrust, name: "execution_role_trust", run: iam::check_execution_role_trust },
    Check { code: RootCause::IamRegistrySecret, name: "registry_secret", run: registry::check_registry_secret },
    // The task's own secrets, when the task stopped at the step that fetches them (issue 12).
    Check { code: RootCause::SecretNotFound, name: "task_secrets_exist", run: secrets::check_secrets_exist },
    Check { code: RootCause::SecretAccessDenied, name: "task_secrets_access", run: secrets::check_secrets_access },
    Check { code: RootCause::IamExecutionRolePermissions, name: "execution_role_permissions", run: iam::check_execution_role_permissions },
    Check { code: RootCause::IamInstanceRolePermissions, name: "instance_role_permissions", run: iam::check_instance_role_permissions },
    Check { code: RootCause::EcrRepositoryPolicy, name: "ecr_repository_policy", run: registry::check_repository_policy },
    Check { code: RootCause::EcrImageExpired, name: "ecr_image_expired", run: lifecycle::check_image_expired },
    Check { code: RootCause::EcrImageArchived, name: "ecr_image_archived", run: lifecycle::check_image_archived },
    Check { code: RootCause::EcrPullThroughCache, name: "ecr_pull_through_cache", run: pull_through::check_pull_through_cache },
    Check { code: RootCause::ImagePlatformMismatch, name: "image_platform", run: image::check_platform },
    Check { code: RootCause::StorageEphemeral, name: "ephemeral_storage", run: image::check_storage },
    Check { code: RootCause::RegistryRateLimit, name: "registry_rate_limit", run: registry::check_rate_limit },
    Check { code: RootCause::RegistryAuth, name: "registry_auth", run: registry::check_registry_auth },
];

/// Run every check against the snapshot.
pub fn run_all(facts: &Facts) -> Vec<Finding> {
    ALL.iter().flat_map(|check| (check.run)(facts)).collect()
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
        format!("{}/ecr/repositories/private/{account}/{name}?region={region}", host(region))
    }
    pub fn task_definition(region: &str, family: &str, revision: i32) -> String {
        format!("{}/ecs/v2/task-definitions/{family}/{revision}/containers?region={region}", host(region))
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
