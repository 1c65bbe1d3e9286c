//! The identity and registry worlds of issue 3, judged end to end (checks + rank) from hand-built
//! snapshots: each yields the right root cause with evidence naming the role, policy, statement
//! or rule. The same worlds run against moto in `tests/tests/identity.rs`.

use serde_json::json;

use crate::checks::ecr::fixtures::{image, not_found};
use crate::checks::iam::identity_fixtures::*;
use crate::classify::classify;
use crate::model::diagnosis::{Confidence, Diagnosis, RootCause};
use crate::engine::judge;
use crate::model::facts::{ErrorKind, Fact, Facts, ImageFacts, LaunchType, ManifestFacts, PlatformFacts, RoleFacts, SecretFacts, SecretShape, SimulationResult};
use crate::model::image_ref::ImageRef;

const MANIFEST_403: &str = "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1: pulling from host 111122223333.dkr.ecr.us-east-1.amazonaws.com failed with status code [manifests v1]: 403 Forbidden";

fn with_message(mut f: Facts, message: &str) -> Facts {
    f.failure.message = message.into();
    f.failure.classification = classify(message);
    f
}

fn set_image(f: &mut Facts, image: &str) {
    f.failure.image = Some(image.into());
    f.failure.image_ref = ImageRef::parse(image).ok();
}

fn local(f: &mut Facts, policies: Vec<crate::model::facts::PolicyFacts>) {
    f.identity.pull_simulation = Fact::Unreadable { reason: "UnknownError: iam:SimulatePrincipalPolicy".into(), kind: ErrorKind::Other };
    if let Fact::Found { value } = &mut f.identity.execution_role {
        value.policies = Fact::found(policies);
    }
}

fn deciding(d: &Diagnosis) -> &crate::model::diagnosis::Finding {
    d.deciding_finding().unwrap_or_else(|| panic!("no deciding finding: {:?}", d.root_cause))
}

fn assert_root(d: &Diagnosis, code: RootCause, evidence: &[&str]) {
    assert_eq!(d.root_cause.code, code, "{:#?}", d.findings);
    let f = deciding(d);
    let text = format!("{} {} {}", f.title, f.evidence, f.remediation.as_deref().unwrap_or(""));
    for e in evidence {
        assert!(text.contains(e), "{code}: evidence lacks {e:?}: {text}");
    }
}

