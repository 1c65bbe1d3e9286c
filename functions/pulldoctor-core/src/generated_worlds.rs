//! Generated worlds: the guard against the next regression. A healthy configuration is built from
//! independent dimensions (network shape, egress form, role form, registry reference, launch
//! type); every combination must draw no `fail` when its task is diagnosed (with a transient
//! timeout and with each ambiguous refusal) and in preflight (no message). Then one documented
//! breakage at a time is applied to those bases: each must give its code, in both modes.
//!
//! Each world is a description turned into Facts by small patches on the network fixtures' bases,
//! and judged by the pure engine, so the full product (all pairs, and more) runs in seconds.

use serde_json::json;

use crate::checks::ecr::fixtures::{image, not_found, NEW, OLD};
use crate::checks::network::fixtures::*;
use crate::classify::classify;
use crate::judge::judge;
use crate::message_matrix::{DAEMON_REFUSAL, NO_CREDENTIALS, SCOPE_REFUSAL};
use crate::model::diagnosis::{Diagnosis, RootCause, Status};
use crate::model::facts::{
    ContainerInstanceRef, Fact, Facts, InstanceFacts, PolicyFacts, PolicyKind, RoleFacts,
    SgRuleFacts, SimulationResult,
};
use crate::model::image_ref::ImageRef;

const REPO_ARN: &str = "arn:aws:ecr:us-east-1:111122223333:repository/team/app";
const IMAGE_NAME: &str = "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app";
const INSTANCE_SG: &str = "sg-instance";
const SECOND_SG: &str = "sg-second";
const CUSTOMER_PL: &str = "pl-0customer";

