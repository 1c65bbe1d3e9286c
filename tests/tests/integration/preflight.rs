//! Preflight worlds (issue 6): a moto account, the `pulldoctor preflight` binary, its exit code and
//! its report. Each broken world must exit 3 with the right code and name what breaks; the healthy
//! one exits 0 with no `fail`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aws_sdk_ecs::types::ContainerDefinition;
use pulldoctor_tests::contracts::{assert_valid, Contract};
use pulldoctor_tests::{
    awsvpc, pulldoctor_bin, run_cli, Launch, Network, Repository, WebAccount, World, REGION,
};
use serde_json::{json, Value};

/// The usual account's Fargate service `web` in cluster `prod`, whose awsvpc configuration lists
/// three private subnets in three zones: `a` (the harness's, NAT route), `b` (same route table),
/// and `c`, whose own route table has no default route unless `c_has_nat`.
struct Setup {
    account: WebAccount,
    subnet_b: String,
    subnet_c: String,
    subnet_c_route_table: String,
    task_definition: String,
}

impl std::ops::Deref for Setup {
    type Target = WebAccount;
    fn deref(&self) -> &WebAccount {
        &self.account
    }
}

async fn setup(c_has_nat: bool) -> Setup {
    let account = WebAccount::build().await;
    let (world, net) = (&account.world, &account.net);
    let subnet_b = world
        .subnet(&net.vpc_id, "10.0.2.0/24", &format!("{REGION}b"))
        .await;
    world
        .associate_route_table(&net.private_route_table_id, &subnet_b)
        .await;
    let subnet_c = world
        .subnet(&net.vpc_id, "10.0.3.0/24", &format!("{REGION}c"))
        .await;
    let subnet_c_route_table = world.route_table(&net.vpc_id, &subnet_c).await;
    if c_has_nat {
        world
            .nat_route(&subnet_c_route_table, &net.nat_gateway_id)
            .await;
    }
    let task_definition = account.task_definition(&account.image, true).await;
    let subnets = awsvpc(
        &[&net.subnet_id, &subnet_b, &subnet_c],
        &net.security_group_id,
        false,
    );
    world
        .service_with("prod", "web", &task_definition, subnets, 2)
        .await;
    Setup {
        account,
        subnet_b,
        subnet_c,
        subnet_c_route_table,
        task_definition,
    }
}

impl Setup {
    /// A new revision of `web` with `image` (arm64 when asked); returns its ARN.
    async fn revision(&self, image: &str, arm64: bool) -> String {
        let container = ContainerDefinition::builder()
            .name("web")
            .image(image)
            .essential(true)
            .memory_reservation(512)
            .build();
        let launch = if arm64 {
            Launch::FargateArm64
        } else {
            Launch::Fargate
        };
        self.world
            .register_task_definition("web", Some(&self.role_arn), launch, vec![container])
            .await
    }

    async fn preflight(&self, extra: &[&str]) -> (Option<i32>, Value, String) {
        let mut args = vec!["preflight", "--cluster", "prod", "--format", "json"];
        args.extend_from_slice(extra);
        let out = run_cli(&self.world.moto, &args).await;
        let report: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", out.stdout, out.stderr));
        assert_valid(Contract::Preflight, &report);
        (out.code, report, out.stderr)
    }
}

fn codes(report: &Value, status: &str) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == status)
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

