//! VPC endpoints: when the subnet has no internet path, are all the endpoints the pull needs
//! present, available, associated, and resolvable through private DNS?

use crate::checks::rule::{Doc, Phases, Rule, Stage, EVERYWHERE};
use crate::checks::wording::words;
use crate::model::message::Category;
use serde_json::json;

use super::console;
use super::legs::any_ecr_interface_endpoint;
use super::path::{Internet, Leg, Net, Service, Via};
use super::route::required_endpoint_names;
use super::with_net;
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{EndpointFacts, Fact, Facts};

pub const REQUIRED_ENDPOINTS: Rule = Rule {
    code: RootCause::NetEndpointMissing,
    name: "required_endpoints",
    title: "Required VPC endpoints for ECR are missing",
    stage: Stage::Reach,
    explains: &[Category::Network],
    phases: Phases::Any,
    scope: EVERYWHERE,
    reads: &[
        &["ec2:DescribeSubnets", "ec2:DescribeRouteTables", "ec2:DescribeVpcEndpoints"],
    ],
    doc: Doc {
        what: "no internet route, and some of the required endpoints (`ecr.api`, `ecr.dkr`, S3 gateway) are \
             missing",
        why: "Without an internet path a pull needs every one of its endpoints: ecr.dkr for the manifest, the \
             S3 gateway endpoint on the subnet's route table for the layers, ecr.api for the authorization \
             token (Fargate platform 1.4.0 and later, EC2), and secretsmanager or ssm when the task reads \
             registry credentials or secrets. An interface endpoint must be available. One missing endpoint \
             is enough: that part of the pull goes to a public address and times out.",
        fix: "Create the missing interface endpoints (private DNS on, in the task's subnets or zones, with a \
             security group that admits TCP 443 from the task) and the S3 gateway endpoint, and associate the \
             gateway endpoint with the subnet's route table; or give the subnet a 0.0.0.0/0 route to a NAT \
             gateway.",
        reference: "https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html",
    },
    run: check_required_endpoints,
};

/// The check of [`REQUIRED_ENDPOINTS`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_required_endpoints(facts: &Facts) -> Vec<Finding> {
    with_net(facts, |net| {
        let code = RootCause::NetEndpointMissing;
        if !matches!(net.internet, Internet::Closed { .. }) {
            return vec![];
        }
        // The image's legs when its endpoints can serve it; the task's secrets' legs (then the
        // whole path) when the secrets step timed out, whatever the registry.
        if net.secrets_step.is_none() && (!net.is_ecr() || net.cross_region()) {
            return vec![];
        }
        if net.endpoints().is_none() || !any_ecr_interface_endpoint(net) {
            return vec![];
        }
        let rt = net.route_table_id();
        let vpc = net.vpc_id().unwrap_or_else(|| "the VPC".into());
        let mut missing = vec![];
        let mut fixes = vec![];
        // Hub-and-spoke: legs the VPC's private DNS sends to a hub are judged by the route check.
        let hub = super::hub::judges(net);
        for leg in &net.legs {
            // A dual-stack name is not served by any endpoint: NET_NO_ROUTE judges it.
            if leg.dual_stack {
                continue;
            }
            let Some(name) = leg.endpoint_service(&net.region) else {
                continue;
            };
            if hub && super::hub::served_privately(net, leg) {
                continue;
            }
            if let Some((what, fix)) = missing_endpoint(net, leg, &name, &rt, &vpc) {
                missing.push(what);
                fixes.push(fix);
            }
        }
        let finding = if missing.is_empty() && hub {
            return vec![];
        } else if missing.is_empty() {
            Finding::pass(
                code,
                format!(
                    "All endpoints the pull needs exist in {vpc}: {}",
                    required_endpoint_names(net).join(", ")
                ),
            )
        } else {
            let names: Vec<&str> = missing
                .iter()
                .filter_map(|m| m["service"].as_str())
                .collect();
            Finding::fail(
                code,
                format!(
                    "Subnet {} has no internet path and {vpc} lacks {}",
                    net.subnet_id,
                    names.join(", ")
                ),
            )
            .evidence("missing", json!(missing))
            .remediation(format!(
                "{}. Or give subnet {} a 0.0.0.0/0 route to a NAT gateway in {rt}.",
                capitalize(&fixes.join("; ")),
                net.subnet_id
            ))
        };
        vec![finding
            .resource(vpc)
            .evidence("required", json!(required_endpoint_names(net)))
            .evidence("platform", platform_note(net))
            .evidence("pull_path", net.legs_evidence())
            .console_url(console::endpoints(&net.region))]
    })
}

