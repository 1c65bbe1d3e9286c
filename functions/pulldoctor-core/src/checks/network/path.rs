//! The path of one pull, worked out once from the Facts and shared by the network checks: where
//! the traffic leaves from ([`Origin`]), what it must reach (the [`Leg`]s: ECR API, registry, S3
//! layers, Secrets Manager for registry credentials, or a non-ECR registry — or, when the step that
//! fetches the task's secrets timed out, Secrets Manager or SSM alone), and for each leg whether it
//! goes to a VPC endpoint or out through the subnet's default route ([`Internet`]).

use std::net::Ipv4Addr;

use super::ipset::IpSet;
use crate::model::audience::Audience;
use crate::model::facts::{
    endpoint_service, EndpointFacts, Fact, Facts, Known, NatGatewayFacts, NetworkFacts, Origin,
    OriginKind, RouteFacts, RouteTableFacts, SubnetFacts,
};
use crate::model::image_ref::RegistryKind;
use crate::model::message::Category;
use crate::model::secret_ref::{
    named_secrets, parse_value_from, secrets_step, SecretRef, SecretStore,
};

pub use super::legs::{Internet, Leg, Net, NotApplicable, Service, Via};

impl<'a> Net<'a> {
    pub fn new(facts: &'a Facts) -> Result<Net<'a>, NotApplicable> {
        let n = &facts.network;
        if !n.collected || n.skipped.is_some() {
            return Err(None);
        }
        let Some(image) = facts.failure.image_ref.as_ref() else {
            return Err(None);
        };
        let Some(mut origin) = n.origin(&facts.task) else {
            return Err(None);
        };
        if origin.kind == OriginKind::TaskEni && facts.audience != Audience::Ecs {
            // On EKS the would-be task's ENI is the node's or the pod's.
            let who = crate::checks::wording::words(facts).task;
            origin.label = match facts
                .task
                .eni_attachment()
                .and_then(|a| a.details.get("networkInterfaceId"))
            {
                Some(id) => format!("{who} ENI {id}"),
                None => format!("{who} ENI"),
            };
        }
        let Some(region) = facts.region.clone() else {
            return Err(Some("the task's region is not known".into()));
        };
        let Some(subnet_id) = origin.subnet_id.clone() else {
            let why = origin
                .security_groups
                .reason()
                .map(str::to_string)
                .unwrap_or_else(|| format!("the subnet of the {} is not known", origin.label));
            return Err(Some(why));
        };
        if let Some(subnet) = n.subnet.value().filter(|s| is_ipv6_only(s)) {
            return Err(Some(ipv6_only_reason(subnet, n.route_table.value())));
        }
        let route_table = n.route_table.value();
        let internet = internet_path(n, &origin);
        let fargate_legacy = fargate_legacy(facts, &origin);
        let secrets_step = (facts.failure.classification.category == Category::Network)
            .then(|| secrets_step(&facts.failure.message).and_then(|s| s.store()))
            .flatten();
        if secrets_step.is_some() && fargate_legacy {
            // Platform 1.3.0 fetches secrets through Fargate's own network interface, not the task's.
            return Err(None);
        }
        let mut net = Net {
            facts,
            n,
            origin,
            region,
            subnet_id,
            image,
            route_table,
            internet,
            legs: vec![],
            fargate_legacy,
            secrets_step,
        };
        net.legs = net.plan_legs();
        Ok(net)
    }

    /// The ECR image's account and region, when the image is in ECR private.
    pub fn ecr(&self) -> Option<(&'a str, &'a str)> {
        self.image.ecr()
    }
    pub fn is_ecr(&self) -> bool {
        matches!(self.image.kind, RegistryKind::Ecr { .. })
    }
    pub fn cross_region(&self) -> bool {
        self.secrets_step.is_none() && self.ecr().is_some_and(|(_, r)| r != self.region)
    }
    pub fn vpc_id(&self) -> Option<String> {
        self.origin.vpc_id.clone().or_else(|| self.n.vpc_id())
    }
    /// Route table id for messages.
    pub fn route_table_id(&self) -> String {
        self.route_table
            .map(|r| r.id.clone())
            .unwrap_or_else(|| "its route table".into())
    }
    pub fn endpoints(&self) -> Option<&'a [EndpointFacts]> {
        self.n.endpoints.value().map(Vec::as_slice)
    }
    /// Endpoints in the VPC for a service name, any state.
    pub fn endpoints_for(&self, service_name: &str) -> Vec<&'a EndpointFacts> {
        self.endpoints()
            .map(|eps| {
                eps.iter()
                    .filter(|e| {
                        e.service_name == service_name
                            || e.service_name == format!("cn.{service_name}")
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    /// Interface endpoints' private DNS works in this VPC (unknown counts as working; the DNS
    /// check reports the gap).
    pub fn vpc_dns_ok(&self) -> bool {
        !matches!(self.n.dns_support, Fact::Found { value: false })
            && !matches!(self.n.dns_hostnames, Fact::Found { value: false })
    }
    /// Is the task on Windows (ephemeral port range)?
    pub fn windows(&self) -> bool {
        let td_os = self
            .facts
            .task_definition
            .value()
            .and_then(|t| t.operating_system_family.as_deref());
        self.facts
            .task
            .platform_family
            .as_deref()
            .or(td_os)
            .is_some_and(|f| f.to_ascii_uppercase().starts_with("WINDOWS"))
    }

    fn plan_legs(&self) -> Vec<Leg<'a>> {
        // The secrets step timed out: the pull never started, so the path that failed is the one
        // to the secrets store alone. Judging the image's legs too could blame a leg this failure
        // never used.
        if let Some(store) = self.secrets_step {
            let mut legs: Vec<(Service, String, String)> = vec![];
            if !self.fargate_legacy {
                let service = match store {
                    SecretStore::SecretsManager => Service::SecretsManager,
                    SecretStore::Ssm => Service::Ssm,
                };
                for region in self.task_secret_regions(store) {
                    legs.push((
                        service,
                        format!("{}.{region}.amazonaws.com", store.endpoint_suffix()),
                        region,
                    ));
                }
            }
            return legs
                .into_iter()
                .map(|(service, host, region)| {
                    let via =
                        super::hub::redirect(self.n, service, &host, self.via(service, &region));
                    Leg {
                        service,
                        host,
                        region,
                        via,
                        dual_stack: false,
                    }
                })
                .collect();
        }
        let mut legs = vec![];
        match (&self.image.kind, self.image.ecr()) {
            (RegistryKind::Ecr { .. }, Some((account, image_region))) => {
                if !self.fargate_legacy {
                    legs.push((
                        Service::EcrApi,
                        format!("api.ecr.{image_region}.amazonaws.com"),
                        image_region,
                    ));
                }
                // The registry name as the image names it: the IPv4 name, or the dual-stack one.
                let registry = if is_dual_stack_ecr(&self.image.registry) {
                    self.image.registry.clone()
                } else {
                    format!("{account}.dkr.ecr.{image_region}.amazonaws.com")
                };
                legs.push((Service::EcrDkr, registry, image_region));
                legs.push((
                    Service::S3,
                    format!(
                        "prod-{image_region}-starport-layer-bucket.s3.{image_region}.amazonaws.com"
                    ),
                    image_region,
                ));
            }
            _ => legs.push((
                Service::Registry,
                self.image.registry.clone(),
                self.region.as_str(),
            )),
        }
        let mut legs: Vec<(Service, String, String)> = legs
            .into_iter()
            .map(|(s, h, r)| (s, h, r.to_string()))
            .collect();
        if let Some(secret_region) = self.registry_secret_region() {
            if !self.fargate_legacy {
                legs.push((
                    Service::SecretsManager,
                    format!("secretsmanager.{secret_region}.amazonaws.com"),
                    secret_region,
                ));
            }
        }
        legs.into_iter()
            .map(|(service, host, region)| {
                let dual_stack = is_dual_stack_ecr(&host);
                let via = if dual_stack {
                    Via::Internet {
                        note: Some(format!(
                            "{host} is a dual-stack ECR name: VPC endpoints (PrivateLink) serve only the IPv4 name {}",
                            host.replace(".dkr-ecr", ".dkr.ecr").replace(".on.aws", ".amazonaws.com")
                        )),
                    }
                } else {
                    // Hub-and-spoke: a private hosted zone or Resolver rule may answer for the name.
                    super::hub::redirect(self.n, service, &host, self.via(service, &region))
                };
                Leg { service, host, region, via, dual_stack }
            })
            .collect()
    }

    /// Regions of the task's secrets in `store` (the ones the message names, if it names any of
    /// them); the task's region when the task definition names none (it may not be readable).
    fn task_secret_regions(&self, store: SecretStore) -> Vec<String> {
        let refs: Vec<SecretRef> = self
            .facts
            .task_definition
            .value()
            .map(|td| {
                td.containers
                    .iter()
                    .flat_map(|c| &c.secrets)
                    .filter_map(|v| parse_value_from(v))
                    .filter(|r| r.store == store)
                    .collect()
            })
            .unwrap_or_default();
        let named = named_secrets(&self.facts.failure.message);
        let named_refs: Vec<&SecretRef> = refs
            .iter()
            .filter(|r| named.iter().any(|n| n.same_secret(r)))
            .collect();
        let scope: Vec<&SecretRef> = if named_refs.is_empty() {
            refs.iter().collect()
        } else {
            named_refs
        };
        let mut regions: Vec<String> = vec![];
        for r in scope {
            let region = r.region.clone().unwrap_or_else(|| self.region.clone());
            if !regions.contains(&region) {
                regions.push(region);
            }
        }
        if regions.is_empty() {
            regions.push(self.region.clone());
        }
        regions
    }

    /// The legs of the task's secrets (then the whole path), when the secrets step failed on the
    /// network.
    pub fn secret_legs(&self) -> Vec<&Leg<'a>> {
        match self.secrets_step {
            Some(_) => self.legs.iter().collect(),
            None => vec![],
        }
    }

    /// Region of the private-registry credentials secret of the failed container, if it uses one.
    fn registry_secret_region(&self) -> Option<String> {
        let td = self.facts.task_definition.value()?;
        let container = self.facts.failure.container.as_deref()?;
        let secret = td
            .containers
            .iter()
            .find(|c| c.name.as_deref() == Some(container))?
            .registry_credentials_secret
            .as_deref()?;
        // arn:aws:secretsmanager:REGION:… ; a bare name is in the task's region.
        let region = secret
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty() && secret.starts_with("arn:"));
        Some(region.unwrap_or(self.region.as_str()).to_string())
    }

    fn via(&self, service: Service, dest_region: &str) -> Via<'a> {
        let Some(suffix) = service.endpoint_suffix() else {
            return Via::Internet { note: None };
        };
        if dest_region != self.region {
            return Via::Internet {
                note: Some(format!(
                    "{dest_region} is not this VPC's region ({}): VPC endpoints here serve {} only",
                    self.region, self.region
                )),
            };
        }
        let endpoints = match &self.n.endpoints {
            Fact::Found { value } => value,
            other => {
                return Via::Unknown(format!(
                    "VPC endpoints could not be read ({})",
                    other.gap().unwrap_or("")
                ))
            }
        };
        let name = endpoint_service(&self.region, suffix);
        let matching: Vec<&EndpointFacts> = endpoints
            .iter()
            .filter(|e| e.is_service(&self.region, suffix))
            .collect();
        let mut notes = vec![];
        if service == Service::S3 {
            let rt = self.route_table.map(|r| r.id.as_str());
            for e in matching.iter().filter(|e| e.is_gateway()) {
                let associated = rt.is_some_and(|rt| e.route_table_ids.iter().any(|id| id == rt))
                    || self.route_table.is_some_and(|t| {
                        t.routes
                            .iter()
                            .any(|r| r.target == e.id && r.destination_prefix_list.is_some())
                    });
                match (e.is_available(), associated) {
                    (true, true) => return Via::Gateway(e),
                    (true, false) => notes.push(format!(
                        "gateway endpoint {} exists but is not associated with route table {}",
                        e.id,
                        rt.unwrap_or("?")
                    )),
                    (false, _) => notes.push(format!(
                        "gateway endpoint {} is {}",
                        e.id,
                        e.state.as_deref().unwrap_or("not available")
                    )),
                }
            }
        }
        for e in matching.iter().filter(|e| e.is_interface()) {
            let private_dns = e.private_dns_enabled == Some(true);
            if e.is_available() && private_dns && self.vpc_dns_ok() {
                return Via::Interface(e);
            }
            let why = if !e.is_available() {
                format!("is {}", e.state.as_deref().unwrap_or("not available"))
            } else if !private_dns {
                "has private DNS disabled, so the public name resolves to public addresses"
                    .to_string()
            } else {
                "has private DNS on, but the VPC's DNS support or DNS hostnames setting is off"
                    .to_string()
            };
            notes.push(format!("interface endpoint {} ({name}) {why}", e.id));
        }
        Via::Internet {
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        }
    }