fn dump(report: &Value) -> String {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{:7} {:28} {} {}",
                f["status"].as_str().unwrap(),
                f["code"].as_str().unwrap(),
                f["title"],
                f["subnets"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn subnet_verdicts(report: &Value) -> Vec<(String, String)> {
    report["subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["subnet"].as_str().unwrap().to_string(),
                s["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn healthy_service_passes_with_exit_0() {
    let s = setup(true).await;
    let (code, report, stderr) = s.preflight(&["--service", "web"]).await;
    assert_eq!(code, Some(0), "{stderr}\n{}", dump(&report));
    assert!(codes(&report, "fail").is_empty(), "{}", dump(&report));
    assert_eq!(report["verdict"], "pass");
    assert_eq!(report["subnets"].as_array().unwrap().len(), 3);
    assert_eq!(
        report["containers"],
        json!([{"container": "web", "image": s.repo.image("v1")}])
    );
    // Same image in three subnets: the image checks are reported once, for all three subnets.
    let image = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "ECR_IMAGE_NOT_FOUND")
        .expect("image check");
    assert_eq!(image["status"], "pass");
    assert_eq!(image["subnets"].as_array().unwrap().len(), 3);
    // The pairs share the image, role and VPC reads: 3 subnets cost 29 calls here; without the
    // run's cache each pair read everything again (69).
    let calls = report["aws_calls"].as_u64().unwrap();
    eprintln!("aws_calls for 3 subnets x 1 image: {calls}");
    assert!(
        calls < 40,
        "3 subnets x 1 image took {calls} AWS calls: shared reads are repeated per subnet"
    );
}

#[tokio::test]
async fn one_subnet_without_the_nat_route_is_named_and_fails() {
    let s = setup(false).await;
    let (code, report, stderr) = s.preflight(&["--service", "web"]).await;
    assert_eq!(code, Some(3), "{stderr}\n{}", dump(&report));
    assert!(stderr.contains("NET_NO_ROUTE"), "{stderr}");
    assert_eq!(
        subnet_verdicts(&report),
        vec![
            (s.net.subnet_id.clone(), "pass".to_string()),
            (s.subnet_b.clone(), "pass".to_string()),
            (s.subnet_c.clone(), "fail".to_string())
        ],
        "{}",
        dump(&report)
    );
    let first = &report["findings"][0];
    assert_eq!(first["code"], "NET_NO_ROUTE");
    assert_eq!(first["status"], "fail");
    assert_eq!(first["subnets"], json!([s.subnet_c]));
    let text = format!("{} {}", first["title"], first["remediation"]);
    assert!(
        text.contains(&s.subnet_c) && text.contains(&s.subnet_c_route_table),
        "{text}"
    );
    assert_eq!(report["subnets"][2]["availability_zone"], "us-east-1c");

    // The text report says where it would fail.
    let out = run_cli(
        &s.world.moto,
        &["preflight", "--cluster", "prod", "--service", "web"],
    )
    .await;
    eprintln!("{}", out.stdout);
    assert_eq!(out.code, Some(3));
    assert!(
        out.stdout
            .contains(&format!("Would fail only in {}", s.subnet_c)),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn new_revision_whose_tag_does_not_exist_yet() {
    let s = setup(true).await;
    let v2 = s.revision(&s.repo.image("v2"), false).await;
    assert!(v2.ends_with("web:2"), "{v2}");
    let (code, report, stderr) = s
        .preflight(&["--service", "web", "--task-definition", "web:2"])
        .await;
    assert_eq!(code, Some(3), "{stderr}\n{}", dump(&report));
    assert_eq!(
        codes(&report, "fail"),
        vec!["ECR_IMAGE_NOT_FOUND"],
        "{}",
        dump(&report)
    );
    assert_eq!(report["task_definition"], "web:2");
    let f = &report["findings"][0];
    assert!(f["title"].as_str().unwrap().contains("v2"), "{f}");
    // A missing image fails in every subnet alike: one finding, not three.
    assert_eq!(f["subnets"].as_array().unwrap().len(), 3);
    // The deployed revision is still fine.
    let (code, _, stderr) = s
        .preflight(&["--service", "web", "--task-definition", &s.task_definition])
        .await;
    assert_eq!(code, Some(0), "{stderr}");
}

#[tokio::test]
async fn arm64_revision_with_an_amd64_only_image() {
    let s = setup(true).await;
    let child = s
        .world
        .push_image(&s.repo, "amd64-build", "multi-amd64")
        .await;
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 500, "digest": child,
            "platform": {"architecture": "amd64", "os": "linux"}}]});
    s.world
        .ecr
        .put_image()
        .repository_name(&s.repo.name)
        .image_manifest(index.to_string())
        .image_manifest_media_type("application/vnd.docker.distribution.manifest.list.v2+json")
        .image_tag("multi")
        .send()
        .await
        .expect("PutImage index");
    let td = s.revision(&s.repo.image("multi"), true).await;
    let (code, report, stderr) = s
        .preflight(&["--service", "web", "--task-definition", &td])
        .await;
    assert_eq!(code, Some(3), "{stderr}\n{}", dump(&report));
    assert_eq!(
        codes(&report, "fail"),
        vec!["IMAGE_PLATFORM_MISMATCH"],
        "{}",
        dump(&report)
    );
    let f = &report["findings"][0];
    assert_eq!(f["evidence"]["image_platforms"], json!(["linux/amd64"]));
    assert!(
        f["title"].as_str().unwrap().contains("arm64")
            || f["evidence"]["task_platform"]
                .as_str()
                .unwrap()
                .contains("arm64"),
        "{f}"
    );
}

/// The JSON file a pipeline is about to register, with explicit subnets and security groups.
#[tokio::test]
async fn task_definition_file_with_explicit_subnets() {
    let s = setup(false).await;
    let dir = temp_dir("file");
    let file = dir.join("taskdef.json");
    let doc = |tag: &str| {
        json!({"family": "web", "executionRoleArn": s.role_arn, "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
               "cpu": "256", "memory": "512",
               "containerDefinitions": [{"name": "web", "image": s.repo.image(tag), "essential": true,
                    "environment": [{"name": "API_TOKEN", "value": "do-not-print-me"}]}]})
        .to_string()
    };
    std::fs::write(&file, doc("v1")).unwrap();
    let file_arg = file.to_str().unwrap();
    let sg = s.net.security_group_id.clone();
    let both = format!("{},{}", s.net.subnet_id, s.subnet_b);
    let (code, report, stderr) = s
        .preflight(&[
            "--task-definition",
            file_arg,
            "--subnets",
            &both,
            "--security-groups",
            &sg,
            "--platform-version",
            "1.4.0",
        ])
        .await;
    assert_eq!(code, Some(0), "{stderr}\n{}", dump(&report));
    assert!(
        report["task_definition"]
            .as_str()
            .unwrap()
            .contains("not registered"),
        "{}",
        report["task_definition"]
    );
    assert!(
        !report.to_string().contains("do-not-print-me"),
        "an environment value leaked"
    );
    // The security groups came from the flag: the egress check used them.
    let egress = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "NET_TASK_SG_EGRESS")
        .expect("egress check");
    assert!(egress.to_string().contains(&sg), "{egress}");

    // The subnet without a route, and a tag that is not pushed: two failures, one per cause.
    std::fs::write(&file, doc("v9")).unwrap();
    let (code, report, _) = s
        .preflight(&[
            "--task-definition",
            file_arg,
            "--subnets",
            &s.subnet_c,
            "--security-groups",
            &sg,
        ])
        .await;
    assert_eq!(code, Some(3));
    let mut fails = codes(&report, "fail");
    fails.sort();
    assert_eq!(
        fails,
        vec!["ECR_IMAGE_NOT_FOUND", "NET_NO_ROUTE"],
        "{}",
        dump(&report)
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Service `web` runs revision :1 (`team/web:2.4.1`, pushed); the pipeline is about to register a
/// file with `team/web:2.4.2` (not pushed) and another execution role. The report's `deploy` names
/// both changes, from the revision running now; the verdict is the image check's, as before.
#[tokio::test]
async fn deploy_section_names_what_the_new_revision_changes() {
    let account = WebAccount::build().await;
    let (world, net) = (&account.world, &account.net);
    world.push_image(&account.repo, "2.4.1", "web-2.4.1").await;
    let running = account
        .task_definition(&account.repo.image("2.4.1"), true)
        .await;
    assert!(running.ends_with("web:1"), "{running}");
    world.service("prod", "web", &running, net).await;
    let other_role = world.execution_role("webExecutionRoleV2").await;
    let dir = temp_dir("deploy");
    let file = dir.join("taskdef.json");
    let doc = json!({"family": "web", "executionRoleArn": other_role, "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
        "cpu": "256", "memory": "512", "containerDefinitions": [{"name": "web", "image": account.repo.image("2.4.2"), "essential": true}]});
    std::fs::write(&file, doc.to_string()).unwrap();
    let file_arg = file.to_str().unwrap();

    let out = run_cli(
        &world.moto,
        &[
            "preflight",
            "--cluster",
            "prod",
            "--service",
            "web",
            "--task-definition",
            file_arg,
            "--format",
            "json",
        ],
    )
    .await;
    let report: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", out.stdout, out.stderr));
    assert_valid(Contract::Preflight, &report);
    eprintln!("deploy: {}", report["deploy"]);
    assert_eq!(out.code, Some(3), "{}\n{}", out.stderr, dump(&report));
    assert_eq!(
        codes(&report, "fail"),
        vec!["ECR_IMAGE_NOT_FOUND"],
        "{}",
        dump(&report)
    );
    let deploy = &report["deploy"];
    assert_eq!(deploy["status"], "found", "{deploy}");
    assert_eq!(deploy["source"], "service_deployments");
    assert_eq!(deploy["previous"]["task_definition"], "web:1");
    assert_eq!(deploy["previous"]["status"], "PRIMARY");
    assert!(
        deploy["failing"]["task_definition"]
            .as_str()
            .unwrap()
            .contains("not registered"),
        "{deploy}"
    );
    assert_eq!(
        (&deploy["explains_failure"], &deploy["rolled_back"]),
        (&json!(false), &json!(false))
    );
    // Same network, launch type and platform: only the image and the role changed.
    let settings: Vec<&str> = deploy["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["setting"].as_str().unwrap())
        .collect();
    assert_eq!(settings, vec!["image", "execution_role"], "{deploy}");
    let image = &deploy["differences"][0];
    assert_eq!(image["container"], "web");
    assert_eq!(
        (&image["before"], &image["after"]),
        (
            &json!(account.repo.image("2.4.1")),
            &json!(account.repo.image("2.4.2"))
        )
    );
    // The preflight checked the new image (missing); it does not check the running one.
    assert_eq!(image["after_state"], "not_found");
    assert!(image.get("before_state").is_none(), "{image}");
    let role = &deploy["differences"][1];
    assert_eq!(
        (&role["before"], &role["after"]),
        (&json!(account.role_arn), &json!(other_role))
    );

    let out = run_cli(
        &world.moto,
        &[
            "preflight",
            "--cluster",
            "prod",
            "--service",
            "web",
            "--task-definition",
            file_arg,
        ],
    )
    .await;
    assert_eq!(out.code, Some(3));
    let line = format!(
        "- image of container web: {} → {} (not found)",
        account.repo.image("2.4.1"),
        account.repo.image("2.4.2")
    );
    assert!(
        out.stdout.contains(
            "What this deploy changes:\n  From web:1 (running now) to web (not registered"
        ) && out.stdout.contains(&line),
        "{}",
        out.stdout
    );

    // The revision already running: nothing to compare, no section.
    let out = run_cli(
        &world.moto,
        &[
            "preflight",
            "--cluster",
            "prod",
            "--service",
            "web",
            "--task-definition",
            &running,
            "--format",
            "json",
        ],
    )
    .await;
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(out.code, Some(0), "{}", dump(&report));
    assert!(report.get("deploy").is_none(), "{}", report["deploy"]);
    let _ = std::fs::remove_dir_all(dir);
}

/// An EC2 service in bridge mode has no awsvpc subnets: its tasks pull from the container
/// instance they land on (its subnet, its security groups and, with no execution role, its
/// instance role). Two instances, one behind the NAT (subnet a) and one in subnet c, whose route
/// table has no default route: exit 3, subnet c named, both instances named. (Before issue 12
/// this stopped with exit 1, "give --subnets".)
#[tokio::test]
async fn ec2_bridge_service_is_checked_from_its_container_instances() {
    use aws_sdk_ecs::types::LaunchType;
    let s = setup(false).await;
    s.world
        .service_role(
            "ecsInstanceRole",
            "ec2.amazonaws.com",
            &["AmazonEC2ContainerRegistryReadOnly"],
        )
        .await;
    s.world
        .instance_profile("ecsInstanceProfile", "ecsInstanceRole")
        .await;
    let mut instances = vec![];
    for subnet in [&s.net.subnet_id, &s.subnet_c] {
        let (instance, _) = s
            .world
            .container_instance(
                "prod",
                subnet,
                &s.net.security_group_id,
                "ecsInstanceProfile",
            )
            .await;
        instances.push(instance);
    }
    // No execution role: the container instance role pulls.
    let container = ContainerDefinition::builder()
        .name("web")
        .image(s.repo.image("v1"))
        .memory(512)
        .essential(true)
        .build();
    let td = s
        .world
        .register_task_definition("web-ec2", None, Launch::Ec2Bridge, vec![container])
        .await;
    s.world
        .ecs
        .create_service()
        .cluster("prod")
        .service_name("web-ec2")
        .task_definition(&td)
        .desired_count(2)
        .launch_type(LaunchType::Ec2)
        .send()
        .await
        .expect("CreateService");

    let (code, report, stderr) = s.preflight(&["--service", "web-ec2"]).await;
    assert_eq!(code, Some(3), "{stderr}\n{}", dump(&report));
    assert_eq!(
        codes(&report, "fail"),
        vec!["NET_NO_ROUTE"],
        "{}",
        dump(&report)
    );
    // In the order the instances were listed (moto's order is not fixed): compare as a set.
    let mut verdicts = subnet_verdicts(&report);
    verdicts.sort();
    let mut want = vec![
        (s.net.subnet_id.clone(), "pass".to_string()),
        (s.subnet_c.clone(), "fail".to_string()),
    ];
    want.sort();
    assert_eq!(verdicts, want, "{}", dump(&report));
    let considered: Vec<&str> = report["container_instances"]["considered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instance"].as_str().unwrap())
        .collect();
    assert_eq!(considered.len(), 2, "{}", report["container_instances"]);
    for i in &instances {
        assert!(
            considered.contains(&i.as_str()),
            "{i} not considered: {}",
            report["container_instances"]
        );
    }
    assert_eq!(report["container_instances"]["active"], 2);
    // The instance role is the puller, judged as such (and it may pull).
    let role = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "IAM_INSTANCE_ROLE_PERMISSIONS")
        .expect("instance role check");
    assert_eq!(role["status"], "pass", "{role}");
    assert!(role.to_string().contains("ecsInstanceRole"), "{role}");
    // The text report names the instances it considered.
    let out = run_cli(
        &s.world.moto,
        &["preflight", "--cluster", "prod", "--service", "web-ec2"],
    )
    .await;
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(out.stdout.contains("Pulled by the container instance a task lands on: 2 ACTIVE container instance(s), 2 considered:"), "{}", out.stdout);
    assert!(
        instances.iter().all(|i| out.stdout.contains(i.as_str())),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("Would fail only in {}", s.subnet_c)),
        "{}",
        out.stdout
    );

    // Subnet c gets its NAT route: nothing fails.
    s.world
        .nat_route(&s.subnet_c_route_table, &s.net.nat_gateway_id)
        .await;
    let (code, report, stderr) = s.preflight(&["--service", "web-ec2"]).await;
    assert_eq!(code, Some(0), "{stderr}\n{}", dump(&report));
}

