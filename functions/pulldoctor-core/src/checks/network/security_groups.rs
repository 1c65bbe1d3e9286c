//! Security groups: the task's (or instance's) egress to every destination of the pull, and the
//! interface endpoints' ingress from the task. Security groups are stateful and allow-only: the
//! union of the rules of all attached groups decides, and return traffic is always admitted.

use std::net::Ipv4Addr;

use serde_json::json;

use super::console;
use super::ipset::IpSet;
use super::path::{Leg, Net, Via};
use super::with_net;
use crate::checks::rule::{Doc, Phases, Rule, Stage, EVERYWHERE};
use crate::checks::wording::words;
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{
    EndpointFacts, Fact, Facts, Known, OriginKind, SecurityGroupFacts, SgRuleFacts,
};
use crate::model::message::Category;

/// Does this rule cover `protocol` (`tcp`/`udp`) on `port`?
pub fn rule_covers(rule: &SgRuleFacts, protocol: &str, port: u16) -> bool {
    let proto = rule.protocol.to_ascii_lowercase();
    let number = match protocol {
        "tcp" => "6",
        "udp" => "17",
        _ => "",
    };
    if proto == "-1" || proto == "all" {
        return true;
    }
    if proto != protocol && proto != number {
        return false;
    }
    match (rule.from_port, rule.to_port) {
        (Some(from), Some(to)) if from == -1 && to == -1 => true,
        (Some(from), Some(to)) => from <= port as i32 && port as i32 <= to,
        _ => true,
    }
}

/// What the union of some security groups' rules allows for one protocol/port.
#[derive(Debug, Default)]
pub struct Allowed {
    pub cidrs: IpSet,
    pub groups: Vec<String>,
    pub prefix_lists: Vec<String>,
    /// Human-readable rules that matched the protocol/port, for evidence.
    pub rules: Vec<String>,
    /// IPv6 CIDRs allowed (not evaluated: only used to avoid judging a dual-stack leg by IPv4 alone).
    pub ipv6_cidrs: Vec<String>,
    /// Prefix lists whose entries were folded into `cidrs` (id: entries), for evidence.
    pub prefix_list_entries: Vec<String>,
    /// Prefix lists whose entries are unknown: (id, why). What they allow cannot be told.
    pub unresolved: Vec<(String, String)>,
}

impl Allowed {
    /// Fold the entries of the prefix lists the rules name into the allowed CIDRs: a rule naming a
    /// prefix list allows exactly that list's CIDRs. Lists whose entries are unknown are kept in
    /// `unresolved` with the reason.
    pub fn resolve_prefix_lists(mut self, net: &Net) -> Allowed {
        let mut ids: Vec<String> = vec![];
        for id in &self.prefix_lists {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        for id in ids {
            match net.prefix_list_cidrs(&id) {
                Known::Yes(set) => {
                    let cidrs = set.to_cidrs();
                    let shown = if cidrs.len() > 6 {
                        format!("{} (and {} more)", cidrs[..6].join(", "), cidrs.len() - 6)
                    } else {
                        cidrs.join(", ")
                    };
                    self.prefix_list_entries.push(format!(
                        "{id}: {}",
                        if shown.is_empty() {
                            "no IPv4 entries".to_string()
                        } else {
                            shown
                        }
                    ));
                    self.cidrs = self.cidrs.union(&set);
                }
                Known::Unknown(why) => self.unresolved.push((id, why)),
            }
        }
        self
    }
    /// Why some prefix lists' contents are unknown, for `unknown` verdicts; `None` when none is.
    fn unresolved_reason(&self, skip: Option<&str>) -> Option<String> {
        let why: Vec<&str> = self
            .unresolved
            .iter()
            .filter(|(id, _)| Some(id.as_str()) != skip)
            .map(|(_, w)| w.as_str())
            .collect();
        (!why.is_empty()).then(|| why.join("; "))
    }
}

pub fn allowed(groups: &[SecurityGroupFacts], egress: bool, protocol: &str, port: u16) -> Allowed {
    let mut out = Allowed::default();
    for sg in groups {
        let rules = if egress { &sg.egress } else { &sg.ingress };
        for rule in rules.iter().filter(|r| rule_covers(r, protocol, port)) {
            out.cidrs = out
                .cidrs
                .union(&IpSet::from_cidrs(rule.cidrs.iter().map(String::as_str)));
            out.groups.extend(rule.groups.iter().cloned());
            out.ipv6_cidrs.extend(rule.ipv6_cidrs.iter().cloned());
            out.prefix_lists.extend(rule.prefix_lists.iter().cloned());
            let peers: Vec<String> = rule
                .cidrs
                .iter()
                .chain(&rule.ipv6_cidrs)
                .chain(&rule.groups)
                .chain(&rule.prefix_lists)
                .cloned()
                .collect();
            out.rules.push(format!(
                "{}: {} {} {}",
                sg.id,
                rule_ports(rule),
                if egress { "to" } else { "from" },
                peers.join(", ")
            ));
        }
    }
    out
}

fn rule_ports(rule: &SgRuleFacts) -> String {
    match (rule.protocol.as_str(), rule.from_port, rule.to_port) {
        ("-1", _, _) => "all traffic".into(),
        (p, Some(f), Some(t)) if f == t => format!("{p}/{f}"),
        (p, Some(f), Some(t)) => format!("{p}/{f}-{t}"),
        (p, _, _) => p.to_string(),
    }
}

/// A destination's verdict.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Allowed(String),
    Blocked(String),
    /// Some of it allowed, and it cannot be told whether the addresses used are among them.
    Partial(String),
    Unknown(String),
}

