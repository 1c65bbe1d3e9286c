//! Private DNS reads: the private hosted zones and Resolver rules associated with the task's VPC,
//! which decide where the ECR and S3 names resolve in a hub-and-spoke network (interface endpoints
//! in a hub VPC, private DNS off, the names served to the spokes by zones or forwarding rules).
//!
//! Read only when the subnet's route table gives no clear public path (no active default route to
//! an internet or NAT gateway), so the common diagnosis costs nothing more: one round
//! (`route53:ListHostedZonesByVPC` beside `route53resolver:ListResolverRuleAssociations`), and a
//! second one (`route53resolver:GetResolverRule` per associated rule) when rules are associated.

use aws_sdk_route53::types::VpcRegion;
use aws_sdk_route53resolver::types::Filter;

use super::{CallLog, Clients};
use crate::aws::error::ThrottleSpy;
use crate::model::facts::{dns_name, Fact, NetworkFacts, PrivateZoneFacts, ResolverRuleFacts};

/// Pages of 100 read at most (a VPC with more zones or rules than this is not a spoke).
const MAX_PAGES: usize = 5;
/// Resolver rules read at most (`GetResolverRule` each).
const MAX_RULES: usize = 20;

/// Why the private DNS of the VPC need not be read: the route table already sends 0.0.0.0/0 to an
/// internet or NAT gateway (the names' public answers work, and the route check judges that path).
pub fn not_needed(n: &NetworkFacts) -> Option<String> {
    if !n.collected || n.skipped.is_some() {
        return Some("the network was not examined".into());
    }
    let rt = n.route_table.value()?;
    let default = rt
        .routes
        .iter()
        .find(|r| r.destination.as_deref() == Some("0.0.0.0/0"))?;
    let public = (default.target.starts_with("igw-") || default.target.starts_with("nat-"))
        && default.state.as_deref() != Some("blackhole");
    public.then(|| format!("not needed: the default route goes to {}", default.target))
}

/// Fill `private_zones` and `resolver_rules` of `n` (or say why they were not read).
pub(super) async fn read_private_dns(
    clients: &Clients,
    log: &CallLog,
    region: Option<&str>,
    n: &mut NetworkFacts,
) {
    let (zones, rules) = read_planned(clients, log, plan(n, region)).await;
    n.private_zones = zones;
    n.resolver_rules = rules;
}

/// The VPC and region to read the private DNS of, or why it need not (or cannot) be read. Needs
/// only the subnet's route table and VPC id, so it can be decided before the VPC-level reads.
pub(super) fn plan(n: &NetworkFacts, region: Option<&str>) -> Result<(String, String), String> {
    if let Some(why) = not_needed(n) {
        return Err(why);
    }
    match (n.vpc_id(), region) {
        (None, _) => Err("the VPC is not known".to_string()),
        (_, None) => Err("the task's region is not known".to_string()),
        (Some(vpc_id), Some(region)) => Ok((vpc_id, region.to_string())),
    }
}

/// The private hosted zones and Resolver rules of a [`plan`]ned VPC.
pub(super) async fn read_planned(
    clients: &Clients,
    log: &CallLog,
    plan: Result<(String, String), String>,
) -> (Fact<Vec<PrivateZoneFacts>>, Fact<Vec<ResolverRuleFacts>>) {
    let (vpc_id, region) = match plan {
        Ok(p) => p,
        Err(why) => {
            return (
                Fact::NotCollected {
                    reason: why.clone(),
                },
                Fact::NotCollected { reason: why },
            )
        }
    };
    let route53 = aws_sdk_route53::Client::from_conf(
        aws_sdk_route53::config::Builder::from(clients.sdk_config())
            .interceptor(ThrottleSpy)
            .build(),
    );
    let resolver = aws_sdk_route53resolver::Client::from_conf(
        aws_sdk_route53resolver::config::Builder::from(clients.sdk_config())
            .interceptor(ThrottleSpy)
            .build(),
    );
    tokio::join!(
        Box::pin(read_zones(&route53, log, &vpc_id, &region)),
        Box::pin(read_rules(&resolver, log, &vpc_id)),
    )
}

