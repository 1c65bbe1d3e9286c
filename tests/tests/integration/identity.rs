//! Identity and registry worlds (issue 3) against moto with the real SDK: each world has exactly
//! one thing wrong in who pulls, whether they may, or what is pulled, and the diagnosis must name
//! it with evidence. The event is the saved fixture with the task definition, image and message
//! of the world; the task itself is older than the `DescribeTasks` window, so the event's copy is
//! used (that keeps these worlds independent of moto's RunTask).
//!
//! moto gaps these worlds work around (see also the unit tests that cover what moto cannot):
//! * `iam:SimulatePrincipalPolicy` is not implemented (HTTP 500): every world exercises the
//!   fallback to the local evaluator over the real AWS managed policy documents
//!   (`MOTO_IAM_LOAD_MANAGED_POLICIES=true`). The simulator path is tested with smithy mocks.
//! * ECR reads ignore `registryId` for other accounts: the cross-account worlds put the *task's*
//!   execution role in another account instead (its ARN names account 444455556666, the role is
//!   read by name), which makes the repository account differ from the role's account exactly as
//!   in a real cross-account pull.
//! * `ecr:GetDownloadUrlForLayer` answers HTTP 500, so single-manifest config blobs cannot be read
//!   (pulldoctor does not read them anyway); `DescribeImages` reports a wrong `imageSizeInBytes`,
//!   so the disk world relies on the layer sizes in the manifest (which pulldoctor prefers).

use pulldoctor::collect::Clients;
use pulldoctor::intake::{intake, Intake};
use pulldoctor::model::diagnosis::{Diagnosis, Finding, RootCause, Status};
use pulldoctor_tests::{events, Launch, World, EXECUTION_ROLE_POLICY_ARN};
use serde_json::{json, Value};

const READ_ONLY: &str = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly";
/// moto 5.2.1 ships AWS's document for this policy (v1: GetAuthorizationToken, BatchGetImage,
/// GetDownloadUrlForLayer, BatchImportUpstreamImage — no BatchCheckLayerAvailability).
const PULL_ONLY: &str = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly";

fn manifest(seed: &str, layer_bytes: i64) -> String {
    let digest = |s: &str| pulldoctor_tests::sha256_digest(s.as_bytes());
    json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 100, "digest": digest(&format!("{seed}-config"))},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": layer_bytes, "digest": digest(&format!("{seed}-layer"))}]})
    .to_string()
}

struct Ctx {
    world: World,
    registry: String,
}

impl Ctx {
    async fn new() -> Ctx {
        let world = World::new().await;
        world.cluster("prod").await;
        let registry = world.registry();
        Ctx { world, registry }
    }

    /// A role trusted by `service`, with managed policies and an optional inline policy.
    async fn role(
        &self,
        name: &str,
        service: &str,
        managed: &[&str],
        inline: Option<(&str, Value)>,
    ) -> String {
        let arn = self.world.service_role(name, service, managed).await;
        if let Some((policy, doc)) = inline {
            self.world.inline_policy(name, policy, &doc).await;
        }
        arn
    }

    async fn repository(&self, name: &str, tag: &str, layer_bytes: i64) -> String {
        self.world.repository(name).await;
        self.push(name, tag, &format!("{name}:{tag}"), layer_bytes)
            .await;
        format!("{}/{name}:{tag}", self.registry)
    }

    async fn push(&self, repo: &str, tag: &str, seed: &str, layer_bytes: i64) -> String {
        self.world
            .push_manifest(repo, tag, &manifest(seed, layer_bytes), None)
            .await
    }

    /// A Fargate task definition (or EC2 with `bridge` when `ec2`).
    async fn task_definition(
        &self,
        family: &str,
        image: &str,
        role: Option<&str>,
        ec2: bool,
        arm64: bool,
        secret: Option<&str>,
    ) -> String {
        use aws_sdk_ecs::types::{ContainerDefinition, RepositoryCredentials};
        // moto wants a container-level memory for EC2 task definitions (no task-level memory there).
        let mut container = ContainerDefinition::builder()
            .name("web")
            .image(image)
            .essential(true);
        container = if ec2 {
            container.memory(512)
        } else {
            container.memory_reservation(512)
        };
        if let Some(s) = secret {
            container = container.repository_credentials(
                RepositoryCredentials::builder()
                    .credentials_parameter(s)
                    .build()
                    .unwrap(),
            );
        }
        let launch = match (ec2, arm64) {
            (true, _) => Launch::Ec2Bridge,
            (false, true) => Launch::FargateArm64,
            (false, false) => Launch::Fargate,
        };
        self.world
            .register_task_definition(family, role, launch, vec![container.build()])
            .await
    }

