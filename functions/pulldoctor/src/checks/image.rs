//! Image checks: does the image fit the task — its OS/architecture, and the disk it unpacks onto.

use serde_json::json;

use crate::model::platform::{task_platform, windows_build, windows_release, TaskPlatform};
use super::ecr::task_definition_suffix;
use crate::model::message::Category;
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{Fact, Facts, PlatformFacts};

/// Fargate's ephemeral storage when the task definition sets none (platform 1.4.0 and later).
pub const FARGATE_DEFAULT_GIB: i32 = 20;
/// The most `ephemeralStorage.sizeInGiB` accepts.
pub const FARGATE_MAX_GIB: i32 = 200;
/// Unpacked layers usually take two to three times their compressed size; pulldoctor assumes 2.5.
const UNPACK_FACTOR: f64 = 2.5;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

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
            let candidates: Vec<&PlatformFacts> =
                m.platforms.iter().filter(|p| p.os == wanted.os && p.architecture == wanted.architecture).collect();
            let finding = if candidates.is_empty() {
                Finding::fail(code, format!("The image offers {} but the task runs {wanted}", list(&offered)))
                    .remediation(remedy(facts, &wanted, Some(&offered)))
            } else if wanted.os == "windows" {
                windows_build_finding(facts, &wanted, &candidates)
            } else {
                Finding::pass(code, format!("The image index has a {wanted} image"))
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

/// Windows: a process-isolated container (what ECS runs, on EC2 and on Fargate) needs an image
/// built from the host's Windows build. Pulling from an index, the runtime skips entries whose
/// `os.version` build is newer than the host's and prefers the host's own build: with only newer
/// builds the pull fails ("no matching manifest"); with only older ones the pull succeeds but
/// the container is refused at start on most hosts. An unknown Windows version or an entry
/// without `os.version` is never a `fail`.
fn windows_build_finding(facts: &Facts, wanted: &TaskPlatform, candidates: &[&PlatformFacts]) -> Finding {
    let code = RootCause::ImagePlatformMismatch;
    let versions: Vec<String> = candidates.iter().map(|p| p.os_version.clone().unwrap_or_else(|| "no os.version".into())).collect();
    let base = |f: Finding| {
        f.evidence("image_windows_versions", json!(versions))
            .evidence("task_windows_family", wanted.windows_family.clone())
            .evidence("task_windows_family_source", wanted.windows_family_source)
    };
    let release = wanted.windows_family.as_deref().and_then(windows_release);
    let Some(release) = release else {
        let why = match &wanted.windows_family {
            Some(f) => format!("the Windows family {f} is not one pulldoctor knows the build of"),
            None => "the task's Windows Server version is not known (no runtimePlatform family, no ecs.os-family attribute read)".into(),
        };
        return base(Finding::pass(code, format!("The image index has a {wanted} image")))
            .evidence("note", format!("Windows build not compared: {why}"));
    };
    let host = release.build;
    let builds: Vec<Option<u32>> = candidates.iter().map(|p| p.os_version.as_deref().and_then(windows_build)).collect();
    let host_text = format!("{} (10.0.{host})", release.name);
    if builds.contains(&Some(host)) {
        return base(Finding::pass(code, format!("The image index has a {wanted} image for {host_text}")));
    }
    if builds.iter().any(Option::is_none) {
        return base(Finding::pass(code, format!("The image index has a {wanted} image")))
            .evidence("note", format!("an entry has no os.version: the runtime takes it, so its build could not be compared with {host_text}"));
    }
    let found: Vec<String> = builds.iter().flatten().map(|b| format!("10.0.{b}")).collect();
    let fix = format!(
        "Build the image FROM a {name} base image (mcr.microsoft.com/windows/servercore:{tag}, nanoserver:{tag}, …) and \
         add it to the manifest list, or run the task on the Windows Server version the image was built for \
         (runtimePlatform.operatingSystemFamily in the task definition{td}, or container instances of that version).",
        name = release.name,
        tag = release.base_tag,
        td = task_definition_suffix(facts),
    );
    if builds.iter().flatten().all(|b| *b > host) {
        return base(Finding::fail(
            code,
            format!("The image offers {wanted} only for build {} but the task runs {host_text}", found.join(", ")),
        ))
        .evidence("note", "the runtime skips index entries built for a newer Windows build than the host's")
        .remediation(fix);
    }
    base(Finding::warn(
        code,
        format!("The image offers {wanted} for build {} but not for the task's {host_text}", found.join(", ")),
    ))
    .evidence(
        "note",
        "the pull can take an older build, but a process-isolated container needs the host's build to start \
         (newer Windows Server hosts may accept older images)",
    )
    .remediation(fix)
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
    if facts.task.is_fargate() {
        return fargate_storage(facts, compressed, estimate_gib, disk_failure);
    }
    if !disk_failure {
        return vec![];
    }
    if facts.task.is_managed_instances() {
        // ECS launches these instances and cleans their images: only the capacity provider's
        // storage size is the customer's to change.
        let mut finding = Finding::fail(code, "The Managed Instance ran out of disk space while pulling")
            .evidence("launch_type", facts.task.launch_type.clone())
            .evidence("capacity_provider", facts.task.capacity_provider.clone())
            .evidence("container_instance", facts.task.container_instance_arn.clone())
            .evidence("image_compressed_bytes", compressed)
            .remediation(format!(
                "Raise storageConfiguration.storageSizeGiB in the instance launch template of the Managed Instances \
                 capacity provider{cp} so each instance's volume holds the unpacked images of its tasks, or make the \
                 image smaller (multi-stage build, fewer layers).",
                cp = facts.task.capacity_provider.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
            ));
        if let Some(r) = facts.task.container_instance_arn.clone() {
            finding = finding.resource(r);
        }
        return vec![finding];
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

/// Fargate: the unpacked image must fit the task's ephemeral storage.
fn fargate_storage(facts: &Facts, compressed: Option<i64>, estimate_gib: Option<f64>, disk_failure: bool) -> Vec<Finding> {
    let code = RootCause::StorageEphemeral;
    let resource = facts.task_definition.value().and_then(|t| t.arn.clone());
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
    vec![finding]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::ecr::fixtures::{facts, IMAGE};
    use crate::classify::classify;
    use crate::model::diagnosis::Status;
    use crate::model::facts::{ContainerInstanceFacts, ImageFacts, ManifestFacts, PlatformFacts};

    fn index(platforms: &[(&str, &str)]) -> Fact<ManifestFacts> {
        Fact::found(ManifestFacts {
            is_index: true,
            media_type: Some("application/vnd.docker.distribution.manifest.list.v2+json".into()),
            platforms: platforms
                .iter()
                .map(|(os, arch)| PlatformFacts { os: os.to_string(), architecture: arch.to_string(), ..Default::default() })
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

    /// Windows index entries carry `os.version`; the task's Windows Server version comes from
    /// runtimePlatform, else (EC2) from the container instance's `ecs.os-family`.
    #[test]
    fn windows_build_table() {
        const WIN_NO_MATCH: &str = "CannotPullContainerError: no matching manifest for windows/amd64 10.0.17763 in the manifest list entries";
        let win = |versions: &[Option<&str>]| {
            Fact::found(ManifestFacts {
                is_index: true,
                platforms: versions
                    .iter()
                    .map(|v| PlatformFacts {
                        os: "windows".into(),
                        architecture: "amd64".into(),
                        os_version: v.map(str::to_string),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
        };
        let ltsc2019 = Some("10.0.17763.5458");
        let ltsc2022 = Some("10.0.20348.2340");
        let ltsc2025 = Some("10.0.26100.1742");
        // (name, launch type, runtimePlatform family, instance (os-type, os-family), manifest, expected, title contains)
        type Case<'a> = (&'a str, &'a str, Option<&'a str>, Option<(&'a str, Option<&'a str>)>, Fact<ManifestFacts>, Status, &'a str);
        let cases: Vec<Case> = vec![
            ("2019 task, 2019 and 2022 entries", "FARGATE", Some("WINDOWS_SERVER_2019_CORE"), None, win(&[ltsc2019, ltsc2022]), Status::Pass, "Windows Server 2019 (10.0.17763)"),
            ("2019 task, 2022 entry only", "FARGATE", Some("WINDOWS_SERVER_2019_FULL"), None, win(&[ltsc2022]), Status::Fail, "only for build 10.0.20348 but the task runs Windows Server 2019 (10.0.17763)"),
            ("2022 task, 2022 entry", "FARGATE", Some("WINDOWS_SERVER_2022_CORE"), None, win(&[ltsc2022]), Status::Pass, "10.0.20348"),
            ("2025 task, 2025 entry", "FARGATE", Some("WINDOWS_SERVER_2025_FULL"), None, win(&[ltsc2019, ltsc2025]), Status::Pass, "Windows Server 2025 (10.0.26100)"),
            ("2016 task, 2019 entry", "EC2", Some("WINDOWS_SERVER_2016_FULL"), None, win(&[ltsc2019]), Status::Fail, "Windows Server 2016 (10.0.14393)"),
            ("EC2 2019 instance, no runtimePlatform, 2022 only", "EC2", None, Some(("windows", Some("WINDOWS_SERVER_2019_FULL"))), win(&[ltsc2022]), Status::Fail, "Windows Server 2019"),
            ("EC2 2022 instance, 2022 entry", "EC2", None, Some(("windows", Some("WINDOWS_SERVER_2022_CORE"))), win(&[ltsc2019, ltsc2022]), Status::Pass, "Windows Server 2022"),
            ("EC2 2022 instance, 2019 entry only", "EC2", None, Some(("windows", Some("WINDOWS_SERVER_2022_CORE"))), win(&[ltsc2019]), Status::Warn, "not for the task's Windows Server 2022"),
            ("EC2 instance family unknown", "EC2", None, Some(("windows", None)), win(&[ltsc2022]), Status::Pass, "has a windows/amd64 image"),
            ("unknown future family", "FARGATE", Some("WINDOWS_SERVER_2031_CORE"), None, win(&[ltsc2022]), Status::Pass, "has a windows/amd64 image"),
            ("entry without os.version", "FARGATE", Some("WINDOWS_SERVER_2019_CORE"), None, win(&[None, ltsc2022]), Status::Pass, "has a windows/amd64 image"),
            ("linux task, windows-only index", "FARGATE", Some("LINUX"), None, win(&[ltsc2019]), Status::Fail, "task runs linux/amd64"),
        ];
        for (name, launch, family, instance, manifest, expected, title) in cases {
            let mut f = facts(IMAGE);
            f.task.launch_type = Some(launch.into());
            if let Fact::Found { value } = &mut f.task_definition {
                value.operating_system_family = family.map(str::to_string);
            }
            if let Some((os_type, os_family)) = instance {
                f.identity.container_instance = Fact::found(ContainerInstanceFacts {
                    cpu_architecture: Some("x86_64".into()),
                    os_type: Some(os_type.into()),
                    os_family: os_family.map(str::to_string),
                    ..Default::default()
                });
            }
            f.failure.message = WIN_NO_MATCH.into();
            f.failure.classification = classify(WIN_NO_MATCH);
            f.identity.manifest = manifest;
            let got = check_platform(&f);
            assert_eq!(got[0].status, expected, "{name}: {:?}", got[0]);
            assert!(got[0].title.contains(title), "{name}: {}", got[0].title);
            if expected == Status::Fail && name != "linux task, windows-only index" {
                let rem = got[0].remediation.as_deref().unwrap();
                assert!(rem.contains("mcr.microsoft.com/windows/servercore:ltsc"), "{name}: {rem}");
            }
            if matches!(name, "EC2 instance family unknown" | "unknown future family" | "entry without os.version") {
                assert!(got[0].evidence["note"].as_str().is_some(), "{name}: the pass says why the build was not compared");
            }
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
            ("managed instances disk full", "MANAGED_INSTANCES", None, Some(big), DISK, Some(Status::Fail), "storageConfiguration.storageSizeGiB"),
            ("managed instances other message", "MANAGED_INSTANCES", None, Some(big), "i/o timeout", None, ""),
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
