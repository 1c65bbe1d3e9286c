//! The other services that share the resource the root cause names, and why each is at risk on
//! its next task start or deploy.

use crate::model::arn::{account, cluster_name, role_name};
use crate::model::diagnosis::Diagnosis;
use crate::model::facts::{
    architecture, image_label, service_name, BlastRadiusFacts, Fact, Facts, ServiceFacts, Shared,
};
use crate::model::history::{AtRisk, BlastRadius, HistoryStatus};
use crate::model::image_ref::{ImageRef, RegistryKind};

/// Services listed by name; the rest are counted.
pub const LISTED: usize = 10;

/// `None` when nothing was looked up, or the root cause shares nothing with other services.
pub fn summarize(facts: &Facts, diagnosis: &Diagnosis) -> Option<BlastRadius> {
    let shared = Shared::of(facts, diagnosis)?;
    match &facts.history.blast_radius {
        Fact::Found { value } => Some(at_risk(value, facts)),
        Fact::Unreadable { reason, .. } => Some(BlastRadius {
            status: HistoryStatus::Unknown,
            reason: Some(reason.clone()),
            shared: shared.labels(),
            total: 0,
            services: vec![],
            complete: false,
            clusters_examined: 0,
        }),
        Fact::NotFound { .. } | Fact::NotCollected { .. } => None,
    }
}

/// Why a service is at risk: `Ok(None)` when it does not share the resource, `Err` when that
/// could not be told (its task definition was not read).
fn why(shared: &Shared, svc: &ServiceFacts) -> Result<Option<String>, String> {
    let among = |mine: &[String], broken: &[String]| -> Vec<String> {
        mine.iter()
            .filter(|s| broken.contains(s))
            .cloned()
            .collect()
    };
    let definition = || match &svc.definition {
        Fact::Found { value } => Ok(value),
        other => Err(format!(
            "the task definition of service {} could not be read ({})",
            svc.name,
            other.gap().unwrap_or("not read")
        )),
    };
    Ok(match shared {
        Shared::Subnets {
            subnets,
            without_public_ip,
        } => {
            let hit = among(&svc.subnets, subnets);
            if hit.is_empty() || (*without_public_ip && svc.assign_public_ip == Some(true)) {
                None
            } else if *without_public_ip {
                Some(format!("runs in {} without a public IP", hit.join(", ")))
            } else {
                Some(format!("runs in {}", hit.join(", ")))
            }
        }
        Shared::SecurityGroups { security_groups } => {
            let hit = among(&svc.security_groups, security_groups);
            (!hit.is_empty()).then(|| format!("uses security group {}", hit.join(", ")))
        }
        Shared::Vpc { vpc, subnets } => {
            let hit = among(&svc.subnets, subnets);
            (!hit.is_empty()).then(|| format!("runs in {vpc} ({})", hit.join(", ")))
        }
        Shared::ExecutionRole { arn } => {
            let def = definition()?;
            def.execution_role_arn
                .as_deref()
                .filter(|theirs| same_role(theirs, arn))
                .map(|_| format!("uses execution role {}", role_name(arn)))
        }
        Shared::InstanceRole { arn, cluster } => {
            if cluster_name(&svc.cluster) != cluster_name(cluster) || !svc.on_ec2_capacity() {
                return Ok(None);
            }
            let def = definition()?;
            let pulls_ecr = def.images.iter().any(|i| {
                ImageRef::parse(i).is_ok_and(|r| matches!(r.kind, RegistryKind::Ecr { .. }))
            });
            (def.execution_role_arn.is_none() && pulls_ecr)
                .then(|| format!("runs on the cluster's EC2 capacity without an execution role: pulls with instance role {}", role_name(arn)))
        }
        Shared::Image {
            repository,
            reference,
            cpu_architecture,
        } => {
            let def = definition()?;
            if cpu_architecture
                .as_ref()
                .is_some_and(|a| *a != architecture(def.cpu_architecture.as_deref()))
            {
                return Ok(None);
            }
            def.images
                .iter()
                .filter_map(|i| ImageRef::parse(i).ok())
                .find(|i| {
                    i.name() == *repository
                        && reference.as_deref().is_none_or(|r| i.reference() == r)
                })
                .map(|i| format!("pulls repository {}", image_label(&i.name(), i.reference())))
        }
    })
}