    /// Interface endpoint ENIs: (ip, subnet) for an endpoint, when they could be read.
    pub fn endpoint_ips(&self, endpoint: &EndpointFacts) -> Known<Vec<(Ipv4Addr, Option<String>)>> {
        match &self.n.endpoint_enis {
            Fact::Found { value } => Known::Yes(
                value
                    .iter()
                    .filter(|eni| endpoint.network_interface_ids.contains(&eni.id))
                    .filter_map(|eni| {
                        Some((
                            eni.private_ip.as_deref()?.parse().ok()?,
                            eni.subnet_id.clone(),
                        ))
                    })
                    .collect(),
            ),
            other => Known::Unknown(format!(
                "endpoint network interfaces could not be read ({})",
                other.gap().unwrap_or("")
            )),
        }
    }

    /// The S3 prefix list id: from the prefix-list read, else from the gateway route.
    pub fn s3_prefix_list_id(&self, gateway: &EndpointFacts) -> Option<String> {
        self.n
            .s3_prefix_list
            .value()
            .map(|p| p.id.clone())
            .or_else(|| {
                self.route_table?
                    .routes
                    .iter()
                    .find(|r| r.target == gateway.id)
                    .and_then(|r| r.destination_prefix_list.clone())
            })
    }
    pub fn s3_prefix_list_cidrs(&self) -> Known<IpSet> {
        match &self.n.s3_prefix_list {
            Fact::Found { value } if !value.cidrs.is_empty() => {
                Known::Yes(IpSet::from_cidrs(value.cidrs.iter().map(String::as_str)))
            }
            Fact::Found { .. } => {
                Known::Unknown("the S3 prefix list's CIDRs were not returned".into())
            }
            other => Known::Unknown(format!(
                "the S3 prefix list could not be read ({})",
                other.gap().unwrap_or("")
            )),
        }
    }
    /// The IPv4 CIDRs of a prefix list a security group rule names: the S3 list, or one read for
    /// the rules. Unknown (with the reason) when its entries could not be read.
    pub fn prefix_list_cidrs(&self, id: &str) -> Known<IpSet> {
        if self.n.s3_prefix_list.value().is_some_and(|p| p.id == id) {
            return self.s3_prefix_list_cidrs();
        }
        match self.n.rule_prefix_lists.iter().find(|p| p.id == id) {
            Some(p) => match &p.cidrs {
                Fact::Found { value } => {
                    Known::Yes(IpSet::from_cidrs(value.iter().map(String::as_str)))
                }
                other => Known::Unknown(format!(
                    "prefix list {id} could not be read ({})",
                    other.gap().unwrap_or("")
                )),
            },
            None => Known::Unknown(format!("prefix list {id}'s entries were not read")),
        }
    }
    /// The VPC's CIDRs (a superset of every endpoint ENI address).
    pub fn vpc_cidrs(&self) -> Option<IpSet> {
        let vpc = self.n.vpc.value()?;
        Some(IpSet::from_cidrs(vpc.cidrs.iter().map(String::as_str)))
    }
    pub fn subnet_cidr(&self) -> Option<IpSet> {
        let cidr = self.n.subnet.value()?.cidr.as_deref()?;
        Some(IpSet::from_cidrs([cidr]))
    }
    /// Ways the task subnet may reach dual-stack names over IPv6: its IPv6 exits, when the subnet
    /// has IPv6 addresses at all (empty otherwise).
    pub fn ipv6_exits(&self) -> Vec<String> {
        let has_ipv6 = self
            .n
            .subnet
            .value()
            .is_some_and(|s| !s.ipv6_cidrs.is_empty());
        match self.route_table {
            Some(rt) if has_ipv6 => ipv6_exits(rt),
            _ => vec![],
        }
    }
    /// Short description of each leg, for evidence.
    pub fn legs_evidence(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.legs
                .iter()
                .map(|l| {
                    // A leg no endpoint serves goes to public addresses: through the default
                    // route when there is one, else nowhere (said so, not "default route").
                    let internet = match &self.internet {
                        Internet::Closed { .. } => "its public addresses (no endpoint serves it), which the subnet cannot reach",
                        _ => "internet (default route)",
                    };
                    let via = match &l.via {
                        Via::Interface(e) => format!("interface endpoint {}", e.id),
                        Via::Gateway(e) => format!("gateway endpoint {}", e.id),
                        Via::Internet { note: None } => internet.to_string(),
                        Via::Internet { note: Some(n) } => format!("{internet}: {n}"),
                        Via::Unknown(r) => format!("unknown: {r}"),
                    };
                    serde_json::json!(format!("{} via {via}", l.host))
                })
                .collect(),
        )
    }
}

