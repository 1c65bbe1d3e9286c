//! What a message is consistent with, as a matrix: every message form the classifier knows × every
//! cause that can fail → root cause, or `also_wrong` when the message rules the cause out. The
//! groups below are written by hand from what AWS, Docker and containerd print for each cause, so
//! a rule whose `explains` drifts, or a classifier that loses a form, fails here.
//!
//! Then the regressions that started it: a task with no execution role, an execution role with an
//! explicit deny, an EC2 task pulling with its instance role and a repository policy deny, each
//! with the ambiguous messages, judged end to end on their saved Facts.

use std::collections::BTreeSet;

use crate::checks;
use crate::classify::classify;
use crate::judge::judge;
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::Facts;
use crate::rank::rank;
use RootCause as R;

/// Causes that stop packets: DNS, routes, endpoints, filters (and a pull-through cache's upstream).
const NETWORK: &[R] = &[
    R::NetDns,
    R::NetNoRoute,
    R::NetCrossRegion,
    R::NetEndpointMissing,
    R::NetNoPublicIp,
    R::NetEndpointDns,
    R::NetTaskSgEgress,
    R::NetNacl,
    R::NetEndpointSg,
    R::EcrPullThroughCache,
];
/// Causes a registry or AWS API answers with a refusal (403, AccessDenied).
const REFUSED: &[R] = &[
    R::NetEndpointPolicy,
    R::NetS3EndpointPolicy,
    R::IamExecutionRoleMissing,
    R::IamExecutionRoleTrust,
    R::IamRegistrySecret,
    R::SecretNotFound,
    R::SecretAccessDenied,
    R::IamExecutionRolePermissions,
    R::IamInstanceRolePermissions,
    R::EcrPullThroughCache,
    R::EcrRepositoryNotFound,
    R::EcrRepositoryPolicy,
    R::RegistryAuth,
];
/// Causes that leave the pull without credentials (401, no basic auth credentials).
const UNAUTHENTICATED: &[R] = &[
    R::IamExecutionRoleMissing,
    R::IamExecutionRoleTrust,
    R::IamRegistrySecret,
    R::SecretNotFound,
    R::SecretAccessDenied,
    R::IamExecutionRolePermissions,
    R::IamInstanceRolePermissions,
    R::EcrPullThroughCache,
    R::EcrRepositoryPolicy,
    R::RegistryAuth,
];
/// Causes the registry answers with "not found" (404, manifest unknown).
const MISSING: &[R] = &[
    R::EcrPullThroughCache,
    R::EcrRepositoryNotFound,
    R::EcrImageArchived,
    R::EcrImageExpired,
    R::EcrImageNotFound,
];

const ECR: &str = "111122223333.dkr.ecr.us-east-1.amazonaws.com";

/// The daemon's refusal, as ECS on EC2 prints it: nothing says which cause it has.
pub(crate) const DAEMON_REFUSAL: &str = "CannotPullContainerError: Error response from daemon: pull access denied for 111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app, repository does not exist or may require 'docker login'";
/// containerd's refusal (Fargate, EKS).
pub(crate) const SCOPE_REFUSAL: &str = r#"CannotPullContainerError: failed to resolve ref "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed"#;
pub(crate) const NO_CREDENTIALS: &str = "CannotPullContainerError: Error response from daemon: Get https://111122223333.dkr.ecr.us-east-1.amazonaws.com/v2/team/app/manifests/v1: no basic auth credentials";

