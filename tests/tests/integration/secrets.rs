//! Secrets at task start (issue 12) against moto with the real SDK: a task whose container
//! injects application secrets (`secrets[].valueFrom`) from Secrets Manager or SSM Parameter
//! Store stops with `ResourceInitializationError: unable to pull secrets or registry auth`, and the
//! diagnosis names the secret and the cause — or, when the secrets are healthy, blames none of them.
//!
//! moto has no `iam:SimulatePrincipalPolicy`: permissions are judged by the local evaluator over
//! the role's real documents (AWS managed policies loaded with `MOTO_IAM_LOAD_MANAGED_POLICIES`).
//! The event is the saved fixture retargeted at each world's task definition and message.

use aws_sdk_ecs::types::{ContainerDefinition, Secret};
use pulldoctor::collect::Clients;
use pulldoctor::intake::{intake, Intake};
use pulldoctor::model::diagnosis::{Diagnosis, Finding, RootCause, Status};
use pulldoctor_tests::{events, Launch, World};
use serde_json::{json, Value};

const DB_PASSWORD_VALUE: &str = "s3cr3t-VALUE-never-printed";

struct Ctx {
    world: World,
    image: String,
}

impl Ctx {
    /// A world with a cluster and an ECR image that exists (so only the secrets can be wrong).
    async fn new() -> Ctx {
        let world = World::new().await;
        world.cluster("prod").await;
        let repository = world.repository("team/web").await;
        let image = world.push_image(&repository, "v2", "web-v2").await;
        Ctx { world, image }
    }

    /// An execution role with the AWS managed execution policy and an optional inline policy.
    async fn role(&self, name: &str, inline: Option<Value>) -> String {
        let arn = self.world.execution_role(name).await;
        if let Some(doc) = inline {
            self.world.inline_policy(name, "secrets", &doc).await;
        }
        arn
    }

    /// A Fargate task definition whose container `web` injects `DB_PASSWORD` from `value_from`.
    async fn task_definition(&self, family: &str, role: &str, value_from: &str) -> String {
        let container = ContainerDefinition::builder()
            .name("web")
            .image(&self.image)
            .essential(true)
            .memory_reservation(512)
            .secrets(
                Secret::builder()
                    .name("DB_PASSWORD")
                    .value_from(value_from)
                    .build()
                    .unwrap(),
            )
            .build();
        self.world
            .register_task_definition(family, Some(role), Launch::Fargate, vec![container])
            .await
    }

    async fn diagnose(&self, task_definition: &str, message: &str) -> Diagnosis {
        let e = events::retargeted_fixture(task_definition, &self.image, message);
        let Intake::PullFailure(failure) = intake(&e) else {
            panic!("not diagnosed: {message}")
        };
        let clients = Clients::new(&self.world.config);
        pulldoctor::engine::diagnose(&clients, &failure).await.1
    }

    fn arn(&self, service: &str, resource: &str) -> String {
        self.world.arn(service, resource)
    }
}

/// The deciding finding, after checking the root cause; its title, evidence and remediation
/// contain every `needle`, and no output holds the secret's value.
fn decided<'a>(d: &'a Diagnosis, code: RootCause, needles: &[&str]) -> &'a Finding {
    assert_eq!(
        d.root_cause.code,
        code,
        "{}",
        serde_json::to_string_pretty(&d.findings).unwrap()
    );
    let f = d.deciding_finding().expect("deciding finding");
    let text = format!(
        "{} {} {}",
        f.title,
        f.evidence,
        f.remediation.as_deref().unwrap_or_default()
    );
    for n in needles {
        assert!(text.contains(n), "{code}: {n:?} missing from {text}");
    }
    no_value(d);
    f
}

fn no_value(d: &Diagnosis) {
    for format in [
        pulldoctor::report::Format::Text,
        pulldoctor::report::Format::Markdown,
        pulldoctor::report::Format::Json,
    ] {
        let out = pulldoctor::report::render(d, format);
        assert!(
            !out.contains(DB_PASSWORD_VALUE) && !out.contains("DB_PASSWORD"),
            "a secret value or variable name in the {format:?} report"
        );
    }
}

fn finding(d: &Diagnosis, code: RootCause) -> &Finding {
    d.findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} finding: {:#?}", d.findings))
}

/// An application secret in Secrets Manager that does not exist: SECRET_NOT_FOUND, naming it
/// (before issue 12 this ended as UNKNOWN: only registry credentials were looked at).
#[tokio::test]
async fn secrets_manager_secret_that_does_not_exist() {
    let c = Ctx::new().await;
    let read_all = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]});
    let role = c.role("exec", Some(read_all)).await;
    let secret = c.arn("secretsmanager", "secret:prod/db-AbCdEf");
    let td = c
        .task_definition("web", &role, &format!("{secret}:password::"))
        .await;
    let message = format!(
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret {secret} from secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified secret."
    );
    let d = c.diagnose(&td, &message).await;
    decided(
        &d,
        RootCause::SecretNotFound,
        &[
            "Secrets Manager secret prod/db-AbCdEf does not exist",
            "container web",
            "valueFrom",
        ],
    );
    assert_eq!(
        d.failure.category,
        pulldoctor::model::message::Category::RegistryCredentials
    );
}

