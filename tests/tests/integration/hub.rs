//! Hub-and-spoke endpoints (issue 12): a spoke VPC whose private subnet has no NAT and no ECR
//! endpoints of its own, reaches a hub over a transit gateway, and resolves the ECR and S3 names
//! through private hosted zones (or a Resolver forwarding rule) associated with it. The real
//! collector reads the zones and rules from moto; the verdict must be a `warn` citing the zone or
//! rule and the route — never a NET_NO_ROUTE or NET_ENDPOINT_DNS `fail` — while the same spoke
//! without any private DNS still gets its genuine NET_NO_ROUTE.
//!
//! moto 5.2.1 lists only zones of its one account (`OwningAccount` = this account); zones owned
//! by another account are covered by the unit tables in `checks/network/hub.rs`.

use aws_sdk_route53::types::{HostedZoneConfig, Vpc, VpcRegion};
use pulldoctor::collect::Clients;
use pulldoctor::intake::{intake, Intake};
use pulldoctor::model::diagnosis::{Diagnosis, Finding, Status};
use pulldoctor::model::facts::{Fact, Facts};
use pulldoctor_tests::{StoppedTask, WebService, ACCOUNT_ID};
use serde_json::Value;

const HUB_CIDR: &str = "10.100.0.0/16";

struct Spoke {
    web: WebService,
    task: StoppedTask,
    tgw: String,
}

/// The usual service task (ENI gone) in the private subnet of a VPC whose NAT route was replaced
/// by a route to a transit gateway: `0.0.0.0/0` when `default_route`, else only the hub CIDR.
async fn spoke(default_route: bool) -> Spoke {
    let web = WebService::build().await;
    let task = web.stopped_task();
    let (world, net) = (&web.world, &web.net);
    world
        .delete_default_route(&net.private_route_table_id)
        .await;
    let ec2 = &world.ec2;
    let tgw = ec2
        .create_transit_gateway()
        .description("hub")
        .send()
        .await
        .expect("CreateTransitGateway")
        .transit_gateway
        .and_then(|t| t.transit_gateway_id)
        .expect("tgw id");
    ec2.create_transit_gateway_vpc_attachment()
        .transit_gateway_id(&tgw)
        .vpc_id(&net.vpc_id)
        .subnet_ids(&net.subnet_id)
        .send()
        .await
        .expect("CreateTransitGatewayVpcAttachment");
    ec2.create_route()
        .route_table_id(&net.private_route_table_id)
        .destination_cidr_block(if default_route { "0.0.0.0/0" } else { HUB_CIDR })
        .transit_gateway_id(&tgw)
        .send()
        .await
        .expect("CreateRoute tgw");
    Spoke { web, task, tgw }
}

impl Spoke {
    /// A private hosted zone `name` associated with the spoke VPC; returns its id.
    async fn zone(&self, name: &str) -> String {
        let route53 = aws_sdk_route53::Client::new(&self.web.world.config);
        let id = route53
            .create_hosted_zone()
            .name(name)
            .caller_reference(format!("hub-{name}"))
            .hosted_zone_config(HostedZoneConfig::builder().private_zone(true).build())
            .vpc(
                Vpc::builder()
                    .vpc_id(&self.web.net.vpc_id)
                    .vpc_region(VpcRegion::from(self.web.world.region.as_str()))
                    .build(),
            )
            .send()
            .await
            .expect("CreateHostedZone")
            .hosted_zone
            .map(|z| z.id)
            .expect("zone id");
        id.trim_start_matches("/hostedzone/").to_string()
    }

    /// The hub's zones for the ECR API, the registry and S3, as a network account shares them.
    async fn hub_zones(&self) -> Vec<String> {
        let r = &self.web.world.region;
        let mut ids = vec![];
        for name in [
            format!("api.ecr.{r}.amazonaws.com"),
            format!("dkr.ecr.{r}.amazonaws.com"),
            format!("s3.{r}.amazonaws.com"),
        ] {
            ids.push(self.zone(&name).await);
        }
        ids
    }

