//! The other services that share the resource the root cause names: the services of the task's
//! cluster (`ecs:ListServices`, one page of 100; `ecs:DescribeServices` in batches of 10) and,
//! for identity and image causes, their task definitions (`ecs:DescribeTaskDefinition`). Other
//! clusters of the account (`ecs:ListClusters`) only while the whole look stays within about
//! [`CALL_BUDGET`] reads; past it, the facts say the look was bounded. Every read is shared, so a
//! warm container answers a storm of failures from its cache.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::Filter;
use aws_sdk_ecs::types::{AssignPublicIp, Service};

use super::{CallLog, Clients};
use crate::model::arn::cluster_name;
use crate::model::diagnosis::Diagnosis;
use crate::model::facts::{
    BlastRadiusFacts, ErrorKind, Fact, Facts, ServiceDefinitionFacts, ServiceFacts, Shared,
};

/// About how many reads the look may cost before it stops at the task's own cluster.
pub const CALL_BUDGET: usize = 10;
/// `ListServices` page size (the API's maximum); one page per cluster.
const PAGE: i32 = 100;
/// `DescribeServices` takes at most 10 services.
const BATCH: usize = 10;
/// Distinct task definitions read for one look.
const MAX_DEFINITIONS: usize = 20;

type Gap = (String, ErrorKind);

pub(super) async fn read(
    clients: &Clients,
    log: &CallLog,
    facts: &Facts,
    diagnosis: &Diagnosis,
) -> Fact<BlastRadiusFacts> {
    let Some(cluster) = facts.task.cluster_arn.clone() else {
        return Fact::NotCollected {
            reason: "not an ECS task".into(),
        };
    };
    let Some(shared) = Shared::of(facts, diagnosis) else {
        return Fact::NotCollected {
            reason: format!(
                "{} shares no resource with other services",
                diagnosis.root_cause.code
            ),
        };
    };
    let own = service_of(facts);
    // The account's clusters are listed beside the task's own cluster (one round fewer; one
    // read spent even when the own cluster fills the budget). The instance role is the capacity
    // of the task's own cluster: other clusters' instances have their own (reading them costs a
    // read per container instance).
    let other_clusters = !matches!(shared, Shared::InstanceRole { .. });
    let (shared, services, clusters) = tokio::join!(
        Box::pin(resolve(clients, log, shared)),
        Box::pin(read_cluster(clients, log, &cluster)),
        Box::pin(async {
            if other_clusters {
                Some(list_clusters(clients, log).await)
            } else {
                None
            }
        }),
    );
    let mut look = match (shared, services) {
        (Ok(shared), Ok((services, listed_all))) => Look {
            spent: 1
                + services.len().div_ceil(BATCH)
                + usize::from(matches!(shared, Shared::Vpc { .. })),
            bounded: if listed_all {
                vec![]
            } else {
                vec![format!(
                    "cluster {} has more than {PAGE} services: the first {PAGE} were read",
                    cluster_name(&cluster)
                )]
            },
            facts: BlastRadiusFacts {
                shared,
                services,
                clusters_examined: vec![cluster.clone()],
                bounded: vec![],
            },
            definitions: BTreeMap::new(),
        },
        (Err((reason, kind)), _) | (_, Err((reason, kind))) => {
            return Fact::Unreadable { reason, kind }
        }
    };
    look.read_definitions(clients, log, &own).await;
    if let Some(listed) = clusters {
        look.spent += 1;
        look.other_clusters(clients, log, listed, &cluster, &own)
            .await;
    }
    let Look {
        mut facts, bounded, ..
    } = look;
    facts.bounded = bounded;
    Fact::found(facts)
}

/// The account's clusters (one page) and whether that was all of them.
async fn list_clusters(clients: &Clients, log: &CallLog) -> Fact<(Vec<String>, bool)> {
    shared!(
        log,
        "ecs:ListClusters",
        &[],
        clients.ecs.list_clusters().max_results(PAGE),
        |out| Fact::found((out.cluster_arns().to_vec(), out.next_token().is_none())),
    )
    .await
}

/// The failing task's `(cluster, service)`: its task definition is already read.
fn service_of(facts: &Facts) -> Option<(String, String)> {
    let cluster = facts.task.cluster_arn.as_deref()?;
    let service = crate::model::facts::service_name(&facts.task)?;
    Some((cluster_name(cluster).to_string(), service.to_string()))
}

