//! Classifies a `CannotPullContainerError` (or registry-auth `ResourceInitializationError`) message:
//! what kind of failure it is, which registry/repository/reference it names, the HTTP status and
//! the phase of the pull that failed. Pure string analysis; the contract is `classify --format json`
//! (docs/cli.md, docs/schemas/classify.v1.json).

use std::sync::LazyLock;

use regex::Regex;

use crate::checks;
use crate::model::image_ref::{is_registry_component, registry_kind, ImageRef, RegistryKind};
use crate::model::message::{Category, Classification, Phase};

/// Classify a stopped-reason or container reason message.
///
/// Never panics; any input yields a classification (possibly `Unknown` with generic hints).
pub fn classify(message: &str) -> Classification {
    let message = &*bounded(message);
    // Collapse whitespace so wrapped or multi-line reasons match like single-line ones.
    let text = message.split_whitespace().collect::<Vec<_>>().join(" ");
    // ECS cuts long reasons (255 characters): a token touching the end of such a message may be
    // cut short, so it is only trusted when the message is shorter than that.
    let end_is_complete = message.trim().chars().count() < 255;

    let http_status = extract_status(&text);
    let category = categorize(&text, http_status);
    let http_status = http_status.or_else(|| implied_status(&text, category));
    let phase = detect_phase(&text, category);
    let image = extract_image(&text, end_is_complete);
    let hints = hints(&text, category, phase, &image);
    let categories = consistent_categories(&text, category, http_status);
    let consistent_with = checks::consistent_causes(&categories);

    Classification {
        category,
        registry: image.registry,
        repository: image.repository,
        reference: image.reference,
        http_status,
        phase,
        hints,
        categories,
        consistent_with,
    }
}

/// Longest message classified as is. ECS reasons are at most about a kilobyte; a longer input
/// (a replayed or forged event) keeps its first and last [`MAX_MESSAGE`]/2 bytes, where the error
/// chain and the innermost cause are, so classification time stays bounded.
pub const MAX_MESSAGE: usize = 16 * 1024;

fn bounded(message: &str) -> std::borrow::Cow<'_, str> {
    if message.len() <= MAX_MESSAGE {
        return std::borrow::Cow::Borrowed(message);
    }
    let mut head = MAX_MESSAGE / 2;
    while !message.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = message.len() - MAX_MESSAGE / 2;
    while !message.is_char_boundary(tail) {
        tail += 1;
    }
    std::borrow::Cow::Owned(format!("{} … {}", &message[..head], &message[tail..]))
}

macro_rules! regex {
    ($name:ident = $re:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($re).expect("static regex"));
    };
}

// ---------------------------------------------------------------------------------------------
// Category
// ---------------------------------------------------------------------------------------------

regex!(
    DISK = r"(?i)no space left on device|free data blocks which is less than minimum required|thin pool has \d+ free data blocks|not enough (?:free )?(?:disk )?space|disk quota exceeded|out of disk space"
);
regex!(
    PLATFORM = r#"(?i)descriptor matching platform|no matching manifest for|no match for platform|does not match the specified platform|image operating system "?[a-z0-9]*"? cannot be used on this platform|container operating system does not match the host operating system|exec format error"#
);
regex!(
    RATE = r"(?i)toomanyrequests|too many requests|pull rate limit|rate limit exceeded|rate exceeded|throttlingexception|throttled"
);
regex!(PULL_ACCESS_DENIED = r"(?i)pull access denied");
// Docker's and containerd's wording around "pull access denied"; not an IAM refusal by itself.
regex!(
    DOCKER_DENIED_BOILERPLATE = r"(?i)pull access denied|requested access to the resource is denied|server message: insufficient_scope: authorization failed"
);
regex!(
    ACCESS = r"(?i)not authorized to perform|\bnot authorized\b|accessdeniedexception|explicit deny|insufficient_scope|forbidden|requested access to the resource is denied|unauthorizedoperation|check that the role has the permissions"
);
// Bare "access denied" also ends 401 answers ("unauthorized: HTTP Basic: Access denied"), so it
// only counts once credential problems are ruled out.
regex!(WEAK_ACCESS = r"(?i)access ?denied");
regex!(
    CREDS = r"(?i)no basic auth credentials|authentication required|incorrect username or password|invalid username(?: or |/)password|\bunauthorized\b|private registry credentials|credentials: not found|authorization token has expired|resourcenotfoundexception|can't find the specified secret|parameternotfound|invalidparameters?\b|invalid (?:ssm )?parameters:|invalidparameterexception|invalid character '.{1,4}' looking for|failed to unmarshal|bad credentials|authentication failed|did not contain json key"
);
regex!(
    NOT_FOUND = r"(?i)manifest unknown|name unknown|manifest for \S+ not found|repository with name '[^']*' does not exist|repositorynotfoundexception|imagenotfoundexception|requested image not found|repository does not exist|repository not found|pull access denied|invalid reference format|repository name must be lowercase|not found: not found|resolve ref(?:erence)? [^ ]{1,600}: not found"
);
// "nil pointer dereference" and "error pulling image configuration" are listed by AWS as
// connectivity problems (S3 unreachable), so they count as network.
regex!(
    NETWORK = r"(?i)i/o timeout|timeout exceeded|timed out|deadline exceeded|context canceled|request ?canceled|handshake timeout|no such host|connection refused|network is unreachable|no route to host|connection reset|broken pipe|unexpected eof|server misbehaving|temporary failure in name resolution|dial (?:tcp|udp)|failed to do request|send request failed|requesterror|network configuration|connection issue|signal: killed|x509:|certificate signed by unknown authority|proxyconnect|nil pointer dereference|error pulling image conf|\btimeout\b"
);
regex!(WEAK_NOT_FOUND = r"(?i)\bnot found\b|does not exist|blob unknown");

/// Precedence (first match wins), most specific and least ambiguous evidence first:
/// 1. disk_space, 2. platform_mismatch, 3. rate_limited — these phrases never appear as a side
///    effect of another failure.
/// 4. access_denied (IAM wording, 403), 5. registry_credentials (401 wording), 6. bare "access
///    denied", 7. image_not_found (strong phrases, 404): an HTTP answer from the server proves
///    the network worked, so these outrank network words such as "failed to do request" that
///    often wrap them. An explicit IAM refusal outranks "not found" because registries hide
///    existence from callers that may not read it.
/// 8. network. 9. weak "not found" wording. 10. unknown.
fn categorize(text: &str, status: Option<u16>) -> Category {
    if DISK.is_match(text) {
        return Category::DiskSpace;
    }
    if PLATFORM.is_match(text) {
        return Category::PlatformMismatch;
    }
    if RATE.is_match(text) || status == Some(429) {
        return Category::RateLimited;
    }
    // Decision: a bare "pull access denied ... repository does not exist or may require 'docker
    // login'" is image_not_found. Docker prints it for any refused pull, but on ECS a missing
    // permission comes with an explicit "not authorized to perform" (handled as access_denied
    // here) and missing credentials with "no basic auth credentials"; what remains is most
    // often a wrong name or deleted repository. The hints also cover the private-repository case.
    let access_text = if PULL_ACCESS_DENIED.is_match(text) {
        DOCKER_DENIED_BOILERPLATE.replace_all(text, " ")
    } else {
        std::borrow::Cow::Borrowed(text)
    };
    if ACCESS.is_match(&access_text) || status == Some(403) {
        return Category::AccessDenied;
    }
    if CREDS.is_match(text) || status == Some(401) {
        return Category::RegistryCredentials;
    }
    if WEAK_ACCESS.is_match(&access_text) {
        return Category::AccessDenied;
    }
    if NOT_FOUND.is_match(text) || status == Some(404) {
        return Category::ImageNotFound;
    }
    if NETWORK.is_match(text) {
        return Category::Network;
    }
    if WEAK_NOT_FOUND.is_match(text) {
        return Category::ImageNotFound;
    }
    Category::Unknown
}

// ---------------------------------------------------------------------------------------------
// What else the message is consistent with
// ---------------------------------------------------------------------------------------------

// The Docker daemon's and containerd's refusal: printed alike for a repository or tag that does
// not exist, a role that may not pull, a repository policy that denies, and no credentials at all.
regex!(
    DAEMON_REFUSAL = r"(?i)pull access denied|may require 'docker login'|may require authorization|requested access to the resource is denied|insufficient_scope|authorization failed"
);
// Wording that names IAM's decision itself: the refusal is a permission, whatever else it says.
regex!(IAM_DECISION = r"(?i)not authorized to perform|accessdeniedexception|explicit deny");
regex!(NO_CREDENTIALS = r"(?i)no basic auth credentials");