/// An SSM parameter the execution role may not read (the managed execution policy grants no SSM
/// read): SECRET_ACCESS_DENIED naming the role, the action and the parameter. A parameter that
/// does not exist at all is SECRET_NOT_FOUND instead.
#[tokio::test]
async fn ssm_parameter_the_execution_role_may_not_read() {
    let c = Ctx::new().await;
    c.world
        .secure_parameter("/app/db-password", DB_PASSWORD_VALUE)
        .await;
    let role = c.role("execNoSsm", None).await;
    let td = c.task_definition("web", &role, "/app/db-password").await;
    let parameter = c.arn("ssm", "parameter/app/db-password");
    let message = format!(
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): AccessDeniedException: User: arn:aws:sts::{}:assumed-role/execNoSsm/17cb is not authorized to perform: ssm:GetParameters on resource: {parameter} because no identity-based policy allows the ssm:GetParameters action",
        c.world.account
    );
    let d = c.diagnose(&td, &message).await;
    let f = decided(
        &d,
        RootCause::SecretAccessDenied,
        &[
            "execNoSsm",
            "ssm:GetParameters",
            "/app/db-password",
            &format!("Allow ssm:GetParameters on {parameter}"),
        ],
    );
    assert!(
        f.evidence["evaluated_with"]
            .as_str()
            .unwrap()
            .starts_with("local evaluation"),
        "moto has no simulator"
    );
    assert_eq!(
        finding(&d, RootCause::SecretNotFound).status,
        Status::Pass,
        "the parameter exists"
    );

    let td = c.task_definition("web", &role, "/app/never-created").await;
    let message = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid ssm parameters: /app/never-created";
    let d = c.diagnose(&td, message).await;
    decided(
        &d,
        RootCause::SecretNotFound,
        &["SSM parameter /app/never-created does not exist"],
    );
}

/// Preflight is diagnosis without the message: the task that would start injects a Secrets
/// Manager secret that does not exist and an SSM parameter its role may not read. With no
/// message to name a step, both stores are judged, each with its own cause.
#[tokio::test]
async fn without_a_message_every_store_of_the_task_is_judged() {
    let c = Ctx::new().await;
    c.world
        .secure_parameter("/app/db-password", DB_PASSWORD_VALUE)
        .await;
    let role = c.role("execNoSsm", None).await;
    let secret = c.arn("secretsmanager", "secret:prod/api-key-AbCdEf");
    let container = ContainerDefinition::builder()
        .name("web")
        .image(&c.image)
        .essential(true)
        .memory_reservation(512)
        .secrets(
            Secret::builder()
                .name("API_KEY")
                .value_from(&secret)
                .build()
                .unwrap(),
        )
        .secrets(
            Secret::builder()
                .name("DB_PASSWORD")
                .value_from("/app/db-password")
                .build()
                .unwrap(),
        )
        .build();
    let td = c
        .world
        .register_task_definition("web", Some(&role), Launch::Fargate, vec![container])
        .await;
    let e = events::retargeted_fixture(&td, &c.image, "CannotPullContainerError: placeholder");
    let Intake::PullFailure(mut failure) = intake(&e) else {
        panic!("not a pull failure")
    };
    failure.message = String::new();
    let clients = Clients::new(&c.world.config);
    let (_, d) = pulldoctor::engine::diagnose(&clients, &failure).await;
    let missing = finding(&d, RootCause::SecretNotFound);
    assert_eq!(missing.status, Status::Fail, "{missing:#?}");
    assert!(missing.title.contains("prod/api-key"), "{}", missing.title);
    let denied = finding(&d, RootCause::SecretAccessDenied);
    assert_eq!(denied.status, Status::Fail, "{denied:#?}");
    assert!(
        denied.title.contains("/app/db-password"),
        "{}",
        denied.title
    );
    no_value(&d);
}

