//! Routing: does the subnet have a way out for the parts of the pull that need public addresses,
//! does an internet-gateway route come with a public IP, and can a cross-region image be reached?

use crate::checks::wording::words;
use crate::model::audience::Audience;
use serde_json::json;

use super::console;
use super::legs::any_ecr_interface_endpoint;
use super::path::{default_route, specific_public_routes, Internet, Leg, Net};
use super::{path_unknown, with_net};
use crate::checks::rule::{Doc, Phases, Rule, Stage, EVERYWHERE};
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{Facts, OriginKind};
use crate::model::message::Category;

pub const SUBNET_ROUTE: Rule = Rule {
    code: RootCause::NetNoRoute,
    name: "subnet_route",
    title: "The subnet has no route to ECR: no internet route and no VPC endpoints",
    stage: Stage::Reach,
    explains: &[Category::Network],
    phases: Phases::Any,
    scope: EVERYWHERE,
    reads: &[
        &["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:DescribeRouteTables", "ec2:DescribeNatGateways", "ec2:DescribeVpcEndpoints", "route53:ListHostedZonesByVPC", "route53resolver:ListResolverRuleAssociations", "route53resolver:GetResolverRule"],
    ],
    doc: Doc {
        what: "the subnet has no default route (internet gateway, NAT, transit gateway…) and no VPC endpoints \
             to reach ECR",
        why: "A pull reaches ECR and S3 either through the subnet's default route (0.0.0.0/0 to a NAT gateway, \
             or to an internet gateway with a public IP) or through VPC endpoints. With neither, every \
             connection of the pull times out (i/o timeout, context canceled). Typical causes: the route was \
             deleted or is a blackhole, the NAT gateway is not available or sits in a subnet without an \
             internet gateway route, or the route goes to a peering connection, which never forwards to the \
             peer's gateways. A default route to something pulldoctor cannot see past (transit gateway, VPN, \
             NAT instance, firewall) is a warning naming what to verify; ECR names that a private hosted zone \
             or Resolver rule sends to a hub's endpoints are judged too.",
        fix: "Add a 0.0.0.0/0 route to the subnet's route table pointing at a NAT gateway in a public subnet, \
             or create the VPC endpoints the pull needs: com.amazonaws.REGION.ecr.api and \
             com.amazonaws.REGION.ecr.dkr (interface endpoints, private DNS on) and the \
             com.amazonaws.REGION.s3 gateway endpoint associated with that route table.",
        reference: "https://docs.aws.amazon.com/vpc/latest/userguide/vpc-nat-gateway.html",
    },
    run: check_route,
};

/// The check of [`SUBNET_ROUTE`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_route(facts: &Facts) -> Vec<Finding> {
    if let Some(unknown) = path_unknown(facts) {
        return vec![unknown];
    }
    if let Some(hub) = super::hub::check_hub_route(facts) {
        return hub;
    }
    with_net(facts, judge_route)
}

fn judge_route(net: &Net) -> Vec<Finding> {
    let code = RootCause::NetNoRoute;
    let rt_id = net.route_table_id();
    let url = net
        .route_table
        .map(|rt| console::route_table(&net.region, &rt.id));
    let evidence = route_evidence(net);
    let with = |f: Finding| {
        let f = super::spread(f.resource(net.subnet_id.clone()), evidence.clone());
        match &url {
            Some(u) => f.console_url(u.clone()),
            None => f,
        }
    };
    let needs_internet: Vec<&str> = net
        .legs
        .iter()
        .filter(|l| l.uses_internet())
        .map(|l| l.host.as_str())
        .collect();
    let unknown_legs = net
        .legs
        .iter()
        .any(|l| matches!(l.via, super::path::Via::Unknown(_)));
    if needs_internet.is_empty() && !unknown_legs {
        let what = net
            .secret_legs()
            .first()
            .map(|l| l.service.label())
            .unwrap_or("ECR and S3");
        return vec![with(Finding::pass(
            code,
            format!(
                "Subnet {} reaches {what} through VPC endpoints",
                net.subnet_id
            ),
        ))];
    }
    let finding = match &net.internet {
        Internet::Open { detail, .. } => Finding::pass(code, format!("Subnet {} reaches the internet through {detail}", net.subnet_id)),
        Internet::NoPublicIp { igw, .. } | Internet::PublicIpUnknown { igw, .. } => Finding::pass(
            code,
            format!("Subnet {} routes 0.0.0.0/0 to internet gateway {igw} (public IP judged separately)", net.subnet_id),
        ),
        Internet::Unseeable { target, verify } => Finding::warn(
            code,
            format!("Subnet {}'s default route goes to {target}; this tool cannot see past it", net.subnet_id),
        )
        .evidence("verify", verify.as_str())
        .remediation(format!(
            "Verify {verify}. If it does not, add a NAT gateway route for 0.0.0.0/0 to {rt_id}, or create the VPC \
             endpoints {}.",
            required_endpoint_names(net).join(", ")
        )),
        Internet::Unknown { reason } => Finding::unknown(code, "Could not tell whether the subnet has a route to ECR", reason.as_str()),
        Internet::Closed { reason } if net.secrets_step.is_some() => match judge_secrets_route(net, reason) {
            Some(f) => f,
            None => return vec![],
        },
        Internet::Closed { reason } => match judge_closed_route(net, reason, &rt_id) {
            Some(f) => f,
            None => return vec![],
        },
    };
    vec![with(finding)]
}

