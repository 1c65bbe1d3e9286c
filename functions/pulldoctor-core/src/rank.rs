//! Rank: choose one root cause from the findings and the message category.
//!
//! Only a failed check consistent with what the message says can be the root cause: its cause is
//! one of those that produce the message ([`Classification::consistent_categories`], through each
//! rule's `explains`). Among those, the one that blocks first on the pull's path wins (network →
//! identity → registry → image): with the daemon's ambiguous "pull access denied", a task without
//! an execution role fails at the role before a missing tag could matter.
//! No such check means `UNKNOWN`, with the category's likely causes to verify by hand; failed
//! checks that do not decide are reported as also wrong (they will break the pull next).

use crate::checks;
use crate::model::diagnosis::{
    AlsoWrong, Confidence, Finding, RootCause, RootCauseSummary, Status,
};
use crate::model::message::{Category, Classification, Phase};

/// Position on the pull's path: lower blocks first (the registry's order).
fn path_position(code: RootCause) -> usize {
    checks::path_position(code)
}

/// Whether a cause can produce a failure in the pull step the message names. Among causes
/// consistent with the category, one that fits the step wins: a 403 on a layer download from S3
/// points at the S3 endpoint policy, a 403 on the manifest at IAM or the repository policy, and a
/// failure fetching secrets at the secret rather than the image.
fn phase_consistent(code: RootCause, phase: Option<Phase>) -> bool {
    checks::rule(code).is_none_or(|r| r.phases.fits(phase))
}

