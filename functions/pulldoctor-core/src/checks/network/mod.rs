//! Network checks: can the task (or container instance) reach the ECR API, the registry endpoint
//! and the S3 layer bucket, and if not, where exactly is the path blocked?
//!
//! [`path::Net`] works the path out once (origin, default route, which legs use which endpoint);
//! each check then judges one concern along it, in the order a packet meets them: name resolution
//! ([`dns`]), routing ([`route`], [`endpoints`]), the task's security groups and the subnet's
//! network ACL ([`security_groups`], [`nacl`]), the endpoint's security groups, and the endpoint
//! policies ([`policies`], evaluated by [`crate::policy`], the evaluator every policy shares). A spoke of a hub-and-spoke network,
//! whose ECR and S3 names a private hosted zone or Resolver rule sends to a hub's endpoints, is
//! judged by [`hub`] (through the route check).

pub mod dns;
pub mod endpoints;
pub mod hub;
pub mod ipset;
pub mod legs;
pub mod nacl;
pub mod path;
pub mod policies;
pub mod route;
pub mod security_groups;

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
#[cfg(test)]
mod tests;

use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::Facts;
use path::Net;

/// Run `judge` when the network checks apply; `Some(reason)` when they apply but cannot run is
/// reported once, by the route check, so the reason is not repeated by every check.
pub(crate) fn with_net(facts: &Facts, judge: impl FnOnce(&Net) -> Vec<Finding>) -> Vec<Finding> {
    match Net::new(facts) {
        Ok(net) => judge(&net),
        Err(_) => vec![],
    }
}

/// The unknown finding the route check emits when the path cannot be examined at all.
pub(crate) fn path_unknown(facts: &Facts) -> Option<Finding> {
    match Net::new(facts) {
        Err(Some(reason)) => Some(Finding::unknown(
            RootCause::NetNoRoute,
            format!(
                "Could not examine the network path from the {} to ECR",
                crate::checks::wording::words(facts).task
            ),
            reason,
        )),
        _ => None,
    }
}

/// Add every key of a JSON object as its own evidence entry (flat evidence reads better in reports).
pub(crate) fn spread(mut finding: Finding, evidence: serde_json::Value) -> Finding {
    if let serde_json::Value::Object(map) = evidence {
        for (k, v) in map {
            if !v.is_null() {
                finding = finding.evidence(&k, v);
            }
        }
    }
    finding
}

/// Console links for network resources.
pub mod console {
    use crate::checks::console::host;

    fn vpc(region: &str, fragment: &str) -> String {
        format!(
            "{}/vpcconsole/home?region={region}#{fragment}",
            host(region)
        )
    }
    pub fn subnet(region: &str, id: &str) -> String {
        vpc(region, &format!("SubnetDetails:subnetId={id}"))
    }
    pub fn route_table(region: &str, id: &str) -> String {
        vpc(region, &format!("RouteTableDetails:RouteTableId={id}"))
    }
    pub fn nat_gateway(region: &str, id: &str) -> String {
        vpc(region, &format!("NatGatewayDetails:natGatewayId={id}"))
    }
    pub fn endpoint(region: &str, id: &str) -> String {
        vpc(region, &format!("EndpointDetails:vpcEndpointId={id}"))
    }
    pub fn endpoints(region: &str) -> String {
        vpc(region, "Endpoints:")
    }
    pub fn network_acl(region: &str, id: &str) -> String {
        vpc(region, &format!("NetworkAclDetails:networkAclId={id}"))
    }
    pub fn vpc_details(region: &str, id: &str) -> String {
        vpc(region, &format!("VpcDetails:VpcId={id}"))
    }
    pub fn dhcp_options(region: &str, id: &str) -> String {
        vpc(region, &format!("DhcpOptionsDetails:DhcpOptionsId={id}"))
    }
    pub fn security_group(region: &str, id: &str) -> String {
        format!(
            "{}/ec2/home?region={region}#SecurityGroup:groupId={id}",
            host(region)
        )
    }
    pub fn instance(region: &str, id: &str) -> String {
        format!(
            "{}/ec2/home?region={region}#InstanceDetails:instanceId={id}",
            host(region)
        )
    }
    pub fn service_deployments(region: &str, cluster: &str, service: &str) -> String {
        format!(
            "{}/ecs/v2/clusters/{cluster}/services/{service}/deployments?region={region}",
            host(region)
        )
    }
    pub fn service(region: &str, cluster: &str, service: &str) -> String {
        format!(
            "{}/ecs/v2/clusters/{cluster}/services/{service}/networking?region={region}",
            host(region)
        )
    }
}
