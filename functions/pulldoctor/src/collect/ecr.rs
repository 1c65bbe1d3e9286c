//! ECR reads: the image, by pinned digest and by tag, in the image's own registry (account) and
//! region; whether the repository exists follows from their answers.

use aws_sdk_ecr::types::{ImageDetail, ImageIdentifier};

use super::{parsed, CallLog, Clients};
use crate::model::facts::{
    ErrorKind, Fact, Facts, ImageFacts, ManifestFacts, PlatformFacts, RepositoryFacts,
};
use serde_json::Value;

use crate::model::image_ref::ImageRef;
use crate::model::message::Category;
use crate::model::platform::task_platform;

const REPOSITORY_NOT_FOUND: &str = "RepositoryNotFoundException";
const IMAGE_NOT_FOUND: &str = "ImageNotFoundException";

pub(super) async fn read_image(
    clients: &Clients,
    log: &CallLog,
    image: Option<&ImageRef>,
) -> (Fact<RepositoryFacts>, Fact<ImageFacts>, Fact<ImageFacts>) {
    let skipped = |why: &str| {
        (
            Fact::NotCollected { reason: why.into() },
            Fact::NotCollected { reason: why.into() },
            Fact::NotCollected { reason: why.into() },
        )
    };
    let Some(image) = image else {
        return skipped("the image reference is absent or could not be parsed");
    };
    let Some((account, region)) = image.ecr() else {
        return skipped("the image is not in a private ECR registry");
    };
    let describe = |id: Option<ImageIdentifier>| async move {
        match id {
            Some(id) => describe_image(clients, log, image, id).await,
            None => Fact::NotCollected {
                reason: "the reference has no such part".into(),
            },
        }
    };
    let by_digest = image
        .digest
        .as_ref()
        .map(|d| ImageIdentifier::builder().image_digest(d).build());
    let by_tag = image
        .effective_tag()
        .map(|t| ImageIdentifier::builder().image_tag(t).build());
    let (by_digest, by_tag) = tokio::join!(describe(by_digest), describe(by_tag));
    (
        repository_of(image, account, region, &by_digest, &by_tag),
        by_digest,
        by_tag,
    )
}

/// Whether the repository exists, from the image reads: `DescribeImages` answers
/// `RepositoryNotFoundException` for a missing repository and the image (or
/// `ImageNotFoundException`) in an existing one, so `ecr:DescribeRepositories` would add a call and
/// nothing else. Its name, ARN and registry follow from the reference.
fn repository_of(
    image: &ImageRef,
    account: &str,
    region: &str,
    by_digest: &Fact<ImageFacts>,
    by_tag: &Fact<ImageFacts>,
) -> Fact<RepositoryFacts> {
    let missing_repository = |f: &Fact<ImageFacts>| matches!(f, Fact::NotFound { detail } if detail.starts_with(REPOSITORY_NOT_FOUND));
    let repository_answered = |f: &Fact<ImageFacts>| {
        matches!(f, Fact::Found { .. } | Fact::NotFound { .. }) && !missing_repository(f)
    };
    if let Some(Fact::NotFound { detail }) = [by_tag, by_digest]
        .into_iter()
        .find(|f| missing_repository(f))
    {
        return Fact::NotFound {
            detail: detail.clone(),
        };
    }
    if [by_tag, by_digest].into_iter().any(repository_answered) {
        let partition = crate::model::arn::partition_of(region);
        return Fact::found(RepositoryFacts {
            name: image.repository.clone(),
            arn: Some(format!(
                "arn:{partition}:ecr:{region}:{account}:repository/{}",
                image.repository
            )),
            registry_id: Some(account.to_string()),
            uri: Some(format!("{}/{}", image.registry, image.repository)),
            region: Some(region.to_string()),
        });
    }
    // Neither read answered: the repository is as unknown as the image, for the same reason.
    match (by_tag, by_digest) {
        (Fact::NotCollected { .. }, gap) | (gap, _) => {
            gap.clone().map(|_| RepositoryFacts::default())
        }
    }
}

/// `ecr:DescribeImages` for one tag or digest of an ECR image, in its registry and region.
pub(super) async fn describe_image(
    clients: &Clients,
    log: &CallLog,
    image: &ImageRef,
    id: ImageIdentifier,
) -> Fact<ImageFacts> {
    let Some((account, region)) = image.ecr() else {
        return Fact::NotCollected {
            reason: "the image is not in a private ECR registry".into(),
        };
    };
    let ecr = clients.ecr_in(region);
    shared!(log, scope: region,
        "ecr:DescribeImages",
        &[IMAGE_NOT_FOUND, REPOSITORY_NOT_FOUND],
        ecr.describe_images().registry_id(account).repository_name(&image.repository).image_ids(id),
        |out| match out.image_details().first() {
            Some(d) => Fact::found(image_facts(d)),
            None => Fact::NotFound { detail: "image not returned".into() },
        },
    )
    .await
}

