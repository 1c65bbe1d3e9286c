//! Fault matrix: every AWS read of a diagnosis, failing each way AWS can fail.
//!
//! The world is the README demo's (a Fargate service pulling from ECR in a private subnet whose
//! NAT route was deleted). A fault-injecting [`Proxy`] in front of moto makes one action at a time answer
//! AccessDenied, throttling or a 5xx, or hang past the per-attempt timeout (moto itself never
//! fails; the proxy is the fault injector). For each, the diagnosis must complete, say which
//! read failed and why (with the IAM action to grant for a denial), leave the checks that
//! needed it `unknown` rather than guessing, and still rank a root cause from what it knows.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use pulldoctor::collect::{Clients, Limits};
use pulldoctor::engine;
use pulldoctor::intake::{intake, Intake, PullFailure};
use pulldoctor::model::diagnosis::{Diagnosis, Status};
use pulldoctor::model::facts::Facts;
use pulldoctor_tests::proxy::{Fault, Proxy};
use pulldoctor_tests::{NatRouteDeleted, World};

/// Short budgets so a hung read costs about two seconds (two attempts of one second), yet
/// long enough for moto on a busy 2-core CI machine.
const LIMITS: Limits = Limits {
    connect: Duration::from_millis(1000),
    attempt: Duration::from_millis(1000),
    operation: Duration::from_millis(3000),
    max_attempts: 2,
    initial_backoff: Duration::from_millis(10),
};
const HANG: Fault = Fault::Hang(Duration::from_secs(5));

/// Every read the demo diagnosis makes against moto. A read added to the collector shows up
/// here as a failure of `the_matrix_covers_every_read`, so it cannot escape the matrix.
const DEMO_READS: &[&str] = &[
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeVpcs",
    "ecr:DescribeImages",
    "ecr:GetRepositoryPolicy",
    "ecs:DescribeServices",
    "ecs:DescribeTaskDefinition",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:GetRole",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
    "iam:SimulatePrincipalPolicy",
    // No public path: where the VPC resolves the ECR names (hub-and-spoke endpoints). The demo VPC
    // has no Resolver rule association, so no route53resolver:GetResolverRule.
    "route53:ListHostedZonesByVPC",
    "route53resolver:ListResolverRuleAssociations",
];

/// The demo's event carries the whole task, its ENI already deleted: these reads only follow a
/// less complete event (here without its `group`, so `DescribeTasks` is asked) of a task whose
/// ENI still exists (attachment `ATTACHED`).
const PARTIAL_EVENT_READS: &[&str] = &["ec2:DescribeNetworkInterfaces", "ecs:DescribeTasks"];

struct Demo {
    world: World,
    proxy: Proxy,
    failure: PullFailure,
    /// The demo's failure from a less complete event ([`PARTIAL_EVENT_READS`]).
    partial: PullFailure,
    event: serde_json::Value,
    /// Another task of service `web` that failed the same way (its ENI already gone).
    next_event: serde_json::Value,
}

async fn demo() -> Demo {
    let demo = NatRouteDeleted::build().await;
    let Intake::PullFailure(failure) = intake(&demo.event) else {
        panic!("the demo event is a pull failure")
    };
    let next_event = demo.another_failed_task();
    let mut partial = demo.event.clone();
    partial["detail"].as_object_mut().unwrap().remove("group");
    partial["detail"]["attachments"][0]["status"] = "ATTACHED".into();
    let Intake::PullFailure(partial) = intake(&partial) else {
        panic!("the partial demo event is a pull failure")
    };
    let proxy = Proxy::start(demo.world.moto.url());
    Demo {
        proxy,
        failure: *failure,
        partial: *partial,
        event: demo.event,
        next_event,
        world: demo.world,
    }
}

impl Demo {
    fn clients(&self) -> Clients {
        let config = self
            .world
            .config
            .to_builder()
            .endpoint_url(self.proxy.url())
            .build();
        Clients::with_limits(&config, LIMITS)
    }

    async fn diagnose(&self) -> engine::Run {
        self.diagnose_failure(&self.failure).await
    }

