//! Who else is hit (issue 14 §3): moto accounts with several services, one of them failing, and
//! the real collector with history on. `blast_radius` must name exactly the other services that
//! share the broken resource, with why; a denied read makes only that section `unknown`; a storm
//! in one warm container lists the services once.

use std::time::Duration;

use pulldoctor::collect::{Clients, Options};
use pulldoctor::engine::{diagnose_with, Run};
use pulldoctor::intake::{intake, Intake, PullFailure};
use pulldoctor::model::diagnosis::RootCause;
use pulldoctor::model::history::{BlastRadius, HistoryStatus};
use pulldoctor_tests::contracts::{assert_valid, Contract};
use pulldoctor_tests::events::{messages, TaskEvent};
use pulldoctor_tests::{awsvpc, Fault, Proxy, StoppedTask, TaskDefSpec, WebAccount};
use serde_json::Value;

const HISTORY: Options = Options {
    deadline: None,
    history: true,
};

/// The usual account (cluster `prod`, private subnet behind a NAT gateway) with service `web`
/// failing, `api` and `worker` in the same private subnet, `billing` in a second private subnet
/// with its own NAT route, and cluster `staging` with `batch` in that healthy subnet too.
struct Services {
    account: WebAccount,
    healthy_subnet: String,
    task: StoppedTask,
}

async fn services() -> Services {
    let account = WebAccount::build().await;
    let (world, net) = (&account.world, &account.net);
    let td = account.task_definition(&account.image, true).await;
    let healthy_subnet = world
        .subnet(&net.vpc_id, "10.0.2.0/24", &net.availability_zone)
        .await;
    let healthy_rt = world.route_table(&net.vpc_id, &healthy_subnet).await;
    world.nat_route(&healthy_rt, &net.nat_gateway_id).await;
    let sg = net.security_group_id.as_str();
    for name in ["web", "api", "worker"] {
        world
            .service_with("prod", name, &td, awsvpc(&[&net.subnet_id], sg, false), 1)
            .await;
    }
    world
        .service_with(
            "prod",
            "billing",
            &td,
            awsvpc(&[&healthy_subnet], sg, false),
            1,
        )
        .await;
    world.cluster("staging").await;
    world
        .service_with(
            "staging",
            "batch",
            &td,
            awsvpc(&[&healthy_subnet], sg, false),
            1,
        )
        .await;
    let task = world.unknown_task(&account.cluster_arn, &td, net, "service:web");
    Services {
        account,
        healthy_subnet,
        task,
    }
}

impl Services {
    fn event(&self, task: &StoppedTask) -> Value {
        let a = &self.account;
        let message = messages::io_timeout(&a.image, &a.world.registry(), &a.repo.name, "v1");
        TaskEvent::pull_failure(&a.world, task, "web", &a.image, &message).to_value()
    }

    fn failure(&self) -> PullFailure {
        failure(&self.event(&self.task))
    }

    async fn delete_nat_route(&self) {
        self.account
            .world
            .delete_default_route(&self.account.net.private_route_table_id)
            .await;
    }

    fn through(&self, proxy: &Proxy) -> aws_config::SdkConfig {
        self.account
            .world
            .config
            .to_builder()
            .endpoint_url(proxy.url())
            .build()
    }
}

fn failure(event: &Value) -> PullFailure {
    let Intake::PullFailure(failure) = intake(event) else {
        panic!("not a pull failure: {event:#}")
    };
    *failure
}

fn blast(run: &Run) -> &BlastRadius {
    run.diagnosis
        .blast_radius
        .as_ref()
        .unwrap_or_else(|| panic!("no blast_radius: {:#?}", run.facts.history))
}

fn listed(b: &BlastRadius) -> Vec<(&str, &str, &str)> {
    b.services
        .iter()
        .map(|s| (s.cluster.as_str(), s.service.as_str(), s.why.as_str()))
        .collect()
}

/// The diagnosis as JSON, checked against docs/schemas/diagnosis.v1.json.
fn valid_json(run: &Run) -> Value {
    let json = serde_json::to_value(&run.diagnosis).expect("diagnosis JSON");
    assert_valid(Contract::Diagnosis, &json);
    json
}

// (a) ---------------------------------------------------------------------------------------------
#[tokio::test]
async fn a_deleted_nat_route_names_the_services_in_that_subnet() {
    let s = services().await;
    s.delete_nat_route().await;
    let run = diagnose_with(
        &Clients::new(&s.account.world.config),
        &s.failure(),
        HISTORY,
    )
    .await;
    assert_eq!(
        run.diagnosis.root_cause.code,
        RootCause::NetNoRoute,
        "{:#?}",
        run.diagnosis.root_cause
    );
    let b = blast(&run);
    let subnet = s.account.net.subnet_id.as_str();
    let why = format!("runs in {subnet}");
    assert_eq!(b.status, HistoryStatus::Found, "{b:#?}");
    assert_eq!(b.shared, [format!("subnet {subnet}")]);
    // Not web (the failing service), not billing nor batch (the healthy subnet).
    assert_eq!(
        listed(b),
        [
            ("prod", "api", why.as_str()),
            ("prod", "worker", why.as_str())
        ]
    );
    assert_eq!(b.total, 2);
    assert!(b.complete, "{b:#?}");
    assert_eq!(b.clusters_examined, 2, "prod and staging");
    assert!(!serde_json::to_string(b)
        .unwrap()
        .contains(&s.healthy_subnet));
    let json = valid_json(&run);
    eprintln!("blast_radius: {}", json["blast_radius"]);
    let text = pulldoctor::report::text(&run.diagnosis);
    assert!(text.contains("2 other service(s) share subnet"), "{text}");
    assert!(
        text.contains(&format!("  - api (cluster prod): runs in {subnet}")),
        "{text}"
    );
}

