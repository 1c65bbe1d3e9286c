//! Preflight: run the reactive checks before a deploy, on the task a service (or a task definition
//! about to be registered) *would* start.
//!
//! There is no failed task yet, so for each (subnet × container image) pair the preflight
//! synthesizes the [`PullFailure`] such a task would have — cluster, launch type, platform
//! version, an ENI in that subnet, the task definition — with an empty message (category
//! `unknown`, so no check is skipped), runs the ordinary collector and checks on it, and merges
//! the findings: one line per distinct finding, with the subnets and containers it concerns. A
//! subnet that would fail while others pass is named: that is the "works in one AZ" outage.
//!
//! An EC2 service in `bridge` or `host` mode has no subnets of its own: its tasks pull from the
//! container instance they land on, so the places checked are the cluster's container instances
//! (see [`instances`]), and the report names the ones considered.
//!
//! Exit codes (CLI): 0 nothing fails, 3 a check fails (or warns, with `--strict`); 1 and 2 keep
//! their meaning (input error, AWS access failed entirely).

pub mod eks;
pub mod inputs;
pub mod instances;
pub mod report;

use std::collections::BTreeMap;
use std::time::Instant;

use crate::collect::{self, Clients, Supplied};
use crate::engine;
use crate::intake::PullFailure;
use crate::model::audience::Audience;
use crate::model::facts::{
    AttachmentFacts, ContainerFacts, DeploymentFacts, Fact, Facts, LaunchFacts, LaunchType,
    RevisionFacts, ServiceNetworkFacts, TaskDefinitionFacts, TaskFacts, TaskSource,
};

pub use report::{PreflightReport, Verdict};

/// How many would-be tasks are collected at the same time (each issues its own reads concurrently).
const PARALLEL_PAIRS: usize = 4;
/// Long enough for one preflight run, never reused by another.
const RUN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(600);
const RUN_CACHE_CAPACITY: usize = 4096;

/// Where the task definition comes from.
#[derive(Debug, Clone)]
pub enum TaskDefinitionInput {
    /// A registered revision: ARN, `family:revision` or `family` (latest ACTIVE).
    Registered(String),
    /// A document not registered yet (the file a pipeline is about to register).
    Document {
        source: String,
        task_definition: Box<TaskDefinitionFacts>,
    },
}

/// What the user asked to preflight.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub cluster: String,
    pub service: Option<String>,
    pub task_definition: Option<TaskDefinitionInput>,
    /// Override (or, without a service, give) the subnets / security groups / public IP setting.
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    pub launch_type: Option<String>,
    pub platform_version: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PreflightError {
    #[error("{0}")]
    Input(String),
    #[error("AWS access failed: {0}")]
    Aws(String),
}

/// The would-be task, resolved from the service, the task definition and the flags.
#[derive(Debug, Clone)]
pub struct Plan {
    pub region: Option<String>,
    pub account: Option<String>,
    pub cluster: String,
    pub service: Option<String>,
    /// EKS: the node group whose nodes would pull.
    pub nodegroup: Option<String>,
    /// EKS: the Fargate profile whose pods would pull.
    pub fargate_profile: Option<eks::FargateProfilePlan>,
    pub launch_type: Option<LaunchType>,
    pub capacity_provider: Option<String>,
    pub platform_version: Option<String>,
    pub task_definition: TaskDefinitionFacts,
    /// `ecs:DescribeTaskDefinition web:7`, `file td.json`.
    pub task_definition_source: String,
    pub network: ServiceNetworkFacts,
    /// EKS: the node role, which pulls in place of an execution role.
    pub instance_role_arn: Option<String>,
    /// Reads made while planning (service, task definition).
    pub aws_calls: u32,
    /// EC2 without awsvpc (bridge, host): the container instances tasks would be placed on,
    /// which pull for them. `network.subnets` are then their subnets.
    pub container_instances: Option<instances::InstancesConsidered>,
    /// `--service` with a new `--task-definition`: the revision the service runs and the one
    /// about to be deployed (the report's `deploy`). `None` when they are the same revision.
    pub deploy: Option<DeployPlan>,
}

/// The two sides of the deploy a preflight is about.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployPlan {
    /// The service's PRIMARY deployment: its task definition and how it launched.
    pub running: RevisionFacts,
    /// The task definition about to be deployed, launched as the service (or the flags) say.
    pub next: RevisionFacts,
}

