//! Network reads: where the pull starts and everything between it and ECR / S3.
//!
//! Reads are issued in dependent levels, each level's reads concurrently; for a Fargate task the
//! event already names the subnet and the ENI, so there are three levels:
//!
//! 1. task ENI (unless the event reports its attachment DELETED), service (`service:NAME` groups), subnet, the subnet's route table and network ACL
//!    (`association.subnet-id` filters);
//! 2. the task's security groups (from the ENI, else the service), the VPC, its DNS support
//!    attribute, the VPC endpoints for ECR / S3 / Secrets Manager / SSM (`vpc-id` + `service-name`
//!    filters), the NAT gateways the route table targets, the main route table when the subnet has
//!    no explicit association;
//! 3. DHCP options, the endpoints' security groups and network interfaces, the network ACLs of the
//!    endpoints' subnets, the route tables of the NAT gateways' subnets (`vpc-id` filter), the
//!    DNS hostnames attribute when interface endpoints exist, the S3 prefix list when an S3
//!    gateway endpoint or a security group rule makes it matter, the network ACLs of the NAT
//!    gateways' subnets, and the entries of the prefix lists the task's egress rules name;
//! 4. only when an interface endpoint's security group admits a prefix list not read yet: its
//!    entries.
//!
//! EC2 launch type adds two levels in front: container instance → EC2 instance (its subnet,
//! security groups and public IP). A read that fails leaves its [`Fact`] unreadable and the reads
//! that depend on it `NotCollected`; nothing aborts.

use aws_sdk_ec2::types::{Filter, VpcAttributeName};

use super::{CallLog, Clients};
use crate::model::facts::{
    endpoint_service_names, service_name, ContainerInstanceRef, DhcpOptionsFacts, EndpointFacts,
    EniFacts, ErrorKind, Fact, InstanceFacts, Known, LaunchType, NaclEntryFacts, NatGatewayFacts,
    NetworkAclFacts, NetworkFacts, PrefixListFacts, RouteFacts, RouteTableFacts, RulePrefixList,
    SecurityGroupFacts, ServiceNetworkFacts, SgRuleFacts, SubnetFacts, TaskFacts, VpcFacts,
};

/// The endpoint services a pull may use (ECR API, registry, S3, Secrets Manager for credentials).
// `ssm`: the task's secrets in Parameter Store, judged when the step that fetches them times out.
const ENDPOINT_SERVICES: &[&str] = &["ecr.api", "ecr.dkr", "s3", "secretsmanager", "ssm"];

fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

pub(super) fn skipped(reason: impl Into<String>) -> NetworkFacts {
    NetworkFacts {
        collected: true,
        skipped: Some(reason.into()),
        ..Default::default()
    }
}

fn not_collected<T>(why: &str) -> Fact<T> {
    Fact::NotCollected {
        reason: why.to_string(),
    }
}

/// Read the network facts for the task described by the event, and where its VPC resolves names
/// ([`super::private_dns`]).
/// `supplied_service`: a preflight's planned awsvpc configuration, used instead of reading the service.
pub(super) async fn read_network(
    clients: &Clients,
    log: &CallLog,
    task: &TaskFacts,
    region: Option<&str>,
    supplied_service: Option<&ServiceNetworkFacts>,
) -> NetworkFacts {
    let (mut n, private_dns_read) =
        Box::pin(read_levels(clients, log, task, region, supplied_service)).await;
    if !private_dns_read {
        // Not reached the VPC levels: says why the private DNS was not read (or reads it).
        Box::pin(super::private_dns::read_private_dns(
            clients, log, region, &mut n,
        ))
        .await;
    }
    n
}

/// The network levels; `true` when they read the private DNS too.
async fn read_levels(
    clients: &Clients,
    log: &CallLog,
    task: &TaskFacts,
    region: Option<&str>,
    supplied_service: Option<&ServiceNetworkFacts>,
) -> (NetworkFacts, bool) {
    if task.launch_type == Some(LaunchType::External) {
        return (
            skipped("ECS Anywhere (EXTERNAL) instances are outside any VPC"),
            false,
        );
    }
    let Some(region) = region else {
        return (skipped("the task's region is not known"), false);
    };
    let cluster = task.cluster_arn.as_deref();
    if let Some(ci_arn) = task.container_instance_arn.as_deref() {
        return Box::pin(read_from_instance(clients, log, region, cluster, ci_arn)).await;
    }
    let Some(attachment) = task.eni_attachment() else {
        return (
            skipped("the task has neither an ENI attachment nor a container instance"),
            false,
        );
    };
    let Some(subnet_id) = attachment.details.get("subnetId").cloned() else {
        return (skipped("the task's ENI attachment names no subnet"), false);
    };
    let mut n = NetworkFacts {
        collected: true,
        subnet_id: Some(subnet_id.clone()),
        ..Default::default()
    };
    n.container_instance = not_collected("Fargate: no container instance");
    n.instance = not_collected("Fargate: no container instance");

    // Level 1.
    let eni_id = attachment.details.get("networkInterfaceId").cloned();
    // ECS deletes a stopped task's ENI; an attachment the event reports DELETED cannot be read.
    let eni_deleted = attachment
        .status
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("DELETED"));
    let eni = async {
        match &eni_id {
            Some(id) if eni_deleted => {
                Fact::NotFound { detail: format!("network interface {id} was deleted with the task (its attachment is DELETED in the event); not read") }
            }
            Some(id) => read_enis(clients, log, std::slice::from_ref(id), true)
                .await
                .and_then_first(|| format!("network interface {id} not returned")),
            None => not_collected("the ENI attachment names no network interface"),
        }
    };
    let service = async {
        if let Some(planned) = supplied_service {
            return Fact::found(planned.clone());
        }
        match (service_name(task), cluster) {
            (Some(name), Some(cluster)) => {
                read_service(
                    clients,
                    log,
                    cluster,
                    name,
                    task.task_definition_arn.as_deref(),
                )
                .await
            }
            (Some(_), None) => not_collected("the event names no cluster"),
            (None, _) => not_collected("standalone task (not started by a service)"),
        }
    };
    let (task_eni, service, base) = tokio::join!(
        Box::pin(eni),
        Box::pin(service),
        Box::pin(read_subnet_level(clients, log, &subnet_id))
    );
    n.task_eni = task_eni;
    n.service = service;
    base.apply(&mut n);

    // Levels 2 and 3.
    let sg_ids = n.origin(task).and_then(|o| match o.security_groups {
        Known::Yes(ids) => Some(ids),
        Known::Unknown(_) => None,
    });
    let private_dns_read = Box::pin(read_vpc_levels(clients, log, region, &mut n, sg_ids)).await;
    (n, private_dns_read)
}