    /// The saved fixture, retargeted at this world's task definition, image and message.
    fn event(
        &self,
        task_definition: &str,
        image: &str,
        message: &str,
        container_instance: Option<&str>,
    ) -> Value {
        let mut e = events::retargeted_fixture(task_definition, image, message);
        if let Some(ci) = container_instance {
            let d = &mut e["detail"];
            d["launchType"] = json!("EC2");
            d["containerInstanceArn"] = json!(ci);
            d.as_object_mut().unwrap().remove("attachments");
        }
        e
    }

    async fn diagnose(&self, event: Value) -> Diagnosis {
        let Intake::PullFailure(failure) = intake(&event) else {
            panic!("not a pull failure: {event}")
        };
        let clients = Clients::new(&self.world.config);
        pulldoctor::engine::diagnose(&clients, &failure).await.1
    }
}

fn forbidden(registry: &str, image: &str) -> String {
    events::messages::forbidden(image, registry, "v1")
}

/// The deciding finding, after checking the root cause; its title, evidence and remediation
/// must contain every `needle`.
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
    f
}

fn healthy(d: &Diagnosis) {
    assert_eq!(
        d.root_cause.code,
        RootCause::Unknown,
        "{}",
        serde_json::to_string_pretty(&d.findings).unwrap()
    );
    assert!(d.findings.iter().all(|f| f.status != Status::Fail));
}

#[tokio::test]
async fn role_without_ecr_permissions() {
    let c = Ctx::new().await;
    let image = c.repository("team/web", "v1", 1000).await;
    let logs = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]});
    let role = c
        .role(
            "noEcr",
            "ecs-tasks.amazonaws.com",
            &[],
            Some(("logs", logs)),
        )
        .await;
    let td = c
        .task_definition("web", &image, Some(&role), false, false, None)
        .await;
    let d = c
        .diagnose(c.event(&td, &image, &forbidden(&c.registry, &image), None))
        .await;
    let f = decided(
        &d,
        RootCause::IamExecutionRolePermissions,
        &[
            "noEcr",
            "ecr:BatchGetImage",
            "AmazonECSTaskExecutionRolePolicy",
        ],
    );
    assert!(
        f.evidence["evaluated_with"]
            .as_str()
            .unwrap()
            .starts_with("local evaluation"),
        "moto has no simulator"
    );
    assert!(d.aws_calls >= 5, "{}", d.aws_calls);
}

#[tokio::test]
async fn role_with_explicit_deny_and_the_healthy_twin() {
    let c = Ctx::new().await;
    let image = c.repository("team/web", "v1", 1000).await;
    let good = c
        .role(
            "good",
            "ecs-tasks.amazonaws.com",
            &[EXECUTION_ROLE_POLICY_ARN],
            None,
        )
        .await;
    let td = c
        .task_definition("good", &image, Some(&good), false, false, None)
        .await;
    healthy(
        &c.diagnose(c.event(&td, &image, &forbidden(&c.registry, &image), None))
            .await,
    );

    let deny = json!({"Version": "2012-10-17", "Statement": [{"Sid": "NoPull", "Effect": "Deny", "Action": "ecr:BatchGetImage", "Resource": "*"}]});
    let role = c
        .role(
            "denied",
            "ecs-tasks.amazonaws.com",
            &[EXECUTION_ROLE_POLICY_ARN],
            Some(("deny-pull", deny)),
        )
        .await;
    let td = c
        .task_definition("web", &image, Some(&role), false, false, None)
        .await;
    let d = c
        .diagnose(c.event(&td, &image, &forbidden(&c.registry, &image), None))
        .await;
    decided(
        &d,
        RootCause::IamExecutionRolePermissions,
        &["inline policy deny-pull statement NoPull", "denied"],
    );
}