/// What every NET_NO_ROUTE finding shows: the subnet, its route table and default route, the
/// pull's legs, and routes more specific than the default one to public addresses.
fn route_evidence(net: &Net) -> serde_json::Value {
    let mut evidence = json!({
        "subnet": net.subnet_id,
        "route_table": net.route_table.map(|rt| &rt.id),
        "route_table_association": net.route_table.map(|rt| if rt.explicit { "explicit" } else { "main (implicit)" }),
        "default_route": net.route_table.and_then(default_route).map(|r| format!("0.0.0.0/0 → {} ({})", r.target, r.state.as_deref().unwrap_or("active"))),
        "pull_path": net.legs_evidence(),
    });
    if let Some(rt) = net.route_table {
        let specific: Vec<String> = specific_public_routes(rt)
            .iter()
            .map(|r| format!("{} → {}", r.destination.as_deref().unwrap_or("?"), r.target))
            .collect();
        if !specific.is_empty() {
            evidence["more_specific_public_routes"] = json!(specific);
        }
    }
    evidence
}

/// No IPv4 way out of the subnet: what that means for this pull (`None`: another check says it).
fn judge_closed_route(net: &Net, reason: &str, rt_id: &str) -> Option<Finding> {
    let code = RootCause::NetNoRoute;
    if net.cross_region() {
        // NET_CROSS_REGION explains it: local endpoints would not help.
        return None;
    }
    let exits6 = net.ipv6_exits();
    if let Some(leg) = net.legs.iter().find(|l| l.dual_stack && l.uses_internet()) {
        return Some(judge_dual_stack_leg(net, leg, reason, &exits6, rt_id));
    }
    if exits6.iter().any(|e| e.contains("NAT64")) {
        // With DNS64 on, IPv4-only names resolve to NAT64 addresses and leave over IPv6.
        return Some(
            Finding::unknown(
                code,
                format!("Subnet {} has no IPv4 way out, but an IPv6 one ({})", net.subnet_id, exits6.join(", ")),
                format!("{reason}; with DNS64 on the subnet the pull can go through NAT64, which pulldoctor does not model"),
            )
            .evidence("ipv6_routes", json!(exits6)),
        );
    }
    if !net.is_ecr() {
        let registry = &net.image.registry;
        return Some(
            Finding::fail(code, format!("Subnet {} cannot reach {registry}, which is on the internet: {reason}", net.subnet_id))
                .evidence("reason", reason)
                .remediation(format!(
                    "{registry} is outside AWS: VPC endpoints cannot reach it. Add a NAT gateway (in a public subnet) \
                     and a 0.0.0.0/0 route to it in {rt_id}, or copy the image into ECR (e.g. an ECR pull-through \
                     cache rule) and pull it through the ECR endpoints."
                )),
        );
    }
    match net.endpoints() {
        None => Some(Finding::unknown(
            code,
            format!("Subnet {} has no route to the internet; whether VPC endpoints replace it is unknown", net.subnet_id),
            net.n.endpoints.gap().unwrap_or("VPC endpoints not read"),
        )),
        Some(_) if any_ecr_interface_endpoint(net) => None,
        Some(_) => Some(
            Finding::fail(code, format!("Subnet {} has no way to ECR: {reason}, and the VPC has no ECR endpoints", net.subnet_id))
                .evidence("reason", reason)
                .evidence("endpoints_present", other_endpoints(net))
                .remediation(format!(
                    "Give subnet {} a way to ECR: either a route 0.0.0.0/0 in {rt_id} to a NAT gateway in a public \
                     subnet, or the VPC endpoints {} (interface endpoints with private DNS on; the S3 gateway endpoint \
                     associated with {rt_id}).",
                    net.subnet_id,
                    required_endpoint_names(net).join(", ")
                )),
        ),
    }
}