async fn read_zones(
    route53: &aws_sdk_route53::Client,
    log: &CallLog,
    vpc_id: &str,
    region: &str,
) -> Fact<Vec<PrivateZoneFacts>> {
    let mut zones = vec![];
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = shared!(
            log,
            "route53:ListHostedZonesByVPC",
            &[],
            route53
                .list_hosted_zones_by_vpc()
                .vpc_id(vpc_id)
                .vpc_region(VpcRegion::from(region))
                .max_items(100)
                .set_next_token(token.clone()),
            |out| {
                let zones: Vec<PrivateZoneFacts> = out
                    .hosted_zone_summaries()
                    .iter()
                    .map(|z| PrivateZoneFacts {
                        id: z
                            .hosted_zone_id()
                            .trim_start_matches("/hostedzone/")
                            .to_string(),
                        name: dns_name(z.name()),
                        owner_account: z
                            .owner()
                            .and_then(|o| o.owning_account())
                            .map(str::to_string),
                        owner_service: z
                            .owner()
                            .and_then(|o| o.owning_service())
                            .map(str::to_string),
                    })
                    .collect();
                Fact::found((
                    zones,
                    out.next_token()
                        .filter(|t| !t.is_empty())
                        .map(str::to_string),
                ))
            },
        )
        .await;
        match page {
            Fact::Found {
                value: (page, next),
            } => {
                zones.extend(page);
                token = next;
                if token.is_none() {
                    return Fact::found(zones);
                }
            }
            Fact::NotFound { detail } => return Fact::NotFound { detail },
            Fact::Unreadable { reason, kind } => return Fact::Unreadable { reason, kind },
            Fact::NotCollected { reason } => return Fact::NotCollected { reason },
        }
    }
    Fact::found(zones)
}

async fn read_rules(
    resolver: &aws_sdk_route53resolver::Client,
    log: &CallLog,
    vpc_id: &str,
) -> Fact<Vec<ResolverRuleFacts>> {
    // (rule id, association status)
    let mut associations: Vec<(String, Option<String>)> = vec![];
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = shared!(
            log,
            "route53resolver:ListResolverRuleAssociations",
            &[],
            resolver
                .list_resolver_rule_associations()
                .filters(Filter::builder().name("VPCId").values(vpc_id).build())
                .max_results(100)
                .set_next_token(token.clone()),
            |out| {
                let page: Vec<(String, Option<String>)> = out
                    .resolver_rule_associations()
                    .iter()
                    .filter(|a| a.vpc_id().is_none_or(|v| v == vpc_id))
                    .filter_map(|a| {
                        Some((
                            a.resolver_rule_id()?.to_string(),
                            a.status().map(|s| s.as_str().to_string()),
                        ))
                    })
                    .collect();
                Fact::found((
                    page,
                    out.next_token()
                        .filter(|t| !t.is_empty())
                        .map(str::to_string),
                ))
            },
        )
        .await;
        match page {
            Fact::Found {
                value: (page, next),
            } => {
                associations.extend(page);
                token = next;
                if token.is_none() {
                    break;
                }
            }
            Fact::NotFound { detail } => return Fact::NotFound { detail },
            Fact::Unreadable { reason, kind } => return Fact::Unreadable { reason, kind },
            Fact::NotCollected { reason } => return Fact::NotCollected { reason },
        }
    }
    associations.truncate(MAX_RULES);
    let reads = associations.into_iter().map(|(id, status)| async move {
        let rule = shared!(
            log,
            "route53resolver:GetResolverRule",
            &["ResourceNotFoundException"],
            resolver.get_resolver_rule().resolver_rule_id(&id),
            |out| match out.resolver_rule() {
                Some(r) => Fact::found(ResolverRuleFacts {
                    id: r.id().unwrap_or(&id).to_string(),
                    association_status: None,
                    unreadable: None,
                    name: r.name().map(str::to_string),
                    domain_name: r.domain_name().map(dns_name),
                    rule_type: r.rule_type().map(|t| t.as_str().to_string()),
                    owner_id: r.owner_id().map(str::to_string),
                    target_ips: r
                        .target_ips()
                        .iter()
                        .filter_map(|t| Some(format!("{}:{}", t.ip()?, t.port().unwrap_or(53))))
                        .collect(),
                    resolver_endpoint_id: r.resolver_endpoint_id().map(str::to_string),
                }),
                None => Fact::NotFound {
                    detail: format!("resolver rule {id} not returned")
                },
            },
        )
        .await;
        match rule {
            Fact::Found { value } => Some(ResolverRuleFacts {
                association_status: status,
                ..value
            }),
            // The association outlived its rule: it forwards nothing.
            Fact::NotFound { .. } => None,
            other => Some(ResolverRuleFacts {
                id,
                association_status: status,
                unreadable: Some(other.gap().unwrap_or("not read").to_string()),
                ..Default::default()
            }),
        }
    });
    let rules = futures_util::future::join_all(reads.map(Box::pin)).await;
    Fact::found(rules.into_iter().flatten().collect())
}