#[tokio::test]
async fn input_errors_exit_1() {
    let s = setup(true).await;
    for (args, needle) in [
        (
            vec!["preflight", "--cluster", "prod", "--service", "nope"],
            "nope",
        ),
        (
            vec![
                "preflight",
                "--cluster",
                "prod",
                "--task-definition",
                "web:1",
            ],
            "--subnets",
        ),
        (
            vec![
                "preflight",
                "--cluster",
                "prod",
                "--service",
                "web",
                "--task-definition",
                "web:99",
            ],
            "web:99",
        ),
        (
            vec![
                "preflight",
                "--cluster",
                "prod",
                "--service",
                "web",
                "--task-definition",
                "/nonexistent/td.json",
            ],
            "td.json",
        ),
    ] {
        let out = run_cli(&s.world.moto, &args).await;
        assert_eq!(out.code, Some(1), "{args:?}: {} {}", out.stdout, out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
}

// The pipeline snippets of docs/preflight.md ------------------------------------------------------

/// The `pulldoctor preflight …` command line of the docs/preflight.md code block after
/// `<!-- preflight-snippet: NAME -->`.
fn readme_command(name: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/preflight.md"))
            .expect("docs/preflight.md");
    let marker = format!("<!-- preflight-snippet: {name} -->");
    let block = readme
        .split_once(&marker)
        .unwrap_or_else(|| panic!("{marker} missing from docs/preflight.md"))
        .1;
    let block = block
        .split("```")
        .nth(1)
        .expect("a code block after the marker");
    let line = block
        .lines()
        .find(|l| l.contains("pulldoctor preflight"))
        .expect("a pulldoctor preflight line");
    let line = line.trim();
    line.strip_prefix("run: ")
        .or_else(|| line.strip_prefix("- "))
        .unwrap_or(line)
        .to_string()
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "pulldoctor-preflight-{tag}-{}-{}",
        std::process::id(),
        pulldoctor_tests::random_hex32()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run `command` as CI would: `bash -eo pipefail -c`, `pulldoctor` on PATH, in `dir`.
async fn run_in_ci(world: &World, command: &str, dir: &Path) -> Option<i32> {
    let bin = tokio::task::spawn_blocking(pulldoctor_bin).await.unwrap();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = tokio::process::Command::new("bash")
        .args(["-eo", "pipefail", "-c", command])
        .current_dir(dir)
        .env("PATH", path)
        .env("CLUSTER", "prod")
        .env("SERVICE", "web")
        .env_remove("AWS_PROFILE")
        .envs(world.moto.env(REGION))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("within 120 s")
        .expect("bash");
    eprintln!(
        "{command}\nexit {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.code()
}

#[tokio::test]
async fn readme_pipeline_snippets_gate_the_deploy() {
    let s = setup(false).await;
    let dir = temp_dir("readme");
    let doc = json!({"family": "web", "executionRoleArn": s.role_arn, "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
        "cpu": "256", "memory": "512", "containerDefinitions": [{"name": "web", "image": s.repo.image("v1"), "essential": true}]});
    std::fs::write(dir.join("taskdef.json"), doc.to_string()).unwrap();
    let actions = readme_command("github-actions");
    let codebuild = readme_command("codebuild");
    assert!(
        actions.contains("--format markdown > preflight.md"),
        "{actions}"
    );
    assert!(
        codebuild.contains("--format json > preflight.json"),
        "{codebuild}"
    );

    // Broken subnet c: both steps stop the pipeline, and the reports name the subnet.
    assert_eq!(run_in_ci(&s.world, &actions, &dir).await, Some(3));
    let md = std::fs::read_to_string(dir.join("preflight.md")).unwrap();
    assert!(
        md.contains(&s.subnet_c) && md.contains("NET\\_NO\\_ROUTE"),
        "{md}"
    );
    assert_eq!(run_in_ci(&s.world, &codebuild, &dir).await, Some(3));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("preflight.json")).unwrap())
            .unwrap();
    assert_eq!(report["verdict"], "fail");

    // Route restored: both pass, so the deploy step would run.
    s.world
        .nat_route(&s.subnet_c_route_table, &s.net.nat_gateway_id)
        .await;
    assert_eq!(run_in_ci(&s.world, &actions, &dir).await, Some(0));
    assert_eq!(run_in_ci(&s.world, &codebuild, &dir).await, Some(0));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("preflight.json")).unwrap())
            .unwrap();
    assert_eq!(report["verdict"], "pass");
    let _ = std::fs::remove_dir_all(dir);
}

