//! Hand-built network worlds for the network checks' tests: a healthy base and small mutations.

use std::collections::BTreeMap;

use crate::checks::ecr::fixtures as ecr;
use crate::classify::classify;
use crate::model::diagnosis::Finding;
use crate::model::facts::*;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "111122223333";
pub const VPC: &str = "vpc-1";
pub const SUBNET: &str = "subnet-task";
pub const PUBLIC_SUBNET: &str = "subnet-public";
pub const RT: &str = "rtb-private";
pub const RT_PUBLIC: &str = "rtb-public";
pub const NAT: &str = "nat-1";
pub const IGW: &str = "igw-1";
pub const SG_TASK: &str = "sg-task";
pub const SG_EP: &str = "sg-endpoints";
pub const ACL: &str = "acl-1";
/// The network ACL of the NAT gateway's (public) subnet.
pub const ACL_PUBLIC: &str = "acl-public";
pub const PL: &str = "pl-63a5400a";
pub const ENI: &str = "eni-task";
pub const TASK_IP: &str = "10.0.1.25";
pub const ROLE: &str = "arn:aws:iam::111122223333:role/ecsTaskExecutionRole";
pub const TIMEOUT: &str = "CannotPullContainerError: Error response from daemon: Get \"https://111122223333.dkr.ecr.us-east-1.amazonaws.com/v2/\": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)";

/// `f` with `message` as the failure message (and its classification).
pub fn with_message(mut f: Facts, message: &str) -> Facts {
    f.failure.message = message.into();
    f.failure.classification = classify(message);
    f
}