impl Verdict {
    fn describe(&self) -> String {
        match self {
            Verdict::Allowed(why) => why.clone(),
            Verdict::Blocked(need) => format!("blocked: needs {need}"),
            Verdict::Partial(why) => format!("partly allowed ({why})"),
            Verdict::Unknown(why) => format!("unknown ({why})"),
        }
    }
}

pub const TASK_SG_EGRESS: Rule = Rule {
    code: RootCause::NetTaskSgEgress,
    name: "task_sg_egress",
    title: "The task's security groups do not allow HTTPS out to ECR and S3",
    stage: Stage::Filter,
    explains: &[Category::Network],
    phases: Phases::Any,
    scope: EVERYWHERE,
    reads: &[
        &["ec2:DescribeNetworkInterfaces", "ecs:DescribeServices", "ec2:DescribeSecurityGroups", "ec2:DescribePrefixLists", "ec2:GetManagedPrefixListEntries", "ec2:DescribeVpcEndpoints"],
    ],
    doc: Doc {
        what: "the task (or instance) security groups do not allow TCP 443 out to where the pull goes, S3 \
             prefix list included",
        why: "Every packet of the pull leaves through the task's (or, on EC2, the instance's) security groups, \
             which must allow TCP 443 out to each destination: the interface endpoints' network interfaces, \
             the S3 prefix list when layers go through the S3 gateway endpoint, and public addresses for \
             whatever leaves through a NAT or internet gateway. The classic trap: egress allowed only to the \
             endpoints' security group, so the registry answers but the layer download to S3 is dropped and \
             times out.",
        fix: "Add an outbound rule for TCP 443 to the destination that is missing: the endpoints' security \
             group or the VPC CIDR, the S3 prefix list (pl-…, com.amazonaws.REGION.s3), or 0.0.0.0/0 through \
             a NAT gateway.",
        reference: "https://docs.aws.amazon.com/vpc/latest/userguide/vpc-security-groups.html",
    },
    run: check_task_egress,
};