// EKS node groups ---------------------------------------------------------------------------------

/// An EKS cluster `apps` with node group `general` in the harness's private subnet, whose launch
/// template puts the nodes in the network's security group; the node role trusts EC2 and has the
/// given managed policies. Returns the world and its network.
async fn eks_world(node_policies: &[&str]) -> (World, Network, Repository) {
    use aws_sdk_ec2::types::RequestLaunchTemplateData;
    use aws_sdk_eks::types::{LaunchTemplateSpecification, VpcConfigRequest};
    let world = World::new().await;
    let net = world.network().await;
    let repo = world.repository("team/api").await;
    world.push_image(&repo, "v1", "api-v1").await;
    let role = world
        .service_role("eks-node-role", "ec2.amazonaws.com", node_policies)
        .await;
    let template = world
        .ec2
        .create_launch_template()
        .launch_template_name("eks-nodes")
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                .security_group_ids(&net.security_group_id)
                .build(),
        )
        .send()
        .await
        .expect("CreateLaunchTemplate")
        .launch_template
        .and_then(|t| t.launch_template_id)
        .unwrap();
    let eks = aws_sdk_eks::Client::new(&world.config);
    eks.create_cluster()
        .name("apps")
        .role_arn(format!(
            "arn:aws:iam::{}:role/eks-cluster-role",
            world.account
        ))
        .resources_vpc_config(
            VpcConfigRequest::builder()
                .subnet_ids(&net.subnet_id)
                .endpoint_private_access(true)
                .endpoint_public_access(false)
                .build(),
        )
        .send()
        .await
        .expect("CreateCluster (EKS)");
    eks.create_nodegroup()
        .cluster_name("apps")
        .nodegroup_name("general")
        .node_role(&role)
        .subnets(&net.subnet_id)
        .launch_template(
            LaunchTemplateSpecification::builder()
                .id(&template)
                .version("1")
                .build(),
        )
        .send()
        .await
        .expect("CreateNodegroup");
    (world, net, repo)
}

