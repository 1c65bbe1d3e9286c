//! Endpoint policies: the S3 gateway endpoint's policy must let the layer download through, and the
//! ECR interface endpoints' policies must let the pull's ECR actions through.

use serde_json::json;

use super::console;
use super::endpoint_policy::{evaluate_request, Caller, Decision, Request};
use super::path::{Net, Service, Via};
use super::with_net;
use crate::checks::rule::{Doc, Phases, Rule, Stage, EVERYWHERE};
use crate::model::arn::partition_of;
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{EndpointFacts, Facts};
use crate::model::message::{Category, Phase};

pub const S3_ENDPOINT_POLICY: Rule = Rule {
    code: RootCause::NetS3EndpointPolicy,
    name: "s3_endpoint_policy",
    title: "The S3 gateway endpoint policy does not allow the ECR layer bucket",
    stage: Stage::Filter,
    explains: &[Category::AccessDenied],
    phases: Phases::Only(&[Phase::Layer]),
    scope: EVERYWHERE,
    reads: &[
        &["ec2:DescribeVpcEndpoints"],
    ],
    doc: Doc {
        what: "the S3 gateway endpoint policy does not allow the ECR layer bucket",
        why: "With an S3 gateway endpoint on the subnet's route table, every layer download passes through its \
             policy: ECR hands out presigned s3:GetObject URLs on prod-REGION-starport-layer-bucket, a bucket \
             AWS owns. A policy that allows only your own buckets, principals or account answers 403 on the \
             layers although routing and security groups are right.",
        fix: "Add a statement to the endpoint's policy that allows s3:GetObject on \
             arn:aws:s3:::prod-REGION-starport-layer-bucket/* for any principal, and make sure no Deny \
             statement covers that bucket.",
        reference: "https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html",
    },
    run: check_s3_endpoint_policy,
};

/// NET_S3_ENDPOINT_POLICY — with an S3 gateway endpoint on the subnet's route table, every layer
/// download (a presigned `s3:GetObject` on `arn:aws:s3:::prod-<region>-starport-layer-bucket/*`,
/// a bucket AWS owns) passes through the endpoint's policy. A policy that only allows your own
/// buckets, or only your own principals or account, answers 403 and the pull fails although
/// routing and security groups are right. Conditions this tool cannot evaluate are shown in a
/// `warn`.
pub fn check_s3_endpoint_policy(facts: &Facts) -> Vec<Finding> {
    with_net(facts, |net| {
        let code = RootCause::NetS3EndpointPolicy;
        let Some(leg) = net.legs.iter().find(|l| l.service == Service::S3) else {
            return vec![];
        };
        let endpoint = match &leg.via {
            Via::Gateway(e) | Via::Interface(e) => *e,
            _ => return vec![],
        };
        let bucket = format!("prod-{}-starport-layer-bucket", leg.region);
        let resource = format!("arn:{}:s3:::{bucket}/*", partition_of(&leg.region));
        let object = format!("arn:{}:s3:::{bucket}/layer", partition_of(&leg.region));
        let vpc = net.vpc_id().unwrap_or_default();
        let request = Request::new("s3:GetObject", &object, Caller::AwsOwned)
            .with("aws:SourceVpce", &[endpoint.id.as_str()])
            .with("aws:SourceVpc", &[vpc.as_str()]);
        let decision = match endpoint.policy.as_deref() {
            None => Decision::Allow,
            Some(p) => evaluate_request(p, &request),
        };
        let fix = format!(
            "Add a statement to the policy of {}: {{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\",\"Resource\":\"{resource}\"}} \
             (and make sure no Deny statement covers that bucket).",
            endpoint.id
        );
        let finding = judge(
            code,
            endpoint,
            decision,
            format!("s3:GetObject on {resource}"),
            fix,
        );
        vec![finding
            .resource(endpoint.id.clone())
            .evidence("request", json!({"action": "s3:GetObject", "resource": resource, "principal": "the ECR presigned URL (an AWS-owned principal)"}))
            .evidence("policy", policy_json(endpoint))
            .console_url(console::endpoint(&net.region, &endpoint.id))]
    })
}