/// The check of [`TASK_SG_EGRESS`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_task_egress(facts: &Facts) -> Vec<Finding> {
    with_net(facts, |net| {
        let code = RootCause::NetTaskSgEgress;
        let who = match net.origin.kind {
            OriginKind::TaskEni => words(net.facts).tasks,
            OriginKind::Instance => "instance's",
        };
        let sg_ids = match &net.origin.security_groups {
            Known::Yes(ids) => ids.clone(),
            Known::Unknown(reason) => {
                return vec![Finding::unknown(
                    code,
                    format!("Could not check the {who} security group egress"),
                    reason.as_str(),
                )
                .resource(net.origin.label.clone())]
            }
        };
        let groups = match &net.n.security_groups {
            Fact::Found { value } => value.clone(),
            other => {
                return vec![Finding::unknown(
                    code,
                    format!(
                        "Could not read the {who} security groups {}",
                        sg_ids.join(", ")
                    ),
                    other.gap().unwrap_or(""),
                )
                .resource(net.origin.label.clone())]
            }
        };
        let rules = allowed(&groups, true, "tcp", 443).resolve_prefix_lists(net);
        let verdicts: Vec<(&Leg, Verdict)> = net
            .legs
            .iter()
            .filter_map(|leg| Some((leg, leg_egress(net, leg, &rules)?)))
            .collect();
        if verdicts.is_empty() {
            return vec![];
        }
        let evidence = json!({
            "security_groups": sg_ids,
            "security_groups_source": net.origin.security_groups_source,
            "egress_tcp_443_rules": rules.rules,
            "prefix_list_entries": (!rules.prefix_list_entries.is_empty()).then_some(&rules.prefix_list_entries),
            "destinations": verdicts.iter().map(|(l, v)| json!(format!("{}: {}", l.host, v.describe()))).collect::<Vec<_>>(),
        });
        let first_sg = sg_ids.first().cloned().unwrap_or_default();
        let url = console::security_group(&net.region, &first_sg);
        let blocked: Vec<(&Leg, &String)> = verdicts
            .iter()
            .filter_map(|(l, v)| {
                if let Verdict::Blocked(fix) = v {
                    Some((*l, fix))
                } else {
                    None
                }
            })
            .collect();
        let finding = if !blocked.is_empty() {
            let hosts: Vec<String> = blocked
                .iter()
                .map(|(l, _)| format!("{} ({})", l.service.label(), l.host))
                .collect();
            let fixes: Vec<&str> = blocked.iter().map(|(_, f)| f.as_str()).collect();
            Finding::fail(
                code,
                format!(
                    "The {who} security groups do not allow HTTPS out to {}",
                    hosts.join(", ")
                ),
            )
            .remediation(format!(
                "Add an outbound rule to {first_sg}{}: {}.",
                if sg_ids.len() > 1 {
                    format!(" (one of {})", sg_ids.join(", "))
                } else {
                    String::new()
                },
                dedup(fixes).join("; ")
            ))
        } else if let Some((leg, Verdict::Partial(why))) = verdicts
            .iter()
            .find(|(_, v)| matches!(v, Verdict::Partial(_)))
        {
            Finding::warn(code, format!("The {who} security groups allow HTTPS only to part of {}'s possible addresses", leg.host))
                .evidence("detail", why.as_str())
                .remediation(format!("Allow TCP 443 out to 0.0.0.0/0 in {first_sg}, or make sure the allowed ranges hold the addresses of {}.", leg.host))
        } else if let Some((_, Verdict::Unknown(why))) = verdicts
            .iter()
            .find(|(_, v)| matches!(v, Verdict::Unknown(_)))
        {
            Finding::unknown(
                code,
                format!("Could not fully check the {who} security group egress"),
                why.as_str(),
            )
        } else {
            Finding::pass(
                code,
                format!(
                    "The {who} security groups allow HTTPS out to every destination of the pull"
                ),
            )
        };
        vec![super::spread(finding.resource(sg_ids.join(", ")), evidence).console_url(url)]
    })
}

/// What the egress rules say of one leg of the pull (`None`: the route stops it first).
fn leg_egress(net: &Net, leg: &Leg, rules: &Allowed) -> Option<Verdict> {
    let verdict = match &leg.via {
        Via::Interface(e) => endpoint_egress(net, e, rules),
        Via::Gateway(e) => prefix_list_egress(net, e, rules),
        // The route decides first; egress to the internet matters only if it may pass.
        Via::Internet { .. } if net.internet.may_pass() => match internet_egress(rules) {
            // A dual-stack name may be reached over IPv6 instead, which is not modelled.
            Verdict::Blocked(_) | Verdict::Partial(_) if leg.dual_stack && !rules.ipv6_cidrs.is_empty() && !net.ipv6_exits().is_empty() => {
                Verdict::Unknown(format!(
                    "IPv4 egress does not cover {}, but it is a dual-stack name and IPv6 egress to {} is allowed over {}: IPv6 paths are not modelled",
                    leg.host,
                    rules.ipv6_cidrs.join(", "),
                    net.ipv6_exits().join(", ")
                ))
            }
            v => v,
        },
        Via::Internet { .. } => return None,
        // Where the name resolves is unknown (a hub's endpoints, say), but egress to every
        // IPv4 address allows it wherever that is.
        Via::Unknown(_) if rules.cidrs.covers(&IpSet::all()) => Verdict::Allowed("all IPv4 addresses allowed".into()),
        Via::Unknown(reason) => Verdict::Unknown(reason.clone()),
    };
    Some(verdict)
}