async fn eks_preflight(world: &World, image: &str) -> (Option<i32>, Value, String) {
    let out = run_cli(
        &world.moto,
        &[
            "preflight",
            "eks",
            "--cluster",
            "apps",
            "--nodegroup",
            "general",
            "--image",
            image,
            "--format",
            "json",
        ],
    )
    .await;
    let report: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", out.stdout, out.stderr));
    assert_valid(Contract::Preflight, &report);
    (out.code, report, out.stderr)
}

#[tokio::test]
async fn eks_healthy_node_group_passes() {
    let (world, net, repo) = eks_world(&[
        "AmazonEKSWorkerNodePolicy",
        "AmazonEC2ContainerRegistryReadOnly",
    ])
    .await;
    let (code, report, stderr) = eks_preflight(&world, &repo.image("v1")).await;
    assert_eq!(code, Some(0), "{stderr}\n{}", dump(&report));
    assert!(codes(&report, "fail").is_empty(), "{}", dump(&report));
    assert_eq!(report["nodegroup"], "general");
    let permissions = codes(&report, "pass");
    assert!(
        permissions.contains(&"IAM_INSTANCE_ROLE_PERMISSIONS".to_string()),
        "the node role was judged: {}",
        dump(&report)
    );
    // The launch template's security group is the one the egress check used.
    let egress = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "NET_TASK_SG_EGRESS")
        .expect("egress check");
    assert!(
        egress.to_string().contains(&net.security_group_id),
        "{egress}"
    );
    // ECS-only notions are not reported for nodes.
    assert!(
        !report.to_string().contains("IAM_EXECUTION_ROLE"),
        "{}",
        dump(&report)
    );
}