/// `<account>.dkr-ecr[-fips].<region>.on.aws`: ECR's dual-stack (IPv4 + IPv6) registry name.
pub fn is_dual_stack_ecr(host: &str) -> bool {
    host.ends_with(".on.aws") && host.contains(".dkr-ecr")
}

/// An IPv6-only subnet: no IPv4 addresses at all (`Ipv6Native`, or IPv6 CIDRs and no IPv4 one).
pub fn is_ipv6_only(subnet: &SubnetFacts) -> bool {
    subnet.ipv6_native == Some(true) || (subnet.cidr.is_none() && !subnet.ipv6_cidrs.is_empty())
}

/// The routes that can carry the pull over IPv6: `::/0` to an egress-only or internet gateway, and
/// the NAT64 prefix `64:ff9b::/96` to a NAT gateway (with DNS64 for IPv4-only names). Active only.
pub fn ipv6_exits(rt: &RouteTableFacts) -> Vec<String> {
    rt.routes
        .iter()
        .filter(|r| r.state.as_deref() != Some("blackhole"))
        .filter_map(|r| match r.destination_ipv6.as_deref() {
            Some("::/0") if r.target.starts_with("eigw-") || r.target.starts_with("igw-") => {
                Some(format!("::/0 → {}", r.target))
            }
            Some(d) if d.starts_with("64:ff9b::") && r.target.starts_with("nat-") => {
                Some(format!("{d} → {} (NAT64)", r.target))
            }
            _ => None,
        })
        .collect()
}