    async fn diagnose_failure(&self, failure: &PullFailure) -> engine::Run {
        engine::diagnose_with(&self.clients(), failure, Default::default()).await
    }
}

/// The gap text a fault must leave in the facts for `action`.
fn expected_reason(action: &str, fault: Fault) -> String {
    match fault {
        Fault::AccessDenied => {
            format!("AccessDenied: {action} (grant {action} to pulldoctor's role)")
        }
        Fault::Throttled => format!("Throttled: {action} ("),
        Fault::ServerError => format!(": {action}"),
        Fault::Hang(_) => format!("Timeout: {action}"),
        Fault::SimulatorAllows | Fault::NoPullThroughCacheRules => {
            unreachable!("an answer, not a failure")
        }
    }
}

fn finding_mentions(d: &Diagnosis, needle: &str) -> Vec<(String, Status)> {
    d.findings
        .iter()
        .filter(|f| serde_json::to_string(f).unwrap().contains(needle))
        .map(|f| (f.code.code().to_string(), f.status))
        .collect()
}

/// Checks that read `action` and must turn `unknown` when it fails (a user reading the report
/// sees which check could not run and why). Reads missing here degrade no check: their fact
/// has a fallback (the event's own task copy, the service's network configuration, the local
/// policy evaluator) or they only refine another check's evidence.
fn affected(action: &str) -> &'static [&'static str] {
    match action {
        "ecs:DescribeTaskDefinition" => &["IAM_EXECUTION_ROLE_MISSING"],
        // It also tells whether the repository exists.
        "ecr:DescribeImages" => &["ECR_IMAGE_NOT_FOUND", "ECR_REPOSITORY_NOT_FOUND"],
        "ecr:GetRepositoryPolicy" => &["ECR_REPOSITORY_POLICY"],
        "iam:GetRole" => &["IAM_EXECUTION_ROLE_TRUST", "IAM_EXECUTION_ROLE_PERMISSIONS"],
        "iam:ListRolePolicies"
        | "iam:ListAttachedRolePolicies"
        | "iam:GetPolicy"
        | "iam:GetPolicyVersion" => &["IAM_EXECUTION_ROLE_PERMISSIONS"],
        "ec2:DescribeNetworkAcls" => &["NET_NACL"],
        "ec2:DescribeSecurityGroups" => &["NET_TASK_SG_EGRESS"],
        "ec2:DescribeVpcAttribute" => &["NET_DNS"],
        _ => &[],
    }
}

/// Reads on the path that proves NET_NO_ROUTE: without them the route cannot be judged.
const ROUTE_EVIDENCE: &[&str] = &[
    "ec2:DescribeSubnets",
    "ec2:DescribeRouteTables",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeVpcs",
];