fn dedup(v: Vec<&str>) -> Vec<&str> {
    let mut out: Vec<&str> = vec![];
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

fn endpoint_egress(net: &Net, e: &EndpointFacts, rules: &Allowed) -> Verdict {
    if let Some(g) = e.security_groups.iter().find(|g| rules.groups.contains(g)) {
        return Verdict::Allowed(format!("allowed to endpoint security group {g}"));
    }
    if rules.cidrs.covers(&IpSet::all()) {
        return Verdict::Allowed("allowed to 0.0.0.0/0".into());
    }
    let fix = format!(
        "TCP 443 to {} (the security group of endpoint {}) or to the VPC CIDR",
        e.security_groups
            .first()
            .map(String::as_str)
            .unwrap_or("the endpoint's security group"),
        e.id
    );
    // The S3 list holds public S3 ranges only: not knowing it cannot hide an endpoint address.
    let s3_list = net.n.s3_prefix_list.value().map(|p| p.id.as_str());
    let unresolved = rules.unresolved_reason(s3_list);
    match net.endpoint_ips(e) {
        Known::Yes(ips) if !ips.is_empty() => {
            let set = IpSet::from_ips(ips.iter().map(|(ip, _)| *ip));
            let uncovered = set.minus(&rules.cidrs);
            if uncovered.is_empty() {
                Verdict::Allowed("every endpoint address is inside an allowed CIDR".into())
            } else if let Some(why) = unresolved {
                Verdict::Unknown(why)
            } else if uncovered == set {
                Verdict::Blocked(fix)
            } else {
                Verdict::Blocked(format!(
                    "{fix} (not allowed now: {})",
                    uncovered.to_cidrs().join(", ")
                ))
            }
        }
        _ if rules.cidrs.is_empty() && unresolved.is_none() => Verdict::Blocked(fix),
        Known::Yes(_) => Verdict::Unknown(format!(
            "endpoint {} lists no network interface addresses",
            e.id
        )),
        Known::Unknown(why) => {
            // A superset check still decides when the whole VPC is allowed.
            match net.vpc_cidrs() {
                Some(vpc) if !vpc.is_empty() && rules.cidrs.covers(&vpc) => {
                    Verdict::Allowed("the whole VPC CIDR is allowed".into())
                }
                _ => Verdict::Unknown(why),
            }
        }
    }
}

fn prefix_list_egress(net: &Net, gateway: &EndpointFacts, rules: &Allowed) -> Verdict {
    let pl = net.s3_prefix_list_id(gateway);
    if let Some(pl) = &pl {
        if rules.prefix_lists.contains(pl) {
            return Verdict::Allowed(format!("allowed to the S3 prefix list {pl}"));
        }
    }
    if rules.cidrs.covers(&IpSet::all()) {
        return Verdict::Allowed("allowed to 0.0.0.0/0".into());
    }
    let pl_name = pl
        .clone()
        .unwrap_or_else(|| format!("com.amazonaws.{}.s3", net.region));
    let fix = format!(
        "TCP 443 to the S3 prefix list {pl_name} (layers go through S3 gateway endpoint {}, which has no security group)",
        gateway.id
    );
    let unresolved = rules.unresolved_reason(pl.as_deref());
    match net.s3_prefix_list_cidrs() {
        Known::Yes(cidrs) => {
            let uncovered = cidrs.minus(&rules.cidrs);
            if uncovered.is_empty() {
                Verdict::Allowed("every S3 prefix-list CIDR is allowed".into())
            } else if let Some(why) = unresolved {
                Verdict::Unknown(why)
            } else {
                Verdict::Blocked(fix)
            }
        }
        Known::Unknown(why) => {
            if rules.cidrs.intersect(&IpSet::public_internet()).is_empty() && unresolved.is_none() {
                Verdict::Blocked(fix)
            } else {
                Verdict::Unknown(unresolved.unwrap_or(why))
            }
        }
    }
}

fn internet_egress(rules: &Allowed) -> Verdict {
    let public = IpSet::public_internet();
    if rules.cidrs.covers(&public) {
        return Verdict::Allowed("public addresses allowed".into());
    }
    let some = rules.cidrs.intersect(&public);
    if let Some(why) = rules.unresolved_reason(None) {
        return Verdict::Unknown(why);
    }
    if some.is_empty() {
        Verdict::Blocked("TCP 443 to 0.0.0.0/0 (the pull goes to public ECR and S3 addresses through the default route)".into())
    } else {
        Verdict::Partial(format!("only {} allowed", some.to_cidrs().join(", ")))
    }
}

pub const ENDPOINT_SG_INGRESS: Rule = Rule {
    code: RootCause::NetEndpointSg,
    name: "endpoint_sg_ingress",
    title: "An ECR endpoint's security group does not admit HTTPS from the task",
    stage: Stage::Filter,
    explains: &[Category::Network],
    phases: Phases::Any,
    scope: EVERYWHERE,
    reads: &[
        &["ec2:DescribeVpcEndpoints", "ec2:DescribeSecurityGroups", "ec2:DescribeNetworkInterfaces"],
    ],
    doc: Doc {
        what: "an endpoint's security group does not admit TCP 443 from the task",
        why: "An interface endpoint's network interfaces carry their own security groups, which must admit TCP \
             443 from the task: by a rule naming one of the task's security groups, or a CIDR holding the \
             task's address. Otherwise connections to the endpoint hang and the pull times out, even with a \
             NAT route, because private DNS sends the traffic to the endpoint anyway.",
        fix: "Add an inbound rule to the endpoint's security group: TCP 443 from the task's security group or \
             from its subnet's CIDR.",
        reference: "https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html",
    },
    run: check_endpoint_ingress,
};

/// The check of [`ENDPOINT_SG_INGRESS`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_endpoint_ingress(facts: &Facts) -> Vec<Finding> {
    with_net(facts, |net| {
        let code = RootCause::NetEndpointSg;
        let mut seen = vec![];
        let mut findings = vec![];
        for leg in &net.legs {
            let Via::Interface(e) = &leg.via else {
                continue;
            };
            if seen.contains(&e.id) {
                continue;
            }
            seen.push(e.id.clone());
            findings.push(endpoint_ingress(net, e, code));
        }
        findings
    })
}

