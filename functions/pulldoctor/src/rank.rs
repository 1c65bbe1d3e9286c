//! Rank: choose one root cause from the findings and the message category.
//!
//! A failed check consistent with what the message says outranks one that is not; among equals,
//! the one that blocks first on the pull's path wins (network → identity → registry → image).
//! No failed check means `UNKNOWN`, with the category's likely causes to verify by hand.

use crate::classify::{Category, Classification};
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
        IamExecutionRolePermissions,
        IamInstanceRolePermissions,
        EcrRepositoryNotFound,
        EcrRepositoryPolicy,
        // Then what is pulled.
        EcrImageExpired,
        EcrImageNotFound,
        ImagePlatformMismatch,
        StorageEphemeral,
        RegistryRateLimit,
        RegistryAuth,
    ];
    PATH.iter().position(|c| *c == code).unwrap_or(PATH.len())
}

/// The root cause, and the index of the deciding finding in `findings` (if any).
pub fn rank(findings: &[Finding], classification: &Classification) -> (RootCauseSummary, Option<usize>) {
    let category = classification.category;
    let best = findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.status == Status::Fail && f.code != RootCause::Unknown)
        .min_by_key(|(_, f)| (!f.code.consistent_with(category), path_position(f.code)));
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
}
