//! The network worlds judged through the whole engine (checks + ranking) are saved-Facts cases
//! (`tests/fixtures/checks/NET_*/world-*`): each failing world yields its root cause, and healthy
//! worlds produce no `fail` at all. What an expectation file cannot say is tested here.

use super::fixtures::*;
use crate::checks::fixture_tests::saved;
use crate::judge::judge;
use crate::model::diagnosis::{RootCause, Status};
use crate::model::facts::*;

/// What cannot be modelled is said: an IPv6-only subnet's path is one `unknown` that names what to
/// verify, never a `pass` or a `fail`; a dual-stack name is never sent to a VPC endpoint.
/// A dual-stack registry name is never sent to a VPC endpoint (the IPv6-only and dual-stack
/// worlds themselves are saved-Facts cases in `tests/fixtures/checks/NET_NO_ROUTE`).
#[test]
fn dual_stack_name_goes_to_the_internet() {
    let f = dual_stack_image(fargate_endpoints());
    let path = super::path::Net::new(&f).ok().unwrap();
    let dkr = path
        .legs
        .iter()
        .find(|l| l.service == super::path::Service::EcrDkr)
        .unwrap();
    assert_eq!(dkr.host, format!("{ACCOUNT}.dkr-ecr.{REGION}.on.aws"));
    assert!(dkr.uses_internet(), "{:?}", dkr.via);
}

/// The endpoint-policy worlds with an i/o timeout instead of their 403: a policy cannot time a
/// pull out, so the root cause is UNKNOWN (the timeout's causes to verify) and the policy is
/// reported as also wrong, with its fix.
#[test]
fn an_endpoint_policy_does_not_explain_a_timeout() {
    for (name, code) in [
        (
            "NET_S3_ENDPOINT_POLICY/world-s3-endpoint-policy-other-buckets-only",
            RootCause::NetS3EndpointPolicy,
        ),
        (
            "NET_ENDPOINT_POLICY/world-ecr-endpoint-policy-denies-batchgetimage",
            RootCause::NetEndpointPolicy,
        ),
    ] {
        let d = judge(&with_message(saved(name), TIMEOUT));
        assert_eq!(d.root_cause.code, RootCause::Unknown, "{name}");
        assert!(
            !d.root_cause.to_verify.is_empty(),
            "{name}: no causes to verify"
        );
        let listed: Vec<RootCause> = d.root_cause.also_wrong.iter().map(|a| a.code).collect();
        assert_eq!(listed, vec![code], "{name}");
        assert!(
            d.root_cause.also_wrong[0]
                .resource
                .as_deref()
                .is_some_and(|r| r.starts_with("vpce-")),
            "{name}"
        );
        assert!(d.root_cause.also_wrong[0].remediation.is_some(), "{name}");
    }
}

#[test]
fn old_snapshots_without_network_facts_get_no_network_findings() {
    let mut f = fargate_nat();
    f.network = NetworkFacts::default();
    assert!(network_findings(&f).is_empty());
    // And they still load: the field is optional.
    let mut json = serde_json::to_value(&f).unwrap();
    json.as_object_mut().unwrap().remove("network");
    let back: Facts = serde_json::from_value(json).unwrap();
    assert!(!back.network.collected);
}

/// Facts snapshots the real collector produced against moto (python-built worlds, `pulldoctor
/// diagnose --save-facts`): the collector → checks contract, re-judged offline.
#[test]
fn saved_moto_snapshots() {
    let cases: [(&str, &str, RootCause); 5] = [
        (
            "sg-trap",
            include_str!("../../../tests/fixtures/facts/moto-fargate-sg-trap.json"),
            RootCause::NetTaskSgEgress,
        ),
        (
            "nacl90",
            include_str!("../../../tests/fixtures/facts/moto-fargate-nacl90.json"),
            RootCause::NetNacl,
        ),
        (
            "dkr-only",
            include_str!("../../../tests/fixtures/facts/moto-fargate-dkr-only.json"),
            RootCause::NetEndpointMissing,
        ),
        (
            "ec2 bridge, no public IP",
            include_str!("../../../tests/fixtures/facts/moto-ec2-bridge-no-public-ip.json"),
            RootCause::NetNoPublicIp,
        ),
        // Public subnet with a public IP: network healthy. The repository is missing in that world,
        // but its message is an i/o timeout, which a missing repository never causes: UNKNOWN,
        // with ECR_REPOSITORY_NOT_FOUND as also wrong (issue 12; it was the low-confidence root).
        (
            "public-ip",
            include_str!("../../../tests/fixtures/facts/moto-fargate-public-ip.json"),
            RootCause::Unknown,
        ),
    ];
    for (name, json, expected) in cases {
        let facts: Facts = serde_json::from_str(json).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(facts.network.collected, "{name}");
        let d = judge(&facts);
        assert_eq!(d.root_cause.code, expected, "{name}");
        if name == "public-ip" {
            assert!(
                network_findings(&facts)
                    .iter()
                    .all(|f| f.status == Status::Pass),
                "{name}: healthy network"
            );
            let listed: Vec<RootCause> = d.root_cause.also_wrong.iter().map(|a| a.code).collect();
            assert_eq!(listed, vec![RootCause::EcrRepositoryNotFound], "{name}");
        }
    }
}