#[tokio::test]
async fn role_trusted_by_the_wrong_service_and_deleted_role() {
    let c = Ctx::new().await;
    let image = c.repository("team/web", "v1", 1000).await;
    let message = format!("CannotPullContainerError: Error response from daemon: Get https://{}/v2/team/web/manifests/v1: no basic auth credentials", c.registry);
    let role = c
        .role(
            "wrongTrust",
            "ecs.amazonaws.com",
            &[EXECUTION_ROLE_POLICY_ARN],
            None,
        )
        .await;
    let td = c
        .task_definition("web", &image, Some(&role), false, false, None)
        .await;
    let d = c.diagnose(c.event(&td, &image, &message, None)).await;
    decided(
        &d,
        RootCause::IamExecutionRoleTrust,
        &[
            "wrongTrust",
            "trusts ecs.amazonaws.com, not ecs-tasks.amazonaws.com",
        ],
    );

    let gone = c.role("gone", "ecs-tasks.amazonaws.com", &[], None).await;
    c.world
        .iam
        .delete_role()
        .role_name("gone")
        .send()
        .await
        .expect("DeleteRole");
    let td = c
        .task_definition("gone", &image, Some(&gone), false, false, None)
        .await;
    let d = c
        .diagnose(c.event(&td, &image, &forbidden(&c.registry, &image), None))
        .await;
    decided(
        &d,
        RootCause::IamExecutionRoleTrust,
        &["The execution role gone does not exist", "NoSuchEntity"],
    );
}

#[tokio::test]
async fn ec2_instance_role_without_registry_read_only() {
    let c = Ctx::new().await;
    let image = c.repository("team/web", "v1", 1000).await;
    let ssm = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:*", "Resource": "*"}]});
    c.role(
        "ecsInstanceRole",
        "ec2.amazonaws.com",
        &[],
        Some(("ssm", ssm)),
    )
    .await;
    c.world
        .instance_profile("ecsInstanceProfile", "ecsInstanceRole")
        .await;
    // A working network (private subnet behind a NAT gateway), so only the role is wrong.
    let net = c.world.network().await;
    let (_, ci) = c
        .world
        .container_instance(
            "prod",
            &net.subnet_id,
            &net.security_group_id,
            "ecsInstanceProfile",
        )
        .await;
    let td = c
        .task_definition("web", &image, None, true, false, None)
        .await;
    let event = c.event(&td, &image, &forbidden(&c.registry, &image), Some(&ci));
    let d = c.diagnose(event.clone()).await;
    decided(
        &d,
        RootCause::IamInstanceRolePermissions,
        &[
            "container instance role ecsInstanceRole",
            "AmazonEC2ContainerRegistryReadOnly",
        ],
    );

    c.world
        .iam
        .attach_role_policy()
        .role_name("ecsInstanceRole")
        .policy_arn(READ_ONLY)
        .send()
        .await
        .expect("AttachRolePolicy");
    healthy(&c.diagnose(event).await);
}

#[tokio::test]
async fn repository_policy_deny() {
    let c = Ctx::new().await;
    let image = c.repository("team/locked", "v1", 1000).await;
    let role = c
        .role(
            "exec",
            "ecs-tasks.amazonaws.com",
            &[EXECUTION_ROLE_POLICY_ARN],
            None,
        )
        .await;
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Sid": "NoExec", "Effect": "Deny", "Principal": {"AWS": role},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]});
    c.world
        .ecr
        .set_repository_policy()
        .repository_name("team/locked")
        .policy_text(policy.to_string())
        .send()
        .await
        .expect("SetRepositoryPolicy");
    let td = c
        .task_definition("web", &image, Some(&role), false, false, None)
        .await;
    let d = c
        .diagnose(c.event(&td, &image, &forbidden(&c.registry, &image), None))
        .await;
    decided(
        &d,
        RootCause::EcrRepositoryPolicy,
        &["team/locked", "NoExec"],
    );
}

#[tokio::test]
async fn cross_account_repository_without_and_with_grant() {
    let c = Ctx::new().await;
    let image = c.repository("shared/app", "v1", 1000).await;
    c.role(
        "crossRole",
        "ecs-tasks.amazonaws.com",
        &[EXECUTION_ROLE_POLICY_ARN],
        None,
    )
    .await;
    let td = c
        .task_definition(
            "web",
            &image,
            Some("arn:aws:iam::444455556666:role/crossRole"),
            false,
            false,
            None,
        )
        .await;
    let event = c.event(&td, &image, &forbidden(&c.registry, &image), None);
    let d = c.diagnose(event.clone()).await;
    decided(
        &d,
        RootCause::EcrRepositoryPolicy,
        &[
            "444455556666",
            "arn:aws:iam::444455556666:role/crossRole",
            "ecr:BatchGetImage",
        ],
    );

    let grant = json!({"Version": "2012-10-17", "Statement": [{"Sid": "ProdPull", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]}]});
    c.world
        .ecr
        .set_repository_policy()
        .repository_name("shared/app")
        .policy_text(grant.to_string())
        .send()
        .await
        .expect("SetRepositoryPolicy");
    healthy(&c.diagnose(event).await);
}