pub(super) fn image_facts(d: &ImageDetail) -> ImageFacts {
    ImageFacts {
        digest: d.image_digest().map(str::to_string),
        tags: d.image_tags().to_vec(),
        pushed_at: d.image_pushed_at().map(|t| t.to_string()),
        size_bytes: d.image_size_in_bytes(),
        manifest_media_type: d.image_manifest_media_type().map(str::to_string),
        status: d.image_status().map(|s| s.as_str().to_string()),
        last_archived_at: d.last_archived_at().map(|t| t.to_string()),
        last_pulled_at: d.last_recorded_pull_time().map(|t| t.to_string()),
    }
}

/// The failing image in private ECR, with its registry's account and region.
pub(super) type EcrImage<'a> = Option<(&'a ImageRef, &'a str, &'a str)>;

pub(super) fn not_private_ecr<T>() -> Fact<T> {
    Fact::NotCollected {
        reason: "not a private ECR image".into(),
    }
}

/// Media types pulldoctor accepts from `BatchGetImage`: indexes first, so a multi-platform image
/// is returned as its index rather than converted.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

pub(super) async fn read_repository_policy(
    clients: &Clients,
    log: &CallLog,
    ecr: EcrImage<'_>,
) -> Fact<Value> {
    let Some((image, account, region)) = ecr else {
        return not_private_ecr();
    };
    shared!(log, scope: region,
        "ecr:GetRepositoryPolicy",
        &["RepositoryPolicyNotFoundException", "RepositoryNotFoundException"],
        clients.ecr_in(region).get_repository_policy().registry_id(account).repository_name(&image.repository),
        |out| parsed(out.policy_text(), "repository policy"),
    )
    .await
}

/// The lifecycle policy, only when the image is gone (it may have expired it).
pub(super) async fn read_lifecycle_policy(
    clients: &Clients,
    log: &CallLog,
    facts: &Facts,
    ecr: EcrImage<'_>,
) -> Fact<Value> {
    let Some((image, account, region)) = ecr else {
        return not_private_ecr();
    };
    if !(facts.image_by_tag.is_not_found() || facts.image_by_digest.is_not_found()) {
        return Fact::NotCollected {
            reason: "the image exists".into(),
        };
    }
    shared!(log, scope: region,
        "ecr:GetLifecyclePolicy",
        &["LifecyclePolicyNotFoundException", "RepositoryNotFoundException"],
        clients.ecr_in(region).get_lifecycle_policy().registry_id(account).repository_name(&image.repository),
        |out| parsed(out.lifecycle_policy_text(), "lifecycle policy"),
    )
    .await
}

/// The image manifest, for the failures it explains (platform, disk space, unknown).
pub(super) async fn read_manifest(
    clients: &Clients,
    log: &CallLog,
    facts: &Facts,
    ecr: EcrImage<'_>,
) -> Fact<ManifestFacts> {
    let Some((image, account, region)) = ecr else {
        return not_private_ecr();
    };
    let category = facts.failure.classification.category;
    if !matches!(
        category,
        Category::PlatformMismatch | Category::DiskSpace | Category::Unknown
    ) {
        return Fact::NotCollected {
            reason: "not needed for this kind of failure".into(),
        };
    }
    let Some(id) = manifest_id(facts, image) else {
        return Fact::NotCollected {
            reason: "the image was not found".into(),
        };
    };
    let ecr_client = clients.ecr_in(region);
    let mut manifest =
        batch_get_manifest(&ecr_client, log, region, account, &image.repository, id).await;
    // Disk failures need the layer sizes of the platform the task pulls, inside the index.
    if category == Category::DiskSpace {
        if let Fact::Found { value } = &mut manifest {
            let child = pulled_entry(&value.child_digests, &task_platform(facts));
            if let Some(digest) = child {
                let id = ImageIdentifier::builder().image_digest(digest).build();
                if let Fact::Found { value: child } =
                    batch_get_manifest(&ecr_client, log, region, account, &image.repository, id)
                        .await
                {
                    value.facts.layers_bytes = child.facts.layers_bytes;
                }
            }
        }
    }
    manifest.map(|m| m.facts)
}

/// The image to ask `BatchGetImage` for: by the digest found, else the tag's digest, else the tag.
fn manifest_id(facts: &Facts, image: &ImageRef) -> Option<ImageIdentifier> {
    match (
        &facts.image_by_digest,
        &facts.image_by_tag,
        &image.digest,
        image.effective_tag(),
    ) {
        (Fact::Found { .. }, _, Some(d), _) => {
            Some(ImageIdentifier::builder().image_digest(d).build())
        }
        (_, Fact::Found { value }, _, Some(tag)) => Some(match &value.digest {
            Some(d) => ImageIdentifier::builder().image_digest(d).build(),
            None => ImageIdentifier::builder().image_tag(tag).build(),
        }),
        _ => None,
    }
}