#[test]
fn origin_resolution() {
    // ENI gone, service known: groups and public IP from the service, IP from the event.
    let f = fargate_nat();
    let o = f.network.origin(&f.task).unwrap();
    assert_eq!(o.kind, OriginKind::TaskEni);
    assert_eq!(o.security_groups, Known::Yes(vec![SG_TASK.to_string()]));
    assert_eq!(o.public_ip, Known::Yes(None));
    assert_eq!(o.private_ip, Some(TASK_IP.parse().unwrap()));
    assert!(
        o.security_groups_source.contains("service web"),
        "{}",
        o.security_groups_source
    );
    // Standalone task, ENI gone: unknown, said plainly.
    let mut f = fargate_nat();
    f.task.group = Some("family:web".into());
    f.network.service = Fact::NotCollected {
        reason: "standalone task".into(),
    };
    let o = f.network.origin(&f.task).unwrap();
    let why = o.security_groups.reason().unwrap();
    assert!(
        why.contains("no longer exists") && why.contains("standalone"),
        "{why}"
    );
    assert!(o.public_ip.reason().is_some());
    // EC2: the instance, whatever the task's network mode.
    let f = ec2_bridge();
    let o = f.network.origin(&f.task).unwrap();
    assert_eq!(
        (o.kind, o.subnet_id.as_deref()),
        (OriginKind::Instance, Some(SUBNET))
    );
    assert_eq!(
        o.security_groups,
        Known::Yes(vec!["sg-instance".to_string()])
    );
    // Instance unreadable: unknown with the reason.
    let mut f = ec2_bridge();
    f.network.instance = Fact::Unreadable {
        reason: "AccessDenied: ec2:DescribeInstances".into(),
        kind: ErrorKind::AccessDenied,
    };
    let o = f.network.origin(&f.task).unwrap();
    assert!(o.subnet_id.is_none());
    assert!(o.security_groups.reason().unwrap().contains("AccessDenied"));
    let route = crate::checks::network::route::check_route(&f);
    assert_eq!(route[0].status, Status::Unknown);
    assert!(route[0].evidence["reason"]
        .as_str()
        .unwrap()
        .contains("AccessDenied"));
    // Neither ENI nor container instance: no network findings.
    let mut f = fargate_nat();
    f.task.attachments.clear();
    assert!(f.network.origin(&f.task).is_none());
    assert!(network_findings(&f).is_empty());
}

/// The pull path in the evidence says where each leg would go: through the default route when
/// there is one, and plainly nowhere when there is none (the NAT route deleted).
#[test]
fn pull_path_evidence_does_not_claim_a_default_route_that_is_gone() {
    let path = |f: &Facts| {
        crate::checks::network::route::check_route(f)[0].evidence["pull_path"].to_string()
    };
    assert!(
        path(&fargate_nat()).contains("via internet (default route)"),
        "{}",
        path(&fargate_nat())
    );
    let mut gone = fargate_nat();
    if let Fact::Found { value } = &mut gone.network.route_table {
        value
            .routes
            .retain(|r| r.destination.as_deref() != Some("0.0.0.0/0"));
    }
    let p = path(&gone);
    assert!(!p.contains("default route"), "{p}");
    assert!(p.contains("which the subnet cannot reach"), "{p}");
}
