//! The stable root-cause codes: what a diagnosis names as the reason a pull failed.

use serde::{Deserialize, Serialize};

/// Declares the codes once: the enum, [`RootCause::ALL`] and [`RootCause::code`] (also its JSON
/// name) cannot disagree, and a new code is one line.
macro_rules! root_causes {
    ($($(#[$meta:meta])* $variant:ident = $code:literal,)*) => {
        /// Root-cause codes (docs/root-causes.md). Stable: users filter and alarm on them; add, never
        /// rename. What each means, and the check that proves it, is its rule in `crate::checks`
        /// (`checks::rule(code)`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum RootCause {
            $($(#[$meta])* #[serde(rename = $code)] $variant,)*
        }

        impl RootCause {
            pub const ALL: [RootCause; [$($code),*].len()] = [$(RootCause::$variant),*];

            /// The stable code string, e.g. `NET_NO_ROUTE`.
            pub fn code(self) -> &'static str {
                match self {
                    $(RootCause::$variant => $code,)*
                }
            }
        }
    };
}

root_causes! {
    NetNoRoute = "NET_NO_ROUTE",
    NetNoPublicIp = "NET_NO_PUBLIC_IP",
    NetEndpointMissing = "NET_ENDPOINT_MISSING",
    NetEndpointDns = "NET_ENDPOINT_DNS",
    NetEndpointSg = "NET_ENDPOINT_SG",
    NetTaskSgEgress = "NET_TASK_SG_EGRESS",
    NetNacl = "NET_NACL",
    NetDns = "NET_DNS",
    NetS3EndpointPolicy = "NET_S3_ENDPOINT_POLICY",
    NetEndpointPolicy = "NET_ENDPOINT_POLICY",
    NetCrossRegion = "NET_CROSS_REGION",
    IamExecutionRoleMissing = "IAM_EXECUTION_ROLE_MISSING",
    IamExecutionRoleTrust = "IAM_EXECUTION_ROLE_TRUST",
    IamExecutionRolePermissions = "IAM_EXECUTION_ROLE_PERMISSIONS",
    IamInstanceRolePermissions = "IAM_INSTANCE_ROLE_PERMISSIONS",
    IamRegistrySecret = "IAM_REGISTRY_SECRET",
    EcrRepositoryNotFound = "ECR_REPOSITORY_NOT_FOUND",
    EcrImageNotFound = "ECR_IMAGE_NOT_FOUND",
    EcrImageExpired = "ECR_IMAGE_EXPIRED",
    EcrRepositoryPolicy = "ECR_REPOSITORY_POLICY",
    ImagePlatformMismatch = "IMAGE_PLATFORM_MISMATCH",
    StorageEphemeral = "STORAGE_EPHEMERAL",
    RegistryRateLimit = "REGISTRY_RATE_LIMIT",
    RegistryAuth = "REGISTRY_AUTH",
    // Added after v1's first table (additive: never renamed).
    EcrPullThroughCache = "ECR_PULL_THROUGH_CACHE",
    EcrImageArchived = "ECR_IMAGE_ARCHIVED",
    SecretNotFound = "SECRET_NOT_FOUND",
    SecretAccessDenied = "SECRET_ACCESS_DENIED",
    EcsDeployChange = "ECS_DEPLOY_CHANGE",
    Unknown = "UNKNOWN",
}

impl std::fmt::Display for RootCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}
