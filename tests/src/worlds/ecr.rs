//! ECR builders: repositories, images (Docker v2 manifests), and what the registry holds.

use serde_json::json;

use super::World;
use crate::util::sha256_digest;

#[derive(Debug, Clone)]
pub struct Repository {
    pub name: String,
    pub arn: String,
    /// `123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web`
    pub uri: String,
}

impl Repository {
    /// `<uri>:<tag>`
    pub fn image(&self, tag: &str) -> String {
        format!("{}:{tag}", self.uri)
    }
    /// `<uri>@<digest>`
    pub fn image_at(&self, digest: &str) -> String {
        format!("{}@{digest}", self.uri)
    }
}

/// `123456789012.dkr.ecr.us-east-1.amazonaws.com`.
pub fn ecr_registry(account: &str, region: &str) -> String {
    format!("{account}.dkr.ecr.{region}.amazonaws.com")
}

/// A realistic Docker image manifest v2 (schema 2). `seed` varies the config and layer digests, so
/// distinct seeds give distinct moto digests (moto hashes the layer digests).
pub fn docker_manifest(seed: &str) -> String {
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/app/server"], "Labels": {"build": seed}},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(format!("{seed}/diff/0").as_bytes()),
                                                   sha256_digest(format!("{seed}/diff/1").as_bytes())]}
    })
    .to_string();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": config.len(),
            "digest": sha256_digest(config.as_bytes()),
        },
        "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 3_370_706,
             "digest": sha256_digest(format!("{seed}/layer/0").as_bytes())},
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 18_467_213,
             "digest": sha256_digest(format!("{seed}/layer/1").as_bytes())},
        ],
    });
    serde_json::to_string_pretty(&manifest).expect("manifest json")
}

impl World {
    /// Creates an ECR repository.
    pub async fn repository(&self, name: &str) -> Repository {
        let repo = self
            .ecr
            .create_repository()
            .repository_name(name)
            .send()
            .await
            .expect("CreateRepository")
            .repository
            .expect("repository");
        Repository {
            name: name.to_string(),
            arn: repo.repository_arn().expect("repository arn").to_string(),
            uri: repo.repository_uri().expect("repository uri").to_string(),
        }
    }

    /// `PutImage` of a Docker v2 manifest (built from `seed`) under `tag`. Returns the digest moto
    /// computed (from the response).
    pub async fn push_image(&self, repository: &Repository, tag: &str, seed: &str) -> String {
        let digest = self
            .push_manifest(
                &repository.name,
                tag,
                &docker_manifest(seed),
                Some("application/vnd.docker.distribution.manifest.v2+json"),
            )
            .await;
        assert!(
            digest.starts_with("sha256:") && digest.len() == 71,
            "odd digest {digest}"
        );
        digest
    }

    /// `PutImage` of `manifest` under `tag` in repository `repository_name` (media type as given,
    /// or left for the registry to read from the manifest). Returns the digest moto computed.
    pub async fn push_manifest(
        &self,
        repository_name: &str,
        tag: &str,
        manifest: &str,
        media_type: Option<&str>,
    ) -> String {
        self.ecr
            .put_image()
            .repository_name(repository_name)
            .image_manifest(manifest)
            .set_image_manifest_media_type(media_type.map(str::to_string))
            .image_tag(tag)
            .send()
            .await
            .expect("PutImage")
            .image
            .and_then(|i| i.image_id)
            .and_then(|id| id.image_digest)
            .expect("PutImage returned no digest")
    }

    /// Deletes an image by digest (ignores "not found").
    pub async fn delete_image(&self, repository: &Repository, digest: &str) {
        use aws_sdk_ecr::types::ImageIdentifier;
        self.ecr
            .batch_delete_image()
            .repository_name(&repository.name)
            .image_ids(ImageIdentifier::builder().image_digest(digest).build())
            .send()
            .await
            .expect("BatchDeleteImage");
    }

    /// `(digest, tags)` of every image in the repository.
    pub async fn images(&self, repository: &Repository) -> Vec<(String, Vec<String>)> {
        self.ecr
            .describe_images()
            .repository_name(&repository.name)
            .send()
            .await
            .expect("DescribeImages")
            .image_details()
            .iter()
            .map(|d| {
                (
                    d.image_digest().unwrap_or_default().to_string(),
                    d.image_tags().to_vec(),
                )
            })
            .collect()
    }
}
