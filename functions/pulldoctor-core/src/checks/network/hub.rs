//! Hub-and-spoke endpoints: many organisations centralise the interface endpoints in a hub VPC
//! reached over a transit gateway (or a peering connection, or a VPN), turn private DNS off there,
//! and make the spoke VPCs resolve the ECR and S3 names to the hub's endpoints with Route 53
//! private hosted zones associated with the spokes (often owned by the network account) or with
//! Resolver forwarding rules to the hub's resolvers.
//!
//! For such a spoke, "no NAT and no endpoints here" is not a broken path: the names resolve to
//! private addresses in the hub and leave through the route to the hub. This module finds, for
//! each leg of the pull, what decides where its name resolves ([`resolution`]: the most specific
//! private hosted zone or Resolver rule, rules winning a tie, as the VPC resolver does) and the
//! routes that leave the VPC through a target this tool cannot see past ([`hub_routes`]). The route
//! check then says `warn` (verify in the hub), never `fail`, for the legs the hub serves; the zone's
//! records, in another account, are usually unreadable, so they are never guessed.

use serde_json::json;

use super::console;
use super::legs::{any_ecr_interface_endpoint, Internet, Leg, Net, Service, Via};
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{
    dns_name, name_within, EndpointFacts, Fact, Facts, Known, NetworkFacts, PrivateZoneFacts,
    ResolverRuleFacts, RouteFacts, RouteTableFacts,
};

/// The reads that show where the VPC resolves names, to grant when they were denied.
const GRANT: &str = "route53:ListHostedZonesByVPC, route53resolver:ListResolverRuleAssociations and route53resolver:GetResolverRule";

/// What answers for a name in the VPC instead of the public DNS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolution<'a> {
    /// A private hosted zone associated with the VPC holds the name (or returns NXDOMAIN for it).
    Zone(&'a PrivateZoneFacts),
    /// A Resolver forwarding rule sends the query to other DNS servers.
    Forward(&'a ResolverRuleFacts),
}

impl Resolution<'_> {
    pub fn describe(&self) -> String {
        match self {
            Resolution::Zone(z) => {
                format!("private hosted zone {} ({}, {})", z.name, z.id, owner(z))
            }
            Resolution::Forward(r) => format!(
                "Resolver rule {}({}, FORWARD {} to {}, owner {})",
                r.name
                    .as_deref()
                    .map(|n| format!("{n} "))
                    .unwrap_or_default(),
                r.id,
                r.domain_name.as_deref().unwrap_or("?"),
                if r.target_ips.is_empty() {
                    "its resolver endpoint".to_string()
                } else {
                    r.target_ips.join(", ")
                },
                r.owner_id.as_deref().unwrap_or("unknown")
            ),
        }
    }
}

fn owner(z: &PrivateZoneFacts) -> String {
    match (&z.owner_account, &z.owner_service) {
        (Some(a), _) => format!("owner account {a}"),
        (None, Some(s)) => format!("owned by {s}"),
        (None, None) => "owner not returned".to_string(),
    }
}

fn labels(domain: &str) -> usize {
    if domain == "." {
        0
    } else {
        domain.split('.').count()
    }
}

/// Does the association apply now? (`CREATING`, `DELETING`, `FAILED`, `OVERRIDDEN` do not.)
fn effective(rule: &ResolverRuleFacts) -> bool {
    rule.association_status
        .as_deref()
        .is_none_or(|s| s.eq_ignore_ascii_case("COMPLETE"))
}

/// What decides where `host` resolves in the VPC: `Yes(None)` = the public DNS (or the VPC's own
/// endpoints' private DNS); `Unknown` when a read needed to tell failed. The most specific domain
/// wins; on a tie a Resolver rule wins over a private hosted zone; a SYSTEM rule hands the name
/// back to the VPC resolver (its private hosted zones, else the public DNS).
pub fn resolution<'a>(n: &'a NetworkFacts, host: &str) -> Known<Option<Resolution<'a>>> {
    let host = dns_name(host);
    let zone = match &n.private_zones {
        Fact::Found { value } => value
            .iter()
            .filter(|z| name_within(&host, &z.name))
            .max_by_key(|z| labels(&z.name)),
        Fact::Unreadable { reason, .. } => {
            return Known::Unknown(format!("private hosted zones could not be read ({reason})"))
        }
        _ => None,
    };
    let rules = match &n.resolver_rules {
        Fact::Found { value } => value.iter().filter(|r| effective(r)).collect::<Vec<_>>(),
        Fact::Unreadable { reason, .. } => {
            return Known::Unknown(format!("Resolver rules could not be read ({reason})"))
        }
        _ => vec![],
    };
    if let Some(r) = rules.iter().find(|r| r.unreadable.is_some()) {
        return Known::Unknown(format!(
            "Resolver rule {} could not be read ({})",
            r.id,
            r.unreadable.as_deref().unwrap_or("")
        ));
    }
    let rule = rules
        .iter()
        .filter(|r| {
            r.domain_name
                .as_deref()
                .is_some_and(|d| name_within(&host, d))
        })
        .max_by_key(|r| labels(r.domain_name.as_deref().unwrap_or(".")));
    let zone_labels = zone.map(|z| labels(&z.name));
    match rule {
        Some(r) if Some(labels(r.domain_name.as_deref().unwrap_or("."))) >= zone_labels => {
            if r.rule_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("FORWARD"))
            {
                Known::Yes(Some(Resolution::Forward(r)))
            } else {
                // SYSTEM / RECURSIVE: the VPC resolver answers itself.
                Known::Yes(zone.map(Resolution::Zone))
            }
        }
        _ => Known::Yes(zone.map(Resolution::Zone)),
    }
}