/// EC2 launch type: the container instance and its EC2 instance carry the pull.
async fn read_from_instance(
    clients: &Clients,
    log: &CallLog,
    region: &str,
    cluster: Option<&str>,
    ci_arn: &str,
) -> (NetworkFacts, bool) {
    let mut n = NetworkFacts {
        collected: true,
        ..Default::default()
    };
    n.task_eni = not_collected(
        "EC2 launch type: the container instance's network interface carries the pull",
    );
    n.service = not_collected("EC2 launch type: the instance's security groups apply");
    let Some(cluster) = cluster else {
        n.container_instance = not_collected("the event names no cluster");
        n.instance = not_collected("the container instance could not be read");
        return (n, false);
    };
    n.container_instance = shared!(
        log,
        "ecs:DescribeContainerInstances",
        &["ClusterNotFoundException"],
        clients
            .ecs
            .describe_container_instances()
            .cluster(cluster)
            .container_instances(ci_arn),
        |out| match out.container_instances().first() {
            Some(ci) => Fact::found(ContainerInstanceRef {
                arn: ci.container_instance_arn().unwrap_or(ci_arn).to_string(),
                ec2_instance_id: ci.ec2_instance_id().map(str::to_string),
                status: ci.status().map(str::to_string),
                agent_connected: Some(ci.agent_connected()),
            }),
            None => Fact::NotFound {
                detail: out
                    .failures()
                    .first()
                    .and_then(|f| f.reason())
                    .unwrap_or("container instance not returned")
                    .to_string(),
            },
        },
    )
    .await;
    let instance_id = n
        .container_instance
        .value()
        .and_then(|c| c.ec2_instance_id.clone());
    n.instance = match instance_id {
        Some(id) => {
            shared!(
                log,
                "ec2:DescribeInstances",
                &["InvalidInstanceID.NotFound"],
                clients.ec2.describe_instances().instance_ids(&id),
                |out| match out.reservations().iter().flat_map(|r| r.instances()).next() {
                    Some(i) => Fact::found(instance_facts(i)),
                    None => Fact::NotFound {
                        detail: format!("instance {id} not returned")
                    },
                },
            )
            .await
        }
        None => match &n.container_instance {
            Fact::Found { .. } => not_collected("the container instance has no EC2 instance id"),
            other => not_collected(&format!(
                "container instance: {}",
                other.gap().unwrap_or("")
            )),
        },
    };
    let Some(instance) = n.instance.value().cloned() else {
        return (n, false);
    };
    let Some(subnet_id) = instance.subnet_id.clone() else {
        return (n, false);
    };
    n.subnet_id = Some(subnet_id.clone());
    Box::pin(read_subnet_level(clients, log, &subnet_id))
        .await
        .apply(&mut n);
    let private_dns_read = Box::pin(read_vpc_levels(
        clients,
        log,
        region,
        &mut n,
        Some(instance.security_groups.clone()),
    ))
    .await;
    (n, private_dns_read)
}

/// Level-1 reads that need only the subnet id.
struct SubnetLevel {
    subnet: Fact<SubnetFacts>,
    explicit_route_table: Fact<Option<RouteTableFacts>>,
    network_acl: Fact<NetworkAclFacts>,
}

impl SubnetLevel {
    fn apply(self, n: &mut NetworkFacts) {
        n.subnet = self.subnet;
        n.network_acl = self.network_acl;
        n.route_table = match self.explicit_route_table {
            Fact::Found { value: Some(rt) } => Fact::found(rt),
            // No explicit association: the main table, read once the VPC is known.
            Fact::Found { value: None } => {
                not_collected("pending: the subnet uses the VPC's main route table")
            }
            Fact::NotFound { detail } => Fact::NotFound { detail },
            Fact::Unreadable { reason, kind } => Fact::Unreadable { reason, kind },
            Fact::NotCollected { reason } => Fact::NotCollected { reason },
        };
    }
}

async fn read_subnet_level(clients: &Clients, log: &CallLog, subnet_id: &str) -> SubnetLevel {
    let subnet = shared!(
        log,
        "ec2:DescribeSubnets",
        &["InvalidSubnetID.NotFound"],
        clients.ec2.describe_subnets().subnet_ids(subnet_id),
        |out| match out.subnets().first() {
            Some(s) => Fact::found(SubnetFacts {
                id: s.subnet_id().unwrap_or(subnet_id).to_string(),
                vpc_id: s.vpc_id().map(str::to_string),
                cidr: s.cidr_block().map(str::to_string),
                availability_zone: s.availability_zone().map(str::to_string),
                map_public_ip_on_launch: s.map_public_ip_on_launch(),
                ipv6_cidrs: s
                    .ipv6_cidr_block_association_set()
                    .iter()
                    .filter(|a| a
                        .ipv6_cidr_block_state()
                        .and_then(|st| st.state())
                        .is_none_or(|st| st.as_str() == "associated"))
                    .filter_map(|a| a.ipv6_cidr_block().map(str::to_string))
                    .collect(),
                ipv6_native: s.ipv6_native(),
            }),
            None => Fact::NotFound {
                detail: format!("subnet {subnet_id} not returned")
            },
        },
    );
    let route_table = shared!(
        log,
        "ec2:DescribeRouteTables",
        &[],
        clients
            .ec2
            .describe_route_tables()
            .filters(filter("association.subnet-id", [subnet_id])),
        |out| Fact::found(
            out.route_tables()
                .first()
                .map(|rt| route_table_facts(rt, Some(subnet_id)))
        ),
    );
    let nacl = shared!(
        log,
        "ec2:DescribeNetworkAcls",
        &[],
        clients
            .ec2
            .describe_network_acls()
            .filters(filter("association.subnet-id", [subnet_id])),
        |out| match out.network_acls().first() {
            Some(acl) => Fact::found(nacl_facts(acl)),
            None => Fact::NotFound {
                detail: format!("no network ACL is associated with {subnet_id}")
            },
        },
    );
    let (subnet, explicit_route_table, network_acl) =
        tokio::join!(Box::pin(subnet), Box::pin(route_table), Box::pin(nacl));
    SubnetLevel {
        subnet,
        explicit_route_table,
        network_acl,
    }
}

/// Levels 2 to 4: everything that needs the VPC id, the security group ids or level-2 answers,
/// and the VPC's private DNS. Returns whether the private DNS was read (or decided against).
// Each level waits for the answers the next one needs; within a level every read is issued at once.
async fn read_vpc_levels(
    clients: &Clients,
    log: &CallLog,
    region: &str,
    n: &mut NetworkFacts,
    sg_ids: Option<Vec<String>>,
) -> bool {
    let Some(vpc_id) = n.vpc_id() else {
        Box::pin(read_without_vpc(clients, log, region, n, sg_ids.as_deref())).await;
        return false;
    };
    if matches!(n.route_table, Fact::NotCollected { .. }) {
        // The main route table, read at level 2, decides whether the private DNS matters.
        Box::pin(read_vpc_level(
            clients,
            log,
            region,
            &vpc_id,
            n,
            sg_ids.as_deref(),
        ))
        .await;
        Box::pin(super::private_dns::read_private_dns(
            clients,
            log,
            Some(region),
            n,
        ))
        .await;
    } else {
        // The subnet's own route table decides already: the private DNS is read beside level 2.
        let plan = super::private_dns::plan(n, Some(region));
        let (_, (zones, rules)) = tokio::join!(
            Box::pin(read_vpc_level(
                clients,
                log,
                region,
                &vpc_id,
                n,
                sg_ids.as_deref()
            )),
            Box::pin(super::private_dns::read_planned(clients, log, plan)),
        );
        n.private_zones = zones;
        n.resolver_rules = rules;
    }
    Box::pin(read_path_level(clients, log, region, &vpc_id, n)).await;
    Box::pin(read_endpoint_ingress_lists(clients, log, n)).await;
    true
}