/// The EKS node-role and Auto Mode documentation now recommend the pull-only policy.
#[tokio::test]
async fn eks_node_group_with_the_pull_only_policy_passes() {
    let (world, _, repo) = eks_world(&[
        "AmazonEKSWorkerNodePolicy",
        "AmazonEC2ContainerRegistryPullOnly",
    ])
    .await;
    let (code, report, stderr) = eks_preflight(&world, &repo.image("v1")).await;
    assert_eq!(code, Some(0), "{stderr}\n{}", dump(&report));
    assert!(codes(&report, "fail").is_empty(), "{}", dump(&report));
    let permissions = finding(&report, "IAM_INSTANCE_ROLE_PERMISSIONS");
    assert_eq!(permissions["status"], "pass", "{permissions}");
    assert!(
        permissions.to_string().contains("eks-node-role"),
        "{permissions}"
    );
}

#[tokio::test]
async fn eks_node_role_without_ecr_read_fails() {
    let (world, _, repo) = eks_world(&["AmazonEKSWorkerNodePolicy"]).await;
    let (code, report, stderr) = eks_preflight(&world, &repo.image("v1")).await;
    assert_eq!(code, Some(3), "{stderr}\n{}", dump(&report));
    assert_eq!(
        codes(&report, "fail"),
        vec!["IAM_INSTANCE_ROLE_PERMISSIONS"],
        "{}",
        dump(&report)
    );
    let image = repo.image("v1");
    let text = run_cli(
        &world.moto,
        &[
            "preflight",
            "eks",
            "--cluster",
            "apps",
            "--nodegroup",
            "general",
            "--image",
            &image,
        ],
    )
    .await;
    eprintln!("{}", text.stdout);
    assert_eq!(text.code, Some(3));
    let f = &report["findings"][0];
    assert!(f.to_string().contains("eks-node-role"), "{f}");
}

