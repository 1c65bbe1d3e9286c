//! Private DNS of the task's VPC: what decides where the ECR and S3 names resolve when it is not
//! the public DNS. Hub-and-spoke networks centralise interface endpoints in a hub VPC (private DNS
//! off) and make the spokes resolve the service names to them with private hosted zones
//! associated with the spokes, or with Resolver forwarding rules to the hub's resolvers.

use serde::{Deserialize, Serialize};

/// One private hosted zone associated with the VPC (`ListHostedZonesByVPC` lists those of other
/// accounts too; their records are not readable from this account).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PrivateZoneFacts {
    /// `Z…` (without the `/hostedzone/` prefix).
    pub id: String,
    /// Lower case, without the trailing dot: `ecr.us-east-1.amazonaws.com`.
    pub name: String,
    /// The account that owns the zone.
    #[serde(default)]
    pub owner_account: Option<String>,
    /// The AWS service that owns the zone (e.g. `efs.amazonaws.com`), instead of an account.
    #[serde(default)]
    pub owner_service: Option<String>,
}

/// One Resolver rule associated with the VPC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ResolverRuleFacts {
    /// `rslvr-rr-…`
    pub id: String,
    /// The association's status: `COMPLETE`, `CREATING`, `DELETING`, `FAILED`, `OVERRIDDEN`.
    #[serde(default)]
    pub association_status: Option<String>,
    /// Why the rule itself (`GetResolverRule`) could not be read; the fields below are then empty.
    #[serde(default)]
    pub unreadable: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// Lower case, without the trailing dot; `.` = every name.
    #[serde(default)]
    pub domain_name: Option<String>,
    /// `FORWARD`, `SYSTEM`, `RECURSIVE`, `DELEGATE`.
    #[serde(default)]
    pub rule_type: Option<String>,
    #[serde(default)]
    pub owner_id: Option<String>,
    /// `ip:port` of the DNS servers a FORWARD rule sends the queries to.
    #[serde(default)]
    pub target_ips: Vec<String>,
    #[serde(default)]
    pub resolver_endpoint_id: Option<String>,
}

/// A DNS name in canonical form: lower case, no trailing dot (`.` stays the root).
pub fn dns_name(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    match n.trim_end_matches('.') {
        "" => ".".to_string(),
        trimmed => trimmed.to_string(),
    }
}

/// Is `host` the domain `domain` or a name below it? (`.` holds every name.)
pub fn name_within(host: &str, domain: &str) -> bool {
    let (host, domain) = (dns_name(host), dns_name(domain));
    domain == "." || host == domain || host.ends_with(&format!(".{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_within_domains() {
        assert!(name_within(
            "api.ecr.us-east-1.amazonaws.com",
            "ecr.us-east-1.amazonaws.com."
        ));
        assert!(name_within(
            "api.ecr.us-east-1.amazonaws.com",
            "API.ecr.us-east-1.amazonaws.com"
        ));
        assert!(name_within("api.ecr.us-east-1.amazonaws.com", "."));
        assert!(!name_within(
            "api.ecr.us-east-1.amazonaws.com",
            "dkr.ecr.us-east-1.amazonaws.com"
        ));
        assert!(!name_within("xamazonaws.com", "amazonaws.com"));
        assert_eq!(dns_name("Amazonaws.COM."), "amazonaws.com");
    }
}
