//! Network ACLs: stateless, ordered by rule number, first match wins, implicit deny at the end.
//! Both directions must be allowed: TCP 443 out to the destination, and the replies back in on the
//! task's ephemeral ports.

use std::net::Ipv4Addr;

use serde_json::json;

use super::console;
use super::ipset::{
    describe_range, evaluate_acl, net_range, parse_net, AclRule, AclVerdict, IpSet,
};
use super::path::{Internet, Net, Via};
use super::with_net;
use crate::checks::rule::{Doc, Phases, Rule, Stage, EVERYWHERE};
use crate::checks::wording::words;
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{Fact, Facts, Known, NetworkAclFacts};
use crate::model::message::Category;

/// Ephemeral ports AWS recommends opening for return traffic.
const EPHEMERAL: (u16, u16) = (1024, 65535);
/// Ports Linux (Fargate and ECS-optimized AMIs) actually uses for outgoing connections.
const LINUX_EPHEMERAL: (u16, u16) = (32768, 60999);
/// Ports Windows uses.
const WINDOWS_EPHEMERAL: (u16, u16) = (49152, 65535);

pub fn acl_rules(acl: &NetworkAclFacts, egress: bool) -> Vec<AclRule> {
    acl.entries
        .iter()
        .filter(|e| e.egress == egress)
        .filter_map(|e| {
            let net = parse_net(e.cidr.as_deref()?)?;
            let matches_tcp = matches!(
                e.protocol.to_ascii_lowercase().as_str(),
                "-1" | "6" | "tcp" | "all"
            );
            let ports = match (e.protocol.as_str(), e.port_from, e.port_to) {
                ("-1", _, _) | (_, None, _) | (_, _, None) => (0, 65535),
                (_, Some(f), Some(t)) => (f.clamp(0, 65535) as u16, t.clamp(0, 65535) as u16),
            };
            Some(AclRule {
                number: e.rule_number,
                allow: e.action.eq_ignore_ascii_case("allow"),
                matches_tcp,
                ips: net_range(net),
                ports,
            })
        })
        .collect()
}

/// One destination of the pull as the NACL sees it.
struct Dest {
    what: String,
    ips: IpSet,
    /// The addresses are exact (endpoint ENIs, S3 prefix list) rather than a superset.
    exact: bool,
    /// A dual-stack name the subnet may also reach over IPv6 (not modelled): an IPv4 block alone
    /// does not break it.
    ipv6_too: bool,
}

#[derive(Debug)]
struct Problem {
    /// The network ACL at fault.
    acl: String,
    fix: String,
    text: String,
    /// A definite block (fail) rather than a partial or uncertain one (warn).
    definite: bool,
}

pub const SUBNET_NACL: Rule = Rule {
    code: RootCause::NetNacl,
    name: "subnet_nacl",
    title: "The subnet's network ACL blocks HTTPS or its return traffic",
    stage: Stage::Filter,
    explains: &[Category::Network],
    phases: Phases::Any,
    scope: EVERYWHERE,
    reads: &[
        &["ec2:DescribeNetworkAcls", "ec2:DescribeSubnets", "ec2:DescribeVpcEndpoints", "ec2:DescribePrefixLists", "ec2:DescribeNatGateways"],
    ],
    doc: Doc {
        what: "a network ACL on the path (the task's subnet, or the NAT gateway's) blocks 443 or the return \
             traffic on ephemeral ports",
        why: "A network ACL is stateless and its rules apply in number order, first match wins. The pull needs \
             TCP 443 allowed out to each destination and the replies allowed back in on the task's ephemeral \
             ports (1024-65535). The ACLs of an endpoint's subnet and of a NAT gateway's subnet are on the \
             path too. A deny numbered below the allow, or a missing inbound rule for the replies, makes the \
             pull time out.",
        fix: "Add allow rules numbered below any matching deny: outbound TCP 443 to the destinations and \
             inbound TCP 1024-65535 from them in the task's subnet, and the mirror rules in the endpoint's or \
             NAT gateway's subnet.",
        reference: "https://docs.aws.amazon.com/vpc/latest/userguide/vpc-network-acls.html",
    },
    run: check_nacl,
};

/// The check of [`SUBNET_NACL`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_nacl(facts: &Facts) -> Vec<Finding> {
    with_net(facts, judge_nacl)
}