    async fn diagnose(&self) -> (Facts, Diagnosis) {
        let event: Value = self.web.io_timeout_event(&self.task);
        let Intake::PullFailure(failure) = intake(&event) else {
            panic!("not a pull failure: {event:#}")
        };
        assert!(
            failure.message.contains("i/o timeout"),
            "{}",
            failure.message
        );
        pulldoctor::engine::diagnose(&Clients::new(&self.web.world.config), &failure).await
    }
}

fn dump(d: &Diagnosis) -> String {
    d.findings
        .iter()
        .map(|f| format!("{:7} {:24} {}", f.status.as_str(), f.code.code(), f.title))
        .collect::<Vec<_>>()
        .join("\n")
}

fn finding<'a>(d: &'a Diagnosis, code: &str) -> &'a Finding {
    d.findings
        .iter()
        .find(|f| f.code.code() == code)
        .unwrap_or_else(|| panic!("no {code}:\n{}", dump(d)))
}

fn text(f: &Finding) -> String {
    format!(
        "{} {} {}",
        f.title,
        f.evidence,
        f.remediation.as_deref().unwrap_or("")
    )
}

/// No network check fails and the root cause is not a network one.
fn no_network_failure(d: &Diagnosis) {
    let fails: Vec<String> = d
        .findings
        .iter()
        .filter(|f| f.status == Status::Fail && f.code.code().starts_with("NET_"))
        .map(|f| format!("{}: {}", f.code.code(), f.title))
        .collect();
    assert!(
        fails.is_empty(),
        "a healthy spoke must not fail: {fails:#?}\n{}",
        dump(d)
    );
    assert!(!d.root_cause.code.code().starts_with("NET_"), "{}", dump(d));
}

#[tokio::test]
async fn spoke_with_hub_zones_and_default_route_to_the_tgw_is_a_warning_naming_zone_and_route() {
    let s = spoke(true).await;
    let zones = s.hub_zones().await;
    let (facts, d) = s.diagnose().await;
    no_network_failure(&d);
    let route = finding(&d, "NET_NO_ROUTE");
    assert_eq!(route.status, Status::Warn, "{}", dump(&d));
    let t = text(route);
    for needle in [
        zones[0].as_str(),
        "api.ecr.us-east-1.amazonaws.com",
        "dkr.ecr.us-east-1.amazonaws.com",
        &format!("owner account {ACCOUNT_ID}"),
        &format!("0.0.0.0/0 → {}", s.tgw),
        "Verify in the hub",
    ] {
        assert!(t.contains(needle), "{needle:?} not in {t}");
    }
    // The old verdict (verify the transit gateway's egress to a NAT) is not what this spoke needs.
    assert!(!t.contains("egress VPC"), "{t}");
    assert_eq!(
        facts.network.private_zones.value().map(Vec::len),
        Some(3),
        "{:?}",
        facts.network.private_zones
    );
}

#[tokio::test]
async fn spoke_with_hub_zones_and_only_a_hub_cidr_route_is_a_warning_not_no_route() {
    let s = spoke(false).await;
    let zones = s.hub_zones().await;
    let (_, d) = s.diagnose().await;
    no_network_failure(&d);
    let route = finding(&d, "NET_NO_ROUTE");
    assert_eq!(route.status, Status::Warn, "{}", dump(&d));
    let t = text(route);
    for needle in [
        zones[2].as_str(),
        "s3.us-east-1.amazonaws.com",
        &format!("{HUB_CIDR} → {}", s.tgw),
        "10.0.1.0/24",
    ] {
        assert!(t.contains(needle), "{needle:?} not in {t}");
    }
}