/// Expired, with the evidence: the service's deployment pinned v1 to a digest (ECS resolves the
/// tag once per deployment and the event carries `imageDigest`), that digest is gone, and the
/// "keep last 3" rule has three other v* images to keep. moto does not run lifecycle policies:
/// the test deletes v1 as the rule would have.
#[tokio::test]
async fn lifecycle_expired_tag() {
    let c = Ctx::new().await;
    let v1 = c.repository("team/old", "v1", 1000).await;
    let v1_digest = c
        .world
        .ecr
        .describe_images()
        .repository_name("team/old")
        .send()
        .await
        .expect("DescribeImages")
        .image_details()[0]
        .image_digest()
        .unwrap()
        .to_string();
    for tag in ["v2", "v3", "v4"] {
        c.push("team/old", tag, &format!("team/old:{tag}"), 1000)
            .await;
    }
    let rules = json!({"rules": [{"rulePriority": 1, "description": "keep last 3 releases",
        "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"], "countType": "imageCountMoreThan", "countNumber": 3},
        "action": {"type": "expire"}}]});
    c.world
        .ecr
        .put_lifecycle_policy()
        .repository_name("team/old")
        .lifecycle_policy_text(rules.to_string())
        .send()
        .await
        .expect("PutLifecyclePolicy");
    c.world
        .ecr
        .batch_delete_image()
        .repository_name("team/old")
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_digest(&v1_digest)
                .build(),
        )
        .send()
        .await
        .expect("BatchDeleteImage");
    let image = v1;
    let role = c
        .role(
            "exec",
            "ecs-tasks.amazonaws.com",
            &[EXECUTION_ROLE_POLICY_ARN],
            None,
        )
        .await;
    let td = c
        .task_definition("web", &image, Some(&role), false, false, None)
        .await;
    let mut event = c.event(
        &td,
        &image,
        &events::messages::image_not_found(&image),
        None,
    );
    event["detail"]["containers"][0]["imageDigest"] = json!(v1_digest);
    let d = c.diagnose(event).await;
    let f = decided(
        &d,
        RootCause::EcrImageExpired,
        &[
            "rule 1",
            "keeps only the 3 most recent images tagged v*",
            "keep last 3 releases",
        ],
    );
    assert_eq!(f.evidence["rule"]["selection"]["countNumber"], 3);
}

/// A typo'd tag in a repository with an ordinary "keep the last 30" rule is a missing image, not
/// an expired one: nothing shows the tag ever existed, and with three images the rule has had
/// nothing to expire. (Before evidence was required this was ECR_IMAGE_EXPIRED.)
#[tokio::test]
async fn typo_in_tag_with_a_keep_last_30_rule_is_not_expired() {
    let c = Ctx::new().await;
    c.repository("team/api", "v1.0", 1000).await;
    c.push("team/api", "v1.1", "team/api:v1.1", 1000).await;
    c.push("team/api", "v1.2", "team/api:v1.2", 1000).await;
    let rules = json!({"rules": [{"rulePriority": 1, "description": "keep last 30",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30}, "action": {"type": "expire"}}]});
    c.world
        .ecr
        .put_lifecycle_policy()
        .repository_name("team/api")
        .lifecycle_policy_text(rules.to_string())
        .send()
        .await
        .expect("PutLifecyclePolicy");
    let image = format!("{}/team/api:v1.l", c.registry);
    let role = c
        .role(
            "exec",
            "ecs-tasks.amazonaws.com",
            &[EXECUTION_ROLE_POLICY_ARN],
            None,
        )
        .await;
    let td = c
        .task_definition("api", &image, Some(&role), false, false, None)
        .await;
    let d = c
        .diagnose(c.event(
            &td,
            &image,
            &events::messages::image_not_found(&image),
            None,
        ))
        .await;
    decided(
        &d,
        RootCause::EcrImageNotFound,
        &["Tag v1.l does not exist in team/api"],
    );
    let expired = d
        .findings
        .iter()
        .find(|f| f.code == RootCause::EcrImageExpired)
        .expect("the lifecycle rule is shown");
    assert_eq!(expired.status, Status::Pass, "{expired:#?}");
    assert!(
        expired
            .title
            .contains("cannot have removed tag v1.l: only 3 images match it and it keeps 30"),
        "{}",
        expired.title
    );
}