#[test]
fn role_without_ecr_permissions() {
    let mut f = with_message(world(), MANIFEST_403);
    local(&mut f, vec![inline("logs", json!({"Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}))]);
    let d = judge(&f);
    assert_root(&d, RootCause::IamExecutionRolePermissions, &["ecsTaskExecutionRole", "ecr:BatchGetImage", "AmazonECSTaskExecutionRolePolicy"]);
    assert_eq!(d.root_cause.confidence, Confidence::High);
}

#[test]
fn role_with_explicit_deny() {
    let mut f = with_message(world(), MANIFEST_403);
    let deny = inline("no-ecr", json!({"Statement": [{"Sid": "DenyEcr", "Effect": "Deny", "Action": "ecr:*", "Resource": "*"}]}));
    local(&mut f, vec![execution_policy(), deny]);
    assert_root(&judge(&f), RootCause::IamExecutionRolePermissions, &["inline policy no-ecr statement DenyEcr"]);
}

#[test]
fn role_trusted_by_the_wrong_service() {
    let mut f = with_message(world(), "ECS was unable to assume the role 'arn:aws:iam::111122223333:role/ecsTaskExecutionRole' that was provided for this task.");
    f.identity.execution_role = Fact::found(RoleFacts { trust_policy: Some(trust("ec2.amazonaws.com")), ..role(ROLE) });
    let d = judge(&f);
    assert_root(&d, RootCause::IamExecutionRoleTrust, &["ec2.amazonaws.com", "ecs-tasks.amazonaws.com"]);
}

#[test]
fn deleted_role() {
    let mut f = with_message(world(), MANIFEST_403);
    f.identity.execution_role = Fact::NotFound { detail: "NoSuchEntity".into() };
    f.identity.pull_simulation = Fact::NotCollected { reason: "role missing".into() };
    assert_root(&judge(&f), RootCause::IamExecutionRoleTrust, &["does not exist", "ecsTaskExecutionRole"]);
}

#[test]
fn ec2_instance_role_without_registry_access() {
    let mut f = with_message(world(), MANIFEST_403);
    f.task.launch_type = Some("EC2".into());
    if let Fact::Found { value } = &mut f.task_definition {
        value.execution_role_arn = None;
    }
    f.identity.execution_role = Fact::NotCollected { reason: "none".into() };
    let mut r = role("arn:aws:iam::111122223333:role/ecsInstanceRole");
    r.policies = Fact::found(vec![inline("ssm", json!({"Statement": [{"Effect": "Allow", "Action": "ssm:*", "Resource": "*"}]}))]);
    f.identity.instance_role = Fact::found(r);
    f.identity.pull_simulation = Fact::Unreadable { reason: "UnknownError: iam:SimulatePrincipalPolicy".into(), kind: ErrorKind::Other };
    assert_root(&judge(&f), RootCause::IamInstanceRolePermissions, &["ecsInstanceRole", "AmazonEC2ContainerRegistryReadOnly"]);
}

#[test]
fn repository_policy_deny() {
    let mut f = with_message(world(), MANIFEST_403);
    f.identity.repository_policy = Fact::found(json!({"Statement": [{"Sid": "NoExecRole", "Effect": "Deny",
        "Principal": {"AWS": ROLE}, "Action": "ecr:BatchGetImage"}]}));
    assert_root(&judge(&f), RootCause::EcrRepositoryPolicy, &["NoExecRole", "team/app"]);
}

#[test]
fn cross_account_repository_with_and_without_grant() {
    let image = "999988887777.dkr.ecr.us-east-1.amazonaws.com/team/app:v1";
    let mut f = with_message(world(), &MANIFEST_403.replace("111122223333", "999988887777"));
    set_image(&mut f, image);
    f.repository = Fact::Unreadable { reason: "AccessDenied: ecr:DescribeRepositories".into(), kind: ErrorKind::AccessDenied };
    f.identity.repository_policy = Fact::NotFound { detail: "RepositoryPolicyNotFoundException".into() };
    assert_root(&judge(&f), RootCause::EcrRepositoryPolicy, &["999988887777", "111122223333"]);

    f.identity.repository_policy = Fact::found(json!({"Statement": [{"Sid": "ProdPull", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]}]}));
    let healthy = judge(&f);
    assert_eq!(healthy.root_cause.code, RootCause::Unknown, "{:#?}", healthy.findings);
}

/// Each AWS managed policy people attach for pulls is enough: no IAM or repository finding fails.
#[test]
fn every_managed_pull_policy_is_healthy() {
    let read_only = crate::model::facts::PolicyFacts {
        name: "AmazonEC2ContainerRegistryReadOnly".into(),
        document: Fact::found(json!({"Statement": [{"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken",
            "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:GetRepositoryPolicy",
            "ecr:DescribeRepositories", "ecr:ListImages", "ecr:DescribeImages", "ecr:BatchGetImage"], "Resource": "*"}]})),
        ..pull_only_policy()
    };
    for policy in [execution_policy(), read_only, pull_only_policy()] {
        let name = policy.name.clone();
        let mut f = with_message(world(), MANIFEST_403);
        local(&mut f, vec![policy]);
        // A cross-account repository policy granting exactly the pull actions.
        set_image(&mut f, "999988887777.dkr.ecr.us-east-1.amazonaws.com/team/app:v1");
        f.repository = Fact::Unreadable { reason: "AccessDenied: ecr:DescribeRepositories".into(), kind: ErrorKind::AccessDenied };
        f.identity.repository_policy = Fact::found(json!({"Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]}));
        let d = judge(&f);
        let fails: Vec<_> = d.findings.iter().filter(|x| x.status == crate::model::diagnosis::Status::Fail).collect();
        assert!(fails.is_empty(), "{name}: {fails:#?}");
        assert_eq!(d.root_cause.code, RootCause::Unknown, "{name}");
    }
}

#[test]
fn lifecycle_expired_tag() {
    let mut f = with_message(
        world(),
        "CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref 111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1: 111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1: not found",
    );
    f.image_by_tag = not_found();
    f.identity.lifecycle_policy = Fact::found(json!({"rules": [{"rulePriority": 1, "description": "keep last 3",
        "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"], "countType": "imageCountMoreThan", "countNumber": 3},
        "action": {"type": "expire"}}]}));
    // The evidence that v1 existed and the rule removed it: ECS resolved v1 to a digest when the
    // deployment started (the event's imageDigest), that digest is gone, and three v* images remain.
    let gone = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    set_image(&mut f, &format!("111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1@{gone}"));
    f.task.containers = vec![crate::model::facts::ContainerFacts {
        name: Some("web".into()),
        image: Some("111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1".into()),
        image_digest: Some(gone.into()),
        ..Default::default()
    }];
    f.image_by_digest = not_found();
    f.missing_image.repository_images = Fact::found(crate::model::facts::RepositoryImages {
        images: ["v2", "v3", "v4"].iter().map(|t| ImageFacts { tags: vec![t.to_string()], ..Default::default() }).collect(),
        truncated: false,
    });
    let d = judge(&f);
    assert_root(&d, RootCause::EcrImageExpired, &["rule 1", "keeps only the 3 most recent images tagged v*", "keep last 3"]);
    assert!(d.findings.iter().any(|x| x.code == RootCause::EcrImageNotFound), "the missing tag is reported too");
}

#[test]
fn arm64_task_with_amd64_only_image() {
    let mut f = with_message(world(), "CannotPullContainerError: pull image manifest has been retried 1 time(s): no matching manifest for linux/arm64/v8 in the manifest list entries");
    if let Fact::Found { value } = &mut f.task_definition {
        value.cpu_architecture = Some("ARM64".into());
    }
    f.image_by_tag = image("sha256:1", "v1");
    f.identity.manifest = Fact::found(ManifestFacts {
        is_index: true,
        platforms: vec![PlatformFacts { os: "linux".into(), architecture: "amd64".into(), ..Default::default() }],
        ..Default::default()
    });
    assert_root(&judge(&f), RootCause::ImagePlatformMismatch, &["linux/amd64", "linux/arm64", "X86_64"]);
}

#[test]
fn ephemeral_storage_with_a_large_image() {
    let mut f = with_message(world(), "CannotPullContainerError: failed to register layer: Error processing tar file(exit status 1): write /opt/model.bin: no space left on device");
    f.image_by_tag = Fact::found(ImageFacts { size_bytes: Some(18 << 30), ..Default::default() });
    assert_root(&judge(&f), RootCause::StorageEphemeral, &["20 GiB", "sizeInGiB to at least 57"]);
}

#[test]
fn docker_hub_rate_limit() {
    let mut f = with_message(world(), "CannotPullContainerError: Error response from daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit");
    set_image(&mut f, "nginx:1.25");
    f.identity = Default::default();
    f.identity.execution_role = Fact::found(role(ROLE));
    assert_root(&judge(&f), RootCause::RegistryRateLimit, &["Docker Hub", "pull-through cache"]);
}

fn private_registry(shape: SecretShape, simulation: &str) -> Facts {
    let secret_arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:ghcr-AbCdEf";
    let mut f = with_message(world(), "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret");
    set_image(&mut f, "ghcr.io/acme/app:1");
    if let Fact::Found { value } = &mut f.task_definition {
        value.containers[0].registry_credentials_secret = Some(secret_arn.into());
    }
    f.identity.registry_secret = Fact::found(SecretFacts { arn: Some(secret_arn.into()), shape: Fact::found(shape), ..Default::default() });
    f.identity.secret_simulation = Fact::found(vec![SimulationResult {
        action: "secretsmanager:GetSecretValue".into(),
        resource: secret_arn.into(),
        decision: simulation.into(),
        ..Default::default()
    }]);
    f
}

#[test]
fn private_registry_secret_missing_a_key_or_not_permitted() {
    let missing = SecretShape { json_object: true, has_username: true, ..Default::default() };
    assert_root(&judge(&private_registry(missing, "allowed")), RootCause::IamRegistrySecret, &["ghcr-AbCdEf", "no password key"]);
    let good = SecretShape { json_object: true, has_username: true, has_password: true, values_are_strings: true, binary: false };
    assert_root(&judge(&private_registry(good, "implicitDeny")), RootCause::IamRegistrySecret, &["may not secretsmanager:GetSecretValue", "ecsTaskExecutionRole"]);
    assert_eq!(judge(&private_registry(good, "allowed")).root_cause.code, RootCause::Unknown);
}

/// An `ECS Task State Change` event of a task on ECS Managed Instances, through intake, into the
/// checks. `launch_type` is `None` for an event that names only the capacity provider.
fn managed_instances_event(launch_type: Option<&str>) -> Facts {
    let image = "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1";
    let mut detail = json!({
        "taskArn": TASK, "clusterArn": CLUSTER, "lastStatus": "STOPPED", "group": "service:web",
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:111122223333:task-definition/web:7",
        "capacityProviderName": "mi-general",
        "containerInstanceArn": "arn:aws:ecs:us-east-1:111122223333:container-instance/prod/0f1e2d",
        "stoppedReason": "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
        "containers": [{"name": "web", "image": image, "lastStatus": "STOPPED", "reason": MANIFEST_403}],
        "attachments": [{"id": "a1", "type": "eni", "status": "DELETED",
            "details": [{"name": "subnetId", "value": "subnet-0ab"}, {"name": "networkInterfaceId", "value": "eni-0ab"}]}]
    });
    if let Some(l) = launch_type {
        detail["launchType"] = json!(l);
    }
    let event = json!({"version": "0", "id": "mi-1", "detail-type": "ECS Task State Change", "source": "aws.ecs",
        "account": ACCOUNT, "time": "2026-11-23T08:00:00Z", "region": "us-east-1", "resources": [TASK], "detail": detail});
    let crate::intake::Intake::PullFailure(failure) = crate::intake::intake(&event) else { panic!("not a pull failure") };
    let mut f = with_message(world(), &failure.message);
    f.task = failure.task.clone();
    if let Fact::Found { value } = &mut f.task_definition {
        value.execution_role_arn = None;
        value.requires_compatibilities = vec!["MANAGED_INSTANCES".into()];
        value.network_mode = Some("awsvpc".into());
    }
    f.identity.execution_role = Fact::NotCollected { reason: "the task definition has no execution role".into() };
    f.identity.pull_simulation = Fact::NotCollected { reason: "no role pulls the image".into() };
    f
}

/// On ECS Managed Instances the execution role pulls, as on Fargate: without one the culprit is
/// the missing execution role, never the instance profile's role — whether the event gives the
/// launch type or only the capacity provider (then the task definition's compatibility tells).
#[test]
fn managed_instances_task_without_an_execution_role() {
    for launch_type in [Some("MANAGED_INSTANCES"), None] {
        let f = managed_instances_event(launch_type);
        assert_eq!(f.task.launch_type.as_ref().map(LaunchType::as_str), launch_type);
        assert_eq!(f.task.capacity_provider.as_deref(), Some("mi-general"));
        let d = judge(&f);
        assert_root(&d, RootCause::IamExecutionRoleMissing, &["no execution role", "ECS Managed Instances", "AmazonECSTaskExecutionRolePolicy"]);
        assert!(d.findings.iter().all(|x| x.code != RootCause::IamInstanceRolePermissions), "{launch_type:?}: {:#?}", d.findings);
    }
}
