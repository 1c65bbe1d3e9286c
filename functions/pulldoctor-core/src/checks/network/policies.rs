//! Endpoint policies: the S3 gateway endpoint's policy must let the layer download through, and the
//! ECR interface endpoints' policies must let the pull's ECR actions through.

use serde_json::json;

use super::console;
use super::path::{Service, Via};
use super::with_net;
use crate::checks::permissions::principal_context;
use crate::checks::rule::{Doc, Phases, Rule, Stage, EVERYWHERE};
use crate::model::arn::partition_of;
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{EndpointFacts, Facts};
use crate::model::message::{Category, Phase};
use crate::model::pull::pull_role;
use crate::policy::{self, evaluate_endpoint_policy, Context, Labeled, Principal, Request};

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

/// The check of [`S3_ENDPOINT_POLICY`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
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
        let ctx = Context::new()
            .set("aws:SourceVpce", endpoint.id.as_str())
            .set("aws:SourceVpc", vpc.as_str());
        let caller = Principal::aws_owned();
        let request = Request {
            action: "s3:GetObject",
            resource: &object,
            principal: Some(&caller),
            context: &ctx,
        };
        let decision = verdict(endpoint.policy.as_deref(), &request);
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

/// The check of [`ECR_ENDPOINT_POLICY`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
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
        let principal = pulling_principal(net.facts);
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
            let ctx = principal
                .context
                .clone()
                .set("aws:SourceVpce", e.id.as_str())
                .set("aws:SourceVpc", vpc.as_str());
            for action in &actions {
                let req = Request {
                    action,
                    resource,
                    principal: Some(&principal.who),
                    context: &ctx,
                };
                let d = verdict(e.policy.as_deref(), &req);
                if rank(&d) > rank(&worst) {
                    worst = d;
                    worst_action = action;
                }
            }
            let who = principal
                .arn
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
                    .evidence("principal", principal.arn.clone())
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

/// The role the endpoint sees: the one that pulls (the execution role, else on EC2 the container
/// instance's role); unknown when neither can be told.
struct Puller {
    arn: Option<String>,
    who: Principal,
    context: Context,
}

fn pulling_principal(facts: &Facts) -> Puller {
    let puller = pull_role(facts);
    let Some(arn) = puller.as_ref().and_then(|r| r.arn.clone()) else {
        return Puller {
            arn: None,
            who: Principal::unknown(),
            context: Context::new(),
        };
    };
    let (who, context) = principal_context(&arn, puller.and_then(|r| r.fact.value()));
    Puller {
        arn: Some(arn),
        who,
        context,
    }
}

/// What an endpoint's policy says about one request: no policy is the default full access.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Allow,
    Deny { sid: Option<String> },
    ImplicitDeny,
    Unknown { condition: String },
}