fn judge_nacl(net: &Net) -> Vec<Finding> {
    let code = RootCause::NetNacl;
    let acl = match &net.n.network_acl {
        Fact::Found { value } => value,
        other => {
            return vec![Finding::unknown(
                code,
                format!("Could not read the network ACL of subnet {}", net.subnet_id),
                other.gap().unwrap_or(""),
            )
            .resource(net.subnet_id.clone())]
        }
    };
    let os_range = if net.windows() {
        WINDOWS_EPHEMERAL
    } else {
        LINUX_EPHEMERAL
    };
    let mut problems: Vec<Problem> = vec![];
    let mut unknowns: Vec<String> = vec![];
    let mut checked: Vec<String> = vec![];
    let dests = destinations(net, os_range, &mut problems, &mut unknowns, &mut checked);
    for (hosts, mut dest) in dests {
        let label = if dest.what.ends_with("(public addresses)") {
            dest.what = format!("public addresses ({hosts})");
            dest.what.clone()
        } else {
            format!("{hosts}: {}", dest.what)
        };
        let out = evaluate_acl(&acl_rules(acl, true), &dest.ips, (443, 443));
        let back = evaluate_acl(&acl_rules(acl, false), &dest.ips, EPHEMERAL);
        if dest.ipv6_too {
            let mut ipv4 = vec![];
            judge(&acl.id, &dest, &out, &back, os_range, &mut ipv4);
            unknowns.extend(ipv4.into_iter().map(|p| format!("{} — but {hosts} is a dual-stack name the subnet may reach over IPv6, which is not modelled", p.text)));
        } else {
            judge(&acl.id, &dest, &out, &back, os_range, &mut problems);
        }
        checked.push(label);
    }
    let nat_acl = nat_side(net, os_range, &mut problems, &mut unknowns, &mut checked);
    let evidence = json!({
        "network_acl": acl.id,
        "subnet": net.subnet_id,
        "nat_subnet_network_acl": nat_acl.map(|(acl, subnet)| json!({
            "network_acl": acl.id,
            "subnet": subnet,
            "entries": entry_lines(acl),
        })),
        "entries": entry_lines(acl),
        "checked": checked,
    });
    // Point at the ACL that blocks: the task subnet's, an endpoint subnet's or the NAT subnet's.
    let at_fault = problems
        .iter()
        .find(|p| p.definite)
        .or(problems.first())
        .map(|p| p.acl.clone())
        .unwrap_or_else(|| acl.id.clone());
    let url = console::network_acl(&net.region, &at_fault);
    let finding = if problems.iter().any(|p| p.definite) {
        let texts: Vec<&str> = problems
            .iter()
            .filter(|p| p.definite)
            .map(|p| p.text.as_str())
            .collect();
        let fixes: Vec<&str> = problems
            .iter()
            .filter(|p| p.definite)
            .map(|p| p.fix.as_str())
            .collect();
        Finding::fail(code, texts.join("; ")).remediation(format!("{}.", dedup(fixes).join("; ")))
    } else if let Some(p) = problems.first() {
        Finding::warn(code, p.text.clone()).remediation(p.fix.clone())
    } else if !unknowns.is_empty() {
        Finding::unknown(
            code,
            format!("Could not fully check network ACL {}", acl.id),
            unknowns.join("; "),
        )
    } else if checked.is_empty() {
        return vec![];
    } else {
        Finding::pass(
            code,
            format!(
                "Network ACL {} allows HTTPS out and the replies back in",
                acl.id
            ),
        )
    };
    vec![super::spread(finding.resource(at_fault), evidence).console_url(url)]
}

