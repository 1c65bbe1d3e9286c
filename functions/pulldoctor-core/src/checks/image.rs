//! Image checks: does the image fit the task — its OS/architecture, and the disk it unpacks onto.

use serde_json::json;

use super::wording::task_definition_suffix;
use super::wording::words;
use crate::checks::rule::{Doc, Phases, Rule, Stage, EVERYWHERE};
use crate::model::diagnosis::{Finding, RootCause};
use crate::model::facts::{Fact, Facts, PlatformFacts};
use crate::model::message::{Category, Phase};
use crate::model::platform::{task_platform, windows_build, windows_release, TaskPlatform};

/// Fargate's ephemeral storage when the task definition sets none (platform 1.4.0 and later).
pub const FARGATE_DEFAULT_GIB: i32 = 20;
/// The most `ephemeralStorage.sizeInGiB` accepts.
pub const FARGATE_MAX_GIB: i32 = 200;
/// Unpacked layers usually take two to three times their compressed size; pulldoctor assumes 2.5.
const UNPACK_FACTOR: f64 = 2.5;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

pub const IMAGE_PLATFORM: Rule = Rule {
    code: RootCause::ImagePlatformMismatch,
    name: "image_platform",
    title: "The image has no build for the task's OS/architecture",
    stage: Stage::Image,
    explains: &[Category::PlatformMismatch],
    phases: Phases::Only(&[Phase::Manifest]),
    scope: EVERYWHERE,
    reads: &[
        &["ecr:BatchGetImage", "ecs:DescribeContainerInstances"],
    ],
    doc: Doc {
        what: "the image has no manifest for the task's OS/architecture (or Windows build)",
        why: "A multi-platform image (OCI index or Docker manifest list) is pulled by picking the entry for \
             the task's OS and architecture, and a Windows image by its build; with no such entry the pull \
             fails with \"no matching manifest\". Fargate tasks run linux/x86_64 unless runtimePlatform says \
             otherwise, EC2 tasks run on the instance's architecture (Graviton is arm64). A single-platform \
             image keeps its architecture in its config, which pulldoctor does not read.",
        fix: "Build and push the image for the platform the task runs on (docker buildx build --platform \
             linux/amd64,linux/arm64), or run the task on the platform the image was built for \
             (runtimePlatform in the task definition, or the instance type).",
        reference: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html",
    },
    run: check_platform,
};

/// The check of [`IMAGE_PLATFORM`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
pub fn check_platform(facts: &Facts) -> Vec<Finding> {
    let code = RootCause::ImagePlatformMismatch;
    let category = facts.failure.classification.category;
    let Some(image) = facts.failure.image_ref.as_ref() else {
        return vec![];
    };
    let wanted = task_platform(facts);
    let resource = image.to_string();
    let from_message = |why: &str| {
        Finding::fail(
            code,
            format!("The error message says the image has no build for {wanted}"),
        )
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
                Finding::fail(code, format!("The image offers {} but the {} runs {wanted}", list(&offered), words(facts).task))
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
fn windows_build_finding(
    facts: &Facts,
    wanted: &TaskPlatform,
    candidates: &[&PlatformFacts],
) -> Finding {
    let code = RootCause::ImagePlatformMismatch;
    let versions: Vec<String> = candidates
        .iter()
        .map(|p| {
            p.os_version
                .clone()
                .unwrap_or_else(|| "no os.version".into())
        })
        .collect();
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
        return base(Finding::pass(
            code,
            format!("The image index has a {wanted} image"),
        ))
        .evidence("note", format!("Windows build not compared: {why}"));
    };
    let host = release.build;
    let builds: Vec<Option<u32>> = candidates
        .iter()
        .map(|p| p.os_version.as_deref().and_then(windows_build))
        .collect();
    let host_text = format!("{} (10.0.{host})", release.name);
    if builds.contains(&Some(host)) {
        return base(Finding::pass(
            code,
            format!("The image index has a {wanted} image for {host_text}"),
        ));
    }
    if builds.iter().any(Option::is_none) {
        return base(Finding::pass(code, format!("The image index has a {wanted} image")))
            .evidence("note", format!("an entry has no os.version: the runtime takes it, so its build could not be compared with {host_text}"));
    }
    let found: Vec<String> = builds
        .iter()
        .flatten()
        .map(|b| format!("10.0.{b}"))
        .collect();
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
            format!(
                "The image offers {wanted} only for build {} but the task runs {host_text}",
                found.join(", ")
            ),
        ))
        .evidence(
            "note",
            "the runtime skips index entries built for a newer Windows build than the host's",
        )
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