/// The endpoint a leg needs when none usable exists: what is there instead, and how to fix it.
fn missing_endpoint(
    net: &Net,
    leg: &Leg,
    name: &str,
    rt: &str,
    vpc: &str,
) -> Option<(serde_json::Value, String)> {
    let existing = net.endpoints_for(name);
    let usable = match leg.service {
        // The S3 gateway endpoint on this route table, or an S3 interface endpoint whose
        // private DNS answers for the regional S3 names.
        Service::S3 => existing.iter().any(|e| {
            e.is_available()
                && (e.is_gateway()
                    && (e.route_table_ids.iter().any(|id| id == rt)
                        || matches!(leg.via, Via::Gateway(g) if g.id == e.id))
                    || e.is_interface() && e.private_dns_enabled == Some(true))
        }),
        _ => existing
            .iter()
            .any(|e| e.is_available() && e.is_interface()),
    };
    if usable {
        return None;
    }
    let state = existing
        .iter()
        .map(|e| match (e.is_available(), leg.service, e.is_gateway()) {
            (false, _, _) => format!("{} is {}", e.id, e.state.as_deref().unwrap_or("not available")),
            (true, Service::S3, true) => format!("{} is not associated with route table {rt}", e.id),
            (true, Service::S3, false) if e.is_interface() => {
                format!("{} is an S3 interface endpoint with private DNS off (ECR's layer URLs use the regional S3 name)", e.id)
            }
            _ => format!("{} is a {} endpoint", e.id, e.endpoint_type),
        })
        .collect::<Vec<_>>();
    let fix = match (leg.service, existing.iter().find(|e| e.is_gateway() && e.is_available())) {
        (Service::S3, Some(gw)) => format!("associate S3 gateway endpoint {} with route table {rt}", gw.id),
        (Service::S3, None) => format!("create the gateway endpoint {name} in {vpc} and associate it with route table {rt}"),
        _ => format!(
            "create the interface endpoint {name} in {vpc} (private DNS on, in the {tasks} subnets or AZs, with a security \
             group admitting TCP 443 from the {task})",
            tasks = words(net.facts).tasks,
            task = words(net.facts).task,
        ),
    };
    Some((json!({"service": name, "existing": state}), fix))
}