/// Why the path of a pull from an IPv6-only subnet is not judged: its traffic is IPv6 end to end
/// (dual-stack names, `::/0`, IPv6 security group and network ACL rules), which these checks do not
/// model; a guess would be a wrong pass or fail.
fn ipv6_only_reason(subnet: &SubnetFacts, rt: Option<&RouteTableFacts>) -> String {
    let routes = match rt {
        Some(rt) => {
            let exits = ipv6_exits(rt);
            if exits.is_empty() {
                format!("route table {} has no ::/0 route to an egress-only internet gateway and no NAT64 route", rt.id)
            } else {
                format!("route table {} routes {}", rt.id, exits.join(", "))
            }
        }
        None => "its route table could not be read".to_string(),
    };
    format!(
        "subnet {} is IPv6-only ({routes}); pulldoctor models IPv4 paths only. Verify that the subnet routes ::/0 to an \
         egress-only internet gateway, that the image uses ECR's dual-stack name (<account>.dkr-ecr.<region>.on.aws; \
         PrivateLink serves only the IPv4 names), that the security groups allow TCP 443 out to ::/0 and that the \
         network ACL allows it out and the replies back in for IPv6",
        subnet.id
    )
}

fn fargate_legacy(facts: &Facts, origin: &Origin) -> bool {
    if origin.kind != OriginKind::TaskEni {
        return false;
    }
    let task = &facts.task;
    if task
        .platform_family
        .as_deref()
        .is_some_and(|f| f.to_ascii_uppercase().starts_with("WINDOWS"))
    {
        return false;
    }
    match task.platform_version.as_deref() {
        None | Some("LATEST") => false,
        Some(v) => {
            let parts: Vec<u32> = v.split('.').filter_map(|p| p.parse().ok()).collect();
            matches!(parts.as_slice(), [1, minor, ..] if *minor <= 3)
        }
    }
}