/// What `ecs:DescribeServices` said about the service, beyond the plan's own fields.
struct ServiceRead {
    task_definition: Option<String>,
    primary: Option<DeploymentFacts>,
    /// The service-level settings, which a new deployment launches with.
    launch: LaunchFacts,
}

/// One (subnet × container) pair to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub subnet: String,
    pub container: String,
    pub image: String,
    /// The container instance that would pull (EC2 bridge/host), else the task pulls through
    /// its own ENI in `subnet`.
    pub container_instance: Option<String>,
}

/// Resolve the request into a plan: read the service and the task definition once.
pub async fn plan(clients: &Clients, request: &Request) -> Result<Plan, PreflightError> {
    let mut plan = Plan {
        region: clients.home_region().map(str::to_string),
        account: None,
        cluster: request.cluster.clone(),
        service: request.service.clone(),
        nodegroup: None,
        fargate_profile: None,
        launch_type: None,
        capacity_provider: None,
        platform_version: None,
        task_definition: TaskDefinitionFacts::default(),
        task_definition_source: String::new(),
        network: ServiceNetworkFacts {
            service_name: "(no service)".into(),
            source: "--subnets/--security-groups/--assign-public-ip".into(),
            ..Default::default()
        },
        instance_role_arn: None,
        aws_calls: 0,
        container_instances: None,
        deploy: None,
    };
    let service = match &request.service {
        Some(name) => {
            plan.aws_calls += 1;
            Some(read_service(clients, request, name, &mut plan).await?)
        }
        None => None,
    };
    let service_task_definition = service.as_ref().and_then(|s| s.task_definition.clone());
    plan.account = crate::model::arn::account(&plan.cluster).map(str::to_string);
    apply_network_flags(request, &mut plan)?;
    let input = match (&request.task_definition, service_task_definition) {
        (Some(input), _) => input.clone(),
        (None, Some(arn)) => TaskDefinitionInput::Registered(arn),
        (None, None) => {
            return Err(PreflightError::Input(
                "give --task-definition (or --service)".into(),
            ))
        }
    };
    read_task_definition(clients, input, &mut plan).await?;
    if plan.account.is_none() {
        plan.account = plan
            .task_definition
            .arn
            .as_deref()
            .and_then(crate::model::arn::account)
            .map(str::to_string);
    }
    // Without a service, the task definition says where it can run.
    if request.launch_type.is_some() {
        plan.launch_type = request.launch_type.as_deref().map(LaunchType::from);
    } else if plan.launch_type.is_none() && plan.capacity_provider.is_none() {
        let compat = &plan.task_definition.requires_compatibilities;
        plan.launch_type = if compat.contains(&LaunchType::Fargate) || compat.is_empty() {
            Some(LaunchType::Fargate)
        } else {
            compat.first().cloned()
        };
    }
    if request.platform_version.is_some() {
        plan.platform_version = request.platform_version.clone();
    }
    if plan.network.subnets.is_empty() {
        plan_container_instances(clients, request, &mut plan).await?;
    }
    if let (Some(service), Some(_)) = (&service, &request.task_definition) {
        plan.deploy = deploy_plan(clients, request, service, &mut plan).await;
    }
    Ok(plan)
}