/// A leg to one of ECR's dual-stack names, which VPC endpoints do not serve.
fn judge_dual_stack_leg(
    net: &Net,
    leg: &Leg,
    reason: &str,
    exits6: &[String],
    rt_id: &str,
) -> Finding {
    let code = RootCause::NetNoRoute;
    if !exits6.is_empty() {
        return Finding::unknown(
            code,
            format!("Subnet {} has no IPv4 way to {}; it may reach it over IPv6 ({})", net.subnet_id, leg.host, exits6.join(", ")),
            format!(
                "{reason}; {} is a dual-stack name, and pulldoctor does not model IPv6 paths: verify the task has an \
                 IPv6 address and that its security groups and network ACL allow TCP 443 to ::/0 and the replies back",
                leg.host
            ),
        )
        .evidence("ipv6_routes", json!(exits6));
    }
    let ipv4_name = leg
        .host
        .replace(".dkr-ecr", ".dkr.ecr")
        .replace(".on.aws", ".amazonaws.com");
    Finding::fail(
        code,
        format!(
            "Subnet {} cannot reach {}: {reason}, and VPC endpoints do not serve ECR's dual-stack names",
            net.subnet_id, leg.host
        ),
    )
    .evidence("reason", reason)
    .remediation(format!(
        "Point the {spec} at the IPv4 registry name {ipv4_name}/{repo}, which the VPC's ecr.dkr interface \
         endpoint serves (PrivateLink does not serve {host}); or give subnet {subnet} a 0.0.0.0/0 route to a NAT \
         gateway in {rt_id}, or an IPv6 CIDR and a ::/0 route to an egress-only internet gateway.",
        spec = words(net.facts).task_definition,
        repo = net.image.repository,
        host = leg.host,
        subnet = net.subnet_id
    ))
}

/// The endpoints the VPC has for the pull's services although it has no ECR interface endpoint
/// (typically the S3 gateway endpoint beside a NAT design), for evidence.
fn other_endpoints(net: &Net) -> serde_json::Value {
    let present: Vec<String> = required_endpoint_names(net)
        .iter()
        .flat_map(|name| net.endpoints_for(name))
        .map(|e| {
            format!(
                "{} ({}, {}): does not carry ECR traffic by itself",
                e.id, e.service_name, e.endpoint_type
            )
        })
        .collect();
    if present.is_empty() {
        serde_json::Value::Null
    } else {
        json!(present)
    }
}