const NOT_FOUND: &str =
    "CannotPullContainerError: 111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1: not found";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Network {
    /// Private subnet, default route to a NAT gateway in a public subnet.
    Nat,
    /// No internet route: ecr.api, ecr.dkr (private DNS) and the S3 gateway endpoint.
    Endpoints,
    /// Public subnet, default route to the internet gateway, a public IP.
    PublicIp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Egress {
    /// All traffic to 0.0.0.0/0 (the default security group).
    All,
    /// TCP 443 to 0.0.0.0/0.
    Https,
    /// TCP 443 to 0.0.0.0/1 and 128.0.0.0/1: together everything.
    SplitCidrs,
    /// Two groups on the interface: one allows 443 everywhere, the other nothing (the union
    /// counts).
    TwoGroups,
    /// The narrowest form: through endpoints, 443 to the endpoint security group and to the S3
    /// prefix list; through the internet, 443 to a customer-managed prefix list of 0.0.0.0/0.
    Scoped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The simulator answers: every pull action allowed.
    Simulator,
    /// AWS managed policies, read as documents (the simulator is not allowed).
    TaskExecutionPolicy,
    ReadOnly,
    PullOnly,
    /// An inline policy: the token on `*`, the pull actions on the repository only.
    ScopedInline,
    /// `ecr:*` on `*`.
    Wildcard,
    /// ReadOnly under a permissions boundary that allows ECR reads.
    Boundary,
    /// The identity policy allows only the token; the repository policy grants the role the pull
    /// (same account: either side's allow suffices).
    RepositoryGrant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reference {
    Tag,
    Digest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Launch {
    Fargate,
    /// EC2 bridge mode: the container instance's interface pulls, with the execution role.
    Ec2Bridge,
}

/// Where the role that pulls is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoleSource {
    /// `executionRoleArn` of the task definition.
    TaskDefinition,
    /// The `executionRoleArn` override the task was started with (RunTask); the task definition
    /// names none.
    Override,
}

#[derive(Debug, Clone, Copy)]
struct World {
    network: Network,
    egress: Egress,
    role: Role,
    reference: Reference,
    launch: Launch,
    source: RoleSource,
}

const NETWORKS: [Network; 3] = [Network::Nat, Network::Endpoints, Network::PublicIp];
const EGRESSES: [Egress; 5] = [
    Egress::All,
    Egress::Https,
    Egress::SplitCidrs,
    Egress::TwoGroups,
    Egress::Scoped,
];
const ROLES: [Role; 8] = [
    Role::Simulator,
    Role::TaskExecutionPolicy,
    Role::ReadOnly,
    Role::PullOnly,
    Role::ScopedInline,
    Role::Wildcard,
    Role::Boundary,
    Role::RepositoryGrant,
];
const REFERENCES: [Reference; 2] = [Reference::Tag, Reference::Digest];
const LAUNCHES: [Launch; 2] = [Launch::Fargate, Launch::Ec2Bridge];
const SOURCES: [RoleSource; 2] = [RoleSource::TaskDefinition, RoleSource::Override];

/// Every combination (a superset of all pairs).
fn healthy_worlds() -> Vec<World> {
    let mut out = vec![];
    for network in NETWORKS {
        for egress in EGRESSES {
            for role in ROLES {
                for reference in REFERENCES {
                    for launch in LAUNCHES {
                        for source in SOURCES {
                            out.push(World {
                                network,
                                egress,
                                role,
                                reference,
                                launch,
                                source,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

fn https_to(cidr: &str) -> SgRuleFacts {
    SgRuleFacts {
        cidrs: vec![cidr.into()],
        ..rule("tcp", 443, 443)
    }
}

fn https_to_prefix_list(pl: &str) -> SgRuleFacts {
    SgRuleFacts {
        prefix_lists: vec![pl.into()],
        ..rule("tcp", 443, 443)
    }
}

fn https_to_group(group: &str) -> SgRuleFacts {
    SgRuleFacts {
        groups: vec![group.into()],
        ..rule("tcp", 443, 443)
    }
}

impl World {
    fn facts(self) -> Facts {
        let mut f = match self.network {
            Network::Nat => fargate_nat(),
            Network::Endpoints => fargate_endpoints(),
            Network::PublicIp => fargate_public(true),
        };
        if self.launch == Launch::Ec2Bridge {
            on_ec2_bridge(&mut f, self.network == Network::PublicIp);
        }
        self.apply_egress(&mut f);
        apply_role(&mut f, self.role);
        apply_reference(&mut f, self.reference);
        if self.source == RoleSource::Override {
            // What the collector sees: the task definition names no role, the task's overrides do.
            if let Fact::Found { value } = &mut f.task_definition {
                value.execution_role_arn = None;
            }
            f.task.execution_role_override = Some(ROLE.into());
            f.apply_task_overrides();
        }
        f
    }

    fn puller_group(self) -> &'static str {
        match self.launch {
            Launch::Fargate => SG_TASK,
            Launch::Ec2Bridge => INSTANCE_SG,
        }
    }

    fn apply_egress(self, f: &mut Facts) {
        let main = self.puller_group();
        let egress = match (self.egress, self.network) {
            (Egress::All, _) => vec![all_traffic_to("0.0.0.0/0")],
            (Egress::Https | Egress::TwoGroups, _) => vec![https_to("0.0.0.0/0")],
            (Egress::SplitCidrs, _) => vec![https_to("0.0.0.0/1"), https_to("128.0.0.0/1")],
            (Egress::Scoped, Network::Endpoints) => {
                vec![https_to_group(SG_EP), https_to_prefix_list(PL)]
            }
            (Egress::Scoped, _) => vec![https_to_prefix_list(CUSTOMER_PL)],
        };
        let mut groups = vec![sg(main, vec![], egress)];
        if self.egress == Egress::TwoGroups {
            groups.push(sg(SECOND_SG, vec![], vec![]));
            set_interface_groups(f, &[main, SECOND_SG]);
        }
        if self.egress == Egress::Scoped && self.network != Network::Endpoints {
            f.network
                .rule_prefix_lists
                .push(crate::model::facts::RulePrefixList {
                    id: CUSTOMER_PL.into(),
                    cidrs: Fact::found(vec!["0.0.0.0/0".into()]),
                });
        }
        f.network.security_groups = Fact::found(groups);
        // The endpoints admit 443 from the group that pulls.
        if let Fact::Found { value } = &mut f.network.endpoint_security_groups {
            for group in value.iter_mut() {
                group.ingress = vec![https_to_group(main)];
            }
        }
    }
}

fn set_interface_groups(f: &mut Facts, groups: &[&str]) {
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    if let Fact::Found { value } = &mut f.network.service {
        value.security_groups = groups.clone();
    }
    if let Fact::Found { value } = &mut f.network.instance {
        value.security_groups = groups;
    }
}

/// The same network, the task on an EC2 container instance in bridge mode.
fn on_ec2_bridge(f: &mut Facts, public_ip: bool) {
    f.task.launch_type = Some("EC2".into());
    f.task.platform_version = None;
    f.task.attachments = vec![];
    f.task.container_instance_arn = Some(format!(
        "arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/prod/ci-1"
    ));
    if let Fact::Found { value: td } = &mut f.task_definition {
        td.network_mode = Some("bridge".into());
        td.requires_compatibilities = vec!["EC2".into()];
    }
    let n = &mut f.network;
    n.task_eni = Fact::NotCollected {
        reason: "EC2 launch type".into(),
    };
    n.service = Fact::NotCollected {
        reason: "EC2 launch type".into(),
    };
    n.container_instance = Fact::found(ContainerInstanceRef {
        arn: "ci-1".into(),
        ec2_instance_id: Some("i-1".into()),
        status: Some("ACTIVE".into()),
        agent_connected: Some(true),
    });
    n.instance = Fact::found(InstanceFacts {
        id: "i-1".into(),
        state: Some("running".into()),
        subnet_id: Some(SUBNET.into()),
        vpc_id: Some(VPC.into()),
        private_ip: Some("10.0.1.40".into()),
        public_ip: public_ip.then(|| "54.9.9.9".to_string()),
        security_groups: vec![INSTANCE_SG.into()],
        instance_profile_arn: None,
    });
}

fn policy(kind: PolicyKind, name: &str, statements: serde_json::Value) -> PolicyFacts {
    let managed = kind == PolicyKind::Managed;
    PolicyFacts {
        kind,
        name: name.into(),
        arn: managed.then(|| format!("arn:aws:iam::aws:policy/{name}")),
        version: managed.then(|| "v1".to_string()),
        document: Fact::found(json!({"Version": "2012-10-17", "Statement": statements})),
    }
}

fn allow(actions: &[&str], resource: &str) -> serde_json::Value {
    json!({"Effect": "Allow", "Action": actions, "Resource": resource})
}

const TOKEN: &str = "ecr:GetAuthorizationToken";
const PULL: [&str; 2] = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"];

fn read_only() -> PolicyFacts {
    policy(
        PolicyKind::Managed,
        "AmazonEC2ContainerRegistryReadOnly",
        json!([allow(
            &[
                TOKEN,
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetDownloadUrlForLayer",
                "ecr:GetRepositoryPolicy",
                "ecr:DescribeRepositories",
                "ecr:ListImages",
                "ecr:DescribeImages",
                "ecr:BatchGetImage",
                "ecr:GetLifecyclePolicy",
                "ecr:GetLifecyclePolicyPreview",
                "ecr:ListTagsForResource",
                "ecr:DescribeImageScanFindings"
            ],
            "*"
        )]),
    )
}

fn role_policies(role: Role) -> Vec<PolicyFacts> {
    match role {
        Role::Simulator => vec![],
        Role::TaskExecutionPolicy => vec![policy(
            PolicyKind::Managed,
            "service-role/AmazonECSTaskExecutionRolePolicy",
            json!([allow(
                &[
                    TOKEN,
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchGetImage",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents"
                ],
                "*"
            )]),
        )],
        Role::ReadOnly | Role::Boundary => vec![read_only()],
        Role::PullOnly => vec![policy(
            PolicyKind::Managed,
            "AmazonEC2ContainerRegistryPullOnly",
            json!([allow(
                &[
                    TOKEN,
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchImportUpstreamImage"
                ],
                "*"
            )]),
        )],
        Role::ScopedInline => vec![policy(
            PolicyKind::Inline,
            "pull-team-app",
            json!([allow(&[TOKEN], "*"), allow(&PULL, REPO_ARN)]),
        )],
        Role::Wildcard => vec![policy(
            PolicyKind::Inline,
            "ecr-all",
            json!([allow(&["ecr:*"], "*")]),
        )],
        Role::RepositoryGrant => {
            vec![policy(
                PolicyKind::Inline,
                "token-only",
                json!([allow(&[TOKEN], "*")]),
            )]
        }
    }
}

fn apply_role(f: &mut Facts, role: Role) {
    let Fact::Found { value: exec } = &mut f.identity.execution_role else {
        f.identity.execution_role = Fact::found(RoleFacts {
            arn: ROLE.into(),
            name: "ecsTaskExecutionRole".into(),
            role_id: Some("AROAEXAMPLEID".into()),
            trust_policy: Some(ecs_tasks_trust()),
            ..Default::default()
        });
        return apply_role(f, role);
    };
    if role == Role::Simulator {
        exec.policies = Fact::NotCollected {
            reason: "the simulator answered".into(),
        };
        f.identity.pull_simulation = Fact::found(
            [TOKEN, PULL[0], PULL[1]]
                .iter()
                .map(|a| SimulationResult {
                    action: a.to_string(),
                    resource: if *a == TOKEN {
                        "*".into()
                    } else {
                        REPO_ARN.into()
                    },
                    decision: "allowed".into(),
                    ..Default::default()
                })
                .collect(),
        );
    } else {
        exec.policies = Fact::found(role_policies(role));
        f.identity.pull_simulation = Fact::Unreadable {
            reason: "AccessDenied: iam:SimulatePrincipalPolicy".into(),
            kind: Default::default(),
        };
    }
    if role == Role::Boundary {
        let arn = "arn:aws:iam::111122223333:policy/workload-boundary";
        exec.permissions_boundary_arn = Some(arn.into());
        exec.boundary = Fact::found(PolicyFacts {
            arn: Some(arn.into()),
            ..policy(
                PolicyKind::Boundary,
                "workload-boundary",
                json!([allow(
                    &["ecr:*", "logs:*", "secretsmanager:GetSecretValue"],
                    "*"
                )]),
            )
        });
    }
    f.identity.repository_policy = if role == Role::RepositoryGrant {
        Fact::found(json!({"Version": "2012-10-17", "Statement": [{
            "Sid": "PullForTheService", "Effect": "Allow",
            "Principal": {"AWS": ROLE}, "Action": PULL}]}))
    } else {
        Fact::NotFound {
            detail: "RepositoryPolicyNotFoundException".into(),
        }
    };
}

fn ecs_tasks_trust() -> serde_json::Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
}

fn apply_reference(f: &mut Facts, reference: Reference) {
    let name = match reference {
        Reference::Tag => format!("{IMAGE_NAME}:v1"),
        Reference::Digest => format!("{IMAGE_NAME}@{OLD}"),
    };
    f.failure.image = Some(name.clone());
    f.failure.image_ref = ImageRef::parse(&name).ok();
    if let Fact::Found { value: td } = &mut f.task_definition {
        for c in &mut td.containers {
            c.image = Some(name.clone());
        }
    }
    let none = || Fact::NotCollected {
        reason: "not this reference".into(),
    };
    (f.image_by_tag, f.image_by_digest) = match reference {
        Reference::Tag => (image(OLD, "v1"), none()),
        Reference::Digest => (none(), image(OLD, "v1")),
    };
}

fn with(mut f: Facts, message: &str) -> Facts {
    f.failure.message = message.into();
    f.failure.classification = classify(message);
    f
}

/// Preflight judges the task that would start: no message, nothing ruled out.
fn preflight(f: Facts) -> Facts {
    let mut f = with(f, "");
    f.task.arn = None;
    f
}

/// The first failure of each kind (what precedes " on " or " with "), and how many there were: a
/// broken model fails hundreds of worlds the same way.
fn first_of_each(wrong: &[String]) -> Vec<String> {
    let mut seen: Vec<(String, usize, &String)> = vec![];
    for w in wrong {
        let kind = w.split(" with ").next().unwrap_or(w);
        let kind = kind.split(" on ").next().unwrap_or(kind).to_string();
        let kind = format!("{kind} {}", w.rsplit(": ").nth(1).unwrap_or(""));
        match seen.iter_mut().find(|(k, _, _)| *k == kind) {
            Some((_, n, _)) => *n += 1,
            None => seen.push((kind, 1, w)),
        }
    }
    seen.into_iter()
        .map(|(_, n, w)| format!("({n}×) {w}"))
        .collect()
}

fn fails(d: &Diagnosis) -> Vec<String> {
    d.findings
        .iter()
        .filter(|x| x.status == Status::Fail)
        .map(|x| format!("{}: {}", x.code, x.title))
        .collect()
}

#[test]
fn every_healthy_world_draws_no_fail_in_diagnosis_or_preflight() {
    let worlds = healthy_worlds();
    let messages = [TIMEOUT, DAEMON_REFUSAL, SCOPE_REFUSAL, NO_CREDENTIALS];
    let mut wrong = vec![];
    let mut judged = 0;
    for world in &worlds {
        let facts = world.facts();
        let runs = messages
            .iter()
            .map(|m| (*m, with(facts.clone(), m)))
            .chain([("(preflight)", preflight(facts.clone()))]);
        for (message, f) in runs {
            judged += 1;
            let d = judge(&f);
            let fails = fails(&d);
            if !fails.is_empty() {
                wrong.push(format!(
                    "{world:?} with {message:.60}: {}",
                    fails.join("; ")
                ));
            }
        }
    }
    println!(
        "generated worlds: {} healthy combinations, {judged} judgements (4 messages + preflight), {} with a fail",
        worlds.len(),
        wrong.len()
    );
    assert!(worlds.len() >= 200);
    assert!(
        wrong.is_empty(),
        "{} false alarms:\n{}",
        wrong.len(),
        first_of_each(&wrong).join("\n")
    );
}

/// One documented breakage: where it applies, what it does, the message AWS prints for it, and
/// the code both modes must name.
struct Mutation {
    name: &'static str,
    applies: fn(&World) -> bool,
    apply: fn(&mut Facts, &World),
    message: &'static str,
    code: RootCause,
}

fn everywhere(_: &World) -> bool {
    true
}

fn mutations() -> Vec<Mutation> {
    use RootCause as R;
    vec![
        Mutation {
            name: "the default route is deleted",
            applies: |w| w.network != Network::Endpoints,
            apply: |f, _| {
                if let Fact::Found { value } = &mut f.network.route_table {
                    value.routes.retain(|r| r.destination.as_deref() != Some("0.0.0.0/0"));
                }
            },
            message: TIMEOUT,
            code: R::NetNoRoute,
        },
        Mutation {
            name: "the default route is a blackhole",
            applies: |w| w.network == Network::Nat,
            apply: |f, _| {
                if let Fact::Found { value } = &mut f.network.route_table {
                    for r in &mut value.routes {
                        if r.destination.as_deref() == Some("0.0.0.0/0") {
                            r.state = Some("blackhole".into());
                        }
                    }
                }
            },
            message: TIMEOUT,
            code: R::NetNoRoute,
        },
        Mutation {
            name: "the NAT gateway is a private one (its subnet routes to the internet gateway)",
            applies: |w| w.network == Network::Nat,
            apply: |f, _| {
                if let Fact::Found { value } = &mut f.network.nat_gateways {
                    for nat in value.iter_mut() {
                        nat.connectivity_type = Some("private".into());
                        nat.public_ips.clear();
                    }
                }
            },
            message: TIMEOUT,
            code: R::NetNoRoute,
        },
        Mutation {
            name: "the Fargate task gets no public IP",
            applies: |w| w.network == Network::PublicIp && w.launch == Launch::Fargate,
            apply: |f, _| {
                if let Fact::Found { value } = &mut f.network.service {
                    value.assign_public_ip = Some(false);
                }
            },
            message: TIMEOUT,
            code: R::NetNoPublicIp,
        },
        Mutation {
            name: "the ecr.dkr endpoint is deleted",
            applies: |w| w.network == Network::Endpoints,
            apply: |f, _| {
                if let Fact::Found { value } = &mut f.network.endpoints {
                    value.retain(|e| !e.service_name.ends_with(".ecr.dkr"));
                }
            },
            message: TIMEOUT,
            code: R::NetEndpointMissing,
        },
        Mutation {
            name: "the S3 gateway endpoint is not on the subnet's route table",
            applies: |w| w.network == Network::Endpoints,
            apply: |f, _| {
                if let Fact::Found { value } = &mut f.network.endpoints {
                    for e in value.iter_mut().filter(|e| e.endpoint_type == "Gateway") {
                        e.route_table_ids = vec!["rtb-other".into()];
                    }
                }
                if let Fact::Found { value } = &mut f.network.route_table {
                    value.routes.retain(|r| r.destination_prefix_list.is_none());
                }
            },
            message: TIMEOUT,
            code: R::NetEndpointMissing,
        },
        Mutation {
            name: "private DNS is off on the interface endpoints",
            applies: |w| w.network == Network::Endpoints,
            apply: |f, _| {
                if let Fact::Found { value } = &mut f.network.endpoints {
                    for e in value.iter_mut().filter(|e| e.endpoint_type == "Interface") {
                        e.private_dns_enabled = Some(false);
                    }
                }
            },
            message: TIMEOUT,
            code: R::NetEndpointDns,
        },
        Mutation {
            name: "the puller's security groups allow no egress",
            applies: everywhere,
            apply: |f, _| {
                if let Fact::Found { value } = &mut f.network.security_groups {
                    for g in value.iter_mut() {
                        g.egress.clear();
                    }
                }
            },
            message: TIMEOUT,
            code: R::NetTaskSgEgress,
        },
        Mutation {
            name: "the subnet's network ACL denies outbound 443",
            applies: everywhere,
            apply: |f, _| {
                if let Fact::Found { value } = &mut f.network.network_acl {
                    value.entries.insert(0, nacl_entry(50, true, "6", "deny", "0.0.0.0/0", Some((443, 443))));
                }
            },
            message: TIMEOUT,
            code: R::NetNacl,
        },
        Mutation {
            name: "the endpoint security group admits nothing",
            applies: |w| w.network == Network::Endpoints,
            apply: |f, _| {
                if let Fact::Found { value } = &mut f.network.endpoint_security_groups {
                    for g in value.iter_mut() {
                        g.ingress.clear();
                    }
                }
            },
            message: TIMEOUT,
            code: R::NetEndpointSg,
        },
        Mutation {
            name: "the VPC's DNS resolution is off",
            applies: everywhere,
            apply: |f, _| f.network.dns_support = Fact::found(false),
            message: "CannotPullContainerError: failed to resolve ref 111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1: failed to do request: Head \"https://111122223333.dkr.ecr.us-east-1.amazonaws.com/v2/team/app/manifests/v1\": dial tcp: lookup 111122223333.dkr.ecr.us-east-1.amazonaws.com on 10.0.0.2:53: no such host",
            code: R::NetDns,
        },
        Mutation {
            name: "the Fargate task has no execution role (neither its definition nor an override)",
            applies: |w| w.launch == Launch::Fargate,
            apply: |f, _| {
                if let Fact::Found { value } = &mut f.task_definition {
                    value.execution_role_arn = None;
                }
                f.task.execution_role_override = None;
                f.identity.execution_role =
                    Fact::NotCollected { reason: "the task definition has no execution role".into() };
                f.identity.pull_simulation = Fact::NotCollected { reason: "no role pulls the image".into() };
            },
            message: DAEMON_REFUSAL,
            code: R::IamExecutionRoleMissing,
        },
        Mutation {
            name: "the execution role trusts another service",
            applies: everywhere,
            apply: |f, _| {
                if let Fact::Found { value } = &mut f.identity.execution_role {
                    value.trust_policy = Some(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}));
                }
            },
            message: DAEMON_REFUSAL,
            code: R::IamExecutionRoleTrust,
        },
        Mutation {
            name: "an inline policy denies ecr:BatchGetImage",
            applies: |w| w.role != Role::Simulator,
            apply: |f, _| {
                if let Fact::Found { value } = &mut f.identity.execution_role {
                    if let Fact::Found { value: policies } = &mut value.policies {
                        policies.push(policy(
                            PolicyKind::Inline,
                            "deny-pull",
                            json!([{"Effect": "Deny", "Action": "ecr:BatchGetImage", "Resource": "*"}]),
                        ));
                    }
                }
            },
            message: DAEMON_REFUSAL,
            code: R::IamExecutionRolePermissions,
        },
        Mutation {
            name: "the simulator finds an explicit deny",
            applies: |w| w.role == Role::Simulator,
            apply: |f, _| {
                if let Fact::Found { value } = &mut f.identity.pull_simulation {
                    for s in value.iter_mut().filter(|s| s.action == "ecr:BatchGetImage") {
                        s.decision = "explicitDeny".into();
                    }
                }
            },
            message: SCOPE_REFUSAL,
            code: R::IamExecutionRolePermissions,
        },
        Mutation {
            name: "the role's policies are detached",
            applies: |w| !matches!(w.role, Role::Simulator | Role::RepositoryGrant),
            apply: |f, _| {
                if let Fact::Found { value } = &mut f.identity.execution_role {
                    value.policies = Fact::found(vec![]);
                }
            },
            message: NO_CREDENTIALS,
            code: R::IamExecutionRolePermissions,
        },
        Mutation {
            name: "the repository policy denies everyone",
            applies: |w| w.role != Role::RepositoryGrant,
            apply: |f, _| {
                f.identity.repository_policy = Fact::found(json!({"Version": "2012-10-17", "Statement": [{
                    "Sid": "NoPulls", "Effect": "Deny", "Principal": "*", "Action": "ecr:BatchGetImage"}]}));
            },
            message: DAEMON_REFUSAL,
            code: R::EcrRepositoryPolicy,
        },
        Mutation {
            name: "the tag was never pushed",
            applies: |w| w.reference == Reference::Tag,
            apply: |f, _| f.image_by_tag = not_found(),
            message: NOT_FOUND,
            code: R::EcrImageNotFound,
        },
        Mutation {
            name: "the tag was never pushed (the daemon's refusal)",
            applies: |w| w.reference == Reference::Tag,
            apply: |f, _| f.image_by_tag = not_found(),
            message: DAEMON_REFUSAL,
            code: R::EcrImageNotFound,
        },
        Mutation {
            name: "the digest is not in the repository",
            applies: |w| w.reference == Reference::Digest,
            apply: |f, _| {
                let name = format!("{IMAGE_NAME}@{NEW}");
                f.failure.image = Some(name.clone());
                f.failure.image_ref = ImageRef::parse(&name).ok();
                f.image_by_digest = not_found();
            },
            message: NOT_FOUND,
            code: R::EcrImageNotFound,
        },
        Mutation {
            name: "the repository was deleted",
            applies: everywhere,
            apply: |f, _| {
                f.repository = Fact::NotFound { detail: "RepositoryNotFoundException".into() };
                f.image_by_tag = Fact::NotFound { detail: "RepositoryNotFoundException".into() };
                f.image_by_digest = Fact::NotFound { detail: "RepositoryNotFoundException".into() };
                f.identity.repository_policy =
                    Fact::NotFound { detail: "RepositoryNotFoundException".into() };
            },
            message: DAEMON_REFUSAL,
            code: R::EcrRepositoryNotFound,
        },
    ]
}

#[test]
fn every_single_breakage_names_its_code_in_diagnosis_and_preflight() {
    let worlds = healthy_worlds();
    let mut wrong = vec![];
    let mut cases = 0;
    let mut kinds = 0;
    for m in mutations() {
        kinds += 1;
        for world in worlds.iter().filter(|w| (m.applies)(w)) {
            cases += 1;
            let mut facts = world.facts();
            (m.apply)(&mut facts, world);
            for (mode, f) in [
                ("diagnosis", with(facts.clone(), m.message)),
                ("preflight", preflight(facts)),
            ] {
                let d = judge(&f);
                if d.root_cause.code != m.code {
                    wrong.push(format!(
                        "{} on {world:?} ({mode}): {} instead of {}; fails: {}",
                        m.name,
                        d.root_cause.code,
                        m.code,
                        fails(&d).join("; ")
                    ));
                }
            }
        }
    }
    println!("generated worlds: {kinds} kinds of breakage on {cases} bases, each judged in diagnosis and preflight");
    assert!(cases >= 100);
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        first_of_each(&wrong).join("\n")
    );
}