/// Active routes that leave the VPC through a target this tool cannot see past: transit gateway,
/// peering connection, virtual private gateway, network interface or instance, Gateway Load
/// Balancer endpoint, Cloud WAN core network, local gateway.
pub fn hub_routes(rt: &RouteTableFacts) -> Vec<&RouteFacts> {
    rt.routes
        .iter()
        .filter(|r| r.state.as_deref() != Some("blackhole"))
        .filter(|r| r.destination.is_some() || r.destination_prefix_list.is_some())
        .filter(|r| {
            let t = r.target.as_str();
            ["tgw-", "pcx-", "vgw-", "eni-", "i-", "lgw-", "arn:"].iter().any(|p| t.starts_with(p))
                // A vpce- target with a CIDR destination is a Gateway Load Balancer endpoint; with a
                // prefix-list destination it is a gateway endpoint (S3, DynamoDB), which is not a way out.
                || (t.starts_with("vpce-") && r.destination.is_some())
        })
        .collect()
}

fn route_text(r: &RouteFacts) -> String {
    format!(
        "{} → {} ({})",
        r.destination
            .as_deref()
            .or(r.destination_prefix_list.as_deref())
            .unwrap_or("?"),
        r.target,
        r.state.as_deref().unwrap_or("active")
    )
}

/// The path hook: a leg that would go to public addresses but whose name a private hosted zone or
/// a Resolver rule answers goes wherever those answers point, which this VPC does not show:
/// [`Via::Unknown`] with the reason (the filter checks then say `unknown` for it, not `fail`).
/// When the reads failed and a route to a hub exists, the leg is unknown too.
pub fn redirect<'a>(n: &'a NetworkFacts, service: Service, host: &str, via: Via<'a>) -> Via<'a> {
    let Via::Internet { note } = &via else {
        return via;
    };
    if service.endpoint_suffix().is_none() {
        return via;
    }
    let note = note
        .as_deref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    match resolution(n, host) {
        Known::Yes(Some(r)) => Via::Unknown(format!(
            "{host} is answered by {}{note}: it resolves to the addresses that answer gives (usually a hub VPC's endpoints), which this VPC does not show",
            r.describe()
        )),
        Known::Unknown(why) if n.route_table.value().is_some_and(|rt| !hub_routes(rt).is_empty()) => {
            Via::Unknown(format!("could not tell where {host} resolves: {why}{note}"))
        }
        _ => via,
    }
}

