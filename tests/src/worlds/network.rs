//! VPC builders: the ordinary task network (private subnet behind a NAT gateway) and the pieces
//! worlds add to it or take from it (subnets, route tables, routes, security groups, endpoints).

use aws_sdk_ec2::types::VpcEndpointType;

use super::World;

/// A VPC whose tasks run in a private subnet that reaches the internet through a NAT gateway:
/// the ordinary, working Fargate setup (so that only the fault a scenario injects is wrong).
#[derive(Debug, Clone)]
pub struct Network {
    pub vpc_id: String,
    /// Private subnet the tasks use (default route → NAT gateway).
    pub subnet_id: String,
    pub public_subnet_id: String,
    pub availability_zone: String,
    pub security_group_id: String,
    pub internet_gateway_id: String,
    pub nat_gateway_id: String,
    pub private_route_table_id: String,
}

impl World {
    /// A VPC (DNS support and hostnames on) with a public subnet (route to an internet gateway,
    /// NAT gateway inside) and a private subnet for tasks (default route to the NAT gateway), and a
    /// task security group (moto's default egress: all traffic).
    pub async fn network(&self) -> Network {
        use aws_sdk_ec2::types::{AttributeBooleanValue, DomainType};
        let az = format!("{}a", self.region);
        let vpc_id = self
            .ec2
            .create_vpc()
            .cidr_block("10.0.0.0/16")
            .send()
            .await
            .expect("CreateVpc")
            .vpc
            .and_then(|v| v.vpc_id)
            .expect("vpc id");
        for hostnames in [false, true] {
            let value = AttributeBooleanValue::builder().value(true).build();
            let req = self.ec2.modify_vpc_attribute().vpc_id(&vpc_id);
            // moto quirk: RunTask (awsvpc) needs DNS hostnames on, or it fails on the ENI's DNS name.
            let req = if hostnames {
                req.enable_dns_hostnames(value)
            } else {
                req.enable_dns_support(value)
            };
            req.send().await.expect("ModifyVpcAttribute");
        }
        let public_subnet_id = self.subnet(&vpc_id, "10.0.0.0/24", &az).await;
        let subnet_id = self.subnet(&vpc_id, "10.0.1.0/24", &az).await;

        let internet_gateway_id = self
            .ec2
            .create_internet_gateway()
            .send()
            .await
            .expect("CreateInternetGateway")
            .internet_gateway
            .and_then(|g| g.internet_gateway_id)
            .expect("igw id");
        self.ec2
            .attach_internet_gateway()
            .internet_gateway_id(&internet_gateway_id)
            .vpc_id(&vpc_id)
            .send()
            .await
            .expect("AttachInternetGateway");
        let public_rt = self.route_table(&vpc_id, &public_subnet_id).await;
        self.ec2
            .create_route()
            .route_table_id(&public_rt)
            .destination_cidr_block("0.0.0.0/0")
            .gateway_id(&internet_gateway_id)
            .send()
            .await
            .expect("CreateRoute igw");

        let allocation_id = self
            .ec2
            .allocate_address()
            .domain(DomainType::Vpc)
            .send()
            .await
            .expect("AllocateAddress")
            .allocation_id
            .expect("allocation id");
        let nat_gateway_id = self
            .ec2
            .create_nat_gateway()
            .subnet_id(&public_subnet_id)
            .allocation_id(allocation_id)
            .send()
            .await
            .expect("CreateNatGateway")
            .nat_gateway
            .and_then(|n| n.nat_gateway_id)
            .expect("nat gateway id");
        let private_route_table_id = self.route_table(&vpc_id, &subnet_id).await;
        self.nat_route(&private_route_table_id, &nat_gateway_id)
            .await;

        let security_group_id = self.security_group(&vpc_id, "web-tasks", "web tasks").await;

        Network {
            vpc_id,
            subnet_id,
            public_subnet_id,
            availability_zone: az,
            security_group_id,
            internet_gateway_id,
            nat_gateway_id,
            private_route_table_id,
        }
    }

    /// A subnet of `vpc_id` in availability zone `az` (`us-east-1a`); returns its id.
    pub async fn subnet(&self, vpc_id: &str, cidr: &str, az: &str) -> String {
        self.ec2
            .create_subnet()
            .vpc_id(vpc_id)
            .cidr_block(cidr)
            .availability_zone(az)
            .send()
            .await
            .expect("CreateSubnet")
            .subnet
            .and_then(|s| s.subnet_id)
            .expect("subnet id")
    }

    /// A route table of `vpc_id` associated with `subnet_id` (no routes but the local one).
    pub async fn route_table(&self, vpc_id: &str, subnet_id: &str) -> String {
        let id = self
            .ec2
            .create_route_table()
            .vpc_id(vpc_id)
            .send()
            .await
            .expect("CreateRouteTable")
            .route_table
            .and_then(|r| r.route_table_id)
            .expect("route table id");
        self.associate_route_table(&id, subnet_id).await;
        id
    }