/// The same role: equal ARNs, or the same name in the same account (a task definition may give
/// the role's name, or an ARN with a path).
fn same_role(a: &str, b: &str) -> bool {
    a == b
        || (role_name(a) == role_name(b)
            && (account(a).is_none() || account(b).is_none() || account(a) == account(b)))
}

fn at_risk(facts: &BlastRadiusFacts, task: &Facts) -> BlastRadius {
    let failing = (
        task.task.cluster_arn.as_deref().map(cluster_name),
        service_name(&task.task),
    );
    let mut services: Vec<&ServiceFacts> = facts
        .services
        .iter()
        .filter(|s| (Some(cluster_name(&s.cluster)), Some(s.name.as_str())) != failing)
        // A draining or inactive service starts no more tasks.
        .filter(|s| s.status.as_deref().is_none_or(|st| st == "ACTIVE"))
        .collect();
    services.sort_by(|a, b| {
        (cluster_name(&a.cluster), &a.name).cmp(&(cluster_name(&b.cluster), &b.name))
    });
    let mut hit = vec![];
    let mut unjudged = vec![];
    for svc in services {
        match why(&facts.shared, svc) {
            Ok(Some(why)) => hit.push(AtRisk {
                service: svc.name.clone(),
                cluster: cluster_name(&svc.cluster).to_string(),
                why,
            }),
            Ok(None) => {}
            Err(gap) => unjudged.push(gap),
        }
    }
    let gaps: Vec<String> = facts.bounded.iter().cloned().chain(unjudged).collect();
    BlastRadius {
        status: HistoryStatus::Found,
        reason: (!gaps.is_empty()).then(|| gaps.join("; ")),
        shared: facts.shared.labels(),
        total: hit.len() as u32,
        services: hit.into_iter().take(LISTED).collect(),
        complete: gaps.is_empty(),
        clusters_examined: facts.clusters_examined.len() as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::iam::identity_fixtures::{world, CLUSTER};
    use crate::model::diagnosis::{Finding, RootCause, Status};
    use crate::model::facts::{
        EniFacts, ErrorKind, RoleFacts, RouteTableFacts, ServiceDefinitionFacts,
    };

    const ROLE: &str = "arn:aws:iam::111122223333:role/ecsTaskExecutionRole";
    const REGISTRY: &str = "111122223333.dkr.ecr.us-east-1.amazonaws.com";

    fn image(tag: &str) -> String {
        format!("{REGISTRY}/team/web:{tag}")
    }

    /// A failing task of service `web` in cluster `prod`, subnet-a, security group sg-1.
    fn failing() -> Facts {
        let mut f = world();
        f.task.group = Some("service:web".into());
        f.task.cluster_arn = Some(CLUSTER.into());
        f.network.subnet_id = Some("subnet-a".into());
        f.network.route_table = Fact::found(RouteTableFacts {
            id: "rtb-1".into(),
            explicit: true,
            subnet_ids: vec!["subnet-a".into()],
            ..Default::default()
        });
        f.network.task_eni = Fact::found(EniFacts {
            id: "eni-1".into(),
            security_groups: vec!["sg-1".into()],
            ..Default::default()
        });
        f.failure.image = Some(image("2.4.2"));
        f.failure.image_ref = ImageRef::parse(&image("2.4.2")).ok();
        if let Fact::Found { value } = &mut f.task_definition {
            value.execution_role_arn = Some(ROLE.into());
        }
        f
    }

    fn diagnosis(f: &Facts, code: RootCause, resource: Option<&str>) -> Diagnosis {
        let mut d = crate::judge::judge(f);
        d.root_cause.code = code;
        let mut finding = Finding::fail(code, "broken");
        finding.resource = resource.map(str::to_string);
        d.findings.insert(0, finding);
        d
    }

    fn service(
        cluster: &str,
        name: &str,
        subnets: &[&str],
        groups: &[&str],
        role: Option<&str>,
        images: &[String],
    ) -> ServiceFacts {
        ServiceFacts {
            cluster: format!("arn:aws:ecs:us-east-1:111122223333:cluster/{cluster}"),
            name: name.into(),
            status: Some("ACTIVE".into()),
            launch_type: Some("FARGATE".into()),
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            security_groups: groups.iter().map(|s| s.to_string()).collect(),
            assign_public_ip: Some(false),
            task_definition: Some(format!("{name}:1")),
            definition: Fact::found(ServiceDefinitionFacts {
                execution_role_arn: role.map(str::to_string),
                images: images.to_vec(),
                cpu_architecture: None,
            }),
            ..Default::default()
        }
    }

    fn looked_up(
        mut f: Facts,
        d: &Diagnosis,
        services: Vec<ServiceFacts>,
        bounded: &[&str],
    ) -> Option<BlastRadius> {
        let shared = Shared::of(&f, d).map(|s| match s {
            Shared::Vpc { vpc, .. } => Shared::Vpc {
                vpc,
                subnets: vec!["subnet-a".into(), "subnet-b".into()],
            },
            other => other,
        });
        f.history.looked_up = true;
        f.history.blast_radius = match shared {
            Some(shared) => Fact::found(BlastRadiusFacts {
                shared,
                services,
                clusters_examined: vec![CLUSTER.into()],
                bounded: bounded.iter().map(|s| s.to_string()).collect(),
            }),
            None => Fact::NotCollected {
                reason: "shares nothing".into(),
            },
        };
        summarize(&f, d)
    }

    fn names(b: &BlastRadius) -> Vec<(String, String)> {
        b.services
            .iter()
            .map(|s| (s.service.clone(), s.why.clone()))
            .collect()
    }

    /// Each kind of root cause names the services that share its resource, and why.
    #[test]
    #[allow(clippy::type_complexity)] // a table test: one tuple per case reads best
    fn who_shares_the_broken_resource() {
        let other_role = "arn:aws:iam::111122223333:role/other";
        let services = || {
            vec![
                service(
                    "prod",
                    "web",
                    &["subnet-a"],
                    &["sg-1"],
                    Some(ROLE),
                    &[image("2.4.2")],
                ),
                service(
                    "prod",
                    "api",
                    &["subnet-a", "subnet-c"],
                    &["sg-2"],
                    Some(ROLE),
                    &[image("2.4.1")],
                ),
                service(
                    "prod",
                    "worker",
                    &["subnet-c"],
                    &["sg-1"],
                    Some(other_role),
                    &[image("2.4.2")],
                ),
                service(
                    "prod",
                    "cron",
                    &["subnet-c"],
                    &["sg-3"],
                    Some(other_role),
                    &[format!("{REGISTRY}/team/cron:1")],
                ),
            ]
        };
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        // (case, code, finding resource, shared, services at risk)
        let cases: Vec<(
            &str,
            RootCause,
            Option<&str>,
            Vec<&str>,
            Vec<(String, String)>,
        )> = vec![
            (
                "route: per subnet",
                RootCause::NetNoRoute,
                Some("subnet-a"),
                vec!["subnet subnet-a"],
                vec![s("api", "runs in subnet-a")],
            ),
            (
                "egress: per security group",
                RootCause::NetTaskSgEgress,
                Some("sg-1"),
                vec!["security group sg-1"],
                vec![s("worker", "uses security group sg-1")],
            ),
            (
                "DNS: per VPC",
                RootCause::NetDns,
                None,
                vec!["VPC vpc-1"],
                vec![s("api", "runs in vpc-1 (subnet-a)")],
            ),
            (
                "execution role",
                RootCause::IamExecutionRolePermissions,
                None,
                vec!["execution role ecsTaskExecutionRole"],
                vec![s("api", "uses execution role ecsTaskExecutionRole")],
            ),
            (
                "missing tag: the same repository:tag",
                RootCause::EcrImageNotFound,
                None,
                vec!["image team/web:2.4.2"],
                vec![s("worker", "pulls repository team/web:2.4.2")],
            ),
            (
                "repository: any tag of it",
                RootCause::EcrRepositoryPolicy,
                None,
                vec!["repository team/web"],
                vec![
                    s("api", "pulls repository team/web:2.4.1"),
                    s("worker", "pulls repository team/web:2.4.2"),
                ],
            ),
        ];
        for (case, code, resource, shared, expected) in cases {
            let mut f = failing();
            f.network.subnet = Fact::found(crate::model::facts::SubnetFacts {
                id: "subnet-a".into(),
                vpc_id: Some("vpc-1".into()),
                ..Default::default()
            });
            let d = diagnosis(&f, code, resource);
            let b =
                looked_up(f, &d, services(), &[]).unwrap_or_else(|| panic!("{case}: no section"));
            assert_eq!(b.status, HistoryStatus::Found, "{case}");
            assert_eq!(b.shared, shared, "{case}");
            assert_eq!(
                names(&b),
                expected,
                "{case}: web, the failing service, is never listed"
            );
            assert_eq!(b.total as usize, expected.len(), "{case}");
            assert!(b.complete, "{case}");
            assert_eq!(b.clusters_examined, 1, "{case}");
        }
    }

    #[test]
    fn a_public_subnet_without_a_public_ip_hits_only_services_without_one() {
        let f = failing();
        let d = diagnosis(&f, RootCause::NetNoPublicIp, Some("subnet-a"));
        let mut public = service("prod", "public", &["subnet-a"], &["sg-9"], None, &[]);
        public.assign_public_ip = Some(true);
        let private = service("prod", "private", &["subnet-a"], &["sg-9"], None, &[]);
        let b = looked_up(f, &d, vec![public, private], &[]).unwrap();
        assert_eq!(
            names(&b),
            [(
                "private".to_string(),
                "runs in subnet-a without a public IP".to_string()
            )]
        );
    }

    #[test]
    fn the_instance_role_hits_services_on_the_clusters_ec2_capacity_without_an_execution_role() {
        let mut f = failing();
        f.identity.instance_role = Fact::found(RoleFacts {
            arn: "arn:aws:iam::111122223333:role/ecsInstanceRole".into(),
            name: "ecsInstanceRole".into(),
            ..Default::default()
        });
        let d = diagnosis(&f, RootCause::IamInstanceRolePermissions, None);
        let ec2 = |name: &str, role: Option<&str>| {
            let mut s = service("prod", name, &[], &[], role, &[image("1")]);
            s.launch_type = Some("EC2".into());
            s
        };
        let fargate = service("prod", "fargate", &[], &[], None, &[image("1")]);
        let mut elsewhere = ec2("elsewhere", None);
        elsewhere.cluster = "arn:aws:ecs:us-east-1:111122223333:cluster/staging".into();
        let b = looked_up(
            f,
            &d,
            vec![
                ec2("bare", None),
                ec2("with-role", Some(ROLE)),
                fargate,
                elsewhere,
            ],
            &[],
        )
        .unwrap();
        assert_eq!(b.shared, ["instance role ecsInstanceRole"]);
        assert_eq!(
            names(&b)
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
            ["bare"]
        );
    }

    #[test]
    fn ten_are_listed_and_all_are_counted_sorted_by_cluster_then_name() {
        let f = failing();
        let d = diagnosis(&f, RootCause::NetNoRoute, Some("subnet-a"));
        let mut services: Vec<ServiceFacts> = (0..12)
            .map(|i| service("prod", &format!("svc{i:02}"), &["subnet-a"], &[], None, &[]))
            .collect();
        services.push(service("alpha", "zz", &["subnet-a"], &[], None, &[]));
        services.reverse();
        let b = looked_up(f, &d, services, &[]).unwrap();
        assert_eq!(b.total, 13);
        assert_eq!(b.services.len(), 10);
        assert_eq!(
            (
                b.services[0].cluster.as_str(),
                b.services[0].service.as_str()
            ),
            ("alpha", "zz")
        );
        assert_eq!(b.services[1].service, "svc00");
        assert_eq!(b.services[9].service, "svc08");
    }

    #[test]
    fn a_bounded_look_or_an_unread_definition_is_not_complete() {
        let f = failing();
        let d = diagnosis(&f, RootCause::NetNoRoute, Some("subnet-a"));
        let bounded = "other clusters of the account were not examined (the look is bounded to about 10 calls)";
        let b = looked_up(
            f.clone(),
            &d,
            vec![service("prod", "api", &["subnet-a"], &[], None, &[])],
            &[bounded],
        )
        .unwrap();
        assert!(!b.complete);
        assert_eq!(b.reason.as_deref(), Some(bounded));
        assert_eq!(b.total, 1);

        let d = diagnosis(&f, RootCause::IamExecutionRoleTrust, None);
        let mut api = service("prod", "api", &[], &[], Some(ROLE), &[]);
        api.definition = Fact::Unreadable {
            reason: "AccessDenied: ecs:DescribeTaskDefinition (grant …)".into(),
            kind: ErrorKind::AccessDenied,
        };
        let b = looked_up(f, &d, vec![api], &[]).unwrap();
        assert!(!b.complete);
        assert_eq!(b.total, 0);
        assert!(b
            .reason
            .unwrap()
            .contains("the task definition of service api could not be read (AccessDenied"));
    }

    #[test]
    fn unreadable_is_unknown_with_the_action_and_nothing_shared_is_no_section() {
        let mut f = failing();
        let d = diagnosis(&f, RootCause::NetNoRoute, Some("subnet-a"));
        f.history.looked_up = true;
        f.history.blast_radius = Fact::Unreadable {
            reason: "AccessDenied: ecs:ListServices (grant ecs:ListServices to pulldoctor's role)"
                .into(),
            kind: ErrorKind::AccessDenied,
        };
        let b = summarize(&f, &d).unwrap();
        assert_eq!(b.status, HistoryStatus::Unknown);
        assert_eq!(b.shared, ["subnet subnet-a"]);
        assert!(b.reason.unwrap().contains("grant ecs:ListServices"));

        for code in [
            RootCause::RegistryRateLimit,
            RootCause::Unknown,
            RootCause::StorageEphemeral,
        ] {
            let d = diagnosis(&f, code, None);
            assert_eq!(summarize(&f, &d), None, "{code}");
        }
        // History off: nothing looked up.
        let f = failing();
        assert_eq!(
            summarize(&f, &diagnosis(&f, RootCause::NetNoRoute, Some("subnet-a"))),
            None
        );
    }

    #[test]
    fn a_platform_mismatch_hits_only_the_same_architecture() {
        let f = failing();
        let d = diagnosis(&f, RootCause::ImagePlatformMismatch, None);
        let same = service("prod", "same", &[], &[], None, &[image("2.4.2")]);
        let mut arm = service("prod", "arm", &[], &[], None, &[image("2.4.2")]);
        if let Fact::Found { value } = &mut arm.definition {
            value.cpu_architecture = Some("ARM64".into());
        }
        let b = looked_up(f, &d, vec![same, arm], &[]).unwrap();
        assert_eq!(
            names(&b)
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
            ["same"]
        );
        let _ = Status::Fail;
    }
}
