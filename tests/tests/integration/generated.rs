//! A sample of the generated worlds (`pulldoctor-core/src/generated_worlds.rs`) built for real in
//! moto and diagnosed end to end: the real collector through the SDK, then the engine, and the
//! real `pulldoctor preflight` binary on the same service. The unit suite judges every
//! combination on Facts; this proves that Facts collected from an account built the same way
//! lead to the same verdicts. Rows are chosen so that every value of every dimension moto can
//! build appears (network shape × egress form × role form).
//!
//! moto lacks `iam:SimulatePrincipalPolicy`, so the roles are judged from their policy documents
//! (moto's copies of the AWS managed policies), the path AWS takes when the simulator is denied.

use aws_sdk_ec2::types::{IpPermission, IpRange};
use pulldoctor::collect::Clients;
use pulldoctor::intake::{intake, Intake};
use pulldoctor::model::diagnosis::{Diagnosis, RootCause, Status};
use pulldoctor_tests::events::{messages, TaskEvent};
use pulldoctor_tests::{awsvpc, run_cli, WebAccount};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Nat,
    Endpoints,
    PublicIp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Egress {
    /// moto's default group: all traffic out.
    All,
    /// Only TCP 443 out, to anywhere.
    Https,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    TaskExecutionPolicy,
    ReadOnly,
    PullOnly,
    ScopedInline,
    /// The role may only get a token; the repository policy grants it the pull (same account).
    RepositoryGrant,
}

#[derive(Debug, Clone, Copy)]
struct Desc {
    shape: Shape,
    egress: Egress,
    role: Role,
}

/// Every value of every dimension, each pair of shape and role at least once where it matters.
const HEALTHY: [Desc; 6] = [
    Desc {
        shape: Shape::Nat,
        egress: Egress::All,
        role: Role::TaskExecutionPolicy,
    },
    Desc {
        shape: Shape::Nat,
        egress: Egress::Https,
        role: Role::RepositoryGrant,
    },
    Desc {
        shape: Shape::Endpoints,
        egress: Egress::All,
        role: Role::PullOnly,
    },
    Desc {
        shape: Shape::Endpoints,
        egress: Egress::Https,
        role: Role::ScopedInline,
    },
    Desc {
        shape: Shape::PublicIp,
        egress: Egress::All,
        role: Role::ReadOnly,
    },
    Desc {
        shape: Shape::PublicIp,
        egress: Egress::Https,
        role: Role::RepositoryGrant,
    },
];

const DAEMON_REFUSAL: &str = "CannotPullContainerError: Error response from daemon: pull access denied for {image}, repository does not exist or may require 'docker login'";

/// A built world: the account, the service's task definition, the task that failed.
struct Built {
    account: WebAccount,
    subnet: String,
    image: String,
    role_arn: Option<String>,
}

async fn build(desc: Desc) -> Built {
    let account = WebAccount::build().await;
    let role_arn = Some(role(&account, desc.role).await);
    let subnet = match desc.shape {
        Shape::Nat => account.net.subnet_id.clone(),
        Shape::Endpoints => {
            account.world.endpoints_only(&account.net, true, 443).await;
            account.net.subnet_id.clone()
        }
        Shape::PublicIp => account.net.public_subnet_id.clone(),
    };
    if desc.egress == Egress::Https {
        only_https_out(&account).await;
    }
    let image = account.image.clone();
    Built {
        account,
        subnet,
        image,
        role_arn,
    }
}

/// The role of `form`, created beside the account's default one (which has
/// AmazonECSTaskExecutionRolePolicy); returns its ARN.
async fn role(account: &WebAccount, form: Role) -> String {
    let w = &account.world;
    let tasks = "ecs-tasks.amazonaws.com";
    match form {
        Role::TaskExecutionPolicy => account.role_arn.clone(),
        Role::ReadOnly => {
            w.service_role("readOnly", tasks, &["AmazonEC2ContainerRegistryReadOnly"])
                .await
        }
        Role::PullOnly => {
            w.service_role("pullOnly", tasks, &["AmazonEC2ContainerRegistryPullOnly"])
                .await
        }
        Role::ScopedInline => {
            let arn = w.service_role("scoped", tasks, &[]).await;
            let repo_arn = w.arn("ecr", &format!("repository/{}", account.repo.name));
            w.inline_policy("scoped", "pull-team-web", &json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], "Resource": repo_arn}]}))
                .await;
            arn
        }
        Role::RepositoryGrant => {
            let arn = w.service_role("tokenOnly", tasks, &[]).await;
            w.inline_policy(
                "tokenOnly",
                "token",
                &json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]}),
            )
            .await;
            repository_policy(
                account,
                &json!({"Version": "2012-10-17", "Statement": [{
                "Sid": "PullForWeb", "Effect": "Allow", "Principal": {"AWS": arn},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]}),
            )
            .await;
            arn
        }
    }
}