#[tokio::test]
async fn arm64_task_with_an_amd64_only_manifest_list() {
    let c = Ctx::new().await;
    c.world
        .ecr
        .create_repository()
        .repository_name("team/multi")
        .send()
        .await
        .expect("CreateRepository");
    let child = c.push("team/multi", "amd64", "multi-amd64", 1000).await;
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 500, "digest": child,
            "platform": {"architecture": "amd64", "os": "linux"}}]});
    c.world
        .ecr
        .put_image()
        .repository_name("team/multi")
        .image_manifest(index.to_string())
        .image_manifest_media_type("application/vnd.docker.distribution.manifest.list.v2+json")
        .image_tag("v1")
        .send()
        .await
        .expect("PutImage index");
    let image = format!("{}/team/multi:v1", c.registry);
    let role = c
        .role(
            "exec",
            "ecs-tasks.amazonaws.com",
            &[EXECUTION_ROLE_POLICY_ARN],
            None,
        )
        .await;
    let td = c
        .task_definition("web", &image, Some(&role), false, true, None)
        .await;
    let message = "CannotPullContainerError: pull image manifest has been retried 1 time(s): no matching manifest for linux/arm64/v8 in the manifest list entries";
    let d = c.diagnose(c.event(&td, &image, message, None)).await;
    let f = decided(
        &d,
        RootCause::ImagePlatformMismatch,
        &["linux/amd64", "linux/arm64", "X86_64"],
    );
    assert_eq!(f.evidence["image_platforms"], json!(["linux/amd64"]));
}

#[tokio::test]
async fn ephemeral_storage_message_with_a_large_image() {
    let c = Ctx::new().await;
    let image = c.repository("team/big", "v1", 18 << 30).await;
    let role = c
        .role(
            "exec",
            "ecs-tasks.amazonaws.com",
            &[EXECUTION_ROLE_POLICY_ARN],
            None,
        )
        .await;
    let td = c
        .task_definition("web", &image, Some(&role), false, false, None)
        .await;
    let message = "CannotPullContainerError: failed to register layer: Error processing tar file(exit status 1): write /opt/model.bin: no space left on device";
    let d = c.diagnose(c.event(&td, &image, message, None)).await;
    let f = decided(
        &d,
        RootCause::StorageEphemeral,
        &["20 GiB", "sizeInGiB to at least 57"],
    );
    assert_eq!(f.evidence["image_compressed_bytes"], json!(18_i64 << 30));
}

#[tokio::test]
async fn docker_hub_rate_limit() {
    let c = Ctx::new().await;
    let role = c
        .role(
            "exec",
            "ecs-tasks.amazonaws.com",
            &[EXECUTION_ROLE_POLICY_ARN],
            None,
        )
        .await;
    let td = c
        .task_definition("web", "nginx:1.25", Some(&role), false, false, None)
        .await;
    let message = "CannotPullContainerError: Error response from daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit";
    let d = c.diagnose(c.event(&td, "nginx:1.25", message, None)).await;
    decided(
        &d,
        RootCause::RegistryRateLimit,
        &["Docker Hub", "pull-through cache"],
    );
    assert!(
        d.aws_calls <= 3,
        "a Docker Hub rate limit needs no ECR or IAM reads beyond the role: {}",
        d.aws_calls
    );
}