/// The index entry the runtime pulls for `wanted`: its OS and architecture, and on Windows the
/// host's build when the index has it (the runtime prefers that entry).
fn pulled_entry(
    entries: &[(PlatformFacts, String)],
    wanted: &crate::model::platform::TaskPlatform,
) -> Option<String> {
    let host_build = wanted
        .windows_family
        .as_deref()
        .and_then(crate::model::platform::windows_release)
        .map(|r| r.build);
    let fits: Vec<&(PlatformFacts, String)> = entries
        .iter()
        .filter(|(p, _)| p.os == wanted.os && p.architecture == wanted.architecture)
        .collect();
    fits.iter()
        .find(|(p, _)| {
            host_build.is_some()
                && p.os_version
                    .as_deref()
                    .and_then(crate::model::platform::windows_build)
                    == host_build
        })
        .or(fits.first())
        .map(|(_, d)| d.clone())
}

/// A manifest with the digests of its index entries by platform (for a follow-up read).
struct ReadManifest {
    facts: ManifestFacts,
    child_digests: Vec<(PlatformFacts, String)>,
}

async fn batch_get_manifest(
    ecr: &aws_sdk_ecr::Client,
    log: &CallLog,
    region: &str,
    account: &str,
    repository: &str,
    id: ImageIdentifier,
) -> Fact<ReadManifest> {
    let mut call = ecr
        .batch_get_image()
        .registry_id(account)
        .repository_name(repository)
        .image_ids(id);
    for media_type in MANIFEST_MEDIA_TYPES {
        call = call.accepted_media_types(media_type);
    }
    shared!(log, scope: region,"ecr:BatchGetImage", &["RepositoryNotFoundException"], call, |out| {
        match out.images().first() {
            Some(image) => match image.image_manifest().and_then(|m| serde_json::from_str::<Value>(m).ok()) {
                Some(doc) => {
                    let digest = image.image_id().and_then(|i| i.image_digest()).map(str::to_string);
                    Fact::found(parse_manifest(&doc, image.image_manifest_media_type(), digest))
                }
                None => Fact::Unreadable { reason: "ecr:BatchGetImage returned a manifest that is not JSON".into(), kind: ErrorKind::Other },
            },
            None => Fact::NotFound {
                detail: out
                    .failures()
                    .first()
                    .map(|f| format!("{}: {}", f.failure_code().map(|c| c.as_str()).unwrap_or("failure"), f.failure_reason().unwrap_or("")))
                    .unwrap_or_else(|| "image not returned".into()),
            },
        }
    })
    .await
}