/// A VPC-wide cause needs the VPC's subnets (one `ec2:DescribeSubnets` by `vpc-id`).
async fn resolve(clients: &Clients, log: &CallLog, shared: Shared) -> Result<Shared, Gap> {
    let Shared::Vpc { vpc, .. } = shared else {
        return Ok(shared);
    };
    let subnets = shared!(
        log,
        "ec2:DescribeSubnets",
        &[],
        clients
            .ec2
            .describe_subnets()
            .filters(Filter::builder().name("vpc-id").values(&vpc).build()),
        |out| Fact::found(
            out.subnets()
                .iter()
                .filter_map(|s| s.subnet_id().map(str::to_string))
                .collect::<Vec<_>>()
        ),
    )
    .await;
    match subnets {
        Fact::Found { value } => Ok(Shared::Vpc {
            vpc,
            subnets: value,
        }),
        other => Err(gap(other)),
    }
}

fn gap<T>(fact: Fact<T>) -> Gap {
    match fact {
        Fact::Unreadable { reason, kind } => (reason, kind),
        other => (
            other.gap().unwrap_or("not read").to_string(),
            ErrorKind::Other,
        ),
    }
}

/// One page of the cluster's services, described in batches of 10 at once. `true`: that was all.
async fn read_cluster(
    clients: &Clients,
    log: &CallLog,
    cluster: &str,
) -> Result<(Vec<ServiceFacts>, bool), Gap> {
    let (arns, listed_all) = list_services(clients, log, cluster).await?;
    let services = describe_services(clients, log, cluster, &arns).await?;
    Ok((services, listed_all))
}

async fn list_services(
    clients: &Clients,
    log: &CallLog,
    cluster: &str,
) -> Result<(Vec<String>, bool), Gap> {
    let listed = shared!(
        log,
        "ecs:ListServices",
        &["ClusterNotFoundException"],
        clients
            .ecs
            .list_services()
            .cluster(cluster)
            .max_results(PAGE),
        |out| Fact::found((out.service_arns().to_vec(), out.next_token().is_none())),
    )
    .await;
    match listed {
        Fact::Found { value } => Ok(value),
        Fact::NotFound { .. } => Ok((vec![], true)),
        other => Err(gap(other)),
    }
}

async fn describe_services(
    clients: &Clients,
    log: &CallLog,
    cluster: &str,
    arns: &[String],
) -> Result<Vec<ServiceFacts>, Gap> {
    let batches = arns.chunks(BATCH).map(|batch| {
        Box::pin(shared!(
            log,
            "ecs:DescribeServices",
            &["ClusterNotFoundException"],
            clients
                .ecs
                .describe_services()
                .cluster(cluster)
                .set_services(Some(batch.to_vec())),
            |out| Fact::found(
                out.services()
                    .iter()
                    .map(|s| service_facts(cluster, s))
                    .collect::<Vec<_>>()
            ),
        ))
    });
    let mut services = vec![];
    for batch in futures_util::future::join_all(batches).await {
        match batch {
            Fact::Found { value } => services.extend(value),
            Fact::NotFound { .. } => {}
            other => return Err(gap(other)),
        }
    }
    services.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(services)
}

fn service_facts(cluster: &str, s: &Service) -> ServiceFacts {
    let awsvpc = s
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration());
    ServiceFacts {
        cluster: s.cluster_arn().unwrap_or(cluster).to_string(),
        name: s.service_name().unwrap_or_default().to_string(),
        status: s.status().map(str::to_string),
        launch_type: s.launch_type().map(|l| l.as_str().to_string()),
        capacity_providers: s
            .capacity_provider_strategy()
            .iter()
            .map(|c| c.capacity_provider().to_string())
            .collect(),
        subnets: awsvpc.map(|a| a.subnets().to_vec()).unwrap_or_default(),
        security_groups: awsvpc
            .map(|a| a.security_groups().to_vec())
            .unwrap_or_default(),
        assign_public_ip: awsvpc
            .and_then(|a| a.assign_public_ip())
            .map(|p| *p == AssignPublicIp::Enabled),
        task_definition: s.task_definition().map(str::to_string),
        definition: Fact::NotCollected {
            reason: "not needed for this root cause".into(),
        },
    }
}

/// The look so far: what it found, what it cost, and why it stopped short.
struct Look {
    facts: BlastRadiusFacts,
    /// Reads made (cache hits included, so a storm bounds the look the same way).
    spent: usize,
    bounded: Vec<String>,
    definitions: BTreeMap<String, Fact<ServiceDefinitionFacts>>,
}