/// The VPC is not known: only the reads that do not need it, one after the other.
async fn read_without_vpc(
    clients: &Clients,
    log: &CallLog,
    region: &str,
    n: &mut NetworkFacts,
    sg_ids: Option<&[String]>,
) {
    let why = format!(
        "the VPC is not known (subnet: {})",
        n.subnet.gap().unwrap_or("read, but it names no VPC")
    );
    n.vpc = not_collected(&why);
    n.dns_support = not_collected(&why);
    n.dns_hostnames = not_collected(&why);
    n.endpoints = not_collected(&why);
    n.dhcp_options = not_collected(&why);
    n.s3_prefix_list = Box::pin(read_prefix_list(clients, log, region)).await;
    if matches!(n.route_table, Fact::NotCollected { .. }) {
        n.route_table = not_collected(&why);
    }
    n.security_groups = read_task_security_groups(clients, log, sg_ids).await;
}

/// Level 2: the reads that need only the VPC id, the security group ids or the subnet's route
/// table, at once; then the NAT gateways of a main route table this level found.
async fn read_vpc_level(
    clients: &Clients,
    log: &CallLog,
    region: &str,
    vpc_id: &str,
    n: &mut NetworkFacts,
    sg_ids: Option<&[String]>,
) {
    let needs_main = matches!(n.route_table, Fact::NotCollected { .. });
    let nat_ids = nat_targets(&n.route_table);
    let main_rt = async {
        if needs_main {
            Some(read_main_route_table(clients, log, vpc_id).await)
        } else {
            None
        }
    };
    // Each read boxed: the joined SDK futures are large, and debug builds poll them on small stacks.
    let (security_groups, main_rt, nats, vpc, dns_support, endpoints) = tokio::join!(
        Box::pin(read_task_security_groups(clients, log, sg_ids)),
        Box::pin(main_rt),
        Box::pin(read_nat_gateways_if_any(clients, log, &nat_ids)),
        Box::pin(read_vpc(clients, log, vpc_id)),
        Box::pin(read_vpc_attribute(
            clients,
            log,
            vpc_id,
            VpcAttributeName::EnableDnsSupport
        )),
        Box::pin(read_endpoints(clients, log, region, vpc_id)),
    );
    n.security_groups = security_groups;
    if let Some(main) = main_rt {
        n.route_table = main;
    }
    n.vpc = vpc;
    n.dns_support = dns_support;
    n.endpoints = endpoints;
    // A main route table found at level 2 may itself target NAT gateways.
    let nats = match (nats, needs_main) {
        (Some(nats), _) => Some(nats),
        (None, true) => {
            Box::pin(read_nat_gateways_if_any(
                clients,
                log,
                &nat_targets(&n.route_table),
            ))
            .await
        }
        (None, false) => None,
    };
    n.nat_gateways =
        nats.unwrap_or_else(|| not_collected("the route table targets no NAT gateway"));
}

/// Level 3: the reads that follow level-2 answers (DHCP options, the endpoints' groups, interfaces
/// and ACLs, the NAT gateways' subnets, prefix lists), independent of each other, so all at once.
async fn read_path_level(
    clients: &Clients,
    log: &CallLog,
    region: &str,
    vpc_id: &str,
    n: &mut NetworkFacts,
) {
    let facts: &NetworkFacts = n;
    let parts = EndpointParts::of(facts);
    let nat_subnets: Vec<String> = facts
        .nat_gateways
        .value()
        .map(|g| g.iter().filter_map(|g| g.subnet_id.clone()).collect())
        .unwrap_or_default();
    // Prefix lists the task's egress rules name; the route table's own (S3's) is read apart.
    let route_lists = route_prefix_lists(facts);
    let egress_lists = prefix_lists_in(
        facts
            .security_groups
            .value()
            .map(Vec::as_slice)
            .unwrap_or_default(),
        true,
        &route_lists,
    );
    let (
        dhcp,
        endpoint_sgs,
        endpoint_enis,
        endpoint_acls,
        nat_tables,
        prefix_list,
        dns_hostnames,
        nat_acls,
        rule_lists,
    ) = tokio::join!(
        Box::pin(read_dhcp(clients, log, facts)),
        Box::pin(read_endpoint_security_groups(
            clients,
            log,
            facts,
            &parts.security_groups
        )),
        Box::pin(read_endpoint_enis(
            clients,
            log,
            facts,
            &parts.network_interfaces
        )),
        Box::pin(read_endpoint_network_acls(
            clients,
            log,
            facts,
            &parts.subnets
        )),
        Box::pin(read_nat_route_tables(
            clients,
            log,
            vpc_id,
            facts,
            &nat_subnets
        )),
        Box::pin(read_s3_prefix_list_if_needed(clients, log, region, facts)),
        Box::pin(read_dns_hostnames_if_needed(clients, log, vpc_id, facts)),
        Box::pin(read_nat_network_acls(clients, log, facts, &nat_subnets)),
        Box::pin(read_rule_prefix_lists(clients, log, &egress_lists)),
    );
    n.s3_prefix_list = prefix_list;
    n.dns_hostnames = dns_hostnames;
    n.dhcp_options = dhcp;
    n.endpoint_security_groups = endpoint_sgs;
    n.endpoint_enis = endpoint_enis;
    n.endpoint_network_acls = endpoint_acls;
    n.nat_route_tables = nat_tables;
    n.nat_network_acls = nat_acls;
    n.rule_prefix_lists = rule_lists;
}

/// Level 4, only when an interface endpoint's security group admits a prefix list not yet read.
async fn read_endpoint_ingress_lists(clients: &Clients, log: &CallLog, n: &mut NetworkFacts) {
    let endpoint_group_ids: Vec<&String> = n
        .endpoints
        .value()
        .map(|eps| {
            eps.iter()
                .filter(|e| e.is_interface())
                .flat_map(|e| &e.security_groups)
                .collect()
        })
        .unwrap_or_default();
    let endpoint_groups: Vec<SecurityGroupFacts> = n
        .security_groups
        .value()
        .into_iter()
        .flatten()
        .chain(n.endpoint_security_groups.value().into_iter().flatten())
        .filter(|g| endpoint_group_ids.contains(&&g.id))
        .cloned()
        .collect();
    let mut known = route_prefix_lists(n);
    known.extend(n.rule_prefix_lists.iter().map(|p| p.id.clone()));
    known.extend(n.s3_prefix_list.value().map(|p| p.id.clone()));
    let ingress_lists = prefix_lists_in(&endpoint_groups, false, &known);
    if !ingress_lists.is_empty() {
        let more = Box::pin(read_rule_prefix_lists(clients, log, &ingress_lists)).await;
        n.rule_prefix_lists.extend(more);
    }
}