fn parse_manifest(doc: &Value, media_type: Option<&str>, digest: Option<String>) -> ReadManifest {
    let media_type = media_type
        .or_else(|| doc.get("mediaType").and_then(Value::as_str))
        .map(str::to_string);
    let entries = doc.get("manifests").and_then(Value::as_array);
    let mut child_digests = vec![];
    let platforms = entries
        .map(|list| {
            list.iter()
                .filter_map(|m| {
                    let p = m.get("platform")?;
                    let platform = PlatformFacts {
                        os: p.get("os")?.as_str()?.to_string(),
                        architecture: p.get("architecture")?.as_str()?.to_string(),
                        variant: p.get("variant").and_then(Value::as_str).map(str::to_string),
                        os_version: p
                            .get("os.version")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    };
                    // BuildKit attestation manifests are listed as unknown/unknown.
                    if platform.os == "unknown" || platform.architecture == "unknown" {
                        return None;
                    }
                    if let Some(d) = m.get("digest").and_then(Value::as_str) {
                        child_digests.push((platform.clone(), d.to_string()));
                    }
                    Some(platform)
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let layers_bytes = doc.get("layers").and_then(Value::as_array).map(|layers| {
        layers
            .iter()
            .filter_map(|l| l.get("size").and_then(Value::as_i64))
            .sum()
    });
    ReadManifest {
        facts: ManifestFacts {
            digest,
            media_type,
            is_index: entries.is_some(),
            platforms,
            config_digest: doc
                .pointer("/config/digest")
                .and_then(Value::as_str)
                .map(str::to_string),
            layers_bytes,
        },
        child_digests,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::facts::ErrorKind;

    /// `DescribeImages`' answers tell whether the repository exists, as `DescribeRepositories` would.
    #[test]
    fn the_repository_follows_from_the_image_reads() {
        let image = ImageRef::parse("111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn/team/web:v2")
            .unwrap();
        let (account, region) = image.ecr().unwrap();
        let found = Fact::found(ImageFacts::default());
        let image_gone = Fact::NotFound {
            detail:
                "ImageNotFoundException (The image with imageId {imageTag:'v2'} does not exist)"
                    .into(),
        };
        let repo_gone = Fact::NotFound {
            detail:
                "RepositoryNotFoundException (The repository with name 'team/web' does not exist)"
                    .into(),
        };
        let denied: Fact<ImageFacts> = Fact::Unreadable {
            reason:
                "AccessDenied: ecr:DescribeImages (grant ecr:DescribeImages to pulldoctor's role)"
                    .into(),
            kind: ErrorKind::AccessDenied,
        };
        let unasked: Fact<ImageFacts> = Fact::NotCollected {
            reason: "the reference has no such part".into(),
        };

        let exists = repository_of(&image, account, region, &unasked, &found);
        let repo = exists.value().expect("exists");
        assert_eq!(
            repo.arn.as_deref(),
            Some("arn:aws-cn:ecr:cn-north-1:111122223333:repository/team/web")
        );
        assert_eq!(
            (repo.name.as_str(), repo.registry_id.as_deref()),
            ("team/web", Some("111122223333"))
        );
        assert!(
            repository_of(&image, account, region, &unasked, &image_gone)
                .value()
                .is_some(),
            "the image is gone, not the repository"
        );
        assert!(
            repository_of(&image, account, region, &found, &denied)
                .value()
                .is_some(),
            "the digest read answered"
        );
        assert_eq!(
            repository_of(&image, account, region, &unasked, &repo_gone),
            repo_gone.clone().map(|_| RepositoryFacts::default())
        );
        assert_eq!(
            repository_of(&image, account, region, &repo_gone, &denied).gap(),
            repo_gone.gap()
        );
        let unknown = repository_of(&image, account, region, &unasked, &denied);
        assert!(
            matches!(&unknown, Fact::Unreadable { reason, kind: ErrorKind::AccessDenied } if reason.contains("ecr:DescribeImages")),
            "{unknown:?}"
        );
    }
}

#[cfg(test)]
mod manifest_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn manifest_list_platforms_skip_attestations() {
        let index = json!({"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
            {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"digest": "sha256:c", "platform": {"os": "unknown", "architecture": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest"}},
            {"digest": "sha256:d", "platform": {"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.5458"}}]});
        let m = parse_manifest(&index, None, Some("sha256:i".into()));
        assert!(m.facts.is_index);
        assert_eq!(
            m.facts
                .platforms
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>(),
            ["linux/amd64", "linux/arm64/v8", "windows/amd64"]
        );
        assert_eq!(
            m.facts.platforms[2].os_version.as_deref(),
            Some("10.0.17763.5458")
        );
        assert_eq!(m.facts.platforms[0].os_version, None);
        assert_eq!(m.child_digests.len(), 3);
        assert_eq!(
            m.facts.media_type.as_deref(),
            Some("application/vnd.oci.image.index.v1+json")
        );

        let single =
            json!({"config": {"digest": "sha256:cfg"}, "layers": [{"size": 10}, {"size": 32}]});
        let m = parse_manifest(
            &single,
            Some("application/vnd.docker.distribution.manifest.v2+json"),
            None,
        );
        assert!(!m.facts.is_index && m.facts.platforms.is_empty());
        assert_eq!(
            (m.facts.config_digest.as_deref(), m.facts.layers_bytes),
            (Some("sha256:cfg"), Some(42))
        );
    }

    #[test]
    fn disk_failures_size_the_entry_the_runtime_pulls() {
        let index = json!({"manifests": [
            {"digest": "sha256:linux", "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:ws2022", "platform": {"os": "windows", "architecture": "amd64", "os.version": "10.0.20348.2340"}},
            {"digest": "sha256:ws2019", "platform": {"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.5458"}}]});
        let entries = parse_manifest(&index, None, None).child_digests;
        let platform = |os: &str, family: Option<&str>| crate::model::platform::TaskPlatform {
            os: os.into(),
            architecture: "amd64".into(),
            source: "test",
            windows_family: family.map(str::to_string),
            windows_family_source: "test",
        };
        assert_eq!(
            pulled_entry(&entries, &platform("linux", None)).as_deref(),
            Some("sha256:linux")
        );
        assert_eq!(
            pulled_entry(
                &entries,
                &platform("windows", Some("WINDOWS_SERVER_2019_CORE"))
            )
            .as_deref(),
            Some("sha256:ws2019")
        );
        assert_eq!(
            pulled_entry(
                &entries,
                &platform("windows", Some("WINDOWS_SERVER_2022_FULL"))
            )
            .as_deref(),
            Some("sha256:ws2022")
        );
        assert_eq!(
            pulled_entry(&entries, &platform("windows", None)).as_deref(),
            Some("sha256:ws2022"),
            "unknown version: the first entry"
        );
    }
}