pub const ECR_ENDPOINT_POLICY: Rule = Rule {
    code: RootCause::NetEndpointPolicy,
    name: "ecr_endpoint_policy",
    title: "An ECR interface endpoint policy denies the pull",
    stage: Stage::Filter,
    explains: &[Category::AccessDenied],
    phases: Phases::Any,
    scope: EVERYWHERE,
    reads: &[
        &["ec2:DescribeVpcEndpoints"],
    ],
    doc: Doc {
        what: "an ECR interface endpoint policy denies the pull",
        why: "An endpoint policy filters every request that goes through the endpoint. The pull makes \
             ecr:GetAuthorizationToken (on *) through ecr.api and ecr:BatchGetImage and \
             ecr:GetDownloadUrlForLayer on the repository through ecr.dkr, with the role that pulls. A policy \
             that does not allow one of them (for that role and repository), or denies it, answers 403 and \
             the message reads as access denied, never as a timeout.",
        fix: "Allow those three actions in the endpoint's policy for the pulling role (or its account) and the \
             repository, and remove or narrow any Deny statement that covers them.",
        reference: "https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html",
    },
    run: check_ecr_endpoint_policies,
};

/// NET_ENDPOINT_POLICY — an ECR interface endpoint with a restrictive policy answers 403 to pull
/// requests it does not allow: `ecr:GetAuthorizationToken` (on `*`) through `ecr.api`, and
/// `ecr:BatchGetImage` / `ecr:GetDownloadUrlForLayer` on the repository through `ecr.dkr`, made by
/// the task execution role (or, on EC2 without one, the instance role). Applies to the endpoints
/// the pull actually uses (private DNS on).
pub fn check_ecr_endpoint_policies(facts: &Facts) -> Vec<Finding> {
    with_net(facts, |net| {
        let code = RootCause::NetEndpointPolicy;
        let Some((account, image_region)) = net.ecr() else {
            return vec![];
        };
        let repo_arn = format!(
            "arn:{}:ecr:{image_region}:{account}:repository/{}",
            partition_of(image_region),
            net.image.repository
        );
        let principal = principal(net);
        let vpc = net.vpc_id().unwrap_or_default();
        let mut findings = vec![];
        for leg in &net.legs {
            let (Via::Interface(e), actions, resource) = (
                &leg.via,
                leg_actions(leg.service),
                leg_resource(leg.service, &repo_arn),
            ) else {
                continue;
            };
            if actions.is_empty() {
                continue;
            }
            let mut worst = Decision::Allow;
            let mut worst_action = actions[0];
            for action in &actions {
                let caller = match &principal {
                    Some(p) => Caller::Arn(p.as_str()),
                    None => Caller::Unknown,
                };
                let mut req = Request::new(action, resource, caller)
                    .with("aws:SourceVpce", &[e.id.as_str()])
                    .with("aws:SourceVpc", &[vpc.as_str()]);
                if let Some(p) = &principal {
                    let acct = p.split(':').nth(4).unwrap_or("");
                    req = req
                        .with("aws:PrincipalArn", &[p.as_str()])
                        .with("aws:PrincipalAccount", &[acct]);
                }
                let d = match e.policy.as_deref() {
                    None => Decision::Allow,
                    Some(p) => evaluate_request(p, &req),
                };
                if rank(&d) > rank(&worst) {
                    worst = d;
                    worst_action = action;
                }
            }
            let who = principal
                .clone()
                .unwrap_or_else(|| "the pulling role".into());
            let fix = format!(
                "Allow {} on {resource} for {who} in the policy of {} (or restore the default full-access policy), and make sure no \
                 Deny statement covers it.",
                actions.join(", "),
                e.id
            );
            findings.push(
                judge(code, e, worst, format!("{worst_action} on {resource}"), fix)
                    .resource(format!("{} ({})", e.id, e.service_name))
                    .evidence("principal", principal.clone())
                    .evidence("actions", json!(actions))
                    .evidence("policy", policy_json(e))
                    .console_url(console::endpoint(&net.region, &e.id)),
            );
        }
        findings
    })
}

fn rank(d: &Decision) -> u8 {
    match d {
        Decision::Allow => 0,
        Decision::Unknown { .. } => 1,
        Decision::ImplicitDeny => 2,
        Decision::Deny { .. } => 3,
    }
}

fn leg_actions(service: Service) -> Vec<&'static str> {
    match service {
        Service::EcrApi => vec!["ecr:GetAuthorizationToken"],
        Service::EcrDkr => vec!["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        _ => vec![],
    }
}

fn leg_resource(service: Service, repo_arn: &str) -> &str {
    match service {
        Service::EcrApi => "*",
        _ => repo_arn,
    }
}

/// Who the endpoint sees: the execution role (Fargate always; EC2 when the task definition has one),
/// else on EC2 the instance role (not known here).
fn principal(net: &Net) -> Option<String> {
    net.facts
        .task_definition
        .value()
        .and_then(|td| td.execution_role_arn.clone())
}

fn policy_json(e: &EndpointFacts) -> serde_json::Value {
    match e.policy.as_deref() {
        None => json!("default (full access)"),
        Some(p) => serde_json::from_str(p).unwrap_or_else(|_| json!(p)),
    }
}

