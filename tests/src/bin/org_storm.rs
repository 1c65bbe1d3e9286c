//! `cargo run --release -p pulldoctor-tests --bin org_storm` (or `bash tests/run.sh --org-storm`):
//! an organisation's storm. Not a test: it measures and prints.
//!
//! A bad image breaks many services in many accounts at once. One moto server holds a central
//! account and `PULLDOCTOR_STORM_ACCOUNTS` member accounts (default 10; moto binds the
//! credentials STS `AssumeRole` returns to the role's account), each with cluster `prod` and
//! services `svc-0…` (`PULLDOCTOR_STORM_SERVICES` in all, default 50) whose task definitions name
//! `team/web:v2`, never pushed. `PULLDOCTOR_STORM_EVENTS` stopped-task events (default 1,000,
//! round-robin over the services, each its own task, its ENI already deleted) are queued on one
//! local Lambda Runtime API, which `PULLDOCTOR_STORM_LAMBDAS` copies of the real
//! `pulldoctor-lambda` binary poll at once (default 4: reserved concurrency 4), configured as the
//! template deploys it — SNS topic, DynamoDB dedup table, member role, history on — and reaching
//! moto through a proxy that adds `PULLDOCTOR_BENCH_LATENCY_MS` (default 50) to every AWS request.
//!
//! Printed: invocations answered and failed (a failed one goes to Lambda's retries, then the
//! dead-letter queue), audit lines (one per invocation), decisions, SNS messages against the
//! incidents (exactly one per failing service), AWS calls per event, wall time to drain, and
//! CloudTrail `LookupEvents` per account and second against its budget of 2 per second.
//! `PULLDOCTOR_STORM_CACHE_TTL_SECONDS` and `PULLDOCTOR_STORM_WINDOW_MINUTES` pass through to the
//! function (`PULLDOCTOR_CACHE_TTL_SECONDS`, `PULLDOCTOR_DEDUP_WINDOW_MINUTES`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use pulldoctor_tests::events::{messages, TaskEvent};
use pulldoctor_tests::lambda::{audit_records, InvocationResult, LambdaProcess, RuntimeApi};
use pulldoctor_tests::proxy::{Fault, Proxy};
use pulldoctor_tests::{TaskDefSpec, WebAccount, World};
use serde_json::Value;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A member account's failing services.
struct Member {
    account: WebAccount,
    /// (service name, task definition ARN)
    services: Vec<(String, String)>,
    image: String,
}

async fn member(central: &World, account: &str, services: std::ops::Range<usize>) -> Member {
    let web = WebAccount::build_in(central.in_account(account).await).await;
    let image = web.repo.image("v2"); // never pushed: every task of every service fails
    let mut list = vec![];
    for i in services {
        let name = format!("svc-{i}");
        let td = web
            .world
            .task_definition(&TaskDefSpec {
                family: name.clone(),
                container: "app".into(),
                image: image.clone(),
                execution_role_arn: Some(web.role_arn.clone()),
            })
            .await;
        web.world.service("prod", &name, &td, &web.net).await;
        list.push((name, td));
    }
    Member {
        account: web,
        services: list,
        image,
    }
}

