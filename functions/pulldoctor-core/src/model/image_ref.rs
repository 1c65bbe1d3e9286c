//! Container image references: `registry/repository[:tag][@digest]`, with Docker Hub short forms,
//! ECR private (incl. FIPS and China partitions), ECR Public, ports and nested paths.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
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
    Ecr {
        account: String,
        region: String,
        fips: bool,
    },
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
        let s = input.trim();
        if s.is_empty() {
            return Err(ImageRefError::Empty);
        }
        let invalid = |why: &'static str| Err(ImageRefError::Invalid(s.to_string(), why));
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid("contains whitespace or control characters");
        }
        if !s.is_ascii() {
            return invalid("contains non-ASCII characters");
        }
        if s.contains("://") {
            return invalid("must not include a URL scheme");
        }

        let (name, digest) = match s.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (s, None),
        };
        if let Some(d) = digest {
            if let Err(why) = validate_digest(d) {
                return invalid(why);
            }
        }
        if name.is_empty() {
            return invalid("missing repository name");
        }

        // Docker's rule: the first component names a registry only if it looks like a host.
        let (host, rest) = match name.split_once('/') {
            Some((first, rest)) if is_registry_component(first) => (Some(first), rest),
            _ => (None, name),
        };
        let (path, tag) = match rest.rfind(':') {
            Some(i) if rest[i..].contains('/') => {
                return invalid("':' is only allowed in the registry port or before the tag")
            }
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if path.is_empty() {
            return invalid("missing repository name");
        }
        if let Some(Err(why)) = tag.map(validate_tag) {
            return invalid(why);
        }
        if let Err(why) = validate_path(path) {
            return invalid(why);
        }

        let registry = match registry_of(host) {
            Ok(registry) => registry,
            Err(why) => return invalid(why),
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        if registry.len() + 1 + repository.len() > 255 {
            return invalid("name longer than 255 characters");
        }

        let kind = registry_kind(&registry);
        Ok(ImageRef {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
            kind,
        })
    }

    /// The digest if pinned, else the tag, else `latest` (what the runtime would pull).
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
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
            RegistryKind::Ecr {
                account, region, ..
            } => Some((account, region)),
            _ => None,
        }
    }

    /// Likely upstream registry host when this ECR repository looks like it was created by a
    /// pull-through cache rule (first path component is a conventional prefix). The prefix is
    /// user-defined, so this is only a hint. For `azure/` the real host is `<name>.azurecr.io`.
    pub fn pull_through_upstream(&self) -> Option<&'static str> {
        if !matches!(self.kind, RegistryKind::Ecr { .. }) {
            return None;
        }
        let (prefix, rest) = self.repository.split_once('/')?;
        if rest.is_empty() {
            return None;
        }
        match prefix {
            "docker-hub" => Some("registry-1.docker.io"),
            "ecr-public" => Some("public.ecr.aws"),
            "quay" => Some("quay.io"),
            "ghcr" => Some("ghcr.io"),
            "k8s" | "registry-k8s-io" => Some("registry.k8s.io"),
            "gitlab" => Some("registry.gitlab.com"),
            "azure" => Some("azurecr.io"),
            _ => None,
        }
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for ImageRef {
    /// Canonical form `registry/repository[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Classify a registry host (already lowercased, as in [`ImageRef::registry`]).
pub fn registry_kind(host: &str) -> RegistryKind {
    if DOCKER_HUB_HOSTS.contains(&host) {
        return RegistryKind::DockerHub;
    }
    if host == "public.ecr.aws" {
        return RegistryKind::EcrPublic;
    }
    if let Some(c) = ECR_HOST_RE.captures(host) {
        return RegistryKind::Ecr {
            account: c["account"].to_string(),
            region: c["region"].to_string(),
            fips: c.name("fips").is_some(),
        };
    }
    RegistryKind::Other
}

const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_HOSTS: &[&str] = &["docker.io", "index.docker.io", "registry-1.docker.io"];

/// `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]` and the dual-stack
/// `<account>.dkr-ecr[-fips].<region>.on.aws`.
static ECR_HOST_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?P<account>[0-9]{12})\.dkr(?:\.ecr|-ecr)(?P<fips>-fips)?\.(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]+)\.(?:amazonaws\.com(?:\.cn)?|on\.aws)$",
    )
    .expect("static regex")
});
/// One repository path component (distribution spec: lowercase alphanumerics joined by
/// `.`, `_`, `__` or runs of `-`).
static COMPONENT_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$").expect("static regex"));
static TAG_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").expect("static regex"));
static HOST_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?$",
    )
    .expect("static regex")
});
static DIGEST_ALGO_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$").expect("static regex"));