/// The subnet's default IPv4 route, if any (longest prefix for public destinations is 0.0.0.0/0:
/// more specific public routes are reported separately by the route check).
pub fn default_route(rt: &RouteTableFacts) -> Option<&RouteFacts> {
    rt.routes
        .iter()
        .find(|r| r.destination.as_deref() == Some("0.0.0.0/0"))
}

/// Routes for public IPv4 ranges more specific than the default route.
pub fn specific_public_routes(rt: &RouteTableFacts) -> Vec<&RouteFacts> {
    let public = IpSet::public_internet();
    rt.routes
        .iter()
        .filter(|r| r.target != "local")
        .filter(|r| match r.destination.as_deref() {
            Some("0.0.0.0/0") | None => false,
            Some(d) => !IpSet::from_cidrs([d]).intersect(&public).is_empty(),
        })
        .collect()
}

fn internet_path(n: &NetworkFacts, origin: &Origin) -> Internet {
    let rt = match &n.route_table {
        Fact::Found { value } => value,
        other => {
            return Internet::Unknown {
                reason: format!(
                    "route table could not be read ({})",
                    other.gap().unwrap_or("")
                ),
            }
        }
    };
    let Some(route) = default_route(rt) else {
        return Internet::Closed {
            reason: format!("route table {} has no default route (0.0.0.0/0)", rt.id),
        };
    };
    let target = route.target.clone();
    if route.state.as_deref() == Some("blackhole") {
        return Internet::Closed {
            reason: format!("route table {}'s default route points at {target}, which no longer exists (blackhole)", rt.id),
        };
    }
    let prefix = target.split('-').next().unwrap_or("");
    match prefix {
        "igw" => match &origin.public_ip {
            Known::Yes(Some(ip)) => Internet::Open { target: target.clone(), detail: format!("internet gateway {target}, public IP {ip}") },
            Known::Yes(None) => Internet::NoPublicIp { igw: target, source: origin.public_ip_source.clone() },
            Known::Unknown(reason) => Internet::PublicIpUnknown { igw: target, reason: reason.clone() },
        },
        "nat" => nat_path(n, rt, &target),
        "pcx" => Internet::Closed {
            reason: format!(
                "route table {}'s default route points at VPC peering connection {target}; peering does not carry \
                 traffic on to the peer VPC's internet or NAT gateway",
                rt.id
            ),
        },
        "eigw" => Internet::Closed { reason: format!("{target} is an egress-only internet gateway, which carries IPv6 only") },
        "tgw" => Internet::Unseeable {
            target: target.clone(),
            verify: format!("that transit gateway {target} routes 0.0.0.0/0 to an egress VPC with a NAT gateway, and that it routes the return traffic back"),
        },
        "vgw" => Internet::Unseeable {
            target: target.clone(),
            verify: format!("that the network behind virtual private gateway {target} (VPN / Direct Connect) forwards HTTPS to ECR and S3 to the internet"),
        },
        "vpce" => Internet::Unseeable {
            target: target.clone(),
            verify: format!("that the firewall behind Gateway Load Balancer endpoint {target} allows HTTPS to ECR and S3 and has a route to the internet"),
        },
        "eni" | "i" => Internet::Unseeable {
            target: target.clone(),
            verify: format!("that {target} (NAT instance or appliance) is running, has source/destination check disabled, and its own subnet routes to an internet gateway"),
        },
        _ => Internet::Unseeable {
            target: target.clone(),
            verify: format!("that {target} forwards HTTPS to ECR and S3 to the internet"),
        },
    }
}