fn verdict(policy_text: Option<&str>, req: &Request) -> Decision {
    let Some(text) = policy_text else {
        return Decision::Allow;
    };
    let Some(document) = policy::parse_document(text) else {
        return Decision::Unknown {
            condition: "the policy is not valid JSON".into(),
        };
    };
    let labeled = Labeled {
        label: "endpoint policy",
        document: &document,
    };
    let e = evaluate_endpoint_policy(&labeled, req);
    match e.decision {
        policy::Decision::Allowed => Decision::Allow,
        policy::Decision::ImplicitDeny => Decision::ImplicitDeny,
        policy::Decision::ExplicitDeny => Decision::Deny {
            sid: e
                .denies
                .iter()
                .find(|s| s.unresolved.is_empty())
                .map(|s| s.statement.clone())
                .filter(|s| !s.starts_with('#')),
        },
        policy::Decision::Unknown => Decision::Unknown {
            condition: e
                .denies
                .iter()
                .chain(&e.allows)
                .filter(|s| !s.unresolved.is_empty())
                .map(|s| {
                    format!(
                        "{} statement {}: {}",
                        s.effect,
                        s.statement,
                        s.unresolved.join(" and ")
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        },
    }
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

    const LAYER: &str = "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/sha256/abc";
    const REPO: &str = "arn:aws:ecr:us-east-1:111122223333:repository/team/app";

    /// One request against an endpoint policy text, through the shared evaluator.
    fn ask(policy: &str, action: &str, resource: &str, who: &Principal, ctx: &Context) -> Decision {
        let req = Request {
            action,
            resource,
            principal: Some(who),
            context: ctx,
        };
        verdict(Some(policy), &req)
    }

    /// The endpoint policy's own semantics, through `crate::policy` (the evaluator every policy
    /// shares): a deny wins, an allow is needed, a statement without a principal applies to all,
    /// the presigned layer URL is an AWS-owned caller, an unknown caller or condition is unknown.
    #[allow(clippy::type_complexity)] // a table test: one tuple per case reads best
    #[test]
    fn endpoint_policy_evaluation_table() {
        let full =
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;
        let no_principal = r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        let layer_only = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Layers","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":["arn:aws:s3:::prod-us-east-1-starport-layer-bucket/*"]}]}"#;
        let other_bucket = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::my-bucket/*"}]}"#;
        let deny_get = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Sid":"NoGet","Effect":"Deny","Principal":"*","Action":"s3:Get*","Resource":"*"}]}"#;
        let not_action = r#"{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":"s3:Delete*","Resource":"*"}]}"#;
        let not_resource_deny = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Sid":"OnlyMine","Effect":"Deny","Principal":"*","Action":"s3:*","NotResource":"arn:aws:s3:::mine/*"}]}"#;
        let role_only = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"ecr:*","Resource":"*"}}]}}"#
        );
        let account_only = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Resource":"*"}]}"#;
        let org_condition = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}}]}"#;
        let vpce_condition = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1"}}}]}"#;
        let ip_condition = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"1.2.3.4/32"}}}]}"#;
        let single_statement = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"*"}}"#;
        let owned = Principal::aws_owned();
        let role = Principal::of_arn(ROLE);
        let other = Principal::of_arn("arn:aws:iam::111122223333:role/other");
        let unknown = Principal::unknown();
        let none = Context::new();
        let vpce1 = Context::new().set("aws:SourceVpce", "vpce-1");
        let vpce2 = Context::new().set("aws:SourceVpce", "vpce-2");
        let deny = |sid: &str| Decision::Deny {
            sid: Some(sid.into()),
        };
        let maybe = || Decision::Unknown {
            condition: String::new(),
        };
        let cases: Vec<(&str, &str, &str, &str, &Principal, &Context, Decision)> = vec![
            (
                "full access",
                full,
                "s3:GetObject",
                LAYER,
                &owned,
                &none,
                Decision::Allow,
            ),
            (
                "no principal element: everyone",
                no_principal,
                "s3:GetObject",
                LAYER,
                &owned,
                &none,
                Decision::Allow,
            ),
            (
                "layer bucket allowed",
                layer_only,
                "s3:GetObject",
                LAYER,
                &owned,
                &none,
                Decision::Allow,
            ),
            (
                "other bucket only",
                other_bucket,
                "s3:GetObject",
                LAYER,
                &owned,
                &none,
                Decision::ImplicitDeny,
            ),
            (
                "explicit deny",
                deny_get,
                "s3:GetObject",
                LAYER,
                &owned,
                &none,
                deny("NoGet"),
            ),
            (
                "NotAction allows",
                not_action,
                "s3:GetObject",
                LAYER,
                &owned,
                &none,
                Decision::Allow,
            ),
            (
                "NotResource deny",
                not_resource_deny,
                "s3:GetObject",
                LAYER,
                &owned,
                &none,
                deny("OnlyMine"),
            ),
            (
                "single statement object",
                single_statement,
                "s3:GetObject",
                LAYER,
                &owned,
                &none,
                Decision::Allow,
            ),
            (
                "role principal, role caller",
                &role_only,
                "ecr:BatchGetImage",
                REPO,
                &role,
                &none,
                Decision::Allow,
            ),
            (
                "role principal, other role",
                &role_only,
                "ecr:BatchGetImage",
                REPO,
                &other,
                &none,
                Decision::ImplicitDeny,
            ),
            (
                "role principal, AWS-owned caller",
                &role_only,
                "ecr:BatchGetImage",
                REPO,
                &owned,
                &none,
                Decision::ImplicitDeny,
            ),
            (
                "role principal, unknown caller",
                &role_only,
                "ecr:BatchGetImage",
                REPO,
                &unknown,
                &none,
                maybe(),
            ),
            (
                "account principal",
                account_only,
                "ecr:BatchGetImage",
                REPO,
                &role,
                &none,
                Decision::Allow,
            ),
            (
                "account principal, token action missing",
                account_only,
                "ecr:GetAuthorizationToken",
                "*",
                &role,
                &none,
                Decision::ImplicitDeny,
            ),
            (
                "org condition unknown",
                org_condition,
                "s3:GetObject",
                LAYER,
                &owned,
                &none,
                maybe(),
            ),
            (
                "vpce condition known true",
                vpce_condition,
                "s3:GetObject",
                LAYER,
                &owned,
                &vpce1,
                Decision::Allow,
            ),
            (
                "vpce condition known false",
                vpce_condition,
                "s3:GetObject",
                LAYER,
                &owned,
                &vpce2,
                Decision::ImplicitDeny,
            ),
            (
                "a deny on an unknown key",
                ip_condition,
                "s3:GetObject",
                LAYER,
                &owned,
                &none,
                maybe(),
            ),
            (
                "not json",
                "{nope",
                "s3:GetObject",
                LAYER,
                &owned,
                &none,
                maybe(),
            ),
        ];
        for (name, policy, action, resource, who, ctx, want) in cases {
            let got = ask(policy, action, resource, who, ctx);
            match (&got, &want) {
                (Decision::Unknown { condition }, Decision::Unknown { .. }) => {
                    assert!(!condition.is_empty(), "{name}")
                }
                _ => assert_eq!(got, want, "{name}"),
            }
        }
        let Decision::Unknown { condition } =
            ask(org_condition, "s3:GetObject", LAYER, &owned, &none)
        else {
            panic!("the org condition cannot be known")
        };
        assert!(
            condition.contains("aws:PrincipalOrgID") && condition.contains("o-abc"),
            "{condition}"
        );
    }

    #[test]
    fn endpoint_policy_condition_operators() {
        let ctx = Context::new()
            .set("aws:SourceVpce", "vpce-1")
            .absent("aws:SourceVpc");
        let owned = Principal::aws_owned();
        let policy = |cond: &str| {
            format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{cond}}}]}}"#
            )
        };
        let cases = [
            (
                r#"{"StringNotEquals":{"aws:SourceVpce":"vpce-2"}}"#,
                Decision::Allow,
            ),
            (
                r#"{"StringLike":{"aws:sourcevpce":"vpce-*"}}"#,
                Decision::Allow,
            ),
            (
                r#"{"StringEquals":{"aws:SourceVpc":"vpc-1"}}"#,
                Decision::ImplicitDeny,
            ),
            (
                r#"{"StringEqualsIfExists":{"aws:SourceVpc":"vpc-1"}}"#,
                Decision::Allow,
            ),
            (r#"{"Null":{"aws:SourceVpc":"true"}}"#, Decision::Allow),
            (
                r#"{"Null":{"aws:SourceVpce":"true"}}"#,
                Decision::ImplicitDeny,
            ),
            (
                r#"{"ForAnyValue:StringEquals":{"aws:SourceVpce":["vpce-9","vpce-1"]}}"#,
                Decision::Allow,
            ),
        ];
        for (cond, want) in cases {
            assert_eq!(
                ask(&policy(cond), "s3:GetObject", LAYER, &owned, &ctx),
                want,
                "{cond}"
            );
        }
    }

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