/// The service's running revision (its PRIMARY deployment, from the `DescribeServices` answer
/// already read) against the one about to be deployed, whose network is the service's unless
/// flags override it. Reads the running task definition (one `ecs:DescribeTaskDefinition`); a
/// failed read leaves it `Unreadable` (the section says so) and never stops the preflight.
async fn deploy_plan(
    clients: &Clients,
    request: &Request,
    service: &ServiceRead,
    plan: &mut Plan,
) -> Option<DeployPlan> {
    let primary = service.primary.as_ref()?;
    let running_arn = primary.task_definition.clone()?;
    if plan.task_definition.arn.as_deref() == Some(running_arn.as_str()) {
        return None;
    }
    let mut running_launch = primary.launch.clone();
    collect::fill_launch(&mut running_launch, &service.launch);
    plan.aws_calls += 1;
    let task_definition = match clients
        .ecs
        .describe_task_definition()
        .task_definition(&running_arn)
        .send()
        .await
    {
        Ok(out) => match out.task_definition() {
            Some(td) => Fact::found(collect::ecs::task_definition_facts(td)),
            None => Fact::NotFound {
                detail: "task definition not returned".into(),
            },
        },
        Err(e) => match collect::read_failure("ecs:DescribeTaskDefinition", &[], &e) {
            collect::ReadFailure::NotFound(detail) => Fact::NotFound { detail },
            collect::ReadFailure::Failed { kind, reason } => Fact::Unreadable { reason, kind },
        },
    };
    let running = RevisionFacts {
        task_definition_arn: Some(running_arn),
        deployment_id: Some(primary.id.clone()),
        status: primary.status.clone(),
        created_at: primary.created_at.clone(),
        launch: running_launch,
        task_definition,
        ..Default::default()
    };
    // EC2 bridge/host: the subnets are the container instances', not an awsvpc configuration.
    let awsvpc = plan.container_instances.is_none() && !plan.network.no_awsvpc_configuration;
    let next = RevisionFacts {
        task_definition_arn: plan.task_definition.arn.clone(),
        launch: LaunchFacts {
            launch_type: plan.launch_type.as_ref().map(|l| l.as_str().to_string()),
            platform_version: plan.platform_version.clone(),
            capacity_providers: if request.launch_type.is_some() {
                vec![]
            } else {
                service.launch.capacity_providers.clone()
            },
            subnets: awsvpc.then(|| plan.network.subnets.clone()),
            security_groups: awsvpc.then(|| plan.network.security_groups.clone()),
            assign_public_ip: if awsvpc {
                plan.network.assign_public_ip
            } else {
                None
            },
            image_digests: Default::default(),
        },
        task_definition: Fact::found(plan.task_definition.clone()),
        ..Default::default()
    };
    Some(DeployPlan { running, next })
}

/// `ecs:DescribeServices`: the service's cluster, launch, and network configuration; returns the
/// task definition it runs and its PRIMARY deployment.
async fn read_service(
    clients: &Clients,
    request: &Request,
    name: &str,
    plan: &mut Plan,
) -> Result<ServiceRead, PreflightError> {
    let out = clients
        .ecs
        .describe_services()
        .cluster(&request.cluster)
        .services(name)
        .send()
        .await
        .map_err(|e| aws_error("ecs:DescribeServices", &["ClusterNotFoundException"], &e))?;
    let Some(svc) = out.services().first() else {
        let why = out
            .failures()
            .first()
            .and_then(|f| f.reason())
            .unwrap_or("not returned");
        return Err(PreflightError::Input(format!(
            "service {name} not found in cluster {} ({why})",
            request.cluster
        )));
    };
    plan.cluster = svc.cluster_arn().unwrap_or(&request.cluster).to_string();
    plan.launch_type = svc.launch_type().map(|l| LaunchType::from(l.as_str()));
    plan.capacity_provider = svc
        .capacity_provider_strategy()
        .first()
        .map(|c| c.capacity_provider().to_string());
    plan.platform_version = svc.platform_version().map(str::to_string);
    // The service-level configuration is what a new deployment launches with.
    plan.network = collect::network::service_network(svc, name, None);
    plan.network.source = format!("{} (ecs:DescribeServices)", plan.network.source);
    Ok(ServiceRead {
        task_definition: svc.task_definition().map(str::to_string),
        primary: svc
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"))
            .map(collect::deployment_facts),
        launch: collect::launch_facts(
            svc.launch_type(),
            svc.platform_version(),
            svc.capacity_provider_strategy(),
            svc.network_configuration(),
        ),
    })
}

/// Flags override the service's network configuration (or give it, without a service).
fn apply_network_flags(request: &Request, plan: &mut Plan) -> Result<(), PreflightError> {
    if !request.subnets.is_empty() {
        plan.network.subnets = request.subnets.clone();
        plan.network.no_awsvpc_configuration = false;
    }
    if !request.security_groups.is_empty() {
        plan.network.security_groups = request.security_groups.clone();
    }
    if request.assign_public_ip {
        plan.network.assign_public_ip = Some(true);
    } else if request.service.is_none() {
        plan.network.assign_public_ip = Some(false);
    }
    if plan.network.subnets.is_empty() && request.service.is_none() {
        return Err(PreflightError::Input(
            "give --service, or --subnets and --security-groups".into(),
        ));
    }
    if request.service.is_none() && plan.network.security_groups.is_empty() {
        return Err(PreflightError::Input(
            "without --service, give --security-groups".into(),
        ));
    }
    Ok(())
}