fn nat_path(n: &NetworkFacts, rt: &RouteTableFacts, target: &str) -> Internet {
    let nats = match &n.nat_gateways {
        Fact::Found { value } => value,
        other => {
            return Internet::Unknown {
                reason: format!(
                    "NAT gateway {target} could not be read ({})",
                    other.gap().unwrap_or("")
                ),
            }
        }
    };
    let Some(nat) = nats.iter().find(|g| g.id == target) else {
        return Internet::Closed { reason: format!("route table {}'s default route points at NAT gateway {target}, which does not exist", rt.id) };
    };
    let state = nat.state.as_deref().unwrap_or("unknown");
    if state != "available" {
        let failure = nat
            .failure
            .as_deref()
            .map(|f| format!(": {f}"))
            .unwrap_or_default();
        return Internet::Closed {
            reason: format!("NAT gateway {target} is {state}{failure}"),
        };
    }
    nat_subnet_path(n, nat)
}

/// A public NAT gateway reaches the internet only if its own subnet routes to an internet gateway.
fn nat_subnet_path(n: &NetworkFacts, nat: &NatGatewayFacts) -> Internet {
    let target = nat.id.clone();
    let ip = nat
        .public_ips
        .first()
        .map(|ip| format!(", public IP {ip}"))
        .unwrap_or_default();
    let open = Internet::Open {
        target: target.clone(),
        detail: format!("NAT gateway {target} (available{ip})"),
    };
    let Some(nat_subnet) = nat.subnet_id.as_deref() else {
        return open;
    };
    let tables = match &n.nat_route_tables {
        Fact::Found { value } => value,
        other => {
            return Internet::Unknown {
                reason: format!(
                    "NAT gateway {target} is available, but the route table of its subnet {nat_subnet} could not be read ({})",
                    other.gap().unwrap_or("")
                ),
            }
        }
    };
    let table = tables
        .iter()
        .find(|t| t.subnet_ids.iter().any(|s| s == nat_subnet))
        .or_else(|| tables.iter().find(|t| t.main));
    let Some(table) = table else {
        return Internet::Unknown {
            reason: format!(
                "the route table of NAT gateway {target}'s subnet {nat_subnet} was not found"
            ),
        };
    };
    if nat.connectivity_type.as_deref() == Some("private") {
        return private_nat_onward(&target, nat_subnet, table);
    }
    match default_route(table) {
        Some(r) if r.target.starts_with("igw-") && r.state.as_deref() != Some("blackhole") => open,
        Some(r) if r.target.starts_with("igw-") => Internet::Closed {
            reason: format!("NAT gateway {target}'s subnet {nat_subnet} routes 0.0.0.0/0 to {}, which no longer exists", r.target),
        },
        Some(r) => Internet::Unseeable {
            target: target.clone(),
            verify: format!("NAT gateway {target}'s subnet {nat_subnet} sends 0.0.0.0/0 to {}: verify that reaches the internet", r.target),
        },
        None => Internet::Closed {
            reason: format!(
                "NAT gateway {target} is in subnet {nat_subnet}, whose route table {} has no route to an internet gateway",
                table.id
            ),
        },
    }
}