fn platform_note(net: &Net) -> String {
    match (net.origin.kind, net.fargate_legacy) {
        (crate::model::facts::OriginKind::TaskEni, true) => format!(
            "Fargate platform {} (1.3.0 or earlier): the auth token goes through Fargate's own network interface",
            net.facts.task.platform_version.as_deref().unwrap_or("?")
        ),
        (crate::model::facts::OriginKind::TaskEni, false) => format!(
            "Fargate platform {} (1.4.0+): all pull traffic uses the task's network interface",
            net.facts.task.platform_version.as_deref().unwrap_or("LATEST")
        ),
        (crate::model::facts::OriginKind::Instance, _) if net.facts.task.is_managed_instances() => {
            "ECS Managed Instances: the instance's primary network interface carries the pull".into()
        }
        (crate::model::facts::OriginKind::Instance, _) => "EC2: the instance's primary network interface carries the pull".into(),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

pub const ENDPOINT_PRIVATE_DNS: Rule = Rule {
    code: RootCause::NetEndpointDns,
    name: "endpoint_private_dns",
    title: "ECR endpoint DNS is not usable (private DNS or VPC DNS settings off)",
    stage: Stage::Reach,
    explains: &[Category::Network],
    phases: Phases::Any,
    scope: EVERYWHERE,
    reads: &[
        &["ec2:DescribeVpcEndpoints", "ec2:DescribeVpcAttribute"],
    ],
    doc: Doc {
        what: "an interface endpoint without private DNS, or VPC DNS support/hostnames disabled",
        why: "An interface endpoint is used only when the service's usual name resolves to the endpoint's \
             private addresses. That takes private DNS on the endpoint and both enableDnsSupport and \
             enableDnsHostnames on the VPC. Otherwise the ECR names resolve to public addresses and, in a \
             subnet without an internet path, the pull times out although the endpoint exists.",
        fix: "Enable private DNS on the endpoint (aws ec2 modify-vpc-endpoint --vpc-endpoint-id ID \
             --private-dns-enabled) and turn on DNS resolution and DNS hostnames for the VPC.",
        reference: "https://docs.aws.amazon.com/vpc/latest/privatelink/privatelink-access-aws-services.html",
    },
    run: check_endpoint_dns,
};

/// The check of [`ENDPOINT_PRIVATE_DNS`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_endpoint_dns(facts: &Facts) -> Vec<Finding> {
    with_net(facts, |net| {
        let code = RootCause::NetEndpointDns;
        let Some(vpc_id) = net.vpc_id() else {
            return vec![];
        };
        let interface_legs: Vec<_> = net
            .legs
            .iter()
            .filter(|l| l.service != Service::S3 || matches!(l.via, Via::Interface(_)))
            // Dual-stack names never resolve to endpoints, whatever the DNS settings.
            .filter(|l| !l.dual_stack)
            .filter_map(|l| Some((l, l.endpoint_service(&net.region)?)))
            .collect();
        let mut broken = vec![];
        let mut used = vec![];
        for (leg, name) in &interface_legs {
            for e in net
                .endpoints_for(name)
                .into_iter()
                .filter(|e| e.is_interface() && e.is_available())
            {
                match &leg.via {
                    Via::Interface(u) if u.id == e.id => used.push(e),
                    _ => broken.push(e),
                }
            }
        }
        if broken.is_empty() && used.is_empty() {
            return vec![];
        }
        let attrs = json!({
            "enableDnsSupport": fact_bool(&net.n.dns_support),
            "enableDnsHostnames": fact_bool(&net.n.dns_hostnames),
        });
        let url = console::vpc_details(&net.region, &vpc_id);
        if !broken.is_empty() {
            return judge_broken_dns(net, &vpc_id, &broken, attrs, url);
        }
        // Endpoints in use: VPC attributes are known good or could not be read.
        let gaps: Vec<&str> = [&net.n.dns_support, &net.n.dns_hostnames]
            .iter()
            .filter_map(|f| f.gap())
            .collect();
        let ids: Vec<&str> = used.iter().map(|e| e.id.as_str()).collect();
        let finding = if gaps.is_empty() {
            Finding::pass(
                code,
                format!(
                    "Private DNS is on for {} and {vpc_id} resolves it",
                    ids.join(", ")
                ),
            )
        } else {
            Finding::unknown(
                code,
                format!(
                    "Could not read {vpc_id}'s DNS settings that private DNS for {} needs",
                    ids.join(", ")
                ),
                gaps.join("; "),
            )
        };
        vec![finding
            .resource(vpc_id.clone())
            .evidence("endpoints", json!(ids))
            .evidence("vpc_dns", attrs)
            .console_url(url)]
    })
}

/// Available interface endpoints the pull does not use: their names resolve elsewhere.
fn judge_broken_dns(
    net: &Net,
    vpc_id: &str,
    broken: &[&EndpointFacts],
    attrs: serde_json::Value,
    url: String,
) -> Vec<Finding> {
    let code = RootCause::NetEndpointDns;
    if net.internet.may_pass() {
        // Names resolve to public addresses and leave through the default route: fine.
        return vec![];
    }
    let private_dns_off: Vec<&str> = broken
        .iter()
        .filter(|e| e.private_dns_enabled != Some(true))
        .map(|e| e.id.as_str())
        .collect();
    let mut fixes = vec![];
    if !private_dns_off.is_empty() {
        fixes.push(format!(
            "enable private DNS on {} (aws ec2 modify-vpc-endpoint --vpc-endpoint-id <id> --private-dns-enabled)",
            private_dns_off.join(", ")
        ));
    }
    let mut off_attrs = vec![];
    if matches!(net.n.dns_support, Fact::Found { value: false }) {
        off_attrs.push("enableDnsSupport");
    }
    if matches!(net.n.dns_hostnames, Fact::Found { value: false }) {
        off_attrs.push("enableDnsHostnames");
    }
    if !off_attrs.is_empty() {
        fixes.push(format!("turn on {} for {vpc_id}", off_attrs.join(" and ")));
    }
    if let Some(served) = super::hub::endpoint_dns_served(net, broken) {
        return vec![served];
    }
    let ids: Vec<String> = broken
        .iter()
        .map(|e| format!("{} ({})", e.id, e.service_name))
        .collect();
    let endpoint_url = console::endpoint(&net.region, &broken[0].id);
    vec![Finding::fail(
        code,
        format!(
            "{} endpoint names do not resolve to the VPC endpoints {}: the {} goes to public addresses it cannot reach",
            net.secret_legs().first().map(|l| l.service.label()).unwrap_or("ECR"),
            ids.join(", "),
            if net.secrets_step.is_some() { "secrets request" } else { "pull" },
        ),
    )
    .resource(broken[0].id.clone())
    .evidence("endpoints", json!(ids))
    .evidence("private_dns_disabled", json!(private_dns_off))
    .evidence("vpc_dns", attrs)
    .remediation(format!("{}.", capitalize(&fixes.join("; and "))))
    .console_url(if private_dns_off.is_empty() { url } else { endpoint_url })]
}

fn fact_bool(f: &Fact<bool>) -> serde_json::Value {
    match f {
        Fact::Found { value } => json!(value),
        other => json!(format!("unknown: {}", other.gap().unwrap_or(""))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::network::fixtures::*;
    use crate::model::diagnosis::Status;
    use crate::model::facts::EndpointFacts;
    use crate::model::facts::ErrorKind;

    fn endpoints_only(eps: Vec<EndpointFacts>) -> Facts {
        let mut f = fargate_endpoints();
        f.network.endpoints = Fact::found(eps);
        f
    }

    #[test]
    fn required_endpoints_table() {
        let api = || interface_endpoint("vpce-api", "ecr.api", "eni-api");
        let dkr = || interface_endpoint("vpce-dkr", "ecr.dkr", "eni-dkr");
        let pending = EndpointFacts {
            state: Some("pendingAcceptance".into()),
            ..api()
        };
        let s3_interface = EndpointFacts {
            ..interface_endpoint("vpce-s3i", "s3", "eni-s3")
        };
        let mut legacy = endpoints_only(vec![dkr(), s3_gateway(&[RT])]);
        legacy.task.platform_version = Some("1.3.0".into());
        let mut windows = endpoints_only(vec![dkr(), s3_gateway(&[RT])]);
        windows.task.platform_version = Some("1.0.0".into());
        windows.task.platform_family = Some("WINDOWS_SERVER_2019_CORE".into());
        let mut latest = endpoints_only(vec![dkr(), s3_gateway(&[RT])]);
        latest.task.platform_version = Some("LATEST".into());
        let mut with_secret = endpoints_only(vec![api(), dkr(), s3_gateway(&[RT])]);
        if let Fact::Found { value: td } = &mut with_secret.task_definition {
            td.containers = vec![crate::model::facts::ContainerDefinitionFacts {
                name: Some("web".into()),
                image: None,
                registry_credentials_secret: Some(
                    "arn:aws:secretsmanager:us-east-1:111122223333:secret:hub-AbCdEf".into(),
                ),
                ..Default::default()
            }];
        }
        // (name, facts, status, missing services that must be named)
        let cases: Vec<(&str, Facts, Option<Status>, Vec<&str>)> = vec![
            (
                "all present",
                fargate_endpoints(),
                Some(Status::Pass),
                vec![],
            ),
            (
                "api missing",
                endpoints_only(vec![dkr(), s3_gateway(&[RT])]),
                Some(Status::Fail),
                vec!["ecr.api"],
            ),
            (
                "s3 missing",
                endpoints_only(vec![api(), dkr()]),
                Some(Status::Fail),
                vec!["s3"],
            ),
            (
                "api pending acceptance",
                endpoints_only(vec![pending, dkr(), s3_gateway(&[RT])]),
                Some(Status::Fail),
                vec!["ecr.api", "pendingAcceptance"],
            ),
            (
                "S3 interface endpoint instead of gateway",
                endpoints_only(vec![api(), dkr(), s3_interface]),
                Some(Status::Pass),
                vec![],
            ),
            ("1.3.0 needs no ecr.api", legacy, Some(Status::Pass), vec![]),
            (
                "Windows 1.0.0 needs ecr.api",
                windows,
                Some(Status::Fail),
                vec!["ecr.api"],
            ),
            (
                "LATEST needs ecr.api",
                latest,
                Some(Status::Fail),
                vec!["ecr.api"],
            ),
            (
                "registry credentials need secretsmanager",
                with_secret,
                Some(Status::Fail),
                vec!["secretsmanager"],
            ),
            (
                "no endpoints at all: NET_NO_ROUTE's job",
                endpoints_only(vec![]),
                None,
                vec![],
            ),
            (
                "only the S3 gateway (NAT design, NAT route gone): NET_NO_ROUTE's job",
                endpoints_only(vec![s3_gateway(&[RT])]),
                None,
                vec![],
            ),
            (
                "only ecr.dkr: a partial set",
                endpoints_only(vec![dkr()]),
                Some(Status::Fail),
                vec!["ecr.api", "s3"],
            ),
            ("NAT: endpoints optional", fargate_nat(), None, vec![]),
        ];
        for (name, f, status, names) in cases {
            let got = check_required_endpoints(&f);
            assert_eq!(got.first().map(|g| g.status), status, "{name}: {got:#?}");
            if let Some(g) = got.first() {
                let text = format!("{} {}", g.title, g.evidence);
                for n in names {
                    assert!(text.contains(n), "{name}: {n:?} not in {text}");
                }
            }
        }
    }

    #[test]
    fn endpoint_dns_table() {
        let dns_off = |mut f: Facts| {
            if let Fact::Found { value } = &mut f.network.endpoints {
                for e in value.iter_mut().filter(|e| e.is_interface()) {
                    e.private_dns_enabled = Some(false);
                }
            }
            f
        };
        let mut nat_and_dns_off = dns_off(fargate_nat());
        nat_and_dns_off.network.endpoints = dns_off(fargate_endpoints()).network.endpoints;
        let mut attrs_unreadable = fargate_endpoints();
        attrs_unreadable.network.dns_hostnames = Fact::Unreadable {
            reason: "AccessDenied: ec2:DescribeVpcAttribute".into(),
            kind: ErrorKind::AccessDenied,
        };
        let mut support_off = fargate_endpoints();
        support_off.network.dns_support = Fact::found(false);
        let cases: Vec<(&str, Facts, Option<Status>, &str)> = vec![
            (
                "private DNS on",
                fargate_endpoints(),
                Some(Status::Pass),
                "vpce-api",
            ),
            (
                "private DNS off, no internet",
                dns_off(fargate_endpoints()),
                Some(Status::Fail),
                "private DNS on vpce-api, vpce-dkr",
            ),
            (
                "private DNS off, NAT: bypassed, harmless",
                nat_and_dns_off,
                None,
                "",
            ),
            (
                "VPC attribute unreadable",
                attrs_unreadable,
                Some(Status::Unknown),
                "DescribeVpcAttribute",
            ),
            (
                "DNS support off",
                support_off,
                Some(Status::Fail),
                "enableDnsSupport",
            ),
            ("no endpoints", fargate_nat(), None, ""),
        ];
        for (name, f, status, needle) in cases {
            let got = check_endpoint_dns(&f);
            assert_eq!(got.first().map(|g| g.status), status, "{name}: {got:#?}");
            if let Some(g) = got.first() {
                let text = format!(
                    "{} {} {}",
                    g.title,
                    g.evidence,
                    g.remediation.as_deref().unwrap_or("")
                );
                assert!(text.contains(needle), "{name}: {needle:?} not in {text}");
            }
        }
    }
}