#[tokio::test]
async fn eks_private_cluster_without_the_ecr_api_endpoint() {
    let (world, net, repo) = eks_world(&[
        "AmazonEKSWorkerNodePolicy",
        "AmazonEC2ContainerRegistryReadOnly",
    ])
    .await;
    // Private cluster: no NAT route; ecr.dkr and the S3 gateway endpoint exist, ecr.api does not.
    world
        .delete_default_route(&net.private_route_table_id)
        .await;
    world
        .interface_endpoint(&net, "ecr.dkr", &net.security_group_id, true)
        .await;
    world.s3_gateway(&net, None).await;
    let (code, report, stderr) = eks_preflight(&world, &repo.image("v1")).await;
    assert_eq!(code, Some(3), "{stderr}\n{}", dump(&report));
    let fails = codes(&report, "fail");
    assert!(
        fails.contains(&"NET_ENDPOINT_MISSING".to_string()),
        "{}",
        dump(&report)
    );
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "NET_ENDPOINT_MISSING")
        .unwrap();
    assert!(
        f.to_string()
            .contains(&format!("com.amazonaws.{REGION}.ecr.api")),
        "{f}"
    );
}

#[tokio::test]
async fn eks_unknown_node_group_is_an_input_error() {
    let (world, _, repo) = eks_world(&["AmazonEC2ContainerRegistryReadOnly"]).await;
    let image = repo.image("v1");
    let out = run_cli(
        &world.moto,
        &[
            "preflight",
            "eks",
            "--cluster",
            "apps",
            "--nodegroup",
            "nope",
            "--image",
            &image,
        ],
    )
    .await;
    assert_eq!(out.code, Some(1), "{} {}", out.stdout, out.stderr);
    assert!(out.stderr.contains("nope"), "{}", out.stderr);
    // Exactly one of --nodegroup / --fargate-profile.
    let neither = run_cli(
        &world.moto,
        &["preflight", "eks", "--cluster", "apps", "--image", &image],
    )
    .await;
    assert_eq!(neither.code, Some(1), "{}", neither.stderr);
    assert!(
        neither.stderr.contains("--nodegroup") && neither.stderr.contains("--fargate-profile"),
        "{}",
        neither.stderr
    );
    let both = run_cli(
        &world.moto,
        &[
            "preflight",
            "eks",
            "--cluster",
            "apps",
            "--nodegroup",
            "general",
            "--fargate-profile",
            "web",
            "--image",
            &image,
        ],
    )
    .await;
    assert_eq!(both.code, Some(1), "{}", both.stderr);
    // A Fargate profile that does not exist is an input error too.
    let profile = run_cli(
        &world.moto,
        &[
            "preflight",
            "eks",
            "--cluster",
            "apps",
            "--fargate-profile",
            "nope-profile",
            "--image",
            &image,
        ],
    )
    .await;
    assert_eq!(
        profile.code,
        Some(1),
        "{} {}",
        profile.stdout,
        profile.stderr
    );
    assert!(
        profile.stderr.contains("nope-profile"),
        "{}",
        profile.stderr
    );
}

// EKS Fargate profiles ----------------------------------------------------------------------------

/// An EKS cluster `apps` with Fargate profile `web` in the harness's private subnet (NAT route).
/// Its pod execution role `eks-pod-role` is trusted by `trusted_service` and has the given managed
/// policies. moto reports no cluster security group, so the tests pass `--security-groups`.
async fn fargate_world(
    trusted_service: &str,
    role_policies: &[&str],
) -> (World, Network, Repository) {
    use aws_sdk_eks::types::{FargateProfileSelector, VpcConfigRequest};
    let world = World::new().await;
    let net = world.network().await;
    let repo = world.repository("team/api").await;
    world.push_image(&repo, "v1", "api-v1").await;
    let role = world
        .service_role("eks-pod-role", trusted_service, role_policies)
        .await;
    let eks = aws_sdk_eks::Client::new(&world.config);
    eks.create_cluster()
        .name("apps")
        .role_arn(format!(
            "arn:aws:iam::{}:role/eks-cluster-role",
            world.account
        ))
        .resources_vpc_config(
            VpcConfigRequest::builder()
                .subnet_ids(&net.subnet_id)
                .build(),
        )
        .send()
        .await
        .expect("CreateCluster (EKS)");
    eks.create_fargate_profile()
        .cluster_name("apps")
        .fargate_profile_name("web")
        .pod_execution_role_arn(&role)
        .subnets(&net.subnet_id)
        .selectors(FargateProfileSelector::builder().namespace("web").build())
        .send()
        .await
        .expect("CreateFargateProfile");
    (world, net, repo)
}

async fn fargate_preflight(
    world: &World,
    net: &Network,
    image: &str,
) -> (Option<i32>, Value, String) {
    let args = [
        "preflight",
        "eks",
        "--cluster",
        "apps",
        "--fargate-profile",
        "web",
        "--image",
        image,
    ];
    let out = run_cli(
        &world.moto,
        &[
            &args[..],
            &[
                "--security-groups",
                &net.security_group_id,
                "--format",
                "json",
            ],
        ]
        .concat(),
    )
    .await;
    let report: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", out.stdout, out.stderr));
    assert_valid(Contract::Preflight, &report);
    (out.code, report, out.stderr)
}

fn finding<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no {code}: {}", dump(report)))
}