/// The secrets step timed out and the subnet has no internet path: do the task's secrets have an
/// endpoint to go to? `None` when one exists (NET_ENDPOINT_MISSING and the endpoint checks judge
/// it), whatever the image's registry.
fn judge_secrets_route(net: &Net, reason: &str) -> Option<Finding> {
    let code = RootCause::NetNoRoute;
    let legs = net.secret_legs();
    let stranded: Vec<&str> = legs
        .iter()
        .filter(|l| l.uses_internet())
        .map(|l| l.host.as_str())
        .collect();
    let label = legs
        .first()
        .map(|l| l.service.label())
        .unwrap_or("the secrets store");
    if stranded.is_empty() {
        // Reached only when a leg's way out could not be told (the endpoints were not readable).
        let why: Vec<&str> = legs
            .iter()
            .filter_map(|l| match &l.via {
                super::path::Via::Unknown(r) => Some(r.as_str()),
                _ => None,
            })
            .collect();
        return Some(Finding::unknown(
            code,
            format!(
                "Could not tell whether subnet {} reaches {label}",
                net.subnet_id
            ),
            why.join("; "),
        ));
    }
    let local: Vec<String> = legs
        .iter()
        .filter_map(|l| l.endpoint_service(&net.region))
        .collect();
    match net.endpoints() {
        None => Some(Finding::unknown(
            code,
            format!("Subnet {} has no route to the internet; whether a VPC endpoint serves {label} is unknown", net.subnet_id),
            net.n.endpoints.gap().unwrap_or("VPC endpoints not read"),
        )),
        Some(_) if local.iter().any(|name| !net.endpoints_for(name).is_empty()) => None,
        Some(_) => {
            let other_region = legs.iter().any(|l| l.endpoint_service(&net.region).is_none());
            let endpoints = if local.is_empty() {
                String::new()
            } else {
                format!(", or the interface endpoint {} (private DNS on, its security group admitting TCP 443 from the task)", local.join(", "))
            };
            Some(
                Finding::fail(
                    code,
                    format!("Subnet {} has no way to {label} ({}): {reason}, and the VPC has no endpoint for it", net.subnet_id, stranded.join(", ")),
                )
                .evidence("reason", reason)
                .evidence("unreachable", serde_json::json!(stranded))
                .remediation(format!(
                    "Give subnet {} a way to {label}: a route 0.0.0.0/0 in {} to a NAT gateway in a public subnet{endpoints}.{} \
                     The task's secrets are fetched before its image is pulled: without a NAT route the pull then needs \
                     its own endpoints ({}).",
                    net.subnet_id,
                    net.route_table_id(),
                    if other_region { " A store in another region is reachable only through the internet (NAT)." } else { "" },
                    if net.is_ecr() { "ecr.api, ecr.dkr and the S3 gateway endpoint".to_string() } else { format!("none reach {}, which needs the NAT route", net.image.registry) },
                )),
            )
        }
    }
}

/// The endpoint service names this pull needs in the VPC's region.
pub fn required_endpoint_names(net: &Net) -> Vec<String> {
    // A dual-stack name is served by no endpoint.
    net.legs
        .iter()
        .filter(|l| !l.dual_stack)
        .filter_map(|l| l.endpoint_service(&net.region))
        .collect()
}

pub const PUBLIC_IP: Rule = Rule {
    code: RootCause::NetNoPublicIp,
    name: "public_ip",
    title: "The subnet routes to an internet gateway but the task has no public IP",
    stage: Stage::Reach,
    explains: &[Category::Network],
    phases: Phases::Any,
    scope: EVERYWHERE,
    reads: &[
        &["ec2:DescribeNetworkInterfaces", "ecs:DescribeServices", "ec2:DescribeRouteTables", "ecs:DescribeContainerInstances", "ec2:DescribeInstances"],
    ],
    doc: Doc {
        what: "the subnet routes to an internet gateway but the task ENI or instance has no public IP",
        why: "An internet gateway only carries traffic from addresses it can translate: a network interface \
             without a public IPv4 address reaches nothing on the internet through it. A task in a public \
             subnet with assignPublicIp DISABLED, or an instance without a public address, times out on every \
             part of the pull that goes to public ECR or S3 addresses.",
        fix: "Turn on assignPublicIp in the service's network configuration (or give the instances public \
             addresses); or, better, run the tasks in private subnets whose route table sends 0.0.0.0/0 to a \
             NAT gateway, or create the ECR and S3 VPC endpoints so the pull needs no public address.",
        reference: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-networking.html",
    },
    run: check_public_ip,
};

/// The check of [`PUBLIC_IP`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_public_ip(facts: &Facts) -> Vec<Finding> {
    with_net(facts, |net| {
        let code = RootCause::NetNoPublicIp;
        if !net.legs.iter().any(|l| l.uses_internet()) {
            return vec![];
        }
        let (igw, finding) = match &net.internet {
            Internet::Open { target, .. } if target.starts_with("igw-") => (
                target.clone(),
                Finding::pass(
                    code,
                    format!(
                        "The {} has a public IP (from {})",
                        net.origin.label, net.origin.public_ip_source
                    ),
                ),
            ),
            Internet::NoPublicIp { igw, source } => {
                let fix = public_ip_fix(net);
                (
                    igw.clone(),
                    Finding::fail(
                        code,
                        format!(
                            "Subnet {} routes to internet gateway {igw}, but the {} has no public IP",
                            net.subnet_id, net.origin.label
                        ),
                    )
                    .evidence("public_ip_source", source.as_str())
                    .remediation(format!(
                        "{fix} Alternatively create the VPC endpoints {} so the pull needs no public address.",
                        required_endpoint_names(net).join(", ")
                    )),
                )
            }
            Internet::PublicIpUnknown { igw, reason } => (
                igw.clone(),
                Finding::unknown(
                    code,
                    format!(
                        "Subnet {} is public ({igw}); whether the {} had a public IP is unknown",
                        net.subnet_id,
                        words(net.facts).task
                    ),
                    reason.as_str(),
                ),
            ),
            _ => return vec![],
        };
        let url = public_ip_console_url(net);
        vec![finding
            .resource(net.origin.label.clone())
            .evidence("subnet", net.subnet_id.as_str())
            .evidence("internet_gateway", igw)
            .console_url(url)]
    })
}