/// Docker's rule for the first path component: a registry host if it has `.` or `:` or is
/// `localhost`.
pub(crate) fn is_registry_component(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

fn is_valid_host(host: &str) -> bool {
    match HOST_RE.captures(host) {
        Some(c) => c.name("port").is_none_or(|p| {
            p.as_str()
                .parse::<u32>()
                .is_ok_and(|n| (1..=65535).contains(&n))
        }),
        None => false,
    }
}

fn validate_tag(t: &str) -> Result<(), &'static str> {
    if t.is_empty() {
        return Err("empty tag after ':'");
    }
    if t.len() > 128 {
        return Err("tag longer than 128 characters");
    }
    if !TAG_RE.is_match(t) {
        return Err("tag must match [A-Za-z0-9_][A-Za-z0-9_.-]*");
    }
    Ok(())
}

fn validate_path(path: &str) -> Result<(), &'static str> {
    for component in path.split('/') {
        if component.is_empty() {
            return Err("empty repository path component");
        }
        if component.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("repository name must be lowercase");
        }
        if !COMPONENT_RE.is_match(component) {
            return Err("repository path component has invalid characters or separators");
        }
    }
    Ok(())
}

/// The registry a host names (Docker Hub for none or one of its aliases).
fn registry_of(host: Option<&str>) -> Result<String, &'static str> {
    match host {
        Some(h) => {
            // Host names are case-insensitive; lowercase so that comparisons are simple.
            let h = h.to_ascii_lowercase();
            if !is_valid_host(&h) {
                return Err("invalid registry host or port");
            }
            if DOCKER_HUB_HOSTS.contains(&h.as_str()) {
                Ok(DOCKER_HUB.to_string())
            } else {
                Ok(h)
            }
        }
        None => Ok(DOCKER_HUB.to_string()),
    }
}