pub fn route(dest: &str, target: &str) -> RouteFacts {
    RouteFacts {
        destination: Some(dest.into()),
        target: target.into(),
        state: Some("active".into()),
        ..Default::default()
    }
}
pub fn pl_route(pl: &str, target: &str) -> RouteFacts {
    RouteFacts {
        destination_prefix_list: Some(pl.into()),
        target: target.into(),
        state: Some("active".into()),
        ..Default::default()
    }
}
pub fn rule(protocol: &str, from: i32, to: i32) -> SgRuleFacts {
    SgRuleFacts {
        protocol: protocol.into(),
        from_port: Some(from),
        to_port: Some(to),
        ..Default::default()
    }
}
pub fn all_traffic_to(cidr: &str) -> SgRuleFacts {
    SgRuleFacts {
        protocol: "-1".into(),
        cidrs: vec![cidr.into()],
        ..Default::default()
    }
}
pub fn nacl_entry(
    number: i32,
    egress: bool,
    protocol: &str,
    action: &str,
    cidr: &str,
    ports: Option<(i32, i32)>,
) -> NaclEntryFacts {
    NaclEntryFacts {
        rule_number: number,
        egress,
        protocol: protocol.into(),
        action: action.into(),
        cidr: Some(cidr.into()),
        port_from: ports.map(|p| p.0),
        port_to: ports.map(|p| p.1),
        ..Default::default()
    }
}
/// The default NACL: allow everything both ways.
pub fn default_nacl() -> NetworkAclFacts {
    NetworkAclFacts {
        id: ACL.into(),
        is_default: true,
        subnet_ids: vec![SUBNET.into()],
        entries: vec![
            nacl_entry(100, true, "-1", "allow", "0.0.0.0/0", None),
            nacl_entry(32767, true, "-1", "deny", "0.0.0.0/0", None),
            nacl_entry(100, false, "-1", "allow", "0.0.0.0/0", None),
            nacl_entry(32767, false, "-1", "deny", "0.0.0.0/0", None),
        ],
    }
}
pub fn sg(id: &str, ingress: Vec<SgRuleFacts>, egress: Vec<SgRuleFacts>) -> SecurityGroupFacts {
    SecurityGroupFacts {
        id: id.into(),
        name: Some(id.into()),
        vpc_id: Some(VPC.into()),
        ingress,
        egress,
    }
}
pub fn interface_endpoint(id: &str, service: &str, eni: &str) -> EndpointFacts {
    EndpointFacts {
        id: id.into(),
        service_name: format!("com.amazonaws.{REGION}.{service}"),
        endpoint_type: "Interface".into(),
        state: Some("available".into()),
        private_dns_enabled: Some(true),
        subnet_ids: vec!["subnet-endpoints".into()],
        security_groups: vec![SG_EP.into()],
        network_interface_ids: vec![eni.into()],
        policy: None,
        ..Default::default()
    }
}
pub fn s3_gateway(route_tables: &[&str]) -> EndpointFacts {
    EndpointFacts {
        id: "vpce-s3".into(),
        service_name: format!("com.amazonaws.{REGION}.s3"),
        endpoint_type: "Gateway".into(),
        state: Some("available".into()),
        route_table_ids: route_tables.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}
pub fn endpoint_eni(id: &str, ip: &str) -> EniFacts {
    EniFacts {
        id: id.into(),
        subnet_id: Some("subnet-endpoints".into()),
        vpc_id: Some(VPC.into()),
        private_ip: Some(ip.into()),
        security_groups: vec![SG_EP.into()],
        ..Default::default()
    }
}

/// `f` with a prefix list a security group rule names, read with these entries.
pub fn with_rule_prefix_list(mut f: Facts, id: &str, cidrs: &[&str]) -> Facts {
    f.network.rule_prefix_lists.push(RulePrefixList {
        id: id.into(),
        cidrs: Fact::found(cidrs.iter().map(|c| c.to_string()).collect()),
    });
    f
}

/// A Fargate 1.4.0 service task in a private subnet whose default route goes to an available NAT
/// gateway; the task ENI is already deleted; moto-style default security group (all egress).
pub fn fargate_nat() -> Facts {
    let mut f = ecr::facts(ecr::IMAGE);
    f.region = Some(REGION.into());
    f.account = Some(ACCOUNT.into());
    f.failure.message = TIMEOUT.into();
    f.failure.classification = classify(TIMEOUT);
    f.failure.container = Some("web".into());
    if let Fact::Found { value: td } = &mut f.task_definition {
        td.execution_role_arn = Some(ROLE.into());
        td.network_mode = Some("awsvpc".into());
        td.requires_compatibilities = vec!["FARGATE".into()];
    }
    f.task = TaskFacts {
        arn: Some(format!(
            "arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/0123456789abcdef0123456789abcdef"
        )),
        cluster_arn: Some(format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod")),
        group: Some("service:web".into()),
        launch_type: Some("FARGATE".into()),
        platform_version: Some("1.4.0".into()),
        attachments: vec![AttachmentFacts {
            id: Some("att-1".into()),
            kind: Some("eni".into()),
            status: Some("DELETED".into()),
            details: BTreeMap::from([
                ("subnetId".to_string(), SUBNET.to_string()),
                ("networkInterfaceId".to_string(), ENI.to_string()),
                ("privateIPv4Address".to_string(), TASK_IP.to_string()),
                ("macAddress".to_string(), "0a:00:00:00:00:01".to_string()),
            ]),
        }],
        ..Default::default()
    };
    f.network = NetworkFacts {
        collected: true,
        skipped: None,
        subnet_id: Some(SUBNET.into()),
        task_eni: Fact::NotFound {
            detail: "InvalidNetworkInterfaceID.NotFound".into(),
        },
        service: Fact::found(ServiceNetworkFacts {
            service_name: "web".into(),
            source: "deployment ecs-svc/1 (PRIMARY) running web:7".into(),
            subnets: vec![SUBNET.into()],
            security_groups: vec![SG_TASK.into()],
            assign_public_ip: Some(false),
            no_awsvpc_configuration: false,
        }),
        container_instance: Fact::NotCollected {
            reason: "Fargate".into(),
        },
        instance: Fact::NotCollected {
            reason: "Fargate".into(),
        },
        subnet: Fact::found(SubnetFacts {
            id: SUBNET.into(),
            vpc_id: Some(VPC.into()),
            cidr: Some("10.0.1.0/24".into()),
            availability_zone: Some("us-east-1a".into()),
            map_public_ip_on_launch: Some(false),
            ipv6_cidrs: vec![],
            ipv6_native: Some(false),
        }),
        vpc: Fact::found(VpcFacts {
            id: VPC.into(),
            cidrs: vec!["10.0.0.0/16".into()],
            dhcp_options_id: Some("dopt-1".into()),
        }),
        dns_support: Fact::found(true),
        dns_hostnames: Fact::found(true),
        route_table: Fact::found(RouteTableFacts {
            id: RT.into(),
            explicit: true,
            main: false,
            subnet_ids: vec![SUBNET.into()],
            routes: vec![route("10.0.0.0/16", "local"), route("0.0.0.0/0", NAT)],
        }),
        nat_gateways: Fact::found(vec![NatGatewayFacts {
            id: NAT.into(),
            state: Some("available".into()),
            connectivity_type: Some("public".into()),
            subnet_id: Some(PUBLIC_SUBNET.into()),
            public_ips: vec!["54.1.2.3".into()],
            failure: None,
        }]),
        nat_route_tables: Fact::found(vec![RouteTableFacts {
            id: RT_PUBLIC.into(),
            explicit: false,
            main: false,
            subnet_ids: vec![PUBLIC_SUBNET.into()],
            routes: vec![route("10.0.0.0/16", "local"), route("0.0.0.0/0", IGW)],
        }]),
        network_acl: Fact::found(default_nacl()),
        dhcp_options: Fact::found(DhcpOptionsFacts {
            id: "dopt-1".into(),
            domain_name_servers: vec!["AmazonProvidedDNS".into()],
        }),
        endpoints: Fact::found(vec![]),
        security_groups: Fact::found(vec![sg(SG_TASK, vec![], vec![all_traffic_to("0.0.0.0/0")])]),
        endpoint_security_groups: Fact::found(vec![]),
        endpoint_enis: Fact::found(vec![]),
        endpoint_network_acls: Fact::found(vec![]),
        s3_prefix_list: Fact::found(PrefixListFacts {
            id: PL.into(),
            name: format!("com.amazonaws.{REGION}.s3"),
            cidrs: vec![
                "52.216.0.0/15".into(),
                "3.5.0.0/19".into(),
                "54.231.0.0/16".into(),
            ],
        }),
        rule_prefix_lists: vec![],
        nat_network_acls: Fact::found(vec![NetworkAclFacts {
            id: ACL_PUBLIC.into(),
            subnet_ids: vec![PUBLIC_SUBNET.into()],
            ..default_nacl()
        }]),
        private_zones: Fact::NotCollected {
            reason: format!("not needed: the default route goes to {NAT}"),
        },
        resolver_rules: Fact::NotCollected {
            reason: format!("not needed: the default route goes to {NAT}"),
        },
    };
    f
}

/// The same task in a subnet without a NAT route that reaches ECR through all three endpoints
/// (private DNS on), the S3 gateway endpoint on its route table, and an endpoint security group
/// admitting 443 from the task security group.
pub fn fargate_endpoints() -> Facts {
    let mut f = fargate_nat();
    let n = &mut f.network;
    n.route_table = Fact::found(RouteTableFacts {
        id: RT.into(),
        explicit: true,
        main: false,
        subnet_ids: vec![SUBNET.into()],
        routes: vec![route("10.0.0.0/16", "local"), pl_route(PL, "vpce-s3")],
    });
    n.nat_gateways = Fact::NotCollected {
        reason: "the route table targets no NAT gateway".into(),
    };
    n.nat_route_tables = Fact::NotCollected {
        reason: "no NAT gateway to follow".into(),
    };
    n.nat_network_acls = Fact::NotCollected {
        reason: "no NAT gateway to follow".into(),
    };
    n.endpoints = Fact::found(vec![
        interface_endpoint("vpce-api", "ecr.api", "eni-api"),
        interface_endpoint("vpce-dkr", "ecr.dkr", "eni-dkr"),
        s3_gateway(&[RT]),
    ]);
    n.endpoint_enis = Fact::found(vec![
        endpoint_eni("eni-api", "10.0.2.10"),
        endpoint_eni("eni-dkr", "10.0.2.11"),
    ]);
    n.endpoint_security_groups = Fact::found(vec![sg(
        SG_EP,
        vec![SgRuleFacts {
            groups: vec![SG_TASK.into()],
            ..rule("tcp", 443, 443)
        }],
        vec![all_traffic_to("0.0.0.0/0")],
    )]);
    n.endpoint_network_acls = Fact::found(vec![NetworkAclFacts {
        subnet_ids: vec!["subnet-endpoints".into()],
        ..default_nacl()
    }]);
    f
}

/// A task in a public subnet (default route → internet gateway).
pub fn fargate_public(public_ip: bool) -> Facts {
    let mut f = fargate_nat();
    let n = &mut f.network;
    n.route_table = Fact::found(RouteTableFacts {
        id: RT_PUBLIC.into(),
        explicit: true,
        main: false,
        subnet_ids: vec![SUBNET.into()],
        routes: vec![route("10.0.0.0/16", "local"), route("0.0.0.0/0", IGW)],
    });
    n.nat_gateways = Fact::NotCollected {
        reason: "the route table targets no NAT gateway".into(),
    };
    n.nat_route_tables = Fact::NotCollected {
        reason: "no NAT gateway to follow".into(),
    };
    n.nat_network_acls = Fact::NotCollected {
        reason: "no NAT gateway to follow".into(),
    };
    if let Fact::Found { value } = &mut n.service {
        value.assign_public_ip = Some(public_ip);
    }
    f
}

/// An EC2 launch-type task in bridge mode; the container instance is in a private subnet with NAT.
pub fn ec2_bridge() -> Facts {
    let mut f = fargate_nat();
    f.task.launch_type = Some("EC2".into());
    f.task.platform_version = None;
    f.task.attachments = vec![];
    f.task.container_instance_arn = Some(format!(
        "arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/prod/ci-1"
    ));
    if let Fact::Found { value: td } = &mut f.task_definition {
        td.network_mode = Some("bridge".into());
        td.requires_compatibilities = vec!["EC2".into()];
    }
    let n = &mut f.network;
    n.subnet_id = Some(SUBNET.into());
    n.task_eni = Fact::NotCollected {
        reason: "EC2 launch type".into(),
    };
    n.service = Fact::NotCollected {
        reason: "EC2 launch type".into(),
    };
    n.container_instance = Fact::found(ContainerInstanceRef {
        arn: "ci-1".into(),
        ec2_instance_id: Some("i-1".into()),
        status: Some("ACTIVE".into()),
        agent_connected: Some(true),
    });
    n.instance = Fact::found(InstanceFacts {
        id: "i-1".into(),
        state: Some("running".into()),
        subnet_id: Some(SUBNET.into()),
        vpc_id: Some(VPC.into()),
        private_ip: Some("10.0.1.40".into()),
        public_ip: None,
        security_groups: vec!["sg-instance".into()],
        instance_profile_arn: None,
    });
    n.security_groups = Fact::found(vec![sg(
        "sg-instance",
        vec![],
        vec![all_traffic_to("0.0.0.0/0")],
    )]);
    f
}

/// `f` pulling its image by ECR's dual-stack name (`<account>.dkr-ecr.<region>.on.aws`).
pub fn dual_stack_image(mut f: Facts) -> Facts {
    let image = format!("{ACCOUNT}.dkr-ecr.{REGION}.on.aws/team/app:v1");
    f.failure.image = Some(image.clone());
    f.failure.image_ref = crate::model::image_ref::ImageRef::parse(&image).ok();
    f
}

/// Every network finding of the registered checks.
pub fn network_findings(f: &Facts) -> Vec<Finding> {
    crate::checks::run_all(f)
        .into_iter()
        .filter(|x| x.code.code().starts_with("NET_"))
        .collect()
}