#[tokio::test]
async fn eks_healthy_fargate_profile_passes() {
    let (world, net, repo) = fargate_world(
        "eks-fargate-pods.amazonaws.com",
        &["AmazonEKSFargatePodExecutionRolePolicy"],
    )
    .await;
    let image = repo.image("v1");
    // moto's cluster has no cluster security group: the pods' group is unknown, so it is asked for.
    let out = run_cli(
        &world.moto,
        &[
            "preflight",
            "eks",
            "--cluster",
            "apps",
            "--fargate-profile",
            "web",
            "--image",
            &image,
        ],
    )
    .await;
    assert_eq!(out.code, Some(1), "{} {}", out.stdout, out.stderr);
    assert!(out.stderr.contains("--security-groups"), "{}", out.stderr);

    let (code, report, stderr) = fargate_preflight(&world, &net, &image).await;
    assert_eq!(code, Some(0), "{stderr}\n{}", dump(&report));
    assert!(codes(&report, "fail").is_empty(), "{}", dump(&report));
    assert_eq!(report["fargate_profile"], "web");
    assert_eq!(
        subnet_verdicts(&report),
        vec![(net.subnet_id.clone(), "pass".to_string())]
    );
    // The pod execution role is the one judged, for ECR reads and for the EKS trust principal.
    let permissions = finding(&report, "IAM_EXECUTION_ROLE_PERMISSIONS");
    assert_eq!(permissions["status"], "pass", "{permissions}");
    assert!(
        permissions.to_string().contains("eks-pod-role"),
        "{permissions}"
    );
    let trust = finding(&report, "IAM_EXECUTION_ROLE_TRUST");
    assert_eq!(trust["status"], "pass", "{trust}");
    assert!(
        trust["title"]
            .as_str()
            .unwrap()
            .contains("eks-fargate-pods.amazonaws.com"),
        "{trust}"
    );
    assert!(
        !report.to_string().contains("ecs-tasks.amazonaws.com"),
        "{}",
        dump(&report)
    );
    let egress = finding(&report, "NET_TASK_SG_EGRESS");
    assert!(
        egress.to_string().contains(&net.security_group_id),
        "{egress}"
    );
}

#[tokio::test]
async fn eks_fargate_pod_execution_role_without_ecr_read_fails() {
    let (world, net, repo) = fargate_world("eks-fargate-pods.amazonaws.com", &[]).await;
    let (code, report, stderr) = fargate_preflight(&world, &net, &repo.image("v1")).await;
    assert_eq!(code, Some(3), "{stderr}\n{}", dump(&report));
    assert_eq!(
        codes(&report, "fail"),
        vec!["IAM_EXECUTION_ROLE_PERMISSIONS"],
        "{}",
        dump(&report)
    );
    let f = finding(&report, "IAM_EXECUTION_ROLE_PERMISSIONS");
    assert!(
        f["title"]
            .as_str()
            .unwrap()
            .contains("pod execution role eks-pod-role"),
        "{f}"
    );
    assert!(
        f["remediation"]
            .as_str()
            .unwrap()
            .contains("AmazonEKSFargatePodExecutionRolePolicy"),
        "{f}"
    );
    assert!(
        stderr.contains("IAM_EXECUTION_ROLE_PERMISSIONS"),
        "{stderr}"
    );
    // The text report speaks EKS: the pod execution role, not an ECS task's roles.
    let image = repo.image("v1");
    let text = run_cli(
        &world.moto,
        &[
            "preflight",
            "eks",
            "--cluster",
            "apps",
            "--fargate-profile",
            "web",
            "--image",
            &image,
            "--security-groups",
            &net.security_group_id,
        ],
    )
    .await;
    eprintln!("{}", text.stdout);
    assert_eq!(text.code, Some(3));
    assert!(
        text.stdout.contains("Fargate profile web"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("pod execution role eks-pod-role"),
        "{}",
        text.stdout
    );
    assert!(
        !text.stdout.contains("task execution role") && !text.stdout.contains("task's"),
        "{}",
        text.stdout
    );
}

#[tokio::test]
async fn eks_fargate_pod_execution_role_trusting_ecs_tasks_fails() {
    // A copy of an ECS task execution role: ECR reads granted, but EKS cannot assume it.
    let (world, net, repo) = fargate_world(
        "ecs-tasks.amazonaws.com",
        &["AmazonEKSFargatePodExecutionRolePolicy"],
    )
    .await;
    let (code, report, stderr) = fargate_preflight(&world, &net, &repo.image("v1")).await;
    assert_eq!(code, Some(3), "{stderr}\n{}", dump(&report));
    assert_eq!(
        codes(&report, "fail"),
        vec!["IAM_EXECUTION_ROLE_TRUST"],
        "{}",
        dump(&report)
    );
    let f = finding(&report, "IAM_EXECUTION_ROLE_TRUST");
    let title = f["title"].as_str().unwrap();
    assert!(
        title.contains("trusts ecs-tasks.amazonaws.com, not eks-fargate-pods.amazonaws.com"),
        "{f}"
    );
}