/// Every kind of cause that produces this message, `category` first. A message that names its
/// cause (an i/o timeout, "manifest unknown", IAM's "not authorized to perform") is consistent
/// with that one kind; the refusals that hide the cause are consistent with each cause that
/// produces them:
/// - the daemon's "pull access denied … may require 'docker login'" and containerd's
///   `insufficient_scope: authorization failed`: a missing repository or tag, a permission
///   (role, repository or endpoint policy), or no credentials;
/// - a 401 (`no basic auth credentials`): no credentials or a refused token request; from the
///   kubelet also the network, because the kubelet pulls anonymously when its ECR credential
///   provider could not reach ECR's API;
/// - ECS's "check that the role has the permissions": a permission or a missing image;
/// - "error pulling image configuration": the path to S3, or the registry's rate limit.
fn consistent_categories(text: &str, category: Category, status: Option<u16>) -> Vec<Category> {
    use Category::*;
    let mut out = vec![category];
    if category == Unknown {
        return out;
    }
    let mut also = |more: &[Category]| {
        for c in more {
            if !out.contains(c) {
                out.push(*c);
            }
        }
    };
    if DAEMON_REFUSAL.is_match(text) && !IAM_DECISION.is_match(text) {
        also(&[ImageNotFound, AccessDenied, RegistryCredentials]);
    }
    let unauthenticated = NO_CREDENTIALS.is_match(text) || status == Some(401);
    if unauthenticated && category == RegistryCredentials {
        also(&[AccessDenied]);
        if KUBELET_TEXT.is_match(text) {
            also(&[Network]);
        }
    }
    // ECS shows its "check that the role has the permissions" message for a missing image too.
    if ROLE_MSG_TEXT.is_match(text) {
        also(&[ImageNotFound]);
    }
    if IMAGE_CONF_TEXT.is_match(text) && category == Network {
        also(&[RateLimited]);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// HTTP status
// ---------------------------------------------------------------------------------------------

regex!(
    STATUS_PHRASE = r"(?i)\b([1-5][0-9]{2}) (?:forbidden|unauthorized|not found|too many requests|bad request|internal server error|bad gateway|service unavailable|gateway timeout|request timeout|conflict|method not allowed)\b"
);
regex!(STATUS_LABELLED = r"(?i)\bstatus(?: ?code)?(?:\s*[:=]\s*|\s+)\[?([1-5][0-9]{2})\b");
regex!(
    STATUS_WRAPPER = r"(?i)\bapi error \(([1-5][0-9]{2})\)|\berrorcode: ?([1-5][0-9]{2})\b|\bhttp(?: status)? ([1-5][0-9]{2})\b"
);

/// The registry's own answer ("403 Forbidden") is preferred over labelled codes, and both over
/// the Docker daemon's wrapper ("API error (500)"), which only says the daemon call failed.
fn extract_status(text: &str) -> Option<u16> {
    [&*STATUS_PHRASE, &*STATUS_LABELLED, &*STATUS_WRAPPER]
        .into_iter()
        .find_map(|re| {
            re.captures(text)?
                .iter()
                .skip(1)
                .flatten()
                .find_map(|m| m.as_str().parse().ok())
        })
}

regex!(FORBIDDEN = r"(?i)\bforbidden\b");

/// Registry error codes that always come with one HTTP status, when the number is not printed.
fn implied_status(text: &str, category: Category) -> Option<u16> {
    match category {
        Category::RateLimited if text.to_ascii_lowercase().contains("toomanyrequests") => Some(429),
        Category::AccessDenied if FORBIDDEN.is_match(text) => Some(403),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Phase
// ---------------------------------------------------------------------------------------------

regex!(
    IAM_ACTION = r"(?i)\becr(?:-public)?:(getauthorizationtoken|batchgetimage|getdownloadurlforlayer|batchchecklayeravailability)\b"
);
regex!(
    PH_AUTH = r"(?i)getauthorizationtoken|registry auth|oauth token|anonymous token|fetch token|failed to authorize|unable to pull secrets|retrieve secrets?\b|from asm|secretsmanager|secrets manager|from ssm|\bapi\.ecr(?:-fips)?\.|private registry credentials|credentialsparameter|auth\.docker\.io|/token\?|getservicebearertoken"
);
regex!(
    PH_LAYER_URL =
        r"(?i)/v2/\S*/blobs/|starport-layer-bucket|\.s3[.-](?:[a-z0-9-]+\.)?amazonaws\.com"
);
regex!(PH_MANIFEST_URL = r"(?i)/v2/\S*/manifests/");
regex!(
    PH_LAYER = r"(?i)httpread(?:er)?seeker|/blobs/|failed to copy|regist(?:er|ering) layer|extract(?:ing)? layer|getimageblob|layer-sha256|apply layer|download(?:ing)? layer|error pulling image conf"
);
regex!(
    PH_MANIFEST = r"(?i)batchgetimage|resolve ref|/manifests/|manifest for|manifest unknown|name unknown|descriptor matching platform|no matching manifest|pull access denied|repository does not exist|repository not found|repository with name|requested image not found|/v2/|pull image manifest|inspect image|imagenotfound|repositorynotfound|invalid reference format"
);
regex!(EXEC_FORMAT = r"(?i)exec format error");

/// Order: a named ECR IAM action is exact; then token/secret retrieval (it happens first and its
/// messages often also name the image); then the kind of URL that failed (blob/S3 before
/// manifest: a layer fetch follows a successful resolve); then wording (containerd's reader and
/// copy steps serve both kinds, so they rank below URLs). If the text names no step, the
/// category implies one where only one is possible.
fn detect_phase(text: &str, category: Category) -> Option<Phase> {
    if let Some(c) = IAM_ACTION.captures(text) {
        return Some(match c[1].to_ascii_lowercase().as_str() {
            "getauthorizationtoken" => Phase::AuthToken,
            "batchgetimage" => Phase::Manifest,
            _ => Phase::Layer,
        });
    }
    if PH_AUTH.is_match(text) {
        return Some(Phase::AuthToken);
    }
    if PH_LAYER_URL.is_match(text) {
        return Some(Phase::Layer);
    }
    if PH_MANIFEST_URL.is_match(text) {
        return Some(Phase::Manifest);
    }
    if PH_LAYER.is_match(text) {
        return Some(Phase::Layer);
    }
    if PH_MANIFEST.is_match(text) {
        return Some(Phase::Manifest);
    }
    match category {
        // Space runs out while layers are written and unpacked.
        Category::DiskSpace => Some(Phase::Layer),
        // exec format error happens when the container starts, after a successful pull.
        Category::PlatformMismatch if !EXEC_FORMAT.is_match(text) => Some(Phase::Manifest),
        Category::ImageNotFound => Some(Phase::Manifest),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Registry / repository / reference
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Clone, PartialEq)]
struct Found {
    registry: Option<String>,
    repository: Option<String>,
    reference: Option<String>,
}

// Tokens are captured greedily; what follows them decides whether they are complete (see
// `terminated`). `<`, `>` and `*` are allowed for redacted account ids.
regex!(QUOTED_REF = r#"(?i)\b(?:ref|reference|image)\s+"([^"\s]{1,512})""#);
regex!(UNQUOTED_REF = r#"(?i)\bresolve ref(?:erence)?:?\s+([^"\s]{1,512})"#);
regex!(
    AGENT_REF = r"(?i)cannot pull ['‘’]([^'‘’\s]{1,512})['‘’] from the amazon ecr repository ['‘’]([^'‘’\s]{1,512})['‘’]"
);
regex!(MANIFEST_FOR = r#"(?i)\bmanifest for\s+([^"\s]{1,512})\s+not found"#);
regex!(REPOSITORY_NOT_FOUND = r#"(?i)\brepository\s+([^"\s]{1,512})\s+not found"#);
regex!(PULL_DENIED_FOR = r#"(?i)\bpull access denied for\s+([^"\s,]{1,512})"#);
regex!(REPO_WITH_NAME = r"(?i)\brepository with name '([^'\s]{1,256})'");
regex!(
    URL_V2 = r"(?i)https?://([a-z0-9.*<>_\[\]:-]{1,256})/v2/(?:([a-z0-9._/-]{1,256}?)/(manifests|blobs)/([a-z0-9_.:+=-]{1,200}))?"
);
regex!(
    ECR_ARN = r"(?i)\barn:aws[a-z-]*:ecr:([a-z0-9-]{1,32}):([^:\s]{1,32}):repository/([a-z0-9._/-]{1,256})"
);
regex!(PULLING_FROM_HOST = r"(?i)\bpulling from host ([a-z0-9.*<>_\[\]:-]{1,256}) failed");
regex!(
    LOOKUP_HOST =
        r"(?i)\blookup ([a-z0-9.*<>_\[\]-]{1,256})(?: on [0-9a-f.:\[\]]{1,64})?: no such host"
);
regex!(TOKEN_SCOPE = r"(?i)scope=repository(?::|%3a)([a-z0-9._/%-]{1,256}?)(?::|%3a)pull");
regex!(LOOSE_HOST = r"(?i)^[a-z0-9.*<>_\[\]-]+(?::[0-9]{1,5})?$");
regex!(DIGEST_ONLY = r"(?i)^[a-z0-9]+:[a-f0-9]{32,}$");

/// A candidate is complete if followed by a delimiter; a token running into the end of a
/// possibly truncated message, or into an ellipsis, may be cut short and is dropped.
fn terminated(text: &str, end: usize, end_is_complete: bool) -> bool {
    match text[end..].chars().next() {
        None => end_is_complete,
        Some(c) => c.is_whitespace() || "\"'‘’`,;)]".contains(c),
    }
}

fn extract_image(text: &str, end_ok: bool) -> Found {
    let mut found: Vec<Found> = Vec::new();
    let mut push = |f: Option<Found>| found.extend(f);

    for c in QUOTED_REF.captures_iter(text) {
        push(parse_ref_token(&c[1]));
    }
    for c in AGENT_REF.captures_iter(text) {
        push(parse_ref_token(&c[1]).filter(|f| f.registry.is_some()));
        push(parse_ref_token(&c[2]));
    }
    let token_sources = [
        (&*UNQUOTED_REF, true),
        (&*MANIFEST_FOR, false),
        (&*REPOSITORY_NOT_FOUND, false),
        (&*PULL_DENIED_FOR, false),
    ];
    for (re, strip_colon) in token_sources {
        for c in re.captures_iter(text) {
            let m = c.get(1).expect("group 1");
            let mut tok = m.as_str();
            if strip_colon {
                // "resolve ref host/repo:tag: failed to ..." ends the token with the separator.
                tok = tok.trim_end_matches(':');
            }
            if tok.len() < m.as_str().len() || terminated(text, m.end(), end_ok) {
                push(parse_ref_token(tok));
            }
        }
    }
    for c in URL_V2.captures_iter(text) {
        push(url_v2_found(text, &c, end_ok));
    }
    for c in REPO_WITH_NAME.captures_iter(text) {
        push(valid_repository(&c[1]).then(|| Found {
            repository: Some(c[1].to_string()),
            ..Found::default()
        }));
    }
    for c in ECR_ARN.captures_iter(text) {
        let m = c.get(3).expect("group 3");
        let repo = m.as_str().trim_end_matches('.');
        if (repo.len() < m.as_str().len() || terminated(text, m.end(), end_ok))
            && valid_repository(repo)
        {
            push(Some(arn_found(&c[0], &c[1], &c[2], repo)));
        }
    }
    for c in TOKEN_SCOPE.captures_iter(text) {
        let repo = c[1].replace("%2F", "/").replace("%2f", "/");
        push(valid_repository(&repo).then(|| Found {
            registry: Some("docker.io".to_string()),
            repository: Some(repo),
            reference: None,
        }));
    }
    // Both patterns require text after the host, so the host is complete.
    for re in [&*PULLING_FROM_HOST, &*LOOKUP_HOST] {
        for c in re.captures_iter(text) {
            push(registry_host(&c[1]).map(|r| Found {
                registry: Some(r),
                ..Found::default()
            }));
        }
    }
    merge(found)
}

/// A registry API URL (`https://HOST/v2/REPO/manifests/REF`): the registry, and the repository
/// and reference when they are complete.
fn url_v2_found(text: &str, c: &regex::Captures, end_ok: bool) -> Option<Found> {
    let registry = registry_host(&c[1])?;
    match (c.get(2), c.get(3), c.get(4)) {
        (Some(repo), Some(kind), Some(r)) => {
            // The repository is delimited by "/manifests/" or "/blobs/", so it is complete
            // even if the message was cut inside the reference that follows.
            if !valid_repository(repo.as_str()) {
                return Some(Found {
                    registry: Some(registry),
                    ..Found::default()
                });
            }
            // A tag followed by ": <error>" keeps the colon in the capture.
            let reference = r.as_str().trim_end_matches(':');
            let complete = reference.len() < r.as_str().len() || terminated(text, r.end(), end_ok);
            // A blob digest names a layer, not the image: it is not the image reference.
            let is_manifest = kind.as_str().eq_ignore_ascii_case("manifests");
            Some(Found {
                registry: Some(registry),
                repository: Some(repo.as_str().to_string()),
                reference: (complete && is_manifest && valid_reference(reference))
                    .then(|| reference.to_string()),
            })
        }
        _ => Some(Found {
            registry: Some(registry),
            ..Found::default()
        }),
    }
}

/// The first candidate naming a repository wins; missing registry/reference are filled from
/// other candidates that agree on the repository (or name none), never from a different image.
fn merge(found: Vec<Found>) -> Found {
    let Some(primary) = found.iter().find(|f| f.repository.is_some()).cloned() else {
        return Found {
            registry: found.into_iter().find_map(|f| f.registry),
            ..Found::default()
        };
    };
    let agrees = |f: &&Found| f.repository.is_none() || f.repository == primary.repository;
    let registry = primary
        .registry
        .clone()
        .or_else(|| found.iter().filter(agrees).find_map(|f| f.registry.clone()));
    let reference = primary.reference.clone().or_else(|| {
        found
            .iter()
            .filter(|f| f.repository == primary.repository)
            .find_map(|f| f.reference.clone())
    });
    Found {
        registry,
        repository: primary.repository,
        reference,
    }
}

/// Parse `host/repo[:tag][@digest]`, a bare `repo[:tag]` or an ECR ARN. Without an explicit
/// host the registry stays unknown (Docker prints Docker Hub names short, but the message alone
/// does not prove which registry was meant) and the repository is kept as written.
fn parse_ref_token(tok: &str) -> Option<Found> {
    let tok = tok
        .trim_matches(|c| "\"'‘’`".contains(c))
        .trim_end_matches(':');
    // A bare digest would otherwise parse as repository "sha256" with a hex tag.
    if tok.is_empty() || DIGEST_ONLY.is_match(tok) {
        return None;
    }
    if let Some(c) = ECR_ARN.captures(tok) {
        if c[0].len() == tok.len() && valid_repository(&c[3]) {
            return Some(arn_found(&c[0], &c[1], &c[2], &c[3]));
        }
    }
    let host = tok
        .split_once('/')
        .map(|(first, _)| first)
        .filter(|first| is_registry_component(first));
    match (ImageRef::parse(tok), host) {
        (Ok(r), Some(_)) => Some(Found {
            reference: r.digest.clone().or(r.tag.clone()),
            registry: Some(r.registry),
            repository: Some(r.repository),
        }),
        (Ok(r), None) => {
            let name = tok.split('@').next().unwrap_or(tok);
            let path = name.rsplit_once(':').map_or(name, |(path, _)| path);
            Some(Found {
                reference: r.digest.or(r.tag),
                registry: None,
                repository: Some(path.to_string()),
            })
        }
        // Redacted hosts (`***.dkr.ecr…`, `<redacted>.dkr.ecr…`) fail strict parsing: keep the
        // host verbatim and parse the rest on its own; if the rest is malformed too, the host
        // (delimited by '/') is still worth keeping.
        (Err(_), Some(host)) if LOOSE_HOST.is_match(host) => {
            let rest = &tok[host.len() + 1..];
            let registry = registry_host(host);
            Some(
                match ImageRef::parse(&format!("placeholder.invalid/{rest}")) {
                    Ok(r) => Found {
                        registry,
                        repository: Some(r.repository),
                        reference: r.digest.or(r.tag),
                    },
                    Err(_) => Found {
                        registry,
                        ..Found::default()
                    },
                },
            )
        }
        _ => None,
    }
}

fn arn_found(arn: &str, region: &str, account: &str, repo: &str) -> Found {
    // Only build a host from a real account id; a redacted one would make a fake host.
    let real_account = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let registry = real_account.then(|| {
        let suffix = if arn.to_ascii_lowercase().starts_with("arn:aws-cn:") {
            ".cn"
        } else {
            ""
        };
        format!(
            "{account}.dkr.ecr.{}.amazonaws.com{suffix}",
            region.to_ascii_lowercase()
        )
    });
    Found {
        registry,
        repository: Some(repo.to_string()),
        reference: None,
    }
}

/// Registry host as reported, normalized like [`ImageRef`]; `None` for hosts that are AWS APIs or
/// layer storage rather than a registry.
fn registry_host(host: &str) -> Option<String> {
    let h = host.trim_end_matches([':', '.']).to_ascii_lowercase();
    if h.is_empty() || !h.contains('.') && !h.contains(':') && h != "localhost" {
        return None;
    }
    let service = h.split(['.', ':']).next().unwrap_or("");
    let not_registry = h.contains(".s3.")
        || h.contains(".s3-")
        || matches!(
            service,
            "s3" | "api"
                | "ecr"
                | "secretsmanager"
                | "ssm"
                | "sts"
                | "kms"
                | "ecs"
                | "logs"
                | "ec2"
        );
    if not_registry {
        return None;
    }
    if matches!(
        h.as_str(),
        "index.docker.io" | "registry-1.docker.io" | "auth.docker.io"
    ) {
        return Some("docker.io".to_string());
    }
    Some(h)
}

fn valid_repository(repo: &str) -> bool {
    !repo.is_empty()
        && ImageRef::parse(&format!("placeholder.invalid/{repo}")).is_ok_and(|r| r.tag.is_none())
}

fn valid_reference(reference: &str) -> bool {
    let probe = if reference.contains(':') {
        format!("placeholder.invalid/x@{reference}")
    } else {
        format!("placeholder.invalid/x:{reference}")
    };
    ImageRef::parse(&probe).is_ok()
}

// ---------------------------------------------------------------------------------------------
// Hints
// ---------------------------------------------------------------------------------------------

regex!(
    ECR_TEXT = r"(?i)\.dkr[.-]ecr|api\.ecr|starport-layer-bucket|\becr:|cannotpullecrcontainererror|ecr registry auth|amazon ecr|arn:aws[a-z-]*:ecr:"
);
regex!(
    SECRETS_TEXT =
        r"(?i)secretsmanager|secrets manager|from asm|from ssm|\bsecret\b|credentialsparameter"
);
regex!(DNS_TEXT = r"(?i)no such host|server misbehaving|temporary failure in name resolution");
regex!(S3_TEXT = r"(?i)starport-layer-bucket|\.s3[.-]|nil pointer dereference");
regex!(TLS_TEXT = r"(?i)x509:|certificate signed by unknown authority");
regex!(KILLED_TEXT = r"(?i)signal: killed");
regex!(IMAGE_CONF_TEXT = r"(?i)error pulling image conf");
regex!(EXPLICIT_DENY_TEXT = r"(?i)explicit deny");
regex!(ROLE_MSG_TEXT = r"(?i)check that the role has the permissions");
regex!(ECR_THROTTLE_TEXT = r"(?i)throttlingexception|rate exceeded");
regex!(ECR_NO_CREDS_TEXT = r"(?i)no basic auth credentials|authorization token has expired");
regex!(
    SECRET_MISSING_TEXT = r"(?i)resourcenotfoundexception|can't find the specified secret|parameternotfound|invalidparameters\b|invalid (?:ssm )?parameters:"
);
// Secrets the task injects at start (`secrets[].valueFrom`), as opposed to registry credentials:
// SSM Parameter Store is only ever used for those; "secret from asm" may be either.
regex!(
    SSM_SECRET_TEXT = r"(?i)from ssm|systems manager|parameter store|invalid ssm parameters|ssm:getparameters|operation error ssm"
);
regex!(ASM_SECRET_TEXT = r"(?i)retrieve secrets? from asm|pull secrets from aws secrets manager");
regex!(JSON_KEY_TEXT = r"(?i)did not contain json key");
regex!(WINDOWS_TEXT = r"(?i)windows");
// Kubernetes (EKS) wording: the kubelet's pod events, not an ECS stopped reason.
regex!(
    KUBELET_TEXT = r#"(?i)\bkubelet\b|failed to pull image "|errimagepull|imagepullbackoff|back-off pulling image|rpc error: code = "#
);
regex!(BARE_API_ERROR = r"(?i)^(?:cannotpull(?:ecr)?containererror:\s*)?api error\.?$");
regex!(
    SERVER_ERROR = r"(?i)\b5[0-9]{2} (?:internal server error|bad gateway|service unavailable|gateway timeout)\b|api error \(5"
);

fn hints(text: &str, category: Category, phase: Option<Phase>, image: &Found) -> Vec<String> {
    let kind = image.registry.as_deref().map(registry_kind);
    let ecr = matches!(kind, Some(RegistryKind::Ecr { .. })) || ECR_TEXT.is_match(text);
    let public_registry = matches!(kind, Some(RegistryKind::DockerHub | RegistryKind::Other));
    let secrets = SECRETS_TEXT.is_match(text);
    if KUBELET_TEXT.is_match(text) {
        if let Some(h) = kubelet_hints(category, ecr) {
            return h.into_iter().map(str::to_string).collect();
        }
    }
    let clues = Clues {
        text,
        phase,
        image,
        ecr,
        public_registry,
        secrets,
    };
    let h = match category {
        Category::Network => network_hints(&clues),
        Category::AccessDenied => access_denied_hints(&clues),
        Category::ImageNotFound => image_not_found_hints(&clues),
        Category::PlatformMismatch => platform_hints(text),
        Category::DiskSpace => disk_space_hints(text),
        Category::RateLimited => rate_limit_hints(&clues),
        Category::RegistryCredentials
            if SSM_SECRET_TEXT.is_match(text) || ASM_SECRET_TEXT.is_match(text) =>
        {
            task_secret_hints(text)
        }
        Category::RegistryCredentials => registry_credentials_hints(&clues),
        Category::Unknown => unknown_hints(text),
    };
    h.into_iter().map(str::to_string).collect()
}

/// What the message and the image name tell the hints.
#[derive(Clone, Copy)]
struct Clues<'a> {
    text: &'a str,
    phase: Option<Phase>,
    image: &'a Found,
    /// The image is in ECR, or the message names ECR.
    ecr: bool,
    /// Docker Hub or another registry outside AWS.
    public_registry: bool,
    /// The message names Secrets Manager, SSM or a secret.
    secrets: bool,
}

/// Network: the path to the registry (DNS, TLS, routes, endpoints, groups, ACLs).
fn network_hints(clues: &Clues) -> Vec<&'static str> {
    let Clues {
        text,
        phase,
        ecr,
        public_registry,
        secrets,
        ..
    } = *clues;
    let mut h: Vec<&str> = Vec::new();
    if DNS_TEXT.is_match(text) {
        h.push("The registry name did not resolve: check that the VPC has DNS resolution and DNS hostnames enabled, that custom DHCP-option DNS servers resolve AWS names, and that interface endpoints have private DNS on.");
    }
    if TLS_TEXT.is_match(text) {
        h.push("A certificate error usually means a proxy or firewall intercepts HTTPS, or a self-hosted registry presents a certificate the host does not trust.");
    }
    if KILLED_TEXT.is_match(text) {
        h.push("The pull or the credential lookup was stopped because it took too long: usually the registry or Secrets Manager could not be reached, rarely a very large image on a slow path.");
    }
    if phase == Some(Phase::AuthToken) && secrets {
        h.push("Secrets Manager (or SSM) could not be reached to read secrets or registry credentials: without an internet route the subnet needs the secretsmanager (or ssm) interface endpoint.");
    } else if phase == Some(Phase::AuthToken) && ecr {
        h.push("The ECR API call that issues the registry token (api.ecr.<region>.amazonaws.com) did not complete: without an internet route the subnet needs the ecr.api interface endpoint.");
    }
    if (phase == Some(Phase::Layer) && ecr) || S3_TEXT.is_match(text) {
        h.push("ECR serves layers from S3 (prod-<region>-starport-layer-bucket): the subnet's route table needs the S3 gateway endpoint or an internet route, and security groups must allow 443 to the S3 prefix list.");
    }
    if IMAGE_CONF_TEXT.is_match(text) {
        h.push("'error pulling image configuration' can also be registry rate limiting; look at the registry's limits if the network path is fine.");
    }
    h.push("Check the route from the task's subnet: a NAT gateway for a private subnet, or an internet gateway plus an assigned public IP for a public subnet.");
    if public_registry && !ecr {
        h.push("Registries outside AWS (Docker Hub, GHCR, Quay…) need an internet path through NAT or an internet gateway; VPC endpoints do not reach them.");
    } else {
        h.push("Without an internet route, the VPC needs the ecr.api and ecr.dkr interface endpoints (private DNS on) and an S3 gateway endpoint on the subnet's route table.");
    }
    h.push("Task (or instance) security groups must allow outbound TCP 443, including to the S3 prefix list; endpoint security groups must allow inbound 443 from the task.");
    h.push("The subnet's network ACL must allow outbound TCP 443 and inbound return traffic on ephemeral ports 1024-65535.");
    if !DNS_TEXT.is_match(text) {
        h.push("DNS must resolve the registry: VPC DNS support and hostnames enabled, and custom DHCP-option DNS servers able to resolve AWS names.");
    }
    h
}

/// Access denied: the role, the repository and endpoint policies, the registry credentials.
fn access_denied_hints(clues: &Clues) -> Vec<&'static str> {
    let Clues {
        text,
        phase,
        ecr,
        public_registry,
        secrets,
        ..
    } = *clues;
    let mut h: Vec<&str> = Vec::new();
    if phase == Some(Phase::Layer) && S3_TEXT.is_match(text) {
        h.push("A 403 from the S3 layer bucket usually means the S3 gateway endpoint policy does not allow s3:GetObject on arn:aws:s3:::prod-<region>-starport-layer-bucket/*.");
    }
    if EXPLICIT_DENY_TEXT.is_match(text) {
        h.push("An explicit deny applies: look for a Deny in the role's policies, a permissions boundary, an organization SCP, the repository policy or a VPC endpoint policy.");
    }
    if phase == Some(Phase::AuthToken) && secrets {
        h.push("The task execution role needs secretsmanager:GetSecretValue (or ssm:GetParameters) on the secret, plus kms:Decrypt when a customer managed key encrypts it.");
    }
    if ecr && phase == Some(Phase::AuthToken) && !secrets {
        h.push("The pulling role needs ecr:GetAuthorizationToken on resource \"*\": the task execution role, or the container instance role on EC2 when the task has no execution role.");
    }
    if ROLE_MSG_TEXT.is_match(text) {
        h.push("ECS also shows this message when the image does not exist: confirm that the repository and tag are present.");
    }
    if ecr || !public_registry {
        h.push("The task execution role (or, on EC2 without one, the container instance role) needs ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on the repository.");
        h.push("The repository policy must not deny that role, and must grant it explicitly when the image lives in another account.");
        h.push("A policy on the ecr.dkr/ecr.api interface endpoints or on the S3 gateway endpoint may be refusing the request.");
    }
    if !ecr {
        h.push("The registry refused this repository to the credentials it received: check that the account in repositoryCredentials may pull this image.");
    }
    h
}

/// Image not found: the name, the tag or digest, lifecycle expiry, pull-through caches.
fn image_not_found_hints(clues: &Clues) -> Vec<&'static str> {
    let Clues {
        text,
        image,
        ecr,
        public_registry,
        ..
    } = *clues;
    let mut h: Vec<&str> = Vec::new();
    if PULL_ACCESS_DENIED.is_match(text) {
        h.push("Docker says 'pull access denied' both when the repository does not exist and when it is private: check the name first; if it exists, give the task registry credentials (repositoryCredentials) or, for ECR, pull permissions on its role.");
    }
    if text
        .to_ascii_lowercase()
        .contains("invalid reference format")
    {
        h.push("The image name in the task definition is malformed: uppercase letters, spaces and stray characters are not allowed.");
    }
    if image.registry.is_some() && image.repository.is_some() {
        let full = format!(
            "{}/{}",
            image.registry.as_deref().unwrap_or_default(),
            image.repository.as_deref().unwrap_or_default()
        );
        if ImageRef::parse(&full)
            .ok()
            .and_then(|r| r.pull_through_upstream())
            .is_some()
        {
            h.push("This looks like an ECR pull-through cache repository: the image must exist upstream, and the cache rule needs credentials for upstreams that require them.");
        }
    }
    h.push("Check that the repository exists in the account and region of the image URI, spelled exactly (repository names are lowercase).");
    h.push("Check that the tag or digest exists: it may never have been pushed (for example after a failed build) or may have been moved or deleted.");
    if ecr || !public_registry {
        h.push("An ECR lifecycle policy may have expired the image: look for a rule matching its tag or age.");
    }
    h.push("ECS pins a deployment to the image digest it resolved at deploy time: if that digest was deleted, new tasks fail even when the tag was pushed again.");
    h
}

/// Platform mismatch: the image's OS and architecture against the task's.
fn platform_hints(text: &str) -> Vec<&'static str> {
    let mut h: Vec<&str> = Vec::new();
    if EXEC_FORMAT.is_match(text) {
        h.push("'exec format error' is raised when the container starts, not during the pull: the image's binaries target another CPU architecture than the task's.");
    }
    h.push("The image has no variant for the task's OS and CPU architecture: compare the image's platforms with the task definition's runtimePlatform (cpuArchitecture, operatingSystemFamily) or the instance type.");
    h.push("Push a multi-architecture image (for example docker buildx build --platform linux/amd64,linux/arm64) or run the task on the architecture the image supports.");
    if WINDOWS_TEXT.is_match(text) {
        h.push("Windows images must also match the host's Windows Server version.");
    }
    h
}

/// Disk space: where the unpacked image did not fit.
fn disk_space_hints(text: &str) -> Vec<&'static str> {
    let mut h: Vec<&str> = Vec::new();
    if text.to_ascii_lowercase().contains("thin pool") {
        h.push("The Docker devicemapper thin pool on the container instance is full: remove unused images or grow the pool.");
    }
    h.push("On Fargate the unpacked image must fit in the task's ephemeral storage (20 GiB by default): raise ephemeralStorage (up to 200 GiB) or slim the image.");
    h.push("On EC2 the instance's Docker volume is full: remove unused images and stopped containers (agent image cleanup settings), cap json-file log size, or enlarge the volume.");
    h.push("Large images need room for both the compressed download and the extracted layers.");
    h
}

/// Rate limits: ECR throttling, Docker Hub pull limits.
fn rate_limit_hints(clues: &Clues) -> Vec<&'static str> {
    let Clues { text, ecr, .. } = *clues;
    let mut h: Vec<&str> = Vec::new();
    if ECR_THROTTLE_TEXT.is_match(text) && ecr {
        h.push("ECR API throttling happens when many tasks start at once: stagger the deployment or request a higher ECR service quota.");
    }
    h.push("Docker Hub limits pulls per source IP for anonymous users and per account when authenticated; all tasks behind one NAT gateway share its address.");
    h.push("Authenticate the pull (repositoryCredentials with a Docker Hub account) or serve the image from ECR, for example through an ECR pull-through cache rule.");
    h
}

/// The secrets the task injects at start (SSM parameters, Secrets Manager secrets).
fn task_secret_hints(text: &str) -> Vec<&'static str> {
    let mut h: Vec<&str> = Vec::new();
    if SECRET_MISSING_TEXT.is_match(text) {
        h.push("A secret the task injects at start was not found: check each containerDefinitions[].secrets[].valueFrom (and logConfiguration.secretOptions) — the SSM parameter's name or full ARN, the Secrets Manager secret's full ARN, its region and account (one in another region or account needs its full ARN) — and that it was not deleted.");
    }
    if JSON_KEY_TEXT.is_match(text) {
        h.push("The valueFrom asks for a JSON key (arn:…:secret:NAME:KEY::) that the secret does not contain: correct the key, or add it to the secret.");
    }
    h.push("The task execution role needs ssm:GetParameters on each parameter and secretsmanager:GetSecretValue on each secret, plus kms:Decrypt on a customer managed key that encrypts one.");
    if !SSM_SECRET_TEXT.is_match(text) {
        // "secret from asm" is also how older agents report repositoryCredentials.
        h.push("If the secret is the private registry's (repositoryCredentials.credentialsParameter), it must be JSON with \"username\" and \"password\" keys.");
    }
    h
}

/// Private registry credentials (repositoryCredentials).
fn registry_credentials_hints(clues: &Clues) -> Vec<&'static str> {
    let Clues { text, ecr, .. } = *clues;
    let mut h: Vec<&str> = Vec::new();
    if ecr && ECR_NO_CREDS_TEXT.is_match(text) {
        h.push("ECR images need no secret: this means no valid ECR token was sent; check that the execution role (or instance role) may call ecr:GetAuthorizationToken and that the image URI's account and region are right.");
    }
    if SECRET_MISSING_TEXT.is_match(text) {
        h.push("The secret named in repositoryCredentials.credentialsParameter was not found: check its full ARN, account and region, and that it was not deleted.");
    }
    h.push("Check repositoryCredentials.credentialsParameter in the container definition: it must name the Secrets Manager secret holding this registry's credentials.");
    h.push("The secret must be JSON with \"username\" and \"password\" keys whose values are still valid (access tokens expire or get revoked).");
    h.push("The task execution role needs secretsmanager:GetSecretValue on that secret, plus kms:Decrypt when a customer managed key encrypts it.");
    h
}