/// The NAT gateways a route table sends traffic to.
fn nat_targets(route_table: &Fact<RouteTableFacts>) -> Vec<String> {
    route_table
        .value()
        .map(|rt| {
            rt.routes
                .iter()
                .filter(|r| r.target.starts_with("nat-"))
                .map(|r| r.target.clone())
                .collect()
        })
        .unwrap_or_default()
}

async fn read_task_security_groups(
    clients: &Clients,
    log: &CallLog,
    ids: Option<&[String]>,
) -> Fact<Vec<SecurityGroupFacts>> {
    match ids {
        Some(ids) => read_security_groups(clients, log, ids).await,
        None => not_collected("the task's security groups are not known"),
    }
}

/// `None` when no route targets a NAT gateway.
async fn read_nat_gateways_if_any(
    clients: &Clients,
    log: &CallLog,
    ids: &[String],
) -> Option<Fact<Vec<NatGatewayFacts>>> {
    if ids.is_empty() {
        None
    } else {
        Some(read_nat_gateways(clients, log, ids).await)
    }
}

async fn read_vpc(clients: &Clients, log: &CallLog, vpc_id: &str) -> Fact<VpcFacts> {
    shared!(
        log,
        "ec2:DescribeVpcs",
        &["InvalidVpcID.NotFound"],
        clients.ec2.describe_vpcs().vpc_ids(vpc_id),
        |out| match out.vpcs().first() {
            Some(v) => Fact::found(VpcFacts {
                id: v.vpc_id().unwrap_or(vpc_id).to_string(),
                cidrs: {
                    let mut c: Vec<String> = v
                        .cidr_block_association_set()
                        .iter()
                        .filter(|a| {
                            a.cidr_block_state()
                                .and_then(|s| s.state())
                                .is_none_or(|s| s.as_str() == "associated")
                        })
                        .filter_map(|a| a.cidr_block().map(str::to_string))
                        .collect();
                    if c.is_empty() {
                        c.extend(v.cidr_block().map(str::to_string));
                    }
                    c
                },
                dhcp_options_id: v.dhcp_options_id().map(str::to_string),
            }),
            None => Fact::NotFound {
                detail: format!("VPC {vpc_id} not returned")
            },
        },
    )
    .await
}

/// The VPC's endpoints for the services a pull may use ([`ENDPOINT_SERVICES`]).
async fn read_endpoints(
    clients: &Clients,
    log: &CallLog,
    region: &str,
    vpc_id: &str,
) -> Fact<Vec<EndpointFacts>> {
    let mut endpoint_names = vec![];
    for svc in ENDPOINT_SERVICES {
        endpoint_names.extend(endpoint_service_names(region, svc));
    }
    shared!(
        log,
        "ec2:DescribeVpcEndpoints",
        &[],
        clients
            .ec2
            .describe_vpc_endpoints()
            .filters(filter("vpc-id", [vpc_id]))
            .filters(filter("service-name", endpoint_names)),
        |out| Fact::found(
            out.vpc_endpoints()
                .iter()
                .map(endpoint_facts)
                .collect::<Vec<_>>()
        ),
    )
    .await
}

/// What the interface endpoints name that is not read yet: their security groups (beyond the
/// task's), network interfaces and subnets (beyond the task's).
struct EndpointParts {
    security_groups: Vec<String>,
    network_interfaces: Vec<String>,
    subnets: Vec<String>,
}

impl EndpointParts {
    fn of(n: &NetworkFacts) -> Self {
        let known_sgs: Vec<String> = n
            .security_groups
            .value()
            .map(|g| g.iter().map(|s| s.id.clone()).collect())
            .unwrap_or_default();
        let mut parts = EndpointParts {
            security_groups: vec![],
            network_interfaces: vec![],
            subnets: vec![],
        };
        for e in n
            .endpoints
            .value()
            .into_iter()
            .flatten()
            .filter(|e| e.is_interface())
        {
            for g in &e.security_groups {
                if !known_sgs.contains(g) && !parts.security_groups.contains(g) {
                    parts.security_groups.push(g.clone());
                }
            }
            parts
                .network_interfaces
                .extend(e.network_interface_ids.iter().cloned());
            for s in &e.subnet_ids {
                if Some(s) != n.subnet_id.as_ref() && !parts.subnets.contains(s) {
                    parts.subnets.push(s.clone());
                }
            }
        }
        parts
    }
}

/// Nothing of the endpoints' to read: empty when the endpoints were read, else why not.
fn no_endpoint_parts<T>(n: &NetworkFacts) -> Fact<Vec<T>> {
    match &n.endpoints {
        Fact::Found { .. } => Fact::found(vec![]),
        other => not_collected(&format!("VPC endpoints: {}", other.gap().unwrap_or(""))),
    }
}

async fn read_dhcp(clients: &Clients, log: &CallLog, n: &NetworkFacts) -> Fact<DhcpOptionsFacts> {
    match n.vpc.value().and_then(|v| v.dhcp_options_id.as_deref()) {
        // No options set: instances use the VPC resolver.
        Some("default") => Fact::found(DhcpOptionsFacts {
            id: "default".into(),
            domain_name_servers: vec![],
        }),
        None => match &n.vpc {
            Fact::Found { .. } => Fact::found(DhcpOptionsFacts {
                id: "default".into(),
                domain_name_servers: vec![],
            }),
            other => not_collected(&format!("VPC: {}", other.gap().unwrap_or(""))),
        },
        Some(id) => read_dhcp_options(clients, log, id).await,
    }
}

async fn read_endpoint_security_groups(
    clients: &Clients,
    log: &CallLog,
    n: &NetworkFacts,
    ids: &[String],
) -> Fact<Vec<SecurityGroupFacts>> {
    if ids.is_empty() {
        no_endpoint_parts(n)
    } else {
        read_security_groups(clients, log, ids).await
    }
}

async fn read_endpoint_enis(
    clients: &Clients,
    log: &CallLog,
    n: &NetworkFacts,
    ids: &[String],
) -> Fact<Vec<EniFacts>> {
    if ids.is_empty() {
        no_endpoint_parts(n)
    } else {
        read_enis(clients, log, ids, false).await
    }
}

async fn read_endpoint_network_acls(
    clients: &Clients,
    log: &CallLog,
    n: &NetworkFacts,
    subnets: &[String],
) -> Fact<Vec<NetworkAclFacts>> {
    if subnets.is_empty() {
        no_endpoint_parts(n)
    } else {
        read_subnets_network_acls(clients, log, subnets).await
    }
}

