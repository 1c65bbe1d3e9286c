//! What a failure message says, once classified: its category, the pull step that failed and the
//! image it names. The classifier that fills these is [`crate::classify`]; the JSON shape is the
//! `classify --format json` contract (docs/schemas/classify.v1.json).

use serde::{Deserialize, Serialize};

use crate::model::root_cause::RootCause;

/// The kind of failure a message describes (stable strings: docs/schemas/common.defs.json `category`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Network,
    AccessDenied,
    ImageNotFound,
    PlatformMismatch,
    DiskSpace,
    RateLimited,
    RegistryCredentials,
    #[default]
    Unknown,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Network => "network",
            Category::AccessDenied => "access_denied",
            Category::ImageNotFound => "image_not_found",
            Category::PlatformMismatch => "platform_mismatch",
            Category::DiskSpace => "disk_space",
            Category::RateLimited => "rate_limited",
            Category::RegistryCredentials => "registry_credentials",
            Category::Unknown => "unknown",
        }
    }
}

/// The step of the pull that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Getting registry credentials (`ecr:GetAuthorizationToken`, secrets for private registries).
    AuthToken,
    /// Resolving the tag/digest and fetching the manifest from the registry endpoint.
    Manifest,
    /// Downloading layer blobs (from S3 for ECR).
    Layer,
}

/// Result of classifying a message; serializes to the `classify --format json` contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Classification {
    pub category: Category,
    pub registry: Option<String>,
    pub repository: Option<String>,
    pub reference: Option<String>,
    pub http_status: Option<u16>,
    pub phase: Option<Phase>,
    /// Likely causes to verify, in plain words (used for `UNKNOWN` diagnoses).
    pub hints: Vec<String>,
    /// Every kind of cause that can produce this message, most likely first; the first is
    /// `category`. Many messages do not say which cause they have: the Docker daemon's "pull
    /// access denied … may require 'docker login'" comes from a missing repository or tag as
    /// much as from a role that may not pull. Empty in Facts saved before it existed: then
    /// `category` alone.
    #[serde(default)]
    pub categories: Vec<Category>,
    /// The root causes whose rules explain one of `categories`, most likely first (then in the
    /// order the pull meets them). A failing check whose code is not here is ruled out by the
    /// message.
    #[serde(default)]
    pub consistent_with: Vec<RootCause>,
}

impl Classification {
    /// The categories the message is consistent with (`category` alone for a classification
    /// saved before the field existed).
    pub fn consistent_categories(&self) -> Vec<Category> {
        if self.categories.is_empty() {
            vec![self.category]
        } else {
            self.categories.clone()
        }
    }
}