#[tokio::test]
async fn private_registry_secret_missing_a_key_or_not_permitted() {
    const USER: &str = "bot-user-SENSITIVE-1";
    const PASSWORD: &str = "pw-SENSITIVE-2";
    let c = Ctx::new().await;
    let sm = aws_sdk_secretsmanager::Client::new(&c.world.config);
    let image = "ghcr.io/acme/app:1";
    let message = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret";

    let half = sm
        .create_secret()
        .name("ghcr-half")
        .secret_string(json!({"username": USER}).to_string())
        .send()
        .await
        .expect("CreateSecret")
        .arn
        .unwrap();
    let read = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": half}]});
    let role = c
        .role(
            "reader",
            "ecs-tasks.amazonaws.com",
            &[EXECUTION_ROLE_POLICY_ARN],
            Some(("secret", read)),
        )
        .await;
    let td = c
        .task_definition("half", image, Some(&role), false, false, Some(&half))
        .await;
    let d = c.diagnose(c.event(&td, image, message, None)).await;
    decided(
        &d,
        RootCause::IamRegistrySecret,
        &["ghcr-half", "no password key"],
    );
    let text = serde_json::to_string(&d).unwrap();
    assert!(
        !text.contains(USER),
        "the secret's value leaked into the diagnosis"
    );

    let full = sm
        .create_secret()
        .name("ghcr-full")
        .secret_string(json!({"username": USER, "password": PASSWORD}).to_string())
        .send()
        .await
        .expect("CreateSecret")
        .arn
        .unwrap();
    let role = c
        .role(
            "notReader",
            "ecs-tasks.amazonaws.com",
            &[EXECUTION_ROLE_POLICY_ARN],
            None,
        )
        .await;
    let td = c
        .task_definition("full", image, Some(&role), false, false, Some(&full))
        .await;
    let d = c.diagnose(c.event(&td, image, message, None)).await;
    decided(
        &d,
        RootCause::IamRegistrySecret,
        &[
            "notReader",
            "may not secretsmanager:GetSecretValue",
            "ghcr-full",
        ],
    );
    for format in [
        pulldoctor::report::Format::Text,
        pulldoctor::report::Format::Markdown,
        pulldoctor::report::Format::Json,
    ] {
        let out = pulldoctor::report::render(&d, format);
        assert!(
            !out.contains(USER) && !out.contains(PASSWORD),
            "secret value in {format:?} report"
        );
    }
}

/// One execution role per AWS managed policy people attach for pulls: each is enough, so a pull
/// failure on any of them is not blamed on IAM. Then a role in another account with the pull-only
/// policy, and a repository policy granting exactly the pull actions: healthy too.
#[tokio::test]
async fn every_managed_pull_policy_is_enough() {
    let c = Ctx::new().await;
    let image = c.repository("team/web", "v1", 1000).await;
    for (name, policy) in [
        ("withExecPolicy", EXECUTION_ROLE_POLICY_ARN),
        ("withReadOnly", READ_ONLY),
        ("withPullOnly", PULL_ONLY),
    ] {
        let role = c
            .role(name, "ecs-tasks.amazonaws.com", &[policy], None)
            .await;
        let td = c
            .task_definition(name, &image, Some(&role), false, false, None)
            .await;
        let d = c
            .diagnose(c.event(&td, &image, &forbidden(&c.registry, &image), None))
            .await;
        healthy(&d);
        let permissions = d
            .findings
            .iter()
            .find(|f| f.code == RootCause::IamExecutionRolePermissions)
            .expect("permissions judged");
        assert_eq!(permissions.status, Status::Pass, "{name}: {permissions:?}");
        assert!(
            permissions.title.contains(name),
            "{name}: {}",
            permissions.title
        );
    }

    let shared = c.repository("shared/pull", "v1", 1000).await;
    c.role(
        "crossPullOnly",
        "ecs-tasks.amazonaws.com",
        &[PULL_ONLY],
        None,
    )
    .await;
    let grant = json!({"Version": "2012-10-17", "Statement": [{"Sid": "PullOnly", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::444455556666:role/crossPullOnly"},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]});
    c.world
        .ecr
        .set_repository_policy()
        .repository_name("shared/pull")
        .policy_text(grant.to_string())
        .send()
        .await
        .expect("SetRepositoryPolicy");
    let td = c
        .task_definition(
            "cross",
            &shared,
            Some("arn:aws:iam::444455556666:role/crossPullOnly"),
            false,
            false,
            None,
        )
        .await;
    let d = c
        .diagnose(c.event(&td, &shared, &forbidden(&c.registry, &shared), None))
        .await;
    healthy(&d);
    let repo = d
        .findings
        .iter()
        .find(|f| f.code == RootCause::EcrRepositoryPolicy)
        .expect("repository policy judged");
    assert!(repo.title.contains("grants the pull"), "{}", repo.title);
}