async fn repository_policy(account: &WebAccount, policy: &Value) {
    account
        .world
        .ecr
        .set_repository_policy()
        .repository_name(&account.repo.name)
        .policy_text(policy.to_string())
        .send()
        .await
        .expect("SetRepositoryPolicy");
}

fn all_traffic() -> IpPermission {
    IpPermission::builder()
        .ip_protocol("-1")
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build()
}

/// The task group's egress narrowed to TCP 443 (anywhere).
async fn only_https_out(account: &WebAccount) {
    let ec2 = &account.world.ec2;
    let group = &account.net.security_group_id;
    no_egress(account).await;
    ec2.authorize_security_group_egress()
        .group_id(group)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .expect("AuthorizeSecurityGroupEgress");
}

async fn no_egress(account: &WebAccount) {
    account
        .world
        .ec2
        .revoke_security_group_egress()
        .group_id(&account.net.security_group_id)
        .ip_permissions(all_traffic())
        .send()
        .await
        .expect("RevokeSecurityGroupEgress");
}

impl Built {
    /// Service `web` runs `image` with the role (or none) from the world's subnet; returns the
    /// event of one of its tasks that failed with `message` (`{image}` is replaced).
    async fn failed_service_task(&self, message: &str) -> Value {
        let w = &self.account.world;
        let td = w
            .task_definition(&pulldoctor_tests::TaskDefSpec {
                family: "web".into(),
                container: "web".into(),
                image: self.image.clone(),
                execution_role_arn: self.role_arn.clone(),
            })
            .await;
        let public = self.subnet == self.account.net.public_subnet_id;
        let sg = &self.account.net.security_group_id;
        w.service_with("prod", "web", &td, awsvpc(&[&self.subnet], sg, public), 1)
            .await;
        let mut net = self.account.net.clone();
        net.subnet_id = self.subnet.clone();
        let task = w.unknown_task(&self.account.cluster_arn, &td, &net, "service:web");
        let message = message.replace("{image}", &self.image);
        TaskEvent::pull_failure(w, &task, "web", &self.image, &message).to_value()
    }

    async fn diagnose(&self, event: Value) -> (pulldoctor::model::facts::Facts, Diagnosis) {
        let Intake::PullFailure(failure) = intake(&event) else {
            panic!("not a pull failure: {event:#}")
        };
        let clients = Clients::new(&self.account.world.config);
        pulldoctor::engine::diagnose(&clients, &failure).await
    }