fn endpoint_ingress(net: &Net, e: &EndpointFacts, code: RootCause) -> Finding {
    let resource = format!("{} ({})", e.id, e.service_name);
    let sg_url = e
        .security_groups
        .first()
        .map(|g| console::security_group(&net.region, g));
    let with_url = |f: Finding| match &sg_url {
        Some(u) => f.console_url(u.clone()),
        None => f,
    };
    let groups: Vec<SecurityGroupFacts> = {
        let task_groups = net.n.security_groups.value().cloned().unwrap_or_default();
        let ep_groups = match &net.n.endpoint_security_groups {
            Fact::Found { value } => value.clone(),
            _ if e
                .security_groups
                .iter()
                .all(|g| task_groups.iter().any(|t| &t.id == g)) =>
            {
                vec![]
            }
            other => {
                return with_url(
                    Finding::unknown(
                        code,
                        format!("Could not read the security groups of endpoint {}", e.id),
                        other.gap().unwrap_or(""),
                    )
                    .resource(resource),
                )
            }
        };
        task_groups
            .into_iter()
            .chain(ep_groups)
            .filter(|g| e.security_groups.contains(&g.id))
            .collect()
    };
    let rules = allowed(&groups, false, "tcp", 443).resolve_prefix_lists(net);
    let task_ip: Option<Ipv4Addr> = net.origin.private_ip;
    let w = words(net.facts);
    let by_group = match &net.origin.security_groups {
        Known::Yes(ids) => ids.iter().find(|g| rules.groups.contains(g)).cloned(),
        Known::Unknown(_) => None,
    };
    let by_cidr = match task_ip {
        Some(ip) => rules.cidrs.contains(ip),
        None => net
            .subnet_cidr()
            .is_some_and(|s| !s.is_empty() && rules.cidrs.covers(&s)),
    };
    let evidence = json!({
        "endpoint_security_groups": e.security_groups,
        "ingress_tcp_443_rules": rules.rules,
        "prefix_list_entries": (!rules.prefix_list_entries.is_empty()).then_some(&rules.prefix_list_entries),
        "task_ip": task_ip.map(|i| i.to_string()),
        "task_security_groups": net.origin.security_groups.value(),
    });
    let finding = if let Some(g) = by_group {
        Finding::pass(
            code,
            format!(
                "Endpoint {} admits HTTPS from the {} security group {g}",
                e.id, w.tasks
            ),
        )
    } else if by_cidr {
        Finding::pass(
            code,
            format!(
                "Endpoint {} admits HTTPS from the {}'s address",
                e.id, w.task
            ),
        )
    } else if net.origin.security_groups.value().is_none() && !rules.groups.is_empty() {
        Finding::unknown(
            code,
            format!("Endpoint {} admits HTTPS from security groups {}; whether the {} had one is unknown", e.id, rules.groups.join(", "), w.task),
            net.origin.security_groups.reason().unwrap_or(""),
        )
    } else if let Some(why) = rules.unresolved_reason(None) {
        let ids: Vec<&str> = rules.unresolved.iter().map(|(id, _)| id.as_str()).collect();
        Finding::unknown(
            code,
            format!(
                "Endpoint {} admits HTTPS from prefix lists {} whose entries are unknown",
                e.id,
                ids.join(", ")
            ),
            why,
        )
    } else {
        let from = match (
            net.origin.security_groups.value().and_then(|g| g.first()),
            task_ip,
        ) {
            (Some(g), _) => format!("the {} security group {g}", w.tasks),
            (None, Some(ip)) => format!("the {}'s subnet CIDR ({} address {ip})", w.task, w.task),
            (None, None) => format!("the {}'s subnet CIDR", w.task),
        };
        let target = e
            .security_groups
            .first()
            .cloned()
            .unwrap_or_else(|| "the endpoint's security group".into());
        Finding::fail(
            code,
            format!(
                "Endpoint {} ({}) does not admit HTTPS from the {}",
                e.id, e.service_name, net.origin.label
            ),
        )
        .remediation(format!(
            "Add an inbound rule to {target}: TCP 443 from {from}."
        ))
    };
    with_url(super::spread(finding.resource(resource), evidence))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::network::fixtures::*;
    use crate::model::diagnosis::Status;
    use crate::model::facts::ErrorKind;
    use crate::model::facts::{EniFacts, SecurityGroupFacts};

    fn egress(rules: Vec<SgRuleFacts>) -> Vec<SecurityGroupFacts> {
        vec![sg(SG_TASK, vec![], rules)]
    }
    fn https_to(cidrs: &[&str]) -> SgRuleFacts {
        SgRuleFacts {
            cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
            ..rule("tcp", 443, 443)
        }
    }
    fn https_to_group(g: &str) -> SgRuleFacts {
        SgRuleFacts {
            groups: vec![g.into()],
            ..rule("tcp", 443, 443)
        }
    }
    fn https_to_pl(pl: &str) -> SgRuleFacts {
        SgRuleFacts {
            prefix_lists: vec![pl.into()],
            ..rule("tcp", 443, 443)
        }
    }
    fn with_egress(mut f: Facts, groups: Vec<SecurityGroupFacts>) -> Facts {
        f.network.security_groups = Fact::found(groups);
        f
    }

    #[test]
    fn task_egress_table() {
        let mut standalone = fargate_endpoints();
        standalone.task.group = Some("family:web".into());
        standalone.network.service = Fact::NotCollected {
            reason: "standalone".into(),
        };
        let mut eni_present = with_egress(fargate_endpoints(), egress(vec![]));
        eni_present.network.task_eni = Fact::found(EniFacts {
            id: ENI.into(),
            subnet_id: Some(SUBNET.into()),
            private_ip: Some(TASK_IP.into()),
            security_groups: vec!["sg-other".into()],
            ..Default::default()
        });
        eni_present.network.security_groups = Fact::found(vec![sg(
            "sg-other",
            vec![],
            vec![all_traffic_to("0.0.0.0/0")],
        )]);
        let mut enis_unreadable = with_egress(
            fargate_endpoints(),
            egress(vec![https_to(&["10.0.0.0/16"]), https_to_pl(PL)]),
        );
        enis_unreadable.network.endpoint_enis = Fact::Unreadable {
            reason: "Throttled".into(),
            kind: ErrorKind::Throttled,
        };
        // A customer-managed list holding the VPC CIDR and the S3 ranges: endpoints and S3 both allowed.
        let corp_list = |f: Facts, cidrs: &[&str]| with_rule_prefix_list(f, "pl-corp", cidrs);
        let corp_covers = corp_list(
            with_egress(fargate_endpoints(), egress(vec![https_to_pl("pl-corp")])),
            &[
                "10.0.0.0/16",
                "52.216.0.0/15",
                "3.5.0.0/19",
                "54.231.0.0/16",
            ],
        );
        let corp_vpc_only = corp_list(
            with_egress(fargate_endpoints(), egress(vec![https_to_pl("pl-corp")])),
            &["10.0.0.0/16"],
        );
        let corp_s3_only = corp_list(
            with_egress(
                fargate_endpoints(),
                egress(vec![https_to_group(SG_EP), https_to_pl("pl-corp")]),
            ),
            &["52.216.0.0/15", "3.5.0.0/19", "54.231.0.0/16"],
        );
        let mut corp_unreadable =
            with_egress(fargate_endpoints(), egress(vec![https_to_pl("pl-corp")]));
        corp_unreadable.network.rule_prefix_lists = vec![crate::model::facts::RulePrefixList {
            id: "pl-corp".into(),
            cidrs: Fact::Unreadable {
                reason: "AccessDenied: ec2:GetManagedPrefixListEntries".into(),
                kind: ErrorKind::AccessDenied,
            },
        }];
        let nat_corp_everywhere = corp_list(
            with_egress(fargate_nat(), egress(vec![https_to_pl("pl-corp")])),
            &["0.0.0.0/0"],
        );
        let nat_corp_private = corp_list(
            with_egress(fargate_nat(), egress(vec![https_to_pl("pl-corp")])),
            &["10.0.0.0/8"],
        );
        let mut pl_cidrs_unknown = with_egress(
            fargate_endpoints(),
            egress(vec![https_to_group(SG_EP), https_to(&["52.216.0.0/15"])]),
        );
        pl_cidrs_unknown.network.s3_prefix_list = Fact::Unreadable {
            reason: "AccessDenied: ec2:DescribePrefixLists".into(),
            kind: ErrorKind::AccessDenied,
        };

        // (name, facts, status, text that must appear)
        let cases: Vec<(&str, Facts, Status, &str)> = vec![
            (
                "all traffic anywhere",
                fargate_endpoints(),
                Status::Pass,
                "",
            ),
            (
                "443 to endpoint SG and S3 prefix list",
                with_egress(
                    fargate_endpoints(),
                    egress(vec![https_to_group(SG_EP), https_to_pl(PL)]),
                ),
                Status::Pass,
                "",
            ),
            (
                "classic trap: endpoint SG only",
                with_egress(fargate_endpoints(), egress(vec![https_to_group(SG_EP)])),
                Status::Fail,
                PL,
            ),
            (
                "VPC CIDR only: endpoints fine, S3 blocked",
                with_egress(
                    fargate_endpoints(),
                    egress(vec![https_to(&["10.0.0.0/16"])]),
                ),
                Status::Fail,
                "S3 layer bucket",
            ),
            (
                "VPC CIDR + prefix-list CIDRs",
                with_egress(
                    fargate_endpoints(),
                    egress(vec![https_to(&[
                        "10.0.0.0/16",
                        "52.216.0.0/15",
                        "3.5.0.0/19",
                        "54.231.0.0/16",
                    ])]),
                ),
                Status::Pass,
                "",
            ),
            (
                "port 80 only",
                with_egress(
                    fargate_endpoints(),
                    egress(vec![SgRuleFacts {
                        cidrs: vec!["0.0.0.0/0".into()],
                        ..rule("tcp", 80, 80)
                    }]),
                ),
                Status::Fail,
                "ECR API",
            ),
            (
                "tcp range incl. 443",
                with_egress(
                    fargate_nat(),
                    egress(vec![SgRuleFacts {
                        cidrs: vec!["0.0.0.0/0".into()],
                        ..rule("6", 0, 65535)
                    }]),
                ),
                Status::Pass,
                "",
            ),
            (
                "NAT: no egress",
                with_egress(fargate_nat(), egress(vec![])),
                Status::Fail,
                "0.0.0.0/0",
            ),
            (
                "NAT: egress to one public range",
                with_egress(fargate_nat(), egress(vec![https_to(&["52.0.0.0/8"])])),
                Status::Warn,
                "52.0.0.0/8",
            ),
            (
                "NAT: egress to a customer prefix list",
                with_egress(fargate_nat(), egress(vec![https_to_pl("pl-corp")])),
                Status::Unknown,
                "pl-corp",
            ),
            (
                "standalone task, ENI gone",
                standalone,
                Status::Unknown,
                "standalone",
            ),
            (
                "ENI still there: its groups count",
                eni_present,
                Status::Pass,
                "sg-other",
            ),
            (
                "SGs unreadable",
                {
                    let mut f = fargate_nat();
                    f.network.security_groups = Fact::Unreadable {
                        reason: "AccessDenied: ec2:DescribeSecurityGroups".into(),
                        kind: ErrorKind::AccessDenied,
                    };
                    f
                },
                Status::Unknown,
                "AccessDenied",
            ),
            (
                "endpoint ENIs unreadable, VPC CIDR allowed",
                enis_unreadable,
                Status::Pass,
                "",
            ),
            (
                "prefix list unread, only part of S3",
                pl_cidrs_unknown,
                Status::Unknown,
                "DescribePrefixLists",
            ),
            (
                "customer prefix list holding VPC CIDR + S3 ranges",
                corp_covers,
                Status::Pass,
                "pl-corp: 3.5.0.0/19",
            ),
            (
                "customer prefix list with the VPC CIDR only: S3 blocked",
                corp_vpc_only,
                Status::Fail,
                "S3 layer bucket",
            ),
            (
                "endpoint SG + customer list of S3 ranges",
                corp_s3_only,
                Status::Pass,
                "",
            ),
            (
                "customer prefix list unreadable",
                corp_unreadable,
                Status::Unknown,
                "AccessDenied: ec2:GetManagedPrefixListEntries",
            ),
            (
                "NAT: customer list holding 0.0.0.0/0",
                nat_corp_everywhere,
                Status::Pass,
                "",
            ),
            (
                "NAT: customer list of private ranges only",
                nat_corp_private,
                Status::Fail,
                "0.0.0.0/0",
            ),
        ];
        for (name, f, status, needle) in cases {
            let got = check_task_egress(&f);
            assert_eq!(got.len(), 1, "{name}: {got:#?}");
            assert_eq!(got[0].status, status, "{name}: {got:#?}");
            let text = format!(
                "{} {} {}",
                got[0].title,
                got[0].evidence,
                got[0].remediation.as_deref().unwrap_or("")
            );
            assert!(text.contains(needle), "{name}: {needle:?} not in {text}");
        }
    }

    #[test]
    fn endpoint_ingress_table() {
        let with_ingress = |rules: Vec<SgRuleFacts>| {
            let mut f = fargate_endpoints();
            f.network.endpoint_security_groups = Fact::found(vec![sg(SG_EP, rules, vec![])]);
            f
        };
        let from_cidr = |c: &str| SgRuleFacts {
            cidrs: vec![c.into()],
            ..rule("tcp", 443, 443)
        };
        let mut standalone = with_ingress(vec![SgRuleFacts {
            groups: vec![SG_TASK.into()],
            ..rule("tcp", 443, 443)
        }]);
        standalone.task.group = Some("family:web".into());
        standalone.network.service = Fact::NotCollected {
            reason: "standalone".into(),
        };
        let mut shared_sg = fargate_endpoints();
        // The endpoints use the task's own security group, which admits itself.
        if let Fact::Found { value } = &mut shared_sg.network.endpoints {
            for e in value.iter_mut() {
                e.security_groups = vec![SG_TASK.into()];
            }
        }
        shared_sg.network.security_groups = Fact::found(vec![sg(
            SG_TASK,
            vec![SgRuleFacts {
                groups: vec![SG_TASK.into()],
                ..rule("-1", -1, -1)
            }],
            vec![all_traffic_to("0.0.0.0/0")],
        )]);
        shared_sg.network.endpoint_security_groups = Fact::found(vec![]);
        let mut unreadable = fargate_endpoints();
        unreadable.network.endpoint_security_groups = Fact::Unreadable {
            reason: "AccessDenied: ec2:DescribeSecurityGroups".into(),
            kind: ErrorKind::AccessDenied,
        };
        let from_list = || SgRuleFacts {
            prefix_lists: vec!["pl-corp".into()],
            ..rule("tcp", 443, 443)
        };
        let list_holds_task =
            with_rule_prefix_list(with_ingress(vec![from_list()]), "pl-corp", &["10.0.1.0/24"]);
        let list_elsewhere =
            with_rule_prefix_list(with_ingress(vec![from_list()]), "pl-corp", &["10.9.0.0/16"]);
        let list_unread = with_ingress(vec![from_list()]);

        let cases: Vec<(&str, Facts, Status)> = vec![
            ("from task SG", fargate_endpoints(), Status::Pass),
            (
                "from VPC CIDR",
                with_ingress(vec![from_cidr("10.0.0.0/16")]),
                Status::Pass,
            ),
            (
                "from the task's /32",
                with_ingress(vec![from_cidr(&format!("{TASK_IP}/32"))]),
                Status::Pass,
            ),
            (
                "from another subnet",
                with_ingress(vec![from_cidr("10.0.9.0/24")]),
                Status::Fail,
            ),
            (
                "443 missing",
                with_ingress(vec![SgRuleFacts {
                    cidrs: vec!["0.0.0.0/0".into()],
                    ..rule("tcp", 80, 80)
                }]),
                Status::Fail,
            ),
            (
                "all traffic from anywhere",
                with_ingress(vec![all_traffic_to("0.0.0.0/0")]),
                Status::Pass,
            ),
            (
                "standalone: SG rule, task SGs unknown",
                standalone,
                Status::Unknown,
            ),
            ("shared self-referencing SG", shared_sg, Status::Pass),
            ("endpoint SG unreadable", unreadable, Status::Unknown),
            (
                "from a customer list holding the task subnet",
                list_holds_task,
                Status::Pass,
            ),
            (
                "from a customer list of other ranges",
                list_elsewhere,
                Status::Fail,
            ),
            (
                "from a customer list not read",
                list_unread,
                Status::Unknown,
            ),
        ];
        for (name, f, status) in cases {
            let got = check_endpoint_ingress(&f);
            assert_eq!(got.len(), 2, "{name}: one finding per endpoint used");
            assert!(got.iter().all(|g| g.status == status), "{name}: {got:#?}");
        }
        assert!(
            check_endpoint_ingress(&fargate_nat()).is_empty(),
            "no endpoints used"
        );
    }
}