// (b) ---------------------------------------------------------------------------------------------
#[tokio::test]
async fn a_missing_execution_role_permission_names_the_services_using_the_role() {
    let account = WebAccount::build().await;
    let (world, net) = (&account.world, &account.net);
    let logs = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]});
    let role = world
        .service_role("noEcr", "ecs-tasks.amazonaws.com", &[])
        .await;
    world.inline_policy("noEcr", "logs", &logs).await;
    let spec = |family: &str, role: &str| TaskDefSpec {
        family: family.into(),
        container: "web".into(),
        image: account.image.clone(),
        execution_role_arn: Some(role.into()),
    };
    let web = world.task_definition(&spec("web", &role)).await;
    let api = world.task_definition(&spec("api", &role)).await;
    let other = world
        .task_definition(&spec("other", &account.role_arn))
        .await;
    for (name, td) in [("web", &web), ("api", &api), ("other", &other)] {
        world.service("prod", name, td, net).await;
    }
    let task = world.unknown_task(&account.cluster_arn, &web, net, "service:web");
    let message = messages::forbidden(&account.image, &world.registry(), "v1");
    let event = TaskEvent::pull_failure(world, &task, "web", &account.image, &message).to_value();
    let run = diagnose_with(&Clients::new(&world.config), &failure(&event), HISTORY).await;
    assert_eq!(
        run.diagnosis.root_cause.code,
        RootCause::IamExecutionRolePermissions,
        "{:#?}",
        run.diagnosis.root_cause
    );
    let b = blast(&run);
    assert_eq!(b.shared, ["execution role noEcr"]);
    assert_eq!(
        listed(b),
        [("prod", "api", "uses execution role noEcr")],
        "not other (another role), not web itself"
    );
    assert_eq!(b.total, 1);
    assert!(b.complete, "{b:#?}");
    valid_json(&run);
}

// (c) ---------------------------------------------------------------------------------------------
#[tokio::test]
async fn denied_service_reads_make_only_the_section_unknown() {
    let s = services().await;
    s.delete_nat_route().await;
    let proxy = Proxy::start(s.account.world.moto.url());
    let clients = Clients::new(&s.through(&proxy));
    let baseline = diagnose_with(&clients, &s.failure(), HISTORY).await;
    assert_eq!(blast(&baseline).status, HistoryStatus::Found);

    proxy.fault("ecs:ListServices", Fault::AccessDenied);
    let denied = diagnose_with(&clients, &s.failure(), HISTORY).await;
    let b = blast(&denied);
    assert_eq!(b.status, HistoryStatus::Unknown, "{b:#?}");
    assert_eq!(
        b.reason.as_deref(),
        Some("AccessDenied: ecs:ListServices (grant ecs:ListServices to pulldoctor's role)")
    );
    assert_eq!(b.shared, [format!("subnet {}", s.account.net.subnet_id)]);
    assert_eq!((b.total, b.services.len(), b.complete), (0, 0, false));
    // The rest of the diagnosis is what it was.
    assert_eq!(denied.diagnosis.root_cause, baseline.diagnosis.root_cause);
    assert_eq!(denied.diagnosis.findings, baseline.diagnosis.findings);
    valid_json(&denied);
    let text = pulldoctor::report::text(&denied.diagnosis);
    assert!(
        text.contains("unknown (AccessDenied: ecs:ListServices (grant ecs:ListServices"),
        "{text}"
    );

    // DescribeServices denied too: the network checks lose the service's security groups, the
    // root cause stays, and the section says which read to grant.
    proxy.clear_faults();
    proxy.fault("ecs:DescribeServices", Fault::AccessDenied);
    let denied = diagnose_with(&clients, &s.failure(), HISTORY).await;
    assert_eq!(denied.diagnosis.root_cause.code, RootCause::NetNoRoute);
    let b = blast(&denied);
    assert_eq!(b.status, HistoryStatus::Unknown, "{b:#?}");
    assert!(
        b.reason
            .as_deref()
            .unwrap()
            .contains("grant ecs:DescribeServices"),
        "{b:#?}"
    );
    valid_json(&denied);
}

// (d) ---------------------------------------------------------------------------------------------
/// A storm of 100 failures of `web` in one warm container: the services are listed and
/// described once; every diagnosis names the same two services.
#[tokio::test]
async fn a_storm_in_a_warm_container_lists_the_services_once() {
    let s = services().await;
    s.delete_nat_route().await;
    let proxy = Proxy::start(s.account.world.moto.url());
    // A TTL far above the storm's length on a busy machine: this test is about what is cached.
    let clients = Clients::new(&s.through(&proxy)).with_warm_cache(Duration::from_secs(900), 512);
    let a = &s.account;
    let td = s.task.task_definition_arn.clone();
    for i in 0..100 {
        let task = if i == 0 {
            s.task.clone()
        } else {
            a.world
                .unknown_task(&a.cluster_arn, &td, &a.net, "service:web")
        };
        let run = diagnose_with(&clients, &failure(&s.event(&task)), HISTORY).await;
        let b = blast(&run);
        assert_eq!(
            (b.status, b.total, b.complete),
            (HistoryStatus::Found, 2, true),
            "event {i}: {b:#?}"
        );
    }
    let seen = proxy.take();
    let count = |action: &str| {
        seen.iter()
            .filter(|r| r.action == action && r.attempt == 1)
            .count()
    };
    assert_eq!(
        count("ecs:ListServices"),
        2,
        "once per cluster (prod, staging) for the whole storm"
    );
    assert_eq!(count("ecs:ListClusters"), 1);
    // One batch per cluster, and the failing service's own read by the network collector.
    assert_eq!(count("ecs:DescribeServices"), 3);
}
