//! ECR reads: the repository and the image, by pinned digest and by tag, in the image's own
//! registry (account) and region.

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
        (Fact::NotCollected { reason: why.into() }, Fact::NotCollected { reason: why.into() }, Fact::NotCollected { reason: why.into() })
    };
    let Some(image) = image else {
        return skipped("the image reference is absent or could not be parsed");
    };
    let Some((account, region)) = image.ecr() else {
        return skipped("the image is not in a private ECR registry");
    };
    let ecr = clients.ecr_in(region);
    let repository = async {
        shared!(log, scope: region,
            "ecr:DescribeRepositories",
            &[REPOSITORY_NOT_FOUND],
            ecr.describe_repositories().registry_id(account).repository_names(&image.repository),
            |out| match out.repositories().first() {
                Some(r) => Fact::found(RepositoryFacts {
                    name: r.repository_name().unwrap_or(&image.repository).to_string(),
                    arn: r.repository_arn().map(str::to_string),
                    registry_id: r.registry_id().map(str::to_string),
                    uri: r.repository_uri().map(str::to_string),
                    region: Some(region.to_string()),
                }),
                None => Fact::NotFound { detail: "repository not returned".into() },
            },
        )
        .await
    };
    let describe = |id: Option<ImageIdentifier>| async move {
        match id {
            Some(id) => describe_image(clients, log, image, id).await,
            None => Fact::NotCollected { reason: "the reference has no such part".into() },
        }
    };
    let by_digest = image.digest.as_ref().map(|d| ImageIdentifier::builder().image_digest(d).build());
    let by_tag = image.effective_tag().map(|t| ImageIdentifier::builder().image_tag(t).build());
    tokio::join!(repository, describe(by_digest), describe(by_tag))
}

/// `ecr:DescribeImages` for one tag or digest of an ECR image, in its registry and region.
pub(super) async fn describe_image(clients: &Clients, log: &CallLog, image: &ImageRef, id: ImageIdentifier) -> Fact<ImageFacts> {
    let Some((account, region)) = image.ecr() else {
        return Fact::NotCollected { reason: "the image is not in a private ECR registry".into() };
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