/// The control: the same spoke, the transit gateway only for the hub CIDR, and no zone or rule:
/// the names resolve to public addresses and nothing leads there.
#[tokio::test]
async fn spoke_without_private_dns_still_has_no_route() {
    let s = spoke(false).await;
    let (facts, d) = s.diagnose().await;
    assert_eq!(d.root_cause.code.code(), "NET_NO_ROUTE", "{}", dump(&d));
    let route = finding(&d, "NET_NO_ROUTE");
    assert_eq!(route.status, Status::Fail, "{}", dump(&d));
    assert!(
        text(route).contains(&s.web.net.private_route_table_id),
        "{}",
        text(route)
    );
    // The private DNS was read (and is empty).
    assert_eq!(facts.network.private_zones, Fact::found(vec![]));
    assert_eq!(facts.network.resolver_rules, Fact::found(vec![]));
}

/// Only the ECR names are served by the hub: the layer bucket resolves to public S3 addresses and
/// there is no default route — the pull breaks at the layers, and the verdict says so.
#[tokio::test]
async fn spoke_with_ecr_zones_only_cannot_reach_the_layer_bucket() {
    let s = spoke(false).await;
    s.zone("api.ecr.us-east-1.amazonaws.com").await;
    s.zone("dkr.ecr.us-east-1.amazonaws.com").await;
    let (_, d) = s.diagnose().await;
    assert_eq!(d.root_cause.code.code(), "NET_NO_ROUTE", "{}", dump(&d));
    let t = text(finding(&d, "NET_NO_ROUTE"));
    assert!(
        t.contains("prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com"),
        "{t}"
    );
    assert!(t.contains("com.amazonaws.us-east-1.s3"), "{t}");
}

/// A Resolver forwarding rule for amazonaws.com to the hub's resolvers serves the names instead.
#[tokio::test]
async fn spoke_with_a_forwarding_rule_is_a_warning_naming_the_rule() {
    use aws_sdk_route53resolver::types::{RuleTypeOption, TargetAddress};
    let s = spoke(false).await;
    let resolver = aws_sdk_route53resolver::Client::new(&s.web.world.config);
    let rule = resolver
        .create_resolver_rule()
        .creator_request_id("hub-aws")
        .name("hub-aws")
        .rule_type(RuleTypeOption::Forward)
        .domain_name("amazonaws.com")
        .target_ips(TargetAddress::builder().ip("10.100.0.10").port(53).build())
        .send()
        .await
        .expect("CreateResolverRule")
        .resolver_rule
        .and_then(|r| r.id)
        .expect("rule id");
    resolver
        .associate_resolver_rule()
        .resolver_rule_id(&rule)
        .vpc_id(&s.web.net.vpc_id)
        .send()
        .await
        .expect("AssociateResolverRule");
    let (_, d) = s.diagnose().await;
    no_network_failure(&d);
    let route = finding(&d, "NET_NO_ROUTE");
    assert_eq!(route.status, Status::Warn, "{}", dump(&d));
    let t = text(route);
    for needle in [rule.as_str(), "hub-aws", "10.100.0.10:53", &s.tgw] {
        assert!(t.contains(needle), "{needle:?} not in {t}");
    }
}

/// The common case costs nothing more: with a NAT default route the private DNS is not read.
#[tokio::test]
async fn private_dns_is_not_read_when_the_route_table_has_a_public_path() {
    let web = WebService::build().await;
    let event = web.io_timeout_event(&web.stopped_task());
    let Intake::PullFailure(failure) = intake(&event) else {
        panic!("not a pull failure")
    };
    let net = &web.net;
    let (facts, stats) = pulldoctor::collect::collect_with(
        &Clients::new(&web.world.config),
        &failure,
        &Default::default(),
        Default::default(),
    )
    .await;
    assert!(
        matches!(&facts.network.private_zones, Fact::NotCollected { reason } if reason.contains(&net.nat_gateway_id)),
        "{:?}",
        facts.network.private_zones
    );
    assert!(
        stats
            .records
            .iter()
            .all(|r| !r.action.starts_with("route53")),
        "{:?}",
        stats.records
    );
}