/// Where the pull's legs go as the task subnet's ACL sees them, with the hosts going there; legs
/// to the same addresses (public ones, typically) are judged once. Judges the endpoint-side ACLs
/// on the way.
fn destinations(
    net: &Net,
    os_range: (u16, u16),
    problems: &mut Vec<Problem>,
    unknowns: &mut Vec<String>,
    checked: &mut Vec<String>,
) -> Vec<(String, Dest)> {
    let task_subnet_cidr = net.subnet_cidr();
    let mut dests: Vec<(String, Dest)> = vec![];
    for leg in &net.legs {
        let dest = match &leg.via {
            Via::Interface(e) => match net.endpoint_ips(e) {
                Known::Yes(ips) if !ips.is_empty() => {
                    let outside: Vec<Ipv4Addr> = ips
                        .iter()
                        .filter(|(_, s)| s.as_deref() != Some(net.subnet_id.as_str()))
                        .map(|(ip, _)| *ip)
                        .collect();
                    // The endpoint-side ACLs.
                    endpoint_side(net, e.id.as_str(), &ips, os_range, problems, unknowns);
                    if outside.is_empty() {
                        checked.push(format!(
                            "{}: endpoint {} is in the task's own subnet",
                            leg.host, e.id
                        ));
                        continue;
                    }
                    Dest {
                        what: format!("endpoint {}", e.id),
                        ips: IpSet::from_ips(outside),
                        exact: true,
                        ipv6_too: false,
                    }
                }
                _ => match net.vpc_cidrs() {
                    Some(vpc) if !vpc.is_empty() => Dest {
                        what: format!("endpoint {} (somewhere in the VPC)", e.id),
                        ips: task_subnet_cidr
                            .as_ref()
                            .map(|s| vpc.minus(s))
                            .unwrap_or(vpc),
                        exact: false,
                        ipv6_too: false,
                    },
                    _ => {
                        unknowns.push(format!("addresses of endpoint {} unknown", e.id));
                        continue;
                    }
                },
            },
            Via::Gateway(g) => match net.s3_prefix_list_cidrs() {
                Known::Yes(cidrs) => Dest {
                    what: format!("S3 prefix list (gateway endpoint {})", g.id),
                    ips: cidrs,
                    exact: true,
                    ipv6_too: false,
                },
                Known::Unknown(_) => Dest {
                    what: "S3 (prefix list CIDRs not known)".into(),
                    ips: IpSet::public_internet(),
                    exact: false,
                    ipv6_too: false,
                },
            },
            Via::Internet { .. } if net.internet.may_pass() => Dest {
                what: format!("{} (public addresses)", leg.host),
                ips: IpSet::public_internet(),
                exact: false,
                ipv6_too: leg.dual_stack && !net.ipv6_exits().is_empty(),
            },
            Via::Internet { .. } => continue,
            Via::Unknown(why) => {
                unknowns.push(why.clone());
                continue;
            }
        };
        match dests.iter_mut().find(|(_, d)| {
            d.ips == dest.ips && d.exact == dest.exact && d.ipv6_too == dest.ipv6_too
        }) {
            Some((hosts, _)) => {
                hosts.push_str(", ");
                hosts.push_str(&leg.host);
            }
            None => dests.push((leg.host.clone(), dest)),
        }
    }
    dests
}

fn entry_lines(acl: &NetworkAclFacts) -> Vec<String> {
    sorted_entries(acl)
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {} {}{}",
                e.rule_number,
                if e.egress { "out" } else { "in" },
                e.action,
                match e.protocol.as_str() {
                    "-1" => "all".to_string(),
                    "6" => "tcp".into(),
                    "17" => "udp".into(),
                    p => p.to_string(),
                },
                e.cidr.as_deref().or(e.ipv6_cidr.as_deref()).unwrap_or("?"),
                match (e.port_from, e.port_to) {
                    (Some(f), Some(t)) if e.protocol != "-1" => format!(" ports {f}-{t}"),
                    _ => String::new(),
                },
            )
        })
        .collect()
}

/// Ports a NAT gateway translates connections to (AWS: 1024–65535); the replies arrive on them.
const NAT_PORTS: (u16, u16) = (1024, 65535);