/// A private NAT gateway has no internet access of its own: traffic it translates goes only where
/// its own subnet routes it. An internet gateway drops what a private NAT gateway sends it (AWS
/// documents this), so only a transit gateway, virtual private gateway or other onward target can
/// carry the pull on — whose far side cannot be seen from here.
fn private_nat_onward(target: &str, nat_subnet: &str, table: &RouteTableFacts) -> Internet {
    match default_route(table) {
        Some(r) if r.state.as_deref() == Some("blackhole") => Internet::Closed {
            reason: format!("private NAT gateway {target}'s subnet {nat_subnet} routes 0.0.0.0/0 to {}, which no longer exists", r.target),
        },
        Some(r) if r.target.starts_with("igw-") => Internet::Closed {
            reason: format!(
                "{target} is a private NAT gateway: the internet gateway {} its subnet {nat_subnet} routes to drops its traffic, so it reaches no internet destination",
                r.target
            ),
        },
        Some(r) => Internet::Unseeable {
            target: target.to_string(),
            verify: format!("private NAT gateway {target} forwards through {} (from its subnet {nat_subnet}): verify that path reaches the internet or ECR", r.target),
        },
        None => Internet::Closed {
            reason: format!(
                "{target} is a private NAT gateway and its subnet {nat_subnet} (route table {}) routes nowhere beyond the VPC, so it reaches no internet destination",
                table.id
            ),
        },
    }
}
