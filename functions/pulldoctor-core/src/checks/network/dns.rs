//! Name resolution: the VPC's DHCP options and DNS support.

use std::net::Ipv4Addr;

use serde_json::json;

use super::console;
use super::ipset::IpSet;
use super::path::Net;
use super::security_groups::allowed;
use super::with_net;
use crate::checks::rule::{Doc, Phases, Rule, Stage, EVERYWHERE};
use crate::checks::wording::words;
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{Fact, Facts};
use crate::model::message::Category;

const AMAZON_DNS: &str = "AmazonProvidedDNS";

pub const VPC_DNS: Rule = Rule {
    code: RootCause::NetDns,
    name: "vpc_dns",
    title: "The VPC's DNS setup may not resolve ECR",
    stage: Stage::Reach,
    explains: &[Category::Network],
    phases: Phases::Any,
    scope: EVERYWHERE,
    reads: &[
        &["ec2:DescribeVpcs", "ec2:DescribeDhcpOptions", "ec2:DescribeVpcAttribute", "ec2:DescribeSecurityGroups"],
    ],
    doc: Doc {
        what: "the DHCP options use custom DNS servers, or DNS resolution is disabled for the VPC",
        why: "Every pull starts with name lookups: the ECR API, the registry and the S3 layer bucket. With DNS \
             resolution (enableDnsSupport) off, the VPC resolver answers nothing and no name resolves. Custom \
             DNS servers in the DHCP options must forward AWS names to the VPC resolver, or the private DNS \
             names of interface endpoints resolve to public addresses; the task must also be allowed to reach \
             those servers on port 53. The pull then fails on a lookup or times out.",
        fix: "Turn on DNS resolution for the VPC, or set the DHCP options back to AmazonProvidedDNS. With your \
             own DNS servers, forward amazonaws.com (at least the ECR, S3 and endpoint names) to the VPC \
             resolver (the VPC CIDR base + 2) and allow UDP and TCP 53 out to those servers.",
        reference: "https://docs.aws.amazon.com/vpc/latest/userguide/vpc-dns.html",
    },
    run: check_dns,
};

/// The check of [`VPC_DNS`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_dns(facts: &Facts) -> Vec<Finding> {
    with_net(facts, |net| {
        let code = RootCause::NetDns;
        let Some(vpc_id) = net.vpc_id() else {
            return vec![];
        };
        let dhcp = match &net.n.dhcp_options {
            Fact::Found { value } => value,
            other => {
                return vec![Finding::unknown(
                    code,
                    format!("Could not read the DHCP options of {vpc_id}"),
                    other.gap().unwrap_or(""),
                )
                .resource(vpc_id)]
            }
        };
        let servers = &dhcp.domain_name_servers;
        let custom: Vec<&String> = servers
            .iter()
            .filter(|s| !s.eq_ignore_ascii_case(AMAZON_DNS))
            .collect();
        if custom.is_empty() {
            return vec![resolver(net, &vpc_id, Some(&dhcp.id))];
        }
        let url = console::dhcp_options(&net.region, &dhcp.id);
        let amazon_too = custom.len() < servers.len();
        let base = Finding::warn(
            code,
            format!(
                "{vpc_id} uses custom DNS servers ({}){}",
                custom.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                if amazon_too { " alongside AmazonProvidedDNS" } else { "" }
            ),
        )
        .remediation(format!(
            "Make sure the DNS servers in DHCP options {} forward amazonaws.com (at least the ECR, S3 and endpoint names) to \
             the VPC resolver ({}), so names resolve to your VPC endpoints; or use AmazonProvidedDNS.",
            dhcp.id,
            vpc_resolver(net).unwrap_or_else(|| "the VPC CIDR base + 2, or 169.254.169.253".into())
        ));
        // Can the task reach the custom servers at all?
        let reachable = custom_servers_reachable(net, &custom);
        let finding = match reachable {
            Some(false) => Finding::fail(
                code,
                format!(
                    "The {}'s security groups do not allow DNS (port 53) to the VPC's custom DNS servers {}",
                    net.origin.label,
                    custom.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )
            .remediation(format!(
                "Allow UDP and TCP 53 out to {} in the {} security groups, or switch DHCP options {} to AmazonProvidedDNS.",
                custom.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                words(net.facts).tasks,
                dhcp.id
            )),
            _ => base,
        };
        vec![finding
            .resource(dhcp.id.clone())
            .evidence("dhcp_options", dhcp.id.as_str())
            .evidence("domain_name_servers", json!(servers))
            .console_url(url)]
    })
}