/// The task definition from its file, or `ecs:DescribeTaskDefinition`.
async fn read_task_definition(
    clients: &Clients,
    input: TaskDefinitionInput,
    plan: &mut Plan,
) -> Result<(), PreflightError> {
    match input {
        TaskDefinitionInput::Document {
            source,
            task_definition,
        } => {
            plan.task_definition_source = format!("file {source}");
            plan.task_definition = *task_definition;
        }
        TaskDefinitionInput::Registered(id) => {
            plan.aws_calls += 1;
            let out = clients
                .ecs
                .describe_task_definition()
                .task_definition(&id)
                .send()
                .await
                .map_err(|e| match aws_error("ecs:DescribeTaskDefinition", &[], &e) {
                    // ECS answers ClientException for an unknown family or revision.
                    PreflightError::Aws(why) if e.as_service_error().is_some() => {
                        PreflightError::Input(format!("task definition {id}: {why}"))
                    }
                    other => other,
                })?;
            let td = out.task_definition().ok_or_else(|| {
                PreflightError::Input(format!("task definition {id} not returned"))
            })?;
            plan.task_definition = collect::ecs::task_definition_facts(td);
            plan.task_definition_source = format!("ecs:DescribeTaskDefinition {id}");
        }
    }
    Ok(())
}

/// A service without awsvpc subnets: on EC2 in bridge or host mode, its tasks pull from the
/// container instance they land on. Anything else cannot be placed without subnets.
async fn plan_container_instances(
    clients: &Clients,
    request: &Request,
    plan: &mut Plan,
) -> Result<(), PreflightError> {
    let service = request.service.as_deref().unwrap_or("(no service)");
    let mode = plan.task_definition.network_mode.as_deref();
    if !instances::pulls_from_instances(
        plan.launch_type.as_ref(),
        plan.capacity_provider.as_deref(),
        mode,
    ) {
        return Err(PreflightError::Input(format!(
            "service {service} has no awsvpc subnets; give --subnets"
        )));
    }
    let (considered, reads) = instances::read(clients, &plan.cluster).await?;
    plan.aws_calls += reads;
    let cluster = crate::model::arn::cluster_name(&plan.cluster).to_string();
    if considered.checked().next().is_none() {
        let why = if considered.active == 0 {
            "it has no ACTIVE container instance".to_string()
        } else {
            considered.summary()
        };
        return Err(PreflightError::Input(format!(
            "service {service} runs in {} mode on the container instances of cluster {cluster}, and there is none to check from \
             ({why}); give --subnets and --security-groups to check a subnet instead",
            mode.unwrap_or("the default (bridge)")
        )));
    }
    plan.network.subnets = considered.subnets();
    plan.network.source =
        format!("the container instances of cluster {cluster} (ecs:ListContainerInstances)");
    plan.container_instances = Some(considered);
    Ok(())
}

pub(crate) fn aws_error<E, R>(
    action: &str,
    not_found: &[&str],
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> PreflightError
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match collect::read_failure(action, not_found, e) {
        collect::ReadFailure::NotFound(detail) => PreflightError::Input(detail),
        collect::ReadFailure::Failed { reason, .. } => PreflightError::Aws(reason),
    }
}

impl Plan {
    /// Who pulls: ECS tasks, or the EKS node group's nodes or Fargate profile's pods.
    pub fn audience(&self) -> Audience {
        match (&self.nodegroup, &self.fargate_profile) {
            (_, Some(profile)) => Audience::EksFargateProfile {
                profile: profile.name.clone(),
                profile_arn: profile.arn.clone(),
            },
            (Some(nodegroup), None) => Audience::EksNodegroup {
                nodegroup: nodegroup.clone(),
            },
            (None, None) => Audience::Ecs,
        }
    }

    /// Every (subnet × container image) pair, in the order given.
    pub fn pairs(&self) -> Vec<Pair> {
        // Where a task could pull from: a subnet (its ENI), or a container instance (EC2 bridge/host).
        let places: Vec<(String, Option<String>)> = match &self.container_instances {
            Some(ci) => ci
                .checked()
                .filter_map(|i| Some((i.subnet.clone()?, Some(i.container_instance_arn.clone()))))
                .collect(),
            None => self
                .network
                .subnets
                .iter()
                .map(|s| (s.clone(), None))
                .collect(),
        };
        let mut out = Vec::new();
        for (subnet, container_instance) in places {
            for (i, c) in self.task_definition.containers.iter().enumerate() {
                let Some(image) = c.image.clone() else {
                    continue;
                };
                let container = c.name.clone().unwrap_or_else(|| format!("container-{i}"));
                out.push(Pair {
                    subnet: subnet.clone(),
                    container,
                    image,
                    container_instance: container_instance.clone(),
                });
            }
        }
        out
    }