impl Look {
    /// The task definitions of the services read so far that need one (the failing service's
    /// is already known), at most [`MAX_DEFINITIONS`] in all.
    async fn read_definitions(
        &mut self,
        clients: &Clients,
        log: &CallLog,
        own: &Option<(String, String)>,
    ) {
        if !self.facts.shared.needs_definitions() {
            return;
        }
        let mut read: Vec<String> = self.new_definitions(own).into_iter().collect();
        let room = MAX_DEFINITIONS.saturating_sub(self.definitions.len());
        let skipped = if read.len() > room {
            read.split_off(room)
        } else {
            vec![]
        };
        if !skipped.is_empty() {
            self.bounded.push(format!(
                "{} task definitions were not read (at most {MAX_DEFINITIONS} per look)",
                skipped.len()
            ));
        }
        self.spent += read.len();
        let answers = futures_util::future::join_all(
            read.iter()
                .map(|td| Box::pin(super::ecs::read_task_definition(clients, log, Some(td)))),
        )
        .await;
        for (td, answer) in read.into_iter().zip(answers) {
            let definition = answer.map(|t| ServiceDefinitionFacts {
                execution_role_arn: t.execution_role_arn.clone(),
                images: t
                    .containers
                    .iter()
                    .filter_map(|c| c.image.clone())
                    .collect(),
                cpu_architecture: t.cpu_architecture.clone(),
            });
            self.definitions.insert(td, definition);
        }
        for s in self.facts.services.iter_mut().filter(|s| !is_own(own, s)) {
            if let Some(d) = s
                .task_definition
                .as_ref()
                .and_then(|td| self.definitions.get(td))
            {
                s.definition = d.clone();
            } else if s.task_definition.is_some() {
                s.definition = Fact::NotCollected {
                    reason: format!(
                        "past the bound of {MAX_DEFINITIONS} task definitions per look"
                    ),
                };
            }
        }
    }

    /// The task definitions of the services so far not read yet (the failing service's is known).
    fn new_definitions(&self, own: &Option<(String, String)>) -> BTreeSet<String> {
        if !self.facts.shared.needs_definitions() {
            return BTreeSet::new();
        }
        self.facts
            .services
            .iter()
            .filter(|s| !is_own(own, s))
            .filter_map(|s| s.task_definition.clone())
            .filter(|td| !self.definitions.contains_key(td))
            .collect()
    }

    /// The other clusters of the account, while the look stays within [`CALL_BUDGET`] reads.
    async fn other_clusters(
        &mut self,
        clients: &Clients,
        log: &CallLog,
        listed: Fact<(Vec<String>, bool)>,
        own_cluster: &str,
        own: &Option<(String, String)>,
    ) {
        const NOT_EXAMINED: &str = "other clusters of the account were not examined";
        // At least ListServices and one DescribeServices for one other cluster.
        if self.spent + 2 > CALL_BUDGET {
            self.bounded.push(format!(
                "{NOT_EXAMINED} (the look is bounded to about {CALL_BUDGET} reads)"
            ));
            return;
        }
        let (mut clusters, listed_all) = match listed {
            Fact::Found { value } => value,
            other => {
                self.bounded.push(format!(
                    "{NOT_EXAMINED} ({})",
                    other.gap().unwrap_or("not read")
                ));
                return;
            }
        };
        if !listed_all {
            self.bounded.push(format!(
                "the account has more than {PAGE} clusters: only the first {PAGE} were considered"
            ));
        }
        clusters.retain(|c| cluster_name(c) != cluster_name(own_cluster));
        clusters.sort();
        let mut skipped = vec![];
        for cluster in clusters {
            if self.spent + 2 > CALL_BUDGET {
                skipped.push(cluster_name(&cluster).to_string());
                continue;
            }
            self.spent += 1;
            let arns = match list_services(clients, log, &cluster).await {
                Ok((arns, true)) => arns,
                Ok((_, false)) => {
                    skipped.push(cluster_name(&cluster).to_string());
                    continue;
                }
                Err((reason, _)) => {
                    self.bounded.push(format!(
                        "cluster {} was not examined ({reason})",
                        cluster_name(&cluster)
                    ));
                    continue;
                }
            };
            let batches = arns.len().div_ceil(BATCH);
            if self.spent + batches > CALL_BUDGET {
                skipped.push(cluster_name(&cluster).to_string());
                continue;
            }
            self.spent += batches;
            let services = match describe_services(clients, log, &cluster, &arns).await {
                Ok(services) => services,
                Err((reason, _)) => {
                    self.bounded.push(format!(
                        "cluster {} was not examined ({reason})",
                        cluster_name(&cluster)
                    ));
                    continue;
                }
            };
            // Its services' task definitions count too (identity and image causes).
            let before = self.new_definitions(own).len();
            let examined = self.facts.services.len();
            self.facts.services.extend(services);
            let definitions = self.new_definitions(own).len() - before;
            if self.spent + definitions > CALL_BUDGET {
                self.facts.services.truncate(examined);
                skipped.push(cluster_name(&cluster).to_string());
                continue;
            }
            self.spent += definitions;
            self.facts.clusters_examined.push(cluster);
        }
        self.read_definitions(clients, log, own).await;
        if !skipped.is_empty() {
            self.bounded.push(format!(
                "{} of the account not examined: {} (the look is bounded to about {CALL_BUDGET} reads)",
                if skipped.len() == 1 { "cluster" } else { "clusters" },
                skipped.join(", ")
            ));
        }
        self.facts.services.sort_by(|a, b| {
            (cluster_name(&a.cluster), &a.name).cmp(&(cluster_name(&b.cluster), &b.name))
        });
    }
}

