//! Network facts: where the pull starts (task ENI or container instance) and everything between it
//! and ECR / S3 — subnet, route tables, NAT gateways, VPC endpoints, security groups, network ACL,
//! DHCP options. Plain data read from EC2 and ECS; the checks in `checks::network` judge it.
//!
//! Every read is its own [`Fact`], so a read that failed makes only the checks that needed it
//! `unknown`. [`NetworkFacts::origin`] resolves where the pull starts from these raw reads; the
//! collector uses the same function to decide which security groups to read next.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::{Fact, PrivateZoneFacts, ResolverRuleFacts, TaskFacts};

/// Everything the network checks read. `Default` = nothing collected (older snapshots).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NetworkFacts {
    /// The collector examined the network (`false` in snapshots from before this section existed).
    #[serde(default)]
    pub collected: bool,
    /// Why the network was not examined at all (ECS Anywhere, no ENI and no container instance…).
    #[serde(default)]
    pub skipped: Option<String>,
    /// The subnet the pull starts from, as the collector determined it (event attachment or
    /// container instance), before any EC2 read.
    #[serde(default)]
    pub subnet_id: Option<String>,
    /// The task ENI (`ec2:DescribeNetworkInterfaces`). Usually `NotFound`: ECS deletes the ENI of a
    /// task that failed to start before the event arrives.
    #[serde(default)]
    pub task_eni: Fact<EniFacts>,
    /// The service's `awsvpcConfiguration` (`ecs:DescribeServices`), for a `service:NAME` group.
    #[serde(default)]
    pub service: Fact<ServiceNetworkFacts>,
    /// EC2 launch type: the container instance (`ecs:DescribeContainerInstances`).
    #[serde(default)]
    pub container_instance: Fact<ContainerInstanceRef>,
    /// EC2 launch type: the instance behind the container instance (`ec2:DescribeInstances`).
    #[serde(default)]
    pub instance: Fact<InstanceFacts>,
    #[serde(default)]
    pub subnet: Fact<SubnetFacts>,
    #[serde(default)]
    pub vpc: Fact<VpcFacts>,
    /// `enableDnsSupport` (`ec2:DescribeVpcAttribute`).
    #[serde(default)]
    pub dns_support: Fact<bool>,
    /// `enableDnsHostnames` (`ec2:DescribeVpcAttribute`).
    #[serde(default)]
    pub dns_hostnames: Fact<bool>,
    /// The subnet's effective route table: its explicit association, else the VPC's main table.
    #[serde(default)]
    pub route_table: Fact<RouteTableFacts>,
    /// NAT gateways the route table points at.
    #[serde(default)]
    pub nat_gateways: Fact<Vec<NatGatewayFacts>>,
    /// Route tables of the subnets that hold those NAT gateways (does the NAT reach an IGW?).
    #[serde(default)]
    pub nat_route_tables: Fact<Vec<RouteTableFacts>>,
    /// The subnet's network ACL.
    #[serde(default)]
    pub network_acl: Fact<NetworkAclFacts>,
    #[serde(default)]
    pub dhcp_options: Fact<DhcpOptionsFacts>,
    /// VPC endpoints in the VPC for the services a pull uses (ECR, S3, Secrets Manager).
    #[serde(default)]
    pub endpoints: Fact<Vec<EndpointFacts>>,
    /// Security groups of the task ENI / instance.
    #[serde(default)]
    pub security_groups: Fact<Vec<SecurityGroupFacts>>,
    /// Security groups of the interface endpoints (those not already in `security_groups`).
    #[serde(default)]
    pub endpoint_security_groups: Fact<Vec<SecurityGroupFacts>>,
    /// The interface endpoints' network interfaces (their private IPs and subnets).
    #[serde(default)]
    pub endpoint_enis: Fact<Vec<EniFacts>>,
    /// Network ACLs of the subnets holding interface endpoint ENIs (other than the task's subnet).
    #[serde(default)]
    pub endpoint_network_acls: Fact<Vec<NetworkAclFacts>>,
    /// The AWS-managed prefix list `com.amazonaws.<region>.s3`.
    #[serde(default)]
    pub s3_prefix_list: Fact<PrefixListFacts>,
    /// Private hosted zones associated with the VPC, whoever owns them
    /// (`route53:ListHostedZonesByVPC`). Read only when the route table gives no clear public path.
    #[serde(default)]
    pub private_zones: Fact<Vec<PrivateZoneFacts>>,
    /// Resolver rules associated with the VPC (`route53resolver:ListResolverRuleAssociations`,
    /// `route53resolver:GetResolverRule`). Read only when the route table gives no clear public path.
    #[serde(default)]
    pub resolver_rules: Fact<Vec<ResolverRuleFacts>>,
    /// Prefix lists named by the security group rules on the pull's path (the task's egress, the
    /// interface endpoints' ingress), except those the subnet's route table names (AWS service
    /// lists such as S3's, read above): customer-managed lists and other AWS-managed ones, each
    /// with its own read, so one unreadable list leaves only the rules naming it unknown.
    #[serde(default)]
    pub rule_prefix_lists: Vec<RulePrefixList>,
    /// Network ACLs of the subnets holding the NAT gateways the route table targets (other than
    /// the task's subnet): the pull passes through them twice, in and out, each way.
    #[serde(default)]
    pub nat_network_acls: Fact<Vec<NetworkAclFacts>>,
}