/// The route tables of the NAT gateways' subnets: the subnet's own when that is where they are.
async fn read_nat_route_tables(
    clients: &Clients,
    log: &CallLog,
    vpc_id: &str,
    n: &NetworkFacts,
    nat_subnets: &[String],
) -> Fact<Vec<RouteTableFacts>> {
    let known = nat_subnets
        .iter()
        .all(|s| Some(s) == n.subnet_id.as_ref() && n.route_table.value().is_some());
    if nat_subnets.is_empty() {
        not_collected("no NAT gateway to follow")
    } else if known {
        Fact::found(n.route_table.value().cloned().into_iter().collect())
    } else {
        shared!(
            log,
            "ec2:DescribeRouteTables",
            &[],
            clients
                .ec2
                .describe_route_tables()
                .filters(filter("vpc-id", [vpc_id])),
            |out| Fact::found(
                out.route_tables()
                    .iter()
                    .map(|rt| route_table_facts(rt, None))
                    .collect::<Vec<_>>()
            ),
        )
        .await
    }
}

/// The NAT gateways' own subnets: their network ACLs see the pull both ways.
async fn read_nat_network_acls(
    clients: &Clients,
    log: &CallLog,
    n: &NetworkFacts,
    nat_subnets: &[String],
) -> Fact<Vec<NetworkAclFacts>> {
    let other_subnets: Vec<String> = nat_subnets
        .iter()
        .filter(|s| Some(*s) != n.subnet_id.as_ref())
        .cloned()
        .collect();
    if nat_subnets.is_empty() {
        not_collected("no NAT gateway to follow")
    } else if other_subnets.is_empty() {
        Fact::found(vec![])
    } else {
        read_subnets_network_acls(clients, log, &other_subnets).await
    }
}

async fn read_subnets_network_acls(
    clients: &Clients,
    log: &CallLog,
    subnets: &[String],
) -> Fact<Vec<NetworkAclFacts>> {
    shared!(
        log,
        "ec2:DescribeNetworkAcls",
        &[],
        clients
            .ec2
            .describe_network_acls()
            .filters(filter("association.subnet-id", subnets.to_vec())),
        |out| Fact::found(
            out.network_acls()
                .iter()
                .map(nacl_facts)
                .collect::<Vec<_>>()
        ),
    )
    .await
}

/// The S3 prefix list matters only on the way through an S3 gateway endpoint, or when a security
/// group rule names a prefix list; unknown endpoints or groups mean it may matter.
async fn read_s3_prefix_list_if_needed(
    clients: &Clients,
    log: &CallLog,
    region: &str,
    n: &NetworkFacts,
) -> Fact<PrefixListFacts> {
    let s3_gateway = match &n.endpoints {
        Fact::Found { value } => value
            .iter()
            .any(|e| e.is_gateway() && e.service_name.ends_with(".s3")),
        _ => true,
    };
    let names_prefix_list = match &n.security_groups {
        Fact::Found { value } => value.iter().any(|g| {
            g.egress
                .iter()
                .chain(&g.ingress)
                .any(|r| !r.prefix_lists.is_empty())
        }),
        _ => true,
    };
    if s3_gateway || names_prefix_list {
        read_prefix_list(clients, log, region).await
    } else {
        not_collected("not needed: the VPC has no S3 gateway endpoint and no security group rule names a prefix list")
    }
}

/// DNS hostnames matter only for interface endpoints' private DNS names.
async fn read_dns_hostnames_if_needed(
    clients: &Clients,
    log: &CallLog,
    vpc_id: &str,
    n: &NetworkFacts,
) -> Fact<bool> {
    let has_interface_endpoints = match &n.endpoints {
        Fact::Found { value } => value.iter().any(|e| e.is_interface()),
        _ => true,
    };
    if has_interface_endpoints {
        read_vpc_attribute(clients, log, vpc_id, VpcAttributeName::EnableDnsHostnames).await
    } else {
        not_collected(
            "not needed: the VPC has no interface endpoint whose private DNS name depends on it",
        )
    }
}