fn is_own(own: &Option<(String, String)>, s: &ServiceFacts) -> bool {
    own.as_ref()
        .is_some_and(|(c, n)| cluster_name(&s.cluster) == c && s.name == *n)
}

#[cfg(test)]
mod tests {
    //! The bound on the look, against ECS answers shaped like the API's (moto makes a busy
    //! account slow to build): 25 services in the task's cluster, five other clusters of 5.
    use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
    use aws_sdk_ecs::operation::list_clusters::ListClustersOutput;
    use aws_sdk_ecs::operation::list_services::ListServicesOutput;
    use aws_sdk_ecs::types::{AwsVpcConfiguration, NetworkConfiguration};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    use super::*;
    use crate::checks::iam::identity_fixtures::{world, CLUSTER};
    use crate::model::diagnosis::RootCause;
    use crate::model::facts::RouteTableFacts;

    const ARN: &str = "arn:aws:ecs:us-east-1:111122223333";

    fn ecs() -> aws_sdk_ecs::Client {
        let clusters = mock!(aws_sdk_ecs::Client::list_clusters).then_output(|| {
            let others = (1..=5).map(|i| format!("{ARN}:cluster/c{i}"));
            ListClustersOutput::builder()
                .set_cluster_arns(Some(
                    std::iter::once(CLUSTER.to_string()).chain(others).collect(),
                ))
                .build()
        });
        let services = mock!(aws_sdk_ecs::Client::list_services).then_compute_output(|r| {
            let cluster = cluster_name(r.cluster().unwrap_or_default()).to_string();
            let n = if cluster == "prod" { 25 } else { 5 };
            let arns = (0..n)
                .map(|i| format!("{ARN}:service/{cluster}/svc{i:02}"))
                .collect();
            ListServicesOutput::builder()
                .set_service_arns(Some(arns))
                .build()
        });
        let described = mock!(aws_sdk_ecs::Client::describe_services).then_compute_output(|r| {
            let cluster = r.cluster().unwrap_or_default().to_string();
            let services = r.services().iter().map(|arn| {
                let awsvpc = AwsVpcConfiguration::builder()
                    .subnets("subnet-a")
                    .build()
                    .unwrap();
                Service::builder()
                    .service_name(crate::model::arn::last_name(arn))
                    .cluster_arn(format!("{ARN}:cluster/{}", cluster_name(&cluster)))
                    .status("ACTIVE")
                    .network_configuration(
                        NetworkConfiguration::builder()
                            .awsvpc_configuration(awsvpc)
                            .build(),
                    )
                    .build()
            });
            DescribeServicesOutput::builder()
                .set_services(Some(services.collect()))
                .build()
        });
        mock_client!(
            aws_sdk_ecs,
            RuleMode::MatchAny,
            [&clusters, &services, &described]
        )
    }

    #[tokio::test]
    async fn other_clusters_only_within_about_ten_reads() {
        let mut f = world();
        f.task.group = Some("service:svc00".into());
        f.network.subnet_id = Some("subnet-a".into());
        f.network.route_table = Fact::found(RouteTableFacts {
            id: "rtb-1".into(),
            ..Default::default()
        });
        let mut d = crate::engine::judge(&f);
        d.root_cause.code = RootCause::NetNoRoute;
        let clients = Clients::mocked(
            ecs(),
            aws_sdk_ecr::Client::from_conf(aws_sdk_ecr::Config::builder().build()),
        );
        let log = CallLog::default();
        f.history.blast_radius = read(&clients, &log, &f, &d).await;
        f.history.looked_up = true;
        // prod: 1 list + 3 batches; ListClusters; c1 and c2: 1 list + 1 batch each. c3 would pass 10.
        assert_eq!(log.calls(), 9);
        let facts = f.history.blast_radius.value().expect("read");
        assert_eq!(
            facts
                .clusters_examined
                .iter()
                .map(|c| cluster_name(c))
                .collect::<Vec<_>>(),
            ["prod", "c1", "c2"]
        );
        let b = crate::history::blast_radius::summarize(&f, &d).expect("section");
        assert_eq!(
            (b.total, b.services.len(), b.complete, b.clusters_examined),
            (34, 10, false, 3),
            "svc00 of prod is the failing one"
        );
        assert_eq!(b.reason.as_deref(), Some("clusters of the account not examined: c3, c4, c5 (the look is bounded to about 10 reads)"));
        assert_eq!(
            (
                b.services[0].cluster.as_str(),
                b.services[0].service.as_str()
            ),
            ("c1", "svc00")
        );
    }
}