fn judge(
    code: RootCause,
    e: &EndpointFacts,
    decision: Decision,
    what: String,
    fix: String,
) -> Finding {
    match decision {
        Decision::Allow => Finding::pass(
            code,
            format!("The policy of endpoint {} allows {what}", e.id),
        ),
        Decision::Deny { sid } => Finding::fail(
            code,
            format!(
                "The policy of endpoint {} denies {what}{}",
                e.id,
                sid.map(|s| format!(" (statement {s})")).unwrap_or_default()
            ),
        )
        .remediation(fix),
        Decision::ImplicitDeny => Finding::fail(
            code,
            format!("The policy of endpoint {} does not allow {what}", e.id),
        )
        .remediation(fix),
        Decision::Unknown { condition } => Finding::warn(
            code,
            format!(
                "Could not tell whether the policy of endpoint {} allows {what}",
                e.id
            ),
        )
        .evidence("cannot_evaluate", condition)
        .remediation(format!(
            "Verify by hand that the condition lets the pull through. {fix}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::network::fixtures::*;
    use crate::model::diagnosis::Status;
    use crate::model::facts::Fact;

    fn s3_policy(policy: &str) -> Facts {
        let mut f = fargate_endpoints();
        if let Fact::Found { value } = &mut f.network.endpoints {
            for e in value.iter_mut().filter(|e| e.is_gateway()) {
                e.policy = Some(policy.into());
            }
        }
        f
    }
    fn dkr_policy(policy: &str) -> Facts {
        let mut f = fargate_endpoints();
        if let Fact::Found { value } = &mut f.network.endpoints {
            for e in value.iter_mut().filter(|e| e.id == "vpce-dkr") {
                e.policy = Some(policy.into());
            }
        }
        f
    }

    #[test]
    fn s3_policy_table() {
        let cases: Vec<(&str, Facts, Option<Status>)> = vec![
            ("default policy", fargate_endpoints(), Some(Status::Pass)),
            (
                "recommended layer statement",
                s3_policy(
                    r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::prod-us-east-1-starport-layer-bucket/*"]}]}"#,
                ),
                Some(Status::Pass),
            ),
            (
                "other bucket only",
                s3_policy(
                    r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::my-bucket/*"}]}"#,
                ),
                Some(Status::Fail),
            ),
            (
                "own account principal only",
                s3_policy(
                    r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"s3:*","Resource":"*"}]}"#,
                ),
                Some(Status::Fail),
            ),
            (
                "deny outside my org",
                s3_policy(
                    r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringNotEquals":{"s3:ResourceAccount":"111122223333"}}}]}"#,
                ),
                Some(Status::Warn),
            ),
            (
                "restricted to this endpoint",
                s3_policy(
                    r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-s3"}}}]}"#,
                ),
                Some(Status::Pass),
            ),
            ("NAT, no gateway endpoint: n/a", fargate_nat(), None),
        ];
        for (name, f, status) in cases {
            let got = check_s3_endpoint_policy(&f);
            assert_eq!(got.first().map(|g| g.status), status, "{name}: {got:#?}");
        }
    }

    #[test]
    fn ecr_policy_table() {
        let role_only = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"ecr:*","Resource":"*"}}]}}"#
        );
        let mut no_role = dkr_policy(&role_only);
        if let Fact::Found { value: td } = &mut no_role.task_definition {
            td.execution_role_arn = None;
        }
        let cases: Vec<(&str, Facts, Status)> = vec![
            ("default", fargate_endpoints(), Status::Pass),
            (
                "execution role allowed",
                dkr_policy(&role_only),
                Status::Pass,
            ),
            (
                "other role only",
                dkr_policy(
                    r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/ci"},"Action":"ecr:*","Resource":"*"}]}"#,
                ),
                Status::Fail,
            ),
            (
                "other repository only",
                dkr_policy(
                    r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Resource":"arn:aws:ecr:us-east-1:111122223333:repository/other"}]}"#,
                ),
                Status::Fail,
            ),
            (
                "GetDownloadUrlForLayer missing",
                dkr_policy(
                    r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Resource":"*"}]}"#,
                ),
                Status::Fail,
            ),
            ("role unknown", no_role, Status::Warn),
        ];
        for (name, f, status) in cases {
            let got = check_ecr_endpoint_policies(&f);
            let dkr: Vec<_> = got
                .iter()
                .filter(|g| g.resource.as_deref().unwrap_or("").starts_with("vpce-dkr"))
                .collect();
            assert_eq!(dkr.len(), 1, "{name}");
            assert_eq!(dkr[0].status, status, "{name}: {dkr:#?}");
        }
        assert!(check_ecr_endpoint_policies(&fargate_nat()).is_empty());
    }
}
