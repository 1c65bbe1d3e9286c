//! Image checks: does the image fit the task — its OS/architecture, and the disk it unpacks onto.

use serde_json::json;

use super::ecr::task_definition_suffix;
use crate::classify::Category;
use crate::diagnosis::{Finding, RootCause};
use crate::facts::{Fact, Facts};

/// Fargate's ephemeral storage when the task definition sets none (platform 1.4.0 and later).
pub const FARGATE_DEFAULT_GIB: i32 = 20;
/// The most `ephemeralStorage.sizeInGiB` accepts.
pub const FARGATE_MAX_GIB: i32 = 200;
/// Unpacked layers usually take two to three times their compressed size; pulldoctor assumes 2.5.
const UNPACK_FACTOR: f64 = 2.5;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The platform the task pulls for, in OCI terms (`linux`, `amd64`), and where that came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPlatform {
    pub os: String,
    pub architecture: String,
    pub source: &'static str,
}

impl std::fmt::Display for TaskPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)
    }
}

/// The task definition's `runtimePlatform`; else, on EC2, the container instance's attributes;
/// else Fargate's default linux/x86_64.
pub fn task_platform(facts: &Facts) -> TaskPlatform {
    let td = facts.task_definition.value();
    let arch = |a: &str| match a.to_ascii_lowercase().as_str() {
        "x86_64" | "amd64" => "amd64".to_string(),
        "arm64" | "aarch64" => "arm64".to_string(),
        other => other.to_string(),
    };
    let os = |o: &str| if o.to_ascii_lowercase().starts_with("windows") { "windows".to_string() } else { "linux".to_string() };
    if let Some(td) = td {
        if td.cpu_architecture.is_some() || td.operating_system_family.is_some() {
            return TaskPlatform {
                os: td.operating_system_family.as_deref().map(os).unwrap_or_else(|| "linux".into()),
                architecture: td.cpu_architecture.as_deref().map(arch).unwrap_or_else(|| "amd64".into()),
                source: "the task definition's runtimePlatform",
            };
        }
    }
    if let Some(ci) = facts.identity.container_instance.value() {
        if let Some(a) = &ci.cpu_architecture {
            return TaskPlatform {
                os: ci.os_type.as_deref().map(os).unwrap_or_else(|| "linux".into()),
                architecture: arch(a),
                source: "the container instance's ecs.cpu-architecture attribute",
            };
        }
    }
    TaskPlatform {
        os: "linux".into(),
        architecture: "amd64".into(),
        source: if facts.task.is_fargate() {
            "Fargate's default (no runtimePlatform in the task definition)"
        } else {
            "assumed linux/x86_64 (no runtimePlatform, container instance not read)"
        },
    }
}

/// IMAGE_PLATFORM_MISMATCH — a multi-platform image (OCI index or Docker manifest list) is pulled
/// by picking the entry for the task's OS and architecture; if there is none, the pull fails with
/// "no matching manifest". Fargate tasks run linux/x86_64 unless `runtimePlatform` says
/// otherwise; EC2 tasks run on the instance's architecture (Graviton = arm64). A single-platform
/// image keeps its architecture in its config blob, which pulldoctor does not download: then only
/// the error message can tell.
pub fn check_platform(facts: &Facts) -> Vec<Finding> {
    let code = RootCause::ImagePlatformMismatch;
    let category = facts.failure.classification.category;
    let Some(image) = facts.failure.image_ref.as_ref() else { return vec![] };
    let wanted = task_platform(facts);
    let resource = image.to_string();
    let from_message = |why: &str| {
        Finding::fail(code, format!("The error message says the image has no build for {wanted}"))
            .resource(resource.clone())
            .evidence("task_platform", wanted.to_string())
            .evidence("task_platform_source", wanted.source)
            .evidence("manifest", why)
            .remediation(remedy(facts, &wanted, None))
    };
    match &facts.identity.manifest {
        Fact::Found { value: m } if m.is_index => {
            let offered: Vec<String> = m.platforms.iter().map(|p| p.to_string()).collect();
            let matches = m.platforms.iter().any(|p| p.os == wanted.os && p.architecture == wanted.architecture);
            let finding = if matches {
                Finding::pass(code, format!("The image index has a {wanted} image"))
            } else {
                Finding::fail(code, format!("The image offers {} but the task runs {wanted}", list(&offered)))
                    .remediation(remedy(facts, &wanted, Some(&offered)))
            };
            vec![finding
                .resource(resource)
                .evidence("task_platform", wanted.to_string())
                .evidence("task_platform_source", wanted.source)
                .evidence("image_platforms", json!(offered))
                .evidence("manifest_media_type", m.media_type.clone())
                .evidence("digest", m.digest.clone())]
        }
        Fact::Found { value: m } if category == Category::PlatformMismatch => vec![Finding::fail(
            code,
            format!("The image is a single-platform image and the error message says it does not fit {wanted}"),
        )
        .resource(resource)
        .evidence("task_platform", wanted.to_string())
        .evidence("task_platform_source", wanted.source)
        .evidence("manifest_media_type", m.media_type.clone())
        .evidence("config_digest", m.config_digest.clone())
        .evidence("note", "a single manifest records its architecture in the config blob, which pulldoctor does not download")
        .remediation(remedy(facts, &wanted, None))],
        _ if category == Category::PlatformMismatch => {
            let why = facts.identity.manifest.gap().unwrap_or("not read").to_string();
            vec![from_message(&why)]
        }
        _ => vec![],
    }
}

