//! What changed before the failure and who else it hits, in moto worlds (history on, as the CLI
//! and the Lambda run by default).

// ───────────────────────────── changes: CloudTrail writes (issue 14 §2) ─────────────────────────
// moto has no LookupEvents: the harness proxy records the writes the world makes through it and
// answers LookupEvents from that record (tests/src/cloudtrail.rs).
mod changes {
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_credential_types::Credentials;
    use pulldoctor::collect::{Clients, Options};
    use pulldoctor::engine::{self, Run};
    use pulldoctor::intake::{intake, Intake, PullFailure};
    use pulldoctor::model::audit::{AuditRecord, Decision};
    use pulldoctor::model::diagnosis::RootCause;
    use pulldoctor::model::history::HistoryStatus;
    use pulldoctor_tests::contracts::{assert_valid, Contract};
    use pulldoctor_tests::{Fault, StoppedTask, WebService};
    use serde_json::json;

    const LOOKUP: &str = "cloudtrail:LookupEvents";

    fn failure(web: &WebService, task: &StoppedTask) -> PullFailure {
        let event = web.io_timeout_event(task);
        let Intake::PullFailure(failure) = intake(&event) else {
            panic!("not a pull failure: {event:#}")
        };
        *failure
    }

    /// Service `web`'s task failed with an I/O timeout after role `platform-deployer` (session
    /// `ci-1234`, assumed through STS) deleted the private route table's route to the NAT gateway.
    struct RouteDeletedByDeployer {
        web: WebService,
        /// The stopped task's failure, at the time of its event (after the delete).
        failure: PullFailure,
    }

    impl RouteDeletedByDeployer {
        async fn build() -> RouteDeletedByDeployer {
            let web = WebService::build().await;
            let task = web.run_stopped_task().await;
            let w = &web.world;
            let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:root", w.account)}, "Action": "sts:AssumeRole"}]});
            let role = w
                .iam
                .create_role()
                .role_name("platform-deployer")
                .assume_role_policy_document(trust.to_string())
                .send()
                .await
                .expect("CreateRole");
            let sts = aws_sdk_sts::Client::new(&w.config);
            let session = sts
                .assume_role()
                .role_arn(role.role.expect("role").arn)
                .role_session_name("ci-1234")
                .send()
                .await
                .expect("AssumeRole");
            let c = session.credentials.expect("credentials");
            let deployer = Credentials::new(
                c.access_key_id,
                c.secret_access_key,
                Some(c.session_token),
                None,
                "platform-deployer",
            );
            let config = w
                .config
                .to_builder()
                .credentials_provider(SharedCredentialsProvider::new(deployer))
                .build();
            aws_sdk_ec2::Client::new(&config)
                .delete_route()
                .route_table_id(&web.net.private_route_table_id)
                .destination_cidr_block("0.0.0.0/0")
                .send()
                .await
                .expect("DeleteRoute as platform-deployer");
            let failure = failure(&web, &task);
            RouteDeletedByDeployer { web, failure }
        }

        async fn diagnose(&self, clients: &Clients, history: bool) -> Run {
            engine::diagnose_with(
                clients,
                &self.failure,
                Options {
                    history,
                    ..Default::default()
                },
            )
            .await
        }

        fn lookups(&self) -> u32 {
            self.web.world.moto.proxy().trail().lookups()
        }
    }