/// A prefix list a security group rule names, and its entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RulePrefixList {
    pub id: String,
    /// The entries' CIDRs (`ec2:GetManagedPrefixListEntries`, every page).
    #[serde(default)]
    pub cidrs: Fact<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EniFacts {
    pub id: String,
    #[serde(default)]
    pub subnet_id: Option<String>,
    #[serde(default)]
    pub vpc_id: Option<String>,
    #[serde(default)]
    pub private_ip: Option<String>,
    #[serde(default)]
    pub public_ip: Option<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    #[serde(default)]
    pub status: Option<String>,
}

/// The network configuration a service's task was launched with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ServiceNetworkFacts {
    pub service_name: String,
    /// Which configuration was used: a deployment id running the task's task definition, or the
    /// service-level configuration.
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub subnets: Vec<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// `assignPublicIp`; `None` when the service has no awsvpc configuration.
    #[serde(default)]
    pub assign_public_ip: Option<bool>,
    /// The service has no `awsvpcConfiguration` at all (bridge/host mode service).
    #[serde(default)]
    pub no_awsvpc_configuration: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ContainerInstanceRef {
    pub arn: String,
    #[serde(default)]
    pub ec2_instance_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub agent_connected: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct InstanceFacts {
    pub id: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub subnet_id: Option<String>,
    #[serde(default)]
    pub vpc_id: Option<String>,
    #[serde(default)]
    pub private_ip: Option<String>,
    #[serde(default)]
    pub public_ip: Option<String>,
    /// Security groups of the primary network interface (device index 0).
    #[serde(default)]
    pub security_groups: Vec<String>,
    #[serde(default)]
    pub instance_profile_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SubnetFacts {
    pub id: String,
    #[serde(default)]
    pub vpc_id: Option<String>,
    #[serde(default)]
    pub cidr: Option<String>,
    #[serde(default)]
    pub availability_zone: Option<String>,
    #[serde(default)]
    pub map_public_ip_on_launch: Option<bool>,
    /// IPv6 CIDR blocks associated with the subnet (dual-stack or IPv6-only).
    #[serde(default)]
    pub ipv6_cidrs: Vec<String>,
    /// `Ipv6Native`: an IPv6-only subnet (no IPv4 addresses at all).
    #[serde(default)]
    pub ipv6_native: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct VpcFacts {
    pub id: String,
    #[serde(default)]
    pub cidrs: Vec<String>,
    #[serde(default)]
    pub dhcp_options_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RouteTableFacts {
    pub id: String,
    /// Associated with the subnet explicitly (`false`: the VPC's main table applies implicitly).
    #[serde(default)]
    pub explicit: bool,
    #[serde(default)]
    pub main: bool,
    /// Subnets explicitly associated with this table.
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    #[serde(default)]
    pub routes: Vec<RouteFacts>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RouteFacts {
    /// IPv4 CIDR destination.
    #[serde(default)]
    pub destination: Option<String>,
    #[serde(default)]
    pub destination_ipv6: Option<String>,
    /// Prefix-list destination (`pl-…`), e.g. an S3 gateway endpoint route.
    #[serde(default)]
    pub destination_prefix_list: Option<String>,
    /// The target id: `local`, `igw-…`, `nat-…`, `vpce-…`, `tgw-…`, `pcx-…`, `vgw-…`, `eni-…`, `i-…`…
    pub target: String,
    /// `active` or `blackhole`.
    #[serde(default)]
    pub state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NatGatewayFacts {
    pub id: String,
    /// `pending`, `available`, `failed`, `deleting`, `deleted`.
    #[serde(default)]
    pub state: Option<String>,
    /// `public` or `private`.
    #[serde(default)]
    pub connectivity_type: Option<String>,
    #[serde(default)]
    pub subnet_id: Option<String>,
    #[serde(default)]
    pub public_ips: Vec<String>,
    #[serde(default)]
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NetworkAclFacts {
    pub id: String,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    #[serde(default)]
    pub entries: Vec<NaclEntryFacts>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NaclEntryFacts {
    pub rule_number: i32,
    pub egress: bool,
    /// `-1` (all), `6` (TCP), `17` (UDP)…
    pub protocol: String,
    /// `allow` or `deny`.
    pub action: String,
    #[serde(default)]
    pub cidr: Option<String>,
    #[serde(default)]
    pub ipv6_cidr: Option<String>,
    #[serde(default)]
    pub port_from: Option<i32>,
    #[serde(default)]
    pub port_to: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DhcpOptionsFacts {
    pub id: String,
    /// `domain-name-servers`; empty or `AmazonProvidedDNS` = the VPC resolver.
    #[serde(default)]
    pub domain_name_servers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EndpointFacts {
    pub id: String,
    pub service_name: String,
    /// `Interface`, `Gateway`, `GatewayLoadBalancer`…
    pub endpoint_type: String,
    /// `available`, `pending`, `pendingAcceptance`, `rejected`, `failed`, `deleting`…
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub private_dns_enabled: Option<bool>,
    #[serde(default)]
    pub route_table_ids: Vec<String>,
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    #[serde(default)]
    pub network_interface_ids: Vec<String>,
    /// The endpoint policy document (JSON); `None` = the default full-access policy.
    #[serde(default)]
    pub policy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SecurityGroupFacts {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub vpc_id: Option<String>,
    #[serde(default)]
    pub ingress: Vec<SgRuleFacts>,
    #[serde(default)]
    pub egress: Vec<SgRuleFacts>,
}

/// One `IpPermission`: a protocol and port range, and the peers it allows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SgRuleFacts {
    /// `-1` (all), `tcp`, `udp`, `icmp`, or a protocol number.
    pub protocol: String,
    #[serde(default)]
    pub from_port: Option<i32>,
    #[serde(default)]
    pub to_port: Option<i32>,
    #[serde(default)]
    pub cidrs: Vec<String>,
    #[serde(default)]
    pub ipv6_cidrs: Vec<String>,
    #[serde(default)]
    pub prefix_lists: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PrefixListFacts {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub cidrs: Vec<String>,
}

/// What the pull's traffic leaves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OriginKind {
    /// Fargate: the task's own ENI carries the pull.
    TaskEni,
    /// EC2 launch type: the container instance's primary network interface carries the pull (the
    /// Docker daemon / agent pull on the host, whatever the task's network mode).
    Instance,
}

/// A value that may be unrecoverable, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known<T> {
    Yes(T),
    Unknown(String),
}

impl<T> Known<T> {
    pub fn value(&self) -> Option<&T> {
        match self {
            Known::Yes(v) => Some(v),
            Known::Unknown(_) => None,
        }
    }
    pub fn reason(&self) -> Option<&str> {
        match self {
            Known::Yes(_) => None,
            Known::Unknown(r) => Some(r),
        }
    }
}

/// Where the pull starts, resolved from the raw reads. Never guessed: what cannot be recovered is
/// [`Known::Unknown`] with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub kind: OriginKind,
    /// `task ENI eni-…` / `container instance i-…`, for messages.
    pub label: String,
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    pub private_ip: Option<Ipv4Addr>,
    /// Security group ids, and where they came from.
    pub security_groups: Known<Vec<String>>,
    pub security_groups_source: String,
    /// `Some(ip)` or `Some("assigned")` when the source has a public IP, `None` when it has none.
    pub public_ip: Known<Option<String>>,
    pub public_ip_source: String,
}

impl NetworkFacts {
    /// Resolve where the pull starts. `None` when the network was not examined.
    pub fn origin(&self, task: &TaskFacts) -> Option<Origin> {
        if self.skipped.is_some() {
            return None;
        }
        if task.container_instance_arn.is_some() {
            return Some(self.instance_origin());
        }
        let attachment = task.eni_attachment()?;
        let eni_id = attachment.details.get("networkInterfaceId").cloned();
        let label = match &eni_id {
            Some(id) => format!("task ENI {id}"),
            None => "task ENI".to_string(),
        };
        let event_ip = attachment
            .details
            .get("privateIPv4Address")
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok());
        if let Fact::Found { value: eni } = &self.task_eni {
            return Some(Origin {
                kind: OriginKind::TaskEni,
                label,
                subnet_id: eni.subnet_id.clone().or_else(|| self.subnet_id.clone()),
                vpc_id: eni.vpc_id.clone().or_else(|| self.vpc_id()),
                private_ip: eni
                    .private_ip
                    .as_deref()
                    .and_then(|ip| ip.parse().ok())
                    .or(event_ip),
                security_groups: Known::Yes(eni.security_groups.clone()),
                security_groups_source: format!("{} (ec2:DescribeNetworkInterfaces)", eni.id),
                public_ip: Known::Yes(eni.public_ip.clone()),
                public_ip_source: format!("{} (ec2:DescribeNetworkInterfaces)", eni.id),
            });
        }
        let eni_gap = match &self.task_eni {
            Fact::NotFound { .. } => {
                "the task ENI no longer exists (ECS deletes it when a task stops)".to_string()
            }
            other => format!(
                "the task ENI could not be read ({})",
                other.gap().unwrap_or("not collected")
            ),
        };
        let (security_groups, sg_source, public_ip, ip_source) = match &self.service {
            Fact::Found { value: svc } if !svc.no_awsvpc_configuration => (
                Known::Yes(svc.security_groups.clone()),
                format!("service {} ({})", svc.service_name, svc.source),
                match svc.assign_public_ip {
                    Some(true) => Known::Yes(Some("assigned (assignPublicIp ENABLED)".to_string())),
                    Some(false) => Known::Yes(None),
                    None => Known::Unknown(format!(
                        "{eni_gap}, and service {} does not say",
                        svc.service_name
                    )),
                },
                format!(
                    "service {}: assignPublicIp {} ({})",
                    svc.service_name,
                    match svc.assign_public_ip {
                        Some(true) => "ENABLED",
                        Some(false) => "DISABLED",
                        None => "not set",
                    },
                    svc.source
                ),
            ),
            Fact::Found { value: svc } => {
                let why = format!(
                    "{eni_gap}, and service {} has no awsvpc configuration",
                    svc.service_name
                );
                (
                    Known::Unknown(why.clone()),
                    String::new(),
                    Known::Unknown(why),
                    String::new(),
                )
            }
            Fact::NotCollected { .. } if !is_service_group(task) => {
                let why = format!("{eni_gap}, and a standalone task (not a service) leaves no other record of its security groups or public IP setting");
                (
                    Known::Unknown(why.clone()),
                    String::new(),
                    Known::Unknown(why),
                    String::new(),
                )
            }
            other => {
                let why = format!(
                    "{eni_gap}, and the service could not be read ({})",
                    other.gap().unwrap_or("not collected")
                );
                (
                    Known::Unknown(why.clone()),
                    String::new(),
                    Known::Unknown(why),
                    String::new(),
                )
            }
        };
        Some(Origin {
            kind: OriginKind::TaskEni,
            label,
            subnet_id: self.subnet_id.clone(),
            vpc_id: self.vpc_id(),
            private_ip: event_ip,
            security_groups,
            security_groups_source: sg_source,
            public_ip,
            public_ip_source: ip_source,
        })
    }

    fn instance_origin(&self) -> Origin {
        match &self.instance {
            Fact::Found { value: i } => Origin {
                kind: OriginKind::Instance,
                label: format!("container instance {}", i.id),
                subnet_id: i.subnet_id.clone(),
                vpc_id: i.vpc_id.clone(),
                private_ip: i.private_ip.as_deref().and_then(|ip| ip.parse().ok()),
                security_groups: Known::Yes(i.security_groups.clone()),
                security_groups_source: format!("instance {} (ec2:DescribeInstances)", i.id),
                public_ip: Known::Yes(i.public_ip.clone()),
                public_ip_source: format!("instance {} (ec2:DescribeInstances)", i.id),
            },
            other => {
                let why = match (&self.container_instance, other) {
                    (Fact::Found { .. }, gap) => format!(
                        "the EC2 instance could not be read ({})",
                        gap.gap().unwrap_or("")
                    ),
                    (gap, _) => format!(
                        "the container instance could not be read ({})",
                        gap.gap().unwrap_or("")
                    ),
                };
                Origin {
                    kind: OriginKind::Instance,
                    label: "container instance".to_string(),
                    subnet_id: None,
                    vpc_id: None,
                    private_ip: None,
                    security_groups: Known::Unknown(why.clone()),
                    security_groups_source: String::new(),
                    public_ip: Known::Unknown(why),
                    public_ip_source: String::new(),
                }
            }
        }
    }

    /// The VPC, from whichever read gave it.
    pub fn vpc_id(&self) -> Option<String> {
        self.subnet
            .value()
            .and_then(|s| s.vpc_id.clone())
            .or_else(|| self.vpc.value().map(|v| v.id.clone()))
            .or_else(|| self.task_eni.value().and_then(|e| e.vpc_id.clone()))
            .or_else(|| self.instance.value().and_then(|i| i.vpc_id.clone()))
    }
}

/// `service:NAME` → `NAME`: the group ECS gives the tasks a service starts.
pub fn service_of_group(group: Option<&str>) -> Option<&str> {
    group.and_then(|g| g.strip_prefix("service:"))
}

/// The service that started the task, from its group.
pub fn service_name(task: &TaskFacts) -> Option<&str> {
    service_of_group(task.group.as_deref())
}

fn is_service_group(task: &TaskFacts) -> bool {
    service_name(task).is_some()
}

/// VPC endpoint service name for `service` (`ecr.api`, `ecr.dkr`, `s3`…) in `region`.
pub fn endpoint_service(region: &str, service: &str) -> String {
    format!("com.amazonaws.{region}.{service}")
}

/// Service names to look for: China regions also use a `cn.`-prefixed form for some services.
pub fn endpoint_service_names(region: &str, service: &str) -> Vec<String> {
    let name = endpoint_service(region, service);
    if region.starts_with("cn-") {
        vec![format!("cn.{name}"), name]
    } else {
        vec![name]
    }
}

impl EndpointFacts {
    /// Is this the endpoint for `service` in `region` (either naming form)?
    pub fn is_service(&self, region: &str, service: &str) -> bool {
        endpoint_service_names(region, service)
            .iter()
            .any(|n| n == &self.service_name)
    }
    pub fn is_available(&self) -> bool {
        self.state
            .as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case("available"))
    }
    pub fn is_interface(&self) -> bool {
        self.endpoint_type.eq_ignore_ascii_case("interface")
    }
    pub fn is_gateway(&self) -> bool {
        self.endpoint_type.eq_ignore_ascii_case("gateway")
    }
}
