//! Rank: choose one root cause from the findings and the message category.
//!
//! A failed check consistent with what the message says outranks one that is not; among equals,
//! the one that blocks first on the pull's path wins (network → identity → registry → image).
//! No failed check means `UNKNOWN`, with the category's likely causes to verify by hand.

use crate::classify::{Category, Classification, Phase};
use crate::diagnosis::{Confidence, Finding, RootCause, RootCauseSummary, Status};

/// Position on the pull's path: lower blocks first.
fn path_position(code: RootCause) -> usize {
    use RootCause::*;
    const PATH: &[RootCause] = &[
        // Name resolution and routing decide whether any packet leaves.
        NetDns,
        NetNoRoute,
        NetCrossRegion,
        NetEndpointMissing,
        NetNoPublicIp,
        NetEndpointDns,
        // Then filters along the path, in the order a packet meets them.
        NetTaskSgEgress,
        NetNacl,
        NetEndpointSg,
        NetEndpointPolicy,
        NetS3EndpointPolicy,
        // Then who pulls and whether they may.
        IamExecutionRoleMissing,
        IamExecutionRoleTrust,
        IamRegistrySecret,
        SecretNotFound,
        SecretAccessDenied,
        IamExecutionRolePermissions,
        IamInstanceRolePermissions,
        EcrPullThroughCache,
        EcrRepositoryNotFound,
        EcrRepositoryPolicy,
        // Then what is pulled.
        EcrImageArchived,
        EcrImageExpired,
        EcrImageNotFound,
        ImagePlatformMismatch,
        StorageEphemeral,
        RegistryRateLimit,
        RegistryAuth,
    ];
    PATH.iter().position(|c| *c == code).unwrap_or(PATH.len())
}

/// Whether a cause can produce a failure in the pull step the message names. Among causes
/// consistent with the category, one that fits the step wins: a 403 on a layer download from S3
/// points at the S3 endpoint policy, a 403 on the manifest at IAM or the repository policy, and a
/// failure fetching secrets at the secret rather than the image.
fn phase_consistent(code: RootCause, phase: Option<Phase>) -> bool {
    use RootCause::*;
    match (code, phase) {
        (_, None) => true,
        (NetS3EndpointPolicy, Some(p)) => p == Phase::Layer,
        (IamRegistrySecret, Some(p)) => p == Phase::AuthToken,
        (EcrImageNotFound | EcrImageExpired | EcrImageArchived | ImagePlatformMismatch, Some(p)) => p == Phase::Manifest,
        _ => true,
    }
}