async fn matrix(fault: Fault) {
    let demo = demo().await;
    for failure in [&demo.failure, &demo.partial] {
        let baseline = demo.diagnose_failure(failure).await;
        assert_eq!(
            baseline.diagnosis.root_cause.code.code(),
            "NET_NO_ROUTE",
            "{:?}",
            baseline.diagnosis.root_cause
        );
    }
    demo.proxy.take();
    let mut problems = vec![];
    let mut report = BTreeMap::new();
    let reads = DEMO_READS
        .iter()
        .map(|a| (a, &demo.failure))
        .chain(PARTIAL_EVENT_READS.iter().map(|a| (a, &demo.partial)));
    for (action, failure) in reads {
        demo.proxy.clear_faults();
        demo.proxy.fault(action, fault);
        let run = demo.diagnose_failure(failure).await;
        let seen = demo.proxy.take();
        let facts_json = serde_json::to_string(&run.facts).unwrap();
        let report_json = serde_json::to_string(&run.diagnosis).unwrap();
        let d = &run.diagnosis;
        let reason = expected_reason(action, fault);
        let mut fail = |what: String| problems.push(format!("{action} {}: {what}", fault.name()));
        if !seen.iter().any(|s| s.faulted && s.action == *action) {
            fail("never requested".into());
            continue;
        }
        // The SimulatePrincipalPolicy gap is already in the baseline (moto lacks it): what
        // matters is that the fallback still decides.
        if *action != "iam:SimulatePrincipalPolicy" && !facts_json.contains(&reason) {
            let said: Vec<&str> = facts_json
                .match_indices(*action)
                .map(|(i, _)| {
                    &facts_json
                        [facts_json[..i].rfind('"').unwrap_or(0)..(i + 120).min(facts_json.len())]
                })
                .collect();
            fail(format!("facts do not say `{reason}` but: {said:?}"));
        }
        if run.stats.failed == 0 {
            fail("no failed read counted".into());
        }
        for code in affected(action) {
            match d.findings.iter().find(|f| f.code.code() == *code) {
                Some(f) if f.status == Status::Unknown => {
                    let text = serde_json::to_string(f).unwrap();
                    if !text.contains(action) {
                        fail(format!(
                            "{code} is unknown but does not name {action}: {text}"
                        ));
                    }
                }
                Some(f) => fail(format!("{code} is {:?}, not unknown", f.status)),
                None => fail(format!("{code} missing from the report")),
            }
        }
        // Never a guess: a check whose evidence names the failed read is not pass or fail.
        for (code, status) in finding_mentions(d, &reason) {
            if status != Status::Unknown && status != Status::Warn {
                fail(format!("{code} names the failed read but is {status:?}"));
            }
        }
        let root = d.root_cause.code.code();
        if ROUTE_EVIDENCE.contains(action) {
            if root != "NET_NO_ROUTE" && root != "UNKNOWN" {
                fail(format!("ranked {root} without the route evidence"));
            }
        } else if root != "NET_NO_ROUTE" {
            fail(format!("root cause {root}, expected NET_NO_ROUTE still"));
        }
        assert!(report_json.contains("\"schema\":\"pulldoctor.diagnosis/v1\""));
        report.insert(
            *action,
            (
                root.to_string(),
                d.findings
                    .iter()
                    .filter(|f| f.status == Status::Unknown)
                    .count(),
                run.stats.calls,
            ),
        );
    }
    eprintln!(
        "{} matrix (action → root cause, unknown checks, calls):",
        fault.name()
    );
    for (action, (root, unknown, calls)) in &report {
        eprintln!("  {action:34} {root:14} unknown={unknown} calls={calls}");
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[tokio::test]
async fn every_read_access_denied() {
    matrix(Fault::AccessDenied).await;
}

#[tokio::test]
async fn every_read_throttled() {
    matrix(Fault::Throttled).await;
}

#[tokio::test]
async fn every_read_server_error() {
    matrix(Fault::ServerError).await;
}

#[tokio::test]
async fn every_read_timing_out() {
    matrix(HANG).await;
}

/// The matrix lists exactly the reads the demo diagnosis makes, and none is asked twice.
#[tokio::test]
async fn the_matrix_covers_every_read_and_none_is_repeated() {
    let demo = demo().await;
    let run = demo.diagnose().await;
    let seen = demo.proxy.take();
    let actions: BTreeSet<&str> = seen.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(actions, DEMO_READS.iter().copied().collect::<BTreeSet<_>>());
    let mut keys = BTreeMap::new();
    // Retries of a failed attempt (moto answers SimulatePrincipalPolicy with an error) are the
    // SDK's, not a second read.
    for s in seen.iter().filter(|s| s.attempt == 1) {
        *keys.entry(s.key.as_str()).or_insert(0) += 1;
    }
    let repeated: Vec<_> = keys.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "requests issued more than once: {repeated:#?}"
    );
    assert_eq!(
        run.stats.calls as usize,
        keys.values().sum::<usize>(),
        "the call log counts every read the proxy saw"
    );

    // The less complete event adds exactly its own reads (and, without a group, no service read).
    demo.diagnose_failure(&demo.partial).await;
    let seen: BTreeSet<String> = demo.proxy.take().into_iter().map(|s| s.action).collect();
    let added: BTreeSet<&str> = seen
        .iter()
        .map(String::as_str)
        .filter(|a| !DEMO_READS.contains(a))
        .collect();
    assert_eq!(
        added,
        PARTIAL_EVENT_READS.iter().copied().collect::<BTreeSet<_>>()
    );
}

/// Each round paid once: behind a fixed latency per request, the demo diagnosis takes at most 3
/// dependent rounds where IAM's simulator answers and 4 where it is denied and the role's policy
/// documents are read (GetRole and the policy lists → GetPolicy → GetPolicyVersion).
#[tokio::test]
async fn each_round_is_paid_once_on_both_iam_paths() {
    let demo = demo().await;
    demo.proxy.set_latency(Duration::from_millis(50));
    for (answer, max_rounds) in [(Fault::SimulatorAllows, 3), (Fault::AccessDenied, 4)] {
        demo.proxy.fault("iam:SimulatePrincipalPolicy", answer);
        let run = demo.diagnose().await;
        assert_eq!(run.diagnosis.root_cause.code.code(), "NET_NO_ROUTE");
        assert!(
            run.stats.rounds <= max_rounds,
            "{}: {} rounds: {:#?}",
            answer.name(),
            run.stats.rounds,
            run.stats.records
        );
        let simulated = run.facts.identity.pull_simulation.value().is_some();
        assert_eq!(
            simulated,
            answer == Fault::SimulatorAllows,
            "{:?}",
            run.facts.identity.pull_simulation
        );
    }
}

/// The overall deadline: with every EC2 read hanging, the diagnosis returns at the deadline
/// with what it has. The ECS, ECR and IAM checks are judged; the network checks say the
/// deadline cut them short; the root cause falls back to UNKNOWN for a network message.
#[tokio::test]
async fn deadline_reports_what_it_has() {
    let demo = demo().await;
    for action in DEMO_READS.iter().filter(|a| a.starts_with("ec2:")) {
        demo.proxy
            .fault(action, Fault::Hang(Duration::from_secs(30)));
    }
    // Generous per-read budget, short overall deadline: the deadline is what stops the reads.
    let limits = Limits {
        attempt: Duration::from_secs(20),
        operation: Duration::from_secs(20),
        ..LIMITS
    };
    let config = demo
        .world
        .config
        .to_builder()
        .endpoint_url(demo.proxy.url())
        .build();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    let run = engine::diagnose_with(
        &Clients::with_limits(&config, limits),
        &demo.failure,
        pulldoctor::collect::Options {
            deadline: Some(deadline),
            history: false,
        },
    )
    .await;
    assert!(run.stats.deadline_hit, "{:?}", run.stats);
    let facts: &Facts = &run.facts;
    assert!(
        matches!(&facts.network.subnet, pulldoctor::model::facts::Fact::Unreadable { reason, kind: pulldoctor::model::facts::ErrorKind::Deadline } if reason.starts_with("Deadline: ec2:DescribeSubnets")),
        "{:?}",
        facts.network.subnet
    );
    let d = &run.diagnosis;
    let status = |code: &str| {
        d.findings
            .iter()
            .find(|f| f.code.code() == code)
            .map(|f| f.status)
    };
    assert_eq!(status("ECR_IMAGE_NOT_FOUND"), Some(Status::Pass));
    assert_eq!(status("IAM_EXECUTION_ROLE_TRUST"), Some(Status::Pass));
    let net_unknown: Vec<_> = d
        .findings
        .iter()
        .filter(|f| f.code.code().starts_with("NET_") && f.status == Status::Unknown)
        .collect();
    assert!(!net_unknown.is_empty(), "{d:#?}");
    assert!(
        net_unknown
            .iter()
            .all(|f| serde_json::to_string(f).unwrap().contains("Deadline")),
        "{net_unknown:#?}"
    );
    assert!(d
        .findings
        .iter()
        .all(|f| !(f.code.code().starts_with("NET_") && f.status == Status::Fail)));
    assert_eq!(d.root_cause.code.code(), "UNKNOWN");
}

/// The Lambda handler with every EC2 read denied: the diagnosis is still published (the
/// handler returns Ok, so EventBridge does not retry what cannot improve); with SNS publish
/// failing, the handler returns an error, so the event is retried and finally kept.
#[tokio::test]
async fn handler_publishes_despite_denied_reads_and_fails_when_publishing_fails() {
    let demo = demo().await;
    for action in DEMO_READS.iter().filter(|a| a.starts_with("ec2:")) {
        demo.proxy.fault(action, Fault::AccessDenied);
    }
    let inbox = demo.world.sns_inbox("pulldoctor-alerts").await;
    let config = demo
        .world
        .config
        .to_builder()
        .endpoint_url(demo.proxy.url())
        .build();
    let app = pulldoctor::lambda::App::new(&config, Some(inbox.topic_arn.clone()));
    let event = demo.event.clone();
    let outcome = demo
        .world
        .invoke(&app, event.clone())
        .await
        .expect("a diagnosis with denied reads is not an error");
    assert_eq!(outcome["decision"], "notified", "{outcome}");
    let delivered = demo.world.read_sns_messages(&inbox).await;
    assert_eq!(delivered.len(), 1);
    assert!(
        delivered[0]
            .message
            .contains("AccessDenied: ec2:DescribeRouteTables (grant ec2:DescribeRouteTables"),
        "{}",
        delivered[0].message
    );

    demo.proxy.fault("sns:Publish", Fault::ServerError);
    let err = demo
        .world
        .invoke(&app, event)
        .await
        .expect_err("an unpublished diagnosis must be retried");
    assert!(err.to_string().contains("could not be published"), "{err}");
}

/// A storm in one warm container: the second failure of the same service is answered from the
/// warm cache, with the same diagnosis; what is its own (its task, its deleted ENI) the event
/// carries, so it costs no read at all. A throttled read is not kept, so it is asked again next time.
#[tokio::test]
async fn warm_cache_storm_reads_only_the_new_task() {
    let demo = demo().await;
    let config = demo
        .world
        .config
        .to_builder()
        .endpoint_url(demo.proxy.url())
        .build();
    // moto answers SimulatePrincipalPolicy with a 500 (not implemented), which is never cached;
    // deny it instead, as an account that does not grant it would (a denial is cached).
    demo.proxy
        .fault("iam:SimulatePrincipalPolicy", Fault::AccessDenied);
    // Generous limits: this test is about what the cache keeps, and a read that merely timed out
    // on a busy machine (moto answering after the 1 s fault-test attempt limit) is rightly not kept.
    let patient = Limits {
        attempt: Duration::from_secs(5),
        operation: Duration::from_secs(10),
        ..LIMITS
    };
    let clients =
        Clients::with_limits(&config, patient).with_warm_cache(Duration::from_secs(60), 512);
    let first = engine::diagnose_with(&clients, &demo.failure, Default::default()).await;
    let Intake::PullFailure(next) = intake(&demo.next_event) else {
        panic!()
    };
    demo.proxy.take();
    let second = engine::diagnose_with(&clients, &next, Default::default()).await;
    let asked: BTreeSet<String> = demo.proxy.take().into_iter().map(|s| s.action).collect();
    assert_eq!(asked, BTreeSet::new(), "{:#?}", second.stats.records);
    assert_eq!(second.stats.calls, 0);
    assert!(second.stats.cached >= 15, "{:?}", second.stats.cached);
    assert_eq!(
        second.diagnosis.root_cause.code,
        first.diagnosis.root_cause.code
    );

    // A throttled answer is not cached: with a fresh cache, throttle DescribeVpcs once, then not.
    let clients =
        Clients::with_limits(&config, LIMITS).with_warm_cache(Duration::from_secs(60), 512);
    demo.proxy.clear_faults();
    demo.proxy.fault("ec2:DescribeVpcs", Fault::Throttled);
    let throttled = engine::diagnose_with(&clients, &demo.failure, Default::default()).await;
    assert!(serde_json::to_string(&throttled.facts)
        .unwrap()
        .contains("Throttled: ec2:DescribeVpcs"));
    demo.proxy.clear_faults();
    demo.proxy.take();
    let again = engine::diagnose_with(&clients, &next, Default::default()).await;
    assert!(
        demo.proxy
            .take()
            .iter()
            .any(|s| s.action == "ec2:DescribeVpcs"),
        "the throttled read is asked again"
    );
    assert!(again.facts.network.vpc.value().is_some());
}