/// The network ACL of the NAT gateway's own subnet, when the pull leaves through a NAT gateway in
/// another subnet. The pull crosses it four times: in from the task (TCP 443), out to the public
/// endpoint (TCP 443), the replies in (TCP 1024-65535, the NAT's ports) and out again to the task's
/// ephemeral ports. The classic break: a public-subnet ACL that admits only 80/443 inbound, as for
/// a web server, drops every reply to the NAT. Returns the ACL judged and its subnet.
fn nat_side<'a>(
    net: &'a Net,
    os_range: (u16, u16),
    problems: &mut Vec<Problem>,
    unknowns: &mut Vec<String>,
    checked: &mut Vec<String>,
) -> Option<(&'a NetworkAclFacts, String)> {
    let Internet::Open { target, .. } = &net.internet else {
        return None;
    };
    if !target.starts_with("nat-") || !net.legs.iter().any(|l| l.uses_internet()) {
        return None;
    }
    let nat = net
        .n
        .nat_gateways
        .value()?
        .iter()
        .find(|g| &g.id == target)?;
    let subnet = nat.subnet_id.clone()?;
    if subnet == net.subnet_id {
        // Traffic inside one subnet does not pass its ACL; the task subnet's ACL judges the rest.
        return None;
    }
    let acls = match &net.n.nat_network_acls {
        Fact::Found { value } => value,
        other => {
            unknowns.push(format!(
                "network ACL of NAT gateway {target}'s subnet {subnet} not read ({})",
                other.gap().unwrap_or("")
            ));
            return None;
        }
    };
    let Some(acl) = acls
        .iter()
        .find(|a| a.subnet_ids.iter().any(|s| s == &subnet))
    else {
        unknowns.push(format!(
            "no network ACL was returned for NAT gateway {target}'s subnet {subnet}"
        ));
        return None;
    };
    let whose = format!(
        "Network ACL {} of NAT gateway {target}'s subnet {subnet}",
        acl.id
    );
    nat_task_side(net, acl, &whose, os_range, problems, unknowns);
    nat_internet_side(acl, &whose, problems);
    checked.push(format!(
        "NAT gateway {target} in {subnet}: network ACL {}",
        acl.id
    ));
    Some((acl, subnet))
}

/// Task → NAT, and NAT → task (the replies to the task's ephemeral ports).
fn nat_task_side(
    net: &Net,
    acl: &NetworkAclFacts,
    whose: &str,
    os_range: (u16, u16),
    problems: &mut Vec<Problem>,
    unknowns: &mut Vec<String>,
) {
    let task_word = words(net.facts).task;
    let mut add = |text: String, fix: String, definite: bool| {
        problems.push(Problem {
            acl: acl.id.clone(),
            text,
            fix,
            definite,
        })
    };
    match (net.origin.private_ip, net.subnet_cidr()) {
        (ip, cidr) if ip.is_some() || cidr.as_ref().is_some_and(|c| !c.is_empty()) => {
            let task = match ip {
                Some(ip) => IpSet::from_ips([ip]),
                None => cidr.unwrap_or_default(),
            };
            let task_cidrs = short_cidrs(&task);
            let inbound = evaluate_acl(&acl_rules(acl, false), &task, (443, 443));
            if !inbound.fully_allowed() {
                let (_, rule) = inbound.denied[0];
                add(
                    format!("{whose} blocks inbound TCP 443 from the {task_word} ({})", rule_name(rule)),
                    format!("In {}, add an inbound allow rule for TCP 443 from {task_cidrs} numbered below {}", acl.id, rule_number(rule)),
                    true,
                );
            }
            let outbound = evaluate_acl(&acl_rules(acl, true), &task, EPHEMERAL);
            if let Some((b, rule)) = outbound.denied_in_ports(os_range).first().copied() {
                add(
                    format!("{whose} blocks the replies to the {task_word}: outbound TCP {}-{} to {task_cidrs} ({})", b.ports.0, b.ports.1, rule_name(rule)),
                    format!("In {}, add an outbound allow rule for TCP 1024-65535 to {task_cidrs} numbered below {}", acl.id, rule_number(rule)),
                    true,
                );
            }
        }
        _ => unknowns.push(format!(
            "the task's address is not known, so {whose}'s rules for it cannot be judged"
        )),
    }
}