/// The root cause, and the index of the deciding finding in `findings` (if any).
pub fn rank(findings: &[Finding], classification: &Classification) -> (RootCauseSummary, Option<usize>) {
    let category = classification.category;
    let best = findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.status == Status::Fail && f.code != RootCause::Unknown)
        .min_by_key(|(_, f)| {
            (!f.code.consistent_with(category), !phase_consistent(f.code, classification.phase), path_position(f.code))
        });
    match best {
        Some((index, finding)) => {
            let confidence = if finding.code.consistent_with(category) {
                Confidence::High
            } else if category == Category::Unknown {
                // A truncated or novel message neither supports nor contradicts the finding.
                Confidence::Medium
            } else {
                Confidence::Low
            };
            let summary = RootCauseSummary {
                code: finding.code,
                title: finding.title.clone(),
                confidence,
                remediation: finding.remediation.clone(),
                to_verify: vec![],
            };
            (summary, Some(index))
        }
        None => (
            RootCauseSummary {
                code: RootCause::Unknown,
                title: RootCause::Unknown.title().to_string(),
                confidence: Confidence::Low,
                remediation: None,
                to_verify: classification.hints.clone(),
            },
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(code: RootCause) -> Finding {
        Finding::fail(code, code.title())
    }
    fn classification(category: Category) -> Classification {
        Classification { category, hints: vec!["check the route".into()], ..Default::default() }
    }

    #[test]
    fn ranking_table() {
        use Category as C;
        use RootCause as R;
        // (findings, category, expected code, confidence)
        let cases: Vec<(Vec<Finding>, Category, RootCause, Confidence)> = vec![
            (vec![], C::Network, R::Unknown, Confidence::Low),
            (vec![Finding::pass(R::EcrImageNotFound, "ok"), Finding::warn(R::NetDns, "custom dns")], C::Network, R::Unknown, Confidence::Low),
            (vec![fail(R::EcrImageNotFound)], C::ImageNotFound, R::EcrImageNotFound, Confidence::High),
            (vec![fail(R::EcrImageNotFound)], C::Unknown, R::EcrImageNotFound, Confidence::Medium),
            (vec![fail(R::EcrImageNotFound)], C::Network, R::EcrImageNotFound, Confidence::Low),
            // Consistency with the message beats path order.
            (vec![fail(R::IamExecutionRoleMissing), fail(R::EcrImageNotFound)], C::ImageNotFound, R::EcrImageNotFound, Confidence::High),
            // Among consistent failures, the first on the path wins, whatever the input order.
            (vec![fail(R::NetTaskSgEgress), fail(R::NetNoRoute)], C::Network, R::NetNoRoute, Confidence::High),
            (vec![fail(R::EcrImageNotFound), fail(R::EcrRepositoryNotFound)], C::ImageNotFound, R::EcrRepositoryNotFound, Confidence::High),
            (vec![Finding::unknown(R::EcrImageNotFound, "?", "AccessDenied")], C::ImageNotFound, R::Unknown, Confidence::Low),
            // Identity and registry causes (issue 3).
            (vec![fail(R::EcrImageNotFound), fail(R::EcrImageExpired)], C::ImageNotFound, R::EcrImageExpired, Confidence::High),
            (vec![fail(R::IamExecutionRolePermissions), fail(R::EcrRepositoryPolicy)], C::AccessDenied, R::IamExecutionRolePermissions, Confidence::High),
            (vec![fail(R::RegistryRateLimit), fail(R::IamExecutionRolePermissions)], C::RateLimited, R::RegistryRateLimit, Confidence::High),
            (vec![fail(R::IamRegistrySecret), fail(R::RegistryAuth)], C::RegistryCredentials, R::IamRegistrySecret, Confidence::High),
            (vec![fail(R::StorageEphemeral)], C::DiskSpace, R::StorageEphemeral, Confidence::High),
            (vec![fail(R::ImagePlatformMismatch)], C::PlatformMismatch, R::ImagePlatformMismatch, Confidence::High),
        ];
        for (findings, category, code, confidence) in cases {
            let (summary, index) = rank(&findings, &classification(category));
            assert_eq!((summary.code, summary.confidence), (code, confidence), "{findings:?} {category:?}");
            assert_eq!(index.is_some(), code != R::Unknown);
            if code == R::Unknown {
                assert_eq!(summary.to_verify, vec!["check the route".to_string()]);
            }
        }
    }

    #[test]
    fn the_failing_step_breaks_ties_between_consistent_causes() {
        use RootCause as R;
        let both = vec![fail(R::IamExecutionRolePermissions), fail(R::NetS3EndpointPolicy)];
        // (phase, expected): a 403 on an S3 layer URL is the endpoint policy; on the manifest, IAM.
        let cases = [
            (Some(Phase::Layer), R::NetS3EndpointPolicy),
            (Some(Phase::Manifest), R::IamExecutionRolePermissions),
            (Some(Phase::AuthToken), R::IamExecutionRolePermissions),
            (None, R::NetS3EndpointPolicy),
        ];
        for (phase, want) in cases {
            let c = Classification { category: Category::AccessDenied, phase, ..Default::default() };
            assert_eq!(rank(&both, &c).0.code, want, "{phase:?}");
        }
        let secret = vec![fail(R::IamExecutionRolePermissions), fail(R::IamRegistrySecret)];
        let c = Classification { category: Category::AccessDenied, phase: Some(Phase::AuthToken), ..Default::default() };
        assert_eq!(rank(&secret, &c).0.code, R::IamRegistrySecret);
        let c = Classification { category: Category::AccessDenied, phase: Some(Phase::Manifest), ..Default::default() };
        assert_eq!(rank(&secret, &c).0.code, R::IamExecutionRolePermissions);
    }
}