/// How to give the puller a public IP, or a private path, in the words of who pulls.
fn public_ip_fix(net: &Net) -> String {
    match (net.origin.kind, &net.facts.audience) {
        (OriginKind::TaskEni, Audience::EksFargateProfile { .. }) => "Fargate pods never get a public IP: give the profile \
             private subnets whose route table sends 0.0.0.0/0 to a NAT gateway."
            .to_string(),
        (OriginKind::TaskEni, Audience::EksNodegroup { nodegroup }) => format!(
            "Give the nodes of node group {nodegroup} public IPs (auto-assign public IPv4 on subnet {subnet}, or \
             AssociatePublicIpAddress in its launch template), or move the node group to private subnets whose \
             route table sends 0.0.0.0/0 to a NAT gateway.",
            subnet = net.subnet_id
        ),
        (OriginKind::TaskEni, Audience::Ecs) => match crate::model::facts::service_name(&net.facts.task) {
            Some(svc) => format!(
                "Turn on assignPublicIp for service {svc} (aws ecs update-service --service {svc} \
                 --network-configuration 'awsvpcConfiguration={{subnets=[{subnet}],securityGroups=[…],assignPublicIp=ENABLED}}'), \
                 or run the tasks in private subnets whose route table sends 0.0.0.0/0 to a NAT gateway.",
                subnet = net.subnet_id
            ),
            None => "Run the task with assignPublicIp=ENABLED, or in a private subnet whose route table sends \
                     0.0.0.0/0 to a NAT gateway."
                .to_string(),
        },
        (OriginKind::Instance, _) if net.facts.task.is_managed_instances() => format!(
            "Give the Managed Instances capacity provider private subnets (networkConfiguration of its \
             instance launch template) whose route table sends 0.0.0.0/0 to a NAT gateway, instead of \
             subnet {subnet}.",
            subnet = net.subnet_id
        ),
        (OriginKind::Instance, _) => format!(
            "Give the container instances public IPs (enable auto-assign public IPv4 on subnet {subnet} or \
             AssociatePublicIpAddress in the launch template, or attach an Elastic IP), or move them to private \
             subnets whose route table sends 0.0.0.0/0 to a NAT gateway.",
            subnet = net.subnet_id
        ),
    }
}

/// Where to fix it: the instance, the service's networking, or the subnet.
fn public_ip_console_url(net: &Net) -> String {
    match net.origin.kind {
        OriginKind::Instance => net
            .n
            .instance
            .value()
            .map(|i| console::instance(&net.region, &i.id))
            .unwrap_or_else(|| console::subnet(&net.region, &net.subnet_id)),
        OriginKind::TaskEni => match (
            crate::model::facts::service_name(&net.facts.task),
            net.facts.task.cluster_arn.as_deref(),
        ) {
            (Some(svc), Some(cluster)) => {
                console::service(&net.region, crate::model::arn::cluster_name(cluster), svc)
            }
            _ => console::subnet(&net.region, &net.subnet_id),
        },
    }
}