    /// `pulldoctor preflight` of service `web`, as a pipeline runs it: (exit code, failing codes).
    async fn preflight(&self) -> (Option<i32>, Vec<String>) {
        let args = [
            "preflight",
            "--cluster",
            "prod",
            "--service",
            "web",
            "--format",
            "json",
        ];
        let out = run_cli(&self.account.world.moto, &args).await;
        let report: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", out.stdout, out.stderr));
        let failing = report["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["status"] == "fail")
            .map(|f| format!("{}: {}", f["code"].as_str().unwrap_or("?"), f["title"]))
            .collect();
        (out.code, failing)
    }
}

fn timeout() -> String {
    messages::io_timeout(
        "{image}",
        "111122223333.dkr.ecr.us-east-1.amazonaws.com",
        "team/web",
        "v1",
    )
}

fn fails(d: &Diagnosis) -> Vec<String> {
    d.findings
        .iter()
        .filter(|f| f.status == Status::Fail)
        .map(|f| format!("{}: {}", f.code, f.title))
        .collect()
}

/// The same collected Facts judged with another message (the pure engine): what the account says
/// does not change with the words of the error.
fn rejudged(facts: &pulldoctor::model::facts::Facts, message: &str) -> Diagnosis {
    let mut f = facts.clone();
    f.failure.message = message.to_string();
    f.failure.classification = pulldoctor::classify::classify(message);
    pulldoctor::engine::judge(&f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sample_of_healthy_generated_worlds_draws_no_fail_in_moto() {
    let mut wrong = vec![];
    for desc in HEALTHY {
        let world = build(desc).await;
        let (facts, d) = world
            .diagnose(world.failed_service_task(&timeout()).await)
            .await;
        let refusal = DAEMON_REFUSAL.replace("{image}", &world.image);
        for (message, d) in [
            ("timeout", d),
            ("daemon refusal", rejudged(&facts, &refusal)),
        ] {
            if !fails(&d).is_empty() {
                wrong.push(format!("{desc:?} with the {message}: {:?}", fails(&d)));
            }
        }
        let (code, failing) = world.preflight().await;
        if code != Some(0) || !failing.is_empty() {
            wrong.push(format!("{desc:?} preflight exit {code:?}: {failing:?}"));
        }
    }
    println!(
        "generated worlds in moto: {} healthy worlds, diagnosis (2 messages) and preflight",
        HEALTHY.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// One documented breakage on a healthy base: the code both modes must name, and the message
/// ECS shows for it.
struct Breakage {
    name: &'static str,
    base: Desc,
    code: RootCause,
    message: fn() -> String,
}

fn breakages() -> Vec<Breakage> {
    use RootCause as R;
    let nat = Desc {
        shape: Shape::Nat,
        egress: Egress::All,
        role: Role::TaskExecutionPolicy,
    };
    let refusal = || DAEMON_REFUSAL.to_string();
    vec![
        Breakage {
            name: "default route deleted",
            base: nat,
            code: R::NetNoRoute,
            message: timeout,
        },
        Breakage {
            name: "no egress",
            base: Desc {
                shape: Shape::Endpoints,
                ..nat
            },
            code: R::NetTaskSgEgress,
            message: timeout,
        },
        Breakage {
            name: "tag never pushed",
            base: Desc {
                role: Role::PullOnly,
                ..nat
            },
            code: R::EcrImageNotFound,
            message: || messages::image_not_found("{image}"),
        },
        Breakage {
            name: "no execution role",
            base: nat,
            code: R::IamExecutionRoleMissing,
            message: refusal,
        },
        Breakage {
            name: "inline deny on the pull",
            base: Desc {
                shape: Shape::PublicIp,
                ..nat
            },
            code: R::IamExecutionRolePermissions,
            message: refusal,
        },
        Breakage {
            name: "repository policy denies the role",
            base: Desc {
                role: Role::ScopedInline,
                ..nat
            },
            code: R::EcrRepositoryPolicy,
            message: refusal,
        },
    ]
}

async fn break_it(world: &mut Built, b: &Breakage) {
    let a = &world.account;
    match b.code {
        RootCause::NetNoRoute => a.world.delete_default_route(&a.net.private_route_table_id).await,
        RootCause::NetTaskSgEgress => no_egress(a).await,
        RootCause::EcrImageNotFound => world.image = a.repo.image("v9"),
        RootCause::IamExecutionRoleMissing => world.role_arn = None,
        RootCause::IamExecutionRolePermissions => {
            let name = world.role_arn.as_deref().and_then(|r| r.rsplit('/').next()).unwrap();
            a.world
                .inline_policy(name, "deny-pull", &json!({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Deny", "Action": "ecr:BatchGetImage", "Resource": "*"}]}))
                .await;
        }
        RootCause::EcrRepositoryPolicy => {
            repository_policy(a, &json!({"Version": "2012-10-17", "Statement": [{
                "Sid": "NoPulls", "Effect": "Deny", "Principal": "*", "Action": "ecr:BatchGetImage"}]}))
            .await
        }
        other => panic!("no breakage for {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sample_of_generated_breakages_names_their_codes_in_moto() {
    let mut wrong = vec![];
    let all = breakages();
    for b in &all {
        let mut world = build(b.base).await;
        break_it(&mut world, b).await;
        let (_, d) = world
            .diagnose(world.failed_service_task(&(b.message)()).await)
            .await;
        if d.root_cause.code != b.code {
            wrong.push(format!(
                "{} (diagnosis): {} instead of {}; fails {:?}",
                b.name,
                d.root_cause.code,
                b.code,
                fails(&d)
            ));
        }
        let (code, failing) = world.preflight().await;
        if code != Some(3) || !failing.iter().any(|f| f.starts_with(b.code.code())) {
            wrong.push(format!(
                "{} (preflight): exit {code:?}, failing {failing:?}",
                b.name
            ));
        }
    }
    println!(
        "generated worlds in moto: {} breakages, each in diagnosis and preflight",
        all.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