fn resolver(net: &Net, vpc_id: &str, dhcp_id: Option<&str>) -> Finding {
    let code = RootCause::NetDns;
    let url = console::vpc_details(&net.region, vpc_id);
    let f = match &net.n.dns_support {
        Fact::Found { value: false } => Finding::fail(code, format!("DNS resolution is turned off for {vpc_id}: the VPC resolver answers nothing"))
            .remediation(format!(
                "Turn on DNS resolution: aws ec2 modify-vpc-attribute --vpc-id {vpc_id} --enable-dns-support \"{{\\\"Value\\\":true}}\""
            )),
        Fact::Found { value: true } => Finding::pass(code, format!("{vpc_id} uses the Amazon-provided DNS resolver")),
        other => Finding::unknown(code, format!("Could not read {vpc_id}'s DNS support setting"), other.gap().unwrap_or("")),
    };
    f.resource(vpc_id.to_string())
        .evidence("dhcp_options", dhcp_id)
        .evidence("domain_name_servers", AMAZON_DNS)
        .console_url(url)
}

/// The VPC resolver address: the primary VPC CIDR's base + 2.
fn vpc_resolver(net: &Net) -> Option<String> {
    let vpc = net.n.vpc.value()?;
    let net4 = super::ipset::parse_net(vpc.cidrs.first()?)?;
    Some(Ipv4Addr::from(u32::from(net4.network()) + 2).to_string())
}

/// `Some(false)` when the security groups allow port 53 (UDP or TCP) to none of the servers.
fn custom_servers_reachable(net: &Net, servers: &[&String]) -> Option<bool> {
    let groups = net.n.security_groups.value()?;
    net.origin.security_groups.value()?;
    let ips: Vec<Ipv4Addr> = servers.iter().filter_map(|s| s.parse().ok()).collect();
    if ips.is_empty() {
        return None;
    }
    let resolver = vpc_resolver(net);
    let mut any = false;
    for proto in ["udp", "tcp"] {
        let rules = allowed(groups, true, proto, 53);
        if !rules.groups.is_empty() || !rules.prefix_lists.is_empty() {
            // A server could sit behind a referenced group or prefix list: cannot tell.
            return None;
        }
        any |= ips.iter().any(|ip| {
            rules.cidrs.contains(*ip)
                || Some(ip.to_string()) == resolver
                || IpSet::from_cidrs(["169.254.169.253/32"]).contains(*ip)
        });
    }
    Some(any)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::network::fixtures::*;
    use crate::model::diagnosis::Status;
    use crate::model::facts::DhcpOptionsFacts;
    use crate::model::facts::ErrorKind;

    fn servers(mut f: Facts, list: &[&str]) -> Facts {
        f.network.dhcp_options = Fact::found(DhcpOptionsFacts {
            id: "dopt-1".into(),
            domain_name_servers: list.iter().map(|s| s.to_string()).collect(),
        });
        f
    }

    #[test]
    fn dns_table() {
        let mut https_only = servers(fargate_nat(), &["10.0.0.53"]);
        https_only.network.security_groups = Fact::found(vec![sg(
            SG_TASK,
            vec![],
            vec![crate::model::facts::SgRuleFacts {
                cidrs: vec!["0.0.0.0/0".into()],
                ..rule("tcp", 443, 443)
            }],
        )]);
        let mut amazon_https_only = fargate_nat();
        amazon_https_only.network.security_groups = https_only.network.security_groups.clone();
        let mut default_set = fargate_nat();
        default_set.network.dhcp_options = Fact::found(DhcpOptionsFacts {
            id: "default".into(),
            domain_name_servers: vec![],
        });
        let mut unreadable = fargate_nat();
        unreadable.network.dhcp_options = Fact::Unreadable {
            reason: "AccessDenied: ec2:DescribeDhcpOptions".into(),
            kind: ErrorKind::AccessDenied,
        };
        let mut support_off = fargate_nat();
        support_off.network.dns_support = Fact::found(false);
        let cases: Vec<(&str, Facts, Status)> = vec![
            ("AmazonProvidedDNS", fargate_nat(), Status::Pass),
            ("no DHCP options set", default_set, Status::Pass),
            // Security groups never filter the Amazon resolver: no port-53 rule needed.
            (
                "AmazonProvidedDNS, egress 443 only",
                amazon_https_only,
                Status::Pass,
            ),
            (
                "custom servers",
                servers(fargate_nat(), &["10.0.0.53", "10.0.0.54"]),
                Status::Warn,
            ),
            (
                "custom alongside Amazon",
                servers(fargate_nat(), &["AmazonProvidedDNS", "10.0.0.53"]),
                Status::Warn,
            ),
            ("custom servers, SG blocks 53", https_only, Status::Fail),
            ("DNS support off", support_off, Status::Fail),
            ("unreadable", unreadable, Status::Unknown),
        ];
        for (name, f, status) in cases {
            let got = check_dns(&f);
            assert_eq!(got.len(), 1, "{name}");
            assert_eq!(got[0].status, status, "{name}: {got:#?}");
        }
    }
}