    /// The on-call engineer reads which write removed the route, who made it and when.
    #[tokio::test]
    async fn a_deleted_nat_route_names_the_delete_the_role_session_and_the_time() {
        let world = RouteDeletedByDeployer::build().await;
        let recorded = world.web.world.moto.proxy().trail().events();
        let delete = recorded
            .iter()
            .find(|e| e.name == "DeleteRoute")
            .expect("the proxy recorded DeleteRoute");
        let run = world
            .diagnose(&Clients::new(&world.web.world.config), true)
            .await;
        let d = &run.diagnosis;
        assert_eq!(
            d.root_cause.code,
            RootCause::NetNoRoute,
            "{:#?}",
            d.root_cause
        );
        let changes = d.changes.as_ref().expect("a changes section");
        eprintln!(
            "changes: {}",
            serde_json::to_string_pretty(changes).unwrap()
        );
        assert_eq!(changes.status, HistoryStatus::Found, "{changes:#?}");
        assert_eq!(changes.resources[0], world.web.net.private_route_table_id);
        let first = &changes.events[0];
        assert_eq!(first.event_name, "DeleteRoute");
        assert_eq!(first.actor.as_deref(), Some("platform-deployer/ci-1234"));
        assert_eq!(
            first.time,
            delete
                .time
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        assert_eq!(first.event_id, delete.id);
        assert_eq!(first.resource, world.web.net.private_route_table_id);
        assert_eq!(first.source_ip.as_deref(), Some("127.0.0.1"));
        assert!(first.likely_cause, "{first:#?}");
        // The writes that built the route table (CreateRoute to the NAT, …) come after it, not as causes.
        assert_eq!(
            changes.events.iter().filter(|e| e.likely_cause).count(),
            1,
            "{changes:#?}"
        );
        assert!(
            changes
                .events
                .iter()
                .any(|e| e.event_name == "CreateRoute" && e.actor.as_deref() == Some("root")),
            "{changes:#?}"
        );

        let report = pulldoctor::report::text(d);
        assert!(
            report.contains("DeleteRoute") && report.contains("platform-deployer/ci-1234"),
            "{report}"
        );
        let json = serde_json::to_value(d).unwrap();
        assert_valid(Contract::Diagnosis, &json);
        let audit = AuditRecord::new(Decision::Diagnosed).with_diagnosis(d);
        let line = pulldoctor::report::audit::emf(&audit, chrono::Utc::now().timestamp_millis());
        assert_eq!(
            line["change_event_ids"][0],
            json!(delete.id),
            "the audit line joins the failure to the write"
        );
        assert_valid(Contract::Audit, &line);
        let stats = run.history_stats.expect("history ran");
        // CloudTrail's own budget (the deploy and blast-radius reads run beside it).
        let lookups: Vec<_> = stats
            .records
            .iter()
            .filter(|r| r.action == LOOKUP)
            .cloned()
            .collect();
        let rounds = pulldoctor::collect::dependent_rounds(&lookups);
        assert!(
            (1..=5).contains(&lookups.len()) && rounds <= 2,
            "{stats:#?}"
        );
    }

    /// CloudTrail throttled or denied: the same diagnosis as with history off, and the changes
    /// section says unknown and what to grant.
    #[tokio::test]
    async fn lookup_events_throttled_or_denied_leaves_the_diagnosis_unchanged() {
        let world = RouteDeletedByDeployer::build().await;
        let clients = Clients::new(&world.web.world.config);
        let off = world.diagnose(&clients, false).await.diagnosis;
        assert_eq!(off.changes, None, "history off: no section");
        for fault in [Fault::Throttled, Fault::AccessDenied] {
            let proxy = world.web.world.moto.proxy();
            proxy.clear_faults();
            proxy.fault(LOOKUP, fault);
            proxy.take();
            let d = world.diagnose(&clients, true).await.diagnosis;
            let faulted = proxy
                .take()
                .iter()
                .filter(|s| s.action == LOOKUP && s.faulted)
                .count();
            assert!(faulted >= 1, "{}: LookupEvents was asked", fault.name());
            assert_eq!(
                (&d.root_cause, &d.findings, &d.failure, &d.task),
                (&off.root_cause, &off.findings, &off.failure, &off.task),
                "{}",
                fault.name()
            );
            let changes = d.changes.as_ref().expect("a changes section");
            assert_eq!(
                changes.status,
                HistoryStatus::Unknown,
                "{}: {changes:#?}",
                fault.name()
            );
            assert!(changes.events.is_empty());
            let reason = changes.reason.as_deref().unwrap_or_default();
            assert!(
                reason.contains("grant") && reason.contains(LOOKUP),
                "{}: {reason}",
                fault.name()
            );
            assert_valid(Contract::Diagnosis, &serde_json::to_value(&d).unwrap());
        }
        world.web.world.moto.proxy().clear_faults();
    }

    /// CloudTrail throttles a warm container: the storm's next failures do not ask again (they
    /// would only take more of the account's 2 requests per second), and say why.
    #[tokio::test]
    async fn a_throttled_warm_container_backs_off_cloudtrail() {
        let world = RouteDeletedByDeployer::build().await;
        let clients = Clients::new(&world.web.world.config).with_lambda_cache();
        let proxy = world.web.world.moto.proxy();
        proxy.fault(LOOKUP, Fault::Throttled);
        proxy.take();
        let first = world.diagnose(&clients, true).await.diagnosis;
        assert_eq!(
            first.changes.as_ref().map(|c| c.status),
            Some(HistoryStatus::Unknown)
        );
        let asked = proxy.take().iter().filter(|s| s.action == LOOKUP).count();
        assert!(asked >= 1, "the first failure asked CloudTrail");
        proxy.clear_faults();
        for _ in 0..3 {
            let next = failure(&world.web, &world.web.stopped_task());
            let d = engine::diagnose_with(
                &clients,
                &next,
                Options {
                    history: true,
                    ..Default::default()
                },
            )
            .await
            .diagnosis;
            let changes = d.changes.as_ref().expect("a changes section");
            assert_eq!(changes.status, HistoryStatus::Unknown, "{changes:#?}");
            assert!(
                changes
                    .reason
                    .as_deref()
                    .unwrap_or_default()
                    .contains("not asked again"),
                "{changes:#?}"
            );
        }
        assert_eq!(
            proxy.take().iter().filter(|s| s.action == LOOKUP).count(),
            0,
            "no LookupEvents while backing off"
        );
    }

    /// A storm in a warm Lambda container: the second failure's diagnosis asks CloudTrail nothing.
    #[tokio::test]
    async fn a_second_failure_in_a_warm_container_asks_cloudtrail_nothing() {
        let world = RouteDeletedByDeployer::build().await;
        let clients = Clients::new(&world.web.world.config).with_lambda_cache();
        let first = world.diagnose(&clients, true).await;
        let asked = world.lookups();
        assert!(asked >= 1, "the first diagnosis looked CloudTrail up");
        let mut next = failure(&world.web, &world.web.stopped_task());
        // A storm's failures share the window's 5-minute step; the same time keeps this test off
        // a step boundary.
        next.time = world.failure.time;
        let second = engine::diagnose_with(
            &clients,
            &next,
            Options {
                history: true,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(world.lookups(), asked, "no new LookupEvents call");
        assert_eq!(
            second.diagnosis.changes, first.diagnosis.changes,
            "the same writes, from the cache"
        );
        assert_eq!(
            second
                .history_stats
                .expect("history ran")
                .records
                .iter()
                .filter(|r| r.action == LOOKUP && r.outcome.as_str() == "cached")
                .count(),
            asked as usize
        );
    }
}
