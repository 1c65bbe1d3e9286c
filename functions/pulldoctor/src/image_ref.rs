//! Container image references: `registry/repository[:tag][@digest]`, with Docker Hub short forms,
//! ECR private (incl. FIPS and China partitions), ECR Public, ports and nested paths.

use serde::{Deserialize, Serialize};

/// A parsed image reference. `registry` is normalized (`docker.io` for Docker Hub short forms) and
/// `repository` is the full path inside it (`library/nginx` for `nginx`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    pub kind: RegistryKind,
}

/// What kind of registry serves the image; drives which checks apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RegistryKind {
    /// Amazon ECR private registry `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`.
    Ecr { account: String, region: String, fips: bool },
    /// `public.ecr.aws`.
    EcrPublic,
    /// Docker Hub (`docker.io`, `registry-1.docker.io`, `index.docker.io`, or no registry at all).
    DockerHub,
    /// Any other registry (GHCR, Quay, self-hosted…).
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    #[error("empty image reference")]
    Empty,
    #[error("invalid image reference {0:?}: {1}")]
    Invalid(String, &'static str),
}

impl ImageRef {
    /// Parse an image reference as ECS and Docker accept it.
    pub fn parse(input: &str) -> Result<ImageRef, ImageRefError> {
        let _ = input;
        todo!("implemented by the image_ref task")
    }

    /// The digest if pinned, else the tag, else `latest` (what the runtime would pull).
    pub fn reference(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// The tag to look up: the explicit tag, else `latest` when no digest pins the image.
    pub fn effective_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    /// `(account, region)` for an ECR private image.
    pub fn ecr(&self) -> Option<(&str, &str)> {
        match &self.kind {
            RegistryKind::Ecr { account, region, .. } => Some((account, region)),
            _ => None,
        }
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}