fn validate_digest(d: &str) -> Result<(), &'static str> {
    let Some((algo, hex)) = d.split_once(':') else {
        return Err("digest must be <algorithm>:<hex>");
    };
    if !DIGEST_ALGO_RE.is_match(algo) {
        return Err("invalid digest algorithm");
    }
    let is_lower_hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let ok = match algo {
        "sha256" => hex.len() == 64 && is_lower_hex(hex),
        "sha384" => hex.len() == 96 && is_lower_hex(hex),
        "sha512" => hex.len() == 128 && is_lower_hex(hex),
        // Unregistered algorithms: docker/distribution requires at least 32 hex characters.
        _ => hex.len() >= 32 && is_lower_hex(hex),
    };
    if ok {
        Ok(())
    } else if algo == "sha256" {
        Err("sha256 digest must be 64 lowercase hex characters")
    } else {
        Err("digest must be lowercase hex of the algorithm's length")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn ecr(account: &str, region: &str, fips: bool) -> RegistryKind {
        RegistryKind::Ecr {
            account: account.into(),
            region: region.into(),
            fips,
        }
    }

    #[test]
    fn parses_valid_references() {
        use RegistryKind::{DockerHub, EcrPublic, Other};
        let d = D;
        let digest_only = format!("nginx@{d}");
        let tag_and_digest = format!("111122223333.dkr.ecr.us-east-1.amazonaws.com/app:v1@{d}");
        let hub_digest = format!("docker.io/library/redis:7@{d}");
        let sha512 = format!("app@sha512:{}", "ab".repeat(64));
        let long_tag = format!("app:{}", "t".repeat(128));
        // input, registry, repository, tag, digest, kind
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            RegistryKind,
        );
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("nginx", "docker.io", "library/nginx", None, None, DockerHub),
            ("nginx:1.27", "docker.io", "library/nginx", Some("1.27"), None, DockerHub),
            ("  nginx:latest \n", "docker.io", "library/nginx", Some("latest"), None, DockerHub),
            ("library/nginx", "docker.io", "library/nginx", None, None, DockerHub),
            ("user/app:v2", "docker.io", "user/app", Some("v2"), None, DockerHub),
            ("docker.io/nginx", "docker.io", "library/nginx", None, None, DockerHub),
            ("docker.io/user/app:1", "docker.io", "user/app", Some("1"), None, DockerHub),
            ("index.docker.io/user/app", "docker.io", "user/app", None, None, DockerHub),
            ("registry-1.docker.io/library/busybox:1.36", "docker.io", "library/busybox", Some("1.36"), None, DockerHub),
            ("REGISTRY-1.DOCKER.IO/library/busybox", "docker.io", "library/busybox", None, None, DockerHub),
            (&digest_only, "docker.io", "library/nginx", None, Some(d), DockerHub),
            (&hub_digest, "docker.io", "library/redis", Some("7"), Some(d), DockerHub),
            ("111122223333.dkr.ecr.us-east-1.amazonaws.com/app", "111122223333.dkr.ecr.us-east-1.amazonaws.com", "app", None, None, ecr("111122223333", "us-east-1", false)),
            ("111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1.2", "111122223333.dkr.ecr.us-east-1.amazonaws.com", "team/app", Some("v1.2"), None, ecr("111122223333", "us-east-1", false)),
            (&tag_and_digest, "111122223333.dkr.ecr.us-east-1.amazonaws.com", "app", Some("v1"), Some(d), ecr("111122223333", "us-east-1", false)),
            ("111122223333.dkr.ecr-fips.us-gov-west-1.amazonaws.com/app:1", "111122223333.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "app", Some("1"), None, ecr("111122223333", "us-gov-west-1", true)),
            ("111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn/svc/api:2", "111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn", "svc/api", Some("2"), None, ecr("111122223333", "cn-north-1", false)),
            ("111122223333.dkr-ecr.eu-west-1.on.aws/app:3", "111122223333.dkr-ecr.eu-west-1.on.aws", "app", Some("3"), None, ecr("111122223333", "eu-west-1", false)),
            ("111122223333.dkr.ecr.ap-southeast-2.amazonaws.com/docker-hub/library/nginx:1", "111122223333.dkr.ecr.ap-southeast-2.amazonaws.com", "docker-hub/library/nginx", Some("1"), None, ecr("111122223333", "ap-southeast-2", false)),
            ("111122223333.DKR.ECR.us-east-1.amazonaws.com/app", "111122223333.dkr.ecr.us-east-1.amazonaws.com", "app", None, None, ecr("111122223333", "us-east-1", false)),
            // Not ECR: 11-digit account, or a look-alike domain.
            ("11112222333.dkr.ecr.us-east-1.amazonaws.com/app", "11112222333.dkr.ecr.us-east-1.amazonaws.com", "app", None, None, Other),
            ("111122223333.dkr.ecr.us-east-1.amazonaws.com.evil.example/app", "111122223333.dkr.ecr.us-east-1.amazonaws.com.evil.example", "app", None, None, Other),
            ("public.ecr.aws/nginx/nginx:stable", "public.ecr.aws", "nginx/nginx", Some("stable"), None, EcrPublic),
            ("public.ecr.aws/docker/library/python:3.12-slim", "public.ecr.aws", "docker/library/python", Some("3.12-slim"), None, EcrPublic),
            ("registry.local:5000/team/app:1.0", "registry.local:5000", "team/app", Some("1.0"), None, Other),
            ("registry.local:5000/app", "registry.local:5000", "app", None, None, Other),
            ("localhost/app", "localhost", "app", None, None, Other),
            ("localhost:5000/app:dev", "localhost:5000", "app", Some("dev"), None, Other),
            ("[::1]:5000/app:dev", "[::1]:5000", "app", Some("dev"), None, Other),
            ("10.0.0.5:8443/ops/tool:2", "10.0.0.5:8443", "ops/tool", Some("2"), None, Other),
            ("ghcr.io/owner/repo:sha-abc1234", "ghcr.io", "owner/repo", Some("sha-abc1234"), None, Other),
            ("quay.io/prometheus/node-exporter:v1.8.0", "quay.io", "prometheus/node-exporter", Some("v1.8.0"), None, Other),
            ("registry.gitlab.com/a/b/c/d:e", "registry.gitlab.com", "a/b/c/d", Some("e"), None, Other),
            ("myregistry.azurecr.io/x__y/a-b.c_d:Tag_1.0-RC", "myregistry.azurecr.io", "x__y/a-b.c_d", Some("Tag_1.0-RC"), None, Other),
            ("a--b/c", "docker.io", "a--b/c", None, None, DockerHub),
            (&sha512, "docker.io", "library/app", None, Some(sha512.split_once('@').unwrap().1), DockerHub),
            (&long_tag, "docker.io", "library/app", Some(long_tag.split_once(':').unwrap().1), None, DockerHub),
        ];
        assert!(cases.len() >= 30, "table has {} cases", cases.len());
        for (input, registry, repository, tag, digest, kind) in cases {
            let r = ImageRef::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(r.registry, registry, "registry of {input:?}");
            assert_eq!(r.repository, repository, "repository of {input:?}");
            assert_eq!(r.tag.as_deref(), tag, "tag of {input:?}");
            assert_eq!(r.digest.as_deref(), digest, "digest of {input:?}");
            assert_eq!(r.kind, kind, "kind of {input:?}");
            // Display is canonical and re-parses to the same value.
            let again = ImageRef::parse(&r.to_string()).unwrap();
            assert_eq!(again, r, "round trip of {input:?}");
        }
    }

    #[test]
    fn rejects_invalid_references() {
        assert_eq!(ImageRef::parse(""), Err(ImageRefError::Empty));
        assert_eq!(ImageRef::parse("  \t\n "), Err(ImageRefError::Empty));
        let too_long_tag = format!("app:{}", "t".repeat(129));
        let long_name = format!("{}/app", "a".repeat(260));
        #[rustfmt::skip]
        let cases: Vec<(&str, &str)> = vec![
            ("my app:1", "whitespace"),
            ("app:1 extra", "whitespace"),
            ("Nginx", "lowercase"),
            ("team/MyApp:1", "lowercase"),
            ("registry.local/Team/app", "lowercase"),
            ("app:", "empty tag"),
            ("app:-bad", "tag must match"),
            ("app:v1!", "tag must match"),
            (&too_long_tag, "128"),
            ("app@sha256:abc", "64 lowercase hex"),
            ("app@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "64 lowercase hex"),
            ("app@sha256", "<algorithm>:<hex>"),
            ("app@SHA256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "algorithm"),
            ("app@md5:0123", "lowercase hex"),
            ("app@sha256:x@y", "64 lowercase hex"),
            ("@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "missing repository"),
            (":", "missing repository"),
            ("@", "digest must be"),
            (":::", "empty tag"),
            ("registry.local:5000/", "missing repository"),
            ("/app", "empty repository path component"),
            ("team//app", "empty repository path component"),
            ("team/app/", "empty repository path component"),
            ("registry.local/team:1/app", "':' is only allowed"),
            ("-app", "invalid characters"),
            ("app-", "invalid characters"),
            ("a..b", "invalid characters"),
            ("a___b", "invalid characters"),
            ("registry.local:99999/app", "registry host"),
            ("bad_host.example/app", "registry host"),
            ("https://registry.local/app", "URL scheme"),
            ("ngïnx", "non-ASCII"),
            (&long_name, "255"),
            ("_/app:_", "invalid characters"),
        ];
        for (input, reason) in cases {
            match ImageRef::parse(input) {
                Err(ImageRefError::Invalid(_, why)) => {
                    assert!(
                        why.contains(reason),
                        "{input:?}: got {why:?}, want {reason:?}"
                    )
                }
                other => panic!("{input:?}: expected Invalid({reason:?}), got {other:?}"),
            }
        }
    }

    #[test]
    fn display_and_accessors() {
        let r = ImageRef::parse("nginx").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/nginx");
        assert_eq!(r.reference(), "latest");
        assert_eq!(r.effective_tag(), Some("latest"));
        assert_eq!(r.ecr(), None);

        let r = ImageRef::parse(&format!(
            "111122223333.dkr.ecr.eu-west-1.amazonaws.com/a/b:v1@{D}"
        ))
        .unwrap();
        assert_eq!(
            r.to_string(),
            format!("111122223333.dkr.ecr.eu-west-1.amazonaws.com/a/b:v1@{D}")
        );
        assert_eq!(r.reference(), D);
        assert_eq!(r.effective_tag(), Some("v1"));
        assert_eq!(r.ecr(), Some(("111122223333", "eu-west-1")));
        assert_eq!(r.name(), "111122223333.dkr.ecr.eu-west-1.amazonaws.com/a/b");

        let r = ImageRef::parse(&format!("app@{D}")).unwrap();
        assert_eq!(r.to_string(), format!("docker.io/library/app@{D}"));
        assert_eq!(r.effective_tag(), None);
    }

    #[test]
    fn pull_through_cache_prefixes() {
        let base = "111122223333.dkr.ecr.us-east-1.amazonaws.com";
        #[rustfmt::skip]
        let cases = [
            ("docker-hub/library/nginx:1", Some("registry-1.docker.io")),
            ("ecr-public/nginx/nginx", Some("public.ecr.aws")),
            ("quay/prometheus/node-exporter", Some("quay.io")),
            ("ghcr/owner/repo", Some("ghcr.io")),
            ("k8s/pause:3.9", Some("registry.k8s.io")),
            ("registry-k8s-io/pause", Some("registry.k8s.io")),
            ("gitlab/group/project", Some("registry.gitlab.com")),
            ("azure/team/app", Some("azurecr.io")),
            ("team/app", None),
            ("docker-hub", None), // the prefix alone is an ordinary repository
        ];
        for (path, want) in cases {
            let r = ImageRef::parse(&format!("{base}/{path}")).unwrap();
            assert_eq!(r.pull_through_upstream(), want, "{path}");
        }
        // Only ECR repositories can be pull-through caches.
        assert_eq!(
            ImageRef::parse("quay.io/quay/app")
                .unwrap()
                .pull_through_upstream(),
            None
        );
        assert_eq!(
            ImageRef::parse("docker-hub/app")
                .unwrap()
                .pull_through_upstream(),
            None
        );
    }

    #[test]
    fn kind_serializes_with_type_tag() {
        let r = ImageRef::parse("111122223333.dkr.ecr-fips.us-east-1.amazonaws.com/app").unwrap();
        let v = serde_json::to_value(&r.kind).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "ecr", "account": "111122223333", "region": "us-east-1", "fips": true})
        );
    }
}