/// (a message form, the groups of causes it is consistent with).
fn forms() -> Vec<(String, Vec<&'static [R]>)> {
    let kubelet = |m: &str| {
        format!(r#"Failed to pull image "{ECR}/team/app:v1": rpc error: code = Unknown desc = {m}"#)
    };
    vec![
        (format!(r#"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {ECR}/team/app:v1: failed to do request: Head "https://{ECR}/v2/team/app/manifests/v1": dial tcp 52.1.2.3:443: i/o timeout"#), vec![NETWORK]),
        (r#"CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: httpReadSeeker: failed open: failed to do request: Get "https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/x": dial tcp 52.216.1.2:443: i/o timeout"#.into(), vec![NETWORK]),
        (r#"CannotPullContainerError: inspect image has been retried 5 time(s): failed to resolve ref "docker.io/library/nginx:latest": failed to do request: Head "https://registry-1.docker.io/v2/library/nginx/manifests/latest": dial tcp: lookup registry-1.docker.io on 10.0.0.2:53: no such host"#.into(), vec![NETWORK]),
        ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s): RequestError: send request failed caused by: Post \"https://api.ecr.us-east-1.amazonaws.com/\": dial tcp 10.0.1.5:443: i/o timeout. Please check your task network configuration.".into(), vec![NETWORK]),
        (r#"CannotPullContainerError: error pulling image configuration: Get "https://prod-us-west-2-starport-layer-bucket.s3.us-west-2.amazonaws.com/abc": net/http: TLS handshake timeout"#.into(), vec![NETWORK, &[R::RegistryRateLimit]]),
        (format!("CannotPullContainerError: {ECR}/team/app:v9: not found"), vec![MISSING]),
        (format!("CannotPullContainerError: Error response from daemon: manifest for {ECR}/team/app:v9 not found: manifest unknown: Requested image not found"), vec![MISSING]),
        (format!("CannotPullContainerError: Error response from daemon: repository {ECR}/gone not found: name unknown: The repository with name 'gone' does not exist in the registry with id '111122223333'"), vec![MISSING]),
        (DAEMON_REFUSAL.into(), vec![MISSING, REFUSED, UNAUTHENTICATED]),
        (SCOPE_REFUSAL.into(), vec![MISSING, REFUSED, UNAUTHENTICATED]),
        (kubelet(&format!(r#"failed to pull and unpack image "{ECR}/team/app:v1": failed to resolve reference "{ECR}/team/app:v1": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed"#)), vec![MISSING, REFUSED, UNAUTHENTICATED]),
        // IAM's own wording names the refusal: a permission (or a repository that is not there to
        // be granted), never a tag.
        (format!("CannotPullContainerError: Error response from daemon: pull access denied for {ECR}/team/app, repository does not exist or may require 'docker login': denied: User: arn:aws:sts::111122223333:assumed-role/ecsInstanceRole/i-0abc123 is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:111122223333:repository/team/app"), vec![REFUSED]),
        ("CannotPullECRContainerError: AccessDeniedException: User: arn:aws:sts::111122223333:assumed-role/ecsTaskExecutionRole/0a1b is not authorized to perform: ecr:GetAuthorizationToken on resource: * because no identity-based policy allows the ecr:GetAuthorizationToken action status code: 400, request id: 5f3c".into(), vec![REFUSED]),
        ("CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: httpReadSeeker: failed open: unexpected status code https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/a1b2/f00d: 403 Forbidden".into(), vec![REFUSED]),
        ("CannotPullContainerError: The task can’t pull the image. Check that the role has the permissions to pull images from the registry.".into(), vec![REFUSED, MISSING]),
        (NO_CREDENTIALS.into(), vec![UNAUTHENTICATED, REFUSED]),
        // The kubelet pulls anonymously when its credential provider could not reach ECR's API.
        (kubelet(&format!("Error response from daemon: Get https://{ECR}/v2/team/app/manifests/v1: no basic auth credentials")), vec![UNAUTHENTICATED, REFUSED, NETWORK]),
        (kubelet(&format!(r#"failed to pull and unpack image "{ECR}/team/app:v1": failed to resolve reference "{ECR}/team/app:v1": pulling from host {ECR} failed with status code [manifests v1]: 401 Unauthorized"#)), vec![UNAUTHENTICATED, REFUSED, NETWORK]),
        ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret arn:aws:secretsmanager:us-east-1:111122223333:secret:reg-Ab12 from secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified secret.".into(), vec![UNAUTHENTICATED]),
        ("CannotPullContainerError: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit".into(), vec![&[R::RegistryRateLimit]]),
        ("CannotPullContainerError: failed to register layer: write /usr/lib/x.so: no space left on device".into(), vec![&[R::StorageEphemeral]]),
        ("CannotPullContainerError: no matching manifest for linux/arm64/v8 in the manifest list entries".into(), vec![&[R::ImagePlatformMismatch]]),
    ]
}

/// Every cause that can decide (context rules explain nothing and never do).
fn deciding_causes() -> Vec<R> {
    checks::RULES
        .iter()
        .filter(|r| !r.explains.is_empty())
        .map(|r| r.code)
        .collect()
}

#[test]
fn each_message_form_decides_exactly_the_causes_it_is_consistent_with() {
    let mut wrong = vec![];
    let mut cells = 0;
    for (message, groups) in forms() {
        let classification = classify(&message);
        let consistent: BTreeSet<R> = groups.iter().flat_map(|g| g.iter().copied()).collect();
        for code in deciding_causes() {
            cells += 1;
            let (summary, _) = rank(&[Finding::fail(code, checks::title(code))], &classification);
            let decided = summary.code == code;
            let listed = summary.also_wrong.iter().any(|a| a.code == code);
            let want = consistent.contains(&code);
            if decided != want || listed == want {
                wrong.push(format!(
                    "{code} {} for {:?} ({message})",
                    if want {
                        "should decide"
                    } else {
                        "should be also_wrong"
                    },
                    classification.consistent_categories(),
                ));
            }
        }
        // What classify reports is what rank uses.
        let reported: BTreeSet<R> = classification.consistent_with.iter().copied().collect();
        if reported != consistent {
            wrong.push(format!(
                "consistent_with {reported:?}, want {consistent:?} ({message})"
            ));
        }
    }
    println!(
        "message matrix: {} forms × {} causes = {cells} cells",
        forms().len(),
        deciding_causes().len()
    );
    assert!(
        wrong.is_empty(),
        "{} wrong cells:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn an_unknown_message_rules_nothing_out() {
    for message in [
        "Error: ErrImagePull",
        "CannotPullContainerError: something new",
        "",
    ] {
        let c = classify(message);
        assert_eq!(c.consistent_with, deciding_causes(), "{message}");
        for code in deciding_causes() {
            assert_eq!(
                rank(&[Finding::fail(code, "x")], &c).0.code,
                code,
                "{message}"
            );
        }
    }
}

/// Between several consistent failing checks the pull's first blocker decides; a check the message
/// rules out is listed after the consistent ones.
#[test]
fn among_consistent_causes_the_first_blocker_decides() {
    let c = classify(DAEMON_REFUSAL);
    let findings = [
        R::EcrImageNotFound,
        R::NetTaskSgEgress,
        R::IamExecutionRoleMissing,
    ]
    .map(|code| Finding::fail(code, checks::title(code)));
    let (summary, _) = rank(&findings, &c);
    assert_eq!(summary.code, R::IamExecutionRoleMissing);
    let listed: Vec<R> = summary.also_wrong.iter().map(|a| a.code).collect();
    assert_eq!(listed, vec![R::EcrImageNotFound, R::NetTaskSgEgress]);
    // A message that names its cause keeps deciding by it.
    let c = classify(&format!(
        "CannotPullContainerError: {ECR}/team/app:v9: not found"
    ));
    assert_eq!(rank(&findings, &c).0.code, R::EcrImageNotFound);
}

fn saved(case: &str) -> Facts {
    crate::checks::fixture_tests::saved(case)
}

/// The four commonest failures, each with every ambiguous message, name their cause again
/// (they had regressed to `UNKNOWN`: the daemon's message was taken for "image not found").
#[test]
fn the_common_failures_name_their_cause_with_the_ambiguous_messages() {
    let cases = [
        (
            "IAM_EXECUTION_ROLE_MISSING/fargate-no-role",
            R::IamExecutionRoleMissing,
        ),
        (
            "IAM_EXECUTION_ROLE_MISSING/capacity-provider-fargate-only-td",
            R::IamExecutionRoleMissing,
        ),
        (
            "IAM_EXECUTION_ROLE_PERMISSIONS/world-role-with-explicit-deny",
            R::IamExecutionRolePermissions,
        ),
        (
            "IAM_EXECUTION_ROLE_PERMISSIONS/local-explicit-deny",
            R::IamExecutionRolePermissions,
        ),
        (
            "IAM_EXECUTION_ROLE_PERMISSIONS/simulator-explicit-deny",
            R::IamExecutionRolePermissions,
        ),
        (
            "IAM_INSTANCE_ROLE_PERMISSIONS/world-ec2-instance-role-without-registry-access",
            R::IamInstanceRolePermissions,
        ),
        (
            "IAM_INSTANCE_ROLE_PERMISSIONS/ec2-instance-role-without-policies",
            R::IamInstanceRolePermissions,
        ),
        (
            "ECR_REPOSITORY_POLICY/world-repository-policy-deny",
            R::EcrRepositoryPolicy,
        ),
        (
            "ECR_REPOSITORY_POLICY/deny-the-role",
            R::EcrRepositoryPolicy,
        ),
    ];
    let mut wrong = vec![];
    for (case, want) in cases {
        for message in [DAEMON_REFUSAL, SCOPE_REFUSAL, NO_CREDENTIALS] {
            let mut facts = saved(case);
            facts.failure.message = message.into();
            facts.failure.classification = classify(message);
            let d = judge(&facts);
            if d.root_cause.code != want {
                wrong.push(format!(
                    "{case}: {} (want {want}) with {message}",
                    d.root_cause.code
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