/// The root cause, and the index of the deciding finding in `findings` (if any).
///
/// A failing check the message rules out (its cause cannot produce this category of message:
/// an endpoint policy or IAM answers 403, never an i/o timeout) is not the root cause: when
/// every failing check is ruled out, the root cause is `UNKNOWN` with the category's causes to
/// verify. Every failing check that does not decide is listed in `also_wrong`. A message of
/// unknown category (truncated, novel) rules nothing out.
pub fn rank(
    findings: &[Finding],
    classification: &Classification,
) -> (RootCauseSummary, Option<usize>) {
    let category = classification.category;
    let consistent = checks::consistent_causes(&classification.consistent_categories());
    let consistent_with_message = |code: RootCause| consistent.contains(&code);
    let failing = || {
        findings
            .iter()
            .enumerate()
            .filter(|(_, f)| f.status == Status::Fail && f.code != RootCause::Unknown)
    };
    let best = failing()
        .filter(|(_, f)| consistent_with_message(f.code))
        .min_by_key(|(_, f)| {
            (
                !phase_consistent(f.code, classification.phase),
                path_position(f.code),
            )
        });
    let also_wrong = |decider: Option<usize>| -> Vec<AlsoWrong> {
        let mut others: Vec<&Finding> = failing()
            .filter(|(i, _)| Some(*i) != decider)
            .map(|(_, f)| f)
            .collect();
        // Consistent with the message first, then in the order the pull meets them.
        others.sort_by_key(|f| (!consistent_with_message(f.code), path_position(f.code)));
        others.into_iter().map(AlsoWrong::of).collect()
    };
    match best {
        Some((index, finding)) => {
            let confidence = if category == Category::Unknown {
                // A truncated or novel message neither supports nor contradicts the finding.
                Confidence::Medium
            } else {
                Confidence::High
            };
            let summary = RootCauseSummary {
                code: finding.code,
                title: finding.title.clone(),
                confidence,
                remediation: finding.remediation.clone(),
                to_verify: vec![],
                also_wrong: also_wrong(Some(index)),
            };
            (summary, Some(index))
        }
        None => (
            RootCauseSummary {
                code: RootCause::Unknown,
                title: checks::title(RootCause::Unknown).to_string(),
                confidence: Confidence::Low,
                remediation: None,
                to_verify: classification.hints.clone(),
                also_wrong: also_wrong(None),
            },
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(code: RootCause) -> Finding {
        Finding::fail(code, checks::title(code))
    }
    fn classification(category: Category) -> Classification {
        Classification {
            category,
            hints: vec!["check the route".into()],
            ..Default::default()
        }
    }

    #[test]
    fn ranking_table() {
        use Category as C;
        use RootCause as R;
        // (findings, category, expected code, confidence)
        let cases: Vec<(Vec<Finding>, Category, RootCause, Confidence)> = vec![
            (vec![], C::Network, R::Unknown, Confidence::Low),
            (
                vec![
                    Finding::pass(R::EcrImageNotFound, "ok"),
                    Finding::warn(R::NetDns, "custom dns"),
                ],
                C::Network,
                R::Unknown,
                Confidence::Low,
            ),
            (
                vec![fail(R::EcrImageNotFound)],
                C::ImageNotFound,
                R::EcrImageNotFound,
                Confidence::High,
            ),
            (
                vec![fail(R::EcrImageNotFound)],
                C::Unknown,
                R::EcrImageNotFound,
                Confidence::Medium,
            ),
            // A failing check the message rules out is not the root cause (issue 12): it was
            // ECR_IMAGE_NOT_FOUND with low confidence before.
            (
                vec![fail(R::EcrImageNotFound)],
                C::Network,
                R::Unknown,
                Confidence::Low,
            ),
            (
                vec![fail(R::NetS3EndpointPolicy)],
                C::Network,
                R::Unknown,
                Confidence::Low,
            ),
            (
                vec![
                    fail(R::NetEndpointPolicy),
                    fail(R::IamExecutionRolePermissions),
                ],
                C::Network,
                R::Unknown,
                Confidence::Low,
            ),
            (
                vec![fail(R::NetS3EndpointPolicy)],
                C::AccessDenied,
                R::NetS3EndpointPolicy,
                Confidence::High,
            ),
            (
                vec![fail(R::NetNoRoute)],
                C::AccessDenied,
                R::Unknown,
                Confidence::Low,
            ),
            // A ruled-out check does not outrank a consistent one, wherever it sits on the path.
            (
                vec![fail(R::NetS3EndpointPolicy), fail(R::NetTaskSgEgress)],
                C::Network,
                R::NetTaskSgEgress,
                Confidence::High,
            ),
            (
                vec![fail(R::NetNoRoute), fail(R::EcrImageNotFound)],
                C::ImageNotFound,
                R::EcrImageNotFound,
                Confidence::High,
            ),
            // An unknown category rules nothing out.
            (
                vec![fail(R::NetS3EndpointPolicy), fail(R::EcrImageNotFound)],
                C::Unknown,
                R::NetS3EndpointPolicy,
                Confidence::Medium,
            ),
            // Consistency with the message beats path order.
            (
                vec![fail(R::IamExecutionRoleMissing), fail(R::EcrImageNotFound)],
                C::ImageNotFound,
                R::EcrImageNotFound,
                Confidence::High,
            ),
            // Among consistent failures, the first on the path wins, whatever the input order.
            (
                vec![fail(R::NetTaskSgEgress), fail(R::NetNoRoute)],
                C::Network,
                R::NetNoRoute,
                Confidence::High,
            ),
            (
                vec![fail(R::EcrImageNotFound), fail(R::EcrRepositoryNotFound)],
                C::ImageNotFound,
                R::EcrRepositoryNotFound,
                Confidence::High,
            ),
            (
                vec![Finding::unknown(R::EcrImageNotFound, "?", "AccessDenied")],
                C::ImageNotFound,
                R::Unknown,
                Confidence::Low,
            ),
            // Identity and registry causes (issue 3).
            (
                vec![fail(R::EcrImageNotFound), fail(R::EcrImageExpired)],
                C::ImageNotFound,
                R::EcrImageExpired,
                Confidence::High,
            ),
            (
                vec![
                    fail(R::IamExecutionRolePermissions),
                    fail(R::EcrRepositoryPolicy),
                ],
                C::AccessDenied,
                R::IamExecutionRolePermissions,
                Confidence::High,
            ),
            (
                vec![
                    fail(R::RegistryRateLimit),
                    fail(R::IamExecutionRolePermissions),
                ],
                C::RateLimited,
                R::RegistryRateLimit,
                Confidence::High,
            ),
            (
                vec![fail(R::IamRegistrySecret), fail(R::RegistryAuth)],
                C::RegistryCredentials,
                R::IamRegistrySecret,
                Confidence::High,
            ),
            (
                vec![fail(R::StorageEphemeral)],
                C::DiskSpace,
                R::StorageEphemeral,
                Confidence::High,
            ),
            (
                vec![fail(R::ImagePlatformMismatch)],
                C::PlatformMismatch,
                R::ImagePlatformMismatch,
                Confidence::High,
            ),
        ];
        for (findings, category, code, confidence) in cases {
            let (summary, index) = rank(&findings, &classification(category));
            assert_eq!(
                (summary.code, summary.confidence),
                (code, confidence),
                "{findings:?} {category:?}"
            );
            assert_eq!(index.is_some(), code != R::Unknown);
            if code == R::Unknown {
                assert_eq!(summary.to_verify, vec!["check the route".to_string()]);
            }
        }
    }

    #[test]
    fn failing_checks_that_do_not_decide_are_also_wrong() {
        use RootCause as R;
        let endpoint_policy = fail(R::NetS3EndpointPolicy)
            .resource("vpce-s3")
            .remediation("Allow the layer bucket.");
        // An i/o timeout is never a 403: UNKNOWN, the timeout's causes to verify, and the
        // endpoint policy reported as a separate problem, with its fix.
        let (summary, index) = rank(
            &[
                Finding::pass(R::NetNoRoute, "route"),
                endpoint_policy.clone(),
            ],
            &classification(Category::Network),
        );
        assert_eq!((summary.code, index), (R::Unknown, None));
        assert_eq!(summary.to_verify, vec!["check the route".to_string()]);
        assert_eq!(summary.also_wrong, vec![AlsoWrong::of(&endpoint_policy)]);
        assert_eq!(summary.also_wrong[0].resource.as_deref(), Some("vpce-s3"));
        assert_eq!(
            summary.also_wrong[0].remediation.as_deref(),
            Some("Allow the layer bucket.")
        );
        // The same check explains a 403: it decides and nothing else is listed.
        let (summary, index) = rank(
            std::slice::from_ref(&endpoint_policy),
            &classification(Category::AccessDenied),
        );
        assert_eq!(
            (summary.code, index, summary.also_wrong.len()),
            (R::NetS3EndpointPolicy, Some(0), 0)
        );
        // Beside a deciding check, the others are listed: consistent ones first, in path order.
        let findings = vec![
            fail(R::EcrImageNotFound),
            fail(R::NetNacl),
            fail(R::NetNoRoute),
            endpoint_policy,
        ];
        let (summary, index) = rank(&findings, &classification(Category::Network));
        assert_eq!((summary.code, index), (R::NetNoRoute, Some(2)));
        let listed: Vec<R> = summary.also_wrong.iter().map(|a| a.code).collect();
        assert_eq!(
            listed,
            vec![R::NetNacl, R::NetS3EndpointPolicy, R::EcrImageNotFound]
        );
        // Passing, warning and unknown checks are never listed.
        let (summary, _) = rank(
            &[
                Finding::warn(R::NetDns, "dns"),
                Finding::unknown(R::NetNacl, "?", "denied"),
            ],
            &classification(Category::Network),
        );
        assert!(summary.also_wrong.is_empty());
    }

    #[test]
    fn the_failing_step_breaks_ties_between_consistent_causes() {
        use RootCause as R;
        let both = vec![
            fail(R::IamExecutionRolePermissions),
            fail(R::NetS3EndpointPolicy),
        ];
        // (phase, expected): a 403 on an S3 layer URL is the endpoint policy; on the manifest, IAM.
        let cases = [
            (Some(Phase::Layer), R::NetS3EndpointPolicy),
            (Some(Phase::Manifest), R::IamExecutionRolePermissions),
            (Some(Phase::AuthToken), R::IamExecutionRolePermissions),
            (None, R::NetS3EndpointPolicy),
        ];
        for (phase, want) in cases {
            let c = Classification {
                category: Category::AccessDenied,
                phase,
                ..Default::default()
            };
            assert_eq!(rank(&both, &c).0.code, want, "{phase:?}");
        }
        let secret = vec![
            fail(R::IamExecutionRolePermissions),
            fail(R::IamRegistrySecret),
        ];
        let c = Classification {
            category: Category::AccessDenied,
            phase: Some(Phase::AuthToken),
            ..Default::default()
        };
        assert_eq!(rank(&secret, &c).0.code, R::IamRegistrySecret);
        let c = Classification {
            category: Category::AccessDenied,
            phase: Some(Phase::Manifest),
            ..Default::default()
        };
        assert_eq!(rank(&secret, &c).0.code, R::IamExecutionRolePermissions);
    }
}