/// NAT → internet, and the replies back to the NAT's ports.
fn nat_internet_side(acl: &NetworkAclFacts, whose: &str, problems: &mut Vec<Problem>) {
    let public = IpSet::public_internet();
    let mut add = |text: String, fix: String, definite: bool| {
        problems.push(Problem {
            acl: acl.id.clone(),
            text,
            fix,
            definite,
        })
    };
    let out = evaluate_acl(&acl_rules(acl, true), &public, (443, 443));
    if !out.fully_allowed() {
        let (b, rule) = out.denied[0];
        let all = out.fully_denied();
        add(
            format!(
                "{whose} blocks outbound TCP 443 to public addresses{} ({})",
                if all {
                    String::new()
                } else {
                    format!(" for {}", describe_range(b.ips))
                },
                rule_name(rule)
            ),
            format!(
                "In {}, add an outbound allow rule for TCP 443 to 0.0.0.0/0 numbered below {}",
                acl.id,
                rule_number(rule)
            ),
            all,
        );
    }
    let back = evaluate_acl(&acl_rules(acl, false), &public, NAT_PORTS);
    if !back.fully_allowed() {
        let (b, rule) = back.denied[0];
        // Every public address has NAT ports denied: whichever address ECR answers from, the
        // replies (all, or those to the ports denied) are dropped. Only some addresses: a warning,
        // as for the task subnet (ECR's addresses are not known exactly).
        let denied_ips = IpSet::from_ranges(back.denied.iter().map(|(d, _)| d.ips));
        let definite = denied_ips.covers(&public);
        add(
            format!(
                "{whose} blocks the replies to the NAT gateway: inbound TCP {}-{} from {} ({}); the NAT gateway uses ports 1024-65535",
                b.ports.0,
                b.ports.1,
                if back.fully_denied() { "public addresses".to_string() } else { describe_range(b.ips) },
                rule_name(rule)
            ),
            format!("In {}, add an inbound allow rule for TCP 1024-65535 from 0.0.0.0/0 numbered below {}", acl.id, rule_number(rule)),
            definite,
        );
    }
}

fn rule_number(rule: Option<i32>) -> String {
    rule.map(|n| n.to_string())
        .unwrap_or_else(|| "32767".into())
}