pub const CROSS_REGION_IMAGE: Rule = Rule {
    code: RootCause::NetCrossRegion,
    name: "cross_region_image",
    title: "The image is in another region, reachable only through regional endpoints",
    stage: Stage::Reach,
    explains: &[Category::Network],
    phases: Phases::Any,
    scope: EVERYWHERE,
    reads: &[
        &["ec2:DescribeSubnets", "ec2:DescribeRouteTables", "ec2:DescribeNatGateways", "ec2:DescribeVpcEndpoints"],
    ],
    doc: Doc {
        what: "the image is in another region and the subnet reaches ECR only through (regional) VPC endpoints",
        why: "VPC endpoints serve their own region only. The registry name \
             ACCOUNT.dkr.ecr.OTHER-REGION.amazonaws.com and that region's layer bucket resolve to public \
             addresses whatever endpoints the VPC has, so a subnet without an internet path cannot pull an \
             image stored in another region: the pull times out.",
        fix: "Replicate the repository into the task's region (an ECR replication rule) and point the image \
             URI at that copy, or give the subnet a 0.0.0.0/0 route to a NAT gateway.",
        reference: "https://docs.aws.amazon.com/AmazonECR/latest/userguide/replication.html",
    },
    run: check_cross_region,
};

/// The check of [`CROSS_REGION_IMAGE`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_cross_region(facts: &Facts) -> Vec<Finding> {
    with_net(facts, |net| {
        let code = RootCause::NetCrossRegion;
        let Some((account, image_region)) = net.ecr().filter(|_| net.cross_region()) else {
            return vec![];
        };
        let repo = &net.image.repository;
        let finding = match &net.internet {
            Internet::Open { detail, .. } => Finding::pass(
                code,
                format!("Image is in {image_region} ({} in {}); the subnet reaches it through {detail}", words(net.facts).task, net.region),
            ),
            Internet::Closed { reason } => Finding::fail(
                code,
                format!(
                    "Image is in {image_region} but the {} runs in {}, and subnet {} has no internet path: endpoints here only serve {}",
                    words(net.facts).task, net.region, net.subnet_id, net.region
                ),
            )
            .evidence("reason", reason.as_str())
            .remediation(format!(
                "Replicate {repo} to {region} (ECR replication rule in account {account}) and point the {spec} at \
                 {account}.dkr.ecr.{region}.amazonaws.com/{repo}, so the local endpoints serve it; or give subnet {subnet} a \
                 0.0.0.0/0 route to a NAT gateway in {rt}.",
                spec = words(net.facts).task_definition,
                region = net.region,
                subnet = net.subnet_id,
                rt = net.route_table_id()
            )),
            Internet::Unseeable { target, verify } => Finding::warn(
                code,
                format!("Image is in {image_region}; the subnet's only way there is {target}, which this tool cannot see past"),
            )
            .evidence("verify", verify.as_str())
            .remediation(format!("Verify {verify}, or replicate {repo} to {}.", net.region)),
            Internet::Unknown { reason } => {
                Finding::unknown(code, format!("Image is in {image_region}; could not tell whether the subnet can reach it"), reason.as_str())
            }
            // The public IP check explains an internet gateway without a public IP.
            Internet::NoPublicIp { .. } | Internet::PublicIpUnknown { .. } => return vec![],
        };
        vec![finding
            .resource(net.image.to_string())
            .evidence("image_region", image_region)
            .evidence("task_region", net.region.as_str())
            .evidence("pull_path", net.legs_evidence())
            .console_url(console::subnet(&net.region, &net.subnet_id))]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::network::fixtures::*;
    use crate::model::diagnosis::Status;
    use crate::model::facts::ErrorKind;
    use crate::model::facts::{Fact, RouteTableFacts, ServiceNetworkFacts};

    fn with_default_route(target: &str, state: &str) -> Facts {
        let mut f = fargate_nat();
        if let Fact::Found { value } = &mut f.network.route_table {
            value.routes[1] = RouteFacts {
                state: Some(state.into()),
                ..crate::checks::network::fixtures::route("0.0.0.0/0", target)
            };
        }
        f
    }
    use crate::model::facts::RouteFacts;

    #[test]
    fn route_table() {
        let mut implicit_main = fargate_nat();
        if let Fact::Found { value } = &mut implicit_main.network.route_table {
            value.explicit = false;
            value.main = true;
        }
        let mut private_nat = fargate_nat();
        if let Fact::Found { value } = &mut private_nat.network.nat_gateways {
            value[0].connectivity_type = Some("private".into());
        }
        let mut nat_unreadable = fargate_nat();
        nat_unreadable.network.nat_gateways = Fact::Unreadable {
            reason: "AccessDenied: ec2:DescribeNatGateways".into(),
            kind: ErrorKind::AccessDenied,
        };
        let mut nat_rt_unreadable = fargate_nat();
        nat_rt_unreadable.network.nat_route_tables = Fact::Unreadable {
            reason: "Throttled: ec2:DescribeRouteTables".into(),
            kind: ErrorKind::Throttled,
        };
        let mut rt_unreadable = fargate_nat();
        rt_unreadable.network.route_table = Fact::Unreadable {
            reason: "AccessDenied: ec2:DescribeRouteTables".into(),
            kind: ErrorKind::AccessDenied,
        };
        let mut subnet_unknown = fargate_nat();
        subnet_unknown.network.subnet_id = None;
        let mut endpoints_unreadable = fargate_nat();
        endpoints_unreadable.network.route_table = Fact::found(RouteTableFacts {
            id: RT.into(),
            explicit: true,
            ..Default::default()
        });
        endpoints_unreadable.network.endpoints = Fact::Unreadable {
            reason: "AccessDenied: ec2:DescribeVpcEndpoints".into(),
            kind: ErrorKind::AccessDenied,
        };
        let mut skipped = fargate_nat();
        skipped.network.skipped = Some("ECS Anywhere".into());

        // (name, facts, expected status, title or reason must contain)
        let cases: Vec<(&str, Facts, Option<Status>, &str)> = vec![
            (
                "NAT available",
                fargate_nat(),
                Some(Status::Pass),
                "NAT gateway nat-1",
            ),
            (
                "main table, implicit",
                implicit_main,
                Some(Status::Pass),
                "nat-1",
            ),
            (
                "NAT blackhole",
                with_default_route(NAT, "blackhole"),
                Some(Status::Fail),
                "blackhole",
            ),
            (
                "NAT pending",
                {
                    let mut f = fargate_nat();
                    if let Fact::Found { value } = &mut f.network.nat_gateways {
                        value[0].state = Some("pending".into());
                    }
                    f
                },
                Some(Status::Fail),
                "pending",
            ),
            (
                "NAT missing",
                {
                    let mut f = fargate_nat();
                    f.network.nat_gateways = Fact::found(vec![]);
                    f
                },
                Some(Status::Fail),
                "does not exist",
            ),
            // A private NAT gateway reaches the internet only through its subnet's onward route:
            // an internet gateway drops its traffic (AWS documents it), a transit gateway may not.
            (
                "private NAT whose subnet routes to the internet gateway",
                private_nat.clone(),
                Some(Status::Fail),
                "drops its traffic",
            ),
            (
                "private NAT whose subnet routes to a transit gateway",
                {
                    let mut f = private_nat.clone();
                    if let Fact::Found { value } = &mut f.network.nat_route_tables {
                        value[0].routes =
                            vec![route("10.0.0.0/16", "local"), route("0.0.0.0/0", "tgw-hub")];
                    }
                    f
                },
                Some(Status::Warn),
                "tgw-hub",
            ),
            (
                "private NAT whose subnet routes nowhere",
                {
                    let mut f = private_nat;
                    if let Fact::Found { value } = &mut f.network.nat_route_tables {
                        value[0].routes = vec![route("10.0.0.0/16", "local")];
                    }
                    f
                },
                Some(Status::Fail),
                "reaches no internet destination",
            ),
            (
                "transit gateway",
                with_default_route("tgw-1", "active"),
                Some(Status::Warn),
                "tgw-1",
            ),
            (
                "VPN gateway",
                with_default_route("vgw-1", "active"),
                Some(Status::Warn),
                "vgw-1",
            ),
            (
                "NAT instance",
                with_default_route("i-0abc", "active"),
                Some(Status::Warn),
                "i-0abc",
            ),
            (
                "firewall endpoint",
                with_default_route("vpce-fw", "active"),
                Some(Status::Warn),
                "vpce-fw",
            ),
            (
                "peering",
                with_default_route("pcx-1", "active"),
                Some(Status::Fail),
                "peering",
            ),
            (
                "NAT unreadable",
                nat_unreadable,
                Some(Status::Unknown),
                "AccessDenied: ec2:DescribeNatGateways",
            ),
            (
                "NAT subnet table unreadable",
                nat_rt_unreadable,
                Some(Status::Unknown),
                "Throttled",
            ),
            (
                "route table unreadable",
                rt_unreadable,
                Some(Status::Unknown),
                "AccessDenied: ec2:DescribeRouteTables",
            ),
            (
                "subnet unknown",
                subnet_unknown,
                Some(Status::Unknown),
                "subnet",
            ),
            (
                "no route, endpoints unreadable",
                endpoints_unreadable,
                Some(Status::Unknown),
                "DescribeVpcEndpoints",
            ),
            ("not examined", skipped, None, ""),
        ];
        for (name, f, status, needle) in cases {
            let got = check_route(&f);
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

    #[test]
    fn public_ip_table() {
        let mut eni_present = fargate_public(false);
        eni_present.network.task_eni = Fact::found(crate::model::facts::EniFacts {
            id: ENI.into(),
            subnet_id: Some(SUBNET.into()),
            vpc_id: Some(VPC.into()),
            private_ip: Some(TASK_IP.into()),
            public_ip: Some("3.3.3.3".into()),
            security_groups: vec![SG_TASK.into()],
            status: Some("in-use".into()),
        });
        let mut standalone = fargate_public(true);
        standalone.task.group = Some("family:web".into());
        standalone.network.service = Fact::NotCollected {
            reason: "standalone task".into(),
        };
        let mut service_unreadable = fargate_public(true);
        service_unreadable.network.service = Fact::Unreadable {
            reason: "AccessDenied: ecs:DescribeServices".into(),
            kind: ErrorKind::AccessDenied,
        };
        let mut bridge_service = fargate_public(true);
        bridge_service.network.service = Fact::found(ServiceNetworkFacts {
            service_name: "web".into(),
            no_awsvpc_configuration: true,
            ..Default::default()
        });
        let cases: Vec<(&str, Facts, Option<Status>, &str)> = vec![
            (
                "public IP from service",
                fargate_public(true),
                Some(Status::Pass),
                "assignPublicIp ENABLED",
            ),
            (
                "no public IP from service",
                fargate_public(false),
                Some(Status::Fail),
                "no public IP",
            ),
            (
                "ENI still there with a public IP wins over the service",
                eni_present,
                Some(Status::Pass),
                "DescribeNetworkInterfaces",
            ),
            (
                "standalone task, ENI gone",
                standalone,
                Some(Status::Unknown),
                "standalone task",
            ),
            (
                "service unreadable",
                service_unreadable,
                Some(Status::Unknown),
                "AccessDenied: ecs:DescribeServices",
            ),
            (
                "service without awsvpc",
                bridge_service,
                Some(Status::Unknown),
                "no awsvpc configuration",
            ),
            ("NAT: does not apply", fargate_nat(), None, ""),
            (
                "endpoints only: does not apply",
                fargate_endpoints(),
                None,
                "",
            ),
        ];
        for (name, f, status, needle) in cases {
            let got = check_public_ip(&f);
            assert_eq!(got.first().map(|g| g.status), status, "{name}: {got:#?}");
            if let Some(g) = got.first() {
                let text = format!("{} {}", g.title, g.evidence);
                assert!(text.contains(needle), "{name}: {needle:?} not in {text}");
            }
        }
    }

    #[test]
    fn cross_region_table() {
        let cross = |mut f: Facts| {
            let image = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1";
            f.failure.image = Some(image.into());
            f.failure.image_ref = crate::model::image_ref::ImageRef::parse(image).ok();
            f
        };
        let cases: Vec<(&str, Facts, Option<Status>)> = vec![
            ("same region", fargate_endpoints(), None),
            (
                "cross-region, NAT",
                cross(fargate_nat()),
                Some(Status::Pass),
            ),
            (
                "cross-region, endpoints only",
                cross(fargate_endpoints()),
                Some(Status::Fail),
            ),
            (
                "cross-region, TGW",
                cross(with_default_route("tgw-1", "active")),
                Some(Status::Warn),
            ),
            (
                "cross-region, public subnet without IP",
                cross(fargate_public(false)),
                None,
            ),
        ];
        for (name, f, status) in cases {
            assert_eq!(
                check_cross_region(&f).first().map(|g| g.status),
                status,
                "{name}"
            );
        }
        // The route check leaves the cross-region case to this check.
        assert!(check_route(&cross(fargate_endpoints())).is_empty());
    }
}