/// The account an access key belongs to (moto answers `GetCallerIdentity` for any key it issued,
/// without checking the signature's secret).
async fn account_of_key(central: &World, key: &str) -> String {
    let config = central
        .config
        .to_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(
                    key,
                    "unused",
                    Some("unused".into()),
                    None,
                    "probe",
                ),
            ),
        )
        .build();
    aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .ok()
        .and_then(|o| o.account().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

#[tokio::main]
async fn main() {
    let events = setting("PULLDOCTOR_STORM_EVENTS", 1000) as usize;
    let services = setting("PULLDOCTOR_STORM_SERVICES", 50) as usize;
    let accounts = setting("PULLDOCTOR_STORM_ACCOUNTS", 10).max(1) as usize;
    let lambdas = setting("PULLDOCTOR_STORM_LAMBDAS", 4).max(1) as usize;
    let latency = Duration::from_millis(setting("PULLDOCTOR_BENCH_LATENCY_MS", 50));
    let cache_ttl = std::env::var("PULLDOCTOR_STORM_CACHE_TTL_SECONDS").ok();
    let window = std::env::var("PULLDOCTOR_STORM_WINDOW_MINUTES").ok();

    eprintln!("building {accounts} member accounts with {services} services in moto...");
    let built = Instant::now();
    let central = World::new().await;
    let inbox = central.sns_inbox("pulldoctor-alerts").await;
    let table = central.dedup_table("pulldoctor-dedup").await;
    let per_account = services.div_ceil(accounts);
    let mut members = vec![];
    for a in 0..accounts {
        let account = format!("{:012}", 210_000_000_000u64 + a as u64);
        let range = a * per_account..((a + 1) * per_account).min(services);
        members.push(member(&central, &account, range).await);
    }
    let mut queue = vec![];
    let all: Vec<(usize, usize)> = members
        .iter()
        .enumerate()
        .flat_map(|(m, x)| (0..x.services.len()).map(move |s| (m, s)))
        .collect();
    for i in 0..events {
        let (m, s) = all[i % all.len()];
        let member = &members[m];
        let (name, td) = &member.services[s];
        let task = member.account.world.unknown_task(
            &member.account.cluster_arn,
            td,
            &member.account.net,
            &format!("service:{name}"),
        );
        let event = TaskEvent::pull_failure(
            &member.account.world,
            &task,
            "app",
            &member.image,
            &messages::image_not_found(&member.image),
        );
        queue.push(event.to_value());
    }
    eprintln!("world built in {:.1} s", built.elapsed().as_secs_f64());

    let proxy = Proxy::start(central.moto.url());
    proxy.set_latency(latency);
    // As in the bench: moto lacks these two and answers 500 (retried with backoff real AWS never
    // costs); a denial costs one call, like an account that does not grant them.
    proxy.fault("iam:SimulatePrincipalPolicy", Fault::AccessDenied);
    proxy.fault("ecs:ListServiceDeployments", Fault::AccessDenied);
    // moto lacks it too; ECR answers a registry without rules with an empty list.
    proxy.fault(
        "ecr:DescribePullThroughCacheRules",
        Fault::NoPullThroughCacheRules,
    );

    let runtime = RuntimeApi::start();
    let mut settings = vec![
        ("AWS_ENDPOINT_URL", proxy.url()),
        ("PULLDOCTOR_TOPIC_ARN", inbox.topic_arn.clone()),
        ("PULLDOCTOR_DEDUP_TABLE", table),
        ("PULLDOCTOR_MEMBER_ROLE_NAME", "pulldoctor-read".to_string()),
        ("PULLDOCTOR_HOME_ACCOUNT", central.account.clone()),
        ("RUST_LOG", "warn".to_string()),
        // As the template sets it from ReservedConcurrency.
        ("PULLDOCTOR_CONCURRENCY", lambdas.to_string()),
    ];
    if let Some(ttl) = &cache_ttl {
        settings.push(("PULLDOCTOR_CACHE_TTL_SECONDS", ttl.clone()));
    }
    if let Some(w) = &window {
        settings.push(("PULLDOCTOR_DEDUP_WINDOW_MINUTES", w.clone()));
    }
    let processes: Vec<LambdaProcess> = (0..lambdas)
        .map(|_| LambdaProcess::spawn(&runtime, &central.moto, &settings))
        .collect();
    proxy.take();
    let started = Instant::now();
    let ids: Vec<String> = queue.into_iter().map(|e| runtime.invoke(e)).collect();
    let results = tokio::task::spawn_blocking({
        let ids = ids.clone();
        move || runtime.wait_for(&ids, Duration::from_secs(3600))
    })
    .await
    .unwrap();
    let drained = started.elapsed();
    let seen = proxy.take();

    let answered = ids
        .iter()
        .filter(|id| matches!(results.get(*id), Some(InvocationResult::Response(_))))
        .count();
    let failed = ids
        .iter()
        .filter(|id| matches!(results.get(*id), Some(InvocationResult::Error(_))))
        .count();
    let missing = ids.len() - answered - failed;
    let lines: Vec<String> = processes
        .into_iter()
        .flat_map(LambdaProcess::finish)
        .collect();
    let records = audit_records(&lines);
    let mut decisions: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        *decisions
            .entry(r["decision"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    let aws_calls: u64 = records.iter().filter_map(|r| r["aws_calls"].as_u64()).sum();
    let notified: Vec<&Value> = records
        .iter()
        .filter(|r| r["decision"] == "notified")
        .collect();
    let notified_incidents: BTreeSet<&str> = notified
        .iter()
        .filter_map(|r| r["fingerprint"].as_str())
        .collect();
    let incidents: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["fingerprint"].as_str())
        .collect();
    let sns = central
        .sns_messages_within(&inbox, Duration::from_secs(5))
        .await;

    // CloudTrail LookupEvents per account and second.
    let mut account_of: HashMap<String, String> = HashMap::new();
    let mut per_second: BTreeMap<(String, u64), u32> = BTreeMap::new();
    let lookups: Vec<_> = seen
        .iter()
        .filter(|s| s.action == "cloudtrail:LookupEvents")
        .collect();
    for s in &lookups {
        let key = s.access_key.clone().unwrap_or_default();
        if !account_of.contains_key(&key) {
            account_of.insert(key.clone(), account_of_key(&central, &key).await);
        }
        // Wall-clock seconds, as CloudTrail counts them (the function claims its slots by them).
        let second = wall_second(s.at);
        *per_second
            .entry((account_of[&key].clone(), second))
            .or_default() += 1;
    }
    let busiest = per_second.iter().max_by_key(|(_, n)| **n);
    let by_action = {
        let mut m: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &seen {
            *m.entry(s.action.as_str()).or_default() += 1;
        }
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.1));
        v.into_iter()
            .take(12)
            .map(|(a, n)| format!("{a} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };

    println!("org storm: {events} events, {services} services in {accounts} member accounts, {lambdas} Lambda processes, {} ms per AWS request", latency.as_millis());
    println!(
        "  cache TTL {} s, dedup window {} min",
        cache_ttl.as_deref().unwrap_or("60 (default)"),
        window.as_deref().unwrap_or("30 (default)")
    );
    println!(
        "  drained in {:.1} s ({:.1} events/s)",
        drained.as_secs_f64(),
        events as f64 / drained.as_secs_f64()
    );
    println!("  invocations: {answered} answered, {failed} failed (Lambda retries them, then the DLQ), {missing} lost");
    println!(
        "  audit lines: {} for {} invocations; decisions {decisions:?}",
        records.len(),
        ids.len()
    );
    println!(
        "  incidents: {} seen, {} notified by {} invocations; SNS messages {} (want one per failing service: {})",
        incidents.len(),
        notified_incidents.len(),
        notified.len(),
        sns.len(),
        services
    );
    println!(
        "  AWS calls (diagnosis and history, audit lines): {aws_calls} = {:.2} per event",
        aws_calls as f64 / events as f64
    );
    println!("  requests through the latency proxy: {} = {:.2} per event (DynamoDB, SNS, STS included); top: {by_action}", seen.len(), seen.len() as f64 / events as f64);
    println!(
        "  CloudTrail LookupEvents: {} in all; busiest account-second {} (budget 2 per second per account and region)",
        lookups.len(),
        busiest.map_or("none".into(), |((a, s), n)| format!("{n} ({a}, Unix second {s})"))
    );
    let ok = failed == 0
        && missing == 0
        && records.len() == ids.len()
        && sns.len() == services
        && notified.len() == services;
    println!(
        "  {}",
        if ok {
            "OK: one notification per failing service, every invocation audited, no event lost"
        } else {
            "NOT OK (see above)"
        }
    );
}

/// The Unix second of an instant of this process.
fn wall_second(at: Instant) -> u64 {
    let ago = Instant::now().saturating_duration_since(at);
    (std::time::SystemTime::now() - ago)
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
