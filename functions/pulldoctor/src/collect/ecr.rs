//! ECR reads: the image, by pinned digest and by tag, in the image's own registry (account) and
//! region; whether the repository exists follows from their answers.

use aws_sdk_ecr::types::{ImageDetail, ImageIdentifier};

use super::{CallLog, Clients};
use crate::model::facts::{Fact, ImageFacts, RepositoryFacts};
use crate::model::image_ref::ImageRef;

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