    pub async fn associate_route_table(&self, route_table_id: &str, subnet_id: &str) {
        self.ec2
            .associate_route_table()
            .route_table_id(route_table_id)
            .subnet_id(subnet_id)
            .send()
            .await
            .expect("AssociateRouteTable");
    }

    /// `0.0.0.0/0` → the NAT gateway in `route_table_id`.
    pub async fn nat_route(&self, route_table_id: &str, nat_gateway_id: &str) {
        self.ec2
            .create_route()
            .route_table_id(route_table_id)
            .destination_cidr_block("0.0.0.0/0")
            .nat_gateway_id(nat_gateway_id)
            .send()
            .await
            .expect("CreateRoute nat");
    }

    /// Deletes the `0.0.0.0/0` route of `route_table_id` (the private subnet's way out).
    pub async fn delete_default_route(&self, route_table_id: &str) {
        self.ec2
            .delete_route()
            .route_table_id(route_table_id)
            .destination_cidr_block("0.0.0.0/0")
            .send()
            .await
            .expect("DeleteRoute");
    }

    /// A security group of `vpc_id` (moto's default egress: all traffic); returns its id.
    pub async fn security_group(&self, vpc_id: &str, name: &str, description: &str) -> String {
        self.ec2
            .create_security_group()
            .group_name(name)
            .description(description)
            .vpc_id(vpc_id)
            .send()
            .await
            .expect("CreateSecurityGroup")
            .group_id
            .expect("sg id")
    }

    /// An interface endpoint for `service` (`ecr.dkr`) in the network's private subnet, with
    /// security group `sg`; returns its id.
    pub async fn interface_endpoint(
        &self,
        net: &Network,
        service: &str,
        sg: &str,
        private_dns: bool,
    ) -> String {
        self.ec2
            .create_vpc_endpoint()
            .vpc_id(&net.vpc_id)
            .service_name(format!("com.amazonaws.{}.{service}", self.region))
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .subnet_ids(&net.subnet_id)
            .security_group_ids(sg)
            .private_dns_enabled(private_dns)
            .send()
            .await
            .expect("CreateVpcEndpoint")
            .vpc_endpoint
            .and_then(|e| e.vpc_endpoint_id)
            .expect("endpoint id")
    }

    /// The S3 gateway endpoint on the network's private route table, with an optional endpoint
    /// policy; returns its id.
    pub async fn s3_gateway(&self, net: &Network, policy: Option<String>) -> String {
        self.ec2
            .create_vpc_endpoint()
            .vpc_id(&net.vpc_id)
            .service_name(format!("com.amazonaws.{}.s3", self.region))
            .vpc_endpoint_type(VpcEndpointType::Gateway)
            .route_table_ids(&net.private_route_table_id)
            .set_policy_document(policy)
            .send()
            .await
            .expect("CreateVpcEndpoint s3")
            .vpc_endpoint
            .and_then(|e| e.vpc_endpoint_id)
            .expect("endpoint id")
    }

    /// Security group `endpoints` admitting TCP `port` from the network's task security group.
    pub async fn endpoint_security_group(&self, net: &Network, port: i32) -> String {
        use aws_sdk_ec2::types::{IpPermission, UserIdGroupPair};
        let sg = self
            .security_group(&net.vpc_id, "endpoints", "endpoints")
            .await;
        self.ec2
            .authorize_security_group_ingress()
            .group_id(&sg)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(port)
                    .to_port(port)
                    .user_id_group_pairs(
                        UserIdGroupPair::builder()
                            .group_id(&net.security_group_id)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("AuthorizeSecurityGroupIngress");
        sg
    }

    /// Turns the network into an endpoints-only one: no NAT route; the `ecr.api` and `ecr.dkr`
    /// interface endpoints (private DNS as given) behind [`World::endpoint_security_group`] for
    /// `endpoint_port`, and the S3 gateway endpoint. Returns the endpoints' security group and the
    /// S3 gateway endpoint's id.
    pub async fn endpoints_only(
        &self,
        net: &Network,
        private_dns: bool,
        endpoint_port: i32,
    ) -> (String, String) {
        self.delete_default_route(&net.private_route_table_id).await;
        let sg = self.endpoint_security_group(net, endpoint_port).await;
        self.interface_endpoint(net, "ecr.api", &sg, private_dns)
            .await;
        self.interface_endpoint(net, "ecr.dkr", &sg, private_dns)
            .await;
        let s3 = self.s3_gateway(net, None).await;
        (sg, s3)
    }
}