/// The pull as a hub spoke sees it.
struct Hub<'n, 'a> {
    /// Legs whose names the private DNS answers.
    served: Vec<(&'n Leg<'a>, Resolution<'a>)>,
    /// Legs for which the private DNS could not be read.
    unreadable: Vec<(&'n Leg<'a>, String)>,
    /// Legs resolving to public addresses (no endpoint here, no private answer).
    public: Vec<&'n Leg<'a>>,
    routes: Vec<&'a RouteFacts>,
}

fn hub<'n, 'a>(net: &'n Net<'a>) -> Option<Hub<'n, 'a>> {
    if !matches!(
        net.internet,
        Internet::Closed { .. } | Internet::Unseeable { .. }
    ) {
        return None;
    }
    let routes = hub_routes(net.route_table?);
    if routes.is_empty() {
        return None;
    }
    let mut h = Hub {
        served: vec![],
        unreadable: vec![],
        public: vec![],
        routes,
    };
    for leg in &net.legs {
        match &leg.via {
            Via::Unknown(_) => match resolution(net.n, &leg.host) {
                Known::Yes(Some(r)) => h.served.push((leg, r)),
                Known::Unknown(why) => h.unreadable.push((leg, why)),
                Known::Yes(None) => {}
            },
            Via::Internet { .. } => h.public.push(leg),
            _ => {}
        }
    }
    (!h.served.is_empty() || !h.unreadable.is_empty()).then_some(h)
}

/// Does the hub judgement replace the plain routing verdicts for this pull? (The endpoint check
/// then leaves out the legs the hub serves.)
pub fn judges(net: &Net) -> bool {
    hub(net).is_some()
}

/// Is this leg served by the VPC's private DNS (a zone or a forwarding rule)?
pub fn served_privately(net: &Net, leg: &Leg) -> bool {
    matches!(leg.via, Via::Unknown(_))
        && matches!(resolution(net.n, &leg.host), Known::Yes(Some(_)))
}

/// NET_NO_ROUTE for a hub spoke — the subnet has no public path of its own (no default route, or
/// one to a transit gateway, peering connection or VPN), and a private hosted zone or a Resolver
/// forwarding rule associated with the VPC answers for the ECR / S3 names, while a route leaves
/// the VPC through a target this tool cannot see past. That is how hub-and-spoke endpoints work:
/// the verdict is `warn`, citing the zone or rule (name, id, owner) and the route, with what to
/// verify in the hub (records, the hub's routes back, the endpoints' security groups) — never
/// `fail`. A name no private DNS serves still needs a public path: without one it is a `fail`. A
/// private DNS that could not be read is `unknown`, with the reads to grant. `None` when this is
/// not a hub spoke (the plain route check judges).
pub fn check_hub_route(facts: &Facts) -> Option<Vec<Finding>> {
    let net = Net::new(facts).ok()?;
    let h = hub(&net)?;
    let code = RootCause::NetNoRoute;
    let rt = net.route_table_id();
    let vpc = net.vpc_id().unwrap_or_else(|| "the VPC".into());
    let subnet_cidr = net
        .n
        .subnet
        .value()
        .and_then(|s| s.cidr.clone())
        .unwrap_or_else(|| format!("subnet {}", net.subnet_id));
    let routes: Vec<String> = h.routes.iter().map(|r| route_text(r)).collect();
    let targets: Vec<&str> = dedup(h.routes.iter().map(|r| r.target.as_str()).collect());
    let served: Vec<String> = h
        .served
        .iter()
        .map(|(l, r)| format!("{} → {}", l.host, r.describe()))
        .collect();
    let public_hosts: Vec<String> = h
        .public
        .iter()
        .map(|l| format!("{} ({})", l.service.label(), l.host))
        .collect();
    let closed = match &net.internet {
        Internet::Closed { reason } => Some(reason.clone()),
        _ => None,
    };
    // A public leg with an endpoint here (unassociated, pending…) is NET_ENDPOINT_MISSING's to
    // name — but that check judges only VPCs with an ECR interface endpoint of their own (a
    // partial endpoint set); in a spoke whose ECR endpoints are in the hub, the leg is named here.
    let local_endpoint = h.public.iter().any(|l| {
        l.endpoint_service(&net.region)
            .is_some_and(|s| !net.endpoints_for(&s).is_empty())
    });
    let named_by_endpoint_check = local_endpoint && any_ecr_interface_endpoint(&net);
    let f = match &closed {
        // Names nobody serves privately need a public path, and there is none.
        Some(reason) if !h.public.is_empty() && !named_by_endpoint_check => {
            unserved_public_legs(&net, &h, reason, &public_hosts)
        }
        _ if !h.unreadable.is_empty() || h.served.is_empty() => {
            let why = dedup(h.unreadable.iter().map(|(_, w)| w.as_str()).collect()).join("; ");
            let hosts: Vec<&str> = h.unreadable.iter().map(|(l, _)| l.host.as_str()).collect();
            Finding::unknown(
                code,
                format!(
                    "Could not tell whether subnet {} reaches {} through a hub ({}): where {vpc} resolves these names is unknown",
                    net.subnet_id,
                    hosts.join(", "),
                    routes.join(", ")
                ),
                format!("{why}. Grant {GRANT} to pulldoctor's role."),
            )
        }
        _ => {
            let f = served_warn(&net, &h, &targets, &subnet_cidr);
            match &net.internet {
                Internet::Unseeable { verify, .. } if !h.public.is_empty() => f
                    .evidence("public_legs", json!(public_hosts))
                    .evidence("verify_public", verify.as_str()),
                _ => f,
            }
        }
    };
    let url = net
        .route_table
        .map(|t| console::route_table(&net.region, &t.id));
    let mut f = f
        .resource(net.subnet_id.clone())
        .evidence("subnet", net.subnet_id.as_str())
        .evidence("route_table", rt.as_str())
        .evidence("routes_out_of_the_vpc", json!(routes))
        .evidence("pull_path", net.legs_evidence());
    if !served.is_empty() {
        f = f.evidence("private_dns", json!(served));
    }
    if let Some(u) = url {
        f = f.console_url(u);
    }
    Some(vec![f])
}

/// Names nobody serves privately need a public path, and there is none.
fn unserved_public_legs(net: &Net, h: &Hub, reason: &str, public_hosts: &[String]) -> Finding {
    let code = RootCause::NetNoRoute;
    let rt = net.route_table_id();
    let vpc = net.vpc_id().unwrap_or_else(|| "the VPC".into());
    let fixes: Vec<String> = h
        .public
        .iter()
        .map(|l| match (l.service, l.endpoint_service(&net.region)) {
            (Service::S3, Some(s)) => format!(
                "create the gateway endpoint {s} in {vpc} and associate it with route table {rt} (a gateway endpoint \
                 cannot be used through a transit gateway), or have the hub serve {} privately",
                l.host
            ),
            (_, Some(s)) => format!(
                "associate the hub's private hosted zone for {} with {vpc} (as for the other ECR names), or create the \
                 interface endpoint {s} in {vpc}",
                l.host
            ),
            _ => format!("give {} a public path (NAT gateway)", l.host),
        })
        .collect();
    Finding::fail(
        code,
        format!(
            "Subnet {} has no way to {}: no private hosted zone or Resolver rule of {vpc} answers for it, so it resolves \
             to public addresses, and {reason}",
            net.subnet_id,
            public_hosts.join(", ")
        ),
    )
    .evidence("reason", reason)
    .remediation(format!("{}; or add a 0.0.0.0/0 route to a NAT gateway in {rt}.", capitalize(&fixes.join("; "))))
}

/// The `warn` for the legs the hub serves.
fn served_warn(net: &Net, h: &Hub, targets: &[&str], subnet_cidr: &str) -> Finding {
    let via = targets.join(", ");
    let answers: Vec<Resolution> = dedup_res(h.served.iter().map(|(_, r)| *r).collect());
    let names: Vec<&str> = h.served.iter().map(|(l, _)| l.host.as_str()).collect();
    let services: Vec<&str> = h.served.iter().map(|(l, _)| l.service.label()).collect();
    let mut checks = vec![];
    let mut records = vec![];
    for r in &answers {
        match r {
            Resolution::Zone(z) => {
                let hosts: Vec<&str> = h
                    .served
                    .iter()
                    .filter(|(_, x)| x == r)
                    .map(|(l, _)| l.host.as_str())
                    .collect();
                let mine = net.facts.account.is_some() && z.owner_account == net.facts.account;
                records.push(format!(
                    "zone {} ({}): records not read{}",
                    z.name,
                    z.id,
                    if mine {
                        ""
                    } else {
                        "; it belongs to another account, whose records this account cannot read"
                    }
                ));
                let exact = hosts.iter().all(|h| dns_name(h) == z.name);
                checks.push(format!(
                    "private hosted zone {} ({}, {}) holds records for {} pointing at the hub's interface endpoints{}",
                    z.name,
                    z.id,
                    owner(z),
                    hosts.join(", "),
                    if exact {
                        String::new()
                    } else {
                        format!(" (those names or a wildcard *.{}: the zone answers every name below it, and one it lacks does not resolve at all)", z.name)
                    }
                ));
            }
            Resolution::Forward(rule) => {
                let hosts: Vec<&str> = h
                    .served
                    .iter()
                    .filter(|(_, x)| x == r)
                    .map(|(l, _)| l.host.as_str())
                    .collect();
                checks.push(format!(
                    "the DNS servers {} behind Resolver rule {} (owner {}) answer {} with the hub endpoints' private addresses",
                    if rule.target_ips.is_empty() { "of its resolver endpoint".to_string() } else { rule.target_ips.join(", ") },
                    rule.id,
                    rule.owner_id.as_deref().unwrap_or("unknown"),
                    hosts.join(", ")
                ));
            }
        }
    }
    checks.push(format!(
        "{via} carries traffic from {subnet_cidr} to the hub VPC and the hub's route tables send {subnet_cidr} back the same way"
    ));
    checks.push(format!(
        "the hub endpoints' security groups admit TCP 443 from {subnet_cidr}"
    ));
    let mut f = Finding::warn(
        RootCause::NetNoRoute,
        format!(
            "Subnet {} reaches the {} through {via}: {} answer{} for their names; this tool cannot see past {via}",
            net.subnet_id,
            services.join(", "),
            summary(&answers),
            if answers.len() == 1 { "s" } else { "" }
        ),
    )
    .evidence("verify", json!(checks))
    .remediation(format!(
        "Verify in the hub: {}. Names: {}.",
        checks.iter().enumerate().map(|(i, c)| format!("({}) {c}", i + 1)).collect::<Vec<_>>().join("; "),
        names.join(", ")
    ));
    if !records.is_empty() {
        f = f.evidence("zone_records", json!(records));
    }
    f
}

/// NET_ENDPOINT_DNS for a VPC whose endpoints have private DNS off on purpose: a private hosted
/// zone or forwarding rule answers for their names (the hub VPC itself, or a spoke with its own
/// endpoints behind a shared zone). Then the names resolve wherever the zone says, usually these
/// endpoints: a `warn` naming the zone, not a `fail`. `None` when some endpoint's name is not
/// served that way (the plain private-DNS verdict stands).
pub fn endpoint_dns_served(net: &Net, broken: &[&EndpointFacts]) -> Option<Finding> {
    let mut served = vec![];
    for e in broken {
        let leg = net.legs.iter().find(|l| {
            l.endpoint_service(&net.region)
                .is_some_and(|s| net.endpoints_for(&s).iter().any(|x| x.id == e.id))
        })?;
        let Known::Yes(Some(r)) = resolution(net.n, &leg.host) else {
            return None;
        };
        served.push(format!("{} ({}) → {}", leg.host, e.id, r.describe()));
    }
    let ids: Vec<&str> = broken.iter().map(|e| e.id.as_str()).collect();
    Some(
        Finding::warn(
            RootCause::NetEndpointDns,
            format!("Private DNS is off on {}, but the VPC's private DNS answers for their names", ids.join(", ")),
        )
        .resource(ids[0].to_string())
        .evidence("private_dns", json!(served))
        .remediation(format!(
            "Verify that the zone or rule answers each name with the endpoint's addresses (an alias to the endpoint's \
             regional DNS name; for the registry a wildcard *.dkr.ecr.{r}.amazonaws.com, for S3 *.s3.{r}.amazonaws.com). \
             Or turn private DNS on for {} and drop the zone.",
            ids.join(", "),
            r = net.region
        ))
        .console_url(console::endpoint(&net.region, ids[0])),
    )
}

/// `private hosted zones a, b (account X)` / `Resolver rule r (rslvr-rr-1, owner X)`, for titles.
fn summary(answers: &[Resolution]) -> String {
    let zones: Vec<&PrivateZoneFacts> = answers
        .iter()
        .filter_map(|r| {
            if let Resolution::Zone(z) = r {
                Some(*z)
            } else {
                None
            }
        })
        .collect();
    let mut parts = vec![];
    if !zones.is_empty() {
        let owners = dedup(zones.iter().map(|z| owner(z)).collect());
        parts.push(format!(
            "private hosted zone{} {} ({})",
            if zones.len() > 1 { "s" } else { "" },
            zones
                .iter()
                .map(|z| z.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            owners.join("; ")
        ));
    }
    for r in answers {
        if let Resolution::Forward(rule) = r {
            parts.push(format!(
                "Resolver rule {} ({}, forwarding {}, owner {})",
                rule.name.as_deref().unwrap_or(&rule.id),
                rule.id,
                rule.domain_name.as_deref().unwrap_or("?"),
                rule.owner_id.as_deref().unwrap_or("unknown")
            ));
        }
    }
    parts.join(" and ")
}

fn dedup<T: PartialEq>(v: Vec<T>) -> Vec<T> {
    let mut out = vec![];
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

fn dedup_res(v: Vec<Resolution>) -> Vec<Resolution> {
    dedup(v)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::network::fixtures::*;
    use crate::checks::network::{endpoints, route, security_groups};
    use crate::model::diagnosis::Status;
    use crate::model::facts::ErrorKind;

    const HUB_ACCOUNT: &str = "999988887777";

    fn zone(name: &str, owner: &str) -> PrivateZoneFacts {
        PrivateZoneFacts {
            id: format!("Z0{}", name.split('.').next().unwrap_or("")),
            name: name.into(),
            owner_account: Some(owner.into()),
            owner_service: None,
        }
    }
    fn forward(id: &str, domain: &str, kind: &str) -> ResolverRuleFacts {
        ResolverRuleFacts {
            id: id.into(),
            association_status: Some("COMPLETE".into()),
            name: Some(format!("{id}-name")),
            domain_name: Some(domain.into()),
            rule_type: Some(kind.into()),
            owner_id: Some(HUB_ACCOUNT.into()),
            target_ips: if kind == "FORWARD" {
                vec!["10.100.0.10:53".into()]
            } else {
                vec![]
            },
            ..Default::default()
        }
    }

    /// A spoke: no NAT, no endpoints; `default_to_tgw` = 0.0.0.0/0 → tgw-hub, else only the hub
    /// CIDR 10.100.0.0/16 → tgw-hub; the private DNS as given.
    fn spoke(
        default_to_tgw: bool,
        zones: Vec<PrivateZoneFacts>,
        rules: Vec<ResolverRuleFacts>,
    ) -> Facts {
        let mut f = fargate_nat();
        let n = &mut f.network;
        let out = if default_to_tgw {
            route("0.0.0.0/0", "tgw-hub")
        } else {
            route("10.100.0.0/16", "tgw-hub")
        };
        n.route_table = Fact::found(RouteTableFacts {
            id: RT.into(),
            explicit: true,
            main: false,
            subnet_ids: vec![SUBNET.into()],
            routes: vec![route("10.0.0.0/16", "local"), out],
        });
        n.nat_gateways = Fact::NotCollected {
            reason: "the route table targets no NAT gateway".into(),
        };
        n.nat_route_tables = Fact::NotCollected {
            reason: "no NAT gateway to follow".into(),
        };
        n.private_zones = Fact::found(zones);
        n.resolver_rules = Fact::found(rules);
        f
    }
    fn ecr_zones() -> Vec<PrivateZoneFacts> {
        vec![
            zone("api.ecr.us-east-1.amazonaws.com", HUB_ACCOUNT),
            zone("dkr.ecr.us-east-1.amazonaws.com", HUB_ACCOUNT),
        ]
    }
    fn all_zones() -> Vec<PrivateZoneFacts> {
        let mut z = ecr_zones();
        z.push(zone("s3.us-east-1.amazonaws.com", HUB_ACCOUNT));
        z
    }

    /// Egress open to every IPv4 address allows a leg wherever the hub's DNS sends it; egress
    /// open only to some ranges cannot be judged against addresses this VPC does not show.
    #[test]
    fn task_egress_to_names_the_hub_serves() {
        let open = spoke(false, all_zones(), vec![]);
        let got = security_groups::check_task_egress(&open);
        assert_eq!(got[0].status, Status::Pass, "{got:#?}");
        let mut private_only = spoke(false, all_zones(), vec![]);
        private_only.network.security_groups = Fact::found(vec![sg(
            SG_TASK,
            vec![],
            vec![all_traffic_to("10.0.0.0/8")],
        )]);
        let got = security_groups::check_task_egress(&private_only);
        assert_eq!(got[0].status, Status::Unknown, "{got:#?}");
    }

    #[test]
    fn resolution_follows_the_vpc_resolver() {
        let f = spoke(
            false,
            vec![
                zone("amazonaws.com", HUB_ACCOUNT),
                zone("ecr.us-east-1.amazonaws.com", ACCOUNT),
            ],
            vec![],
        );
        let api = "api.ecr.us-east-1.amazonaws.com";
        // The most specific zone.
        assert!(
            matches!(resolution(&f.network, api), Known::Yes(Some(Resolution::Zone(z))) if z.name == "ecr.us-east-1.amazonaws.com")
        );
        // A rule for the same domain wins over the zone; a more specific zone wins over a rule.
        let f2 = spoke(
            false,
            vec![zone("ecr.us-east-1.amazonaws.com", ACCOUNT)],
            vec![forward(
                "rslvr-rr-1",
                "ecr.us-east-1.amazonaws.com",
                "FORWARD",
            )],
        );
        assert!(matches!(
            resolution(&f2.network, api),
            Known::Yes(Some(Resolution::Forward(_)))
        ));
        let f3 = spoke(
            false,
            vec![zone("api.ecr.us-east-1.amazonaws.com", ACCOUNT)],
            vec![forward("rslvr-rr-1", "amazonaws.com", "FORWARD")],
        );
        assert!(matches!(
            resolution(&f3.network, api),
            Known::Yes(Some(Resolution::Zone(_)))
        ));
        // A SYSTEM rule takes a name back from a broader forwarding rule.
        let f4 = spoke(
            false,
            vec![],
            vec![
                forward("rslvr-rr-1", "amazonaws.com", "FORWARD"),
                forward("rslvr-rr-2", "ecr.us-east-1.amazonaws.com", "SYSTEM"),
            ],
        );
        assert_eq!(resolution(&f4.network, api), Known::Yes(None));
        // Unrelated zones do not count; the root rule forwards everything.
        let f5 = spoke(false, vec![zone("corp.example", ACCOUNT)], vec![]);
        assert_eq!(resolution(&f5.network, api), Known::Yes(None));
        let f6 = spoke(false, vec![], vec![forward("rslvr-rr-1", ".", "FORWARD")]);
        assert!(matches!(
            resolution(&f6.network, api),
            Known::Yes(Some(Resolution::Forward(_)))
        ));
        // An association that is not in effect forwards nothing.
        let mut failed = forward("rslvr-rr-1", "amazonaws.com", "FORWARD");
        failed.association_status = Some("FAILED".into());
        assert_eq!(
            resolution(&spoke(false, vec![], vec![failed]).network, api),
            Known::Yes(None)
        );
        // Older snapshots (nothing collected) resolve publicly; a denied read is unknown.
        let mut old = spoke(false, vec![], vec![]);
        old.network.private_zones = Fact::default();
        old.network.resolver_rules = Fact::default();
        assert_eq!(resolution(&old.network, api), Known::Yes(None));
        old.network.private_zones = Fact::Unreadable {
            reason: "AccessDenied: route53:ListHostedZonesByVPC".into(),
            kind: ErrorKind::AccessDenied,
        };
        assert!(
            matches!(resolution(&old.network, api), Known::Unknown(r) if r.contains("ListHostedZonesByVPC"))
        );
    }

    #[test]
    #[allow(clippy::type_complexity)] // a table test: one tuple per case reads best
    fn hub_spoke_route_table() {
        let mut zones_denied = spoke(false, vec![], vec![]);
        zones_denied.network.private_zones = Fact::Unreadable {
            reason: "AccessDenied: route53:ListHostedZonesByVPC".into(),
            kind: ErrorKind::AccessDenied,
        };
        let mut rule_denied = spoke(
            false,
            vec![],
            vec![forward("rslvr-rr-1", "amazonaws.com", "FORWARD")],
        );
        if let Fact::Found { value } = &mut rule_denied.network.resolver_rules {
            value[0] = ResolverRuleFacts {
                id: "rslvr-rr-1".into(),
                unreadable: Some("AccessDenied: route53resolver:GetResolverRule".into()),
                ..Default::default()
            };
        }
        let mut blackhole = spoke(false, all_zones(), vec![]);
        if let Fact::Found { value } = &mut blackhole.network.route_table {
            value.routes[1].state = Some("blackhole".into());
        }
        let mut with_s3_gateway = spoke(false, ecr_zones(), vec![]);
        with_s3_gateway.network.endpoints = Fact::found(vec![s3_gateway(&[RT])]);
        let mut unassociated_s3_gateway = spoke(false, ecr_zones(), vec![]);
        unassociated_s3_gateway.network.endpoints = Fact::found(vec![s3_gateway(&["rtb-other"])]);
        let mut own_zone = spoke(false, all_zones(), vec![]);
        if let Fact::Found { value } = &mut own_zone.network.private_zones {
            value
                .iter_mut()
                .for_each(|z| z.owner_account = Some(ACCOUNT.into()));
        }
        let mut denied_with_s3_gateway = spoke(false, vec![], vec![]);
        denied_with_s3_gateway.network.private_zones = Fact::Unreadable {
            reason: "AccessDenied: route53:ListHostedZonesByVPC".into(),
            kind: ErrorKind::AccessDenied,
        };
        denied_with_s3_gateway.network.endpoints = Fact::found(vec![s3_gateway(&["rtb-other"])]);
        let mut old_snapshot_tgw = spoke(true, vec![], vec![]);
        old_snapshot_tgw.network.private_zones = Fact::default();
        old_snapshot_tgw.network.resolver_rules = Fact::default();
        let mut peering = spoke(false, all_zones(), vec![]);
        if let Fact::Found { value } = &mut peering.network.route_table {
            value.routes[1] = route("10.100.0.0/16", "pcx-hub");
        }

        // (name, facts, NET_NO_ROUTE status, text that must appear, text that must not)
        let cases: Vec<(&str, Facts, Option<Status>, Vec<&str>, Vec<&str>)> = vec![
            (
                "hub CIDR → tgw, zones for every name",
                spoke(false, all_zones(), vec![]),
                Some(Status::Warn),
                vec![
                    "api.ecr.us-east-1.amazonaws.com",
                    "Z0api",
                    HUB_ACCOUNT,
                    "10.100.0.0/16 → tgw-hub",
                    "another account",
                    "10.0.1.0/24",
                ],
                vec![],
            ),
            (
                "default → tgw, zones for every name",
                spoke(true, all_zones(), vec![]),
                Some(Status::Warn),
                vec!["dkr.ecr.us-east-1.amazonaws.com", "0.0.0.0/0 → tgw-hub"],
                vec!["egress VPC"],
            ),
            (
                "default → tgw, ECR zones only: S3 goes out the default route",
                spoke(true, ecr_zones(), vec![]),
                Some(Status::Warn),
                vec!["starport-layer-bucket", "egress VPC"],
                vec![],
            ),
            (
                "hub CIDR → tgw, ECR zones only: no way to S3",
                spoke(false, ecr_zones(), vec![]),
                Some(Status::Fail),
                vec![
                    "S3 layer bucket",
                    "gateway endpoint com.amazonaws.us-east-1.s3",
                    RT,
                ],
                vec!["ECR API (auth token) ("],
            ),
            (
                "hub CIDR → tgw, ECR zones, S3 gateway here",
                with_s3_gateway,
                Some(Status::Warn),
                vec!["api.ecr"],
                vec![],
            ),
            // No ECR interface endpoint here, so NET_ENDPOINT_MISSING does not judge: the leg no zone serves is named here.
            (
                "hub CIDR → tgw, ECR zones, S3 gateway not associated",
                unassociated_s3_gateway,
                Some(Status::Fail),
                vec![
                    "S3 layer bucket",
                    "associate it with route table rtb-private",
                ],
                vec![],
            ),
            (
                "forwarding rule for amazonaws.com",
                spoke(
                    false,
                    vec![],
                    vec![forward("rslvr-rr-1", "amazonaws.com", "FORWARD")],
                ),
                Some(Status::Warn),
                vec!["rslvr-rr-1", "10.100.0.10:53", HUB_ACCOUNT],
                vec![],
            ),
            (
                "forwarding rule, SYSTEM rule takes S3 back",
                spoke(
                    false,
                    vec![],
                    vec![
                        forward("rslvr-rr-1", "amazonaws.com", "FORWARD"),
                        forward("rslvr-rr-2", "s3.us-east-1.amazonaws.com", "SYSTEM"),
                    ],
                ),
                Some(Status::Fail),
                vec!["S3 layer bucket"],
                vec![],
            ),
            (
                "parent-domain zone",
                spoke(false, vec![zone("amazonaws.com", HUB_ACCOUNT)], vec![]),
                Some(Status::Warn),
                vec!["wildcard *.amazonaws.com", "does not resolve"],
                vec![],
            ),
            (
                "zone of this account",
                own_zone,
                Some(Status::Warn),
                vec!["records not read"],
                vec!["another account"],
            ),
            (
                "peering to the hub",
                peering,
                Some(Status::Warn),
                vec!["pcx-hub"],
                vec![],
            ),
            (
                "zones unreadable",
                zones_denied,
                Some(Status::Unknown),
                vec![
                    "route53:ListHostedZonesByVPC",
                    "route53resolver:GetResolverRule",
                ],
                vec![],
            ),
            (
                "zones unreadable, S3 gateway not associated",
                denied_with_s3_gateway,
                Some(Status::Unknown),
                vec![
                    "api.ecr.us-east-1.amazonaws.com",
                    "route53:ListHostedZonesByVPC",
                ],
                vec![],
            ),
            (
                "rule unreadable",
                rule_denied,
                Some(Status::Unknown),
                vec!["rslvr-rr-1", "GetResolverRule"],
                vec![],
            ),
            // Controls: the plain route verdicts.
            (
                "hub CIDR → tgw, no private DNS: genuinely no route",
                spoke(false, vec![], vec![]),
                Some(Status::Fail),
                vec!["no default route"],
                vec![],
            ),
            (
                "route to the hub blackholed",
                blackhole,
                Some(Status::Fail),
                vec!["no default route"],
                vec![],
            ),
            (
                "old snapshot, default → tgw: the plain warn",
                old_snapshot_tgw,
                Some(Status::Warn),
                vec!["egress VPC"],
                vec![],
            ),
            (
                "NAT: not a spoke",
                fargate_nat(),
                Some(Status::Pass),
                vec!["nat-1"],
                vec![],
            ),
        ];
        for (name, f, status, needles, absent) in cases {
            let got = route::check_route(&f);
            assert_eq!(got.first().map(|g| g.status), status, "{name}: {got:#?}");
            let g = &got[0];
            let text = format!(
                "{} {} {}",
                g.title,
                g.evidence,
                g.remediation.as_deref().unwrap_or("")
            );
            for n in needles {
                assert!(text.contains(n), "{name}: {n:?} not in {text}");
            }
            for n in absent {
                assert!(!text.contains(n), "{name}: {n:?} in {text}");
            }
        }
    }

    /// A healthy spoke gets no network `fail` from any check; the endpoint check leaves the legs
    /// the hub serves alone but still names an endpoint that is there and unusable.
    #[test]
    fn healthy_spokes_have_no_network_failure() {
        let mut with_s3_gateway = spoke(false, ecr_zones(), vec![]);
        with_s3_gateway.network.endpoints = Fact::found(vec![s3_gateway(&[RT])]);
        if let Fact::Found { value } = &mut with_s3_gateway.network.route_table {
            value.routes.push(pl_route(PL, "vpce-s3"));
        }
        for (name, f) in [
            ("zones, hub CIDR", spoke(false, all_zones(), vec![])),
            ("zones, default → tgw", spoke(true, all_zones(), vec![])),
            (
                "rule",
                spoke(
                    false,
                    vec![],
                    vec![forward("rslvr-rr-1", "amazonaws.com", "FORWARD")],
                ),
            ),
            ("ECR zones + local S3 gateway", with_s3_gateway),
        ] {
            let fails: Vec<String> = network_findings(&f)
                .iter()
                .filter(|x| x.status == Status::Fail)
                .map(|x| format!("{}: {}", x.code.code(), x.title))
                .collect();
            assert!(fails.is_empty(), "{name}: {fails:#?}");
            assert!(endpoints::check_required_endpoints(&f).is_empty(), "{name}");
        }
        let mut unassociated = spoke(false, ecr_zones(), vec![]);
        unassociated.network.endpoints = Fact::found(vec![s3_gateway(&["rtb-other"])]);
        // No ECR interface endpoint here (the hub has them): not a partial endpoint set, so
        // NET_ENDPOINT_MISSING stays out; the layer bucket, which no zone serves and no
        // associated gateway reaches, has no route.
        assert!(endpoints::check_required_endpoints(&unassociated).is_empty());
        let got = route::check_route(&unassociated);
        assert_eq!(got[0].status, Status::Fail, "{got:#?}");
        assert!(
            got[0].title.contains("S3 layer bucket") && !got[0].title.contains("api.ecr"),
            "{}",
            got[0].title
        );
    }

    /// The hub VPC itself (or a spoke with its own endpoints behind a shared zone): private DNS off
    /// on purpose, a zone answers for the names.
    #[test]
    fn endpoints_with_private_dns_off_behind_a_zone() {
        let dns_off = |zones: Vec<PrivateZoneFacts>| {
            let mut f = fargate_endpoints();
            if let Fact::Found { value } = &mut f.network.endpoints {
                value
                    .iter_mut()
                    .filter(|e| e.is_interface())
                    .for_each(|e| e.private_dns_enabled = Some(false));
            }
            f.network.private_zones = Fact::found(zones);
            f.network.resolver_rules = Fact::found(vec![]);
            f
        };
        let got = endpoints::check_endpoint_dns(&dns_off(ecr_zones()));
        assert_eq!(got[0].status, Status::Warn, "{got:#?}");
        assert!(
            got[0]
                .evidence
                .to_string()
                .contains("dkr.ecr.us-east-1.amazonaws.com"),
            "{got:#?}"
        );
        // Only one of the names served by a zone: the other endpoint is still unreachable.
        let got = endpoints::check_endpoint_dns(&dns_off(vec![zone(
            "api.ecr.us-east-1.amazonaws.com",
            ACCOUNT,
        )]));
        assert_eq!(got[0].status, Status::Fail, "{got:#?}");
        let got = endpoints::check_endpoint_dns(&dns_off(vec![]));
        assert_eq!(got[0].status, Status::Fail, "{got:#?}");
    }
}