fn remedy(facts: &Facts, wanted: &TaskPlatform, offered: Option<&[String]>) -> String {
    let td = task_definition_suffix(facts);
    let switch = match offered {
        Some(o) if o.iter().any(|p| p == "linux/amd64") && wanted.architecture != "amd64" => {
            format!(" or set runtimePlatform.cpuArchitecture to X86_64 in the task definition{td}")
        }
        Some(o) if o.iter().any(|p| p == "linux/arm64" || p.starts_with("linux/arm64/")) && wanted.architecture != "arm64" => {
            format!(" or set runtimePlatform.cpuArchitecture to ARM64 in the task definition{td}")
        }
        _ => format!(" or run the task on the architecture the image was built for (runtimePlatform in the task definition{td}, or the instance type)"),
    };
    format!(
        "Build and push the image for {wanted} (for several platforms at once: docker buildx build --platform \
         linux/amd64,linux/arm64 --push){switch}."
    )
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "no platform".into()
    } else {
        items.join(", ")
    }
}

/// STORAGE_EPHEMERAL — layers are downloaded and unpacked onto the task's storage. On Fargate that
/// is the task's ephemeral storage (20 GiB unless `ephemeralStorage.sizeInGiB` raises it, up to
/// 200 GiB), shared by every container's image and writable layer. On EC2 it is the instance's
/// Docker/containerd volume, which fills up with old images unless the agent cleans them.
pub fn check_storage(facts: &Facts) -> Vec<Finding> {
    let code = RootCause::StorageEphemeral;
    let disk_failure = facts.failure.classification.category == Category::DiskSpace;
    let compressed = facts
        .identity
        .manifest
        .value()
        .and_then(|m| m.layers_bytes)
        .or_else(|| facts.image_by_digest.value().and_then(|i| i.size_bytes))
        .or_else(|| facts.image_by_tag.value().and_then(|i| i.size_bytes))
        .filter(|b| *b > 0);
    let estimate_gib = compressed.map(|b| b as f64 * UNPACK_FACTOR / GIB);
    let resource = facts.task_definition.value().and_then(|t| t.arn.clone());
    if facts.task.is_fargate() {
        let configured = facts
            .task
            .ephemeral_storage_gib
            .or_else(|| facts.task_definition.value().and_then(|t| t.ephemeral_storage_gib));
        let available = configured.unwrap_or(FARGATE_DEFAULT_GIB);
        let too_big = estimate_gib.is_some_and(|e| e > available as f64);
        if !disk_failure && !too_big {
            return vec![];
        }
        // Room for the unpacked image plus 25% for the writable layer and other containers.
        let suggest = estimate_gib.map(|e| ((e * 1.25).ceil() as i32).max(available + 10).max(21));
        let size_text = match (compressed, estimate_gib) {
            (Some(c), Some(e)) => format!(" The image is {:.1} GiB compressed, roughly {e:.0} GiB unpacked.", c as f64 / GIB),
            _ => " The image size is not known.".to_string(),
        };
        let fix = match suggest {
            Some(s) if s > FARGATE_MAX_GIB => format!(
                "The image needs more than Fargate's maximum of {FARGATE_MAX_GIB} GiB: make it smaller (multi-stage \
                 build, fewer layers, no build caches) or run it on EC2 with a larger volume."
            ),
            Some(s) => format!(
                "Set ephemeralStorage.sizeInGiB to at least {s} in the task definition{td} (the default is \
                 {FARGATE_DEFAULT_GIB}, the maximum {FARGATE_MAX_GIB}), or make the image smaller.",
                td = task_definition_suffix(facts)
            ),
            None => format!(
                "Raise ephemeralStorage.sizeInGiB in the task definition{td} above the current {available} GiB (up to \
                 {FARGATE_MAX_GIB}) to fit every container's unpacked image, or make the images smaller.",
                td = task_definition_suffix(facts)
            ),
        };
        let title = if disk_failure {
            format!("The pull ran out of Fargate ephemeral storage ({available} GiB)")
        } else {
            format!("The image may not fit the task's {available} GiB of ephemeral storage")
        };
        let finding = if disk_failure { Finding::fail(code, title) } else { Finding::warn(code, title) };
        let mut finding = finding
            .evidence("ephemeral_storage_gib", available)
            .evidence("ephemeral_storage_configured", configured)
            .evidence("image_compressed_bytes", compressed)
            .evidence("unpacked_estimate_gib", estimate_gib.map(|e| (e * 10.0).round() / 10.0))
            .evidence("suggested_size_gib", suggest.filter(|s| *s <= FARGATE_MAX_GIB))
            .remediation(format!("{}{size_text}", fix.trim_end()));
        if let Some(r) = resource {
            finding = finding.resource(r);
        }
        return vec![finding];
    }
    if !disk_failure {
        return vec![];
    }
    let devicemapper = facts.failure.message.to_ascii_lowercase().contains("data blocks");
    let mut finding = Finding::fail(code, "The container instance ran out of disk space while pulling")
        .evidence("launch_type", facts.task.launch_type.clone())
        .evidence("container_instance", facts.task.container_instance_arn.clone())
        .evidence("image_compressed_bytes", compressed)
        .remediation(if devicemapper {
            "The Docker devicemapper thin pool is full: enlarge the Docker data volume of the instance (or move to an \
             AMI that uses overlay2 on the root volume), and let the ECS agent remove unused images sooner \
             (ECS_IMAGE_CLEANUP_INTERVAL, ECS_IMAGE_MINIMUM_CLEANUP_AGE in /etc/ecs/ecs.config)."
        } else {
            "Give the container instance a larger root/data volume in its launch template, and let the ECS agent remove \
             unused images sooner (ECS_IMAGE_CLEANUP_INTERVAL, ECS_IMAGE_MINIMUM_CLEANUP_AGE in /etc/ecs/ecs.config); \
             check what else fills the disk (logs, volumes)."
        });
    if let Some(r) = facts.task.container_instance_arn.clone() {
        finding = finding.resource(r);
    }
    vec![finding]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::ecr::fixtures::{facts, IMAGE};
    use crate::classify::classify;
    use crate::diagnosis::Status;
    use crate::facts::{ContainerInstanceFacts, ImageFacts, ManifestFacts, PlatformFacts};

    fn index(platforms: &[(&str, &str)]) -> Fact<ManifestFacts> {
        Fact::found(ManifestFacts {
            is_index: true,
            media_type: Some("application/vnd.docker.distribution.manifest.list.v2+json".into()),
            platforms: platforms
                .iter()
                .map(|(os, arch)| PlatformFacts { os: os.to_string(), architecture: arch.to_string(), variant: None })
                .collect(),
            ..Default::default()
        })
    }

    const NO_MATCH: &str = "CannotPullContainerError: pull image manifest has been retried 1 time(s): no matching manifest for linux/arm64/v8 in the manifest list entries";

    #[test]
    fn task_platform_sources() {
        let mut f = facts(IMAGE);
        f.task.launch_type = Some("FARGATE".into());
        assert_eq!(task_platform(&f).to_string(), "linux/amd64");
        if let Fact::Found { value } = &mut f.task_definition {
            value.cpu_architecture = Some("ARM64".into());
        }
        assert_eq!(task_platform(&f).to_string(), "linux/arm64");
        let mut f = facts(IMAGE);
        f.task.launch_type = Some("EC2".into());
        f.identity.container_instance = Fact::found(ContainerInstanceFacts {
            cpu_architecture: Some("arm64".into()),
            os_type: Some("linux".into()),
            ..Default::default()
        });
        let p = task_platform(&f);
        assert_eq!((p.to_string(), p.source.contains("container instance")), ("linux/arm64".into(), true));
    }

    #[test]
    fn platform_table() {
        // (name, task arch, manifest, message, expected)
        let cases: Vec<(&str, Option<&str>, Fact<ManifestFacts>, &str, Option<Status>)> = vec![
            ("arm64 task, amd64-only index", Some("ARM64"), index(&[("linux", "amd64")]), NO_MATCH, Some(Status::Fail)),
            ("arm64 task, multi-arch index", Some("ARM64"), index(&[("linux", "amd64"), ("linux", "arm64")]), NO_MATCH, Some(Status::Pass)),
            ("default amd64, arm64-only index", None, index(&[("linux", "arm64")]), "unknown failure", Some(Status::Fail)),
            ("single manifest, platform message", Some("ARM64"), Fact::found(ManifestFacts::default()), NO_MATCH, Some(Status::Fail)),
            ("single manifest, other message", Some("ARM64"), Fact::found(ManifestFacts::default()), "i/o timeout", None),
            ("manifest unreadable, platform message", Some("ARM64"), Fact::Unreadable { reason: "AccessDenied: ecr:BatchGetImage".into() }, NO_MATCH, Some(Status::Fail)),
            ("not read, network message", None, Fact::default(), "dial tcp: i/o timeout", None),
        ];
        for (name, arch, manifest, message, expected) in cases {
            let mut f = facts(IMAGE);
            f.task.launch_type = Some("FARGATE".into());
            if let Fact::Found { value } = &mut f.task_definition {
                value.cpu_architecture = arch.map(str::to_string);
            }
            f.failure.message = message.into();
            f.failure.classification = classify(message);
            f.identity.manifest = manifest;
            let got = check_platform(&f);
            assert_eq!(got.first().map(|x| x.status), expected, "{name}: {got:?}");
        }
    }

    #[test]
    fn platform_fail_names_both_sides_and_the_fix() {
        let mut f = facts(IMAGE);
        f.task.launch_type = Some("FARGATE".into());
        if let Fact::Found { value } = &mut f.task_definition {
            value.cpu_architecture = Some("ARM64".into());
        }
        f.failure.classification = classify(NO_MATCH);
        f.identity.manifest = index(&[("linux", "amd64")]);
        let got = &check_platform(&f)[0];
        assert_eq!(got.title, "The image offers linux/amd64 but the task runs linux/arm64");
        assert_eq!(got.evidence["image_platforms"], json!(["linux/amd64"]));
        let rem = got.remediation.as_deref().unwrap();
        assert!(rem.contains("X86_64") && rem.contains("web:7") && rem.contains("buildx"), "{rem}");
    }

    #[test]
    fn storage_table() {
        const DISK: &str = "CannotPullContainerError: failed to register layer: write /usr/lib/x.so: no space left on device";
        let big = 30 * 1024 * 1024 * 1024_i64; // 30 GiB compressed
        // (name, launch, configured GiB, compressed bytes, message, expected, remediation contains)
        let cases: Vec<(&str, &str, Option<i32>, Option<i64>, &str, Option<Status>, &str)> = vec![
            ("fargate default, huge image", "FARGATE", None, Some(big), DISK, Some(Status::Fail), "at least 94"),
            ("fargate 50, 5 GiB image", "FARGATE", Some(50), Some(5 << 30), DISK, Some(Status::Fail), "at least 60"),
            ("fargate, too big for 200", "FARGATE", None, Some(100 << 30), DISK, Some(Status::Fail), "maximum of 200"),
            ("fargate, size unknown", "FARGATE", None, None, DISK, Some(Status::Fail), "above the current 20"),
            ("fargate, big image, other message", "FARGATE", None, Some(big), "i/o timeout", Some(Status::Warn), "at least 94"),
            ("fargate, small image, other message", "FARGATE", None, Some(1 << 30), "i/o timeout", None, ""),
            ("ec2 disk full", "EC2", None, None, DISK, Some(Status::Fail), "ECS_IMAGE_CLEANUP_INTERVAL"),
            ("ec2 thin pool", "EC2", None, None, "CannotPullContainerError: failed to register layer: devmapper: Thin Pool has 4 free data blocks which is less than minimum required 163840 free data blocks", Some(Status::Fail), "devicemapper"),
            ("ec2 other message", "EC2", None, None, "i/o timeout", None, ""),
        ];
        for (name, launch, configured, bytes, message, expected, rem) in cases {
            let mut f = facts(IMAGE);
            f.task.launch_type = Some(launch.into());
            f.task.ephemeral_storage_gib = configured;
            f.image_by_tag = Fact::found(ImageFacts { size_bytes: bytes, ..Default::default() });
            f.failure.message = message.into();
            f.failure.classification = classify(message);
            let got = check_storage(&f);
            assert_eq!(got.first().map(|x| x.status), expected, "{name}: {got:?}");
            if let Some(g) = got.first() {
                assert!(g.remediation.as_deref().unwrap().contains(rem), "{name}: {:?}", g.remediation);
            }
        }
    }

    #[test]
    fn manifest_layer_sizes_win_over_describe_images() {
        let mut f = facts(IMAGE);
        f.task.launch_type = Some("FARGATE".into());
        f.failure.classification = classify("no space left on device");
        f.image_by_tag = Fact::found(ImageFacts { size_bytes: Some(10), ..Default::default() });
        f.identity.manifest = Fact::found(ManifestFacts { layers_bytes: Some(40 << 30), ..Default::default() });
        let got = &check_storage(&f)[0];
        assert_eq!(got.evidence["image_compressed_bytes"], json!(40_i64 << 30));
        assert_eq!(got.evidence["suggested_size_gib"], json!(125));
    }
}