/// No known pattern: where to look, in order.
fn unknown_hints(text: &str) -> Vec<&'static str> {
    let mut h: Vec<&str> = Vec::new();
    if BARE_API_ERROR.is_match(text) {
        h.push("A bare 'API error' usually means the ECR endpoints are unreachable from the task, a repository or IAM policy refuses the pull, or the S3 gateway endpoint policy blocks the layer bucket.");
    }
    if SERVER_ERROR.is_match(text) {
        h.push("A 5xx answer comes from the registry or a proxy on the way: often transient; retry and check the registry's status.");
    }
    h.push("The message matched no known pattern: read the complete reason with aws ecs describe-tasks, since long reasons are truncated.");
    h.push("Verify in order: the network path to the registry (routes, endpoints, security groups, NACL, DNS), pull permissions on the role and repository, and that the tag or digest exists.");
    h
}

/// On EKS the kubelet pulls with the node's instance role (or, for Fargate pods, the pod
/// execution role) from the node's subnet; the ECS wording (execution role, task definition) would
/// mislead there. `None`: the ECS hints fit as they are (they speak of images, not of tasks).
fn kubelet_hints(category: Category, ecr: bool) -> Option<Vec<&'static str>> {
    let mut h = Vec::new();
    match category {
        Category::Unknown => {
            h.push("ErrImagePull and ImagePullBackOff only say that the kubelet could not pull: the reason is in the pod's 'Failed to pull image' event (kubectl describe pod, or kubectl get events).");
            h.push("Verify in order: the node subnet's path to the registry (NAT route or, in a private cluster, the ecr.api, ecr.dkr and S3 gateway endpoints), the node role's ECR permissions, and that the tag exists.");
        }
        Category::Network => {
            h.push("The kubelet on the node could not reach the registry: the node's subnet needs a route to a NAT gateway or, in a private cluster, the ecr.api and ecr.dkr interface endpoints (private DNS on) and the S3 gateway endpoint.");
            h.push("The node security groups (the cluster security group and any launch template groups) must allow outbound TCP 443, the S3 prefix list included; the subnet's network ACL must allow 443 out and ephemeral ports back in.");
        }
        Category::RegistryCredentials if ecr => {
            h.push("ECR answered 401 / 'no basic auth credentials': the kubelet sent no valid ECR token. On EC2 nodes the node instance role needs AmazonEC2ContainerRegistryReadOnly (or ecr:GetAuthorizationToken plus the pull actions); Fargate pods use the pod execution role (AmazonEKSFargatePodExecutionRolePolicy).");
            h.push("Check that the image URI's account and region are right: a token is only valid for the registry it was issued for.");
        }
        Category::RegistryCredentials => {
            h.push("The registry requires credentials the kubelet did not send: reference a docker-registry secret in the pod's imagePullSecrets (or the service account's), in the pod's namespace.");
        }
        Category::AccessDenied => {
            h.push("On EKS the role that pulls is the node instance role (or the Fargate pod execution role), not the pod's service account role: it needs ecr:GetAuthorizationToken, ecr:BatchGetImage and ecr:GetDownloadUrlForLayer; AmazonEC2ContainerRegistryPullOnly (or ReadOnly) grants them.");
            h.push("A repository in another account must grant that role (its role ARN, not the instance profile ARN) in the repository policy.");
            h.push("A policy on the ecr.dkr/ecr.api interface endpoints or on the S3 gateway endpoint may be refusing the request.");
        }
        _ => return None,
    }
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Category::*;
    use Phase::*;

    /// Expected result of one message; unset fields must be `None`.
    #[derive(Debug, Clone, Copy)]
    struct Want {
        msg: &'static str,
        category: Category,
        phase: Option<Phase>,
        status: Option<u16>,
        registry: Option<&'static str>,
        repository: Option<&'static str>,
        reference: Option<&'static str>,
    }

    fn w(msg: &'static str, category: Category) -> Want {
        Want {
            msg,
            category,
            phase: None,
            status: None,
            registry: None,
            repository: None,
            reference: None,
        }
    }

    impl Want {
        fn ph(mut self, p: Phase) -> Self {
            self.phase = Some(p);
            self
        }
        fn st(mut self, s: u16) -> Self {
            self.status = Some(s);
            self
        }
        fn reg(mut self, r: &'static str) -> Self {
            self.registry = Some(r);
            self
        }
        fn repo(mut self, r: &'static str) -> Self {
            self.repository = Some(r);
            self
        }
        fn rf(mut self, r: &'static str) -> Self {
            self.reference = Some(r);
            self
        }
    }

    const ECR: &str = "111122223333.dkr.ecr.us-east-1.amazonaws.com";

    #[rustfmt::skip]
    fn table() -> Vec<Want> {
        vec![
            // ---- network ----
            w(r#"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1.2: failed to do request: Head "https://111122223333.dkr.ecr.us-east-1.amazonaws.com/v2/team/app/manifests/v1.2": dial tcp 52.1.2.3:443: i/o timeout"#, Network)
                .ph(Manifest).reg(ECR).repo("team/app").rf("v1.2"),
            w(r#"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref docker.io/tryretool/backend:2.110.5: failed to do request: Head "https://registry-1.docker.io/v2/tryretool/backend/manifests/2.110.5": dial tcp 34.205.13.154:443: i/o timeout"#, Network)
                .ph(Manifest).reg("docker.io").repo("tryretool/backend").rf("2.110.5"),
            w(r#"CannotPullContainerError: inspect image has been retried 5 time(s): failed to resolve ref "docker.io/library/nginx:latest": failed to do request: Head "https://registry-1.docker.io/v2/library/nginx/manifests/latest": dial tcp: lookup registry-1.docker.io on 10.0.0.2:53: no such host"#, Network)
                .ph(Manifest).reg("docker.io").repo("library/nginx").rf("latest"),
            w(r#"CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: httpReadSeeker: failed open: failed to do request: Get "https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/a1b2-111122223333-c3d4/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0?X-Amz-Algorithm=AWS4-HMAC-SHA256": dial tcp 52.216.1.2:443: i/o timeout"#, Network)
                .ph(Layer),
            w(r#"CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: httpReaderSeeker: failed open: failed to do request: Get "https://prod-eu-west-1-starport-layer-bucket.s3.eu-west-1.amazonaws.com/x": context deadline exceeded"#, Network)
                .ph(Layer),
            w("CannotPullContainerError: API error (500): Get https://111122223333.dkr.ecr.us-east-1.amazonaws.com/v2/: net/http: request canceled while waiting for connection", Network)
                .ph(Manifest).st(500).reg(ECR),
            w("CannotPullContainerError: Error response from daemon: Get https://registry-1.docker.io/v2/: net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)", Network)
                .ph(Manifest).reg("docker.io"),
            w("CannotPullContainerError: Error response from daemon: Get https://111122223333.dkr.ecr.eu-central-1.amazonaws.com/v2/: net/http: TLS handshake timeout", Network)
                .ph(Manifest).reg("111122223333.dkr.ecr.eu-central-1.amazonaws.com"),
            w("CannotPullContainerError: context canceled", Network),
            w(r#"CannotPullContainerError: failed to resolve ref "quay.io/prometheus/node-exporter:v1.8.0": failed to do request: Head "https://quay.io/v2/prometheus/node-exporter/manifests/v1.8.0": dial tcp 10.0.0.1:443: connect: connection refused"#, Network)
                .ph(Manifest).reg("quay.io").repo("prometheus/node-exporter").rf("v1.8.0"),
            w(r#"CannotPullContainerError: failed to resolve ref "ghcr.io/acme/api:2024.06.01": failed to do request: Head "https://ghcr.io/v2/acme/api/manifests/2024.06.01": dial tcp 140.82.112.33:443: connect: network is unreachable"#, Network)
                .ph(Manifest).reg("ghcr.io").repo("acme/api").rf("2024.06.01"),
            w(r#"ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s): RequestError: send request failed caused by: Post "https://api.ecr.us-east-1.amazonaws.com/": dial tcp 10.0.1.5:443: i/o timeout. Please check your task network configuration."#, Network)
                .ph(AuthToken),
            w("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 5 time(s): failed to fetch secret arn:aws:secretsmanager:us-west-2:111122223333:secret:dockerhub-AbCdEf from secrets manager: RequestCanceled: request context canceled caused by: context deadline exceeded. Please check your task network configuration.", Network)
                .ph(AuthToken),
            w("ResourceInitializationError: unable to pull secrets or registry auth: pull command failed: : signal: killed", Network)
                .ph(AuthToken),
            w("CannotPullContainerError: The task cannot pull ‘111122223333.dkr.ecr.us-east-1.amazonaws.com/web:3’ from the Amazon ECR repository ‘111122223333.dkr.ecr.us-east-1.amazonaws.com/web’. There is a connection issue between the task and Amazon ECR. Check your task network configuration.", Network)
                .reg(ECR).repo("web").rf("3"),
            w("CannotPullContainerError: The task can’t pull the image. Check your network configuration", Network),
            w("CannotPullContainerError: pull command failed: panic: runtime error: invalid memory address or nil pointer dereference", Network),
            w(r#"CannotPullContainerError: error pulling image configuration: Get "https://prod-us-west-2-starport-layer-bucket.s3.us-west-2.amazonaws.com/abc": net/http: TLS handshake timeout"#, Network)
                .ph(Layer),
            w(r#"CannotPullContainerError: failed to resolve ref "registry.internal.example:5000/ops/tool:7": failed to do request: Head "https://registry.internal.example:5000/v2/ops/tool/manifests/7": x509: certificate signed by unknown authority"#, Network)
                .ph(Manifest).reg("registry.internal.example:5000").repo("ops/tool").rf("7"),
            w(r#"CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: httpReadSeeker: failed open: failed to do request: Get "https://111122223333.dkr.ecr.us-east-1.amazonaws.com/v2/team/app/blobs/sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": read tcp 10.0.0.8:41234->52.1.2.3:443: read: connection reset by peer"#, Network)
                .ph(Layer).reg(ECR).repo("team/app"),
            w("CannotPullContainerError: failed to do request: Get https://auth.docker.io/token?scope=repository%3Alibrary%2Fredis%3Apull&service=registry.docker.io: net/http: TLS handshake timeout", Network)
                .ph(AuthToken).reg("docker.io").repo("library/redis"),
            // ---- kubelet (EKS pod events) ----
            w(r#"Warning Failed 14s (x2 over 28s) kubelet, ip-10-0-1-12.us-west-2.compute.internal Failed to pull image "111122223333.dkr.ecr.us-west-2.amazonaws.com/team/app:v1": rpc error: code = Unknown desc = Error response from daemon: Get https://111122223333.dkr.ecr.us-west-2.amazonaws.com/v2/: net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)"#, Network)
                .ph(Manifest).reg("111122223333.dkr.ecr.us-west-2.amazonaws.com").repo("team/app").rf("v1"),
            w(r#"Failed to pull image "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1": rpc error: code = Unknown desc = failed to pull and unpack image "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1": failed to resolve reference "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1": failed to do request: Head "https://111122223333.dkr.ecr.us-east-1.amazonaws.com/v2/team/app/manifests/v1": dial tcp 10.0.12.7:443: i/o timeout"#, Network)
                .ph(Manifest).reg(ECR).repo("team/app").rf("v1"),
            w(r#"Warning Failed 14s (x2 over 28s) kubelet, ip-10-0-1-12.us-west-2.compute.internal Failed to pull image "111122223333.dkr.ecr.us-west-2.amazonaws.com/team/app:v1": rpc error: code = Unknown desc = Error response from daemon: Get https://111122223333.dkr.ecr.us-west-2.amazonaws.com/v2/team/app/manifests/v1: no basic auth credentials Warning Failed 14s (x2 over 28s) kubelet Error: ErrImagePull Normal BackOff 2s (x2 over 28s) kubelet Back-off pulling image "111122223333.dkr.ecr.us-west-2.amazonaws.com/team/app:v1" Warning Failed 2s (x2 over 28s) kubelet Error: ImagePullBackOff"#, RegistryCredentials)
                .ph(Manifest).reg("111122223333.dkr.ecr.us-west-2.amazonaws.com").repo("team/app").rf("v1"),
            w(r#"Warning Failed 27s (x2 over 40s) kubelet Failed to pull image "151284513677.dkr.ecr.eu-central-1.amazonaws.com/coredns:latest": rpc error: code = Unknown desc = failed to pull and unpack image "151284513677.dkr.ecr.eu-central-1.amazonaws.com/coredns:latest": failed to resolve reference "151284513677.dkr.ecr.eu-central-1.amazonaws.com/coredns:latest": pulling from host 151284513677.dkr.ecr.eu-central-1.amazonaws.com failed with status code [manifests latest]: 401 Unauthorized"#, RegistryCredentials)
                .ph(Manifest).st(401).reg("151284513677.dkr.ecr.eu-central-1.amazonaws.com").repo("coredns").rf("latest"),
            w(r#"Failed to pull image "444455556666.dkr.ecr.us-east-1.amazonaws.com/shared/base:3": rpc error: code = Unknown desc = Error response from daemon: pull access denied for arn:aws:ecr:us-east-1:444455556666:repository/shared/base, repository does not exist or may require 'docker login': denied: User: arn:aws:sts::111122223333:assumed-role/eks-node-role/i-0abc is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:444455556666:repository/shared/base"#, AccessDenied)
                .ph(Manifest).reg("444455556666.dkr.ecr.us-east-1.amazonaws.com").repo("shared/base").rf("3"),
            w(r#"Failed to pull image "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v9": rpc error: code = NotFound desc = failed to pull and unpack image "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v9": failed to resolve reference "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v9": 111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v9: not found"#, ImageNotFound)
                .ph(Manifest).reg(ECR).repo("team/app").rf("v9"),
            w(r#"Failed to pull image "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1": rpc error: code = Unknown desc = failed to pull and unpack image "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1": no match for platform in manifest: not found"#, PlatformMismatch)
                .ph(Manifest).reg(ECR).repo("team/app").rf("v1"),
            w("Error: ErrImagePull", Unknown),
            w("Error: ImagePullBackOff", Unknown),
            w(r#"Back-off pulling image "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1""#, Unknown)
                .reg(ECR).repo("team/app").rf("v1"),
            // ---- access denied ----
            w(r#"CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: httpReadSeeker: failed open: unexpected status code https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/a1b2-111122223333-c3d4/f00d: 403 Forbidden"#, AccessDenied)
                .ph(Layer).st(403),
            w("CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: httpReaderSeeker: failed open: unexpected status code 403 Forbidden", AccessDenied)
                .ph(Layer).st(403),
            w(r#"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1": pulling from host 111122223333.dkr.ecr.us-east-1.amazonaws.com failed with status code [manifests v1]: 403 Forbidden"#, AccessDenied)
                .ph(Manifest).st(403).reg(ECR).repo("team/app").rf("v1"),
            w("CannotPullContainerError: Error response from daemon: pull access denied for 111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app, repository does not exist or may require 'docker login': denied: User: arn:aws:sts::111122223333:assumed-role/ecsInstanceRole/i-0abc123 is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:111122223333:repository/team/app", AccessDenied)
                .ph(Manifest).reg(ECR).repo("team/app"),
            w("CannotPullContainerError: denied: User: arn:aws:sts::444455556666:assumed-role/exec-role/abc is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:eu-west-1:111122223333:repository/shared/base because no resource-based policy allows the ecr:BatchGetImage action", AccessDenied)
                .ph(Manifest).reg("111122223333.dkr.ecr.eu-west-1.amazonaws.com").repo("shared/base"),
            w("CannotPullContainerError: denied: User: arn:aws:sts::111122223333:assumed-role/exec/x is not authorized to perform: ecr:GetDownloadUrlForLayer on resource: arn:aws:ecr:us-east-1:111122223333:repository/team/app with an explicit deny in a service control policy", AccessDenied)
                .ph(Layer).reg(ECR).repo("team/app"),
            w(r#"CannotPullContainerError: failed to resolve ref "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v2": failed to authorize: failed to fetch anonymous token: insufficient_scope: authorization failed"#, AccessDenied)
                .ph(AuthToken).reg(ECR).repo("team/app").rf("v2"),
            w("CannotPullContainerError: insufficient_scope: authorization failed", AccessDenied),
            w("CannotPullECRContainerError: AccessDeniedException: User: arn:aws:sts::111122223333:assumed-role/ecsTaskExecutionRole/0a1b is not authorized to perform: ecr:GetAuthorizationToken on resource: * because no identity-based policy allows the ecr:GetAuthorizationToken action status code: 400, request id: 5f3c", AccessDenied)
                .ph(AuthToken).st(400),
            w("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s): AccessDeniedException: User: arn:aws:sts::111122223333:assumed-role/exec/abc is not authorized to perform: ecr:GetAuthorizationToken", AccessDenied)
                .ph(AuthToken),
            w("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): AccessDeniedException: User: arn:aws:sts::111122223333:assumed-role/exec/abc is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-east-1:111122223333:secret:reg-creds-Ab12Cd", AccessDenied)
                .ph(AuthToken),
            w("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret arn:aws:secretsmanager:us-east-1:111122223333:secret:reg-Ab12 from secrets manager: AccessDeniedException: Access to KMS is not allowed", AccessDenied)
                .ph(AuthToken),
            w("CannotPullContainerError: The task can’t pull the image. Check that the role has the permissions to pull images from the registry.", AccessDenied),
            w("CannotPullContainerError: Error response from daemon: denied: requested access to the resource is denied", AccessDenied),
            w("CannotPullContainerError: 403 Forbidden", AccessDenied).st(403),
            // ---- image not found ----
            w("CannotPullContainerError: Error response from daemon: manifest for 111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v9 not found: manifest unknown: Requested image not found", ImageNotFound)
                .ph(Manifest).reg(ECR).repo("team/app").rf("v9"),
            w("CannotPullContainerError: Error response from daemon: manifest for team/app:v9 not found: manifest unknown: Requested image not found", ImageNotFound)
                .ph(Manifest).repo("team/app").rf("v9"),
            w("CannotPullContainerError: Error response from daemon: manifest for nginx:1.99 not found: manifest unknown: manifest unknown", ImageNotFound)
                .ph(Manifest).repo("nginx").rf("1.99"),
            w(r#"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v9": 111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v9: not found"#, ImageNotFound)
                .ph(Manifest).reg(ECR).repo("team/app").rf("v9"),
            w(r#"CannotPullContainerError: failed to resolve reference "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": not found"#, ImageNotFound)
                .ph(Manifest).reg(ECR).repo("team/app").rf("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
            w("CannotPullContainerError: Error response from daemon: repository 111122223333.dkr.ecr.us-east-1.amazonaws.com/ghost not found: name unknown: The repository with name 'ghost' does not exist in the registry with id '111122223333'", ImageNotFound)
                .ph(Manifest).reg(ECR).repo("ghost"),
            w("CannotPullContainerError: Error response from daemon: pull access denied for foo, repository does not exist or may require 'docker login'", ImageNotFound)
                .ph(Manifest).repo("foo"),
            w("CannotPullContainerError: Error response from daemon: pull access denied for acme/private-api, repository does not exist or may require 'docker login': denied: requested access to the resource is denied", ImageNotFound)
                .ph(Manifest).repo("acme/private-api"),
            w(r#"CannotPullContainerError: failed to resolve ref "docker.io/acme/privat:1": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed"#, ImageNotFound)
                .ph(Manifest).reg("docker.io").repo("acme/privat").rf("1"),
            w("CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref 802388215838.dkr.ecr.eu-west-1.amazonaws.com/example-service:image-tag@sha256:89abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567: not found", ImageNotFound)
                .ph(Manifest).reg("802388215838.dkr.ecr.eu-west-1.amazonaws.com").repo("example-service").rf("sha256:89abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567"),
            // Malformed image string (two tags): only the host can be trusted.
            w("CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref 802388215838.dkr.ecr.eu-west-1.amazonaws.com/example-service:example-image:image-tag: not found", ImageNotFound)
                .ph(Manifest).reg("802388215838.dkr.ecr.eu-west-1.amazonaws.com"),
            w("CannotPullContainerError: Error response from daemon: manifest unknown", ImageNotFound)
                .ph(Manifest),
            w("CannotPullContainerError: API error (404): repository not found", ImageNotFound)
                .ph(Manifest).st(404),
            w("CannotPullContainerError: Error response from daemon: invalid reference format: repository name must be lowercase", ImageNotFound)
                .ph(Manifest),
            w(r#"CannotPullContainerError: failed to resolve ref "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v3": unexpected status code [manifests v3]: 404 Not Found"#, ImageNotFound)
                .ph(Manifest).st(404).reg(ECR).repo("team/app").rf("v3"),
            w(r#"CannotPullContainerError: failed to resolve ref "public.ecr.aws/nginx/nginx:9.9": public.ecr.aws/nginx/nginx:9.9: not found"#, ImageNotFound)
                .ph(Manifest).reg("public.ecr.aws").repo("nginx/nginx").rf("9.9"),
            // ---- rate limited ----
            w("CannotPullContainerError: inspect image has been retried 5 time(s): httpReaderSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/node/manifests/sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit.", RateLimited)
                .ph(Manifest).st(429).reg("docker.io").repo("library/node").rf("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
            w("CannotPullContainerError: Error response from daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit", RateLimited)
                .st(429),
            w("CannotPullContainerError: ERROR: toomanyrequests: Too Many Requests.", RateLimited)
                .st(429),
            w("CannotPullECRContainerError: ThrottlingException: Rate exceeded status code: 400, request id: 1a2b", RateLimited)
                .st(400),
            // ---- disk space ----
            w("CannotPullContainerError: write /var/lib/docker/tmp/GetImageBlob111111111: no space left on device", DiskSpace)
                .ph(Layer),
            w("CannotPullContainerError: ref pull has been retried 1 time(s): failed to extract layer sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef: write /var/lib/containerd/x: no space left on device: unknown", DiskSpace)
                .ph(Layer),
            w("CannotPullContainerError: failed to register layer: Error processing tar file(exit status 1): write /usr/lib/libx.so: no space left on device", DiskSpace)
                .ph(Layer),
            w("CannotPullContainerError: Error response from daemon: devmapper: Thin Pool has 4096 free data blocks which is less than minimum required 4454 free data blocks. Create more free space in thin pool or use dm.min_free_space option to change behavior", DiskSpace)
                .ph(Layer),
            // ---- platform mismatch ----
            w("CannotPullContainerError: image Manifest does not contain descriptor matching platform 'linux/arm64'", PlatformMismatch)
                .ph(Manifest),
            w("CannotPullContainerError: Error response from daemon: no matching manifest for linux/arm64/v8 in the manifest list entries", PlatformMismatch)
                .ph(Manifest),
            w(r#"CannotPullContainerError: image operating system "windows" cannot be used on this platform"#, PlatformMismatch)
                .ph(Manifest),
            w("exec /usr/local/bin/docker-entrypoint.sh: exec format error", PlatformMismatch),
            w("CannotPullContainerError: Error response from daemon: no matching manifest for windows/amd64 10.0.17763 in the manifest list entries", PlatformMismatch)
                .ph(Manifest),
            // ---- registry credentials ----
            w(r#"CannotPullContainerError: Error response from daemon: Head "https://registry.gitlab.com/v2/acme/app/manifests/1.0": unauthorized: HTTP Basic: Access denied"#, RegistryCredentials)
                .ph(Manifest).reg("registry.gitlab.com").repo("acme/app").rf("1.0"),
            w("CannotPullContainerError: Error response from daemon: Get https://registry.example.com/v2/team/app/manifests/2.1: unauthorized: incorrect username or password", RegistryCredentials)
                .ph(Manifest).reg("registry.example.com").repo("team/app").rf("2.1"),
            w("CannotPullContainerError: Error response from daemon: Head https://ghcr.io/v2/acme/worker/manifests/main: unauthorized: authentication required", RegistryCredentials)
                .ph(Manifest).reg("ghcr.io").repo("acme/worker").rf("main"),
            w("CannotPullContainerError: Error response from daemon: Get https://111122223333.dkr.ecr.us-east-1.amazonaws.com/v2/team/app/manifests/latest: no basic auth credentials", RegistryCredentials)
                .ph(Manifest).reg(ECR).repo("team/app").rf("latest"),
            w("CannotPullContainerError: engine docker private registry credentials: not found", RegistryCredentials)
                .ph(AuthToken),
            w(r#"CannotPullContainerError: failed to resolve ref "docker.io/acme/private:1": failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized"#, RegistryCredentials)
                .ph(AuthToken).st(401).reg("docker.io").repo("acme/private").rf("1"),
            w("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret arn:aws:secretsmanager:us-east-1:111122223333:secret:dockerhub from secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified secret.", RegistryCredentials)
                .ph(AuthToken),
            w("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): retrieved secret from Secrets Manager did not contain json key password", RegistryCredentials)
                .ph(AuthToken),
            w("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): InvalidParameters: Some parameters are invalid", RegistryCredentials)
                .ph(AuthToken),
            // ---- application secrets (secrets[].valueFrom) from SSM Parameter Store and Secrets Manager ----
            // Not found: Fargate names the parameter, the EC2 agent lists the invalid ones.
            w("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid ssm parameters: /wishkit/parsing-engine/gemini-api-key", RegistryCredentials)
                .ph(AuthToken),
            w("ResourceInitializationError: unable to pull secrets or registry auth: fetching secret data from SSM Parameter Store in us-east-1: invalid parameters: /app/db-password,/app/api-key", RegistryCredentials)
                .ph(AuthToken),
            // Not allowed: the execution role, the SDK v1 and v2 wordings, and the KMS key.
            w("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): AccessDeniedException: User: arn:aws:sts::111122223333:assumed-role/ecsTaskExecutionRole/17cbd22653424f62971b13fffcf6113e is not authorized to perform: ssm:GetParameters on resource: arn:aws:ssm:ap-northeast-2:111122223333:parameter/app/email/sender because no identity-based policy allows the ssm:GetParameters action status code: 400, request id: 119b9aff-b7c0-4a82-a57c-f193bd929bc", AccessDenied)
                .ph(AuthToken).st(400),
            w("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): operation error SSM: GetParameters, https response error StatusCode: 400, RequestID: 5e1c, api error AccessDeniedException: User: arn:aws:sts::111122223333:assumed-role/app-execution-role/9f1 is not authorized to perform: ssm:GetParameters on resource: arn:aws:ssm:eu-west-1:111122223333:parameter/app/production/DATABASE_URL because no identity-based policy allows the ssm:GetParameters action", AccessDenied)
                .ph(AuthToken).st(400),
            w("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): AccessDeniedException: The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access. status code: 400, request id: 7a2e", AccessDenied)
                .ph(AuthToken).st(400),
            w("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!db-a57bd929-5fa6 from secrets manager: operation error Secrets Manager: GetSecretValue, https response error StatusCode: 400, RequestID: 2bf6, api error AccessDeniedException: User: arn:aws:sts::111122223333:assumed-role/ecsTaskExecutionRole/a20b is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!db-a57bd929-5fa6 because no identity-based policy allows the secretsmanager:GetSecretValue action.", AccessDenied)
                .ph(AuthToken).st(400),
            // Unreachable: newer agents say "The task cannot pull secrets from …".
            w("ResourceInitializationError: unable to pull secrets or registry auth: unable to retrieve secrets from ssm: The task cannot pull secrets from AWS Systems Manager. There is a connection issue between the task and AWS Systems Manager Parameter Store. Check your task network configuration. RequestCanceled: request context canceled caused by: context deadline exceeded", Network)
                .ph(AuthToken),
            w("ResourceInitializationError: unable to pull secrets or registry auth: unable to retrieve secret from asm: There is a connection issue between the task and AWS Secrets Manager. Check your task network configuration. failed to fetch secret arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!db-a57bd929 from secrets manager: operation error Secrets Manager: GetSecretValue, https response error StatusCode: 0, RequestID: , canceled, context deadline exceeded.", Network)
                .ph(AuthToken),
            w(r#"ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to get registry auth from asm: service call has been retried 1 time(s): asm fetching secret from the service for dockerhub-creds: RequestError: send request failed caused by: Post "https://secretsmanager.us-east-1.amazonaws.com/": dial tcp 10.0.0.5:443: i/o timeout"#, Network)
                .ph(AuthToken),
            w(r#"Failed to pull image "151284513677.dkr.ecr.eu-central-1.amazonaws.com/coredns:latest": rpc error: code = Unknown desc = failed to pull and unpack image "151284513677.dkr.ecr.eu-central-1.amazonaws.com/coredns:latest": failed to resolve reference "151284513677.dkr.ecr.eu-central-1.amazonaws.com/coredns:latest": pulling from host 151284513677.dkr.ecr.eu-central-1.amazonaws.com failed with status code [manifests latest]: 401 Unauthorized"#, RegistryCredentials)
                .ph(Manifest).st(401).reg("151284513677.dkr.ecr.eu-central-1.amazonaws.com").repo("coredns").rf("latest"),
            w("CannotPullContainerError: denied: Your authorization token has expired. Reauthenticate and try again.", RegistryCredentials),
            // ---- unknown ----
            w("CannotPullContainerError: API error", Unknown),
            w("CannotPullContainerError: inspect image has been retried 5 time(s): failed to resolve ref \"docker.io/library/nginx:latest\": …", Unknown)
                .ph(Manifest).reg("docker.io").repo("library/nginx").rf("latest"),
            w("CannotPullContainerError: unexpected status code https://registry.example.com/v2/app/manifests/1: 502 Bad Gateway", Unknown)
                .ph(Manifest).st(502).reg("registry.example.com").repo("app").rf("1"),
            // ---- formatting variants: lowercase, whitespace, redaction, truncation ----
            w("cannotpullcontainererror: error response from daemon: manifest for 111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v9 not found: manifest unknown: requested image not found", ImageNotFound)
                .ph(Manifest).reg(ECR).repo("team/app").rf("v9"),
            w("cannotpullcontainererror: PULL IMAGE MANIFEST HAS BEEN RETRIED 5 TIME(S): FAILED TO RESOLVE REF \"111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1\": I/O TIMEOUT", Network)
                .ph(Manifest).reg(ECR).repo("team/app").rf("v1"),
            w("  CannotPullContainerError:\n   pull image manifest has been retried 5 time(s):\n\tfailed to resolve ref \"111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1\":\n  dial tcp 52.1.2.3:443:\n  i/o\n timeout  ", Network)
                .ph(Manifest).reg(ECR).repo("team/app").rf("v1"),
            w(r#"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref ***.dkr.ecr.us-east-1.amazonaws.com/team/app:v1.2: failed to do request: Head "https://***.dkr.ecr.us-east-1.amazonaws.com/v2/team/app/manifests/v1.2": dial tcp 52.1.2.3:443: i/o timeout"#, Network)
                .ph(Manifest).reg("***.dkr.ecr.us-east-1.amazonaws.com").repo("team/app").rf("v1.2"),
            w("CannotPullContainerError: denied: User: arn:aws:sts::<redacted>:assumed-role/exec/abc is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:<redacted>:repository/team/app because no identity-based policy allows it", AccessDenied)
                .ph(Manifest).repo("team/app"),
            w(r#"CannotPullContainerError: failed to resolve ref "<redacted>.dkr.ecr.us-east-1.amazonaws.com/team/app:v1": pulling from host <redacted>.dkr.ecr.us-east-1.amazonaws.com failed with status code [manifests v1]: 403 Forbidden"#, AccessDenied)
                .ph(Manifest).st(403).reg("<redacted>.dkr.ecr.us-east-1.amazonaws.com").repo("team/app").rf("v1"),
            // Truncated (255 characters) in the manifest URL: the unquoted ref before it is complete.
            w(r#"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 111122223333.dkr.ecr.us-east-1.amazonaws.com/team/app:v1.2: failed to do request: Head "https://111122223333.dkr.ecr.us-east-1.amazonaws.com/v2/team/app/manife"#, Network)
                .ph(Manifest).reg(ECR).repo("team/app").rf("v1.2"),
            // Truncated inside a quoted image name: no half name may come out.
            w(r#"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "111122223333.dkr.ecr.us-east-1.amazonaws.com/platform-team/payments/app-with-a-rather-long-repository-name-for-the-truncation-case/more/nested/path/segments/s"#, Unknown)
                .ph(Manifest),
            // Truncated inside an unquoted tag: no half tag may come out.
            w("CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 111122223333.dkr.ecr.us-east-1.amazonaws.com/platform-team/payments/service-api-with-a-long-name/workerxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx:release-2024-06", Unknown)
                .ph(Manifest),
            // Truncated inside the digest of a manifests URL (the 403 after it is lost): the
            // repository is delimited and kept, the cut digest is not.
            w("CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: httpReadSeeker: failed open: unexpected status code https://111122223333.dkr.ecr.us-east-1.amazonaws.com/v2/team/app/manifests/sha256:0123456789abcdef0123456789abcdef0123456789", Unknown)
                .ph(Manifest).reg(ECR).repo("team/app"),
        ]
    }

    #[test]
    fn classifies_message_table() {
        let table = table();
        let mut seen = std::collections::HashSet::new();
        for want in &table {
            assert!(
                seen.insert(want.msg),
                "duplicate message in table: {}",
                want.msg
            );
            let got = classify(want.msg);
            let ctx = format!("message: {}\n got: {got:#?}", want.msg);
            assert_eq!(got.category, want.category, "category\n{ctx}");
            assert_eq!(got.phase, want.phase, "phase\n{ctx}");
            assert_eq!(got.http_status, want.status, "http_status\n{ctx}");
            assert_eq!(got.registry.as_deref(), want.registry, "registry\n{ctx}");
            assert_eq!(
                got.repository.as_deref(),
                want.repository,
                "repository\n{ctx}"
            );
            assert_eq!(got.reference.as_deref(), want.reference, "reference\n{ctx}");
            assert!(!got.hints.is_empty(), "hints\n{ctx}");
        }
        assert!(table.len() >= 60, "only {} messages", table.len());
    }

    #[test]
    fn truncation_cases_are_really_255_chars() {
        // The truncation rows above must be exactly as long as ECS makes them.
        let truncated: Vec<_> = table()
            .into_iter()
            .filter(|w| {
                ["manife", "segments/s", "release-2024-06", "0123456789"]
                    .iter()
                    .any(|end| w.msg.ends_with(end))
            })
            .collect();
        assert_eq!(truncated.len(), 4);
        for w in truncated {
            assert_eq!(w.msg.chars().count(), 255, "{}", w.msg);
        }
    }

    #[test]
    fn json_shape_matches_contract() {
        let v =
            serde_json::to_value(classify("CannotPullContainerError: context canceled")).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "categories",
                "category",
                "consistent_with",
                "hints",
                "http_status",
                "phase",
                "reference",
                "registry",
                "repository"
            ]
        );
        assert_eq!(v["category"], "network");
        for k in [
            "registry",
            "repository",
            "reference",
            "http_status",
            "phase",
        ] {
            assert!(v[k].is_null(), "{k} should be null: {v}");
        }
        assert!(v["hints"]
            .as_array()
            .is_some_and(|h| !h.is_empty() && h.iter().all(|s| s.is_string())));

        let v = serde_json::to_value(classify(table()[0].msg)).unwrap();
        assert_eq!(v["category"], "network");
        assert_eq!(v["registry"], ECR);
        assert_eq!(v["repository"], "team/app");
        assert_eq!(v["reference"], "v1.2");
        assert_eq!(v["phase"], "manifest");
        assert!(v["http_status"].is_null());
        let v = serde_json::to_value(classify(
            "CannotPullContainerError: ERROR: toomanyrequests: Too Many Requests.",
        ))
        .unwrap();
        assert_eq!(v["category"], "rate_limited");
        assert_eq!(v["http_status"], 429);
        let v = serde_json::to_value(classify(
            "unable to retrieve ecr registry auth: AccessDeniedException",
        ))
        .unwrap();
        assert_eq!(v["phase"], "auth_token");
        assert_eq!(v["category"], "access_denied");
    }

    #[test]
    fn category_strings_match_serde() {
        for c in [
            Network,
            AccessDenied,
            ImageNotFound,
            PlatformMismatch,
            DiskSpace,
            RateLimited,
            RegistryCredentials,
            Unknown,
        ] {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
    }

    #[test]
    fn hints_are_category_specific() {
        let joined = |m: &str| classify(m).hints.join(" ");
        assert!(joined("CannotPullContainerError: context canceled").contains("NAT gateway"));
        assert!(joined(
            "CannotPullContainerError: dial tcp: lookup x.example on 10.0.0.2:53: no such host"
        )
        .contains("DNS"));
        let s3 = joined("failed open: unexpected status code https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/x: 403 Forbidden");
        assert!(s3.contains("S3 gateway endpoint policy"), "{s3}");
        let pad = joined(
            "pull access denied for foo, repository does not exist or may require 'docker login'",
        );
        assert!(
            pad.contains("does not exist") && pad.contains("private"),
            "{pad}"
        );
        assert!(joined("no space left on device").contains("ephemeralStorage"));
        assert!(joined("toomanyrequests: rate").contains("Docker Hub"));
        assert!(joined("exec format error").contains("when the container starts"));
        assert!(joined("unauthorized: authentication required").contains("repositoryCredentials"));
        // Application secrets get their own wording, never the registry credentials' one.
        let ssm = joined("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid ssm parameters: /app/db");
        assert!(
            ssm.contains("secrets[].valueFrom") && ssm.contains("ssm:GetParameters"),
            "{ssm}"
        );
        assert!(!ssm.contains("username"), "{ssm}");
        assert!(joined("CannotPullContainerError: API error").contains("API error"));
        let ptc = joined("CannotPullContainerError: manifest for 111122223333.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:9 not found: manifest unknown");
        assert!(ptc.contains("pull-through"), "{ptc}");
        let hub_net = joined(
            r#"failed to resolve ref "docker.io/library/nginx:1": dial tcp 1.2.3.4:443: i/o timeout"#,
        );
        assert!(
            hub_net.contains("VPC endpoints do not reach them"),
            "{hub_net}"
        );
    }

    /// Kubelet messages get EKS wording (node role, pod events), never the ECS task wording.
    #[test]
    fn kubelet_hints_speak_of_nodes_not_tasks() {
        let joined = |m: &str| classify(m).hints.join(" ");
        let no_creds = joined(
            r#"kubelet Failed to pull image "111122223333.dkr.ecr.us-west-2.amazonaws.com/a:v1": rpc error: code = Unknown desc = Error response from daemon: Get https://111122223333.dkr.ecr.us-west-2.amazonaws.com/v2/a/manifests/v1: no basic auth credentials"#,
        );
        assert!(
            no_creds.contains("AmazonEC2ContainerRegistryReadOnly")
                && no_creds.contains("pod execution role"),
            "{no_creds}"
        );
        assert!(!no_creds.contains("repositoryCredentials"), "{no_creds}");
        let hub = joined(
            r#"Failed to pull image "docker.io/acme/private:1": rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/acme/private:1": failed to resolve reference "docker.io/acme/private:1": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed: 401 Unauthorized"#,
        );
        assert!(
            hub.contains("imagePullSecrets") || hub.contains("node instance role"),
            "{hub}"
        );
        let denied = joined(
            r#"Failed to pull image "x": rpc error: code = Unknown desc = denied: User: arn:aws:sts::1:assumed-role/node/i is not authorized to perform: ecr:BatchGetImage"#,
        );
        assert!(
            denied.contains("node instance role") && !denied.contains("task execution role"),
            "{denied}"
        );
        let net = joined(
            r#"Failed to pull image "x": rpc error: code = Unknown desc = Get https://1.dkr.ecr.us-east-1.amazonaws.com/v2/: net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)"#,
        );
        assert!(
            net.contains("node's subnet") && net.contains("ecr.api"),
            "{net}"
        );
        assert!(joined("Error: ImagePullBackOff").contains("kubectl describe pod"));
        // The ECS wording stays for ECS messages.
        assert!(
            joined("CannotPullContainerError: no basic auth credentials")
                .contains("repositoryCredentials")
        );
    }

    #[test]
    fn never_panics_on_pathological_input() {
        let big = "CannotPullContainerError: ".to_string() + &"x".repeat(100 * 1024);
        let big_colons = ":".repeat(100 * 1024);
        let big_at = "@".repeat(100 * 1024);
        let big_mixed =
            r#"ref "a/b:c" https://h.io/v2/a/manifests/ arn:aws:ecr:x:y:repository/ 403 "#
                .repeat(2000);
        let inputs: Vec<String> = vec![
            String::new(),
            " \n\t ".into(),
            ":".into(),
            "@".into(),
            "::::@@@@::".into(),
            "ref \"\"".into(),
            "ref \"".into(),
            "resolve ref ".into(),
            "https://".into(),
            "https:///v2//manifests/".into(),
            "arn:aws:ecr:::repository/".into(),
            "pull access denied for ".into(),
            "manifest for  not found".into(),
            "CannotPullContainerError: 🚀 ünïcödé ‘’ “” … manifest unknown …".into(),
            "ref \"ünïcödé/äpp:tàg\" : not found".into(),
            "lookup ☃.example: no such host".into(),
            "https://ñ.example/v2/ñ/manifests/ñ".into(),
            "\u{0}\u{1}\u{7f} status: 999 api error (000)".into(),
            big,
            big_colons,
            big_at,
            big_mixed,
        ];
        for input in &inputs {
            let c = classify(input);
            serde_json::to_string(&c).unwrap();
        }
        assert_eq!(classify("").category, Unknown);
        assert_eq!(classify(":").category, Unknown);
        assert_eq!(classify(&":".repeat(100 * 1024)).registry, None);
    }
}