/// Entries as the console lists them: inbound then outbound, by rule number.
fn sorted_entries(acl: &NetworkAclFacts) -> Vec<&crate::model::facts::NaclEntryFacts> {
    let mut v: Vec<_> = acl.entries.iter().collect();
    v.sort_by_key(|e| (e.egress, e.rule_number));
    v
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

fn rule_name(rule: Option<i32>) -> String {
    match rule {
        Some(n) => format!("rule {n}"),
        None => "the final implicit deny (*)".into(),
    }
}

fn judge(
    acl_id: &str,
    dest: &Dest,
    out: &AclVerdict,
    back: &AclVerdict,
    os_range: (u16, u16),
    problems: &mut Vec<Problem>,
) {
    if !out.fully_allowed() {
        let (b, rule) = out.denied[0];
        let all = out.fully_denied();
        problems.push(Problem {
            acl: acl_id.to_string(),
            text: format!(
                "Network ACL {acl_id} blocks outbound TCP 443 to {}{} ({})",
                dest.what,
                if all {
                    String::new()
                } else {
                    format!(" for {}", describe_range(b.ips))
                },
                rule_name(rule)
            ),
            fix: format!(
                "In {acl_id}, add an outbound allow rule for TCP 443 to {} numbered below {}",
                short_cidrs(&dest.ips),
                rule.map(|n| n.to_string())
                    .unwrap_or_else(|| "32767".into())
            ),
            definite: dest.exact || all,
        });
    }
    let denied_os = back.denied_in_ports(os_range);
    if !denied_os.is_empty() {
        let (b, rule) = denied_os[0];
        let all = back.fully_denied();
        problems.push(Problem {
            acl: acl_id.to_string(),
            text: format!(
                "Network ACL {acl_id} blocks the replies: inbound TCP {}-{} from {} is denied by {}",
                b.ports.0,
                b.ports.1,
                if all { dest.what.clone() } else { format!("{} ({})", describe_range(b.ips), dest.what) },
                rule_name(rule)
            ),
            fix: format!(
                "In {acl_id}, add an inbound allow rule for TCP 1024-65535 from {} numbered below {}",
                short_cidrs(&dest.ips),
                rule.map(|n| n.to_string()).unwrap_or_else(|| "32767".into())
            ),
            definite: dest.exact || all || covers_all(back, &dest.ips, os_range),
        });
    }
}

/// Every address in `ips` has its `ports` denied.
fn covers_all(v: &AclVerdict, ips: &IpSet, ports: (u16, u16)) -> bool {
    let denied = IpSet::from_ranges(
        v.denied_in_ports(ports)
            .iter()
            .filter(|(b, _)| b.ports.0 <= ports.0 && b.ports.1 >= ports.1)
            .map(|(b, _)| b.ips),
    );
    denied.covers(ips)
}

fn short_cidrs(ips: &IpSet) -> String {
    if IpSet::public_internet().minus(ips).is_empty() || ips.covers(&IpSet::public_internet()) {
        return "0.0.0.0/0".into();
    }
    let cidrs = ips.to_cidrs();
    if cidrs.len() > 4 {
        format!("{} (and {} more)", cidrs[..4].join(", "), cidrs.len() - 4)
    } else {
        cidrs.join(", ")
    }
}

/// The ACLs of subnets holding endpoint ENIs: they must admit 443 from the task and let the
/// replies out to its ephemeral ports.
fn endpoint_side(
    net: &Net,
    endpoint_id: &str,
    ips: &[(Ipv4Addr, Option<String>)],
    os_range: (u16, u16),
    problems: &mut Vec<Problem>,
    unknowns: &mut Vec<String>,
) {
    let others: Vec<&str> = ips
        .iter()
        .filter_map(|(_, s)| s.as_deref())
        .filter(|s| *s != net.subnet_id)
        .collect();
    if others.is_empty() {
        return;
    }
    let acls = match &net.n.endpoint_network_acls {
        Fact::Found { value } => value,
        other => {
            unknowns.push(format!(
                "network ACLs of endpoint {endpoint_id}'s subnets not read ({})",
                other.gap().unwrap_or("")
            ));
            return;
        }
    };
    let task = match (net.origin.private_ip, net.subnet_cidr()) {
        (Some(ip), _) => IpSet::from_ips([ip]),
        (None, Some(s)) => s,
        (None, None) => return,
    };
    for subnet in others {
        let Some(acl) = acls
            .iter()
            .find(|a| a.subnet_ids.iter().any(|s| s == subnet))
        else {
            continue;
        };
        let what = format!(
            "the {} (from endpoint {endpoint_id} in {subnet})",
            words(net.facts).task
        );
        let inbound = evaluate_acl(&acl_rules(acl, false), &task, (443, 443));
        if !inbound.fully_allowed() {
            let (_, rule) = inbound.denied[0];
            problems.push(Problem {
                acl: acl.id.clone(),
                text: format!(
                    "Network ACL {} of endpoint subnet {subnet} blocks inbound TCP 443 from the {} ({})",
                    acl.id,
                    words(net.facts).task,
                    rule_name(rule)
                ),
                fix: format!("In {}, add an inbound allow rule for TCP 443 from {}", acl.id, short_cidrs(&task)),
                definite: true,
            });
        }
        let outbound = evaluate_acl(&acl_rules(acl, true), &task, EPHEMERAL);
        let denied = outbound.denied_in_ports(os_range);
        if !denied.is_empty() {
            let (b, rule) = denied[0];
            problems.push(Problem {
                acl: acl.id.clone(),
                text: format!(
                    "Network ACL {} of endpoint subnet {subnet} blocks the replies: outbound TCP {}-{} to {} ({})",
                    acl.id, b.ports.0, b.ports.1, what, rule_name(rule)
                ),
                fix: format!("In {}, add an outbound allow rule for TCP 1024-65535 to {}", acl.id, short_cidrs(&task)),
                definite: true,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::network::fixtures::*;
    use crate::model::diagnosis::Status;
    use crate::model::facts::ErrorKind;

    fn with_entries(mut f: Facts, entries: Vec<crate::model::facts::NaclEntryFacts>) -> Facts {
        f.network.network_acl = Fact::found(NetworkAclFacts {
            entries,
            ..default_nacl()
        });
        f
    }

    /// A NAT gateway in the task's own subnet (its traffic with the task does not cross an ACL).
    fn nat_web_only_in_task_subnet() -> Facts {
        let mut f = fargate_nat();
        if let Fact::Found { value } = &mut f.network.nat_gateways {
            value[0].subnet_id = Some(SUBNET.into());
        }
        f.network.nat_route_tables = Fact::found(vec![crate::model::facts::RouteTableFacts {
            id: RT.into(),
            subnet_ids: vec![SUBNET.into()],
            routes: vec![route("0.0.0.0/0", IGW)],
            ..Default::default()
        }]);
        f
    }

    #[test]
    fn nacl_table() {
        let allow_all_out = nacl_entry(100, true, "-1", "allow", "0.0.0.0/0", None);
        let allow_all_in = nacl_entry(100, false, "-1", "allow", "0.0.0.0/0", None);
        let in_eph = |from: i32, to: i32| {
            nacl_entry(110, false, "6", "allow", "0.0.0.0/0", Some((from, to)))
        };
        let mut endpoint_same_subnet = with_entries(
            fargate_endpoints(),
            vec![nacl_entry(
                100,
                true,
                "6",
                "allow",
                "0.0.0.0/0",
                Some((443, 443)),
            )],
        );
        // Endpoint ENIs in the task's subnet: the ACL does not see that traffic; S3 still needs it.
        if let Fact::Found { value } = &mut endpoint_same_subnet.network.endpoint_enis {
            for e in value.iter_mut() {
                e.subnet_id = Some(SUBNET.into());
            }
        }
        let mut endpoint_subnet_blocks = fargate_endpoints();
        endpoint_subnet_blocks.network.endpoint_network_acls = Fact::found(vec![NetworkAclFacts {
            id: "acl-endpoints".into(),
            subnet_ids: vec!["subnet-endpoints".into()],
            entries: vec![nacl_entry(
                100,
                false,
                "6",
                "allow",
                "10.0.1.0/24",
                Some((443, 443)),
            )],
            ..Default::default()
        }]);
        let mut windows = with_entries(
            fargate_nat(),
            vec![allow_all_out.clone(), in_eph(49152, 65535)],
        );
        windows.task.platform_family = Some("WINDOWS_SERVER_2022_CORE".into());
        let mut unreadable = fargate_nat();
        unreadable.network.network_acl = Fact::Unreadable {
            reason: "AccessDenied: ec2:DescribeNetworkAcls".into(),
            kind: ErrorKind::AccessDenied,
        };
        let nat_acl = |entries: Vec<crate::model::facts::NaclEntryFacts>| {
            let mut f = fargate_nat();
            f.network.nat_network_acls = Fact::found(vec![NetworkAclFacts {
                id: ACL_PUBLIC.into(),
                is_default: false,
                subnet_ids: vec![PUBLIC_SUBNET.into()],
                entries,
            }]);
            f
        };
        // A public subnet's ACL written for a web server: 80/443 in, everything out.
        let web_in = || {
            vec![
                nacl_entry(100, false, "6", "allow", "0.0.0.0/0", Some((80, 80))),
                nacl_entry(110, false, "6", "allow", "0.0.0.0/0", Some((443, 443))),
            ]
        };
        let nat_web_only = nat_acl([web_in(), vec![allow_all_out.clone()]].concat());
        let nat_healthy = nat_acl(vec![
            nacl_entry(100, false, "6", "allow", "10.0.1.0/24", Some((443, 443))),
            nacl_entry(110, false, "6", "allow", "0.0.0.0/0", Some((1024, 65535))),
            nacl_entry(100, true, "6", "allow", "0.0.0.0/0", Some((443, 443))),
            nacl_entry(110, true, "6", "allow", "10.0.1.0/24", Some((1024, 65535))),
        ]);
        let nat_no_way_back = nat_acl(
            [
                vec![allow_all_in.clone()],
                vec![nacl_entry(
                    100,
                    true,
                    "6",
                    "allow",
                    "0.0.0.0/0",
                    Some((443, 443)),
                )],
            ]
            .concat(),
        );
        let nat_half_ports = nat_acl(
            [vec![
                allow_all_out.clone(),
                nacl_entry(100, false, "6", "allow", "0.0.0.0/0", Some((443, 443))),
                nacl_entry(110, false, "6", "allow", "0.0.0.0/0", Some((32768, 65535))),
            ]]
            .concat(),
        );
        let mut nat_acl_unreadable = fargate_nat();
        nat_acl_unreadable.network.nat_network_acls = Fact::Unreadable {
            reason: "Throttled: ec2:DescribeNetworkAcls".into(),
            kind: ErrorKind::Throttled,
        };
        let mut nat_in_task_subnet = nat_web_only_in_task_subnet();
        nat_in_task_subnet.network.nat_network_acls = Fact::found(vec![]);

        // (name, facts, status, text)
        let cases: Vec<(&str, Facts, Status, &str)> = vec![
            ("default ACL", fargate_nat(), Status::Pass, ""),
            (
                "outbound 443 denied",
                with_entries(
                    fargate_nat(),
                    vec![
                        nacl_entry(100, true, "6", "allow", "0.0.0.0/0", Some((80, 80))),
                        allow_all_in.clone(),
                    ],
                ),
                Status::Fail,
                "outbound TCP 443",
            ),
            (
                "inbound ephemeral missing",
                with_entries(
                    fargate_nat(),
                    vec![
                        allow_all_out.clone(),
                        nacl_entry(100, false, "6", "allow", "0.0.0.0/0", Some((443, 443))),
                    ],
                ),
                Status::Fail,
                "1024-65535",
            ),
            (
                "deny 90 before allow 100",
                with_entries(
                    fargate_nat(),
                    vec![
                        allow_all_out.clone(),
                        allow_all_in.clone(),
                        nacl_entry(90, false, "6", "deny", "0.0.0.0/0", Some((1024, 65535))),
                    ],
                ),
                Status::Fail,
                "rule 90",
            ),
            (
                "allow 90 before deny 100",
                with_entries(
                    fargate_nat(),
                    vec![
                        allow_all_out.clone(),
                        nacl_entry(90, false, "-1", "allow", "0.0.0.0/0", None),
                        nacl_entry(100, false, "6", "deny", "0.0.0.0/0", Some((1024, 65535))),
                    ],
                ),
                Status::Pass,
                "",
            ),
            (
                "Linux range only (32768-60999) is enough",
                with_entries(
                    fargate_nat(),
                    vec![allow_all_out.clone(), in_eph(32768, 60999)],
                ),
                Status::Pass,
                "",
            ),
            (
                "1024-32767 only is not",
                with_entries(
                    fargate_nat(),
                    vec![allow_all_out.clone(), in_eph(1024, 32767)],
                ),
                Status::Fail,
                "32768",
            ),
            ("Windows range", windows, Status::Pass, ""),
            (
                "inbound only from part of the internet",
                with_entries(
                    fargate_nat(),
                    vec![
                        allow_all_out.clone(),
                        nacl_entry(100, false, "6", "allow", "52.0.0.0/8", Some((1024, 65535))),
                    ],
                ),
                Status::Warn,
                "implicit deny",
            ),
            (
                "S3 prefix list exact: one CIDR missing",
                with_entries(
                    fargate_endpoints(),
                    vec![
                        allow_all_out.clone(),
                        nacl_entry(100, false, "6", "allow", "10.0.0.0/16", Some((1024, 65535))),
                        nacl_entry(
                            101,
                            false,
                            "6",
                            "allow",
                            "52.216.0.0/15",
                            Some((1024, 65535)),
                        ),
                    ],
                ),
                Status::Fail,
                "S3 prefix list",
            ),
            (
                "endpoint in the task's subnet: only S3 counts",
                endpoint_same_subnet,
                Status::Fail,
                "S3 prefix list",
            ),
            (
                "endpoint subnet ACL blocks the replies",
                endpoint_subnet_blocks,
                Status::Fail,
                "acl-endpoints",
            ),
            ("unreadable", unreadable, Status::Unknown, "AccessDenied"),
            (
                "NAT subnet ACL admits only 80/443 inbound",
                nat_web_only,
                Status::Fail,
                "acl-public of NAT gateway nat-1's subnet subnet-public blocks the replies",
            ),
            (
                "NAT subnet ACL as AWS recommends",
                nat_healthy,
                Status::Pass,
                "",
            ),
            (
                "NAT subnet ACL: no way back out to the task",
                nat_no_way_back,
                Status::Fail,
                "outbound TCP 32768-60999 to 10.0.1.25/32",
            ),
            (
                "NAT subnet ACL: only half the NAT's ports",
                nat_half_ports,
                Status::Fail,
                "1024-32767",
            ),
            (
                "NAT subnet ACL unreadable",
                nat_acl_unreadable,
                Status::Unknown,
                "Throttled",
            ),
            (
                "NAT in the task's own subnet: no second ACL",
                nat_in_task_subnet,
                Status::Pass,
                "",
            ),
        ];
        for (name, f, status, needle) in cases {
            let got = check_nacl(&f);
            assert_eq!(got.len(), 1, "{name}: {got:#?}");
            if name.starts_with("NAT subnet ACL") && status == Status::Fail {
                assert_eq!(
                    got[0].resource.as_deref(),
                    Some(ACL_PUBLIC),
                    "{name}: the NAT subnet's ACL is at fault"
                );
            }
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
}