pub const EPHEMERAL_STORAGE: Rule = Rule {
    code: RootCause::StorageEphemeral,
    name: "ephemeral_storage",
    title: "The pull ran out of disk space",
    stage: Stage::Image,
    explains: &[Category::DiskSpace],
    phases: Phases::Any,
    scope: EVERYWHERE,
    reads: &[
        &["ecr:DescribeImages", "ecr:BatchGetImage"],
    ],
    doc: Doc {
        what: "the pull ran out of disk (Fargate ephemeral storage or instance volume)",
        why: "Layers are downloaded and unpacked onto the task's storage. On Fargate that is the task's \
             ephemeral storage (20 GiB unless ephemeralStorage.sizeInGiB raises it, up to 200 GiB), shared by \
             every container's image and writable layer. On EC2 it is the instance's container volume, which \
             fills with old images unless the agent removes them. The pull fails with \"no space left on \
             device\".",
        fix: "On Fargate, raise ephemeralStorage.sizeInGiB in the task definition; on EC2, give the instances \
             a larger data volume and let the ECS agent clean up unused images (ECS_IMAGE_CLEANUP_INTERVAL \
             and related settings).",
        reference: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-storage.html",
    },
    run: check_storage,
};

/// The check of [`EPHEMERAL_STORAGE`]: what it judges, why and the fix are its [`Doc`](crate::checks::Doc).
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
    let devicemapper = facts
        .failure
        .message
        .to_ascii_lowercase()
        .contains("data blocks");
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
fn fargate_storage(
    facts: &Facts,
    compressed: Option<i64>,
    estimate_gib: Option<f64>,
    disk_failure: bool,
) -> Vec<Finding> {
    let code = RootCause::StorageEphemeral;
    let resource = facts.task_definition.value().and_then(|t| t.arn.clone());
    let configured = facts.task.ephemeral_storage_gib.or_else(|| {
        facts
            .task_definition
            .value()
            .and_then(|t| t.ephemeral_storage_gib)
    });
    let available = configured.unwrap_or(FARGATE_DEFAULT_GIB);
    let too_big = estimate_gib.is_some_and(|e| e > available as f64);
    if !disk_failure && !too_big {
        return vec![];
    }
    // Room for the unpacked image plus 25% for the writable layer and other containers.
    let suggest = estimate_gib.map(|e| ((e * 1.25).ceil() as i32).max(available + 10).max(21));
    let size_text = match (compressed, estimate_gib) {
        (Some(c), Some(e)) => format!(
            " The image is {:.1} GiB compressed, roughly {e:.0} GiB unpacked.",
            c as f64 / GIB
        ),
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
        format!(
            "The image may not fit the {}'s {available} GiB of ephemeral storage",
            words(facts).task
        )
    };
    let finding = if disk_failure {
        Finding::fail(code, title)
    } else {
        Finding::warn(code, title)
    };
    let mut finding = finding
        .evidence("ephemeral_storage_gib", available)
        .evidence("ephemeral_storage_configured", configured)
        .evidence("image_compressed_bytes", compressed)
        .evidence(
            "unpacked_estimate_gib",
            estimate_gib.map(|e| (e * 10.0).round() / 10.0),
        )
        .evidence(
            "suggested_size_gib",
            suggest.filter(|s| *s <= FARGATE_MAX_GIB),
        )
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
    use crate::model::facts::ContainerInstanceFacts;

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
        assert_eq!(
            (p.to_string(), p.source.contains("container instance")),
            ("linux/arm64".into(), true)
        );
    }
}