/// KMS decides with the key policy first: a role whose own policies allow the read and the
/// decrypt still cannot read a secret whose customer managed key's policy neither names it nor
/// lets IAM policies grant it; with the default key policy (the account's IAM decides) the same
/// role may.
#[tokio::test]
async fn the_key_policy_decides_before_the_roles_policies() {
    let c = Ctx::new().await;
    let account = c.world.account.clone();
    let read_and_decrypt = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "kms:Decrypt"], "Resource": "*"}]});
    let role = c.role("execKms", Some(read_and_decrypt)).await;
    let admins_only = json!({"Version": "2012-10-17", "Statement": [{"Sid": "KeyAdmins", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{account}:role/key-admin")}, "Action": "kms:*", "Resource": "*"}]});
    let delegating = json!({"Version": "2012-10-17", "Statement": [{"Sid": "EnableIAMUserPermissions", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{account}:root")}, "Action": "kms:*", "Resource": "*"}]});
    let message = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): AccessDeniedException: Access to KMS is not allowed";
    for (policy, name, want) in [
        (admins_only, "prod/locked", Status::Fail),
        (delegating, "prod/open", Status::Pass),
    ] {
        let key = c.world.kms_key(&policy).await;
        let secret = c.world.secret_with_key(name, DB_PASSWORD_VALUE, &key).await;
        let td = c.task_definition("web", &role, &secret).await;
        let d = c.diagnose(&td, message).await;
        let access = finding(&d, RootCause::SecretAccessDenied);
        assert_eq!(access.status, want, "{name}: {access:#?}");
        if want == Status::Fail {
            assert!(
                access.title.contains("key policy neither grants the role"),
                "{}",
                access.title
            );
            assert_eq!(d.root_cause.code, RootCause::SecretAccessDenied);
        }
        no_value(&d);
    }
}

/// Healthy secrets: the parameter and the secret exist and the role may read both; the task
/// stopped on an unreachable Parameter Store (no access-denied wording). No secrets check may fail.
#[tokio::test]
async fn healthy_secrets_are_not_blamed() {
    let c = Ctx::new().await;
    c.world
        .secure_parameter("/app/db-password", DB_PASSWORD_VALUE)
        .await;
    let grant = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": c.arn("ssm", "parameter/app/*")}]});
    let role = c.role("execWithSsm", Some(grant)).await;
    let td = c
        .task_definition("web", &role, &c.arn("ssm", "parameter/app/db-password"))
        .await;
    let message = "ResourceInitializationError: unable to pull secrets or registry auth: unable to retrieve secrets from ssm: The task cannot pull secrets from AWS Systems Manager. There is a connection issue between the task and AWS Systems Manager Parameter Store. Check your task network configuration. RequestCanceled: request context canceled caused by: context deadline exceeded";
    let d = c.diagnose(&td, message).await;
    assert_eq!(
        finding(&d, RootCause::SecretNotFound).status,
        Status::Pass,
        "{:#?}",
        d.findings
    );
    let access = finding(&d, RootCause::SecretAccessDenied);
    assert_eq!(access.status, Status::Pass, "{access:#?}");
    assert!(
        access
            .title
            .contains("execWithSsm may read /app/db-password"),
        "{}",
        access.title
    );
    assert!(
        d.findings.iter().all(|f| f.status != Status::Fail),
        "{}",
        serde_json::to_string_pretty(&d.findings).unwrap()
    );
    no_value(&d);
}

/// The secrets step timed out in a subnet without a NAT route whose VPC has every endpoint the
/// image needs (ecr.api, ecr.dkr, the S3 gateway) but none for `ssm`: NET_NO_ROUTE naming the
/// service and its endpoint (before, the path judged was the image's, which is healthy: UNKNOWN).
/// With an `ssm` endpoint the same failure blames no part of the path.
#[tokio::test]
async fn parameter_store_unreachable_from_an_endpoints_only_subnet() {
    use pulldoctor_tests::events::TaskEvent;

    let c = Ctx::new().await;
    let w = &c.world;
    let net = w.network().await;
    let cluster_arn = format!("arn:aws:ecs:{}:{}:cluster/prod", w.region, w.account);
    w.secure_parameter("/app/db-password", DB_PASSWORD_VALUE)
        .await;
    let grant = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": c.arn("ssm", "parameter/app/*")}]});
    let role = c.role("execWithSsm", Some(grant)).await;
    let td = c.task_definition("web", &role, "/app/db-password").await;
    w.service("prod", "web", &td, &net).await;
    let task = w.unknown_task(&cluster_arn, &td, &net, "service:web");

    // No NAT route; the image's endpoints, with a security group admitting 443 from the task.
    let (sg, _) = w.endpoints_only(&net, true, 443).await;

    let message = "ResourceInitializationError: unable to pull secrets or registry auth: unable to retrieve secrets from ssm: The task cannot pull secrets from AWS Systems Manager. There is a connection issue between the task and AWS Systems Manager Parameter Store. Check your task network configuration. RequestCanceled: request context canceled caused by: context deadline exceeded";
    let diagnose = || async {
        let event = TaskEvent::pull_failure(w, &task, "web", &c.image, message).to_value();
        let Intake::PullFailure(failure) = intake(&event) else {
            panic!("not diagnosed: {event}")
        };
        pulldoctor::engine::diagnose(&Clients::new(&w.config), &failure)
            .await
            .1
    };
    let d = diagnose().await;
    decided(
        &d,
        RootCause::NetNoRoute,
        &[
            &net.subnet_id,
            "SSM Parameter Store (ssm.us-east-1.amazonaws.com)",
            "com.amazonaws.us-east-1.ssm",
            "NAT gateway",
        ],
    );

    w.interface_endpoint(&net, "ssm", &sg, true).await;
    let d = diagnose().await;
    assert!(
        d.findings.iter().all(|f| f.status != Status::Fail),
        "{}",
        serde_json::to_string_pretty(&d.findings).unwrap()
    );
    let route = finding(&d, RootCause::NetNoRoute);
    assert!(
        route
            .title
            .contains("reaches SSM Parameter Store through VPC endpoint"),
        "{}",
        route.title
    );
}