    /// The pull a task of this plan would make for `pair`, as the collector expects a failure:
    /// no message, so the classification is `unknown` and every check runs.
    pub fn would_be_pull(&self, pair: &Pair) -> PullFailure {
        let td = &self.task_definition;
        let group = match (&self.service, &td.family) {
            (Some(s), _) => Some(format!("service:{s}")),
            (None, Some(f)) => Some(format!("family:{f}")),
            (None, None) => None,
        };
        let task = TaskFacts {
            source: TaskSource::Event,
            arn: None,
            cluster_arn: Some(self.cluster.clone()),
            task_definition_arn: td.arn.clone(),
            group,
            launch_type: self.launch_type.clone(),
            capacity_provider: self.capacity_provider.clone(),
            platform_version: self.platform_version.clone(),
            ephemeral_storage_gib: td.ephemeral_storage_gib,
            containers: td
                .containers
                .iter()
                .map(|c| ContainerFacts {
                    name: c.name.clone(),
                    image: c.image.clone(),
                    ..Default::default()
                })
                .collect(),
            attachments: vec![AttachmentFacts {
                id: None,
                kind: Some("ElasticNetworkInterface".into()),
                status: Some("PRECREATED".into()),
                details: BTreeMap::from([("subnetId".to_string(), pair.subnet.clone())]),
            }],
            source_note: Some(format!(
                "preflight: the task that would start in {}; it does not exist yet",
                pair.subnet
            )),
            ..Default::default()
        };
        // EC2 bridge/host: no ENI of its own; the container instance pulls (the collector reads
        // its EC2 instance's subnet, security groups and, without an execution role, its role).
        let task = match &pair.container_instance {
            Some(ci) => TaskFacts {
                launch_type: Some(LaunchType::Ec2),
                container_instance_arn: Some(ci.clone()),
                attachments: vec![],
                source_note: Some(format!(
                    "preflight: the task that would start on container instance {} in {}; it does not exist yet",
                    ci.rsplit('/').next().unwrap_or(ci),
                    pair.subnet
                )),
                ..task
            },
            None => task,
        };
        PullFailure {
            event_id: None,
            account: self.account.clone(),
            region: self.region.clone(),
            time: None,
            task,
            container: Some(pair.container.clone()),
            image: Some(pair.image.clone()),
            message: String::new(),
        }
    }
}

/// Collect and judge every pair of the plan, and merge the findings.
pub async fn run(clients: &Clients, plan: &Plan) -> (PreflightReport, Vec<Facts>) {
    let started = Instant::now();
    let supplied = Supplied {
        task_definition: Some(plan.task_definition.clone()),
        service_network: Some(plan.network.clone()),
        instance_role_arn: plan.instance_role_arn.clone(),
    };
    let pairs = plan.pairs();
    // The pairs share most reads (the image, the roles, the VPC, the endpoints): a cache for this
    // run lets every pair after the first reuse them. The first pair runs alone to fill it.
    let clients = &clients
        .clone()
        .with_warm_cache(RUN_CACHE_TTL, RUN_CACHE_CAPACITY);
    let (first, rest) = pairs.split_at(pairs.len().min(1));
    let mut judged = Vec::with_capacity(pairs.len());
    for chunk in std::iter::once(first)
        .filter(|c| !c.is_empty())
        .chain(rest.chunks(PARALLEL_PAIRS))
    {
        let collected = futures_util::future::join_all(chunk.iter().map(|pair| {
            let failure = plan.would_be_pull(pair);
            let supplied = &supplied;
            async move {
                let mut facts = Box::pin(collect::collect_with(
                    clients,
                    &failure,
                    supplied,
                    collect::Options::default(),
                ))
                .await
                .0;
                facts.audience = plan.audience();
                facts
            }
        }))
        .await;
        judged.extend(chunk.iter().cloned().zip(collected));
    }
    let results: Vec<_> = judged
        .iter()
        // The facts say who pulls (plan.audience()): the checks that apply there run, worded for it.
        .map(|(pair, facts)| (pair.clone(), engine::judge(facts), facts))
        .collect();
    let mut report = report::merge(plan, &results);
    report.duration_ms = started.elapsed().as_millis() as u64;
    let facts = judged.into_iter().map(|(_, f)| f).collect();
    (report, facts)
}