/// Prefix lists the subnet's route table sends traffic to (gateway endpoints' service lists).
fn route_prefix_lists(n: &NetworkFacts) -> Vec<String> {
    n.route_table
        .value()
        .map(|rt| {
            rt.routes
                .iter()
                .filter_map(|r| r.destination_prefix_list.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Prefix lists named by the egress (or ingress) rules of `groups`, except `known` ones.
fn prefix_lists_in(groups: &[SecurityGroupFacts], egress: bool, known: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = vec![];
    for g in groups {
        let rules = if egress { &g.egress } else { &g.ingress };
        for id in rules.iter().flat_map(|r| &r.prefix_lists) {
            if !known.contains(id) && !ids.contains(id) {
                ids.push(id.clone());
            }
        }
    }
    ids
}

/// The entries of each prefix list, concurrently; a list that cannot be read is unreadable on its own.
async fn read_rule_prefix_lists(
    clients: &Clients,
    log: &CallLog,
    ids: &[String],
) -> Vec<RulePrefixList> {
    let reads = ids.iter().map(|id| async move {
        RulePrefixList {
            id: id.clone(),
            cidrs: Box::pin(read_prefix_list_entries(clients, log, id)).await,
        }
    });
    futures_util::future::join_all(reads).await
}

/// Every page of `GetManagedPrefixListEntries` (a customer-managed list holds up to 1,000 entries;
/// a page at most 100). Works for AWS-managed lists too.
async fn read_prefix_list_entries(clients: &Clients, log: &CallLog, id: &str) -> Fact<Vec<String>> {
    let mut cidrs: Vec<String> = vec![];
    let mut token: Option<String> = None;
    // Ten pages of 100 hold the largest list AWS allows; the bound keeps a looping token finite.
    for _ in 0..10 {
        let page = shared!(
            log,
            "ec2:GetManagedPrefixListEntries",
            &[
                "InvalidPrefixListID.NotFound",
                "InvalidPrefixListId.NotFound"
            ],
            clients
                .ec2
                .get_managed_prefix_list_entries()
                .prefix_list_id(id)
                .max_results(100)
                .set_next_token(token.clone()),
            |out| Fact::found((
                out.entries()
                    .iter()
                    .filter_map(|e| e.cidr().map(str::to_string))
                    .collect::<Vec<_>>(),
                out.next_token()
                    .filter(|t| !t.is_empty())
                    .map(str::to_string),
            )),
        )
        .await;
        match page {
            Fact::Found {
                value: (entries, next),
            } => {
                cidrs.extend(entries);
                match next {
                    Some(next) => token = Some(next),
                    None => return Fact::found(cidrs),
                }
            }
            Fact::NotFound { detail } => {
                return Fact::NotFound {
                    detail: format!("prefix list {id}: {detail}"),
                }
            }
            Fact::Unreadable { reason, kind } => return Fact::Unreadable { reason, kind },
            Fact::NotCollected { reason } => return Fact::NotCollected { reason },
        }
    }
    Fact::Unreadable { reason: format!("prefix list {id} has more entries than ten pages of GetManagedPrefixListEntries returned"), kind: ErrorKind::Other }
}

trait FirstOf<T> {
    fn and_then_first(self, missing: impl FnOnce() -> String) -> Fact<T>;
}
impl<T> FirstOf<T> for Fact<Vec<T>> {
    fn and_then_first(self, missing: impl FnOnce() -> String) -> Fact<T> {
        match self {
            Fact::Found { value } => match value.into_iter().next() {
                Some(v) => Fact::found(v),
                None => Fact::NotFound { detail: missing() },
            },
            Fact::NotFound { detail } => Fact::NotFound { detail },
            Fact::Unreadable { reason, kind } => Fact::Unreadable { reason, kind },
            Fact::NotCollected { reason } => Fact::NotCollected { reason },
        }
    }
}

async fn read_enis(
    clients: &Clients,
    log: &CallLog,
    ids: &[String],
    by_id: bool,
) -> Fact<Vec<EniFacts>> {
    // By id, a deleted ENI is an explicit `InvalidNetworkInterfaceID.NotFound`; by filter, missing
    // ones are simply absent (used for endpoint ENIs, where one missing must not hide the others).
    let req = clients.ec2.describe_network_interfaces();
    let req = if by_id {
        req.set_network_interface_ids(Some(ids.to_vec()))
    } else {
        req.filters(filter("network-interface-id", ids.to_vec()))
    };
    log.read(
        "ec2:DescribeNetworkInterfaces",
        &["InvalidNetworkInterfaceID.NotFound"],
        req.send(),
        |out| {
            Fact::found(
                out.network_interfaces()
                    .iter()
                    .map(|e| EniFacts {
                        id: e.network_interface_id().unwrap_or_default().to_string(),
                        subnet_id: e.subnet_id().map(str::to_string),
                        vpc_id: e.vpc_id().map(str::to_string),
                        private_ip: e.private_ip_address().map(str::to_string),
                        public_ip: e
                            .association()
                            .and_then(|a| a.public_ip())
                            .map(str::to_string),
                        security_groups: e
                            .groups()
                            .iter()
                            .filter_map(|g| g.group_id().map(str::to_string))
                            .collect(),
                        status: e.status().map(|s| s.as_str().to_string()),
                    })
                    .collect::<Vec<_>>(),
            )
        },
    )
    .await
}

async fn read_service(
    clients: &Clients,
    log: &CallLog,
    cluster: &str,
    name: &str,
    task_definition_arn: Option<&str>,
) -> Fact<ServiceNetworkFacts> {
    shared!(
        log,
        "ecs:DescribeServices",
        &["ClusterNotFoundException", "ServiceNotFoundException"],
        clients
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(name),
        |out| match out.services().first() {
            Some(svc) => Fact::found(service_network(svc, name, task_definition_arn)),
            None => Fact::NotFound {
                detail: out
                    .failures()
                    .first()
                    .and_then(|f| f.reason())
                    .unwrap_or("service not returned")
                    .to_string(),
            },
        },
    )
    .await
}

/// The awsvpc configuration the task was launched with: the deployment running the task's task
/// definition (PRIMARY first), else the service-level configuration.
pub fn service_network(
    svc: &aws_sdk_ecs::types::Service,
    name: &str,
    task_definition_arn: Option<&str>,
) -> ServiceNetworkFacts {
    use aws_sdk_ecs::types::{AssignPublicIp, NetworkConfiguration};
    let awsvpc =
        |nc: Option<&NetworkConfiguration>| nc.and_then(|n| n.awsvpc_configuration()).cloned();
    let mut deployments: Vec<_> = svc
        .deployments()
        .iter()
        .filter(|d| task_definition_arn.is_some() && d.task_definition() == task_definition_arn)
        .filter(|d| awsvpc(d.network_configuration()).is_some())
        .collect();
    deployments.sort_by_key(|d| d.status() != Some("PRIMARY"));
    let task_set = svc.task_sets().iter().find(|t| {
        task_definition_arn.is_some()
            && t.task_definition() == task_definition_arn
            && awsvpc(t.network_configuration()).is_some()
    });
    let (config, source) = if let Some(d) = deployments.first() {
        (
            awsvpc(d.network_configuration()),
            format!(
                "deployment {} ({}) running {}",
                d.id().unwrap_or("?"),
                d.status().unwrap_or("?"),
                d.task_definition()
                    .unwrap_or("?")
                    .rsplit('/')
                    .next()
                    .unwrap_or("?")
            ),
        )
    } else if let Some(t) = task_set {
        (
            awsvpc(t.network_configuration()),
            format!("task set {}", t.id().unwrap_or("?")),
        )
    } else {
        (
            awsvpc(svc.network_configuration()),
            "service networkConfiguration".to_string(),
        )
    };
    match config {
        Some(c) => ServiceNetworkFacts {
            service_name: name.to_string(),
            source,
            subnets: c.subnets().to_vec(),
            security_groups: c.security_groups().to_vec(),
            assign_public_ip: Some(c.assign_public_ip() == Some(&AssignPublicIp::Enabled)),
            no_awsvpc_configuration: false,
        },
        None => ServiceNetworkFacts {
            service_name: name.to_string(),
            source,
            no_awsvpc_configuration: true,
            ..Default::default()
        },
    }
}

fn instance_facts(i: &aws_sdk_ec2::types::Instance) -> InstanceFacts {
    let primary = i
        .network_interfaces()
        .iter()
        .find(|e| e.attachment().and_then(|a| a.device_index()) == Some(0));
    let groups = |g: &[aws_sdk_ec2::types::GroupIdentifier]| {
        g.iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect::<Vec<_>>()
    };
    InstanceFacts {
        id: i.instance_id().unwrap_or_default().to_string(),
        state: i
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string()),
        subnet_id: primary
            .and_then(|p| p.subnet_id())
            .or(i.subnet_id())
            .map(str::to_string),
        vpc_id: primary
            .and_then(|p| p.vpc_id())
            .or(i.vpc_id())
            .map(str::to_string),
        private_ip: primary
            .and_then(|p| p.private_ip_address())
            .or(i.private_ip_address())
            .map(str::to_string),
        public_ip: primary
            .and_then(|p| p.association())
            .and_then(|a| a.public_ip())
            .or(i.public_ip_address())
            .filter(|ip| !ip.is_empty())
            .map(str::to_string),
        security_groups: match primary {
            Some(p) if !p.groups().is_empty() => groups(p.groups()),
            _ => groups(i.security_groups()),
        },
        instance_profile_arn: i
            .iam_instance_profile()
            .and_then(|p| p.arn())
            .map(str::to_string),
    }
}

pub fn route_table_facts(
    rt: &aws_sdk_ec2::types::RouteTable,
    subnet_id: Option<&str>,
) -> RouteTableFacts {
    let assocs = rt.associations();
    RouteTableFacts {
        id: rt.route_table_id().unwrap_or_default().to_string(),
        explicit: subnet_id.is_some_and(|s| assocs.iter().any(|a| a.subnet_id() == Some(s))),
        main: assocs.iter().any(|a| a.main() == Some(true)),
        subnet_ids: assocs
            .iter()
            .filter_map(|a| a.subnet_id().map(str::to_string))
            .collect(),
        routes: rt
            .routes()
            .iter()
            .map(|r| RouteFacts {
                destination: r.destination_cidr_block().map(str::to_string),
                destination_ipv6: r.destination_ipv6_cidr_block().map(str::to_string),
                destination_prefix_list: r.destination_prefix_list_id().map(str::to_string),
                target: r
                    .gateway_id()
                    .or(r.nat_gateway_id())
                    .or(r.transit_gateway_id())
                    .or(r.vpc_peering_connection_id())
                    .or(r.network_interface_id())
                    .or(r.instance_id())
                    .or(r.egress_only_internet_gateway_id())
                    .or(r.local_gateway_id())
                    .or(r.carrier_gateway_id())
                    .or(r.core_network_arn())
                    .unwrap_or("unknown")
                    .to_string(),
                state: r.state().map(|s| s.as_str().to_string()),
            })
            .collect(),
    }
}

async fn read_main_route_table(
    clients: &Clients,
    log: &CallLog,
    vpc_id: &str,
) -> Fact<RouteTableFacts> {
    shared!(
        log,
        "ec2:DescribeRouteTables",
        &[],
        clients
            .ec2
            .describe_route_tables()
            .filters(filter("vpc-id", [vpc_id]))
            .filters(filter("association.main", ["true"])),
        |out| match out.route_tables().first() {
            Some(rt) => Fact::found(route_table_facts(rt, None)),
            None => Fact::NotFound {
                detail: format!("VPC {vpc_id} has no main route table")
            },
        },
    )
    .await
}

pub fn nacl_facts(acl: &aws_sdk_ec2::types::NetworkAcl) -> NetworkAclFacts {
    NetworkAclFacts {
        id: acl.network_acl_id().unwrap_or_default().to_string(),
        is_default: acl.is_default().unwrap_or(false),
        subnet_ids: acl
            .associations()
            .iter()
            .filter_map(|a| a.subnet_id().map(str::to_string))
            .collect(),
        entries: acl
            .entries()
            .iter()
            .map(|e| NaclEntryFacts {
                rule_number: e.rule_number().unwrap_or(32767),
                egress: e.egress().unwrap_or(false),
                protocol: e.protocol().unwrap_or("-1").to_string(),
                action: e
                    .rule_action()
                    .map(|a| a.as_str().to_string())
                    .unwrap_or_default(),
                cidr: e.cidr_block().map(str::to_string),
                ipv6_cidr: e.ipv6_cidr_block().map(str::to_string),
                port_from: e.port_range().and_then(|p| p.from()),
                port_to: e.port_range().and_then(|p| p.to()),
            })
            .collect(),
    }
}

async fn read_prefix_list(clients: &Clients, log: &CallLog, region: &str) -> Fact<PrefixListFacts> {
    let names = endpoint_service_names(region, "s3");
    let listed = shared!(
        log,
        "ec2:DescribePrefixLists",
        &[],
        clients
            .ec2
            .describe_prefix_lists()
            .filters(filter("prefix-list-name", names.clone())),
        |out| match out.prefix_lists().first() {
            Some(p) => Fact::found(PrefixListFacts {
                id: p.prefix_list_id().unwrap_or_default().to_string(),
                name: p.prefix_list_name().unwrap_or_default().to_string(),
                cidrs: p.cidrs().to_vec(),
            }),
            None => Fact::NotFound {
                detail: format!("no prefix list named {}", names.join(" or "))
            },
        },
    )
    .await;
    // DescribePrefixLists returns the CIDRs; an emulator that omits them gets one more read.
    match listed {
        Fact::Found { value } if value.cidrs.is_empty() && !value.id.is_empty() => {
            let id = value.id.clone();
            let entries = shared!(
                log,
                "ec2:GetManagedPrefixListEntries",
                &["InvalidPrefixListID.NotFound"],
                clients
                    .ec2
                    .get_managed_prefix_list_entries()
                    .prefix_list_id(&id),
                |out| Fact::found(
                    out.entries()
                        .iter()
                        .filter_map(|e| e.cidr().map(str::to_string))
                        .collect::<Vec<_>>()
                ),
            )
            .await;
            Fact::found(PrefixListFacts {
                cidrs: entries.value().cloned().unwrap_or_default(),
                ..value
            })
        }
        other => other,
    }
}

async fn read_vpc_attribute(
    clients: &Clients,
    log: &CallLog,
    vpc_id: &str,
    attribute: VpcAttributeName,
) -> Fact<bool> {
    let dns_support = attribute == VpcAttributeName::EnableDnsSupport;
    shared!(
        log,
        "ec2:DescribeVpcAttribute",
        &["InvalidVpcID.NotFound"],
        clients
            .ec2
            .describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(attribute),
        move |out| {
            let value = if dns_support {
                out.enable_dns_support()
            } else {
                out.enable_dns_hostnames()
            };
            match value.and_then(|v| v.value()) {
                Some(v) => Fact::found(v),
                None => Fact::NotFound {
                    detail: "attribute not returned".into(),
                },
            }
        },
    )
    .await
}

fn endpoint_facts(e: &aws_sdk_ec2::types::VpcEndpoint) -> EndpointFacts {
    EndpointFacts {
        id: e.vpc_endpoint_id().unwrap_or_default().to_string(),
        service_name: e.service_name().unwrap_or_default().to_string(),
        endpoint_type: e
            .vpc_endpoint_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        state: e.state().map(|s| s.as_str().to_string()),
        private_dns_enabled: e.private_dns_enabled(),
        route_table_ids: e.route_table_ids().to_vec(),
        subnet_ids: e.subnet_ids().to_vec(),
        security_groups: e
            .groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect(),
        network_interface_ids: e.network_interface_ids().to_vec(),
        policy: e.policy_document().map(str::to_string),
    }
}

async fn read_nat_gateways(
    clients: &Clients,
    log: &CallLog,
    ids: &[String],
) -> Fact<Vec<NatGatewayFacts>> {
    shared!(
        log,
        "ec2:DescribeNatGateways",
        &["NatGatewayNotFound", "InvalidNatGatewayID.NotFound"],
        clients
            .ec2
            .describe_nat_gateways()
            .set_nat_gateway_ids(Some(ids.to_vec())),
        |out| {
            Fact::found(
                out.nat_gateways()
                    .iter()
                    .map(|g| NatGatewayFacts {
                        id: g.nat_gateway_id().unwrap_or_default().to_string(),
                        state: g.state().map(|s| s.as_str().to_string()),
                        connectivity_type: g.connectivity_type().map(|c| c.as_str().to_string()),
                        subnet_id: g.subnet_id().map(str::to_string),
                        public_ips: g
                            .nat_gateway_addresses()
                            .iter()
                            .filter_map(|a| a.public_ip().map(str::to_string))
                            .collect(),
                        failure: g.failure_message().map(str::to_string),
                    })
                    .collect::<Vec<_>>(),
            )
        },
    )
    .await
    .or_not_found_empty()
}

trait NotFoundEmpty<T> {
    fn or_not_found_empty(self) -> Fact<Vec<T>>;
}
impl<T> NotFoundEmpty<T> for Fact<Vec<T>> {
    /// "Does not exist" for a list read is an empty list: the check says which one is missing.
    fn or_not_found_empty(self) -> Fact<Vec<T>> {
        match self {
            Fact::NotFound { .. } => Fact::found(vec![]),
            other => other,
        }
    }
}

async fn read_security_groups(
    clients: &Clients,
    log: &CallLog,
    ids: &[String],
) -> Fact<Vec<SecurityGroupFacts>> {
    if ids.is_empty() {
        return Fact::found(vec![]);
    }
    shared!(
        log,
        "ec2:DescribeSecurityGroups",
        &["InvalidGroup.NotFound"],
        clients
            .ec2
            .describe_security_groups()
            .set_group_ids(Some(ids.to_vec())),
        |out| Fact::found(
            out.security_groups()
                .iter()
                .map(security_group_facts)
                .collect::<Vec<_>>()
        ),
    )
    .await
}

pub fn security_group_facts(g: &aws_sdk_ec2::types::SecurityGroup) -> SecurityGroupFacts {
    let rules = |perms: &[aws_sdk_ec2::types::IpPermission]| {
        perms
            .iter()
            .map(|p| SgRuleFacts {
                protocol: p.ip_protocol().unwrap_or("-1").to_string(),
                from_port: p.from_port(),
                to_port: p.to_port(),
                cidrs: p
                    .ip_ranges()
                    .iter()
                    .filter_map(|r| r.cidr_ip().map(str::to_string))
                    .collect(),
                ipv6_cidrs: p
                    .ipv6_ranges()
                    .iter()
                    .filter_map(|r| r.cidr_ipv6().map(str::to_string))
                    .collect(),
                prefix_lists: p
                    .prefix_list_ids()
                    .iter()
                    .filter_map(|r| r.prefix_list_id().map(str::to_string))
                    .collect(),
                groups: p
                    .user_id_group_pairs()
                    .iter()
                    .filter_map(|r| r.group_id().map(str::to_string))
                    .collect(),
            })
            .collect::<Vec<_>>()
    };
    SecurityGroupFacts {
        id: g.group_id().unwrap_or_default().to_string(),
        name: g.group_name().map(str::to_string),
        vpc_id: g.vpc_id().map(str::to_string),
        ingress: rules(g.ip_permissions()),
        egress: rules(g.ip_permissions_egress()),
    }
}

async fn read_dhcp_options(clients: &Clients, log: &CallLog, id: &str) -> Fact<DhcpOptionsFacts> {
    shared!(
        log,
        "ec2:DescribeDhcpOptions",
        &[
            "InvalidDhcpOptionID.NotFound",
            "InvalidDhcpOptionsID.NotFound"
        ],
        clients.ec2.describe_dhcp_options().dhcp_options_ids(id),
        |out| match out.dhcp_options().first() {
            Some(d) => Fact::found(DhcpOptionsFacts {
                id: d.dhcp_options_id().unwrap_or(id).to_string(),
                domain_name_servers: d
                    .dhcp_configurations()
                    .iter()
                    .filter(|c| c.key() == Some("domain-name-servers"))
                    .flat_map(|c| c
                        .values()
                        .iter()
                        .filter_map(|v| v.value().map(str::to_string)))
                    .collect(),
            }),
            None => Fact::NotFound {
                detail: format!("DHCP options {id} not returned")
            },
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{
        AssignPublicIp, AwsVpcConfiguration, Deployment, NetworkConfiguration, Service,
    };

    fn nc(sg: &str, public: bool) -> NetworkConfiguration {
        NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .subnets("subnet-1")
                    .security_groups(sg)
                    .assign_public_ip(if public {
                        AssignPublicIp::Enabled
                    } else {
                        AssignPublicIp::Disabled
                    })
                    .build()
                    .unwrap(),
            )
            .build()
    }

    #[test]
    fn service_network_prefers_the_tasks_deployment() {
        let td = |r: u32| format!("arn:aws:ecs:us-east-1:111122223333:task-definition/web:{r}");
        let svc = Service::builder()
            .network_configuration(nc("sg-service-now", true))
            .deployments(
                Deployment::builder()
                    .id("ecs-svc/new")
                    .status("PRIMARY")
                    .task_definition(td(8))
                    .network_configuration(nc("sg-new", true))
                    .build(),
            )
            .deployments(
                Deployment::builder()
                    .id("ecs-svc/old")
                    .status("ACTIVE")
                    .task_definition(td(7))
                    .network_configuration(nc("sg-old", false))
                    .build(),
            )
            .build();
        let got = service_network(&svc, "web", Some(&td(7)));
        assert_eq!(
            (got.security_groups, got.assign_public_ip),
            (vec!["sg-old".to_string()], Some(false))
        );
        assert!(got.source.contains("ecs-svc/old"), "{}", got.source);
        // Unknown task definition: the service-level configuration.
        let got = service_network(&svc, "web", Some(&td(1)));
        assert_eq!(got.security_groups, vec!["sg-service-now".to_string()]);
        // A bridge-mode service: no awsvpc configuration at all.
        let got = service_network(&Service::builder().build(), "web", None);
        assert!(got.no_awsvpc_configuration);
    }

    #[test]
    fn prefix_lists_to_read_are_those_the_rules_name_and_no_route_names() {
        let rule = |lists: &[&str]| SgRuleFacts {
            protocol: "tcp".into(),
            prefix_lists: lists.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let groups = vec![
            SecurityGroupFacts {
                id: "sg-1".into(),
                egress: vec![rule(&["pl-s3", "pl-corp"])],
                ingress: vec![rule(&["pl-admin"])],
                ..Default::default()
            },
            SecurityGroupFacts {
                id: "sg-2".into(),
                egress: vec![rule(&["pl-corp", "pl-other"])],
                ..Default::default()
            },
        ];
        assert_eq!(
            prefix_lists_in(&groups, true, &["pl-s3".to_string()]),
            vec!["pl-corp".to_string(), "pl-other".to_string()]
        );
        assert_eq!(
            prefix_lists_in(&groups, false, &[]),
            vec!["pl-admin".to_string()]
        );
    }

    #[test]
    fn route_targets_are_kept() {
        use aws_sdk_ec2::types::{Route, RouteState, RouteTable, RouteTableAssociation};
        let rt = RouteTable::builder()
            .route_table_id("rtb-1")
            .associations(
                RouteTableAssociation::builder()
                    .subnet_id("subnet-1")
                    .main(false)
                    .build(),
            )
            .routes(
                Route::builder()
                    .destination_cidr_block("10.0.0.0/16")
                    .gateway_id("local")
                    .state(RouteState::Active)
                    .build(),
            )
            .routes(
                Route::builder()
                    .destination_cidr_block("0.0.0.0/0")
                    .nat_gateway_id("nat-1")
                    .state(RouteState::Blackhole)
                    .build(),
            )
            .routes(
                Route::builder()
                    .destination_prefix_list_id("pl-1")
                    .gateway_id("vpce-1")
                    .build(),
            )
            .build();
        let f = route_table_facts(&rt, Some("subnet-1"));
        assert!(f.explicit && !f.main);
        assert_eq!(f.routes[1].target, "nat-1");
        assert_eq!(f.routes[1].state.as_deref(), Some("blackhole"));
        assert_eq!(f.routes[2].destination_prefix_list.as_deref(), Some("pl-1"));
    }
}
